/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated drive and the MMC backend together: every profile end to end, the media rules, wear,
 * injected faults, the speed model and bad input. */
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
#include <time.h>
#include <unistd.h>

#include "emu/emu.h"
#include "mmc_cmds.h"
#include "mmc_dev.h"
#include "source.h"
#include "test_mmc_util.h"
#include "test_tmpdir.h"

static char dir[64];
static char err[512];

static void setup(void)
{
	test_tmpdir_make(dir, sizeof(dir), "pktfuse-emu");
	err[0] = 0;
}

static void teardown(void)
{
	test_tmpdir_remove(dir);
}

static const char *spec(const char *profile, const char *opts)
{
	static char s[512];

	snprintf(s, sizeof(s), "emu:%s:%s/disc.img%s%s", profile, dir, *opts ? "," : "", opts);
	return s;
}

static void pattern(uint8_t *buf, uint64_t lba, uint32_t n, uint32_t seed)
{
	for (uint32_t s = 0; s < n; s++)
		for (unsigned i = 0; i < 2048; i += 8) {
			uint64_t v = (lba + s) * 0x9e3779b97f4a7c15ull ^ (uint64_t)seed << 40 ^ i;
			memcpy(buf + (size_t)s * 2048 + i, &v, 8);
		}
}

static struct pkt_blockdev *open_dev(const char *src, bool ro)
{
	struct mmc_source_options o = {.read_only = ro, .quiet = true};
	struct pkt_blockdev *dev = NULL;
	int rc = mmc_source_open(src, &o, &dev, err, sizeof(err));

	ck_assert_msg(rc == 1, "open %s: %d %s", src, rc, err);
	return dev;
}

static void format(const char *src, bool force)
{
	struct mmc_format_options fo = {.force = force};

	ck_assert_msg(mmc_cmd_format(src, &fo, err, sizeof(err)) == 0, "format %s: %s", src, err);
}

static struct emu_counters counters(struct pkt_blockdev *dev)
{
	struct emu_counters c;

	ck_assert(emu_get_counters(mmc_dev_transport(dev), &c));
	return c;
}

/* A raw command channel straight to an emulator, for what the backend would never send. */
struct raw {
	struct mmc_transport *t;
	struct mmc_ctx ctx;
};

static void raw_open(struct raw *r, const char *src)
{
	r->t = emu_open(src + 4, err, sizeof(err));
	ck_assert_msg(r->t != NULL, "%s", err);
	memset(&r->ctx, 0, sizeof(r->ctx));
	r->ctx.t = r->t;
	r->ctx.quiet = true;
}

static void expect_sense(struct raw *r, int rc, uint8_t key, uint8_t asc, uint8_t ascq)
{
	ck_assert_int_ne(rc, 0);
	ck_assert_msg(r->ctx.last.key == key && r->ctx.last.asc == asc && r->ctx.last.ascq == ascq,
		      "sense %02X/%02X/%02X, want %02X/%02X/%02X", r->ctx.last.key, r->ctx.last.asc, r->ctx.last.ascq,
		      key, asc, ascq);
}

static const struct {
	const char *name;
	uint32_t packet;
	uint16_t profile;
} profs[] = {
	{"cdrw", 32, 0x000A},	 {"dvd-rw", 16, 0x0013}, {"dvd+rw", 16, 0x001A},
	{"dvd-ram", 16, 0x0012}, {"bd-re", 32, 0x0043},	 {"cd-mrw", 32, 0x000A},
};

/* Every profile: blank disc refused with advice → format → whole packets written through the backend →
 * read back after reopening → the emulator's log shows every write obeyed the medium's rules. */
START_TEST(test_profile_end_to_end)
{
	char logp[128], opts[160];
	snprintf(logp, sizeof(logp), "%s/cmd.log", dir);
	snprintf(opts, sizeof(opts), "size=8M,log=%s", logp);
	const char *src = spec(profs[_i].name, opts);
	enum mmc_problem problem = MMC_PROBLEM_NONE;
	struct mmc_source_options o = {.quiet = true, .problem = &problem};
	struct pkt_blockdev *dev = NULL;

	/* refused as needing a format: the code for the program to word what to do, the disc described
	 * without the program's command lines */
	ck_assert_int_eq(mmc_source_open(src, &o, &dev, err, sizeof(err)), -1);
	ck_assert_ptr_null(dev);
	bool sequential = profs[_i].profile == 0x0013; /* a blank DVD-RW is in sequential mode */
	ck_assert_int_eq(problem, sequential ? MMC_PROBLEM_SEQUENTIAL : MMC_PROBLEM_NEEDS_FORMAT);
	ck_assert_msg(strstr(err, sequential ? " is in sequential mode" : " is blank") &&
			      !strstr(err, "pktfuse format"),
		      "%s", err);
	o.problem = NULL;
	format(src, false);

	dev = open_dev(src, false);
	uint32_t ps = profs[_i].packet;
	ck_assert_uint_eq(dev->geo.packet_sectors, ps);
	ck_assert_uint_eq(dev->geo.sector_count, 4096);
	ck_assert(dev->geo.writable);
	uint8_t *buf = malloc(256 * 2048), *back = malloc(256 * 2048);
	dev->ops->hold(dev, true);
	/* A run of packets, a lone packet in the middle, and the last packet of the disc. */
	pattern(buf, 0, 256, 1);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, 256, buf), 0);
	pattern(buf, 1024, ps, 1);
	ck_assert_int_eq(pkt_blockdev_write(dev, 1024, ps, buf), 0);
	pattern(buf, 4096 - ps, ps, 1);
	ck_assert_int_eq(pkt_blockdev_write(dev, 4096 - ps, ps, buf), 0);
	/* Rewrite the first packet: wear. */
	pattern(buf, 0, ps, 2);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, ps, buf), 0);
	ck_assert_int_eq(pkt_blockdev_sync(dev), 0);
	dev->ops->hold(dev, false);
	struct emu_counters c = counters(dev);
	ck_assert_uint_eq(c.refused_writes, 0);
	ck_assert_uint_eq(c.rmw, 0);
	ck_assert_uint_eq(c.write_sectors, 256 + 3 * ps);
	ck_assert_uint_eq(c.max_wear, 2);
	char desc[2048];
	dev->ops->describe(dev, desc, sizeof(desc));
	ck_assert_msg(strstr(desc, "backend: mmc") && strstr(desc, "emu_write_commands:"), "%s", desc);
	pkt_blockdev_close(dev);

	dev = open_dev(src, true);
	ck_assert(!dev->geo.writable);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, ps, buf), -EROFS);
	ck_assert_int_eq(pkt_blockdev_read(dev, 0, 256, back), 0);
	pattern(buf, 0, 256, 1);
	pattern(buf, 0, ps, 2);
	ck_assert(memcmp(buf, back, 256 * 2048) == 0);
	ck_assert_int_eq(pkt_blockdev_read(dev, 1024, ps, back), 0);
	pattern(buf, 1024, ps, 1);
	ck_assert(memcmp(buf, back, ps * 2048) == 0);
	ck_assert_int_eq(pkt_blockdev_read(dev, 4096 - ps, ps, back), 0);
	pattern(buf, 4096 - ps, ps, 1);
	ck_assert(memcmp(buf, back, ps * 2048) == 0);
	ck_assert_int_eq(pkt_blockdev_read(dev, 4096 - 1, 2, back), -EIO); /* past the end */
	pkt_blockdev_close(dev);

	/* The log: every WRITE was accepted, packet-aligned, whole packets, without internal RMW. */
	FILE *f = fopen(logp, "r");
	ck_assert_ptr_nonnull(f);
	char line[256];
	unsigned writes = 0, prevent = 0, allow = 0, modesel = 0, formats = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned op = 0, lba = 0, n = 0, rmw = 9;
		sscanf(line, "op=%x", &op);
		if (op == 0x2A || op == 0xAA) {
			ck_assert_msg(sscanf(line, "op=%x lba=%u n=%u rule=ok rmw=%u", &op, &lba, &n, &rmw) == 4, "%s",
				      line);
			ck_assert_msg(strstr(line, "status=GOOD"), "%s", line);
			ck_assert_msg(lba % ps == 0 && n % ps == 0 && rmw == 0, "%s", line);
			writes++;
		}
		prevent += op == 0x1E && strstr(line, "GOOD") != NULL;
		modesel += op == 0x55;
		formats += op == 0x04;
		(void)allow;
	}
	fclose(f);
	ck_assert_uint_ge(writes, 4);
	ck_assert_uint_eq(formats, 1);
	ck_assert_uint_ge(prevent, 2); /* locked while dirty, unlocked after */
	/* Only the CD-RW in fixed packets needs the write parameters page. */
	if (!strcmp(profs[_i].name, "cdrw"))
		ck_assert_uint_ge(modesel, 1);
	else
		ck_assert_uint_eq(modesel, 0);
	free(buf);
	free(back);
}
END_TEST

