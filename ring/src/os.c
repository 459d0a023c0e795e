/*
 * OS primitives for the library (see os.h). Nothing here knows about rings.
 */
#define _GNU_SOURCE
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

long mring__os_page_size(void)
{
	static long page;

	if (!page)
		page = sysconf(_SC_PAGESIZE);
	return page;
}

int mring__os_reserve(size_t len, size_t align, uint8_t **addr)
{
	size_t total = len + align;
	uint8_t *p = mmap(NULL, total, PROT_NONE,
	                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	/* Trim to an aligned start so windows can use large pages. */
	uint8_t *a = (uint8_t *)(((uintptr_t)p + align - 1) &
	                         ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + len < p + total)
		munmap(a + len, (size_t)(p + total - (a + len)));
	*addr = a;
	return 0;
}

void mring__os_unreserve(uint8_t *addr, size_t len)
{
	if (addr)
		munmap(addr, len);
}

int mring__os_map_fixed(uint8_t *addr, size_t len, int prot, int fd,
                        uint64_t off)
{
	void *p = mmap(addr, len, prot, MAP_SHARED | MAP_FIXED, fd, (off_t)off);

	if (p == MAP_FAILED)
		return -errno;
	/* Not inherited by fork(): see mring__os_map_ctl. */
	(void)madvise(p, len, MADV_DONTFORK);
	return 0;
}

int mring__os_unmap_fixed(uint8_t *addr, size_t len)
{
	void *p = mmap(addr, len, PROT_NONE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
	               -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	return 0;
}

int mring__os_populate_write(uint8_t *addr, size_t len)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
	for (;;) {
		if (madvise(addr, len, MADV_POPULATE_WRITE) == 0)
			return 0;
		/* EINTR: a signal arrived part way; what is done stays done. */
		if (errno != EINTR)
			return -errno;
	}
}

int mring__os_willneed(uint8_t *addr, size_t len)
{
	return madvise(addr, len, MADV_WILLNEED) ? -errno : 0;
}

bool mring__os_page_cached(uint8_t *addr)
{
	unsigned char v = 0;
	uintptr_t page = (uintptr_t)mring__os_page_size();
	void *p = (void *)((uintptr_t)addr & ~(page - 1));

	/* On error say "cached": the caller then skips optional work. */
	return mincore(p, (size_t)page, &v) != 0 || (v & 1);
}

int mring__os_advise(uint8_t *addr, size_t len, int advice)
{
	return madvise(addr, len, advice) ? -errno : 0;
}

int mring__os_file_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

int mring__os_fs_full(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return 0;
	/*
	 * A fault fails before the last block is gone: xfs reserves the
	 * worst-case metadata of a delayed allocation with it (a fault
	 * failed there with 5 blocks of 4 KiB free), and a large folio
	 * needs up to 2 MiB at once. So "full" is nearly full.
	 */
	uint64_t bs = sf.f_bsize > 0 ? (uint64_t)sf.f_bsize : 4096;
	uint64_t avail = (uint64_t)sf.f_bavail * bs;
	uint64_t total = (uint64_t)sf.f_blocks * bs;
	return avail < (16u << 20) || avail < total / 1024;
}

/* mincore() over a temporary read-only mapping, a piece at a time. */
static int cached_mincore(int fd, uint64_t off, uint64_t len, uint64_t *bytes)
{
	const uint64_t piece = 1ull << 30;
	uint64_t page = (uint64_t)mring__os_page_size();
	uint64_t end = off + len, n = 0;
	unsigned char *vec = malloc((size_t)(piece / page));
	int rc = 0;

	if (!vec)
		return -ENOMEM;
	for (uint64_t at = off & ~(page - 1); at < end; at += piece) {
		size_t l = (size_t)(end - at < piece ? end - at : piece);
		void *m = mmap(NULL, l, PROT_READ, MAP_SHARED, fd, (off_t)at);
		if (m == MAP_FAILED) {
			rc = -errno;
			break;
		}
		if (mincore(m, l, vec) < 0)
			rc = -errno;
		else
			for (size_t i = 0; i < (l + page - 1) / page; i++)
				n += vec[i] & 1;
		munmap(m, l);
		if (rc < 0)
			break;
	}
	free(vec);
	*bytes = n * page;
	return rc;
}

int mring__os_cached(int fd, uint64_t off, uint64_t len, uint64_t *bytes)
{
#ifndef SYS_cachestat
#define SYS_cachestat 451 /* the same on x86-64 and arm64 */
#endif
	struct {
		uint64_t off, len;
	} range = {off, len};
	struct {
		uint64_t cache, dirty, writeback, evicted, recently_evicted;
	} cs;
	const char *force = getenv("MRING_NO_CACHESTAT");

	/* Linux before 6.5 (or a seccomp filter): ask mincore instead. */
	if ((force && *force && strcmp(force, "0") != 0) ||
	    syscall(SYS_cachestat, fd, &range, &cs, 0) < 0)
		return cached_mincore(fd, off, len, bytes);
	*bytes = cs.cache * (uint64_t)mring__os_page_size();
	return 0;
}

int mring__os_map_ctl(int fd, size_t len, int prot, void **addr)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	/*
	 * A mapping holds the open file description, and with it the
	 * producer's or a consumer's lock: a child forked without exec must
	 * not keep the lock alive after its parent died (ring.c, "fork").
	 */
	(void)madvise(p, len, MADV_DONTFORK);
	*addr = p;
	return 0;
}

