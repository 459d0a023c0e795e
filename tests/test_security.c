/*
 * Security and hostile environments: symbolic links are not followed,
 * files are created 0600 and close-on-exec, a ring owned by another user
 * is refused without MRING_F_ANY_OWNER, consumers cannot write the data
 * region, no mapping is executable, a control block corrupted while it is
 * mapped gives clean errors, and a file truncated, removed or replaced
 * while open is reported where the library can see it.
 *
 * Whatever may crash runs in a forked child, so that a crash is reported
 * as this test failing (with the signal) rather than the runner dying.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534
#define OFF_CONS_GEN 336 /* FORMAT.md: bumped when a slot changes */

static uint64_t data_off(const char *path)
{
	return tu_get_u64(path, TU_OFF_DATA_OFFSET);
}

/* A byte ring of `cap` bytes with window `win` (0: whole ring). */
static void make_ring(const char *path, uint64_t cap, uint32_t win,
                      unsigned flags)
{
	struct mring_config cfg = tu_cfg(cap, 0, flags);

	cfg.window = win;
	tu_rm(path);
	assert_rc(mring_create(path, &cfg), 0);
}

static struct mring *open_as(const char *path, int role, const char *name,
                             unsigned flags)
{
	struct mring_config cfg;
	struct mring *r = NULL;

	mring_config_init(&cfg);
	cfg.consumer_name = name;
	cfg.flags = flags;
	assert_rc(mring_open(path, role, &cfg, &r), 0);
	return r;
}

/* ---- links, modes, descriptors ------------------------------------------ */

static void test_symlink_refused(void **state)
{
	(void)state;
	TU_PATH(ring, "real.ring");
	TU_PATH(link, "link.ring");
	TU_PATH(dangling, "dangling.ring");
	TU_PATH(target, "target.ring");
	struct mring_info info;
	struct mring *r;

	make_ring(ring, 16 * (uint64_t)tu_page(), 0, 0);
	assert_int_equal(symlink(ring, link), 0);
	assert_rc(mring_open(link, MRING_PRODUCER, NULL, &r), MRING_ESYMLINK);
	assert_null(r);
	assert_rc(mring_open(link, MRING_CONSUMER, NULL, &r), MRING_ESYMLINK);
	assert_rc(mring_inspect(link, &info, NULL, 0), MRING_ESYMLINK);
	assert_rc(mring_consumer_remove(link, "x"), MRING_ESYMLINK);
	/* The message says what happened, not "too many levels". */
	assert_non_null(strstr(mring_strerror(MRING_ESYMLINK), "symbolic"));
	/* Creating never writes through a link, dangling or not. */
	assert_rc(mring_create(link, NULL), -EEXIST);
	assert_int_equal(symlink(target, dangling), 0);
	assert_rc(mring_create(dangling, NULL), -EEXIST);
	assert_int_equal(access(target, F_OK), -1);
	/* A loop among directories is still plain -ELOOP. */
	TU_PATH(loop, "loop");
	assert_int_equal(symlink(loop, loop), 0);
	char deep[600];
	snprintf(deep, sizeof deep, "%s/x.ring", loop);
	assert_rc(mring_open(deep, MRING_PRODUCER, NULL, &r), -ELOOP);
	/* Through the target's own path all is well. */
	r = open_as(ring, MRING_PRODUCER, NULL, 0);
	mring_close(r);
	tu_rm(link);
	tu_rm(dangling);
	tu_rm(loop);
	tu_rm(ring);
}

/* Is some descriptor of this process open on `path`, and close-on-exec? */
static int fd_cloexec(const char *path)
{
	char lnk[64], to[600];
	int found = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(lnk, sizeof lnk, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(lnk, to, sizeof to - 1);
		if (n < 0)
			continue;
		to[n] = '\0';
		if (strcmp(to, path) != 0)
			continue;
		int fl = fcntl(fd, F_GETFD);
		if (fl < 0 || !(fl & FD_CLOEXEC))
			return -1;
		found = 1;
	}
	return found;
}

