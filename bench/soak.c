/*
 * soak: one producer at full rate and N consumers in separate processes,
 * for minutes or hours, every byte checked by every consumer.
 *
 *   soak [--minutes M | --seconds S] [--mode crc|records|bytes]
 *        [--capacity 64M] [--max-len 64k] [--durable 4] [--observers 4]
 *        [--joiners 2] [--reclaim rotate|zero|punch|cache|none]
 *        [--cache-budget SIZE] [--producer-every 60]
 *        [--restart-every 20] [--report-every 10] [--dir /tmp]
 *
 * A back-pressure ring: the durable consumers ("d1"...) hold the producer
 * back, the observers do not and are lapped when they fall behind (their
 * losses are reported exactly and counted). Durable consumer d1 is
 * restarted every --restart-every seconds, by SIGKILL and by clean close
 * in turn, and must resume where it stood. Every --report-every seconds
 * all processes are paused for an instant and the ring's positions checked
 * (tests/torture.h, tt_check), and a line of rates is printed. At the end
 * everything is killed, the producer reopened and closed, and every
 * consumer reads to the end of the stream: the durable ones must end at
 * the last committed record. Exits 0 only if nothing went wrong.
 *
 * Meanwhile the producer's maintenance thread discards the oldest data
 * ahead of the writer (--reclaim: zero-range, punch-hole, cache drop, or
 * the three in turn; --cache-budget 0 is the least the thread accepts, 4
 * of its chunks), and joiners register new durable consumers at the
 * oldest data (now and then the newest), check what they read, leave and
 * remove themselves, again and again (tests/torture.h). The producer is
 * SIGKILLed and restarted every --producer-every seconds, with the next
 * policy in turn; the joiners are SIGKILLed and restarted with d1, and
 * the slot a killed joiner leaves is removed when it is reaped.
 *
 * The processes are those of the torture engine (tests/torture.c).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "testutil.h"
#include "torture.h"

struct soak {
	double seconds;
	unsigned flags;
	uint64_t capacity, max_len;
	int ndurable, nobserver, njoiner;
	int reclaim;
	uint64_t cache_budget;
	double restart_every, report_every, producer_every;
};

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
	        "usage: %s [--minutes M | --seconds S] "
	        "[--mode crc|records|bytes]\n"
	        "          [--capacity SIZE] [--max-len SIZE] [--durable N] "
	        "[--observers N]\n"
	        "          [--joiners N] [--reclaim rotate|zero|punch|cache|"
	        "none]\n"
	        "          [--cache-budget SIZE] [--producer-every S]\n"
	        "          [--restart-every S] [--report-every S] [--dir "
	        "DIR]\n",
	        argv0);
}

static double now_s(uint64_t t0)
{
	return (double)(bench_now_ns() - t0) / 1e9;
}

static void progress(const struct tt_rig *rig, double t, double dt,
                     uint64_t *last)
{
	const struct tt_shared *sh = rig->sh;
	uint64_t p = sh[0].bytes;
	double lo = 1e30, hi = 0;
	uint64_t olost = 0, olapped = 0, joins = 0, rec = 0;
	int nread = 1 + rig->cfg.ndurable + rig->cfg.nobserver;

	for (int w = nread; w < rig->nworkers; w++)
		joins += sh[w].joins;
	for (int k = 0; k < 5; k++)
		rec += sh[0].reclaimed[k];
	for (int w = 1; w < nread; w++) {
		double r = (double)(sh[w].bytes - last[w]) / dt / 1e6;
		lo = r < lo ? r : lo;
		hi = r > hi ? r : hi;
		if (w > rig->cfg.ndurable) {
			olost += sh[w].lost_bytes;
			olapped += sh[w].lapped;
		}
		last[w] = sh[w].bytes;
	}
	printf("[%6.0f s] produced %8.0f MB %7.1f MB/s | verified per "
	       "consumer %6.1f..%6.1f MB/s | observers lapped %llu, lost "
	       "%.0f MB | joins %llu | discarded %.0f MB | restarts %llu | "
	       "errors 0\n",
	       t, (double)p / 1e6, (double)(p - last[0]) / dt / 1e6, lo, hi,
	       (unsigned long long)olapped, (double)olost / 1e6,
	       (unsigned long long)joins, (double)rec / 1e6,
	       (unsigned long long)(rig->restarts - (uint64_t)rig->nworkers));
	fflush(stdout);
	last[0] = p;
}

static void summary(const struct tt_rig *rig, double t, int restarts,
                    int pkills, int failed)
{
	static const char *const pol[5] = {"auto", "none", "cache", "zero",
	                                   "punch"};
	const struct tt_shared *sh = rig->sh;
	int nread = 1 + rig->cfg.ndurable + rig->cfg.nobserver;

	printf("\nduration    %.1f s\n", t);
	printf("produced    %llu bytes in %llu records (%.1f MB/s)\n",
	       (unsigned long long)sh[0].bytes,
	       (unsigned long long)sh[0].records,
	       (double)sh[0].bytes / t / 1e6);
	for (int w = 1; w < nread; w++)
		printf("%s%-2d %-8s verified %llu bytes, %llu records; lost "
		       "%llu bytes, %llu records (%llu laps); %llu lives\n",
		       w <= rig->cfg.ndurable ? "d" : "o", w,
		       w <= rig->cfg.ndurable ? "durable" : "observer",
		       (unsigned long long)sh[w].bytes,
		       (unsigned long long)sh[w].records,
		       (unsigned long long)sh[w].lost_bytes,
		       (unsigned long long)sh[w].lost_records,
		       (unsigned long long)sh[w].lapped,
		       (unsigned long long)sh[w].lives);
	for (int w = nread; w < rig->nworkers; w++)
		printf("j%-2d joiner   verified %llu bytes, %llu records; %llu "
		       "joins (%llu at the newest), lost %llu bytes, %llu "
		       "records (%llu laps); %llu lives, %llu slots of killed "
		       "lives removed\n",
		       w, (unsigned long long)sh[w].bytes,
		       (unsigned long long)sh[w].records,
		       (unsigned long long)sh[w].joins,
		       (unsigned long long)sh[w].joins_new,
		       (unsigned long long)sh[w].lost_bytes,
		       (unsigned long long)sh[w].lost_records,
		       (unsigned long long)sh[w].lapped,
		       (unsigned long long)sh[w].lives,
		       (unsigned long long)sh[w].leftovers);
	for (int k = 1; k < 5; k++)
		if (sh[0].reclaim_ops[k])
			printf("discarded   %-5s %llu bytes in %llu operations "
			       "(maintenance thread)\n",
			       pol[k], (unsigned long long)sh[0].reclaimed[k],
			       (unsigned long long)sh[0].reclaim_ops[k]);
	printf("restarts    %d of d1 (SIGKILL and clean close in turn), "
	       "%d of the producer (SIGKILL), %d of each joiner (SIGKILL)\n",
	       restarts, pkills, rig->cfg.njoiner ? restarts : 0);
	printf("errors      %d\n", failed);
	printf("result      %s\n", failed ? "FAILED" : "PASSED");
}

static int parse(int argc, char **argv, struct soak *s)
{
	static const struct option opts[] = {
		{"minutes", required_argument, NULL, 'M'},
		{"seconds", required_argument, NULL, 'S'},
		{"mode", required_argument, NULL, 'm'},
		{"capacity", required_argument, NULL, 'c'},
		{"max-len", required_argument, NULL, 'l'},
		{"durable", required_argument, NULL, 'd'},
		{"observers", required_argument, NULL, 'o'},
		{"joiners", required_argument, NULL, 'j'},
		{"reclaim", required_argument, NULL, 'R'},
		{"cache-budget", required_argument, NULL, 'B'},
		{"producer-every", required_argument, NULL, 'P'},
		{"restart-every", required_argument, NULL, 'r'},
		{"report-every", required_argument, NULL, 'p'},
		{"dir", required_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'M':
			s->seconds = atof(optarg) * 60;
			break;
		case 'S':
			s->seconds = atof(optarg);
			break;
		case 'm':
			if (!strcmp(optarg, "crc"))
				s->flags = MRING_F_RECORDS | MRING_F_CRC;
			else if (!strcmp(optarg, "records"))
				s->flags = MRING_F_RECORDS;
			else if (!strcmp(optarg, "bytes"))
				s->flags = 0;
			else
				return -1;
			break;
		case 'c':
			if (bench_parse_size(optarg, &s->capacity))
				return -1;
			break;
		case 'l':
			if (bench_parse_size(optarg, &s->max_len))
				return -1;
			break;
		case 'd':
			s->ndurable = atoi(optarg);
			break;
		case 'o':
			s->nobserver = atoi(optarg);
			break;
		case 'j':
			s->njoiner = atoi(optarg);
			break;
		case 'R':
			if (!strcmp(optarg, "rotate"))
				s->reclaim = TT_RECLAIM_ROTATE;
			else if (!strcmp(optarg, "zero"))
				s->reclaim = MRING_RECLAIM_ZERO;
			else if (!strcmp(optarg, "punch"))
				s->reclaim = MRING_RECLAIM_PUNCH;
			else if (!strcmp(optarg, "cache"))
				s->reclaim = MRING_RECLAIM_CACHE;
			else if (!strcmp(optarg, "none"))
				s->reclaim = MRING_RECLAIM_NONE;
			else
				return -1;
			break;
		case 'B':
			if (bench_parse_size(optarg, &s->cache_budget))
				return -1;
			break;
		case 'P':
			s->producer_every = atof(optarg);
			break;
		case 'r':
			s->restart_every = atof(optarg);
			break;
		case 'p':
			s->report_every = atof(optarg);
			break;
		case 'D':
			setenv("TMPDIR", optarg, 1);
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			return -1;
		}
	}
	if (s->seconds <= 0 || s->ndurable < 1 || s->nobserver < 0 ||
	    s->njoiner < 0 ||
	    1 + s->ndurable + s->nobserver + s->njoiner > TT_MAX_WORKERS ||
	    s->report_every <= 0 || s->max_len < 8)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct soak s = {.seconds = 600,
	                 .flags = MRING_F_RECORDS | MRING_F_CRC,
	                 .capacity = 64u << 20,
	                 .max_len = 64u << 10,
	                 .ndurable = 4,
	                 .nobserver = 4,
	                 .njoiner = 2,
	                 .reclaim = TT_RECLAIM_ROTATE,
	                 .restart_every = 20,
	                 .report_every = 10,
	                 .producer_every = 60};
	uint64_t last[TT_MAX_WORKERS] = {0};
	struct tt_rig rig;
	char why[4096] = "";
	int failed = 0, kills = 0, pkills = 0;

	if (parse(argc, argv, &s) < 0) {
		usage(stderr, argv[0]);
		return 2;
	}
	TU_PATH(path, "soak");
	struct tt_rig_config rc = {
		.path = path,
		.flags = s.flags,
		.capacity = s.capacity,
		.min_len = 8,
		.max_len = (uint32_t)s.max_len,
		.ndurable = s.ndurable,
		.nobserver = s.nobserver,
		.njoiner = s.njoiner,
		.salt = 42,
		.alarm_s = (unsigned)s.seconds + 600,
		.reclaim = s.reclaim,
		.cache_budget = s.cache_budget,
	};
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (tt_rig_init(&rig, &rc) < 0)
		return 1;
	printf("soak: %.0f s, %s ring of %llu bytes at %s, records %u..%llu "
	       "bytes, %d durable consumers + %d observers + %d joiners, d1 "
	       "and joiners restarted every %.0f s, the producer every %.0f "
	       "s, reclaim %s, cache budget %llu\n",
	       s.seconds,
	       s.flags & MRING_F_CRC ? "records+crc"
	       : s.flags             ? "records"
	                             : "bytes",
	       (unsigned long long)s.capacity, path, 8u,
	       (unsigned long long)s.max_len, s.ndurable, s.nobserver,
	       s.njoiner, s.restart_every, s.producer_every,
	       s.reclaim == TT_RECLAIM_ROTATE     ? "zero, punch, cache in turn"
	       : s.reclaim == MRING_RECLAIM_ZERO  ? "zero"
	       : s.reclaim == MRING_RECLAIM_PUNCH ? "punch"
	       : s.reclaim == MRING_RECLAIM_CACHE ? "cache"
	                                          : "none",
	       (unsigned long long)s.cache_budget);
	for (int w = 0; w < rig.nworkers && !failed; w++)
		failed = tt_start(&rig, w, NULL) < 0;

	uint64_t t0 = bench_now_ns();
	double next_report = s.report_every, last_report = 0;
	double next_restart = s.restart_every > 0 ? s.restart_every : 1e30;
	double next_pkill = s.producer_every > 0 ? s.producer_every : 1e30;
	int first_joiner = 1 + s.ndurable + s.nobserver;
	while (!failed && now_s(t0) < s.seconds) {
		tu_sleep_ms(100);
		failed = tt_reap(&rig, why, sizeof why) != 0;
		double t = now_s(t0);
		if (!failed && t >= next_restart) {
			/* SIGKILL and clean close in turn. */
			failed = kills++ % 2
			                 ? tt_stop(&rig, 1, why, sizeof why)
			                 : tt_kill(&rig, 1, why, sizeof why);
			failed = failed || tt_start(&rig, 1, NULL) < 0;
			/* Joiners: SIGKILL wherever they are (the slot
			 * they leave is removed as they are reaped). */
			for (int w = first_joiner; w < rig.nworkers && !failed;
			     w++)
				failed = tt_kill(&rig, w, why, sizeof why) ||
				         tt_start(&rig, w, NULL) < 0;
			next_restart += s.restart_every;
		}
		if (!failed && t >= next_pkill) {
			/* A crash; the next life takes the next policy. */
			pkills++;
			failed = tt_kill(&rig, 0, why, sizeof why) ||
			         tt_start(&rig, 0, NULL) < 0;
			next_pkill += s.producer_every;
		}
		if (!failed && t >= next_report) {
			failed = tt_check(&rig, why, sizeof why) < 0;
			progress(&rig, t, t - last_report, last);
			last_report = t;
			next_report += s.report_every;
		}
	}
	double t = now_s(t0);
	if (!failed) {
		printf("draining: every consumer reads to the end of the "
		       "stream\n");
		failed = tt_drain(&rig, why, sizeof why) < 0;
	}
	if (failed)
		fprintf(stderr, "soak FAILED: %s\n", why);
	summary(&rig, t, kills, pkills, failed);
	tt_rig_destroy(&rig);
	return failed ? 1 : 0;
}
