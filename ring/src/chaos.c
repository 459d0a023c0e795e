/*
 * Interleaving chaos for tests (cmake -DMRING_CHAOS=ON): random yields and
 * short sleeps at the MRING__CHAOS() points between the shared accesses of
 * each protocol, so that races whose window is a few instructions wide
 * show up in the ordinary stress tests. Never built into a release.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static _Thread_local uint64_t state;
static int enabled = -1; /* -1: not read yet */

static uint64_t next(void)
{
	/* xorshift64*: cheap, and every thread has its own stream. */
	if (!state) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		state = ((uint64_t)getpid() << 32) ^ (uint64_t)gettid() ^
		        (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		        (uint64_t)(uintptr_t)&state;
		if (!state)
			state = 1;
	}
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 2685821657736338717ull;
}

void mring__chaos(void)
{
	if (enabled < 0) {
		const char *v = getenv("MRING_CHAOS");
		enabled = !(v && strcmp(v, "0") == 0);
	}
	if (!enabled)
		return;
	uint64_t x = next() >> 40;
	/* One point in 8 yields, one in 64 sleeps 1-64 us, one in 2048
	 * sleeps up to a millisecond (a descheduled process). */
	if ((x & 2047) == 0) {
		struct timespec ts = {0, (long)(1 + (x >> 11) % 1000) * 1000};
		nanosleep(&ts, NULL);
	} else if ((x & 63) == 0) {
		struct timespec ts = {0, (long)(1 + (x >> 6) % 64) * 1000};
		nanosleep(&ts, NULL);
	} else if ((x & 7) == 0) {
		sched_yield();
	}
}
