/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Partitions and the block map: a partition-relative block to a medium sector through the partition
 * maps (physical; sparable, through the sparing table; virtual, through the VAT; metadata, through the
 * metadata file), and the reads below it.  Called under the engine's lock (fs->lock), or by udf_mount
 * before the file system is shared.
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_desc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "udf_int.h"
#include "udf_w.h"

int udf_read_bytes(struct udf_fs *fs, uint64_t off, size_t len, void *buf)
{
	if (off > fs->io.size || len > fs->io.size - off)
		return -EIO;
	if (fs->w && fs->w->vat && len) {
		/* write-once media: what the next commit writes is still in memory */
		int st = udf_vat_read(fs, off, len, buf);
		if (st == 1)
			return 0;
		if (st < 0) {
			for (size_t done = 0; done < len;) {
				size_t n = fs->bs - (off + done) % fs->bs;
				if (n > len - done)
					n = len - done;
				int rc = udf_vat_read(fs, off + done, n, (uint8_t *)buf + done);
				if (rc == 0)
					rc = fs->io.read(fs->io.ctx, off + done, n, (uint8_t *)buf + done);
				else
					rc = 0;
				if (rc)
					return rc;
				done += n;
			}
			return 0;
		}
	}
	return fs->io.read(fs->io.ctx, off, len, buf);
}

int udf_meta_file_block(const struct udf_fs *fs, const struct node *m, uint16_t phys, uint32_t lbn, uint32_t *plbn)
{
	uint64_t off = (uint64_t)lbn * fs->bs;
	if (!m || m->inline_data || off >= m->size)
		return -EIO;
	uint32_t lo = udf_ext_index(m, off);
	if (lo >= m->next || m->ext[lo].type != 0 || off - m->ext[lo].file_off >= m->ext[lo].len)
		return -EIO;
	uint64_t b = m->ext[lo].lbn + (off - m->ext[lo].file_off) / fs->bs;
	if (b > UINT32_MAX || m->ext[lo].part != phys)
		return -EIO;
	*plbn = (uint32_t)b;
	return 0;
}

/* Partition-relative block → medium sector, through the sparing table where there is one. */
int udf_map_block(struct udf_fs *fs, uint16_t pref, uint32_t lbn, uint64_t *sector)
{
	if (pref >= fs->nparts)
		return -EIO;
	struct part *p = &fs->parts[pref];
	if (p->kind == PART_VIRTUAL) {
		if (!p->vat || lbn >= p->nvat || p->vat[lbn] == 0xFFFFFFFFu)
			return -EIO;
		lbn = p->vat[lbn];
		p = &fs->parts[p->phys];
	} else if (p->kind == PART_META) {
		/* A block of the metadata partition is a block of the metadata file. */
		int rc = udf_meta_file_block(fs, p->meta, p->phys, lbn, &lbn);
		if (rc)
			return rc;
		p = &fs->parts[p->phys];
	}
	if (!p->have_pd || p->kind == PART_VIRTUAL || p->kind == PART_META)
		return -EIO; /* not supported yet: refused, never guessed */
	if (lbn >= p->len)
		return -EIO;
	if (p->kind == PART_SPARABLE && p->packet_len) {
		uint32_t pkt = lbn - lbn % p->packet_len;
		for (uint32_t i = 0; i < p->nspare; i++) {
			if (p->spare[i].orig == pkt) {
				*sector = (uint64_t)p->spare[i].mapped + lbn % p->packet_len;
				return *sector < fs->nblocks ? 0 : -EIO;
			}
		}
	}
	*sector = p->start + lbn;
	return *sector < fs->nblocks ? 0 : -EIO;
}

int udf_read_lb(struct udf_fs *fs, uint16_t pref, uint32_t lbn, void *buf)
{
	uint64_t sector;
	int rc = udf_map_block(fs, pref, lbn, &sector);

	return rc ? rc : read_sector(fs, sector, buf);
}

/* Copy t of the sparing table into tbl (its whole blocks): 0, -EIO when it cannot be read, or
 * -EILSEQ when it is not a whole sparing table recorded at its place (tag, CRC, identifier, entries
 * that fit). */
