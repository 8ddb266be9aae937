#!/usr/bin/env bash
# Builds the libFuzzer target with clang (ASan + UBSan) and fuzzes mount + tree walk over each corpus
# image for a bounded time.  Usage: fuzz.sh OUTDIR SECONDS_PER_IMAGE
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?}
SECS=${2:-10}
CORPUS=${CORPUS:-$SRC/tests/corpus/kernel-udf}
command -v clang >/dev/null || { echo "SKIP: clang is not installed"; exit 77; }
[ -d "$CORPUS" ] || { echo "SKIP: no corpus at $CORPUS"; exit 77; }
mkdir -p "$OUT"
clang -std=c17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-I"$SRC/core/udf" -I"$SRC/core/udf/private" "$SRC/tests/udf/fuzz_udf.c" "$SRC"/core/udf/*.c \
	-o "$OUT/fuzz_udf" -lpthread
for gz in "$CORPUS"/*.img.gz; do
	name=$(basename "$gz" .img.gz)
	gunzip -c "$gz" > "$OUT/$name.img"
	mkdir -p "$OUT/seeds-$name"
	printf '' > "$OUT/seeds-$name/empty"
	echo "== fuzzing $name for $SECS s"
	rc=0
	UDF_FUZZ_BASE="$OUT/$name.img" "$OUT/fuzz_udf" -max_total_time="$SECS" -max_len=600 -timeout=20 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$OUT/crash-$name-" "$OUT/seeds-$name" \
		> "$OUT/$name.log" 2>&1 || rc=$?
	grep -E "^(stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" "$OUT/$name.log" || true
	[ "$rc" -eq 0 ] || { tail -40 "$OUT/$name.log"; echo "FAIL: the fuzzer found a crash in $name (inputs in $OUT)"; exit 1; }
	rm -f "$OUT/$name.img"
done
echo "PASS: fuzzed mount + walk over every corpus image, $SECS s each, no crash"
