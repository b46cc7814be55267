#!/usr/bin/python3
"""Peak memory against data set size: `ann2snn accuracy`, `ann2snn eval` and `snn-run` on
synthetic CIFAR-sized sets (3x32x32 float32 .npy) of growing length.

  /usr/bin/python3 tools/scripts/bench_streaming.py [--build DIR] [--baseline-build DIR]
                                                    [--sizes 20000,200000] [--dir TMPDIR]

The model is a small CIFAR-shaped CNN (one 3x3 convolution, average pooling, a linear layer)
made here with PyTorch and converted by the build's ann2snn; the data is Gaussian noise with
labels from the model itself, written with numpy.lib.format.open_memmap so this script never
holds it either. Peak RSS is GNU time's "maximum resident set size". --baseline-build runs the
same commands with another build (e.g. one from before streaming) in the same run.
The largest set is 200,000 x 3,072 floats = 2.46 GB on disk (in --dir).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from paths import BUILD, tool  # noqa: E402


def make_model(path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(4), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, 10))
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 3, 32, 32), path, opset_version=13, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    return model


def make_set(model, n, x_path, y_path):
    x = np.lib.format.open_memmap(x_path, mode="w+", dtype=np.float32, shape=(n, 3, 32, 32))
    y = np.empty(n, np.int64)
    rng = np.random.default_rng(n)
    with torch.no_grad():
        for i in range(0, n, 5000):
            chunk = rng.standard_normal((min(5000, n - i), 3, 32, 32), dtype=np.float32)
            x[i:i + len(chunk)] = chunk
            y[i:i + len(chunk)] = model(torch.from_numpy(chunk)).argmax(1).numpy()
    x.flush()
    del x
    np.save(y_path, y)


def peak_rss(cmd):
    """(peak RSS in MB, wall seconds) of cmd, from GNU time."""
    r = subprocess.run(["/usr/bin/time", "-f", "%M %e"] + cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    kb, sec = r.stderr.strip().splitlines()[-1].split()
    return int(kb) / 1024.0, float(sec)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=BUILD)
    ap.add_argument("--baseline-build")
    ap.add_argument("--sizes", default="20000,200000")
    ap.add_argument("--dir", help="where the data sets go (default: a temporary directory)")
    a = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(dir=a.dir)
    d = tmp.name
    onnx = os.path.join(d, "cifar_small.onnx")
    model = make_model(onnx)
    builds = [("streaming", a.build)] + ([("baseline", a.baseline_build)] if a.baseline_build else [])
    print(f"{'build':10} {'samples':>8} {'file MB':>8} {'command':10} {'peak RSS MB':>12} {'seconds':>8}")
    for n in (int(s) for s in a.sizes.split(",")):
        x, y = os.path.join(d, f"x{n}.npy"), os.path.join(d, f"y{n}.npy")
        make_set(model, n, x, y)
        mb = os.path.getsize(x) / 1e6
        for label, build in builds:
            exe, run = tool(build, "ann2snn"), tool(build, "snn-run")
            snn = os.path.join(d, f"m_{label}.snn")
            subprocess.run([exe, onnx, "--calib", x, "--calib-count", "500", "--scale", "1", "-o", snn],
                           check=True, capture_output=True)
            cmds = {
                "accuracy": [exe, "accuracy", onnx, "--data", x, "--labels", y, "--scale", "1"],
                "eval": [exe, "eval", snn, "--data", x, "--labels", y, "--steps", "4"],
                "snn-run": [run, snn, "--input", x, "--steps", "4"],
            }
            for name, cmd in cmds.items():
                rss, sec = peak_rss(cmd)
                print(f"{label:10} {n:8} {mb:8.0f} {name:10} {rss:12.1f} {sec:8.1f}", flush=True)
        os.remove(x)


if __name__ == "__main__":
    main()
