/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pktfuse check --repair: what the check planned, written through the engine's commit.  The order
 * keeps the disc valid if the repair is cut at any moment: the integrity descriptor says open on the
 * medium before anything changes (a cut repair is checked again at the next mount or check); the
 * blocks in use that the bitmap calls free are marked used before anything is allocated (nothing
 * in use is ever handed out); a directory's second record of a name and a wrong parent entry are
 * rewritten as any change (new contents first, the file entry switched last); orphans get names in
 * /lost+found; then the recount (udf_recover: link counts, a directory's second name, the bitmap's
 * leaked blocks, the counts) and the clean close record the rest.
 */
#define _GNU_SOURCE
#include "udf_check.h"
#include "udf_desc.h"
#include "udf_fsck_int.h"
#include "udf_w.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAY(kind, ...) udf_fsck_sayf(say, ctx, kind, __VA_ARGS__)

/* Every block the check found in use in space bw (the partition's, or the metadata partition's) is
 * marked used before anything is allocated. */
static uint64_t mark_used(struct udf_fs *fs, struct udf_w *bw, const uint8_t *used, uint64_t nbits)
{
	uint64_t marked = 0;

	for (uint64_t b = 0; b < nbits && b < bw->nbits; b++) {
		if ((used[b / 8] >> (b % 8) & 1) && udf_bm_is_free(bw, b)) {
			udf_space_mark(fs, bw, b, false);
			bw->free_blocks--;
			fs->w->changed = true;
			marked++;
		}
	}
	return marked;
}

/* A directory the writer holds back only for what the repair fixes: its file entry is where its
 * name points, in strategy 4 (no indirect entries). */
static bool plain_dir(const struct node *d)
{
	return d->hdr && le16(d->hdr + ICB_STRATEGY_TYPE) == 4 && udf_make_ino(0, d->fe_lbn) == d->ino;
}

static uint32_t lbn_of(uint64_t ino)
{
	return (uint32_t)(ino - INO_BASE);
}

static int fix_dirs(struct udf_fs *fs, const struct fsck_plan *plan, udf_fsck_say_fn say, void *ctx)
{
	struct node *d;

	for (size_t i = 0; i < plan->ndup; i++) {
		int rc = udf_get_dir(fs, plan->dup_dirs[i], &d);
		if (rc == -ENOMEM)
			return rc;
		if (rc || !plain_dir(d)) {
			SAY(UDF_FSCK_LEFT, "the directory at block %u keeps its names recorded twice (%s)",
			    lbn_of(plan->dup_dirs[i]), rc ? strerror(-rc) : "a layout the writer does not rewrite");
			continue;
		}
		/* the engine shows each name's first record; rewriting the directory drops the second */
		d->ro_node = false;
		d->dir_dirty = true;
		udf_touch(fs, d, true);
		SAY(UDF_FSCK_REPAIR, "the directory at block %u: the second record of each name removed",
		    lbn_of(d->ino));
	}
	for (size_t i = 0; i < plan->npfix; i++) {
		int rc = udf_get_dir(fs, plan->pfix[i].dir, &d);
		if (rc == -ENOMEM)
			return rc;
		if (rc || d->ro_node) {
			SAY(UDF_FSCK_LEFT, "the directory at block %u keeps its parent entry (%s)",
			    lbn_of(plan->pfix[i].dir), rc ? strerror(-rc) : "a layout the writer does not rewrite");
			continue;
		}
		d->parent = plan->pfix[i].parent;
		d->dir_dirty = true;
		udf_touch(fs, d, false);
		SAY(UDF_FSCK_REPAIR, "the directory at block %u: its parent entry names the directory holding its name",
		    lbn_of(d->ino));
	}
	return 0;
}

/* An orphaned directory gets its name in lf by hand (a directory takes no hard link). */
static int adopt_dir(struct udf_fs *fs, uint64_t lf, uint64_t ino, const char *name)
{
	struct node *l, *c;
	uint8_t raw[256];
	int rl = udf_utf8_to_cs0(name, raw, sizeof(raw)), rc;

	if (rl < 0)
		return rl;
	if ((rc = udf_get_dir(fs, lf, &l)) != 0 || (rc = udf_get_dir(fs, ino, &c)) != 0)
		return rc;
	if (c->ro_node || l->ro_node)
		return -EROFS;
	if ((rc = udf_check_room(fs, l, 0, udf_fid_len((size_t)rl))) != 0 ||
	    (rc = udf_dir_add(l, name, raw, (uint8_t)rl, ino, true, (uint32_t)c->uniq)) != 0)
		return rc;
	l->dir_dirty = l->gained = true;
	udf_touch(fs, l, true);
	c->parent = lf;
	c->dir_dirty = true;
	udf_touch(fs, c, false);
	return 0;
}

