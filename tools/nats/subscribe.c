/*
 * mring-nats subscribe: a JetStream stream into a local record ring, as
 * the ring's (only) producer.
 *
 * The far ring's records are byte-identical to the messages, so which
 * stream sequence a record came from is kept beside the ring, in the
 * sidecar file RING.nats (sidecar.c). Each batch is written so:
 *
 *   1. sidecar slot (gen g, slot g % 2) := {first record H, the batch's
 *      stream sequences}; with --sync batch, fdatasync(sidecar);
 *   2. commit the batch's records H, H+1, ... into the ring;
 *   3. with --sync batch, mring_sync(ring);
 *   4. acknowledge the batch's messages to JetStream.
 *
 * On start, with the ring's next record number H (mring_tell), the
 * record H-1 is found in the newest slot that covers it; its stream
 * sequence L is where the ring stands. The JetStream durable consumer
 * is then re-created to deliver from L+1: nothing the ring holds comes
 * again, nothing after it is skipped -- whatever the old consumer had
 * delivered to a dead bridge or had pending. While running, any delivery
 * the bridge did not see (a gap in the consumer's delivery sequence,
 * after a reconnect) re-creates it the same way. README.md beside this
 * file gives the crash argument for every step.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "sidecar.h"

static const char usage[] =
	"Usage: mring-nats subscribe RING -s URL[,URL...] --stream NAME "
	"--durable NAME\n"
	"                            [OPTIONS]\n"
	"\n"
	"Copy the JetStream stream NAME into the record ring RING, as the\n"
	"ring's producer: each message becomes one record with the same\n"
	"bytes, in stream order, exactly once, also across restarts and\n"
	"crashes. A message is acknowledged only after its record was\n"
	"committed (and, with --sync batch, made durable). Which stream\n"
	"sequence the ring holds last is kept in RING.nats beside the ring;\n"
	"the durable consumer NAME is (re)created on the server to deliver\n"
	"from the next one. Records keep the Mring-Ts header's stamp in a\n"
	"ring made with --timestamps. Runs until a signal (SIGINT, SIGTERM:\n"
	"finishes the batch in hand, exits 0), --count or --idle-exit.\n"
	"\n"
	"Options:\n"
	"  -s, --server URLS      NATS server URLs, comma-separated\n"
	"      --stream NAME      the stream to copy\n"
	"      --durable NAME     the JetStream durable consumer's name\n"
	"      --subject FILTER   only the stream's messages on FILTER\n"
	"      --batch N          messages fetched and committed at once\n"
	"                         (default 256, at most 1024)\n"
	"      --sync MODE        batch: make each batch durable (fdatasync)\n"
	"                         before acknowledging it (the default); none:\n"
	"                         acknowledge once committed: a crash of the\n"
	"                         bridge loses nothing, a power cut may\n"
	"      --create-ring      create RING if it does not exist, with:\n"
	"        --capacity SIZE  its data capacity (e.g. 1G)\n"
	"        --max-record SIZE  its largest record (default 1M)\n"
	"        --timestamps     records carry a timestamp (from Mring-Ts)\n"
	"      --creds FILE       NATS credentials file (user JWT and seed)\n"
	"      --connect-wait SEC give up connecting after SEC seconds\n"
	"                         (default: retry until a server answers)\n"
	"      --count N          exit 0 once N records were written\n"
	"      --idle-exit SEC    exit 0 once nothing came for SEC seconds\n"
	"                         and nothing is pending for the consumer\n"
	"      --progress[=WHEN]  rates and counters on stderr; WHEN is auto\n"
	"                         (a terminal only; the default), always or "
	"never\n"
	"      --json             the final counters as one JSON object on "
	"stdout\n"
	"      --prom FILE        the counters in Prometheus text format,\n"
	"                         rewritten (atomically) every second\n"
	"      --any-owner        open the ring even if another user owns it\n"
	"  -h, --help             show this help\n"
	"\n"
	"Exit status: 0 done or stopped by a signal, 1 failure, 2 bad usage.\n";

enum {
	C_WRITTEN,     /* records committed into the ring */
	C_BYTES,       /* their payload bytes */
	C_ACKED,       /* messages acknowledged */
	C_REDELIVERED, /* deliveries marked as redelivered by the server */
	C_DUPLICATES,  /* deliveries the ring already held: skipped */
	C_RESETS,      /* consumer re-created after a missed delivery */
	C_SYNCS,       /* batches made durable */
	C_N
};

