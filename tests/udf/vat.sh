#!/usr/bin/env bash
# Images of write-once discs (UDF 2.01 with a VAT; BD-R 2.50), without the kernel:
#   - `pktfuse format --media dvdr|cdr|bdr` writes a blank disc's recorded part and no more: the image
#     ends with the VAT's file entry at the end of a write unit, and udfinfo finds the VAT there;
#   - commits appended by the engine (udf_vat_write) grow the image, udfinfo agrees with the engine;
#   - a commit whose tail never reached the disc (the image cut a write unit short of it): the engine
#     finds the previous VAT and shows the tree of the commit before, and takes commits after it;
#   - the files view (root and /dev/fuse) shows exactly the tree the engine reads, and copies,
#     directories, renames and deletions through it are appended at each unmount: a remount, the
#     engine, udfinfo and udfclient read them back.
set -euo pipefail
PKTFUSE=${PKTFUSE:?}
UDF_MANIFEST=${UDF_MANIFEST:?}
UDF_VAT_WRITE=${UDF_VAT_WRITE:?}
W=$(mktemp -d)
mnt=
cleanup() {
	[ -n "$mnt" ] && { "$PKTFUSE" umount "$mnt" 2> /dev/null || fusermount3 -u "$mnt" 2> /dev/null || true; }
	rm -rf "$W"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}
sectors() { echo $(($(stat -c %s "$1") / 2048)); }
SRC=$(cd "$(dirname "$0")/../../core/udf" && pwd)
. "$(dirname "$0")/rwlib.sh"

