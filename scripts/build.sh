#!/usr/bin/env bash
# Configures and builds pktfuse into build/ (and, with --asan, build-asan/ with ASan+UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
if [ "${1:-}" = --asan ]; then
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPKTFUSE_SANITIZE=ON -DPKTFUSE_E2E=OFF >/dev/null
	cmake --build build-asan -j "$jobs"
fi
