#!/usr/bin/env bash
# Conversion time and ranks against time (docs/scale.md): wall seconds, median of 3, from GNU
# time. Makes the CIFAR-shaped VGG-11 and ResNet-18 (tools/scripts/make_cifar_models.py) in
# CIFAR_DIR unless they are there. Needs OpenMPI's mpirun for the rank columns.
# Usage: tools/scripts/bench_scale.sh [BUILD_DIR] [CIFAR_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build} cifar=${2:-/tmp/ann2snn-cifar}
ann2snn=$build/tools/ann2snn/ann2snn
fm=/usr/share/datasets/fashion-mnist
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -f "$cifar/vgg11.onnx" ] || /usr/bin/python3 "$root/tools/scripts/make_cifar_models.py" "$cifar" >/dev/null 2>&1
mpi=(mpirun --oversubscribe --allow-run-as-root)
med() { sort -n | sed -n 2p; }
t() { for _ in 1 2 3; do /usr/bin/time -f %e "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; tail -1 "$work/err"; done | med; }

echo "## conversion time (s): reference kernels / BLAS, 1 and 2 threads"
printf "%-22s %8s %8s %8s %8s\n" model ref_1 blas_1 ref_2 blas_2
for m in fmnist_mlp fmnist_cnn_avg fmnist_cnn_maxbn fmnist_resnet mnist_lenet; do
    case $m in mnist_*) c=$root/models/data/mnist-digits-calib-images-idx3-ubyte.gz ;; *) c=$fm/train-images-idx3-ubyte.gz ;; esac
    conv=("$ann2snn" "$root/models/$m.onnx" --calib "$c" -o "$work/m.snn")
    printf "%-22s %8s %8s %8s %8s\n" "$m" "$(t "${conv[@]}" --threads 1 --reference-kernels)" \
        "$(t "${conv[@]}" --threads 1)" "$(t "${conv[@]}" --threads 2 --reference-kernels)" "$(t "${conv[@]}" --threads 2)"
done
for job in "vgg11 100" "vgg11 1000" "resnet18 1000"; do
    read -r m n <<<"$job"
    conv=("$ann2snn" "$cifar/$m.onnx" --calib "$cifar/cifar_x.npy" --calib-count "$n" --scale 1 -o "$work/v.snn")
    printf "%-22s %8s %8s %8s %8s\n" "$m calib $n" - "$(t "${conv[@]}" --threads 1)" - "$(t "${conv[@]}" --threads 2)"
done

echo "## ranks against time (s)"
"$ann2snn" "$root/models/fmnist_cnn_maxbn.onnx" --calib "$fm/train-images-idx3-ubyte.gz" -o "$work/cnn.snn" >/dev/null
data=(--data "$fm/t10k-images-idx3-ubyte.gz" --labels "$fm/t10k-labels-idx1-ubyte.gz")
printf "%-36s %10s %10s %10s %10s\n" job "1p 1t" "1p 2t" "2 ranks" "4 ranks"
row() { # NAME COMMAND...: one process with 1 and 2 threads, 2 and 4 ranks of 1 thread
    local name=$1
    shift
    if command -v mpirun >/dev/null; then
        printf "%-36s %10s %10s %10s %10s\n" "$name" "$(t "$@" --threads 1)" "$(t "$@" --threads 2)" \
            "$(t "${mpi[@]}" -n 2 "$@" --threads 1)" "$(t "${mpi[@]}" -n 4 "$@" --threads 1)"
    else
        printf "%-36s %10s %10s %10s %10s\n" "$name" "$(t "$@" --threads 1)" "$(t "$@" --threads 2)" - -
    fi
}
row "eval cnn_maxbn T=32, 10k images" "$ann2snn" eval "$work/cnn.snn" "${data[@]}" --steps 32
row "convert vgg11, 1000 calib" "$ann2snn" "$cifar/vgg11.onnx" --calib "$cifar/cifar_x.npy" --calib-count 1000 --scale 1 -o "$work/v.snn"
row "accuracy resnet18, 1000 samples" "$ann2snn" accuracy "$cifar/resnet18.onnx" --data "$cifar/cifar_x.npy" --labels "$cifar/resnet18_y.npy" --scale 1
