#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds pktfuse and shows the main job on an emulated CD-RW (no
# drive needed): format it, mount it with pktfuse, put ext2 on the virtual block file through a loop
# device, copy files, unmount, and print the statistics.  Run as root (loop devices and mount need
# it; pktfuse itself does not).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
PKTFUSE=$PWD/build/fuse/pktfuse

work=$(mktemp -d /tmp/pktfuse-demo.XXXXXX)
loop=
cleanup() {
	set +e
	mountpoint -q "$work/fs" && umount "$work/fs"
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	mountpoint -q "$work/mnt" && "$PKTFUSE" umount "$work/mnt"
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/mnt" "$work/fs"

disc="emu:cdrw:$work/disc.img,size=128M,log=$work/drive.log"
echo "1. A blank emulated 128 MiB CD-RW, formatted for fixed 32-sector packets:"
echo "   pktfuse format $disc"
"$PKTFUSE" format "$disc"
"$PKTFUSE" info "$disc" | grep -E '^(medium|formatted|capacity|packet size|writable):' | sed 's/^/   /'
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
