/*
 * Waiting across processes: spin briefly, then sleep on a futex word in the
 * shared control block. A futex word holds a wake-up count in bits 1..31
 * and "somebody sleeps here" in bit 0, so the side that makes progress only
 * enters the kernel when bit 0 is set. A sleeper that dies leaves the bit
 * set, which costs its peer one spare wake-up and no more.
 *
 * The handshake is the store-buffer pattern (CONCURRENCY.md, "Sleep and
 * wake"): the sleeper stores its bit and then loads the progress word; the
 * waker stores progress and then loads the bit. Each side has a full fence
 * between its store and its load, so at least one of them sees the other's
 * store: either the sleeper sees the progress and does not sleep, or the
 * waker sees the bit and wakes it.
 */
#include <errno.h>

#include "internal.h"

/* Spins before sleeping: a few microseconds on current CPUs. */
#define SPINS 2000

int64_t mring__deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	return mring__os_now_ns() + (int64_t)timeout_ms * 1000000;
}

int mring__wait(struct mring *r, mring_atomic_u32 *w,
                bool (*cond)(struct mring *), int64_t deadline)
{
	for (int i = 0; i < SPINS; i++) {
		if (cond(r))
			return 0;
		mring__cpu_relax();
	}
	for (;;) {
		/*
		 * Announce the sleeper, full fence, re-check. The fence pairs
		 * with the one in mring__wake() between the waker's store of
		 * its progress and its load of this word. (The seq_cst
		 * read-modify-write alone does not order the acquire loads of
		 * cond() after its store on every CPU: arm64's LDAPR may pass
		 * it.)
		 */
		uint32_t v =
			atomic_fetch_or_explicit(w, 1u, memory_order_relaxed) |
			1u;
		mring__fence_seqcst();
		MRING__CHAOS();
		if (cond(r))
			return 0;
		if (deadline >= 0 && mring__os_now_ns() >= deadline)
			return -ETIMEDOUT;
		MRING__CHAOS();
		int rc = mring__os_futex_wait(w, v, deadline);
		if (rc == -ETIMEDOUT) {
			return cond(r) ? 0 : -ETIMEDOUT;
		}
		/* -EAGAIN (word changed), -EINTR or a wake-up: look again. */
	}
}

void mring__wake(mring_atomic_u32 *w)
{
	/*
	 * The caller has just stored its progress (any ordering). Full
	 * fence, then look for a sleeper: pairs with the fence after the
	 * fetch_or in mring__wait().
	 */
	mring__fence_seqcst();
	MRING__CHAOS();
	uint32_t v = mring__load_relaxed(w);

	while (v & 1u) {
		if (atomic_compare_exchange_weak_explicit(
			    w, &v, (v + 2u) & ~1u, memory_order_relaxed,
			    memory_order_relaxed)) {
			mring__os_futex_wake(w);
			return;
		}
	}
}
