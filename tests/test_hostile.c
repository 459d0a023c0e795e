/*
 * Regressions found by the fuzz targets (tests/fuzz): hostile positions
 * and record headers, in the file before open or written under a live
 * handle by another process. Each must give a clean error, never a crash,
 * an out-of-bounds or misaligned access (the ASan+UBSan build checks the
 * latter).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static const struct mring_config quiet = {
	.flags = MRING_F_NO_PREFETCH | MRING_F_NO_URING,
};

/* Append records `from` .. `to` - 1, of 20 bytes each; producer closed. */
static void make_records_more(const char *path, uint64_t from, uint64_t to)
{
	struct mring *p;
	uint8_t buf[20];

	assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &p), 0);
	for (uint64_t k = from; k < to; k++) {
		tu_rec_fill(buf, k, sizeof(buf));
		assert_rc(mring_write(p, buf, sizeof(buf), 0), sizeof(buf));
	}
	mring_close(p);
}

/* A record ring with `n` records of 20 bytes, producer closed. */
static void make_records(const char *path, int n)
{
	tu_create(path, 16 * (uint64_t)tu_page(), 100, MRING_F_RECORDS);
	make_records_more(path, 0, (uint64_t)n);
}

/*
 * Another process moves `tail` to a position inside a record under an
 * observer: the lapped observer reads the header there, misaligned.
 */
static void test_tail_inside_record_under_reader(void **state)
{
	TU_PATH(path, "tail-under");
	struct mring *c;
	const void *ptr;

	(void)state;
	make_records(path, 5);
	assert_rc(mring_open(path, MRING_CONSUMER, &quiet, &c), 0);
	assert_rc(mring_peek(c, &ptr, 0), 20);
	tu_set_u64(path, TU_OFF_TAIL, 4);
	assert_rc(mring_peek(c, &ptr, 0), MRING_ECORRUPT);
	mring_close(c);
	tu_rm(path);
}

/*
 * Another process moves `head` back behind a byte reader: peek must not
 * hand out the bytes beyond it (a length computed as head - position
 * wrapped around to nearly 2^64, clamped only by the window).
 */
static void test_head_back_under_reader(void **state)
{
	TU_PATH(path, "head-back");
	struct mring *p, *c;
	uint8_t buf[100];
	const void *ptr;

	(void)state;
	tu_create(path, 16 * (uint64_t)tu_page(), 0, 0);
	assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &p), 0);
	tu_fill(buf, 0, sizeof(buf));
	assert_rc(mring_write(p, buf, sizeof(buf), 0), sizeof(buf));
	mring_close(p);
	assert_rc(mring_open(path, MRING_CONSUMER, &quiet, &c), 0);
	assert_rc(mring_read(c, buf, sizeof(buf), 0), sizeof(buf));
	tu_set_u64(path, TU_OFF_HEAD, 10);
	assert_rc(mring_peek(c, &ptr, 0), MRING_ECORRUPT);
	mring_close(c);
	tu_rm(path);
}

/* A record ring whose positions are not record boundaries is refused by
 * every entry point, before anything reads a header there. */
static void test_misaligned_positions_refused(void **state)
{
	TU_PATH(path, "misaligned");
	static const uint64_t offs[] = {TU_OFF_TAIL, TU_OFF_HEAD, TU_OFF_SYNCED,
	                                TU_OFF_SLOTS + TU_SLOT_POS};
	struct mring_config named = quiet;
	struct mring_info in;
	struct mring *r;

	(void)state;
	named.consumer_name = "d";
	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		make_records(path, 5);
		/* A durable consumer "d" at 0 in slot 0, then the damage. */
		assert_rc(mring_open(path, MRING_CONSUMER, &named, &r), 0);
		mring_close(r);
		uint64_t v = tu_get_u64(path, offs[i]);
		tu_set_u64(path, offs[i], v ? v - 4 : 4);
		assert_rc(mring_inspect(path, &in, NULL, 0), MRING_ECORRUPT);
		assert_rc(mring_open(path, MRING_CONSUMER, &quiet, &r),
		          MRING_ECORRUPT);
		assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &r),
		          MRING_ECORRUPT);
		tu_rm(path);
	}
}

/*
 * A record that fails its check stops its readers where it is, every time
 * and across reopens (nothing is skipped without the application knowing);
 * the way on, as mring.h documents it: an observer reopens at the newest
 * data, a durable consumer is removed and added again there.
 */
static void test_damaged_record_stops_reader(void **state)
{
	TU_PATH(path, "damaged");
	struct mring_config named = quiet, newest = quiet;
	struct mring_stats st;
	struct mring_info in;
	struct mring *c, *o;
	uint8_t buf[100];

	(void)state;
	named.consumer_name = "d";
	newest.start = MRING_START_NEWEST;
	make_records(path, 0);
	/* Durable from record 0, then five records, the third damaged. */
	assert_rc(mring_open(path, MRING_CONSUMER, &named, &c), 0);
	mring_close(c);
	make_records_more(path, 0, 5);
	assert_rc(mring_inspect(path, &in, NULL, 0), 1);
	tu_set_u64(path, in.data_offset + 2 * tu_rec_size(20), ~0ull);

	assert_rc(mring_open(path, MRING_CONSUMER, &named, &c), 0);
	for (uint64_t k = 0; k < 2; k++) {
		assert_rc(mring_read(c, buf, sizeof(buf), 0), 20);
		assert_int_equal(tu_rec_seq(buf), k);
	}
	assert_rc(mring_read(c, buf, sizeof(buf), 0), MRING_ECORRUPT);
	assert_rc(mring_read(c, buf, sizeof(buf), 0), MRING_ECORRUPT);
	mring_close(c);
	assert_rc(mring_open(path, MRING_CONSUMER, &named, &c), 0);
	mring_stats(c, &st);
	assert_int_equal(st.position, 2 * tu_rec_size(20));
	assert_int_equal(st.records_lost, 0);
	assert_rc(mring_read(c, buf, sizeof(buf), 0), MRING_ECORRUPT);
	mring_close(c);

	/* The way on: start again at the newest data. */
	assert_rc(mring_consumer_remove(path, "d"), 0);
	named.start = MRING_START_NEWEST;
	assert_rc(mring_open(path, MRING_CONSUMER, &named, &c), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, &newest, &o), 0);
	make_records_more(path, 5, 8);
	for (uint64_t k = 5; k < 8; k++) {
		assert_rc(mring_read(c, buf, sizeof(buf), 0), 20);
		assert_int_equal(tu_rec_seq(buf), k);
		assert_rc(mring_read(o, buf, sizeof(buf), 0), 20);
		assert_int_equal(tu_rec_seq(buf), k);
	}
	assert_rc(mring_read(c, buf, sizeof(buf), 0), 0);
	assert_rc(mring_read(o, buf, sizeof(buf), 0), 0);
	mring_close(c);
	mring_close(o);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tail_inside_record_under_reader),
		cmocka_unit_test(test_head_back_under_reader),
		cmocka_unit_test(test_misaligned_positions_refused),
		cmocka_unit_test(test_damaged_record_stops_reader),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
