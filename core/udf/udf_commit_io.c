/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A commit's medium I/O, recorded while the commit is encoded under fs->lock and sent afterwards,
 * with the lock released where the caller allows it (struct commit_snap in udf_w.h; the locking
 * rules are in udf_int.h at fs->lock).
 *
 * Why this keeps every guarantee of udf_commit.c's order: the writes and barriers are sent in the
 * order they were recorded; a failure stops the rest, as before.  What operations change while the
 * I/O runs is the next commit's: the nodes left the dirty list when the encoding ended, and a node
 * changed meanwhile is put back on it by udf_mark_dirty.  Every block the commit writes was taken from
 * the bitmap or is a file entry in use, and blocks freed meanwhile stay pending (w->pend_floor keeps
 * them out of the running commit's entries), so nothing the I/O writes is handed out and nothing the
 * medium's previous state references becomes allocatable before the commit that drops it is done.
 * The I/O itself reads no engine state: medium offsets are mapped while encoding, and a barrier that
 * fails where defect management could move a packet, or one before which a worn packet would be
 * moved to a spare (media life), stops the unlocked run (both change the sparing table, under
 * fs->lock); the rest runs under the lock, blocks mapped again.
 */
#define _GNU_SOURCE
#include "udf_w.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { NEED_LOCK = 1 };

struct commit_snap *udf_snap_begin(struct udf_fs *fs)
{
	struct commit_snap *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->encoding = true;
	s->can_rescue = udf_can_rescue(fs);
	s->can_move_worn = udf_can_move_worn(fs);
	fs->w->snap = s;
	return s;
}

static int add_op(struct commit_snap *s, struct snap_op op)
{
	if (s->nops == s->capops) {
		size_t nc = s->capops ? s->capops * 2 : 64;
		struct snap_op *no = realloc(s->ops, nc * sizeof(*no));
		if (!no)
			return -ENOMEM;
		s->ops = no;
		s->capops = nc;
	}
	s->ops[s->nops++] = op;
	return 0;
}

int udf_snap_write(struct udf_fs *fs, uint32_t lbn, uint64_t off, size_t len, const void *buf)
{
	uint8_t *d = malloc(len);

	if (!d)
		return -ENOMEM;
	memcpy(d, buf, len);
	int rc = add_op(fs->w->snap, (struct snap_op){.lbn = lbn, .off = off, .len = len, .data = d});
	if (rc)
		free(d);
	return rc;
}

int udf_snap_barrier(struct udf_fs *fs)
{
	return add_op(fs->w->snap, (struct snap_op){.barrier = true, .lbn = UINT32_MAX});
}

static void snap_free(struct commit_snap *s)
{
	for (size_t i = 0; i < s->nops; i++)
		free(s->ops[i].data);
	free(s->ops);
	free(s->nodes);
	s->ops = NULL;
	s->nodes = NULL;
	s->nops = s->nnodes = 0;
}

/* The encoding failed: nothing was sent, everything stays dirty. */
void udf_snap_abandon(struct udf_fs *fs, struct commit_snap *s)
{
	for (struct node *n = fs->w->dirty; n; n = n->dnext)
		udf_move_finish(fs, n, false); /* the moves it planned are not made */
	snap_free(s);
	free(s);
	fs->w->snap = NULL;
	pthread_cond_broadcast(&fs->commit_idle);
}

/*
 * The commit's hints (io.fill_unused): after each write of a partition block, the free blocks of its
 * packets, so that the cache writes zeros there instead of gathering them.  Computed when the
 * encoding is done (the bitmap the commit records is encoded by then) and held -- marked used in
 * memory only -- until the commit finishes: the run without fs->lock sends them while operations go
 * on, and an operation that took such a block and wrote it, whose packet then went to the medium and
 * left the cache, would otherwise see its data replaced by the late hint's zeros.  Held blocks count
 * as used meanwhile (an operation short of space finishes the commit: udf_commit_take_over).
 */
struct hint_build {
	struct udf_fs *fs;
	struct commit_snap *out;
	int rc;
};

static int add_hint(void *ctx, uint32_t lbn, uint64_t off, size_t len)
{
	struct hint_build *h = ctx;
	struct udf_fs *fs = h->fs;
	int rc = add_op(h->out, (struct snap_op){.lbn = lbn, .off = off, .len = len, .unused = true});

	if (rc == 0) {
		for (uint32_t k = 0; k < len / fs->bs; k++)
			udf_bm_mark(fs, lbn + k, false);
		fs->w->free_blocks -= len / fs->bs;
	}
	return rc;
}

static void hold_found(void *ctx, uint32_t b, uint32_t k)
{
	struct hint_build *h = ctx;

	if (h->rc == 0)
		h->rc = udf_map_unused(h->fs, b, k, add_hint, h);
}

/* The held blocks of s's hints are free again. */
static void release_hints(struct udf_fs *fs, const struct commit_snap *s)
{
	struct udf_w *w = fs->w;

	for (size_t i = 0; i < s->nops; i++) {
		if (!s->ops[i].unused)
			continue;
		for (uint64_t b = s->ops[i].lbn; b < s->ops[i].lbn + s->ops[i].len / fs->bs; b++)
			if (!udf_bm_is_free(w, b)) {
				udf_bm_mark(fs, b, true);
				w->free_blocks++;
			}
	}
	udf_update_sf(fs);
}

/* Whether s holds blocks for its hints (free again once it finishes). */
static bool holds_hints(const struct commit_snap *s)
{
	for (size_t i = 0; i < s->nops; i++)
		if (s->ops[i].unused)
			return true;
	return false;
}

/* Out of memory: no hints (the cache gathers, as without them). */
static void add_hints(struct udf_fs *fs, struct commit_snap *s)
{
	struct commit_snap out = {0};
	struct hint_build h = {fs, &out, 0};

	if (!fs->io.fill_unused || fs->w->vat)
		return;
	for (size_t i = 0; i < s->nops && h.rc == 0; i++) {
		const struct snap_op op = s->ops[i];
		h.rc = add_op(&out, op);
		if (h.rc == 0 && !op.barrier && op.lbn != UINT32_MAX)
			udf_unused_runs(fs, op.lbn, (uint32_t)(op.len / fs->bs), false, hold_found, &h);
	}
	if (h.rc) {
		release_hints(fs, &out);
		free(out.ops); /* the data belongs to s->ops */
		return;
	}
	free(s->ops);
	s->ops = out.ops;
	s->nops = out.nops;
	s->capops = out.capops;
	udf_update_sf(fs);
}

/* The encoding is done: the changed nodes leave the dirty list (kept in s, with what the commit
 * clears, for a failure), and the frees made so far are the ones this commit makes allocatable. */
int udf_snap_detach(struct udf_fs *fs, struct commit_snap *s)
{
	struct udf_w *w = fs->w;
	size_t n = 0;

	for (struct node *d = w->dirty; d; d = d->dnext)
		n++;
	s->nodes = calloc(n ? n : 1, sizeof(*s->nodes));
	if (!s->nodes)
		return -ENOMEM;
	for (struct node *d = w->dirty; d; d = d->dnext)
		s->nodes[s->nnodes++] = (struct snap_node){d, d->dir_dirty, d->is_new, d->gained, d->reserved};
	udf_commit_clear(fs);
	s->npend = w->npend;
	w->pend_floor = w->npend;
	if (w->meta) {
		struct udf_w *m = udf_meta_space(w);
		s->meta_npend = m->npend;
		m->pend_floor = m->npend;
	}
	s->encoding = false;
	add_hints(fs, s);
	return 0;
}

/* After a failed run: the nodes are dirty again, with what the commit would have cleared. */
static void restore_dirty(struct udf_fs *fs, struct commit_snap *s)
{
	struct udf_w *w = fs->w;

	for (size_t i = 0; i < s->nnodes; i++) {
		struct snap_node *e = &s->nodes[i];
		struct node *n = e->n;
		n->dir_dirty |= e->dir_dirty;
		n->is_new |= e->is_new;
		n->gained |= e->gained;
		if (!n->reserved) {
			n->reserved = e->reserved;
			w->reserve += e->reserved;
		}
		udf_mark_dirty(fs, n);
	}
	if (s->nnodes)
		w->changed = true;
}

/* Sends one op.  Without the lock a write goes to the offset mapped while encoding; under it a
 * partition block is mapped again (defect management may have moved its packet since). */
static int run_op(struct udf_fs *fs, struct commit_snap *s, const struct snap_op *op, bool locked)
{
	if (op->barrier) {
		if (locked)
			return udf_barrier(fs);
		if (s->can_move_worn && (!fs->io.worn_dirty || fs->io.worn_dirty(fs->io.ctx)))
			return NEED_LOCK; /* moving a worn packet changes the sparing table */
		int rc = fs->io.flush ? fs->io.flush(fs->io.ctx) : 0;
		return rc == -EIO && s->can_rescue ? NEED_LOCK : rc;
	}
	if (op->unused) {
		/* under the lock mapped again, as writes are (defect management may have moved it) */
		if (locked)
			udf_send_unused(fs, op->lbn, (uint32_t)(op->len / fs->bs));
		else
			fs->io.fill_unused(fs->io.ctx, op->off, op->len);
		return 0; /* a hint: a refusal only costs a read */
	}
	if (locked && op->lbn != UINT32_MAX)
		return udf_write_run(fs, op->lbn, (uint32_t)(op->len / fs->bs), op->data);
	return fs->io.write(fs->io.ctx, op->off, op->len, op->data);
}

static void run_ops(struct udf_fs *fs, struct commit_snap *s, bool locked)
{
	while (s->rc == 0 && s->next < s->nops) {
		int rc = run_op(fs, s, &s->ops[s->next], locked);
		if (rc == NEED_LOCK)
			return;
		if (rc)
			s->rc = rc;
		else
			s->next++;
	}
}

/* Under fs->lock: what is left of the I/O, then the commit's end (freed blocks allocatable). */
static void snap_finish(struct udf_fs *fs, struct commit_snap *s)
{
	struct udf_w *w = fs->w;

	run_ops(fs, s, true);
	if (s->rc == 0 && s->changes) {
		fs->sf.commits++;
		/* 4. freed blocks become allocatable */
		udf_apply_frees(fs, s->npend, s->meta_npend);
		if (s->meta_entries)
			udf_meta_entries_written(fs, s->meta_gen);
	} else if (s->rc) {
		restore_dirty(fs, s);
	}
	w->pend_floor = 0;
	if (w->meta)
		udf_meta_space(w)->pend_floor = 0;
	/* entries that moved: their chains as the medium has them now (freed pairs wait a commit) */
	for (size_t i = 0; i < s->nnodes; i++)
		udf_move_finish(fs, s->nodes[i].n, s->rc == 0);
	release_hints(fs, s);
	snap_free(s);
	s->finished = true;
	w->snap = NULL;
	pthread_cond_broadcast(&fs->commit_idle);
}

/* Sends what s recorded and finishes the commit; fs->lock held on entry and return, released while
 * the I/O runs when unlock_io.  Frees s; the commit's result. */
int udf_snap_run(struct udf_fs *fs, struct commit_snap *s, bool unlock_io)
{
	if (!unlock_io) {
		s->io_stopped = true; /* no other thread sees s before it is finished */
	} else {
		pthread_mutex_unlock(&fs->lock);
		run_ops(fs, s, false);
		pthread_mutex_lock(&fs->io_lock);
		s->io_stopped = true;
		pthread_cond_broadcast(&fs->io_cv);
		pthread_mutex_unlock(&fs->io_lock);
		pthread_mutex_lock(&fs->lock);
	}
	/* an operation that needed the commit's frees may have finished it meanwhile */
	if (!s->finished)
		snap_finish(fs, s);
	int rc = s->rc;
	free(s);
	return rc;
}

void udf_commit_wait_idle(struct udf_fs *fs)
{
	while (fs->w && fs->w->snap)
		pthread_cond_wait(&fs->commit_idle, &fs->lock);
}

/*
 * In the middle of an operation (fs->lock held throughout): lets the running commit's unlocked I/O
 * stop and finishes that commit here.  True when that made blocks allocatable: the frees it commits,
 * when it succeeds, and the blocks its hints held, whatever its result (an operation short of space
 * only because of those would otherwise fail with ENOSPC, with the blocks free again).
 */
bool udf_commit_take_over(struct udf_fs *fs)
{
	struct commit_snap *s = fs->w->snap;

	if (!s || s->encoding)
		return false; /* none, or the caller is that commit (its encoding allocates) */
	pthread_mutex_lock(&fs->io_lock);
	while (!s->io_stopped)
		pthread_cond_wait(&fs->io_cv, &fs->io_lock);
	pthread_mutex_unlock(&fs->io_lock);
	bool frees = s->changes && (s->npend || s->meta_npend), held = holds_hints(s);
	snap_finish(fs, s);
	return (frees && s->rc == 0) || held;
}
