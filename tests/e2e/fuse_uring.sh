#!/usr/bin/env bash
# FUSE over io_uring (fuse/fuse_uring.c): with the fuse module's enable_uring=Y, bench/fuse_floor
# --uring and the files view's -o io_uring serve a copied tree (and its fsyncs, which the files view
# answers from its committer's thread) through the ring, counted by the ring itself, and read it
# back the same; the files view uses the ring without the option too, and not with -o no_io_uring;
# with enable_uring=N both fall back to /dev/fuse, -o io_uring saying so, the default silent.  The
# parameter is global: it is set for this test only and restored on exit, and the test runs alone
# (RUN_SERIAL), as every files view mounted meanwhile would take the ring.
# Counts, not times: nothing here depends on the machine's speed or load.
# Usage: fuse_uring.sh FUSE_FLOOR
. "$(dirname "$0")/lib.sh"
FLOOR=${1:?usage: fuse_uring.sh FUSE_FLOOR}
need_root
PARAM=/sys/module/fuse/parameters/enable_uring
[ -e "$PARAM" ] || { echo "SKIP: no $PARAM (a kernel without FUSE over io_uring)"; exit "$SKIP"; }
old_param=$(cat "$PARAM")
trap 'echo "$old_param" > "$PARAM"; cleanup' EXIT

make_tree "$T/src" uring
rm "$T/src/a/b/link" # fuse_floor makes no symbolic links
files=$(find "$T/src" -type f | wc -l)
tree_sums "$T/src" > "$T/want"

# floor_copy MODE: copies the tree into fuse_floor --uring with enable_uring=MODE and reads it back;
# leaves the floor's stdout (its counts) in $T/floor-MODE.out, its stderr in $T/floor-MODE.err
floor_copy() {
	local mode=$1 mnt=$T/floor-$1 pid
	echo "$mode" > "$PARAM"
	mkdir -p "$mnt"
	"$FLOOR" --uring "$mnt" > "$T/floor-$mode.out" 2> "$T/floor-$mode.err" &
	pid=$!
	_pids+=("$pid")
	for _ in $(seq 100); do is_mounted "$mnt" && break; sleep 0.1; done
	is_mounted "$mnt" || { cat "$T/floor-$mode.err"; fail "fuse_floor --uring did not mount ($mode)"; }
	_mounts+=("$mnt")
	cp -r "$T/src" "$mnt/copy" || fail "cp -r into fuse_floor --uring failed ($mode)"
	sync "$mnt/copy/a/file1" || fail "sync FILE on fuse_floor --uring failed ($mode)"
	tree_sums "$mnt/copy" > "$T/got"
	diff -u "$T/want" "$T/got" || fail "the tree read back from fuse_floor --uring differs ($mode)"
	fusermount3 -u "$mnt" || fail "fusermount3 -u failed ($mode)"
	_mounts=()
	wait "$pid" || { cat "$T/floor-$mode.err"; fail "fuse_floor --uring exited with an error ($mode)"; }
	_pids=()
}

# served OUT: the ring's count in fuse_floor's "uring_requests N queues Q" line
served() { awk '$1 == "uring_requests" { print $2 }' "$1"; }

# --- the ring in use ---
floor_copy Y
n=$(served "$T/floor-Y.out")
queues=$(awk '$1 == "uring_requests" { print $4 }' "$T/floor-Y.out")
creates=$(grep -o 'CREATE=[0-9]*' "$T/floor-Y.out" | cut -d= -f2)
# once the ring is registered the kernel sends every request but FORGET and INTERRUPT through it,
# and the copy starts after: at least one CREATE per file was served by the ring
[ "${n:-0}" -ge "$files" ] || fail "fuse_floor --uring served ${n:-no} requests by the ring for $files files: $(cat "$T/floor-Y.out" "$T/floor-Y.err")"
[ "${queues:-0}" -ge 1 ] || fail "fuse_floor --uring registered ${queues:-no} queues"
[ "${creates:-0}" -eq "$files" ] || fail "fuse_floor counted ${creates:-no} CREATE for $files files: $(cat "$T/floor-Y.out")"
! grep -q 'not in use' "$T/floor-Y.err" || fail "fuse_floor --uring fell back with enable_uring=Y: $(cat "$T/floor-Y.err")"
note "floor, enable_uring=Y: $(tail -1 "$T/floor-Y.out")"

echo Y > "$PARAM"
truncate -s 64M "$T/disc.img"
"$PKTFUSE" format "$T/disc.img" > /dev/null || fail "format"
start_pktfuse "$T/disc.img" "$T/mnt" -o io_uring
cp -r "$T/src" "$T/mnt/copy" || fail "cp -r into the files view -o io_uring failed"
sync "$T/mnt/copy/a/file1" || fail "sync FILE on the files view -o io_uring failed"
# fsync: answered by the committer's thread after its commit, after the handler returned
python3 - "$T/mnt/copy" << 'EOF' || fail "fsync on the files view -o io_uring"
import os, sys
for i in range(5):
    fd = os.open(f"{sys.argv[1]}/fsynced{i}", os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"fsynced %d\n" % i)
    os.fsync(fd)
    os.close(fd)
