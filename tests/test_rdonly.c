/*
 * Read-only observers (MRING_F_READONLY, or an observer that may only read
 * the file): run as an unprivileged user (nobody) against a root ring of
 * mode 0644 while a producer writes, reading every record; lapped in
 * overwrite mode and counting the loss; never seen by mring_inspect and
 * never holding the producer back; interruptible and usable with
 * mring_fd although they cannot announce themselves as sleepers.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOBODY 65534
#define RECORDS 5000
#define AHEAD 96 /* records the producer may be ahead of the reader */
#define ACK_EVERY 32

static size_t rec_len(uint64_t seq)
{
	return tu_rec_len(seq, 3, 8, 240);
}

struct reader_arg {
	const char *path;
	int ready; /* write end: "opened" */
	int ack;   /* write end: records read so far */
	unsigned flags;
};

/* Child, as nobody: read every record until end of stream. */
static int reader(void *arg)
{
	struct reader_arg *a = arg;
	struct mring_config cfg;
	struct mring_stats st;
	struct mring *c;
	uint8_t buf[256];
	uint64_t seq = 0;
	int rc;

	if (setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		return tu_cfail(1, "setresuid: %s", strerror(errno));
	/* Write access really is gone. */
	rc = mring_open(a->path, MRING_PRODUCER, NULL, &c);
	if (rc != -EACCES)
		return tu_cfail(2, "producer as nobody: %s", tu_rcstr(rc));
	/* Read-only or not, root's file needs the opt-in; without it the
	 * answer stays the open for writing's. */
	mring_config_init(&cfg);
	cfg.flags = a->flags;
	rc = mring_open(a->path, MRING_CONSUMER, &cfg, &c);
	if (rc != (a->flags ? MRING_EOWNER : -EACCES))
		return tu_cfail(10, "observer, no opt-in: %s", tu_rcstr(rc));
	mring_config_init(&cfg);
	cfg.flags = MRING_F_ANY_OWNER;
	cfg.consumer_name = "named";
	rc = mring_open(a->path, MRING_CONSUMER, &cfg, &c);
	if (rc != -EACCES)
		return tu_cfail(3, "durable as nobody: %s", tu_rcstr(rc));
	cfg.consumer_name = NULL;
	cfg.flags |= a->flags;
	rc = mring_open(a->path, MRING_CONSUMER, &cfg, &c);
	if (rc != 0)
		return tu_cfail(4, "observer as nobody: %s", tu_rcstr(rc));
	if (mring_sync(c) != MRING_EROLE)
		return tu_cfail(5, "sync on a read-only handle");
	tu_put_u64(a->ready, 1);
	for (;;) {
		ssize_t n = mring_read(c, buf, sizeof buf, -1);
		if (n == 0)
			break;
		if (n < 0)
			return tu_cfail(6, "read %llu: %s",
			                (unsigned long long)seq, tu_rcstr(n));
		if ((size_t)n != rec_len(seq) ||
		    tu_rec_check(buf, seq, (size_t)n) != -1)
			return tu_cfail(7, "record %llu wrong",
			                (unsigned long long)seq);
		seq++;
		if (seq % ACK_EVERY == 0)
			tu_put_u64(a->ack, seq);
	}
	if (seq != RECORDS)
		return tu_cfail(8, "read %llu records",
		                (unsigned long long)seq);
	mring_stats(c, &st);
	if (st.bytes_lost || st.lapped)
		return tu_cfail(9, "lost data");
	mring_close(c);
	return 0;
}

static void nobody_reads(unsigned flags)
{
	char dir[512], path[600];
	int ready[2], ack[2];
	struct mring_info info;
	struct mring *p;
	uint8_t buf[256];
	uint64_t v, acked = 0;

	if (geteuid() != 0)
		skip(); /* setresuid needs root */
	/* A directory anyone may enter, a ring anyone may only read. */
	snprintf(dir, sizeof dir, "%s/pub", tu_dir());
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chmod(tu_dir(), 0711), 0);
	snprintf(path, sizeof path, "%s/ro.ring", dir);
	struct mring_config cfg = tu_cfg(16 * (uint64_t)tu_page(), 256,
	                                 MRING_F_RECORDS | MRING_F_CRC);
	cfg.mode = 0644;
	assert_rc(mring_create(path, &cfg), 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(ack), 0);
	struct reader_arg a = {path, ready[1], ack[1], flags};
	pid_t pid = tu_spawn(reader, &a, 120);
	close(ready[1]);
	close(ack[1]);
	assert_int_equal(tu_get_u64_fd(ready[0], &v), 1);
	/* Invisible: no slot. */
	assert_rc(mring_inspect(path, &info, NULL, 0), 0);
	/* Several laps of the ring, never more than AHEAD records ahead of
	 * the reader (it cannot hold the producer back itself). */
	for (uint64_t seq = 0; seq < RECORDS; seq++) {
		while (seq >= acked + AHEAD) {
			if (tu_get_u64_fd(ack[0], &acked) != 1)
				fail_msg("reader died at %llu",
				         (unsigned long long)acked);
		}
		size_t len = rec_len(seq);
		tu_rec_fill(buf, seq, len);
		assert_rc(mring_write(p, buf, len, 0), (ssize_t)len);
	}
	mring_close(p);
	assert_int_equal(tu_wait(pid), 0);
	close(ready[0]);
	close(ack[0]);
	assert_int_equal(chmod(tu_dir(), 0700), 0);
	tu_rm(dir);
}

