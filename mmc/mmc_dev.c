/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "mmc_dev.h"
#include "mmc_ops.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest transfer per command: 64 KiB, one CD or BD packet.  Some USB bridges cap a command at 120 KiB,
 * and an SG_IO above the queue's limit fails outright instead of being split. */
#define MAX_XFER_SECTORS 32u

struct mmc_dev {
	struct pkt_blockdev dev;
	struct mmc_ctx ctx;
	struct mmc_probe probe;
	char source[256];
	pthread_mutex_t lock; /* one command at a time on the drive */
	bool params_set, locked, gone;
	unsigned speed;
	struct mmc_dev_counters c;
};

static struct mmc_dev *to_mmc(struct pkt_blockdev *dev)
{
	return (struct mmc_dev *)dev;
}

static bool is_cd(uint16_t profile)
{
	return profile >= 0x08 && profile <= 0x0A;
}

/* Speed in the drive's kB/s: CD "x" is 176.4 kB/s in MMC's units, DVD 1385, BD 4496. */
static uint32_t speed_kbs(uint16_t profile, unsigned x)
{
	if (is_cd(profile))
		return x * 1764u / 10;
	return x * (profile >= 0x40 ? 4496u : 1385u);
}

static int set_speed(struct mmc_dev *m)
{
	if (!m->speed)
		return 0;
	uint32_t kbs = speed_kbs(m->probe.profile, m->speed);
	if (is_cd(m->probe.profile))
		return mmc_set_cd_speed(&m->ctx, 0xffff, (uint16_t)(kbs > 0xfffe ? 0xfffe : kbs));
	return mmc_set_streaming(&m->ctx, m->probe.sectors ? m->probe.sectors - 1 : 0, 0xffffffffu, kbs);
}

/* After a unit attention (or when the drive complains), make sure the disc is still the one we probed
 * before touching it: the sr driver may have swallowed the attention, so compare fingerprints. */
static int recheck(struct mmc_dev *m)
{
	struct mmc_probe p;
	char err[256];

	m->ctx.unit_attention = false;
	m->c.reprobes++;
	m->ctx.return_unit_attention = false;
	int rc = mmc_probe_medium(&m->ctx, m->source, &p, err, sizeof(err));
	m->ctx.return_unit_attention = true;
	if (rc || p.fingerprint != m->probe.fingerprint) {
		if (!m->ctx.quiet)
			mmc_log("%s: %s", m->source, rc ? err : "the disc was changed: refusing to touch the new one");
		m->gone = true;
		return rc ? rc : -ENOMEDIUM;
	}
	/* A reset forgets the mode pages and the speed. */
	m->params_set = false;
	set_speed(m);
	if (m->locked)
		mmc_prevent_allow(&m->ctx, true);
	return 0;
}

/* CD-RW in fixed packets and DVD-RW in restricted overwrite refuse anything but whole packets. */
static bool needs_whole_packets(const struct mmc_probe *p)
{
	return (p->profile == MMC_PROFILE_CDRW && !p->mrw) || p->profile == MMC_PROFILE_DVDRW_RO;
}

static int settle(struct mmc_dev *m)
{
	if (m->gone)
		return -ENOMEDIUM;
	if (m->ctx.unit_attention)
		return recheck(m);
	return 0;
}

/* A medium error in a multi-sector read: read sector by sector so that the good sectors are returned
 * and exactly the bad ones are reported. */
static int read_salvage(struct mmc_dev *m, uint32_t lba, uint32_t n, uint8_t *buf)
{
	int result = 0;

	for (uint32_t i = 0; i < n; i++) {
		int rc = mmc_read10(&m->ctx, lba + i, 1, buf + (size_t)i * PKT_SECTOR_SIZE);
		if (rc) {
			memset(buf + (size_t)i * PKT_SECTOR_SIZE, 0, PKT_SECTOR_SIZE);
			m->c.bad_sectors++;
			result = rc;
		}
	}
	return result;
}

static int write_params(struct mmc_dev *m)
{
	if (m->params_set || m->probe.profile != MMC_PROFILE_CDRW || m->probe.mrw)
		return 0;
	int rc = mmc_set_write_params_fixed(&m->ctx, m->probe.packet_sectors);
	if (rc)
		return rc;
	m->c.param_sets++;
	m->params_set = true;
	return 0;
}

/* One READ(10)/WRITE(10) of a chunk.  A unit attention is not retried blindly (the command did not run,
 * and the disc may be another one): the disc is checked first, then the command is sent again. */
