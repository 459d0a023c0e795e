/*
 * bench/loop: the loop-around benchmark.
 *
 * N writer processes each copy fixed-size chunks (625,000 bytes by
 * default) sequentially into their own file-backed ring and loop around it
 * for several laps, with one of these strategies:
 *
 *   naive, naive-nora    sliding MAP_SHARED windows of the file, memcpy,
 *                        remap when the window is exhausted ("-nora":
 *                        POSIX_FADV_RANDOM + MADV_RANDOM, no readahead)
 *   pwrite, pwrite-nora  one pwrite() per chunk
 *   odirect              O_DIRECT writes of staged, aligned blocks
 *                        through io_uring, several in flight
 *   mring-nothread       mring, maintenance thread off
 *   mring-prealloc       mring, file created with MRING_F_PREALLOC
 *   mring-rt             mring, maintenance thread SCHED_FIFO 1
 *                        (maint_priority; needs CAP_SYS_NICE)
 *   mring-none/-cache/-zero/-punch  mring with that reclaim policy
 *   mring-noprezero      mring, pre-zeroing off (MRING_NO_PREZERO=1)
 *   mring                mring with its defaults
 *
 * One process runs one strategy; the driver (run-loop.sh) runs the rest,
 * sets up the cgroups and repeats. The parent samples the memory cgroup
 * and the machine's CPU time while the writers run; every writer measures
 * its own thread's faults, its process's disk reads and the latency of
 * every chunk. Output: one CSV row per lap (figures summed or merged over
 * the writers) and, optionally, a time line of bytes written and page
 * cache.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef BENCH_HAVE_LIBURING
#include <liburing.h>
#endif

#include <mring.h>

#include "common.h"

#define MAX_LAPS 64
#define MAX_SAMPLES 200000
#define SAMPLE_NS 100000000ull /* 100 ms */
#define DIRECT_BUF (4u << 20)
#define DIRECT_NBUF 8

enum kind { K_NAIVE, K_PWRITE, K_DIRECT, K_MRING };

struct strategy {
	const char *name;
	enum kind kind;
	bool nora;       /* readahead off for the file */
	unsigned flags;  /* mring_open flags */
	int reclaim;     /* mring reclaim policy */
	int prio;        /* mring maint_priority (SCHED_FIFO), 0 = none */
	const char *env; /* set to "1" in the writer before it creates */
};

#define BENCH_NO_PREFETCH MRING_F_NO_PREFETCH
#define R_AUTO MRING_RECLAIM_AUTO
#define R_NONE MRING_RECLAIM_NONE
#define R_CACHE MRING_RECLAIM_CACHE
#define R_ZERO MRING_RECLAIM_ZERO
#define R_PUNCH MRING_RECLAIM_PUNCH

static const struct strategy strategies[] = {
	{"naive", K_NAIVE, false, 0, 0, 0, NULL},
	{"naive-nora", K_NAIVE, true, 0, 0, 0, NULL},
	{"pwrite", K_PWRITE, false, 0, 0, 0, NULL},
	{"pwrite-nora", K_PWRITE, true, 0, 0, 0, NULL},
	{"odirect", K_DIRECT, false, 0, 0, 0, NULL},
	{"mring-nothread", K_MRING, false, BENCH_NO_PREFETCH, R_AUTO, 0, NULL},
	{"mring-none", K_MRING, false, 0, R_NONE, 0, NULL},
	{"mring-cache", K_MRING, false, 0, R_CACHE, 0, NULL},
	{"mring-zero", K_MRING, false, 0, R_ZERO, 0, NULL},
	{"mring-punch", K_MRING, false, 0, R_PUNCH, 0, NULL},
	{"mring-uring", K_MRING, false, MRING_F_URING, R_AUTO, 0, NULL},
	{"mring-nohuge", K_MRING, false, MRING_F_NO_HUGEPAGE, R_AUTO, 0, NULL},
	{"mring-prealloc", K_MRING, false, MRING_F_PREALLOC, R_AUTO, 0, NULL},
	{"mring-rt", K_MRING, false, 0, R_AUTO, 1, NULL},
	{"mring-noprezero", K_MRING, false, 0, R_AUTO, 0, "MRING_NO_PREZERO"},
	{"mring", K_MRING, false, 0, R_AUTO, 0, NULL},
};

struct opts {
	const struct strategy *st;
	const char *dir;
	const char *csv;
	const char *timeline;
	const char *latency;
	const char *cond;
	int writers;
	int laps;
	int rep;
	uint64_t file_size;
	uint64_t chunk;
	uint64_t window;
	double max_seconds;
	bool consumer;
	bool reset_peak;
	bool header;
};

/* Figures of one writer for one lap, filled by the writer process. */
struct lap {
	uint64_t t0, t1; /* ns */
	uint64_t bytes;
	uint64_t maj, min, maj_late; /* late: after the first window */
	uint64_t read_bytes, write_bytes;
	uint64_t maint_wait_ns, reclaimed_bytes;
	int maint, reclaim;
	int complete;
	struct bench_hist lat;
};

