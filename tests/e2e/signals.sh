#!/usr/bin/env bash
# Unmount, SIGTERM and SIGINT all flush dirty data before the daemon exits; `pktfuse umount` returns
# only after that.
. "$(dirname "$0")/lib.sh"
need_root

for how in pktfuse-umount unmount TERM INT; do
	truncate -s 16M "$T/img"
	start_pktfuse "$T/img" "$T/mnt" -o image,strict,dirty_age=3600
	pid=$(pid_of_mount "$T/mnt")
	"$PATTERN" "sig-$how" 3000000 | dd of="$T/mnt/disc" bs=65536 seek=3 conv=notrunc status=none iflag=fullblock
	"$PATTERN" "sig-$how-tail" 1000 | dd of="$T/mnt/disc" bs=1 seek=$(((16 << 20) - 1500)) conv=notrunc status=none
	[ "$(stat_of "$T/mnt" dirty_packets)" -gt 0 ] || fail "nothing dirty to test with"
	case $how in
	pktfuse-umount)
		# returns only when the data is on the image: checked before waiting for anything
		"$PKTFUSE" umount "$T/mnt" || fail "pktfuse umount failed"
		cmp <("$PATTERN" "sig-$how" 3000000) <(tail -c +$((3 * 65536 + 1)) "$T/img" | head -c 3000000) ||
			fail "pktfuse umount returned before the data was on the image"
		;;
	unmount) fusermount3 -u "$T/mnt" ;;
	*) kill -"$how" "$pid" ;;
	esac
	wait_gone "$pid"
	is_mounted "$T/mnt" && fail "still mounted after $how"
	cmp <("$PATTERN" "sig-$how" 3000000) <(tail -c +$((3 * 65536 + 1)) "$T/img" | head -c 3000000) ||
		fail "data lost on $how"
	cmp <("$PATTERN" "sig-$how-tail" 1000) <(tail -c 1500 "$T/img" | head -c 1000) || fail "tail lost on $how"
	note "$how: all data on the image"
	rm -f "$T/img"
done

# -o auto_unmount: a daemon killed outright leaves no dead mount behind.
truncate -s 4M "$T/img"
start_pktfuse "$T/img" "$T/mnt" -o image,auto_unmount
kill -KILL "$(pid_of_mount "$T/mnt")"
# (not `mountpoint -q`: it calls the dead mount of a killed daemon "not a mount point")
wait_unmounted "$T/mnt" 60
echo "PASS: unmount, SIGTERM and SIGINT flush; auto_unmount cleans up"
