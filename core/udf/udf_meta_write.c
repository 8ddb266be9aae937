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
 * When the metadata partition has no room left for a file entry, directory or continuation block,
 * udf_meta_grow appends an extent to the metadata file and another to its mirror (UDF 2.50 2.2.10:
 * whole allocation units, aligned), their blocks free in the metadata bitmap, which grows with them.
 * Nothing on the medium names the new blocks before the next commit writes both entries, in its
 * step 2 (udf_meta_write_entries), before the barrier after which anything reachable may lie there;
 * the bitmap file (its data and its entry) is written with the bitmap.  After an unclean shutdown the
 * mount takes the smaller of the two sizes and fits the bitmap to it (udf_meta_attach).  Entries that
 * move never grow it: when it is full they stop moving.  Under fs->lock.
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
	uint32_t alloc_unit, align_unit; /* the map's (UDF 2.50 2.2.10), at least 1 */
	uint32_t mloc, miloc, bloc;	 /* the three files' entries, blocks of the physical partition */
	/* growths (and fits after an unclean shutdown) made by this mount, and how many of them the
	 * medium's entries of the metadata file and its mirror record (a commit that completed) */
	uint32_t grow_gen, entries_gen;
	bool bmf_dirty; /* the bitmap file's entry (size, extents) waits for udf_meta_write_bitmap */
	bool bmf_refit; /* the bitmap changed size: the bitmap file's extents and size follow it */
	char why[160];	/* why the volume is not written (udf_meta_attach) */
};

static int fit_bitmap_file(struct udf_fs *fs, struct udf_meta_w *m);
static int write_entry(struct udf_fs *fs, struct node *n, uint32_t loc);

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
	int rc;

	/* fitted after an unclean shutdown (a growth fits it at once): the bitmap file holds it all */
	if (m->bmf_refit && (rc = fit_bitmap_file(fs, m)) != 0)
		return rc;
	m->bmf_refit = false;
	udf_tag_finish(s->sbd, (size_t)s->sbd_blocks * fs->bs);
	for (uint32_t i = 0; i < s->sbd_blocks; i++) {
		if (!s->sbd_dirty[i])
			continue;
		uint32_t plbn;
		rc = udf_meta_file_block(fs, m->bmf, m->ppart, i, &plbn);
		if (rc == 0)
			rc = udf_write_run(fs, plbn, 1, s->sbd + (size_t)i * fs->bs);
		if (rc)
			return rc;
		s->sbd_dirty[i] = 0;
	}
	/* its entry after its data: until the volume is closed a mount fits the bitmap anyway */
	if (m->bmf_dirty && (rc = write_entry(fs, m->bmf, m->bloc)) != 0)
		return rc;
	m->bmf_dirty = false;
	s->bm_stale = false;
	return 0;
}

/* Short allocation descriptors the entry of n has room for (the three files keep theirs in it). */
static uint32_t entry_ad_room(const struct udf_fs *fs, const struct node *n)
{
	return n->hdr_len < fs->bs ? (fs->bs - n->hdr_len) / SAD_SIZE : 0;
}

/* n's data goes on with blocks [lbn, lbn + nb) of the physical partition: its last extent longer
 * when they follow it (and it can take them), else a new one.  Sizes are left to the caller. */
static int add_run(struct udf_fs *fs, struct node *n, uint16_t ppart, uint32_t lbn, uint32_t nb)
{
	struct extent *l = n->next ? &n->ext[n->next - 1] : NULL;
	uint64_t bytes = (uint64_t)nb * fs->bs;

	if (l && l->type == 0 && l->part == ppart && l->len % fs->bs == 0 &&
	    (uint64_t)l->lbn + l->len / fs->bs == lbn && l->len + bytes <= MAX_EXT_BYTES(fs->bs)) {
		l->len += (uint32_t)bytes;
		return 0;
	}
	if (n->next + 1 > entry_ad_room(fs, n))
		return -ENOSPC; /* continuation blocks for these files: not written */
	int rc = udf_ext_reserve(n, n->next + 1);
	if (rc)
		return rc;
	uint64_t off = l ? l->file_off + blocks_of(fs, l->len) * (uint64_t)fs->bs : 0;
	if (l)
		l->len = blocks_of(fs, l->len) * fs->bs; /* the bitmap file's last block becomes whole */
	n->ext[n->next++] = (struct extent){off, (uint32_t)bytes, 0, ppart, lbn};
	return 0;
}

