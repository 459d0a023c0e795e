/*
 * Record numbers, timestamps and mring_seek: by number, time and position
 * on rings that wrapped several times, oldest/newest, below tail and
 * beyond head; the index makes a seek read about a granule, not the ring,
 * and a damaged, stale or missing index (a file of an older library) only
 * costs a longer walk; seeks race a producer in another process (overwrite
 * mode: every record returned verified; back-pressure: a durable consumer
 * seeking backward never reads overwritten data); format versions.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "format.h"

/* Caller-supplied stamps: deterministic, 10 apart. */
#define TS(s) (1000000ull + 10ull * (s))

static size_t rec_len(uint64_t seq, size_t maxlen)
{
	return tu_rec_len(seq, 7, 1, maxlen);
}

/* Records from..to-1, stamped TS(seq) when `ts`, never waiting. */
static void produce(struct mring *p, uint64_t from, uint64_t to, size_t maxlen,
                    bool ts)
{
	for (uint64_t s = from; s < to; s++) {
		size_t len = rec_len(s, maxlen);
		void *w;
		assert_rc(mring_reserve(p, len, &w, 0), 0);
		tu_rec_fill(w, s, len);
		if (ts)
			assert_rc(mring_commit_ts(p, len, TS(s)), 0);
		else
			assert_rc(mring_commit(p, len), 0);
	}
}

/* The next record is `seq`, intact, and tell says so. */
static void assert_next(struct mring *c, uint64_t seq, size_t maxlen, bool ts)
{
	struct mring_where w;
	const void *p;
	size_t len = rec_len(seq, maxlen);

	assert_rc(mring_peek(c, &p, 0), (ssize_t)len);
	assert_rc(mring_tell(c, &w), 0);
	if (w.seq != seq)
		fail_msg("at record %llu, expected %llu",
		         (unsigned long long)w.seq, (unsigned long long)seq);
	if (ts)
		assert_int_equal(w.ts, TS(seq));
	if (tu_rec_check(p, seq, len) >= 0)
		fail_msg("record %llu damaged", (unsigned long long)seq);
}

static uint64_t oldest_seq(struct mring *c)
{
	struct mring_where w;

	assert_rc(mring_seek(c, MRING_SEEK_OLDEST, 0), 0);
	assert_rc(mring_tell(c, &w), 0);
	return w.seq;
}

static void test_tell(void **state)
{
	TU_PATH(path, "tell");
	struct mring *p, *c;
	struct mring_where w;
	const void *rp;

	(void)state;
	tu_create(path, 64 * 4096, 1000, MRING_F_RECORDS | MRING_F_TIMESTAMPS);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	c = tu_consumer(path, NULL);
	assert_rc(mring_tell(p, &w), 0);
	assert_true(w.pos == 0 && w.seq == 0 && w.ts == 0);
	produce(p, 0, 3, 1000, true);
	assert_rc(mring_tell(p, &w), 0);
	assert_int_equal(w.seq, 3);
	assert_int_equal(w.ts, TS(2));
	assert_int_equal(w.pos, tu_rec_size(rec_len(0, 1000) + 8) +
	                                tu_rec_size(rec_len(1, 1000) + 8) +
	                                tu_rec_size(rec_len(2, 1000) + 8));
	/* Before a peek: the next record, stamp not known yet. */
	assert_rc(mring_tell(c, &w), 0);
	assert_true(w.pos == 0 && w.seq == 0 && w.ts == 0);
	assert_next(c, 0, 1000, true);
	assert_rc(mring_release(c, 0), 0);
	assert_rc(mring_tell(c, &w), 0);
	assert_int_equal(w.pos, tu_rec_size(rec_len(0, 1000) + 8));
	assert_int_equal(w.seq, 1);
	assert_int_equal(w.ts, 0);
	assert_rc(mring_tell(NULL, &w), -EINVAL);
	assert_rc(mring_tell(c, NULL), -EINVAL);
	/* Payload and limits are the caller's: the stamp is not. */
	struct mring_info in;
	assert_ok(mring_inspect(path, &in, NULL, 0));
	assert_int_equal(in.max_record, 1000);
	assert_int_equal(in.format_version, 2);
	assert_true(in.flags & MRING_F_TIMESTAMPS);
	void *wp;
	assert_rc(mring_reserve(p, 1000, &wp, 0), 0);
	assert_rc(mring_reserve(p, 1001, &wp, 0), -EMSGSIZE);
	assert_rc(mring_commit(p, 0), 0);
	(void)rp;
	mring_close(c);
	mring_close(p);

	/* Byte mode: no numbers. */
	tu_create(path, 64 * 4096, 1000, 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_write(p, "abc", 3, 0), 3);
	assert_rc(mring_tell(p, &w), 0);
	assert_true(w.pos == 3 && w.seq == MRING_SEQ_NONE);
	/* Stamps need records; caller stamps need stamps. */
	assert_rc(mring_reserve(p, 3, &wp, 0), 0);
	assert_rc(mring_commit_ts(p, 3, 5), -EINVAL);
	mring_close(p);
	struct mring_config cfg = tu_cfg(64 * 4096, 1000, MRING_F_TIMESTAMPS);
	tu_rm(path);
	assert_rc(mring_create(path, &cfg), -EINVAL);
}