START_TEST(test_rule_violations)
{
	struct raw r;
	static uint8_t buf[64 * 2048];
	int rc;

	/* CD-RW: before formatting, a write is refused; then page 05h is required; then alignment. */
	const char *cd = spec("cdrw", "size=4M");
	raw_open(&r, cd);
	expect_sense(&r, mmc_write10(&r.ctx, 0, 32, buf), 5, 0x30, 0x05);
	mmc_transport_close(r.t);
	format(cd, false);
	raw_open(&r, cd);
	expect_sense(&r, mmc_write10(&r.ctx, 0, 32, buf), 5, 0x64, 0x00);
	ck_assert_int_eq(mmc_set_write_params_fixed(&r.ctx, 32), 0);
	ck_assert_int_eq(mmc_write10(&r.ctx, 0, 32, buf), 0);
	expect_sense(&r, mmc_write10(&r.ctx, 16, 32, buf), 5, 0x21, 0x02);
	expect_sense(&r, mmc_write10(&r.ctx, 32, 1, buf), 5, 0x21, 0x02);
	expect_sense(&r, mmc_write10(&r.ctx, 2048 - 32, 64, buf), 5, 0x21, 0x00);
	/* Wrong packet size in page 05h: illegal mode. */
	ck_assert_int_eq(mmc_set_write_params_fixed(&r.ctx, 16), 0);
	expect_sense(&r, mmc_write10(&r.ctx, 0, 32, buf), 5, 0x64, 0x00);
	struct emu_counters c;
	ck_assert(emu_get_counters(r.t, &c));
	ck_assert_uint_eq(c.refused_writes, 4);
	mmc_transport_close(r.t);
	teardown();
	setup();

	/* DVD-RW restricted overwrite: 32 KiB aligned. */
	const char *dvd = spec("dvd-rw", "size=4M");
	format(dvd, false);
	raw_open(&r, dvd);
	ck_assert_int_eq(mmc_write10(&r.ctx, 16, 16, buf), 0);
	expect_sense(&r, mmc_write10(&r.ctx, 8, 16, buf), 5, 0x21, 0x02);
	expect_sense(&r, mmc_write10(&r.ctx, 32, 4, buf), 5, 0x21, 0x02);
	/* A transfer length that does not match the data: invalid field. */
	struct mmc_cmd cmd = {
		.cdb = {0x2A, 0, 0, 0, 0, 0, 0, 0, 16, 0}, .cdb_len = 10, .dir = MMC_DIR_OUT, .buf = buf, .len = 2048};
	rc = mmc_exec(&r.ctx, &cmd);
	expect_sense(&r, rc, 5, 0x24, 0x00);
	mmc_transport_close(r.t);
	teardown();
	setup();

	/* DVD+RW: 2 KiB writes accepted, each partial ECC block counted as a read-modify-write. */
	const char *plus = spec("dvd+rw", "size=4M");
	format(plus, false);
	raw_open(&r, plus);
	ck_assert_int_eq(mmc_write10(&r.ctx, 3, 1, buf), 0);
	ck_assert_int_eq(mmc_write10(&r.ctx, 16, 16, buf), 0);
	ck_assert_int_eq(mmc_write10(&r.ctx, 40, 16, buf), 0); /* straddles two blocks: two partial ones */
	ck_assert(emu_get_counters(r.t, &c));
	ck_assert_uint_eq(c.rmw, 3);
	ck_assert_uint_eq(c.refused_writes, 0);
	mmc_transport_close(r.t);
	teardown();
	setup();

	/* DVD-RAM and BD-RE: random writes. */
	const char *ram = spec("dvd-ram", "size=4M");
	format(ram, false);
	raw_open(&r, ram);
	ck_assert_int_eq(mmc_write10(&r.ctx, 5, 3, buf), 0);
	ck_assert_int_eq(mmc_write12(&r.ctx, 1001, 7, buf), 0);
	mmc_transport_close(r.t);
	teardown();
	setup();
	const char *bd = spec("bd-re", "size=4M");
	format(bd, false);
	raw_open(&r, bd);
	ck_assert_int_eq(mmc_write10(&r.ctx, 7, 2, buf), 0);
	/* BLANK is not a BD command. */
	expect_sense(&r, mmc_blank(&r.ctx, 1, false), 5, 0x20, 0x00);
	/* An unknown opcode. */
	struct mmc_cmd bad = {.cdb = {0xE7}, .cdb_len = 10, .dir = MMC_DIR_NONE};
	expect_sense(&r, mmc_exec(&r.ctx, &bad), 5, 0x20, 0x00);
	/* The wrong format type for the medium. */
	expect_sense(&r, mmc_format_unit(&r.ctx, 0x26, 2048, 0, false), 5, 0x26, 0x00);
	mmc_transport_close(r.t);
}
END_TEST

START_TEST(test_wear_limit)
{
	const char *src = spec("cdrw", "size=4M,wear_limit=3");
	static uint8_t buf[32 * 2048];

	format(src, false);
	struct pkt_blockdev *dev = open_dev(src, false);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pkt_blockdev_write(dev, 64, 32, buf), 0);
	ck_assert_int_eq(pkt_blockdev_write(dev, 64, 32, buf), -EIO);
	ck_assert_int_eq(pkt_blockdev_write(dev, 96, 32, buf), 0); /* the neighbour is fine */
	struct emu_counters c = counters(dev);
	ck_assert_uint_eq(c.worn_failures, 1);
	ck_assert_uint_eq(c.max_wear, 3);
	pkt_blockdev_close(dev);
	/* Wear survives in the state file. */
	dev = open_dev(src, false);
	ck_assert_int_eq(pkt_blockdev_write(dev, 64, 32, buf), -EIO);
	pkt_blockdev_close(dev);
	/* The default CD-RW limit is 1000 overwrites. */
	teardown();
	setup();
	src = spec("cdrw", "size=4M");
	format(src, false);
	dev = open_dev(src, false);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(pkt_blockdev_write(dev, 0, 32, buf), 0);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, 32, buf), -EIO);
	pkt_blockdev_close(dev);
}
END_TEST

