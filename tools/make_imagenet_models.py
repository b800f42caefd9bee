"""Build the ImageNet-size benchmark models (untrained, but with realistic
activation magnitudes) and export them to ONNX for the importer/benchmarks.

Models (NAME):

* ``resnet50``       keras.applications.ResNet50, 224x224x3 -> 1000 logits
* ``densenet121``    keras.applications.DenseNet121, 224x224x3 -> 1000 logits
* ``squeezenet1_1``  SqueezeNet v1.1 from Keras layers, 224x224x3 -> 1000
* ``cifar_cnn``      small conv/BN/ReLU/pool CNN, 32x32x3 -> 10 logits

No pretrained weights are downloaded (``weights=None``).  Instead:

* every Conv2D kernel is re-drawn He-normal from a fixed seed (biases zero);
* every BatchNormalization gets its moving mean/variance from the batch
  statistics of its actual input over 8 calibration images (4 smooth random
  images and 4 of uniform noise in [-1, 1]).  One forward pass in *training*
  mode does this for all BNs at once: in training mode each BN normalises with
  the statistics of its own input batch, which is exactly what it sees in
  inference mode once all earlier BNs have been set to their batch statistics.
  The script then checks, in inference mode, that every BN output has mean ~0
  and std ~1 (so activations stay O(1) through the net, like a trained one);
* SqueezeNet has no BN: each conv's weights are scaled, in topological order,
  so its pre-activation output has std 1 on the calibration images.

For each NAME it writes, under ``--out`` (default ``models-cache/``, which is
git-ignored):

* ``NAME.onnx``       tf2onnx, opset 13, NHWC float32 input ``input`` with a
                      symbolic batch, output ``logits``
* ``NAME.input.npy``  one deterministic input, float32 NHWC [1,H,W,3], a seeded
                      smooth random image with values in about [-1, 1]
* ``NAME.ort.npy``    onnxruntime's output for it (graph optimizations off)

and prints the parameter count, ONNX size, ONNX op types and build seconds.

Run: TF_NUM_INTRAOP_THREADS=2 /work/venv/bin/python tools/make_imagenet_models.py [--out DIR] [NAME...]
"""

import argparse
import os
import random
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import numpy as np
import tensorflow as tf
import keras
from keras import layers as L
import onnx
import onnxruntime as ort
import tf2onnx

SEED = 0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_CALIB = 8


def set_seeds(seed=SEED):
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)


# ---------------------------------------------------------------- inputs
def _upsample(a, size):
    """Bilinear upsampling of [N,h,w,C] to [N,size,size,C] (numpy, align corners)."""
    n, h, w, c = a.shape
    ys = np.linspace(0.0, h - 1.0, size)
    xs = np.linspace(0.0, w - 1.0, size)
    y0 = np.minimum(np.floor(ys).astype(int), h - 2)
    x0 = np.minimum(np.floor(xs).astype(int), w - 2)
    fy = (ys - y0)[None, :, None, None]
    fx = (xs - x0)[None, None, :, None]
    a00 = a[:, y0][:, :, x0]
    a01 = a[:, y0][:, :, x0 + 1]
    a10 = a[:, y0 + 1][:, :, x0]
    a11 = a[:, y0 + 1][:, :, x0 + 1]
    return (a00 * (1 - fy) * (1 - fx) + a01 * (1 - fy) * fx
            + a10 * fy * (1 - fx) + a11 * fy * fx)