static void test_modes_and_cloexec(void **state)
{
	(void)state;
	TU_PATH(path, "mode.ring");
	struct mring_config cfg = tu_cfg(16 * (uint64_t)tu_page(), 0, 0);
	struct stat st;
	mode_t old = umask(0);

	/* 0600 by default, whatever the umask. */
	tu_rm(path);
	assert_rc(mring_create(path, &cfg), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	tu_rm(path);
	/* No execute, set-id or sticky bits, ever. */
	unsigned bad[] = {0700, 0755, 04600, 02600, 01600, 0601};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cfg.mode = bad[i];
		assert_rc(mring_create(path, &cfg), -EINVAL);
		assert_int_equal(access(path, F_OK), -1);
	}
	cfg.mode = 0640;
	assert_rc(mring_create(path, &cfg), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	umask(old);

	/* Every descriptor the library keeps is close-on-exec. */
	struct mring *p = open_as(path, MRING_PRODUCER, NULL, 0);
	struct mring *c = open_as(path, MRING_CONSUMER, NULL, 0);
	assert_int_equal(fd_cloexec(path), 1);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/* ---- ownership ------------------------------------------------------------ */

static int as_nobody_open(void *arg)
{
	const char *path = arg;
	struct mring_config cfg;
	struct mring *r;
	int rc;

	if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return tu_cfail(1, "setuid: %s", strerror(errno));
	rc = mring_open(path, MRING_CONSUMER, NULL, &r);
	if (rc != MRING_EOWNER)
		return tu_cfail(2, "open root's ring: %s", tu_rcstr(rc));
	rc = mring_open(path, MRING_PRODUCER, NULL, &r);
	if (rc != MRING_EOWNER)
		return tu_cfail(3, "producer: %s", tu_rcstr(rc));
	/* Opting in works where the permissions allow it (0666). */
	mring_config_init(&cfg);
	cfg.flags = MRING_F_ANY_OWNER;
	rc = mring_open(path, MRING_CONSUMER, &cfg, &r);
	if (rc != 0)
		return tu_cfail(4, "opt-in: %s", tu_rcstr(rc));
	mring_close(r);
	return 0;
}

static void test_other_owner_refused(void **state)
{
	(void)state;
	TU_PATH(path, "owned.ring");
	struct mring_consumer_info ci[4];
	struct mring_info info;
	struct mring *r;

	if (geteuid() != 0)
		skip(); /* chown and setuid need root */
	make_ring(path, 16 * (uint64_t)tu_page(), 0, 0);
	r = open_as(path, MRING_CONSUMER, "keep", 0);
	mring_close(r);
	/* Another user's file: root is refused too, by default. */
	assert_int_equal(chown(path, NOBODY, NOBODY), 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &r), MRING_EOWNER);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &r), MRING_EOWNER);
	assert_rc(mring_consumer_remove(path, "keep"), MRING_EOWNER);
	/* Inspection reads a private copy and writes nothing: allowed. */
	assert_rc(mring_inspect(path, &info, ci, 4), 1);
	/* The caller may opt in. */
	r = open_as(path, MRING_PRODUCER, NULL, MRING_F_ANY_OWNER);
	assert_rc(mring_write(r, "abc", 3, 0), 3);
	mring_close(r);
	r = open_as(path, MRING_CONSUMER, "keep", MRING_F_ANY_OWNER);
	mring_close(r);

	/* The other way round: an unprivileged process, a root ring. */
	assert_int_equal(chown(path, 0, 0), 0);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(chmod(tu_dir(), 0711), 0);
	pid_t pid = tu_spawn(as_nobody_open, path, 60);
	assert_int_equal(tu_wait(pid), 0);
	assert_int_equal(chmod(tu_dir(), 0700), 0);
	tu_rm(path);
}

/* ---- what a consumer may touch ---------------------------------------- */

static int poke(void *arg)
{
	/* The default action: a sanitizer's handler would exit instead. */
	signal(SIGSEGV, SIG_DFL);
	/* Must not return: the store faults. */
	*(volatile uint8_t *)arg = 0x5a;
	return 0;
}

