#!/usr/bin/env bash
# pktfuse check on discs damaged on purpose, every kind: a daemon killed during writes (SIGKILL), a
# commit cut by the emulated drive's power cut, a bitmap that lies both ways, two names for one
# directory, a name recorded twice, a wrong link count, an orphan, an integrity descriptor left open,
# a UDF 2.50 metadata file's (or mirror's, or metadata bitmap file's) entry zeroed.
# For each: the plain check names the damage, exits 4 and writes nothing (the image's checksum; on
# the emulator its log shows no write command); --repair exits 1; a second check exits 0; pktfuse
# mounts the repaired disc read-write and reads every file, and what the damage did not touch is
# intact.  Usage errors exit 8, --help 0.  At the end Debian's kernel (tests/kernel's qemu harness,
# when it is there) mounts every repaired disc.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/rwlib.sh"
DAMAGE=(python3 "$HERE/udf_damage.py")
mkdir -p "$T/mnt" "$T/kept"
kept=()
codes=()

# expect_check CODE WHAT ARGS...: pktfuse check ARGS exits CODE (its output in $T/out)
expect_check() {
	local want=$1 what=$2 rc=0
	shift 2
	"$PKTFUSE" check "$@" > "$T/out" 2>&1 || rc=$?
	[ "$rc" -eq "$want" ] || { cat "$T/out"; fail "$what: pktfuse check $* exited $rc, expected $want"; }
}

