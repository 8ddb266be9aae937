#!/usr/bin/env bash
# `pktfuse eject MOUNTPOINT|DRIVE` as a desktop user runs it, on the emulator: everything written,
# unmounted, the tray unlocked and opened, and said; the drive's log shows the order (the writes,
# then PREVENT ALLOW MEDIUM REMOVAL and START STOP UNIT last).  A drive not mounted is just ejected;
# what cannot be ejected is refused with the reason; a disc the daemon could not write stays in.
. "$(dirname "$0")/lib.sh"
need_root
use_test_user
P=$(user_copy "$PKTFUSE")
H="$T/home"
install -d -o "$U" -m 700 "$H"
as_user mkdir "$H/cd"
# ops LOG → the opcodes of the drive's log, one a line
ops() { sed -n 's/^op=\([0-9A-F][0-9A-F]\) .*/\1/p' "$1"; }

# 1. eject MOUNTPOINT: 3 MB waiting in the cache of an emulated CD-RW
as_user "$P" format "emu:cdrw:$H/cd.img" > /dev/null || fail "format as $U"
S="emu:cdrw:$H/cd.img,log=$H/drive.log"
as_user "$P" "$S" "$H/cd" -o dirty_age=3600 || fail "mount as $U"
_mounts+=("$H/cd")
_pids+=("$(as_user "$P" status --raw "$H/cd" | awk -F': ' '$1 == "daemon_pid" { print $2 }')")
"$PATTERN" ej 3000000 > "$T/data"
chmod 644 "$T/data"
as_user cp "$T/data" "$H/cd/data" || fail "write as $U"
cp "$H/drive.log" "$H/drive.log.before"
as_user "$P" eject "$H/cd" > "$T/out" 2> "$T/err" || fail "eject $H/cd: $(cat "$T/err")"
cat "$T/out"
[ ! -s "$T/err" ] || fail "eject printed errors: $(cat "$T/err")"
grep -qx "$H/cd: everything written to $S, unmounted" "$T/out" || fail "eject does not say it wrote and unmounted"
grep -qx "$S: tray unlocked and opened" "$T/out" || fail "eject does not say it opened the tray"
is_mounted "$H/cd" && fail "still mounted after eject"
ops "$H/drive.log" | tail -n +"$(($(ops "$H/drive.log.before" | wc -l) + 1))" > "$T/ops"
grep -qx 2A "$T/ops" || fail "no write after the eject began: the cache was not written by it"
[ "$(tail -2 "$T/ops" | tr '\n' ' ')" = "1E 1B " ] ||
	fail "the drive's last commands are not unlock then eject: $(tail -4 "$T/ops" | tr '\n' ' ')"
as_user "$P" "emu:cdrw:$H/cd.img" "$H/cd" -o ro || fail "remount"
cmp "$T/data" <(as_user cat "$H/cd/data") || fail "what was cached before the eject is not on the disc"
as_user "$P" umount "$H/cd" || fail "umount"

# 2. eject DRIVE that a mount serves (named without the mount's options): that mount is written,
# unmounted and ejected
as_user "$P" "$S" "$H/cd" || fail "mount 2"
: > "$H/drive.log"
as_user "$P" eject "emu:cdrw:$H/cd.img" > "$T/out" 2> "$T/err" || fail "eject DRIVE of a mount: $(cat "$T/err")"
grep -qx "$H/cd: everything written to $S, unmounted" "$T/out" || fail "eject DRIVE did not go through its mount: $(cat "$T/out")"
is_mounted "$H/cd" && fail "still mounted after eject DRIVE"
[ "$(ops "$H/drive.log" | tail -2 | tr '\n' ' ')" = "1E 1B " ] || fail "eject DRIVE of a mount: $(ops "$H/drive.log" | tr '\n' ' ')"

# 3. eject DRIVE not mounted: only the unlock and the eject reach the drive
: > "$H/drive.log"
as_user "$P" eject "$S" > "$T/out" || fail "eject of a drive not mounted"
grep -qx "$S: tray unlocked and opened" "$T/out" || fail "eject DRIVE: $(cat "$T/out")"
[ "$(ops "$H/drive.log" | tr '\n' ' ')" = "1E 1B " ] || fail "eject of a drive sent: $(ops "$H/drive.log" | tr '\n' ' ')"

