/*
 * Batches: mring_peek_many returns up to N whole consecutive records,
 * mring_release_many releases them (or the first n) with one store; the
 * stats count them; in overwrite mode a batch lapped while it was read is
 * reported (MRING_ELAPPED) and counted as lost. mring_writev writes what
 * mring_write writes for the concatenation, byte for byte.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define MAXLEN 700

static size_t rec_len(uint64_t seq)
{
	return tu_rec_len(seq, 5, 1, MAXLEN);
}

static void produce(struct mring *p, uint64_t from, uint64_t to)
{
	for (uint64_t s = from; s < to; s++) {
		uint8_t buf[MAXLEN];
		size_t len = rec_len(s);
		tu_rec_fill(buf, s, len);
		assert_rc(mring_write(p, buf, len, 0), (ssize_t)len);
	}
}

static void check_msgs(const struct mring_msg *m, ssize_t n, uint64_t first,
                       bool ts)
{
	for (ssize_t i = 0; i < n; i++) {
		uint64_t s = first + (uint64_t)i;
		if (m[i].seq != s || m[i].len != rec_len(s) ||
		    tu_rec_check(m[i].ptr, s, m[i].len) >= 0)
			fail_msg("batch entry %zd: record %llu", i,
			         (unsigned long long)s);
		assert_true(ts ? m[i].ts != 0 : m[i].ts == 0);
		if (ts && i)
			assert_true(m[i].ts >= m[i - 1].ts);
	}
}

static void check_batches(unsigned flags)
{
	TU_PATH(path, "batch");
	struct mring_msg m[64];
	struct mring_stats st;
	struct mring *p, *c;
	const void *rp;
	bool ts = flags & MRING_F_TIMESTAMPS;

	tu_create(path, 64 * 4096, MAXLEN, MRING_F_RECORDS | flags);
	c = tu_consumer(path, "b");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_peek_many(c, m, 64, 0), -EAGAIN);
	assert_rc(mring_release_many(c, 0), -EINVAL); /* no batch */
	produce(p, 0, 100);

	/* Ten at a time, released together. */
	ssize_t n = mring_peek_many(c, m, 10, 0);
	assert_rc(n, 10);
	check_msgs(m, n, 0, ts);
	struct mring_where w;
	assert_rc(mring_tell(c, &w), 0);
	assert_true(w.seq == 0 && (!ts || w.ts == m[0].ts));
	/* A batch is not released one by one. */
	assert_rc(mring_release(c, 0), -EINVAL);
	assert_rc(mring_release_many(c, 11), -EINVAL);
	uint64_t bytes = 0;
	for (int i = 0; i < 10; i++)
		bytes += m[i].len;
	assert_rc(mring_release_many(c, 10), 0);
	assert_rc(mring_release_many(c, 1), -EINVAL); /* batch over */
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.records_consumed, 10);
	assert_int_equal(st.bytes_consumed, bytes);
	assert_int_equal(st.batches, 1);
	assert_rc(mring_tell(c, &w), 0);
	assert_int_equal(w.seq, 10);

	/* Part of a batch: the rest comes again. */
	n = mring_peek_many(c, m, 20, 0);
	assert_rc(n, 20);
	check_msgs(m, n, 10, ts);
	assert_rc(mring_release_many(c, 5), 0);
	assert_rc(mring_peek(c, &rp, 0), (ssize_t)rec_len(15));
	assert_true(tu_rec_check(rp, 15, rec_len(15)) < 0);
	/* A peek ends a batch; a batch ends a peek. */
	n = mring_peek_many(c, m, 64, 0);
	assert_true(n >= 1);
	check_msgs(m, n, 15, ts);
	assert_rc(mring_peek(c, &rp, 0), (ssize_t)rec_len(15));
	assert_rc(mring_release_many(c, 1), -EINVAL);
	assert_rc(mring_release(c, 0), 0);
	/* The rest in large batches: all of it, in order. */
	uint64_t next = 16;
	while (next < 100) {
		n = mring_peek_many(c, m, 64, 0);
		assert_true(n >= 1 && n <= 64);
		check_msgs(m, n, next, ts);
		assert_rc(mring_release_many(c, (size_t)n), 0);
		next += (uint64_t)n;
	}
	assert_int_equal(next, 100);
	assert_rc(mring_peek_many(c, m, 64, 0), -EAGAIN);
	/* Zero releases nothing and ends the batch. */
	produce(p, 100, 102);
	assert_rc(mring_peek_many(c, m, 64, 0), 2);
	assert_rc(mring_release_many(c, 0), 0);
	assert_rc(mring_release_many(c, 2), -EINVAL);
	assert_rc(mring_peek_many(c, m, 64, 0), 2);
	assert_rc(mring_release_many(c, 2), 0);
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.records_consumed, 102);
	/* End of stream. */
	mring_close(p);
	assert_rc(mring_peek_many(c, m, 64, 0), 0);
	/* Bad arguments. */
	assert_rc(mring_peek_many(c, NULL, 64, 0), -EINVAL);
	assert_rc(mring_peek_many(c, m, 0, 0), -EINVAL);
	mring_close(c);
}