/* Blocks the recorded extents of n cover. */
static uint64_t covered(const struct udf_fs *fs, const struct node *n)
{
	uint64_t b = 0;

	for (uint32_t i = 0; i < n->next; i++)
		b += blocks_of(fs, n->ext[i].len);
	return b;
}

/* n's extents cut to size bytes (the blocks past it are n's no more: the check after an unclean
 * shutdown frees them, udf_meta_seen_files seeing only these extents). */
static void cut_to(struct udf_fs *fs, struct node *n, uint64_t size)
{
	uint32_t k = 0;

	while (k < n->next && n->ext[k].file_off < size) {
		if (n->ext[k].file_off + n->ext[k].len > size)
			n->ext[k].len = (uint32_t)(size - n->ext[k].file_off);
		k++;
	}
	n->next = k;
	n->size = size;
	n->st.st_size = (off_t)size;
	(void)fs;
}

/* The first run of nb free blocks of the physical partition starting at a multiple of align, from
 * block from round the partition; UINT64_MAX when there is none. */
static uint64_t find_aligned(const struct udf_w *w, uint32_t nb, uint32_t align, uint64_t from)
{
	uint64_t first = (from + align - 1) / align * align;

	for (int pass = 0; pass < 2; pass++) {
		uint64_t lo = pass ? 0 : first, hi = pass ? first : w->nbits;
		for (uint64_t c = lo; c + nb <= w->nbits && c < hi;) {
			uint64_t f = udf_bm_find(w, c, hi);
			if (f == UINT64_MAX)
				break;
			c = (f + align - 1) / align * align;
			if (c + nb > w->nbits)
				break;
			uint32_t r = udf_bm_run(w, c, nb);
			if (r == nb)
				return c;
			c = (c + r + 1 + align - 1) / align * align;
		}
	}
	return UINT64_MAX;
}

/* The end of n's data as a block of the physical partition (where a run that continues it starts). */
static uint64_t end_of(const struct udf_fs *fs, const struct node *n)
{
	const struct extent *l = n->next ? &n->ext[n->next - 1] : NULL;

	return l ? l->lbn + (uint64_t)blocks_of(fs, l->len) : 0;
}

/* The bitmap file's extents cover the metadata bitmap's bytes (s->sbd_blocks blocks): blocks taken
 * from the physical partition where they do not, next to its last extent when free.  Its size is
 * the descriptor's bytes, as the format records it. */
static int fit_bitmap_file(struct udf_fs *fs, struct udf_meta_w *m)
{
	struct udf_w *s = &m->space;
	struct node *b = m->bmf;
	uint64_t have = covered(fs, b);
	uint32_t bytes = SBD_BITMAP + (uint32_t)((s->nbits + 7) / 8), next = b->next;
	struct extent last = next ? b->ext[next - 1] : (struct extent){0};
	struct {
		uint32_t lbn, n;
	} took[8];
	unsigned ntook = 0;
	int rc = 0;

	while (have < s->sbd_blocks && rc == 0) {
		uint32_t lbn, got;
		if (ntook == sizeof(took) / sizeof(took[0]))
			rc = -ENOSPC; /* that fragmented: not worth an entry full of extents */
		else if ((rc = udf_alloc_blocks(fs, end_of(fs, b), (uint32_t)(s->sbd_blocks - have), 0, &lbn, &got)) ==
			 0) {
			took[ntook].lbn = lbn;
			took[ntook++].n = got;
			if ((rc = add_run(fs, b, m->ppart, lbn, got)) == 0) {
				udf_written(fs->w, lbn, got); /* not a hint's: the bitmap is written there */
				have += got;
			}
		}
	}
	if (rc) { /* as it was */
		b->next = next;
		if (next)
			b->ext[next - 1] = last;
		for (unsigned i = 0; i < ntook; i++)
			udf_alloc_undo(fs, 0, took[i].lbn, took[i].n);
		return rc;
	}
	/* extents past the bytes (a bitmap file bigger than its bitmap) go after the next commit */
	while (b->next > 1 && b->ext[b->next - 1].file_off >= bytes) {
		const struct extent *e = &b->ext[--b->next];
		udf_free_later(fs, e->lbn, blocks_of(fs, e->len));
	}
	if (b->next)
		b->ext[b->next - 1].len = (uint32_t)(bytes - b->ext[b->next - 1].file_off);
	b->size = bytes;
	b->st.st_size = bytes;
	m->bmf_dirty = true;
	m->bmf_refit = false;
	return 0;
}

