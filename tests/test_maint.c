/*
 * The producer's maintenance thread: reclaim policy selection and
 * fallback, reclaim that never destroys data a reader still needs, disk
 * full as an error, no major faults for a writer over evicted pages, and
 * the NUMA placement of the thread and its pages.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <numaif.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MIB (1ull << 20)

static struct mring *open_producer(const char *path, int reclaim,
                                   uint64_t budget)
{
	struct mring_config c = {0};
	struct mring *p;

	c.reclaim = reclaim;
	c.cache_budget = budget;
	assert_rc(mring_open(path, MRING_PRODUCER, &c, &p), 0);
	return p;
}

static void write_bytes(struct mring *p, uint64_t *head, uint64_t n)
{
	uint64_t end = *head + n;

	while (*head < end) {
		size_t len = 65536;
		void *w;
		if (len > end - *head)
			len = (size_t)(end - *head);
		assert_rc(mring_reserve(p, len, &w, -1), 0);
		tu_fill(w, *head, len);
		assert_rc(mring_commit(p, len), 0);
		*head += len;
	}
}

/* The file is on tmpfs (TMPDIR may point at one: tools/fs-matrix.sh). */
static bool on_tmpfs(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

static bool madvise_skipped; /* then main() exits 77, a skip in ctest */

/* Skip a test of what madvise() does where it does nothing (qemu-user). */
static void need_madvise(const char *test)
{
	const char *why = tu_madvise_ignored();

	if (!why)
		return;
	print_message("%s cannot be tested here: %s\n", test, why);
	madvise_skipped = true;
	skip();
}

static void test_policy_selection(void **state)
{
	TU_PATH(path, "policy");
	struct mring_stats st;
	struct mring *p;

	(void)state;
	tu_create(path, 8 * MIB, 0, 0);
	/* A ring that stays within its page-cache budget: nothing to do. */
	p = open_producer(path, MRING_RECLAIM_AUTO, 64 * MIB);
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.reclaim, MRING_RECLAIM_NONE);
	assert_true(st.maint == 1 || st.maint == 2);
	mring_close(p);
	/* Larger than the budget, on a disk file system: zero-range
	 * (tmpfs, when TMPDIR is one: nothing to read back, none). */
	p = open_producer(path, MRING_RECLAIM_AUTO, 1 * MIB);
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.reclaim, on_tmpfs(path) ? MRING_RECLAIM_NONE
	                                            : MRING_RECLAIM_ZERO);
	mring_close(p);
	/* Asked for explicitly: kept, but never holes in a ring in memory
	 * (a reader of a punched page of a full tmpfs would die). */
	p = open_producer(path, MRING_RECLAIM_PUNCH, 0);
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.reclaim, on_tmpfs(path) ? MRING_RECLAIM_CACHE
	                                            : MRING_RECLAIM_PUNCH);
	mring_close(p);
	/* Thread off: no maintenance at all. */
	struct mring_config c = {.flags = MRING_F_NO_PREFETCH};
	assert_rc(mring_open(path, MRING_PRODUCER, &c, &p), 0);
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.maint, 0);
	mring_close(p);
	/* System calls unless io_uring is asked for; NO_URING wins. */
	c.flags = MRING_F_NO_URING | MRING_F_URING;
	assert_rc(mring_open(path, MRING_PRODUCER, &c, &p), 0);
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.maint, 2);
	mring_close(p);
	if (!getenv("MRING_URING") && !getenv("MRING_NO_URING")) {
		c.flags = 0;
		assert_rc(mring_open(path, MRING_PRODUCER, &c, &p), 0);
		assert_rc(mring_stats(p, &st), 0);
		assert_int_equal(st.maint, 2);
		mring_close(p);
		/* io_uring where it can be set up (here it can: CI checks
		 * that the io_uring path is really taken). */
		c.flags = MRING_F_URING;
		assert_rc(mring_open(path, MRING_PRODUCER, &c, &p), 0);
		assert_rc(mring_stats(p, &st), 0);
		assert_int_equal(st.maint, tu_uring_works() ? 1 : 2);
		mring_close(p);
	}
	c.flags = 0;
	c.reclaim = 9;
	assert_rc(mring_open(path, MRING_PRODUCER, &c, &p), -EINVAL);
	tu_rm(path);
}

/* tmpfs: nothing is read back, so AUTO does nothing; zero-range is not
 * supported there and falls back to dropping the cache. */
static void test_policy_tmpfs(void **state)
{
	const char *dir = tu_shm_dir();
	char path[128];
	struct mring_stats st;
	struct mring *p, *c;
	uint64_t head = 0;

	(void)state;
	if (!dir)
		skip();
	snprintf(path, sizeof path, "%s/r", dir);
	tu_create(path, 4 * MIB, 0, 0);
	p = open_producer(path, MRING_RECLAIM_AUTO, 1 * MIB);
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.reclaim, MRING_RECLAIM_NONE);
	mring_close(p);
	/* No holes in memory: a read fault on one allocates, and on a full
	 * tmpfs raises SIGBUS in a lapped reader. */
	p = open_producer(path, MRING_RECLAIM_PUNCH, 1 * MIB);
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.reclaim, MRING_RECLAIM_CACHE);
	mring_close(p);

	p = open_producer(path, MRING_RECLAIM_ZERO, 1 * MIB);
	assert_rc(mring_open(path, MRING_CONSUMER,
	                     &(struct mring_config){.consumer_name = "v"}, &c),
	          0);
	for (int lap = 0; lap < 3; lap++) {
		write_bytes(p, &head, 2 * MIB);
		const void *q;
		ssize_t n;
		uint64_t pos;
		assert_rc(mring_stats(c, &st), 0);
		pos = st.position;
		while ((n = mring_peek(c, &q, 0)) > 0) {
			assert_true(tu_check(q, pos, (size_t)n) < 0);
			assert_rc(mring_release(c, (size_t)n), 0);
			pos += (uint64_t)n;
		}
		assert_rc(n, -EAGAIN);
	}
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.reclaim, MRING_RECLAIM_CACHE);
	mring_close(c);
	mring_close(p);
	unlink(path);
	rmdir(dir);
}

