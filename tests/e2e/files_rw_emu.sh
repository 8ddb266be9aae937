#!/usr/bin/env bash
# The writable files view on emulated drives: `pktfuse format` an emulated CD-RW and DVD+RW (medium
# format and UDF), write the varied tree of tests/udf/rwlib.sh through `pktfuse emu:… MNT`, unmount,
# mount again: the same tree, as a tmpfs shows it.  The emulator's log must show that every WRITE
# obeyed the medium's rules (whole aligned packets on CD-RW, whole 32 KiB blocks without internal
# read-modify-write on DVD+RW), and the image must satisfy udfinfo and pktfuse's engine.
. "$(dirname "$0")/lib.sh"
need_root
. "$(dirname "$0")/../udf/rwlib.sh"
need_udftools

mount_fs tmpfs "$T/ref" -t tmpfs -o size=128m,mode=755
write_tree "$T/ref" emu
rich_list "$T/ref" > "$T/want"
mkdir -p "$T/mnt"
for p in cdrw dvd+rw; do
	img="$T/$p.img"
	log="$T/$p.log"
	S="emu:$p:$img,size=80M,log=$log"
	"$PKTFUSE" format "$S" > "$T/format.out" 2>&1 || fail "$p: pktfuse format: $(cat "$T/format.out")"
	"$UDF_MANIFEST" "$img" > "$T/fresh" || fail "$p: no UDF after pktfuse format"
	grep '^op=2A' "$log" | grep -v 'rule=ok rmw=0 status=GOOD' | sed -n 1,3p | grep . && fail "$p: pktfuse format broke the medium's rules"
	: > "$log" # from here on: the files view's writes only
	start_pktfuse "$S" "$T/mnt"
	assert_rw "$T/mnt"
	write_tree "$T/mnt" emu 2> "$T/err" || { head "$T/err"; fail "$p: writing the tree failed"; }
	rich_list "$T/mnt" > "$T/got"
	diff -u "$T/want" "$T/got" > "$T/diff" || { head -30 "$T/diff"; fail "$p: the mount differs from tmpfs"; }
	"$PKTFUSE" status --raw "$T/mnt" > "$T/stats"
	"$PKTFUSE" umount "$T/mnt"
	# the drive saw only writes the medium allows, and a cache flush
	writes=$(grep -c '^op=2A' "$log" || true)
	[ "$writes" -gt 10 ] || fail "$p: only $writes WRITE commands reached the drive"
	if grep '^op=2A' "$log" | grep -v 'rule=ok rmw=0 status=GOOD' | sed -n 1,3p | grep .; then
		fail "$p: WRITE commands that broke the medium's rules"
	fi
	grep -q '^op=35' "$log" || fail "$p: no SYNCHRONIZE CACHE reached the drive"
	[ "$(awk -F': ' '$1 == "emu_refused_writes" { print $2 }' "$T/stats")" = 0 ] || fail "$p: the drive refused writes"
	# again, from the disc alone
	start_pktfuse "emu:$p:$img" "$T/mnt"
	rich_list "$T/mnt" > "$T/got2"
	diff -u "$T/want" "$T/got2" > "$T/diff" || { head -30 "$T/diff"; fail "$p: after remount the tree differs"; }
	corpus_list "$T/mnt" > "$T/clist"
	"$PKTFUSE" umount "$T/mnt"
	check_udfinfo "$img" "$p" > /dev/null
	"$UDF_MANIFEST" "$img" > "$T/engine" || fail "$p: udf_manifest failed"
	diff -u "$T/clist" "$T/engine" > "$T/diff" || { head -30 "$T/diff"; fail "$p: udf_manifest differs from the mount"; }
	pkt=$("$PKTFUSE" info "emu:$p:$img" | sed -n 's/^packet size: \([0-9]*\) sectors.*/\1/p')
	wear=$(awk -v P="$pkt" '$1 == "op=2A" { split($2, a, "="); split($3, b, "=");
		for (k = int(a[2] / P); k <= int((a[2] + b[2] - 1) / P); k++) w[k]++ }
		END { for (k in w) if (w[k] > m) m = w[k]; print m + 0 }' "$log")
	note "$p: $(wc -l < "$T/want") entries identical after remount; $writes WRITEs, all within the medium's rules; the most-written packet written $wear times"
done
echo "PASS: the files view writes on emulated CD-RW and DVD+RW within the media's rules"
