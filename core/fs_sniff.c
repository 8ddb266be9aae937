/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fs_sniff.h"

#include <string.h>

/* Names a file system (or partition table) found in the first 68 KiB of a medium, or NULL. */
const char *fs_signature(const uint8_t *b, size_t len)
{
	if (len >= 32768 + 3 * 2048) {
		for (int i = 0; i < 3; i++) {
			const uint8_t *d = b + 32768 + i * 2048;
			if (!memcmp(d + 1, "NSR02", 5) || !memcmp(d + 1, "NSR03", 5))
				return "a UDF file system";
		}
		if (!memcmp(b + 32769, "CD001", 5))
			return "an ISO 9660 file system";
		if (!memcmp(b + 32769, "BEA01", 5))
			return "a volume recognition sequence (UDF or another ECMA-167 file system)";
	}
	if (len >= 65536 + 72 && !memcmp(b + 65536 + 64, "_BHRfS_M", 8))
		return "a btrfs file system";
	if (len >= 2048 && b[1024 + 56] == 0x53 && b[1024 + 57] == 0xEF)
		return "an ext2/3/4 file system";
	if (len >= 4 && !memcmp(b, "XFSB", 4))
		return "an XFS file system";
	if (len >= 4096 && (!memcmp(b + 4086, "SWAPSPACE2", 10) || !memcmp(b + 4086, "SWAP-SPACE", 10)))
		return "a swap area";
	if (len >= 520 && !memcmp(b + 512, "EFI PART", 8))
		return "a GPT partition table";
	if (len >= 512 && b[510] == 0x55 && b[511] == 0xAA)
		return "a boot sector (FAT, NTFS or a partition table)";
	return NULL;
}

/* Reads the first 34 sectors of dev and names what is there (NULL: nothing recognised). */
const char *dev_signature(struct pkt_blockdev *dev)
{
	static uint8_t buf[FS_SNIFF_BYTES];
	uint32_t n = dev->geo.sector_count < 34 ? (uint32_t)dev->geo.sector_count : 34;

	memset(buf, 0, sizeof(buf));
	for (uint32_t s = 0; s < n; s++) /* sector by sector: an unrecorded sector is no reason to stop */
		if (pkt_blockdev_read(dev, s, 1, buf + (size_t)s * PKT_SECTOR_SIZE) != 0)
			memset(buf + (size_t)s * PKT_SECTOR_SIZE, 0, PKT_SECTOR_SIZE);
	return fs_signature(buf, (size_t)n * PKT_SECTOR_SIZE);
}