# listing MNT: every file's path and sha256, lost+found left out
listing() {
	(cd "$1" && find . -path ./lost+found -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# churn_until_commits PREFIX SIZE WHAT: on the daemon serving $T/mnt, files $T/mnt/w/fN of SIZE
# bytes ($PATTERN PREFIXN), each fsync'd, every third deleting the one written two before, until
# the daemon has made 20 commits (60 s at the most); fails with WHAT when it has not
churn_until_commits() {
	local prefix=$1 size=$2 what=$3 writer c
	rm -f "$T/stop"
	(
		i=0
		while [ ! -e "$T/stop" ]; do
			"$PATTERN" "$prefix$i" "$size" > "$T/mnt/w/f$i"
			[ $((i % 3)) -ne 2 ] || rm -f "$T/mnt/w/f$((i - 2))"
			fsync_path "$T/mnt/w/f$i"
			i=$((i + 1))
		done
	) &
	writer=$!
	for _ in $(seq 1 600); do
		c=$(stat_of "$T/mnt" udf_commits)
		[ "${c:-0}" -lt 20 ] || break
		sleep 0.1
	done
	touch "$T/stop"
	wait "$writer" || fail "$what: the writes failed"
	[ "${c:-0}" -ge 20 ] || fail "$what: only ${c:-0} commits in 60 s"
}

# kill_daemon PID: the daemon serving $T/mnt killed (SIGKILL, no unmount of its own), and its dead
# mount taken down
kill_daemon() {
	kill -KILL "$1"
	wait_gone "$1"
	fusermount3 -u "$T/mnt" 2> /dev/null || umount -l "$T/mnt" 2> /dev/null || true
}

# The base disc: a small tree through the files view.
img0="$T/clean.img"
truncate -s 64M "$img0"
"$PKTFUSE" format "$img0" > /dev/null
start_pktfuse "$img0" "$T/mnt"
mkdir -p "$T/mnt/d1" "$T/mnt/d2/sub" "$T/mnt/keep"
echo "one" > "$T/mnt/d1/f1"
echo "x" > "$T/mnt/d1/x1"
"$PATTERN" big 300000 > "$T/mnt/d2/big"
echo "a" > "$T/mnt/dupa"
echo "b" > "$T/mnt/dupb"
ln "$T/mnt/d1/f1" "$T/mnt/hard"
for i in 1 2 3; do "$PATTERN" "keep$i" $((i * 40000)) > "$T/mnt/keep/k$i"; done
listing "$T/mnt" > "$T/clean.list"
expect_check 8 "a disc pktfuse serves" "$img0"
grep -q "in use by another pktfuse" "$T/out" || fail "a mounted disc: $(cat "$T/out")"
stop_pktfuse "$T/mnt"
expect_check 0 "the clean disc" "$img0"

# Usage
expect_check 8 "no SOURCE"
grep -q "^usage: pktfuse check SOURCE" "$T/out" || fail "no usage line without SOURCE"
expect_check 8 "an unknown option" "$img0" --bogus
expect_check 8 "a missing source" "$T/missing.img"
expect_check 0 "--help" --help
grep -q "Exit status: 0 clean, 1 repaired, 4" "$T/out" || fail "--help does not give the exit codes"
truncate -s 8M "$T/blank.img"
expect_check 8 "an image without UDF" "$T/blank.img"
# a layout the check does not cover yet is refused in one line: udf_make_meta's metadata partition
# has no metadata bitmap (UDF 2.50 wants one on rewritable media; pktfuse does not write it either)
"$UDF_MAKE_META" "$img0" "$T/meta.img"
expect_check 8 "a metadata partition without a metadata bitmap" "$T/meta.img"
grep -q "a metadata partition without a metadata bitmap, which pktfuse check does not check yet" "$T/out" ||
	fail "a metadata partition without a metadata bitmap: $(cat "$T/out")"
# a write-once disc with a VAT, when the tool that writes one is given (UDF_VAT_WRITE)
if [ -n "${UDF_VAT_WRITE:-}" ]; then
	"$UDF_VAT_WRITE" "$T/vat.img" cdr 1 3 > /dev/null
	expect_check 8 "a VAT disc" "$T/vat.img"
	grep -q "a write-once disc with a VAT, which pktfuse check does not check yet" "$T/out" ||
		fail "a VAT disc: $(cat "$T/out")"
fi

# cycle WHAT IMG PATTERN [SOURCE]: check names the damage (PATTERN) with exit 4 and writes nothing;
# --repair exits 1; a second check exits 0; pktfuse mounts the disc read-write and reads every file
cycle() {
	local what=$1 img=$2 pat=$3 src=${4:-$2} sum t0
	t0=$(date +%s%N)
	sum=$(sha256sum < "$img")
	expect_check 4 "$what: the check" "$src"
	cp "$T/out" "$T/check1.out"
	grep -qE "$pat" "$T/out" || { cat "$T/out"; fail "$what: the check does not report /$pat/"; }
	grep -qE ": [0-9]+ problems? \(pktfuse check --repair" "$T/out" || fail "$what: no summary line"
	[ "$sum" = "$(sha256sum < "$img")" ] || fail "$what: the plain check wrote to the image"
	expect_check 1 "$what: --repair" "$src" --repair
	grep -qE ": [0-9]+ problems?, all repaired$" "$T/out" || { cat "$T/out"; fail "$what: the repair's summary"; }
	cp "$T/out" "$T/repair.out"
	expect_check 0 "$what: the check after the repair" "$src"
	start_pktfuse "$src" "$T/mnt"
	assert_rw "$T/mnt"
	(cd "$T/mnt" && find . -type f -print0 | xargs -0 -r cat > /dev/null) 2> "$T/err" ||
		{ head -3 "$T/err"; fail "$what: files unreadable after the repair"; }
	listing "$T/mnt" > "$T/got.list"
	stop_pktfuse "$T/mnt"
	expect_check 0 "$what: the check after pktfuse mounted the repaired disc" "$src"
	kept+=("$img")
	codes+=("$what: check 4, --repair 1, check 0 ($((($(date +%s%N) - t0) / 1000000)) ms with the mount)")
	note "$what: $(grep -c . "$T/repair.out") lines from the repair; $(tail -1 "$T/repair.out" | sed 's/.*: //')"
}

# damaged NAME ACTION ARGS...: a copy of the clean disc with one damage
damaged() {
	local name=$1
	shift
	cp "$img0" "$T/kept/$name.img"
	"${DAMAGE[@]}" "$T/kept/$name.img" "$@"
}

# the untouched part of the tree reads back as it was written
same_as_clean() { # same_as_clean WHAT PATH-REGEX-TO-LEAVE-OUT
	diff <(grep -vE "$2" "$T/clean.list") <(grep -vE "$2" "$T/got.list") > "$T/diff" ||
		{ cat "$T/diff"; fail "$1: files the damage did not touch changed"; }
}

damaged lvid-open lvid-open
cycle "an integrity descriptor left open" "$T/kept/lvid-open.img" "integrity descriptor says open"
same_as_clean "lvid-open" '^$'

# A user checks a disc image it may only read (exit 4, nothing written), cannot repair it (8, one
# line), and repairs the one it owns (1).
if id nobody > /dev/null 2>&1; then
	ubin=$(user_copy "$PKTFUSE")
	mkdir -p "$T/user"
	chmod 755 "$T/user"
	cp "$img0" "$T/user/disc.img"
	"${DAMAGE[@]}" "$T/user/disc.img" lvid-open
	chmod 644 "$T/user/disc.img"
	sum=$(sha256sum < "$T/user/disc.img")
	rc=0
	runuser -u nobody -- "$ubin" check "$T/user/disc.img" > "$T/out" 2>&1 || rc=$?
	[ "$rc" -eq 4 ] || { cat "$T/out"; fail "as nobody: check exited $rc, expected 4"; }
	rc=0
	runuser -u nobody -- "$ubin" check --repair "$T/user/disc.img" > "$T/out" 2>&1 || rc=$?
	[ "$rc" -eq 8 ] && [ "$(wc -l < "$T/out")" -eq 1 ] ||
		{ cat "$T/out"; fail "as nobody, a disc it may not write: --repair exited $rc, expected 8 and one line"; }
	[ "$sum" = "$(sha256sum < "$T/user/disc.img")" ] || fail "as nobody: the image changed"
	chown nobody "$T/user/disc.img"
	rc=0
	runuser -u nobody -- "$ubin" check --repair "$T/user/disc.img" > "$T/out" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || { cat "$T/out"; fail "as nobody, its own disc: --repair exited $rc, expected 1"; }
	codes+=("as the user nobody: check 4, --repair of an image it may not write 8 (one line), of its own 1")
fi

damaged bitmap-free bitmap-free d2/big
cycle "blocks in use marked free" "$T/kept/bitmap-free.img" "^/d2/big: [0-9]+ blocks? in use marked free"
same_as_clean "bitmap-free" '^$'

damaged bitmap-leak bitmap-leak 40
cycle "blocks marked used that nothing owns" "$T/kept/bitmap-leak.img" "^40 blocks marked used .* \(leaked"
same_as_clean "bitmap-leak" '^$'

damaged nlink nlink d1/f1 5
cycle "a wrong link count" "$T/kept/nlink.img" "^/hard: link count 5, but 2 names point to it"
same_as_clean "nlink" '^$'

damaged orphan orphan d2/big
cycle "an orphan" "$T/kept/orphan.img" "^orphan: the regular file at block [0-9]+ \(300000 bytes"
same_as_clean "orphan" '\./d2/big$'
start_pktfuse "$T/kept/orphan.img" "$T/mnt"
cmp <("$PATTERN" big 300000) "$T/mnt/lost+found/#$("${DAMAGE[@]}" "$img0" blocks d2/big | cut -d' ' -f1)" ||
	fail "the orphan in lost+found is not /d2/big's data"
stop_pktfuse "$T/mnt"

damaged dup-name rename-record / dupb dupa
cycle "a name recorded twice" "$T/kept/dup-name.img" "^/dupa: the name is recorded twice in its directory"
same_as_clean "dup-name" '\./dup[ab]$'
start_pktfuse "$T/kept/dup-name.img" "$T/mnt"
[ "$(cat "$T/mnt/dupa")" = a ] || fail "dup-name: /dupa is not the first record's file"
[ "$(cat "$T/mnt/lost+found/#$("${DAMAGE[@]}" "$img0" blocks dupb | cut -d' ' -f1)")" = b ] ||
	fail "dup-name: the second record's file is not in lost+found"
stop_pktfuse "$T/mnt"

damaged two-names alias d1/x1 d2
cycle "two names for one directory" "$T/kept/two-names.img" "^/d1/x1: a second name of the directory /d2"
same_as_clean "two-names" '\./d1/x1$'
start_pktfuse "$T/kept/two-names.img" "$T/mnt"
[ ! -e "$T/mnt/d1/x1" ] && [ -d "$T/mnt/d2/sub" ] || fail "two-names: the second name is still there or /d2 lost"
[ "$(stat -c %h "$T/mnt/d2")" = 3 ] || fail "two-names: /d2's link count is $(stat -c %h "$T/mnt/d2")"
stop_pktfuse "$T/mnt"

damaged parent parent d2/sub d1
cycle "a parent entry naming another directory" "$T/kept/parent.img" \
	"^/d2/sub: the directory's parent entry names another directory"
same_as_clean "parent" '^$'

damaged lvid-counts lvid-files 99
cycle "wrong counts in a closed integrity descriptor" "$T/kept/lvid-counts.img" \
	"^the integrity descriptor records 99 files, [0-9]+ directories"
same_as_clean "lvid-counts" '^$'

# A daemon killed (SIGKILL) after writes and deletes: its integrity descriptor is left open, and
# the space bitmap, which a mount writes only when it ends (issue 13: it wore out its packet), does
# not hold what the mount allocated: the rewritten file's blocks are in use but marked free.
img="$T/kept/killed.img"
cp "$img0" "$img"
start_pktfuse "$img" "$T/mnt"
pid=$(pid_of_mount "$T/mnt")
mkdir "$T/mnt/w"
churn_until_commits w 70000 "killed daemon"
"$PATTERN" r1 300000 > "$T/mnt/w/rewritten"
fsync_path "$T/mnt/w/rewritten"
"$PATTERN" r2 200000 > "$T/mnt/w/rewritten"
fsync_path "$T/mnt/w/rewritten"
kill_daemon "$pid"
cycle "a daemon killed after writes" "$img" "integrity descriptor says open"
grep -qE "^/w/rewritten: [0-9]+ blocks? in use marked free" "$T/check1.out" ||
	{ cat "$T/check1.out"; fail "killed daemon: the bitmap's lag (the rewritten file's blocks) not reported"; }
same_as_clean "killed" '\./w/'
grep -q "^$(sha256sum < <("$PATTERN" r2 200000) | cut -c1-64)  \./w/rewritten$" "$T/got.list" ||
	fail "killed daemon: the fsync'd rewrite is not there after the repair"

# UDF 2.50 and 2.60, a metadata partition (entries and directories in the metadata file, written to
# its mirror too; its own metadata bitmap): a daemon killed after 20 commits of writes and deletes
# into one directory leaves both bitmaps behind (written at unmount only) and the busy entries on
# their chains (ICB strategy 4096).  The check reports the metadata bitmap's lag, the repair
# rebuilds both bitmaps and the counts, and every fsync'd file reads back.
for rev in 2.50 2.60; do
	img="$T/kept/killed-$rev.img"
	truncate -s 64M "$img"
	"$PKTFUSE" format "$img" --revision "$rev" > /dev/null || fail "UDF $rev: pktfuse format failed"
	start_pktfuse "$img" "$T/mnt"
	pid=$(pid_of_mount "$T/mnt")
	mkdir "$T/mnt/w"
	churn_until_commits m 30000 "UDF $rev killed"
	listing "$T/mnt" > "$T/meta.list"
	kill_daemon "$pid"
	cycle "UDF $rev: a daemon killed after writes" "$img" "integrity descriptor says open"
	grep -qE "^/w: [0-9]+ blocks? in use marked free in the metadata bitmap" "$T/check1.out" ||
		{ cat "$T/check1.out"; fail "UDF $rev killed: the metadata bitmap's lag (the directory's blocks) not reported"; }
	# every file there at the kill was fsync'd (a delete need not be: a deleted file may come back)
	comm -23 "$T/meta.list" "$T/got.list" > "$T/diff"
	[ ! -s "$T/diff" ] || { cat "$T/diff"; fail "UDF $rev killed: fsync'd files lost or changed"; }
done

# UDF 2.50: the metadata file's entry (and, on a second disc, its mirror's) zeroed by dd.  The mount
# reads through the other copy; the check names the damaged entry, the repair rebuilds it from the
# other's with extents where its own data lies, and every file reads back.  On a third disc the
# metadata bitmap file's entry: the mount is read-only, the repair rebuilds the entry over the
# bitmap's data (found by its contents).
img="$T/metafe-base.img"
truncate -s 64M "$img"
"$PKTFUSE" format "$img" --revision 2.50 > /dev/null || fail "UDF 2.50: pktfuse format failed"
start_pktfuse "$img" "$T/mnt"
mkdir -p "$T/mnt/d1"
"$PATTERN" mf1 300000 > "$T/mnt/d1/f1"
echo "small" > "$T/mnt/small"
listing "$T/mnt" > "$T/metafe.list"
stop_pktfuse "$T/mnt"
for which in file mirror bitmap; do
	dimg="$T/kept/metafe-$which.img"
	cp "$img" "$dimg"
	sec=$("${DAMAGE[@]}" "$dimg" meta-entry "$which")
	dd if=/dev/zero of="$dimg" bs=2048 seek="$sec" count=1 conv=notrunc status=none
	case $which in
	file) name="metadata file" ;;
	mirror) name="metadata mirror file" ;;
	*) name="metadata bitmap file" ;;
	esac
	cycle "UDF 2.50: the $name's entry zeroed" "$dimg" "^the $name's entry at block [0-9]+ cannot be read"
	grep -qE "^repaired: the $name's entry at block [0-9]+ rebuilt" "$T/repair.out" ||
		{ cat "$T/repair.out"; fail "UDF 2.50 $which entry: the repair does not say it rebuilt the entry"; }
	diff "$T/metafe.list" "$T/got.list" > "$T/diff" || { cat "$T/diff"; fail "UDF 2.50 $which entry: files changed"; }
