/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pktfuse check's walk of the tree (udf_fsck.c runs it): each directory's identifiers parsed here (the
 * engine hides a name recorded twice), every node reached recorded once with its first path, every
 * recorded block of it read back and marked as owned; directories found under a parent their own
 * parent entry does not name are settled once the walk is done.
 */
#define _GNU_SOURCE
#include "udf_desc.h"
#include "udf_fsck_walk.h"
#include "udf_w.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fsck_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;
	void *na = realloc(*arr, nc * elem);
	if (!na)
		return -ENOMEM;
	*arr = na;
	*cap = nc;
	return 0;
}

/* "s" after a count other than one */
const char *fsck_plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

bool fsck_has_part(const struct ck *ck, uint16_t part)
{
	return part == 0 || (ck->mpart && part == ck->mpart);
}

uint64_t fsck_nbits(const struct ck *ck, uint16_t part)
{
	return part == 0 ? ck->nbits : ck->mnbits;
}

bool fsck_bm_free(const struct ck *ck, uint16_t part, uint64_t b)
{
	const uint8_t *sbd = part == 0 ? ck->sbd : ck->msbd;

	return b < fsck_nbits(ck, part) && (sbd[SBD_BITMAP + b / 8] >> (b % 8) & 1);
}

bool fsck_sbd_whole(const uint8_t *d, size_t len, uint32_t loc, uint64_t room, uint64_t *nbits)
{
	uint32_t nbytes = le32(d + SBD_NUM_BYTES);

	*nbits = le32(d + SBD_NUM_BITS);
	return udf_tag_check(d, len, loc) == TAG_SBD && nbytes >= (*nbits + 7) / 8 &&
	       SBD_BITMAP + (uint64_t)nbytes <= room;
}

bool fsck_seen(const struct ck *ck, uint16_t part, uint64_t b)
{
	return udf_seen_has(part == 0 ? &ck->seen : &ck->mseen, b);
}

size_t fsck_rec_find(const struct ck *ck, uint64_t ino)
{
	for (size_t h = (size_t)(ino * 0x9E3779B97F4A7C15ull) & ck->ihash_mask;; h = (h + 1) & ck->ihash_mask) {
		uint64_t v = ck->ihash[h];
		if (v == 0)
			return SIZE_MAX;
		if (ck->recs[v - 1].n->ino == ino)
			return (size_t)(v - 1);
	}
}

