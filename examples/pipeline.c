/*
 * pipeline: one producer and two durable consumers in three processes, and
 * a consumer that crashes and resumes exactly where it left off.
 *
 *   pipeline [--count N] [--crash-at K] [--ring KIB] [--dir DIR]
 *
 * The supervisor (this process) creates a record ring in back-pressure
 * mode and registers the durable consumers "a" and "b" by opening each of
 * them once: from then on the producer can never overwrite a record that
 * one of them has not released, whether or not its process is running.
 * It then forks the producer and the two consumers, each of which opens
 * the ring itself. Every record carries its sequence number, its length
 * and a checksum of its payload; the consumers check all three, in order.
 *
 * Consumer "b" crashes on purpose at record K: after peeking at it, before
 * releasing it, it kills itself with SIGKILL, so nothing is cleaned up.
 * The ring still holds b's position: just after the last record it
 * released. The supervisor starts b again, and b must go on at record K
 * exactly (the one it held but never released), so that its two lives see
 * every record once. While b is down the producer fills the small ring and
 * waits for it: that is back-pressure.
 *
 * Exits 0 only if both consumers saw all N records, intact and in order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mring.h>

#define MAX_DATA 240

/* A record: header and 0..MAX_DATA bytes that follow from seq. */
struct rec {
	uint64_t seq; /* 0, 1, 2... */
	uint32_t len; /* data bytes */
	uint32_t sum; /* FNV-1a of the data */
	uint8_t data[];
};

