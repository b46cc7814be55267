#!/usr/bin/env bash
# Every thread count gives the same results: the converter's .snn bytes (calibration split over
# workers), eval's JSON (rate and Poisson coding), snn-run's predictions and accuracy's
# predictions, for --threads 1, 2 and 3 (3 splits the samples unevenly on any machine).
# Usage: check_threads.sh ANN2SNN SNN_RUN MODELS_DIR FASHION_MNIST_DIR
set -u
ann2snn=$1 snn_run=$2 models=$3 fm=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
model=$models/fmnist_cnn_maxbn.onnx
data=$fm/t10k-images-idx3-ubyte.gz labels=$fm/t10k-labels-idx1-ubyte.gz
for j in 1 2 3; do
    "$ann2snn" "$model" --calib "$fm/train-images-idx3-ubyte.gz" --calib-count 301 --threads $j \
        -o "$work/$j.snn" >/dev/null || fail "conversion with --threads $j"
    "$ann2snn" "$model" --calib "$fm/train-images-idx3-ubyte.gz" --calib-count 301 --threads $j \
        --burst 2 --norm tsearch --calibrate-for 4 --correct-count 37 -o "$work/tuned$j.snn" >/dev/null \
        || fail "conversion with --burst, tsearch and bias correction, --threads $j"
    "$ann2snn" eval "$work/1.snn" --data "$data" --labels "$labels" --limit 157 --steps 16 \
        --onnx "$model" --layers --threads $j --json "$work/eval$j.json" >/dev/null || fail "eval with --threads $j"
    "$ann2snn" eval "$work/1.snn" --data "$data" --labels "$labels" --limit 101 --steps 8 \
        --coding poisson --threads $j --json "$work/poisson$j.json" >/dev/null || fail "eval --coding poisson --threads $j"
    "$snn_run" "$work/1.snn" --input "$data" --limit 157 --steps 16 --threads $j > "$work/run$j.txt" \
        || fail "snn-run with --threads $j"
    "$ann2snn" accuracy "$model" --data "$data" --labels "$labels" --limit 157 --threads $j \
        --save-pred "$work/acc$j.idx" >/dev/null || fail "accuracy with --threads $j"
done
for j in 2 3; do
    cmp -s "$work/1.snn" "$work/$j.snn" || fail ".snn bytes differ between --threads 1 and $j"
    cmp -s "$work/tuned1.snn" "$work/tuned$j.snn" || fail "bias-corrected .snn bytes differ between --threads 1 and $j"
    cmp -s "$work/eval1.json" "$work/eval$j.json" || fail "eval JSON differs between --threads 1 and $j"
    cmp -s "$work/poisson1.json" "$work/poisson$j.json" || fail "Poisson eval JSON differs between --threads 1 and $j"
    cmp -s "$work/run1.txt" "$work/run$j.txt" || fail "snn-run output differs between --threads 1 and $j"
    cmp -s "$work/acc1.idx" "$work/acc$j.idx" || fail "accuracy predictions differ between --threads 1 and $j"
done
[ "$(wc -l < "$work/run1.txt")" -eq 157 ] || fail "snn-run printed $(wc -l < "$work/run1.txt") lines"
# The energy estimate: per point, synops x pJ/AC against the ANN's MACs x pJ/MAC; the per-op
# figures are options.
"$ann2snn" eval "$work/1.snn" --data "$data" --labels "$labels" --limit 20 --steps 16 --pj-ac 1.8 \
    --pj-mac 9.2 --json "$work/energy.json" >/dev/null || fail "eval --pj-ac/--pj-mac"
python3 - "$work/eval1.json" "$work/energy.json" <<'PY' || fail "energy figures"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["ann_macs"] > 1e5 and a["ann_macs"] == b["ann_macs"], a["ann_macs"]
assert a["energy"]["pj_per_ac"] == 0.9 and a["energy"]["pj_per_mac"] == 4.6
for p in a["curve"]:
    want = p["synops"] * 0.9 / (a["ann_macs"] * 4.6)
    assert abs(p["energy_vs_ann"] - want) <= 1e-12 * max(1.0, want), (p, want)
    assert abs(p["energy_uj"] - p["synops"] * 0.9e-6) <= 1e-9 * max(1.0, p["energy_uj"])
assert abs(b["energy"]["ann_uj"] / a["energy"]["ann_uj"] - 2) < 1e-6  # options parse as float
# --layers: every hidden neuron layer names its ANN tensor; its error shrinks as T grows
hidden = [l for l in a["layers"] if "error" in l]
assert len(hidden) == 3, [l["name"] for l in a["layers"]]
for l in hidden:
    e = [p["relative_error"] for p in l["error"]]
    assert [p["steps"] for p in l["error"]] == [1, 2, 4, 8, 16], l
    assert e[-1] < 0.2 and e[-1] < e[0] / 4, (l["name"], e)
    assert all(0 <= p["saturated"] <= 1 for p in l["error"])
PY
"$ann2snn" eval "$work/1.snn" --data "$data" --labels "$labels" --limit 5 --layers >/dev/null 2>&1 \
    && fail "--layers without --onnx accepted"
"$ann2snn" eval "$work/1.snn" --data "$data" --labels "$labels" --pj-ac 0 >/dev/null 2>&1 && fail "--pj-ac 0 accepted"
echo "--threads 1, 2, 3: identical .snn bytes (also with bias correction), eval JSON (direct with --layers, and Poisson), snn-run and accuracy predictions; energy figures consistent"
