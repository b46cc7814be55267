"""Run an ONNX model with PyTorch's own operators (torch.nn.functional), node by node.

Debian has no ONNX-to-PyTorch converter, so the benchmarks use this small interpreter to time
PyTorch on exactly the network that ann2snn reads: the same weights, the same ops, eager mode as
an nn.Module's forward() would run them. It covers the ops of the bundled models and of the
CIFAR-shaped VGG-11 and ResNet-18 (tools/scripts/make_cifar_models.py); another op raises
NotImplementedError naming it.
"""
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(p):
    """ONNX (top, left, bottom, right) into F.pad's (left, right, top, bottom)."""
    return (p[1], p[3], p[0], p[2])


class OnnxTorch:
    def __init__(self, path):
        m = onnx.load(path)
        self.g = m.graph
        self.consts = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in self.g.initializer}
        init = set(self.consts)
        self.inputs = [i.name for i in self.g.input if i.name not in init]
        self.outputs = [o.name for o in self.g.output]
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in self.g.node]

    def __call__(self, x):
        env = dict(self.consts)
        env[self.inputs[0]] = x
        for op, ins, outs, at in self.nodes:
            args = [env[i] if i else None for i in ins]
            env[outs[0]] = self._run(op, args, at)
        return env[self.outputs[0]]

    @staticmethod
    def _conv_pads(x, at, k):
        p = at.get("pads", [0, 0, 0, 0])
        if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise NotImplementedError("auto_pad")
        if p[0] == p[2] and p[1] == p[3]:
            return x, (p[0], p[1])
        return F.pad(x, _pads(p)), (0, 0)

    def _run(self, op, a, at):
        if op == "Conv":
            x, pad = self._conv_pads(a[0], at, a[1].shape[2:])
            return F.conv2d(x, a[1], a[2] if len(a) > 2 else None, at.get("strides", [1, 1]), pad,
                            at.get("dilations", [1, 1]), at.get("group", 1))
        if op == "Relu":
            return F.relu(a[0])
        if op in ("MaxPool", "AveragePool"):
            x, pad = self._conv_pads(a[0], at, at["kernel_shape"])
            k, s = at["kernel_shape"], at.get("strides", [1, 1])
            if op == "MaxPool":
                return F.max_pool2d(x, k, s, pad, ceil_mode=bool(at.get("ceil_mode", 0)))
            return F.avg_pool2d(x, k, s, pad, ceil_mode=bool(at.get("ceil_mode", 0)),
                                count_include_pad=bool(at.get("count_include_pad", 0)))
        if op == "GlobalAveragePool":
            return F.adaptive_avg_pool2d(a[0], 1)
        if op == "Flatten":
            return torch.flatten(a[0], at.get("axis", 1))
        if op == "Gemm":
            A = a[0].t() if at.get("transA", 0) else a[0]
            B = a[1].t() if at.get("transB", 0) else a[1]
            alpha, beta = at.get("alpha", 1.0), at.get("beta", 1.0)
            if len(a) > 2 and a[2] is not None and alpha == 1.0 and beta == 1.0:
                return torch.addmm(a[2], A, B)
            y = alpha * (A @ B)
            return y + beta * a[2] if len(a) > 2 and a[2] is not None else y
        if op == "MatMul":
            return a[0] @ a[1]
        if op == "Add":
            return a[0] + a[1]
        if op == "BatchNormalization":
            return F.batch_norm(a[0], a[3], a[4], a[1], a[2], False, 0.0, at.get("epsilon", 1e-5))
        if op == "Pad":
            pads = a[1].tolist() if len(a) > 1 and a[1] is not None else at["pads"]
            value = float(a[2]) if len(a) > 2 and a[2] is not None else at.get("value", 0.0)
            r = len(pads) // 2
            tp = []
            for d in reversed(range(r)):
                tp += [pads[d], pads[d + r]]
            return F.pad(a[0], tp, value=value)
        if op == "Constant":
            return torch.from_numpy(numpy_helper.to_array(at["value"]).copy())
        if op == "Shape":
            return torch.tensor(a[0].shape, dtype=torch.int64)
        if op == "Gather":
            return torch.index_select(a[0], at.get("axis", 0), a[1].reshape(-1)).reshape(
                a[1].shape if a[1].dim() else ())
        if op == "Unsqueeze":
            axes = at["axes"] if "axes" in at else a[1].tolist()
            y = a[0]
            for ax in sorted(axes):
                y = y.unsqueeze(ax)
            return y
        if op == "Concat":
            return torch.cat(a, at["axis"])
        if op == "Reshape":
            return a[0].reshape([int(v) for v in a[1].tolist()])
        raise NotImplementedError(op)

