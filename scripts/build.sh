#!/usr/bin/env bash
# Configures and builds pktfuse into build/ (and, with --sanitizers, build-asan/ with ASan+UBSan and
# build-tsan/ with ThreadSanitizer for the concurrency tests: the cache's, the engine's commit).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
if [ "${1:-}" = --sanitizers ]; then
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPKTFUSE_SANITIZE=ON -DPKTFUSE_E2E=OFF >/dev/null
	cmake --build build-asan -j "$jobs"
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPKTFUSE_TSAN=ON -DPKTFUSE_E2E=OFF >/dev/null
	cmake --build build-tsan -j "$jobs" --target test_pkt_cache test_udf_commit_unlocked test_udf_hint_hold
fi
