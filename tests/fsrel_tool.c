/*
 * Helper of the file-system reliability tests (tests/fsrel_*.sh), which
 * set up loop devices and mounts; this program only uses the public API.
 *
 *   fsrel_tool write RING MODE ACKLOG [RECLAIM]
 *       Create RING and produce into it until killed. Every batch of
 *       records ends with mring_sync(); once it returned, the line
 *       "<count> <head>" is appended to ACKLOG (outside the file system
 *       under test): the first <count> records (byte mode: bytes) are
 *       durable, and the stream had reached position <head>. Prints
 *       "ready" on stdout once SIGTERM (which ends it cleanly) is
 *       handled: the caller must wait for that line before signalling.
 *
 *   fsrel_tool check RING MODE NACK HEAD_AT_CUT
 *       RING is a copy of what a power cut left. Open it as a producer
 *       (recovery runs), read everything, and check the durability
 *       contract: every record delivered is intact and in sequence; every
 *       acknowledged record (seq < NACK) is delivered unless a later lap
 *       could legitimately have overwritten it (it starts more than
 *       capacity/2 before HEAD_AT_CUT, the writer's head when the copy
 *       was taken; half a capacity covers the reclaim that runs ahead of
 *       the writer). Prints one line of figures; exit 0 = contract held,
 *       1 = violated, 2 = could not check.
 *
 *   fsrel_tool fill RING MODE RECLAIM THREAD FILLER LAP
 *       Full disk: create RING, and FILLER, a competing file that takes
 *       the free space (LAP 0: before the ring's first lap, leaving half a
 *       capacity; LAP 1: after a lap, and again whenever blocks come
 *       free). Produce, a durable consumer following, until mring_reserve
 *       or mring_sync fails: it must fail with -ENOSPC (LAP 1: or never).
 *       Every committed byte is read back intact; FILLER is removed and
 *       production must resume for a lap and a half. Exit 0 = as
 *       expected; a signal (SIGBUS) shows in the caller's exit status.
 *
 *   fsrel_tool policy DIR
 *       The reclaim policy a producer gets for a ring in DIR, with AUTO
 *       and each explicit policy, after three laps (see cmd_policy).
 *
 *   fsrel_tool head RING
 *       Print the ring's head as the control block says now.
 *
 *   fsrel_tool madvise
 *       Exit 0 if madvise() does what it is asked here; else print why
 *       not (qemu-user) and exit 1.
 *
 * MODE letters: r records (else bytes), c CRC, o overwrite.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXREC 8192u

struct mode {
	bool records, crc, overwrite;
};

static struct mode parse_mode(const char *s)
{
	struct mode m = {0};

	m.records = strchr(s, 'r') != NULL;
	m.crc = strchr(s, 'c') != NULL;
	m.overwrite = strchr(s, 'o') != NULL;
	return m;
}

static unsigned mode_flags(struct mode m)
{
	return (m.records ? MRING_F_RECORDS : 0) | (m.crc ? MRING_F_CRC : 0) |
	       (m.overwrite ? MRING_F_OVERWRITE : 0);
}

/* Length of record (or byte-mode write) number k. */
static size_t len_of(uint64_t k)
{
	return tu_rec_len(k, 0x5eed, 1, MAXREC - 1000);
}

