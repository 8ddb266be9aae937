/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A node's extents in memory (whole blocks, contiguous from offset 0) and its file data: writes into
 * allocated blocks, embedded data and leaving it, truncation.  Under fs->lock.
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

static uint32_t ext_blocks(const struct udf_fs *fs, const struct node *n)
{
	if (!n->next)
		return 0;
	const struct extent *e = &n->ext[n->next - 1];
	return blocks_of(fs, e->file_off + e->len);
}

int udf_ext_reserve(struct node *n, uint32_t need)
{
	if (need <= n->ext_cap)
		return 0;
	uint32_t nc = n->ext_cap ? n->ext_cap : 8;
	while (nc < need)
		nc *= 2;
	if (nc > MAX_EXTENTS)
		return -EFBIG;
	struct extent *e = realloc(n->ext, nc * sizeof(*e));
	if (!e)
		return -ENOMEM;
	n->ext = e;
	n->ext_cap = nc;
	return 0;
}

static bool ext_mergeable(const struct udf_fs *fs, const struct extent *a, const struct extent *b)
{
	if (a->type != b->type || (uint64_t)a->len + b->len > MAX_EXT_BYTES(fs->bs))
		return false;
	return a->type == 2 || (uint64_t)a->lbn + a->len / fs->bs == b->lbn;
}

/* Rounds the last extent up to whole blocks and frees extents wholly past the end of the file
 * (such as preallocation by another implementation): the writer's invariant. */
int udf_ext_normalize(struct udf_fs *fs, struct node *n)
{
	uint32_t keep = blocks_of(fs, n->size);
	uint32_t out = 0;

	for (uint32_t i = 0; i < n->next; i++) {
		struct extent *e = &n->ext[i];
		uint32_t first = (uint32_t)(e->file_off / fs->bs), cnt = blocks_of(fs, e->len);
		if (first >= keep) {
			if (e->type != 2)
				udf_free_in(fs, e->part, e->lbn, cnt);
			continue;
		}
		if (first + cnt > keep) {
			if (e->type != 2)
				udf_free_in(fs, e->part, e->lbn + (keep - first), first + cnt - keep);
			cnt = keep - first;
		}
		e->len = cnt * fs->bs;
		n->ext[out++] = *e;
	}
	n->next = out;
	return 0;
}

static int ext_set_one(struct udf_fs *fs, struct node *n, uint32_t fb, uint32_t cnt, uint8_t type, uint32_t lbn)
{
	uint32_t total = ext_blocks(fs, n);
	struct extent ne = {(uint64_t)fb * fs->bs, cnt * fs->bs, type, 0, type == 2 ? 0 : lbn};

	if (fb > total) {
		int rc = udf_ext_set(fs, n, total, fb - total, 2, 0);
		if (rc)
			return rc;
		total = fb;
	}
	if (fb == total) {
		/* appending: the common case, O(1) */
		if (n->next && ext_mergeable(fs, &n->ext[n->next - 1], &ne)) {
			n->ext[n->next - 1].len += ne.len;
			return 0;
		}
		int rc = udf_ext_reserve(n, n->next + 1);
		if (rc)
			return rc;
		n->ext[n->next++] = ne;
		return 0;
	}
	/* general case: rebuild the list around the new piece */
	int rc = udf_ext_reserve(n, n->next + 3);
	if (rc)
		return rc;
	struct extent *old = malloc(n->next * sizeof(*old));
	if (!old)
		return -ENOMEM;
	uint32_t nold = n->next;
	memcpy(old, n->ext, nold * sizeof(*old));
	uint32_t out = 0;
	uint64_t a = ne.file_off, b = ne.file_off + ne.len;
	bool placed = false;
	for (uint32_t i = 0; i < nold; i++) {
		struct extent e = old[i];
		uint64_t s = e.file_off, t = e.file_off + e.len;
		if (t <= a || s >= b) {
			if (s >= b && !placed) {
				n->ext[out++] = ne;
				placed = true;
			}
			n->ext[out++] = e;
			continue;
		}
		if (e.type != 2) {
			/* the blocks this piece replaces */
			uint64_t x = s > a ? s : a, y = t < b ? t : b;
			udf_free_in(fs, e.part, e.lbn + (uint32_t)((x - s) / fs->bs), (uint32_t)((y - x) / fs->bs));
		}
		if (s < a) {
			struct extent h = e;
			h.len = (uint32_t)(a - s);
			n->ext[out++] = h;
		}
		if (!placed) {
			n->ext[out++] = ne;
			placed = true;
		}
		if (t > b) {
			struct extent tl = e;
			tl.file_off = b;
			tl.len = (uint32_t)(t - b);
			if (e.type != 2)
				tl.lbn = e.lbn + (uint32_t)((b - s) / fs->bs);
			n->ext[out++] = tl;
		}
	}
	if (!placed)
		n->ext[out++] = ne;
	free(old);
	/* merge neighbours */
	uint32_t m = 0;
	for (uint32_t i = 0; i < out; i++) {
		if (m && ext_mergeable(fs, &n->ext[m - 1], &n->ext[i]))
			n->ext[m - 1].len += n->ext[i].len;
		else
			n->ext[m++] = n->ext[i];
	}
	n->next = m;
	return 0;
}

