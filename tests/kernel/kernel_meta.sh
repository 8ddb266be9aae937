#!/usr/bin/env bash
# UDF 2.50/2.60 with a metadata partition: Debian's stock kernel (udf module under qemu,
# tests/kernel/kudf.sh) mounts what `pktfuse format --revision 2.50|2.60` writes (plain and sparable
# layouts, 2048- and 4096-byte blocks) and lists exactly the tree pktfuse's engine (udf_manifest)
# lists; udf_meta_check.py verifies each image.  As root with /dev/fuse also images written through
# the files view in two sessions (copies, a directory tree, renames, deletions, links, a big file),
# and images whose metadata file grew (2,000 files on 64 MB, UDF 2.50 and 2.60).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PKTFUSE=${PKTFUSE:?}
UDF_MANIFEST=${UDF_MANIFEST:?}
command -v qemu-system-x86_64 > /dev/null || { echo "SKIP: qemu-system-x86 is not installed"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
problem() {
	echo "PROBLEM: $*"
	fails=$((fails + 1))
}

# kernel_lists IMG WHAT: the kernel's listing of IMG as it is now is the engine's (checked for all
# images in one boot at the end: kparts_lists, tests/kernel/kudf_parts.sh), and the image verifies
. "$HERE/kudf_parts.sh"
kparts_init "$W"
kernel_lists() {
	local img=$1 what=$2
	python3 "$HERE/../udf/udf_meta_check.py" "$img" > "$W/check" || problem "$what: $(cat "$W/check")"
	"$UDF_MANIFEST" "$img" > "$W/want" 2> "$W/err" || { problem "$what: udf_manifest: $(head -2 "$W/err")"; return; }
	kparts_want "$W/want" "$what" "$img"
}

for row in "bdre 2048 2.50" "cdrw 2048 2.50" "dvdrw 2048 2.60" "hd 4096 2.60"; do
	read -r media bs rev <<< "$row"
	img=$W/$media-$bs-$rev.img
	truncate -s 64M "$img"
	"$PKTFUSE" format --media "$media" --block-size "$bs" --revision "$rev" --uid 0 --gid 0 "$img" > /dev/null ||
		{ problem "$media $bs $rev: format failed"; continue; }
	kernel_lists "$img" "$media $bs UDF $rev blank"
done
if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ]; then
	SRC=$(cd "$HERE/../../core/udf" && pwd)
	mnt=$W/mnt
	mkdir -p "$mnt"
	trap '[ -z "${mnt:-}" ] || fusermount3 -u "$mnt" 2> /dev/null || true; rm -rf "$W"' EXIT
	for row in "bdre 2048 2.50" "cdrw 2048 2.60" "hd 4096 2.50"; do
		read -r media bs rev <<< "$row"
		img=$W/fv-$media-$bs-$rev.img
		truncate -s 64M "$img"
		what="$media $bs UDF $rev written through the files view"
		"$PKTFUSE" format --media "$media" --block-size "$bs" --revision "$rev" --uid 0 --gid 0 "$img" > /dev/null ||
			{ problem "$what: format failed"; continue; }
		"$PKTFUSE" "$img" "$mnt" || { problem "$what: pktfuse cannot mount it"; continue; }
		mkdir -p "$mnt/src/deep/er" && cp "$SRC"/*.c "$mnt/src/" && cp "$SRC"/*.h "$mnt/src/deep/er/" &&
			mv "$mnt/src/udf_vat.c" "$mnt/vat.c" && rm "$mnt/src/udf_dir.c" && ln -s src/deep "$mnt/link" &&
			head -c 3000000 /dev/urandom > "$mnt/big" && for i in $(seq 1 200); do echo "$i" > "$mnt/src/deep/n$i"; done ||
			problem "$what: the first session's changes failed"
		"$PKTFUSE" umount "$mnt" || problem "$what: pktfuse umount"
		"$PKTFUSE" "$img" "$mnt" || { problem "$what: pktfuse cannot mount it again"; continue; }
		mkdir "$mnt/src/more" && mv "$mnt/big" "$mnt/src/more/big" && rm "$mnt/vat.c" "$mnt"/src/deep/n1* &&
			ln "$mnt/src/udf_node.c" "$mnt/hard" && echo hi > "$mnt/hi" || problem "$what: the second session's changes failed"
		"$PKTFUSE" umount "$mnt" || problem "$what: the second pktfuse umount"
		kernel_lists "$img" "$what"
	done
	# a grown metadata file (udf_meta_grow): 2,000 empty files where 1,024 blocks held some 1,020
	# entries, a directory with a file in it; its metadata file and mirror then have more extents
	for rev in 2.50 2.60; do
		img=$W/grown-$rev.img
		truncate -s 64M "$img"
		what="hd 2048 UDF $rev with its metadata file grown"
		"$PKTFUSE" format --media hd --revision "$rev" --uid 0 --gid 0 "$img" > /dev/null ||
			{ problem "$what: format failed"; continue; }
		"$PKTFUSE" "$img" "$mnt" || { problem "$what: pktfuse cannot mount it"; continue; }
		for i in $(seq 1 2000); do : > "$mnt/f$i" || { problem "$what: file $i"; break; }; done
		mkdir "$mnt/dir" && echo grown > "$mnt/dir/x" || problem "$what: the directory"
		"$PKTFUSE" umount "$mnt" || problem "$what: pktfuse umount"
		"$PKTFUSE" check "$img" > "$W/check" 2>&1 || problem "$what: pktfuse check: $(tail -3 "$W/check")"
		kernel_lists "$img" "$what"
	done
fi
images=${KPART:-0}
kparts_lists
[ "$fails" -eq 0 ] || { echo "FAIL: $fails problems"; exit 1; }
echo "PASS: the kernel reads pktfuse's UDF 2.50/2.60 images ($images in one boot)"
