"""Makes fixtures/ops/symbolic_hw.onnx: a Conv whose input has symbolic
batch, height and width (N, 3, H, W), for the test that an unbound dimension
gives a clear error unless --input-shape binds it."""
import numpy as np
import onnx
from onnx import TensorProto, helper

node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
w = helper.make_tensor("w", TensorProto.FLOAT, [2, 3, 3, 3], np.random.RandomState(1).randn(54).astype("float32").tolist())
g = helper.make_graph(
    [node],
    "sym",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, "H", "W"])],
    [w],
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, "fixtures/ops/symbolic_hw.onnx")