/* Maps file blocks [fb, fb+cnt) to type/lbn, in pieces an allocation descriptor can record (a
 * hole of gigabytes is several extents). */
int udf_ext_set(struct udf_fs *fs, struct node *n, uint32_t fb, uint32_t cnt, uint8_t type, uint32_t lbn)
{
	uint32_t maxb = MAX_EXT_BYTES(fs->bs) / fs->bs;

	while (cnt) {
		uint32_t k = cnt < maxb ? cnt : maxb;
		int rc = ext_set_one(fs, n, fb, k, type, lbn);
		if (rc)
			return rc;
		fb += k;
		cnt -= k;
		if (type != 2)
			lbn += k;
	}
	return 0;
}

/* The extent holding file block fb, or NULL past the end. */
static struct extent *ext_at(const struct udf_fs *fs, struct node *n, uint32_t fb)
{
	uint64_t off = (uint64_t)fb * fs->bs;
	uint32_t lo = 0, hi = n->next;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (n->ext[mid].file_off + n->ext[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n->next ? &n->ext[lo] : NULL;
}

void udf_recount_blocks(struct udf_fs *fs, struct node *n)
{
	uint64_t b = 0;

	for (uint32_t i = 0; i < n->next; i++)
		if (n->ext[i].type == 0)
			b += blocks_of(fs, n->ext[i].len);
	n->st.st_blocks = (blkcnt_t)(b * (fs->bs / 512));
}

uint32_t udf_inline_cap(const struct udf_fs *fs, const struct node *n)
{
	return fs->bs - (n->efe ? EFE_HDR : FE_HDR) - n->lea;
}

/* Moves embedded data out of the ICB into allocated blocks.  After -ENOSPC the blocks moved so far
 * stay in n->ext, so that a call after a commit goes on from there. */
static int unembed(struct udf_fs *fs, struct node *n)
{
	uint32_t nb = blocks_of(fs, n->size);
	uint32_t done = ext_blocks(fs, n);
	while (done < nb) {
		uint32_t lbn, got;
		int rc = udf_alloc_blocks(fs, UINT64_MAX, nb - done, 0, &lbn, &got);
		if (rc)
			return rc; /* blocks taken so far are referenced by n->ext and freed with it */
		for (uint32_t i = 0; i < got; i++) {
			memset(fs->w->buf, 0, fs->bs);
			uint64_t off = (uint64_t)(done + i) * fs->bs;
			size_t len = n->size - off < fs->bs ? (size_t)(n->size - off) : fs->bs;
			memcpy(fs->w->buf, n->inline_data + off, len);
			if ((rc = udf_write_lb(fs, lbn + i, fs->w->buf)) != 0) {
				udf_free_later(fs, lbn, got);
				return rc;
			}
		}
		if ((rc = udf_ext_set(fs, n, done, got, 0, lbn)) != 0) {
			udf_free_later(fs, lbn, got);
			return rc;
		}
		done += got;
	}
	free(n->inline_data);
	n->inline_data = NULL;
	udf_recount_blocks(fs, n);
	return 0;
}

/* Where copies go: on rewritable media into a packet that held nothing when this commit interval
 * began (udf_alloc.c meta_fresh), written once by the commit, not into the packet the data cursor
 * is in, which the next commits' copies would write again (a log appended and synced: one block
 * further each commit, so one packet took some thirty commits' copies in a row). */
static unsigned copy_flags(const struct udf_fs *fs)
{
	if (fs->w->vat)
		return 0;
	/* with a metadata partition ALLOC_META is that partition, which data stays out of: the
	 * physical partition's own fresh packet; else the one the interval's new entries go to */
	return fs->w->meta ? ALLOC_FRESH : ALLOC_META;
}

/* File block fb (recorded, at lbn in part, already on the medium) gets a new home holding its old
 * contents, so that a partial write can complete it there. */
static int cow_block(struct udf_fs *fs, struct node *n, uint32_t fb, uint16_t part, uint32_t lbn, uint32_t *nlbn)
{
	uint32_t got;
	int rc = udf_read_lb(fs, part, lbn, fs->w->buf);

	if (rc == 0)
		rc = udf_alloc_blocks(fs, UINT64_MAX, 1, copy_flags(fs), nlbn, &got);
	if (rc == 0)
		rc = udf_write_lb(fs, *nlbn, fs->w->buf);
	if (rc == 0)
		rc = udf_ext_set(fs, n, fb, 1, 0, *nlbn);
	return rc;
}

/* Whether a write of [off, end) leaves nothing of file block fb's old contents to keep. */
static bool covers(const struct udf_fs *fs, const struct node *n, uint64_t off, uint64_t end, uint32_t fb)
{
	uint64_t s = (uint64_t)fb * fs->bs;

	return s >= off && (end >= s + fs->bs || end >= n->size);
}

/* Whether block lbn of part holds what the medium's tree names (written by an earlier commit): on
 * write-once media it can never be written again, on rewritable ones it is not, where it is copied. */
static bool on_medium(struct udf_fs *fs, uint16_t part, uint32_t lbn)
{
	return fs->w->vat ? udf_vat_frozen(fs, part, lbn) : !udf_fresh_block(fs->w, lbn);
}

/* Rewritable media, media life: a regular file whose entry moves (udf_move.c: a log appended and
 * synced, a file overwritten and synced) would still rewrite its changed data blocks in place at
 * every commit.  Its blocks on the medium are copied instead, as on write-once media, while the
 * allocation descriptors fit in the entry (beyond, in place: the extents would grow without bound)
 * and while space allows (near full, in place as before).  With a metadata partition the copies
 * are the partition's, where the reserve is not (it is kept in the metadata partition). */
static bool cow_rewrites(struct udf_fs *fs, const struct node *n, uint32_t b0, uint32_t b1)
{
	const struct udf_w *w = fs->w;
	uint64_t keep = w->meta ? 0 : w->reserve;

	/* one copy splits an extent in three: two more descriptors (long ones from a metadata
	 * partition's entries, else short) */
	uint32_t ad = w->meta ? LAD_SIZE : SAD_SIZE;
	return !w->vat && n->file_type == 5 && n->nchain > 0 && udf_ino_part(n->ino) == udf_meta_part(fs) &&
	       (uint64_t)n->next + 3 <= udf_inline_cap(fs, n) / ad && w->free_blocks > keep + (uint64_t)(b1 - b0) + 4;
}

/* The recorded blocks of [b0, b1] that are on the medium already are not written again: those the
 * write covers wholly become holes (pass 1 gives them new homes), the partial ones at the ends are
 * copied to new homes first. */
static int cow_range(struct udf_fs *fs, struct node *n, uint64_t off, uint64_t end, uint32_t b0, uint32_t b1)
{
	uint32_t bs = fs->bs;
	bool frozen = false;

	/* all or nothing: a write that cannot give every block a new home changes nothing */
	for (uint32_t fb = b0; fb <= b1 && !frozen && fs->w->vat; fb++) {
		struct extent *e = ext_at(fs, n, fb);
		if (!e)
			break;
		frozen = e->type != 2 && udf_vat_frozen(fs, e->part, e->lbn + (fb - (uint32_t)(e->file_off / bs)));
	}
	if (frozen && udf_vat_avail(fs) < (uint64_t)(b1 - b0) + 2)
		return -ENOSPC;
	for (uint32_t fb = b0; fb <= b1;) {
		struct extent *e = ext_at(fs, n, fb);
		if (!e)
			break;
		uint32_t ext_end = (uint32_t)((e->file_off + e->len) / bs);
		if (e->type == 2) {
			fb = ext_end;
			continue;
		}
		uint32_t lbn = e->lbn + (fb - (uint32_t)(e->file_off / bs));
		if (!on_medium(fs, e->part, lbn)) {
			fb++;
			continue;
		}
		int rc;
		uint32_t nl;
		if (!covers(fs, n, off, end, fb)) {
			rc = cow_block(fs, n, fb, e->part, lbn, &nl);
			fb++;
		} else {
			/* a run of wholly covered blocks on the medium, within this extent */
			uint32_t k = 1;
			while (fb + k <= b1 && fb + k < ext_end && covers(fs, n, off, end, fb + k) &&
			       on_medium(fs, e->part, lbn + k))
				k++;
			rc = udf_ext_set(fs, n, fb, k, 2, 0);
			fb += k;
		}
		if (rc)
			return rc;
	}
	return 0;
}

ssize_t udf_node_write(struct udf_fs *fs, struct node *n, uint64_t off, size_t len, const uint8_t *src)
{
	uint32_t bs = fs->bs;
	uint64_t end = off + len;
	int rc;

	if (len == 0)
		return 0;
	if (end > (uint64_t)MAX_EXTENTS * MAX_EXT_BYTES(bs) || end < off)
		return -EFBIG;
	if (n->inline_data) {
		if (end <= udf_inline_cap(fs, n)) {
			if (end > n->size) {
				uint8_t *d = realloc(n->inline_data, end);
				if (!d)
					return -ENOMEM;
				memset(d + n->size, 0, end - n->size);
				n->inline_data = d;
				n->size = end;
			}
			memcpy(n->inline_data + off, src, len);
			n->st.st_size = (off_t)n->size;
			return (ssize_t)len;
		}
		if ((rc = unembed(fs, n)) != 0)
			return rc;
	}
	uint32_t b0 = (uint32_t)(off / bs), b1 = (uint32_t)((end - 1) / bs);
	if (fs->w->vat && ((rc = udf_vat_drain(fs)) != 0 || (rc = cow_range(fs, n, off, end, b0, b1)) != 0))
		return rc;
	bool cow = cow_rewrites(fs, n, b0, b1);
	if (cow && (rc = cow_range(fs, n, off, end, b0, b1)) != 0)
		return rc;
	uint32_t old_blocks = blocks_of(fs, n->size); /* below: a block copied (a hole cow_range made) */
	/* Pass 1: every block of the range gets a home; which ones are fresh (hold no old data). */
	uint32_t nfresh_cap = b1 - b0 + 1;
	uint8_t *fresh = calloc(nfresh_cap, 1);
	if (!fresh)
		return -ENOMEM;
	for (uint32_t fb = b0; fb <= b1;) {
		struct extent *e = ext_at(fs, n, fb);
		if (e && e->type == 0) {
			fb = (uint32_t)((e->file_off + e->len) / bs);
			continue;
		}
		/* a run needing blocks: up to the end of this hole (or of the write) */
		uint32_t run_end = b1 + 1;
		if (e) {
			uint32_t hole_end = (uint32_t)((e->file_off + e->len) / bs);
			if (hole_end < run_end)
				run_end = hole_end;
		}
		uint64_t goal = UINT64_MAX;
		if (fb > 0) {
			struct extent *p = ext_at(fs, n, fb - 1);
			if (p && p->type == 0)
				goal = p->lbn + (fb - 1 - p->file_off / bs) + 1;
		}
		uint32_t want = run_end - fb, lbn, got;
		unsigned flags = goal == UINT64_MAX && want >= fs->w->pkt ? ALLOC_ALIGN : 0;
		if (cow && fb < old_blocks && want < fs->w->pkt)
			flags = copy_flags(fs);
		rc = udf_alloc_blocks(fs, goal, want, flags, &lbn, &got);
		if (rc == 0 && (rc = udf_ext_set(fs, n, fb, got, 0, lbn)) != 0)
			udf_free_later(fs, lbn, got);
		if (rc == -ENOSPC && fb > b0) {
			/* full: a short write of what has a home, as write(2) allows */
			b1 = fb - 1;
			len = (size_t)((uint64_t)fb * bs - off);
			end = off + len;
			break;
		}
		if (rc) {
			free(fresh);
			return rc;
		}
		memset(fresh + (fb - b0), 1, got);
		fb += got;
	}
	/* Pass 2: write; partial blocks are completed from the medium, or with zeros when fresh. */
	size_t done = 0;
	rc = 0;
	for (uint32_t fb = b0; fb <= b1 && rc == 0;) {
		struct extent *e = ext_at(fs, n, fb);
		if (!e || e->type != 0) {
			rc = -EIO; /* pass 1 gave every block a home: never write anywhere else */
			break;
		}
		uint32_t lbn = e->lbn + (uint32_t)(fb - e->file_off / bs);
		uint64_t boff = off + done - (uint64_t)fb * bs;
		size_t chunk = bs - boff < len - done ? bs - boff : len - done;
		if (boff == 0 && chunk == bs) {
			/* whole blocks: as many as are contiguous in this extent */
			uint32_t k = 1, ext_end = (uint32_t)((e->file_off + e->len) / bs);
			while (fb + k <= b1 && fb + k < ext_end && (len - done) >= (size_t)(k + 1) * bs)
				k++;
			rc = udf_write_run(fs, lbn, k, src + done);
			done += (size_t)k * bs;
			fb += k;
			continue;
		}
		if (fresh[fb - b0])
			memset(fs->w->buf, 0, bs);
		else if ((rc = udf_read_lb(fs, 0, lbn, fs->w->buf)) != 0)
			break;
		memcpy(fs->w->buf + boff, src + done, chunk);
		rc = udf_write_lb(fs, lbn, fs->w->buf);
		done += chunk;
		fb++;
	}
	free(fresh);
	if (rc)
		return rc;
	if (end > n->size) {
		n->size = end;
		n->st.st_size = (off_t)end;
	}
	udf_recount_blocks(fs, n);
	return (ssize_t)len;
}

int udf_node_truncate(struct udf_fs *fs, struct node *n, uint64_t size)
{
	uint32_t bs = fs->bs;
	int rc;

	if (size == n->size)
		return 0;
	if (n->inline_data) {
		if (size <= udf_inline_cap(fs, n)) {
			uint8_t *d = realloc(n->inline_data, size ? size : 1);
			if (!d)
				return -ENOMEM;
			if (size > n->size)
				memset(d + n->size, 0, size - n->size);
			n->inline_data = d;
			n->size = size;
			n->st.st_size = (off_t)size;
			return 0;
		}
		if ((rc = unembed(fs, n)) != 0)
			return rc;
	}
	if (size < n->size) {
		/* the tail of the new last block must read as zeros if the file grows again */
		if (size % bs) {
			struct extent *e = ext_at(fs, n, (uint32_t)(size / bs));
			if (e && e->type == 0) {
				uint32_t lbn = e->lbn + (uint32_t)(size / bs - e->file_off / bs);
				if (fs->w->vat && udf_vat_frozen(fs, e->part, lbn) &&
				    (rc = cow_block(fs, n, (uint32_t)(size / bs), e->part, lbn, &lbn)) != 0)
					return rc;
				if ((rc = udf_read_lb(fs, 0, lbn, fs->w->buf)) != 0)
					return rc;
				memset(fs->w->buf + size % bs, 0, bs - size % bs);
				if ((rc = udf_write_lb(fs, lbn, fs->w->buf)) != 0)
					return rc;
			}
		}
		n->size = size;
		udf_ext_normalize(fs, n);
	} else {
		uint32_t have = ext_blocks(fs, n), need = blocks_of(fs, size);
		if (need > have && (rc = udf_ext_set(fs, n, have, need - have, 2, 0)) != 0)
			return rc;
		n->size = size;
	}
	n->st.st_size = (off_t)size;
	udf_recount_blocks(fs, n);
	return 0;
}
