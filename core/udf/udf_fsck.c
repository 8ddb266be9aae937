/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pktfuse check's check (udf_fsck.h says what it reports): a mount that keeps the descriptors as
 * read but never writes (the recount at mount off, every write refused), then one walk of the tree
 * from the root (udf_fsck_walk.c) that parses each directory's identifiers itself (the engine hides a
 * name recorded twice), reads every recorded block of every file, and marks the blocks each node owns;
 * then the
 * blocks the bitmap calls used that nothing owns are searched for file entries (orphans), and the
 * counts are compared with the integrity descriptor.  With a metadata partition, the same for its
 * metadata bitmap, and its mirror compared with the metadata file.  Under the mount's lock
 * throughout.
 */
#define _GNU_SOURCE
#include "udf_check.h"
#include "udf_desc.h"
#include "udf_fsck_walk.h"
#include "udf_w.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void udf_fsck_sayf(udf_fsck_say_fn say, void *ctx, enum udf_fsck_line kind, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (say)
		say(ctx, kind, line);
}

void udf_fsck_plan_free(struct fsck_plan *p)
{
	free(p->dup_dirs);
	free(p->pfix);
	free(p->orphans);
	free(p->used);
	free(p->mused);
	free(p->restore);
	if (p->metafe) {
		free(p->metafe->block);
		free(p->metafe->data);
		free(p->metafe->data_sectors);
	}
	free(p->metafe);
	memset(p, 0, sizeof(*p));
}

/* Whether block b of part is in the partition, owned by nothing reached and marked used. */
static bool free_to_own(const struct ck *ck, uint16_t part, uint64_t b)
{
	return b < fsck_nbits(ck, part) && !fsck_seen(ck, part, b) && !fsck_bm_free(ck, part, b);
}

/* True when every block n owns is in its partition, owned by nothing reached, and marked used (and
 * they are no more than the partitions hold). */
static bool owns_alone(const struct ck *ck, const struct node *n)
{
	uint16_t home = udf_ino_part(n->ino);
	uint64_t total = 0;

	if (!free_to_own(ck, home, n->fe_lbn))
		return false;
	for (uint32_t i = 0; i < n->nchain; i++)
		for (uint64_t b = n->chain[i]; b < (uint64_t)n->chain[i] + 2; b++)
			if (b != n->fe_lbn && !free_to_own(ck, home, b))
				return false;
	for (uint32_t i = 0; i < n->naed; i++)
		if (!free_to_own(ck, home, n->aed[i]))
			return false;
	for (uint32_t i = 0; i < n->next; i++) {
		const struct extent *e = &n->ext[i];
		if (e->type == 2)
			continue;
		uint64_t cnt = blocks_of(ck->fs, e->len);
		if (!fsck_has_part(ck, e->part) || e->lbn + cnt > fsck_nbits(ck, e->part) ||
		    (total += cnt) > ck->nbits + ck->mnbits)
			return false;
		for (uint64_t b = e->lbn; b < e->lbn + cnt; b++)
			if (!free_to_own(ck, e->part, b))
				return false;
	}
	return true;
}

static const char *kind_of(mode_t m)
{
	return S_ISDIR(m) ? "directory" : S_ISREG(m) ? "regular file" : S_ISLNK(m) ? "symbolic link" : "special file";
}

/* An orphan found: said, walked (a directory's tree too), and planned for /lost+found. */
static int adopt(struct ck *ck, struct node *c)
{
	char path[64];
	uint32_t lbn = c->fe_lbn;
	uint64_t *no = realloc(ck->plan.orphans, (ck->plan.norphans + 1) * sizeof(*no));

	if (!no)
		return -ENOMEM;
	ck->plan.orphans = no;
	no[ck->plan.norphans++] = c->ino;
	PROBLEM(ck, "orphan: the %s at block %u%s (%llu bytes, link count %u) is reachable from no directory",
		kind_of(c->st.st_mode), lbn, udf_ino_part(c->ino) ? " of the metadata partition" : "",
		(unsigned long long)c->size, (unsigned)c->st.st_nlink - (S_ISDIR(c->st.st_mode) ? 1 : 0));
	snprintf(path, sizeof(path), "(orphan #%u)", lbn);
	int rc = fsck_reach(ck, c, path);
	return rc ? rc : fsck_drain(ck);
}

