/*
 * Recovery of a ring whose producer did not close it in this page cache:
 * a process crash (everything committed is in the cache) or a reboot, a
 * copy of the file or of its device (only what mring_sync() made durable
 * is trusted; records after it are kept if they verify). See FORMAT.md,
 * "Recovery".
 *
 * Every scan here is linear in the bytes it covers, whatever the file
 * says: a ring of hundreds of GB is read at most about once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

/* mring_sync() writes (synced, synced_seq) with one mring__store_pair. */
_Static_assert(offsetof(struct mring__ctl, synced) % 16 == 0 &&
                       offsetof(struct mring__ctl, synced_seq) ==
                               offsetof(struct mring__ctl, synced) + 8,
               "synced, synced_seq: one 16-byte store");

/* The caller hears of progress at most this often (mring.h). */
#define PROGRESS_STEP (64ull << 20)
/* Read-ahead asked for by the backward walk: first, largest step. */
#define HINT_FIRST (128ull << 10)
#define HINT_MAX (8ull << 20)

/* What the scans read so far: for mring_stats() and cfg->progress. */
struct scan {
	struct mring *r;
	const struct mring_config *cfg;
	uint64_t done;     /* bytes of the ring read */
	uint64_t total;    /* at most this many (done never exceeds it) */
	uint64_t reported; /* done at the last progress call */
	uint64_t hinted;   /* backward walk: read-ahead asked down to here */
	uint64_t hint_len; /* size of the next such request */
};

static void report(struct scan *sc)
{
	struct mring_progress p = {
		.what = "recover", .done = sc->done, .total = sc->total};

	sc->reported = sc->done;
	sc->cfg->progress(&p, sc->cfg->progress_arg);
}

static void scanned(struct scan *sc, uint64_t n)
{
	sc->done += n;
	if (sc->cfg->progress && sc->done - sc->reported >= PROGRESS_STEP)
		report(sc);
}

/*
 * After a reboot: keep the records from `start` on that verify. With seq
 * unknown (UINT64_MAX), any number below `below` is accepted for the first.
 * Each record is read once: linear in what it keeps.
 */
static int recover_records(struct scan *sc, uint64_t start, uint64_t seq,
                           uint64_t below, uint64_t head, uint64_t *new_head,
                           uint64_t *new_seq)
{
	struct mring *r = sc->r;
	uint64_t p = start;

	while (p < head) {
		int rc = mring__window(r, p);
		if (rc < 0)
			return rc;
		const uint8_t *at = mring__at(r, p);
		struct mring__rec h = mring__rec_load(at);
		uint64_t size =
			mring__rec_size(h.len <= r->max_record ? h.len : 0);
		bool ok = mring__rec_valid(r, (const void *)at, seq) &&
		          h.seq < below && size <= head - p;
		scanned(sc, size < head - p ? size : head - p);
		if (!ok)
			break;
		seq = h.seq + 1;
		p += size;
	}
	*new_head = p;
	*new_seq = seq;
	return 0;
}

/*
 * Walking backward, the kernel's read-ahead (made for forward reads) does
 * not help: ask for the stretch below `p` before reading it, in growing
 * steps so that a walk that stops at once reads little.
 */
static void hint_below(struct scan *sc, uint64_t p, uint64_t lo)
{
	struct mring *r = sc->r;
	uint64_t page = (uint64_t)mring__os_page_size();

	if (p >= sc->hinted)
		return;
	uint64_t from = p - lo > sc->hint_len ? p - sc->hint_len : lo;
	if (from < r->wstart)
		from = r->wstart;
	from &= ~(page - 1); /* windows start on a page */
	(void)mring__os_willneed(mring__at(r, from),
	                         (size_t)(p + MRING__REC_HDR - from));
	sc->hinted = from;
	if (sc->hint_len < HINT_MAX)
		sc->hint_len *= 2;
}

