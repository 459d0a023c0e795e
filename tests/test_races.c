/*
 * Stress tests for the cross-process handshakes that went wrong once
 * (issue 11). Each one loops through the race window many times with real
 * processes; none asserts anything about speed. A hang becomes a failure
 * that says what hung: a child whose progress word (head, in the shared
 * control block) stands still for STALL_S seconds while the ring says it
 * should move, or the per-test watchdog (alarm) as a last resort.
 *
 *   lost_wakeup       the maintenance thread publishes `ready` and looks
 *                     for a sleeping producer; the producer announces its
 *                     sleep and looks at `ready` (store-buffer pattern:
 *                     both sides need a full fence).
 *   join_vs_discard   a durable consumer that joins at the oldest data
 *                     while the thread raises tail and discards that data
 *                     must never read the zeros.
 *   claim_moves_up    a new durable consumer moved up to tail after a
 *                     producer went to sleep on its first position must
 *                     wake that producer.
 *   observer_churn    an observer's close must not make another one's
 *                     open fail with -EBUSY.
 *
 * The first two need the maintenance thread: they skip in the
 * MRING_NO_PREFETCH variant. The chaos build (-DMRING_CHAOS=ON) widens
 * every window; the iteration counts are fixed, so the verdict never
 * depends on the machine's speed.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KIB (1ull << 10)
#define MIB (1ull << 20)

/* Sanitizers cost 2-15x: fewer rounds there, so a test stays < 60 s
 * (the chaos build takes about as long as ASan does here). */
#if defined(__SANITIZE_THREAD__)
#define SLOW 4
#elif defined(__SANITIZE_ADDRESS__)
#define SLOW 2
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SLOW 4
#elif __has_feature(address_sanitizer)
#define SLOW 2
#endif
#endif
#ifndef SLOW
#define SLOW 1
#endif

/* No progress for this long while the ring says there should be: hung. */
#define STALL_S 30
/* Last resort: a test still running after this long fails. */
#define WATCHDOG_S 240

/* ---- watchdog ------------------------------------------------------- */

static const char *watchdog_what = "?";

static void on_alarm(int sig)
{
	char msg[256];
	int n = snprintf(msg, sizeof msg,
	                 "\ntest_races: watchdog: %s still running after %d "
	                 "s: hung (a lost wake-up?)\n",
	                 watchdog_what, WATCHDOG_S);
	(void)sig;
	if (n > 0)
		(void)!write(2, msg, (size_t)n);
	/* Children die with us (PR_SET_PDEATHSIG). */
	_exit(1);
}

static void watchdog_arm(const char *what)
{
	watchdog_what = what;
	signal(SIGALRM, on_alarm);
	alarm(WATCHDOG_S);
}

