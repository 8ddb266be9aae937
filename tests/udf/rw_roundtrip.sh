#!/usr/bin/env bash
# The UDF writer, end to end: a varied tree (nested and empty directories, embedded-size and
# multi-MiB files, zeros and holes, names of 254/255 bytes, Latin-1 and 16-bit CS0 names, absolute,
# relative and dangling symlinks, hard links, FIFOs, modes, owners, microsecond times, and the
# appends, truncates, deletes and renames that follow) is written through the files view of
# mkudffs images of several media and revisions.  The mount shows exactly what a tmpfs shows for
# the same commands; after unmount and remount it still does; udfinfo finds the volume closed and
# agrees on free space and counts; pktfuse's engine (udf_manifest) and udfclient read the same
# bytes; deleting everything gives all the space back.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
. "$(dirname "$0")/rwlib.sh"
need_udftools

# The reference: the same commands on a tmpfs (mode 755, as mkudffs makes the root)
mount_fs tmpfs "$T/ref" -t tmpfs -o size=128m,mode=755
# reference LINKS: the tree with a long symlink of LINKS components (a symlink is at most one block:
# 60 for blocks of 2048 and more, 28 for smaller ones)
reference() {
	[ "${ref_links:-}" = "$1" ] && return
	find "$T/ref" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
	LONG_LINK_COMPONENTS=$1 write_tree "$T/ref" rt
	rich_list "$T/ref" > "$T/want"
	entries=$(wc -l < "$T/want")
	ref_links=$1
}

