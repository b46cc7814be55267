#!/usr/bin/python3
"""Write the small ONNX files the tests use (tests/data/), with Debian's python3-onnx.

Run: /usr/bin/python3 tools/scripts/make_test_models.py
  tests/data/passes/*.onnx     graphs each pass rewrites (BN folding, Identity removal, Pad
                               merging); test_passes checks outputs before == after.
  tests/data/malformed/*.onnx  broken models; tests/data/malformed/expected.txt names the error
                               each must produce (file, status, message fragment).
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "tests", "data")
rng = np.random.default_rng(7)


def w(name, *shape, positive=False):
    a = rng.standard_normal(shape).astype(np.float32)
    return numpy_helper.from_array(np.abs(a) + 0.5 if positive else a, name)


def model(nodes, inits, in_shape, out_shape, opset=13, name="g", inputs=None, outputs=None):
    g = helper.make_graph(
        nodes, name,
        inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def bn(prefix, x, y, c):
    inits = [w(prefix + "_g", c, positive=True), w(prefix + "_b", c), w(prefix + "_m", c),
             w(prefix + "_v", c, positive=True)]
    node = helper.make_node("BatchNormalization", [x] + [i.name for i in inits], [y], epsilon=1e-3)
    return node, inits


def pass_models():
    out = {}
    # Conv (with and without bias) followed by BN, twice; Identity and Dropout in between.
    n1 = helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1])
    b1, i1 = bn("bn1", "c1", "r1in", 4)
    r1 = helper.make_node("Relu", ["r1in"], ["r1"])
    idn = helper.make_node("Identity", ["r1"], ["id1"])
    drp = helper.make_node("Dropout", ["id1"], ["d1"])
    n2 = helper.make_node("Conv", ["d1", "w2"], ["c2"], strides=[2, 2])
    b2, i2 = bn("bn2", "c2", "y", 6)
    out["conv_bn_identity"] = model([n1, b1, r1, idn, drp, n2, b2],
                                    [w("w1", 4, 2, 3, 3), w("b1", 4), w("w2", 6, 4, 3, 3)] + i1 + i2,
                                    [1, 2, 8, 8], [1, 6, 3, 3])
    # Gemm (transB) followed by BatchNormalization over features, and a Gemm without bias.
    g1 = helper.make_node("Gemm", ["x", "gw", "gb"], ["g1"], transB=1, alpha=0.5, beta=2.0)
    gb, gi = bn("bn3", "g1", "g1n", 5)
    g2 = helper.make_node("Gemm", ["g1n", "gw2"], ["g2"])
    gb2, gi2 = bn("bn4", "g2", "y", 3)
    out["gemm_bn"] = model([g1, gb, g2, gb2], [w("gw", 5, 7), w("gb", 5), w("gw2", 5, 3)] + gi + gi2,
                           [2, 7], [2, 3])
    # Zero Pad merged into Conv, into AveragePool, into MaxPool after ReLU; a Pad before a
    # MaxPool whose input is not known to be non-negative (an AveragePool's output) must stay.
    pads = numpy_helper.from_array(np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "pads")
    p1 = helper.make_node("Pad", ["x", "pads"], ["p1"], mode="constant")
    c1 = helper.make_node("Conv", ["p1", "pw"], ["pc1"])
    r = helper.make_node("Relu", ["pc1"], ["pr"])
    p2 = helper.make_node("Pad", ["pr", "pads"], ["p2"])
    mp = helper.make_node("MaxPool", ["p2"], ["pm"], kernel_shape=[3, 3])
    p3 = helper.make_node("Pad", ["pm", "pads"], ["p3"])
    ap = helper.make_node("AveragePool", ["p3"], ["pa"], kernel_shape=[2, 2], strides=[2, 2])
    p4 = helper.make_node("Pad", ["pa", "pads"], ["p4"])
    mp2 = helper.make_node("MaxPool", ["p4"], ["y"], kernel_shape=[2, 2])
    out["pad_merge"] = model([p1, c1, r, p2, mp, p3, ap, p4, mp2], [pads, w("pw", 3, 2, 3, 3)],
                             [1, 2, 9, 9], [1, 3, 9, 9])
    return out


def snn_models():
    """Tiny nets whose conversion the tests check by hand."""
    out = {}
    W1 = np.array([[1.0, -1.0], [0.5, 2.0], [-1.0, -1.0]], np.float32)  # (3, 2): transB
    b1 = np.array([0.5, 0.0, -0.25], np.float32)
    W2 = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], np.float32)  # (2, 3): transB
    b2 = np.array([0.1, -0.1], np.float32)
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "W2", "b2"], ["y"], transB=1)]
    inits = [numpy_helper.from_array(a, n) for a, n in ((W1, "W1"), (b1, "b1"), (W2, "W2"), (b2, "b2"))]
    out["dense2"] = model(nodes, inits, [1, 2], [1, 2])
    # Two branches, one through Clip(0, 6) (ReLU6), concatenated on channels, a strided conv,
    # max pooling, global average pooling and a classifier: the layers the bundled models lack.
    six = numpy_helper.from_array(np.array(6.0, np.float32), "six")
    zero = numpy_helper.from_array(np.array(0.0, np.float32), "zero")
    nodes = [helper.make_node("Conv", ["x", "ca", "cab"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["a", "zero", "six"], ["a6"]),
             helper.make_node("Conv", ["x", "cb", "cbb"], ["b"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["b"], ["br"]),
             helper.make_node("Concat", ["a6", "br"], ["cat"], axis=1),
             helper.make_node("Conv", ["cat", "cc", "ccb"], ["c"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["cr"]),
             helper.make_node("MaxPool", ["cr"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["mp"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fw", "fb"], ["y"], transB=1)]
    inits = [w("ca", 3, 1, 3, 3), w("cab", 3), w("cb", 2, 1, 3, 3), w("cbb", 2), w("cc", 6, 5, 3, 3),
             w("ccb", 6), w("fw", 4, 6), w("fb", 4), six, zero]
    out["concat_clip"] = model(nodes, inits, [1, 1, 8, 8], [1, 4])
    # A residual block whose shortcut skips two spiking layers (so its spikes come from an
    # earlier window), an overlapping padded max-pool (3x3, stride 2) and a depthwise conv.
    nodes = [helper.make_node("Conv", ["x", "s0", "s0b"], ["s"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["s"], ["sr"]),
             helper.make_node("MaxPool", ["sr"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["p", "r1", "r1b"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["ar"]),
             helper.make_node("Conv", ["ar", "dw", "dwb"], ["d"], pads=[1, 1, 1, 1], group=4),
             helper.make_node("Relu", ["d"], ["dr"]),
             helper.make_node("Conv", ["dr", "r2", "r2b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "p"], ["sum"]),
             helper.make_node("Relu", ["sum"], ["sumr"]),
             helper.make_node("GlobalAveragePool", ["sumr"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fw2", "fb2"], ["y"], transB=1)]
    inits = [w("s0", 4, 1, 3, 3), w("s0b", 4), w("r1", 4, 4, 3, 3), w("r1b", 4), w("dw", 4, 1, 3, 3),
             w("dwb", 4), w("r2", 4, 4, 3, 3), w("r2b", 4), w("fw2", 3, 4), w("fb2", 3)]
    out["residual"] = model(nodes, inits, [1, 1, 9, 9], [1, 3])
    # Dense, BatchNormalization, ReLU, dense: a spiking layer fed by a BN, whose statistics give a
    # data-free range. Its own generator, so that the files above keep their bytes.
    r = np.random.default_rng(7)
    arr = lambda name, *shape: numpy_helper.from_array(r.standard_normal(shape).astype(np.float32), name)
    nodes = [helper.make_node("Gemm", ["x", "bw1", "bb1"], ["h"], transB=1),
             helper.make_node("BatchNormalization", ["h", "bng", "bnb", "bnm", "bnv"], ["hn"], epsilon=1e-3),
             helper.make_node("Relu", ["hn"], ["hr"]),
             helper.make_node("Gemm", ["hr", "bw2", "bb2"], ["y"], transB=1)]
    inits = [arr("bw1", 4, 6), arr("bb1", 4), arr("bnb", 4), arr("bnm", 4), arr("bw2", 3, 4), arr("bb2", 3),
             numpy_helper.from_array(np.abs(r.standard_normal(4)).astype(np.float32) + 0.5, "bng"),
             numpy_helper.from_array(np.abs(r.standard_normal(4)).astype(np.float32) + 0.5, "bnv")]
    out["dense_bn"] = model(nodes, inits, [1, 6], [1, 3])
    return out


def malformed():
    """(file, bytes, expected status name, message fragment)."""
    cases = []
    good = model([helper.make_node("Relu", ["x"], ["y"])], [], [1, 4], [1, 4])
    gemm = model([helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], [w("W", 3, 4)], [1, 4], [1, 3])
    data = gemm.SerializeToString()
    cases.append(("truncated.onnx", data[: len(data) // 2], "format", "truncated or corrupt"))
    bad = onnx.ModelProto()
    bad.CopyFrom(gemm)
    bad.graph.initializer[0].raw_data = bad.graph.initializer[0].raw_data[:-4]
    cases.append(("raw_data_length.onnx", bad.SerializeToString(), "format",
                  "raw_data has 44 bytes, shape needs 12 x 4"))
    bad = onnx.ModelProto()
    bad.CopyFrom(gemm)
    del bad.graph.initializer[:]
    cases.append(("missing_initializer.onnx", bad.SerializeToString(), "invalid",
                  "reads 'W', which no node, input or initializer provides"))
    unk = model([helper.make_node("Erf", ["x"], ["y"], name="erf1")], [], [1, 4], [1, 4])
    cases.append(("unknown_op.onnx", unk.SerializeToString(), "unsupported",
                  "node 'erf1': op 'Erf' (opset 13) is not supported"))
    cyc = model([helper.make_node("Relu", ["b"], ["a"], name="r1"), helper.make_node("Add", ["x", "a"], ["b"], name="add1"),
                 helper.make_node("Relu", ["b"], ["y"], name="r2")], [], [1, 4], [1, 4])
    cases.append(("cycle.onnx", cyc.SerializeToString(), "invalid", "the graph has a cycle"))
    huge = model([helper.make_node("Relu", ["x"], ["y"])], [], [100000, 100000, 1000], [1])
    cases.append(("huge_dims.onnx", huge.SerializeToString(), "limit", "graph input 'x' is too large"))
    huge_t = TensorProto(name="B", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20])
    big_init = model([helper.make_node("Add", ["x", "B"], ["y"])], [huge_t], [1, 4], [1, 4])
    cases.append(("huge_initializer.onnx", big_init.SerializeToString(), "limit", "[1048576, 1048576]: its dimensions multiply past 2147483648 elements"))
    old = model([helper.make_node("Relu", ["x"], ["y"])], [], [1, 4], [1, 4], opset=19)
    cases.append(("future_opset.onnx", old.SerializeToString(), "unsupported", "opset 19 is outside"))
    shape = model([helper.make_node("Gemm", ["x", "W"], ["y"])], [w("W", 5, 3)], [1, 4], [1, 3])
    cases.append(("shape_mismatch.onnx", shape.SerializeToString(), "invalid", "node 'Gemm_0' (Gemm): Gemm inner dimensions differ (4 vs 5)"))
    cases.append(("empty.onnx", b"", "format", "the model has no graph"))
    cases.append(("not_onnx.onnx", b"\x89PNG\r\n\x1a\n" + bytes(range(64)), "format", "truncated or corrupt"))
    nograph = onnx.ModelProto()
    nograph.CopyFrom(good)
    nograph.ClearField("graph")
    cases.append(("no_graph.onnx", nograph.SerializeToString(), "format", "the model has no graph"))
    cases.append(("deep_nesting.onnx", nested_graphs(10000), "limit", "nests messages more than 64 deep"))
    # A TypeProto chain: sequence of sequence of ... as a graph input's type.
    cases.append(("deep_types.onnx", nested_types(10000), "limit", "nests messages more than 64 deep"))
    # Wire data a walker must not run past: a length that overflows the buffer.
    cases.append(("bad_length.onnx", field(7, b"")[:1] + b"\xff\xff\xff\xff\x0f", "format", "truncated or corrupt"))
    return cases


def varint(n):
    out = b""
    while True:
        out += bytes([(n & 0x7f) | (0x80 if n > 0x7f else 0)])
        n >>= 7
        if not n:
            return out


def field(num, payload):
    """A length-delimited protobuf field, written by hand: onnx's Python protobuf refuses to
    build messages this deep, which is the point of these files."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def nested_graphs(depth):
    """ModelProto.graph -> node -> attribute.g -> node -> attribute.g ... depth times."""
    g = b""
    for _ in range(depth):
        attr = field(1, b"body") + varint(20 << 3) + varint(5) + field(6, g)  # name, type GRAPH, g
        g = field(1, field(4, b"If") + field(5, attr))  # GraphProto.node (op_type, attribute)
    return varint(1 << 3) + varint(8) + field(7, g)  # ir_version 8, graph