static bool is_candidate_dir(struct udf_fs *fs, const uint64_t *cand, size_t n, uint64_t ino)
{
	for (size_t i = 0; i < n; i++) {
		struct node *c = udf_node_find(fs, cand[i]);
		if (c && c->ino == ino && S_ISDIR(c->st.st_mode))
			return true;
	}
	return false;
}

/* Whether block b of part holds a volume structure, whatever the bitmap says: in the metadata
 * partition the file set descriptor and its terminator. */
static bool volume_structure(struct ck *ck, uint16_t part, uint64_t b)
{
	struct udf_fs *fs = ck->fs;

	if (part == 0)
		return udf_is_volume_structure(fs, ck->sbd_lbn, ck->sbd_blocks, b, ck->buf);
	return b == fs->fsd_lbn ||
	       (b == (uint64_t)fs->fsd_lbn + 1 && udf_read_lb(fs, part, (uint32_t)b, ck->buf) == 0 &&
		udf_tag_check(ck->buf, fs->bs, (uint32_t)b) == TAG_TD);
}

/* File entries in blocks the bitmaps call used that nothing reached: those whose blocks are theirs
 * alone are orphans (a directory's tree comes along); the others are stale (a file deleted by a
 * commit whose frees did not reach the bitmap) and their blocks leaked. */
static int find_orphans(struct ck *ck)
{
	struct udf_fs *fs = ck->fs;
	uint64_t *cand = NULL;
	size_t nc = 0, capc = 0;
	int rc = 0;

	/* without the metadata bitmap an orphan's entry cannot be told from one a delete left behind
	 * (the bitmap said which): the metadata partition's wait for the check after its rebuild */
	for (int k = 0; k < (ck->mpart && !fsck_mbm_lost(ck) ? 2 : 1) && rc == 0; k++) {
		uint16_t part = k ? ck->mpart : 0;
		for (uint64_t b = 0; b < fsck_nbits(ck, part) && rc == 0; b++) {
			if (fsck_seen(ck, part, b) || fsck_bm_free(ck, part, b) || volume_structure(ck, part, b) ||
			    udf_read_lb(fs, part, (uint32_t)b, ck->buf) != 0)
				continue;
			int tag = udf_tag_check(ck->buf, fs->bs, (uint32_t)b);
			if (tag != TAG_FE && tag != TAG_EFE)
				continue;
			if ((rc = fsck_grow((void **)&cand, &capc, nc, sizeof(*cand))) == 0)
				cand[nc++] = udf_make_ino(part, (uint32_t)b);
		}
	}
	/* directories first, each unless its parent entry names another candidate (it comes along) */
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		for (size_t i = 0; i < nc && rc == 0; i++) {
			struct node *c;
			if (udf_get_node(fs, cand[i], &c) != 0 || c->refs || fsck_rec_find(ck, c->ino) != SIZE_MAX ||
			    S_ISDIR(c->st.st_mode) != (pass == 0))
				continue;
			if (pass == 0 && (udf_dir_load(fs, c) != 0 ||
					  (c->parent != c->ino && is_candidate_dir(fs, cand, nc, c->parent))))
				continue;
			if (owns_alone(ck, c))
				rc = adopt(ck, c);
		}
	}
	free(cand);
	return rc;
}

static void check_links(struct ck *ck)
{
	for (size_t i = 0; i < ck->nrecs; i++) {
		const struct node *n = ck->recs[i].n;
		if (n->refs == 0)
			continue; /* an orphan: its count is made when it gets a name */
		bool dir = S_ISDIR(n->st.st_mode);
		nlink_t want = dir ? 2 + n->subdirs : n->refs;
		if (n->st.st_nlink == want)
			continue;
		if (dir)
			PROBLEM(ck, "%s: link count %u, but the directory has %u subdirectories (%u expected)",
				ck->recs[i].path, (unsigned)n->st.st_nlink, n->subdirs, (unsigned)want);
		else
			PROBLEM(ck, "%s: link count %u, but %u name%s point%s to it", ck->recs[i].path,
				(unsigned)n->st.st_nlink, n->refs, fsck_plural(n->refs), n->refs == 1 ? "s" : "");
	}
}

static uint64_t bitmap_free(const struct ck *ck, uint16_t part)
{
	uint64_t f = 0;

	for (uint64_t b = 0; b < fsck_nbits(ck, part); b++)
		f += fsck_bm_free(ck, part, b);
	return f;
}

