#!/usr/bin/env bash
# UDF writer benchmark (not a test: it prints numbers measured side by side in one run).  Run as root.
#   1. copying a 5,000-file tree (50 directories, small files) into the files view of a UDF image vs
#      into ext2 on a loop device over a plain file on the same file system, each followed by the
#      sync that puts it on the medium (coreutils sync: fsync on the files view, syncfs on ext2); time
#      ratio, target ≤ 1.5; and per file copied, the files view's FUSE requests and daemon CPU time.
#      The same copy into bench/fuse_floor (the smallest in-memory FUSE file system, served as the
#      files view is) in the same rounds: FUSE floor / ext2 is what no FUSE daemon goes below on this
#      machine, files view / FUSE floor what pktfuse costs on top of FUSE
#   2. creating 10,000 and 20,000 empty files in one directory of the files view; time ratio
#      20k/10k, target ≤ 2.1 (issue 13; linear would be 2.0)
#   3. on an emulated CD-RW whose drive log lists every WRITE: 200 small files, one fsync each, from
#      mount to unmount — how often the space bitmap's packet and the most-written packet were
#      written (the metadata packets a careless writer rewrites per fsync; issue 13's media-life row)
#   4. (only when ROWS names it) creating 10,000 and 100,000 empty files in one directory; time
#      ratio 100k/10k, target ≤ 11
# Usage: bench/udf_write.sh [ROUNDS] (default 3); ROWS="1 3" runs only those rows; PKTFUSE_OLD=BINARY
# also times row 1's files view of another build in the same rounds (before/after side by side);
# FV_ALT=OPTIONS also times row 1's files view mounted with -o OPTIONS (e.g. no_io_uring, or
# uring_linger=0) in the same rounds (the files view serves FUSE over io_uring by default where the
# kernel offers it: the per-file figures say "over io_uring" then); FUSE_FLOOR=BINARY another fuse_floor; FLOOR_ALT="OPTIONS" also times a fuse_floor run with those
# options (e.g. --pin=0, --mt, --writeback; fuse_floor.c lists them) in the same rounds;
# PIN_COPY=CPU runs row 1's cp and sync on that CPU, PIN_DAEMON=CPU the files view's and the floor's
# daemons (all their threads): e.g. both 0 to see the copy without cross-CPU wakeups; ALT_UNPINNED=1
# leaves FLOOR_ALT's and FV_ALT's daemons out of PIN_DAEMON (for --uring, whose queue threads pin themselves each
# to its CPU: moving them all to one would undo what it measures)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
PKTFUSE=${PKTFUSE:-$PWD/build/fuse/pktfuse}
[ -x "$PKTFUSE" ] || bash scripts/build.sh > /dev/null
FUSE_FLOOR=${FUSE_FLOOR:-$PWD/build/bench/fuse_floor}
[ -x "$FUSE_FLOOR" ] || cmake --build build --target fuse_floor > /dev/null
W=$(mktemp -d /var/tmp/pktfuse-udfw.XXXXXX)
loops=()
cleanup() {
	set +e
	mountpoint -q "$W/ext2" && umount "$W/ext2"
	for l in "${loops[@]}"; do losetup -d "$l" 2> /dev/null; done
	mountpoint -q "$W/mnt" && fusermount3 -u "$W/mnt"
	mountpoint -q "$W/floor" && fusermount3 -u "$W/floor"
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/mnt" "$W/ext2" "$W/floor"
on_copy_cpu() { if [ -n "${PIN_COPY:-}" ]; then taskset -c "$PIN_COPY" "$@"; else "$@"; fi; }
pin_daemon() { [ -z "${PIN_DAEMON:-}" ] || taskset -a -p -c "$PIN_DAEMON" "$1" > /dev/null; }
now() { date +%s.%N; }
row() { [[ " ${ROWS:-1 2 3} " == *" $1 "* ]]; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
lowest() { tr ' ' '\n' | sort -g | head -1; }
median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
new_udf() { # new_udf IMAGE SIZE
	rm -f "$1"
	truncate -s "$2" "$1"
	mkudffs --media-type=hd --udfrev=2.01 --blocksize=2048 "$1" > /dev/null
}

# the source tree: 50 directories × 100 files, mostly small, a few of 64-200 KiB
python3 - "$W/src" << 'EOF'
import os, random, sys
random.seed(5000)
root = sys.argv[1]
for d in range(50):
    os.makedirs(f"{root}/dir{d:02d}/sub", exist_ok=True)
    for f in range(100):
        n = random.choice([0, 10, 100, 700, 1500, 3000, 6000, 12000]) if f % 25 else random.randint(65536, 200000)
        sub = "sub/" if f % 4 == 0 else ""
        with open(f"{root}/dir{d:02d}/{sub}f{f:03d}", "wb") as fh:
            fh.write(random.randbytes(n))
EOF
files=$(find "$W/src" -type f | wc -l)
bytes=$(du -sb "$W/src" | cut -f1)
echo "pktfuse UDF writer benchmark — $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r), $ROUNDS rounds"
if row 1; then
echo
echo "1. cp -r of $files files ($((bytes / 1024)) KiB) + sync: files view vs ext2 on a loop device over a plain file,"
echo "   and vs the FUSE floor (bench/fuse_floor: in memory, served as the files view is)"
# copy_to_files_view BINARY [OPTIONS] → seconds for the copy and the fsync that commits it.  The fsync is
# coreutils' `sync FILE`, as ext2's is `sync -f`: the same small program on both sides (a Python
# interpreter's start-up, ~0.1 s of CPU, was a third of ext2's whole time).  Leaves in $W/fv_cost
# what load does not change: the daemon's requests and CPU time per file copied.
copy_to_files_view() {
	local t0 t1 pid c0 c1 r0 r1 g0 g1 s0 s1 ring
	new_udf "$W/udf.img" 512M
	"$1" ${2:+-o "$2"} "$W/udf.img" "$W/mnt"
	pid=$("$1" status --raw "$W/mnt" | awk -F': ' '$1 == "daemon_pid" { print $2 }')
	if [ -z "${2:-}" ] || [ -z "${ALT_UNPINNED:-}" ]; then pin_daemon "$pid"; fi
	r0=$(requests "$1")
	g0=$(raw_stat "$1" gather_read_commands)
	s0=$(raw_stat "$1" gather_read_sectors)
	c0=$(cpu_ticks "$pid")
	t0=$(now)
	on_copy_cpu cp -r "$W/src" "$W/mnt/copy"
	on_copy_cpu sync "$W/mnt/copy/dir00/f001"
	t1=$(now)
	c1=$(cpu_ticks "$pid")
	r1=$(requests "$1")
	g1=$(raw_stat "$1" gather_read_commands)
	s1=$(raw_stat "$1" gather_read_sectors)
	ring=$("$1" status --raw "$W/mnt" | grep -c '^fuse_uring:')
	"$1" umount "$W/mnt"
	if [ -n "$r1" ]; then
		awk -v r=$((r1 - r0)) -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$files" \
			'BEGIN { printf "%.2f requests, %.0f µs CPU", r / n, c / hz / n * 1e6 }' > "$W/fv_cost"
	else # a build without the request counts
		awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$files" 'BEGIN { printf "%.0f µs CPU", c / hz / n * 1e6 }' > "$W/fv_cost"
	fi
	# what a drive would seek for: sectors read back to complete packets before writing them
	printf ', %d gather reads (%d sectors)' $((g1 - g0)) $((s1 - s0)) >> "$W/fv_cost"
	[ "$ring" = 0 ] || printf ', over io_uring' >> "$W/fv_cost"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
# requests BINARY: every FUSE request the files view on $W/mnt served so far (empty if not counted)
requests() {
	"$1" status --raw "$W/mnt" | awk -F': ' '$1 == "fuse_requests" { n = split($2, f, /[ =]/); s = 0
		for (i = 2; i <= n; i += 2) s += f[i]; print s }'
}
# raw_stat BINARY NAME: one counter of `status --raw` of the files view on $W/mnt (0 if not counted)
raw_stat() { "$1" status --raw "$W/mnt" | awk -F': ' -v k="$2" '$1 == k { n = $2 } END { print n + 0 }'; }
# cpu_ticks PID: user + system time of a process and its threads, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# copy_to_floor [OPTIONS] → seconds for the same copy and `sync FILE` into fuse_floor; leaves in
# $W/floor_cost its requests (mount to unmount: a handful more than the copy's) and CPU time per file
copy_to_floor() {
	local t0 t1 pid c0 c1
	"$FUSE_FLOOR" "$@" "$W/floor" > "$W/floor.out" &
	pid=$!
	for _ in $(seq 100); do mountpoint -q "$W/floor" && break; sleep 0.05; done
	mountpoint -q "$W/floor" || { echo "fuse_floor did not mount" >&2; exit 1; }
	if [ $# -eq 0 ] || [ -z "${ALT_UNPINNED:-}" ]; then pin_daemon "$pid"; fi
	c0=$(cpu_ticks "$pid")
	t0=$(now)
	on_copy_cpu cp -r "$W/src" "$W/floor/copy"
	on_copy_cpu sync "$W/floor/copy/dir00/f001"
	t1=$(now)
	c1=$(cpu_ticks "$pid")
	fusermount3 -u "$W/floor"
	wait "$pid"
	awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$files" '$1 == "requests" { r = $2 }
		END { if (r) printf "%.2f requests, ", r / n; printf "%.0f µs CPU", c / hz / n * 1e6 }' "$W/floor.out" > "$W/floor_cost"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
[ -z "${PKTFUSE_OLD:-}" ] || echo "   (and the files view of PKTFUSE_OLD=$PKTFUSE_OLD in the same rounds)"
[ -z "${FLOOR_ALT:-}" ] || echo "   (and fuse_floor $FLOOR_ALT in the same rounds)"
[ -z "${FV_ALT:-}" ] || echo "   (and the files view with -o $FV_ALT in the same rounds)"
[ -z "${PIN_COPY:-}${PIN_DAEMON:-}" ] || echo "   (cp and sync on CPU ${PIN_COPY:-any}, the FUSE daemons on CPU ${PIN_DAEMON:-any}${ALT_UNPINNED:+ but those of FLOOR_ALT and FV_ALT unpinned})"
r1=()
r1o=()
r1f=()  # FUSE floor / ext2
r1vf=() # files view / FUSE floor
r1a=()  # FLOOR_ALT's floor / the floor
r1x=()  # FV_ALT's files view / ext2
s1v=()
s1f=()
s1e=()
for i in $(seq "$ROUNDS"); do
	u=$(copy_to_files_view "$PKTFUSE")
	f=$(copy_to_floor)
	rm -f "$W/ext2.img"
	truncate -s 512M "$W/ext2.img"
	lp=$(losetup -f --show --direct-io=on -b 2048 "$W/ext2.img")
	loops+=("$lp")
	mkfs.ext2 -q -b 2048 "$lp"
	mount "$lp" "$W/ext2"
	t2=$(now)
	on_copy_cpu cp -r "$W/src" "$W/ext2/copy"
	on_copy_cpu sync -f "$W/ext2/copy"
	t3=$(now)
	umount "$W/ext2"
	losetup -d "$lp"
	loops=()
	e=$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.3f", b - a }')
	r=$(ratio "$u" "$e")
	r1+=("$r")
	r1f+=("$(ratio "$f" "$e")")
	r1vf+=("$(ratio "$u" "$f")")
	s1v+=("$u")
	s1f+=("$f")
	s1e+=("$e")
	printf "   round %d: files view %7ss (per file: %s)   ext2 on loop %7ss   time ratio %s" "$i" "$u" "$(cat "$W/fv_cost")" "$e" "$r"
	printf "   FUSE floor %7ss (per file: %s)   floor/ext2 %s   files view/floor %s" "$f" "$(cat "$W/floor_cost")" \
		"$(ratio "$f" "$e")" "$(ratio "$u" "$f")"
	if [ -n "${FLOOR_ALT:-}" ]; then
		# shellcheck disable=SC2086 # FLOOR_ALT is a list of options
		a=$(copy_to_floor $FLOOR_ALT)
		r1a+=("$(ratio "$a" "$f")")
		printf "   floor %s %7ss (per file: %s)   /floor %s" "$FLOOR_ALT" "$a" "$(cat "$W/floor_cost")" "$(ratio "$a" "$f")"
	fi
	if [ -n "${FV_ALT:-}" ]; then
		x=$(copy_to_files_view "$PKTFUSE" "$FV_ALT")
		r1x+=("$(ratio "$x" "$e")")
		printf "   files view -o %s %7ss (per file: %s)   time ratio %s" "$FV_ALT" "$x" "$(cat "$W/fv_cost")" "$(ratio "$x" "$e")"
	fi
	if [ -n "${PKTFUSE_OLD:-}" ]; then
		o=$(copy_to_files_view "$PKTFUSE_OLD")
		r1o+=("$(ratio "$o" "$e")")
		printf "   PKTFUSE_OLD's files view %7ss (per file: %s)   time ratio %s" "$o" "$(cat "$W/fv_cost")" "$(ratio "$o" "$e")"
	fi
	echo
done
echo "   time ratio files view / ext2: median $(echo "${r1[@]}" | median), lowest $(echo "${r1[@]}" | lowest)   (target ≤ 1.5)"
echo "   median seconds: files view $(echo "${s1v[@]}" | median), FUSE floor $(echo "${s1f[@]}" | median), ext2 $(echo "${s1e[@]}" | median)"
echo "   time ratio FUSE floor / ext2: median $(echo "${r1f[@]}" | median), lowest $(echo "${r1f[@]}" | lowest)   (no FUSE daemon goes below this here)"
echo "   time ratio files view / FUSE floor: median $(echo "${r1vf[@]}" | median), lowest $(echo "${r1vf[@]}" | lowest)   (pktfuse's own cost on top of FUSE)"
[ -z "${FLOOR_ALT:-}" ] ||
	echo "   time ratio fuse_floor $FLOOR_ALT / FUSE floor: median $(echo "${r1a[@]}" | median), lowest $(echo "${r1a[@]}" | lowest)"
[ -z "${FV_ALT:-}" ] ||
	echo "   time ratio files view -o $FV_ALT / ext2: median $(echo "${r1x[@]}" | median), lowest $(echo "${r1x[@]}" | lowest)   (target ≤ 1.5)"
[ -z "${PKTFUSE_OLD:-}" ] ||
	echo "   time ratio of PKTFUSE_OLD's files view / ext2: median $(echo "${r1o[@]}" | median), lowest $(echo "${r1o[@]}" | lowest)"
fi

create_n() { # create_n N [IMAGE_SIZE] → seconds
	new_udf "$W/udf.img" "${2:-256M}"
	"$PKTFUSE" "$W/udf.img" "$W/mnt"
	mkdir "$W/mnt/d"
	local s
	s=$(python3 - "$W/mnt/d" "$1" << 'EOF'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
for i in range(n):
    os.close(os.open(f"{d}/file-{i:06d}", os.O_CREAT | os.O_WRONLY, 0o644))
fd = os.open(d, os.O_RDONLY)
os.fsync(fd)
os.close(fd)
print(f"{time.perf_counter() - t0:.3f}")
EOF
)
	[ "$(find "$W/mnt/d" -type f | wc -l)" = "$1" ] || { echo "   only $(find "$W/mnt/d" -type f | wc -l) of $1 files" >&2; }
	"$PKTFUSE" umount "$W/mnt"
	echo "$s"
}
if row 2; then
echo
echo "2. Creating N empty files in one directory of the files view, + fsync"
r2=()
for i in $(seq "$ROUNDS"); do
	a=$(create_n 10000)
	b=$(create_n 20000)
	r=$(ratio "$b" "$a")
	r2+=("$r")
	printf "   round %d: 10,000 files %7ss   20,000 files %7ss   time ratio 20k/10k %s\n" "$i" "$a" "$b" "$r"
done
echo "   median ratio 20k/10k: $(echo "${r2[@]}" | median)   (target ≤ 2.1)"
fi

if row 4; then
echo
echo "4. Creating 10,000 and 100,000 empty files in one directory of the files view, + fsync"
r4=()
for i in $(seq "$ROUNDS"); do
	a=$(create_n 10000)
	b=$(create_n 100000 1G)
	r=$(ratio "$b" "$a")
	r4+=("$r")
	printf "   round %d: 10,000 files %7ss   100,000 files %7ss   time ratio 100k/10k %s\n" "$i" "$a" "$b" "$r"
done
echo "   median ratio 100k/10k: $(echo "${r4[@]}" | median)   (target ≤ 11; linear would be 10)"
fi

if row 3; then
echo
echo "3. Medium writes for 200 small files (100 B each), one fsync each, on an emulated CD-RW (drive log, mount to unmount)"
# bitmap_sector IMAGE → the sector of the UDF space bitmap (partition start + the partition header's
# unallocated space bitmap position), read from the partition descriptor
bitmap_sector() {
	python3 - "$1" << 'EOF'
import struct, sys
with open(sys.argv[1], "rb") as f:
    for s in range(16, 512):
        f.seek(s * 2048)
        b = f.read(512)
        if len(b) == 512 and struct.unpack_from("<H", b, 0)[0] == 5:
            start = struct.unpack_from("<I", b, 188)[0]
            print(start + struct.unpack_from("<I", b, 56 + 12)[0])
            break
EOF
}
for i in $(seq "$ROUNDS"); do
	img="$W/cd.img"
	log="$W/cd.log"
	rm -f "$img" "$img.state" "$log"
	"$PKTFUSE" format "emu:cdrw:$img,size=256M" > /dev/null
	bm=$(bitmap_sector "$img")
	"$PKTFUSE" "emu:cdrw:$img,log=$log" "$W/mnt"
	python3 - "$W/mnt" << 'EOF'
import os, sys
d = sys.argv[1]
os.mkdir(f"{d}/small")
for i in range(200):
    with open(f"{d}/small/f{i:04d}", "wb") as f:
        f.write(b"x" * 100)
        f.flush()
        os.fsync(f.fileno())
EOF
	"$PKTFUSE" umount "$W/mnt"
	awk -v P=32 -v R="$i" -v BM="$bm" '$1 == "op=2A" { split($2, a, "="); split($3, b, "=");
			cmds++; sec += b[2]
			for (k = int(a[2] / P); k <= int((a[2] + b[2] - 1) / P); k++) w[k]++ }
		END { for (k in w) { if (w[k] > m) { m = w[k]; mk = k } n++ }
			printf "   round %d: %d WRITE commands, %d sectors, %d packets touched; the bitmap'"'"'s packet (#%d) written %d times; the most-written packet (#%d, LBA %d) %d times\n",
				R, cmds, sec, n, int(BM / P), w[int(BM / P)], mk, mk * P, m }' "$log"
done
echo "   (target: the bitmap's packet ≤ 2 per mount; a writer that rewrote the directory and the bitmap per fsync writes them ~200 times)"
fi
