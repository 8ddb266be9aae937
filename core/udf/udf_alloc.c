/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The allocator: the space bitmap in memory, allocation (new metadata into packets that were free
 * when the commit interval began, big files packet-aligned), frees that become allocatable only after
 * the next commit, and the reserve the next commit needs.  Under fs->lock.
 *
 * A leaf: it never commits.  When it says -ENOSPC, blocks freed since the last commit may become
 * allocatable by a commit; committing and trying again is the public operations' policy
 * (udf_commit_for_space), never the allocator's, since the commit itself allocates.
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

bool udf_bm_is_free(const struct udf_w *w, uint64_t b)
{
	return b < w->nbits && (w->sbd[SBD_BITMAP + b / 8] >> (b % 8) & 1);
}

static void bm_mark(struct udf_w *w, uint32_t bs, uint64_t b, bool free_)
{
	uint8_t *p = &w->sbd[SBD_BITMAP + b / 8];

	if (free_)
		*p |= (uint8_t)(1u << (b % 8));
	else
		*p &= (uint8_t) ~(1u << (b % 8));
	w->sbd_dirty[(SBD_BITMAP + b / 8) / bs] = 1;
	w->sbd_dirty[0] = 1; /* the tag's CRC may cover the changed byte */
}

void udf_bm_mark(struct udf_fs *fs, uint64_t b, bool free_)
{
	bm_mark(fs->w, fs->bs, b, free_);
}

void udf_space_mark(struct udf_fs *fs, struct udf_w *bw, uint64_t b, bool free_)
{
	bm_mark(bw, fs->bs, b, free_);
}

/* The bitmap blocks of this kind come from: the metadata partition's for file entries, directories
 * and continuation blocks on a volume with one (udf_meta_write.c), else the partition's. */
static struct udf_w *space_of(struct udf_w *w, unsigned flags)
{
	return w->meta && (flags & ALLOC_META) ? udf_meta_space(w) : w;
}

/* The space the reserve (the directories' next rewrite) is kept in. */
static struct udf_w *reserve_space(struct udf_w *w)
{
	return space_of(w, ALLOC_META);
}

/* First free block in [from, to), or UINT64_MAX. */
uint64_t udf_bm_find(const struct udf_w *w, uint64_t from, uint64_t to)
{
	if (to > w->nbits)
		to = w->nbits;
	for (uint64_t b = from; b < to;) {
		if (b % 8 == 0 && w->sbd[SBD_BITMAP + b / 8] == 0) {
			b += 8;
			continue;
		}
		if (udf_bm_is_free(w, b))
			return b;
		b++;
	}
	return UINT64_MAX;
}

uint32_t udf_bm_run(const struct udf_w *w, uint64_t b, uint32_t max)
{
	uint32_t n = 0;

	while (n < max && udf_bm_is_free(w, b + n))
		n++;
	return n;
}

/* Records blocks [b, b+n) of the partition as taken since the last commit's snapshot (file data
 * there may be rewritten in place: see udf_extent.c).  Out of memory: nothing is recorded, and the
 * blocks only count as recorded on the medium (copied rather than rewritten, which is safe). */
static void fresh_mark(struct udf_w *w, uint64_t b, uint32_t n)
{
	if (w->vat || n == 0)
		return;
	if (!w->fresh && !(w->fresh = calloc((w->nbits + 7) / 8, 1)))
		return;
	for (uint64_t k = b; k < b + n && k < w->nbits; k++)
		w->fresh[k / 8] |= (uint8_t)(1u << (k % 8));
	if (w->fresh_lo >= w->fresh_hi) {
		w->fresh_lo = b;
		w->fresh_hi = b + n;
	}
	w->fresh_lo = b < w->fresh_lo ? b : w->fresh_lo;
	w->fresh_hi = b + n > w->fresh_hi ? b + n : w->fresh_hi;
}

bool udf_fresh_block(const struct udf_w *w, uint64_t b)
{
	return w->fresh && b < w->nbits && b >= w->fresh_lo && b < w->fresh_hi && (w->fresh[b / 8] >> (b % 8) & 1);
}

