/* Shared test helpers; see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tu_dir_buf[256];
static pid_t tu_dir_owner;

const char *tu_rcstr(long long rc)
{
	if (rc >= 0)
		return "ok";
	return mring_strerror((int)rc);
}

void tu_assert_rc_in(long long got, const int *set, int n, const char *expr,
                     const char *file, int line)
{
	char want[512];
	size_t off = 0;

	for (int i = 0; i < n; i++) {
		if (got == set[i])
			return;
		off += (size_t)snprintf(want + off, sizeof want - off, "%s%d",
		                        i ? ", " : "", set[i]);
		if (off >= sizeof want)
			break;
	}
	fail_msg("%s:%d: %s = %lld (%s), expected one of {%s}", file, line,
	         expr, got, tu_rcstr(got), want);
}

/* ---- files ----------------------------------------------------------- */

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

void tu_rm(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		chmod(path, 0700);
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	} else {
		unlink(path);
	}
}

void tu_cleanup(void)
{
	/* Only the process that created the directory removes it. */
	if (tu_dir_buf[0] && tu_dir_owner == getpid()) {
		tu_rm(tu_dir_buf);
		tu_dir_buf[0] = 0;
	}
}

const char *tu_dir(void)
{
	if (!tu_dir_buf[0]) {
		const char *base = getenv("TMPDIR");
		if (!base || !*base)
			base = "/tmp";
		snprintf(tu_dir_buf, sizeof tu_dir_buf, "%s/mring-test-XXXXXX",
		         base);
		if (!mkdtemp(tu_dir_buf)) {
			fprintf(stderr, "mkdtemp(%s): %s\n", tu_dir_buf,
			        strerror(errno));
			exit(1);
		}
		tu_dir_owner = getpid();
		atexit(tu_cleanup);
	}
	return tu_dir_buf;
}

const char *tu_shm_dir(void)
{
	static char dir[64];
	struct stat st;

	if (dir[0])
		return dir;
	if (stat("/dev/shm", &st) != 0 || !S_ISDIR(st.st_mode))
		return NULL;
	snprintf(dir, sizeof dir, "/dev/shm/mring-test-%d", (int)getpid());
	if (mkdir(dir, 0700) != 0) {
		dir[0] = 0;
		return NULL;
	}
	return dir;
}

char *tu_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tu_dir(), name);
	return buf;
}

long tu_page(void)
{
	return sysconf(_SC_PAGESIZE);
}

struct mring_config tu_cfg(uint64_t cap, uint32_t max_record, unsigned flags)
{
	struct mring_config c;

	memset(&c, 0, sizeof c);
	c.capacity = cap;
	c.max_record = max_record;
	c.flags = flags;
	return c;
}

void tu_create(const char *path, uint64_t cap, uint32_t max_record,
               unsigned flags)
{
	struct mring_config c = tu_cfg(cap, max_record, flags);

	tu_rm(path);
	assert_rc(mring_create(path, &c), 0);
}