/* Seek by number, time and position on a ring that wrapped 5 times. */
static void check_wrapped(unsigned flags)
{
	TU_PATH(path, "wrapped");
	const size_t maxlen = 1000;
	const uint64_t cap = 64 * 4096;
	struct mring *p, *c;
	struct mring_stats st;
	struct mring_where w;
	uint64_t n = 0;

	tu_create(path, cap, maxlen, MRING_F_RECORDS | flags);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	do {
		produce(p, n, n + 100, maxlen, true);
		n += 100;
		assert_rc(mring_stats(p, &st), 0);
	} while (st.head < 5 * cap);
	c = tu_consumer(path, NULL);
	uint64_t o = oldest_seq(c);
	assert_true(o > 0 && o < n);
	assert_rc(mring_stats(c, &st), 0);
	assert_rc(mring_tell(c, &w), 0);
	assert_int_equal(w.pos, st.tail);

	for (uint64_t v = o; v <= n; v++) {
		/* By number. */
		assert_rc(mring_seek(c, MRING_SEEK_SEQ, v), 0);
		if (v == n) {
			const void *rp;
			assert_rc(mring_peek(c, &rp, 0), -EAGAIN);
			assert_rc(mring_tell(c, &w), 0);
			assert_true(w.seq == n && w.pos == st.head);
			continue;
		}
		assert_next(c, v, maxlen, true);
		struct mring_where at;
		assert_rc(mring_tell(c, &at), 0);
		/* By time: the exact stamp, and one just above the
		 * previous record's. */
		assert_rc(mring_seek(c, MRING_SEEK_TIME, TS(v)), v == o);
		assert_next(c, v, maxlen, true);
		assert_rc(mring_seek(c, MRING_SEEK_TIME, TS(v) - 9), v == o);
		assert_next(c, v, maxlen, true);
		/* By position: the record's own, and any byte of the
		 * record before (the first record at or after it). */
		assert_rc(mring_seek(c, MRING_SEEK_POS, at.pos), 0);
		assert_next(c, v, maxlen, true);
		if (v > o) {
			assert_rc(mring_seek(c, MRING_SEEK_POS, at.pos - 1), 0);
			assert_next(c, v, maxlen, true);
		}
		/* Reading on from a seek. */
		if (v + 1 < n && v % 7 == 0) {
			assert_rc(mring_seek(c, MRING_SEEK_SEQ, v), 0);
			assert_next(c, v, maxlen, true);
			assert_rc(mring_release(c, 0), 0);
			assert_next(c, v + 1, maxlen, true);
		}
	}
	/* Oldest and newest. */
	assert_rc(mring_seek(c, MRING_SEEK_NEWEST, 12345), 0);
	assert_rc(mring_tell(c, &w), 0);
	assert_true(w.seq == n && w.pos == st.head);
	assert_rc(mring_seek(c, MRING_SEEK_OLDEST, 12345), 0);
	assert_next(c, o, maxlen, true);
	/* Below tail: the oldest instead, and the call says so. */
	assert_rc(mring_seek(c, MRING_SEEK_SEQ, 0), 1);
	assert_next(c, o, maxlen, true);
	assert_rc(mring_seek(c, MRING_SEEK_SEQ, o - 1), 1);
	assert_next(c, o, maxlen, true);
	assert_rc(mring_seek(c, MRING_SEEK_TIME, 0), 1);
	assert_next(c, o, maxlen, true);
	assert_rc(mring_seek(c, MRING_SEEK_POS, st.tail - 8), 1);
	assert_next(c, o, maxlen, true);
	/* Time after the newest: head, where the next record goes. */
	assert_rc(mring_seek(c, MRING_SEEK_TIME, TS(n) + 1000), 0);
	assert_rc(mring_tell(c, &w), 0);
	assert_true(w.seq == n && w.pos == st.head);
	/* Beyond head: refused, the consumer stays where it was. */
	assert_rc(mring_seek(c, MRING_SEEK_SEQ, o + 2), 0);
	assert_rc(mring_seek(c, MRING_SEEK_SEQ, n + 1), -ERANGE);
	assert_rc(mring_seek(c, MRING_SEEK_POS, st.head + 8), -ERANGE);
	assert_next(c, o + 2, maxlen, true);
	assert_rc(mring_seek(c, 99, 0), -EINVAL);
	assert_rc(mring_seek(c, -1, 0), -EINVAL);
	assert_rc(mring_seek(p, MRING_SEEK_SEQ, 0), MRING_EROLE);
	/* What the producer writes after a seek to head is read next. */
	assert_rc(mring_seek(c, MRING_SEEK_NEWEST, 0), 0);
	produce(p, n, n + 1, maxlen, true);
	assert_next(c, n, maxlen, true);
	assert_rc(mring_stats(c, &st), 0);
	assert_true(st.seeks > 4 * (n - o));
	mring_close(c);
	mring_close(p);
}

