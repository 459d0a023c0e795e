/*
 * Getting past damage (mring_skip) and registering a durable consumer
 * without opening it (mring_consumer_add).
 *
 * Damage is made by writing into the ring file under a live producer (a
 * CRC ring, so a flipped payload byte fails the record's check): the
 * consumer stops with MRING_ECORRUPT, skips, reads every following record,
 * and the loss is counted; a durable consumer's new position survives a
 * reopen.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NREC 100

static size_t rec_len(uint64_t seq)
{
	return tu_rec_len(seq, 11, 8, 300);
}

/* Bytes of stamp in each record: 8 in a ring with MRING_F_TIMESTAMPS. */
static uint64_t stamp_bytes;

/* Stream position of record `seq` (records written from 0). */
static uint64_t rec_pos(uint64_t seq)
{
	uint64_t pos = 0;

	for (uint64_t i = 0; i < seq; i++)
		pos += tu_rec_size(rec_len(i) + stamp_bytes);
	return pos;
}

static void write_records(struct mring *p, uint64_t from, uint64_t to)
{
	uint8_t buf[512];

	for (uint64_t s = from; s < to; s++) {
		size_t len = rec_len(s);
		tu_rec_fill(buf, s, len);
		assert_rc(mring_write(p, buf, len, 0), (ssize_t)len);
	}
}

/* Flip one byte at offset `off` of record `seq` (0: its header). */
static void damage(const char *path, uint64_t seq, uint64_t off)
{
	uint64_t at = tu_get_u64(path, TU_OFF_DATA_OFFSET) + rec_pos(seq) + off;
	uint8_t b;

	assert_int_equal(tu_pread(path, at, &b, 1), 0);
	b ^= 0x5a;
	assert_int_equal(tu_pwrite(path, at, &b, 1), 0);
}

static struct mring *open_named(const char *path, const char *name)
{
	struct mring_config cfg;
	struct mring *c;

	mring_config_init(&cfg);
	cfg.consumer_name = name;
	assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
	return c;
}

static void read_range(struct mring *c, uint64_t from, uint64_t to)
{
	uint8_t buf[512];

	for (uint64_t s = from; s < to; s++) {
		ssize_t n = mring_read(c, buf, sizeof buf, 0);
		assert_rc(n, (ssize_t)rec_len(s));
		assert_int_equal(tu_rec_check(buf, s, (size_t)n), -1);
	}
}

static void test_skip_one_record(void **state)
{
	(void)state;
	TU_PATH(path, "skip.ring");
	struct mring_stats st;
	struct mring *p, *c;
	uint8_t buf[512];
	uint64_t bytes, recs;

	tu_create(path, 64 * (uint64_t)tu_page(), 512,
	          MRING_F_RECORDS | MRING_F_CRC);
	c = open_named(path, "d");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	write_records(p, 0, NREC);
	damage(path, 40, TU_REC_HDR + 3); /* a payload byte */
	/* Good data is never skipped. */
	assert_rc(mring_skip(c, &bytes, &recs), -EINVAL);
	read_range(c, 0, 40);
	assert_rc(mring_read(c, buf, sizeof buf, 0), MRING_ECORRUPT);
	assert_rc(mring_read(c, buf, sizeof buf, 0), MRING_ECORRUPT);
	assert_rc(mring_skip(c, &bytes, &recs), 0);
	assert_int_equal(bytes, tu_rec_size(rec_len(40)));
	assert_int_equal(recs, 1);
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.records_lost, 1);
	assert_int_equal(st.bytes_lost, bytes);
	assert_int_equal(st.skips, 1);
	/* The new position is durable: a reopen resumes after the damage. */
	mring_close(c);
	c = open_named(path, "d");
	read_range(c, 41, NREC);
	assert_rc(mring_read(c, buf, sizeof buf, 0), -EAGAIN);
	/* And the producer goes on. */
	write_records(p, NREC, NREC + 5);
	read_range(c, NREC, NREC + 5);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/*
 * Three damaged records in a row, headers included (length, record
 * number, and byte 20: payload, or the stamp with MRING_F_TIMESTAMPS):
 * skipped together to the first that verifies (and whose successors do).
 */
