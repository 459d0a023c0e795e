/*
 * The producer's maintenance thread. It keeps the hot path free of kernel
 * work and the next lap free of reads:
 *
 *   ahead of the writer   raise `tail` past the previous lap's data, discard
 *                         that data (zero-range, punch-hole, cache drop, or
 *                         on XFS a write of zeros over it) so
 *                         faults find no old contents to read, pre-fault the
 *                         pages for writing, then publish `ready`;
 *   behind the writer     have write-back started (sync_file_range) so
 *                         ranges are clean long before they are discarded,
 *                         and drop written-back, consumed pages beyond a
 *                         page-cache budget.
 *
 * The producer never writes at or beyond `ready`, and the thread only
 * touches stream positions at or beyond it: the two never meet. Work goes
 * in chunks (a power of two dividing both window and capacity) batched
 * through io_uring, or plain system calls where io_uring is unavailable.
 * Starting write-back blocks, so a second thread, the write-back thread
 * (`mring-wb`, W in CONCURRENCY.md), does that part, and the maintenance
 * thread (M) prepares at most `wb_lag` beyond where W has reached.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

#ifdef MRING_HAVE_LIBNUMA
#include <numa.h>
#endif

#include "aio.h"
#include "internal.h"

#define MAX_CHUNK MRING__MAX_CHUNK
#define BATCH_CHUNKS 8    /* chunks prepared per batch */
#define IDLE_NS 1000000   /* poll period when there is nothing to do */
#define FREE_NS 100000000 /* the same once a resident ring runs free */
#define RETRY_NS 1000000  /* after an error, try the chunk again this late */
#define DEFAULT_RA (8u << 20) /* a device's read-ahead, when unknown */
#define REDROP_CHUNKS 8       /* second drop of a chunk this far behind */
#define SAMPLE_NS 100000000   /* page cache and cgroup sampled this often */

struct mring__maint {
	struct mring *r;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, kicked; /* under mu */
	bool go;           /* under mu: the producer published its head */

	mring_atomic_u64 ready; /* producer may write below */
	mring_atomic_u64 want;  /* producer waits to write below */
	mring_atomic_u32 err;   /* -errno that stops `ready`, as u32 */
	struct mring__aio aio;
	mring_atomic_u32 policy; /* enum mring_reclaim in effect */
	int node;
	uint64_t chunk;
	uint64_t dist;      /* how far ahead of the head to prepare */
	uint64_t gap;       /* how much further ahead to discard old data */
	uint64_t discarded; /* old data discarded below this */
	uint64_t fresh;     /* first lap: nothing committed from here */
	bool resident;      /* the whole ring stays cached, nothing discarded */
	uint64_t start;     /* ready when the thread started */
	uint64_t budget;
	/*
	 * The budget in effect: lower while the memory cgroup is nearly
	 * full. Several rings in one cgroup (the eight-writer benchmark:
	 * 8 x 512 MiB of budgets under a 2 GiB limit) otherwise leave it to
	 * the kernel's reclaim, which evicts pre-faulted pages too.
	 */
	uint64_t eff_budget;
	char memcg_usage[320]; /* usage file of the limiting cgroup, or "" */
	uint64_t memcg_limit;
	uint64_t written; /* write-back started below this */
	/*
	 * The write-back thread (W): starting write-back blocks, so a
	 * thread of its own does it and M goes on preparing ahead. M hands
	 * it `wb_want` and lets `ready` run at most `wb_lag` beyond what W
	 * has reached (see run()).
	 */
	bool wb; /* W runs */
	pthread_t wbthr;
	pthread_mutex_t wbmu;
	pthread_cond_t wbcv;
	mring_atomic_u32 wb_stop; /* set under wbmu */
	uint64_t wb_want;         /* under wbmu: write back below this */
	mring_atomic_u64 wb_done; /* W started write-back below this */
	uint64_t wb_lag;
	uint64_t dropped;   /* cache dropped below this */
	uint64_t redropped; /* dropped a second time below this */
	uint32_t waits_seen;
	uint32_t gen_seen; /* cons_gen when `cons` was computed */

	/*
	 * Pre-zeroing (see prepare()): `zeros` is a read-only mapping of
	 * the zero page, a chunk long, or NULL when the policy does not
	 * discard; zpos[] holds the stream positions of chunks whose old
	 * data a zero-range or punch removed (UINT64_MAX: none), indexed
	 * by chunk number modulo nzpos.
	 */
	const uint8_t *zeros;
	uint64_t *zpos;
	uint64_t nzpos;
	mring_atomic_u64 prezeroed;
	/* ZERO on XFS: the pre-zeroing write is the discard (discard_ahead). */
	bool zero_by_write;

	mring_atomic_u64 producer_waits; /* producer found ready too low */
	mring_atomic_u64 reclaim_ops, reclaimed, writeback_ops, drop_ops;
	mring_atomic_u64 cache_bytes;
	int64_t next_sample;
};

static uint64_t lo_chunk(uint64_t a, uint64_t b)
{
	/* Largest power of two dividing both, at most MAX_CHUNK. */
	uint64_t g = a | b | MAX_CHUNK;
	return g & -g;
}

/*
 * The measured default: see README, "Reclaim policies". Reclaim pays only
 * where old data would be read back from a disk: not on tmpfs, and not
 * for a ring that stays in the page cache anyway (there, zero-range over
 * pages written a moment ago even forces their write-back first).
 */
/* The file system's magic number (linux/magic.h); 0 if unknown. */
static long fs_type(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 ? (long)sf.f_type : 0;
}

static bool in_memory_fs(int fd)
{
	long t = fs_type(fd);

	return t == TMPFS_MAGIC || t == RAMFS_MAGIC;
}