static void test_seek_wrapped(void **state)
{
	(void)state;
	check_wrapped(MRING_F_TIMESTAMPS);
	check_wrapped(MRING_F_TIMESTAMPS | MRING_F_CRC);
	check_wrapped(MRING_F_TIMESTAMPS | MRING_F_OVERWRITE);
}

/* Stamps from the producer's clock: within the commit, never decreasing,
 * and time seeks land on them. */
static void test_producer_stamps(void **state)
{
	TU_PATH(path, "stamps");
	struct mring *p, *c;
	struct mring_where w;
	const uint64_t n = 10000; /* 400 KB: wraps */
	uint64_t *at = calloc(n, sizeof(*at));
	const void *rp;

	(void)state;
	tu_create(path, 64 * 4096, 200, MRING_F_RECORDS | MRING_F_TIMESTAMPS);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	c = tu_consumer(path, "stamps");
	for (uint64_t s = 0; s < n; s++) {
		struct timespec t0, t1;
		uint8_t buf[16];
		tu_rec_fill(buf, s, sizeof buf);
		clock_gettime(CLOCK_REALTIME, &t0);
		assert_rc(mring_write(p, buf, sizeof buf, -1),
		          (ssize_t)sizeof buf);
		clock_gettime(CLOCK_REALTIME, &t1);
		assert_rc(mring_tell(p, &w), 0);
		at[s] = w.ts;
		uint64_t lo = (uint64_t)t0.tv_sec * 1000000000ull +
		              (uint64_t)t0.tv_nsec;
		uint64_t hi = (uint64_t)t1.tv_sec * 1000000000ull +
		              (uint64_t)t1.tv_nsec;
		/* (A clock stepped back meanwhile would make this fail:
		 * not something a test machine does.) */
		assert_true(w.ts >= lo && w.ts <= hi);
		if (s)
			assert_true(at[s] >= at[s - 1]);
		/* Keep the ring from filling: read as we go. */
		assert_rc(mring_peek(c, &rp, 0), (ssize_t)sizeof buf);
		assert_rc(mring_tell(c, &w), 0);
		assert_int_equal(w.ts, at[s]);
		assert_int_equal(w.seq, s);
		assert_rc(mring_release(c, 0), 0);
	}
	uint64_t o = oldest_seq(c);
	assert_true(o > 0);
	for (uint64_t s = o; s < n; s += 37) {
		/* The first record with a stamp >= at[s]. */
		uint64_t first = s;
		while (first > o && at[first - 1] == at[s])
			first--;
		assert_rc(mring_seek(c, MRING_SEEK_TIME, at[s]),
		          first == o ? 1 : 0);
		assert_rc(mring_peek(c, &rp, 0), 16);
		assert_rc(mring_tell(c, &w), 0);
		assert_int_equal(w.seq, first);
	}
	free(at);
	mring_close(c);
	mring_close(p);
}

/* Bytes of the ring a seek examined (mring_stats().seek_scanned). */
static uint64_t scanned(struct mring *c)
{
	struct mring_stats st;

	assert_rc(mring_stats(c, &st), 0);
	return st.seek_scanned;
}

static uint64_t index_bytes(uint64_t cap)
{
	return mring__index_entries(cap) * sizeof(struct mring__ientry);
}

/*
 * The index: a seek reads about a granule, not the ring; an index of
 * garbage, or of entries shifted one granule (true records, wrong place),
 * or none (zeros, as in a file an older library wrote) still gives the
 * right answer, by walking.
 */