static void test_consumer_data_readonly(void **state)
{
	(void)state;
	TU_PATH(path, "ro.ring");
	const void *ptr;
	uint8_t buf[100];

	make_ring(path, 16 * (uint64_t)tu_page(), 0, 0);
	struct mring *p = open_as(path, MRING_PRODUCER, NULL, 0);
	struct mring *c = open_as(path, MRING_CONSUMER, NULL, 0);
	tu_fill(buf, 0, sizeof buf);
	assert_rc(mring_write(p, buf, sizeof buf, 0), sizeof buf);
	ssize_t n = mring_peek(c, &ptr, 0);
	assert_true(n >= 1);
	/* A store through the peek pointer kills the writer (SIGSEGV), */
	pid_t pid = tu_spawn(poke, (void *)ptr, 30);
	assert_int_equal(tu_wait(pid), 128 + SIGSEGV);
	/* and the data is intact. */
	assert_int_equal(tu_check(ptr, 0, (size_t)n), -1);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/* Permissions of every mapping of `path` in /proc/self/maps. */
static int scan_maps(const char *path, int *nmaps, int *nexec, int *nwrite)
{
	char line[1024];
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	*nmaps = *nexec = *nwrite = 0;
	while (fgets(line, sizeof line, f)) {
		char perms[8] = "";
		char *file = strchr(line, '/');
		if (!file || sscanf(line, "%*s %7s", perms) != 1)
			continue;
		file[strcspn(file, "\n")] = '\0';
		if (strcmp(file, path) != 0)
			continue;
		(*nmaps)++;
		*nexec += perms[2] == 'x';
		*nwrite += perms[1] == 'w';
	}
	fclose(f);
	return 0;
}

static void test_no_exec_mappings(void **state)
{
	(void)state;
	TU_PATH(path, "maps.ring");
	uint64_t cap = 8u << 20;
	int n, x, w;
	uint8_t buf[4096];

	/* Windows of 1 MiB so that several, some wrapped, get mapped. */
	make_ring(path, cap, 1u << 20, 0);
	struct mring *p = open_as(path, MRING_PRODUCER, NULL, 0);
	struct mring *c = open_as(path, MRING_CONSUMER, NULL, 0);
	for (uint64_t at = 0; at < cap + cap / 2; at += sizeof buf) {
		tu_fill(buf, at, sizeof buf);
		assert_rc(mring_write(p, buf, sizeof buf, -1), sizeof buf);
		assert_rc(mring_read(c, buf, sizeof buf, -1), sizeof buf);
	}
	assert_int_equal(scan_maps(path, &n, &x, &w), 0);
	print_message("mappings of the ring: %d, writable %d, executable %d\n",
	              n, w, x);
	assert_true(n >= 4); /* two control blocks, windows of both */
	assert_int_equal(x, 0);
	mring_close(c);
	/* A consumer alone: only its control block is writable. */
	mring_close(p);
	c = open_as(path, MRING_CONSUMER, NULL, 0);
	assert_int_equal(scan_maps(path, &n, &x, &w), 0);
	assert_int_equal(x, 0);
	assert_int_equal(w, 1);
	assert_true(n >= 2);
	mring_close(c);
	tu_rm(path);
}

/* ---- a control block corrupted while mapped ------------------------------ */

/* The file's control block, mapped on its own, as a hostile peer would. */
static uint8_t *map_ctl(const char *path, int *fd)
{
	*fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(*fd >= 0);
	void *m = mmap(NULL, (size_t)tu_page(), PROT_READ | PROT_WRITE,
	               MAP_SHARED, *fd, 0);
	assert_true(m != MAP_FAILED);
	return m;
}

static void unmap_ctl(uint8_t *m, int fd)
{
	munmap(m, (size_t)tu_page());
	close(fd);
}

static void put64(uint8_t *m, size_t off, uint64_t v)
{
	__atomic_store_n((uint64_t *)(void *)(m + off), v, __ATOMIC_SEQ_CST);
}

static void put32(uint8_t *m, size_t off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)(m + off), v, __ATOMIC_SEQ_CST);
}

/* Write `laps` capacities through producer p in 4 KiB pieces. */
static int write_laps(struct mring *p, uint64_t cap, unsigned laps)
{
	static uint8_t buf[4096];

	for (uint64_t at = 0; at < cap * laps; at += sizeof buf) {
		ssize_t n = mring_write(p, buf, sizeof buf, 5000);
		if (n != (ssize_t)sizeof buf)
			return (int)n;
	}
	return 0;
}

struct hostile {
	const char *path;
	uint64_t cap;
};

