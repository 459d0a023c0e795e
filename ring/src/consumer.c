/*
 * Consumers: peek/release at their own position, lapping detection against
 * the producer's oldest-valid mark, and slot registration in the control
 * block (durable named consumers and observers).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static uint64_t slot_lock(int i)
{
	return 1 + (uint64_t)i;
}

/* Can this consumer's data be overwritten under it? */
static bool may_lap(const struct mring *r)
{
	return r->overwrite || !r->durable;
}

int mring__seq_at_head(struct mring *r, uint64_t *head, uint64_t *seq)
{
	for (;;) {
		/*
		 * The producer stores head_seq, then head. Reading head on
		 * both sides of head_seq bounds head_seq to the record at h
		 * (S) or the one after (S + 1): the header tells which.
		 * Pairs with the release (seq_cst) store of head in commit.
		 */
		uint64_t h = mring__load_acquire(&r->ctl->head);
		uint64_t s = mring__load_acquire(&r->ctl->head_seq);
		if (mring__load_acquire(&r->ctl->head) != h)
			continue;
		if (s > 0) {
			int rc = mring__window(r, h);
			if (rc < 0)
				return rc;
			const struct mring__rec *hd =
				(const void *)mring__at(r, h);
			bool prev = mring__rec_valid(r, hd, s - 1);
			/* Slow here (mapping, preempted) and the producer
			 * may have lapped and overwritten the header at h:
			 * the answer would be one too high. Seqlock-style:
			 * pairs with the tail raised before overwriting. */
			mring__fence_acquire();
			uint64_t t = mring__load_relaxed(&r->ctl->tail);
			if (t > h) {
				/* (Never past head, unless someone wrote the
				 * control block who should not.) */
				if (t > mring__load_acquire(&r->ctl->head))
					return MRING_ECORRUPT;
				continue;
			}
			if (prev)
				s--;
		}
		*head = h;
		*seq = s;
		return 0;
	}
}

/*
 * Record number of the record at r->pos, if it can be known now. With the
 * consumer at head, a commit may land between the two reads of head: the
 * record at r->pos then exists, and its header says (try again). A new
 * consumer (`fresh`) whose first record is overwritten before it could read
 * the header moves up to the oldest data still there: it has read nothing,
 * so nothing is lost to it, and it keeps its count of what it loses later
 * exact. If the producer keeps overwriting the oldest record as we reach
 * for it, the consumer starts at head instead.
 */
static int learn_seq(struct mring *r, bool fresh)
{
	uint64_t h, s, t;
	int rc;

	if (!r->records)
		return 0;
	for (int tries = 0;; tries++) {
		t = mring__load_acquire(&r->ctl->tail);
		if (fresh && t > r->pos && tries >= 3) {
			/* The oldest record goes as we reach for it: start
			 * at the newest, whose number is always known. */
			rc = mring__seq_at_head(r, &h, &s);
			if (rc < 0)
				return rc;
			r->pos = h;
			r->rseq = s;
			r->rseq_known = true;
			return 0;
		}
		if (fresh && t > r->pos)
			r->pos = t;
		if (r->pos == 0) {
			/* The first record is number 0, even if overwritten
			 * since. */
			r->rseq = 0;
			r->rseq_known = true;
			return 0;
		}
		h = mring__load_acquire(&r->ctl->head);
		if (r->pos < h) {
			rc = mring__window(r, r->pos);
			if (rc < 0)
				return rc;
			const struct mring__rec *hd =
				(const void *)mring__at(r, r->pos);
			bool ok = mring__rec_valid(r, hd, UINT64_MAX);
			uint64_t seq = mring__rec_load(hd).seq;
			/* Only trust the header if it was not overwritten
			 * meanwhile. */
			mring__fence_acquire();
			if (mring__load_relaxed(&r->ctl->tail) > r->pos) {
				if (fresh)
					continue;
				return 0;
			}
			if (ok) {
				r->rseq = seq;
				r->rseq_known = true;
			}
			return 0;
		}
		rc = mring__seq_at_head(r, &h, &s);
		if (rc < 0)
			return rc;
		if (h == r->pos) {
			r->rseq = s;
			r->rseq_known = true;
			return 0;
		}
		if (h < r->pos)
			return 0; /* head behind us: peek reports it */
	}
}

