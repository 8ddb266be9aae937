/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Descriptor encoding for the writer: file entries (FE and EFE) with their allocation descriptors and
 * allocation extent descriptors, file identifier descriptors and a directory's FID stream, tags as
 * this volume records them.
 */
#define _GNU_SOURCE
#include "udf_desc.h"
#include "udf_w.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

/* Fills a descriptor tag as this volume records them; udf_tag_finish computes CRC and checksum once
 * the body is complete. */
void udf_put_vol_tag(struct udf_fs *fs, uint8_t *p, uint16_t id, uint32_t loc, uint16_t crc_len)
{
	udf_put_tag(p, id, fs->tag_version ? fs->tag_version : 2, fs->tag_serial, loc, crc_len);
}

/* An implementation identifier: ours, with the suffix OS class UNIX, OS identifier Linux. */
void udf_put_impl_regid(uint8_t *p)
{
	udf_put_regid(p, "*pktfuse", UDF_SUFFIX_IMPL, 0);
}

static uint32_t udf_perm(mode_t m, uint32_t raw)
{
	uint32_t p = (m & 7) | ((m >> 3) & 7) << 5 | ((m >> 6) & 7) << 10;

	return p | (raw & 0x6318u); /* keep the change-attribute and delete bits as recorded */
}

uint8_t udf_file_type_of(mode_t m)
{
	for (size_t i = 0; i < sizeof(udf_file_types) / sizeof(udf_file_types[0]); i++)
		if ((m & S_IFMT) == udf_file_types[i].fmt)
			return udf_file_types[i].icb;
	return 5;
}

/* Number of allocation descriptors the node needs (extents up to the end of the file). */
static uint32_t ad_count(const struct udf_fs *fs, const struct node *n)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n->next && n->ext[i].file_off < n->size; i++)
		k++;
	(void)fs;
	return k;
}

/* Write-once media name blocks of the physical partition from file entries in the virtual one, and a
 * metadata partition's file entries file data in the physical one: long allocation descriptors;
 * elsewhere short ones. */
static bool long_ads(const struct udf_fs *fs)
{
	return fs->w && (fs->w->vat || fs->w->meta);
}

static uint32_t ad_size(const struct udf_fs *fs)
{
	return long_ads(fs) ? LAD_SIZE : SAD_SIZE;
}

static void put_ad_raw(const struct udf_fs *fs, uint8_t *p, uint32_t len_type, uint32_t lbn, uint16_t part)
{
	memset(p, 0, ad_size(fs));
	put_le32(p + AD_LEN, len_type);
	if (long_ads(fs)) {
		put_le32(p + LAD_LBN, lbn);
		put_le16(p + LAD_PART, part);
	} else {
		put_le32(p + SAD_POS, lbn);
	}
}

static void put_ad(const struct udf_fs *fs, const struct node *n, uint32_t i, uint8_t *p)
{
	const struct extent *e = &n->ext[i];
	uint64_t len = e->len;

	if (e->file_off + len > n->size)
		len = n->size - e->file_off; /* the last extent records the exact length */
	put_ad_raw(fs, p, (uint32_t)len | (uint32_t)e->type << 30, e->type == 2 ? 0 : e->lbn,
		   e->type == 2 ? 0 : e->part);
}

/* How many AED blocks the node's descriptors need beyond what fits in its file entry. */
uint32_t udf_aeds_needed(const struct udf_fs *fs, const struct node *n)
{
	if (n->inline_data)
		return 0;
	uint32_t nad = ad_count(fs, n), cap = udf_inline_cap(fs, n) / ad_size(fs);
	if (nad <= cap)
		return 0;
	uint32_t left = nad - (cap - 1), per = (fs->bs - AED_ADS) / ad_size(fs), k = 0;
	while (left > per) {
		left -= per - 1;
		k++;
	}
	return k + 1;
}