int udf_sparing_read_copy(struct udf_fs *fs, const struct part *p, unsigned t, uint8_t *tbl)
{
	size_t blocks = (p->stable_len + fs->bs - 1) / fs->bs;
	uint32_t loc = p->stable_loc[t];

	for (size_t b = 0; b < blocks; b++)
		if ((uint64_t)loc + b >= fs->nblocks || read_sector(fs, (uint64_t)loc + b, tbl + b * fs->bs) != 0)
			return -EIO;
	if (blocks == 0 || udf_tag_check(tbl, blocks * fs->bs, loc) != 0 ||
	    memcmp(tbl + ST_IDENT + REGID_IDENT, "*UDF Sparing Table", 18) != 0 ||
	    (size_t)ST_MAP + (size_t)STE_SIZE * le16(tbl + ST_NUM_ENTRIES) > blocks * fs->bs)
		return -EILSEQ;
	return 0;
}

/* Whether two whole copies record the same table: all but the tag's checksum and location, which
 * differ from copy to copy. */
bool udf_sparing_same(const struct part *p, const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, TAG_CHECKSUM) == 0 &&
	       memcmp(a + TAG_CHECKSUM + 1, b + TAG_CHECKSUM + 1, TAG_LOCATION - TAG_CHECKSUM - 1) == 0 &&
	       memcmp(a + TAG_SIZE, b + TAG_SIZE, p->stable_len - TAG_SIZE) == 0;
}

static int load_sparing(struct udf_fs *fs, struct part *p, const uint8_t *map)
{
	unsigned ntables = map[SPMAP_NUM_TABLES];
	uint32_t table_size = le32(map + SPMAP_TABLE_SIZE);

	for (unsigned t = 0; t < ntables && t < 4; t++)
		p->stable_loc[t] = le32(map + SPMAP_TABLE_LOCS + 4 * t);
	p->nstable = ntables < 4 ? ntables : 4;
	p->stable_len = table_size;

	if (ntables < 1 || ntables > 4 || table_size < ST_MAP || table_size > (1u << 20))
		return -EIO;
	size_t bytes = (table_size + fs->bs - 1) / fs->bs * fs->bs;
	uint8_t *tbl = malloc(bytes), *best = malloc(bytes);
	if (!tbl || !best) {
		free(tbl);
		free(best);
		return -ENOMEM;
	}
	/* The copy that verifies with the highest sequence number (the first of equals): the writer
	 * records a change in every copy in turn, and a copy it could not write keeps an older table. */
	int found = -1;
	for (unsigned t = 0; t < p->nstable; t++) {
		if (udf_sparing_read_copy(fs, p, t, tbl) != 0 ||
		    (found >= 0 && le32(tbl + ST_SEQ_NUM) <= le32(best + ST_SEQ_NUM)))
			continue;
		uint8_t *swap = best;
		best = tbl;
		tbl = swap;
		found = (int)t;
	}
	if (found < 0) {
		free(tbl);
		free(best);
		return -EIO;
	}
	p->stable_ref = (unsigned)found;
	p->stable_stale = 0;
	for (unsigned t = 0; t < p->nstable; t++)
		if (t != p->stable_ref &&
		    (udf_sparing_read_copy(fs, p, t, tbl) != 0 || !udf_sparing_same(p, tbl, best)))
			p->stable_stale |= 1u << t;
	free(tbl);
	uint16_t n = le16(best + ST_NUM_ENTRIES);
	p->spare = calloc(n ? n : 1, sizeof(*p->spare));
	if (!p->spare) {
		free(best);
		return -ENOMEM;
	}
	p->nspare_cap = n ? n : 1;
	for (uint16_t i = 0; i < n; i++) {
		uint32_t orig = le32(best + ST_MAP + STE_SIZE * i + STE_ORIGINAL);
		if (orig >= 0xFFFFFFF0u)
			continue; /* free or defective spare */
		p->spare[p->nspare].orig = orig;
		p->spare[p->nspare].mapped = le32(best + ST_MAP + STE_SIZE * i + STE_MAPPED);
		p->nspare++;
	}
	if (keep_raw(fs)) {
		/* the writer moves packets that fail into spares, and records it in every copy */
		p->stable_raw = best;
		p->stable_bytes = bytes;
	} else {
		free(best);
	}
	return 0;
}

/* A partition that runs past the end of the medium (a dd of a partly written disc): what is there is
 * read, blocks beyond it are EIO (udf_map_block), and nothing is written, since the space bitmap
 * counts blocks the medium does not have.  udf_mount sees ro_reason and attaches no writer. */
static void cut_short(struct udf_fs *fs, uint16_t num, uint64_t there, uint64_t len)
{
	snprintf(fs->ro_reason, sizeof(fs->ro_reason),
		 "UDF partition %u runs past the end of the medium (%llu of its %llu blocks are there: a cut "
		 "image?); read-only, blocks beyond the end are I/O errors",
		 num, (unsigned long long)there, (unsigned long long)len);
	snprintf(fs->note, sizeof(fs->note), "%s", fs->ro_reason);
}

