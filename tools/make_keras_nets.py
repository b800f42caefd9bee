"""Make the `fixtures/keras/` fixtures: small trained Keras CNNs exported to ONNX.

Four small NHWC networks built only from layers the Rust importer supports
(Conv2D with strides/paddings/dilation, DepthwiseConv2D, BatchNormalization,
ReLU, ReLU(max_value=6), LeakyReLU, MaxPooling2D, AveragePooling2D,
GlobalAveragePooling2D, Add, Concatenate, Flatten, Dense, Dropout,
ZeroPadding2D, sigmoid/tanh).  Each is trained briefly on scikit-learn's
digits, resized/padded into the net's input shape with channels tiled, so the
top-1 of the reference outputs is meaningful.  For each NAME it writes

* ``NAME.onnx``          tf2onnx, opset 13, input NHWC float32 with batch None
* ``NAME.x.npy``         40 test inputs, NHWC float32
* ``NAME.y.npy``         their int64 labels
* ``NAME.keras_out.npy`` Keras outputs for those inputs (float32 [40,10] logits)

and ``MANIFEST.txt``.  Why: the tf2onnx-exported layer patterns (NHWC
transposes, SAME padding, depthwise, BN folding) differ from torch exports and
must import and run correctly too.

Run: /work/venv/bin/python tools/make_keras_nets.py
"""

import os
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import numpy as np
import tensorflow as tf
import keras
from keras import layers as L
import onnx
import onnxruntime as ort
import tf2onnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "keras")
N_TEST = 40


def set_seeds(seed=SEED):
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # pragma: no cover
        pass


def digits_split():
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., None]
    y = d.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)


def fit_to(x, shape, how):
    """Map [N,8,8,1] digits into [N,H,W,C]."""
    h, w, c = shape
    if how == "resize":
        x = tf.image.resize(x, (h, w), method="bilinear").numpy()
    else:  # centre pad with zeros
        ph, pw = h - 8, w - 8
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    x = np.repeat(x, c, axis=3)
    if c > 1:  # make channels differ a little so they are not exact copies
        x = x * np.linspace(1.0, 0.6, c, dtype=np.float32)[None, None, None, :]
    return x.astype(np.float32)


# ---------------------------------------------------------------- nets
def kn_resblock():
    inp = keras.Input((12, 12, 3), name="input")
    h = L.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    h = L.BatchNormalization(momentum=0.9)(h)
    h = L.ReLU()(h)
    r = L.Conv2D(8, 3, padding="same")(h)
    r = L.BatchNormalization(momentum=0.9)(r)
    r = L.ReLU()(r)
    r = L.Conv2D(8, 3, padding="same")(r)
    r = L.BatchNormalization(momentum=0.9)(r)
    h = L.Add()([h, r])
    h = L.ReLU()(h)
    h = L.MaxPooling2D(2)(h)                       # 6x6
    h = L.Conv2D(16, 3, strides=2, padding="same")(h)  # 3x3, SAME with stride
    h = L.ReLU()(h)
    h = L.GlobalAveragePooling2D()(h)
    out = L.Dense(10, name="logits")(h)
    return keras.Model(inp, out, name="kn_resblock"), (12, 12, 3), "resize"


def kn_depthwise():
    inp = keras.Input((12, 12, 3), name="input")
    h = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inp)  # 6x6
    h = L.BatchNormalization(momentum=0.9)(h)
    h = L.ReLU(max_value=6.0)(h)
    h = L.DepthwiseConv2D(3, padding="same", use_bias=False)(h)
    h = L.BatchNormalization(momentum=0.9)(h)
    h = L.ReLU(max_value=6.0)(h)
    h = L.Conv2D(16, 1, use_bias=False)(h)
    h = L.BatchNormalization(momentum=0.9)(h)
    h = L.ReLU(max_value=6.0)(h)
    h = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(h)  # 3x3x32
    h = L.ReLU(max_value=6.0)(h)
    h = L.Conv2D(16, 1)(h)
    h = L.ReLU(max_value=6.0)(h)
    h = L.GlobalAveragePooling2D()(h)
    h = L.Dropout(0.2)(h)
    out = L.Dense(10, name="logits")(h)
    return keras.Model(inp, out, name="kn_depthwise"), (12, 12, 3), "resize"


