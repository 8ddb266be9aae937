#!/usr/bin/env bash
# Metadata partitions (UDF 2.50/2.60): a corpus image rebuilt with its metadata in a metadata
# partition reads back exactly as its manifest; with the metadata file damaged it reads through the
# mirror; with both damaged it is refused with a clear reason.
set -euo pipefail
CORPUS=${CORPUS:?}
[ -d "$CORPUS" ] || { echo "SKIP: no corpus at $CORPUS"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# the DVD-RAM image of the corpus, whatever its seed
name=$(basename "$(ls "$CORPUS"/kernel-dvdram-r201-b2048-s*.img.gz | head -1)" .img.gz)
gunzip -c "$CORPUS/$name.img.gz" > "$W/in.img"
"$UDF_MAKE_META" "$W/in.img" "$W/meta.img"
"$UDF_MANIFEST" "$W/meta.img" > "$W/got"
diff -u "$CORPUS/$name.manifest" "$W/got" | head -20
cmp -s "$CORPUS/$name.manifest" "$W/got" || { echo "FAIL: the metadata-partition image reads differently"; exit 1; }
echo "ok: read through the metadata file"
"$UDF_MAKE_META" "$W/in.img" "$W/main.img" --break-main
"$UDF_MANIFEST" "$W/main.img" > "$W/got2"
cmp -s "$CORPUS/$name.manifest" "$W/got2" || { echo "FAIL: the mirror was not used"; exit 1; }
echo "ok: read through the mirror when the metadata file is damaged"
"$UDF_MAKE_META" "$W/in.img" "$W/both.img" --break-both
if "$UDF_MANIFEST" "$W/both.img" > /dev/null 2> "$W/err"; then echo "FAIL: mounted with both damaged"; exit 1; fi
grep -q "metadata file and its mirror are damaged" "$W/err" || { echo "FAIL: unclear: $(cat "$W/err")"; exit 1; }
echo "PASS: metadata partition, mirror fallback, and refusal when both are damaged"
