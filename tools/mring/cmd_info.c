/*
 * mring info: a ring's header, positions, page-cache residency, producer
 * and consumers, from mring_inspect() (which never attaches to the ring),
 * as text or JSON.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char usage[] =
	"Usage: mring info FILE [--json]\n"
	"\n"
	"Show a ring's format, mode, geometry, positions, how much of its\n"
	"data is in the page cache, producer and consumers. Reads the\n"
	"control block only; never attaches.\n"
	"\n"
	"Options:\n"
	"  -j, --json   one JSON object instead of text\n"
	"  -h, --help   show this help\n";

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	if (!localtime_r(&t, &tm) ||
	    !strftime(buf, len, "%Y-%m-%d %H:%M:%S %z", &tm))
		snprintf(buf, len, "?");
}

void print_consumers(FILE *f, const struct ring_state *st)
{
	const struct mring_info *in = &st->info;
	char lag[FMT_LEN];

	if (st->ncons == 0) {
		fprintf(f, "  (no consumers)\n");
		return;
	}
	fprintf(f, "  %-20s %16s %12s %7s %-6s %s\n", "NAME", "POSITION", "LAG",
	        "LAG%", "STATE", "PID");
	for (unsigned i = 0; i < st->ncons; i++) {
		const struct mring_consumer_info *c = &st->cons[i];
		uint64_t l = cons_lag(in, c);
		char pid[16] = "-"; /* 0: registered, never opened */
		if (c->pid)
			snprintf(pid, sizeof(pid), "%d", (int)c->pid);
		fprintf(f, "  %-20s %16llu %12s %6.1f%% %-6s %s%s\n",
		        c->durable ? c->name : "(observer)",
		        (unsigned long long)c->position, fmt_bytes(l, lag),
		        pct(l, in->capacity), c->alive ? "alive" : "dead", pid,
		        c->position < in->tail ? "  (lapped: data lost)"
		        : cons_blocking(st, c) ? "  (holds the producer back)"
		                               : "");
	}
}

int warn_dead_consumers(FILE *f, const char *path, const struct ring_state *st)
{
	char lag[FMT_LEN];
	int n = 0;

	if (st->info.flags & MRING_F_OVERWRITE)
		return 0;
	for (unsigned i = 0; i < st->ncons; i++) {
		const struct mring_consumer_info *c = &st->cons[i];
		if (!c->durable || c->alive)
			continue;
		char who[32] = "never opened";
		if (c->pid)
			snprintf(who, sizeof(who), "last pid %d", (int)c->pid);
		fprintf(f,
		        "warning: durable consumer '%s' is not attached (%s) "
		        "and %s behind; it holds the producer back once the "
		        "ring is full. Resume it with 'mring read %s "
		        "--consumer %s', or remove it with 'mring consumer rm "
		        "%s %s'.\n",
		        c->name, who, fmt_bytes(cons_lag(&st->info, c), lag),
		        path, c->name, path, c->name);
		n++;
	}
	return n;
}

static void print_text(const char *path, const struct ring_state *st)
{
	const struct mring_info *in = &st->info;
	char a[FMT_LEN], b[FMT_LEN], when[64];
	uint64_t used = in->head - in->tail;

	printf("%s: mring format %u\n", path, in->format_version);
	printf("  mode          %s, %s%s%s\n", mode_kind(in->flags),
	       mode_policy(in->flags), in->flags & MRING_F_CRC ? ", crc" : "",
	       in->flags & MRING_F_TIMESTAMPS ? ", timestamps" : "");
	printf("  capacity      %s (%llu bytes)\n", fmt_bytes(in->capacity, a),
	       (unsigned long long)in->capacity);
	printf("  window        %s\n", fmt_bytes(in->window, a));
	printf("  max record    %s (%u bytes)\n", fmt_bytes(in->max_record, a),
	       in->max_record);
	printf("  data offset   %llu\n", (unsigned long long)in->data_offset);
	printf("  file size     %s\n", fmt_bytes(in->file_size, a));
	fmt_time(in->created_ns, when, sizeof(when));
	printf("  created       %s\n", when);
	printf("  head          %llu (%s written since creation)\n",
	       (unsigned long long)in->head, fmt_bytes(in->head, a));
	printf("  tail          %llu\n", (unsigned long long)in->tail);
	printf("  synced        %llu (%s not yet synced)\n",
	       (unsigned long long)in->synced,
	       fmt_bytes(in->head - in->synced, b));
	printf("  used          %s (%.1f%% of capacity)\n", fmt_bytes(used, a),
	       pct(used, in->capacity));
	if (in->cache_bytes == UINT64_MAX)
		printf("  page cache    unknown (this kernel cannot say)\n");
	else
		printf("  page cache    %s (%.1f%% of capacity)\n",
		       fmt_bytes(in->cache_bytes, a),
		       pct(in->cache_bytes, in->capacity));
	if (in->producer_pid == 0)
		printf("  producer      none yet\n");
	else
		printf("  producer      pid %d, %s\n", (int)in->producer_pid,
		       in->producer_alive ? "alive" : "not running");
	printf("  eof           %s\n",
	       in->eof ? "yes (the producer closed the stream)" : "no");
	printf("  consumers     %u of %u slots in use\n", in->consumers,
	       in->max_consumers);
	print_consumers(stdout, st);
}

