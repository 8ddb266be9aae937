/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "requester_moves.h"

bool requester_moved(struct requester_moves *m, unsigned qid, uint32_t tid)
{
	uint64_t v = ((uint64_t)tid << 16) | (uint64_t)(qid + 1);
	uint64_t old = __atomic_exchange_n(&m->slot[tid % REQUESTER_SLOTS], v, __ATOMIC_RELAXED);
	return (old >> 16) == tid && old != v && old != 0;
}
