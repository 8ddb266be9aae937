#!/usr/bin/env bash
# Every cell pktfuse can format, end to end with Debian's kernel (tests/kernel/kudf.sh): UDF
# revisions 1.02 1.50 2.00 2.01 2.50 2.60 x block sizes 512 1024 2048 4096 x layouts plain (hd) and
# sparable (cdrw).  The cells pktfuse refuses (1.02, which it only reads; sparable at any block size
# but 2048) must be refused in one line with their exit status, the image untouched.  For each
# other cell:
#   1. pktfuse format; the files view writes the rwlib tree (and device nodes); a remount and
#      udf_manifest read exactly what the mount showed (2.50/2.60: the metadata copies verify);
#   2. one boot for all cells: the kernel lists each tree exactly as pktfuse did; at <= 2.01 it
#      changes the tree (tests/kernel/roundtrip_guest.sh) and lists what it left; at 2.50/2.60 it
#      must mount read-only although asked to write, and leave the image byte for byte as it was;
#   3. pktfuse (the mount and udf_manifest) reads the kernel's result exactly and changes it again;
#   4. a second boot: the kernel lists pktfuse's changes exactly.
# One line per cell at the end.  MATRIX_CELLS="layout rev bs;..." limits the run to some cells.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../udf/rwlib.sh"
need_udftools
command -v qemu-system-x86_64 > /dev/null || { echo "SKIP: qemu-system-x86 is not installed"; exit $SKIP; }
. "$HERE/roundtrip_lib.sh"
SECONDS=0

declare -A result # cell → what happened to it (its first failure, or the steps it passed)
cell_failed() {   # cell_failed CELL STEP MESSAGE
	problem "$1: $3"
	[[ ${result[$1]:-} == FAIL* ]] || result[$1]="FAIL at $2: $3"
}
# checked CELL STEP COMMAND...: runs a check that reports through problem(); the first problem it
# adds is the cell's failure
checked() {
	local cell=$1 step=$2 before=${#problems[@]}
	shift 2
	"$@" || true # a failed step says why through problem()
	if [ "${#problems[@]}" -gt "$before" ] && [[ ${result[$cell]} != FAIL* ]]; then
		result[$cell]="FAIL at $step: ${problems[$before]}"
	fi
}

# refusal LAYOUT REV BS: the exit status and message pktfuse format must refuse the cell with, or
# nothing when it formats the cell
refusal() {
	case $2 in 1.02) echo "2|--revision '1.02': write 1.50, 2.00, 2.01, 2.50 or 2.60"; return ;; esac
	[ "$1" = cdrw ] && [ "$3" != 2048 ] && echo "1|block size $3: a sparable layout (cdrw) takes 2048-byte blocks only"
	return 0
}

mkdir -p "$T/mnt"
cells=() refused=0
for rev in 1.02 1.50 2.00 2.01 2.50 2.60; do
	for bs in 512 1024 2048 4096; do
		for layout in hd cdrw; do
			cell="$layout $rev $bs"
			[ -z "${MATRIX_CELLS:-}" ] || [[ ";$MATRIX_CELLS;" == *";$cell;"* ]] || continue
			img=$T/$layout-$rev-$bs.img
			truncate -s 64M "$img"
			rc=0
			"$PKTFUSE" format "$img" --media "$layout" --revision "$rev" --block-size "$bs" --uid 0 --gid 0 \
				> "$T/format.out" 2> "$T/format.err" || rc=$?
			want=$(refusal "$layout" "$rev" "$bs")
			if [ -n "$want" ]; then
				result[$cell]="refused (exit $rc): $(head -1 "$T/format.err")"
				refused=$((refused + 1))
				[ "$rc" = "${want%%|*}" ] || cell_failed "$cell" format "format exits $rc, not ${want%%|*}, refusing it"
				[ "$(wc -l < "$T/format.err")" = 1 ] && grep -qF -- "${want#*|}" "$T/format.err" ||
					cell_failed "$cell" format "the refusal is not the one line '${want#*|}': $(head -3 "$T/format.err")"
				cmp -s -n 67108864 "$img" /dev/zero || cell_failed "$cell" format "a refused format wrote to the image"
				rm -f "$img"
				continue
			fi
			if [ "$rc" != 0 ]; then
				cell_failed "$cell" format "pktfuse format failed (exit $rc): $(head -3 "$T/format.err")"
				continue
			fi
			result[$cell]=formatted
			cells+=("$cell")
		done
	done
done
[ "${#cells[@]}" -gt 0 ] || fail "no cell to write"

# 1. pktfuse writes each cell's tree, then reads it back after a remount
n=0 ro_parts=
for cell in "${cells[@]}"; do
	read -r layout rev bs <<< "$cell"
	n=$((n + 1))
	img=$T/$layout-$rev-$bs.img
	# a symlink is at most one block: 28 components fit 512 bytes, 60 need 1028
	export LONG_LINK_COMPONENTS=60
	[ "$bs" -ge 2048 ] || LONG_LINK_COMPONENTS=28
	checked "$cell" write pktfuse_writes "$img" "$layout" "m${rev/./}b$bs" "$img.want"
	[[ ${result[$cell]} == FAIL* ]] && continue
	checked "$cell" remount pktfuse_reads "$img" "$img.want" "$cell: after a remount"
	case $rev in 2.5* | 2.6*)
		python3 "$HERE/../udf/udf_meta_check.py" "$img" > "$T/mc" || cell_failed "$cell" remount "$(cat "$T/mc")"
		ro_parts+=" $n"
		sha256sum < "$img" > "$img.sha"
		;;
	esac
	[[ ${result[$cell]} == FAIL* ]] || result[$cell]="pktfuse wrote $(wc -l < "$img.want") entries, read them after a remount"
