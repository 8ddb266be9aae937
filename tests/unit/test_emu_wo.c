/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated write-once media (cd-r, dvd-r, dvd+r, bd-r) through raw MMC commands: writes only at the
 * NWA and never twice, the write unit (CD-R link blocks, DVD ECC blocks, BD clusters), reads of
 * unrecorded sectors, disc/track information, TOC session info, RESERVE TRACK, closing tracks and
 * sessions with the gaps they cost, finalizing, the state file and the command log. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emu/emu.h"
#include "mmc_cmds.h"
#include "mmc_ops.h"
#include "source.h"
#include "test_mmc_util.h"
#include "test_tmpdir.h"

static char dir[64];
static char err[512];

static void setup(void)
{
	test_tmpdir_make(dir, sizeof(dir), "pktfuse-emuwo");
	err[0] = 0;
}

static void teardown(void)
{
	test_tmpdir_remove(dir);
}

static const struct {
	const char *name;
	uint16_t profile;
	uint32_t unit, link; /* padding unit, link blocks after a write */
	uint32_t gap1, gap2; /* sectors from a closed session's lead-out to the next one's start */
	uint8_t finalize_fn; /* CLOSE TRACK/SESSION function that finalizes (0: close session, ms=0) */
	bool page05;	     /* needs page 05h */
} wo[] = {
	{"cd-r", 0x0009, 1, 7, 11400, 6900, 0, true},
	{"dvd-r", 0x0011, 16, 0, 16384, 3072, 0, true},
	{"dvd+r", 0x001B, 16, 0, 3072, 3072, 6, false},
	{"bd-r", 0x0041, 32, 0, 0, 0, 6, false},
};

static const char *spec(const char *profile, const char *opts)
{
	static char s[512];

	snprintf(s, sizeof(s), "%s:%s/disc.img%s%s", profile, dir, *opts ? "," : "", opts);
	return s;
}

struct raw {
	struct mmc_transport *t;
	struct mmc_ctx ctx;
};

static void raw_open(struct raw *r, const char *sp)
{
	r->t = emu_open(sp, err, sizeof(err));
	ck_assert_msg(r->t != NULL, "%s", err);
	memset(&r->ctx, 0, sizeof(r->ctx));
	r->ctx.t = r->t;
	r->ctx.quiet = true;
}

static void raw_close(struct raw *r)
{
	r->t->ops->close(r->t);
	r->t = NULL;
}

/* A blank disc of profile i (8 MiB unless opts say otherwise), page 05h set as the medium needs. */
static void open_blank(struct raw *r, int i, const char *opts, bool multisession)
{
	char o[256];

	snprintf(o, sizeof(o), "size=%s%s%s", "8M", *opts ? "," : "", opts);
	raw_open(r, spec(wo[i].name, o));
	if (wo[i].page05)
		ck_assert_int_eq(mmc_set_write_params_incremental(&r->ctx, multisession), 0);
}

static void expect_sense(struct raw *r, int rc, uint8_t key, uint8_t asc, uint8_t ascq)
{
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(r->ctx.last.key == key && r->ctx.last.asc == asc && r->ctx.last.ascq == ascq,
		      "sense %02X/%02X/%02X, want %02X/%02X/%02X", r->ctx.last.key, r->ctx.last.asc, r->ctx.last.ascq,
		      key, asc, ascq);
}

static void pattern(uint8_t *buf, uint64_t lba, uint32_t n, uint32_t seed)
{
	for (uint32_t s = 0; s < n; s++)
		for (unsigned i = 0; i < 2048; i += 8) {
			uint64_t v = (lba + s) * 0x9e3779b97f4a7c15ull ^ (uint64_t)seed << 40 ^ i;
			memcpy(buf + (size_t)s * 2048 + i, &v, 8);
		}
}

static uint8_t buf[128 * 2048], back[128 * 2048];

