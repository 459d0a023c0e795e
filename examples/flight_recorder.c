/*
 * flight-recorder: keep the last --size bytes of a stream of timestamped
 * records in an overwrite-mode ring; on SIGUSR1, dump the records of the
 * last --last seconds to a file and carry on; SIGINT or SIGTERM ends it.
 *
 *   flight-recorder [--size SIZE] [--last SEC] [--rate N] [--output FILE]
 *   flight-recorder --verify FILE
 *
 * The main thread is the producer. In overwrite mode it never waits: each
 * new record overwrites the oldest ones. A second thread takes the signals
 * with sigwait(), so no work is done in a signal handler. To dump, it opens
 * a handle of its own on the ring, as an observer, and reads from the
 * oldest record up while the producer goes on writing; records can be
 * overwritten under the reader, and dump() shows how a reader of an
 * overwrite ring deals with that (MRING_ELAPPED).
 *
 * Dump format: text, one record a line, written to FILE.tmp and renamed to
 * FILE once complete:
 *
 *   # mring flight-recorder dump
 *   # signal_ns NS last_ns NS      CLOCK_REALTIME of the signal; --last
 *   SEQ TS_NS SUM TEXT             SUM: FNV-1a of TEXT, 8 hex digits
 *   ...
 *   # end records N lost L older O
 *
 * Every record has signal_ns - last_ns <= TS_NS <= signal_ns, and SEQ
 * grows; L records were overwritten before the dump could read them, and
 * O were in the ring but older than --last. --verify checks all of it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mring.h>

#define MAX_TEXT 120

/* A record in the ring. */
struct ev {
	uint64_t seq;
	int64_t ts_ns; /* CLOCK_REALTIME */
	uint32_t sum;  /* FNV-1a of text */
	uint32_t len;  /* bytes of text, no NUL */
	char text[];
};

struct opts {
	uint64_t size;
	double last, rate;
	const char *output, *dir, *verify;
};

static atomic_bool stop;

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
	x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

static uint32_t fnv1a(const char *p, size_t len)
{
	uint32_t h = 2166136261u;

	while (len--)
		h = (h ^ (uint8_t)*p++) * 16777619u;
	return h;
}

/* The text of record seq, written at t; returns its length. */
static uint32_t make_text(char *t, uint64_t seq)
{
	static const char *const state[4] = {"ok", "ok", "warm", "check"};
	uint64_t h = mix(seq);

	return (uint32_t)snprintf(t, MAX_TEXT,
	                          "sensor %u: %u.%02u C, load %u%%, %s",
	                          (unsigned)(h % 8), (unsigned)(h >> 8) % 40,
	                          (unsigned)(h >> 16) % 100,
	                          (unsigned)(h >> 24) % 101, state[h >> 62]);
}

/* ---- the dump: reading an overwrite ring -------------------------------- */

static void dump(const char *ring, const struct opts *o, unsigned nr)
{
	struct mring_config cfg = {.start = MRING_START_OLDEST}; /* observer */
	int64_t sig = now_ns(CLOCK_REALTIME),
		from = sig - (int64_t)(o->last * 1e9);
	static uint64_t buf[(sizeof(struct ev) + MAX_TEXT + 7) / 8];
	const struct ev *e = (const void *)buf;
	uint64_t n = 0, older = 0;
	struct mring_stats st;
	struct mring *r;
	char tmp[4200];
	FILE *f;
	int err;

	snprintf(tmp, sizeof(tmp), "%s.tmp", o->output);
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "dump: %s: %s\n", tmp, strerror(errno));
		return;
	}
	err = mring_open(ring, MRING_CONSUMER, &cfg, &r);
	if (err < 0) {
		fprintf(stderr, "dump: %s: %s\n", ring, mring_strerror(err));
		fclose(f);
		return;
	}
	fprintf(f,
	        "# mring flight-recorder dump\n# signal_ns %" PRId64
	        " last_ns %" PRId64 "\n",
	        sig, sig - from);
	for (;;) {
		const void *p;
		ssize_t len = mring_peek(r, &p, 0);

		if (len == -EAGAIN || len == 0) /* caught up with the writer */
			break;
		/* The producer overwrote records we had not read yet. They are
		 * counted in the stats; the next peek gives the oldest intact
		 * record. */
		if (len == MRING_ELAPPED)
			continue;
		if (len < 0 || (size_t)len > sizeof(buf)) {
			err = len < 0 ? (int)len : -EMSGSIZE;
			break;
		}
		/* Copy, then release: only a release that succeeds proves
		 * the record was not overwritten while we copied it.
		 * (mring_read() does these steps in one call.) */
		memcpy(buf, p, (size_t)len);
		err = mring_release(r, (size_t)len);
		if (err == MRING_ELAPPED)
			continue; /* the copy may be torn: drop it */
		if (err < 0)
			break;
		if (e->ts_ns > sig) /* written after the signal */
			break;
		if (e->ts_ns < from) {
			older++;
			continue;
		}
		fprintf(f, "%" PRIu64 " %" PRId64 " %08x %.*s\n", e->seq,
		        e->ts_ns, e->sum, (int)e->len, e->text);
		n++;
	}
	mring_stats(r, &st);
	mring_close(r);
	fprintf(f,
	        "# end records %" PRIu64 " lost %" PRIu64 " older %" PRIu64
	        "\n",
	        n, st.records_lost, older);
	if (fclose(f) != 0 || err < 0 || rename(tmp, o->output) < 0) {
		fprintf(stderr, "dump: %s\n",
		        err < 0 ? mring_strerror(err) : strerror(errno));
		unlink(tmp);
		return;
	}
	printf("dump %u: %" PRIu64 " records of the last %g s to %s (%" PRIu64
	       " older skipped, %" PRIu64 " overwritten before read)\n",
	       nr, n, o->last, o->output, older, st.records_lost);
	fflush(stdout);
}

