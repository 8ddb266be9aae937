/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The UDF writer: allocation from the space bitmap, file data, directories, file entries, the
 * integrity descriptor, and the commit that puts the in-memory changes on the medium.
 *
 * Changes live in memory until udf_sync commits them.  The commit orders its writes so that a
 * process killed at any moment leaves a consistent disc (no journal exists in UDF):
 *   1. barrier: file data written so far reaches the medium;
 *   2. everything not yet reachable is written: the space bitmap (with this commit's allocations),
 *      file entries of new nodes, directory contents (always rewritten into newly allocated blocks,
 *      never in place), allocation extent descriptors; barrier;
 *   3. the file entries of nodes that already existed, each a single block (the atomic switch to
 *      the new contents), directories that gained entries before those that lost some (a crash
 *      between leaves an entry twice, never lost); the integrity descriptor; barrier;
 *   4. blocks freed by this commit become allocatable only now (and reach the bitmap on the
 *      next commit), so nothing reachable on the medium is ever overwritten.
 * The integrity descriptor is marked open (and that is on the medium) before the first change
 * after a clean state, and closed by udf_close: an unclean shutdown is seen at the next mount.
 */
#define _GNU_SOURCE
#include "udf_desc.h"
#include "udf_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

struct pend {
	uint32_t lbn, n;
};

struct udf_w {
	uint8_t *sbd;            /* the whole space bitmap descriptor; bit set = block free */
	uint32_t sbd_lbn, sbd_blocks;
	uint8_t *sbd_dirty;      /* one byte per block of the descriptor */
	bool bm_stale;           /* the medium's bitmap lags behind (frees applied after a commit) */
	uint64_t plen;           /* partition length in blocks */
	uint64_t nbits;          /* blocks the bitmap describes */
	uint64_t free_blocks;    /* allocatable now */
	struct pend *pend;       /* freed, allocatable after the next commit */
	size_t npend, cappend;
	uint64_t pend_blocks;
	uint64_t reserve;        /* blocks the next commit will need: only the commit may take them */
	uint32_t meta_goal, data_goal, pkt;
	uint32_t pkt_off;        /* first partition block that starts a packet of the medium */
	bool mp_valid;           /* the packet new metadata of this commit interval goes to */
	uint64_t mp_start;
	uint8_t *lvid;
	bool lvid_open;          /* the medium's LVID says open */
	uint64_t uniq_bound;     /* the next unique ID the medium's LVID records */
	bool changed;            /* changes wait for a commit */
	bool in_commit;
	struct node *dirty;      /* nodes whose file entry (or directory) must be written */
	int tz;                  /* minutes east of UTC, for timestamps */
	uint8_t *buf;            /* one block of scratch */
	uint8_t *buf2;
};

#define MAX_EXT_BYTES(bs) ((AD_LEN_MASK / (bs)) * (bs))
#define UNIQ_AHEAD 65536u

#define FE_HDR ((uint32_t)FE_SIZE)
#define EFE_HDR ((uint32_t)EFE_SIZE)

/* ---- small helpers ---- */

/* Fills a descriptor tag as this volume records them; udf_tag_finish computes CRC and checksum once
 * the body is complete. */
static void put_tag(struct udf_fs *fs, uint8_t *p, uint16_t id, uint32_t loc, uint16_t crc_len)
{
	udf_put_tag(p, id, fs->tag_version ? fs->tag_version : 2, fs->tag_serial, loc, crc_len);
}

/* An implementation identifier: ours, with the suffix OS class UNIX, OS identifier Linux. */
static void put_impl_regid(uint8_t *p)
{
	udf_put_regid(p, "*pktfuse", UDF_SUFFIX_IMPL, 0);
}

static struct timespec now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

static uint32_t blocks_of(const struct udf_fs *fs, uint64_t bytes)
{
	return (uint32_t)((bytes + fs->bs - 1) / fs->bs);
}

/* ---- block I/O (partition 0, through the sparing table) ---- */

static int write_lb(struct udf_fs *fs, uint32_t lbn, const void *buf)
{
	uint64_t sector;
	int rc = udf_map_block(fs, 0, lbn, &sector);

	return rc ? rc : fs->io.write(fs->io.ctx, sector * fs->bs, fs->bs, buf);
}

/* Writes n consecutive partition blocks, in runs of consecutive medium sectors. */
static int write_run(struct udf_fs *fs, uint32_t lbn, uint32_t n, const uint8_t *buf)
{
	uint32_t i = 0;

	while (i < n) {
		uint64_t s0, s;
		int rc = udf_map_block(fs, 0, lbn + i, &s0);
		if (rc)
			return rc;
		uint32_t k = 1;
		while (i + k < n && udf_map_block(fs, 0, lbn + i + k, &s) == 0 && s == s0 + k)
			k++;
		rc = fs->io.write(fs->io.ctx, s0 * fs->bs, (size_t)k * fs->bs, buf + (size_t)i * fs->bs);
		if (rc)
			return rc;
		i += k;
	}
	return 0;
}

/*
 * Defect management (UDF 2.2.12): a packet of the sparable partition that cannot be written is
 * given a spare packet, recorded in every copy of the sparing table (entries kept sorted, the
 * sequence number raised); a spare that fails in turn is marked defective and replaced.  Called
 * back by io.rescue, under the engine's lock (the commit holds it).
 */
static int relocate_packet(void *ctx, uint64_t off, uint64_t *to)
{
	struct udf_fs *fs = ctx;
	struct part *p = &fs->parts[0];
	uint8_t *t = p->stable_raw;
	uint64_t sector = off / fs->bs;
	uint32_t n = le16(t + ST_NUM_ENTRIES), orig = UINT32_MAX;

	if (ST_MAP + (unsigned long long)STE_SIZE * n > p->stable_bytes || !p->packet_len)
		return -EIO;
	if (sector >= p->start && sector < p->start + p->len) {
		if ((sector - p->start) % p->packet_len)
			return -EIO;
		orig = (uint32_t)(sector - p->start);
	} else {
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *e = t + ST_MAP + STE_SIZE * i;
			if (le32(e + STE_MAPPED) == sector && le32(e + STE_ORIGINAL) < 0xFFFFFFF0u) {
				orig = le32(e + STE_ORIGINAL);
				put_le32(e + STE_ORIGINAL, 0xFFFFFFF0u); /* this spare is worn too */
				break;
			}
		}
		if (orig == UINT32_MAX)
			return -EIO; /* not a packet the sparing table can move */
	}
	uint8_t *freee = NULL;
	for (uint32_t i = 0; i < n && !freee; i++)
		if (le32(t + ST_MAP + STE_SIZE * i) == 0xFFFFFFFFu)
			freee = t + ST_MAP + STE_SIZE * i;
	if (!freee)
		return -ENOSPC; /* every spare is used */
	put_le32(freee + STE_ORIGINAL, orig);
	*to = (uint64_t)le32(freee + STE_MAPPED) * fs->bs;
	/* entries in ascending order of their original location (free and defective ones last) */
	for (uint32_t i = 1; i < n; i++) {
		for (uint32_t k = i; k > 0 && le32(t + ST_MAP + STE_SIZE * (k - 1)) > le32(t + ST_MAP + STE_SIZE * k); k--) {
			uint8_t tmp[STE_SIZE];
			memcpy(tmp, t + ST_MAP + STE_SIZE * k, STE_SIZE);
			memcpy(t + ST_MAP + STE_SIZE * k, t + ST_MAP + STE_SIZE * (k - 1), STE_SIZE);
			memcpy(t + ST_MAP + STE_SIZE * (k - 1), tmp, STE_SIZE);
		}
	}
	put_le32(t + ST_SEQ_NUM, le32(t + ST_SEQ_NUM) + 1);
	p->nspare = 0;
	for (uint32_t i = 0; i < n && p->nspare < p->nspare_cap; i++) {
		uint32_t o = le32(t + ST_MAP + STE_SIZE * i + STE_ORIGINAL);
		if (o < 0xFFFFFFF0u)
			p->spare[p->nspare++] = (struct sparing_entry){o, le32(t + ST_MAP + STE_SIZE * i + STE_MAPPED)};
	}
	for (uint32_t c = 0; c < p->nstable; c++) {
		put_le32(t + TAG_LOCATION, p->stable_loc[c]);
		udf_tag_finish(t, p->stable_bytes);
		/* a copy that cannot be written leaves the others; the next flush reports it */
		fs->io.write(fs->io.ctx, (uint64_t)p->stable_loc[c] * fs->bs, p->stable_bytes, t);
	}
	fs->sf.relocated++;
	return 0;
}

static int barrier(struct udf_fs *fs)
{
	if (!fs->io.flush)
		return 0;
	int rc = fs->io.flush(fs->io.ctx);
	if (rc == -EIO && fs->io.rescue && fs->parts[0].kind == PART_SPARABLE && fs->parts[0].stable_raw &&
	    fs->bs == 2048 && fs->io.rescue(fs->io.ctx, relocate_packet, fs) == 0)
		rc = fs->io.flush(fs->io.ctx); /* the moved packets and the sparing tables, synced */
	return rc;
}

/* ---- space bitmap ---- */

static bool bm_is_free(const struct udf_w *w, uint64_t b)
{
	return b < w->nbits && (w->sbd[SBD_BITMAP + b / 8] >> (b % 8) & 1);
}

static void bm_mark(struct udf_fs *fs, uint64_t b, bool free_)
{
	struct udf_w *w = fs->w;
	uint8_t *p = &w->sbd[SBD_BITMAP + b / 8];

	if (free_)
		*p |= (uint8_t)(1u << (b % 8));
	else
		*p &= (uint8_t)~(1u << (b % 8));
	w->sbd_dirty[(SBD_BITMAP + b / 8) / fs->bs] = 1;
	w->sbd_dirty[0] = 1; /* the tag's CRC may cover the changed byte */
}

/* First free block in [from, to), or UINT64_MAX. */
static uint64_t bm_find(const struct udf_w *w, uint64_t from, uint64_t to)
{
	if (to > w->nbits)
		to = w->nbits;
	for (uint64_t b = from; b < to;) {
		if (b % 8 == 0 && w->sbd[SBD_BITMAP + b / 8] == 0) {
			b += 8;
			continue;
		}
		if (bm_is_free(w, b))
			return b;
		b++;
	}
	return UINT64_MAX;
}

static uint32_t bm_run(const struct udf_w *w, uint64_t b, uint32_t max)
{
	uint32_t n = 0;

	while (n < max && bm_is_free(w, b + n))
		n++;
	return n;
}

static void update_sf(struct udf_fs *fs);

/* Marks the n free blocks from b used. */
static void take_run(struct udf_fs *fs, uint64_t b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		bm_mark(fs, b + i, false);
	fs->w->free_blocks -= n;
	update_sf(fs);
}

