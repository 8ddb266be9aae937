#!/usr/bin/env bash
# `pktfuse format`: for every media type and UDF revision 1.02 (plain media)/1.50/2.00/2.01 it writes an image whose
# layout udfinfo reports exactly as for the same mkudffs image (VRS, VDS, LVID, sparing tables,
# spare area, partition, anchors), with the label, revision and block size asked for, free space
# that agrees with the space bitmap bit for bit, a root directory pktfuse's reader and udfclient
# open; it refuses to overwrite a file system without --force, too small images, directories and bad
# options; and on the emulated CD-RW and DVD+RW every write obeys the medium's rules.
set -euo pipefail
PKTFUSE=${PKTFUSE:?}
MANIFEST_TOOL=${UDF_MANIFEST:?}
command -v udfinfo > /dev/null && command -v mkudffs > /dev/null || { echo "SKIP: udftools is not installed"; exit 77; }
command -v python3 > /dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
val() { awk -F= -v k="$1" '$1 == k {print $2}' "$2"; }

# Walks anchor → main VDS → PD → space bitmap; checks every volume descriptor's tag version, that
# the bitmap marks used exactly the bitmap, the FSD, its terminator and the root File Entry, that the
# root is in another 32-sector packet than the bitmap (each commit of the writer then writes each
# once), and that nothing lies beyond the partition; prints the number of free blocks.
cat > "$W/bitmap.py" << 'EOF'
import struct, sys
img, tagver = sys.argv[1], int(sys.argv[2])
f = open(img, 'rb')
def blk(n, count=1):
    f.seek(n * 2048)
    return f.read(2048 * count)
