#!/usr/bin/env bash
# The float evaluator's BLAS path classifies every bundled model's full test set exactly as
# the plain C reference kernels do, one sample at a time and in batches (32, and 7, which
# leaves a short last batch); and conversion with --reference-kernels still writes a file.
# Under the sanitizers (tools/test.sh's second build, ASAN_OPTIONS set) the first 2,000 samples
# of each set are enough to check memory use, and take a quarter of the time.
# Usage: check_blas.sh ANN2SNN MODELS_DIR FASHION_MNIST_DIR
set -u
limit=()
[ -n "${ASAN_OPTIONS:-}" ] && limit=(--limit 2000)
ann2snn=$1 models=$2 fm=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
if ! "$ann2snn" accuracy --help | grep -q -- --reference-kernels; then
    fail "accuracy has no --reference-kernels"
fi
if ! "$ann2snn" --version | grep -q "BLAS evaluator: OpenBLAS"; then
    echo "skipped: ann2snn was built without OpenBLAS (install libopenblas-dev and reconfigure)"
    exit 77
fi
for m in fmnist_mlp fmnist_cnn_avg fmnist_cnn_maxbn fmnist_resnet mnist_lenet; do
    case $m in
    mnist_*) data=$models/data/mnist-digits-test-images-idx3-ubyte.gz
             labels=$models/data/mnist-digits-test-labels-idx1-ubyte.gz ;;
    *) data=$fm/t10k-images-idx3-ubyte.gz labels=$fm/t10k-labels-idx1-ubyte.gz ;;
    esac
    run() { # NAME OPTIONS...: predictions into $work/$m.NAME.idx
        local name=$1
        shift
        "$ann2snn" accuracy "$models/$m.onnx" --data "$data" --labels "$labels" "${limit[@]}" "$@" \
            --save-pred "$work/$m.$name.idx" >"$work/$m.$name.txt" 2>&1 || fail "$m: accuracy $*"
    }
    run reference --reference-kernels
    run blas
    run batch32 --batch 32
    run batch7 --batch 7 --threads 3
    for v in blas batch32 batch7; do
        cmp -s "$work/$m.reference.idx" "$work/$m.$v.idx" ||
            fail "$m: predictions of the reference kernels and of '$v' differ"
    done
    echo "$m: $(grep -h accuracy "$work/$m.reference.txt"), the same four ways"
done
"$ann2snn" "$models/fmnist_cnn_avg.onnx" --calib "$fm/train-images-idx3-ubyte.gz" --calib-count 50 \
    --reference-kernels -o "$work/ref.snn" >/dev/null || fail "conversion with --reference-kernels"
"$ann2snn" info "$work/ref.snn" >/dev/null || fail "the --reference-kernels file does not load"
echo "blas predictions: ok"