static void publish_pos(struct mring *r)
{
	r->st.position = r->pos;
	if (r->rdonly)
		return; /* its position is its own */

	struct mring__slot *s = &r->ctl->slots[r->slot];

	/*
	 * Position and record number in one store: a consumer killed here
	 * must not leave a record number that belongs to another position
	 * (a restart lapped meanwhile would count its loss from it).
	 * Release: our reads of the data come before the producer may
	 * reuse it (pairs with mring__rescan's acquire load of pos).
	 */
	mring__fence_release();
	mring__store_pair(&s->pos, r->pos,
	                  r->rseq_known ? r->rseq : MRING__SEQ_UNKNOWN);
	if (may_lap(r))
		return; /* nobody waits on observers */
	MRING__CHAOS();
	/* Pairs with the producer's rescan, and its sleep in mring__wait:
	 * store pos; full fence; load the sleeper bit (in mring__wake). */
	mring__wake(&r->ctl->space_futex);
}

/* The producer overwrote data below r->pos: jump to the oldest intact. */
static int lapped(struct mring *r)
{
	uint64_t t, s = 0;
	int rc;

	for (;;) {
		t = mring__load_acquire(&r->ctl->tail);
		if (!r->records)
			break;
		uint64_t h;
		rc = mring__seq_at_head(r, &h, &s);
		if (rc < 0)
			return rc;
		if (t == h)
			break;
		rc = mring__window(r, t);
		if (rc < 0)
			return rc;
		const struct mring__rec *hd = (const void *)mring__at(r, t);
		bool ok = mring__rec_valid(r, hd, UINT64_MAX);
		s = mring__rec_load(hd).seq;
		/* Seqlock-style: the header is only good if tail held still. */
		mring__fence_acquire();
		if (mring__load_relaxed(&r->ctl->tail) != t)
			continue;
		if (!ok)
			return MRING_ECORRUPT;
		break;
	}
	r->st.lapped++;
	r->st.bytes_lost += t - r->pos;
	if (r->records && r->rseq_known && s > r->rseq)
		r->st.records_lost += s - r->rseq;
	r->pos = t;
	r->rseq = s;
	r->rseq_known = r->records;
	r->peeked = 0;
	r->batch_n = 0;
	publish_pos(r);
	return MRING_ELAPPED;
}

int mring__consumer_lapped(struct mring *r)
{
	return lapped(r);
}

void mring__consumer_publish(struct mring *r)
{
	publish_pos(r);
}

static bool data_ready(struct mring *r)
{
	return mring__load_seqcst(&r->ctl->head) != r->pos ||
	       mring__load_acquire(&r->ctl->eof);
}

