#!/usr/bin/env bash
# Files-view benchmark: reading the whole tree of a kernel-written UDF image (hundreds of small
# files and a 3 MiB file) through `pktfuse IMAGE MNT` vs the same tree copied to a plain directory on
# the host, caches dropped before each side, alternating; and the engine's lookup time in a large
# directory vs a small one.  Run as root (drop_caches).  Usage: bench/files_view.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
B=$PWD/build
CORPUS=${CORPUS:-$PWD/../shared/corpus/kernel-udf}
W=$(mktemp -d /var/tmp/pktfuse-fvbench.XXXXXX)
trap 'mountpoint -q "$W/mnt" && fusermount3 -u "$W/mnt"; rm -rf "$W"' EXIT
mkdir -p "$W/mnt"
gunzip -c "$CORPUS/kernel-dvdram-r201-b2048-s1.img.gz" > "$W/disc.img"
"$B/fuse/pktfuse" "$W/disc.img" "$W/mnt"
cp -a "$W/mnt/." "$W/plain/" 2>/dev/null || cp -r "$W/mnt/." "$W/plain/"
"$B/fuse/pktfuse" umount "$W/mnt"
now() { date +%s.%N; }
read_tree() { # DIR → seconds to read every regular file
	local t0 t1
	sync; echo 3 > /proc/sys/vm/drop_caches
	t0=$(now)
	find "$1" -type f -print0 | xargs -0 cat > /dev/null
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}
read_big() {
	local t0 t1
	sync; echo 3 > /proc/sys/vm/drop_caches
	t0=$(now)
	cat "$1" > /dev/null
	t1=$(now)
	awk -v a="$t0" -v b="$t1" -v s="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", s / 1048576 / (b - a) }'
}
echo "pktfuse files-view benchmark — $(date -u +%FT%TZ), image kernel-dvdram-r201 ($(find "$W/plain" -type f | wc -l) files)"
for i in $(seq "$ROUNDS"); do
	"$B/fuse/pktfuse" "$W/disc.img" "$W/mnt"
	f=$(read_tree "$W/mnt"); p=$(read_tree "$W/plain")
	fb=$(read_big "$W/mnt/docs/zfile-1.txt"); pb=$(read_big "$W/plain/docs/zfile-1.txt")
	"$B/fuse/pktfuse" umount "$W/mnt"
	printf "  round %d: whole tree %ss via pktfuse vs %ss plain (time ratio %.2f); 3 MiB file %s MB/s vs %s MB/s (ratio %.2f)\n" \
		"$i" "$f" "$p" "$(awk -v a="$f" -v b="$p" 'BEGIN{print a/b}')" "$fb" "$pb" "$(awk -v a="$fb" -v b="$pb" 'BEGIN{print a/b}')"
done
"$B/bench/udf_lookup_bench" "$W/disc.img" many docs
# A 20,000-entry and a 10-entry directory (built by udf_big_dir: nothing else here can make one yet),
# looked up through the mount after the directory was read once, kernel dentries dropped each round.
"$B/bench/udf_big_dir" "$W/disc.img" "$W/big.img" many 20000 > /dev/null
"$B/bench/udf_big_dir" "$W/disc.img" "$W/small.img" many 10 > /dev/null
"$B/fuse/pktfuse" "$W/big.img" "$W/mnt"; big=$("$B/bench/lookup_time" "$W/mnt/many" 7); "$B/fuse/pktfuse" umount "$W/mnt"
"$B/fuse/pktfuse" "$W/small.img" "$W/mnt"; small=$("$B/bench/lookup_time" "$W/mnt/many" 21); "$B/fuse/pktfuse" umount "$W/mnt"
echo "through the files view: $big; $small; ratio $(awk -v a="$(echo "$big" | awk '{print $3}')" -v b="$(echo "$small" | awk '{print $3}')" 'BEGIN { printf "%.2f", a / b }') (target ≤ 2)"
