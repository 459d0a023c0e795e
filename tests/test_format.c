/*
 * Creating ring files and validating them on open: defaults, geometry
 * checks, permissions, sparseness, the on-disk layout of FORMAT.md, and
 * hostile or damaged files, which must give a clean error from every entry
 * point (both roles of mring_open, mring_inspect, mring_consumer_remove).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "internal.h"

/* The documented offsets are those of the implementation's layout. */
_Static_assert(offsetof(struct mring__ctl, ctl_size) == TU_OFF_CTL_SIZE, "");
_Static_assert(offsetof(struct mring__ctl, data_offset) == TU_OFF_DATA_OFFSET,
               "");
_Static_assert(offsetof(struct mring__ctl, capacity) == TU_OFF_CAPACITY, "");
_Static_assert(offsetof(struct mring__ctl, max_record) == TU_OFF_MAX_RECORD,
               "");
_Static_assert(offsetof(struct mring__ctl, max_consumers) ==
                       TU_OFF_MAX_CONSUMERS,
               "");
_Static_assert(offsetof(struct mring__ctl, tail) == TU_OFF_TAIL, "");
_Static_assert(offsetof(struct mring__ctl, eof) == TU_OFF_EOF, "");
_Static_assert(offsetof(struct mring__ctl, synced) == TU_OFF_SYNCED, "");
_Static_assert(offsetof(struct mring__ctl, clean) == TU_OFF_CLEAN, "");
_Static_assert(offsetof(struct mring__slot, state) == TU_SLOT_STATE, "");
_Static_assert(offsetof(struct mring__slot, name) == TU_SLOT_NAME, "");

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t small_cap(void)
{
	return 16 * (uint64_t)tu_page();
}

/* ---- creation -------------------------------------------------------- */

static void test_create_defaults(void **state)
{
	TU_PATH(path, "defaults");
	struct mring_info in;
	struct stat st;
	uint64_t t0, t1;

	(void)state;
	t0 = now_ns();
	assert_rc(mring_create(path, NULL), 0);
	t1 = now_ns();
	assert_rc(mring_inspect(path, &in, NULL, 0), 0);
	assert_int_equal(in.format_version, 1);
	assert_int_equal(in.flags, 0);
	assert_true(in.capacity == (1ull << 30));
	assert_int_equal(in.max_record, 1u << 20);
	assert_int_equal(in.max_consumers, 32);
	assert_int_equal(in.consumers, 0);
	/* New rings start their data at a multiple of the largest
	 * maintenance chunk (4 MiB); the format allows any 2 MiB multiple. */
	assert_true(in.data_offset % (4u << 20) == 0);
	assert_true(in.data_offset >= 512 + 64 * 32);
	assert_true(in.file_size == in.data_offset + in.capacity);
	assert_true(in.head == 0 && in.tail == 0 && in.synced == 0);
	assert_int_equal(in.producer_alive, 0);
	assert_true(in.window > 0 && in.window % tu_page() == 0);
	assert_true(in.created_ns >= t0 - 60000000000ull &&
	            in.created_ns <= t1 + 60000000000ull);

	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_size == in.file_size);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Sparse: a 1 GiB ring occupies (almost) nothing. */
	assert_true((uint64_t)st.st_blocks * 512 < (4u << 20));

	/* An all-zero config and mring_config_init() mean the same. */
	{
		TU_PATH(p2, "defaults2");
		TU_PATH(p3, "defaults3");
		struct mring_config z, d;
		struct mring_info i2, i3;

		memset(&z, 0, sizeof z);
		mring_config_init(&d);
		assert_rc(mring_create(p2, &z), 0);
		assert_rc(mring_create(p3, &d), 0);
		assert_rc(mring_inspect(p2, &i2, NULL, 0), 0);
		assert_rc(mring_inspect(p3, &i3, NULL, 0), 0);
		assert_true(i2.capacity == in.capacity &&
		            i3.capacity == in.capacity);
		assert_true(i2.max_record == in.max_record &&
		            i3.max_record == in.max_record);
		assert_true(i2.window == in.window && i3.window == in.window);
		assert_true(i2.max_consumers == 32 && i3.max_consumers == 32);
		tu_rm(p2);
		tu_rm(p3);
	}
	tu_rm(path);
}

static void test_create_exists(void **state)
{
	TU_PATH(path, "exists");
	TU_PATH(other, "other-file");
	struct mring_config c = tu_cfg(small_cap(), 0, 0);
	char buf[6] = {0};

	(void)state;
	assert_rc(mring_create(path, &c), 0);
	assert_rc(mring_create(path, &c), -EEXIST);
	/* An existing unrelated file is left alone. */
	assert_rc(tu_pwrite(other, 0, "", 0), -ENOENT);
	{
		FILE *f = fopen(other, "w");
		assert_non_null(f);
		fputs("hello", f);
		fclose(f);
	}
	assert_rc(mring_create(other, &c), -EEXIST);
	assert_rc(tu_pread(other, 0, buf, 5), 0);
	assert_string_equal(buf, "hello");
	tu_rm(path);
	tu_rm(other);
}

