/*
 * bench/nats: the pieces of the ring -> JetStream -> ring benchmark that
 * are not the bridge (tools/nats, mring-nats) itself. bench/run-nats.sh
 * starts the servers and strings these modes together around the bridge:
 *
 *   stream   create (or delete) the JetStream stream every run uses, with
 *            the same configuration for the bare publisher and the bridge
 *   bare     the baseline: a bare libnats asynchronous publisher of the
 *            same records into the same stream (js_PublishMsgAsync, the
 *            same bounded window of outstanding publishes, a Nats-Msg-Id
 *            header per record as the bridge sends)
 *   bare-sub the subscribe baseline: a bare JetStream consumer (push, or
 *            pull) of what bare published; latency from the stamp inside
 *   mkring   create a ring of records with timestamps and register a
 *            durable consumer in it (the bridge's, or the drain's)
 *   produce  write N records into such a ring, stamped at commit, as fast
 *            as the ring takes them or paced at a given rate
 *   drain    read the far ring as a durable consumer, check every record
 *            (length, number, content, that its stamp is the producer's)
 *            and measure latency = CLOCK_REALTIME now - the record's stamp
 *
 * A record of S bytes: bytes 0..8 its number (little-endian, from 0),
 * 8..16 the CLOCK_REALTIME nanoseconds at which it was written (produce:
 * the stamp the ring records too; bare: the time of the publish), the rest
 * a pseudo-random pattern that shifts with the number, so a record in the
 * wrong place or torn does not pass (S >= 16).
 *
 * Every mode prints one line of key=value pairs on stdout for the driver;
 * messages go to stderr. Exit status: 0 done, 1 error, 2 usage, 3 the
 * drain timed out or saw bad records (its line is printed all the same).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <mring.h>
#include <nats/nats.h>

#include "common.h"

#define HDR 16        /* number + stamp */
#define PAT_SHIFT 256 /* distinct pattern offsets */
#define BATCH 256     /* records per drain peek */
#define MSGID_HDR "Nats-Msg-Id"

struct opts {
	const char *servers;
	const char *stream;
	const char *subject;
	const char *consumer;
	const char *far;   /* produce: wait for this ring's peers too */
	const char *msgid; /* bare: Nats-Msg-Id prefix */
	const char *del;   /* stream: delete this stream */
	uint64_t size;
	uint64_t count;
	uint64_t capacity;
	uint64_t max_bytes;
	uint64_t warmup;
	uint64_t prime;
	double rate;
	double timeout;
	long window;
	int replicas;
	int dup_window;
	bool pull;
	bool like_bridge;
};

static struct opts o = {
	.size = 64,
	.capacity = 256ull << 20,
	.timeout = 30,
	.window = 1024,
	.replicas = 1,
	.dup_window = 120,
};

static uint8_t *pattern; /* o.size + PAT_SHIFT bytes */

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void make_pattern(void)
{
	pattern = malloc(o.size + PAT_SHIFT);
	if (!pattern)
		bench_die("out of memory");
	bench_fill_random(pattern, o.size + PAT_SHIFT, 0x6d72696e67ull);
}

/* Record `seq` into buf (o.size bytes), stamped `ts`. */
static void fill_record(uint8_t *buf, uint64_t seq, uint64_t ts)
{
	memcpy(buf, &seq, 8);
	memcpy(buf + 8, &ts, 8);
	memcpy(buf + HDR, pattern + seq % PAT_SHIFT, o.size - HDR);
}

/* Sleep until t0 + k * gap (CLOCK_MONOTONIC); at once if that is past. */
static void pace(uint64_t t0, uint64_t k, uint64_t gap)
{
	uint64_t due = t0 + k * gap;

	if (!gap || due <= bench_now_ns())
		return;
	struct timespec d = {.tv_sec = (time_t)(due / 1000000000u),
	                     .tv_nsec = (long)(due % 1000000000u)};
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL);
}

