/* The crash-torture engine; see torture.h. */
#define _GNU_SOURCE
#include "torture.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define TT_COPY_MAX (64u << 10) /* bytes a byte-mode reader takes at once */
#define TT_WAIT_MS 20           /* workers' timeouts: they look at SIGTERM */

static const char *const kind_names[TT_KINDS] = {
	[TT_NONE] = "none",
	[TT_EXTERNAL] = "external",
	[TT_RESERVED] = "reserve-commit",
	[TT_COMMITTED] = "after-commit",
	[TT_PEEKED] = "peek-release",
	[TT_RELEASED] = "after-release",
	[TT_WINDOW] = "window-change",
	[TT_TERM] = "clean-close",
	[TT_JOINED] = "after-join",
	[TT_LEFT] = "close-remove",
};

const char *tt_kind_name(int kind)
{
	return kind >= 0 && kind < TT_KINDS ? kind_names[kind] : "?";
}

static const unsigned config_flags[TT_NCONFIGS] = {
	MRING_F_RECORDS,
	MRING_F_RECORDS | MRING_F_CRC,
	0,
	MRING_F_RECORDS | MRING_F_OVERWRITE,
	MRING_F_RECORDS | MRING_F_CRC | MRING_F_OVERWRITE,
	MRING_F_OVERWRITE,
};

static const char *const config_names[TT_NCONFIGS] = {
	"records/backpressure",  "records+crc/backpressure",
	"bytes/backpressure",    "records/overwrite",
	"records+crc/overwrite", "bytes/overwrite",
};

unsigned tt_config_flags(int i)
{
	return config_flags[i % TT_NCONFIGS];
}

const char *tt_config_name(int i)
{
	return config_names[i % TT_NCONFIGS];
}

/* ==== the workers (child processes) ===================================== */

/* One life of one worker, as the child sees it. */
struct life {
	struct tt_rig *rig;
	int w;
	struct tt_plan plan;
	uint64_t count; /* operations of plan.kind so far */
	uint64_t rnd;
	uint64_t win;
	struct tt_shared *sh;
};

/* SIGTERM: close and exit. Atomic, not only volatile: the signal may land
 * on the producer's maintenance thread. */
static int stop_flag;

static void on_term(int sig)
{
	(void)sig;
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
}

static bool stopping(void)
{
	return __atomic_load_n(&stop_flag, __ATOMIC_RELAXED);
}

static void note_set(struct tt_shared *sh, uint64_t s0, uint64_t p0,
                     uint64_t s1, uint64_t p1)
{
	uint32_t nx = !__atomic_load_n(&sh->cur, __ATOMIC_RELAXED);
	struct tt_note *n = &sh->note[nx];

	__atomic_store_n(&n->seq0, s0, __ATOMIC_RELAXED);
	__atomic_store_n(&n->pos0, p0, __ATOMIC_RELAXED);
	__atomic_store_n(&n->seq1, s1, __ATOMIC_RELAXED);
	__atomic_store_n(&n->pos1, p1, __ATOMIC_RELAXED);
	/* The other note stays valid until this store: a kill anywhere in
	 * between leaves one whole note. */
	__atomic_store_n(&sh->cur, nx, __ATOMIC_RELEASE);
}

static struct tt_note note_get(const struct tt_shared *sh)
{
	return sh->note[__atomic_load_n(&sh->cur, __ATOMIC_ACQUIRE)];
}

/* Add to a shared counter (one writer at a time: the worker's life). */
static void bump(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v,
	                 __ATOMIC_RELAXED);
}

__attribute__((format(printf, 2, 3))) static int wfail(struct life *L,
                                                       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(L->sh->err, sizeof L->sh->err, fmt, ap);
	va_end(ap);
	__atomic_store_n(&L->sh->failed, 1, __ATOMIC_RELEASE);
	return tu_cfail(4, "worker %d: %s", L->w, L->sh->err);
}

/* The plan says: die at the nth operation of this kind. */
static void maybe_die(struct life *L, int kind)
{
	if (L->plan.kind != kind || ++L->count < L->plan.n)
		return;
	bump(&L->sh->self_kills[kind], 1);
	raise(SIGKILL);
}

static bool is_records(const struct tt_rig *rig)
{
	return rig->cfg.flags & MRING_F_RECORDS;
}

static bool is_overwrite(const struct tt_rig *rig)
{
	return rig->cfg.flags & MRING_F_OVERWRITE;
}

static bool is_joiner(const struct tt_rig *rig, int w)
{
	return w > rig->cfg.ndurable + rig->cfg.nobserver;
}

int tt_reclaim_of(const struct tt_rig_config *cfg, uint64_t life)
{
	static const int turn[] = {MRING_RECLAIM_ZERO, MRING_RECLAIM_PUNCH,
	                           MRING_RECLAIM_CACHE};

	if (cfg->reclaim != TT_RECLAIM_ROTATE)
		return cfg->reclaim;
	return turn[life % 3];
}

/* What the maintenance thread discarded in this life, on top of the
 * lives before (a kill may come at any moment: sampled as it runs). */
static void note_reclaim(struct life *L, struct mring *p, int pol)
{
	struct mring_stats st;

	mring_stats(p, &st);
	__atomic_store_n(&L->sh->reclaimed[pol],
	                 L->sh->reclaim_base[pol] + st.reclaimed_bytes,
	                 __ATOMIC_RELAXED);
	__atomic_store_n(&L->sh->reclaim_ops[pol],
	                 L->sh->reclaim_ops_base[pol] + st.reclaim_ops,
	                 __ATOMIC_RELAXED);
}

