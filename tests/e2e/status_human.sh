#!/usr/bin/env bash
# `pktfuse status` for a person: the disc's state in a few lines with units and percentages that
# are the daemon's own numbers; `--raw` keeps the `name: value` lines for scripts.
. "$(dirname "$0")/lib.sh"
need_root

truncate -s 32M "$T/disc.img"
"$PKTFUSE" format "$T/disc.img" --label Holiday > /dev/null || fail "format"
# dirty_age of an hour: what is written stays in the cache until the sync
start_pktfuse "$T/disc.img" "$T/mnt" -o dirty_age=3600
"$PATTERN" three 3145728 > "$T/mnt/three"
"$PKTFUSE" status "$T/mnt" > "$T/human" || fail "status"
"$PKTFUSE" status --raw "$T/mnt" > "$T/raw" || fail "status --raw"
cat "$T/human"
r() { awk -F': ' -v k="$1" '$1 == k { print $2 }' "$T/raw"; }
line() { grep -E "^  $1: +" "$T/human" | sed -E "s/^  $1: +//"; }
# mib BYTES → "N.N MiB", as a person reads it
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

[ "$(head -1 "$T/human")" = "$T/mnt: $T/disc.img" ] || fail "first line: $(head -1 "$T/human")"
grep -q '^daemon_pid: [0-9]' "$T/raw" && grep -q '^user_write_bytes: ' "$T/raw" || fail "--raw lacks name: value lines"
grep -q '^daemon_pid' "$T/human" && fail "the human form has raw lines"
[ "$(line medium)" = "image file, 32.0 MiB, written in packets of 64.0 KiB" ] || fail "medium: $(line medium)"
[ "$(line view)" = 'files, UDF 2.01 "Holiday", writable' ] || fail "view: $(line view)"
# space: the free blocks and their share, from the raw numbers
bs=$(r udf_block_size) free=$(r udf_free_blocks) blocks=$(r udf_blocks)
pct=$(( (free * 100 + blocks / 2) / blocks ))
[ "$(line space)" = "$(mib $((free * bs))) free of $(mib $((blocks * bs))) ($pct%), 1 file, 1 directory" ] ||
	fail "space: $(line space) (raw: $free of $blocks blocks of $bs)"
# written and dirty: the 3 MiB just written, not on the disc yet
[ "$(r user_write_bytes)" -ge 3145728 ] || fail "raw user_write_bytes $(r user_write_bytes)"
line written | grep -q '^3\.0 MiB by programs, ' || fail "written: $(line written)"
dirty=$(( $(r pool_sectors_dirty) * $(r sector_size) ))
[ "$dirty" -ge 3145728 ] || fail "raw dirty bytes $dirty"
# fuse: what carries the FUSE requests, in the daemon's words: the ring and its queues, or /dev/fuse
# and why not the ring
if [ -n "$(r fuse_uring)" ]; then
	[ "$(line fuse)" = "over io_uring, $(r fuse_uring | grep -o '[0-9]* queues')" ] || fail "fuse: $(line fuse) (raw: $(r fuse_uring))"
else
	[ "$(line fuse)" = "over $(r fuse_transport): $(r fuse_transport_why)" ] ||
		fail "fuse: $(line fuse) (raw: $(r fuse_transport), $(r fuse_transport_why))"
	if [ "$(cat /sys/module/fuse/parameters/enable_uring 2> /dev/null)" = N ]; then
		line fuse | grep -qF "/dev/fuse: the kernel does not offer FUSE over io_uring (the fuse module's enable_uring is N" ||
			fail "fuse, enable_uring N: $(line fuse)"
	fi
fi
line cache | grep -qF "of 32.0 MiB in use" || fail "cache size: $(line cache)"
line cache | grep -qF "$(mib "$dirty") dirty ($(( (dirty * 100 + (32 << 19)) / (32 << 20) ))%): not on the disc yet" ||
	fail "cache: $(line cache) (raw dirty $dirty)"
[ "$(line errors)" = none ] || fail "errors: $(line errors)"
[ "$(line report)" = "$(r report_file) (daemon $(r daemon_pid))" ] || fail "report: $(line report)"

# after the sync: nothing dirty, the disc holds at least the 3 MiB
sync "$T/mnt/three"
"$PKTFUSE" status "$T/mnt" > "$T/human"
"$PKTFUSE" status --raw "$T/mnt" > "$T/raw"
line cache | grep -qF "nothing waiting to be written" || fail "cache after sync: $(line cache)"
[ "$(line written)" = "3.0 MiB by programs, $(mib "$(r medium_write_bytes)") to the disc in $(r packets_written) packets" ] ||
	fail "written after sync: $(line written)"
[ "$(r medium_write_bytes)" -ge 3145728 ] || fail "raw medium_write_bytes $(r medium_write_bytes)"
if "$PKTFUSE" status --bogus "$T/mnt" 2> "$T/err"; then fail "status --bogus succeeded"; fi
grep -q 'usage: pktfuse status \[--raw\] MOUNTPOINT' "$T/err" || fail "status --bogus: $(cat "$T/err")"
stop_pktfuse "$T/mnt"
echo "PASS: pktfuse status in words and units from the daemon's numbers; --raw for scripts"
