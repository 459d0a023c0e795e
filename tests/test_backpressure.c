/*
 * Back-pressure: a durable consumer that reads nothing lets the producer
 * write exactly `capacity` bytes, then the producer gets -EAGAIN (timeout
 * 0) or -ETIMEDOUT; every byte released makes room for exactly one more.
 * Observers never hold the producer back. Across processes, a producer
 * asleep in mring_reserve(-1) is woken by a release in another process,
 * and a consumer asleep in mring_peek(-1) by a commit.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t cap16(void)
{
	return 16 * (uint64_t)tu_page();
}

/* Byte mode: fill to exactly capacity with odd chunks. */
static uint64_t fill_bytes(struct mring *p, uint64_t pos, uint64_t upto,
                           size_t maxrec)
{
	while (pos < upto) {
		size_t len = 1 + (size_t)(tu_mix(pos) % maxrec);
		void *w;
		if (len > upto - pos)
			len = (size_t)(upto - pos);
		assert_rc(mring_reserve(p, len, &w, 0), 0);
		tu_fill(w, pos, len);
		assert_rc(mring_commit(p, len), 0);
		pos += len;
	}
	return pos;
}

static void test_bytes_full(void **state)
{
	TU_PATH(path, "bp-bytes");
	const uint64_t cap = cap16();
	const size_t maxrec = 2 * (size_t)tu_page() - 16;
	struct mring *p, *c, *obs;
	struct mring_stats st;
	const void *rp;
	void *w;
	uint64_t head, rpos = 0;
	uint8_t *buf = malloc(2 * maxrec);

	(void)state;
	tu_create(path, cap, (uint32_t)maxrec, 0);
	c = tu_consumer(path, "slow");
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &obs), 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);

	head = fill_bytes(p, 0, cap, maxrec);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.head == cap);
	assert_rc(mring_reserve(p, 1, &w, 0), -EAGAIN);
	assert_rc(mring_reserve(p, maxrec, &w, 0), -EAGAIN);
	assert_rc(mring_reserve(p, 1, &w, 50), -ETIMEDOUT);
	assert_rc(mring_write(p, "x", 1, 0), -EAGAIN);
	assert_rc(mring_write(p, "x", 1, 20), -ETIMEDOUT);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.head == cap && st.bytes_produced == cap);
	/* The observer reading everything does not make room. */
	for (ssize_t n; (n = mring_peek(obs, &rp, 0)) > 0;)
		assert_rc(mring_release(obs, (size_t)n), 0);
	assert_rc(mring_reserve(p, 1, &w, 0), -EAGAIN);

	/* Release 100 bytes: exactly 100 bytes of room. */
	assert_true(mring_peek(c, &rp, 0) >= 100);
	assert_true(tu_check(rp, 0, 100) < 0);
	assert_rc(mring_release(c, 100), 0);
	rpos = 100;
	assert_rc(mring_reserve(p, 101, &w, 0), -EAGAIN);
	assert_rc(mring_reserve(p, 100, &w, 0), 0);
	tu_fill(w, head, 100);
	assert_rc(mring_commit(p, 100), 0);
	head += 100;
	assert_rc(mring_reserve(p, 1, &w, 0), -EAGAIN);

	/* A write split over reservations that runs out of room returns
	 * the part written: at least the first max_record bytes (room was
	 * freed for max_record + 200), at most what fit. */
	while (rpos < 100 + maxrec + 200) {
		ssize_t n = mring_peek(c, &rp, 0);
		size_t k;
		assert_true(n > 0);
		k = (size_t)n;
		if (k > 100 + maxrec + 200 - rpos)
			k = (size_t)(100 + maxrec + 200 - rpos);
		assert_true(tu_check(rp, rpos, k) < 0);
		assert_rc(mring_release(c, k), 0);
		rpos += k;
	}
	assert_non_null(buf);
	tu_fill(buf, head, 2 * maxrec);
	{
		ssize_t n = mring_write(p, buf, 2 * maxrec, 0);
		if (n < (ssize_t)maxrec || n > (ssize_t)maxrec + 200)
			fail_msg("partial write returned %zd (%s)", n,
			         tu_rcstr(n));
		head += (uint64_t)n;
	}
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.head == head);

	/* Drain: all bytes intact, then the producer may go on. */
	for (;;) {
		ssize_t n = mring_peek(c, &rp, 0);
		if (n == -EAGAIN)
			break;
		assert_true(n > 0);
		assert_true(tu_check(rp, rpos, (size_t)n) < 0);
		assert_rc(mring_release(c, (size_t)n), 0);
		rpos += (uint64_t)n;
	}
	assert_true(rpos == head);
	head = fill_bytes(p, head, head + cap, maxrec);
	assert_rc(mring_reserve(p, 1, &w, 0), -EAGAIN);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.producer_waits >= 1);

	mring_close(p);
	mring_close(obs);
	mring_close(c);
	free(buf);
	tu_rm(path);
}

