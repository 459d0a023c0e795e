/*
 * Producer crashes: a child producer writing records (or bytes) is killed
 * with SIGKILL, either by itself in the middle of a reservation or by the
 * parent at a seeded, unsynchronised point. A new producer then opens the
 * ring: a consumer reads every committed record intact and in order, no
 * half record, and the new producer continues the stream (record numbers
 * continue, checked in the record headers on disk). Also a producer killed
 * while it attaches, in the middle of noting the boot it runs in.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CAP (16u << 20)
#define MAXLEN 1000

struct job {
	const char *path;
	bool records;
	uint64_t first; /* number of the first record this child writes */
	uint64_t count; /* self-kill: commits before dying; else a limit */
	bool self_kill;
	int fd; /* progress reports */
	uint64_t salt;
};

static size_t len_of(const struct job *j, uint64_t i)
{
	return tu_rec_len(i, j->salt, 8, MAXLEN);
}

static int crash_producer(void *arg)
{
	const struct job *j = arg;
	struct mring *p;
	uint64_t pos = 0;
	void *w;
	int rc = mring_open(j->path, MRING_PRODUCER, NULL, &p);

	if (rc < 0)
		return tu_cfail(2, "open: %s", mring_strerror(rc));
	{
		struct mring_stats st;
		mring_stats(p, &st);
		pos = st.head;
	}
	for (uint64_t i = j->first; i < j->first + j->count; i++) {
		size_t len = len_of(j, i);
		if ((rc = mring_reserve(p, len, &w, 0)) < 0)
			return tu_cfail(3, "reserve: %s", mring_strerror(rc));
		if (j->records)
			tu_rec_fill(w, i, len);
		else
			tu_fill(w, pos, len);
		mring_commit(p, len);
		pos += len;
		if (!j->self_kill && i % 16 == 15)
			tu_put_u64(j->fd, j->records ? i + 1 : pos);
	}
	if (j->self_kill) {
		/* Die with a reservation half written. */
		size_t len = len_of(j, j->first + j->count);
		if (mring_reserve(p, len, &w, 0) == 0) {
			if (j->records)
				tu_rec_fill(w, j->first + j->count, len / 2);
			else
				tu_fill(w, pos, len / 2);
		}
		kill(getpid(), SIGKILL);
	}
	tu_put_u64(j->fd, j->records ? j->first + j->count : pos);
	for (;;)
		pause();
}

/* Run a producer child to its death; returns the last progress report. */
static uint64_t crash(struct job *j, unsigned reports)
{
	int fds[2];
	uint64_t v, last = 0;
	pid_t pid;
	int st;

	assert_int_equal(pipe(fds), 0);
	j->fd = fds[1];
	pid = tu_spawn(crash_producer, j, 60);
	close(fds[1]);
	if (j->self_kill) {
		st = tu_wait(pid);
	} else {
		for (unsigned i = 0; i < reports; i++)
			if (tu_get_u64_fd(fds[0], &v) == 1)
				last = v;
		st = tu_kill(pid);
	}
	assert_int_equal(st, 128 + SIGKILL);
	while (tu_get_u64_fd(fds[0], &v) == 1)
		last = v;
	close(fds[0]);
	return last;
}

