/*
 * Fuzz target: a hostile ring file, opened and validated.
 *
 * Input: byte 0 chooses what to do, byte 1 how the raw image becomes a file
 * (see fz_write_raw), the rest is the image. mring_inspect, mring_open as a
 * consumer and as a producer (whose open recovers a ring whose producer
 * died: it scans records the file vouches for) must each return 0 or a
 * documented negative error; a handle that opens is used a little (read to
 * the end, reserve and commit) and closed.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "internal.h"

/* Read to the end (or the first error) without waiting. */
static void drain(struct mring *r)
{
	for (int i = 0; i < 256; i++) {
		const void *p;
		ssize_t n = mring_peek(r, &p, 0);
		if (!fz_clean_error(n))
			fz_fail("peek returned %zd", n);
		if (n == MRING_ELAPPED)
			continue;
		if (n <= 0)
			return;
		const uint8_t *b = p, *lo = r->wbase;
		if (b < lo || b + n > lo + r->win + r->overlap ||
		    (r->records && (size_t)n > r->max_record))
			fz_fail("peek: %zd bytes at window offset %td, "
			        "outside the %llu mapped",
			        n, b - lo,
			        (unsigned long long)(r->win + r->overlap));
		volatile uint8_t sink = b[0] ^ b[n - 1];
		(void)sink;
		int rc = mring_release(r, (size_t)n);
		if (!fz_clean_error(rc))
			fz_fail("release returned %d", rc);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	uint8_t what = fz_u8(&in), how = fz_u8(&in);
	struct mring_config cfg;
	struct mring_info info;
	struct mring_consumer_info cons[4];
	struct mring *r;
	int rc;

	if (fz_write_raw(&in, how) < 0)
		return 0;
	const char *path = fz_path();

	rc = mring_inspect(path, &info, cons, 4);
	if (!fz_clean_error(rc))
		fz_fail("inspect returned %d", rc);
	if (rc >= 0 && (info.tail > info.head || info.synced > info.head ||
	                info.head - info.tail > info.capacity ||
	                info.consumers > info.max_consumers))
		fz_fail("inspect passed an inconsistent header");

	mring_config_init(&cfg);
	cfg.flags = MRING_F_NO_PREFETCH | MRING_F_NO_URING;
	cfg.start = (what & 1) ? MRING_START_NEWEST : MRING_START_OLDEST;
	cfg.consumer_name = (what & 2) ? "d" : NULL;
	if (what & 4) {
		rc = mring_open(path, MRING_CONSUMER, &cfg, &r);
		if (!fz_clean_error(rc))
			fz_fail("consumer open returned %d", rc);
		if (rc == 0) {
			drain(r);
			mring_close(r);
		}
	}
	if (what & 8) {
		cfg.consumer_name = NULL;
		rc = mring_open(path, MRING_PRODUCER, &cfg, &r);
		if (!fz_clean_error(rc))
			fz_fail("producer open returned %d", rc);
		if (rc == 0) {
			void *p;
			size_t len = 1 + (what >> 4) * 61;
			rc = mring_reserve(r, len, &p, 0);
			if (!fz_clean_error(rc))
				fz_fail("reserve returned %d", rc);
			if (rc == 0) {
				memset(p, 0xa5, len);
				if (mring_commit(r, len) != 0)
					fz_fail("commit failed");
			}
			if (what & 16)
				(void)mring_sync(r);
			mring_close(r);
		}
	}
	if (what & 32) {
		/* After the producer's recovery, read what it kept. */
		cfg.consumer_name = NULL;
		rc = mring_open(path, MRING_CONSUMER, &cfg, &r);
		if (!fz_clean_error(rc))
			fz_fail("consumer open returned %d", rc);
		if (rc == 0) {
			drain(r);
			mring_close(r);
		}
	}
	return 0;
}
