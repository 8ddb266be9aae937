#!/usr/bin/env bash
# Write-once benchmark (not a test: it prints numbers measured side by side in one run), on the emulated
# drive's speed model (a simulated clock: the medium's 1x rate × speed, plus access time on every seek).
# Run as root.  For each write-once profile (cd-r, dvd-r, dvd+r, bd-r):
#   1. a copy of one COPY_MIB file (default 200 MiB) into the files view of a freshly formatted disc,
#      then the fsync that commits it: user throughput ÷ the emulated medium's rate, target ≥ 0.9
#      (throughput = the bytes copied ÷ the simulated seconds the drive spent from before the copy to
#      after the fsync; the rate = the drive's emu_medium_rate_bytes_per_s)
#   2. COMMITS commits of one small file (100 bytes) each, one fsync each: the space one commit costs,
#      from the drive's next writable address before and after ÷ commits (includes the file's own
#      block, the changed file entries and directory, the new VAT, the padding to the write unit and,
#      on CD-R, the 7 link blocks), and the part of it that is not file data; the sectors are then
#      classified from the image (a 100-byte file lives inside its file entry: "data" stays 0)
# Usage: bench/write_once.sh [COPY_MIB] [COMMITS] (defaults 200, 50)
set -euo pipefail
cd "$(dirname "$0")/.."
COPY_MIB=${1:-200}
COMMITS=${2:-50}
P=${PKTFUSE:-$PWD/build/fuse/pktfuse}
[ -x "$P" ] || bash scripts/build.sh > /dev/null
W=$(mktemp -d /var/tmp/pktfuse-wo.XXXXXX)
trap 'mountpoint -q "$W/mnt" && fusermount3 -u "$W/mnt"; rm -rf "$W"' EXIT
mkdir -p "$W/mnt"
st() { "$P" status --raw "$W/mnt" | awk -F': ' -v k="$1" '$1 == k { print $2 }'; }
fsync_path() { python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)' "$1"; }
head -c "$((COPY_MIB << 20))" /dev/urandom > "$W/src"
echo "pktfuse write-once benchmark (emulator speed model, simulated clock) — $(date -u +%FT%TZ), $(nproc) CPUs"
printf "%-6s %5s | %-50s | %s\n" profile speed "copy of ${COPY_MIB} MiB + fsync" \
	"${COMMITS} commits of one 100-byte file: bytes per commit"
# PROFILE:SPEED[:EMULATOR_OPTION]; the second cd-r row charges no access time between packets: the
# emulator now charges one per packet, since the 7 link blocks leave its head short of the next NWA
for spec in cd-r:16 cd-r:16:access_ms=0 dvd-r:4 dvd+r:4 bd-r:2; do
	IFS=: read -r prof speed extra <<< "$spec"
	img="$W/$prof.img"
	rm -f "$img" "$img.state"
	size=$((COPY_MIB + 64))
	[ "$prof" != cd-r ] || [ "$size" -le 700 ] || size=700
	"$P" format "emu:$prof:$img,size=${size}M" > /dev/null
	"$P" "emu:$prof:$img,speed=$speed${extra:+,$extra}" "$W/mnt"
	rate=$(st emu_medium_rate_bytes_per_s)
	t0=$(st emu_sim_seconds)
	cp "$W/src" "$W/mnt/big"
	fsync_path "$W/mnt/big"
	t1=$(st emu_sim_seconds)
	copy=$(awk -v u=$((COPY_MIB << 20)) -v t0="$t0" -v t1="$t1" -v r="$rate" \
		'BEGIN { printf "%.2f MB/s in %.1f s simulated = %.3f x rate (%.2f MB/s)", u/(t1-t0)/1e6, t1-t0, u/(t1-t0)/r, r/1e6 }')
	cmp "$W/src" "$W/mnt/big" || echo "   $prof: the copy differs from its source" >&2
	mkdir "$W/mnt/small"
	fsync_path "$W/mnt/small"
	n0=$(st emu_next_writable) c0=$(st udf_commits) w0=$(st emu_write_commands) link=$(st link_sectors)
	python3 - "$W/mnt/small" "$COMMITS" << 'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(f"{d}/f{i:04d}", "wb") as f:
        f.write(b"x" * 100)
        f.flush()
        os.fsync(f.fileno())
EOF
	n1=$(st emu_next_writable) c1=$(st udf_commits) w1=$(st emu_write_commands)
	[ $((c1 - c0)) = "$COMMITS" ] || echo "   $prof: $((c1 - c0)) commits for $COMMITS fsyncs" >&2
	"$P" umount "$W/mnt"
	# what the sectors the commits took hold, read from the image once the drive has written them all
	per=$(python3 - "$img" "$n0" "$n1" "$COMMITS" $(((w1 - w0) * link)) << 'EOF'
import struct, sys
img, n0, n1, n, link = sys.argv[1], *map(int, sys.argv[2:])
k = {"data": 0, "descriptor": 0, "zero": 0, "other": 0}
with open(img, "rb") as f:
    for s in range(n0, n1):
        f.seek(s * 2048)
        b = f.read(2048).ljust(2048, b"\0")
        tag = struct.unpack_from("<H", b, 0)[0]
        if not any(b):
            k["zero"] += 1
        elif b[:100] == b"x" * 100 and not any(b[100:]):
            k["data"] += 1
        elif tag in (257, 261, 266) and (sum(b[0:4]) + sum(b[5:16])) & 0xFF == b[4]:
            k["descriptor"] += 1  # file entries (the VAT's too) and directory blocks
        else:
            k["other"] += 1
per = (n1 - n0) / n
print(f"{per * 2048:.0f} B = {per:.1f} sectors: {k['descriptor'] / n:.1f} FE/VAT/dir, {k['other'] / n:.1f} other, "
      f"{k['data'] / n:.1f} data, {(k['zero'] - link) / n:.1f} padding, {link / n:.1f} link; "
      f"{per * 2048 - 100:.0f} B not file data")
EOF
)
	printf "%-6s %4sx | %-50s | %s\n" "$prof" "$speed" "$copy${extra:+ ($extra)}" "$per"
done
echo "(x rate = user throughput ÷ the medium's user-data rate at that speed, target ≥ 0.9; bytes per commit from the"
echo " drive's next writable address ÷ commits; not file data = that − the 100 bytes written)"
