/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which ring queue each requesting thread was last served on, to tell when a requester has moved to
 * another CPU (FUSE over io_uring puts a request on the queue of its requester's CPU; fuse_uring.c).
 * A small table of slots indexed by the thread id: two threads sharing a slot only make a move be
 * missed or seen once too often, which costs a queue thread's linger or saves it, never a request.
 * Any thread may note (relaxed atomics: the answer is a hint, not a lock).
 */
#ifndef PKTFUSE_REQUESTER_MOVES_H
#define PKTFUSE_REQUESTER_MOVES_H

#include <stdbool.h>
#include <stdint.h>

#define REQUESTER_SLOTS 256

struct requester_moves {
	uint64_t slot[REQUESTER_SLOTS]; /* (thread id << 16) | (queue + 1); 0: empty */
};

/* Notes that thread tid's request came through queue qid (below 65535); true when that thread's
 * previous request came through another queue. */
bool requester_moved(struct requester_moves *m, unsigned qid, uint32_t tid);

#endif
