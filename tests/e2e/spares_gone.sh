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

# use_spares IMG K: marks the first K spares of both sparing tables defective (worn), tags fixed up
use_spares() {
	python3 - "$1" "$2" $t1 $t2 << 'EOF'
import struct, sys
def crc_itu(b):
    c = 0
    for x in b:
        c ^= x << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c
img, k = sys.argv[1], int(sys.argv[2])
with open(img, 'r+b') as f:
    for loc in map(int, sys.argv[3:]):
        f.seek(loc * 2048)
        b = bytearray(f.read(2048))
        assert b[17:35] == b'*UDF Sparing Table', 'no sparing table at %d' % loc
        n = struct.unpack_from('<H', b, 48)[0]
        for i in range(k):
            struct.pack_into('<I', b, 56 + 8 * i, 0xFFFFFFF0)
        crc_len = struct.unpack_from('<H', b, 10)[0]
        struct.pack_into('<H', b, 8, crc_itu(b[16:16 + crc_len]))
        b[4] = sum(b[i] for i in range(16) if i != 4) & 0xFF
        f.seek(loc * 2048)
        f.write(b)
EOF
}
free_spares() { # free_spares IMG SECTOR → free entries of the table at SECTOR
	python3 -c '
import struct, sys
f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2]) * 2048); b = f.read(2048)
n = struct.unpack_from("<H", b, 48)[0]
print(sum(struct.unpack_from("<I", b, 56 + 8 * i)[0] == 0xFFFFFFFF for i in range(n)))' "$1" "$2"
}

# 1. one spare left, and a packet the drive cannot write: the last spare takes it, then read-only
use_spares "$img" 31
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