def kn_concat():
    inp = keras.Input((10, 14, 1), name="input")
    h = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    b1 = L.Conv2D(4, 1, activation="relu")(h)
    b2 = L.Conv2D(4, 1, activation="relu")(h)
    b2 = L.Conv2D(6, 3, padding="same", activation="relu")(b2)
    b3 = L.AveragePooling2D(3, strides=1, padding="same")(h)
    b3 = L.Conv2D(4, 1, activation="relu")(b3)
    b4 = L.MaxPooling2D(3, strides=1, padding="same")(h)
    h = L.Concatenate(axis=-1)([b1, b2, b3, b4])  # 4+6+4+8 = 22 channels
    h = L.AveragePooling2D(2)(h)                   # 5x7
    h = L.Conv2D(12, 3, padding="valid", activation="relu")(h)  # 3x5
    h = L.Flatten()(h)
    h = L.Dense(24, activation="tanh")(h)
    out = L.Dense(10, name="logits")(h)
    return keras.Model(inp, out, name="kn_concat"), (10, 14, 1), "pad"


def kn_strided_dilated():
    inp = keras.Input((13, 11, 2), name="input")
    h = L.ZeroPadding2D(((1, 2), (0, 1)))(inp)    # 16x12
    h = L.Conv2D(8, 3, strides=2, padding="valid")(h)  # 7x5
    h = L.LeakyReLU(negative_slope=0.1)(h)
    h = L.Conv2D(12, 3, dilation_rate=2, padding="same")(h)  # 7x5
    h = L.BatchNormalization(momentum=0.9)(h)
    h = L.Activation("sigmoid")(h)
    h = L.Conv2D(16, (3, 2), strides=(2, 1), padding="same", activation="relu")(h)  # 4x5
    h = L.MaxPooling2D((2, 2), strides=(1, 2), padding="valid")(h)  # 3x2
    h = L.Flatten()(h)
    h = L.Dense(32, activation="relu")(h)
    out = L.Dense(10, name="logits")(h)
    return keras.Model(inp, out, name="kn_strided_dilated"), (13, 11, 2), "resize"


NETS = [kn_resblock, kn_depthwise, kn_concat, kn_strided_dilated]


def main():
    os.makedirs(OUT, exist_ok=True)
    x_tr8, x_te8, y_tr, y_te = digits_split()
    manifest = []
    for make in NETS:
        set_seeds()
        model, shape, how = make()
        name = model.name
        x_tr = fit_to(x_tr8, shape, how)
        x_te = fit_to(x_te8, shape, how)
        model.compile(
            optimizer=keras.optimizers.Adam(3e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(x_tr, y_tr, epochs=20, batch_size=64, shuffle=True, verbose=0)
        full = model.predict(x_te, verbose=0)
        acc_full = float((full.argmax(1) == y_te).mean())

        x = x_te[:N_TEST]
        y = y_te[:N_TEST]
        keras_out = model.predict(x, verbose=0).astype(np.float32)

        spec = (tf.TensorSpec([None, *shape], tf.float32, name="input"),)

        @tf.function(input_signature=spec)
        def forward(t):
            return {"logits": model(t, training=False)}

        path = os.path.join(OUT, name + ".onnx")
        m, _ = tf2onnx.convert.from_function(
            forward, input_signature=spec, opset=13, output_path=path
        )
        onnx.checker.check_model(m)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        onnx_out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        diff = float(np.abs(onnx_out - keras_out).max())
        ops = sorted(set(n.op_type for n in m.graph.node))
        np.save(os.path.join(OUT, name + ".x.npy"), x)
        np.save(os.path.join(OUT, name + ".y.npy"), y.astype(np.int64))
        np.save(os.path.join(OUT, name + ".keras_out.npy"), keras_out)
        acc40 = float((keras_out.argmax(1) == y).mean())
        print(f"{name}: params {model.count_params()}, keras acc (360 test) {acc_full:.4f}, "
              f"acc on the 40 saved {acc40:.3f}, max|onnx-keras| {diff:.2e}, "
              f"onnx {os.path.getsize(path)} bytes")
        print(f"  onnx op types: {ops}")
        manifest.append(
            f"{name} input [40, {shape[0]}, {shape[1]}, {shape[2]}] NHWC -> output [40, 10] "
            f"logits; opset 13; keras test acc {acc_full:.4f}; top-1 on saved 40 {acc40:.3f}; "
            f"max|onnxruntime-keras| {diff:.1e}; ops: {' '.join(ops)}"
        )

    with open(os.path.join(OUT, "MANIFEST.txt"), "w") as f:
        f.write("# made by tools/make_keras_nets.py; ONNX input name 'input' (batch symbolic),"
                " output name 'logits'\n")
        for line in manifest:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
