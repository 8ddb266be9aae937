#!/usr/bin/env bash
# The writable files view under concurrent load (FUSE's worker threads over one engine): fio's
# random writes from four jobs with periodic fsync, verified after a remount; and four shells
# creating, renaming and deleting in a shared directory at once, with the result compared after a
# remount and the space of everything deleted returned.
. "$(dirname "$0")/lib.sh"
need_root
command -v fio > /dev/null || { echo "SKIP: fio is not installed"; exit $SKIP; }
img="$T/cd.img"
truncate -s 256M "$img"
"$PKTFUSE" format "$img" --media cdrw > /dev/null || fail "format"
free0=$(udfinfo "$img" | awk -F= '$1 == "freeblocks" { print $2 }')
start_pktfuse "$img" "$T/mnt" -o packet=32
fio --name=w --directory="$T/mnt" --numjobs=4 --size=8M --rw=randwrite --bs=4k --ioengine=psync \
	--verify=crc32c --verify_fatal=1 --fsync=64 --group_reporting > "$T/fio1" 2>&1 ||
	{ tail -20 "$T/fio1"; fail "fio random writes with verify"; }
for j in 0 1 2 3; do
	(
		mkdir -p "$T/mnt/shared" "$T/mnt/own$j"
		for i in $(seq 1 150); do
			echo "$j-$i" > "$T/mnt/shared/f$j-$i"
			echo "$i" > "$T/mnt/own$j/g$i"
			[ $((i % 3)) -eq 0 ] && mv "$T/mnt/shared/f$j-$i" "$T/mnt/own$j/moved$i"
			[ $((i % 5)) -eq 0 ] && rm "$T/mnt/own$j/g$i"
		done
	) &
done
wait
"$PKTFUSE" umount "$T/mnt"
check_closed() { grep -qx 'integrity=closed' <<< "$(udfinfo "$img" 2> /dev/null)" || fail "$1: the volume is not closed"; }
check_closed "after the load"
start_pktfuse "$img" "$T/mnt" -o packet=32
fio --name=w --directory="$T/mnt" --numjobs=4 --size=8M --rw=randread --bs=4k --ioengine=psync \
	--verify=crc32c --verify_only --verify_fatal=1 --group_reporting > "$T/fio2" 2>&1 ||
	{ tail -20 "$T/fio2"; fail "fio's data differs after a remount"; }
for j in 0 1 2 3; do
	for i in $(seq 1 150); do
		if [ $((i % 3)) -eq 0 ]; then
			[ "$(cat "$T/mnt/own$j/moved$i")" = "$j-$i" ] || fail "own$j/moved$i"
			[ ! -e "$T/mnt/shared/f$j-$i" ] || fail "shared/f$j-$i still there after its rename"
		else
			[ "$(cat "$T/mnt/shared/f$j-$i")" = "$j-$i" ] || fail "shared/f$j-$i"
		fi
		if [ $((i % 5)) -eq 0 ]; then
			[ ! -e "$T/mnt/own$j/g$i" ] || fail "own$j/g$i not deleted"
		else
			[ "$(cat "$T/mnt/own$j/g$i")" = "$i" ] || fail "own$j/g$i"
		fi
	done
done
[ "$(find "$T/mnt/shared" -type f | wc -l)" -eq 400 ] || fail "shared holds $(find "$T/mnt/shared" -type f | wc -l) files, not 400"
rm -rf "$T/mnt"/*
"$PKTFUSE" umount "$T/mnt"
check_closed "emptied"
free1=$(udfinfo "$img" | awk -F= '$1 == "freeblocks" { print $2 }')
[ "$free1" = "$free0" ] || fail "emptied: $free1 blocks free, $free0 when fresh"
echo "PASS: concurrent writers on the files view; $free0 blocks free again after emptying"
