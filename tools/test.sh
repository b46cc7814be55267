#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build
status=0
meson test -C build --print-errorlogs "$@" | tee build/test-summary.txt || status=$?
ok=$(sed -n 's/^Ok:[[:space:]]*\([0-9]*\).*/\1/p' build/test-summary.txt)
fail=$(sed -n 's/^Fail:[[:space:]]*\([0-9]*\).*/\1/p' build/test-summary.txt)
timeout=$(sed -n 's/^Timeout:[[:space:]]*\([0-9]*\).*/\1/p' build/test-summary.txt)
echo "meson: ${ok:-0} passed, $(( ${fail:-0} + ${timeout:-0} )) failed"
exit $status