/* ---- NATS -------------------------------------------------------- */

static void nats_check(natsStatus s, jsErrCode jerr, const char *what)
{
	if (s == NATS_OK)
		return;
	bench_die("%s: %s (%s, JetStream error %d)", what,
	          natsStatus_GetText(s), nats_GetLastError(NULL), (int)jerr);
}

/* Connect to the comma-separated server list, retrying for o.timeout. */
static natsConnection *nats_connect(void)
{
	natsOptions *no = NULL;
	natsConnection *nc = NULL;
	const char *urls[16];
	char *list = strdup(o.servers), *save = NULL;
	int n = 0;

	if (!list)
		bench_die("out of memory");
	for (char *t = strtok_r(list, ",", &save); t && n < 16;
	     t = strtok_r(NULL, ",", &save))
		urls[n++] = t;
	nats_check(natsOptions_Create(&no), 0, "natsOptions_Create");
	nats_check(natsOptions_SetServers(no, urls, n), 0, "server list");
	/* Large records: the default 2 s can be short on a loaded box. */
	nats_check(natsOptions_SetTimeout(no, 10000), 0, "timeout");
	uint64_t end = bench_now_ns() + (uint64_t)(o.timeout * 1e9);
	natsStatus s;
	while ((s = natsConnection_Connect(&nc, no)) != NATS_OK &&
	       bench_now_ns() < end)
		usleep(100000);
	nats_check(s, 0, "connect");
	natsOptions_Destroy(no);
	free(list);
	return nc;
}

static jsCtx *js_context(natsConnection *nc, jsOptions *jo)
{
	jsCtx *js = NULL;

	nats_check(natsConnection_JetStream(&js, nc, jo), 0, "JetStream");
	return js;
}

/*
 * Create the stream: file storage, o.replicas, o.dup_window seconds of
 * duplicate detection. A new cluster takes a few seconds to elect its
 * JetStream leader, so "not available" is retried for o.timeout.
 */
static int mode_stream(void)
{
	natsConnection *nc = nats_connect();
	jsCtx *js = js_context(nc, NULL);
	jsErrCode jerr = 0;
	natsStatus s;
	uint64_t end = bench_now_ns() + (uint64_t)(o.timeout * 1e9);

	if (o.del) {
		s = js_DeleteStream(js, o.del, NULL, &jerr);
		if (s != NATS_OK && s != NATS_NOT_FOUND &&
		    jerr != JSStreamNotFoundErr)
			nats_check(s, jerr, "delete stream");
		printf("deleted=%s\n", o.del);
	} else {
		jsStreamConfig sc;
		const char *subj[1] = {o.subject};

		jsStreamConfig_Init(&sc);
		sc.Name = o.stream;
		sc.Subjects = subj;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		sc.Replicas = o.replicas;
		sc.Duplicates = (int64_t)o.dup_window * 1000000000;
		if (o.max_bytes)
			sc.MaxBytes = (int64_t)o.max_bytes;
		for (;;) {
			jerr = 0;
			s = js_AddStream(NULL, js, &sc, NULL, &jerr);
			if (s == NATS_OK || bench_now_ns() >= end)
				break;
			usleep(250000);
		}
		nats_check(s, jerr, "create stream");
		printf("created=%s replicas=%d\n", o.stream, o.replicas);
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return 0;
}

struct acks {
	_Atomic uint64_t ok, err, dup, last_ns;
	_Atomic int first_err_logged;
};

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
                   void *closure)
{
	struct acks *a = closure;

	(void)js;
	if (pae) {
		atomic_fetch_add(&a->err, 1);
		if (!atomic_exchange(&a->first_err_logged, 1))
			fprintf(stderr, "nats bare: publish failed: %s (%s)\n",
			        natsStatus_GetText(pae->Err),
			        pae->ErrText ? pae->ErrText : "");
	} else {
		atomic_fetch_add(&a->ok, 1);
		if (pa && pa->Duplicate)
			atomic_fetch_add(&a->dup, 1);
	}
	atomic_store(&a->last_ns, bench_now_ns());
	natsMsg_Destroy(msg);
}