/* The metadata bitmap in memory describes nbits blocks: the descriptor's fields, its buffer, bits
 * [old nbits, nbits) free (set); every block of it to be written. */
static int resize_space(struct udf_fs *fs, struct udf_meta_w *m, uint64_t nbits)
{
	struct udf_w *s = &m->space;
	uint32_t bytes = SBD_BITMAP + (uint32_t)((nbits + 7) / 8), nblk = blocks_of(fs, bytes);

	if (nblk != s->sbd_blocks) {
		uint8_t *nb = realloc(s->sbd, (size_t)nblk * fs->bs);
		if (!nb)
			return -ENOMEM;
		s->sbd = nb;
		uint8_t *nd = realloc(s->sbd_dirty, nblk);
		if (!nd)
			return -ENOMEM;
		s->sbd_dirty = nd;
		if (nblk > s->sbd_blocks)
			memset(s->sbd + (size_t)s->sbd_blocks * fs->bs, 0, (size_t)(nblk - s->sbd_blocks) * fs->bs);
		s->sbd_blocks = nblk;
	}
	uint64_t old = s->nbits;
	/* bits past the end are 0, as the format leaves them */
	for (uint64_t b = nbits; b < old && SBD_BITMAP + b / 8 < (uint64_t)nblk * fs->bs; b++)
		s->sbd[SBD_BITMAP + b / 8] &= (uint8_t) ~(1u << (b % 8));
	s->nbits = nbits;
	for (uint64_t b = old; b < nbits; b++)
		udf_space_mark(fs, s, b, true);
	put_le32(s->sbd + SBD_NUM_BITS, (uint32_t)nbits);
	put_le32(s->sbd + SBD_NUM_BYTES, (uint32_t)((nbits + 7) / 8));
	memset(s->sbd_dirty, 1, s->sbd_blocks);
	s->bm_stale = fs->w->bm_stale = true;
	m->bmf_refit = true;
	return 0;
}

