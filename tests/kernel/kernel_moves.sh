#!/usr/bin/env bash
# Entries that move (core/udf/udf_move.c, ICB strategy 4096 chains): Debian's kernel (one kudf boot)
# lists exactly the tree pktfuse wrote, at three states of each layout (plain, sparable, and UDF 2.50
# with a metadata partition, where the chains are the metadata partition's blocks; the kernel reads
# 2.50 read-only, and udfinfo and udfclient read its unmounted state too):
#   chain  — a directory's entry several hops down its chain (fsync'd files, the image as a killed
#            daemon would leave it), and regular files' too: /log appended and fsync'd, /db (8 KiB)
#            overwritten and fsync'd, /tiny (data embedded in its entry) overwritten and fsync'd;
#   compacted — more than CHAIN_MAX_HOPS (32) moves later: the chains of /d and /log were compacted;
#   unmounted — after a clean unmount: the chains folded back (strategy 4, no hops).
# tests/udf/udf_chain.py (a reader written apart from pktfuse's) says how many hops each state has;
# the tree wanted is what pktfuse's files view lists of the same image.
. "$(dirname "$0")/../e2e/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../udf/rwlib.sh"
. "$HERE/roundtrip_lib.sh"
. "$HERE/rich_list.sh"
. "$HERE/moves_lib.sh"

# keep IMG OUT WHAT: a copy of the image as it is now (every commit done: what a killed daemon leaves)
# and the tree pktfuse lists of that copy
keep() {
	cp --sparse=always "$1" "$2"
	mkdir -p "$T/ro"
	"$PKTFUSE" "$2" "$T/ro" -o ro 2> "$T/err" || { problem "$3: pktfuse cannot mount the copy: $(cat "$T/err")"; return; }
	_mounts+=("$T/ro")
	rich_list "$T/ro" > "$2.want"
	"$PKTFUSE" umount "$T/ro" || problem "$3: pktfuse umount of the copy"
	images+=("$2")
	whats+=("$3")
}

# udfclient_reads IMG WHAT: udfclient (an independent UDF implementation) extracts /log and /db with
# the bytes pktfuse's files view reads
udfclient_reads() {
	local img=$1 what=$2 vol w f
	command -v udfclient > /dev/null || { note "$what: udfclient not installed: skipped"; return; }
	w=$(mktemp -d "$T/uc.XXXXXX")
	mkdir "$w/ours" "$w/theirs"
	"$PKTFUSE" "$img" "$T/ro" -o ro 2> "$T/err" || { problem "$what: pktfuse cannot mount it: $(cat "$T/err")"; return; }
	_mounts+=("$T/ro")
	cp "$T/ro/log" "$T/ro/db" "$w/ours/"
	"$PKTFUSE" umount "$T/ro" || problem "$what: pktfuse umount"
	vol=$(printf 'ls\nquit\n' | udfclient -b 2048 "$img" 2> /dev/null | awk '/^d/ && $5 != "." && $5 != ".." {print $5; exit}')
	[ -n "$vol" ] || { problem "$what: udfclient shows no volume"; return; }
	printf 'lcd %s\ncd /%s\nget log\nget db\nquit\n' "$w/theirs" "$vol" | timeout 300 udfclient -b 2048 "$img" > "$w/log" 2>&1 ||
		problem "$what: udfclient failed: $(tail -3 "$w/log")"
	for f in log db; do
		cmp -s "$w/ours/$f" "$w/theirs/$f" || problem "$what: udfclient reads another /$f"
	done
	note "$what: udfclient reads /log and /db as pktfuse does"
}