/* Payload length of record seq, or of the byte chunk at position seq. */
static size_t len_of(const struct tt_rig *rig, uint64_t seq)
{
	return tu_rec_len(seq, rig->cfg.salt, rig->cfg.min_len,
	                  rig->cfg.max_len);
}

static uint64_t window_of(const char *path)
{
	struct mring_info in;

	if (mring_inspect(path, &in, NULL, 0) < 0 || in.window == 0)
		return UINT64_MAX;
	return in.window;
}

static int producer_life(struct life *L)
{
	const struct tt_rig *rig = L->rig;
	int pol = tt_reclaim_of(&rig->cfg, L->sh->lives - 1);
	/* Make the thread discard: an explicit policy (AUTO leaves a ring
	 * this small alone) and a budget far below the ring. */
	struct mring_config oc = {
		.flags = L->plan.maint,
		.reclaim = pol,
		.cache_budget = rig->cfg.cache_budget ? rig->cfg.cache_budget
	                                              : 1,
	};
	struct mring_stats st;
	struct tt_note n = note_get(L->sh);
	struct mring *p;
	uint64_t h, seq, last_win = UINT64_MAX, commits = 0;
	int rc;

	for (int k = 0; k < 5; k++) {
		L->sh->reclaim_base[k] = L->sh->reclaimed[k];
		L->sh->reclaim_ops_base[k] = L->sh->reclaim_ops[k];
	}
	rc = mring_open(rig->cfg.path, MRING_PRODUCER, &oc, &p);
	if (rc < 0)
		return wfail(L, "producer open: %s", mring_strerror(rc));
	mring_stats(p, &st);
	h = st.head;
	/* Where the last life stood before its last commit, or after. */
	if (h == n.pos0)
		seq = n.seq0;
	else if (h == n.pos1)
		seq = n.seq1;
	else
		return wfail(L,
		             "producer reopened at head %llu; its last commit "
		             "went from %llu to %llu",
		             (unsigned long long)h, (unsigned long long)n.pos0,
		             (unsigned long long)n.pos1);
	note_set(L->sh, seq, h, seq, h);
	while (!stopping()) {
		size_t len = len_of(rig, is_records(rig) ? seq : h);
		uint64_t need = is_records(rig) ? tu_rec_size(len) : len;
		void *w;

		note_set(L->sh, seq, h, seq + 1, h + need);
		rc = mring_reserve(p, len, &w, TT_WAIT_MS);
		if (rc == -ETIMEDOUT || rc == -EAGAIN) {
			bump(&L->sh->stuck, 1);
			continue;
		}
		if (rc < 0)
			return wfail(L, "reserve %zu at %llu: %s", len,
			             (unsigned long long)h, mring_strerror(rc));
		bool win_changed = last_win != UINT64_MAX &&
		                   h / L->win != last_win;
		last_win = h / L->win;
		if (is_records(rig))
			tu_rec_fill(w, seq, len);
		else
			tu_fill(w, h, len);
		maybe_die(L, TT_RESERVED);
		rc = mring_commit(p, len);
		if (rc < 0)
			return wfail(L, "commit: %s", mring_strerror(rc));
		h += need;
		seq++;
		bump(&L->sh->records, 1);
		bump(&L->sh->bytes, len);
		if (++commits % 256 == 0)
			note_reclaim(L, p, pol);
		maybe_die(L, TT_COMMITTED);
		if (win_changed)
			maybe_die(L, TT_WINDOW);
	}
	note_reclaim(L, p, pol);
	mring_close(p);
	return 0;
}

/* What a consumer life knows. */
struct reader {
	struct mring *c;
	uint64_t pos;
	uint64_t exp; /* next record number, UINT64_MAX if not known */
	uint64_t lost_b, lost_r;
	bool may_lap;
	bool resumed;   /* durable, overwrite: nothing read since the restart */
	uint64_t soft;  /* what exp would be, if the count after it was right */
	uint64_t start; /* where this consumer started (messages) */
	uint8_t *buf;
};

/* MRING_ELAPPED: the loss must be exactly the jump of the position. */
static int on_lapped(struct life *L, struct reader *rd)
{
	struct mring_stats st;
	uint64_t db, dr;

	if (!rd->may_lap)
		return wfail(L,
		             "durable consumer lapped at %llu in "
		             "back-pressure mode",
		             (unsigned long long)rd->pos);
	mring_stats(rd->c, &st);
	db = st.bytes_lost - rd->lost_b;
	dr = st.records_lost - rd->lost_r;
	if (st.position < rd->pos || st.position - rd->pos != db)
		return wfail(L,
		             "lapped: moved from %llu to %llu, reported %llu "
		             "bytes lost",
		             (unsigned long long)rd->pos,
		             (unsigned long long)st.position,
		             (unsigned long long)db);
	if (rd->resumed) {
		/*
		 * Lapped while it was down. The library counts the records
		 * lost from the record number in the slot, stored with the
		 * position by one instruction; builds where two stores stand
		 * in (TSan) can leave them a record or a lap apart if killed
		 * between. So learn the number from the next record instead,
		 * and count the times it differs from what the library
		 * reported (the caller decides whether that may happen).
		 */
		if (rd->soft != UINT64_MAX)
			rd->soft += dr;
		else if (rd->exp != UINT64_MAX)
			rd->soft = rd->exp + dr;
		rd->exp = UINT64_MAX;
	} else if (rd->exp != UINT64_MAX) {
		rd->exp += dr; /* the next record read must be this one */
	}
	rd->lost_b = st.bytes_lost;
	rd->lost_r = st.records_lost;
	rd->pos = st.position;
	bump(&L->sh->lost_bytes, db);
	bump(&L->sh->lost_records, dr);
	bump(&L->sh->lapped, 1);
	note_set(L->sh, rd->exp, rd->pos, rd->exp, rd->pos);
	return 0;
}