ssize_t mring_peek(struct mring *r, const void **ptr, int timeout_ms)
{
	int64_t deadline = -2;
	int rc;

	if (mring__unlikely(r->role != MRING_CONSUMER))
		return mring__role_error(r);
	r->batch_n = 0; /* a peek ends a batch (batch.c) */
	for (;;) {
		uint64_t head = r->seen_head;
		if (head <= r->pos) {
			/* Pairs with the seq_cst store of head in commit. */
			head = r->seen_head =
				mring__load_acquire(&r->ctl->head);
			/* head never moves back under a live consumer:
			 * someone wrote the control block who should not. */
			if (mring__unlikely(head < r->pos))
				return MRING_ECORRUPT;
		}
		if (mring__unlikely(head == r->pos)) {
			/* eof is stored after the last head: check both. */
			if (mring__load_acquire(&r->ctl->eof) &&
			    mring__load_acquire(&r->ctl->head) == r->pos)
				return 0;
			/* Nothing to read: the descriptor of mring_fd()
			 * is cleared and watches from here (H11). */
			if (r->ev)
				mring__ev_arm(r);
			if (timeout_ms == 0)
				return -EAGAIN;
			if (deadline == -2)
				deadline = mring__deadline(timeout_ms);
			r->st.consumer_waits++;
			rc = mring__wait(r, &r->ctl->data_futex, data_ready,
			                 deadline, &r->intr);
			if (rc < 0)
				return rc;
			continue;
		}
		if (may_lap(r) &&
		    mring__unlikely(mring__load_acquire(&r->ctl->tail) >
		                    r->pos))
			return lapped(r);
		rc = mring__window(r, r->pos);
		if (mring__unlikely(rc < 0))
			return rc;
		const uint8_t *p = mring__at(r, r->pos);
		if (!r->records) {
			uint64_t n = head - r->pos;
			uint64_t room =
				r->wstart + r->win + r->overlap - r->pos;
			if (n > room)
				n = room;
			r->peeked = (size_t)n;
			*ptr = p;
			return (ssize_t)n;
		}
		struct mring__rec hc;
		memcpy(&hc, p, sizeof(hc));
		bool ok = mring__rec_ok(r, &hc, p + MRING__REC_HDR,
		                        r->rseq_known ? r->rseq : UINT64_MAX,
		                        head - r->pos);
		if (may_lap(r)) {
			/* The header may have been torn by an overwrite. */
			mring__fence_acquire();
			if (mring__load_relaxed(&r->ctl->tail) > r->pos)
				return lapped(r);
		}
		if (mring__unlikely(!ok))
			return MRING_ECORRUPT;
		r->rseq = hc.seq;
		r->rseq_known = true;
		/* With timestamps the payload starts with the stamp. */
		r->peeked = hc.len - r->tsb;
		r->peek_adv = (size_t)mring__rec_size(hc.len);
		if (r->tsb)
			memcpy(&r->peek_ts, p + MRING__REC_HDR,
			       sizeof(r->peek_ts));
		*ptr = p + MRING__REC_HDR + r->tsb;
		return (ssize_t)r->peeked;
	}
}

int mring_release(struct mring *r, size_t len)
{
	size_t adv = len;

	if (mring__unlikely(r->role != MRING_CONSUMER))
		return mring__role_error(r);
	if (r->records) {
		if (!r->peeked)
			return -EINVAL;
		adv = r->peek_adv;
		len = r->peeked;
	} else if (len > r->peeked) {
		return -EINVAL;
	} else if (len == 0) {
		return 0;
	}
	if (may_lap(r)) {
		/* Was it overwritten while the caller read it? */
		mring__fence_acquire();
		if (mring__unlikely(mring__load_relaxed(&r->ctl->tail) >
		                    r->pos))
			return lapped(r);
	}
	r->pos += adv;
	r->peeked = 0;
	if (r->records)
		r->rseq++;
	publish_pos(r);
	r->st.bytes_consumed += len;
	r->st.records_consumed++;
	return 0;
}

ssize_t mring_read(struct mring *r, void *buf, size_t len, int timeout_ms)
{
	const void *p;
	ssize_t n = mring_peek(r, &p, timeout_ms);
	int rc;

	if (n <= 0)
		return n;
	if ((size_t)n > len) {
		if (r->records)
			return -EMSGSIZE;
		n = (ssize_t)len;
	}
	memcpy(buf, p, (size_t)n);
	rc = mring_release(r, (size_t)n);
	return rc < 0 ? rc : n;
}

/* ---- registration ------------------------------------------------------ */

static int find_slot(struct mring *r, const char *name, bool *resume)
{
	struct mring__ctl *c = r->ctl;
	int free_slot = -1;

	*resume = false;
	for (uint32_t i = 0; i < r->nslots; i++) {
		struct mring__slot *s = &c->slots[i];
		uint32_t state = mring__load_acquire(&s->state);
		if (name && state == MRING__SLOT_DURABLE &&
		    strncmp(s->name, name, sizeof(s->name)) == 0) {
			*resume = true;
			return (int)i;
		}
		if (free_slot >= 0)
			continue;
		if (state == MRING__SLOT_FREE)
			free_slot = (int)i;
		/* An observer whose process died leaves its slot behind. */
		else if (state == MRING__SLOT_OBSERVER &&
		         mring__os_lock_held(r->fd, slot_lock((int)i)) == 0)
			free_slot = (int)i;
	}
	return free_slot >= 0 ? free_slot : MRING_ENOSLOT;
}

