#!/usr/bin/env bash
# Media life: a packet nearing its rated overwrites moves to a spare of the sparing table before it
# fails, not after.  An emulated CD-RW whose packets fail after 60 overwrites (the drive's wear_limit),
# rated 50 for pktfuse (-o wear_rating=50: early moves at 45), takes 120 small files, each fsync'd with
# a FIFO "hot" whose mode changes before (each commit rewrites hot's file entry in place: only
# directories' and regular files' entries move, udf_move.c, so the root's and a regular file's no
# longer wear one packet): the hot packets move while they still write, the
# drive never reports a worn packet, no fsync fails, both sparing table copies record the moves and
# the wear record counts the spares' packets; the files read back after a remount; status says so.
# Then file data that only the background flusher writes (no commit between): its worn packet waits
# for the fsync's barrier and moves early too, where the flusher would have written it in place; on
# a DVD+RW (no sparing table, nothing to move it) the flusher writes it at its dirty age as ever.
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
mkfifo "$T/mnt/hot" || fail "mkfifo"
for i in $(seq 1 $files); do
	echo "file $i" > "$T/mnt/f.$i"
	chmod $((i % 2 ? 600 : 644)) "$T/mnt/hot"
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
mkfifo "$T/mnt/hot" || fail "mkfifo"
for i in $(seq 1 $files); do
	echo "file $i" > "$T/mnt/f.$i"
	chmod $((i % 2 ? 600 : 644)) "$T/mnt/hot"
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
# file data that the background flusher writes between commits (dirty_age 0.2 s, commits every
# 3600 s): overwritten again and again, its packet is written in place until it is worn (45 writes);
# from then on the flusher leaves it dirty however old, for the fsync's barrier moves it to a spare.
# Written in place instead, the drive would fail it at its 61st write.
"$PKTFUSE" format "emu:cdrw:$img,size=64M" --force > /dev/null || fail "format for the data row"
rm -rf "$XDG_STATE_HOME"
start_pktfuse "emu:cdrw:$img,wear_limit=60,log=$T/drive2.log" "$T/mnt" -o wear_rating=50 -o dirty_age=0.2 -o commit=3600
head -c 2048 /dev/urandom > "$T/data.0"
cp "$T/data.0" "$T/mnt/data"
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$T/mnt/data" || fail "first fsync"
early0=$(stat_of "$T/mnt" udf_moved_early_packets)
# overwrite 1 2048-byte block of the data file in place (no fsync) with a new pattern
overwrite() { head -c 2048 /dev/urandom > "$T/data.0"; dd if="$T/data.0" of="$T/mnt/data" bs=2048 conv=notrunc status=none; }
# wait_clean SECONDS: 0 once the cache holds nothing dirty, 1 after SECONDS
wait_clean() {
	local end=$((SECONDS + $1))
	while [ "$(stat_of "$T/mnt" dirty_packets)" != 0 ]; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
for i in $(seq 1 60); do
	[ "$(stat_of "$T/mnt" wear_max_packet_writes)" -lt 45 ] || break
	overwrite
	wait_clean 60 || fail "overwrite $i: the flusher did not write data below its wear limit"
done
[ "$(stat_of "$T/mnt" wear_max_packet_writes)" -ge 45 ] || fail "the data packet never wore: $(stat_of "$T/mnt" wear_max_packet_writes) writes"
for i in $(seq 1 20); do # worn now: 20 more overwrites, each left a second to be written
	overwrite
	wait_clean 1 || true
done
[ "$(stat_of "$T/mnt" dirty_packets)" -ge 1 ] || fail "the worn data packet was written in place"
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$T/mnt/data" || fail "fsync of the worn data failed"
[ "$(stat_of "$T/mnt" write_errors)" = 0 ] ||
	fail "data row: write errors: $(stat_of "$T/mnt" write_errors) (moved after failing: $(stat_of "$T/mnt" relocated_packets))"
early=$(stat_of "$T/mnt" udf_moved_early_packets)
[ "$early" -gt "$early0" ] || fail "the worn data packet did not move early ($early0 before the fsync, $early after)"
"$PKTFUSE" status "$T/mnt" | grep -q "^  moved:   $early worn packets\? moved to a spare before" ||
	fail "data row: status does not say so: $("$PKTFUSE" status "$T/mnt")"
max=$(stat_of "$T/mnt" emu_max_wear)
stop_pktfuse "$T/mnt"
[ "$max" -lt 60 ] || fail "data row: the drive's most written packet took $max writes"
start_pktfuse "emu:cdrw:$img,wear_limit=60" "$T/mnt"
cmp "$T/data.0" "$T/mnt/data" || fail "the data file does not read back as last written"
stop_pktfuse "$T/mnt"
note "data row: the worn data packet was left to the barrier and moved early ($early early moves), the drive's most written packet took $max writes"
# no sparing table (a DVD+RW's plain partition): nothing moves a worn packet, so the flusher keeps
# none back and writes the worn data packet at its dirty age as ever, not at the next commit
"$PKTFUSE" format "emu:dvd+rw:$T/dvd.img,size=64M" > /dev/null || fail "format the DVD+RW"
rm -rf "$XDG_STATE_HOME"
start_pktfuse "emu:dvd+rw:$T/dvd.img" "$T/mnt" -o wear_rating=50 -o dirty_age=0.2 -o commit=3600
cp "$T/data.0" "$T/mnt/data"
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$T/mnt/data" || fail "DVD+RW: fsync"
for i in $(seq 1 50); do # past the 45 writes that make it worn
	overwrite
	wait_clean 60 || fail "DVD+RW overwrite $i ($(stat_of "$T/mnt" wear_max_packet_writes) writes): the flusher kept it back"
done
[ "$(stat_of "$T/mnt" wear_max_packet_writes)" -ge 50 ] || fail "DVD+RW: $(stat_of "$T/mnt" wear_max_packet_writes) writes"
[ "$(stat_of "$T/mnt" write_errors)" = 0 ] || fail "DVD+RW: write errors: $(stat_of "$T/mnt" write_errors)"
stop_pktfuse "$T/mnt"
echo "PASS: worn packets moved to spares before they failed, the spares kept for defects left to them"