done

# A CD-RW's sparing table: its second copy zeroed by dd.  The mount reads the first; the check names
# the damaged copy, the repair writes it again from the first.
simg="$T/kept/sparing-copy.img"
"$PKTFUSE" format "emu:cdrw:$simg,size=80M" > "$T/format.out" 2>&1 || fail "pktfuse format: $(cat "$T/format.out")"
start_pktfuse "emu:cdrw:$simg" "$T/mnt"
"$PATTERN" sp1 300000 > "$T/mnt/sp1"
listing "$T/mnt" > "$T/sparing.list"
stop_pktfuse "$T/mnt"
sec=$("${DAMAGE[@]}" "$simg" sparing-copy 2)
dd if=/dev/zero of="$simg" bs=2048 seek="$sec" count=1 conv=notrunc status=none
cycle "the sparing table's second copy zeroed" "$simg" "^the sparing table's copy 2 at sector $sec cannot be read" \
	"emu:cdrw:$simg"
grep -qE "^repaired: the sparing table's copy 2 at sector $sec renewed from copy 1" "$T/repair.out" ||
	{ cat "$T/repair.out"; fail "sparing copy: the repair does not say it renewed the copy"; }
diff "$T/sparing.list" "$T/got.list" > "$T/diff" || { cat "$T/diff"; fail "sparing copy: files changed"; }

