#!/usr/bin/env bash
# Defect management on a worn CD-RW (what pktcdvd never had): the emulated drive fails every write
# to one packet; the files view moves that packet into a spare of the UDF sparing table, records it
# in both table copies, and fsync succeeds.  Then a spare wears out in turn.  The files read back,
# through pktfuse and through the Linux kernel's udf (which follows the sparing table), and every
# WRITE the drive accepted obeyed the fixed-packet rules.
. "$(dirname "$0")/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
img="$T/cd.img"
"$PKTFUSE" format "emu:cdrw:$img,size=64M" > /dev/null || fail "format"

N=$((64 * 1024 * 1024 / 2048))
t1=160
t2=$((N - 32))
[ "$(sparing_table "$img" $t1)" = "0  | defective 0" ] || fail "fresh table: $(sparing_table "$img" $t1)"

# 1. a packet of the data area cannot be written
bad=2408 # partition block 1096, in the packet starting at partition block 1088
head -c 4000000 /dev/urandom > "$T/big"
"$PATTERN" sparing 300000 > "$T/small"
start_pktfuse "emu:cdrw:$img,write_error=$bad,log=$T/drive1.log" "$T/mnt"
cp "$T/big" "$T/mnt/big"
mkdir "$T/mnt/dir"
cp "$T/small" "$T/mnt/dir/small"
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$T/mnt/big" ||
	fail "fsync failed although a spare was free"
moved=$("$PKTFUSE" status --raw "$T/mnt" | awk -F': ' '$1 == "udf_relocated_packets" { print $2 }')
[ "$moved" = 1 ] || fail "relocated packets: '$moved', expected 1"
"$PKTFUSE" umount "$T/mnt"
grep -q "op=2A status=CHECK sense=03/0C/00" "$T/drive1.log" || fail "the drive never reported the write error"
awk '$1 == "op=2A" && $NF == "status=GOOD" && $4 != "rule=ok" { bad++ } END { exit bad > 0 }' "$T/drive1.log" ||
	fail "a write broke the fixed-packet rules"
grep -q "op=2A lba=288 n=32 rule=ok" "$T/drive1.log" || fail "nothing was written to the first spare packet"
want="1 1088>288 | defective 0"
[ "$(sparing_table "$img" $t1)" = "$want" ] || fail "table 1: $(sparing_table "$img" $t1), expected $want"
[ "$(sparing_table "$img" $t2)" = "$want" ] || fail "table 2: $(sparing_table "$img" $t2), expected $want"
note "a failed packet moved to a spare; both sparing tables say $want"

# 2. read back without the fault, then the spare itself wears out while the file is rewritten
start_pktfuse "emu:cdrw:$img,write_error=300,log=$T/drive2.log" "$T/mnt"
cmp "$T/big" "$T/mnt/big" || fail "the file in the moved packet reads back differently"
cmp "$T/small" "$T/mnt/dir/small" || fail "another file differs"
head -c 4000000 /dev/urandom > "$T/big2"
dd if="$T/big2" of="$T/mnt/big" bs=64k conv=notrunc,fsync status=none || fail "rewrite over a worn spare failed"
"$PKTFUSE" umount "$T/mnt"
want="2 1088>320 | defective 1"
[ "$(sparing_table "$img" $t1)" = "$want" ] || fail "table 1: $(sparing_table "$img" $t1), expected $want"
[ "$(sparing_table "$img" $t2)" = "$want" ] || fail "table 2: $(sparing_table "$img" $t2), expected $want"
note "a worn spare was marked defective and replaced: $want"
udfinfo "$img" > "$T/ui" 2>&1 || fail "udfinfo: $(cat "$T/ui")"
grep -qx 'integrity=closed' "$T/ui" || fail "not closed: $(cat "$T/ui")"
start_pktfuse "emu:cdrw:$img" "$T/mnt"
cmp "$T/big2" "$T/mnt/big" || fail "the rewritten file differs"
"$PKTFUSE" umount "$T/mnt"

# 3. the Linux kernel follows the sparing table to the same bytes
if command -v qemu-system-x86_64 > /dev/null; then
	cat > "$T/guest.sh" << 'EOF'
mount -t udf -o ro /dev/vda /mnt || exit 3
sha256sum /mnt/big /mnt/dir/small | cut -c1-64
EOF
	want=$( (sha256sum < "$T/big2"; sha256sum < "$T/small") | cut -c1-64)
	if bash "$HERE/../kernel/kudf.sh" "$img" "$T/guest.sh" > "$T/kernel" 2> "$T/kernel.err"; then
		[ "$(cat "$T/kernel")" = "$want" ] || fail "the kernel reads other bytes: $(cat "$T/kernel")"
		note "the kernel reads both files through the sparing table"
	elif grep -q "kudf: cannot" "$T/kernel.err"; then
		note "kernel check skipped: $(cat "$T/kernel.err")"
	else
		fail "the kernel could not read the disc: $(cat "$T/kernel" "$T/kernel.err" | tail -5)"
	fi
fi
echo "PASS: defect management through the UDF sparing table"
