#!/usr/bin/env bash
# Latency of stat/ls of cached entries while a commit writes to a slow medium (issue 13's latency
# row, target p99 ≤ 50 ms).  Not a test: it prints numbers.  Run as root.
#   The files view of an emulated CD-RW at its real speed (realtime=1: the speed model sleeps, 4x),
#   a directory of 20 files already in the engine's memory, and a probe process that lists it and
#   stats every entry (what `ls -l` does) in a loop, each round one sample.  Then SIZE MiB are
#   written (the cache takes them at once) and committed:
#   a. by the committer thread's interval commit (-o commit=1): the window is from the end of the
#      writes until the drive has seen the commit's third cache flush (SYNCHRONIZE CACHE, its log);
#   b. by another process's fsync(2) of the file (-o commit=600, so that only the fsync commits): the
#      window is the fsync's run.
#   p50/p99/max: the wait of an ls -l issued every 10 ms of the window (window_stats says how).
# Usage: bench/latency.sh [ROUNDS] (default 1); SIZE=MiB (default 8); PKTFUSE_OLD=BINARY also
# measures another build in the same rounds (before/after side by side)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-1}
SIZE=${SIZE:-8}
PKTFUSE=${PKTFUSE:-$PWD/build/fuse/pktfuse}
[ -x "$PKTFUSE" ] || bash scripts/build.sh > /dev/null
W=$(mktemp -d /var/tmp/pktfuse-latency.XXXXXX)
probe_pid=
cleanup() {
	set +e
	[ -z "$probe_pid" ] || kill "$probe_pid" 2> /dev/null
	mountpoint -q "$W/mnt" && { "$PKTFUSE" umount "$W/mnt" || fusermount3 -u "$W/mnt"; }
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/mnt"
now() { date +%s.%N; }
# the drive's SYNCHRONIZE CACHE commands so far (emu's log): a commit with changes ends with its third
# barrier at the earliest (file data; new places; the switch), and nothing else syncs here.  Not
# `pktfuse status`: it used to wait for the drive's lock (seen: 1.6 s), and PKTFUSE_OLD may be such a build
syncs() { grep -c '^op=35' "$W/log" || true; }

# probe DIR OUT: one line "START SECONDS" per ls -l of DIR, until SIGTERM
probe() {
	python3 - "$1" "$2" << 'EOF' &
import os, signal, sys, time
d, out = sys.argv[1], sys.argv[2]
rows = []
def stop(*_):
    with open(out, "w") as f:
        f.writelines(f"{a:.6f} {b:.6f}\n" for a, b in rows)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    t0 = time.time()
    p0 = time.perf_counter()
    for name in os.listdir(d):
        os.lstat(os.path.join(d, name))
    rows.append((t0, time.perf_counter() - p0))
    time.sleep(0.005)
EOF
	probe_pid=$!
}
stop_probe() {
	kill -TERM "$probe_pid"
	wait "$probe_pid" || true
	probe_pid=
}
# window_stats SAMPLES FROM TO → the wait of an ls -l issued every 10 ms of [FROM, TO] (p50, p99,
# max), estimated from the probe's back-to-back samples: issued while a sample runs, it would start
# when that one ends and then take as long as the next one; issued between samples, as long as the
# next one.  (The samples' own percentiles would count a sample stuck for a whole commit once.)
window_stats() {
	python3 - "$@" << 'EOF'
import bisect, sys
f, a, b = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
smp = sorted((float(s), float(s) + float(d)) for s, d in (l.split() for l in open(f)))
ends = [e for _, e in smp]
waits = []
t = a
while t <= b:
    i = bisect.bisect_right(ends, t)
    if i < len(smp):
        s, e = smp[i]
        nxt = smp[i + 1][1] - smp[i + 1][0] if i + 1 < len(smp) else e - s
        waits.append((e - t + nxt) if s <= t else (e - s))
    t += 0.01
if not waits:
    print("no samples"); sys.exit()
v = sorted(w * 1000 for w in waits)
q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
print(f"p50 {q(0.5):8.1f} ms  p99 {q(0.99):8.1f} ms  max {v[-1]:8.1f} ms")
EOF
}
write_file() { dd if=/dev/urandom of="$1" bs=1M count="$SIZE" status=none; }

# one BINARY COMMIT_SECONDS MODE(interval|fsync) → the window's numbers and the commit's time
one() {
	local bin=$1 commit=$2 mode=$3 img=$W/cd.img t0 t1 c0
	rm -f "$img" "$img.state" "$W/log"
	"$bin" format "emu:cdrw:$img,size=128M" > /dev/null
	"$bin" "emu:cdrw:$img,realtime=1,log=$W/log" "$W/mnt" -o commit="$commit"
	mkdir "$W/mnt/d"
	for i in $(seq -w 1 20); do echo "$i" > "$W/mnt/d/f$i"; done
	ls -l "$W/mnt/d" > /dev/null
	fsync_path "$W/mnt/d"
	probe "$W/mnt/d" "$W/samples"
	sleep 1 # samples before the commit: the probe's own round trip
	c0=$(syncs)
	write_file "$W/mnt/big"
	t0=$(now)
	if [ "$mode" = fsync ]; then
		fsync_path "$W/mnt/big"
	else
		while [ "$(syncs)" -lt $((c0 + 3)) ]; do sleep 0.1; done
	fi
	t1=$(now)
	stop_probe
	printf "%-8s commit %5.1fs  %s\n" "$mode" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
		"$(window_stats "$W/samples" "$t0" "$t1")"
	"$bin" umount "$W/mnt"
}
fsync_path() {
	python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)' "$1"
}

echo "pktfuse latency benchmark — $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r), $ROUNDS rounds"
echo "ls -l of 20 cached entries while $SIZE MiB are committed to an emulated CD-RW at 4x (realtime=1)"
for i in $(seq "$ROUNDS"); do
	for b in "$PKTFUSE" ${PKTFUSE_OLD:+"$PKTFUSE_OLD"}; do
		[ "$b" = "$PKTFUSE" ] && who="this build" || who="PKTFUSE_OLD"
		echo "   round $i, $who:"
		echo "      $(one "$b" 1 interval)"
		echo "      $(one "$b" 600 fsync)"
	done
done
echo "   (target: p99 ≤ 50 ms)"
