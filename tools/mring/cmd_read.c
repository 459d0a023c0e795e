/*
 * mring read: the ring to stdout, as a consumer. Byte mode writes straight
 * from the mapping and releases only what stdout took; record mode prints
 * one record per line (or raw) through a small output buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
	"Usage: mring read FILE [OPTIONS] > OUTPUT\n"
	"\n"
	"Copy the ring to stdout as a consumer. Without --follow, stop when\n"
	"everything written so far was read; with it, wait for more until the\n"
	"producer closes the stream. A durable consumer (--consumer NAME)\n"
	"resumes where it left off and holds the producer back in a\n"
	"back-pressure ring; its position is made durable (mring_sync) at the\n"
	"end. Without a name, read is an observer.\n"
	"\n"
	"Options:\n"
	"  -c, --consumer NAME    read as the durable consumer NAME (1-31 "
	"bytes)\n"
	"  -f, --follow           wait for new data until the stream ends\n"
	"      --from WHERE       where a new consumer starts: oldest (the\n"
	"                         default) or newest\n"
	"      --raw              record rings: records as they are, with no\n"
	"                         newline after each\n"
	"      --pcap             record rings of packets in the format of\n"
	"                         examples/capture.c: a pcap stream (file\n"
	"                         header, then one packet per record) for\n"
	"                         'tcpdump -r -' or Wireshark\n"
	"      --sync-every WHEN  with --consumer: also sync the position "
	"every\n"
	"                         SIZE bytes read (64M) or every DURATION (1s)\n"
	"      --no-sync          with --consumer: do not sync; after a power\n"
	"                         cut it may resume earlier and read again\n"
	"      --progress[=WHEN]  rate and totals on stderr; WHEN is auto (a\n"
	"                         terminal only; the default), always or "
	"never\n"
	"      --any-owner        open the ring even if another user owns it\n"
	"                         (only if you trust that user)\n"
	"  -h, --help             show this help\n"
	"\n"
	"A closed stdout (EPIPE) ends read quietly with status 0.\n";

struct reader {
	const char *path;
	struct mring *r;
	int follow, raw, records, overwrite, pcap;
	unsigned char *rec; /* --pcap: a copy of the record */
	size_t reccap;
	int epipe;  /* stdout was closed */
	int failed; /* stdout failed otherwise */
	struct progress pr;
	struct durable dur;
	char out[1 << 16]; /* record mode output buffer */
	size_t outlen;
};

/*
 * Write to stdout; -1 on error (EPIPE sets rd->epipe, quietly). *done
 * (may be NULL) gets how much stdout took.
 */
static int out_write(struct reader *rd, const void *p, size_t len, size_t *done)
{
	int rc = write_full(STDOUT_FILENO, p, len, done);

	if (rc == -EPIPE) {
		rd->epipe = 1;
		return -1;
	}
	if (rc < 0) {
		msg("stdout: %s", strerror(-rc));
		rd->failed = 1;
		return -1;
	}
	return 0;
}

static int out_flush(struct reader *rd)
{
	size_t n = rd->outlen;

	rd->outlen = 0;
	return n ? out_write(rd, rd->out, n, NULL) : 0;
}

/* Record mode: one record (plus newline) into the output buffer. */
static int out_record(struct reader *rd, const void *p, size_t len)
{
	size_t need = len + !rd->raw;

	if (rd->outlen + need > sizeof(rd->out) && out_flush(rd) < 0)
		return -1;
	if (need > sizeof(rd->out)) {
		if (out_write(rd, p, len, NULL) < 0)
			return -1;
	} else {
		memcpy(rd->out + rd->outlen, p, len);
		rd->outlen += len;
	}
	if (!rd->raw)
		rd->out[rd->outlen++] = '\n';
	return 0;
}

