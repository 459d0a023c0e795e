/* Error codes, their messages, the version call and config defaults. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

struct code {
	int val;
	const char *name;
	const char *msg;
};

static const struct code codes[] = {
#define X(name, val, msg) {MRING_##name, #name, msg},
	MRING_ERRNO_MAP(X)
#undef X
};
#define NCODES (sizeof codes / sizeof codes[0])

/* Every MRING_E* code has its own message from the table. */
static void test_strerror_codes(void **state)
{
	(void)state;
	assert_true(NCODES >= 9);
	for (size_t i = 0; i < NCODES; i++) {
		const char *s = mring_strerror(codes[i].val);
		assert_true(codes[i].val < -1000);
		assert_non_null(s);
		assert_string_equal(s, codes[i].msg);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(codes[i].val, codes[j].val);
	}
	assert_string_equal(mring_strerror(MRING_ELAPPED),
	                    "consumer was lapped by the producer; data lost");
}

/* -errno and +errno give the C library's message. */
static void test_strerror_errno(void **state)
{
	(void)state;
	for (int e = 1; e < 134; e++) {
		char want[256];
		const char *neg = mring_strerror(-e);
		const char *pos = mring_strerror(e);

		snprintf(want, sizeof want, "%s", strerror(e));
		assert_non_null(neg);
		assert_non_null(pos);
		assert_true(neg[0] != 0 && pos[0] != 0);
		/* Numbers the C library does not know may read differently. */
		if (strncmp(want, "Unknown error", 13) == 0)
			continue;
		assert_string_equal(neg, want);
		assert_string_equal(pos, want);
	}
	assert_string_equal(mring_strerror(-EBUSY), strerror(EBUSY));
	assert_string_equal(mring_strerror(-EMSGSIZE), strerror(EMSGSIZE));
}

/* Anything else still gets a usable string. */
static void test_strerror_unknown(void **state)
{
	static const int odd[] = {
		0,    -1000, -1010,   -1100,   -4095,       -99999,    99999,
		1000, 1007,  INT_MIN, INT_MAX, INT_MIN + 1, -1001 - 64};
	(void)state;
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		const char *s = mring_strerror(odd[i]);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
	}
}

static void test_version(void **state)
{
	char want[64];

	(void)state;
	assert_non_null(mring_version());
	assert_string_equal(mring_version(), MRING_VERSION_STRING);
	snprintf(want, sizeof want, "%d.%d.%d", MRING_VERSION_MAJOR,
	         MRING_VERSION_MINOR, MRING_VERSION_PATCH);
	assert_string_equal(MRING_VERSION_STRING, want);
	/* 2: rings with MRING_F_TIMESTAMPS; the others are still 1. */
	assert_int_equal(MRING_FORMAT_VERSION, 2);
}

/* mring_config_init() writes out the documented defaults. */
static void test_config_init(void **state)
{
	struct mring_config c;

	(void)state;
	memset(&c, 0xa5, sizeof c);
	mring_config_init(&c);
	assert_true(c.capacity == (1ull << 30));
	/* max_record: 1 MiB, or 0 ("1 MiB clamped to the capacity") */
	assert_true(c.max_record == 0 || c.max_record == (1u << 20));
	assert_int_equal(c.max_consumers, 32);
	assert_int_equal(c.flags, 0);
	assert_null(c.consumer_name);
	assert_int_equal(c.start, MRING_START_OLDEST);
	assert_int_equal(c.mode, 0600);
	assert_true(c.window == 0 || c.window == (64u << 20));
	assert_null(c.progress);
	assert_null(c.progress_arg);
	for (size_t i = 0; i < sizeof(c.reserved_) / sizeof(c.reserved_[0]);
	     i++)
		assert_int_equal(c.reserved_[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_codes),
		cmocka_unit_test(test_strerror_errno),
		cmocka_unit_test(test_strerror_unknown),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_config_init),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