/* max_consumers grows to 2^32-1 under a running producer. */
static int hostile_max_consumers(void *arg)
{
	struct hostile *h = arg;
	struct mring *p;
	int fd, rc;

	rc = mring_open(h->path, MRING_PRODUCER, NULL, &p);
	if (rc < 0)
		return tu_cfail(1, "open: %s", tu_rcstr(rc));
	uint8_t *m = map_ctl(h->path, &fd);
	put32(m, TU_OFF_MAX_CONSUMERS, UINT32_MAX);
	/* Make the producer look at the slots again. */
	put32(m, OFF_CONS_GEN, 12345);
	rc = write_laps(p, h->cap, 3);
	mring_close(p);
	unmap_ctl(m, fd);
	return rc == 0 ? 0 : tu_cfail(2, "write: %s", tu_rcstr(rc));
}

static void test_live_static_fields(void **state)
{
	(void)state;
	TU_PATH(path, "static.ring");
	struct hostile h = {path, 4u << 20};
	struct mring *r;

	make_ring(path, h.cap, 0, 0);
	/* The static part is never read again after open. */
	pid_t pid = tu_spawn(hostile_max_consumers, &h, 60);
	assert_int_equal(tu_wait(pid), 0);
	/* Next time, the checksum catches it. */
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &r), MRING_ECHECKSUM);
	tu_rm(path);
}

static void test_live_consumer_slot(void **state)
{
	(void)state;
	TU_PATH(path, "slot.ring");
	uint64_t cap = 4u << 20;
	static uint8_t buf[64 << 10];
	int fd;

	make_ring(path, cap, 0, 0);
	struct mring *c = open_as(path, MRING_CONSUMER, "slow", 0);
	mring_close(c);
	struct mring *p = open_as(path, MRING_PRODUCER, NULL, 0);
	uint8_t *m = map_ctl(path, &fd);
	/* A consumer claims to be near the end of the 64-bit space: the
	 * producer must not wrap its limit (cap - 6) and stop. The claim
	 * is taken as "at the head". */
	put64(m, TU_OFF_SLOTS + TU_SLOT_POS, UINT64_MAX - 5);
	put32(m, OFF_CONS_GEN, 777);
	uint64_t done = 0;
	while (done < 2 * cap) {
		ssize_t n = mring_write(p, buf, sizeof buf, 0);
		if (n < 0)
			break;
		done += (uint64_t)n;
	}
	assert_true(done == 2 * cap);
	/* A state nobody knows is ignored, not indexed with. */
	put32(m, TU_OFF_SLOTS + TU_SLOT_STATE, 0xdeadbeef);
	put32(m, OFF_CONS_GEN, 778);
	assert_rc(mring_write(p, buf, sizeof buf, 0), sizeof buf);
	mring_close(p);
	unmap_ctl(m, fd);
	struct mring_info info;
	assert_rc(mring_inspect(path, &info, NULL, 0), MRING_ECORRUPT);
	tu_rm(path);
}

static void test_live_head_tail(void **state)
{
	(void)state;
	TU_PATH(path, "head.ring");
	uint64_t cap = 4u << 20;
	uint8_t buf[4096];
	const void *ptr;
	int fd;

	make_ring(path, cap, 0, 0);
	struct mring *p = open_as(path, MRING_PRODUCER, NULL, 0);
	struct mring *c = open_as(path, MRING_CONSUMER, NULL, 0);
	tu_fill(buf, 0, sizeof buf);
	assert_rc(mring_write(p, buf, sizeof buf, 0), sizeof buf);
	assert_rc(mring_read(c, buf, sizeof buf, 0), sizeof buf);
	uint8_t *m = map_ctl(path, &fd);

	/* head moved back below the consumer: corrupt, said once. */
	put64(m, TU_OFF_HEAD, 10);
	assert_rc(mring_peek(c, &ptr, 0), MRING_ECORRUPT);
	/* head far ahead: what is returned stays inside the window. */
	put64(m, TU_OFF_HEAD, UINT64_MAX - 100);
	ssize_t n = mring_peek(c, &ptr, 0);
	assert_true(n > 0 && (uint64_t)n <= cap + (1u << 20));
	put64(m, TU_OFF_HEAD, sizeof buf);

	/* tail beyond head: the producer ignores it and keeps writing. */
	put64(m, TU_OFF_TAIL, UINT64_MAX - 100);
	assert_int_equal(write_laps(p, cap, 3), 0);
	/* The observer is told something is wrong, and nothing more. */
	for (int i = 0; i < 4; i++) {
		n = mring_peek(c, &ptr, 0);
		assert_rc_in(n, MRING_ELAPPED, MRING_ECORRUPT);
	}
	mring_close(c);
	mring_close(p);
	unmap_ctl(m, fd);
	tu_rm(path);
}