static uint64_t mix(uint64_t x)
{
	x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

static uint32_t fnv1a(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;

	while (len--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

/* Record seq, written at r; returns its size. */
static size_t make_rec(struct rec *r, uint64_t seq)
{
	r->seq = seq;
	r->len = (uint32_t)(mix(seq) % (MAX_DATA + 1));
	for (uint32_t i = 0; i < r->len; i++)
		r->data[i] = (uint8_t)mix(seq * 256 + i);
	r->sum = fnv1a(r->data, r->len);
	return sizeof(*r) + r->len;
}

/* Is p (n bytes) intact record `want`? */
static bool rec_ok(const struct rec *r, size_t n, uint64_t want)
{
	return n >= sizeof(*r) && r->seq == want && n == sizeof(*r) + r->len &&
	       r->sum == fnv1a(r->data, r->len);
}

static int fail(const char *who, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", who, what, mring_strerror(err));
	return 1;
}

/* ---- the three roles ---------------------------------------------------- */

static int producer(const char *path, uint64_t count)
{
	struct mring *r;
	struct mring_stats st;
	int err = mring_open(path, MRING_PRODUCER, NULL, &r);

	if (err < 0)
		return fail("producer", path, err);
	for (uint64_t seq = 0; seq < count; seq++) {
		void *p;

		/* Back-pressure: waits while a consumer is a ring behind. */
		err = mring_reserve(r, sizeof(struct rec) + MAX_DATA, &p, -1);
		if (err < 0)
			return fail("producer", "mring_reserve", err);
		mring_commit(r, make_rec(p, seq));
	}
	mring_stats(r, &st);
	printf("producer: %" PRIu64 " records, waited %" PRIu64
	       " times for a consumer\n",
	       count, st.producer_waits);
	mring_close(r); /* end of stream */
	return 0;
}

/*
 * Consumer `name`: records first..count-1 must come, in order. With
 * crash_at in that range it dies holding record crash_at unreleased.
 */
static int consumer(const char *path, const char *name, uint64_t first,
                    uint64_t count, uint64_t crash_at)
{
	struct mring_config cfg = {.consumer_name = name};
	struct mring *r;
	uint64_t want = first;
	int err = mring_open(path, MRING_CONSUMER, &cfg, &r);

	if (err < 0)
		return fail(name, path, err);
	for (;;) {
		const void *p;
		const struct rec *rec;
		ssize_t n = mring_peek(r, &p, -1);

		if (n == 0) /* the producer closed and we read everything */
			break;
		if (n < 0)
			return fail(name, "mring_peek", (int)n);
		rec = p;
		if (!rec_ok(rec, (size_t)n, want)) {
			fprintf(stderr,
			        "%s: expected record %" PRIu64 ", got %zd bytes"
			        " that claim to be record %" PRIu64 "\n",
			        name, want, n,
			        (size_t)n >= sizeof(*rec) ? rec->seq : 0);
			return 1;
		}
		if (want == first && first > 0)
			printf("%s: resumed at record %" PRIu64 "\n", name,
			       want);
		if (want == crash_at) {
			printf("%s: crashing (SIGKILL) while holding record "
			       "%" PRIu64 ", not released\n",
			       name, want);
			fflush(stdout);
			raise(SIGKILL);
		}
		err = mring_release(r, (size_t)n);
		if (err < 0)
			return fail(name, "mring_release", err);
		want++;
	}
	mring_close(r);
	if (want != count) {
		fprintf(stderr,
		        "%s: the stream ended before record %" PRIu64
		        " of %" PRIu64 "\n",
		        name, want, count);
		return 1;
	}
	printf("%s: records %" PRIu64 "..%" PRIu64 " all there, in order, "
	       "intact\n",
	       name, first, count - 1);
	return 0;
}

/* ---- the supervisor ----------------------------------------------------- */

enum { PRODUCER, A, B, NPROC };
static const char *const names[NPROC] = {"producer", "a", "b"};

struct opts {
	uint64_t count, crash_at, ring_kib;
	const char *dir;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Fork process `who`; b's second life starts at crash_at, expecting it. */
static pid_t start(int who, const char *path, const struct opts *o, bool again)
{
	pid_t pid;
	int rc;

	fflush(stdout);
	pid = fork();
	if (pid != 0) /* the supervisor, or -1 */
		return pid;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (who == PRODUCER)
		rc = producer(path, o->count);
	else if (who == A)
		rc = consumer(path, "a", 0, o->count, UINT64_MAX);
	else if (!again)
		rc = consumer(path, "b", 0, o->count, o->crash_at);
	else
		rc = consumer(path, "b", o->crash_at, o->count, UINT64_MAX);
	fflush(stdout);
	_exit(rc);
}

/* What the ring file says about consumer b, now that its process is gone. */
static void show_b(const char *path)
{
	struct mring_consumer_info ci[2];
	struct mring_info info;
	int n = mring_inspect(path, &info, ci, 2);

	for (int i = 0; i < n && i < 2; i++) {
		if (strcmp(ci[i].name, "b") != 0)
			continue;
		printf("supervisor: b is gone; the ring kept its position, "
		       "%" PRIu64 " bytes behind the producer (%s)\n",
		       info.head - ci[i].position,
		       ci[i].alive ? "still attached?" : "not attached");
	}
	if (n < 0)
		fprintf(stderr, "supervisor: %s: %s\n", path,
		        mring_strerror(n));
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: pipeline [options]\n"
	        "A producer and two durable consumers, a and b, in three\n"
	        "processes; b crashes (SIGKILL) and resumes where it left off.\n"
	        "Every record is checked; exits 1 on any mismatch.\n"
	        "  --count N      records to send (200000)\n"
	        "  --crash-at K   b dies holding record K (count / 3)\n"
	        "  --ring KIB     ring size in KiB (256)\n"
	        "  --dir DIR      directory for the temporary ring ($TMPDIR, "
	        "else /tmp)\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{"count", required_argument, NULL, 'n'},
		{"crash-at", required_argument, NULL, 'k'},
		{"ring", required_argument, NULL, 'r'},
		{"dir", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){200000, UINT64_MAX, 256, getenv("TMPDIR")};
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->count = strtoull(optarg, NULL, 0);
			break;
		case 'k':
			o->crash_at = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			o->ring_kib = strtoull(optarg, NULL, 0);
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (o->crash_at == UINT64_MAX)
		o->crash_at = o->count / 3;
	if (optind != argc || o->count == 0 || o->crash_at >= o->count ||
	    o->ring_kib == 0) {
		fprintf(stderr, "pipeline: bad arguments (--crash-at must be "
		                "below --count)\n");
		return -1;
	}
	if (!o->dir || !*o->dir)
		o->dir = "/tmp";
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct mring_config cfg = {0};
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART */
	char dir[4096], path[4200];
	pid_t pid[NPROC];
	int live = 0, failed = 0, err;
	bool restarted = false;

	if (parse(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/pipeline.XXXXXX", o.dir);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "pipeline: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/pipeline.ring", dir);
	cfg.capacity = o.ring_kib << 10;
	cfg.max_record = sizeof(struct rec) + MAX_DATA;
	cfg.flags = MRING_F_RECORDS; /* back-pressure: the default */
	err = mring_create(path, &cfg);
	/* Register the durable consumers before anything is produced. */
	for (int i = A; i <= B && err == 0; i++) {
		struct mring_config ccfg = {.consumer_name = names[i]};
		struct mring *r;

		err = mring_open(path, MRING_CONSUMER, &ccfg, &r);
		if (err == 0)
			mring_close(r); /* the name keeps slot and position */
	}
	if (err < 0) {
		fprintf(stderr, "pipeline: %s: %s\n", path,
		        mring_strerror(err));
		failed = 1;
		goto out;
	}
	printf("pipeline: %" PRIu64 " records through a %" PRIu64
	       " KiB ring; b crashes at record %" PRIu64 "\n",
	       o.count, o.ring_kib, o.crash_at);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (int i = 0; i < NPROC; i++)
		if ((pid[i] = start(i, path, &o, false)) > 0)
			live++;
	failed = live < NPROC;

	while (live > 0) {
		int st, who = -1;
		pid_t p = wait(&st);

		if (p < 0 && errno != EINTR)
			break;
		if (p < 0 && stop)
			failed = 1; /* interrupted: stop the others below */
		for (int i = 0; i < NPROC; i++)
			if (p > 0 && pid[i] == p)
				who = i;
		if (who >= 0) {
			pid[who] = 0;
			live--;
		}
		if (who == B && !restarted && WIFSIGNALED(st) &&
		    WTERMSIG(st) == SIGKILL) {
			show_b(path);
			printf("supervisor: starting b again\n");
			restarted = true;
			if ((pid[B] = start(B, path, &o, true)) > 0)
				live++;
			else
				failed = 1;
		} else if (who >= 0 && (!WIFEXITED(st) || WEXITSTATUS(st))) {
			if (!failed) /* the first; we kill the others */
				fprintf(stderr,
				        "supervisor: %s failed (%s %d)\n",
				        names[who],
				        WIFEXITED(st) ? "exit status"
				                      : "signal",
				        WIFEXITED(st) ? WEXITSTATUS(st)
				                      : WTERMSIG(st));
			failed = 1;
		}
		/* One failed: the others could wait for it forever. */
		for (int i = 0; i < NPROC && failed; i++)
			if (pid[i] > 0)
				kill(pid[i], SIGKILL);
	}
	if (!restarted && !failed) {
		fprintf(stderr, "supervisor: b never crashed\n");
		failed = 1;
	}
out:
	unlink(path);
	rmdir(dir);
	if (failed)
		printf("pipeline: FAILED\n");
	else
		printf("pipeline: OK: a and b checked all %" PRIu64
		       " records; b resumed at %" PRIu64 " after its crash\n",
		       o.count, o.crash_at);
	return failed;
}