struct sample {
	uint64_t t;
	uint64_t bytes;
};

/* One writer's area of the shared results mapping. */
struct wshared {
	_Atomic int lap;      /* lap in progress, 1-based; 0 before; -1 done */
	_Atomic uint64_t pos; /* bytes written so far (for a consumer) */
	int failed;
	char err[256];
	uint64_t consumed;
	struct lap laps[MAX_LAPS];
	_Atomic uint32_t nsamples;
	struct sample samples[MAX_SAMPLES];
};

struct cache_sample {
	uint64_t t;
	int64_t cache, usage;
};

/* The whole machine's CPU time, from /proc/stat, in clock ticks. */
struct cpu_sample {
	uint64_t t;
	uint64_t busy, steal, total;
};

struct shared {
	uint64_t t_start;
	_Atomic int stop;
	uint32_t ncache;
	struct cache_sample cache[MAX_SAMPLES];
	int64_t lap_cache_peak[MAX_LAPS];
	struct wshared w[];
};

static struct shared *sh;
static struct opts o;
/* Parent only: CPU samples, taken with the cgroup's. */
static struct cpu_sample cpu[MAX_SAMPLES];
static uint32_t ncpu;

/* ---- writers ----------------------------------------------------- */

struct writer {
	int id;
	int fd;
	char path[512];
	uint64_t pos; /* stream position */
	/* naive */
	uint8_t *map;
	uint64_t map_off, map_len;
	/* odirect */
	uint8_t *buf[DIRECT_NBUF];
	bool busy[DIRECT_NBUF];
	unsigned cur;
	size_t fill;
	uint64_t buf_pos; /* stream position of buf[cur]'s first byte */
#ifdef BENCH_HAVE_LIBURING
	struct io_uring ring;
#endif
	/* mring */
	struct mring *mr;
};

static void wfail(struct writer *w, const char *what, int err)
{
	struct wshared *ws = &sh->w[w->id];

	snprintf(ws->err, sizeof(ws->err), "writer %d: %s: %s", w->id, what,
	         err < 0 ? mring_strerror(err) : strerror(err));
	ws->failed = 1;
	fprintf(stderr, "bench: %s\n", ws->err);
	_exit(1);
}

static void naive_map(struct writer *w)
{
	uint64_t off = w->pos % o.file_size;
	uint64_t start = off - off % o.window;
	uint64_t len = o.file_size - start < o.window ? o.file_size - start
	                                              : o.window;

	if (w->map)
		munmap(w->map, w->map_len);
	w->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd,
	              (off_t)start);
	if (w->map == MAP_FAILED)
		wfail(w, "mmap", errno);
	if (o.st->nora)
		madvise(w->map, len, MADV_RANDOM);
	w->map_off = start;
	w->map_len = len;
}

static void naive_put(struct writer *w, const uint8_t *src, size_t len)
{
	while (len) {
		uint64_t off = w->pos % o.file_size;
		if (!w->map || off < w->map_off ||
		    off >= w->map_off + w->map_len)
			naive_map(w);
		size_t n = w->map_off + w->map_len - off;
		if (n > len)
			n = len;
		memcpy(w->map + (off - w->map_off), src, n);
		src += n;
		len -= n;
		w->pos += n;
	}
}

static void pwrite_put(struct writer *w, const uint8_t *src, size_t len)
{
	while (len) {
		uint64_t off = w->pos % o.file_size;
		size_t n = o.file_size - off < len ? o.file_size - off : len;
		ssize_t k = pwrite(w->fd, src, n, (off_t)off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			wfail(w, "pwrite", errno);
		}
		src += k;
		len -= (size_t)k;
		w->pos += (uint64_t)k;
	}
}

#ifdef BENCH_HAVE_LIBURING
/* Reap one completion; its buffer becomes free. */
static void direct_reap(struct writer *w)
{
	struct io_uring_cqe *cqe;
	int rc = io_uring_wait_cqe(&w->ring, &cqe);

	if (rc < 0)
		wfail(w, "io_uring_wait_cqe", -rc);
	if (cqe->res != (int)DIRECT_BUF)
		wfail(w, "O_DIRECT write", cqe->res < 0 ? -cqe->res : EIO);
	w->busy[io_uring_cqe_get_data64(cqe)] = false;
	io_uring_cqe_seen(&w->ring, cqe);
}

static void direct_submit(struct writer *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	io_uring_prep_write(sqe, w->fd, w->buf[w->cur], DIRECT_BUF,
	                    w->buf_pos % o.file_size);
	io_uring_sqe_set_data64(sqe, w->cur);
	w->busy[w->cur] = true;
	int rc = io_uring_submit(&w->ring);
	if (rc < 0)
		wfail(w, "io_uring_submit", -rc);
	w->buf_pos += DIRECT_BUF;
	w->cur = (w->cur + 1) % DIRECT_NBUF;
	w->fill = 0;
	while (w->busy[w->cur])
		direct_reap(w);
}

