#!/usr/bin/python3
"""Convert every bundled model and evaluate ANN and SNN on the full test set.

  /usr/bin/python3 tools/scripts/evaluate_models.py [--steps 128] [--models a,b] [--norms LIST]
                                            [--extra "ARGS"] [--out DIR]

For each model: `ann2snn MODEL.onnx --calib TRAIN` (default options unless --extra), then
`ann2snn eval MODEL.snn --data TEST --labels TEST --onnx MODEL.onnx --steps T --json`.
Prints one markdown table row per model (and per normalisation with --norms): ANN accuracy and
SNN accuracy at T = 8, 16, 32, 64, 128 with the difference, spikes per neuron and synops at 32
and 128. Standard library only.
"""
import argparse
import json
import os
import subprocess

from paths import ROOT, tool
FM = "/usr/share/datasets/fashion-mnist"
DATA = {
    "fmnist": (os.path.join(FM, "train-images-idx3-ubyte.gz"), os.path.join(FM, "t10k-images-idx3-ubyte.gz"),
               os.path.join(FM, "t10k-labels-idx1-ubyte.gz")),
    "mnist": tuple(os.path.join(ROOT, "models", "data", f) for f in (
        "mnist-digits-calib-images-idx3-ubyte.gz", "mnist-digits-test-images-idx3-ubyte.gz",
        "mnist-digits-test-labels-idx1-ubyte.gz")),
}
MODELS = ["fmnist_mlp", "fmnist_cnn_avg", "fmnist_cnn_maxbn", "fmnist_resnet", "mnist_lenet"]


def run(model, norm, steps, extra, out, build, limit, eval_extra=()):
    calib, test, labels = DATA["mnist" if model.startswith("mnist") else "fmnist"]
    tag = model + ("" if norm is None else "." + norm.replace("=", "")) + "".join(e.strip("-") for e in extra)
    snn = os.path.join(out, tag + ".snn")
    res = os.path.join(out, tag + ".json")
    cmd = [tool(build, "ann2snn"), os.path.join(ROOT, "models", model + ".onnx"), "-o", snn]
    if norm != "model":
        cmd += ["--calib", calib]
    if norm:
        cmd += ["--norm", norm]
    cmd += extra
    conv = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([tool(build, "ann2snn"), "eval", snn, "--data", test, "--labels", labels, "--onnx",
                    os.path.join(ROOT, "models", model + ".onnx"), "--steps", str(steps), "--json", res,
                    "--plot", os.path.join(out, tag + ".svg")] + (["--limit", str(limit)] if limit else []) +
                   list(eval_extra),
                   check=True, stdout=subprocess.DEVNULL)
    with open(res) as f:
        return tag, conv, json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--norms", default=None, help="comma list, e.g. max,percentile=99.9,channel=99.99,model")
    ap.add_argument("--extra", default="", help="more converter options, e.g. '--v-init 0'")
    ap.add_argument("--limit", type=int, default=0, help="evaluate on the first N test samples only")
    ap.add_argument("--out", default="/tmp/ann2snn-eval")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    norms = args.norms.split(",") if args.norms else [None]
    cols = [8, 16, 32, 64, 128]
    print("| model | norm | ANN | " + " | ".join(f"T={t}" for t in cols) +
          " | spikes/neuron T=32 | synops T=32 | spikes/neuron T=128 | synops T=128 |")
    print("|" + "---|" * (8 + len(cols)))
    for model in args.models.split(","):
        for norm in norms:
            tag, conv, r = run(model, norm, args.steps, args.extra.split(), args.out, args.build, args.limit)
            ann = r["ann_accuracy"]
            by = {p["steps"]: p for p in r["curve"]}
            cells = []
            for t in cols:
                if t in by:
                    a = by[t]["accuracy"]
                    cells.append(f"{100 * a:.2f} ({100 * (a - ann):+.2f})")
                else:
                    cells.append("-")
            def extra_cols(t):
                p = by.get(t)
                return (f"{p['spikes_per_neuron']:.2f} | {p['synops'] / 1e6:.2f} M") if p else "- | -"
            print(f"| {model} | {norm or 'default'} | {100 * ann:.2f} | " + " | ".join(cells) +
                  f" | {extra_cols(32)} | {extra_cols(128)} |", flush=True)


if __name__ == "__main__":
    main()