/* Builds the node's file entry in blk (and its AEDs, written here), from the header as read. */
int udf_write_fe(struct udf_fs *fs, struct node *n)
{
	uint8_t *b = fs->w->buf2;
	uint32_t bs = fs->bs, hdr = n->efe ? EFE_HDR : FE_HDR;
	mode_t m = n->st.st_mode;

	memset(b, 0, bs);
	memcpy(b, n->hdr, n->hdr_len);
	/* ICB tag */
	b[ICB_FILE_TYPE] = n->file_type;
	bool moves = udf_move_strat4096(n); /* strategy 4096 as Linux records it, else 4 */
	if (moves || le16(b + ICB_STRATEGY_TYPE) == 4096) {
		put_le16(b + ICB_STRATEGY_TYPE, moves ? 4096 : 4);
		put_le16(b + ICB_STRATEGY_PARAM, moves ? 1 : 0);
		put_le16(b + ICB_MAX_ENTRIES, moves ? 2 : 1);
	}
	uint16_t flags = le16(b + ICB_FLAGS) & (uint16_t) ~(7u | 0x1C0u);
	if (m & S_ISUID)
		flags |= 0x40;
	if (m & S_ISGID)
		flags |= 0x80;
	if (m & S_ISVTX)
		flags |= 0x100;
	put_le32(b + FE_UID, n->uid_raw);
	put_le32(b + FE_GID, n->gid_raw);
	put_le32(b + FE_PERMISSIONS, udf_perm(m, n->perm_raw));
	uint32_t links = (uint32_t)n->st.st_nlink;
	if (S_ISDIR(m) && links > 0)
		links--;
	put_le16(b + FE_LINK_COUNT, (uint16_t)(links > 0xFFFF ? 0xFFFF : links));
	put_le64(b + FE_INFO_LENGTH, n->size);
	uint64_t rec = 0;
	for (uint32_t i = 0; i < n->next; i++)
		if (n->ext[i].type == 0)
			rec += blocks_of(fs, n->ext[i].len);
	rec += n->naed;
	bool efe = n->efe; /* the same fields, at other offsets (and an object size) */
	if (efe)
		put_le64(b + EFE_OBJECT_SIZE, n->size);
	put_le64(b + (efe ? EFE_BLOCKS_RECORDED : FE_BLOCKS_RECORDED), rec);
	udf_put_timestamp(b + (efe ? EFE_ACCESS_TIME : FE_ACCESS_TIME), n->st.st_atim, fs->w->tz);
	udf_put_timestamp(b + (efe ? EFE_MODIFICATION_TIME : FE_MODIFICATION_TIME), n->st.st_mtim, fs->w->tz);
	udf_put_timestamp(b + (efe ? EFE_ATTRIBUTE_TIME : FE_ATTRIBUTE_TIME), n->st.st_ctim, fs->w->tz);
	udf_put_impl_regid(b + (efe ? EFE_IMPL_IDENT : FE_IMPL_IDENT));
	put_le64(b + (efe ? EFE_UNIQUE_ID : FE_UNIQUE_ID), n->uniq);
	uint8_t *ad = b + hdr + n->lea;
	uint32_t lad;
	if (n->inline_data) {
		flags |= 3;
		lad = (uint32_t)n->size;
		memcpy(ad, n->inline_data, n->size);
	} else {
		uint32_t asz = ad_size(fs);
		uint32_t nad = ad_count(fs, n), cap = udf_inline_cap(fs, n) / asz;
		uint32_t in_fe = n->naed ? cap - 1 : nad;
		if (long_ads(fs))
			flags |= 1;
		for (uint32_t i = 0; i < in_fe; i++)
			put_ad(fs, n, i, ad + asz * i);
		lad = in_fe * asz;
		if (n->naed) {
			put_ad_raw(fs, ad + lad, bs | 3u << 30, n->aed[0], udf_meta_part(fs));
			lad += asz;
			/* the continuation blocks, each an allocation extent descriptor */
			uint8_t *a = malloc(bs);
			if (!a)
				return -ENOMEM;
			uint32_t i = in_fe, per = (bs - AED_ADS) / asz;
			for (uint32_t k = 0; k < n->naed; k++) {
				memset(a, 0, bs);
				bool last = k + 1 == n->naed;
				uint32_t here = last ? nad - i : per - 1, l = 0;
				for (uint32_t j = 0; j < here; j++, i++, l += asz)
					put_ad(fs, n, i, a + AED_ADS + l);
				if (!last) {
					put_ad_raw(fs, a + AED_ADS + l, bs | 3u << 30, n->aed[k + 1],
						   udf_meta_part(fs));
					l += asz;
				}
				put_le32(a + AED_PREV_LOC, k ? n->aed[k - 1] : n->fe_lbn);
				put_le32(a + AED_ADS_LEN, l);
				udf_put_vol_tag(fs, a, TAG_AED, n->aed[k], (uint16_t)(AED_ADS - TAG_SIZE + l));
				udf_tag_finish(a, bs);
				int rc = udf_write_in(fs, udf_meta_part(fs), n->aed[k], 1, a);
				if (rc) {
					free(a);
					return rc;
				}
			}
			free(a);
		}
	}
	put_le16(b + ICB_FLAGS, flags);
	put_le32(b + (n->efe ? EFE_AD_LEN : FE_AD_LEN), lad);
	udf_put_vol_tag(fs, b, n->efe ? TAG_EFE : TAG_FE, n->fe_lbn, (uint16_t)(hdr + n->lea + lad - TAG_SIZE));
	udf_tag_finish(b, bs);
	if (fs->w->vat)
		return udf_ino_part(n->ino) == fs->w->vat->vpart ? udf_vat_put_fe(fs, n->fe_lbn, b) : -EROFS;
	return udf_write_in(fs, udf_ino_part(n->ino), n->fe_lbn, 1, b);
}

