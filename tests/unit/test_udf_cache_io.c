/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The UDF engine's udf_io over the packet cache: what udf_cache_io_init fills in, bytes through the
 * cache, the rescue, where the engine answers in bytes what the cache asks in sectors, and the hints
 * of free blocks that spare the cache its gather reads. */
#define _GNU_SOURCE
#include "append_dev.h"
#include "mem_dev.h"
#include "test_rng.h"
#include "udf_cache_io.h"
#include "udf_format.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>

START_TEST(test_init_fills_io)
{
	struct mem_dev m;
	struct udf_io io;

	mem_dev_init(&m, 16 * 8, 16);
	struct pkt_cache *c = mem_dev_cache(&m);
	udf_cache_io_init(&io, c, false);
	ck_assert_ptr_eq(io.ctx, c);
	ck_assert_ptr_null(io.write); /* a read-only mount never writes */
	ck_assert_ptr_eq(io.read, udf_cache_read);
	ck_assert_ptr_eq(io.flush, udf_cache_flush);
	ck_assert_ptr_eq(io.rescue, udf_cache_rescue);
	ck_assert_ptr_eq(io.move_worn, udf_cache_move_worn);
	ck_assert_uint_eq(io.size, 16 * 8 * PKT_SECTOR_SIZE);
	ck_assert_uint_eq(io.size, pkt_cache_capacity_bytes(c));
	ck_assert_uint_eq(io.packet_blocks, 16);
	ck_assert_uint_eq(io.session_start, 0);
	ck_assert_ptr_null(io.append_state); /* rewritable */
	ck_assert_uint_eq(io.link_blocks, 0);
	udf_cache_io_init(&io, c, true);
	ck_assert_ptr_eq(io.write, udf_cache_write);
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	mem_dev_free(&m);
}
END_TEST

/* Bytes at any offset go through the cache; flush puts them on the medium. */
START_TEST(test_bytes_through_the_cache)
{
	struct mem_dev m;
	struct udf_io io;
	uint8_t b[5000], r[5000];

	mem_dev_init(&m, 16 * 8, 16);
	struct pkt_cache *c = mem_dev_cache(&m);
	udf_cache_io_init(&io, c, true);
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 13 + 1);
	ck_assert_int_eq(io.write(io.ctx, 3000, sizeof(b), b), 0);
	ck_assert_int_eq(io.read(io.ctx, 3000, sizeof(r), r), 0);
	ck_assert_mem_eq(r, b, sizeof(b));
	ck_assert_int_ne(memcmp(m.data + 3000, b, sizeof(b)), 0); /* still in the cache only */
	ck_assert_int_eq(io.flush(io.ctx), 0);
	ck_assert_mem_eq(m.data + 3000, b, sizeof(b));
	ck_assert_int_eq(io.read(io.ctx, io.size - 10, 20, r), -EINVAL); /* past the end */
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	mem_dev_free(&m);
}
END_TEST

struct byte_relocations {
	int calls;
	uint64_t from; /* byte offset the engine was asked about */
	uint64_t to;   /* byte offset it answers */
	int rc;
};

static int relocate_bytes(void *ctx, uint64_t off, uint64_t *to)
{
	struct byte_relocations *r = ctx;

	r->calls++;
	r->from = off;
	*to = r->to;
	return r->rc;
}

/* A packet that cannot be written: the engine is asked in bytes where its first sector goes, and the
 * cache writes it at the sector that answer names. */
