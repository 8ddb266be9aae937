#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds from scratch and runs every test: the unit tests in the
# normal build and again under AddressSanitizer + UndefinedBehaviorSanitizer, the cache's and the
# engine's concurrency tests under ThreadSanitizer, then the end-to-end
# tests (FUSE mounts, loop devices, mkfs, fio) in the normal build.  Run as root.
# At the end it prints how many tests passed, failed and were skipped, with each skip's reason (the
# "SKIP: …" line the test printed); a skip is never counted as a pass.  Exit status 1 if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
rm -rf build build-asan build-tsan
bash scripts/build.sh --sanitizers

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
echo "== unit tests (ASan + UBSan)"
(cd build-asan && ctest --output-on-failure -j 2 --output-junit "$results/1-asan.xml") || status=1
echo "== concurrency tests (ThreadSanitizer)"
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -R 'test_pkt_cache|test_udf_commit_unlocked|test_udf_hint_hold' \
	--output-junit "$results/2-tsan.xml") || status=1
echo "== all tests"
# two at a time, one per core: what tests share is locked or kept apart (tests/CMakeLists.txt)
(cd build && ctest --output-on-failure -j 2 --output-junit "$results/3-all.xml") || status=1

echo "== summary"
python3 - "$results"/*.xml <<'PY' || status=1
import sys
import xml.etree.ElementTree as ET

STAGES = {"1-asan": "unit tests (ASan + UBSan)", "2-tsan": "concurrency tests (ThreadSanitizer)",
          "3-all": "all tests"}
total = {"passed": 0, "failed": 0, "skipped": 0}
for path in sys.argv[1:]:
    stage = STAGES.get(path.rsplit("/", 1)[-1][:-4], path)
    n = {"passed": [], "failed": [], "skipped": []}
    for case in ET.parse(path).getroot().iter("testcase"):
        name, out = case.get("name"), case.findtext("system-out") or ""
        if case.find("skipped") is not None or case.get("status") in ("notrun", "disabled"):
            why = [l[len("SKIP:"):].strip() for l in out.splitlines() if l.startswith("SKIP:")]
            n["skipped"].append((name, why[-1] if why else "no reason printed"))
        elif case.get("status") == "fail" or case.find("failure") is not None:
            n["failed"].append((name, "%.0f s" % float(case.get("time") or 0)))
        else:
            n["passed"].append((name, ""))
    ran = len(n["passed"]) + len(n["failed"])
    print("%s: %d ran, %d passed, %d failed, %d skipped" %
          (stage, ran, len(n["passed"]), len(n["failed"]), len(n["skipped"])))
    for name, why in n["skipped"]:
        print("  skipped %s: %s" % (name, why))
    for name, t in n["failed"]:
        print("  FAILED %s (after %s)" % (name, t))
    for k in total:
        total[k] += len(n[k])
print("total: %d ran, %d passed, %d failed, %d skipped" %
      (total["passed"] + total["failed"], total["passed"], total["failed"], total["skipped"]))
PY
exit $status