mkdir -p "$T/mnt"
images=() whats=()
for layout in hd cdrw hd250; do
	img=$T/$layout.img
	media=${layout%250}
	rev=()
	[ "$layout" = hd250 ] && rev=(--revision 2.50)
	truncate -s 64M "$img"
	"$PKTFUSE" format "$img" --media "$media" "${rev[@]}" --uid 0 --gid 0 > /dev/null || fail "$layout: format failed"
	start_pktfuse "$img" "$T/mnt" -o "$(packet_opt "$media")"
	mkdir "$T/mnt/d" "$T/mnt/d/sub"
	fsyncs "$T/mnt/d" 0 6
	fsyncs "$T/mnt" 0 3
	fsyncs "$T/mnt/d/sub" 0 2
	rewrites "$T/mnt/log" 0 4 append
	rewrites "$T/mnt/db" 0 4 overwrite
	rewrites "$T/mnt/tiny" 0 4 tiny
	keep "$img" "$T/$layout-chain.img" "$layout, chains"
	hfiles=
	for f in /log /db /tiny; do
		h=$(hops "$T/$layout-chain.img" $f)
		hfiles="$hfiles $f $h"
		[ -n "$h" ] && [ "$h" -ge 3 ] || problem "$layout: $f is $h hops down its chain after 4 commits that rewrote it, want at least 3"
	done
	h=$(hops "$T/$layout-chain.img" /d)
	hchain=$h
	[ -n "$h" ] && [ "$h" -ge 5 ] || problem "$layout: /d is $h hops down its chain after 6 commits that changed it, want at least 5"
	h=$(hops "$T/$layout-chain.img" /)
	[ -n "$h" ] && [ "$h" -ge 2 ] || problem "$layout: the root is $h hops down its chain, want at least 2"
	fsyncs "$T/mnt/d" 6 34
	rm "$T/mnt/d/f003" "$T/mnt/f001"
	mv "$T/mnt/d/f010" "$T/mnt/d/sub/moved"
	fsyncs "$T/mnt/d" 40 2
	rewrites "$T/mnt/log" 4 34 append
	keep "$img" "$T/$layout-compacted.img" "$layout, compacted"
	h=$(hops "$T/$layout-compacted.img" /log)
	hlog=$h
	[ -n "$h" ] && [ "$h" -ge 1 ] && [ "$h" -le 32 ] || problem "$layout: /log is $h hops down after 37 moves, want 1..32 (compacted)"
	h=$(hops "$T/$layout-compacted.img" /d)
	# 43 commits changed /d: without compaction 42 hops or more
	hcomp=$h
	[ -n "$h" ] && [ "$h" -ge 1 ] && [ "$h" -le 32 ] || problem "$layout: /d is $h hops down after 43 moves, want 1..32 (compacted)"
	stop_pktfuse "$T/mnt"
	for dir in / /d /d/sub /log /db /tiny; do
		[ "$dir" = /d/sub ] && continue # udf_chain.py lists the root's entries only
		[ "$(hops "$img" "$dir")" = 0 ] && [ "$(strategy "$img" "$dir")" = 4 ] ||
			problem "$layout: after unmount $dir has $(hops "$img" "$dir") hops, strategy $(strategy "$img" "$dir")"
	done
	keep "$img" "$T/$layout-unmounted.img" "$layout, unmounted"
	if [ "$layout" = hd250 ]; then
		# pktfuse check does not check a metadata partition yet: udfinfo and udfclient read it
		out=$(udfinfo "$img" 2>&1) || problem "$layout: udfinfo rejects the image: $(echo "$out" | tail -3)"
		grep -qx 'integrity=closed' <<< "$out" || problem "$layout: udfinfo: $(grep integrity <<< "$out")"
		udfclient_reads "$img" "$layout, unmounted"
	else
		"$PKTFUSE" check "$img" > "$T/check" 2>&1 || problem "$layout: pktfuse check after unmount: $(cat "$T/check")"
	fi
	note "$layout: states written: /d $hchain hops (files:$hfiles), then /d $hcomp and /log $hlog after compaction, then none"
done

if command -v qemu-system-x86_64 > /dev/null; then
	python3 "$HERE/gpt_disk.py" build "$T/disk.img" "${images[@]}"
	kudf_run "$T/disk.img" "$HERE/list_parts_guest.sh" "$T/boot"
	for n in $(seq 1 "${#images[@]}"); do
		section "$T/boot" "$n" ok > "$T/kernel"
		[ -s "$T/kernel" ] || { problem "${whats[$((n - 1))]}: the kernel does not mount it"; continue; }
		if diff -u "${images[$((n - 1))]}.want" "$T/kernel" > "$T/diff"; then
			note "${whats[$((n - 1))]}: the kernel lists the $(wc -l < "$T/kernel") entries pktfuse wrote"
		else
			head -20 "$T/diff"
			problem "${whats[$((n - 1))]}: the kernel lists another tree"
		fi
	done
else
	echo "SKIP: qemu-system-x86 is not installed"
	exit $SKIP
fi
finish "Debian's kernel reads the moving entries' chains, compacted and folded back"
