#!/usr/bin/env bash
# Media life, the stretch of issue 13: the file entries every commit rewrites (a busy directory's,
# the root's) move along an ICB strategy-4096 chain (core/udf/udf_move.c), so that no packet takes
# more than one write per ten commits.  On an emulated CD-RW whose drive log lists every WRITE:
# 200 small files in a new directory and 40 in the root, one fsync each; from mount to unmount the
# most-written packet takes at most commits/10 writes (a writer that rewrites the directory's entry
# in place writes its packet once per commit).  After the unmount the files read back, the disc is
# clean for `pktfuse check`, and the entries are back at their first blocks (no chain left).
. "$(dirname "$0")/lib.sh"
need_root
img=$T/cd.img
log=$T/cd.log
"$PKTFUSE" format "emu:cdrw:$img,size=64M" > /dev/null || fail "format"
start_pktfuse "emu:cdrw:$img,log=$log" "$T/mnt"
python3 - "$T/mnt" << 'PY' || fail "writing the files"
import os, sys
d = sys.argv[1]
os.mkdir(f"{d}/small")
for i in range(200):
    for p in [f"/small/f{i:04d}"] + ([f"/r{i:04d}"] if i % 5 == 0 else []):
        with open(d + p, "wb") as f:
            f.write(f"file {p}\n".encode())
            f.flush()
            os.fsync(f.fileno())
PY
commits=$(stat_of "$T/mnt" udf_commits)
[ -n "$commits" ] && [ "$commits" -ge 240 ] || fail "udf_commits: '$commits', want at least 240 (one per fsync)"
stop_pktfuse "$T/mnt"
# the most-written 32-sector packet of the drive log, mount to unmount: "packet writes"
read -r hot hotn < <(awk -v P=32 '$1 == "op=2A" { split($2, a, "="); split($3, b, "=")
		for (k = int(a[2] / P); k <= int((a[2] + b[2] - 1) / P); k++) w[k]++ }
	END { for (k in w) if (w[k] > m) { m = w[k]; mk = k }; print mk, m }' "$log")
[ -n "$hotn" ] || fail "no WRITE in the drive log $log"
note "$commits commits; the most-written packet (#$hot) took $hotn writes: $(python3 -c "print(round($hotn / $commits, 3))") per commit"
[ $((hotn * 10)) -le "$commits" ] || fail "packet $hot written $hotn times in $commits commits: more than one per ten commits"

start_pktfuse "emu:cdrw:$img" "$T/mnt" -o ro
python3 - "$T/mnt" << 'PY' || fail "the files do not read back"
import sys
d = sys.argv[1]
for i in range(200):
    for p in [f"/small/f{i:04d}"] + ([f"/r{i:04d}"] if i % 5 == 0 else []):
        if open(d + p, "rb").read() != f"file {p}\n".encode():
            sys.exit(f"{p} does not hold what was written")
PY
stop_pktfuse "$T/mnt"
"$PKTFUSE" check "emu:cdrw:$img" > "$T/check" 2>&1 || fail "pktfuse check after the unmount: $(cat "$T/check")"
# no chain left: the root's and /small's entries say strategy 4, no hops (tests/udf/udf_chain.py)
python3 "$(dirname "$0")/../udf/udf_chain.py" "$img" > "$T/chains" || fail "udf_chain.py: $(cat "$T/chains")"
[ "$(awk '$1 == "/" || $1 == "/small" { print $1, $2, $3 }' "$T/chains" | sort | tr '\n' ' ')" = "/ 0 4 /small 0 4 " ] ||
	fail "a chain is left after the unmount: $(cat "$T/chains")"
note "after the unmount: the files read back, pktfuse check is clean, no chain is left"