/* Check k bytes at src: record `seq`, or the stream at rd->pos. */
static int verify(struct life *L, struct reader *rd, const uint8_t *src,
                  size_t k, uint64_t seq)
{
	ssize_t bad;

	if (!is_records(L->rig)) {
		bad = tu_check(src, rd->pos, k);
		if (bad >= 0) {
			/* Zeros: a discard came before the read. */
			size_t z = 0;
			while ((size_t)bad + z < k && !src[bad + z])
				z++;
			return wfail(
				L,
				"byte %llu is wrong (%zu zero bytes "
				"from there; read %zu at %llu; started "
				"at %llu)",
				(unsigned long long)(rd->pos + (uint64_t)bad),
				z, k, (unsigned long long)rd->pos,
				(unsigned long long)rd->start);
		}
		return 0;
	}
	size_t want = len_of(L->rig, seq);
	if (k != want || (bad = tu_rec_check(src, seq, k)) >= 0)
		return wfail(L,
		             "record at %llu: %zu bytes, payload of record "
		             "%llu; expected record %llu of %zu bytes",
		             (unsigned long long)rd->pos, k,
		             (unsigned long long)(k >= 8 ? tu_rec_seq(src)
		                                         : UINT64_MAX),
		             (unsigned long long)seq, want);
	return 0;
}

/* Where a restarted durable consumer must stand: per its note. */
static int resume_check(struct life *L, struct reader *rd)
{
	struct tt_note n = note_get(L->sh);

	if (rd->pos == n.pos0)
		rd->exp = n.seq0;
	else if (rd->pos == n.pos1)
		rd->exp = n.seq1;
	else if (is_overwrite(L->rig) && rd->pos > n.pos0 &&
	         (!is_records(L->rig) || rd->pos > n.pos1))
		/*
		 * Lapped, and reported to the dead life: the library moved
		 * the position to the tail, and the kill came before the
		 * note did. A byte ring's tail can be anywhere, inside the
		 * span the release was about to pass too; a record ring's
		 * tail is at a record boundary, so at or past pos1.
		 */
		rd->exp = UINT64_MAX;
	else
		return wfail(L,
		             "durable consumer resumed at %llu; its last "
		             "release went from %llu to %llu",
		             (unsigned long long)rd->pos,
		             (unsigned long long)n.pos0,
		             (unsigned long long)n.pos1);
	return 0;
}

/* End of stream: a drain must end at the producer's last record. */
static int at_eof(struct life *L, struct reader *rd)
{
	const struct tt_rig *rig = L->rig;

	if (rig->final_head == UINT64_MAX)
		return 0;
	if (rd->pos != rig->final_head)
		return wfail(L, "end of stream at %llu, head is %llu",
		             (unsigned long long)rd->pos,
		             (unsigned long long)rig->final_head);
	if (is_records(rig) && rd->exp != UINT64_MAX &&
	    rd->exp != rig->final_seq)
		return wfail(L,
		             "end of stream after record %llu; the producer "
		             "committed %llu",
		             (unsigned long long)rd->exp,
		             (unsigned long long)rig->final_seq);
	return 0;
}

/* One peek and release; returns 0 to go on, 1 at the end, or an exit code
 * (> 1) on failure. */