static void direct_put(struct writer *w, const uint8_t *src, size_t len)
{
	while (len) {
		size_t n = DIRECT_BUF - w->fill;
		if (n > len)
			n = len;
		memcpy(w->buf[w->cur] + w->fill, src, n);
		w->fill += n;
		src += n;
		len -= n;
		w->pos += n;
		if (w->fill == DIRECT_BUF)
			direct_submit(w);
	}
}
#endif

static void mring_put(struct writer *w, const uint8_t *src, size_t len)
{
	void *dst;
	int rc = mring_reserve(w->mr, len, &dst, -1);

	if (rc < 0)
		wfail(w, "mring_reserve", rc);
	memcpy(dst, src, len);
	rc = mring_commit(w->mr, len);
	if (rc < 0)
		wfail(w, "mring_commit", rc);
	w->pos += len;
}

static void writer_open(struct writer *w)
{
	int flags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC;

	snprintf(w->path, sizeof(w->path), "%s/loop-%s-%d-%d.ring", o.dir,
	         o.st->name, (int)getppid(), w->id);
	switch (o.st->kind) {
	case K_DIRECT: {
#ifdef BENCH_HAVE_LIBURING
		flags |= O_DIRECT;
		for (unsigned i = 0; i < DIRECT_NBUF; i++) {
			if (posix_memalign((void **)&w->buf[i], 4096,
			                   DIRECT_BUF))
				wfail(w, "posix_memalign", ENOMEM);
			memset(w->buf[i], 0, DIRECT_BUF);
		}
		int qrc = io_uring_queue_init(DIRECT_NBUF * 2, &w->ring, 0);
		if (qrc < 0)
			wfail(w, "io_uring_queue_init", -qrc);
#else
		wfail(w, "odirect", ENOSYS);
#endif
	}
		/* fall through */
	case K_NAIVE:
	case K_PWRITE:
		w->fd = open(w->path, flags, 0600);
		if (w->fd < 0)
			wfail(w, w->path, errno);
		/* Sparse, like the rings: lap 1 writes into holes. */
		if (ftruncate(w->fd, (off_t)o.file_size) < 0)
			wfail(w, "ftruncate", errno);
		if (o.st->nora)
			posix_fadvise(w->fd, 0, 0, POSIX_FADV_RANDOM);
		break;
	case K_MRING: {
		struct mring_config cfg;
		int rc;
		mring_config_init(&cfg);
		cfg.capacity = o.file_size;
		cfg.window = (uint32_t)o.window;
		cfg.max_record = 1u << 20;
		cfg.flags = o.st->flags & MRING_F_PREALLOC;
		if (o.st->env)
			setenv(o.st->env, "1", 1);
		rc = mring_create(w->path, &cfg);
		if (rc < 0)
			wfail(w, "mring_create", rc);
		cfg.flags = o.st->flags & ~MRING_F_PREALLOC;
		cfg.reclaim = o.st->reclaim;
		cfg.maint_priority = o.st->prio;
		rc = mring_open(w->path, MRING_PRODUCER, &cfg, &w->mr);
		if (rc < 0)
			wfail(w, "mring_open", rc);
		break;
	}
	}
}

static void writer_put(struct writer *w, const uint8_t *src, size_t len)
{
	switch (o.st->kind) {
	case K_NAIVE:
		naive_put(w, src, len);
		break;
	case K_PWRITE:
		pwrite_put(w, src, len);
		break;
	case K_DIRECT:
#ifdef BENCH_HAVE_LIBURING
		direct_put(w, src, len);
#endif
		break;
	case K_MRING:
		mring_put(w, src, len);
		break;
	}
}

static void writer_close(struct writer *w)
{
	switch (o.st->kind) {
	case K_NAIVE:
		if (w->map)
			munmap(w->map, w->map_len);
		close(w->fd);
		break;
	case K_DIRECT:
#ifdef BENCH_HAVE_LIBURING
		for (unsigned i = 0; i < DIRECT_NBUF; i++)
			while (w->busy[i])
				direct_reap(w);
		io_uring_queue_exit(&w->ring);
#endif
		/* fall through */
	case K_PWRITE:
		close(w->fd);
		break;
	case K_MRING:
		mring_close(w->mr);
		break;
	}
}

static void mring_lap_stats(struct writer *w, struct lap *l)
{
	struct mring_stats st;

	l->maint = -1;
	l->reclaim = -1;
	if (o.st->kind != K_MRING || mring_stats(w->mr, &st) < 0)
		return;
	l->maint_wait_ns = st.maint_wait_ns;
	l->reclaimed_bytes = st.reclaimed_bytes;
	l->maint = st.maint;
	l->reclaim = st.reclaim;
}

