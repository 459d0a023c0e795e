/*
 * Opening a ring, and what an open must not leave behind: a refused
 * producer open changes nothing, a failed durable open frees its slot, a
 * child forked without exec keeps none of its parent's locks, a producer
 * restarted in another mount namespace keeps the stream, a consumer's
 * mring_sync leaves its peeked record alone, a header of the other byte
 * order says so. (Issue 11, findings 3, 7, 8, 9 and 11.)
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP (1u << 20)

/* Child: commit `n` byte chunks of 1000 (no sync), then die or close. */
struct writer_job {
	const char *path;
	int n;
	bool close;
};

static int writer(void *arg)
{
	const struct writer_job *j = arg;
	struct mring *p;
	uint8_t buf[1000];

	if (mring_open(j->path, MRING_PRODUCER, NULL, &p) < 0)
		return tu_cfail(1, "writer: open\n");
	for (int i = 0; i < j->n; i++) {
		tu_fill(buf, (uint64_t)i * sizeof buf, sizeof buf);
		if (mring_write(p, buf, sizeof buf, 0) != (ssize_t)sizeof buf)
			return tu_cfail(2, "writer: write\n");
	}
	if (j->close)
		mring_close(p);
	_exit(0);
}

/* Read everything there is (no wait) and check it; returns the bytes.
 * The stream ends there (eof) or not. */
static uint64_t drain(struct mring *c, uint64_t from, bool eof)
{
	uint8_t buf[4096];
	uint64_t pos = from;
	ssize_t n;

	while ((n = mring_read(c, buf, sizeof buf, 0)) > 0) {
		assert_int_equal(tu_check(buf, pos, (size_t)n), -1);
		pos += (uint64_t)n;
	}
	assert_rc(n, eof ? 0 : -EAGAIN);
	return pos - from;
}

/* ---- finding 7: a refused producer open changes nothing ----------------- */

