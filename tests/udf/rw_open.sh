#!/usr/bin/env bash
# Open flags on the writable files view, through the kernel (rw_open.py): O_TRUNC (libfuse's atomic
# O_TRUNC hands it to the daemon's open), O_APPEND, O_EXCL, O_CREAT on an existing name, writing opens
# of a directory, O_DIRECTORY; the contents again after a remount; then a read-only mount, where
# O_TRUNC and writing opens give EROFS and the image does not change.  On a disc made by
# `pktfuse format` (UDF 2.01, plain) and on a sparable UDF 1.50 CD-RW layout.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
. "$(dirname "$0")/rwlib.sh"
need_udftools
PY="$T/rw_open.py"
cp "$(dirname "$0")/rw_open.py" "$PY"
cp "$(dirname "$0")/fscheck.py" "$T/"
mkdir -p "$T/mnt"

for layout in "hd 2.01" "cdrw 1.50"; do
	set -- $layout
	img="$T/open-$1.img"
	truncate -s 64M "$img"
	"$PKTFUSE" format "$img" --media "$1" --revision "$2" > /dev/null || fail "format $layout failed"
	start_pktfuse "$img" "$T/mnt"
	assert_rw "$T/mnt"
	python3 "$PY" flags "$T/mnt" "$T/state.json" || problem "$layout: open flags (see the lines above)"
	"$PKTFUSE" umount "$T/mnt"
	check_udfinfo "$img" "$layout: after the open flags" > /dev/null
	start_pktfuse "$img" "$T/mnt"
	python3 "$PY" after "$T/mnt" "$T/state.json" || problem "$layout: after a remount (see the lines above)"
	"$PKTFUSE" umount "$T/mnt"
	sum=$(sha256sum < "$img")
	start_pktfuse "$img" "$T/mnt" -o ro
	python3 "$PY" ro "$T/mnt" "$T/state.json" || problem "$layout: read-only mount (see the lines above)"
	"$PKTFUSE" umount "$T/mnt"
	[ "$(sha256sum < "$img")" = "$sum" ] || problem "$layout: the read-only mount changed the image"
	note "$layout: open flags checked, also after a remount and read-only"
done
finish "open flags on the files view"