static void report_loss(struct reader *rd, uint64_t *bytes, uint64_t *recs)
{
	struct mring_stats s;
	char a[FMT_LEN];

	mring_stats(rd->r, &s);
	if (s.bytes_lost == *bytes)
		return;
	if (rd->records)
		msg("%s: lapped by the producer: %s (%llu records) lost",
		    rd->path, fmt_bytes(s.bytes_lost - *bytes, a),
		    (unsigned long long)(s.records_lost - *recs));
	else
		msg("%s: lapped by the producer: %s lost", rd->path,
		    fmt_bytes(s.bytes_lost - *bytes, a));
	*bytes = s.bytes_lost;
	*recs = s.records_lost;
}

/*
 * --pcap: packets as examples/capture.c commits them, one per record, in
 * host byte order: a CLOCK_REALTIME time in nanoseconds, the frame's
 * length, 4 bytes of padding, the Ethernet frame. Written out as classic
 * pcap in host byte order (the magic tells readers which), with
 * nanosecond times, like capture's own writer.
 */
struct pcap_pkt_hdr {
	uint64_t ts_ns;
	uint32_t len;
	uint32_t unused;
};
struct pcap_file_hdr {
	uint32_t magic; /* 0xa1b23c4d: nanosecond timestamps */
	uint16_t major, minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};
struct pcap_rec_hdr {
	uint32_t sec, nsec, caplen, len;
};
/* The largest snapshot length libpcap reads for Ethernet. */
#define PCAP_SNAPLEN 262144u

static int pcap_header(struct reader *rd)
{
	struct pcap_file_hdr fh = {.magic = 0xa1b23c4d,
	                           .major = 2,
	                           .minor = 4,
	                           .snaplen = PCAP_SNAPLEN,
	                           .linktype = 1 /* Ethernet */};
	return out_record(rd, &fh, sizeof(fh));
}

/* What pcap_packet() did with a record. */
enum { PKT_OUT, PKT_LAPPED, PKT_STDOUT, PKT_ERROR };

/*
 * One record as a pcap packet. The record is copied and released first,
 * and written only if the release says it was intact all along (an
 * overwrite ring may change it under the reader): PKT_LAPPED then. Output
 * that failed or a closed stdout: PKT_STDOUT (out_write said why). Else
 * PKT_OUT, or PKT_ERROR with the exit status in *status after a message.
 * A record that is not a packet is not released, so a durable consumer
 * stays on it (in an overwrite ring it is, first, to learn whether it
 * only looked wrong because it was being overwritten).
 */
static int pcap_packet(struct reader *rd, const void *p, size_t n, int *status)
{
	struct pcap_pkt_hdr h;
	struct mring_stats s;

	if (n > rd->reccap)
		n = rd->reccap; /* cannot be: records fit max_record */
	memcpy(rd->rec, p, n);
	memcpy(&h, rd->rec, n < sizeof(h) ? n : sizeof(h));
	int bad = n < sizeof(h) || h.len != n - sizeof(h);
	if (bad)
		mring_stats(rd->r, &s); /* s.position: this record's */
	if (!bad || rd->overwrite) {
		int rc = mring_release(rd->r, n);
		if (rc == MRING_ELAPPED)
			return PKT_LAPPED;
		if (rc < 0) {
			out_flush(rd);
			*status = ring_err(rd->path, rc, USE_CONSUMER, NULL);
			return PKT_ERROR;
		}
	}
	if (bad) {
		out_flush(rd);
		msg("%s: the record at position %llu (%zu bytes) is not a "
		    "packet in the format of examples/capture.c (time, length, "
		    "padding, frame) — --pcap reads only such rings",
		    rd->path, (unsigned long long)s.position, n);
		*status = EXIT_FAIL;
		return PKT_ERROR;
	}
	struct pcap_rec_hdr rh = {
		(uint32_t)(h.ts_ns / 1000000000u),
		(uint32_t)(h.ts_ns % 1000000000u),
		h.len < PCAP_SNAPLEN ? h.len : PCAP_SNAPLEN,
		h.len,
	};
	if (out_record(rd, &rh, sizeof(rh)) < 0 ||
	    out_record(rd, rd->rec + sizeof(h), rh.caplen) < 0)
		return PKT_STDOUT;
	progress_add(&rd->pr, n, 1);
	durable_add(&rd->dur, n);
	return PKT_OUT;
}

