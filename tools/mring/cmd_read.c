/*
 * mring read: the ring to stdout, as a consumer. Byte mode writes straight
 * from the mapping and releases only what stdout took; record mode prints
 * one record per line (or raw) through a small output buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
	"Usage: mring read FILE [OPTIONS] > OUTPUT\n"
	"\n"
	"Copy the ring to stdout as a consumer. Without --follow, stop when\n"
	"everything written so far was read; with it, wait for more until the\n"
	"producer closes the stream. A durable consumer (--consumer NAME)\n"
	"resumes where it left off and holds the producer back in a\n"
	"back-pressure ring; its position is made durable (mring_sync) at the\n"
	"end. Without a name, read is an observer.\n"
	"\n"
	"Options:\n"
	"  -c, --consumer NAME    read as the durable consumer NAME (1-31 "
	"bytes)\n"
	"  -f, --follow           wait for new data until the stream ends\n"
	"      --from WHERE       where a new consumer starts: oldest (the\n"
	"                         default) or newest\n"
	"      --raw              record rings: records as they are, with no\n"
	"                         newline after each\n"
	"      --sync-every WHEN  with --consumer: also sync the position "
	"every\n"
	"                         SIZE bytes read (64M) or every DURATION (1s)\n"
	"      --no-sync          with --consumer: do not sync; after a power\n"
	"                         cut it may resume earlier and read again\n"
	"      --progress[=WHEN]  rate and totals on stderr; WHEN is auto (a\n"
	"                         terminal only; the default), always or "
	"never\n"
	"      --any-owner        open the ring even if another user owns it\n"
	"                         (only if you trust that user)\n"
	"  -h, --help             show this help\n"
	"\n"
	"A closed stdout (EPIPE) ends read quietly with status 0.\n";

struct reader {
	const char *path;
	struct mring *r;
	int follow, raw, records, overwrite;
	int epipe;  /* stdout was closed */
	int failed; /* stdout failed otherwise */
	struct progress pr;
	struct durable dur;
	char out[1 << 16]; /* record mode output buffer */
	size_t outlen;
};

/*
 * Write to stdout; -1 on error (EPIPE sets rd->epipe, quietly). *done
 * (may be NULL) gets how much stdout took.
 */
static int out_write(struct reader *rd, const void *p, size_t len, size_t *done)
{
	int rc = write_full(STDOUT_FILENO, p, len, done);

	if (rc == -EPIPE) {
		rd->epipe = 1;
		return -1;
	}
	if (rc < 0) {
		msg("stdout: %s", strerror(-rc));
		rd->failed = 1;
		return -1;
	}
	return 0;
}

static int out_flush(struct reader *rd)
{
	size_t n = rd->outlen;

	rd->outlen = 0;
	return n ? out_write(rd, rd->out, n, NULL) : 0;
}

/* Record mode: one record (plus newline) into the output buffer. */
static int out_record(struct reader *rd, const void *p, size_t len)
{
	size_t need = len + !rd->raw;

	if (rd->outlen + need > sizeof(rd->out) && out_flush(rd) < 0)
		return -1;
	if (need > sizeof(rd->out)) {
		if (out_write(rd, p, len, NULL) < 0)
			return -1;
	} else {
		memcpy(rd->out + rd->outlen, p, len);
		rd->outlen += len;
	}
	if (!rd->raw)
		rd->out[rd->outlen++] = '\n';
	return 0;
}

static void report_loss(struct reader *rd, uint64_t *bytes, uint64_t *recs)
{
	struct mring_stats s;
	char a[FMT_LEN];

	mring_stats(rd->r, &s);
	if (s.bytes_lost == *bytes)
		return;
	if (rd->records)
		msg("%s: lapped by the producer: %s (%llu records) lost",
		    rd->path, fmt_bytes(s.bytes_lost - *bytes, a),
		    (unsigned long long)(s.records_lost - *recs));
	else
		msg("%s: lapped by the producer: %s lost", rd->path,
		    fmt_bytes(s.bytes_lost - *bytes, a));
	*bytes = s.bytes_lost;
	*recs = s.records_lost;
}

