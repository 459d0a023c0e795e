/*
 * Durable (named) consumers: their position survives close and SIGKILL;
 * a name is attached at most once at a time; mring_consumer_remove()
 * refuses a live consumer and otherwise stops it holding the producer back;
 * MRING_START_NEWEST starts at the head.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static uint64_t cap16(void)
{
	return 16 * (uint64_t)tu_page();
}

static int open_named(const char *path, const char *name, int start,
                      struct mring **out)
{
	struct mring_config cfg;

	memset(&cfg, 0, sizeof cfg);
	cfg.consumer_name = name;
	cfg.start = start;
	return mring_open(path, MRING_CONSUMER, &cfg, out);
}

static struct mring *named(const char *path, const char *name)
{
	struct mring *c;
	assert_rc(open_named(path, name, MRING_START_OLDEST, &c), 0);
	return c;
}

static uint64_t position(struct mring *r)
{
	struct mring_stats st;
	assert_rc(mring_stats(r, &st), 0);
	return st.position;
}

static void put_bytes(struct mring *p, uint64_t *head, uint64_t n)
{
	while (n) {
		size_t len = n < 1000 ? (size_t)n : 1000;
		void *w;
		assert_rc(mring_reserve(p, len, &w, 0), 0);
		tu_fill(w, *head, len);
		assert_rc(mring_commit(p, len), 0);
		*head += len;
		n -= len;
	}
}

/* Read exactly n bytes from pos, in peeks of at most `step`. */
static void get_bytes(struct mring *c, uint64_t *pos, uint64_t n, size_t step)
{
	while (n) {
		const void *rp;
		ssize_t got = mring_peek(c, &rp, 0);
		size_t k;
		assert_true(got > 0);
		k = (size_t)got < step ? (size_t)got : step;
		if (k > n)
			k = (size_t)n;
		if (tu_check(rp, *pos, k) >= 0)
			fail_msg("wrong data at %llu",
			         (unsigned long long)*pos);
		assert_rc(mring_release(c, k), 0);
		*pos += k;
		n -= k;
	}
}

static void put_record(struct mring *p, uint64_t seq)
{
	size_t len = tu_rec_len(seq, 11, 8, 3000);
	void *w;
	assert_rc(mring_reserve(p, len, &w, 0), 0);
	tu_rec_fill(w, seq, len);
	assert_rc(mring_commit(p, len), 0);
}

static void get_record(struct mring *c, uint64_t seq)
{
	size_t len = tu_rec_len(seq, 11, 8, 3000);
	const void *rp;
	ssize_t n = mring_peek(c, &rp, 0);
	if (n != (ssize_t)len || tu_rec_check(rp, seq, len) >= 0)
		fail_msg("record %llu: peek %zd (%s), want %zu bytes",
		         (unsigned long long)seq, n, tu_rcstr(n), len);
	assert_rc(mring_release(c, 0), 0);
}

/* ---- resume after close --------------------------------------------------- */

static void test_resume_bytes(void **state)
{
	TU_PATH(path, "dur-bytes");
	struct mring *p, *c;
	uint64_t head = 0, pos = 0;
	const void *rp;

	(void)state;
	tu_create(path, cap16(), 0, 0);
	c = named(path, "reader");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	put_bytes(p, &head, 20000);
	for (int round = 0; round < 5; round++) {
		get_bytes(c, &pos, 1111 + (uint64_t)round * 777, 333);
		/* Peeked but not released: not consumed. */
		assert_true(mring_peek(c, &rp, 0) > 0);
		mring_close(c);
		c = named(path, "reader");
		assert_true(position(c) == pos);
	}
	get_bytes(c, &pos, head - pos, 4096);
	mring_close(p);
	assert_rc(mring_peek(c, &rp, 0), 0);
	mring_close(c);
	tu_rm(path);
}

static void test_resume_records(void **state)
{
	TU_PATH(path, "dur-rec");
	struct mring *p, *c;
	struct mring_consumer_info ci[2];
	struct mring_info in;
	const void *rp;
	uint64_t next = 0;

	(void)state;
	tu_create(path, cap16(), 3000, MRING_F_RECORDS);
	c = named(path, "reader");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	for (uint64_t s = 0; s < 15; s++)
		put_record(p, s);
	for (int round = 0; round < 4; round++) {
		uint64_t pos;
		for (int k = 0; k <= round; k++)
			get_record(c, next++);
		assert_true(mring_peek(c, &rp, 0) > 0); /* not released */
		pos = position(c);
		mring_close(c);
		assert_rc(mring_inspect(path, &in, ci, 2), 1);
		assert_string_equal(ci[0].name, "reader");
		assert_true(ci[0].durable == 1 && ci[0].alive == 0);
		assert_true(ci[0].position == pos);
		assert_true(ci[0].pid == getpid());
		c = named(path, "reader");
		assert_true(position(c) == pos);
		assert_rc(mring_inspect(path, &in, ci, 2), 1);
		assert_true(ci[0].alive == 1);
	}
	while (next < 15)
		get_record(c, next++);
	assert_rc(mring_peek(c, &rp, 0), -EAGAIN);
	mring_close(p);
	mring_close(c);
	tu_rm(path);
}

