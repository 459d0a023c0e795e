/*
 * Where a handle stands, and how a consumer moves: record numbers, time
 * stamps, the index the producer keeps in the file (FORMAT.md, "Index")
 * and mring_seek()'s search over it.
 *
 * The index is a hint and nothing more. Any process that can write the
 * file can write anything into it, and the producer writes an entry with
 * three plain stores that a reader may see half done. So an entry is only
 * used after the record it points to was read and verified (its header's
 * check word, its number, the tail re-checked after the read: H5 of
 * CONCURRENCY.md); a bad one makes the walk longer, never the answer
 * wrong.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* Searches restarted because the producer overwrote what was read. */
#define SEEK_TRIES 64

static size_t index_bytes(uint64_t cap)
{
	return (size_t)mring__index_entries(cap) * sizeof(struct mring__ientry);
}

static int index_map(struct mring *r, int prot)
{
	void *p;
	int rc;

	/*
	 * A reader maps only an index whose blocks the producer allocated:
	 * a read fault on a hole of a full tmpfs raises SIGBUS. (A ring
	 * last written by an older library, or whose producer found no
	 * room for the index, has a hole there: seeks then walk.)
	 */
	if (!(prot & PROT_WRITE)) {
		off_t hole = lseek(r->fd, MRING__INDEX_OFFSET, SEEK_HOLE);
		if (hole >= 0 &&
		    (uint64_t)hole < MRING__INDEX_OFFSET + index_bytes(r->cap))
			return -ENODATA;
	}
	rc = mring__os_map_shared(r->fd, MRING__INDEX_OFFSET,
	                          index_bytes(r->cap), prot, &p);

	if (rc < 0)
		return rc;
	r->idx = p;
	r->nidx = mring__index_entries(r->cap);
	r->ishift = mring__index_shift(r->cap);
	return 0;
}

void mring__index_attach(struct mring *r)
{
	size_t len = index_bytes(r->cap);

	r->idx_g = UINT64_MAX; /* the first commit writes its entry */
	/*
	 * The index lies in a hole of the file until a producer writes it
	 * (or of any file an older library created): allocate the blocks
	 * first, since a store into a hole of a full file system raises
	 * SIGBUS. Without them the ring has no index: seeks walk, nothing
	 * fails.
	 */
	if (mring__os_allocate(r->fd, MRING__INDEX_OFFSET, len) < 0)
		return;
	if (index_map(r, PROT_READ | PROT_WRITE) < 0)
		return;
	/*
	 * The maintenance thread faults the index in a little ahead of the
	 * producer, with the chunks it prepares (mring__index_prefault).
	 * Without the thread, all of it now: faulting 1 MiB in took 3.4-5.1
	 * ms of a 3.7-4.4 ms open (README, "At scale").
	 */
	if (!r->inline_pf)
		return;
	int rc = mring__os_populate_write((uint8_t *)r->idx, len);
	/* EINVAL: a kernel before 5.14; the blocks are allocated anyway. */
	if (rc < 0 && rc != -EINVAL)
		mring__index_detach(r);
}

void mring__index_prefault(struct mring *r, uint64_t from, uint64_t to)
{
	if (!r->idx || from >= to)
		return;
	uint64_t lo = from >> r->ishift, hi = (to - 1) >> r->ishift;
	if (hi - lo >= r->nidx) {
		lo = 0;
		hi = r->nidx - 1;
	}
	uint64_t a = lo & (r->nidx - 1), b = hi & (r->nidx - 1);
	uint64_t pg = (uint64_t)mring__os_page_size();
	uint8_t *base = (uint8_t *)r->idx;

	/* Entries [a, b], or [a, nidx) and [0, b] where the slots wrap. */
	for (int part = 0; part < 2; part++) {
		uint64_t s = part ? 0 : a;
		uint64_t e = part ? b + 1 : (b >= a ? b + 1 : r->nidx);
		uint64_t bs = s * sizeof(struct mring__ientry) & ~(pg - 1);
		uint64_t be = e * sizeof(struct mring__ientry);
		be = (be + pg - 1) & ~(pg - 1);
		/*
		 * The blocks are allocated, so a store should only fault the
		 * page in; but where the kernel could not (EFAULT: a store
		 * would raise SIGBUS), the producer stops writing entries
		 * and seeks walk, as without an index. EINVAL: a kernel
		 * before 5.14, the store faults it in.
		 */
		int rc = mring__os_populate_write(base + bs, (size_t)(be - bs));
		if (rc < 0 && rc != -EINVAL)
			mring__store_relaxed(&r->idx_off, 1);
		if (b >= a)
			break;
	}
}

