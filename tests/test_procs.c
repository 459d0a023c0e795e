/*
 * Real processes: a producer child streams 100 laps through a small ring,
 * two durable consumer children verify every byte (or record), and an
 * observer child verifies what it reads and accounts exactly for what it
 * lost when lapped. Each child opens its own handle after fork.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct job {
	const char *path;
	bool records;
	uint64_t total; /* bytes (byte mode) or records to produce */
	size_t maxrec;
	const char *name; /* consumer name, NULL = observer */
	uint64_t salt;
};

static int producer(void *arg)
{
	const struct job *j = arg;
	struct mring *p;
	uint64_t pos = 0, seq = 0;
	int rc = mring_open(j->path, MRING_PRODUCER, NULL, &p);

	if (rc < 0)
		return tu_cfail(2, "producer open: %s", mring_strerror(rc));
	for (;;) {
		size_t len;
		void *w;

		if (j->records) {
			if (seq == j->total)
				break;
			len = tu_rec_len(seq, j->salt, 8, j->maxrec);
		} else {
			if (pos == j->total)
				break;
			len = 1 + (size_t)(tu_mix(pos ^ j->salt) % j->maxrec);
			if (len > j->total - pos)
				len = (size_t)(j->total - pos);
		}
		rc = mring_reserve(p, len, &w, -1);
		if (rc < 0)
			return tu_cfail(3, "reserve: %s", mring_strerror(rc));
		if (j->records)
			tu_rec_fill(w, seq, len);
		else
			tu_fill(w, pos, len);
		rc = mring_commit(p, len);
		if (rc < 0)
			return tu_cfail(4, "commit: %s", mring_strerror(rc));
		pos += len;
		seq++;
	}
	mring_close(p);
	return 0;
}

/*
 * A consumer. Durable ones must see everything, in order. The observer may
 * be lapped: each MRING_ELAPPED must advance its position by exactly the
 * bytes (and records) the stats say were lost, and data it read that the
 * producer overwrote meanwhile is discarded (mring_release says so).
 */
static int consumer(void *arg)
{
	const struct job *j = arg;
	struct mring_config cfg;
	struct mring_stats st;
	struct mring *c;
	uint64_t pos = 0, seq = 0, lost_b = 0, lost_r = 0, laps = 0;
	uint64_t rnd = j->salt + 99;
	int rc;

	memset(&cfg, 0, sizeof cfg);
	cfg.consumer_name = j->name;
	rc = mring_open(j->path, MRING_CONSUMER, &cfg, &c);
	if (rc < 0)
		return tu_cfail(2, "consumer open: %s", mring_strerror(rc));
	/* The observer may join late: it starts at the oldest data. */
	mring_stats(c, &st);
	pos = st.position;
	bool seq_known = j->name != NULL || pos == 0;
	for (;;) {
		const void *ptr;
		ssize_t n = mring_peek(c, &ptr, -1);
		bool ok;
		size_t k = 0;

		if (n == 0)
			break;
		if (n == MRING_ELAPPED || n > 0) {
			if (n > 0) {
				if (j->records && !seq_known && n >= 8) {
					seq = tu_rec_seq(ptr);
					seq_known = true;
				}
				if (j->records) {
					ok = (size_t)n ==
					             tu_rec_len(seq, j->salt, 8,
					                        j->maxrec) &&
					     tu_rec_check(ptr, seq, (size_t)n) <
					             0;
				} else {
					k = 1 + (size_t)(tu_rand(&rnd) %
					                 (uint64_t)n);
					ok = tu_check(ptr, pos, k) < 0;
				}
				rc = mring_release(c, k);
				if (rc == 0 && !ok) {
					mring_stats(c, &st);
					return tu_cfail(
						5,
						"bad data at %s %llu (position "
						"%llu, %zd bytes, first word "
						"%llu; now at %llu, lapped "
						"%llu)",
						j->records ? "record"
							   : "position",
						(unsigned long long)(j->records
					                                     ? seq
					                                     : pos),
						(unsigned long long)pos, n,
						n >= 8 ? (unsigned long long)
								 tu_rec_seq(ptr)
						       : 0ULL,
						(unsigned long long)st.position,
						(unsigned long long)st.lapped);
				}
				if (rc == 0) {
					pos += j->records ? tu_rec_size(
								    (uint64_t)n)
					                  : k;
					seq++;
					continue;
				}
				if (rc != MRING_ELAPPED)
					return tu_cfail(6, "release: %s",
					                mring_strerror(rc));
			}
			/* Lapped: only the observer may be. */
			if (j->name)
				return tu_cfail(7, "durable consumer lapped");
			mring_stats(c, &st);
			if (st.lapped != ++laps)
				return tu_cfail(8, "lapped %llu, expected %llu",
				                (unsigned long long)st.lapped,
				                (unsigned long long)laps);
			if (st.bytes_lost <= lost_b)
				return tu_cfail(9, "lapped without loss");
			pos += st.bytes_lost - lost_b;
			seq += st.records_lost - lost_r;
			lost_b = st.bytes_lost;
			lost_r = st.records_lost;
			if (st.position != pos)
				return tu_cfail(10,
				                "position %llu after loss, "
				                "expected %llu",
				                (unsigned long long)st.position,
				                (unsigned long long)pos);
			continue;
		}
		return tu_cfail(11, "peek: %s", mring_strerror((int)n));
	}
	mring_stats(c, &st);
	mring_close(c);
	if (j->records ? seq != j->total : pos != j->total)
		return tu_cfail(12, "ended at %llu of %llu",
		                (unsigned long long)(j->records ? seq : pos),
		                (unsigned long long)j->total);
	if (st.position != pos)
		return tu_cfail(13, "stats position %llu, read to %llu",
		                (unsigned long long)st.position,
		                (unsigned long long)pos);
	if (j->name && (st.lapped || st.bytes_lost))
		return tu_cfail(14, "durable consumer lost data");
	if (!j->name)
		printf("observer: lapped %llu times, lost %llu bytes\n",
		       (unsigned long long)st.lapped,
		       (unsigned long long)st.bytes_lost);
	return 0;
}

