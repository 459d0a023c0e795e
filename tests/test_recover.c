/*
 * Which recovery a producer chooses when it opens a ring: "same page
 * cache" (a process crash: trust the committed head) or "another cache"
 * (a reboot, a copy of the file, an image of its device: trust only what
 * mring_sync() made durable). The byte mode shows the decision plainly:
 * the first keeps every committed byte, the second rolls head back to
 * `synced`. The identity fields are changed with pwrite, as a copied
 * device or a reboot would leave them (FORMAT.md, "Recovery").
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "os.h"

#define CAP (1u << 20)
#define SYNCED 40000u /* bytes or records synced before the crash */
#define MORE 30000u   /* committed after the last sync */

#define OFF(f) ((uint64_t)offsetof(struct mring__ctl, f))

struct job {
	const char *path;
	bool records;
	bool close; /* close cleanly instead of dying */
};

/* Child: commit SYNCED bytes (records: 100 records), sync, commit MORE,
 * then die without closing (or close). */
static int writer(void *arg)
{
	const struct job *j = arg;
	struct mring *p;
	uint8_t buf[1000];
	uint64_t pos = 0;

	if (mring_open(j->path, MRING_PRODUCER,
	               &(struct mring_config){.flags = MRING_F_NO_PREFETCH},
	               &p) < 0)
		return tu_cfail(1, "open\n");
	for (int part = 0; part < 2; part++) {
		uint64_t end = pos + (part == 0 ? SYNCED : MORE);
		while (pos < end) {
			size_t n = end - pos < 400 ? (size_t)(end - pos) : 400;
			if (j->records)
				tu_rec_fill(buf, pos, n);
			else
				tu_fill(buf, pos, n);
			if (mring_write(p, buf, n, 0) != (ssize_t)n)
				return tu_cfail(2, "write\n");
			pos += n;
		}
		if (part == 0 && mring_sync(p) < 0)
			return tu_cfail(3, "sync\n");
	}
	if (j->close)
		mring_close(p);
	_exit(0);
}

/* Run the writer; return the ring's head as the file says. */
static uint64_t write_and_stop(const char *path, bool records, bool close)
{
	struct job j = {.path = path, .records = records, .close = close};
	struct mring_info in;

	tu_create(path, CAP, 1000, records ? MRING_F_RECORDS | MRING_F_CRC : 0);
	assert_int_equal(tu_wait(tu_spawn(writer, &j, 60)), 0);
	assert_rc(mring_inspect(path, &in, NULL, 0), 0);
	assert_true(in.synced > 0 && in.synced < in.head);
	assert_int_equal(in.eof, close ? 1 : 0);
	return in.head;
}

/* Open as producer (recovery runs); return the head it resumes at. */
static uint64_t reopen(const char *path)
{
	struct mring_stats st;
	struct mring *p;

	assert_rc(
		mring_open(path, MRING_PRODUCER,
	                   &(struct mring_config){.flags = MRING_F_NO_PREFETCH},
	                   &p),
		0);
	assert_rc(mring_stats(p, &st), 0);
	mring_close(p);
	return st.head;
}

static uint64_t synced_of(const char *path)
{
	return tu_get_u64(path, OFF(synced));
}

/* The writer recorded who it was: this boot, this file, this mount. */
static void test_ident_written(void **state)
{
	TU_PATH(path, "ident");
	struct mring__os_ident id;
	char boot[40], stored[40];
	int fd;

	(void)state;
	write_and_stop(path, false, false);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	mring__os_file_ident(fd, &id);
	close(fd);
	assert_true(id.known & MRING__IDENT_INODE);
	assert_int_equal(tu_get_u32(path, OFF(prod_ident)), id.known);
	assert_true(tu_get_u64(path, OFF(prod_dev)) == id.dev);
	assert_true(tu_get_u64(path, OFF(prod_ino)) == id.ino);
	assert_true(tu_get_u64(path, OFF(prod_mnt)) == id.mnt);
	mring__os_boot_id(boot, sizeof boot);
	assert_int_equal(tu_pread(path, OFF(boot_id), stored, sizeof stored),
	                 0);
	assert_string_equal(stored, boot);
	tu_rm(path);
}