/* Extents of the file marked unwritten, after its dirty pages are
 * written (FIEMAP_FLAG_SYNC); -1 if FIEMAP fails. */
static int unwritten_extents(const char *path)
{
	enum { N = 64 };
	size_t size = sizeof(struct fiemap) + N * sizeof(struct fiemap_extent);
	struct fiemap *fm = malloc(size);
	int fd = open(path, O_RDONLY);
	uint64_t start = 0;
	int found = 0;

	if (fd < 0 || !fm) {
		free(fm);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (;;) {
		memset(fm, 0, size);
		fm->fm_start = start;
		fm->fm_length = FIEMAP_MAX_OFFSET - start;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = N;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
			found = -1;
			break;
		}
		if (fm->fm_mapped_extents == 0)
			break;
		const struct fiemap_extent *e = fm->fm_extents;
		for (unsigned i = 0; i < fm->fm_mapped_extents; i++)
			found += (e[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN) != 0;
		const struct fiemap_extent *last =
			&e[fm->fm_mapped_extents - 1];
		if (last->fe_flags & FIEMAP_EXTENT_LAST)
			break;
		start = last->fe_logical + last->fe_length;
	}
	close(fd);
	free(fm);
	return found;
}

/*
 * ZERO on XFS writes zeros over the previous lap instead of zero-ranging
 * it (XFS frees and reallocates the blocks for a zero-range: stalls of
 * seconds). The blocks stay written, no extent becomes unwritten, and a
 * durable consumer reads every byte of three laps intact. (With the
 * zero-range, the chunks discarded beyond what was pre-zeroed are still
 * unwritten when the producer closes.) Elsewhere: skipped; the
 * filesystems stage of tools/test.sh runs it on XFS.
 */
static void test_xfs_zero_by_write(void **state)
{
	TU_PATH(path, "xfs");
	struct mring_stats st;
	struct statfs sf;
	struct mring *p, *c;
	uint64_t head = 0, pos = 0;
	const void *q;
	ssize_t n;

	(void)state;
	if (statfs(tu_dir(), &sf) < 0 || sf.f_type != XFS_SUPER_MAGIC) {
		print_message("not on XFS (TMPDIR): skipped\n");
		skip();
	}
	tu_create(path, 32 * MIB, 0, 0);
	c = tu_consumer(path, "all");
	p = open_producer(path, MRING_RECLAIM_ZERO, 1 * MIB);
	while (head < 3 * 32 * MIB) {
		write_bytes(p, &head, 4 * MIB);
		while ((n = mring_peek(c, &q, 0)) > 0) {
			assert_true(tu_check(q, pos, (size_t)n) < 0);
			assert_rc(mring_release(c, (size_t)n), 0);
			pos += (uint64_t)n;
		}
		assert_rc(n, -EAGAIN);
	}
	assert_true(pos == head);
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.reclaim, MRING_RECLAIM_ZERO);
	assert_true(st.reclaim_ops > 0);
	assert_true(st.prezeroed_bytes > 0);
	mring_close(p);
	mring_close(c);
	assert_int_equal(unwritten_extents(path), 0);
	tu_rm(path);
}

/*
 * Back-pressure with zero-range and a tiny budget: reclaim runs all the
 * time, and a slow durable consumer still reads every byte intact.
 */
static void test_reclaim_spares_unread(void **state)
{
	TU_PATH(path, "spare");
	struct mring_stats st;
	struct mring *p, *c;
	uint64_t head = 0, pos = 0, total = 24 * MIB;
	const void *q;
	ssize_t n;

	(void)state;
	tu_create(path, 4 * MIB, 0, 0);
	assert_rc(mring_open(path, MRING_CONSUMER,
	                     &(struct mring_config){.consumer_name = "slow"},
	                     &c),
	          0);
	p = open_producer(path, MRING_RECLAIM_ZERO, 1 * MIB);
	while (pos < total) {
		/* Fill whatever is free, then read a little. */
		while (head < total) {
			void *w;
			size_t len = 50000;
			if (len > total - head)
				len = (size_t)(total - head);
			int rc = mring_reserve(p, len, &w, 0);
			if (rc == -EAGAIN)
				break;
			assert_rc(rc, 0);
			tu_fill(w, head, len);
			assert_rc(mring_commit(p, len), 0);
			head += len;
		}
		for (int i = 0; i < 3 && (n = mring_peek(c, &q, 0)) > 0; i++) {
			if ((uint64_t)n > 300000)
				n = 300000;
			assert_int_equal(tu_check(q, pos, (size_t)n), -1);
			assert_rc(mring_release(c, (size_t)n), 0);
			pos += (uint64_t)n;
		}
	}
	assert_rc(mring_stats(p, &st), 0);
	/* tmpfs has no zero-range: the thread falls back to dropping. */
	assert_int_equal(st.reclaim, on_tmpfs(path) ? MRING_RECLAIM_CACHE
	                                            : MRING_RECLAIM_ZERO);
	assert_true(st.reclaim_ops > 0);
	assert_true(st.reclaimed_bytes >= 4 * MIB);
	/*
	 * What zero-range discarded, the thread created again by writing
	 * zeros (pre-zeroing), never what the consumer still had to read:
	 * tu_check above saw every byte.
	 */
	if (st.reclaim == MRING_RECLAIM_ZERO)
		assert_true(st.prezeroed_bytes > 0);
	else
		assert_int_equal(st.prezeroed_bytes, 0);
	mring_close(p);
	mring_close(c);
	tu_rm(path);
}

