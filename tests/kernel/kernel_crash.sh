#!/usr/bin/env bash
# Debian's kernel after pktfuse was stopped uncleanly (issue 13: the space bitmap is written only at
# unmount, so while pktfuse has a disc open the bitmap on it misses that mount's allocations).  For
# each layout (plain, sparable):
#   1. pktfuse writes files through the files view, each fsync'd, with entries that move (ICB
#      strategy 4096 chains: a directory, an appended log, an overwritten file, a file embedded in its
#      entry) and a 3 MB file, then its daemon is killed with SIGKILL: the image is what a crash or a
#      power cut leaves, its integrity descriptor open and its bitmap that of the format;
#   2. a copy of it is mounted by pktfuse (which checks it and rebuilds the bitmap) and cleanly
#      unmounted: what docs/design.md tells a person to do after a crash;
#   3. one boot: the kernel mounts each as a person does (`mount -t udf DEV DIR`, read-write unless
#      refused), lists the tree, writes new files, unmounts, lists what it left.
# The crashed disc: the kernel must mount it read-only (a writer trusting its bitmap would allocate
# over the fsync'd files), list exactly what pktfuse wrote (the chains followed), and leave it as it
# was; pktfuse then mounts it, and every fsync'd file reads back exactly, and `pktfuse check` and
# udfinfo agree after its clean unmount.  The disc pktfuse unmounted cleanly: the kernel mounts it
# read-write, lists it exactly, and pktfuse (the files view and its engine) reads what the kernel wrote.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../udf/rwlib.sh"
need_udftools
command -v qemu-system-x86_64 > /dev/null || { echo "SKIP: qemu-system-x86 is not installed"; exit $SKIP; }
. "$HERE/roundtrip_lib.sh"
. "$HERE/rich_list.sh"
. "$HERE/moves_lib.sh"

# fsync_lines WANT GOT WHAT: every file of the listing WANT is in the listing GOT with the same
# size, owner, times and bytes; FSYNCED gets how many files WANT lists
fsync_lines() {
	local lost
	lost=$(grep '^F|' "$1" | grep -vxF -f "$2" || true)
	if [ -n "$lost" ]; then
		echo "$lost" | head -10 | sed 's/^/  wanted: /'
		problem "$3: $(echo "$lost" | wc -l) of the $(grep -c '^F|' "$1") fsync'd files are not there as pktfuse wrote them"
	fi
	FSYNCED=$(grep -c '^F|' "$1")
	[ -z "$lost" ]
}

mkdir -p "$T/mnt"
disc=() # the images in partition order: LAYOUT-crashed, LAYOUT-clean
for layout in hd cdrw; do
	img=$T/$layout.img
	truncate -s 64M "$img"
	"$PKTFUSE" format "$img" --media "$layout" --uid 0 --gid 0 > /dev/null || fail "$layout: format failed"
	# 1. fsync'd files and chains, then SIGKILL
	start_pktfuse "$img" "$T/mnt" -o "$(packet_opt "$layout")"
	mkdir "$T/mnt/d" "$T/mnt/d/sub"
	fsyncs "$T/mnt/d" 0 6
	fsyncs "$T/mnt" 0 3
	fsyncs "$T/mnt/d/sub" 0 2
	rewrites "$T/mnt/log" 0 4 append
	rewrites "$T/mnt/db" 0 4 overwrite
	rewrites "$T/mnt/tiny" 0 4 tiny
	"$PATTERN" "crash-$layout" 3000000 | dd of="$T/mnt/big" bs=65536 conv=fsync status=none
	rewrites "$T/mnt/log" 4 2 append # its directory changed too: the last commit is after big's
	rich_list "$T/mnt" > "$T/$layout.want"
	pid=$(pid_of_mount "$T/mnt")
	kill -KILL "$pid"
	wait_gone "$pid"
	remove_dead_mount "$T/mnt" || true
	grep -qx 'integrity=opened' <<< "$(udfinfo "$img" 2>&1)" || problem "$layout: the integrity descriptor is not open after SIGKILL"
	hfiles=
	for f in / /d /log /db /tiny; do
		h=$(hops "$img" $f)
		hfiles="$hfiles $f:$h"
		[ -n "$h" ] && [ "$h" -ge 2 ] || problem "$layout: $f is ${h:-no} hops down its chain after the kill, want at least 2"
	done
	# what the kill left: every fsync'd file (pktfuse -o ro changes nothing)
	"$PKTFUSE" "$img" "$T/mnt" -o ro 2> "$T/err" || fail "$layout: pktfuse cannot mount the crashed image: $(cat "$T/err")"
	_mounts+=("$T/mnt")
	rich_list "$T/mnt" > "$T/got"
	"$PKTFUSE" umount "$T/mnt"
	diff -u "$T/$layout.want" "$T/got" > "$T/diff" || { head -20 "$T/diff"; problem "$layout: the image the kill left lists another tree"; }
	cp --sparse=always "$img" "$T/$layout-crashed.img"
	# 2. pktfuse first, as docs/design.md says: its check rebuilds the bitmap; then a clean unmount
	start_pktfuse "$img" "$T/mnt" -o "$(packet_opt "$layout")"
	rich_list "$T/mnt" > "$T/$layout-clean.want"
	stop_pktfuse "$T/mnt"
	diff -u "$T/$layout.want" "$T/$layout-clean.want" > "$T/diff" ||
		{ head -20 "$T/diff"; problem "$layout: pktfuse's mount after the kill lists another tree"; }
	"$PKTFUSE" check "$img" > "$T/check" 2>&1 || problem "$layout: pktfuse check after the crash and a clean unmount: $(tail -3 "$T/check")"
	mv "$img" "$T/$layout-clean.img"
	disc+=("$layout-crashed" "$layout-clean")
	note "$layout: $(grep -c '^F|' "$T/$layout.want") files fsync'd, then SIGKILL; chains (hops):$hfiles"