EOF
ring=$(stat_of "$T/mnt" fuse_uring)
[ -n "$ring" ] || fail "no fuse_uring line in the statistics of the files view -o io_uring"
ring_n=${ring%% requests*}
[ "$ring_n" -ge "$files" ] || fail "the files view's ring served $ring_n requests for $files files"
fsyncs=$(stat_of "$T/mnt" fuse_requests | grep -o 'FSYNC=[0-9]*' | cut -d= -f2)
[ "${fsyncs:-0}" -ge 5 ] || fail "the files view counted ${fsyncs:-no} FSYNC for 5 fsyncs"
for i in $(seq 0 4); do
	[ "$(cat "$T/mnt/copy/fsynced$i")" = "fsynced $i" ] || fail "fsynced$i reads back wrong"
	rm "$T/mnt/copy/fsynced$i"
done
note "files view, enable_uring=Y: fuse_uring: $ring"

# A requester that moves to another CPU before each request (sched_setaffinity) reaches another
# queue each time: every request but its first counts as from a requester that moved, and a queue
# thread lingers after such a request (-o uring_linger, default 300 µs); with uring_linger=0 none
# does.  Each request is a LOOKUP of a name not seen before (a missing name's negative entry would
# keep the next stat of it in the kernel).
# mover_requests MOUNTPOINT TAG: 60 such lookups from one thread, alternating between two CPUs
mover_requests() {
	python3 - "$1" "$2" << 'EOF'
import os, sys
cpus = sorted(os.sched_getaffinity(0))[:2]
for i in range(60):
    os.sched_setaffinity(0, {cpus[i % 2]})
    try:
        os.stat(f"{sys.argv[1]}/missing-{sys.argv[2]}-{i}")
    except FileNotFoundError:
        pass
EOF
}
# ring_field MOUNTPOINT WORDS: the number before WORDS in the fuse_uring line
ring_field() { stat_of "$1" fuse_uring | grep -o "[0-9]* $2" | cut -d' ' -f1; }
two_cpus=$(python3 -c 'import os; print(int(len(os.sched_getaffinity(0)) >= 2))')
if [ "$two_cpus" = 1 ]; then
	m0=$(ring_field "$T/mnt" "from requesters")
	l0=$(ring_field "$T/mnt" lingers)
	mover_requests "$T/mnt" linger
	m1=$(ring_field "$T/mnt" "from requesters")
	l1=$(ring_field "$T/mnt" lingers)
	[ $((m1 - m0)) -ge 59 ] || fail "60 requests from a thread that changed CPU before each: $((m1 - m0)) counted as moved ($(stat_of "$T/mnt" fuse_uring))"
	[ $((l1 - l0)) -ge 1 ] || fail "no queue thread lingered after $((m1 - m0)) requests from a requester that moved"
	note "a requester moving before each of 60 requests: $((m1 - m0)) moved, $((l1 - l0)) lingers"
fi
stop_pktfuse "$T/mnt"
_mounts=()
_pids=()
if [ "$two_cpus" = 1 ]; then
	start_pktfuse "$T/disc.img" "$T/mnt" -o io_uring,uring_linger=0
	mover_requests "$T/mnt" nolinger
	m1=$(ring_field "$T/mnt" "from requesters")
	l1=$(ring_field "$T/mnt" lingers)
	[ "${m1:-0}" -ge 59 ] || fail "uring_linger=0: 60 requests from a moving thread, ${m1:-no} counted as moved"
	[ "$l1" = 0 ] || fail "uring_linger=0: a queue thread lingered ($l1)"
	stop_pktfuse "$T/mnt"
	_mounts=()
	_pids=()
else
	note "one CPU: the moving requester's part is left out"
fi
# the ring is the files view's default where the kernel offers it; -o no_io_uring keeps to /dev/fuse
start_pktfuse "$T/disc.img" "$T/mnt"
[ -n "$(stat_of "$T/mnt" fuse_uring)" ] || fail "enable_uring=Y: a mount without options does not use the ring"
[ "$(stat_of "$T/mnt" fuse_transport)" = io_uring ] || fail "enable_uring=Y: fuse_transport $(stat_of "$T/mnt" fuse_transport)"
"$PKTFUSE" status "$T/mnt" | grep -qE '^  fuse: +over io_uring, [1-9][0-9]* queues$' ||
	fail "enable_uring=Y: pktfuse status does not say the ring serves: $("$PKTFUSE" status "$T/mnt")"
stop_pktfuse "$T/mnt"
_mounts=()
_pids=()
start_pktfuse "$T/disc.img" "$T/mnt" -o no_io_uring
tree_sums "$T/mnt/copy" > "$T/got"
diff -u "$T/want" "$T/got" || fail "the tree written through the ring reads back differently over /dev/fuse"
[ -z "$(stat_of "$T/mnt" fuse_uring)" ] || fail "-o no_io_uring: the mount has a fuse_uring line: $(stat_of "$T/mnt" fuse_uring)"
"$PKTFUSE" status "$T/mnt" | grep -qxF '  fuse:    over /dev/fuse: -o no_io_uring' ||
	fail "-o no_io_uring: pktfuse status does not say why /dev/fuse serves: $("$PKTFUSE" status "$T/mnt")"
