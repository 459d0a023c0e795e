/*
 * Helpers shared by the benchmarks: clocks, a log-linear latency histogram
 * that merges across processes, size parsing, and the kernel's per-process
 * and per-cgroup counters.
 */
#ifndef MRING_BENCH_COMMON_H
#define MRING_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t bench_now_ns(void);

/*
 * Latency histogram: exact below 64 ns, then 64 buckets per power of two
 * (1.6% relative error) up to 2^40 ns. Plain counters, so a histogram in
 * shared memory can be filled by one process and read by another, and two
 * histograms merge by adding.
 */
#define BENCH_HIST_SUB 64
#define BENCH_HIST_OCT 35
#define BENCH_HIST_N (BENCH_HIST_SUB + BENCH_HIST_OCT * BENCH_HIST_SUB)

struct bench_hist {
	uint64_t n;
	uint64_t max;
	uint64_t sum;
	uint32_t b[BENCH_HIST_N];
};

void bench_hist_add(struct bench_hist *h, uint64_t ns);
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* Value at quantile q (0..1), in ns; the exact maximum for q >= 1. */
double bench_hist_quantile(const struct bench_hist *h, double q);
/* The value bucket i stands for, in ns (what bench_hist_quantile returns
 * for a rank that falls in it). */
double bench_hist_bucket_ns(unsigned i);

/* "4G", "625000", "256M", "64k" (powers of two). Returns 0 on success. */
int bench_parse_size(const char *s, uint64_t *out);

/* read_bytes and write_bytes of /proc/self/io; 0 when unreadable. */
void bench_proc_io(uint64_t *read_bytes, uint64_t *write_bytes);

/* This thread's major and minor page faults (RUSAGE_THREAD). */
void bench_thread_faults(uint64_t *maj, uint64_t *min);

/*
 * Directory of this process's cgroup-v1 memory controller group, e.g.
 * /sys/fs/cgroup/memory/a/b, into buf. Returns 0, or -1 if there is none.
 */
int bench_memcg_dir(char *buf, size_t len);
/* A field of <dir>/memory.stat ("total_cache"...); -1 when absent. */
int64_t bench_memcg_stat(const char *dir, const char *field);
/* A single-number file of <dir> ("memory.usage_in_bytes"); -1 if absent. */
int64_t bench_memcg_read(const char *dir, const char *file);

/* Fill buf with reproducible pseudo-random bytes. */
void bench_fill_random(void *buf, size_t len, uint64_t seed);

/* Print "prog: msg: strerror" style errors and exit(1). */
void bench_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
