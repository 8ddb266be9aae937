/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The UDF writer's model test, shared by test_udf_write (a simulated medium in memory) and
 * test_power_cut (the real packet cache over the emulated drive): random operations on a file system
 * and a model of it, the full comparison, and the check after a power cut.
 */
#ifndef PKTFUSE_TEST_UDF_MODEL_H
#define PKTFUSE_TEST_UDF_MODEL_H

#include "udf.h"

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* random_op's result when the medium went away in the middle of the operation */
#define MODEL_ABORTED (-2)

/* An operation's result: asserted, unless the medium is gone (a power cut): then the operation is
 * abandoned. */
#define MODEL_EXPECT(md, expr, want)                                                               \
	do {                                                                                       \
		long long got_ = (long long)(expr);                                                \
		if (got_ != (long long)(want)) {                                                   \
			if ((md)->gone && (md)->gone((md)->gone_ctx))                              \
				return MODEL_ABORTED;                                              \
			ck_assert_msg(0, "%s%s%s = %lld, want %lld", (md)->what ? (md)->what : "", \
				      (md)->what ? ": " : "", #expr, got_, (long long)(want));     \
		}                                                                                  \
	} while (0)

static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define MAXF 64
#define NDIRS 4

struct mfile {
	char name[64];
	int dir; /* index into dirs */
	uint8_t *data;
	size_t size;
	bool live;
};

struct model {
	struct mfile f[MAXF];
	uint64_t dir_ino[NDIRS];
	char dir_name[NDIRS][16];
	int ndirs;
	unsigned serial;
	/* When set and true after an operation failed: the medium is gone (a power cut), and the
	 * operation is abandoned instead of failing the test. */
	bool (*gone)(void *ctx);
	void *gone_ctx;
	const char *what; /* for messages (a seed, a cut), or NULL */
};

static inline void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			rnd(&seed);
		p[i] = (uint8_t)(seed >> (8 * (i % 8)));
	}
}

static inline uint64_t lookup_ino(struct udf_fs *fs, uint64_t dir, const char *name, struct stat *st)
{
	uint64_t ino = 0;
	struct stat s;
	int rc = udf_lookup(fs, dir, name, &ino, st ? st : &s);

	return rc ? 0 : ino;
}

static inline void check_file(struct udf_fs *fs, uint64_t dir, const char *name, const uint8_t *data, size_t size,
			      const char *when)
{
	struct stat st;
	uint64_t ino = lookup_ino(fs, dir, name, &st);

	ck_assert_msg(ino != 0, "%s: %s missing", when, name);
	ck_assert_msg((size_t)st.st_size == size, "%s: %s size %lld, want %zu", when, name, (long long)st.st_size,
		      size);
	uint8_t *buf = malloc(size + 1);
	ssize_t n = udf_read(fs, ino, 0, size + 1, buf);
	ck_assert_msg(n == (ssize_t)size, "%s: %s read %zd of %zu", when, name, n, size);
	ck_assert_msg(memcmp(buf, data, size) == 0, "%s: %s content differs", when, name);
	free(buf);
}

struct count_ctx {
	int n;
};

static inline int count_fill(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next)
{
	(void)ino;
	(void)type;
	(void)next;
	if (strcmp(name, ".") && strcmp(name, ".."))
		((struct count_ctx *)ctx)->n++;
	return 0;
}

struct list_ctx {
	char (*names)[64];
	int n;
};

static inline int list_fill(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next)
{
	struct list_ctx *l = ctx;
	(void)ino;
	(void)type;
	(void)next;
	if (strcmp(name, ".") && strcmp(name, "..") && l->n < 512)
		snprintf(l->names[l->n++], 64, "%s", name);
	return 0;
}

static inline int count_entries(struct udf_fs *fs, uint64_t dir)
{
	struct count_ctx c = {0};

	ck_assert_int_eq(udf_readdir(fs, dir, 0, count_fill, &c), 0);
	return c.n;
}