a = blk(256)
assert struct.unpack_from('<H', a, 0)[0] == 2, 'no anchor at 256'
vlen, vloc = struct.unpack_from('<II', a, 16)
part = None
for i in range(vlen // 2048):
    d = blk(vloc + i)
    tid, ver = struct.unpack_from('<HH', d, 0)
    if tid == 0:
        break
    assert ver == tagver, 'descriptor %d has tag version %d' % (tid, ver)
    if tid == 5:
        part = d
    if tid == 6:
        fsd_lbn = struct.unpack_from('<I', d, 252)[0]
    if tid == 8:
        break
assert part is not None, 'no partition descriptor'
start, length = struct.unpack_from('<II', part, 188)
bm_len, bm_pos = struct.unpack_from('<II', part, 64)
assert bm_len > 0, 'no unallocated space bitmap'
sbd = blk(start + bm_pos, (bm_len + 2047) // 2048)
tid, ver = struct.unpack_from('<HH', sbd, 0)
assert tid == 264 and ver == tagver, 'space bitmap tag %d version %d' % (tid, ver)
nbits, nbytes = struct.unpack_from('<II', sbd, 16)
assert nbits == length and nbytes == (length + 7) // 8, 'bitmap size %d/%d for %d blocks' % (nbits, nbytes, length)
bits = sbd[24:24 + nbytes]
free = [(bits[b // 8] >> (b % 8)) & 1 for b in range(nbytes * 8)]
assert not any(free[length:]), 'free bits beyond the partition'
fsd = blk(start + fsd_lbn)
assert struct.unpack_from('<H', fsd, 0)[0] == 256, 'no FSD where the LVD says'
root = struct.unpack_from('<I', fsd, 404)[0]
bm_blocks = (bm_len + 2047) // 2048
want = set(range(bm_pos, bm_pos + bm_blocks)) | {fsd_lbn, fsd_lbn + 1, root}
used = {b for b in range(length) if not free[b]}
assert used == want, 'used blocks %s, expected %s' % (sorted(used)[:20], sorted(want))
assert (start + root) // 32 != (start + bm_pos + bm_blocks - 1) // 32, 'the root shares the bitmap\'s packet'
print(sum(free))
EOF

# mkudffs's name for the same layout
mk_media() { case $1 in dvd+rw) echo dvdram ;; bdre) echo hd ;; *) echo "$1" ;; esac; }

uc_ok=0
have_uc=$(command -v udfclient || true)
n=0
for media in hd cdrw dvdrw dvdram dvd+rw bdre; do
	for rev in 1.02 1.50 2.00 2.01; do
		case $media-$rev in cdrw-1.02 | dvdrw-1.02) continue ;; esac # no sparable partition in 1.02
		img="$W/img"
		rm -f "$img"
		truncate -s 48M "$img"
		label="F-${media}-${rev/./}"
		"$PKTFUSE" format "$img" --media "$media" --revision "$rev" --label "$label" --uid 1234 --gid 2345 \
			--mode 0750 > "$W/out" 2> "$W/err" || fail "$media $rev: format failed: $(cat "$W/err")"
		udfinfo "$img" > "$W/info" 2> /dev/null || fail "$media $rev: udfinfo cannot read it"
		[ "$(val label "$W/info")" = "$label" ] || fail "$media $rev: label $(val label "$W/info")"
		[ "$(val udfrev "$W/info")" = "$rev" ] || fail "$media $rev: udfrev $(val udfrev "$W/info")"
		[ "$(val blocksize "$W/info")" = 2048 ] || fail "$media $rev: block size"
		[ "$(val integrity "$W/info")" = closed ] || fail "$media $rev: integrity $(val integrity "$W/info")"
		[ "$(val numfiles "$W/info")/$(val numdirs "$W/info")" = 0/1 ] || fail "$media $rev: files/dirs"
		# the same layout as mkudffs's
		rm -f "$W/mk"
		truncate -s 48M "$W/mk"
		mkudffs --media-type="$(mk_media "$media")" --udfrev="$rev" --blocksize=2048 "$W/mk" > /dev/null 2>&1
		udfinfo "$W/mk" > "$W/mkinfo" 2> /dev/null
		diff <(grep '^start=' "$W/mkinfo") <(grep '^start=' "$W/info") > "$W/diff" ||
			{ cat "$W/diff"; fail "$media $rev: the layout differs from mkudffs's"; }
		case $media in
		cdrw) grep -qx 'start=1312, blocks=22976, type=PSPACE' "$W/info" && grep -q 'type=STABLE' "$W/info" || fail "$media: not sparable" ;;
		dvdrw) grep -qx 'start=1296, blocks=23008, type=PSPACE' "$W/info" && grep -q 'type=SSPACE' "$W/info" || fail "$media: not sparable" ;;
		*) grep -qx 'start=257, blocks=24056, type=PSPACE' "$W/info" && ! grep -q STABLE "$W/info" || fail "$media: not plain" ;;
		esac
		# free space: udfinfo (the LVID), our reader and the bitmap agree, and it is the whole
		# partition but the bitmap (2 blocks), the FSD, its terminator and the root
		tagver=3
		case $rev in 1.02 | 1.50) tagver=2 ;; esac
		bitmap_free=$(python3 "$W/bitmap.py" "$img" "$tagver") || fail "$media $rev: bitmap"
		pspace=$(sed -n 's/^start=[0-9]*, blocks=\([0-9]*\), type=PSPACE$/\1/p' "$W/info")
		free=$(val freeblocks "$W/info")
		[ "$free" = "$bitmap_free" ] || fail "$media $rev: udfinfo says $free free, the bitmap $bitmap_free"
		[ "$free" -eq $((pspace - 5)) ] || fail "$media $rev: $free free of $pspace"
		"$MANIFEST_TOOL" --statfs "$img" > "$W/ours" || fail "$media $rev: our reader cannot mount it"
		[ "$(val freeblocks "$W/ours")" = "$free" ] || fail "$media $rev: our reader says $(val freeblocks "$W/ours") free"
		[ "$(val label "$W/ours")" = "$label" ] || fail "$media $rev: our reader's label"
		got=$("$MANIFEST_TOOL" "$img")
		[ "$got" = "D|.|750 1234 2345" ] || fail "$media $rev: root is '$got'"
		if [ -n "$have_uc" ]; then
			vol=$(printf 'ls\nquit\n' | timeout 60 udfclient -b 2048 "$img" 2> /dev/null |
				awk '/^d/ && $5 != "." && $5 != ".." {print $5; exit}')
			[ -n "$vol" ] || fail "$media $rev: udfclient shows no volume"
			printf 'cd %s\nls\nquit\n' "$vol" | timeout 60 udfclient -b 2048 "$img" > "$W/uc" 2>&1 ||
				fail "$media $rev: udfclient failed"
			grep -q "working directory is *//*$vol" "$W/uc" && grep -qE '^d.* [.]$' "$W/uc" ||
				{ tail "$W/uc"; fail "$media $rev: udfclient cannot open the root"; }
			uc_ok=$((uc_ok + 1))
		fi
		echo "ok: $media UDF $rev: $(grep -c '^start=' "$W/info") areas as mkudffs, $free of $pspace blocks free"
		n=$((n + 1))
	done
done