void mring__index_detach(struct mring *r)
{
	if (!r->idx)
		return;
	mring__os_unmap(r->idx, index_bytes(r->cap));
	r->idx = NULL;
}

int mring_tell(struct mring *r, struct mring_where *w)
{
	if (!r || !w)
		return -EINVAL;
	if (r->forked)
		return MRING_EFORKED;
	memset(w, 0, sizeof(*w));
	if (r->role == MRING_PRODUCER) {
		w->pos = r->head;
		w->seq = r->records ? r->seq : MRING_SEQ_NONE;
		w->ts = r->last_ts;
		return 0;
	}
	w->pos = r->pos;
	w->seq = r->records && r->rseq_known ? r->rseq : MRING_SEQ_NONE;
	if (r->tsb && (r->peeked || r->batch_n))
		w->ts = r->peek_ts;
	return 0;
}

/* ---- the search ------------------------------------------------------- */

/* What the search knows of one verified record. */
struct rec {
	uint64_t pos, seq, ts, size;
};

enum { REC_OK = 0, REC_BAD = 1, REC_GONE = 2 };

/*
 * Read the record at p (< h, the head the search works below): REC_OK and
 * *f, REC_BAD if it does not verify or is not numbered `seq` (UINT64_MAX:
 * any number), REC_GONE if the producer overwrote it while it was read,
 * or a negative error from mapping its window.
 */
static int rec_read(struct mring *r, uint64_t p, uint64_t h, uint64_t seq,
                    struct rec *f)
{
	int rc = mring__window(r, p);

	if (rc < 0)
		return rc;
	const uint8_t *at = mring__at(r, p);
	/* A copy: the producer may be rewriting it (then tail says so). */
	struct mring__rec hd = mring__rec_load(at);
	uint64_t size = mring__rec_size(hd.len);
	bool ok = mring__rec_ok(r, &hd, at + MRING__REC_HDR, seq, h - p);
	uint64_t ts = 0;
	if (r->tsb)
		memcpy(&ts, at + MRING__REC_HDR, sizeof(ts));
	/* Seqlock-style (H5): pairs with the tail raised before an
	 * overwrite. */
	mring__fence_acquire();
	if (mring__load_relaxed(&r->ctl->tail) > p)
		return REC_GONE;
	r->st.seek_scanned += ok ? size : MRING__REC_HDR;
	if (!ok)
		return REC_BAD;
	f->pos = p;
	f->seq = hd.seq;
	f->ts = ts;
	f->size = size;
	return REC_OK;
}

static uint64_t key(int whence, const struct rec *f)
{
	return whence == MRING_SEEK_SEQ    ? f->seq
	       : whence == MRING_SEEK_TIME ? f->ts
	                                   : f->pos;
}

/*
 * Bisect the index between granules of [best, h) for the last verified
 * record whose key is below `value`; *best moves up to it. Entries that do
 * not verify count as "too far" (the search goes left of them): the result
 * is still a record below the target, only maybe an earlier one.
 * Returns REC_OK, REC_GONE, or an error.
 */
