/*
 * Roles and call contracts: one producer at a time (across processes and
 * within one), a producer lock that dies with its process, role errors,
 * size and sequence errors of reserve/commit/peek/release, timeouts, end of
 * stream (also waking a consumer asleep in another process), and the
 * mring_write/mring_read copying conveniences.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t cap16(void)
{
	return 16 * (uint64_t)tu_page();
}

/* ---- one producer ------------------------------------------------------- */

static int try_producer(void *arg)
{
	struct mring *p;
	int rc = mring_open(arg, MRING_PRODUCER, NULL, &p);
	if (rc == 0)
		mring_close(p);
	return rc == -EBUSY ? 0 : tu_cfail(1, "open: %s", tu_rcstr(rc));
}

struct hold {
	const char *path;
	int fd;
};

/* Open as producer, write a little, report, wait to be killed. */
static int hold_producer(void *arg)
{
	const struct hold *h = arg;
	struct mring *p;
	int rc = mring_open(h->path, MRING_PRODUCER, NULL, &p);

	if (rc < 0)
		return tu_cfail(2, "open: %s", mring_strerror(rc));
	if (mring_write(p, "abc", 3, 0) != 3)
		return tu_cfail(3, "write");
	tu_put_u64(h->fd, 1);
	for (;;)
		pause();
}

static void test_single_producer(void **state)
{
	TU_PATH(path, "roles-prod");
	struct mring *p, *p2;
	struct mring_info in;
	struct hold h = {.path = path};
	int fds[2];
	uint64_t v;
	pid_t pid;

	(void)state;
	tu_create(path, cap16(), 0, 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p2), -EBUSY);
	assert_rc(mring_inspect(path, &in, NULL, 0), 0);
	assert_true(in.producer_alive == 1 && in.producer_pid == getpid());
	mring_close(p);

	/* A producer in another process. */
	assert_int_equal(pipe(fds), 0);
	h.fd = fds[1];
	pid = tu_spawn(hold_producer, &h, 60);
	close(fds[1]);
	assert_int_equal(tu_get_u64_fd(fds[0], &v), 1);
	close(fds[0]);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p2), -EBUSY);
	{
		pid_t t = tu_spawn(try_producer, path, 30);
		assert_int_equal(tu_wait(t), 0);
	}
	assert_rc(mring_inspect(path, &in, NULL, 0), 0);
	assert_true(in.producer_alive == 1 && in.producer_pid == pid);
	assert_int_equal(tu_kill(pid), 128 + SIGKILL);

	/* Its lock died with it. */
	assert_rc(mring_inspect(path, &in, NULL, 0), 0);
	assert_int_equal(in.producer_alive, 0);
	assert_true(in.head == 3);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_write(p, "def", 3, 0), 3);
	mring_close(p);
	{
		struct mring *c;
		char buf[8] = {0};
		assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
		assert_rc(mring_read(c, buf, 6, 0), 6);
		assert_string_equal(buf, "abcdef");
		mring_close(c);
	}
	tu_rm(path);
}

/* ---- role errors ------------------------------------------------------------ */

static void test_role_errors(void **state)
{
	TU_PATH(path, "roles-err");
	struct mring *p, *c;
	const void *rp;
	void *w;
	char buf[16];

	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		tu_create(path, cap16(), 0, mode ? MRING_F_RECORDS : 0);
		assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
		assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
		assert_rc(mring_reserve(c, 8, &w, 0), MRING_EROLE);
		assert_rc(mring_commit(c, 0), MRING_EROLE);
		assert_rc(mring_write(c, "x", 1, 0), MRING_EROLE);
		assert_rc(mring_peek(p, &rp, 0), MRING_EROLE);
		assert_rc(mring_release(p, 0), MRING_EROLE);
		assert_rc(mring_read(p, buf, sizeof buf, 0), MRING_EROLE);
		/* the consumer saw nothing */
		assert_rc(mring_write(p, "y", 1, 0), 1);
		assert_rc(mring_read(c, buf, sizeof buf, 0), 1);
		assert_int_equal(buf[0], 'y');
		mring_close(c);
		mring_close(p);
	}
	tu_rm(path);
	assert_rc(mring_open(path, 3, NULL, &p), -EINVAL);
}

/* ---- sizes and sequence ---------------------------------------------------------- */

