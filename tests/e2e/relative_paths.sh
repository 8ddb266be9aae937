#!/usr/bin/env bash
# Relative paths in SOURCE, with the daemon in the background as users run it: the emulator reopens
# its state file by name after the daemon left its directory, so every path the daemon keeps (the
# image, the state file, the emulator's log) must be absolute before it detaches.  Run from the
# directory that holds the image, as the README does.
. "$(dirname "$0")/lib.sh"
need_root

cd "$T"
"$PKTFUSE" format "emu:cdrw:cd.img,size=48M" > /dev/null || fail "format emu:cdrw:cd.img"
state0=$(sha256sum < cd.img.state)
stray=/cd.img.state
[ -e "$stray" ] && stray= # left by someone else: only the state file next to the image can tell
mkdir -p m
"$PKTFUSE" "emu:cdrw:cd.img,log=emu.log" m || fail "pktfuse emu:cdrw:cd.img m did not start"
_mounts+=("$T/m")
pid=$(stat_of m daemon_pid)
_pids+=("$pid")
"$PATTERN" rel 3000000 > want
cp want m/file || fail "writing through the files view failed"
sync -f m/file || fail "fsync through the files view failed"
"$PKTFUSE" umount m 2> err || fail "pktfuse umount failed: $(cat err)"
[ ! -s err ] || fail "pktfuse umount printed: $(cat err)"
if [ -n "$stray" ] && [ -e "$stray" ]; then
	rm -f "$stray" "$stray.tmp"
	fail "the emulator wrote its state file into / (a relative path after the daemon's chdir)"
fi
[ "$(sha256sum < cd.img.state)" != "$state0" ] || fail "the state file next to the image was not updated"
grep -q '^op=2A' emu.log || fail "the emulator's log (log=emu.log) shows no writes"
# the disc is clean and holds the file
"$PKTFUSE" "emu:cdrw:cd.img" m -o ro || fail "remount"
cmp want m/file || fail "the file differs after a remount"
"$PKTFUSE" umount m || fail "second umount"
# a relative image file too
truncate -s 8M plain.img
"$PKTFUSE" plain.img m -o image || fail "pktfuse plain.img m -o image"
[ "$(stat_of m source)" = "$T/plain.img" ] || fail "source kept relative: $(stat_of m source)"
"$PKTFUSE" umount m || fail "umount of the image view"

# The same as a user, who cannot write into / at all (every write failed with EIO before).
U=pktfuse-e2e
id "$U" > /dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$U" ||
	fail "cannot create the test user"
fuse_mode=$(stat -c %a /dev/fuse)
if [ "$fuse_mode" != 666 ]; then
	chmod 666 /dev/fuse
	trap 'chmod "$fuse_mode" /dev/fuse; cleanup' EXIT
fi
install -d -m 755 "$T/bin"
install -m 755 "$PKTFUSE" "$T/bin/pktfuse" # reachable by the user wherever the build lives
install -d -o "$U" -m 700 "$T/home"
cp want "$T/home/want"
chmod 644 "$T/home/want"
in_home() { runuser -u "$U" -- sh -c "cd '$T/home' && $*"; }
in_home "'$T/bin/pktfuse' format emu:cdrw:cd.img,size=48M > /dev/null" || fail "format as $U"
in_home "mkdir m && '$T/bin/pktfuse' emu:cdrw:cd.img m" || fail "pktfuse emu:cdrw:cd.img m as $U"
_mounts+=("$T/home/m")
_pids+=("$(in_home "'$T/bin/pktfuse' status --raw m" | awk -F': ' '$1 == "daemon_pid" {print $2}')")
in_home "cp want m/file && sync -f m/file" || fail "writing as $U through a relative emu: SOURCE failed"
in_home "'$T/bin/pktfuse' umount m" || fail "pktfuse umount as $U"
in_home "'$T/bin/pktfuse' emu:cdrw:cd.img m -o ro && cmp want m/file && '$T/bin/pktfuse' umount m" ||
	fail "the user's file is not on the disc"
echo "PASS: relative SOURCE paths with the daemon in the background, as root and as a user"
