/*
 * mring-nats publish: a record ring into a JetStream stream.
 *
 * Two handles on the ring: the durable consumer (--consumer, default
 * "nats") holds the position of what JetStream acknowledged -- its slot
 * lock makes two bridges on one ring exclusive, and it holds the ring's
 * producer back while the cluster is slow or down -- and an observer
 * that reads ahead of it up to --window records, which are published
 * asynchronously. The observer never overtakes the head and the durable
 * consumer, behind it, keeps its records from being overwritten
 * (back-pressure mode).
 *
 * Order and exactly-once come from a chain of expected sequences: the
 * k-th message published after the bridge learnt that the stream's last
 * sequence is S carries Nats-Expected-Last-Sequence S+k-1. The server
 * stores a message only right after its predecessor, so the stream holds
 * the ring's records in order, without gaps and without duplicates,
 * whatever is lost, timed out, re-sent or reordered on the way (a leader
 * change in a cluster, a reconnect). Any failure stops publishing until
 * every outstanding publish has been answered or given up, then the
 * bridge asks the stream for its last message, whose Nats-Msg-Id names
 * the ring and the record, releases what is there and resumes after it
 * ("fence"). The same look-up runs at start, so a restart -- after a
 * crash, inside or beyond the duplicate window -- neither repeats nor
 * skips a record. The price: the stream must hold this ring's messages
 * only (one stream per source ring; JetStream's stream sources merge
 * several streams server-side). Nats-Msg-Id is set all the same, so the
 * server's duplicate window drops a re-sent record before the chain is
 * even consulted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"

static const char usage[] =
	"Usage: mring-nats publish RING -s URL[,URL...] --stream NAME "
	"--subject SUBJECT\n"
	"                          [OPTIONS]\n"
	"\n"
	"Publish every record of the record ring RING to SUBJECT in the\n"
	"JetStream stream NAME, in order, each exactly once, and release it\n"
	"in the ring only once JetStream acknowledged it: while the servers\n"
	"are slow or down, the ring fills and its writer waits (or, in an\n"
	"overwrite ring, the loss is counted). Each message carries the\n"
	"header Nats-Msg-Id RINGID:N (N: the record number) and, for rings\n"
	"made with --timestamps, Mring-Ts (the record's stamp, ns). The\n"
	"stream must hold this ring's records only. Runs until a signal\n"
	"(SIGINT, SIGTERM: waits for the answers to what is outstanding,\n"
	"releases what was acknowledged, exits 0), --count or --idle-exit.\n"
	"A new consumer starts at the oldest record; register it before the\n"
	"writer starts ('mring consumer add RING nats --from oldest') so\n"
	"that the ring keeps every record for the bridge from then on.\n"
	"\n"
	"Options:\n"
	"  -s, --server URLS      NATS server URLs, comma-separated\n"
	"                         (nats://host:4222,...)\n"
	"      --stream NAME      the stream (must exist, or --create-stream)\n"
	"      --subject SUBJECT  subject to publish to\n"
	"      --consumer NAME    durable consumer of the ring that holds the\n"
	"                         bridge's position (default nats); only one\n"
	"                         bridge per name runs at a time\n"
	"  -w, --window N         publishes awaiting acknowledgement at most\n"
	"                         (default 4096)\n"
	"      --batch N          records read from the ring at once (default\n"
	"                         256)\n"
	"      --ack-wait SEC     give up on an acknowledgement after SEC\n"
	"                         seconds and re-check the stream (default 5)\n"
	"      --ring-id ID       the ring's identity in Nats-Msg-Id (default:\n"
	"                         its creation time in hex, from the file)\n"
	"      --create-stream    create the stream if it does not exist, with\n"
	"                         the subject, and:\n"
	"        --replicas N     copies of the stream in a cluster (default 1)\n"
	"        --dup-window SEC duplicate window (default: server's, 2 min)\n"
	"        --max-bytes SIZE limit of the stream's size (default none)\n"
	"        --memory-storage keep the stream in memory, not on disk\n"
	"      --creds FILE       NATS credentials file (user JWT and seed)\n"
	"      --connect-wait SEC give up connecting after SEC seconds\n"
	"                         (default: retry until a server answers)\n"
	"      --count N          exit 0 once N records were acknowledged\n"
	"      --idle-exit SEC    exit 0 once the ring had nothing new for SEC\n"
	"                         seconds and everything was acknowledged\n"
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

/* Counters, in --json and --prom order. */
enum {
	C_PUBLISHED,   /* messages handed to the client library */
	C_ACKED,       /* records acknowledged and released */
	C_BYTES,       /* payload bytes acknowledged */
	C_OUTSTANDING, /* publishes awaiting an answer now */
	C_DUPLICATES,  /* acknowledged as duplicates by the server */
	C_FAILED,      /* publishes that failed or timed out */
	C_FENCES,      /* re-synchronisations with the stream */
	C_SKIPPED,     /* records found already in the stream */
	C_LOST,        /* overwrite ring: records lost before publishing */
	C_N
};