/* The commit's snapshot is taken: what it records names every block taken so far. */
void udf_fresh_reset(struct udf_w *w)
{
	if (w->fresh && w->fresh_lo < w->fresh_hi)
		memset(w->fresh + w->fresh_lo / 8, 0, (w->fresh_hi + 7) / 8 - w->fresh_lo / 8);
	w->fresh_lo = w->fresh_hi = 0;
}

/* Blocks [b, b+n) of the partition taken: nothing written there yet (a hint, so out of memory
 * leaves it unrecorded). */
static void unwritten_mark(struct udf_w *w, uint64_t b, uint32_t n)
{
	if (w->vat || n == 0)
		return;
	if (!w->unwritten && !(w->unwritten = calloc((w->nbits + 7) / 8, 1)))
		return;
	for (uint64_t k = b; k < b + n && k < w->nbits; k++)
		w->unwritten[k / 8] |= (uint8_t)(1u << (k % 8));
}

bool udf_unwritten_block(const struct udf_w *w, uint64_t b)
{
	return w->unwritten && b < w->nbits && (w->unwritten[b / 8] >> (b % 8) & 1);
}

void udf_written(struct udf_w *w, uint64_t b, uint32_t n)
{
	if (!w->unwritten)
		return;
	for (uint64_t k = b; k < b + n && k < w->nbits; k++)
		w->unwritten[k / 8] &= (uint8_t) ~(1u << (k % 8));
}

static void take_run(struct udf_fs *fs, struct udf_w *bw, uint64_t b, uint32_t n)
{
	if (bw == fs->w) {
		fresh_mark(bw, b, n);
		unwritten_mark(bw, b, n);
	}
	for (uint32_t i = 0; i < n; i++)
		bm_mark(bw, fs->bs, b + i, false);
	bw->free_blocks -= n;
	udf_update_sf(fs);
}

/* Marks the n free blocks from b used. */
void udf_take_run(struct udf_fs *fs, uint64_t b, uint32_t n)
{
	take_run(fs, fs->w, b, n);
}

void udf_space_take(struct udf_fs *fs, struct udf_w *bw, uint64_t b, uint32_t n)
{
	take_run(fs, bw, b, n);
}

/* Space bw (the metadata partition's) is short of `short_by` blocks for an allocation with flags:
 * grown when what the next commit frees would not cover it (the operations commit first: see
 * udf_commit_for_space; inside the commit nothing pending can be used).  True when it grew. */
static bool grow_for(struct udf_fs *fs, const struct udf_w *bw, uint64_t short_by, unsigned flags)
{
	struct udf_w *w = fs->w;

	if (!w->meta || w->vat || bw != udf_meta_space(w) || (flags & ALLOC_NO_GROW) || short_by == 0)
		return false;
	if (!w->in_commit && bw->pend_blocks + w->chain_blocks >= short_by)
		return false;
	return udf_meta_grow(fs, short_by) == 0;
}

/* The first run of nb free blocks in [from, to) (it may end past to), or UINT64_MAX. */
static uint64_t find_run(const struct udf_w *bw, uint32_t nb, uint64_t from, uint64_t to)
{
	for (uint64_t c = udf_bm_find(bw, from, to); c != UINT64_MAX; c = udf_bm_find(bw, c + 1, to)) {
		uint32_t r = udf_bm_run(bw, c, nb);
		if (r == nb)
			return c;
		c += r;
	}
	return UINT64_MAX;
}