/* The signal thread: SIGUSR1 dumps, SIGINT and SIGTERM stop. */
struct sigctx {
	const char *ring;
	const struct opts *o;
};

static void *signals(void *arg)
{
	const struct sigctx *c = arg;
	unsigned dumps = 0;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	while (sigwait(&set, &sig) == 0 && sig == SIGUSR1)
		dump(c->ring, c->o, ++dumps);
	atomic_store(&stop, true);
	return NULL;
}

/* ---- --verify: check a dump against its documented format --------------- */

static int verify(const char *file)
{
	int64_t sig = -1, last = -1, ts, first_ts = 0, last_ts = 0;
	uint64_t n = 0, seq, first = 0, prev = 0, gaps = 0, end_n, lost, older;
	bool end = false;
	unsigned sum, line_no = 0;
	char line[512];
	const char *bad = NULL;
	FILE *f = fopen(file, "r");

	if (!f) {
		fprintf(stderr, "verify: %s: %s\n", file, strerror(errno));
		return 1;
	}
	while (!bad && fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		int off = 0;

		line_no++;
		if (len == 0 || line[len - 1] != '\n')
			bad = "truncated line";
		else if (end)
			bad = "data after the end line";
		else if (sscanf(line,
		                "# signal_ns %" SCNd64 " last_ns %" SCNd64,
		                &sig, &last) == 2)
			;
		else if (sscanf(line,
		                "# end records %" SCNu64 " lost %" SCNu64
		                " older %" SCNu64,
		                &end_n, &lost, &older) == 3)
			end = true;
		else if (line[0] == '#')
			;
		else if (sig < 0)
			bad = "record before the header";
		else if (sscanf(line, "%" SCNu64 " %" SCNd64 " %x %n", &seq,
		                &ts, &sum, &off) != 3 ||
		         off == 0)
			bad = "not a record";
		else if (fnv1a(line + off, len - 1 - (size_t)off) != sum)
			bad = "checksum mismatch: record damaged";
		else if (n > 0 && seq <= prev)
			bad = "records out of order";
		else if (ts < sig - last || ts > sig)
			bad = "record outside the last --last seconds";
		else {
			if (n == 0) {
				first = seq;
				first_ts = ts;
			}
			gaps += n > 0 ? seq - prev - 1 : 0;
			last_ts = ts;
			prev = seq;
			n++;
		}
	}
	fclose(f);
	if (!bad && !end)
		bad = "no end line: incomplete dump";
	else if (!bad && end_n != n)
		bad = "record count differs from the end line";
	else if (!bad && gaps > lost)
		bad = "records missing that were not reported lost";
	else if (!bad && n == 0)
		bad = "no records";
	if (bad) {
		fprintf(stderr, "verify: %s:%u: %s\n", file, line_no, bad);
		return 1;
	}
	printf("verify: %s: OK, %" PRIu64 " records (%" PRIu64 "..%" PRIu64
	       ") from %.3f s to %.3f s before the signal, %" PRIu64
	       " missing, %" PRIu64 " lost, %" PRIu64 " older skipped\n",
	       file, n, first, prev, (sig - first_ts) / 1e9,
	       (sig - last_ts) / 1e9, gaps, lost, older);
	return 0;
}

/* ---- the recorder ------------------------------------------------------- */

