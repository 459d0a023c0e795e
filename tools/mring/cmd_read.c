/*
 * mring read: the ring to stdout, as a consumer. Byte mode writes straight
 * from the mapping and releases only what stdout took; record mode prints
 * one record per line (or raw) through a small output buffer.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	"end. Without a name, read is an observer, which needs only read\n"
	"permission on the ring (a durable consumer needs write permission\n"
	"too: it stores its position in the ring).\n"
	"\n"
	"Options:\n"
	"  -c, --consumer NAME    read as the durable consumer NAME (1-31 "
	"bytes)\n"
	"  -f, --follow           wait for new data until the stream ends\n"
	"      --from WHERE       start at WHERE: oldest, newest, seq:N (the\n"
	"                         record numbered N), time:TIME (the first\n"
	"                         record written at or after TIME; rings made\n"
	"                         with --timestamps) or pos:N (byte position;\n"
	"                         records: the first starting there or after).\n"
	"                         TIME is ISO 8601, 2026-12-02T14:02:10Z,\n"
	"                         ...10.5+01:00, '2026-12-02 14:02' (local\n"
	"                         time), or @NANOSECONDS since the epoch.\n"
	"                         Moves a durable consumer's stored position.\n"
	"                         Without it: where the consumer left off, or\n"
	"                         the oldest data for a new one\n"
	"      --show FIELDS      record rings: start each line with FIELDS,\n"
	"                         a comma-separated list of seq, time and pos,\n"
	"                         each as --from takes it (seq:N, time:TIME,\n"
	"                         pos:N) and followed by a tab\n"
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

/* --show: what goes before each record. */
enum { SHOW_SEQ = 1, SHOW_TIME, SHOW_POS };
#define SHOW_MAX 3

struct reader {
	const char *path;
	struct mring *r;
	int follow, raw, records, overwrite, pcap;
	int show[SHOW_MAX];   /* SHOW_*, in the order asked; 0 ends */
	const char *consumer; /* --consumer NAME, or NULL */
	unsigned char *rec;   /* --pcap: a copy of the record */
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

