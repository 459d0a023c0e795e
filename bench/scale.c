/*
 * bench/scale: what mring itself costs in memory as a ring grows, and with
 * many consumers. Nothing here is about speed except the open times.
 *
 * For each capacity (sparse files, 1 GiB to 64 GiB by default) it creates
 * a record ring, opens a producer (with its maintenance thread) and one durable
 * consumer in this process, moves 64 MiB through them, and reports what
 * /proc/self/status says grew: anonymous RSS, page tables (VmPTE), mapped
 * address space (VmSize), beside the open times. Then one ring with 4,096
 * consumer slots: 4,096 durable consumers opened in this process (a
 * descriptor and a window pool each), then a producer opened against all
 * of them.
 *
 *   mring-bench-scale --dir /tmp --sizes 1G,4G,16G,64G --consumers 4096
 *
 * Output: one CSV row per case on stdout (header first).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <mring.h>

#include "common.h"

#define MOVE (64u << 20)
#define CHUNK (512u << 10)

struct mem {
	long rss_anon, pte, vm_size; /* KiB */
};

static struct mem mem_now(void)
{
	struct mem m = {0, 0, 0};
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		bench_die("/proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof line, f)) {
		sscanf(line, "RssAnon: %ld", &m.rss_anon);
		sscanf(line, "VmPTE: %ld", &m.pte);
		sscanf(line, "VmSize: %ld", &m.vm_size);
	}
	fclose(f);
	return m;
}

static void row(const char *what, uint64_t cap, unsigned cons, double open_ms,
                struct mem a, struct mem b)
{
	printf("%s,%llu,%u,%.3f,%ld,%ld,%ld\n", what, (unsigned long long)cap,
	       cons, open_ms, b.rss_anon - a.rss_anon, b.pte - a.pte,
	       b.vm_size - a.vm_size);
	fflush(stdout);
}

static double ms_since(uint64_t t0)
{
	return (double)(bench_now_ns() - t0) / 1e6;
}

static void move(struct mring *p, struct mring *c)
{
	static uint8_t buf[CHUNK];

	/* The bench's own buffer is in the figures of the first size. */
	for (uint64_t done = 0; done < MOVE; done += CHUNK) {
		if (mring_write(p, buf, CHUNK, -1) != CHUNK)
			bench_die("mring_write failed");
		ssize_t n = mring_read(c, buf, CHUNK, -1);
		if (n != CHUNK)
			bench_die("mring_read: %s", mring_strerror((int)n));
	}
}

static void one_size(const char *dir, uint64_t cap)
{
	char path[4096];
	struct mring_config cfg;
	struct mring *p, *c;
	int rc;

	snprintf(path, sizeof path, "%s/scale-%d.ring", dir, (int)getpid());
	mring_config_init(&cfg);
	cfg.capacity = cap;
	/* Records: the producer keeps an index of record starts per
	 * maintenance chunk, the one structure that grows with the ring. */
	cfg.flags = MRING_F_RECORDS;
	if ((rc = mring_create(path, &cfg)) < 0)
		bench_die("mring_create %s: %s", path, mring_strerror(rc));
	struct mem m0 = mem_now();
	uint64_t t0 = bench_now_ns();
	if ((rc = mring_open(path, MRING_PRODUCER, NULL, &p)) < 0)
		bench_die("mring_open producer: %s", mring_strerror(rc));
	double popen = ms_since(t0);
	struct mem m1 = mem_now();
	mring_config_init(&cfg);
	cfg.consumer_name = "scale";
	t0 = bench_now_ns();
	if ((rc = mring_open(path, MRING_CONSUMER, &cfg, &c)) < 0)
		bench_die("mring_open consumer: %s", mring_strerror(rc));
	double copen = ms_since(t0);
	struct mem m2 = mem_now();
	move(p, c);
	struct mem m3 = mem_now();
	row("producer-open", cap, 1, popen, m0, m1);
	row("consumer-open", cap, 1, copen, m1, m2);
	row("after-64MiB", cap, 1, 0, m0, m3);
	mring_close(c);
	mring_close(p);
	unlink(path);
}

