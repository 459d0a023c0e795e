/*
 * The sleep/wake handshake of CONCURRENCY.md (H2) as a litmus test, on
 * the library's own mring__wake(). Two threads, many rounds, started
 * together each round:
 *
 *   waker:   store progress (release, as the maintenance thread publishes
 *            `ready`); mring__wake(word)
 *   sleeper: fetch_or(word, 1); full fence; load progress   (as
 *            mring__wait() does before it sleeps)
 *
 * The outcome "the waker did not see the sleeper bit (it is still set) and
 * the sleeper did not see the progress" is a lost wake-up: the sleeper
 * would sleep for ever. It must never happen. Before issue 11, finding 1,
 * mring__wake() loaded the word without a fence, and x86's store buffer
 * let that load pass the store of progress: this test saw the outcome
 * within a few thousand rounds on that code.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>

#include "internal.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ROUNDS 20000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define ROUNDS 20000
#endif
#endif
#ifndef ROUNDS
#define ROUNDS 400000
#endif

struct litmus {
	mring_atomic_u32 word; /* the futex word: bit 0 = a sleeper */
	char pad1[60];
	mring_atomic_u64 progress; /* what the waker publishes */
	char pad2[56];
	_Atomic unsigned go;   /* round number the threads start */
	_Atomic unsigned done; /* threads finished with the round */
	bool saw[ROUNDS];      /* the sleeper saw the progress */
};

static struct litmus L;

/* Wait until `a` reaches `v`, spinning first, then yielding (the two
 * threads may share one CPU when the machine is busy). */
static void await(_Atomic unsigned *a, unsigned v)
{
	for (unsigned i = 0; atomic_load(a) < v; i++)
		if (i > 1000)
			sched_yield();
		else
			mring__cpu_relax();
}

/*
 * A few nanoseconds of delay that differ from round to round, so that the
 * two threads' accesses slide past each other (as litmus tools do): the
 * window is the time a store waits in the store buffer.
 */
static void jitter(unsigned r, unsigned salt)
{
	unsigned x = (r ^ salt) * 2654435761u;
	for (volatile unsigned i = 0; i < (x >> 29); i++)
		;
}

static void *waker(void *arg)
{
	(void)arg;
	for (unsigned r = 1; r <= ROUNDS; r++) {
		await(&L.go, r);
		jitter(r, 0x9e37);
		mring__store_release(&L.progress, r);
		mring__wake(&L.word);
		atomic_fetch_add(&L.done, 1);
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (unsigned r = 1; r <= ROUNDS; r++) {
		await(&L.go, r);
		jitter(r, 0x7f4a);
		atomic_fetch_or_explicit(&L.word, 1u, memory_order_relaxed);
		mring__fence_seqcst();
		L.saw[r - 1] = mring__load_acquire(&L.progress) == r;
		atomic_fetch_add(&L.done, 1);
	}
	return NULL;
}

static void test_wake_sees_sleeper(void **state)
{
	(void)state;
	pthread_t a, b;
	unsigned lost = 0, woke = 0;

	assert_int_equal(pthread_create(&a, NULL, waker, NULL), 0);
	assert_int_equal(pthread_create(&b, NULL, sleeper, NULL), 0);
	for (unsigned r = 1; r <= ROUNDS; r++) {
		/* Both are done with the last round: reset, start the next. */
		await(&L.done, 2 * (r - 1));
		if (r > 1) {
			bool bit = atomic_load(&L.word) & 1u;
			if (bit && !L.saw[r - 2])
				lost++;
			if (!bit)
				woke++;
		}
		atomic_store(&L.word, 0);
		atomic_store(&L.progress, 0);
		atomic_store(&L.go, r);
	}
	await(&L.done, 2 * ROUNDS);
	if ((atomic_load(&L.word) & 1u) && !L.saw[ROUNDS - 1])
		lost++;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("%u rounds: the waker saw the sleeper in %u, lost wake-ups: "
	       "%u\n",
	       ROUNDS, woke, lost);
	assert_int_equal(lost, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wake_sees_sleeper),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