/* Reap n children; after the first failure, SIGKILL the rest. */
static void wait_all(const pid_t *pids, int *res, int n)
{
	int left = n;

	for (int i = 0; i < n; i++)
		res[i] = -1;
	while (left > 0) {
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (pids[i] != pid)
				continue;
			res[i] = WIFEXITED(st) ? WEXITSTATUS(st)
			                       : 128 + WTERMSIG(st);
			left--;
			if (res[i] != 0)
				for (int k = 0; k < n; k++)
					if (res[k] == -1)
						kill(pids[k], SIGKILL);
		}
	}
}

static void run(bool records, unsigned extra_flags)
{
	TU_PATH(path, "procs");
	const uint64_t cap = 16 * (uint64_t)tu_page();
	struct job prod, c1, c2, obs;
	pid_t pp, p1, p2, po;
	struct mring_info in;
	struct mring_consumer_info ci[4];

	memset(&prod, 0, sizeof prod);
	prod.path = path;
	prod.records = records;
	prod.maxrec = 2 * (size_t)tu_page() - 16;
	prod.salt = records ? 17 : 5;
	/* 100 laps and a bit, in bytes or in records of ~maxrec/2 */
	prod.total = records ? 100 * cap / (prod.maxrec / 2 + 20) + 77
	                     : 100 * cap + 12345;
	tu_create(path, cap, (uint32_t)prod.maxrec,
	          (records ? MRING_F_RECORDS : 0) | extra_flags);

	/* Register the durable consumers at position 0 before any data. */
	c1 = c2 = obs = prod;
	c1.name = "first";
	c2.name = "second";
	obs.name = NULL;
	for (int i = 0; i < 2; i++) {
		struct mring_config cfg;
		struct mring *c;
		memset(&cfg, 0, sizeof cfg);
		cfg.consumer_name = i ? "second" : "first";
		assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
		mring_close(c);
	}

	p1 = tu_spawn(consumer, &c1, 120);
	po = tu_spawn(consumer, &obs, 120);
	pp = tu_spawn(producer, &prod, 120);
	p2 = tu_spawn(consumer, &c2, 120);
	{
		/* If one fails, the others would wait for it: kill them. */
		pid_t pids[4] = {pp, p1, p2, po};
		int res[4];
		wait_all(pids, res, 4);
		if (res[0] || res[1] || res[2] || res[3])
			fail_msg("exit status (128 + signal): producer %d, "
			         "first %d, second %d, observer %d",
			         res[0], res[1], res[2], res[3]);
	}

	assert_rc(mring_inspect(path, &in, ci, 4), 2);
	assert_true(in.eof == 1 && in.producer_alive == 0);
	for (int i = 0; i < 2; i++) {
		assert_true(ci[i].durable && !ci[i].alive);
		assert_true(ci[i].position == in.head);
	}
	tu_rm(path);
}

