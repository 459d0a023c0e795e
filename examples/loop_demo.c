/*
 * loop_demo: stream several laps of data through a ring file between two
 * processes and check every byte.
 *
 * The parent creates a byte-mode, back-pressure ring in a fresh temporary
 * directory and forks. The child opens the ring as the durable consumer
 * "demo" and only then tells the parent, over a pipe, that it is
 * registered: from that moment the producer can never overwrite data the
 * consumer has not read. The parent then opens the ring as producer and
 * writes `laps` times the capacity with mring_reserve/mring_commit. The
 * child reads with mring_peek/mring_release. Before the first lap the
 * producer has the ring's pages created (mring_prefault), so that lap 1
 * runs at the speed of the others; --no-prefault shows the difference.
 *
 * The data is a pure function of its stream position, so the consumer can
 * check any byte on its own, wherever reads happen to be split.
 *
 * Handles are never shared across fork(): each process opens its own.
 * Uses only the public header, like any program outside the library.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mring.h>

#define CONSUMER_NAME "demo"
#define POLL_MS \
	1000          /* longest a blocking call waits before we look
                         whether the other process is still there */
#define MAX_REPORTS 5 /* mismatching bytes printed before going quiet */

struct opts {
	uint64_t capacity;
	uint64_t window;
	uint64_t laps;
	uint64_t chunk;
	const char *dir;
	bool keep;
	bool prefault;
};

/* What the consumer sends back to the parent at the end. */
struct result {
	int err;         /* 0 or the first error the consumer met */
	uint64_t bytes;  /* bytes read and checked */
	uint64_t errors; /* bytes that were not what the producer wrote */
	uint64_t waits;  /* times the consumer found the ring empty */
	double seconds;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- the data: a pure function of the stream position --------------- */

/*
 * Every 8-byte word of the stream is a mix (splitmix64's finaliser) of its
 * index, so byte q of the stream is byte (q % 8) of word_at(q / 8),
 * little-endian. Cheap enough to run at memory speed.
 */
static inline uint64_t word_at(uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull + 0x6d72696e67ull;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline uint8_t byte_at(uint64_t q)
{
	return (uint8_t)(word_at(q >> 3) >> (8 * (q & 7)));
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WORDS_ARE_BYTES 1 /* a stored word reads back as byte_at() */
#else
#define WORDS_ARE_BYTES 0
#endif

/* Fill dst with the stream's bytes [pos, pos + len). */
static void fill(uint8_t *dst, uint64_t pos, size_t len)
{
	while (len > 0 && ((pos & 7) || !WORDS_ARE_BYTES)) {
		*dst++ = byte_at(pos++);
		len--;
	}
	for (; len >= 8; len -= 8, dst += 8, pos += 8) {
		uint64_t w = word_at(pos >> 3);

		memcpy(dst, &w, 8);
	}
	while (len > 0) {
		*dst++ = byte_at(pos++);
		len--;
	}
}

/* Count the bytes of src that differ from the stream at [pos, pos + len). */
static uint64_t check_bytes(const uint8_t *src, uint64_t pos, size_t len,
                            uint64_t *reported)
{
	uint64_t bad = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t want = byte_at(pos + i);

		if (src[i] == want)
			continue;
		if (++*reported <= MAX_REPORTS)
			fprintf(stderr,
			        "consumer: byte at position %" PRIu64
			        " is 0x%02x, expected 0x%02x\n",
			        pos + i, src[i], want);
		bad++;
	}
	return bad;
}

static uint64_t verify(const uint8_t *src, uint64_t pos, size_t len,
                       uint64_t *reported)
{
	uint64_t bad = 0;
	size_t head = WORDS_ARE_BYTES ? (size_t)((8 - (pos & 7)) & 7) : len;

	if (head > len)
		head = len;
	bad += check_bytes(src, pos, head, reported);
	src += head;
	pos += head;
	len -= head;
	for (; len >= 8; len -= 8, src += 8, pos += 8) {
		uint64_t got;

		memcpy(&got, src, 8);
		if (got != word_at(pos >> 3))
			bad += check_bytes(src, pos, 8, reported);
	}
	return bad + check_bytes(src, pos, len, reported);
}

/* ---- small helpers ---------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double gbps(uint64_t bytes, double s)
{
	return s > 0 ? (double)bytes / s / 1e9 : 0.0;
}

/* "64M", "1G", "1GiB", "625000": binary suffixes K, M, G, T. */
static int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *unit;
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	if (*end && (unit = strchr(units, toupper((unsigned char)*end)))) {
		shift = 10 * (unsigned)(unit - units + 1);
		end++;
	}
	if (shift && *end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
	        "usage: %s [options]\n"
	        "  --capacity SIZE  ring data bytes (default 1G)\n"
	        "  --window SIZE    window bytes per mapping (default 64M)\n"
	        "  --laps N         times the stream goes round (default 4)\n"
	        "  --chunk SIZE     bytes per reservation (default 625000)\n"
	        "  --dir DIR        create the temporary directory in DIR\n"
	        "                   (default $TMPDIR, else /tmp)\n"
	        "  --keep           keep the ring file and its directory\n"
	        "  --no-prefault    do not create the ring's pages before lap 1\n"
	        "                   (mring_prefault): lap 1 then pays for them\n"
	        "SIZE takes a K, M, G or T suffix (powers of 1024).\n",
	        argv0);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"capacity", required_argument, NULL, 'c'},
		{"window", required_argument, NULL, 'w'},
		{"laps", required_argument, NULL, 'l'},
		{"chunk", required_argument, NULL, 's'},
		{"dir", required_argument, NULL, 'd'},
		{"keep", no_argument, NULL, 'k'},
		{"no-prefault", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	o->capacity = 1ull << 30;
	o->window = 64ull << 20;
	o->laps = 4;
	o->chunk = 625000;
	o->dir = NULL;
	o->keep = false;
	o->prefault = true;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		uint64_t *dst = NULL;

		switch (c) {
		case 'c':
			dst = &o->capacity;
			break;
		case 'w':
			dst = &o->window;
			break;
		case 'l':
			dst = &o->laps;
			break;
		case 's':
			dst = &o->chunk;
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'k':
			o->keep = true;
			break;
		case 'P':
			o->prefault = false;
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			return -1;
		}
		if (dst && (parse_size(optarg, dst) < 0 || *dst == 0)) {
			fprintf(stderr, "%s: bad value '%s'\n", argv[0],
			        optarg);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0],
		        argv[optind]);
		return -1;
	}
	if (o->window > UINT32_MAX || o->chunk > UINT32_MAX) {
		fprintf(stderr, "%s: --window and --chunk must be below 4G\n",
		        argv[0]);
		return -1;
	}
	if (o->laps > UINT64_MAX / o->capacity) {
		fprintf(stderr, "%s: too many laps\n", argv[0]);
		return -1;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0, or -1 if the pipe ended early (the other process died). */
static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR && !stop)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- consumer (child process) ----------------------------------------- */

