#!/usr/bin/env bash
# Media life, the stretch of issue 13: the file entries every commit rewrites (a busy directory's,
# the root's) move along an ICB strategy-4096 chain (core/udf/udf_move.c), so that no packet takes
# more than one write per ten commits.  On an emulated CD-RW whose drive log lists every WRITE:
# 200 small files in a new directory and 40 in the root, one fsync each; from mount to unmount the
# most-written packet takes at most commits/10 writes (a writer that rewrites the directory's entry
# in place writes its packet once per commit).  After the unmount the files read back, the disc is
# clean for `pktfuse check`, and the entries are back at their first blocks (no chain left).
# Then regular files whose entry every commit rewrites: one file appended 100 bytes + fsync 200
# times, one 8 KiB file overwritten in place + fsync 200 times (their entries move, their changed
# data blocks are copied rather than rewritten): the same bound, the same checks.
# Last, UDF 2.50 with a metadata partition on an emulated BD-RE (as Windows formats BD-RE): the
# entries and their chains are the metadata partition's (written twice: the metadata file and its
# mirror); the directory workload and the two regular files, the same bound (a 1 GB disc: its
# metadata file of 8,192 blocks; the 64 MB one's 1,024 hold too few free packets to spread the
# moves); after each the files read back, pktfuse check is clean (the metadata bitmap and the
# mirror too) and no chain is left.  There the files' copied data blocks are the physical partition's,
# each commit's in a packet free when its interval began (a log's copies that followed the data
# cursor put one block further into the same packet each commit: 31 writes in 200 commits).
. "$(dirname "$0")/lib.sh"
need_root
# the most-written 32-sector packet of a drive log, mount to unmount (a CD-RW's packet, a BD-RE's
# cluster): "packet writes"
hottest() {
	awk -v P=32 '$1 == "op=2A" { split($2, a, "="); split($3, b, "=")
		for (k = int(a[2] / P); k <= int((a[2] + b[2] - 1) / P); k++) w[k]++ }
	END { for (k in w) if (w[k] > m) { m = w[k]; mk = k }; print mk, m }' "$1"
}
# hot_at_most_tenth LABEL MIN_COMMITS: the commits the daemon counted (at least MIN_COMMITS),
# then, from the drive log $log after the unmount, the most-written packet: at most commits/10 writes
hot_at_most_tenth() {
	local label=$1 min=$2 commits hot hotn
	commits=$(stat_of "$T/mnt" udf_commits)
	[ -n "$commits" ] && [ "$commits" -ge "$min" ] || fail "${label}udf_commits: '$commits', want at least $min (one per fsync)"
	stop_pktfuse "$T/mnt"
	read -r hot hotn < <(hottest "$log")
	[ -n "$hotn" ] || fail "no WRITE in the drive log $log"
	note "$label$commits commits; the most-written packet (#$hot) took $hotn writes: $(python3 -c "print(round($hotn / $commits, 3))") per commit"
	[ $((hotn * 10)) -le "$commits" ] || fail "${label}packet $hot written $hotn times in $commits commits: more than one per ten commits"
}
# small_files write|read LABEL: 200 small files in /small and 40 in the root of $T/mnt, each fsync'd
# as it is written (the workload whose directories every commit rewrites), or read back exactly
small_files() {
	local what=$1 label=$2
	python3 - "$T/mnt" "$what" << 'PY' || fail "${label}$([ "$what" = write ] && echo "writing the files" || echo "the files do not read back")"
import os, sys
d, what = sys.argv[1], sys.argv[2]
if what == "write":
    os.mkdir(f"{d}/small")
for i in range(200):
    for p in [f"/small/f{i:04d}"] + ([f"/r{i:04d}"] if i % 5 == 0 else []):
        if what == "write":
            with open(d + p, "wb") as f:
                f.write(f"file {p}\n".encode())
                f.flush()
                os.fsync(f.fileno())
        elif open(d + p, "rb").read() != f"file {p}\n".encode():
            sys.exit(f"{p} does not hold what was written")
PY
}
img=$T/cd.img
log=$T/cd.log
"$PKTFUSE" format "emu:cdrw:$img,size=64M" > /dev/null || fail "format"
start_pktfuse "emu:cdrw:$img,log=$log" "$T/mnt"
small_files write ""
hot_at_most_tenth "" 240

