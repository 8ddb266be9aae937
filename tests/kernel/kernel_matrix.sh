#!/usr/bin/env bash
# Every cell pktfuse can format, end to end with Debian's kernel (tests/kernel/kudf.sh): UDF
# revisions 1.02 1.50 2.00 2.01 2.50 2.60 x block sizes 512 1024 2048 4096 x layouts plain (hd) and
# sparable (cdrw).  The cells pktfuse refuses (1.02 on cdrw: UDF 1.02 has no sparable partition;
# cdrw at any block size but 2048) must be refused in one line with their exit status, the image
# untouched.  For each other cell:
#   1. pktfuse format; the files view writes the rwlib tree (and device nodes); a remount and
#      udf_manifest read exactly what the mount showed (2.50/2.60: the metadata copies verify);
#   2. one boot for all cells (MATRIX_JOBS boots side by side): the kernel lists each tree exactly
#      as pktfuse did; at <= 2.01 it changes the tree (tests/kernel/roundtrip_guest.sh) and lists
#      what it left; at 2.50/2.60 it must mount read-only although asked to write, and leave the
#      image byte for byte as it was;
#   3. pktfuse (the mount and udf_manifest) reads the kernel's result exactly and changes it again;
#   4. a second boot (MATRIX_JOBS side by side): the kernel lists pktfuse's changes exactly.
# One line per cell at the end.  MATRIX_JOBS (default 2, one per core) cells are worked at once;
# MATRIX_CELLS="layout rev bs;..." limits the run to some cells; MATRIX_DEBUG=DIR keeps each job's
# scratch directory there, with a trace of it.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../udf/rwlib.sh"
need_udftools
command -v qemu-system-x86_64 > /dev/null || { echo "SKIP: qemu-system-x86 is not installed"; exit $SKIP; }
. "$HERE/roundtrip_lib.sh"
SECONDS=0
IMAGES=$T # the cells' images, and what was listed from them ($T changes in the jobs)

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
# nothing when it formats the cell.  UDF 1.02 has no sparable partition, and a block size the layout
# does not take: both are refused by the file system writer once the medium is open (exit 1, as
# today: the layout of a disc comes from its profile, not from an option)
refusal() {
	if [ "$2" = 1.02 ]; then
		[ "$1" != cdrw ] || echo "1|UDF 1.02 has no sparable partition: cdrw takes 1.50 or later"
		return 0
	fi
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

# Cells are worked MATRIX_JOBS at a time (2 by default, one per core; 1: one after another), each in
# a subshell with a scratch directory of its own (the rwlib and roundtrip_lib functions keep their
# files in $T): what it found goes back through that directory.
JOBS=${MATRIX_JOBS:-2}
# The trees are smaller than the other round trips' (100 small files in a directory, 150 made by the
# kernel, still more than a block of entries at 4096 bytes): listing them costs most of the time
export MANY_FILES=100
KERNEL_FILES=150
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || fail "MATRIX_JOBS must be a positive number"
job_dir() { echo "$T/job-${1// /-}"; } # job_dir CELL
# in_jobs STEP FUNCTION CELL...: FUNCTION CELL for each CELL, JOBS at once; a problem it reports, or
# its failure, becomes the cell's failure at STEP
in_jobs() {
	local step=$1 fn=$2 cell d running=0
	shift 2
	for cell in "$@"; do
		d=$(job_dir "$cell")
		rm -rf "$d"
		mkdir -p "$d/mnt"
		_mounts+=("$d/mnt")
		(
			T=$d problems=()
			trap 'set +e; fusermount3 -u "$T/mnt" 2> /dev/null; [ "${#problems[@]}" = 0 ] || printf "%s\n" "${problems[@]}" > "$T/problems"' EXIT
			[ -z "${MATRIX_DEBUG:-}" ] || set -x
			"$fn" "$cell"
		) > "$d/log" 2>&1 && echo 0 > "$d/rc" || echo $? > "$d/rc" &
		running=$((running + 1))
		if [ "$running" -ge "$JOBS" ]; then
			wait -n || true
			running=$((running - 1))
		fi
	done
	wait || true
	for cell in "$@"; do
		d=$(job_dir "$cell")
		[ -z "${MATRIX_DEBUG:-}" ] || cp -r "$d" "$MATRIX_DEBUG/"
		if [ -s "$d/problems" ]; then
			cell_failed "$cell" "$step" "$(head -1 "$d/problems")"
			sed 1d "$d/problems" | while IFS= read -r line; do problem "$line"; done
		elif [ "$(cat "$d/rc" 2> /dev/null)" != 0 ]; then
			tail -5 "$d/log"
			cell_failed "$cell" "$step" "$(grep -m1 '^FAIL' "$d/log" || tail -1 "$d/log")"
		fi
	done
}
cell_image() { # cell_image CELL: its image's path
	local layout rev bs
	read -r layout rev bs <<< "$1"
	echo "$IMAGES/$layout-$rev-$bs.img"
}
is_meta() { case $1 in *" 2.5"* | *" 2.6"*) return 0 ;; esac; return 1; }
ok_cells() { # ok_cells CELL...: those that have not failed
	local c
	for c in "$@"; do [[ ${result[$c]:-} == FAIL* ]] || echo "$c"; done
}