static int read_one(struct life *L, struct reader *rd, uint64_t *last_win)
{
	const struct tt_rig *rig = L->rig;
	const void *p;
	ssize_t n = mring_peek(rd->c, &p, TT_WAIT_MS);
	uint64_t seq = 0, adv;
	size_t k;
	int rc;

	if (n == -EAGAIN || n == -ETIMEDOUT)
		return 0;
	if (n == 0)
		return at_eof(L, rd) ? 4 : 1;
	if (n == MRING_ELAPPED)
		return on_lapped(L, rd) ? 4 : 0;
	if (n < 0)
		return wfail(L, "peek at %llu: %s", (unsigned long long)rd->pos,
		             mring_strerror((int)n));
	bool win_changed = *last_win != UINT64_MAX &&
	                   rd->pos / L->win != *last_win;
	*last_win = rd->pos / L->win;
	const uint8_t *src = p;
	if (is_records(rig)) {
		k = (size_t)n;
		adv = tu_rec_size(k);
	} else {
		size_t most = (size_t)n < TT_COPY_MAX ? (size_t)n : TT_COPY_MAX;
		k = 1 + (size_t)(tu_rand(&L->rnd) % most);
		adv = k;
	}
	if (rd->may_lap) {
		/* It may be overwritten under us: copy, and trust the copy
		 * only if release says it was intact. */
		memcpy(rd->buf, p, k);
		src = rd->buf;
	}
	if (is_records(rig)) {
		seq = rd->exp;
		if (seq == UINT64_MAX)
			seq = k >= 8 ? tu_rec_seq(src) : 0;
	}
	if (!rd->may_lap && verify(L, rd, src, k, seq))
		return 4;
	/* A number read from data that may be overwritten under us is not
	 * known until release says the data was intact: note it as
	 * unknown, or a kill before release leaves a torn number behind. */
	uint64_t ns = rd->may_lap && rd->exp == UINT64_MAX ? UINT64_MAX : seq;
	note_set(L->sh, ns, rd->pos, ns == UINT64_MAX ? ns : ns + 1,
	         rd->pos + adv);
	maybe_die(L, TT_PEEKED);
	if (win_changed)
		maybe_die(L, TT_WINDOW);
	rc = mring_release(rd->c, k);
	if (rc == MRING_ELAPPED)
		return on_lapped(L, rd) ? 4 : 0;
	if (rc < 0)
		return wfail(L, "release: %s", mring_strerror(rc));
	if (rd->may_lap && verify(L, rd, src, k, seq))
		return 4;
	/* Count the laps where the known limitation showed. */
	if (rd->soft != UINT64_MAX && is_records(rig) && seq != rd->soft)
		bump(&L->sh->unverified, 1);
	rd->soft = UINT64_MAX;
	rd->pos += adv;
	rd->resumed = false;
	if (is_records(rig))
		rd->exp = seq + 1;
	bump(&L->sh->records, 1);
	bump(&L->sh->bytes, k);
	maybe_die(L, TT_RELEASED);
	return 0;
}

static int consumer_life(struct life *L)
{
	const struct tt_rig *rig = L->rig;
	bool durable = L->w <= rig->cfg.ndurable;
	char name[16];
	struct mring_config cc = {.start = MRING_START_OLDEST};
	struct mring_stats st;
	struct reader rd = {.exp = UINT64_MAX, .soft = UINT64_MAX};
	uint64_t last_win = UINT64_MAX;
	int rc;

	snprintf(name, sizeof name, "d%d", L->w);
	cc.consumer_name = durable ? name : NULL;
	rc = mring_open(rig->cfg.path, MRING_CONSUMER, &cc, &rd.c);
	if (rc < 0)
		return wfail(L, "consumer open: %s", mring_strerror(rc));
	rd.may_lap = !durable || is_overwrite(rig);
	rd.buf = malloc(TT_COPY_MAX + rig->cfg.max_len);
	if (!rd.buf)
		return wfail(L, "out of memory");
	mring_stats(rd.c, &st);
	rd.pos = st.position;
	rd.lost_b = st.bytes_lost;
	rd.lost_r = st.records_lost;
	if (durable && resume_check(L, &rd))
		return 4;
	rd.resumed = durable && is_overwrite(rig);
	note_set(L->sh, rd.exp, rd.pos, rd.exp, rd.pos);
	while (!stopping()) {
		rc = read_one(L, &rd, &last_win);
		if (rc == 1)
			break;
		if (rc)
			return rc;
	}
	mring_close(rd.c);
	free(rd.buf);
	return 0;
}

static void jphase_set(struct tt_shared *sh, uint32_t ph)
{
	/* The caller reads jname only after it reads a phase != 0. */
	__atomic_store_n(&sh->jphase, ph, __ATOMIC_RELEASE);
}

/*
 * One join: register a new durable consumer, check what it reads up to
 * `budget` bytes, close it and remove it. Returns 0 to go on, 1 at the
 * end of the stream, or an exit code (> 1) on failure.
 */
static int join_once(struct life *L, struct reader *rd, uint64_t budget,
                     int start)
{
	const struct tt_rig *rig = L->rig;
	struct tt_shared *sh = L->sh;
	char name[32];
	struct mring_config cc = {.consumer_name = name, .start = start};
	struct mring_stats st;
	uint64_t last_win = UINT64_MAX, b0 = sh->bytes;
	int rc = 0;

	snprintf(name, sizeof name, "j%d.%llu", L->w,
	         (unsigned long long)sh->joins);
	memcpy(sh->jname, name, sizeof name);
	bump(&sh->joins, 1);
	if (start == MRING_START_NEWEST)
		bump(&sh->joins_new, 1);
	jphase_set(sh, 1);
	rc = mring_open(rig->cfg.path, MRING_CONSUMER, &cc, &rd->c);
	if (rc < 0)
		return wfail(L, "joiner open %s: %s", name, mring_strerror(rc));
	maybe_die(L, TT_JOINED);
	mring_stats(rd->c, &st);
	if (st.position > st.head)
		return wfail(L, "joiner %s starts at %llu, past head %llu",
		             name, (unsigned long long)st.position,
		             (unsigned long long)st.head);
	rd->pos = rd->start = st.position;
	rd->exp = rd->soft = UINT64_MAX;
	rd->lost_b = st.bytes_lost;
	rd->lost_r = st.records_lost;
	rd->resumed = false;
	rd->may_lap = is_overwrite(rig);
	note_set(sh, UINT64_MAX, rd->pos, UINT64_MAX, rd->pos);
	jphase_set(sh, 2);
	/* The first record's number is learnt from its payload; from then
	 * on every record must follow (read_one). */
	while (!stopping() && sh->bytes - b0 < budget) {
		rc = read_one(L, rd, &last_win);
		if (rc > 1)
			return rc;
		if (rc == 1)
			break;
	}
	jphase_set(sh, 3);
	mring_close(rd->c);
	rd->c = NULL;
	maybe_die(L, TT_LEFT);
	int rm = mring_consumer_remove(rig->cfg.path, name);
	if (rm < 0)
		return wfail(L, "joiner remove %s: %s", name,
		             mring_strerror(rm));
	jphase_set(sh, 0);
	return rc;
}

