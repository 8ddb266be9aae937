#!/usr/bin/env bash
# pktfuse benchmark: throughput through the block file `disc` measured side by side with a plain file
# on the same file system, in one run, alternating the two sides; write amplification from the
# daemon's own counters; daemon memory against the cache size.  Not a test: it prints numbers.
# Run as root (loop devices).  Usage: bench/run.sh [ROUNDS] (default 3)
# PKTFUSE_OPTS: more mount options for the daemon (e.g. max_threads=4), to compare settings.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
PKTFUSE=${PKTFUSE:-$PWD/build/fuse/pktfuse}
[ -x "$PKTFUSE" ] || bash scripts/build.sh >/dev/null
SIZE_MB=256
CACHE=32M

W=$(mktemp -d /var/tmp/pktfuse-bench.XXXXXX)
loops=()
cleanup() {
	set +e
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null; done
	mountpoint -q "$W/mnt" && fusermount3 -u "$W/mnt"
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/mnt"

now() { date +%s.%N; }
mbps() { awk -v b="$1" -v t0="$2" -v t1="$3" 'BEGIN { printf "%.1f", b / 1048576 / (t1 - t0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
stat_of() { "$PKTFUSE" status --raw "$W/mnt" | awk -F': ' -v k="$1" '$1 == k { print $2 }'; }

# seq_write TARGET: 256 MiB in 1 MiB writes + fsync; prints MB/s
seq_write() {
	local t0 t1
	t0=$(now)
	dd if="$W/src" of="$1" bs=1M count=$SIZE_MB conv=notrunc,fsync status=none "${@:2}"
	t1=$(now)
	mbps $((SIZE_MB << 20)) "$t0" "$t1"
}

# rand_write TARGET [fio options…]: 4 KiB random writes over 16 MiB, each block once, + fsync; IOPS
rand_write() {
	fio --name=r --filename="$1" --rw=randwrite --bs=4k --size=16M --ioengine=psync --direct=1 \
		--end_fsync=1 --randseed=7 --minimal "${@:2}" | awk -F';' '{ print $49 }'
}

head -c $((SIZE_MB << 20)) /dev/urandom > "$W/src"
truncate -s $((SIZE_MB + 64))M "$W/disc.img"
"$PKTFUSE" "$W/disc.img" "$W/mnt" -o image,packet=32,cache=$CACHE${PKTFUSE_OPTS:+,$PKTFUSE_OPTS}
pid=$(stat_of daemon_pid)

echo "pktfuse benchmark — $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r), cache $CACHE, $ROUNDS rounds," \
	"options ${PKTFUSE_OPTS:-none}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "1. Sequential: $SIZE_MB MiB in 1 MiB write()s + fsync, straight to the file (dd)"
r_seq=() ; a_seq=()
for i in $(seq "$ROUNDS"); do
	rm -f "$W/plain"; truncate -s $((SIZE_MB + 64))M "$W/plain"
	p=$(seq_write "$W/plain")
	u0=$(stat_of user_write_bytes); m0=$(stat_of medium_write_bytes)
	d=$(seq_write "$W/mnt/disc")
	u1=$(stat_of user_write_bytes); m1=$(stat_of medium_write_bytes)
	wa=$(ratio $((m1 - m0)) $((u1 - u0)))
	r=$(ratio "$d" "$p")
	r_seq+=("$r"); a_seq+=("$wa")
	printf "   round %d: disc %8s MB/s   plain file %8s MB/s   ratio %s   write amplification %s\n" "$i" "$d" "$p" "$r" "$wa"
done
echo "   median ratio disc/plain: $(echo "${r_seq[@]}" | median)   (target ≥ 0.90)"
echo "   median write amplification: $(echo "${a_seq[@]}" | median)   (target 1.00)"

echo
echo "2. Sequential through a loop device (losetup --direct-io=on -b 2048), $SIZE_MB MiB, O_DIRECT 1 MiB + fsync"
r_loop=()
for i in $(seq "$ROUNDS"); do
	lp=$(losetup -f --show --direct-io=on -b 2048 "$W/plain"); loops+=("$lp")
	ld=$(losetup -f --show --direct-io=on -b 2048 "$W/mnt/disc"); loops+=("$ld")
	p=$(seq_write "$lp" oflag=direct)
	d=$(seq_write "$ld" oflag=direct)
	losetup -d "$lp" "$ld"; loops=()
	r=$(ratio "$d" "$p"); r_loop+=("$r")
	printf "   round %d: loop over disc %8s MB/s   loop over plain file %8s MB/s   ratio %s\n" "$i" "$d" "$p" "$r"
done
echo "   median ratio: $(echo "${r_loop[@]}" | median)   (target ≥ 0.95)"

echo
echo "3. Random 4 KiB writes, each block of a 16 MiB working set once (fits the cache), O_DIRECT + fsync"
r_rand=() ; a_rand=()
for i in $(seq "$ROUNDS"); do
	p=$(rand_write "$W/plain")
	u0=$(stat_of user_write_bytes); m0=$(stat_of medium_write_bytes); g0=$(stat_of gather_read_sectors)
	d=$(rand_write "$W/mnt/disc" --offset=$(((i * 20) << 20)))
	u1=$(stat_of user_write_bytes); m1=$(stat_of medium_write_bytes); g1=$(stat_of gather_read_sectors)
	wa=$(ratio $((m1 - m0)) $((u1 - u0)))
	r=$(ratio "$d" "$p")
	r_rand+=("$r"); a_rand+=("$wa")
	printf "   round %d: disc %8s IOPS   plain file %8s IOPS   ratio %s   write amplification %s   gathered sectors %d\n" \
		"$i" "$d" "$p" "$r" "$wa" $((g1 - g0))
done
echo "   median ratio disc/plain: $(echo "${r_rand[@]}" | median)"
echo "   median write amplification: $(echo "${a_rand[@]}" | median)   (target ≤ 1.05)"

echo
echo "4. Random 4 KiB writes through a loop device over each, libaio QD16, 8 s, working set 128 MiB (4 × the cache)"
lp=$(losetup -f --show --direct-io=on -b 2048 "$W/plain"); loops+=("$lp")
ld=$(losetup -f --show --direct-io=on -b 2048 "$W/mnt/disc"); loops+=("$ld")
r_lr=() ; a_lr=()
for i in $(seq "$ROUNDS"); do
	p=$(fio --name=q --filename="$lp" --rw=randwrite --bs=4k --size=128M --ioengine=libaio --iodepth=16 \
		--direct=1 --runtime=8 --time_based --randseed=9 --minimal | awk -F';' '{ print $49 }')
	u0=$(stat_of user_write_bytes); m0=$(stat_of medium_write_bytes); g0=$(stat_of gather_read_sectors)
	d=$(fio --name=q --filename="$ld" --rw=randwrite --bs=4k --size=128M --ioengine=libaio --iodepth=16 \
		--direct=1 --runtime=8 --time_based --randseed=9 --minimal | awk -F';' '{ print $49 }')
	u1=$(stat_of user_write_bytes); m1=$(stat_of medium_write_bytes); g1=$(stat_of gather_read_sectors)
	wa=$(ratio $((m1 - m0)) $((u1 - u0)))
	r=$(ratio "$d" "$p"); r_lr+=("$r"); a_lr+=("$wa")
	printf "   round %d: loop over disc %8s IOPS   loop over plain file %8s IOPS   ratio %s   write amplification %s   gathered sectors %d\n" \
		"$i" "$d" "$p" "$r" "$wa" $((g1 - g0))
done
losetup -d "$lp" "$ld"; loops=()
echo "   median ratio: $(echo "${r_lr[@]}" | median)   (target ≥ 0.6)"
# Each 4 KiB write dirties a whole packet; with 4 × the cache most packets leave the cache with a
# write or two in them, so amplification ≥ packet ÷ 4 KiB × (1 − dirty slots ÷ packets in the set).
echo "   median write amplification: $(echo "${a_lr[@]}" | median)   (each flushed packet is written whole)"

echo
rss=$(awk '/^VmRSS/ { print $2 }' /proc/"$pid"/status)
hwm=$(awk '/^VmHWM/ { print $2 }' /proc/"$pid"/status)
cache_kb=$(( $(stat_of cache_bytes) / 1024 ))
echo "5. Daemon memory: VmRSS $((rss / 1024)) MiB, peak VmHWM $((hwm / 1024)) MiB, cache $((cache_kb / 1024)) MiB" \
	"→ peak − cache = $(((hwm - cache_kb) / 1024)) MiB (target ≤ 32 MiB)"
echo
echo "Final statistics:"
"$PKTFUSE" status --raw "$W/mnt" | grep -E '^(user_|medium_|packets_written|write_commands|gather|congestion|write_amp)'