static int auto_policy(int fd, uint64_t cap, uint64_t budget)
{
	if (in_memory_fs(fd))
		return MRING_RECLAIM_NONE;
	if (cap <= budget)
		return MRING_RECLAIM_NONE;
	return MRING_RECLAIM_ZERO;
}

uint64_t mring__maint_ready(struct mring *r)
{
	struct mring__maint *m = r->maint;

	if (!m)
		return UINT64_MAX;
	/* Pairs with the release store after the chunk was prepared. */
	return mring__load_acquire(&m->ready);
}

/* Tell the thread the producer is waiting to write below `end`. */
void mring__maint_kick(struct mring *r, uint64_t end)
{
	struct mring__maint *m = r->maint;

	mring__store_relaxed(&m->want, end);
	pthread_mutex_lock(&m->mu);
	m->kicked = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	atomic_fetch_add_explicit(&m->producer_waits, 1, memory_order_relaxed);
}

int mring__maint_error(struct mring *r)
{
	return r->maint ? -(int)mring__load_acquire(&r->maint->err) : 0;
}

/* Slowest durable consumer, or UINT64_MAX. */
static uint64_t min_durable(const struct mring *r)
{
	uint64_t min = UINT64_MAX;

	for (uint32_t i = 0; i < r->nslots; i++) {
		const struct mring__slot *s = &r->ctl->slots[i];
		if (mring__load_acquire(&s->state) != MRING__SLOT_DURABLE)
			continue;
		uint64_t p = mring__load_acquire(&s->pos);
		/* A consumer's word is not trusted (as in mring__rescan): a
		 * position beyond head must not let the thread prepare or
		 * discard beyond head + capacity. */
		uint64_t head = mring__load_relaxed(&r->ctl->head);
		if (p > head)
			p = head;
		if (p < min)
			min = p;
	}
	return min;
}

/*
 * First record boundary at or after chunk-aligned stream position `p`, as
 * the producer noted it when it wrote that lap; UINT64_MAX if unknown.
 */
static uint64_t boundary(const struct mring *r, uint64_t p)
{
	if (!r->records)
		return p;
	uint64_t k = p >> r->cshift;
	uint64_t b = mring__load_acquire(&r->bounds[k % r->nbounds]);
	if (b < p || b >= p + r->maint->chunk + mring__rec_size(r->max_record))
		return UINT64_MAX;
	return b;
}

static uint64_t file_off(const struct mring *r, uint64_t pos)
{
	return r->data_off + pos % r->cap;
}

/* Behind the writer: start write-back, drop what nobody needs cached. */
static void queue_behind(struct mring__maint *m, uint64_t head)
{
	struct mring *r = m->r;
	uint64_t c = m->chunk;

	/*
	 * A ring that stays in the page cache is never discarded: early
	 * write-back would only tie the writer to the disk's speed (0.3 GB/s
	 * instead of 10 for a 16 MiB ring in the hand-off benchmark). The
	 * kernel's flusher writes it back in its own time.
	 */
	if (m->resident)
		return;
	if (m->wb) {
		uint64_t want = head & ~(c - 1);
		pthread_mutex_lock(&m->wbmu);
		if (want > m->wb_want) {
			m->wb_want = want;
			pthread_cond_signal(&m->wbcv);
		}
		pthread_mutex_unlock(&m->wbmu);
		m->written = mring__load_acquire(&m->wb_done);
	}
	if (m->written + r->cap < head)
		m->written = (head - r->cap) & ~(c - 1);
	while (!m->wb && m->written + c <= head &&
	       m->aio.n < MRING__AIO_DEPTH / 2) {
		mring__aio_add(&m->aio, MRING__AIO_SYNC_RANGE, r->fd,
		               SYNC_FILE_RANGE_WRITE, NULL,
		               file_off(r, m->written), c, 0);
		m->written += c;
	}
	if (m->eff_budget >= r->cap)
		return;
	/* Drop clean pages that are consumed and beyond the budget. */
	uint64_t upto = head > m->eff_budget ? head - m->eff_budget : 0;
	uint64_t cons = min_durable(r);
	if (cons < upto)
		upto = cons;
	if (upto > m->written - c)
		upto = m->written > c ? m->written - c : 0;
	/*
	 * Never a chunk whose file pages already hold the next lap: a chunk
	 * lies one capacity before its next lap, and [head, ready) of that
	 * lap is pre-faulted (dropping it there cost the writer major faults
	 * in a 32 MiB ring). `ready` is a chunk multiple, as is the capacity.
	 */
	uint64_t ready = mring__load_relaxed(&m->ready);
	uint64_t floor = ready > r->cap ? ready - r->cap : 0;
	if (m->dropped < floor)
		m->dropped = floor;
	while (m->dropped + c <= upto && m->aio.n < MRING__AIO_DEPTH - 4) {
		mring__pool_zap(&r->pool, m->dropped % r->cap, c);
		mring__aio_add(&m->aio, MRING__AIO_FADVISE, r->fd,
		               POSIX_FADV_DONTNEED, NULL,
		               file_off(r, m->dropped), c, 1);
		m->dropped += c;
	}
	/*
	 * The kernel skips pages still under write-back, and a chunk is
	 * dropped one chunk behind the start of its write-back: drop each
	 * chunk again REDROP_CHUNKS later, when its write-back is long done.
	 * Without it those pages stay cached until the kernel's reclaim
	 * finds them (the eight-writer benchmark ran at its cgroup's limit).
	 */
	uint64_t lag = REDROP_CHUNKS * c;
	if (m->redropped + lag + r->cap < m->dropped ||
	    m->redropped > m->dropped)
		m->redropped = m->dropped > lag ? m->dropped - lag : 0;
	if (m->redropped < floor)
		m->redropped = floor;
	while (m->redropped + lag + c <= m->dropped &&
	       m->aio.n < MRING__AIO_DEPTH - 2) {
		mring__pool_zap(&r->pool, m->redropped % r->cap, c);
		mring__aio_add(&m->aio, MRING__AIO_FADVISE, r->fd,
		               POSIX_FADV_DONTNEED, NULL,
		               file_off(r, m->redropped), c, 1);
		m->redropped += c;
	}
}

