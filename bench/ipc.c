/*
 * bench/ipc: hand-off between a producer process and a consumer process.
 *
 * Transports: mring on /dev/shm (tmpfs: the upper bound), mring on a file
 * system (--disk-dir, ext4 here), a pipe enlarged to 1 MiB (F_SETPIPE_SZ)
 * and a Unix stream socket. Record sizes 64 B, 4 KiB, 64 KiB, 1 MiB.
 * Every record carries a CLOCK_MONOTONIC stamp and a sequence number; the
 * consumer reads every byte (a checksum) and checks the sequence.
 *
 * Two phases per combination, each with fresh processes:
 *   throughput  the producer writes as fast as it can for --seconds; the
 *               consumer takes what is there (mring: one peek for many
 *               records; pipe/socket: one read() of up to 1 MiB), and
 *               records/s and GB/s are counted at the consumer;
 *   latency     the producer sends one record, then pauses (--gap-us), so
 *               that the consumer is idle and each record measures a
 *               wake-up: one-way latency = consumer's clock - stamp.
 * The consumer waits by spinning (mring_peek timeout 0 in a loop;
 * non-blocking reads) or sleeping (mring_peek timeout -1, which spins
 * briefly and then sleeps on the futex; blocking reads).
 *
 * With --pin P,C the producer runs on CPU P and the consumer on CPU C (all
 * transports alike), as latency-sensitive spinning consumers are usually
 * deployed; the maintenance thread inherits the producer's CPU.
 *
 * Each invocation also measures single-thread memcpy of 64 MiB blocks and
 * (with --disk-dir) the file system's buffered write bandwidth, so that
 * ratios are taken within the same run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mring.h>

#include "common.h"

enum transport { T_MRING, T_PIPE, T_UNIX };
enum waitmode { W_SPIN, W_SLEEP };

struct result {
	_Atomic int ready;
	int failed;
	uint64_t records, bytes, seq_errors, sum;
	uint64_t t_first, t_last;
	struct bench_hist lat;
	/* The floor: stamps handed over through a bare shared word. */
	_Alignas(64) _Atomic uint64_t floor_seq;
	uint64_t floor_stamp[64];
};

struct opts {
	double seconds;
	unsigned lat_records;
	unsigned gap_us;
	uint64_t ring_cap;
	const char *disk_dir;
	const char *csv;
	bool header;
	int rep;
	const char *only;
	unsigned batch; /* records per commit / write in the batched rows */
	int pin_prod, pin_cons; /* CPUs, or -1: wherever the scheduler likes */
};

/* Batched rows: sizes whose batch fits in this many bytes. */
#define BATCH_MAX_BYTES 65536u

static struct opts o;
static struct result *res;
static double memcpy_gbps, disk_gbps;
static char pin_label[32] = "-";
static double floor_p50, floor_p99;

struct run {
	enum transport t;
	const char *medium; /* "shm", "disk", "-" */
	enum waitmode w;
	size_t size;
	unsigned batch; /* records per commit / write (throughput phase) */
	bool paced;
	char path[512];
	int fd[2];
};

static const char *tname(enum transport t)
{
	return t == T_MRING ? "mring" : t == T_PIPE ? "pipe" : "unix";
}

/* ---- consumer ---------------------------------------------------- */

static void consume(struct run *ru, const uint8_t *p, uint64_t *expect)
{
	uint64_t stamp, seq, sum = 0;
	/*
	 * The clock costs as much as a 64-byte record (35% of the time in a
	 * profile of the throughput phase): the latency phase reads it per
	 * record, the throughput phase every 64th (t_last is then at most
	 * 63 records early; the runs move millions).
	 */
	uint64_t now = ru->paced || (res->records & 63) == 0 ? bench_now_ns()
	                                                     : res->t_last;

	memcpy(&stamp, p, 8);
	memcpy(&seq, p + 8, 8);
	/* Read every byte of the record, as a real consumer would. */
	for (size_t i = 16; i + 8 <= ru->size; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		sum += v;
	}
	if (seq != *expect)
		res->seq_errors++;
	*expect = seq + 1;
	if (ru->paced)
		bench_hist_add(&res->lat, now - stamp);
	if (res->records == 0)
		res->t_first = now;
	res->t_last = now;
	res->records++;
	res->bytes += ru->size;
	res->sum += sum;
}