/* ---- resume after SIGKILL --------------------------------------------------- */

struct kjob {
	const char *path;
	bool records;
	uint64_t total; /* bytes or records in the ring */
	int fd;         /* reports: position after each release */
	bool stop;      /* deterministic: report once, then wait */
	uint64_t stop_at;
};

/* Release chunk after `pos`: a function of pos only. */
static size_t chunk_after(uint64_t pos)
{
	return 1 + (size_t)(tu_mix(pos * 3 + 1) % 700);
}

static int kill_reader(void *arg)
{
	const struct kjob *j = arg;
	struct mring *c;
	struct mring_stats st;
	uint64_t pos, seq = 0;
	int rc = open_named(j->path, "victim", MRING_START_OLDEST, &c);

	if (rc < 0)
		return tu_cfail(2, "open: %s", mring_strerror(rc));
	mring_stats(c, &st);
	pos = st.position;
	for (;;) {
		const void *rp;
		ssize_t n = mring_peek(c, &rp, 0);
		if (n == -EAGAIN || n == 0) {
			pause(); /* read everything: wait for the kill */
			continue;
		}
		if (n <= 0)
			return tu_cfail(3, "peek: %s", tu_rcstr(n));
		if (j->records) {
			if (j->stop && seq == j->stop_at) {
				tu_put_u64(j->fd, seq);
				pause(); /* with a record peeked, unreleased */
			}
			size_t len = tu_rec_len(seq, 11, 8, 3000);
			if ((size_t)n != len || tu_rec_check(rp, seq, len) >= 0)
				return tu_cfail(4, "bad record %llu",
				                (unsigned long long)seq);
			mring_release(c, 0);
			seq++;
			if (!j->stop)
				tu_put_u64(j->fd, seq);
		} else {
			size_t k = chunk_after(pos);
			if (j->stop && pos >= j->stop_at) {
				tu_put_u64(j->fd, pos);
				pause(); /* with bytes peeked, unreleased */
			}
			if (k > (size_t)n)
				k = (size_t)n;
			if (tu_check(rp, pos, k) >= 0)
				return tu_cfail(4, "bad byte near %llu",
				                (unsigned long long)pos);
			mring_release(c, k);
			pos += k;
			if (!j->stop)
				tu_put_u64(j->fd, pos);
		}
	}
}

/* Kill the reader; return its last report and check how it died. */
static uint64_t run_and_kill(struct kjob *j, unsigned reports)
{
	int fds[2];
	uint64_t v, last = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	j->fd = fds[1];
	pid = tu_spawn(kill_reader, j, 60);
	close(fds[1]);
	for (unsigned i = 0; i < reports; i++) {
		assert_int_equal(tu_get_u64_fd(fds[0], &v), 1);
		last = v;
	}
	assert_int_equal(tu_kill(pid), 128 + SIGKILL);
	while (tu_get_u64_fd(fds[0], &v) == 1)
		last = v;
	close(fds[0]);
	return last;
}

static void fill_ring(const char *path, bool records, uint64_t total)
{
	struct mring *p, *c;
	uint64_t head = 0;

	tu_create(path, cap16(), 3000, records ? MRING_F_RECORDS : 0);
	c = named(path, "victim"); /* registered at 0 */
	mring_close(c);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	if (records)
		for (uint64_t s = 0; s < total; s++)
			put_record(p, s);
	else
		put_bytes(p, &head, total);
	mring_close(p);
}

static void test_kill_bytes_deterministic(void **state)
{
	TU_PATH(path, "dur-kill");
	struct kjob j = {.path = path, .total = cap16(), .stop = true};
	struct mring *c;
	uint64_t at, pos;

	(void)state;
	fill_ring(path, false, j.total);
	j.stop_at = 12345;
	at = run_and_kill(&j, 1);
	assert_true(at >= 12345 && at < 12345 + 700);
	c = named(path, "victim");
	pos = position(c);
	assert_true(pos == at);
	get_bytes(c, &pos, j.total - pos, 999);
	mring_close(c);
	tu_rm(path);
}

static void test_kill_records_deterministic(void **state)
{
	TU_PATH(path, "dur-killr");
	struct kjob j = {.path = path,
	                 .records = true,
	                 .total = 20,
	                 .stop = true,
	                 .stop_at = 9};
	struct mring *c;

	(void)state;
	fill_ring(path, true, j.total);
	assert_true(run_and_kill(&j, 1) == 9);
	c = named(path, "victim");
	for (uint64_t s = 9; s < 20; s++)
		get_record(c, s);
	mring_close(c);
	tu_rm(path);
}