static void check_leaks(struct ck *ck, uint16_t part)
{
	uint64_t leaked = 0, first = 0;
	const char *bm = part ? "metadata bitmap" : "space bitmap", *of = part ? " of the metadata partition" : "";

	for (uint64_t b = 0; b < fsck_nbits(ck, part); b++) {
		if (fsck_seen(ck, part, b) || fsck_bm_free(ck, part, b) || volume_structure(ck, part, b))
			continue;
		if (leaked++ == 0)
			first = b;
	}
	if (!leaked)
		return;
	if (ck->seen.no_reclaim || ck->mseen.no_reclaim)
		PROBLEM(ck,
			"%llu block%s marked used in the %s but belonging to no file the check follows "
			"(the first at block %llu%s; some files own structures it does not follow, so they are not "
			"provably free)",
			(unsigned long long)leaked, fsck_plural(leaked), bm, (unsigned long long)first, of);
	else
		PROBLEM(ck,
			"%llu block%s marked used in the %s but belonging to no file (leaked; the first "
			"at block %llu%s)",
			(unsigned long long)leaked, fsck_plural(leaked), bm, (unsigned long long)first, of);
}

static void check_lvid(struct ck *ck)
{
	struct udf_fs *fs = ck->fs;
	uint8_t *b = ck->buf;

	if (fs->lvid_loc == 0) {
		PROBLEM(ck, "the volume has no logical volume integrity descriptor");
		return;
	}
	if (udf_read_bytes(fs, (uint64_t)fs->lvid_loc * fs->bs, fs->bs, b) != 0 ||
	    udf_tag_check(b, fs->bs, fs->lvid_loc) != TAG_LVID) {
		PROBLEM(ck, "the integrity descriptor at sector %u cannot be read or is damaged", fs->lvid_loc);
		return;
	}
	uint32_t np = le32(b + LVID_NUM_PARTITIONS), liu = le32(b + LVID_IMPL_USE_LEN);
	bool sized = (uint64_t)LVID_FREE_SPACE + 8ull * np + liu <= fs->bs && np >= 1;
	uint64_t rfree = sized ? le32(b + LVID_FREE_SPACE) : 0, rfiles = 0, rdirs = 0;
	bool counted = sized && liu >= LVIU_SIZE;
	if (counted) {
		const uint8_t *iu = b + LVID_FREE_SPACE + 8 * np;
		rfiles = le32(iu + LVIU_NUM_FILES);
		rdirs = le32(iu + LVIU_NUM_DIRS);
	}
	uint64_t bfree = bitmap_free(ck, 0), next = le64(b + LVID_NEXT_UNIQUE_ID);
	/* the metadata partition's free blocks are the second entry of the free space table */
	bool msized = ck->mpart && sized && np > ck->mpart;
	uint64_t rmfree = msized ? le32(b + LVID_FREE_SPACE + 4u * ck->mpart) : 0,
		 mfree = ck->mpart ? bitmap_free(ck, ck->mpart) : 0;
	if (le32(b + LVID_INTEGRITY_TYPE) != 1) {
		PROBLEM(ck,
			"the integrity descriptor says open: the disc was not cleanly unmounted (it records %llu "
			"files, %llu directories, %llu free blocks; the disc has %llu, %llu, and %llu free in the "
			"bitmap)",
			(unsigned long long)rfiles, (unsigned long long)rdirs, (unsigned long long)rfree,
			(unsigned long long)ck->files, (unsigned long long)ck->dirs, (unsigned long long)bfree);
		return;
	}
	if (!sized)
		PROBLEM(ck, "the integrity descriptor records no free space for the partition");
	else if (rfree != bfree || (counted && (rfiles != ck->files || rdirs != ck->dirs)))
		PROBLEM(ck,
			"the integrity descriptor records %llu files, %llu directories and %llu free blocks; the "
			"disc has %llu, %llu and %llu free in the bitmap",
			(unsigned long long)rfiles, (unsigned long long)rdirs, (unsigned long long)rfree,
			(unsigned long long)ck->files, (unsigned long long)ck->dirs, (unsigned long long)bfree);
	if (ck->mpart && fsck_mbm_lost(ck))
		; /* no metadata bitmap to compare with (its rebuild is planned) */
	else if (ck->mpart && !msized)
		PROBLEM(ck, "the integrity descriptor records no free space for the metadata partition");
	else if (ck->mpart && rmfree != mfree)
		PROBLEM(ck,
			"the integrity descriptor records %llu free blocks in the metadata partition; the metadata "
			"bitmap has %llu",
			(unsigned long long)rmfree, (unsigned long long)mfree);
	if (ck->max_uniq && next <= ck->max_uniq)
		PROBLEM(ck, "the integrity descriptor's next unique ID %llu is not past the ID %llu a file has",
			(unsigned long long)next, (unsigned long long)ck->max_uniq);
}

