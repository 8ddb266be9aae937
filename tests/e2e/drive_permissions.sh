#!/usr/bin/env bash
# A drive the user may not open: the message names the group that owns the device node and what to
# run (join it, or log in again when the account has it and the session not yet); a node only root
# may open points to the udev rule.  The "drive" is a character device node with /dev/null's numbers
# made in the test's directory: the permission check fails before any command could reach it, and
# no real drive is touched.
. "$(dirname "$0")/lib.sh"
need_root
use_test_user
G=pktfuse-e2e-cd
getent group "$G" > /dev/null || groupadd --system "$G" || fail "cannot create the test group"
P=$(user_copy "$PKTFUSE")
mknod "$T/sr9" c 1 3 || { echo "SKIP: cannot make a device node here"; exit $SKIP; }
chgrp "$G" "$T/sr9"
chmod 660 "$T/sr9"
install -d -o "$U" -m 755 "$T/home"
as_user mkdir "$T/home/cd"

# expect_line WORDS CMD…: CMD (as the user, or through setpriv) fails with one line holding WORDS
expect_line() {
	local words=$1 rc=0
	shift
	"$@" > "$T/out" 2> "$T/err" || rc=$?
	note "$* → $rc: $(cat "$T/err")"
	[ "$rc" -ne 0 ] || fail "$* succeeded"
	grep -qF -- "$words" "$T/err" || fail "$*: the message lacks '$words': $(cat "$T/err")"
	[ "$(wc -l < "$T/err")" = 1 ] || fail "$*: more than one line: $(cat "$T/err")"
}
join="it belongs to group '$G' and you are not in it: run 'sudo adduser \$USER $G', then log in again"
expect_line "$T/sr9: Permission denied: $join" as_user "$P" info "$T/sr9"
expect_line "$join" as_user "$P" "$T/sr9" "$T/home/cd"
expect_line "$join" as_user "$P" eject "$T/sr9"
is_mounted "$T/home/cd" && fail "mounted"

# the account has the group, this session not yet (as after adduser without logging in again)
gpasswd -a "$U" "$G" > /dev/null || fail "gpasswd -a"
trap 'gpasswd -d "$U" "$G" > /dev/null 2>&1 || true; cleanup' EXIT
expect_line "which your account has but this session does not yet: log in again" \
	setpriv --reuid "$U" --regid "$(id -g "$U")" --clear-groups "$P" info "$T/sr9"
gpasswd -d "$U" "$G" > /dev/null

# only root may open it: the udev rule
chmod 600 "$T/sr9"
expect_line "it is for root only (group '$G', mode 600); a udev rule gives optical drives to the cdrom group (60-pktfuse.rules" \
	as_user "$P" info "$T/sr9"
echo "PASS: a drive the user may not open: the group and what to run, log in again, the udev rule"