/* Process crash: same boot, same file: every committed byte is kept. */
static void test_same_cache_keeps_head(void **state)
{
	TU_PATH(path, "same");
	(void)state;
	uint64_t head = write_and_stop(path, false, false);
	assert_true(reopen(path) == head);
	tu_rm(path);
}

/* Change one identity field as another cache would see it; byte mode
 * must fall back to `synced`. */
static void other_cache(const char *what, uint64_t off, size_t width)
{
	TU_PATH(path, "other");
	uint64_t head = write_and_stop(path, false, false);
	uint64_t synced = synced_of(path);

	print_message("  %s differs\n", what);
	if (width == 8)
		tu_set_u64(path, off, tu_get_u64(path, off) ^ 0x5a5a);
	else
		assert_int_equal(tu_pwrite(path, off, "00000000-reboot", 16),
		                 0);
	uint64_t got = reopen(path);
	if (got != synced)
		fail_msg("%s differs: head %llu, synced %llu (was %llu)", what,
		         (unsigned long long)got, (unsigned long long)synced,
		         (unsigned long long)head);
	tu_rm(path);
}

static void test_other_boot(void **state)
{
	(void)state;
	other_cache("boot id", OFF(boot_id), 16);
}

static void test_other_dev(void **state)
{
	(void)state;
	other_cache("device", OFF(prod_dev), 8);
}

static void test_other_ino(void **state)
{
	(void)state;
	other_cache("inode", OFF(prod_ino), 8);
}

static void test_other_mnt(void **state)
{
	TU_PATH(path, "mnt");
	(void)state;
	write_and_stop(path, false, false);
	uint32_t known = tu_get_u32(path, OFF(prod_ident));
	tu_rm(path);
	if (!(known & (MRING__IDENT_MNT | MRING__IDENT_MNT_UNIQUE)))
		skip(); /* a kernel before 5.8 gives no mount id */
	other_cache("mount", OFF(prod_mnt), 8);
}

/* A file from before the identity fields (zeros): the boot id decides,
 * as it always did. */
static void test_unknown_ident(void **state)
{
	TU_PATH(path, "old");
	(void)state;
	uint64_t head = write_and_stop(path, false, false);
	uint8_t zero[56] = {0};

	assert_int_equal(tu_pwrite(path, OFF(prod_dev), zero, sizeof zero), 0);
	assert_true(reopen(path) == head);
	tu_rm(path);
}

/* A real copy of the file on this boot, made after the producer died:
 * another inode, so another cache; only the synced part is trusted. */
static void test_copy_of_file(void **state)
{
	TU_PATH(path, "orig");
	TU_PATH(copy, "copy");
	static uint8_t buf[1 << 16];
	(void)state;
	write_and_stop(path, false, false);
	uint64_t synced = synced_of(path);
	int in = open(path, O_RDONLY),
	    out = open(copy, O_WRONLY | O_CREAT, 0600);
	ssize_t n;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof buf)) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	assert_true(reopen(copy) == synced);
	tu_rm(copy);
	tu_rm(path);
}

/*
 * Closing does not sync: a ring closed cleanly and opened in another
 * cache recovers too. Bytes roll back to `synced`; records keep what
 * verifies after it, here all of them (the cache is really intact).
 */
static void test_clean_close_other_cache(void **state)
{
	TU_PATH(path, "clean");
	(void)state;
	write_and_stop(path, false, true);
	uint64_t synced = synced_of(path);
	tu_set_u64(path, OFF(prod_dev), tu_get_u64(path, OFF(prod_dev)) + 1);
	assert_true(reopen(path) == synced);
	tu_rm(path);

	uint64_t head = write_and_stop(path, true, true);
	tu_set_u64(path, OFF(prod_ino), tu_get_u64(path, OFF(prod_ino)) + 1);
	assert_true(reopen(path) == head);
	/* ... and a record torn after `synced` ends the stream there. */
	uint64_t data = tu_get_u64(path, TU_OFF_DATA_OFFSET);
	uint64_t at = tu_get_u64(path, OFF(synced)) + 3 * tu_rec_size(400);
	tu_set_u32(path, data + at + TU_REC_HDR + 8, 0xdeadbeef);
	tu_set_u64(path, OFF(prod_ino), tu_get_u64(path, OFF(prod_ino)) + 1);
	assert_true(reopen(path) == at);
	tu_rm(path);
}