static void watchdog_disarm(void)
{
	alarm(0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool thread_off(void)
{
	const char *v = getenv("MRING_NO_PREFETCH");
	return v && *v && strcmp(v, "0") != 0;
}

/* ---- a read-only view of the control block ---------------------------- */

struct view {
	const uint8_t *p;
	size_t len;
};

static void view_open(struct view *v, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	v->len = 4096;
	v->p = mmap(NULL, v->len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(v->p != MAP_FAILED);
}

static void view_close(struct view *v)
{
	munmap((void *)v->p, v->len);
}

static uint64_t view_u64(const struct view *v, size_t off)
{
	return __atomic_load_n((const uint64_t *)(v->p + off),
	                       __ATOMIC_ACQUIRE);
}

static uint32_t view_u32(const struct view *v, size_t off)
{
	return __atomic_load_n((const uint32_t *)(v->p + off),
	                       __ATOMIC_ACQUIRE);
}

/*
 * Wait for child `pid`, watching the ring's head: if it stands still for
 * STALL_S seconds, the child is hung; fail saying where. Returns the
 * child's status (tu_wait's convention).
 */
static int wait_moving(pid_t pid, const struct view *v, const char *what)
{
	uint64_t last = view_u64(v, TU_OFF_HEAD);
	double since = now_s();
	int st;

	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st)
			                     : 128 + WTERMSIG(st);
		assert_true(w == 0);
		tu_sleep_ms(20);
		uint64_t h = view_u64(v, TU_OFF_HEAD);
		if (h != last) {
			last = h;
			since = now_s();
			continue;
		}
		if (now_s() - since < STALL_S)
			continue;
		uint32_t fx = view_u32(v, TU_OFF_SPACE_FUTEX);
		tu_kill(pid);
		fail_msg("%s: the producer made no progress for %d s at head "
		         "%llu; space_futex 0x%x (%s): a lost wake-up",
		         what, STALL_S, (unsigned long long)h, fx,
		         (fx & 1) ? "asleep" : "no sleeper");
	}
}

/* A directory on tmpfs (the lost wake-up needs a ring in memory), or
 * the test directory where there is none. */
static const char *shm_dir(void)
{
	const char *d = tu_shm_dir();
	return d ? d : tu_dir();
}

/* ---- 1. lost wake-up between the thread and the producer --------------- */

struct lw_job {
	const char *path;
	uint64_t rounds;
};

static int lw_producer(void *arg)
{
	const struct lw_job *j = arg;
	struct mring_config cfg = {0};
	struct mring *p;
	int rc;

	/*
	 * Reclaim on a budget far below the ring: the thread works all the
	 * time, and the producer, faster, waits for it every few chunks.
	 */
	cfg.reclaim = MRING_RECLAIM_CACHE;
	cfg.cache_budget = 256 * KIB;
	rc = mring_open(j->path, MRING_PRODUCER, &cfg, &p);
	if (rc < 0)
		return tu_cfail(2, "producer open: %s", mring_strerror(rc));
	for (uint64_t i = 0; i < j->rounds; i++) {
		void *w;
		/* Both: a wait for the thread is a wait, even with 0. */
		rc = mring_reserve(p, 16 * KIB, &w, (i & 1) ? 0 : -1);
		if (rc < 0)
			return tu_cfail(3, "reserve #%llu: %s",
			                (unsigned long long)i,
			                mring_strerror(rc));
		memset(w, (int)i, 64);
		rc = mring_commit(p, 16 * KIB);
		if (rc < 0)
			return tu_cfail(4, "commit: %s", mring_strerror(rc));
	}
	mring_close(p);
	return 0;
}

static void test_lost_wakeup(void **state)
{
	char path[256];
	struct view v;
	(void)state;

	if (thread_off()) {
		print_message("needs the maintenance thread\n");
		skip();
	}
	watchdog_arm("lost_wakeup");
	snprintf(path, sizeof path, "%s/lw", shm_dir());
	tu_create(path, 1 * MIB, 0, MRING_F_OVERWRITE);
	view_open(&v, path);
	/* 2 GiB a run; a new producer (and thread) each time. */
	struct lw_job j = {path, 2048 * MIB / (16 * KIB) / SLOW};
	for (int run = 0; run < 6; run++) {
		pid_t pid = tu_spawn(lw_producer, &j, WATCHDOG_S + 10);
		assert_int_equal(wait_moving(pid, &v, "lost_wakeup"), 0);
	}
	view_close(&v);
	tu_rm(path);
	if (strncmp(path, "/dev/shm/", 9) == 0)
		rmdir(shm_dir());
	watchdog_disarm();
}

/* ---- 2. a durable consumer joins while the thread discards ------------ */

static int zero_producer(void *arg)
{
	const char *path = arg;
	struct mring_config cfg = {0};
	struct mring *p;
	uint64_t pos = 0;
	int rc;

	/* A budget of 1 MiB: discards run all the time, just ahead. */
	cfg.reclaim = MRING_RECLAIM_ZERO;
	cfg.cache_budget = 1 * MIB;
	rc = mring_open(path, MRING_PRODUCER, &cfg, &p);
	if (rc < 0)
		return tu_cfail(2, "producer open: %s", mring_strerror(rc));
	for (;;) {
		uint64_t *w;
		rc = mring_reserve(p, 4 * KIB, (void **)&w, -1);
		if (rc < 0)
			return tu_cfail(3, "reserve: %s", mring_strerror(rc));
		/* Every word holds its own stream position: a zero read
		 * anywhere but at 0 is not data. */
		for (unsigned i = 0; i < 4 * KIB / 8; i++)
			w[i] = pos + 8 * i;
		rc = mring_commit(p, 4 * KIB);
		if (rc < 0)
			return tu_cfail(4, "commit: %s", mring_strerror(rc));
		pos += 4 * KIB;
	}
}

static bool on_tmpfs(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 &&
	       (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC);
}

static void test_join_vs_discard(void **state)
{
	TU_PATH(path, "zero");
	struct mring_config cc = {.consumer_name = "late",
	                          .start = MRING_START_OLDEST};
	struct mring_stats st;
	struct view v;
	int opens = 10000 / SLOW;
	(void)state;

	if (thread_off()) {
		print_message("needs the maintenance thread\n");
		skip();
	}
	if (on_tmpfs(tu_dir())) {
		/* No zero-range there, and dropping the cache of a file in
		 * memory destroys nothing: the race cannot show. */
		print_message("needs a disk file system (TMPDIR is tmpfs)\n");
		skip();
	}
	watchdog_arm("join_vs_discard");
	tu_create(path, 8 * MIB, 0, 0);
	view_open(&v, path);
	pid_t pid = tu_spawn(zero_producer, path, WATCHDOG_S + 10);
	/* Let it lap once, so that there is old data to discard. */
	while (view_u64(&v, TU_OFF_HEAD) < 2 * 8 * MIB) {
		assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
		tu_sleep_ms(5);
	}
	for (int i = 0; i < opens; i++) {
		struct mring *c;
		assert_rc(mring_open(path, MRING_CONSUMER, &cc, &c), 0);
		assert_rc(mring_stats(c, &st), 0);
		uint64_t pos = st.position;
		assert_int_equal(pos % 8, 0);
		for (uint64_t got = 0; got < 64 * 4 * KIB;) {
			const uint64_t *q;
			ssize_t n = mring_peek(c, (const void **)&q,
			                       STALL_S * 1000);
			if (n == -ETIMEDOUT) {
				tu_kill(pid);
				fail_msg("open #%d: no data for %d s at %llu: "
				         "producer stalled",
				         i, STALL_S, (unsigned long long)pos);
			}
			assert_true(n > 0);
			/* Piece by piece, as an application would: many
			 * opens a second, each reading what is at risk. */
			if (n > (ssize_t)(4 * KIB))
				n = 4 * KIB;
			n &= ~(ssize_t)7;
			for (ssize_t k = 0; k < n / 8; k++) {
				if (q[k] == pos + 8 * (uint64_t)k)
					continue;
				tu_kill(pid);
				fail_msg(
					"open #%d (joined at %llu): the word "
					"at stream position %llu reads "
					"%llu: %s",
					i, (unsigned long long)st.position,
					(unsigned long long)(pos + 8 * k),
					(unsigned long long)q[k],
					q[k] > pos + 8 * (uint64_t)k
						? "overwritten by a later lap "
						  "before it was read"
						: "discarded data read as data");
			}
			assert_rc(mring_release(c, (size_t)n), 0);
			pos += (uint64_t)n;
			got += (uint64_t)n;
		}
		mring_close(c);
		assert_rc(mring_consumer_remove(path, "late"), 0);
	}
	assert_int_equal(tu_kill(pid), 128 + SIGKILL);
	view_close(&v);
	tu_rm(path);
	watchdog_disarm();
}

/* ---- 3. claim() moves a new consumer up: the producer must hear it ----- */

static int bp_producer(void *arg)
{
	const char *path = arg;
	struct mring *p;
	int rc = mring_open(path, MRING_PRODUCER, NULL, &p);

	if (rc < 0)
		return tu_cfail(2, "producer open: %s", mring_strerror(rc));
	for (;;) {
		void *w;
		rc = mring_reserve(p, 4 * KIB, &w, -1);
		if (rc < 0)
			return tu_cfail(3, "reserve: %s", mring_strerror(rc));
		rc = mring_commit(p, 4 * KIB);
		if (rc < 0)
			return tu_cfail(4, "commit: %s", mring_strerror(rc));
	}
}

static void test_claim_moves_up(void **state)
{
	TU_PATH(path, "claim");
	const uint64_t cap = 256 * KIB;
	struct mring_config cc = {.consumer_name = "new",
	                          .start = MRING_START_OLDEST};
	struct mring_stats st;
	struct view v;
	int opens = 3000 / SLOW;
	(void)state;

	watchdog_arm("claim_moves_up");
	tu_create(path, cap, 0, 0);
	view_open(&v, path);
	pid_t pid = tu_spawn(bp_producer, path, WATCHDOG_S + 10);
	for (int i = 0; i < opens; i++) {
		struct mring *c;
		assert_rc(mring_open(path, MRING_CONSUMER, &cc, &c), 0);
		assert_rc(mring_stats(c, &st), 0);
		/*
		 * Read nothing: the producer may fill the ring up to a lap
		 * beyond our position (pieces and positions are 4 KiB
		 * multiples, so exactly), and must get there.
		 */
		uint64_t want = st.position + cap, last = 0, h;
		double since = now_s();
		while ((h = view_u64(&v, TU_OFF_HEAD)) != want) {
			assert_true(h < want);
			if (h != last) {
				last = h;
				since = now_s();
			} else if (now_s() - since > STALL_S) {
				uint32_t fx = view_u32(&v, TU_OFF_SPACE_FUTEX);
				tu_kill(pid);
				fail_msg("open #%d: consumer at %llu, the "
				         "producer stuck at %llu for %d s "
				         "(space_futex 0x%x): not woken when "
				         "the new consumer moved up",
				         i, (unsigned long long)st.position,
				         (unsigned long long)h, STALL_S, fx);
			}
			assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
			usleep(50);
		}
		mring_close(c);
		assert_rc(mring_consumer_remove(path, "new"), 0);
		/* Let the producer run free for a moment, raising tail. */
		while (view_u64(&v, TU_OFF_HEAD) < want + cap / 2)
			usleep(50);
	}
	assert_int_equal(tu_kill(pid), 128 + SIGKILL);
	view_close(&v);
	tu_rm(path);
	watchdog_disarm();
}

/* ---- 4. observers come and go: never -EBUSY ---------------------------- */

#define CHURN_PROCS 4

static int churn(void *arg)
{
	const char *path = arg;
	int busy = 0;

	for (int i = 0; i < 4000 / SLOW; i++) {
		struct mring *c;
		int rc = mring_open(path, MRING_CONSUMER, NULL, &c);
		if (rc == -EBUSY) {
			if (!busy++)
				fprintf(stderr,
				        "observer open #%d: -EBUSY while "
				        "slots were free\n",
				        i);
			continue;
		}
		if (rc < 0)
			return tu_cfail(2, "observer open #%d: %s", i,
			                mring_strerror(rc));
		mring_close(c);
	}
	if (busy)
		fprintf(stderr, "%d spurious -EBUSY\n", busy);
	return busy ? 1 : 0;
}

static void test_observer_churn(void **state)
{
	TU_PATH(path, "churn");
	/* As many slots as processes: each holds at most one, so a free
	 * slot always exists and MRING_ENOSLOT cannot happen. */
	struct mring_config c = tu_cfg(256 * KIB, 0, 0);
	pid_t pid[CHURN_PROCS];
	int bad = 0;
	(void)state;

	watchdog_arm("observer_churn");
	c.max_consumers = CHURN_PROCS;
	tu_rm(path);
	assert_rc(mring_create(path, &c), 0);
	for (int i = 0; i < CHURN_PROCS; i++)
		pid[i] = tu_spawn(churn, path, WATCHDOG_S + 10);
	for (int i = 0; i < CHURN_PROCS; i++)
		bad += tu_wait(pid[i]) != 0;
	assert_int_equal(bad, 0);
	tu_rm(path);
	watchdog_disarm();
}

/* test_races [PATTERN]: only the tests whose name matches (cmocka's
 * filter), to repeat one in a loop. */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lost_wakeup),
		cmocka_unit_test(test_join_vs_discard),
		cmocka_unit_test(test_claim_moves_up),
		cmocka_unit_test(test_observer_churn),
	};
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