static void test_index(void **state)
{
	TU_PATH(path, "index");
	const uint64_t cap = 16ull << 20; /* 4096 granules of 4 KiB */
	const size_t maxlen = 300;
	struct mring *p, *c;
	struct mring_stats st;
	uint64_t n = 0;

	(void)state;
	assert_int_equal(mring__index_shift(cap), 12);
	tu_create(path, cap, maxlen, MRING_F_RECORDS | MRING_F_TIMESTAMPS);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	do {
		produce(p, n, n + 1000, maxlen, true);
		n += 1000;
		assert_rc(mring_stats(p, &st), 0);
	} while (st.head < cap + cap / 2);
	c = tu_consumer(path, NULL);
	uint64_t o = oldest_seq(c);
	uint64_t targets[] = {
		o, o + 1, o + (n - o) / 3, (o + n) / 2, n - 100, n - 1, n};

	for (int round = 0; round < 4; round++) {
		for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
			uint64_t v = targets[i], before = scanned(c);
			assert_rc(mring_seek(c, MRING_SEEK_SEQ, v), 0);
			uint64_t used = scanned(c) - before;
			if (v < n)
				assert_next(c, v, maxlen, true);
			assert_rc(mring_seek(c, MRING_SEEK_TIME, TS(v)),
			          v == o);
			if (v < n)
				assert_next(c, v, maxlen, true);
			if (round == 0 && v > o + 1) {
				/* ~12 probes and two 4 KiB granules, not
				 * 16 MiB. */
				if (used > (64u << 10))
					fail_msg("seek to %llu read %llu bytes",
					         (unsigned long long)v,
					         (unsigned long long)used);
			}
			if (round == 3 && v > (o + n) / 2 - 1 && v < n)
				/* No index: from the oldest, linearly. */
				assert_true(used > cap / 4);
		}
		uint64_t len = index_bytes(cap);
		uint8_t *junk = malloc(len);
		uint64_t seed = 42;
		if (round == 0) {
			/* True entries, each in its neighbour's slot. */
			assert_rc(
				tu_pread(path, MRING__INDEX_OFFSET, junk, len),
				0);
			memmove(junk + 32, junk, len - 32);
		} else if (round == 1) {
			/* Garbage. */
			for (uint64_t k = 0; k < len; k++)
				junk[k] = (uint8_t)tu_rand(&seed);
		} else {
			memset(junk, 0, len);
		}
		assert_rc(tu_pwrite(path, MRING__INDEX_OFFSET, junk, len), 0);
		free(junk);
	}
	mring_close(c);
	mring_close(p);
}

/* Index page holding the entry of stream position `pos`. */
static uint64_t entry_page(uint64_t cap, uint64_t pos)
{
	uint64_t g = (pos >> mring__index_shift(cap)) &
	             (mring__index_entries(cap) - 1);
	return g * sizeof(struct mring__ientry) / (uint64_t)tu_page();
}

/*
 * Pages of `path` mapped at the index's file offset that have page-table
 * entries in this process (smaps' Rss of that mapping): the producer's
 * own stores fault one page at a time (a write fault maps no neighbours),
 * so more than it stored into means somebody pre-faulted them.
 */
static uint64_t index_rss_pages(const char *path)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[4096];
	struct stat sb;
	bool in = false;
	uint64_t kb = 0;

	assert_non_null(f);
	assert_int_equal(stat(path, &sb), 0);
	while (fgets(line, sizeof line, f)) {
		unsigned long long off, ino;
		/* A mapping's first line: by inode, whatever the path. */
		if (sscanf(line, "%*x-%*x %*s %llx %*s %llu", &off, &ino) ==
		    2) {
			in = off == MRING__INDEX_OFFSET && ino == sb.st_ino;
			continue;
		}
		if (in && sscanf(line, "Rss: %llu kB", &off) == 1)
			kb += off;
	}
	fclose(f);
	return kb * 1024 / (uint64_t)tu_page();
}

/*
 * A producer's open does not fault the whole index in (that was most of
 * its cost, README "At scale"): the maintenance thread faults in the
 * entries of the chunks it prepares, ahead of the producer, which then
 * stores into pages already mapped. Without the thread, open does it.
 */
