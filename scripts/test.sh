#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds from scratch and runs every test: the unit tests in the
# normal build and again under AddressSanitizer + UndefinedBehaviorSanitizer, then the end-to-end
# tests (FUSE mounts, loop devices, mkfs, fio) in the normal build.  Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
rm -rf build build-asan
bash scripts/build.sh --asan

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
echo "== unit tests (ASan + UBSan)"
(cd build-asan && ctest --output-on-failure -j 2) || status=1
echo "== all tests"
(cd build && ctest --output-on-failure) || status=1
exit $status
