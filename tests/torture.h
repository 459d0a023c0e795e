/*
 * The crash-torture engine, shared by tests/test_torture.c (a short run in
 * CI), bench/torture.c (the long run) and bench/soak.c (hours at full rate).
 *
 * A "rig" is one ring file and its workers, each a separate process forked
 * from the caller: worker 0 is the producer, workers 1..ndurable durable
 * consumers ("d1", "d2"...), then nobserver observers, then njoiner
 * joiners. Every record (or byte)
 * follows from its number (or stream position), so each worker checks all
 * it reads: length, payload, order. Workers keep a note in memory shared
 * with the caller (it survives SIGKILL): before each commit or release,
 * where they stand and where they will stand after it. A restarted worker
 * must find the ring at one of those two places, nowhere else: that is how
 * "no committed record lost" and "no record delivered twice after its
 * release" are told apart from a kill that came between the call and the
 * note of its result.
 *
 * Workers can be told to kill themselves (raise(SIGKILL)) at their Nth
 * operation of one kind: between reserve and commit, right after commit,
 * between peek and release, right after release, right after a window
 * change. The caller adds SIGKILL at random moments and clean stops
 * (SIGTERM: close and exit 0).
 *
 * A joiner is a durable consumer that comes and goes while the producer's
 * maintenance thread discards the oldest data (zero-range, punch-hole or
 * cache drop, with a small cache budget so it never rests): in a loop it
 * registers a NEW durable consumer under a fresh name ("j<w>.<n>") at
 * MRING_START_OLDEST (one time in four MRING_START_NEWEST), checks every
 * record or byte it reads up to a random amount (up to two capacities),
 * closes, and removes itself with mring_consumer_remove(). It writes the
 * name into the shared page before it opens. A joiner killed at any moment
 * leaves its slot behind, which would hold the producer back for ever (and
 * use up the slots): whoever reaps the process (tt_kill, tt_stop, tt_reap,
 * tt_check) removes that slot at once, as an operator would with `mring
 * consumer rm`; tt_check fails on any joiner slot that is neither the live
 * joiner's current one nor removed.
 */
#ifndef MRING_TORTURE_H
#define MRING_TORTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mring.h"

#define TT_MAX_WORKERS 16

/* Ways a worker life ends (kills by kind, in the summary). */
enum tt_kind {
	TT_NONE = 0,
	TT_EXTERNAL,  /* SIGKILL from the caller at a random moment */
	TT_RESERVED,  /* producer: between reserve and commit */
	TT_COMMITTED, /* producer: right after commit returned */
	TT_PEEKED,    /* consumer: between peek and release */
	TT_RELEASED,  /* consumer: right after release returned */
	TT_WINDOW,    /* either: right after crossing a window boundary */
	TT_TERM,      /* SIGTERM: clean close, exit 0 */
	TT_JOINED,    /* joiner: right after its open returned */
	TT_LEFT,      /* joiner: closed, before it removed itself */
	TT_KINDS
};

const char *tt_kind_name(int kind);

/* What a worker writes before each commit/release: (seq, pos) now and
 * after it. seq is UINT64_MAX when not known (an observer's start). */
struct tt_note {
	uint64_t seq0, pos0, seq1, pos1;
};

/* A worker's state shared with the caller. Counters add up over lives. */
struct tt_shared {
	struct tt_note note[2];
	uint32_t cur; /* note[cur] is the valid one */
	uint32_t failed;
	uint64_t lives;
	uint64_t records; /* records (byte mode: chunks) verified */
	uint64_t bytes;   /* payload bytes verified / committed */
	uint64_t lost_bytes, lost_records, lapped;
	uint64_t self_kills[TT_KINDS];
	uint64_t stuck;      /* producer: reserve timed out (back-pressure) */
	uint64_t unverified; /* laps missed while down whose record count
	                      * was off (the slot's torn pos/seq pair) */
	/* Producer: what its maintenance thread discarded, by policy
	 * (enum mring_reclaim), over all lives (sampled as it runs). */
	uint64_t reclaimed[5], reclaim_ops[5];
	uint64_t reclaim_base[5], reclaim_ops_base[5]; /* lives before */
	/* Joiner: jname is its durable consumer while jphase != 0; the
	 * caller removes it if the process dies. */
	uint32_t jphase; /* 0 none, 1 opening, 2 reading, 3 leaving */
	char jname[32];
	uint64_t joins;     /* consumers registered (names used) */
	uint64_t joins_new; /* ... of them at MRING_START_NEWEST */
	uint64_t leftovers; /* slots of dead lives removed by the caller */
	char err[256];
};