static int read_loop(struct reader *rd)
{
	uint64_t lost_b = 0, lost_r = 0;

	while (!stop_signal) {
		const void *p;
		if (rd->dur.pending && durable_tick(&rd->dur)) {
			out_flush(rd);
			return EXIT_FAIL;
		}
		ssize_t n = mring_peek(rd->r, &p, 0);
		if (n == -EAGAIN) {
			/* Nothing now: hand on what we have, then wait. */
			if (out_flush(rd) < 0)
				break;
			if (!rd->follow)
				break;
			n = mring_peek(rd->r, &p, 250);
			if (n == -ETIMEDOUT)
				continue;
		}
		if (n == 0)
			break; /* the producer closed and all was read */
		if (n == MRING_ELAPPED) {
			report_loss(rd, &lost_b, &lost_r);
			continue;
		}
		if (n == MRING_ECORRUPT) {
			struct mring_stats s;
			out_flush(rd);
			mring_stats(rd->r, &s);
			msg("%s: corrupt record at position %llu — see 'mring "
			    "check %s'",
			    rd->path, (unsigned long long)s.position, rd->path);
			return EXIT_FAIL;
		}
		if (n < 0) {
			out_flush(rd);
			return ring_err(rd->path, (int)n, USE_CONSUMER, NULL);
		}
		size_t took = (size_t)n;
		int werr = 0;
		if (rd->records)
			werr = out_record(rd, p, took);
		else
			werr = out_write(rd, p, took, &took);
		/* Byte mode: release just what stdout took, even on error,
		 * so that a durable consumer resumes at the first byte lost. */
		if (werr < 0 && (rd->records || took == 0))
			break;
		int rc = mring_release(rd->r, took);
		if (werr < 0)
			break;
		if (rc == MRING_ELAPPED) {
			/* Overwrite mode: it changed while we copied it. */
			msg("%s: the last %zd bytes written out were overwritten "
			    "while being read; discard them",
			    rd->path, n);
			report_loss(rd, &lost_b, &lost_r);
			continue;
		}
		if (rc < 0) {
			out_flush(rd);
			return ring_err(rd->path, rc, USE_CONSUMER, NULL);
		}
		progress_add(&rd->pr, took, rd->records);
		durable_add(&rd->dur, took);
	}
	out_flush(rd);
	if (rd->failed)
		return EXIT_FAIL;
	return stop_signal ? 128 + stop_signal : EXIT_OK;
}

int cmd_read(int argc, char **argv)
{
	static const struct option opts[] = {
		{"consumer", required_argument, NULL, 'c'},
		{"follow", no_argument, NULL, 'f'},
		{"from", required_argument, NULL, 'F'},
		{"raw", no_argument, NULL, 'R'},
		{"sync-every", required_argument, NULL, 'S'},
		{"no-sync", no_argument, NULL, 'N'},
		{"progress", optional_argument, NULL, 'P'},
		{"any-owner", no_argument, NULL, 'O'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct reader rd; /* large buffer: not on the stack */
	struct mring_config cfg;
	int when = PROGRESS_NEVER, c, no_sync = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.start = MRING_START_OLDEST;
	while ((c = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!optarg[0] || strlen(optarg) > MRING_NAME_MAX)
				return usage_err("read",
				                 "--consumer: names have 1 to "
				                 "%d bytes",
				                 MRING_NAME_MAX);
			cfg.consumer_name = optarg;
			break;
		case 'f':
			rd.follow = 1;
			break;
		case 'F':
			if (!strcmp(optarg, "oldest"))
				cfg.start = MRING_START_OLDEST;
			else if (!strcmp(optarg, "newest"))
				cfg.start = MRING_START_NEWEST;
			else
				return usage_err("read",
				                 "--from %s: expected 'oldest' "
				                 "or 'newest'",
				                 optarg);
			break;
		case 'R':
			rd.raw = 1;
			break;
		case 'S':
			if (parse_sync_every(optarg, &rd.dur) < 0)
				return EXIT_USAGE;
			break;
		case 'N':
			no_sync = 1;
			break;
		case 'O':
			cfg.flags |= MRING_F_ANY_OWNER;
			break;
		case 'P':
			when = parse_progress(optarg);
			if (when < 0)
				return EXIT_USAGE;
			break;
		case 'h':
			return print_help(usage);
		default:
			return usage_err("read", "bad option");
		}
	}
	if (optind >= argc)
		return usage_err("read", "missing FILE");
	if (optind + 1 < argc)
		return usage_err("read", "unexpected argument '%s'",
		                 argv[optind + 1]);
	rd.path = argv[optind];
	int sync_opt = no_sync || rd.dur.every || rd.dur.every_s;
	if (sync_opt && !cfg.consumer_name)
		return usage_err("read", "--sync-every and --no-sync go with "
		                         "--consumer NAME (an observer has no "
		                         "stored position)");
	if (no_sync && (rd.dur.every || rd.dur.every_s))
		return usage_err("read", "--no-sync and --sync-every do not go "
		                         "together");
	rd.dur.on = cfg.consumer_name && !no_sync;
	rd.dur.what = "the consumer's position";

	struct ring_state st;
	int rc = ring_state_read(rd.path, &st);
	if (rc < 0)
		return ring_err(rd.path, rc, USE_CONSUMER, cfg.consumer_name);
	rd.records = !!(st.info.flags & MRING_F_RECORDS);
	rd.overwrite = !!(st.info.flags & MRING_F_OVERWRITE);
	ring_state_free(&st);

	rc = mring_open(rd.path, MRING_CONSUMER, &cfg, &rd.r);
	if (rc < 0)
		return ring_err(rd.path, rc, USE_CONSUMER, cfg.consumer_name);
	stop_on_signals();
	progress_init(&rd.pr, when, "read");
	durable_start(&rd.dur, rd.r, rd.path);
	rc = read_loop(&rd);
	/* The position where it stopped, durable: at the end, after a stop
	 * signal or a closed stdout; not after an error. */
	if (rc == EXIT_OK || rc > 128) {
		int src = durable_end(&rd.dur);
		if (rc == EXIT_OK)
			rc = src;
	}
	mring_close(rd.r); /* a durable consumer keeps its position */
	progress_done(&rd.pr);
	return rc;
}