static void test_nobody_flag(void **state)
{
	(void)state;
	nobody_reads(MRING_F_READONLY);
}

static void test_nobody_automatic(void **state)
{
	(void)state;
	nobody_reads(0);
}

/* Overwrite mode: lapped while idle, told so, the loss counted, and what
 * follows is read intact. It never held the producer back. */
static void test_lapped(void **state)
{
	(void)state;
	TU_PATH(path, "lap.ring");
	struct mring_config cfg;
	struct mring_stats st;
	struct mring *p, *c;
	uint8_t buf[256];
	const uint64_t cap = 16 * (uint64_t)tu_page();

	tu_create(path, cap, 256, MRING_F_RECORDS | MRING_F_OVERWRITE);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	mring_config_init(&cfg);
	cfg.flags = MRING_F_READONLY;
	assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
	uint64_t seq = 0, bytes = 0;
	for (; bytes < 4 * cap; seq++) {
		size_t len = rec_len(seq);
		tu_rec_fill(buf, seq, len);
		assert_rc(mring_write(p, buf, len, 0), (ssize_t)len);
		bytes += tu_rec_size(len);
	}
	assert_rc(mring_read(c, buf, sizeof buf, 0), MRING_ELAPPED);
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.lapped, 1);
	assert_true(st.records_lost > 0 && st.records_lost < seq);
	uint64_t next = st.records_lost;
	for (;; next++) {
		ssize_t n = mring_read(c, buf, sizeof buf, 0);
		if (n == -EAGAIN)
			break;
		assert_rc(n, (ssize_t)rec_len(next));
		assert_int_equal(tu_rec_check(buf, next, (size_t)n), -1);
	}
	assert_int_equal(next, seq);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/* Back-pressure mode: not a durable consumer, so never waited for. */
static void test_never_holds_back(void **state)
{
	(void)state;
	TU_PATH(path, "bp.ring");
	struct mring_config cfg;
	struct mring_info info;
	struct mring *p, *c;
	uint8_t buf[200] = {0};
	const uint64_t cap = 16 * (uint64_t)tu_page();

	tu_create(path, cap, 256, MRING_F_RECORDS);
	mring_config_init(&cfg);
	cfg.flags = MRING_F_READONLY;
	assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
	/* Neither durable nor a producer can be read-only. */
	cfg.consumer_name = "d";
	struct mring *x;
	assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &x), -EINVAL);
	cfg.consumer_name = NULL;
	assert_rc(mring_open(path, MRING_PRODUCER, &cfg, &x), -EINVAL);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	for (uint64_t b = 0; b < 4 * cap; b += tu_rec_size(sizeof buf))
		assert_rc(mring_write(p, buf, sizeof buf, 0), sizeof buf);
	assert_rc(mring_inspect(path, &info, NULL, 0), 0);
	assert_rc(mring_read(c, buf, sizeof buf, 0), MRING_ELAPPED);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

struct later {
	struct mring *p, *c;
	int how; /* 0: interrupt the reader, 1: write a record */
};

static void *later_run(void *arg)
{
	struct later *l = arg;

	tu_sleep_ms(30);
	if (l->how == 0)
		(void)mring_interrupt(l->c);
	else
		(void)mring_write(l->p, "late", 4, 0);
	return NULL;
}

/* It polls instead of sleeping on the futex: data, interrupts and the
 * descriptor still reach it. */
static void test_wait_interrupt_fd(void **state)
{
	(void)state;
	TU_PATH(path, "wait.ring");
	struct mring_config cfg;
	struct mring *p, *c;
	const void *rp;
	pthread_t t;

	tu_create(path, 16 * (uint64_t)tu_page(), 0, MRING_F_RECORDS);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	mring_config_init(&cfg);
	cfg.flags = MRING_F_READONLY;
	assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
	struct later l = {p, c, 1};
	assert_int_equal(pthread_create(&t, NULL, later_run, &l), 0);
	assert_rc(mring_peek(c, &rp, -1), 4);
	pthread_join(t, NULL);
	assert_rc(mring_release(c, 4), 0);
	l.how = 0;
	assert_int_equal(pthread_create(&t, NULL, later_run, &l), 0);
	assert_rc(mring_peek(c, &rp, -1), -ECANCELED);
	pthread_join(t, NULL);
	assert_rc(mring_peek(c, &rp, 10), -ETIMEDOUT);
	/* The descriptor: quiet when drained, readable when data comes. */
	int fd = mring_fd(c);
	assert_true(fd >= 0);
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	assert_rc(mring_peek(c, &rp, 0), -EAGAIN);
	assert_int_equal(poll(&pf, 1, 0), 0);
	assert_rc(mring_write(p, "more", 4, 0), 4);
	assert_int_equal(poll(&pf, 1, 30000), 1);
	assert_rc(mring_peek(c, &rp, 0), 4);
	mring_close(p);
	/* End of stream. */
	assert_rc(mring_release(c, 4), 0);
	assert_int_equal(poll(&pf, 1, 30000), 1);
	assert_rc(mring_peek(c, &rp, 0), 0);
	mring_close(c);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nobody_flag),
		cmocka_unit_test(test_nobody_automatic),
		cmocka_unit_test(test_lapped),
		cmocka_unit_test(test_never_holds_back),
		cmocka_unit_test(test_wait_interrupt_fd),
	};
	tu_dir();
	alarm(240); /* watchdog */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