static int ihash_put(struct ck *ck, size_t idx)
{
	if ((ck->nrecs + 1) * 2 > ck->ihash_mask + 1) {
		size_t nm = ck->ihash_mask ? ck->ihash_mask * 2 + 1 : 255;
		uint64_t *nh = calloc(nm + 1, sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		free(ck->ihash);
		ck->ihash = nh;
		ck->ihash_mask = nm;
		for (size_t i = 0; i < ck->nrecs; i++)
			if (i != idx)
				ihash_put(ck, i);
	}
	size_t h = (size_t)(ck->recs[idx].n->ino * 0x9E3779B97F4A7C15ull) & ck->ihash_mask;
	while (ck->ihash[h])
		h = (h + 1) & ck->ihash_mask;
	ck->ihash[h] = idx + 1;
	return 0;
}

static int add_rec(struct ck *ck, struct node *n, const char *path, size_t *idx)
{
	int rc = fsck_grow((void **)&ck->recs, &ck->caprecs, ck->nrecs, sizeof(*ck->recs));
	char *p = strdup(path);

	if (rc || !p) {
		free(p);
		return -ENOMEM;
	}
	ck->recs[ck->nrecs] = (struct rec){n, p};
	*idx = ck->nrecs++;
	if (n->uniq > ck->max_uniq)
		ck->max_uniq = n->uniq;
	return ihash_put(ck, *idx);
}

/* What one node's marking found, apart for each bitmap (0: the space bitmap, 1: the metadata
 * bitmap): blocks in use marked free, and whether a run outside or owned already was said. */
struct owned {
	uint64_t freed[2], first[2];
	bool stop;
};

/* Marks a run of blocks of part n owns: free in its bitmap is counted; outside the partition or
 * owned already is said once and stops the node's marking (a hostile node's extents could each
 * cover the whole partition). */
static void own_run(struct ck *ck, const struct rec *r, uint16_t part, uint64_t lbn, uint64_t cnt, struct owned *o)
{
	struct udf_seen *s = part == 0 ? &ck->seen : &ck->mseen;
	const char *of = part == 0 ? "" : " of the metadata partition";
	int k = part != 0;

	for (uint64_t b = lbn; b < lbn + cnt && !o->stop; b++) {
		if (b >= fsck_nbits(ck, part)) {
			PROBLEM(ck, "%s: block %llu lies outside the %spartition", r->path, (unsigned long long)b,
				part == 0 ? "" : "metadata ");
			o->stop = ck->unreadable = true;
		} else if (udf_seen_has(s, b)) {
			PROBLEM(ck, "%s: block %llu%s is also used by another file (cross-linked)", r->path,
				(unsigned long long)b, of);
			o->stop = ck->unreadable = true; /* which owner is right is not provable */
		} else {
			if (fsck_bm_free(ck, part, b) && o->freed[k]++ == 0)
				o->first[k] = b;
			udf_seen_mark(s, b, 1);
		}
	}
}

/* The blocks a node owns; then the engine's marking for what the walk does not follow.  Its entry,
 * the chain of an entry that moves and its continuation blocks are in the partition its inode
 * number names (the writer takes them all from one allocator); its extents name theirs.  False when
 * they are not the node's alone (then its contents are not read either). */
static bool own_node(struct ck *ck, const struct rec *r)
{
	struct node *n = r->n;
	uint16_t home = udf_ino_part(n->ino);
	struct owned o = {{0, 0}, {0, 0}, false};

	own_run(ck, r, home, n->fe_lbn, 1, &o);
	/* an entry that moves: its chain's pairs (the newest's entry is fe_lbn) */
	for (uint32_t i = 0; i < n->nchain && !o.stop; i++)
		if (n->chain[i] == n->fe_lbn)
			own_run(ck, r, home, n->chain[i] + 1, 1, &o);
		else
			own_run(ck, r, home, n->chain[i], 2, &o);
	for (uint32_t i = 0; i < n->naed && !o.stop; i++)
		own_run(ck, r, home, n->aed[i], 1, &o);
	for (uint32_t i = 0; i < n->next && !o.stop; i++) {
		const struct extent *e = &n->ext[i];
		if (e->type == 2)
			continue;
		if (!fsck_has_part(ck, e->part)) {
			PROBLEM(ck, "%s: an extent names partition %u, which this volume does not have", r->path,
				e->part);
			ck->unreadable = true;
			continue;
		}
		own_run(ck, r, e->part, e->lbn, blocks_of(ck->fs, e->len), &o);
	}
	for (int k = 0; k < 2; k++) {
		if (!o.freed[k])
			continue;
		ck->used_free += o.freed[k];
		PROBLEM(ck, "%s: %llu block%s in use marked free in the %s (from block %llu%s)", r->path,
			(unsigned long long)o.freed[k], fsck_plural(o.freed[k]), k ? "metadata bitmap" : "space bitmap",
			(unsigned long long)o.first[k], k ? " of the metadata partition" : "");
	}
	if (o.stop)
		return false;
	udf_seen_node(ck->fs, &ck->seen, n);
	return true;
}

void fsck_own_meta_file(struct ck *ck, struct node *n, const char *what)
{
	struct rec r = {n, (char *)what};

	own_node(ck, &r);
}

/* Reads every recorded block of a file (a directory's contents are read when it is parsed). */
static void read_back(struct ck *ck, const struct rec *r)
{
	struct node *n = r->n;

	for (uint32_t i = 0; i < n->next; i++) {
		const struct extent *e = &n->ext[i];
		if (e->type != 0 || !fsck_has_part(ck, e->part))
			continue;
		uint32_t blocks = blocks_of(ck->fs, e->len);
		for (uint32_t k = 0; k < blocks; k++) {
			if ((uint64_t)e->lbn + k >= fsck_nbits(ck, e->part))
				return; /* said by own_run */
			int rc = udf_read_lb(ck->fs, e->part, e->lbn + k, ck->buf);
			if (rc) {
				PROBLEM(ck, "%s: unreadable at byte %llu (block %u): %s", r->path,
					(unsigned long long)(e->file_off + (uint64_t)k * ck->fs->bs), e->lbn + k,
					strerror(-rc));
				ck->unreadable = true;
				return;
			}
		}
	}
}

static int queue_dir(struct ck *ck, size_t idx)
{
	if (fsck_grow((void **)&ck->queue, &ck->capq, ck->nq, sizeof(*ck->queue)))
		return -ENOMEM;
	ck->queue[ck->nq++] = idx;
	return 0;
}

/* A node reached for the first time: recorded, its blocks owned, its contents read or queued. */
int fsck_reach(struct ck *ck, struct node *c, const char *path)
{
	size_t idx;
	int rc = add_rec(ck, c, path, &idx);

	if (rc)
		return rc;
	bool alone = own_node(ck, &ck->recs[idx]);
	if (S_ISDIR(c->st.st_mode)) {
		ck->dirs++;
		return alone ? queue_dir(ck, idx) : 0;
	}
	ck->files++;
	if (alone)
		read_back(ck, &ck->recs[idx]);
	return 0;
}

static int plan_add_dup(struct ck *ck, uint64_t ino)
{
	uint64_t *nd = realloc(ck->plan.dup_dirs, (ck->plan.ndup + 1) * sizeof(*nd));

	if (!nd)
		return -ENOMEM;
	ck->plan.dup_dirs = nd;
	nd[ck->plan.ndup++] = ino;
	return 0;
}

/* One named entry of directory d (at index di of recs). */
static int entry(struct ck *ck, size_t di, const char *name, uint16_t part, uint32_t lbn)
{
	char path[4096];
	struct node *c, *d = ck->recs[di].n;
	const char *dp = ck->recs[di].path;
	int rc;

	snprintf(path, sizeof(path), "%s%s%s", dp, strcmp(dp, "/") ? "/" : "", name);
	if (!fsck_has_part(ck, part)) {
		PROBLEM(ck, "%s: names partition %u, which this volume does not have", path, part);
		ck->unreadable = true;
		return 0;
	}
	if ((rc = udf_get_node(ck->fs, udf_make_ino(part, lbn), &c)) != 0) {
		if (rc == -ENOMEM)
			return rc;
		PROBLEM(ck, "%s: its file entry at block %u cannot be read or is damaged (%s)", path, lbn,
			strerror(-rc));
		ck->unreadable = true;
		return 0;
	}
	if (!S_ISDIR(c->st.st_mode))
		return c->refs++ == 0 ? fsck_reach(ck, c, path) : 0;
	if (c->refs) {
		size_t first = fsck_rec_find(ck, c->ino);
		PROBLEM(ck, "%s: a second name of the directory %s", path,
			first == SIZE_MAX ? "found before" : ck->recs[first].path);
		return 0;
	}
	/* its parent entry says where its one name belongs */
	if ((rc = udf_dir_load(ck->fs, c)) == 0 && c->parent != d->ino) {
		if (fsck_grow((void **)&ck->pend, &ck->cappend, ck->npend, sizeof(*ck->pend)))
			return -ENOMEM;
		char *p = strdup(path);
		if (!p)
			return -ENOMEM;
		ck->pend[ck->npend++] = (struct pending){c->ino, d->ino, p};
		return 0;
	}
	if (rc == -ENOMEM)
		return rc;
	c->refs = 1;
	d->subdirs++;
	return fsck_reach(ck, c, path);
}

/* Names seen in one directory, to find a name recorded twice. */
struct names {
	char **v;
	uint32_t *h;
	size_t n, mask;
};

/* True when name was seen in this directory before; else remembers it. */
static bool seen_name(struct names *s, const char *name, int *rc)
{
	if ((s->n + 1) * 2 > s->mask + 1) {
		size_t nm = s->mask ? s->mask * 2 + 1 : 63;
		uint32_t *nh = malloc((nm + 1) * sizeof(*nh));
		char **nv = realloc(s->v, (nm + 1) / 2 * sizeof(*nv));
		if (!nh || !nv) {
			free(nh);
			if (nv)
				s->v = nv;
			*rc = -ENOMEM;
			return false;
		}
		s->v = nv;
		memset(nh, 0xFF, (nm + 1) * sizeof(*nh));
		free(s->h);
		s->h = nh;
		s->mask = nm;
		for (size_t i = 0; i < s->n; i++) {
			size_t k = udf_name_hash(s->v[i]) & s->mask;
			while (s->h[k] != UINT32_MAX)
				k = (k + 1) & s->mask;
			s->h[k] = (uint32_t)i;
		}
	}
	size_t k = udf_name_hash(name) & s->mask;
	for (; s->h[k] != UINT32_MAX; k = (k + 1) & s->mask)
		if (strcmp(s->v[s->h[k]], name) == 0)
			return true;
	if (!(s->v[s->n] = strdup(name))) {
		*rc = -ENOMEM;
		return false;
	}
	s->h[k] = (uint32_t)s->n++;
	return false;
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s->h);
}