/*
 * A producer reopened in the middle of a chunk: the thread discards by
 * file offset, ahead of the writer, and the chunk the head is in holds
 * this lap's committed bytes below the head. They must survive (the
 * SIGKILL torture found them zeroed: the first chunk discarded was the
 * head's own).
 */
static void test_reopen_keeps_head_chunk(void **state)
{
	TU_PATH(path, "reopen");
	struct mring_stats st;
	struct mring *p, *c;
	uint64_t head = 0, pos;
	uint8_t buf[65536];
	ssize_t n;

	(void)state;
	tu_create(path, 4 * MIB, 0, 0);
	p = open_producer(path, MRING_RECLAIM_NONE, 0);
	/* A lap and a part of a chunk. */
	write_bytes(p, &head, 4 * MIB + 100000);
	mring_close(p);
	p = open_producer(path, MRING_RECLAIM_ZERO, 1 * MIB);
	/* Let the thread discard ahead of the (idle) writer. */
	for (int i = 0;; i++) {
		assert_rc(mring_stats(p, &st), 0);
		if (st.reclaim_ops >= 4 || st.reclaim != MRING_RECLAIM_ZERO)
			break;
		/* A hang detector, not a timing assertion. */
		assert_true(i < 60000);
		tu_sleep_ms(1);
	}
	mring_close(p);
	/* Everything from the oldest intact byte to the head is data. */
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	assert_rc(mring_stats(c, &st), 0);
	pos = st.position;
	assert_true(pos < head - 100000);
	while ((n = mring_read(c, buf, sizeof buf, 0)) > 0) {
		assert_int_equal(tu_check(buf, pos, (size_t)n), -1);
		pos += (uint64_t)n;
	}
	assert_rc(n, 0);
	assert_true(pos == head);
	mring_close(c);
	tu_rm(path);
}

/*
 * Overwrite mode: reclaim runs ahead of the writer, but a consumer never
 * takes zeros for data: whatever it reads and releases without
 * MRING_ELAPPED is exactly what was written.
 */
static void test_reclaim_overwrite(void **state)
{
	TU_PATH(path, "ow");
	struct mring_stats st;
	struct mring *p, *c;
	uint64_t head = 0, pos = 0, good = 0;
	const void *q;
	ssize_t n;

	(void)state;
	tu_create(path, 4 * MIB, 0, MRING_F_OVERWRITE);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	p = open_producer(path, MRING_RECLAIM_ZERO, 1 * MIB);
	for (int round = 0; round < 40; round++) {
		write_bytes(p, &head, 1 * MIB + 4096 * (uint64_t)round);
		for (int i = 0; i < 2; i++) {
			n = mring_peek(c, &q, 0);
			if (n == MRING_ELAPPED || n == -EAGAIN)
				break;
			assert_true(n > 0);
			assert_rc(mring_stats(c, &st), 0);
			pos = st.position;
			if ((uint64_t)n > 200000)
				n = 200000;
			ssize_t bad = tu_check(q, pos, (size_t)n);
			int rc = mring_release(c, (size_t)n);
			if (rc == MRING_ELAPPED)
				break; /* overwritten while read: discard */
			assert_rc(rc, 0);
			assert_int_equal(bad, -1);
			good += (uint64_t)n;
		}
	}
	assert_true(good > 0);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.reclaim_ops > 0);
	mring_close(p);
	mring_close(c);
	tu_rm(path);
}

/*
 * The point of it all: pages of the previous lap are evicted (as under
 * memory pressure), yet the writer thread takes no major fault, because
 * the thread discarded the old data and pre-faulted the pages.
 */
static void test_no_major_faults(void **state)
{
	TU_PATH(path, "faults");
	struct mring_stats st;
	struct mring *p;
	uint64_t head = 0, cap = 32 * MIB;
	int fd;

	(void)state;
	need_madvise("pre-faulting (MADV_POPULATE_WRITE)");
	tu_create(path, cap, 0, 0);
	p = open_producer(path, MRING_RECLAIM_ZERO, 4 * MIB);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	write_bytes(p, &head, cap);
	/* Faults of the first lap may page in code; count from here. */
	assert_rc(mring_stats(p, &st), 0);
	uint64_t major0 = st.major_faults;
	for (int lap = 1; lap < 3; lap++) {
		/* Evict the ring's pages: write back, then drop them. */
		assert_rc(mring_sync(p), 0);
		assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED),
		                 0);
		write_bytes(p, &head, cap);
	}
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.major_faults - major0, 0);
	assert_true(st.reclaim_ops > 0);
	assert_true(st.writeback_ops > 0);
	close(fd);
	mring_close(p);
	tu_rm(path);
}

