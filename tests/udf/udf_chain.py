#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The ICB chains of an image's root and its top-level entries, as a reader follows them.

udf_chain.py IMG [BLOCK_SIZE]   prints one line per entry: "NAME HOPS STRATEGY"
  NAME      "/" or "/name" (the root's directories and files, one level)
  HOPS      indirect entries followed from the block the FIDs name to the newest file entry
            (ICB strategy 4096: an Indirect Entry after an entry names the next; a terminal one,
            extent length 0, ends the chain; ECMA-167 4/14.6.2, Linux udf_read_inode)
  STRATEGY  the strategy of the first entry (4, or 4096 for an entry that moves)
For the writer's images (one partition, no sparing relocations): partition blocks map linearly;
with a metadata partition (UDF 2.50+) its blocks map through the metadata file's extents.
Written independently of pktfuse's reader, so that the tests compare two readings.
"""
import struct
import sys

img = open(sys.argv[1], "rb")
BS = int(sys.argv[2]) if len(sys.argv) > 2 else 2048


def blk(sector):
    img.seek(sector * BS)
    return img.read(BS)


def tag(b):
    return struct.unpack_from("<H", b, 0)[0]


def tag_loc(b):
    return struct.unpack_from("<I", b, 12)[0]


start = next(struct.unpack_from("<I", blk(s), 188)[0] for s in range(16, 512) if tag(blk(s)) == 5)
lvd = next(blk(s) for s in range(16, 512) if tag(blk(s)) == 6)
# partition maps: a metadata partition's (type 2, "*UDF Metadata Partition") blocks are the
# metadata file's, whose Extended File Entry is at a block of the physical partition
meta_map, meta_ext = None, []
pos = 440
for i in range(struct.unpack_from("<I", lvd, 268)[0]):
    if lvd[pos] == 2 and lvd[pos + 5:pos + 28].rstrip(b"\0") == b"*UDF Metadata Partition":
        meta_map = i
        fe = blk(start + struct.unpack_from("<I", lvd, pos + 40)[0])
        lea, lad = struct.unpack_from("<II", fe, 208)
        for k in range(0, lad, 8):
            length, where = struct.unpack_from("<II", fe, 216 + lea + k)
            meta_ext.append((where, (length & 0x3FFFFFFF) // BS))
    pos += lvd[pos + 1]


def part_blk(lbn, part=0):
    if part == meta_map:
        for where, n in meta_ext:
            if lbn < n:
                return blk(start + where + lbn)
            lbn -= n
        sys.exit("a block past the metadata file")
    return blk(start + lbn)


fsd = part_blk(struct.unpack_from("<I", lvd, 248 + 4)[0], struct.unpack_from("<H", lvd, 248 + 8)[0])
root = struct.unpack_from("<I", fsd, 400 + 4)[0]
root_part = struct.unpack_from("<H", fsd, 400 + 8)[0]


def follow(lbn, part):
    """(hops, newest entry's block, first entry's strategy)"""
    hops, first = 0, None
    while True:
        b = part_blk(lbn, part)
        if tag(b) not in (261, 266) or tag_loc(b) != lbn:
            sys.exit(f"block {lbn}: no file entry (tag {tag(b)}, location {tag_loc(b)})")
        strategy = struct.unpack_from("<H", b, 20)[0]
        first = strategy if first is None else first
        if strategy != 4096:
            return hops, lbn, first
        ie = part_blk(lbn + 1, part)
        if tag(ie) != 259 or tag_loc(ie) != lbn + 1:
            return hops, lbn, first
        if struct.unpack_from("<I", ie, 36)[0] & 0x3FFFFFFF == 0:
            return hops, lbn, first
        lbn = struct.unpack_from("<I", ie, 36 + 4)[0]
        hops += 1
        if hops > 1024:
            sys.exit("more than 1,024 hops")


def contents(lbn, part):
    b = part_blk(lbn, part)
    efe = tag(b) == 266
    lea, lad = struct.unpack_from("<II", b, 208 if efe else 168)
    base = (216 if efe else 176) + lea
    size = struct.unpack_from("<Q", b, 56)[0]
    flags = struct.unpack_from("<H", b, 34)[0] & 7
    if flags == 3:
        return b[base:base + lad]
    if flags not in (0, 1):
        sys.exit("only short and long allocation descriptors are read here")
    data = b""
    for k in range(0, lad, 8 if flags == 0 else 16):
        length, pos = struct.unpack_from("<II", b, base + k)
        dpart = part if flags == 0 else struct.unpack_from("<H", b, base + k + 8)[0]
        for i in range(((length & 0x3FFFFFFF) + BS - 1) // BS):
            data += part_blk(pos + i, dpart)
    return data[:size]


def children(data):
    pos = 0
    while pos + 38 <= len(data) and tag(data[pos:]) == 257:
        ch, lfi = data[pos + 18], data[pos + 19]
        icb, ipart = struct.unpack_from("<IH", data, pos + 20 + 4)
        liu = struct.unpack_from("<H", data, pos + 36)[0]
        name = data[pos + 38 + liu:pos + 38 + liu + lfi]
        if not ch & 0x0C and lfi:  # neither deleted nor the parent
            yield (name[1:].decode("latin-1") if name[0] == 8 else name[1:].decode("utf-16-be")), icb, ipart
        pos += (38 + liu + lfi + 3) & ~3


hops, newest, strategy = follow(root, root_part)
print("/", hops, strategy)
for name, icb, ipart in children(contents(newest, root_part)):
    h, _, s = follow(icb, ipart)
    print("/" + name, h, s)