/*
 * Wait until the consumer o.consumer of o.stream has acknowledged the
 * first n messages: the bare path is primed, as the bridge's is when its
 * drain has read the first records.
 */
static void prime_wait(jsCtx *js, uint64_t n)
{
	uint64_t end = bench_now_ns() + (uint64_t)(o.timeout * 1e9);

	for (;;) {
		jsConsumerInfo *ci = NULL;
		jsErrCode jerr = 0;
		natsStatus s = js_GetConsumerInfo(&ci, js, o.stream, o.consumer,
		                                  NULL, &jerr);
		uint64_t floor = s == NATS_OK ? ci->AckFloor.Stream : 0;

		if (ci)
			jsConsumerInfo_Destroy(ci);
		if (floor >= n)
			return;
		if (bench_now_ns() > end)
			bench_die("bare: the first %" PRIu64
			          " messages were not "
			          "acknowledged by consumer %s within %.0f s",
			          n, o.consumer, o.timeout);
		usleep(2000);
	}
}

/*
 * The baseline publisher. What it does per record is what a bridge must
 * do at least: build a message with its Nats-Msg-Id header, publish it
 * asynchronously with at most o.window unacknowledged, count the acks.
 */
static int mode_bare(void)
{
	natsConnection *nc = nats_connect();
	struct acks a = {0};
	jsOptions jo;

	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = o.window;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = &a;
	/* Block while the window is full rather than fail after 200 ms. */
	jo.PublishAsync.StallWait = (int64_t)(o.timeout * 1000);
	jsCtx *js = js_context(nc, &jo);
	uint8_t *buf = malloc(o.size);
	char id[96];
	uint64_t gap = o.rate > 0 ? (uint64_t)(1e9 / o.rate) : 0;

	if (!buf)
		bench_die("out of memory");
	make_pattern();
	if (gap)
		prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	uint64_t t0 = bench_now_ns(), k0 = 0;
	for (uint64_t i = 0; i < o.count; i++) {
		natsMsg *m = NULL;

		if (i == o.prime && i > 0) {
			prime_wait(js, i);
			t0 = bench_now_ns(), k0 = i;
		}
		if (i >= o.prime)
			pace(t0, i - k0, gap);
		fill_record(buf, i, realtime_ns());
		snprintf(id, sizeof(id), "%s%" PRIu64, o.msgid, i);
		nats_check(natsMsg_Create(&m, o.subject, NULL,
		                          (const char *)buf, (int)o.size),
		           0, "natsMsg_Create");
		nats_check(natsMsgHeader_Set(m, MSGID_HDR, id), 0,
		           "natsMsgHeader_Set");
		jsPubOptions po;
		jsPubOptions_Init(&po);
		if (o.like_bridge) {
			/* What mring-nats publish adds per message. */
			po.MaxWait = 5000;
			if (i)
				po.ExpectLastSeq = i;
			else
				po.ExpectNoMessage = true;
		}
		natsStatus s = js_PublishMsgAsync(js, &m, &po);
		if (s != NATS_OK) {
			natsMsg_Destroy(m);
			nats_check(s, 0, "js_PublishMsgAsync");
		}
	}
	jsPubOptions cpo;
	jsPubOptions_Init(&cpo);
	cpo.MaxWait = (int64_t)(o.timeout * 1000);
	natsStatus s = js_PublishAsyncComplete(js, &cpo);
	uint64_t t1 = atomic_load(&a.last_ns);
	nats_check(s, 0, "waiting for the last acknowledgements");
	double sec = (double)(t1 - t0) / 1e9;
	uint64_t ok = atomic_load(&a.ok);
	/* With --prime, the rate is that of the paced part. */
	double timed = (double)(ok - k0);
	printf("records=%" PRIu64 " errors=%" PRIu64 " duplicates=%" PRIu64
	       " seconds=%.6f rate=%.1f mbps=%.3f\n",
	       ok, atomic_load(&a.err), atomic_load(&a.dup), sec, timed / sec,
	       timed * (double)o.size / sec / 1e6);
	free(buf);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return ok == o.count && atomic_load(&a.err) == 0 ? 0 : 1;
}