/* Same cache, clean close: nothing to recover, head stays. */
static void test_clean_close_same_cache(void **state)
{
	TU_PATH(path, "cleansame");
	(void)state;
	uint64_t head = write_and_stop(path, false, true);
	assert_true(reopen(path) == head);
	tu_rm(path);
}

/* ---- a power cut after a lap: the tail on disk is stale ---------------- */

#define LAP_LEN 1000u /* payload of every record */

struct lap_job {
	const char *path, *saved;
	uint64_t before, after; /* records before and after the sync */
};

/* Child: write `before` records (more than a lap), sync, keep a copy of
 * the control block as the disk has it now, write `after` records over
 * the oldest ones, die. */
static int lap_writer(void *arg)
{
	const struct lap_job *j = arg;
	struct mring *p;
	uint8_t buf[LAP_LEN], ctl[4096];
	uint64_t k = 0;

	if (mring_open(j->path, MRING_PRODUCER,
	               &(struct mring_config){.flags = MRING_F_NO_PREFETCH},
	               &p) < 0)
		return tu_cfail(1, "open\n");
	for (; k < j->before + j->after; k++) {
		tu_rec_fill(buf, k, LAP_LEN);
		if (mring_write(p, buf, LAP_LEN, 0) != LAP_LEN)
			return tu_cfail(2, "write %llu\n",
			                (unsigned long long)k);
		if (k + 1 == j->before) {
			if (mring_sync(p) < 0 ||
			    tu_pread(j->path, 0, ctl, sizeof ctl) != 0 ||
			    tu_pwrite(j->saved, 0, ctl, sizeof ctl) != 0)
				return tu_cfail(3, "sync\n");
		}
	}
	_exit(0);
}

/*
 * The disk kept the control block of the last sync, and data of the next
 * records, which overwrote the oldest ones above the tail it names (the
 * maintenance thread writes data back early; the control block waits for
 * the next sync). After recovery the oldest record a consumer gets must
 * be intact and the stream in sequence, not a later lap's record.
 */