static int reap(struct mring__maint *m, unsigned *bad_at);

static uint64_t zslot(const struct mring__maint *m, uint64_t pos)
{
	return (pos >> m->r->cshift) % m->nzpos;
}

/* queue_behind, and run what it queued. */
static void behind(struct mring__maint *m, uint64_t head)
{
	queue_behind(m, head);
	if (m->aio.n) {
		mring__aio_run(&m->aio);
		reap(m, NULL);
	}
}

/*
 * Count what completed. Returns the first pre-fault error, with the index
 * of its request in *bad_at.
 */
static int reap(struct mring__maint *m, unsigned *bad_at)
{
	int bad = 0;

	for (unsigned i = 0; i < m->aio.n; i++) {
		struct mring__aio_req *q = &m->aio.req[i];
		switch (q->tag) {
		case 0:
			atomic_fetch_add(&m->writeback_ops, 1);
			break;
		case 1:
			atomic_fetch_add(&m->drop_ops, 1);
			break;
		case 2:
			if (q->res == 0) {
				atomic_fetch_add(&m->reclaim_ops, 1);
				atomic_fetch_add(&m->reclaimed, q->len);
				break;
			}
			/* Its old data may still be there. */
			if (q->op == MRING__AIO_FALLOCATE && m->zpos &&
			    m->zpos[zslot(m, q->pos)] == q->pos)
				m->zpos[zslot(m, q->pos)] = UINT64_MAX;
			if ((q->res == -EOPNOTSUPP || q->res == -EINVAL) &&
			    m->policy != MRING_RECLAIM_CACHE) {
				/* The file system cannot: drop the cache
				 * instead. */
				mring__store_relaxed(&m->policy,
				                     MRING_RECLAIM_CACHE);
			}
			break;
		case 3:
			/* Space may have come back since (a file removed
			 * beside us is freed in the background): one more
			 * try before calling the chunk failed. */
			if (q->res == -EFAULT)
				q->res = mring__os_populate_write(q->addr,
				                                  q->len);
			if (q->res < 0 && q->res != -EINVAL && !bad) {
				bad = mring__populate_error(&m->r->pool,
				                            q->res);
				if (bad_at)
					*bad_at = i;
			}
			break;
		case 4:
			/* A failed zero write costs only its speed: the
			 * pre-fault after it reports what is wrong. */
			if (q->res == 0)
				atomic_fetch_add(&m->prezeroed, q->len);
			break;
		}
	}
	m->aio.n = 0;
	return bad;
}

/* Slowest durable consumer now; notes the cons_gen it goes with. */
static uint64_t consumers(struct mring__maint *m)
{
	struct mring *r = m->r;

	if (r->overwrite)
		return UINT64_MAX;
	/* Pairs with the seq_cst increment of a consumer that filled its
	 * slot (claim() in consumer.c): seeing the count, we see the slot. */
	m->gen_seen = mring__load_acquire(&r->ctl->cons_gen);
	return min_durable(r);
}

/*
 * Ahead of the writer, first discard the previous lap's data under chunks
 * up to `gap` beyond `target`: raise `tail` past it, then zero-range,
 * punch or drop it. *cons: the slowest durable consumer, updated if one
 * joined meanwhile. Returns how many discards were queued.
 */
static unsigned discard_ahead(struct mring__maint *m, uint64_t target,
                              uint64_t *cons)
{
	struct mring *r = m->r;
	uint64_t c = m->chunk;
	uint64_t ready = mring__load_relaxed(&m->ready);
	uint64_t z = m->discarded > ready ? m->discarded : ready;
	unsigned n = 0;

	if (m->policy == MRING_RECLAIM_NONE) {
		m->discarded = target + m->gap;
		return 0;
	}
	for (; z < target + m->gap && n < BATCH_CHUNKS; z += c) {
		if (z < r->cap)
			continue; /* first lap: nothing there */
		/* A durable consumer has yet to read it: later. */
		if (z + c - r->cap > *cons)
			break;
		uint64_t t = boundary(r, z + c - r->cap);
		if (t == UINT64_MAX)
			continue; /* unknown record boundary: keep it */
		/*
		 * Consumers below `tail` know they lost data: raise it
		 * before the data goes. Pairs with their acquire load of
		 * tail after reading.
		 */
		mring__tail_raise(r->ctl, t);
		/*
		 * A durable consumer may have joined since `cons` was
		 * taken, at the old tail, below this chunk: it never looks
		 * at tail again (back-pressure), so the data must stay.
		 * Store-buffer handshake with claim() in consumer.c: "store
		 * tail; full fence; load cons_gen" here, "bump cons_gen
		 * (seq_cst); load tail" there. Either it sees our tail and
		 * starts above the chunk, or we see it here and keep the
		 * chunk (tail above a durable consumer is harmless: it reads
		 * what is still there).
		 */
		mring__fence_seqcst();
		MRING__CHAOS();
		if (!r->overwrite &&
		    mring__load_relaxed(&r->ctl->cons_gen) != m->gen_seen) {
			*cons = consumers(m);
			if (z + c - r->cap > *cons)
				break;
		}
		MRING__CHAOS();
		if (m->zero_by_write) {
			/*
			 * The pre-zeroing write in prepare() replaces the old
			 * data, below `tail` now: nothing to do here but note
			 * the chunk (zeroable()).
			 */
			m->zpos[zslot(m, z)] = z;
			atomic_fetch_add(&m->reclaim_ops, 1);
			atomic_fetch_add(&m->reclaimed, c);
		} else if (m->policy == MRING_RECLAIM_CACHE)
			mring__aio_add(&m->aio, MRING__AIO_FADVISE, r->fd,
			               POSIX_FADV_DONTNEED, NULL,
			               file_off(r, z), c, 2);
		else {
			struct mring__aio_req *q = mring__aio_add(
				&m->aio, MRING__AIO_FALLOCATE, r->fd,
				(m->policy == MRING_RECLAIM_ZERO
			                 ? FALLOC_FL_ZERO_RANGE
			                 : FALLOC_FL_PUNCH_HOLE) |
					FALLOC_FL_KEEP_SIZE,
				NULL, file_off(r, z), c, 2);
			/* Noted now, taken back by reap() if it fails. */
			if (q && m->zpos) {
				q->pos = z;
				m->zpos[zslot(m, z)] = z;
			}
		}
		n++;
	}
	m->discarded = z;
	return n;
}