START_TEST(test_faults)
{
	static uint8_t buf[64 * 2048];
	const char *src = spec("dvd+rw", "size=4M");

	format(src, false);
	/* Write error at one sector: only the packet holding it fails. */
	struct pkt_blockdev *dev = open_dev(spec("dvd+rw", "write_error=40"), false);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, 32, buf), 0);
	ck_assert_int_eq(pkt_blockdev_write(dev, 32, 16, buf), -EIO);
	ck_assert_int_eq(pkt_blockdev_write(dev, 48, 16, buf), 0);
	pkt_blockdev_close(dev);

	/* Read error: the good sectors of the run are returned, exactly one is counted bad. */
	pattern(buf, 0, 32, 9);
	dev = open_dev(src, false);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, 32, buf), 0);
	pkt_blockdev_close(dev);
	dev = open_dev(spec("dvd+rw", "read_error=5"), true);
	static uint8_t back[32 * 2048];
	ck_assert_int_eq(pkt_blockdev_read(dev, 0, 32, back), -EIO);
	struct mmc_dev_counters mc;
	ck_assert(mmc_dev_get_counters(dev, &mc));
	ck_assert_uint_eq(mc.bad_sectors, 1);
	ck_assert(memcmp(back, buf, 5 * 2048) == 0);
	ck_assert(memcmp(back + 6 * 2048, buf + 6 * 2048, 26 * 2048) == 0);
	ck_assert_int_eq(pkt_blockdev_read(dev, 6, 26, back), 0);
	pkt_blockdev_close(dev);

	/* Long write in progress: waited out, the write succeeds. */
	dev = open_dev(spec("dvd+rw", "lwip=5"), false);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, 16, buf), 0);
	ck_assert(mmc_dev_get_counters(dev, &mc));
	ck_assert_uint_eq(mc.retries, 5);
	pkt_blockdev_close(dev);

	/* A medium change reported during use: the same disc, so work continues after a re-probe. */
	dev = open_dev(spec("dvd+rw", "media_change=20"), false);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(pkt_blockdev_write(dev, (uint64_t)i * 16, 16, buf), 0);
	ck_assert(mmc_dev_get_counters(dev, &mc));
	ck_assert_uint_eq(mc.unit_attentions, 1);
	ck_assert_uint_ge(mc.reprobes, 1);
	pkt_blockdev_close(dev);

	/* Tray open: a clear message. */
	struct mmc_source_options o = {.quiet = true};
	ck_assert_int_eq(mmc_source_open(spec("dvd+rw", "tray_open=1"), &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "no disc") && strstr(err, "tray open"), "%s", err);

	/* A reset on a CD-RW: the drive forgot page 05h; the backend programs it again and carries on. */
	teardown();
	setup();
	format(spec("cdrw", "size=4M"), false);
	dev = open_dev(spec("cdrw", "reset=30"), false);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(pkt_blockdev_write(dev, (uint64_t)i * 32, 32, buf), 0);
	ck_assert(mmc_dev_get_counters(dev, &mc));
	ck_assert_uint_eq(mc.unit_attentions, 1);
	ck_assert_uint_eq(mc.param_sets, 2);
	struct emu_counters ec = counters(dev);
	ck_assert_uint_eq(ec.refused_writes, 0);
	ck_assert_uint_eq(ec.write_cmds, 20);
	pkt_blockdev_close(dev);
}
END_TEST

/* A different disc behind our back (the sr driver may swallow the unit attention): the fingerprint
 * checked when the cache starts holding dirty data catches it, and nothing is written. */
START_TEST(test_changed_disc)
{
	static uint8_t buf[32 * 2048];
	const char *src = spec("bd-re", "size=4M");

	format(src, false);
	struct pkt_blockdev *dev = open_dev(src, false);
	struct mmc_ctx raw = {.t = mmc_dev_transport(dev), .quiet = true};
	ck_assert_int_eq(mmc_format_unit(&raw, 0x30, 2048, 0, false), 0); /* "another disc" */
	dev->ops->hold(dev, true);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, 32, buf), -ENOMEDIUM);
	ck_assert_int_eq(pkt_blockdev_read(dev, 0, 32, buf), -ENOMEDIUM);
	pkt_blockdev_close(dev);

	/* The same through a unit attention after eject and reload of another disc. */
	dev = open_dev(src, false);
	raw.t = mmc_dev_transport(dev);
	ck_assert_int_eq(mmc_format_unit(&raw, 0x30, 2048, 0, false), 0);
	ck_assert_int_eq(mmc_start_stop(&raw, true, false), 0);
	ck_assert_int_eq(mmc_start_stop(&raw, true, true), 0);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, 32, buf), -ENOMEDIUM);
	struct emu_counters c = counters(dev);
	ck_assert_uint_eq(c.write_cmds, 0); /* nothing reached the other disc */
	struct mmc_dev_counters mc;
	ck_assert(mmc_dev_get_counters(dev, &mc));
	ck_assert_uint_eq(mc.unit_attentions, 1);
	pkt_blockdev_close(dev);
}
END_TEST

/* DVD+RW: usable while it formats in the background; closing stops the background format first. */
START_TEST(test_dvdplusrw_background)
{
	char logp[128], opts[160];
	static uint8_t buf[16 * 2048];

	snprintf(logp, sizeof(logp), "%s/bg.log", dir);
	snprintf(opts, sizeof(opts), "size=64M,log=%s", logp);
	const char *src = spec("dvd+rw", opts);
	struct mmc_format_options fo = {0};
	ck_assert_msg(mmc_cmd_format(src, &fo, err, sizeof(err)) == 0, "%s", err);
	/* In one process, the drive's background format is still running: use the device right away. */
	struct mmc_transport *t = emu_open(src + 4, err, sizeof(err));
	ck_assert_ptr_nonnull(t);
	struct mmc_ctx raw = {.t = t, .quiet = true};
	ck_assert_int_eq(mmc_format_unit(&raw, 0x26, 32768, 0, false), 0);
	struct mmc_disc_info di;
	ck_assert_int_eq(mmc_read_disc_info(&raw, &di), 0);
	ck_assert_uint_eq(di.bg_format, 2);
	ck_assert_int_eq(mmc_write10(&raw, 0, 16, buf), 0);
	mmc_transport_close(t);

	/* Through the backend: its close() stops the background format and waits for it. */
	struct pkt_blockdev *dev = open_dev(src, false);
	raw.t = mmc_dev_transport(dev);
	ck_assert_int_eq(mmc_format_unit(&raw, 0x26, 32768, 0, false), 0);
	ck_assert_int_eq(pkt_blockdev_write(dev, 16, 16, buf), 0);
	pkt_blockdev_close(dev);
	FILE *f = fopen(logp, "r");
	ck_assert_ptr_nonnull(f);
	char line[256];
	unsigned closes = 0;
	bool stopped_after_write = false, wrote = false;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "op=2A lba=16", 12))
			wrote = true;
		if (!strncmp(line, "op=5B", 5) && strstr(line, "GOOD")) {
			closes++;
			stopped_after_write = wrote;
		}
	}
	fclose(f);
	ck_assert_uint_eq(closes, 2);
	ck_assert(stopped_after_write);
}
END_TEST

