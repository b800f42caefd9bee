"""Make the `fixtures/digits/` fixtures: a small trained CNN on real data.

Trains a tiny Keras CNN on scikit-learn's bundled 8x8 digits data set
(1797 real images, no download needed) and exports it two ways:

* ``digits.onnx`` -- via tf2onnx (opset 13), input NHWC float32 [N,8,8,1],
  output float32 [N,10] logits (no softmax).
* ``digits.pb``   -- a TF 2.x frozen GraphDef (variables folded to constants).

Alongside it writes the fixed test split (``x_test.npy``, ``y_test.npy``), the
reference outputs of onnxruntime (``onnx_out.npy``) and Keras
(``keras_out.npy``), 32 training images for scale calibration (``calib.npy``)
and a README.md recording tensor names and accuracies.

Why: the Rust end-to-end tests import a *trained* network and check that the
secure-inference result matches the float reference and keeps the accuracy.

Run: /work/venv/bin/python tools/make_digits.py
"""

import os
import random
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import numpy as np
import tensorflow as tf
import keras
import onnx
import onnxruntime as ort
import tf2onnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)

SEED = 0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "digits")


def set_seeds(seed=SEED):
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # pragma: no cover - older TF
        pass


def load_data():
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., None]  # [1797,8,8,1] in [0,1]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=y
    )
    return x_tr, x_te, y_tr, y_te


def build_model():
    inp = keras.Input(shape=(8, 8, 1), name="input")
    h = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inp)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.ReLU(name="relu1")(h)
    h = keras.layers.MaxPooling2D(2, name="pool1")(h)
    h = keras.layers.Conv2D(16, 3, padding="same", name="conv2")(h)
    h = keras.layers.ReLU(name="relu2")(h)
    h = keras.layers.MaxPooling2D(2, name="pool2")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(32, name="fc1")(h)
    h = keras.layers.ReLU(name="relu3")(h)
    out = keras.layers.Dense(10, name="logits")(h)  # logits, no softmax
    return keras.Model(inp, out, name="digits_cnn")


def main():
    set_seeds()
    os.makedirs(OUT, exist_ok=True)
    x_tr, x_te, y_tr, y_te = load_data()
    print("train", x_tr.shape, "test", x_te.shape)

    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_tr, y_tr, epochs=60, batch_size=64, shuffle=True, verbose=0)

    keras_out = model.predict(x_te, verbose=0).astype(np.float32)
    keras_acc = float((keras_out.argmax(1) == y_te).mean())
    print(f"keras test accuracy: {keras_acc:.4f}")
    if keras_acc < 0.96:
        sys.exit(f"accuracy {keras_acc:.4f} < 0.96; refusing to write fixtures")

    # A plain tf.function with batch None; used for both exports.
    spec = (tf.TensorSpec([None, 8, 8, 1], tf.float32, name="input"),)

    @tf.function(input_signature=spec)
    def forward(x):
        return {"logits": model(x, training=False)}

    # ---- ONNX via tf2onnx ----
    onnx_path = os.path.join(OUT, "digits.onnx")
    onnx_model, _ = tf2onnx.convert.from_function(
        forward, input_signature=spec, opset=13, output_path=onnx_path
    )
    onnx.checker.check_model(onnx_model)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    onnx_out = sess.run(None, {in_name: x_te})[0].astype(np.float32)
    onnx_acc = float((onnx_out.argmax(1) == y_te).mean())
    ops = sorted(set(n.op_type for n in onnx_model.graph.node))
    onnx_in = [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
               for i in onnx_model.graph.input]
    onnx_outs = [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim])
                 for o in onnx_model.graph.output]
    print(f"onnxruntime test accuracy: {onnx_acc:.4f}")
    print("onnx max |onnx - keras|:", float(np.abs(onnx_out - keras_out).max()))
    print("onnx inputs:", onnx_in, "outputs:", onnx_outs)
    print("onnx op types:", ops)

    # ---- TF frozen GraphDef ----
    cf = forward.get_concrete_function()
    frozen = convert_variables_to_constants_v2(cf)
    gd = frozen.graph.as_graph_def()
    with open(os.path.join(OUT, "digits.pb"), "wb") as f:
        f.write(gd.SerializeToString())
    pb_inputs = [t.name for t in frozen.inputs]
    pb_outputs = [t.name for t in frozen.outputs]
    pb_ops = sorted(set(n.op for n in gd.node))
    # check the frozen function gives the same numbers
    pb_out = frozen(tf.constant(x_te))
    pb_out = (pb_out[0] if isinstance(pb_out, (list, tuple)) else pb_out).numpy()
    print("pb input tensors:", pb_inputs, "output tensors:", pb_outputs)
    print("pb op types:", pb_ops)
    print("pb max |pb - keras|:", float(np.abs(pb_out - keras_out).max()))

    # ---- arrays ----
    rng = np.random.default_rng(SEED)
    calib = x_tr[rng.choice(len(x_tr), 32, replace=False)].astype(np.float32)
    np.save(os.path.join(OUT, "x_test.npy"), x_te.astype(np.float32))
    np.save(os.path.join(OUT, "y_test.npy"), y_te.astype(np.int64))
    np.save(os.path.join(OUT, "onnx_out.npy"), onnx_out)
    np.save(os.path.join(OUT, "keras_out.npy"), keras_out)
    np.save(os.path.join(OUT, "calib.npy"), calib)

    pb_in_node = pb_inputs[0].split(":")[0]
    pb_out_node = pb_outputs[0].split(":")[0]
    readme = f"""# digits fixtures

Made by `tools/make_digits.py` (do not edit by hand; rerun the script).

A small CNN trained on scikit-learn's 8x8 digits (pixels /16 -> [0,1]),
split `train_test_split(test_size=0.2, random_state=0, stratify=y)`.

Architecture (NHWC input [N,8,8,1]): Conv2D(8,3,same) -> BatchNorm -> ReLU ->
MaxPool(2) -> Conv2D(16,3,same) -> ReLU -> MaxPool(2) -> Flatten -> Dense(32)
-> ReLU -> Dense(10). Output is **logits** (no softmax).

## Accuracy on the 360 test images

- Keras: {keras_acc:.4f} ({int(round(keras_acc * 360))}/360)
- onnxruntime (digits.onnx): {onnx_acc:.4f} ({int(round(onnx_acc * 360))}/360)

## Files

| file | contents |
|---|---|
| digits.onnx | tf2onnx {tf2onnx.__version__}, opset 13; input `{onnx_in[0][0]}` float32 {onnx_in[0][1]} (NHWC), output `{onnx_outs[0][0]}` float32 {onnx_outs[0][1]} |
| digits.pb | TF {tf.__version__} frozen GraphDef (convert_variables_to_constants_v2) |
| x_test.npy | float32 [360,8,8,1] |
| y_test.npy | int64 [360] labels |
| onnx_out.npy | float32 [360,10], onnxruntime {ort.__version__} outputs for x_test |
| keras_out.npy | float32 [360,10], Keras outputs for x_test |
| calib.npy | float32 [32,8,8,1], training images for scale calibration |

ONNX op types: {", ".join(ops)}

## digits.pb tensor names

- input placeholder name: `{pb_in_node}` (tensor `{pb_inputs[0]}`), float32 [?,8,8,1]
- output node name: `{pb_out_node}` (tensor `{pb_outputs[0]}`), float32 [?,10]

GraphDef op types: {", ".join(pb_ops)}
"""
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(readme)
    for fn in sorted(os.listdir(OUT)):
        print(f"  {fn}: {os.path.getsize(os.path.join(OUT, fn))} bytes")


if __name__ == "__main__":
    main()
