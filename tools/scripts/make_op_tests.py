#!/usr/bin/python3
"""Tiny PyTorch models, one per op, exported to ONNX with PyTorch's own outputs beside them.

Run: /usr/bin/python3 tools/scripts/make_op_tests.py   (Debian's python3-torch, python3-onnx)

Each entry of CASES writes, in the layout of ONNX's backend tests,
  tests/data/ops/test_NAME/model.onnx
  tests/data/ops/test_NAME/test_data_set_0/input_0.pb    a random input
  tests/data/ops/test_NAME/test_data_set_0/output_0.pb   PyTorch's output for it
and the meson test 'ops-vs-pytorch' runs the conformance checker over that folder: our float
evaluator must reproduce PyTorch's output. Entries marked spiking=True are also written to
tests/data/snn/NAME.onnx, where test_ops converts them to an SNN and compares its
predictions with the ANN's. A new op's test is one entry here (and one line in
tests/test_ops.c when it has a spiking form).
"""
import os

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "tests", "data")
OPSET = 13  # fixed, so that re-running the script rewrites the same files


class GlobalMaxPoolNet(nn.Module):
    """conv -> ReLU -> global max pool -> dense: GlobalMaxPool inside a spiking net."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = nn.functional.adaptive_max_pool2d(h, 1)  # GlobalMaxPool (see global_max_pools)
        return self.fc(torch.flatten(h, 1))


class RgbNet(nn.Module):
    """A three-channel input (conv -> ReLU -> average pool -> dense), for per-channel
    preprocessing (--mean/--std with one value per channel)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 3 * 3, 3)

    def forward(self, x):
        h = nn.functional.avg_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(torch.flatten(h, 1))


# name: (module, input shape, also a spiking test). Inputs are uniform in [0, 1).
CASES = {
    "globalmaxpool_torch": (nn.AdaptiveMaxPool2d(1), (2, 3, 5, 7), False),
    "globalmaxpool_net": (GlobalMaxPoolNet(), (1, 2, 6, 6), True),
    "rgb_net": (RgbNet(), (1, 3, 6, 6), True),
}


def global_max_pools(model):
    """PyTorch 1.13 exports a max pool over the whole plane as MaxPool with the plane as its
    kernel; ONNX says the same as GlobalMaxPool. Rewrite such nodes so the test holds one."""
    inferred = onnx.shape_inference.infer_shapes(model)
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != "MaxPool":
            continue
        plane = dims.get(node.input[0], [])[2:]
        if (node.op_type == "MaxPool" and list(attrs.get("kernel_shape", [])) == plane
                and not any(attrs.get("pads", [])) and attrs.get("ceil_mode", 0) == 0):
            node.op_type = "GlobalMaxPool"
            del node.attribute[:]
    return model


def write_tensor(path, name, a):
    t = numpy_helper.from_array(np.ascontiguousarray(a, dtype=np.float32), name)
    with open(path, "wb") as f:
        f.write(t.SerializeToString())


def export(name, module, shape, spiking):
    torch.manual_seed(0)
    for p in module.parameters():  # deterministic weights, independent of construction order
        nn.init.uniform_(p, -1.0, 1.0)
    module.eval()
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = module(x)
    d = os.path.join(DATA, "ops", "test_" + name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    model = os.path.join(d, "model.onnx")
    torch.onnx.export(module, x, model, opset_version=OPSET, input_names=["x"], output_names=["y"])
    m = global_max_pools(onnx.load(model))
    onnx.checker.check_model(m)
    onnx.save(m, model)
    ops = sorted({n.op_type for n in m.graph.node})
    write_tensor(os.path.join(d, "test_data_set_0", "input_0.pb"), "x", x.numpy())
    write_tensor(os.path.join(d, "test_data_set_0", "output_0.pb"), "y", y.numpy())
    if spiking:
        with open(model, "rb") as src, open(os.path.join(DATA, "snn", name + ".onnx"), "wb") as dst:
            dst.write(src.read())
    print(f"{name}: {', '.join(ops)}")


def main():
    for name, (module, shape, spiking) in CASES.items():
        export(name, module, shape, spiking)


if __name__ == "__main__":
    main()