enum { ALLOC_META = 1, ALLOC_ALIGN = 2 };

/*
 * New file entries and directories of one commit interval go into packets that held nothing when
 * the interval began: a commit writes them in its first step and the entries that already existed
 * in its second, so each packet is written once per commit.  Returns false when no wholly free
 * packet is left (then any free block will do).
 */
static bool meta_fresh(struct udf_w *w, uint32_t want, uint64_t *b)
{
	if (w->pkt <= 1 || w->nbits <= w->pkt_off + w->pkt || want > w->pkt)
		return false;
	if (w->mp_valid) {
		uint64_t f = bm_find(w, w->mp_start, w->mp_start + w->pkt);
		if (f != UINT64_MAX && bm_run(w, f, want) == want && f + want <= w->mp_start + w->pkt) {
			*b = f;
			return true;
		}
	}
	uint64_t npk = (w->nbits - w->pkt_off) / w->pkt;
	uint64_t first = w->meta_goal > w->pkt_off ? (w->meta_goal - w->pkt_off) / w->pkt : 0;
	for (uint64_t i = 0; i < npk; i++) {
		uint64_t c = w->pkt_off + ((first + i) % npk) * w->pkt;
		if (bm_run(w, c, w->pkt) == w->pkt) {
			w->mp_valid = true;
			w->mp_start = c;
			*b = c;
			return true;
		}
	}
	return false;
}

static size_t dir_stream_len(const struct node *d);
static uint32_t inline_cap(const struct udf_fs *fs, const struct node *n);
static size_t fid_len(size_t lfi);
static int commit(struct udf_fs *fs);
static int recover(struct udf_fs *fs);

/* Allocates up to want consecutive blocks (at least one): at goal when it is free (a file growing in
 * place), else for data a packet-aligned run, else the first free run after the cursor. */
static int alloc_blocks(struct udf_fs *fs, uint64_t goal, uint32_t want, unsigned flags, uint32_t *lbn,
			uint32_t *got)
{
	struct udf_w *w = fs->w;
	uint32_t maxlen = MAX_EXT_BYTES(fs->bs) / fs->bs;

	if (want > maxlen)
		want = maxlen;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t b = UINT64_MAX;
		if (!w->in_commit) {
			/* what the next commit needs to rewrite the directories stays free for it, so that
			 * a full disc can still commit (and so free space) */
			uint64_t keep = w->reserve;
			uint64_t avail = w->free_blocks > keep ? w->free_blocks - keep : 0;
			if (avail == 0)
				goto full;
			if (want > avail)
				want = (uint32_t)avail;
		}
		if (goal < w->nbits && bm_is_free(w, goal))
			b = goal;
		if (b == UINT64_MAX && (flags & ALLOC_META) && meta_fresh(w, want, &b)) {
			*got = bm_run(w, b, want);
			*lbn = (uint32_t)b;
			take_run(fs, b, *got);
			return 0;
		}
		if (b == UINT64_MAX && (flags & ALLOC_ALIGN) && w->pkt > 1 && w->nbits > w->pkt_off + w->pkt) {
			/* a whole free packet of the medium, so that a big file shares no packet */
			uint64_t npk = (w->nbits - w->pkt_off) / w->pkt;
			uint64_t first = w->data_goal > w->pkt_off ? (w->data_goal - w->pkt_off + w->pkt - 1) / w->pkt : 0;
			for (uint64_t i = 0; i < npk; i++) {
				uint64_t c = w->pkt_off + ((first + i) % npk) * w->pkt;
				if (bm_run(w, c, w->pkt) == w->pkt) {
					b = c;
					break;
				}
			}
		}
		if (b == UINT64_MAX) {
			uint64_t cur = flags & ALLOC_META ? w->meta_goal : w->data_goal;
			b = bm_find(w, cur, w->nbits);
			if (b == UINT64_MAX)
				b = bm_find(w, 0, cur);
		}
		if (b != UINT64_MAX) {
			uint32_t n = bm_run(w, b, want);
			take_run(fs, b, n);
			if (flags & ALLOC_META)
				w->meta_goal = (uint32_t)(b + n);
			else
				w->data_goal = (uint32_t)(b + n);
			*lbn = (uint32_t)b;
			*got = n;
			return 0;
		}
	full:
		/* Full: blocks freed since the last commit become usable once a commit is done. */
		if (w->npend == 0 || w->in_commit)
			break;
		int rc = commit(fs);
		if (rc)
			return rc;
	}
	return -ENOSPC;
}