static void lap_begin(struct writer *w, struct lap *l, uint64_t now)
{
	memset(l, 0, sizeof(*l));
	l->t0 = now;
	l->bytes = w->pos;
	bench_thread_faults(&l->maj, &l->min);
	l->maj_late = l->maj;
	bench_proc_io(&l->read_bytes, &l->write_bytes);
	mring_lap_stats(w, l);
	/* The start values are kept in the fields and turned into
	 * differences by lap_end. */
}

static void lap_end(struct writer *w, struct lap *l, uint64_t now, int done)
{
	uint64_t maj, min, rb, wb;
	struct lap s = *l;

	bench_thread_faults(&maj, &min);
	bench_proc_io(&rb, &wb);
	mring_lap_stats(w, l);
	l->t1 = now;
	l->bytes = w->pos - s.bytes;
	l->maj = maj - s.maj;
	l->min = min - s.min;
	l->maj_late = maj - s.maj_late;
	l->read_bytes = rb - s.read_bytes;
	l->write_bytes = wb - s.write_bytes;
	l->maint_wait_ns -= s.maint_wait_ns;
	l->reclaimed_bytes -= s.reclaimed_bytes;
	l->complete = done;
}

static void writer_main(int id)
{
	struct wshared *ws = &sh->w[id];
	struct writer w = {.id = id, .fd = -1};
	size_t srclen = 16u << 20;
	uint8_t *src = malloc(srclen);
	uint64_t total = (uint64_t)o.laps * o.file_size;
	uint64_t deadline =
		o.max_seconds > 0
			? sh->t_start + (uint64_t)(o.max_seconds * 1e9)
			: UINT64_MAX;
	uint64_t next_sample = 0, i = 0;
	bool late_marked = false;
	int lap = 0;

	if (!src)
		wfail(&w, "malloc", ENOMEM);
	/* The same data for every strategy and writer. */
	bench_fill_random(src, srclen, 42);
	writer_open(&w);

	uint64_t now = bench_now_ns();
	lap_begin(&w, &ws->laps[0], now);
	atomic_store(&ws->lap, 1);
	while (w.pos < total) {
		size_t off = (size_t)((i++ * o.chunk) % (srclen - o.chunk)) &
		             ~(size_t)63;
		uint64_t t0 = bench_now_ns();
		writer_put(&w, src + off, o.chunk);
		now = bench_now_ns();
		bench_hist_add(&ws->laps[lap].lat, now - t0);
		atomic_store_explicit(&ws->pos, w.pos, memory_order_release);
		if (!late_marked && w.pos >= o.window) {
			/* Faults past the first window: the steady state. */
			uint64_t min;
			bench_thread_faults(&ws->laps[0].maj_late, &min);
			late_marked = true;
		}
		if (now >= next_sample) {
			uint32_t n = atomic_load(&ws->nsamples);
			if (n < MAX_SAMPLES) {
				ws->samples[n] = (struct sample){now, w.pos};
				atomic_store(&ws->nsamples, n + 1);
			}
			next_sample = now + SAMPLE_NS;
		}
		if (w.pos >= (uint64_t)(lap + 1) * o.file_size &&
		    w.pos < total) {
			lap_end(&w, &ws->laps[lap], now, 1);
			lap++;
			lap_begin(&w, &ws->laps[lap], now);
			atomic_store(&ws->lap, lap + 1);
		}
		if (now >= deadline || atomic_load(&sh->stop))
			break;
	}
	lap_end(&w, &ws->laps[lap], now, w.pos >= total);
	uint32_t n = atomic_load(&ws->nsamples);
	if (n < MAX_SAMPLES) {
		ws->samples[n] = (struct sample){now, w.pos};
		atomic_store(&ws->nsamples, n + 1);
	}
	atomic_store(&ws->lap, -1);
	writer_close(&w);
	unlink(w.path);
	free(src);
	_exit(0);
}

/* ---- consumer (optional) ----------------------------------------- */

/*
 * A reader behind writer `id`. For mring it is a durable consumer of the
 * ring (so reclaim happens behind it); for the file strategies it reads
 * the file with pread up to the position the writer published.
 */