/* "4M", "64K", "1G" or plain bytes. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);
	const char *units = "KMG", *u = *end ? strchr(units, *end) : NULL;

	if (end == s || (*end && (!u || end[1])))
		return -1;
	*out = u ? v << (10 * (u - units + 1)) : v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: flight-recorder [options]\n"
	        "       flight-recorder --verify FILE\n"
	        "Record timestamped records into an overwrite-mode ring; on\n"
	        "SIGUSR1 dump those of the last --last seconds to --output;\n"
	        "SIGINT or SIGTERM ends it.\n"
	        "  --size SIZE     ring bytes to keep, K/M/G suffix (16M)\n"
	        "  --last SEC      seconds of records to dump (10)\n"
	        "  --rate N        records per second, 0 = flat out (10000)\n"
	        "  --output FILE   dump file (flight-recorder.dump)\n"
	        "  --dir DIR       directory for the temporary ring ($TMPDIR, "
	        "else /tmp)\n"
	        "  --verify FILE   check a dump file: format, checksums, order, "
	        "times\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{"size", required_argument, NULL, 's'},
		{"last", required_argument, NULL, 'l'},
		{"rate", required_argument, NULL, 'r'},
		{"output", required_argument, NULL, 'o'},
		{"dir", required_argument, NULL, 'd'},
		{"verify", required_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct opts){.size = 16 << 20,
	                   .last = 10,
	                   .rate = 10000,
	                   .output = "flight-recorder.dump",
	                   .dir = getenv("TMPDIR")};
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_size(optarg, &o->size) < 0) {
				fprintf(stderr, "bad --size '%s'\n", optarg);
				return -1;
			}
			break;
		case 'l':
			o->last = atof(optarg);
			break;
		case 'r':
			o->rate = atof(optarg);
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'v':
			o->verify = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (!o->dir || !*o->dir)
		o->dir = "/tmp";
	return optind == argc && o->last > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct mring_config cfg = {0};
	struct opts o;
	struct sigctx sc;
	struct mring *r;
	pthread_t thr;
	sigset_t set;
	char dir[4096], ring[4200];
	long page = sysconf(_SC_PAGESIZE);
	uint64_t seq = 0;
	int64_t t0;
	int err;

	if (parse(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (o.verify)
		return verify(o.verify);

	/* Before any thread exists, the ring's own included: only the
	 * signal thread takes these, with sigwait(). */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	snprintf(dir, sizeof(dir), "%s/flight-recorder.XXXXXX", o.dir);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "flight-recorder: %s: %s\n", dir,
		        strerror(errno));
		return 1;
	}
	snprintf(ring, sizeof(ring), "%s/flight.ring", dir);
	cfg.capacity = (o.size + (uint64_t)page - 1) / (uint64_t)page *
	               (uint64_t)page; /* whole pages */
	cfg.max_record = sizeof(struct ev) + MAX_TEXT;
	cfg.flags = MRING_F_RECORDS | MRING_F_OVERWRITE;
	err = mring_create(ring, &cfg);
	if (err == 0)
		err = mring_open(ring, MRING_PRODUCER, NULL, &r);
	if (err < 0) {
		fprintf(stderr, "flight-recorder: %s: %s\n", ring,
		        mring_strerror(err));
		goto out;
	}
	sc = (struct sigctx){ring, &o};
	err = -pthread_create(&thr, NULL, signals, &sc);
	if (err < 0) {
		fprintf(stderr, "flight-recorder: thread: %s\n",
		        mring_strerror(err));
		mring_close(r);
		goto out;
	}
	printf("flight-recorder: recording into %" PRIu64 " bytes, pid %d; "
	       "kill -USR1 %d dumps the last %g s to %s\n",
	       cfg.capacity, (int)getpid(), (int)getpid(), o.last, o.output);
	fflush(stdout);

	t0 = now_ns(CLOCK_MONOTONIC);
	while (!atomic_load(&stop)) {
		struct ev *e;
		double ahead;

		/* Overwrite mode: never waits, the oldest records go. */
		err = mring_reserve(r, sizeof(*e) + MAX_TEXT, (void **)&e, -1);
		if (err < 0) {
			fprintf(stderr, "flight-recorder: %s\n",
			        mring_strerror(err));
			pthread_kill(thr, SIGTERM); /* stops the thread */
			break;
		}
		e->seq = seq++;
		e->ts_ns = now_ns(CLOCK_REALTIME);
		e->len = make_text(e->text, e->seq);
		e->sum = fnv1a(e->text, e->len);
		mring_commit(r, sizeof(*e) + e->len);
		/* Keep to --rate, sleeping a millisecond or more at a time. */
		ahead = o.rate > 0
		                ? (double)seq / o.rate -
		                          (now_ns(CLOCK_MONOTONIC) - t0) / 1e9
		                : 0;
		if (ahead > 0.001)
			usleep((useconds_t)(ahead * 1e6));
	}
	pthread_join(thr, NULL);
	mring_close(r);
	printf("flight-recorder: %" PRIu64 " records, stopped\n", seq);
out:
	unlink(ring);
	rmdir(dir);
	return err < 0 ? 1 : 0;
}
