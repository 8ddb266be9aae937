#!/usr/bin/env bash
# Mount points pktfuse cannot use get a message that names the real problem: a directory that is
# already a mount point (root would otherwise stack a second mount on it; a user got a hint about
# /dev/fuse), and -o allow_other for a user while /etc/fuse.conf lacks user_allow_other.
. "$(dirname "$0")/lib.sh"
need_root
U=pktfuse-e2e
id "$U" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$U" ||
	fail "cannot create the test user"
as_user() { runuser -u "$U" -- "$@"; }
fuse_mode=$(stat -c %a /dev/fuse)
if [ "$fuse_mode" != 666 ]; then
	chmod 666 /dev/fuse
	trap 'chmod "$fuse_mode" /dev/fuse; cleanup' EXIT
fi
# what the user runs must be reachable by the user (the build may be under a private home)
install -d -m 755 "$T/bin"
install -m 755 "$PKTFUSE" "$T/bin/pktfuse"
P="$T/bin/pktfuse"

# expect_refusal WHO WORDS -- ARGS: pktfuse ARGS fails with one line containing WORDS, lacking the
# /dev/fuse hint, and adds no mount
expect_refusal() {
	local who=$1 words=$2 out rc before
	shift 3
	before=$(grep -c "$T" /proc/mounts || true)
	set +e
	if [ "$who" = user ]; then out=$(timeout 30 runuser -u "$U" -- "$P" "$@" 2>&1); else out=$(timeout 30 "$P" "$@" 2>&1); fi
	rc=$?
	set -e
	note "$who: pktfuse $* → $rc: $out"
	[ "$rc" -ne 0 ] || fail "$who: pktfuse $* succeeded"
	grep -q -- "$words" <<< "$out" || fail "$who: message lacks '$words': $out"
	printf '%s' "$out" | grep -q /dev/fuse && fail "$who: the /dev/fuse hint for another problem: $out"
	[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "$who: more than one line: $out"
	[ "$(grep -c "$T" /proc/mounts || true)" = "$before" ] || fail "$who: pktfuse $* added a mount"
}

# root: a second mount on a mount point in use
truncate -s 4M "$T/a.img" "$T/b.img"
start_pktfuse "$T/a.img" "$T/mnt" -o image
expect_refusal root "already a mount point" -- "$T/b.img" "$T/mnt" -o image
mount_fs tmpfs "$T/tmpfs" -t tmpfs -o size=1m
expect_refusal root "already a mount point" -- "$T/b.img" "$T/tmpfs" -o image
stop_pktfuse "$T/mnt"

# a user: the same, on the user's own mount
install -d -o "$U" -m 700 "$T/home"
as_user truncate -s 4M "$T/home/a.img"
as_user truncate -s 4M "$T/home/b.img"
as_user mkdir "$T/home/mnt" "$T/home/mnt2"
as_user "$P" "$T/home/a.img" "$T/home/mnt" -o image || fail "pktfuse did not start as $U"
_mounts+=("$T/home/mnt")
pid=$(as_user "$P" status --raw "$T/home/mnt" | awk -F': ' '$1 == "daemon_pid" {print $2}')
_pids+=("$pid")
expect_refusal user "already a mount point" -- "$T/home/b.img" "$T/home/mnt" -o image

# a user's allow_other without user_allow_other in /etc/fuse.conf
if grep -qx '[[:space:]]*user_allow_other[[:space:]]*' /etc/fuse.conf 2> /dev/null; then
	note "SKIP part: /etc/fuse.conf has user_allow_other here"
else
	expect_refusal user "user_allow_other" -- "$T/home/b.img" "$T/home/mnt2" -o image,allow_other
	expect_refusal user "user_allow_other" -- "$T/home/b.img" "$T/home/mnt2" -o image -o allow_root
fi
as_user "$P" umount "$T/home/mnt" || fail "umount as $U"
echo "PASS: mount points in use and allow_other without user_allow_other are refused with the reason"
