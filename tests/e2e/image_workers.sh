#!/usr/bin/env bash
# The image view's FUSE workers: one per CPU (2 to 10) unless -o max_threads says.  Random 4 KiB
# writes at queue depth 16 through a loop device keep 16 requests in flight; FUSE's own default let
# the daemon grow to 10 workers here (on 2 CPUs: more wakeups and switches, ~25% more daemon CPU per
# write, bench/run.sh row 4).  The daemon's threads are counted while fio runs and must stay within
# those it had idle (one worker among them) plus the other workers; fio verifies what it wrote.
. "$(dirname "$0")/lib.sh"
need_root
command -v fio > /dev/null || { echo "SKIP: fio is not installed"; exit $SKIP; }

ncpu=$(nproc)
workers=$((ncpu < 2 ? 2 : ncpu > 10 ? 10 : ncpu))
truncate -s 96M "$T/disc.img"
start_pktfuse "$T/disc.img" "$T/mnt" -o image,packet=32,cache=8M
pid=$(pid_of_mount "$T/mnt")
tasks() { find /proc/"$pid"/task -mindepth 1 -maxdepth 1 | wc -l; }
idle=$(tasks)
attach_loop ld "$T/mnt/disc" --direct-io=on -b 2048
fio --name=q --filename="$ld" --rw=randwrite --bs=4k --size=32M --ioengine=libaio --iodepth=16 --direct=1 \
	--runtime=3 --time_based --verify=crc32c --verify_fatal=1 --verify_state_save=0 --randseed=5 > "$T/fio" 2>&1 &
fio_pid=$!
_pids+=("$fio_pid")
most=$idle
while kill -0 "$fio_pid" 2> /dev/null; do
	n=$(tasks)
	[ "$n" -le "$most" ] || most=$n
	sleep 0.05
done
wait "$fio_pid" || { tail -20 "$T/fio"; fail "fio random writes with verify through the loop device"; }
writes=$(stat_of "$T/mnt" user_write_bytes)
[ "$writes" -gt $((4 << 20)) ] || fail "fio wrote only $writes bytes: too little load to count workers"
note "$ncpu CPUs: $idle threads idle, at most $most under queue depth 16 ($((writes >> 20)) MiB written)"
[ "$most" -le $((idle + workers - 1)) ] ||
	fail "the daemon ran $most threads under load, more than $idle idle + $((workers - 1)) more workers"
detach_loop "$ld"
stop_pktfuse "$T/mnt"
echo "PASS: the image view serves queue depth 16 with at most $workers FUSE workers"