static void test_stale_tail(void **state)
{
	TU_PATH(path, "lap");
	TU_PATH(saved, "lap.ctl");
	struct lap_job j = {
		.path = path, .saved = saved, .before = 1500, .after = 300};
	struct mring *p, *c;
	uint8_t buf[LAP_LEN], ctl[4096];
	uint64_t first = UINT64_MAX, next = 0;
	ssize_t n;

	(void)state;
	tu_create(path, CAP, LAP_LEN, MRING_F_RECORDS | MRING_F_CRC);
	int fd = open(saved, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(tu_wait(tu_spawn(lap_writer, &j, 60)), 0);
	/* The power cut: the old control block, another boot. */
	assert_int_equal(tu_pread(saved, 0, ctl, sizeof ctl), 0);
	assert_int_equal(tu_pwrite(path, 0, ctl, sizeof ctl), 0);
	assert_int_equal(tu_pwrite(path, OFF(boot_id), "00000000-reboot", 16),
	                 0);
	assert_rc(
		mring_open(path, MRING_PRODUCER,
	                   &(struct mring_config){.flags = MRING_F_NO_PREFETCH},
	                   &p),
		0);
	assert_rc(
		mring_open(path, MRING_CONSUMER,
	                   &(struct mring_config){.start = MRING_START_OLDEST},
	                   &c),
		0);
	mring_close(p);
	while ((n = mring_read(c, buf, sizeof buf, 0)) > 0) {
		uint64_t seq = tu_rec_seq(buf);
		if (first == UINT64_MAX)
			first = next = seq;
		if (seq != next || tu_rec_check(buf, seq, (size_t)n) >= 0)
			fail_msg("record %llu where %llu was due (first %llu)",
			         (unsigned long long)seq,
			         (unsigned long long)next,
			         (unsigned long long)first);
		next++;
	}
	assert_rc(n, 0);
	print_message("  records %llu..%llu survive\n",
	              (unsigned long long)first, (unsigned long long)next);
	/* Everything synced that was not overwritten; the records after
	 * it lie beyond the head the old control block names. */
	uint64_t per_lap = CAP / tu_rec_size(LAP_LEN);
	assert_true(first <= j.before - per_lap + j.after + 1);
	assert_true(next == j.before);
	mring_close(c);
	tu_rm(saved);
	tu_rm(path);
}

/* ---- a power cut with (synced, synced_seq) at odds ---------------------- */

#define PC_CAP (4u << 20)     /* a few MiB of small records */
#define PC_MAXREC 1024u       /* records of 8..200 bytes in it */
#define PC_LATER (300u << 10) /* a later lap reached the disk ... */
#define PC_ZEROS (200u << 10) /* ... and the reclaim ahead of it */

/* Where each record starts (by number), as the writer put it. */
static uint64_t pc_at[(PC_CAP * 2) / 24];

struct image {
	uint64_t synced, synced_seq; /* as the control block on disk has them */
	uint64_t first, first_seq;   /* oldest record left intact */
};

static size_t pc_len(uint64_t k)
{
	return tu_rec_len(k, 7, 8, 200);
}

/*
 * What a power cut leaves: the control block of the last sync (a lap and
 * a half of records in), and data written after it: a later lap's records
 * over the oldest ones above its tail, and zeros (reclaim) ahead of them.
 */
static void power_cut_image(const char *path, struct image *im)
{
	const struct mring_config quiet = {.flags = MRING_F_NO_PREFETCH};
	static uint8_t zeros[PC_ZEROS];
	uint8_t buf[PC_MAXREC], ctl[4096];
	uint64_t pos = 0, k = 0;
	struct mring *p;

	tu_create(path, PC_CAP, PC_MAXREC, MRING_F_RECORDS | MRING_F_CRC);
	assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &p), 0);
	for (int part = 0; part < 2; part++) {
		uint64_t end = part == 0 ? PC_CAP * 3 / 2 : pos + PC_LATER;
		while (pos < end) {
			size_t n = pc_len(k);
			tu_rec_fill(buf, k, n);
			assert_rc(mring_write(p, buf, n, 0), n);
			pc_at[k++] = pos;
			pos += tu_rec_size(n);
		}
		if (part == 0) {
			assert_rc(mring_sync(p), 0);
			assert_rc(tu_pread(path, 0, ctl, sizeof ctl), 0);
			im->synced = pos;
			im->synced_seq = k;
		}
	}
	mring_close(p);
	uint64_t data = tu_get_u64(path, TU_OFF_DATA_OFFSET);
	assert_true(pos % PC_CAP + PC_ZEROS <= PC_CAP);
	assert_rc(tu_pwrite(path, data + pos % PC_CAP, zeros, PC_ZEROS), 0);
	assert_rc(tu_pwrite(path, 0, ctl, sizeof ctl), 0);
	assert_rc(tu_pwrite(path, OFF(boot_id), "00000000-reboot", 16), 0);
	assert_true(tu_get_u64(path, OFF(synced)) == im->synced);
	assert_true(tu_get_u64(path, OFF(synced_seq)) == im->synced_seq);
	/* The first record of the old lap that starts above the damage. */
	uint64_t damage = pos + PC_ZEROS - PC_CAP;
	uint64_t j = 0;
	while (pc_at[j] < damage)
		j++;
	im->first = pc_at[j];
	im->first_seq = j;
}

/*
 * Open the image with synced_seq moved by `delta`; check where the ring
 * starts and ends, every record in it, and that recovery read about once
 * what it kept (plus one largest record): linear, where it used to walk
 * to `synced` again from every 8-byte step below it.
 */