/* ---- rings ------------------------------------------------------- */

static void ring_check(int rc, const char *what, const char *path)
{
	if (rc < 0)
		bench_die("%s %s: %s", what, path, mring_strerror(rc));
}

static int mode_mkring(const char *path)
{
	struct mring_config c;

	mring_config_init(&c);
	c.capacity = o.capacity;
	c.flags = MRING_F_RECORDS | MRING_F_TIMESTAMPS;
	c.max_record = (uint32_t)(o.size < 65536 ? 65536 : o.size);
	ring_check(mring_create(path, &c), "create", path);
	if (o.consumer)
		ring_check(mring_consumer_add(path, o.consumer,
		                              MRING_START_OLDEST),
		           "add consumer to", path);
	printf("ring=%s capacity=%" PRIu64 "\n", path, o.capacity);
	return 0;
}

/* 1 once `name` (or, NULL, the producer) has `path` open. */
static int peer_alive(const char *path, const char *name)
{
	struct mring_info info;
	struct mring_consumer_info cons[32];
	int n = mring_inspect(path, &info, cons, 32);

	ring_check(n, "inspect", path);
	if (!name)
		return info.producer_alive;
	for (int i = 0; i < n && i < 32; i++)
		if (strcmp(cons[i].name, name) == 0)
			return cons[i].alive;
	return 0;
}

/*
 * Before a paced run: wait until the bridge has the source ring open and,
 * with --far, the far ring has its writer (the subscriber) and its
 * reader, so that the first records do not wait for anybody to start.
 */
static void wait_peers(const char *path)
{
	uint64_t end = bench_now_ns() + (uint64_t)(o.timeout * 1e9);

	while (!(peer_alive(path, o.consumer) &&
	         (!o.far ||
	          (peer_alive(o.far, NULL) && peer_alive(o.far, "drain"))))) {
		if (bench_now_ns() > end)
			bench_die("produce: the bridge and the drain did not "
			          "open the rings within %.0f s",
			          o.timeout);
		usleep(20000);
	}
}

/* The drain's position in the far ring (0 until it has one). */
static uint64_t drain_position(void)
{
	struct mring_info info;
	struct mring_consumer_info cons[32];
	int n = mring_inspect(o.far, &info, cons, 32);

	ring_check(n, "inspect", o.far);
	for (int i = 0; i < n && i < 32; i++)
		if (strcmp(cons[i].name, "drain") == 0)
			return cons[i].position;
	return 0;
}

