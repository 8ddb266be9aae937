#!/usr/bin/env bash
# pktfuse and the Linux udf driver (Debian's stock kernel under qemu, tests/kernel/kudf.sh) write
# each other's file systems:
#   1. pktfuse writes a varied tree (tests/udf/rwlib.sh) through the files view onto mkudffs images
#      (hd 2.01, cdrw 1.50 sparable); a fresh mkudffs image is left empty for the kernel alone;
#   2. one boot: the kernel mounts each, must list pktfuse's trees exactly as pktfuse listed them,
#      then changes every tree (creates, appends, truncates, renames, deletes, chmod, chown, links,
#      FIFO, device node), unmounts, and lists what it left;
#   3. pktfuse (the mount, and its engine through udf_manifest) must read exactly that; udfinfo agrees;
#   4. pktfuse changes the kernel's trees in turn; a second boot must read exactly what pktfuse wrote.
# Failures are collected, so one run says everything that differs.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../udf/rwlib.sh"
need_udftools
command -v qemu-system-x86_64 > /dev/null || { echo "SKIP: qemu-system-x86 is not installed"; exit $SKIP; }

. "$HERE/roundtrip_lib.sh"

# 1. the images (KR_W1, KR_W2: the two pktfuse writes first, as make_image takes them)
mkdir -p "$T/mnt"
mk_udf "$T/k.img" 64M cdrw 2.01          # the kernel alone writes this one first
KR_W1=${KR_W1:-hd 2.01 2048}
KR_W2=${KR_W2:-cdrw 1.50 2048}
make_image "$T/w1.img" "$KR_W1"
make_image "$T/w2.img" "$KR_W2"
note "w1: $KR_W1; w2: $KR_W2"
w1ok=1 w2ok=1
pktfuse_writes "$T/w1.img" "${KR_W1%% *}" kr1 "$T/w1.want" || w1ok=0
pktfuse_writes "$T/w2.img" "${KR_W2%% *}" kr2 "$T/w2.want" || w2ok=0

# 2. the kernel reads and changes all three
python3 "$HERE/gpt_disk.py" build "$T/disk.img" "$T/k.img" "$T/w1.img" "$T/w2.img"
kudf_run "$T/disk.img" "$HERE/roundtrip_guest.sh" "$T/boot1"
[ -s "$T/marks" ] && problem "the kernel could not do everything: $(tr '\n' ';' < "$T/marks")"
for n in 2 3; do
	name=w$((n - 1))
	section "$T/boot1" "$n" before > "$T/$name.kernel"
	ok=w${name#w}ok
	[ "${!ok}" = 1 ] || continue
	diff -u "$T/$name.want" "$T/$name.kernel" > "$T/diff" ||
		{ head -30 "$T/diff"; problem "$name: the kernel reads pktfuse's tree differently"; }
	[ "$(wc -l < "$T/$name.kernel")" -gt 300 ] || problem "$name: the kernel lists only $(wc -l < "$T/$name.kernel") entries"
done

# 3. pktfuse reads what the kernel wrote
for n in 1 2 3; do
	name=$(echo k w1 w2 | cut -d' ' -f"$n")
	python3 "$HERE/gpt_disk.py" extract "$T/disk.img" "$n" "$T/$name.img"
	section "$T/boot1" "$n" after > "$T/$name.after"
	[ "$(grep -c '^F|./kdir/sub1/' "$T/$name.after")" -ge 390 ] || problem "$name: the kernel's changes are not in its own listing"
	(check_udfinfo "$T/$name.img" "$name after the kernel") > /dev/null || problem "$name: udfinfo after the kernel"
	pktfuse_reads "$T/$name.img" "$T/$name.after" "$name, changed by the kernel"
	note "$name: pktfuse read the kernel's $(wc -l < "$T/$name.after") entries"
done

# 4. pktfuse changes the kernel's trees; the kernel reads them
for name in k w1 w2; do pktfuse_changes "$T/$name.img" "$T/$name.p3"; done
python3 "$HERE/gpt_disk.py" build "$T/disk2.img" "$T/k.img" "$T/w1.img" "$T/w2.img"
kudf_run "$T/disk2.img" "$HERE/list_parts_guest.sh" "$T/boot2"
[ -s "$T/marks" ] && problem "the kernel could not mount pktfuse's changes: $(tr '\n' ';' < "$T/marks")"
n=0
for name in k w1 w2; do
	n=$((n + 1))
	section "$T/boot2" "$n" ok > "$T/$name.k2"
	diff -u "$T/$name.p3" "$T/$name.k2" > "$T/diff" ||
		{ head -30 "$T/diff"; problem "$name: the kernel reads pktfuse's changes differently"; }
done

finish "pktfuse and the kernel read exactly what the other wrote (3 images, 2 boots)"
