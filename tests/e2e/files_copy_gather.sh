#!/usr/bin/env bash
# A copy of many small files into the files view of an emulated CD-RW, then sync: the engine tells
# the cache which blocks of the packets it writes are free (or taken and not yet written), so the
# cache writes zeros there instead of reading them back from the disc first.  On a real drive each
# such read is a seek (100-200 ms).  `pktfuse status --raw` counts what was gathered; the tree must
# read back the same after a remount.
. "$(dirname "$0")/lib.sh"
need_root
NFILES=${NFILES:-300}

mkdir -p "$T/src/sub" "$T/mnt"
for i in $(seq 1 "$NFILES"); do
	d="$T/src"
	[ $((i % 3)) = 0 ] && d="$T/src/sub"
	head -c $(( (i * 7919) % 6000 )) /dev/urandom > "$d/f$i"
done
img="$T/cdrw.img"
S="emu:cdrw:$img,size=80M"
"$PKTFUSE" format "$S" > "$T/format.out" 2>&1 || fail "pktfuse format: $(cat "$T/format.out")"
start_pktfuse "$S" "$T/mnt"
"$PKTFUSE" status --raw "$T/mnt" > "$T/before"
cp -r "$T/src" "$T/mnt/copy" || fail "cp -r failed"
sync "$T/mnt/copy/f1" || fail "sync failed" # fsync: the commit
"$PKTFUSE" status --raw "$T/mnt" > "$T/after"
v() { awk -F': ' -v k="$2" '$1 == k { n = $2 } END { print n + 0 }' "$1"; }
gathered=$(( $(v "$T/after" gather_read_sectors) - $(v "$T/before" gather_read_sectors) ))
reads=$(( $(v "$T/after" gather_read_commands) - $(v "$T/before" gather_read_commands) ))
zeros=$(( $(v "$T/after" unused_zero_sectors) - $(v "$T/before" unused_zero_sectors) ))
note "$NFILES files copied: $gathered sectors gathered in $reads reads, $zeros sectors zeros instead"
"$PKTFUSE" umount "$T/mnt"
start_pktfuse "emu:cdrw:$img" "$T/mnt"
diff -r "$T/src" "$T/mnt/copy" > "$T/diff" || { head "$T/diff"; fail "the copy differs after remount"; }
"$PKTFUSE" umount "$T/mnt"
# near 0: a packet of blocks in use that nothing rewrote (the volume's own structures) may still be
# gathered once
[ "$reads" -le 4 ] || fail "$reads gather reads for the copy (want at most 4)"
[ "$zeros" -gt 0 ] || fail "no sector was filled with zeros instead of gathered"
echo "PASS: a copy of $NFILES small files gathered $gathered sectors in $reads reads"
