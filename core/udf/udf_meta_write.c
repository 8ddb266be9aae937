/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writing a volume with a metadata partition (UDF 2.50 2.2.10-2.2.13): file entries, directories and
 * continuation blocks are blocks of the metadata partition, i.e. of the metadata file in the physical
 * partition; file data stays in the physical partition.  Every block written to the metadata file is
 * written to its mirror too, but only after the next barrier (udf_barrier calls udf_meta_mirror, then
 * flushes again): a commit's new blocks reach both copies before its in-place file entries do, and
 * those reach the metadata file, a barrier, then the mirror, so after a power cut each copy is a
 * state a commit left (or the one before it).  The metadata bitmap file is written with the space
 * bitmap (udf_write_bitmap: at unmount and udf_sync_volume).  A volume is written only when the
 * metadata file, the mirror and the bitmap verify (udf_meta_attach).  After an unclean shutdown the
 * check (udf_check.c) rebuilds both bitmaps from the tree as read through the metadata file, which
 * the commit order keeps a whole state whenever the mirror may not be; then the mirror's blocks in
 * use that differ get the metadata file's (udf_meta_resync).
 * Entries that move (udf_move.c) take their chains' blocks from the metadata bitmap and write them
 * through here like every other block of it.
 * The metadata file does not grow: when it is full, a new file entry gets ENOSPC (and entries stop
 * moving).  Under fs->lock.
 */
#define _GNU_SOURCE
#include "udf_check.h"
#include "udf_desc.h"
#include "udf_w.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct deferred {
	uint32_t lbn; /* block of the metadata partition */
	uint8_t *buf;
};

struct udf_meta_w {
	uint16_t mpart, ppart; /* the metadata partition's map, the physical one's */
	struct node *mirror;   /* its extents map the metadata partition's blocks too */
	struct node *bmf;      /* the metadata bitmap file */
	/* the allocator's state of the metadata partition: only the bitmap fields are used (sbd is the
	 * metadata bitmap file's data, sbd_blocks its blocks) */
	struct udf_w space;
	struct deferred *defer; /* written to the metadata file, not yet to the mirror */
	size_t ndefer, capdefer;
	char why[160]; /* why the volume is not written (udf_meta_attach) */
};

struct udf_w *udf_meta_space(struct udf_w *w)
{
	return &w->meta->space;
}

uint16_t udf_meta_part(const struct udf_fs *fs)
{
	return fs->w && fs->w->meta ? fs->w->meta->mpart : 0;
}

uint16_t udf_fe_part(const struct udf_fs *fs)
{
	return fs->w && fs->w->vat ? fs->w->vat->vpart : udf_meta_part(fs);
}

static int defer_block(struct udf_meta_w *m, uint32_t bs, uint32_t lbn, const uint8_t *buf)
{
	if (m->ndefer == m->capdefer) {
		size_t nc = m->capdefer ? m->capdefer * 2 : 64;
		struct deferred *nd = realloc(m->defer, nc * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		m->defer = nd;
		m->capdefer = nc;
	}
	uint8_t *copy = malloc(bs);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, bs);
	m->defer[m->ndefer++] = (struct deferred){lbn, copy};
	return 0;
}

int udf_write_in(struct udf_fs *fs, uint16_t part, uint32_t lbn, uint32_t n, const uint8_t *buf)
{
	struct udf_meta_w *m = fs->w->meta;

	if (!m || part != m->mpart)
		return udf_write_run(fs, lbn, n, buf);
	const struct node *mf = fs->parts[m->mpart].meta;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t plbn;
		const uint8_t *b = buf + (size_t)i * fs->bs;
		int rc = udf_meta_file_block(fs, mf, m->ppart, lbn + i, &plbn);
		if (rc == 0)
			rc = udf_write_run(fs, plbn, 1, b);
		if (rc == 0)
			rc = defer_block(m, fs->bs, lbn + i, b);
		if (rc)
			return rc;
	}
	return 0;
}

int udf_meta_mirror(struct udf_fs *fs)
{
	struct udf_meta_w *m = fs->w ? fs->w->meta : NULL;
	int rc = 0;

	if (!m || m->ndefer == 0)
		return 0;
	/* in the order written: a block written twice ends as the later copy */
	for (size_t i = 0; i < m->ndefer && rc == 0; i++) {
		uint32_t plbn;
		rc = udf_meta_file_block(fs, m->mirror, m->ppart, m->defer[i].lbn, &plbn);
		if (rc == 0)
			rc = udf_write_run(fs, plbn, 1, m->defer[i].buf);
	}
	if (rc)
		return rc; /* kept: the next barrier tries again */
	for (size_t i = 0; i < m->ndefer; i++)
		free(m->defer[i].buf);
	m->ndefer = 0;
	return 1;
}