# A commit cut by the emulated drive's power cut: the drive goes dark a few commands into a run of
# writes, and everything in its volatile cache that did not reach the medium is lost.
eimg="$T/kept/power-cut.img"
S="emu:cdrw:$eimg"
"$PKTFUSE" format "$S,size=80M" > "$T/format.out" 2>&1 || fail "pktfuse format $S: $(cat "$T/format.out")"
start_pktfuse "$S,log=$T/mount.log" "$T/mnt"
n0=$(wc -l < "$T/mount.log")
stop_pktfuse "$T/mnt"
start_pktfuse "$S,power_cut=$((n0 + 30)),seed=3" "$T/mnt"
pid=$(pid_of_mount "$T/mnt")
(
	for i in $(seq 1 200); do
		"$PATTERN" "p$i" 50000 > "$T/mnt/p$i" 2> /dev/null || exit 0
		fsync_path "$T/mnt/p$i" 2> /dev/null || exit 0
	done
	exit 1
) || fail "power cut: all 200 files were written: the cut came too late"
kill_daemon "$pid"
# the plain check of the emulated drive sends it no write command
: > "$T/check.log"
expect_check 4 "power cut: the check through the emulator" "$S,log=$T/check.log"
grep -q "integrity descriptor says open" "$T/out" || { cat "$T/out"; fail "power cut: LVID not reported open"; }
grep -m3 -E '^op=(2A|AA|2E|04|A1|5B|35) ' "$T/check.log" &&
	fail "power cut: the plain check sent the drive write commands"
