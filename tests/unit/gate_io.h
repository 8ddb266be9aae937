/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A gate for the tests of what the engine lets run while a commit waits for the medium
 * (test_udf_commit_unlocked, test_udf_hint_hold), and of what the packet cache answers while its
 * flusher waits for the medium (test_append_cache): one of the test's wrappers of the engine's I/O
 * callbacks stops in the gate until the test opens it, and the test's threads post what they have
 * done under the gate's lock.  No timing: every wait is for a condition, bounded (GATE_WAIT_S) only
 * so that a stuck engine fails the test instead of hanging it.
 */
#ifndef PKTFUSE_TEST_GATE_IO_H
#define PKTFUSE_TEST_GATE_IO_H

#include <pthread.h>
#include <stdbool.h>

#define GATE_WAIT_S 30 /* far beyond what any step takes, even under ThreadSanitizer on 2 busy cores */

struct udf_fs;

struct io_gate {
	pthread_mutex_t mu; /* guards the gate and every flag the tests post or wait for */
	pthread_cond_t cv;  /* broadcast whenever any of them changes */
	bool held;	    /* a callback waits in the gate now */
	bool open;
};

void io_gate_init(struct io_gate *g);
void io_gate_destroy(struct io_gate *g);
/* With g->mu held: says the caller is in the gate, then waits (unbounded: the test always opens
 * it) until it opens. */
void io_gate_stop_locked(struct io_gate *g);
/* Opens the gate and wakes whoever waits in it (io_gate_open_locked: with g->mu held). */
void io_gate_open(struct io_gate *g);
void io_gate_open_locked(struct io_gate *g);
/* Sets *flag (a flag io_gate_wait is given) under g->mu and wakes the waiters: what the thread
 * wrote before it is seen by whoever then sees *flag. */
void io_gate_post(struct io_gate *g, bool *flag);
/* Waits (bounded) until *flag, under g->mu; its value then. */
bool io_gate_wait(struct io_gate *g, const bool *flag);

/* A thread that runs udf_sync and posts its result: pthread_create(&t, NULL, gate_sync_thread, &s). */
struct gate_syncer {
	struct udf_fs *fs;
	struct io_gate *g;
	int rc;
	bool done;
};
void *gate_sync_thread(void *arg);

#endif
