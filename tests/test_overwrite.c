/*
 * Overwrite mode (flight recorder) and lapped consumers: the producer never
 * waits; a consumer that fell behind gets MRING_ELAPPED exactly once, the
 * stats account for exactly what it lost (records: the next record's number
 * is the records read plus records_lost; bytes: the position jumps by
 * bytes_lost), and it then reads intact, consecutive data to the end.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static uint64_t cap16(void)
{
	return 16 * (uint64_t)tu_page();
}

static size_t maxrec(void)
{
	return 2 * (size_t)tu_page() - 16;
}

/* Produce records first..last-1 with timeout 0: never refused. */
static void produce_records(struct mring *p, uint64_t first, uint64_t last)
{
	for (uint64_t s = first; s < last; s++) {
		size_t len = tu_rec_len(s, 3, 8, maxrec());
		void *w;
		assert_rc(mring_reserve(p, len, &w, 0), 0);
		tu_rec_fill(w, s, len);
		assert_rc(mring_commit(p, len), 0);
	}
}

static void read_record(struct mring *c, uint64_t seq)
{
	const void *rp;
	size_t len = tu_rec_len(seq, 3, 8, maxrec());

	assert_rc(mring_peek(c, &rp, 0), (ssize_t)len);
	if (tu_rec_check(rp, seq, len) >= 0)
		fail_msg("record %llu damaged", (unsigned long long)seq);
	assert_rc(mring_release(c, 0), 0);
}

/*
 * The consumer has read `done` records (position pos); the producer has
 * written `total` and closed. Check the loss report and read to the end.
 */
static void check_lapped_records(struct mring *c, uint64_t done, uint64_t pos,
                                 uint64_t total)
{
	struct mring_stats st;
	const void *rp;
	ssize_t n;
	uint64_t seq, consumed_before;

	assert_rc(mring_stats(c, &st), 0);
	assert_true(st.position == pos && st.lapped == 0);
	consumed_before = st.records_consumed;
	assert_rc(mring_peek(c, &rp, 0), MRING_ELAPPED);
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.lapped, 1);
	assert_true(st.records_lost > 0 && st.bytes_lost > 0);
	assert_true(st.position == pos + st.bytes_lost);
	assert_true(st.position >= st.tail && st.position <= st.head);
	assert_true(st.head - st.position <= cap16());

	/* Right after the loss: record number done + records_lost. */
	seq = done + st.records_lost;
	n = mring_peek(c, &rp, 0);
	assert_true(n >= 8);
	if (tu_rec_seq(rp) != seq)
		fail_msg("first record after the loss is %llu, expected %llu "
		         "(%llu read + %llu lost)",
		         (unsigned long long)tu_rec_seq(rp),
		         (unsigned long long)seq, (unsigned long long)done,
		         (unsigned long long)st.records_lost);
	while (seq < total)
		read_record(c, seq++);
	assert_rc(mring_peek(c, &rp, 0), 0);
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.lapped, 1);
	assert_true(st.records_consumed - consumed_before ==
	            total - done - st.records_lost);
	assert_true(st.position == st.head);
}

static void records_lapped(const char *name, unsigned flags)
{
	TU_PATH(path, "ow-rec");
	struct mring *p, *c;
	struct mring_stats st;
	uint64_t total;

	tu_create(path, cap16(), (uint32_t)maxrec(), MRING_F_RECORDS | flags);
	c = tu_consumer(path, name);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	produce_records(p, 0, 10);
	for (uint64_t s = 0; s < 10; s++)
		read_record(c, s);
	/* Several capacities while the consumer sleeps. */
	total = 10 + 6 * cap16() / (maxrec() / 2);
	produce_records(p, 10, total);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.records_produced == total);
	assert_true(st.producer_waits == 0);
	assert_rc(mring_stats(c, &st), 0);
	mring_close(p);
	check_lapped_records(c, 10, st.position, total);
	mring_close(c);
	tu_rm(path);
}

static void test_records_durable(void **state)
{
	(void)state;
	records_lapped("durable", MRING_F_OVERWRITE);
}

static void test_records_observer(void **state)
{
	(void)state;
	records_lapped(NULL, MRING_F_OVERWRITE | MRING_F_CRC);
}

/* Back-pressure mode: an observer does not hold the producer and may be
 * lapped too. */
static void test_records_observer_backpressure(void **state)
{
	(void)state;
	records_lapped(NULL, 0);
}

/* A durable consumer that was closed while it was lapped finds out when
 * it comes back. */
