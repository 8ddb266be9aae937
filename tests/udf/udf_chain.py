#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The ICB chains of an image's root and its top-level entries, as a reader follows them.

udf_chain.py IMG [BLOCK_SIZE]   prints one line per entry: "NAME HOPS STRATEGY"
  NAME      "/" or "/name" (the root's directories and files, one level)
  HOPS      indirect entries followed from the block the FIDs name to the newest file entry
            (ICB strategy 4096: an Indirect Entry after an entry names the next; a terminal one,
            extent length 0, ends the chain; ECMA-167 4/14.6.2, Linux udf_read_inode)
  STRATEGY  the strategy of the first entry (4, or 4096 for an entry that moves)
For the writer's images (one partition, no sparing relocations): partition blocks map linearly.
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
fsd = blk(start + struct.unpack_from("<I", lvd, 248 + 4)[0])
root = struct.unpack_from("<I", fsd, 400 + 4)[0]


def part_blk(lbn):
    return blk(start + lbn)


def follow(lbn):
    """(hops, newest entry's block, first entry's strategy)"""
    hops, first = 0, None
    while True:
        b = part_blk(lbn)
        if tag(b) not in (261, 266) or tag_loc(b) != lbn:
            sys.exit(f"block {lbn}: no file entry (tag {tag(b)}, location {tag_loc(b)})")
        strategy = struct.unpack_from("<H", b, 20)[0]
        first = strategy if first is None else first
        if strategy != 4096:
            return hops, lbn, first
        ie = part_blk(lbn + 1)
        if tag(ie) != 259 or tag_loc(ie) != lbn + 1:
            return hops, lbn, first
        if struct.unpack_from("<I", ie, 36)[0] & 0x3FFFFFFF == 0:
            return hops, lbn, first
        lbn = struct.unpack_from("<I", ie, 36 + 4)[0]
        hops += 1
        if hops > 1024:
            sys.exit("more than 1,024 hops")


def contents(lbn):
    b = part_blk(lbn)
    efe = tag(b) == 266
    lea, lad = struct.unpack_from("<II", b, 208 if efe else 168)
    base = (216 if efe else 176) + lea
    size = struct.unpack_from("<Q", b, 56)[0]
    flags = struct.unpack_from("<H", b, 34)[0] & 7
    if flags == 3:
        return b[base:base + lad]
    if flags != 0:
        sys.exit("only short allocation descriptors are read here")
    data = b""
    for k in range(0, lad, 8):
        length, pos = struct.unpack_from("<II", b, base + k)
        for i in range(((length & 0x3FFFFFFF) + BS - 1) // BS):
            data += part_blk(pos + i)
    return data[:size]


def children(data):
    pos = 0
    while pos + 38 <= len(data) and tag(data[pos:]) == 257:
        ch, lfi = data[pos + 18], data[pos + 19]
        icb = struct.unpack_from("<I", data, pos + 20 + 4)[0]
        liu = struct.unpack_from("<H", data, pos + 36)[0]
        name = data[pos + 38 + liu:pos + 38 + liu + lfi]
        if not ch & 0x0C and lfi:  # neither deleted nor the parent
            yield (name[1:].decode("latin-1") if name[0] == 8 else name[1:].decode("utf-16-be")), icb
        pos += (38 + liu + lfi + 3) & ~3


hops, newest, strategy = follow(root)
print("/", hops, strategy)
for name, icb in children(contents(newest)):
    h, _, s = follow(icb)
    print("/" + name, h, s)