/*
 * A joiner's life: join, read, leave, again, until stopped or the end of
 * the stream. In a drain: one join at the oldest data, read to the end.
 */
static int joiner_life(struct life *L)
{
	const struct tt_rig *rig = L->rig;
	bool drain = rig->final_head != UINT64_MAX;
	struct reader rd = {.exp = UINT64_MAX, .soft = UINT64_MAX};
	int rc = 0;

	rd.buf = malloc(TT_COPY_MAX + rig->cfg.max_len);
	if (!rd.buf)
		return wfail(L, "out of memory");
	while (rc == 0 && !stopping()) {
		uint64_t budget =
			drain ? UINT64_MAX
			      : 1 + tu_rand(&L->rnd) % (2 * rig->cfg.capacity);
		int start = !drain && tu_rand(&L->rnd) % 4 == 0
		                    ? MRING_START_NEWEST
		                    : MRING_START_OLDEST;
		rc = join_once(L, &rd, budget, start);
		if (drain && rc == 0)
			rc = stopping() ? 0 : wfail(L, "drain ended early");
		if (drain)
			break;
	}
	free(rd.buf);
	return rc > 1 ? rc : 0;
}

static int worker_main(void *arg)
{
	struct life *L = arg;

	__atomic_store_n(&stop_flag, 0, __ATOMIC_RELAXED);
	signal(SIGTERM, on_term);
	L->sh = &L->rig->sh[L->w];
	L->rnd ^= (uint64_t)getpid();
	L->win = window_of(L->rig->cfg.path);
	bump(&L->sh->lives, 1);
	if (L->w == 0)
		return producer_life(L);
	return is_joiner(L->rig, L->w) ? joiner_life(L) : consumer_life(L);
}

/* ==== the caller's side =================================================== */

int tt_rig_init(struct tt_rig *rig, const struct tt_rig_config *cfg)
{
	struct mring_config mc;
	size_t shsz;
	int rc;

	memset(rig, 0, sizeof *rig);
	rig->cfg = *cfg;
	rig->nworkers = 1 + cfg->ndurable + cfg->nobserver + cfg->njoiner;
	if (rig->nworkers > TT_MAX_WORKERS)
		return -EINVAL;
	if (!rig->cfg.alarm_s)
		rig->cfg.alarm_s = 600;
	rig->final_head = rig->final_seq = UINT64_MAX;
	shsz = sizeof(struct tt_shared) * (size_t)rig->nworkers;
	rig->sh = mmap(NULL, shsz, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rig->sh == MAP_FAILED) {
		rig->sh = NULL;
		return -errno;
	}
	memset(&mc, 0, sizeof mc);
	mc.capacity = cfg->capacity;
	mc.window = cfg->window;
	mc.max_record = cfg->max_len;
	mc.flags = cfg->flags;
	tu_rm(cfg->path);
	rc = mring_create(cfg->path, &mc);
	if (rc < 0) {
		fprintf(stderr, "torture: create %s: %s\n", cfg->path,
		        mring_strerror(rc));
		return rc;
	}
	/* Durable from position 0: they hold back the producer from now. */
	for (int w = 1; w <= cfg->ndurable; w++) {
		char name[16];
		struct mring_config cc = {.consumer_name = name};
		struct mring *c;
		snprintf(name, sizeof name, "d%d", w);
		rc = mring_open(cfg->path, MRING_CONSUMER, &cc, &c);
		if (rc < 0) {
			fprintf(stderr, "torture: register %s: %s\n", name,
			        mring_strerror(rc));
			return rc;
		}
		mring_close(c);
	}
	return 0;
}

void tt_rig_destroy(struct tt_rig *rig)
{
	for (int w = 0; w < rig->nworkers; w++)
		if (rig->pid[w] > 0)
			tu_kill(rig->pid[w]);
	if (rig->sh)
		munmap(rig->sh,
		       sizeof(struct tt_shared) * (size_t)rig->nworkers);
	rig->sh = NULL;
	if (rig->cfg.path)
		tu_rm(rig->cfg.path);
}

int tt_start(struct tt_rig *rig, int w, const struct tt_plan *plan)
{
	struct life L = {.rig = rig, .w = w};

	if (plan)
		L.plan = *plan;
	L.rnd = tu_mix((uint64_t)w * 7919 + rig->restarts);
	rig->pid[w] = tu_spawn(worker_main, &L, rig->cfg.alarm_s);
	rig->sent_term[w] = false;
	if (rig->pid[w] < 0)
		return -errno;
	rig->restarts++;
	return 0;
}

