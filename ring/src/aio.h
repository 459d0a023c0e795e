/*
 * Batches of kernel operations for the maintenance thread: madvise,
 * fallocate, sync_file_range, fadvise and pwrite, submitted together through
 * io_uring and reaped together, or run one by one as plain system calls
 * when io_uring cannot be set up (old kernel, sysctl, seccomp, or asked).
 */
#ifndef MRING_AIO_H
#define MRING_AIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MRING__AIO_DEPTH 32

enum mring__aio_op {
	MRING__AIO_MADVISE,
	MRING__AIO_FALLOCATE,
	MRING__AIO_SYNC_RANGE,
	MRING__AIO_FADVISE,
	MRING__AIO_PWRITE, /* len bytes from addr at off; short = -EIO */
};

struct mring__aio_req {
	enum mring__aio_op op;
	int fd;
	int arg;      /* advice, fallocate mode or sync flags */
	void *addr;   /* madvise, pwrite */
	uint64_t off; /* file offset */
	uint64_t len;
	int tag;      /* caller's, returned with the result */
	int res;      /* 0 or -errno, after mring__aio_run */
	uint64_t pos; /* caller's */
};

struct mring__aio {
	void *uring; /* struct io_uring *, NULL when using system calls */
	unsigned n;
	struct mring__aio_req req[MRING__AIO_DEPTH];
};

/* Set up; use_uring false forces system calls. Never fails: falls back. */
void mring__aio_init(struct mring__aio *a, bool use_uring);
void mring__aio_fini(struct mring__aio *a);
static inline bool mring__aio_uring(const struct mring__aio *a)
{
	return a->uring != NULL;
}
/* Queue one request; returns it, or NULL if the batch is full. */
struct mring__aio_req *mring__aio_add(struct mring__aio *a,
                                      enum mring__aio_op op, int fd, int arg,
                                      void *addr, uint64_t off, uint64_t len,
                                      int tag);
/* Run the batch and wait for all of it; each req->res is filled in. */
void mring__aio_run(struct mring__aio *a);

#endif