static void test_create_bad_geometry(void **state)
{
	const uint64_t pg = (uint64_t)tu_page();
	const uint64_t cap = small_cap();
	struct {
		uint64_t cap;
		uint32_t max_record;
		uint32_t max_consumers;
	} bad[] = {
		{pg + 1, 0, 0},
		{cap - 1, 0, 0},
		{cap + 512, 0, 0},
		{1ull << 56, 0, 0},
		{~0ull - pg + 1, 0, 0},
		/* round_up(max_record + 32, page) must be <= capacity / 2 */
		{cap, (uint32_t)(cap / 2), 0},
		{cap, (uint32_t)(cap / 2 - 31), 0},
		{cap, (uint32_t)cap, 0},
		{cap, 0xffffffffu, 0},
		{cap, 0xfffffff0u, 0},
		{pg, 0, 0}, /* no record can fit twice */
		{cap, 0, 4097},
		{cap, 0, 100000},
	};
	TU_PATH(path, "badgeo");
	struct stat st;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct mring_config c =
			tu_cfg(bad[i].cap, bad[i].max_record, 0);
		c.max_consumers = bad[i].max_consumers;
		print_message("case %zu: cap %llu max_record %u consumers %u\n",
		              i, (unsigned long long)bad[i].cap,
		              bad[i].max_record, bad[i].max_consumers);
		assert_rc(mring_create(path, &c), -EINVAL);
		/* Nothing is left behind. */
		assert_int_equal(stat(path, &st), -1);
	}
	/* max_record 0 means 1 MiB clamped to (at most) capacity / 4. */
	{
		struct mring_config c = tu_cfg(cap, 0, 0);
		struct mring_info in;
		assert_rc(mring_create(path, &c), 0);
		assert_rc(mring_inspect(path, &in, NULL, 0), 0);
		assert_true(in.max_record >= 1 && in.max_record <= cap / 4);
		tu_rm(path);
	}
}

/*
 * FORMAT.md: round_up(max_record + 32, page) <= capacity / 2. The largest
 * max_record that rule allows is accepted, and works end to end.
 */
static void test_create_max_record_limit(void **state)
{
	TU_PATH(path, "maxrec");
	const uint64_t cap = small_cap();
	const uint32_t mr = (uint32_t)(cap / 2 - 32);
	struct mring_config c = tu_cfg(cap, mr, MRING_F_RECORDS);
	struct mring_info in;
	struct mring *p, *r;
	const void *rp;
	void *w;

	(void)state;
	assert_rc(mring_create(path, &c), 0);
	assert_rc(mring_inspect(path, &in, NULL, 0), 0);
	assert_int_equal(in.max_record, mr);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &r), 0);
	for (uint64_t seq = 0; seq < 8; seq++) {
		assert_rc(mring_reserve(p, mr, &w, 0), 0);
		tu_rec_fill(w, seq, mr);
		assert_rc(mring_commit(p, mr), 0);
		assert_rc(mring_peek(r, &rp, 0), mr);
		assert_true(tu_rec_check(rp, seq, mr) < 0);
		assert_rc(mring_release(r, 0), 0);
	}
	mring_close(r);
	mring_close(p);
	tu_rm(path);
}

static void test_create_mode_flags(void **state)
{
	TU_PATH(path, "modes");
	struct mring_config c = tu_cfg(small_cap(), 0, 0);
	struct mring_info in;
	struct stat st;
	mode_t old;

	(void)state;
	/* Default 0600 whatever the umask. */
	old = umask(0);
	assert_rc(mring_create(path, &c), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	tu_rm(path);

	c.mode = 0640;
	assert_rc(mring_create(path, &c), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	tu_rm(path);
	umask(old);

	/* Stored flags come back; PREALLOC is an action, not stored. */
	c = tu_cfg(4u << 20, 0,
	           MRING_F_RECORDS | MRING_F_OVERWRITE | MRING_F_CRC |
	                   MRING_F_PREALLOC);
	assert_rc(mring_create(path, &c), 0);
	assert_rc(mring_inspect(path, &in, NULL, 0), 0);
	assert_int_equal(in.flags,
	                 MRING_F_RECORDS | MRING_F_OVERWRITE | MRING_F_CRC);
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 >= (4u << 20));
	tu_rm(path);

	c = tu_cfg(4u << 20, 0, MRING_F_OVERWRITE);
	assert_rc(mring_create(path, &c), 0);
	assert_rc(mring_inspect(path, &in, NULL, 0), 0);
	assert_int_equal(in.flags, MRING_F_OVERWRITE);
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 < (4u << 20));
	tu_rm(path);
}

/*
 * Counts the preallocations of the library: this definition takes the
 * place of libc's for the library too, and passes the call on.
 */
static int fallocate_calls;

int posix_fallocate(int fd, off_t off, off_t len)
{
	int (*real)(int, off_t, off_t);

	fallocate_calls++;
	*(void **)&real = dlsym(RTLD_NEXT, "posix_fallocate");
	return real ? real(fd, off, len) : ENOSYS;
}

/*
 * A preallocation larger than the free space fails with ENOSPC before
 * anything is allocated: fallocate() would first take every free block,
 * and every other writer on the file system would get ENOSPC meanwhile.
 * One that fits is still made.
 */
