/*
 * mring write: stdin into the ring, as its producer. Byte mode reads stdin
 * straight into reservations (no copy); record mode splits stdin into
 * records on a delimiter or at a fixed size.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
	"Usage: mring write FILE [OPTIONS] < INPUT\n"
	"\n"
	"Copy stdin into the ring as its producer until end of input, make\n"
	"it durable (mring_sync), then close the stream (readers see the end\n"
	"once they caught up). Waits for space while a durable consumer is a\n"
	"whole ring behind, unless the ring is in overwrite mode. Running it\n"
	"again appends. A pipe on stdin is read in batches: after a short\n"
	"read, write waits 0.1 ms for more (see mring(1)). SIGINT or SIGTERM\n"
	"ends the input early: what was read is written (an unfinished last\n"
	"record too), unless the ring is full.\n"
	"\n"
	"Options:\n"
	"  -r, --records          split stdin into records (the ring must be "
	"a\n"
	"                         record ring); one per line by default\n"
	"  -d, --delim C          records end at character C (default \\n; "
	"\\0,\n"
	"                         \\t, \\n or one character); the delimiter "
	"is\n"
	"                         dropped and empty records are skipped\n"
	"  -k, --keep-delim       keep the delimiter in each record (exact "
	"round\n"
	"                         trip with 'mring read --raw')\n"
	"  -n, --size N           records of exactly N bytes (the last may be\n"
	"                         shorter)\n"
	"      --sync-every WHEN  also sync every SIZE bytes (64M) or every\n"
	"                         DURATION (1s, 200ms), even while stdin is "
	"idle\n"
	"      --no-sync          do not sync at all: a power cut may lose what\n"
	"                         was written (a crash of the process does "
	"not)\n"
	"      --progress[=WHEN]  rate and totals on stderr; WHEN is auto (a\n"
	"                         terminal only; the default), always or "
	"never\n"
	"      --any-owner        open the ring even if another user owns it\n"
	"                         (only if you trust that user)\n"
	"  -h, --help             show this help\n";

struct wopts {
	int records, keep, when;
	struct durable dur;
	int delim;
	uint64_t fixed; /* --size, 0 = split on delim */
};

/*
 * Reading a pipe as fast as it fills costs a wake-up per write of the
 * other side. `head -c` writes 8 KiB at a time; a reader that drains the
 * pipe at once goes to sleep after each read and is woken by the next
 * write: 246,000 context switches for 2 GB, each waking a CPU that had
 * gone idle (in a VM, a halted vCPU the host has to wake), and `head |
 * mring write` ran at 0.59x `head | cat` (cat, slower per byte, finds
 * several writes waiting). So stdin, when it is a pipe or a socket, is
 * read in batches: the pipe grows to PACE_PIPE (never shrinks), and after
 * a read shorter than PACE_SHORT the writer gets PACE_NS to fill it before
 * the next read. 10,500 context switches instead; a record that arrives
 * alone waits at most PACE_NS longer. Measured: README, "Performance".
 */
#define PACE_PIPE (1 << 20)
#define PACE_SHORT (64 * 1024)
#define PACE_NS 100000L

static int stdin_pace_init(void)
{
	struct stat st;

	if (fstat(STDIN_FILENO, &st) < 0)
		return 0;
	if (S_ISFIFO(st.st_mode)) {
		int cur = fcntl(STDIN_FILENO, F_GETPIPE_SZ);
		/* Best effort: a user over the pipe quota keeps its size. */
		if (cur > 0 && cur < PACE_PIPE)
			(void)fcntl(STDIN_FILENO, F_SETPIPE_SZ, PACE_PIPE);
		return 1;
	}
	return S_ISSOCK(st.st_mode);
}

static void stdin_pace(int on, size_t got)
{
	if (on && got > 0 && got < PACE_SHORT) {
		struct timespec ts = {0, PACE_NS};
		(void)nanosleep(&ts, NULL);
	}
}

/* Byte mode: read(2) into the reservation, commit what came. */
static int write_bytes(const char *path, struct mring *r, uint64_t max_record,
                       struct progress *pr, struct durable *dur)
{
	size_t chunk = max_record < (1u << 20) ? max_record : (1u << 20);
	int pace = stdin_pace_init();

	for (;;) {
		void *p;
		int rc = durable_tick(dur);
		if (rc)
			return rc;
		/* Wait for space in slices, to notice signals. */
		rc = mring_reserve(r, chunk, &p, 250);
		if (rc == -ETIMEDOUT) {
			if (stop_signal)
				return 128 + stop_signal;
			continue;
		}
		if (rc < 0)
			return ring_err(path, rc, USE_PRODUCER, NULL);
		/* A signal in the pause (stdin_pace) would not stop a read
		 * that waits for input that may never come. */
		if (stop_signal) {
			mring_commit(r, 0);
			return 128 + stop_signal;
		}
		ssize_t n = read(STDIN_FILENO, p, chunk);
		if (n < 0 && errno == EINTR && !stop_signal)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : 0;
			mring_commit(r, 0);
			if (stop_signal)
				return 128 + stop_signal;
			if (err) {
				msg("stdin: %s", strerror(err));
				return EXIT_FAIL;
			}
			return EXIT_OK;
		}
		rc = mring_commit(r, (size_t)n);
		if (rc < 0)
			return ring_err(path, rc, USE_PRODUCER, NULL);
		progress_add(pr, (uint64_t)n, 0);
		durable_add(dur, (uint64_t)n);
		stdin_pace(pace, (size_t)n);
	}
}