static int reclaim_of(const char *s)
{
	static const char *names[] = {"auto", "none", "cache", "zero", "punch"};

	for (int i = 0; i < 5; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	fprintf(stderr, "fsrel_tool: unknown reclaim policy %s\n", s);
	exit(2);
}

/* ---- write --------------------------------------------------------------- */

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmd_write(const char *path, struct mode m, const char *acklog,
                     int reclaim)
{
	static uint8_t buf[MAXREC];
	struct mring *p;
	uint64_t k = 0, pos = 0, seed = 0x5eed;
	int rc;

	signal(SIGTERM, on_term);
	/* The handshake: a SIGTERM from now on ends the loop, exit 0. */
	printf("ready\n");
	fflush(stdout);
	rc = mring_create(path, &(struct mring_config){
					.capacity = 8u << 20,
					.max_record = MAXREC,
					.flags = mode_flags(m),
				});
	if (rc < 0) {
		fprintf(stderr, "create %s: %s\n", path, mring_strerror(rc));
		return 2;
	}
	rc = mring_open(path, MRING_PRODUCER,
	                &(struct mring_config){.reclaim = reclaim}, &p);
	if (rc < 0) {
		fprintf(stderr, "open: %s\n", mring_strerror(rc));
		return 2;
	}
	FILE *ack = fopen(acklog, "a");
	if (!ack)
		return 2;
	setvbuf(ack, NULL, _IOLBF, 0);
	while (!stop) {
		uint64_t batch = 1 + tu_rand(&seed) % 200;
		/* Now and then laps of the ring go by unsynced, while the
		 * maintenance thread writes data back and reclaims: the
		 * control block on disk grows old under newer data. */
		if (tu_rand(&seed) % 4 == 0)
			batch = 2000 + tu_rand(&seed) % 8000;
		for (uint64_t i = 0; i < batch; i++, k++) {
			size_t n = len_of(k);
			if (m.records)
				tu_rec_fill(buf, k, n);
			else
				tu_fill(buf, pos, n);
			ssize_t w = mring_write(p, buf, n, -1);
			if (w != (ssize_t)n) {
				fprintf(stderr, "write: %s\n",
				        mring_strerror((int)w));
				return 2;
			}
			pos += n;
		}
		rc = mring_sync(p);
		if (rc < 0) {
			fprintf(stderr, "sync: %s\n", mring_strerror(rc));
			return 2;
		}
		struct mring_stats st;
		mring_stats(p, &st);
		/* Durable now: k records, pos bytes; stream at st.head. */
		fprintf(ack, "%" PRIu64 " %" PRIu64 "\n", m.records ? k : pos,
		        st.head);
	}
	mring_close(p);
	fclose(ack);
	return 0;
}

/* ---- check --------------------------------------------------------------- */

/* Stream position where record k starts (records mode). */
static uint64_t rec_pos(uint64_t k)
{
	static uint64_t known_k, known_pos;

	if (k < known_k)
		known_k = known_pos = 0;
	for (; known_k < k; known_k++)
		known_pos += tu_rec_size(len_of(known_k));
	return known_pos;
}

static int cmd_check(const char *path, struct mode m, uint64_t nack,
                     uint64_t head_at_cut)
{
	static uint8_t buf[MAXREC];
	struct mring_info in;
	struct mring_stats st;
	struct mring *p, *c;
	int rc = mring_inspect(path, &in, NULL, 0);

	if (rc < 0) {
		printf("inspect: %s\n", mring_strerror(rc));
		/* Nothing acknowledged yet: the file may not exist. */
		return nack == 0 ? 0 : 1;
	}
	uint64_t disk_head = in.head, disk_synced = in.synced;
	rc = mring_open(path, MRING_PRODUCER, NULL, &p);
	if (rc < 0) {
		printf("producer open: %s\n", mring_strerror(rc));
		return 1;
	}
	mring_stats(p, &st);
	uint64_t rec_head = st.head;
	rc = mring_open(path, MRING_CONSUMER,
	                &(struct mring_config){.start = MRING_START_OLDEST},
	                &c);
	if (rc < 0) {
		printf("consumer open: %s\n", mring_strerror(rc));
		return 1;
	}
	mring_close(p);

	/* Positions below `safe` may have been overwritten by a later lap. */
	uint64_t cap = in.capacity;
	uint64_t safe = head_at_cut > cap / 2 ? head_at_cut - cap / 2 : 0;
	uint64_t first = UINT64_MAX, next = 0, got = 0, pos = 0;
	int bad = 0;
	ssize_t n;
	const char *why = "";

	mring_stats(c, &st);
	pos = st.position;
	for (;;) {
		n = mring_read(c, buf, sizeof buf, 0);
		if (n <= 0)
			break;
		if (m.records) {
			uint64_t seq = tu_rec_seq(buf);
			if (first == UINT64_MAX)
				first = next = seq;
			if (seq != next || (size_t)n != len_of(seq) ||
			    tu_rec_check(buf, seq, (size_t)n) >= 0) {
				why = "record out of sequence or torn";
				bad = 1;
				break;
			}
			next++;
		} else {
			if (first == UINT64_MAX)
				first = pos;
			/* Bytes old enough to be overwritten are excused. */
			size_t off = 0;
			if (safe > pos)
				off = safe - pos < (uint64_t)n ? safe - pos
				                               : (size_t)n;
			if (tu_check(buf + off, pos + off, (size_t)n - off) >=
			    0) {
				why = "byte differs";
				bad = 1;
				break;
			}
			pos += (uint64_t)n;
			next = pos;
		}
		got++;
	}
	if (!bad && n < 0) {
		why = mring_strerror((int)n);
		bad = 1;
	}
	/* Every acknowledged record (byte) not old enough is there. */
	if (!bad) {
		uint64_t must_from = 0;
		if (m.records) {
			/* First acknowledged record at or after `safe`. */
			uint64_t lo = 0, hi = nack;
			while (lo < hi) {
				uint64_t mid = lo + (hi - lo) / 2;
				if (rec_pos(mid) < safe)
					lo = mid + 1;
				else
					hi = mid;
			}
			must_from = lo;
		} else {
			must_from = safe < nack ? safe : nack;
		}
		if (must_from < nack &&
		    (first == UINT64_MAX || first > must_from || next < nack)) {
			why = "acknowledged data missing";
			bad = 1;
		}
	}
	printf("%s acked %" PRIu64 " delivered %" PRIu64 " first %" PRIu64
	       " next %" PRIu64 " | disk head %" PRIu64 " synced %" PRIu64
	       " recovered head %" PRIu64 " cut head %" PRIu64 "%s%s\n",
	       bad ? "FAIL" : "ok", nack, got, first == UINT64_MAX ? 0 : first,
	       next, disk_head, disk_synced, rec_head, head_at_cut,
	       bad ? ": " : "", why);
	mring_close(c);
	return bad;
}

/* ---- fill ----------------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Take every free block of the file system for the file behind fd, as a
 * competing writer would. */
static void grab(int fd)
{
	struct stat st;

	for (off_t step = 1 << 20; step >= 4096; step /= 16) {
		for (;;) {
			if (fstat(fd, &st) < 0 ||
			    fallocate(fd, 0, st.st_size, step) < 0)
				break;
		}
	}
}

struct fill {
	struct mode m;
	struct mring *p, *c;
	uint64_t k, pos;   /* produced: records, bytes */
	uint64_t rk, rpos; /* read back by the durable consumer */
	int filler;        /* fd of the competing file */
	bool compete;      /* grab freed blocks while producing */
};

/* The durable consumer reads what there is, checking every byte. */
static int follow(struct fill *f)
{
	static uint8_t buf[MAXREC];
	ssize_t n;

	while ((n = mring_read(f->c, buf, sizeof buf, 0)) > 0) {
		if (f->m.records ? tu_rec_check(buf, f->rk, (size_t)n) >= 0 ||
		                           (size_t)n != len_of(f->rk)
		                 : tu_check(buf, f->rpos, (size_t)n) >= 0) {
			printf("FAIL: committed data damaged at %" PRIu64 "\n",
			       f->rpos);
			return -1;
		}
		f->rk++;
		f->rpos += (uint64_t)n;
	}
	if (n != -EAGAIN) {
		printf("FAIL: read: %s\n", mring_strerror((int)n));
		return -1;
	}
	return 0;
}

/* Produce until `until` bytes or an error; the reader follows. Returns 0
 * or the error of mring_reserve / mring_sync, -1000000 on a check
 * failure. */
static int produce(struct fill *f, uint64_t until)
{
	int rc = 0;

	while (f->pos < until) {
		size_t n = len_of(f->k);
		void *w;
		rc = mring_reserve(f->p, n, &w, 5000);
		if (rc < 0)
			return rc;
		if (f->m.records)
			tu_rec_fill(w, f->k, n);
		else
			tu_fill(w, f->pos, n);
		mring_commit(f->p, n);
		f->k++;
		f->pos += n;
		/* A sync now and then: its write-back may be what fails. */
		if (f->k % 1024 == 0 && (rc = mring_sync(f->p)) < 0)
			return rc;
		if (f->k % 64 == 0) {
			if (follow(f) < 0)
				return -1000000;
			if (f->compete)
				grab(f->filler);
		}
	}
	return 0;
}

/* Everything still in the ring, read by a new observer, is intact. */
static int check_all(const char *path, struct fill *f, uint64_t *bytes)
{
	static uint8_t buf[MAXREC];
	struct mring_stats st;
	struct mring *o;
	ssize_t n;
	int rc = mring_open(path, MRING_CONSUMER, NULL, &o);

	*bytes = 0;
	if (rc < 0)
		return rc;
	mring_stats(o, &st);
	uint64_t pos = st.position, seq = UINT64_MAX;
	/* An observer may be lapped by the reclaim ahead of the head: it
	 * goes on at the oldest intact data. */
	while ((n = mring_read(o, buf, sizeof buf, 0)) > 0 ||
	       n == MRING_ELAPPED) {
		bool bad;
		if (n == MRING_ELAPPED) {
			mring_stats(o, &st);
			pos = st.position;
			seq = UINT64_MAX;
			continue;
		}
		if (f->m.records) {
			if (seq == UINT64_MAX)
				seq = tu_rec_seq(buf);
			bad = (size_t)n != len_of(seq) ||
			      tu_rec_check(buf, seq, (size_t)n) >= 0;
			seq++;
		} else {
			bad = tu_check(buf, pos, (size_t)n) >= 0;
		}
		if (bad) {
			mring_close(o);
			return -1000000;
		}
		pos += (uint64_t)n;
		*bytes += (uint64_t)n;
	}
	mring_close(o);
	return n == -EAGAIN ? 0 : (int)n;
}

/*
 * lap 0: another file takes all but half a capacity first, so the sparse
 * ring cannot get its blocks on the first lap. lap 1: the ring gets a lap
 * in, then a competing writer takes every block that becomes free.
 */
static int cmd_fill(const char *path, struct mode m, int reclaim, bool thread,
                    const char *filler, int lap)
{
	const uint64_t cap = 16u << 20;
	struct fill f = {.m = m};
	struct mring_config pc = {.reclaim = reclaim,
	                          .flags = thread ? 0 : MRING_F_NO_PREFETCH};
	struct mring_stats st;
	uint64_t intact;
	int rc;

	int64_t t0 = now_ns();
	rc = mring_create(path, &(struct mring_config){
					.capacity = cap,
					.max_record = MAXREC,
					.flags = mode_flags(m),
				});
	if (rc < 0) {
		printf("FAIL: create: %s\n", mring_strerror(rc));
		return 1;
	}
	f.filler = open(filler, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (f.filler < 0)
		return 2;
	rc = mring_open(path, MRING_CONSUMER,
	                &(struct mring_config){.consumer_name = "keep"}, &f.c);
	if (rc == 0)
		rc = mring_open(path, MRING_PRODUCER, &pc, &f.p);
	if (rc < 0) {
		printf("FAIL: open: %s\n", mring_strerror(rc));
		return 1;
	}
	if (lap == 0) {
		struct stat sb;
		grab(f.filler);
		fstat(f.filler, &sb);
		if (ftruncate(f.filler, sb.st_size > (off_t)cap / 2
		                                ? sb.st_size - (off_t)cap / 2
		                                : 0) < 0)
			return 2;
	} else {
		rc = produce(&f, cap + cap / 4);
		if (rc < 0) {
			printf("FAIL: first lap: %s\n", mring_strerror(rc));
			return 1;
		}
		grab(f.filler);
		f.compete = true;
	}
	/* Until the disk is full; a ring with its blocks may never be. */
	rc = produce(&f, f.pos + 3 * cap);
	int64_t t_full = now_ns();
	mring_stats(f.p, &st);
	const char *names[] = {"auto", "none", "cache", "zero", "punch"};
	printf("policy %s (in effect: %s) thread %d lap %d: ", names[reclaim],
	       thread ? names[st.reclaim] : "none, no thread", thread, lap);
	if (rc == 0) {
		printf("no ENOSPC in 3 more laps (%" PRIu64 " MiB)",
		       f.pos >> 20);
	} else if (rc == -ENOSPC) {
		printf("ENOSPC at %" PRIu64 " MiB", f.pos >> 20);
	} else {
		struct statfs sf;
		fstatfs(f.filler, &sf);
		printf("FAIL: stopped by %s at %" PRIu64
		       " bytes (%llu blocks of %ld free)\n",
		       mring_strerror(rc), f.pos,
		       (unsigned long long)sf.f_bavail, (long)sf.f_bsize);
		return 1;
	}
	if (follow(&f) < 0)
		return 1;
	if (f.rpos != f.pos) {
		printf("\nFAIL: read back %" PRIu64 " of %" PRIu64 "\n", f.rpos,
		       f.pos);
		return 1;
	}
	rc = check_all(path, &f, &intact);
	if (rc < 0) {
		printf("\nFAIL: ring content after the error: %s\n",
		       mring_strerror(rc));
		return 1;
	}
	printf(", all committed read back, %" PRIu64 " MiB in the ring intact"
	       " (%.1f s)",
	       intact >> 20, (double)(t_full - t0) / 1e9);
	/* Space comes back: production resumes, over a whole lap. */
	f.compete = false;
	close(f.filler);
	unlink(filler);
	uint64_t from = f.pos;
	for (int tries = 0; tries < 200; tries++) {
		rc = produce(&f, from + cap + cap / 2);
		/* A failed chunk is retried by the thread a moment later. */
		if (rc != -ENOSPC)
			break;
		tu_sleep_ms(10);
	}
	const char *step = "producing";
	if (rc == 0) {
		step = "syncing";
		rc = mring_sync(f.p);
	}
	if (rc == 0) {
		step = "reading";
		if (follow(&f) < 0)
			rc = -1000000;
	}
	if (rc < 0 || f.rpos != f.pos) {
		printf("\nFAIL: after freeing space, %s at %" PRIu64
		       " (from %" PRIu64 ", read back %" PRIu64 "): %s\n",
		       step, f.pos, from, f.rpos,
		       rc < 0 ? mring_strerror(rc) : "not all read back");
		return 1;
	}
	printf(", resumed %" PRIu64 " MiB (%.1f s)\n", (f.pos - from) >> 20,
	       (double)(now_ns() - t0) / 1e9);
	mring_close(f.p);
	mring_close(f.c);
	return 0;
}

/* ---- policy ---------------------------------------------------------------- */

/*
 * The reclaim policy a producer gets in DIR, and whether it works there:
 * for AUTO and each explicit policy, a 64 MiB ring with a 16 MiB page-cache
 * budget (so AUTO does not pick "none" for a ring that fits in memory) is
 * written for three laps; the policy in effect afterwards (the thread
 * falls back when the file system refuses an operation) and the reclaim
 * operations done are printed.
 */
static int cmd_policy(const char *dir)
{
	static const char *names[] = {"auto", "none", "cache", "zero", "punch"};
	const uint64_t cap = 64u << 20;
	static uint8_t buf[1 << 16];
	char path[4096];
	int bad = 0;

	snprintf(path, sizeof path, "%s/fsrel-policy-%d", dir, (int)getpid());
	for (int pol = MRING_RECLAIM_AUTO; pol <= MRING_RECLAIM_PUNCH; pol++) {
		struct mring_stats st;
		struct mring *p;
		unlink(path);
		int rc = mring_create(path,
		                      &(struct mring_config){.capacity = cap});
		if (rc == 0)
			rc = mring_open(path, MRING_PRODUCER,
			                &(struct mring_config){
						.reclaim = pol,
						.cache_budget = 16u << 20,
					},
			                &p);
		if (rc < 0) {
			printf("%s: %s; ", names[pol], mring_strerror(rc));
			bad = 1;
			continue;
		}
		for (uint64_t done = 0; done < 3 * cap && rc >= 0;
		     done += sizeof buf)
			rc = (int)mring_write(p, buf, sizeof buf, 5000);
		mring_stats(p, &st);
		mring_close(p);
		printf("%s -> %s (%llu ops)%s; ", names[pol], names[st.reclaim],
		       (unsigned long long)st.reclaim_ops,
		       rc < 0 ? " write failed" : "");
		bad |= rc < 0;
	}
	printf("\n");
	unlink(path);
	return bad;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 5 && strcmp(argv[1], "write") == 0)
		return cmd_write(argv[2], parse_mode(argv[3]), argv[4],
		                 argc > 5 ? reclaim_of(argv[5]) : 0);
	if (argc == 6 && strcmp(argv[1], "check") == 0)
		return cmd_check(argv[2], parse_mode(argv[3]),
		                 strtoull(argv[4], NULL, 0),
		                 strtoull(argv[5], NULL, 0));
	if (argc == 8 && strcmp(argv[1], "fill") == 0)
		return cmd_fill(argv[2], parse_mode(argv[3]),
		                reclaim_of(argv[4]), atoi(argv[5]) != 0,
		                argv[6], atoi(argv[7]));
	if (argc == 3 && strcmp(argv[1], "policy") == 0)
		return cmd_policy(argv[2]);
	if (argc == 3 && strcmp(argv[1], "head") == 0) {
		struct mring_info in;
		int rc = mring_inspect(argv[2], &in, NULL, 0);
		if (rc < 0) {
			printf("%s\n", mring_strerror(rc));
			return 2;
		}
		printf("%" PRIu64 "\n", in.head);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "madvise") == 0) {
		const char *why = tu_madvise_ignored();
		if (why)
			printf("%s\n", why);
		return why ? 1 : 0;
	}
	fprintf(stderr, "usage: see the comment at the top of fsrel_tool.c\n");
	return 2;
}
