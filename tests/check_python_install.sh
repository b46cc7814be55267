#!/usr/bin/env bash
# The Python package the way a user gets it: `meson install` into a staging directory, then
# tests/test_python.py imports `ann2snn` from the installed site-packages, without
# ANN2SNN_LIBRARY, so the package must find the installed libann2snn on its own.
set -euo pipefail
build=$1 src=$2 python=$3 ann2snn=$4 snn_run=$5
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --destdir "$stage" --quiet
init=$(find "$stage" -path '*/ann2snn/__init__.py' | head -1)
[ -n "$init" ] || { echo "the ann2snn Python package was not installed"; exit 1; }
site=$(dirname "$(dirname "$init")")
echo "installed package: ${site#$stage}"
env -u ANN2SNN_LIBRARY "$python" "$src/tests/test_python.py" "$ann2snn" "$snn_run" "$src" "$stage" --installed "$site"
