/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "eject_button.h"
#include "daemon.h"
#include "log.h"
#include "mmc_dev.h"
#include "source.h"
#include "udf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#define POLL_MS 1000 /* one GESN a second: what desktops poll at, and nothing the disc notices */
#define MEDIA_EVENT_EJECT_REQUEST 1
#define MEDIA_EVENT_NEW_MEDIA 2
#define MEDIA_EVENT_MEDIA_REMOVAL 3

struct pktfuse_button {
	pthread_t thread, loop_thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, pressed;
	bool away;	   /* the disc was taken out and the mount made read-only */
	bool was_writable; /* the files view could be written before */
	struct pktfuse *pf;
};

/* Waits POLL_MS or until told to stop; true to go on. */
static bool wait_poll(struct pktfuse_button *b)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (POLL_MS % 1000) * 1000000L;
	until.tv_sec += POLL_MS / 1000 + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&b->lock);
	while (!b->stop && pthread_cond_timedwait(&b->cond, &b->lock, &until) != ETIMEDOUT)
		;
	bool go_on = !b->stop;
	pthread_mutex_unlock(&b->lock);
	return go_on;
}

static uint64_t dirty_packets(struct pktfuse *pf)
{
	struct pkt_cache_stats cs;
	pkt_cache_get_stats(pf->cache, &cs);
	return cs.dirty_packets;
}

/* Writes stop reaching the disc: the mount turns read-only, what is cached stays dirty (the cache
 * keeps a packet whose write failed), and the backend will write only to the disc it probed. */
static void disc_taken_out(struct pktfuse_button *b)
{
	struct pktfuse *pf = b->pf;

	if (b->away)
		return;
	b->away = true;
	b->was_writable = pktfuse_files_writable(pf);
	__atomic_store_n(&pf->udf_rw, false, __ATOMIC_RELAXED);
	if (pf->udf)
		udf_hold_changes(pf->udf, "the disc was taken out: changes wait until it is back");
	pktfuse_log(LOG_ERR,
		    "%s: the disc was taken out with %llu packets not written: the mount is read-only; they are "
		    "kept and written if this disc comes back (another disc is not written)",
		    pf->opts.source, (unsigned long long)dirty_packets(pf));
}

/* A disc is in again: what was kept goes to it when it is the same disc (the backend compares the
 * fingerprint and refuses another), and the mount is writable again. */
static void disc_put_back(struct pktfuse_button *b)
{
	struct pktfuse *pf = b->pf;

	if (!b->away)
		return;
	int rc = pkt_cache_geometry(pf->cache)->writable ? pkt_cache_flush(pf->cache) : 0;
	if (rc) {
		pktfuse_log(LOG_ERR,
			    "%s: the disc put in is not the one taken out (or cannot be written): nothing written to "
			    "it; %llu packets kept for the first disc",
			    pf->opts.source, (unsigned long long)dirty_packets(pf));
		return;
	}
	b->away = false;
	if (pf->udf)
		udf_hold_changes(pf->udf, NULL);
	__atomic_store_n(&pf->udf_rw, b->was_writable, __ATOMIC_RELAXED);
	pktfuse_log(LOG_NOTICE, "%s: the disc is back: what was kept is written%s", pf->opts.source,
		    b->was_writable ? ", the mount is writable again" : "");
}

static void *poll_button(void *arg)
{
	struct pktfuse_button *b = arg;
	const char *source = b->pf->opts.source;
	bool answered = false;

	while (wait_poll(b)) {
		uint8_t event = 0, status = 0;
		int rc = mmc_dev_poll_event(b->pf->dev, &event, &status);
		if (rc && !answered) {
			pktfuse_log(LOG_NOTICE, "%s: the drive does not report events: its eject button is not watched",
				    source);
			break;
		}
		answered = answered || rc == 0;
		if (rc)
			continue;
		if (event == MEDIA_EVENT_MEDIA_REMOVAL || !(status & 2))
			disc_taken_out(b);
		else if (event == MEDIA_EVENT_NEW_MEDIA)
			disc_put_back(b);
		if (event != MEDIA_EVENT_EJECT_REQUEST)
			continue;
		pktfuse_log(LOG_NOTICE, "%s: eject button pressed: writing everything, unmounting, then ejecting",
			    source);
		pthread_mutex_lock(&b->lock);
		b->pressed = true;
		pthread_mutex_unlock(&b->lock);
		/* The FUSE loop ends as on SIGTERM, through its own handler: to its thread, so that the
		 * wait it sits in is interrupted. */
		pthread_kill(b->loop_thread, SIGTERM);
		break;
	}
	return NULL;
}

int pktfuse_button_start(struct pktfuse *pf)
{
	if (!mmc_dev_transport(pf->dev))
		return 0;
	struct pktfuse_button *b = calloc(1, sizeof(*b));
	pthread_condattr_t ca;
	if (!b)
		return -ENOMEM;
	b->pf = pf;
	b->loop_thread = pthread_self();
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&b->thread, NULL, poll_button, b);
	if (rc) {
		pktfuse_log(LOG_WARNING, "%s: cannot watch the eject button: %s", pf->opts.source, strerror(rc));
		pthread_cond_destroy(&b->cond);
		pthread_mutex_destroy(&b->lock);
		free(b);
		return -rc;
	}
	pf->button = b;
	return 0;
}

bool pktfuse_button_stop(struct pktfuse *pf)
{
	struct pktfuse_button *b = pf->button;
	if (!b)
		return false;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	bool pressed = b->pressed;
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
	pf->button = NULL;
	return pressed;
}

void pktfuse_button_eject(const char *source, bool written)
{
	char err[1024];

	if (!written) {
		pktfuse_log(LOG_ERR, "%s: eject button: the disc stays in the drive: not everything was written to it",
			    source);
		return;
	}
	if (mmc_cmd_eject(source, err, sizeof(err)) != 0) {
		pktfuse_log(LOG_ERR, "%s", err);
		return;
	}
	pktfuse_log(LOG_NOTICE, "%s: eject button: everything written, unmounted, tray unlocked and opened", source);
}
