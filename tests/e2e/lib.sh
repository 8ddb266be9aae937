#!/usr/bin/env bash
# Shared helpers of the end-to-end tests.  Each test sources this file, makes its own scratch
# directory, and everything it mounted, attached or started is undone on exit, pass or fail.
set -euo pipefail

PKTFUSE=${PKTFUSE:?PKTFUSE must name the pktfuse binary}
PATTERN=${PATTERN:?PATTERN must name the test data generator}
SKIP=77

T=$(mktemp -d /tmp/pktfuse-e2e.XXXXXX)
chmod 755 "$T"
# The daemons' wear records (one per volume set identifier) stay with the test: tests running side by
# side (ctest -j2) that mount the same image, e.g. one of the corpus, must not write one record at once,
# nor start from what earlier runs counted.  wear.sh and wear_early.sh set their own.
export XDG_STATE_HOME="$T/state"
_mounts=()   # fuse mountpoints
_fsmounts=() # kernel mounts
_loops=()
_pids=()
_fuse_mode= # /dev/fuse's mode before use_test_user changed it

cleanup() {
	local m l p
	set +e
	for m in "${_fsmounts[@]}"; do umount "$m" 2>/dev/null; done
	for l in "${_loops[@]}"; do losetup -d "$l" 2>/dev/null; done
	for m in "${_mounts[@]}"; do fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -z "$_fuse_mode" ] || chmod "$_fuse_mode" /dev/fuse
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

note() {
	echo "-- $*"
}

need_root() {
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (loop devices, mounts)"; exit $SKIP; }
	[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit $SKIP; }
}

# use_test_user: the unprivileged test user U (created if missing), as_user CMD… to run as U, and
# /dev/fuse usable by U as Debian's udev rules make it (mode 0666; some containers leave it 0600),
# for the length of the test
U=pktfuse-e2e
as_user() { runuser -u "$U" -- "$@"; }
use_test_user() {
	id "$U" > /dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$U" ||
		fail "cannot create the test user"
	local mode
	mode=$(stat -c %a /dev/fuse)
	if [ "$mode" != 666 ]; then
		note "/dev/fuse is mode $mode here; making it 0666 as on Debian for this test"
		_fuse_mode=$mode
		chmod 666 /dev/fuse
	fi
}

# stat_of MOUNTPOINT NAME → the value of one statistics line
stat_of() {
	"$PKTFUSE" status --raw "$1" | awk -F': ' -v k="$2" '$1 == k { print $2 }'
}

# start_pktfuse SOURCE MOUNTPOINT [options…]: mounts and remembers the daemon's pid
start_pktfuse() {
	local src=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	"$PKTFUSE" "$src" "$mnt" "$@" || fail "pktfuse $src $mnt $* did not start"
	_mounts+=("$mnt")
	local pid
	pid=$(stat_of "$mnt" daemon_pid)
	[ -n "$pid" ] || fail "no daemon_pid in the statistics of $mnt"
	_pids+=("$pid")
	eval "PID_$(echo "$mnt" | md5sum | cut -c1-8)=$pid"
}

pid_of_mount() {
	local v="PID_$(echo "$1" | md5sum | cut -c1-8)"
	echo "${!v}"
}

# wait_gone PID: the daemon has exited (its final flush is done)
wait_gone() {
	local pid=$1 i
	for i in $(seq 1 600); do
		if ! kill -0 "$pid" 2>/dev/null; then return 0; fi
		# an exited daemon whose new parent has not reaped it yet is done too
		if [ "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" = Z ]; then return 0; fi
		sleep 0.1
	done
	fail "daemon $pid still running 60 s after unmount"
}

# stop_pktfuse MOUNTPOINT: unmounts and waits for the daemon to finish writing
stop_pktfuse() {
	local mnt=$1 pid
	pid=$(pid_of_mount "$mnt")
	fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt failed"
	wait_gone "$pid"
}

