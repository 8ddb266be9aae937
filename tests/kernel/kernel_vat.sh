#!/usr/bin/env bash
# Write-once media: Debian's stock kernel (udf module, under qemu, tests/kernel/kudf.sh) mounts what
# pktfuse writes with a VAT and lists exactly the tree pktfuse's engine (udf_manifest) lists: a blank
# disc from `pktfuse format --media`, then the same image after several commits (udf_vat_write: the
# engine appending as the daemon does), then after more commits in a later run.  udfinfo (udftools)
# must accept each image too.  DVD-R, DVD+R, CD-R and BD-R (UDF 2.50) images; mkudffs's write-once
# images that pktfuse appended to; and (root, /dev/fuse) images written through the daemon's files
# view, and emulated CD-R, DVD-R, DVD+R and BD-R discs closed (finalized, or the session closed) at
# unmount.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PKTFUSE=${PKTFUSE:?}
UDF_MANIFEST=${UDF_MANIFEST:?}
UDF_VAT_WRITE=${UDF_VAT_WRITE:?}
command -v qemu-system-x86_64 > /dev/null || { echo "SKIP: qemu-system-x86 is not installed"; exit 77; }
W=$(mktemp -d)
mnt=
trap '[ -z "$mnt" ] || fusermount3 -u "$mnt" 2> /dev/null || true; rm -rf "$W"' EXIT
fails=0
problem() {
	echo "PROBLEM: $*"
	fails=$((fails + 1))
}

# kernel_lists IMG WHAT: the kernel's listing of IMG as it is now must be the engine's (checked for
# all images in one boot at the end: kparts_lists, tests/kernel/kudf_parts.sh)
. "$HERE/kudf_parts.sh"
kparts_init "$W"
kernel_lists() {
	local img=$1 what=$2
	"$UDF_MANIFEST" "$img" > "$W/want" 2> "$W/err" || { problem "$what: udf_manifest: $(head -2 "$W/err")"; return; }
	kparts_want "$W/want" "$what" "$img"
	if command -v udfinfo > /dev/null; then
		udfinfo "$img" > "$W/info" 2>&1 || { head -5 "$W/info"; problem "$what: udfinfo refuses it"; }
		grep -q '^vatblock=' "$W/info" || problem "$what: udfinfo finds no VAT"
	fi
}

seed=1
for media in dvdr dvd+r cdr bdr; do
	img=$W/$media.img
	"$PKTFUSE" format --media "$media" --uid 0 --gid 0 "$img" > /dev/null || { problem "$media: format failed"; continue; }
	kernel_lists "$img" "$media blank"
	"$UDF_VAT_WRITE" "$img" "$media" "$seed" 6 --append > /dev/null || { problem "$media: the commits failed"; continue; }
	kernel_lists "$img" "$media after 6 commits"
	"$UDF_VAT_WRITE" "$img" "$media" $((seed + 100)) 4 --append > /dev/null || { problem "$media: more commits failed"; continue; }
	kernel_lists "$img" "$media after 4 more commits"
	seed=$((seed + 1))
done
# BD-R at 2.60: its minimum read revision is 2.50, which Debian's 6.1 kernel (ceiling 2.50) mounts
img=$W/bdr-2.60.img
if "$PKTFUSE" format --media bdr --revision 2.60 --uid 0 --gid 0 "$img" > /dev/null &&
	"$UDF_VAT_WRITE" "$img" bdr 21 4 --append > /dev/null; then
	kernel_lists "$img" "bdr 2.60 after 4 commits"
else
	problem "bdr 2.60: the format or the commits failed"