stop_pktfuse "$T/mnt"
_mounts=()
_pids=()
out=$("$PKTFUSE" -o io_uring,no_io_uring "$T/disc.img" "$T/mnt" 2>&1) && fail "-o io_uring,no_io_uring mounted"
[[ $out == *"contradict"* ]] || fail "-o io_uring,no_io_uring: $out"
# what the ring carried is on the medium: read back with the kernel not offering the ring, and then
# the default says nothing of it
echo N > "$PARAM"
mkdir -p "$T/mnt"
"$PKTFUSE" -f "$T/disc.img" "$T/mnt" 2> "$T/default.err" &
_pids+=("$!")
for _ in $(seq 100); do [ -n "$(stat_of "$T/mnt" daemon_pid 2> /dev/null)" ] && break; sleep 0.1; done
_mounts+=("$T/mnt")
tree_sums "$T/mnt/copy" > "$T/got"
diff -u "$T/want" "$T/got" || fail "the tree written through the ring reads back differently after a remount"
[ -z "$(stat_of "$T/mnt" fuse_uring)" ] || fail "enable_uring=N: a mount has a fuse_uring line"
[ "$(stat_of "$T/mnt" fuse_transport)" = /dev/fuse ] || fail "enable_uring=N: fuse_transport $(stat_of "$T/mnt" fuse_transport)"
[[ $(stat_of "$T/mnt" fuse_transport_why) == "the kernel does not offer FUSE over io_uring (the fuse module's enable_uring is N;"* ]] ||
	fail "enable_uring=N: fuse_transport_why $(stat_of "$T/mnt" fuse_transport_why)"
fusermount3 -u "$T/mnt" || fail "fusermount3 -u failed (default, enable_uring=N)"
_mounts=()
wait "${_pids[0]}" || { cat "$T/default.err"; fail "pktfuse -f exited with an error (default, enable_uring=N)"; }
_pids=()
! grep -q 'io_uring' "$T/default.err" || fail "enable_uring=N, no -o io_uring: the log speaks of it: $(cat "$T/default.err")"

# --- the kernel refuses: the fallback ---
floor_copy N
[ "$(served "$T/floor-N.out")" = 0 ] || fail "fuse_floor --uring with enable_uring=N: $(cat "$T/floor-N.out")"
grep -q 'not in use' "$T/floor-N.err" || fail "fuse_floor --uring did not say it fell back: $(cat "$T/floor-N.err")"

rm -f "$T/disc.img"
truncate -s 64M "$T/disc.img"
"$PKTFUSE" format "$T/disc.img" > /dev/null || fail "format"
mkdir -p "$T/mnt"
# in the foreground, so that its log line is seen
"$PKTFUSE" -f -o io_uring "$T/disc.img" "$T/mnt" 2> "$T/fg.err" &
fg=$!
_pids+=("$fg")
for _ in $(seq 100); do [ -n "$(stat_of "$T/mnt" daemon_pid 2> /dev/null)" ] && break; sleep 0.1; done
[ -n "$(stat_of "$T/mnt" daemon_pid)" ] || { cat "$T/fg.err"; fail "pktfuse -f -o io_uring did not mount with enable_uring=N"; }
_mounts+=("$T/mnt")
cp -r "$T/src" "$T/mnt/copy" || fail "cp -r into the files view -o io_uring failed with enable_uring=N"
sync "$T/mnt/copy/a/file1" || fail "sync FILE failed with enable_uring=N"
tree_sums "$T/mnt/copy" > "$T/got"
diff -u "$T/want" "$T/got" || fail "the tree read back from the files view (fallback) differs"
[ -z "$(stat_of "$T/mnt" fuse_uring)" ] || fail "the fallback has a fuse_uring line: $(stat_of "$T/mnt" fuse_uring)"
[[ $(stat_of "$T/mnt" fuse_transport_why) == "the kernel does not offer FUSE over io_uring"* ]] ||
	fail "-o io_uring, enable_uring=N: fuse_transport_why $(stat_of "$T/mnt" fuse_transport_why)"
grep -q 'io_uring' "$T/fg.err" || fail "the daemon did not log its fallback: $(cat "$T/fg.err")"
[ "$(grep -c 'io_uring' "$T/fg.err")" = 1 ] || fail "the fallback took more than one log line: $(cat "$T/fg.err")"
fusermount3 -u "$T/mnt" || fail "fusermount3 -u failed (fallback)"
_mounts=()
wait "$fg" || { cat "$T/fg.err"; fail "pktfuse -f -o io_uring exited with an error (fallback)"; }
_pids=()
note "fallback: $(grep io_uring "$T/fg.err")"
echo "PASS: $files files through FUSE over io_uring (fuse_floor --uring, the files view -o io_uring) and back; the ring by default, -o no_io_uring; the fallback with enable_uring=N"
