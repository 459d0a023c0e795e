/*
 * Fuzz target: a consumer reading hostile data.
 *
 * Starts from a valid ring with data in it (bytes or records, with or
 * without CRC, back-pressure or overwrite; built by the library once per
 * process), then runs a little program from the input: damage the
 * positions, consumer slots, record headers or data (before the consumer
 * opens, or under it, as another process could), read, reopen, or let a
 * producer write. Every length a read returns must lie inside the window
 * the handle mapped; nothing may crash; every loop is bounded.
 *
 * Input: byte 0 picks the template, then one op per byte:
 *   op & 7 in 0..3  damage (fz_patch reads its own bytes)
 *            4      peek/release (op >> 3) + 1 times
 *            5      mring_read into a buffer of 8 * next byte
 *            6      close and reopen the consumer as (op >> 3) says
 *            7      a producer opens, writes (op >> 3) + 1 records, closes
 * With no damage at all, the drain at the end must read to the end
 * without errors: the template itself is sound.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "internal.h"

#define MAX_OPS 64
#define MAX_STEPS 4096

static struct mring *cons;
static int damaged;

static void open_consumer(unsigned kind)
{
	struct mring_config cfg;
	static const char *names[4] = {NULL, NULL, "d", "x"};

	mring_close(cons);
	cons = NULL;
	mring_config_init(&cfg);
	cfg.flags = MRING_F_NO_PREFETCH | MRING_F_NO_URING;
	cfg.consumer_name = names[kind & 3];
	cfg.start = (kind & 3) == 1 ? MRING_START_NEWEST : MRING_START_OLDEST;
	int rc = mring_open(fz_path(), MRING_CONSUMER, &cfg, &cons);
	if (!fz_clean_error(rc))
		fz_fail("consumer open returned %d", rc);
	if (rc < 0 && !damaged)
		fz_fail("consumer open of a sound ring: %s",
		        mring_strerror(rc));
}

/* One peek and release; returns what peek returned. */
static ssize_t step(unsigned part)
{
	const void *p;
	ssize_t n = mring_peek(cons, &p, 0);

	if (!fz_clean_error(n))
		fz_fail("peek returned %zd", n);
	if (n <= 0)
		return n;
	const uint8_t *b = p, *lo = cons->wbase;
	if (b < lo || b + n > lo + cons->win + cons->overlap ||
	    (cons->records && (size_t)n > cons->max_record))
		fz_fail("peek: %zd bytes at window offset %td, outside the "
		        "%llu mapped",
		        n, b - lo,
		        (unsigned long long)(cons->win + cons->overlap));
	volatile uint8_t sink = b[0] ^ b[n - 1];
	(void)sink;
	/* Byte mode may release part of what it saw. */
	size_t len = (size_t)n;
	if (!cons->records && (part & 1) && n > 1)
		len = (size_t)n / 2;
	int rc = mring_release(cons, len);
	if (!fz_clean_error(rc))
		fz_fail("release returned %d", rc);
	if (rc < 0 && rc != MRING_ELAPPED)
		fz_fail("release after a good peek returned %d", rc);
	return n;
}

static void produce(struct fz_in *in, unsigned n)
{
	struct mring_config cfg;
	struct mring *p;
	uint8_t buf[1000];

	mring_config_init(&cfg);
	cfg.flags = MRING_F_NO_PREFETCH | MRING_F_NO_URING;
	int rc = mring_open(fz_path(), MRING_PRODUCER, &cfg, &p);
	if (!fz_clean_error(rc))
		fz_fail("producer open returned %d", rc);
	if (rc < 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		size_t len = 1 + fz_u8(in) * 3;
		memset(buf, (int)len, len);
		ssize_t w = mring_write(p, buf, len, 0);
		if (!fz_clean_error(w))
			fz_fail("write returned %zd", w);
	}
	mring_close(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	const struct fz_tmpl *t = fz_write_template(fz_u8(&in));
	uint8_t buf[2048];

	if (!t)
		return 0;
	damaged = 0;
	for (int i = 0; i < MAX_OPS && in.n; i++) {
		uint8_t op = fz_u8(&in);
		unsigned arg = op >> 3;
		switch (op & 7) {
		case 4:
			if (!cons)
				open_consumer(0);
			for (unsigned k = 0; cons && k <= arg; k++)
				step(k);
			break;
		case 5: {
			if (!cons)
				open_consumer(0);
			size_t len = 8 * (size_t)fz_u8(&in);
			if (!cons)
				break;
			ssize_t n = mring_read(cons, buf, len, 0);
			if (!fz_clean_error(n) || n > (ssize_t)len)
				fz_fail("read of %zu returned %zd", len, n);
			break;
		}
		case 6:
			open_consumer(arg);
			break;
		case 7:
			damaged = 1; /* a producer may overwrite what we read */
			produce(&in, arg % 8 + 1);
			break;
		default:
			in.p--, in.n++; /* the op byte is the patch's */
			if (fz_patch(&in, t) == 0)
				damaged = 1;
			break;
		}
	}
	/* Read to the end, or until errors repeat. */
	if (!cons)
		open_consumer(0);
	int errs = 0;
	for (int k = 0; cons && k < MAX_STEPS && errs < 4; k++) {
		ssize_t n = step((unsigned)k);
		if (n == 0 || n == -EAGAIN)
			break;
		if (n < 0 && n != MRING_ELAPPED && !damaged)
			fz_fail("reading a sound ring: %s",
			        mring_strerror((int)n));
		if (n < 0)
			errs++;
	}
	mring_close(cons);
	cons = NULL;
	return 0;
}