/* Parses directory recs[di]'s identifiers as recorded. */
static int parse_dir(struct ck *ck, size_t di)
{
	struct node *d = ck->recs[di].n;
	char path[4096];
	snprintf(path, sizeof(path), "%s", ck->recs[di].path);
	if (d->size > MAX_DIR_BYTES) {
		PROBLEM(ck, "%s: a directory of %llu bytes, more than the check reads", path,
			(unsigned long long)d->size);
		ck->unreadable = true;
		return 0;
	}
	uint8_t *data = malloc(d->size ? d->size : 1);
	if (!data)
		return -ENOMEM;
	ssize_t got = udf_node_read(ck->fs, d, 0, (size_t)d->size, data);
	if (got < 0 || (uint64_t)got != d->size) {
		PROBLEM(ck, "%s: the directory's contents cannot be read (%s)", path,
			strerror(got < 0 ? (int)-got : EIO));
		ck->unreadable = true;
		free(data);
		return 0;
	}
	struct names seen = {0};
	bool dup_said = false;
	int rc = 0;
	for (uint64_t pos = 0; pos + FID_IMPL_USE <= d->size && rc == 0;) {
		const uint8_t *f = data + pos;
		uint64_t flen = udf_fid_size(f);
		if (le16(f + TAG_IDENT) != TAG_FID || pos + flen > d->size ||
		    udf_tag_check(f, (size_t)(d->size - pos), UINT32_MAX) != TAG_FID) {
			PROBLEM(ck, "%s: a damaged file identifier at byte %llu of the directory", path,
				(unsigned long long)pos);
			ck->unreadable = true;
			break;
		}
		pos += flen;
		uint8_t ch = f[FID_CHARACTERISTICS], lfi = f[FID_NAME_LEN];
		if (ch & 0x0C)
			continue; /* deleted, or the parent entry */
		if ((le32(f + FID_ICB + AD_LEN) & AD_LEN_MASK) == 0)
			continue; /* points nowhere */
		char name[1024];
		const uint8_t *raw = f + FID_IMPL_USE + le16(f + FID_IMPL_USE_LEN);
		if (lfi == 0)
			snprintf(name, sizeof(name), "(an empty name at byte %llu)", (unsigned long long)(pos - flen));
		else if (udf_cs0_to_utf8(raw, lfi, name, sizeof(name)) < 0)
			snprintf(name, sizeof(name), "(an invalid name at byte %llu)",
				 (unsigned long long)(pos - flen));
		if (seen_name(&seen, name, &rc)) {
			PROBLEM(ck, "%s%s%s: the name is recorded twice in its directory", path,
				strcmp(path, "/") ? "/" : "", name);
			if (!dup_said)
				rc = plan_add_dup(ck, d->ino);
			dup_said = true;
			continue; /* the engine shows the first; the second goes */
		}
		if (rc == 0)
			rc = entry(ck, di, name, le16(f + FID_ICB + LAD_PART), le32(f + FID_ICB + LAD_LBN));
	}
	names_free(&seen);
	free(data);
	return rc;
}