static struct counter counters[C_N] = {
	{"written", "records committed into the ring", 0, 0},
	{"written_bytes", "payload bytes committed into the ring", 0, 0},
	{"acknowledged", "messages acknowledged to JetStream", 0, 0},
	{"redelivered", "deliveries the server marked as redelivered", 0, 0},
	{"duplicates", "deliveries of messages the ring held: skipped", 0, 0},
	{"resets", "durable consumer re-created at the ring's place", 0, 0},
	{"syncs", "batches made durable before acknowledging", 0, 0},
};

struct sub {
	struct bopts o;
	struct mring *r;
	struct sidecar sc;
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub;
	uint64_t last;      /* stream sequence of the ring's last record */
	uint64_t next_rec;  /* the ring's next record number */
	uint64_t next_dseq; /* the consumer's next delivery sequence */
	unsigned reconnects_seen; /* bridge_reconnects when last handled */
	/* Unsubscribed, destroyed only once the connection is closed. */
	natsSubscription *retired[32];
	int nretired;
	int timestamps;
	uint64_t max_record;
};

static struct mring *wake_ring;

static void wake(void)
{
	if (wake_ring)
		mring_interrupt(wake_ring);
}

/* (Re)create the durable consumer to deliver after p->last. */
static int reset_consumer(struct sub *p)
{
	double said = 0;
	char err[256];

	if (p->sub) {
		/*
		 * Not destroyed yet: libnats 3.4's reader thread can still be
		 * handing it a message, and crashed on the freed subscription
		 * (SIGSEGV in natsConn_processMsg, an outage test, 1 run in
		 * 5). Destroyed after the connection is closed; if resets
		 * pile up, the oldest goes now, long unsubscribed.
		 */
		natsSubscription_Unsubscribe(p->sub);
		if (p->nretired ==
		    (int)(sizeof(p->retired) / sizeof(p->retired[0]))) {
			natsSubscription_Destroy(p->retired[0]);
			memmove(p->retired, p->retired + 1,
			        sizeof(p->retired) - sizeof(p->retired[0]));
			p->nretired--;
		}
		p->retired[p->nretired++] = p->sub;
		p->sub = NULL;
	}
	while (!bridge_stop) {
		jsErrCode ec = 0;
		natsStatus s = js_DeleteConsumer(p->js, p->o.stream,
		                                 p->o.durable, NULL, &ec);
		if (s == NATS_OK || s == NATS_NOT_FOUND ||
		    ec == JSConsumerNotFoundErr) {
			jsConsumerConfig cc;
			jsConsumerInfo *ci = NULL;
			jsConsumerConfig_Init(&cc);
			cc.Durable = p->o.durable;
			cc.AckPolicy = js_AckExplicit;
			cc.AckWait = 60 * (int64_t)1000000000;
			cc.MaxAckPending = 65536;
			cc.FilterSubject = p->o.subject;
			if (p->last) {
				cc.DeliverPolicy = js_DeliverByStartSequence;
				cc.OptStartSeq = p->last + 1;
			} else {
				cc.DeliverPolicy = js_DeliverAll;
			}
			s = js_AddConsumer(&ci, p->js, p->o.stream, &cc, NULL,
			                   &ec);
			if (s == NATS_OK) {
				jsConsumerInfo_Destroy(ci);
				jsSubOptions so;
				jsSubOptions_Init(&so);
				so.Stream = p->o.stream;
				so.Consumer = p->o.durable;
				s = js_PullSubscribe(&p->sub, p->js,
				                     p->o.subject, p->o.durable,
				                     NULL, &so, &ec);
				if (s == NATS_OK) {
					p->next_dseq = 1;
					return 0;
				}
			}
		}
		if (ec == JSStreamNotFoundErr) {
			msg("stream '%s' not found on the server; check "
			    "--stream (the publishing side creates it)",
			    p->o.stream);
			return EXIT_FAIL;
		}
		double t = now_s();
		if (said == 0 || t - said >= 5) {
			msg("cannot set up the durable consumer '%s' on stream "
			    "'%s' yet (%s, JetStream error %d); retrying",
			    p->o.durable, p->o.stream,
			    nats_err(s, err, sizeof(err)), (int)ec);
			said = t;
		}
		nap_ms(500);
	}
	return RC_STOPPED;
}

