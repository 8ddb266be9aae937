#!/usr/bin/env bash
# The statistics move as they should, and `pktfuse status` shows the same numbers as the stats file.
. "$(dirname "$0")/lib.sh"
need_root

"$PATTERN" stats $((32 << 20)) > "$T/img"
start_pktfuse "$T/img" "$T/mnt" -o image,strict,packet=32,dirty_age=600
s() { stat_of "$T/mnt" "$1"; }
[ "$(s user_write_bytes)" = 0 ] || fail "fresh mount already wrote"

# One 4 KiB write into packet 3: cached, not yet on the medium.
"$PATTERN" w1 4096 | dd of="$T/mnt/disc" bs=4096 seek=$((3 * 16 + 5)) conv=notrunc status=none
[ "$(s user_write_bytes)" = 4096 ] || fail "user_write_bytes is $(s user_write_bytes), not 4096"
[ "$(s dirty_packets)" = 1 ] || fail "dirty_packets is $(s dirty_packets)"
[ "$(s packets_written)" = 0 ] || fail "written before its time"

# fsync: the packet is gathered (30 missing sectors), written once, and the backend synced.
dd if=/dev/null of="$T/mnt/disc" conv=notrunc,fsync status=none
[ "$(s packets_written)" = 1 ] || fail "packets_written is $(s packets_written) after fsync"
[ "$(s gather_read_sectors)" = 30 ] || fail "gather_read_sectors is $(s gather_read_sectors), not 30"
[ "$(s dirty_packets)" = 0 ] || fail "still dirty after fsync"
[ "$(s flushes)" -ge 1 ] || fail "no flush counted"
[ "$(s write_amplification)" = 16.000 ] || fail "write amplification $(s write_amplification), not 16.000"

# Reads: a miss loads the packet, the second read of it hits.
h0=$(s cache_hits) m0=$(s cache_misses)
dd if="$T/mnt/disc" of=/dev/null bs=2048 skip=$((20 * 32)) count=1 iflag=direct status=none
dd if="$T/mnt/disc" of=/dev/null bs=2048 skip=$((20 * 32 + 1)) count=1 iflag=direct status=none
[ "$(s cache_misses)" = $((m0 + 1)) ] || fail "expected one miss"
[ "$(s cache_hits)" = $((h0 + 1)) ] || fail "expected one hit"
[ "$(s user_read_bytes)" -ge 4096 ] || fail "user_read_bytes did not move"
[ "$(s miss_read_sectors)" = 32 ] || fail "a miss should load the whole packet"

# The stats file and the status command agree on a counter that does not move between them.
f=$(awk -F': ' '$1 == "packets_written" {print $2}' "$T/mnt/stats")
[ "$f" = "$(s packets_written)" ] || fail "stats file and status disagree"
grep -q '^daemon_pid: ' "$T/mnt/stats" || fail "stats file lacks daemon_pid"
stop_pktfuse "$T/mnt"
echo "PASS: statistics"