/*
 * Whether chunk `b` (a stream position at or beyond `ready`) holds
 * nothing anyone may read: discard_ahead() zero-ranged or punched its
 * previous lap, or (zero_by_write) raised `tail` past it for this write
 * to replace, and nothing wrote there since (the producer writes there
 * only once `ready` passes it), or it lies in the ring's first lap at or
 * beyond the first chunk boundary after the head the producer opened at
 * (what a file holds beyond the head was never committed, or no longer
 * is). Writing zeros there changes nothing anyone may read. On the first
 * lap too: lap 1 1.11x `pwrite` against 0.95x with one writer, 0.94x
 * against 0.84x with eight (medians; README, "Pre-zeroing").
 */
static bool zeroable(const struct mring__maint *m, uint64_t b)
{
	if (!m->zeros)
		return false;
	if (b >= m->fresh && b + m->chunk <= m->r->cap)
		return true;
	return m->zpos[zslot(m, b)] == b;
}

/*
 * Prepare chunks [ready, target): discard old data ahead, pre-fault the
 * chunks for writing, publish `ready`. Returns the number of chunks made
 * ready, or a negative error from pre-faulting.
 */
static int prepare(struct mring__maint *m, uint64_t head, uint64_t target,
                   uint64_t *cons)
{
	struct mring *r = m->r;
	uint64_t c = m->chunk;
	uint64_t a = mring__load_relaxed(&m->ready);
	uint64_t b;
	uint8_t *base = NULL;
	uint64_t ws = 0;
	unsigned bad_at = 0;
	int n = 0, rc;

	/*
	 * Work behind the writer comes after `ready` is published:
	 * starting write-back may block (the block layer throttles buffered
	 * write-back while reads wait: up to 108 ms a call in a trace of the
	 * eight-writer benchmark), and the writer may be waiting for the
	 * chunks.
	 */
	discard_ahead(m, target, cons);
	if (m->aio.n) {
		mring__aio_run(&m->aio);
		reap(m, NULL);
	}

	/*
	 * Pre-fault. A chunk a durable consumer still holds (it may hold
	 * part of the one the producer needs next) is pre-faulted with its
	 * old data; it is never discarded afterwards: the producer may be
	 * writing there.
	 *
	 * Through io_uring the chunks of a batch are pre-faulted in
	 * parallel. As system calls they go one by one, so what is ready is
	 * published every MAX_CHUNK bytes: a producer waiting for the first
	 * chunk of a batch then waits for that much only (4 MiB chunks,
	 * eight writers on 2 vCPUs, 9 repetitions: worst chunk on laps 2+ at
	 * most 1.30x pwrite's against 1.70x, no lap-1 stall of 0.7-0.8 s
	 * against two; README "Performance"). Small chunks still go in
	 * batches: each step costs a round of the thread's loop.
	 */
	int most = BATCH_CHUNKS;
	if (!mring__aio_uring(&m->aio) && c * BATCH_CHUNKS > MAX_CHUNK)
		most = (int)(MAX_CHUNK / c);
	/*
	 * Pre-zeroing: where the chunk's contents are zeros nobody may read
	 * (zeroable()), create its pages by writing zeros to the file first.
	 * A write of whole pages neither zeroes nor reads a page, and it
	 * builds large folios; a fault on a discarded range builds and
	 * zeroes one page at a time, and ext4 then maps each block in
	 * page_mkwrite. The pre-fault after it only maps what the write
	 * built. One writer, 1 GiB ring, 256 MiB budget, laps 2-4: 0.33-0.38
	 * CPU-s a lap for writer and thread together against 0.40-0.46
	 * (README, "Pre-zeroing").
	 */
	for (b = a; b < target && n < most; b += c, n++)
		if (zeroable(m, b))
			mring__aio_add(&m->aio, MRING__AIO_PWRITE, r->fd, 0,
			               (void *)m->zeros, file_off(r, b), c, 4);
	if (m->aio.n) {
		mring__aio_run(&m->aio);
		reap(m, NULL);
	}
	n = 0;
	for (b = a; b < target && n < most; b += c, n++) {
		uint64_t start = b - b % r->win;
		if (!base || start != ws) {
			rc = mring__pool_get(&r->pool, start, &base, true);
			if (rc < 0)
				return rc;
			ws = start;
		}
		mring__aio_add(&m->aio, MRING__AIO_MADVISE, -1,
		               MADV_POPULATE_WRITE, base + (b - ws), 0, c, 3);
	}
	if (n == 0) {
		behind(m, head);
		return 0;
	}
	/* The index entries of those chunks' records, so that the producer
	 * does not fault on them (written back, they are write-protected
	 * again: each lap). */
	mring__index_prefault(r, a, b);
	if (m->discarded < b)
		m->discarded = b;
	mring__aio_run(&m->aio);
	rc = reap(m, &bad_at);
	if (rc < 0) {
		/* The chunks before the one that failed are ready. */
		if (bad_at) {
			mring__store_release(&m->ready, a + bad_at * c);
			mring__wake(&r->ctl->space_futex);
		}
		return rc;
	}
	/*
	 * Once a resident ring has been pre-faulted whole, its pages and
	 * blocks stay: let the producer run free of the thread.
	 */
	if (m->resident && b >= m->start + r->cap)
		b = UINT64_MAX;
	MRING__CHAOS();
	/*
	 * Pairs with the producer's acquire load in mring__maint_ready; the
	 * wake-up fences before it looks for a sleeping producer (the
	 * store-buffer handshake with mring__wait(), CONCURRENCY.md).
	 */
	mring__store_release(&m->ready, b);
	mring__wake(&r->ctl->space_futex);
	behind(m, head);
	return n;
}