static void consumer_main(int id, const char *path)
{
	struct wshared *ws = &sh->w[id];
	uint64_t pos = 0, sum = 0;
	size_t blen = 1u << 20;
	uint8_t *buf = malloc(blen);

	if (!buf)
		_exit(1);
	if (o.st->kind == K_MRING) {
		struct mring_config cfg;
		struct mring *r;
		mring_config_init(&cfg);
		cfg.consumer_name = "bench";
		/* The writer may still be creating the ring. */
		for (int tries = 0;; tries++) {
			int rc = mring_open(path, MRING_CONSUMER, &cfg, &r);
			if (rc == 0)
				break;
			if (tries > 5000)
				_exit(1);
			usleep(1000);
		}
		for (;;) {
			const void *p;
			ssize_t n = mring_peek(r, &p, 200);
			if (n == -ETIMEDOUT || n == -EAGAIN) {
				if (atomic_load(&ws->lap) == -1)
					break;
				continue;
			}
			if (n <= 0)
				break;
			for (ssize_t k = 0; k < n; k += 4096)
				sum += ((const uint8_t *)p)[k];
			mring_release(r, (size_t)n);
			pos += (uint64_t)n;
		}
		mring_close(r);
	} else {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			_exit(1);
		for (;;) {
			uint64_t head = atomic_load_explicit(
				&ws->pos, memory_order_acquire);
			if (head - pos > o.file_size)
				pos = head - o.file_size / 2; /* lapped */
			if (head == pos) {
				if (atomic_load(&ws->lap) == -1)
					break;
				usleep(200);
				continue;
			}
			uint64_t off = pos % o.file_size;
			size_t n = head - pos < blen ? head - pos : blen;
			if (n > o.file_size - off)
				n = o.file_size - off;
			ssize_t k = pread(fd, buf, n, (off_t)off);
			if (k <= 0)
				break;
			for (ssize_t j = 0; j < k; j += 4096)
				sum += buf[j];
			pos += (uint64_t)k;
		}
		close(fd);
	}
	ws->consumed = pos + (sum & 0); /* sum keeps the reads honest */
	_exit(0);
}

/* ---- parent: sampling and output --------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&sh->stop, 1);
}

static void sample_cgroup(const char *dir)
{
	int64_t cache = bench_memcg_stat(dir, "total_cache");
	int64_t usage = bench_memcg_read(dir, "memory.usage_in_bytes");

	if (cache < 0)
		cache = bench_memcg_stat(dir, "cache");
	if (sh->ncache < MAX_SAMPLES)
		sh->cache[sh->ncache++] =
			(struct cache_sample){bench_now_ns(), cache, usage};
	/* A sample belongs to every lap some writer is in now. */
	for (int i = 0; i < o.writers; i++) {
		int lap = atomic_load(&sh->w[i].lap);
		if (lap > 0 && lap <= o.laps &&
		    cache > sh->lap_cache_peak[lap - 1])
			sh->lap_cache_peak[lap - 1] = cache;
	}
}

/*
 * Every CPU's time, summed: busy is user, nice, system, irq and softirq
 * (guest time is inside user); idle, iowait and steal are not busy. Steal
 * is counted apart: in a VM it is the time the host gave our busy vCPUs
 * to others (about 30% of it on the machine of issue 12). The
 * page-cache work of a strategy is spread over its writers, mring's
 * threads and the kernel's flusher and completion workers, so only the
 * whole machine's time compares the strategies.
 */
static void sample_cpu(void)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return;
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 8 || ncpu >= MAX_SAMPLES)
		return;
	uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6];
	cpu[ncpu++] = (struct cpu_sample){bench_now_ns(), busy, v[7],
	                                  busy + v[3] + v[4] + v[7]};
}

/* Bytes one writer had written at time t, interpolated between samples. */
static double bytes_at(const struct wshared *ws, uint64_t t)
{
	uint32_t n = ws->nsamples;
	const struct sample *s = ws->samples;

	if (n == 0 || t <= s[0].t)
		return 0;
	for (uint32_t k = 0; k + 1 < n; k++)
		if (s[k + 1].t >= t)
			return (double)s[k].bytes +
			       (double)(s[k + 1].bytes - s[k].bytes) *
			               (double)(t - s[k].t) /
			               (double)(s[k + 1].t - s[k].t);
	return (double)s[n - 1].bytes;
}

/* Busy, stolen and all ticks at time t, interpolated between samples. */
static void cpu_at(uint64_t t, double *busy, double *steal, double *total)
{
	*busy = *steal = *total = 0;
	if (ncpu == 0)
		return;
	uint32_t i = 0;
	while (i + 1 < ncpu && cpu[i + 1].t < t)
		i++;
	const struct cpu_sample *a = &cpu[i];
	const struct cpu_sample *b = i + 1 < ncpu ? &cpu[i + 1] : a;
	double f = 0;
	if (b->t > a->t && t > a->t)
		f = (double)(t - a->t) / (double)(b->t - a->t);
	if (f > 1)
		f = 1;
	*busy = (double)a->busy + f * (double)(b->busy - a->busy);
	*steal = (double)a->steal + f * (double)(b->steal - a->steal);
	*total = (double)a->total + f * (double)(b->total - a->total);
}

static const char csv_header[] =
	"cond,strategy,rep,lap,writers,file_bytes,chunk,complete,bytes,"
	"seconds,gbps,lat_p50_us,lat_p99_us,lat_max_us,majflt,minflt,"
	"majflt_after_win1,read_bytes,write_bytes,cache_peak_bytes,"
	"memcg_max_usage_bytes,maint,reclaim,maint_wait_ms,reclaimed_bytes,"
	"consumed_bytes,lat_p999_us,cpu_busy,cpu_steal,cpu_s,span_bytes\n";