static int mode_produce(const char *path)
{
	struct mring *r = NULL;
	struct mring_config c;
	uint64_t gap = o.rate > 0 ? (uint64_t)(1e9 / o.rate) : 0;

	mring_config_init(&c);
	ring_check(mring_open(path, MRING_PRODUCER, &c, &r), "open", path);
	make_pattern();
	if (o.consumer && gap)
		wait_peers(path);
	/* Wake-ups on time: the default slack is 50 us. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	uint64_t t0 = bench_now_ns(), k0 = 0;
	for (uint64_t i = 0; i < o.count; i++) {
		void *p;

		if (o.far && i == o.prime && i > 0) {
			/*
			 * The path is primed once the drain has read the
			 * first records: both rings have the same layout,
			 * so they end at the same byte in the far ring.
			 */
			struct mring_where w;
			uint64_t end =
				bench_now_ns() + (uint64_t)(o.timeout * 1e9);

			mring_tell(r, &w);
			while (drain_position() < w.pos) {
				if (bench_now_ns() > end)
					bench_die("produce: the first %" PRIu64
					          " records did not reach the "
					          "drain within %.0f s",
					          o.prime, o.timeout);
				usleep(2000);
			}
			t0 = bench_now_ns(), k0 = i;
		}
		if (i >= o.prime)
			pace(t0, i - k0, gap);
		ring_check(
			mring_reserve(r, o.size, &p, (int)(o.timeout * 1000)),
			"reserve in", path);
		uint64_t ts = realtime_ns();
		fill_record(p, i, ts);
		ring_check(mring_commit_ts(r, o.size, ts), "commit to", path);
	}
	double sec = (double)(bench_now_ns() - t0) / 1e9;
	mring_close(r);
	printf("records=%" PRIu64 " seconds=%.6f rate=%.1f\n", o.count - k0,
	       sec, (double)(o.count - k0) / sec);
	return 0;
}

/* What a reader saw: counts, and the latency histogram. */
struct seen {
	uint64_t got, expect, dups, gaps, bad, badts, early;
	uint64_t t_last, rt_last;
	uint64_t timed, t_timed; /* records past --warmup, first seen at */
	struct bench_hist h;
};

/*
 * Check one record seen at CLOCK_REALTIME `now`. From the far ring
 * (ring): its stamp ring_ts must be the one inside the record, the
 * producer's, and latency is taken from it; straight from NATS
 * (bare-sub): from the stamp inside.
 */
static void see(struct seen *v, const uint8_t *p, size_t len, bool ring,
                uint64_t ring_ts, uint64_t now)
{
	uint64_t seq, ts;

	v->got++;
	if (len != o.size) {
		v->bad++;
		return;
	}
	memcpy(&seq, p, 8);
	memcpy(&ts, p + 8, 8);
	if (memcmp(p + HDR, pattern + seq % PAT_SHIFT, o.size - HDR) != 0) {
		v->bad++;
		return;
	}
	if (seq < v->expect) {
		v->dups++;
		return;
	}
	if (seq > v->expect)
		v->gaps += seq - v->expect;
	v->expect = seq + 1;
	if (ring) {
		if (ring_ts != ts)
			v->badts++;
		ts = ring_ts;
	}
	if (seq < o.warmup)
		return;
	if (!v->timed++)
		v->t_timed = v->t_last;
	if (now >= ts)
		bench_hist_add(&v->h, now - ts);
	else
		v->early++, bench_hist_add(&v->h, 0);
}

/* A batch arrived: the time its records were seen (CLOCK_MONOTONIC). */
static void seen_batch(struct seen *v)
{
	v->t_last = bench_now_ns();
}

/* Print the reader's line; 3 unless every record came once, intact. */
static int seen_report(const char *who, struct seen *v, const char *why)
{
	uint64_t good = v->got - v->dups - v->bad;
	uint64_t missing =
		v->gaps + (o.count > v->expect ? o.count - v->expect : 0);
	/* The rate of what came after the warm-up (all, without one). */
	double sec = v->timed > 1 ? (double)(v->t_last - v->t_timed) / 1e9 : 0;

	printf("records=%" PRIu64 " expected=%" PRIu64 " end=%s"
	       " duplicates=%" PRIu64 " missing=%" PRIu64 " bad=%" PRIu64
	       " bad_stamps=%" PRIu64 " clock_early=%" PRIu64
	       " seconds=%.6f rate=%.1f mbps=%.3f t_last_ns=%" PRIu64
	       " lat_n=%" PRIu64
	       " p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f\n",
	       good, o.count, why, v->dups, missing, v->bad, v->badts, v->early,
	       sec, sec > 0 ? (double)v->timed / sec : 0,
	       sec > 0 ? (double)v->timed * (double)o.size / sec / 1e6 : 0,
	       v->rt_last, v->h.n, bench_hist_quantile(&v->h, 0.5) / 1e3,
	       bench_hist_quantile(&v->h, 0.99) / 1e3,
	       bench_hist_quantile(&v->h, 0.999) / 1e3,
	       bench_hist_quantile(&v->h, 1) / 1e3);
	if (good == o.count && !v->dups && !v->bad && !v->badts && !missing)
		return 0;
	fprintf(stderr,
	        "nats %s: %" PRIu64 " of %" PRIu64 " records (%s), %" PRIu64
	        " missing, %" PRIu64 " duplicates, %" PRIu64 " bad, %" PRIu64
	        " with another stamp than the producer's\n",
	        who, good, o.count, why, missing, v->dups, v->bad, v->badts);
	return 3;
}

