/*
 * Waiting across processes: spin briefly, then sleep on a futex word in the
 * shared control block. A futex word holds a wake-up count in bits 1..31
 * and "somebody sleeps here" in bit 0, so the side that makes progress only
 * enters the kernel when bit 0 is set. A sleeper that dies leaves the bit
 * set, which costs its peer one spare wake-up and no more.
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
		 * Announce the sleeper, then re-check. Pairs with the waker's
		 * seq_cst store of its progress followed by its load of this
		 * word in mring__wake(): one of us sees the other.
		 */
		uint32_t v =
			atomic_fetch_or_explicit(w, 1u, memory_order_seq_cst) |
			1u;
		if (cond(r))
			return 0;
		if (deadline >= 0 && mring__os_now_ns() >= deadline)
			return -ETIMEDOUT;
		int rc = mring__os_futex_wait(w, v, deadline);
		if (rc == -ETIMEDOUT) {
			return cond(r) ? 0 : -ETIMEDOUT;
		}
		/* -EAGAIN (word changed), -EINTR or a wake-up: look again. */
	}
}

void mring__wake(mring_atomic_u32 *w)
{
	/* Pairs with the fetch_or in mring__wait (see there). */
	uint32_t v = mring__load_seqcst(w);

	while (v & 1u) {
		if (atomic_compare_exchange_weak_explicit(
			    w, &v, (v + 2u) & ~1u, memory_order_seq_cst,
			    memory_order_relaxed)) {
			mring__os_futex_wake(w);
			return;
		}
	}
}