int tu_pread(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pread(fd, buf, len, (off_t)off);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

int tu_pwrite(const char *path, uint64_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pwrite(fd, buf, len, (off_t)off);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

uint64_t tu_get_u64(const char *path, uint64_t off)
{
	uint64_t v = 0;
	assert_rc(tu_pread(path, off, &v, sizeof v), 0);
	return v;
}

uint32_t tu_get_u32(const char *path, uint64_t off)
{
	uint32_t v = 0;
	assert_rc(tu_pread(path, off, &v, sizeof v), 0);
	return v;
}

void tu_set_u64(const char *path, uint64_t off, uint64_t v)
{
	assert_rc(tu_pwrite(path, off, &v, sizeof v), 0);
}

void tu_set_u32(const char *path, uint64_t off, uint32_t v)
{
	assert_rc(tu_pwrite(path, off, &v, sizeof v), 0);
}

uint32_t tu_crc32c(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t crc = 0xffffffffu;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return crc ^ 0xffffffffu;
}

void tu_fix_checksum(const char *path)
{
	uint8_t hdr[124];

	assert_rc(tu_pread(path, 0, hdr, sizeof hdr), 0);
	tu_set_u32(path, TU_OFF_CHECKSUM, tu_crc32c(hdr, sizeof hdr));
}

void tu_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int tu_wait_sleeper(const char *path, uint64_t off, int max_ms)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	const volatile uint32_t *w;
	void *m;
	int seen = 0;

	if (fd < 0)
		return 0;
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return 0;
	w = (const volatile uint32_t *)((const char *)m + off);
	for (int t = 0; t < max_ms && !seen; t++) {
		seen = (__atomic_load_n(w, __ATOMIC_ACQUIRE) & 1) != 0;
		if (!seen)
			tu_sleep_ms(1);
	}
	munmap(m, 4096);
	/* Let the sleeper get from setting the bit to FUTEX_WAIT. */
	tu_sleep_ms(20);
	return seen;
}

/* ---- deterministic data ------------------------------------------------ */

void tu_fill(void *dst, uint64_t pos, size_t len)
{
	uint8_t *d = dst;
	size_t i = 0;

	while (i < len && ((pos + i) & 7))
		d[i] = tu_byte(pos + i), i++;
	for (; i + 8 <= len; i += 8) {
		uint64_t w = tu_mix((pos + i) >> 3);
		memcpy(d + i, &w, 8); /* little-endian, as tu_byte */
	}
	for (; i < len; i++)
		d[i] = tu_byte(pos + i);
}

ssize_t tu_check(const void *src, uint64_t pos, size_t len)
{
	const uint8_t *s = src;
	size_t i = 0;

	while (i < len && ((pos + i) & 7)) {
		if (s[i] != tu_byte(pos + i))
			return (ssize_t)i;
		i++;
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w = tu_mix((pos + i) >> 3), got;
		memcpy(&got, s + i, 8);
		if (got != w)
			break;
	}
	for (; i < len; i++)
		if (s[i] != tu_byte(pos + i))
			return (ssize_t)i;
	return -1;
}

/* Payload byte i of record seq: a stream far from byte positions. */
static uint64_t rec_key(uint64_t seq)
{
	return (seq << 32) ^ 0x5a5a000000000000ull;
}

void tu_rec_fill(void *dst, uint64_t seq, size_t len)
{
	uint8_t *d = dst;
	size_t n = len < 8 ? len : 8;

	memcpy(d, &seq, n);
	if (len > 8)
		tu_fill(d + 8, rec_key(seq) + 8, len - 8);
}

ssize_t tu_rec_check(const void *src, uint64_t seq, size_t len)
{
	const uint8_t *s = src;
	size_t n = len < 8 ? len : 8;
	ssize_t bad;

	for (size_t i = 0; i < n; i++)
		if (s[i] != (uint8_t)(seq >> (8 * i)))
			return (ssize_t)i;
	if (len <= 8)
		return -1;
	bad = tu_check(s + 8, rec_key(seq) + 8, len - 8);
	return bad < 0 ? -1 : bad + 8;
}

uint64_t tu_rec_seq(const void *src)
{
	uint64_t v;
	memcpy(&v, src, 8);
	return v;
}

size_t tu_rec_len(uint64_t seq, uint64_t salt, size_t lo, size_t hi)
{
	return lo + (size_t)(tu_mix(seq * 31 + salt) % (hi - lo + 1));
}

/* ---- processes ------------------------------------------------------- */

pid_t tu_spawn(tu_child_fn fn, void *arg, unsigned alarm_s)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(120);
	/* cmocka catches these to fail a test; in a child that would run
	 * the rest of the parent's tests. Die instead: the parent sees it. */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGILL, SIG_DFL);
	signal(SIGFPE, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	alarm(alarm_s);
	int rc = fn(arg);
	fflush(NULL);
	_exit(rc);
}

int tu_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

int tu_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	return tu_wait(pid);
}

int tu_put_u64(int fd, uint64_t v)
{
	ssize_t n;
	do
		n = write(fd, &v, sizeof v);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof v ? 0 : -1;
}

int tu_get_u64_fd(int fd, uint64_t *v)
{
	size_t got = 0;

	while (got < sizeof *v) {
		ssize_t n = read(fd, (char *)v + got, sizeof *v - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return got ? -1 : 0;
		got += (size_t)n;
	}
	return 1;
}

int tu_cfail(int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* One write, so that a kill cannot cut the line. */
	fprintf(stderr, "[child %d] %s\n", (int)getpid(), msg);
	return code;
}

uint64_t tu_rand(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ull;
	return tu_mix(*state);
}

int tu_uring_works(void)
{
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425 /* the same on x86-64 and arm64 */
#endif
	unsigned char params[120] = {0}; /* struct io_uring_params */
	long fd = syscall(SYS_io_uring_setup, 1, params);

	if (fd < 0)
		return 0;
	close((int)fd);
	return 1;
}

const char *tu_madvise_ignored(void)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	const char *why = NULL;
	int fd, rc;
	char *a;

	/* A written private page must read back as zero once dropped. */
	a = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	         -1, 0);
	if (a == MAP_FAILED)
		return NULL;
	*(volatile char *)a = 42;
	if (madvise(a, pg, MADV_DONTNEED) == 0 && *(volatile char *)a != 0)
		why = "madvise(MADV_DONTNEED) returned 0 and dropped nothing";
	munmap(a, pg);
	if (why)
		return why;
	/*
	 * Pre-faulting a page past the end of a file must fail (EFAULT;
	 * EINVAL before Linux 5.14, where the library touches pages
	 * instead); success means the advice was not carried out.
	 */
	fd = memfd_create("tu_madvise_probe", MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	a = ftruncate(fd, (off_t)pg) == 0
	            ? mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	                   0)
	            : MAP_FAILED;
	close(fd);
	if (a == MAP_FAILED)
		return NULL;
	rc = madvise(a + pg, pg, MADV_POPULATE_WRITE);
	munmap(a, 2 * pg);
	if (rc == 0)
		return "madvise(MADV_POPULATE_WRITE) past the end of a file "
		       "returned 0 (qemu-user ignores madvise)";
	return NULL;
}

struct mring *tu_consumer(const char *path, const char *name)
{
	struct mring_config cfg;
	struct mring *c;

	memset(&cfg, 0, sizeof cfg);
	cfg.consumer_name = name;
	assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
	return c;
}