int udf_meta_write_bitmap(struct udf_fs *fs)
{
	struct udf_meta_w *m = fs->w->meta;
	struct udf_w *s = &m->space;

	udf_tag_finish(s->sbd, (size_t)s->sbd_blocks * fs->bs);
	for (uint32_t i = 0; i < s->sbd_blocks; i++) {
		if (!s->sbd_dirty[i])
			continue;
		uint32_t plbn;
		int rc = udf_meta_file_block(fs, m->bmf, m->ppart, i, &plbn);
		if (rc == 0)
			rc = udf_write_run(fs, plbn, 1, s->sbd + (size_t)i * fs->bs);
		if (rc)
			return rc;
		s->sbd_dirty[i] = 0;
	}
	s->bm_stale = false;
	return 0;
}

void udf_meta_counts(const struct udf_fs *fs, uint32_t *free_blocks, uint32_t *size)
{
	const struct udf_w *s = &fs->w->meta->space;

	*free_blocks = (uint32_t)s->free_blocks;
	*size = (uint32_t)s->nbits;
}

/* A file of the metadata partition (type ftype at lbn of the physical partition) as UDF 2.50 wants it:
 * recorded extents of the physical partition, inside it, all marked used by its space bitmap. */
static const char *load_meta_file(struct udf_fs *fs, struct udf_meta_w *m, uint32_t lbn, uint8_t ftype,
				  struct node **out)
{
	static const char *const what[] = {"metadata file", "metadata mirror file", "metadata bitmap file"};
	uint16_t ppart = m->ppart;
	char *why = m->why;
	const char *name = what[ftype - META_FILE_TYPE];
	struct node *n;

	if (lbn == 0xFFFFFFFFu || udf_load_node(fs, ppart, lbn, &n) || n->file_type != ftype || n->inline_data ||
	    !n->hdr || (le16(n->hdr + ICB_FLAGS) & 7) != 0) {
		snprintf(why, sizeof(m->why), "the UDF %s is missing or damaged", name);
		return why;
	}
	for (uint32_t i = 0; i < n->next; i++) {
		const struct extent *e = &n->ext[i];
		uint64_t nb = blocks_of(fs, e->len);
		if (e->type != 0 || e->part != ppart || e->lbn + nb > fs->w->plen) {
			snprintf(why, sizeof(m->why), "the UDF %s has an extent the writer cannot use", name);
			return why;
		}
		/* pktfuse check's repair (no_recover) marks them used before anything is allocated */
		for (uint64_t b = e->lbn; b < e->lbn + nb && !fs->opts.no_recover; b++) {
			if (udf_bm_is_free(fs->w, b)) {
				snprintf(why, sizeof(m->why), "the space bitmap calls block %llu of the UDF %s free",
					 (unsigned long long)b, name);
				return why;
			}
		}
	}
	*out = n;
	return NULL;
}

/* The metadata bitmap file's space bitmap, checked against the metadata partition's size. */
static const char *load_space(struct udf_fs *fs, struct udf_meta_w *m, uint64_t meta_blocks)
{
	struct udf_w *s = &m->space;

	if (m->bmf->size < SBD_BITMAP || m->bmf->size > SBD_BITMAP + meta_blocks / 8 + 2ull * fs->bs)
		return "the UDF metadata bitmap's size does not match the metadata partition";
	s->sbd_blocks = blocks_of(fs, m->bmf->size);
	s->sbd = calloc(s->sbd_blocks, fs->bs);
	s->sbd_dirty = calloc(s->sbd_blocks, 1);
	if (!s->sbd || !s->sbd_dirty)
		return "out of memory";
	for (uint32_t i = 0; i < s->sbd_blocks; i++) {
		uint32_t plbn;
		if (udf_meta_file_block(fs, m->bmf, m->ppart, i, &plbn) ||
		    udf_read_lb(fs, m->ppart, plbn, s->sbd + (size_t)i * fs->bs))
			return "the UDF metadata bitmap cannot be read";
	}
	if (udf_tag_check(s->sbd, (size_t)s->sbd_blocks * fs->bs, UINT32_MAX) != TAG_SBD)
		return "the UDF metadata bitmap is damaged";
	s->nbits = le32(s->sbd + SBD_NUM_BITS);
	if (s->nbits != meta_blocks || le32(s->sbd + SBD_NUM_BYTES) < (s->nbits + 7) / 8 ||
	    SBD_BITMAP + (uint64_t)le32(s->sbd + SBD_NUM_BYTES) > m->bmf->size)
		return "the UDF metadata bitmap does not describe the metadata partition";
	for (uint64_t b = 0; b < s->nbits; b++)
		s->free_blocks += udf_bm_is_free(s, b);
	return NULL;
}

/* The metadata bitmap calls the file set descriptor and its terminator used. */
static const char *file_set_used(const struct udf_fs *fs, struct udf_meta_w *m)
{
	char *why = m->why;
	const uint32_t must[] = {fs->fsd_lbn, fs->fsd_lbn + 1};

	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
		if (must[i] >= m->space.nbits || udf_bm_is_free(&m->space, must[i])) {
			snprintf(why, sizeof(m->why), "the UDF metadata bitmap calls block %u of the file set free",
				 must[i]);
			return why;
		}
	}
	return NULL;
}

/* Block k of the metadata partition is the same in both copies: 1, 0 when not, -EIO when either
 * cannot be read (a is left holding the metadata file's). */