struct tt_plan tt_random_plan(const struct tt_rig *rig, int w, unsigned pct,
                              uint64_t *rnd)
{
	static const int pkinds[] = {TT_RESERVED, TT_COMMITTED, TT_WINDOW};
	static const int ckinds[] = {TT_PEEKED, TT_RELEASED, TT_WINDOW,
	                             TT_JOINED, TT_LEFT};
	struct tt_plan p = {0};
	bool joiner = is_joiner(rig, w);

	if (w == 0 && rig->cfg.vary_maint) {
		static const unsigned m[] = {0, MRING_F_NO_PREFETCH,
		                             MRING_F_URING};
		p.maint = m[tu_rand(rnd) % 3];
	}
	if (tu_rand(rnd) % 100 >= pct)
		return p;
	p.kind = (w == 0 ? pkinds : ckinds)[tu_rand(rnd) % (joiner ? 5 : 3)];
	/* Soon or a little later: 1 .. 4096, about evenly in log scale. */
	p.n = 1 + tu_rand(rnd) % (1ull << (tu_rand(rnd) % 13));
	if (p.kind == TT_WINDOW)
		p.n = 1 + tu_rand(rnd) % 3;
	if (p.kind == TT_JOINED || p.kind == TT_LEFT)
		p.n = 1 + tu_rand(rnd) % 4;
	return p;
}

