/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The UDF engine's udf_io over the packet cache: what udf_cache_io_init fills in, bytes through the
 * cache, and the rescue, where the engine answers in bytes what the cache asks in sectors. */
#include "append_dev.h"
#include "mem_dev.h"
#include "udf_cache_io.h"

#include <check.h>
#include <stdint.h>

static struct pkt_cache *cache_over(struct mem_dev *m)
{
	struct pkt_cache_config cc = {.dirty_age_ms = 600000};
	struct pkt_cache *c;
	char err[256];

	ck_assert_int_eq(pkt_cache_create(&m->dev, &cc, &c, err, sizeof(err)), 0);
	return c;
}

START_TEST(test_init_fills_io)
{
	struct mem_dev m;
	struct udf_io io;

	mem_dev_init(&m, 16 * 8, 16);
	struct pkt_cache *c = cache_over(&m);
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
	struct pkt_cache *c = cache_over(&m);
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
	struct pkt_cache *c = cache_over(&m);
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

int main(void)
{
	Suite *s = suite_create("udf_cache_io");
	TCase *t = tcase_create("io");
	tcase_add_test(t, test_init_fills_io);
	tcase_add_test(t, test_bytes_through_the_cache);
	tcase_add_test(t, test_rescue_speaks_bytes_to_the_engine);
	tcase_add_test(t, test_append_state_in_bytes);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
