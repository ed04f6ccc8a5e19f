# Builds a small ONNX network with the output layout of a YOLOv5 or YOLOv8
# export and generated (random) weights, with Debian's python3-onnx: input
# "images" [1, 3, S, S]; one convolution with an S/8 stride makes an 8×8
# grid of 64 candidate boxes; the output is [1, 64, 85] (yolov5: box,
# objectness, 80 class scores) or [1, 84, 64] (yolov8: box, 80 class
# scores, transposed). It detects nothing meaningful: the tests use it for
# loading, shapes and timing only.
# Usage: make_onnx.py yolov5|yolov8 SIZE OUT.onnx
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

layout, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
channels = 85 if layout == "yolov5" else 84
stride = size // 8
rng = np.random.default_rng(7)
w = numpy_helper.from_array((rng.standard_normal((channels, 3, stride, stride)) * 0.01).astype(np.float32), "w")
# Box channels spread over the input, scores high (sigmoid(2) ≈ 0.88), so
# that decoding has boxes to place, filter and suppress.
bias = np.full(channels, 2.0, dtype=np.float32)
bias[:4] = rng.uniform(-2, 2, 4)
b = numpy_helper.from_array(bias, "b")
scale = np.ones((1, channels, 1, 1), dtype=np.float32)
scale[0, :4, 0, 0] = [size, size, size / 4, size / 4]
s = numpy_helper.from_array(scale, "scale")
shape = numpy_helper.from_array(np.array([1, channels, 64], dtype=np.int64), "shape")
nodes = [
    helper.make_node("Conv", ["images", "w", "b"], ["conv"], kernel_shape=[stride, stride], strides=[stride, stride]),
    helper.make_node("Sigmoid", ["conv"], ["sig"]),
    helper.make_node("Mul", ["sig", "scale"], ["act"]),
    helper.make_node("Reshape", ["act", "shape"], ["flat"]),
]
if layout == "yolov5":
    nodes.append(helper.make_node("Transpose", ["flat"], ["output0"], perm=[0, 2, 1]))
    dims = [1, 64, channels]
else:
    nodes.append(helper.make_node("Identity", ["flat"], ["output0"]))
    dims = [1, channels, 64]
graph = helper.make_graph(
    nodes, "generated-" + layout,
    [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
    [helper.make_tensor_value_info("output0", TensorProto.FLOAT, dims)],
    initializer=[w, b, s, shape])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, out)
