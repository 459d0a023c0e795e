/*
 * Wrap-around at every alignment: in a small ring, reservations and records
 * of every length straddle the end of the data region at many offsets. The
 * pointer from mring_reserve must be writable over its whole length, and the
 * consumer must see exactly what was written, one whole record per peek.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wr {
	struct mring *p, *c;
	uint64_t cap;
	size_t maxrec;
	uint64_t pos;  /* producer position */
	uint64_t rpos; /* consumer position */
	uint64_t seq;  /* next record number */
	uint64_t rnd;  /* release sizes */
};

static void open_pair(struct wr *w, const char *path, unsigned flags)
{
	struct mring_config cc;
	long pg = tu_page();

	memset(w, 0, sizeof *w);
	w->cap = 16 * (uint64_t)pg;
	w->maxrec = 2 * (size_t)pg - 16;
	w->rnd = 1;
	tu_create(path, w->cap, (uint32_t)w->maxrec, flags);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &w->p), 0);
	memset(&cc, 0, sizeof cc);
	cc.consumer_name = "wrap";
	assert_rc(mring_open(path, MRING_CONSUMER, &cc, &w->c), 0);
}

static void close_pair(struct wr *w, const char *path)
{
	struct mring_stats st;
	const void *ptr;

	assert_rc(mring_stats(w->c, &st), 0);
	assert_true(st.position == w->rpos && st.head == w->pos);
	mring_close(w->p);
	assert_rc(mring_peek(w->c, &ptr, 0), 0); /* end of stream */
	mring_close(w->c);
	tu_rm(path);
}

/*
 * Lengths to try in the every-length sweeps: every length would take one
 * lap of the ring each (seconds of window changes), so take all short ones,
 * all within 24 bytes of a multiple of half a page, the longest ones, and
 * every 17th in between.
 */
static bool dense(size_t len, size_t maxrec)
{
	size_t half = (size_t)tu_page() / 2;
	size_t m = len % half;

	return len <= 256 || m <= 24 || m >= half - 24 || len + 32 >= maxrec ||
	       len % 17 == 0;
}

/* ---- records ------------------------------------------------------------ */

/* Write one record and read it back. full: fill/check the whole payload;
 * otherwise only its first 8 bytes (fillers). */
static void rec_put_get(struct wr *w, size_t len, bool full)
{
	void *ptr;
	const void *rp;
	ssize_t n;

	assert_rc(mring_reserve(w->p, len, &ptr, 0), 0);
	if (full)
		tu_rec_fill(ptr, w->seq, len);
	else
		tu_rec_fill(ptr, w->seq, len < 8 ? len : 8);
	assert_rc(mring_commit(w->p, len), 0);
	w->pos += tu_rec_size(len);

	n = mring_peek(w->c, &rp, 0);
	if (n != (ssize_t)len)
		fail_msg("record %llu of %zu bytes at offset %llu: peek gave "
		         "%zd (%s)",
		         (unsigned long long)w->seq, len,
		         (unsigned long long)((w->pos - tu_rec_size(len)) %
		                              w->cap),
		         n, tu_rcstr(n));
	if (tu_rec_check(rp, w->seq, full ? len : (len < 8 ? len : 8)) >= 0)
		fail_msg("record %llu of %zu bytes at offset %llu is damaged",
		         (unsigned long long)w->seq, len,
		         (unsigned long long)((w->pos - tu_rec_size(len)) %
		                              w->cap));
	assert_rc(mring_release(w->c, 0), 0);
	w->rpos = w->pos;
	w->seq++;
	/* Exactly one record was there. */
	assert_rc(mring_peek(w->c, &rp, 0), -EAGAIN);
}

/* Fill with records until the next record starts at offset `off`. */
static void rec_advance_to(struct wr *w, uint64_t off)
{
	const uint64_t maxrs = tu_rec_size(w->maxrec);
	uint64_t gap = (off + w->cap - w->pos % w->cap) % w->cap;

	if (gap && gap < 24)
		gap += w->cap;
	while (gap) {
		uint64_t fs = gap;
		if (fs > maxrs) {
			fs = gap - 24 < maxrs ? gap - 24 : maxrs;
			fs &= ~(uint64_t)7;
		}
		rec_put_get(w, (size_t)(fs - 16), false);
		gap -= fs;
	}
	assert_true(w->pos % w->cap == off % w->cap);
}

/* A record of `len` starting d bytes before the end of the data region. */
static void rec_straddle(struct wr *w, size_t len, uint64_t d)
{
	rec_advance_to(w, w->cap - d);
	rec_put_get(w, len, true);
}

static void test_records_every_length(void **state)
{
	TU_PATH(path, "wrap-rec");
	struct wr w;

	(void)state;
	open_pair(&w, path, MRING_F_RECORDS);
	for (size_t len = 1; len <= w.maxrec; len++) {
		if (!dense(len, w.maxrec))
			continue;
		uint64_t slots = tu_rec_size(len) / 8 - 1; /* d = 8..rs-8 */
		uint64_t d = 8 * (1 + (len * 7) % slots);
		rec_straddle(&w, len, d);
	}
	close_pair(&w, path);
}