static void recover_records(const char *path, const struct job *j,
                            uint64_t at_least, uint64_t exactly)
{
	struct mring_info in;
	struct mring_stats st;
	struct mring *p, *c;
	const void *rp;
	uint64_t seq = 0;
	ssize_t n;

	assert_rc(mring_inspect(path, &in, NULL, 0), 1);
	assert_int_equal(in.producer_alive, 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER,
	                     &(struct mring_config){.consumer_name = "c"}, &c),
	          0);
	while ((n = mring_peek(c, &rp, 0)) > 0) {
		size_t len = len_of(j, seq);
		if ((size_t)n != len || tu_rec_check(rp, seq, len) >= 0)
			fail_msg("record %llu after the crash: %zd bytes, "
			         "want %zu, damaged",
			         (unsigned long long)seq, n, len);
		assert_rc(mring_release(c, 0), 0);
		seq++;
	}
	assert_rc(n, -EAGAIN); /* no half record, no end of stream */
	print_message("    %llu records survived (%llu reported)\n",
	              (unsigned long long)seq, (unsigned long long)at_least);
	if (seq < at_least || (exactly != UINT64_MAX && seq != exactly))
		fail_msg("%llu records survived; committed at least %llu%s",
		         (unsigned long long)seq, (unsigned long long)at_least,
		         exactly != UINT64_MAX ? " (exactly)" : "");
	assert_true(seq <= j->first + j->count);

	/* The new producer continues: numbers go on from seq. */
	assert_rc(mring_stats(c, &st), 0);
	for (uint64_t s = seq; s < seq + 20; s++) {
		size_t len = len_of(j, s);
		void *w;
		uint64_t hseq;
		uint64_t at = st.head;

		assert_rc(mring_reserve(p, len, &w, 0), 0);
		tu_rec_fill(w, s, len);
		assert_rc(mring_commit(p, len), 0);
		assert_rc(tu_pread(path, in.data_offset + at % in.capacity + 8,
		                   &hseq, 8),
		          0);
		if (hseq != s)
			fail_msg("record header says %llu, expected %llu",
			         (unsigned long long)hseq,
			         (unsigned long long)s);
		assert_rc(mring_peek(c, &rp, 0), (ssize_t)len);
		assert_true(tu_rec_check(rp, s, len) < 0);
		assert_rc(mring_release(c, 0), 0);
		assert_rc(mring_stats(c, &st), 0);
	}
	mring_close(p);
	mring_close(c);
}

static void recover_bytes(const char *path, const struct job *j,
                          uint64_t at_least, uint64_t exactly)
{
	struct mring_stats st;
	struct mring *p, *c;
	const void *rp;
	uint64_t pos = 0, head;
	ssize_t n;

	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_stats(p, &st), 0);
	head = st.head;
	if (head < at_least || (exactly != UINT64_MAX && head != exactly))
		fail_msg("head %llu after the crash; committed at least %llu",
		         (unsigned long long)head,
		         (unsigned long long)at_least);
	assert_true(st.position == head);
	assert_rc(mring_open(path, MRING_CONSUMER,
	                     &(struct mring_config){.consumer_name = "c"}, &c),
	          0);
	while ((n = mring_peek(c, &rp, 0)) > 0) {
		if (tu_check(rp, pos, (size_t)n) >= 0)
			fail_msg("bad byte after the crash near %llu",
			         (unsigned long long)pos);
		assert_rc(mring_release(c, (size_t)n), 0);
		pos += (uint64_t)n;
	}
	assert_rc(n, -EAGAIN);
	assert_true(pos == head);
	/* The stream goes on at head. */
	for (int i = 0; i < 20; i++) {
		size_t len = len_of(j, (uint64_t)i + 99999);
		void *w;
		assert_rc(mring_reserve(p, len, &w, 0), 0);
		tu_fill(w, head, len);
		assert_rc(mring_commit(p, len), 0);
		head += len;
	}
	while ((n = mring_peek(c, &rp, 0)) > 0) {
		assert_true(tu_check(rp, pos, (size_t)n) < 0);
		assert_rc(mring_release(c, (size_t)n), 0);
		pos += (uint64_t)n;
	}
	assert_true(pos == head);
	(void)j;
	mring_close(p);
	mring_close(c);
}

static void prepare(const char *path, bool records, unsigned flags)
{
	struct mring *c;

	tu_create(path, CAP, MAXLEN, (records ? MRING_F_RECORDS : 0) | flags);
	/* A durable consumer at 0 keeps every byte (and would hold the
	 * producer back before a lap, which the limits below avoid). */
	assert_rc(mring_open(path, MRING_CONSUMER,
	                     &(struct mring_config){.consumer_name = "c"}, &c),
	          0);
	mring_close(c);
}