/* Full comparison: every live file, and nothing else in the directories. */
static inline void check_model(struct udf_fs *fs, struct model *md, const char *when)
{
	int per_dir[NDIRS] = {0};

	/* directories are looked up again by name: inode numbers must survive a remount */
	for (int d = 1; d < md->ndirs; d++) {
		uint64_t ino = lookup_ino(fs, udf_root_ino(fs), md->dir_name[d], NULL);
		ck_assert_msg(ino == md->dir_ino[d], "%s: directory %s moved", when, md->dir_name[d]);
	}
	for (int i = 0; i < MAXF; i++) {
		if (!md->f[i].live)
			continue;
		check_file(fs, md->dir_ino[md->f[i].dir], md->f[i].name, md->f[i].data, md->f[i].size, when);
		per_dir[md->f[i].dir]++;
	}
	for (int d = 0; d < md->ndirs; d++) {
		int want = per_dir[d] + (d == 0 ? md->ndirs - 1 : 0);
		ck_assert_msg(count_entries(fs, md->dir_ino[d]) == want, "%s: dir %d has %d entries, want %d", when, d,
			      count_entries(fs, md->dir_ino[d]), want);
	}
	struct udf_statfs sf;
	udf_statfs(fs, &sf);
	ck_assert_msg(sf.free_blocks < sf.blocks, "%s: free %llu of %llu", when, (unsigned long long)sf.free_blocks,
		      (unsigned long long)sf.blocks);
}

static inline void model_setup(struct udf_fs *fs, struct model *md)
{
	memset(md, 0, sizeof(*md));
	md->dir_ino[0] = udf_root_ino(fs);
	md->ndirs = NDIRS;
	for (int d = 1; d < NDIRS; d++) {
		struct stat st;
		snprintf(md->dir_name[d], sizeof(md->dir_name[d]), "dir%d", d);
		ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), md->dir_name[d], S_IFDIR | 0755, 0, 0, NULL,
					    &md->dir_ino[d], &st),
				 0);
	}
}

