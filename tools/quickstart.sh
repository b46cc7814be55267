#!/usr/bin/env bash
# Set up, build, and run the main job on a bundled model: the ANN accuracy of the bundled
# CNN on the full Fashion-MNIST test set, computed by ann2snn's own evaluator.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
fm=/usr/share/datasets/fashion-mnist
build/ann2snn info models/fmnist_cnn_avg.onnx
build/ann2snn accuracy models/fmnist_cnn_avg.onnx \
  --data $fm/t10k-images-idx3-ubyte.gz --labels $fm/t10k-labels-idx1-ubyte.gz \
  --reference models/fmnist_cnn_avg.torch_pred.npy
