/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "mmc_dev.h"
#include "mmc_ops.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The statistics' lines (describe) as the I/O path left them: what `pktfuse status` shows without
 * waiting for the drive. */
#define STATS_TEXT_MAX 3072u

/* Largest transfer per command: 64 KiB, one CD or BD packet.  Some USB bridges cap a command at 120 KiB,
 * and an SG_IO above the queue's limit fails outright instead of being split. */
#define MAX_XFER_SECTORS 32u

/*
 * Locks.  `lock`: one command at a time on the drive, held across the drive's commands (at real speed a
 * transfer of 1 MiB to a CD-RW takes 1.5 s).  Taken by the cache's flusher (write, hold), by any thread
 * that reads through the cache (FUSE workers, the flusher gathering, a rescue: read), by the thread
 * that flushes (fsync, the committer, unmount: sync), by the eject button's poller (poll_event) and by
 * whoever closes a session or asks where a write-once disc stands.  Never by the statistics.
 * `stats_lock`: a leaf, held only while `stats` is rendered or copied (microseconds: no I/O, no other
 * lock taken under it).  The thread that ends a section of commands renders the statistics into
 * `stats` before it lets go of `lock` (publish_stats); describe and mmc_dev_get_counters, on whichever
 * thread formats the statistics (the daemon's FUSE loop), copy them out.  So the statistics are as of
 * the last section of commands, and reading them never waits for the drive.
 */
struct mmc_stats {
	struct mmc_dev_counters c;
	size_t text_len;
	char text[STATS_TEXT_MAX];
};

struct mmc_dev {
	struct pkt_blockdev dev;
	struct mmc_ctx ctx;
	struct mmc_probe probe;
	char source[256];
	pthread_mutex_t lock; /* one command at a time on the drive (see above) */
	pthread_mutex_t stats_lock;
	struct mmc_stats stats; /* under stats_lock */
	bool params_set, locked;
	bool gone;	     /* the disc we probed is not in the drive: nothing is sent to another one */
	uint64_t refused_fp; /* the other disc last refused (told once), 0: none */
	unsigned speed;
	uint32_t nwa; /* write-once media: where the next write must start, tracked after each write */
	struct mmc_dev_counters c;
};

static struct mmc_dev *to_mmc(struct pkt_blockdev *dev)
{
	return (struct mmc_dev *)dev;
}

static void publish_stats(struct mmc_dev *m);

static void lock_drive(struct mmc_dev *m)
{
	pthread_mutex_lock(&m->lock);
}

/* Every section of commands ends here: the statistics are brought up to date first. */
static void unlock_drive(struct mmc_dev *m)
{
	publish_stats(m);
	pthread_mutex_unlock(&m->lock);
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
		/* Told once per change: while the disc is away every access looks again. */
		bool tell = rc ? !m->gone : p.fingerprint != m->refused_fp;
		if (!m->ctx.quiet && tell)
			mmc_log("%s: %s", m->source, rc ? err : "the disc was changed: refusing to touch the new one");
		m->refused_fp = rc ? m->refused_fp : p.fingerprint;
		m->gone = true;
		return rc ? rc : -ENOMEDIUM;
	}
	if (m->gone && !m->ctx.quiet)
		mmc_log("%s: the disc is back (the same one): going on with it", m->source);
	m->gone = false;
	m->refused_fp = 0;
	/* A reset forgets the mode pages and the speed; a disc taken out and back, the tray's lock. */
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
	/* The disc we probed may come back: looked for at every access while it is away. */
	if (m->gone)
		return recheck(m) ? -ENOMEDIUM : 0;
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

/* Page 05h where the medium needs it: CD-RW fixed packets; CD-R packet writing with variable packets
 * and DVD-R incremental recording, both keeping the disc appendable when a session is closed (the
 * multi-session field; close_session(FINALIZE) changes it).  DVD+R and BD-R ignore the page. */
static bool needs_write_params(const struct mmc_probe *p)
{
	return (p->profile == MMC_PROFILE_CDRW && !p->mrw) || p->profile == MMC_PROFILE_CDR ||
	       p->profile == MMC_PROFILE_DVDR;
}