/*
 * Read o.count records from the far ring. Latency is taken once per
 * batch: every record of a batch was visible when mring_peek_many
 * returned.
 */
static int mode_drain(const char *path)
{
	struct mring *r = NULL;
	struct mring_config c;
	struct mring_msg msgs[BATCH];
	static struct seen v;
	int tmo = (int)(o.timeout * 1000);
	const char *why = "done";

	mring_config_init(&c);
	c.consumer_name = o.consumer ? o.consumer : "drain";
	ring_check(mring_open(path, MRING_CONSUMER, &c, &r), "open", path);
	make_pattern();
	while (v.got < o.count) {
		ssize_t n = mring_peek_many(r, msgs, BATCH, tmo);

		if (n == -ETIMEDOUT) {
			why = "timeout";
			break;
		}
		if (n == 0) {
			why = "eof";
			break;
		}
		ring_check((int)n, "read", path);
		v.rt_last = realtime_ns();
		seen_batch(&v);
		for (ssize_t k = 0; k < n; k++)
			see(&v, msgs[k].ptr, msgs[k].len, true, msgs[k].ts,
			    v.rt_last);
		ring_check(mring_release_many(r, (size_t)n), "release in",
		           path);
	}
	mring_close(r);
	return seen_report("drain", &v, why);
}

/*
 * The subscribe baseline: a bare JetStream consumer of the stream
 * (durable, explicit acks), the records stamped by bench/nats bare;
 * latency = now - the stamp inside the record. Push (default): a
 * synchronous push subscription, one message at a time as the server
 * sends them. --pull: a pull subscription fetching up to BATCH at once.
 */