/* One random operation on fs and the model.  Returns the index of the file it touched, or -1. */
static inline int random_op_(struct udf_fs *fs, struct model *md, uint64_t *rng, bool *touched, int *picked, int *other)
{
	unsigned op = (unsigned)(rnd(rng) % 10);
	int i = (int)(rnd(rng) % MAXF);
	struct mfile *f = &md->f[i];
	struct stat st;
	uint64_t ino;

	*picked = i;

	if (op <= 4 && !f->live) {
		/* create and write, sizes around the embedded limit, the block and the packet */
		static const size_t sizes[] = {0, 1, 100, 1800, 1900, 2048, 2049, 4096, 32768, 65537, 200000};
		f->size = sizes[rnd(rng) % (sizeof(sizes) / sizeof(sizes[0]))];
		f->data = realloc(f->data, f->size + 1);
		fill(f->data, f->size, rnd(rng));
		f->dir = (int)(rnd(rng) % NDIRS);
		snprintf(f->name, sizeof(f->name), "f%u-%d", md->serial++, i);
		MODEL_EXPECT(md, udf_create(fs, md->dir_ino[f->dir], f->name, S_IFREG | 0644, 0, 0, NULL, &ino, &st),
			     0);
		/* written in uneven pieces */
		for (size_t off = 0; off < f->size;) {
			size_t n = 1 + rnd(rng) % 70000;
			if (n > f->size - off)
				n = f->size - off;
			MODEL_EXPECT(md, udf_write(fs, ino, off, n, f->data + off), (ssize_t)n);
			off += n;
		}
		f->live = true;
		return i;
	}
	if (!f->live)
		return -1;
	ino = lookup_ino(fs, md->dir_ino[f->dir], f->name, &st);
	MODEL_EXPECT(md, ino != 0, 1);
	switch (op) {
	case 5: /* unlink */
		MODEL_EXPECT(md, udf_unlink(fs, md->dir_ino[f->dir], f->name), 0);
		f->live = false;
		break;
	case 6: { /* rename into another directory */
		int nd = (int)(rnd(rng) % NDIRS);
		char nn[64];
		snprintf(nn, sizeof(nn), "r%u-%d", md->serial++, i);
		MODEL_EXPECT(md, udf_rename(fs, md->dir_ino[f->dir], f->name, md->dir_ino[nd], nn, 0), 0);
		f->dir = nd;
		memcpy(f->name, nn, sizeof(nn));
		break;
	}
	case 7: { /* overwrite a piece, maybe growing */
		size_t off = f->size ? rnd(rng) % f->size : 0, n = 1 + rnd(rng) % 9000;
		if (off + n > f->size) {
			f->data = realloc(f->data, off + n + 1);
			f->size = off + n;
		}
		fill(f->data + off, n, rnd(rng));
		MODEL_EXPECT(md, udf_write(fs, ino, off, n, f->data + off), (ssize_t)n);
		break;
	}
	case 8: { /* truncate down or up */
		size_t ns = rnd(rng) % 150000;
		struct udf_setattr sa = {.valid = UDF_SET_SIZE, .size = ns};
		f->data = realloc(f->data, ns + 1);
		if (ns > f->size)
			memset(f->data + f->size, 0, ns - f->size);
		f->size = ns;
		MODEL_EXPECT(md, udf_setattr(fs, ino, &sa, &st), 0);
		ck_assert_int_eq(st.st_size, (off_t)ns);
		break;
	}
	default: { /* rename over another live file */
		int j = (int)(rnd(rng) % MAXF);
		if (j == i || !md->f[j].live)
			return -1;
		*other = j;
		MODEL_EXPECT(md,
			     udf_rename(fs, md->dir_ino[f->dir], f->name, md->dir_ino[md->f[j].dir], md->f[j].name, 0),
			     0);
		md->f[j].live = false;
		if (touched)
			touched[i] = true;
		f->dir = md->f[j].dir;
		memcpy(f->name, md->f[j].name, sizeof(f->name));
		return j;
	}
	}
	return i;
}

/* One random operation; marks what it touched in touched (when not NULL).  MODEL_ABORTED when the
 * medium went away in the middle of it: then both files it may have changed count as touched. */
static inline int random_op(struct udf_fs *fs, struct model *md, uint64_t *rng, bool *touched)
{
	int picked = -1, other = -1;
	int t = random_op_(fs, md, rng, touched, &picked, &other);

	if (t == MODEL_ABORTED) {
		if (touched && picked >= 0)
			touched[picked] = true;
		if (touched && other >= 0)
			touched[other] = true;
		return t;
	}
	if (t >= 0 && touched)
		touched[t] = true;
	return t;
}

static inline void model_free(struct model *md)
{
	for (int i = 0; i < MAXF; i++)
		free(md->f[i].data);
}

/* The model after a sync that completed: what must survive a later cut. */
static inline void model_snapshot(struct model *synced, const struct model *md, bool *touched)
{
	for (int i = 0; i < MAXF; i++) {
		free(synced->f[i].data);
		synced->f[i] = md->f[i];
		synced->f[i].data = malloc(md->f[i].size + 1);
		if (md->f[i].size)
			memcpy(synced->f[i].data, md->f[i].data, md->f[i].size);
		touched[i] = false;
	}
}

/* The disc a power cut left, for the check after it. */
struct cut_disc {
	struct udf_fs *(*mount)(void *ctx); /* asserts that it mounts writable */
	void (*unmount)(void *ctx, struct udf_fs *fs);
	void *ctx;
	uint64_t fresh_free_blocks; /* free blocks of a freshly formatted disc of the same kind */
	const char *what;	    /* for messages: the seed and cut */
};

/* After a cut: every file synced before it and not touched since is intact; the repaired disc takes
 * a new session and closes clean; unique IDs stay unique; emptied, it has a fresh disc's space. */
