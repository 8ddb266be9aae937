/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udf_vat_write IMAGE MEDIA SEED COMMITS [--append]: an image of a write-once disc written by
 * pktfuse's UDF engine the way the daemon writes one, without the daemon: formatted (MEDIA cdr, dvdr
 * or dvd+r; not with --append), then COMMITS commits of random operations (directories, files of
 * pattern contents, overwrites, truncations, renames, deletions).  The image only grows: every write
 * must start at its end (the next writable address) in whole write units.  The tests then compare what
 * the kernel, udfinfo and the engine (udf_manifest) read.
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BS 2048u

struct img {
	int fd;
	uint64_t len; /* bytes recorded */
	uint64_t cap;
	unsigned unit;
};

static int img_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	struct img *m = ctx;
	if (off + len > m->len)
		return -EIO; /* not recorded */
	return pread(m->fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -EIO;
}

static int img_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	struct img *m = ctx;
	if (off != m->len || len % ((size_t)m->unit * BS) || off + len > m->cap) {
		fprintf(stderr,
			"udf_vat_write: a write of %zu bytes at %llu, the image ends at %llu: not appended "
			"in whole units\n",
			len, (unsigned long long)off, (unsigned long long)m->len);
		exit(1);
	}
	if (pwrite(m->fd, buf, len, (off_t)off) != (ssize_t)len)
		return -EIO;
	m->len += len;
	return 0;
}

static int img_flush(void *ctx)
{
	return fdatasync(((struct img *)ctx)->fd) ? -errno : 0;
}