/*
 * W: start write-back (sync_file_range) of each chunk below `wb_want`, a
 * chunk at a time, and tell M after each. The block layer's write-back
 * throttling makes the call block: up to 93 ms a call, 43% of the
 * maintenance thread's time when it started write-back itself, in an
 * off-CPU profile of the eight-writer benchmark (8 writers x 1 GiB, 2 GiB
 * cgroup, reads throttled to 200 MB/s); M prepared nothing meanwhile.
 */
static void *wb_run(void *arg)
{
	struct mring__maint *m = arg;
	struct mring *r = m->r;
	uint64_t c = m->chunk;

	for (;;) {
		pthread_mutex_lock(&m->wbmu);
		uint64_t done = mring__load_relaxed(&m->wb_done);
		while (!mring__load_relaxed(&m->wb_stop) &&
		       m->wb_want < done + c)
			pthread_cond_wait(&m->wbcv, &m->wbmu);
		uint64_t want = m->wb_want;
		pthread_mutex_unlock(&m->wbmu);
		/* More than a lap behind: that data is overwritten already. */
		if (done + r->cap < want)
			done = (want - r->cap) & ~(c - 1);
		for (; done + c <= want; done += c) {
			if (mring__load_relaxed(&m->wb_stop))
				return NULL;
			/*
			 * Not while a pre-fault failed (a full disk): as when
			 * M started write-back itself, nothing is written
			 * back early then; fdatasync and the flusher write
			 * those pages once there is space again.
			 */
			if (!mring__load_relaxed(&m->err))
				(void)sync_file_range(
					r->fd, (off_t)file_off(r, done),
					(off_t)c, SYNC_FILE_RANGE_WRITE);
			/* Pairs with M's acquire loads (queue_behind, run). */
			mring__store_release(&m->wb_done, done + c);
			atomic_fetch_add(&m->writeback_ops, 1);
			MRING__CHAOS();
			pthread_mutex_lock(&m->mu);
			m->kicked = true;
			pthread_cond_signal(&m->cv);
			pthread_mutex_unlock(&m->mu);
		}
		if (mring__load_relaxed(&m->wb_stop))
			return NULL;
	}
}

static void sample_cache(struct mring__maint *m)
{
	int64_t now = mring__os_now_ns();
	uint64_t bytes;

	if (now < m->next_sample)
		return;
	m->next_sample = now + SAMPLE_NS;
	if (mring__os_cached(m->r->fd, m->r->data_off, m->r->cap, &bytes) != 0)
		return;
	mring__store_relaxed(&m->cache_bytes, bytes);
	if (!m->memcg_usage[0])
		return;
	/*
	 * Keep the cgroup below 80% of its limit: of what the others use
	 * (other rings, the application), this ring takes what is left, down
	 * to a few chunks and up to its own budget.
	 */
	uint64_t used = mring__os_read_u64(m->memcg_usage);
	if (used == UINT64_MAX)
		return;
	uint64_t others = used > bytes ? used - bytes : 0;
	uint64_t room = m->memcg_limit / 5 * 4;
	uint64_t eff = room > others ? room - others : 0;
	if (eff < 4 * m->chunk)
		eff = 4 * m->chunk;
	if (eff > m->budget)
		eff = m->budget;
	m->eff_budget = eff;
}

/*
 * Pre-faulted pages must stay cached until used, and prepared data is
 * gone for readers: never further ahead than this. Above all, pre-faulted
 * pages are dirty: whenever the kernel's flusher runs (memory-cgroup
 * reclaim wakes it for the whole disk), it writes them back as zeros, and
 * the clean copies may be reclaimed before the writer gets there. Loop
 * benchmark, 2 writers x 2 GiB under a 512 MiB limit: 64 MiB ahead wrote
 * 1.2-1.35x the data to disk and cost the writers 10-40 major faults a
 * lap; 8 MiB ahead wrote 1.00-1.05x with 0-2 faults on laps 2-3, and was
 * no slower (the writers wait for the thread because it is short of CPU,
 * not of distance).
 */
#define MAX_AHEAD_CHUNKS 2

static uint64_t max_dist(const struct mring__maint *m)
{
	uint64_t d = MAX_AHEAD_CHUNKS * m->chunk;

	if (d > m->r->win)
		d = m->r->win;
	if (d > m->budget / 2)
		d = m->budget / 2;
	if (d > m->r->cap / 4)
		d = m->r->cap / 4;
	return d < m->chunk ? m->chunk : d;
}

/*
 * How far ahead of the head the thread keeps pages ready: a resident ring
 * all of it (its pages stay), otherwise its largest distance ahead.
 */