static inline void model_check_after_cut(const struct cut_disc *d, const struct model *md, struct model *synced,
					 const bool *touched, uint64_t *rng)
{
	struct udf_fs *fs = d->mount(d->ctx);
	char when[256];

	snprintf(when, sizeof(when), "%s: after the cut", d->what);
	/* from here the model is what the cut promised: synced files not touched since */
	for (int i = 0; i < MAXF; i++) {
		synced->f[i].live = synced->f[i].live && !touched[i];
		if (synced->f[i].live)
			check_file(fs, md->dir_ino[synced->f[i].dir], synced->f[i].name, synced->f[i].data,
				   synced->f[i].size, when);
	}
	for (int d2 = 0; d2 < NDIRS; d2++) {
		synced->dir_ino[d2] = md->dir_ino[d2];
		memcpy(synced->dir_name[d2], md->dir_name[d2], sizeof(md->dir_name[d2]));
	}
	synced->ndirs = NDIRS;
	synced->serial = md->serial;
	synced->gone = NULL;
	synced->what = d->what;
	/* the repaired disc takes a new session and closes clean */
	for (int k = 0; k < 40; k++)
		random_op(fs, synced, rng, NULL);
	ck_assert_msg(udf_close(fs) == 0, "%s: the close after the cut failed", d->what);
	d->unmount(d->ctx, fs);
	fs = d->mount(d->ctx);
	ck_assert_msg(!*udf_mount_note(fs), "%s: closed, but the next mount says: %s", d->what, udf_mount_note(fs));
	snprintf(when, sizeof(when), "%s: the session after the cut", d->what);
	uint64_t gens[MAXF];
	int ngen = 0;
	for (int i = 0; i < MAXF; i++) {
		if (!synced->f[i].live)
			continue;
		check_file(fs, synced->dir_ino[synced->f[i].dir], synced->f[i].name, synced->f[i].data,
			   synced->f[i].size, when);
		/* unique IDs stay unique across the cut (the FUSE generation is the unique ID) */
		uint64_t ino = lookup_ino(fs, synced->dir_ino[synced->f[i].dir], synced->f[i].name, NULL);
		uint64_t g = udf_generation(fs, ino);
		for (int k = 0; k < ngen; k++)
			ck_assert_msg(gens[k] != g, "%s: unique ID %llu twice", d->what, (unsigned long long)g);
		gens[ngen++] = g;
	}
	/* emptied, the disc has all its space again: the check freed what the cut left unreferenced
	 * (files not synced, blocks freed by the commit that was cut), and nothing more */
	for (int d2 = 0; d2 < NDIRS; d2++) {
		char names[512][64];
		struct list_ctx lc = {names, 0};
		ck_assert_msg(udf_readdir(fs, synced->dir_ino[d2], 0, list_fill, &lc) == 0, "%s: readdir", d->what);
		for (int k = 0; k < lc.n; k++) {
			if (d2 == 0 && strncmp(names[k], "dir", 3) == 0)
				continue;
			ck_assert_msg(udf_unlink(fs, synced->dir_ino[d2], names[k]) == 0, "%s: unlink %s", d->what,
				      names[k]);
		}
	}
	for (int d2 = 1; d2 < NDIRS; d2++)
		ck_assert_msg(udf_rmdir(fs, udf_root_ino(fs), synced->dir_name[d2]) == 0, "%s: rmdir %s", d->what,
			      synced->dir_name[d2]);
	ck_assert_msg(udf_close(fs) == 0, "%s: the close after the cut failed", d->what);
	d->unmount(d->ctx, fs);
	fs = d->mount(d->ctx);
	struct udf_statfs emptied;
	udf_statfs(fs, &emptied);
	d->unmount(d->ctx, fs);
	ck_assert_msg(emptied.free_blocks == d->fresh_free_blocks,
		      "%s: %llu free after the cut and emptying, %llu on a fresh disc", d->what,
		      (unsigned long long)emptied.free_blocks, (unsigned long long)d->fresh_free_blocks);
}

#endif
