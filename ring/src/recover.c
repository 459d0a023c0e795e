/*
 * Recovery of a ring whose producer did not close it in this page cache:
 * a process crash (everything committed is in the cache) or a reboot, a
 * copy of the file or of its device (only what mring_sync() made durable
 * is trusted; records after it are kept if they verify). See FORMAT.md,
 * "Recovery".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "internal.h"

/*
 * After a reboot: keep the records from `start` on that verify. With seq
 * unknown (UINT64_MAX), any number below `below` is accepted for the first.
 */
static int recover_records(struct mring *r, uint64_t start, uint64_t seq,
                           uint64_t below, uint64_t head, uint64_t *new_head,
                           uint64_t *new_seq)
{
	uint64_t p = start;

	while (p < head) {
		int rc = mring__window(r, p);
		if (rc < 0)
			return rc;
		const uint8_t *at = mring__at(r, p);
		struct mring__rec h = mring__rec_load(at);
		if (!mring__rec_valid(r, (const void *)at, seq) ||
		    h.seq >= below || p + mring__rec_size(h.len) > head)
			break;
		seq = h.seq + 1;
		p += mring__rec_size(h.len);
	}
	*new_head = p;
	*new_seq = seq;
	return 0;
}

/*
 * Is there a chain of valid records from `q` that ends exactly at `end`
 * with record number `end_seq`? Stores where it broke in *broke.
 */
static int chain_ok(struct mring *r, uint64_t q, uint64_t end, uint64_t end_seq,
                    uint64_t *broke, bool *ok)
{
	uint64_t seq = UINT64_MAX;

	*ok = false;
	while (q < end) {
		int rc = mring__window(r, q);
		if (rc < 0)
			return rc;
		const uint8_t *at = mring__at(r, q);
		struct mring__rec h = mring__rec_load(at);
		/* Records below `end` number less than end_seq: a higher
		 * number is a later lap's record that overwrote this one. */
		if (h.seq >= end_seq ||
		    !mring__rec_valid(r, (const void *)at, seq))
			break;
		seq = h.seq + 1;
		q += mring__rec_size(h.len);
	}
	*broke = q;
	*ok = q == end && seq == end_seq;
	return 0;
}

/*
 * A producer died with the machine: its `tail` on disk may be older than
 * data that overwrote the records above it, because the control block
 * reaches the disk only when it is synced or written back, while the data
 * of a later lap (and the reclaim ahead of it) may have reached it sooner.
 * Everything from some point up to `synced` is intact (synced data, not
 * overwritten); below that point, records, zeros and later laps' records
 * mix. Find the first record from which valid records chain up to
 * `synced`, scanning 8-byte steps past damage. Reads [tail, synced): up
 * to a capacity, once, after a power cut.
 */
static int recover_tail(struct mring *r, uint64_t tail, uint64_t synced,
                        uint64_t synced_seq, uint64_t *new_tail,
                        uint64_t *tail_seq)
{
	uint64_t q = tail;

	while (q < synced) {
		uint64_t broke;
		bool ok;
		int rc = chain_ok(r, q, synced, synced_seq, &broke, &ok);
		if (rc < 0)
			return rc;
		if (ok) {
			rc = mring__window(r, q);
			if (rc < 0)
				return rc;
			*new_tail = q;
			*tail_seq = mring__rec_load(mring__at(r, q)).seq;
			return 0;
		}
		/* Records before `broke` were real (they chained): go on
		 * after it; else the candidate itself was no record. */
		q = (broke > q && broke < synced ? broke : q) +
		    MRING__REC_ALIGN;
	}
	*new_tail = synced;
	*tail_seq = synced_seq;
	return 0;
}

int mring__recover(struct mring *r, bool same, bool clean, uint64_t *head,
                   uint64_t *seq)
{
	struct mring__ctl *c = r->ctl;
	uint64_t tail = mring__load_relaxed(&c->tail);
	int rc;

	if (same) {
		/*
		 * Same page cache: it kept everything. Undo a crash
		 * between the head_seq and head stores of a commit.
		 */
		if (r->records && *seq > 0) {
			rc = mring__window(r, *head);
			if (rc < 0)
				return rc;
			const struct mring__rec *h =
				(const void *)mring__at(r, *head);
			if (mring__rec_valid(r, h, *seq - 1))
				(*seq)--;
		}
		return 0;
	}
	/* Rebooted: trust what mring_sync() vouched for, verify the rest. */
	uint64_t synced = mring__load_relaxed(&c->synced);
	uint64_t synced_seq = mring__load_relaxed(&c->synced_seq);
	uint64_t start = synced > tail ? synced : tail;
	uint64_t start_seq = synced >= tail ? synced_seq : UINT64_MAX;
	uint64_t h = start, s = start_seq;
	uint64_t t = tail, ts = UINT64_MAX;

	if (r->records) {
		rc = recover_records(r, start, start_seq, *seq, *head, &h, &s);
		if (rc < 0)
			return rc;
		if (s == UINT64_MAX)
			s = *seq;
		/* A clean close wrote the final tail; a crash may not. */
		if (!clean && synced > tail) {
			rc = recover_tail(r, tail, synced, synced_seq, &t, &ts);
			if (rc < 0)
				return rc;
		}
	}
	*head = h;
	*seq = s;
	if (t > tail)
		mring__tail_raise(c, t);
	/* Nobody may stand beyond the new head, or on damaged data. */
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
	if (mring__load_relaxed(&c->synced) > h)
		mring__store_relaxed(&c->synced, h);
	return 0;
}