void mring__os_unmap(void *addr, size_t len)
{
	if (addr)
		munmap(addr, len);
}

static int ofd_lock_range(int fd, int cmd, short type, uint64_t byte,
                          uint64_t len, struct flock *out)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = (off_t)byte,
		.l_len = (off_t)len,
	};

	for (;;) {
		if (fcntl(fd, cmd, &fl) == 0)
			break;
		if (errno != EINTR)
			return -errno;
	}
	if (out)
		*out = fl;
	return 0;
}

static int ofd_lock(int fd, int cmd, short type, uint64_t byte,
                    struct flock *out)
{
	return ofd_lock_range(fd, cmd, type, byte, 1, out);
}

int mring__os_lock(int fd, uint64_t byte, int wait)
{
	int rc = ofd_lock(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, F_WRLCK, byte,
	                  NULL);

	if (rc == -EAGAIN || rc == -EACCES)
		return -EBUSY;
	return rc;
}

void mring__os_unlock(int fd, uint64_t byte)
{
	(void)ofd_lock(fd, F_OFD_SETLK, F_UNLCK, byte, NULL);
}

int mring__os_lock_held(int fd, uint64_t byte)
{
	return mring__os_lock_held_range(fd, byte, 1);
}

int mring__os_lock_held_range(int fd, uint64_t byte, uint64_t len)
{
	struct flock fl = {0};
	int rc = ofd_lock_range(fd, F_OFD_GETLK, F_WRLCK, byte, len, &fl);

	if (rc < 0)
		return rc;
	return fl.l_type != F_UNLCK;
}

int mring__os_thread_faults(int64_t *minor, int64_t *major)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return -errno;
	*minor = ru.ru_minflt;
	*major = ru.ru_majflt;
	return 0;
}

static uint64_t read_u64_file(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return UINT64_MAX;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return UINT64_MAX;
	buf[n] = '\0';
	if (buf[0] < '0' || buf[0] > '9') /* "max" */
		return UINT64_MAX;
	return strtoull(buf, NULL, 10);
}

uint64_t mring__os_readahead(int fd)
{
	struct stat st;
	char path[64];

	if (fstat(fd, &st) < 0)
		return 0;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
	         major(st.st_dev), minor(st.st_dev));
	uint64_t kb = read_u64_file(path);
	return kb == UINT64_MAX ? 0 : kb << 10;
}

uint64_t mring__os_mem_limit(void)
{
	return mring__os_mem_limit_at(NULL, 0);
}

uint64_t mring__os_read_u64(const char *path)
{
	return read_u64_file(path);
}