/* Orphans get the names /lost+found/#BLOCK.  Public operations: called without the lock. */
static int adopt_orphans(struct udf_fs *fs, const struct fsck_plan *plan, udf_fsck_say_fn say, void *ctx)
{
	struct stat st;
	uint64_t lf;
	int rc = udf_lookup(fs, udf_root_ino(fs), "lost+found", &lf, &st);

	if (rc == -ENOENT)
		rc = udf_create(fs, udf_root_ino(fs), "lost+found", S_IFDIR | 0700, 0, 0, NULL, &lf, &st);
	if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc) {
		SAY(UDF_FSCK_LEFT, "the orphans stay unnamed: /lost+found cannot be made (%s)", strerror(-rc));
		return rc == -ENOMEM ? rc : 0;
	}
	for (size_t i = 0; i < plan->norphans; i++) {
		char name[32];
		uint64_t ino = plan->orphans[i];
		snprintf(name, sizeof(name), "#%u", lbn_of(ino));
		rc = udf_getattr(fs, ino, &st);
		if (rc == 0 && S_ISDIR(st.st_mode)) {
			pthread_mutex_lock(&fs->lock);
			rc = adopt_dir(fs, lf, ino, name);
			pthread_mutex_unlock(&fs->lock);
		} else if (rc == 0) {
			rc = udf_link(fs, ino, lf, name, &st);
		}
		if (rc == -ENOMEM)
			return rc;
		if (rc)
			SAY(UDF_FSCK_LEFT, "the orphan at block %u stays unnamed (%s)", lbn_of(ino), strerror(-rc));
		else
			SAY(UDF_FSCK_REPAIR, "/lost+found/%s: the orphan at block %u named", name, lbn_of(ino));
	}
	return 0;
}

/* The copies of the sparing table that are damaged or differ from the one the mount reads get it
 * (the others stay as they are: a cut leaves at least the one read whole). */
static int renew_sparing(struct udf_fs *fs, unsigned copies, udf_fsck_say_fn say, void *ctx)
{
	const struct part *p = &fs->parts[0];
	int rc = p->stable_raw ? udf_sparing_write(fs, copies) : -EIO;

	for (unsigned t = 0; t < p->nstable && rc == 0; t++)
		if (copies & 1u << t)
			SAY(UDF_FSCK_REPAIR, "the sparing table's copy %u at sector %u renewed from copy %u", t + 1,
			    p->stable_loc[t], p->stable_ref + 1);
	return rc;
}

int udf_fsck_restore(const struct udf_io *io, const struct fsck_plan *plan, udf_fsck_say_fn say, void *ctx, char *err,
		     size_t errlen)
{
	struct udf_mount_opts mo = UDF_FSCK_MOUNT_OPTS;
	struct udf_fs *fs;
	struct node *mirror;
	int rc = udf_mount(io, &mo, &fs, err, errlen);

	if (rc)
		return rc;
	if (!fs->w || !fs->w->meta) {
		SAY(UDF_FSCK_LEFT, "the metadata file cannot be restored from its mirror: %s; nothing was written",
		    fs->w ? "no metadata partition is written" : fs->ro_reason);
		udf_unmount(fs);
		return 1;
	}
	const struct part *mp = &fs->parts[udf_meta_part(fs)];
	pthread_mutex_lock(&fs->lock);
	rc = udf_begin_change(fs); /* the medium says open first: the repair that follows closes it */
	if (rc == 0)
		rc = udf_load_node(fs, mp->phys, mp->mirror_loc, &mirror);
	for (size_t i = 0; i < plan->nrestore && rc == 0; i++) {
		uint32_t k = plan->restore[i], pa, pb;
		/* the mirror's copy as the check found it: a whole descriptor of this block */
		if ((rc = udf_meta_file_block(fs, mirror, mp->phys, k, &pb)) == 0 &&
		    (rc = udf_meta_file_block(fs, mp->meta, mp->phys, k, &pa)) == 0 &&
		    (rc = udf_read_lb(fs, mp->phys, pb, fs->w->buf)) == 0)
			rc = udf_tag_check(fs->w->buf, fs->bs, k) > 0 ? udf_write_run(fs, pa, 1, fs->w->buf) : -EIO;
		if (rc == 0)
			SAY(UDF_FSCK_REPAIR,
			    "block %u of the metadata partition: the metadata file's copy restored from its mirror", k);
	}
	if (rc == 0)
		rc = udf_barrier(fs);
	pthread_mutex_unlock(&fs->lock);
	udf_unmount(fs); /* not closed: the repair that follows closes the integrity descriptor */
	if (rc)
		snprintf(err, errlen,
			 "the metadata file could not be restored from its mirror (%s); the disc stays marked not "
			 "cleanly unmounted",
			 strerror(-rc));
	return rc;
}