static void consume(const char *path, const struct opts *o, int tell_fd)
{
	struct mring_config cfg;
	struct mring *r = NULL;
	struct result res = {0};
	struct mring_stats st;
	const uint64_t total = o->laps * o->capacity;
	uint64_t pos = 0, reported = 0, lap = 1;
	pid_t parent = getppid();
	double t0, tlap;
	int err;

	mring_config_init(&cfg);
	cfg.consumer_name = CONSUMER_NAME;
	cfg.start = MRING_START_OLDEST;
	err = mring_open(path, MRING_CONSUMER, &cfg, &r);
	/* The parent waits for this before it starts producing. */
	if (write_all(tell_fd, &err, sizeof(err)) < 0 || err < 0) {
		mring_close(r);
		_exit(1);
	}

	t0 = tlap = now_s();
	while (pos < total && !stop) {
		const void *p;
		ssize_t n = mring_peek(r, &p, POLL_MS);
		uint64_t lap_end = lap * o->capacity;

		if (n == -ETIMEDOUT || n == -EAGAIN || n == -EINTR) {
			if (stop || getppid() != parent) {
				fprintf(stderr, "consumer: producer is gone\n");
				res.err = -ECANCELED;
				break;
			}
			continue;
		}
		if (n == 0) {
			fprintf(stderr,
			        "consumer: stream ended after %" PRIu64
			        " of %" PRIu64 " bytes\n",
			        pos, total);
			res.err = -EPIPE;
			break;
		}
		if (n < 0) {
			fprintf(stderr, "consumer: mring_peek: %s\n",
			        mring_strerror((int)n));
			res.err = (int)n;
			break;
		}
		/* Laps are timed from the first byte, as the producer's are
		 * from its first write. */
		if (pos == 0)
			t0 = tlap = now_s();
		/* Stop exactly at lap boundaries, so laps are timed exactly. */
		if ((uint64_t)n > lap_end - pos)
			n = (ssize_t)(lap_end - pos);
		res.errors += verify(p, pos, (size_t)n, &reported);
		err = mring_release(r, (size_t)n);
		if (err < 0) {
			fprintf(stderr, "consumer: mring_release: %s\n",
			        mring_strerror(err));
			res.err = err;
			break;
		}
		pos += (uint64_t)n;
		if (pos == lap_end) {
			double t = now_s();

			printf("consumer lap %" PRIu64 "/%" PRIu64 ": %" PRIu64
			       " bytes in %.3f s, %.2f GB/s\n",
			       lap, o->laps, o->capacity, t - tlap,
			       gbps(o->capacity, t - tlap));
			fflush(stdout);
			tlap = t;
			lap++;
		}
	}
	res.seconds = now_s() - t0;
	res.bytes = pos;
	if (pos < total && res.err == 0)
		res.err = -ECANCELED; /* interrupted */
	if (mring_stats(r, &st) == 0)
		res.waits = st.consumer_waits;
	if (res.err == 0) {
		/* After the last byte the producer's close must show as EOF. */
		const void *p;
		ssize_t n = mring_peek(r, &p, 10 * POLL_MS);

		if (n != 0) {
			fprintf(stderr,
			        "consumer: expected end of stream, got %zd (%s)\n",
			        n,
			        n < 0 ? mring_strerror((int)n) : "more data");
			res.err = n < 0 ? (int)n : -EPROTO;
		}
	}
	mring_close(r);
	if (write_all(tell_fd, &res, sizeof(res)) < 0)
		_exit(1);
	_exit(res.err == 0 && res.errors == 0 ? 0 : 1);
}