static void test_bytes(void **state)
{
	(void)state;
	run(false, 0);
}

static void test_records(void **state)
{
	(void)state;
	run(true, 0);
}

static void test_records_crc(void **state)
{
	(void)state;
	run(true, MRING_F_CRC);
}

/*
 * An observer that joins a live producer must know the number of the record
 * it starts at, or it cannot count the records it loses when lapped. With
 * records of one size, records lost = bytes lost / record size exactly.
 * The ring is small, so the producer often overwrites the observer's first
 * record while it opens (which left the number unknown, and the loss
 * counted as zero records). A rarer race, a commit landing between two
 * reads of head, hit the observer of test_records above instead.
 */
#define JOIN_PAYLOAD 56

static volatile int *join_stop;

static int join_producer(void *arg)
{
	const char *path = arg;
	struct mring *p;
	uint64_t seq = 0;
	int rc = mring_open(path, MRING_PRODUCER, NULL, &p);

	if (rc < 0)
		return tu_cfail(2, "producer open: %s", mring_strerror(rc));
	while (!__atomic_load_n(join_stop, __ATOMIC_RELAXED)) {
		void *w;
		rc = mring_reserve(p, JOIN_PAYLOAD, &w, -1);
		if (rc < 0)
			return tu_cfail(3, "reserve: %s", mring_strerror(rc));
		tu_rec_fill(w, seq++, JOIN_PAYLOAD);
		rc = mring_commit(p, JOIN_PAYLOAD);
		if (rc < 0)
			return tu_cfail(4, "commit: %s", mring_strerror(rc));
	}
	mring_close(p);
	return 0;
}

static void test_observer_joins_live(void **state)
{
	TU_PATH(path, "join");
	const uint64_t cap = 64 * (uint64_t)tu_page();
	const uint64_t rsize = tu_rec_size(JOIN_PAYLOAD);
	struct mring_config cfg;
	pid_t pp;
	(void)state;

	join_stop = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
	                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(join_stop != MAP_FAILED);
	*join_stop = 0;
	tu_create(path, cap, 256, MRING_F_RECORDS);
	pp = tu_spawn(join_producer, (void *)path, 120);
	memset(&cfg, 0, sizeof cfg);
	cfg.start = MRING_START_NEWEST;
	for (int i = 0; i < 100; i++) {
		struct mring_stats st;
		struct mring_info in;
		struct mring *c;
		const void *ptr;
		ssize_t n;

		assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
		mring_stats(c, &st);
		/* Do not peek (a peek would learn the number from the
		 * header): wait for the producer to lap us, then look. */
		do {
			assert_ok(mring_inspect(path, &in, NULL, 0));
			assert_int_equal(in.eof, 0);
		} while (in.tail <= st.position);
		n = mring_peek(c, &ptr, 0);
		assert_int_equal(n, MRING_ELAPPED);
		mring_stats(c, &st);
		assert_true(st.bytes_lost > 0);
		assert_int_equal(st.bytes_lost % rsize, 0);
		if (st.records_lost != st.bytes_lost / rsize)
			fail_msg("open %d: lost %llu bytes = %llu records, "
			         "counted %llu",
			         i, (unsigned long long)st.bytes_lost,
			         (unsigned long long)(st.bytes_lost / rsize),
			         (unsigned long long)st.records_lost);
		mring_close(c);
	}
	__atomic_store_n(join_stop, 1, __ATOMIC_RELAXED);
	assert_int_equal(tu_wait(pp), 0);
	munmap((void *)join_stop, sizeof(int));
	tu_rm(path);
}

