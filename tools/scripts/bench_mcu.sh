#!/usr/bin/env bash
# Device figures per bundled model and precision (float32, int16, int8), from the exported C
# project built for a Cortex-M4F and run in QEMU mps2-an386: flash (model data + code, -Os),
# static RAM (the snn_model and snn_state structures and the state buffer), the stack an
# inference takes, and instructions per inference at T = 8 and 32 (the runtime at -O2, as the
# anchor), counted
# deterministically (QEMU -icount shift=0: SysTick advances once every 40 instructions), with
# the ratio to the anchor, an int8 ANN of the same kind of CNN on CMSIS-NN (3.73 M
# instructions per inference, counted the same way).
# The float32 file is converted as the integer files are (the plain neuron, channel-wise 99.9th
# percentile: FLOAT_ARGS), so that the three rows of a model are one network; the default float32
# conversion bursts (up to 4 spikes a step) and costs more. "flash: code" is the program, the
# runtime and picolibc at -Os; "paired (-O2)" is export-c's pair-ordered copies of the int8
# convolutions' weights, which only a build for speed keeps (flash beside the file, read by the
# M4's convolution kernels).
# Usage: tools/scripts/bench_mcu.sh [BUILD_DIR] [IMAGES]   (needs tools/install-deps.sh --mcu)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build} images=${2:-10}
ann2snn=$build/tools/ann2snn/ann2snn
fm=/usr/share/datasets/fashion-mnist
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CMSIS_NN=3730000
gunzip -c $fm/t10k-images-idx3-ubyte.gz > "$work/fmnist.idx"
gunzip -c models/data/mnist-digits-test-images-idx3-ubyte.gz > "$work/mnist.idx"
count() { # ELF IDX T -> "instructions stack_bytes" per inference
    timeout 900 qemu-system-arm -M mps2-an386 -display none -icount shift=0,align=off,sleep=off \
        -chardev stdio,id=sh0 -semihosting-config enable=on,target=native,chardev=sh0 \
        -kernel "$1" -append "--input $2 --limit $images --steps $3 --count" > "$work/count.txt" 2>&1
    echo "$(sed -n 's/^instructions per inference: \([0-9]*\).*/\1/p' "$work/count.txt")" \
         "$(sed -n 's/^stack high-water mark of an inference: \([0-9]*\).*/\1/p' "$work/count.txt")"
}
precisions=${PRECISIONS:-float32 int16 int8}
FLOAT_ARGS=${FLOAT_ARGS:---burst 1 --norm channel=99.9}
echo "| model | precision | flash: model | flash: code | paired (-O2) | static RAM | stack | instr./inference T=8 | x CMSIS-NN | T=32 | x CMSIS-NN |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for onnx in models/*.onnx; do
  for prec in $precisions; do
    name=$(basename "$onnx" .onnx)
    case $name in
        mnist_*) data=$work/mnist.idx calib=models/data/mnist-digits-calib-images-idx3-ubyte.gz ;;
        *) data=$work/fmnist.idx calib=$fm/train-images-idx3-ubyte.gz ;;
    esac
    tag=$name.$prec
    extra=()
    [ "$prec" = float32 ] && read -r -a extra <<< "$FLOAT_ARGS"
    "$ann2snn" "$onnx" --calib "$calib" --precision "$prec" "${extra[@]}" -o "$work/$tag.snn" >/dev/null 2>&1
    "$ann2snn" export-c "$work/$tag.snn" -o "$work/$tag" 2>/dev/null
    make -s -C "$work/$tag" app.elf >/dev/null 2>&1
    read -r text data_b bss _ < <(arm-none-eabi-size "$work/$tag/app.elf" | tail -1)
    make -s -C "$work/$tag" clean >/dev/null
    make -s -C "$work/$tag" app.elf MCU_OPT=-O2 >/dev/null 2>&1
    paired=0 # only an -O2 build keeps the copies (SNN_PAIRED_WEIGHTS)
    while read -r _ size _ sym; do
        case $sym in paired_*) paired=$((paired + 0x$size)) ;; esac
    done < <(arm-none-eabi-nm -S "$work/$tag/app.elf")
    model_b=$(stat -c %s "$work/$tag.snn")
    read -r i8 stack8 < <(count "$work/$tag/app.elf" "$data" 8)
    read -r i32 stack32 < <(count "$work/$tag/app.elf" "$data" 32)
    stack=$((stack8 > stack32 ? stack8 : stack32))
    printf "| %s | %s | %d B | %d B | %d B | %d B | %d B | %.2f M | %.1fx | %.2f M | %.1fx |\n" "$name" "$prec" "$model_b" \
        $((text + data_b - model_b)) "$paired" $((data_b + bss)) "$stack" "$(echo "$i8 / 1000000" | bc -l)" \
        "$(echo "$i8 / $CMSIS_NN" | bc -l)" "$(echo "$i32 / 1000000" | bc -l)" "$(echo "$i32 / $CMSIS_NN" | bc -l)"
  done
done
echo
echo "$images test images per model; static RAM is .data + .bss of the example program (-Os); stack is the"
echo "high-water mark of one inference (the stack painted before each); instructions with the runtime at -O2."