/* The sparing table: every copy the same table as the one the mount reads (the newest that
 * verifies), each other planned to be renewed from it; and how many spares are used (the only wear
 * recorded). */
static int check_sparing(struct ck *ck)
{
	struct udf_fs *fs = ck->fs;
	const struct part *p = &fs->parts[0];

	if (p->kind != PART_SPARABLE) {
		if (!ck->quiet_info)
			udf_fsck_sayf(ck->say, ck->ctx, UDF_FSCK_INFO,
				      "wear: this disc records none (no sparing table)");
		return 0;
	}
	const uint8_t *ref = p->stable_raw; /* the check's mount keeps it (it may be written) */
	if (!ref)
		return -EIO;
	uint8_t *tbl = malloc(p->stable_bytes);
	if (!tbl)
		return -ENOMEM;
	for (unsigned t = 0; t < p->nstable; t++) {
		if (!(p->stable_stale & 1u << t))
			continue;
		if (udf_sparing_read_copy(fs, p, t, tbl) != 0)
			PROBLEM(ck, "the sparing table's copy %u at sector %u cannot be read or is damaged", t + 1,
				p->stable_loc[t]);
		else
			PROBLEM(ck,
				"the sparing table's copy %u at sector %u (sequence number %u) differs from copy %u "
				"(sequence number %u), which is the one read",
				t + 1, p->stable_loc[t], le32(tbl + ST_SEQ_NUM), p->stable_ref + 1,
				le32(ref + ST_SEQ_NUM));
	}
	ck->plan.sparing_renew = p->stable_stale;
	free(tbl);
	if (ck->quiet_info)
		return 0;
	uint32_t n = le16(ref + ST_NUM_ENTRIES), used = 0, avail = 0, bad = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t orig = le32(ref + ST_MAP + STE_SIZE * i + STE_ORIGINAL);
		if (orig == 0xFFFFFFFFu)
			avail++;
		else if (orig >= 0xFFFFFFF0u)
			bad++;
		else
			used++;
	}
	udf_fsck_sayf(ck->say, ck->ctx, UDF_FSCK_INFO,
		      "sparing table: %u of %u spare packets of %u blocks in use, %u left, %u defective (the wear "
		      "this disc records)",
		      used, n, p->packet_len, avail, bad);
	return 0;
}

/* Loads the space bitmap as recorded; false after saying why. */
static bool load_bitmap(struct ck *ck)
{
	struct udf_fs *fs = ck->fs;
	const struct part *p = &fs->parts[0];

	ck->sbd_lbn = p->usb_lbn;
	ck->sbd_blocks = blocks_of(fs, p->usb_len);
	if ((uint64_t)p->usb_len > SBD_BITMAP + p->len / 8 + 2ull * fs->bs) {
		PROBLEM(ck, "the space bitmap's recorded size does not match its partition");
		return false;
	}
	ck->sbd = malloc((size_t)ck->sbd_blocks * fs->bs);
	if (!ck->sbd)
		return false;
	for (uint32_t i = 0; i < ck->sbd_blocks; i++) {
		if (udf_read_lb(fs, 0, ck->sbd_lbn + i, ck->sbd + (size_t)i * fs->bs)) {
			PROBLEM(ck, "the space bitmap at block %u cannot be read", ck->sbd_lbn + i);
			return false;
		}
	}
	size_t len = (size_t)ck->sbd_blocks * fs->bs;
	if (!fsck_sbd_whole(ck->sbd, len, ck->sbd_lbn, len, &ck->nbits)) {
		PROBLEM(ck, "the space bitmap at block %u is damaged", ck->sbd_lbn);
		return false;
	}
	if (ck->nbits > p->len)
		ck->nbits = p->len;
	return true;
}

