#!/usr/bin/env bash
# Closing write-once discs on emu:cd-r, emu:dvd-r, emu:dvd+r and emu:bd-r, the drive's log checked for each
# CLOSE TRACK/SESSION and its function: -o close=session at unmount (the mount says the cost first;
# closed after the last commit: the session holds it; an unchanged mount leaves nothing to close),
# `pktfuse close` (refused on an empty session or a mounted disc; it says what closing costs, and the
# NWA moves by that), -o close=finalize at unmount; a finalized disc's files view mounts read-only
# and says why.  close= on a rewritable disc or an image file, and `pktfuse close` of either: one
# line, exit 1.  The commit list and -o snapshot= reach the earlier sessions' commits.
. "$(dirname "$0")/lib.sh"
need_root
M=$T/mnt
mkdir -p "$M"
tree() { (cd "$1" && find . -mindepth 1 | sort | while read -r f; do if [ -f "$f" ]; then echo "$f $(cat "$f")"; else echo "$f"; fi; done); }
info_value() { "$PKTFUSE" info "$1" | sed -n "s/^$2: //p"; }
one_line() { [ "$(wc -l < "$1")" -eq 1 ] && grep -q -- "$2" "$1" || fail "$3: $(cat "$1")"; }
last_close() { grep '^op=5B' "$1" | tail -1; }

for row in "cd-r 2" "dvd-r 2" "dvd+r 6" "bd-r 6"; do
	read -r p fin_fn <<< "$row"
	img=$T/$p.img log=$T/$p.log
	S="emu:$p:$img,log=$log"
	"$PKTFUSE" format "$S,size=64M" > /dev/null || fail "$p: format"
	# 1: a commit, then the session closed at unmount
	"$PKTFUSE" info "$S" | grep '^closing the session costs: ' > "$T/cost" || fail "$p: info says no cost"
	"$PKTFUSE" "$S" "$M" -o close=session 2> "$T/err" || fail "$p: mount with close=session: $(cat "$T/err")"
	_mounts+=("$M")
	grep -qF "close=session at unmount: $(cat "$T/cost")" "$T/err" || fail "$p: the mount did not say what closing costs: $(cat "$T/err")"
	mkdir "$M/one" && echo first > "$M/one/a"
	"$PKTFUSE" umount "$M" > /dev/null || fail "$p: umount with close=session"
	last_close "$log" | grep -q ' close fn=2 session=1 leadout=[0-9]* next_nwa=[0-9]* status=GOOD' ||
		fail "$p: no close of session 1 (function 2) in the log: $(last_close "$log")"
	[ "$(info_value "$S" sessions)" = "2 (the last one empty)" ] || fail "$p: sessions after close=session: $(info_value "$S" sessions)"
	# a mount that writes nothing leaves the new session empty: close=session has nothing to close
	n5b=$(grep -c '^op=5B' "$log")
	"$PKTFUSE" "$S" "$M" -o close=session 2> /dev/null || fail "$p: mount of the empty session"
	_mounts+=("$M")
	"$PKTFUSE" umount "$M" > /dev/null || fail "$p: umount of an unchanged mount with close=session"
	[ "$(grep -c '^op=5B' "$log")" -eq "$n5b" ] || fail "$p: an empty session was closed: $(last_close "$log")"
	"$PKTFUSE" close "$S" > /dev/null 2> "$T/err" && fail "$p: an empty session was closed"
	one_line "$T/err" "empty" "$p: close of an empty session"
	# 2: the next session: appended, then closed by pktfuse close, which says the cost first
	"$PKTFUSE" "$S" "$M" || fail "$p: mount of the second session"
	_mounts+=("$M")
	grep -q " $M fuse.pktfuse rw," /proc/mounts || fail "$p: the second session is not writable"
	echo second > "$M/one/b"
	"$PKTFUSE" close "$S" > /dev/null 2> "$T/err" && fail "$p: a mounted disc was closed"
	one_line "$T/err" "in use" "$p: close of a mounted disc"
	"$PKTFUSE" umount "$M" > /dev/null || fail "$p: umount in the second session"
	nwa=$(info_value "$S" "next writable address")
	"$PKTFUSE" close "$S" > "$T/out" 2>&1 || fail "$p: pktfuse close: $(cat "$T/out")"
	cost=$(sed -n 's/^closing the session costs: \([0-9]*\) sectors .*/\1/p' "$T/out")
	[ -n "$cost" ] && [ "$(head -1 "$T/out" | cut -c1-26)" = "closing the session costs:" ] || fail "$p: close did not say the cost first: $(cat "$T/out")"
	last_close "$log" | grep -q ' close fn=2 session=2 ' || fail "$p: no close of session 2 in the log: $(last_close "$log")"
	after=$(info_value "$S" "next writable address")
	note "$p: closing session 2 cost $cost sectors; the NWA went from $nwa to $after"
	[ $((after - nwa)) -eq "$cost" ] || fail "$p: the NWA moved by $((after - nwa)), close said $cost"
	# 3: finalized at unmount
	"$PKTFUSE" "$S" "$M" -o close=finalize || fail "$p: mount with close=finalize"
	_mounts+=("$M")
	echo third > "$M/c"
	tree "$M" > "$T/tree"
	"$PKTFUSE" umount "$M" > /dev/null || fail "$p: umount with close=finalize"
	last_close "$log" | grep -q " close fn=$fin_fn session=3 .*finalized=1 status=GOOD" || fail "$p: no finalize (function $fin_fn) in the log: $(last_close "$log")"
	[ "$(info_value "$S" "disc status")" = "closed (finalized)" ] || fail "$p: not finalized"
	# a finalized disc: the files, read-only, and why
	"$PKTFUSE" "$S" "$M" 2> "$T/err" || fail "$p: a finalized disc does not mount: $(cat "$T/err")"
	_mounts+=("$M")
	one_line "$T/err" "read-only: .*finalized" "$p: the mount does not say why it is read-only"
	grep -q " $M fuse.pktfuse ro," /proc/mounts || fail "$p: a finalized disc is mounted read-write"
	[ "$(stat_of "$M" udf_writable)" = 0 ] || fail "$p: a finalized disc is writable"
	stat_of "$M" udf_readonly_reason | grep -q finalized || fail "$p: status: $(stat_of "$M" udf_readonly_reason)"
	tree "$M" > "$T/seen"
	diff -u "$T/tree" "$T/seen" || fail "$p: the finalized disc shows another tree"
	if touch "$M/new" 2> /dev/null; then fail "$p: a finalized disc took a file"; fi
	"$PKTFUSE" umount "$M" > /dev/null
	# the commits of all three sessions are listed, and an earlier session's is mounted
	"$PKTFUSE" info "$S" > "$T/info"
	[ "$(grep -cE '^  [0-9]+: ' "$T/info")" -eq 4 ] || fail "$p: not the format's and 3 sessions' commits: $(cat "$T/info")"
	"$PKTFUSE" "$S" "$M" -o snapshot=2 2> /dev/null || fail "$p: snapshot=2 (the first session's commit)"
	_mounts+=("$M")
	[ "$(tree "$M" | tr '\n' ' ')" = "./one ./one/a first " ] || fail "$p: snapshot=2 shows $(tree "$M")"
	"$PKTFUSE" umount "$M" > /dev/null
	"$PKTFUSE" close "$S" --finalize > /dev/null 2> "$T/err" && fail "$p: finalized twice"
	one_line "$T/err" "finalized already" "$p: second finalize"
	"$PKTFUSE" "$S" "$M" -o close=session 2> "$T/err" && fail "$p: close=session on a finalized disc mounted"
	one_line "$T/err" "finalized" "$p: close= on a finalized disc"
	note "$p: close=session, pktfuse close, close=finalize; read-only after"
