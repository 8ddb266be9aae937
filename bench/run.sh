#!/usr/bin/env bash
# pktfuse benchmark: throughput through the block file `disc` measured side by side with a plain file
# on the same file system, in one run, alternating the two sides; write amplification from the
# daemon's own counters; daemon memory against the cache size.  Not a test: it prints numbers.
# Run as root (loop devices).  Usage: bench/run.sh [ROUNDS] (default 3)
# PKTFUSE_OPTS: more mount options for the daemon (e.g. max_threads=4), to compare settings.
# PKTFUSE_OLD=BINARY: a second daemon of another build over its own image, measured in the same rounds
# right after this build's (before/after side by side; its ratios are printed as "old").
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
	mountpoint -q "$W/mnt-old" && fusermount3 -u "$W/mnt-old"
	mountpoint -q "$W/emu" && fusermount3 -u "$W/emu"
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/mnt" "$W/mnt-old"

now() { date +%s.%N; }
mbps() { awk -v b="$1" -v t0="$2" -v t1="$3" 'BEGIN { printf "%.1f", b / 1048576 / (t1 - t0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# stat_of NAME [MOUNTPOINT]: one of a daemon's counters (this build's daemon by default)
stat_of() { "$PKTFUSE" status --raw "${2:-$W/mnt}" | awk -F': ' -v k="$1" '$1 == k { print $2 }'; }
old() { [ -n "${PKTFUSE_OLD:-}" ]; }
# cpu_ticks PID: the user + system CPU time of a process, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat; }
# measured DISC_MOUNT COMMAND…: runs COMMAND (which prints one number) and sets $val to it and $wa to
# the write amplification, $gath to the gathered sectors that the daemon of DISC_MOUNT counted meanwhile
# and $cpu10k to the daemon's CPU time per 10,000 writes of 4 KiB (ms; depends less on the load than IOPS)
measured() {
	local m=$1 u0 m0 g0 c0 p u
	shift
	p=$(stat_of daemon_pid "$m")
	u0=$(stat_of user_write_bytes "$m"); m0=$(stat_of medium_write_bytes "$m"); g0=$(stat_of gather_read_sectors "$m")
	c0=$(cpu_ticks "$p")
	val=$("$@")
	u=$(($(stat_of user_write_bytes "$m") - u0))
	wa=$(ratio $(($(stat_of medium_write_bytes "$m") - m0)) "$u")
	gath=$(($(stat_of gather_read_sectors "$m") - g0))
	cpu10k=$(awk -v t=$(($(cpu_ticks "$p") - c0)) -v hz="$(getconf CLK_TCK)" -v w=$((u / 4096)) \
		'BEGIN { printf "%.0f", (w > 0 ? t * 1000 / hz * 10000 / w : 0) }')
}

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
if old; then
	truncate -s $((SIZE_MB + 64))M "$W/old.img"
	"$PKTFUSE_OLD" "$W/old.img" "$W/mnt-old" -o image,packet=32,cache=$CACHE${PKTFUSE_OPTS:+,$PKTFUSE_OPTS}
fi

echo "pktfuse benchmark — $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r), cache $CACHE, $ROUNDS rounds," \
	"options ${PKTFUSE_OPTS:-none}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
! old || echo "(and PKTFUSE_OLD=$PKTFUSE_OLD over its own image in the same rounds)"
echo
echo "1. Sequential: $SIZE_MB MiB in 1 MiB write()s + fsync, straight to the file (dd)"
r_seq=() ; a_seq=() ; o_seq=()
for i in $(seq "$ROUNDS"); do
	rm -f "$W/plain"; truncate -s $((SIZE_MB + 64))M "$W/plain"
	p=$(seq_write "$W/plain")
	measured "$W/mnt" seq_write "$W/mnt/disc"
	d=$val
	r=$(ratio "$d" "$p")
	r_seq+=("$r"); a_seq+=("$wa")
	printf "   round %d: disc %8s MB/s   plain file %8s MB/s   ratio %s   write amplification %s" "$i" "$d" "$p" "$r" "$wa"
	if old; then
		measured "$W/mnt-old" seq_write "$W/mnt-old/disc"
		o_seq+=("$(ratio "$val" "$p")")
		printf "   old %8s MB/s ratio %s" "$val" "$(ratio "$val" "$p")"
	fi
	echo
done
echo "   median ratio disc/plain: $(echo "${r_seq[@]}" | median)   (target ≥ 0.90)${o_seq[*]:+   old: $(echo "${o_seq[@]}" | median)}"
echo "   median write amplification: $(echo "${a_seq[@]}" | median)   (target 1.00)"

echo
echo "2. Sequential through a loop device (losetup --direct-io=on -b 2048), $SIZE_MB MiB, O_DIRECT 1 MiB + fsync"
r_loop=() ; o_loop=()
for i in $(seq "$ROUNDS"); do
	lp=$(losetup -f --show --direct-io=on -b 2048 "$W/plain"); loops+=("$lp")
	ld=$(losetup -f --show --direct-io=on -b 2048 "$W/mnt/disc"); loops+=("$ld")
	p=$(seq_write "$lp" oflag=direct)
	d=$(seq_write "$ld" oflag=direct)
	r=$(ratio "$d" "$p"); r_loop+=("$r")
	printf "   round %d: loop over disc %8s MB/s   loop over plain file %8s MB/s   ratio %s" "$i" "$d" "$p" "$r"
	if old; then
		lo=$(losetup -f --show --direct-io=on -b 2048 "$W/mnt-old/disc"); loops+=("$lo")
		o=$(seq_write "$lo" oflag=direct)
		o_loop+=("$(ratio "$o" "$p")")
		printf "   old %8s MB/s ratio %s" "$o" "$(ratio "$o" "$p")"
	fi
	echo
	for l in "${loops[@]}"; do losetup -d "$l"; done; loops=()
done
echo "   median ratio: $(echo "${r_loop[@]}" | median)   (target ≥ 0.95)${o_loop[*]:+   old: $(echo "${o_loop[@]}" | median)}"

echo
echo "3. Random 4 KiB writes, each block of a 16 MiB working set once (fits the cache), O_DIRECT + fsync"
r_rand=() ; a_rand=() ; o_rand=()
for i in $(seq "$ROUNDS"); do
	p=$(rand_write "$W/plain")
	measured "$W/mnt" rand_write "$W/mnt/disc" --offset=$(((i * 20) << 20))
	d=$val
	r=$(ratio "$d" "$p")
	r_rand+=("$r"); a_rand+=("$wa")
	printf "   round %d: disc %8s IOPS   plain file %8s IOPS   ratio %s   write amplification %s   gathered sectors %d" \
		"$i" "$d" "$p" "$r" "$wa" "$gath"
	if old; then
		measured "$W/mnt-old" rand_write "$W/mnt-old/disc" --offset=$(((i * 20) << 20))
		o_rand+=("$(ratio "$val" "$p")")
		printf "   old %8s IOPS ratio %s" "$val" "$(ratio "$val" "$p")"
	fi
	echo
done
echo "   median ratio disc/plain: $(echo "${r_rand[@]}" | median)${o_rand[*]:+   old: $(echo "${o_rand[@]}" | median)}"
echo "   median write amplification: $(echo "${a_rand[@]}" | median)   (target ≤ 1.05)"

echo
echo "4. Random 4 KiB writes through a loop device over each, libaio QD16, 8 s, working set 128 MiB (4 × the cache)"
# qd16 DEVICE: IOPS of 8 s of 4 KiB random writes at queue depth 16 over the first 128 MiB
qd16() {
	fio --name=q --filename="$1" --rw=randwrite --bs=4k --size=128M --ioengine=libaio --iodepth=16 \
		--direct=1 --runtime=8 --time_based --randseed=9 --minimal | awk -F';' '{ print $49 }'
}
lp=$(losetup -f --show --direct-io=on -b 2048 "$W/plain"); loops+=("$lp")
ld=$(losetup -f --show --direct-io=on -b 2048 "$W/mnt/disc"); loops+=("$ld")
! old || { lo=$(losetup -f --show --direct-io=on -b 2048 "$W/mnt-old/disc"); loops+=("$lo"); }
r_lr=() ; a_lr=() ; o_lr=() ; c_lr=() ; oc_lr=()
for i in $(seq "$ROUNDS"); do
	p=$(qd16 "$lp")
	measured "$W/mnt" qd16 "$ld"
	d=$val
	r=$(ratio "$d" "$p"); r_lr+=("$r"); a_lr+=("$wa"); c_lr+=("$cpu10k")
	printf "   round %d: loop over disc %8s IOPS   loop over plain file %8s IOPS   ratio %s   write amplification %s   gathered sectors %d   daemon CPU %s ms per 10,000 writes" \
		"$i" "$d" "$p" "$r" "$wa" "$gath" "$cpu10k"
	if old; then
		measured "$W/mnt-old" qd16 "$lo"
		o_lr+=("$(ratio "$val" "$p")"); oc_lr+=("$cpu10k")
		printf "   old %8s IOPS ratio %s amplification %s CPU %s ms" "$val" "$(ratio "$val" "$p")" "$wa" "$cpu10k"
	fi
	echo
done
for l in "${loops[@]}"; do losetup -d "$l"; done; loops=()
echo "   median ratio: $(echo "${r_lr[@]}" | median)   (target ≥ 0.6)${o_lr[*]:+   old: $(echo "${o_lr[@]}" | median)}"
echo "   median daemon CPU per 10,000 writes: $(echo "${c_lr[@]}" | median) ms${oc_lr[*]:+   old: $(echo "${oc_lr[@]}" | median) ms}"
# Each 4 KiB write dirties a whole packet; with 4 × the cache most packets leave the cache with a
# write or two in them, so amplification ≥ packet ÷ 4 KiB × (1 − dirty slots ÷ packets in the set).
echo "   median write amplification: $(echo "${a_lr[@]}" | median)   (each flushed packet is written whole)"
echo "   the same for 4 s over the block file of each emulated medium (its own packet size; the emulator's"
echo "   clock is simulated, so IOPS here are the host's cost only), once:"
for prof in cdrw dvd+rw bd-re; do
	"$PKTFUSE" format "emu:$prof:$W/$prof.img,size=$((SIZE_MB / 2 + 64))M" > /dev/null
	mkdir -p "$W/emu"
	"$PKTFUSE" "emu:$prof:$W/$prof.img" "$W/emu" -o image,cache=$CACHE
	le=$(losetup -f --show --direct-io=on -b 2048 "$W/emu/disc"); loops+=("$le")
	measured "$W/emu" fio --name=q --filename="$le" --rw=randwrite --bs=4k --size=128M --ioengine=libaio \
		--iodepth=16 --direct=1 --runtime=4 --time_based --randseed=9 --minimal --output-format=terse
	losetup -d "$le"; loops=()
	printf "   %-7s packet %2s sectors: %8s IOPS   write amplification %s   gathered sectors %d   daemon CPU %s ms per 10,000 writes\n" \
		"$prof" "$(stat_of packet_sectors "$W/emu")" "$(echo "$val" | awk -F';' '{ print $49 }')" "$wa" "$gath" "$cpu10k"
	"$PKTFUSE" umount "$W/emu"
	rm -f "$W/$prof.img" "$W/$prof.img.state"
done

echo
rss=$(awk '/^VmRSS/ { print $2 }' /proc/"$pid"/status)
hwm=$(awk '/^VmHWM/ { print $2 }' /proc/"$pid"/status)
cache_kb=$(( $(stat_of cache_bytes) / 1024 ))
echo "5. Daemon memory: VmRSS $((rss / 1024)) MiB, peak VmHWM $((hwm / 1024)) MiB, cache $((cache_kb / 1024)) MiB" \
	"→ peak − cache = $(((hwm - cache_kb) / 1024)) MiB (target ≤ 32 MiB)"
echo
echo "Final statistics:"
"$PKTFUSE" status --raw "$W/mnt" | grep -E '^(user_|medium_|packets_written|write_commands|gather|congestion|write_amp)'
