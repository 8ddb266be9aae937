#!/usr/bin/env bash
# The files view's FUSE thread runs on the CPU of the process it serves (fuse/cpu_follow.c: a round
# trip between two CPUs costs far more than one on a CPU; issue 13, the files-view copy row):
#   - requests from a process bound to one CPU bring the thread to that CPU, and to the next when
#     the requester moves; the daemon's other threads (committer, cache flusher) stay unbound;
#   - requests of two processes at once (on two CPUs) leave the thread unbound;
#   - the thread never leaves the affinity the daemon started with (taskset of the daemon).
# Checked by the thread's Cpus_allowed_list, polled while requests keep coming (no timing luck).
. "$(dirname "$0")/lib.sh"
need_root
command -v taskset > /dev/null || { echo "SKIP: no taskset"; exit $SKIP; }
# allowed_of PID: the CPUs the thread PID may run on, as the kernel lists them ("0-3,6")
allowed_of() { awk '$1 == "Cpus_allowed_list:" { print $2 }' "/proc/$1/status"; }
all=$(allowed_of $$)
mapfile -t cpus < <(tr ',' '\n' <<< "$all" | awk -F- '{ for (c = $1; c <= ($2 == "" ? $1 : $2); c++) print c }')
[ "${#cpus[@]}" -ge 2 ] || { echo "SKIP: needs 2 CPUs (has ${#cpus[@]})"; exit $SKIP; }
a=${cpus[0]} b=${cpus[1]}

truncate -s 32M "$T/disc.img"
"$PKTFUSE" format "$T/disc.img" > /dev/null || fail "format"
# lookups_from CPU MNT: 300 lookups of new names from a process bound to CPU
n=0
lookups_from() {
	n=$((n + 1))
	taskset -c "$1" bash -c 'for i in $(seq 300); do [ -e "$1/missing-$2-$i" ]; done; true' _ "$2" "$n-$1"
}
# follows CPU MNT PID: lookups from CPU until the FUSE thread (the daemon's main thread) is bound
# to CPU alone; fails after 100 rounds
follows() {
	local i
	for i in $(seq 100); do
		lookups_from "$1" "$2"
		[ "$(allowed_of "$3")" = "$1" ] && return 0
	done
	fail "the FUSE thread runs on $(allowed_of "$3") after 100 rounds of lookups from CPU $1"
}

start_pktfuse "$T/disc.img" "$T/mnt"
pid=$(pid_of_mount "$T/mnt")
follows "$a" "$T/mnt" "$pid"
follows "$b" "$T/mnt" "$pid"
follows "$a" "$T/mnt" "$pid"
# two processes asking on and on, on CPU a and CPU b, until $T/stop exists (outside the mount)
lookers=()
for c in "$a" "$b"; do
	taskset -c "$c" bash -c 'i=0; while [ ! -e "$3" ]; do i=$((i + 1)); [ -e "$1/both-$2-$i" ]; done; true' \
		_ "$T/mnt" "$c" "$T/stop" &
	lookers+=($!)
done
for i in $(seq 300); do # polled every 0.1 s while they ask, at most 30 s
	[ "$(allowed_of "$pid")" = "$all" ] && break
	sleep 0.1
done
seen=$(allowed_of "$pid")
touch "$T/stop"
wait "${lookers[@]}"
[ "$seen" = "$all" ] || fail "the FUSE thread stays on $seen while processes on CPUs $a and $b ask at once"
follows "$b" "$T/mnt" "$pid"
for t in /proc/"$pid"/task/*; do
	[ "${t##*/}" = "$pid" ] && continue
	[ "$(allowed_of "${t##*/}")" = "$all" ] || fail "thread ${t##*/} is bound to $(allowed_of "${t##*/}") (expected $all)"
done
echo new > "$T/mnt/f" && sync "$T/mnt/f" || fail "write and fsync"
stop_pktfuse "$T/mnt"

# a daemon started on one CPU stays there, whoever asks
taskset -c "$a" "$PKTFUSE" "$T/disc.img" "$T/mnt" || fail "pktfuse under taskset did not start"
_mounts+=("$T/mnt")
pid=$(stat_of "$T/mnt" daemon_pid)
_pids+=("$pid")
for i in 1 2 3; do lookups_from "$b" "$T/mnt"; done
[ "$(allowed_of "$pid")" = "$a" ] || fail "a daemon started on CPU $a runs on $(allowed_of "$pid") after lookups from CPU $b"
[ "$(cat "$T/mnt/f")" = new ] || fail "f after remount"
"$PKTFUSE" umount "$T/mnt" || fail "umount"
echo "PASS: the FUSE thread follows the requester's CPU ($a, $b, $a; unbound for two at once; then $b) within the daemon's own affinity; other threads stay unbound"
