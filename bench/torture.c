/*
 * torture: the long SIGKILL torture run (tests/test_torture is the short
 * one, with the same engine, tests/torture.c).
 *
 *   torture [--rounds 1000] [--seed S] [--block 50] [--round-ms 30]
 *           [--configs 0,1,2,3,4,5] [--fixed] [--keep-going] [--verbose]
 *
 * Rounds are run in blocks of --block on one ring, the six kinds of ring
 * (records, records+CRC, bytes; back-pressure, overwrite) in turn; each
 * block ends with a drain that checks every durable consumer ends at the
 * last committed record. Each block draws its geometry: rings of 64 KiB,
 * 256 KiB or 1 MiB, windows of a quarter or an eighth of it, records up to
 * 3000 bytes or up to an eighth of the ring (--fixed: always the CI run's
 * 256 KiB, 64 KiB, 3000). Each round has a producer, durable consumers
 * d1-d3, an observer and a joiner (new durable consumers at the oldest
 * data, removed after a while; tests/torture.h); the producer's thread
 * discards with zero-range, punch-hole and cache drop in turn, a life
 * each, with the least cache budget. Prints a line per block and a
 * summary: rounds, kills by kind, joins, bytes discarded, failures, wall
 * time, the command. Exits 0 only if no round failed.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "testutil.h"
#include "torture.h"

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
	        "usage: %s [--rounds N] [--seed S] [--block N] "
	        "[--round-ms MS]\n"
	        "          [--configs LIST] [--fixed] [--keep-going] "
	        "[--verbose]\n"
	        "  configs: 0 records, 1 records+crc, 2 bytes (back-"
	        "pressure),\n"
	        "           3, 4, 5 the same in overwrite mode\n",
	        argv0);
}

static void print_totals(const struct tt_totals *t)
{
	printf("rounds      %llu\n", (unsigned long long)t->rounds);
	printf("lives       %llu (processes started)\n",
	       (unsigned long long)t->restarts);
	uint64_t all = 0;
	for (int k = TT_EXTERNAL; k < TT_KINDS; k++) {
		printf("kills       %-15s %llu\n", tt_kind_name(k),
		       (unsigned long long)t->kills[k]);
		if (k != TT_TERM)
			all += t->kills[k];
	}
	printf("kills       %-15s %llu (SIGKILL, all kinds)\n", "total",
	       (unsigned long long)all);
	printf("verified    %llu records/chunks, %llu bytes\n",
	       (unsigned long long)t->records, (unsigned long long)t->bytes);
	printf("lost        %llu records, %llu bytes (overwrite mode and "
	       "observers, as reported to the readers)\n",
	       (unsigned long long)t->lost_records,
	       (unsigned long long)t->lost_bytes);
	printf("miscounted  %llu laps a durable consumer missed while down, "
	       "reported with a wrong record count (a failure)\n",
	       (unsigned long long)t->unverified);
	printf("joiners     %llu joins (%llu at the newest), %llu records/"
	       "chunks and %llu bytes verified, %llu slots of killed joiners "
	       "removed\n",
	       (unsigned long long)t->joins, (unsigned long long)t->joins_new,
	       (unsigned long long)t->joiner_records,
	       (unsigned long long)t->joiner_bytes,
	       (unsigned long long)t->leftovers);
	printf("discarded   zero %llu bytes (%llu ops), punch %llu (%llu), "
	       "cache %llu (%llu) by the maintenance thread\n",
	       (unsigned long long)t->reclaimed[MRING_RECLAIM_ZERO],
	       (unsigned long long)t->reclaim_ops[MRING_RECLAIM_ZERO],
	       (unsigned long long)t->reclaimed[MRING_RECLAIM_PUNCH],
	       (unsigned long long)t->reclaim_ops[MRING_RECLAIM_PUNCH],
	       (unsigned long long)t->reclaimed[MRING_RECLAIM_CACHE],
	       (unsigned long long)t->reclaim_ops[MRING_RECLAIM_CACHE]);
	printf("failures    %llu\n", (unsigned long long)t->failures);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"rounds", required_argument, NULL, 'r'},
		{"seed", required_argument, NULL, 's'},
		{"block", required_argument, NULL, 'b'},
		{"round-ms", required_argument, NULL, 'm'},
		{"configs", required_argument, NULL, 'c'},
		{"keep-going", no_argument, NULL, 'k'},
		{"fixed", no_argument, NULL, 'f'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned rounds = 1000, block = 50, round_ms = 30;
	uint64_t seed = (uint64_t)time(NULL);
	char configs[64] = "0,1,2,3,4,5";
	int cfg[TT_NCONFIGS * 4], ncfg = 0;
	bool keep_going = false, seeded = false, fixed = false;
	int verbose = 0, o;

	while ((o = getopt_long(argc, argv, "r:s:b:m:c:kfvh", opts, NULL)) !=
	       -1) {
		switch (o) {
		case 'r':
			rounds = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 'b':
			block = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			round_ms = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			snprintf(configs, sizeof configs, "%s", optarg);
			break;
		case 'k':
			keep_going = true;
			break;
		case 'f':
			fixed = true;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	for (char *t = strtok(configs, ",");
	     t && ncfg < (int)(sizeof cfg / sizeof *cfg); t = strtok(NULL, ","))
		cfg[ncfg++] = atoi(t) % TT_NCONFIGS;
	if (!ncfg || !block || !round_ms) {
		usage(stderr, argv[0]);
		return 2;
	}

	TU_PATH(path, "torture");
	struct tt_totals tot = {0};
	uint64_t t0 = bench_now_ns();
	unsigned done = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("torture: %u rounds, seed %llu, blocks of %u, rounds up to "
	       "%u ms, ring %s\n",
	       rounds, (unsigned long long)seed, block, round_ms, path);
	for (unsigned b = 0; done < rounds; b++) {
		int c = cfg[b % (unsigned)ncfg];
		/* Geometry: the CI run's, or (cycling) rings of 64 KiB to
		 * 1 MiB, windows of a quarter or an eighth, records up to
		 * 3000 bytes or an eighth of the ring. */
		uint64_t g = fixed ? 0 : tu_mix(seed + b);
		uint32_t cap = fixed ? 256u << 10 : (64u << 10) << (g % 3 * 2);
		uint32_t win = fixed ? 64u << 10 : cap / (4u << (g / 3 % 2));
		uint32_t maxl = fixed || g / 6 % 2 ? 3000 : cap / 8 - 64;
		struct tt_torture t = {
			.rig = {.path = path,
		                .flags = tt_config_flags(c),
		                .capacity = cap,
		                .window = win,
		                .min_len = 8,
		                .max_len = maxl,
		                .ndurable = 3,
		                .nobserver = 1,
		                .njoiner = 1,
		                .salt = seed + b,
		                .vary_maint = true,
		                .alarm_s = 600},
			.rounds = rounds - done < block ? rounds - done : block,
			.seed = seed * 1000003u + b,
			.max_round_ms = round_ms,
			.verbose = verbose,
		};
		uint64_t before = tot.rounds;
		int rc = tt_torture(&t, &tot);
		done += (unsigned)(tot.rounds - before);
		printf("[%7.1f s] block %u, %-22s ring %4u KiB, window %3u "
		       "KiB, records <= %6u: %3u rounds %s (%u/%u, %llu "
		       "failures)\n",
		       (double)(bench_now_ns() - t0) / 1e9, b,
		       tt_config_name(c), cap >> 10, win >> 10, maxl, t.rounds,
		       rc ? "FAILED" : "ok", done, rounds,
		       (unsigned long long)tot.failures);
		if (rc && !keep_going)
			break;
	}
	printf("\n");
	print_totals(&tot);
	printf("wall time   %.1f s\n", (double)(bench_now_ns() - t0) / 1e9);
	printf("command    ");
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	if (!seeded)
		printf(" --seed %llu", (unsigned long long)seed);
	printf("\n");
	/* The slot's (pos, seq) pair is one store: a miscount is a bug. */
	bool bad = tot.failures || tot.unverified;
	printf("result      %s\n", bad ? "FAILED" : "PASSED");
	return bad ? 1 : 0;
}