static int mode_bare_sub(void)
{
	natsConnection *nc = nats_connect();
	jsCtx *js = js_context(nc, NULL);
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	static struct seen v;
	const char *why = "done";
	const char *durable = o.consumer ? o.consumer : "bare";
	uint64_t idle = bench_now_ns();

	jsSubOptions_Init(&so);
	so.Stream = o.stream;
	so.Config.AckPolicy = js_AckExplicit;
	so.Config.MaxAckPending = 65536;
	if (o.pull) {
		nats_check(js_PullSubscribe(&sub, js, o.subject, durable, NULL,
		                            &so, &jerr),
		           jerr, "pull subscribe");
	} else {
		so.Config.Durable = durable;
		nats_check(natsConnection_Flush(nc), 0, "flush");
		nats_check(
			js_SubscribeSync(&sub, js, o.subject, NULL, &so, &jerr),
			jerr, "subscribe");
		/* No client-side limit below the server's window. */
		nats_check(natsSubscription_SetPendingLimits(sub, -1, -1), 0,
		           "pending limits");
	}
	make_pattern();
	/* Tell the driver the consumer exists: it starts publishing now. */
	printf("ready\n");
	fflush(stdout);
	while (v.got < o.count) {
		natsMsgList list = {0};
		natsMsg *one = NULL;
		natsStatus s;

		if (o.pull) {
			/*
			 * libnats 3.4's Fetch writes past its array when more
			 * than half a batch was already queued (late answers
			 * to an earlier request): take those one at a time,
			 * as mring-nats subscribe does.
			 */
			int pm = 0, pb = 0, want = BATCH;

			/* No more than is left, as the bridge's --count. */
			if (o.count - v.got < (uint64_t)want)
				want = (int)(o.count - v.got);

			if (natsSubscription_GetPending(sub, &pm, &pb) ==
			            NATS_OK &&
			    pm > 0)
				want = 1;
			s = natsSubscription_Fetch(&list, sub, want, 500,
			                           &jerr);
		} else
			s = natsSubscription_NextMsg(&one, sub, 500);
		if (s == NATS_TIMEOUT) {
			if (bench_now_ns() - idle >
			    (uint64_t)(o.timeout * 1e9)) {
				why = "timeout";
				break;
			}
			continue;
		}
		nats_check(s, jerr, o.pull ? "fetch" : "next message");
		if (one) {
			list.Msgs = &one;
			list.Count = 1;
		}
		v.rt_last = realtime_ns();
		idle = bench_now_ns();
		seen_batch(&v);
		for (int k = 0; k < list.Count; k++) {
			natsMsg *m = list.Msgs[k];

			see(&v, (const uint8_t *)natsMsg_GetData(m),
			    (size_t)natsMsg_GetDataLength(m), false, 0,
			    v.rt_last);
			nats_check(natsMsg_Ack(m, NULL), 0, "ack");
		}
		if (one)
			natsMsg_Destroy(one);
		else
			natsMsgList_Destroy(&list);
	}
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return seen_report("bare-sub", &v, why);
}

