#!/usr/bin/env bash
# The block file as a loop device's backing file: losetup + mkfs.ext2 + mount + copy + umount +
# losetup -d through pktfuse; after pktfuse unmounts, the image holds exactly that data.
# Usage: loop_ext2.sh PACKET_SECTORS [losetup-dio on|off]
. "$(dirname "$0")/lib.sh"
need_root
PS=${1:-32}
DIO=${2:-on}

truncate -s 96M "$T/img"
start_pktfuse "$T/img" "$T/mnt" -o image,strict,packet="$PS",cache=8M
[ "$(stat -c %s "$T/mnt/disc")" = $((96 << 20)) ] || fail "disc has the wrong size"
[ "$(stat_of "$T/mnt" packet_sectors)" = "$PS" ] || fail "packet size not $PS"

make_tree "$T/src" "ext2-$PS"
attach_loop loop "$T/mnt/disc" --direct-io="$DIO" -b 2048
mkfs.ext2 -q -b 2048 "$loop" || fail "mkfs.ext2 failed"
mount_fs "$loop" "$T/fs"
cp -a "$T/src/." "$T/fs/"
umount "$T/fs"
detach_loop "$loop"

[ "$(stat_of "$T/mnt" backend_rejected_writes)" = 0 ] || fail "the backend received writes that were not whole packets"
uw=$(stat_of "$T/mnt" user_write_bytes)
pw=$(stat_of "$T/mnt" packets_written)
note "user_write_bytes=$uw packets_written=$pw write_amplification=$(stat_of "$T/mnt" write_amplification)"
[ "$uw" -gt $((10 << 20)) ] || fail "too few bytes written through disc ($uw)"
[ "$pw" -gt 0 ] || fail "nothing reached the medium before unmount"
stop_pktfuse "$T/mnt"

# The image on its own, without pktfuse: fsck clean and the same files.
fsck.ext2 -fn "$T/img" > "$T/fsck.log" 2>&1 || { cat "$T/fsck.log"; fail "fsck.ext2 found errors"; }
attach_loop loop "$T/img" -r
mount_fs "$loop" "$T/check" -o ro
tree_sums "$T/src" > "$T/want"
tree_sums "$T/check" | grep -v ' ./lost+found' > "$T/got"
diff -u "$T/want" "$T/got" || fail "the files on the image differ from the source"
echo "PASS: loop + ext2 over pktfuse, packet $PS, loop direct I/O $DIO"