/* Killed while reading at full speed: the successor resumes at the last
 * reported position or one release after it, never elsewhere. */
static void test_kill_bytes_midstream(void **state)
{
	TU_PATH(path, "dur-killm");
	uint64_t seed = 2024;

	(void)state;
	for (int i = 0; i < 6; i++) {
		struct kjob j = {.path = path, .total = cap16()};
		struct mring *c;
		uint64_t last, pos;
		unsigned reports = 1 + (unsigned)(tu_rand(&seed) % 40);

		fill_ring(path, false, j.total);
		last = run_and_kill(&j, reports);
		/* The reader clamps its release to what peek returned, which
		 * is at least the window overlap (> 700) except at the end of
		 * the data. */
		uint64_t next = last + chunk_after(last);
		if (next > j.total)
			next = j.total;
		c = named(path, "victim");
		pos = position(c);
		if (pos != last && pos != next)
			fail_msg("resumed at %llu; last report %llu, next "
			         "release would end at %llu",
			         (unsigned long long)pos,
			         (unsigned long long)last,
			         (unsigned long long)next);
		get_bytes(c, &pos, j.total - pos, 4096);
		mring_close(c);
	}
	tu_rm(path);
}

/* ---- one attachment per name ----------------------------------------------- */

static int try_open_victim(void *arg)
{
	struct mring *c;
	int rc = open_named(arg, "victim", MRING_START_OLDEST, &c);
	if (rc == 0)
		mring_close(c);
	return rc == -EBUSY ? 0 : tu_cfail(1, "open: %s", tu_rcstr(rc));
}

static void test_name_busy(void **state)
{
	TU_PATH(path, "dur-busy");
	struct mring *c, *c2, *other;
	struct mring_info in;
	pid_t pid;

	(void)state;
	tu_create(path, cap16(), 0, 0);
	pid = tu_spawn(try_open_victim, path, 30);
	assert_int_equal(tu_wait(pid), 1); /* nobody holds it yet */
	c = named(path, "victim");
	assert_rc(open_named(path, "victim", MRING_START_OLDEST, &c2), -EBUSY);
	/* Another process; it has no handle from us (opened after fork). */
	mring_close(c);
	c = NULL;
	{
		int fds[2];
		uint64_t v;
		assert_int_equal(pipe(fds), 0);
		struct kjob j = {.path = path,
		                 .total = 0,
		                 .stop = true,
		                 .stop_at = 0,
		                 .fd = fds[1]};
		struct mring *p;
		assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
		put_bytes(p, &(uint64_t){0}, 100);
		mring_close(p);
		pid = tu_spawn(kill_reader, &j, 60);
		close(fds[1]);
		assert_int_equal(tu_get_u64_fd(fds[0], &v), 1);
		close(fds[0]);
		assert_rc(
			open_named(path, "victim", MRING_START_OLDEST, &other),
			-EBUSY);
		assert_rc(mring_consumer_remove(path, "victim"), -EBUSY);
		assert_int_equal(tu_kill(pid), 128 + SIGKILL);
	}
	/* Its lock died with it. */
	assert_rc(mring_inspect(path, &in, NULL, 0), 1);
	c = named(path, "victim");
	mring_close(c);
	tu_rm(path);
}

/* Names longer than MRING_NAME_MAX are refused, the longest one works. */
static void test_name_length(void **state)
{
	TU_PATH(path, "dur-name");
	char name[MRING_NAME_MAX + 2];
	struct mring_consumer_info ci[1];
	struct mring_info in;
	struct mring *c;

	(void)state;
	tu_create(path, cap16(), 0, 0);
	memset(name, 'q', sizeof name);
	name[MRING_NAME_MAX + 1] = 0;
	assert_true(open_named(path, name, 0, &c) < 0);
	name[MRING_NAME_MAX] = 0;
	c = named(path, name);
	mring_close(c);
	assert_rc(mring_inspect(path, &in, ci, 1), 1);
	assert_string_equal(ci[0].name, name);
	tu_rm(path);
}

/* ---- removal ----------------------------------------------------------------- */

