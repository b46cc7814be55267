#!/usr/bin/env bash
# Set up, build, and run the main job on a bundled model: convert the Fashion-MNIST CNN to a
# spiking network (calibrating on 1,000 training images) and evaluate it on the full test set
# next to the ANN: accuracy, spikes per neuron and synaptic operations against time steps
# (1 to 32: with the default bursts of 4 spikes it matches the ANN from T = 4 on).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
fm=/usr/share/datasets/fashion-mnist
mkdir -p out
build/tools/ann2snn/ann2snn models/fmnist_cnn_avg.onnx --calib $fm/train-images-idx3-ubyte.gz \
  -o out/fmnist_cnn_avg.snn --report out/fmnist_cnn_avg.report.json
build/tools/ann2snn/ann2snn eval out/fmnist_cnn_avg.snn --onnx models/fmnist_cnn_avg.onnx --steps 32 \
  --data $fm/t10k-images-idx3-ubyte.gz --labels $fm/t10k-labels-idx1-ubyte.gz \
  --json out/fmnist_cnn_avg.eval.json --plot out/fmnist_cnn_avg.svg