/* The chunk latencies of one lap, all writers: bucket value and count. */
static void write_latency(FILE *f, int lap, const struct bench_hist *h)
{
	for (unsigned i = 0; i < BENCH_HIST_N; i++)
		if (h->b[i])
			fprintf(f, "%s,%s,%d,%d,%.2f,%u\n", o.cond, o.st->name,
			        o.rep, lap, bench_hist_bucket_ns(i) / 1e3,
			        h->b[i]);
}

static void write_results(FILE *f, FILE *lf, int64_t max_usage)
{
	for (int lap = 0; lap < o.laps; lap++) {
		struct bench_hist *h = calloc(1, sizeof(*h));
		struct lap sum = {.maint = -1, .reclaim = -1};
		double gbps = 0, secs = 0;
		int complete = 1, present = 0;
		uint64_t consumed = 0, span0 = UINT64_MAX, span1 = 0;

		if (!h)
			bench_die("out of memory");
		for (int i = 0; i < o.writers; i++) {
			struct wshared *ws = &sh->w[i];
			struct lap *l = &ws->laps[lap];
			if (l->t0 == 0)
				continue; /* stopped before this lap */
			present++;
			if (l->t0 < span0)
				span0 = l->t0;
			if (l->t1 > span1)
				span1 = l->t1;
			double s = (double)(l->t1 - l->t0) / 1e9;
			/* The aggregate rate: the writers' rates added up. */
			if (s > 0)
				gbps += (double)l->bytes / s / 1e9;
			if (s > secs)
				secs = s;
			complete &= l->complete;
			sum.bytes += l->bytes;
			sum.maj += l->maj;
			sum.min += l->min;
			sum.maj_late += l->maj_late;
			sum.read_bytes += l->read_bytes;
			sum.write_bytes += l->write_bytes;
			sum.maint_wait_ns += l->maint_wait_ns;
			sum.reclaimed_bytes += l->reclaimed_bytes;
			sum.maint = l->maint;
			sum.reclaim = l->reclaim;
			consumed += ws->consumed;
			bench_hist_merge(h, &l->lat);
		}
		if (present == 0) {
			free(h);
			continue;
		}
		/*
		 * The machine's CPU from the first writer's start of the lap
		 * to the last one's end. Where the writers drift apart their
		 * neighbouring laps fall in that span too: CPU per byte is
		 * taken over what they all wrote in it (span_bytes).
		 */
		double b0, s0, c0, b1, s1, c1;
		cpu_at(span0, &b0, &s0, &c0);
		cpu_at(span1, &b1, &s1, &c1);
		double busy = c1 > c0 ? (b1 - b0) / (c1 - c0) : -1;
		double steal = c1 > c0 ? (s1 - s0) / (c1 - c0) : -1;
		double hz = (double)sysconf(_SC_CLK_TCK);
		double cpu_s = ncpu > 1 ? (b1 - b0) / hz : -1;
		/* What all writers wrote in that span, whatever their lap. */
		double span_bytes = 0;
		for (int i = 0; i < o.writers; i++)
			span_bytes += bytes_at(&sh->w[i], span1) -
			              bytes_at(&sh->w[i], span0);
		fprintf(f,
		        "%s,%s,%d,%d,%d,%llu,%llu,%d,%llu,%.3f,%.4f,%.1f,%.1f,"
		        "%.1f,%llu,%llu,%llu,%llu,%llu,%lld,%lld,%d,%d,%.1f,"
		        "%llu,%llu,%.1f,%.3f,%.3f,%.2f,%.0f\n",
		        o.cond, o.st->name, o.rep, lap + 1, o.writers,
		        (unsigned long long)o.file_size,
		        (unsigned long long)o.chunk,
		        complete && present == o.writers,
		        (unsigned long long)sum.bytes, secs, gbps,
		        bench_hist_quantile(h, 0.5) / 1e3,
		        bench_hist_quantile(h, 0.99) / 1e3,
		        bench_hist_quantile(h, 1) / 1e3,
		        (unsigned long long)sum.maj,
		        (unsigned long long)sum.min,
		        (unsigned long long)sum.maj_late,
		        (unsigned long long)sum.read_bytes,
		        (unsigned long long)sum.write_bytes,
		        (long long)sh->lap_cache_peak[lap],
		        (long long)max_usage, sum.maint, sum.reclaim,
		        sum.maint_wait_ns / 1e6,
		        (unsigned long long)sum.reclaimed_bytes,
		        (unsigned long long)(lap == o.laps - 1 ? consumed : 0),
		        bench_hist_quantile(h, 0.999) / 1e3, busy, steal, cpu_s,
		        span_bytes);
		if (lf)
			write_latency(lf, lap + 1, h);
		/* No memory cgroup to sample: the cache peak is unknown. */
		char cache[32] = "-";
		if (sh->lap_cache_peak[lap] >= 0)
			snprintf(cache, sizeof(cache), "%.0f MB",
			         sh->lap_cache_peak[lap] / 1e6);
		fprintf(stderr,
		        "%-14s lap %d: %7.3f GB/s  p50 %8.1f us  p99 %9.1f us  "
		        "p99.9 %9.1f us  max %9.1f us  majflt %llu  read %.2f GB"
		        "  cache %s  cpu %.0f%% (+%.0f%% stolen)%s\n",
		        o.st->name, lap + 1, gbps,
		        bench_hist_quantile(h, 0.5) / 1e3,
		        bench_hist_quantile(h, 0.99) / 1e3,
		        bench_hist_quantile(h, 0.999) / 1e3,
		        bench_hist_quantile(h, 1) / 1e3,
		        (unsigned long long)sum.maj, sum.read_bytes / 1e9,
		        cache, busy * 100, steal * 100,
		        complete ? "" : "  (partial: time limit)");
		free(h);
	}
}