static void test_index_prefault(void **state)
{
	TU_PATH(path, "index-prefault");
	const uint64_t cap = 64ull << 20; /* 16384 entries, 512 KiB */
	const size_t maxlen = 300;
	const uint64_t npg = entry_page(cap, cap - 1) + 1;
	struct mring_config cfg;
	struct mring_stats st;
	struct mring *p;
	uint64_t n = 0;

	(void)state;
	assert_int_equal(npg, 16384 * sizeof(struct mring__ientry) / tu_page());
	tu_create(path, cap, maxlen, MRING_F_RECORDS);
	/* Not resident: the thread then works only ahead of the producer. */
	mring_config_init(&cfg);
	cfg.cache_budget = 16ull << 20;
	assert_rc(mring_open(path, MRING_PRODUCER, &cfg, &p), 0);
	assert_rc(mring_stats(p, &st), 0);
	const char *why = tu_madvise_ignored();
	if (why)
		fprintf(stderr, "page tables not checked: %s\n", why);
	/*
	 * With the thread, the second half of the lap is far beyond what
	 * it prepares (at most a quarter of the ring ahead).
	 */
	uint64_t rss = index_rss_pages(path);
	if (st.maint && rss >= npg / 2)
		fail_msg("%llu of %llu index pages mapped at open",
		         (unsigned long long)rss, (unsigned long long)npg);
	if (!st.maint && !why && rss < npg)
		fail_msg("no thread, and %llu of %llu index pages mapped at "
		         "open",
		         (unsigned long long)rss, (unsigned long long)npg);
	do {
		produce(p, n, n + 1000, maxlen, false);
		n += 1000;
		assert_rc(mring_stats(p, &st), 0);
	} while (st.head < cap / 4);
	ssize_t ahead = mring_prefault(p, 8u << 20, -1);
	assert_true(ahead >= (ssize_t)(2u << 20));
	/* The producer stored only into the pages up to entry_page(head);
	 * only the thread can have mapped those beyond it, up to the
	 * page of the last ready byte's entry. */
	uint64_t want = entry_page(cap, st.head + (uint64_t)ahead - 1) + 1;
	assert_true(want > entry_page(cap, st.head) + 1);
	rss = index_rss_pages(path);
	if (!why && rss < want)
		fail_msg("%llu index pages mapped, %llu wanted (head %llu, "
		         "%zd ready)",
		         (unsigned long long)rss, (unsigned long long)want,
		         (unsigned long long)st.head, ahead);
	/* And the index still works: a seek lands on a verified record. */
	struct mring *c = tu_consumer(path, NULL);
	assert_rc(mring_seek(c, MRING_SEEK_SEQ, n - 10), 0);
	assert_next(c, n - 10, maxlen, false);
	mring_close(c);
	mring_close(p);
}

/* Format versions: 1 without timestamps (no index needed to seek), 2
 * with; a version 1 header claiming timestamps is refused. */
static void test_versions(void **state)
{
	TU_PATH(path, "v1");
	struct mring *p, *c;
	struct mring_info in;

	(void)state;
	tu_create(path, 64 * 4096, 500, MRING_F_RECORDS);
	assert_int_equal(tu_get_u32(path, TU_OFF_VERSION), 1);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	produce(p, 0, 2000, 500, false);
	c = tu_consumer(path, NULL);
	/* A version 1 ring as an older library leaves it: no index. */
	uint8_t *z = calloc(1, index_bytes(64 * 4096));
	assert_rc(
		tu_pwrite(path, MRING__INDEX_OFFSET, z, index_bytes(64 * 4096)),
		0);
	free(z);
	uint64_t o = oldest_seq(c);
	for (uint64_t v = o; v < 2000; v += 13) {
		assert_rc(mring_seek(c, MRING_SEEK_SEQ, v), 0);
		assert_next(c, v, 500, false);
	}
	assert_rc(mring_seek(c, MRING_SEEK_TIME, 0), -EINVAL);
	mring_close(c);
	mring_close(p);
	assert_ok(mring_inspect(path, &in, NULL, 0));
	assert_int_equal(in.format_version, 1);

	tu_create(path, 64 * 4096, 500,
	          MRING_F_RECORDS | MRING_F_TIMESTAMPS | MRING_F_CRC);
	assert_int_equal(tu_get_u32(path, TU_OFF_VERSION), 2);
	/* The stamp counts in the stored max_record. */
	assert_int_equal(tu_get_u32(path, TU_OFF_MAX_RECORD), 508);
	tu_set_u32(path, TU_OFF_VERSION, 1);
	tu_fix_checksum(path);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), MRING_ECORRUPT);
	tu_set_u32(path, TU_OFF_VERSION, 2);
	tu_set_u32(path, TU_OFF_FLAGS, MRING_F_TIMESTAMPS);
	tu_fix_checksum(path);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), MRING_ECORRUPT);
	tu_set_u32(path, TU_OFF_FLAGS, MRING_F_TIMESTAMPS | MRING_F_RECORDS);
	tu_set_u32(path, TU_OFF_MAX_RECORD, 8);
	tu_fix_checksum(path);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), MRING_ECORRUPT);
	tu_set_u32(path, TU_OFF_MAX_RECORD, 508);
	tu_fix_checksum(path);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	mring_close(c);
}

