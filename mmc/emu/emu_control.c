/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated drive's control file (IMAGE.ctl, see emu.h): what a person does to the drive while a
 * host has it open, caused by a test in another process. */
#define _GNU_SOURCE
#include "emu_int.h"

#include "disc_lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* GET EVENT STATUS NOTIFICATION media event codes (MMC-6 table 153). */
#define MEDIA_EVENT_EJECT_REQUEST 1
#define MEDIA_EVENT_NEW_MEDIA 2
#define MEDIA_EVENT_MEDIA_REMOVAL 3

#define PAUSE_POLL_MS 10u
#define PAUSE_MAX_MS 120000u

static void log_control(struct emu *e, const char *what)
{
	if (e->log)
		fprintf(e->log, "control=%s\n", what);
}

/* The disc leaves the drive: what the drive holds is written first (the drive's own business), and
 * the state file is left true, so that a test may swap the image while the tray is open. */
static void take_out(struct emu *e)
{
	if (!e->tray_open) {
		emu_destage_all(e);
		emu_save_state(e);
	}
	e->tray_open = true;
	e->locked = false;
}

/* The tray closes on the disc IMAGE names now: when that is another file than the one taken out,
 * another disc is loaded (its state file with it).  False when there is none usable: the tray stays
 * empty. */
static bool load_disc_now_named(struct emu *e)
{
	struct stat now, cur;
	char err[300];

	if (stat(e->image, &now) == 0 && fstat(e->fd, &cur) == 0 && now.st_dev == cur.st_dev &&
	    now.st_ino == cur.st_ino)
		return true;
	disc_lock_forget(e->fd);
	close(e->fd);
	e->fd = -1;
	free(e->wear);
	e->wear = NULL;
	emu_wo_free(e);
	e->formatted = e->blank_used = false;
	e->sectors = e->npackets = 0;
	e->gen = 0;
	const struct emu_open_options oo = {0};
	if (emu_open_disc(e, &oo, 0, err, sizeof(err)) != 0) {
		if (e->log)
			fprintf(e->log, "control=tray_close no disc: %s\n", err);
		if (e->fd >= 0) {
			disc_lock_forget(e->fd);
			close(e->fd);
			e->fd = -1;
		}
		return false;
	}
	return true;
}

/* One command of the control file. */
static void apply(struct emu *e, const char *word)
{
	if (!strcmp(word, "eject_button")) {
		/* The host decides what to do: the tray stays as it is, locked or not. */
		e->media_event = MEDIA_EVENT_EJECT_REQUEST;
	} else if (!strcmp(word, "tray_open")) {
		/* Forced open (the disc pulled out underneath): a lock does not stop it. */
		take_out(e);
		e->media_event = MEDIA_EVENT_MEDIA_REMOVAL;
	} else if (!strcmp(word, "pause")) {
		e->paused = true;
	} else if (!strcmp(word, "resume")) {
		e->paused = false;
	} else if (!strcmp(word, "tray_close")) {
		if (!e->tray_open || !load_disc_now_named(e))
			return; /* closed already, or nothing usable to load (logged) */
		e->ua_pending = true;
		e->tray_open = false;
		e->media_event = MEDIA_EVENT_NEW_MEDIA;
	} else {
		log_control(e, "unknown");
		return;
	}
	log_control(e, word);
}

static void read_control(struct emu *e)
{
	char word[64];

	if (!e->ctl_path || access(e->ctl_path, F_OK) != 0)
		return;
	FILE *f = fopen(e->ctl_path, "re");
	/* Consumed before it is obeyed: the test waits for the file to go, then sees the effect. */
	unlink(e->ctl_path);
	if (!f)
		return;
	while (fscanf(f, "%63s", word) == 1)
		apply(e, word);
	fclose(f);
}

void emu_poll_control(struct emu *e)
{
	read_control(e);
	/* Paused: the command waits (in wall-clock time: a stuck drive) until resume, at most PAUSE_MAX_MS
	 * so that a test that died cannot leave a daemon hanging for ever. */
	for (unsigned ms = 0; e->paused; ms += PAUSE_POLL_MS) {
		if (ms >= PAUSE_MAX_MS) {
			e->paused = false;
			log_control(e, "pause_timeout");
			break;
		}
		struct timespec ts = {.tv_nsec = PAUSE_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
		read_control(e);
	}
}

uint8_t emu_take_media_event(struct emu *e)
{
	uint8_t ev = e->media_event;

	e->media_event = 0;
	return ev;
}
