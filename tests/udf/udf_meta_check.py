#!/usr/bin/env python3
"""udf_meta_check.py IMAGE [--fresh]: checks a UDF 2.50/2.60 image with a metadata partition.

The metadata partition map (UDF 2.50 2.2.10: locations, allocation and alignment unit, the duplicate
flag), the metadata file (250), its mirror (251) and the metadata bitmap file (252) as Extended File
Entries with short allocation descriptors, extents aligned to the alignment unit and the mirror's far
from the metadata file's; the mirror's blocks equal the metadata file's; the FSD at block 0 of the
metadata partition; the LVID with a free-space and size entry per partition map, whose free counts are
the two bitmaps' and minimum read revision 2.50.  --fresh: just formatted, so exactly the format's
structures are in use, and the copies are compared block for block, not just where the metadata
bitmap says used.  Prints "free PHYS META"; exits 1 with the reason on the first problem.
"""
import struct
import sys


def fail(msg):
    print('udf_meta_check: ' + msg)
    sys.exit(1)


img = open(sys.argv[1], 'rb').read()
fresh = '--fresh' in sys.argv
bs = None
for b in (512, 1024, 2048, 4096):
    if len(img) >= 257 * b and struct.unpack_from('<H', img, 256 * b)[0] == 2 and \
            struct.unpack_from('<I', img, 256 * b + 12)[0] == 256:
        bs = b
        break
if not bs:
    fail('no anchor at 256')


def blk(n, count=1):
    return img[n * bs:(n + count) * bs]