static void consumer_mring(struct run *ru)
{
	struct mring_config cfg;
	struct mring *r;
	uint64_t expect = 0;
	uint8_t *tmp = malloc(ru->size);
	int rc;

	mring_config_init(&cfg);
	cfg.consumer_name = "bench";
	rc = mring_open(ru->path, MRING_CONSUMER, &cfg, &r);
	if (rc < 0 || !tmp)
		bench_die("consumer: mring_open: %s", mring_strerror(rc));
	atomic_store(&res->ready, 1);
	for (;;) {
		const void *p;
		ssize_t n = mring_peek(r, &p, ru->w == W_SPIN ? 0 : -1);
		if (n == -EAGAIN)
			continue;
		if (n == 0)
			break;
		if (n < 0)
			bench_die("consumer: mring_peek: %s",
			          mring_strerror((int)n));
		size_t whole = (size_t)n / ru->size * ru->size;
		if (whole == 0) {
			/* A record split where the readable stretch ends:
			 * copy it out (rare; never with these geometries). */
			size_t got = 0;
			while (got < ru->size) {
				ssize_t k = mring_read(r, tmp + got,
				                       ru->size - got, -1);
				if (k <= 0)
					bench_die("consumer: mring_read");
				got += (size_t)k;
			}
			consume(ru, tmp, &expect);
			continue;
		}
		for (size_t off = 0; off < whole; off += ru->size)
			consume(ru, (const uint8_t *)p + off, &expect);
		rc = mring_release(r, whole);
		if (rc < 0)
			bench_die("consumer: mring_release: %s",
			          mring_strerror(rc));
	}
	mring_close(r);
	free(tmp);
}

static void consumer_fd(struct run *ru)
{
	int fd = ru->fd[0];
	size_t cap = ru->size > (1u << 20) ? 2 * ru->size : (2u << 20);
	uint8_t *buf = malloc(cap);
	size_t fill = 0;
	uint64_t expect = 0;

	if (!buf)
		bench_die("out of memory");
	if (ru->w == W_SPIN)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	atomic_store(&res->ready, 1);
	for (;;) {
		/* Take whatever is there, up to 1 MiB beyond what we hold. */
		size_t want = cap - fill < (1u << 20) ? cap - fill : (1u << 20);
		ssize_t n = read(fd, buf + fill, want);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			bench_die("consumer: read: %s", strerror(errno));
		if (n == 0)
			break;
		fill += (size_t)n;
		size_t off = 0;
		for (; off + ru->size <= fill; off += ru->size)
			consume(ru, buf + off, &expect);
		memmove(buf, buf + off, fill - off);
		fill -= off;
	}
	free(buf);
}

/* ---- producer ---------------------------------------------------- */

/* A batch takes the clock once: its records leave together. */
static void stamp(uint8_t *p, uint64_t seq, uint64_t now)
{
	memcpy(p + 8, &seq, 8);
	memcpy(p, &now, 8);
}

static void pause_gap(void)
{
	struct timespec ts = {0, (long)o.gap_us * 1000};

	nanosleep(&ts, NULL);
}

