/*
 * Internal state of a handle and the names shared across ring/src files.
 * Everything here carries the mring__ prefix.
 */
#ifndef MRING_INTERNAL_H
#define MRING_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "mring.h"
#include "atomics.h"
#include "format.h"
#include "os.h"

/* ---- window pool (window.c) ---------------------------------------- */

#define MRING__POOL_SLOTS 3

/*
 * A few address-space slots reserved once with PROT_NONE; a window of the
 * stream is mapped into a slot with MAP_FIXED, never outside it.
 */
struct mring__pool {
	uint8_t *base;   /* the whole reservation */
	size_t base_len; /* bytes reserved */
	size_t slot_len; /* window + overlap, page multiple */
	uint64_t win;    /* window bytes (stride of window starts) */
	unsigned nslots; /* slots in use: 1 when the window is the ring */
	int prot;        /* PROT_READ or PROT_READ|PROT_WRITE */
	int fd;
	uint64_t data_off;
	uint64_t cap;
	/* The owner and the maintenance thread both map windows. */
	pthread_mutex_t mu;
	bool huge;     /* advise MADV_HUGEPAGE on every window */
	int cur;       /* slot the owner uses, -1 none */
	int pin;       /* slot the maintenance thread uses, -1 none */
	int hold;      /* slot kept mapped for a consumer's peek, -1 none
	                * (handles without a thread only: a victim is left) */
	unsigned next; /* round-robin victim */
	struct {
		uint64_t off; /* data-region offset of byte 0 */
		bool mapped;
	} slot[MRING__POOL_SLOTS];
};

int mring__pool_init(struct mring__pool *p, int fd, uint64_t data_off,
                     uint64_t cap, uint64_t win, uint64_t overlap, int prot);
void mring__pool_fini(struct mring__pool *p);
/*
 * Map (or find) the window starting at stream position `start` and store
 * its address in *base; `thread` tells who asks (the maintenance thread
 * pins its slot, the owner makes it current). Returns 1 if it mapped, 0 if
 * it was already mapped, or a negative error.
 */
int mring__pool_get(struct mring__pool *p, uint64_t start, uint8_t **base,
                    bool thread);
/* What a failed MADV_POPULATE_WRITE most likely means (-ENOSPC...). */
int mring__populate_error(const struct mring__pool *p, int rc);
/* The maintenance thread is done with its slot. */
void mring__pool_unpin(struct mring__pool *p);
/*
 * Unmap the data-region stretch [off, off + len) (no wrap) from every slot
 * that maps it; the pages stay cached. A mapped page cannot be dropped
 * from the page cache, and each failed drop costs a machine-wide LRU drain
 * (see queue_behind in maint.c).
 */
void mring__pool_zap(struct mring__pool *p, uint64_t off, uint64_t len);

/* ---- the handle ------------------------------------------------------ */

struct mring__maint;

struct mring {
	int fd;
	int role;    /* 0 in a child after fork() */
	bool forked; /* inherited through fork(): unusable */
	struct mring *fork_next, *fork_prev; /* list of open handles */
	unsigned flags;                      /* stored flags of the ring */
	bool records;
	bool overwrite;
	bool crc;

	struct mring__ctl *ctl;
	size_t ctl_len;
	uint64_t cap;
	uint64_t data_off;
	uint64_t win;        /* window stride */
	uint64_t overlap;    /* bytes a window extends past its stride */
	uint32_t max_record; /* records: framing bytes, stamp included */
	uint32_t tsb;        /* MRING__TS_BYTES with timestamps, else 0 */
	/* Consumer slots, from the validated copy: the static part of the
	 * shared control block is never read again after open. */
	uint32_t nslots;

	struct mring__pool pool;
	uint8_t *wbase;   /* current window */
	uint64_t wstart;  /* its stream position */
	uint64_t ra_step; /* consumer: bytes per MADV_WILLNEED call */

	/* producer */
	uint64_t head;              /* committed end, as published */
	uint64_t limit;             /* may write below this without checking */
	uint64_t bp_limit;          /* the part of limit due to consumers */
	uint64_t tail;              /* last tail published */
	uint64_t seq;               /* next record number */
	uint64_t want;              /* end the producer waits to write up to */
	uint32_t gen_seen;          /* cons_gen when `limit` was computed */
	size_t resv;                /* reserved length, 0 = none */
	struct mring__maint *maint; /* maintenance thread, or NULL */
	bool inline_pf;             /* no thread: pre-fault in reserve */
	uint64_t pf;                /* inline_pf: pre-faulted below this */
	unsigned cshift;            /* log2 of the maintenance chunk */
	mring_atomic_u64 *bounds;   /* first record start of each chunk */
	uint64_t nbounds;
	int64_t flt_min0, flt_maj0; /* thread faults at open */

