#!/usr/bin/env python3
"""The Python package against the command line, on bundled models and data:

  test_python.py ANN2SNN SNN_RUN SRC WORK [--installed SITE_PACKAGES]

- convert() from NumPy samples writes the bytes `ann2snn MODEL.onnx --calib` writes;
- a torch.nn.Module converts to the bytes of converting the ONNX file export_onnx() gives it;
- save()/load() round-trip; info() is `ann2snn info --json`;
- run() predicts what snn-run predicts, on an integer and a float file;
- errors: a missing file, a wrong shape, a wrong dtype, an unsupported op, a bad option.

With --installed the package is imported from a `meson install` tree (no ANN2SNN_LIBRARY),
the way a user gets it. Exits 77 (skipped) where numpy is missing; the torch case is skipped
with a message where torch is.
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("skipped: numpy is not installed for", sys.executable, "(Debian: python3-numpy)")
    sys.exit(77)

ann2snn_exe, snn_run, src, work = sys.argv[1:5]
if "--installed" in sys.argv:
    os.environ.pop("ANN2SNN_LIBRARY", None)
    sys.path.insert(0, sys.argv[sys.argv.index("--installed") + 1])
else:
    sys.path.insert(0, os.path.join(src, "tools", "python"))
import ann2snn  # noqa: E402

failures, passed = [], 0


def check(name, ok, detail=""):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(f"{name}: {detail}")
        print("FAIL", name, detail)


def idx(path):
    """An IDX file (gzip) as a uint8 array: images (N, 1, H, W), labels (N,)."""
    b = gzip.open(path).read()
    dims = [int.from_bytes(b[4 + 4 * k:8 + 4 * k], "big") for k in range(b[3])]
    x = np.frombuffer(b[4 + 4 * len(dims):], np.uint8)
    return x.reshape(dims[0], 1, *dims[1:]) if len(dims) == 3 else x


def cli(*args):
    return subprocess.run([ann2snn_exe, *args], capture_output=True, text=True)


def raises(name, fn, *fragments):
    try:
        fn()
    except ann2snn.Error as e:
        ok = all(f in str(e) for f in fragments)
        check(name, ok, f"message {str(e)!r} lacks {fragments}")
        return e
    check(name, False, "no exception")
    return None


tmp = tempfile.mkdtemp(dir=work)
digits = os.path.join(src, "models", "data")
calib = idx(os.path.join(digits, "mnist-digits-calib-images-idx3-ubyte.gz"))
test_x = idx(os.path.join(digits, "mnist-digits-test-images-idx3-ubyte.gz"))[:200]
lenet = os.path.join(src, "models", "mnist_lenet.onnx")

# 1. The same bytes as the command line, for a float and an integer file.
for extra in ([], ["--precision", "int8"]):
    opts = {"calib_count": 300}
    if extra:
        opts["precision"] = "int8"
    snn = ann2snn.convert(lenet, calib, **opts)
    out = os.path.join(tmp, "cli.snn")
    r = cli(lenet, "--calib", os.path.join(digits, "mnist-digits-calib-images-idx3-ubyte.gz"), "--calib-count", "300",
            *extra, "-o", out)
    check(f"cli {extra}", r.returncode == 0, r.stderr)
    with open(out, "rb") as f:
        check(f"same bytes as the CLI {extra}", f.read() == snn.data)
    # 2. run() against snn-run on the same file and samples.
    raw = os.path.join(tmp, "x.npy")
    np.save(raw, test_x)
    r = subprocess.run([snn_run, out, "--input", raw, "--steps", "16"], capture_output=True, text=True)
    want = np.array([int(line.split()[0]) for line in r.stdout.split()], np.int32)
    got = snn.predict(test_x, steps=16)
    check(f"run() predicts as snn-run {extra}", r.returncode == 0 and np.array_equal(want, got),
          f"{(want != got).sum()} of {len(want)} differ")
    res = snn.run(test_x, steps=16, threads=1)
    check("threads do not change outputs", np.array_equal(res.outputs, snn.run(test_x, steps=16, threads=2).outputs))
    check("outputs and counts", res.outputs.shape == (200, 10) and res.spikes.sum() > 0 and res.synops.sum() > 0
          and len(res.layers) == len(snn.info()["layers"]))

# 3. save / load, info() as the CLI's JSON.
path = os.path.join(tmp, "saved.snn")
snn.save(path)
back = ann2snn.load(path)
check("save/load round trip", back.data == snn.data and back.info()["layers"] == snn.info()["layers"])
r = cli("info", path, "--json")
check("info() is `ann2snn info --json`", r.returncode == 0 and json.loads(r.stdout) == back.info())
check("str() is `ann2snn info`", str(back) == cli("info", path).stdout)

# 3b. evaluate(): the JSON numbers of `ann2snn eval --json`, the SVG of its --plot.
labels_gz = os.path.join(digits, "mnist-digits-test-labels-idx1-ubyte.gz")
test_y = idx(labels_gz)[:200]
js, svg = os.path.join(tmp, "eval.json"), os.path.join(tmp, "eval.svg")
r = cli("eval", path, "--data", os.path.join(digits, "mnist-digits-test-images-idx3-ubyte.gz"), "--labels", labels_gz,
        "--limit", "200", "--onnx", lenet, "--steps", "32", "--exit", "confidence", "--json", js, "--plot", svg)
check("cli eval", r.returncode == 0, r.stderr)
ev = back.evaluate(test_x, test_y, ann=lenet, steps=32, exit="confidence", threads=1)
with open(js) as f:
    check("evaluate() is `ann2snn eval --json`", json.load(f) == ev, f"{ev}")
with open(svg) as f:
    check("evaluate().svg is its --plot", f.read() == ev.svg)
check("evaluate() has the curve and early exit", len(ev["curve"]) == 6 and len(ev["early_exit"]) == 8)
plotted = ann2snn.SNN.plot(ev, os.path.join(tmp, "p.svg"))
check("plot() writes a figure", os.path.getsize(os.path.join(tmp, "p.svg")) > 0, plotted)
raises("evaluate: labels of the wrong length", lambda: back.evaluate(test_x, test_y[:10]), "give 200 class indices")
raises("evaluate: --layers without the ANN", lambda: back.evaluate(test_x, test_y, layers=True), "--layers needs")

# 4. Errors, each with the library's message, before anything runs.
e = raises("missing file", lambda: ann2snn.convert(os.path.join(tmp, "nope.onnx"), calib), "nope.onnx")
check("missing file status", e is not None and e.status == "io", getattr(e, "status", None))
raises("wrong sample shape", lambda: ann2snn.convert(lenet, calib[:, :, :20, :20]), "have 400 values",
       "takes 784")
raises("one sample, not a batch", lambda: snn.run(test_x[0].reshape(-1)), "one sample, not a batch")
raises("wrong dtype", lambda: snn.run(test_x.astype(np.complex64)), "dtype complex64")
raises("bad option value", lambda: ann2snn.convert(lenet, calib, burst=99), "--burst", "1 to 16")
raises("unknown option", lambda: ann2snn.convert(lenet, calib, bogus=1), "--bogus: no such conversion option")
raises("contradicting options", lambda: ann2snn.convert(lenet, calib, precision="int8", burst=2),
       "--burst needs float32")
raises("corrupt .snn", lambda: ann2snn.SNN(snn.data[:100]), "truncated")
try:
    import onnx
    from onnx import helper, TensorProto
    g = helper.make_graph([helper.make_node("Tanh", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    e = raises("unsupported op", lambda: ann2snn.convert(m.SerializeToString(), np.zeros((2, 4), np.float32)),
               "Tanh")
except ImportError:
    print("skipped: unsupported-op case (python3-onnx not installed)")

# 5. A torch.nn.Module: the bytes of converting the ONNX file it exports to.
try:
    import torch
except ImportError:
    torch = None
    print("skipped: torch.nn.Module case (python3-torch not installed)")
if torch is not None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 13 * 13, 10))
    net.eval()
    x = calib[:200]
    direct = ann2snn.convert(net, x)
    onnx_path = os.path.join(tmp, "net.onnx")
    with open(onnx_path, "wb") as f:
        f.write(ann2snn.export_onnx(net, x[0]))
    via_file = ann2snn.convert(onnx_path, x)
    check("Module converts as its ONNX file", direct.data == via_file.data)
    r = cli(onnx_path, "--calib", os.path.join(digits, "mnist-digits-calib-images-idx3-ubyte.gz"), "--calib-count",
            "200", "-o", os.path.join(tmp, "net.snn"))
    with open(os.path.join(tmp, "net.snn"), "rb") as f:
        check("and as the CLI converts that file", r.returncode == 0 and f.read() == direct.data, r.stderr)
    check("the module is left in its mode", not net.training)
    # A DataLoader of (x, y) batches: its first calib_count samples, as the array gives them.
    ds = torch.utils.data.TensorDataset(torch.from_numpy(calib[:250].copy()), torch.zeros(250, dtype=torch.long))
    loader = torch.utils.data.DataLoader(ds, batch_size=64)
    from_loader = ann2snn.convert(lenet, loader, calib_count=200)
    check("a DataLoader calibrates as the array", from_loader.data == ann2snn.convert(lenet, calib[:200]).data)

import shutil  # noqa: E402
shutil.rmtree(tmp, ignore_errors=True)
print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