static int write_params(struct mmc_dev *m)
{
	if (m->params_set || !needs_write_params(&m->probe))
		return 0;
	int rc = m->probe.write_once ? mmc_set_write_params_incremental(&m->ctx, true)
				     : mmc_set_write_params_fixed(&m->ctx, m->probe.packet_sectors);
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

/* Write-once media: the NWA after a write of n sectors at lba (the drive pads DVD±R and BD-R writes to
 * their unit; a CD-R packet is followed by its link blocks). */
static uint32_t nwa_after(const struct mmc_dev *m, uint32_t lba, uint32_t n)
{
	uint32_t unit = m->probe.profile == MMC_PROFILE_CDR ? 1 : m->probe.packet_sectors;

	return (lba + n + unit - 1) / unit * unit + m->probe.link_sectors;
}

/* Write-once media: reads where the disc stands from the drive (after a refused write or a close). */
static int refresh_append(struct mmc_dev *m)
{
	/* Quiet: some of these (READ TOC of an open disc) fail on some drives and matter little. */
	bool quiet = m->ctx.quiet;
	m->ctx.quiet = true;
	int rc = mmc_probe_append(&m->ctx, &m->probe);
	m->ctx.quiet = quiet;

	if (!rc)
		m->nwa = m->probe.nwa_valid ? m->probe.nwa : (uint32_t)m->dev.geo.sector_count;
	return rc;
}

/* A write to a write-once medium: only at the NWA, and on CD-R one packet per WRITE command. */
static int append_write(struct mmc_dev *m, uint32_t lba, uint32_t count, uint8_t *buf)
{
	if (lba != m->nwa || (m->probe.link_sectors && count > m->dev.geo.packet_sectors)) {
		if (!m->ctx.quiet)
			mmc_log("%s: refusing a write of %" PRIu32 " sectors at %" PRIu32 ": the NWA is %" PRIu32 "%s",
				m->source, count, lba, m->nwa,
				m->probe.link_sectors ? " and a CD-R write is one packet" : "");
		return -EINVAL;
	}
	m->c.write_cmds++;
	int rc = chunk_io(m, lba, (uint16_t)count, buf, true);
	if (rc)
		refresh_append(m);
	else
		m->nwa = nwa_after(m, lba, count);
	return rc;
}

static int transfer(struct pkt_blockdev *dev, uint64_t lba, uint32_t count, uint8_t *buf, bool write)
{
	struct mmc_dev *m = to_mmc(dev);
	int rc;

	if (write && dev->geo.append_only) {
		lock_drive(m);
		rc = settle(m);
		/* DVD±R and BD-R: pieces of at most a transfer's worth, each at the NWA the last one left. */
		while (!rc && count) {
			uint32_t n = m->probe.link_sectors || count <= MAX_XFER_SECTORS ? count : MAX_XFER_SECTORS;
			rc = append_write(m, (uint32_t)lba, n, buf);
			lba += n;
			count -= n;
			buf += (size_t)n * PKT_SECTOR_SIZE;
		}
		unlock_drive(m);
		return rc;
	}
	/* Chunks of whole packets: MAX_XFER_SECTORS is a multiple of every packet size we accept. */
	uint32_t chunk = MAX_XFER_SECTORS / dev->geo.packet_sectors * dev->geo.packet_sectors;
	if (!chunk)
		chunk = MAX_XFER_SECTORS;
	lock_drive(m);
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
	unlock_drive(m);
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
	lock_drive(m);
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
	unlock_drive(m);
	return rc;
}

static void hold_cb(struct pkt_blockdev *dev, bool dirty)
{
	struct mmc_dev *m = to_mmc(dev);

	lock_drive(m);
	/* About to hold data for this disc: make sure it still is the disc we probed, even if the unit
	 * attention that would have told us was swallowed on the way. */
	if (dirty && !m->locked && !m->gone)
		recheck(m);
	/* Lock the tray while data lives only in our cache: ejecting now would lose it. */
	if (dirty != m->locked && !m->gone && mmc_prevent_allow(&m->ctx, dirty) == 0)
		m->locked = dirty;
	unlock_drive(m);
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
	pthread_mutex_destroy(&m->stats_lock);
	free(m);
}

static void fill_append_state(const struct mmc_probe *p, struct pkt_append_state *out)
{
	memset(out, 0, sizeof(*out));
	out->next_writable = p->nwa;
	out->free_sectors = p->free_sectors;
	out->recorded = p->recorded;
	out->last_recorded = p->last_recorded;
	out->session_start = p->session_start;
	out->sessions = p->disc_status == 0 ? 0 : p->sessions;
	out->closed = p->finalized;
}

static int append_state_cb(struct pkt_blockdev *dev, struct pkt_append_state *out)
{
	struct mmc_dev *m = to_mmc(dev);

	lock_drive(m);
	int rc = settle(m);
	if (!rc)
		rc = refresh_append(m);
	if (!rc)
		fill_append_state(&m->probe, out);
	unlock_drive(m);
	return rc;
}

/* CLOSE TRACK/SESSION as the medium has it: CD-R and DVD-R close a session (function 010b) that leaves
 * the disc appendable when page 05h's multi-session field is 11b and finalize it when it is 00b;
 * DVD+R and BD-R close a session with 010b and finalize with 110b. */
static int close_on_drive(struct mmc_dev *m, enum pkt_close_kind kind)
{
	uint16_t prof = m->probe.profile;
	bool dash = prof == MMC_PROFILE_CDR || prof == MMC_PROFILE_DVDR;

	if (kind == PKT_CLOSE_TRACK)
		return mmc_close_track_session(&m->ctx, 1, m->probe.tracks);
	if (dash) {
		m->params_set = false; /* the next write sets the multi-session field back to 11b */
		int rc = mmc_set_write_params_incremental(&m->ctx, kind == PKT_CLOSE_SESSION);
		if (rc)
			return rc;
		return mmc_close_track_session(&m->ctx, 2, 0);
	}
	return mmc_close_track_session(&m->ctx, kind == PKT_CLOSE_SESSION ? 2 : 6, 0);
}

static int close_session_cb(struct pkt_blockdev *dev, enum pkt_close_kind kind)
{
	struct mmc_dev *m = to_mmc(dev);

	if (!dev->geo.writable)
		return -EROFS;
	lock_drive(m);
	int rc = settle(m);
	if (!rc)
		rc = mmc_sync_cache(&m->ctx, false);
	if (!rc)
		rc = refresh_append(m);
	if (!rc)
		rc = close_on_drive(m, kind);
	if (rc && !m->ctx.quiet) {
		char txt[160];
		mmc_log("%s: closing failed: %s", m->source, mmc_ctx_error(&m->ctx, rc, txt, sizeof(txt)));
	}
	int rc2 = refresh_append(m);
	if (!rc)
		rc = rc2;
	if (m->probe.finalized)
		dev->geo.writable = false;
	unlock_drive(m);
	return rc;
}

static size_t describe_append(struct mmc_dev *m, char *buf, size_t len)
{
	const struct mmc_probe *p = &m->probe;

	return mmc_appendf(buf, len,
			   "mmc_disc_status: %s\n"
			   "mmc_sessions: %u\n"
			   "mmc_next_writable: %" PRIu32 "\n"
			   "mmc_free_sectors: %" PRIu32 "\n"
			   "mmc_session_start: %" PRIu32 "\n",
			   p->disc_status == 0 ? "blank"
			   : p->finalized      ? "closed"
					       : "appendable",
			   p->sessions, m->nwa, p->free_sectors, p->session_start);
}

/* The statistics' lines, under lock (they read what the commands change, the transport's too). */
static size_t render_stats(struct mmc_dev *m, char *buf, size_t len)
{
	struct pkt_blockdev *dev = &m->dev;
	size_t n = mmc_appendf(buf, len,
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
	if (m->dev.geo.append_only && n < len)
		n += describe_append(m, buf + n, len - n);
	if (m->ctx.t->ops->describe && n < len)
		n += m->ctx.t->ops->describe(m->ctx.t, buf + n, len - n);
	return n;
}

static void publish_stats(struct mmc_dev *m)
{
	pthread_mutex_lock(&m->stats_lock);
	m->stats.c = m->c;
	m->stats.c.retries = m->ctx.retries;
	m->stats.c.unit_attentions = m->ctx.unit_attentions;
	m->stats.c.errors = m->ctx.errors;
	m->stats.text_len = render_stats(m, m->stats.text, sizeof(m->stats.text));
	pthread_mutex_unlock(&m->stats_lock);
}

/* The lines as the last section of commands left them: never waits for the drive. */
static size_t describe_cb(struct pkt_blockdev *dev, char *buf, size_t len)
{
	struct mmc_dev *m = to_mmc(dev);

	if (len == 0)
		return 0;
	pthread_mutex_lock(&m->stats_lock);
	size_t n = m->stats.text_len < len ? m->stats.text_len : len - 1;
	memcpy(buf, m->stats.text, n);
	pthread_mutex_unlock(&m->stats_lock);
	buf[n] = 0;
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

/* Write-once media: the same, and where the disc stands and how it closes. */
static const struct pkt_blockdev_ops mmc_append_ops = {
	.read = read_cb,
	.write = write_cb,
	.sync = sync_cb,
	.close = close_cb,
	.hold = hold_cb,
	.describe = describe_cb,
	.append_state = append_state_cb,
	.close_session = close_session_cb,
};

static bool is_mmc_dev(const struct pkt_blockdev *dev)
{
	return dev && (dev->ops == &mmc_ops || dev->ops == &mmc_append_ops);
}

uint16_t mmc_dev_profile(struct pkt_blockdev *dev)
{
	if (!is_mmc_dev(dev))
		return 0;
	struct mmc_dev *m = to_mmc(dev);
	lock_drive(m);
	uint16_t profile = m->probe.profile;
	unlock_drive(m);
	return profile;
}

int mmc_dev_poll_event(struct pkt_blockdev *dev, uint8_t *event, uint8_t *status)
{
	if (!is_mmc_dev(dev))
		return -EOPNOTSUPP;
	struct mmc_dev *m = to_mmc(dev);
	lock_drive(m);
	bool quiet = m->ctx.quiet;
	m->ctx.quiet = true; /* a drive without GESN answers once; the caller says so */
	int rc = mmc_get_event_status(&m->ctx, event, status);
	m->ctx.quiet = quiet;
	unlock_drive(m);
	return rc;
}

bool mmc_dev_get_counters(struct pkt_blockdev *dev, struct mmc_dev_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (!is_mmc_dev(dev))
		return false;
	struct mmc_dev *m = to_mmc(dev);
	pthread_mutex_lock(&m->stats_lock); /* as of the last section of commands: never waits for the drive */
	*out = m->stats.c;
	pthread_mutex_unlock(&m->stats_lock);
	return true;
}

struct mmc_transport *mmc_dev_transport(struct pkt_blockdev *dev)
{
	return is_mmc_dev(dev) ? to_mmc(dev)->ctx.t : NULL;
}

void mmc_dev_set_quiet(struct pkt_blockdev *dev, bool quiet)
{
	if (is_mmc_dev(dev))
		to_mmc(dev)->ctx.quiet = quiet;
}

struct pkt_blockdev *mmc_dev_open(struct mmc_transport *t, const char *source, const struct mmc_dev_options *opt,
				  char *err, size_t errlen)
{
	struct mmc_dev *m = calloc(1, sizeof(*m));

	if (opt->problem)
		*opt->problem = MMC_PROBLEM_NONE;
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
	pthread_mutex_init(&m->stats_lock, NULL);
	if (mmc_probe_medium(&m->ctx, m->source, &m->probe, err, errlen))
		goto fail;
	bool readable = m->probe.formatted || (m->probe.sectors && (!m->probe.packet_writable || m->probe.write_once));
	if (!readable || (!opt->read_only && m->probe.problem[0])) {
		snprintf(err, errlen, "%s: %s", source, m->probe.problem[0] ? m->probe.problem : "unusable disc");
		if (opt->problem)
			*opt->problem = m->probe.problem_code;
		goto fail;
	}
	m->dev.ops = &mmc_ops;
	m->dev.priv = m;
	m->dev.geo.sector_size = PKT_SECTOR_SIZE;
	m->dev.geo.packet_sectors = m->probe.packet_sectors;
	m->dev.geo.sector_count = m->probe.sectors;
	m->dev.geo.writable = !opt->read_only;
	m->dev.geo.whole_packets = needs_whole_packets(&m->probe);
	if (m->probe.write_once) {
		m->dev.ops = &mmc_append_ops;
		m->dev.geo.append_only = true;
		m->dev.geo.link_sectors = m->probe.link_sectors;
		m->dev.geo.writable = !opt->read_only && !m->probe.finalized;
		m->nwa = m->probe.nwa;
	}
	m->speed = opt->speed;
	if (set_speed(m) && !opt->quiet)
		mmc_log("%s: the drive did not accept speed %ux; using its default", source, opt->speed);
	publish_stats(m);
	return &m->dev;
fail:
	mmc_transport_close(t);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->stats_lock);
	free(m);
	return NULL;
}