/* What the check covers; otherwise why not in err. */
static bool covered(struct udf_fs *fs, char *err, size_t errlen)
{
	const struct part *p = &fs->parts[0];
	const char *why = NULL;
	/* a metadata partition (UDF 2.50+) over the one physical or sparable partition */
	bool meta = fs->nparts == 2 && fs->parts[1].kind == PART_META && fs->parts[1].phys == 0;

	if (meta && fs->parts[1].mbm_loc == 0xFFFFFFFFu)
		why = "a metadata partition without a metadata bitmap";
	else if (fs->nparts != 1 && !meta)
		why = fs->parts[fs->nparts - 1].kind == PART_VIRTUAL ? "a write-once disc with a VAT"
		      : fs->parts[fs->nparts - 1].kind == PART_META  ? "a metadata partition (UDF 2.50+)"
								     : "more than one partition";
	else if (p->kind != PART_PHYS && p->kind != PART_SPARABLE)
		why = "a partition that is neither physical nor sparable";
	else if (p->usb_len == 0)
		why = p->ust_len ? "a space table instead of a space bitmap" : "no space bitmap";
	if (why)
		snprintf(err, errlen, "this volume has %s, which pktfuse check does not check yet", why);
	return !why;
}

static int refuse_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	(void)ctx, (void)off, (void)len, (void)buf;
	return -EROFS;
}

static int no_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static void ck_free(struct ck *ck)
{
	for (size_t i = 0; i < ck->nrecs; i++)
		free(ck->recs[i].path);
	for (size_t i = 0; i < ck->npend; i++)
		free(ck->pend[i].path);
	free(ck->recs);
	free(ck->ihash);
	free(ck->queue);
	free(ck->pend);
	free(ck->sbd);
	free(ck->msbd);
	free(ck->seen.bits);
	free(ck->mseen.bits);
	free(ck->buf);
}

static int walk(struct ck *ck)
{
	struct udf_fs *fs = ck->fs;
	struct node *root;
	int rc;

	if (!load_bitmap(ck)) {
		ck->unreadable = true;
		return ck->sbd ? 0 : -ENOMEM;
	}
	ck->seen = (struct udf_seen){calloc(ck->nbits / 8 + 1, 1), ck->nbits, false, NULL, 0};
	if (!ck->seen.bits)
		return -ENOMEM;
	if (fs->nparts == 2 && fs->parts[1].kind == PART_META) {
		ck->mpart = 1;
		if ((rc = fsck_load_meta(ck)) != 0) {
			ck->unreadable = true;
			return rc < 0 ? rc : 0;
		}
		ck->mseen = (struct udf_seen){calloc(ck->mnbits / 8 + 1, 1), ck->mnbits, false, NULL, 0};
		if (!ck->mseen.bits)
			return -ENOMEM;
		ck->seen.meta = &ck->mseen;
		ck->seen.mpart = ck->mpart;
	}
	udf_seen_system_streams(fs, &ck->seen, ck->buf);
	if ((rc = udf_get_node(fs, fs->root_ino, &root)) != 0)
		return rc;
	root->refs = 1;
	if ((rc = fsck_reach(ck, root, "/")) != 0 || (rc = fsck_drain(ck)) != 0 || (rc = find_orphans(ck)) != 0 ||
	    (rc = fsck_meta_entry(ck)) != 0)
		return rc;
	check_links(ck);
	check_leaks(ck, 0);
	if (ck->mpart) {
		if (!fsck_mbm_lost(ck)) /* else every block unowned would be called leaked */
			check_leaks(ck, ck->mpart);
		if ((rc = fsck_check_mirror(ck)) != 0)
			return rc;
	}
	check_lvid(ck);
	return check_sparing(ck);
}

/* One check of io, never writing: findings said and counted in ck. */
static int check_pass(const struct udf_io *io, struct ck *ck, char *err, size_t errlen)
{
	struct udf_io rio = *io;
	struct udf_mount_opts mo = UDF_FSCK_MOUNT_OPTS;
	struct udf_fs *fs;

	rio.write = refuse_write; /* keeps the descriptors as read, and any write would fail */
	rio.flush = no_flush;
	rio.rescue = NULL;
	rio.move_worn = NULL;
	int rc = udf_mount(&rio, &mo, &fs, err, errlen);
	if (rc == -EUCLEAN) {
		/* both copies of the metadata partition's entry damaged: a finding no repair can prove
		 * right (nothing says where the partition lies), not a failure of the check */
		PROBLEM(ck, "%s", err);
		ck->unreadable = true;
		return 0;
	}
	if (rc)
		return rc;
	if (!covered(fs, err, errlen)) {
		udf_unmount(fs);
		return -EOPNOTSUPP;
	}
	ck->fs = fs;
	ck->buf = malloc(fs->bs);
	pthread_mutex_lock(&fs->lock);
	rc = ck->buf ? walk(ck) : -ENOMEM;
	pthread_mutex_unlock(&fs->lock);
	udf_unmount(fs);
	ck->fs = NULL;
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	else if (rc)
		snprintf(err, errlen, "the check stopped: %s", strerror(-rc));
	return rc;
}

