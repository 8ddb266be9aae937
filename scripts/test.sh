#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds from scratch and runs every test: the unit tests in the
# normal build and again under AddressSanitizer + UndefinedBehaviorSanitizer, the cache's tests under
# ThreadSanitizer, then the end-to-end
# tests (FUSE mounts, loop devices, mkfs, fio) in the normal build.  Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
rm -rf build build-asan build-tsan
bash scripts/build.sh --sanitizers

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
echo "== unit tests (ASan + UBSan)"
(cd build-asan && ctest --output-on-failure -j 2) || status=1
echo "== cache tests (ThreadSanitizer)"
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R test_pkt_cache) || status=1
echo "== all tests"
(cd build && ctest --output-on-failure) || status=1
exit $status