static void skip_run(const char *path, unsigned flags)
{
	struct mring *p, *c;
	uint8_t buf[512];
	uint64_t bytes, recs;

	stamp_bytes = flags & MRING_F_TIMESTAMPS ? 8 : 0;
	tu_create(path, 64 * (uint64_t)tu_page(), 512, MRING_F_RECORDS | flags);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	write_records(p, 0, NREC);
	damage(path, 10, 0);  /* length */
	damage(path, 11, 9);  /* record number */
	damage(path, 12, 20); /* payload, or the stamp */
	read_range(c, 0, 10);
	assert_rc(mring_read(c, buf, sizeof buf, 0), MRING_ECORRUPT);
	assert_rc(mring_skip(c, &bytes, &recs), 0);
	assert_int_equal(bytes, rec_pos(13) - rec_pos(10));
	assert_int_equal(recs, 3);
	read_range(c, 13, NREC);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
	stamp_bytes = 0;
}

static void test_skip_run(void **state)
{
	(void)state;
	TU_PATH(path, "run.ring");
	skip_run(path, MRING_F_CRC);
}

/* With timestamps (format 2) and no CRC, the check word covers length,
 * number and stamp: mring_skip's search for the next intact record must
 * count the stamp in. */
static void test_skip_run_timestamps(void **state)
{
	(void)state;
	TU_PATH(path, "runts.ring");
	skip_run(path, MRING_F_TIMESTAMPS);
}

/* Damage in the newest record: nothing after it verifies; skip to head
 * and read what comes next. */