/*
 * Find the record number `s - 1` that ends exactly at `c` and starts at or
 * above `lo`: the nearest candidate first, 8-byte steps down to one
 * largest record below `c`, cheap checks before the check word (and CRC).
 * Reads [start, c), or the whole stretch searched when there is none.
 */
static int find_prev(struct scan *sc, uint64_t lo, uint64_t c, uint64_t s,
                     uint64_t *start, bool *found)
{
	struct mring *r = sc->r;
	uint64_t span = mring__rec_size(r->max_record);
	uint64_t least = mring__rec_size(1);

	*found = false;
	if (s == 0 || c - lo < least)
		return 0;
	uint64_t from = c - lo > span ? c - span : lo;
	for (uint64_t q = c - least; q >= from; q -= MRING__REC_ALIGN) {
		int rc = mring__window(r, q);
		if (rc < 0)
			return rc;
		hint_below(sc, q, lo);
		const uint8_t *at = mring__at(r, q);
		struct mring__rec h = mring__rec_load(at);
		if (h.seq == s - 1 && h.len >= 1 && h.len <= r->max_record &&
		    mring__rec_size(h.len) == c - q &&
		    mring__rec_valid(r, (const void *)at, s - 1)) {
			scanned(sc, c - q);
			*start = q;
			*found = true;
			return 0;
		}
		if (q - from < MRING__REC_ALIGN)
			break; /* (q - 8 would wrap when from is 0) */
	}
	scanned(sc, c - from);
	return 0;
}

/*
 * A producer died with the machine: its `tail` on disk may be older than
 * data that overwrote the records above it, because the control block
 * reaches the disk only when it is synced or written back, while the data
 * of a later lap (and the reclaim ahead of it) may have reached it sooner.
 * Everything from some point up to `synced` is intact (synced data, not
 * overwritten); below that point, records, zeros and later laps' records
 * mix. Find the first record from which valid records, numbered below
 * `synced_seq`, chain up to `synced`: walk back from (synced, synced_seq)
 * one record at a time (the one that ends where the chain starts, and
 * carries the number before it) until there is none or `tail` is reached.
 * Each position is examined once: the walk reads [result, synced) and one
 * largest record below the result. A pair (synced, synced_seq) the records
 * contradict chains to nothing: the result is `synced`.
 */
static int recover_tail(struct scan *sc, uint64_t tail, uint64_t synced,
                        uint64_t synced_seq, uint64_t *new_tail,
                        uint64_t *tail_seq)
{
	uint64_t c = synced, s = synced_seq;

	for (;;) {
		uint64_t q;
		bool found;
		int rc = find_prev(sc, tail, c, s, &q, &found);
		if (rc < 0)
			return rc;
		if (!found)
			break;
		c = q;
		s--;
	}
	*new_tail = c;
	*tail_seq = s;
	return 0;
}

/*
 * Readers take a valid header at head numbered head_seq - 1 for a commit
 * whose head store was lost (mring__seq_at_head) and count from it. A
 * recovered head can sit on such a header that recovery did not keep:
 * the pair (synced, synced_seq) one apart from the records, in a hostile
 * file or one synced by a library that wrote the pair with two stores.
 * Clear it (the next commit overwrites it anyway), unless the ring is
 * full: those bytes are then the oldest record's, which is numbered lower.
 */
static int clear_stale(struct scan *sc, uint64_t t, uint64_t h, uint64_t s)
{
	struct mring *r = sc->r;
	uint64_t page = (uint64_t)mring__os_page_size();

	if (s == 0 || s == UINT64_MAX || h - t >= r->cap)
		return 0;
	int rc = mring__window(r, h);
	if (rc < 0)
		return rc;
	uint8_t *at = mring__at(r, h);
	if (!mring__rec_valid(r, (const void *)at, s - 1))
		return 0;
	/* Fault it in first: a full disk is then an error, not SIGBUS. */
	uint8_t *from = mring__at(r, h & ~(page - 1));
	uint8_t *to =
		mring__at(r, (h + MRING__REC_HDR + page - 1) & ~(page - 1));
	rc = mring__os_populate_write(from, (size_t)(to - from));
	/* EINVAL: a kernel before 5.14; an ordinary fault then. */
	if (rc < 0 && rc != -EINVAL)
		return mring__populate_error(&r->pool, rc);
	memset(at, 0, MRING__REC_HDR);
	return 0;
}