done

# 3. one boot over the four discs
imgs=()
for d in "${disc[@]}"; do imgs+=("$T/$d.img"); done
python3 "$HERE/gpt_disk.py" build "$T/disk.img" "${imgs[@]}"
kudf_run "$T/disk.img" "$HERE/crash_guest.sh" "$T/boot"
n=0
for d in "${disc[@]}"; do
	n=$((n + 1))
	mode=$(sed -n "s/^=== PART $n mounted \(r[ow]\)\$/\1/p" "$T/boot")
	if [ -z "$mode" ]; then
		grep -A6 "^=== PART $n " "$T/boot" | head -8
		problem "$d: the kernel cannot mount it"
		continue
	fi
	said=$(section "$T/boot" "$n" "mounted $mode" | head -1)
	want=$T/$d.want
	[ "$d" = "${d%-crashed}" ] || want=$T/${d%-crashed}.want
	section "$T/boot" "$n" before > "$T/$d.kernel"
	if diff -u "$want" "$T/$d.kernel" > "$T/diff"; then
		note "$d: the kernel mounted it $mode${said:+ (\"$said\")} and lists the $(wc -l < "$T/$d.kernel") entries pktfuse wrote"
	else
		head -20 "$T/diff"
		problem "$d: the kernel lists another tree"
	fi
	section "$T/boot" "$n" after > "$T/$d.after"
	python3 "$HERE/gpt_disk.py" extract "$T/disk.img" "$n" "$T/$d.back"
	case $d in
	*-crashed)
		# a writer that trusts this bitmap allocates over the fsync'd files
		[ "$mode" = ro ] || problem "$d: the kernel mounted the crashed disc read-write, trusting a bitmap that misses pktfuse's allocations"
		# refused by the kernel (EACCES, fs/udf/super.c: minUDFWriteRev above what it writes), not by
		# busybox: a remount read-write is refused too
		[ "$mode" = rw ] || grep -A1 "^=== PART $n remount-rw exit [1-9]" "$T/boot" | grep -q 'Permission denied' ||
			problem "$d: the kernel does not refuse read-write with EACCES: $(grep -A1 "^=== PART $n remount-rw" "$T/boot" | tr '\n' ' ')"
		grep -qx "=== PART $n write-refused" "$T/boot" || problem "$d: the kernel wrote to the crashed disc"
		cmp -s "$T/$d.img" "$T/$d.back" || problem "$d: the kernel changed the crashed disc"
		# pktfuse as a person mounts it next: it checks the disc; every fsync'd file is there
		if "$PKTFUSE" "$T/$d.back" "$T/mnt" -o "$(packet_opt "${d%-*}")" 2> "$T/err"; then
			_mounts+=("$T/mnt")
			rich_list "$T/mnt" > "$T/got"
			"$PKTFUSE" umount "$T/mnt"
			ok=1
			fsync_lines "$T/${d%-crashed}.want" "$T/got" "$d, after the kernel" || { ok=0; head -30 "$T/got" | sed 's/^/  pktfuse lists: /'; }
			"$PKTFUSE" check "$T/$d.back" > "$T/check" 2>&1 ||
				{ tail -5 "$T/check"; problem "$d: pktfuse check after the kernel and pktfuse's clean unmount"; }
			(check_udfinfo "$T/$d.back" "$d after the kernel") > /dev/null || problem "$d: udfinfo after the kernel"
			[ "$ok" = 0 ] || note "$d: pktfuse reads the $FSYNCED fsync'd files back exactly after the kernel"
		else
			problem "$d: pktfuse cannot mount it after the kernel: $(cat "$T/err")"
		fi
		;;
	*-clean)
		[ "$mode" = rw ] || problem "$d: the kernel mounted the cleanly unmounted disc read-only"
		grep -qx "=== PART $n wrote" "$T/boot" || problem "$d: the kernel could not write to it: $(section "$T/boot" "$n" write-refused | head -2)"
		[ "$(grep -c '^F|./kcrash/' "$T/$d.after")" = 48 ] || problem "$d: the kernel's new files are not in its own listing"
		fsync_lines "$want" "$T/$d.after" "$d, the kernel's listing after it wrote" || true
		(check_udfinfo "$T/$d.back" "$d after the kernel") > /dev/null || problem "$d: udfinfo after the kernel"
		pktfuse_reads "$T/$d.back" "$T/$d.after" "$d, written by the kernel"
		"$PKTFUSE" check "$T/$d.back" > "$T/check" 2>&1 || { tail -5 "$T/check"; problem "$d: pktfuse check after the kernel wrote"; }
		note "$d: pktfuse reads the kernel's $(wc -l < "$T/$d.after") entries"
		;;
	esac
done
finish "after SIGKILL the kernel mounts pktfuse's disc read-only and lists it exactly; after pktfuse's clean unmount it writes, and pktfuse reads that"