static void test_create_prealloc_too_big(void **state)
{
	TU_PATH(path, "toobig");
	struct statvfs vs;
	struct stat st;

	(void)state;
	assert_int_equal(statvfs(tu_dir(), &vs), 0);
	uint64_t avail = (uint64_t)vs.f_bavail * vs.f_frsize;
	/* Twice what is free and more: nobody frees that much meanwhile. */
	uint64_t cap = (2 * avail + (1ull << 30)) & ~((1ull << 20) - 1);
	struct mring_config c = tu_cfg(cap, 0, MRING_F_PREALLOC);

	fallocate_calls = 0;
	assert_rc(mring_create(path, &c), -ENOSPC);
	assert_int_equal(fallocate_calls, 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);

	c = tu_cfg(small_cap(), 0, MRING_F_PREALLOC);
	assert_rc(mring_create(path, &c), 0);
	assert_int_equal(fallocate_calls, 1);
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_blocks * 512 >= small_cap());
	tu_rm(path);
}

/* The bytes on disk are those FORMAT.md describes. */
static void test_layout(void **state)
{
	TU_PATH(path, "layout");
	struct mring_config c = tu_cfg(small_cap(), 1000, MRING_F_RECORDS);
	uint8_t h[512];
	uint32_t u32;
	uint64_t u64;

	(void)state;
	c.max_consumers = 5;
	assert_rc(mring_create(path, &c), 0);
	assert_rc(tu_pread(path, 0, h, sizeof h), 0);
	assert_memory_equal(h, "\x89MRING\r\n", 8);
	memcpy(&u32, h + TU_OFF_VERSION, 4);
	assert_int_equal(u32, 1);
	memcpy(&u32, h + TU_OFF_CTL_SIZE, 4);
	assert_int_equal(u32, 512 + 64 * 5);
	memcpy(&u32, h + TU_OFF_ENDIAN, 4);
	assert_int_equal(u32, 0x01020304);
	memcpy(&u32, h + TU_OFF_PAGE_SIZE, 4);
	assert_int_equal(u32, tu_page());
	memcpy(&u64, h + TU_OFF_DATA_OFFSET, 8);
	assert_true(u64 % (2u << 20) == 0 && u64 >= 512 + 64 * 5);
	memcpy(&u64, h + TU_OFF_CAPACITY, 8);
	assert_true(u64 == small_cap());
	memcpy(&u32, h + TU_OFF_MAX_RECORD, 4);
	assert_int_equal(u32, 1000);
	memcpy(&u32, h + TU_OFF_FLAGS, 4);
	assert_int_equal(u32, MRING_F_RECORDS);
	memcpy(&u32, h + TU_OFF_MAX_CONSUMERS, 4);
	assert_int_equal(u32, 5);
	for (int i = 64; i < 124; i++)
		assert_int_equal(h[i], 0);
	memcpy(&u32, h + TU_OFF_CHECKSUM, 4);
	assert_int_equal(u32, tu_crc32c(h, 124));
	memcpy(&u64, h + TU_OFF_HEAD, 8);
	assert_true(u64 == 0);
	memcpy(&u64, h + TU_OFF_TAIL, 8);
	assert_true(u64 == 0);
	tu_rm(path);
}

/* ---- hostile files ------------------------------------------------------ */

/*
 * Every entry point must refuse the file at `path` with one of the codes
 * in `want` (n of them); mring_consumer_remove only has to fail.
 */
static void expect_refused(const char *path, const int *want, int n,
                           const char *what)
{
	struct mring *r = NULL;
	struct mring_info in;
	struct mring_consumer_info ci[4];
	struct mring_config named;
	int rc;

	print_message("  %s\n", what);
	rc = mring_open(path, MRING_PRODUCER, NULL, &r);
	if (rc == 0)
		mring_close(r);
	tu_assert_rc_in(rc, want, n, "open(producer)", __FILE__, __LINE__);

	r = NULL;
	rc = mring_open(path, MRING_CONSUMER, NULL, &r);
	if (rc == 0)
		mring_close(r);
	tu_assert_rc_in(rc, want, n, "open(observer)", __FILE__, __LINE__);

	memset(&named, 0, sizeof named);
	named.consumer_name = "reader";
	r = NULL;
	rc = mring_open(path, MRING_CONSUMER, &named, &r);
	if (rc == 0)
		mring_close(r);
	tu_assert_rc_in(rc, want, n, "open(durable)", __FILE__, __LINE__);

	rc = mring_inspect(path, &in, ci, 4);
	tu_assert_rc_in(rc, want, n, "inspect", __FILE__, __LINE__);
	rc = mring_inspect(path, &in, NULL, 0);
	tu_assert_rc_in(rc, want, n, "inspect", __FILE__, __LINE__);

	rc = mring_consumer_remove(path, "reader");
	if (rc >= 0)
		fail_msg("%s: consumer_remove returned %d", what, rc);
}

#define REFUSED(path, what, ...)                                         \
	expect_refused(                                                  \
		(path), (const int[]){__VA_ARGS__},                      \
		(int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)), \
		(what))

