/*
 * Batches for consumers: several whole records peeked at once and released
 * with one store of the position (mring_peek_many, mring_release_many).
 * The gather write for producers is mring_writev in producer.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Records per batch at most; the handle keeps one word per record. */
#define BATCH_MAX 4096

ssize_t mring_peek_many(struct mring *r, struct mring_msg *msgs, size_t max,
                        int timeout_ms)
{
	const void *p;

	if (mring__unlikely(r->role != MRING_CONSUMER))
		return mring__role_error(r);
	if (!r->records || !msgs || max == 0)
		return -EINVAL;
	if (max > BATCH_MAX)
		max = BATCH_MAX;
	if (max > r->batch_cap) {
		uint32_t *a = realloc(r->batch_len, max * sizeof(*a));
		if (!a)
			return -ENOMEM;
		r->batch_len = a;
		r->batch_cap = max;
	}
	/* The first record as mring_peek gives it: waiting, end of stream,
	 * lapping and damage are all reported there. */
	ssize_t n = mring_peek(r, &p, timeout_ms);
	if (n <= 0)
		return n;
	msgs[0] = (struct mring_msg){
		.ptr = p, .len = (size_t)n, .seq = r->rseq, .ts = r->peek_ts};
	r->batch_len[0] = (uint32_t)n + r->tsb;

	/*
	 * Then what else is committed and mapped with it: a record that
	 * starts inside the window's stride lies whole in the window (the
	 * overlap holds the largest). Pairs with the release store of head
	 * in commit, as in mring_peek.
	 */
	uint64_t head = r->seen_head = mring__load_acquire(&r->ctl->head);
	uint64_t wend = r->wstart + r->win;
	uint64_t q = r->pos + r->peek_adv, s = r->rseq + 1;
	size_t k = 1;

	while (k < max && q < head && q < wend) {
		const uint8_t *at = mring__at(r, q);
		struct mring__rec hc = mring__rec_load(at);
		uint64_t ts = 0;
		bool ok =
			mring__rec_ok(r, &hc, at + MRING__REC_HDR, s, head - q);
		/* Damaged: the batch ends before it; the next peek (at it,
		 * after the release) reports it. */
		if (!ok)
			break;
		if (r->tsb)
			memcpy(&ts, at + MRING__REC_HDR, sizeof(ts));
		msgs[k] = (struct mring_msg){
			.ptr = at + MRING__REC_HDR + r->tsb,
			.len = hc.len - r->tsb,
			.seq = s,
			.ts = ts,
		};
		r->batch_len[k] = hc.len;
		q += mring__rec_size(hc.len);
		s++;
		k++;
	}
	if (r->overwrite || !r->durable) {
		/*
		 * Headers torn by an overwrite read as damage above: check
		 * first (H5, pairs with the tail raised before overwriting).
		 * tail only grows, so one check at the batch's first record
		 * covers every record after it.
		 */
		mring__fence_acquire();
		if (mring__load_relaxed(&r->ctl->tail) > r->pos)
			return mring__consumer_lapped(r);
	}
	r->peeked = 0; /* mring_release() refuses a batch */
	r->batch_n = k;
	return (ssize_t)k;
}

int mring_release_many(struct mring *r, size_t n)
{
	uint64_t adv = 0, bytes = 0;

	if (mring__unlikely(r->role != MRING_CONSUMER))
		return mring__role_error(r);
	if (!r->batch_n || n > r->batch_n)
		return -EINVAL;
	if (n == 0) {
		r->batch_n = 0;
		return 0;
	}
	if (r->overwrite || !r->durable) {
		/* Was any of it overwritten while the caller read it? */
		mring__fence_acquire();
		if (mring__unlikely(mring__load_relaxed(&r->ctl->tail) >
		                    r->pos))
			return mring__consumer_lapped(r);
	}
	for (size_t i = 0; i < n; i++) {
		adv += mring__rec_size(r->batch_len[i]);
		bytes += r->batch_len[i] - r->tsb;
	}
	r->pos += adv;
	r->rseq += n;
	r->batch_n = 0;
	/* One store of (pos, seq) and one wake check for the lot. */
	mring__consumer_publish(r);
	r->st.bytes_consumed += bytes;
	r->st.records_consumed += n;
	r->st.batches++;
	return 0;
}
