/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udf_hostile IMAGE SEEDS: damaged and hostile variants of a good image — truncated, with random
 * bytes changed inside descriptors (half of them with checksum and CRC recomputed, so the damage
 * reaches the deeper parsers), with self-referencing ICBs and extents, absurd sizes and names with
 * '/' and '..' — must mount or fail cleanly, and a full tree walk must finish without a crash, a hang
 * or a name that could escape the mount.  Mounted writable (on a copy), changes and the commits
 * that follow must fail cleanly or work, never crash.  Run under ASan and UBSan in CI.
 */
#define _GNU_SOURCE
#include "udf.h"
#include "udf_desc.h"
#include "udf_fsck.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t *img;
static size_t img_len;

static int mem_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	size_t size = *(size_t *)ctx;
	if (off > size || len > size - off)
		return -EIO;
	memcpy(buf, img + off, len);
	return 0;
}

static uint64_t rs;
static uint64_t rnd(void)
{
	uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static unsigned long walked, bad_names;

static int collect(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next);

struct walk {
	struct udf_fs *fs;
	uint64_t inos[64];
	int depth;
};

static void walk_dir(struct walk *w, uint64_t dir);

struct kid {
	char name[1100];
	uint64_t ino;
};
struct kids {
	struct kid *v;
	size_t n;
};

static int collect(void *ctx, const char *name, uint64_t ino, mode_t type, uint64_t next)
{
	struct kids *k = ctx;
	(void)type;
	(void)next;
	if (strchr(name, '/') || (k->n > 1 && (!strcmp(name, ".") || !strcmp(name, ".."))) || !*name)
		bad_names++;
	if (k->n >= 100000)
		return 1;
	if (k->n % 64 == 0)
		k->v = realloc(k->v, (k->n + 64) * sizeof(*k->v));
	snprintf(k->v[k->n].name, sizeof(k->v[k->n].name), "%s", name);
	k->v[k->n].ino = ino;
	k->n++;
	return 0;
}

static void walk_dir(struct walk *w, uint64_t dir)
{
	struct kids k = {0};

	for (int i = 0; i < w->depth; i++)
		if (w->inos[i] == dir)
			return; /* a directory cycle on a hostile disc: the walker stops, the engine need not */
	if (w->depth >= 64)
		return;
	w->inos[w->depth++] = dir;
	if (udf_readdir(w->fs, dir, 0, collect, &k) == 0) {
		for (size_t i = 0; i < k.n; i++) {
			uint64_t ino;
			struct stat st;
			static char buf[1 << 16];
			char target[4096];
			walked++;
			if (!strcmp(k.v[i].name, ".") || !strcmp(k.v[i].name, ".."))
				continue;
			if (udf_lookup(w->fs, dir, k.v[i].name, &ino, &st))
				continue;
			if (S_ISDIR(st.st_mode))
				walk_dir(w, ino);
			else if (S_ISLNK(st.st_mode))
				udf_readlink(w->fs, ino, target, sizeof(target));
			else
				for (uint64_t off = 0; off < (uint64_t)st.st_size && off < (64u << 20);
				     off += sizeof(buf))
					if (udf_read(w->fs, ino, off, sizeof(buf), buf) <= 0)
						break;
		}
	}
	free(k.v);
	w->depth--;
}

static uint8_t *wimg;
static unsigned long rw_mounts, rw_ops_ok;

static int copy_read(void *ctx, uint64_t off, size_t len, void *buf)
{
	size_t size = *(size_t *)ctx;
	if (off > size || len > size - off)
		return -EIO;
	memcpy(buf, wimg + off, len);
	return 0;
}

static int copy_write(void *ctx, uint64_t off, size_t len, const void *buf)
{
	size_t size = *(size_t *)ctx;
	if (off > size || len > size - off)
		return -EIO;
	memcpy(wimg + off, buf, len);
	return 0;
}

static int copy_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

/* The writer over a hostile disc: whatever it allows must not crash it. */
static void try_write(size_t size)
{
	struct udf_fs *fs;
	char err[512];
	struct udf_io io = {.read = copy_read, .write = copy_write, .flush = copy_flush, .ctx = &size, .size = size};
	struct udf_mount_opts mo = {.uid = 1000, .gid = 1000};
	static uint8_t data[20000];

	wimg = realloc(wimg, size ? size : 1);
	memcpy(wimg, img, size);
	if (udf_mount(&io, &mo, &fs, err, sizeof(err)) != 0)
		return;
	if (udf_writable(fs, NULL, 0)) {
		uint64_t root = udf_root_ino(fs), ino, d;
		struct stat st;
		struct kids k = {0};
		rw_mounts++;
		memset(data, 'h', sizeof(data));
		udf_readdir(fs, root, 0, collect, &k);
		for (size_t i = 2; i < k.n && i < 6; i++) {
			char nn[1200];
			snprintf(nn, sizeof(nn), "%.1000s~", k.v[i].name);
			rw_ops_ok += udf_rename(fs, root, k.v[i].name, root, nn, 0) == 0;
			rw_ops_ok += udf_write(fs, k.v[i].ino, 100, sizeof(data), data) > 0;
			rw_ops_ok += udf_unlink(fs, root, nn) == 0;
		}
		free(k.v);
		rw_ops_ok += udf_create(fs, root, "new", S_IFREG | 0644, 1, 1, NULL, &ino, &st) == 0 &&
			     udf_write(fs, ino, 0, sizeof(data), data) > 0;
		rw_ops_ok += udf_create(fs, root, "newdir", S_IFDIR | 0755, 1, 1, NULL, &d, &st) == 0;
		rw_ops_ok += udf_sync(fs) == 0;
		rw_ops_ok += udf_close(fs) == 0;
	}
	udf_unmount(fs);
}

/* pktfuse check and its repair over a hostile disc: no crash, and a repair that says it left
 * nothing is confirmed by a new check. */
static unsigned long fsck_runs, fsck_repaired;

static int try_fsck(size_t size)
{
	char err[512];
	struct udf_io io = {.read = copy_read, .write = copy_write, .flush = copy_flush, .ctx = &size, .size = size};
	struct udf_fsck_result r;

	wimg = realloc(wimg, size ? size : 1);
	memcpy(wimg, img, size);
	fsck_runs++;
	if (udf_fsck(&io, true, NULL, NULL, &r, err, sizeof(err)) != 0 || !r.repaired || r.left)
		return 0;
	fsck_repaired++;
	return udf_fsck(&io, false, NULL, NULL, &r, err, sizeof(err)) == 0 && r.problems == 0 ? 0 : -3;
}

static int try_mount(size_t size)
{
	struct udf_fs *fs;
	char err[512];
	struct udf_io io = {.read = mem_read, .ctx = &size, .size = size, .session_start = 0};
	struct udf_mount_opts mo = {.uid = 1000, .gid = 1000};
	struct udf_statfs sf;

	if (udf_mount(&io, &mo, &fs, err, sizeof(err)) != 0) {
		if (!err[0] || strchr(err, '\n'))
			return -2; /* an error must come with a one-line reason */
		return -1;
	}
	udf_statfs(fs, &sf);
	struct walk w = {fs, {0}, 0};
	walk_dir(&w, udf_root_ino(fs));
	udf_unmount(fs);
	static unsigned tries;
	if (tries++ % 4 == 0) /* the writer on a quarter of them keeps the test's time in bounds */
		try_write(size);
	else if (tries % 8 == 2) /* pktfuse check on an eighth */
		return try_fsck(size);
	return 0;
}

/* Blocks that hold a verified descriptor: where damage is interesting. */
static size_t *desc_blocks;
static size_t ndesc;
static uint32_t bs;

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL: a mount or walk of a hostile image hung\n";
	ssize_t n = write(2, msg, sizeof(msg) - 1);
	(void)n;
	_exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: udf_hostile IMAGE SEEDS\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 2;
	}
	img_len = (size_t)st.st_size;
	uint8_t *orig = malloc(img_len);
	img = malloc(img_len);
	if (!orig || !img || pread(fd, orig, img_len, 0) != (ssize_t)img_len)
		return 2;
	close(fd);
	memcpy(img, orig, img_len);
	if (try_mount(img_len) != 0) {
		fprintf(stderr, "FAIL: the unmodified image does not mount\n");
		return 1;
	}
	/* Find the block size from the anchor, then every block with a valid tag. */
	for (bs = 512; bs <= 4096; bs *= 2)
		if ((size_t)256 * bs + bs <= img_len && udf_tag_check(orig + 256 * bs, bs, 256) == 2)
			break;
	if (bs > 4096)
		return 2;
	desc_blocks = malloc((img_len / bs + 1) * sizeof(*desc_blocks));
	for (size_t b = 0; b < img_len / bs; b++)
		if (udf_tag_check(orig + b * bs, bs, UINT32_MAX) > 0)
			desc_blocks[ndesc++] = b;
	/* File identifier descriptors sit at 4-byte boundaries inside directory blocks. */
	size_t *fids = malloc((img_len / 4 + 1) * sizeof(*fids)), nfid = 0;
	for (size_t off = 0; off + 38 <= img_len; off += 4)
		if (le16(orig + off) == 257 && udf_tag_check(orig + off, img_len - off, UINT32_MAX) == 257 &&
		    orig[off + 19] > 0)
			fids[nfid++] = off;
	signal(SIGALRM, on_alarm);

	unsigned long seeds = strtoul(argv[2], NULL, 10), mounted = 0, refused = 0;
	for (unsigned long seed = 0; seed < seeds; seed++) {
		rs = seed * 7919 + 17;
		memcpy(img, orig, img_len);
		size_t size = img_len;
		alarm(20);
		switch (seed % 8 == 5 && nfid ? 4 : seed % 8 == 6 ? 5 : seed % 8 == 7 ? 6 : seed % 4) {
		case 4: { /* a name that would escape or confuse: '/', '.', '..', NUL, bad UTF-16 */
			static const uint8_t names[][6] = {{8, '/', 'x'},
							   {8, '.'},
							   {8, '.', '.'},
							   {8, 'a', 0, 'b'},
							   {16, 0xD8, 0x00, 'x', 0},
							   {8, '.', '.', '/', '.'}};
			static const uint8_t lens[] = {3, 2, 3, 4, 5, 5};
			size_t off = fids[rnd() % nfid], k = rnd() % 6;
			uint8_t *f = img + off;
			uint16_t liu = le16(f + 36);
			if (lens[k] <= f[19]) {
				/* Same FID length: the implementation-use field grows by what the name shrinks. */
				uint16_t nliu = (uint16_t)(liu + f[19] - lens[k]);
				memset(f + 38 + liu, 0, f[19]);
				memcpy(f + 38 + nliu, names[k], lens[k]);
				f[36] = (uint8_t)nliu;
				f[37] = (uint8_t)(nliu >> 8);
				f[19] = lens[k];
				udf_tag_finish(f, img_len - off);
			}
			break;
		}
		case 5: { /* an indirect entry pointing at itself (an ICB loop) */
			size_t b = desc_blocks[rnd() % ndesc];
			uint8_t *blk = img + b * bs;
			if (le16(blk) == 261 || le16(blk) == 266) {
				uint32_t loc = le32(blk + 12);
				memset(blk + 16, 0, bs - 16);
				blk[0] = 259 & 0xFF; /* tag 259, little-endian */
				blk[1] = 259 >> 8;
				blk[10] = 36; /* CRC length: ICB tag + indirect ICB */
				blk[11] = 0;
				blk[20] = 4;	/* strategy 4 */
				blk[36] = 0x00; /* extent length */
				blk[37] = 0x08;
				memcpy(blk + 40, &loc, 4); /* points at its own block */
				udf_tag_finish(blk, bs);
			}
			break;
		}
		case 6: { /* an absurd information length */
			size_t b = desc_blocks[rnd() % ndesc];
			uint8_t *blk = img + b * bs;
			if (le16(blk) == 261 || le16(blk) == 266) {
				memset(blk + 56, 0xFF, 7);
				blk[63] = 0x7F;
				udf_tag_finish(blk, bs);
			}
			break;
		}
		case 0: /* truncated anywhere, and block-aligned */
			size = (size_t)(rnd() % img_len);
			if (seed % 8 == 0)
				size -= size % bs;
			break;
		default: { /* damage inside descriptors */
			int nblocks = 1 + (int)(rnd() % 4);
			for (int k = 0; k < nblocks; k++) {
				uint8_t *blk = img + desc_blocks[rnd() % ndesc] * bs;
				int nbytes = 1 + (int)(rnd() % 8);
				for (int j = 0; j < nbytes; j++) {
					size_t at = 16 + rnd() % (bs - 16);
					switch (rnd() % 4) {
					case 0:
						blk[at] = (uint8_t)rnd();
						break;
					case 1:
						blk[at] = 0xFF;
						break;
					case 2:
						blk[at] = 0;
						break;
					default: /* a length or location turned absurd */
						if (at + 4 <= bs)
							memset(blk + at, 0xFF, 4);
					}
				}
				if (seed % 4 != 3)
					udf_tag_finish(blk, bs);
			}
		}
		}
		int r = try_mount(size);
		if (r == -2) {
			fprintf(stderr, "FAIL: seed %lu: a mount failure without a one-line reason\n", seed);
			return 1;
		}
		if (r == -3) {
			fprintf(stderr,
				"FAIL: seed %lu: pktfuse check repaired, and a new check still finds problems\n", seed);
			return 1;
		}
		r == 0 ? mounted++ : refused++;
	}
	alarm(0);
	if (bad_names) {
		fprintf(stderr, "FAIL: %lu unsafe names were shown\n", bad_names);
		return 1;
	}
	printf("%lu hostile variants: %lu mounted and walked (%lu entries), %lu refused with a reason; "
	       "%lu mounted writable, %lu changes or commits succeeded; %lu checked, %lu repaired clean; no "
	       "crash, hang or unsafe name\n",
	       seeds, mounted, walked, refused, rw_mounts, rw_ops_ok, fsck_runs, fsck_repaired);
	free(wimg);
	free(orig);
	free(img);
	free(desc_blocks);
	free(fids);
	return 0;
}