static int put_record(const char *path, struct mring *r, const char *p,
                      size_t len, uint64_t max_record, struct progress *pr,
                      struct durable *dur)
{
	if (len == 0)
		return 0;
	if (len > max_record) {
		msg("%s: a record of %zu bytes is longer than the ring's max "
		    "record (%llu bytes) — split the input, or create the ring "
		    "with a larger --max-record",
		    path, len, (unsigned long long)max_record);
		return EXIT_FAIL;
	}
	ssize_t rc;
	while ((rc = mring_write(r, p, len, 250)) == -ETIMEDOUT)
		if (stop_signal)
			return 128 + stop_signal;
	if (rc < 0)
		return ring_err(path, (int)rc, USE_PRODUCER, NULL);
	progress_add(pr, len, 1);
	durable_add(dur, len);
	return durable_tick(dur);
}

/* Record mode: buffer stdin, cut records, mring_write each. */
static int write_records(const char *path, struct mring *r, uint64_t max_record,
                         struct wopts *o, struct progress *pr)
{
	size_t cap = 2 * (max_record + 1), len = 0, scan = 0, lost = 0;
	int eof = 0, rc = EXIT_OK, pace = stdin_pace_init();

	if (cap < (1u << 20))
		cap = 1u << 20;
	char *buf = malloc(cap);
	if (!buf) {
		msg("out of memory");
		return EXIT_FAIL;
	}
	while (rc == EXIT_OK && !eof) {
		rc = durable_tick(&o->dur);
		if (rc || stop_signal)
			break;
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR && !stop_signal)
			continue;
		if (n < 0) {
			if (!stop_signal) {
				msg("stdin: %s", strerror(errno));
				rc = EXIT_FAIL;
			}
			break;
		}
		eof = n == 0;
		len += (size_t)n;
		size_t start = 0;
		for (;;) {
			size_t end, next;
			if (o->fixed) {
				if (len - start < o->fixed)
					break;
				end = next = start + o->fixed;
			} else {
				char *d = memchr(buf + scan, o->delim,
				                 len - scan);
				if (!d)
					break;
				end = (size_t)(d - buf);
				next = end + 1;
				if (o->keep)
					end = next;
			}
			rc = put_record(path, r, buf + start, end - start,
			                max_record, pr, &o->dur);
			if (rc)
				break;
			start = scan = next;
		}
		if (rc) {
			if (stop_signal && rc == 128 + stop_signal)
				lost = len - start;
			break;
		}
		/* What is left is the start of the next record. */
		memmove(buf, buf + start, len - start);
		len -= start;
		scan = len;
		if (eof || len > max_record) {
			rc = put_record(path, r, buf, len, max_record, pr,
			                &o->dur);
			len = scan = 0;
		}
		stdin_pace(pace, (size_t)n);
	}
	/*
	 * Stopped by a signal: what was read is written like the end of
	 * input, the unfinished last record as it is. If the ring has no room
	 * for it (a durable consumer a whole ring behind), say what is lost.
	 */
	if (rc == EXIT_OK && stop_signal && len > 0) {
		rc = put_record(path, r, buf, len, max_record, pr, &o->dur);
		if (rc == 128 + stop_signal)
			lost = len;
	}
	if (lost)
		msg("%s: stopped by a signal while the ring was full: the "
		    "last %zu bytes read from stdin are not in it",
		    path, lost);
	free(buf);
	if (rc == EXIT_OK && stop_signal)
		rc = 128 + stop_signal;
	return rc;
}

static int parse_delim(const char *s)
{
	if (!strcmp(s, "\\n"))
		return '\n';
	if (!strcmp(s, "\\t"))
		return '\t';
	if (!strcmp(s, "\\0") || !strcmp(s, "0") || !strcmp(s, "nul"))
		return '\0';
	if (strlen(s) == 1)
		return (unsigned char)s[0];
	return -1;
}