static void test_remove(void **state)
{
	TU_PATH(path, "dur-rm");
	struct mring *p, *c, *keep;
	struct mring_consumer_info ci[4];
	struct mring_info in;
	uint64_t head = 0, kpos = 0;
	void *w;

	(void)state;
	tu_create(path, cap16(), 0, 0);
	c = named(path, "gone");
	keep = named(path, "keep");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	put_bytes(p, &head, cap16());
	assert_rc(mring_reserve(p, 1, &w, 0), -EAGAIN);
	get_bytes(keep, &kpos, cap16(), 5000); /* "gone" still holds it */
	assert_rc(mring_reserve(p, 1, &w, 0), -EAGAIN);

	assert_rc(mring_consumer_remove(path, "gone"), -EBUSY);
	assert_rc(mring_consumer_remove(path, "nobody"), -ENOENT);
	assert_rc_in(mring_consumer_remove(path, ""), -ENOENT, -EINVAL);
	mring_close(c);
	assert_rc(mring_inspect(path, &in, ci, 4), 2);
	assert_rc(mring_consumer_remove(path, "gone"), 0);
	assert_rc(mring_consumer_remove(path, "gone"), -ENOENT);
	assert_rc(mring_inspect(path, &in, ci, 4), 1);
	assert_string_equal(ci[0].name, "keep");

	/* No longer held back: a whole capacity fits again. */
	put_bytes(p, &head, cap16());
	assert_rc(mring_reserve(p, 1, &w, 0), -EAGAIN); /* "keep" */
	get_bytes(keep, &kpos, cap16(), 5000);

	/* The name can be used afresh; it starts at the oldest data. */
	c = named(path, "gone");
	assert_true(position(c) >= head - cap16());
	mring_close(c);
	mring_close(keep);
	mring_close(p);
	tu_rm(path);
}

/* A consumer whose process was killed can be removed. */
static void test_remove_dead(void **state)
{
	TU_PATH(path, "dur-rmdead");
	struct kjob j = {.path = path, .total = 0, .stop = true, .stop_at = 0};
	struct mring *p;
	uint64_t head = 0;
	void *w;

	(void)state;
	fill_ring(path, false, 100);
	run_and_kill(&j, 1);
	assert_rc(mring_consumer_remove(path, "victim"), 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	{
		struct mring_stats st;
		assert_rc(mring_stats(p, &st), 0);
		head = st.head;
	}
	put_bytes(p, &head, 3 * cap16());
	assert_rc(mring_reserve(p, 1, &w, 0), 0);
	mring_close(p);
	tu_rm(path);
}

/* ---- start position ------------------------------------------------------------ */

static void test_start_newest(void **state)
{
	TU_PATH(path, "dur-new");
	struct mring *p, *c, *o;
	uint64_t head = 0, pos;
	const void *rp;

	(void)state;
	tu_create(path, cap16(), 0, 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	put_bytes(p, &head, 5000);

	assert_rc(open_named(path, "late", MRING_START_NEWEST, &c), 0);
	assert_true(position(c) == 5000);
	assert_rc(mring_peek(c, &rp, 0), -EAGAIN);
	assert_rc(
		mring_open(path, MRING_CONSUMER,
	                   &(struct mring_config){.start = MRING_START_NEWEST},
	                   &o),
		0);
	assert_true(position(o) == 5000);
	/* START_OLDEST observer sees everything. */
	{
		struct mring *old;
		assert_rc(mring_open(path, MRING_CONSUMER, NULL, &old), 0);
		assert_true(position(old) == 0);
		mring_close(old);
	}
	put_bytes(p, &head, 3000);
	pos = 5000;
	get_bytes(c, &pos, 3000, 777);
	pos = 5000;
	get_bytes(o, &pos, 3000, 777);
	mring_close(c);
	mring_close(o);

	/* A stored position wins over `start`. */
	put_bytes(p, &head, 1000);
	assert_rc(open_named(path, "late", MRING_START_NEWEST, &c), 0);
	assert_true(position(c) == 8000);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/* ---- slots ----------------------------------------------------------------------- */

static void test_no_slot(void **state)
{
	TU_PATH(path, "dur-slots");
	struct mring_config cfg = tu_cfg(cap16(), 0, 0);
	struct mring *a, *b, *x;

	(void)state;
	cfg.max_consumers = 2;
	assert_rc(mring_create(path, &cfg), 0);
	a = named(path, "a");
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &b), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &x), MRING_ENOSLOT);
	assert_rc(open_named(path, "c", 0, &x), MRING_ENOSLOT);
	mring_close(b); /* an observer frees its slot */
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &b), 0);
	mring_close(b);
	mring_close(a); /* a durable consumer keeps it */
	assert_rc(open_named(path, "c", 0, &x), 0);
	assert_rc(open_named(path, "d", 0, &b), MRING_ENOSLOT);
	mring_close(x);
	assert_rc(mring_consumer_remove(path, "a"), 0);
	assert_rc(open_named(path, "d", 0, &b), 0);
	mring_close(b);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resume_bytes),
		cmocka_unit_test(test_resume_records),
		cmocka_unit_test(test_kill_bytes_deterministic),
		cmocka_unit_test(test_kill_records_deterministic),
		cmocka_unit_test(test_kill_bytes_midstream),
		cmocka_unit_test(test_name_busy),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_remove_dead),
		cmocka_unit_test(test_start_newest),
		cmocka_unit_test(test_no_slot),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
