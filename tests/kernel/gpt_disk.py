#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Several UDF images in one kudf boot.

gpt_disk.py build DISK IMG...      writes DISK: a GPT (protective MBR, primary and backup header and
                                   table) with one partition per IMG, exactly its size, 1 MiB aligned,
                                   IMG's bytes copied in; the guest sees /dev/vda1, /dev/vda2, ...
gpt_disk.py extract DISK N OUT     copies partition N (1-based) of DISK back out to OUT.

Written here because the test machines have no sfdisk; the kernel's own GPT parser reads it.
"""
import os
import struct
import sys
import uuid
import zlib

SECTOR = 512
ALIGN = 2048  # sectors: 1 MiB
ENTRIES = 128
ENTRY_SIZE = 128
TABLE_SECTORS = ENTRIES * ENTRY_SIZE // SECTOR  # 32
LINUX_DATA = uuid.UUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")


def layout(sizes):
    """First and last sector (inclusive) of each partition, and the disk's sector count."""
    parts, lba = [], ALIGN
    for size in sizes:
        if size % SECTOR:
            raise SystemExit(f"gpt_disk: an image of {size} bytes is not a whole number of sectors")
        n = size // SECTOR
        parts.append((lba, lba + n - 1))
        lba = (lba + n + ALIGN - 1) // ALIGN * ALIGN
    total = lba + ALIGN  # room for the backup table
    return parts, total


def header(current, backup, first_usable, last_usable, disk_guid, table_lba, table_crc):
    h = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x00010000, 92, 0, 0, current, backup,
                    first_usable, last_usable, disk_guid, table_lba, ENTRIES, ENTRY_SIZE, table_crc)
    crc = zlib.crc32(h) & 0xFFFFFFFF
    h = h[:16] + struct.pack("<I", crc) + h[20:]
    return h + bytes(SECTOR - len(h))


def build(disk, images):
    sizes = [os.path.getsize(i) for i in images]
    parts, total = layout(sizes)
    table = bytearray(ENTRIES * ENTRY_SIZE)
    for k, (first, last) in enumerate(parts):
        name = f"udf{k + 1}".encode("utf-16-le")
        struct.pack_into("<16s16sQQQ72s", table, k * ENTRY_SIZE, LINUX_DATA.bytes_le, uuid.uuid4().bytes_le,
                         first, last, 0, name)
    table = bytes(table)
    tcrc = zlib.crc32(table) & 0xFFFFFFFF
    disk_guid = uuid.uuid4().bytes_le
    mbr = bytearray(SECTOR)
    struct.pack_into("<B3sB3sII", mbr, 446, 0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1,
                     min(total - 1, 0xFFFFFFFF))
    mbr[510:512] = b"\x55\xaa"
    first_usable, last_usable = 2 + TABLE_SECTORS, total - 2 - TABLE_SECTORS
    with open(disk, "wb") as f:
        f.truncate(total * SECTOR)
        f.write(mbr)
        f.write(header(1, total - 1, first_usable, last_usable, disk_guid, 2, tcrc))
        f.write(table)
        f.seek((total - 1 - TABLE_SECTORS) * SECTOR)
        f.write(table)
        f.write(header(total - 1, 1, first_usable, last_usable, disk_guid, total - 1 - TABLE_SECTORS, tcrc))
        for img, (first, _) in zip(images, parts):
            f.seek(first * SECTOR)
            with open(img, "rb") as src:
                while True:
                    b = src.read(1 << 20)
                    if not b:
                        break
                    if b.count(0) == len(b):
                        f.seek(len(b), os.SEEK_CUR)  # keep the disk sparse
                    else:
                        f.write(b)


def extract(disk, n, out):
    with open(disk, "rb") as f:
        f.seek(SECTOR)
        h = f.read(92)
        if h[:8] != b"EFI PART":
            raise SystemExit(f"gpt_disk: {disk} has no GPT")
        table_lba, count, esize = struct.unpack_from("<QII", h, 72)
        if not 1 <= n <= count:
            raise SystemExit(f"gpt_disk: no partition {n}")
        f.seek(table_lba * SECTOR + (n - 1) * esize)
        e = f.read(esize)
        first, last = struct.unpack_from("<QQ", e, 32)
        if first == 0:
            raise SystemExit(f"gpt_disk: partition {n} is empty")
        f.seek(first * SECTOR)
        left = (last - first + 1) * SECTOR
        with open(out, "wb") as o:
            while left:
                b = f.read(min(left, 1 << 20))
                if not b:
                    raise SystemExit(f"gpt_disk: {disk} ends inside partition {n}")
                o.write(b)
                left -= len(b)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "build":
        build(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 5 and sys.argv[1] == "extract":
        extract(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        raise SystemExit(__doc__)
