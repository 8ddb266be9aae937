#!/usr/bin/env bash
# Damaged and hostile variants of every corpus image (see udf_hostile.c).
set -euo pipefail
CORPUS=${CORPUS:?}
[ -d "$CORPUS" ] || { echo "SKIP: no corpus at $CORPUS"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
for gz in "$CORPUS"/*.img.gz; do
	name=$(basename "$gz" .img.gz)
	gunzip -c "$gz" > "$W/$name.img"
	echo -n "$name: "
	"$UDF_HOSTILE" "$W/$name.img" "${SEEDS:-800}"
	rm -f "$W/$name.img"
done