static void test_refused_producer_open(void **state)
{
	(void)state;
	TU_PATH(path, "refused.r");
	struct writer_job j = {.path = path, .n = 100};
	struct mring *p, *c;

	struct mring_config bad;

	/* Is a NUMA node that does not exist refused here? (Without NUMA,
	 * as under qemu-user, the node is ignored and the open is real.) */
	tu_create(path, CAP, 4096, 0);
	mring_config_init(&bad);
	bad.flags = MRING_F_NUMA_NODE;
	bad.numa_node = 1 << 20;
	int rc = mring_open(path, MRING_PRODUCER, &bad, &p);
	if (rc == 0)
		mring_close(p);
	else
		assert_rc(rc, -EINVAL);
	bool numa = rc < 0;

	tu_create(path, CAP, 4096, 0);
	/* A producer dies: its consumers must not be told "end of stream". */
	assert_int_equal(tu_wait(tu_spawn(writer, &j, 60)), 0);
	assert_int_equal(tu_get_u32(path, TU_OFF_EOF), 0);
	assert_int_equal(tu_get_u32(path, TU_OFF_CLEAN), 0);

	mring_config_init(&bad);
	bad.reclaim = 99;
	assert_rc(mring_open(path, MRING_PRODUCER, &bad, &p), -EINVAL);
	if (numa) {
		mring_config_init(&bad);
		bad.flags = MRING_F_NUMA_NODE;
		bad.numa_node = 1 << 20;
		assert_rc(mring_open(path, MRING_PRODUCER, &bad, &p), -EINVAL);
	}

	assert_int_equal(tu_get_u32(path, TU_OFF_EOF), 0);
	assert_int_equal(tu_get_u32(path, TU_OFF_CLEAN), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	assert_true(drain(c, 0, false) == 100 * 1000);
	mring_close(c);
	tu_rm(path);
}

/* ---- finding 7: a failed durable open frees the slot it claimed --------- */

/*
 * Child: use up the process's mappings (vm.max_map_count) but for
 * `spare`, then open a durable consumer. With few spare mappings the open
 * fails, at the control block, the address-space reservation or, after
 * the slot was claimed, the window. Exit 0 if it opened, 10 if it failed
 * for want of mappings (-ENOMEM, or MRING_EGEOMETRY when the address
 * space for its windows could not be reserved).
 */
struct starve_job {
	const char *path;
	int spare;
};

static int starved_open(void *arg)
{
	const struct starve_job *j = arg;
	long page = tu_page();
	int prot[2] = {PROT_READ, PROT_READ | PROT_WRITE};
	void **maps = NULL;
	size_t n = 0, cap = 0;

	/* Alternate protections so that neighbours never merge. */
	for (;;) {
		void *m = mmap(NULL, (size_t)page, prot[n & 1],
		               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			break;
		if (n == cap) {
			cap = cap ? 2 * cap : 65536;
			void **more = realloc(maps, cap * sizeof(*maps));
			if (!more)
				return tu_cfail(2, "realloc\n");
			maps = more;
		}
		maps[n++] = m;
	}
	/* Give back `spare` mappings, far apart (each frees one). */
	for (int i = 0; i < j->spare && (size_t)i * 97 < n; i++)
		munmap(maps[(size_t)i * 97], (size_t)page);
	struct mring_config cfg;
	mring_config_init(&cfg);
	cfg.consumer_name = "starved";
	struct mring *c;
	int rc = mring_open(j->path, MRING_CONSUMER, &cfg, &c);
	if (rc == 0)
		return 0;
	if (rc == -ENOMEM || rc == MRING_EGEOMETRY)
		return 10;
	return tu_cfail(3, "open: %s\n", mring_strerror(rc));
}

#if defined(__SANITIZE_THREAD__)
#define TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN 1
#endif
#endif

/* Skip where madvise() does nothing (qemu-user): the test relies on it. */
static void need_madvise(const char *what)
{
	const char *why = tu_madvise_ignored();

	if (why) {
		print_message("%s cannot be tested here: %s\n", what, why);
		skip();
	}
}

static void test_failed_durable_open(void **state)
{
	(void)state;
#ifdef TSAN
	/* TSan maps its shadow memory as the program runs: a process out
	 * of mappings dies in the runtime, not in mring. */
	printf("skipped under ThreadSanitizer: it needs mappings itself\n");
	skip();
#endif
	/* An emulator (qemu-user) keeps its own map of the guest's memory:
	 * running out of host mappings is not the guest's to stage. */
	need_madvise("running out of mappings");
	TU_PATH(path, "starved.r");
	struct mring_info info;
	bool failed = false, opened = false;

	/* A window smaller than the ring: the consumer maps it after it
	 * claimed its slot. */
	struct mring_config cfg = tu_cfg(4 * CAP, 4096, 0);
	cfg.window = 256 << 10;
	tu_rm(path);
	assert_rc(mring_create(path, &cfg), 0);
	for (int spare = 0; spare <= 8 && !opened; spare++) {
		struct starve_job j = {.path = path, .spare = spare};
		int rc = tu_wait(tu_spawn(starved_open, &j, 60));
		assert_true(rc == 0 || rc == 10);
		if (rc == 10) {
			failed = true;
			/* Nothing claimed stays behind to hold the
			 * producer back. */
			assert_rc(mring_inspect(path, &info, NULL, 0), 0);
		} else {
			opened = true;
			assert_rc(mring_inspect(path, &info, NULL, 0), 1);
			assert_rc(mring_consumer_remove(path, "starved"), 0);
		}
	}
	/* Both sides were seen: opens that failed and one that worked. */
	assert_true(failed && opened);
	tu_rm(path);
}

/* ---- finding 8: fork() without exec keeps no lock ----------------------- */

struct fork_job {
	const char *path;
	int role;
	int pipe; /* the grandchild's pid goes here */
};

/* Child: open, fork a grandchild that checks its copy of the handle, says
 * so and sleeps, then wait for SIGKILL. */
static int forking_opener(void *arg)
{
	const struct fork_job *j = arg;
	struct mring_config cfg;
	struct mring *r;
	const void *ptr;
	void *wptr;

	mring_config_init(&cfg);
	cfg.consumer_name = j->role == MRING_CONSUMER ? "kept" : NULL;
	if (mring_open(j->path, j->role, &cfg, &r) < 0)
		return tu_cfail(1, "open\n");
	fflush(NULL);
	pid_t g = fork();
	if (g < 0)
		return tu_cfail(2, "fork\n");
	if (g == 0) {
		/* The inherited handle is unusable, and closing it is
		 * harmless. */
		alarm(60);
		int rc = j->role == MRING_PRODUCER
		                 ? mring_reserve(r, 10, &wptr, 0)
		                 : (int)mring_peek(r, &ptr, 0);
		struct mring_stats st;
		if (rc != MRING_EFORKED || mring_sync(r) != MRING_EFORKED ||
		    mring_stats(r, &st) != MRING_EFORKED)
			_exit(3);
		mring_close(r);
		/* Ready: the descriptor was closed inside fork() itself. */
		if (tu_put_u64(j->pipe, (uint64_t)getpid()) < 0)
			_exit(4);
		for (;;)
			pause();
	}
	for (;;)
		pause();
}

static void fork_case(int role)
{
	/* A child gets no mapping of the ring: MADV_DONTFORK. */
	need_madvise("fork without the ring's mappings");
	TU_PATH(path, "fork.r");
	struct mring_info info;
	struct mring *r;
	int fds[2];
	uint64_t g;

	tu_create(path, CAP, 4096, 0);
	assert_int_equal(pipe(fds), 0);
	struct fork_job j = {.path = path, .role = role, .pipe = fds[1]};
	pid_t child = tu_spawn(forking_opener, &j, 60);
	assert_int_equal(tu_get_u64_fd(fds[0], &g), 1);
	/* The grandchild checked its inherited handle and sleeps. */
	assert_int_equal(tu_kill(child), 128 + SIGKILL);
	assert_int_equal(kill((pid_t)g, 0), 0);

	/* The parent is dead; its child lives on and must hold nothing. */
	assert_rc(mring_inspect(path, &info, NULL, 0), role == MRING_CONSUMER);
	assert_int_equal(info.producer_alive, 0);
	struct mring_config cfg;
	mring_config_init(&cfg);
	cfg.consumer_name = role == MRING_CONSUMER ? "kept" : NULL;
	assert_rc(mring_open(path, role, &cfg, &r), 0);
	mring_close(r);

	kill((pid_t)g, SIGKILL);
	int status;
	/* The grandchild was re-parented (to us, a subreaper, or init). */
	(void)waitpid((pid_t)g, &status, WNOHANG);
	close(fds[0]);
	close(fds[1]);
	tu_rm(path);
}

static void test_fork_producer(void **state)
{
	(void)state;
	fork_case(MRING_PRODUCER);
}

static void test_fork_consumer(void **state)
{
	(void)state;
	fork_case(MRING_CONSUMER);
}

/* ---- finding 3: another mount namespace is the same page cache ---------- */

struct ns_job {
	const char *path;
	uint64_t head; /* expected */
};

/* Child: in a new mount namespace, reopen the producer; check head. */
static int ns_producer(void *arg)
{
	const struct ns_job *j = arg;
	struct mring *p;
	struct mring_stats st;

	if (unshare(CLONE_NEWNS) < 0)
		return TU_SKIP;
	/* Mounts of the new namespace get new ids (and stay ours). */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return TU_SKIP;
	if (mring_open(j->path, MRING_PRODUCER, NULL, &p) < 0)
		return tu_cfail(1, "open in a new namespace\n");
	if (mring_stats(p, &st) < 0 || st.head != j->head)
		return tu_cfail(2, "head %llu, expected %llu\n",
		                (unsigned long long)st.head,
		                (unsigned long long)j->head);
	mring_close(p);
	return 0;
}

static void ns_case(bool live_consumer)
{
	TU_PATH(path, "ns.r");
	struct writer_job w = {.path = "", .n = 100, .close = true};
	struct mring_config cfg;
	struct mring *c = NULL;

	tu_create(path, CAP, 4096, 0);
	w.path = path;
	mring_config_init(&cfg);
	cfg.consumer_name = "live";
	if (live_consumer)
		assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
	/* Closed cleanly, never synced: only the page cache has it. */
	assert_int_equal(tu_wait(tu_spawn(writer, &w, 60)), 0);
	assert_int_equal(tu_get_u64(path, TU_OFF_SYNCED), 0);

	struct ns_job j = {.path = path, .head = 100 * 1000};
	int rc = tu_wait(tu_spawn(ns_producer, &j, 60));
	if (rc == TU_SKIP) {
		mring_close(c);
		tu_rm(path);
		skip();
	}
	assert_int_equal(rc, 0);
	assert_true(tu_get_u64(path, TU_OFF_HEAD) == 100 * 1000);
	if (!c)
		assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
	assert_true(drain(c, 0, true) == 100 * 1000);
	mring_close(c);
	tu_rm(path);
}

static void test_namespace_live_consumer(void **state)
{
	(void)state;
	ns_case(true);
}

static void test_namespace_nobody_attached(void **state)
{
	(void)state;
	ns_case(false);
}

/* ---- finding 9: a consumer's sync leaves its peeked record alone -------- */

static void test_sync_keeps_peek(void **state)
{
	(void)state;
	TU_PATH(path, "syncpeek.r");
	struct mring_config cfg = tu_cfg(CAP, 2048, MRING_F_RECORDS);
	struct mring *p, *c;
	uint8_t buf[1000];
	const void *ptr;
	uint64_t seq = 0;

	cfg.window = 64 << 10;
	tu_rm(path);
	assert_rc(mring_create(path, &cfg), 0);
	struct mring_config pc;
	mring_config_init(&pc);
	pc.flags = MRING_F_NO_PREFETCH;
	assert_rc(mring_open(path, MRING_PRODUCER, &pc, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &c), 0);
	tu_rec_fill(buf, seq, sizeof buf);
	assert_rc(mring_write(p, buf, sizeof buf, 0), sizeof buf);
	seq++;
	assert_rc(mring_peek(c, &ptr, 0), sizeof buf);
	/* The head moves on through several windows; each sync reads the
	 * header at head, in the window that holds it. */
	for (int w = 0; w < 8; w++) {
		for (int i = 0; i < 70; i++, seq++) {
			tu_rec_fill(buf, seq, sizeof buf);
			assert_rc(mring_write(p, buf, sizeof buf, 0),
			          sizeof buf);
		}
		assert_rc(mring_sync(c), 0);
		/* Still record 0, as peeked. */
		assert_int_equal(tu_rec_check(ptr, 0, sizeof buf), -1);
	}
	assert_rc(mring_release(c, 0), 0);
	assert_rc(mring_read(c, buf, sizeof buf, 0), sizeof buf);
	assert_int_equal(tu_rec_check(buf, 1, sizeof buf), -1);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/* ---- finding 11: a header of the other byte order ------------------------ */

static void set_swapped32(const char *path, uint64_t off)
{
	tu_set_u32(path, off, __builtin_bswap32(tu_get_u32(path, off)));
}

static void test_other_byte_order(void **state)
{
	(void)state;
	TU_PATH(path, "swapped.r");
	struct mring_info info;
	struct mring *r;

	tu_create(path, CAP, 4096, 0);
	/* What a big-endian machine would have written: every field
	 * swapped, version and endian marker included. */
	set_swapped32(path, TU_OFF_VERSION);
	set_swapped32(path, TU_OFF_ENDIAN);
	set_swapped32(path, TU_OFF_CTL_SIZE);
	set_swapped32(path, TU_OFF_MAX_CONSUMERS);
	tu_fix_checksum(path);
	assert_rc(mring_inspect(path, &info, NULL, 0), MRING_EGEOMETRY);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &r), MRING_EGEOMETRY);
	tu_rm(path);
}

static long vm_size_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "re");

	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmSize: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/*
 * A ring no larger than its window is mapped once per handle: a pool of
 * three windows would reserve three times the ring in address space per
 * consumer (12 TiB for 4,096 consumers of a 1 GiB ring).
 */