/* A fresh small ring with 4 consumer slots; returns its data_offset. */
static uint64_t fresh(const char *path, unsigned flags)
{
	struct mring_config c = tu_cfg(small_cap(), 0, flags);

	tu_rm(path);
	c.max_consumers = 4;
	assert_rc(mring_create(path, &c), 0);
	return tu_get_u64(path, TU_OFF_DATA_OFFSET);
}

static void test_hostile_flipped_bytes(void **state)
{
	TU_PATH(path, "flip");
	char what[64];

	(void)state;
	for (unsigned i = 0; i < 128; i++) {
		uint8_t b;
		fresh(path, MRING_F_RECORDS);
		assert_rc(tu_pread(path, i, &b, 1), 0);
		b ^= (i >= 8 && i < 12) ? 0x01 : 0x40;
		assert_rc(tu_pwrite(path, i, &b, 1), 0);
		snprintf(what, sizeof what, "byte %u flipped", i);
		if (i < 8)
			REFUSED(path, what, MRING_EBADMAGIC);
		else if (i < 12)
			REFUSED(path, what, MRING_EVERSION);
		else
			REFUSED(path, what, MRING_ECHECKSUM);
	}
	tu_rm(path);
}

static void test_hostile_magic_version(void **state)
{
	TU_PATH(path, "magic");
	struct mring *r;

	(void)state;
	fresh(path, 0);
	assert_rc(tu_pwrite(path, 0, "\x89MRONG\r\n", 8), 0);
	tu_fix_checksum(path);
	REFUSED(path, "wrong magic", MRING_EBADMAGIC);

	fresh(path, 0);
	/* The next version, not yet known to this library. */
	tu_set_u32(path, TU_OFF_VERSION, MRING_FORMAT_VERSION + 1);
	REFUSED(path, "version 3", MRING_EVERSION);
	tu_fix_checksum(path);
	REFUSED(path, "version 3, checksum ok", MRING_EVERSION);
	tu_set_u32(path, TU_OFF_VERSION, 0);
	tu_fix_checksum(path);
	REFUSED(path, "version 0", MRING_EVERSION);

	/* Positive control: recomputing the checksum of an intact header
	 * (or after changing an unchecked field) keeps the file valid. */
	fresh(path, 0);
	tu_fix_checksum(path);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &r), 0);
	mring_close(r);
	tu_set_u64(path, TU_OFF_CREATED_NS, 12345);
	tu_fix_checksum(path);
	assert_rc(mring_open(path, MRING_CONSUMER, NULL, &r), 0);
	mring_close(r);
	tu_rm(path);
}

static void set_static32(const char *path, uint64_t off, uint32_t v)
{
	tu_set_u32(path, off, v);
	tu_fix_checksum(path);
}

static void set_static64(const char *path, uint64_t off, uint64_t v)
{
	tu_set_u64(path, off, v);
	tu_fix_checksum(path);
}