int udf_alloc_exact(struct udf_fs *fs, uint32_t nb, unsigned flags, uint32_t *lbn)
{
	struct udf_w *bw = space_of(fs->w, flags);
	uint32_t *goal = flags & ALLOC_META ? &bw->meta_goal : &bw->data_goal;
	/* from the cursor round, as udf_alloc_blocks: a search from block 0 would hand the same low
	 * run (freed again by the next commit) to a directory rewritten by every commit, and wear
	 * its packet (a small metadata partition's first packets took a write every 7 commits) */
	uint64_t from = *goal < bw->nbits ? *goal : 0, c = find_run(bw, nb, from, bw->nbits);

	if (c == UINT64_MAX && from)
		c = find_run(bw, nb, 0, from);
	/* too few free blocks for the run (not merely in short runs: the callers use those), grown: the
	 * new blocks are one run at the metadata partition's end */
	if (c == UINT64_MAX && bw->free_blocks < nb && grow_for(fs, bw, nb - bw->free_blocks, flags))
		c = find_run(bw, nb, 0, bw->nbits);
	if (c == UINT64_MAX)
		return -ENOSPC;
	take_run(fs, bw, c, nb);
	*goal = (uint32_t)(c + nb);
	*lbn = (uint32_t)c;
	return 0;
}

/*
 * New file entries and directories of one commit interval go into packets that held nothing when
 * the interval began: a commit writes them in its first step and the entries that already existed
 * in its second, so each packet is written once per commit.  So do the copies of file data that a
 * moving file's commits make (ALLOC_FRESH): on a volume with a metadata partition they are the
 * physical partition's, whose w->mp_start and w->meta_goal then serve them alone.  With no wholly
 * free packet left, a packet with room for want; returns false when none has (then any free block
 * will do).
 */
static bool meta_fresh(struct udf_w *w, uint32_t want, uint64_t *b)
{
	if (w->pkt <= 1 || w->nbits <= w->pkt_off + w->pkt || want > w->pkt)
		return false;
	if (w->mp_valid) {
		uint64_t f = udf_bm_find(w, w->mp_start, w->mp_start + w->pkt);
		if (f != UINT64_MAX && udf_bm_run(w, f, want) == want && f + want <= w->mp_start + w->pkt) {
			*b = f;
			return true;
		}
	}
	uint64_t npk = (w->nbits - w->pkt_off) / w->pkt;
	uint64_t first = w->meta_goal > w->pkt_off ? (w->meta_goal - w->pkt_off) / w->pkt : 0;
	for (uint64_t i = 0; i < npk; i++) {
		uint64_t c = w->pkt_off + ((first + i) % npk) * w->pkt;
		if (udf_bm_run(w, c, w->pkt) == w->pkt) {
			w->mp_valid = true;
			w->mp_start = c;
			/* the next interval's search starts past it: packets that the commits free again
			 * (a moving entry's pairs, the copies of a file's blocks) are not the next ones
			 * taken, so the writes go round the partition */
			w->meta_goal = (uint32_t)(c + w->pkt);
			*b = c;
			return true;
		}
	}
	/* none wholly free (a small metadata partition whose packets each hold a pair of a moving
	 * entry's chain): the next packet with room, round the partition from the same cursor, so
	 * that the commits still take one packet after another (the first free block after the cursor
	 * would put some fifteen commits' pairs in a row into one packet) */
	for (uint64_t i = 0; i < npk; i++) {
		uint64_t c = w->pkt_off + ((first + i) % npk) * w->pkt;
		for (uint64_t f = udf_bm_find(w, c, c + w->pkt); f != UINT64_MAX; f = udf_bm_find(w, f + 1, c + w->pkt))
			if (udf_bm_run(w, f, want) == want && f + want <= c + w->pkt) {
				w->mp_valid = true;
				w->mp_start = c;
				w->meta_goal = (uint32_t)(c + w->pkt);
				*b = f;
				return true;
			}
	}
	return false;
}

/* Allocates up to want consecutive blocks (at least one): at goal when it is free (a file growing in
 * place), else for data a packet-aligned run, else the first free run after the cursor. */
