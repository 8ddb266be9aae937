#!/usr/bin/env bash
# The disc taken out of the drive under a user's mount while data waits in the cache (the emulator's
# control file, see mmc/emu/emu.h): nothing is lost silently.  The mount turns read-only, the log and
# `pktfuse status` say so; the same disc put back gets the data (remount and compare).  Another disc
# put in instead is never written (its image unchanged) and the first disc's data is reported as
# not written at umount, exit 1.
. "$(dirname "$0")/lib.sh"
need_root
use_test_user
P=$(user_copy "$PKTFUSE")
H="$T/home"
install -d -o "$U" -m 700 "$H"
as_user mkdir "$H/cd"
control() { emu_control "$H/cd.img" "$1"; }
# wait_for TEXT FILE: FILE (the daemon's log) gets a line with TEXT within 60 s
wait_for() {
	local i
	for ((i = 0; i < 600; i++)); do
		grep -qF -- "$1" "$2" && return 0
		sleep 0.1
	done
	cat "$2" >&2
	fail "no \"$1\" in $2 after 60 s"
}
# mount_fg LOG: the daemon in the foreground (its log in LOG), mounted on $H/cd; sets pid
mount_fg() {
	as_user "$P" "$S" "$H/cd" -f -o dirty_age=3600 2> "$1" &
	for ((i = 0; i < 600; i++)); do
		is_mounted "$H/cd" && break
		sleep 0.1
	done
	is_mounted "$H/cd" || fail "no mount: $(cat "$1")"
	_mounts+=("$H/cd")
	pid=$(user_stat "$H/cd" daemon_pid)
	[ -n "$pid" ] || fail "no daemon_pid"
	_pids+=("$pid")
}
# swap A B: disc images A and B (with their state files) trade places
swap() {
	mv "$1" "$T/swap.img" && mv "$1.state" "$T/swap.state" && mv "$2" "$1" && mv "$2.state" "$1.state" &&
		mv "$T/swap.img" "$2" && mv "$T/swap.state" "$2.state" || fail "swap $1 $2"
}

as_user "$P" format "emu:cdrw:$H/cd.img" > /dev/null || fail "format"
as_user "$P" format "emu:cdrw:$H/other.img" > /dev/null || fail "format the other disc"
S="emu:cdrw:$H/cd.img,log=$H/drive.log"

# 1. taken out while dirty, the same disc back
mount_fg "$T/d1.log"
"$PATTERN" out1 2000000 > "$T/data1"
chmod 644 "$T/data1"
as_user cp "$T/data1" "$H/cd/data1" || fail "write"
[ "$(user_stat "$H/cd" dirty_packets)" -gt 0 ] || fail "nothing waits in the cache: the test would prove nothing"
control tray_open
wait_for "the disc was taken out with" "$T/d1.log"
# what a person reads (a last_error value holds ": ", which stat_of cuts)
as_user "$P" status "$H/cd" > "$T/status" || fail "status"
grep -q "the disc was taken out with .* the mount is read-only" "$T/status" ||
	fail "pktfuse status does not say the disc was taken out: $(cat "$T/status")"
as_user sh -c "echo more >> '$H/cd/data1'" 2> /dev/null && fail "the mount still takes writes with the disc out"
as_user mkdir "$H/cd/newdir" 2> /dev/null && fail "the mount still makes directories with the disc out"
as_user python3 -c 'import os, sys; os.fsync(os.open(sys.argv[1], os.O_RDONLY))' "$H/cd/data1" 2> /dev/null &&
	fail "fsync says the data is on the medium while the disc is out"
[ "$(user_stat "$H/cd" dirty_packets)" -gt 0 ] || fail "the data waiting for the disc was dropped"
control tray_close
wait_for "the disc is back: what was kept is written" "$T/d1.log"
as_user "$P" umount "$H/cd" || fail "umount after the same disc came back"
wait_gone "$pid"
as_user "$P" "emu:cdrw:$H/cd.img" "$H/cd" -o ro || fail "remount"
cmp "$T/data1" <(as_user cat "$H/cd/data1") || fail "the data kept for the disc is not on it"
as_user "$P" umount "$H/cd" || fail "umount the check"

# 2. taken out while dirty, another disc put in
mount_fg "$T/d2.log"
"$PATTERN" out2 2000000 > "$T/data2"
chmod 644 "$T/data2"
as_user cp "$T/data2" "$H/cd/data2" || fail "write 2"
[ "$(user_stat "$H/cd" dirty_packets)" -gt 0 ] || fail "nothing waits in the cache (2)"
control tray_open
wait_for "the disc was taken out with" "$T/d2.log"
swap "$H/cd.img" "$H/other.img"
before=$(sha256sum < "$H/cd.img")
control tray_close
wait_for "the disc put in is not the one taken out" "$T/d2.log"
rc=0
as_user "$P" umount "$H/cd" > "$T/umount.out" 2>&1 || rc=$?
cat "$T/umount.out"
[ "$rc" = 1 ] || fail "umount with the first disc's data unwritten exited $rc, not 1"
grep -q "not written" "$T/umount.out" || fail "umount does not report the data not written"
wait_gone "$pid"
[ "$(sha256sum < "$H/cd.img")" = "$before" ] || fail "the other disc was written with the first one's data"
grep -q "refusing to touch the new one" "$T/d2.log" || fail "the daemon does not say it refused the other disc"
echo "PASS: a disc taken out while dirty: read-only, said, kept; written to the same disc back; never to another"
