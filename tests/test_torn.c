/*
 * Torn copies of a live control block (ring.c, CTL_READS). read() copies
 * a word that changes under it in pieces when the copy stops inside it,
 * so open and inspect can see a position that never was: a head above the
 * head read after it, the ring wider than its capacity. That is not damage
 * and must not fail the call; damage that every copy shows still must.
 *
 * The moment cannot be caused on purpose with a live producer, so this
 * executable is linked with -Wl,--wrap=pread: the library's reads come
 * here, and a test tears the next copies of the whole control block the
 * way the kernel's copy did, deterministically, on a ring at rest.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);

static int tear_next;    /* whole-block copies still to tear */
static int whole_copies; /* whole-block copies read */
static int torn_copies;  /* of which torn */

/*
 * The library reads the whole block (header and slots) and the fixed part
 * alone (TU_OFF_SLOTS bytes); only the whole copies are torn. The torn head
 * keeps its low bytes and takes high bytes from a head two laps on, as a
 * copy that stopped after the first byte of head would show.
 */
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
	ssize_t got = __real_pread(fd, buf, n, off);

	if (off != 0 || got <= TU_OFF_SLOTS)
		return got;
	whole_copies++;
	if (tear_next > 0) {
		uint64_t head, cap;
		memcpy(&head, (char *)buf + TU_OFF_HEAD, 8);
		memcpy(&cap, (char *)buf + TU_OFF_CAPACITY, 8);
		head = ((head + 2 * cap) & ~(uint64_t)0xff) | (head & 0xff);
		memcpy((char *)buf + TU_OFF_HEAD, &head, 8);
		tear_next--;
		torn_copies++;
	}
	return got;
}

static void tear(int copies)
{
	tear_next = copies;
	whole_copies = 0;
	torn_copies = 0;
}

static const struct mring_config quiet = {
	.flags = MRING_F_NO_PREFETCH | MRING_F_NO_URING,
};

/* A record ring of 16 pages holding records 0 .. 99 of 40 bytes, one
 * durable consumer "d" at the oldest; no handle open. */
static void make_ring(const char *path)
{
	struct mring_config cfg = quiet;
	struct mring *p, *c;
	uint8_t buf[40];

	tu_create(path, 16 * (uint64_t)tu_page(), 200, MRING_F_RECORDS);
	cfg.consumer_name = "d";
	assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &c), 0);
	mring_close(c);
	assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &p), 0);
	for (uint64_t k = 0; k < 100; k++) {
		tu_rec_fill(buf, k, sizeof(buf));
		assert_rc(mring_write(p, buf, sizeof(buf), 0), sizeof(buf));
	}
	mring_close(p);
}

/* Torn copies short of the limit: every call reads again and succeeds
 * with what an untorn read shows. */
static void test_torn_copy_is_read_again(void **state)
{
	TU_PATH(path, "torn");
	struct mring_consumer_info ci0[2], ci[2];
	struct mring_info in0, in;
	struct mring *r;
	const void *ptr;
	uint8_t buf[40];
	(void)state;

	make_ring(path);
	tear(0);
	assert_rc(mring_inspect(path, &in0, ci0, 2), 1);
	assert_int_equal(torn_copies, 0);
	assert_true(in0.head > 0);

	/* Once, then as many times in a row as the library reads again. */
	for (int n = 1; n <= 3; n++) {
		tear(n);
		assert_rc(mring_inspect(path, &in, ci, 2), 1);
		assert_int_equal(torn_copies, n);
		assert_int_equal(whole_copies, n + 1);
		assert_int_equal(in.head, in0.head);
		assert_int_equal(in.tail, in0.tail);
		assert_int_equal(ci[0].position, ci0[0].position);
		assert_string_equal(ci[0].name, "d");
	}

	/* Every way in that reads the block. */
	tear(1);
	assert_rc(mring_open(path, MRING_CONSUMER, &quiet, &r), 0);
	assert_int_equal(torn_copies, 1);
	assert_rc(mring_read(r, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal(tu_rec_seq(buf), 0);
	mring_close(r);

	tear(1);
	assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &r), 0);
	assert_int_equal(torn_copies, 1);
	tu_rec_fill(buf, 100, sizeof(buf));
	assert_rc(mring_write(r, buf, sizeof(buf), 0), sizeof(buf));
	mring_close(r);

	tear(1);
	assert_rc(mring_consumer_add(path, "e", MRING_START_NEWEST), 0);
	assert_int_equal(torn_copies, 1);
	tear(1);
	assert_rc(mring_consumer_remove(path, "e"), 0);
	assert_int_equal(torn_copies, 1);

	/* The ring is as it was, one record on. */
	struct mring_config cfg = quiet;
	cfg.consumer_name = "d";
	tear(0);
	assert_rc(mring_open(path, MRING_CONSUMER, &cfg, &r), 0);
	for (uint64_t k = 0; k <= 100; k++) {
		assert_rc(mring_peek(r, &ptr, 0), sizeof(buf));
		assert_int_equal(tu_rec_seq(ptr), k);
		assert_rc(mring_release(r, sizeof(buf)), 0);
	}
	assert_rc(mring_peek(r, &ptr, 0), 0); /* the producer closed */
	mring_close(r);
	tu_rm(path);
}

/* A block that reads inconsistent every time is damage: refused after a
 * bounded number of reads, by every way in, and nothing is written. */
static void test_torn_every_time_is_damage(void **state)
{
	TU_PATH(path, "always");
	struct mring_info in0, in;
	struct mring *r;
	(void)state;

	make_ring(path);
	tear(0);
	assert_rc(mring_inspect(path, &in0, NULL, 0), 1);

	tear(1000);
	assert_rc(mring_inspect(path, &in, NULL, 0), MRING_ECORRUPT);
	assert_true(whole_copies >= 2 && whole_copies <= 16);
	assert_int_equal(torn_copies, whole_copies);
	tear(1000);
	assert_rc(mring_open(path, MRING_CONSUMER, &quiet, &r), MRING_ECORRUPT);
	assert_null(r);
	tear(1000);
	assert_rc(mring_open(path, MRING_PRODUCER, &quiet, &r), MRING_ECORRUPT);
	tear(1000);
	assert_rc(mring_consumer_add(path, "e", MRING_START_NEWEST),
	          MRING_ECORRUPT);
	tear(1000);
	assert_rc(mring_consumer_remove(path, "d"), MRING_ECORRUPT);

	tear(0);
	assert_rc(mring_inspect(path, &in, NULL, 0), 1);
	assert_int_equal(in.head, in0.head);
	assert_int_equal(in.tail, in0.tail);
	tu_rm(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torn_copy_is_read_again),
		cmocka_unit_test(test_torn_every_time_is_damage),
	};
	tu_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
