"""Make the `fixtures/ops/` fixtures: one tiny ONNX graph per operator case.

Each graph is built directly with ``onnx.helper`` in the NCHW layout that
``torch.onnx.export`` produces (opset 13 mostly, a few at 10/11/17/18), with
awkward shapes (odd sizes, strides, asymmetric/auto pads, dilations, groups).
Weights are initializers drawn from a seeded RNG with trained-net-like
magnitudes (normal * 0.3).  For every case NAME it writes

* ``NAME.onnx``        the model (single float32 input ``x``, single output ``y``)
* ``NAME.input.npy``   float32 input, batch 2 where the op has a batch
* ``NAME.output.npy``  float32 output of onnxruntime (graph optimizations off)

plus ``unsupported_lrn.onnx`` (an LRN op, no arrays; for an error test) and
``MANIFEST.txt`` (name, input shape, output shape, opset per line).

Why: per-operator tests of the Rust ONNX importer and secure layers against
an independent reference, without needing Python at test time.

Run: /work/venv/bin/python tools/make_op_suite.py
"""

import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "ops")
IR_VERSION = 8  # readable by every onnxruntime/onnx of the last years; fine for opset <= 18

rng = np.random.default_rng(1234)
manifest = []


def w(*shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name=name)


def i64(name, vals):
    return numpy_helper.from_array(np.asarray(vals, dtype=np.int64), name=name)


def bn_params(prefix, c):
    return [
        init(prefix + "_scale", rng.uniform(0.5, 1.5, c).astype(np.float32)),
        init(prefix + "_bias", w(c)),
        init(prefix + "_mean", (rng.standard_normal(c) * 0.5).astype(np.float32)),
        init(prefix + "_var", rng.uniform(0.5, 2.0, c).astype(np.float32)),
    ]


def bn_node(inp, out, prefix, eps=1e-5):
    return helper.make_node(
        "BatchNormalization",
        [inp, prefix + "_scale", prefix + "_bias", prefix + "_mean", prefix + "_var"],
        [out],
        epsilon=eps,
    )


def case(name, nodes, inits, in_shape, opset, x=None, dynamic_batch=False,
         write_arrays=True):
    """Build, check, run and save one case."""
    if x is None:
        x = rng.standard_normal(in_shape).astype(np.float32)
    x = np.asarray(x, dtype=np.float32)
    assert list(x.shape) == list(in_shape), (name, x.shape, in_shape)
    decl_in = list(in_shape)
    if dynamic_batch:
        decl_in[0] = "N"
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, decl_in)

    def build(out_shape):
        y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
        g = helper.make_graph(nodes, name, [x_info], [y_info], initializer=inits)
        m = helper.make_model(
            g,
            opset_imports=[helper.make_opsetid("", opset)],
            producer_name="cryptflow-tools/make_op_suite",
            ir_version=IR_VERSION,
        )
        return m

    path = os.path.join(OUT, name + ".onnx")
    if not write_arrays:
        m = build(decl_in)  # LRN keeps the shape
        onnx.checker.check_model(m)
        onnx.save(m, path)
        manifest.append(f"{name} {list(in_shape)} - {opset} (unsupported; no arrays)")
        return None

    # first pass: unknown output shape, to learn it from onnxruntime
    m = build(None)
    y = run_ort(m, x)
    out_shape = list(y.shape)
    if dynamic_batch:
        out_shape[0] = "N"
    m = build(out_shape)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    y2 = run_ort(onnx.load(path), x)
    assert np.array_equal(y, y2)
    np.save(os.path.join(OUT, name + ".input.npy"), x)
    np.save(os.path.join(OUT, name + ".output.npy"), y)
    manifest.append(
        f"{name} {list(x.shape)} {list(y.shape)} {opset}"
        + (" (batch dim symbolic 'N')" if dynamic_batch else "")
    )
    print(f"{name:26s} opset {opset:2d} in {list(x.shape)} out {list(y.shape)}")
    return y


def run_ort(model, x):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    y = sess.run(["y"], {"x": x})[0]
    return np.asarray(y, dtype=np.float32)


