#!/usr/bin/env bash
# A multisession image of a write-once disc with no drive to say where its last session starts: three
# VAT volumes written one after the other (the later ones moved behind the earlier ones, each with
# its anchor at its start + 256).  Without options the last session is found by its anchor and read;
# UDF_SESSION_START (-o session=) reads the one named, UDF_LAST_BLOCK (-o lastblock=) ends the medium
# where said, so that the last session before it is read.
set -euo pipefail
M=${UDF_MANIFEST:?} V=${UDF_VAT_WRITE:?} S=${UDF_SHIFT:?}
W=$(mktemp -d)
mnt=
cleanup() {
	[ -n "$mnt" ] && { "$PKTFUSE" umount "$mnt" 2> /dev/null || fusermount3 -u "$mnt" 2> /dev/null || true; }
	rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
sectors() { echo $(($(stat -c %s "$1") / 2048)); }

"$V" "$W/a.img" dvdr 1 3 > /dev/null
"$V" "$W/b.img" dvdr 2 2 > /dev/null
"$V" "$W/c.img" cdr 3 2 > /dev/null
A=$(sectors "$W/a.img")
B=$(($(sectors "$W/b.img") + A))
"$S" "$W/b.img" "$W/b.shift" "$A"
"$S" "$W/c.img" "$W/ms.img" "$B"
dd if="$W/b.shift" of="$W/ms.img" conv=notrunc status=none
dd if="$W/a.img" of="$W/ms.img" conv=notrunc status=none
for s in a b c; do "$M" "$W/$s.img" > "$W/$s.want"; done
cmp -s "$W/a.want" "$W/c.want" && fail "the sessions' trees do not differ"

"$M" "$W/ms.img" > "$W/got" 2> "$W/err"
cmp -s "$W/c.want" "$W/got" || fail "without options the last session is not what is read"
grep -q "the last session, at block $B, is read" "$W/err" || fail "no note on the session read: $(cat "$W/err")"
UDF_SESSION_START=0 "$M" "$W/ms.img" > "$W/got"
cmp -s "$W/a.want" "$W/got" || fail "session=0 does not read the first session"
UDF_SESSION_START=$A "$M" "$W/ms.img" > "$W/got"
cmp -s "$W/b.want" "$W/got" || fail "session=$A does not read the second session"
UDF_LAST_BLOCK=$((B - 1)) "$M" "$W/ms.img" > "$W/got" 2> /dev/null
cmp -s "$W/b.want" "$W/got" || fail "lastblock=$((B - 1)) does not read the second session"
# a single-session image still reads as before, without a note
"$M" "$W/a.img" > "$W/got" 2> "$W/err"
cmp -s "$W/a.want" "$W/got" && [ ! -s "$W/err" ] || fail "a single-session image reads differently"
# the daemon: -o session=N reaches the engine, and without it the files view shows the last session
if [ -n "${PKTFUSE:-}" ] && [ -e /dev/fuse ] && command -v fusermount3 > /dev/null; then
	mkdir "$W/mnt"
	mnt=$W/mnt
	top() { awk -F'|' '$2 ~ /^\.\/[^/]*$/ {sub(/^\.\//, "", $2); print $2}' "$1" | sort; }
	for opt in "" "session=0" "session=$A"; do
		case $opt in "") want=c ;; session=0) want=a ;; *) want=b ;; esac
		"$PKTFUSE" "$W/ms.img" "$mnt" -o "ro${opt:+,$opt}" > "$W/mount.out" 2>&1 || { cat "$W/mount.out"; fail "pktfuse -o ro${opt:+,$opt} cannot mount"; }
		ls -A "$mnt" | sort > "$W/ls"
		"$PKTFUSE" umount "$mnt" || fail "pktfuse umount"
		[ -s "$W/ls" ] || fail "pktfuse -o ro${opt:+,$opt} shows an empty root"
		top "$W/$want.want" | diff -u - "$W/ls" > /dev/null || fail "pktfuse -o ro${opt:+,$opt} shows another session"
	done
	mnt=
fi
echo "PASS: sessions at 0, $A and $B: the last is found by its anchor, session= and lastblock= choose"
