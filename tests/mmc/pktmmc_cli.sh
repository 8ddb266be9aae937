#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The test-only pktmmc command line against the emulator: info, format, pattern I/O, exit codes.
set -u
PKTMMC=$1
D=$(mktemp -d /tmp/pktmmc-cli-XXXXXX)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for p in cdrw dvd-rw dvd+rw dvd-ram bd-re cd-mrw; do
	S="emu:$p:$D/$p.img,size=16M,log=$D/$p.log"
	"$PKTMMC" info "$S" > "$D/info" || fail "$p: info"
	grep -q "formatted for packet writing: no" "$D/info" || fail "$p: new disc should be unformatted"
	"$PKTMMC" dd "$S" write 0 64 2> "$D/err" && fail "$p: write to a blank disc must fail"
	grep -q "pktfuse format" "$D/err" || fail "$p: no advice to format: $(cat "$D/err")"
	"$PKTMMC" format "$S" || fail "$p: format"
	"$PKTMMC" format "$S" 2> "$D/err" && fail "$p: second format without --force must fail"
	grep -q -- "--force" "$D/err" || fail "$p: no --force hint"
	"$PKTMMC" dd "$S" write 0 2048 5 || fail "$p: write"
	"$PKTMMC" dd "$S" verify 0 2048 5 || fail "$p: verify"
	"$PKTMMC" dd "$S" verify 0 2048 6 2> /dev/null && fail "$p: verify with the wrong seed must fail"
	"$PKTMMC" info "$S" | grep -q "writable: yes" || fail "$p: not writable after format"
	# Every write the emulator saw obeyed the medium's rules.
	grep '^op=2A' "$D/$p.log" | grep -v 'rule=ok rmw=0 status=GOOD' && fail "$p: a write broke the rules"
	grep -q '^op=2A' "$D/$p.log" || fail "$p: no writes logged"
done
"$PKTMMC" info "emu:zip:$D/z.img" 2> "$D/err" && fail "unknown profile accepted"
grep -q "unknown profile 'zip'" "$D/err" || fail "unknown profile message: $(cat "$D/err")"
"$PKTMMC" info "$D/nope" 2> /dev/null && fail "missing path accepted"
"$PKTMMC" info /dev/null 2> "$D/err" && fail "/dev/null accepted as a drive"
grep -q "not a SCSI/MMC drive" "$D/err" || fail "/dev/null message: $(cat "$D/err")"
"$PKTMMC" format "emu:cdrw:$D/cdrw.img" --quick --full 2> /dev/null && fail "--quick --full accepted"
"$PKTMMC" bogus x 2> /dev/null; [ $? -eq 2 ] || fail "usage exit code"
# The backend benchmark on the speed model: sequential whole packets reach the medium's rate.
"$PKTMMC" format "emu:dvd+rw:$D/b.img,size=32M" || fail "bench format"
"$PKTMMC" bench "emu:dvd+rw:$D/b.img,speed=4" 16 > "$D/bench" || fail "bench"
awk '/^sequential packets/ { if ($6 + 0 < 0.95) exit 1; found = 1 } END { exit !found }' "$D/bench" ||
	fail "bench sequential below 0.95: $(cat "$D/bench")"
"$PKTMMC" bench "emu:dvd+rw:$D/b.img" 2> "$D/err" && fail "bench without the speed model"
grep -q "speed=N" "$D/err" || fail "bench message: $(cat "$D/err")"
# A drive the user may not open: the message explains the cdrom group (needs root to set up).
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null && mknod "$D/sr-locked" c 1 3 2> /dev/null; then
	chmod 755 "$D"
	chmod 600 "$D/sr-locked"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$PKTMMC" info "$D/sr-locked" 2> "$D/err" &&
		fail "a drive without permission was opened"
	grep -q "cdrom" "$D/err" || fail "permission message: $(cat "$D/err")"
fi
echo "pktmmc CLI: all checks passed"