/* Static fields with a valid checksum but nonsense values. */
static void test_hostile_static_fields(void **state)
{
	TU_PATH(path, "static");
	const uint64_t cap = small_cap();
	const uint32_t pg = (uint32_t)tu_page();
	uint64_t doff;

	(void)state;
	/* capacity */
	fresh(path, 0);
	set_static64(path, TU_OFF_CAPACITY, 0);
	REFUSED(path, "capacity 0", MRING_ECORRUPT, MRING_EGEOMETRY);
	fresh(path, 0);
	set_static64(path, TU_OFF_CAPACITY, cap - 512);
	REFUSED(path, "capacity not a page multiple", MRING_EGEOMETRY);
	fresh(path, 0);
	set_static64(path, TU_OFF_CAPACITY, 1ull << 63);
	REFUSED(path, "capacity 2^63", MRING_ECORRUPT, MRING_EGEOMETRY,
	        MRING_ETRUNCATED);
	fresh(path, 0);
	set_static64(path, TU_OFF_CAPACITY, 1ull << 56);
	REFUSED(path, "capacity 2^56", MRING_ECORRUPT, MRING_EGEOMETRY,
	        MRING_ETRUNCATED);
	/* data_offset + capacity wraps to a small number: the size check
	 * alone would pass, the field check must not. */
	doff = fresh(path, 0);
	set_static64(path, TU_OFF_CAPACITY, 0ull - doff + cap);
	REFUSED(path, "capacity wrapping the file size", MRING_ECORRUPT,
	        MRING_EGEOMETRY);

	/* data_offset */
	doff = fresh(path, 0);
	set_static64(path, TU_OFF_DATA_OFFSET, doff + pg);
	REFUSED(path, "data_offset unaligned", MRING_ECORRUPT, MRING_EGEOMETRY);
	fresh(path, 0);
	set_static64(path, TU_OFF_DATA_OFFSET, 0);
	REFUSED(path, "data_offset 0", MRING_ECORRUPT, MRING_EGEOMETRY);
	fresh(path, 0);
	set_static64(path, TU_OFF_DATA_OFFSET, 1ull << 40);
	REFUSED(path, "data_offset beyond the file", MRING_ECORRUPT,
	        MRING_EGEOMETRY, MRING_ETRUNCATED);
	fresh(path, 0);
	set_static64(path, TU_OFF_DATA_OFFSET, 0ull - (2u << 20));
	REFUSED(path, "data_offset 2^64 - 2 MiB", MRING_ECORRUPT,
	        MRING_EGEOMETRY, MRING_ETRUNCATED);

	/* max_consumers and ctl_size */
	fresh(path, 0);
	set_static32(path, TU_OFF_MAX_CONSUMERS, 0);
	REFUSED(path, "max_consumers 0", MRING_ECORRUPT);
	fresh(path, 0);
	set_static32(path, TU_OFF_MAX_CONSUMERS, 0);
	set_static32(path, TU_OFF_CTL_SIZE, 512);
	REFUSED(path, "max_consumers 0, ctl_size 512", MRING_ECORRUPT);
	fresh(path, 0);
	set_static32(path, TU_OFF_MAX_CONSUMERS, 100000);
	set_static32(path, TU_OFF_CTL_SIZE, 512 + 64 * 100000);
	REFUSED(path, "max_consumers 100000", MRING_ECORRUPT);
	fresh(path, 0);
	set_static32(path, TU_OFF_MAX_CONSUMERS, 4097);
	set_static32(path, TU_OFF_CTL_SIZE, 512 + 64 * 4097);
	REFUSED(path, "max_consumers 4097", MRING_ECORRUPT);
	fresh(path, 0);
	set_static32(path, TU_OFF_MAX_CONSUMERS, 5);
	REFUSED(path, "max_consumers 5, ctl_size for 4", MRING_ECORRUPT);
	fresh(path, 0);
	set_static32(path, TU_OFF_CTL_SIZE, 512 + 64 * 4 + 64);
	REFUSED(path, "ctl_size inconsistent", MRING_ECORRUPT);
	fresh(path, 0);
	set_static32(path, TU_OFF_CTL_SIZE, 0);
	REFUSED(path, "ctl_size 0", MRING_ECORRUPT);

	/* endian */
	fresh(path, 0);
	set_static32(path, TU_OFF_ENDIAN, 0x04030201);
	REFUSED(path, "other byte order", MRING_EGEOMETRY);

	/* flags */
	fresh(path, 0);
	set_static32(path, TU_OFF_FLAGS, 1u << 3);
	/* Timestamps: a version 2 flag, unknown to version 1. */
	REFUSED(path, "flag bit 3 in version 1", MRING_ECORRUPT,
	        MRING_EGEOMETRY, MRING_EVERSION);
	fresh(path, 0);
	set_static32(path, TU_OFF_FLAGS, MRING_F_RECORDS | MRING_F_PREALLOC);
	REFUSED(path, "PREALLOC stored", MRING_ECORRUPT, MRING_EGEOMETRY,
	        MRING_EVERSION);
	fresh(path, 0);
	set_static32(path, TU_OFF_FLAGS, 0x80000000u);
	REFUSED(path, "unknown flag bit 31", MRING_ECORRUPT, MRING_EGEOMETRY,
	        MRING_EVERSION);

	/* max_record */
	fresh(path, MRING_F_RECORDS);
	set_static32(path, TU_OFF_MAX_RECORD, 0);
	REFUSED(path, "max_record 0", MRING_ECORRUPT, MRING_EGEOMETRY);
	fresh(path, MRING_F_RECORDS);
	set_static32(path, TU_OFF_MAX_RECORD, (uint32_t)(cap / 2));
	REFUSED(path, "max_record capacity / 2", MRING_ECORRUPT,
	        MRING_EGEOMETRY);
	fresh(path, MRING_F_RECORDS);
	set_static32(path, TU_OFF_MAX_RECORD, 0xffffffffu);
	REFUSED(path, "max_record 2^32 - 1", MRING_ECORRUPT, MRING_EGEOMETRY);
	fresh(path, MRING_F_RECORDS);
	set_static32(path, TU_OFF_MAX_RECORD, 0xfffffff8u);
	REFUSED(path, "max_record 2^32 - 8", MRING_ECORRUPT, MRING_EGEOMETRY);

	/* window */
	fresh(path, 0);
	set_static32(path, TU_OFF_WINDOW, pg + 1);
	REFUSED(path, "window not a page multiple", MRING_ECORRUPT,
	        MRING_EGEOMETRY);
	tu_rm(path);
}

static void put_slot(const char *path, int i, uint64_t pos, uint32_t st,
                     const char *name, size_t name_len)
{
	uint8_t s[TU_SLOT_SIZE];

	memset(s, 0, sizeof s);
	memcpy(s + TU_SLOT_POS, &pos, 8);
	memcpy(s + TU_SLOT_STATE, &st, 4);
	memcpy(s + TU_SLOT_NAME, name, name_len);
	assert_rc(tu_pwrite(path, TU_OFF_SLOTS + (uint64_t)i * TU_SLOT_SIZE, s,
	                    sizeof s),
	          0);
}

