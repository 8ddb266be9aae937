#!/usr/bin/env bash
# Images made by mkudffs (udftools) for every media type and UDF revision it offers, and block
# sizes 512-4096: the engine mounts them, shows an empty root, and agrees with udfinfo on the label
# and the free space.
set -euo pipefail
MANIFEST_TOOL=${UDF_MANIFEST:?}
command -v mkudffs >/dev/null || { echo "SKIP: mkudffs (udftools) is not installed"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
ok=0 refused=0
for media in cdrw dvdrw dvdram hd bdr cdr dvdr worm mo; do
	for rev in 1.02 1.50 2.00 2.01 2.50 2.60; do
		bss=2048
		[ "$media" = hd ] && bss="512 1024 2048 4096"
		for bs in $bss; do
			img="$W/$media-$rev-$bs.img"
			truncate -s 48M "$img"
			label="L-$media-${rev/./}"
			if ! mkudffs --media-type="$media" --udfrev="$rev" --blocksize="$bs" --label="$label" "$img" \
				> "$W/mk.log" 2>&1; then
				refused=$((refused + 1))
				rm -f "$img"
				continue
			fi
			got=$("$MANIFEST_TOOL" "$img") || { echo "FAIL: $media $rev b$bs: not mounted"; exit 1; }
			[ "$got" = "D|.|755 $(id -u) $(id -g)" ] || { echo "FAIL: $media $rev b$bs: root is '$got'"; exit 1; }
			"$MANIFEST_TOOL" --statfs "$img" > "$W/ours"
			grep -qx "label=$label" "$W/ours" || { echo "FAIL: $media $rev b$bs: label"; cat "$W/ours"; exit 1; }
			grep -qx "blocksize=$bs" "$W/ours" || { echo "FAIL: $media $rev b$bs: block size"; exit 1; }
			# udfinfo cannot find the VAT of an image by itself; compare free space where it can.
			if udfinfo "$img" > "$W/theirs" 2>/dev/null; then
				want=$(awk -F= '$1 == "freeblocks" {print $2}' "$W/theirs")
				have=$(awk -F= '$1 == "freeblocks" {print $2}' "$W/ours")
				[ "$want" = "$have" ] || { echo "FAIL: $media $rev b$bs: free $have, udfinfo says $want"; exit 1; }
			fi
			echo "ok: $media UDF $rev block $bs"
			ok=$((ok + 1))
			rm -f "$img"
		done
	done
done
[ "$ok" -ge 20 ] || { echo "FAIL: only $ok images made"; exit 1; }
echo "PASS: $ok mkudffs images mounted ($refused combinations mkudffs itself refuses)"
