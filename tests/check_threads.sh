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
    "$ann2snn" eval "$work/1.snn" --data "$data" --labels "$labels" --limit 157 --steps 16 \
        --threads $j --json "$work/eval$j.json" >/dev/null || fail "eval with --threads $j"
    "$ann2snn" eval "$work/1.snn" --data "$data" --labels "$labels" --limit 101 --steps 8 \
        --coding poisson --threads $j --json "$work/poisson$j.json" >/dev/null || fail "eval --coding poisson --threads $j"
    "$snn_run" "$work/1.snn" --input "$data" --limit 157 --steps 16 --threads $j > "$work/run$j.txt" \
        || fail "snn-run with --threads $j"
    "$ann2snn" accuracy "$model" --data "$data" --labels "$labels" --limit 157 --threads $j \
        --save-pred "$work/acc$j.idx" >/dev/null || fail "accuracy with --threads $j"
done
for j in 2 3; do
    cmp -s "$work/1.snn" "$work/$j.snn" || fail ".snn bytes differ between --threads 1 and $j"
    cmp -s "$work/eval1.json" "$work/eval$j.json" || fail "eval JSON differs between --threads 1 and $j"
    cmp -s "$work/poisson1.json" "$work/poisson$j.json" || fail "Poisson eval JSON differs between --threads 1 and $j"
    cmp -s "$work/run1.txt" "$work/run$j.txt" || fail "snn-run output differs between --threads 1 and $j"
    cmp -s "$work/acc1.idx" "$work/acc$j.idx" || fail "accuracy predictions differ between --threads 1 and $j"
done
[ "$(wc -l < "$work/run1.txt")" -eq 157 ] || fail "snn-run printed $(wc -l < "$work/run1.txt") lines"
echo "--threads 1, 2, 3: identical .snn bytes, eval JSON (direct and Poisson), snn-run and accuracy predictions"