	/* consumer */
	int slot; /* index in ctl->slots */
	bool durable;
	uint64_t pos;  /* next byte to read */
	uint64_t rseq; /* next record number to read */
	bool rseq_known;
	uint64_t seen_head; /* last head loaded */
	size_t peeked;      /* bytes exposed by the last peek */
	size_t peek_adv;    /* record mode: bytes the peeked record spans */
	bool rdonly;        /* read-only observer: no slot, nothing written */

	/* events.c: mring_interrupt() pending (any thread, signal handlers),
	 * and the mring_fd() helper thread, or NULL. */
	mring_atomic_u32 intr;
	struct mring__ev *ev;

	/* seek index (seek.c): mapped by a producer of records at attach,
	 * by a consumer at its first seek; NULL = none */
	struct mring__ientry *idx;
	uint64_t nidx;    /* entries */
	unsigned ishift;  /* log2 of the granule */
	bool idx_tried;   /* consumer: mapping attempted */
	uint64_t idx_g;   /* producer: granule of the last entry written */
	uint64_t last_ts; /* producer: stamp of the last record */
	uint64_t peek_ts; /* consumer: stamp of the peeked record */
	/* producer: the maintenance thread could not fault an index page
	 * in; no more entries are written (a store there may SIGBUS) */
	mring_atomic_u32 idx_off;
	/* batch (batch.c): framing lengths of the records peeked at once */
	uint32_t *batch_len;
	size_t batch_n;   /* records in the current batch, 0 = none */
	size_t batch_cap; /* room in batch_len */

	struct mring_stats st;
};

/* ---- shared helpers ---------------------------------------------------- */

/* What a call of the wrong role gets: MRING_EFORKED in a forked child. */
static inline int mring__role_error(const struct mring *r)
{
	return r->forked ? MRING_EFORKED : MRING_EROLE;
}

int mring__window_move(struct mring *r, uint64_t pos);

/*
 * Make the current window the one that holds stream position `pos`, with
 * at least `overlap` bytes addressable after it.
 */
static inline int mring__window(struct mring *r, uint64_t pos)
{
	if (mring__likely(pos - r->wstart < r->win))
		return 0;
	return mring__window_move(r, pos);
}

static inline uint8_t *mring__at(const struct mring *r, uint64_t pos)
{
	return r->wbase + (pos - r->wstart);
}

/* maint.c: bytes of the ring the page cache may hold (cfg or 1/4 RAM). */
uint64_t mring__cache_budget(const struct mring *r,
                             const struct mring_config *cfg);
/* maint.c: an environment switch is set (non-empty, not "0"). */
bool mring__env_set(const char *name);

/* crc32c.c */
uint32_t mring__crc32c(uint32_t crc, const void *buf, size_t len);

/* format.c */
uint64_t mring__overlap(uint32_t max_record, long page);
int mring__ctl_check_static(const struct mring__ctl *c, uint64_t file_size,
                            long page);
/* c: a copy of the whole control block; later: of its fixed part, taken
 * after c (or c again). */
int mring__ctl_check_dynamic(const struct mring__ctl *c,
                             const struct mring__ctl *later);
uint32_t mring__ctl_checksum(const struct mring__ctl *c);
uint32_t mring__rec_check(const struct mring__rec *h, const void *payload,
                          bool crc, bool ts);
/*
 * Does the record whose header is *h (a copy: the producer may be
 * rewriting the original) and whose payload starts at `payload` verify: a
 * length this ring allows, number `seq` (UINT64_MAX: any), the whole record
 * within `room` bytes (what is committed after it), and its check word?
 * The one test of a record, on every path that reads one.
 */
static inline bool mring__rec_ok(const struct mring *r,
                                 const struct mring__rec *h,
                                 const void *payload, uint64_t seq,
                                 uint64_t room)
{
	return h->len > r->tsb && h->len <= r->max_record &&
	       (seq == UINT64_MAX || h->seq == seq) &&
	       mring__rec_size(h->len) <= room &&
	       h->check == mring__rec_check(h, payload, r->crc, r->tsb != 0);
}
/* Is the record header at `h` plausible for record number `seq`?
 * (seq == UINT64_MAX: any number.) */
bool mring__rec_valid(const struct mring *r, const struct mring__rec *h,
                      uint64_t seq);

/* wait.c */
int64_t mring__deadline(int timeout_ms);
/*
 * Sleep on futex word `w` until cond(r) holds or the deadline passes.
 * `intr` (may be NULL): a word that, once non-zero, ends the wait with
 * -ECANCELED; it is cleared then (consumed). A read-only handle cannot
 * announce itself on `w`: it polls with back-off, sleeping on `intr`.
 */
int mring__wait(struct mring *r, mring_atomic_u32 *w,
                bool (*cond)(struct mring *), int64_t deadline,
                mring_atomic_u32 *intr);
