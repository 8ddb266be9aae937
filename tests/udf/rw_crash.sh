#!/usr/bin/env bash
# fsync on the files view means "on the medium", whatever happens next: crash_files writes files
# of many sizes, appends, renames and deletes, fsyncs about half of the files and logs each only
# after its fsync returned, while the daemon is killed with SIGKILL at a random moment.  After each
# kill the image must mount again, every logged file must be there with its bytes, every file must
# be readable, and a clean unmount must leave a volume udfinfo accepts.  Many seeds over several
# media and revisions.  At the end Debian's kernel (one kudf boot) must mount a few of the crashed
# images as they were left by the kill, with the logged files in them.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/rwlib.sh"
need_udftools
CRASH_FILES=${CRASH_FILES:?CRASH_FILES must name the crash_files tool}
SEEDS=${SEEDS:-20}
KEEP_EVERY=${KEEP_EVERY:-4} # every 4th crashed image goes to the kernel
# LAYOUTS="media revision;..." (or ,): 2.50 and 2.60 (a metadata partition) are formatted by pktfuse
IFS=";," read -r -a LAYOUTS <<< "${LAYOUTS:-hd 2.01;cdrw 2.01;dvdrw 2.00;hd 1.50}"
mkdir -p "$T/mnt" "$T/kept"
kept=()
total=0

for seed in $(seq 1 "$SEEDS"); do
	read -r media rev <<< "${LAYOUTS[$((seed % ${#LAYOUTS[@]}))]}"
	what="seed $seed ($media UDF $rev)"
	img="$T/img"
	case $rev in
	2.5* | 2.6*)
		rm -f "$img"
		truncate -s 64M "$img"
		"$PKTFUSE" format "$img" --media "$media" --revision "$rev" > /dev/null || fail "$what: pktfuse format failed"
		;;
	*) mk_udf "$img" 64M "$media" "$rev" 2048 ;;
	esac
	rm -f "$T/log"
	start_pktfuse "$img" "$T/mnt" -o "$(packet_opt "$media")"
	pid=$(pid_of_mount "$T/mnt")
	"$CRASH_FILES" write "$T/mnt" "$seed" "$T/log" 2> /dev/null &
	writer=$!
	# 0.4 to 3 s: sometimes before the first background commit, sometimes after several
	sleep "$((RANDOM % 3)).$((RANDOM % 10))$((seed % 10))"
	[ "$(awk '{print $3}' /proc/"$pid"/stat)" != Z ] || fail "$what: the daemon died by itself"
	kill -KILL "$pid"
	wait "$writer" && fail "$what: the writer finished before the kill (make the workload longer)"
	wait_gone "$pid"
	fusermount3 -u "$T/mnt" 2> /dev/null || umount -l "$T/mnt" 2> /dev/null || true
	n=0
	[ ! -f "$T/log" ] || n=$(wc -l < "$T/log")
	[ "$n" -gt 0 ] || { note "$what: killed before the first fsync returned; nothing to check"; continue; }
	if [ $((seed % KEEP_EVERY)) = 0 ]; then
		cp --sparse=always "$img" "$T/kept/$seed.img"
		cp "$T/log" "$T/kept/$seed.log"
		kept+=("$seed")
	fi
	# the image as the kill left it: pktfuse mounts it (repaired read-write, or read-only and saying why)
	"$PKTFUSE" "$img" "$T/mnt" -o "$(packet_opt "$media")" > "$T/out" 2>&1 || fail "$what: the crashed image does not mount: $(cat "$T/out")"
	_mounts+=("$T/mnt")
	mode=$(awk -v m="$T/mnt" '$2 == m { split($4, o, ","); print o[1] }' /proc/mounts)
	"$CRASH_FILES" check "$T/mnt" "$T/log" > "$T/check" 2>&1 || { cat "$T/check"; fail "$what: fsync'd data lost"; }
	# every entry is readable, nothing half there
	(cd "$T/mnt" && find . -type f -print0 | xargs -0 -r cat > /dev/null) 2> "$T/err" || { head -5 "$T/err"; fail "$what: files unreadable after the crash"; }
	if [ "$mode" = rw ]; then
		echo "after the crash" > "$T/mnt/after-crash" || fail "$what: cannot write after the crash"
	fi
	"$PKTFUSE" umount "$T/mnt" || fail "$what: unmount after the crash failed"
	if [ "$mode" = rw ]; then
		check_udfinfo "$img" "$what, after the crash and a clean unmount" > /dev/null
		case $rev in # the check renewed the mirror; the bitmaps and the LVID agree
		2.5* | 2.6*) python3 "$HERE/udf_meta_check.py" "$img" > "$T/mc" || fail "$what: $(cat "$T/mc")" ;;
		esac
		"$UDF_MANIFEST" "$img" > "$T/list" 2> "$T/err" || fail "$what: udf_manifest: $(head -3 "$T/err")"
		grep -q '^F|./after-crash|' "$T/list" || fail "$what: the file written after the crash is not there"
	else
		note "$what: mounted $mode after the crash: $(head -1 "$T/out")"
	fi
	note "$what: $(cut -d' ' -f1 "$T/check") fsync'd files intact after SIGKILL (mounted $mode)"
	total=$((total + 1))