static struct counter counters[C_N] = {
	{"published", "messages published (sent, awaiting or acknowledged)", 0,
         0},
	{"acknowledged", "records acknowledged by JetStream and released", 0,
         0},
	{"acknowledged_bytes", "payload bytes acknowledged", 0, 0},
	{"outstanding", "publishes awaiting acknowledgement now", 1, 0},
	{"duplicates", "publishes the server dropped as duplicates", 0, 0},
	{"failed", "publishes that failed or timed out (then re-sent)", 0, 0},
	{"fences", "times the bridge re-read the stream's last message", 0, 0},
	{"skipped", "records found already in the stream at a fence", 0, 0},
	{"lost", "records overwritten in the ring before publishing", 0, 0},
};

/* One publish in flight, in a table indexed by record number % window. */
struct slot {
	uint64_t rec;
	uint32_t len;
	int busy;    /* published, answer not handled yet */
	int state;   /* 0 waiting, 1 acknowledged, 2 failed */
	double sent; /* now_s() when published: --ack-wait counts from it */
};

struct pub {
	struct bopts o;
	struct mring *dur, *obs;
	natsConnection *nc;
	jsCtx *js;
	char ring_id[64];
	int timestamps;
	int64_t max_payload;
	uint64_t max_record;
	/* In flight: recs in publish order in fifo, answers in tab. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot *tab;
	uint64_t *fifo;
	uint64_t w;          /* window */
	uint64_t head, tail; /* fifo indexes: next publish, oldest */
	uint64_t expect;     /* expected last sequence of the next publish */
	uint64_t next_rec;   /* the observer's next record (known) */
	int fail_code;       /* first failure since the last fence */
	char fail_text[200];
	int sent;          /* anything published yet (the library's
	                      * pending list exists only then) */
	uint64_t released; /* records up to this (exclusive) released */
};

static struct pub *the_pub; /* for the signal handler */

static void wake(void)
{
	if (the_pub && the_pub->obs)
		mring_interrupt(the_pub->obs);
}

/* "RINGID:N" -> N, or -1 when it is not this ring's. */
static int parse_id(const struct pub *p, const char *id, uint64_t *rec)
{
	size_t n = strlen(p->ring_id);
	char *end;

	if (!id || strncmp(id, p->ring_id, n) != 0 || id[n] != ':')
		return -1;
	errno = 0;
	*rec = strtoull(id + n + 1, &end, 10);
	return errno || *end || end == id + n + 1 ? -1 : 0;
}

/* The library's thread: note the answer to one publish. */
static void on_ack(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae,
                   void *arg)
{
	struct pub *p = arg;
	const char *id = NULL;
	uint64_t rec;

	(void)js;
	natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
	pthread_mutex_lock(&p->mu);
	if (id && parse_id(p, id, &rec) == 0) {
		struct slot *s = &p->tab[rec % p->w];
		if (s->busy && s->rec == rec && s->state == 0) {
			if (pa) {
				s->state = 1;
				if (pa->Duplicate)
					counters[C_DUPLICATES].v++;
			} else {
				s->state = 2;
				counters[C_FAILED].v++;
				if (!p->fail_code && pae) {
					p->fail_code =
						pae->ErrCode ? (int)pae->ErrCode
							     : -(int)pae->Err;
					snprintf(p->fail_text,
					         sizeof(p->fail_text), "%s",
					         pae->ErrText
					                 ? pae->ErrText
					                 : natsStatus_GetText(
								   pae->Err));
				}
			}
			pthread_cond_signal(&p->cv);
		}
	}
	pthread_mutex_unlock(&p->mu);
	natsMsg_Destroy(m);
}

