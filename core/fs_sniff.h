/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What a medium holds, before a format overwrites it: file systems and partition tables named by
 * their signatures in the first 68 KiB. */
#ifndef PKTFUSE_FS_SNIFF_H
#define PKTFUSE_FS_SNIFF_H

#include "blockdev.h"

#include <stddef.h>
#include <stdint.h>

/* Bytes from the start of a medium that fs_signature looks at (34 sectors). */
#define FS_SNIFF_BYTES (34 * PKT_SECTOR_SIZE)

/* Names a file system (or partition table) found in the first len bytes of a medium ("a UDF file
 * system", ...), or NULL.  A signature beyond len is not looked for. */
const char *fs_signature(const uint8_t *b, size_t len);

/* Reads the first 34 sectors of dev and names what is there (NULL: nothing recognised).  An
 * unreadable sector counts as zeros.  Not thread-safe (one static buffer). */
const char *dev_signature(struct pkt_blockdev *dev);

#endif
