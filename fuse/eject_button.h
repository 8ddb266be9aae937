/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The drive's eject button while mounted (eject_button.c): a thread polls GET EVENT STATUS
 * NOTIFICATION once a second; on an eject request the daemon ends as on SIGTERM (unmounted, everything
 * written, the tray unlocked) and then ejects as `pktfuse eject` does.  The same thread watches the
 * disc being taken out (MediaRemoval, or no medium): the files view turns read-only, the cache keeps
 * what is not written, and both are said in the log (and so in `pktfuse status`); when a disc is put
 * in (NewMedia) the cache is flushed, which the backend lets reach the same disc only (its
 * fingerprint), and the mount is writable again. */
#ifndef PKTFUSE_EJECT_BUTTON_H
#define PKTFUSE_EJECT_BUTTON_H

#include <stdbool.h>

struct pktfuse;

/* From the thread that runs the FUSE loop, after daemonizing.  Nothing for an image file.  0, or a
 * negative errno (logged: the mount works without the button). */
int pktfuse_button_start(struct pktfuse *pf);
/* Stops the polling; true when the button was pressed (the daemon is ending because of it). */
bool pktfuse_button_stop(struct pktfuse *pf);
/* After the device is closed: opens the tray when everything was written, else says why the disc
 * stays in.  Logs what it did. */
void pktfuse_button_eject(const char *source, bool written);

#endif
