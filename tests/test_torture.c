/*
 * SIGKILL torture, the short run: for each kind of ring (records, records
 * with CRC, bytes; back-pressure and overwrite), a producer, three durable
 * consumers, an observer and a joiner (new durable consumers at the oldest
 * data, one after another, each removed after a while) in separate
 * processes are killed at random moments and at chosen points (between
 * reserve and commit, between peek and release, right after a window
 * change, right after a join...), and restarted, round after round, while
 * the producer's maintenance thread discards the oldest data (zero-range,
 * punch-hole, cache drop in turn); the ring's positions are checked after
 * each round, and every consumer checks every record it reads. The engine
 * is torture.c; bench/torture runs it for thousands of rounds.
 *
 * TORTURE_ROUNDS (default 20 per kind of ring, 120 in all) and
 * TORTURE_SEED override the defaults.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "torture.h"

#include <stdio.h>
#include <stdlib.h>

static unsigned env_num(const char *name, unsigned def)
{
	const char *v = getenv(name);
	return v && *v ? (unsigned)strtoul(v, NULL, 0) : def;
}

static void run(int config)
{
	TU_PATH(path, "torture");
	struct tt_totals tot = {0};
	struct tt_torture t = {
		.rig = {.path = path,
	                .flags = tt_config_flags(config),
	                .capacity = 256u << 10,
	                .window = 64u << 10,
	                .min_len = 8,
	                .max_len = 3000,
	                .ndurable = 3,
	                .nobserver = 1,
	                .njoiner = 1,
	                .salt = (uint64_t)config,
	                .vary_maint = true,
	                .alarm_s = 120},
		.rounds = env_num("TORTURE_ROUNDS", 20),
		.seed = env_num("TORTURE_SEED", 1) * 1000 + (uint64_t)config,
		.max_round_ms = 30,
	};

	print_message("  %s: %u rounds, seed %llu\n", tt_config_name(config),
	              t.rounds, (unsigned long long)t.seed);
	if (tt_torture(&t, &tot) < 0)
		fail_msg("torture of %s failed (seed %llu): see above",
		         tt_config_name(config), (unsigned long long)t.seed);
#if !defined(__SANITIZE_THREAD__)
	/* A slot's position and record number are stored by one
	 * instruction, so no kill leaves them apart and every lap's loss
	 * must be counted right. (Under TSan two stores stand in.) */
	if (tot.unverified)
		fail_msg("%llu laps of %s counted the wrong number of lost "
		         "records (seed %llu)",
		         (unsigned long long)tot.unverified,
		         tt_config_name(config), (unsigned long long)t.seed);
#endif
	print_message("  %llu rounds, %llu lives, kills: external %llu, "
	              "reserve-commit %llu, after-commit %llu, peek-release "
	              "%llu, after-release %llu, window %llu, clean %llu; "
	              "%llu records verified, %llu records and %llu bytes lost "
	              "(reported); joiners: %llu joins (%llu at the newest), "
	              "%llu records verified, %llu slots of killed ones "
	              "removed; reclaimed zero %llu, punch %llu, cache %llu "
	              "bytes\n",
	              (unsigned long long)tot.rounds,
	              (unsigned long long)tot.restarts,
	              (unsigned long long)tot.kills[TT_EXTERNAL],
	              (unsigned long long)tot.kills[TT_RESERVED],
	              (unsigned long long)tot.kills[TT_COMMITTED],
	              (unsigned long long)tot.kills[TT_PEEKED],
	              (unsigned long long)tot.kills[TT_RELEASED],
	              (unsigned long long)tot.kills[TT_WINDOW],
	              (unsigned long long)tot.kills[TT_TERM],
	              (unsigned long long)tot.records,
	              (unsigned long long)tot.lost_records,
	              (unsigned long long)tot.lost_bytes,
	              (unsigned long long)tot.joins,
	              (unsigned long long)tot.joins_new,
	              (unsigned long long)tot.joiner_records,
	              (unsigned long long)tot.leftovers,
	              (unsigned long long)tot.reclaimed[MRING_RECLAIM_ZERO],
	              (unsigned long long)tot.reclaimed[MRING_RECLAIM_PUNCH],
	              (unsigned long long)tot.reclaimed[MRING_RECLAIM_CACHE]);
}

static void test_records(void **state)
{
	(void)state;
	run(0);
}

static void test_records_crc(void **state)
{
	(void)state;
	run(1);
}

static void test_bytes(void **state)
{
	(void)state;
	run(2);
}

static void test_records_overwrite(void **state)
{
	(void)state;
	run(3);
}

static void test_records_crc_overwrite(void **state)
{
	(void)state;
	run(4);
}

static void test_bytes_overwrite(void **state)
{
	(void)state;
	run(5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_records_crc),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_records_overwrite),
		cmocka_unit_test(test_records_crc_overwrite),
		cmocka_unit_test(test_bytes_overwrite),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