static uint64_t producer_mring(struct run *ru, const uint8_t *src,
                               uint64_t deadline)
{
	struct mring *r;
	uint64_t seq = 0;
	int rc = mring_open(ru->path, MRING_PRODUCER, NULL, &r);

	if (rc < 0)
		bench_die("producer: mring_open: %s", mring_strerror(rc));
	while (!atomic_load(&res->ready))
		sched_yield();
	unsigned n = ru->paced ? 1 : ru->batch;
	for (;;) {
		uint8_t *p;
		if (ru->paced ? seq >= o.lat_records
		              : (seq & 63) < n && bench_now_ns() >= deadline)
			break;
		/* A batch: n records in one reservation, one commit. */
		rc = mring_reserve(r, ru->size * n, (void **)&p, -1);
		if (rc < 0)
			bench_die("producer: mring_reserve: %s",
			          mring_strerror(rc));
		/* Stamps matter in the latency phase only. */
		uint64_t now = ru->paced ? bench_now_ns() : 0;
		for (unsigned i = 0; i < n; i++) {
			memcpy(p + i * ru->size, src, ru->size);
			stamp(p + i * ru->size, seq++, now);
		}
		mring_commit(r, ru->size * n);
		if (ru->paced)
			pause_gap();
	}
	mring_close(r);
	return seq;
}

