#!/usr/bin/env bash
# The exported C project on a Cortex-M4 (QEMU mps2-an386): for each model, `ann2snn export-c`,
# `make` (host) and `make mcu`, then 100 test images through the host program, the device
# program under QEMU and snn-run; all three must print the same predictions, line for line.
# Skipped (exit 77) where the cross compiler, picolibc or QEMU are missing
# (tools/install-deps.sh --mcu installs them).
# First the runtime library alone is cross-built with tools/cross/cortex-m4f.ini, and its
# .text per object printed.
# Usage: check_mcu.sh ANN2SNN SNN_RUN MODELS_DIR FASHION_MNIST_DIR SOURCE_ROOT
set -u
ann2snn=$1 snn_run=$2 models=$3 fm=$4 src=$5
for tool in arm-none-eabi-gcc qemu-system-arm make; do
    command -v $tool >/dev/null || { echo "skipped: arm-none-eabi-gcc / qemu-system-arm not installed ($tool missing; tools/install-deps.sh --mcu)"; exit 77; }
done
echo 'int main(void){return 0;}' > /tmp/check_mcu_probe.$$.c
if ! arm-none-eabi-gcc --specs=picolibc.specs -mcpu=cortex-m4 -mthumb /tmp/check_mcu_probe.$$.c -o /dev/null 2>/dev/null; then
    rm -f /tmp/check_mcu_probe.$$.c
    echo "skipped: picolibc-arm-none-eabi not installed (tools/install-deps.sh --mcu)"; exit 77
fi
rm -f /tmp/check_mcu_probe.$$.c
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
N=100
qemu() {
    timeout 600 qemu-system-arm -M mps2-an386 -display none -chardev stdio,id=sh0 \
        -semihosting-config enable=on,target=native,chardev=sh0 -kernel "$1" -append "$2"
}
# The runtime alone, rate coding only, as a device build would take it.
meson setup "$work/build-m4" "$src" --cross-file "$src/tools/cross/cortex-m4f.ini" -Druntime_only=true \
    -Dttfs=false >"$work/m4.log" 2>&1 || { cat "$work/m4.log"; fail "meson setup with the Cortex-M4 cross file"; }
ninja -C "$work/build-m4" >"$work/m4.log" 2>&1 || { cat "$work/m4.log"; fail "cross build of the runtime"; }
echo "runtime for Cortex-M4F (-Os, rate coding, no message texts), arm-none-eabi-size:"
arm-none-eabi-size "$work/build-m4/runtime/libann2snn-runtime.a" | sed 's/ (ex .*//; s/^/  /'

# name, data set (raw test images, IDX; gunzipped for the device), calibration images
run_model() {
    local name=$1 test_gz=$2 calib=$3 dir=$work/$1
    gunzip -c "$test_gz" > "$work/$name.idx" || fail "$name: cannot gunzip $test_gz"
    "$ann2snn" "$models/$name.onnx" --calib "$calib" -o "$work/$name.snn" >/dev/null 2>&1 || fail "$name: conversion"
    "$ann2snn" export-c "$work/$name.snn" -o "$dir" 2>/dev/null || fail "$name: export-c"
    make -s -C "$dir" >/dev/null 2>"$work/make.log" || { cat "$work/make.log"; fail "$name: host build"; }
    make -s -C "$dir" mcu > "$work/size.txt" 2>"$work/make.log" || { cat "$work/make.log"; fail "$name: device build"; }
    "$snn_run" "$work/$name.snn" --input "$work/$name.idx" --limit $N > "$work/ref.txt" || fail "$name: snn-run"
    "$dir/app" --input "$work/$name.idx" --limit $N > "$work/host.txt" || fail "$name: host program"
    qemu "$dir/app.elf" "--input $work/$name.idx --limit $N" > "$work/dev.txt" || fail "$name: device program (exit $?)"
    [ "$(wc -l < "$work/ref.txt")" -eq $N ] || fail "$name: snn-run printed $(wc -l < "$work/ref.txt") lines"
    cmp -s "$work/ref.txt" "$work/host.txt" || fail "$name: host program and snn-run disagree"
    cmp -s "$work/ref.txt" "$work/dev.txt" || fail "$name: device and snn-run disagree: $(diff "$work/ref.txt" "$work/dev.txt" | head -4 | tr '\n' ' ')"
    echo "$name: $N predictions identical on the device (QEMU mps2-an386), the host program and snn-run; $(tail -1 "$work/size.txt" | awk '{print "flash " $1 + $2 " B, static RAM " $2 + $3 " B"}')"
}
run_model fmnist_mlp "$fm/t10k-images-idx3-ubyte.gz" "$fm/train-images-idx3-ubyte.gz"
run_model mnist_lenet "$models/data/mnist-digits-test-images-idx3-ubyte.gz" "$models/data/mnist-digits-calib-images-idx3-ubyte.gz"
run_model fmnist_cnn_avg "$fm/t10k-images-idx3-ubyte.gz" "$fm/train-images-idx3-ubyte.gz"