static void test_reserve_commit_contract(void **state)
{
	TU_PATH(path, "roles-rc");
	struct mring_info in;
	struct mring *p, *c;
	const void *rp;
	void *w;

	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		tu_create(path, cap16(), 1000, mode ? MRING_F_RECORDS : 0);
		assert_rc(mring_inspect(path, &in, NULL, 0), 0);
		assert_int_equal(in.max_record, 1000);
		assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
		assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);

		assert_rc(mring_reserve(p, 0, &w, 0), -EMSGSIZE);
		assert_rc(mring_reserve(p, 1001, &w, 0), -EMSGSIZE);
		assert_rc(mring_reserve(p, SIZE_MAX, &w, 0), -EMSGSIZE);
		assert_rc(mring_commit(p, 1), -EINVAL); /* no reservation */
		assert_rc(mring_reserve(p, 1000, &w, 0), 0);
		assert_rc(mring_commit(p, 1001), -EINVAL);
		/* reserving again replaces the reservation */
		assert_rc(mring_reserve(p, 50, &w, 0), 0);
		tu_fill(w, 0, 50);
		assert_rc(mring_commit(p, 51), -EINVAL);
		assert_rc(mring_commit(p, 40), 0);
		assert_rc(mring_commit(p, 1), -EINVAL); /* consumed */
		/* commit 0 drops a reservation and publishes nothing */
		assert_rc(mring_reserve(p, 30, &w, 0), 0);
		assert_rc(mring_commit(p, 0), 0);
		assert_rc(mring_commit(p, 1), -EINVAL);

		assert_rc(mring_peek(c, &rp, 0), 40);
		assert_true(tu_check(rp, 0, 40) < 0);
		if (!mode) {
			assert_rc(mring_release(c, 41), -EINVAL);
			assert_rc(mring_release(c, 10), 0);
			assert_rc(mring_release(c, 31), -EINVAL);
			assert_rc(mring_peek(c, &rp, 0), 30);
			assert_true(tu_check(rp, 10, 30) < 0);
			assert_rc(mring_release(c, 30), 0);
			assert_rc(mring_release(c, 1), -EINVAL);
		} else {
			/* one record of exactly what was committed */
			assert_rc(mring_release(c, 12345), 0);
		}
		assert_rc(mring_peek(c, &rp, 0), -EAGAIN);
		{
			static uint8_t big[1001];
			assert_rc(mring_write(p, big, 1001, 0),
			          mode ? -EMSGSIZE : 1001);
		}
		mring_close(c);
		mring_close(p);
	}
	tu_rm(path);
}

