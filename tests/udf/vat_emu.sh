#!/usr/bin/env bash
# Write-once discs in the emulator (emu:cd-r, emu:dvd-r, emu:dvd+r, emu:bd-r; skipped where the
# emulator has no write-once profiles): `pktfuse format` writes UDF 2.01 (BD-R: 2.50) with a VAT on
# the blank disc, the files view takes copies, a directory, a rename and a deletion in two sessions,
# a remount reads them back, the engine reads the disc's image the same, and the drive's log shows
# every write at the NWA, in whole write units (DVD±R ECC blocks of 16, BD-R clusters of 32) and
# none refused; a CD-R commit's last packet ends with its VAT.
set -euo pipefail
PKTFUSE=${PKTFUSE:?}
UDF_MANIFEST=${UDF_MANIFEST:?}
[ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ] || { echo "SKIP: needs root and /dev/fuse"; exit 77; }
W=$(mktemp -d)
mnt=$W/mnt
mkdir -p "$mnt"
trap 'fusermount3 -u "$mnt" 2> /dev/null || true; rm -rf "$W"' EXIT
fail() {
	echo "FAIL: $*"
	exit 1
}
SRC=$(cd "$(dirname "$0")/../../core/udf" && pwd)
. "$(dirname "$0")/rwlib.sh"
"$PKTFUSE" info "emu:dvd-r:$W/probe.img,size=64M" > /dev/null 2>&1 || { echo "SKIP: the emulator has no write-once profiles"; exit 77; }