static int same_in_both(struct udf_fs *fs, struct udf_meta_w *m, uint32_t k, uint8_t *a, uint8_t *b)
{
	uint32_t pa, pb;

	if (udf_meta_file_block(fs, fs->parts[m->mpart].meta, m->ppart, k, &pa) ||
	    udf_meta_file_block(fs, m->mirror, m->ppart, k, &pb) || udf_read_lb(fs, m->ppart, pa, a) ||
	    udf_read_lb(fs, m->ppart, pb, b))
		return -EIO;
	return memcmp(a, b, fs->bs) == 0;
}

/* The blocks the metadata bitmap calls used are the same in both copies. */
static const char *compare_copies(struct udf_fs *fs, struct udf_meta_w *m)
{
	char *why = m->why;
	const struct udf_w *s = &m->space;

	for (uint64_t k = 0; k < s->nbits; k++) {
		if (!udf_bm_is_free(s, k) && same_in_both(fs, m, (uint32_t)k, fs->w->buf, fs->w->buf2) != 1) {
			snprintf(why, sizeof(m->why), "the UDF metadata file and its mirror differ at block %llu",
				 (unsigned long long)k);
			return why;
		}
	}
	return NULL;
}

long udf_meta_resync(struct udf_fs *fs)
{
	struct udf_meta_w *m = fs->w->meta;
	long n = 0;

	for (uint64_t k = 0; k < m->space.nbits; k++) {
		/* blocks in use (as the check left the bitmap): a free block's contents do not matter, and
		 * reading the whole of both copies would take minutes on a full-size disc */
		if (udf_bm_is_free(&m->space, k) || same_in_both(fs, m, (uint32_t)k, fs->w->buf, fs->w->buf2) != 0)
			continue;
		if (defer_block(m, fs->bs, (uint32_t)k, fs->w->buf))
			return -ENOMEM;
		n++;
	}
	return n;
}

void udf_meta_seen_files(struct udf_fs *fs, struct udf_seen *s)
{
	struct udf_meta_w *m = fs->w->meta;

	udf_seen_node(fs, s, fs->parts[m->mpart].meta);
	udf_seen_node(fs, s, m->mirror);
	udf_seen_node(fs, s, m->bmf);
}

const char *udf_meta_attach(struct udf_fs *fs, bool unclean, int *err)
{
	struct udf_w *w = fs->w;
	struct part *p = &fs->parts[1];
	struct udf_meta_w *m = calloc(1, sizeof(*m));
	const char *why;

	*err = 0;
	if (!m) {
		*err = -ENOMEM;
		return "out of memory";
	}
	w->meta = m;
	m->mpart = 1;
	m->ppart = p->phys;
	struct node *mf = NULL;
	if (!p->meta || p->meta->file_type != META_FILE_TYPE)
		return "the UDF metadata file is damaged (its mirror was read)";
	if ((why = load_meta_file(fs, m, p->meta_loc, META_FILE_TYPE, &mf)) != NULL ||
	    (why = load_meta_file(fs, m, p->mirror_loc, META_MIRROR_FILE_TYPE, &m->mirror)) != NULL ||
	    (why = load_meta_file(fs, m, p->mbm_loc, META_BITMAP_FILE_TYPE, &m->bmf)) != NULL)
		return why;
	if (mf->size != m->mirror->size || mf->size % fs->bs || mf->size / fs->bs > UINT32_MAX)
		return "the UDF metadata file and its mirror differ in size";
	if ((why = load_space(fs, m, mf->size / fs->bs)) != NULL) {
		if (!strcmp(why, "out of memory"))
			*err = -ENOMEM;
		return why;
	}
	if ((why = file_set_used(fs, m)) != NULL)
		return why;
	/* a closed volume's integrity descriptor counts the metadata partition's free blocks */
	if (!unclean && le32(w->lvid + LVID_NUM_PARTITIONS) >= 2 &&
	    le32(w->lvid + LVID_FREE_SPACE + 4) != m->space.free_blocks)
		return "the UDF metadata bitmap disagrees with the integrity descriptor's free space";
	/* after an unclean shutdown the copies may differ where the cut commit was: udf_meta_resync */
	if (!unclean && (why = compare_copies(fs, m)) != NULL)
		return why;
	/* new entries of a commit interval into packets of the medium that were free: the metadata
	 * file's first extent starts at a packet (the format aligns it) */
	struct udf_w *s = &m->space;
	uint64_t sector0 = fs->parts[m->ppart].start + mf->ext[0].lbn;
	s->pkt = w->pkt;
	s->pkt_off = (uint32_t)((s->pkt - sector0 % s->pkt) % s->pkt);
	return NULL;
}

void udf_meta_detach(struct udf_w *w)
{
	struct udf_meta_w *m = w->meta;

	if (!m)
		return;
	for (size_t i = 0; i < m->ndefer; i++)
		free(m->defer[i].buf);
	free(m->defer);
	free(m->space.sbd);
	free(m->space.sbd_dirty);
	free(m->space.pend);
	free(m);
	w->meta = NULL;
}