int udf_alloc_blocks(struct udf_fs *fs, uint64_t goal, uint32_t want, unsigned flags, uint32_t *lbn, uint32_t *got)
{
	struct udf_w *fw = fs->w;
	uint32_t maxlen = MAX_EXT_BYTES(fs->bs) / fs->bs;

	if (want > maxlen)
		want = maxlen;
	if (fw->vat)
		return udf_vat_alloc(fs, want, flags, lbn, got);
	struct udf_w *w = space_of(fw, flags);
	uint64_t b = UINT64_MAX;
	if (!fw->in_commit) {
		/* what the next commit needs to rewrite the directories stays free for it, so that
		 * a full disc can still commit (and so free space) */
		uint64_t keep = w == reserve_space(fw) ? fw->reserve : 0;
		uint64_t avail = w->free_blocks > keep ? w->free_blocks - keep : 0;
		if (avail == 0 && grow_for(fs, w, keep + 1 - w->free_blocks, flags))
			avail = w->free_blocks > keep ? w->free_blocks - keep : 0;
		if (avail == 0)
			return -ENOSPC; /* an operation may commit and try again */
		if (want > avail)
			want = (uint32_t)avail;
	}
	if (goal < w->nbits && udf_bm_is_free(w, goal))
		b = goal;
	if (b == UINT64_MAX && (flags & (ALLOC_META | ALLOC_FRESH)) && meta_fresh(w, want, &b)) {
		*got = udf_bm_run(w, b, want);
		*lbn = (uint32_t)b;
		take_run(fs, w, b, *got);
		return 0;
	}
	if (b == UINT64_MAX && (flags & ALLOC_ALIGN) && w->pkt > 1 && w->nbits > w->pkt_off + w->pkt) {
		/* a whole free packet of the medium, so that a big file shares no packet */
		uint64_t npk = (w->nbits - w->pkt_off) / w->pkt;
		uint64_t first = w->data_goal > w->pkt_off ? (w->data_goal - w->pkt_off + w->pkt - 1) / w->pkt : 0;
		for (uint64_t i = 0; i < npk; i++) {
			uint64_t c = w->pkt_off + ((first + i) % npk) * w->pkt;
			if (udf_bm_run(w, c, w->pkt) == w->pkt) {
				b = c;
				break;
			}
		}
	}
	if (b == UINT64_MAX) {
		uint64_t cur = flags & ALLOC_META ? w->meta_goal : w->data_goal;
		b = udf_bm_find(w, cur, w->nbits);
		if (b == UINT64_MAX)
			b = udf_bm_find(w, 0, cur);
	}
	if (b == UINT64_MAX && fw->in_commit && grow_for(fs, w, want, flags))
		b = udf_bm_find(w, 0, w->nbits); /* inside the commit: no avail check above */
	if (b != UINT64_MAX) {
		uint32_t n = udf_bm_run(w, b, want);
		take_run(fs, w, b, n);
		if (flags & ALLOC_META)
			w->meta_goal = (uint32_t)(b + n);
		else
			w->data_goal = (uint32_t)(b + n);
		*lbn = (uint32_t)b;
		*got = n;
		return 0;
	}
	return -ENOSPC;
}

void udf_alloc_undo(struct udf_fs *fs, unsigned flags, uint32_t lbn, uint32_t n)
{
	struct udf_w *w = space_of(fs->w, flags);

	if (fs->w->vat)
		return; /* handed out in order: the VAT's allocator takes nothing back */
	for (uint64_t b = lbn; b < (uint64_t)lbn + n && b < w->nbits; b++)
		if (!udf_bm_is_free(w, b)) {
			bm_mark(w, fs->bs, b, true);
			w->free_blocks++;
		}
	udf_update_sf(fs);
}

static int free_later_in(struct udf_fs *fs, struct udf_w *w, uint32_t lbn, uint32_t n)
{
	if (n == 0 || fs->w->vat)
		return 0; /* write-once media: what is recorded stays (the VAT entry of a file entry goes) */
	if (w->npend > w->pend_floor && w->pend[w->npend - 1].lbn + w->pend[w->npend - 1].n == lbn &&
	    w->pend[w->npend - 1].n + (uint64_t)n < UINT32_MAX) {
		w->pend[w->npend - 1].n += n;
	} else {
		if (w->npend == w->cappend) {
			size_t nc = w->cappend ? w->cappend * 2 : 64;
			struct pend *np = realloc(w->pend, nc * sizeof(*np));
			if (!np)
				return -ENOMEM; /* the blocks leak until the next check; nothing breaks */
			w->pend = np;
			w->cappend = nc;
		}
		w->pend[w->npend++] = (struct pend){lbn, n};
	}
	w->pend_blocks += n;
	udf_update_sf(fs);
	return 0;
}

