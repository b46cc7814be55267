#!/usr/bin/env bash
# An interrupted ann2snn leaves the old output file or a complete new one, never a truncated
# one (it writes a temporary file, fsyncs it and renames it into place).
#   1. Deterministic: a file-size limit (ulimit -f) kills the converter with SIGXFSZ in the
#      middle of writing the .snn; the old file must be untouched.
#   2. Random: SIGKILL at spread-out moments of a whole conversion, 40 times; after each, the
#      output is byte-identical to the old file or to the complete new one.
# Usage: check_atomic_write.sh ANN2SNN MODELS_DIR FASHION_MNIST_DIR
set -u
ann2snn=$1 models=$2 fm=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=$models/fmnist_mlp.onnx
calib=$fm/train-images-idx3-ubyte.gz
out=$work/out.snn
fail() { echo "FAIL: $*"; exit 1; }

"$ann2snn" "$model" --calib "$calib" --calib-count 200 -o "$work/old.snn" >/dev/null || fail "old conversion"
"$ann2snn" "$model" --calib "$calib" --calib-count 300 -o "$work/new.snn" >/dev/null || fail "new conversion"
cmp -s "$work/old.snn" "$work/new.snn" && fail "old and new outputs should differ"
size=$(stat -c %s "$work/new.snn")

# 1. Killed mid-write by the file-size limit (in 1024-byte blocks): half the file fits.
cp "$work/old.snn" "$out"
( ulimit -f $((size / 2048)); exec "$ann2snn" "$model" --calib "$calib" --calib-count 300 -o "$out" ) \
    >/dev/null 2>&1
rc=$?
[ $rc -ge 128 ] || fail "the size limit did not stop the converter (exit $rc)"
cmp -s "$out" "$work/old.snn" || fail "killed mid-write (signal $((rc - 128))), the output changed"
echo "mid-write kill (signal $((rc - 128)), limit $((size / 2048)) KiB of $size bytes): old file intact"

# 2. SIGKILL at spread-out moments.
start=$(date +%s%N)
"$ann2snn" "$model" --calib "$calib" --calib-count 300 -o "$work/timing.snn" >/dev/null
total_us=$((($(date +%s%N) - start) / 1000))
old=0 new=0
for i in $(seq 1 40); do
    cp "$work/old.snn" "$out"
    "$ann2snn" "$model" --calib "$calib" --calib-count 300 -o "$out" >/dev/null 2>&1 &
    pid=$!
    sleep "$(awk -v t="$total_us" -v i="$i" 'BEGIN { printf "%.6f", t * (0.2 + 1.0 * i / 40) / 1e6 }')"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    if cmp -s "$out" "$work/old.snn"; then old=$((old + 1))
    elif cmp -s "$out" "$work/new.snn"; then new=$((new + 1))
    else fail "kill $i left a file that is neither the old nor the new output ($(stat -c %s "$out") bytes)"
    fi
done
left=$(find "$work" -name 'out.snn.tmp*' | wc -l)
echo "40 SIGKILLs over a ${total_us} us conversion: $old left the old file, $new the complete new one, none truncated; $left temporary files left behind"