/*
 * Inspecting or opening a ring while a producer and a consumer run flat
 * out: the copy of the control block taken at open is not a snapshot (a
 * consumer's position, copied after head, can be beyond it). That must not
 * read as damage, and inspect must never show a consumer beyond head.
 */
static int live_producer(void *arg)
{
	const char *path = arg;
	struct mring *p;
	uint64_t pos = 0;
	int rc = mring_open(path, MRING_PRODUCER, NULL, &p);

	if (rc < 0)
		return tu_cfail(2, "producer open: %s", mring_strerror(rc));
	while (!__atomic_load_n(join_stop, __ATOMIC_RELAXED)) {
		void *w;
		size_t len = 1 + (size_t)(tu_mix(pos) % 512);
		rc = mring_reserve(p, len, &w, 100);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return tu_cfail(3, "reserve: %s", mring_strerror(rc));
		tu_fill(w, pos, len);
		rc = mring_commit(p, len);
		if (rc < 0)
			return tu_cfail(4, "commit: %s", mring_strerror(rc));
		pos += len;
	}
	mring_close(p);
	return 0;
}

static int live_consumer(void *arg)
{
	const char *path = arg;
	struct mring_config cfg;
	struct mring *c;
	uint64_t pos = 0;
	int rc;

	memset(&cfg, 0, sizeof cfg);
	cfg.consumer_name = "reader";
	rc = mring_open(path, MRING_CONSUMER, &cfg, &c);
	if (rc < 0)
		return tu_cfail(2, "consumer open: %s", mring_strerror(rc));
	while (!__atomic_load_n(join_stop, __ATOMIC_RELAXED)) {
		const void *ptr;
		ssize_t n = mring_peek(c, &ptr, 100);
		if (n == -ETIMEDOUT)
			continue;
		if (n == 0)
			break; /* the producer stopped first */
		if (n < 0)
			return tu_cfail(5, "peek: %s", mring_strerror((int)n));
		if (tu_check(ptr, pos, (size_t)n) >= 0)
			return tu_cfail(6, "bad data at %llu",
			                (unsigned long long)pos);
		rc = mring_release(c, (size_t)n);
		if (rc < 0)
			return tu_cfail(7, "release: %s", mring_strerror(rc));
		pos += (uint64_t)n;
	}
	mring_close(c);
	return 0;
}

static void test_inspect_live(void **state)
{
	TU_PATH(path, "live");
	pid_t pp, pc;
	(void)state;

	join_stop = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
	                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(join_stop != MAP_FAILED);
	*join_stop = 0;
	tu_create(path, 16 * (uint64_t)tu_page(), 512, 0);
	{
		/* Register the reader before any data. */
		struct mring_config cfg;
		struct mring *c;
		memset(&cfg, 0, sizeof cfg);
		cfg.consumer_name = "reader";
		assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
		mring_close(c);
	}
	pc = tu_spawn(live_consumer, (void *)path, 120);
	pp = tu_spawn(live_producer, (void *)path, 120);
	for (int i = 0; i < 20000; i++) {
		struct mring_consumer_info ci[2];
		struct mring_info in;
		int rc = mring_inspect(path, &in, ci, 2);

		if (rc != 1)
			fail_msg("inspect %d: %s", i, mring_strerror(rc));
		assert_true(in.tail <= in.head);
		if (ci[0].position > in.head)
			fail_msg("inspect %d: consumer at %llu, head %llu", i,
			         (unsigned long long)ci[0].position,
			         (unsigned long long)in.head);
		if (i % 10 == 0) {
			struct mring *c;
			rc = mring_open(path, MRING_CONSUMER, NULL, &c);
			if (rc < 0)
				fail_msg("observer open %d: %s", i,
				         mring_strerror(rc));
			mring_close(c);
		}
	}
	__atomic_store_n(join_stop, 1, __ATOMIC_RELAXED);
	assert_int_equal(tu_wait(pp), 0);
	assert_int_equal(tu_wait(pc), 0);
	munmap((void *)join_stop, sizeof(int));
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_records_crc),
		cmocka_unit_test(test_observer_joins_live),
		cmocka_unit_test(test_inspect_live),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
