#!/usr/bin/python3
"""Rate coding against time-to-first-spike coding, one row per bundled model, full test sets.

  /usr/bin/python3 tools/scripts/compare_codings.py [--models a,b] [--resolution 64] [--limit N]

For each model: the default rate conversion evaluated to T=128, and `--coding ttfs` evaluated
at every resolution up to R and with exact spike times (`ann2snn eval --onnx`, so agreement
with the ANN's predictions is measured). Prints two markdown tables: the side-by-side summary
and the TTFS curve. Standard library only.
"""
import argparse
import os

from evaluate_models import MODELS, ROOT, run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", default="/tmp/ann2snn-codings")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows, curves = [], []
    for model in args.models.split(","):
        _, _, rate = run(model, None, 128, [], args.out, args.build, args.limit)
        _, _, tt = run(model, None, 64, ["--coding", "ttfs"], args.out, args.build, args.limit,
                       ["--resolution", str(args.resolution)])
        ann = rate["ann_accuracy"]
        by = {p["steps"]: p for p in rate["curve"]}
        exact = tt["curve"][-1]
        cells = [f"{100 * ann:.2f}"]
        for t in (32, 128):
            p = by[t]
            cells += [f"{100 * p['accuracy']:.2f} ({100 * (p['accuracy'] - ann):+.2f})",
                      f"{p['spikes_per_neuron']:.2f}", f"{p['synops'] / 1e6:.2f} M"]
        cells += [f"{100 * exact['accuracy']:.2f} ({100 * (exact['accuracy'] - ann):+.2f})",
                  f"{100 * exact['same_as_ann']:.2f} %", f"{exact['spikes_per_neuron']:.3f} / {exact['max_spikes_per_neuron']}",
                  f"{exact['synops'] / 1e6:.3f} M", f"{tt['latency_windows']} windows"]
        rows.append(f"| {model} | " + " | ".join(cells) + " |")
        for p in tt["curve"]:
            res = p["resolution"]
            curves.append(f"| {model} | {res} | {p['steps'] if p['steps'] is not None else '-'} | "
                          f"{100 * p['accuracy']:.2f} ({100 * (p['accuracy'] - ann):+.2f}) | "
                          f"{100 * p['same_as_ann']:.2f} % | {p['spikes_per_neuron']:.3f} | "
                          f"{p['max_spikes_per_neuron']} | {p['synops'] / 1e6:.3f} M |")
    print("| model | ANN | rate T=32 | spikes/neuron | synops | rate T=128 | spikes/neuron | synops "
          "| TTFS exact | same as ANN | spikes/neuron mean / max | synops | latency |")
    print("|" + "---|" * 14)
    print("\n".join(rows))
    print()
    print("| model | TTFS resolution | latency steps | accuracy | same as ANN | spikes/neuron | max | synops |")
    print("|" + "---|" * 8)
    print("\n".join(curves))


if __name__ == "__main__":
    main()