static void run(bool records, unsigned flags, uint64_t seed)
{
	TU_PATH(path, "crash");
	/* A limit that stays below one capacity: ~520 bytes per record. */
	const uint64_t limit = CAP / (MAXLEN + 24);

	for (int i = 0; i < 10; i++) {
		struct job j = {.path = path,
		                .records = records,
		                .salt = seed + (uint64_t)i};
		uint64_t got;

		print_message("  round %d: ", i);
		prepare(path, records, flags);
		if (i % 2 == 0) {
			j.self_kill = true;
			j.count = tu_rand(&seed) % limit;
			print_message("self-kill after %llu commits\n",
			              (unsigned long long)j.count);
			crash(&j, 0);
			if (records) {
				recover_records(path, &j, j.count, j.count);
			} else {
				uint64_t sum = 0;
				for (uint64_t k = 0; k < j.count; k++)
					sum += len_of(&j, k);
				recover_bytes(path, &j, sum, sum);
			}
		} else {
			unsigned reports;
			j.count = limit;
			reports = (unsigned)(tu_rand(&seed) % (limit / 16));
			print_message("killed after %u reports\n", reports);
			got = crash(&j, reports);
			if (records)
				recover_records(path, &j, got, UINT64_MAX);
			else
				recover_bytes(path, &j, got, UINT64_MAX);
		}
	}
	tu_rm(path);
}

static void test_records(void **state)
{
	(void)state;
	run(true, 0, 1);
}

static void test_records_crc(void **state)
{
	(void)state;
	run(true, MRING_F_CRC, 2);
}

static void test_bytes(void **state)
{
	(void)state;
	run(false, 0, 3);
}

/* Two crashes in a row: the second producer recovers, adds records and
 * dies in a reservation too; all 150 committed records survive. */
static void test_double_crash(void **state)
{
	TU_PATH(path, "crash2");
	struct job j = {.path = path,
	                .records = true,
	                .self_kill = true,
	                .count = 100,
	                .salt = 9};

	(void)state;
	prepare(path, true, MRING_F_CRC);
	crash(&j, 0);
	j.first = 100;
	j.count = 50;
	crash(&j, 0);
	recover_records(path, &j, 150, 150);
	tu_rm(path);
}

/*
 * open() and read() for this executable, the statically linked library
 * included: a child arms them to die of SIGKILL in its nth read of the
 * boot id, which the producer does when it attaches. Otherwise plain
 * system calls.
 */
static int boot_id_kill_at;
static int boot_id_fd = -1;

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
	if (strcmp(path, "/proc/sys/kernel/random/boot_id") == 0)
		boot_id_fd = fd;
	return fd;
}

ssize_t read(int fd, void *buf, size_t len)
{
	if (boot_id_kill_at > 0 && fd == boot_id_fd && --boot_id_kill_at == 0)
		raise(SIGKILL);
	return (ssize_t)syscall(SYS_read, fd, buf, len);
}

static int attach_and_die(void *arg)
{
	struct mring *p;
	int rc = mring_open(arg, MRING_PRODUCER, NULL, &p);

	/* Not reached when the kill came. */
	return tu_cfail(rc < 0 ? 2 : 3, "attach: %s", tu_rcstr(rc));
}

/*
 * A producer killed while attaching, as it reads the boot id (found by
 * the torture, bench/torture): the next producer must still know it is
 * the same boot. It used to find the boot id in the control block blanked
 * (it was read straight into it), took the crash for a reboot and rolled
 * head back to the last mring_sync(): committed bytes lost.
 */
static void test_killed_attaching(void **state)
{
	TU_PATH(path, "crash-attach");
	struct job j = {.path = path, .self_kill = true, .count = 100};
	uint64_t sum = 0;

	(void)state;
	prepare(path, false, 0);
	crash(&j, 0); /* 100 chunks committed, not clean */
	for (uint64_t k = 0; k < j.count; k++)
		sum += len_of(&j, k);
	for (int n = 1; n <= 2; n++) {
		pid_t pid;
		boot_id_kill_at = n; /* inherited by the child only */
		pid = tu_spawn(attach_and_die, path, 60);
		boot_id_kill_at = 0;
		assert_int_equal(tu_wait(pid), 128 + SIGKILL);
	}
	recover_bytes(path, &j, sum, sum);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_records_crc),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_double_crash),
		cmocka_unit_test(test_killed_attaching),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