# is_mounted DIR: DIR is a mount point in this mount namespace, judged by /proc/self/mountinfo and
# not by stat: a FUSE mount whose daemon died answers stat with ENOTCONN, and `mountpoint -q` then
# says "not a mount point" although the dead mount is still there.
is_mounted() {
	local dir=${1%/}
	# mountinfo escapes space, tab, newline and backslash as octal
	dir=${dir//\\/\\134}
	dir=${dir// /\\040}
	dir=${dir//$'\t'/\\011}
	dir=${dir//$'\n'/\\012}
	MNT_ESCAPED=$dir awk '$5 == ENVIRON["MNT_ESCAPED"] { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# wait_unmounted DIR [SECONDS]: waits (60 s by default) until DIR is no longer a mount point, e.g.
# until auto_unmount has removed the mount of a killed daemon; fails if it is still there
wait_unmounted() {
	local dir=$1 secs=${2:-60} i
	for ((i = 0; i < secs * 10; i++)); do
		is_mounted "$dir" || return 0
		sleep 0.1
	done
	grep -F " $dir " /proc/self/mountinfo >&2 || true
	pgrep -a fusermount3 | grep -F -- "$dir" >&2 || echo "(no fusermount3 is watching $dir)" >&2
	fail "$dir is still mounted after $secs s"
}

# remove_dead_mount DIR: the daemon of DIR is gone; gives auto_unmount 10 s to remove its mount, then
# detaches whatever is left itself, and waits until DIR is no longer a mount point.  Returns 1 when
# it had to detach the mount itself, 0 otherwise.  (fusermount3 of libfuse 3.14 sometimes exits
# without unmounting: its check of the mount point can meet ECONNABORTED while the kernel is still
# aborting the connection, and it unmounts only on ENOTCONN; seen under load, about 1 kill in 60.)
remove_dead_mount() {
	local dir=$1 i
	for ((i = 0; i < 100; i++)); do
		is_mounted "$dir" || return 0
		sleep 0.1
	done
	fusermount3 -u -z "$dir" 2> /dev/null || umount -l "$dir" 2> /dev/null || true
	wait_unmounted "$dir" 30
	return 1
}

# user_copy FILE…: copies FILE… into a directory every user can enter, and prints the copy of the
# first.  A program run as another user (runuser, setpriv) cannot be executed or read from a clone
# under a private home such as /root (mode 700).
user_copy() {
	local dir="$T/user-bin" f
	mkdir -p "$dir"
	chmod 755 "$T" "$dir"
	for f in "$@"; do
		cp "$f" "$dir/" || fail "cannot copy $f for another user"
		chmod a+rX "$dir/$(basename "$f")"
	done
	echo "$dir/$(basename "$1")"
}

# attach_loop VAR FILE [losetup options…]: attaches a loop device and stores its name in VAR (not
# through $(…): the cleanup list must be extended in this shell, not in a subshell)
attach_loop() {
	local var=$1 f=$2 dev
	shift 2
	dev=$(losetup -f --show "$@" "$f") || fail "losetup $* $f failed"
	_loops+=("$dev")
	printf -v "$var" '%s' "$dev"
}

detach_loop() {
	local keep=() l
	losetup -d "$1" || fail "losetup -d $1 failed"
	for l in "${_loops[@]}"; do [ "$l" = "$1" ] || keep+=("$l"); done
	_loops=("${keep[@]}")
}

mount_fs() { # mount_fs DEV DIR [mount options…]
	local dev=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	mount "$@" "$dev" "$dir" || fail "mount $dev $dir failed"
	_fsmounts+=("$dir")
}

# make_tree DIR SEED: a deterministic tree of files of many sizes (packet and sector boundaries)
make_tree() {
	local dir=$1 seed=$2 i
	mkdir -p "$dir/a/b/c" "$dir/empty" "$dir/many"
	local sizes=(0 1 2047 2048 2049 4096 65535 65536 65537 131072 200000 1048576 3145728)
	for i in "${!sizes[@]}"; do
		"$PATTERN" "$seed-$i" "${sizes[$i]}" > "$dir/a/file$i"
	done
	for i in $(seq 1 200); do echo "small file $i of seed $seed" > "$dir/many/f$i"; done
	"$PATTERN" "$seed-big" 5000000 > "$dir/a/b/c/big"
	ln -s ../file3 "$dir/a/b/link"
}

tree_sums() { # tree_sums DIR → sorted "type path sha" lines
	(cd "$1" && find . -mindepth 1 \( -type f -printf 'f %p ' -exec sh -c 'sha256sum < "$1" | cut -c1-64' _ {} \; \) -o \( -type l -printf 'l %p %l\n' \) -o \( -type d -printf 'd %p\n' \) | sort)
}

# user_stat MOUNTPOINT NAME: stat_of through the test user's copy of pktfuse in $P (root cannot see a
# user's mount); after use_test_user
user_stat() {
	[ -x "$T/pktfuse-as-user" ] || {
		printf '#!/bin/sh\nexec runuser -u %s -- %s "$@"\n' "$U" "$P" > "$T/pktfuse-as-user"
		chmod 755 "$T/pktfuse-as-user"
	}
	PKTFUSE="$T/pktfuse-as-user" stat_of "$@"
}

# emu_control IMAGE WORD: what a person does to the emulated drive of IMAGE (its control file, written
# whole as mmc/emu/emu.h asks), as the test user
emu_control() { as_user sh -c 'printf "%s\n" "$1" > "$2.tmp" && mv "$2.tmp" "$2"' _ "$2" "$1.ctl"; }

# sparing_table IMG SECTOR: "seq orig>mapped ... | defective count" of the table at SECTOR
sparing_table() {
	python3 - "$1" "$2" << 'EOF'
import struct, sys
f = open(sys.argv[1], 'rb')
f.seek(int(sys.argv[2]) * 2048)
b = f.read(2048)
assert b[17:35] == b'*UDF Sparing Table', 'no sparing table'
n, seq = struct.unpack_from('<H', b, 48)[0], struct.unpack_from('<I', b, 52)[0]
e = [struct.unpack_from('<II', b, 56 + 8 * i) for i in range(n)]
assert [o for o, m in e] == sorted(o for o, m in e), 'entries not sorted'
print(seq, ' '.join('%d>%d' % (o, m) for o, m in e if o < 0xFFFFFFF0), '| defective', sum(o == 0xFFFFFFF0 for o, m in e))
EOF
}

# use_spares IMG K SECTOR...: marks the first K spares of the sparing tables at SECTOR... defective
# (worn), tags fixed up
use_spares() {
	local img=$1 k=$2
	shift 2
	python3 - "$img" "$k" "$@" << 'EOF'
import struct, sys
def crc_itu(b):
    c = 0
    for x in b:
        c ^= x << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c
img, k = sys.argv[1], int(sys.argv[2])
with open(img, 'r+b') as f:
    for loc in map(int, sys.argv[3:]):
        f.seek(loc * 2048)
        b = bytearray(f.read(2048))
        assert b[17:35] == b'*UDF Sparing Table', 'no sparing table at %d' % loc
        n = struct.unpack_from('<H', b, 48)[0]
        for i in range(k):
            struct.pack_into('<I', b, 56 + 8 * i, 0xFFFFFFF0)
        crc_len = struct.unpack_from('<H', b, 10)[0]
        struct.pack_into('<H', b, 8, crc_itu(b[16:16 + crc_len]))
        b[4] = sum(b[i] for i in range(16) if i != 4) & 0xFF
        f.seek(loc * 2048)
        f.write(b)
EOF
}
free_spares() { # free_spares IMG SECTOR → free entries of the table at SECTOR
	python3 -c '
import struct, sys
f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2]) * 2048); b = f.read(2048)
n = struct.unpack_from("<H", b, 48)[0]
print(sum(struct.unpack_from("<I", b, 56 + 8 * i)[0] == 0xFFFFFFFF for i in range(n)))' "$1" "$2"
}