def nested_types(depth):
    """GraphProto.input[0].type = sequence_type.elem_type = sequence_type ... depth times."""
    t = field(1, b"")  # TypeProto.tensor_type, empty
    for _ in range(depth):
        t = field(4, field(1, t))  # TypeProto.sequence_type.elem_type
    vi = field(1, b"x") + field(2, t)
    return varint(1 << 3) + varint(8) + field(7, field(11, vi))


def main():
    os.makedirs(os.path.join(OUT, "passes"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "malformed"), exist_ok=True)
    for name, m in pass_models().items():
        onnx.checker.check_model(m)
        onnx.save(m, os.path.join(OUT, "passes", name + ".onnx"))
    lines = ["# file<TAB>status<TAB>message fragment (tests/test_malformed.c)"]
    for fname, data, status, frag in malformed():
        with open(os.path.join(OUT, "malformed", fname), "wb") as f:
            f.write(data)
        lines.append(f"{fname}\t{status}\t{frag}")
    with open(os.path.join(OUT, "malformed", "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    # Last, so that adding models here leaves the random weights above unchanged.
    os.makedirs(os.path.join(OUT, "snn"), exist_ok=True)
    for name, m in snn_models().items():
        onnx.checker.check_model(m)
        onnx.save(m, os.path.join(OUT, "snn", name + ".onnx"))



if __name__ == "__main__":
    main()