static void test_records_durable_reopened(void **state)
{
	TU_PATH(path, "ow-reopen");
	struct mring *p, *c;
	struct mring_stats st;
	uint64_t total = 10 + 8 * cap16() / (maxrec() / 2), pos;

	(void)state;
	tu_create(path, cap16(), (uint32_t)maxrec(),
	          MRING_F_RECORDS | MRING_F_OVERWRITE);
	c = tu_consumer(path, "away");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	produce_records(p, 0, 10);
	for (uint64_t s = 0; s < 7; s++)
		read_record(c, s);
	assert_rc(mring_stats(c, &st), 0);
	pos = st.position;
	mring_close(c);
	produce_records(p, 10, total);
	mring_close(p);
	c = tu_consumer(path, "away");
	check_lapped_records(c, 7, pos, total);
	mring_close(c);
	tu_rm(path);
}

static void bytes_lapped(const char *name, unsigned flags)
{
	TU_PATH(path, "ow-bytes");
	struct mring *p, *c;
	struct mring_stats st;
	const void *rp;
	uint64_t head = 0, pos, before;
	ssize_t n;

	tu_create(path, cap16(), (uint32_t)maxrec(), flags);
	c = tu_consumer(path, name);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	while (head < 5 * cap16() + 1234) {
		size_t len = 1 + (size_t)(tu_mix(head) % maxrec());
		void *w;
		assert_rc(mring_reserve(p, len, &w, 0), 0);
		tu_fill(w, head, len);
		assert_rc(mring_commit(p, len), 0);
		head += len;
		if (head < 1000) {
			/* peek (without releasing) at the start */
			n = mring_peek(c, &rp, 0);
			assert_true(n > 0);
			assert_true(tu_check(rp, 0, 1) < 0);
		}
	}
	mring_close(p);
	/* Position 0 was overwritten long ago: the consumer is lapped. */
	assert_rc(mring_stats(c, &st), 0);
	before = st.position;
	assert_true(before == 0);
	n = mring_peek(c, &rp, 0);
	assert_rc(n, MRING_ELAPPED);
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.lapped, 1);
	assert_true(st.bytes_lost > 0);
	pos = st.position;
	assert_true(pos == before + st.bytes_lost);
	assert_true(head - pos <= cap16());
	/* Intact and consecutive to the end. */
	for (;;) {
		n = mring_peek(c, &rp, 0);
		if (n == 0)
			break;
		assert_true(n > 0);
		if (tu_check(rp, pos, (size_t)n) >= 0)
			fail_msg("bad byte after the loss near %llu",
			         (unsigned long long)pos);
		assert_rc(mring_release(c, (size_t)n), 0);
		pos += (uint64_t)n;
	}
	assert_true(pos == head);
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.lapped, 1);
	assert_true(st.bytes_consumed + st.bytes_lost == head);
	mring_close(c);
	tu_rm(path);
}

static void test_bytes_durable(void **state)
{
	(void)state;
	bytes_lapped("durable", MRING_F_OVERWRITE);
}

static void test_bytes_observer_backpressure(void **state)
{
	(void)state;
	bytes_lapped(NULL, 0);
}

/* A lapped consumer that is told once keeps reading when the producer
 * keeps writing, and is lapped (and told) again later. */
static void test_lapped_twice(void **state)
{
	TU_PATH(path, "ow-twice");
	struct mring *p, *c;
	struct mring_stats st;
	const void *rp;
	uint64_t seq = 0, next = 0;

	(void)state;
	tu_create(path, cap16(), (uint32_t)maxrec(),
	          MRING_F_RECORDS | MRING_F_OVERWRITE);
	c = tu_consumer(path, NULL);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	for (int round = 1; round <= 3; round++) {
		uint64_t lost_before;
		produce_records(p, seq, seq + 4 * cap16() / (maxrec() / 2));
		seq += 4 * cap16() / (maxrec() / 2);
		assert_rc(mring_stats(c, &st), 0);
		lost_before = st.records_lost;
		assert_rc(mring_peek(c, &rp, 0), MRING_ELAPPED);
		assert_rc(mring_stats(c, &st), 0);
		assert_int_equal(st.lapped, round);
		next += st.records_lost - lost_before;
		while (next < seq)
			read_record(c, next++);
		assert_rc(mring_peek(c, &rp, 0), -EAGAIN);
	}
	mring_close(p);
	mring_close(c);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_durable),
		cmocka_unit_test(test_records_observer),
		cmocka_unit_test(test_records_observer_backpressure),
		cmocka_unit_test(test_records_durable_reopened),
		cmocka_unit_test(test_bytes_durable),
		cmocka_unit_test(test_bytes_observer_backpressure),
		cmocka_unit_test(test_lapped_twice),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