static int write_at(struct raw *r, uint32_t lba, uint32_t n)
{
	pattern(buf, lba, n, 7);
	return mmc_write10(&r->ctx, lba, (uint16_t)n, buf);
}

static struct mmc_track_info invisible(struct raw *r)
{
	struct mmc_track_info ti;

	ck_assert_int_eq(mmc_read_track_info(&r->ctx, 1, 0xff, &ti), 0);
	return ti;
}

static uint32_t nwa(struct raw *r)
{
	struct mmc_track_info ti = invisible(r);

	ck_assert(ti.nwa_valid);
	return ti.nwa;
}

/* Track k's NWA, or its end when it has none. */
static uint32_t nwa_of_track(struct raw *r, uint32_t k)
{
	struct mmc_track_info ti;

	ck_assert_int_eq(mmc_read_track_info(&r->ctx, 1, k, &ti), 0);
	return ti.nwa_valid ? ti.nwa : ti.start + ti.size;
}

static struct mmc_disc_info disc(struct raw *r)
{
	struct mmc_disc_info di;

	ck_assert_int_eq(mmc_read_disc_info(&r->ctx, &di), 0);
	return di;
}

static off_t image_length(void)
{
	char p[128];
	struct stat st;

	snprintf(p, sizeof(p), "%s/disc.img", dir);
	ck_assert_int_eq(stat(p, &st), 0);
	return st.st_size;
}

/* A blank disc: status blank, one empty session, track 1 blank with its NWA at 0 and the whole disc
 * free; nothing readable; an empty image; the profile and no FORMAT UNIT or BLANK. */
START_TEST(test_blank_disc)
{
	struct raw r;

	open_blank(&r, _i, "", true);
	uint16_t prof = 0;
	ck_assert_int_eq(mmc_current_profile(&r.ctx, &prof), 0);
	ck_assert_uint_eq(prof, wo[_i].profile);
	struct mmc_disc_info di = disc(&r);
	ck_assert_uint_eq(di.disc_status, 0);
	ck_assert_uint_eq(di.session_state, 0);
	ck_assert(!di.erasable);
	ck_assert_uint_eq(di.sessions, 1);
	struct mmc_track_info ti = invisible(&r);
	ck_assert(ti.blank && ti.nwa_valid);
	ck_assert_uint_eq(ti.start, 0);
	ck_assert_uint_eq(ti.nwa, 0);
	ck_assert_uint_eq(ti.free_blocks, 4096);
	ck_assert_uint_eq(ti.number, 1);
	uint32_t last = 1, blen = 0;
	ck_assert_int_eq(mmc_read_capacity(&r.ctx, &last, &blen), 0);
	ck_assert_uint_eq(last, 0);
	expect_sense(&r, mmc_read10(&r.ctx, 0, 1, back), 5, 0x21, 0x00);
	expect_sense(&r, mmc_format_unit(&r.ctx, 0x00, 4096, 0, false), 5, 0x30, 0x06);
	expect_sense(&r, mmc_blank(&r.ctx, 1, false), 5, 0x20, 0x00);
	expect_sense(&r, mmc_close_track_session(&r.ctx, 2, 0), 5, 0x2C, 0x00); /* nothing to close */
	ck_assert_int_eq(image_length(), 0);
	raw_close(&r);
}
END_TEST

/* Writes of many sizes: each accepted only at the NWA, which moves by the write, its pad to the unit
 * and the link blocks; a rewrite, a write before or after the NWA are refused with 21/02; what was
 * written reads back, pads read as zeros, link blocks and what lies past the end do not read; the
 * image is as long as the recorded part. */
