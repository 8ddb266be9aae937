#!/usr/bin/env bash
# A commit due by size (issue 13: the fsync after a large copy; bounded memory): with the commit
# interval an hour, creating 1,300 files makes the files view commit on its own once 512 files and
# directories wait (the daemon's udf_commits), without any fsync; the daemon then killed, the next
# mount finds at least 1,000 of the files those commits wrote, each with its contents; the rest are
# absent, or empty where a commit took a file between its creation and its write (what was not
# fsync'd may be lost, but never mixed up).  Then the fsync after such a copy commits the rest.
. "$(dirname "$0")/lib.sh"
need_root

# commits_after N → the commits of the mount on $T/mnt once there are N: the committer thread commits
# in the background (a condition, bounded only so that a daemon that never commits fails, not hangs)
commits_after() {
	for _ in $(seq 1 600); do
		[ "$(stat_of "$T/mnt" udf_commits)" -ge "$1" ] && break
		sleep 0.1
	done
	stat_of "$T/mnt" udf_commits
}

truncate -s 64M "$T/disc.img"
"$PKTFUSE" format "$T/disc.img" > /dev/null || fail "format"
start_pktfuse "$T/disc.img" "$T/mnt" -o commit=3600,dirty_age=3600,auto_unmount
pid=$(pid_of_mount "$T/mnt")
mkdir "$T/mnt/d"
for i in $(seq 1 1300); do echo "file $i" > "$T/mnt/d/f$i"; done
commits=$(commits_after 2)
[ "$commits" -ge 2 ] || fail "1,300 new files, no fsync: $commits commits (expected 2 by size: 512 nodes each)"
[ "$commits" -le 3 ] || fail "1,300 new files: $commits commits (expected 2, 3 at most)"
note "1,300 new files without an fsync: $commits commits by size"
kill -KILL "$pid"
wait_gone "$pid"
remove_dead_mount "$T/mnt" || true

start_pktfuse "$T/disc.img" "$T/mnt" -o ro
found=0 empty=0
for i in $(seq 1 1300); do
	f="$T/mnt/d/f$i"
	[ -e "$f" ] || continue
	if [ ! -s "$f" ]; then
		empty=$((empty + 1))
		continue
	fi
	[ "$(cat "$f")" = "file $i" ] || fail "f$i after the kill holds '$(cat "$f")'"
	found=$((found + 1))
done
[ "$found" -ge 1000 ] || fail "after the kill: $found of 1,300 files (the commits by size wrote at least 1,000)"
[ "$empty" -le 2 ] || fail "after the kill: $empty empty files (one per commit at most: created, not yet written)"
note "after SIGKILL: $found of 1,300 files whole, $empty empty, the rest absent"
stop_pktfuse "$T/mnt"

# The same on a mount that stays: the fsync after the copy commits what is left, at most 512 nodes
start_pktfuse "$T/disc.img" "$T/mnt" -o commit=3600,dirty_age=3600
mkdir "$T/mnt/e"
for i in $(seq 1 1100); do echo "more $i" > "$T/mnt/e/g$i"; done
before=$(commits_after 2)
[ "$before" -ge 2 ] || fail "1,100 new files, no fsync: $before commits (expected 2)"
sync "$T/mnt/e/g1"
[ "$(stat_of "$T/mnt" udf_uncommitted)" = 0 ] || fail "after the fsync: uncommitted changes"
stop_pktfuse "$T/mnt"
start_pktfuse "$T/disc.img" "$T/mnt" -o ro
for i in $(seq 1 1100); do [ "$(cat "$T/mnt/e/g$i")" = "more $i" ] || fail "g$i after the remount"; done
stop_pktfuse "$T/mnt"
echo "PASS: the files view commits by size ($commits commits for 1,300 new files, $found found after SIGKILL)"
