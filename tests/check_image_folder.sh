#!/usr/bin/env bash
# Image folders end to end: 120 Fashion-MNIST test images written as PNG files in one folder
# per class, and the same images in the same (sorted) order as an IDX file. Conversion with
# either as calibration writes the same .snn bytes; accuracy, eval (JSON) and snn-run give the
# same results from either; a corrupt image stops the run with its file name and exit status 2.
# Usage: check_image_folder.sh ANN2SNN SNN_RUN MODELS_DIR FASHION_MNIST_DIR
set -u
ann2snn=$1 snn_run=$2 models=$3 fm=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
python3 - "$fm" "$work" <<'PY' || fail "writing the images"
import gzip, os, struct, sys, zlib
fm, work = sys.argv[1:3]
pix = gzip.open(os.path.join(fm, "t10k-images-idx3-ubyte.gz")).read()[16:]
lab = gzip.open(os.path.join(fm, "t10k-labels-idx1-ubyte.gz")).read()[8:]
def png(path, rows):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\0" + r for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
items = []
for i in range(120):
    img = pix[i * 784:(i + 1) * 784]
    d = os.path.join(work, "folder", "class%d" % lab[i])
    os.makedirs(d, exist_ok=True)
    png(os.path.join(d, "img%03d.png" % i), [img[r * 28:(r + 1) * 28] for r in range(28)])
    items.append(("class%d" % lab[i], "img%03d.png" % i, img, lab[i]))
items.sort(key=lambda t: (t[0], t[1]))  # the folder reader's order
with open(os.path.join(work, "x.idx"), "wb") as f:
    f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", len(items), 28, 28) + b"".join(t[2] for t in items))
classes = sorted({t[0] for t in items})
with open(os.path.join(work, "y.idx"), "wb") as f:
    f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", len(items)) + bytes(classes.index(t[0]) for t in items))
PY
model=$models/fmnist_cnn_maxbn.onnx
"$ann2snn" "$model" --calib "$work/folder" -o "$work/folder.snn" >/dev/null || fail "conversion with --calib FOLDER"
"$ann2snn" "$model" --calib "$work/x.idx" -o "$work/idx.snn" >/dev/null || fail "conversion with --calib IDX"
cmp -s "$work/folder.snn" "$work/idx.snn" || fail "calibrating on the folder and on the same images as IDX differ"
"$ann2snn" accuracy "$model" --data "$work/folder" --save-pred "$work/acc_f.idx" >/dev/null || fail "accuracy on the folder"
"$ann2snn" accuracy "$model" --data "$work/x.idx" --labels "$work/y.idx" --save-pred "$work/acc_i.idx" >/dev/null ||
    fail "accuracy on the IDX"
cmp -s "$work/acc_f.idx" "$work/acc_i.idx" || fail "accuracy predictions differ between folder and IDX"
"$ann2snn" eval "$work/idx.snn" --data "$work/folder" --steps 8 --json "$work/f.json" >/dev/null || fail "eval on the folder"
"$ann2snn" eval "$work/idx.snn" --data "$work/x.idx" --labels "$work/y.idx" --steps 8 --json "$work/i.json" >/dev/null ||
    fail "eval on the IDX"
cmp -s "$work/f.json" "$work/i.json" || fail "eval JSON differs between folder and IDX"
f_acc=$("$snn_run" "$work/idx.snn" --input "$work/folder" --steps 8 -q | sed 's/,.*//')
i_acc=$("$snn_run" "$work/idx.snn" --input "$work/x.idx" --labels "$work/y.idx" --steps 8 -q | sed 's/,.*//')
[ -n "$f_acc" ] && [ "$f_acc" = "$i_acc" ] || fail "snn-run: '$f_acc' on the folder, '$i_acc' on the IDX"
if "$ann2snn" accuracy "$model" --data "$work/folder" --labels "$work/y.idx" >/dev/null 2>&1; then
    fail "a folder with --labels was accepted"
fi
bad=$(ls "$work/folder/class0" | head -1)
printf 'not a png' > "$work/folder/class0/$bad"
"$ann2snn" accuracy "$model" --data "$work/folder" >/dev/null 2>"$work/err.txt"
status=$?
[ $status -eq 2 ] || fail "a corrupt image: exit status $status, not 2"
grep -q "class0/$bad" "$work/err.txt" || fail "the error does not name the image: $(cat "$work/err.txt")"
echo "image folders: conversion, accuracy, eval and snn-run agree with the same images as IDX ($f_acc)"
