/*
 * 64-bit positions and file offsets beyond 4 GiB: a sparse 64 GiB ring
 * whose stream is moved (by editing head and tail in the control block
 * before any producer attaches) to just below the end of the data region,
 * at stream positions well above 2^32. A few hundred MiB then cross the end
 * of the data region; a consumer verifies every byte, and pread() checks
 * that position p really sits at data_offset + p mod capacity.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GiB (1ull << 30)
#define MiB (1ull << 20)
#define CAP (64 * GiB)

/* Move an untouched ring's stream to position p (head = tail = synced). */
static void move_stream(const char *path, uint64_t p)
{
	tu_set_u64(path, TU_OFF_HEAD, p);
	tu_set_u64(path, TU_OFF_TAIL, p);
	tu_set_u64(path, TU_OFF_SYNCED, p);
}

static void check_file_bytes(const char *path, uint64_t doff, uint64_t pos,
                             size_t len)
{
	uint8_t buf[64];

	assert_true(len <= sizeof buf);
	assert_rc(tu_pread(path, doff + pos % CAP, buf, len), 0);
	if (tu_check(buf, pos, len) >= 0)
		fail_msg("file offset %llu does not hold position %llu",
		         (unsigned long long)(doff + pos % CAP),
		         (unsigned long long)pos);
}

/* Drain what the consumer can read now; returns the new position. */
static uint64_t drain_bytes(struct mring *c, uint64_t pos)
{
	for (;;) {
		const void *p;
		ssize_t n = mring_peek(c, &p, 0);
		ssize_t bad;

		if (n == -EAGAIN)
			return pos;
		assert_true(n > 0);
		bad = tu_check(p, pos, (size_t)n);
		if (bad >= 0)
			fail_msg("byte at position %llu is wrong",
			         (unsigned long long)(pos + (uint64_t)bad));
		assert_rc(mring_release(c, (size_t)n), 0);
		pos += (uint64_t)n;
	}
}

static void bytes_at(uint64_t start, uint64_t total)
{
	TU_PATH(path, "big-bytes");
	struct mring_config cc;
	struct mring *p, *c;
	struct mring_stats st;
	struct mring_info in;
	uint64_t head = start, rpos = start, chunk = 0;

	tu_create(path, CAP, 0, 0);
	move_stream(path, start);
	assert_rc(mring_inspect(path, &in, NULL, 0), 0);
	assert_true(in.head == start && in.tail == start);

	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	memset(&cc, 0, sizeof cc);
	cc.consumer_name = "verifier";
	assert_rc(mring_open(path, MRING_CONSUMER, &cc, &c), 0);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.head == start && st.position == start);
	assert_true(st.capacity == CAP);
	assert_rc(mring_stats(c, &st), 0);
	assert_true(st.position == start && st.tail == start);

	while (head < start + total) {
		/* Odd sizes so that reservations straddle the end anywhere. */
		size_t len = 1 + (size_t)(tu_mix(chunk++) % in.max_record);
		void *w;

		assert_rc(mring_reserve(p, len, &w, 0), 0);
		tu_fill(w, head, len);
		assert_rc(mring_commit(p, len), 0);
		head += len;
		if (head - rpos >= 8 * MiB)
			rpos = drain_bytes(c, rpos);
	}
	rpos = drain_bytes(c, rpos);
	assert_true(rpos == head);

	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.head == head && st.position == head);
	assert_true(st.bytes_produced == head - start);
	assert_rc(mring_stats(c, &st), 0);
	assert_true(st.position == head && st.lag == 0);
	assert_true(st.bytes_consumed == head - start);

	/* The bytes are where FORMAT.md says, on both sides of the end. */
	for (uint64_t q = start; q < head; q += 7 * MiB + 13)
		check_file_bytes(path, in.data_offset, q, 64);
	check_file_bytes(path, in.data_offset, (start / CAP + 1) * CAP - 32,
	                 32);
	check_file_bytes(path, in.data_offset, (start / CAP + 1) * CAP, 64);

	mring_close(c);
	mring_close(p);
	assert_rc(mring_inspect(path, &in, NULL, 0), 1);
	assert_true(in.head == head);
	tu_rm(path);
}