/*
 * --idle-exit ends a run that has nothing more to get, not one that got
 * nothing for a while: under load the server's deliveries can pause for
 * longer than the idle time while the stream still holds records for this
 * consumer (a test on a loaded machine ended with 3,692 of 25,000 records
 * still to come). Asked at the idle time: 1 when the consumer has nothing
 * pending, or when the server cannot say (unreachable: idle it is).
 */
static int caught_up(struct sub *p)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode ec = 0;

	if (natsSubscription_GetConsumerInfo(&ci, p->sub, NULL, &ec) != NATS_OK)
		return 1;
	int done = ci->NumPending == 0;
	jsConsumerInfo_Destroy(ci);
	return done;
}

/* Reserve and commit one record; 0, 1 (stopped), or an exit status. */
static int put(struct sub *p, natsMsg *m)
{
	const char *data = natsMsg_GetData(m), *ts = NULL;
	int len = natsMsg_GetDataLength(m);
	void *ptr;
	int rc;

	for (;;) {
		rc = mring_reserve(p->r, (size_t)len, &ptr, 250);
		if (rc == 0)
			break;
		if (rc == -ETIMEDOUT || rc == -ECANCELED) {
			if (bridge_stop)
				return 1;
			continue;
		}
		return ring_err(p->o.ring, rc, USE_PRODUCER, NULL);
	}
	memcpy(ptr, data, (size_t)len);
	if (p->timestamps && natsMsgHeader_Get(m, "Mring-Ts", &ts) == NATS_OK &&
	    ts) {
		char *end;
		errno = 0;
		uint64_t t = strtoull(ts, &end, 10);
		if (!errno && !*end && end != ts)
			return mring_commit_ts(p->r, (size_t)len, t) < 0
			               ? EXIT_FAIL
			               : 0;
	}
	rc = mring_commit(p->r, (size_t)len);
	return rc < 0 ? ring_err(p->o.ring, rc, USE_PRODUCER, NULL) : 0;
}

/*
 * Write the messages of list (indexes in take[0..n)) as one batch and
 * acknowledge them. Returns 0, 1 (stopped part way: what was committed
 * is acknowledged) or an exit status.
 */
static int write_batch(struct sub *p, natsMsg **ms, int n, const uint64_t *seqs)
{
	int rc = sidecar_put(&p->sc, p->next_rec, seqs, (unsigned)n,
	                     p->o.sync == SYNC_BATCH);
	int done = 0, stop = 0;

	if (rc < 0) {
		msg("%s: cannot write it: %s", p->sc.path, strerror(-rc));
		return EXIT_FAIL;
	}
	for (; done < n; done++) {
		rc = put(p, ms[done]);
		if (rc == 1) {
			stop = 1;
			break;
		}
		if (rc)
			return rc;
		counters[C_WRITTEN].v++;
		counters[C_BYTES].v +=
			(uint64_t)natsMsg_GetDataLength(ms[done]);
	}
	if (done == 0)
		return stop;
	p->next_rec += (uint64_t)done;
	p->last = seqs[done - 1];
	if (p->o.sync == SYNC_BATCH) {
		rc = mring_sync(p->r);
		if (rc < 0) {
			msg("%s: cannot make the batch durable: %s; not "
			    "acknowledging it",
			    p->o.ring, mring_strerror(rc));
			return EXIT_FAIL;
		}
		counters[C_SYNCS].v++;
	}
	for (int i = 0; i < done; i++)
		if (natsMsg_Ack(ms[i], NULL) == NATS_OK)
			counters[C_ACKED].v++;
	return stop;
}