static void test_timeouts(void **state)
{
	TU_PATH(path, "roles-to");
	struct mring *p, *c;
	const void *rp;
	char buf[4];

	(void)state;
	tu_create(path, cap16(), 0, 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	assert_rc(mring_peek(c, &rp, 0), -EAGAIN);
	assert_rc(mring_peek(c, &rp, 1), -ETIMEDOUT);
	assert_rc(mring_peek(c, &rp, 50), -ETIMEDOUT);
	assert_rc(mring_read(c, buf, sizeof buf, 0), -EAGAIN);
	assert_rc(mring_read(c, buf, sizeof buf, 20), -ETIMEDOUT);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/* ---- end of stream ---------------------------------------------------------------- */

static void test_eof(void **state)
{
	TU_PATH(path, "roles-eof");
	struct mring_info in;
	struct mring *p, *c;
	const void *rp;
	char buf[64];

	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		uint64_t got = 0;
		tu_create(path, cap16(), 0, mode ? MRING_F_RECORDS : 0);
		assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
		assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
		for (int i = 0; i < 10; i++) {
			tu_fill(buf, (uint64_t)i * 64, 64);
			assert_rc(mring_write(p, buf, 64, 0), 64);
		}
		mring_close(p);
		assert_rc(mring_inspect(path, &in, NULL, 0), 1);
		assert_int_equal(in.eof, 1);
		for (;;) {
			ssize_t n = mring_peek(c, &rp, -1);
			if (n == 0)
				break;
			assert_true(n > 0);
			assert_true(tu_check(rp, got, (size_t)n) < 0);
			assert_rc(mring_release(c, (size_t)n), 0);
			got += (uint64_t)n;
		}
		assert_true(got == 640);
		assert_rc(mring_peek(c, &rp, 0), 0);
		assert_rc(mring_peek(c, &rp, -1), 0);
		assert_rc(mring_read(c, buf, sizeof buf, -1), 0);
		/* A new producer reopens the stream. */
		assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
		assert_rc(mring_inspect(path, &in, NULL, 0), 1);
		assert_int_equal(in.eof, 0);
		assert_rc(mring_peek(c, &rp, 0), -EAGAIN);
		tu_fill(buf, got, 5);
		assert_rc(mring_write(p, buf, 5, 0), 5);
		assert_rc(mring_peek(c, &rp, 0), 5);
		assert_true(tu_check(rp, got, 5) < 0);
		mring_close(p);
		mring_close(c);
	}
	tu_rm(path);
}

struct sleeper {
	const char *path;
	int go;   /* read: the parent says data is there */
	int done; /* write: the child reports it got 0 */
};

/* Read what is there, then sleep in peek(-1) until the stream ends. */
static int eof_sleeper(void *arg)
{
	const struct sleeper *s = arg;
	struct mring *c;
	const void *rp;
	uint64_t v, got = 0;
	ssize_t n;
	int rc;

	if (tu_get_u64_fd(s->go, &v) != 1)
		return tu_cfail(2, "no go");
	rc = mring_open(s->path, MRING_CONSUMER, NULL, &c);
	if (rc < 0)
		return tu_cfail(3, "open: %s", mring_strerror(rc));
	while (got < v) {
		n = mring_peek(c, &rp, -1);
		if (n <= 0 || tu_check(rp, got, (size_t)n) >= 0)
			return tu_cfail(4, "peek: %s", tu_rcstr(n));
		mring_release(c, (size_t)n);
		got += (uint64_t)n;
	}
	n = mring_peek(c, &rp, -1);
	mring_close(c);
	return n == 0 ? 0 : tu_cfail(5, "final peek: %s", tu_rcstr(n));
}

static void test_eof_wakes_sleeper(void **state)
{
	TU_PATH(path, "roles-eofw");
	struct sleeper s = {.path = path};
	struct mring *p;
	char buf[10];
	int fds[2];
	pid_t pid;

	(void)state;
	tu_create(path, cap16(), 0, 0);
	assert_int_equal(pipe(fds), 0);
	s.go = fds[0];
	pid = tu_spawn(eof_sleeper, &s, 60);
	close(fds[0]);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	tu_fill(buf, 0, sizeof buf);
	assert_rc(mring_write(p, buf, sizeof buf, 0), sizeof buf);
	assert_int_equal(tu_put_u64(fds[1], sizeof buf), 0);
	close(fds[1]);
	tu_wait_sleeper(path, TU_OFF_DATA_FUTEX, 2000);
	mring_close(p);
	assert_int_equal(tu_wait(pid), 0);
	tu_rm(path);
}

/* ---- copying conveniences ----------------------------------------------------------- */

static void test_write_read_records(void **state)
{
	TU_PATH(path, "roles-rw");
	struct mring *p, *c;
	uint8_t *buf = malloc(2000);
	const void *rp;

	(void)state;
	assert_non_null(buf);
	tu_create(path, cap16(), 1500, MRING_F_RECORDS);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	for (uint64_t s = 0; s < 5; s++) {
		tu_rec_fill(buf, s, 100 + s * 300);
		assert_rc(mring_write(p, buf, 100 + s * 300, 0),
		          (ssize_t)(100 + s * 300));
	}
	assert_rc(mring_write(p, buf, 0, 0), -EMSGSIZE);
	assert_rc(mring_write(p, buf, 1501, 0), -EMSGSIZE);
	for (uint64_t s = 0; s < 5; s++) {
		size_t len = 100 + s * 300;
		memset(buf, 0, 2000);
		/* too small: refused, and the record stays unread */
		assert_rc(mring_read(c, buf, len - 1, 0), -EMSGSIZE);
		assert_rc(mring_read(c, buf, 1, 0), -EMSGSIZE);
		assert_rc(mring_peek(c, &rp, 0), (ssize_t)len);
		assert_rc(mring_read(c, buf, len, 0), (ssize_t)len);
		assert_true(tu_rec_check(buf, s, len) < 0);
	}
	assert_rc(mring_read(c, buf, 2000, 0), -EAGAIN);
	mring_close(p);
	assert_rc(mring_read(c, buf, 2000, 0), 0);
	mring_close(c);
	free(buf);
	tu_rm(path);
}

static void test_write_read_bytes(void **state)
{
	TU_PATH(path, "roles-rwb");
	struct mring *p, *c;
	const size_t n = 3 * 4096 + 5;
	uint8_t *buf = malloc(n);
	uint64_t got = 0;

	(void)state;
	assert_non_null(buf);
	tu_create(path, cap16(), 4096, 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	tu_fill(buf, 0, n);
	/* more than max_record: split over reservations */
	assert_rc(mring_write(p, buf, n, 0), (ssize_t)n);
	assert_rc(mring_write(p, buf, 0, 0), 0);
	memset(buf, 0, n);
	while (got < n) {
		ssize_t k = mring_read(c, buf, 777, 0);
		assert_true(k > 0 && k <= 777);
		assert_true(tu_check(buf, got, (size_t)k) < 0);
		got += (uint64_t)k;
	}
	assert_true(got == n);
	assert_rc(mring_read(c, buf, 10, 0), -EAGAIN);
	mring_close(p);
	assert_rc(mring_read(c, buf, 10, 0), 0);
	mring_close(c);
	free(buf);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_producer),
		cmocka_unit_test(test_role_errors),
		cmocka_unit_test(test_reserve_commit_contract),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_eof_wakes_sleeper),
		cmocka_unit_test(test_write_read_records),
		cmocka_unit_test(test_write_read_bytes),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
