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

/* Was the wait cancelled? Consumes the interrupt (one-shot). */
static bool cancelled(mring_atomic_u32 *intr)
{
	return intr && mring__load_relaxed(intr) &&
	       atomic_exchange_explicit(intr, 0, memory_order_relaxed);
}

/* Back-off of a read-only handle: from 50 us, doubling, to 10 ms. */
#define POLL_MIN_NS 50000
#define POLL_MAX_NS 10000000

/*
 * A read-only handle cannot set the sleeper bit (its control block is
 * mapped read-only), so no producer ever wakes it: look, then sleep a
 * little longer each time. It sleeps on its own interrupt word, so that
 * mring_interrupt() (which stores it, then wakes it) ends the nap at
 * once; the futex value check closes the gap between looking and sleeping.
 */
static int poll_wait(struct mring *r, bool (*cond)(struct mring *),
                     int64_t deadline, mring_atomic_u32 *intr)
{
	int64_t nap = POLL_MIN_NS;

	for (;;) {
		if (cond(r))
			return 0;
		if (cancelled(intr))
			return -ECANCELED;
		int64_t now = mring__os_now_ns();
		if (deadline >= 0 && now >= deadline)
			return -ETIMEDOUT;
		int64_t until = now + nap;
		if (deadline >= 0 && until > deadline)
			until = deadline;
		if (intr)
			(void)mring__os_futex_wait(intr, 0, until);
		else
			mring__os_sleep_until(until);
		if (nap < POLL_MAX_NS)
			nap *= 2;
	}
}

int mring__wait(struct mring *r, mring_atomic_u32 *w,
                bool (*cond)(struct mring *), int64_t deadline,
                mring_atomic_u32 *intr)
{
	for (int i = 0; i < SPINS; i++) {
		if (cond(r))
			return 0;
		mring__cpu_relax();
	}
	if (r->rdonly)
		return poll_wait(r, cond, deadline, intr);
	for (;;) {
		/*
		 * Announce the sleeper, full fence, re-check. The fence pairs
		 * with the one in mring__wake() between the waker's store of
		 * its progress and its load of this word. (The seq_cst
		 * read-modify-write alone does not order the acquire loads of
		 * cond() after its store on every CPU: arm64's LDAPR may pass
		 * it.) An interrupt is progress like any other: mring_interrupt
		 * stores `intr`, then wakes through mring__wake() (H10).
		 */
		uint32_t v =
			atomic_fetch_or_explicit(w, 1u, memory_order_relaxed) |
			1u;
		mring__fence_seqcst();
		MRING__CHAOS();
		if (cond(r))
			return 0;
		if (cancelled(intr))
			return -ECANCELED;
		if (deadline >= 0 && mring__os_now_ns() >= deadline)
			return -ETIMEDOUT;
		MRING__CHAOS();
		int rc = mring__os_futex_wait(w, v, deadline);
		if (rc == -ETIMEDOUT) {
			return cond(r) ? 0 : -ETIMEDOUT;
		}
		/*
		 * -EAGAIN (word changed), -EINTR or a wake-up: look again. A
		 * signal never ends the wait by itself (the EINTR rule in
		 * mring.h): only a handler that calls mring_interrupt() does.
		 */
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