/* ---- producer (parent process) ---------------------------------------- */

/* Is the consumer still running? */
static bool child_alive(pid_t child)
{
	return waitpid(child, NULL, WNOHANG) == 0;
}

/*
 * Create the ring's pages before the first lap (mring_prefault). Writing
 * into a new file's pages costs the kernel a page allocation, zeroing and
 * a block reservation per page, which later laps over the same pages do
 * not pay: done here, lap 1 runs at the speed of the others, and the cost
 * is printed on its own line.
 */
static int prefault(struct mring *r, uint64_t len, pid_t child)
{
	struct mring_stats st;
	double t0 = now_s();
	ssize_t n;

	while ((n = mring_prefault(r, (size_t)len, POLL_MS)) == -ETIMEDOUT) {
		if (stop || !child_alive(child)) {
			fprintf(stderr, "producer: consumer is gone\n");
			return -ECANCELED;
		}
		if (mring_stats(r, &st) == 0)
			printf("producer preparing the ring: %" PRIu64
			       " bytes ready after %.1f s\n",
			       st.prefault_ahead, now_s() - t0);
		fflush(stdout);
	}
	if (n < 0) {
		fprintf(stderr, "producer: mring_prefault: %s\n",
		        mring_strerror((int)n));
		return (int)n;
	}
	double t = now_s() - t0;
	printf("producer prepared %zd bytes in %.3f s, %.2f GB/s, before lap 1"
	       " (--no-prefault: lap 1 pays for them)\n",
	       n, t, gbps((uint64_t)n, t));
	fflush(stdout);
	return 0;
}