size_t udf_fid_len(size_t lfi)
{
	return (FID_IMPL_USE + lfi + 3) & ~(size_t)3;
}

static size_t put_fid(struct udf_fs *fs, uint8_t *p, uint8_t ch, uint64_t ino, uint32_t uniq, const uint8_t *name,
		      uint8_t lfi, uint32_t tagloc)
{
	uint32_t icb_lbn = (uint32_t)(ino - INO_BASE);
	size_t len = udf_fid_len(lfi);

	memset(p, 0, len);
	put_le16(p + FID_VERSION, 1);
	p[FID_CHARACTERISTICS] = ch;
	p[FID_NAME_LEN] = lfi;
	put_le32(p + FID_ICB + AD_LEN, fs->bs);
	put_le32(p + FID_ICB + LAD_LBN, icb_lbn);
	put_le16(p + FID_ICB + LAD_PART, udf_ino_part(ino));
	put_le32(p + FID_ICB + LAD_UNIQUE_ID, uniq);
	if (lfi)
		memcpy(p + FID_IMPL_USE, name, lfi);
	udf_put_vol_tag(fs, p, TAG_FID, tagloc, (uint16_t)(len - TAG_SIZE));
	udf_tag_finish(p, len);
	return len;
}

size_t udf_dir_stream_len(const struct node *d)
{
	size_t len = udf_fid_len(0) + d->keep_len;

	for (uint32_t i = 0; i < d->nents; i++)
		if (d->ents[i].name)
			len += udf_fid_len(d->ents[i].rawlen);
	return len;
}

/* The tag location of a FID at stream offset pos: its block, or the file entry when embedded. */
static uint32_t fid_loc(const struct udf_fs *fs, const struct node *d, size_t pos, uint32_t base, bool embedded,
			const uint32_t *lbns)
{
	return embedded ? d->fe_lbn : lbns ? lbns[pos / fs->bs] : base + (uint32_t)(pos / fs->bs);
}

int udf_dir_build(struct udf_fs *fs, struct node *d, uint8_t *out, size_t len, uint32_t base, bool embedded)
{
	return udf_dir_build_at(fs, d, out, len, base, embedded, NULL);
}

int udf_dir_build_at(struct udf_fs *fs, struct node *d, uint8_t *out, size_t len, uint32_t base, bool embedded,
		     const uint32_t *lbns)
{
	size_t pos = 0;
	struct node *parent;
	uint32_t puniq = 0;
	uint64_t pino = d->ino;

	if (d->parent != d->ino && udf_get_node(fs, d->parent, &parent) == 0) {
		puniq = (uint32_t)parent->uniq;
		pino = parent->ino;
	} else if (d->parent == d->ino) {
		puniq = (uint32_t)d->uniq;
	}
	pos += put_fid(fs, out + pos, 0x0A, pino, puniq, NULL, 0, fid_loc(fs, d, pos, base, embedded, lbns));
	for (uint32_t k = 0; k < d->keep_len;) {
		uint8_t *f = out + pos;
		size_t flen = udf_fid_size(d->keep_fids + k);
		memcpy(f, d->keep_fids + k, flen);
		put_le32(f + TAG_LOCATION, fid_loc(fs, d, pos, base, embedded, lbns));
		udf_tag_finish(f, flen);
		pos += flen;
		k += (uint32_t)flen;
	}
	for (uint32_t i = 0; i < d->nents; i++) {
		struct dirent_ *e = &d->ents[i];
		if (!e->name)
			continue;
		pos += put_fid(fs, out + pos, e->ftype == 4 ? 0x02 : 0, e->ino, e->uniq, e->raw, e->rawlen,
			       fid_loc(fs, d, pos, base, embedded, lbns));
	}
	return pos == len ? 0 : -EIO;
}
