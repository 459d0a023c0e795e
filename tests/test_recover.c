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
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