/* Dynamic fields (not covered by the checksum) that break invariants. */
static void test_hostile_dynamic(void **state)
{
	TU_PATH(path, "dynamic");
	const uint64_t cap = small_cap();
	char longname[32];

	(void)state;
	memset(longname, 'n', sizeof longname);

	fresh(path, 0);
	tu_set_u64(path, TU_OFF_HEAD, 100);
	tu_set_u64(path, TU_OFF_TAIL, 200);
	REFUSED(path, "tail > head", MRING_ECORRUPT);

	fresh(path, 0);
	tu_set_u64(path, TU_OFF_HEAD, 3 * cap);
	tu_set_u64(path, TU_OFF_TAIL, cap);
	REFUSED(path, "head - tail > capacity", MRING_ECORRUPT);

	fresh(path, 0);
	tu_set_u64(path, TU_OFF_HEAD, ~0ull);
	tu_set_u64(path, TU_OFF_TAIL, ~0ull - cap - 1);
	REFUSED(path, "head near 2^64", MRING_ECORRUPT);

	fresh(path, 0);
	tu_set_u64(path, TU_OFF_HEAD, 4096);
	tu_set_u64(path, TU_OFF_TAIL, 0);
	tu_set_u64(path, TU_OFF_SYNCED, 8192);
	REFUSED(path, "synced > head", MRING_ECORRUPT);

	fresh(path, 0);
	put_slot(path, 1, 0, 7, "x", 2);
	REFUSED(path, "slot state 7", MRING_ECORRUPT);

	fresh(path, 0);
	put_slot(path, 3, 0, 3, "", 1);
	REFUSED(path, "slot state 3", MRING_ECORRUPT);

	fresh(path, 0);
	put_slot(path, 0, 0, 2, longname, sizeof longname);
	REFUSED(path, "slot name without NUL", MRING_ECORRUPT);

	/* Beyond head is no damage (a torn control block: slot_beyond_head
	 * below), but no ring ever got near 2^62. */
	fresh(path, 0);
	tu_set_u64(path, TU_OFF_HEAD, 4096);
	put_slot(path, 2, 1ull << 62, 2, "x", 2);
	REFUSED(path, "slot position 2^62", MRING_ECORRUPT);

	fresh(path, 0);
	put_slot(path, 0, ~0ull, 1, "", 1);
	REFUSED(path, "observer position 2^64 - 1", MRING_ECORRUPT);
	tu_rm(path);
}

/*
 * A ring whose data region starts at 2 MiB, where rings were created
 * before the data moved to 4 MiB: producer and consumer use the offset
 * in the header, over several laps, and the bytes land there in the file.
 */
static void test_data_at_2mib(void **state)
{
	TU_PATH(path, "data2m");
	const uint64_t cap = small_cap(), pg = (uint64_t)tu_page();
	const uint64_t doff = 2u << 20;
	struct mring *p, *c;
	uint8_t *buf = malloc(pg), *got = malloc(pg);

	(void)state;
	assert_non_null(buf);
	assert_non_null(got);
	fresh(path, 0);
	assert_true(tu_get_u64(path, TU_OFF_DATA_OFFSET) > doff);
	set_static64(path, TU_OFF_DATA_OFFSET, doff);
	assert_rc(truncate(path, (off_t)(doff + cap)), 0);
	assert_rc(mring_open(path, MRING_PRODUCER, NULL, &p), 0);
	c = tu_consumer(path, "c");
	for (uint64_t pos = 0; pos < 3 * cap; pos += pg) {
		tu_fill(buf, pos, pg);
		assert_rc(mring_write(p, buf, pg, -1), (int)pg);
		assert_rc(mring_read(c, got, pg, -1), (int)pg);
		assert_int_equal(tu_check(got, pos, pg), -1);
		if (pos / cap == 2) {
			/* The last lap, as the file holds it. */
			assert_rc(mring_sync(p), 0);
			assert_rc(tu_pread(path, doff + pos % cap, got, pg), 0);
			assert_int_equal(tu_check(got, pos, pg), -1);
		}
	}
	mring_close(c);
	mring_close(p);
	free(buf);
	free(got);
	tu_rm(path);
}

/*
 * A slot beyond head: what a control block spanning pages shows when page
 * 0 (head) was captured older than the page of a caught-up consumer (a
 * power cut, a copy of a live ring). Not refused: inspect shows the slot
 * at head, its consumer resumes at head, a producer pulls it back.
 */