/* A stamp or record number flipped on disk: the check word catches it. */
static void test_stamp_checked(void **state)
{
	TU_PATH(path, "stampcheck");
	struct mring *p, *c;
	struct mring_info in;
	const void *rp;

	(void)state;
	tu_create(path, 64 * 4096, 100, MRING_F_RECORDS | MRING_F_TIMESTAMPS);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	produce(p, 0, 3, 100, true);
	c = tu_consumer(path, NULL);
	assert_ok(mring_inspect(path, &in, NULL, 0));
	uint64_t at = in.data_offset + tu_rec_size(rec_len(0, 100) + 8);
	/* Record 1's stamp, one bit. */
	tu_set_u64(path, at + TU_REC_HDR, TS(1) ^ 1);
	assert_next(c, 0, 100, true);
	assert_rc(mring_release(c, 0), 0);
	assert_rc(mring_peek(c, &rp, 0), MRING_ECORRUPT);
	assert_rc(mring_seek(c, MRING_SEEK_SEQ, 2), MRING_ECORRUPT);
	tu_set_u64(path, at + TU_REC_HDR, TS(1));
	assert_rc(mring_seek(c, MRING_SEEK_SEQ, 2), 0);
	assert_next(c, 2, 100, true);
	mring_close(c);
	mring_close(p);
}

/* A durable consumer's seek is its stored position. */
static void test_seek_durable(void **state)
{
	TU_PATH(path, "durable");
	struct mring *p, *c;

	(void)state;
	tu_create(path, 64 * 4096, 100, MRING_F_RECORDS | MRING_F_TIMESTAMPS);
	c = tu_consumer(path, "d");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	produce(p, 0, 500, 100, true);
	assert_rc(mring_seek(c, MRING_SEEK_TIME, TS(321)), 0);
	mring_close(c);
	c = tu_consumer(path, "d");
	assert_next(c, 321, 100, true);
	assert_rc(mring_seek(c, MRING_SEEK_SEQ, 17), 0);
	mring_close(c);
	c = tu_consumer(path, "d");
	assert_next(c, 17, 100, true);
	mring_close(c);
	mring_close(p);
}

/*
 * A durable consumer that does not know the number of the record it stands
 * at (open could not read it: damaged) is pinned like any other during a
 * seek (the search reads above the oldest record, which it then holds); a
 * seek that fails puts it back where it stood, still unnumbered, and one
 * that succeeds numbers it, in its slot too.
 */
static void test_seek_durable_unnumbered(void **state)
{
	TU_PATH(path, "unnumbered");
	const uint64_t slot = TU_OFF_SLOTS; /* "d" has slot 0 */
	struct mring_where w, w40;
	struct mring_info in;
	struct mring *p, *c;

	(void)state;
	tu_create(path, 64 * 4096, 100, MRING_F_RECORDS);
	c = tu_consumer(path, "d");
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	produce(p, 0, 100, 100, false);
	for (uint64_t k = 0; k < 40; k++) {
		assert_next(c, k, 100, false);
		assert_rc(mring_release(c, 0), 0);
	}
	assert_rc(mring_tell(c, &w40), 0);
	mring_close(c);
	/* The slot without a number, and record 40 numbered otherwise (its
	 * check word no longer fits): open cannot learn it. */
	assert_int_equal(tu_get_u64(path, slot + TU_SLOT_SEQ), 40);
	tu_set_u64(path, slot + TU_SLOT_SEQ, MRING__SEQ_UNKNOWN);
	assert_ok(mring_inspect(path, &in, NULL, 0));
	tu_set_u64(path, in.data_offset + w40.pos + 8, 12345);

	c = tu_consumer(path, "d");
	assert_rc(mring_tell(c, &w), 0);
	assert_int_equal(w.pos, w40.pos);
	assert_int_equal(w.seq, MRING_SEQ_NONE);
	/* Beyond head: refused, and back where it stood, unnumbered. */
	assert_rc(mring_seek(c, MRING_SEEK_SEQ, 1000), -ERANGE);
	assert_rc(mring_tell(c, &w), 0);
	assert_int_equal(w.pos, w40.pos);
	assert_int_equal(w.seq, MRING_SEQ_NONE);
	assert_int_equal(tu_get_u64(path, slot + TU_SLOT_POS), w40.pos);
	assert_int_equal(tu_get_u64(path, slot + TU_SLOT_SEQ),
	                 MRING__SEQ_UNKNOWN);
	const void *ptr;
	assert_rc(mring_peek(c, &ptr, 0), MRING_ECORRUPT);

	/* Below the damage: found, numbered from then on. */
	assert_rc(mring_seek(c, MRING_SEEK_SEQ, 17), 0);
	assert_rc(mring_tell(c, &w), 0);
	assert_int_equal(w.seq, 17);
	assert_int_equal(tu_get_u64(path, slot + TU_SLOT_SEQ), 17);
	assert_next(c, 17, 100, false);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/* Byte mode: positions only. */
static void test_seek_bytes(void **state)
{
	TU_PATH(path, "bytes");
	const uint64_t cap = 16 * 4096;
	struct mring *p, *c;
	struct mring_stats st;
	uint8_t buf[1000];
	uint64_t pos = 0;

	(void)state;
	tu_create(path, cap, 1000, 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	while (pos < 3 * cap) {
		tu_fill(buf, pos, sizeof buf);
		assert_rc(mring_write(p, buf, sizeof buf, 0), 1000);
		pos += sizeof buf;
	}
	c = tu_consumer(path, NULL);
	assert_rc(mring_stats(c, &st), 0);
	assert_rc(mring_seek(c, MRING_SEEK_SEQ, 0), -EINVAL);
	assert_rc(mring_seek(c, MRING_SEEK_TIME, 0), -EINVAL);
	uint64_t at[] = {st.tail, st.tail + 1, pos - 1, pos - 4097};
	for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
		const void *rp;
		assert_rc(mring_seek(c, MRING_SEEK_POS, at[i]), 0);
		ssize_t n = mring_peek(c, &rp, 0);
		assert_true(n >= 1);
		assert_true(tu_check(rp, at[i], (size_t)n) < 0);
	}
	assert_rc(mring_seek(c, MRING_SEEK_POS, st.tail - 1), 1);
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.position, st.tail);
	assert_rc(mring_seek(c, MRING_SEEK_POS, pos + 1), -ERANGE);
	assert_rc(mring_seek(c, MRING_SEEK_NEWEST, 0), 0);
	assert_rc(mring_stats(c, &st), 0);
	assert_int_equal(st.position, pos);
	mring_close(c);
	mring_close(p);
}