/* Claim slot i for a new consumer starting at the chosen end. */
static void claim(struct mring *r, int i, const char *name, int start)
{
	struct mring__ctl *c = r->ctl;
	struct mring__slot *s = &c->slots[i];
	uint64_t p = start == MRING_START_NEWEST
	                     ? mring__load_acquire(&c->head)
	                     : mring__load_acquire(&c->tail);

	memset(s->name, 0, sizeof(s->name));
	if (name)
		strncpy(s->name, name, sizeof(s->name) - 1);
	/* The record number is learnt once the window is mapped. */
	mring__store_pair(&s->pos, p, MRING__SEQ_UNKNOWN);
	mring__store_release(&s->state,
	                     name ? MRING__SLOT_DURABLE : MRING__SLOT_OBSERVER);
	MRING__CHAOS();
	/*
	 * Store-buffer handshake with whoever raises tail and then destroys
	 * data below it: the producer's advance_tail() and the maintenance
	 * thread's discard_ahead() both "store tail; full fence; load
	 * cons_gen". Here: bump cons_gen; full fence; load tail. If one of
	 * them raised tail past p before seeing us, we see that here and
	 * move up; otherwise it sees us and keeps our data.
	 */
	atomic_fetch_add_explicit(&c->cons_gen, 1, memory_order_relaxed);
	mring__fence_seqcst();
	MRING__CHAOS();
	bool moved = false;
	for (;;) {
		uint64_t t = mring__load_relaxed(&c->tail);
		if (t <= p)
			break;
		p = t;
		mring__store_seqcst(&s->pos, p);
		moved = true;
	}
	r->pos = p;
	/*
	 * A producer may be asleep on the position we held a moment ago (it
	 * rescanned after we bumped cons_gen): tell it we moved up.
	 */
	if (moved && name)
		mring__wake(&c->space_futex);
}

int mring__consumer_attach(struct mring *r, const struct mring_config *cfg)
{
	struct mring__ctl *c = r->ctl;
	const char *name = cfg->consumer_name;
	bool resume;
	int rc, i;

	if (name && (name[0] == '\0' || strlen(name) > MRING_NAME_MAX))
		return -EINVAL;
	if (cfg->start != MRING_START_OLDEST &&
	    cfg->start != MRING_START_NEWEST)
		return -EINVAL;
	/* Read-ahead requests in steps the kernel honours whole (at least
	 * its default 128 KiB; no block device behind tmpfs). */
	uint64_t page = (uint64_t)mring__os_page_size();
	r->ra_step = mring__os_readahead(r->fd) & ~(page - 1);
	if (r->ra_step < (128u << 10))
		r->ra_step = 128u << 10;
	if (r->rdonly) {
		/*
		 * No slot and no lock (both need write access): it keeps its
		 * position to itself, is never waited for, and is lapped like
		 * any observer (may_lap), which every peek checks against
		 * tail. Joining needs no handshake with the producer (H4):
		 * data destroyed under it is found by the same check.
		 */
		r->slot = -1;
		resume = false;
		r->pos = cfg->start == MRING_START_NEWEST
		                 ? mring__load_acquire(&c->head)
		                 : mring__load_acquire(&c->tail);
		rc = mring__window_move(r, r->pos);
		if (rc == 0)
			rc = learn_seq(r, true);
		if (rc < 0)
			return rc;
		r->seen_head = r->pos;
		r->st.position = r->pos;
		return 0;
	}
	rc = mring__os_lock(r->fd, MRING__REGISTRY_LOCK, 1);
	if (rc < 0)
		return rc;
	i = find_slot(r, name, &resume);
	if (i < 0) {
		rc = i;
		goto out;
	}
	rc = mring__os_lock(r->fd, slot_lock(i), 0);
	if (rc < 0)
		goto out; /* -EBUSY: that name is attached elsewhere */
	r->slot = i;
	r->durable = name != NULL;
	if (resume) {
		r->pos = mring__load_acquire(&c->slots[i].pos);
		/* Beyond head: a control block torn by a power cut or a
		 * copy (this slot on a later page than head). Resume at
		 * head, record number unknown (learnt there). */
		uint64_t head = mring__load_acquire(&c->head);
		if (r->pos > head) {
			r->pos = head;
			mring__store_pair(&c->slots[i].pos, head,
			                  MRING__SEQ_UNKNOWN);
		}
		r->rseq = mring__load_relaxed(&c->slots[i].seq);
		r->rseq_known = r->records && r->rseq != MRING__SEQ_UNKNOWN;
	} else {
		claim(r, i, name, cfg->start);
	}
	mring__store_relaxed(&c->slots[i].pid, (uint32_t)getpid());
out:
	mring__os_unlock(r->fd, MRING__REGISTRY_LOCK);
	if (rc < 0)
		return rc;
	rc = mring__window_move(r, r->pos);
	if (rc == 0)
		rc = learn_seq(r, !resume);
	if (rc == 0 && !resume)
		mring__store_pair(&c->slots[i].pos, r->pos,
		                  r->rseq_known ? r->rseq : MRING__SEQ_UNKNOWN);
	if (rc < 0) {
		/* A failed open leaves nothing behind: a durable slot claimed
		 * here would hold the producer back for ever. */
		if (!resume)
			r->durable = false;
		mring__consumer_detach(r);
		return rc;
	}
	r->seen_head = r->pos;
	r->st.position = r->pos;
	return 0;
}

