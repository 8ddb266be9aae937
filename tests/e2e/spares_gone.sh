#!/usr/bin/env bash
# A worn-out CD-RW whose sparing table has no free spare left is mounted read-only with that reason,
# instead of failing every fsync later; a mount that uses the last spare writes what needed it (the
# fsync succeeds), then turns read-only with the reason in the log and the status.
. "$(dirname "$0")/lib.sh"
need_root
img="$T/cd.img"
"$PKTFUSE" format "emu:cdrw:$img,size=64M" > /dev/null || fail "format"
N=$((64 * 1024 * 1024 / 2048))
t1=160
t2=$((N - 32))
reason="every spare packet of the sparing table is used"

# 1. one spare left, and a packet the drive cannot write: the last spare takes it, then read-only
use_spares "$img" 31 $t1 $t2
[ "$(free_spares "$img" $t1)" = 1 ] || fail "table not prepared: $(free_spares "$img" $t1) free"
bad=2408 # in the packet at partition block 1088 (tests/e2e/sparing.sh)
head -c 4000000 /dev/urandom > "$T/big"
start_pktfuse "emu:cdrw:$img,write_error=$bad" "$T/mnt"
[ "$(stat_of "$T/mnt" udf_writable)" = 1 ] || fail "not writable with one spare left: $(stat_of "$T/mnt" udf_readonly_reason)"
cp "$T/big" "$T/mnt/big"
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$T/mnt/big" ||
	fail "fsync failed although the last spare was free"
[ "$(stat_of "$T/mnt" udf_relocated_packets)" = 1 ] || fail "relocated: $(stat_of "$T/mnt" udf_relocated_packets)"
[ "$(stat_of "$T/mnt" udf_writable)" = 0 ] || fail "still writable after the last spare was used"
stat_of "$T/mnt" udf_readonly_reason | grep -q "^$reason" || fail "reason: $(stat_of "$T/mnt" udf_readonly_reason)"
"$PKTFUSE" status --raw "$T/mnt" | grep -q "^last_error: .*read-only from now on: $reason" ||
	fail "not in the log: $("$PKTFUSE" status --raw "$T/mnt" | grep last_error)"
if mkdir "$T/mnt/dir" 2> "$T/err"; then fail "mkdir succeeded on a worn-out disc"; fi
grep -q "Read-only file system" "$T/err" || fail "mkdir: $(cat "$T/err")"
stop_pktfuse "$T/mnt"
[ "$(free_spares "$img" $t1)" = 0 ] && [ "$(free_spares "$img" $t2)" = 0 ] || fail "the last spare is not recorded as used"
note "the last spare was used, the fsync succeeded, the mount turned read-only: $reason"

# 2. no spare left at all: read-only from the mount on, with that reason; the file reads back
start_pktfuse "emu:cdrw:$img" "$T/mnt"
[ "$(stat_of "$T/mnt" udf_writable)" = 0 ] || fail "a disc without spares was mounted writable"
stat_of "$T/mnt" udf_readonly_reason | grep -q "^$reason" || fail "reason: $(stat_of "$T/mnt" udf_readonly_reason)"
cmp "$T/big" "$T/mnt/big" || fail "the file in the last spare reads back differently"
if touch "$T/mnt/new" 2> "$T/err"; then fail "a file was created on a disc without spares"; fi
stop_pktfuse "$T/mnt"
note "a disc without spares mounts read-only: $reason"