fi
# mkudffs's write-once images, cut to their recorded part (what a dd of such a disc holds), appended to
if command -v mkudffs > /dev/null; then
	for media in dvdr cdr bdr; do
		img=$W/mk-$media.img
		truncate -s 100M "$img"
		mkudffs --media-type="$media" "$img" > /dev/null 2>&1 || { problem "mkudffs $media failed"; continue; }
		last=$(python3 -c 'import sys
d = open(sys.argv[1], "rb").read()
print(max(s for s in range(len(d) // 2048) if any(d[s * 2048:(s + 1) * 2048])))' "$img")
		truncate -s $(((last + 1) * 2048)) "$img"
		"$UDF_VAT_WRITE" "$img" "$media" 9 3 --append > /dev/null || { problem "mkudffs $media: pktfuse cannot append"; continue; }
		kernel_lists "$img" "mkudffs $media after 3 commits of pktfuse"
	done
fi

# through the daemon's files view: two sessions of copies, a directory, a rename and a deletion
if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ]; then
	SRC=$(cd "$HERE/../../core/udf" && pwd)
	mnt=$W/mnt
	mkdir -p "$mnt"
	for media in dvdr cdr bdr; do
		img=$W/fv-$media.img
		"$PKTFUSE" format --media "$media" --uid 0 --gid 0 "$img" > /dev/null || { problem "$media: format failed"; continue; }
		"$PKTFUSE" "$img" "$mnt" || { problem "$media: pktfuse cannot mount it"; continue; }
		mkdir "$mnt/src" && cp "$SRC"/*.c "$mnt/src/" && mv "$mnt/src/udf_vat.c" "$mnt/vat.c" && rm "$mnt/src/udf_dir.c"
		"$PKTFUSE" umount "$mnt" || problem "$media: pktfuse umount"
		"$PKTFUSE" "$img" "$mnt" || { problem "$media: pktfuse cannot mount it again"; continue; }
		mkdir "$mnt/src/more" && cp "$SRC"/*.h "$mnt/src/more/" && rm "$mnt/vat.c" && echo hi > "$mnt/hi"
		"$PKTFUSE" umount "$mnt" || problem "$media: the second pktfuse umount"
		kernel_lists "$img" "$media written through the files view in two sessions"
	done
	# closed at unmount in the emulator (CLOSE TRACK/SESSION): the disc's image, finalized or with its
	# session closed, is what a drive reads back
	for row in "cd-r finalize" "dvd-r finalize" "dvd+r finalize" "dvd-r session" "bd-r finalize"; do
		read -r p how <<< "$row"
		img=$W/closed-$p-$how.img
		"$PKTFUSE" format --uid 0 --gid 0 "emu:$p:$img,size=64M" > /dev/null || { problem "$p: format failed"; continue; }
		"$PKTFUSE" "emu:$p:$img" "$mnt" -o close=$how || { problem "$p: pktfuse cannot mount it with close=$how"; continue; }
		mkdir "$mnt/src" && cp "$SRC"/udf_vat.c "$SRC"/udf.h "$mnt/src/" && echo closed > "$mnt/closed"
		"$PKTFUSE" umount "$mnt" || problem "$p: pktfuse umount with close=$how"
		kernel_lists "$img" "$p closed at unmount (close=$how)"
	done
	# a CD-R directory of many packets: its runs skip the link blocks, each its own descriptor
	img=$W/bigdir-cd-r.img
	if "$PKTFUSE" format --uid 0 --gid 0 "emu:cd-r:$img,size=64M" > /dev/null && "$PKTFUSE" "emu:cd-r:$img" "$mnt"; then
		python3 -c 'import os, sys
os.mkdir(sys.argv[1] + "/big")
for i in range(2500):
    open(sys.argv[1] + "/big/a-rather-long-file-name-to-fill-the-directory-%05d" % i, "w").close()' "$mnt" ||
			problem "cd-r: 2500 names in one directory"
		"$PKTFUSE" umount "$mnt" || problem "cd-r big directory: pktfuse umount"
		kernel_lists "$img" "cd-r with a directory of 2500 names (many packets)"
	else
		problem "cd-r big directory: format or mount failed"
	fi
	# a commit cut short (its last write unit, the VAT's, never recorded): a mount and unmount
	# through pktfuse, with no change, record the VAT at the end again
	img=$W/torn.img
	"$PKTFUSE" format --media dvdr --uid 0 --gid 0 "$img" > /dev/null || problem "torn: format failed"
	"$UDF_VAT_WRITE" "$img" dvdr 3 3 --append > /dev/null && "$UDF_VAT_WRITE" "$img" dvdr 7 1 --append > /dev/null ||
		problem "torn: the commits failed"
	truncate -s $(($(stat -c %s "$img") - 16 * 2048)) "$img"
	if "$PKTFUSE" "$img" "$mnt" 2> "$W/note"; then
		"$PKTFUSE" umount "$mnt" || problem "torn: pktfuse umount"
		kernel_lists "$img" "dvdr after a torn commit and a pktfuse mount"
	else
		problem "torn: pktfuse cannot mount it: $(cat "$W/note")"
	fi
fi
images=${KPART:-0}
kparts_lists
[ "$fails" -eq 0 ] || { echo "FAIL: $fails problems"; exit 1; }
echo "PASS: the kernel reads pktfuse's write-once images (DVD-R, DVD+R, CD-R, BD-R; blank and after commits): $images images in one boot"
