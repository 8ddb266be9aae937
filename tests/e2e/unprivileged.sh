#!/usr/bin/env bash
# The daemon run as an unprivileged user over an image that user owns, mounted and unmounted with
# fusermount3: no root involved in pktfuse itself.
. "$(dirname "$0")/lib.sh"
need_root
U=pktfuse-e2e
id "$U" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$U" ||
	fail "cannot create the test user"
as_user() { runuser -u "$U" -- "$@"; }

# Debian's udev rules make /dev/fuse mode 0666; some containers leave it 0600.  Match Debian for
# the length of the test.
fuse_mode=$(stat -c %a /dev/fuse)
if [ "$fuse_mode" != 666 ]; then
	note "/dev/fuse is mode $fuse_mode here; making it 0666 as on Debian for this test"
	chmod 666 /dev/fuse
	trap 'chmod "$fuse_mode" /dev/fuse; cleanup' EXIT
fi

install -d -o "$U" -m 700 "$T/home"
as_user truncate -s 8M "$T/home/img"
as_user mkdir "$T/home/mnt"
as_user "$PKTFUSE" "$T/home/img" "$T/home/mnt" -o image,strict || fail "pktfuse did not start as $U"
pid=$(as_user "$PKTFUSE" status "$T/home/mnt" | awk -F': ' '$1 == "daemon_pid" {print $2}')
_pids+=("$pid")
_mounts+=("$T/home/mnt")
[ "$(stat -c %U /proc/"$pid")" = "$U" ] || fail "the daemon does not run as $U"
"$PATTERN" unpriv 1000000 > "$T/data"
chmod 644 "$T/data"
as_user dd if="$T/data" of="$T/home/mnt/disc" bs=4096 seek=7 conv=notrunc,fsync status=none || fail "write as $U failed"
[ "$(as_user stat -c %U "$T/home/mnt/disc")" = "$U" ] || fail "disc is not owned by the mounting user"
as_user fusermount3 -u "$T/home/mnt" || fail "fusermount3 -u as $U failed"
wait_gone "$pid"
cmp "$T/data" <(tail -c +$((7 * 4096 + 1)) "$T/home/img" | head -c 1000000) || fail "data differs"
# And the user cannot serve a file it may not write, except read-only.
truncate -s 1M "$T/root.img"
chmod 644 "$T/root.img"
as_user mkdir "$T/home/mnt2"
if as_user "$PKTFUSE" "$T/root.img" "$T/home/mnt2" 2> "$T/err"; then fail "served root's image read-write"; fi
grep -q "Permission denied" "$T/err" || fail "unclear error: $(cat "$T/err")"

# -o allow_other: root's mount is open to the user only when asked for.
truncate -s 4M "$T/shared.img"
start_pktfuse "$T/shared.img" "$T/m-private" -o image
if as_user stat "$T/m-private/disc" >/dev/null 2>&1; then fail "another user reached a mount without allow_other"; fi
stop_pktfuse "$T/m-private"
start_pktfuse "$T/shared.img" "$T/m-shared" -o image,allow_other
as_user stat "$T/m-shared/disc" >/dev/null || fail "allow_other did not let another user in"
stop_pktfuse "$T/m-shared"
echo "PASS: unprivileged user; allow_other"