/* Release the durable consumer up to record `upto` (exclusive). */
static int release_to(struct pub *p, uint64_t upto)
{
	struct mring_msg mm[256];

	while (p->released < upto) {
		ssize_t n = mring_peek_many(p->dur, mm, 256, 0);
		if (n == MRING_ELAPPED)
			continue; /* counted by the observer's loss */
		if (n <= 0) {
			if (n == 0 || n == -EAGAIN)
				return 0; /* nothing there (seeked past) */
			return ring_err(p->o.ring, (int)n, USE_CONSUMER,
			                p->o.consumer);
		}
		size_t k = 0;
		while (k < (size_t)n && mm[k].seq < upto)
			k++;
		if (k == 0) {
			p->released = mm[0].seq;
			mring_release_many(p->dur, 0);
			break;
		}
		int rc = mring_release_many(p->dur, k);
		if (rc < 0 && rc != MRING_ELAPPED)
			return ring_err(p->o.ring, rc, USE_CONSUMER,
			                p->o.consumer);
		p->released = mm[k - 1].seq + 1;
	}
	return 0;
}

/*
 * The stream's last message: *seq its sequence (0: empty), *rec the
 * record number after which this ring resumes (UINT64_MAX: no record of
 * this ring in the stream). Retries while JetStream is unavailable.
 * Returns 0 or EXIT_FAIL after a message.
 */
static int stream_last(struct pub *p, uint64_t *seq, uint64_t *rec)
{
	double said = 0;
	char err[256];

	while (!bridge_stop) {
		jsStreamInfo *si = NULL;
		jsErrCode ec = 0;
		natsStatus s =
			js_GetStreamInfo(&si, p->js, p->o.stream, NULL, &ec);
		if (s == NATS_OK) {
			uint64_t last = si->State.LastSeq;
			jsStreamInfo_Destroy(si);
			*seq = last;
			*rec = UINT64_MAX;
			if (last == 0)
				return 0;
			natsMsg *m = NULL;
			s = js_GetMsg(&m, p->js, p->o.stream, last, NULL, &ec);
			if (s == NATS_NOT_FOUND || ec == JSNoMessageFoundErr)
				return 0; /* purged: nothing to compare with */
			if (s == NATS_OK) {
				const char *id = NULL;
				uint64_t r;
				natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
				int mine = parse_id(p, id, &r) == 0;
				if (!mine) {
					msg("stream '%s': its last message "
					    "(sequence %" PRIu64
					    ", Nats-Msg-Id "
					    "%s) was not published from this "
					    "ring (id %s); a bridge needs a "
					    "stream of its own: use another "
					    "--stream, or --ring-id if the ring "
					    "was moved",
					    p->o.stream, last, id ? id : "none",
					    p->ring_id);
					natsMsg_Destroy(m);
					return EXIT_FAIL;
				}
				natsMsg_Destroy(m);
				*rec = r;
				return 0;
			}
		} else if (s == NATS_NOT_FOUND || ec == JSStreamNotFoundErr) {
			msg("stream '%s' is gone (deleted?); not publishing",
			    p->o.stream);
			return EXIT_FAIL;
		}
		double t = now_s();
		if (said == 0 || t - said >= 5) {
			msg("cannot read stream '%s' yet (%s); retrying; "
			    "records wait in the ring",
			    p->o.stream, nats_err(s, err, sizeof(err)));
			said = t;
		}
		nap_ms(250);
	}
	return RC_STOPPED;
}

/*
 * mring_seek of a consumer the writer is not held back by (the observer;
 * any consumer of a ring in overwrite mode) returns -EAGAIN when the
 * writer overwrote the records under the search 64 times in a row. After
 * a restart that happens until the writer, lapping a small ring as it
 * catches up, reaches the durable consumer and waits (back-pressure):
 * seen in a test under ASan, whose search is slow, and the bridge exited.
 * So it tries again until the seek lands or the bridge is stopped.
 */