void mring__consumer_detach(struct mring *r)
{
	if (r->rdonly)
		return; /* it took nothing */

	struct mring__ctl *c = r->ctl;
	struct mring__slot *s = &c->slots[r->slot];

	if (r->durable) {
		mring__os_unlock(r->fd, slot_lock(r->slot));
		return;
	}
	/*
	 * Under the registry lock, let go of the slot's lock before it reads
	 * FREE: whoever finds it FREE (find_slot, under the same lock) can
	 * then take its lock at once, never -EBUSY.
	 */
	(void)mring__os_lock(r->fd, MRING__REGISTRY_LOCK, 1);
	mring__os_unlock(r->fd, slot_lock(r->slot));
	mring__store_release(&s->state, MRING__SLOT_FREE);
	atomic_fetch_add_explicit(&c->cons_gen, 1, memory_order_seq_cst);
	mring__os_unlock(r->fd, MRING__REGISTRY_LOCK);
	/* A producer may be asleep on this slot (it was durable until a
	 * failed open gave it up). */
	mring__wake(&c->space_futex);
}

/* ---- getting past damage ------------------------------------------------ */

/* Smallest stretch a record takes: header and one 8-byte-padded byte. */
#define MIN_REC (MRING__REC_HDR + 8u)
/* Records after a candidate that must verify too (or reach head). */
#define SKIP_CHAIN 8

/*
 * Does a record that verifies start at `at`, whole below `head`? With
 * `seq` != UINT64_MAX its number must be that. Stores its number and size.
 */
static bool rec_at(struct mring *r, uint64_t at, uint64_t head, uint64_t seq,
                   uint64_t *got, uint64_t *size)
{
	struct mring__rec hc;

	if (mring__window(r, at) < 0)
		return false;
	const uint8_t *p = mring__at(r, at);
	memcpy(&hc, p, sizeof(hc));
	if (!mring__rec_ok(r, &hc, p + MRING__REC_HDR, seq, head - at))
		return false;
	*got = hc.seq;
	*size = mring__rec_size(hc.len);
	return true;
}

/*
 * Is `at` (past the damage) where intact records start again? Its record
 * verifies, its number is plausible (above the damaged one, and no more
 * records lost than bytes allow), and the next SKIP_CHAIN records verify
 * with consecutive numbers, or the chain ends exactly at head. A payload
 * that happens to look like a header rarely passes all of it (and with
 * MRING_F_CRC, never in practice: each check covers the payload).
 */
static bool resync_at(struct mring *r, uint64_t at, uint64_t head,
                      uint64_t *seq)
{
	uint64_t s, size, s2;

	if (!rec_at(r, at, head, UINT64_MAX, &s, &size))
		return false;
	if (r->rseq_known &&
	    (s <= r->rseq || s - r->rseq > (at - r->pos) / MIN_REC))
		return false;
	uint64_t q = at + size;
	for (int k = 0; k < SKIP_CHAIN && q < head; k++) {
		if (!rec_at(r, q, head, s + 1 + (uint64_t)k, &s2, &size))
			return false;
		q += size;
	}
	if (q > head)
		return false;
	*seq = s;
	return true;
}

