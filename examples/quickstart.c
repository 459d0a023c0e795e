/*
 * quickstart: the smallest useful mring program. It creates a ring file,
 * attaches a durable consumer, produces three messages without copying
 * (reserve, write in place, commit), closes the producer, and reads the
 * stream back to its end (peek, use in place, release).
 *
 * Producer and consumer are two handles in one process here; in real use
 * they live in different processes and open the same path.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mring.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "quickstart: %s: %s\n", what, mring_strerror(err));
	return 1;
}

int main(int argc, char **argv)
{
	static const char *const msgs[] = {"hello, ", "ring ", "world\n"};
	struct mring_config cfg = {0}; /* all zero: defaults */
	struct mring_config ccfg = {.consumer_name = "quickstart"};
	struct mring *prod, *cons;
	char path[256];
	int err;

	if (argc > 1)
		snprintf(path, sizeof(path), "%s", argv[1]);
	else
		snprintf(path, sizeof(path), "/tmp/mring-quickstart-%d.ring",
		         (int)getpid());

	cfg.capacity = 64 << 20; /* 64 MiB of data, sparse on disk */
	err = mring_create(path, &cfg);
	if (err < 0)
		return fail("mring_create", err);

	/* A named (durable) consumer: the producer never overwrites what it
	 * has not read. Attach it first so it sees the stream from byte 0. */
	err = mring_open(path, MRING_CONSUMER, &ccfg, &cons);
	if (err < 0)
		return fail("mring_open(consumer)", err);
	err = mring_open(path, MRING_PRODUCER, NULL, &prod);
	if (err < 0)
		return fail("mring_open(producer)", err);

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		size_t len = strlen(msgs[i]);
		void *p;

		/* -1: wait for space as long as it takes. */
		err = mring_reserve(prod, len, &p, -1);
		if (err < 0)
			return fail("mring_reserve", err);
		memcpy(p, msgs[i], len);
		err = mring_commit(prod, len);
		if (err < 0)
			return fail("mring_commit", err);
	}
	mring_close(prod); /* marks the end of the stream */

	for (;;) {
		const void *p;
		ssize_t n = mring_peek(cons, &p, -1);

		if (n == 0) /* producer closed and everything was read */
			break;
		if (n < 0)
			return fail("mring_peek", (int)n);
		fwrite(p, 1, (size_t)n, stdout);
		err = mring_release(cons, (size_t)n);
		if (err < 0)
			return fail("mring_release", err);
	}
	mring_close(cons);
	unlink(path);
	return 0;
}
