/*
 * Batched kernel operations for the maintenance thread (see aio.h).
 */
#define _GNU_SOURCE
#include "aio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef MRING_HAVE_LIBURING
#include <liburing.h>
#endif

void mring__aio_init(struct mring__aio *a, bool use_uring)
{
	a->uring = NULL;
	a->n = 0;
#ifdef MRING_HAVE_LIBURING
	if (!use_uring)
		return;
	struct io_uring *u = calloc(1, sizeof(*u));
	if (!u)
		return;
	/* Fails with -ENOSYS, -EPERM (sysctl, seccomp)...: fall back. */
	if (io_uring_queue_init(MRING__AIO_DEPTH, u, 0) < 0) {
		free(u);
		return;
	}
	/* The opcodes must be there too (madvise, write: 5.6; sync: 5.2). */
	struct io_uring_probe *pr = io_uring_get_probe_ring(u);
	if (!pr || !io_uring_opcode_supported(pr, IORING_OP_MADVISE) ||
	    !io_uring_opcode_supported(pr, IORING_OP_FALLOCATE) ||
	    !io_uring_opcode_supported(pr, IORING_OP_SYNC_FILE_RANGE) ||
	    !io_uring_opcode_supported(pr, IORING_OP_FADVISE) ||
	    !io_uring_opcode_supported(pr, IORING_OP_WRITE)) {
		if (pr)
			io_uring_free_probe(pr);
		io_uring_queue_exit(u);
		free(u);
		return;
	}
	io_uring_free_probe(pr);
	a->uring = u;
#else
	(void)use_uring;
#endif
}

void mring__aio_fini(struct mring__aio *a)
{
#ifdef MRING_HAVE_LIBURING
	if (a->uring) {
		io_uring_queue_exit(a->uring);
		free(a->uring);
	}
#endif
	a->uring = NULL;
}

struct mring__aio_req *mring__aio_add(struct mring__aio *a,
                                      enum mring__aio_op op, int fd, int arg,
                                      void *addr, uint64_t off, uint64_t len,
                                      int tag)
{
	if (a->n == MRING__AIO_DEPTH)
		return NULL;
	struct mring__aio_req *q = &a->req[a->n++];
	*q = (struct mring__aio_req){op, fd, arg, addr, off, len, tag, 0, 0};
	return q;
}

static int run_sync(const struct mring__aio_req *q)
{
	int rc = 0;

	switch (q->op) {
	case MRING__AIO_MADVISE:
		rc = madvise(q->addr, q->len, q->arg) ? -errno : 0;
		break;
	case MRING__AIO_FALLOCATE:
		rc = fallocate(q->fd, q->arg, (off_t)q->off, (off_t)q->len)
		             ? -errno
		             : 0;
		break;
	case MRING__AIO_SYNC_RANGE:
		rc = sync_file_range(q->fd, (off_t)q->off, (off_t)q->len,
		                     (unsigned)q->arg)
		             ? -errno
		             : 0;
		break;
	case MRING__AIO_FADVISE:
		/* posix_fadvise returns the error instead of setting errno. */
		rc = -posix_fadvise(q->fd, (off_t)q->off, (off_t)q->len,
		                    q->arg);
		break;
	case MRING__AIO_PWRITE: {
		const uint8_t *p = q->addr;
		uint64_t done = 0;
		while (done < q->len) {
			ssize_t w = pwrite(q->fd, p + done, q->len - done,
			                   (off_t)(q->off + done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return w < 0 ? -errno : -EIO;
			done += (uint64_t)w;
		}
		break;
	}
	}
	return rc;
}

#ifdef MRING_HAVE_LIBURING
static void prep(struct io_uring_sqe *e, const struct mring__aio_req *q)
{
	switch (q->op) {
	case MRING__AIO_MADVISE:
		io_uring_prep_madvise(e, q->addr, (off_t)q->len, q->arg);
		break;
	case MRING__AIO_FALLOCATE:
		io_uring_prep_fallocate(e, q->fd, q->arg, (off_t)q->off,
		                        (off_t)q->len);
		break;
	case MRING__AIO_SYNC_RANGE:
		io_uring_prep_sync_file_range(e, q->fd, (unsigned)q->len,
		                              q->off, q->arg);
		break;
	case MRING__AIO_FADVISE:
		io_uring_prep_fadvise(e, q->fd, q->off, (off_t)q->len, q->arg);
		break;
	case MRING__AIO_PWRITE:
		io_uring_prep_write(e, q->fd, q->addr, (unsigned)q->len,
		                    q->off);
		break;
	}
}

static void run_uring(struct mring__aio *a)
{
	struct io_uring *u = a->uring;
	unsigned i, done = 0;

	for (i = 0; i < a->n; i++) {
		struct io_uring_sqe *e = io_uring_get_sqe(u);
		prep(e, &a->req[i]);
		io_uring_sqe_set_data(e, (void *)(uintptr_t)i);
	}
	int rc = io_uring_submit_and_wait(u, a->n);
	if (rc < 0) {
		/* Nothing was queued (the ring is fine): do it by hand. */
		for (i = 0; i < a->n; i++)
			a->req[i].res = run_sync(&a->req[i]);
		return;
	}
	while (done < a->n) {
		struct io_uring_cqe *c;
		rc = io_uring_wait_cqe(u, &c);
		if (rc < 0) {
			if (rc == -EINTR)
				continue;
			break;
		}
		uint64_t idx = (uintptr_t)io_uring_cqe_get_data(c);
		if (idx < a->n) {
			struct mring__aio_req *q = &a->req[idx];
			q->res = c->res < 0 ? c->res : 0;
			/* A short write is a failed one: not worth a retry
			 * here, the caller has a way without it. */
			if (q->op == MRING__AIO_PWRITE && c->res >= 0 &&
			    (uint64_t)c->res != q->len)
				q->res = -EIO;
		}
		io_uring_cqe_seen(u, c);
		done++;
	}
}
#endif

void mring__aio_run(struct mring__aio *a)
{
#ifdef MRING_HAVE_LIBURING
	if (a->uring && a->n) {
		run_uring(a);
		return;
	}
#endif
	for (unsigned i = 0; i < a->n; i++)
		a->req[i].res = run_sync(&a->req[i]);
}
