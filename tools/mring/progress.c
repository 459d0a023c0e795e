/*
 * --progress: rate and totals on stderr while write/read move data, the
 * producer's recovery while mring_open() runs, and the signal handling
 * those long-running commands share.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

volatile int stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

void stop_on_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: let read() return EINTR */
	/* A second signal kills, should a blocking call not come back. */
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int parse_progress(const char *arg)
{
	if (!arg || !strcmp(arg, "auto"))
		return PROGRESS_AUTO;
	if (!strcmp(arg, "always"))
		return PROGRESS_ALWAYS;
	if (!strcmp(arg, "never"))
		return PROGRESS_NEVER;
	msg("--progress=%s: expected auto, always or never", arg);
	return -1;
}

void progress_init(struct progress *p, int when, const char *verb)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO);
	p->on = when == PROGRESS_ALWAYS || (when == PROGRESS_AUTO && p->tty);
	p->verb = verb;
	p->start = p->last = now_s();
	p->next = p->start + 0.5;
}

static void show(struct progress *p, double t, int final)
{
	char tot[FMT_LEN], avg[FMT_LEN], cur[FMT_LEN];
	double el = t - p->start;

	fmt_bytes(p->bytes, tot);
	fmt_rate(el > 0 ? (double)p->bytes / el : 0, avg);
	if (final) {
		fprintf(stderr, "%s%s: %s %s", p->tty ? "\r\033[K" : "",
		        tool_name, tot, p->verb);
		if (p->records)
			fprintf(stderr, " (%llu records)",
			        (unsigned long long)p->records);
		fprintf(stderr, " in %.1f s, %s\n", el, avg);
		return;
	}
	fmt_rate(t > p->last
	                 ? (double)(p->bytes - p->last_bytes) / (t - p->last)
	                 : 0,
	         cur);
	fprintf(stderr, "%s%s: %s %s, %s now, %s average",
	        p->tty ? "\r\033[K" : "", tool_name, tot, p->verb, cur, avg);
	if (p->records)
		fprintf(stderr, ", %llu records",
		        (unsigned long long)p->records);
	fputs(p->tty ? "" : "\n", stderr);
	p->last = t;
	p->last_bytes = p->bytes;
}

void progress_add(struct progress *p, uint64_t bytes, uint64_t records)
{
	p->bytes += bytes;
	p->records += records;
	if (!p->on)
		return;
	double t = now_s();
	if (t < p->next)
		return;
	/* Forced output into a file or pipe: one line a second is plenty. */
	p->next = t + (p->tty ? 0.5 : 1.0);
	show(p, t, 0);
}

void progress_done(struct progress *p)
{
	if (p->on)
		show(p, now_s(), 1);
}

/* Recovery takes this long before it is shown (seconds). */
#define OPEN_QUIET_S 1.0

static void on_open_progress(const struct mring_progress *p, void *arg)
{
	struct open_progress *op = arg;
	char done[FMT_LEN], total[FMT_LEN], rate[FMT_LEN];
	double el = now_s() - op->start;

	if (op->when == PROGRESS_NEVER ||
	    (op->when != PROGRESS_ALWAYS && el < OPEN_QUIET_S))
		return;
	fmt_bytes(p->done, done);
	fmt_bytes(p->total, total);
	fmt_rate(el > 0 ? (double)p->done / el : 0, rate);
	fprintf(stderr, "%smring: recovering ring: %s of %s checked, %s%s",
	        op->tty ? "\r\033[K" : "", done, total, rate,
	        op->tty ? "" : "\n");
	op->shown = 1;
}

void open_progress_init(struct open_progress *op, int when,
                        struct mring_config *cfg)
{
	memset(op, 0, sizeof(*op));
	op->when = when;
	op->tty = isatty(STDERR_FILENO);
	op->start = now_s();
	cfg->progress = on_open_progress;
	cfg->progress_arg = op;
}

void open_progress_done(struct open_progress *op, struct mring *r)
{
	struct mring_stats st;
	char done[FMT_LEN], rate[FMT_LEN];
	double el = now_s() - op->start;

	if (!op->shown)
		return;
	if (!r || mring_stats(r, &st) < 0) {
		if (op->tty)
			fputc('\n', stderr);
		return;
	}
	fmt_bytes(st.recovery_scanned, done);
	fmt_rate(el > 0 ? (double)st.recovery_scanned / el : 0, rate);
	fprintf(stderr, "%smring: recovered ring: %s checked in %.1f s, %s\n",
	        op->tty ? "\r\033[K" : "", done, el, rate);
}