/* The plan of a check done, with the blocks it saw in use; ck is freed. */
static struct fsck_plan take_plan(struct ck *ck)
{
	struct fsck_plan plan = ck->plan;

	plan.used = ck->seen.bits;
	plan.nbits = ck->seen.nbits;
	ck->seen.bits = NULL;
	plan.mused = ck->mseen.bits;
	plan.mnbits = ck->mseen.nbits;
	ck->mseen.bits = NULL;
	ck_free(ck);
	return plan;
}

/* The metadata file's or mirror's damaged entry is rebuilt from the other's, or descriptors of the
 * metadata file that are damaged where the mirror's are whole are restored from the mirror; then
 * the tree as it reads now is checked again (quietly: its problems were said) for the repair to plan
 * from.  0 with *plan the new one; 1: nothing was written (said why); 2: written, but the disc still
 * holds what no repair can prove right (said); or a negative errno. */
static int restore_then_recheck(const struct udf_io *io, struct fsck_plan *plan, udf_fsck_say_fn say, void *ctx,
				char *err, size_t errlen)
{
	int rc = plan->metafe ? udf_fsck_write_entry(io, plan, say, ctx, err, errlen)
			      : udf_fsck_restore(io, plan, say, ctx, err, errlen);

	udf_fsck_plan_free(plan);
	if (rc)
		return rc;
	struct ck ck = {.problem = UDF_FSCK_PROBLEM, .quiet_info = true};
	rc = check_pass(io, &ck, err, errlen);
	bool unreadable = ck.unreadable;
	*plan = take_plan(&ck);
	if (rc == 0 && unreadable) {
		udf_fsck_sayf(say, ctx, UDF_FSCK_LEFT,
			      "after the restore from the mirror the disc still cannot be read fully, or holds damage "
			      "no repair can prove right; nothing else was written");
		rc = 2;
	}
	if (rc)
		udf_fsck_plan_free(plan);
	return rc;
}

int udf_fsck(const struct udf_io *io, bool repair, udf_fsck_say_fn say, void *ctx, struct udf_fsck_result *res,
	     char *err, size_t errlen)
{
	struct ck ck = {.say = say, .ctx = ctx, .problem = UDF_FSCK_PROBLEM};
	int rc = check_pass(io, &ck, err, errlen);

	memset(res, 0, sizeof(*res));
	res->files = ck.files;
	res->dirs = ck.dirs;
	res->problems = res->left = ck.problems;
	res->unreadable = ck.unreadable;
	struct fsck_plan plan = take_plan(&ck);
	if (rc || !repair || res->problems == 0) {
		udf_fsck_plan_free(&plan);
		return rc;
	}
	if (res->unreadable && !plan.nrestore && !plan.metafe) {
		udf_fsck_sayf(say, ctx, UDF_FSCK_LEFT,
			      "the disc cannot be read fully, or holds damage no repair can prove "
			      "right; nothing was written");
		udf_fsck_plan_free(&plan);
		return 0;
	}
	if (!io->write) {
		udf_fsck_plan_free(&plan);
		snprintf(err, errlen, "the source was opened read-only");
		return -EROFS;
	}
	bool restored = false;
	if (plan.nrestore || plan.metafe) {
		rc = restore_then_recheck(io, &plan, say, ctx, err, errlen);
		if (rc < 0 || rc == 1)
			return rc < 0 ? rc : 0;
		restored = true;
	}
	if (rc == 0)
		rc = udf_fsck_repair(io, &plan, say, ctx, err, errlen);
	udf_fsck_plan_free(&plan);
	if (rc < 0)
		return rc;
	res->repaired = restored || rc == 0;
	struct ck again = {.say = say, .ctx = ctx, .problem = UDF_FSCK_LEFT, .quiet_info = true};
	rc = check_pass(io, &again, err, errlen);
	res->left = again.problems;
	ck_free(&again);
	udf_fsck_plan_free(&again.plan);
	return rc;
}
