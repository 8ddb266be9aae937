#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds pktfuse and shows the main job on emulated CD-RWs (no
# drive needed): format one with UDF, copy files onto it through the files view, unmount, read them
# back; then the block file: ext2 on a second disc through a loop device.  Prints the statistics and
# what the drive saw.  Run as root (loop devices and mount need it; pktfuse itself does not).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
PKTFUSE=$PWD/build/fuse/pktfuse

work=$(mktemp -d /tmp/pktfuse-demo.XXXXXX)
loop=
# mounted DIR: by /proc/self/mountinfo (`mountpoint -q` calls the mount of a dead daemon "not mounted")
mounted() { DIR=$1 awk '$5 == ENVIRON["DIR"] { f = 1 } END { exit !f }' /proc/self/mountinfo; }
cleanup() {
	set +e
	mounted "$work/fs" && umount "$work/fs"
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	mounted "$work/mnt" && { "$PKTFUSE" umount "$work/mnt" || umount -l "$work/mnt"; }
	mounted "$work/files" && { "$PKTFUSE" umount "$work/files" || umount -l "$work/files"; }
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/mnt" "$work/fs" "$work/files"

udfdisc="emu:cdrw:$work/udf.img,size=128M,log=$work/udf-drive.log"
echo "A1. A blank emulated 128 MiB CD-RW: fixed 32-sector packets and an empty UDF 2.01 file system"
echo "    pktfuse format $udfdisc --label demo"
"$PKTFUSE" format "$udfdisc" --label demo
echo "A2. pktfuse $udfdisc $work/files    (the files view: no loop device, no root needed)"
"$PKTFUSE" "$udfdisc" "$work/files"
cp -r "$PWD/core" "$PWD/docs" "$work/files/"
dd if=/dev/urandom of="$work/files/random.bin" bs=1M count=8 status=none
udfsha=$(sha256sum < "$work/files/random.bin")
sync "$work/files/random.bin" # fsync: everything so far is on the disc
df -h "$work/files" | tail -1
"$PKTFUSE" status --raw "$work/files" | grep -E '^(udf_|packets_written|medium_write_bytes)'
"$PKTFUSE" umount "$work/files"
bad=$(grep '^op=2A' "$work/udf-drive.log" | grep -vc 'rule=ok rmw=0 status=GOOD' || true)
echo "A3. The drive saw $(grep -c '^op=2A' "$work/udf-drive.log") WRITE commands; $bad broke the fixed-packet rules"
echo "A4. The disc again: udfinfo, and the files read back"
udfinfo "$work/udf.img" | grep -E '^(label|udfrev|numfiles|numdirs|integrity)='
"$PKTFUSE" "emu:cdrw:$work/udf.img" "$work/files" -o ro
diff -r "$PWD/core" "$work/files/core" && echo "core/ identical on the disc"
[ "$(sha256sum < "$work/files/random.bin")" = "$udfsha" ] && echo "random.bin intact on the disc"
"$PKTFUSE" umount "$work/files"

disc="emu:cdrw:$work/disc.img,size=128M,log=$work/drive.log"
echo "1. A second blank CD-RW, formatted for fixed packets only (--no-udf): ext2 goes on it"
echo "   pktfuse format $disc --no-udf"
"$PKTFUSE" format "$disc" --no-udf
"$PKTFUSE" info "$disc" | grep -E '^(medium|formatted for packet writing|capacity|packet size|writable):' | sed 's/^/   /'
echo "2. pktfuse $disc $work/mnt -o image"
"$PKTFUSE" "$disc" "$work/mnt" -o image
ls -l "$work/mnt"
echo "3. ext2 on the block file through a loop device"
loop=$(losetup -f --show --direct-io=on -b 2048 "$work/mnt/disc")
mkfs.ext2 -q -b 2048 -L pktfuse-demo "$loop"
mount "$loop" "$work/fs"
echo "4. Copying files"
cp -r "$PWD/core" "$PWD/fuse" "$PWD/docs" "$work/fs/"
dd if=/dev/urandom of="$work/fs/random.bin" bs=1M count=16 status=none
sha=$(sha256sum < "$work/fs/random.bin")
df -h "$work/fs" | tail -1
echo "5. Unmounting"
umount "$work/fs"
losetup -d "$loop"
loop=
echo "6. Statistics (pktfuse status):"
"$PKTFUSE" status "$work/mnt"
"$PKTFUSE" umount "$work/mnt"
bad=$(grep '^op=2A' "$work/drive.log" | grep -vc 'rule=ok rmw=0 status=GOOD' || true)
echo "7. The drive saw $(grep -c '^op=2A' "$work/drive.log") WRITE commands; $bad broke the CD-RW's fixed-packet rules"
echo "8. The disc again, read-only: fsck and the copied file"
"$PKTFUSE" "emu:cdrw:$work/disc.img" "$work/mnt" -o image,ro
loop=$(losetup -f --show -r "$work/mnt/disc")
fsck.ext2 -fn "$loop" | tail -1
mount -o ro "$loop" "$work/fs"
[ "$(sha256sum < "$work/fs/random.bin")" = "$sha" ] && echo "random.bin intact on the disc"
echo "Demo finished."
