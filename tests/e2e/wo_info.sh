#!/usr/bin/env bash
# pktfuse info on every emulated write-once profile (cd-r, dvd-r, dvd+r, bd-r) as the disc goes from
# blank through written packets and a closed session to finalized: disc status, sessions, NWA, free
# space, what closing costs; the image grows as written; the drive's log shows every write at the NWA.
# Usage: wo_info.sh PKTMMC (the test-only tool that appends packets and closes sessions).
. "$(dirname "$0")/lib.sh"
PKTMMC=${1:?usage: wo_info.sh PKTMMC}

# has FILE LINE: the info output holds exactly this line.
has() { grep -qxF -- "$2" "$1" || fail "$p: no line '$2' in: $(cat "$1")"; }
length() { stat -c %s "$1"; }

# profile packet link NWA-advance-of-closing-the-first-session (CD-R: 11400 from the lead-out, which
# starts 2 run-out blocks after the last packet, 5 before the NWA its 7 link blocks gave)
for row in "cd-r 32 7 11395" "dvd-r 16 0 16384" "dvd+r 16 0 3072" "bd-r 32 0 0"; do
	read -r p ps link gap <<< "$row"
	img="$T/$p.img"
	log="$T/$p.log"
	S="emu:$p:$img,log=$log"
	# blank: size= makes the disc (64 MiB: 32768 sectors)
	"$PKTFUSE" info "$S,size=64M" > "$T/i0" || fail "$p: info of a new disc"
	has "$T/i0" "disc status: blank"
	has "$T/i0" "sessions: 1 (the last one empty)"
	has "$T/i0" "recorded: nothing"
	has "$T/i0" "next writable address: 0"
	has "$T/i0" "free: 32768 sectors (64.0 MiB)"
	has "$T/i0" "writable: yes"
	[ "$(length "$img")" -eq 0 ] || fail "$p: a blank disc's image is not empty"
	# three packets appended
	"$PKTMMC" append "$S" 3 > /dev/null || fail "$p: append"
	nwa=$((3 * (ps + link)))
	"$PKTFUSE" info "$S" > "$T/i1" || fail "$p: info after writes"
	has "$T/i1" "disc status: appendable"
	has "$T/i1" "sessions: 1 (the last one open)"
	has "$T/i1" "recorded: up to sector $((nwa - link - 1))"
	has "$T/i1" "next writable address: $nwa"
	has "$T/i1" "free: $((32768 - nwa)) sectors ($(awk -v s=$((32768 - nwa)) 'BEGIN{printf "%.1f", s*2048/1048576}') MiB)"
	grep -q "^closing the session costs: $gap sectors" "$T/i1" || fail "$p: close cost: $(cat "$T/i1")"
	[ "$(length "$img")" -eq $(((nwa - link) * 2048)) ] || fail "$p: image length $(length "$img") after $nwa sectors"
	# the session closed: the next one starts after the medium's gap
	"$PKTMMC" close "$S" session || fail "$p: close session"
	"$PKTFUSE" info "$S" > "$T/i2" || fail "$p: info after close"
	has "$T/i2" "disc status: appendable"
	has "$T/i2" "sessions: 2 (the last one empty)"
	has "$T/i2" "last closed session: 1, starting at sector 0"
	has "$T/i2" "next writable address: $((nwa + gap))"
	has "$T/i2" "last session starts at: sector $((nwa + gap))"
	# one more packet, then finalized
	"$PKTMMC" append "$S" 1 > /dev/null || fail "$p: append to the second session"
	"$PKTMMC" close "$S" finalize || fail "$p: finalize"
	"$PKTFUSE" info "$S" > "$T/i3" || fail "$p: info after finalize"
	has "$T/i3" "disc status: closed (finalized)"
	has "$T/i3" "sessions: 2 (the last one closed)"
	has "$T/i3" "next writable address: none"
	has "$T/i3" "writable: no"
	kind=$(sed -n 's/^medium: \(.*\) (profile .*/\1/p' "$T/i3")
	why="the $kind is finalized (closed) and takes no more writes: it can be read with -o ro"
	has "$T/i3" "note: $why"
	if "$PKTMMC" append "$S" 1 2> "$T/err"; then fail "$p: appended to a finalized disc"; fi
	# the daemon refuses it for writing with the same words, in one line
	if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ]; then
		mkdir -p "$T/mnt"
		if "$PKTFUSE" "emu:$p:$img" "$T/mnt" -o image 2> "$T/err"; then
			"$PKTFUSE" umount "$T/mnt"
			fail "$p: mounted a finalized disc for writing"
		fi
		[ "$(cat "$T/err")" = "pktfuse: emu:$p:$img: $why" ] || fail "$p: refusal: $(cat "$T/err")"
	fi
	# every write the drive took was at its NWA, and nothing was refused
	ok=$(grep -c '^op=2A .* rule=ok' "$log" || true)
	[ "$ok" -eq 4 ] || fail "$p: $ok accepted writes, want 4"
	if grep '^op=2A' "$log" | awk '{ split($2, l, "="); split($4, w, "="); if ($2 !~ /^lba=/ || $4 !~ /^nwa=/ || l[2] != w[2]) print }' | grep .; then
		fail "$p: a write away from the NWA"
	fi
	if grep '^op=2A' "$log" | grep -v 'rule=ok' | grep .; then fail "$p: refused writes"; fi
	note "$p: blank → 3 packets (NWA $nwa) → session closed (next NWA $((nwa + gap))) → finalized"
done
