#!/usr/bin/env bash
# The exported C project on a Cortex-M4 (QEMU mps2-an386, and netduinoplus2 with 192 KB of RAM):
# for each model, float32 and int8, `ann2snn export-c`, `make` (host) and `make mcu` (-Os, and -O2
# for the integer files: -O2 compiles the runtime's speed paths, -Os leaves them out), then 100
# test images through the host program, the device program under QEMU and snn-run; all three
# must print the same predictions, line for line, and for int8 the same output membranes.
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
    timeout 600 qemu-system-arm -M "$1" -display none -chardev stdio,id=sh0 \
        -semihosting-config enable=on,target=native,chardev=sh0 -kernel "$2" -append "$3"
}
# The runtime alone, rate coding only, as a device build would take it.
meson setup "$work/build-m4" "$src" --cross-file "$src/tools/cross/cortex-m4f.ini" -Druntime_only=true \
    -Dttfs=false >"$work/m4.log" 2>&1 || { cat "$work/m4.log"; fail "meson setup with the Cortex-M4 cross file"; }
ninja -C "$work/build-m4" >"$work/m4.log" 2>&1 || { cat "$work/m4.log"; fail "cross build of the runtime"; }
echo "runtime for Cortex-M4F (-Os, rate coding, no message texts), arm-none-eabi-size:"
arm-none-eabi-size "$work/build-m4/runtime/libann2snn-runtime.a" | sed 's/ (ex .*//; s/^/  /'

# name, data set (raw test images, IDX; gunzipped for the device), calibration images,
# precision, board. Integer files must also give the same output membranes, bit for bit: the
# programs print a CRC-32 of them after each class (--membranes).
run_model() {
    local name=$1 test_gz=$2 calib=$3 prec=$4 board=$5 opt=${6:--Os} tag=$1.$4.$5${6:-}
    local dir=$work/$tag snn=$work/$name.$prec.snn mflag=
    [ "$prec" = float32 ] || mflag=--membranes
    [ -f "$work/$name.idx" ] || gunzip -c "$test_gz" > "$work/$name.idx" || fail "$name: cannot gunzip $test_gz"
    [ -f "$snn" ] || "$ann2snn" "$models/$name.onnx" --calib "$calib" --precision $prec -o "$snn" >/dev/null 2>&1 ||
        fail "$tag: conversion"
    "$ann2snn" export-c "$snn" -o "$dir" 2>/dev/null || fail "$tag: export-c"
    make -s -C "$dir" >/dev/null 2>"$work/make.log" || { cat "$work/make.log"; fail "$tag: host build"; }
    make -s -C "$dir" mcu BOARD=$board MCU_OPT=$opt > "$work/size.txt" 2>"$work/make.log" || { cat "$work/make.log"; fail "$tag: device build"; }
    "$snn_run" "$snn" --input "$work/$name.idx" --limit $N $mflag > "$work/ref.txt" || fail "$tag: snn-run"
    "$dir/app" --input "$work/$name.idx" --limit $N $mflag > "$work/host.txt" || fail "$tag: host program"
    qemu $board "$dir/app.elf" "--input $work/$name.idx --limit $N $mflag" > "$work/dev.txt" || fail "$tag: device program (exit $?)"
    [ "$(wc -l < "$work/ref.txt")" -eq $N ] || fail "$tag: snn-run printed $(wc -l < "$work/ref.txt") lines"
    if [ -n "$mflag" ]; then
        [ "$(awk 'NF == 2 && length($2) == 8' "$work/ref.txt" | wc -l)" -eq $N ] || fail "$tag: snn-run printed no membrane checksums"
    fi
    cmp -s "$work/ref.txt" "$work/host.txt" || fail "$tag: host program and snn-run disagree"
    cmp -s "$work/ref.txt" "$work/dev.txt" || fail "$tag: device and snn-run disagree: $(diff "$work/ref.txt" "$work/dev.txt" | head -4 | tr '\n' ' ')"
    echo "$tag: $N predictions${mflag:+ and output membranes (CRC-32)} identical on the device (QEMU $board, $opt), the host program and snn-run; $(tail -1 "$work/size.txt" | awk '{print "flash " $1 + $2 " B, static RAM " $2 + $3 " B"}')"
}
fm_test=$fm/t10k-images-idx3-ubyte.gz fm_train=$fm/train-images-idx3-ubyte.gz
mn_test=$models/data/mnist-digits-test-images-idx3-ubyte.gz mn_calib=$models/data/mnist-digits-calib-images-idx3-ubyte.gz
run_model fmnist_mlp "$fm_test" "$fm_train" float32 mps2-an386
run_model mnist_lenet "$mn_test" "$mn_calib" float32 mps2-an386
run_model fmnist_cnn_avg "$fm_test" "$fm_train" float32 mps2-an386
run_model fmnist_mlp "$fm_test" "$fm_train" int8 mps2-an386
run_model mnist_lenet "$mn_test" "$mn_calib" int8 mps2-an386
run_model fmnist_cnn_avg "$fm_test" "$fm_train" int8 mps2-an386
# The same at -O2, with the speed paths (the Cortex-M4 row kernels and two-lane fire loop, the
# steady layers' fire loop, the input current summed input by input); the int16 CNN, and the
# max-pool CNN (whose pooled counts the fire loop keeps) and the residual net too.
run_model fmnist_mlp "$fm_test" "$fm_train" int8 mps2-an386 -O2
run_model mnist_lenet "$mn_test" "$mn_calib" int8 mps2-an386 -O2
run_model fmnist_cnn_avg "$fm_test" "$fm_train" int8 mps2-an386 -O2
run_model fmnist_cnn_avg "$fm_test" "$fm_train" int16 mps2-an386 -O2
run_model fmnist_cnn_maxbn "$fm_test" "$fm_train" int8 mps2-an386 -O2
run_model fmnist_resnet "$fm_test" "$fm_train" int8 mps2-an386 -O2
# The CNN in int8 on a board with 192 KB of RAM.
run_model fmnist_cnn_avg "$fm_test" "$fm_train" int8 netduinoplus2
echo "integer runtime for Cortex-M4F (-Os, rate coding, no float simulation, no message texts):"
make -s -C "$work/fmnist_cnn_avg.int8.mps2-an386" mcu-sizes 2>/dev/null | sed 's/^/  /'
