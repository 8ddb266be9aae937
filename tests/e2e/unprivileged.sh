#!/usr/bin/env bash
# The daemon run as an unprivileged user over an image that user owns, mounted and unmounted with
# fusermount3: no root involved in pktfuse itself.
. "$(dirname "$0")/lib.sh"
need_root
U=pktfuse-e2e
id "$U" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$U" ||
	fail "cannot create the test user"
as_user() { runuser -u "$U" -- "$@"; }
# the user runs its own copy: the build may be under a home only root can enter (/root is 0700)
PKTFUSE=$(user_copy "$PKTFUSE")

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
pid=$(as_user "$PKTFUSE" status --raw "$T/home/mnt" | awk -F': ' '$1 == "daemon_pid" {print $2}')
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
# The desktop case: the files view of a disc the user owns, written without root.  Modes are kept
# by the daemon itself here (no default_permissions): the user's own read-only file and directory
# stay read-only, and files another system recorded for other owners are theirs.
truncate -s 16M "$T/home/udf.img"
"$PKTFUSE" format "$T/home/udf.img" > /dev/null || fail "format"
start_pktfuse "$T/home/udf.img" "$T/m-root"
echo root > "$T/m-root/rootfile"
mkdir -m 1777 "$T/m-root/sticky"
mkdir -m 700 "$T/m-root/locked"
echo theirs > "$T/m-root/sticky/rootsfile"
chmod 666 "$T/m-root/sticky/rootsfile"
chmod 777 "$T/m-root"
stop_pktfuse "$T/m-root"
chown "$U" "$T/home/udf.img"
as_user mkdir "$T/home/files"
as_user "$PKTFUSE" "$T/home/udf.img" "$T/home/files" || fail "the files view did not start as $U"
pid=$(as_user "$PKTFUSE" status --raw "$T/home/files" | awk -F': ' '$1 == "daemon_pid" {print $2}')
_pids+=("$pid")
_mounts+=("$T/home/files")
F="$T/home/files"
as_user sh -c "echo mine > '$F/mine' && mkdir '$F/dir' && echo in > '$F/dir/f'" || fail "$U cannot write its disc"
as_user chmod 444 "$F/mine"
if as_user sh -c "echo more >> '$F/mine'" 2> /dev/null; then fail "$U wrote its own 0444 file"; fi
as_user chmod 555 "$F/dir"
if as_user touch "$F/dir/new" 2> /dev/null; then fail "$U created a file in its own 0555 directory"; fi
if as_user rm "$F/dir/f" 2> /dev/null; then fail "$U removed a file from its own 0555 directory"; fi
if as_user sh -c "echo x >> '$F/rootfile'" 2> /dev/null; then fail "$U wrote root's 0644 file"; fi
if as_user chmod 666 "$F/rootfile" 2> /dev/null; then fail "$U changed the mode of root's file"; fi
if as_user ls "$F/locked" > /dev/null 2>&1; then fail "$U listed root's 0700 directory"; fi
if as_user rm -f "$F/sticky/rootsfile" 2> /dev/null; then fail "$U removed root's file in a sticky directory"; fi
as_user sh -c "echo ok >> '$F/sticky/rootsfile'" || fail "$U could not write a 0666 file"
as_user sh -c "echo mine > '$F/sticky/usersfile' && rm '$F/sticky/usersfile'" || fail "$U could not use a sticky directory"
[ "$(as_user cat "$F/mine")" = mine ] || fail "$U cannot read its own file back"
as_user fusermount3 -u "$F" || fail "fusermount3 -u of the files view as $U"
wait_gone "$pid"
start_pktfuse "$T/home/udf.img" "$T/m-root"
[ "$(cat "$T/m-root/dir/f")" = in ] && [ "$(cat "$T/m-root/sticky/rootsfile")" = "$(printf 'theirs\nok')" ] ||
	fail "what $U wrote is not on the disc"
[ "$(stat -c '%U %a' "$T/m-root/mine")" = "$U 444" ] || fail "owner and mode of $U's file: $(stat -c '%U %a' "$T/m-root/mine")"
stop_pktfuse "$T/m-root"
echo "PASS: unprivileged user; allow_other; the files view as a user, with its permissions"