/* Bytes of [off, off + len) of the file in the page cache. */
static uint64_t resident(int fd, uint64_t off, uint64_t len)
{
	uint64_t page = (uint64_t)tu_page(), n = 0;
	size_t pages = (size_t)((len + page - 1) / page);
	unsigned char *vec = malloc(pages);
	/* A mapping never touched: mincore() sees the page cache only. */
	void *m =
		mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, (off_t)off);

	assert_non_null(vec);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mincore(m, (size_t)len, vec), 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	munmap(m, (size_t)len);
	free(vec);
	return n * page;
}

/*
 * A consumer catching up on data that left the page cache reads ahead on
 * its own: opening the window asks for the next 32 MiB (or the window's
 * end) before the consumer touches a byte. The kernel caps each
 * MADV_WILLNEED at the device's read-ahead size, so this also checks that
 * the request is split to get all of it.
 */
static void test_consumer_readahead(void **state)
{
	TU_PATH(path, "readahead");
	struct mring_config cc = {.start = MRING_START_OLDEST};
	struct mring_info info;
	struct mring *p, *c;
	const void *q;
	uint64_t head = 0, data = 24 * MIB;
	ssize_t n;
	int fd;

	(void)state;
	need_madvise("read-ahead (MADV_WILLNEED)");
	tu_create(path, 64 * MIB, 0, 0);
	p = open_producer(path, MRING_RECLAIM_NONE, 0);
	write_bytes(p, &head, data);
	assert_rc(mring_sync(p), 0);
	mring_close(p);
	assert_rc(mring_inspect(path, &info, NULL, 0), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	if (resident(fd, info.data_offset, data) > 2 * MIB) {
		/* tmpfs, or pages pinned elsewhere: nothing to read back. */
		close(fd);
		tu_rm(path);
		print_message("could not drop the ring from the page cache\n");
		skip();
	}

	assert_rc(mring_open(path, MRING_CONSUMER, &cc, &c), 0);
	n = mring_peek(c, &q, 0);
	assert_true(n >= (ssize_t)data);
	/* Nothing read yet. Read-ahead is asynchronous: wait for it (the
	 * bound is generous; a miss fails the test, slowness does not).
	 * It is also best effort: its page allocations do not retry, and a
	 * CI run under load stopped at 23.95 of 24 MiB for good. Half the
	 * data cached proves it was asked for: nothing else reads it. */
	uint64_t got = 0;
	for (int i = 0; i < 1000 && got < data; i++) {
		got = resident(fd, info.data_offset, data);
		if (got < data)
			tu_sleep_ms(10);
	}
	print_message("resident after peek: %llu of %llu bytes\n",
	              (unsigned long long)got, (unsigned long long)data);
	assert_true(got >= data / 2);
	assert_int_equal(tu_check(q, 0, data), -1);
	close(fd);
	mring_close(c);
	tu_rm(path);
}

/*
 * Behind the writer, written-back pages beyond the page-cache budget leave
 * the page cache, although the producer's own window still maps them (a
 * ring of 1 GiB or less is one window, mapped whole). A mapped page cannot
 * be dropped: the thread unmaps the stretch first. Without that, the pages
 * stayed until the kernel's reclaim took them, pre-faulted pages included
 * (the eight-writer benchmark ran at its cgroup's limit, with major faults).
 */
static void test_budget_drops_mapped(void **state)
{
	TU_PATH(path, "budget");
	struct mring_info info;
	struct mring *p;
	uint64_t head = 0, cap = 128 * MIB;
	int fd;

	(void)state;
	need_madvise("dropping mapped pages (MADV_DONTNEED)");
	tu_create(path, cap, 0, 0);
	if (on_tmpfs(path)) {
		/* The page cache is the file there: nothing is dropped. */
		print_message("nothing to drop on tmpfs\n");
		tu_rm(path);
		skip();
	}
	assert_rc(mring_inspect(path, &info, NULL, 0), 0);
	p = open_producer(path, MRING_RECLAIM_ZERO, 8 * MIB);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	/* Clean before the thread gets to them: write back, then go on. */
	write_bytes(p, &head, 32 * MIB);
	assert_rc(mring_sync(p), 0);
	write_bytes(p, &head, 64 * MIB);
	assert_rc(mring_sync(p), 0);
	/* The drops are asynchronous: wait for them (a generous bound; a
	 * miss fails the test, slowness does not). */
	uint64_t left = 0;
	for (int i = 0; i < 3000; i++) {
		left = resident(fd, info.data_offset, 32 * MIB);
		if (left == 0)
			break;
		tu_sleep_ms(10);
	}
	print_message("first 32 MiB still cached: %llu bytes\n",
	              (unsigned long long)left);
	assert_int_equal(left, 0);
	/* ... and what the writer wrote there is intact on disk. */
	struct mring *c;
	struct mring_config cc = {.start = MRING_START_OLDEST};
	const void *q;
	assert_rc(mring_open(path, MRING_CONSUMER, &cc, &c), 0);
	assert_true(mring_peek(c, &q, 0) >= (ssize_t)(32 * MIB));
	assert_int_equal(tu_check(q, 0, 32 * MIB), -1);
	mring_close(c);
	mring_close(p);
	close(fd);
	tu_rm(path);
}

/*
 * Read the ring from its oldest byte up to `to`, the head, checking every
 * byte; returns how many there were (the thread may have discarded the
 * oldest chunks ahead of a writer that stopped at a lap's end).
 */
static uint64_t check_oldest(const char *path, uint64_t to)
{
	struct mring_config cc = {.start = MRING_START_OLDEST};
	struct mring_stats st;
	struct mring *c;
	uint64_t from, pos;
	const void *q;
	ssize_t got;

	assert_rc(mring_open(path, MRING_CONSUMER, &cc, &c), 0);
	assert_rc(mring_stats(c, &st), 0);
	from = pos = st.position;
	while ((got = mring_peek(c, &q, 0)) > 0) {
		assert_true((uint64_t)got <= to - pos);
		assert_int_equal(tu_check(q, pos, (size_t)got), -1);
		assert_rc(mring_release(c, (size_t)got), 0);
		pos += (uint64_t)got;
	}
	assert_rc(got, 0);
	assert_int_equal(pos, to);
	mring_close(c);
	return to - from;
}

/*
 * mring_prefault on a ring within its page-cache budget prepares all of
 * it: the file's pages are in memory before a byte is written, and the
 * first lap then never waits for the thread. Asking for more is cut to
 * the ring; a timeout of 0 does not wait, and calling again waits for
 * the rest.
 */
static void test_prefault_resident(void **state)
{
	TU_PATH(path, "prefault");
	struct mring_stats st;
	struct mring *p;
	struct stat sb;
	uint64_t head = 0, cap = 32 * MIB;
	ssize_t n;
	int fd;

	(void)state;
	need_madvise("pre-faulting (MADV_POPULATE_WRITE)");
	tu_create(path, cap, 0, 0);
	p = open_producer(path, MRING_RECLAIM_AUTO, 64 * MIB);
	assert_int_equal(mring_prefault(p, 0, -1), 0);
	n = mring_prefault(p, (size_t)cap, 0);
	assert_true(n == -EAGAIN || n == (ssize_t)cap);
	while ((n = mring_prefault(p, SIZE_MAX, 100)) == -ETIMEDOUT)
		;
	assert_int_equal(n, cap);
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.prefault_ahead, cap);
	/* Every page of the data region is in the page cache now. */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_true(resident(fd, 0, (uint64_t)sb.st_size) >= cap);
	close(fd);
	/* A lap and more without waiting for the thread. */
	write_bytes(p, &head, cap + cap / 2);
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.maint_wait_ns, 0);
	mring_close(p);
	assert_int_equal(check_oldest(path, head), cap);
	tu_rm(path);
}

