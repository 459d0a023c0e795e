/*
 * Helpers shared by the mring tests: a temporary directory removed at exit,
 * fork helpers, deterministic data keyed by stream position or record
 * number, and raw access to a ring file's control block (FORMAT.md).
 *
 * Rules for children: a child never uses cmocka assertions (they would
 * jump back into the parent's copy of the test runner); it reports through
 * its exit status (0 = success) or a pipe, and leaves with _exit().
 */
#ifndef MRING_TESTUTIL_H
#define MRING_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "mring.h"

#define TU_SKIP 77

/* Offsets in the control block, spelled as in ring/FORMAT.md. */
#define TU_OFF_MAGIC 0
#define TU_OFF_VERSION 8
#define TU_OFF_CTL_SIZE 12
#define TU_OFF_ENDIAN 16
#define TU_OFF_PAGE_SIZE 20
#define TU_OFF_DATA_OFFSET 24
#define TU_OFF_CAPACITY 32
#define TU_OFF_WINDOW 40
#define TU_OFF_MAX_RECORD 44
#define TU_OFF_FLAGS 48
#define TU_OFF_MAX_CONSUMERS 52
#define TU_OFF_CREATED_NS 56
#define TU_OFF_CHECKSUM 124
#define TU_OFF_HEAD 128
#define TU_OFF_TAIL 136
#define TU_OFF_HEAD_SEQ 144
#define TU_OFF_EOF 152
#define TU_OFF_DATA_FUTEX 192
#define TU_OFF_SPACE_FUTEX 256
#define TU_OFF_SYNCED 320
#define TU_OFF_SYNCED_SEQ 328
#define TU_OFF_CLEAN 340
#define TU_OFF_SLOTS 512
#define TU_SLOT_SIZE 64
#define TU_SLOT_POS 0
#define TU_SLOT_SEQ 8
#define TU_SLOT_STATE 16
#define TU_SLOT_PID 20
#define TU_SLOT_NAME 24
#define TU_REC_HDR 16u

/* ---- assertions ------------------------------------------------------ */

/* Print a return code with its mring_strerror() text. */
const char *tu_rcstr(long long rc);

/* assert that an mring call returned exactly `want` (codes are printed). */
#define assert_rc(got, want)                                                  \
	do {                                                                  \
		long long tu_g_ = (long long)(got);                           \
		long long tu_w_ = (long long)(want);                          \
		if (tu_g_ != tu_w_) {                                         \
			char tu_b_[128];                                      \
			snprintf(tu_b_, sizeof tu_b_, "%s", tu_rcstr(tu_w_)); \
			fail_msg("%s = %lld (%s), expected %lld (%s)", #got,  \
			         tu_g_, tu_rcstr(tu_g_), tu_w_, tu_b_);       \
		}                                                             \
	} while (0)

/* assert that an mring call succeeded (>= 0; a code is printed). */
#define assert_ok(got)                                          \
	do {                                                    \
		long long tu_g_ = (long long)(got);             \
		if (tu_g_ < 0)                                  \
			fail_msg("%s = %lld (%s)", #got, tu_g_, \
			         tu_rcstr(tu_g_));              \
	} while (0)

/* assert that `got` is one of the n codes in `set`. */
void tu_assert_rc_in(long long got, const int *set, int n, const char *expr,
                     const char *file, int line);
#define assert_rc_in(got, ...)                                                 \
	tu_assert_rc_in(                                                       \
		(got), (const int[]){__VA_ARGS__},                             \
		(int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)), #got, \
		__FILE__, __LINE__)

/* ---- files ----------------------------------------------------------- */

/* The test's private directory (created on first use, removed at exit). */
const char *tu_dir(void);
/* buf = "<tu_dir()>/<name>"; returns buf. */
char *tu_path(char *buf, size_t n, const char *name);
/* A new directory of this process on tmpfs (/dev/shm), for rings that must
 * live in memory; NULL if there is none. The caller removes it (rmdir). */
const char *tu_shm_dir(void);
#define TU_PATH(var, name) \
	char var[512];     \
	tu_path(var, sizeof var, name)
/* Remove a file or directory tree (no error if absent). */
void tu_rm(const char *path);
/* Remove the test directory now (also done at exit). */
void tu_cleanup(void);

long tu_page(void);

