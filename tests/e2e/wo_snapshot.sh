#!/usr/bin/env bash
# -o snapshot=N and the commit list of `pktfuse info`, on an emulated CD-R (variable packets, link
# blocks) and on an image file of a DVD-R: three commits with different trees after the format; info
# lists the four VATs newest first (0 the newest, as snapshot= counts); snapshot=0..3 each shows its
# own tree read-only and status says so; a bad N and a rewritable disc get one line and exit 1.
. "$(dirname "$0")/lib.sh"
need_root
M=$T/mnt
mkdir -p "$M"

# tree DIR: every path under DIR with a regular file's content, one a line
tree() { (cd "$1" && find . -mindepth 1 | sort | while read -r f; do if [ -f "$f" ]; then echo "$f $(cat "$f")"; else echo "$f"; fi; done); }

check_source() { # NAME SOURCE
	local name=$1 S=$2 k
	: > "$T/$name.tree3" # the format's: empty
	for k in 2 1 0; do # commit 3-k: one mount, one change, the commit at unmount only
		"$PKTFUSE" "$S" "$M" -o commit=3600 || fail "$name: mount for commit $((3 - k))"
		_mounts+=("$M")
		case $k in
		2) mkdir "$M/one" && echo first > "$M/one/a" ;;
		1) echo second > "$M/one/a" && mkdir "$M/two" && echo b > "$M/two/b" ;;
		0) rm -r "$M/one" && mv "$M/two/b" "$M/c" && echo third > "$M/two/d" ;;
		esac
		tree "$M" > "$T/$name.tree$k"
		"$PKTFUSE" umount "$M" > /dev/null || fail "$name: umount after commit $((3 - k))"
	done
	"$PKTFUSE" info "$S" > "$T/info" || fail "$name: info"
	grep -q '^commits: ' "$T/info" || fail "$name: info lists no commits: $(cat "$T/info")"
	grep -E '^  [0-9]+: [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC, ' "$T/info" > "$T/commits" || true
	[ "$(wc -l < "$T/commits")" -eq 4 ] || fail "$name: info lists $(wc -l < "$T/commits") commits, not the format's and three: $(cat "$T/info")"
	[ "$(cut -d: -f1 "$T/commits" | tr -d ' ' | tr '\n' ' ')" = "0 1 2 3 " ] || fail "$name: commits not numbered 0..3 newest first: $(cat "$T/commits")"
	grep -q '^  0: .*, 2 files, 2 directories, .*(the newest)$' "$T/commits" || fail "$name: the newest commit's counts: $(cat "$T/commits")"
	grep -q '^  3: .*, 0 files, 1 directory, ' "$T/commits" || fail "$name: the format's commit: $(cat "$T/commits")"
	for k in 0 1 2 3; do
		"$PKTFUSE" "$S" "$M" -o snapshot=$k 2> "$T/err" || fail "$name: snapshot=$k: $(cat "$T/err")"
		_mounts+=("$M")
		tree "$M" > "$T/seen"
		diff -u "$T/$name.tree$k" "$T/seen" || fail "$name: snapshot=$k shows another tree"
		[ "$(stat_of "$M" udf_writable)" = 0 ] || fail "$name: snapshot=$k is writable"
		[ "$(stat_of "$M" udf_snapshot)" = "$k" ] || fail "$name: status does not name snapshot $k"
		stat_of "$M" udf_readonly_reason | grep -q "snapshot=$k" || fail "$name: status does not say why it is read-only: $(stat_of "$M" udf_readonly_reason)"
		grep -q " $M fuse.pktfuse ro," /proc/mounts || fail "$name: snapshot=$k is not a read-only mount"
		if touch "$M/new" 2> /dev/null; then fail "$name: snapshot=$k took a new file"; fi
		"$PKTFUSE" umount "$M" > /dev/null || fail "$name: umount of snapshot=$k"
	done
	note "$name: snapshots 0-3 show their trees"
	"$PKTFUSE" "$S" "$M" -o snapshot=4 2> "$T/err" && fail "$name: snapshot=4 of four commits mounted"
	[ "$(wc -l < "$T/err")" -eq 1 ] && grep -q "snapshot=4: .*fewer commits" "$T/err" || fail "$name: snapshot=4: $(cat "$T/err")"
	# the last snapshot refused wrote nothing: the newest state is still what the last commit left
	"$PKTFUSE" "$S" "$M" -o ro || fail "$name: mount after the refusals"
	_mounts+=("$M")
	tree "$M" > "$T/seen"
	diff -u "$T/$name.tree0" "$T/seen" || fail "$name: the newest tree changed"
	"$PKTFUSE" umount "$M" > /dev/null
}

"$PKTFUSE" format "emu:cd-r:$T/cd.img,size=64M" > /dev/null || fail "format of the blank CD-R"
check_source cd-r "emu:cd-r:$T/cd.img,log=$T/cd.log"
"$PKTFUSE" format --media dvdr "$T/dvd.img" > "$T/out" 2>&1 || fail "format of a DVD-R image: $(cat "$T/out")"
check_source image "$T/dvd.img"

# bad input: one line, exit 1
for bad in x -1 1x ""; do
	"$PKTFUSE" "$T/dvd.img" "$M" -o "snapshot=$bad" 2> "$T/err" && fail "snapshot=$bad mounted"
	[ "$(wc -l < "$T/err")" -eq 1 ] && grep -q "snapshot" "$T/err" || fail "snapshot=$bad: $(cat "$T/err")"
done
"$PKTFUSE" format "emu:cdrw:$T/rw.img,size=32M" > /dev/null 2>&1 || fail "format of a CD-RW"
"$PKTFUSE" "emu:cdrw:$T/rw.img" "$M" -o snapshot=0 2> "$T/err" && fail "a rewritable disc mounted with snapshot="
[ "$(wc -l < "$T/err")" -eq 1 ] && grep -q "write-once" "$T/err" || fail "snapshot= on a CD-RW: $(cat "$T/err")"
echo "PASS: snapshot=0..3 show each commit's tree read-only on a CD-R and a DVD-R image; info lists the commits"