def smooth_images(n, size, seed):
    """n smooth random RGB images [n,size,size,3], values in [-1, 1]: a sum of
    upsampled random noise at several octaves (coarse blobs plus finer detail)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((n, size, size, 3))
    for cells, weight in ((3, 1.0), (7, 0.6), (15, 0.35), (size // 4, 0.2)):
        img += weight * _upsample(rng.standard_normal((n, cells, cells, 3)), size)
    img /= np.abs(img).max(axis=(1, 2, 3), keepdims=True)
    return img.astype(np.float32)


def calib_images(size):
    rng = np.random.default_rng(SEED + 1)
    noise = rng.uniform(-1.0, 1.0, (N_CALIB // 2, size, size, 3)).astype(np.float32)
    return np.concatenate([smooth_images(N_CALIB - N_CALIB // 2, size, SEED + 2), noise])


# ---------------------------------------------------------------- models
def squeezenet1_1():
    def fire(x, squeeze, expand, name):
        s = L.Conv2D(squeeze, 1, activation="relu", name=name + "_squeeze")(x)
        e1 = L.Conv2D(expand, 1, activation="relu", name=name + "_expand1x1")(s)
        e3 = L.Conv2D(expand, 3, padding="same", activation="relu", name=name + "_expand3x3")(s)
        return L.Concatenate(axis=-1, name=name + "_concat")([e1, e3])

    inp = keras.Input((224, 224, 3), name="input")
    x = L.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(inp)
    x = L.MaxPooling2D(3, 2, name="pool1")(x)
    x = fire(x, 16, 64, "fire2")
    x = fire(x, 16, 64, "fire3")
    x = L.MaxPooling2D(3, 2, name="pool3")(x)
    x = fire(x, 32, 128, "fire4")
    x = fire(x, 32, 128, "fire5")
    x = L.MaxPooling2D(3, 2, name="pool5")(x)
    x = fire(x, 48, 192, "fire6")
    x = fire(x, 48, 192, "fire7")
    x = fire(x, 64, 256, "fire8")
    x = fire(x, 64, 256, "fire9")
    x = L.Dropout(0.5, name="drop9")(x)
    x = L.Conv2D(1000, 1, activation="relu", name="conv10")(x)
    out = L.GlobalAveragePooling2D(name="pool10")(x)
    return keras.Model(inp, out, name="squeezenet1_1")


def cifar_cnn():
    inp = keras.Input((32, 32, 3), name="input")
    x = inp
    for i, (ch, pool) in enumerate(((32, False), (32, True), (64, False), (64, True), (128, False))):
        x = L.Conv2D(ch, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = L.BatchNormalization(name=f"bn{i}")(x)
        x = L.ReLU(name=f"relu{i}")(x)
        if pool:
            x = L.MaxPooling2D(2, name=f"pool{i}")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(10, name="fc")(x)
    return keras.Model(inp, out, name="cifar_cnn")


MODELS = {
    "resnet50": lambda: keras.applications.ResNet50(
        weights=None, input_shape=(224, 224, 3), classes=1000, classifier_activation=None),
    "densenet121": lambda: keras.applications.DenseNet121(
        weights=None, input_shape=(224, 224, 3), classes=1000, classifier_activation=None),
    "squeezenet1_1": squeezenet1_1,
    "cifar_cnn": cifar_cnn,
}


# ---------------------------------------------------------------- weights
def he_normal_convs(model):
    """Re-draw every Conv2D kernel He-normal (seeded per layer), biases zero."""
    convs = [l for l in model.layers if isinstance(l, L.Conv2D)]
    for i, conv in enumerate(convs):
        k = conv.kernel
        conv.kernel.assign(keras.initializers.HeNormal(seed=SEED + 1000 + i)(k.shape, dtype=k.dtype))
        if conv.use_bias:
            conv.bias.assign(np.zeros(conv.bias.shape, np.float32))
    return convs


def set_bn_statistics(model, x):
    """Moving mean/variance of every BN := batch statistics of its input
    (see the module docstring). Returns (number of BNs, max |mean|, min and max
    of the mean per-channel std) of the
    BN outputs in inference mode afterwards."""
    bns = [l for l in model.layers if isinstance(l, L.BatchNormalization)]
    if not bns:
        return None
    feats = keras.Model(model.input, [b.input for b in bns])
    ins = feats(x, training=True)
    for bn, t in zip(bns, ins):
        t = np.asarray(t, np.float64)
        axes = tuple(range(t.ndim - 1))
        bn.moving_mean.assign(t.mean(axis=axes).astype(np.float32))
        bn.moving_variance.assign(t.var(axis=axes).astype(np.float32))
    del ins
    outs = keras.Model(model.input, [b.output for b in bns])(x, training=False)
    means = [float(np.abs(np.asarray(o).mean(axis=(0, 1, 2))).max()) for o in outs]
    stds = [float(np.asarray(o).std(axis=(0, 1, 2)).mean()) for o in outs]
    return len(bns), max(means), min(stds), max(stds)


def normalise_conv_outputs(model, convs, x):
    """Scale each conv (in topological order) so its pre-activation output has
    std 1 on x. Returns the per-conv scale factors applied."""
    # Conv2D(activation="relu") applies the activation inside the layer, so
    # measure std on a linear copy: temporarily switch activation off.
    factors = []
    for conv in convs:
        act = conv.activation
        conv.activation = keras.activations.linear
        probe = keras.Model(model.input, conv.output)
        std = float(np.asarray(probe(x, training=False)).std())
        conv.activation = act
        conv.kernel.assign(conv.kernel.numpy() / std)
        if conv.use_bias:
            conv.bias.assign(conv.bias.numpy() / std)
        factors.append(std)
    return factors


# ---------------------------------------------------------------- export
def export(model, name, out_dir):
    shape = tuple(model.input_shape[1:])
    spec = (tf.TensorSpec([None, *shape], tf.float32, name="input"),)

    @tf.function(input_signature=spec)
    def forward(t):
        return {"logits": model(t, training=False)}

    path = os.path.join(out_dir, name + ".onnx")
    m, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=13, output_path=path)
    onnx.checker.check_model(path)
    return path, m


def build(name, out_dir):
    t0 = time.time()
    set_seeds()
    model = MODELS[name]()
    size = model.input_shape[1]
    x_cal = calib_images(size)
    convs = he_normal_convs(model)
    info = []
    bn = set_bn_statistics(model, x_cal)
    if bn:
        info.append(f"{bn[0]} BNs set; BN outputs: max|mean| {bn[1]:.3f}, "
                    f"mean std in [{bn[2]:.3f}, {bn[3]:.3f}]")
    else:
        f = normalise_conv_outputs(model, convs, x_cal)
        info.append(f"{len(f)} convs scaled by 1/std, std before in [{min(f):.3f}, {max(f):.3f}]")

    x = smooth_images(1, size, SEED + 100)
    keras_out = np.asarray(model(x, training=False), np.float32)
    path, m = export(model, name, out_dir)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    ort_out = sess.run(None, {sess.get_inputs()[0].name: x})[0].astype(np.float32)
    np.save(os.path.join(out_dir, name + ".input.npy"), x)
    np.save(os.path.join(out_dir, name + ".ort.npy"), ort_out)
    secs = time.time() - t0

    ops = sorted(set(n.op_type for n in m.graph.node))
    print(f"{name}: params {model.count_params():,}, onnx {os.path.getsize(path) / 2**20:.1f} MiB, "
          f"{len(m.graph.node)} nodes, built in {secs:.1f} s")
    for line in info:
        print(f"  {line}")
    print(f"  output {list(ort_out.shape)}: mean {ort_out.mean():.3f}, std {ort_out.std():.3f}, "
          f"max|.| {np.abs(ort_out).max():.3f}, top-1 {int(ort_out.argmax())}; "
          f"max|onnxruntime-keras| {np.abs(ort_out - keras_out).max():.2e}")
    print(f"  onnx op types: {' '.join(ops)}")
    sys.stdout.flush()
    keras.backend.clear_session()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "models-cache"),
                    help="output folder (default: models-cache/ at the repository root)")
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help=f"models to build (default: all of {' '.join(MODELS)})")
    args = ap.parse_args()
    names = args.names or list(MODELS)
    bad = [n for n in names if n not in MODELS]
    if bad:
        ap.error(f"unknown model(s) {bad}; choose from {list(MODELS)}")
    tf.config.threading.set_intra_op_parallelism_threads(int(os.environ["TF_NUM_INTRAOP_THREADS"]))
    tf.config.threading.set_inter_op_parallelism_threads(int(os.environ["TF_NUM_INTEROP_THREADS"]))
    os.makedirs(args.out, exist_ok=True)
    for name in names:
        build(name, args.out)


if __name__ == "__main__":
    main()
