/*
 * mring stat: rates and lag from successive mring_inspect() snapshots, as
 * text or in the Prometheus text exposition format.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
	"Usage: mring stat FILE [--watch SEC] [--prom [--output PATH]]\n"
	"\n"
	"Measure a ring over an interval: bytes produced per second, and for\n"
	"each consumer its rate, lag and share of the capacity. Reads the\n"
	"control block only; never attaches.\n"
	"\n"
	"Options:\n"
	"  -w, --watch SEC     report every SEC seconds until interrupted\n"
	"  -i, --interval SEC  measure over SEC seconds (default 1; --watch "
	"sets it)\n"
	"  -n, --count N       stop after N reports\n"
	"      --prom          Prometheus text format instead of a table\n"
	"  -o, --output PATH   with --prom: replace PATH atomically with each\n"
	"                      report (for node_exporter's textfile "
	"collector)\n"
	"  -h, --help          show this help\n";

/* The same consumer in an earlier snapshot, or NULL. */
static const struct mring_consumer_info *
find_prev(const struct ring_state *prev, const struct mring_consumer_info *c)
{
	for (unsigned i = 0; i < prev->ncons; i++) {
		const struct mring_consumer_info *p = &prev->cons[i];
		if (p->durable != c->durable)
			continue;
		if (c->durable ? !strcmp(p->name, c->name) : p->pid == c->pid)
			return p;
	}
	return NULL;
}

