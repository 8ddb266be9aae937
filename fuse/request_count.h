/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The files view's FUSE loop, which counts the requests it serves by opcode. */
#ifndef PKTFUSE_REQUEST_COUNT_H
#define PKTFUSE_REQUEST_COUNT_H

#include <fuse_lowlevel.h>
#include <stddef.h>

/* Opcodes 1..PKTFUSE_OPCODES-1 are counted each; anything above (CUSE_INIT, opcodes a newer kernel
 * adds) in slot 0. */
#define PKTFUSE_OPCODES 64

/* libfuse's single-threaded loop (fuse_session_loop), counting each request in counts[its opcode]
 * (atomically: the statistics read them from other threads).  Returns 0 at the end of the session
 * (unmount, a signal), or a negative errno when reading the device failed. */
int pktfuse_counting_loop(struct fuse_session *se, unsigned long counts[PKTFUSE_OPCODES]);

/* Renders the nonzero counts as "NAME=N NAME=N ..." (no newline) into buf; its length. */
size_t pktfuse_render_requests(const unsigned long counts[PKTFUSE_OPCODES], char *buf, size_t len);

#endif