# VARIANTS (separated by ; or ,): media revision block-size [maker: mkudffs, the default, or pktfuse (pktfuse format)] —
# default: the ones the writer must handle
VARIANTS=${VARIANTS:-"hd 2.01 2048;cdrw 2.01 2048;hd 1.50 2048;cdrw 1.50 2048;dvdrw 2.00 2048;hd 2.01 512;hd 1.02 2048;dvdram 1.02 2048 pktfuse"}
IFS=';,' read -r -a variants <<< "$VARIANTS"
for v in "${variants[@]}"; do
	read -r media rev bs maker <<< "$v"
	what="$media UDF $rev b$bs ${maker:-mkudffs}"
	links=60
	[ "$bs" -ge 2048 ] || links=28
	reference "$links"
	export LONG_LINK_COMPONENTS=$links
	img="$T/$media-$rev-$bs.img"
	if [ "${maker:-mkudffs}" = pktfuse ]; then
		rm -f "$img"
		truncate -s 96M "$img"
		"$PKTFUSE" format "$img" --media "$media" --revision "$rev" --block-size "$bs" > /dev/null ||
			fail "$what: pktfuse format failed"
	else
		mk_udf "$img" 96M "$media" "$rev" "$bs"
	fi
	free0=$("$UDF_MANIFEST" --statfs "$img" | awk -F= '$1 == "freeblocks" { print $2 }')
	# a fresh root lists nothing: every file the maker counted is hidden (mkudffs's sparable 1.50:
	# the Non-Allocatable Space file), and stays
	hidden=$("$UDF_MANIFEST" --statfs "$img" | awk -F= '$1 == "numfiles" { print $2 }')
	[ -z "$("$UDF_MANIFEST" "$img" | grep -v '^D|\.|')" ] || fail "$what: the fresh image is not empty"
	start_pktfuse "$img" "$T/mnt" -o "$(packet_opt "$media")"
	assert_rw "$T/mnt"
	write_tree "$T/mnt" rt 2> "$T/err" || { head -20 "$T/err"; fail "$what: writing the tree failed"; }
	[ ! -s "$T/err" ] || { head -20 "$T/err"; fail "$what: errors while writing the tree"; }
	rich_list "$T/mnt" > "$T/got1"
	diff -u "$T/want" "$T/got1" > "$T/diff" || { head -40 "$T/diff"; fail "$what: the mount differs from tmpfs"; }
	# statfs while mounted is the real free space: it went down by at least the data written, and
	# once everything is on the medium (fsync) it is what udfinfo finds there
	fsync_path "$T/mnt/sizes/s1" || fail "$what: fsync failed"
	read -r sbs sfree < <(stat -f -c '%S %f' "$T/mnt")
	[ "$sbs" = "$bs" ] || fail "$what: statfs block size $sbs"
	need=$(used_data_blocks "$T/ref" "$bs")
	[ $((free0 - sfree)) -ge "$need" ] || fail "$what: statfs free $sfree: only $((free0 - sfree)) blocks used for $need blocks of data"
	(cd "$T/mnt" && find . -printf '%p\t%Cs\n' | LC_ALL=C sort) > "$T/ctimes1"
	"$PKTFUSE" umount "$T/mnt" || fail "$what: pktfuse umount failed"
	is_mounted "$T/mnt" && fail "$what: still mounted after pktfuse umount"

	# the image alone, read by other implementations
	check_udfinfo "$img" "$what" > "$T/ui"
	read -r free1 used1 < "$T/ui"
	[ "$free1" = "$sfree" ] || fail "$what: statfs said $sfree free blocks while mounted, udfinfo says $free1 after unmount"
	used=$((free0 - free1))
	meta_max=$((need + entries * 4 + 64 + 3 * 1048576 / bs))
	[ "$used" -le "$meta_max" ] || fail "$what: $used blocks used for $need blocks of data and $entries entries (space leaked?)"
	"$UDF_MANIFEST" "$img" > "$T/engine" || fail "$what: udf_manifest failed on the image"
	case $rev in # a metadata partition: the mirror equals the metadata file, the bitmaps agree
	2.5* | 2.6*) python3 "$(dirname "$0")/udf_meta_check.py" "$img" > "$T/mc" || fail "$what: $(cat "$T/mc")" ;;
	esac

	start_pktfuse "$img" "$T/mnt" -o "$(packet_opt "$media")"
	assert_rw "$T/mnt"
	rich_list "$T/mnt" > "$T/got2"
	diff -u "$T/want" "$T/got2" > "$T/diff" || { head -40 "$T/diff"; fail "$what: after remount the tree differs"; }
	(cd "$T/mnt" && find . -printf '%p\t%Cs\n' | LC_ALL=C sort) > "$T/ctimes2"
	diff -u "$T/ctimes1" "$T/ctimes2" > "$T/diff" || { head -20 "$T/diff"; fail "$what: change times not kept"; }
	corpus_list "$T/mnt" > "$T/clist"
	diff -u "$T/clist" "$T/engine" > "$T/diff" || { head -40 "$T/diff"; fail "$what: udf_manifest reads the image differently from the mount"; }
	check_counts "$img" "$T/mnt" "$what" "$hidden"
	[ "$(stat -f -c %f "$T/mnt")" = "$free1" ] || fail "$what: statfs free $(stat -f -c %f "$T/mnt") after remount, udfinfo $free1"
	"$PKTFUSE" umount "$T/mnt"

	nuc=$(check_udfclient "$img" "$bs" "$T/clist" "$what")

	# everything deleted: the space comes back (the root directory may keep its grown size)
	start_pktfuse "$img" "$T/mnt" -o "$(packet_opt "$media")"
	rootblocks=$(( ($(stat -c %s "$T/mnt") + bs - 1) / bs ))
	(cd "$T/mnt" && find . -mindepth 1 -maxdepth 1 -exec rm -rf {} +) || fail "$what: rm -rf failed"
	[ -z "$(ls -A "$T/mnt")" ] || fail "$what: entries left after rm -rf: $(ls -A "$T/mnt" | head -3)"
	"$PKTFUSE" umount "$T/mnt"
	check_udfinfo "$img" "$what, emptied" > "$T/ui"
	read -r free2 _ < "$T/ui"
	[ $((free0 - free2)) -le $((rootblocks + 1)) ] || fail "$what: $((free0 - free2)) blocks still used after deleting everything (free $free2, fresh $free0)"
	grep -qx "numfiles=$hidden" <<< "$("$UDF_MANIFEST" --statfs "$img")" || fail "$what: files counted after deleting everything"
	grep -qx 'numdirs=1' <<< "$("$UDF_MANIFEST" --statfs "$img")" || fail "$what: directories counted after deleting everything"
	note "$what: $entries entries identical to tmpfs, after remount, to udf_manifest; $nuc files by udfclient; $used blocks used, all freed again"
	rm -f "$img"
done
echo "PASS: the files view writes the tree on ${#variants[@]} kinds of UDF image, read back by pktfuse, udfinfo and udfclient"