static int seek_retry(struct pub *p, struct mring *r, int whence,
                      uint64_t value)
{
	double since = now_s(), said = since;

	for (;;) {
		int rc = mring_seek(r, whence, value);
		if (rc != -EAGAIN)
			return rc;
		if (bridge_stop)
			return RC_STOPPED;
		double t = now_s();
		if (t - said >= 5) {
			msg("%s: the ring's writer overwrites records faster "
			    "than the bridge can find its place (%.0f s so "
			    "far); still trying",
			    p->o.ring, t - since);
			said = t;
		}
		nap_ms(10);
	}
}

/*
 * Synchronise with the stream: wait for (or give up) every publish in
 * flight, read the stream's last message, release what it holds and move
 * the observer after it.
 */
static int fence(struct pub *p)
{
	double until = now_s() + p->o.ack_wait + 1;
	uint64_t seq, last;
	int rc;

	counters[C_FENCES].v++;
	pthread_mutex_lock(&p->mu);
	while (p->head != p->tail && now_s() < until) {
		/* Answers come, or --ack-wait (and a second) passes. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	pthread_mutex_unlock(&p->mu);
	/* Whatever is left, the library forgets: its answers are dropped.
	 * The chain places a late arrival where it belongs or nowhere. */
	natsMsgList pend = {0};
	if (p->sent && js_PublishAsyncGetPendingList(&pend, p->js) == NATS_OK)
		natsMsgList_Destroy(&pend);
	pthread_mutex_lock(&p->mu);
	for (uint64_t i = 0; i < p->w; i++)
		p->tab[i].busy = 0;
	p->head = p->tail = 0;
	if (p->fail_code)
		msg("publish failed (%s); re-reading the stream's end to "
		    "resume there",
		    p->fail_text);
	p->fail_code = 0;
	counters[C_OUTSTANDING].v = 0;
	pthread_mutex_unlock(&p->mu);

	rc = stream_last(p, &seq, &last);
	if (rc)
		return rc;
	p->expect = seq;
	struct mring_where w;
	if (last == UINT64_MAX) {
		/* No record of this ring there yet: start where the durable
		 * consumer stands (its number may not be known before its
		 * first peek; the byte position always is). */
		mring_tell(p->dur, &w);
		rc = seek_retry(p, p->obs, MRING_SEEK_POS, w.pos);
		if (rc == RC_STOPPED)
			return rc;
		if (rc < 0)
			return ring_err(p->o.ring, rc, USE_CONSUMER, NULL);
		p->next_rec = w.seq;
		p->released = w.seq == MRING_SEQ_NONE ? 0 : w.seq;
		return 0;
	}
	uint64_t from = last + 1;
	/* Records up to `last` are in the stream: release them. */
	rc = seek_retry(p, p->dur, MRING_SEEK_SEQ, from);
	if (rc == RC_STOPPED)
		return rc;
	if (rc == -ERANGE) {
		msg("stream '%s' holds record %" PRIu64 " of this ring, "
		    "which the ring has not written yet: was the ring "
		    "re-created or restored? use a new stream, or --ring-id",
		    p->o.stream, last);
		return EXIT_FAIL;
	}
	if (rc < 0)
		return ring_err(p->o.ring, rc, USE_CONSUMER, p->o.consumer);
	if (rc == 1) {
		mring_tell(p->dur, &w);
		if (w.seq != MRING_SEQ_NONE && w.seq > from) {
			msg("records %" PRIu64 " to %" PRIu64 " were "
			    "overwritten in the ring before they were "
			    "published: lost",
			    from, w.seq - 1);
			counters[C_LOST].v += w.seq - from;
			from = w.seq;
		}
	}
	if (p->released != MRING_SEQ_NONE && from > p->released)
		counters[C_SKIPPED].v += from - p->released;
	p->released = from;
	rc = seek_retry(p, p->obs, MRING_SEEK_SEQ, from);
	if (rc == RC_STOPPED)
		return rc;
	if (rc < 0)
		return ring_err(p->o.ring, rc, USE_CONSUMER, NULL);
	p->next_rec = from;
	return 0;
}

/* Handle the answers at the head of the fifo; 1: a fence is needed. */
static int collect(struct pub *p)
{
	uint64_t upto = p->released;
	int need = 0;

	pthread_mutex_lock(&p->mu);
	while (p->tail != p->head) {
		uint64_t rec = p->fifo[p->tail % p->w];
		struct slot *s = &p->tab[rec % p->w];
		if (s->state == 0) {
			/*
			 * No answer within --ack-wait: a failure, as a
			 * libnats time-out would be. Timed here, for the
			 * oldest publish only, rather than by the library
			 * for each one (its per-message MaxWait cost 7-13%
			 * of the bare publisher's rate at 64 B).
			 */
			if (now_s() - s->sent > p->o.ack_wait) {
				counters[C_FAILED].v++;
				if (!p->fail_code) {
					p->fail_code = ETIMEDOUT;
					snprintf(p->fail_text,
					         sizeof(p->fail_text),
					         "no answer within --ack-wait "
					         "%.1f s",
					         p->o.ack_wait);
				}
				need = 1;
			}
			break;
		}
		if (s->state == 2) {
			need = 1;
			break;
		}
		counters[C_ACKED].v++;
		counters[C_BYTES].v += s->len;
		s->busy = 0;
		upto = rec + 1;
		p->tail++;
	}
	if (p->fail_code)
		need = 1;
	counters[C_OUTSTANDING].v = p->head - p->tail;
	pthread_mutex_unlock(&p->mu);
	if (upto > p->released) {
		int rc = release_to(p, upto);
		if (rc)
			return -rc;
	}
	return need;
}

/* Publish records from the observer; returns how many, or -exit. */
static ssize_t publish_some(struct pub *p, int timeout_ms)
{
	struct mring_msg mm[1024];
	uint64_t room = p->w - (p->head - p->tail);
	size_t max = p->o.batch < room ? p->o.batch : room;
	char id[96], ts[24];

	if (max > 1024)
		max = 1024;
	if (max == 0)
		return 0;
	ssize_t n = mring_peek_many(p->obs, mm, max, timeout_ms);
	if (n == MRING_ELAPPED) {
		/* Overwrite ring: the observer moved to the oldest record. */
		msg("the ring's writer overwrote records before they were "
		    "published (overwrite ring): lost");
		return -fence(p) ?: 0;
	}
	if (n == 0) {
		/* End of stream: the writer closed the ring. Wait for a new
		 * one (peek returns at once meanwhile, so do not spin). */
		nap_ms(timeout_ms);
		return 0;
	}
	if (n == -EAGAIN || n == -ETIMEDOUT || n == -ECANCELED)
		return 0;
	if (n < 0)
		return -ring_err(p->o.ring, (int)n, USE_CONSUMER, NULL);
	if (p->next_rec != MRING_SEQ_NONE && mm[0].seq != p->next_rec) {
		counters[C_LOST].v += mm[0].seq - p->next_rec;
		msg("records %" PRIu64 " to %" PRIu64 " were overwritten "
		    "before they were published: lost",
		    p->next_rec, mm[0].seq - 1);
	}
	ssize_t i;
	for (i = 0; i < n; i++) {
		struct slot *s = &p->tab[mm[i].seq % p->w];
		if (s->busy)
			break; /* a gap made numbers collide: wait */
		if ((int64_t)mm[i].len + 256 > p->max_payload) {
			msg("record %" PRIu64 " is %zu bytes, more than the "
			    "server's max_payload (%" PRId64 " bytes, with "
			    "headers): raise max_payload in the nats-server "
			    "configuration (up to 64 MB), or write smaller "
			    "records",
			    mm[i].seq, mm[i].len, p->max_payload);
			mring_release_many(p->obs, (size_t)i);
			return -EXIT_FAIL;
		}
		natsMsg *m = NULL;
		natsStatus st = natsMsg_Create(&m, p->o.subject, NULL,
		                               mm[i].ptr, (int)mm[i].len);
		snprintf(id, sizeof(id), "%s:%" PRIu64, p->ring_id, mm[i].seq);
		if (st == NATS_OK && p->timestamps) {
			snprintf(ts, sizeof(ts), "%" PRIu64, mm[i].ts);
			st = natsMsgHeader_Set(m, "Mring-Ts", ts);
		}
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MsgId = id;
		if (p->expect)
			po.ExpectLastSeq = p->expect;
		else
			po.ExpectNoMessage = true;
		pthread_mutex_lock(&p->mu);
		s->busy = 1;
		s->rec = mm[i].seq;
		s->len = (uint32_t)mm[i].len;
		s->state = 0;
		s->sent = now_s();
		p->fifo[p->head % p->w] = mm[i].seq;
		p->head++;
		pthread_mutex_unlock(&p->mu);
		if (st == NATS_OK) {
			st = js_PublishMsgAsync(p->js, &m, &po);
			p->sent = 1;
		}
		natsMsg_Destroy(m); /* no-op once the library owns it */
		if (st != NATS_OK) {
			char err[256];
			pthread_mutex_lock(&p->mu);
			s->state = 2;
			counters[C_FAILED].v++;
			if (!p->fail_code) {
				p->fail_code = -(int)st;
				snprintf(p->fail_text, sizeof(p->fail_text),
				         "%s", nats_err(st, err, sizeof(err)));
			}
			pthread_mutex_unlock(&p->mu);
			i++;
			break;
		}
		counters[C_PUBLISHED].v++;
		p->expect++;
	}
	if (i == 0) {
		/* Nothing taken (a number collision): the batch comes again
		 * at the next peek, once the answers free the slot. */
		mring_release_many(p->obs, 0);
		nap_ms(1);
		return 0;
	}
	p->next_rec = mm[i - 1].seq + 1;
	int rc = mring_release_many(p->obs, (size_t)i);
	if (rc == MRING_ELAPPED) {
		/* Overwritten while copied: what was sent may be torn. The
		 * stream may now hold garbage for those numbers; say so. */
		msg("records overwritten while being published (overwrite "
		    "ring too small for the bridge's delay?): the stream may "
		    "hold damaged copies of records %" PRIu64 "..%" PRIu64,
		    mm[0].seq, mm[i - 1].seq);
	} else if (rc < 0) {
		return -ring_err(p->o.ring, rc, USE_CONSUMER, NULL);
	}
	return i;
}

static int parse_args(int argc, char **argv, struct bopts *o)
{
	enum {
		O_CONSUMER = 256,
		O_BATCH,
		O_ACKWAIT,
		O_RINGID,
		O_CREATE,
		O_REPL,
		O_DUP,
		O_MAXB,
		O_MEM,
	};
	static const struct option lo[] = {
		{"consumer", required_argument, NULL, O_CONSUMER},
		{"window", required_argument, NULL, 'w'},
		{"batch", required_argument, NULL, O_BATCH},
		{"ack-wait", required_argument, NULL, O_ACKWAIT},
		{"ring-id", required_argument, NULL, O_RINGID},
		{"create-stream", no_argument, NULL, O_CREATE},
		{"replicas", required_argument, NULL, O_REPL},
		{"dup-window", required_argument, NULL, O_DUP},
		{"max-bytes", required_argument, NULL, O_MAXB},
		{"memory-storage", no_argument, NULL, O_MEM},
		BRIDGE_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;

	o->consumer = "nats";
	o->window = 4096;
	o->batch = 256;
	o->ack_wait = 5;
	o->progress = PROGRESS_AUTO;
	while ((c = getopt_long(argc, argv, "s:w:h", lo, NULL)) != -1) {
		int rc = bridge_common_opt(c, optarg, o);
		if (rc < 0)
			return EXIT_USAGE;
		if (rc > 0)
			continue;
		switch (c) {
		case O_CONSUMER:
			o->consumer = optarg;
			break;
		case 'w':
			if (parse_uint("--window", optarg, 1, 1 << 20,
			               &o->window))
				return EXIT_USAGE;
			break;
		case O_BATCH:
			if (parse_uint("--batch", optarg, 1, 1024, &o->batch))
				return EXIT_USAGE;
			break;
		case O_ACKWAIT:
			if (parse_seconds("--ack-wait", optarg, &o->ack_wait))
				return EXIT_USAGE;
			break;
		case O_RINGID:
			o->ring_id = optarg;
			break;
		case O_CREATE:
			o->create_stream = 1;
			break;
		case O_REPL:
			if (parse_uint("--replicas", optarg, 1, 5, &v))
				return EXIT_USAGE;
			o->replicas = (int)v;
			break;
		case O_DUP:
			if (parse_seconds("--dup-window", optarg,
			                  &o->dup_window))
				return EXIT_USAGE;
			break;
		case O_MAXB:
			if (parse_size("--max-bytes", optarg, &o->max_bytes))
				return EXIT_USAGE;
			break;
		case O_MEM:
			o->memory = 1;
			break;
		case 'h':
			return print_help(usage) == EXIT_OK ? -1 : EXIT_USAGE;
		default:
			return usage_err("publish", "bad option");
		}
	}
	if (optind + 1 != argc)
		return usage_err("publish", optind >= argc
		                                    ? "the ring file is missing"
		                                    : "one ring file only");
	o->ring = argv[optind];
	if (!o->servers)
		return usage_err("publish", "-s URL is required (e.g. -s "
		                            "nats://127.0.0.1:4222)");
	if (!o->stream || !o->subject)
		return usage_err("publish", "--stream and --subject are "
		                            "required");
	if ((o->replicas || o->dup_window || o->max_bytes || o->memory) &&
	    !o->create_stream)
		return usage_err("publish", "--replicas, --dup-window, "
		                            "--max-bytes and --memory-storage "
		                            "go with --create-stream");
	if (strlen(o->consumer) == 0 || strlen(o->consumer) > MRING_NAME_MAX)
		return usage_err("publish", "--consumer: 1 to %d bytes",
		                 MRING_NAME_MAX);
	return 0;
}

static int open_ring(struct pub *p)
{
	struct mring_config cfg;
	struct mring_info in;
	int rc = mring_inspect(p->o.ring, &in, NULL, 0);

	if (rc < 0)
		return ring_err(p->o.ring, rc, USE_INSPECT, NULL);
	if (!(in.flags & MRING_F_RECORDS)) {
		msg("%s is a byte ring; the bridge publishes records (create "
		    "the ring with 'mring create --records')",
		    p->o.ring);
		return EXIT_USAGE;
	}
	p->timestamps = !!(in.flags & MRING_F_TIMESTAMPS);
	p->max_record = in.max_record;
	if (p->o.ring_id)
		snprintf(p->ring_id, sizeof(p->ring_id), "%s", p->o.ring_id);
	else
		snprintf(p->ring_id, sizeof(p->ring_id), "%016" PRIx64,
		         in.created_ns);
	mring_config_init(&cfg);
	cfg.consumer_name = p->o.consumer;
	cfg.start = MRING_START_OLDEST;
	if (p->o.any_owner)
		cfg.flags |= MRING_F_ANY_OWNER;
	rc = mring_open(p->o.ring, MRING_CONSUMER, &cfg, &p->dur);
	if (rc == -EBUSY) {
		msg("%s: the ring's consumer '%s' is in use: another bridge "
		    "publishes from this ring already (one per consumer "
		    "name)",
		    p->o.ring, p->o.consumer);
		return EXIT_FAIL;
	}
	if (rc < 0)
		return ring_err(p->o.ring, rc, USE_CONSUMER, p->o.consumer);
	cfg.consumer_name = NULL;
	rc = mring_open(p->o.ring, MRING_CONSUMER, &cfg, &p->obs);
	if (rc < 0)
		return ring_err(p->o.ring, rc, USE_CONSUMER, NULL);
	return 0;
}

int cmd_publish(int argc, char **argv)
{
	struct pub *p = calloc(1, sizeof(*p));
	struct report rp;
	int rc;

	if (!p)
		return EXIT_FAIL;
	rc = parse_args(argc, argv, &p->o);
	if (rc) {
		free(p);
		return rc < 0 ? EXIT_OK : rc;
	}
	p->w = p->o.window;
	p->released = MRING_SEQ_NONE;
	p->tab = calloc(p->w, sizeof(*p->tab));
	p->fifo = calloc(p->w, sizeof(*p->fifo));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (!p->tab || !p->fifo) {
		msg("out of memory for a window of %" PRIu64, p->w);
		rc = EXIT_FAIL;
		goto out;
	}
	the_pub = p;
	bridge_signals(wake);
	rc = open_ring(p);
	if (rc)
		goto out;
	char name[300];
	snprintf(name, sizeof(name), "mring-nats publish %s", p->o.ring);
	rc = bridge_connect(&p->o, name, &p->nc, &p->js);
	if (rc)
		goto out;
	p->max_payload = natsConnection_GetMaxPayload(p->nc);
	if ((int64_t)p->max_record + 256 > p->max_payload)
		msg("note: the ring's records may be up to %" PRIu64 " bytes "
		    "but the server takes at most %" PRId64 " (max_payload); "
		    "a larger record stops the bridge",
		    p->max_record, p->max_payload);
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = (int64_t)p->w + 1;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = p;
	jo.Wait = (int64_t)(p->o.ack_wait * 1000);
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
	rc = fence(p);
	counters[C_FENCES].v = 0; /* the start's look-up is not one */
	if (rc)
		goto out;

	report_init(&rp, &p->o, "published and acknowledged", counters, C_N,
	            C_ACKED, C_BYTES);
	double idle_since = now_s();
	while (!bridge_stop) {
		rc = collect(p);
		if (rc < 0) {
			rc = -rc;
			break;
		}
		if (rc == 1) {
			rc = fence(p);
			if (rc)
				break;
			continue;
		}
		int busy = p->head != p->tail;
		if (p->o.count && counters[C_ACKED].v >= p->o.count && !busy)
			break;
		if (p->o.count &&
		    counters[C_ACKED].v + (p->head - p->tail) >= p->o.count) {
			/* Publish no more than asked. */
			nap_ms(1);
			report_tick(&rp);
			continue;
		}
		ssize_t n = publish_some(p, busy ? 1 : 100);
		if (n < 0) {
			rc = (int)-n;
			break;
		}
		double t = now_s();
		if (n > 0 || busy)
			idle_since = t;
		else if (p->o.idle_exit > 0 && t - idle_since >= p->o.idle_exit)
			break;
		if (n == 0 && p->head - p->tail >= p->w) {
			/* Window full: wait for an answer. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_mutex_lock(&p->mu);
			uint64_t rec = p->fifo[p->tail % p->w];
			if (p->tab[rec % p->w].state == 0)
				pthread_cond_timedwait(&p->cv, &p->mu, &ts);
			pthread_mutex_unlock(&p->mu);
		}
		report_tick(&rp);
	}
	if (rc == RC_STOPPED)
		rc = 0;
	{
		/* Stopping, for whatever reason: wait (bounded) for the
		 * answers to what is out, and release what was acknowledged. */
		double until = now_s() + p->o.ack_wait + 1;
		while (p->head != p->tail && now_s() < until) {
			int c = collect(p);
			if (c != 0)
				break;
			struct timespec ts = {0, 5 * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (bridge_stop && !rc)
			msg("stopped by signal %d; %" PRIu64 " records "
			    "acknowledged and released",
			    (int)bridge_stop, counters[C_ACKED].v);
	}
	if (p->head != p->tail)
		msg("%" PRIu64 " publishes left unanswered; they stay in the "
		    "ring and are checked against the stream at the next "
		    "start",
		    p->head - p->tail);
	report_done(&rp, p->o.json);
	if (p->dur && mring_sync(p->dur) < 0)
		msg("could not make the consumer's position durable "
		    "(a power cut would re-check more of the stream)");
out:
	if (p->js && p->sent) {
		natsMsgList pend = {0};
		if (js_PublishAsyncGetPendingList(&pend, p->js) == NATS_OK)
			natsMsgList_Destroy(&pend);
	}
	bridge_disconnect(p->nc, p->js, NULL);
	the_pub = NULL;
	mring_close(p->obs);
	mring_close(p->dur);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->tab);
	free(p->fifo);
	free(p);
	return rc == RC_STOPPED ? EXIT_OK : rc;
}