static int img_state(void *ctx, struct udf_append_state *as)
{
	struct img *m = ctx;
	memset(as, 0, sizeof(*as));
	as->next_writable = m->len;
	as->free_bytes = m->cap - m->len;
	as->recorded = m->len > 0;
	as->last_recorded = m->len ? m->len - BS : 0;
	return 0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define MAXN 200
struct ent {
	uint64_t dir; /* parent's ino */
	char name[40];
	bool is_dir, live;
	uint64_t ino;
};
static struct ent ents[MAXN];
static int nents;

static void die(const char *what, long long rc)
{
	fprintf(stderr, "udf_vat_write: %s: %lld (%s)\n", what, rc, rc < 0 ? strerror((int)-rc) : "");
	exit(1);
}

/* A directory to put something in: the root or a live directory. */
static uint64_t pick_dir(struct udf_fs *fs, uint64_t *rng)
{
	for (int tries = 0; tries < 8 && nents; tries++) {
		struct ent *e = &ents[rnd(rng) % (uint64_t)nents];
		if (e->live && e->is_dir)
			return e->ino;
	}
	return udf_root_ino(fs);
}

static void put_file(struct udf_fs *fs, uint64_t ino, uint64_t off, size_t size, uint64_t seed)
{
	uint8_t *b = malloc(size ? size : 1);
	for (size_t i = 0; i < size; i++)
		b[i] = (uint8_t)((seed + off + i) * 2654435761u >> 13);
	for (size_t done = 0; done < size;) {
		size_t n = size - done < 131072 ? size - done : 131072;
		ssize_t w = udf_write(fs, ino, off + done, n, b + done);
		if (w != (ssize_t)n)
			die("write", w);
		done += n;
	}
	free(b);
}

static void one_op(struct udf_fs *fs, uint64_t *rng, unsigned serial)
{
	static const size_t sizes[] = {0, 5, 1500, 2048, 5000, 40000, 300000};
	unsigned op = (unsigned)(rnd(rng) % 10);
	struct stat st;
	int rc;

	if (op < 5 || nents == 0) {
		if (nents == MAXN)
			return;
		struct ent *e = &ents[nents];
		e->dir = pick_dir(fs, rng);
		e->is_dir = op == 0;
		snprintf(e->name, sizeof(e->name), "%s%u", e->is_dir ? "d" : "f", serial);
		rc = udf_create(fs, e->dir, e->name, (e->is_dir ? S_IFDIR | 0755 : S_IFREG | 0644), 0, 0, NULL, &e->ino,
				&st);
		if (rc == -EEXIST)
			return; /* a name an earlier run (--append) made */
		if (rc)
			die("create", rc);
		e->live = true;
		nents++;
		if (!e->is_dir)
			put_file(fs, e->ino, 0, sizes[rnd(rng) % (sizeof(sizes) / sizeof(sizes[0]))], rnd(rng));
		return;
	}
	struct ent *e = &ents[rnd(rng) % (uint64_t)nents];
	if (!e->live || (e->is_dir && op != 8))
		return;
	switch (op) {
	case 5: /* overwrite a piece */
		put_file(fs, e->ino, rnd(rng) % 6000, 1 + rnd(rng) % 7000, rnd(rng));
		break;
	case 6: { /* truncate */
		struct udf_setattr sa = {.valid = UDF_SET_SIZE, .size = rnd(rng) % 9000};
		if ((rc = udf_setattr(fs, e->ino, &sa, &st)) != 0)
			die("truncate", rc);
		break;
	}
	case 7: /* delete */
		if ((rc = udf_unlink(fs, e->dir, e->name)) != 0)
			die("unlink", rc);
		e->live = false;
		break;
	default: { /* rename (a directory only into the root, so that no cycle is made) */
		uint64_t nd = e->is_dir ? udf_root_ino(fs) : pick_dir(fs, rng);
		char nn[40];
		snprintf(nn, sizeof(nn), "r%u", serial);
		if ((rc = udf_rename(fs, e->dir, e->name, nd, nn, 0)) == -EEXIST || rc == -ENOTEMPTY || rc == -EISDIR)
			return; /* over a name an earlier run made */
		if (rc)
			die("rename", rc);
		e->dir = nd;
		memcpy(e->name, nn, sizeof(nn));
		break;
	}
	}
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: udf_vat_write IMAGE cdr|dvdr|dvd+r|bdr SEED COMMITS [--append]\n");
		return 2;
	}
	int media = udf_media_parse(argv[2]);
	bool append = argc > 5 && strcmp(argv[5], "--append") == 0;
	if (media < 0 || !udf_media_write_once((enum udf_media)media)) {
		fprintf(stderr, "udf_vat_write: %s: not a write-once medium\n", argv[2]);
		return 2;
	}
	struct img m = {.unit = udf_media_unit((enum udf_media)media),
			.cap = udf_media_capacity((enum udf_media)media) * BS};
	m.fd = open(argv[1], O_RDWR | O_CREAT | (append ? 0 : O_TRUNC) | O_CLOEXEC, 0644);
	if (m.fd < 0) {
		perror(argv[1]);
		return 1;
	}
	struct stat fst;
	fstat(m.fd, &fst);
	m.len = (uint64_t)fst.st_size;
	char err[256];
	if (!append) {
		struct udf_format_opts fo = {
			.uid = 0, .gid = 0, .media = (enum udf_media)media}; /* revision: the medium's default */
		if (udf_format(&fo, img_write, &m, m.cap, err, sizeof(err))) {
			fprintf(stderr, "udf_vat_write: format: %s\n", err);
			return 1;
		}
	}
	uint64_t rng = strtoull(argv[3], NULL, 10) * 6364136223846793005ull + 1442695040888963407ull;
	int commits = atoi(argv[4]);
	unsigned serial = (unsigned)(rng % 1000) * 1000;
	for (int c = 0; c < commits; c++) {
		struct udf_io io = {.read = img_read,
				    .write = img_write,
				    .flush = img_flush,
				    .ctx = &m,
				    .size = m.cap,
				    .packet_blocks = m.unit,
				    .append_state = img_state};
		struct udf_mount_opts mo = {0};
		struct udf_fs *fs;
		char why[256];
		if (udf_mount(&io, &mo, &fs, err, sizeof(err))) {
			fprintf(stderr, "udf_vat_write: mount: %s\n", err);
			return 1;
		}
		if (!udf_writable(fs, why, sizeof(why))) {
			fprintf(stderr, "udf_vat_write: not writable: %s\n", why);
			return 1;
		}
		/* the names of what an earlier run made are not known: start from the root again */
		if (c == 0 && append)
			nents = 0;
		for (int k = 0; k < 12; k++)
			one_op(fs, &rng, serial++);
		int rc = udf_sync(fs);
		if (rc == 0)
			rc = udf_close(fs);
		if (rc)
			die("commit", rc);
		udf_unmount(fs);
	}
	printf("%s: %d commits, %llu sectors recorded\n", argv[1], commits, (unsigned long long)(m.len / BS));
	close(m.fd);
	return 0;
}