START_TEST(test_rescue_speaks_bytes_to_the_engine)
{
	struct mem_dev m;
	struct udf_io io;
	uint8_t b[2048];

	mem_dev_init(&m, 16 * 8, 16);
	struct pkt_cache *c = mem_dev_cache(&m);
	udf_cache_io_init(&io, c, true);
	memset(b, 0xA5, sizeof(b));
	ck_assert_int_eq(io.write(io.ctx, 3 * 16 * PKT_SECTOR_SIZE + 100, sizeof(b), b), 0);
	m.bad_write_lba = 3 * 16 + 2;
	ck_assert_int_eq(io.flush(io.ctx), -EIO);
	struct byte_relocations r = {.to = 7 * 16 * PKT_SECTOR_SIZE};
	ck_assert_int_eq(io.rescue(io.ctx, relocate_bytes, &r), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_uint_eq(r.from, 3 * 16 * PKT_SECTOR_SIZE);
	ck_assert_int_eq(io.flush(io.ctx), 0);
	ck_assert_mem_eq(m.data + 7 * 16 * PKT_SECTOR_SIZE + 100, b, sizeof(b));
	/* no place left: the engine's error comes back, the data stays dirty */
	ck_assert_int_eq(io.write(io.ctx, 5 * 16 * PKT_SECTOR_SIZE, sizeof(b), b), 0);
	m.bad_write_lba = 5 * 16;
	ck_assert_int_eq(io.flush(io.ctx), -EIO);
	r = (struct byte_relocations){.rc = -ENOSPC};
	ck_assert_int_eq(io.rescue(io.ctx, relocate_bytes, &r), -ENOSPC);
	ck_assert_uint_eq(r.from, 5 * 16 * PKT_SECTOR_SIZE);
	struct pkt_cache_stats st;
	pkt_cache_get_stats(c, &st);
	ck_assert_uint_eq(st.dirty_packets, 1);
	m.bad_write_lba = -1;
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	mem_dev_free(&m);
}
END_TEST

/* A write-once medium: append_state in bytes, past what the cache holds; link blocks; no rescue. */
START_TEST(test_append_state_in_bytes)
{
	struct append_dev a;
	struct udf_append_state st;
	struct udf_io io;
	uint8_t buf[3 * PKT_SECTOR_SIZE] = {1};

	append_dev_init(&a, 1000, 32, 7, 50);
	struct pkt_cache_config cc = {.dirty_age_ms = 600000};
	struct pkt_cache *c;
	char err[256];
	ck_assert_int_eq(pkt_cache_create(&a.dev, &cc, &c, err, sizeof(err)), 0);
	udf_cache_io_init(&io, c, true);
	ck_assert_ptr_eq(io.append_state, udf_cache_append_state);
	ck_assert_uint_eq(io.link_blocks, 7);
	ck_assert_uint_eq(io.packet_blocks, 32);
	ck_assert_ptr_null(io.rescue);
	ck_assert_ptr_null(io.move_worn);
	ck_assert_int_eq(io.append_state(io.ctx, &st), 0);
	ck_assert_uint_eq(st.next_writable, 50 * PKT_SECTOR_SIZE);
	ck_assert_uint_eq(st.free_bytes, 950 * PKT_SECTOR_SIZE);
	ck_assert(st.recorded);
	ck_assert_uint_eq(st.last_recorded, 49 * PKT_SECTOR_SIZE);
	ck_assert(!st.closed);
	/* held by the cache, not on the medium yet: next_writable moves, the medium's state does not */
	ck_assert_int_eq(io.write(io.ctx, 50 * PKT_SECTOR_SIZE, sizeof(buf), buf), 0);
	ck_assert_int_eq(io.append_state(io.ctx, &st), 0);
	ck_assert_uint_eq(st.next_writable, 53 * PKT_SECTOR_SIZE);
	ck_assert_uint_eq(st.free_bytes, 947 * PKT_SECTOR_SIZE);
	ck_assert_uint_eq(st.last_recorded, 49 * PKT_SECTOR_SIZE);
	/* a flush ends the packet with its data (a CD-R's packets are variable); the next one starts
	 * after its link blocks */
	ck_assert_int_eq(io.flush(io.ctx), 0);
	ck_assert_int_eq(io.append_state(io.ctx, &st), 0);
	ck_assert_uint_eq(st.next_writable, (50 + 3 + 7) * PKT_SECTOR_SIZE);
	ck_assert_uint_eq(st.last_recorded, (50 + 2) * PKT_SECTOR_SIZE);
	ck_assert_uint_eq(st.free_bytes, (1000 - 60) * PKT_SECTOR_SIZE);
	ck_assert_int_eq(pkt_cache_close_session(c, PKT_CLOSE_FINALIZE), 0);
	ck_assert_int_eq(io.append_state(io.ctx, &st), 0);
	ck_assert(st.closed);
	ck_assert_str_eq(a.broken, "");
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
	append_dev_free(&a);
}
END_TEST

/* A fresh volume through the cache, as `pktfuse format` writes one; the cache holds nothing after. */
static void format_over(struct mem_dev *m, enum udf_media media)
{
	struct udf_format_opts uo = {.revision = 0x0201, .media = media};
	char err[256];
	struct pkt_cache *c = mem_dev_cache(m);

	if (media == UDF_MEDIA_CDRW)
		uo.packet_len = m->dev.geo.packet_sectors;
	ck_assert_msg(udf_format(&uo, udf_cache_write, c, pkt_cache_capacity_bytes(c), err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_int_eq(pkt_cache_destroy(c), 0);
}

static struct udf_fs *mount_over(struct pkt_cache *c, struct udf_io *io, bool writable)
{
	struct udf_mount_opts mo = {.read_only = !writable};
	struct udf_fs *fs;
	char err[256];

	udf_cache_io_init(io, c, writable);
	ck_assert_msg(udf_mount(io, &mo, &fs, err, sizeof(err)) == 0, "%s", err);
	return fs;
}

#define NEW_FILES 150

static void file_bytes(uint8_t *p, size_t n, uint64_t seed, int i)
{
	uint64_t s = seed * 1000003 + (uint64_t)i;

	for (size_t k = 0; k < n; k++)
		p[k] = (uint8_t)(rng_next(&s) >> 56);
}

/* New files and directories go into packets that are partly free: the engine tells the cache the
 * free blocks of each packet it writes, so a commit reads nothing back from the medium (the copy of
 * many small files); and the durable medium holds every file as written. */
START_TEST(test_new_files_gather_nothing)
{
	static const enum udf_media media[] = {UDF_MEDIA_CDRW, UDF_MEDIA_DVDRAM};

	for (size_t mi = 0; mi < 2; mi++) {
		for (uint64_t seed = 1; seed <= 3; seed++) {
			struct mem_dev m, durable;
			struct udf_io io;
			struct pkt_cache_stats before, after;
			size_t len[NEW_FILES];
			uint64_t ino[NEW_FILES], dir, rs = seed;
			static uint8_t buf[9000], back[9000];
			struct stat st;
			char name[32];

			fprintf(stderr, "test_new_files_gather_nothing: media %zu seed %llu\n", mi,
				(unsigned long long)seed);
			mem_dev_init(&m, 32 * 256, media[mi] == UDF_MEDIA_CDRW ? 32 : 16);
			format_over(&m, media[mi]);
			struct pkt_cache *c = mem_dev_cache(&m);
			struct udf_fs *fs = mount_over(c, &io, true);
			ck_assert_int_eq(udf_sync(fs), 0); /* what the mount itself writes */
			pkt_cache_get_stats(c, &before);
			ck_assert_int_eq(udf_create(fs, udf_root_ino(fs), "d", S_IFDIR | 0755, 0, 0, NULL, &dir, &st),
					 0);
			for (int i = 0; i < NEW_FILES; i++) {
				/* embedded in the entry, one block, or a few */
				len[i] = (size_t)rng_below(&rs, 3) == 0 ? (size_t)rng_below(&rs, 1500)
									: (size_t)rng_below(&rs, sizeof(buf));
				snprintf(name, sizeof(name), "f%03d", i);
				ck_assert_int_eq(udf_create(fs, i % 2 ? dir : udf_root_ino(fs), name, S_IFREG | 0644, 0,
							    0, NULL, &ino[i], &st),
						 0);
				file_bytes(buf, len[i], seed, i);
				ck_assert_int_eq(udf_write(fs, ino[i], 0, len[i], buf), (ssize_t)len[i]);
			}
			ck_assert_int_eq(udf_sync(fs), 0);
			pkt_cache_get_stats(c, &after);
			fprintf(stderr, "  gathered %llu sectors in %llu reads\n",
				(unsigned long long)(after.gather_read_sectors - before.gather_read_sectors),
				(unsigned long long)(after.gather_read_commands - before.gather_read_commands));
			ck_assert_uint_eq(after.gather_read_commands - before.gather_read_commands, 0);
			ck_assert_uint_gt(after.packets_written, before.packets_written);

			/* the medium as it is now (what a power cut would leave) reads back every file */
			mem_dev_init(&durable, m.dev.geo.sector_count, m.dev.geo.packet_sectors);
			memcpy(durable.data, m.data, m.dev.geo.sector_count * PKT_SECTOR_SIZE);
			struct udf_io dio;
			struct pkt_cache *dc = mem_dev_cache(&durable);
			struct udf_fs *dfs = mount_over(dc, &dio, false);
			ck_assert_int_eq(udf_lookup(dfs, udf_root_ino(dfs), "d", &dir, &st), 0);
			for (int i = 0; i < NEW_FILES; i++) {
				uint64_t fi;
				snprintf(name, sizeof(name), "f%03d", i);
				ck_assert_int_eq(udf_lookup(dfs, i % 2 ? dir : udf_root_ino(dfs), name, &fi, &st), 0);
				ck_assert_uint_eq((uint64_t)st.st_size, len[i]);
				file_bytes(buf, len[i], seed, i);
				ck_assert_int_eq(udf_read(dfs, fi, 0, sizeof(back), back), (ssize_t)len[i]);
				ck_assert_msg(memcmp(back, buf, len[i]) == 0, "seed %llu: f%03d differs",
					      (unsigned long long)seed, i);
			}
			udf_unmount(dfs);
			ck_assert_int_eq(pkt_cache_destroy(dc), 0);
			mem_dev_free(&durable);
			ck_assert_int_eq(udf_close(fs), 0);
			udf_unmount(fs);
			ck_assert_int_eq(pkt_cache_destroy(c), 0);
			mem_dev_free(&m);
		}
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udf_cache_io");
	TCase *t = tcase_create("io");
	tcase_add_test(t, test_init_fills_io);
	tcase_add_test(t, test_bytes_through_the_cache);
	tcase_add_test(t, test_rescue_speaks_bytes_to_the_engine);
	tcase_add_test(t, test_append_state_in_bytes);
	tcase_add_test(t, test_new_files_gather_nothing);
	tcase_set_timeout(t, 120);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
