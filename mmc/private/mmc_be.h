/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Big-endian fields of CDBs, answers, sense data and the emulator's state file: MMC numbers every
 * multi-byte field most significant byte first.  The one copy of these helpers in mmc/. */
#ifndef PKTFUSE_MMC_BE_H
#define PKTFUSE_MMC_BE_H

#include <stdint.h>

static inline uint16_t mmc_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Three-byte fields: block lengths and format parameters of READ FORMAT CAPACITIES / FORMAT UNIT. */
static inline uint32_t mmc_get_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline uint32_t mmc_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void mmc_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void mmc_put_be24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

static inline void mmc_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
