#!/usr/bin/env bash
# FUSE over io_uring (fuse/fuse_uring.c): with the fuse module's enable_uring=Y, bench/fuse_floor
# --uring and the files view's -o io_uring serve a copied tree (and its fsyncs, which the files view
# answers from its committer's thread) through the ring, counted by the ring itself, and read it
# back the same; with enable_uring=N both fall back to /dev/fuse, say so, and work as before.  The
# parameter is global: it is set for this test only and restored on exit (Y only makes the kernel
# offer the ring in INIT; daemons that do not ask for it, every other test's, are not affected).
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
stop_pktfuse "$T/mnt"
_mounts=()
_pids=()
# what the ring carried is on the medium: read back over /dev/fuse
echo N > "$PARAM"
start_pktfuse "$T/disc.img" "$T/mnt"
tree_sums "$T/mnt/copy" > "$T/got"
diff -u "$T/want" "$T/got" || fail "the tree written through the ring reads back differently after a remount"
[ -z "$(stat_of "$T/mnt" fuse_uring)" ] || fail "a mount without -o io_uring has a fuse_uring line"
stop_pktfuse "$T/mnt"
_mounts=()
_pids=()

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
grep -q 'io_uring' "$T/fg.err" || fail "the daemon did not log its fallback: $(cat "$T/fg.err")"
[ "$(grep -c 'io_uring' "$T/fg.err")" = 1 ] || fail "the fallback took more than one log line: $(cat "$T/fg.err")"
fusermount3 -u "$T/mnt" || fail "fusermount3 -u failed (fallback)"
_mounts=()
wait "$fg" || { cat "$T/fg.err"; fail "pktfuse -f -o io_uring exited with an error (fallback)"; }
_pids=()
note "fallback: $(grep io_uring "$T/fg.err")"
echo "PASS: $files files through FUSE over io_uring (fuse_floor --uring, the files view -o io_uring) and back; the fallback with enable_uring=N"
