#!/usr/bin/env bash
# What a background daemon could not do is not lost: drive errors reach `pktfuse status`
# (last_error lines), `pktfuse umount` says what was not written and exits 1, and a daemon killed
# before it finished is reported as such.
. "$(dirname "$0")/lib.sh"
need_root
mkdir -p "$T/mnt"

# A DVD+RW whose sector 2000 cannot be written; 8 MB cached, nothing written before the unmount.
truncate -s 64M "$T/dvd.img"
S="emu:dvd+rw:$T/dvd.img,write_error=2000"
start_pktfuse "$S" "$T/mnt" -o image,dirty_age=3600,cache=16M
"$PATTERN" werr 8000000 | dd of="$T/mnt/disc" bs=1M conv=notrunc status=none iflag=fullblock
[ "$(stat_of "$T/mnt" dirty_packets)" -gt 0 ] || fail "nothing dirty to test with"
if dd if=/dev/null of="$T/mnt/disc" conv=notrunc,fsync status=none 2> /dev/null; then fail "fsync over a write error succeeded"; fi
# The drive's error, with its decoded sense, is kept by the background daemon.
"$PKTFUSE" status --raw "$T/mnt" > "$T/status"
grep -q '^last_error: .*command 2Ah failed at sector 2000: MEDIUM ERROR' "$T/status" ||
	fail "pktfuse status lacks the drive's error: $(grep -i error "$T/status")"
[ "$(awk -F': ' '$1 == "logged_errors" {print $2}' "$T/status")" -ge 1 ] || fail "logged_errors did not count it"
grep -q '^last_error: .*the flush for an fsync failed: Input/output error' "$T/status" || fail "the failed fsync is not logged"
pid=$(pid_of_mount "$T/mnt")
report=$(stat_of "$T/mnt" report_file)
set +e
"$PKTFUSE" umount "$T/mnt" 2> "$T/err"
rc=$?
set -e
note "pktfuse umount → $rc: $(cat "$T/err")"
[ "$rc" -ne 0 ] || fail "pktfuse umount returned 0 though the daemon could not write its cache"
grep -q "could not write all cached data to $S: [1-9][0-9]* packets" "$T/err" || fail "umount does not say what was not written"
grep -q "command 2Ah failed at sector 2000" "$T/err" || fail "umount does not show the drive's error"
# (an exited daemon that its new parent has not reaped yet is done too)
if kill -0 "$pid" 2> /dev/null && [ "$(awk '{print $3}' /proc/"$pid"/stat 2> /dev/null)" != Z ]; then
	fail "pktfuse umount returned before the daemon exited"
fi
[ ! -e "$report" ] || fail "umount left the report $report behind"

# Everything written: umount is silent and exits 0, no report is left.
truncate -s 64M "$T/ok.img"
start_pktfuse "emu:dvd+rw:$T/ok.img" "$T/mnt" -o image,dirty_age=3600
"$PATTERN" ok 3000000 | dd of="$T/mnt/disc" bs=1M conv=notrunc status=none iflag=fullblock
report=$(stat_of "$T/mnt" report_file)
[ -e "$report" ] || fail "no report file $report while running"
"$PKTFUSE" umount "$T/mnt" 2> "$T/err" || fail "pktfuse umount failed: $(cat "$T/err")"
[ ! -s "$T/err" ] || fail "pktfuse umount printed: $(cat "$T/err")"
[ ! -e "$report" ] || fail "a clean end left the report $report"
cmp <("$PATTERN" ok 3000000) <(head -c 3000000 "$T/ok.img") || fail "data lost"

# A daemon killed while umount waits for it: fusermount3, as umount runs it, kills the daemon first.
start_pktfuse "$T/ok.img" "$T/mnt" -o image,dirty_age=3600
pid=$(pid_of_mount "$T/mnt")
mkdir -p "$T/bin"
cat > "$T/bin/fusermount3" <<EOS
#!/bin/sh
kill -KILL $pid
while kill -0 $pid 2>/dev/null && [ "\$(awk '{print \$3}' /proc/$pid/stat 2>/dev/null)" != Z ]; do sleep 0.05; done
exec $(command -v fusermount3) "\$@"
EOS
chmod 755 "$T/bin/fusermount3"
set +e
PATH="$T/bin:$PATH" "$PKTFUSE" umount "$T/mnt" 2> "$T/err"
rc=$?
set -e
note "pktfuse umount of a killed daemon → $rc: $(cat "$T/err")"
[ "$rc" -ne 0 ] || fail "pktfuse umount returned 0 for a daemon that was killed"
grep -q "ended without finishing" "$T/err" || fail "umount does not say the daemon was killed"
mountpoint -q "$T/mnt" && fail "still mounted"
# A daemon killed before umount: the dead mount is cleaned up and the kill is reported.
start_pktfuse "$T/ok.img" "$T/mnt" -o image,dirty_age=3600
pid=$(pid_of_mount "$T/mnt")
report=$(stat_of "$T/mnt" report_file)
kill -KILL "$pid"
wait_gone "$pid"
set +e
"$PKTFUSE" umount "$T/mnt" 2> "$T/err"
rc=$?
set -e
note "pktfuse umount of a dead mount → $rc: $(cat "$T/err")"
[ "$rc" -ne 0 ] || fail "pktfuse umount returned 0 for a daemon killed before it"
grep -q "(pid $pid) ended without finishing" "$T/err" || fail "umount does not name the killed daemon"
mountpoint -q "$T/mnt" 2> /dev/null && fail "the dead mount is still there"
[ ! -e "$report" ] || fail "the killed daemon's report is left behind"
echo "PASS: errors of a background daemon reach status and umount; umount reports failures and kills"