int udf_setup_partitions(struct udf_fs *fs, struct vds *v, char *err, size_t errlen)
{
	const uint8_t *lvd = v->lvd;
	uint32_t mt_len = le32(lvd + LVD_MAP_TABLE_LENGTH), nmaps = le32(lvd + LVD_NUM_PARTITION_MAPS);

	if (nmaps == 0 || nmaps > MAX_PARTS || LVD_PARTITION_MAPS + (uint64_t)mt_len > v->lvd_len) {
		snprintf(err, errlen, "UDF logical volume has an invalid partition map table");
		return -EIO;
	}
	const uint8_t *m = lvd + LVD_PARTITION_MAPS, *end = m + mt_len;
	for (uint32_t i = 0; i < nmaps; i++) {
		if (m + PMAP_LENGTH + 1 > end || m[PMAP_LENGTH] < 6 || m + m[PMAP_LENGTH] > end) {
			snprintf(err, errlen, "UDF partition map %u is damaged", i);
			return -EIO;
		}
		struct part *p = &fs->parts[i];
		uint16_t num;
		if (m[PMAP_TYPE] == 1) {
			p->kind = PART_PHYS;
			num = le16(m + PMAP1_PART_NUM);
		} else if (m[PMAP_TYPE] == 2 && m[PMAP_LENGTH] >= PMAP2_SIZE) {
			num = le16(m + PMAP2_PART_NUM);
			if (memcmp(m + PMAP2_IDENT + REGID_IDENT, "*UDF Sparable Partition", 23) == 0) {
				p->kind = PART_SPARABLE;
				p->packet_len = le16(m + SPMAP_PACKET_LENGTH);
				if (p->packet_len == 0 || p->packet_len > 1024) {
					snprintf(err, errlen, "UDF sparable partition has packet length %u",
						 p->packet_len);
					return -EIO;
				}
				if (load_sparing(fs, p, m)) {
					snprintf(err, errlen, "no readable UDF sparing table");
					return -EIO;
				}
			} else if (memcmp(m + PMAP2_IDENT + REGID_IDENT, "*UDF Virtual Partition", 22) == 0) {
				p->kind = PART_VIRTUAL;
			} else if (memcmp(m + PMAP2_IDENT + REGID_IDENT, "*UDF Metadata Partition", 23) == 0) {
				p->kind = PART_META;
				p->meta_loc = le32(m + MPMAP_FILE_LOC);
				p->mirror_loc = le32(m + MPMAP_MIRROR_LOC);
				p->mbm_loc = le32(m + MPMAP_BITMAP_LOC);
				p->meta_dup = m[MPMAP_FLAGS] & 1;
				p->meta_alloc_unit = le32(m + MPMAP_ALLOC_UNIT);
				p->meta_align_unit = le16(m + MPMAP_ALIGN_UNIT);
			} else {
				snprintf(err, errlen, "unknown UDF partition map type");
				return -EIO;
			}
		} else {
			snprintf(err, errlen, "unknown UDF partition map type %u", m[PMAP_TYPE]);
			return -EIO;
		}
		p->number = num;
		for (unsigned k = 0; k < v->npd; k++) {
			if (v->pd[k].number == num) {
				p->start = v->pd[k].start;
				p->len = v->pd[k].len;
				/* a write-once disc (or its image) is recorded only up to where it was
				 * written: its partition reaches past that; any other partition that
				 * does is an image cut short, read as far as it goes */
				p->have_pd = p->start < fs->nblocks;
				if (p->have_pd && p->len > fs->nblocks - p->start && v->pd[k].access != 2)
					cut_short(fs, num, fs->nblocks - p->start, p->len);
				p->access = v->pd[k].access;
				p->usb_len = v->pd[k].usb_len;
				p->usb_lbn = v->pd[k].usb_lbn;
				p->ust_len = v->pd[k].ust_len;
			}
		}
		if (!p->have_pd) {
			snprintf(err, errlen, "UDF partition %u is missing or lies outside the medium", num);
			return -EIO;
		}
		m += m[PMAP_LENGTH];
	}
	fs->nparts = nmaps;
	return 0;
}

/* The VAT of a write-once disc is the file entry in the last recorded block: the one the medium
 * reports, or on an image the last block that is not all zeros.  A commit cut short leaves blocks
 * after the newest complete VAT: the search walks back over them to it. */
#define VAT_SCAN_LIMIT (1u << 20) /* blocks */

