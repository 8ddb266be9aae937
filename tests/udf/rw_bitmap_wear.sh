#!/usr/bin/env bash
# The space bitmap is written at unmount, not by every commit (issue 13, media life: a CD-RW packet
# takes about 1,000 rewrites, and an fsync per file rewrote the bitmap's packet every time).  On an
# emulated CD-RW whose drive log lists every WRITE:
#   - 60 small files with one fsync each write the bitmap's packet not at all until the unmount,
#     and once at it;
#   - an fsync of the root directory (the whole volume) writes it;
#   - after SIGKILL of the daemon, fsync'd files are intact: the next mount rebuilds the bitmap
#     (the check after an unclean shutdown), so files written then do not overwrite them, and a
#     clean unmount leaves a volume udfinfo accepts with the free space pktfuse counts.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/rwlib.sh"
need_udftools

img=$T/cd.img
log=$T/cd.log
"$PKTFUSE" format "emu:cdrw:$img,size=64M" > /dev/null || fail "format"
# the sector of the space bitmap: partition start + the partition header's bitmap position
bm=$(python3 - "$img" << 'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    for s in range(16, 512):
        f.seek(s * 2048)
        b = f.read(512)
        if len(b) == 512 and struct.unpack_from("<H", b, 0)[0] == 5:
            print(struct.unpack_from("<I", b, 188)[0] + struct.unpack_from("<I", b, 56 + 12)[0])
            break
EOF
)
[ -n "$bm" ] || fail "no partition descriptor in the formatted image"
# bitmap_writes → WRITE commands in the drive log so far that touch the bitmap's 32-sector packet
bitmap_writes() {
	awk -v K=$((bm / 32)) '$1 == "op=2A" { split($2, a, "="); split($3, b, "=")
		if (int(a[2] / 32) <= K && int((a[2] + b[2] - 1) / 32) >= K) n++ } END { print n + 0 }' "$log"
}
# write_files DIR FIRST COUNT: small files, each fsync'd; file i holds "file i" 50 times
write_files() {
	python3 - "$@" << 'EOF'
import os, sys
d, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
for i in range(first, first + count):
    with open(f"{d}/f{i:04d}", "wb") as f:
        f.write(f"file {i}\n".encode() * 50)
        f.flush()
        os.fsync(f.fileno())
EOF
}
# check_files DIR COUNT: files 0..COUNT-1 hold what write_files wrote
check_files() {
	python3 - "$@" << 'EOF'
import sys
d, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    with open(f"{d}/f{i:04d}", "rb") as f:
        if f.read() != f"file {i}\n".encode() * 50:
            sys.exit(f"{d}/f{i:04d} does not hold what was written")
EOF
}

start_pktfuse "emu:cdrw:$img,log=$log" "$T/mnt"
write_files "$T/mnt/small" 0 60
n=$(bitmap_writes)
[ "$n" = 0 ] || fail "60 fsync'd files wrote the bitmap's packet $n times before the unmount (expected 0)"
stop_pktfuse "$T/mnt"
n=$(bitmap_writes)
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || fail "the bitmap's packet was written $n times by the mount (expected 1 or 2, at unmount)"
check_udfinfo "$img" "after a clean unmount" > /dev/null

# an fsync of the root directory is an fsync of the whole volume: the bitmap goes to the medium
rm -f "$log"
start_pktfuse "emu:cdrw:$img,log=$log" "$T/mnt"
write_files "$T/mnt/more" 0 5
[ "$(bitmap_writes)" = 0 ] || fail "file fsyncs wrote the bitmap"
fsync_path "$T/mnt"
[ "$(bitmap_writes)" -ge 1 ] || fail "an fsync of the root directory did not write the bitmap"
stop_pktfuse "$T/mnt"

# a crash with the bitmap behind: the next mount rebuilds it, nothing fsync'd is overwritten
rm -f "$log"
start_pktfuse "emu:cdrw:$img,log=$log" "$T/mnt"
pid=$(pid_of_mount "$T/mnt")
write_files "$T/mnt/crash" 0 40
[ "$(bitmap_writes)" = 0 ] || fail "file fsyncs wrote the bitmap before the crash"
kill -KILL "$pid"
wait_gone "$pid"
remove_dead_mount "$T/mnt" || true
"$PKTFUSE" "emu:cdrw:$img" "$T/mnt" > "$T/out" 2>&1 || fail "the crashed disc does not mount: $(cat "$T/out")"
grep -q "not cleanly unmounted" "$T/out" || fail "the mount after the crash did not check the disc: $(cat "$T/out")"
assert_rw "$T/mnt"
check_files "$T/mnt/crash" 40 || fail "fsync'd files lost in the crash"
write_files "$T/mnt/after" 0 40
check_files "$T/mnt/crash" 40 || fail "files written after the crash overwrote fsync'd ones"
check_files "$T/mnt/small" 60 || fail "files written after the crash overwrote older ones"
"$PKTFUSE" umount "$T/mnt" || fail "unmount after the crash"
check_udfinfo "$img" "after the crash, the repair and a clean unmount" > /dev/null
start_pktfuse "emu:cdrw:$img" "$T/mnt" -o ro
check_files "$T/mnt/crash" 40 && check_files "$T/mnt/after" 40 && check_files "$T/mnt/small" 60 ||
	fail "files differ after the final unmount"
stop_pktfuse "$T/mnt"
echo "PASS: the space bitmap is written at unmount and on an fsync of the root, rebuilt after a crash"