static int read_loop(struct reader *rd)
{
	uint64_t lost_b = 0, lost_r = 0;

	while (!stop_signal) {
		const void *p;
		if (rd->dur.pending && durable_tick(&rd->dur)) {
			out_flush(rd);
			return EXIT_FAIL;
		}
		ssize_t n = mring_peek(rd->r, &p, 0);
		if (n == -EAGAIN) {
			/* Nothing now: hand on what we have, then wait. */
			if (out_flush(rd) < 0)
				break;
			if (!rd->follow)
				break;
			n = mring_peek(rd->r, &p, 250);
			if (n == -ETIMEDOUT)
				continue;
		}
		if (n == 0)
			break; /* the producer closed and all was read */
		if (n == MRING_ELAPPED) {
			report_loss(rd, &lost_b, &lost_r);
			continue;
		}
		if (n == MRING_ECORRUPT) {
			struct mring_stats s;
			out_flush(rd);
			mring_stats(rd->r, &s);
			msg("%s: corrupt record at position %llu — see 'mring "
			    "check %s'",
			    rd->path, (unsigned long long)s.position, rd->path);
			return EXIT_FAIL;
		}
		if (n < 0) {
			out_flush(rd);
			return ring_err(rd->path, (int)n, USE_CONSUMER, NULL);
		}
		if (rd->pcap) {
			int status = EXIT_OK;
			int what = pcap_packet(rd, p, (size_t)n, &status);
			if (what == PKT_LAPPED)
				report_loss(rd, &lost_b, &lost_r);
			else if (what == PKT_STDOUT)
				break;
			else if (what == PKT_ERROR)
				return status;
			continue;
		}
		size_t took = (size_t)n;
		int werr = 0;
		if (rd->records)
			werr = out_record(rd, p, took);
		else
			werr = out_write(rd, p, took, &took);
		/* Byte mode: release just what stdout took, even on error,
		 * so that a durable consumer resumes at the first byte lost. */
		if (werr < 0 && (rd->records || took == 0))
			break;
		int rc = mring_release(rd->r, took);
		if (werr < 0)
			break;
		if (rc == MRING_ELAPPED) {
			/* Overwrite mode: it changed while we copied it. */
			msg("%s: the last %zd bytes written out were overwritten "
			    "while being read; discard them",
			    rd->path, n);
			report_loss(rd, &lost_b, &lost_r);
			continue;
		}
		if (rc < 0) {
			out_flush(rd);
			return ring_err(rd->path, rc, USE_CONSUMER, NULL);
		}
		progress_add(&rd->pr, took, rd->records);
		durable_add(&rd->dur, took);
	}
	out_flush(rd);
	if (rd->failed)
		return EXIT_FAIL;
	return stop_signal ? 128 + stop_signal : EXIT_OK;
}

