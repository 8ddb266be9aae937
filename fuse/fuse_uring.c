/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * FUSE over io_uring as a transport under libfuse 3.14's request decoding (libfuse 3.14 has no
 * io_uring support of its own).  The kernel's side is Documentation/filesystems/fuse-io-uring.rst:
 *
 * - The daemon asks for it in its INIT reply (FUSE_OVER_IO_URING, an init flag above bit 31, so in
 *   flags2 with FUSE_INIT_EXT), which the kernel offers in INIT only while the fuse module's
 *   enable_uring parameter is Y.
 * - It then registers ring entries: IORING_OP_URING_CMD on /dev/fuse, FUSE_IO_URING_CMD_REGISTER,
 *   two iovecs (a struct fuse_uring_req_header and a payload buffer of at least the connection's
 *   largest request), per queue; there is one queue per possible CPU and the kernel routes
 *   requests through the ring only once every queue has an entry.
 * - A request arrives as the completion of an entry's command, its fuse_in_header in the header's
 *   in_out, its first argument (the opcode's fixed struct, empty for some opcodes) in op_in, the
 *   rest in the payload; the reply goes into the same entry (fuse_out_header in in_out, the reply's
 *   arguments in the payload) and is committed with FUSE_IO_URING_CMD_COMMIT_AND_FETCH, which also
 *   hands the entry back for the next request.  FORGET, INTERRUPT and notifications stay on
 *   /dev/fuse.
 * - The kernel puts a request on the queue of the CPU its requester runs on; this module's thread
 *   for that queue is pinned to that CPU, so the requester's wakeup of the daemon and the daemon's
 *   of the requester stay on one CPU.
 *
 * libfuse decodes each request from the /dev/fuse layout (fuse_in_header, then the arguments, back
 * to back), so each is rebuilt that way in front of its payload and handed to
 * fuse_session_process_buf; libfuse's replies come through the session's custom writev
 * (fuse_session_custom_io), which puts a reply to a request served from the ring into that
 * request's ring entry and sends everything else to /dev/fuse.  A reply may come after its handler
 * returned, from another thread (pktfuse answers fsync from its committer): the entry waits, and the
 * reply wakes the queue's thread (an eventfd read in its ring), the only one that may submit to it.
 *
 * A queue thread lingers after serving a requester that has just moved to its CPU (uring_linger):
 * for that long it stays runnable, yielding, and takes what its ring receives without sleeping.
 * Why: on a machine whose CPUs are idle between requests, the scheduler wakes a requester whose
 * CPU is busy (its queue thread is still replying) on the idle CPU it used last.  There the other
 * queue serves its next request, whose reply sends it back, and so on: once it has moved, every
 * round trip moves it again and costs an interrupt to wake a halted CPU and cold caches (measured:
 * cp -r of 5,000 small files, 4,000-12,000 moves and 1.0-1.4 s; see docs/design.md).  A CPU whose
 * queue thread lingers is not idle, so the requester stays where the reply finds it; a requester
 * that stays triggers no linger.
 */
#define _GNU_SOURCE
#include "fuse_uring.h"
#include "requester_moves.h"

#include <errno.h>
#include <linux/fuse.h>
#include <linux/io_uring.h>
#include <linux/time_types.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* The kernel's uapi for FUSE over io_uring (include/uapi/linux/fuse.h, protocol 7.42), which the
 * <linux/fuse.h> of Debian 12 (Linux 6.1) lacks; names as there, prefixed. */
#define URING_FUSE_OVER_IO_URING (1ULL << 41) /* init flag: the daemon serves over io_uring */
#define URING_IN_OUT_HEADER_SZ 128	      /* struct fuse_uring_req_header: in_out */
#define URING_OP_IN_OUT_SZ 128		      /* ... and op_in */
#define URING_CMD_REGISTER 1u		      /* FUSE_IO_URING_CMD_REGISTER: sqe->cmd_op */
#define URING_CMD_COMMIT_AND_FETCH 2u	      /* FUSE_IO_URING_CMD_COMMIT_AND_FETCH */

struct uring_ent_in_out { /* struct fuse_uring_ent_in_out */
	uint64_t flags;
	uint64_t commit_id;  /* the request's; echoed in the commit's uring_cmd_req */
	uint32_t payload_sz; /* bytes used in the payload buffer: the request's, then the reply's */
	uint32_t padding;
	uint64_t reserved;
};

struct uring_req_header {		     /* struct fuse_uring_req_header: iovec 0 of a registration */
	char in_out[URING_IN_OUT_HEADER_SZ]; /* fuse_in_header, then the reply's fuse_out_header */
	char op_in[URING_OP_IN_OUT_SZ];	     /* the request's first argument */
	struct uring_ent_in_out ring_ent_in_out;
};

struct uring_cmd_req { /* struct fuse_uring_cmd_req: the 80-byte command area of an SQE128 */
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

_Static_assert(sizeof(struct uring_req_header) == 288, "fuse_uring_req_header is 288 bytes");
_Static_assert(sizeof(struct uring_cmd_req) == 24, "fuse_uring_cmd_req is 24 bytes");

#define SQE128_SIZE 128
#define SQE_CMD_OFFSET offsetof(struct io_uring_sqe, cmd) /* the command area: 80 bytes */
_Static_assert(SQE_CMD_OFFSET + sizeof(struct uring_cmd_req) <= SQE128_SIZE, "the command fits an SQE128");

/* Ring entries per queue: cp runs one request at a time per CPU; more let background requests and
 * other processes on the same CPU go on while one is served, and while fsyncs wait for their
 * commit: an entry whose reply is deferred stays held until then, and a queue with none free
 * keeps its CPU's requests in the kernel.  Their buffers are touched only as far as requests and
 * replies fill them (a 1 MiB payload each with libfuse's max_write). */
#define ENTS_PER_QUEUE 8
/* Room in front of an entry's payload where its request is rebuilt: fuse_in_header and op_in. */
#define HDR_ROOM 256
_Static_assert(ENTS_PER_QUEUE <= 32, "the ready mask has 32 bits");
_Static_assert(HDR_ROOM >= sizeof(struct fuse_in_header) + URING_OP_IN_OUT_SZ, "room for the headers");
/* user_data of the eventfd read that wakes a queue thread for a reply from another thread */
#define EV_TAG UINT64_MAX
/* How long a queue thread waits for a completion before it looks at the stop flag again (only
 * pktfuse_uring_stop before the unmount needs it; the unmount itself completes every command). */
#define WAIT_SEC 1

struct ring {
	int fd;
	unsigned entries;
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	char *sqes; /* SQE128_SIZE bytes each */
	void *sq_map, *cq_map;
	size_t sq_map_len, cq_map_len, sqes_len;
};

struct queue;

struct ent {
	struct queue *q;
	unsigned idx; /* user_data of its commands */
	struct uring_req_header *hdr;
	char *mem;     /* HDR_ROOM + the payload buffer */
	char *payload; /* mem + HDR_ROOM */
	struct iovec iov[2];
	/* Under the queue's lock: */
	enum {
		ENT_KERNEL,   /* the kernel holds it (waiting for a request, or a commit on its way) */
		ENT_SERVING,  /* its request is in its handler */
		ENT_DEFERRED, /* the handler returned without a reply: one will come from another thread */
	} state;
	uint64_t unique;    /* the request it holds */
	uint64_t commit_id; /* the kernel's for it */
	bool replied;	    /* the reply is in the entry */
};

struct queue {
	struct pktfuse_uring *u;
	unsigned qid;
	pthread_t thread;
	bool started;
	struct ring ring;
	pthread_mutex_t lock; /* the entries' state; ready */
	unsigned ready;	      /* entries (bits) whose deferred reply is in: to commit */
	int efd;	      /* eventfd: written when ready gains a bit */
	uint64_t ev_val;      /* the eventfd read's buffer */
	struct ent ents[ENTS_PER_QUEUE];
	unsigned live;		      /* entries the kernel still holds or that are being served */
	bool moved_here;	      /* this thread's: a request it served came from a requester that moved */
	unsigned long served;	      /* atomic: read by pktfuse_uring_served */
	unsigned long moved, lingers; /* atomic: read by pktfuse_uring_moves */
};

struct pktfuse_uring {
	struct fuse_session *se;
	int fd;
	size_t payload_cap;
	unsigned nq;
	struct queue *qs;
	unsigned long *counts;
	size_t ncounts;
	uint64_t linger_ns;	      /* see the top of the file; 0: never */
	struct requester_moves moves; /* every queue thread's */
	/* The queue threads start before INIT, so that a kernel refusing io_uring itself (no ring can
	 * be made: io_uring_disabled, a seccomp filter) is known before the INIT reply asks for it: once
	 * asked, the kernel holds every request until all queues are registered or one registration
	 * fails.  lock guards what follows. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned rings_made; /* threads that tried to make their ring */
	unsigned registered; /* threads that tried to register their entries */
	int err;	     /* the first error of either */
	bool go;	     /* the INIT reply asked for io_uring: register */
	int stop;	     /* atomic: the threads end */
};

/* What the INIT exchange said.  Written only by the thread serving INIT in pktfuse_uring_start
 * (the queue threads read nothing of it). */
static struct {
	struct pktfuse_uring *u; /* the transport waiting for INIT, its rings made */
	bool seen;		 /* INIT was read */
	uint64_t unique;	 /* its unique, to recognise its reply */
	bool offered;		 /* the kernel offered FUSE_OVER_IO_URING */
	bool asked;		 /* our reply asked for it */
	bool replied;		 /* the reply went to the kernel */
} init_state;

/* The ring entry whose request the calling thread is serving (NULL: none, e.g. the /dev/fuse loop). */
static _Thread_local struct ent *serving;

/* The running transport, for replies from threads that serve no ring entry; active_lock keeps it
 * from going while such a reply looks for its entry. */
static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pktfuse_uring *active;

static void count_opcode(unsigned long *counts, size_t ncounts, uint32_t op)
{
	if (counts && ncounts)
		__atomic_add_fetch(&counts[op < ncounts ? op : 0], 1, __ATOMIC_RELAXED);
}

/* --- the session's custom I/O --- */

static ssize_t hook_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	return read(fd, buf, len);
}

static int alloc_entries(struct pktfuse_uring *u, size_t payload_cap);

/* libfuse 3.14 knows no init flag above FUSE_CAP_* of 32 bits and offers no way to set flags2: the
 * only place where the reply can ask for FUSE_OVER_IO_URING is the reply itself, on its way out.
 * Asked only when the entries' buffers, whose size the reply sets, could be had. */
static void ask_for_uring(struct iovec *iov, int count)
{
	const struct fuse_out_header *oh = iov[0].iov_base;
	if (!init_state.u || !init_state.offered || oh->error != 0 || count < 2 ||
	    iov[1].iov_len < offsetof(struct fuse_init_out, flags2) + sizeof(uint32_t))
		return;
	struct fuse_init_out *out = iov[1].iov_base;
	/* The kernel's buffer size (fuse_uring_create): max(FUSE_MIN_READ_BUFFER, max_write, max_pages
	 * pages), from what the reply says (the kernel only lowers max_pages; without FUSE_MAX_PAGES
	 * it is FUSE_DEFAULT_MAX_PAGES_PER_REQ). */
	size_t page = (size_t)sysconf(_SC_PAGESIZE), cap = 8192;
	size_t pages = (out->flags & FUSE_MAX_PAGES) ? out->max_pages : 32;
	if (out->max_write > cap)
		cap = out->max_write;
	if (pages * page > cap)
		cap = pages * page;
	if (alloc_entries(init_state.u, cap) != 0) {
		fuse_log(FUSE_LOG_ERR, "fuse_uring: no memory for the ring entries\n");
		return;
	}
	out->flags |= FUSE_INIT_EXT; /* flags2 is read only with it */
	out->flags2 |= (uint32_t)(URING_FUSE_OVER_IO_URING >> 32);
	init_state.asked = true;
}

/* Puts a reply into entry e, whose queue's lock the caller holds and whose request it is: it is
 * committed when its handler returns, or (deferred) by the queue's thread, woken here.  A reply
 * larger than the payload buffer (cannot be: the kernel asks for no more than it sized the buffer
 * for) becomes EIO rather than a request that never ends. */
static ssize_t reply_into_ent(struct ent *e, const struct iovec *iov, int count)
{
	struct fuse_out_header oh;
	size_t n = 0, total = iov[0].iov_len;
	bool fits = true;

	memcpy(&oh, iov[0].iov_base, sizeof(oh));
	for (int i = 1; i < count; i++) {
		total += iov[i].iov_len;
		if (iov[i].iov_len > e->q->u->payload_cap - n) {
			fits = false;
			continue;
		}
		/* memmove: a reply may quote the request's own bytes, which are in this buffer */
		memmove(e->payload + n, iov[i].iov_base, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	if (!fits) {
		oh.error = -EIO;
		n = 0;
	}
	oh.len = (uint32_t)(sizeof(oh) + n);
	memcpy(e->hdr->in_out, &oh, sizeof(oh));
	e->hdr->ring_ent_in_out.payload_sz = (uint32_t)n;
	e->replied = true;
	if (e->state == ENT_DEFERRED) {
		uint64_t one = 1;
		e->q->ready |= 1u << e->idx;
		if (write(e->q->efd, &one, sizeof(one)) != sizeof(one)) /* cannot fail: a counter far from full */
			fuse_log(FUSE_LOG_ERR, "fuse_uring: cannot wake queue %u\n", e->q->qid);
	}
	if (!fits) {
		errno = EIO;
		return -1;
	}
	return (ssize_t)total;
}

/* e's request, not yet answered, is the one with this unique (the caller holds e's queue's lock). */
static bool awaits(const struct ent *e, uint64_t unique)
{
	return e->state != ENT_KERNEL && !e->replied && e->unique == unique;
}

/* A reply to a request from the ring: into its entry, *res what writev returns; false when no
 * entry holds that request (the reply goes to /dev/fuse). */
static bool reply_to_ring(uint64_t unique, const struct iovec *iov, int count, ssize_t *res)
{
	struct ent *e = serving;
	bool done = false;

	if (e) { /* the usual case: the handler replies on the thread serving the request */
		pthread_mutex_lock(&e->q->lock);
		done = awaits(e, unique);
		if (done)
			*res = reply_into_ent(e, iov, count);
		pthread_mutex_unlock(&e->q->lock);
		if (done)
			return true;
	}
	pthread_mutex_lock(&active_lock);
	struct pktfuse_uring *u = active;
	for (unsigned i = 0; u && !done && i < u->nq; i++) {
		struct queue *q = &u->qs[i];
		pthread_mutex_lock(&q->lock);
		for (unsigned k = 0; !done && k < ENTS_PER_QUEUE; k++) {
			done = awaits(&q->ents[k], unique);
			if (done)
				*res = reply_into_ent(&q->ents[k], iov, count);
		}
		pthread_mutex_unlock(&q->lock);
	}
	pthread_mutex_unlock(&active_lock);
	return done;
}

static ssize_t hook_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	if (count < 1 || iov[0].iov_len < sizeof(struct fuse_out_header))
		return writev(fd, iov, count);
	const struct fuse_out_header *oh = iov[0].iov_base;
	ssize_t res;
	if (oh->unique != 0 && reply_to_ring(oh->unique, iov, count, &res)) /* 0: a notification */
		return res;
	bool init = init_state.seen && !init_state.replied && oh->unique == init_state.unique;
	if (init)
		ask_for_uring(iov, count);
	res = writev(fd, iov, count);
	if (init)
		init_state.replied = true;
	return res;
}

/* --- io_uring, by its system calls (no liburing here) --- */

static void ring_close(struct ring *r)
{
	if (r->sqes)
		munmap(r->sqes, r->sqes_len);
	if (r->cq_map && r->cq_map != r->sq_map)
		munmap(r->cq_map, r->cq_map_len);
	if (r->sq_map)
		munmap(r->sq_map, r->sq_map_len);
	if (r->fd >= 0)
		close(r->fd); /* cancels the commands the kernel still holds */
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

static int ring_setup(struct ring *r, unsigned entries)
{
	struct io_uring_params p;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	/* One thread submits and reaps (SINGLE_ISSUER); the kernel's work for it (the request copied
	 * into the entry) runs when that thread waits, not as an interruption (DEFER_TASKRUN). */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	int fd = (int)syscall(__NR_io_uring_setup, entries, &p);
	if (fd < 0 && errno == EINVAL) { /* a kernel before 6.1 */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_SQE128;
		fd = (int)syscall(__NR_io_uring_setup, entries, &p);
	}
	if (fd < 0)
		return -errno;
	r->fd = fd;
	if (!(p.features & IORING_FEAT_EXT_ARG)) { /* the wait's timeout */
		ring_close(r);
		return -EOPNOTSUPP;
	}
	r->entries = p.sq_entries;
	r->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	r->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	bool single = p.features & IORING_FEAT_SINGLE_MMAP;
	if (single && r->cq_map_len > r->sq_map_len)
		r->sq_map_len = r->cq_map_len;
	r->sq_map =
		mmap(NULL, r->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	if (r->sq_map == MAP_FAILED) {
		r->sq_map = NULL;
		goto fail;
	}
	if (single) {
		r->cq_map = r->sq_map;
	} else {
		r->cq_map = mmap(NULL, r->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
				 IORING_OFF_CQ_RING);
		if (r->cq_map == MAP_FAILED) {
			r->cq_map = NULL;
			goto fail;
		}
	}
	r->sqes_len = (size_t)p.sq_entries * SQE128_SIZE;
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED) {
		r->sqes = NULL;
		goto fail;
	}
	char *sq = r->sq_map, *cq = r->cq_map;
	r->sq_head = (unsigned *)(sq + p.sq_off.head);
	r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + p.sq_off.array);
	r->cq_head = (unsigned *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
fail : {
	int err = -errno;
	ring_close(r);
	return err;
}
}

/* The next free SQE, zeroed, or NULL when the submission queue is full. */
static struct io_uring_sqe *ring_sqe(struct ring *r)
{
	unsigned tail = *r->sq_tail;
	unsigned head = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
	if (tail - head >= r->entries)
		return NULL;
	unsigned idx = tail & *r->sq_mask;
	char *sqe = r->sqes + (size_t)idx * SQE128_SIZE;
	memset(sqe, 0, SQE128_SIZE);
	r->sq_array[idx] = idx;
	return (struct io_uring_sqe *)sqe;
}

static void ring_push(struct ring *r)
{
	__atomic_store_n(r->sq_tail, *r->sq_tail + 1, __ATOMIC_RELEASE);
}

/* SQEs queued and not yet taken by the kernel (counted from the ring itself: io_uring_enter may
 * take them and still fail, e.g. when its wait times out). */
static unsigned ring_unsubmitted(const struct ring *r)
{
	return *r->sq_tail - __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
}

/* Submits what is queued; with wait, then waits up to WAIT_SEC for a completion.  0 or -errno
 * (-ETIME: no completion in time, -EINTR). */
static int ring_enter(struct ring *r, bool wait)
{
	struct __kernel_timespec ts = {.tv_sec = WAIT_SEC};
	struct io_uring_getevents_arg arg = {.ts = (uint64_t)(uintptr_t)&ts};
	long n = syscall(__NR_io_uring_enter, r->fd, ring_unsubmitted(r), wait ? 1 : 0,
			 wait ? IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG : 0, wait ? &arg : NULL,
			 wait ? sizeof(arg) : 0);
	return n < 0 ? -errno : 0;
}

/* Submits what is queued and takes the completions there are without waiting (with DEFER_TASKRUN
 * the kernel's work for the ring, which posts them, runs here).  0 or -errno. */
static int ring_poll(struct ring *r)
{
	long n = syscall(__NR_io_uring_enter, r->fd, ring_unsubmitted(r), 0, IORING_ENTER_GETEVENTS, NULL, 0);
	return n < 0 ? -errno : 0;
}

static bool ring_has_completion(const struct ring *r)
{
	return *r->cq_head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
}

/* Fills sqe with a command to /dev/fuse (iov: REGISTER's two iovecs, else NULL) and queues it. */
static void uring_cmd(struct ring *r, struct io_uring_sqe *sqe, int fd, uint32_t op, const struct uring_cmd_req *req,
		      const struct iovec *iov, uint64_t user_data)
{
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	if (iov) {
		sqe->addr = (uint64_t)(uintptr_t)iov;
		sqe->len = 2;
	}
	sqe->user_data = user_data;
	memcpy((char *)sqe + SQE_CMD_OFFSET, req, sizeof(*req));
	ring_push(r); /* after the SQE is whole: the tail's store publishes it */
}

/* --- serving --- */

/* Queues the commit of entry e's reply (and the fetch of its next request). */
static void commit(struct queue *q, struct ent *e)
{
	struct io_uring_sqe *sqe = ring_sqe(&q->ring);
	if (!sqe) { /* cannot be: at most ENTS_PER_QUEUE + 1 commands, the ring has more SQEs */
		fuse_log(FUSE_LOG_ERR, "fuse_uring: queue %u: no free SQE\n", q->qid);
		q->live--;
		return;
	}
	struct uring_cmd_req req = {.commit_id = e->commit_id, .qid = (uint16_t)q->qid};
	uring_cmd(&q->ring, sqe, q->u->fd, URING_CMD_COMMIT_AND_FETCH, &req, NULL, e->idx);
}

/* Serves the request the kernel put in e; commits its reply if the handler gave one. */
static void serve(struct queue *q, struct ent *e)
{
	struct pktfuse_uring *u = q->u;
	struct fuse_in_header in;
	const size_t ih = sizeof(in);

	memcpy(&in, e->hdr->in_out, ih);
	size_t psz = e->hdr->ring_ent_in_out.payload_sz;
	pthread_mutex_lock(&q->lock);
	e->state = ENT_SERVING;
	e->unique = in.unique;
	e->commit_id = e->hdr->ring_ent_in_out.commit_id;
	e->replied = false;
	pthread_mutex_unlock(&q->lock);
	/* in.len is the whole request as /dev/fuse would carry it: the header, op_in, the payload */
	if (psz > u->payload_cap || in.len < ih + psz || in.len - ih - psz > URING_OP_IN_OUT_SZ) {
		fuse_log(FUSE_LOG_ERR, "fuse_uring: request %llu of opcode %u has inconsistent sizes\n",
			 (unsigned long long)in.unique, in.opcode);
		struct fuse_out_header oh = {.len = sizeof(oh), .error = -EIO, .unique = in.unique};
		struct iovec iov = {.iov_base = &oh, .iov_len = sizeof(oh)};
		pthread_mutex_lock(&q->lock);
		reply_into_ent(e, &iov, 1);
		pthread_mutex_unlock(&q->lock);
	} else {
		size_t op = in.len - ih - psz;
		char *start = e->payload - op - ih;
		if ((uintptr_t)start % _Alignof(uint64_t)) { /* an op_in of odd size: move the payload */
			start = e->mem;
			memmove(start + ih + op, e->payload, psz);
		}
		memcpy(start, &in, ih);
		memcpy(start + ih, e->hdr->op_in, op);
		struct fuse_buf fb = {.size = in.len, .mem = start};
		count_opcode(u->counts, u->ncounts, in.opcode);
		if (requester_moved(&u->moves, q->qid, in.pid)) {
			q->moved_here = true;
			__atomic_add_fetch(&q->moved, 1, __ATOMIC_RELAXED);
		}
		serving = e;
		fuse_session_process_buf(u->se, &fb);
		serving = NULL;
		__atomic_add_fetch(&q->served, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&q->lock);
	bool replied = e->replied;
	e->state = replied ? ENT_KERNEL : ENT_DEFERRED;
	pthread_mutex_unlock(&q->lock);
	if (replied)
		commit(q, e);
}

/* (Re)arms the read of the queue's eventfd. */
static int arm_wakeup(struct queue *q)
{
	struct io_uring_sqe *sqe = ring_sqe(&q->ring);
	if (!sqe)
		return -ENOSPC;
	sqe->opcode = IORING_OP_READ;
	sqe->fd = q->efd;
	sqe->addr = (uint64_t)(uintptr_t)&q->ev_val;
	sqe->len = sizeof(q->ev_val);
	sqe->user_data = EV_TAG;
	ring_push(&q->ring);
	return 0;
}

/* The eventfd was written: commits the deferred entries whose replies came in. */
static void commit_ready(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	unsigned ready = q->ready;
	q->ready = 0;
	for (unsigned k = 0; k < ENTS_PER_QUEUE; k++)
		if (ready & (1u << k))
			q->ents[k].state = ENT_KERNEL;
	pthread_mutex_unlock(&q->lock);
	for (unsigned k = 0; k < ENTS_PER_QUEUE; k++)
		if (ready & (1u << k))
			commit(q, &q->ents[k]);
}

/* Takes every completion there is; the first error of an entry's command (its end: the unmount's
 * -ENOTCONN, a cancel, a refused registration) in *first_err. */
static void reap(struct queue *q, int *first_err)
{
	struct ring *r = &q->ring;
	unsigned head = *r->cq_head;

	for (;;) {
		unsigned tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
		if (head == tail)
			break;
		const struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
		uint64_t ud = cqe->user_data;
		int res = cqe->res;
		__atomic_store_n(r->cq_head, ++head, __ATOMIC_RELEASE);
		if (ud == EV_TAG) {
			if (res >= 0 && arm_wakeup(q) != 0)
				fuse_log(FUSE_LOG_ERR, "fuse_uring: queue %u: cannot rearm its wakeup\n", q->qid);
			commit_ready(q);
			continue;
		}
		if (ud >= ENTS_PER_QUEUE)
			continue;
		if (res < 0) {
			if (first_err && !*first_err)
				*first_err = res;
			q->live--;
			continue;
		}
		serve(q, &q->ents[ud]);
	}
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* After serving a requester that moved here: stays runnable for u->linger_ns, serving what comes,
 * and starts again after each further request from a requester that moved.  Replies are submitted
 * before anything else (each turn starts with ring_poll); only a turn with nothing to do yields, and
 * sched_yield gives the CPU to whatever else is runnable on it (the requester itself, most often), so
 * lingering takes no time from it. */
static void linger(struct queue *q)
{
	uint64_t start = monotonic_ns();

	__atomic_add_fetch(&q->lingers, 1, __ATOMIC_RELAXED);
	while (monotonic_ns() - start < q->u->linger_ns && !__atomic_load_n(&q->u->stop, __ATOMIC_ACQUIRE)) {
		if (ring_poll(&q->ring) != 0)
			return; /* the loop's wait reports it */
		if (!ring_has_completion(&q->ring)) {
			sched_yield();
			continue;
		}
		q->moved_here = false;
		reap(q, NULL);
		if (q->moved_here)
			start = monotonic_ns();
		if (q->live == 0)
			return;
	}
}

/* Registers the queue's entries; 0 or the kernel's -errno (a refused registration completes at once). */
static int register_queue(struct queue *q)
{
	struct pktfuse_uring *u = q->u;

	for (unsigned i = 0; i < ENTS_PER_QUEUE; i++) {
		struct io_uring_sqe *sqe = ring_sqe(&q->ring);
		if (!sqe)
			return -ENOSPC;
		struct uring_cmd_req req = {.qid = (uint16_t)q->qid};
		uring_cmd(&q->ring, sqe, u->fd, URING_CMD_REGISTER, &req, q->ents[i].iov, i);
	}
	q->live = ENTS_PER_QUEUE;
	int err = arm_wakeup(q);
	if (err)
		return err;
	err = ring_enter(&q->ring, false);
	if (err)
		return err;
	if (ring_unsubmitted(&q->ring))
		return -EAGAIN;
	int first = 0;
	reap(q, &first);
	return first;
}

/* One step of a queue thread's start: its result into *step and u->err, then waits until
 * pktfuse_uring_start says go on (true) or stop (false). */
static bool report_and_wait(struct pktfuse_uring *u, unsigned *step, int err, bool wait)
{
	pthread_mutex_lock(&u->lock);
	if (err && !u->err)
		u->err = err;
	(*step)++;
	pthread_cond_broadcast(&u->cond);
	while (wait && !u->go && !__atomic_load_n(&u->stop, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&u->cond, &u->lock);
	bool go = u->go && !__atomic_load_n(&u->stop, __ATOMIC_ACQUIRE);
	pthread_mutex_unlock(&u->lock);
	return go;
}

static void *queue_main(void *arg)
{
	struct queue *q = arg;
	struct pktfuse_uring *u = q->u;
	cpu_set_t set;

	/* On the queue's CPU: the kernel picks the queue by the requester's CPU.  A CPU that is
	 * possible but offline cannot be had: its queue is served from anywhere (it gets nothing). */
	CPU_ZERO(&set);
	CPU_SET(q->qid, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	/* the ring is made here: with SINGLE_ISSUER its maker is the one thread that may use it */
	int err = ring_setup(&q->ring, 2 * ENTS_PER_QUEUE); /* the entries' commands, the wakeup read */
	if (!report_and_wait(u, &u->rings_made, err, !err) || err)
		return NULL;
	err = register_queue(q);
	report_and_wait(u, &u->registered, err, false);
	if (err)
		return NULL;
	while (q->live > 0 && !__atomic_load_n(&u->stop, __ATOMIC_ACQUIRE)) {
		err = ring_enter(&q->ring, true);
		if (err && err != -ETIME && err != -EINTR) {
			fuse_log(FUSE_LOG_ERR, "fuse_uring: queue %u: io_uring_enter: %s\n", q->qid, strerror(-err));
			break;
		}
		q->moved_here = false;
		reap(q, NULL);
		if (q->moved_here && u->linger_ns)
			linger(q);
	}
	return NULL;
}

/* --- setup and teardown --- */

/* The kernel's queue count: num_possible_cpus(), from /sys/devices/system/cpu/possible ("0-3,6"). */
static unsigned possible_cpus(void)
{
	unsigned n = 0;
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	if (f) {
		char line[256];
		if (fgets(line, sizeof(line), f)) {
			for (char *p = line; *p && *p != '\n';) {
				char *end;
				unsigned long a = strtoul(p, &end, 10), b = a;
				if (end == p)
					break;
				if (*end == '-')
					b = strtoul(end + 1, &end, 10);
				if (b < CPU_SETSIZE && b + 1 > n)
					n = (unsigned)b + 1;
				p = *end == ',' ? end + 1 : end;
			}
		}
		fclose(f);
	}
	if (n == 0) {
		int c = get_nprocs_conf();
		n = c > 0 ? (unsigned)c : 1;
	}
	return n;
}

static void free_uring(struct pktfuse_uring *u)
{
	for (unsigned i = 0; u->qs && i < u->nq; i++) {
		struct queue *q = &u->qs[i];
		ring_close(&q->ring);
		if (q->efd >= 0)
			close(q->efd);
		pthread_mutex_destroy(&q->lock);
		for (unsigned k = 0; k < ENTS_PER_QUEUE; k++) {
			free(q->ents[k].hdr);
			free(q->ents[k].mem);
		}
	}
	free(u->qs);
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->cond);
	free(u);
}

/* Each entry's header and payload buffer (HDR_ROOM in front of it for the rebuilt request). */
static int alloc_entries(struct pktfuse_uring *u, size_t payload_cap)
{
	u->payload_cap = payload_cap;
	for (unsigned i = 0; i < u->nq; i++) {
		for (unsigned k = 0; k < ENTS_PER_QUEUE; k++) {
			struct ent *e = &u->qs[i].ents[k];
			e->hdr = calloc(1, sizeof(*e->hdr));
			if (posix_memalign((void **)&e->mem, 4096, HDR_ROOM + payload_cap) != 0)
				e->mem = NULL;
			if (!e->hdr || !e->mem)
				return -ENOMEM;
			e->payload = e->mem + HDR_ROOM;
			e->iov[0] = (struct iovec){.iov_base = e->hdr, .iov_len = sizeof(*e->hdr)};
			e->iov[1] = (struct iovec){.iov_base = e->payload, .iov_len = payload_cap};
		}
	}
	return 0;
}

/* Reads the offer in INIT's request (fuse_init_in: flags2 is there with FUSE_INIT_EXT). */
static void note_init(const struct fuse_buf *fb)
{
	const struct fuse_in_header *in = fb->mem;
	init_state.seen = true;
	init_state.unique = in->unique;
	if (fb->size < sizeof(*in) + offsetof(struct fuse_init_in, flags2) + sizeof(uint32_t))
		return;
	const struct fuse_init_in *arg = (const void *)((const char *)fb->mem + sizeof(*in));
	init_state.offered = (arg->flags & FUSE_INIT_EXT) && (arg->flags2 & (uint32_t)(URING_FUSE_OVER_IO_URING >> 32));
}

/* Serves /dev/fuse until INIT's reply has gone out; 0 or -errno. */
static int serve_until_init(struct fuse_session *se, unsigned long *counts, size_t ncounts)
{
	struct fuse_buf fb = {.mem = NULL};
	int res = 0;

	while (!init_state.replied) {
		if (fuse_session_exited(se)) {
			res = -ENODEV;
			break;
		}
		res = fuse_session_receive_buf(se, &fb);
		if (res == -EINTR)
			continue;
		if (res <= 0) {
			res = res ? res : -ENODEV;
			break;
		}
		res = 0;
		if (!(fb.flags & FUSE_BUF_IS_FD) && fb.size >= sizeof(struct fuse_in_header)) {
			const struct fuse_in_header *in = fb.mem;
			count_opcode(counts, ncounts, in->opcode);
			if (in->opcode == FUSE_INIT && !init_state.seen)
				note_init(&fb);
		}
		fuse_session_process_buf(se, &fb);
	}
	free(fb.mem);
	return res;
}

/* Waits until every started thread has passed *step; the first error so far. */
static int wait_step(struct pktfuse_uring *u, const unsigned *step, unsigned started)
{
	pthread_mutex_lock(&u->lock);
	while (*step < started)
		pthread_cond_wait(&u->cond, &u->lock);
	int err = u->err;
	pthread_mutex_unlock(&u->lock);
	return err;
}

static void release_threads(struct pktfuse_uring *u, bool go)
{
	pthread_mutex_lock(&u->lock);
	if (go)
		u->go = true;
	else
		__atomic_store_n(&u->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

static void stop_threads(struct pktfuse_uring *u)
{
	release_threads(u, false);
	for (unsigned i = 0; i < u->nq; i++)
		if (u->qs[i].started)
			pthread_join(u->qs[i].thread, NULL);
}

/* The transport with its queue threads started, their rings made (or NULL, *err why). */
static struct pktfuse_uring *make_uring(struct fuse_session *se, unsigned long *counts, size_t ncounts,
					unsigned linger_us, unsigned *started, int *err)
{
	struct pktfuse_uring *u = calloc(1, sizeof(*u));
	*started = 0;
	*err = -ENOMEM;
	if (!u)
		return NULL;
	u->se = se;
	u->fd = fuse_session_fd(se);
	u->counts = counts;
	u->ncounts = ncounts;
	u->linger_ns = (uint64_t)linger_us * 1000u;
	u->nq = possible_cpus();
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	u->qs = calloc(u->nq, sizeof(*u->qs));
	if (!u->qs) {
		free_uring(u);
		return NULL;
	}
	*err = 0;
	for (unsigned i = 0; i < u->nq; i++) {
		struct queue *q = &u->qs[i];
		q->u = u;
		q->qid = i;
		q->ring.fd = -1;
		pthread_mutex_init(&q->lock, NULL);
		q->efd = eventfd(0, EFD_CLOEXEC);
		if (q->efd < 0 && !*err)
			*err = -errno;
		for (unsigned k = 0; k < ENTS_PER_QUEUE; k++)
			q->ents[k] = (struct ent){.q = q, .idx = k};
	}
	if (*err) {
		free_uring(u);
		return NULL;
	}
	for (unsigned i = 0; !*err && i < u->nq; i++) {
		*err = -pthread_create(&u->qs[i].thread, NULL, queue_main, &u->qs[i]);
		u->qs[i].started = !*err;
		*started += !*err;
	}
	int made = wait_step(u, &u->rings_made, *started);
	if (!*err)
		*err = made;
	if (*err) {
		stop_threads(u);
		free_uring(u);
		return NULL;
	}
	return u;
}

int pktfuse_uring_start(struct fuse_session *se, unsigned long *counts, size_t ncounts, unsigned linger_us,
			struct pktfuse_uring **out)
{
	static const struct fuse_custom_io io = {.writev = hook_writev, .read = hook_read};
	unsigned started;
	int ring_err;

	*out = NULL;
	memset(&init_state, 0, sizeof(init_state));
	int err = fuse_session_custom_io(se, &io, fuse_session_fd(se));
	if (err)
		return err < 0 ? err : -EINVAL;
	/* without rings, INIT is served as usual and the reply asks for nothing */
	init_state.u = make_uring(se, counts, ncounts, linger_us, &started, &ring_err);
	err = serve_until_init(se, counts, ncounts);
	struct pktfuse_uring *u = init_state.u;
	init_state.u = NULL;
	if (!u) /* a ring that cannot be made matters only where the kernel offers it */
		return err ? err : ring_err && init_state.offered ? ring_err : -EOPNOTSUPP;
	if (err || !init_state.asked) {
		stop_threads(u);
		free_uring(u);
		return err ? err : -EOPNOTSUPP;
	}
	pthread_mutex_lock(&active_lock);
	active = u;
	pthread_mutex_unlock(&active_lock);
	release_threads(u, true);
	err = wait_step(u, &u->registered, started);
	if (err) {
		/* a refused registration turns io_uring off for the connection: /dev/fuse goes on */
		pthread_mutex_lock(&active_lock);
		active = NULL;
		pthread_mutex_unlock(&active_lock);
		stop_threads(u);
		free_uring(u);
		return err;
	}
	*out = u;
	return 0;
}

bool pktfuse_uring_may_be_offered(void)
{
	char c = 0;
	FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "re");

	if (!f)
		return true;
	bool n = fread(&c, 1, 1, f) == 1 && c == 'N';
	fclose(f);
	return !n;
}

unsigned long pktfuse_uring_served(const struct pktfuse_uring *u)
{
	unsigned long n = 0;
	for (unsigned i = 0; u && i < u->nq; i++)
		n += __atomic_load_n(&u->qs[i].served, __ATOMIC_RELAXED);
	return n;
}

void pktfuse_uring_moves(const struct pktfuse_uring *u, unsigned long *moved, unsigned long *lingers)
{
	*moved = *lingers = 0;
	for (unsigned i = 0; u && i < u->nq; i++) {
		*moved += __atomic_load_n(&u->qs[i].moved, __ATOMIC_RELAXED);
		*lingers += __atomic_load_n(&u->qs[i].lingers, __ATOMIC_RELAXED);
	}
}

unsigned pktfuse_uring_queues(const struct pktfuse_uring *u)
{
	return u ? u->nq : 0;
}

void pktfuse_uring_stop(struct pktfuse_uring *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&active_lock);
	if (active == u)
		active = NULL;
	pthread_mutex_unlock(&active_lock);
	stop_threads(u);
	free_uring(u);
}
