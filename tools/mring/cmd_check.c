/*
 * mring check: validate a ring's control block and, in record mode, walk
 * every record from tail to head as an observer, so that the library's
 * own checks (length, sequence number, CRC) run on each one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"Usage: mring check FILE\n"
	"\n"
	"Validate the ring's control block (magic, version, checksum, sizes,\n"
	"positions, consumer slots) and, for a record ring, read every record\n"
	"from the oldest to the newest and verify its header (and CRC). The\n"
	"record walk attaches briefly as an observer, which needs read and\n"
	"write permission and a free consumer slot; it never holds back or\n"
	"disturbs the producer or other consumers.\n"
	"\n"
	"Exit status: 0 no problems, 1 problems found, 2 the file cannot be\n"
	"opened or is not a valid ring.\n"
	"\n"
	"Options:\n"
	"  -q, --quiet       print problems only\n"
	"      --any-owner   walk the records even if another user owns the\n"
	"                    ring (only if you trust that user)\n"
	"  -h, --help        show this help\n";

struct checker {
	const char *path;
	int quiet;
	int problems;
	unsigned flags; /* MRING_F_ANY_OWNER */
};

static void problem(struct checker *ck, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note(struct checker *ck, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct checker *ck, const char *fmt, ...)
{
	va_list ap;

	printf("%s: problem: ", ck->path);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	ck->problems++;
}

static void note(struct checker *ck, const char *fmt, ...)
{
	va_list ap;

	if (ck->quiet)
		return;
	printf("%s: ", ck->path);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* What the library leaves to us: relations between the fields. */
static void check_ctl(struct checker *ck, const struct ring_state *st)
{
	const struct mring_info *in = &st->info;
	uint64_t page = page_size();
	char a[FMT_LEN];

	note(ck, "control block valid: format %u, %s, %s%s, %s of data",
	     in->format_version, mode_kind(in->flags), mode_policy(in->flags),
	     in->flags & MRING_F_CRC ? ", crc" : "",
	     fmt_bytes(in->capacity, a));
	if (in->window == 0 || in->window % page)
		problem(ck,
		        "window %u is not a multiple of the page size (%llu)",
		        in->window, (unsigned long long)page);
	if (in->consumers > in->max_consumers)
		problem(ck, "%u consumers in %u slots", in->consumers,
		        in->max_consumers);
	for (unsigned i = 0; i < st->ncons; i++) {
		const struct mring_consumer_info *c = &st->cons[i];
		const char *name = c->durable ? c->name : "(observer)";
		if (c->position >= in->tail)
			continue;
		/* Overwrite mode and observers may be lapped; durable
		 * consumers of a back-pressure ring never should be. */
		if (c->durable && !(in->flags & MRING_F_OVERWRITE))
			problem(ck,
			        "consumer '%s' at %llu is behind the oldest "
			        "intact data (%llu): %s lost",
			        name, (unsigned long long)c->position,
			        (unsigned long long)in->tail,
			        fmt_bytes(in->tail - c->position, a));
		else
			note(ck,
			     "consumer %s was lapped: %s overwritten before "
			     "it read them",
			     name, fmt_bytes(in->tail - c->position, a));
	}
	if (!in->producer_alive && !in->eof && in->producer_pid)
		note(ck,
		     "the last producer (pid %d) did not close the ring; "
		     "the next producer will recover it",
		     (int)in->producer_pid);
}

/* Record mode: verify every record between tail and head. */
static int walk_records(struct checker *ck, const struct ring_state *st)
{
	struct mring_config cfg;
	struct mring *r;
	struct mring_stats s;
	uint64_t recs = 0, bytes = 0, lapped = 0;
	uint64_t head = st->info.head;
	char a[FMT_LEN];

	memset(&cfg, 0, sizeof(cfg));
	cfg.start = MRING_START_OLDEST; /* observer: name NULL */
	cfg.flags = ck->flags;
	int rc = mring_open(ck->path, MRING_CONSUMER, &cfg, &r);
	if (rc < 0) {
		msg("%s: cannot walk the records: %s", ck->path,
		    mring_strerror(rc));
		return -1;
	}
	mring_stats(r, &s);
	uint64_t start = s.position;
	for (;;) {
		const void *p;
		mring_stats(r, &s);
		/* Stop at the head seen before: a live producer moves on. */
		if (s.position >= head)
			break;
		ssize_t n = mring_peek(r, &p, 0);
		if (n == 0 || n == -EAGAIN)
			break;
		if (n == MRING_ELAPPED) {
			lapped++;
			continue;
		}
		if (n == MRING_ECORRUPT) {
			problem(ck,
			        "record at position %llu (after %llu good "
			        "records) is corrupt: bad length, sequence "
			        "number or check value",
			        (unsigned long long)s.position,
			        (unsigned long long)recs);
			break;
		}
		if (n < 0) {
			problem(ck, "reading the record at %llu: %s",
			        (unsigned long long)s.position,
			        mring_strerror((int)n));
			break;
		}
		rc = mring_release(r, (size_t)n);
		if (rc == MRING_ELAPPED) {
			lapped++;
			continue;
		}
		if (rc < 0) {
			problem(ck, "releasing the record at %llu: %s",
			        (unsigned long long)s.position,
			        mring_strerror(rc));
			break;
		}
		recs++;
		bytes += (uint64_t)n;
	}
	mring_stats(r, &s);
	mring_close(r);
	if (lapped && !st->info.producer_alive)
		problem(ck, "lapped %llu times with no producer running",
		        (unsigned long long)lapped);
	else if (lapped)
		note(ck,
		     "the live producer overwrote %s (%llu records) during "
		     "the check",
		     fmt_bytes(s.bytes_lost, a),
		     (unsigned long long)s.records_lost);
	if (ck->problems == 0 && s.position < head)
		problem(ck, "record walk ended at %llu, before the head %llu",
		        (unsigned long long)s.position,
		        (unsigned long long)head);
	note(ck, "%llu records (%s of payload) verified from %llu to %llu",
	     (unsigned long long)recs, fmt_bytes(bytes, a),
	     (unsigned long long)start, (unsigned long long)s.position);
	return 0;
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quiet", no_argument, NULL, 'q'},
		{"any-owner", no_argument, NULL, 'O'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct checker ck = {0};
	int c;

	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			ck.quiet = 1;
			break;
		case 'O':
			ck.flags |= MRING_F_ANY_OWNER;
			break;
		case 'h':
			return print_help(usage);
		default:
			return usage_err("check", "bad option");
		}
	}
	if (optind >= argc)
		return usage_err("check", "missing FILE");
	if (optind + 1 < argc)
		return usage_err("check", "unexpected argument '%s'",
		                 argv[optind + 1]);
	ck.path = argv[optind];

	struct ring_state st;
	int rc = ring_state_read(ck.path, &st);
	if (rc < 0) {
		ring_err(ck.path, rc, USE_INSPECT, NULL);
		return EXIT_USAGE; /* unusable, whatever the cause */
	}
	check_ctl(&ck, &st);
	if (st.info.flags & MRING_F_RECORDS) {
		if (walk_records(&ck, &st) < 0) {
			ring_state_free(&st);
			return EXIT_USAGE;
		}
	} else {
		note(&ck, "byte ring: no record framing to verify");
	}
	ring_state_free(&st);
	if (ck.problems) {
		printf("%s: %d problem%s found\n", ck.path, ck.problems,
		       ck.problems == 1 ? "" : "s");
		return EXIT_FAIL;
	}
	note(&ck, "ok");
	return EXIT_OK;
}
