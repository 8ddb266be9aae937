#!/usr/bin/env bash
# Start, stop, restart on one disc: a failed start leaves the disc free for the next one; a new
# daemon waits for the previous one that is still writing the disc (its mount already gone), and
# is refused at once while the disc is still mounted elsewhere.
. "$(dirname "$0")/lib.sh"
need_root
mkdir -p "$T/mnt" "$T/mnt2"
truncate -s 64M "$T/dvd.img"
S="emu:dvd+rw:$T/dvd.img"

# A misspelled FUSE option fails in the child; the very next correct start must find the disc free.
for i in 1 2 3 4 5; do
	if "$PKTFUSE" "$S" "$T/mnt" -o image,allow_otherr 2> "$T/err"; then fail "started with a misspelled option"; fi
	"$PKTFUSE" "$S" "$T/mnt" -o image 2> "$T/err" || fail "start $i after a failed start: $(cat "$T/err")"
	_mounts+=("$T/mnt")
	"$PKTFUSE" umount "$T/mnt" || fail "umount $i"
done
note "5 correct starts right after a failed one"

# Mounted: a second daemon on the same disc is refused at once, naming the mount.
start_pktfuse "$S" "$T/mnt" -o image,dirty_age=3600
if timeout 20 "$PKTFUSE" "$S" "$T/mnt2" -o image 2> "$T/err"; then fail "a second daemon served a mounted disc"; fi
grep -q "in use by another pktfuse, mounted on $T/mnt" "$T/err" || fail "unclear refusal: $(cat "$T/err")"

# Unmounted, but still writing: the old daemon is stopped (SIGSTOP) after fusermount3 -u, so it
# cannot have finished; the new one must wait for it, say so, and start once it is done.
old=$(pid_of_mount "$T/mnt")
"$PATTERN" restart 6000000 | dd of="$T/mnt/disc" bs=1M conv=notrunc status=none iflag=fullblock
kill -STOP "$old"
fusermount3 -u "$T/mnt" || fail "fusermount3 -u"
"$PKTFUSE" "$S" "$T/mnt" -o image 2> "$T/err" &
starter=$!
for i in $(seq 600); do
	grep -q "waiting for the pktfuse that is still writing" "$T/err" && break
	kill -0 "$starter" 2> /dev/null || break
	sleep 0.1
done
grep -q "waiting for the pktfuse that is still writing $T/dvd.img (pid $old)" "$T/err" ||
	{ kill -CONT "$old"; fail "no wait announced: $(cat "$T/err")"; }
mountpoint -q "$T/mnt" && { kill -CONT "$old"; fail "mounted while the old daemon still holds the disc"; }
kill -CONT "$old"
wait "$starter" || fail "the new daemon did not start after the old one finished: $(cat "$T/err")"
_mounts+=("$T/mnt")
wait_gone "$old"
[ "$(grep -c waiting "$T/err")" = 1 ] || fail "the wait was announced more than once: $(cat "$T/err")"
cmp <("$PATTERN" restart 6000000) <(head -c 6000000 "$T/mnt/disc") || fail "the old daemon's data is not on the disc"
"$PKTFUSE" umount "$T/mnt" || fail "umount"
echo "PASS: restarts after a failed start, while mounted (refused) and while the old daemon writes (waits)"
