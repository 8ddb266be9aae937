#!/usr/bin/env bash
# make_corpus.sh [OUTDIR]: makes the project's kernel-written UDF corpus (tests/corpus/kernel-udf by
# default).  For each media layout and revision: mkudffs formats a small image, Debian's stock kernel
# (tests/kernel/kudf.sh, under qemu) mounts it read-write and writes a varied tree onto it
# (corpus_guest.sh), unmounts, mounts it read-only again and lists what it sees (manifest_guest.sh):
# that listing is NAME.manifest, the truth every reader test is held to; the image is NAME.img.gz.
# Prints the kernel version used.  Needs qemu-system-x86, busybox-static, udftools, cpio.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/../corpus/kernel-udf}
mkdir -p "$OUT"
command -v mkudffs > /dev/null || { echo "make_corpus: mkudffs (udftools) is not installed" >&2; exit 2; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# NAME = kernel-MEDIA-rREV-bBLOCKSIZE-sSEED (the shared corpus's naming); SIZE in MiB
layouts=(
	"hd 2.01 2048 16"
	"hd 1.02 512 8"
	"hd 2.01 4096 16"
	"cdrw 1.50 2048 16"
	"cdrw 2.01 2048 16"
	"dvdrw 2.01 2048 16"
	"dvdram 2.01 2048 16"
)
seed=1
for l in "${layouts[@]}"; do
	read -r media rev bs mib <<< "$l"
	name="kernel-$media-r${rev/./}-b$bs-s$seed"
	rm -f "$W/img"
	truncate -s "${mib}M" "$W/img"
	mkudffs --media-type="$media" --udfrev="$rev" --blocksize="$bs" --label="pktfuse-$seed" \
		--uuid="$(printf '%016x' "$seed")" "$W/img" > "$W/mkudffs.log" 2>&1 ||
		{ cat "$W/mkudffs.log"; echo "make_corpus: mkudffs failed for $name" >&2; exit 1; }
	{ echo "SEED=$seed"; cat "$HERE/corpus_guest.sh" "$HERE/manifest_guest.sh"; } > "$W/guest.sh"
	bash "$HERE/kudf.sh" "$W/img" "$W/guest.sh" > "$W/out" ||
		{ cat "$W/out"; echo "make_corpus: the guest failed for $name" >&2; exit 1; }
	kernel=$(sed -n 's/^KERNEL=//p' "$W/out")
	grep -v '^KERNEL=' "$W/out" > "$OUT/$name.manifest"
	gzip -9 -n -c "$W/img" > "$OUT/$name.img.gz"
	echo "$name: $(wc -l < "$OUT/$name.manifest") entries, $(stat -c %s "$OUT/$name.img.gz") bytes compressed (kernel $kernel)"
	seed=$((seed + 1))
done
