/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The files view's FUSE thread runs on the CPU of the process it serves. */
#ifndef PKTFUSE_CPU_FOLLOW_H
#define PKTFUSE_CPU_FOLLOW_H

#include <sched.h> /* cpu_set_t: the includer defines _GNU_SOURCE */
#include <stdbool.h>
#include <stdint.h>

struct cpu_follow {
	cpu_set_t allowed; /* the thread's affinity when it began: never left */
	bool usable;	   /* allowed was read and holds more than one CPU */
	int cpu;	   /* the CPU the thread is bound to now, -1: allowed */
	uint64_t next_ns;  /* CLOCK_MONOTONIC: when a request may look again */
	uint32_t pid;	   /* the last request's process */
	bool mixed;	   /* requests of more than one process came since the last look */
};

/* Takes the calling thread's affinity as the set it may bind itself within. */
void cpu_follow_init(struct cpu_follow *f);

/* A request of process pid (0: unknown, e.g. another pid namespace) arrived: at most once a
 * millisecond, binds the calling thread to the CPU pid last ran on, or back to the whole allowed
 * set when that CPU is not in it or cannot be read, or when requests of several processes came
 * since the last look (they run on several CPUs: the thread stays where the scheduler puts it). */
void cpu_follow_request(struct cpu_follow *f, uint32_t pid);

#endif
