/*
 * Shared helpers of the mring command-line tool: exit codes, messages,
 * size parsing and human formatting, and reading a ring's state.
 */
#ifndef MRING_TOOL_UTIL_H
#define MRING_TOOL_UTIL_H

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <mring.h>

/* Exit status of every subcommand (documented in mring(1)). */
enum {
	EXIT_OK = 0,    /* success */
	EXIT_FAIL = 1,  /* failure, or problems found (check) */
	EXIT_USAGE = 2, /* bad usage, or the file is not a usable ring */
};

#define MRING_TOOL_XSTR(x) #x
#define MRING_TOOL_STR(x) MRING_TOOL_XSTR(x)

/* Room for any size or rate formatted by fmt_bytes()/fmt_rate(). */
#define FMT_LEN 32

/* The program's name in messages: "mring" unless a tool that links
 * these helpers (mring-nats) sets its own. */
extern const char *tool_name;

/* tool_name + ": " + message + newline, on stderr. */
void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A usage error of subcommand `cmd`: prints the message and a pointer to
 * --help, returns EXIT_USAGE.
 */
int usage_err(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Roles for ring_err(): what the tool was trying to do with the file. */
enum ring_use {
	USE_INSPECT,  /* read the header only */
	USE_CREATE,   /* make a new file */
	USE_PRODUCER, /* open as producer */
	USE_CONSUMER, /* open as consumer */
};

/*
 * Report an error of the library about `path` with the cause and a hint
 * (who holds a lock, how to create or repair...). `name` is the consumer
 * name for USE_CONSUMER (NULL: observer). Returns the exit status to use:
 * EXIT_USAGE when the file itself is missing or unusable, else EXIT_FAIL.
 */
int ring_err(const char *path, int err, enum ring_use use, const char *name);

/*
 * Parse a size: an integer or decimal with an optional unit K, M, G, T or
 * P (powers of 1024, optionally followed by "iB" or "B"). `opt` names the
 * option in messages. Returns 0, or prints why and returns -1.
 */
int parse_size(const char *opt, const char *s, uint64_t *out);

/* Parse an unsigned integer in [min, max]; as parse_size. */
int parse_uint(const char *opt, const char *s, uint64_t min, uint64_t max,
               uint64_t *out);

/* Parse seconds (decimal allowed) > 0; as parse_size. */
int parse_seconds(const char *opt, const char *s, double *out);

/* "1.5 GiB", "4 KiB", "300 B" into buf (FMT_LEN bytes); returns buf. */
const char *fmt_bytes(uint64_t v, char *buf);

/* "123.4 MB/s" (decimal megabytes) into buf; returns buf. */
const char *fmt_rate(double bytes_per_s, char *buf);

/* Room for a time formatted by fmt_time_ns(). */
#define TIME_LEN 48

/*
 * A record's timestamp (nanoseconds since the epoch) as ISO 8601 in UTC
 * with nanoseconds, "2026-12-02T14:02:10.123456789Z", into buf (TIME_LEN
 * bytes); parse_time_ns() reads it back exactly. Returns buf.
 */
const char *fmt_time_ns(uint64_t ns, char *buf);

/*
 * Parse a time: ISO 8601 "YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][ZONE]"
 * with up to 9 digits of fraction and ZONE "Z", "+HH:MM", "-HHMM" or
 * "+HH" (no zone: local time), or "@N", nanoseconds since the epoch.
 * `opt` names the option in messages. Returns 0, or prints why and -1.
 */
int parse_time_ns(const char *opt, const char *s, uint64_t *out);

/* Monotonic time in seconds. */
double now_s(void);

/* This machine's page size. */
uint64_t page_size(void);

/* Write s as a JSON string literal (quoted and escaped). */
void json_str(FILE *f, const char *s);

/* A ring's header and all its consumer slots in use, from mring_inspect. */
struct ring_state {
	struct mring_info info;
	struct mring_consumer_info *cons; /* malloc'd, ncons entries */
	unsigned ncons;
	double when; /* now_s() when it was read */
};

/* Fill *st; returns 0 or a library error (st->cons is then NULL). */
int ring_state_read(const char *path, struct ring_state *st);
void ring_state_free(struct ring_state *st);

/* Consumer's lag behind the head in bytes. */
uint64_t cons_lag(const struct mring_info *in,
                  const struct mring_consumer_info *c);

/*
 * Whether consumer c holds the producer back now: a durable consumer of a
 * back-pressure ring with a live producer, so far behind that less than a
 * max record of space is left (head - position > capacity - max_record).
 * A reservation of max_record bytes waits then, which is what 'mring
 * write' makes; a producer of smaller records waits once the ring is full.
 */
int cons_blocking(const struct ring_state *st,
                  const struct mring_consumer_info *c);
/* How many consumers hold the producer back (cons_blocking). */
unsigned producer_blockers(const struct ring_state *st);

/* "bytes"/"records", "back-pressure"/"overwrite". */
const char *mode_kind(unsigned flags);
const char *mode_policy(unsigned flags);

/*
 * write(2) all of buf, retrying on EINTR; 0 or -errno. *done (may be
 * NULL) gets how many bytes were written, also on error.
 */
int write_full(int fd, const void *buf, size_t len, size_t *done);

/* Last SIGINT/SIGTERM/SIGHUP received since stop_on_signals(), or 0. */
extern volatile int stop_signal;

/*
 * Catch SIGINT, SIGTERM and SIGHUP without SA_RESTART (blocking reads
 * return EINTR) so that a command can close its ring handle cleanly, and
 * ignore SIGPIPE so that writes to a closed pipe return EPIPE.
 */
void stop_on_signals(void);

/* --progress: when to show it. */
enum progress_when { PROGRESS_NEVER, PROGRESS_AUTO, PROGRESS_ALWAYS };

/* Parse the argument of --progress[=WHEN] (NULL: auto); -1 if bad. */
int parse_progress(const char *arg);

/* Throughput shown on stderr while data flows. */
struct progress {
	int on;           /* show updates at all */
	int tty;          /* stderr is a terminal: rewrite one line */
	const char *verb; /* "written", "read" */
	double start, last, next;
	uint64_t bytes, records, last_bytes;
};

/*
 * Recovery inside mring_open() after a crash or a power cut, which reads
 * up to the whole ring (minutes for hundreds of GB): a line on stderr once
 * it has run a second; from its start with --progress=always, never with
 * --progress=never.
 */
struct open_progress {
	int when; /* enum progress_when, or -1: --progress not given */
	int tty;
	int shown; /* a line was printed */
	double start;
};

/* Hook op into cfg->progress; call right before mring_open(). */
void open_progress_init(struct open_progress *op, int when,
                        struct mring_config *cfg);
/* After mring_open() (r: the handle, NULL if it failed): the totals, if a
 * line was shown. */
void open_progress_done(struct open_progress *op, struct mring *r);

void progress_init(struct progress *p, int when, const char *verb);
/* Count data; prints an update at most every half second. */
void progress_add(struct progress *p, uint64_t bytes, uint64_t records);
/* Print the totals (when on). */
void progress_done(struct progress *p);

/*
 * --sync-every and --no-sync of write and read --consumer: when to
 * call mring_sync(). Set `on` and `what` (what becomes durable, for
 * messages) and parse --sync-every with parse_sync_every(); then
 * durable_start() once the ring is open, durable_add() for each byte
 * committed or released, durable_tick() at the top of the copy loop, and
 * durable_end() before mring_close().
 */
struct durable {
	int on;           /* sync at the end (and as below) */
	const char *what; /* "the data", "the consumer's position" */
	uint64_t every;   /* --sync-every SIZE: bytes, 0 = not by size */
	double every_s;   /* --sync-every DURATION: seconds, 0 = not */
	uint64_t pending; /* bytes since the last sync */
	uint64_t syncs;   /* syncs done */
	struct mring *r;
	const char *path;
};

/* Set when a --sync-every DURATION has passed (SIGALRM). */
extern volatile sig_atomic_t sync_alarm;

/* Parse --sync-every SIZE|DURATION into d; 0, or prints why and -1. */
int parse_sync_every(const char *s, struct durable *d);
void durable_start(struct durable *d, struct mring *r, const char *path);
/* Sync now (when on); 0 or EXIT_FAIL after a message. */
int durable_sync(struct durable *d);
/* Sync if --sync-every says it is time; 0 or EXIT_FAIL. */
int durable_tick(struct durable *d);
/* The final sync (when on), and the timer stopped; 0 or EXIT_FAIL. */
int durable_end(struct durable *d);

static inline void durable_add(struct durable *d, uint64_t bytes)
{
	d->pending += bytes;
}

#endif