done
[ "$total" -ge $((SEEDS / 2)) ] || fail "only $total of $SEEDS seeds had something fsync'd before the kill"

# The kernel reads the crashed images as the kill left them (one boot for all)
if ! command -v qemu-system-x86_64 > /dev/null; then
	note "qemu is not installed: the kernel check of the crashed images is skipped"
elif [ "${#kept[@]}" -gt 0 ]; then
	imgs=()
	for s in "${kept[@]}"; do imgs+=("$T/kept/$s.img"); done
	python3 "$HERE/../kernel/gpt_disk.py" build "$T/disk.img" "${imgs[@]}"
	cat "$HERE/../kernel/rich_list.sh" "$HERE/../kernel/list_parts_guest.sh" > "$T/guest.sh"
	rc=0
	bash "$HERE/../kernel/kudf.sh" "$T/disk.img" "$T/guest.sh" > "$T/kout" 2> "$T/kerr" || rc=$?
	if [ "$rc" -ne 0 ] && grep -q "kudf: cannot" "$T/kerr"; then
		cat "$T/kerr"
		echo "SKIP: Debian's kernel is not available (the pktfuse part passed)"
		exit $SKIP
	fi
	[ "$rc" -eq 0 ] || { tail -20 "$T/kout" "$T/kerr"; fail "the kernel's guest failed on the crashed images"; }
	p=0
	for s in "${kept[@]}"; do
		p=$((p + 1))
		grep -qx "=== PART $p ok" "$T/kout" || { grep -A5 "=== PART $p " "$T/kout"; fail "seed $s: the kernel cannot mount the crashed image"; }
		awk -v h="=== PART $p ok" '$0 == h { f = 1; next } /^=== PART / { f = 0 } f' "$T/kout" > "$T/klist"
		# the last logged state of each file: there, at least that long, and identical when no
		# unlogged append followed
		awk '{ last[$1] = $2 " " $3 } END { for (p in last) print p, last[p] }' "$T/kept/$s.log" |
			while read -r path size sha; do
				line=$(grep -F "F|./$path|" "$T/klist") || { echo "seed $s: the kernel does not list $path"; continue; }
				ksize=$(echo "$line" | cut -d'|' -f3 | cut -d' ' -f1)
				ksha=$(echo "$line" | cut -d'|' -f4)
				[ "$ksize" -ge "$size" ] || echo "seed $s: the kernel shows $path with $ksize bytes, $size were fsync'd"
				[ "$ksize" != "$size" ] || [ "$ksha" = "$sha" ] || echo "seed $s: the kernel reads other bytes in $path"
			done > "$T/kbad"
		[ ! -s "$T/kbad" ] || { head "$T/kbad"; fail "seed $s: the kernel does not see the fsync'd files"; }
	done
	note "the kernel mounted ${#kept[@]} crashed images and found every fsync'd file"
fi
echo "PASS: fsync'd files survive SIGKILL of the daemon ($total seeds with data; kernel checked ${#kept[@]})"
