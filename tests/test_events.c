/*
 * Event loops and cancellation: mring_fd() inside a real epoll loop (level-
 * and edge-triggered) with the producer in another process, many small
 * bursts each of which must wake the loop (a lost wake-up hangs the loop:
 * a bounded epoll_wait fails the test instead); end of stream; and
 * mring_interrupt() from another thread and from a signal handler, for a
 * consumer in mring_peek(-1) and a producer in mring_reserve(-1) on a
 * full back-pressure ring. No timing assertion: the sleeps only make it
 * likely that a call already waits when it is interrupted; the outcome is
 * the same either way (the interrupt is sticky). alarm() is a watchdog.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define BURSTS 1500
/* A loop that waits this long for a burst already written lost it. */
#define LOST_MS 30000

static size_t burst_len(unsigned b)
{
	return 1 + b % 5;
}

static size_t rec_len(uint64_t seq)
{
	return tu_rec_len(seq, 7, 8, 200);
}

struct prod_arg {
	const char *path;
	int ack; /* read end: the consumer's count after each burst */
};

/* Child: one burst, then wait until the consumer has read all of it, so
 * that every burst lands on a loop asleep in epoll_wait. */
static int bursty_producer(void *arg)
{
	struct prod_arg *a = arg;
	struct mring *p;
	uint8_t buf[256];
	uint64_t seq = 0, got;
	int rc = mring_open(a->path, MRING_PRODUCER, NULL, &p);

	if (rc < 0)
		return tu_cfail(1, "open: %s", tu_rcstr(rc));
	for (unsigned b = 0; b < BURSTS; b++) {
		for (size_t k = 0; k < burst_len(b); k++, seq++) {
			size_t len = rec_len(seq);
			tu_rec_fill(buf, seq, len);
			ssize_t n = mring_write(p, buf, len, -1);
			if (n != (ssize_t)len)
				return tu_cfail(2, "write: %s", tu_rcstr(n));
		}
		if (tu_get_u64_fd(a->ack, &got) != 1 || got != seq)
			return tu_cfail(3, "ack after burst %u", b);
	}
	mring_close(p); /* end of stream */
	return 0;
}