static void power_cut_open(int64_t delta)
{
	TU_PATH(path, "pair");
	const struct mring_config quiet = {.flags = MRING_F_NO_PREFETCH};
	const struct mring_config oldest = {.start = MRING_START_OLDEST};
	struct mring_stats st;
	struct image im;
	struct mring *p, *c;
	uint8_t buf[PC_MAXREC];
	ssize_t n;

	power_cut_image(path, &im);
	tu_set_u64(path, OFF(synced_seq), im.synced_seq + (uint64_t)delta);
	assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &p), 0);
	assert_rc(mring_stats(p, &st), 0);
	print_message("  synced_seq %+lld: tail %llu, head %llu, read %llu\n",
	              (long long)delta, (unsigned long long)st.tail,
	              (unsigned long long)st.head,
	              (unsigned long long)st.recovery_scanned);
	uint64_t bound = 2 * (st.head - st.tail) + 2 * tu_rec_size(PC_MAXREC);
	if (st.recovery_scanned > bound)
		fail_msg("recovery read %llu bytes to keep %llu",
		         (unsigned long long)st.recovery_scanned,
		         (unsigned long long)(st.head - st.tail));
	/* What the records say: the oldest intact one on, up to synced.
	 * A pair they contradict vouches for nothing. */
	uint64_t first = delta == 0 ? im.first : im.synced;
	uint64_t seq = delta == 0 ? im.first_seq : 0;
	assert_true(st.head == im.synced);
	assert_true(st.tail == first);
	assert_rc(mring_open(path, MRING_CONSUMER, &oldest, &c), 0);
	/* Then the stream goes on; readers find it in order. */
	for (uint64_t k = 0; k < 3; k++) {
		tu_rec_fill(buf, 900000 + k, 100);
		assert_rc(mring_write(p, buf, 100, 0), 100);
	}
	mring_close(p);
	uint64_t kept = 0, later = 0;
	while ((n = mring_read(c, buf, sizeof buf, 0)) > 0) {
		if (delta == 0 && kept < im.synced_seq - im.first_seq) {
			assert_true(tu_rec_seq(buf) == seq + kept);
			assert_true(tu_rec_check(buf, seq + kept, (size_t)n) <
			            0);
			assert_true((size_t)n == pc_len(seq + kept));
			kept++;
			continue;
		}
		assert_rc(n, 100);
		assert_true(tu_rec_check(buf, 900000 + later, 100) < 0);
		later++;
	}
	assert_rc(n, 0);
	assert_true(later == 3);
	assert_true(kept == (delta == 0 ? im.synced_seq - im.first_seq : 0));
	mring_close(c);
	tu_rm(path);
}

static void test_power_cut_pair(void **state)
{
	(void)state;
	power_cut_open(0);
}

static void test_power_cut_pair_off_by_one(void **state)
{
	(void)state;
	power_cut_open(1);
	power_cut_open(-1);
}

static void test_power_cut_pair_off_by_far(void **state)
{
	(void)state;
	power_cut_open(1000000);
	power_cut_open(-5000);
}

/* ---- progress of a long recovery ------------------------------------- */

#define PR_CAP (160u << 20)
#define PR_REC 60000u

struct calls {
	unsigned n;
	uint64_t done, total;
	bool bad;
};

static void on_progress(const struct mring_progress *pr, void *arg)
{
	struct calls *cl = arg;

	/* done never goes back and never passes total, which stays. */
	if (strcmp(pr->what, "recover") != 0 || pr->done > pr->total ||
	    pr->done < cl->done || (cl->n && pr->total != cl->total))
		cl->bad = true;
	cl->n++;
	cl->done = pr->done;
	cl->total = pr->total;
}

/*
 * A power cut with 80 MiB synced and 70 MiB after it: recovery reads both
 * (back from synced to the tail, on from synced to head) and says so every
 * 64 MiB and once at the end, from the opening thread.
 */