/* Every 8-byte straddle point for lengths around page boundaries. */
static void test_records_every_offset(void **state)
{
	TU_PATH(path, "wrap-rec2");
	struct wr w;
	size_t pg = (size_t)tu_page();
	size_t lens[] = {1,       8,       9,  24,     pg - 24, pg - 17,
	                 pg - 16, pg - 15, pg, pg + 1, 0,       0};

	(void)state;
	open_pair(&w, path, MRING_F_RECORDS | MRING_F_CRC);
	lens[10] = w.maxrec - 1;
	lens[11] = w.maxrec;
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		uint64_t rs = tu_rec_size(lens[i]);
		for (uint64_t d = 8; d < rs; d += 8)
			rec_straddle(&w, lens[i], d);
		/* and right at the end, and right after it */
		rec_straddle(&w, lens[i], rs);
		rec_advance_to(&w, 0);
		rec_put_get(&w, lens[i], true);
	}
	close_pair(&w, path);
}

/* ---- bytes -------------------------------------------------------------- */

/* Reserve len, fill it all, commit `commit` of it. */
static void byte_put(struct wr *w, size_t len, size_t commit)
{
	void *ptr;

	assert_rc(mring_reserve(w->p, len, &ptr, 0), 0);
	tu_fill(ptr, w->pos, len);
	assert_rc(mring_commit(w->p, commit), 0);
	w->pos += commit;
}

/* Read everything, releasing varying partial amounts of each peek. */
static void byte_drain(struct wr *w)
{
	while (w->rpos < w->pos) {
		const void *ptr;
		ssize_t n = mring_peek(w->c, &ptr, 0);
		size_t k;

		if (n <= 0 || (uint64_t)n > w->pos - w->rpos)
			fail_msg("peek at %llu (head %llu) gave %zd (%s)",
			         (unsigned long long)w->rpos,
			         (unsigned long long)w->pos, n, tu_rcstr(n));
		k = 1 + (size_t)(tu_rand(&w->rnd) % (uint64_t)n);
		if (tu_rand(&w->rnd) % 4 == 0)
			k = (size_t)n;
		if (tu_check(ptr, w->rpos, k) >= 0)
			fail_msg("wrong byte within [%llu, +%zu), offset %llu",
			         (unsigned long long)w->rpos, k,
			         (unsigned long long)(w->rpos % w->cap));
		assert_rc(mring_release(w->c, k), 0);
		w->rpos += k;
	}
	{
		const void *ptr;
		assert_rc(mring_peek(w->c, &ptr, 0), -EAGAIN);
	}
}

static void byte_advance_to(struct wr *w, uint64_t off)
{
	uint64_t gap = (off + w->cap - w->pos % w->cap) % w->cap;

	while (gap) {
		size_t n = gap < w->maxrec ? (size_t)gap : w->maxrec;
		byte_put(w, n, n);
		byte_drain(w);
		gap -= n;
	}
}

/* Reserve len starting d bytes before the end; commit some of it. */
static void byte_straddle(struct wr *w, size_t len, uint64_t d, size_t commit)
{
	byte_advance_to(w, w->cap - d);
	byte_put(w, len, commit);
	byte_drain(w);
}

static void test_bytes_every_length(void **state)
{
	TU_PATH(path, "wrap-bytes");
	struct wr w;

	(void)state;
	open_pair(&w, path, 0);
	for (size_t len = 1; len <= w.maxrec; len++) {
		if (!dense(len, w.maxrec))
			continue;
		uint64_t d = len < 2 ? 1 : 1 + (len * 13) % (len - 1);
		size_t commit = len;
		switch (len % 7) {
		case 3:
			commit = len / 2; /* may be 0: drops the reservation */
			break;
		case 5:
			commit = d < len ? (size_t)d : len; /* up to the end */
			break;
		}
		byte_straddle(&w, len, d, commit);
	}
	close_pair(&w, path);
}

static void test_bytes_many_offsets(void **state)
{
	TU_PATH(path, "wrap-bytes2");
	struct wr w;
	size_t pg = (size_t)tu_page();
	size_t lens[] = {pg - 1, pg, pg + 1, 0};

	(void)state;
	open_pair(&w, path, 0);
	lens[3] = w.maxrec;
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		size_t len = lens[i];
		for (uint64_t d = 1; d < len; d++) {
			if (d > 64 && d < len - 64 && d % 37)
				continue;
			byte_straddle(&w, len, d, len);
			byte_straddle(&w, len, d,
			              (size_t)d + 1 < len ? d + 1 : len);
		}
	}
	close_pair(&w, path);
}

/* mring_write of more than max_record in byte mode wraps as well. */
static void test_bytes_write_read_wrap(void **state)
{
	TU_PATH(path, "wrap-rw");
	struct wr w;
	uint8_t *buf;
	size_t big;

	(void)state;
	open_pair(&w, path, 0);
	big = 3 * w.maxrec + 5;
	buf = malloc(big);
	assert_non_null(buf);
	for (int i = 0; i < 200; i++) {
		size_t len = 1 + (size_t)(tu_rand(&w.rnd) % big);
		size_t got = 0;

		if (len > w.cap / 2)
			len = w.cap / 2;
		tu_fill(buf, w.pos, len);
		assert_rc(mring_write(w.p, buf, len, 0), (ssize_t)len);
		w.pos += len;
		while (got < len) {
			ssize_t n = mring_read(w.c, buf, len - got, 0);
			assert_true(n > 0 && (size_t)n <= len - got);
			assert_true(tu_check(buf, w.rpos, (size_t)n) < 0);
			w.rpos += (uint64_t)n;
			got += (size_t)n;
		}
	}
	free(buf);
	close_pair(&w, path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_every_length),
		cmocka_unit_test(test_records_every_offset),
		cmocka_unit_test(test_bytes_every_length),
		cmocka_unit_test(test_bytes_many_offsets),
		cmocka_unit_test(test_bytes_write_read_wrap),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