static void many_consumers(const char *dir, uint64_t cap, unsigned n)
{
	char path[4096], name[32];
	struct mring_config cfg;
	struct mring **c = calloc(n, sizeof(*c));
	struct mring *p;
	int rc;

	if (!c)
		bench_die("out of memory");
	struct rlimit rl = {n + 64, n + 64};
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		bench_die("setrlimit(RLIMIT_NOFILE, %u): %s", n + 64,
		          strerror(errno));
	snprintf(path, sizeof path, "%s/scale-many-%d.ring", dir,
	         (int)getpid());
	mring_config_init(&cfg);
	cfg.capacity = cap;
	cfg.max_consumers = n;
	if ((rc = mring_create(path, &cfg)) < 0)
		bench_die("mring_create %s: %s", path, mring_strerror(rc));
	struct mem m0 = mem_now();
	uint64_t t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i++) {
		mring_config_init(&cfg);
		snprintf(name, sizeof name, "c%u", i);
		cfg.consumer_name = name;
		if ((rc = mring_open(path, MRING_CONSUMER, &cfg, &c[i])) < 0)
			bench_die("mring_open consumer %u: %s", i,
			          mring_strerror(rc));
	}
	double copen = ms_since(t0) / n;
	struct mem m1 = mem_now();
	t0 = bench_now_ns();
	if ((rc = mring_open(path, MRING_PRODUCER, NULL, &p)) < 0)
		bench_die("mring_open producer: %s", mring_strerror(rc));
	double popen = ms_since(t0);
	struct mem m2 = mem_now();
	/* The producer's limit is the slowest of n consumers: write less
	 * than a ring, so nobody needs to read. */
	static uint8_t buf[CHUNK];
	t0 = bench_now_ns();
	for (uint64_t done = 0; done + CHUNK <= cap / 2; done += CHUNK)
		if (mring_write(p, buf, CHUNK, -1) != CHUNK)
			bench_die("mring_write failed");
	double wms = ms_since(t0);
	row("consumers-open-each", cap, n, copen, m0, m1);
	row("producer-open-many", cap, n, popen, m1, m2);
	printf("# %u consumers: producer wrote %llu MiB in %.1f ms\n", n,
	       (unsigned long long)(cap / 2 >> 20), wms);
	mring_close(p);
	for (unsigned i = 0; i < n; i++)
		mring_close(c[i]);
	free(c);
	unlink(path);
}

int main(int argc, char **argv)
{
	const char *dir = "/tmp", *sizes = "1G,4G,16G,64G";
	unsigned cons = 4096;
	int ch;

	static const struct option lo[] = {
		{"dir", required_argument, 0, 'd'},
		{"sizes", required_argument, 0, 's'},
		{"consumers", required_argument, 0, 'c'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	while ((ch = getopt_long(argc, argv, "d:s:c:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 's':
			sizes = optarg;
			break;
		case 'c':
			cons = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(ch == 'h' ? stdout : stderr,
			        "usage: scale [--dir DIR] [--sizes LIST] "
			        "[--consumers N]\n"
			        "  --dir DIR        where the sparse rings go "
			        "(/tmp)\n"
			        "  --sizes LIST     ring capacities "
			        "(1G,4G,16G,64G)\n"
			        "  --consumers N    slots and consumers of the "
			        "last case, 0 = skip (4096)\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	printf("case,capacity,consumers,open_ms,rss_anon_kib,pte_kib,"
	       "vm_size_kib\n");
	char *list = strdup(sizes), *save = NULL;
	for (char *s = strtok_r(list, ",", &save); s;
	     s = strtok_r(NULL, ",", &save)) {
		uint64_t cap;
		if (bench_parse_size(s, &cap) < 0)
			bench_die("bad size %s", s);
		one_size(dir, cap);
	}
	free(list);
	if (cons)
		many_consumers(dir, 1ull << 30, cons);
	return 0;
}