static void test_recover_progress(void **state)
{
	TU_PATH(path, "progress");
	struct mring_config cfg = {.flags = MRING_F_NO_PREFETCH};
	static uint8_t buf[PR_REC];
	struct calls cl = {0};
	struct mring_stats st;
	uint8_t ctl[4096];
	struct mring *p;
	uint64_t pos = 0;

	(void)state;
	tu_create(path, PR_CAP, 65536, MRING_F_RECORDS);
	assert_rc(mring_open(path, MRING_PRODUCER, &cfg, &p), 0);
	for (uint64_t k = 0; pos < (150u << 20); k++) {
		tu_rec_fill(buf, k, PR_REC);
		assert_rc(mring_write(p, buf, PR_REC, 0), PR_REC);
		pos += tu_rec_size(PR_REC);
		if (pos >= (80u << 20) &&
		    pos - tu_rec_size(PR_REC) < (80u << 20))
			assert_rc(mring_sync(p), 0);
	}
	assert_rc(tu_pread(path, 0, ctl, sizeof ctl), 0);
	mring_close(p);
	assert_rc(tu_pwrite(path, 0, ctl, sizeof ctl), 0);
	assert_rc(tu_pwrite(path, OFF(boot_id), "00000000-reboot", 16), 0);

	cfg.progress = on_progress;
	cfg.progress_arg = &cl;
	assert_rc(mring_open(path, MRING_PRODUCER, &cfg, &p), 0);
	assert_rc(mring_stats(p, &st), 0);
	mring_close(p);
	print_message("  %u calls, %llu of %llu bytes\n", cl.n,
	              (unsigned long long)cl.done,
	              (unsigned long long)cl.total);
	assert_true(st.head == pos && st.tail == 0);
	assert_false(cl.bad);
	/* Every 64 MiB of 150, then the last one with the final count. */
	assert_true(cl.n == 3);
	assert_true(cl.done == st.recovery_scanned);
	assert_true(cl.total == pos);
	assert_true(cl.done == pos);
	tu_rm(path);
}

/* ---- a torn control block: slots newer than head ---------------------- */

#define TORN_CONS 100u /* 512 + 64 * 100 bytes: the slots span two pages */
#define TORN_SLOT 56u  /* first slot on the second page */
#define TORN_LEN 400u

/* Write `n` units (bytes: TORN_LEN bytes; records: one of TORN_LEN) from
 * stream position *pos (record number *seq). */
static void torn_write(struct mring *p, bool records, unsigned n, uint64_t *pos,
                       uint64_t *seq)
{
	uint8_t buf[TORN_LEN];

	for (unsigned i = 0; i < n; i++) {
		if (records)
			tu_rec_fill(buf, *seq, TORN_LEN);
		else
			tu_fill(buf, *pos, TORN_LEN);
		assert_rc(mring_write(p, buf, TORN_LEN, 0), TORN_LEN);
		*pos += records ? tu_rec_size(TORN_LEN) : TORN_LEN;
		*seq += 1;
	}
}

/* Read everything "d" has left, checking it goes on from `pos`. */
static uint64_t torn_read(const char *path, bool records, uint64_t pos)
{
	const struct mring_config named = {.consumer_name = "d"};
	uint8_t buf[TORN_LEN];
	uint64_t units = 0;
	struct mring_stats st;
	struct mring *c;
	ssize_t n;

	assert_rc(mring_open(path, MRING_CONSUMER, &named, &c), 0);
	assert_rc(mring_stats(c, &st), 0);
	assert_true(st.position == pos);
	while ((n = mring_read(c, buf, sizeof buf, 0)) > 0) {
		assert_rc(n, TORN_LEN);
		if (records) {
			uint64_t seq = pos / tu_rec_size(TORN_LEN);
			assert_true(tu_rec_check(buf, seq, TORN_LEN) < 0);
			pos += tu_rec_size(TORN_LEN);
		} else {
			assert_true(tu_check(buf, pos, TORN_LEN) < 0);
			pos += TORN_LEN;
		}
		units++;
	}
	assert_true(n == 0 || n == -EAGAIN);
	mring_close(c);
	return units;
}

/*
 * Page 0 of a control block (head) captured older than page 1 (the slot
 * of a consumer that had caught up): write-back before a power cut, or a
 * copy of a live ring. Every way in works, and readers get the stream in
 * order from the head page 0 names (another cache: from what recovery
 * keeps).
 */
