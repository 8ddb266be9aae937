#!/usr/bin/env bash
# `pktfuse status` never waits for the drive.  The files view of an emulated CD-RW at its real speed
# (realtime=1, 4x); a large file written and fsync'ed in the background; once the drive's log shows
# the commit writing, the drive is stuck (control word pause: the command it is about to run waits,
# with the device's lock taken, as a slow WRITE does).  While it is stuck, mid-commit, `pktfuse status`
# (the stats ioctl, answered in the daemon's single FUSE loop) must answer; it used to wait for the
# device's lock, i.e. here for ever.  Then the drive goes on and the fsync must succeed.
. "$(dirname "$0")/lib.sh"
need_root

SIZE_MIB=8 # ~12 s of writing at 4x: the pause lands inside the commit with a wide margin
img=$T/cd.img
log=$T/drive.log
"$PKTFUSE" format "emu:cdrw:$img,size=64M" > "$T/format.out" 2>&1 || fail "format: $(cat "$T/format.out")"
start_pktfuse "emu:cdrw:$img,realtime=1,log=$log" "$T/mnt" -o commit=600
"$PKTFUSE" status --raw "$T/mnt" > /dev/null || fail "status before the commit"

writes() { grep -c '^op=2A' "$log" || true; }
# until COND holds (bounded: 120 s), polling
wait_for() {
	local i
	for i in $(seq 1 1200); do
		if eval "$1"; then return 0; fi
		sleep 0.1
	done
	return 1
}
resume() { printf 'resume\n' > "$img.ctl.tmp" && mv "$img.ctl.tmp" "$img.ctl"; }
trap 'resume 2> /dev/null; cleanup' EXIT # a failure never leaves the drive stuck

"$PATTERN" big $((SIZE_MIB * 1048576)) > "$T/big.ref"
w0=$(writes)
dd if="$T/big.ref" of="$T/mnt/big" bs=1M conv=fsync status=none &
writer=$!
_pids+=("$writer")
wait_for '[ "$(writes)" -gt "$w0" ]' || fail "the drive's log shows no write of the commit"
printf 'pause\n' > "$img.ctl.tmp" && mv "$img.ctl.tmp" "$img.ctl"
wait_for 'grep -q "^control=pause$" "$log"' || fail "the drive did not take the pause"
kill -0 "$writer" 2> /dev/null || fail "the write and fsync ended before the drive was paused (make SIZE_MIB larger)"
n_paused=$(wc -l < "$log")

rc=0
timeout 60 "$PKTFUSE" status --raw "$T/mnt" > "$T/status" 2> "$T/status.err" || rc=$?
still_stuck=$([ "$(wc -l < "$log")" -eq "$n_paused" ] && echo yes || echo no)
resume
[ "$rc" -eq 0 ] || fail "pktfuse status did not answer while the drive was stuck (rc $rc: $(cat "$T/status.err"))"
[ "$still_stuck" = yes ] || fail "the drive ran commands while paused (the log grew)"
kill -0 "$writer" 2> /dev/null || fail "the commit ended while the drive was paused"
grep -q '^mmc_write_commands: [1-9]' "$T/status" || fail "status lacks the drive's write count: $(grep mmc_ "$T/status")"
grep -q '^emu_profile: ' "$T/status" || fail "status lacks the emulator's lines"
note "status answered while the drive was stuck mid-commit ($(($(writes) - w0)) writes of the commit logged)"

wait "$writer" || fail "the write or its fsync failed after the drive went on"
cmp "$T/big.ref" "$T/mnt/big" || fail "the file differs after the commit"
grep -q '^control=pause_timeout' "$log" && fail "the pause timed out instead of being resumed"
"$PKTFUSE" umount "$T/mnt" || fail "umount"
echo "PASS: pktfuse status answers while the drive is stuck inside a commit"
