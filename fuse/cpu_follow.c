/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Why the files view's FUSE thread follows the CPU of the process it serves: every request is a
 * round trip (the process waits while the daemon answers), so the two never run at once, and on one
 * CPU a round trip is a switch between two tasks; on two it is two cross-CPU wakeups, which on a
 * machine whose idle CPUs halt (a VM) cost far more than the work.  Measured on a 2-CPU VM (5,000
 * small files, `cp -r`): both pinned to one CPU 0.30-0.35 s, pinned to two 1.3-2.4 s; the scheduler
 * splits them when a CPU is idle.  The thread binds itself to the requester's CPU (read from
 * /proc/PID/stat, at most once a millisecond: ~10 us), within the affinity it started with; the
 * daemon's other threads (committer, cache flusher) stay free.
 */
#define _GNU_SOURCE
#include "cpu_follow.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FOLLOW_PERIOD_NS 1000000ull

void cpu_follow_init(struct cpu_follow *f)
{
	memset(f, 0, sizeof(*f));
	f->cpu = -1;
	f->usable = sched_getaffinity(0, sizeof(f->allowed), &f->allowed) == 0 && CPU_COUNT(&f->allowed) > 1;
}

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* The CPU pid last ran on (field 39 of /proc/PID/stat), or -1. */
static int cpu_of_process(uint32_t pid)
{
	char path[32], buf[1024];

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the name (field 2) may hold spaces and parentheses */
	if (!p)
		return -1;
	for (int field = 2; field < 39; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	char *end;
	long cpu = strtol(p + 1, &end, 10);
	return end != p + 1 && cpu >= 0 && cpu < CPU_SETSIZE ? (int)cpu : -1;
}

void cpu_follow_request(struct cpu_follow *f, uint32_t pid)
{
	if (!f->usable || pid == 0 || (uint32_t)getpid() == pid)
		return;
	if (pid != f->pid) {
		if (f->pid)
			f->mixed = true;
		f->pid = pid;
	}
	uint64_t now = mono_ns();
	if (now < f->next_ns)
		return;
	f->next_ns = now + FOLLOW_PERIOD_NS;
	int cpu = f->mixed ? -1 : cpu_of_process(pid);
	f->mixed = false;
	if (cpu >= 0 && !CPU_ISSET(cpu, &f->allowed))
		cpu = -1;
	if (cpu == f->cpu)
		return;
	cpu_set_t one;
	CPU_ZERO(&one);
	if (cpu >= 0)
		CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(cpu_set_t), cpu >= 0 ? &one : &f->allowed) == 0)
		f->cpu = cpu;
}