for row in "cd-r 1 2.01" "dvd-r 16 2.01" "dvd+r 16 2.01" "bd-r 32 2.50"; do
	read -r p unit rev <<< "$row"
	img=$W/$p.img
	log=$W/$p.log
	S="emu:$p:$img,log=$log"
	"$PKTFUSE" format "$S,size=64M" > "$W/out" 2>&1 || { cat "$W/out"; fail "$p: format of the blank disc"; }
	grep -q "UDF $rev with a VAT" "$W/out" || fail "$p: the format did not say it wrote UDF $rev with a VAT: $(cat "$W/out")"
	"$PKTFUSE" "$S" "$mnt" || fail "$p: pktfuse cannot mount the disc"
	grep -q " $mnt fuse.pktfuse rw," /proc/mounts || fail "$p: the files view is not read-write"
	mkdir "$mnt/src"
	cp "$SRC"/*.c "$mnt/src/"
	mv "$mnt/src/udf_vat.c" "$mnt/vat.c"
	rm "$mnt/src/udf_dir.c"
	corpus_list "$mnt" > "$W/one"
	"$PKTFUSE" umount "$mnt" || fail "$p: pktfuse umount"
	"$PKTFUSE" "$S" "$mnt" || fail "$p: pktfuse cannot mount the disc again"
	corpus_list "$mnt" > "$W/again"
	diff -u "$W/one" "$W/again" || fail "$p: a remount shows another tree"
	cmp "$SRC/udf_vat.c" "$mnt/vat.c" || fail "$p: a copied file differs"
	mkdir "$mnt/src/more" && cp "$SRC"/*.h "$mnt/src/more/" && rm "$mnt/vat.c"
	corpus_list "$mnt" > "$W/two"
	"$PKTFUSE" umount "$mnt" || fail "$p: the second pktfuse umount"
	"$PKTFUSE" info "$S" > "$W/info" || fail "$p: info after two sessions"
	nwa=$(sed -n 's/^next writable address: //p' "$W/info")
	for line in "disc status: appendable" "sessions: 1 (the last one open)" "free: $((32768 - nwa)) sectors ($(awk -v s=$((32768 - nwa)) 'BEGIN{printf "%.1f", s*2048/1048576}') MiB)"; do
		grep -qxF "$line" "$W/info" || fail "$p: info lacks '$line': $(cat "$W/info")"
	done
	[ $((nwa % unit)) -eq 0 ] && [ "$nwa" -gt 288 ] || fail "$p: NWA $nwa after two sessions"
	grep -q "^  1: .*VAT at sector" "$W/info" || fail "$p: info lists fewer than two commits: $(cat "$W/info")"
	"$UDF_MANIFEST" "$img" > "$W/engine" || fail "$p: the engine cannot read the disc's image"
	diff -u "$W/two" "$W/engine" || fail "$p: the engine reads another tree than the files view wrote"
	writes=$(grep -c '^op=2A' "$log" || true)
	[ "$writes" -gt 3 ] || fail "$p: only $writes writes in the drive's log"
	if grep '^op=2A' "$log" | awk '{ split($2, l, "="); split($4, w, "="); if ($2 !~ /^lba=/ || $4 !~ /^nwa=/ || l[2] != w[2]) print }' | grep .; then
		fail "$p: a write away from the NWA"
	fi
	if grep '^op=2A' "$log" | awk -v u="$unit" '{ split($3, n, "="); if ($3 !~ /^n=/ || n[2] % u) print }' | grep .; then
		fail "$p: a write of part of a write unit of $unit sectors"
	fi
	if grep '^op=2A' "$log" | grep -v 'rule=ok' | grep .; then fail "$p: the drive refused writes"; fi
	echo "ok: $p: $(wc -l < "$W/two") entries in two sessions, $writes writes, all at the NWA"
done
# CD-R: a commit's last packet ends with its VAT (packets are variable, the 7 link blocks follow any
# packet): a small commit costs its own sectors and the link blocks, not a packet padded to 32
S="emu:cd-r:$W/cd-r.img,log=$W/cd-r.log"
nwa0=$("$PKTFUSE" info "$S" | sed -n 's/^next writable address: //p')
"$PKTFUSE" "$S" "$mnt" || fail "cd-r: mount for a small commit"
echo small > "$mnt/small"
"$PKTFUSE" umount "$mnt" || fail "cd-r: umount after a small commit"
"$PKTFUSE" info "$S" > "$W/info"
nwa1=$(sed -n 's/^next writable address: //p' "$W/info")
[ $((nwa1 - nwa0)) -lt 39 ] || fail "cd-r: a one-file commit took $((nwa1 - nwa0)) sectors (a padded packet and its link blocks)"
grep -q "^  0: .*VAT at sector $((nwa1 - 8)) (the newest)" "$W/info" || fail "cd-r: the VAT is not the last sector before the link blocks: $(cat "$W/info")"
grep '^op=2A' "$W/cd-r.log" | tail -1 | grep -q " n=$((nwa1 - nwa0 - 7)) " || fail "cd-r: the last write is not the short packet: $(grep '^op=2A' "$W/cd-r.log" | tail -1)"
echo "ok: cd-r: a small commit cost $((nwa1 - nwa0)) sectors (its packet of $((nwa1 - nwa0 - 7)) and 7 link blocks)"
# UDF 2.50/2.60 on a rewritable disc: a metadata partition (a VAT only on write-once ones)
"$PKTFUSE" format --revision 2.50 "emu:cdrw:$W/rw.img,size=32M" > "$W/out" 2> "$W/err" ||
	fail "cdrw --revision 2.50: $(cat "$W/err")"
grep -q "metadata partition" "$W/out" || fail "cdrw --revision 2.50: $(cat "$W/out")"
python3 "$(dirname "$0")/udf_meta_check.py" "$W/rw.img" --fresh > "$W/mc" || fail "cdrw --revision 2.50: $(cat "$W/mc")"
"$UDF_MANIFEST" "$W/rw.img" > /dev/null || fail "cdrw --revision 2.50: the engine cannot read it"
echo "ok: --revision 2.50 on a CD-RW: a metadata partition"
echo "PASS: write-once discs in the emulator: format, two sessions through the files view, every write at the NWA"
