#!/usr/bin/env bash
# The files view's commit interval respects the medium (issue 13, media life): media that wear out
# with each rewrite of a packet (CD-RW, DVD-RW, DVD+RW) are committed at most every 30 s by
# default, others every dirty_age as before; -o commit=SECONDS sets it, and a bad value is refused
# with one line naming the option.  The daemon reports the interval it uses (udf_commit_interval_ms),
# so the defaults are asserted as facts; that the committer follows -o commit is seen by a commit
# happening with no fsync at all.
. "$(dirname "$0")/lib.sh"
need_root

# interval_of SOURCE [options…] → the commit interval the daemon reports for SOURCE
interval_of() {
	local src=$1 v
	shift
	start_pktfuse "$src" "$T/mnt" "$@"
	v=$(stat_of "$T/mnt" udf_commit_interval_ms)
	stop_pktfuse "$T/mnt"
	echo "$v"
}

for p in cdrw dvd-rw dvd+rw dvd-ram bd-re; do
	"$PKTFUSE" format "emu:$p:$T/$p.img,size=48M" > /dev/null || fail "$p: format failed"
done
for p in cd-r dvd+r; do
	"$PKTFUSE" format "emu:$p:$T/$p.img,size=48M" > /dev/null || fail "$p: format failed"
done
truncate -s 32M "$T/plain.img"
"$PKTFUSE" format "$T/plain.img" > /dev/null || fail "format of an image file"

for p in cdrw dvd-rw dvd+rw; do
	v=$(interval_of "emu:$p:$T/$p.img")
	[ "$v" = 30000 ] || fail "$p: default commit interval ${v:-missing} ms, expected 30000 (a medium that wears)"
done
# Write-once media: every commit costs space that is never given back (a VAT and the padding of
# its last write unit, 32 KiB and more), so they are committed as seldom as media that wear.
for p in cd-r dvd+r; do
	v=$(interval_of "emu:$p:$T/$p.img")
	[ "$v" = 30000 ] || fail "$p: default commit interval ${v:-missing} ms, expected 30000 (a commit costs space)"
done
for p in dvd-ram bd-re; do
	v=$(interval_of "emu:$p:$T/$p.img")
	[ "$v" = 5000 ] || fail "$p: default commit interval ${v:-missing} ms, expected dirty_age's 5000"
done
v=$(interval_of "$T/plain.img")
[ "$v" = 5000 ] || fail "image file: default commit interval ${v:-missing} ms, expected 5000"
v=$(interval_of "$T/plain.img" -o dirty_age=2)
[ "$v" = 2000 ] || fail "image file with dirty_age=2: commit interval ${v:-missing} ms, expected 2000"
v=$(interval_of "emu:cdrw:$T/cdrw.img" -o dirty_age=60)
[ "$v" = 60000 ] || fail "cdrw with dirty_age=60: commit interval ${v:-missing} ms, expected 60000"
v=$(interval_of "emu:cdrw:$T/cdrw.img" -o commit=7.5)
[ "$v" = 7500 ] || fail "cdrw with commit=7.5: commit interval ${v:-missing} ms, expected 7500"
v=$(interval_of "emu:dvd-ram:$T/dvd-ram.img" -o commit=120)
[ "$v" = 120000 ] || fail "dvd-ram with commit=120: commit interval ${v:-missing} ms, expected 120000"

# honoured: with commit=0.5 a change reaches the medium without any fsync (bounded wait: 60 s)
start_pktfuse "emu:cdrw:$T/cdrw.img" "$T/mnt" -o commit=0.5
c0=$(stat_of "$T/mnt" udf_commits)
echo hello > "$T/mnt/no-fsync"
for ((i = 0; i < 600; i++)); do
	[ "$(stat_of "$T/mnt" udf_commits)" -gt "$c0" ] && [ "$(stat_of "$T/mnt" udf_uncommitted)" = 0 ] && break
	sleep 0.1
done
[ "$(stat_of "$T/mnt" udf_commits)" -gt "$c0" ] || fail "no commit within 60 s with -o commit=0.5"
stop_pktfuse "$T/mnt"

for bad in 0 -1 abc 5s 3601 1.; do
	if "$PKTFUSE" "$T/plain.img" "$T/mnt" -o "commit=$bad" 2> "$T/err"; then
		fusermount3 -u "$T/mnt" 2> /dev/null
		fail "-o commit=$bad was accepted"
	fi
	[ "$(wc -l < "$T/err")" = 1 ] && grep -q "invalid value '$bad' for -o commit" "$T/err" ||
		fail "-o commit=$bad: $(cat "$T/err")"
done
"$PKTFUSE" --help 2>&1 | grep -q -- '-o commit=SECONDS' || fail "--help does not name -o commit"
echo "PASS: commit interval 30 s by default on media that wear, dirty_age elsewhere; -o commit honoured and checked"