def conv(inp, out, wname, bname=None, **attrs):
    ins = [inp, wname] + ([bname] if bname else [])
    return helper.make_node("Conv", ins, [out], **attrs)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith((".onnx", ".npy")) or f == "MANIFEST.txt":
            os.remove(os.path.join(OUT, f))

    # ---------------- convolutions ----------------
    case("conv_basic",
         [conv("x", "y", "W", "B", kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
         [init("W", w(4, 3, 3, 3)), init("B", w(4))], [2, 3, 7, 9], 13)

    # pads order: [top, left, bottom, right]
    case("conv_stride2_asym_pads",
         [conv("x", "y", "W", "B", kernel_shape=[3, 3], strides=[2, 2],
               pads=[1, 0, 2, 1])],
         [init("W", w(5, 3, 3, 3)), init("B", w(5))], [2, 3, 9, 7], 13)

    # even kernel + stride 2 -> odd total padding, extra goes at the end
    case("conv_same_upper",
         [conv("x", "y", "W", "B", kernel_shape=[4, 4], strides=[2, 2],
               auto_pad="SAME_UPPER")],
         [init("W", w(3, 2, 4, 4)), init("B", w(3))], [2, 2, 7, 9], 13)

    # extra padding goes at the beginning
    case("conv_same_lower",
         [conv("x", "y", "W", "B", kernel_shape=[2, 4], strides=[1, 2],
               auto_pad="SAME_LOWER")],
         [init("W", w(3, 2, 2, 4)), init("B", w(3))], [2, 2, 7, 9], 13)

    case("conv_valid",
         [conv("x", "y", "W", "B", kernel_shape=[3, 2], strides=[2, 1],
               auto_pad="VALID")],
         [init("W", w(4, 3, 3, 2)), init("B", w(4))], [2, 3, 9, 7], 13)

    case("conv_dilated",
         [conv("x", "y", "W", "B", kernel_shape=[3, 3], dilations=[2, 3],
               pads=[2, 3, 2, 3])],
         [init("W", w(4, 2, 3, 3)), init("B", w(4))], [2, 2, 9, 11], 11)

    case("conv_groups",
         [conv("x", "y", "W", "B", kernel_shape=[3, 3], group=2, pads=[1, 1, 1, 1])],
         [init("W", w(6, 2, 3, 3)), init("B", w(6))], [2, 4, 7, 9], 13)

    case("conv_depthwise",
         [conv("x", "y", "W", "B", kernel_shape=[3, 3], group=4, strides=[2, 2],
               pads=[1, 1, 1, 1])],
         [init("W", w(4, 1, 3, 3)), init("B", w(4))], [2, 4, 9, 7], 13)

    # depth multiplier 2: group == C_in, C_out == 2 * C_in
    case("conv_depthwise_mult2",
         [conv("x", "y", "W", "B", kernel_shape=[3, 3], group=3, pads=[1, 1, 1, 1])],
         [init("W", w(6, 1, 3, 3)), init("B", w(6))], [2, 3, 7, 9], 13)

    case("conv_nobias",
         [conv("x", "y", "W", kernel_shape=[3, 3], pads=[0, 1, 0, 1])],
         [init("W", w(5, 3, 3, 3))], [2, 3, 7, 9], 13)

    # 1x1 conv without explicit kernel_shape attribute (inferred from W)
    case("conv_1x1_noattrs",
         [conv("x", "y", "W", "B")],
         [init("W", w(6, 4, 1, 1)), init("B", w(6))], [2, 4, 5, 7], 13)

    # ---------------- dense ----------------
    case("gemm_transB",
         [helper.make_node("Flatten", ["x"], ["f"], axis=1),
          helper.make_node("Gemm", ["f", "W", "B"], ["y"], alpha=1.0, beta=1.0,
                           transB=1)],
         [init("W", w(8, 60)), init("B", w(8))], [2, 3, 4, 5], 13)

    case("gemm_plain",
         [helper.make_node("Gemm", ["x", "W", "B"], ["y"])],
         [init("W", w(12, 7)), init("B", w(1, 7))], [2, 12], 13)

    case("matmul_const",
         [helper.make_node("MatMul", ["x", "W"], ["y"])],
         [init("W", w(6, 5))], [2, 6], 13)

    # torch Linear on a 3-D tensor exports MatMul + Add
    case("matmul_add_3d",
         [helper.make_node("MatMul", ["x", "W"], ["m"]),
          helper.make_node("Add", ["m", "B"], ["y"])],
         [init("W", w(6, 5)), init("B", w(5))], [2, 3, 6], 13)

    # ---------------- elementwise with constants ----------------
    case("add_const", [helper.make_node("Add", ["x", "C"], ["y"])],
         [init("C", w(4, 1, 1))], [2, 4, 5, 6], 13)
    case("sub_const", [helper.make_node("Sub", ["x", "C"], ["y"])],
         [init("C", w(4, 1, 1))], [2, 4, 5, 6], 13)
    # constant on the left: y = C - x
    case("sub_const_lhs", [helper.make_node("Sub", ["C", "x"], ["y"])],
         [init("C", w(4, 1, 1))], [2, 4, 5, 6], 13)
    case("mul_const", [helper.make_node("Mul", ["x", "C"], ["y"])],
         [init("C", w(4, 1, 1))], [2, 4, 5, 6], 13)
    case("div_const", [helper.make_node("Div", ["x", "C"], ["y"])],
         [init("C", np.array(2.5, dtype=np.float32))], [2, 4, 5, 6], 13)

    case("add_residual",
         [conv("x", "a", "Wa", "Ba", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
          conv("x", "b", "Wb", "Bb", kernel_shape=[1, 1]),
          helper.make_node("Add", ["a", "b"], ["y"])],
         [init("Wa", w(4, 3, 3, 3)), init("Ba", w(4)),
          init("Wb", w(4, 3, 1, 1)), init("Bb", w(4))], [2, 3, 7, 9], 13)

    # skip connection straight from the input: y = relu(conv(x)) + x
    case("add_skip_input",
         [conv("x", "a", "W", "B", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
          helper.make_node("Relu", ["a"], ["r"]),
          helper.make_node("Add", ["r", "x"], ["y"])],
         [init("W", w(3, 3, 3, 3)), init("B", w(3))], [2, 3, 7, 9], 13)

    # ---------------- activations ----------------
    case("relu", [helper.make_node("Relu", ["x"], ["y"])], [], [2, 3, 5, 7], 13)
    case("relu_opset18", [helper.make_node("Relu", ["x"], ["y"])], [],
         [2, 3, 5, 7], 18)

    x_big = (rng.standard_normal([2, 3, 5, 7]) * 4).astype(np.float32)
    case("clip_relu6",
         [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
         [init("lo", np.array(0.0, np.float32)), init("hi", np.array(6.0, np.float32))],
         [2, 3, 5, 7], 13, x=x_big)
    # opset 11: min/max are already inputs (Clip-11); here they come from
    # Constant nodes, as torch.onnx emits them
    x_big = (rng.standard_normal([2, 3, 5, 7]) * 4).astype(np.float32)
    case("clip_opset11",
         [helper.make_node("Constant", [], ["lo"],
                           value=numpy_helper.from_array(np.array(0.0, np.float32))),
          helper.make_node("Constant", [], ["hi"],
                           value=numpy_helper.from_array(np.array(6.0, np.float32))),
          helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
         [], [2, 3, 5, 7], 11, x=x_big)
    # min/max as attributes only exist up to opset 10 (Clip-6)
    x_big = (rng.standard_normal([2, 3, 5, 7]) * 4).astype(np.float32)
    case("clip_attr_opset10",
         [helper.make_node("Clip", ["x"], ["y"], min=0.0, max=6.0)],
         [], [2, 3, 5, 7], 10, x=x_big)

    case("leaky_relu", [helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.1)],
         [], [2, 3, 5, 7], 13)

    x_sig = rng.uniform(-6, 6, [2, 3, 5, 7]).astype(np.float32)
    case("sigmoid", [helper.make_node("Sigmoid", ["x"], ["y"])], [], [2, 3, 5, 7],
         13, x=x_sig)
    x_tanh = rng.uniform(-6, 6, [2, 3, 5, 7]).astype(np.float32)
    case("tanh", [helper.make_node("Tanh", ["x"], ["y"])], [], [2, 3, 5, 7],
         13, x=x_tanh)

    # ---------------- pooling ----------------
    case("maxpool_3x3_s2",
         [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3],
                           strides=[2, 2], pads=[1, 1, 1, 1])],
         [], [2, 3, 9, 7], 11)
    case("maxpool_2x2",
         [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2],
                           strides=[2, 2])],
         [], [2, 3, 8, 10], 13)
    # odd input, floor mode: last row/col dropped
    case("maxpool_2x2_odd",
         [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2],
                           strides=[2, 2])],
         [], [2, 3, 7, 9], 13)
    case("maxpool_ceil",
         [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2],
                           strides=[2, 2], ceil_mode=1)],
         [], [2, 3, 7, 9], 13)
    case("avgpool_3x3_pads",
         [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3],
                           strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0)],
         [], [2, 3, 9, 7], 13)
    case("avgpool_count_pad",
         [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3],
                           strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)],
         [], [2, 3, 9, 7], 17)
    case("avgpool_2x2",
         [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2],
                           strides=[2, 2])],
         [], [2, 3, 8, 6], 13)
    case("global_avgpool",
         [helper.make_node("GlobalAveragePool", ["x"], ["y"])],
         [], [2, 5, 7, 9], 13)
    case("global_maxpool",
         [helper.make_node("GlobalMaxPool", ["x"], ["y"])],
         [], [2, 5, 7, 9], 13)

    # ---------------- normalization ----------------
    case("batchnorm_after_conv",
         [conv("x", "c", "W", "B", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
          bn_node("c", "y", "bn")],
         [init("W", w(4, 3, 3, 3)), init("B", w(4))] + bn_params("bn", 4),
         [2, 3, 7, 9], 13)
    case("batchnorm_alone", [bn_node("x", "y", "bn", eps=1e-3)], bn_params("bn", 3),
         [2, 3, 5, 7], 18)

    # ---------------- shape ops ----------------
    case("concat_channels",
         [conv("x", "a", "Wa", "Ba", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
          conv("x", "b", "Wb", "Bb", kernel_shape=[1, 1]),
          helper.make_node("Concat", ["a", "b"], ["y"], axis=1)],
         [init("Wa", w(3, 2, 3, 3)), init("Ba", w(3)),
          init("Wb", w(5, 2, 1, 1)), init("Bb", w(5))], [2, 2, 7, 9], 13)
    case("flatten", [helper.make_node("Flatten", ["x"], ["y"], axis=1)], [],
         [2, 3, 4, 5], 13)
    # shape [0, 4, -1]: 0 copies the input dim, -1 is inferred -> [2,4,15]
    case("reshape", [helper.make_node("Reshape", ["x", "shape"], ["y"])],
         [i64("shape", [0, 4, -1])], [2, 3, 4, 5], 13)
    # opset 13: axes are inputs
    case("squeeze_unsqueeze",
         [helper.make_node("Squeeze", ["x", "sq_axes"], ["s"]),
          helper.make_node("Unsqueeze", ["s", "unsq_axes"], ["y"])],
         [i64("sq_axes", [1]), i64("unsq_axes", [3])], [2, 1, 5, 6], 13)
    # opset 11: axes are attributes
    case("squeeze_unsqueeze_opset11",
         [helper.make_node("Squeeze", ["x"], ["s"], axes=[1]),
          helper.make_node("Unsqueeze", ["s"], ["y"], axes=[3])],
         [], [2, 1, 5, 6], 11)
    case("transpose",
         [helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])],
         [], [2, 3, 4, 5], 13)
    # pads: [x1_begin, x2_begin, x3_begin, x4_begin, x1_end, ...]
    case("pad_const",
         [helper.make_node("Pad", ["x", "pads", "value"], ["y"], mode="constant")],
         [i64("pads", [0, 0, 1, 2, 0, 0, 2, 0]),
          init("value", np.array(0.0, np.float32))], [2, 3, 5, 7], 13)
    # opset 11 Pad, constant_value omitted (defaults to 0)
    case("pad_const_opset11",
         [helper.make_node("Pad", ["x", "pads"], ["y"], mode="constant")],
         [i64("pads", [0, 0, 0, 1, 0, 0, 3, 1])], [2, 3, 5, 7], 11)
    case("identity_dropout",
         [helper.make_node("Identity", ["x"], ["i"]),
          helper.make_node("Dropout", ["i"], ["y"])],
         [], [2, 3, 5, 7], 13)

    # ---------------- small networks ----------------
    case("softmax_last",
         [helper.make_node("Gemm", ["x", "W", "B"], ["g"], transB=1),
          helper.make_node("Softmax", ["g"], ["y"])],  # opset 13 default axis=-1
         [init("W", w(10, 16)), init("B", w(10))], [2, 16], 13)

    # Conv-BN-Relu-MaxPool-Conv-Relu-GlobalAvgPool-Flatten-Gemm, symbolic batch
    case("small_cnn_nchw",
         [conv("x", "c1", "W1", "B1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
          bn_node("c1", "b1", "bn1"),
          helper.make_node("Relu", ["b1"], ["r1"]),
          helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2],
                           strides=[2, 2]),
          conv("p1", "c2", "W2", "B2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
          helper.make_node("Relu", ["c2"], ["r2"]),
          helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
          helper.make_node("Flatten", ["g"], ["f"], axis=1),
          helper.make_node("Gemm", ["f", "Wf", "Bf"], ["y"], alpha=1.0, beta=1.0,
                           transB=1)],
         [init("W1", w(6, 3, 3, 3)), init("B1", w(6))] + bn_params("bn1", 6)
         + [init("W2", w(8, 6, 3, 3)), init("B2", w(8)),
            init("Wf", w(5, 8)), init("Bf", w(5))],
         [2, 3, 9, 11], 17, dynamic_batch=True)

    # ---------------- unsupported ----------------
    case("unsupported_lrn",
         [helper.make_node("LRN", ["x"], ["y"], size=3, alpha=1e-4, beta=0.75,
                           bias=1.0)],
         [], [2, 4, 5, 5], 13, write_arrays=False)

    with open(os.path.join(OUT, "MANIFEST.txt"), "w") as f:
        f.write("# name input_shape output_shape opset  (made by tools/make_op_suite.py)\n")
        f.write("# every model: one float32 input 'x', one float32 output 'y'\n")
        for line in manifest:
            f.write(line + "\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{len(manifest)} cases, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