[ "$(grep -c '^op=28 ' "$T/check.log")" -gt 0 ] || fail "power cut: no READ in the drive's log of the check"
cycle "a commit cut by a power cut" "$eimg" "integrity descriptor says open" "$S"

# A repair cut by a power cut at several points among its writes: the disc it leaves is valid, a
# second repair finishes the work, and nothing the damage did not touch is lost.
rimg="$T/rcut.img"
R="emu:cdrw:$rimg"
"$PKTFUSE" format "$R,size=80M" > "$T/format.out" 2>&1 || fail "pktfuse format $R: $(cat "$T/format.out")"
start_pktfuse "$R" "$T/mnt"
mkdir -p "$T/mnt/d2" "$T/mnt/keep"
"$PATTERN" big 300000 > "$T/mnt/d2/big"
for i in 1 2 3; do "$PATTERN" "keep$i" $((i * 40000)) > "$T/mnt/keep/k$i"; done
listing "$T/mnt" > "$T/rcut.list"
stop_pktfuse "$T/mnt"
"${DAMAGE[@]}" "$rimg" bitmap-free keep/k2
"${DAMAGE[@]}" "$rimg" orphan d2/big
"${DAMAGE[@]}" "$rimg" bitmap-leak 20
cp "$rimg" "$T/rcut.orig"
cp "$rimg.state" "$T/rcut.orig.state"
# where the repair's writes are among its commands
expect_check 1 "repair cut: the uncut repair" "$R,log=$T/rcut.log" --repair
first=$(grep -m1 -n '^op=2A ' "$T/rcut.log" | cut -d: -f1)
total=$(wc -l < "$T/rcut.log")
[ -n "$first" ] || fail "repair cut: the repair wrote nothing"
cuts=()
for at in "$first" $((first + 1)) $((first + 2)) $((first + 4)) $(((first + total) / 2)) $((total - 2)); do
	cp "$T/rcut.orig" "$rimg"
	cp "$T/rcut.orig.state" "$rimg.state"
	rc=0
	"$PKTFUSE" check "$R,power_cut=$at,seed=$at" --repair > "$T/out" 2>&1 || rc=$?
	[ "$rc" -eq 8 ] || [ "$rc" -eq 1 ] || { cat "$T/out"; fail "repair cut at command $at: exit $rc"; }
	rc2=0
	"$PKTFUSE" check "$R" --repair > "$T/out" 2>&1 || rc2=$?
	[ "$rc2" -eq 1 ] || [ "$rc2" -eq 0 ] || { cat "$T/out"; fail "repair cut at command $at: the second repair exited $rc2"; }
	expect_check 0 "repair cut at command $at: the check after" "$R"
	start_pktfuse "$R" "$T/mnt"
	listing "$T/mnt" > "$T/got.list"
	# under /lost+found, or inside the first repair's own /lost+found when the cut orphaned it
	found=$(find "$T/mnt/lost+found" -type f -name '#*' -size 300000c -print -quit)
	[ -n "$found" ] && cmp -s <("$PATTERN" big 300000) "$found" ||
		fail "repair cut at command $at: the orphan's data is not under lost+found"
	stop_pktfuse "$T/mnt"
	diff <(grep -v '\./d2/big$' "$T/rcut.list") "$T/got.list" > "$T/diff" ||
		{ cat "$T/diff"; fail "repair cut at command $at: files changed"; }
	cuts+=("$at: $rc then $rc2")