START_TEST(test_nwa_rule)
{
	struct raw r;
	uint32_t at = 0, prev = 0, prev_n = 0;
	uint64_t seed = 0x1234567 + (uint64_t)_i;

	open_blank(&r, _i, "", true);
	for (int k = 0; k < 40; k++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t n = 1 + (uint32_t)(seed >> 33) % 48;
		ck_assert_uint_eq(nwa(&r), at);
		expect_sense(&r, write_at(&r, at + wo[_i].unit, n), 5, 0x21, 0x02); /* after the NWA */
		if (at)
			expect_sense(&r, write_at(&r, prev, prev_n), 5, 0x21, 0x02); /* a rewrite */
		ck_assert_int_eq(write_at(&r, at, n), 0);
		ck_assert_int_eq(mmc_read10(&r.ctx, at, (uint16_t)n, back), 0);
		pattern(buf, at, n, 7);
		ck_assert(memcmp(buf, back, (size_t)n * 2048) == 0);
		uint32_t end = (at + n + wo[_i].unit - 1) / wo[_i].unit * wo[_i].unit;
		if (end > at + n) { /* the drive padded the unit with zeros */
			ck_assert_int_eq(mmc_read10(&r.ctx, at + n, (uint16_t)(end - at - n), back), 0);
			for (size_t b = 0; b < (size_t)(end - at - n) * 2048; b++)
				ck_assert_uint_eq(back[b], 0);
		}
		if (wo[_i].link && at) /* the link blocks after the previous packet hold no user data */
			expect_sense(&r, mmc_read10(&r.ctx, at - wo[_i].link, 1, back), 3, 0x11, 0x00);
		if (k % 5 == 4) { /* what the drive holds is on the image once synced */
			ck_assert_int_eq(mmc_sync_cache(&r.ctx, false), 0);
			ck_assert_int_eq(image_length(), (off_t)end * 2048);
		} else {
			ck_assert_int_le(image_length(), (off_t)end * 2048);
		}
		prev = at;
		prev_n = n;
		at = end + wo[_i].link;
	}
	expect_sense(&r, mmc_read10(&r.ctx, at + 64, 1, back), 5, 0x21, 0x00); /* past the recorded part */
	expect_sense(&r, write_at(&r, 0, 1), 5, 0x21, 0x02);
	uint32_t last = 0, blen = 0;
	ck_assert_int_eq(mmc_read_capacity(&r.ctx, &last, &blen), 0);
	ck_assert_uint_eq(last, at - wo[_i].link - 1);
	struct mmc_track_info ti = invisible(&r);
	ck_assert(ti.lra_valid && !ti.blank);
	ck_assert_uint_eq(ti.lra, last);
	ck_assert_uint_eq(ti.free_blocks, 4096 - at);
	struct mmc_disc_info di = disc(&r);
	ck_assert_uint_eq(di.disc_status, 1);
	ck_assert_uint_eq(di.session_state, 1);
	raw_close(&r);
}
END_TEST