static int produce(const char *path, const struct opts *o, pid_t child)
{
	struct mring *r;
	struct mring_stats st;
	const uint64_t total = o->laps * o->capacity;
	uint64_t pos = 0, lap = 1;
	double t0, tlap;
	int err;

	err = mring_open(path, MRING_PRODUCER, NULL, &r);
	if (err < 0) {
		fprintf(stderr, "producer: mring_open: %s\n",
		        mring_strerror(err));
		return err;
	}

	if (o->prefault) {
		err = prefault(r, o->capacity, child);
		if (err < 0) {
			mring_close(r);
			return err;
		}
	}

	t0 = tlap = now_s();
	while (pos < total && !stop) {
		uint64_t lap_end = lap * o->capacity;
		size_t len = (size_t)o->chunk;
		void *p;

		if (len > lap_end - pos)
			len = (size_t)(lap_end - pos);
		err = mring_reserve(r, len, &p, POLL_MS);
		if (err == -ETIMEDOUT || err == -EAGAIN || err == -EINTR) {
			if (stop || !child_alive(child)) {
				fprintf(stderr, "producer: consumer is gone\n");
				err = -ECANCELED;
				break;
			}
			continue;
		}
		if (err < 0) {
			fprintf(stderr, "producer: mring_reserve(%zu): %s\n",
			        len, mring_strerror(err));
			break;
		}
		fill(p, pos, len);
		err = mring_commit(r, len);
		if (err < 0) {
			fprintf(stderr, "producer: mring_commit: %s\n",
			        mring_strerror(err));
			break;
		}
		pos += len;
		if (pos == lap_end) {
			double t = now_s();

			printf("producer lap %" PRIu64 "/%" PRIu64 ": %" PRIu64
			       " bytes in %.3f s, %.2f GB/s\n",
			       lap, o->laps, o->capacity, t - tlap,
			       gbps(o->capacity, t - tlap));
			fflush(stdout);
			tlap = t;
			lap++;
		}
	}
	if (pos == total) {
		double t = now_s() - t0;

		mring_stats(r, &st);
		printf("producer total: %" PRIu64 " bytes in %.3f s, %.2f GB/s"
		       " (waited %" PRIu64 " times for the consumer)\n",
		       total, t, gbps(total, t), st.producer_waits);
		fflush(stdout);
	}
	/* Closing marks the end of the stream, which the consumer expects. */
	mring_close(r);
	return pos == total ? 0 : (err < 0 ? err : -EIO);
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct opts o;
	struct mring_config cfg;
	struct sigaction sa;
	struct result res = {0};
	char dir[4096], path[4096 + 16];
	const char *base;
	int fds[2], status = 0, err, child_err;
	bool ok = false, have_res = false;
	pid_t child;

	if (parse_opts(argc, argv, &o) < 0) {
		usage(stderr, argv[0]);
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	base = o.dir ? o.dir : getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/mring-demo.XXXXXX", base) >=
	    sizeof(dir)) {
		fprintf(stderr, "directory name too long: %s\n", base);
		return 1;
	}
	if (!mkdtemp(dir)) {
		fprintf(stderr, "mkdtemp in %s: %s\n", base,
		        mring_strerror(-errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/demo.ring", dir);

	/* Byte mode, back-pressure: the defaults, apart from the sizes. */
	mring_config_init(&cfg);
	cfg.capacity = o.capacity;
	cfg.window = (uint32_t)o.window;
	cfg.max_record = (uint32_t)o.chunk;
	err = mring_create(path, &cfg);
	if (err < 0) {
		fprintf(stderr, "mring_create %s: %s\n", path,
		        mring_strerror(err));
		if (err == -EINVAL)
			fprintf(stderr, "(the capacity must be a multiple of "
			                "the page size, the chunk well below a "
			                "quarter of it)\n");
		goto out_dir;
	}
	printf("mring %s loop demo: %s\n"
	       "capacity %" PRIu64 " bytes, window %" PRIu64
	       " bytes, chunk %" PRIu64 " bytes, %" PRIu64 " laps\n",
	       mring_version(), path, o.capacity, o.window, o.chunk, o.laps);

	if (pipe(fds) < 0) {
		fprintf(stderr, "pipe: %s\n", mring_strerror(-errno));
		goto out_file;
	}
	fflush(stdout);
	fflush(stderr);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "fork: %s\n", mring_strerror(-errno));
		close(fds[0]);
		close(fds[1]);
		goto out_file;
	}
	if (child == 0) {
		close(fds[0]);
		consume(path, &o, fds[1]); /* does not return */
	}
	close(fds[1]);

	/* Produce only once the consumer holds its place in the ring. */
	if (read_all(fds[0], &child_err, sizeof(child_err)) < 0) {
		fprintf(stderr, "consumer died before it opened the ring\n");
		err = -ECHILD;
	} else if (child_err < 0) {
		fprintf(stderr, "consumer: mring_open: %s\n",
		        mring_strerror(child_err));
		err = child_err;
	} else {
		err = produce(path, &o, child);
		if (err < 0)
			kill(child, SIGTERM);
		have_res = read_all(fds[0], &res, sizeof(res)) == 0;
	}
	close(fds[0]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;

	if (have_res) {
		printf("consumer total: %" PRIu64 " bytes in %.3f s, %.2f GB/s"
		       " (waited %" PRIu64 " times for the producer)\n",
		       res.bytes, res.seconds, gbps(res.bytes, res.seconds),
		       res.waits);
		if (res.err < 0)
			fprintf(stderr, "consumer failed: %s\n",
			        mring_strerror(res.err));
	} else if (err == 0) {
		fprintf(stderr, "consumer died without reporting\n");
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr,
		        "consumer process exited abnormally (status 0x%x)\n",
		        status);
	ok = err == 0 && have_res && res.err == 0 && res.errors == 0 &&
	     res.bytes == o.laps * o.capacity && WIFEXITED(status) &&
	     WEXITSTATUS(status) == 0;

out_file:
	if (o.keep)
		printf("kept %s\n", path);
	else
		unlink(path);
out_dir:
	if (!o.keep)
		rmdir(dir);
	/* The verdict is the last line. */
	if (have_res)
		printf("verified %" PRIu64 " bytes, %" PRIu64 " errors\n",
		       res.bytes, res.errors);
	if (!ok)
		fprintf(stderr, "%s: FAILED\n", argv[0]);
	return ok ? 0 : 1;
}
