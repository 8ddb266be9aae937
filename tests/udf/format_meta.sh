#!/usr/bin/env bash
# `pktfuse format --revision 2.50|2.60`: for every overwritable media layout (plain, sparable) and
# block size, a metadata partition that udf_meta_check.py verifies (its map, the metadata file, its
# identical mirror far from it, the metadata bitmap, the LVID's two entries, minimum read 2.50),
# exactly the format's blocks in use; pktfuse's reader, udfinfo and udfclient read it; a mirror
# changed by hand is caught (the check can fail); unknown revisions and bad block sizes are refused
# (write-once media take 2.50/2.60 with a VAT: vat.sh).
set -euo pipefail
PKTFUSE=${PKTFUSE:?}
MANIFEST_TOOL=${UDF_MANIFEST:?}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v python3 > /dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
val() { awk -F= -v k="$1" '$1 == k {print $2}' "$2"; }
n=0
for row in "hd 2048" "cdrw 2048" "dvdrw 2048" "dvdram 2048" "dvd+rw 2048" "bdre 2048" "hd 512" "hd 1024" "bdre 4096"; do
	read -r media bs <<< "$row"
	for rev in 2.50 2.60; do
		img=$W/img
		rm -f "$img"
		truncate -s 80M "$img"
		what="$media $bs $rev"
		"$PKTFUSE" format "$img" --media "$media" --block-size "$bs" --revision "$rev" --label M --uid 0 --gid 0 \
			> "$W/out" 2> "$W/err" || fail "$what: format failed: $(cat "$W/err")"
		grep -q "metadata partition of [0-9]* blocks (mirrored)" "$W/out" || fail "$what: $(cat "$W/out")"
		python3 "$HERE/udf_meta_check.py" "$img" --fresh > "$W/check" || fail "$what: $(cat "$W/check")"
		read -r _ pfree mfree < "$W/check"
		"$MANIFEST_TOOL" --statfs "$img" > "$W/ours" || fail "$what: our reader cannot mount it"
		[ "$(val udfrev "$W/ours")" = "$rev" ] || fail "$what: our reader says revision $(val udfrev "$W/ours")"
		# free space is the physical partition's (the metadata partition's is inside its file)
		[ "$(val freeblocks "$W/ours")" = "$pfree" ] || fail "$what: our reader: $(cat "$W/ours") ($mfree in the metadata partition)"
		[ "$("$MANIFEST_TOOL" "$img")" = "D|.|755 0 0" ] || fail "$what: the root reads wrong"
		if command -v udfinfo > /dev/null; then
			udfinfo "$img" > "$W/info" 2> "$W/ierr" || fail "$what: udfinfo refuses it: $(head -3 "$W/ierr")"
			# udfinfo shows the minimum read revision (2.50 for both) and the minimum write one
			[ "$(val udfrev "$W/info")/$(val udfwriterev "$W/info")" = "2.50/$rev" ] ||
				fail "$what: udfinfo says $(val udfrev "$W/info")/$(val udfwriterev "$W/info")"
			[ "$(val fsid "$W/info")" = M ] || fail "$what: udfinfo does not find the file set"
		fi
		if command -v udfclient > /dev/null; then
			printf 'ls\nquit\n' | timeout 60 udfclient -b "$bs" "$img" > "$W/uc" 2>&1 || fail "$what: udfclient failed"
			grep -qE '^d.*:M:M:M$' "$W/uc" || { cat "$W/uc"; fail "$what: udfclient shows no volume"; }
		fi
		n=$((n + 1))
	done
done
echo "ok: $n formats with a metadata partition verify and read"
# the check sees a mirror that differs from the metadata file
"$PKTFUSE" format "$W/img" --force --revision 2.50 > /dev/null
python3 - "$W/img" << 'EOF'
import struct, sys
f = open(sys.argv[1], 'r+b')
d = f.read(2048 * 300)
lvd = d[97 * 2048:98 * 2048]
mirror_fe = struct.unpack_from('<I', lvd, 440 + 6 + 44)[0]
f.seek((288 + mirror_fe) * 2048)
fe = f.read(2048)
pos = struct.unpack_from('<I', fe, 216 + 4)[0]
f.seek((288 + pos) * 2048 + 100)
f.write(b'\xff')
EOF
if python3 "$HERE/udf_meta_check.py" "$W/img" > "$W/check"; then fail "a damaged mirror passed the check"; fi
grep -q "mirror differs" "$W/check" || fail "the check's reason: $(cat "$W/check")"
echo "ok: a mirror changed by hand fails the check"
for bad in "--revision 2.61" "--revision 2.50 --block-size 1000" "--revision 2.60 --media cdrw --block-size 4096"; do
	rm -f "$W/bad"
	# shellcheck disable=SC2086
	if "$PKTFUSE" format "$W/bad" $bad > /dev/null 2> "$W/err"; then fail "format $bad was accepted"; fi
	[ "$(wc -l < "$W/err")" -eq 1 ] || fail "format $bad: $(cat "$W/err")"
done
echo "PASS: UDF 2.50/2.60 formats with a metadata partition"
