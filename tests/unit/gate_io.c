/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The gate of gate_io.h. */
#define _GNU_SOURCE
#include "gate_io.h"
#include "udf.h"

#include <errno.h>
#include <time.h>

void io_gate_init(struct io_gate *g)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->held = false;
	g->open = false;
}

void io_gate_destroy(struct io_gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

void io_gate_stop_locked(struct io_gate *g)
{
	g->held = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	g->held = false;
}

void io_gate_open_locked(struct io_gate *g)
{
	g->open = true;
	pthread_cond_broadcast(&g->cv);
}

void io_gate_open(struct io_gate *g)
{
	pthread_mutex_lock(&g->mu);
	io_gate_open_locked(g);
	pthread_mutex_unlock(&g->mu);
}

void io_gate_post(struct io_gate *g, bool *flag)
{
	pthread_mutex_lock(&g->mu);
	*flag = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

bool io_gate_wait(struct io_gate *g, const bool *flag)
{
	struct timespec t;
	int rc = 0;

	/* pthread_cond_timedwait's default clock */
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += GATE_WAIT_S;
	pthread_mutex_lock(&g->mu);
	while (!*flag && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&g->cv, &g->mu, &t);
	bool v = *flag;
	pthread_mutex_unlock(&g->mu);
	return v;
}

void *gate_sync_thread(void *arg)
{
	struct gate_syncer *s = arg;

	s->rc = udf_sync(s->fs);
	io_gate_post(s->g, &s->done);
	return NULL;
}