static int chunk_io(struct mmc_dev *m, uint32_t lba, uint16_t n, uint8_t *buf, bool write)
{
	bool params_retried = false;

	for (unsigned tries = 0;; tries++) {
		int rc = write ? write_params(m) : 0;
		if (!rc)
			rc = write ? mmc_write10(&m->ctx, lba, n, buf) : mmc_read10(&m->ctx, lba, n, buf);
		if (rc == -EAGAIN && tries < 3) {
			rc = recheck(m);
			if (rc)
				return rc;
			continue;
		}
		if (write && rc && !params_retried && m->ctx.last.valid && m->ctx.last.key == MMC_SK_ILLEGAL_REQUEST &&
		    m->ctx.last.asc == MMC_ASC_ILLEGAL_MODE_FOR_TRACK) {
			/* The drive lost the write parameters (reset, another program): set them again once. */
			params_retried = true;
			m->params_set = false;
			continue;
		}
		if (!write && rc == -EIO && mmc_sense_classify(&m->ctx.last) == MMC_SC_MEDIUM)
			rc = read_salvage(m, lba, n, buf);
		return rc;
	}
}

static int transfer(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, uint8_t *buf, bool write)
{
	struct mmc_dev *m = to_mmc(dev);
	int rc;

	/* Chunks of whole packets: MAX_XFER_SECTORS is a multiple of every packet size we accept. */
	uint32_t chunk = MAX_XFER_SECTORS / dev->geo.packet_sectors * dev->geo.packet_sectors;
	if (!chunk)
		chunk = MAX_XFER_SECTORS;
	pthread_mutex_lock(&m->lock);
	rc = settle(m);
	while (!rc && count) {
		uint32_t n = count < chunk ? count : chunk;
		if (write)
			m->c.write_cmds++;
		else
			m->c.read_cmds++;
		rc = chunk_io(m, (uint32_t)lba, (uint16_t)n, buf, write);
		lba += n;
		count -= n;
		buf += (size_t)n * PKT_SECTOR_SIZE;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int read_cb(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, void *buf)
{
	return transfer(dev, lba, count, buf, false);
}

static int write_cb(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, const void *buf)
{
	/* transfer() only reads from buf when writing. */
	return transfer(dev, lba, count, (uint8_t *)buf, true);
}

static int sync_cb(struct pkt_blockdev *dev)
{
	struct mmc_dev *m = to_mmc(dev);
	int rc;

	if (!dev->geo.writable)
		return 0;
	pthread_mutex_lock(&m->lock);
	rc = settle(m);
	if (!rc) {
		m->c.sync_cmds++;
		rc = mmc_sync_cache(&m->ctx, false);
		if (rc == -EAGAIN) {
			rc = recheck(m);
			if (!rc)
				rc = mmc_sync_cache(&m->ctx, false);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static void hold_cb(struct pkt_blockdev *dev, bool dirty)
{
	struct mmc_dev *m = to_mmc(dev);

	pthread_mutex_lock(&m->lock);
	/* About to hold data for this disc: make sure it still is the disc we probed, even if the unit
	 * attention that would have told us was swallowed on the way. */
	if (dirty && !m->locked && !m->gone)
		recheck(m);
	/* Lock the tray while data lives only in our cache: ejecting now would lose it. */
	if (dirty != m->locked && !m->gone && mmc_prevent_allow(&m->ctx, dirty) == 0)
		m->locked = dirty;
	pthread_mutex_unlock(&m->lock);
}

/* A DVD+RW still formatting in the background must have that stopped and a lead-out written before it
 * leaves the drive, or other drives may not read it.  BD-RE and DVD-RAM need only the flush. */
static void finish_dvdplusrw(struct mmc_dev *m)
{
	struct mmc_disc_info di;

	if (m->probe.profile != MMC_PROFILE_DVDPRW || m->probe.mrw || mmc_read_disc_info(&m->ctx, &di) ||
	    di.bg_format != 2)
		return;
	if (mmc_close_track_session(&m->ctx, 0, 0) || mmc_close_track_session(&m->ctx, 2, 0))
		return;
	/* Some drives answer TEST UNIT READY too early after CLOSE: watch the disc information instead. */
	for (unsigned i = 0; i < 600 && mmc_read_disc_info(&m->ctx, &di) == 0 && di.bg_format == 2; i++)
		mmc_transport_sleep(m->ctx.t, 100);
}

static void close_cb(struct pkt_blockdev *dev)
{
	struct mmc_dev *m = to_mmc(dev);

	if (!m->gone && dev->geo.writable) {
		mmc_sync_cache(&m->ctx, false);
		finish_dvdplusrw(m);
	}
	if (m->locked && !m->gone)
		mmc_prevent_allow(&m->ctx, false);
	mmc_transport_close(m->ctx.t);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static size_t describe_cb(struct pkt_blockdev *dev, char *buf, size_t len)
{
	struct mmc_dev *m = to_mmc(dev);
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = mmc_appendf(buf, len,
			"backend: mmc\n"
			"mmc_drive: %s %s %s\n"
			"mmc_medium: %s\n"
			"mmc_packet_sectors: %" PRIu32 "\n"
			"mmc_read_commands: %" PRIu64 "\n"
			"mmc_write_commands: %" PRIu64 "\n"
			"mmc_sync_commands: %" PRIu64 "\n"
			"mmc_retries: %" PRIu64 "\n"
			"mmc_unit_attentions: %" PRIu64 "\n"
			"mmc_errors: %" PRIu64 "\n"
			"mmc_bad_sectors: %" PRIu64 "\n",
			m->probe.inq.vendor, m->probe.inq.product, m->probe.inq.revision, m->probe.kind,
			dev->geo.packet_sectors, m->c.read_cmds, m->c.write_cmds, m->c.sync_cmds, m->ctx.retries,
			m->ctx.unit_attentions, m->ctx.errors, m->c.bad_sectors);
	if (m->ctx.t->ops->describe && n < len)
		n += m->ctx.t->ops->describe(m->ctx.t, buf + n, len - n);
	pthread_mutex_unlock(&m->lock);
	return n;
}

static const struct pkt_blockdev_ops mmc_ops = {
	.read = read_cb,
	.write = write_cb,
	.sync = sync_cb,
	.close = close_cb,
	.hold = hold_cb,
	.describe = describe_cb,
};

uint16_t mmc_dev_profile(struct pkt_blockdev *dev)
{
	if (!dev || dev->ops != &mmc_ops)
		return 0;
	struct mmc_dev *m = to_mmc(dev);
	pthread_mutex_lock(&m->lock);
	uint16_t profile = m->probe.profile;
	pthread_mutex_unlock(&m->lock);
	return profile;
}

bool mmc_dev_get_counters(struct pkt_blockdev *dev, struct mmc_dev_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (!dev || dev->ops != &mmc_ops)
		return false;
	struct mmc_dev *m = to_mmc(dev);
	pthread_mutex_lock(&m->lock);
	*out = m->c;
	out->retries = m->ctx.retries;
	out->unit_attentions = m->ctx.unit_attentions;
	out->errors = m->ctx.errors;
	pthread_mutex_unlock(&m->lock);
	return true;
}

struct mmc_transport *mmc_dev_transport(struct pkt_blockdev *dev)
{
	return dev && dev->ops == &mmc_ops ? to_mmc(dev)->ctx.t : NULL;
}

void mmc_dev_set_quiet(struct pkt_blockdev *dev, bool quiet)
{
	if (dev && dev->ops == &mmc_ops)
		to_mmc(dev)->ctx.quiet = quiet;
}

struct pkt_blockdev *mmc_dev_open(struct mmc_transport *t, const char *source, const struct mmc_dev_options *opt,
				  char *err, size_t errlen)
{
	struct mmc_dev *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "out of memory");
		mmc_transport_close(t);
		return NULL;
	}
	m->ctx.t = t;
	m->ctx.quiet = opt->quiet;
	m->ctx.return_unit_attention = true;
	snprintf(m->source, sizeof(m->source), "%s", source);
	pthread_mutex_init(&m->lock, NULL);
	if (mmc_probe_medium(&m->ctx, m->source, &m->probe, err, errlen))
		goto fail;
	bool readable = m->probe.formatted || (m->probe.sectors && !m->probe.packet_writable);
	if (!readable || (!opt->read_only && m->probe.problem[0])) {
		snprintf(err, errlen, "%s: %s", source, m->probe.problem[0] ? m->probe.problem : "unusable disc");
		goto fail;
	}
	m->dev.ops = &mmc_ops;
	m->dev.priv = m;
	m->dev.geo.sector_size = PKT_SECTOR_SIZE;
	m->dev.geo.packet_sectors = m->probe.packet_sectors;
	m->dev.geo.sector_count = m->probe.sectors;
	m->dev.geo.writable = !opt->read_only;
	m->dev.geo.whole_packets = needs_whole_packets(&m->probe);
	m->speed = opt->speed;
	if (set_speed(m) && !opt->quiet)
		mmc_log("%s: the drive did not accept speed %ux; using its default", source, opt->speed);
	return &m->dev;
fail:
	mmc_transport_close(t);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}