# 1. pktfuse writes each cell's tree, then reads it back after a remount
write_cell() {
	local layout rev bs img
	read -r layout rev bs <<< "$1"
	img=$(cell_image "$1")
	# a symlink is at most one block: 28 components fit 512 bytes, 60 need 1028
	export LONG_LINK_COMPONENTS=60
	[ "$bs" -ge 2048 ] || LONG_LINK_COMPONENTS=28
	pktfuse_writes "$img" "$layout" "m${rev/./}b$bs" "$img.want" || return 0
	pktfuse_reads "$img" "$img.want" "after a remount"
	if is_meta "$1"; then
		python3 "$HERE/../udf/udf_meta_check.py" "$img" > "$T/mc" || problem "$(cat "$T/mc")"
		sha256sum < "$img" > "$img.sha"
	fi
}
in_jobs write write_cell "${cells[@]}"
mapfile -t live < <(ok_cells "${cells[@]}")
for cell in "${live[@]}"; do
	result[$cell]="pktfuse wrote $(wc -l < "$(cell_image "$cell").want") entries, read them after a remount"
done
note "pktfuse wrote ${#cells[@]} cells (${SECONDS}s)"

# boot_cells NAME GUEST CELL...: the kernel runs GUEST over the images of the cells, JOBS boots side
# by side (the cells dealt out among them); disk_of and part_of say where each cell was
declare -A disk_of part_of
boots=0
boot_cells() {
	local name=$1 guest=$2 k cell
	shift 2
	local -a disks=() ro=()
	for k in $(seq 0 $((JOBS - 1))); do disks[k]= ro[k]=; done
	k=0
	for cell in "$@"; do
		disks[k]+="$(cell_image "$cell")"$'\n'
		disk_of[$cell]=$T/$name-$k
		part_of[$cell]=$(grep -c . <<< "${disks[k]}")
		! is_meta "$cell" || ro[k]+=" ${part_of[$cell]}"
		k=$(((k + 1) % JOBS))
	done
	for k in $(seq 0 $((JOBS - 1))); do
		[ -n "${disks[k]}" ] || continue
		mapfile -t imgs <<< "${disks[k]%$'\n'}"
		python3 "$HERE/gpt_disk.py" build "$T/$name-$k.disk" "${imgs[@]}"
		boots=$((boots + 1))
		mkdir -p "$T/$name-$k.d"
		(T=$T/$name-$k.d KUDF_GUEST_VARS="READONLY_PARTS='${ro[k]}' KERNEL_FILES=$KERNEL_FILES" kudf_run "$T/$name-$k.disk" "$guest" "$T/$name-$k") &
	done
	local rc=0
	for k in $(jobs -p); do wait "$k" || rc=$?; done
	[ "$rc" != "$SKIP" ] || { echo "SKIP: Debian's kernel is not available"; exit $SKIP; }
	[ "$rc" = 0 ] || fail "a kernel boot failed (exit $rc)"
}

# 2. the kernel lists every tree, changes those it can write
boot_cells boot1 "$HERE/roundtrip_guest.sh" "${live[@]}"
note "boot 1 done (${SECONDS}s)"
again=()
for cell in "${live[@]}"; do
	img=$(cell_image "$cell")
	out=${disk_of[$cell]} n=${part_of[$cell]}
	marks=$({ awk -v p="=== PART $n " 'index($0, p) == 1 { print $4 }' "$out" | grep -vx 'before\|after' || true; } | tr '\n' ' ')
	section "$out" "$n" before > "$img.kernel"
	diff -u "$img.want" "$img.kernel" > "$T/diff" ||
		{ head -20 "$T/diff"; cell_failed "$cell" "kernel read" "the kernel lists another tree than pktfuse wrote (${marks:-no marks})"; continue; }
	python3 "$HERE/gpt_disk.py" extract "$out.disk" "$n" "$img"
	if is_meta "$cell"; then
		[ "$marks" = "kernel-ro " ] || cell_failed "$cell" "kernel read" "the kernel, asked to write, said: $marks"
		[ "$(sha256sum < "$img")" = "$(cat "$img.sha")" ] || cell_failed "$cell" "kernel read" "the image changed under a read-only mount"
		[[ ${result[$cell]} == FAIL* ]] || result[$cell]+="; the kernel mounted it read-only and listed them"
		continue
	fi
	[ -z "$marks" ] || { cell_failed "$cell" "kernel write" "the kernel said: $marks"; continue; }
	section "$out" "$n" after > "$img.after"
	[ "$(grep -c '^F|./kdir/sub1/' "$img.after")" -ge $((KERNEL_FILES - 10)) ] ||
		{ cell_failed "$cell" "kernel write" "the kernel's changes are not in its own listing"; continue; }
	again+=("$cell")
done

# 3. pktfuse reads the kernel's result exactly and writes onto it again
rewrite_cell() {
	local img
	img=$(cell_image "$1")
	(check_udfinfo "$img" "after the kernel") > /dev/null 2> "$T/err" || { problem "udfinfo after the kernel: $(tail -1 "$T/err")"; return 0; }
	pktfuse_reads "$img" "$img.after" "changed by the kernel"
	[ "${#problems[@]}" = 0 ] || return 0
	pktfuse_changes "$img" "$img.p3"
}
in_jobs "pktfuse rewrite" rewrite_cell "${again[@]}"
mapfile -t again < <(ok_cells "${again[@]}")
for cell in "${again[@]}"; do
	result[$cell]+="; the kernel listed them and wrote $(wc -l < "$(cell_image "$cell").after") entries, pktfuse read and changed them"
done

# 4. the kernel lists what pktfuse wrote onto the kernel's trees
if [ "${#again[@]}" -gt 0 ]; then
	boot_cells boot2 "$HERE/list_parts_guest.sh" "${again[@]}"
	note "boot 2 done (${SECONDS}s)"
	for cell in "${again[@]}"; do
		img=$(cell_image "$cell")
		section "${disk_of[$cell]}" "${part_of[$cell]}" ok > "$img.k2"
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
finish "${#cells[@]} cells written by pktfuse and the kernel in turn, $refused refusals pinned, $boots boots ($JOBS at a time), ${SECONDS}s"
