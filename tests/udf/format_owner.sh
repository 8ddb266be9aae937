#!/usr/bin/env bash
# The owner `pktfuse format` records.  By default none (UDF's uid/gid -1, what Windows writes), so
# that whoever mounts the disc owns its root: a disc formatted by root is written by the user who
# mounts it.  The writer keeps -1 on the medium when it rewrites the root (another user who mounts
# it later owns it in turn), records the creating user's ids in new files, and a chown records the
# ids given; --uid/--gid still set an owner.  udfinfo and udfclient accept the image.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
. "$(dirname "$0")/rwlib.sh"
need_udftools
U=pktfuse-e2e
id "$U" > /dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$U" ||
	fail "cannot create the test user"
as_user() { runuser -u "$U" -- "$@"; }
uid=$(id -u "$U")
gid=$(id -g "$U")
# Debian's udev rules make /dev/fuse mode 0666; some containers leave it 0600.  Match Debian for
# the length of the test.
fuse_mode=$(stat -c %a /dev/fuse)
if [ "$fuse_mode" != 666 ]; then
	note "/dev/fuse is mode $fuse_mode here; making it 0666 as on Debian for this test"
	chmod 666 /dev/fuse
	trap 'chmod "$fuse_mode" /dev/fuse; cleanup' EXIT
fi
# what the user runs lies where the user can run it, whatever the modes of the build tree
install -m 755 "$PKTFUSE" "$T/pktfuse"
install -d -o "$U" -m 700 "$T/home"
img="$T/home/disc.img"

# 1. formatted by root with the defaults, mounted by the user: the user owns the root and writes
truncate -s 32M "$img"
"$PKTFUSE" format "$img" > /dev/null || fail "format"
udfinfo "$img" > /dev/null 2>&1 || fail "udfinfo rejects the formatted image"
chown "$U" "$img"
as_user mkdir "$T/home/mnt"
as_user "$T/pktfuse" "$img" "$T/home/mnt" || fail "the files view did not start as $U"
_mounts+=("$T/home/mnt")
pid=$(as_user "$T/pktfuse" status --raw "$T/home/mnt" | awk -F': ' '$1 == "daemon_pid" {print $2}')
_pids+=("$pid")
M="$T/home/mnt"
[ "$(as_user stat -c '%u %g %a' "$M")" = "$uid $gid 755" ] ||
	problem "the root of a disc formatted by root, mounted by $U: $(as_user stat -c '%u %g %a' "$M"), expected $uid $gid 755"
as_user sh -c "echo mine > '$M/users-file' && mkdir '$M/users-dir'" 2> "$T/err" ||
	problem "$U cannot create in the root of a disc root formatted: $(cat "$T/err")"
as_user fusermount3 -u "$M" || fail "fusermount3 -u as $U"
wait_gone "$pid"

# 2. mounted by root: the root directory is still unowned on the medium (root sees itself), the
# user's files are the user's
start_pktfuse "$img" "$T/mnt"
[ "$(stat -c '%u %g' "$T/mnt")" = "0 0" ] ||
	problem "after $U wrote in it, the root's owner is recorded ($(stat -c '%u %g' "$T/mnt") shown to root)"
[ "$(stat -c '%u %g' "$T/mnt/users-file" 2> /dev/null)" = "$uid $gid" ] ||
	problem "the file $U created: owner $(stat -c '%u %g' "$T/mnt/users-file" 2>&1), expected $uid $gid"
[ "$(cat "$T/mnt/users-file" 2> /dev/null)" = mine ] || problem "the file $U wrote is not on the disc"
echo roots > "$T/mnt/roots-file"
chown 4321:4322 "$T/mnt/users-dir"
stop_pktfuse "$T/mnt"
check_udfinfo "$img" "after writes by $U and root" > /dev/null
if command -v udfclient > /dev/null; then
	printf 'ls\nquit\n' | timeout 60 udfclient -b 2048 "$img" > "$T/uc" 2>&1 || problem "udfclient: $(tail -3 "$T/uc")"
	grep -q LinuxUDF "$T/uc" || problem "udfclient shows no volume: $(tail -3 "$T/uc")"
fi
# 3. the user again: still the root's owner; a chown recorded real ids, root's file is root's
as_user "$T/pktfuse" "$img" "$M" || fail "the files view did not start as $U (second time)"
pid=$(as_user "$T/pktfuse" status --raw "$M" | awk -F': ' '$1 == "daemon_pid" {print $2}')
_pids+=("$pid")
[ "$(as_user stat -c '%u %g' "$M")" = "$uid $gid" ] || problem "second mount by $U: root shown as $(as_user stat -c '%u %g' "$M")"
[ "$(as_user stat -c '%u %g' "$M/users-dir")" = "4321 4322" ] || problem "chown not recorded: $(as_user stat -c '%u %g' "$M/users-dir")"
[ "$(as_user stat -c '%u %g' "$M/roots-file")" = "0 0" ] || problem "root's file: $(as_user stat -c '%u %g' "$M/roots-file")"
as_user fusermount3 -u "$M" || fail "fusermount3 -u as $U"
wait_gone "$pid"

# 4. --uid/--gid still record an owner: the user does not own that root, and cannot write in it
"$PKTFUSE" format "$img" --force --uid 1234 --gid 2345 > /dev/null || fail "format --uid --gid"
as_user "$T/pktfuse" "$img" "$M" || fail "the files view did not start as $U (third time)"
pid=$(as_user "$T/pktfuse" status --raw "$M" | awk -F': ' '$1 == "daemon_pid" {print $2}')
_pids+=("$pid")
[ "$(as_user stat -c '%u %g %a' "$M")" = "1234 2345 755" ] || problem "format --uid 1234 --gid 2345: root shown as $(as_user stat -c '%u %g %a' "$M")"
if as_user touch "$M/not-allowed" 2> /dev/null; then problem "$U wrote in a root owned by 1234 (mode 755)"; fi
as_user fusermount3 -u "$M" || fail "fusermount3 -u as $U"
wait_gone "$pid"
finish "the owner pktfuse format records"