int udf_meta_grow(struct udf_fs *fs, uint64_t need)
{
	struct udf_w *w = fs->w;
	struct udf_meta_w *m = w->meta;
	struct node *mf = fs->parts[m->mpart].meta, *mi = m->mirror;
	struct udf_w *s = &m->space;
	int rc;

	/* a mirror that is the metadata file itself (no duplicate flag) is not grown apart */
	if (!fs->parts[m->mpart].meta_dup || m->miloc == m->mloc || w->vat)
		return -ENOSPC;
	/* each copy gets one extent more, recorded in its entry (no continuation blocks for these) */
	if (mf->next + 1 > entry_ad_room(fs, mf) || mi->next + 1 > entry_ad_room(fs, mi))
		return -ENOSPC;
	if ((rc = udf_ext_reserve(mf, mf->next + 1)) != 0 || (rc = udf_ext_reserve(mi, mi->next + 1)) != 0)
		return rc;
	uint32_t au = m->alloc_unit, al = m->align_unit;
	uint64_t cur = s->nbits, pkt = w->pkt > 1 ? w->pkt : 1;
	/* the larger of 32 packets and an eighth of what there is, at least what is needed */
	uint64_t want = 32 * pkt > cur / 8 ? 32 * pkt : cur / 8, least = (need + au - 1) / au * au;
	want = (want + au - 1) / au * au;
	if (want < least)
		want = least;
	uint64_t maxext = MAX_EXT_BYTES(fs->bs) / fs->bs / au * au;
	if (want > maxext)
		want = maxext;
	if (least > want || cur + want > UINT32_MAX)
		return -ENOSPC;
	/* at most half of the free data blocks go to both copies, unless less would not do */
	uint64_t free_ = w->free_blocks, bm_more = blocks_of(fs, SBD_BITMAP + (cur + want + 7) / 8);
	bm_more = bm_more > covered(fs, m->bmf) ? bm_more - covered(fs, m->bmf) : 0;
	if (free_ <= bm_more + 2 * least)
		return -ENOSPC;
	uint64_t cap = (free_ / 2 > bm_more ? free_ / 2 - bm_more : 0) / 2 / au * au;
	if (cap < least)
		cap = (free_ - bm_more) / 2 / au * au;
	if (want > cap)
		want = cap;
	if ((rc = udf_begin_change(fs)) != 0) /* the integrity descriptor says open before anything */
		return rc;
	for (uint64_t n = want; n >= least && n >= au; n = n / 2 / au * au) {
		uint64_t a = find_aligned(w, (uint32_t)n, al, end_of(fs, mf));
		if (a == UINT64_MAX)
			continue;
		udf_take_run(fs, a, (uint32_t)n);
		/* the mirror's from where its own data ends (the middle of the partition, as formatted):
		 * away from the metadata file's */
		uint64_t b = find_aligned(w, (uint32_t)n, al, end_of(fs, mi));
		if (b == UINT64_MAX) {
			udf_alloc_undo(fs, 0, (uint32_t)a, (uint32_t)n);
			continue;
		}
		udf_take_run(fs, b, (uint32_t)n);
		if ((rc = resize_space(fs, m, cur + n)) != 0 || (rc = fit_bitmap_file(fs, m)) != 0) {
			if (resize_space(fs, m, cur) == 0) /* smaller: nothing allocated */
				m->bmf_refit = false;
			udf_alloc_undo(fs, 0, (uint32_t)a, (uint32_t)n);
			udf_alloc_undo(fs, 0, (uint32_t)b, (uint32_t)n);
			return rc;
		}
		/* room checked above: these do not fail */
		add_run(fs, mf, m->ppart, (uint32_t)a, (uint32_t)n);
		add_run(fs, mi, m->ppart, (uint32_t)b, (uint32_t)n);
		/* the new blocks are the metadata partition's, whose free ones no hint may zero */
		udf_written(w, (uint32_t)a, (uint32_t)n);
		udf_written(w, (uint32_t)b, (uint32_t)n);
		mf->size += n * fs->bs;
		mi->size += n * fs->bs;
		mf->st.st_size = (off_t)mf->size;
		mi->st.st_size = (off_t)mi->size;
		s->free_blocks += n;
		m->grow_gen++;
		w->changed = true; /* the next commit writes the two entries */
		udf_update_sf(fs);
		return 0;
	}
	return -ENOSPC;
}

/* One of the three files' Extended File Entry at block loc of the physical partition, as read with
 * its extents and size as they are now (short allocation descriptors, all in the entry). */
static int write_entry(struct udf_fs *fs, struct node *n, uint32_t loc)
{
	uint8_t *b = fs->w->buf2;
	uint32_t bs = fs->bs;

	if (!n->efe || n->hdr_len != EFE_HDR + n->lea || n->next > entry_ad_room(fs, n))
		return -EIO;
	memset(b, 0, bs);
	memcpy(b, n->hdr, n->hdr_len);
	uint8_t *ad = b + n->hdr_len;
	uint64_t rec = 0;
	for (uint32_t i = 0; i < n->next; i++, ad += SAD_SIZE) {
		put_le32(ad + AD_LEN, n->ext[i].len | (uint32_t)n->ext[i].type << 30);
		put_le32(ad + SAD_POS, n->ext[i].lbn);
		if (n->ext[i].type == 0)
			rec += blocks_of(fs, n->ext[i].len);
	}
	put_le64(b + FE_INFO_LENGTH, n->size);
	put_le64(b + EFE_OBJECT_SIZE, n->size);
	put_le64(b + EFE_BLOCKS_RECORDED, rec);
	udf_put_timestamp(b + EFE_MODIFICATION_TIME, now(), fs->w->tz);
	put_le32(b + EFE_AD_LEN, n->next * SAD_SIZE);
	udf_put_vol_tag(fs, b, TAG_EFE, loc, (uint16_t)(n->hdr_len + n->next * SAD_SIZE - TAG_SIZE));
	udf_tag_finish(b, bs);
	/* the header kept as written: the next rewrite starts from it */
	memcpy(n->hdr, b, n->hdr_len);
	return udf_write_run(fs, loc, 1, b);
}