static void test_batches(void **state)
{
	(void)state;
	check_batches(0);
	check_batches(MRING_F_CRC);
	check_batches(MRING_F_TIMESTAMPS);
}

/* Large batches across window changes and laps (a 1 MiB window). */
static void test_batches_windows(void **state)
{
	TU_PATH(path, "batchwin");
	struct mring_config cfg = tu_cfg(4ull << 20, MAXLEN, MRING_F_RECORDS);
	struct mring_msg *m = calloc(5000, sizeof(*m));
	struct mring *p, *c;
	uint64_t next = 0, made = 0;

	(void)state;
	cfg.window = 1u << 20;
	tu_rm(path);
	assert_rc(mring_create(path, &cfg), 0);
	c = tu_consumer(path, "w");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	while (next < 40000) {
		if (made < 40000) {
			produce(p, made, made + 2000);
			made += 2000;
		}
		/* Asks for more than the limit: 4096 at most. */
		ssize_t n = mring_peek_many(c, m, 5000, 0);
		assert_true(n >= 1 && n <= 4096);
		check_msgs(m, n, next, false);
		assert_rc(mring_release_many(c, (size_t)n), 0);
		next += (uint64_t)n;
	}
	free(m);
	mring_close(p);
	mring_close(c);
}

/* Overwrite mode: a batch lapped while it is read is not delivered. */
static void test_batch_lapped(void **state)
{
	TU_PATH(path, "lapped");
	struct mring_msg m[32];
	struct mring_stats st;
	struct mring *p, *c;

	(void)state;
	tu_create(path, 16 * 4096, MAXLEN, MRING_F_RECORDS | MRING_F_OVERWRITE);
	c = tu_consumer(path, "o");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	produce(p, 0, 40);
	assert_rc(mring_peek_many(c, m, 32, 0), 32);
	check_msgs(m, 32, 0, false);
	/* The producer laps the batch under the reader. */
	produce(p, 40, 400);
	assert_rc(mring_release_many(c, 32), MRING_ELAPPED);
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.lapped, 1);
	assert_int_equal(st.records_consumed, 0);
	assert_int_equal(st.batches, 0);
	struct mring_where w;
	assert_rc(mring_tell(c, &w), 0);
	assert_int_equal(st.records_lost, w.seq);
	assert_true(w.seq > 32);
	/* Then on from the oldest intact record. */
	ssize_t n = mring_peek_many(c, m, 32, 0);
	assert_true(n >= 1);
	check_msgs(m, n, w.seq, false);
	assert_rc(mring_release_many(c, (size_t)n), 0);
	/* Lapped before the batch was peeked: the peek says so. */
	produce(p, 400, 800);
	assert_rc(mring_peek_many(c, m, 32, 0), MRING_ELAPPED);
	assert_rc(mring_tell(c, &w), 0);
	n = mring_peek_many(c, m, 32, 0);
	assert_true(n >= 1);
	check_msgs(m, n, w.seq, false);
	mring_close(p);
	mring_close(c);
}

/* A batch stops before a damaged record; the next peek reports it. */
static void test_batch_damage(void **state)
{
	TU_PATH(path, "damage");
	struct mring_msg m[32];
	struct mring_info in;
	struct mring *p, *c;
	const void *rp;

	(void)state;
	tu_create(path, 16 * 4096, MAXLEN, MRING_F_RECORDS);
	c = tu_consumer(path, "d");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	produce(p, 0, 10);
	assert_ok(mring_inspect(path, &in, NULL, 0));
	uint64_t at = 0;
	for (uint64_t s = 0; s < 4; s++)
		at += tu_rec_size(rec_len(s));
	tu_set_u64(path, in.data_offset + at + 8, 77); /* record 4's seq */
	assert_rc(mring_peek_many(c, m, 32, 0), 4);
	check_msgs(m, 4, 0, false);
	assert_rc(mring_release_many(c, 4), 0);
	assert_rc(mring_peek_many(c, m, 32, 0), MRING_ECORRUPT);
	assert_rc(mring_peek(c, &rp, 0), MRING_ECORRUPT);
	mring_close(p);
	mring_close(c);
}