/* ---- command line ------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: mring-bench-nats MODE [options]\n"
	        "  stream  -s URLS --stream NAME --subject SUBJ [--replicas N]\n"
	        "          [--dup-window SEC] [--max-bytes SIZE] | --delete NAME\n"
	        "  bare    -s URLS --subject SUBJ --size S --count N [--window W]\n"
	        "          [--rate R [--prime K --stream NAME --consumer DURABLE]]\n"
	        "          [--msg-id PREFIX] [--like-bridge]\n"
	        "  bare-sub -s URLS --stream NAME --subject SUBJ --size S --count N\n"
	        "          [--consumer DURABLE] [--pull] [--warmup K] [--timeout SEC]\n"
	        "  mkring  RING [--capacity SIZE] [--size S] [--consumer NAME]\n"
	        "  produce RING --size S --count N [--rate R]\n"
	        "          [--consumer NAME [--far RING [--prime K]]]\n"
	        "  drain   RING --size S --count N [--consumer NAME]\n"
	        "          [--warmup K] [--timeout SEC]\n"
	        "Records: S bytes (>= 16): number, CLOCK_REALTIME stamp, a\n"
	        "pattern. --rate paces records per second (default: as fast\n"
	        "as possible). --timeout (default 30 s): how long to wait for\n"
	        "a server, the peers, or (drain) the next record.\n"
	        "--prime K (with --rate): write the first K records at once,\n"
	        "wait until the reader has them (bare: the consumer's ack\n"
	        "floor; produce: the drain's position in the far ring),\n"
	        "then pace the rest: latency is measured on a warm path.\n"
	        "--like-bridge (diagnostic): each publish also carries what\n"
	        "mring-nats publish adds, ExpectLastSeq and a 5 s MaxWait\n"
	        "(a fresh stream: the sequence starts at 0).\n"
	        "Prints one line of key=value results on stdout.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"servers", required_argument, NULL, 's'},
		{"stream", required_argument, NULL, 'S'},
		{"subject", required_argument, NULL, 'j'},
		{"consumer", required_argument, NULL, 'c'},
		{"far", required_argument, NULL, 'f'},
		{"msg-id", required_argument, NULL, 'm'},
		{"delete", required_argument, NULL, 'D'},
		{"size", required_argument, NULL, 'z'},
		{"count", required_argument, NULL, 'n'},
		{"capacity", required_argument, NULL, 'C'},
		{"max-bytes", required_argument, NULL, 'B'},
		{"warmup", required_argument, NULL, 'w'},
		{"rate", required_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 't'},
		{"window", required_argument, NULL, 'W'},
		{"replicas", required_argument, NULL, 'R'},
		{"dup-window", required_argument, NULL, 'd'},
		{"pull", no_argument, NULL, 'P'},
		{"like-bridge", no_argument, NULL, 'L'},
		{"prime", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int ch;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	const char *mode = argv[1];
	o.msgid = "bench-";
	optind = 2;
	while ((ch = getopt_long(argc, argv, "s:h", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			o.servers = optarg;
			break;
		case 'S':
			o.stream = optarg;
			break;
		case 'j':
			o.subject = optarg;
			break;
		case 'c':
			o.consumer = optarg;
			break;
		case 'f':
			o.far = optarg;
			break;
		case 'm':
			o.msgid = optarg;
			break;
		case 'D':
			o.del = optarg;
			break;
		case 'z':
			if (bench_parse_size(optarg, &o.size))
				bench_die("bad --size %s", optarg);
			break;
		case 'n':
			o.count = strtoull(optarg, NULL, 10);
			break;
		case 'C':
			if (bench_parse_size(optarg, &o.capacity))
				bench_die("bad --capacity %s", optarg);
			break;
		case 'B':
			if (bench_parse_size(optarg, &o.max_bytes))
				bench_die("bad --max-bytes %s", optarg);
			break;
		case 'w':
			o.warmup = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			o.rate = strtod(optarg, NULL);
			break;
		case 't':
			o.timeout = strtod(optarg, NULL);
			break;
		case 'W':
			o.window = strtol(optarg, NULL, 10);
			break;
		case 'R':
			o.replicas = atoi(optarg);
			break;
		case 'd':
			o.dup_window = atoi(optarg);
			break;
		case 'P':
			o.pull = true;
			break;
		case 'L':
			o.like_bridge = true;
			break;
		case 'p':
			o.prime = strtoull(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.size < HDR || o.size > (64u << 20))
		bench_die("--size must be 16 B .. 64 MiB");
	if (o.window < 1 || o.timeout <= 0)
		bench_die("--window and --timeout must be positive");
	const char *ring = optind < argc ? argv[optind] : NULL;
	bool is_nats = !strcmp(mode, "stream") || !strcmp(mode, "bare") ||
	               !strcmp(mode, "bare-sub");
	if (is_nats && !o.servers)
		bench_die("%s: -s URLS is required", mode);
	if (!is_nats && !ring)
		bench_die("%s: the RING path is required", mode);

	if (!strcmp(mode, "stream")) {
		if (!o.del && (!o.stream || !o.subject))
			bench_die(
				"stream: --stream and --subject are required");
		return mode_stream();
	}
	if (!strcmp(mode, "bare")) {
		if (!o.subject || !o.count)
			bench_die("bare: --subject and --count are required");
		if (o.prime && (!o.stream || !o.consumer))
			bench_die(
				"bare: --prime needs --stream and --consumer");
		return mode_bare();
	}
	if (!strcmp(mode, "bare-sub")) {
		if (!o.stream || !o.subject || !o.count)
			bench_die(
				"bare-sub: --stream, --subject and --count are "
				"required");
		return mode_bare_sub();
	}
	if (!strcmp(mode, "mkring"))
		return mode_mkring(ring);
	if (!strcmp(mode, "produce")) {
		if (!o.count)
			bench_die("produce: --count is required");
		if (o.prime && !o.far)
			bench_die("produce: --prime needs --far");
		return mode_produce(ring);
	}
	if (!strcmp(mode, "drain")) {
		if (!o.count)
			bench_die("drain: --count is required");
		return mode_drain(ring);
	}
	usage(stderr);
	return 2;
}