int udf_fsck_repair(const struct udf_io *io, const struct fsck_plan *plan, udf_fsck_say_fn say, void *ctx, char *err,
		    size_t errlen)
{
	struct udf_mount_opts mo = UDF_FSCK_MOUNT_OPTS;
	struct udf_fs *fs;
	int rc = udf_mount(io, &mo, &fs, err, errlen);

	if (rc)
		return rc;
	if (!fs->w) {
		SAY(UDF_FSCK_LEFT, "%s; nothing was written", fs->ro_reason);
		udf_unmount(fs);
		return 1;
	}
	pthread_mutex_lock(&fs->lock);
	rc = udf_begin_change(fs); /* the medium says open before anything changes */
	if (rc == 0) {
		uint64_t marked = mark_used(fs, fs->w, plan->used, plan->nbits);
		if (marked)
			SAY(UDF_FSCK_REPAIR, "%llu block%s in use marked used in the space bitmap",
			    (unsigned long long)marked, marked == 1 ? "" : "s");
		marked = fs->w->meta && plan->mused ? mark_used(fs, udf_meta_space(fs->w), plan->mused, plan->mnbits)
						    : 0;
		if (marked)
			SAY(UDF_FSCK_REPAIR, "%llu block%s in use marked used in the metadata bitmap",
			    (unsigned long long)marked, marked == 1 ? "" : "s");
		rc = fix_dirs(fs, plan, say, ctx);
	}
	if (rc == 0 && plan->sparing_renew)
		rc = renew_sparing(fs, plan->sparing_renew, say, ctx);
	pthread_mutex_unlock(&fs->lock);
	if (rc == 0 && plan->norphans)
		rc = adopt_orphans(fs, plan, say, ctx);
	pthread_mutex_lock(&fs->lock);
	if (rc == 0)
		rc = udf_recover(fs);
	/* after the recount has rebuilt the metadata bitmap: the mirror's blocks in use that differ get
	 * the metadata file's (the check read the tree through it; written at the close's barrier) */
	long resynced = rc == 0 && fs->w->meta && plan->resync ? udf_meta_resync(fs) : 0;
	if (resynced < 0)
		rc = (int)resynced;
	pthread_mutex_unlock(&fs->lock);
	const char *recount = strstr(fs->note, ": ");
	if (rc == 0)
		rc = udf_close(fs);
	if (rc == 0) {
		struct udf_statfs sf;
		udf_statfs(fs, &sf);
		SAY(UDF_FSCK_REPAIR, "recount: %s", recount ? recount + 2 : fs->note);
		if (resynced > 0)
			SAY(UDF_FSCK_REPAIR, "%ld block%s of the metadata mirror renewed from the metadata file",
			    resynced, resynced == 1 ? "" : "s");
		SAY(UDF_FSCK_REPAIR,
		    "the space bitmap written and the integrity descriptor closed (%llu files, %llu directories, "
		    "%llu free blocks)",
		    (unsigned long long)sf.files, (unsigned long long)sf.dirs, (unsigned long long)sf.free_blocks);
	} else {
		snprintf(err, errlen,
			 "the repair could not be written (%s); the disc stays marked not cleanly unmounted",
			 strerror(-rc));
	}
	udf_unmount(fs);
	return rc;
}
