/*
 * mring_sync: returns 0 for every role and makes everything committed so
 * far durable, which mring_inspect shows as synced == head. Also the stats
 * counters that follow from a known sequence of calls.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void sync_mode(unsigned flags)
{
	TU_PATH(path, "sync");
	struct mring_info in;
	struct mring *p, *c, *o;
	uint8_t buf[700];

	tu_create(path, 64 * (uint64_t)tu_page(), 1000, flags);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER,
	                     &(struct mring_config){.consumer_name = "s"}, &c),
	          0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &o), 0);
	assert_rc(mring_sync(p), 0); /* nothing yet */
	assert_rc(mring_inspect(path, &in, NULL, 0), 2);
	assert_true(in.synced == 0 && in.head == 0);

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 20; i++) {
			tu_fill(buf, 0, sizeof buf);
			assert_rc(mring_write(p, buf, 100 + (size_t)i * 30, 0),
			          (ssize_t)(100 + i * 30));
		}
		assert_rc(mring_inspect(path, &in, NULL, 0), 2);
		assert_true(in.synced <= in.head);
		switch (round) {
		case 0:
			assert_rc(mring_sync(p), 0);
			break;
		case 1:
			assert_rc(mring_sync(c), 0);
			break;
		default:
			assert_rc(mring_sync(o), 0);
			break;
		}
		assert_rc(mring_inspect(path, &in, NULL, 0), 2);
		if (in.synced != in.head)
			fail_msg("after mring_sync by %s: synced %llu, head "
			         "%llu",
			         round == 0   ? "the producer"
			         : round == 1 ? "a consumer"
			                      : "an observer",
			         (unsigned long long)in.synced,
			         (unsigned long long)in.head);
	}
	/* Consumers read; syncing again changes nothing. */
	while (mring_read(c, buf, sizeof buf, 0) > 0)
		;
	assert_rc(mring_sync(c), 0);
	assert_rc(mring_sync(p), 0);
	assert_rc(mring_inspect(path, &in, NULL, 0), 2);
	assert_true(in.synced == in.head);
	mring_close(o);
	mring_close(c);
	mring_close(p);
	/* After close too, the file says what is durable. */
	assert_rc(mring_inspect(path, &in, NULL, 0), 1);
	assert_true(in.synced <= in.head);
	tu_rm(path);
}

static void test_sync_bytes(void **state)
{
	(void)state;
	sync_mode(0);
}

static void test_sync_records(void **state)
{
	(void)state;
	sync_mode(MRING_F_RECORDS | MRING_F_CRC);
}

/* Counters after a known sequence of calls. */
static void test_stats(void **state)
{
	TU_PATH(path, "stats");
	struct mring_stats st;
	struct mring *p, *c;
	const void *rp;
	uint8_t buf[100];

	(void)state;
	memset(buf, 7, sizeof buf);
	tu_create(path, 64 * (uint64_t)tu_page(), 1000, MRING_F_RECORDS);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	for (int i = 0; i < 10; i++)
		assert_rc(mring_write(p, buf, 10 + (size_t)i, 0), 10 + i);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.records_produced == 10);
	/* payload bytes, or bytes of the stream: not specified */
	assert_true(st.bytes_produced == 145 || st.bytes_produced == 344);
	assert_true(st.capacity == 64 * (uint64_t)tu_page());
	assert_true(st.head == st.position);
	for (int i = 0; i < 4; i++) {
		assert_rc(mring_peek(c, &rp, 0), 10 + i);
		assert_rc(mring_release(c, 0), 0);
	}
	assert_rc(mring_stats(c, &st), 0);
	assert_true(st.records_consumed == 4);
	assert_true(st.lag == st.head - st.position);
	assert_true(st.lag > 0);
	assert_true(st.lapped == 0 && st.bytes_lost == 0);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_bytes),
		cmocka_unit_test(test_sync_records),
		cmocka_unit_test(test_stats),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