static void write_timeline(FILE *f)
{
	/* Writers: bytes over time; writer -1: the cgroup's page cache. */
	for (int i = 0; i < o.writers; i++) {
		struct wshared *ws = &sh->w[i];
		for (uint32_t k = 0; k < ws->nsamples; k++) {
			const struct sample *s = &ws->samples[k];
			fprintf(f, "%s,%s,%d,%d,%.3f,%llu,%llu\n", o.cond,
			        o.st->name, o.rep, i,
			        (double)(s->t - sh->t_start) / 1e9,
			        (unsigned long long)s->bytes,
			        (unsigned long long)(s->bytes / o.file_size +
			                             1));
		}
	}
	for (uint32_t k = 0; k < sh->ncache; k++)
		fprintf(f, "%s,%s,%d,-1,%.3f,%lld,0\n", o.cond, o.st->name,
		        o.rep, (double)(sh->cache[k].t - sh->t_start) / 1e9,
		        (long long)sh->cache[k].cache);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: loop --strategy NAME [options]\n"
	           "  --strategy NAME   one of:");
	for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++)
		fprintf(f, " %s", strategies[i].name);
	fprintf(f,
	        "\n"
	        "  --dir DIR         where the files go (default .)\n"
	        "  --writers N       writer processes, one file each (2)\n"
	        "  --file-size SIZE  bytes per file (4G)\n"
	        "  --laps N          laps around each file (3)\n"
	        "  --chunk SIZE      bytes per write (625000)\n"
	        "  --window SIZE     mapping window, naive and mring (256M)\n"
	        "  --max-seconds S   stop a run after S seconds (0: never)\n"
	        "  --consumer        a reader process behind each writer\n"
	        "  --csv FILE        append the per-lap rows (default stdout)\n"
	        "  --header          write the CSV header first\n"
	        "  --timeline FILE   append bytes/page cache over time\n"
	        "  --latency FILE    append each lap's chunk-latency histogram\n"
	        "  --cond NAME       condition label for the rows (native)\n"
	        "  --rep N           repetition label for the rows (1)\n"
	        "  --reset-peak      reset the memory cgroup's peak usage\n"
	        "  --list            print the strategies and exit\n");
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{"strategy", required_argument, 0, 's'},
		{"dir", required_argument, 0, 'd'},
		{"writers", required_argument, 0, 'w'},
		{"file-size", required_argument, 0, 'f'},
		{"laps", required_argument, 0, 'l'},
		{"chunk", required_argument, 0, 'c'},
		{"window", required_argument, 0, 'W'},
		{"max-seconds", required_argument, 0, 'm'},
		{"consumer", no_argument, 0, 'C'},
		{"csv", required_argument, 0, 'o'},
		{"header", no_argument, 0, 'H'},
		{"timeline", required_argument, 0, 't'},
		{"latency", required_argument, 0, 'Y'},
		{"cond", required_argument, 0, 'k'},
		{"rep", required_argument, 0, 'r'},
		{"reset-peak", no_argument, 0, 'R'},
		{"list", no_argument, 0, 'L'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const char *sname = NULL;
	int c;

	o = (struct opts){.dir = ".",
	                  .cond = "native",
	                  .writers = 2,
	                  .laps = 3,
	                  .rep = 1,
	                  .file_size = 4ull << 30,
	                  .chunk = 625000,
	                  .window = 256u << 20};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			sname = optarg;
			break;
		case 'd':
			o.dir = optarg;
			break;
		case 'w':
			o.writers = atoi(optarg);
			break;
		case 'f':
			if (bench_parse_size(optarg, &o.file_size))
				bench_die("bad size %s", optarg);
			break;
		case 'l':
			o.laps = atoi(optarg);
			break;
		case 'c':
			if (bench_parse_size(optarg, &o.chunk))
				bench_die("bad size %s", optarg);
			break;
		case 'W':
			if (bench_parse_size(optarg, &o.window))
				bench_die("bad size %s", optarg);
			break;
		case 'm':
			o.max_seconds = atof(optarg);
			break;
		case 'C':
			o.consumer = true;
			break;
		case 'o':
			o.csv = optarg;
			break;
		case 'H':
			o.header = true;
			break;
		case 't':
			o.timeline = optarg;
			break;
		case 'Y':
			o.latency = optarg;
			break;
		case 'k':
			o.cond = optarg;
			break;
		case 'r':
			o.rep = atoi(optarg);
			break;
		case 'R':
			o.reset_peak = true;
			break;
		case 'L':
			for (size_t i = 0;
			     i < sizeof(strategies) / sizeof(strategies[0]);
			     i++)
				printf("%s\n", strategies[i].name);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	for (size_t i = 0;
	     sname && i < sizeof(strategies) / sizeof(strategies[0]); i++)
		if (strcmp(sname, strategies[i].name) == 0)
			o.st = &strategies[i];
	if (!o.st) {
		usage(stderr);
		exit(2);
	}
	if (o.writers < 1 || o.writers > 64 || o.laps < 1 || o.laps > MAX_LAPS)
		bench_die("writers must be 1..64 and laps 1..%d", MAX_LAPS);
	if (o.chunk < 1 || o.chunk > (1u << 20) || o.chunk > o.file_size / 4)
		bench_die("chunk must be 1 byte..1 MiB and at most a quarter "
		          "of the file");
	if (o.file_size % DIRECT_BUF || o.window % 4096 ||
	    o.window > o.file_size || o.window > (1ull << 31))
		bench_die("file size must be a multiple of 4 MiB, window a "
		          "page multiple up to 2 GiB and the file size");
}