# ---- every block size UDF allows (plain layout): the layout, block size and free space of mkudffs's ----
for bs in 512 1024 2048 4096; do
	for rev in 1.50 2.01; do
		img="$W/img"
		rm -f "$img" "$W/mk"
		truncate -s 48M "$img" "$W/mk"
		"$PKTFUSE" format "$img" --block-size "$bs" --revision "$rev" > "$W/out" 2> "$W/err" ||
			fail "b$bs $rev: format failed: $(cat "$W/err")"
		grep -q "blocks of $bs bytes" "$W/out" || fail "b$bs $rev: $(cat "$W/out")"
		udfinfo "$img" > "$W/info" 2> /dev/null || fail "b$bs $rev: udfinfo cannot read it"
		[ "$(val blocksize "$W/info")" = "$bs" ] || fail "b$bs $rev: udfinfo block size $(val blocksize "$W/info")"
		[ "$(val udfrev "$W/info")" = "$rev" ] || fail "b$bs $rev: udfrev $(val udfrev "$W/info")"
		[ "$(val integrity "$W/info")" = closed ] || fail "b$bs $rev: integrity $(val integrity "$W/info")"
		mkudffs --media-type=hd --udfrev="$rev" --blocksize="$bs" "$W/mk" > /dev/null 2>&1
		udfinfo "$W/mk" > "$W/mkinfo" 2> /dev/null
		diff <(grep '^start=' "$W/mkinfo") <(grep '^start=' "$W/info") > "$W/diff" ||
			{ cat "$W/diff"; fail "b$bs $rev: the layout differs from mkudffs's"; }
		"$MANIFEST_TOOL" --statfs "$img" > "$W/ours" || fail "b$bs $rev: our reader cannot mount it"
		[ "$(val freeblocks "$W/ours")" = "$(val freeblocks "$W/info")" ] ||
			fail "b$bs $rev: our reader says $(val freeblocks "$W/ours") free, udfinfo $(val freeblocks "$W/info")"
		echo "ok: b$bs UDF $rev: the areas of mkudffs, $(val freeblocks "$W/info") blocks free"
	done
done

# ---- refusals: one line, the right exit status, nothing changed ----
refuse() { # refuse STATUS WORD ARGS...
	local want=$1 word=$2 rc=0
	shift 2
	"$PKTFUSE" format "$@" > "$W/rout" 2> "$W/rerr" || rc=$?
	[ "$rc" -eq "$want" ] || fail "format $*: exit $rc, wanted $want ($(cat "$W/rerr"))"
	[ "$(wc -l < "$W/rerr")" -eq 1 ] || fail "format $*: not one line: $(cat "$W/rerr")"
	grep -qi -- "$word" "$W/rerr" || fail "format $*: message lacks '$word': $(cat "$W/rerr")"
	echo "ok: refused: format $* → $(cat "$W/rerr")"
}
img="$W/img"
sum=$(sha256sum < "$img")
refuse 1 "already holds a UDF file system" "$img"
refuse 1 "already holds a UDF file system" "$img" --media cdrw --label other
[ "$(sha256sum < "$img")" = "$sum" ] || fail "a refused format changed the image"
"$PKTFUSE" format "$img" --force --label again --media cdrw > /dev/null || fail "--force did not overwrite"
[ "$("$MANIFEST_TOOL" --statfs "$img" | awk -F= '$1 == "label" {print $2}')" = again ] || fail "--force: label"
if command -v mkfs.ext2 > /dev/null; then
	rm -f "$W/ext"
	truncate -s 8M "$W/ext"
	mkfs.ext2 -q -F "$W/ext"
	refuse 1 "ext2/3/4" "$W/ext"
fi
rm -f "$W/mk.iso"
truncate -s 4M "$W/mk.iso"
printf '\001CD001\001' | dd of="$W/mk.iso" bs=1 seek=32768 conv=notrunc status=none
refuse 1 "ISO 9660" "$W/mk.iso"
truncate -s 512K "$W/small"
refuse 1 "too small" "$W/small"
truncate -s 2M "$W/small2"
refuse 1 "too small for UDF on cdrw" "$W/small2" --media cdrw
"$PKTFUSE" format "$W/small2" > /dev/null || fail "2 MiB plain image refused"
mkdir "$W/dir"
refuse 1 "is a directory" "$W/dir"
refuse 1 "No such file" "$W/none.img"
truncate -s 48M "$W/bad"
refuse 2 "--revision" "$W/bad" --revision 2.61
refuse 2 "--revision" "$W/bad" --revision=1.01
refuse 1 "UDF 1.02 has no sparable partition: cdrw takes 1.50 or later" "$W/bad" --revision 1.02 --media cdrw
refuse 1 "UDF 1.02 has no sparable partition: dvdrw takes 1.50 or later" "$W/bad" --revision 1.02 --media dvdrw
refuse 2 "--media" "$W/bad" --media zip
refuse 2 "--block-size" "$W/bad" --block-size 1000
refuse 2 "--block-size" "$W/bad" --block-size=8192
refuse 1 "sparable layout (cdrw) takes 2048-byte blocks only" "$W/bad" --block-size 1024 --media cdrw
refuse 1 "sparable layout (dvdrw) takes 2048-byte blocks only" "$W/bad" --block-size 4096 --media dvdrw
refuse 2 "write-once discs have sectors of 2048 bytes" "$W/bad.cdr" --block-size 512 --media cdr
[ ! -e "$W/bad.cdr" ] || fail "a refused write-once format created the image"
refuse 2 "--uid" "$W/bad" --uid abc
refuse 2 "--gid" "$W/bad" --gid -5
refuse 2 "--mode" "$W/bad" --mode 999
refuse 2 "--mode" "$W/bad" --mode 17777
refuse 2 "too long" "$W/bad" --label "a label far longer than thirty-one bytes"
refuse 2 "needs a value" "$W/bad" --label
refuse 2 "unknown option" "$W/bad" --bogus
refuse 2 "--no-udf" "$W/bad" --no-udf
refuse 2 "--quick" "$W/bad" --quick --full
refuse 2 "one SOURCE" "$W/bad" "$W/bad2"
refuse 2 "--media applies to image files" "emu:cdrw:$W/never.img,size=48M" --media cdrw
[ ! -e "$W/never.img" ] || fail "a refused emu: format created the disc"
[ "$(head -c 65536 "$W/bad" | tr -d '\0' | wc -c)" -eq 0 ] || fail "a refused format wrote to the image"

