#!/usr/bin/env bash
# An fsync on the files view holds up no other process: the committer thread commits and replies
# while the (single-threaded) FUSE loop goes on serving.  On an emulated CD-RW at its real speed
# (realtime=1: 4x, 600 KiB/s slept), the fsync of 4 MiB spends about 7 s in its first barrier
# alone; a stat and a listing of cached entries, made once the drive is writing the fsync's data,
# must return before the commit's first cache flush (SYNCHRONIZE CACHE in the drive's log).  A
# daemon that commits in its FUSE loop answers them only after the whole commit.  Then the file
# is checked after a remount.
. "$(dirname "$0")/lib.sh"
need_root
img="$T/cd.img"
log="$T/drive.log"
count() { grep -c "^op=$1" "$log" || true; }
"$PKTFUSE" format "emu:cdrw:$img,size=64M" > /dev/null || fail "format"
# nothing is written before the fsync asks (no interval commit, no data written back by age)
start_pktfuse "emu:cdrw:$img,realtime=1,log=$log" "$T/mnt" -o commit=600,dirty_age=600
mkdir "$T/mnt/d"
for i in 1 2 3 4 5; do echo "$i" > "$T/mnt/d/f$i"; done
ls -l "$T/mnt/d" > /dev/null
head -c 4M /dev/urandom > "$T/big"
cp "$T/big" "$T/mnt/d/big"
writes0=$(count 2A)
syncs0=$(count 35)
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)' "$T/mnt/d/big" &
fsync_pid=$!
for _ in $(seq 600); do [ "$(count 2A)" -gt "$writes0" ] && break; sleep 0.1; done
[ "$(count 2A)" -gt "$writes0" ] || fail "the fsync wrote nothing to the drive within 60 s"
stat "$T/mnt/d/f1" > /dev/null || fail "stat"
ls -l "$T/mnt/d" > "$T/listing" || fail "ls -l"
[ "$(grep -c ' f[1-5]$' "$T/listing")" = 5 ] || fail "ls -l does not list the five files"
syncs=$(count 35)
[ "$syncs" = "$syncs0" ] ||
	fail "stat and ls -l waited for the fsync's commit (the drive had flushed its cache $((syncs - syncs0)) times when they returned)"
wait "$fsync_pid" || fail "the fsync failed"
[ "$(count 35)" -ge $((syncs0 + 3)) ] || fail "the fsync returned before its commit's barriers"
"$PKTFUSE" umount "$T/mnt"
start_pktfuse "emu:cdrw:$img" "$T/mnt" -o ro
cmp "$T/big" "$T/mnt/d/big" || fail "the fsync'd file differs after a remount"
"$PKTFUSE" umount "$T/mnt"
echo "PASS: stat and ls -l answered while an fsync's commit wrote to a CD-RW at 4x"