int main(int argc, char **argv)
{
	char memcg[512] = "";
	int np = 0, failed = 0;

	parse_args(argc, argv);
	size_t shlen = sizeof(struct shared) +
	               (size_t)o.writers * sizeof(struct wshared);
	/* Shared with the writers; touched lazily, so small in practice. */
	sh = mmap(NULL, shlen, PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		bench_die("mmap: %s", strerror(errno));
	if (bench_memcg_dir(memcg, sizeof(memcg)) < 0)
		memcg[0] = '\0';
	if (o.reset_peak && memcg[0]) {
		char p[600];
		snprintf(p, sizeof(p), "%s/memory.max_usage_in_bytes", memcg);
		FILE *f = fopen(p, "w");
		if (f) {
			fputs("0\n", f);
			fclose(f);
		}
	}
	for (int i = 0; i < MAX_LAPS; i++)
		sh->lap_cache_peak[i] = -1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	sh->t_start = bench_now_ns();
	sample_cpu();
	for (int i = 0; i < o.writers; i++) {
		pid_t p = fork();
		if (p < 0)
			bench_die("fork: %s", strerror(errno));
		if (p == 0) {
			signal(SIGINT, SIG_IGN);
			writer_main(i);
		}
		np++;
	}
	if (o.consumer) {
		for (int i = 0; i < o.writers; i++) {
			char path[512];
			snprintf(path, sizeof(path), "%s/loop-%s-%d-%d.ring",
			         o.dir, o.st->name, (int)getpid(), i);
			/* The writer creates the file; wait for it. */
			while (access(path, F_OK) != 0 &&
			       atomic_load(&sh->w[i].lap) == 0)
				usleep(1000);
			pid_t p = fork();
			if (p == 0) {
				signal(SIGINT, SIG_IGN);
				consumer_main(i, path);
			}
			if (p > 0)
				np++;
		}
	}
	int live = np;
	while (live > 0) {
		int status;
		pid_t p = waitpid(-1, &status, WNOHANG);
		if (p > 0) {
			live--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed = 1;
			continue;
		}
		if (p < 0 && errno != EINTR)
			break;
		if (memcg[0])
			sample_cgroup(memcg);
		sample_cpu();
		usleep(SAMPLE_NS / 1000);
	}
	sample_cpu();
	int64_t max_usage =
		memcg[0] ? bench_memcg_read(memcg, "memory.max_usage_in_bytes")
			 : -1;
	FILE *f = o.csv ? fopen(o.csv, "a") : stdout;
	if (!f)
		bench_die("%s: %s", o.csv, strerror(errno));
	if (o.header)
		fputs(csv_header, f);
	FILE *lf = o.latency ? fopen(o.latency, "a") : NULL;
	if (o.latency && !lf)
		bench_die("%s: %s", o.latency, strerror(errno));
	write_results(f, lf, max_usage);
	if (f != stdout)
		fclose(f);
	if (lf)
		fclose(lf);
	if (o.timeline) {
		FILE *t = fopen(o.timeline, "a");
		if (!t)
			bench_die("%s: %s", o.timeline, strerror(errno));
		write_timeline(t);
		fclose(t);
	}
	for (int i = 0; i < o.writers; i++)
		if (sh->w[i].failed)
			fprintf(stderr, "bench: %s\n", sh->w[i].err);
	return failed ? 1 : 0;
}