static void test_skip_to_head(void **state)
{
	(void)state;
	TU_PATH(path, "head.ring");
	struct mring *p, *c;
	uint8_t buf[512];
	uint64_t bytes, recs;

	tu_create(path, 64 * (uint64_t)tu_page(), 512,
	          MRING_F_RECORDS | MRING_F_CRC);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	c = open_named(path, "h");
	write_records(p, 0, 20);
	damage(path, 19, TU_REC_HDR + 1);
	read_range(c, 0, 19);
	assert_rc(mring_read(c, buf, sizeof buf, 0), MRING_ECORRUPT);
	assert_rc(mring_skip(c, &bytes, &recs), 0);
	assert_int_equal(bytes, tu_rec_size(rec_len(19)));
	assert_int_equal(recs, 1);
	assert_rc(mring_read(c, buf, sizeof buf, 0), -EAGAIN);
	write_records(p, 20, 30);
	read_range(c, 20, 30);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

static void test_skip_refused(void **state)
{
	(void)state;
	TU_PATH(path, "bytes.ring");
	struct mring *p, *c;

	tu_create(path, 16 * (uint64_t)tu_page(), 0, 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	assert_rc(mring_write(p, "abc", 3, 0), 3);
	assert_rc(mring_skip(c, NULL, NULL), -EINVAL); /* byte ring */
	assert_rc(mring_skip(p, NULL, NULL), MRING_EROLE);
	assert_rc(mring_skip(NULL, NULL, NULL), -EINVAL);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/* ---- mring_consumer_add ------------------------------------------------- */

static void test_add_holds_back(void **state)
{
	(void)state;
	TU_PATH(path, "add.ring");
	struct mring_consumer_info ci[2];
	struct mring_info info;
	struct mring *p, *c;
	uint8_t buf[512];

	tu_create(path, 16 * (uint64_t)tu_page(), 512, MRING_F_RECORDS);
	assert_rc(mring_consumer_add(path, "late", MRING_START_OLDEST), 0);
	assert_rc(mring_consumer_add(path, "late", MRING_START_OLDEST),
	          -EEXIST);
	assert_rc(mring_consumer_add(path, "", MRING_START_OLDEST), -EINVAL);
	assert_rc(mring_consumer_add(path, "x", 7), -EINVAL);
	assert_rc(mring_inspect(path, &info, ci, 2), 1);
	assert_string_equal(ci[0].name, "late");
	assert_int_equal(ci[0].durable, 1);
	assert_int_equal(ci[0].alive, 0);
	/* Back-pressure: the producer stops a capacity ahead of it. */
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	uint64_t s = 0;
	ssize_t n;
	for (;; s++) {
		size_t len = rec_len(s);
		tu_rec_fill(buf, s, len);
		n = mring_write(p, buf, len, 0);
		if (n < 0)
			break;
		assert_true(s < 100000);
	}
	assert_rc(n, -EAGAIN);
	assert_true(rec_pos(s) <= 16 * (uint64_t)tu_page());
	assert_true(rec_pos(s + 1) > 16 * (uint64_t)tu_page() - 400);
	/* Opening it by name resumes at the registered position. */
	c = open_named(path, "late");
	read_range(c, 0, 1);
	mring_close(c);
	/* NEWEST: only what comes after the registration. */
	assert_rc(mring_consumer_add(path, "new", MRING_START_NEWEST), 0);
	c = open_named(path, "late");
	read_range(c, 1, s);
	mring_close(c);
	write_records(p, s, s + 3);
	c = open_named(path, "new");
	read_range(c, s, s + 3);
	assert_rc(mring_read(c, buf, sizeof buf, 0), -EAGAIN);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

#define RACE_RECORDS 200000

/* Child: write without pause (no durable consumer at first: it laps). */
static int racing_producer(void *arg)
{
	const char *path = arg;
	struct mring *p;
	uint8_t buf[512];
	int rc = mring_open(path, MRING_PRODUCER, NULL, &p);

	if (rc < 0)
		return tu_cfail(1, "open: %s", tu_rcstr(rc));
	for (uint64_t s = 0; s < RACE_RECORDS; s++) {
		size_t len = rec_len(s);
		tu_rec_fill(buf, s, len);
		ssize_t n = mring_write(p, buf, len, -1);
		if (n != (ssize_t)len)
			return tu_cfail(2, "write: %s", tu_rcstr(n));
	}
	mring_close(p);
	return 0;
}

/* Registered while a producer in another process overwrites the oldest
 * data: the consumer then reads an unbroken run to the end (the join
 * handshake kept its data), never lapped. */
static void test_add_while_writing(void **state)
{
	(void)state;
	TU_PATH(path, "race.ring");
	struct mring_stats st;
	struct mring *c;
	uint8_t buf[512];

	tu_create(path, 16 * (uint64_t)tu_page(), 512, MRING_F_RECORDS);
	pid_t pid = tu_spawn(racing_producer, path, 120);
	/* Once it has lapped the ring at least once (bounded wait). */
	for (int i = 0; i < 5000 && tu_get_u64(path, TU_OFF_HEAD) <
	                                    32 * (uint64_t)tu_page();
	     i++)
		tu_sleep_ms(1);
	assert_rc(mring_consumer_add(path, "mid", MRING_START_OLDEST), 0);
	c = open_named(path, "mid");
	ssize_t n = mring_read(c, buf, sizeof buf, -1);
	assert_true(n > 0);
	uint64_t s = tu_rec_seq(buf);
	for (;;) {
		assert_rc(n, (ssize_t)rec_len(s));
		assert_int_equal(tu_rec_check(buf, s, (size_t)n), -1);
		s++;
		n = mring_read(c, buf, sizeof buf, -1);
		if (n == 0)
			break;
	}
	assert_int_equal(s, RACE_RECORDS);
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.lapped, 0);
	assert_int_equal(tu_wait(pid), 0);
	mring_close(c);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_skip_one_record),
		cmocka_unit_test(test_skip_run),
		cmocka_unit_test(test_skip_run_timestamps),
		cmocka_unit_test(test_skip_to_head),
		cmocka_unit_test(test_skip_refused),
		cmocka_unit_test(test_add_holds_back),
		cmocka_unit_test(test_add_while_writing),
	};
	tu_dir();
	alarm(240); /* watchdog */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