for media in dvdr cdr bdr; do
	unit=16
	[ "$media" = dvdr ] || unit=32
	img=$W/$media.img
	"$PKTFUSE" format --media "$media" --uid 0 --gid 0 --label "WO$media" "$img" > "$W/out" || fail "$media: format"
	n=$(sectors "$img")
	[ $((n % unit)) -eq 0 ] || fail "$media: the blank image has $n sectors, not whole units of $unit"
	[ "$n" -lt 600 ] || fail "$media: the blank image has $n sectors: more than its volume structures"
	if command -v udfinfo > /dev/null; then
		udfinfo "$img" > "$W/info" 2>&1 || { cat "$W/info"; fail "$media: udfinfo refuses the blank image"; }
		grep -qx "vatblock=$((n - 1))" "$W/info" || { cat "$W/info"; fail "$media: udfinfo finds no VAT in the last sector"; }
		grep -qx "label=WO$media" "$W/info" || fail "$media: udfinfo reads another label"
	fi
	[ "$("$UDF_MANIFEST" "$img")" = "D|.|755 0 0" ] || fail "$media: the blank disc's root is not empty"
	"$PKTFUSE" format --media "$media" "$img" > /dev/null 2>&1 && fail "$media: format replaced a written image without --force"

	"$UDF_VAT_WRITE" "$img" "$media" 3 5 --append > /dev/null || fail "$media: 5 commits"
	m5=$(sectors "$img")
	[ "$m5" -gt "$n" ] && [ $((m5 % unit)) -eq 0 ] || fail "$media: after 5 commits $m5 sectors (blank: $n)"
	"$UDF_MANIFEST" "$img" > "$W/five" || fail "$media: the engine cannot read 5 commits"
	[ "$(wc -l < "$W/five")" -gt 5 ] || fail "$media: 5 commits left $(wc -l < "$W/five") entries"
	if command -v udfinfo > /dev/null; then
		udfinfo "$img" > "$W/info" 2>&1 || { cat "$W/info"; fail "$media: udfinfo refuses the image after 5 commits"; }
		grep -qx "vatblock=$((m5 - 1))" "$W/info" || fail "$media: udfinfo finds no VAT at the end after 5 commits"
		files=$(grep -c '^F|' "$W/five" || true)
		grep -qx "numfiles=$files" "$W/info" || { grep numfiles "$W/info"; fail "$media: udfinfo counts other than $files files"; }
	fi

	# one more commit, whose last write unit (the VAT's) never reached the disc
	"$UDF_VAT_WRITE" "$img" "$media" 7 1 --append > /dev/null || fail "$media: the 6th commit" # seed 7: a commit of many units
	m6=$(sectors "$img")
	[ $((m6 - m5)) -gt "$unit" ] || fail "$media: the 6th commit fits in one write unit: nothing left of it to walk back over"
	truncate -s $(((m6 - unit) * 2048)) "$img"
	"$UDF_MANIFEST" "$img" > "$W/torn" || fail "$media: the engine cannot read the disc after a torn commit"
	diff -u "$W/five" "$W/torn" || fail "$media: after a torn commit the tree is not the previous commit's"
	"$UDF_VAT_WRITE" "$img" "$media" 5 2 --append > /dev/null || fail "$media: commits after the torn one"
	"$UDF_MANIFEST" "$img" > "$W/after" || fail "$media: the engine cannot read the commits after the torn one"
	[ "$(wc -l < "$W/after")" -gt "$(wc -l < "$W/five")" ] || fail "$media: the commits after the torn one added nothing"
	echo "ok: $media: blank $n sectors, 5 commits $m5, a torn commit survived, $(wc -l < "$W/after") entries"

	# the files view shows what the engine reads, and writes: each unmount appends a commit
	if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ]; then
		mnt=$W/mnt
		mkdir -p "$mnt"
		"$PKTFUSE" "$img" "$mnt" > "$W/mount.out" 2>&1 || { cat "$W/mount.out"; fail "$media: pktfuse cannot mount the image"; }
		grep -q " $mnt fuse.pktfuse rw," /proc/mounts || fail "$media: the files view is not mounted read-write"
		corpus_list "$mnt" > "$W/view"
		diff -u "$W/after" "$W/view" || fail "$media: the files view shows another tree than the engine"
		before=$(sectors "$img")
		mkdir "$mnt/src" "$mnt/src/sub"
		cp "$SRC"/*.c "$mnt/src/"
		echo hello > "$mnt/src/sub/h"
		mv "$mnt/src/udf_vat.c" "$mnt/src/sub/moved.c"
		rm "$mnt/src/udf_dir.c"
		first=$(ls "$mnt" | grep -v '^src$' | head -1)
		[ -z "$first" ] || rm -rf "${mnt:?}/$first"
		corpus_list "$mnt" > "$W/written"
		"$PKTFUSE" umount "$mnt" || fail "$media: pktfuse umount"
		[ "$(sectors "$img")" -gt "$before" ] || fail "$media: the unmount appended nothing"
		"$PKTFUSE" "$img" "$mnt" > "$W/mount.out" 2>&1 || { cat "$W/mount.out"; fail "$media: pktfuse cannot mount it again"; }
		cmp "$SRC/udf_vat.c" "$mnt/src/sub/moved.c" || fail "$media: a copied file differs"
		corpus_list "$mnt" > "$W/again"
		cp "$SRC/udf_dir.c" "$mnt/src/back.c"
		corpus_list "$mnt" > "$W/written2"
		"$PKTFUSE" umount "$mnt" || fail "$media: the second pktfuse umount"
		mnt=
		diff -u "$W/written" "$W/again" || fail "$media: after a remount the files view shows another tree"
		"$UDF_MANIFEST" "$img" > "$W/engine" || fail "$media: the engine cannot read what the files view wrote"
		diff -u "$W/written2" "$W/engine" || fail "$media: the engine reads another tree than the files view wrote"
		if command -v udfinfo > /dev/null; then
			udfinfo "$img" > "$W/info" 2>&1 || { cat "$W/info"; fail "$media: udfinfo refuses what the files view wrote"; }
			grep -qx "vatblock=$(($(sectors "$img") - 1))" "$W/info" || fail "$media: udfinfo finds no VAT at the end"
		fi
		echo "ok: $media: the files view wrote $(wc -l < "$W/written2") entries in two sessions, $(sectors "$img") sectors"
		# udfclient (another implementation, with its own VAT reader) gets the same bytes
		if command -v udfclient > /dev/null; then
			vol=$(printf 'ls\nquit\n' | udfclient -b 2048 "$img" 2> /dev/null | awk '/^d/ && $5 != "." && $5 != ".." {print $5; exit}')
			[ -n "$vol" ] || fail "$media: udfclient shows no volume"
			mkdir -p "$W/uc"
			printf 'lcd %s\ncd /%s/src/sub\nget moved.c\ncd /%s/src\nget back.c\nquit\n' "$W/uc" "$vol" "$vol" |
				timeout 120 udfclient -b 2048 "$img" > "$W/uc.log" 2>&1 || { tail "$W/uc.log"; fail "$media: udfclient failed"; }
			cmp "$SRC/udf_vat.c" "$W/uc/moved.c" && cmp "$SRC/udf_dir.c" "$W/uc/back.c" ||
				fail "$media: udfclient reads other bytes"
			rm -rf "$W/uc"
			echo "ok: $media: udfclient reads the files back"
		fi
	fi
done

# BD-R: UDF 2.50 (and --revision 2.60, whose minimum read revision is 2.50) with a VAT, the fields
# udfinfo reads the same as on mkudffs's BD-R image of that revision; file entries are EFEs, as
# mkudffs writes them; pktfuse appends to mkudffs's images (cut to their recorded part).
tag_at() { python3 -c 'import sys; d = open(sys.argv[1], "rb"); d.seek(int(sys.argv[2]) * 2048); b = d.read(2); print(b[0] | b[1] << 8)' "$1" "$2"; }
if command -v udfinfo > /dev/null && command -v mkudffs > /dev/null; then
	for rev in 2.50 2.60; do
		img=$W/bdr-$rev.img mk=$W/mk-bdr-$rev.img
		"$PKTFUSE" format --media bdr --revision "$rev" "$img" > /dev/null || fail "bdr $rev: format"
		truncate -s 100M "$mk"
		mkudffs --media-type=bdr --udfrev="$rev" "$mk" > /dev/null 2>&1 || fail "bdr $rev: mkudffs"
		mkvat=$(udfinfo "$mk" 2>/dev/null | sed -n 's/^vatblock=//p')
		[ -n "$mkvat" ] || mkvat=$(udfinfo --vatblock=319 "$mk" 2>/dev/null | sed -n 's/^vatblock=//p')
		[ -n "$mkvat" ] || fail "bdr $rev: no VAT in mkudffs's image"
		truncate -s $(((mkvat + 1) * 2048)) "$mk"
		keys='^(blocksize|udfrev|udfwriterev|accesstype|numfiles|numdirs|integrity|label)='
		udfinfo "$img" 2> /dev/null | grep -E "$keys" > "$W/ours" || fail "bdr $rev: udfinfo refuses pktfuse's image"
		udfinfo "$mk" 2> /dev/null | grep -E "$keys" > "$W/theirs"
		diff -u "$W/theirs" "$W/ours" || fail "bdr $rev: udfinfo reads other fields than on mkudffs's image"
		grep -qx "udfrev=2.50" "$W/ours" || fail "bdr $rev: a minimum read revision above 2.50"
		grep -qx "udfwriterev=$rev" "$W/ours" || fail "bdr $rev: not written as $rev"
		n=$(sectors "$img")
		[ "$(tag_at "$img" $((n - 1)))" = 266 ] || fail "bdr $rev: the VAT is not an EFE"
		"$UDF_VAT_WRITE" "$img" bdr 4 3 --append > /dev/null || fail "bdr $rev: commits on pktfuse's image"
		"$UDF_VAT_WRITE" "$mk" bdr 4 3 --append > /dev/null || fail "bdr $rev: commits on mkudffs's image"
		for i in "$img" "$mk"; do
			"$UDF_MANIFEST" "$i" > "$W/m" || fail "bdr $rev: the engine cannot read $(basename "$i") after commits"
			udfinfo "$i" > "$W/info" 2>&1 || fail "bdr $rev: udfinfo refuses $(basename "$i") after commits"
			grep -qx "vatblock=$(($(sectors "$i") - 1))" "$W/info" || fail "bdr $rev: no VAT at the end of $(basename "$i")"
			grep -qx "numfiles=$(grep -c '^F|' "$W/m")" "$W/info" || fail "bdr $rev: udfinfo counts other files"
			grep -qx "udfwriterev=$rev" "$W/info" || fail "bdr $rev: the commits changed the revision"
		done
		echo "ok: bdr $rev: as mkudffs's (udfinfo), EFEs, commits on pktfuse's and mkudffs's images"
	done
	rc=0
	"$PKTFUSE" format --media bdr --revision 2.01 "$W/bdr-201.img" > /dev/null 2> "$W/err" || rc=$?
	[ "$rc" -eq 2 ] && grep -q "BD-R takes 2.50" "$W/err" && [ ! -s "$W/bdr-201.img" ] ||
		fail "bdr --revision 2.01: exit $rc: $(cat "$W/err")"
	# mkudffs's image of a whole disc (zeros after its VAT, no room after the end): read-only with
	# the reason, and the unmount has nothing to fail at
	if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ]; then
		for media in dvdr bdr; do
			img=$W/whole-$media.img
			truncate -s 32M "$img"
			mkudffs --media-type=$media "$img" > /dev/null 2>&1 || fail "whole $media: mkudffs"
			sum=$(sha256sum < "$img")
			mnt=$W/mnt
			"$PKTFUSE" "$img" "$mnt" > "$W/mount.out" 2>&1 || { cat "$W/mount.out"; fail "whole $media: not mounted"; }
			grep -q "full.*read-only" "$W/mount.out" || fail "whole $media: no reason: $(cat "$W/mount.out")"
			grep -q " $mnt fuse.pktfuse ro," /proc/mounts || fail "whole $media: not mounted read-only"
			"$PKTFUSE" umount "$mnt" > "$W/umount.out" 2>&1 || { cat "$W/umount.out"; fail "whole $media: the unmount failed"; }
			mnt=
			[ "$(sha256sum < "$img")" = "$sum" ] || fail "whole $media: the image changed"
			echo "ok: whole $media disc image by mkudffs: read-only (full), unchanged"
		done
	fi
fi
echo "PASS: write-once images: format, commits, a torn commit, udfinfo and the files view agree"