/* Same page cache: it kept everything committed. */
static int recover_same(struct scan *sc, bool clean, uint64_t head,
                        uint64_t *seq)
{
	struct mring *r = sc->r;

	/* Undo a crash between the head_seq and head stores of a commit
	 * (a clean close came after the last commit). */
	if (clean || !r->records || *seq == 0)
		return 0;
	int rc = mring__window(r, head);
	if (rc < 0)
		return rc;
	const struct mring__rec *h = (const void *)mring__at(r, head);
	scanned(sc, MRING__REC_HDR);
	if (mring__rec_valid(r, h, *seq - 1))
		(*seq)--;
	return 0;
}

int mring__recover(struct mring *r, const struct mring_config *cfg, bool same,
                   bool clean, uint64_t *head, uint64_t *seq)
{
	struct mring__ctl *c = r->ctl;
	uint64_t tail = mring__load_relaxed(&c->tail);
	struct scan sc = {.r = r, .cfg = cfg, .hint_len = HINT_FIRST};
	uint64_t h = *head, s = *seq;
	uint64_t t = tail, ts = MRING__SEQ_UNKNOWN;
	int rc;

	if (same) {
		rc = recover_same(&sc, clean, h, &s);
		if (rc < 0)
			return rc;
		t = 0; /* below tail is lapped, not damaged */
	} else {
		/* Rebooted: trust what mring_sync() vouched for, verify
		 * the rest. */
		uint64_t synced = mring__load_relaxed(&c->synced);
		uint64_t synced_seq = mring__load_relaxed(&c->synced_seq);
		uint64_t start = synced > tail ? synced : tail;
		uint64_t start_seq = synced >= tail ? synced_seq : UINT64_MAX;
		/* A clean close wrote the final tail; a crash may not. */
		bool back = r->records && !clean && synced > tail;

		h = start;
		s = start_seq;
		if (r->records) {
			sc.total = *head - start + (back ? synced - tail : 0);
			sc.hinted = synced;
			rc = recover_records(&sc, start, start_seq, *seq, *head,
			                     &h, &s);
			if (rc == 0 && back)
				rc = recover_tail(&sc, tail, synced, synced_seq,
				                  &t, &ts);
			if (cfg->progress)
				report(&sc);
			if (rc < 0)
				return rc;
			if (s == UINT64_MAX)
				s = *seq;
			rc = clear_stale(&sc, t, h, s);
			if (rc < 0)
				return rc;
		}
		if (t > tail)
			mring__tail_raise(c, t);
	}
	r->st.recovery_scanned = sc.done;
	*head = h;
	*seq = s;
	/*
	 * Nobody may stand beyond the new head (a torn control block, its
	 * slots on a later page than head, shows that too), or on damaged
	 * data.
	 */
	for (uint32_t i = 0; i < r->nslots; i++) {
		struct mring__slot *sl = &c->slots[i];
		if (mring__load_relaxed(&sl->state) == MRING__SLOT_FREE)
			continue;
		uint64_t pos = mring__load_relaxed(&sl->pos);
		if (pos > h)
			mring__store_pair(&sl->pos, h, s);
		else if (pos < t)
			mring__store_pair(&sl->pos, t, ts);
	}
	/* Written together, as mring_sync() does. */
	if (mring__load_relaxed(&c->synced) > h)
		mring__store_pair(&c->synced, h, s);
	return 0;
}