START_TEST(test_tray_lock)
{
	const char *src = spec("dvd-ram", "size=4M");

	format(src, false);
	struct pkt_blockdev *dev = open_dev(src, false);
	struct mmc_ctx raw = {.t = mmc_dev_transport(dev), .quiet = true};
	dev->ops->hold(dev, true);
	ck_assert_int_ne(mmc_start_stop(&raw, true, false), 0);
	ck_assert_uint_eq(raw.last.asc, 0x53);
	dev->ops->hold(dev, false);
	ck_assert_int_eq(mmc_start_stop(&raw, true, false), 0);
	ck_assert_int_eq(mmc_start_stop(&raw, true, true), 0);
	pkt_blockdev_close(dev);

	/* Unmount while still holding: close flushes (SYNCHRONIZE CACHE) and then unlocks the tray. */
	char logp[128], opts[160];
	snprintf(logp, sizeof(logp), "%s/lock.log", dir);
	snprintf(opts, sizeof(opts), "log=%s", logp);
	dev = open_dev(spec("dvd-ram", opts), false);
	dev->ops->hold(dev, true);
	pkt_blockdev_close(dev);
	FILE *f = fopen(logp, "r");
	ck_assert_ptr_nonnull(f);
	char line[256], last_two[2][8] = {"", ""};
	while (fgets(line, sizeof(line), f)) {
		memcpy(last_two[0], last_two[1], sizeof(last_two[0]));
		snprintf(last_two[1], sizeof(last_two[1]), "%.5s", line);
	}
	fclose(f);
	ck_assert_str_eq(last_two[0], "op=35");
	ck_assert_str_eq(last_two[1], "op=1E");
}
END_TEST

START_TEST(test_format_rules)
{
	const char *src = spec("cdrw", "size=4M");
	struct mmc_format_options fo = {0};
	static uint8_t buf[32 * 2048];

	format(src, false);
	/* A formatted disc is not touched without --force. */
	ck_assert_int_eq(mmc_cmd_format(src, &fo, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "--force"), "%s", err);
	struct pkt_blockdev *dev = open_dev(src, false);
	pattern(buf, 0, 32, 3);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, 32, buf), 0);
	pkt_blockdev_close(dev);
	/* With --force: the CD-RW is blanked first, then formatted; the old data is gone. */
	char logp[128], opts[160];
	snprintf(logp, sizeof(logp), "%s/f.log", dir);
	snprintf(opts, sizeof(opts), "log=%s", logp);
	format(spec("cdrw", opts), true);
	dev = open_dev(src, true);
	ck_assert_int_eq(pkt_blockdev_read(dev, 0, 32, buf), 0);
	for (unsigned i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], 0);
	pkt_blockdev_close(dev);
	FILE *f = fopen(logp, "r");
	ck_assert_ptr_nonnull(f);
	char line[256];
	int blank_at = -1, format_at = -1, n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "op=A1", 5) && strstr(line, "GOOD"))
			blank_at = n;
		if (!strncmp(line, "op=04", 5) && strstr(line, "GOOD"))
			format_at = n;
		n++;
	}
	fclose(f);
	ck_assert_int_ge(blank_at, 0);
	ck_assert_int_gt(format_at, blank_at);
	fo.quick = fo.full = true;
	ck_assert_int_eq(mmc_cmd_format(src, &fo, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_new_disc_capacity)
{
	const struct {
		const char *p;
		uint64_t sectors;
	} caps[] = {
		{"cdrw", 295264}, {"dvd-rw", 2297888}, {"dvd+rw", 2295104}, {"dvd-ram", 2236704}, {"bd-re", 11826176}};
	struct stat st;
	char img[128];

	snprintf(img, sizeof(img), "%s/disc.img", dir);
	const struct emu_open_options create = {.create = true};
	for (unsigned i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct mmc_transport *t = emu_open_opts(spec(caps[i].p, "") + 4, &create, err, sizeof(err));
		ck_assert_msg(t != NULL, "%s", err);
		mmc_transport_close(t);
		ck_assert_int_eq(stat(img, &st), 0);
		ck_assert_uint_eq((uint64_t)st.st_size, caps[i].sectors * 2048);
		ck_assert_uint_lt((uint64_t)st.st_blocks * 512, 1024 * 1024); /* sparse */
		unlink(img);
		char state[160];
		snprintf(state, sizeof(state), "%s.state", img);
		unlink(state);
	}
	/* Formatting a real-size DVD+RW is quick in simulated time, and the capacity is the real one. */
	format(spec("dvd+rw", ""), false);
	struct pkt_blockdev *dev = open_dev(spec("dvd+rw", ""), true);
	ck_assert_uint_eq(dev->geo.sector_count, 2295104);
	pkt_blockdev_close(dev);
}
END_TEST

START_TEST(test_info)
{
	struct mmc_info in;
	const char *src = spec("cd-mrw", "size=4M");

	ck_assert_int_eq(mmc_cmd_info(src, &in, err, sizeof(err)), 0);
	ck_assert(in.have_medium);
	ck_assert_str_eq(in.probe.inq.vendor, "PKTFUSE");
	ck_assert_str_eq(in.probe.inq.product, "EMU cd-mrw");
	ck_assert_str_eq(in.probe.kind, "CD-RW (MRW)");
	ck_assert(!in.probe.formatted);
	ck_assert_int_eq(in.probe.problem_code, MMC_PROBLEM_NEEDS_FORMAT);
	ck_assert_msg(!strstr(in.probe.problem, "pktfuse"), "%s", in.probe.problem);
	format(src, false);
	ck_assert_int_eq(mmc_cmd_info(src, &in, err, sizeof(err)), 0);
	ck_assert(in.probe.formatted && in.have_wear);
	ck_assert_uint_eq(in.probe.packet_sectors, 32);
	ck_assert_uint_eq(in.probe.sectors, 2048);
	ck_assert_int_eq(in.probe.problem_code, MMC_PROBLEM_NONE);
	ck_assert_str_eq(in.probe.problem, "");
	ck_assert(in.have_profiles && in.nprofiles >= 1);
	ck_assert_uint_eq(in.profiles[0].code, 0x000A);
	ck_assert(in.profiles[0].current);
}
END_TEST

/* Sequential whole packets reach the medium's rate; the speed model runs on the simulated clock. */
START_TEST(test_speed_model)
{
	static uint8_t buf[64 * 2048];
	const struct {
		const char *p;
		unsigned x;
	} cases[] = {{"cdrw", 4}, {"dvd+rw", 4}, {"bd-re", 2}};

	for (unsigned k = 0; k < 3; k++) {
		char opts[64];
		snprintf(opts, sizeof(opts), "size=32M,speed=%u", cases[k].x);
		const char *src = spec(cases[k].p, opts);
		format(src, false);
		struct mmc_source_options o = {.quiet = true, .speed = cases[k].x};
		struct pkt_blockdev *dev = NULL;
		ck_assert_int_eq(mmc_source_open(src, &o, &dev, err, sizeof(err)), 1);
		uint32_t ps = dev->geo.packet_sectors;
		struct emu_counters a = counters(dev);
		uint64_t bytes = 0;
		for (uint64_t lba = 0; lba + 64 <= 8192; lba += 64, bytes += 64 * 2048)
			ck_assert_int_eq(pkt_blockdev_write(dev, lba, 64, buf), 0);
		struct emu_counters b = counters(dev);
		double secs = (double)(b.sim_ns - a.sim_ns) / 1e9;
		double ratio = (double)bytes / secs / b.rate_bps;
		ck_assert_msg(ratio >= 0.95 && ratio <= 1.0, "%s %ux sequential ratio %.3f", cases[k].p, cases[k].x,
			      ratio);
		/* Random whole packets: every one pays the access time. */
		a = b;
		uint64_t rbytes = 0;
		for (unsigned i = 0; i < 32; i++, rbytes += ps * 2048)
			ck_assert_int_eq(pkt_blockdev_write(dev, (uint64_t)((i * 7919u) % (8192 / ps)) * ps, ps, buf),
					 0);
		b = counters(dev);
		double rratio = (double)rbytes / ((double)(b.sim_ns - a.sim_ns) / 1e9) / b.rate_bps;
		ck_assert_msg(rratio > 0.01 && rratio < 0.75, "%s random ratio %.3f", cases[k].p, rratio);
		if (getenv("PKTFUSE_BENCH_VERBOSE"))
			fprintf(stderr, "%s %ux: sequential %.3f x medium rate, random packets %.3f x\n", cases[k].p,
				cases[k].x, ratio, rratio);
		pkt_blockdev_close(dev);
		teardown();
		setup();
	}
}
END_TEST

/* realtime=1: the host waits at least the medium's simulated time (a lower bound only: a busy machine
 * may take longer).  64 sectors at CD-RW 4x (~614 kB/s) are ~0.21 s of medium time. */
static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_realtime)
{
	static uint8_t buf[64 * 2048];
	const char *src = spec("cdrw", "size=4M,realtime=1");

	format(src, false);
	struct pkt_blockdev *dev = open_dev(src, false);
	struct emu_counters a = counters(dev);
	ck_assert(a.rate_bps > 0); /* realtime turns the speed model on */
	double t0 = wall_now();
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, 64, buf), 0);
	double wall = wall_now() - t0;
	struct emu_counters b = counters(dev);
	double sim = (double)(b.sim_ns - a.sim_ns) / 1e9;
	ck_assert_msg(sim >= 0.15, "simulated %.3f s", sim);
	ck_assert_msg(wall >= sim, "wall %.3f s < simulated %.3f s", wall, sim);
	pkt_blockdev_close(dev);
}
END_TEST

