/*
 * mring-nats, the parts both directions share: signals, connecting,
 * finding or creating the stream, and the counters' outputs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"

/* Written by the signal handler, read by the main thread and by libnats's
 * callback thread: atomic (lock-free, so async-signal-safe), not volatile. */
atomic_int bridge_stop;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
               "bridge_stop is set from a signal handler");
atomic_uint bridge_reconnects;
static atomic_int bridge_closing; /* main thread -> callback thread */
static void (*stop_wake)(void);

static void on_stop(int sig)
{
	bridge_stop = sig;
	if (stop_wake)
		stop_wake();
}

void bridge_signals(void (*wake)(void))
{
	struct sigaction sa;

	stop_wake = wake;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void nap_ms(int ms)
{
	/* In slices, so that a stop signal ends the nap within 50 ms. */
	while (ms > 0 && !bridge_stop) {
		int d = ms < 50 ? ms : 50;
		struct timespec ts = {0, (long)d * 1000000L};
		nanosleep(&ts, NULL);
		ms -= d;
	}
}

const char *nats_err(natsStatus s, char *buf, size_t len)
{
	natsStatus ls;
	const char *detail = nats_GetLastError(&ls);

	if (detail && *detail && ls == s &&
	    strcmp(detail, natsStatus_GetText(s)) != 0)
		snprintf(buf, len, "%s (%s)", natsStatus_GetText(s), detail);
	else
		snprintf(buf, len, "%s", natsStatus_GetText(s));
	return buf;
}

/* Split "a,b,c" into an array of at most 64 URLs (strings in `copy`). */
static int split_urls(char *copy, const char **urls)
{
	int n = 0;
	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < 64;
	     t = strtok_r(NULL, ",", &save))
		if (*t)
			urls[n++] = t;
	return n;
}

static void on_disconnected(natsConnection *nc, void *arg)
{
	(void)nc;
	(void)arg;
	if (!bridge_stop && !bridge_closing)
		msg("lost the connection to the NATS server; reconnecting "
		    "(data waits in the ring meanwhile)");
}

static void on_reconnected(natsConnection *nc, void *arg)
{
	char url[256] = "";
	(void)arg;
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	atomic_fetch_add(&bridge_reconnects, 1);
	msg("reconnected to %s", url);
}

static void on_async_err(natsConnection *nc, natsSubscription *sub,
                         natsStatus err, void *arg)
{
	(void)nc;
	(void)sub;
	(void)arg;
	/* Slow consumer reports are expected under load: the bridge
	 * recovers from lost deliveries; say it once in a while only. */
	static double last;
	double t = now_s();
	if (t - last >= 5) {
		last = t;
		msg("NATS asynchronous error: %s", natsStatus_GetText(err));
	}
}