static void test_small_ring_one_window(void **state)
{
	TU_PATH(path, "onewin");
	struct mring_config c = {.consumer_name = "w"};
	struct mring *h;
	uint64_t cap = 64ull << 20;

	(void)state;
	tu_create(path, cap, 0, 0);
	long before = vm_size_kib();
	assert_rc(mring_open(path, MRING_CONSUMER, &c, &h), 0);
	long grew = vm_size_kib() - before;
	mring_close(h);
	tu_rm(path);
	/* The window, its overlap and the control block: well under two
	 * rings' worth. (Under qemu-user, whose guest address space is
	 * reserved up front, nothing grows.) */
	assert_true((uint64_t)grew * 1024 < 2 * cap);
}

/*
 * A consumer whose data is not cached reads ahead of itself, but only what
 * was written: opening a new ring reads nothing (it read 32 MiB of holes
 * into the page cache), and opening one whose 1 MiB of data was evicted
 * reads at most that. (On tmpfs nothing is read or evicted: both hold.)
 */
static void test_read_ahead_stops_at_head(void **state)
{
	TU_PATH(path, "readahead");
	const uint64_t cap = 64ull << 20, data = 1ull << 20;
	const struct mring_config quiet = {
		.flags = MRING_F_NO_PREFETCH | MRING_F_NO_URING,
	};
	struct mring_info in;
	struct mring *c, *p;
	void *w;

	(void)state;
	tu_create(path, cap, 0, 0);
	assert_ok(mring_inspect(path, &in, NULL, 0));
	if (in.cache_bytes == UINT64_MAX) {
		tu_rm(path);
		skip(); /* the kernel cannot say what is cached */
	}
	assert_int_equal(in.cache_bytes, 0);
	assert_rc(mring_open(path, MRING_CONSUMER, &quiet, &c), 0);
	assert_ok(mring_inspect(path, &in, NULL, 0));
	assert_int_equal(in.cache_bytes, 0);
	mring_close(c);

	assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &p), 0);
	assert_rc(mring_reserve(p, data, &w, 0), 0);
	memset(w, 7, data);
	assert_rc(mring_commit(p, data), 0);
	assert_rc(mring_sync(p), 0);
	mring_close(p);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
	assert_rc(mring_open(path, MRING_CONSUMER, &quiet, &c), 0);
	assert_ok(mring_inspect(path, &in, NULL, 0));
	if (in.cache_bytes > data)
		fail_msg("%llu bytes cached after open, %llu written",
		         (unsigned long long)in.cache_bytes,
		         (unsigned long long)data);
	const void *r;
	assert_rc(mring_peek(c, &r, 0), data);
	assert_int_equal(((const uint8_t *)r)[data - 1], 7);
	mring_close(c);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_producer_open),
		cmocka_unit_test(test_failed_durable_open),
		cmocka_unit_test(test_fork_producer),
		cmocka_unit_test(test_fork_consumer),
		cmocka_unit_test(test_namespace_live_consumer),
		cmocka_unit_test(test_namespace_nobody_attached),
		cmocka_unit_test(test_sync_keeps_peek),
		cmocka_unit_test(test_other_byte_order),
		cmocka_unit_test(test_small_ring_one_window),
		cmocka_unit_test(test_read_ahead_stops_at_head),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tu_cleanup();
	return rc;
}