vlen, vloc = struct.unpack_from('<II', blk(256), 16)
lvd = pd = None
for i in range(vlen // bs):
    d = blk(vloc + i)
    tid = struct.unpack_from('<H', d, 0)[0]
    if tid == 5:
        pd = d
    elif tid == 6:
        lvd = d
    elif tid in (0, 8):
        break
if not lvd or not pd:
    fail('no LVD or PD in the main sequence')
start, plen = struct.unpack_from('<II', pd, 188)
rev = struct.unpack_from('<H', lvd, 216 + 24)[0]
nmaps = struct.unpack_from('<I', lvd, 268)[0]
mtl = struct.unpack_from('<I', lvd, 264)[0]
maps = lvd[440:440 + mtl]
if nmaps != 2:
    fail('%d partition maps, not 2' % nmaps)
m = maps[maps[1]:]
if m[0] != 2 or m[1] != 64 or m[5:28] != b'*UDF Metadata Partition':
    fail('map 1 is not a metadata partition map')
meta_loc, mirror_loc, mbm_loc, alloc_unit = struct.unpack_from('<IIII', m, 40)
align_unit = struct.unpack_from('<H', m, 56)[0]
if not m[58] & 1:
    fail('the duplicate metadata flag is not set')
if alloc_unit == 0 or align_unit == 0 or start % align_unit:
    fail('allocation unit %d, alignment unit %d, partition start %d' % (alloc_unit, align_unit, start))
if struct.unpack_from('<H', lvd, 256)[0] != 1:
    fail('the FSD is not in the metadata partition')


def entry(lbn, ftype):
    """The extents (start, blocks, bytes) of the Extended File Entry of type ftype at lbn."""
    d = blk(start + lbn)
    tid, loc = struct.unpack_from('<H', d, 0)[0], struct.unpack_from('<I', d, 12)[0]
    if tid != 266 or loc != lbn:
        fail('block %d: no Extended File Entry (tag %d at %d)' % (lbn, tid, loc))
    if d[27] != ftype:
        fail('block %d: file type %d, not %d' % (lbn, d[27], ftype))
    if struct.unpack_from('<H', d, 34)[0] & 7 != 0:
        fail('file type %d: not short allocation descriptors' % ftype)
    size = struct.unpack_from('<Q', d, 56)[0]
    lea, lad = struct.unpack_from('<II', d, 208)
    exts, total = [], 0
    for o in range(216 + lea, 216 + lea + lad, 8):
        ln, pos = struct.unpack_from('<II', d, o)
        if ln >> 30:
            fail('file type %d: an extent of type %d' % (ftype, ln >> 30))
        exts.append((pos, ((ln & 0x3FFFFFFF) + bs - 1) // bs))
        total += ln & 0x3FFFFFFF
    if total != size:
        fail('file type %d: extents of %d bytes for %d' % (ftype, total, size))
    return exts, size


meta, msize = entry(meta_loc, 250)
mirror, mirsize = entry(mirror_loc, 251)
mbm, mbm_size = entry(mbm_loc, 252)
if msize != mirsize or msize % (alloc_unit * bs):
    fail('metadata file %d bytes, mirror %d, allocation unit %d blocks' % (msize, mirsize, alloc_unit))
for p, n in meta + mirror:
    if p % align_unit or n % alloc_unit:
        fail('an extent at %d of %d blocks is not aligned to %d/%d' % (p, n, align_unit, alloc_unit))
if abs(mirror[0][0] - meta[0][0]) < plen // 4 or abs(mirror_loc - meta_loc) < plen // 4:
    fail('the mirror (%d) is near the metadata file (%d)' % (mirror[0][0], meta[0][0]))


def data(exts):
    return b''.join(blk(start + p, n) for p, n in exts)


mdata, mirdata = data(meta), data(mirror)
mblocks = msize // bs


def sbd_free(d, nbits_want, loc):
    tid = struct.unpack_from('<H', d, 0)[0]
    if tid != 264 or struct.unpack_from('<I', d, 12)[0] != loc:
        fail('no space bitmap descriptor at %d' % loc)
    nbits, nbytes = struct.unpack_from('<II', d, 16)
    if nbits != nbits_want or nbytes < (nbits + 7) // 8:
        fail('a bitmap of %d bits for %d blocks' % (nbits, nbits_want))
    return [(d[24 + b // 8] >> (b % 8)) & 1 for b in range(nbits)]


bm_len, bm_pos = struct.unpack_from('<II', pd, 64)
free = sbd_free(blk(start + bm_pos, (bm_len + bs - 1) // bs), plen, bm_pos)
mfree = sbd_free(data(mbm)[:mbm_size], mblocks, mbm[0][0])
# the copies: identical where the metadata bitmap says used (after a crash pktfuse renews only
# those), and everywhere on a fresh or never crashed volume
diff = [i for i in range(mblocks) if (fresh or not mfree[i]) and mdata[i * bs:(i + 1) * bs] != mirdata[i * bs:(i + 1) * bs]]
if diff:
    fail('the mirror differs from the metadata file in %d blocks, first %d' % (len(diff), diff[0]))
fsd = mdata[0:bs]
if struct.unpack_from('<H', fsd, 0)[0] != 256 or struct.unpack_from('<I', fsd, 12)[0] != 0:
    fail('no FSD at block 0 of the metadata partition')
root = struct.unpack_from('<I', fsd, 404)[0]
if struct.unpack_from('<H', fsd, 408)[0] != 1 or struct.unpack_from('<H', mdata, root * bs)[0] != 266:
    fail('the root is not an Extended File Entry in the metadata partition')
# every structure of the physical partition the bitmap must call used
want = set(range(bm_pos, bm_pos + (bm_len + bs - 1) // bs)) | {meta_loc, mirror_loc, mbm_loc}
for p, n in meta + mirror + mbm:
    want |= set(range(p, p + n))
used = {b for b in range(plen) if not free[b]}
if not want <= used:
    fail('the space bitmap calls free blocks of the metadata files: %s' % sorted(want - used)[:10])
if fresh and used != want:
    fail('blocks in use after a format: %s' % sorted(used - want)[:10])
mused = {b for b in range(mblocks) if not mfree[b]}
if not {0, 1, root} <= mused or (fresh and mused != {0, 1, root}):
    fail('the metadata bitmap calls used %s' % sorted(mused)[:10])
lvid_len, lvid_loc = struct.unpack_from('<II', lvd, 432)
lv = blk(lvid_loc)
if struct.unpack_from('<H', lv, 0)[0] != 9 or struct.unpack_from('<I', lv, 72)[0] != 2:
    fail('no LVID with two partitions')
lfree = struct.unpack_from('<II', lv, 80)
lsize = struct.unpack_from('<II', lv, 88)
closed = struct.unpack_from('<I', lv, 28)[0] == 1
if lsize != (plen, mblocks):
    fail('LVID sizes %s, not %s' % (lsize, (plen, mblocks)))
if closed and lfree != (sum(free), sum(mfree)):
    fail('LVID free %s, the bitmaps %s' % (lfree, (sum(free), sum(mfree))))
minr, minw, maxw = struct.unpack_from('<HHH', lv, 96 + 40)
if minr != 0x250 or minw != rev or maxw < rev:
    fail('LVID revisions %x %x %x for %x' % (minr, minw, maxw, rev))
print('free %d %d' % (sum(free), sum(mfree)))