struct tt_rig_config {
	const char *path;
	unsigned flags; /* MRING_F_RECORDS, _CRC, _OVERWRITE */
	uint64_t capacity;
	uint32_t window;
	uint32_t min_len, max_len; /* record payload / byte chunk lengths */
	int ndurable, nobserver, njoiner;
	uint64_t salt;    /* record lengths */
	bool vary_maint;  /* producer lives: random thread/io_uring/none */
	unsigned alarm_s; /* a worker life's upper bound */
	/* The producer's mring_config.reclaim: TT_RECLAIM_ROTATE (0) takes
	 * ZERO, PUNCH and CACHE in turn, one producer life each. */
	int reclaim;
	/* The producer's cache_budget: 0 is the least the thread takes (4
	 * of its chunks), so it discards all the time. */
	uint64_t cache_budget;
};

#define TT_RECLAIM_ROTATE 0
/* The policy of the producer's nth life under cfg->reclaim. */
int tt_reclaim_of(const struct tt_rig_config *cfg, uint64_t life);

struct tt_rig {
	struct tt_rig_config cfg;
	int nworkers;
	pid_t pid[TT_MAX_WORKERS];
	bool sent_term[TT_MAX_WORKERS]; /* the caller stopped this life */
	struct tt_shared *sh;           /* nworkers, shared */
	uint64_t restarts;
	uint64_t ext_kills;
	uint64_t clean_stops;
	/* Drain: what the final producer committed. */
	uint64_t final_head, final_seq;
};

/* A self-kill plan for one life: die at the nth operation of `kind`. */
struct tt_plan {
	int kind;
	uint64_t n;
	unsigned maint; /* producer: MRING_F_NO_PREFETCH / MRING_F_URING */
};

/* Create the ring (replacing a file at path) and register the durable
 * consumers at position 0. Returns 0 or a negative error (message on
 * stderr). */
int tt_rig_init(struct tt_rig *rig, const struct tt_rig_config *cfg);
/* Kill every worker and release the shared memory; removes the ring. */
void tt_rig_destroy(struct tt_rig *rig);

/* Start worker w (must not be running) with a plan (NULL: none). */
int tt_start(struct tt_rig *rig, int w, const struct tt_plan *plan);
/* Draw a random plan for worker w: a self-kill with probability pct/100. */
struct tt_plan tt_random_plan(const struct tt_rig *rig, int w, unsigned pct,
                              uint64_t *rnd);
/*
 * SIGKILL worker w (if running) and reap it. Returns 1 if its life ended
 * in a failure (reported in why, appended; may be NULL), else 0.
 */
int tt_kill(struct tt_rig *rig, int w, char *why, size_t n);
/* SIGTERM worker w and wait for its clean exit. Returns as tt_kill. */
int tt_stop(struct tt_rig *rig, int w, char *why, size_t n);
/*
 * Reap workers that ended. Returns the number of failures (a worker that
 * exited non-zero or by another signal than SIGKILL); messages go into
 * why (appended, may be NULL).
 */
int tt_reap(struct tt_rig *rig, char *why, size_t n);

/*
 * With every live worker stopped (SIGSTOP), check the ring's positions:
 * tail <= head, head - tail <= capacity, head at the end of the producer's
 * last committed record (or the one before, if the kill came between
 * commit and note), every durable consumer's position where its note
 * says (back-pressure) and between tail and head. Resumes the workers.
 * Returns 0 or -1 with the reason in why.
 */
int tt_check(struct tt_rig *rig, char *why, size_t n);

/*
 * End: kill everything, open the ring as producer once (it recovers and
 * must find head where the note says), close it (end of stream), and let
 * each consumer read to the end: durable ones must end exactly at the
 * last record. Returns 0 or -1 with the reason in why.
 */
int tt_drain(struct tt_rig *rig, char *why, size_t n);

/* ---- the torture proper ---------------------------------------------- */

struct tt_totals {
	uint64_t rounds;
	uint64_t kills[TT_KINDS];
	uint64_t restarts;
	uint64_t records; /* verified by consumers */
	uint64_t bytes;
	uint64_t lost_records; /* reported to lapped readers */
	uint64_t lost_bytes;
	uint64_t unverified; /* tt_shared.unverified, summed */
	uint64_t failures;
	uint64_t reclaimed[5], reclaim_ops[5]; /* by enum mring_reclaim */
	uint64_t joins, joins_new, leftovers;
	uint64_t joiner_records, joiner_bytes; /* verified by joiners */
};

struct tt_torture {
	struct tt_rig_config rig;
	unsigned rounds;
	uint64_t seed;
	unsigned max_round_ms; /* workers run 1..max before the kills */
	int verbose;           /* 1: a line per round */
};

/*
 * Run `rounds` rounds on one ring: start the missing workers with random
 * self-kill plans, let them run, kill a random subset, check positions;
 * then drain. Adds to *tot. Returns 0 or -1 (the reason printed).
 */
int tt_torture(const struct tt_torture *t, struct tt_totals *tot);

/* The six ring kinds: records, records+CRC, bytes, each with
 * back-pressure and overwrite. */
#define TT_NCONFIGS 6
unsigned tt_config_flags(int i);
const char *tt_config_name(int i);

#endif