/* A directory found only under a directory its parent entry does not name: its one name is kept
 * (the repair makes its parent entry agree), or it was reached by another name. */
static int settle(struct ck *ck, struct pending *p)
{
	struct node *c = udf_node_find(ck->fs, p->ino), *d = udf_node_find(ck->fs, p->dir);

	if (!c || !d)
		return 0;
	if (c->refs) {
		size_t first = fsck_rec_find(ck, c->ino);
		PROBLEM(ck, "%s: a second name of the directory %s", p->path,
			first == SIZE_MAX ? "found before" : ck->recs[first].path);
		return 0;
	}
	PROBLEM(ck, "%s: the directory's parent entry names another directory", p->path);
	struct fsck_parent_fix *nf = realloc(ck->plan.pfix, (ck->plan.npfix + 1) * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	ck->plan.pfix = nf;
	nf[ck->plan.npfix++] = (struct fsck_parent_fix){c->ino, d->ino};
	c->refs = 1;
	d->subdirs++;
	return fsck_reach(ck, c, p->path);
}

/* Parses queued directories until none is left, then settles the pending ones (which may queue
 * more). */
int fsck_drain(struct ck *ck)
{
	int rc = 0;

	while (rc == 0) {
		while (ck->qi < ck->nq && rc == 0)
			rc = parse_dir(ck, ck->queue[ck->qi++]);
		if (rc || ck->npend == 0)
			break;
		size_t n = ck->npend;
		for (size_t i = 0; i < n; i++) {
			if (rc == 0)
				rc = settle(ck, &ck->pend[i]);
			free(ck->pend[i].path);
		}
		ck->npend = 0;
	}
	return rc;
}
