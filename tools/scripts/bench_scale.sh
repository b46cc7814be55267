#!/usr/bin/env bash
# Conversion time and ranks against time (docs/scale.md): wall seconds, median of 3 (5 for the
# conversions), from GNU time, and the converter's own calibration phase. Makes the CIFAR-shaped
# VGG-11 and ResNet-18 (tools/scripts/make_cifar_models.py) in CIFAR_DIR unless they are there.
# Needs OpenMPI's mpirun for the rank columns. --convert-only stops after the conversion table.
# Usage: tools/scripts/bench_scale.sh [--convert-only] [BUILD_DIR] [CIFAR_DIR]
set -euo pipefail
convert_only=0
[ "${1:-}" = --convert-only ] && { convert_only=1; shift; }
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build} cifar=${2:-/tmp/ann2snn-cifar}
ann2snn=$build/tools/ann2snn/ann2snn
fm=/usr/share/datasets/fashion-mnist
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -f "$cifar/vgg11.onnx" ] || /usr/bin/python3 "$root/tools/scripts/make_cifar_models.py" "$cifar" >/dev/null 2>&1
mpi=(mpirun --oversubscribe --allow-run-as-root)
med() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
t() { for _ in 1 2 3; do /usr/bin/time -f %e "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; tail -1 "$work/err"; done | med; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# One conversion, 1 and 2 threads taken in turn 5 times: wall and calibration-phase medians.
convert_row() { # NAME COMMAND...
    local name=$1
    shift
    : >"$work/w1"; : >"$work/w2"; : >"$work/c1"; : >"$work/c2"
    for _ in 1 2 3 4 5; do
        for n in 1 2; do
            /usr/bin/time -f %e -o "$work/time" "$@" --threads $n >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
            cat "$work/time" >>"$work/w$n"
            grep -o 'calibration [0-9.]*' "$work/out" | awk '{print $2}' >>"$work/c$n"
        done
    done
    local w1 w2 c1 c2
    w1=$(med <"$work/w1") w2=$(med <"$work/w2") c1=$(med <"$work/c1") c2=$(med <"$work/c2")
    printf "%-22s %8s %8s %7sx %9s %9s %7sx\n" "$name" "$w1" "$w2" "$(ratio "$w1" "$w2")" "$c1" "$c2" "$(ratio "$c1" "$c2")"
}

echo "## conversion time (s): the whole command and its calibration phase, 1 and 2 threads, median of 5"
printf "%-22s %8s %8s %8s %9s %9s %8s\n" model wall_1 wall_2 ratio calib_1 calib_2 ratio
for m in fmnist_mlp fmnist_cnn_avg fmnist_cnn_maxbn fmnist_resnet mnist_lenet; do
    case $m in mnist_*) c=$root/models/data/mnist-digits-calib-images-idx3-ubyte.gz ;; *) c=$fm/train-images-idx3-ubyte.gz ;; esac
    convert_row "$m" "$ann2snn" "$root/models/$m.onnx" --calib "$c" -o "$work/m.snn"
done
for m in vgg11 resnet18; do
    convert_row "$m calib 1000" "$ann2snn" "$cifar/$m.onnx" --calib "$cifar/cifar_x.npy" --calib-count 1000 --scale 1 -o "$work/v.snn"
done
[ $convert_only = 1 ] && exit 0

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
