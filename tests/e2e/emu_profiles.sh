#!/usr/bin/env bash
# Every profile end to end through the emulated drive: pktfuse format → pktfuse -o image → loop +
# mkfs.ext2 → copy → unmount → mount again and verify, with the emulator's log showing that every
# write obeyed the medium's rules (whole aligned packets on CD-RW, 32 KiB units on DVD-RW, no
# internal read-modify-write on DVD+RW, and so on).
. "$(dirname "$0")/lib.sh"
need_root

make_tree "$T/src" emu
mkdir -p "$T/mnt"
for p in cdrw dvd-rw dvd+rw dvd-ram bd-re cd-mrw; do
	img="$T/$p.img"
	S="emu:$p:$img,size=48M,log=$T/$p.log"
	# a blank disc is refused with advice, and nothing is written
	if "$PKTFUSE" "$S" "$T/mnt" -o image 2> "$T/err"; then fail "$p: mounted a blank disc"; fi
	grep -q "pktfuse format" "$T/err" || fail "$p: no advice to format: $(cat "$T/err")"
	"$PKTFUSE" format "$S" > /dev/null || fail "$p: format failed"
	start_pktfuse "$S" "$T/mnt" -o image
	attach_loop loop "$T/mnt/disc" --direct-io=on -b 2048
	mkfs.ext2 -q -b 2048 "$loop" || fail "$p: mkfs.ext2"
	mount_fs "$loop" "$T/fs"
	cp -a "$T/src/." "$T/fs/"
	umount "$T/fs"
	_fsmounts=()
	detach_loop "$loop"
	"$PKTFUSE" status --raw "$T/mnt" > "$T/stats"
	"$PKTFUSE" umount "$T/mnt"
	# the emulator saw only writes the medium allows
	writes=$(grep -c '^op=2A' "$T/$p.log" || true)
	[ "$writes" -gt 0 ] || fail "$p: no writes reached the emulator"
	if grep '^op=2A' "$T/$p.log" | grep -v 'rule=ok rmw=0 status=GOOD' | sed -n 1,3p | grep .; then
		fail "$p: writes that broke the medium's rules"
	fi
	grep -q '^op=35' "$T/$p.log" || fail "$p: no SYNCHRONIZE CACHE reached the drive"
	# again, from the disc alone
	start_pktfuse "emu:$p:$img" "$T/mnt" -o image,ro
	attach_loop loop "$T/mnt/disc" -r
	fsck.ext2 -fn "$loop" > "$T/fsck" 2>&1 || { cat "$T/fsck"; fail "$p: fsck"; }
	mount_fs "$loop" "$T/check" -o ro
	diff <(tree_sums "$T/src") <(tree_sums "$T/check" | grep -v ' ./lost+found') > /dev/null || fail "$p: files differ"
	umount "$T/check"
	_fsmounts=()
	detach_loop "$loop"
	"$PKTFUSE" umount "$T/mnt"
	note "$p: $writes writes, all within the medium's rules; $(awk -F': ' '$1=="write_amplification"{print "write amplification " $2}' "$T/stats")"
done
# Bad input: one line, non-zero exit, nothing created or changed.
expect_fail() { # expect_fail WORD -- ARGS…
	local word=$1 out
	shift 2
	if out=$("$PKTFUSE" "$@" 2>&1); then fail "pktfuse $* succeeded"; fi
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "pktfuse $*: more than one line: $out"
	grep -qi -- "$word" <<< "$out" || fail "pktfuse $*: message lacks '$word': $out"
	note "pktfuse $* → $out"
}
expect_fail "unknown profile" -- "emu:zip:$T/z.img" "$T/mnt" -o image
[ ! -e "$T/z.img" ] || fail "an unknown profile created an image"
expect_fail "no such emulated disc" -- "emu:cdrw:$T/no/such/dir/d.img" "$T/mnt" -o image
# Only `pktfuse format` (or size=) makes a disc: a mount or `info` of a missing one says so, creates nothing.
expect_fail "no such emulated disc $T/never.img (pktfuse format emu:cdrw:$T/never.img creates one, or give size=)" -- \
	"emu:cdrw:$T/never.img" "$T/mnt"
if out=$("$PKTFUSE" info "emu:cdrw:$T/never.img" 2>&1); then fail "info of a missing emulated disc succeeded: $out"; fi
grep -q "no such emulated disc $T/never.img" <<< "$out" || fail "info of a missing disc: $out"
[ ! -e "$T/never.img" ] && [ ! -e "$T/never.img.state" ] || fail "a mount or info created an emulated disc"
if out=$("$PKTFUSE" format "emu:cdrw:$T/no/such/dir/d.img" 2>&1); then fail "format into a missing directory succeeded"; fi
grep -q "No such file" <<< "$out" || fail "format into a missing directory: $out"
# An emulated disc in a directory its user cannot write: refused at once with the reason (not with a
# HARDWARE ERROR at the first SYNCHRONIZE CACHE), and served read-only.  As nobody: root ignores modes.
if command -v setpriv > /dev/null; then
	chmod 711 "$T"
	mkdir "$T/rodir"
	"$PKTFUSE" format "emu:dvd-ram:$T/rodir/d.img,size=16M" > /dev/null || fail "format in rodir"
	cp "$PKTFUSE" "$T/pktfuse-nobody" && chmod 755 "$T/pktfuse-nobody"
	chmod 666 "$T/rodir/d.img" "$T/rodir/d.img.state"
	chmod 555 "$T/rodir"
	nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$T/pktfuse-nobody" "$@"; }
	if out=$(nobody format "emu:dvd-ram:$T/rodir/d.img" --force 2>&1); then fail "format in a read-only directory succeeded"; fi
	grep -q "cannot write the emulated disc's state file $T/rodir/d.img.state: Permission denied" <<< "$out" ||
		fail "format in a read-only directory: $out"
	nobody info "emu:dvd-ram:$T/rodir/d.img" > "$T/roinfo" 2>&1 || fail "info in a read-only directory: $(cat "$T/roinfo")"
	grep -q "formatted for packet writing: yes" "$T/roinfo" || fail "info in a read-only directory: $(cat "$T/roinfo")"
	chmod 755 "$T/rodir"
	note "as nobody, a disc in a read-only directory: $out"
fi
expect_fail "No such file" -- "/dev/no-such-drive" "$T/mnt" -o image
expect_fail "not a SCSI/MMC drive" -- /dev/null "$T/mnt" -o image
mkfifo "$T/fifo"
expect_fail "neither a drive nor an image" -- "$T/fifo" "$T/mnt" -o image
start_pktfuse "emu:cdrw:$T/cdrw.img" "$T/mnt" -o image
expect_fail "in use" -- "emu:cdrw:$T/cdrw.img" "$T/check" -o image
"$PKTFUSE" umount "$T/mnt"
sum=$(sha256sum < "$T/dvd+rw.img")
expect_fail "write-protected" -- "emu:dvd+rw:$T/dvd+rw.img,ro=1" "$T/mnt" -o image
start_pktfuse "emu:dvd+rw:$T/dvd+rw.img,ro=1" "$T/mnt" -o image,ro
if dd if=/dev/zero of="$T/mnt/disc" bs=32k count=1 conv=notrunc,fsync 2>/dev/null; then fail "wrote to a write-protected disc"; fi
"$PKTFUSE" umount "$T/mnt"
[ "$(sha256sum < "$T/dvd+rw.img")" = "$sum" ] || fail "the write-protected disc changed"
echo "PASS: every emulated profile, formatted, written through ext2 on the block file, and read back"
