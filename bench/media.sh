#!/usr/bin/env bash
# Media benchmark on the emulated drive's speed model (a simulated clock: the medium's 1x rate ×
# speed, plus access time on every seek): user throughput ÷ the medium's rate for sequential and
# random writes through the block file, and medium writes per user write.  Run as root.
# Usage: bench/media.sh [SEQ_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
SEQ=${1:-128}
P=$PWD/build/fuse/pktfuse
W=$(mktemp -d /var/tmp/pktfuse-media.XXXXXX)
trap 'mountpoint -q "$W/mnt" && fusermount3 -u "$W/mnt"; rm -rf "$W"' EXIT
mkdir -p "$W/mnt"
st() { "$P" status --raw "$W/mnt" | awk -F': ' -v k="$1" '$1 == k { print $2 }'; }
echo "pktfuse media benchmark (emulator speed model, simulated clock) — $(date -u +%FT%TZ)"
printf "%-8s %5s | %-40s | %-52s\n" profile speed "sequential ${SEQ} MiB, 1 MiB writes + fsync" "random 4 KiB, 16 MiB working set once + fsync"
for spec in cdrw:4 dvd+rw:4 bd-re:2 dvd-rw:2 dvd-ram:3; do
	prof=${spec%:*} speed=${spec#*:}
	img="$W/$prof.img"
	"$P" format "emu:$prof:$img,size=$((SEQ + 64))M" > /dev/null
	"$P" "emu:$prof:$img,speed=$speed" "$W/mnt" -o image,cache=32M
	rate=$(st emu_medium_rate_bytes_per_s)
	t0=$(st emu_sim_seconds); u0=$(st user_write_bytes); m0=$(st medium_write_bytes); c0=$(st emu_write_commands)
	dd if=/dev/urandom of="$W/mnt/disc" bs=1M count="$SEQ" conv=notrunc,fsync status=none
	t1=$(st emu_sim_seconds); u1=$(st user_write_bytes); m1=$(st medium_write_bytes); c1=$(st emu_write_commands)
	seq=$(awk -v u=$((u1 - u0)) -v t0="$t0" -v t1="$t1" -v r="$rate" -v m=$((m1 - m0)) -v c=$((c1 - c0)) \
		'BEGIN { printf "%.2f MB/s = %.3f x rate, %.2f medium B/user B, %d cmds", u/(t1-t0)/1e6, u/(t1-t0)/r, m/u, c }')
	fio --name=r --filename="$W/mnt/disc" --rw=randwrite --bs=4k --size=16M --offset=$((SEQ))M --ioengine=psync \
		--direct=1 --end_fsync=1 --randseed=3 --minimal > /dev/null
	t2=$(st emu_sim_seconds); u2=$(st user_write_bytes); m2=$(st medium_write_bytes); c2=$(st emu_write_commands)
	rnd=$(awk -v u=$((u2 - u1)) -v t0="$t1" -v t1="$t2" -v r="$rate" -v m=$((m2 - m1)) -v c=$((c2 - c1)) \
		'BEGIN { printf "%.2f MB/s = %.3f x rate, %.2f medium B/user B, %d cmds", u/(t1-t0)/1e6, u/(t1-t0)/r, m/u, c }')
	printf "%-8s %4sx | %-40s | %-52s\n" "$prof" "$speed" "$seq" "$rnd"
	"$P" umount "$W/mnt"
done
echo "(rate = the medium's user-data rate at that speed; x rate = user throughput ÷ rate; target ≥ 0.95 sequential)"
