#!/usr/bin/env bash
# Early exit (snn-run --exit, ann2snn eval --exit; SEENN-I):
# - an unreachable threshold (confidence above 1, or a huge margin) gives exactly the full run:
#   snn-run prints the same classes, and eval's early_exit entry has the last point's accuracy,
#   T mean steps and its synops;
# - with the default thresholds the mean steps grow with the threshold and stay within T;
# - the early_exit numbers are the same for every thread count;
# - an integer file exits too, and refuses more steps than its 16-bit counts hold.
# Usage: check_early_exit.sh ANN2SNN SNN_RUN MODELS_DIR FASHION_MNIST_DIR
set -u
ann2snn=$1 snn_run=$2 models=$3 fm=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
data=$fm/t10k-images-idx3-ubyte.gz labels=$fm/t10k-labels-idx1-ubyte.gz
"$ann2snn" "$models/fmnist_mlp.onnx" --calib "$fm/train-images-idx3-ubyte.gz" --calib-count 300 \
    -o "$work/m.snn" >/dev/null || fail "conversion"
"$ann2snn" "$models/fmnist_mlp.onnx" --calib "$fm/train-images-idx3-ubyte.gz" --calib-count 300 \
    --precision int8 -o "$work/m8.snn" >/dev/null || fail "int8 conversion"
for f in m m8; do
    "$snn_run" "$work/$f.snn" --input "$data" --limit 300 --steps 32 > "$work/$f.full.txt" || fail "$f: snn-run"
    "$snn_run" "$work/$f.snn" --input "$data" --limit 300 --steps 32 --exit confidence=2 > "$work/$f.never.txt" \
        || fail "$f: snn-run --exit confidence=2"
    cmp -s "$work/$f.full.txt" "$work/$f.never.txt" || fail "$f: an unreachable exit changed snn-run's classes"
    "$snn_run" "$work/$f.snn" --input "$data" --labels "$labels" --limit 300 --steps 32 --exit margin=1e30 -q \
        > "$work/$f.acc.txt" || fail "$f: snn-run --exit margin"
    grep -q "early exit, mean 32.00 of 32 steps" "$work/$f.acc.txt" || fail "$f: snn-run: $(cat "$work/$f.acc.txt")"
    "$snn_run" "$work/$f.snn" --input "$data" --labels "$labels" --limit 300 --steps 32 --exit confidence=0.9 -q \
        > "$work/$f.exit.txt" || fail "$f: snn-run --exit confidence=0.9"
    grep -q "early exit, mean" "$work/$f.exit.txt" || fail "$f: snn-run: $(cat "$work/$f.exit.txt")"
done
for j in 1 2 3; do
    "$ann2snn" eval "$work/m.snn" --data "$data" --labels "$labels" --limit 211 --steps 32 --threads $j \
        --exit confidence=0.5,0.9,0.99,2 --json "$work/e$j.json" >/dev/null || fail "eval --exit --threads $j"
done
cmp -s "$work/e1.json" "$work/e2.json" && cmp -s "$work/e1.json" "$work/e3.json" || fail "eval --exit JSON differs with the thread count"
"$ann2snn" eval "$work/m8.snn" --data "$data" --labels "$labels" --limit 211 --steps 32 --exit margin \
    --json "$work/m8.json" >/dev/null || fail "eval --exit margin on the int8 file"
"$ann2snn" eval "$work/m.snn" --data "$data" --labels "$labels" --steps 32 --exit sideways >/dev/null 2>&1
[ $? -eq 2 ] || fail "eval --exit sideways: exit status is not 2"
# An integer file counts spikes in 16 bits: more than 32,767 steps are refused, not cut short.
"$ann2snn" eval "$work/m8.snn" --data "$data" --labels "$labels" --steps 40000 --limit 2 >/dev/null 2>&1
[ $? -eq 2 ] || fail "eval --steps 40000 on an integer file: exit status is not 2"
"$snn_run" "$work/m8.snn" --input "$data" --steps 40000 --limit 2 >/dev/null 2>&1
[ $? -eq 2 ] || fail "snn-run --steps 40000 on an integer file: exit status is not 2"
python3 - "$work/e1.json" "$work/m8.json" <<'PY' || fail "early_exit JSON"
import json, sys
for path in sys.argv[1:]:
    j = json.load(open(path))
    ee, last = j["early_exit"], j["curve"][-1]
    assert len(ee) in (4, 8), (path, len(ee))
    for e in ee:
        assert set(e) >= {"rule", "threshold", "accuracy", "mean_steps", "synops"}, e
        assert 1 <= e["mean_steps"] <= last["steps"], e
    steps = [e["mean_steps"] for e in ee]
    assert steps == sorted(steps), ("mean steps do not grow with the threshold", steps)
    never = ee[-1]
    if never["rule"] == "confidence" and never["threshold"] > 1:  # unreachable: the full run
        assert never["mean_steps"] == last["steps"], never
        assert never["accuracy"] == last["accuracy"] and never["synops"] == last["synops"], (never, last)
        assert ee[0]["mean_steps"] < last["steps"], ee[0]
print("early exit:", [(e["threshold"], round(e["accuracy"], 4), round(e["mean_steps"], 2)) for e in json.load(open(sys.argv[1]))["early_exit"]])
PY
echo "early exit: unreachable thresholds equal the full run; mean steps grow with the threshold; JSON identical for 1, 2, 3 threads"
