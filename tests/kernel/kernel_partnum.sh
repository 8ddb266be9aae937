#!/usr/bin/env bash
# Discs as other writers make them, written by pktfuse: Windows numbers the partition of the UDF
# 2.50 discs it formats 8192 (a reader must tell a partition's number from its reference number,
# the index of its map), macOS writes 2.60 at 4096-byte blocks.  pktfuse formats each kind,
# udf_renumber gives the partition the number 8192 (partition descriptors and every map that names
# it); pktfuse must mount it writable, write the rwlib tree, read it back exactly after a remount
# (and udf_manifest too), keep the number and both metadata copies right; then Debian's kernel
# (one boot, read-only: it writes no metadata partition) lists exactly that tree.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../udf/rwlib.sh"
need_udftools
. "$HERE/roundtrip_lib.sh"
UDF_RENUMBER=${UDF_RENUMBER:?UDF_RENUMBER must name the udf_renumber tool}

mkdir -p "$T/mnt"
images=() wants=()
for kind in "windows hd 2.50 2048" "macos hd 2.60 4096" "windows cdrw 2.50 2048"; do
	read -r who layout rev bs <<< "$kind"
	what="$who-like $layout UDF $rev b$bs, partition 8192"
	img=$T/$who-$layout-$rev-$bs.img
	truncate -s 64M "$img"
	"$PKTFUSE" format "$img" --media "$layout" --revision "$rev" --block-size "$bs" --uid 0 --gid 0 > /dev/null ||
		fail "$what: pktfuse format failed"
	"$UDF_RENUMBER" "$img" 8192 > "$T/renumber" || fail "$what: udf_renumber failed"
	grep -q "renumbered 8192 at $bs-byte blocks: 2 partition descriptors, [1-9]" "$T/renumber" ||
		fail "$what: udf_renumber changed too little: $(cat "$T/renumber")"
	"$UDF_MANIFEST" "$img" > /dev/null 2> "$T/err" || fail "$what: pktfuse's engine cannot read it: $(head -2 "$T/err")"
	start_pktfuse "$img" "$T/mnt" -o "$(packet_opt "$layout")"
	assert_rw "$T/mnt"
	"$PKTFUSE" umount "$T/mnt"
	LONG_LINK_COMPONENTS=60
	[ "$bs" -ge 2048 ] || LONG_LINK_COMPONENTS=28
	export LONG_LINK_COMPONENTS
	pktfuse_writes "$img" "$layout" "pn$rev" "$img.want" || true
	pktfuse_reads "$img" "$img.want" "$what: after a remount"
	python3 "$HERE/../udf/udf_meta_check.py" "$img" > "$T/mc" || problem "$what: $(cat "$T/mc")"
	"$UDF_RENUMBER" "$img" 8192 > "$T/renumber" || problem "$what: udf_renumber cannot read it after pktfuse wrote"
	# udf_renumber fails when a map disagrees with the descriptor; the first descriptor says 8192
	grep -q '^partition 8192 renumbered' "$T/renumber" || problem "$what: pktfuse changed the partition number: $(cat "$T/renumber")"
	[ "$(wc -l < "$img.want")" -gt 300 ] || problem "$what: only $(wc -l < "$img.want") entries written"
	note "$what: pktfuse wrote $(wc -l < "$img.want") entries and read them back"
	images+=("$img")
	wants+=("$img.want")
done

if command -v qemu-system-x86_64 > /dev/null; then
	python3 "$HERE/gpt_disk.py" build "$T/disk.img" "${images[@]}"
	kudf_run "$T/disk.img" "$HERE/list_parts_guest.sh" "$T/boot"
	for n in $(seq 1 "${#images[@]}"); do
		section "$T/boot" "$n" ok > "$T/kernel"
		diff -u "${wants[$((n - 1))]}" "$T/kernel" > "$T/diff" ||
			{ head -20 "$T/diff"; problem "$(basename "${images[$((n - 1))]}"): the kernel lists another tree"; }
	done
	note "the kernel listed the ${#images[@]} trees"
else
	note "qemu-system-x86 is not installed: the kernel's reading is not checked"
fi
finish "pktfuse writes UDF 2.50/2.60 volumes whose partition is numbered 8192"
