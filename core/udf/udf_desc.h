/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Decoding of ECMA-167 / UDF on-disc structures: explicit little-endian, verified tags. */
#ifndef PKTFUSE_UDF_DESC_H
#define PKTFUSE_UDF_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ecma167.h"

enum {
	TAG_PVD = 1,
	TAG_AVDP = 2,
	TAG_VDP = 3,
	TAG_IUVD = 4,
	TAG_PD = 5,
	TAG_LVD = 6,
	TAG_USD = 7,
	TAG_TD = 8,
	TAG_LVID = 9,
	TAG_FSD = 256,
	TAG_FID = 257,
	TAG_AED = 258,
	TAG_IE = 259,
	TAG_TE = 260,
	TAG_FE = 261,
	TAG_EAHD = 262,
	TAG_SBD = 264,
	TAG_EFE = 266,
};

static inline uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

uint16_t udf_crc_itu(const uint8_t *p, size_t len);

/* Verifies a descriptor tag: checksum, CRC over crc-length bytes (which must fit in len), and,
 * unless location is UINT32_MAX, the recorded location.  Returns the tag identifier or -1. */
int udf_tag_check(const uint8_t *p, size_t len, uint32_t location);

/* Recomputes a descriptor tag's CRC (over its recorded CRC length, when that fits in room) and
 * checksum after the descriptor was changed. */
void udf_tag_finish(uint8_t *p, size_t room);

/* ECMA-167 timestamp → seconds and nanoseconds since the epoch (UTC). */
struct timespec udf_timestamp(const uint8_t *p);

/* OSTA CS0 → UTF-8 in out (NUL-terminated).  Returns the length, or -1 when the bytes are not a
 * valid CS0 string (bad compression id, odd 16-bit length, unpaired surrogate). */
int udf_cs0_to_utf8(const uint8_t *in, size_t len, char *out, size_t outlen);

/* A dstring (last byte = used length) → UTF-8; "" when invalid. */
void udf_dstring(const uint8_t *p, size_t field_len, char *out, size_t outlen);

/* ---- encoding (for the writer): each the inverse of its decoder above ---- */

/* seconds/nanoseconds since the epoch → ECMA-167 timestamp, local time at tz_minutes east of UTC. */
void udf_put_timestamp(uint8_t *p, struct timespec ts, int tz_minutes);

/* UTF-8 → OSTA CS0: 8-bit when every character is below U+0100, else 16-bit (surrogate pairs above
 * U+FFFF).  Returns the length in bytes (compression id included), -EINVAL for invalid UTF-8 or NUL,
 * -ENAMETOOLONG when it does not fit in outlen. */
int udf_utf8_to_cs0(const char *utf8, uint8_t *out, size_t outlen);

/* UTF-8 → dstring of field_len bytes (the last byte holds the used length); -ENAMETOOLONG/-EINVAL. */
int udf_put_dstring(uint8_t *p, size_t field_len, const char *utf8);

/* Fills a descriptor tag (the checksum and CRC stay zero): udf_tag_finish computes them once the
 * descriptor's body is complete. */
void udf_put_tag(uint8_t *p, uint16_t id, uint16_t version, uint16_t serial, uint32_t loc, uint16_t crc_len);

/* What follows the identifier in a regid (UDF 2.1.5.3). */
enum udf_regid_suffix {
	UDF_SUFFIX_NONE,   /* zeros */
	UDF_SUFFIX_DOMAIN, /* UDF revision, domain flags 0 (no write protection) */
	UDF_SUFFIX_UDF,	   /* UDF revision, OS class UNIX, OS identifier Linux */
	UDF_SUFFIX_IMPL,   /* OS class UNIX, OS identifier Linux, implementation use 0 */
};

/* Fills a regid: ident (at most 23 bytes are kept) and the suffix; udf_rev for the two that
 * record the UDF revision. */
void udf_put_regid(uint8_t *p, const char *ident, enum udf_regid_suffix s, uint16_t udf_rev);

/* The VAT header pktfuse records (UDF 2.01 2.2.11): the 152 bytes of the standard header and 40 of
 * implementation use, our regid and then the next unique ID (a write-once volume cannot update its
 * integrity descriptor, so the VAT carries it from commit to commit). */
#define UDF_VAT_IU_LEN 40u
#define UDF_VAT_IU_NEXT_UNIQ 32u /* uint64, in the implementation use */
#define UDF_VAT_HDR_LEN (VAT_HEADER_MIN + UDF_VAT_IU_LEN)
struct udf_vat_header {
	const char *label; /* UTF-8 logical volume identifier */
	uint32_t prev_vat; /* previous VAT's file entry (partition block), VAT_UNUSED when none */
	uint32_t files, dirs;
	uint16_t revision;
	uint64_t next_uniq;
};
/* Writes the header at p (UDF_VAT_HDR_LEN bytes); the entries follow it. */
void udf_put_vat_header(uint8_t *p, const struct udf_vat_header *h);

/* The Minimum UDF Read Revision a volume of revision rev records (LVID, VAT): rev itself, but at
 * most 2.50 (UDF 2.60 2.1.5.3: "at most #0250 for all media with a UDF 2.60 file system"; Linux 6.1
 * refuses 2.60). */
static inline uint16_t udf_min_read_rev(unsigned rev)
{
	return (uint16_t)(rev > 0x0250 ? 0x0250 : rev);
}

/* Turns the File Entry at b (fields, then L_EA + L_AD bytes from FE_SIZE; its tag still to be
 * finished) into the Extended File Entry with the same contents, in place: b must hold EFE_SIZE +
 * L_EA + L_AD bytes.  The object size is the information length (no streams), the creation time the
 * modification time. */
void udf_fe_to_efe(uint8_t *b);

/* The bytes a file identifier descriptor occupies: header, implementation use and name, padded to 4. */
static inline size_t udf_fid_size(const uint8_t *f)
{
	return ((size_t)FID_IMPL_USE + le16(f + FID_IMPL_USE_LEN) + f[FID_NAME_LEN] + 3u) & ~(size_t)3;
}

#endif
