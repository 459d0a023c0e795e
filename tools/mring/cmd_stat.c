/*
 * mring stat: rates and lag of one or more rings from successive
 * mring_inspect() snapshots, and who holds a producer back, as text, JSON
 * or in the Prometheus text exposition format.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
	"Usage: mring stat FILE... [--watch SEC] [--json | --prom [--output "
	"PATH]]\n"
	"\n"
	"Measure rings over an interval: bytes produced per second, and for\n"
	"each consumer its rate, lag and share of the capacity; whether the\n"
	"producer is held back, and by which consumer. Reads the control\n"
	"blocks only; never attaches.\n"
	"\n"
	"Options:\n"
	"  -w, --watch SEC     report every SEC seconds until interrupted\n"
	"  -i, --interval SEC  measure over SEC seconds (default 1; --watch "
	"sets it)\n"
	"  -n, --count N       stop after N reports\n"
	"  -j, --json          one JSON object per report (a line each)\n"
	"      --prom          Prometheus text format instead of a table\n"
	"  -o, --output PATH   with --prom: replace PATH atomically with each\n"
	"                      report (for node_exporter's textfile "
	"collector)\n"
	"  -h, --help          show this help\n";

static double rate(uint64_t a, uint64_t b, double dt)
{
	return b > a && dt > 0 ? (double)(b - a) / dt : 0.0;
}

/* Who holds the producer back, for the text report. */
static void print_blocked(FILE *f, const struct ring_state *st)
{
	const struct mring_info *in = &st->info;
	char fr[FMT_LEN], mr[FMT_LEN];
	uint64_t slowest = 0;
	int n = 0;

	for (unsigned i = 0; i < st->ncons; i++) {
		const struct mring_consumer_info *c = &st->cons[i];
		if (!cons_blocking(st, c))
			continue;
		fprintf(f, "%s'%s'", n++ ? ", " : ", blocked by consumer ",
		        c->name);
		if (cons_lag(in, c) > slowest)
			slowest = cons_lag(in, c);
	}
	if (n)
		fprintf(f, " (%s free, less than a max record of %s)",
		        fmt_bytes(in->capacity - slowest, fr),
		        fmt_bytes(in->max_record, mr));
}

static void print_text(FILE *f, const char *path, const struct ring_state *a,
                       const struct ring_state *b, int stamp)
{
	const struct mring_info *in = &b->info;
	double dt = b->when - a->when;
	char r[FMT_LEN], h[FMT_LEN], u[FMT_LEN], l[FMT_LEN];
	uint64_t used = in->head - in->tail;

	if (stamp) {
		char ts[16];
		time_t t = time(NULL);
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
		fprintf(f, "%s ", ts);
	}
	fprintf(f, "%s: produced %s, head %s, used %s (%.1f%%), producer %s",
	        path, fmt_rate(rate(a->info.head, in->head, dt), r),
	        fmt_bytes(in->head, h), fmt_bytes(used, u),
	        in->capacity ? 100.0 * (double)used / (double)in->capacity : 0,
	        in->producer_alive ? "alive"
	        : in->eof          ? "closed"
	                           : "not running");
	print_blocked(f, b);
	fputc('\n', f);
	if (b->ncons == 0)
		return;
	fprintf(f, "  %-20s %12s %12s %7s %s\n", "CONSUMER", "RATE", "LAG",
	        "LAG%", "STATE");
	for (unsigned i = 0; i < b->ncons; i++) {
		const struct mring_consumer_info *c = &b->cons[i];
		const struct mring_consumer_info *p = find_prev(a, c);
		uint64_t lag = cons_lag(in, c);
		fprintf(f, "  %-20s %12s %12s %6.1f%% %s%s\n",
		        c->durable ? c->name : "(observer)",
		        p ? fmt_rate(rate(p->position, c->position, dt), r)
		          : "-",
		        fmt_bytes(lag, l),
		        in->capacity
		                ? 100.0 * (double)lag / (double)in->capacity
		                : 0,
		        c->alive ? "alive" : "dead",
		        cons_blocking(b, c) ? ", holds the producer back" : "");
	}
}

