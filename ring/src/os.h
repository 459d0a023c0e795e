/*
 * Thin OS layer: every mmap, lock, futex and clock call of the library goes
 * through here and comes back as 0 / a count or -errno, so the policy code
 * in the other files reads as policy.
 */
#ifndef MRING_OS_H
#define MRING_OS_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Page size of this machine. */
long mring__os_page_size(void);

/* Reserve `len` bytes of address space aligned to `align` (PROT_NONE). */
int mring__os_reserve(size_t len, size_t align, uint8_t **addr);
/* Give a reservation back. */
void mring__os_unreserve(uint8_t *addr, size_t len);
/* Map fd[off, off+len) at addr, which lies inside our own reservation. */
int mring__os_map_fixed(uint8_t *addr, size_t len, int prot, int fd,
                        uint64_t off);
/* Put PROT_NONE back over [addr, addr+len) of our reservation. */
int mring__os_unmap_fixed(uint8_t *addr, size_t len);
/* Fault in [addr, addr+len) for writing (MADV_POPULATE_WRITE). */
/* madvise(addr, len, advice). */
int mring__os_advise(uint8_t *addr, size_t len, int advice);
int mring__os_populate_write(uint8_t *addr, size_t len);
/* Start reading [addr, addr+len) of a file mapping in (MADV_WILLNEED). */
int mring__os_willneed(uint8_t *addr, size_t len);
/* Whether the page at addr (of a file mapping) is in the page cache. */
bool mring__os_page_cached(uint8_t *addr);
/* Size of the file behind fd. */
int mring__os_file_size(int fd, uint64_t *size);
/* 1 if the file system holding fd has (nearly) no block left for us:
 * less than 16 MiB or 0.1 % of it free. Else 0. */
int mring__os_fs_full(int fd);
/*
 * Bytes of fd[off, off+len) in the page cache: cachestat (Linux 6.5), or
 * mincore where it is missing or MRING_NO_CACHESTAT=1 asks.
 */
int mring__os_cached(int fd, uint64_t off, uint64_t len, uint64_t *bytes);
/* Map the control block (shared, read-write) of `len` bytes at offset 0. */
int mring__os_map_ctl(int fd, size_t len, int prot, void **addr);
void mring__os_unmap(void *addr, size_t len);
/* Map fd[off, off+len) shared anywhere (not inherited by fork). */
int mring__os_map_shared(int fd, uint64_t off, size_t len, int prot,
                         void **addr);
/* Allocate blocks for fd[off, off+len) (fallocate, size kept). */
int mring__os_allocate(int fd, uint64_t off, uint64_t len);

/*
 * Open-file-description locks on one byte: they belong to the open file,
 * not the process, and vanish when the process dies.
 */
int mring__os_lock(int fd, uint64_t byte, int wait);
void mring__os_unlock(int fd, uint64_t byte);
/* 1 if another open file holds a lock on `byte`, 0 if not, or -errno. */
int mring__os_lock_held(int fd, uint64_t byte);
/* The same for any byte of [byte, byte + len). */
int mring__os_lock_held_range(int fd, uint64_t byte, uint64_t len);

/* Minor and major page faults of the calling thread. */
int mring__os_thread_faults(int64_t *minor, int64_t *major);

/* Memory this process may use: RAM, or less under a cgroup limit. */
/* The read-ahead size of fd's device, 0 if unknown. */
uint64_t mring__os_readahead(int fd);
uint64_t mring__os_mem_limit(void);
/* The same; with a memory cgroup's limit, also the path of the file that
 * tells its usage (usage left alone otherwise). */
uint64_t mring__os_mem_limit_at(char *usage, size_t usage_len);
/* A number from a one-line file; UINT64_MAX if unreadable. */
uint64_t mring__os_read_u64(const char *path);

/* Is there a process `pid` (0: unknown, counted as alive)? */
bool mring__os_pid_alive(pid_t pid);

/* Monotonic nanoseconds. */
int64_t mring__os_now_ns(void);
/* Wall-clock nanoseconds. */
int64_t mring__os_realtime_ns(void);

/* Futex on a 32-bit word in a shared file mapping (not private). */
int mring__os_futex_wait(void *word, uint32_t val, int64_t deadline_ns);
void mring__os_futex_wake(void *word);
/* Sleep until the monotonic clock reads deadline_ns (signals: go on). */
void mring__os_sleep_until(int64_t deadline_ns);

/* Identity of this boot, NUL-terminated; "" if unknown. */
void mring__os_boot_id(char *buf, size_t len);

/* Which fields of struct mring__os_ident are known. */
#define MRING__IDENT_INODE 1u      /* dev and ino */
#define MRING__IDENT_MNT 2u        /* mnt: a mount id that may be reused */
#define MRING__IDENT_MNT_UNIQUE 4u /* mnt: never reused in a boot (6.8) */
#define MRING__IDENT_MNTNS 8u      /* mntns: the mount namespace */

/*
 * Where the page cache of an open file lives: its device and inode, the
 * mount it was opened through and the mount namespace that mount id is
 * valid in. `known` says which fields are set.
 */
struct mring__os_ident {
	uint64_t dev, ino, mnt, mntns;
	uint32_t known;
};
void mring__os_file_ident(int fd, struct mring__os_ident *id);

#endif