/*
 * A ring larger than its budget is prepared as far as the thread goes
 * ahead of the writer, not further (its pages would push out the ones
 * being written back); what is written over the prepared part is intact.
 */
static void test_prefault_larger_than_budget(void **state)
{
	TU_PATH(path, "prefault-large");
	struct mring_stats st;
	struct mring *p;
	uint64_t head = 0, cap = 32 * MIB;
	ssize_t n;

	(void)state;
	need_madvise("pre-faulting (MADV_POPULATE_WRITE)");
	tu_create(path, cap, 0, 0);
	p = open_producer(path, MRING_RECLAIM_ZERO, 4 * MIB);
	n = mring_prefault(p, (size_t)cap, -1);
	/* The thread's distance ahead: at most a quarter of the ring. */
	assert_true(n > 0 && (uint64_t)n <= cap / 4);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.prefault_ahead >= (uint64_t)n);
	/* Asking again, after writing, is answered from the new head. */
	write_bytes(p, &head, MIB / 2);
	assert_true(mring_prefault(p, (size_t)cap, -1) > 0);
	write_bytes(p, &head, cap - head);
	mring_close(p);
	assert_true(check_oldest(path, cap) >= cap / 2);
	tu_rm(path);
}

/*
 * Never over unread data: with a durable consumer that has read nothing
 * and the ring all but full, the call prepares the free space only and
 * returns at once instead of waiting for the consumer.
 */
static void test_prefault_stops_at_consumer(void **state)
{
	TU_PATH(path, "prefault-cons");
	struct mring *p, *c;
	uint64_t head = 0, cap = 32 * MIB;

	(void)state;
	need_madvise("pre-faulting (MADV_POPULATE_WRITE)");
	tu_create(path, cap, 0, 0);
	c = tu_consumer(path, "c");
	p = open_producer(path, MRING_RECLAIM_AUTO, 64 * MIB);
	write_bytes(p, &head, cap - 3 * MIB);
	assert_int_equal(mring_prefault(p, (size_t)cap, -1), 3 * MIB);
	write_bytes(p, &head, 3 * MIB);
	assert_int_equal(mring_prefault(p, (size_t)cap, -1), 0);
	mring_close(p);
	mring_close(c);
	assert_int_equal(check_oldest(path, cap), cap);
	tu_rm(path);
}

/* The other roles get MRING_EROLE; without a thread the call pre-faults
 * the rest of the current window itself. */