/* Byte mode has no records to batch. */
static void test_batch_bytes(void **state)
{
	TU_PATH(path, "bbytes");
	struct mring_msg m[4];
	struct mring *c;

	(void)state;
	tu_create(path, 16 * 4096, MAXLEN, 0);
	c = tu_consumer(path, NULL);
	assert_rc(mring_peek_many(c, m, 4, 0), -EINVAL);
	assert_rc(mring_release_many(c, 1), -EINVAL);
	mring_close(c);
}

/* The data region of a ring file. */
static uint8_t *data_of(const char *path, uint64_t *len)
{
	struct mring_info in;

	assert_ok(mring_inspect(path, &in, NULL, 0));
	uint8_t *d = malloc(in.capacity);
	assert_rc(tu_pread(path, in.data_offset, d, in.capacity), 0);
	*len = in.capacity;
	return d;
}

/* writev == write of the concatenation, in both modes. */
static void check_writev(unsigned flags)
{
	TU_PATH(a, "wv-a");
	TU_PATH(b, "wv-b");
	struct mring *pa, *pb;
	uint8_t buf[MAXLEN];
	uint64_t seed = 7;

	tu_create(a, 16 * 4096, MAXLEN, flags);
	tu_create(b, 16 * 4096, MAXLEN, flags);
	assert_rc(mring_open(a, MRING_PRODUCER, NULL, &pa), 0);
	assert_rc(mring_open(b, MRING_PRODUCER, NULL, &pb), 0);
	for (uint64_t s = 0; s < 300; s++) {
		size_t len = rec_len(s);
		struct iovec iov[5];
		int cnt = 0;
		size_t off = 0;
		tu_rec_fill(buf, s, len);
		/* Cut it in up to 5 pieces, empty ones included. */
		while (off < len && cnt < 4) {
			size_t k = (size_t)(tu_rand(&seed) % (len - off + 1));
			iov[cnt].iov_base = buf + off;
			iov[cnt++].iov_len = k;
			off += k;
		}
		iov[cnt].iov_base = buf + off;
		iov[cnt++].iov_len = len - off;
		assert_rc(mring_writev(pa, iov, cnt, 0), (ssize_t)len);
		assert_rc(mring_write(pb, buf, len, 0), (ssize_t)len);
	}
	struct mring_stats sa, sb;
	assert_rc(mring_stats(pa, &sa), 0);
	assert_rc(mring_stats(pb, &sb), 0);
	assert_int_equal(sa.head, sb.head);
	assert_int_equal(sa.records_produced, sb.records_produced);
	uint64_t la, lb;
	uint8_t *da = data_of(a, &la), *db = data_of(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
	free(da);
	free(db);
	/* Errors. */
	struct iovec big[2] = {{buf, MAXLEN}, {buf, 1}};
	if (flags & MRING_F_RECORDS) {
		assert_rc(mring_writev(pa, big, 2, 0), -EMSGSIZE);
		assert_rc(mring_writev(pa, big, 0, 0), -EMSGSIZE);
	} else {
		assert_rc(mring_writev(pa, big, 0, 0), 0);
	}
	assert_rc(mring_writev(pa, NULL, 1, 0), -EINVAL);
	assert_rc(mring_writev(pa, big, -1, 0), -EINVAL);
	mring_close(pa);
	mring_close(pb);
	struct mring *c = tu_consumer(a, NULL);
	assert_rc(mring_writev(c, big, 1, 0), MRING_EROLE);
	mring_close(c);
}

static void test_writev(void **state)
{
	(void)state;
	check_writev(MRING_F_RECORDS);
	check_writev(MRING_F_RECORDS | MRING_F_CRC);
	check_writev(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_batches_windows),
		cmocka_unit_test(test_batch_lapped),
		cmocka_unit_test(test_batch_damage),
		cmocka_unit_test(test_batch_bytes),
		cmocka_unit_test(test_writev),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
