#!/usr/bin/env bash
# The AVX2 copy of the runtime's step loops gives the same results as the baseline copy, bit
# for bit (runtime/snn_internal.h, SNN_AVX2_COPY): the output membranes' CRC after every sample
# (snn-run --membranes) and eval's JSON (spike and synaptic-operation counts) with
# SNN_SIMD=baseline and without, for float files (the default burst
# neuron, the plain neuron with reset by subtraction and to zero, Poisson input) and int16 and
# int8 files, on the bundled models (max-pool, residual Add, dense, average pooling).
# Usage: check_simd.sh ANN2SNN SNN_RUN MODELS_DIR FASHION_MNIST_DIR
set -u
ann2snn=$1 snn_run=$2 models=$3 fm=$4
if ! grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    echo "skipped: this CPU has no AVX2, so the runtime runs its baseline copy only"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
data=$fm/t10k-images-idx3-ubyte.gz labels=$fm/t10k-labels-idx1-ubyte.gz calib=$fm/train-images-idx3-ubyte.gz
checked=0
for model in fmnist_mlp fmnist_cnn_avg fmnist_cnn_maxbn fmnist_resnet; do
    while read -r name opts; do
        # shellcheck disable=SC2086 # opts is a list of options
        "$ann2snn" "$models/$model.onnx" --calib "$calib" --calib-count 200 $opts -o "$work/$name.snn" \
            >/dev/null || fail "$model: conversion with $opts"
        for coding in direct poisson; do
            for simd in baseline avx2; do
                SNN_SIMD=$simd "$snn_run" "$work/$name.snn" --input "$data" --limit 60 --steps 12 \
                    --coding "$coding" --membranes --threads 1 > "$work/$simd.txt" \
                    || fail "$model $name $coding: snn-run with SNN_SIMD=$simd"
            done
            [ "$(wc -l < "$work/avx2.txt")" -eq 60 ] || fail "$model $name: snn-run printed $(wc -l < "$work/avx2.txt") lines"
            cmp -s "$work/baseline.txt" "$work/avx2.txt" \
                || fail "$model $name $coding: the AVX2 copy's membranes differ from the baseline copy's"
            checked=$((checked + 1))
        done
        # eval's JSON: accuracy, spikes and synaptic operations per layer and step count
        for simd in baseline avx2; do
            SNN_SIMD=$simd "$ann2snn" eval "$work/$name.snn" --data "$data" --labels "$labels" --limit 40 \
                --steps 12 --threads 1 --json "$work/$simd.json" >/dev/null || fail "$model $name: eval with SNN_SIMD=$simd"
        done
        cmp -s "$work/baseline.json" "$work/avx2.json" \
            || fail "$model $name: eval's JSON (spikes, synaptic operations) differs between the two copies"
    done <<LIST
float-burst --precision float32
float-plain --burst 1
float-zero --burst 1 --reset zero
int16 --precision int16
int8 --precision int8
int16-zero --precision int16 --reset zero
LIST
done
echo "ok: $checked runs, the same output membranes and eval JSON with SNN_SIMD=baseline and with the AVX2 copy"