static void test_slot_beyond_head(void **state)
{
	TU_PATH(path, "beyond");
	const uint64_t slot2 = TU_OFF_SLOTS + 2 * TU_SLOT_SIZE + TU_SLOT_POS;
	struct mring_config named = {.consumer_name = "x"};
	struct mring_consumer_info ci[4];
	struct mring_stats st;
	struct mring_info in;
	struct mring *r;
	uint8_t buf[16];

	(void)state;
	for (int rec = 0; rec < 2; rec++) {
		fresh(path, rec ? MRING_F_RECORDS : 0);
		tu_set_u64(path, TU_OFF_HEAD, 4096);
		put_slot(path, 2, 4096 + 8, 2, "x", 2);
		assert_rc(mring_inspect(path, &in, ci, 4), 1);
		assert_true(in.head == 4096);
		assert_true(ci[0].position == 4096);
		/* The consumer resumes at head, and finds nothing there. */
		assert_rc(mring_open(path, MRING_CONSUMER, &named, &r), 0);
		assert_rc(mring_stats(r, &st), 0);
		assert_true(st.position == 4096 && st.lag == 0);
		assert_rc(mring_read(r, buf, sizeof buf, 0), -EAGAIN);
		mring_close(r);
		assert_true(tu_get_u64(path, slot2) == 4096);
		/* A producer (another cache here: head goes back to synced)
		 * pulls it back to its new head. */
		put_slot(path, 2, 8192, 2, "x", 2);
		assert_rc(mring_open(path, MRING_PRODUCER, NULL, &r), 0);
		assert_rc(mring_stats(r, &st), 0);
		mring_close(r);
		assert_true(tu_get_u64(path, slot2) == st.head);
		assert_rc(mring_inspect(path, &in, ci, 4), 1);
		assert_true(ci[0].position == in.head);
	}
	tu_rm(path);
}

/*
 * A copy of a live control block is not a snapshot: its positions move
 * while it is copied, in whatever order the copy takes. Open and inspect
 * check a first full copy against head (and tail) from a second copy of
 * the fixed part taken after it: what a moving ring can show passes, what
 * no ring can show is still refused.
 */
static void test_dynamic_two_copies(void **state)
{
	const uint64_t cap = 65536;
	const size_t len = mring__ctl_size(4);
	struct mring__ctl *a = calloc(1, len), *b = calloc(1, len);
	(void)state;

	assert_non_null(a);
	assert_non_null(b);
	a->capacity = b->capacity = cap;
	a->max_consumers = b->max_consumers = 4;
	a->slots[1].state = MRING__SLOT_DURABLE;
	strcpy(a->slots[1].name, "d");

	/* A consumer's position, copied after head, went past it. */
	a->head = 1000;
	a->slots[1].pos = 1400;
	b->head = 1400;
	assert_int_equal(mring__ctl_check_dynamic(a, b), 0);
	/* Beyond even the later head: a torn control block (slots on a
	 * later page than head), pulled back by whoever reads it. */
	b->head = 1399;
	assert_int_equal(mring__ctl_check_dynamic(a, b), 0);
	a->slots[1].pos = 1ull << 62; /* no ring ever got there */
	assert_int_equal(mring__ctl_check_dynamic(a, b), MRING_ECORRUPT);
	a->flags = MRING_F_RECORDS; /* records: never inside one */
	a->slots[1].pos = 1404;
	b->head = 1400;
	assert_int_equal(mring__ctl_check_dynamic(a, b), MRING_ECORRUPT);
	a->slots[1].pos = 1408;
	assert_int_equal(mring__ctl_check_dynamic(a, b), 0);
	a->flags = 0;
	b->head = 1400;

	/* tail, copied after head, went past it. */
	a->slots[1].pos = 1000;
	a->tail = 1200;
	b->head = 1300;
	b->tail = 1200;
	assert_int_equal(mring__ctl_check_dynamic(a, a), MRING_ECORRUPT);
	assert_int_equal(mring__ctl_check_dynamic(a, b), 0);

	/* head copied after tail moved on: a gap wider than the ring. */
	a->head = cap + 5000;
	a->tail = 4000;
	a->slots[1].pos = cap + 4500;
	b->head = cap + 6000;
	b->tail = 6000;
	assert_int_equal(mring__ctl_check_dynamic(a, a), MRING_ECORRUPT);
	assert_int_equal(mring__ctl_check_dynamic(a, b), 0);
	b->tail = 4000; /* no: the gap was real */
	assert_int_equal(mring__ctl_check_dynamic(a, b), MRING_ECORRUPT);

	/* synced, copied after head. */
	a->head = 1000;
	a->tail = 0;
	a->synced = 1100;
	a->slots[1].pos = 0;
	b->head = 1100;
	b->tail = 0;
	assert_int_equal(mring__ctl_check_dynamic(a, a), MRING_ECORRUPT);
	assert_int_equal(mring__ctl_check_dynamic(a, b), 0);
	free(a);
	free(b);
}

static void test_hostile_truncated(void **state)
{
	TU_PATH(path, "trunc");
	uint64_t doff, size;
	struct stat st;

	(void)state;
	doff = fresh(path, 0);
	size = doff + small_cap();
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_size == size);

	assert_int_equal(truncate(path, (off_t)(size - 1)), 0);
	REFUSED(path, "one byte short", MRING_ETRUNCATED);
	assert_int_equal(truncate(path, (off_t)(size - small_cap() / 2)), 0);
	REFUSED(path, "half the data region", MRING_ETRUNCATED);
	assert_int_equal(truncate(path, (off_t)doff), 0);
	REFUSED(path, "no data region", MRING_ETRUNCATED);
	assert_int_equal(truncate(path, 4096), 0);
	REFUSED(path, "control block only", MRING_ETRUNCATED);
	assert_int_equal(truncate(path, 600), 0);
	REFUSED(path, "600 bytes", MRING_ETRUNCATED, MRING_ECORRUPT);
	assert_int_equal(truncate(path, 128), 0);
	REFUSED(path, "128 bytes", MRING_ETRUNCATED, MRING_ECORRUPT);
	tu_rm(path);
}

