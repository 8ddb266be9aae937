#!/usr/bin/env bash
# Images written by `pktfuse format` (every media layout, UDF 1.02 (plain ones)/1.50/2.00/2.01) are file systems the
# Linux udf driver (Debian's stock kernel under qemu) mounts read-write, writes a file and a
# directory into and unmounts cleanly; pktfuse's reader then lists what the kernel wrote, and
# udfinfo finds the volume closed with the blocks the kernel used gone from the free space.  UDF 2.01
# images carry the default owner (unset, -1), the others one given with --uid/--gid.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PKTFUSE=${PKTFUSE:?}
MANIFEST_TOOL=${UDF_MANIFEST:?}
command -v qemu-system-x86_64 > /dev/null || { echo "SKIP: qemu-system-x86 is not installed"; exit 77; }
command -v udfinfo > /dev/null || { echo "SKIP: udftools is not installed"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$HERE/kudf_parts.sh"
kparts_init "$W"
# 1. every image formatted, its free space noted; 2. one boot for all (kudf_parts.sh: the kernel
# writes each in turn); 3. each image as the kernel left it checked
rows=()
for media in hd cdrw dvdrw dvdram dvd+rw bdre; do
	for rev in 1.02 1.50 2.00 2.01; do
		case $media-$rev in cdrw-1.02 | dvdrw-1.02) continue ;; esac # 1.02 has no sparable partition
		img="$W/$media-$rev.img"
		truncate -s 48M "$img"
		# 2.01 with the default owner (none recorded: -1), the others with --uid/--gid
		owner=(--uid 0 --gid 0)
		[ "$rev" != 2.01 ] || owner=()
		"$PKTFUSE" format "$img" --media "$media" --revision "$rev" --label "K-$media" "${owner[@]}" > /dev/null ||
			fail "$media $rev: format"
		free0=$(udfinfo "$img" 2> /dev/null | awk -F= '$1 == "freeblocks" {print $2}')
		kparts_add "$img"
		rows+=("$media $rev $free0 $KPART")
	done
done
kparts_boot "$HERE/format_guest.sh" || { cat "$W/err"; fail "the kernel did not boot over the images"; }
n=0
for row in "${rows[@]}"; do
	read -r media rev free0 part <<< "$row"
	img="$W/$media-$rev.img"
	kparts_out "$part" > "$W/guest"
	[ "$(kparts_rc "$part")" = 0 ] || { cat "$W/guest"; fail "$media $rev: the kernel could not use it"; }
	grep -qx "free-before $((free0 * 2))" "$W/guest" || { cat "$W/guest"; fail "$media $rev: the kernel sees other free space than $free0 blocks"; }
	kparts_extract "$part" "$img"
	"$MANIFEST_TOOL" "$img" | cut -d'|' -f1,2 > "$W/list" || fail "$media $rev: our reader cannot mount it after the kernel"
	printf 'D|.\nD|./kdir\nF|./kdir/kfile.txt\nF|./ktop.txt\n' | diff - "$W/list" ||
		fail "$media $rev: our reader lists something else"
	udfinfo "$img" > "$W/info" 2> /dev/null || fail "$media $rev: udfinfo after the kernel"
	grep -qx integrity=closed "$W/info" || fail "$media $rev: the kernel left it $(grep integrity= "$W/info")"
	free1=$(awk -F= '$1 == "freeblocks" {print $2}' "$W/info")
	[ "$free1" -lt "$free0" ] || fail "$media $rev: free space $free0 → $free1"
	echo "ok: $media UDF $rev: the kernel mounted it rw, wrote a file and a directory ($free0 → $free1 free), unmounted cleanly; our reader lists them"
	n=$((n + 1))
done
echo "PASS: the kernel writes to all $n images pktfuse formatted (one boot)"