/* A config with the given geometry; 0 keeps the default. */
struct mring_config tu_cfg(uint64_t cap, uint32_t max_record, unsigned flags);
/* Open the ring at path as the consumer `name` (NULL: an observer), with
 * the defaults; asserts. */
struct mring *tu_consumer(const char *path, const char *name);
/* Create a fresh ring at path (removing what was there); asserts. */
void tu_create(const char *path, uint64_t cap, uint32_t max_record,
               unsigned flags);

/* Raw pread/pwrite of the file, with assert-free status returns. */
int tu_pread(const char *path, uint64_t off, void *buf, size_t len);
int tu_pwrite(const char *path, uint64_t off, const void *buf, size_t len);
uint64_t tu_get_u64(const char *path, uint64_t off);
uint32_t tu_get_u32(const char *path, uint64_t off);
void tu_set_u64(const char *path, uint64_t off, uint64_t v);
void tu_set_u32(const char *path, uint64_t off, uint32_t v);

/* CRC32C (Castagnoli), bitwise, standard init/xorout. */
uint32_t tu_crc32c(const void *buf, size_t len);
/* Recompute the static-part checksum at offset 124 of a ring file. */
void tu_fix_checksum(const char *path);

/*
 * Poll the futex word at `off` of the control block until bit 0 (a
 * sleeper) is set; gives up after max_ms. Returns 1 if seen. Used only to
 * make it likely that a peer is asleep before waking it; tests do not
 * depend on the answer.
 */
int tu_wait_sleeper(const char *path, uint64_t off, int max_ms);

void tu_sleep_ms(int ms);

/* ---- deterministic data ------------------------------------------------ */

static inline uint64_t tu_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The byte at stream position pos (every bit of pos matters). */
static inline uint8_t tu_byte(uint64_t pos)
{
	return (uint8_t)(tu_mix(pos >> 3) >> ((pos & 7) * 8));
}

/* Fill dst with the bytes of stream positions [pos, pos+len). */
void tu_fill(void *dst, uint64_t pos, size_t len);
/* Index of the first byte that differs from the pattern, or -1. */
ssize_t tu_check(const void *src, uint64_t pos, size_t len);

/*
 * Records: payload of record `seq` holds seq in its first 8 bytes
 * (little-endian, truncated if len < 8) and pattern bytes after.
 */
void tu_rec_fill(void *dst, uint64_t seq, size_t len);
ssize_t tu_rec_check(const void *src, uint64_t seq, size_t len);
/* seq stored in a payload of at least 8 bytes. */
uint64_t tu_rec_seq(const void *src);
/* A deterministic length in [lo, hi] for record `seq` (and a salt). */
size_t tu_rec_len(uint64_t seq, uint64_t salt, size_t lo, size_t hi);
/* Bytes a record of payload len occupies in the stream. */
static inline uint64_t tu_rec_size(uint64_t len)
{
	return TU_REC_HDR + ((len + 7) & ~(uint64_t)7);
}

/* ---- processes ------------------------------------------------------- */

typedef int (*tu_child_fn)(void *arg);
/*
 * Fork a child that runs fn(arg) and _exit()s with its value. The child
 * dies with the parent (PR_SET_PDEATHSIG) and after `alarm_s` seconds at
 * most (SIGALRM), so a hung child cannot outlive the test.
 */
pid_t tu_spawn(tu_child_fn fn, void *arg, unsigned alarm_s);
/* Wait: exit status, or 128 + signal number if it was killed. */
int tu_wait(pid_t pid);
/* SIGKILL and reap. Returns what tu_wait returns. */
int tu_kill(pid_t pid);

/* Write/read a u64 on a pipe. Read returns 1, 0 on EOF, -1 on error. */
int tu_put_u64(int fd, uint64_t v);
int tu_get_u64_fd(int fd, uint64_t *v);

/* Child-side failure report: prints to stderr and returns code. */
int tu_cfail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* 1 if this process may set up an io_uring (not disabled by sysctl or
 * seccomp), else 0. */
int tu_uring_works(void);

/* NULL if madvise() does what it is asked here, else why not: qemu-user
 * returns 0 from it without doing anything (MADV_POPULATE_WRITE at
 * least), and a test of what a failed pre-fault turns into (-ENOSPC, not
 * SIGBUS) cannot run there. */
const char *tu_madvise_ignored(void);

/* Seeded PRNG for test parameters. */
uint64_t tu_rand(uint64_t *state);

#endif
