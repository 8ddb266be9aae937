#!/usr/bin/env bash
# The anchor of the last session: a corpus image moved behind 10,000 sectors as a later session (its
# end anchors removed) is found only through the session start, and then reads exactly as its manifest.
set -euo pipefail
CORPUS=${CORPUS:?}
[ -d "$CORPUS" ] || { echo "SKIP: no corpus at $CORPUS"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# the DVD-RAM image of the corpus, whatever its seed
name=$(basename "$(ls "$CORPUS"/kernel-dvdram-r201-b2048-s*.img.gz | head -1)" .img.gz)
gunzip -c "$CORPUS/$name.img.gz" > "$W/in.img"
"$UDF_SHIFT" "$W/in.img" "$W/session.img" 10000
if "$UDF_MANIFEST" "$W/session.img" > /dev/null 2>&1; then echo "FAIL: found without the session start"; exit 1; fi
UDF_SESSION_START=10000 "$UDF_MANIFEST" "$W/session.img" > "$W/got"
cmp -s "$CORPUS/$name.manifest" "$W/got" || { diff -u "$CORPUS/$name.manifest" "$W/got" | head; echo "FAIL: differs"; exit 1; }
echo "PASS: the volume of the last session is found at its anchor and reads exactly"
