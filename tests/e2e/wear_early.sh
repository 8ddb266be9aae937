#!/usr/bin/env bash
# Media life: a packet nearing its rated overwrites moves to a spare of the sparing table before it
# fails, not after.  An emulated CD-RW whose packets fail after 60 overwrites (the drive's wear_limit),
# rated 50 for pktfuse (-o wear_rating=50: early moves at 45), takes 120 small files, each fsync'd with
# a file "hot" rewritten before (each commit rewrites hot's file entry in place; the root's entry moves
# since udf_move.c, so it no longer wears one packet): the hot packets move while they still write, the
# drive never reports a worn packet, no fsync fails, both sparing table copies record the moves and
# the wear record counts the spares' packets; the files read back after a remount; status says so.
. "$(dirname "$0")/lib.sh"
need_root
export XDG_STATE_HOME="$T/state"
img="$T/cd.img"
"$PKTFUSE" format "emu:cdrw:$img,size=64M" > /dev/null || fail "format"
N=$((64 * 1024 * 1024 / 2048))
t1=160
t2=$((N - 32))
files=120

start_pktfuse "emu:cdrw:$img,wear_limit=60,log=$T/drive.log" "$T/mnt" -o wear_rating=50
[ "$(stat_of "$T/mnt" wear_rated_overwrites)" = 50 ] || fail "rating: $(stat_of "$T/mnt" wear_rated_overwrites)"
for i in $(seq 1 $files); do
	echo "file $i" > "$T/mnt/f.$i"
	echo "$i" > "$T/mnt/hot"
	python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$T/mnt/f.$i" ||
		fail "fsync of file $i failed"
done
[ "$(stat_of "$T/mnt" write_errors)" = 0 ] ||
	fail "write errors: $(stat_of "$T/mnt" write_errors) (packets moved after failing: $(stat_of "$T/mnt" relocated_packets))"
max=$(stat_of "$T/mnt" emu_max_wear)
[ "$max" -lt 60 ] || fail "the drive's most written packet took $max writes: its limit was reached"
early=$(stat_of "$T/mnt" udf_moved_early_packets)
[ "${early:-0}" -ge 1 ] || fail "no packet moved early (udf_moved_early_packets: '$early')"
[ "$(stat_of "$T/mnt" worn_moved_packets)" = "$early" ] || fail "the cache moved $(stat_of "$T/mnt" worn_moved_packets), the engine recorded $early"
"$PKTFUSE" status "$T/mnt" | grep -q "^  moved:   $early worn packets\? moved to a spare before" ||
	fail "status does not say so: $("$PKTFUSE" status "$T/mnt")"
stop_pktfuse "$T/mnt"
if grep -q "sense=03/0C/00" "$T/drive.log"; then
	fail "the drive reported a worn packet: $(grep -m3 'sense=03/0C/00' "$T/drive.log")"
fi
awk '$1 == "op=2A" && $NF == "status=GOOD" && $4 != "rule=ok" { bad++ } END { exit bad > 0 }' "$T/drive.log" ||
	fail "a write broke the fixed-packet rules"
tab=$(sparing_table "$img" $t1)
[ "$tab" = "$(sparing_table "$img" $t2)" ] || fail "the copies differ: $tab / $(sparing_table "$img" $t2)"
moves=$(echo "$tab" | awk '{ print NF - 4 }')
[ "$moves" -ge 1 ] || fail "the sparing table records no move: $tab"
note "$early packet(s) moved early, the drive's most written packet took $max of its 60 writes; table: $tab"

# the wear record goes on counting at the spares: a spare's packet has writes in it
rec=$(ls "$XDG_STATE_HOME"/pktfuse/wear-* | grep -v '\.tmp$' | head -1)
spare_pkts=$(echo "$tab" | tr ' ' '\n' | awk -F'>' 'NF == 2 { print $2 / 32 }')
for p in $spare_pkts; do
	if awk -v p="$p" '$1 == "packet" && $2 == p && $3 > 0 { f = 1 } END { exit !f }' "$rec"; then counted=1; fi
done
[ -n "${counted:-}" ] || fail "no spare packet ($spare_pkts) in the wear record: $(head -12 "$rec")"

# a fresh mount (the drive's wear left as it is) reads every file
start_pktfuse "emu:cdrw:$img,wear_limit=60" "$T/mnt"
for i in $(seq 1 $files); do
	[ "$(cat "$T/mnt/f.$i")" = "file $i" ] || fail "file $i reads back '$(cat "$T/mnt/f.$i")'"
done
stop_pktfuse "$T/mnt"
udfinfo "$img" > "$T/ui" 2>&1 || fail "udfinfo: $(cat "$T/ui")"
grep -qx 'integrity=closed' "$T/ui" || fail "not closed: $(cat "$T/ui")"

# the spares kept for defects: with 9 of the 32 free, one early move leaves the 8 (a quarter) that
# early moves never take; the next worn packet stays until the drive fails it, and the defect path
# takes a kept spare: still no fsync fails
"$PKTFUSE" format "emu:cdrw:$img,size=64M" --force > /dev/null || fail "format again"
rm -rf "$XDG_STATE_HOME"
use_spares "$img" 23 $t1 $t2
[ "$(free_spares "$img" $t1)" = 9 ] || fail "table not prepared: $(free_spares "$img" $t1) free"
start_pktfuse "emu:cdrw:$img,wear_limit=60" "$T/mnt" -o wear_rating=50
for i in $(seq 1 $files); do
	echo "file $i" > "$T/mnt/f.$i"
	echo "$i" > "$T/mnt/hot"
	python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$T/mnt/f.$i" ||
		fail "with 9 spares free: fsync of file $i failed"
done
early=$(stat_of "$T/mnt" udf_moved_early_packets)
moved=$(stat_of "$T/mnt" udf_relocated_packets)
stop_pktfuse "$T/mnt"
left=$(free_spares "$img" $t1)
[ "$early" = 1 ] || fail "with 9 spares free, $early early moves (1 leaves the 8 kept)"
[ "$moved" -gt 1 ] && [ "$left" = $((9 - moved)) ] ||
	fail "$moved packets moved in all, $left spares left: the worn packet did not take a kept spare when it failed"
[ "$left" = "$(free_spares "$img" $t2)" ] || fail "the table copies differ: $left / $(free_spares "$img" $t2) free"
note "with 9 spares free: 1 early move, then $((moved - 1)) after failing into the kept ones ($left left)"
echo "PASS: worn packets moved to spares before they failed, the spares kept for defects left to them"