static uint64_t producer_fd(struct run *ru, uint8_t *src, uint64_t deadline)
{
	uint64_t seq = 0;
	int fd = ru->fd[1];

	while (!atomic_load(&res->ready))
		sched_yield();
	unsigned nb = ru->paced ? 1 : ru->batch;
	for (;;) {
		if (ru->paced ? seq >= o.lat_records
		              : (seq & 63) < nb && bench_now_ns() >= deadline)
			break;
		/* The stamps are taken before the copy into the kernel; a
		 * batch is nb records in one write. */
		uint64_t now = ru->paced ? bench_now_ns() : 0;
		for (unsigned i = 0; i < nb; i++)
			stamp(src + i * ru->size, seq++, now);
		size_t done = 0, len = ru->size * nb;
		while (done < len) {
			ssize_t n = write(fd, src + done, len - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				bench_die("producer: write: %s",
				          strerror(errno));
			done += (size_t)n;
		}
		if (ru->paced)
			pause_gap();
	}
	close(fd);
	return seq;
}

/* ---- one combination --------------------------------------------- */

static int setup(struct run *ru)
{
	if (ru->t == T_MRING) {
		struct mring_config cfg;
		const char *dir = strcmp(ru->medium, "shm") == 0 ? "/dev/shm"
		                                                 : o.disk_dir;
		int rc;
		snprintf(ru->path, sizeof(ru->path), "%s/mring-bench-ipc-%d",
		         dir, (int)getpid());
		unlink(ru->path);
		mring_config_init(&cfg);
		cfg.capacity = o.ring_cap;
		cfg.max_record = 1u << 20;
		rc = mring_create(ru->path, &cfg);
		if (rc < 0)
			bench_die("mring_create %s: %s", ru->path,
			          mring_strerror(rc));
		return 0;
	}
	if (ru->t == T_PIPE) {
		if (pipe2(ru->fd, O_CLOEXEC) < 0)
			bench_die("pipe: %s", strerror(errno));
		if (fcntl(ru->fd[1], F_SETPIPE_SZ, 1 << 20) < 0)
			bench_die("F_SETPIPE_SZ 1 MiB: %s", strerror(errno));
		return 0;
	}
	int sv[2];
	int sz = 1 << 20;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		bench_die("socketpair: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	ru->fd[0] = sv[0];
	ru->fd[1] = sv[1];
	return 0;
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		bench_die("pin to CPU %d: %s", cpu, strerror(errno));
}

static void run_one(struct run *ru, uint8_t *src)
{
	memset(res, 0, sizeof(*res));
	setup(ru);
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		pin(o.pin_cons);
		if (ru->t == T_MRING) {
			consumer_mring(ru);
		} else {
			close(ru->fd[1]);
			consumer_fd(ru);
		}
		_exit(0);
	}
	uint64_t deadline = bench_now_ns() + (uint64_t)(o.seconds * 1e9);
	uint64_t sent;
	if (ru->t == T_MRING) {
		/* The producer opens after the consumer attached. */
		while (!atomic_load(&res->ready))
			usleep(100);
		sent = producer_mring(ru, src, deadline);
	} else {
		close(ru->fd[0]);
		sent = producer_fd(ru, src, deadline);
	}
	int status;
	waitpid(pid, &status, 0);
	if (ru->t == T_MRING)
		unlink(ru->path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		bench_die("%s consumer failed", tname(ru->t));
	if (res->records != sent || res->seq_errors)
		bench_die("%s: sent %llu records, received %llu, %llu out of "
		          "sequence",
		          tname(ru->t), (unsigned long long)sent,
		          (unsigned long long)res->records,
		          (unsigned long long)res->seq_errors);
}

static void measure(FILE *out, enum transport t, const char *medium,
                    enum waitmode w, size_t size, unsigned batch, uint8_t *src)
{
	struct run ru = {
		.t = t, .medium = medium, .w = w, .size = size, .batch = batch};
	struct bench_hist *lat = malloc(sizeof(*lat));

	if (!lat)
		bench_die("out of memory");
	run_one(&ru, src);
	double secs = (double)(res->t_last - res->t_first) / 1e9;
	uint64_t records = res->records > 1 ? res->records - 1 : 0;
	double rps = secs > 0 ? (double)records / secs : 0;
	ru.paced = true;
	run_one(&ru, src);
	*lat = res->lat;
	fprintf(out,
	        "%s,%s,%s,%zu,%d,%llu,%.3f,%.0f,%.4f,%.2f,%.2f,%.2f,%.1f,%u,"
	        "%.3f,%.3f,%s,%.2f,%.2f\n",
	        tname(t), medium, w == W_SPIN ? "spin" : "sleep", size, o.rep,
	        (unsigned long long)records, secs, rps,
	        rps * (double)size / 1e9, bench_hist_quantile(lat, 0.5) / 1e3,
	        bench_hist_quantile(lat, 0.99) / 1e3,
	        bench_hist_quantile(lat, 0.999) / 1e3,
	        bench_hist_quantile(lat, 1) / 1e3, batch, memcpy_gbps,
	        disk_gbps, pin_label, floor_p50, floor_p99);
	fflush(out);
	fprintf(stderr,
	        "%-5s %-4s %-5s %7zu B x%-3u: %9.3f Mrec/s %7.3f GB/s  latency "
	        "p50 %7.2f p99 %8.2f p99.9 %8.2f us\n",
	        tname(t), medium, w == W_SPIN ? "spin" : "sleep", size, batch,
	        rps / 1e6, rps * (double)size / 1e9,
	        bench_hist_quantile(lat, 0.5) / 1e3,
	        bench_hist_quantile(lat, 0.99) / 1e3,
	        bench_hist_quantile(lat, 0.999) / 1e3);
	free(lat);
}

/* ---- references ---------------------------------------------------- */

static double measure_memcpy(void)
{
	size_t len = 64u << 20;
	uint8_t *a = malloc(len), *b = malloc(len);
	double best = 0;

	if (!a || !b)
		bench_die("out of memory");
	memset(a, 1, len);
	memset(b, 2, len);
	/* The median of several copies, each of a whole 64 MiB block. */
	double v[9];
	for (int i = 0; i < 9; i++) {
		uint64_t t0 = bench_now_ns();
		memcpy(i & 1 ? a : b, i & 1 ? b : a, len);
		v[i] = (double)len / (double)(bench_now_ns() - t0);
	}
	for (int i = 0; i < 9; i++)
		for (int j = i + 1; j < 9; j++)
			if (v[j] < v[i]) {
				double x = v[i];
				v[i] = v[j];
				v[j] = x;
			}
	best = v[4];
	free(a);
	free(b);
	return best;
}

/*
 * The wake-up floor of this machine: the latency phase with no transport
 * at all. The producer stores a stamp and bumps a shared counter; the
 * consumer spins on the counter. Whatever a spinning consumer of any
 * transport sees beyond this is the transport's own cost; the floor itself
 * is the machine (a virtual CPU that the host takes away now and then).
 */
static void measure_floor(void)
{
	uint64_t n = o.lat_records;

	memset(res, 0, sizeof(*res));
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		pin(o.pin_cons);
		atomic_store(&res->ready, 1);
		for (uint64_t next = 1; next <= n;) {
			uint64_t seq = atomic_load_explicit(
				&res->floor_seq, memory_order_acquire);
			if (seq < next)
				continue;
			uint64_t now = bench_now_ns();
			for (; next <= seq; next++)
				bench_hist_add(
					&res->lat,
					now - res->floor_stamp[next % 64]);
		}
		_exit(0);
	}
	while (!atomic_load(&res->ready))
		sched_yield();
	for (uint64_t seq = 1; seq <= n; seq++) {
		res->floor_stamp[seq % 64] = bench_now_ns();
		atomic_store_explicit(&res->floor_seq, seq,
		                      memory_order_release);
		pause_gap();
	}
	int status;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		bench_die("floor consumer failed");
	floor_p50 = bench_hist_quantile(&res->lat, 0.5) / 1e3;
	floor_p99 = bench_hist_quantile(&res->lat, 0.99) / 1e3;
}

/* Buffered writes of 512 MiB and fdatasync, in 1 MiB write()s. */
static double measure_disk(const char *dir)
{
	char path[512];
	size_t blk = 1u << 20, total = 512u << 20;
	uint8_t *buf = malloc(blk);

	snprintf(path, sizeof(path), "%s/mring-bench-ipc-disk-%d", dir,
	         (int)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !buf)
		bench_die("%s: %s", path, strerror(errno));
	bench_fill_random(buf, blk, 7);
	uint64_t t0 = bench_now_ns();
	for (size_t done = 0; done < total; done += blk)
		if (write(fd, buf, blk) != (ssize_t)blk)
			bench_die("write %s: %s", path, strerror(errno));
	fdatasync(fd);
	double g = (double)total / (double)(bench_now_ns() - t0);
	close(fd);
	unlink(path);
	free(buf);
	return g;
}

static const char csv_header[] =
	"transport,medium,wait,record_bytes,rep,records,seconds,records_per_s,"
	"gbps,lat_p50_us,lat_p99_us,lat_p999_us,lat_max_us,batch,memcpy_gbps,"
	"disk_write_gbps,pin,floor_p50_us,floor_p99_us\n";

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: ipc [options]\n"
	        "  --seconds S       throughput phase per combination (1)\n"
	        "  --lat-records N   records of the latency phase (5000)\n"
	        "  --gap-us N        pause between those records (100)\n"
	        "  --ring SIZE       mring capacity (64M)\n"
	        "  --sizes LIST      record sizes (64,4k,64k,1M)\n"
	        "  --disk-dir DIR    also mring on this file system\n"
	        "  --only LIST       transports: mring-shm,mring-disk,pipe,unix\n"
	        "  --csv FILE        append rows (default stdout)\n"
	        "  --header          write the CSV header first\n"
	        "  --rep N           repetition label (1)\n"
	        "  --batch N         also run each size whose N records fit in\n"
	        "                    64 KiB with N per commit / write; 1 = never "
	        "(16)\n"
	        "  --pin P,C         producer on CPU P, consumer on CPU C (all\n"
	        "                    transports; default: not pinned)\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"seconds", required_argument, 0, 's'},
		{"lat-records", required_argument, 0, 'n'},
		{"gap-us", required_argument, 0, 'g'},
		{"ring", required_argument, 0, 'r'},
		{"sizes", required_argument, 0, 'z'},
		{"disk-dir", required_argument, 0, 'd'},
		{"only", required_argument, 0, 'O'},
		{"csv", required_argument, 0, 'o'},
		{"header", no_argument, 0, 'H'},
		{"rep", required_argument, 0, 'R'},
		{"batch", required_argument, 0, 'b'},
		{"pin", required_argument, 0, 'P'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	char sizes_arg[256] = "64,4k,64k,1M";
	size_t sizes[16];
	int nsizes = 0, c;

	o = (struct opts){.seconds = 1,
	                  .lat_records = 5000,
	                  .gap_us = 100,
	                  .ring_cap = 64u << 20,
	                  .rep = 1,
	                  .batch = 16,
	                  .pin_prod = -1,
	                  .pin_cons = -1};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o.seconds = atof(optarg);
			break;
		case 'n':
			o.lat_records = (unsigned)atoi(optarg);
			break;
		case 'g':
			o.gap_us = (unsigned)atoi(optarg);
			break;
		case 'r':
			if (bench_parse_size(optarg, &o.ring_cap))
				bench_die("bad size %s", optarg);
			break;
		case 'z':
			snprintf(sizes_arg, sizeof(sizes_arg), "%s", optarg);
			break;
		case 'd':
			o.disk_dir = optarg;
			break;
		case 'O':
			o.only = optarg;
			break;
		case 'o':
			o.csv = optarg;
			break;
		case 'H':
			o.header = true;
			break;
		case 'R':
			o.rep = atoi(optarg);
			break;
		case 'b':
			o.batch = (unsigned)atoi(optarg);
			if (o.batch < 1 || o.batch > 1024)
				bench_die("--batch is 1..1024: %s", optarg);
			break;
		case 'P':
			if (sscanf(optarg, "%d,%d", &o.pin_prod, &o.pin_cons) !=
			            2 ||
			    o.pin_prod < 0 || o.pin_cons < 0 ||
			    o.pin_prod >= CPU_SETSIZE ||
			    o.pin_cons >= CPU_SETSIZE)
				bench_die(
					"--pin wants two CPU numbers, P,C: %s",
					optarg);
			snprintf(pin_label, sizeof(pin_label), "%d/%d",
			         o.pin_prod, o.pin_cons);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	for (char *save, *tok = strtok_r(sizes_arg, ",", &save);
	     tok && nsizes < 16; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (bench_parse_size(tok, &v) || v < 16 || v > (1u << 20))
			bench_die("record sizes are 16 B..1 MiB: %s", tok);
		sizes[nsizes++] = (size_t)v;
	}
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
	           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		bench_die("mmap: %s", strerror(errno));
	uint8_t *src = malloc(1u << 20);
	if (!src)
		bench_die("out of memory");
	bench_fill_random(src, 1u << 20, 3);

	pin(o.pin_prod); /* consumers re-pin after fork */
	memcpy_gbps = measure_memcpy();
	disk_gbps = o.disk_dir ? measure_disk(o.disk_dir) : 0;
	measure_floor();
	fprintf(stderr,
	        "memcpy 64 MiB blocks: %.2f GB/s; buffered write: %.2f "
	        "GB/s; wake-up floor (bare shared word, spinning) p50 %.2f "
	        "p99 %.2f us\n",
	        memcpy_gbps, disk_gbps, floor_p50, floor_p99);

	FILE *out = o.csv ? fopen(o.csv, "a") : stdout;
	if (!out)
		bench_die("%s: %s", o.csv, strerror(errno));
	if (o.header)
		fputs(csv_header, out);

	struct {
		const char *name;
		enum transport t;
		const char *medium;
	} tr[] = {
		{"mring-shm", T_MRING, "shm"},
		{"mring-disk", T_MRING, "disk"},
		{"pipe", T_PIPE, "-"},
		{"unix", T_UNIX, "-"},
	};
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(tr) / sizeof(tr[0]); i++) {
		if (tr[i].t == T_MRING && strcmp(tr[i].medium, "disk") == 0 &&
		    !o.disk_dir)
			continue;
		if (o.only && !strstr(o.only, tr[i].name))
			continue;
		for (int w = 0; w < 2; w++)
			for (int k = 0; k < nsizes; k++) {
				measure(out, tr[i].t, tr[i].medium,
				        (enum waitmode)w, sizes[k], 1, src);
				/* Small records again, batched (all
				 * transports alike). */
				if (o.batch > 1 &&
				    sizes[k] * o.batch <= BATCH_MAX_BYTES)
					measure(out, tr[i].t, tr[i].medium,
					        (enum waitmode)w, sizes[k],
					        o.batch, src);
			}
	}
	if (out != stdout)
		fclose(out);
	free(src);
	return 0;
}
