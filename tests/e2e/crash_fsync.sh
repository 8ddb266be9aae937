#!/usr/bin/env bash
# fsync means "on the medium": a writer fsyncs records one by one while the daemon is killed with
# SIGKILL at a random moment; every record whose fsync returned must be on the image.  Many seeds.
. "$(dirname "$0")/lib.sh"
need_root
SEEDS=${SEEDS:-12}
STRIDE=$((37 * 2048)) # records land at every alignment within a packet
detached=0

for seed in $(seq 1 "$SEEDS"); do
	truncate -s 1G "$T/img"
	rm -f "$T/log"
	start_pktfuse "$T/img" "$T/mnt" -o image,strict,packet=$((seed % 2 ? 32 : 16)),dirty_age=3600,auto_unmount
	pid=$(pid_of_mount "$T/mnt")
	"$FSYNC_WRITER" "$T/mnt/disc" 14000 "$STRIDE" "$T/log" &
	writer=$!
	sleep "0.$((RANDOM % 4 + 1))$((seed % 10))"
	kill -KILL "$pid"
	wait "$writer" || true
	wait_gone "$pid"
	# The next seed mounts here: the dead mount must be gone first (auto_unmount removes it soon
	# after the kill, not at once, and `mountpoint -q` cannot tell a dead FUSE mount from none).
	remove_dead_mount "$T/mnt" || { detached=$((detached + 1)); note "seed $seed: auto_unmount left the dead mount; detached it"; }
	n=$(wc -l < "$T/log")
	[ "$n" -gt 0 ] || fail "seed $seed: no record was fsync'd before the kill"
	"$FSYNC_WRITER" --check "$T/img" "$T/log" "$STRIDE" || fail "seed $seed: fsync'd data lost"
	note "seed $seed: $n records fsync'd before SIGKILL, all on the image"
	rm -f "$T/img"
done
echo "PASS: fsync'd data survives SIGKILL of the daemon ($SEEDS seeds; $detached dead mounts left by auto_unmount)"
