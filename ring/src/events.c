/*
 * Fitting into other programs: cancelling a blocked call (mring_interrupt)
 * and a descriptor for poll/epoll (mring_fd).
 *
 * Futexes have no descriptor, and Linux 6.1 (Debian 12) has no io_uring
 * futex wait, so a consumer's descriptor is an eventfd fed by a helper
 * thread that sleeps on the data futex like any consumer (H2) and writes
 * the eventfd when data arrives beyond the position where the consumer
 * last found nothing to read. The protocol between the consumer and its
 * thread (H11 in CONCURRENCY.md) loses no wake-up between "the consumer
 * drained the ring" and "the descriptor is armed". Handles that never ask
 * for a descriptor pay nothing: no thread, no system call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

/* ---- cancellation ------------------------------------------------------ */

int mring_interrupt(struct mring *r)
{
	/* A handler must leave errno as it found it; futex() may set it. */
	int saved = errno;

	if (!r)
		return -EINVAL;
	if (r->forked)
		return MRING_EFORKED;
	/*
	 * H10: store the interrupt, then wake whoever sleeps on the word
	 * this handle sleeps on. mring__wake() fences first and pairs with
	 * the fence in mring__wait() between "announce the sleeper" and
	 * "look at cond and intr": either the sleeper sees intr, or we see
	 * its bit and change the word, so its futex_wait() returns (or
	 * never sleeps). Only atomics and futex(2): async-signal-safe.
	 * Other sleepers on the same word wake up, look, and sleep again.
	 */
	mring__store_seqcst(&r->intr, 1u);
	MRING__CHAOS();
	if (r->rdonly) {
		/* A read-only handle naps on its own interrupt word. */
		mring__os_futex_wake(&r->intr);
	} else {
		mring__wake(r->role == MRING_PRODUCER ? &r->ctl->space_futex
		                                      : &r->ctl->data_futex);
	}
	errno = saved;
	return 0;
}

/* ---- the event descriptor ---------------------------------------------- */

#define EV_ARMED 1u /* the thread watches for data beyond `pos` */
#define EV_STOP 2u  /* mring_close(): the thread leaves */

struct mring__ev {
	int efd;
	pthread_t thr;
	/* EV_ARMED | EV_STOP: the consumer sets ARMED, the thread clears it
	 * when it fires; the thread sleeps on it (futex) while unarmed. */
	mring_atomic_u32 armed;
	/* Where the consumer last found nothing to read. */
	mring_atomic_u64 pos;
	/* Wakes the thread from a read-only handle's nap. */
	mring_atomic_u32 kick;
};

/* The thread's condition: data beyond pos, end of stream, or stop. */
static bool ev_ready(struct mring *r)
{
	struct mring__ev *ev = r->ev;

	if (mring__load_acquire(&ev->armed) & EV_STOP)
		return true;
	/* Pairs with the release store in mring__ev_arm(). */
	uint64_t p = mring__load_acquire(&ev->pos);
	/* seq_cst, as data_ready() in consumer.c: the load after the fence
	 * of H2. */
	return mring__load_seqcst(&r->ctl->head) != p ||
	       mring__load_acquire(&r->ctl->eof);
}

static void *ev_run(void *arg)
{
	struct mring *r = arg;
	struct mring__ev *ev = r->ev;
	const uint64_t one = 1;

	for (;;) {
		uint32_t a = mring__load_acquire(&ev->armed);
		if (a & EV_STOP)
			break;
		if (!(a & EV_ARMED)) {
			/* Value check: an arm or a stop in between makes
			 * futex_wait return at once. */
			(void)mring__os_futex_wait(&ev->armed, a, -1);
			continue;
		}
		/* -ECANCELED only comes from `kick` (a stop): look again. */
		(void)mring__wait(r, &r->ctl->data_futex, ev_ready, -1,
		                  &ev->kick);
		if (!ev_ready(r))
			continue;
		if (mring__load_acquire(&ev->armed) & EV_STOP)
			break;
		/*
		 * Fire: disarm first, then write. A consumer arming after
		 * our disarm finds ARMED clear and arms anew; one arming
		 * before it cleared the descriptor before we write (H11).
		 * seq_cst read-modify-writes: the consumer's fetch_or and
		 * this fetch_and are ordered in `armed`, and whichever comes
		 * second sees what the first one's thread did before it.
		 */
		atomic_fetch_and_explicit(&ev->armed, ~EV_ARMED,
		                          memory_order_seq_cst);
		MRING__CHAOS();
		/* Fails only when the counter would overflow: readable
		 * anyway. */
		(void)!write(ev->efd, &one, sizeof(one));
	}
	return NULL;
}

void mring__ev_arm(struct mring *r)
{
	struct mring__ev *ev = r->ev;
	uint64_t v;

	/* Clear first (EAGAIN when it was not readable) ... */
	(void)!read(ev->efd, &v, sizeof(v));
	MRING__CHAOS();
	/* ... then tell the thread where we stand (H11). */
	mring__store_release(&ev->pos, r->pos);
	MRING__CHAOS();
	if (!(atomic_fetch_or_explicit(&ev->armed, EV_ARMED,
	                               memory_order_seq_cst) &
	      EV_ARMED))
		mring__os_futex_wake(&ev->armed);
}

int mring_fd(struct mring *r)
{
	sigset_t all, old;
	int rc;

	if (!r)
		return -EINVAL;
	if (mring__unlikely(r->role != MRING_CONSUMER))
		return mring__role_error(r);
	if (r->ev)
		return r->ev->efd;
	struct mring__ev *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ev->efd < 0) {
		rc = -errno;
		free(ev);
		return rc;
	}
	/* Armed at the current position: readable at once if data waits. */
	mring__store_relaxed(&ev->pos, r->pos);
	mring__store_relaxed(&ev->armed, EV_ARMED);
	r->ev = ev;
	/*
	 * The thread takes no signal (as the maintenance thread: the
	 * application's handlers run on its own threads). It inherits the
	 * mask it is created with.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&ev->thr, NULL, ev_run, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		r->ev = NULL;
		close(ev->efd);
		free(ev);
		return -rc;
	}
	pthread_setname_np(ev->thr, "mring-event");
	return ev->efd;
}

void mring__ev_stop(struct mring *r)
{
	struct mring__ev *ev = r->ev;

	if (!ev)
		return;
	/* Wherever the thread sleeps: on `armed`, on its nap word, or on
	 * the data futex (H2: it checks EV_STOP after its fence). */
	atomic_fetch_or_explicit(&ev->armed, EV_STOP, memory_order_seq_cst);
	mring__os_futex_wake(&ev->armed);
	mring__store_seqcst(&ev->kick, 1u);
	mring__os_futex_wake(&ev->kick);
	if (!r->rdonly)
		mring__wake(&r->ctl->data_futex);
	pthread_join(ev->thr, NULL);
	close(ev->efd);
	free(ev);
	r->ev = NULL;
}

void mring__ev_forked(struct mring *r)
{
	if (r->ev) {
		close(r->ev->efd);
		r->ev->efd = -1;
	}
}

void mring__ev_forget(struct mring *r)
{
	free(r->ev);
	r->ev = NULL;
}