int cmd_write(int argc, char **argv)
{
	static const struct option opts[] = {
		{"records", no_argument, NULL, 'r'},
		{"delim", required_argument, NULL, 'd'},
		{"keep-delim", no_argument, NULL, 'k'},
		{"size", required_argument, NULL, 'n'},
		{"sync-every", required_argument, NULL, 'S'},
		{"no-sync", no_argument, NULL, 'N'},
		{"progress", optional_argument, NULL, 'P'},
		{"any-owner", no_argument, NULL, 'O'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct wopts o = {.delim = '\n', .when = -1};
	int no_sync = 0;
	struct mring_config cfg;
	int c, split = 0;

	mring_config_init(&cfg);

	while ((c = getopt_long(argc, argv, "rd:kn:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.records = 1;
			break;
		case 'd':
			o.delim = parse_delim(optarg);
			if (o.delim < 0)
				return usage_err("write",
				                 "--delim %s: expected one "
				                 "character, \\n, \\t or \\0",
				                 optarg);
			split = 1;
			break;
		case 'k':
			o.keep = 1;
			split = 1;
			break;
		case 'n':
			if (parse_size("--size", optarg, &o.fixed) < 0)
				return EXIT_USAGE;
			if (o.fixed == 0)
				return usage_err("write", "--size 0: records "
				                          "are never empty");
			break;
		case 'P':
			o.when = parse_progress(optarg);
			if (o.when < 0)
				return EXIT_USAGE;
			break;
		case 'O':
			cfg.flags |= MRING_F_ANY_OWNER;
			break;
		case 'S':
			if (parse_sync_every(optarg, &o.dur) < 0)
				return EXIT_USAGE;
			break;
		case 'N':
			no_sync = 1;
			break;
		case 'h':
			return print_help(usage);
		default:
			return usage_err("write", "bad option");
		}
	}
	if (optind >= argc)
		return usage_err("write", "missing FILE");
	if (optind + 1 < argc)
		return usage_err("write", "unexpected argument '%s'",
		                 argv[optind + 1]);
	if ((split || o.fixed) && !o.records)
		return usage_err("write", "--delim, --keep-delim and --size "
		                          "need --records");
	if (split && o.fixed)
		return usage_err("write", "--size cuts fixed-size records; it "
		                          "does not go with --delim");
	if (no_sync && (o.dur.every || o.dur.every_s))
		return usage_err("write", "--no-sync and --sync-every do not "
		                          "go together");
	o.dur.on = !no_sync;
	o.dur.what = "the data";

	/* Without --progress, only a long recovery is shown. */
	int open_when = o.when;
	if (o.when < 0)
		o.when = PROGRESS_NEVER;

	const char *path = argv[optind];
	struct ring_state st;
	int rc = ring_state_read(path, &st);
	if (rc < 0)
		return ring_err(path, rc, USE_PRODUCER, NULL);
	uint64_t max_record = st.info.max_record;
	int ring_records = !!(st.info.flags & MRING_F_RECORDS);
	ring_state_free(&st);
	if (o.records != ring_records) {
		msg("%s: this is a %s ring — %s", path,
		    ring_records ? "record" : "byte",
		    ring_records ? "add --records (one record per line)"
		                 : "drop --records, or create a ring with "
		                   "'mring create --records'");
		return EXIT_USAGE;
	}
	if (o.fixed > max_record) {
		msg("--size %llu: larger than the ring's max record (%llu "
		    "bytes)",
		    (unsigned long long)o.fixed,
		    (unsigned long long)max_record);
		return EXIT_USAGE;
	}

	struct mring *r;
	struct open_progress op;
	open_progress_init(&op, open_when, &cfg);
	rc = mring_open(path, MRING_PRODUCER, &cfg, &r);
	open_progress_done(&op, rc < 0 ? NULL : r);
	if (rc < 0)
		return ring_err(path, rc, USE_PRODUCER, NULL);
	stop_on_signals();
	struct progress pr;
	progress_init(&pr, o.when, "written");
	if (pr.on) {
		/* What the producer's maintenance thread does: the reclaim
		 * policy is this handle's choice, not stored in the file. */
		static const char *const pol[] = {"auto", "none", "cache",
		                                  "zero", "punch"};
		static const char *const how[] = {"off", "io_uring",
		                                  "system calls"};
		struct mring_stats ms;
		mring_stats(r, &ms);
		if (ms.maint >= 1 && ms.maint <= 2 && ms.reclaim >= 0 &&
		    ms.reclaim <= 4)
			msg("%s: maintenance thread on %s, reclaim policy %s",
			    path, how[ms.maint], pol[ms.reclaim]);
		else
			msg("%s: no maintenance thread", path);
	}
	durable_start(&o.dur, r, path);
	if (o.records)
		rc = write_records(path, r, max_record, &o, &pr);
	else
		rc = write_bytes(path, r, max_record, &pr, &o.dur);
	/* At the end of input, and after a stop signal too: what was
	 * committed is kept (mring_close does not sync). Not after an
	 * error, which the sync would only repeat. */
	if (rc == EXIT_OK || rc > 128) {
		int src = durable_end(&o.dur);
		if (rc == EXIT_OK)
			rc = src;
	}
	mring_close(r); /* marks the end of the stream */
	progress_done(&pr);
	return rc;
}