/* A label value with \, " and newline escaped, as the format asks. */
static void prom_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void prom_head(FILE *f, const char *name, const char *type,
                      const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The label a consumer is known by: its name, or observer-PID. */
static void prom_cons(FILE *f, const char *path, const char *name,
                      const struct mring_consumer_info *c, double v)
{
	fprintf(f, "%s{ring=\"", name);
	prom_label(f, path);
	fputs("\",consumer=\"", f);
	if (c->durable)
		prom_label(f, c->name);
	else
		fprintf(f, "observer-%d", (int)c->pid);
	fprintf(f, "\"} %.17g\n", v);
}

/* The rings of one report: each one's earlier and current snapshot. */
struct report {
	unsigned n;
	char **paths;
	struct ring_state *a, *b;
};

/* A ring-level family: value of ring i, or NAN for no sample. */
static double ring_value(const struct report *rp, unsigned i, int k)
{
	const struct mring_info *in = &rp->b[i].info;
	double dt = rp->b[i].when - rp->a[i].when;

	switch (k) {
	case 0:
		return (double)in->capacity;
	case 1:
		return (double)in->head;
	case 2:
		return (double)in->tail;
	case 3:
		return (double)in->synced;
	case 4:
		return (double)(in->head - in->tail);
	case 5:
		/* Unknown residency: no sample rather than a made-up one. */
		return in->cache_bytes == UINT64_MAX ? NAN
		                                     : (double)in->cache_bytes;
	case 6:
		return rate(rp->a[i].info.head, in->head, dt);
	case 7:
		return in->producer_alive ? 1 : 0;
	case 8:
		return producer_blockers(&rp->b[i]) ? 1 : 0;
	case 9:
		return in->eof ? 1 : 0;
	case 10:
		return (double)rp->b[i].ncons;
	default:
		return (double)in->max_consumers;
	}
}

static double cons_value(const struct report *rp, unsigned i,
                         const struct mring_consumer_info *c, int k)
{
	const struct mring_info *in = &rp->b[i].info;
	const struct mring_consumer_info *p;
	double dt = rp->b[i].when - rp->a[i].when;

	switch (k) {
	case 0:
		return (double)c->position;
	case 1:
		return (double)cons_lag(in, c);
	case 2:
		return (double)cons_lag(in, c) / (double)in->capacity;
	case 3:
		p = find_prev(&rp->a[i], c);
		return p ? rate(p->position, c->position, dt) : 0;
	case 4:
		return c->alive;
	case 5:
		return c->durable;
	default:
		return cons_blocking(&rp->b[i], c);
	}
}

/*
 * The Prometheus text format (version 0.0.4). Names follow the JSON keys
 * of info and stat, with the unit and, for counters, _total: head is
 * mring_head_bytes_total, cache_bytes mring_cache_bytes, a consumer's
 * lag_ratio mring_consumer_lag_ratio (0 to 1 in both). A family's
 * samples, one per ring (and consumer), follow its HELP and TYPE.
 */
static void print_prom(FILE *f, const struct report *rp)
{
	static const struct {
		const char *name, *type, *help;
	} rm[] =
		{
			{"mring_capacity_bytes", "gauge",
	                 "Data capacity of the ring."},
			{"mring_head_bytes_total", "counter",
	                 "Bytes produced since the ring was created (head position)."},
			{"mring_tail_bytes_total", "counter",
	                 "Oldest position whose data is still intact (tail)."},
			{"mring_synced_bytes_total", "counter",
	                 "Position up to which data is known durable (synced)."},
			{"mring_used_bytes", "gauge",
	                 "Bytes between tail and head."},
			{"mring_cache_bytes", "gauge",
	                 "Bytes of the ring's data region in the page cache."},
			{"mring_produce_rate_bytes_per_second", "gauge",
	                 "Bytes produced per second over the last interval."},
			{"mring_producer_alive", "gauge",
	                 "1 if a producer has the ring open."},
			{"mring_producer_blocked", "gauge",
	                 "1 if a durable consumer holds the producer back (less than "
	                 "a max record free)."},
			{"mring_eof", "gauge",
	                 "1 if the last producer closed the stream."},
			{"mring_consumers", "gauge", "Consumer slots in use."},
			{"mring_max_consumers", "gauge",
	                 "Consumer slots in the ring."},
		},
	  cm[] = {
		  {"mring_consumer_position_bytes_total", "counter",
	           "Next stream position the consumer reads."},
		  {"mring_consumer_lag_bytes", "gauge",
	           "Bytes the consumer is behind the head."},
		  {"mring_consumer_lag_ratio", "gauge",
	           "Consumer lag as a fraction of the capacity (0 to 1)."},
		  {"mring_consumer_rate_bytes_per_second", "gauge",
	           "Bytes consumed per second over the last interval."},
		  {"mring_consumer_alive", "gauge",
	           "1 if a live process has the consumer open."},
		  {"mring_consumer_durable", "gauge",
	           "1 for a named consumer that holds the producer back."},
		  {"mring_consumer_blocking", "gauge",
	           "1 if this consumer holds the producer back now."},
	  };
	for (size_t k = 0; k < sizeof(rm) / sizeof(rm[0]); k++) {
		int head = 0;
		for (unsigned i = 0; i < rp->n; i++) {
			double v = ring_value(rp, i, (int)k);
			if (isnan(v))
				continue;
			if (!head++)
				prom_head(f, rm[k].name, rm[k].type,
				          rm[k].help);
			fprintf(f, "%s{ring=\"", rm[k].name);
			prom_label(f, rp->paths[i]);
			fprintf(f, "\"} %.17g\n", v);
		}
	}
	for (size_t k = 0; k < sizeof(cm) / sizeof(cm[0]); k++) {
		int head = 0;
		for (unsigned i = 0; i < rp->n; i++) {
			for (unsigned j = 0; j < rp->b[i].ncons; j++) {
				const struct mring_consumer_info *c =
					&rp->b[i].cons[j];
				if (!head++)
					prom_head(f, cm[k].name, cm[k].type,
					          cm[k].help);
				prom_cons(f, rp->paths[i], cm[k].name, c,
				          cons_value(rp, i, c, (int)k));
			}
		}
	}
}

static void print_json(FILE *f, const struct report *rp)
{
	/* The interval of the first ring: all are read one after another. */
	fprintf(f, "{\"interval\":%.6f,\"rings\":[",
	        rp->n ? rp->b[0].when - rp->a[0].when : 0.0);
	for (unsigned i = 0; i < rp->n; i++) {
		if (i)
			fputc(',', f);
		json_ring(f, rp->paths[i], &rp->b[i], &rp->a[i]);
	}
	fputs("]}\n", f);
}

/* --output: write to PATH.tmp, then rename over PATH. */
static int prom_to_file(const char *out, const struct report *rp)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		msg("%s: %s", tmp, strerror(errno));
		return -1;
	}
	print_prom(f, rp);
	if (fclose(f) != 0 || rename(tmp, out) != 0) {
		msg("%s: %s", out, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	/* A signal ends the sleep early; the caller checks stop_signal. */
	nanosleep(&ts, NULL);
}

/* Read every ring into snap[]; 0, or the exit status after a message. */
static int read_all(const struct report *rp, struct ring_state *snap)
{
	for (unsigned i = 0; i < rp->n; i++) {
		int err = ring_state_read(rp->paths[i], &snap[i]);
		if (err < 0) {
			int rc = ring_err(rp->paths[i], err, USE_INSPECT, NULL);
			while (i--)
				ring_state_free(&snap[i]);
			return rc;
		}
	}
	return 0;
}

static void free_all(const struct report *rp, struct ring_state *snap)
{
	for (unsigned i = 0; i < rp->n; i++)
		ring_state_free(&snap[i]);
}

int cmd_stat(int argc, char **argv)
{
	static const struct option opts[] = {
		{"watch", required_argument, NULL, 'w'},
		{"interval", required_argument, NULL, 'i'},
		{"count", required_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"prom", no_argument, NULL, 'P'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	double interval = 1.0;
	uint64_t count = 1;
	int watch = 0, prom = 0, json = 0, have_count = 0, c;
	const char *out = NULL;

	while ((c = getopt_long(argc, argv, "w:i:n:jo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
		case 'i':
			if (parse_seconds(c == 'w' ? "--watch" : "--interval",
			                  optarg, &interval) < 0)
				return EXIT_USAGE;
			watch |= c == 'w';
			break;
		case 'n':
			if (parse_uint("--count", optarg, 1, UINT64_MAX,
			               &count) < 0)
				return EXIT_USAGE;
			have_count = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'P':
			prom = 1;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			return print_help(usage);
		default:
			return usage_err("stat", "bad option");
		}
	}
	if (optind >= argc)
		return usage_err("stat", "missing FILE");
	if (json && prom)
		return usage_err("stat", "--json or --prom, not both");
	if (out && !prom)
		return usage_err("stat", "--output goes with --prom");
	if (prom && watch && !out)
		return usage_err("stat", "--prom --watch needs --output PATH "
		                         "(one exposition per file)");
	if (watch && !have_count)
		count = UINT64_MAX;

	struct report rp = {.n = (unsigned)(argc - optind),
	                    .paths = argv + optind};
	rp.a = calloc(rp.n, sizeof(*rp.a));
	rp.b = calloc(rp.n, sizeof(*rp.b));
	if (!rp.a || !rp.b) {
		free(rp.a);
		free(rp.b);
		msg("out of memory");
		return EXIT_FAIL;
	}
	int rc = read_all(&rp, rp.a);
	if (rc) {
		free(rp.a);
		free(rp.b);
		return rc;
	}
	stop_on_signals();
	for (uint64_t n = 0; n < count && !stop_signal; n++) {
		sleep_s(interval);
		if (stop_signal)
			break;
		rc = read_all(&rp, rp.b);
		if (rc)
			break;
		if (prom && out) {
			if (prom_to_file(out, &rp) < 0)
				rc = EXIT_FAIL;
		} else if (prom) {
			print_prom(stdout, &rp);
		} else if (json) {
			print_json(stdout, &rp);
		} else {
			for (unsigned i = 0; i < rp.n; i++)
				print_text(stdout, rp.paths[i], &rp.a[i],
				           &rp.b[i], watch);
		}
		fflush(stdout);
		free_all(&rp, rp.a);
		struct ring_state *t = rp.a;
		rp.a = rp.b;
		rp.b = t;
		if (rc != EXIT_OK)
			break;
	}
	free_all(&rp, rp.a);
	free(rp.a);
	free(rp.b);
	return rc;
}
