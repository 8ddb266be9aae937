/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The emulated drive's control file (IMAGE.ctl, see emu.h): what a person does to the drive while a
 * host has it open, caused by a test in another process. */
#define _GNU_SOURCE
#include "emu_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* GET EVENT STATUS NOTIFICATION media event codes (MMC-6 table 153). */
#define MEDIA_EVENT_EJECT_REQUEST 1
#define MEDIA_EVENT_NEW_MEDIA 2
#define MEDIA_EVENT_MEDIA_REMOVAL 3

static void log_control(struct emu *e, const char *what)
{
	if (e->log)
		fprintf(e->log, "control=%s\n", what);
}

/* One command of the control file. */
static void apply(struct emu *e, const char *word)
{
	if (!strcmp(word, "eject_button")) {
		/* The host decides what to do: the tray stays as it is, locked or not. */
		e->media_event = MEDIA_EVENT_EJECT_REQUEST;
	} else if (!strcmp(word, "tray_open")) {
		/* Forced open (the disc pulled out underneath): a lock does not stop it. */
		e->tray_open = true;
		e->locked = false;
		e->media_event = MEDIA_EVENT_MEDIA_REMOVAL;
	} else if (!strcmp(word, "tray_close")) {
		if (e->tray_open)
			e->ua_pending = true;
		e->tray_open = false;
		e->media_event = MEDIA_EVENT_NEW_MEDIA;
	} else {
		log_control(e, "unknown");
		return;
	}
	log_control(e, word);
}

void emu_poll_control(struct emu *e)
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

uint8_t emu_take_media_event(struct emu *e)
{
	uint8_t ev = e->media_event;

	e->media_event = 0;
	return ev;
}