static void test_records_full(void **state)
{
	TU_PATH(path, "bp-rec");
	const uint64_t cap = cap16();
	struct mring *p, *c;
	const void *rp;
	void *w;
	uint64_t seq = 0, head = 0;
	/* 1008-byte records take 1024 bytes: capacity / 1024 of them fit. */
	const size_t len = 1008;

	(void)state;
	tu_create(path, cap, 2048, MRING_F_RECORDS);
	c = tu_consumer(path, "slow");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	while (head < cap) {
		assert_rc(mring_reserve(p, len, &w, 0), 0);
		tu_rec_fill(w, seq++, len);
		assert_rc(mring_commit(p, len), 0);
		head += tu_rec_size(len);
	}
	assert_true(head == cap);
	assert_rc(mring_reserve(p, 1, &w, 0), -EAGAIN);
	assert_rc(mring_reserve(p, 1, &w, 30), -ETIMEDOUT);

	/* One record released: room for one record of that size, and a
	 * bigger one does not fit. */
	assert_rc(mring_peek(c, &rp, 0), (ssize_t)len);
	assert_true(tu_rec_check(rp, 0, len) < 0);
	assert_rc(mring_release(c, 0), 0);
	assert_rc(mring_reserve(p, len + 1, &w, 0), -EAGAIN);
	/* ...but a record that leaves 16 bytes does, and then one of 1
	 * byte (24 bytes) does not. */
	assert_rc(mring_reserve(p, len - 16, &w, 0), 0);
	tu_rec_fill(w, seq++, len - 16);
	assert_rc(mring_commit(p, len - 16), 0);
	assert_rc(mring_reserve(p, 1, &w, 0), -EAGAIN);

	for (uint64_t s = 1; s < seq; s++) {
		size_t want = s == seq - 1 ? len - 16 : len;
		assert_rc(mring_peek(c, &rp, 0), (ssize_t)want);
		assert_true(tu_rec_check(rp, s, want) < 0);
		assert_rc(mring_release(c, 0), 0);
	}
	assert_rc(mring_peek(c, &rp, 0), -EAGAIN);
	assert_rc(mring_reserve(p, 1, &w, 0), 0);
	mring_close(p);
	mring_close(c);
	tu_rm(path);
}

/* Only observers: the producer never waits. */
static void test_observers_do_not_hold_back(void **state)
{
	TU_PATH(path, "bp-obs");
	const uint64_t cap = cap16();
	const size_t maxrec = 2 * (size_t)tu_page() - 16;
	struct mring *p, *o;
	struct mring_stats st;

	(void)state;
	tu_create(path, cap, (uint32_t)maxrec, 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &o), 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	fill_bytes(p, 0, 5 * cap + 7, maxrec);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.head == 5 * cap + 7);
	assert_true(st.tail >= st.head - cap);
	assert_true(st.producer_waits == 0);
	mring_close(o);
	mring_close(p);
	tu_rm(path);
}

/* ---- across processes ---------------------------------------------------- */

struct blocked {
	const char *path;
	uint64_t cap;
	size_t maxrec;
	int fd; /* pipe to the parent */
};

/* Fill the ring, report, then block in reserve(-1) until woken. */
static int blocked_producer(void *arg)
{
	const struct blocked *b = arg;
	struct mring *p;
	uint64_t pos = 0;
	void *w;
	int rc = mring_open(b->path, MRING_PRODUCER, NULL, &p);

	if (rc < 0)
		return tu_cfail(2, "open: %s", mring_strerror(rc));
	while (pos < b->cap) {
		size_t len = b->maxrec;
		if (len > b->cap - pos)
			len = (size_t)(b->cap - pos);
		if ((rc = mring_reserve(p, len, &w, 0)) < 0)
			return tu_cfail(3, "reserve: %s", mring_strerror(rc));
		tu_fill(w, pos, len);
		mring_commit(p, len);
		pos += len;
	}
	if (mring_reserve(p, 1, &w, 0) != -EAGAIN)
		return tu_cfail(4, "ring not full");
	tu_put_u64(b->fd, pos);
	rc = mring_reserve(p, 4096, &w, -1);
	if (rc != 0)
		return tu_cfail(5, "blocking reserve: %s", mring_strerror(rc));
	tu_fill(w, pos, 4096);
	mring_commit(p, 4096);
	tu_put_u64(b->fd, pos + 4096);
	mring_close(p);
	return 0;
}