# expect_refusal WORDS ARGS…: eject fails with one line containing WORDS
expect_refusal() {
	local words=$1 rc=0
	shift
	as_user "$P" eject "$@" > "$T/out" 2> "$T/err" || rc=$?
	note "eject $* → $rc: $(cat "$T/err")"
	[ "$rc" -ne 0 ] || fail "eject $* succeeded"
	grep -qF -- "$words" "$T/err" || fail "eject $*: $(cat "$T/err")"
	[ "$(wc -l < "$T/err")" = 1 ] || fail "eject $*: more than one line: $(cat "$T/err")"
}
# 4. what cannot be ejected: an image file, its mount (left mounted), a directory that is no mount
as_user truncate -s 16M "$H/disc.img"
as_user "$P" format "$H/disc.img" > /dev/null || fail "format image"
expect_refusal "is an image file, not a drive: nothing to eject" "$H/disc.img"
as_user mkdir "$H/img"
as_user "$P" "$H/disc.img" "$H/img" || fail "mount the image"
_mounts+=("$H/img")
expect_refusal "serves the image file $H/disc.img, not a drive: nothing to eject" "$H/img"
is_mounted "$H/img" || fail "eject unmounted an image file's mount it refused"
as_user "$P" umount "$H/img" || fail "umount image"
expect_refusal "is not a pktfuse mount" "$H"
expect_refusal "usage: pktfuse eject MOUNTPOINT|DRIVE"

# 5. a disc the daemon could not write stays in: no START STOP UNIT, exit 1
as_user truncate -s 64M "$H/bad.img"
B="emu:dvd+rw:$H/bad.img,write_error=2000,log=$H/bad.log"
as_user "$P" "$B" "$H/cd" -o image,dirty_age=3600,cache=16M || fail "mount the bad disc"
"$PATTERN" werr 8000000 > "$T/werr"
chmod 644 "$T/werr"
as_user dd if="$T/werr" of="$H/cd/disc" bs=1M conv=notrunc status=none || fail "write"
if as_user "$P" eject "$H/cd" > "$T/out" 2> "$T/err"; then fail "eject succeeded over a write error"; fi
cat "$T/err"
grep -q "could not write all cached data" "$T/err" || fail "eject does not say what was not written"
grep -q "the disc stays in the drive" "$T/err" || fail "eject does not say the disc stays in"
ops "$H/bad.log" | grep -qx 1B && fail "the tray was opened though the data was not written"
is_mounted "$H/cd" && fail "still mounted"

# 6. a write-once disc mounted with -o close=session: eject writes, closes the session (readable in
# any drive), then unlocks and opens the tray, in that order
as_user "$P" format "emu:dvd+r:$H/wo.img,size=64M" > /dev/null || fail "format the DVD+R"
S="emu:dvd+r:$H/wo.img,log=$H/wo.log"
as_user "$P" "$S" "$H/cd" -o close=session || fail "mount the DVD+R with close=session"
_mounts+=("$H/cd")
as_user cp "$T/data" "$H/cd/data" || fail "write to the DVD+R"
as_user "$P" eject "$H/cd" > "$T/out" 2> "$T/err" || fail "eject the DVD+R: $(cat "$T/err")"
is_mounted "$H/cd" && fail "the DVD+R is still mounted after eject"
ops "$H/wo.log" > "$T/wo.ops"
last_write=$(grep -n '^2A$' "$T/wo.ops" | tail -1 | cut -d: -f1)
last_close=$(grep -n '^5B$' "$T/wo.ops" | tail -1 | cut -d: -f1)
[ -n "$last_close" ] && [ "$last_close" -gt "${last_write:-0}" ] ||
	fail "the session was not closed after the last write: $(tr '\n' ' ' < "$T/wo.ops")"
[ "$(tail -2 "$T/wo.ops" | tr '\n' ' ')" = "1E 1B " ] ||
	fail "the DVD+R's last commands are not unlock then eject: $(tail -6 "$T/wo.ops" | tr '\n' ' ')"
grep '^op=5B' "$H/wo.log" | tail -1 | grep -q ' close fn=2 session=1 ' || fail "no close of session 1: $(grep '^op=5B' "$H/wo.log")"
as_user "$P" info "emu:dvd+r:$H/wo.img" > "$T/info" || fail "info of the ejected DVD+R"
grep -q "^sessions: 2" "$T/info" || fail "info does not show the closed session and the next one: $(cat "$T/info")"
echo "PASS: eject of a mount and of a drive as a user, in the drive's order; refusals; a failed disc stays in; a write-once session closed before the eject"