done
note "pktfuse wrote ${#cells[@]} cells (${SECONDS}s)"

# 2. one boot: the kernel lists every tree, changes those it can write
images=()
for cell in "${cells[@]}"; do read -r layout rev bs <<< "$cell"; images+=("$T/$layout-$rev-$bs.img"); done
python3 "$HERE/gpt_disk.py" build "$T/disk.img" "${images[@]}"
KUDF_GUEST_VARS="READONLY_PARTS='$ro_parts'" kudf_run "$T/disk.img" "$HERE/roundtrip_guest.sh" "$T/boot1"
note "boot 1 done (${SECONDS}s)"
n=0 again=()
for cell in "${cells[@]}"; do
	read -r layout rev bs <<< "$cell"
	n=$((n + 1))
	img=$T/$layout-$rev-$bs.img
	[[ ${result[$cell]} == FAIL* ]] && continue
	marks=$({ awk -v p="=== PART $n " 'index($0, p) == 1 { print $4 }' "$T/boot1" | grep -vx 'before\|after' || true; } | tr '\n' ' ')
	section "$T/boot1" "$n" before > "$img.kernel"
	diff -u "$img.want" "$img.kernel" > "$T/diff" ||
		{ head -20 "$T/diff"; cell_failed "$cell" "kernel read" "the kernel lists another tree than pktfuse wrote (${marks:-no marks})"; continue; }
	case " $ro_parts " in
	*" $n "*)
		[ "$marks" = "kernel-ro " ] || cell_failed "$cell" "kernel read" "the kernel, asked to write, said: $marks"
		python3 "$HERE/gpt_disk.py" extract "$T/disk.img" "$n" "$img"
		[ "$(sha256sum < "$img")" = "$(cat "$img.sha")" ] || cell_failed "$cell" "kernel read" "the image changed under a read-only mount"
		[[ ${result[$cell]} == FAIL* ]] || result[$cell]+="; the kernel mounted it read-only and listed them"
		continue
		;;
	esac
	[ -z "$marks" ] || { cell_failed "$cell" "kernel write" "the kernel said: $marks"; continue; }
	python3 "$HERE/gpt_disk.py" extract "$T/disk.img" "$n" "$img"
	section "$T/boot1" "$n" after > "$img.after"
	[ "$(grep -c '^F|./kdir/sub1/' "$img.after")" -ge 390 ] ||
		{ cell_failed "$cell" "kernel write" "the kernel's changes are not in its own listing"; continue; }
	(check_udfinfo "$img" "$cell after the kernel") > /dev/null 2> "$T/err" ||
		cell_failed "$cell" "kernel write" "udfinfo after the kernel: $(tail -1 "$T/err")"
	# 3. pktfuse reads the kernel's result and writes onto it again
	checked "$cell" "pktfuse read" pktfuse_reads "$img" "$img.after" "$cell, changed by the kernel"
	checked "$cell" "pktfuse write" pktfuse_changes "$img" "$img.p3"
	[[ ${result[$cell]} == FAIL* ]] && continue
	result[$cell]+="; the kernel listed them and wrote $(wc -l < "$img.after") entries, pktfuse read and changed them"
	again+=("$cell")
done

# 4. the kernel lists what pktfuse wrote onto the kernel's trees
if [ "${#again[@]}" -gt 0 ]; then
	images=()
	for cell in "${again[@]}"; do read -r layout rev bs <<< "$cell"; images+=("$T/$layout-$rev-$bs.img"); done
	python3 "$HERE/gpt_disk.py" build "$T/disk2.img" "${images[@]}"
	kudf_run "$T/disk2.img" "$HERE/list_parts_guest.sh" "$T/boot2"
	note "boot 2 done (${SECONDS}s)"
	n=0
	for cell in "${again[@]}"; do
		read -r layout rev bs <<< "$cell"
		n=$((n + 1))
		img=$T/$layout-$rev-$bs.img
		section "$T/boot2" "$n" ok > "$img.k2"
		if diff -u "$img.p3" "$img.k2" > "$T/diff"; then
			result[$cell]+="; the kernel read pktfuse's $(wc -l < "$img.k2") entries"
		else
			head -20 "$T/diff"
			cell_failed "$cell" "kernel reread" "the kernel reads pktfuse's changes differently"
		fi
	done
fi

for rev in 1.02 1.50 2.00 2.01 2.50 2.60; do
	for bs in 512 1024 2048 4096; do
		for layout in hd cdrw; do
			cell="$layout $rev $bs"
			[ -n "${result[$cell]:-}" ] && printf 'CELL %-4s %s %4s: %s\n' $cell "${result[$cell]}"
		done
	done
done
finish "${#cells[@]} cells written by pktfuse and the kernel in turn, $refused refusals pinned, 2 boots, ${SECONDS}s"