/* Anything that is not a ring gives a negative error, never a crash. */
static void test_hostile_not_a_ring(void **state)
{
	TU_PATH(path, "junk");
	TU_PATH(dir, "a-directory");
	TU_PATH(none, "does-not-exist");
	static const int any[] = {MRING_EBADMAGIC,  MRING_EVERSION,
	                          MRING_ECHECKSUM,  MRING_ECORRUPT,
	                          MRING_ETRUNCATED, MRING_EGEOMETRY,
	                          -EINVAL,          -EISDIR,
	                          -ENODEV,          -EACCES};
	const int nany = (int)(sizeof any / sizeof any[0]);
	uint64_t rs = 42;
	uint8_t *junk;

	(void)state;
	REFUSED(none, "no such file", -ENOENT);

	assert_int_equal(mkdir(dir, 0700), 0);
	expect_refused(dir, any, nany, "a directory");

	/* A file of 0 and 100 bytes, zeros or a truncated real header. */
	assert_rc(tu_pwrite(path, 0, "", 0), -ENOENT);
	{
		int fd = open(path, O_CREAT | O_WRONLY, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	expect_refused(path, any, nany, "empty file");
	assert_int_equal(truncate(path, 100), 0);
	expect_refused(path, any, nany, "100 zero bytes");
	fresh(path, 0);
	assert_int_equal(truncate(path, 100), 0);
	expect_refused(path, any, nany, "first 100 bytes of a ring");

	/* Random garbage, with and without a valid magic and version. */
	junk = malloc(1u << 20);
	assert_non_null(junk);
	for (size_t i = 0; i < (1u << 20); i += 8) {
		uint64_t v = tu_rand(&rs);
		memcpy(junk + i, &v, 8);
	}
	tu_rm(path);
	{
		int fd = open(path, O_CREAT | O_WRONLY, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, junk, 1u << 20), 1 << 20);
		close(fd);
	}
	REFUSED(path, "1 MiB of random bytes", MRING_EBADMAGIC);
	assert_rc(tu_pwrite(path, 0, "\x89MRING\r\n\x01\0\0\0", 12), 0);
	REFUSED(path, "random bytes after a valid magic", MRING_ECHECKSUM);
	tu_fix_checksum(path);
	expect_refused(path, any, nany, "random header with a valid checksum");
	/* Random bytes over the whole control block of a real ring. */
	for (int k = 0; k < 16; k++) {
		uint64_t doff = fresh(path, MRING_F_RECORDS);
		(void)doff;
		assert_rc(tu_pwrite(path, 12, junk + k * 4096, 4096 - 12), 0);
		tu_fix_checksum(path);
		expect_refused(path, any, nany, "random control block");
	}
	free(junk);
	tu_rm(path);
	tu_rm(dir);
}

/* Unreadable file: -EACCES (not meaningful as root). */
/* A process without the right to open the file gets -EACCES. */
static void test_no_permission(void **state)
{
	TU_PATH(path, "noperm");
	struct stat dst;
	int status;
	pid_t pid;

	(void)state;
	fresh(path, 0);
	assert_int_equal(chmod(path, 0), 0);
	if (geteuid() != 0) {
		REFUSED(path, "mode 000", -EACCES);
		tu_rm(path);
		return;
	}
	/*
	 * Root ignores file modes: drop to nobody in a child, with the
	 * directory made traversable so the file itself is what refuses.
	 */
	assert_int_equal(stat(tu_dir(), &dst), 0);
	assert_int_equal(chmod(tu_dir(), 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mring_info in;
		struct mring *r = NULL;
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(77);
		int a = mring_open(path, MRING_PRODUCER, NULL, &r);
		int b = mring_open(path, MRING_CONSUMER, NULL, &r);
		int c = mring_inspect(path, &in, NULL, 0);
		int d = mring_consumer_remove(path, "x");
		_exit(a == -EACCES && b == -EACCES && c == -EACCES &&
		                      d == -EACCES
		              ? 0
		              : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(chmod(tu_dir(), dst.st_mode & 07777), 0);
	tu_rm(path);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_defaults),
		cmocka_unit_test(test_create_exists),
		cmocka_unit_test(test_create_bad_geometry),
		cmocka_unit_test(test_create_max_record_limit),
		cmocka_unit_test(test_create_mode_flags),
		cmocka_unit_test(test_create_prealloc_too_big),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_hostile_flipped_bytes),
		cmocka_unit_test(test_hostile_magic_version),
		cmocka_unit_test(test_hostile_static_fields),
		cmocka_unit_test(test_hostile_dynamic),
		cmocka_unit_test(test_dynamic_two_copies),
		cmocka_unit_test(test_slot_beyond_head),
		cmocka_unit_test(test_data_at_2mib),
		cmocka_unit_test(test_hostile_truncated),
		cmocka_unit_test(test_hostile_not_a_ring),
		cmocka_unit_test(test_no_permission),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