static int wait_status(pid_t pid, int flags)
{
	int st;

	while (waitpid(pid, &st, flags) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

/*
 * A joiner's process is gone: remove the durable consumer it may have left
 * (killed between its open and its own remove), or it holds the producer
 * back for ever. Returns 0, or -1 with the reason in why.
 */
static int remove_leftover(struct tt_rig *rig, int w, char *why, size_t n)
{
	struct tt_shared *sh = &rig->sh[w];
	uint32_t ph = __atomic_load_n(&sh->jphase, __ATOMIC_ACQUIRE);
	int rc;

	if (!is_joiner(rig, w) || ph == 0)
		return 0;
	rc = mring_consumer_remove(rig->cfg.path, sh->jname);
	sh->jphase = 0;
	if (rc == 0)
		sh->leftovers++;
	/* Opening: it may not have claimed a slot yet; leaving: it may
	 * have removed it. Reading: the slot must be there. */
	if (rc == 0 || (rc == -ENOENT && ph != 2))
		return 0;
	if (why) {
		size_t l = strlen(why);
		snprintf(why + l, n - l,
		         "[worker %d: removing the slot %s of a dead joiner "
		         "(phase %u): %s] ",
		         w, sh->jname, ph, mring_strerror(rc));
	}
	return -1;
}

/* How worker w's life ended: 0 if that is allowed, else 1 (and why). */
static int judge(struct tt_rig *rig, int w, int status, char *why, size_t n)
{
	struct tt_shared *sh = &rig->sh[w];
	bool ok = false;

	if (WIFEXITED(status))
		ok = WEXITSTATUS(status) == 0;
	else if (WIFSIGNALED(status))
		ok = WTERMSIG(status) == SIGKILL ||
		     (WTERMSIG(status) == SIGTERM && rig->sent_term[w]);
	/* A worker that found a fault may have been killed before it could
	 * exit with it. */
	if (__atomic_load_n(&sh->failed, __ATOMIC_ACQUIRE))
		ok = false;
	rig->pid[w] = 0;
	bool left_bad = remove_leftover(rig, w, why, n) < 0;
	if (ok)
		return left_bad;
	if (why) {
		size_t l = strlen(why);
		snprintf(why + l, n - l, "[worker %d, status 0x%x: %s] ", w,
		         (unsigned)status,
		         sh->err[0] ? sh->err : "no message (a crash?)");
	}
	sh->failed = 0;
	sh->err[0] = 0;
	return 1;
}

/* Collect worker w if its life is over already: 1 if it was. */
static bool ended(struct tt_rig *rig, int w, int *bad, char *why, size_t n)
{
	int st;

	if (waitpid(rig->pid[w], &st, WNOHANG) != rig->pid[w])
		return false;
	*bad += judge(rig, w, st, why, n);
	return true;
}

int tt_kill(struct tt_rig *rig, int w, char *why, size_t n)
{
	int bad = 0;

	if (rig->pid[w] <= 0 || ended(rig, w, &bad, why, n))
		return bad;
	kill(rig->pid[w], SIGKILL);
	rig->ext_kills++;
	return judge(rig, w, wait_status(rig->pid[w], 0), why, n);
}

int tt_stop(struct tt_rig *rig, int w, char *why, size_t n)
{
	int bad = 0;

	if (rig->pid[w] <= 0 || ended(rig, w, &bad, why, n))
		return bad;
	rig->sent_term[w] = true;
	kill(rig->pid[w], SIGTERM);
	rig->clean_stops++;
	return judge(rig, w, wait_status(rig->pid[w], 0), why, n);
}

int tt_reap(struct tt_rig *rig, char *why, size_t n)
{
	int bad = 0;

	for (int w = 0; w < rig->nworkers; w++)
		if (rig->pid[w] > 0)
			ended(rig, w, &bad, why, n);
	return bad;
}

static int why_fail(char *why, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why_fail(char *why, size_t n, const char *fmt, ...)
{
	size_t l = strlen(why);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why + l, n - l, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * A joiner's slot on a still ring: it must be the live joiner's current
 * one (a dead joiner's was removed when it was reaped), at or below head;
 * once its open returned, where its note says, as d1...
 */
static int check_joiner(struct tt_rig *rig, const struct mring_info *in,
                        const struct mring_consumer_info *ci, char *why,
                        size_t n)
{
	unsigned long long k;
	int w;

	if (sscanf(ci->name, "j%d.%llu", &w, &k) != 2 || w < 0 ||
	    w >= rig->nworkers || !is_joiner(rig, w) || rig->pid[w] <= 0 ||
	    rig->sh[w].jphase == 0 || strcmp(rig->sh[w].jname, ci->name))
		return why_fail(why, n,
		                "durable consumer %s at %llu left behind "
		                "(no live joiner has it)",
		                ci->name, (unsigned long long)ci->position);
	struct tt_note cn = note_get(&rig->sh[w]);
	uint64_t p = ci->position;
	bool reading = rig->sh[w].jphase == 2;
	bool bp = !is_overwrite(rig);
	if (p > in->head ||
	    (reading && (p < cn.pos0 || (bp && p != cn.pos0 && p != cn.pos1))))
		return why_fail(why, n,
		                "joiner %s at %llu (phase %u): tail %llu, head "
		                "%llu, its last release went from %llu to %llu",
		                ci->name, (unsigned long long)p,
		                rig->sh[w].jphase, (unsigned long long)in->tail,
		                (unsigned long long)in->head,
		                (unsigned long long)cn.pos0,
		                (unsigned long long)cn.pos1);
	return 0;
}

/* The checks of tt_check on a still ring. */
static int check_still(struct tt_rig *rig, char *why, size_t n)
{
	struct mring_consumer_info ci[TT_MAX_WORKERS * 2];
	struct mring_info in;
	struct tt_note pn = note_get(&rig->sh[0]);
	int nc = mring_inspect(rig->cfg.path, &in, ci, TT_MAX_WORKERS * 2);

	if (nc < 0)
		return why_fail(why, n, "inspect: %s", mring_strerror(nc));
	if (in.tail > in.head || in.head - in.tail > in.capacity)
		return why_fail(why, n, "tail %llu, head %llu, capacity %llu",
		                (unsigned long long)in.tail,
		                (unsigned long long)in.head,
		                (unsigned long long)in.capacity);
	if (in.head != pn.pos0 && in.head != pn.pos1)
		return why_fail(why, n,
		                "head %llu; the producer's last commit went "
		                "from %llu to %llu",
		                (unsigned long long)in.head,
		                (unsigned long long)pn.pos0,
		                (unsigned long long)pn.pos1);
	for (int i = 0; i < nc && i < TT_MAX_WORKERS * 2; i++) {
		int w;
		if (ci[i].durable && ci[i].name[0] == 'j') {
			if (check_joiner(rig, &in, &ci[i], why, n) < 0)
				return -1;
			continue;
		}
		if (!ci[i].durable || sscanf(ci[i].name, "d%d", &w) != 1 ||
		    w < 1 || w > rig->cfg.ndurable)
			continue;
		struct tt_note cn = note_get(&rig->sh[w]);
		uint64_t p = ci[i].position;
		bool bp = !is_overwrite(rig);
		if (p > in.head || (bp && p < in.tail) || p < cn.pos0 ||
		    (bp && p != cn.pos0 && p != cn.pos1))
			return why_fail(why, n,
			                "consumer %s at %llu: tail %llu, head "
			                "%llu, its last release went from %llu "
			                "to %llu",
			                ci[i].name, (unsigned long long)p,
			                (unsigned long long)in.tail,
			                (unsigned long long)in.head,
			                (unsigned long long)cn.pos0,
			                (unsigned long long)cn.pos1);
	}
	return 0;
}

int tt_check(struct tt_rig *rig, char *why, size_t n)
{
	bool stopped[TT_MAX_WORKERS] = {false};
	int rc = 0;

	for (int w = 0; w < rig->nworkers; w++) {
		if (rig->pid[w] <= 0)
			continue;
		kill(rig->pid[w], SIGSTOP);
		int st = wait_status(rig->pid[w], WUNTRACED);
		if (st != -1 && WIFSTOPPED(st))
			stopped[w] = true;
		else if (st != -1 && judge(rig, w, st, why, n))
			rc = -1;
	}
	if (rc == 0)
		rc = check_still(rig, why, n);
	for (int w = 0; w < rig->nworkers; w++)
		if (stopped[w])
			kill(rig->pid[w], SIGCONT);
	return rc;
}

int tt_drain(struct tt_rig *rig, char *why, size_t n)
{
	struct mring_consumer_info ci[TT_MAX_WORKERS * 2];
	struct mring_info in;
	struct mring_stats st;
	struct tt_note pn;
	struct mring *p;
	int rc, bad = 0;

	for (int w = 0; w < rig->nworkers; w++)
		bad += tt_kill(rig, w, why, n);
	if (bad)
		return -1;
	/* Only now: a producer still running commits past what it noted. */
	pn = note_get(&rig->sh[0]);
	rc = mring_open(rig->cfg.path, MRING_PRODUCER, NULL, &p);
	if (rc < 0)
		return why_fail(why, n, "drain: producer open: %s",
		                mring_strerror(rc));
	mring_stats(p, &st);
	mring_close(p); /* end of stream */
	if (st.head == pn.pos0)
		rig->final_seq = pn.seq0;
	else if (st.head == pn.pos1)
		rig->final_seq = pn.seq1;
	else
		return why_fail(why, n,
		                "drain: head %llu; the last commit went from "
		                "%llu to %llu",
		                (unsigned long long)st.head,
		                (unsigned long long)pn.pos0,
		                (unsigned long long)pn.pos1);
	rig->final_head = st.head;
	for (int w = 1; w < rig->nworkers; w++)
		if ((rc = tt_start(rig, w, NULL)) < 0)
			return why_fail(why, n, "drain: fork: %s",
			                strerror(-rc));
	for (int w = 1; w < rig->nworkers; w++) {
		int s = wait_status(rig->pid[w], 0);
		/* A drain reads to the end: only exit 0 will do. */
		if (!WIFEXITED(s))
			rig->sh[w].failed = 1;
		bad += judge(rig, w, s, why, n);
	}
	rig->final_head = rig->final_seq = UINT64_MAX;
	if (bad)
		return -1;
	rc = mring_inspect(rig->cfg.path, &in, ci, TT_MAX_WORKERS * 2);
	if (rc < 0)
		return why_fail(why, n, "drain: inspect: %s",
		                mring_strerror(rc));
	for (int i = 0; i < rc && i < TT_MAX_WORKERS * 2; i++)
		if (ci[i].durable && ci[i].position != in.head)
			return why_fail(
				why, n, "drain: %s ends at %llu, head %llu",
				ci[i].name, (unsigned long long)ci[i].position,
				(unsigned long long)in.head);
	return 0;
}

/* ==== the torture ========================================================= */

static void add_totals(const struct tt_rig *rig, struct tt_totals *tot)
{
	for (int w = 0; w < rig->nworkers; w++) {
		const struct tt_shared *s = &rig->sh[w];
		for (int k = 0; k < TT_KINDS; k++)
			tot->kills[k] += s->self_kills[k];
		if (w > 0) {
			tot->records += s->records;
			tot->bytes += s->bytes;
			tot->lost_records += s->lost_records;
			tot->lost_bytes += s->lost_bytes;
			tot->unverified += s->unverified;
		}
		if (w == 0)
			for (int k = 0; k < 5; k++) {
				tot->reclaimed[k] += s->reclaimed[k];
				tot->reclaim_ops[k] += s->reclaim_ops[k];
			}
		if (is_joiner(rig, w)) {
			tot->joins += s->joins;
			tot->joins_new += s->joins_new;
			tot->leftovers += s->leftovers;
			tot->joiner_records += s->records;
			tot->joiner_bytes += s->bytes;
		}
	}
	tot->kills[TT_EXTERNAL] += rig->ext_kills;
	tot->kills[TT_TERM] += rig->clean_stops;
	tot->restarts += rig->restarts;
}

/* One round: fill in the missing workers, let them run, kill some. */
static int round_once(struct tt_rig *rig, const struct tt_torture *t,
                      uint64_t *rnd, char *why, size_t n)
{
	int order[TT_MAX_WORKERS];

	for (int w = 0; w < rig->nworkers; w++) {
		if (rig->pid[w] > 0)
			continue;
		struct tt_plan plan = tt_random_plan(rig, w, 50, rnd);
		if (tt_start(rig, w, &plan) < 0)
			return why_fail(why, n, "fork: %s", strerror(errno));
	}
	tu_sleep_ms(1 + (int)(tu_rand(rnd) % t->max_round_ms));
	/* A random subset, in random order, at random moments. */
	for (int w = 0; w < rig->nworkers; w++)
		order[w] = w;
	for (int i = rig->nworkers - 1; i > 0; i--) {
		int j = (int)(tu_rand(rnd) % (uint64_t)(i + 1));
		int x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
	for (int i = 0; i < rig->nworkers; i++) {
		int w = order[i];
		unsigned dice = (unsigned)(tu_rand(rnd) % 100);
		if (rig->pid[w] <= 0)
			continue;
		if (dice < 40 && tt_kill(rig, w, why, n))
			return -1;
		if (dice >= 40 && dice < 45 && tt_stop(rig, w, why, n))
			return -1;
		if (tu_rand(rnd) % 2)
			tu_sleep_ms((int)(tu_rand(rnd) % 3));
	}
	if (tt_reap(rig, why, n))
		return -1;
	return tt_check(rig, why, n);
}

int tt_torture(const struct tt_torture *t, struct tt_totals *tot)
{
	struct tt_rig rig;
	uint64_t rnd = t->seed;
	char why[2048] = "";
	int rc = tt_rig_init(&rig, &t->rig);
	unsigned r;

	if (rc < 0) {
		tt_rig_destroy(&rig);
		return -1;
	}
	for (r = 0; r < t->rounds && rc == 0; r++) {
		rc = round_once(&rig, t, &rnd, why, sizeof why);
		if (t->verbose)
			printf("  round %u: restarts %llu, kills %llu\n", r,
			       (unsigned long long)rig.restarts,
			       (unsigned long long)rig.ext_kills);
	}
	tot->rounds += r;
	if (rc == 0)
		rc = tt_drain(&rig, why, sizeof why);
	add_totals(&rig, tot);
	if (rc < 0) {
		tot->failures++;
		fprintf(stderr, "torture FAILED (seed %llu, round %u): %s\n",
		        (unsigned long long)t->seed, r, why);
	}
	tt_rig_destroy(&rig);
	return rc < 0 ? -1 : 0;
}