static int bisect(struct mring *r, int whence, uint64_t value, uint64_t t,
                  uint64_t h, struct rec *best)
{
	uint64_t lo = t >> r->ishift, hi = ((h - 1) >> r->ishift) + 1;

	/* The ring spans up to nidx + 1 granules: the oldest share a slot
	 * with the newest, whose entry they are. */
	if (hi - lo > r->nidx)
		lo = hi - r->nidx;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		struct mring__ientry *e = &r->idx[mid & (r->nidx - 1)];
		uint64_t ep = mring__load_relaxed(&e->pos);
		uint64_t es = mring__load_relaxed(&e->seq);
		struct rec f;
		int v = REC_BAD;

		if (ep >> r->ishift == mid && ep > best->pos && ep < h &&
		    !(ep & (MRING__REC_ALIGN - 1)))
			v = rec_read(r, ep, h, es, &f);
		if (v < 0 || v == REC_GONE)
			return v;
		if (v == REC_OK && key(whence, &f) < value) {
			*best = f;
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return REC_OK;
}

/*
 * Find the first record whose key is >= value (a ring of records), at or
 * after `floor` (a position the producer cannot overwrite, or 0). *gone:
 * it is the oldest record and what was asked for may have been before it.
 */
static int search(struct mring *r, int whence, uint64_t value, uint64_t floor,
                  struct rec *out, bool *gone)
{
	for (int tries = 0; tries < SEEK_TRIES; tries++) {
		uint64_t h, hs, t;
		struct rec best;
		int rc = mring__seq_at_head(r, &h, &hs);

		if (rc < 0)
			return rc;
		/* Acquire: pairs with the raise of tail; the records from
		 * it up to h are what the search may read. */
		t = mring__load_acquire(&r->ctl->tail);
		if (t < floor)
			t = floor;
		if (t > h)
			continue; /* head moved on since: look again */
		if ((whence == MRING_SEEK_SEQ && value > hs) ||
		    (whence == MRING_SEEK_POS && value > h))
			return -ERANGE;
		*gone = false;
		if (t == h) {
			/* Nothing in the ring: the next record is it. */
			*out = (struct rec){.pos = h, .seq = hs};
			*gone = whence == MRING_SEEK_TIME  ? t > 0
			        : whence == MRING_SEEK_SEQ ? value < hs
			                                   : value < h;
			return 0;
		}
		rc = rec_read(r, t, h, UINT64_MAX, &best);
		if (rc == REC_GONE)
			continue;
		if (rc == REC_BAD)
			return MRING_ECORRUPT;
		if (rc < 0)
			return rc;
		if (key(whence, &best) >= value) {
			*out = best;
			*gone = whence == MRING_SEEK_TIME
			                ? t > 0
			                : key(whence, &best) > value;
			return 0;
		}
		if (r->idx) {
			rc = bisect(r, whence, value, t, h, &best);
			if (rc == REC_GONE)
				continue;
			if (rc < 0)
				return rc;
		}
		/* Walk on from the last record below the target: at most a
		 * granule or so with the index, the ring without. */
		uint64_t p = best.pos + best.size, s = best.seq + 1;
		for (;;) {
			struct rec f;
			if (p == h) {
				/* Records numbered otherwise than head_seq:
				 * someone wrote the control block. */
				if (s != hs)
					return MRING_ECORRUPT;
				*out = (struct rec){.pos = h, .seq = hs};
				return 0;
			}
			rc = rec_read(r, p, h, s, &f);
			if (rc == REC_GONE)
				break;
			if (rc == REC_BAD)
				return MRING_ECORRUPT;
			if (rc < 0)
				return rc;
			if (key(whence, &f) >= value) {
				*out = f;
				return 0;
			}
			p += f.size;
			s++;
		}
	}
	return -EAGAIN;
}

/* The oldest record now, for a consumer that must move up to tail. */
static void oldest(struct mring *r, uint64_t *p, uint64_t *s, bool *known)
{
	for (;;) {
		uint64_t h, hs, t = mring__load_acquire(&r->ctl->tail);
		struct rec f;

		*p = t;
		*known = false;
		if (!r->records)
			return;
		if (mring__seq_at_head(r, &h, &hs) < 0)
			return; /* peek reports it */
		if (t > h)
			continue;
		if (t == h) {
			*s = hs;
			*known = true;
			return;
		}
		int rc = rec_read(r, t, h, UINT64_MAX, &f);
		if (rc == REC_GONE)
			continue;
		if (rc == REC_OK) {
			*s = f.seq;
			*known = true;
		}
		return; /* a damaged record: peek reports it there */
	}
}

/*
 * Stand at (p, s), s the number of the record there if `known`. A durable
 * consumer in back-pressure mode publishes the new position and then
 * checks tail, the store-buffer handshake H4 that a joining consumer makes
 * (claim() in consumer.c) against the producer's advance_tail() and the
 * thread's discard_ahead() ("raise tail; full fence; load cons_gen"):
 * either they see the new position before they destroy data below it, or
 * it sees their tail here and moves up to it.
 */
static void settle(struct mring *r, uint64_t p, uint64_t s, bool known,
                   bool *gone)
{
	struct mring__ctl *c = r->ctl;
	struct mring__slot *sl = &c->slots[r->slot];

	r->peeked = 0;
	r->batch_n = 0;
	r->peek_ts = 0;
	for (;;) {
		r->pos = p;
		r->rseq = s;
		r->rseq_known = known;
		r->seen_head = p;
		if (r->overwrite || !r->durable) {
			/* Lapping is detected by peek (H5): no handshake. */
			mring__consumer_publish(r);
			return;
		}
		r->st.position = p;
		mring__store_pair(&sl->pos, p, known ? s : MRING__SEQ_UNKNOWN);
		MRING__CHAOS();
		atomic_fetch_add_explicit(&c->cons_gen, 1,
		                          memory_order_relaxed);
		mring__fence_seqcst();
		MRING__CHAOS();
		if (mring__load_relaxed(&c->tail) <= p)
			break;
		/* Raised past us before it saw us: what we sought may be
		 * overwritten. Go up to the oldest, and look again. */
		*gone = true;
		oldest(r, &p, &s, &known);
	}
	/* The producer may sleep on our old position, or may have to
	 * rescan: wake it (the fence in mring__wake pairs with its sleep). */
	mring__wake(&c->space_futex);
}

int mring_seek(struct mring *r, int whence, uint64_t value)
{
	struct rec f = {0};
	bool gone = false;
	int rc = 0;

	if (r->role != MRING_CONSUMER)
		return mring__role_error(r);
	if (whence < MRING_SEEK_OLDEST || whence > MRING_SEEK_TIME)
		return -EINVAL;
	if (!r->records &&
	    (whence == MRING_SEEK_SEQ || whence == MRING_SEEK_TIME))
		return -EINVAL;
	if (whence == MRING_SEEK_TIME && !r->tsb)
		return -EINVAL;
	/* The search maps other windows: the peeked pointers go. */
	r->peeked = 0;
	r->batch_n = 0;
	if (!r->records) {
		uint64_t h = mring__load_acquire(&r->ctl->head);
		uint64_t t = mring__load_acquire(&r->ctl->tail);
		f.pos = whence == MRING_SEEK_NEWEST   ? h
		        : whence == MRING_SEEK_OLDEST ? t
		                                      : value;
		if (f.pos > h)
			return -ERANGE;
		if (f.pos < t) {
			gone = whence == MRING_SEEK_POS;
			f.pos = t;
		}
	} else if (whence == MRING_SEEK_NEWEST) {
		rc = mring__seq_at_head(r, &f.pos, &f.seq);
	} else {
		if (!r->idx_tried) {
			/* Read-only, once: a ring without one walks. */
			r->idx_tried = true;
			(void)index_map(r, PROT_READ);
		}
		/*
		 * A durable consumer in back-pressure mode first stands at
		 * the oldest record (the H4 handshake in settle): from then
		 * on the producer cannot overwrite anything the search reads
		 * above it. Without that, a producer lapping a small ring
		 * destroyed the records under the search faster than it could
		 * read them (-EAGAIN after 64 tries, test_seek's back-pressure
		 * test once in 30 runs); the record sought is now found, or
		 * known to be gone. Also when the consumer does not know the
		 * number of the record it stands at (a slot stored without
		 * one): it goes back there as it was, unnumbered.
		 */
		uint64_t floor = 0, was = r->pos, was_seq = r->rseq;
		bool was_known = r->rseq_known;
		bool pin = r->durable && !r->overwrite;
		if (pin) {
			uint64_t p, s = 0;
			bool known, pinned = false;
			oldest(r, &p, &s, &known);
			settle(r, p, s, known, &pinned);
			floor = r->pos;
		}
		if (whence == MRING_SEEK_OLDEST) {
			rc = search(r, MRING_SEEK_POS, 0, floor, &f, &gone);
			gone = false; /* the oldest is what was asked for */
		} else
			rc = search(r, whence, value, floor, &f, &gone);
		if (rc < 0 && pin) {
			/* Back where it stood, as documented (forward from
			 * the pin: safe). */
			bool ignored = false;
			settle(r, was, was_seq, was_known, &ignored);
		}
	}
	if (rc < 0)
		return rc;
	settle(r, f.pos, f.seq, r->records, &gone);
	r->st.seeks++;
	return gone ? 1 : 0;
}