/* The last block of the physical partition that is not all zeros, or UINT64_MAX. */
static uint64_t last_nonzero(struct udf_fs *fs, const struct part *pp)
{
	uint8_t *chunk = malloc(64 * (size_t)fs->bs);
	uint64_t last = UINT64_MAX;

	if (!chunk)
		return UINT64_MAX;
	uint64_t end = pp->start + pp->len, scanned = 0;
	if (end > fs->nblocks)
		end = fs->nblocks;
	while (end > pp->start && last == UINT64_MAX && scanned < VAT_SCAN_LIMIT) {
		uint64_t n = end - pp->start < 64 ? end - pp->start : 64;
		if (udf_read_bytes(fs, (end - n) * fs->bs, n * fs->bs, chunk))
			break;
		for (uint64_t i = n; i-- > 0 && last == UINT64_MAX;) {
			const uint8_t *b = chunk + i * fs->bs;
			for (uint32_t k = 0; k < fs->bs; k++)
				if (b[k]) {
					last = end - n + i;
					break;
				}
		}
		end -= n;
		scanned += n;
	}
	free(chunk);
	return last;
}

/* The VAT whose file entry is at sector `at`: 0, or -ENOENT when that block is no VAT. */
static int load_vat(struct udf_fs *fs, struct part *v, uint16_t phys, uint64_t at)
{
	struct part *pp = &fs->parts[phys];
	struct node *n;
	int rc = -ENOENT;

	if (udf_load_node(fs, phys, (uint32_t)(at - pp->start), &n))
		return -ENOENT;
	uint8_t *data = malloc(n->size ? n->size : 1);
	if (!data || n->size > (64u << 20))
		goto out;
	if (udf_node_read(fs, n, 0, (size_t)n->size, data) != (ssize_t)n->size)
		goto out;
	uint64_t first = 0, count = 0;
	bool v20 = false;
	if (n->file_type == VAT_FILE_TYPE && n->size >= VAT_HEADER_MIN) {
		uint16_t lhd = le16(data + VAT_HEADER_LEN);
		if (lhd < VAT_HEADER_MIN || lhd > n->size)
			goto out;
		first = lhd;
		count = (n->size - lhd) / 4;
		v20 = true;
	} else if (n->size >= VAT150_TRAILER &&
		   memcmp(data + n->size - VAT150_TRAILER + REGID_IDENT, "*UDF Virtual Alloc Tbl", 22) == 0) {
		count = (n->size - VAT150_TRAILER) / 4;
	} else {
		goto out;
	}
	uint32_t *t = malloc(count ? count * 4 : 4);
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < count; i++)
		t[i] = le32(data + first + 4 * i);
	v->vat_prev = v20 ? le32(data + VAT_PREV_VAT) : le32(data + n->size - 4);
	if (v20) {
		fs->sf.files = le32(data + VAT_NUM_FILES);
		fs->sf.dirs = le32(data + VAT_NUM_DIRS);
		uint16_t liu = le16(data + VAT_IMPL_USE_LEN);
		v->vat_ours = liu >= UDF_VAT_IU_LEN && first >= VAT_HEADER_MIN + UDF_VAT_IU_LEN &&
			      memcmp(data + VAT_HEADER_MIN + REGID_IDENT, "*pktfuse", 8) == 0;
		if (v->vat_ours)
			v->vat_next_uniq = le64(data + VAT_HEADER_MIN + UDF_VAT_IU_NEXT_UNIQ);
	}
	free(v->vat);
	v->vat = t;
	v->nvat = (uint32_t)count;
	v->phys = phys;
	v->vat20 = v20;
	v->vat_lbn = (uint32_t)(at - pp->start);
	rc = 0;
out:
	free(data);
	return rc;
}