int bridge_connect(const struct bopts *o, const char *what, natsConnection **nc,
                   jsCtx **js)
{
	natsOptions *no = NULL;
	char *copy = strdup(o->servers), err[256];
	const char *urls[64];
	int n = copy ? split_urls(copy, urls) : 0;
	natsStatus s;
	double start = now_s(), said = 0;

	*nc = NULL;
	*js = NULL;
	if (n == 0) {
		free(copy);
		msg("-s: no server URL given (e.g. -s nats://127.0.0.1:4222)");
		return EXIT_USAGE;
	}
	s = natsOptions_Create(&no);
	if (s == NATS_OK)
		s = natsOptions_SetServers(no, urls, n);
	if (s == NATS_OK)
		s = natsOptions_SetName(no, what);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(no, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(no, 250);
	if (s == NATS_OK) /* publishes made while disconnected wait here */
		s = natsOptions_SetReconnectBufSize(no, 64 << 20);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(no, on_disconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(no, on_reconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(no, on_async_err, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPendingMsgs(no, 1 << 20);
	if (s == NATS_OK && o->creds)
		s = natsOptions_SetUserCredentialsFromFiles(no, o->creds, NULL);
	if (s != NATS_OK) {
		msg("cannot set up the NATS connection: %s%s",
		    nats_err(s, err, sizeof(err)),
		    o->creds ? " (is --creds a readable credentials file?)"
		             : "");
		natsOptions_Destroy(no);
		free(copy);
		return EXIT_USAGE;
	}
	for (;;) {
		s = natsConnection_Connect(nc, no);
		if (s == NATS_OK)
			break;
		double t = now_s();
		if (bridge_stop) {
			natsOptions_Destroy(no);
			free(copy);
			return RC_STOPPED;
		}
		if (s != NATS_NO_SERVER ||
		    (o->connect_wait > 0 && t - start >= o->connect_wait)) {
			msg("cannot connect to %s: %s", o->servers,
			    nats_err(s, err, sizeof(err)));
			if (s == NATS_NO_SERVER)
				msg("is nats-server running and listening "
				    "there? check -s (e.g. "
				    "nats://127.0.0.1:4222)%s",
				    o->connect_wait > 0
				            ? ", or raise --connect-wait"
				            : "");
			natsOptions_Destroy(no);
			free(copy);
			return EXIT_FAIL;
		}
		if (said == 0 || t - said >= 5) {
			msg("no NATS server reachable at %s (%s); retrying "
			    "every second%s",
			    o->servers, natsStatus_GetText(s),
			    o->connect_wait > 0 ? "" : " until one answers");
			said = t;
		}
		nap_ms(1000);
	}
	natsOptions_Destroy(no);
	free(copy);
	return 0;
}

void bridge_disconnect(natsConnection *nc, jsCtx *js, natsSubscription *sub)
{
	bridge_closing = 1;
	/* Close first: it stops the library's reader thread, which may
	 * otherwise still deliver to the subscription or the context being
	 * destroyed (seen as a crash inside libnats under ASan). */
	if (nc)
		natsConnection_Close(nc);
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
}

/* Whether a JetStream API error is worth waiting out (no leader yet). */
static int transient(natsStatus s, jsErrCode ec)
{
	return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS ||
	       s == NATS_CONNECTION_CLOSED || s == NATS_NOT_YET_CONNECTED ||
	       ec == JSClusterNotAvailErr || ec == JSStreamOfflineErr ||
	       ec == JSClusterNoPeersErr || ec == JSInsufficientResourcesErr;
}

int bridge_stream(const struct bopts *o, jsCtx *js)
{
	double said = 0;
	char err[256];

	while (!bridge_stop) {
		jsStreamInfo *si = NULL;
		jsErrCode ec = 0;
		natsStatus s = js_GetStreamInfo(&si, js, o->stream, NULL, &ec);
		if (s == NATS_OK) {
			jsStreamInfo_Destroy(si);
			return 0;
		}
		if (s == NATS_NOT_FOUND || ec == JSStreamNotFoundErr) {
			if (!o->create_stream) {
				msg("stream '%s' not found on the server; create "
				    "it with --create-stream (and --replicas N "
				    "in a cluster), or check --stream",
				    o->stream);
				return EXIT_FAIL;
			}
			jsStreamConfig sc;
			const char *subj[1] = {o->subject};
			jsStreamConfig_Init(&sc);
			sc.Name = o->stream;
			sc.Subjects = subj;
			sc.SubjectsLen = 1;
			sc.Storage = o->memory ? js_MemoryStorage
			                       : js_FileStorage;
			sc.Replicas = o->replicas > 0 ? o->replicas : 1;
			if (o->dup_window > 0)
				sc.Duplicates = (int64_t)(o->dup_window * 1e9);
			if (o->max_bytes)
				sc.MaxBytes = (int64_t)o->max_bytes;
			s = js_AddStream(&si, js, &sc, NULL, &ec);
			if (s == NATS_OK) {
				msg("created stream '%s' (subject %s, %d "
				    "replica%s)",
				    o->stream, o->subject, (int)sc.Replicas,
				    sc.Replicas > 1 ? "s" : "");
				jsStreamInfo_Destroy(si);
				return 0;
			}
			if (ec == JSStreamNameExistErr)
				continue; /* another bridge was quicker */
		}
		if (!transient(s, ec)) {
			msg("stream '%s': %s (JetStream error %d)%s", o->stream,
			    nats_err(s, err, sizeof(err)), (int)ec,
			    ec == JSNotEnabledForAccountErr ||
			                    ec == JSNotEnabledErr
			            ? "; start nats-server with -js"
			            : "");
			return EXIT_FAIL;
		}
		double t = now_s();
		if (said == 0 || t - said >= 5) {
			msg("stream '%s' not available yet (%s); retrying",
			    o->stream, nats_err(s, err, sizeof(err)));
			said = t;
		}
		nap_ms(500);
	}
	return RC_STOPPED;
}

/* ------------------------------------------------------------------ */
/* Counters                                                            */
/* ------------------------------------------------------------------ */

void report_init(struct report *rp, const struct bopts *o, const char *verb,
                 struct counter *c, int n, int recs_idx, int bytes_idx)
{
	memset(rp, 0, sizeof(*rp));
	rp->verb = verb;
	rp->c = c;
	rp->n = n;
	rp->prom = o->prom;
	rp->tty = isatty(STDERR_FILENO);
	rp->progress_on = o->progress == PROGRESS_ALWAYS ||
	                  (o->progress == PROGRESS_AUTO && rp->tty);
	rp->start = rp->last_t = now_s();
	rp->next_prom = rp->start;
	rp->next_progress = rp->start + 0.5;
	rp->recs_idx = recs_idx;
	rp->bytes_idx = bytes_idx;
}

static void write_prom(struct report *rp)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", rp->prom);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		static int warned;
		if (!warned++)
			msg("--prom %s: cannot write %s: %s", rp->prom, tmp,
			    strerror(errno));
		return;
	}
	for (int i = 0; i < rp->n; i++) {
		const struct counter *c = &rp->c[i];
		fprintf(f, "# HELP mring_nats_%s %s\n", c->name, c->help);
		fprintf(f, "# TYPE mring_nats_%s %s\n", c->name,
		        c->gauge ? "gauge" : "counter");
		fprintf(f, "mring_nats_%s %llu\n", c->name,
		        (unsigned long long)c->v);
	}
	if (fclose(f) != 0 || rename(tmp, rp->prom) != 0) {
		msg("--prom %s: %s", rp->prom, strerror(errno));
		unlink(tmp);
	}
}

static void show(struct report *rp, double t, int final)
{
	char tot[FMT_LEN], avg[FMT_LEN], cur[FMT_LEN];
	uint64_t bytes = rp->c[rp->bytes_idx].v;
	double el = t - rp->start;

	fmt_bytes(bytes, tot);
	fmt_rate(el > 0 ? (double)bytes / el : 0, avg);
	fmt_rate(t > rp->last_t
	                 ? (double)(bytes - rp->last_bytes) / (t - rp->last_t)
	                 : 0,
	         cur);
	fprintf(stderr, "%s%s: %s %s (%llu records)", rp->tty ? "\r\033[K" : "",
	        tool_name, tot, rp->verb,
	        (unsigned long long)rp->c[rp->recs_idx].v);
	if (final) {
		fprintf(stderr, " in %.1f s, %s\n", el, avg);
		return;
	}
	fprintf(stderr, ", %s now, %s average", cur, avg);
	for (int i = 0; i < rp->n; i++)
		if (i != rp->recs_idx && i != rp->bytes_idx && rp->c[i].v)
			fprintf(stderr, ", %s %llu", rp->c[i].name,
			        (unsigned long long)rp->c[i].v);
	fputs(rp->tty ? "" : "\n", stderr);
	rp->last_t = t;
	rp->last_bytes = bytes;
}

void report_tick(struct report *rp)
{
	double t = now_s();
	if (rp->prom && t >= rp->next_prom) {
		write_prom(rp);
		rp->next_prom = t + 1.0;
	}
	if (rp->progress_on && t >= rp->next_progress) {
		show(rp, t, 0);
		rp->next_progress = t + (rp->tty ? 0.5 : 1.0);
	}
}

void report_done(struct report *rp, int json)
{
	if (rp->prom)
		write_prom(rp);
	if (rp->progress_on)
		show(rp, now_s(), 1);
	if (json) {
		printf("{");
		for (int i = 0; i < rp->n; i++)
			printf("%s\"%s\":%llu", i ? "," : "", rp->c[i].name,
			       (unsigned long long)rp->c[i].v);
		printf(",\"seconds\":%.3f}\n", now_s() - rp->start);
		fflush(stdout);
	}
}

int bridge_common_opt(int c, const char *arg, struct bopts *o)
{
	uint64_t v;

	switch (c) {
	case 's':
		o->servers = arg;
		return 1;
	case BO_STREAM:
		o->stream = arg;
		return 1;
	case BO_SUBJECT:
		o->subject = arg;
		return 1;
	case BO_CREDS:
		o->creds = arg;
		return 1;
	case BO_CWAIT:
		return parse_seconds("--connect-wait", arg, &o->connect_wait)
		               ? -1
		               : 1;
	case BO_COUNT:
		if (parse_uint("--count", arg, 1, UINT64_MAX, &v))
			return -1;
		o->count = v;
		return 1;
	case BO_IDLE:
		return parse_seconds("--idle-exit", arg, &o->idle_exit) ? -1
		                                                        : 1;
	case BO_PROGRESS:
		o->progress = parse_progress(arg);
		return o->progress < 0 ? -1 : 1;
	case BO_JSON:
		o->json = 1;
		return 1;
	case BO_PROM:
		o->prom = arg;
		return 1;
	case BO_ANY:
		o->any_owner = 1;
		return 1;
	}
	return 0;
}
