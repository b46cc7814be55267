#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite twice: a normal build (build/)
# and one with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/), where any report
# fails the test that triggered it. --quick: the normal build only. Other arguments go to
# `meson test` (e.g. a suite or test name).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [ "${1:-}" = "--quick" ]; then
  quick=1
  shift
fi
tools/install-deps.sh

# run_suite DIR: meson test in DIR; prints "meson (DIR): N passed, N failed"; returns its status.
run_suite() {
  local dir=$1 status=0
  shift
  meson test -C "$dir" --print-errorlogs "$@" | tee "$dir/test-summary.txt" || status=$?
  local ok fail timeout
  ok=$(sed -n 's/^Ok:[[:space:]]*\([0-9]*\).*/\1/p' "$dir/test-summary.txt")
  fail=$(sed -n 's/^Fail:[[:space:]]*\([0-9]*\).*/\1/p' "$dir/test-summary.txt")
  timeout=$(sed -n 's/^Timeout:[[:space:]]*\([0-9]*\).*/\1/p' "$dir/test-summary.txt")
  echo "meson ($dir): ${ok:-0} passed, $(( ${fail:-0} + ${timeout:-0} )) failed"
  return $status
}

[ -d build ] || meson setup build >/dev/null
ninja -C build
status=0
run_suite build "$@" || status=$?
if [ $quick -eq 0 ]; then
  [ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
  ninja -C build-asan
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  # The device suite runs QEMU and a cross compiler, which the sanitizers do not see into.
  run_suite build-asan --timeout-multiplier 4 --no-suite device "$@" || status=$?
fi
exit $status
