#!/usr/bin/env bash
# The mount table and fstab.  A pktfuse mount shows its source and type fuse.pktfuse in mountinfo,
# mount(8) and df; `mount -t fuse.pktfuse` and mount.fuse3 work, with fstab's own options accepted;
# and a user mounts an fstab line marked `user` with `mount MOUNTPOINT`, as on a desktop.
#
# What is real here and what is staged: util-linux mount (setuid root), mount.fuse3, fusermount3 and
# pktfuse run unchanged, the user's `mount MNT` reads /etc/fstab and checks `user` itself.  The test
# runs in a private mount namespace where its own fstab is bind-mounted over /etc/fstab and a
# directory holding this build's pktfuse over /usr/local/bin (where `cmake --install` puts it; mount
# clears PATH, so /bin/sh's default PATH is what mount.fuse3 searches), and a tmpfs over /run/mount
# (libmount's utab): nothing outside the namespace sees them.
if [ "$(id -u)" -eq 0 ] && [ -z "${PKTFUSE_FSTAB_NS:-}" ]; then
	exec env PKTFUSE_FSTAB_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
need_root
command -v mount.fuse3 > /dev/null || { echo "SKIP: no mount.fuse3"; exit $SKIP; }
use_test_user
install -d -m 755 "$T/bin"
install -m 755 "$PKTFUSE" "$T/bin/pktfuse"
mount --bind "$T/bin" /usr/local/bin || fail "cannot bind $T/bin over /usr/local/bin"
_fsmounts+=(/usr/local/bin)
# libmount keeps the options of user mounts in /run/mount/utab, which is not per namespace, and
# fusermount3 -u leaves them there: this test's entries go to a tmpfs of its own
mkdir -p /run/mount
mount -t tmpfs -o size=1m,mode=755 pktfuse-utab /run/mount || fail "cannot mount a tmpfs on /run/mount"
_fsmounts+=(/run/mount)

# expect_mount_names MNT SOURCE [as_user]: mountinfo, mount(8) and df (run as the mount's user) name
# SOURCE and fuse.pktfuse
expect_mount_names() {
	local mnt=$1 src=$2 who=${3:-} line
	line=$(awk -v m="$mnt" '$5 == m' /proc/self/mountinfo)
	note "mountinfo: $line"
	[ "$(awk '{ for (i = 7; $i != "-"; i++); print $(i + 1), $(i + 2) }' <<< "$line")" = "fuse.pktfuse $src" ] ||
		fail "mountinfo of $mnt does not name fuse.pktfuse $src: $line"
	mount | grep -qF "$src on $mnt type fuse.pktfuse " || fail "mount(8) does not show $src on $mnt: $(mount | grep -F "$mnt")"
	[ "$($who df --output=source "$mnt" | tail -1)" = "$src" ] || fail "df names $($who df --output=source "$mnt" | tail -1)"
}

truncate -s 16M "$T/disc.img"
"$PKTFUSE" format "$T/disc.img" > /dev/null || fail "format"
mkdir -p "$T/mnt"

# 1. pktfuse itself, with fstab's options on its command line (as some tools pass them)
"$PKTFUSE" "$T/disc.img" "$T/mnt" -o noauto,user,users,nofail,_netdev,auto,defaults,x-gvfs-show,comment=x ||
	fail "pktfuse refused fstab's options"
_mounts+=("$T/mnt")
expect_mount_names "$T/mnt" "$T/disc.img"
"$PKTFUSE" umount "$T/mnt" || fail "umount 1"

# 2. mount -t fuse.pktfuse, root: mount.fuse3 finds pktfuse in /usr/local/bin
mount -t fuse.pktfuse "$T/disc.img" "$T/mnt" -o user,noauto,nofail,_netdev,x-gvfs-show || fail "mount -t fuse.pktfuse"
expect_mount_names "$T/mnt" "$T/disc.img"
"$PKTFUSE" umount "$T/mnt" || fail "umount 2"

# 3. mount.fuse3 called directly with pktfuse's absolute path (the `fuse` type's PROGRAM#SOURCE):
# mount.fuse3 passes x-*, comment= and defaults on to the program
mount.fuse3 "$T/bin/pktfuse#$T/disc.img" "$T/mnt" -o defaults,x-gvfs-show,comment=pktfuse ||
	fail "mount.fuse3 PROGRAM#SOURCE with x-*, comment=, defaults"
expect_mount_names "$T/mnt" "$T/disc.img"
"$PKTFUSE" umount "$T/mnt" || fail "umount 3"

# 4. the user's fstab line: `mount MNT` and `df` as the user, the user's daemon, its files written
install -d -o "$U" -m 755 "$T/home"
cp "$T/disc.img" "$T/home/disc.img"
chown "$U" "$T/home/disc.img"
as_user mkdir "$T/home/cd"
cp /etc/fstab "$T/fstab" 2> /dev/null || : > "$T/fstab"
echo "$T/home/disc.img $T/home/cd fuse.pktfuse user,noauto,nofail,x-gvfs-show 0 0" >> "$T/fstab"
mount --bind "$T/fstab" /etc/fstab || fail "cannot bind the test's fstab over /etc/fstab"
_fsmounts+=(/etc/fstab)
as_user mount "$T/home/cd" || fail "$U: mount $T/home/cd from the fstab line"
_mounts+=("$T/home/cd")
expect_mount_names "$T/home/cd" "$T/home/disc.img" as_user
# root is not let into a user's FUSE mount: the user asks
pid=$(as_user "$T/bin/pktfuse" status --raw "$T/home/cd" | awk -F': ' '$1 == "daemon_pid" { print $2 }')
_pids+=("$pid")
[ "$(stat -c %U /proc/"$pid")" = "$U" ] || fail "the daemon of the user's mount runs as $(stat -c %U /proc/"$pid")"
as_user sh -c "echo from-fstab > '$T/home/cd/f'" || fail "$U cannot write the disc mounted from fstab"
as_user "$T/bin/pktfuse" umount "$T/home/cd" || fail "$U: pktfuse umount"
wait_gone "$pid"
start_pktfuse "$T/home/disc.img" "$T/mnt"
[ "$(cat "$T/mnt/f")" = from-fstab ] || fail "what $U wrote is not on the disc"
stop_pktfuse "$T/mnt"
echo "PASS: fsname and fuse.pktfuse in the mount table; mount -t fuse.pktfuse, mount.fuse3 PROGRAM#SOURCE; a user's fstab line"
