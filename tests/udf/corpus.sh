#!/usr/bin/env bash
# Every image of the kernel-written corpus reads back exactly as its manifest says: every entry,
# type, size, mode, uid, gid, mtime, link count, symlink target and sha256.
set -euo pipefail
CORPUS=${CORPUS:?}
MANIFEST_TOOL=${UDF_MANIFEST:?}
WORK=${WORK:-$(mktemp -d)}
[ -d "$CORPUS" ] || { echo "SKIP: no corpus at $CORPUS"; exit 77; }
mkdir -p "$WORK"
n=0
for gz in "$CORPUS"/*.img.gz; do
	name=$(basename "$gz" .img.gz)
	img="$WORK/$name.img"
	gunzip -c "$gz" > "$img"
	if ! "$MANIFEST_TOOL" "$img" > "$WORK/$name.got"; then
		echo "FAIL: $name: the reader reported errors"; exit 1
	fi
	if ! diff -u "$CORPUS/$name.manifest" "$WORK/$name.got" > "$WORK/$name.diff"; then
		head -40 "$WORK/$name.diff"
		echo "FAIL: $name differs from its manifest"; exit 1
	fi
	echo "ok: $name ($(wc -l < "$CORPUS/$name.manifest") entries)"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "FAIL: no corpus images found"; exit 1; }
echo "PASS: $n corpus images read back exactly"