uint64_t mring__maint_reach(struct mring *r)
{
	struct mring__maint *m = r->maint;

	return m->resident ? r->cap : max_dist(m);
}

/* Set up pre-zeroing; without memory for it the thread goes without. */
static void zeros_init(struct mring__maint *m)
{
	void *z = mmap(NULL, m->chunk, PROT_READ,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (z == MAP_FAILED)
		return;
	/* From `ready` to what discard_ahead() reaches, and a batch. */
	m->nzpos = (max_dist(m) + m->gap) / m->chunk + 2 * BATCH_CHUNKS;
	m->zpos = malloc(m->nzpos * sizeof(*m->zpos));
	if (!m->zpos) {
		munmap(z, m->chunk);
		return;
	}
	for (uint64_t i = 0; i < m->nzpos; i++)
		m->zpos[i] = UINT64_MAX;
	m->zeros = z;
}

static void zeros_fini(struct mring__maint *m)
{
	if (m->zeros)
		munmap((void *)m->zeros, m->chunk);
	free(m->zpos);
	m->zeros = NULL;
	m->zpos = NULL;
}

static void *run(void *arg)
{
	struct mring__maint *m = arg;
	struct mring *r = m->r;

#ifdef MRING_HAVE_LIBNUMA
	if (m->node >= 0) {
		numa_run_on_node(m->node);
		numa_set_preferred(m->node);
	}
#endif
	/* Wait until the producer has published where it stands. */
	pthread_mutex_lock(&m->mu);
	while (!m->go && !m->stop)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
	for (;;) {
		pthread_mutex_lock(&m->mu);
		bool stop = m->stop;
		m->kicked = false;
		pthread_mutex_unlock(&m->mu);
		if (stop)
			break;

		uint64_t head = mring__load_acquire(&r->ctl->head);
		uint64_t ready = mring__load_relaxed(&m->ready);
		uint64_t waits = mring__load_relaxed(&m->producer_waits);
		/* The producer caught up with us: prepare further ahead. */
		if (waits != m->waits_seen) {
			m->waits_seen = (uint32_t)waits;
			if (m->dist * 2 <= max_dist(m))
				m->dist *= 2;
		}
		/*
		 * Prepare up to `dist` ahead, but not past what the producer
		 * may write; the chunk it may enter partly is pre-faulted
		 * without reclaim (see prepare).
		 */
		uint64_t target = head + m->dist;
		uint64_t want = mring__load_relaxed(&m->want);
		if (want > target)
			target = want;
		uint64_t cons = consumers(m);
		if (cons != UINT64_MAX && cons + r->cap < target)
			target = cons + r->cap;
		target = (target + m->chunk - 1) & ~(m->chunk - 1);
		/*
		 * Not further ahead of W than `wb_lag`: writers that dirty
		 * pages faster than write-back starts fill their memory
		 * cgroup with dirty pages nobody can drop, and then wait in
		 * reclaim (no bound: 2-5x pwrite's worst chunk latency in
		 * the eight-writer benchmark). A writer's need that the
		 * bound could never admit passes: a record may be longer.
		 */
		if (m->wb) {
			uint64_t c = m->chunk;
			uint64_t lim =
				(mring__load_acquire(&m->wb_done) + m->wb_lag) &
				~(c - 1);
			uint64_t need = (want + c - 1) & ~(c - 1);
			/* W goes up to the head's chunk at most: a need
			 * beyond that plus the bound would never pass. */
			if (need > (head & ~(c - 1)) + m->wb_lag)
				lim = need;
			if (target > lim)
				target = lim;
		}
		int rc = 0;
		if (ready < target) {
			rc = prepare(m, head, target, &cons);
			mring__store_release(&m->err,
			                     (uint32_t)(rc < 0 ? -rc : 0));
			if (rc < 0)
				mring__wake(&r->ctl->space_futex);
		} else {
			behind(m, head);
		}
		sample_cache(m);
		if (rc > 0)
			continue;
		/* Nothing to do (or an error to retry): wait a little. */
		pthread_mutex_lock(&m->mu);
		if (!m->stop && !m->kicked) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			/* A free-running ring needs nothing but the
			 * cache sample: do not steal the CPU the
			 * producer and its consumers spin on. */
			ts.tv_nsec += rc < 0                ? RETRY_NS
			              : ready == UINT64_MAX ? FREE_NS
			                                    : IDLE_NS;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&m->cv, &m->mu, &ts);
		}
		pthread_mutex_unlock(&m->mu);
	}
	mring__pool_unpin(&r->pool);
	return NULL;
}

bool mring__env_set(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

uint64_t mring__cache_budget(const struct mring *r,
                             const struct mring_config *cfg)
{
	if (cfg->cache_budget)
		return cfg->cache_budget;
	/* A quarter of the memory we may use (cgroup limits count). */
	uint64_t mem = mring__os_mem_limit();
	return mem == UINT64_MAX ? r->cap : mem / 4;
}

bool mring__maint_wanted(const struct mring_config *cfg)
{
	return !(cfg->flags & MRING_F_NO_PREFETCH) &&
	       !mring__env_set("MRING_NO_PREFETCH");
}

/* The NUMA node the thread runs on: -1 none, -2 a bad configured one. */
static int numa_node(const struct mring_config *cfg)
{
	int node = -1;

#ifdef MRING_HAVE_LIBNUMA
	if (numa_available() >= 0) {
		node = (cfg->flags & MRING_F_NUMA_NODE)
		               ? cfg->numa_node
		               : numa_node_of_cpu(sched_getcpu());
		if (node < 0 || node > numa_max_node())
			node = (cfg->flags & MRING_F_NUMA_NODE) ? -2 : 0;
	}
#else
	(void)cfg;
#endif
	return node;
}

/*
 * SCHED_FIFO priority for the thread: 0 none, -EINVAL a bad one. The
 * field wins over MRING_MAINT_PRIORITY; "0" there means none too.
 */
static int maint_priority(const struct mring_config *cfg)
{
	int max = sched_get_priority_max(SCHED_FIFO);

	if (max < 1)
		max = 99;
	if (cfg->maint_priority)
		return cfg->maint_priority > 0 && cfg->maint_priority <= max
		               ? cfg->maint_priority
		               : -EINVAL;
	const char *v = getenv("MRING_MAINT_PRIORITY");
	if (!v || !*v)
		return 0;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || n < 0 || n > max)
		return -EINVAL;
	return (int)n;
}