int mring_skip(struct mring *r, uint64_t *bytes, uint64_t *records)
{
	uint64_t head, at, seq = 0, size, s;
	bool seq_known = false;
	int rc;

	if (!r)
		return -EINVAL;
	if (mring__unlikely(r->role != MRING_CONSUMER))
		return mring__role_error(r);
	if (bytes)
		*bytes = 0;
	if (records)
		*records = 0;
	/* Byte rings carry no checks: nothing in them is found damaged. */
	if (!r->records)
		return -EINVAL;
	head = mring__load_acquire(&r->ctl->head);
	/* A control block that says head is behind us: skipping cannot
	 * mend it. */
	if (head < r->pos)
		return MRING_ECORRUPT;
	if (may_lap(r) && mring__load_acquire(&r->ctl->tail) > r->pos)
		return lapped(r);
	/* Only a record that fails its check is skipped, never good data. */
	if (head == r->pos ||
	    rec_at(r, r->pos, head, r->rseq_known ? r->rseq : UINT64_MAX, &s,
	           &size))
		return -EINVAL;
	at = (r->pos + 8) & ~(uint64_t)7;
	for (;;) {
		/*
		 * Bounded: head only grows, and never beyond a capacity
		 * ahead of a consumer that cannot be lapped (one that can
		 * finds tail past it first); `at` only grows towards it.
		 */
		if (may_lap(r) && mring__load_acquire(&r->ctl->tail) > r->pos)
			return lapped(r);
		if (head - r->pos > r->cap)
			return MRING_ECORRUPT;
		for (; at < head; at += 8) {
			if (resync_at(r, at, head, &seq)) {
				seq_known = true;
				break;
			}
		}
		if (seq_known)
			break;
		/* Nothing verifies up to head: the damage runs to it. If
		 * head has not moved, resume there, at its known number. */
		uint64_t h;
		rc = mring__seq_at_head(r, &h, &seq);
		if (rc < 0)
			return rc;
		if (h == head) {
			at = head;
			seq_known = true;
			break;
		}
		if (h < head)
			return MRING_ECORRUPT; /* head went back */
		head = h;
	}
	/* Seqlock-style (H5): the headers we trusted were not overwritten
	 * while we read them. */
	if (may_lap(r)) {
		mring__fence_acquire();
		if (mring__load_relaxed(&r->ctl->tail) > r->pos)
			return lapped(r);
	}
	uint64_t lost = r->rseq_known && seq > r->rseq ? seq - r->rseq : 0;
	r->st.bytes_lost += at - r->pos;
	r->st.records_lost += lost;
	r->st.skips++;
	if (bytes)
		*bytes = at - r->pos;
	if (records)
		*records = r->rseq_known ? lost : UINT64_MAX;
	r->pos = at;
	r->rseq = seq;
	r->rseq_known = true;
	r->peeked = 0;
	r->seen_head = at;
	/* A durable consumer keeps its new place: it is its position now
	 * (and space for the producer in back-pressure mode, H3). */
	publish_pos(r);
	return 0;
}

/* ---- registering without opening --------------------------------------- */

int mring__consumer_add(struct mring *r, const char *name, int start)
{
	bool resume;
	int rc, i;

	rc = mring__os_lock(r->fd, MRING__REGISTRY_LOCK, 1);
	if (rc < 0)
		return rc;
	i = find_slot(r, name, &resume);
	if (i < 0) {
		rc = i;
	} else if (resume) {
		rc = -EEXIST;
	} else {
		/*
		 * As an open would, under the registry lock and with the
		 * join handshake (H4) against a producer raising tail: the
		 * slot holds the producer back from here on. Its record
		 * number is learnt when it is first opened.
		 */
		claim(r, i, name, start);
		mring__store_relaxed(&r->ctl->slots[i].pid, 0u);
		rc = 0;
	}
	mring__os_unlock(r->fd, MRING__REGISTRY_LOCK);
	return rc;
}
