/*
 * herd: what one data futex for every consumer costs. All consumers sleep
 * on the same word in the control block, and a commit that finds the
 * sleeper bit set wakes them all (FUTEX_WAKE of every waiter). Here N
 * durable consumers, each its own process, read every record of a
 * producer that commits small records one at a time; every consumer that
 * catches up sleeps. The producer commits one record every --interval-us
 * (a capture source at a steady rate), so consumers do fall asleep
 * between records. Prints, per N, how long a commit took the producer
 * (median, p99: the wake-up of every sleeper is inside it), the time it
 * spent in the kernel, and how many times the consumers slept.
 *
 *   herd [--consumers 1,4,16,64] [--records 20000] [--size 64]
 *        [--interval-us 50] [--dir DIR]
 *
 * CSV on stdout: consumers,records,interval_us,commit_p50_ns,commit_p99_ns,
 * producer_sys_s,consumer_sleeps,sleeps_per_record
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "mring.h"

struct shared {
	uint64_t sleeps[1024];
	int ready;
};

static void consumer(const char *path, int i, uint64_t records,
                     struct shared *sh)
{
	struct mring_config cfg;
	struct mring_stats st;
	char name[32];
	struct mring *c;
	uint8_t buf[4096];

	mring_config_init(&cfg);
	snprintf(name, sizeof name, "c%d", i);
	cfg.consumer_name = name;
	int rc = mring_open(path, MRING_CONSUMER, &cfg, &c);
	if (rc < 0)
		bench_die("consumer open: %s", mring_strerror(rc));
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
	for (uint64_t n = 0; n < records; n++) {
		ssize_t got = mring_read(c, buf, sizeof buf, -1);
		if (got <= 0)
			bench_die("consumer read: %s",
			          mring_strerror((int)got));
	}
	mring_stats(c, &st);
	sh->sleeps[i] = st.consumer_waits;
	mring_close(c);
	_exit(0);
}

static void run(const char *dir, int n, uint64_t records, size_t size,
                uint64_t interval_ns, struct shared *sh)
{
	char path[512];
	struct mring_config cfg;
	struct mring *p;
	uint8_t buf[4096] = {0};

	snprintf(path, sizeof path, "%s/herd-%d.r", dir, (int)getpid());
	unlink(path);
	mring_config_init(&cfg);
	cfg.capacity = 16u << 20;
	cfg.flags = MRING_F_RECORDS;
	cfg.max_consumers = (uint32_t)n;
	int rc = mring_create(path, &cfg);
	if (rc < 0)
		bench_die("create: %s", mring_strerror(rc));
	memset(sh, 0, sizeof(*sh));
	pid_t pids[1024];
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			consumer(path, i, records, sh);
	}
	while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < n)
		usleep(1000);
	rc = mring_open(path, MRING_PRODUCER, NULL, &p);
	if (rc < 0)
		bench_die("producer open: %s", mring_strerror(rc));
	static struct bench_hist h;
	memset(&h, 0, sizeof h);
	struct rusage r0, r1;
	getrusage(RUSAGE_THREAD, &r0);
	uint64_t next = bench_now_ns();
	for (uint64_t k = 0; k < records; k++) {
		next += interval_ns;
		while (bench_now_ns() < next)
			; /* a steady source, without a sleep of our own */
		uint64_t a = bench_now_ns();
		if (mring_write(p, buf, size, -1) != (ssize_t)size)
			bench_die("write");
		bench_hist_add(&h, bench_now_ns() - a);
	}
	getrusage(RUSAGE_THREAD, &r1);
	for (int i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
	mring_close(p);
	unlink(path);
	uint64_t sleeps = 0;
	for (int i = 0; i < n; i++)
		sleeps += sh->sleeps[i];
	double sys = (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
	             (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	printf("%d,%llu,%llu,%.0f,%.0f,%.3f,%llu,%.3f\n", n,
	       (unsigned long long)records,
	       (unsigned long long)(interval_ns / 1000),
	       bench_hist_quantile(&h, 0.5), bench_hist_quantile(&h, 0.99), sys,
	       (unsigned long long)sleeps, (double)sleeps / (double)records);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *list = "1,4,16,64", *dir = "/dev/shm";
	uint64_t records = 20000, size = 64, interval_us = 50;
	static const struct option opts[] = {
		{"consumers", required_argument, NULL, 'c'},
		{"records", required_argument, NULL, 'r'},
		{"size", required_argument, NULL, 's'},
		{"dir", required_argument, NULL, 'd'},
		{"interval-us", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			list = optarg;
			break;
		case 'r':
			records = strtoull(optarg, NULL, 10);
			break;
		case 's':
			if (bench_parse_size(optarg, &size) || size < 1 ||
			    size > 4096)
				bench_die("--size: 1..4096");
			break;
		case 'd':
			dir = optarg;
			break;
		case 'i':
			interval_us = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(o == 'h' ? stdout : stderr,
			        "usage: %s [--consumers 1,4,16,64] "
			        "[--records N] [--size BYTES]\n"
			        "          [--interval-us US] [--dir DIR]\n",
			        argv[0]);
			return o == 'h' ? 0 : 2;
		}
	}
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		bench_die("mmap");
	printf("consumers,records,interval_us,commit_p50_ns,commit_p99_ns,"
	       "producer_sys_s,consumer_sleeps,sleeps_per_record\n");
	char *copy = strdup(list);
	for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
		int n = atoi(tok);
		if (n < 1 || n > 1024)
			bench_die("--consumers: 1..1024 each");
		run(dir, n, records, (size_t)size, interval_us * 1000, sh);
	}
	free(copy);
	return 0;
}