	if (rd->show[0]) {
		/* The fields of --show, as --from takes them. */
		struct mring_where w;
		char pre[3 * (TIME_LEN + 8)], t[TIME_LEN];
		size_t n = 0;
		mring_tell(rd->r, &w);
		for (int i = 0; i < SHOW_MAX && rd->show[i]; i++) {
			if (rd->show[i] == SHOW_SEQ)
				n += (size_t)snprintf(
					pre + n, sizeof(pre) - n, "seq:%llu\t",
					(unsigned long long)w.seq);
			else if (rd->show[i] == SHOW_TIME)
				n += (size_t)snprintf(pre + n, sizeof(pre) - n,
				                      "time:%s\t",
				                      fmt_time_ns(w.ts, t));
			else
				n += (size_t)snprintf(
					pre + n, sizeof(pre) - n, "pos:%llu\t",
					(unsigned long long)w.pos);
		}
		if (rd->outlen + n > sizeof(rd->out) && out_flush(rd) < 0)
			return -1;
		memcpy(rd->out + rd->outlen, pre, n);
		rd->outlen += n;
	}

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
			if (rd->consumer)
				msg("%s: corrupt record at position %llu — see "
				    "'mring check %s'; 'mring consumer skip %s "
				    "%s' moves this consumer past it (what it "
				    "skips is lost)",
				    rd->path, (unsigned long long)s.position,
				    rd->path, rd->path, rd->consumer);
			else
				msg("%s: corrupt record at position %llu — see "
				    "'mring check %s'",
				    rd->path, (unsigned long long)s.position,
				    rd->path);
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

/* --from WHERE. */
struct from {
	int given;
	int whence; /* MRING_SEEK_* */
	uint64_t value;
	const char *text; /* as given */
};

static int parse_from(const char *s, struct from *f)
{
	f->given = 1;
	f->text = s;
	f->value = 0;
	if (!strcmp(s, "oldest")) {
		f->whence = MRING_SEEK_OLDEST;
		return 0;
	}
	if (!strcmp(s, "newest")) {
		f->whence = MRING_SEEK_NEWEST;
		return 0;
	}
	if (!strncmp(s, "seq:", 4) || !strncmp(s, "pos:", 4)) {
		char *end;
		f->whence = s[0] == 's' ? MRING_SEEK_SEQ : MRING_SEEK_POS;
		errno = 0;
		f->value = strtoull(s + 4, &end, 10);
		if (!isdigit((unsigned char)s[4]) || *end || errno) {
			msg("--from %s: expected a number after '%.4s'", s, s);
			return -1;
		}
		return 0;
	}
	if (!strncmp(s, "time:", 5)) {
		f->whence = MRING_SEEK_TIME;
		return parse_time_ns("--from time:", s + 5, &f->value);
	}
	usage_err("read",
	          "--from %s: expected oldest, newest, seq:N, time:TIME or "
	          "pos:N",
	          s);
	return -1;
}

/* --show FIELDS (may be given several times): appended to rd->show. */
static int parse_show(struct reader *rd, const char *s)
{
	char buf[64];
	int n = 0;

	while (n < SHOW_MAX && rd->show[n])
		n++;
	if (strlen(s) >= sizeof(buf)) {
		usage_err("read", "--show: expected a list of seq, time, pos");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save, *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int v = !strcmp(t, "seq")    ? SHOW_SEQ
		        : !strcmp(t, "time") ? SHOW_TIME
		        : !strcmp(t, "pos")  ? SHOW_POS
		                             : 0;
		if (!v) {
			usage_err("read",
			          "--show %s: '%s' is not a field (seq, time, "
			          "pos)",
			          s, t);
			return -1;
		}
		int dup = 0;
		for (int i = 0; i < n; i++)
			dup |= rd->show[i] == v;
		if (!dup)
			rd->show[n++] = v;
	}
	if (n == 0) {
		usage_err("read", "--show: expected seq, time or pos");
		return -1;
	}
	return 0;
}

/*
 * --from on the open handle: mring_seek, and what it means in words.
 * Returns 0, or the exit status after a message.
 */
static int seek_from(struct reader *rd, const struct from *f, const char *name)
{
	struct mring_where w;
	struct mring_stats s;
	char t[TIME_LEN], at[96];
	int rc = mring_seek(rd->r, f->whence, f->value);

	mring_stats(rd->r, &s);
	if (rc == -ERANGE) {
		if (f->whence == MRING_SEEK_POS)
			msg("%s: --from %s: beyond the end of the stream (the "
			    "head, where the next byte goes, is pos:%llu)",
			    rd->path, f->text, (unsigned long long)s.head);
		else
			msg("%s: --from %s: there is no record with that "
			    "number yet (it is beyond the newest record)",
			    rd->path, f->text);
		return EXIT_FAIL;
	}
	if (rc == MRING_ECORRUPT) {
		msg("%s: --from %s: a damaged record on the way — see 'mring "
		    "check %s'",
		    rd->path, f->text, rd->path);
		return EXIT_FAIL;
	}
	if (rc == -EAGAIN) {
		msg("%s: --from %s: the producer overwrote the records faster "
		    "than they could be searched; try again, or a later point",
		    rd->path, f->text);
		return EXIT_FAIL;
	}
	if (rc < 0)
		return ring_err(rd->path, rc, USE_CONSUMER, name);
	mring_tell(rd->r, &w);
	if (w.seq != MRING_SEQ_NONE)
		snprintf(at, sizeof(at), "seq:%llu, pos:%llu",
		         (unsigned long long)w.seq, (unsigned long long)w.pos);
	else
		snprintf(at, sizeof(at), "pos:%llu", (unsigned long long)w.pos);
	if (rc == 1 && f->whence == MRING_SEEK_TIME)
		msg("%s: --from %s: records written then were overwritten "
		    "(the oldest record left is later); reading from the "
		    "oldest record instead (%s)",
		    rd->path, f->text, at);
	else if (rc == 1)
		msg("%s: --from %s: no longer in the ring (overwritten); "
		    "reading from the oldest %s instead (%s)",
		    rd->path, f->text, rd->records ? "record" : "data", at);
	else if (f->whence == MRING_SEEK_TIME && w.pos == s.head)
		msg("%s: --from %s (%s): no record was written that late yet; "
		    "only records written from now on follow",
		    rd->path, f->text, fmt_time_ns(f->value, t));
	return EXIT_OK;
}

/*
 * mring_open failed. Permission problems get words for what a reader
 * needs: an observer only read permission (the library falls back to a
 * read-only observer by itself), a durable consumer also write
 * permission, since it stores its position in the ring.
 */
static int open_err(const char *path, int rc, const struct mring_config *cfg)
{
	struct stat sb;

	if ((rc == -EACCES || rc == -EPERM || rc == -EROFS) &&
	    stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
		int readable = access(path, R_OK) == 0;
		if (cfg->consumer_name && readable) {
			msg("%s: %s — a durable consumer (--consumer) stores its "
			    "position in the ring file and needs write access "
			    "to it%s; without --consumer, read is an observer, "
			    "which only needs read permission",
			    path, mring_strerror(rc),
			    rc == -EROFS ? " (the file system is read-only)"
			                 : "");
			return EXIT_USAGE;
		}
		if (!cfg->consumer_name && readable && sb.st_uid != geteuid() &&
		    !(cfg->flags & MRING_F_ANY_OWNER)) {
			msg("%s: %s — the ring belongs to another user (uid "
			    "%d) and you may only read it; add --any-owner to "
			    "read it anyway as a read-only observer (only if "
			    "you trust that user: the owner can truncate it "
			    "under the reader)",
			    path, mring_strerror(rc), (int)sb.st_uid);
			return EXIT_USAGE;
		}
		if (!readable) {
			msg("%s: %s — reading a ring needs read permission on "
			    "the file (an observer) or read and write "
			    "permission (--consumer)",
			    path, mring_strerror(rc));
			return EXIT_USAGE;
		}
	}
	return ring_err(path, rc, USE_CONSUMER, cfg->consumer_name);
}

int cmd_read(int argc, char **argv)
{
	static const struct option opts[] = {
		{"consumer", required_argument, NULL, 'c'},
		{"follow", no_argument, NULL, 'f'},
		{"from", required_argument, NULL, 'F'},
		{"show", required_argument, NULL, 's'},
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
	struct from from = {0};

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
			if (parse_from(optarg, &from) < 0)
				return EXIT_USAGE;
			/* A new consumer starts there; then the seek. */
			cfg.start = from.whence == MRING_SEEK_NEWEST
			                    ? MRING_START_NEWEST
			                    : MRING_START_OLDEST;
			break;
		case 's':
			if (parse_show(&rd, optarg) < 0)
				return EXIT_USAGE;
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
	if (rd.show[0] && (rd.pcap || rd.raw))
		return usage_err("read", "--show labels lines of text; it does "
		                         "not go with --raw or --pcap");
	rd.consumer = cfg.consumer_name;
	rd.dur.on = cfg.consumer_name && !no_sync;
	rd.dur.what = "the consumer's position";

	struct ring_state st;
	int rc = ring_state_read(rd.path, &st);
	if (rc < 0)
		return ring_err(rd.path, rc, USE_CONSUMER, cfg.consumer_name);
	int known = 0; /* the durable consumer exists already */
	for (unsigned i = 0; cfg.consumer_name && i < st.ncons; i++)
		known |= st.cons[i].durable &&
		         !strcmp(st.cons[i].name, cfg.consumer_name);
	rd.records = !!(st.info.flags & MRING_F_RECORDS);
	rd.overwrite = !!(st.info.flags & MRING_F_OVERWRITE);
	rd.reccap = st.info.max_record;
	int stamped = !!(st.info.flags & MRING_F_TIMESTAMPS);
	ring_state_free(&st);
	int want_time = from.given && from.whence == MRING_SEEK_TIME;
	for (int i = 0; i < SHOW_MAX; i++)
		want_time |= rd.show[i] == SHOW_TIME;
	if (!rd.records &&
	    (rd.show[0] || (from.given && from.whence == MRING_SEEK_SEQ) ||
	     want_time)) {
		msg("%s: this is a byte ring: it has no records, so no record "
		    "numbers or times (--from seq:, --from time:, --show); "
		    "--from pos:N seeks by byte position",
		    rd.path);
		return EXIT_USAGE;
	}
	if (want_time && !stamped) {
		msg("%s: this ring's records carry no time (it was created "
		    "without --timestamps); --from seq:N and --show seq use "
		    "record numbers instead",
		    rd.path);
		return EXIT_USAGE;
	}
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
	if (rc < 0) {
		free(rd.rec);
		return open_err(rd.path, rc, &cfg);
	}
	if (from.given) {
		rc = seek_from(&rd, &from, cfg.consumer_name);
		if (rc != EXIT_OK) {
			mring_close(rd.r);
			free(rd.rec);
			/* A consumer this run registered does not stay
			 * behind, holding the producer back, after an
			 * error. */
			if (cfg.consumer_name && !known)
				mring_consumer_remove(rd.path,
				                      cfg.consumer_name);
			return rc;
		}
	}
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
