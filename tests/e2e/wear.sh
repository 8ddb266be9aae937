#!/usr/bin/env bash
# Media life: the per-packet write counts of a disc are kept across mounts in the user's state
# directory, keyed by the disc's UDF volume set identifier.  Two mounts of an emulated CD-RW with
# fsync'd writes: the record's counts add up over both mounts and equal, packet by packet (the hottest
# among them), what the emulated drive's own wear counters grew by; status shows them.  A corrupt
# record is ignored with a log line and replaced, never a crash.
. "$(dirname "$0")/lib.sh"
need_root
export XDG_STATE_HOME="$T/state"
img="$T/cd.img"
"$PKTFUSE" format "emu:cdrw:$img,size=32M" > /dev/null || fail "format"

# emu_wear IMG → "packet count" per packet of the drive's own counters (IMG.state: a 32-byte header,
# then one 32-bit count per packet)
emu_wear() {
	python3 - "$1.state" << 'EOF'
import struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack_from('>I', b, 16)[0]
for p, w in enumerate(struct.unpack_from('<%dI' % n, b, 32)):
    print(p, w)
EOF
}
# record → "packet count" lines of the wear record
record() {
	local f
	f=$(ls "$XDG_STATE_HOME"/pktfuse/wear-* 2> /dev/null | grep -v '\.tmp$' | head -1)
	[ -n "$f" ] || fail "no wear record in $XDG_STATE_HOME/pktfuse"
	awk '$1 == "packet" { print $2, $3 }' "$f"
}
emu_wear "$img" > "$T/base"

writes() { # writes MNT TAG N: N small files, each fsync'd (each commits: the packets that wear)
	local i
	for i in $(seq 1 "$3"); do
		echo "$2 $i" > "$1/$2.$i"
		python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)' "$1/$2.$i" ||
			fail "fsync of $1/$2.$i"
	done
}

start_pktfuse "emu:cdrw:$img" "$T/mnt"
writes "$T/mnt" a 5
stop_pktfuse "$T/mnt"
[ "$(stat -c %a "$XDG_STATE_HOME/pktfuse")" = 700 ] || fail "state directory mode $(stat -c %a "$XDG_STATE_HOME/pktfuse")"
record > "$T/rec1"
hot1=$(sort -k2,2nr "$T/rec1" | head -1)
[ -n "$hot1" ] || fail "the first mount recorded nothing"

start_pktfuse "emu:cdrw:$img" "$T/mnt"
writes "$T/mnt" b 5
hot=$(stat_of "$T/mnt" wear_hot_packets)
[ -n "$hot" ] && [ "$hot" != "-" ] || fail "status shows no hot packets: '$hot'"
"$PKTFUSE" status "$T/mnt" | grep -q '^  wear:    the most written packet, .* times over all mounts: ~[0-9]*% of its ~1000 rewrites left$' ||
	fail "no wear line in status: $("$PKTFUSE" status "$T/mnt")"
[ "$(stat_of "$T/mnt" wear_rated_overwrites)" = 1000 ] || fail "CD-RW rated $(stat_of "$T/mnt" wear_rated_overwrites)"
stop_pktfuse "$T/mnt"
record > "$T/rec2"
emu_wear "$img" > "$T/after"

# the drive's counts grew by exactly the record's, for every packet recorded and none else
join "$T/base" "$T/after" | awk '$3 > $2 { print $1, $3 - $2 }' | sort -n > "$T/emu_delta"
sort -n "$T/rec2" > "$T/rec2s"
diff "$T/emu_delta" "$T/rec2s" > "$T/diff" || fail "record differs from the drive's wear counters: $(head -20 "$T/diff")"
read -r hp hn < <(sort -k2,2nr "$T/rec2" | head -1)
read -r p1 n1 <<< "$hot1"
n1now=$(awk -v p="$p1" '$1 == p { print $2 }' "$T/rec1")
n2now=$(awk -v p="$p1" '$1 == p { print $2 }' "$T/rec2")
[ "$n2now" -gt "$n1now" ] || fail "packet $p1: $n1now writes after mount 1, $n2now after mount 2: not added up"
note "hottest packet $hp: $hn writes over two mounts, as the drive counted (packet $p1: $n1now after the first)"

"$PKTFUSE" info "emu:cdrw:$img" > "$T/info" || fail "info"
grep -qx "wear_max_packet_writes: $hn" "$T/info" || fail "info shows another count: $(grep wear_ "$T/info")"
grep -q "^wear_hot_packets: $hp=$hn" "$T/info" || fail "info shows other hot packets: $(grep wear_ "$T/info")"

# a corrupt record: ignored with a log line, then replaced by a valid one
f=$(ls "$XDG_STATE_HOME"/pktfuse/wear-*)
printf 'pktfuse-wear 1\ngarbage\n' > "$f"
start_pktfuse "emu:cdrw:$img" "$T/mnt"
"$PKTFUSE" status --raw "$T/mnt" | grep -q "^last_error: .*wear counts: .* ignored" ||
	fail "no log line for the corrupt record: $("$PKTFUSE" status --raw "$T/mnt" | grep last_error)"
writes "$T/mnt" c 1
stop_pktfuse "$T/mnt"
head -1 "$f" | grep -qx 'pktfuse-wear 1' && [ "$(record | wc -l)" -gt 0 ] || fail "the corrupt record was not replaced"
note "a corrupt record was ignored with a log line and rewritten"