void mring__wake(mring_atomic_u32 *w);

/* producer.c */
int mring__producer_attach(struct mring *r, const struct mring_config *cfg);
void mring__producer_detach(struct mring *r);
void mring__rescan(struct mring *r);
/* Raise the shared tail to at least t (it only grows). */
void mring__tail_raise(struct mring__ctl *c, uint64_t t);

/* recover.c: bring head, head_seq (*head, *seq in and out), tail and the
 * consumer slots back to what can be trusted; `same`: the page cache the
 * last producer wrote into is still the one behind the file; `clean`: it
 * closed the ring. Called on every producer attach (with both true it only
 * pulls slots beyond head back). Reports progress through cfg->progress
 * and counts what it read in r->st.recovery_scanned. */
int mring__recover(struct mring *r, const struct mring_config *cfg, bool same,
                   bool clean, uint64_t *head, uint64_t *seq);

/* maint.c */
/* Will mring__maint_create start a thread for this config? */
bool mring__maint_wanted(const struct mring_config *cfg);
/* Refuse a config the thread cannot run with (-EINVAL); no side effect. */
int mring__maint_check(const struct mring *r, const struct mring_config *cfg);
/* Create the thread, held at its start until mring__maint_go(). */
int mring__maint_create(struct mring *r, const struct mring_config *cfg);
/* The producer published r->head: the thread starts preparing from it. */
void mring__maint_go(struct mring *r);
void mring__maint_stop(struct mring *r);
/* Producer may write below this (UINT64_MAX without a thread). */
uint64_t mring__maint_ready(struct mring *r);
/* The producer waits for the thread: wake it. */
void mring__maint_kick(struct mring *r, uint64_t end);
/* Error that keeps the thread from preparing more (e.g. -ENOSPC), or 0. */
int mring__maint_error(struct mring *r);
/* Bytes ahead of the head the thread keeps ready at most. */
uint64_t mring__maint_reach(struct mring *r);
void mring__maint_stats(struct mring *r, struct mring_stats *st);
/* In a forked child: free the copy of the thread's state, touch nothing. */
void mring__maint_forget(struct mring *r);

/* events.c */
struct mring__ev;
/* The consumer found nothing to read at r->pos: clear the descriptor of
 * mring_fd() and have its thread watch for data beyond r->pos. */
void mring__ev_arm(struct mring *r);
/* mring_close(): stop the thread and close the descriptor. */
void mring__ev_stop(struct mring *r);
/* In the atfork child handler: close the descriptor (async-signal-safe). */
void mring__ev_forked(struct mring *r);
/* In a forked child's mring_close(): free the copy, touch nothing. */
void mring__ev_forget(struct mring *r);

/* consumer.c */
int mring__consumer_attach(struct mring *r, const struct mring_config *cfg);
void mring__consumer_detach(struct mring *r);
/* mring_consumer_add() on a handle-shaped view of the file (fd, ctl,
 * nslots): claim a durable slot under the registry lock. */
int mring__consumer_add(struct mring *r, const char *name, int start);
/* Record number of the record at the current head. */
int mring__seq_at_head(struct mring *r, uint64_t *head, uint64_t *seq);
/* The consumer was lapped (tail > pos): jump, count, MRING_ELAPPED. */
int mring__consumer_lapped(struct mring *r);
/* Publish r->pos (and r->rseq) in the consumer's slot, wake the producer. */
void mring__consumer_publish(struct mring *r);

/* seek.c: the index */
/* Producer of records, at attach: map (and allocate) the index; without
 * one (no space, an error) seeks walk, nothing fails. */
void mring__index_attach(struct mring *r);
void mring__index_detach(struct mring *r);
/* The maintenance thread: fault in the index pages of the records that
 * stream positions [from, to) will hold, before it publishes `ready`
 * beyond them; where it cannot, set idx_off. Stores no entry. */
void mring__index_prefault(struct mring *r, uint64_t from, uint64_t to);
/* Producer, at commit of the record (pos, seq, ts): one compare, and an
 * entry written when it is the first in its granule. */
static inline void mring__index_note(struct mring *r, uint64_t pos,
                                     uint64_t seq, uint64_t ts)
{
	uint64_t g = pos >> r->ishift;

	/* idx_off: set by the thread before its release store of the
	 * `ready` the producer acquired to write at `pos` (H7). */
	if (mring__likely(g == r->idx_g) || !r->idx ||
	    mring__load_relaxed(&r->idx_off))
		return;
	r->idx_g = g;
	/* Never trusted by readers: checked against the record (seek.c). */
	struct mring__ientry *e = &r->idx[g & (r->nidx - 1)];
	mring__store_relaxed(&e->pos, pos);
	mring__store_relaxed(&e->seq, seq);
	mring__store_relaxed(&e->ts, ts);
}

#endif