static int free_later(struct udf_fs *fs, uint32_t lbn, uint32_t n)
{
	struct udf_w *w = fs->w;

	if (n == 0)
		return 0;
	if (w->npend && w->pend[w->npend - 1].lbn + w->pend[w->npend - 1].n == lbn &&
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
	update_sf(fs);
	return 0;
}

/* Frees (after the next commit) every block a node's extents hold. */
static void free_extents(struct udf_fs *fs, const struct node *n)
{
	for (uint32_t i = 0; i < n->next; i++)
		if (n->ext[i].type != 2)
			free_later(fs, n->ext[i].lbn, blocks_of(fs, n->ext[i].len));
}

static void apply_frees(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;

	for (size_t i = 0; i < w->npend; i++) {
		for (uint32_t k = 0; k < w->pend[i].n; k++) {
			uint64_t b = (uint64_t)w->pend[i].lbn + k;
			if (b < w->nbits && !bm_is_free(w, b)) {
				bm_mark(fs, b, true);
				w->free_blocks++;
			}
		}
	}
	if (w->npend)
		w->bm_stale = true;
	w->npend = 0;
	w->pend_blocks = 0;
}

/* What statfs calls free: allocatable now or after the next commit, less what that commit needs. */
static void update_sf(struct udf_fs *fs)
{
	uint64_t f = fs->w->free_blocks + fs->w->pend_blocks;

	fs->sf.free_blocks = f > fs->w->reserve ? f - fs->w->reserve : 0;
}

/* Room for an operation that allocates `blocks` and adds `fid_bytes` of names to directory d: the
 * commit must still find the blocks to rewrite d afterwards. */
static int check_room(struct udf_fs *fs, struct node *d, uint32_t blocks, size_t fid_bytes)
{
	struct udf_w *w = fs->w;
	uint64_t len = (d->stream_len_ok ? d->stream_len : dir_stream_len(d)) + fid_bytes;
	uint64_t need = len > inline_cap(fs, d) ? blocks_of(fs, len) : 0;
	uint64_t reserve = w->reserve - d->reserved + need;

	if (w->free_blocks >= reserve + blocks)
		return 0;
	if (w->npend == 0 || w->in_commit)
		return -ENOSPC;
	/* blocks freed since the last commit become usable once it is done */
	int rc = commit(fs);
	if (rc)
		return rc;
	return w->free_blocks >= w->reserve - d->reserved + need + blocks ? 0 : -ENOSPC;
}

/* ---- changes ---- */

static int write_lvid(struct udf_fs *fs, bool open_);

/* Called before the first change of an operation: the medium must say "open" before it changes. */
static int begin_change(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;

	if (!w)
		return -EROFS;
	if (!w->lvid_open) {
		int rc = write_lvid(fs, true);
		if (rc == 0)
			rc = barrier(fs);
		if (rc)
			return rc;
		w->lvid_open = true;
	}
	return 0;
}

static int ext_normalize(struct udf_fs *fs, struct node *n);

static void mark_dirty(struct udf_fs *fs, struct node *n)
{
	if (!n->dirty) {
		if (!n->inline_data && !n->is_new)
			ext_normalize(fs, n);
		n->dirty = true;
		n->dnext = fs->w->dirty;
		fs->w->dirty = n;
	}
	fs->w->changed = true;
}


static void touch(struct udf_fs *fs, struct node *n, bool mtime)
{
	struct timespec t = now();

	n->st.st_ctim = t;
	if (mtime)
		n->st.st_mtim = t;
	if (n->dir_dirty) {
		/* what the commit will record; known once, then kept by dir_add/dir_del */
		if (!n->stream_len_ok) {
			n->stream_len = dir_stream_len(n);
			n->stream_len_ok = true;
		}
		n->st.st_size = (off_t)n->stream_len;
		uint32_t need = n->stream_len > inline_cap(fs, n) ? blocks_of(fs, n->stream_len) : 0;
		fs->w->reserve += need;
		fs->w->reserve -= n->reserved;
		n->reserved = need;
	}
	mark_dirty(fs, n);
}

/* ---- extents (in memory: whole blocks, contiguous from offset 0) ---- */

static uint32_t ext_blocks(const struct udf_fs *fs, const struct node *n)
{
	if (!n->next)
		return 0;
	const struct extent *e = &n->ext[n->next - 1];
	return blocks_of(fs, e->file_off + e->len);
}

static int ext_reserve(struct node *n, uint32_t need)
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
static int ext_normalize(struct udf_fs *fs, struct node *n)
{
	uint32_t keep = blocks_of(fs, n->size);
	uint32_t out = 0;

	for (uint32_t i = 0; i < n->next; i++) {
		struct extent *e = &n->ext[i];
		uint32_t first = (uint32_t)(e->file_off / fs->bs), cnt = blocks_of(fs, e->len);
		if (first >= keep) {
			if (e->type != 2)
				free_later(fs, e->lbn, cnt);
			continue;
		}
		if (first + cnt > keep) {
			if (e->type != 2)
				free_later(fs, e->lbn + (keep - first), first + cnt - keep);
			cnt = keep - first;
		}
		e->len = cnt * fs->bs;
		n->ext[out++] = *e;
	}
	n->next = out;
	return 0;
}

/* Maps file blocks [fb, fb+cnt) to type/lbn, splitting and merging extents. */
static int ext_set(struct udf_fs *fs, struct node *n, uint32_t fb, uint32_t cnt, uint8_t type, uint32_t lbn);

static int ext_set_one(struct udf_fs *fs, struct node *n, uint32_t fb, uint32_t cnt, uint8_t type, uint32_t lbn)
{
	uint32_t total = ext_blocks(fs, n);
	struct extent ne = {(uint64_t)fb * fs->bs, cnt * fs->bs, type, 0, type == 2 ? 0 : lbn};

	if (fb > total) {
		int rc = ext_set(fs, n, total, fb - total, 2, 0);
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
		int rc = ext_reserve(n, n->next + 1);
		if (rc)
			return rc;
		n->ext[n->next++] = ne;
		return 0;
	}
	/* general case: rebuild the list around the new piece */
	int rc = ext_reserve(n, n->next + 3);
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
			free_later(fs, e.lbn + (uint32_t)((x - s) / fs->bs), (uint32_t)((y - x) / fs->bs));
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
static int ext_set(struct udf_fs *fs, struct node *n, uint32_t fb, uint32_t cnt, uint8_t type, uint32_t lbn)
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

static void recount_blocks(struct udf_fs *fs, struct node *n)
{
	uint64_t b = 0;

	for (uint32_t i = 0; i < n->next; i++)
		if (n->ext[i].type == 0)
			b += blocks_of(fs, n->ext[i].len);
	n->st.st_blocks = (blkcnt_t)(b * (fs->bs / 512));
}

/* ---- file data ---- */

static uint32_t inline_cap(const struct udf_fs *fs, const struct node *n)
{
	return fs->bs - (n->efe ? EFE_HDR : FE_HDR) - n->lea;
}

/* Moves embedded data out of the ICB into allocated blocks. */
static int unembed(struct udf_fs *fs, struct node *n)
{
	uint32_t nb = blocks_of(fs, n->size);
	uint32_t done = 0;

	n->next = 0;
	while (done < nb) {
		uint32_t lbn, got;
		int rc = alloc_blocks(fs, UINT64_MAX, nb - done, 0, &lbn, &got);
		if (rc)
			return rc; /* blocks taken so far are referenced by n->ext and freed with it */
		for (uint32_t i = 0; i < got; i++) {
			memset(fs->w->buf, 0, fs->bs);
			uint64_t off = (uint64_t)(done + i) * fs->bs;
			size_t len = n->size - off < fs->bs ? (size_t)(n->size - off) : fs->bs;
			memcpy(fs->w->buf, n->inline_data + off, len);
			if ((rc = write_lb(fs, lbn + i, fs->w->buf)) != 0) {
				free_later(fs, lbn, got);
				return rc;
			}
		}
		if ((rc = ext_set(fs, n, done, got, 0, lbn)) != 0) {
			free_later(fs, lbn, got);
			return rc;
		}
		done += got;
	}
	free(n->inline_data);
	n->inline_data = NULL;
	recount_blocks(fs, n);
	return 0;
}

static ssize_t node_write(struct udf_fs *fs, struct node *n, uint64_t off, size_t len, const uint8_t *src)
{
	uint32_t bs = fs->bs;
	uint64_t end = off + len;
	int rc;

	if (len == 0)
		return 0;
	if (end > (uint64_t)MAX_EXTENTS * MAX_EXT_BYTES(bs) || end < off)
		return -EFBIG;
	if (n->inline_data) {
		if (end <= inline_cap(fs, n)) {
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
		rc = alloc_blocks(fs, goal, want, flags, &lbn, &got);
		if (rc == 0 && (rc = ext_set(fs, n, fb, got, 0, lbn)) != 0)
			free_later(fs, lbn, got);
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
			rc = write_run(fs, lbn, k, src + done);
			done += (size_t)k * bs;
			fb += k;
			continue;
		}
		if (fresh[fb - b0])
			memset(fs->w->buf, 0, bs);
		else if ((rc = udf_read_lb(fs, 0, lbn, fs->w->buf)) != 0)
			break;
		memcpy(fs->w->buf + boff, src + done, chunk);
		rc = write_lb(fs, lbn, fs->w->buf);
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
	recount_blocks(fs, n);
	return (ssize_t)len;
}

static int node_truncate(struct udf_fs *fs, struct node *n, uint64_t size)
{
	uint32_t bs = fs->bs;
	int rc;

	if (size == n->size)
		return 0;
	if (n->inline_data) {
		if (size <= inline_cap(fs, n)) {
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
				if ((rc = udf_read_lb(fs, 0, lbn, fs->w->buf)) != 0)
					return rc;
				memset(fs->w->buf + size % bs, 0, bs - size % bs);
				if ((rc = write_lb(fs, lbn, fs->w->buf)) != 0)
					return rc;
			}
		}
		n->size = size;
		ext_normalize(fs, n);
	} else {
		uint32_t have = ext_blocks(fs, n), need = blocks_of(fs, size);
		if (need > have && (rc = ext_set(fs, n, have, need - have, 2, 0)) != 0)
			return rc;
		n->size = size;
	}
	n->st.st_size = (off_t)size;
	recount_blocks(fs, n);
	return 0;
}

/* ---- file entries ---- */

static uint32_t udf_perm(mode_t m, uint32_t raw)
{
	uint32_t p = (m & 7) | ((m >> 3) & 7) << 5 | ((m >> 6) & 7) << 10;

	return p | (raw & 0x6318u); /* keep the change-attribute and delete bits as recorded */
}

static uint8_t file_type_of(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFDIR:
		return 4;
	case S_IFBLK:
		return 6;
	case S_IFCHR:
		return 7;
	case S_IFIFO:
		return 9;
	case S_IFSOCK:
		return 10;
	case S_IFLNK:
		return 12;
	default:
		return 5;
	}
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

static void put_ad(const struct udf_fs *fs, const struct node *n, uint32_t i, uint8_t *p)
{
	const struct extent *e = &n->ext[i];
	uint64_t len = e->len;

	if (e->file_off + len > n->size)
		len = n->size - e->file_off; /* the last extent records the exact length */
	(void)fs;
	put_le32(p + AD_LEN, (uint32_t)len | (uint32_t)e->type << 30);
	put_le32(p + SAD_POS, e->type == 2 ? 0 : e->lbn);
}

/* How many AED blocks the node's descriptors need beyond what fits in its file entry. */
static uint32_t aeds_needed(const struct udf_fs *fs, const struct node *n)
{
	if (n->inline_data)
		return 0;
	uint32_t nad = ad_count(fs, n), cap = inline_cap(fs, n) / SAD_SIZE;
	if (nad <= cap)
		return 0;
	uint32_t left = nad - (cap - 1), per = (fs->bs - AED_ADS) / SAD_SIZE, k = 0;
	while (left > per) {
		left -= per - 1;
		k++;
	}
	return k + 1;
}

/* Builds the node's file entry in blk (and its AEDs, written here), from the header as read. */
static int write_fe(struct udf_fs *fs, struct node *n)
{
	uint8_t *b = fs->w->buf2;
	uint32_t bs = fs->bs, hdr = n->efe ? EFE_HDR : FE_HDR;
	mode_t m = n->st.st_mode;

	memset(b, 0, bs);
	memcpy(b, n->hdr, n->hdr_len);
	/* ICB tag */
	b[ICB_FILE_TYPE] = n->file_type;
	uint16_t flags = le16(b + ICB_FLAGS) & (uint16_t)~(7u | 0x1C0u);
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
	if (n->efe) {
		put_le64(b + EFE_OBJECT_SIZE, n->size);
		put_le64(b + EFE_BLOCKS_RECORDED, rec);
		udf_put_timestamp(b + EFE_ACCESS_TIME, n->st.st_atim, fs->w->tz);
		udf_put_timestamp(b + EFE_MODIFICATION_TIME, n->st.st_mtim, fs->w->tz);
		udf_put_timestamp(b + EFE_ATTRIBUTE_TIME, n->st.st_ctim, fs->w->tz);
		put_impl_regid(b + EFE_IMPL_IDENT);
		put_le64(b + EFE_UNIQUE_ID, n->uniq);
	} else {
		put_le64(b + FE_BLOCKS_RECORDED, rec);
		udf_put_timestamp(b + FE_ACCESS_TIME, n->st.st_atim, fs->w->tz);
		udf_put_timestamp(b + FE_MODIFICATION_TIME, n->st.st_mtim, fs->w->tz);
		udf_put_timestamp(b + FE_ATTRIBUTE_TIME, n->st.st_ctim, fs->w->tz);
		put_impl_regid(b + FE_IMPL_IDENT);
		put_le64(b + FE_UNIQUE_ID, n->uniq);
	}
	uint8_t *ad = b + hdr + n->lea;
	uint32_t lad;
	if (n->inline_data) {
		flags |= 3;
		lad = (uint32_t)n->size;
		memcpy(ad, n->inline_data, n->size);
	} else {
		uint32_t nad = ad_count(fs, n), cap = inline_cap(fs, n) / SAD_SIZE;
		uint32_t in_fe = n->naed ? cap - 1 : nad;
		for (uint32_t i = 0; i < in_fe; i++)
			put_ad(fs, n, i, ad + SAD_SIZE * i);
		lad = in_fe * SAD_SIZE;
		if (n->naed) {
			put_le32(ad + lad + AD_LEN, bs | 3u << 30);
			put_le32(ad + lad + SAD_POS, n->aed[0]);
			lad += SAD_SIZE;
			/* the continuation blocks, each an allocation extent descriptor */
			uint8_t *a = malloc(bs);
			if (!a)
				return -ENOMEM;
			uint32_t i = in_fe, per = (bs - AED_ADS) / SAD_SIZE;
			for (uint32_t k = 0; k < n->naed; k++) {
				memset(a, 0, bs);
				bool last = k + 1 == n->naed;
				uint32_t here = last ? nad - i : per - 1, l = 0;
				for (uint32_t j = 0; j < here; j++, i++, l += SAD_SIZE)
					put_ad(fs, n, i, a + AED_ADS + l);
				if (!last) {
					put_le32(a + AED_ADS + l + AD_LEN, bs | 3u << 30);
					put_le32(a + AED_ADS + l + SAD_POS, n->aed[k + 1]);
					l += SAD_SIZE;
				}
				put_le32(a + AED_PREV_LOC, k ? n->aed[k - 1] : n->fe_lbn);
				put_le32(a + AED_ADS_LEN, l);
				put_tag(fs, a, TAG_AED, n->aed[k], (uint16_t)(AED_ADS - TAG_SIZE + l));
				udf_tag_finish(a, bs);
				int rc = write_lb(fs, n->aed[k], a);
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
	put_tag(fs, b, n->efe ? TAG_EFE : TAG_FE, n->fe_lbn, (uint16_t)(hdr + n->lea + lad - TAG_SIZE));
	udf_tag_finish(b, bs);
	return write_lb(fs, n->fe_lbn, b);
}

/* ---- directories ---- */

static size_t fid_len(size_t lfi)
{
	return (FID_IMPL_USE + lfi + 3) & ~(size_t)3;
}

static size_t put_fid(struct udf_fs *fs, uint8_t *p, uint8_t ch, uint32_t icb_lbn, uint32_t uniq,
		      const uint8_t *name, uint8_t lfi, uint32_t tagloc)
{
	size_t len = fid_len(lfi);

	memset(p, 0, len);
	put_le16(p + FID_VERSION, 1);
	p[FID_CHARACTERISTICS] = ch;
	p[FID_NAME_LEN] = lfi;
	put_le32(p + FID_ICB + AD_LEN, fs->bs);
	put_le32(p + FID_ICB + LAD_LBN, icb_lbn);
	put_le16(p + FID_ICB + LAD_PART, 0);
	put_le32(p + FID_ICB + LAD_UNIQUE_ID, uniq);
	if (lfi)
		memcpy(p + FID_IMPL_USE, name, lfi);
	put_tag(fs, p, TAG_FID, tagloc, (uint16_t)(len - TAG_SIZE));
	udf_tag_finish(p, len);
	return len;
}

static size_t dir_stream_len(const struct node *d)
{
	size_t len = fid_len(0) + d->keep_len;

	for (uint32_t i = 0; i < d->nents; i++)
		if (d->ents[i].name)
			len += fid_len(d->ents[i].rawlen);
	return len;
}

/* The tag location of a FID at stream offset pos: its block, or the file entry when embedded. */
static uint32_t fid_loc(const struct udf_fs *fs, const struct node *d, size_t pos, uint32_t base, bool embedded)
{
	return embedded ? d->fe_lbn : base + (uint32_t)(pos / fs->bs);
}

static int dir_build(struct udf_fs *fs, struct node *d, uint8_t *out, size_t len, uint32_t base, bool embedded)
{
	size_t pos = 0;
	struct node *parent;
	uint32_t puniq = 0, plbn = d->fe_lbn;

	if (d->parent != d->ino && udf_get_node(fs, d->parent, &parent) == 0) {
		puniq = (uint32_t)parent->uniq;
		plbn = parent->fe_lbn;
	} else if (d->parent == d->ino) {
		puniq = (uint32_t)d->uniq;
	}
	pos += put_fid(fs, out + pos, 0x0A, plbn, puniq, NULL, 0, fid_loc(fs, d, pos, base, embedded));
	for (uint32_t k = 0; k < d->keep_len;) {
		uint8_t *f = out + pos;
		size_t flen = udf_fid_size(d->keep_fids + k);
		memcpy(f, d->keep_fids + k, flen);
		put_le32(f + TAG_LOCATION, fid_loc(fs, d, pos, base, embedded));
		udf_tag_finish(f, flen);
		pos += flen;
		k += (uint32_t)flen;
	}
	for (uint32_t i = 0; i < d->nents; i++) {
		struct dirent_ *e = &d->ents[i];
		if (!e->name)
			continue;
		uint32_t lbn = (uint32_t)(e->ino - INO_BASE);
		pos += put_fid(fs, out + pos, e->ftype == 4 ? 0x02 : 0, lbn, e->uniq, e->raw, e->rawlen,
			       fid_loc(fs, d, pos, base, embedded));
	}
	return pos == len ? 0 : -EIO;
}

/* Rewrites a directory's contents: embedded when it fits, else into newly allocated blocks. */
static int dir_commit(struct udf_fs *fs, struct node *d)
{
	size_t len = dir_stream_len(d);
	uint8_t *data = NULL;
	int rc;

	if (d->stream_len_ok && d->stream_len != len)
		return -EIO; /* the running count disagrees with the entries: a bug, refused before writing */

	if (len <= inline_cap(fs, d)) {
		data = malloc(len);
		if (!data)
			return -ENOMEM;
		if ((rc = dir_build(fs, d, data, len, 0, true)) != 0) {
			free(data);
			return rc;
		}
		free_extents(fs, d);
		d->next = 0;
		free(d->inline_data);
		d->inline_data = data;
		d->size = len;
		d->st.st_size = (off_t)len;
		recount_blocks(fs, d);
		return 0;
	}
	uint32_t nb = blocks_of(fs, len), lbn, got;
	/* one contiguous run keeps the FID tag locations simple and the directory in one read */
	bool in_place = false;
	rc = alloc_blocks(fs, UINT64_MAX, nb, ALLOC_META, &lbn, &got);
	if (rc == 0 && got < nb) {
		/* look for a run of the full length elsewhere */
		free_later(fs, lbn, got);
		bool found = false;
		for (uint64_t c = bm_find(fs->w, 0, fs->w->nbits); c != UINT64_MAX;
		     c = bm_find(fs->w, c + 1, fs->w->nbits)) {
			uint32_t r = bm_run(fs->w, c, nb);
			if (r == nb) {
				take_run(fs, c, nb);
				lbn = (uint32_t)c;
				found = true;
				break;
			}
			c += r;
		}
		if (!found)
			rc = -ENOSPC;
	}
	if (rc == -ENOSPC && d->next == 1 && d->ext[0].type == 0 && blocks_of(fs, d->ext[0].len) >= nb) {
		/* The disc is full (the reserve fell short): a directory that shrank or kept its size is
		 * rewritten where it is.  Not atomic across its packets, but the only way left to record
		 * the deletions that free space. */
		lbn = d->ext[0].lbn;
		in_place = true;
		rc = 0;
	}
	if (rc)
		return rc;
	data = calloc(nb, fs->bs);
	if (!data) {
		if (!in_place)
			free_later(fs, lbn, nb);
		return -ENOMEM;
	}
	rc = dir_build(fs, d, data, len, lbn, false);
	if (rc == 0)
		rc = write_run(fs, lbn, nb, data);
	free(data);
	if (rc) {
		if (!in_place)
			free_later(fs, lbn, nb);
		return rc;
	}
	if (in_place) {
		uint32_t had = blocks_of(fs, d->ext[0].len);
		free_later(fs, lbn + nb, had - nb);
	} else {
		free_extents(fs, d);
	}
	free(d->inline_data);
	d->inline_data = NULL;
	d->next = 0;
	if ((rc = ext_set(fs, d, 0, nb, 0, lbn)) != 0)
		return rc;
	d->size = len;
	d->st.st_size = (off_t)len;
	recount_blocks(fs, d);
	return 0;
}

static int dir_add(struct node *d, const char *name, const uint8_t *raw, uint8_t rawlen, uint64_t ino,
		   bool is_dir, uint32_t uniq)
{
	if (d->nents == d->ents_cap) {
		uint32_t nc = d->ents_cap ? d->ents_cap * 2 : 16;
		struct dirent_ *ne = realloc(d->ents, nc * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		d->ents = ne;
		d->ents_cap = nc;
	}
	if ((d->nents - d->ntomb + 1) * 2u > d->dhash_mask + 1) {
		uint32_t nb = (d->dhash_mask + 1) * 2;
		uint32_t *h = malloc(nb * sizeof(*h));
		if (!h)
			return -ENOMEM;
		free(d->dhash);
		d->dhash = h;
		d->dhash_mask = nb - 1;
		udf_dir_rehash(d);
	}
	char *n = strdup(name);
	uint8_t *r = malloc(rawlen);
	if (!n || !r) {
		free(n);
		free(r);
		return -ENOMEM;
	}
	memcpy(r, raw, rawlen);
	if (d->stream_len_ok)
		d->stream_len += fid_len(rawlen);
	uint32_t i = d->nents++;
	d->ents[i] = (struct dirent_){n, ino, (uint8_t)(is_dir ? 4 : 5), UINT32_MAX, d->next_cookie++, r, rawlen, uniq};
	uint32_t b = udf_name_hash(n) & d->dhash_mask;
	d->ents[i].hnext = d->dhash[b];
	d->dhash[b] = i;
	return 0;
}

static void dir_del(struct node *d, struct dirent_ *e)
{
	uint32_t idx = (uint32_t)(e - d->ents);
	uint32_t *pp = &d->dhash[udf_name_hash(e->name) & d->dhash_mask];

	while (*pp != UINT32_MAX && *pp != idx)
		pp = &d->ents[*pp].hnext;
	if (*pp == idx)
		*pp = e->hnext;
	if (d->stream_len_ok)
		d->stream_len -= fid_len(e->rawlen);
	free(e->name);
	free(e->raw);
	e->name = NULL;
	e->raw = NULL;
	d->ntomb++;
}

/* Drops the slots of removed entries once they are many (positions of the others are kept). */
static void dir_compact(struct node *d)
{
	if (d->ntomb > 64 && d->ntomb * 2 > d->nents) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < d->nents; i++)
			if (d->ents[i].name)
				d->ents[k++] = d->ents[i];
		d->nents = k;
		d->ntomb = 0;
		udf_dir_rehash(d);
	}
}

static bool dir_empty(const struct node *d)
{
	return d->nents == d->ntomb;
}

/* ---- integrity descriptor ---- */

static int write_lvid(struct udf_fs *fs, bool open_)
{
	struct udf_w *w = fs->w;
	uint8_t *b = w->lvid;

	udf_put_timestamp(b + LVID_RECORDING_TIME, now(), w->tz);
	put_le32(b + LVID_INTEGRITY_TYPE, open_ ? 0 : 1);
	/* While open, the recorded next unique ID runs ahead of what is handed out, so that the
	 * commits in between need not rewrite the LVID (its packet is written once per session
	 * step, not per commit); a crash leaves an ID no file has. */
	uint64_t next = open_ ? fs->next_uniq + UNIQ_AHEAD : fs->next_uniq;
	put_le64(b + LVID_NEXT_UNIQUE_ID, next);
	w->uniq_bound = next;
	uint32_t np = le32(b + LVID_NUM_PARTITIONS), liu = le32(b + LVID_IMPL_USE_LEN);
	if (np >= 1) {
		put_le32(b + LVID_FREE_SPACE, (uint32_t)(w->free_blocks > UINT32_MAX - 1 ? UINT32_MAX - 1 : w->free_blocks));
		put_le32(b + LVID_FREE_SPACE + 4 * np, (uint32_t)w->plen);
	}
	if (liu >= LVIU_SIZE) {
		uint8_t *iu = b + LVID_FREE_SPACE + 8 * np;
		put_impl_regid(iu + LVIU_IMPL_IDENT);
		put_le32(iu + LVIU_NUM_FILES, (uint32_t)fs->sf.files);
		put_le32(iu + LVIU_NUM_DIRS, (uint32_t)fs->sf.dirs);
		if (le16(iu + LVIU_MAX_WRITE_REV) < fs->sf.revision)
			put_le16(iu + LVIU_MAX_WRITE_REV, (uint16_t)fs->sf.revision);
	}
	udf_tag_finish(b, fs->bs);
	return fs->io.write(fs->io.ctx, (uint64_t)fs->lvid_loc * fs->bs, fs->bs, b);
}

/* ---- commit ---- */

static int write_bitmap(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;

	udf_tag_finish(w->sbd, (size_t)w->sbd_blocks * fs->bs);
	for (uint32_t i = 0; i < w->sbd_blocks; i++) {
		if (!w->sbd_dirty[i])
			continue;
		int rc = write_lb(fs, w->sbd_lbn + i, w->sbd + (size_t)i * fs->bs);
		if (rc)
			return rc;
		w->sbd_dirty[i] = 0;
	}
	w->bm_stale = false;
	return 0;
}

static int commit(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;
	int rc;

	if (!w->changed)
		return barrier(fs);
	w->in_commit = true;
	/* 1. file data first */
	rc = barrier(fs);
	/* 2. new places: directory contents, continuation blocks (all allocation happens here) */
	for (struct node *n = w->dirty; n && rc == 0; n = n->dnext) {
		if (n->dead)
			continue;
		if (n->dir_dirty && (rc = dir_commit(fs, n)) != 0)
			break;
		uint32_t need = aeds_needed(fs, n);
		if (need != n->naed || need) {
			for (uint32_t i = 0; i < n->naed; i++)
				free_later(fs, n->aed[i], 1);
			n->naed = 0;
			if (need) {
				uint32_t *a = realloc(n->aed, need * sizeof(*a));
				if (!a) {
					rc = -ENOMEM;
					break;
				}
				n->aed = a;
				for (uint32_t i = 0; i < need && rc == 0; i++) {
					uint32_t got;
					rc = alloc_blocks(fs, UINT64_MAX, 1, ALLOC_META, &n->aed[i], &got);
					if (rc == 0)
						n->naed++;
				}
			}
		}
	}
	if (rc == 0)
		rc = write_bitmap(fs);
	for (struct node *n = w->dirty; n && rc == 0; n = n->dnext)
		if (!n->dead && n->is_new)
			rc = write_fe(fs, n);
	if (rc == 0)
		rc = barrier(fs);
	/* 3. the switch: existing entries, those that gained first */
	bool late = false;
	for (struct node *n = w->dirty; n && rc == 0; n = n->dnext) {
		if (n->dead || n->is_new)
			continue;
		if (n->gained)
			rc = write_fe(fs, n);
		else
			late = true;
	}
	if (rc == 0 && late) {
		rc = barrier(fs);
		for (struct node *n = w->dirty; n && rc == 0; n = n->dnext)
			if (!n->dead && !n->is_new && !n->gained)
				rc = write_fe(fs, n);
	}
	/* the LVID only when the unique IDs handed out come near what it records (it says open, and
	 * counts and free space are recorded exactly when it is closed) */
	if (rc == 0 && fs->next_uniq + UNIQ_AHEAD / 2 > w->uniq_bound)
		rc = write_lvid(fs, true);
	if (rc == 0)
		rc = barrier(fs);
	w->in_commit = false;
	if (rc)
		return rc; /* everything stays dirty: the next commit tries again */
	for (struct node *n = w->dirty, *nx; n; n = nx) {
		nx = n->dnext;
		n->reserved = 0;
		n->dirty = n->dir_dirty = n->is_new = n->gained = false;
		n->dnext = NULL;
	}
	w->dirty = NULL;
	w->changed = false;
	w->reserve = 0;
	w->mp_valid = false; /* what this commit wrote now holds existing entries */
	fs->sf.commits++;
	/* 4. freed blocks become allocatable */
	apply_frees(fs);
	update_sf(fs);
	return 0;
}

/* ---- the check after an unclean shutdown ---- */

static void mark_seen(struct udf_fs *fs, uint8_t *seen, uint64_t lbn, uint64_t n)
{
	for (uint64_t b = lbn; b < lbn + n && b < fs->w->nbits; b++)
		seen[b / 8] |= (uint8_t)(1u << (b % 8));
}

static void mark_node(struct udf_fs *fs, uint8_t *seen, struct node *n, bool *no_reclaim)
{
	mark_seen(fs, seen, n->fe_lbn, 1);
	for (uint32_t i = 0; i < n->naed; i++)
		mark_seen(fs, seen, n->aed[i], 1);
	for (uint32_t i = 0; i < n->next; i++)
		if (n->ext[i].type != 2 && n->ext[i].part == 0)
			mark_seen(fs, seen, n->ext[i].lbn, blocks_of(fs, n->ext[i].len));
	/* an extended attribute file or a stream directory: their ICBs at least, and since what they
	 * own is not followed, nothing unreferenced is freed */
	const uint8_t *h = n->hdr;
	if (le32(h + (n->efe ? EFE_EA_ICB : FE_EA_ICB) + AD_LEN) & AD_LEN_MASK) {
		mark_seen(fs, seen, le32(h + (n->efe ? EFE_EA_ICB : FE_EA_ICB) + LAD_LBN), 1);
		*no_reclaim = true;
	}
	if (n->efe && (le32(h + EFE_STREAM_DIR_ICB + AD_LEN) & AD_LEN_MASK)) {
		mark_seen(fs, seen, le32(h + EFE_STREAM_DIR_ICB + LAD_LBN), 1);
		*no_reclaim = true;
	}
	if (n->ro_node)
		*no_reclaim = true; /* its indirect entries are not followed */
}

/* True when partition block b holds (part of) a volume structure, whatever the bitmap says. */
static bool is_volume_structure(struct udf_fs *fs, uint64_t b)
{
	const struct part *p = &fs->parts[0];
	uint64_t sec = p->start + b, n = fs->nblocks;
	uint64_t fixed[] = {AVDP_SECTOR, n - 1 - AVDP_SECTOR, n - 1, n - AVDP_SECTOR};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (sec == fixed[i])
			return true;
	struct {
		uint64_t loc, len;
	} ext[] = {{fs->vds_loc[0], fs->vds_len[0]}, {fs->vds_loc[1], fs->vds_len[1]},
		   {fs->lvid_ext_loc, fs->lvid_ext_len}, {p->stable_loc[0], p->stable_len},
		   {p->stable_loc[1], p->stable_len}, {p->stable_loc[2], p->stable_len},
		   {p->stable_loc[3], p->stable_len}};
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		if (i >= 3 && i - 3 >= p->nstable)
			break;
		uint64_t blocks = (ext[i].len + fs->bs - 1) / fs->bs;
		if (sec >= ext[i].loc && sec < ext[i].loc + blocks)
			return true;
	}
	/* in the partition: the bitmap, the file set descriptor and its terminator */
	if (b >= fs->w->sbd_lbn && b < (uint64_t)fs->w->sbd_lbn + fs->w->sbd_blocks)
		return true;
	if (b == fs->fsd_lbn)
		return true;
	if (b == (uint64_t)fs->fsd_lbn + 1 && udf_read_lb(fs, 0, fs->fsd_lbn + 1, fs->w->buf) == 0 &&
	    udf_tag_check(fs->w->buf, fs->bs, fs->fsd_lbn + 1) == TAG_TD)
		return true;
	return false;
}

/* The file set's system stream directory (UDF 2.00+: unique ID mapping, non-allocatable space)
 * and the streams it names are in use too. */
static void mark_system_streams(struct udf_fs *fs, uint8_t *seen, bool *no_reclaim)
{
	uint8_t *b = fs->w->buf;
	struct node *sd, *c;

	if (udf_read_lb(fs, 0, fs->fsd_lbn, b) || udf_tag_check(b, fs->bs, fs->fsd_lbn) != TAG_FSD) {
		*no_reclaim = true;
		return;
	}
	if ((le32(b + FSD_SYSTEM_STREAM_ICB + AD_LEN) & AD_LEN_MASK) == 0)
		return;
	if (le16(b + FSD_SYSTEM_STREAM_ICB + LAD_PART) != 0 ||
	    udf_load_node(fs, 0, le32(b + FSD_SYSTEM_STREAM_ICB + LAD_LBN), &sd) != 0 || sd->size > (1u << 20)) {
		*no_reclaim = true;
		return;
	}
	mark_node(fs, seen, sd, no_reclaim);
	uint8_t *data = malloc(sd->size ? sd->size : 1);
	if (!data || udf_node_read(fs, sd, 0, sd->size, data) != (ssize_t)sd->size) {
		free(data);
		*no_reclaim = true;
		return;
	}
	for (uint64_t pos = 0; pos + FID_IMPL_USE <= sd->size;) {
		const uint8_t *f = data + pos;
		uint64_t flen = udf_fid_size(f);
		if (le16(f + TAG_IDENT) != TAG_FID || pos + flen > sd->size) {
			*no_reclaim = true;
			break;
		}
		pos += flen;
		if ((f[FID_CHARACTERISTICS] & 0x0C) || (le32(f + FID_ICB + AD_LEN) & AD_LEN_MASK) == 0)
			continue; /* parent or deleted */
		if (le16(f + FID_ICB + LAD_PART) != 0 || udf_load_node(fs, 0, le32(f + FID_ICB + LAD_LBN), &c) != 0) {
			*no_reclaim = true;
			continue;
		}
		mark_node(fs, seen, c, no_reclaim);
		if (c->file_type == 4 || c->file_type == 13)
			*no_reclaim = true; /* deeper stream trees are not followed */
	}
	free(data);
}

static int push(uint64_t **q, size_t *n, size_t *cap, uint64_t v)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		uint64_t *nq = realloc(*q, nc * sizeof(*nq));
		if (!nq)
			return -ENOMEM;
		*q = nq;
		*cap = nc;
	}
	(*q)[(*n)++] = v;
	return 0;
}

/*
 * Walks the whole tree once: blocks in use that the bitmap calls free are marked used (a later
 * allocation would overwrite them), link counts are made to match the names found, a directory
 * named from two places (a rename cut short) keeps only the name its own parent entry agrees
 * with, and the file and directory counts are recounted.  Blocks the bitmap calls used that
 * nothing references (freed by the commit cut short, or owned by a file unlinked while open) are
 * freed, unless some file has structures the walk does not follow (extended attribute files,
 * streams, indirect entries): then nothing is freed, as nothing proves no one else owns them.
 */
static int recover(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;
	uint8_t *seen = calloc(w->nbits / 8 + 1, 1);
	uint64_t *q = NULL, files = 0, dirs = 1, fixed = 0, links = 0, dropped = 0, reclaimed = 0;
	bool no_reclaim = false;
	size_t qn = 0, qcap = 0;
	struct node *root;
	int rc;

	if (!seen)
		return -ENOMEM;
	if ((rc = udf_get_dir(fs, fs->root_ino, &root)) != 0 || (rc = push(&q, &qn, &qcap, root->ino)) != 0)
		goto out;
	root->refs = 1;
	mark_node(fs, seen, root, &no_reclaim);
	mark_system_streams(fs, seen, &no_reclaim);
	for (size_t qi = 0; qi < qn && rc == 0; qi++) {
		struct node *d;
		if ((rc = udf_get_dir(fs, q[qi], &d)) != 0)
			break;
		for (uint32_t i = 0; i < d->nents && rc == 0; i++) {
			struct dirent_ *e = &d->ents[i];
			struct node *c;
			if (!e->name)
				continue;
			if ((rc = udf_get_node(fs, e->ino, &c)) != 0)
				break;
			if (S_ISDIR(c->st.st_mode)) {
				if ((rc = udf_dir_load(fs, c)) != 0)
					break;
				if (c->parent != d->ino || c->refs) {
					dir_del(d, e);
					d->dir_dirty = true;
					mark_dirty(fs, d);
					dropped++;
					continue;
				}
				d->subdirs++;
				dirs++;
				rc = push(&q, &qn, &qcap, c->ino);
			} else if (c->refs == 0) {
				files++;
			}
			if (c->refs++ == 0)
				mark_node(fs, seen, c, &no_reclaim);
		}
		/* hidden entries own their files too */
		for (uint32_t k = 0; k + FID_IMPL_USE <= d->keep_len && rc == 0;) {
			const uint8_t *f = d->keep_fids + k;
			struct node *c;
			k += (uint32_t)udf_fid_size(f);
			if ((le32(f + FID_ICB + AD_LEN) & AD_LEN_MASK) == 0 || le16(f + FID_ICB + LAD_PART) != 0)
				continue;
			if (udf_get_node(fs, udf_make_ino(0, le32(f + FID_ICB + LAD_LBN)), &c) != 0)
				no_reclaim = true;
			else if (c->refs++ == 0)
				mark_node(fs, seen, c, &no_reclaim);
		}
		dir_compact(d);
	}
	if (rc)
		goto out;
	for (uint32_t i = 0; i <= fs->nhash_mask; i++) {
		for (struct node *n = fs->nhash[i]; n; n = n->hnext) {
			if (n->uniq >= fs->next_uniq)
				fs->next_uniq = n->uniq + 1; /* never hand out an ID a file already has */
			if (!n->refs || n->dead)
				continue;
			nlink_t want = S_ISDIR(n->st.st_mode) ? 2 + n->subdirs : n->refs;
			if (n->st.st_nlink != want) {
				n->st.st_nlink = want;
				mark_dirty(fs, n);
				links++;
			}
		}
	}
	for (uint64_t b = 0; b < w->nbits; b++) {
		bool used = seen[b / 8] >> (b % 8) & 1;
		if (used && bm_is_free(w, b)) {
			bm_mark(fs, b, false);
			w->free_blocks--;
			fixed++;
		} else if (!used && !no_reclaim && !bm_is_free(w, b) && !is_volume_structure(fs, b)) {
			/* freed by the last commit, or owned by a file unlinked while open */
			free_later(fs, (uint32_t)b, 1);
			reclaimed++;
		}
	}
	if (fixed || reclaimed)
		w->changed = true;
	fs->sf.files = files;
	fs->sf.dirs = dirs;
	w->lvid_open = true; /* it says open on the medium already */
	snprintf(fs->note, sizeof(fs->note),
		 "the disc was not cleanly unmounted: checked %llu files and %llu directories; %llu blocks "
		 "in use marked, %llu unreferenced freed, %llu link counts and %llu duplicate directory names "
		 "repaired",
		 (unsigned long long)files, (unsigned long long)dirs, (unsigned long long)fixed,
		 (unsigned long long)reclaimed, (unsigned long long)links, (unsigned long long)dropped);
out:
	free(seen);
	free(q);
	return rc;
}

/* ---- attach / detach ---- */

static int ro(struct udf_fs *fs, const char *why)
{
	snprintf(fs->ro_reason, sizeof(fs->ro_reason), "%s", why);
	return 0;
}

int udf_w_attach(struct udf_fs *fs, const struct udf_mount_opts *opts, char *err, size_t errlen)
{
	(void)opts;
	if (fs->sf.revision > 0x0201)
		return ro(fs, "UDF revisions 2.50 and 2.60 are read-only in pktfuse for now");
	if (fs->sf.revision < 0x0150)
		return ro(fs, "UDF revisions before 1.50 are read-only in pktfuse");
	if (fs->nparts != 1 || (fs->parts[0].kind != PART_PHYS && fs->parts[0].kind != PART_SPARABLE))
		return ro(fs, "only volumes with one physical or sparable partition are written");
	struct part *p = &fs->parts[0];
	if (p->access == 1 || p->access == 2)
		return ro(fs, "the UDF partition is recorded as read-only or write-once");
	if (p->usb_len == 0)
		return ro(fs, p->ust_len ? "the UDF partition uses a space table, which pktfuse does not write"
					 : "the UDF partition has no space bitmap");
	if (fs->lvid_loc == 0)
		return ro(fs, "the UDF volume has no integrity descriptor");
	if ((uint64_t)p->usb_len > SBD_BITMAP + p->len / 8 + 2ull * fs->bs)
		return ro(fs, "the space bitmap's recorded size does not match its partition");
	struct udf_w *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w->plen = p->len;
	w->sbd_lbn = p->usb_lbn;
	w->sbd_blocks = blocks_of(fs, p->usb_len);
	w->buf = malloc(fs->bs);
	w->buf2 = malloc(fs->bs);
	w->lvid = malloc(fs->bs);
	w->sbd = malloc((size_t)w->sbd_blocks * fs->bs);
	w->sbd_dirty = calloc(w->sbd_blocks ? w->sbd_blocks : 1, 1);
	if (!w->buf || !w->buf2 || !w->lvid || !w->sbd || !w->sbd_dirty) {
		fs->w = w;
		udf_w_detach(fs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	fs->w = w;
	const char *why = NULL;
	for (uint32_t i = 0; i < w->sbd_blocks && !why; i++)
		if (udf_read_lb(fs, 0, w->sbd_lbn + i, w->sbd + (size_t)i * fs->bs))
			why = "the space bitmap cannot be read";
	if (!why && udf_tag_check(w->sbd, (size_t)w->sbd_blocks * fs->bs, w->sbd_lbn) != TAG_SBD)
		why = "the space bitmap is damaged";
	if (!why) {
		w->nbits = le32(w->sbd + SBD_NUM_BITS);
		uint32_t nbytes = le32(w->sbd + SBD_NUM_BYTES);
		if (nbytes < (w->nbits + 7) / 8 || SBD_BITMAP + (uint64_t)nbytes > (uint64_t)w->sbd_blocks * fs->bs)
			why = "the space bitmap is damaged";
		if (w->nbits > w->plen)
			w->nbits = w->plen;
	}
	if (!why && (fs->io.read(fs->io.ctx, (uint64_t)fs->lvid_loc * fs->bs, fs->bs, w->lvid) ||
		     udf_tag_check(w->lvid, fs->bs, fs->lvid_loc) != TAG_LVID))
		why = "the integrity descriptor cannot be read";
	if (why) {
		udf_w_detach(fs);
		return ro(fs, why);
	}
	/* whole bytes at once, then the bits of the last partial byte */
	for (uint64_t i = 0; i < w->nbits / 8; i++)
		w->free_blocks += (uint64_t)__builtin_popcount(w->sbd[SBD_BITMAP + i]);
	for (uint64_t b = w->nbits / 8 * 8; b < w->nbits; b++)
		w->free_blocks += bm_is_free(w, b);
	w->pkt = fs->parts[0].kind == PART_SPARABLE ? fs->parts[0].packet_len
						       : (fs->io.packet_blocks ? fs->io.packet_blocks : 16);
	/* File entries and directories gather near the start, file data after a small zone, so that
	 * one commit rewrites few packets. */
	w->meta_goal = 0;
	w->pkt_off = (uint32_t)((w->pkt - p->start % w->pkt) % w->pkt);
	uint64_t zone = w->nbits / 64;
	w->data_goal = (uint32_t)(w->pkt_off + (zone + w->pkt - 1) / w->pkt * w->pkt);
	if (w->data_goal >= w->nbits)
		w->data_goal = 0;
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	w->tz = (int)(tm.tm_gmtoff / 60);
	if (fs->next_uniq < 16)
		fs->next_uniq = 16;
	if (fs->lvid_type != 1) {
		/* Not cleanly unmounted: check the tree before anything is allocated. */
		int rc = recover(fs);
		if (rc) {
			udf_w_detach(fs);
			if (rc == -ENOMEM) {
				snprintf(err, errlen, "out of memory");
				return rc;
			}
			return ro(fs, "the disc was not cleanly unmounted and its check found damage; mounted read-only");
		}
	}
	update_sf(fs);
	return 0;
}

void udf_w_detach(struct udf_fs *fs)
{
	struct udf_w *w = fs->w;

	if (!w)
		return;
	free(w->sbd);
	free(w->sbd_dirty);
	free(w->pend);
	free(w->lvid);
	free(w->buf);
	free(w->buf2);
	free(w);
	fs->w = NULL;
}

/* ---- public operations ---- */

const char *udf_mount_note(struct udf_fs *fs)
{
	return fs->note;
}

bool udf_writable(struct udf_fs *fs, char *why, size_t len)
{
	if (fs->w)
		return true;
	if (why && len)
		snprintf(why, len, "%s", fs->ro_reason[0] ? fs->ro_reason : "mounted read-only");
	return false;
}

uint64_t udf_generation(struct udf_fs *fs, uint64_t ino)
{
	struct node *n;
	uint64_t g = 1;

	pthread_mutex_lock(&fs->lock);
	if (fs->w && udf_get_node(fs, ino, &n) == 0 && n->uniq)
		g = n->uniq;
	pthread_mutex_unlock(&fs->lock);
	return g;
}

static uint64_t take_uniq(struct udf_fs *fs)
{
	uint64_t u = fs->next_uniq++;

	if ((uint32_t)u < 16) { /* the low 32 bits 0-15 are reserved (UDF 3.2.1.1) */
		u = (u & ~0xFFFFFFFFull) + 16;
		fs->next_uniq = u + 1;
	}
	return u;
}

/* A node that may be changed by this mount. */
static int writable_node(struct udf_fs *fs, uint64_t ino, struct node **n)
{
	if (!fs->w)
		return -EROFS;
	int rc = udf_get_node(fs, ino, n);
	if (rc)
		return rc;
	return (*n)->ro_node ? -EROFS : 0;
}

/* An empty file with nothing allocated starts embedded in its ICB. */
static int start_embedded(struct node *n)
{
	if (n->next || n->inline_data || n->size)
		return 0;
	n->inline_data = malloc(1);
	return n->inline_data ? 0 : -ENOMEM;
}

/* A directory that may be changed by this mount. */
static int writable_dir(struct udf_fs *fs, uint64_t ino, struct node **d)
{
	if (!fs->w)
		return -EROFS;
	int rc = udf_get_dir(fs, ino, d);
	if (rc)
		return rc;
	return (*d)->ro_node ? -EROFS : 0;
}

static int name_to_cs0(const char *name, uint8_t *raw)
{
	/* Linux's udf shows at most 254 bytes of a name (longer ones get a checksum in place of their
	 * end): a name it could not read back is refused here. */
	if (strlen(name) > UDF_NAME_MAX)
		return -ENAMETOOLONG;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EEXIST;
	return udf_utf8_to_cs0(name, raw, 255);
}

/* Symbolic link target → path components (ECMA-167 4/14.16): the root as type 1 with no
 * identifier (as Linux writes it), ".." 3, "." 4, names 5. */
/* The CS0 encoding of a name to add to d (its length), or -errno: -EEXIST when d holds it already. */
static int new_name(struct node *d, const char *name, uint8_t *raw)
{
	int rl = name_to_cs0(name, raw);

	return rl >= 0 && udf_dir_find(d, name) ? -EEXIST : rl;
}

static int encode_symlink(const char *target, uint8_t *out, size_t cap)
{
	size_t pos = 0;
	const char *p = target;

	if (*p == '\0')
		return -ENOENT;
	if (*p == '/') {
		if (pos + 4 > cap)
			return -ENAMETOOLONG;
		memset(out + pos, 0, 4);
		out[pos] = 1;
		pos += 4;
		while (*p == '/')
			p++;
	}
	while (*p) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		char comp[256];
		if (l > 255)
			return -ENAMETOOLONG;
		memcpy(comp, p, l);
		comp[l] = '\0';
		if (pos + 4 > cap)
			return -ENAMETOOLONG;
		memset(out + pos, 0, 4);
		if (strcmp(comp, "..") == 0) {
			out[pos] = 3;
		} else if (strcmp(comp, ".") == 0) {
			out[pos] = 4;
		} else {
			int n = udf_utf8_to_cs0(comp, out + pos + 4, cap - pos - 4 < 255 ? cap - pos - 4 : 255);
			if (n < 0)
				return n;
			out[pos] = 5;
			out[pos + 1] = (uint8_t)n;
			pos += (size_t)n;
		}
		pos += 4;
		p += l;
		while (*p == '/')
			p++;
	}
	return (int)pos;
}

static struct node *new_node(struct udf_fs *fs, uint32_t lbn, mode_t mode, uid_t uid, gid_t gid)
{
	struct node *n = calloc(1, sizeof(*n));
	bool efe = fs->sf.revision >= 0x0250;

	if (!n)
		return NULL;
	n->hdr_len = efe ? EFE_HDR : FE_HDR;
	n->hdr = calloc(1, n->hdr_len);
	n->inline_data = malloc(1);
	if (!n->hdr || !n->inline_data) {
		udf_node_free(n);
		return NULL;
	}
	uint8_t *h = n->hdr;
	put_le32(h + ICB_PRIOR_ENTRIES, 0);  /* prior recorded direct entries */
	put_le16(h + ICB_STRATEGY_TYPE, 4);  /* strategy 4 */
	put_le16(h + ICB_MAX_ENTRIES, 1);  /* maximum entries */
	put_le32(h + (efe ? EFE_CHECKPOINT : FE_CHECKPOINT), 1); /* checkpoint */
	n->efe = efe;
	n->fe_lbn = lbn;
	n->ino = udf_make_ino(0, lbn);
	n->file_type = file_type_of(mode);
	n->uniq = take_uniq(fs);
	n->uid_raw = (uint32_t)uid;
	n->gid_raw = (uint32_t)gid;
	/* the owner may change attributes and delete, as the kernel records it */
	n->perm_raw = 0x6000;
	struct timespec t = now();
	n->st.st_ino = n->ino;
	n->st.st_mode = mode;
	n->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	n->st.st_uid = uid;
	n->st.st_gid = gid;
	n->st.st_blksize = fs->bs;
	n->st.st_atim = n->st.st_mtim = n->st.st_ctim = t;
	n->is_new = true;
	if (efe)
		udf_put_timestamp(h + EFE_CREATION_TIME, t, fs->w->tz); /* creation time */
	return n;
}

/* A Device Specification extended attribute behind an extended attribute header (as Linux
 * records device nodes), in the node's header area. */
static int add_device_ea(struct udf_fs *fs, struct node *n, dev_t rdev)
{
	uint32_t base = n->efe ? EFE_HDR : FE_HDR;
	uint8_t *h = realloc(n->hdr, base + EAH_SIZE + DEVSPEC_SIZE);

	if (!h)
		return -ENOMEM;
	n->hdr = h;
	uint8_t *ea = h + base;
	memset(ea, 0, EAH_SIZE + DEVSPEC_SIZE);
	put_le32(ea + EAH_IMPL_ATTR_LOC, 0xFFFFFFFFu); /* no implementation-use attributes */
	put_le32(ea + EAH_APP_ATTR_LOC, 0xFFFFFFFFu); /* no application-use attributes */
	put_tag(fs, ea, TAG_EAHD, n->fe_lbn, EAH_SIZE - TAG_SIZE);
	udf_tag_finish(ea, EAH_SIZE);
	put_le32(ea + EAH_SIZE + EA_TYPE, 12);
	ea[EAH_SIZE + EA_SUBTYPE] = 1;
	put_le32(ea + EAH_SIZE + EA_LENGTH, DEVSPEC_SIZE);
	put_le32(ea + EAH_SIZE + DEVSPEC_IMPL_USE_LEN, 0);
	put_le32(ea + EAH_SIZE + DEVSPEC_MAJOR, major(rdev));
	put_le32(ea + EAH_SIZE + DEVSPEC_MINOR, minor(rdev));
	n->lea = EAH_SIZE + DEVSPEC_SIZE;
	n->hdr_len = base + EAH_SIZE + DEVSPEC_SIZE;
	put_le32(h + (n->efe ? EFE_EA_LEN : FE_EA_LEN), EAH_SIZE + DEVSPEC_SIZE);
	n->st.st_rdev = rdev;
	return 0;
}

static int create_node(struct udf_fs *fs, uint64_t dir, const char *name, mode_t mode, dev_t rdev, uid_t uid,
		       gid_t gid, const char *target, uint64_t *ino, struct stat *st);

int udf_create(struct udf_fs *fs, uint64_t dir, const char *name, mode_t mode, uid_t uid, gid_t gid,
	       const char *target, uint64_t *ino, struct stat *st)
{
	if (S_ISBLK(mode) || S_ISCHR(mode))
		return -EINVAL; /* udf_mknod */
	return create_node(fs, dir, name, mode, 0, uid, gid, target, ino, st);
}

int udf_mknod(struct udf_fs *fs, uint64_t dir, const char *name, mode_t mode, dev_t rdev, uid_t uid, gid_t gid,
	      uint64_t *ino, struct stat *st)
{
	if (S_ISLNK(mode))
		return -EINVAL;
	return create_node(fs, dir, name, mode, rdev, uid, gid, NULL, ino, st);
}

static int create_node(struct udf_fs *fs, uint64_t dir, const char *name, mode_t mode, dev_t rdev, uid_t uid,
		       gid_t gid, const char *target, uint64_t *ino, struct stat *st)
{
	struct node *d, *n = NULL;
	uint8_t raw[256];
	int rc;

	pthread_mutex_lock(&fs->lock);
	if ((rc = writable_dir(fs, dir, &d)) != 0)
		goto out;
	int rl = new_name(d, name, raw);
	if (rl < 0) {
		rc = rl;
		goto out;
	}
	if (S_ISDIR(mode) && d->st.st_nlink >= 0xFFFF) {
		rc = -EMLINK;
		goto out;
	}
	uint8_t *link = NULL;
	int linklen = 0;
	if (target) {
		link = malloc(4096);
		if (!link) {
			rc = -ENOMEM;
			goto out;
		}
		linklen = encode_symlink(target, link, 4096);
		if (linklen < 0) {
			rc = linklen;
			free(link);
			goto out;
		}
	}
	if ((rc = check_room(fs, d, 1, fid_len((size_t)rl))) != 0 || (rc = begin_change(fs)) != 0) {
		free(link);
		goto out;
	}
	uint32_t lbn, got;
	if ((rc = alloc_blocks(fs, UINT64_MAX, 1, ALLOC_META, &lbn, &got)) != 0) {
		free(link);
		goto out;
	}
	struct node *old = udf_node_find(fs, udf_make_ino(0, lbn));
	if (old) {
		/* a dead node whose block was freed by an earlier commit */
		udf_node_remove(fs, old);
		udf_node_free(old);
	}
	n = new_node(fs, lbn, mode, uid, gid);
	if (!n) {
		free_later(fs, lbn, 1);
		free(link);
		rc = -ENOMEM;
		goto out;
	}
	if (S_ISDIR(mode)) {
		n->dir_loaded = true;
		n->parent = d->ino;
		n->dhash = malloc(16 * sizeof(uint32_t));
		if (!n->dhash) {
			rc = -ENOMEM;
		} else {
			n->dhash_mask = 15;
			udf_dir_rehash(n);
			n->dir_dirty = true;
		}
	}
	if (rc == 0 && (S_ISBLK(mode) || S_ISCHR(mode)))
		rc = add_device_ea(fs, n, rdev);
	if (rc == 0 && link) {
		ssize_t w = node_write(fs, n, 0, (size_t)linklen, link);
		rc = w < 0 ? (int)w : 0;
		if (rc == 0 && udf_link_target(fs, n, (char *)link, 4096) == 0)
			n->st.st_size = (off_t)strlen((char *)link); /* the target's length, as lstat reports */
	}
	free(link);
	if (rc == 0)
		rc = dir_add(d, name, raw, (uint8_t)rl, n->ino, S_ISDIR(mode), (uint32_t)n->uniq);
	if (rc) {
		free_extents(fs, n);
		free_later(fs, lbn, 1);
		udf_node_free(n);
		n = NULL;
		goto out;
	}
	udf_node_insert(fs, n);
	mark_dirty(fs, n);
	if (S_ISDIR(mode)) {
		d->st.st_nlink++;
		fs->sf.dirs++;
	} else {
		fs->sf.files++;
	}
	d->dir_dirty = d->gained = true;
	touch(fs, d, true);
	update_sf(fs);
	*ino = n->ino;
	*st = n->st;
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_link(struct udf_fs *fs, uint64_t ino, uint64_t dir, const char *name, struct stat *st)
{
	struct node *d, *n;
	uint8_t raw[256];
	int rc;

	pthread_mutex_lock(&fs->lock);
	if ((rc = writable_dir(fs, dir, &d)) != 0 || (rc = udf_get_node(fs, ino, &n)) != 0)
		goto out;
	if (S_ISDIR(n->st.st_mode)) {
		rc = -EPERM;
		goto out;
	}
	if (n->ro_node) {
		rc = -EROFS;
		goto out;
	}
	if (n->st.st_nlink >= 0xFFFF) {
		rc = -EMLINK;
		goto out;
	}
	int rl = new_name(d, name, raw);
	if (rl < 0) {
		rc = rl;
		goto out;
	}
	if ((rc = check_room(fs, d, 0, fid_len((size_t)rl))) != 0 || (rc = begin_change(fs)) != 0)
		goto out;
	if ((rc = dir_add(d, name, raw, (uint8_t)rl, n->ino, false, (uint32_t)n->uniq)) != 0)
		goto out;
	n->st.st_nlink++;
	touch(fs, n, false);
	d->dir_dirty = d->gained = true;
	touch(fs, d, true);
	*st = n->st;
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

/* Drops a node whose last name is gone (its blocks are freed after the next commit). */
static void node_delete(struct udf_fs *fs, struct node *n)
{
	free_extents(fs, n);
	for (uint32_t i = 0; i < n->naed; i++)
		free_later(fs, n->aed[i], 1);
	free_later(fs, n->fe_lbn, 1);
	if (S_ISDIR(n->st.st_mode)) {
		if (fs->sf.dirs)
			fs->sf.dirs--;
	} else if (fs->sf.files) {
		fs->sf.files--;
	}
	n->next = 0;
	n->naed = 0;
	n->dead = true;
	fs->w->reserve -= n->reserved;
	n->reserved = 0;
	fs->w->changed = true;
	update_sf(fs);
}

/* Removes the entry e of d naming n. */
static void unlink_entry(struct udf_fs *fs, struct node *d, struct dirent_ *e, struct node *n)
{
	dir_del(d, e);
	dir_compact(d);
	d->dir_dirty = true;
	touch(fs, d, true);
	if (S_ISDIR(n->st.st_mode)) {
		d->st.st_nlink--;
		n->st.st_nlink = 0;
	} else {
		n->st.st_nlink--;
	}
	if (n->st.st_nlink == 0) {
		if (n->open_count == 0)
			node_delete(fs, n);
		n->st.st_ctim = now();
	} else {
		touch(fs, n, false);
	}
}

static int remove_name(struct udf_fs *fs, uint64_t dir, const char *name, bool want_dir)
{
	struct node *d, *n;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if ((rc = writable_dir(fs, dir, &d)) != 0)
		goto out;
	struct dirent_ *e = udf_dir_find(d, name);
	if (!e) {
		rc = strcmp(name, ".") == 0 ? -EINVAL : strcmp(name, "..") == 0 ? -ENOTEMPTY : udf_missing_name(name);
		goto out;
	}
	if ((rc = udf_get_node(fs, e->ino, &n)) != 0)
		goto out;
	if (want_dir && !S_ISDIR(n->st.st_mode)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!want_dir && S_ISDIR(n->st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (want_dir) {
		if ((rc = udf_dir_load(fs, n)) != 0)
			goto out;
		if (!dir_empty(n) || n->keep_len) {
			rc = -ENOTEMPTY;
			goto out;
		}
	}
	if (n->ro_node) {
		rc = -EROFS;
		goto out;
	}
	if ((rc = begin_change(fs)) != 0)
		goto out;
	unlink_entry(fs, d, e, n);
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_unlink(struct udf_fs *fs, uint64_t dir, const char *name)
{
	return remove_name(fs, dir, name, false);
}

int udf_rmdir(struct udf_fs *fs, uint64_t dir, const char *name)
{
	return remove_name(fs, dir, name, true);
}

/* True when a is b or lies under b. */
static bool is_under(struct udf_fs *fs, uint64_t a, uint64_t b)
{
	for (int hops = 0; hops < 4096; hops++) {
		if (a == b)
			return true;
		struct node *n;
		if (a == fs->root_ino || udf_get_dir(fs, a, &n) != 0)
			return false;
		a = n->parent;
	}
	return true; /* a loop: refuse rather than guess */
}

int udf_rename(struct udf_fs *fs, uint64_t odir, const char *oname, uint64_t ndir, const char *nname,
	       unsigned flags)
{
	struct node *od, *nd, *n, *t = NULL;
	uint8_t raw[256];
	int rc;

	pthread_mutex_lock(&fs->lock);
	if ((rc = writable_dir(fs, odir, &od)) != 0 || (rc = writable_dir(fs, ndir, &nd)) != 0)
		goto out;
	struct dirent_ *oe = udf_dir_find(od, oname);
	if (!oe) {
		rc = udf_missing_name(oname);
		goto out;
	}
	if ((rc = udf_get_node(fs, oe->ino, &n)) != 0)
		goto out;
	int rl = name_to_cs0(nname, raw);
	if (rl < 0) {
		rc = rl == -EEXIST ? -EINVAL : rl;
		goto out;
	}
	bool isdir = S_ISDIR(n->st.st_mode);
	if (isdir && od != nd && is_under(fs, nd->ino, n->ino)) {
		rc = -EINVAL;
		goto out;
	}
	struct dirent_ *te = udf_dir_find(nd, nname);
	if (te) {
		if (flags & UDF_RENAME_NOREPLACE) {
			rc = -EEXIST;
			goto out;
		}
		if (te->ino == n->ino)
			goto out; /* the same file: nothing to do */
		if ((rc = udf_get_node(fs, te->ino, &t)) != 0)
			goto out;
		if (S_ISDIR(t->st.st_mode)) {
			if (!isdir) {
				rc = -EISDIR;
				goto out;
			}
			if ((rc = udf_dir_load(fs, t)) != 0)
				goto out;
			if (!dir_empty(t) || t->keep_len) {
				rc = -ENOTEMPTY;
				goto out;
			}
		} else if (isdir) {
			rc = -ENOTDIR;
			goto out;
		}
		if (t->ro_node) {
			rc = -EROFS;
			goto out;
		}
	}
	if (n->ro_node) {
		rc = -EROFS;
		goto out;
	}
	if (isdir && (rc = udf_dir_load(fs, n)) != 0)
		goto out;
	if ((rc = check_room(fs, nd, 0, fid_len((size_t)rl))) != 0 || (rc = begin_change(fs)) != 0)
		goto out;
	uint32_t uniq = oe->uniq;
	if (t) {
		unlink_entry(fs, nd, te, t);
		te = NULL;
	}
	/* the new name first: a crash between the two directory writes leaves two names, not none */
	if ((rc = dir_add(nd, nname, raw, (uint8_t)rl, n->ino, isdir, uniq)) != 0)
		goto out;
	oe = udf_dir_find(od, oname);
	dir_del(od, oe);
	dir_compact(od);
	nd->dir_dirty = nd->gained = true;
	od->dir_dirty = true;
	touch(fs, nd, true);
	touch(fs, od, true);
	if (isdir && od != nd) {
		n->parent = nd->ino;
		n->dir_dirty = true;
		od->st.st_nlink--;
		nd->st.st_nlink++;
	}
	touch(fs, n, false);
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int udf_setattr(struct udf_fs *fs, uint64_t ino, const struct udf_setattr *sa, struct stat *st)
{
	struct node *n;
	int rc;

	pthread_mutex_lock(&fs->lock);
	if ((rc = writable_node(fs, ino, &n)) != 0)
		goto out;
	if ((sa->valid & UDF_SET_SIZE) && !S_ISREG(n->st.st_mode)) {
		rc = S_ISDIR(n->st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if ((rc = begin_change(fs)) != 0)
		goto out;
	if (sa->valid & UDF_SET_SIZE) {
		if ((rc = start_embedded(n)) != 0)
			goto out;
		if (!n->inline_data)
			ext_normalize(fs, n);
		if ((rc = node_truncate(fs, n, sa->size)) != 0)
			goto out;
		n->st.st_mtim = now();
	}
	if (sa->valid & UDF_SET_MODE)
		n->st.st_mode = (n->st.st_mode & S_IFMT) | (sa->mode & 07777);
	if (sa->valid & UDF_SET_UID) {
		n->st.st_uid = sa->uid;
		n->uid_raw = (uint32_t)sa->uid;
	}
	if (sa->valid & UDF_SET_GID) {
		n->st.st_gid = sa->gid;
		n->gid_raw = (uint32_t)sa->gid;
	}
	if (sa->valid & UDF_SET_ATIME)
		n->st.st_atim = sa->atime;
	if (sa->valid & UDF_SET_MTIME)
		n->st.st_mtim = sa->mtime;
	touch(fs, n, false);
	update_sf(fs);
	*st = n->st;
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

ssize_t udf_write(struct udf_fs *fs, uint64_t ino, uint64_t off, size_t len, const void *buf)
{
	struct node *n;
	ssize_t rc;

	pthread_mutex_lock(&fs->lock);
	if (!fs->w) {
		rc = -EROFS;
		goto out;
	}
	if ((rc = udf_get_node(fs, ino, &n)) != 0)
		goto out;
	if (!S_ISREG(n->st.st_mode)) {
		rc = S_ISDIR(n->st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if (n->ro_node) {
		rc = -EROFS;
		goto out;
	}
	if ((rc = begin_change(fs)) != 0)
		goto out;
	if ((rc = start_embedded(n)) != 0)
		goto out;
	if (!n->inline_data && !n->dirty)
		ext_normalize(fs, n);
	rc = node_write(fs, n, off, len, buf);
	if (rc >= 0) {
		touch(fs, n, true);
		n->st.st_mode &= ~(mode_t)(S_ISUID | S_ISGID); /* as the kernel does on write */
	}
	update_sf(fs);
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void udf_open(struct udf_fs *fs, uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&fs->lock);
	if (udf_get_node(fs, ino, &n) == 0)
		n->open_count++;
	pthread_mutex_unlock(&fs->lock);
}

void udf_release(struct udf_fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->lock);
	struct node *n = udf_node_find(fs, ino);
	if (n && n->open_count) {
		n->open_count--;
		if (n->open_count == 0 && n->st.st_nlink == 0 && !n->dead && fs->w)
			node_delete(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
}

int udf_sync(struct udf_fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	int rc = fs->w ? commit(fs) : 0;
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

bool udf_dirty(struct udf_fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	bool d = fs->w && fs->w->changed;
	pthread_mutex_unlock(&fs->lock);
	return d;
}

int udf_close(struct udf_fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	int rc = 0;
	struct udf_w *w = fs->w;
	if (w && w->lvid_open) {
		/* files still open but unlinked go now: nothing can reach them after unmount */
		for (uint32_t i = 0; i <= fs->nhash_mask; i++)
			for (struct node *n = fs->nhash[i]; n; n = n->hnext)
				if (!n->dead && n->st.st_nlink == 0 && n->open_count)
					node_delete(fs, n);
		rc = commit(fs);
		if (rc == 0 && w->bm_stale)
			rc = write_bitmap(fs);
		if (rc == 0)
			rc = barrier(fs);
		if (rc == 0)
			rc = write_lvid(fs, false);
		if (rc == 0)
			rc = barrier(fs);
		if (rc == 0)
			w->lvid_open = false;
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}
