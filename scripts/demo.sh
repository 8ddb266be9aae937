#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds pktfuse and shows the main job on a disc image it makes:
# mount it with pktfuse, put ext2 on the virtual block file through a loop device, copy files,
# unmount, and print the statistics.  Run as root (loop devices and mount need it; pktfuse does not).
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
	mountpoint -q "$work/mnt" && fusermount3 -u "$work/mnt"
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/mnt" "$work/fs"

echo "1. A blank 128 MiB disc image (CD-RW-like: 32-sector packets)"
truncate -s 128M "$work/disc.img"
echo "2. pktfuse $work/disc.img $work/mnt -o image"
"$PKTFUSE" "$work/disc.img" "$work/mnt" -o image,strict,packet=32
pid=$("$PKTFUSE" status "$work/mnt" | awk -F': ' '$1 == "daemon_pid" {print $2}')
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
fusermount3 -u "$work/mnt"
while kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" != Z ]; do sleep 0.1; done
echo "7. The image on its own: fsck and the copied file"
fsck.ext2 -fn "$work/disc.img" | tail -1
loop=$(losetup -f --show -r "$work/disc.img")
mount -o ro "$loop" "$work/fs"
[ "$(sha256sum < "$work/fs/random.bin")" = "$sha" ] && echo "random.bin intact on the image"
echo "Demo finished."
