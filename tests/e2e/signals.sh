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

# SIGTERM, SIGINT and SIGHUP are a clean end: exit status 0 once everything is written (-f shows the
# status; in the background the outcome report is removed, which `pktfuse umount` reads as success).
for sig in TERM INT HUP; do
	truncate -s 16M "$T/img"
	mkdir -p "$T/mnt"
	# (a background job starts with SIGINT ignored, which libfuse respects: restore it, as a terminal has it)
	env --default-signal=INT "$PKTFUSE" "$T/img" "$T/mnt" -f -o image,dirty_age=3600 2> "$T/err" &
	fg=$!
	_pids+=("$fg")
	_mounts+=("$T/mnt")
	for i in $(seq 300); do
		"$PKTFUSE" status "$T/mnt" > /dev/null 2>&1 && break
		kill -0 "$fg" 2> /dev/null || fail "pktfuse -f did not start: $(cat "$T/err")"
		sleep 0.1
	done
	"$PATTERN" "fg-$sig" 2000000 | dd of="$T/mnt/disc" bs=65536 conv=notrunc status=none iflag=fullblock
	kill -"$sig" "$fg"
	set +e
	wait "$fg"
	rc=$?
	set -e
	[ "$rc" = 0 ] || fail "pktfuse -f exited $rc after SIG$sig with everything written: $(cat "$T/err")"
	cmp <("$PATTERN" "fg-$sig" 2000000) <(head -c 2000000 "$T/img") || fail "data lost on SIG$sig (-f)"
	start_pktfuse "$T/img" "$T/mnt" -o image,dirty_age=3600
	pid=$(pid_of_mount "$T/mnt")
	report=$(stat_of "$T/mnt" report_file)
	[ -e "$report" ] || fail "no outcome report $report while running"
	"$PATTERN" "bg-$sig" 2000000 | dd of="$T/mnt/disc" bs=65536 conv=notrunc status=none iflag=fullblock
	kill -"$sig" "$pid"
	wait_gone "$pid"
	[ ! -e "$report" ] || fail "after SIG$sig the daemon reports a failure: $(cat "$report")"
	cmp <("$PATTERN" "bg-$sig" 2000000) <(head -c 2000000 "$T/img") || fail "data lost on SIG$sig"
	note "SIG$sig: exit 0, all data on the image"
done

# -o auto_unmount: a daemon killed outright leaves no dead mount behind.  (Judged by mountinfo, not by
# `mountpoint -q`, which calls the dead mount of a killed daemon "not a mount point".)
truncate -s 4M "$T/img"
start_pktfuse "$T/img" "$T/mnt" -o image,auto_unmount
pid=$(pid_of_mount "$T/mnt")
watcher=$(pgrep -f -- "^fusermount3 .*auto_unmount.* -- $T/mnt\$") || fail "no fusermount3 watches $T/mnt for auto_unmount"
kill -KILL "$pid"
wait_gone "$pid"
race=
if ! remove_dead_mount "$T/mnt"; then
	# fusermount3 of libfuse 3.14 (Debian 12) unmounts only when its check of the mount point gets
	# ENOTCONN; when the kernel is still aborting the connection (the daemon's /dev/fuse is released
	# after its socket, more often under load) the check gets ECONNABORTED and fusermount3 exits
	# leaving the mount.  pktfuse did its part (fusermount3 was watching); anything else is a failure.
	[ -e /proc/"$watcher" ] && [ "$(awk '{print $3}' /proc/"$watcher"/stat 2> /dev/null)" != Z ] &&
		fail "fusermount3 still runs but left the dead mount for 10 s"
	race=" (this time fusermount3 lost its race with the kernel: see the test)"
	note "auto_unmount: fusermount3 exited without removing the dead mount; detached it"
fi
echo "PASS: unmount, SIGTERM, SIGINT and SIGHUP flush and exit 0; auto_unmount cleans up$race"