/* ---- against a producer in another process ------------------------------ */

struct prod_arg {
	const char *path;
	uint64_t n;
	size_t maxlen;
};

static int producer_child(void *arg)
{
	const struct prod_arg *a = arg;
	struct mring *p;
	int rc = mring_open(a->path, MRING_PRODUCER, NULL, &p);

	if (rc < 0)
		return tu_cfail(2, "producer open: %s", mring_strerror(rc));
	for (uint64_t s = 0; s < a->n; s++) {
		size_t len = rec_len(s, a->maxlen);
		void *w;
		rc = mring_reserve(p, len, &w, -1);
		if (rc < 0)
			return tu_cfail(3, "reserve: %s", mring_strerror(rc));
		tu_rec_fill(w, s, len);
		rc = mring_commit_ts(p, len, TS(s));
		if (rc < 0)
			return tu_cfail(4, "commit: %s", mring_strerror(rc));
	}
	mring_close(p);
	return 0;
}

/*
 * Peek, copy, release: the record's number and content if release said
 * it was intact (returns 1), 0 for nothing now or lapped.
 */
static int read_verified(struct mring *c, uint64_t *seq, size_t maxlen)
{
	static uint8_t buf[4096];
	struct mring_where w;
	const void *rp;
	ssize_t n = mring_peek(c, &rp, 0);

	if (n == -EAGAIN || n == MRING_ELAPPED || n == 0)
		return 0;
	assert_true(n > 0);
	assert_rc(mring_tell(c, &w), 0);
	memcpy(buf, rp, (size_t)n);
	int rc = mring_release(c, 0);
	if (rc == MRING_ELAPPED)
		return 0;
	assert_rc(rc, 0);
	if ((size_t)n != rec_len(w.seq, maxlen) ||
	    tu_rec_check(buf, w.seq, (size_t)n) >= 0 || w.ts != TS(w.seq))
		fail_msg("record %llu damaged", (unsigned long long)w.seq);
	*seq = w.seq;
	return 1;
}

