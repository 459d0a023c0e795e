/* Helpers shared by the benchmarks; see common.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common.h"

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned hist_index(uint64_t v)
{
	if (v < BENCH_HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
	if (e - 6 >= BENCH_HIST_OCT)
		return BENCH_HIST_N - 1;
	unsigned sub = (unsigned)(v >> (e - 6)) & (BENCH_HIST_SUB - 1);
	return BENCH_HIST_SUB + (e - 6) * BENCH_HIST_SUB + sub;
}

/* Middle of bucket i. */
static double hist_value(unsigned i)
{
	if (i < BENCH_HIST_SUB)
		return i;
	unsigned oct = (i - BENCH_HIST_SUB) / BENCH_HIST_SUB;
	unsigned sub = (i - BENCH_HIST_SUB) % BENCH_HIST_SUB;
	double w = (double)(1ull << oct);
	return (BENCH_HIST_SUB + sub) * w + w / 2;
}

void bench_hist_add(struct bench_hist *h, uint64_t ns)
{
	h->b[hist_index(ns)]++;
	h->n++;
	h->sum += ns;
	if (ns > h->max)
		h->max = ns;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	for (unsigned i = 0; i < BENCH_HIST_N; i++)
		dst->b[i] += src->b[i];
	dst->n += src->n;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

double bench_hist_bucket_ns(unsigned i)
{
	return hist_value(i);
}

double bench_hist_quantile(const struct bench_hist *h, double q)
{
	if (h->n == 0)
		return 0;
	if (q >= 1)
		return (double)h->max;
	/* The rank of the q-quantile, 1-based, rounded up (nearest rank). */
	uint64_t rank = (uint64_t)(q * (double)h->n);
	if ((double)rank < q * (double)h->n || rank == 0)
		rank++;
	uint64_t seen = 0;
	for (unsigned i = 0; i < BENCH_HIST_N; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			double v = hist_value(i);
			return v > (double)h->max ? (double)h->max : v;
		}
	}
	return (double)h->max;
}

int bench_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;

	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	case '\0':
		break;
	default:
		return -1;
	}
	if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
		return -1;
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

void bench_proc_io(uint64_t *read_bytes, uint64_t *write_bytes)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long v;

	*read_bytes = *write_bytes = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "read_bytes: %llu", &v) == 1)
			*read_bytes = v;
		else if (sscanf(line, "write_bytes: %llu", &v) == 1)
			*write_bytes = v;
	}
	fclose(f);
}

void bench_thread_faults(uint64_t *maj, uint64_t *min)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	*maj = (uint64_t)ru.ru_majflt;
	*min = (uint64_t)ru.ru_minflt;
}

int bench_memcg_dir(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[512];
	int rc = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* "4:memory:/path" */
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2 || strncmp(c1 + 1, "memory:", 7) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(buf, len, "/sys/fs/cgroup/memory%s",
		         strcmp(c2 + 1, "/") ? c2 + 1 : "");
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

int64_t bench_memcg_stat(const char *dir, const char *field)
{
	char path[512], line[256], name[128];
	unsigned long long v;
	int64_t rc = -1;

	snprintf(path, sizeof(path), "%s/memory.stat", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %llu", name, &v) == 2 &&
		    strcmp(name, field) == 0) {
			rc = (int64_t)v;
			break;
		}
	}
	fclose(f);
	return rc;
}

int64_t bench_memcg_read(const char *dir, const char *file)
{
	char path[512];
	unsigned long long v;
	int64_t rc = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%llu", &v) == 1)
		rc = (int64_t)v;
	fclose(f);
	return rc;
}

void bench_fill_random(void *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		/* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t n = len - i < 8 ? len - i : 8;
		memcpy(p + i, &x, n);
	}
}

void bench_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}