start_pktfuse "emu:cdrw:$img" "$T/mnt" -o ro
small_files read ""
stop_pktfuse "$T/mnt"
"$PKTFUSE" check "emu:cdrw:$img" > "$T/check" 2>&1 || fail "pktfuse check after the unmount: $(cat "$T/check")"
# no chain left: the root's and /small's entries say strategy 4, no hops (tests/udf/udf_chain.py)
python3 "$(dirname "$0")/../udf/udf_chain.py" "$img" > "$T/chains" || fail "udf_chain.py: $(cat "$T/chains")"
[ "$(awk '$1 == "/" || $1 == "/small" { print $1, $2, $3 }' "$T/chains" | sort | tr '\n' ' ')" = "/ 0 4 /small 0 4 " ] ||
	fail "a chain is left after the unmount: $(cat "$T/chains")"
note "after the unmount: the files read back, pktfuse check is clean, no chain is left"

# file_rows PROFILE SIZE LABEL [FORMAT OPTIONS…]: regular files on an emulated PROFILE disc of SIZE,
# one row each: a log appended and synced, a file overwritten in place and synced; after each the
# file reads back, pktfuse check is clean and no chain is left.
file_rows() {
	local prof=$1 size=$2 label=$3 wl f
	shift 3
	for wl in append overwrite; do
		img=$T/$wl-$prof.img
		log=$T/$wl-$prof.log
		"$PKTFUSE" format "emu:$prof:$img,size=$size" "$@" > /dev/null || fail "${label}format ($wl)"
		start_pktfuse "emu:$prof:$img,log=$log" "$T/mnt"
		python3 - "$T/mnt" "$wl" << 'PY' || fail "${label}the $wl workload"
import os, sys
d, wl = sys.argv[1], sys.argv[2]
if wl == "append":
    with open(d + "/log", "ab") as f:
        for i in range(200):
            f.write(b"%099d\n" % i)
            f.flush()
            os.fsync(f.fileno())
else:
    fd = os.open(d + "/db", os.O_RDWR | os.O_CREAT, 0o644)
    for i in range(200):
        os.pwrite(fd, bytes([i % 251]) * 8192, 0)
        os.fsync(fd)
    os.close(fd)
PY
		hot_at_most_tenth "$label$wl: " 200
		start_pktfuse "emu:$prof:$img" "$T/mnt" -o ro
		python3 - "$T/mnt" "$wl" << 'PY' || fail "$label$wl: the file does not read back"
import sys
d, wl = sys.argv[1], sys.argv[2]
if wl == "append":
    want = b"".join(b"%099d\n" % i for i in range(200))
    got = open(d + "/log", "rb").read()
else:
    want = bytes([199 % 251]) * 8192
    got = open(d + "/db", "rb").read()
if got != want:
    sys.exit(f"{wl}: {len(got)} bytes read back, not what was written")
PY
		stop_pktfuse "$T/mnt"
		"$PKTFUSE" check "emu:$prof:$img" > "$T/check" 2>&1 ||
			fail "$label$wl: pktfuse check after the unmount: $(cat "$T/check")"
		python3 "$(dirname "$0")/../udf/udf_chain.py" "$img" > "$T/chains" || fail "${label}udf_chain.py: $(cat "$T/chains")"
		f=/log
		[ "$wl" = append ] || f=/db
		[ "$(awk -v f="$f" '$1 == f { print $2, $3 }' "$T/chains")" = "0 4" ] ||
			fail "$label$wl: a chain is left after the unmount: $(cat "$T/chains")"
		note "$label$wl: after the unmount the file reads back, pktfuse check is clean, no chain is left"
		rm -f "$img" "$log"
	done
}
file_rows cdrw 64M ""

# UDF 2.50, a metadata partition, BD-RE: the directory workload
img=$T/bd.img
log=$T/bd.log
"$PKTFUSE" format "emu:bd-re:$img,size=1G" --revision 2.50 > /dev/null || fail "format (2.50)"
start_pktfuse "emu:bd-re:$img,log=$log" "$T/mnt"
small_files write "2.50: "
hot_at_most_tenth "2.50: " 240
start_pktfuse "emu:bd-re:$img" "$T/mnt" -o ro
small_files read "2.50: "
stop_pktfuse "$T/mnt"
"$PKTFUSE" check "emu:bd-re:$img" > "$T/check" 2>&1 || fail "2.50: pktfuse check after the unmount: $(cat "$T/check")"
python3 "$(dirname "$0")/../udf/udf_chain.py" "$img" > "$T/chains" || fail "2.50: udf_chain.py: $(cat "$T/chains")"
[ "$(awk '$1 == "/" || $1 == "/small" { print $1, $2, $3 }' "$T/chains" | sort | tr '\n' ' ')" = "/ 0 4 /small 0 4 " ] ||
	fail "2.50: a chain is left after the unmount: $(cat "$T/chains")"
note "2.50: after the unmount the files read back, pktfuse check is clean, no chain is left"

# UDF 2.50: regular files, their copied data blocks in the physical partition
file_rows bd-re 1G "2.50: " --revision 2.50
