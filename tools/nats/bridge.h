/*
 * mring-nats: a bridge between mring record rings and NATS JetStream.
 * Shared parts of both directions: options, the connection, counters
 * (--json, --prom, --progress) and signals. See README.md beside this
 * file for the design and the crash arguments.
 */
#ifndef MRING_NATS_BRIDGE_H
#define MRING_NATS_BRIDGE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include <nats/nats.h>

#include "../mring/util.h"

/* Options of both subcommands (each uses its own part). */
struct bopts {
	const char *ring;
	const char *servers; /* comma-separated URLs */
	const char *stream, *subject, *creds;
	const char *consumer; /* publish: durable consumer in the ring */
	const char *durable;  /* subscribe: JetStream durable consumer */
	const char *ring_id;  /* publish: identity in Nats-Msg-Id */
	const char *prom;
	uint64_t window, batch, count;
	double idle_exit;    /* seconds, 0 = never */
	double connect_wait; /* seconds, 0 = forever */
	double ack_wait;     /* seconds */
	int progress, json, any_owner;
	int create_stream, replicas;
	double dup_window; /* seconds, 0 = server default */
	uint64_t max_bytes;
	int memory; /* --memory-storage */
	/* subscribe */
	int sync; /* SYNC_BATCH or SYNC_NONE */
	int create_ring, timestamps, overwrite;
	uint64_t capacity, max_record;
};

enum { SYNC_NONE = 0, SYNC_BATCH = 1 };

/*
 * Options both commands take: getopt codes from 512 up (each command's
 * own start at 256), their getopt_long entries (BRIDGE_COMMON_LONGOPTS,
 * put before the terminating entry), and bridge_common_opt(), which
 * handles one: 1 when it was one of them, 0 when not, -1 after a usage
 * message.
 */
enum {
	BO_STREAM = 512,
	BO_SUBJECT,
	BO_CREDS,
	BO_CWAIT,
	BO_COUNT,
	BO_IDLE,
	BO_PROGRESS,
	BO_JSON,
	BO_PROM,
	BO_ANY,
};
/* clang-format off */
#define BRIDGE_COMMON_LONGOPTS                                  \
	{"server", required_argument, NULL, 's'},               \
	{"stream", required_argument, NULL, BO_STREAM},         \
	{"subject", required_argument, NULL, BO_SUBJECT},       \
	{"creds", required_argument, NULL, BO_CREDS},           \
	{"connect-wait", required_argument, NULL, BO_CWAIT},    \
	{"count", required_argument, NULL, BO_COUNT},           \
	{"idle-exit", required_argument, NULL, BO_IDLE},        \
	{"progress", optional_argument, NULL, BO_PROGRESS},     \
	{"json", no_argument, NULL, BO_JSON},                   \
	{"prom", required_argument, NULL, BO_PROM},             \
	{"any-owner", no_argument, NULL, BO_ANY},               \
	{"help", no_argument, NULL, 'h'}
/* clang-format on */
int bridge_common_opt(int c, const char *arg, struct bopts *o);

/* Returned by a wait that a stop signal ended (connecting, looking up
 * the stream...): the command then exits 0, as after a clean stop. */
#define RC_STOPPED 255

/* One counter: its name in --json and --prom, its help, its value. */
struct counter {
	const char *name, *help;
	int gauge;
	uint64_t v;
};

/* Set by SIGINT/SIGTERM/SIGHUP. */
extern atomic_int bridge_stop;
/* Counts the connection's reconnections (libnats's thread adds). */
extern atomic_uint bridge_reconnects;

/* Install the stop handlers; `wake` is called from the handler (an
 * async-signal-safe function, e.g. one that calls mring_interrupt). */
void bridge_signals(void (*wake)(void));

/*
 * Connect to the servers of o->servers, retrying every second while none
 * can be reached (with a message every 5 s) until o->connect_wait
 * seconds passed (0: forever) or a stop signal. Once connected, the
 * connection reconnects forever by itself. Returns 0 and *nc, *js, or
 * EXIT_FAIL after a message.
 */
int bridge_connect(const struct bopts *o, const char *what, natsConnection **nc,
                   jsCtx **js);
/* Close the connection, then free the subscription (may be NULL), the
 * context and the connection. */
void bridge_disconnect(natsConnection *nc, jsCtx *js, natsSubscription *sub);

/* "nats: <text of s>: <last error detail>" into buf (256 bytes). */
const char *nats_err(natsStatus s, char *buf, size_t len);

/*
 * Look up the stream; create it when o->create_stream. Retries while
 * JetStream is unavailable (a cluster electing a leader) until the stop
 * flag. Returns 0, or EXIT_FAIL after a message (stream missing without
 * --create-stream, JetStream not enabled, ...).
 */
int bridge_stream(const struct bopts *o, jsCtx *js);

/* Counters: write --prom every second, progress every half second. */
struct report {
	const char *verb; /* "published", "written" */
	struct counter *c;
	int n;
	const char *prom;
	int progress_on, tty;
	double start, next_prom, next_progress;
	uint64_t last_bytes;
	double last_t;
	int bytes_idx, recs_idx; /* which counters are bytes and records */
};

void report_init(struct report *rp, const struct bopts *o, const char *verb,
                 struct counter *c, int n, int recs_idx, int bytes_idx);
/* Call often: prints progress / rewrites --prom when due. */
void report_tick(struct report *rp);
/* Final --prom, progress totals, and --json on stdout when asked. */
void report_done(struct report *rp, int json);

/* Sleep ms milliseconds unless a stop signal comes. */
void nap_ms(int ms);

/* --help: the text on stdout; EXIT_OK. */
int print_help(const char *usage);

int cmd_publish(int argc, char **argv);
int cmd_subscribe(int argc, char **argv);

#endif