static uint64_t drain_records(struct mring *c, uint64_t *seq, uint64_t pos,
                              size_t maxlen)
{
	for (;;) {
		const void *p;
		ssize_t n = mring_peek(c, &p, 0);
		size_t want;

		if (n == -EAGAIN)
			return pos;
		assert_true(n > 0);
		want = tu_rec_len(*seq, 7, 8, maxlen);
		if ((size_t)n != want)
			fail_msg("record %llu: length %zd, expected %zu",
			         (unsigned long long)*seq, n, want);
		if (tu_rec_check(p, *seq, (size_t)n) >= 0)
			fail_msg("record %llu is damaged",
			         (unsigned long long)*seq);
		assert_rc(mring_release(c, 0), 0);
		pos += tu_rec_size((uint64_t)n);
		(*seq)++;
	}
}

static void records_at(uint64_t start, uint64_t total)
{
	TU_PATH(path, "big-records");
	struct mring *p, *c;
	struct mring_stats st;
	struct mring_info in;
	uint64_t head = start, rpos = start, seq = 0, rseq = 0;
	const size_t maxlen = 256 * 1024;

	tu_create(path, CAP, (uint32_t)maxlen, MRING_F_RECORDS | MRING_F_CRC);
	move_stream(path, start);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	assert_rc(mring_inspect(path, &in, NULL, 0), 1);
	assert_rc(mring_stats(c, &st), 0);
	assert_true(st.position == start);

	while (head < start + total) {
		size_t len = tu_rec_len(seq, 7, 8, maxlen);
		void *w;

		assert_rc(mring_reserve(p, len, &w, 0), 0);
		tu_rec_fill(w, seq, len);
		assert_rc(mring_commit(p, len), 0);
		/* The header lands at data_offset + position mod capacity. */
		{
			uint32_t hl;
			uint64_t hs;
			uint64_t off = in.data_offset + head % CAP;
			if ((head % CAP) + 16 <= CAP) {
				assert_rc(tu_pread(path, off, &hl, 4), 0);
				assert_rc(tu_pread(path, off + 8, &hs, 8), 0);
				assert_int_equal(hl, len);
				assert_true(hs == seq);
			}
		}
		head += tu_rec_size(len);
		seq++;
		if (head - rpos >= 8 * MiB)
			rpos = drain_records(c, &rseq, rpos, maxlen);
	}
	rpos = drain_records(c, &rseq, rpos, maxlen);
	assert_true(rpos == head);
	assert_true(rseq == seq);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.head == head);
	assert_true(st.records_produced == seq);
	assert_rc(mring_stats(c, &st), 0);
	assert_true(st.position == head);
	assert_true(st.records_consumed == seq);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/* 2^36 + 64 GiB - 100 MiB - 4093: offset ~63.9 GiB, crosses at +100 MiB. */
static void test_bytes_lap1(void **state)
{
	(void)state;
	bytes_at(CAP + CAP - 100 * MiB - 4093, 256 * MiB);
}

/* k * capacity - small, with k = 3 and bits above 2^32 set. */
static void test_bytes_lap3(void **state)
{
	(void)state;
	bytes_at(3 * CAP - 3 * MiB - 1, 64 * MiB);
}

static void test_records_lap1(void **state)
{
	(void)state;
	records_at(CAP + 60 * GiB + 4 * GiB - 37 * MiB - 8 * 1234, 160 * MiB);
}

static void test_records_lap5(void **state)
{
	(void)state;
	records_at(5 * CAP - 5 * MiB - 8, 32 * MiB);
}

/* Can this file system hold a sparse file of 64 GiB plus a header? */
static int can_hold_big_sparse(void)
{
	TU_PATH(path, "probe");
	int fd = open(path, O_CREAT | O_RDWR | O_EXCL, 0600);
	int ok;

	if (fd < 0)
		return 0;
	ok = ftruncate(fd, (off_t)(CAP + 64 * MiB)) == 0 &&
	     pwrite(fd, "x", 1, (off_t)(CAP + 64 * MiB - 1)) == 1;
	close(fd);
	unlink(path);
	return ok;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_lap1),
		cmocka_unit_test(test_bytes_lap3),
		cmocka_unit_test(test_records_lap1),
		cmocka_unit_test(test_records_lap5),
	};
	if (sizeof(off_t) < 8 || !can_hold_big_sparse()) {
		fprintf(stderr, "no 64 GiB sparse file here: skipped\n");
		tu_cleanup();
		return TU_SKIP;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
