#!/usr/bin/env bash
# scatter-floor (tools/scatter-floor/scatter_floor.c, the bound row of tools/scripts/bench_speed.py) on a converted
# bundled CNN: every measurement printed, the replayed event synops positive and no more than
# the run's own count (which adds the input current and the pooling passes), and bad input
# refused with exit status 2.
# Usage: check_scatter_floor.sh ANN2SNN SCATTER_FLOOR MODELS_DIR FASHION_MNIST_DIR
set -u
ann2snn=$1 floor=$2 models=$3 fm=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$ann2snn" "$models/fmnist_cnn_avg.onnx" --calib "$fm/train-images-idx3-ubyte.gz" --calib-count 100 \
  -o "$work/cnn.snn" >/dev/null || fail "conversion"
out=$("$floor" "$work/cnn.snn" --input "$fm/t10k-images-idx3-ubyte.gz" --steps 8 --limit 3 --repeats 1) \
  || fail "scatter-floor exited $?"
for key in full replay synops all_synops replay_i16; do
  grep -q "^$key [0-9.]*$" <<<"$out" || fail "no '$key' line in: $out"
done
synops=$(awk '$1 == "synops" {print $2}' <<<"$out")
all=$(awk '$1 == "all_synops" {print $2}' <<<"$out")
awk -v s="$synops" -v a="$all" 'BEGIN {exit !(s > 0 && s <= a)}' || fail "synops $synops, all_synops $all"

"$floor" "$work/cnn.snn" --input "$models/data/mnist-digits-test-labels-idx1-ubyte.gz" >/dev/null 2>&1
[ $? -eq 2 ] || fail "wrong-size samples: want exit 2"
"$floor" "$work/missing.snn" --input "$fm/t10k-images-idx3-ubyte.gz" >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing file: want exit 2"
"$floor" "$work/cnn.snn" --input "$fm/t10k-images-idx3-ubyte.gz" --limit 0 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--limit 0: want exit 2"
echo "$out" | tr '\n' ' '; echo
echo "1 passed, 0 failed"