/* -o speed=N reaches the drive: SET CD SPEED on CD, SET STREAMING on DVD and BD. */
START_TEST(test_speed_option)
{
	const struct {
		const char *p;
		unsigned x;
		double rate_1x;
	} cases[] = {{"cdrw", 4, 153600.0 * 32 / 39}, {"dvd+rw", 2, 1385000.0}, {"bd-re", 1, 4500000.0}};

	for (unsigned k = 0; k < 3; k++) {
		const char *src = spec(cases[k].p, "size=4M,speed=8");
		format(src, false);
		struct mmc_source_options o = {.quiet = true, .speed = cases[k].x};
		struct pkt_blockdev *dev = NULL;
		ck_assert_int_eq(mmc_source_open(src, &o, &dev, err, sizeof(err)), 1);
		struct emu_counters c = counters(dev);
		ck_assert_msg(c.rate_bps > cases[k].rate_1x * cases[k].x * 0.97 &&
				      c.rate_bps < cases[k].rate_1x * cases[k].x * 1.03,
			      "%s: rate %.0f for %ux", cases[k].p, c.rate_bps, cases[k].x);
		char desc[2048];
		dev->ops->describe(dev, desc, sizeof(desc));
		char want[32];
		snprintf(want, sizeof(want), "emu_speed: %u\n", cases[k].x);
		ck_assert_msg(strstr(desc, want) && strstr(desc, "emu_sim_seconds: "), "%s", desc);
		pkt_blockdev_close(dev);
		teardown();
		setup();
	}
}
END_TEST

/* Arbitrary CDBs with arbitrary buffers: the emulator answers every one without crashing (run under
 * ASan/UBSan in the sanitizer build), and a sense-carrying answer is always well formed. */
/* DVD+RW and the write-once media, whose tracks and sessions random RESERVE TRACK and CLOSE TRACK/SESSION
 * commands change. */
static const char *const random_cdb_profiles[] = {"dvd+rw", "cd-r", "dvd-r", "dvd+r", "bd-r"};

START_TEST(test_random_cdbs)
{
	static const uint8_t ops[] = {0x00, 0x03, 0x04, 0x12, 0x1B, 0x1E, 0x23, 0x25, 0x28, 0x2A,
				      0x2F, 0x35, 0x43, 0x46, 0x4A, 0x51, 0x52, 0x53, 0x55, 0x5A,
				      0x5B, 0xA1, 0xA8, 0xAA, 0xAD, 0xB6, 0xBB, 0xFF};
	static uint8_t buf[8192];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	const char *src = spec(random_cdb_profiles[_i], "size=1M");

	format(src, false);
	struct mmc_transport *t = emu_open(src + 4, err, sizeof(err));
	ck_assert_ptr_nonnull(t);
	for (unsigned i = 0; i < 20000; i++) {
		struct mmc_cmd cmd = {0};
		for (unsigned k = 0; k < 16; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			cmd.cdb[k] = (uint8_t)x;
		}
		cmd.cdb[0] = ops[x % sizeof(ops)];
		/* Keep transfers small enough for the buffer most of the time, as a real initiator would. */
		if (x & 0x100) {
			cmd.cdb[2] = cmd.cdb[3] = cmd.cdb[4] = 0;
			cmd.cdb[6] = cmd.cdb[7] = 0;
			cmd.cdb[8] &= 3;
		}
		cmd.cdb_len = 12;
		cmd.dir = (enum mmc_dir)((x >> 20) % 3);
		cmd.len = (uint32_t)((x >> 24) % (sizeof(buf) + 1));
		cmd.buf = cmd.dir == MMC_DIR_NONE ? NULL : buf;
		if (cmd.dir == MMC_DIR_NONE)
			cmd.len = 0;
		if ((cmd.cdb[0] == 0x1B && (cmd.cdb[4] & 3) == 2)) /* keep the tray closed most of the time */
			cmd.cdb[4] = 3;
		ck_assert_int_eq(mmc_transport_exec(t, &cmd), 0);
		ck_assert(cmd.status == MMC_STATUS_GOOD || cmd.status == MMC_STATUS_CHECK);
		if (cmd.status == MMC_STATUS_CHECK) {
			struct mmc_sense sn;
			mmc_sense_decode(cmd.sense, cmd.sense_len, &sn);
			ck_assert(sn.valid && sn.key != 0);
		}
		ck_assert_int_le(cmd.resid, (int32_t)cmd.len);
	}
	struct mmc_cmd nobuf = {
		.cdb = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, .cdb_len = 10, .dir = MMC_DIR_IN, .len = 2048};
	ck_assert_int_eq(mmc_transport_exec(t, &nobuf), 0);
	ck_assert_uint_eq(nobuf.status, MMC_STATUS_CHECK);
	mmc_transport_close(t);
}
END_TEST