static double rate(uint64_t a, uint64_t b, double dt)
{
	return b > a && dt > 0 ? (double)(b - a) / dt : 0.0;
}

/* The same consumer in an earlier snapshot, or NULL. */
const struct mring_consumer_info *find_prev(const struct ring_state *prev,
                                            const struct mring_consumer_info *c)
{
	for (unsigned i = 0; prev && i < prev->ncons; i++) {
		const struct mring_consumer_info *p = &prev->cons[i];
		if (p->durable != c->durable)
			continue;
		if (c->durable ? !strcmp(p->name, c->name) : p->pid == c->pid)
			return p;
	}
	return NULL;
}

static const char *jbool(int v)
{
	return v ? "true" : "false";
}

void json_consumers(FILE *f, const struct ring_state *st,
                    const struct ring_state *prev)
{
	const struct mring_info *in = &st->info;
	double dt = prev ? st->when - prev->when : 0;

	fputs("\"consumers\":[", f);
	for (unsigned i = 0; i < st->ncons; i++) {
		const struct mring_consumer_info *c = &st->cons[i];
		uint64_t l = cons_lag(in, c);
		fprintf(f, "%s{\"name\":", i ? "," : "");
		if (c->durable)
			json_str(f, c->name);
		else
			fputs("null", f);
		fprintf(f,
		        ",\"durable\":%s,\"position\":%llu,\"lag\":%llu,"
		        "\"lag_ratio\":%.9g,\"lapped\":%s,\"alive\":%s,"
		        "\"pid\":%d,\"blocking\":%s",
		        jbool(c->durable), (unsigned long long)c->position,
		        (unsigned long long)l, pct(l, in->capacity) / 100.0,
		        jbool(c->position < in->tail), jbool(c->alive),
		        (int)c->pid, jbool(cons_blocking(st, c)));
		if (prev) {
			const struct mring_consumer_info *p =
				find_prev(prev, c);
			/* First seen in this interval: no rate yet. */
			if (p)
				fprintf(f, ",\"rate\":%.1f",
				        rate(p->position, c->position, dt));
			else
				fputs(",\"rate\":null", f);
		}
		fputc('}', f);
	}
	fputc(']', f);
}

void json_ring(FILE *f, const char *path, const struct ring_state *st,
               const struct ring_state *prev)
{
	const struct mring_info *in = &st->info;

	fputs("{\"file\":", f);
	json_str(f, path);
	fprintf(f,
	        ",\"format_version\":%u,\"mode\":\"%s\",\"policy\":\"%s\","
	        "\"records\":%s,\"overwrite\":%s,\"crc\":%s,"
	        "\"timestamps\":%s",
	        in->format_version, mode_kind(in->flags),
	        mode_policy(in->flags), jbool(in->flags & MRING_F_RECORDS),
	        jbool(in->flags & MRING_F_OVERWRITE),
	        jbool(in->flags & MRING_F_CRC),
	        jbool(in->flags & MRING_F_TIMESTAMPS));
	fprintf(f,
	        ",\"capacity\":%llu,\"window\":%u,\"max_record\":%u,"
	        "\"data_offset\":%llu,\"file_size\":%llu,\"created_ns\":%llu",
	        (unsigned long long)in->capacity, in->window, in->max_record,
	        (unsigned long long)in->data_offset,
	        (unsigned long long)in->file_size,
	        (unsigned long long)in->created_ns);
	fprintf(f, ",\"head\":%llu,\"tail\":%llu,\"synced\":%llu,\"used\":%llu",
	        (unsigned long long)in->head, (unsigned long long)in->tail,
	        (unsigned long long)in->synced,
	        (unsigned long long)(in->head - in->tail));
	if (in->cache_bytes == UINT64_MAX)
		fputs(",\"cache_bytes\":null", f);
	else
		fprintf(f, ",\"cache_bytes\":%llu",
		        (unsigned long long)in->cache_bytes);
	if (prev)
		fprintf(f, ",\"produce_rate\":%.1f",
		        rate(prev->info.head, in->head, st->when - prev->when));
	fprintf(f, ",\"producer\":{\"pid\":%d,\"alive\":%s,\"blocked_by\":[",
	        (int)in->producer_pid, jbool(in->producer_alive));
	int n = 0;
	for (unsigned i = 0; i < st->ncons; i++) {
		if (!cons_blocking(st, &st->cons[i]))
			continue;
		if (n++)
			fputc(',', f);
		json_str(f, st->cons[i].name);
	}
	fprintf(f, "]},\"eof\":%s,\"max_consumers\":%u,", jbool(in->eof),
	        in->max_consumers);
	json_consumers(f, st, prev);
	fputc('}', f);
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int json = 0, c;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			return print_help(usage);
		default:
			return usage_err("info", "bad option");
		}
	}
	if (optind >= argc)
		return usage_err("info", "missing FILE");
	if (optind + 1 < argc)
		return usage_err("info", "unexpected argument '%s'",
		                 argv[optind + 1]);

	const char *path = argv[optind];
	struct ring_state st;
	int rc = ring_state_read(path, &st);
	if (rc < 0)
		return ring_err(path, rc, USE_INSPECT, NULL);
	if (json) {
		json_ring(stdout, path, &st, NULL);
		putchar('\n');
	} else {
		print_text(path, &st);
		warn_dead_consumers(stdout, path, &st);
	}
	ring_state_free(&st);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}