int udf_find_vat(struct udf_fs *fs, struct part *v, uint16_t phys)
{
	struct part *pp = &fs->parts[phys];
	struct udf_append_state as;
	uint64_t last = UINT64_MAX;
	bool closed = false;

	if (fs->io.append_state && fs->io.append_state(fs->io.ctx, &as) == 0 && as.recorded) {
		last = as.last_recorded / fs->bs;
		closed = as.closed;
	} else {
		last = last_nonzero(fs, pp);
	}
	if (last == UINT64_MAX || last < pp->start)
		return -ENOENT;
	uint8_t *b = malloc(fs->bs);
	if (!b)
		return -ENOMEM;
	int rc = -ENOENT;
	/* walk back over a commit cut short: only a block that is a file entry recorded at its own
	 * place is tried */
	for (uint64_t s = last, n = 0; s >= pp->start && n < VAT_SCAN_LIMIT && rc == -ENOENT; s--, n++) {
		int id;
		if (read_sector(fs, s, b) == 0 &&
		    ((id = udf_tag_check(b, fs->bs, (uint32_t)(s - pp->start))) == TAG_FE || id == TAG_EFE))
			rc = load_vat(fs, v, phys, s);
		if (s == 0)
			break;
	}
	free(b);
	v->vat_torn = rc == 0 && pp->start + v->vat_lbn != last;
	/* Once a commit has followed the format's VAT, what is left is what lies past the last recorded
	 * block: the integrity descriptor's count was written once, by the format (whose count, exact
	 * then, other tools show).  A closed disc has nothing left.  A writable mount counts its own. */
	uint64_t end = pp->start + pp->len;
	if (rc == 0 && (closed || v->vat_prev != VAT_UNUSED))
		fs->sf.free_blocks = closed || last + 1 >= end ? 0 : end - (last + 1);
	/* an earlier commit: each VAT names the one before it, always recorded before it */
	for (uint32_t k = 0; rc == 0 && k < fs->opts.snapshot; k++) {
		uint32_t prev = v->vat_prev;
		if (prev == VAT_UNUSED || prev >= v->vat_lbn)
			return -ERANGE;
		if (load_vat(fs, v, phys, pp->start + prev) != 0)
			return -ERANGE;
	}
	return rc;
}

/* The header of the VAT whose file entry is partition block lbn of phys (raw, not cached as a node):
 * 0, or -ENOENT when no VAT is there. */
static int vat_header_at(struct udf_fs *fs, uint16_t phys, uint32_t lbn, uint8_t *b, uint8_t *hdr,
			 struct timespec *when, uint32_t *prev)
{
	int id;

	if (udf_read_lb(fs, phys, lbn, b) || ((id = udf_tag_check(b, fs->bs, lbn)) != TAG_FE && id != TAG_EFE) ||
	    b[ICB_FILE_TYPE] != VAT_FILE_TYPE)
		return -ENOENT;
	bool efe = id == TAG_EFE;
	uint32_t base = efe ? EFE_SIZE : FE_SIZE, lea = le32(b + (efe ? EFE_EA_LEN : FE_EA_LEN));
	if ((uint64_t)base + lea + VAT_HEADER_MIN > fs->bs)
		return -ENOENT;
	*when = udf_timestamp(b + (efe ? EFE_MODIFICATION_TIME : FE_MODIFICATION_TIME));
	if ((le16(b + ICB_FLAGS) & 7) == 3) {
		memcpy(hdr, b + base + lea, VAT_HEADER_MIN);
	} else if ((le16(b + ICB_FLAGS) & 7) == 0) {
		uint32_t at = le32(b + base + lea + SAD_POS);
		if (udf_read_lb(fs, phys, at, b))
			return -ENOENT;
		memcpy(hdr, b, VAT_HEADER_MIN);
	} else {
		return -ENOENT;
	}
	*prev = le32(hdr + VAT_PREV_VAT);
	return 0;
}

int udf_commit_list(struct udf_fs *fs, udf_commit_fn fn, void *ctx)
{
	struct part *v = NULL;

	pthread_mutex_lock(&fs->lock);
	for (unsigned i = 0; i < fs->nparts && !v; i++)
		if (fs->parts[i].kind == PART_VIRTUAL && fs->parts[i].vat20)
			v = &fs->parts[i];
	uint8_t *b = malloc(fs->bs), hdr[VAT_HEADER_MIN];
	int n = -EINVAL;
	if (v && b) {
		n = 0;
		for (uint32_t lbn = v->vat_lbn, prev; n < (1 << 20); lbn = prev) {
			struct timespec when;
			if (vat_header_at(fs, v->phys, lbn, b, hdr, &when, &prev) != 0)
				break;
			int stop = fn(ctx, (uint32_t)n, fs->parts[v->phys].start + lbn, when, le32(hdr + VAT_NUM_FILES),
				      le32(hdr + VAT_NUM_DIRS));
			n++;
			if (stop || prev == VAT_UNUSED || prev >= lbn)
				break;
		}
	}
	free(b);
	pthread_mutex_unlock(&fs->lock);
	return n;
}

uint32_t udf_sparing_free(const struct part *p)
{
	const uint8_t *t = p->stable_raw;
	uint32_t n = t ? le16(t + ST_NUM_ENTRIES) : 0, nfree = 0;

	if (!t || ST_MAP + (unsigned long long)STE_SIZE * n > p->stable_bytes)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		nfree += le32(t + ST_MAP + STE_SIZE * i + STE_ORIGINAL) == 0xFFFFFFFFu;
	return nfree;
}
