#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""udf_damage.py IMAGE ACTION ARGS...: damages a UDF image on purpose, for pktfuse check's tests.

The on-disc field offsets are read from core/udf/ecma167.h (the names the engine uses).  Images with
one physical or sparable partition (what pktfuse format and mkudffs make); every edited descriptor's
tag checksum and CRC are made right again, so that only the damage named is left.

Actions:
  lvid-open                 the integrity descriptor says open (not cleanly unmounted)
  bitmap-free PATH          the blocks PATH uses (file entry and data) marked free in the space bitmap
  bitmap-leak N             N free blocks (the last ones of the partition) marked used
  nlink PATH N              PATH's file entry records link count N
  orphan PATH               PATH's name is marked deleted: its file entry is reachable from nowhere
  rename-record DIR A B     the record of name A in DIR says B (same length): B recorded twice
  alias PATH DIRPATH        the name PATH (a file) points to the directory DIRPATH: two names for it
  parent DIRPATH OTHERDIR   DIRPATH's parent entry (its "..") names OTHERDIR
  lvid-files N              the integrity descriptor records N files
  blocks PATH               prints the partition blocks PATH's file entry and data use
  meta-entry file|mirror|bitmap
                            prints the sector of a UDF 2.50+ metadata partition's metadata file's
                            (or mirror's, or metadata bitmap file's) entry, for dd to damage (the
                            tree is not read)
  sparing-copy N            prints the sector of copy N (1, 2...) of a sparable partition's sparing
                            table, for dd to damage (the tree is not read)