static void test_prefault_roles_nothread(void **state)
{
	TU_PATH(path, "prefault-roles");
	struct mring_config cfg = {.flags = MRING_F_NO_PREFETCH};
	struct mring *p, *c;
	uint64_t head = 0, cap = 32 * MIB;
	ssize_t n;

	(void)state;
	tu_create(path, cap, 0, 0);
	c = tu_consumer(path, "c");
	assert_rc(mring_prefault(c, MIB, -1), MRING_EROLE);
	assert_rc(mring_open(path, MRING_PRODUCER, &cfg, &p), 0);
	n = mring_prefault(p, (size_t)cap, -1);
	assert_true(n > 0 && (uint64_t)n <= cap);
	assert_int_equal(mring_prefault(p, 4096, -1), 4096);
	write_bytes(p, &head, cap / 2);
	mring_close(p);
	mring_close(c);
	assert_int_equal(check_oldest(path, cap / 2), cap / 2);
	tu_rm(path);
}

/*
 * A full file system stops the thread: the call says -ENOSPC instead of
 * waiting for ever, what it prepared before can be written, and nothing
 * committed is lost.
 */
static void test_prefault_disk_full(void **state)
{
	TU_PATH(mnt, "prefault-small");
	char path[600];
	struct mring_stats st;
	struct mring *p;
	uint64_t head = 0;

	(void)state;
	need_madvise("disk full");
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=8m") != 0) {
		print_message("cannot mount a small tmpfs (%s)\n",
		              strerror(errno));
		rmdir(mnt);
		skip();
	}
	snprintf(path, sizeof path, "%s/r", mnt);
	tu_create(path, 16 * MIB, 0, 0);
	p = open_producer(path, MRING_RECLAIM_AUTO, 64 * MIB);
	assert_rc(mring_prefault(p, 16 * MIB, -1), -ENOSPC);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.prefault_ahead > MIB && st.prefault_ahead < 8 * MIB);
	write_bytes(p, &head, st.prefault_ahead);
	mring_close(p);
	assert_int_equal(check_oldest(path, head), head);
	unlink(path);
	int urc, tries = 0;
	while ((urc = umount(mnt)) != 0 && errno == EBUSY && tries++ < 200)
		tu_sleep_ms(10);
	assert_int_equal(urc, 0);
	rmdir(mnt);
}

/*
 * Disk full: a sparse ring larger than the file system. mring_reserve
 * fails with -ENOSPC instead of the writer dying of SIGBUS, and every
 * committed byte stays readable. `flags` of the producer: with the thread
 * it pre-faults; without, reserve does.
 */
static void disk_full(unsigned flags)
{
	TU_PATH(mnt, "small");
	char path[600];
	struct mring *p, *c;
	uint64_t head = 0, pos = 0;
	const void *q;
	ssize_t n;
	int rc = 0;

	/* Without the pre-fault, the writer dies of SIGBUS. */
	need_madvise("disk full");
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=8m") != 0) {
		print_message("cannot mount a small tmpfs (%s)\n",
		              strerror(errno));
		rmdir(mnt);
		skip();
	}
	snprintf(path, sizeof path, "%s/r", mnt);
	tu_create(path, 16 * MIB, 0, 0);
	assert_rc(mring_open(path, MRING_CONSUMER,
	                     &(struct mring_config){.consumer_name = "c"}, &c),
	          0);
	assert_rc(mring_open(path, MRING_PRODUCER,
	                     &(struct mring_config){.flags = flags}, &p),
	          0);
	while (head < 16 * MIB) {
		void *w;
		rc = mring_reserve(p, 100000, &w, 1000);
		if (rc < 0)
			break;
		tu_fill(w, head, 100000);
		assert_rc(mring_commit(p, 100000), 0);
		head += 100000;
	}
	assert_rc(rc, -ENOSPC);
	assert_true(head > 4 * MIB);
	mring_close(p);
	while ((n = mring_peek(c, &q, 0)) > 0) {
		assert_int_equal(tu_check(q, pos, (size_t)n), -1);
		assert_rc(mring_release(c, (size_t)n), 0);
		pos += (uint64_t)n;
	}
	assert_rc(n, 0);
	assert_int_equal(pos, head);
	mring_close(c);
	unlink(path);
	/* io_uring tears down its workers (and their file references)
	 * asynchronously after the ring is closed: allow it a moment. */
	int urc, tries = 0;
	while ((urc = umount(mnt)) != 0 && errno == EBUSY && tries++ < 200)
		tu_sleep_ms(10);
	assert_int_equal(urc, 0);
	rmdir(mnt);
}

static void test_disk_full(void **state)
{
	(void)state;
	disk_full(0);
}

static void test_disk_full_nothread(void **state)
{
	(void)state;
	disk_full(MRING_F_NO_PREFETCH);
}

/* Thread id of this process's thread named `name`, or -1. */
static pid_t find_thread(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	pid_t tid = -1;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char p[300], comm[64] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof comm, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
		if (strcmp(comm, name) == 0)
			tid = atoi(e->d_name);
	}
	closedir(d);
	return tid;
}

/*
 * NUMA: the thread prefers the producer's node for memory, and the pages
 * it pre-faulted live there (on a one-node machine: node 0).
 */