/* A record header rewritten under a record-mode consumer. */
static void test_live_record_header(void **state)
{
	(void)state;
	TU_PATH(path, "rec.ring");
	uint64_t cap = 64 * (uint64_t)tu_page();
	uint8_t buf[256];
	const void *ptr;

	tu_create(path, cap, 1024, MRING_F_RECORDS);
	struct mring *p = open_as(path, MRING_PRODUCER, NULL, 0);
	struct mring *c = open_as(path, MRING_CONSUMER, "rc", 0);
	for (uint64_t s = 0; s < 4; s++) {
		tu_rec_fill(buf, s, sizeof buf);
		assert_rc(mring_write(p, buf, sizeof buf, 0), sizeof buf);
	}
	uint64_t off = data_off(path) + tu_rec_size(sizeof buf);
	/* len = 4 GiB - 1: no allocation, no read beyond the record. */
	tu_set_u32(path, off, UINT32_MAX);
	assert_rc(mring_read(c, buf, sizeof buf, 0), sizeof buf);
	assert_rc(mring_peek(c, &ptr, 0), MRING_ECORRUPT);
	/* len within bounds but the check does not match. */
	tu_set_u32(path, off, 8);
	assert_rc(mring_peek(c, &ptr, 0), MRING_ECORRUPT);
	mring_close(c);
	mring_close(p);
	tu_rm(path);
}

/* ---- truncated, removed, replaced --------------------------------------- */

static int truncate_child(void *arg)
{
	const char *path = arg;
	/* Keep the control block and the first 8 MiB of data. */
	uint64_t len = data_off(path) + (8u << 20);

	return truncate(path, (off_t)len) == 0 ? 0 : 1;
}

/* Another process truncates the file. */
static void truncate_by_other(const char *path)
{
	pid_t pid = tu_spawn(truncate_child, (void *)path, 30);
	assert_int_equal(tu_wait(pid), 0);
}

struct trunc_arg {
	const char *path;
	unsigned flags;
};

/* A consumer reading on finds ETRUNCATED at its next window, no SIGBUS. */
static int consumer_after_truncate(void *arg)
{
	const char *path = arg;
	static uint8_t buf[64 << 10];
	struct mring *c;
	uint64_t got = 0;
	ssize_t n;

	struct mring_config cfg;
	mring_config_init(&cfg);
	cfg.consumer_name = "t";
	int rc = mring_open(path, MRING_CONSUMER, &cfg, &c);
	if (rc < 0)
		return tu_cfail(1, "open: %s", tu_rcstr(rc));
	/* Window 0 is mapped now; then the file shrinks. */
	truncate_by_other(path);
	while ((n = mring_read(c, buf, sizeof buf, 0)) > 0) {
		if (tu_check(buf, got, (size_t)n) >= 0)
			return tu_cfail(2, "bad data at %llu",
			                (unsigned long long)got);
		got += (uint64_t)n;
	}
	mring_close(c);
	if (n != MRING_ETRUNCATED)
		return tu_cfail(3, "read: %s after %llu bytes", tu_rcstr(n),
		                (unsigned long long)got);
	return got >= (1u << 20) && got < (8u << 20)
	               ? 0
	               : tu_cfail(4, "stopped at %llu",
	                          (unsigned long long)got);
}