int udf_meta_write_entries(struct udf_fs *fs)
{
	struct udf_meta_w *m = fs->w->meta;
	int rc;

	if (!m || m->grow_gen == m->entries_gen)
		return 0;
	if ((rc = write_entry(fs, fs->parts[m->mpart].meta, m->mloc)) != 0 ||
	    (rc = write_entry(fs, m->mirror, m->miloc)) != 0)
		return rc;
	if (fs->w->snap) {
		fs->w->snap->meta_entries = true;
		fs->w->snap->meta_gen = m->grow_gen;
	}
	return 0;
}

void udf_meta_entries_written(struct udf_fs *fs, uint32_t gen)
{
	if (fs->w->meta)
		fs->w->meta->entries_gen = gen;
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
		/* pktfuse check's repair (no_recover) marks them used before anything is allocated, and so
		 * does the check after an unclean shutdown (the medium's bitmap may not know of a growth) */
		for (uint64_t b = e->lbn; b < e->lbn + nb && !fs->opts.no_recover && fs->lvid_type == 1; b++) {
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
	/* after an unclean shutdown (the check rebuilds the bitmap next) one of another size is fitted:
	 * a cut commit may have grown the metadata file, or the bitmap, but not both */
	bool fit = fs->lvid_type != 1 && !fs->opts.no_recover;

	if (m->bmf->size < SBD_BITMAP || (!fit && m->bmf->size > SBD_BITMAP + meta_blocks / 8 + 2ull * fs->bs))
		return "the UDF metadata bitmap's size does not match the metadata partition";
	s->sbd_blocks = blocks_of(fs, m->bmf->size);
	if (fit && s->sbd_blocks > blocks_of(fs, SBD_BITMAP + meta_blocks / 8 + 2ull * fs->bs))
		s->sbd_blocks = blocks_of(fs, SBD_BITMAP + meta_blocks / 8 + 2ull * fs->bs);
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
	bool whole = le32(s->sbd + SBD_NUM_BYTES) >= (s->nbits + 7) / 8 &&
		     SBD_BITMAP + (uint64_t)le32(s->sbd + SBD_NUM_BYTES) <= m->bmf->size;
	if (fit && (s->nbits != meta_blocks || !whole)) {
		uint64_t room = ((uint64_t)s->sbd_blocks * fs->bs - SBD_BITMAP) * 8;
		if (!whole || s->nbits > room)
			s->nbits = room < meta_blocks ? room : meta_blocks;
		if (resize_space(fs, m, meta_blocks))
			return "out of memory";
	} else if (s->nbits != meta_blocks || !whole) {
		return "the UDF metadata bitmap does not describe the metadata partition";
	}
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
	m->mloc = p->meta_loc;
	m->miloc = p->mirror_loc;
	m->bloc = p->mbm_loc;
	m->alloc_unit = p->meta_alloc_unit ? p->meta_alloc_unit : 1;
	m->align_unit = p->meta_align_unit ? p->meta_align_unit : 1;
	if (mf->size % fs->bs || m->mirror->size % fs->bs || mf->size / fs->bs > UINT32_MAX)
		return "the UDF metadata file and its mirror differ in size";
	if (mf->size != m->mirror->size) {
		/* a commit that grew both was cut before it could name a new block (udf_meta_grow): the
		 * grown one is cut back, and its entry rewritten by the next commit */
		if (fs->lvid_type == 1 || fs->opts.no_recover)
			return "the UDF metadata file and its mirror differ in size";
		struct node *big = mf->size > m->mirror->size ? mf : m->mirror;
		cut_to(fs, big, mf->size < m->mirror->size ? mf->size : m->mirror->size);
		m->grow_gen++;
		w->changed = true;
	}
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