int mring__maint_check(const struct mring *r, const struct mring_config *cfg)
{
	(void)r;
	/* Checked with or without the thread: a bad setting is a bug in
	 * the caller either way. */
	if (cfg->reclaim < MRING_RECLAIM_AUTO ||
	    cfg->reclaim > MRING_RECLAIM_PUNCH)
		return -EINVAL;
	if (maint_priority(cfg) < 0)
		return -EINVAL;
	return numa_node(cfg) == -2 ? -EINVAL : 0;
}

/*
 * Attributes that make the thread SCHED_FIFO at `prio` from its first
 * instruction (pthread_create fails with EPERM if that is not allowed,
 * before the thread runs), or the creator's scheduling for 0.
 */
static int sched_attr(pthread_attr_t *a, int prio)
{
	struct sched_param sp = {.sched_priority = prio};
	int rc = pthread_attr_init(a);

	if (rc || !prio)
		return rc;
	rc = pthread_attr_setinheritsched(a, PTHREAD_EXPLICIT_SCHED);
	if (!rc)
		rc = pthread_attr_setschedpolicy(a, SCHED_FIFO);
	if (!rc)
		rc = pthread_attr_setschedparam(a, &sp);
	if (rc)
		pthread_attr_destroy(a);
	return rc;
}

int mring__maint_create(struct mring *r, const struct mring_config *cfg)
{
	struct mring__maint *m;
	sigset_t all, old;
	int rc;

	if (!mring__maint_wanted(cfg))
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->r = r;
	/* Small next to the ring: work ahead of the writer costs readers. */
	m->chunk = lo_chunk(r->win, r->cap);
	while (m->chunk > (uint64_t)mring__os_page_size() &&
	       m->chunk > r->cap / 16)
		m->chunk /= 2;
	r->cshift = (unsigned)__builtin_ctzll(m->chunk);
	r->nbounds = r->cap / m->chunk + 2;
	if (r->records) {
		r->bounds = calloc(r->nbounds, sizeof(*r->bounds));
		if (!r->bounds) {
			free(m);
			return -ENOMEM;
		}
	}
	m->budget = mring__cache_budget(r, cfg);
	if (m->budget > r->cap)
		m->budget = r->cap;
	if (m->budget < 4 * m->chunk)
		m->budget = 4 * m->chunk;
	m->eff_budget = m->budget;
	m->memcg_limit =
		mring__os_mem_limit_at(m->memcg_usage, sizeof(m->memcg_usage));
	m->policy = cfg->reclaim ? cfg->reclaim
	                         : auto_policy(r->fd, r->cap, m->budget);
	/*
	 * No holes in a ring in memory: tmpfs allocates a page on every
	 * fault, reads included, so a reader lapped while it copies a
	 * punched range of a full tmpfs dies of SIGBUS (seen in the
	 * full-disk tests). Punching there only frees what the next lap
	 * takes back anyway: drop the cache instead, as for ZERO.
	 */
	if (m->policy == MRING_RECLAIM_PUNCH && in_memory_fs(r->fd))
		m->policy = MRING_RECLAIM_CACHE;
	/*
	 * A fault reads around the faulting page (up to the device's
	 * read-ahead, and more ahead of it when it hits a read-ahead mark):
	 * discard that far beyond the pre-faulted pages, or the faults read
	 * the previous lap there. (MADV_RANDOM would stop the reads too, but
	 * faulting page by page costs more than the reads on fast disks.)
	 */
	uint64_t ra = mring__os_readahead(r->fd);
	m->gap = 2 * (ra ? ra : DEFAULT_RA);
	m->gap = (m->gap + m->chunk - 1) & ~(m->chunk - 1);
	if (m->gap > r->cap / 4)
		m->gap = (r->cap / 4) & ~(m->chunk - 1);
	m->dist = 4 * m->chunk;
	if (m->dist > max_dist(m))
		m->dist = max_dist(m);
	m->node = numa_node(cfg);
	m->resident = m->policy == MRING_RECLAIM_NONE && m->budget >= r->cap;
	/*
	 * Pre-zeroing saves a disk file system's fault path; a ring in
	 * memory has none to save (and no zero-range: ZERO falls back to
	 * CACHE there on the first discard).
	 */
	if ((m->policy == MRING_RECLAIM_ZERO ||
	     m->policy == MRING_RECLAIM_PUNCH) &&
	    !in_memory_fs(r->fd) && !mring__env_set("MRING_NO_PREZERO"))
		zeros_init(m);
	/*
	 * XFS carries out a zero-range by freeing the blocks and allocating
	 * them again, unwritten: the threads then wait on the allocation
	 * groups' locks and on the log (stalls of 1-4 s a lap with eight
	 * writers). Writing the zeros over the old data keeps the blocks
	 * where they are, and the pre-zeroing write is made anyway: eight
	 * writers on an XFS image, laps 2-4 3.10-3.31 GB/s against
	 * 1.57-1.80, worst chunk per lap 77-81 ms against 0.83-2.65 s
	 * (README, "Reclaim policies"). On ext4 the zero-range stays:
	 * without it, chunk stalls of 130-260 ms came back.
	 */
	if (m->policy == MRING_RECLAIM_ZERO && m->zeros &&
	    fs_type(r->fd) == XFS_SUPER_MAGIC)
		m->zero_by_write = true;
	/*
	 * Plain system calls by default: on the 2-vCPU machine we measure on,
	 * io_uring's worker threads pre-faulting in parallel halved the
	 * writer's throughput (README, "Performance"). io_uring on request.
	 */
	bool uring = (cfg->flags & MRING_F_URING) ||
	             mring__env_set("MRING_URING");
	if ((cfg->flags & MRING_F_NO_URING) || mring__env_set("MRING_NO_URING"))
		uring = false;
	mring__aio_init(&m->aio, uring);
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	/*
	 * The thread takes no signal: the application's handlers run on its
	 * own threads (one that closed the ring from a handler on this one
	 * would join itself). It inherits the mask it is created with.
	 */
	pthread_attr_t attr;
	rc = sched_attr(&attr, maint_priority(cfg));
	if (!rc) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&m->thr, &attr, run, m);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
	}
	if (rc) {
		zeros_fini(m);
		mring__aio_fini(&m->aio);
		pthread_mutex_destroy(&m->mu);
		pthread_cond_destroy(&m->cv);
		free(r->bounds);
		r->bounds = NULL;
		free(m);
		return -rc;
	}
	/* Tools (top -H, /proc/PID/task) show what it is. */
	pthread_setname_np(m->thr, "mring-maint");
	/*
	 * Room for M's full distance ahead of a head inside a chunk. The
	 * eight-writer benchmark's worst lap maximum against pwrite's, by
	 * bound: this one (12 MiB) 1.10-1.33x, 24 MiB 1.19-1.64x, 64 MiB
	 * 3.4x, none 4.8-5.4x (bench/results/issue12/writeback-thread).
	 */
	m->wb_lag = max_dist(m) + m->chunk;
	/* A resident ring is never written back early. Without W, M starts
	 * write-back itself. */
	if (!m->resident) {
		pthread_mutex_init(&m->wbmu, NULL);
		pthread_cond_init(&m->wbcv, NULL);
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		m->wb = pthread_create(&m->wbthr, NULL, wb_run, m) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (m->wb)
			pthread_setname_np(m->wbthr, "mring-wb");
		else {
			pthread_mutex_destroy(&m->wbmu);
			pthread_cond_destroy(&m->wbcv);
		}
	}
	r->maint = m;
	return 0;
}