uint64_t mring__os_mem_limit_at(char *usage, size_t usage_len)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	uint64_t lim =
		pages > 0 ? (uint64_t)pages * (uint64_t)mring__os_page_size()
			  : UINT64_MAX;
	char line[512], path[700];
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return lim;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *p = NULL;
		const char *file = NULL, *used = NULL;
		if ((p = strstr(line, ":memory:")) != NULL) {
			p += 8;
			file = "/sys/fs/cgroup/memory%s/memory.limit_in_bytes";
			used = "/sys/fs/cgroup/memory%s/memory.usage_in_bytes";
		} else if (strncmp(line, "0::", 3) == 0) {
			p = line + 3;
			file = "/sys/fs/cgroup%s/memory.max";
			used = "/sys/fs/cgroup%s/memory.current";
		}
		if (!file)
			continue;
		snprintf(path, sizeof(path), file, p);
		uint64_t v = read_u64_file(path);
		if (v < lim) {
			lim = v;
			if (usage)
				snprintf(usage, usage_len, used, p);
		}
	}
	fclose(f);
	return lim;
}

bool mring__os_pid_alive(pid_t pid)
{
	if (pid <= 0)
		return true;
	return kill(pid, 0) == 0 || errno != ESRCH;
}

int64_t mring__os_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t mring__os_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int mring__os_futex_wait(void *word, uint32_t val, int64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;
	long rc;

	if (deadline_ns >= 0) {
		ts.tv_sec = deadline_ns / 1000000000;
		ts.tv_nsec = deadline_ns % 1000000000;
		tsp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, val, tsp, NULL,
	             FUTEX_BITSET_MATCH_ANY);
	if (rc < 0)
		return -errno;
	return 0;
}

void mring__os_futex_wake(void *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void mring__os_sleep_until(int64_t deadline_ns)
{
	struct timespec ts = {.tv_sec = deadline_ns / 1000000000,
	                      .tv_nsec = deadline_ns % 1000000000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

void mring__os_boot_id(char *buf, size_t len)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	buf[0] = '\0';
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0) {
		buf[0] = '\0';
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

void mring__os_file_ident(int fd, struct mring__os_ident *id)
{
	struct statx sx;
	struct stat st;

	memset(id, 0, sizeof(*id));
	/* The mount namespace: mount ids of two namespaces are unrelated. */
	if (stat("/proc/self/ns/mnt", &st) == 0) {
		id->mntns = (uint64_t)st.st_ino;
		id->known |= MRING__IDENT_MNTNS;
	}
	if (statx(fd, "", AT_EMPTY_PATH,
	          STATX_INO | STATX_MNT_ID | STATX_MNT_ID_UNIQUE, &sx) == 0) {
		id->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
		id->ino = sx.stx_ino;
		id->known |= MRING__IDENT_INODE;
		/* A kernel sets one of the two mount-id bits, at most. */
		if (sx.stx_mask & STATX_MNT_ID_UNIQUE) {
			id->mnt = sx.stx_mnt_id;
			id->known |= MRING__IDENT_MNT_UNIQUE;
		} else if (sx.stx_mask & STATX_MNT_ID) {
			id->mnt = sx.stx_mnt_id;
			id->known |= MRING__IDENT_MNT;
		}
		return;
	}
	/* statx is missing (before 4.11, or a seccomp filter). */
	if (fstat(fd, &st) == 0) {
		id->dev = (uint64_t)st.st_dev;
		id->ino = (uint64_t)st.st_ino;
		id->known |= MRING__IDENT_INODE;
	}
}

int mring__os_map_shared(int fd, uint64_t off, size_t len, int prot,
                         void **addr)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)off);

	if (p == MAP_FAILED)
		return -errno;
	/* As the control block: a child forked without exec does not keep
	 * the open file description (and its locks) alive through it. */
	(void)madvise(p, len, MADV_DONTFORK);
	*addr = p;
	return 0;
}

int mring__os_allocate(int fd, uint64_t off, uint64_t len)
{
	while (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}