/* The signals a thread of `name` blocks (SigBlk in /proc). */
static unsigned long long blocked_signals(const char *name)
{
	char status[64], line[256];
	unsigned long long blk = 0;
	pid_t tid = find_thread(name);

	if (tid <= 0)
		fail_msg("no thread named %s", name);
	snprintf(status, sizeof status, "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(status, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "SigBlk: %llx", &blk) == 1)
			break;
	fclose(f);
	return blk;
}

/*
 * The threads take no signal: an application's handler never runs on
 * them (one that closed the ring there would join the thread from
 * itself). A ring larger than its page-cache budget has both the
 * maintenance thread and the write-back thread.
 */
static void test_thread_blocks_signals(void **state)
{
	TU_PATH(path, "signals");
	struct mring *p;
	const char *names[] = {"mring-maint", "mring-wb"};
	unsigned long long blk[2];

	(void)state;
	if (tu_madvise_ignored()) {
		/* Under qemu-user the guest's signal mask lives in the
		 * emulator; /proc shows the host thread's own mask. */
		print_message("the thread's signal mask cannot be read here: "
		              "%s\n",
		              tu_madvise_ignored());
		madvise_skipped = true;
		skip();
	}
	tu_create(path, 8 * MIB, 0, 0);
	p = open_producer(path, MRING_RECLAIM_ZERO, 1 * MIB);
	for (int t = 0; t < 2; t++)
		blk[t] = blocked_signals(names[t]);
	mring_close(p);
	/* Both are gone once the handle is closed. */
	assert_int_equal(find_thread("mring-maint"), -1);
	assert_int_equal(find_thread("mring-wb"), -1);
	tu_rm(path);
	/* Bit n-1 is signal n. (SIGKILL and SIGSTOP cannot be blocked.) */
	int sigs[] = {SIGINT,  SIGTERM, SIGHUP,  SIGUSR1, SIGUSR2,
	              SIGALRM, SIGCHLD, SIGPIPE, SIGRTMIN};
	for (int t = 0; t < 2; t++)
		for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			if (!(blk[t] & (1ull << (sigs[i] - 1))))
				fail_msg("signal %d is not blocked on %s "
				         "(SigBlk %llx)",
				         sigs[i], names[t], blk[t]);
}

/*
 * The maintenance thread prepares at most a few chunks beyond where the
 * write-back thread has reached (12 MiB here: 4 MiB chunks); a
 * reservation longer than that must still be prepared, or the writer
 * would wait for the thread forever. Three laps of 16 MiB reservations.
 */
static void test_record_longer_than_lag(void **state)
{
	TU_PATH(path, "lag");
	struct mring_config c = {.capacity = 64 * MIB,
	                         .window = 32 * MIB,
	                         .max_record = 20 * MIB};
	struct mring_stats st;
	struct mring *p;
	uint64_t head = 0;

	(void)state;
	tu_rm(path);
	assert_rc(mring_create(path, &c), 0);
	p = open_producer(path, MRING_RECLAIM_ZERO, 16 * MIB);
	while (head < 3 * c.capacity) {
		size_t len = 16 * MIB + 4096;
		void *w;
		/* Not a speed limit: a deadlock shows as -ETIMEDOUT here
		 * rather than as the test's timeout much later. */
		int rc = mring_reserve(p, len, &w, 120000);
		if (rc < 0)
			fail_msg("reserve of %zu bytes at %llu: %s", len,
			         (unsigned long long)head, mring_strerror(rc));
		tu_fill(w, head, len);
		assert_rc(mring_commit(p, len), 0);
		head += len;
	}
	assert_rc(mring_stats(p, &st), 0);
	assert_int_equal(st.position, head);
	assert_true(st.reclaim_ops > 0);
	mring_close(p);
	tu_rm(path);
}

static void test_numa(void **state)
{
	TU_PATH(path, "numa");
	struct mring_stats st;
	struct mring *p;
	char maps[300], line[512] = "", want[32];
	void *w;

	(void)state;
	tu_create(path, 8 * MIB, 0, 0);
	p = open_producer(path, MRING_RECLAIM_AUTO, 0);
	assert_rc(mring_stats(p, &st), 0);
	if (st.numa_node < 0) {
		mring_close(p);
		tu_rm(path);
		print_message("built without libnuma or no NUMA support\n");
		skip();
	}
	/* Let the thread prepare, then look at a pre-faulted page. */
	assert_rc(mring_reserve(p, 4096, &w, -1), 0);
	int status = -1;
	void *page = w;
	assert_int_equal(
		syscall(SYS_move_pages, 0, 1UL, &page, NULL, &status, 0), 0);
	assert_int_equal(status, st.numa_node);

	pid_t tid = find_thread("mring-maint");
	assert_true(tid > 0);
	snprintf(maps, sizeof maps, "/proc/self/task/%d/numa_maps", (int)tid);
	/* Mappings without a policy of their own show the thread's. */
	snprintf(want, sizeof want, " prefer:%d ", st.numa_node);
	FILE *f = fopen(maps, "r");
	bool seen = false;
	assert_non_null(f);
	while (!seen && fgets(line, sizeof line, f))
		seen = strstr(line, want) != NULL;
	fclose(f);
	assert_true(seen);
	mring_close(p);
	tu_rm(path);
}

/* The maintenance thread's scheduling policy; its priority in *prio. */
static int thread_policy(int *prio)
{
	struct sched_param sp = {0};
	pid_t tid = find_thread("mring-maint");

	assert_true(tid > 0);
	int pol = sched_getscheduler(tid);
	assert_true(pol >= 0);
	assert_int_equal(sched_getparam(tid, &sp), 0);
	*prio = sp.sched_priority;
	return pol;
}

/* Give up CAP_SYS_NICE and any RLIMIT_RTPRIO: 0 or -errno. */
static int drop_rt_rights(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	struct rlimit rl = {0, 0};

	if (syscall(SYS_capget, &h, d) != 0)
		return -errno;
	d[CAP_SYS_NICE / 32].effective &= ~(1u << (CAP_SYS_NICE % 32));
	d[CAP_SYS_NICE / 32].permitted &= ~(1u << (CAP_SYS_NICE % 32));
	if (syscall(SYS_capset, &h, d) != 0)
		return -errno;
	return setrlimit(RLIMIT_RTPRIO, &rl) ? -errno : 0;
}

/*
 * maint_priority: the thread runs SCHED_FIFO at the priority asked for
 * (field or MRING_MAINT_PRIORITY) and the ring works as before; a bad
 * value is -EINVAL; a priority the caller may not give is -EPERM and
 * leaves the ring as it was, so an open without it then succeeds.
 */
static void test_priority(void **state)
{
	TU_PATH(path, "prio");
	struct mring_config c = {0};
	struct mring *p;
	uint64_t head = 0;
	int prio = -1;

	(void)state;
	tu_create(path, 8 * MIB, 0, 0);
	c.maint_priority = 100;
	assert_rc(mring_open(path, MRING_PRODUCER, &c, &p), -EINVAL);
	c.maint_priority = -1;
	assert_rc(mring_open(path, MRING_PRODUCER, &c, &p), -EINVAL);
	c.maint_priority = 0;
	setenv("MRING_MAINT_PRIORITY", "high", 1);
	assert_rc(mring_open(path, MRING_PRODUCER, &c, &p), -EINVAL);
	unsetenv("MRING_MAINT_PRIORITY");

	/* One CPU for the writer and its real-time thread: a thread that
	 * spun on the writer's progress would never let it run, and the
	 * three laps below would not finish. */
	cpu_set_t all, one;
	assert_int_equal(sched_getaffinity(0, sizeof all, &all), 0);
	CPU_ZERO(&one);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all)) {
			CPU_SET(i, &one);
			break;
		}
	assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
	c.maint_priority = 3;
	int rc = mring_open(path, MRING_PRODUCER, &c, &p);
	if (rc < 0)
		sched_setaffinity(0, sizeof all, &all);
	if (rc == -EPERM && geteuid() != 0) {
		tu_rm(path);
		print_message("no right to real-time priority here\n");
		skip();
	}
	assert_rc(rc, 0);
	assert_int_equal(thread_policy(&prio), SCHED_FIFO);
	assert_int_equal(prio, 3);
	write_bytes(p, &head, 24 * MIB); /* three laps */
	mring_close(p);
	assert_int_equal(sched_setaffinity(0, sizeof all, &all), 0);

	c.maint_priority = 0;
	setenv("MRING_MAINT_PRIORITY", "2", 1);
	assert_rc(mring_open(path, MRING_PRODUCER, &c, &p), 0);
	unsetenv("MRING_MAINT_PRIORITY");
	assert_int_equal(thread_policy(&prio), SCHED_FIFO);
	assert_int_equal(prio, 2);
	mring_close(p);

	assert_rc(mring_open(path, MRING_PRODUCER, &c, &p), 0);
	assert_int_equal(thread_policy(&prio), SCHED_OTHER);
	mring_close(p);

	/* Without the right, in a child that gives it up. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (drop_rt_rights() != 0)
			_exit(10);
		c.maint_priority = 1;
		if (mring_open(path, MRING_PRODUCER, &c, &p) != -EPERM)
			_exit(11);
		c.maint_priority = 0;
		if (mring_open(path, MRING_PRODUCER, &c, &p) != 0)
			_exit(12);
		struct mring_stats st;
		if (mring_stats(p, &st) != 0)
			_exit(13);
		/* Appends after the first producer's three laps. */
		if (st.head != 24 * MIB)
			_exit(14);
		mring_close(p);
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_selection),
		cmocka_unit_test(test_policy_tmpfs),
		cmocka_unit_test(test_reclaim_spares_unread),
		cmocka_unit_test(test_xfs_zero_by_write),
		cmocka_unit_test(test_reclaim_overwrite),
		cmocka_unit_test(test_reopen_keeps_head_chunk),
		cmocka_unit_test(test_no_major_faults),
		cmocka_unit_test(test_budget_drops_mapped),
		cmocka_unit_test(test_consumer_readahead),
		cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_disk_full_nothread),
		cmocka_unit_test(test_numa),
		cmocka_unit_test(test_thread_blocks_signals),
		cmocka_unit_test(test_record_longer_than_lag),
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_prefault_resident),
		cmocka_unit_test(test_prefault_larger_than_budget),
		cmocka_unit_test(test_prefault_stops_at_consumer),
		cmocka_unit_test(test_prefault_roles_nothread),
		cmocka_unit_test(test_prefault_disk_full),
	};
	if (getenv("MRING_NO_PREFETCH")) {
		/* This suite is about the thread. */
		return 77;
	}
	tu_dir();
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed == 0 && madvise_skipped ? 77 : failed;
}