static int parse_args(int argc, char **argv, struct bopts *o)
{
	enum {
		O_DURABLE = 256,
		O_BATCH,
		O_SYNC,
		O_CREATE,
		O_CAP,
		O_MAXREC,
		O_TS,
	};
	static const struct option lo[] = {
		{"durable", required_argument, NULL, O_DURABLE},
		{"batch", required_argument, NULL, O_BATCH},
		{"sync", required_argument, NULL, O_SYNC},
		{"create-ring", no_argument, NULL, O_CREATE},
		{"capacity", required_argument, NULL, O_CAP},
		{"max-record", required_argument, NULL, O_MAXREC},
		{"timestamps", no_argument, NULL, O_TS},
		BRIDGE_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	int c;

	o->batch = 256;
	o->sync = SYNC_BATCH;
	o->progress = PROGRESS_AUTO;
	while ((c = getopt_long(argc, argv, "s:h", lo, NULL)) != -1) {
		int rc = bridge_common_opt(c, optarg, o);
		if (rc < 0)
			return EXIT_USAGE;
		if (rc > 0)
			continue;
		switch (c) {
		case O_DURABLE:
			o->durable = optarg;
			break;
		case O_BATCH:
			if (parse_uint("--batch", optarg, 1, SIDECAR_MAX_BATCH,
			               &o->batch))
				return EXIT_USAGE;
			break;
		case O_SYNC:
			if (!strcmp(optarg, "batch"))
				o->sync = SYNC_BATCH;
			else if (!strcmp(optarg, "none"))
				o->sync = SYNC_NONE;
			else
				return usage_err("subscribe",
				                 "--sync %s: "
				                 "expected batch or none",
				                 optarg);
			break;
		case O_CREATE:
			o->create_ring = 1;
			break;
		case O_CAP:
			if (parse_size("--capacity", optarg, &o->capacity))
				return EXIT_USAGE;
			break;
		case O_MAXREC:
			if (parse_size("--max-record", optarg, &o->max_record))
				return EXIT_USAGE;
			break;
		case O_TS:
			o->timestamps = 1;
			break;
		case 'h':
			return print_help(usage) == EXIT_OK ? -1 : EXIT_USAGE;
		default:
			return usage_err("subscribe", "bad option");
		}
	}
	if (optind + 1 != argc)
		return usage_err("subscribe",
		                 optind >= argc ? "the ring file is missing"
		                                : "one ring file only");
	o->ring = argv[optind];
	if (!o->servers)
		return usage_err("subscribe", "-s URL is required (e.g. -s "
		                              "nats://127.0.0.1:4222)");
	if (!o->stream || !o->durable)
		return usage_err("subscribe", "--stream and --durable are "
		                              "required");
	if ((o->capacity || o->timestamps || o->max_record) && !o->create_ring)
		return usage_err("subscribe", "--capacity, --max-record and "
		                              "--timestamps go with "
		                              "--create-ring");
	if (o->create_ring && !o->capacity)
		return usage_err("subscribe", "--create-ring needs --capacity "
		                              "SIZE");
	return 0;
}

static int open_ring(struct sub *p)
{
	struct mring_config cfg;
	struct mring_info in;
	int rc;

	if (p->o.create_ring && access(p->o.ring, F_OK) != 0) {
		mring_config_init(&cfg);
		cfg.capacity = p->o.capacity;
		cfg.max_record = (uint32_t)p->o.max_record;
		cfg.flags = MRING_F_RECORDS |
		            (p->o.timestamps ? MRING_F_TIMESTAMPS : 0);
		rc = mring_create(p->o.ring, &cfg);
		if (rc < 0 && rc != -EEXIST) {
			if (rc == -EINVAL)
				msg("cannot create %s: bad geometry (capacity "
				    "a multiple of the page size, max record "
				    "at most about half of it)",
				    p->o.ring);
			return ring_err(p->o.ring, rc, USE_CREATE, NULL);
		}
	}
	rc = mring_inspect(p->o.ring, &in, NULL, 0);
	if (rc < 0)
		return ring_err(p->o.ring, rc, USE_INSPECT, NULL);
	if (!(in.flags & MRING_F_RECORDS)) {
		msg("%s is a byte ring; the bridge writes records (create it "
		    "with --create-ring, or 'mring create --records')",
		    p->o.ring);
		return EXIT_USAGE;
	}
	p->timestamps = !!(in.flags & MRING_F_TIMESTAMPS);
	p->max_record = in.max_record;
	mring_config_init(&cfg);
	if (p->o.any_owner)
		cfg.flags |= MRING_F_ANY_OWNER;
	rc = mring_open(p->o.ring, MRING_PRODUCER, &cfg, &p->r);
	if (rc == -EBUSY) {
		msg("%s: another process writes to this ring (its producer "
		    "role is taken): only one subscribe bridge, and no other "
		    "writer, per ring",
		    p->o.ring);
		return EXIT_FAIL;
	}
	if (rc < 0)
		return ring_err(p->o.ring, rc, USE_PRODUCER, NULL);
	struct mring_where w;
	mring_tell(p->r, &w);
	p->next_rec = w.seq;
	rc = sidecar_open(&p->sc, p->o.ring, in.created_ns, p->o.stream);
	if (rc)
		return rc;
	rc = sidecar_last(&p->sc, p->next_rec, &p->last);
	if (rc)
		return rc;
	return 0;
}

int cmd_subscribe(int argc, char **argv)
{
	struct sub *p = calloc(1, sizeof(*p));
	struct report rp;
	natsMsgList list = {0};
	natsMsg **take = NULL;
	uint64_t *seqs = NULL;
	int rc;

	if (!p)
		return EXIT_FAIL;
	p->sc.fd = -1;
	rc = parse_args(argc, argv, &p->o);
	if (rc) {
		free(p);
		return rc < 0 ? EXIT_OK : rc;
	}
	take = calloc(p->o.batch, sizeof(*take));
	seqs = calloc(p->o.batch, sizeof(*seqs));
	if (!take || !seqs) {
		rc = EXIT_FAIL;
		goto out;
	}
	bridge_signals(wake);
	rc = open_ring(p);
	if (rc)
		goto out;
	wake_ring = p->r;
	char name[300];
	snprintf(name, sizeof(name), "mring-nats subscribe %s", p->o.ring);
	rc = bridge_connect(&p->o, name, &p->nc, &p->js);
	if (rc)
		goto out;
	jsOptions jo;
	jsOptions_Init(&jo);
	natsStatus st = natsConnection_JetStream(&p->js, p->nc, &jo);
	if (st != NATS_OK) {
		char err[256];
		msg("JetStream context: %s", nats_err(st, err, sizeof(err)));
		rc = EXIT_FAIL;
		goto out;
	}
	rc = bridge_stream(&p->o, p->js);
	if (rc)
		goto out;
	rc = reset_consumer(p);
	if (rc)
		goto out;

	report_init(&rp, &p->o, "written", counters, C_N, C_WRITTEN, C_BYTES);
	double idle_since = now_s(), said = 0;
	while (!bridge_stop) {
		report_tick(&rp);
		if (p->o.count && counters[C_WRITTEN].v >= p->o.count)
			break;
		int want = (int)p->o.batch;
		if (p->o.count &&
		    p->o.count - counters[C_WRITTEN].v < (uint64_t)want)
			want = (int)(p->o.count - counters[C_WRITTEN].v);
		/*
		 * libnats 3.4's Fetch first takes messages already queued in
		 * the subscription (late answers to an earlier request, after
		 * a time-out or a reconnect), then, if it has fewer than
		 * asked, loops until it holds "asked minus queued" -- which it
		 * is already past when more than half came from the queue:
		 * it then writes beyond its array (seen under ASan). With one
		 * asked for, what is queued is taken one at a time and
		 * that cannot happen.
		 */
		/*
		 * After a reconnect, answers to a pull request of the old
		 * connection can still arrive, and are what fills the queue
		 * (above). A new subscription (new inbox) and consumer at
		 * the ring's next sequence leave them nowhere to land: an
		 * outage test's subscriber crashed (SIGSEGV) once in 5
		 * loaded runs, its last words "reconnected".
		 */
		unsigned rcn = atomic_load(&bridge_reconnects);
		if (rcn != p->reconnects_seen) {
			p->reconnects_seen = rcn;
			counters[C_RESETS].v++;
			rc = reset_consumer(p);
			if (rc)
				break;
		}
		int pm = 0, pb = 0;
		if (natsSubscription_GetPending(p->sub, &pm, &pb) == NATS_OK &&
		    pm > 0)
			want = 1;
		jsErrCode ec = 0;
		st = natsSubscription_Fetch(&list, p->sub, want, 500, &ec);
		if (st == NATS_OK && list.Count > want) {
			msg("the NATS client returned %d messages for %d asked "
			    "(a libnats fault); stopping: a restart resumes "
			    "exactly after the ring's last record",
			    list.Count, want);
			natsMsgList_Destroy(&list);
			rc = EXIT_FAIL;
			break;
		}
		double t = now_s();
		if (st == NATS_TIMEOUT || (st == NATS_OK && list.Count == 0)) {
			natsMsgList_Destroy(&list);
			nap_ms(20); /* late answers land before the check */
			if (p->o.idle_exit > 0 &&
			    t - idle_since >= p->o.idle_exit) {
				if (caught_up(p))
					break;
				idle_since = t;
			}
			continue;
		}
		if (st != NATS_OK) {
			char err[256];
			natsMsgList_Destroy(&list);
			if (said == 0 || t - said >= 5) {
				msg("fetching from '%s': %s; retrying",
				    p->o.durable,
				    nats_err(st, err, sizeof(err)));
				said = t;
			}
			nap_ms(250);
			/* The consumer may be gone (a cluster lost it). */
			if (ec == JSConsumerNotFoundErr ||
			    st == NATS_NOT_FOUND) {
				counters[C_RESETS].v++;
				rc = reset_consumer(p);
				if (rc)
					break;
			}
			continue;
		}
		idle_since = t;
		int n = 0, gap = 0;
		for (int i = 0; i < list.Count; i++) {
			natsMsg *m = list.Msgs[i];
			jsMsgMetaData *md = NULL;
			if (natsMsg_GetMetaData(&md, m) != NATS_OK) {
				gap = 1; /* not a JetStream delivery */
				break;
			}
			uint64_t sseq = md->Sequence.Stream;
			uint64_t dseq = md->Sequence.Consumer;
			if (md->NumDelivered > 1)
				counters[C_REDELIVERED].v++;
			jsMsgMetaData_Destroy(md);
			if (dseq != p->next_dseq) {
				/* A delivery we never saw: it may be one the
				 * ring needs. Start over after p->last. */
				gap = 1;
				break;
			}
			p->next_dseq++;
			if (sseq <= p->last || (n && sseq <= seqs[n - 1])) {
				counters[C_DUPLICATES].v++;
				if (natsMsg_Ack(m, NULL) == NATS_OK)
					counters[C_ACKED].v++;
				continue;
			}
			int len = natsMsg_GetDataLength(m);
			if (len <= 0 || (uint64_t)len > p->max_record) {
				if (len <= 0)
					msg("stream '%s': message %" PRIu64
					    " is empty, and a ring record "
					    "cannot be; stopping before it",
					    p->o.stream, sseq);
				else
					msg("stream '%s': message %" PRIu64
					    " is %d bytes, larger than the "
					    "ring's largest record (%" PRIu64
					    "); re-create the ring with a "
					    "larger --max-record",
					    p->o.stream, sseq, len,
					    p->max_record);
				rc = EXIT_FAIL;
				break;
			}
			take[n] = m;
			seqs[n] = sseq;
			n++;
		}
		if (n) {
			int w = write_batch(p, take, n, seqs);
			if (w > 1 || (w && !bridge_stop)) {
				rc = w;
			}
		}
		natsMsgList_Destroy(&list);
		if (rc)
			break;
		if (gap) {
			counters[C_RESETS].v++;
			rc = reset_consumer(p);
			if (rc)
				break;
		}
	}
	if (rc == RC_STOPPED)
		rc = 0;
	if (bridge_stop)
		msg("stopped by signal %d; %" PRIu64 " records written",
		    (int)bridge_stop, counters[C_WRITTEN].v);
	report_done(&rp, p->o.json);
	if (!rc && p->o.sync == SYNC_BATCH && mring_sync(p->r) < 0)
		rc = EXIT_FAIL;
	if (bridge_stop && rc == 0)
		rc = EXIT_OK;
out:
	/* Flush the acknowledgements before closing. */
	if (p->nc)
		natsConnection_FlushTimeout(p->nc, 2000);
	if (p->nc)
		natsConnection_Close(p->nc);
	for (int i = 0; i < p->nretired; i++)
		natsSubscription_Destroy(p->retired[i]);
	bridge_disconnect(p->nc, p->js, p->sub);
	wake_ring = NULL;
	mring_close(p->r);
	sidecar_close(&p->sc);
	free(take);
	free(seqs);
	free(p);
	return rc == RC_STOPPED ? EXIT_OK : rc;
}
