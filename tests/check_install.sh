#!/usr/bin/env bash
# meson install into a staging directory, then build docs/example_app.c the way the README
# says (pkg-config) against the installed header and library, and run it on a bundled model.
set -euo pipefail
build=$1 src=$2 snn_tool=$3 fmnist=$4 sanitize=${5:-none}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --destdir "$stage" --quiet
pc=$(find "$stage" -name ann2snn-runtime.pc | head -1)
[ -n "$pc" ] || { echo "no ann2snn-runtime.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$stage
# A sanitizer build installs an instrumented library: the program must be built the same way.
san=""
[ "$sanitize" = none ] || san="-fsanitize=$sanitize"
cc -std=c11 -Wall -Werror $san "$src/docs/example_app.c" $(pkg-config --cflags --libs ann2snn-runtime) -o "$stage/example_app"
"$snn_tool" "$src/models/mnist_lenet.onnx" --calib "$src/models/data/mnist-digits-calib-images-idx3-ubyte.gz" \
  --calib-count 200 -o "$stage/lenet.snn" >/dev/null
# The first test digit, raw: skip the 16-byte IDX header.
gzip -dc "$src/models/data/mnist-digits-test-images-idx3-ubyte.gz" > "$stage/images.idx"
gzip -dc "$src/models/data/mnist-digits-test-labels-idx1-ubyte.gz" > "$stage/labels.idx"
dd if="$stage/images.idx" of="$stage/img.raw" bs=1 skip=16 count=784 status=none
libdir=$(dirname "$(find "$stage" -name 'libann2snn-runtime.so*' | head -1)")
out=$(LD_LIBRARY_PATH=$libdir "$stage/example_app" "$stage/lenet.snn" "$stage/img.raw")
want=$(od -An -tu1 -j8 -N1 "$stage/labels.idx" | tr -d ' ')
echo "$out (label $want)"
[ "$out" = "class $want" ]
# The converter library the same way: docs/example_convert.c against the installed
# <ann2snn/ann2snn.h> and ann2snn.pc, its file run by the example above.
cc -std=c11 -Wall -Werror $san "$src/docs/example_convert.c" $(pkg-config --cflags --libs ann2snn) \
  -o "$stage/example_convert"
LD_LIBRARY_PATH=$libdir "$stage/example_convert" "$src/models/mnist_lenet.onnx" "$stage/lenet-lib.snn" \
  precision=int8 2>/dev/null
out=$(LD_LIBRARY_PATH=$libdir "$stage/example_app" "$stage/lenet-lib.snn" "$stage/img.raw")
echo "libann2snn, data-free int8: $out (label $want)"
"$snn_tool" "$src/models/mnist_lenet.onnx" --precision int8 -o "$stage/lenet-cli.snn" 2>/dev/null >&2
cmp "$stage/lenet-lib.snn" "$stage/lenet-cli.snn"
echo "2 passed, 0 failed"