void mring__maint_go(struct mring *r)
{
	struct mring__maint *m = r->maint;

	if (!m)
		return;
	/* Start where the producer stands: nothing there is prepared. The
	 * mutex hands these to the thread. */
	uint64_t head = r->head & ~(m->chunk - 1);
	pthread_mutex_lock(&m->mu);
	mring__store_relaxed(&m->ready, head);
	m->start = head;
	m->written = head;
	if (m->wb) {
		pthread_mutex_lock(&m->wbmu);
		mring__store_relaxed(&m->wb_done, head);
		m->wb_want = head;
		pthread_mutex_unlock(&m->wbmu);
	}
	m->dropped = head;
	m->redropped = head;
	/*
	 * Discards go by file offset: the chunk the head is in holds this
	 * lap's committed data below the head (a producer reopened in the
	 * middle of a chunk), so it is never discarded -- the first chunk
	 * discarded is the next one. (Pre-faulting it is harmless.)
	 */
	m->discarded = (r->head + m->chunk - 1) & ~(m->chunk - 1);
	m->fresh = m->discarded;
	m->go = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void mring__maint_stop(struct mring *r)
{
	struct mring__maint *m = r->maint;

	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->thr, NULL);
	if (m->wb) {
		pthread_mutex_lock(&m->wbmu);
		mring__store_relaxed(&m->wb_stop, 1);
		pthread_cond_signal(&m->wbcv);
		pthread_mutex_unlock(&m->wbmu);
		pthread_join(m->wbthr, NULL);
		pthread_mutex_destroy(&m->wbmu);
		pthread_cond_destroy(&m->wbcv);
	}
	zeros_fini(m);
	mring__aio_fini(&m->aio);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	r->maint = NULL;
	r->inline_pf = true;
	free(r->bounds);
	r->bounds = NULL;
	free(m);
}

void mring__maint_forget(struct mring *r)
{
	/* The thread, its io_uring and its locks stayed with the parent;
	 * the child has its own copy of the zero mapping. */
	if (r->maint)
		zeros_fini(r->maint);
	free(r->maint);
	r->maint = NULL;
	free(r->bounds);
	r->bounds = NULL;
}

void mring__maint_stats(struct mring *r, struct mring_stats *st)
{
	struct mring__maint *m = r->maint;

	st->numa_node = -1;
	if (!m)
		return;
	st->maint = mring__aio_uring(&m->aio) ? 1 : 2;
	st->reclaim = (int)mring__load_relaxed(&m->policy);
	st->numa_node = m->node;
	uint64_t ready = mring__load_acquire(&m->ready);
	st->prefault_ahead = ready > r->head ? ready - r->head : 0;
	if (st->prefault_ahead > r->cap)
		st->prefault_ahead = r->cap; /* a resident ring: all of it */
	st->reclaim_ops = mring__load_relaxed(&m->reclaim_ops);
	st->reclaimed_bytes = mring__load_relaxed(&m->reclaimed);
	st->writeback_ops = mring__load_relaxed(&m->writeback_ops);
	st->cache_drop_ops = mring__load_relaxed(&m->drop_ops);
	st->cache_bytes = mring__load_relaxed(&m->cache_bytes);
	st->prezeroed_bytes = mring__load_relaxed(&m->prezeroed);
}
