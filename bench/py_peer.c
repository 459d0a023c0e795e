/*
 * bench/py_peer: the C side of bench/py_ipc.py, which compares Python
 * consumers of a ring (zero-copy numpy, batches) with this C consumer and
 * with a pipe read into numpy, all fed by this same C producer.
 *
 *   mring-bench-pypeer produce RING SIZE COUNT   records into the ring
 *   mring-bench-pypeer pipe SIZE COUNT           the same records to stdout
 *   mring-bench-pypeer consume RING NAME COUNT   read them as consumer NAME
 *
 * Record i is SIZE bytes (a multiple of 8): the 64-bit word i, then words
 * of a fixed pattern. The producer writes every byte of every record. The
 * consumer reads every word (a sum), checks each record's number, and
 * prints one line: "records BYTES SECONDS SUM" from the first record to
 * the last, as the Python consumers measure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mring.h>

#include "common.h"

#define PATTERN 0x9e3779b97f4a7c15ull

static uint64_t *make_record(size_t size)
{
	uint64_t *t = malloc(size);
	if (!t)
		bench_die("out of memory");
	for (size_t k = 0; k < size / 8; k++)
		t[k] = PATTERN;
	return t;
}

static void fill(void *dst, const uint64_t *tmpl, size_t size, uint64_t i)
{
	memcpy(dst, tmpl, size);
	memcpy(dst, &i, sizeof(i));
}

static int produce(const char *path, size_t size, uint64_t count)
{
	struct mring *r;
	uint64_t *tmpl = make_record(size);
	int rc = mring_open(path, MRING_PRODUCER, NULL, &r);

	if (rc < 0)
		bench_die("%s: %s", path, mring_strerror(rc));
	for (uint64_t i = 0; i < count; i++) {
		void *p;
		rc = mring_reserve(r, size, &p, -1);
		if (rc < 0)
			bench_die("reserve: %s", mring_strerror(rc));
		fill(p, tmpl, size, i);
		rc = mring_commit(r, size);
		if (rc < 0)
			bench_die("commit: %s", mring_strerror(rc));
	}
	mring_close(r);
	free(tmpl);
	return 0;
}

static int pipe_out(size_t size, uint64_t count)
{
	uint64_t *tmpl = make_record(size);
	char *buf = malloc(size);

	if (!buf)
		bench_die("out of memory");
	for (uint64_t i = 0; i < count; i++) {
		fill(buf, tmpl, size, i);
		for (size_t off = 0; off < size;) {
			ssize_t n = write(STDOUT_FILENO, buf + off, size - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				bench_die("write: %s", strerror(errno));
			off += (size_t)n;
		}
	}
	free(buf);
	free(tmpl);
	return 0;
}

static int consume(const char *path, const char *name, uint64_t count)
{
	struct mring_config cfg;
	struct mring *r;
	uint64_t sum = 0, bytes = 0, t0 = 0;
	int rc;

	mring_config_init(&cfg);
	cfg.consumer_name = name;
	rc = mring_open(path, MRING_CONSUMER, &cfg, &r);
	if (rc < 0)
		bench_die("%s: %s", path, mring_strerror(rc));
	for (uint64_t i = 0; i < count; i++) {
		const void *p;
		ssize_t n = mring_peek(r, &p, -1);
		if (n <= 0)
			bench_die("peek at record %llu: %s",
			          (unsigned long long)i,
			          n ? mring_strerror((int)n) : "end of stream");
		if (i == 0)
			t0 = bench_now_ns();
		const uint64_t *w = p;
		if (w[0] != i)
			bench_die("record %llu carries %llu",
			          (unsigned long long)i,
			          (unsigned long long)w[0]);
		for (size_t k = 0; k < (size_t)n / 8; k++)
			sum += w[k];
		bytes += (uint64_t)n;
		rc = mring_release(r, 0);
		if (rc < 0)
			bench_die("release: %s", mring_strerror(rc));
	}
	double s = (double)(bench_now_ns() - t0) / 1e9;
	printf("records %llu %.9f %llu\n", (unsigned long long)bytes, s,
	       (unsigned long long)sum);
	mring_close(r);
	return 0;
}

static uint64_t num(const char *s)
{
	uint64_t v;
	if (bench_parse_size(s, &v) < 0)
		bench_die("not a size: %s", s);
	return v;
}

static size_t rec_size(const char *s)
{
	uint64_t v = num(s);
	if (v < 8 || v % 8 || v > (1u << 30))
		bench_die("SIZE must be a multiple of 8, 8 to 1G: %s", s);
	return (size_t)v;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "produce"))
		return produce(argv[2], rec_size(argv[3]), num(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "pipe"))
		return pipe_out(rec_size(argv[2]), num(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "consume"))
		return consume(argv[2], argv[3], num(argv[4]));
	fprintf(stderr, "usage: mring-bench-pypeer produce RING SIZE COUNT\n"
	                "       mring-bench-pypeer pipe SIZE COUNT\n"
	                "       mring-bench-pypeer consume RING NAME COUNT\n"
	                "(the C side of bench/py_ipc.py)\n");
	return 2;
}
