/*
 * The ABI contract of mring.h ("ABI and versions"): the public structs
 * keep their sizes and field offsets, the library zeroes their reserved
 * words and writes arrays of mring_consumer_info at their declared stride;
 * and the documented edges of the lifetime calls: mring_stats on NULL,
 * the consumer name needed only during mring_open, mring_close not
 * syncing. (tests/abi_symbols.sh checks the exported symbols.)
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Sizes and offsets as shipped in 0.1 (LP64). */
static void test_layout(void **state)
{
	(void)state;
#if defined(__LP64__)
	assert_int_equal(sizeof(struct mring_config), 96);
	assert_int_equal(sizeof(struct mring_stats), 336);
	assert_int_equal(sizeof(struct mring_info), 256);
	assert_int_equal(sizeof(struct mring_consumer_info), 128);
	assert_int_equal(offsetof(struct mring_info, head), 48);
	assert_int_equal(offsetof(struct mring_info, synced), 64);
	assert_int_equal(offsetof(struct mring_info, created_ns), 88);
	assert_int_equal(offsetof(struct mring_info, cache_bytes), 96);
	assert_int_equal(offsetof(struct mring_info, cached_bytes), 96);
	assert_int_equal(offsetof(struct mring_consumer_info, position), 32);
	assert_int_equal(offsetof(struct mring_consumer_info, pid), 48);
#else
	skip();
#endif
}

static int all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/*
 * mring_inspect fills every byte it owns: reserved words read 0 (what a
 * field added later means when an older library fills the struct), and it
 * writes consumer entries at sizeof(struct mring_consumer_info) apart,
 * no further than ncons.
 */
static void test_inspect_reserved_and_stride(void **state)
{
	(void)state;
	TU_PATH(path, "abi.r");
	tu_create(path, 1 << 20, 0, 0);
	const char *names[] = {"alpha", "beta", "gamma"};
	for (int i = 0; i < 3; i++) {
		struct mring_config cfg;
		struct mring *r;
		mring_config_init(&cfg);
		cfg.consumer_name = names[i];
		assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &r), 0);
		mring_close(r);
	}
	struct mring_info info;
	struct mring_consumer_info cons[4];
	memset(&info, 0xa5, sizeof(info));
	memset(cons, 0xa5, sizeof(cons));
	assert_rc(mring_inspect(path, &info, cons, 3), 3);
	assert_true(all_zero(info.reserved_, sizeof(info.reserved_)));
	assert_int_equal(info.consumers, 3);
	assert_true(info.cache_bytes == info.cached_bytes);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(cons[i].name, names[i]);
		assert_int_equal(cons[i].durable, 1);
		assert_int_equal(cons[i].reserved_i_, 0);
		assert_true(
			all_zero(cons[i].reserved_, sizeof(cons[i].reserved_)));
	}
	/* The entry past ncons is untouched. */
	unsigned char untouched[sizeof(cons[3])];
	memset(untouched, 0xa5, sizeof(untouched));
	assert_memory_equal(&cons[3], untouched, sizeof(untouched));
	tu_rm(path);
}

/* Documented: -EINVAL on NULL, never "returns 0" blindly. */
static void test_stats_null(void **state)
{
	(void)state;
	struct mring_stats st;
	TU_PATH(path, "stats.r");
	tu_create(path, 1 << 20, 0, 0);
	struct mring *r;
	assert_rc(mring_stats(NULL, &st), -EINVAL);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &r), 0);
	assert_rc(mring_stats(r, NULL), -EINVAL);
	memset(&st, 0xa5, sizeof(st));
	assert_rc(mring_stats(r, &st), 0);
	assert_true(all_zero(st.reserved_, sizeof(st.reserved_)));
	mring_close(r);
	tu_rm(path);
}

/* consumer_name is read only during mring_open: the ring keeps a copy. */
static void test_consumer_name_lifetime(void **state)
{
	(void)state;
	TU_PATH(path, "name.r");
	tu_create(path, 1 << 20, 0, 0);
	char name[MRING_NAME_MAX + 1];
	struct mring_config cfg;
	struct mring *r;
	mring_config_init(&cfg);
	snprintf(name, sizeof(name), "keeper");
	cfg.consumer_name = name;
	assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &r), 0);
	memset(name, 'X', sizeof(name) - 1); /* the caller reuses it */
	memset(&cfg, 0xa5, sizeof(cfg));
	mring_close(r);
	struct mring_info info;
	struct mring_consumer_info ci;
	assert_rc(mring_inspect(path, &info, &ci, 1), 1);
	assert_string_equal(ci.name, "keeper");
	tu_rm(path);
}

/* mring_close does not sync; mring_sync does. */
static void test_close_does_not_sync(void **state)
{
	(void)state;
	TU_PATH(path, "sync.r");
	tu_create(path, 1 << 20, 0, 0);
	static char buf[5000];
	struct mring_info info;
	struct mring *r;
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &r), 0);
	assert_rc(mring_write(r, buf, sizeof(buf), -1), sizeof(buf));
	mring_close(r);
	assert_rc(mring_inspect(path, &info, NULL, 0), 0);
	assert_int_equal(info.head, sizeof(buf));
	assert_int_equal(info.synced, 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &r), 0);
	assert_rc(mring_write(r, buf, sizeof(buf), -1), sizeof(buf));
	assert_rc(mring_sync(r), 0);
	mring_close(r);
	assert_rc(mring_inspect(path, &info, NULL, 0), 0);
	assert_int_equal(info.synced, 2 * sizeof(buf));
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_inspect_reserved_and_stride),
		cmocka_unit_test(test_stats_null),
		cmocka_unit_test(test_consumer_name_lifetime),
		cmocka_unit_test(test_close_does_not_sync),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
