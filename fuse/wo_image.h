/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Whether an image file holds a UDF volume of write-once media (a VAT): the daemon then opens it as an
 * append-only image, whose capacity the UDF partition descriptor records. */
#ifndef PKTFUSE_WO_IMAGE_H
#define PKTFUSE_WO_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

/* True when path holds one; *capacity_sectors then gets where its partition ends and *unit the write
 * unit the image was recorded in (32, or 16 when its length is no multiple of 32: a DVD's). */
bool wo_image_probe(const char *path, uint64_t *capacity_sectors, uint32_t *unit);

#endif