done
codes+=("a repair cut by a power cut at commands ${cuts[*]} (of $total; writes from $first), then check 0")

# Debian's kernel mounts every repaired disc (one boot for all)
if ! command -v qemu-system-x86_64 > /dev/null; then
	note "qemu is not installed: the kernel's look at the repaired discs is skipped"
else
	python3 "$HERE/../kernel/gpt_disk.py" build "$T/disk.img" "${kept[@]}"
	cat "$HERE/../kernel/rich_list.sh" "$HERE/../kernel/list_parts_guest.sh" > "$T/guest.sh"
	rc=0
	bash "$HERE/../kernel/kudf.sh" "$T/disk.img" "$T/guest.sh" > "$T/kout" 2> "$T/kerr" || rc=$?
	if [ "$rc" -ne 0 ] && grep -q "kudf: cannot" "$T/kerr"; then
		note "Debian's kernel is not available: $(grep -m1 "kudf: cannot" "$T/kerr")"
	else
		[ "$rc" -eq 0 ] || { tail -20 "$T/kout" "$T/kerr"; fail "the kernel's guest failed on the repaired discs"; }
		for p in $(seq 1 "${#kept[@]}"); do
			grep -qx "=== PART $p ok" "$T/kout" ||
				{ grep -A5 "=== PART $p " "$T/kout"; fail "the kernel cannot mount ${kept[$((p - 1))]}"; }
		done
		note "Debian's kernel mounted all ${#kept[@]} repaired discs"
	fi
fi
printf -- '-- %s\n' "${codes[@]}"
finish "pktfuse check found and repaired every damage kind (${#kept[@]} discs)"
