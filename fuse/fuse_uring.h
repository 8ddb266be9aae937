/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * FUSE over io_uring (Linux >= 6.14) under libfuse 3's request decoding: one ring queue per CPU, each
 * served by a thread pinned to that CPU, so that a request is answered on the CPU that issued it (no
 * cross-CPU wakeup per round trip).  Knows libfuse, nothing of pktfuse's engine.  See fuse_uring.c.
 */
#ifndef PKTFUSE_FUSE_URING_H
#define PKTFUSE_FUSE_URING_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>

struct pktfuse_uring;

/* The default linger (below): longer than a requester's turn between two round trips here (the wake
 * of a halted CPU, its own work, the next request served: ~50-100 us), short against what a
 * lingering thread keeps from other programs (measured: docs/design.md, FUSE over io_uring). */
#define PKTFUSE_URING_LINGER_US 300

/*
 * On a session just mounted (fuse_session_mount, no request read yet): serves its first requests
 * from /dev/fuse up to and including INIT (counting each in counts[opcode], as the ring does, when
 * counts is not NULL: ncounts slots, opcodes at or above ncounts in slot 0, atomically), asking the
 * kernel for FUSE over io_uring when it offers it, then registers the ring queues.
 *
 * 0: the ring serves requests; *out is it.  The caller still runs its /dev/fuse loop (the kernel
 * sends FORGET and INTERRUPT there), and after that loop and fuse_session_unmount calls
 * pktfuse_uring_stop before fuse_session_destroy.  Request handlers must reply before they return
 * (a reply is committed into the ring entry of its request when the handler is done).
 *
 * A negative errno: the ring is not in use (-EOPNOTSUPP: the kernel did not offer it, e.g.
 * /sys/module/fuse/parameters/enable_uring is N, whether or not a ring could be made; else the
 * error of making the rings or the kernel's refusal of the registration); *out is NULL and the session
 * goes on over /dev/fuse alone: the caller runs its loop as without this module.  -ENODEV: the
 * session ended before INIT.  One session per process may use this (libfuse's custom I/O hooks
 * carry no pointer of their own).  linger_us: how long a queue thread stays runnable after serving a
 * requester that has just moved to its CPU (0: never; fuse_uring.c says why).
 */
int pktfuse_uring_start(struct fuse_session *se, unsigned long *counts, size_t ncounts, unsigned linger_us,
			struct pktfuse_uring **out);

/* False when the fuse module says it will not offer FUSE over io_uring (its enable_uring parameter
 * reads N), so that pktfuse_uring_start need not be tried; true otherwise (Y, or it cannot be read:
 * INIT will tell). */
bool pktfuse_uring_may_be_offered(void);

/* Requests served through the ring so far (all queues). */
unsigned long pktfuse_uring_served(const struct pktfuse_uring *u);

/* Of those, the requests whose requester had been served on another queue before (it moved to
 * another CPU) and how often a queue thread lingered after one (linger_us above). */
void pktfuse_uring_moves(const struct pktfuse_uring *u, unsigned long *moved, unsigned long *lingers);

/* Number of ring queues (one per possible CPU). */
unsigned pktfuse_uring_queues(const struct pktfuse_uring *u);

/* Ends the queue threads (the unmount has normally ended them already), joins them and frees u. */
void pktfuse_uring_stop(struct pktfuse_uring *u);

#endif