int cmd_read(int argc, char **argv)
{
	static const struct option opts[] = {
		{"consumer", required_argument, NULL, 'c'},
		{"follow", no_argument, NULL, 'f'},
		{"from", required_argument, NULL, 'F'},
		{"raw", no_argument, NULL, 'R'},
		{"pcap", no_argument, NULL, 'p'},
		{"sync-every", required_argument, NULL, 'S'},
		{"no-sync", no_argument, NULL, 'N'},
		{"progress", optional_argument, NULL, 'P'},
		{"any-owner", no_argument, NULL, 'O'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct reader rd; /* large buffer: not on the stack */
	struct mring_config cfg;
	int when = PROGRESS_NEVER, c, no_sync = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.start = MRING_START_OLDEST;
	while ((c = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!optarg[0] || strlen(optarg) > MRING_NAME_MAX)
				return usage_err("read",
				                 "--consumer: names have 1 to "
				                 "%d bytes",
				                 MRING_NAME_MAX);
			cfg.consumer_name = optarg;
			break;
		case 'f':
			rd.follow = 1;
			break;
		case 'F':
			if (!strcmp(optarg, "oldest"))
				cfg.start = MRING_START_OLDEST;
			else if (!strcmp(optarg, "newest"))
				cfg.start = MRING_START_NEWEST;
			else
				return usage_err("read",
				                 "--from %s: expected 'oldest' "
				                 "or 'newest'",
				                 optarg);
			break;
		case 'R':
			rd.raw = 1;
			break;
		case 'p':
			rd.pcap = 1;
			break;
		case 'S':
			if (parse_sync_every(optarg, &rd.dur) < 0)
				return EXIT_USAGE;
			break;
		case 'N':
			no_sync = 1;
			break;
		case 'O':
			cfg.flags |= MRING_F_ANY_OWNER;
			break;
		case 'P':
			when = parse_progress(optarg);
			if (when < 0)
				return EXIT_USAGE;
			break;
		case 'h':
			return print_help(usage);
		default:
			return usage_err("read", "bad option");
		}
	}
	if (optind >= argc)
		return usage_err("read", "missing FILE");
	if (optind + 1 < argc)
		return usage_err("read", "unexpected argument '%s'",
		                 argv[optind + 1]);
	rd.path = argv[optind];
	int sync_opt = no_sync || rd.dur.every || rd.dur.every_s;
	if (sync_opt && !cfg.consumer_name)
		return usage_err("read", "--sync-every and --no-sync go with "
		                         "--consumer NAME (an observer has no "
		                         "stored position)");
	if (no_sync && (rd.dur.every || rd.dur.every_s))
		return usage_err("read", "--no-sync and --sync-every do not go "
		                         "together");
	if (rd.pcap && rd.raw)
		return usage_err("read",
		                 "--pcap writes packets, --raw records: "
		                 "choose one");
	rd.dur.on = cfg.consumer_name && !no_sync;
	rd.dur.what = "the consumer's position";

	struct ring_state st;
	int rc = ring_state_read(rd.path, &st);
	if (rc < 0)
		return ring_err(rd.path, rc, USE_CONSUMER, cfg.consumer_name);
	rd.records = !!(st.info.flags & MRING_F_RECORDS);
	rd.overwrite = !!(st.info.flags & MRING_F_OVERWRITE);
	rd.reccap = st.info.max_record;
	ring_state_free(&st);
	if (rd.pcap && !rd.records) {
		msg("%s: --pcap reads record rings of packets (one per record, "
		    "as examples/capture.c writes them); this is a byte ring — "
		    "if it holds a pcap stream, read it without --pcap",
		    rd.path);
		return EXIT_USAGE;
	}
	if (rd.pcap) {
		rd.raw = 1; /* no newline after a packet */
		rd.rec = malloc(rd.reccap ? rd.reccap : 1);
		if (!rd.rec) {
			msg("out of memory");
			return EXIT_FAIL;
		}
	}

	rc = mring_open(rd.path, MRING_CONSUMER, &cfg, &rd.r);
	if (rc < 0)
		return ring_err(rd.path, rc, USE_CONSUMER, cfg.consumer_name);
	stop_on_signals();
	progress_init(&rd.pr, when, "read");
	durable_start(&rd.dur, rd.r, rd.path);
	/* The file header first, even if no packet follows: a valid (empty)
	 * capture. */
	if (rd.pcap && pcap_header(&rd) < 0)
		rc = rd.failed ? EXIT_FAIL : EXIT_OK;
	else
		rc = read_loop(&rd);
	/* The position where it stopped, durable: at the end, after a stop
	 * signal or a closed stdout; not after an error. */
	if (rc == EXIT_OK || rc > 128) {
		int src = durable_end(&rd.dur);
		if (rc == EXIT_OK)
			rc = src;
	}
	mring_close(rd.r); /* a durable consumer keeps its position */
	free(rd.rec);
	progress_done(&rd.pr);
	return rc;
}
