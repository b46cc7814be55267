#!/usr/bin/env bash
# Under mpirun the samples are split across ranks and the results reduced exactly: conversion
# with calibration writes the same .snn bytes as one process, eval the same JSON and table
# (rate and Poisson coding, with the ANN and early exit), accuracy the same predictions; only
# rank 0 writes and prints. A failing run ends every rank with a non-zero status, no hang.
# Skipped (status 77) where OpenMPI or an MPI build is missing.
# Usage: check_mpi.sh ANN2SNN MODELS_DIR FASHION_MNIST_DIR
set -u
ann2snn=$1 models=$2 fm=$3
if ! command -v mpirun >/dev/null; then
    echo "skipped: mpirun not installed (Debian openmpi-bin libopenmpi-dev; tools/install-deps.sh --mpi)"
    exit 77
fi
if ! "$ann2snn" --version | grep -q "MPI: yes"; then
    echo "skipped: ann2snn was built without MPI (install libopenmpi-dev and reconfigure)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# OpenMPI keeps allocations until exit that LeakSanitizer reports as leaks (the sanitizer
# build's other checks stay on).
mpi() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" timeout 300 \
        mpirun --oversubscribe --allow-run-as-root -n 3 "$@"; }
model=$models/fmnist_cnn_maxbn.onnx
data=$fm/t10k-images-idx3-ubyte.gz labels=$fm/t10k-labels-idx1-ubyte.gz
calib=(--calib "$fm/train-images-idx3-ubyte.gz" --calib-count 301 --threads 1)
"$ann2snn" "$model" "${calib[@]}" -o "$work/one.snn" >/dev/null || fail "conversion"
mpi "$ann2snn" "$model" "${calib[@]}" -o "$work/three.snn" >"$work/convert3.txt" || fail "mpirun conversion"
cmp -s "$work/one.snn" "$work/three.snn" || fail ".snn bytes differ between 1 process and 3 ranks"
[ "$(grep -c -- '->' "$work/convert3.txt")" -eq 1 ] || fail "conversion printed its summary $(grep -c -- '->' "$work/convert3.txt") times"
# Bias correction runs whole on every rank, on the same samples: the same bytes again.
tuned=(--burst 2 --calibrate-for 4 --correct-count 23)
"$ann2snn" "$model" "${calib[@]}" "${tuned[@]}" -o "$work/tuned1.snn" >/dev/null || fail "bias-corrected conversion"
mpi "$ann2snn" "$model" "${calib[@]}" "${tuned[@]}" -o "$work/tuned3.snn" >/dev/null || fail "mpirun bias-corrected conversion"
cmp -s "$work/tuned1.snn" "$work/tuned3.snn" || fail "bias-corrected .snn bytes differ between 1 process and 3 ranks"
run_eval() { # NAME ARGS...: one process and 3 ranks, same JSON and same table but the speed line
    local name=$1
    shift
    "$ann2snn" eval "$work/one.snn" --data "$data" --labels "$labels" "$@" --json "$work/$name.1.json" \
        >"$work/$name.1.txt" || fail "eval $name"
    mpi "$ann2snn" eval "$work/one.snn" --data "$data" --labels "$labels" "$@" --json "$work/$name.3.json" \
        >"$work/$name.3.txt" || fail "mpirun eval $name"
    cmp -s "$work/$name.1.json" "$work/$name.3.json" || fail "eval $name: JSON differs between 1 process and 3 ranks"
    diff <(grep -v 'samples/s' "$work/$name.1.txt") <(grep -v 'samples/s' "$work/$name.3.txt") >/dev/null ||
        fail "eval $name: table differs between 1 process and 3 ranks"
}
run_eval rate --limit 157 --steps 16 --onnx "$model" --exit confidence --layers --threads 1
run_eval poisson --limit 101 --steps 8 --coding poisson --threads 2
"$ann2snn" accuracy "$model" --data "$data" --labels "$labels" --limit 1001 --save-pred "$work/acc1.idx" \
    >"$work/acc1.txt" || fail "accuracy"
mpi "$ann2snn" accuracy "$model" --data "$data" --labels "$labels" --limit 1001 --batch 8 \
    --save-pred "$work/acc3.idx" >"$work/acc3.txt" || fail "mpirun accuracy"
cmp -s "$work/acc1.idx" "$work/acc3.idx" || fail "accuracy predictions differ between 1 process and 3 ranks"
diff <(grep -v '^time' "$work/acc1.txt") <(grep -v '^time' "$work/acc3.txt") >/dev/null ||
    fail "accuracy table differs between 1 process and 3 ranks"
if mpi "$ann2snn" accuracy "$work/missing.onnx" --data "$data" --labels "$labels" >/dev/null 2>&1; then
    fail "a missing model under mpirun exited 0"
fi
echo "mpi: 3 ranks give the bytes, JSON, tables and predictions of one process"
