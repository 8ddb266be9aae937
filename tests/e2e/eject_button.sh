#!/usr/bin/env bash
# The drive's eject button pressed while a user's mount holds unwritten data (the emulator's control
# file, see mmc/emu/emu.h): the daemon sees the eject request in GET EVENT STATUS NOTIFICATION,
# writes everything, unmounts, unlocks the tray and opens it, and logs it; the drive's log shows
# the writes, then PREVENT ALLOW MEDIUM REMOVAL with prevent=0, then START STOP UNIT with loej=1 last;
# the data is on the disc.  A disc the daemon could not write stays in, and the log says so.
. "$(dirname "$0")/lib.sh"
need_root
use_test_user
P=$(user_copy "$PKTFUSE")
H="$T/home"
install -d -o "$U" -m 700 "$H"
as_user mkdir "$H/cd"
# control WORD: what a person does to the emulated drive, written whole as emu.h asks
control() { emu_control "${2:-$H/cd.img}" "$1"; }
# wait_file_gone PATH: the emulator obeyed the control file (60 s at most)
wait_file_gone() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ -e "$1" ] || return 0
		sleep 0.1
	done
	fail "$1 was not taken by the drive in 60 s"
}

as_user "$P" format "emu:cdrw:$H/cd.img" > /dev/null || fail "format as $U"
S="emu:cdrw:$H/cd.img,log=$H/drive.log"
# mount_fg SOURCE LOG [options…]: the daemon in the foreground (to keep its log in LOG) on $H/cd; sets pid
mount_fg() {
	local src=$1 log=$2
	shift 2
	as_user "$P" "$src" "$H/cd" -f "$@" 2> "$log" &
	for ((i = 0; i < 600; i++)); do
		is_mounted "$H/cd" && break
		sleep 0.1
	done
	is_mounted "$H/cd" || fail "no mount: $(cat "$log")"
	_mounts+=("$H/cd")
	pid=$(user_stat "$H/cd" daemon_pid)
	[ -n "$pid" ] || fail "no daemon_pid"
	_pids+=("$pid")
}
mount_fg "$S" "$T/daemon.log" -o dirty_age=3600
"$PATTERN" button 3000000 > "$T/data"
chmod 644 "$T/data"
as_user cp "$T/data" "$H/cd/data" || fail "write as $U"
[ "$(user_stat "$H/cd" dirty_packets)" -gt 0 ] || fail "nothing waits in the cache: the test would prove nothing"

control eject_button
wait_file_gone "$H/cd.img.ctl"
wait_unmounted "$H/cd"
wait_gone "$pid"
cat "$T/daemon.log"
grep -q "eject button pressed: writing everything" "$T/daemon.log" || fail "the daemon does not say it saw the button"
grep -q "eject button: everything written, unmounted, tray unlocked and opened" "$T/daemon.log" ||
	fail "the daemon does not say it ejected"

# the drive's log from the button on: GESN saw it, then writes, then unlock, then eject, last
sed -n '/^control=eject_button/,$p' "$H/drive.log" > "$T/after"
grep -q '^op=4A ' "$T/after" || fail "no GESN after the button"
grep -q '^op=2A ' "$T/after" || fail "no write after the button: the cache was not written by it"
last_write=$(grep -n '^op=2A ' "$T/after" | tail -1 | cut -d: -f1)
unlock=$(grep -n '^op=1E prevent=0 status=GOOD' "$T/after" | tail -1 | cut -d: -f1)
[ -n "$unlock" ] && [ "$unlock" -gt "$last_write" ] || fail "no unlock (prevent=0) after the last write"
tail -1 "$T/after" | grep -q '^op=1B loej=1 start=0 status=GOOD' ||
	fail "the drive's last command is not the eject: $(tail -3 "$T/after")"

as_user "$P" "emu:cdrw:$H/cd.img" "$H/cd" -o ro || fail "remount"
cmp "$T/data" <(as_user cat "$H/cd/data") || fail "what was cached when the button was pressed is not on the disc"
as_user "$P" umount "$H/cd" || fail "umount"

# 2. a disc the daemon cannot write everything to: the button unmounts, the disc stays in
as_user truncate -s 64M "$H/bad.img"
B="emu:dvd+rw:$H/bad.img,write_error=2000,log=$H/bad.log"
mount_fg "$B" "$T/bad.daemon.log" -o image,dirty_age=3600,cache=16M
"$PATTERN" werr 8000000 > "$T/werr"
chmod 644 "$T/werr"
as_user dd if="$T/werr" of="$H/cd/disc" bs=1M conv=notrunc status=none || fail "write to the bad disc"
control eject_button "$H/bad.img"
wait_file_gone "$H/bad.img.ctl"
wait_unmounted "$H/cd"
wait_gone "$pid"
grep -q "eject button: the disc stays in the drive: not everything was written to it" "$T/bad.daemon.log" ||
	fail "the daemon does not say the disc stays in: $(cat "$T/bad.daemon.log")"
grep -q '^op=1B' "$H/bad.log" && fail "the tray was opened though the data was not written"
echo "PASS: the eject button while mounted: written, unmounted, unlocked, ejected, in the drive's order; a disc not written stays in"