/* A producer writing on gets ETRUNCATED from reserve, no SIGBUS. */
static int producer_after_truncate(void *arg)
{
	struct trunc_arg *t = arg;
	static uint8_t buf[64 << 10];
	struct mring *p;
	uint64_t at = 0;
	ssize_t n;

	struct mring_config cfg;
	mring_config_init(&cfg);
	cfg.flags = t->flags;
	int rc = mring_open(t->path, MRING_PRODUCER, &cfg, &p);
	if (rc < 0)
		return tu_cfail(1, "open: %s", tu_rcstr(rc));
	truncate_by_other(t->path);
	for (;;) {
		tu_fill(buf, at, sizeof buf);
		n = mring_write(p, buf, sizeof buf, 5000);
		if (n != (ssize_t)sizeof buf)
			break;
		at += sizeof buf;
	}
	int sync = mring_sync(p);
	mring_close(p);
	if (n != MRING_ETRUNCATED)
		return tu_cfail(2, "write: %s at %llu", tu_rcstr(n),
		                (unsigned long long)at);
	if (sync != MRING_ETRUNCATED)
		return tu_cfail(3, "sync: %s", tu_rcstr(sync));
	return 0;
}

static void test_truncated_while_open(void **state)
{
	(void)state;
	TU_PATH(path, "trunc.ring");
	uint64_t cap = 16u << 20;
	static uint8_t buf[64 << 10];
	struct mring *r;

	/* Consumer: 16 MiB written, then the file loses its second half. */
	make_ring(path, cap, 1u << 20, 0);
	r = open_as(path, MRING_CONSUMER, "t", 0);
	mring_close(r);
	r = open_as(path, MRING_PRODUCER, NULL, 0);
	for (uint64_t at = 0; at < cap; at += sizeof buf) {
		tu_fill(buf, at, sizeof buf);
		assert_rc(mring_write(r, buf, sizeof buf, 0), sizeof buf);
	}
	mring_close(r);
	pid_t pid = tu_spawn(consumer_after_truncate, path, 60);
	assert_int_equal(tu_wait(pid), 0);
	/* And the next open says so at once. */
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &r), MRING_ETRUNCATED);

	/* Producer, with and without its maintenance thread. */
	unsigned flags[] = {0, MRING_F_NO_PREFETCH};
	for (int i = 0; i < 2; i++) {
		struct trunc_arg t = {path, flags[i]};
		make_ring(path, cap, 1u << 20, 0);
		pid = tu_spawn(producer_after_truncate, &t, 60);
		assert_int_equal(tu_wait(pid), 0);
	}
	tu_rm(path);
}

static int replace_child(void *arg)
{
	const char *path = arg;
	char other[600];

	snprintf(other, sizeof other, "%s.new", path);
	if (mring_create(other, NULL) < 0)
		return 1;
	return rename(other, path) == 0 ? 0 : 2;
}

static void test_removed_or_replaced(void **state)
{
	(void)state;
	TU_PATH(path, "gone.ring");
	struct mring *p, *c;

	make_ring(path, 16 * (uint64_t)tu_page(), 0, 0);
	p = open_as(path, MRING_PRODUCER, NULL, 0);
	c = open_as(path, MRING_CONSUMER, NULL, 0);
	assert_rc(mring_write(p, "abc", 3, 0), 3);
	assert_rc(mring_sync(p), 0);
	/* Another process renames a new ring over the path. */
	pid_t pid = tu_spawn(replace_child, path, 30);
	assert_int_equal(tu_wait(pid), 0);
	assert_rc(mring_sync(p), MRING_EREMOVED);
	assert_rc(mring_sync(c), MRING_EREMOVED);
	/* The handles go on with the file they opened. */
	assert_rc(mring_write(p, "def", 3, 0), 3);
	char buf[8];
	assert_rc(mring_read(c, buf, sizeof buf, 0), 6);
	mring_close(c);
	mring_close(p);

	/* Removed outright. */
	make_ring(path, 16 * (uint64_t)tu_page(), 0, 0);
	p = open_as(path, MRING_PRODUCER, NULL, 0);
	assert_int_equal(unlink(path), 0);
	assert_rc(mring_sync(p), MRING_EREMOVED);
	mring_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symlink_refused),
		cmocka_unit_test(test_modes_and_cloexec),
		cmocka_unit_test(test_other_owner_refused),
		cmocka_unit_test(test_consumer_data_readonly),
		cmocka_unit_test(test_no_exec_mappings),
		cmocka_unit_test(test_live_static_fields),
		cmocka_unit_test(test_live_consumer_slot),
		cmocka_unit_test(test_live_head_tail),
		cmocka_unit_test(test_live_record_header),
		cmocka_unit_test(test_truncated_while_open),
		cmocka_unit_test(test_removed_or_replaced),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
