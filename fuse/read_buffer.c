/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
/* The per-thread read buffer of the FUSE callbacks. */
#include "daemon.h"

#include <pthread.h>
#include <stdlib.h>

/* One read buffer per FUSE thread, kept for the thread's life: no allocation per request. */
static pthread_key_t rbuf_key;
static pthread_once_t rbuf_once = PTHREAD_ONCE_INIT;
struct rbuf {
	size_t cap;
	char data[];
};

static void rbuf_make_key(void)
{
	pthread_key_create(&rbuf_key, free);
}

char *pktfuse_read_buffer(size_t len)
{
	pthread_once(&rbuf_once, rbuf_make_key);
	struct rbuf *b = pthread_getspecific(rbuf_key);
	if (!b || b->cap < len) {
		size_t cap = len < (1u << 20) ? (1u << 20) : len;
		struct rbuf *nb = realloc(b, sizeof(*nb) + cap);
		if (!nb)
			return NULL;
		nb->cap = cap;
		b = nb;
		pthread_setspecific(rbuf_key, b);
	}
	return b->data;
}