done

# the rewritable and the image: one line, exit 1
"$PKTFUSE" format "emu:cdrw:$T/rw.img,size=32M" > /dev/null 2>&1 || fail "format of a CD-RW"
"$PKTFUSE" "emu:cdrw:$T/rw.img" "$M" -o close=session 2> "$T/err" && fail "close= on a CD-RW mounted"
one_line "$T/err" "write-once" "close= on a CD-RW"
"$PKTFUSE" close "emu:cdrw:$T/rw.img" 2> "$T/err" && fail "pktfuse close of a CD-RW"
one_line "$T/err" "rewritable" "pktfuse close of a CD-RW"
"$PKTFUSE" format --media dvdr "$T/dvd.img" > /dev/null 2>&1 || fail "format of a DVD-R image"
"$PKTFUSE" "$T/dvd.img" "$M" -o close=finalize 2> "$T/err" && fail "close= on an image file mounted"
one_line "$T/err" "image file has no session to close" "close= on an image"
"$PKTFUSE" close "$T/dvd.img" 2> "$T/err" && fail "pktfuse close of an image file"
one_line "$T/err" "image has no session to close" "pktfuse close of an image"
for bad in "-o close=bogus" "-o close=session,ro" "-o close=session,snapshot=1"; do
	# shellcheck disable=SC2086
	"$PKTFUSE" "$T/dvd.img" "$M" $bad 2> "$T/err" && fail "$bad mounted"
	one_line "$T/err" "close" "$bad"
done
echo "PASS: sessions closed and discs finalized on CD-R, DVD-R and DVD+R, each CLOSE in the drive's log; refusals in one line"