static double rate(uint64_t a, uint64_t b, double dt)
{
	return b > a && dt > 0 ? (double)(b - a) / dt : 0.0;
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
	fprintf(f, "%s: produced %s, head %s, used %s (%.1f%%), producer %s\n",
	        path, fmt_rate(rate(a->info.head, in->head, dt), r),
	        fmt_bytes(in->head, h), fmt_bytes(used, u),
	        in->capacity ? 100.0 * (double)used / (double)in->capacity : 0,
	        in->producer_alive ? "alive"
	        : in->eof          ? "closed"
	                           : "not running");
	if (b->ncons == 0)
		return;
	fprintf(f, "  %-20s %12s %12s %7s %s\n", "CONSUMER", "RATE", "LAG",
	        "LAG%", "STATE");
	for (unsigned i = 0; i < b->ncons; i++) {
		const struct mring_consumer_info *c = &b->cons[i];
		const struct mring_consumer_info *p = find_prev(a, c);
		uint64_t lag = cons_lag(in, c);
		fprintf(f, "  %-20s %12s %12s %6.1f%% %s\n",
		        c->durable ? c->name : "(observer)",
		        p ? fmt_rate(rate(p->position, c->position, dt), r)
		          : "-",
		        fmt_bytes(lag, l),
		        in->capacity
		                ? 100.0 * (double)lag / (double)in->capacity
		                : 0,
		        c->alive ? "alive" : "dead");
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

/* One sample of a ring-level metric. */
static void prom_ring(FILE *f, const char *path, const char *name,
                      const char *type, const char *help, double v)
{
	prom_head(f, name, type, help);
	fprintf(f, "%s{ring=\"", name);
	prom_label(f, path);
	fprintf(f, "\"} %.17g\n", v);
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

static void print_prom(FILE *f, const char *path, const struct ring_state *a,
                       const struct ring_state *b)
{
	const struct mring_info *in = &b->info;
	double dt = b->when - a->when;

	prom_ring(f, path, "mring_capacity_bytes", "gauge",
	          "Data capacity of the ring.", (double)in->capacity);
	prom_ring(f, path, "mring_head_bytes", "counter",
	          "Bytes produced since the ring was created (head position).",
	          (double)in->head);
	prom_ring(f, path, "mring_tail_bytes", "counter",
	          "Oldest position whose data is still intact.",
	          (double)in->tail);
	prom_ring(f, path, "mring_synced_bytes", "counter",
	          "Position up to which data is known durable.",
	          (double)in->synced);
	prom_ring(f, path, "mring_used_bytes", "gauge",
	          "Bytes between tail and head.",
	          (double)(in->head - in->tail));
	/* Unknown residency: no sample rather than a made-up value. */
	if (in->cached_bytes != UINT64_MAX)
		prom_ring(f, path, "mring_page_cache_bytes", "gauge",
		          "Bytes of the ring's data region in the page cache.",
		          (double)in->cached_bytes);
	prom_ring(f, path, "mring_produce_rate_bytes_per_second", "gauge",
	          "Bytes produced per second over the last interval.",
	          rate(a->info.head, in->head, dt));
	prom_ring(f, path, "mring_producer_alive", "gauge",
	          "1 if a producer has the ring open.",
	          in->producer_alive ? 1 : 0);
	prom_ring(f, path, "mring_eof", "gauge",
	          "1 if the last producer closed the stream.", in->eof ? 1 : 0);
	prom_ring(f, path, "mring_consumers", "gauge", "Consumer slots in use.",
	          (double)b->ncons);
	prom_ring(f, path, "mring_consumer_slots", "gauge",
	          "Consumer slots in the ring.", (double)in->max_consumers);
	if (b->ncons == 0)
		return;
	static const struct {
		const char *name, *type, *help;
	} m[] = {
		{"mring_consumer_position_bytes", "counter",
	         "Next stream position the consumer reads."},
		{"mring_consumer_lag_bytes", "gauge",
	         "Bytes the consumer is behind the head."},
		{"mring_consumer_lag_ratio", "gauge",
	         "Consumer lag as a fraction of the capacity."},
		{"mring_consumer_rate_bytes_per_second", "gauge",
	         "Bytes consumed per second over the last interval."},
		{"mring_consumer_alive", "gauge",
	         "1 if a live process has the consumer open."},
		{"mring_consumer_durable", "gauge",
	         "1 for a named consumer that holds the producer back."},
	};
	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		prom_head(f, m[k].name, m[k].type, m[k].help);
		for (unsigned i = 0; i < b->ncons; i++) {
			const struct mring_consumer_info *c = &b->cons[i];
			const struct mring_consumer_info *p = find_prev(a, c);
			uint64_t lag = cons_lag(in, c);
			double v = 0;
			switch (k) {
			case 0:
				v = (double)c->position;
				break;
			case 1:
				v = (double)lag;
				break;
			case 2:
				v = (double)lag / (double)in->capacity;
				break;
			case 3:
				v = p ? rate(p->position, c->position, dt) : 0;
				break;
			case 4:
				v = c->alive;
				break;
			case 5:
				v = c->durable;
				break;
			}
			prom_cons(f, path, m[k].name, c, v);
		}
	}
}

/* --output: write to PATH.tmp, then rename over PATH. */
static int prom_to_file(const char *out, const char *path,
                        const struct ring_state *a, const struct ring_state *b)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		msg("%s: %s", tmp, strerror(errno));
		return -1;
	}
	print_prom(f, path, a, b);
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

int cmd_stat(int argc, char **argv)
{
	static const struct option opts[] = {
		{"watch", required_argument, NULL, 'w'},
		{"interval", required_argument, NULL, 'i'},
		{"count", required_argument, NULL, 'n'},
		{"prom", no_argument, NULL, 'P'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	double interval = 1.0;
	uint64_t count = 1;
	int watch = 0, prom = 0, have_count = 0, c;
	const char *out = NULL;

	while ((c = getopt_long(argc, argv, "w:i:n:o:h", opts, NULL)) != -1) {
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
	if (optind + 1 < argc)
		return usage_err("stat", "unexpected argument '%s'",
		                 argv[optind + 1]);
	if (out && !prom)
		return usage_err("stat", "--output goes with --prom");
	if (prom && watch && !out)
		return usage_err("stat", "--prom --watch needs --output PATH "
		                         "(one exposition per file)");
	if (watch && !have_count)
		count = UINT64_MAX;

	const char *path = argv[optind];
	struct ring_state a, b;
	int rc = ring_state_read(path, &a);
	if (rc < 0)
		return ring_err(path, rc, USE_INSPECT, NULL);
	stop_on_signals();
	rc = EXIT_OK;
	for (uint64_t n = 0; n < count && !stop_signal; n++) {
		sleep_s(interval);
		if (stop_signal)
			break;
		int err = ring_state_read(path, &b);
		if (err < 0) {
			rc = ring_err(path, err, USE_INSPECT, NULL);
			break;
		}
		if (prom && out) {
			if (prom_to_file(out, path, &a, &b) < 0)
				rc = EXIT_FAIL;
		} else if (prom) {
			print_prom(stdout, path, &a, &b);
		} else {
			print_text(stdout, path, &a, &b, watch);
		}
		fflush(stdout);
		ring_state_free(&a);
		a = b;
		if (rc != EXIT_OK)
			break;
	}
	ring_state_free(&a);
	return rc;
}