/* Overwrite mode: seeks race a producer lapping the ring all the time. */
static void test_seek_overwrite_race(void **state)
{
	TU_PATH(path, "race");
	struct prod_arg a = {path, 400000, 200};
	struct mring *c;
	uint64_t verified = 0, landed = 0, rounds = 0;
	int status;

	(void)state;
	tu_create(path, 64 * 4096, (uint32_t)a.maxlen,
	          MRING_F_RECORDS | MRING_F_TIMESTAMPS | MRING_F_OVERWRITE);
	pid_t pid = tu_spawn(producer_child, &a, 120);
	c = tu_consumer(path, NULL);
	for (;;) {
		bool done = waitpid(pid, &status, WNOHANG) == pid;
		struct mring_where w;
		rounds++;
		int rc = mring_seek(c, MRING_SEEK_OLDEST, 0);
		assert_rc_in(rc, 0, -EAGAIN);
		if (rc == 0) {
			assert_rc(mring_tell(c, &w), 0);
			uint64_t v = w.seq + rounds % 300;
			bool by_time = rounds & 1;
			rc = by_time ? mring_seek(c, MRING_SEEK_TIME, TS(v))
			             : mring_seek(c, MRING_SEEK_SEQ, v);
			assert_rc_in(rc, 0, 1, -EAGAIN, -ERANGE);
			uint64_t s;
			if (rc >= 0) {
				assert_rc(mring_tell(c, &w), 0);
				/* At the record asked for, or (1) at the
				 * oldest, later; or at head. */
				if (rc == 0 && w.seq != v) {
					uint64_t hs = w.seq;
					assert_true(by_time && hs < v);
				}
				if (rc == 1)
					assert_true(w.seq >= v);
				uint64_t want = w.seq;
				for (int k = 0; k < 5; k++) {
					if (!read_verified(c, &s, a.maxlen))
						break;
					if (k == 0 && s == want)
						landed++;
					verified++;
				}
			}
		}
		/* No bound on rounds: how many fit in the producer's run
		 * depends on the machine (a chaos build beside another test
		 * ran past 10 million). The producer's alarm ends a hang. */
		if (done)
			break;
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* After the producer: a still ring, every answer exact. */
	uint64_t o = oldest_seq(c);
	for (uint64_t v = o; v < a.n; v += 11) {
		assert_rc(mring_seek(c, MRING_SEEK_TIME, TS(v)), v == o);
		assert_next(c, v, a.maxlen, true);
	}
	printf("  %llu rounds, %llu records verified, %llu landed exactly\n",
	       (unsigned long long)rounds, (unsigned long long)verified,
	       (unsigned long long)landed);
	mring_close(c);
}

/*
 * Back-pressure: a durable consumer reads everything a producer in another
 * process writes, seeking backward now and then (by number and by time).
 * The producer is held back by the new, lower position: every record read
 * is intact, and seeks below what is still there say so (1).
 */
static void test_seek_backpressure_procs(void **state)
{
	TU_PATH(path, "bp");
	struct prod_arg a = {path, 60000, 500};
	struct mring *c;
	uint64_t next = 0, reads = 0, backs = 0, clamped = 0, since = 0;

	(void)state;
	tu_create(path, 32 * 4096, (uint32_t)a.maxlen,
	          MRING_F_RECORDS | MRING_F_TIMESTAMPS);
	c = tu_consumer(path, "reader");
	pid_t pid = tu_spawn(producer_child, &a, 120);
	for (;;) {
		struct mring_where w;
		const void *rp;
		ssize_t n = mring_peek(c, &rp, 2000);
		if (n == 0)
			break;
		if (n == -ETIMEDOUT)
			continue;
		assert_true(n > 0);
		assert_rc(mring_tell(c, &w), 0);
		assert_int_equal(w.seq, next);
		if ((size_t)n != rec_len(next, a.maxlen) ||
		    tu_rec_check(rp, next, (size_t)n) >= 0 || w.ts != TS(next))
			fail_msg("record %llu damaged",
			         (unsigned long long)next);
		assert_rc(mring_release(c, 0), 0);
		next++;
		reads++;
		assert_true(reads < 10 * a.n);
		if (++since == 97) {
			/* Up to 89 back every 97: on average forward. */
			uint64_t k = (reads * 7) % 90;
			uint64_t back = next > k ? next - k : 0;
			since = 0;
			int rc = next % 2 ? mring_seek(c, MRING_SEEK_SEQ, back)
			                  : mring_seek(c, MRING_SEEK_TIME,
			                               TS(back));
			assert_rc_in(rc, 0, 1);
			assert_rc(mring_tell(c, &w), 0);
			if (rc == 0)
				assert_int_equal(w.seq, back);
			else
				assert_true(w.seq >= back && w.seq <= next);
			clamped += rc == 1;
			backs++;
			next = w.seq;
		}
	}
	assert_int_equal(next, a.n);
	assert_int_equal(tu_wait(pid), 0);
	printf("  %llu reads, %llu seeks back, %llu to the oldest instead\n",
	       (unsigned long long)reads, (unsigned long long)backs,
	       (unsigned long long)clamped);
	mring_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tell),
		cmocka_unit_test(test_seek_wrapped),
		cmocka_unit_test(test_producer_stamps),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_index_prefault),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_stamp_checked),
		cmocka_unit_test(test_seek_durable),
		cmocka_unit_test(test_seek_bytes),
		cmocka_unit_test(test_seek_overwrite_race),
		cmocka_unit_test(test_seek_durable_unnumbered),
		cmocka_unit_test(test_seek_backpressure_procs),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