int udf_free_later(struct udf_fs *fs, uint32_t lbn, uint32_t n)
{
	return free_later_in(fs, fs->w, lbn, n);
}

int udf_free_in(struct udf_fs *fs, uint16_t part, uint32_t lbn, uint32_t n)
{
	struct udf_w *w = fs->w;

	return free_later_in(fs, w->meta && part == udf_meta_part(fs) ? udf_meta_space(w) : w, lbn, n);
}

/* Frees (after the next commit) every block a node's extents hold. */
void udf_free_extents(struct udf_fs *fs, const struct node *n)
{
	for (uint32_t i = 0; i < n->next; i++)
		if (n->ext[i].type != 2)
			udf_free_in(fs, n->ext[i].part, n->ext[i].lbn, blocks_of(fs, n->ext[i].len));
}

/* The first count entries of a space's pending frees (those a commit that completed made) become
 * allocatable; the rest wait for the next commit. */
static void apply_frees(struct udf_fs *fs, struct udf_w *w, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		for (uint32_t k = 0; k < w->pend[i].n; k++) {
			uint64_t b = (uint64_t)w->pend[i].lbn + k;
			if (b < w->nbits && !udf_bm_is_free(w, b)) {
				bm_mark(w, fs->bs, b, true);
				w->free_blocks++;
			}
		}
		w->pend_blocks -= w->pend[i].n;
	}
	if (count) {
		fs->w->bm_stale = w->bm_stale = true;
		memmove(w->pend, w->pend + count, (w->npend - count) * sizeof(*w->pend));
		w->npend -= count;
	}
	w->mp_valid = false; /* what the commit wrote now holds existing entries */
}

/* count of the partition's pending frees, meta_count of the metadata partition's (if any). */
void udf_apply_frees(struct udf_fs *fs, size_t count, size_t meta_count)
{
	apply_frees(fs, fs->w, count);
	if (fs->w->meta)
		apply_frees(fs, udf_meta_space(fs->w), meta_count);
}

/* What statfs calls free: allocatable now or after the next commit, less what that commit needs. */
void udf_update_sf(struct udf_fs *fs)
{
	if (fs->w->vat) {
		udf_vat_update_sf(fs);
		return;
	}
	struct udf_w *w = fs->w;
	/* the chains of entries that move are in the space their entries are (udf_move.c) */
	uint64_t f = w->free_blocks + w->pend_blocks + (w->meta ? 0 : w->chain_blocks);
	uint64_t keep = reserve_space(w) == w ? w->reserve : 0;

	fs->sf.free_blocks = f > keep ? f - keep : 0;
	if (w->meta) {
		struct udf_w *m = udf_meta_space(w);
		uint64_t mf = m->free_blocks + m->pend_blocks + w->chain_blocks;
		fs->sf.free_entries = mf > w->reserve ? mf - w->reserve : 0;
	}
}

/* Room for an operation that allocates `blocks` and adds `fid_bytes` of names to directory d: the
 * commit must still find the blocks to rewrite d afterwards. */
int udf_check_room(struct udf_fs *fs, struct node *d, uint32_t blocks, size_t fid_bytes)
{
	struct udf_w *w = fs->w;
	uint64_t len = (d->stream_len_ok ? d->stream_len : udf_dir_stream_len(d)) + fid_bytes;
	uint64_t need = len > udf_inline_cap(fs, d) ? blocks_of(fs, len) : 0;
	uint64_t reserve = w->reserve - d->reserved + need;

	if (w->vat) {
		udf_vat_update_sf(fs);
		reserve += udf_vat_keep(fs) - w->reserve + 2; /* the node's file entry and its directory's */
	}

	struct udf_w *rs = reserve_space(w);
	if (rs->free_blocks < reserve + blocks && !w->vat)
		grow_for(fs, rs, reserve + blocks - rs->free_blocks, 0);
	return rs->free_blocks >= reserve + blocks ? 0 : -ENOSPC;
}