START_TEST(test_bad_input)
{
	struct mmc_source_options o = {.quiet = true};
	struct pkt_blockdev *dev = NULL;
	struct mmc_info info;
	char path[160];

	ck_assert_int_eq(mmc_source_open(spec("floppy", ""), &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "unknown profile 'floppy'") && strstr(err, "cdrw"), "%s", err);
	ck_assert_int_eq(mmc_source_open("emu:cdrw:/nonexistent-dir/x/disc.img", &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "no such emulated disc /nonexistent-dir/x/disc.img"), "%s", err);
	struct mmc_format_options nofo = {0};
	ck_assert_int_eq(mmc_cmd_format("emu:cdrw:/nonexistent-dir/x/disc.img", &nofo, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "/nonexistent-dir/x/disc.img") && strstr(err, "No such file"), "%s", err);
	ck_assert_int_eq(mmc_source_open("emu:cdrw", &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "expected emu:PROFILE:IMAGE"), "%s", err);
	ck_assert_int_eq(mmc_source_open("emu:cdrw:", &o, &dev, err, sizeof(err)), -1);
	ck_assert_int_eq(mmc_source_open(spec("cdrw", "size=banana"), &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "bad value for option 'size'"), "%s", err);
	ck_assert_int_eq(mmc_source_open(spec("cdrw", "size=1000"), &o, &dev, err, sizeof(err)), -1);
	ck_assert_int_eq(mmc_source_open(spec("cdrw", "colour=red"), &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "unknown option 'colour'"), "%s", err);
	ck_assert_int_eq(mmc_source_open(spec("cdrw", "speed=0"), &o, &dev, err, sizeof(err)), -1);
	ck_assert_int_eq(mmc_source_open(spec("cdrw", "speed=-3"), &o, &dev, err, sizeof(err)), -1);

	/* A write-protected disc: refused for writing with the reason, served read-only. */
	const char *src = spec("dvd-ram", "size=4M");
	format(src, false);
	enum mmc_problem problem = MMC_PROBLEM_NONE;
	o.problem = &problem;
	ck_assert_int_eq(mmc_source_open(spec("dvd-ram", "ro=1"), &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "write-protected"), "%s", err);
	ck_assert_int_eq(problem, MMC_PROBLEM_WRITE_PROTECTED);
	o.problem = NULL;
	o.read_only = true;
	ck_assert_int_eq(mmc_source_open(spec("dvd-ram", "ro=1"), &o, &dev, err, sizeof(err)), 1);
	pkt_blockdev_close(dev);
	struct mmc_format_options fo = {.force = true};
	ck_assert_int_eq(mmc_cmd_format(spec("dvd-ram", "ro=1"), &fo, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "write-protected"), "%s", err);
	o.read_only = false;

	/* The image of another profile. */
	ck_assert_int_eq(mmc_source_open(spec("bd-re", ""), &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "holds a dvd-ram disc"), "%s", err);

	/* Paths: missing, a directory, a plain image (not ours: 0), a character device that is no drive. */
	snprintf(path, sizeof(path), "%s/missing", dir);
	ck_assert_int_eq(mmc_source_open(path, &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "No such file"), "%s", err);
	ck_assert_int_eq(mmc_source_open(dir, &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "is a directory, not a drive or an image file"), "%s", err);
	snprintf(path, sizeof(path), "%s/disc.img", dir);
	ck_assert_int_eq(mmc_source_open(path, &o, &dev, err, sizeof(err)), 0);
	ck_assert_int_eq(mmc_cmd_info(path, &info, err, sizeof(err)), -1);
	ck_assert_int_eq(mmc_source_open("/dev/null", &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a SCSI/MMC drive"), "%s", err);
	ck_assert_int_eq(mmc_cmd_info("/dev/null", &info, err, sizeof(err)), -1);
	ck_assert_int_eq(mmc_source_open("", &o, &dev, err, sizeof(err)), -1);
	ck_assert_ptr_null(dev);
}
END_TEST

/* Only `format` (or an explicit size=) makes a disc: info and a mount of a missing image say so and
 * create nothing. */
START_TEST(test_missing_disc)
{
	struct mmc_source_options o = {.quiet = true};
	struct pkt_blockdev *dev = NULL;
	struct mmc_info info;
	char img[160], state[176], want[400];
	struct stat st;

	snprintf(img, sizeof(img), "%s/disc.img", dir);
	snprintf(state, sizeof(state), "%s.state", img);
	snprintf(want, sizeof(want), "no such emulated disc %s (pktfuse format emu:cdrw:%s creates one, or give size=)",
		 img, img);
	ck_assert_int_eq(mmc_cmd_info(spec("cdrw", ""), &info, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, want), "%s", err);
	ck_assert_int_eq(mmc_source_open(spec("cdrw", ""), &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, want), "%s", err);
	o.read_only = true;
	ck_assert_int_eq(mmc_source_open(spec("cdrw", ""), &o, &dev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, want), "%s", err);
	ck_assert_int_ne(stat(img, &st), 0);
	ck_assert_int_ne(stat(state, &st), 0);
	/* format creates it, at the profile's capacity */
	format(spec("cdrw", ""), false);
	ck_assert_int_eq(stat(img, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, 295264ull * 2048);
	dev = open_dev(spec("cdrw", ""), true);
	pkt_blockdev_close(dev);
}
END_TEST

/* Runs fn in a child as an unprivileged user when we are root (root ignores permissions): the exit
 * status of fn is the result. */
static int as_nobody(int (*fn)(void))
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(99);
		_exit(fn());
	}
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int format_in_readonly_dir(void)
{
	struct mmc_format_options fo = {.force = true};
	const char *want = "cannot write the emulated disc's state file";

	if (mmc_cmd_format(spec("dvd-ram", ""), &fo, err, sizeof(err)) == 0)
		return 1;
	if (!strstr(err, want) || !strstr(err, "disc.img.state: Permission denied")) {
		fprintf(stderr, "format: %s\n", err);
		return 2;
	}
	struct mmc_source_options o = {.quiet = true};
	struct pkt_blockdev *dev = NULL;
	if (mmc_source_open(spec("dvd-ram", ""), &o, &dev, err, sizeof(err)) != -1 || !strstr(err, want)) {
		fprintf(stderr, "open: %s\n", err);
		return 3;
	}
	/* read-only, the disc is served: nothing needs writing */
	o.read_only = true;
	if (mmc_source_open(spec("dvd-ram", ""), &o, &dev, err, sizeof(err)) != 1) {
		fprintf(stderr, "read-only open: %s\n", err);
		return 4;
	}
	pkt_blockdev_close(dev);
	return 0;
}

static int format_readonly_image(void)
{
	struct mmc_format_options fo = {.force = true};

	if (mmc_cmd_format(spec("dvd-ram", ""), &fo, err, sizeof(err)) == 0)
		return 1;
	if (!strstr(err, "cannot write the emulated disc's image") || !strstr(err, "disc.img: Permission denied")) {
		fprintf(stderr, "format: %s\n", err);
		return 2;
	}
	struct mmc_source_options o = {.quiet = true, .read_only = true};
	struct pkt_blockdev *dev = NULL;
	if (mmc_source_open(spec("dvd-ram", ""), &o, &dev, err, sizeof(err)) != 1) {
		fprintf(stderr, "read-only open: %s\n", err);
		return 3;
	}
	pkt_blockdev_close(dev);
	return 0;
}

/* An emulated disc in a directory the user cannot write: refused at open with the reason, not by a
 * HARDWARE ERROR at the first SYNCHRONIZE CACHE. */
START_TEST(test_readonly_directory)
{
	char img[160], state[176];

	format(spec("dvd-ram", "size=4M"), false);
	snprintf(img, sizeof(img), "%s/disc.img", dir);
	snprintf(state, sizeof(state), "%s.state", img);
	/* the image and its state file are writable by anyone, their directory is not */
	ck_assert_int_eq(chmod(img, 0666), 0);
	ck_assert_int_eq(chmod(state, 0666), 0);
	ck_assert_int_eq(chmod(dir, 0555), 0);
	int rc = as_nobody(format_in_readonly_dir);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_msg(rc == 0, "unprivileged check failed at step %d", rc);
	/* the image itself read-only, in a writable directory */
	ck_assert_int_eq(chmod(img, 0444), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	rc = as_nobody(format_readonly_image);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_msg(rc == 0, "unprivileged check of a read-only image failed at step %d", rc);
}
END_TEST

static void raw_write(struct raw *r, uint32_t lba, uint32_t n, uint32_t seed)
{
	static uint8_t buf[64 * 2048];

	pattern(buf, lba, n, seed);
	ck_assert_int_eq(mmc_write10(&r->ctx, lba, (uint16_t)n, buf), 0);
}

/* Compares sectors [lba, lba+n) of the image file (the medium, not what the drive holds) with seed's
 * pattern; seed 0: zeros. */
static bool medium_has(uint32_t lba, uint32_t n, uint32_t seed)
{
	static uint8_t want[64 * 2048], got[64 * 2048];
	char img[160];

	snprintf(img, sizeof(img), "%s/disc.img", dir);
	int fd = open(img, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, got, (size_t)n * 2048, (off_t)lba * 2048), (ssize_t)n * 2048);
	close(fd);
	if (seed)
		pattern(want, lba, n, seed);
	else
		memset(want, 0, (size_t)n * 2048);
	return memcmp(want, got, (size_t)n * 2048) == 0;
}

/* Writes are held in the drive's cache until SYNCHRONIZE CACHE or until the cache is full; reads see
 * them; closing the drive (it keeps power) writes them. */
START_TEST(test_write_cache)
{
	struct raw r;
	static uint8_t back[16 * 2048], want[16 * 2048];

	format(spec("dvd-ram", "size=4M"), false);
	raw_open(&r, spec("dvd-ram", "wcache=64K")); /* two packets of 16 sectors */
	raw_write(&r, 0, 16, 1);
	raw_write(&r, 32, 8, 2); /* half a packet */
	ck_assert(medium_has(0, 16, 0) && medium_has(32, 8, 0));
	ck_assert_int_eq(mmc_read10(&r.ctx, 28, 8, back), 0); /* the held half and what the medium has */
	pattern(want + 4 * 2048, 32, 4, 2);
	memset(want, 0, 4 * 2048);
	ck_assert(memcmp(back, want, 8 * 2048) == 0);
	struct emu_counters c;
	ck_assert(emu_get_counters(r.t, &c));
	ck_assert_uint_eq(c.held_packets, 2);
	ck_assert_uint_eq(c.destaged_packets, 0);
	raw_write(&r, 64, 16, 3); /* full: the drive writes one held packet of its choosing */
	ck_assert(emu_get_counters(r.t, &c));
	ck_assert_uint_eq(c.held_packets, 2);
	ck_assert_uint_eq(c.destaged_packets, 1);
	ck_assert_int_eq(medium_has(0, 16, 1) + medium_has(32, 8, 2) + medium_has(64, 16, 3), 1);
	ck_assert_int_eq(mmc_sync_cache(&r.ctx, false), 0);
	ck_assert(medium_has(0, 16, 1) && medium_has(32, 8, 2) && medium_has(64, 16, 3));
	ck_assert(medium_has(40, 8, 0));
	raw_write(&r, 0, 16, 4);
	ck_assert(medium_has(0, 16, 1));
	mmc_transport_close(r.t);
	ck_assert(medium_has(0, 16, 4));
	/* wcache=0: straight to the medium */
	raw_open(&r, spec("dvd-ram", "wcache=0"));
	raw_write(&r, 0, 16, 5);
	ck_assert(medium_has(0, 16, 5));
	mmc_transport_close(r.t);
}
END_TEST

/* The state of packet k (16 sectors at 16*k) on the medium after a cut: 0 old (seed 1), 1 new (seed 2),
 * 2 torn (a prefix new, the rest old), 3 anything else. */
/* Writes the control file beside the disc image as a test must: whole, by rename. */
static void control(const char *words)
{
	char tmp[128], path[128];
	snprintf(tmp, sizeof(tmp), "%s/disc.img.ctl.tmp", dir);
	snprintf(path, sizeof(path), "%s/disc.img.ctl", dir);
	FILE *f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fputs(words, f);
	fclose(f);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static bool log_has(const char *path, const char *text)
{
	char line[256];
	bool found = false;
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

/* The control file: the eject button reported once by GET EVENT STATUS NOTIFICATION, the tray forced
 * open and closed again; the tray commands' bits in the log. */
START_TEST(test_control_file)
{
	char logp[128], opts[160], ctl[128];
	uint8_t ev = 9, st = 0;
	struct raw r;

	snprintf(logp, sizeof(logp), "%s/ctl.log", dir);
	snprintf(opts, sizeof(opts), "size=4M,log=%s", logp);
	snprintf(ctl, sizeof(ctl), "%s/disc.img.ctl", dir);
	format(spec("dvd-ram", "size=4M"), false);
	raw_open(&r, spec("dvd-ram", opts));
	ck_assert_int_eq(mmc_get_event_status(&r.ctx, &ev, &st), 0);
	ck_assert_uint_eq(ev, 0);
	ck_assert_uint_eq(st, 0x02);

	control("eject_button\n");
	ck_assert_int_eq(mmc_prevent_allow(&r.ctx, true), 0);
	ck_assert_int_ne(access(ctl, F_OK), 0); /* consumed */
	ck_assert_int_eq(mmc_get_event_status(&r.ctx, &ev, &st), 0);
	ck_assert_uint_eq(ev, 1); /* EjectRequest */
	ck_assert_uint_eq(st, 0x02);
	ck_assert_int_eq(mmc_get_event_status(&r.ctx, &ev, &st), 0);
	ck_assert_uint_eq(ev, 0); /* reported once */
	/* the button does not open a locked tray; the host unlocks and ejects */
	ck_assert_int_ne(mmc_start_stop(&r.ctx, true, false), 0);
	ck_assert_int_eq(mmc_prevent_allow(&r.ctx, false), 0);
	ck_assert_int_eq(mmc_start_stop(&r.ctx, true, false), 0);
	ck_assert_int_eq(mmc_start_stop(&r.ctx, true, true), 0);
	ck_assert(log_has(logp, "op=1E prevent=1 status=GOOD"));
	ck_assert(log_has(logp, "op=1E prevent=0 status=GOOD"));
	ck_assert(log_has(logp, "op=1B loej=1 start=0 status=CHECK"));
	ck_assert(log_has(logp, "op=1B loej=1 start=1 status=GOOD"));

	/* forced open under a lock: no medium, MediaRemoval; closed again: a unit attention, NewMedia */
	ck_assert_int_eq(mmc_prevent_allow(&r.ctx, true), 0);
	control("tray_open");
	uint32_t last, bl;
	expect_sense(&r, mmc_read_capacity(&r.ctx, &last, &bl), 2, 0x3A, 0x02);
	ck_assert_int_eq(mmc_get_event_status(&r.ctx, &ev, &st), 0);
	ck_assert_uint_eq(ev, 3);
	ck_assert_uint_eq(st, 0x01);
	control("tray_close");
	r.ctx.return_unit_attention = true;
	expect_sense(&r, mmc_read_capacity(&r.ctx, &last, &bl), 6, 0x28, 0x00);
	ck_assert_int_eq(mmc_read_capacity(&r.ctx, &last, &bl), 0);
	ck_assert_int_eq(mmc_get_event_status(&r.ctx, &ev, &st), 0);
	ck_assert_uint_eq(ev, 2);
	ck_assert_uint_eq(st, 0x02);
	ck_assert(log_has(logp, "control=tray_open"));

	/* a word the drive does not know: logged, nothing else */
	control("sneeze");
	ck_assert_int_eq(mmc_get_event_status(&r.ctx, &ev, &st), 0);
	ck_assert_uint_eq(ev, 0);
	ck_assert(log_has(logp, "control=unknown"));
	mmc_transport_close(r.t);
}
END_TEST

/* sha-free identity of an image: its bytes compared with a saved copy */
static void copy_file(const char *from, const char *to)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	ck_assert_int_eq(system(cmd), 0);
}

static bool same_file(const char *a, const char *b)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

/* The disc taken out under the backend and put back: the same disc is written again; another disc
 * (another image put in while the tray was open) is never written, and the first one, back again,
 * is. */
START_TEST(test_disc_taken_out)
{
	static uint8_t buf[16 * 2048], got[16 * 2048];
	char img[128], other[128], saved[128], first[128];
	const char *src = spec("dvd+rw", "size=4M");

	snprintf(img, sizeof(img), "%s/disc.img", dir);
	snprintf(other, sizeof(other), "%s/other.img", dir);
	snprintf(saved, sizeof(saved), "%s/other.copy", dir);
	snprintf(first, sizeof(first), "%s/first.img", dir);
	/* another disc of the same kind and size, formatted the same way */
	format(src, false);
	ck_assert_int_eq(rename(img, other), 0);
	char st1[160], st2[160];
	snprintf(st1, sizeof(st1), "%s.state", img);
	snprintf(st2, sizeof(st2), "%s.state", other);
	ck_assert_int_eq(rename(st1, st2), 0);
	format(src, false);
	copy_file(other, saved);

	struct pkt_blockdev *dev = open_dev(spec("dvd+rw", ""), false);
	pattern(buf, 0, 16, 7);
	ck_assert_int_eq(pkt_blockdev_write(dev, 0, 16, buf), 0);
	control("tray_open");
	ck_assert_int_ne(pkt_blockdev_write(dev, 16, 16, buf), 0);
	ck_assert_int_ne(pkt_blockdev_write(dev, 16, 16, buf), 0); /* still away */
	control("tray_close");
	ck_assert_int_eq(pkt_blockdev_write(dev, 16, 16, buf), 0); /* the same disc: written */
	ck_assert_int_eq(pkt_blockdev_read(dev, 16, 16, got), 0);
	ck_assert_mem_eq(got, buf, sizeof(buf));

	/* another disc put in the drive while the tray is open */
	control("tray_open");
	ck_assert_int_ne(pkt_blockdev_read(dev, 0, 16, got), 0);
	ck_assert_int_eq(rename(img, first), 0);
	char stf[160];
	snprintf(stf, sizeof(stf), "%s.state", first);
	ck_assert_int_eq(rename(st1, stf), 0);
	ck_assert_int_eq(rename(other, img), 0);
	ck_assert_int_eq(rename(st2, st1), 0);
	control("tray_close");
	pattern(buf, 32, 16, 8);
	ck_assert_int_eq(pkt_blockdev_write(dev, 32, 16, buf), -ENOMEDIUM);
	ck_assert_int_eq(pkt_blockdev_write(dev, 32, 16, buf), -ENOMEDIUM);
	ck_assert_int_eq(pkt_blockdev_sync(dev), -ENOMEDIUM);

	/* and the first disc back */
	control("tray_open");
	ck_assert_int_ne(pkt_blockdev_write(dev, 32, 16, buf), 0);
	ck_assert_int_eq(rename(img, other), 0);
	ck_assert_int_eq(rename(st1, st2), 0);
	ck_assert_int_eq(rename(first, img), 0);
	ck_assert_int_eq(rename(stf, st1), 0);
	control("tray_close");
	ck_assert_int_eq(pkt_blockdev_write(dev, 32, 16, buf), 0);
	ck_assert_int_eq(pkt_blockdev_sync(dev), 0);
	pkt_blockdev_close(dev);
	ck_assert_msg(same_file(other, saved), "the other disc was written");
}
END_TEST

static int packet_state(uint32_t k)
{
	uint32_t lba = k * 16, s = 0;

	while (s < 16 && medium_has(lba + s, 1, 2))
		s++;
	if (s == 16)
		return 1;
	if (!medium_has(lba + s, 16 - s, 1))
		return 3;
	return s ? 2 : 0;
}

/* A power cut: every held packet lands whole or not at all (torn: also a prefix of it), by the seed;
 * what was synced stays; every later command fails as from a drive that is gone. */
START_TEST(test_power_cut)
{
	unsigned seen[2][4] = {{0}};

	format(spec("dvd-ram", "size=4M"), false);
	for (uint64_t seed = 1; seed <= 12; seed++)
		for (int torn = 0; torn < 2; torn++) {
			struct raw r;
			raw_open(&r, spec("dvd-ram", "wcache=1M"));
			for (uint32_t k = 0; k < 8; k++)
				raw_write(&r, k * 16, 16, 1);
			ck_assert_int_eq(mmc_sync_cache(&r.ctx, false), 0);
			for (uint32_t k = 0; k < 8; k++)
				raw_write(&r, k * 16, 16, 2);
			struct emu_power_cut pc = {.after = 0, .torn = torn, .seed = seed};
			ck_assert_int_eq(emu_set_power_cut(r.t, &pc), 0);
			ck_assert_int_eq(mmc_test_unit_ready(&r.ctx), -ENODEV);
			ck_assert_int_eq(mmc_write10(&r.ctx, 0, 16, (uint8_t[16 * 2048]){0}), -ENODEV);
			struct emu_counters c;
			ck_assert(emu_get_counters(r.t, &c));
			ck_assert(c.powered_off);
			ck_assert_uint_eq(c.cut_written + c.cut_lost + c.cut_torn, 8);
			mmc_transport_close(r.t);
			unsigned torn_seen = 0;
			for (uint32_t k = 0; k < 8; k++) {
				int st = packet_state(k);
				ck_assert_msg(st != 3 && (torn || st != 2), "seed %llu torn %d: packet %u in state %d",
					      (unsigned long long)seed, torn, k, st);
				seen[torn][st]++;
				torn_seen += st == 2;
			}
			ck_assert_uint_eq(torn_seen, c.cut_torn);
		}
	/* over the seeds, each fate happened */
	ck_assert(seen[0][0] && seen[0][1] && seen[1][0] && seen[1][1] && seen[1][2]);
	/* power_cut=N: the drive goes after its Nth command; the same seed, the same outcome */
	unsigned outcome[2] = {0, 0};
	for (int run = 0; run < 2; run++) {
		struct raw r;
		raw_open(&r, spec("dvd-ram", ""));
		for (uint32_t k = 0; k < 8; k++)
			raw_write(&r, k * 16, 16, 1);
		ck_assert_int_eq(mmc_sync_cache(&r.ctx, false), 0);
		mmc_transport_close(r.t);
		raw_open(&r, spec("dvd-ram", "wcache=1M,seed=7,torn=1,power_cut=8"));
		for (uint32_t k = 0; k < 8; k++)
			raw_write(&r, k * 16, 16, 2);
		ck_assert_int_eq(mmc_sync_cache(&r.ctx, false), -ENODEV);
		mmc_transport_close(r.t);
		for (uint32_t k = 0; k < 8; k++)
			outcome[run] |= (unsigned)packet_state(k) << (2 * k);
	}
	ck_assert_uint_eq(outcome[0], outcome[1]);
	ck_assert_uint_ne(outcome[0], 0x5555); /* not everything landed: the cut lost or tore something */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("emu");
	TCase *tc = tcase_create("emu");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_profile_end_to_end, 0, sizeof(profs) / sizeof(profs[0]));
	tcase_add_test(tc, test_rule_violations);
	tcase_add_test(tc, test_wear_limit);
	tcase_add_test(tc, test_faults);
	tcase_add_test(tc, test_changed_disc);
	tcase_add_test(tc, test_tray_lock);
	tcase_add_test(tc, test_dvdplusrw_background);
	tcase_add_test(tc, test_format_rules);
	tcase_add_test(tc, test_new_disc_capacity);
	tcase_add_test(tc, test_info);
	tcase_add_test(tc, test_speed_model);
	tcase_add_test(tc, test_speed_option);
	tcase_add_test(tc, test_realtime);
	tcase_add_loop_test(tc, test_random_cdbs, 0, sizeof(random_cdb_profiles) / sizeof(random_cdb_profiles[0]));
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_missing_disc);
	tcase_add_test(tc, test_readonly_directory);
	tcase_add_test(tc, test_write_cache);
	tcase_add_test(tc, test_power_cut);
	tcase_add_test(tc, test_control_file);
	tcase_add_test(tc, test_disc_taken_out);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