static void test_producer_woken_across_processes(void **state)
{
	TU_PATH(path, "bp-wake");
	struct blocked b;
	struct mring *c;
	const void *rp;
	uint64_t v, rpos = 0;
	int fds[2];
	pid_t pid;

	(void)state;
	b.path = path;
	b.cap = cap16();
	b.maxrec = 2 * (size_t)tu_page() - 16;
	tu_create(path, b.cap, (uint32_t)b.maxrec, 0);
	c = tu_consumer(path, "slow");
	mring_close(c); /* registered at 0; reopened after the fork */
	assert_int_equal(pipe(fds), 0);
	b.fd = fds[1];
	pid = tu_spawn(blocked_producer, &b, 60);
	close(fds[1]);
	assert_int_equal(tu_get_u64_fd(fds[0], &v), 1);
	assert_true(v == b.cap);

	c = tu_consumer(path, "slow");
	tu_wait_sleeper(path, TU_OFF_SPACE_FUTEX, 2000);
	/* Free exactly the 4096 bytes the child waits for. */
	while (rpos < 4096) {
		ssize_t n = mring_peek(c, &rp, 0);
		size_t k;
		assert_true(n > 0);
		k = (size_t)n < 4096 - rpos ? (size_t)n : (size_t)(4096 - rpos);
		assert_true(tu_check(rp, rpos, k) < 0);
		assert_rc(mring_release(c, k), 0);
		rpos += k;
	}
	assert_int_equal(tu_get_u64_fd(fds[0], &v), 1);
	assert_true(v == b.cap + 4096);
	assert_int_equal(tu_wait(pid), 0);
	close(fds[0]);

	/* Everything the child wrote is there; then end of stream. */
	for (;;) {
		ssize_t n = mring_peek(c, &rp, 0);
		if (n == 0)
			break;
		assert_true(n > 0);
		assert_true(tu_check(rp, rpos, (size_t)n) < 0);
		assert_rc(mring_release(c, (size_t)n), 0);
		rpos += (uint64_t)n;
	}
	assert_true(rpos == b.cap + 4096);
	mring_close(c);
	tu_rm(path);
}

/* Block in peek(-1) until data arrives, check it. */
static int blocked_consumer(void *arg)
{
	const struct blocked *b = arg;
	struct mring_config cfg;
	struct mring *c;
	const void *rp;
	ssize_t n;
	int rc;

	memset(&cfg, 0, sizeof cfg);
	cfg.consumer_name = "sleeper";
	rc = mring_open(b->path, MRING_CONSUMER, &cfg, &c);
	if (rc < 0)
		return tu_cfail(2, "open: %s", mring_strerror(rc));
	tu_put_u64(b->fd, 1);
	n = mring_peek(c, &rp, -1);
	if (n <= 0)
		return tu_cfail(3, "peek: %s", tu_rcstr(n));
	if (tu_check(rp, 0, (size_t)n) >= 0)
		return tu_cfail(4, "bad data");
	mring_release(c, (size_t)n);
	mring_close(c);
	return 0;
}

static void test_consumer_woken_across_processes(void **state)
{
	TU_PATH(path, "bp-wake2");
	struct blocked b;
	struct mring *p;
	uint64_t v;
	uint8_t buf[100];
	int fds[2];
	pid_t pid;

	(void)state;
	b.path = path;
	b.cap = cap16();
	b.maxrec = 0;
	tu_create(path, b.cap, 0, 0);
	assert_int_equal(pipe(fds), 0);
	b.fd = fds[1];
	pid = tu_spawn(blocked_consumer, &b, 60);
	close(fds[1]);
	assert_int_equal(tu_get_u64_fd(fds[0], &v), 1);
	close(fds[0]);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	tu_wait_sleeper(path, TU_OFF_DATA_FUTEX, 2000);
	tu_fill(buf, 0, sizeof buf);
	assert_rc(mring_write(p, buf, sizeof buf, 0), sizeof buf);
	assert_int_equal(tu_wait(pid), 0);
	mring_close(p);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_full),
		cmocka_unit_test(test_records_full),
		cmocka_unit_test(test_observers_do_not_hold_back),
		cmocka_unit_test(test_producer_woken_across_processes),
		cmocka_unit_test(test_consumer_woken_across_processes),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