"""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
E = {}
with open(os.path.join(HERE, "..", "..", "core", "udf", "ecma167.h")) as f:
    for m in re.finditer(r"^#define\s+(\w+)\s+(0x[0-9A-Fa-f]+|\d+)u?\b", f.read(), re.M):
        E[m.group(1)] = int(m.group(2), 0)
TAG_PD, TAG_LVD, TAG_TD, TAG_LVID, TAG_FSD, TAG_FID, TAG_FE, TAG_SBD, TAG_EFE = 5, 6, 8, 9, 256, 257, 261, 264, 266


def die(msg):
    print("udf_damage: " + msg, file=sys.stderr)
    sys.exit(2)


def crc_itu(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def tag_finish(buf, off):
    """Recomputes the CRC (over the recorded CRC length) and checksum of the tag at buf[off]."""
    n = struct.unpack_from("<H", buf, off + E["TAG_CRC_LENGTH"])[0]
    struct.pack_into("<H", buf, off + E["TAG_CRC"], crc_itu(buf[off + 16 : off + 16 + n]))
    buf[off + E["TAG_CHECKSUM"]] = sum(buf[off + i] for i in range(16) if i != 4) & 0xFF


def u16(b, o):
    return struct.unpack_from("<H", b, o)[0]


def u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


class Image:
    def __init__(self, path):
        self.f = open(path, "r+b")
        self.bs = 2048
        for bs in (2048, 512, 1024, 4096):
            self.bs = bs
            a = self.sector(E["AVDP_SECTOR"])
            if u16(a, 0) == 2:
                break
        else:
            die("no anchor at sector 256")
        loc, ln = u32(a, E["AVDP_MAIN_VDS"] + E["EXT_LOC"]), u32(a, E["AVDP_MAIN_VDS"] + E["EXT_LEN"])
        self.pstart = None
        for s in range(loc, loc + ln // self.bs):
            d = self.sector(s)
            t = u16(d, 0)
            if t == TAG_PD:
                self.pstart = u32(d, E["PD_START"])
                self.plen = u32(d, E["PD_LENGTH"])
                phd = E["PD_CONTENTS_USE"] + E["PHD_UNALLOC_BITMAP"]
                self.sbd_len, self.sbd_lbn = u32(d, phd) & E["AD_LEN_MASK"], u32(d, phd + E["SAD_POS"])
            elif t == TAG_LVD:
                self.lvd = d
                self.fsd_lbn = u32(d, E["LVD_FSD"] + E["LAD_LBN"])
                self.lvid_ext = (u32(d, E["LVD_INTEGRITY_SEQ"] + E["EXT_LOC"]),
                                 u32(d, E["LVD_INTEGRITY_SEQ"] + E["EXT_LEN"]))
            elif t == TAG_TD:
                break
        if self.pstart is None:
            die("no partition descriptor")

    def tree(self):
        """The root, from the file set descriptor in the physical partition (no metadata partition)."""
        fsd = self.block(self.fsd_lbn)
        if u16(fsd, 0) != TAG_FSD:
            die("no file set descriptor")
        self.root = u32(fsd, E["FSD_ROOT_ICB"] + E["LAD_LBN"])

    def type2_map(self, name):
        """The bytes of the type 2 partition map whose identifier is name, or die."""
        o, end = E["LVD_PARTITION_MAPS"], E["LVD_PARTITION_MAPS"] + u32(self.lvd, E["LVD_MAP_TABLE_LENGTH"])
        while o < end and self.lvd[o + E["PMAP_LENGTH"]]:
            m = self.lvd[o : o + self.lvd[o + E["PMAP_LENGTH"]]]
            ident = E["PMAP2_IDENT"] + E["REGID_IDENT"]
            if m[E["PMAP_TYPE"]] == 2 and m[ident : ident + len(name)] == name:
                return m
            o += len(m)
        die("no partition map " + name.decode())

    def meta_map(self):
        """The metadata partition map's bytes (UDF 2.50+), or die."""
        return self.type2_map(b"*UDF Metadata Partition")

    def sector(self, s, n=1):
        self.f.seek(s * self.bs)
        return bytearray(self.f.read(n * self.bs))

    def put_sector(self, s, data):
        self.f.seek(s * self.bs)
        self.f.write(data)

    def block(self, lbn, n=1):
        return self.sector(self.pstart + lbn, n)

    def put_block(self, lbn, data):
        self.put_sector(self.pstart + lbn, data)

    # ---- file entries ----
    def fe(self, lbn):
        b = self.block(lbn)
        t = u16(b, 0)
        if t not in (TAG_FE, TAG_EFE):
            die("block %d holds no file entry" % lbn)
        efe = t == TAG_EFE
        hdr = E["EFE_SIZE"] if efe else E["FE_SIZE"]
        lea = u32(b, E["EFE_EA_LEN"] if efe else E["FE_EA_LEN"])
        lad = u32(b, E["EFE_AD_LEN"] if efe else E["FE_AD_LEN"])
        size = struct.unpack_from("<Q", b, E["FE_INFO_LENGTH"])[0]
        return b, efe, hdr + lea, lad, size

    def extents(self, lbn):
        """(lbn, bytes) of each allocated extent, or None when the data is embedded."""
        b, efe, ad, lad, size = self.fe(lbn)
        kind = u16(b, E["ICB_FLAGS"]) & 7
        if kind == 3:
            return None
        step = {0: E["SAD_SIZE"], 1: E["LAD_SIZE"]}.get(kind) or die("extended allocation descriptors")
        out = []
        for o in range(ad, ad + lad - step + 1, step):
            ln = u32(b, o)
            if ln & E["AD_LEN_MASK"] == 0:
                break
            if ln >> 30 == 3:
                die("continuation extents are not followed by this tool")
            if ln >> 30 != 2:
                out.append((u32(b, o + 4), ln & E["AD_LEN_MASK"]))
        return out

    def data(self, lbn):
        b, efe, ad, lad, size = self.fe(lbn)
        ext = self.extents(lbn)
        if ext is None:
            return bytes(b[ad : ad + lad])
        out = bytearray()
        for l, n in ext:
            out += self.block(l, (n + self.bs - 1) // self.bs)[:n]
        return bytes(out[:size])

    # ---- directories ----
    def fids(self, dir_lbn):
        """(offset in the directory, fid bytes, name) of each identifier."""
        d, pos, out = self.data(dir_lbn), 0, []
        while pos + E["FID_IMPL_USE"] <= len(d):
            liu, lfi = u16(d, pos + E["FID_IMPL_USE_LEN"]), d[pos + E["FID_NAME_LEN"]]
            flen = (E["FID_IMPL_USE"] + liu + lfi + 3) & ~3
            raw = d[pos + E["FID_IMPL_USE"] + liu : pos + E["FID_IMPL_USE"] + liu + lfi]
            name = raw[1:].decode("latin-1") if raw[:1] == b"\x08" else raw[1:].decode("utf-16-be", "replace")
            out.append((pos, d[pos : pos + flen], name))
            pos += flen
        return out

    def lookup(self, path):
        """(lbn of the file entry, lbn of its directory, offset of its FID in that directory)."""
        cur, parent, off = self.root, None, None
        for comp in [c for c in path.split("/") if c]:
            for pos, fid, name in self.fids(cur):
                if fid[E["FID_CHARACTERISTICS"]] & 0x0C == 0 and name == comp:
                    parent, off, cur = cur, pos, u32(fid, E["FID_ICB"] + E["LAD_LBN"])
                    break
            else:
                die("%s: not found" % path)
        return cur, parent, off

    def edit_fid(self, dir_lbn, off, change):
        """Applies change(fid bytearray) to the identifier at byte off of the directory, in place."""
        b, efe, ad, lad, size = self.fe(dir_lbn)
        ext = self.extents(dir_lbn)
        if ext is None:
            fid = bytearray(b[ad + off : ad + off + 512])
            change(fid)
            tag_finish(fid, 0)
            n = (E["FID_IMPL_USE"] + u16(fid, E["FID_IMPL_USE_LEN"]) + fid[E["FID_NAME_LEN"]] + 3) & ~3
            b[ad + off : ad + off + n] = fid[:n]
            tag_finish(b, 0)
            self.put_block(dir_lbn, b)
            return
        base = 0
        for l, n in ext:
            if off < base + n:
                nb = (n + self.bs - 1) // self.bs
                run = self.block(l, nb)
                fid = bytearray(run[off - base : off - base + 512])
                change(fid)
                tag_finish(fid, 0)
                k = (E["FID_IMPL_USE"] + u16(fid, E["FID_IMPL_USE_LEN"]) + fid[E["FID_NAME_LEN"]] + 3) & ~3
                run[off - base : off - base + k] = fid[:k]
                self.put_sector(self.pstart + l, run)
                return
            base += n
        die("identifier outside the directory")

    # ---- the space bitmap and the integrity descriptor ----
    def bitmap(self):
        n = (self.sbd_len + self.bs - 1) // self.bs
        return self.block(self.sbd_lbn, n)

    def put_bitmap(self, sbd):
        tag_finish(sbd, 0)
        self.put_block(self.sbd_lbn, sbd)

    def lvid(self):
        loc, ln = self.lvid_ext
        last = None
        for s in range(loc, loc + max(1, ln // self.bs)):
            d = self.sector(s)
            if u16(d, 0) != TAG_LVID:
                break
            last = s
        if last is None:
            die("no integrity descriptor")
        return last


def set_bit(sbd, b, free):
    o = E["SBD_BITMAP"] + b // 8
    sbd[o] = sbd[o] | (1 << (b % 8)) if free else sbd[o] & ~(1 << (b % 8))


def blocks_of(img, lbn):
    out = [lbn]
    for l, n in img.extents(lbn) or []:
        out += range(l, l + (n + img.bs - 1) // img.bs)
    return out


def main():
    if len(sys.argv) < 3:
        die("usage: udf_damage.py IMAGE ACTION ARGS...")
    img, act, a = Image(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if act == "meta-entry":
        m = img.meta_map()
        field = {"file": "MPMAP_FILE_LOC", "mirror": "MPMAP_MIRROR_LOC", "bitmap": "MPMAP_BITMAP_LOC"}[a[0]]
        print(img.pstart + u32(m, E[field]))
        img.f.close()
        return
    if act == "sparing-copy":
        print(u32(img.type2_map(b"*UDF Sparable Partition"), E["SPMAP_TABLE_LOCS"] + 4 * (int(a[0]) - 1)))
        img.f.close()
        return
    img.tree()
    if act == "lvid-open":
        s = img.lvid()
        d = img.sector(s)
        struct.pack_into("<I", d, E["LVID_INTEGRITY_TYPE"], 0)
        tag_finish(d, 0)
        img.put_sector(s, d)
    elif act == "bitmap-free":
        sbd = img.bitmap()
        for b in blocks_of(img, img.lookup(a[0])[0]):
            set_bit(sbd, b, True)
        img.put_bitmap(sbd)
    elif act == "bitmap-leak":
        sbd, left = img.bitmap(), int(a[0])
        for b in range(u32(sbd, E["SBD_NUM_BITS"]) - 1, -1, -1):
            if left and sbd[E["SBD_BITMAP"] + b // 8] >> (b % 8) & 1:
                set_bit(sbd, b, False)
                left -= 1
        img.put_bitmap(sbd)
    elif act == "nlink":
        lbn = img.lookup(a[0])[0]
        b = img.fe(lbn)[0]
        struct.pack_into("<H", b, E["FE_LINK_COUNT"], int(a[1]))
        tag_finish(b, 0)
        img.put_block(lbn, b)
    elif act == "orphan":
        _, d, off = img.lookup(a[0])

        def deleted(fid):
            fid[E["FID_CHARACTERISTICS"]] |= 0x04
        img.edit_fid(d, off, deleted)
    elif act == "rename-record":
        dlbn = img.lookup(a[0])[0]
        for pos, fid, name in img.fids(dlbn):
            if name == a[1]:
                break
        else:
            die("%s: no name %s" % (a[0], a[1]))
        if len(a[2]) != len(a[1]):
            die("the new name must be as long as the old one")

        def renamed(fid):
            o = E["FID_IMPL_USE"] + u16(fid, E["FID_IMPL_USE_LEN"])
            fid[o : o + 1 + len(a[2])] = b"\x08" + a[2].encode("latin-1")
        img.edit_fid(dlbn, pos, renamed)
    elif act == "alias":
        _, d, off = img.lookup(a[0])
        target = img.lookup(a[1])[0]

        def aliased(fid):
            fid[E["FID_CHARACTERISTICS"]] |= 0x02
            struct.pack_into("<I", fid, E["FID_ICB"] + E["LAD_LBN"], target)
        img.edit_fid(d, off, aliased)
    elif act == "parent":
        dlbn, target = img.lookup(a[0])[0], img.lookup(a[1])[0]
        pos = next(p for p, fid, _ in img.fids(dlbn) if fid[E["FID_CHARACTERISTICS"]] & 0x08)

        def reparented(fid):
            struct.pack_into("<I", fid, E["FID_ICB"] + E["LAD_LBN"], target)
        img.edit_fid(dlbn, pos, reparented)
    elif act == "lvid-files":
        s = img.lvid()
        d = img.sector(s)
        np_ = u32(d, E["LVID_NUM_PARTITIONS"])
        struct.pack_into("<I", d, E["LVID_FREE_SPACE"] + 8 * np_ + E["LVIU_NUM_FILES"], int(a[0]))
        tag_finish(d, 0)
        img.put_sector(s, d)
    elif act == "blocks":
        print(" ".join(str(b) for b in blocks_of(img, img.lookup(a[0])[0])))
    else:
        die("unknown action " + act)
    img.f.close()


if __name__ == "__main__":
    main()