# ---- the emulated drives: medium format, then UDF, every write within the medium's rules ----
for p in cdrw dvd+rw; do
	disc="$W/$p.disc"
	log="$W/$p.log"
	S="emu:$p:$disc,size=48M,log=$log"
	"$PKTFUSE" format "$S" --label "E-$p" > "$W/out" 2> "$W/err" || fail "$p: format failed: $(cat "$W/err")"
	writes=$(grep -c '^op=2A' "$log" || true)
	[ "$writes" -gt 0 ] || fail "$p: no writes reached the emulator"
	if grep '^op=2A' "$log" | grep -v 'rule=ok rmw=0 status=GOOD' | sed -n 1,3p | grep .; then
		fail "$p: writes that broke the medium's rules"
	fi
	grep -q '^op=35' "$log" || fail "$p: no SYNCHRONIZE CACHE reached the drive"
	udfinfo "$disc" > "$W/info" 2> /dev/null || fail "$p: udfinfo cannot read the disc"
	[ "$(val label "$W/info")" = "E-$p" ] || fail "$p: label"
	if [ "$p" = cdrw ]; then
		grep -q 'type=STABLE' "$W/info" && grep -q 'type=SSPACE' "$W/info" || fail "$p: no sparing on the CD-RW"
		grep -q 'packets of 32' "$W/out" || fail "$p: $(cat "$W/out")"
	else
		! grep -q 'type=STABLE' "$W/info" || fail "$p: sparing on a DVD+RW"
	fi
	[ "$("$MANIFEST_TOOL" "$disc")" = "D|.|755 $(id -u) $(id -g)" ] || fail "$p: root"
	sum=$(sha256sum < "$disc")
	refuse 1 "holds a UDF file system" "emu:$p:$disc"
	[ "$(sha256sum < "$disc")" = "$sum" ] || fail "$p: a refused format changed the disc"
	: > "$log"
	"$PKTFUSE" format "emu:$p:$disc,log=$log" --force --revision 1.50 --label again > /dev/null 2> "$W/err" ||
		fail "$p: --force: $(cat "$W/err")"
	if grep '^op=2A' "$log" | grep -v 'rule=ok rmw=0 status=GOOD' | sed -n 1,3p | grep .; then
		fail "$p: writes that broke the medium's rules (again)"
	fi
	[ "$(udfinfo "$disc" 2> /dev/null | awk -F= '$1 == "udfrev" {print $2}')" = 1.50 ] || fail "$p: --revision 1.50"
	# --no-udf: the medium format alone, as before
	rm -f "$W/nu.disc" "$W/nu.disc.state"
	"$PKTFUSE" format "emu:$p:$W/nu.disc,size=48M" --no-udf > /dev/null 2> "$W/err" || fail "$p: --no-udf: $(cat "$W/err")"
	! udfinfo "$W/nu.disc" > /dev/null 2>&1 || fail "$p: --no-udf wrote a file system"
	echo "ok: emu:$p: medium format and UDF in $writes writes, all within the medium's rules"
done
[ -z "$have_uc" ] || [ "$uc_ok" -eq "$n" ] || fail "udfclient checked $uc_ok of $n"
echo "PASS: $n formatted images (6 media × 3 revisions, and 1.02 on the 4 plain ones) read by udfinfo, our reader${have_uc:+ and udfclient}; refusals; emulated CD-RW and DVD+RW"
