#!/usr/bin/env bash
# Long work shows its progress on a terminal, in words.  `pktfuse umount` shows what is left to write
# and the rate while the daemon writes its cache, and still reports a failure as it does without
# one; without a terminal it prints nothing.  `pktfuse format` names the medium and the UDF step.
# The terminal is a pty made by script(1).
. "$(dirname "$0")/lib.sh"
need_root
command -v script > /dev/null || { echo "SKIP: no script(1) for a pty"; exit $SKIP; }
mkdir -p "$T/mnt"
# mib BYTES → "N.N MiB", as the progress line says it
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
dirty_bytes() { echo $(( $(stat_of "$1" dirty_packets) * $(stat_of "$1" packet_sectors) * $(stat_of "$1" sector_size) )); }
# on_tty FILE CMD…: runs CMD on a pty, its output (frames split at \r) in FILE; returns its status
on_tty() {
	local out=$1 rc=0
	shift
	script -qec "$(printf '%q ' "$@")" /dev/null > "$out.raw" || rc=$?
	tr '\r' '\n' < "$out.raw" | sed 's/\x1b\[K//g' > "$out"
	return $rc
}

# 1. the block file of an emulated DVD+RW, 8 MB waiting: a bar with what is left, then the total
truncate -s 64M "$T/dvd.img"
start_pktfuse "emu:dvd+rw:$T/dvd.img" "$T/mnt" -o image,dirty_age=3600,cache=16M
"$PATTERN" prog 8000000 | dd of="$T/mnt/disc" bs=1M conv=notrunc status=none iflag=fullblock
dirty=$(dirty_bytes "$T/mnt")
[ "$dirty" -ge 8000000 ] || fail "only $dirty bytes dirty to test with"
pid=$(pid_of_mount "$T/mnt")
on_tty "$T/out" "$PKTFUSE" umount "$T/mnt" || fail "umount on a terminal failed: $(cat "$T/out")"
cat "$T/out"
grep -qE "^Writing to the disc \[-+\] $(mib "$dirty") left" "$T/out" || fail "no bar with $(mib "$dirty") left"
grep -qE "^Wrote $(mib "$dirty") to the disc in [0-9]+\.[0-9] s \([0-9.]+ [KMG]iB/s\)$" "$T/out" ||
	fail "no final line with $(mib "$dirty") written and the rate"
wait_gone "$pid"
mountpoint -q "$T/mnt" && fail "still mounted"
cmp <("$PATTERN" prog 8000000) <(head -c 8000000 "$T/dvd.img") || fail "data lost"

# 2. not a terminal: nothing on standard output
start_pktfuse "emu:dvd+rw:$T/dvd.img" "$T/mnt" -o image,dirty_age=3600,cache=16M
"$PATTERN" prog2 4000000 | dd of="$T/mnt/disc" bs=1M conv=notrunc status=none iflag=fullblock
"$PKTFUSE" umount "$T/mnt" > "$T/out" 2>&1 || fail "umount: $(cat "$T/out")"
[ ! -s "$T/out" ] || fail "umount printed without a terminal: $(cat "$T/out")"
cmp <("$PATTERN" prog2 4000000) <(head -c 4000000 "$T/dvd.img") || fail "data lost without a terminal"

# 3. the files view, 3 MiB in a file: the flush goes through the mount's root
truncate -s 32M "$T/udf.img"
"$PKTFUSE" format "$T/udf.img" > /dev/null || fail "format"
start_pktfuse "$T/udf.img" "$T/mnt" -o dirty_age=3600
"$PATTERN" three 3145728 > "$T/mnt/three"
on_tty "$T/out" "$PKTFUSE" umount "$T/mnt" || fail "umount of the files view on a terminal failed: $(cat "$T/out")"
grep -qE "^Wrote [3-9]\.[0-9] MiB to the disc in " "$T/out" || fail "files view: $(cat "$T/out")"
start_pktfuse "$T/udf.img" "$T/mnt"
cmp <("$PATTERN" three 3145728) "$T/mnt/three" || fail "the file is not on the disc"
stop_pktfuse "$T/mnt"

# 4. a sector the drive cannot write: the bar ends with the failure, umount says what was not
# written and exits 1, as without a terminal
truncate -s 64M "$T/bad.img"
S="emu:dvd+rw:$T/bad.img,write_error=2000"
start_pktfuse "$S" "$T/mnt" -o image,dirty_age=3600,cache=16M
"$PATTERN" werr 8000000 | dd of="$T/mnt/disc" bs=1M conv=notrunc status=none iflag=fullblock
if on_tty "$T/out" "$PKTFUSE" umount "$T/mnt"; then fail "umount on a terminal returned 0 over a write error"; fi
cat "$T/out"
grep -qE "^Writing to the disc: .* written, then the disc failed \(Input/output error\)$" "$T/out" ||
	fail "the bar does not end with the failure"
grep -q "could not write all cached data to $S: [1-9][0-9]* packets" "$T/out" || fail "umount does not say what was not written"
grep -q "command 2Ah failed at sector 2000" "$T/out" || fail "umount does not show the drive's error"
mountpoint -q "$T/mnt" && fail "still mounted after the failure"

# 5. format on a terminal: "Formatting the CD-RW" (not the SCSI command), then the UDF step; without
# a terminal neither
on_tty "$T/out" "$PKTFUSE" format "emu:cdrw:$T/cd.img" || fail "format on a terminal: $(cat "$T/out")"
grep -qE '^Formatting the CD-RW: \[#{40}\] 100%$' "$T/out" || fail "format's bar: $(head -c 600 "$T/out")"
grep -q 'FORMAT UNIT' "$T/out" && fail "format names the SCSI command"
grep -qx 'Writing the UDF file system' "$T/out" || fail "format does not show the UDF step"
"$PKTFUSE" format "emu:dvd+rw:$T/dvd2.img,size=64M" > "$T/out" 2> "$T/err" || fail "format: $(cat "$T/err")"
[ ! -s "$T/err" ] || fail "format printed progress without a terminal: $(cat "$T/err")"
echo "PASS: format in words; umount shows the writing on a terminal (left, rate, total), nothing otherwise, and reports failure"