/* CD-R takes packet writing with variable packets only; DVD-R incremental recording only. */
START_TEST(test_write_parameters)
{
	struct raw r;

	raw_open(&r, spec("cd-r", "size=8M"));
	expect_sense(&r, write_at(&r, 0, 4), 5, 0x64, 0x00); /* page 05h never set: no data block type */
	ck_assert_int_eq(mmc_set_write_params_fixed(&r.ctx, 32), 0);
	expect_sense(&r, write_at(&r, 0, 32), 5, 0x64, 0x00); /* fixed packets are for CD-RW */
	ck_assert_int_eq(mmc_set_write_params_incremental(&r.ctx, true), 0);
	ck_assert_int_eq(write_at(&r, 0, 32), 0);
	raw_close(&r);

	char p[128];
	snprintf(p, sizeof(p), "%s/disc.img", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/disc.img.state", dir);
	unlink(p);
	raw_open(&r, spec("dvd-r", "size=8M"));
	uint8_t mp[8 + 52];
	ck_assert_int_eq(mmc_mode_sense10(&r.ctx, MMC_PAGE_WRITE_PARAMETERS, mp, sizeof(mp)), 0);
	mp[0] = mp[1] = 0;
	mp[8] &= 0x3f;
	mp[10] = 2; /* disc at once */
	ck_assert_int_eq(mmc_mode_select10(&r.ctx, mp, sizeof(mp)), 0);
	expect_sense(&r, write_at(&r, 0, 16), 5, 0x64, 0x00);
	ck_assert_int_eq(mmc_set_write_params_incremental(&r.ctx, true), 0);
	ck_assert_int_eq(write_at(&r, 0, 16), 0);
	raw_close(&r);
}
END_TEST

/* Two sessions closed, then the disc finalized: each close leaves the medium's gap, the new session's
 * track opens after it, TOC session info points at the last closed session, the old NWA is refused,
 * a finalized disc refuses writes and closes; the state survives reopening. */
START_TEST(test_sessions)
{
	struct raw r;

	open_blank(&r, _i, "size=64M", true); /* room for the gaps */
	uint32_t start[3] = {0}, prev_end = 0;
	for (int s = 0; s < 2; s++) {
		uint32_t at = nwa(&r);
		ck_assert_uint_eq(at, start[s]);
		ck_assert_int_eq(write_at(&r, at, 20), 0);
		uint32_t end = (at + 20 + wo[_i].unit - 1) / wo[_i].unit * wo[_i].unit + wo[_i].link;
		ck_assert_int_eq(mmc_close_track_session(&r.ctx, 2, 0), 0);
		struct mmc_disc_info di = disc(&r);
		ck_assert_uint_eq(di.disc_status, 1);	/* appendable */
		ck_assert_uint_eq(di.session_state, 0); /* the new session is empty */
		ck_assert_uint_eq(di.sessions, (uint16_t)(s + 2));
		/* a CD-R's lead-out starts after the 2 run-out blocks of the last packet's 7 link blocks */
		uint32_t leadout = wo[_i].link ? end - wo[_i].link + 2 : end;
		start[s + 1] = leadout + (s == 0 ? wo[_i].gap1 : wo[_i].gap2);
		ck_assert_uint_eq(nwa(&r), start[s + 1]);
		struct mmc_track_info ti = invisible(&r);
		ck_assert_uint_eq(ti.session, (uint16_t)(s + 2));
		struct mmc_track_info closed;
		ck_assert_int_eq(mmc_read_track_info(&r.ctx, 1, (uint32_t)s + 1, &closed), 0);
		ck_assert(closed.lra_valid && !closed.nwa_valid);
		ck_assert_uint_eq(closed.lra, end - wo[_i].link - 1);
		if (s == 1) { /* track 1's end, also where (BD-R) the next session's data follows at once */
			ck_assert_int_eq(mmc_read_track_info(&r.ctx, 1, 1, &closed), 0);
			ck_assert_uint_eq(closed.lra, prev_end - wo[_i].link - 1);
		}
		uint16_t last_complete = 0;
		uint32_t first = 1;
		ck_assert_int_eq(mmc_read_toc_session(&r.ctx, &last_complete, &first), 0);
		ck_assert_uint_eq(last_complete, (uint16_t)(s + 1));
		ck_assert_uint_eq(first, start[s]);
		if (end < start[s + 1]) /* the lead-out and lead-in take no data */
			expect_sense(&r, write_at(&r, end, 1), 5, 0x21, 0x02);
		if (s == 1 && prev_end < start[1]) /* ... and hold none once a later session is written */
			expect_sense(&r, mmc_read10(&r.ctx, prev_end, 1, back), 3, 0x11, 0x00);
		ck_assert_int_eq(mmc_read10(&r.ctx, at, 20, back), 0); /* the closed session reads */
		prev_end = end;
	}
	raw_close(&r);
	raw_open(&r, spec(wo[_i].name, ""));
	ck_assert_uint_eq(nwa(&r), start[2]);
	if (wo[_i].page05)
		ck_assert_int_eq(mmc_set_write_params_incremental(&r.ctx, false), 0);
	ck_assert_int_eq(write_at(&r, start[2], 16), 0);
	ck_assert_int_eq(mmc_close_track_session(&r.ctx, wo[_i].finalize_fn ? wo[_i].finalize_fn : 2, 0), 0);
	struct mmc_disc_info di = disc(&r);
	ck_assert_uint_eq(di.disc_status, 2);
	ck_assert_uint_eq(di.session_state, 3);
	ck_assert_uint_eq(di.sessions, 3);
	expect_sense(&r, write_at(&r, start[2] + 32 + wo[_i].link, 1), 5, 0x21, 0x02);
	expect_sense(&r, mmc_close_track_session(&r.ctx, 2, 0), 5, 0x2C, 0x00);
	struct mmc_track_info ti;
	expect_sense(&r, mmc_read_track_info(&r.ctx, 1, 0xff, &ti), 5, 0x24, 0x00); /* no invisible track */
	uint16_t last_complete = 0;
	uint32_t first = 0;
	ck_assert_int_eq(mmc_read_toc_session(&r.ctx, &last_complete, &first), 0);
	ck_assert_uint_eq(last_complete, 3);
	ck_assert_uint_eq(first, start[2]);
	raw_close(&r);
	raw_open(&r, spec(wo[_i].name, ""));
	ck_assert_uint_eq(disc(&r).disc_status, 2);
	expect_sense(&r, write_at(&r, start[2] + 32 + wo[_i].link, 1), 5, 0x21, 0x02);
	raw_close(&r);
}
END_TEST

/* The close functions each medium has: CD-R and DVD-R finalize on "close session" when page 05h says
 * no next session; DVD+R (101b, 110b) and BD-R (110b) have finalize functions; the others are refused.
 * An empty track or session cannot be closed. */
START_TEST(test_close_functions)
{
	struct raw r;

	open_blank(&r, _i, "", false);
	ck_assert_int_eq(write_at(&r, 0, 16), 0);
	expect_sense(&r, mmc_close_track_session(&r.ctx, 0, 0), 5, 0x24, 0x00);
	expect_sense(&r, mmc_close_track_session(&r.ctx, 3, 0), 5, 0x24, 0x00);
	if (!wo[_i].finalize_fn)
		expect_sense(&r, mmc_close_track_session(&r.ctx, 6, 0), 5, 0x24, 0x00);
	if (wo[_i].profile != 0x001B)
		expect_sense(&r, mmc_close_track_session(&r.ctx, 5, 0), 5, 0x24, 0x00);
	ck_assert_int_eq(mmc_close_track_session(&r.ctx, 1, 1), 0); /* close track 1 */
	struct mmc_track_info t1;
	ck_assert_int_eq(mmc_read_track_info(&r.ctx, 1, 1, &t1), 0);
	ck_assert(!t1.nwa_valid);
	uint32_t next = nwa(&r);
	/* CD: the next track's pregap */
	ck_assert_uint_eq(next,
			  (16 + wo[_i].unit - 1) / wo[_i].unit * wo[_i].unit + wo[_i].link + (wo[_i].link ? 150 : 0));
	ck_assert_uint_eq(invisible(&r).number, 2);
	expect_sense(&r, mmc_close_track_session(&r.ctx, 1, 2), 5, 0x2C, 0x00); /* track 2 is empty */
	ck_assert_int_eq(mmc_close_track_session(&r.ctx, wo[_i].finalize_fn ? wo[_i].finalize_fn : 2, 0), 0);
	ck_assert_uint_eq(disc(&r).disc_status, 2); /* multi-session field 00b, or a finalize function */
	ck_assert_uint_eq(disc(&r).sessions, 1);
	raw_close(&r);
}
END_TEST

/* RESERVE TRACK: the empty invisible track gets the size (rounded to the unit), a new one follows;
 * both take writes at their own NWA, the reserved one only up to its end. */
START_TEST(test_reserve_track)
{
	struct raw r;

	open_blank(&r, _i, "", true);
	expect_sense(&r, mmc_reserve_track(&r.ctx, 0xffffffffu), 5, 0x21, 0x00); /* larger than the disc */
	expect_sense(&r, mmc_reserve_track(&r.ctx, 0), 5, 0x24, 0x00);
	ck_assert_uint_eq(disc(&r).last_track, 1);
	ck_assert_int_eq(mmc_reserve_track(&r.ctx, 100), 0);
	uint32_t size = (100 + wo[_i].unit - 1) / wo[_i].unit * wo[_i].unit;
	struct mmc_track_info t1, t2 = invisible(&r);
	ck_assert_int_eq(mmc_read_track_info(&r.ctx, 1, 1, &t1), 0);
	ck_assert(t1.reserved && t1.nwa_valid);
	ck_assert_uint_eq(t1.size, size);
	ck_assert_uint_eq(t2.number, 2);
	ck_assert_uint_eq(t2.start, size + (wo[_i].link ? 150 : 0));
	ck_assert_int_eq(write_at(&r, t2.start, 8), 0);
	expect_sense(&r, mmc_reserve_track(&r.ctx, 50), 5, 0x2C, 0x00); /* the invisible track is not empty */
	ck_assert_int_eq(write_at(&r, 0, 32), 0);
	uint32_t t1nwa = (32 + wo[_i].unit - 1) / wo[_i].unit * wo[_i].unit + wo[_i].link;
	while (t1nwa < size) {
		uint32_t n = size - t1nwa > 48 ? 48 : size - t1nwa;
		if (n == size - t1nwa) /* past the reserved track's end */
			expect_sense(&r, write_at(&r, t1nwa, n + wo[_i].unit), 5, 0x21, 0x02);
		ck_assert_int_eq(write_at(&r, t1nwa, n), 0);
		t1nwa = nwa_of_track(&r, 1);
	}
	ck_assert_int_eq(mmc_read_track_info(&r.ctx, 1, 1, &t1), 0);
	ck_assert(!t1.nwa_valid); /* full */
	raw_close(&r);
}
END_TEST

/* A drive without a write cache that is never closed (a killed daemon) still leaves the disc's state
 * right: every write is journaled in IMAGE.state as it reaches the medium. */
START_TEST(test_state_journal)
{
	struct raw r;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		open_blank(&r, _i, "wcache=0", true);
		uint32_t at = 0;
		for (int k = 0; k < 5; k++) {
			if (write_at(&r, at, 10))
				_exit(1);
			at = (at + 10 + wo[_i].unit - 1) / wo[_i].unit * wo[_i].unit + wo[_i].link;
		}
		_exit(0); /* no close, no SYNCHRONIZE CACHE */
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	raw_open(&r, spec(wo[_i].name, ""));
	uint32_t at = 0;
	for (int k = 0; k < 5; k++)
		at = (at + 10 + wo[_i].unit - 1) / wo[_i].unit * wo[_i].unit + wo[_i].link;
	ck_assert_uint_eq(nwa(&r), at);
	ck_assert_int_eq(mmc_read10(&r.ctx, 0, 10, back), 0);
	if (wo[_i].link)
		expect_sense(&r, mmc_read10(&r.ctx, 10, 1, back), 3, 0x11, 0x00);
	raw_close(&r);
}
END_TEST

/* The write cache: unsynced writes read back from it, reach the image only when synced, and a power
 * cut keeps a prefix of them in order (seeded), never a later one without an earlier one: the disc
 * reopens with its NWA after the last kept write, and everything synced before survives. */
START_TEST(test_power_cut_keeps_a_prefix)
{
	unsigned kept_some = 0, lost_some = 0;

	for (uint64_t seed = 1; seed <= 12; seed++) {
		struct raw r;
		char opts[64];
		uint32_t at[9] = {0};
		snprintf(opts, sizeof(opts), "seed=%" PRIu64, seed);
		open_blank(&r, _i, opts, true);
		ck_assert_int_eq(write_at(&r, 0, 16), 0);
		ck_assert_int_eq(mmc_sync_cache(&r.ctx, false), 0);
		at[0] = nwa(&r);
		for (int k = 0; k < 8; k++) {
			ck_assert_int_eq(write_at(&r, at[k], 16), 0);
			at[k + 1] = nwa(&r);
			ck_assert_int_eq(mmc_read10(&r.ctx, at[k], 16, back), 0); /* from the cache */
			pattern(buf, at[k], 16, 7);
			ck_assert(memcmp(buf, back, 16 * 2048) == 0);
		}
		ck_assert_int_eq(image_length(), (off_t)(at[0] - wo[_i].link) * 2048); /* only the synced write */
		struct emu_power_cut pc = {.after = 0};
		ck_assert_int_eq(emu_set_power_cut(r.t, &pc), 0);
		raw_close(&r);
		raw_open(&r, spec(wo[_i].name, ""));
		uint32_t now = nwa(&r);
		int kept = -1;
		for (int k = 0; k <= 8; k++)
			if (at[k] == now)
				kept = k;
		ck_assert_msg(kept >= 0, "seed %" PRIu64 ": NWA %" PRIu32 " after no prefix", seed, now);
		for (int k = 0; k < kept; k++) {
			ck_assert_int_eq(mmc_read10(&r.ctx, at[k], 16, back), 0);
			pattern(buf, at[k], 16, 7);
			ck_assert(memcmp(buf, back, 16 * 2048) == 0);
		}
		ck_assert_int_ne(mmc_read10(&r.ctx, now, 1, back), 0);
		ck_assert_int_eq(mmc_read10(&r.ctx, 0, 16, back), 0); /* synced before the cut */
		kept_some += kept > 0;
		lost_some += kept < 8;
		raw_close(&r);
		char p[128];
		snprintf(p, sizeof(p), "%s/disc.img", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/disc.img.state", dir);
		unlink(p);
	}
	ck_assert(kept_some && lost_some); /* the seeds cover both */
}
END_TEST

/* The command log shows, for every write, where it was and where the NWA was. */
START_TEST(test_log_proves_nwa)
{
	char logp[128], opts[160], line[256];
	struct raw r;

	snprintf(logp, sizeof(logp), "%s/cmd.log", dir);
	snprintf(opts, sizeof(opts), "log=%s", logp);
	open_blank(&r, _i, opts, true);
	uint32_t at = 0;
	for (int k = 0; k < 10; k++) {
		ck_assert_int_eq(write_at(&r, at, 5 + (uint32_t)k), 0);
		at = nwa(&r);
	}
	expect_sense(&r, write_at(&r, 0, 1), 5, 0x21, 0x02);
	raw_close(&r);
	FILE *f = fopen(logp, "r");
	ck_assert_ptr_nonnull(f);
	unsigned ok = 0, refused = 0;
	while (fgets(line, sizeof(line), f)) {
		uint32_t lba, n, w;
		if (strncmp(line, "op=2A", 5))
			continue;
		ck_assert_msg(sscanf(line, "op=2A lba=%" SCNu32 " n=%" SCNu32 " nwa=%" SCNu32, &lba, &n, &w) == 3, "%s",
			      line);
		if (strstr(line, "rule=ok")) {
			ck_assert_uint_eq(lba, w);
			ok++;
		} else {
			ck_assert(strstr(line, "rule=refused(recorded)") && strstr(line, "sense=05/21/02"));
			refused++;
		}
	}
	fclose(f);
	ck_assert_uint_eq(ok, 10);
	ck_assert_uint_eq(refused, 1);
}
END_TEST

/* An image made elsewhere (no state file) is a disc recorded from 0 to its length, appendable. */
START_TEST(test_adopted_image)
{
	char p[128];
	struct raw r;

	snprintf(p, sizeof(p), "%s/disc.img", dir);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	pattern(buf, 0, 48, 7);
	ck_assert_int_eq(write(fd, buf, 48 * 2048), 48 * 2048);
	close(fd);
	raw_open(&r, spec(wo[_i].name, "size=8M"));
	ck_assert_uint_eq(nwa(&r), (48 + wo[_i].unit - 1) / wo[_i].unit * wo[_i].unit + wo[_i].link);
	ck_assert_int_eq(mmc_read10(&r.ctx, 0, 48, back), 0);
	ck_assert(memcmp(buf, back, 48 * 2048) == 0);
	ck_assert_uint_eq(disc(&r).disc_status, 1);
	raw_close(&r);
	snprintf(p, sizeof(p), "%s/odd.img", dir);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, 1000), 1000);
	close(fd);
	snprintf(p, sizeof(p), "%s:%s/odd.img", wo[_i].name, dir);
	ck_assert_ptr_null(emu_open(p, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a recorded part"), "%s", err);
}
END_TEST

/* pktfuse format on a write-once disc: a blank one needs no FORMAT UNIT and is named for its layout;
 * one that holds anything is refused (it cannot be erased). */
START_TEST(test_format_write_once)
{
	static const char *const media[] = {"cdr", "dvdr", "dvd+r", "bdr"};
	char src[600];
	struct mmc_format_result res = {0};
	struct mmc_format_options fo = {.result = &res};
	struct raw r;

	snprintf(src, sizeof(src), "emu:%s", spec(wo[_i].name, "size=8M"));
	ck_assert_msg(mmc_cmd_format(src, &fo, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(res.profile, wo[_i].profile);
	ck_assert_uint_eq(res.sectors, 4096);
	ck_assert_str_eq(mmc_format_media_name(&res), media[_i]);
	open_blank(&r, _i, "", true);
	ck_assert_int_eq(write_at(&r, 0, 16), 0);
	raw_close(&r);
	fo.force = true;
	ck_assert_int_eq(mmc_cmd_format(src, &fo, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot be erased"), "%s", err);
}
END_TEST

/* The speed model: writes one after another at the NWA stream (the head is where the next one
 * starts: past CD-R's link blocks, past DVD's padding), so they pay the transfer and no access. */
START_TEST(test_sequential_writes_pay_no_access)
{
	struct raw r;
	struct emu_counters c0, c1;

	open_blank(&r, _i, "speed=4,access_ms=100", false);
	ck_assert_int_eq(write_at(&r, nwa(&r), 32), 0);
	uint32_t at = nwa(&r);
	ck_assert(emu_get_counters(r.t, &c0));
	ck_assert_int_eq(write_at(&r, at, 32), 0);
	ck_assert(emu_get_counters(r.t, &c1));
	uint64_t transfer_ns = (uint64_t)(32.0 * 2048 / c1.rate_bps * 1e9);
	ck_assert_msg(c1.sim_ns - c0.sim_ns < transfer_ns + 50000000u,
		      "%s: the second write took %llu ns, its transfer %llu", wo[_i].name,
		      (unsigned long long)(c1.sim_ns - c0.sim_ns), (unsigned long long)transfer_ns);
	raw_close(&r);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("emu_wo");
	TCase *tc = tcase_create("write-once");
	int n = (int)(sizeof(wo) / sizeof(wo[0]));

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_blank_disc, 0, n);
	tcase_add_loop_test(tc, test_sequential_writes_pay_no_access, 0, 4);
	tcase_add_loop_test(tc, test_nwa_rule, 0, n);
	tcase_add_test(tc, test_write_parameters);
	tcase_add_loop_test(tc, test_sessions, 0, n);
	tcase_add_loop_test(tc, test_close_functions, 0, n);
	tcase_add_loop_test(tc, test_reserve_track, 0, n);
	tcase_add_loop_test(tc, test_state_journal, 0, n);
	tcase_add_loop_test(tc, test_power_cut_keeps_a_prefix, 0, n);
	tcase_add_loop_test(tc, test_log_proves_nwa, 0, n);
	tcase_add_loop_test(tc, test_adopted_image, 0, n);
	tcase_add_loop_test(tc, test_format_write_once, 0, n);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
