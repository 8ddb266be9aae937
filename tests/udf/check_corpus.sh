#!/usr/bin/env bash
# pktfuse check on the kernel-written corpus: every image is clean (exit 0), with --repair too, its
# manifest's file and directory counts are what the check walked, and nothing is written (the image's
# checksum before and after).  Then each image with its integrity descriptor left open and a few
# leaked blocks: the check exits 4; the repair exits 1 and a second check 0 (every revision of the
# corpus, 1.02-2.01, is one pktfuse writes).
set -euo pipefail
PKTFUSE=${PKTFUSE:?PKTFUSE must name the pktfuse binary}
CORPUS=${CORPUS:?}
[ -d "$CORPUS" ] || { echo "SKIP: no corpus at $CORPUS"; exit 77; }
DAMAGE=$(cd "$(dirname "$0")" && pwd)/udf_damage.py
T=$(mktemp -d /tmp/pktfuse-check-corpus.XXXXXX)
trap 'rm -rf "$T"' EXIT
# expect CODE WHAT ARGS...: pktfuse check ARGS exits CODE (output in $T/out, the code in $rc)
expect() {
	local want=$1 what=$2
	shift 2
	rc=0
	"$PKTFUSE" check "$@" > "$T/out" 2>&1 || rc=$?
	[ "$rc" -eq "$want" ] || { cat "$T/out"; echo "FAIL: $what: pktfuse check exited $rc, expected $want"; exit 1; }
}
n=0
for gz in "$CORPUS"/*.img.gz; do
	name=$(basename "$gz" .img.gz)
	img="$T/$name.img"
	gunzip -c "$gz" > "$img"
	sum=$(sha256sum < "$img")
	for mode in "" --repair; do
		rc=0
		"$PKTFUSE" check "$img" $mode > "$T/out" 2>&1 || rc=$?
		[ "$rc" -eq 0 ] || { cat "$T/out"; echo "FAIL: $name: pktfuse check $mode exited $rc"; exit 1; }
		grep -q ": clean$" "$T/out" || { cat "$T/out"; echo "FAIL: $name: no 'clean' summary $mode"; exit 1; }
	done
	[ "$sum" = "$(sha256sum < "$img")" ] || { echo "FAIL: $name: pktfuse check wrote to a clean image"; exit 1; }
	# the manifest lists "." and every name: D lines are directories, the rest files (a file with
	# N names is listed N times, with its link count N)
	dirs=$(grep -c '^D|' "$CORPUS/$name.manifest" || true)
	files=$(awk -F'|' '$1 == "D" { next } $1 == "F" { split($3, a, " "); n += 1 / a[6]; next } { n++ }
		END { printf "%d\n", n + 0.5 }' "$CORPUS/$name.manifest")
	# hidden entries (UDF 1.50's "Non-Allocatable Space" file of sparable media) are not listed by a
	# mount; the check counts them, as the integrity descriptor does
	read -r cfiles cdirs < <(sed -n 's/.*: \([0-9]*\) files, \([0-9]*\) directories: clean$/\1 \2/p' "$T/out")
	[ "$cdirs" -eq "$dirs" ] && [ "$cfiles" -ge "$files" ] && [ "$cfiles" -le $((files + 1)) ] ||
		{ tail -1 "$T/out"; echo "FAIL: $name: the manifest has $files files and $dirs directories"; exit 1; }
	summary=$(tail -1 "$T/out" | sed 's/.*img: //')
	python3 "$DAMAGE" "$img" lvid-open
	python3 "$DAMAGE" "$img" bitmap-leak 3
	expect 4 "$name, damaged" "$img"
	sum=$(sha256sum < "$img")
	expect 1 "$name, damaged, --repair" "$img" --repair
	expect 0 "$name, repaired" "$img"
	[ "$sum" != "$(sha256sum < "$img")" ] || { echo "FAIL: $name: repaired without writing"; exit 1; }
	rc=1
	echo "ok: $name ($summary; damaged: check 4, --repair $rc)"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "FAIL: no corpus images found"; exit 1; }
echo "PASS: $n corpus images checked clean, nothing written"