static void epoll_loop(bool edge, int per_wakeup)
{
	TU_PATH(path, "events.ring");
	int ack[2];
	struct mring_config cfg;
	struct mring *c;
	struct epoll_event ev = {0}, got;
	uint8_t buf[256];
	uint64_t next = 0, burst_end = burst_len(0);
	unsigned b = 0;
	bool eof = false;

	tu_create(path, 16 * (uint64_t)tu_page(), 256,
	          MRING_F_RECORDS | MRING_F_CRC);
	memset(&cfg, 0, sizeof cfg);
	cfg.consumer_name = "loop";
	assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
	assert_int_equal(pipe(ack), 0);
	/* Fork before the event thread exists (ThreadSanitizer's runtime
	 * may hang a child forked from a process with threads). */
	struct prod_arg a = {path, ack[0]};
	pid_t pid = tu_spawn(bursty_producer, &a, 120);
	close(ack[0]);
	int fd = mring_fd(c);
	assert_true(fd >= 0);
	assert_int_equal(mring_fd(c), fd); /* the same one every time */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	ev.events = EPOLLIN | (edge ? EPOLLET : 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);

	uint64_t wakeups = 0;
	while (!eof) {
		int n = epoll_wait(ep, &got, 1, LOST_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			fail_msg("lost wake-up: burst %u (record %llu) never "
			         "made the descriptor readable",
			         b, (unsigned long long)next);
		assert_int_equal(n, 1);
		wakeups++;
		/* Edge: drain to -EAGAIN. Level: a few, then wait again. */
		for (int k = 0; edge || k < per_wakeup; k++) {
			ssize_t r = mring_read(c, buf, sizeof buf, 0);
			if (r == -EAGAIN)
				break;
			if (r == 0) {
				eof = true;
				break;
			}
			assert_rc(r, (ssize_t)rec_len(next));
			assert_int_equal(tu_rec_check(buf, next, (size_t)r),
			                 -1);
			next++;
			if (next == burst_end) {
				assert_int_equal(tu_put_u64(ack[1], next), 0);
				if (++b < BURSTS)
					burst_end += burst_len(b);
			}
		}
	}
	assert_int_equal(tu_wait(pid), 0);
	assert_int_equal(b, BURSTS);
	assert_int_equal(next, burst_end);
	/* (A burst may be read in the same drain as the one before it:
	 * the ack goes out before the drain ends.) */
	assert_true(wakeups > 0);
	/* At end of stream the descriptor stays readable (level). */
	if (!edge)
		assert_int_equal(epoll_wait(ep, &got, 1, LOST_MS), 1);
	assert_rc(mring_read(c, buf, sizeof buf, 0), 0);
	close(ack[1]);
	close(ep);
	mring_close(c);
	tu_rm(path);
}

static void test_epoll_level(void **state)
{
	(void)state;
	epoll_loop(false, 2);
}

static void test_epoll_edge(void **state)
{
	(void)state;
	epoll_loop(true, 0);
}

/* A producer handle has no descriptor; a child's inherited one neither. */
static int forked_fd(void *arg)
{
	struct mring *c = arg;
	int rc = mring_fd(c);

	if (rc != MRING_EFORKED)
		return tu_cfail(1, "mring_fd in child: %s", tu_rcstr(rc));
	rc = mring_interrupt(c);
	if (rc != MRING_EFORKED)
		return tu_cfail(2, "interrupt in child: %s", tu_rcstr(rc));
	mring_close(c);
	return 0;
}

static void test_fd_roles_and_fork(void **state)
{
	(void)state;
	TU_PATH(path, "roles.ring");
	struct mring *p, *c;
	const void *rp;

	tu_create(path, 16 * (uint64_t)tu_page(), 0, MRING_F_RECORDS);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	assert_rc(mring_fd(p), MRING_EROLE);
	assert_rc(mring_fd(NULL), -EINVAL);
	assert_rc(mring_interrupt(NULL), -EINVAL);
	int fd = mring_fd(c);
	assert_true(fd >= 0);
	pid_t pid = tu_spawn(forked_fd, c, 60);
	assert_int_equal(tu_wait(pid), 0);
	/* The parent's descriptor still works after the fork. */
	assert_rc(mring_write(p, "abc", 3, 0), 3);
	struct epoll_event ev = {.events = EPOLLIN}, got;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	assert_int_equal(epoll_wait(ep, &got, 1, LOST_MS), 1);
	assert_rc(mring_peek(c, &rp, 0), 3);
	assert_rc(mring_release(c, 3), 0);
	assert_rc(mring_peek(c, &rp, 0), -EAGAIN);
	/* -EAGAIN cleared it; nothing new, so it stays quiet. */
	assert_int_equal(epoll_wait(ep, &got, 1, 0), 0);
	assert_rc(mring_write(p, "de", 2, 0), 2);
	assert_int_equal(epoll_wait(ep, &got, 1, LOST_MS), 1);
	assert_rc(mring_peek(c, &rp, 0), 2);
	close(ep);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/* ---- cancellation -------------------------------------------------------- */

static struct mring *volatile g_target;
static volatile sig_atomic_t g_signals;

static void on_sig_interrupt(int sig)
{
	(void)sig;
	g_signals++;
	(void)mring_interrupt(g_target);
}

static void on_sig_count(int sig)
{
	(void)sig;
	g_signals++;
}

struct killer {
	const char *path;
	uint64_t futex_off; /* word the target sleeps on */
	struct mring *target;
	pthread_t victim;
	int how;            /* 0: mring_interrupt, 1: a signal */
	struct mring *prod; /* how 2: signals that must not cancel, then data */
};

static void *killer_run(void *arg)
{
	struct killer *k = arg;

	/* Likely asleep by now; cancelled either way (sticky). */
	(void)tu_wait_sleeper(k->path, k->futex_off, 2000);
	if (k->how == 0) {
		(void)mring_interrupt(k->target);
	} else if (k->how == 1) {
		pthread_kill(k->victim, SIGUSR1);
	} else {
		/*
		 * One at a time: a signal sent while the last one is still
		 * pending merges with it (the handler ran twice, not three
		 * times, on a loaded machine). Each is handled while the
		 * victim waits; at most 10 s each.
		 */
		for (int i = 0; i < 3; i++) {
			pthread_kill(k->victim, SIGUSR1);
			for (int ms = 0; g_signals <= i && ms < 10000; ms++)
				tu_sleep_ms(1);
		}
		(void)mring_write(k->prod, "late", 4, 0);
	}
	return NULL;
}

static void set_handler(void (*fn)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
}

static void start_killer(struct killer *k, pthread_t *t)
{
	k->victim = pthread_self();
	assert_int_equal(pthread_create(t, NULL, killer_run, k), 0);
}

/*
 * ThreadSanitizer holds a signal back until the thread comes out of a
 * call it knows of; it does not know the futex system call, so a handler
 * for a thread asleep on a futex never runs there. Handlers are tested in
 * the other builds.
 */
#if defined(__SANITIZE_THREAD__)
#define TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN_BUILD 1
#endif
#endif

static void consumer_cancel(int how, int sa_flags)
{
	TU_PATH(path, "cancel-c.ring");
	struct mring *p, *c;
	const void *rp;
	pthread_t t;

	tu_create(path, 16 * (uint64_t)tu_page(), 0, MRING_F_RECORDS);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	g_target = c;
	g_signals = 0;
	set_handler(how == 2 ? on_sig_count : on_sig_interrupt, sa_flags);
	struct killer k = {path, TU_OFF_DATA_FUTEX, c, 0, how, p};
	start_killer(&k, &t);
	ssize_t n = mring_peek(c, &rp, -1);
	pthread_join(t, NULL);
	if (how == 2) {
		/* Signals alone never end a wait, and never with -EINTR. */
		assert_rc(n, 4);
		assert_int_equal(g_signals, 3);
		assert_rc(mring_release(c, 4), 0);
	} else {
		assert_rc(n, -ECANCELED);
		if (how == 1)
			assert_int_equal(g_signals, 1);
		/* Consumed: the next wait times out normally. */
		assert_rc(mring_peek(c, &rp, 20), -ETIMEDOUT);
	}
	set_handler(SIG_DFL, 0);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

static void test_cancel_consumer_thread(void **state)
{
	(void)state;
	consumer_cancel(0, 0);
}

static void test_cancel_consumer_signal(void **state)
{
	(void)state;
#ifdef TSAN_BUILD
	skip();
#endif
	consumer_cancel(1, 0);
	consumer_cancel(1, SA_RESTART);
}

static void test_signal_alone_does_not_cancel(void **state)
{
	(void)state;
#ifdef TSAN_BUILD
	skip();
#endif
	consumer_cancel(2, 0);
	consumer_cancel(2, SA_RESTART);
}

/* Back-pressure ring held full by a durable consumer that reads nothing. */
static void producer_cancel(int how)
{
	TU_PATH(path, "cancel-p.ring");
	struct mring_config cfg;
	struct mring *p, *c;
	uint8_t buf[64] = {0};
	void *w;
	pthread_t t;

	tu_create(path, 16 * (uint64_t)tu_page(), 0, MRING_F_RECORDS);
	memset(&cfg, 0, sizeof cfg);
	cfg.consumer_name = "slow";
	assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	ssize_t n;
	int bound = 0;
	while ((n = mring_write(p, buf, sizeof buf, 0)) == (ssize_t)sizeof buf)
		assert_true(++bound < 100000);
	assert_rc(n, -EAGAIN);
	g_target = p;
	g_signals = 0;
	set_handler(on_sig_interrupt, 0);
	struct killer k = {path, TU_OFF_SPACE_FUTEX, p, 0, how, NULL};
	start_killer(&k, &t);
	if (how == 0)
		assert_rc(mring_reserve(p, sizeof buf, &w, -1), -ECANCELED);
	else
		assert_rc(mring_write(p, buf, sizeof buf, -1), -ECANCELED);
	pthread_join(t, NULL);
	/* The ring is unchanged and works: one release, one more write. */
	assert_rc(mring_read(c, buf, sizeof buf, 0), sizeof buf);
	assert_rc(mring_write(p, buf, sizeof buf, -1), sizeof buf);
	set_handler(SIG_DFL, 0);
	mring_close(p);
	mring_close(c);
	tu_rm(path);
}

static void test_cancel_producer_thread(void **state)
{
	(void)state;
	producer_cancel(0);
}

static void test_cancel_producer_signal(void **state)
{
	(void)state;
#ifdef TSAN_BUILD
	skip();
#endif
	producer_cancel(1);
}

/* Sticky and one-shot: pending until a call would wait. */
static void test_interrupt_pending(void **state)
{
	(void)state;
	TU_PATH(path, "pending.ring");
	struct mring *p, *c;
	const void *rp;

	tu_create(path, 16 * (uint64_t)tu_page(), 0, MRING_F_RECORDS);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	assert_rc(mring_interrupt(c), 0);
	/* Calls that do not wait leave it pending. */
	assert_rc(mring_peek(c, &rp, 0), -EAGAIN);
	assert_rc(mring_write(p, "x", 1, 0), 1);
	assert_rc(mring_peek(c, &rp, -1), 1);
	assert_rc(mring_release(c, 1), 0);
	/* The first call that would wait takes it... */
	assert_rc(mring_peek(c, &rp, -1), -ECANCELED);
	/* ... and only that one. */
	assert_rc(mring_peek(c, &rp, 20), -ETIMEDOUT);
	/* Twice before a wait is still one interrupt. */
	assert_rc(mring_interrupt(c), 0);
	assert_rc(mring_interrupt(c), 0);
	assert_rc(mring_peek(c, &rp, -1), -ECANCELED);
	assert_rc(mring_peek(c, &rp, 20), -ETIMEDOUT);
	/* Interrupting one handle does not disturb another's wait. */
	assert_rc(mring_interrupt(p), 0);
	assert_rc(mring_peek(c, &rp, 20), -ETIMEDOUT);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoll_level),
		cmocka_unit_test(test_epoll_edge),
		cmocka_unit_test(test_fd_roles_and_fork),
		cmocka_unit_test(test_cancel_consumer_thread),
		cmocka_unit_test(test_cancel_consumer_signal),
		cmocka_unit_test(test_signal_alone_does_not_cancel),
		cmocka_unit_test(test_cancel_producer_thread),
		cmocka_unit_test(test_cancel_producer_signal),
		cmocka_unit_test(test_interrupt_pending),
	};
	tu_dir();
	/* Watchdog: a hang fails the test rather than blocking CI. */
	alarm(240);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