static void torn(bool records, bool other)
{
	TU_PATH(path, "torn");
	const struct mring_config quiet = {.flags = MRING_F_NO_PREFETCH};
	const struct mring_config named = {.consumer_name = "d"};
	struct mring_config cc =
		tu_cfg(CAP, 1000, records ? MRING_F_RECORDS : 0);
	struct mring *obs[TORN_SLOT], *p, *c;
	struct mring_consumer_info ci[2];
	struct mring_info in;
	struct mring_stats st;
	uint8_t page0[4096], ctl[8192];
	uint64_t pos = 0, seq = 0;
	const uint64_t slot = TU_OFF_SLOTS + TORN_SLOT * TU_SLOT_SIZE;

	print_message("  %s, %s cache\n", records ? "records" : "bytes",
	              other ? "another" : "same");
	tu_rm(path);
	cc.max_consumers = TORN_CONS;
	assert_rc(mring_create(path, &cc), 0);
	/* "d" gets the first slot of the second page. */
	for (unsigned i = 0; i < TORN_SLOT; i++)
		assert_rc(mring_open(path, MRING_CONSUMER, NULL, &obs[i]), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, &named, &c), 0);
	for (unsigned i = 0; i < TORN_SLOT; i++)
		mring_close(obs[i]);
	mring_close(c);
	char name[2];
	assert_rc(tu_pread(path, slot + TU_SLOT_NAME, name, 2), 0);
	assert_memory_equal(name, "d", 2);

	assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &p), 0);
	torn_write(p, records, 200, &pos, &seq);
	assert_rc(mring_sync(p), 0);
	uint64_t synced = pos;
	torn_write(p, records, 100, &pos, &seq);
	uint64_t h1 = pos;
	assert_rc(tu_pread(path, 0, page0, sizeof page0), 0);
	torn_write(p, records, 200, &pos, &seq);
	/* "d" reads it all: its slot (page 1) says pos, beyond h1. */
	assert_true(torn_read(path, records, 0) == 500);
	mring_close(p);
	assert_true(tu_get_u64(path, slot + TU_SLOT_POS) == pos);
	assert_rc(tu_pwrite(path, 0, page0, sizeof page0), 0);
	if (other)
		assert_rc(tu_pwrite(path, OFF(boot_id), "00000000-reboot", 16),
		          0);
	assert_rc(tu_pread(path, 0, ctl, sizeof ctl), 0);
	/* Where a producer resumes: page 0's head, or in byte mode after
	 * a reboot what was synced (records verify up to h1). */
	uint64_t resume = other && !records ? synced : h1;

	/* Inspect, then the consumer first: it waits at head. */
	assert_rc(mring_inspect(path, &in, ci, 2), 1);
	assert_true(in.head == h1 && ci[0].position == h1);
	assert_true(torn_read(path, records, h1) == 0);
	assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &p), 0);
	assert_rc(mring_stats(p, &st), 0);
	assert_true(st.head == resume);
	pos = resume;
	seq = resume / (records ? tu_rec_size(TORN_LEN) : 1);
	torn_write(p, records, 50, &pos, &seq);
	mring_close(p);
	assert_true(torn_read(path, records, resume) == 50);

	/* The producer first: it pulls the slot back. */
	assert_rc(tu_pwrite(path, 0, ctl, sizeof ctl), 0);
	assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &p), 0);
	assert_true(tu_get_u64(path, slot + TU_SLOT_POS) == resume);
	pos = resume;
	seq = resume / (records ? tu_rec_size(TORN_LEN) : 1);
	torn_write(p, records, 50, &pos, &seq);
	mring_close(p);
	assert_true(torn_read(path, records, resume) == 50);
	tu_rm(path);
}

static void test_torn_ctl(void **state)
{
	(void)state;
	torn(false, false);
	torn(false, true);
	torn(true, false);
	torn(true, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ident_written),
		cmocka_unit_test(test_same_cache_keeps_head),
		cmocka_unit_test(test_other_boot),
		cmocka_unit_test(test_other_dev),
		cmocka_unit_test(test_other_ino),
		cmocka_unit_test(test_other_mnt),
		cmocka_unit_test(test_unknown_ident),
		cmocka_unit_test(test_copy_of_file),
		cmocka_unit_test(test_clean_close_other_cache),
		cmocka_unit_test(test_clean_close_same_cache),
		cmocka_unit_test(test_stale_tail),
		cmocka_unit_test(test_power_cut_pair),
		cmocka_unit_test(test_power_cut_pair_off_by_one),
		cmocka_unit_test(test_power_cut_pair_off_by_far),
		cmocka_unit_test(test_recover_progress),
		cmocka_unit_test(test_torn_ctl),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
