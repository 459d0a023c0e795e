/*
 * capture: a packet source feeding a record ring, and a separate process
 * that writes the packets to a pcap file.
 *
 *   capture [options] OUT.pcap
 *
 * The source makes Ethernet/IPv4/UDP frames in an IMIX-like mix (of every
 * 12 packets, 7 are 64 bytes, 4 are 576 and 1 is 1500), stamps each with
 * the time and commits it as one record, at --rate packets per second. The
 * writer is this program again, started with fork + exec as
 * `capture --writer RING OUT.pcap`: it opens the ring by its path, like any
 * other program would, and writes each record to a classic pcap file
 * (nanosecond timestamps, link type Ethernet) that tcpdump and Wireshark
 * read. At the end both print their rates and the writer its drops.
 *
 * Why overwrite mode: a packet source cannot be paused. With back-pressure
 * a slow disk would stall the source and packets would be lost where
 * nobody counts them (in the network card); in overwrite mode the writer
 * loses the oldest packets instead, and mring tells it how many
 * (MRING_ELAPPED, stats.records_lost).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mring.h>

#define CONSUMER "pcap"
#define MAX_FRAME 1500

/* A packet as it sits in the ring: one record each. */
struct pkt {
	uint64_t ts_ns;  /* CLOCK_REALTIME when it was "received" */
	uint32_t len;    /* frame bytes that follow */
	uint32_t unused; /* keeps the frame 8-byte aligned */
	uint8_t frame[];
};

/* Classic pcap, written in host byte order: the magic tells readers. */
struct pcap_file_hdr {
	uint32_t magic; /* 0xa1b23c4d: nanosecond timestamps */
	uint16_t major, minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};
struct pcap_rec_hdr {
	uint32_t sec, nsec, caplen, len;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the packets ------------------------------------------------------ */

static uint64_t mix(uint64_t x)
{
	x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static unsigned ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s & 0xffff;
}

/* Frame n: UDP from 10.0.0.1-16, ports 40000-40015, to 10.0.1.1:9. */
static size_t build_frame(uint8_t *f, uint64_t n)
{
	static const uint16_t imix[12] = {64, 64,  64,  64,  64,  64,
	                                  64, 576, 576, 576, 576, 1500};
	static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
	size_t len = imix[mix(n) % 12];
	unsigned flow = (unsigned)(n % 16);
	uint8_t *ip = f + 14, *udp = ip + 20, *data = udp + 8;

	memcpy(f, macs, 12); /* destination, source */
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45; /* IPv4, 20-byte header */
	put16(ip + 2, (unsigned)(len - 14));
	put16(ip + 4, (unsigned)n); /* identification */
	put16(ip + 6, 0x4000);      /* don't fragment */
	ip[8] = 64;                 /* TTL */
	ip[9] = 17;                 /* UDP */
	memcpy(ip + 12, (uint8_t[]){10, 0, 0, (uint8_t)(1 + flow)}, 4);
	memcpy(ip + 16, (uint8_t[]){10, 0, 1, 1}, 4);
	put16(ip + 10, ip_checksum(ip, 20));
	put16(udp, 40000 + flow);
	put16(udp + 2, 9);
	put16(udp + 4, (unsigned)(len - 34));
	put16(udp + 6, 0);          /* no UDP checksum: allowed over IPv4 */
	for (int i = 0; i < 8; i++) /* the packet number, big-endian */
		data[i] = (uint8_t)(n >> (56 - 8 * i));
	memset(data + 8, 0xa5, len - 42 - 8);
	return len;
}

/* ---- the writer: a separate process, ring to pcap ----------------------- */

static int writer(const char *ring, const char *out, unsigned slow_us)
{
	struct mring_config cfg = {.consumer_name = CONSUMER};
	struct pcap_file_hdr fh = {.magic = 0xa1b23c4d,
	                           .major = 2,
	                           .minor = 4,
	                           .snaplen = 65535,
	                           .linktype = 1};
	static uint64_t buf[(sizeof(struct pkt) + MAX_FRAME + 7) / 8];
	const struct pkt *pk = (const void *)buf;
	uint64_t packets = 0, bytes = 0;
	struct mring_stats st;
	struct mring *r;
	pid_t source = getppid();
	double t0 = now_s(), t;
	FILE *f;
	int err;

	/* Ctrl-C reaches the source too: it closes the ring, we drain it. */
	signal(SIGINT, SIG_IGN);
	err = mring_open(ring, MRING_CONSUMER, &cfg, &r);
	if (err < 0) {
		fprintf(stderr, "writer: %s: %s\n", ring, mring_strerror(err));
		return 1;
	}
	f = fopen(out, "wb");
	if (!f || fwrite(&fh, sizeof(fh), 1, f) != 1) {
		fprintf(stderr, "writer: %s: %s\n", out, strerror(errno));
		return 1;
	}
	for (;;) {
		const void *p;
		ssize_t n = mring_peek(r, &p, 1000);

		if (n == 0) /* the source closed the ring, all is read */
			break;
		if (n == MRING_ELAPPED) /* lost some; counted in the stats */
			continue;
		if (n == -ETIMEDOUT && getppid() == source)
			continue;
		if (n < 0) {
			fprintf(stderr, "writer: %s\n",
			        n == -ETIMEDOUT ? "the source is gone"
			                        : mring_strerror((int)n));
			return 1;
		}
		/*
		 * The source may overwrite the record while we read it: take a
		 * copy, and use the copy only if the release says it was
		 * intact all along.
		 */
		if ((size_t)n < sizeof(*pk) || (size_t)n > sizeof(buf)) {
			fprintf(stderr, "writer: bad record of %zd bytes\n", n);
			return 1;
		}
		memcpy(buf, p, (size_t)n);
		err = mring_release(r, (size_t)n);
		if (err == MRING_ELAPPED)
			continue;
		if (err < 0 || pk->len != (size_t)n - sizeof(*pk)) {
			fprintf(stderr, "writer: %s\n",
			        err < 0 ? mring_strerror(err) : "bad record");
			return 1;
		}
		struct pcap_rec_hdr rh = {(uint32_t)(pk->ts_ns / 1000000000),
		                          (uint32_t)(pk->ts_ns % 1000000000),
		                          pk->len, pk->len};
		fwrite(&rh, sizeof(rh), 1, f);
		fwrite(pk->frame, 1, pk->len, f);
		packets++;
		bytes += pk->len;
		if (slow_us)
			usleep(slow_us); /* a slow disk, to see drops */
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "writer: %s: %s\n", out, strerror(errno));
		return 1;
	}
	t = now_s() - t0;
	mring_stats(r, &st);
	printf("writer: %" PRIu64 " packets (%.1f MB) to %s in %.2f s: "
	       "%.0f packets/s, %.1f MB/s; lost %" PRIu64
	       " packets (lapped %" PRIu64 " times)\n",
	       packets, bytes / 1e6, out, t, packets / t, bytes / 1e6 / t,
	       st.records_lost, st.lapped);
	mring_close(r);
	return 0;
}

/* ---- the source --------------------------------------------------------- */

/* Sleep until packet n is due at `rate` packets/s since t0. */
static void pace(double t0, uint64_t n, double rate)
{
	double ahead = rate > 0 ? t0 + (double)n / rate - now_s() : 0;

	if (ahead > 0.001) /* sleep in steps of a millisecond or more */
		usleep((useconds_t)(ahead * 1e6));
}

/* Has the writer exited? (Without reaping it: main collects its status.) */
static int writer_gone(pid_t pid)
{
	siginfo_t si = {0};

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
	       si.si_pid != 0;
}

static int source(const char *ring, pid_t writer_pid, uint64_t count,
                  double seconds, double rate)
{
	struct mring *r;
	uint64_t n = 0, bytes = 0;
	double t0, t, check = 0;
	int err;

	err = mring_open(ring, MRING_PRODUCER, NULL, &r);
	if (err < 0) {
		fprintf(stderr, "source: %s: %s\n", ring, mring_strerror(err));
		return err;
	}
	t0 = now_s();
	for (; n < count && !stop; n++) {
		struct timespec ts;
		struct pkt *pk;

		t = now_s();
		if (seconds > 0 && t - t0 >= seconds)
			break;
		if (t >= check) { /* ten times a second */
			if (writer_gone(writer_pid))
				break;
			check = t + 0.1;
		}
		pace(t0, n, rate);
		/* Overwrite mode: this never waits for the writer. */
		err = mring_reserve(r, sizeof(*pk) + MAX_FRAME, (void **)&pk,
		                    -1);
		if (err < 0) {
			fprintf(stderr, "source: %s\n", mring_strerror(err));
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		pk->ts_ns = (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		pk->len = (uint32_t)build_frame(pk->frame, n);
		pk->unused = 0;
		mring_commit(r, sizeof(*pk) + pk->len); /* the part used */
		bytes += pk->len;
	}
	t = now_s() - t0;
	printf("source: %" PRIu64 " packets (%.1f MB) in %.2f s: %.0f "
	       "packets/s, %.1f MB/s\n",
	       n, bytes / 1e6, t, n / t, bytes / 1e6 / t);
	fflush(stdout);
	mring_close(r); /* end of stream: the writer drains it and exits */
	return err < 0 ? err : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: capture [options] OUT.pcap\n"
	        "Generate packets into a record ring (overwrite mode); a second\n"
	        "process writes them to OUT.pcap and reports what it lost.\n"
	        "  --rate PPS      packets per second, 0 = flat out (100000)\n"
	        "  --count N       packets to send (100000)\n"
	        "  --seconds S     send for S seconds instead\n"
	        "  --ring MIB      ring size in MiB (64)\n"
	        "  --slow USEC     the writer sleeps USEC per packet (to see "
	        "drops)\n"
	        "  --dir DIR       directory for the temporary ring ($TMPDIR, "
	        "else /tmp)\n"
	        "  --writer RING   be the writer process (capture starts it)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"rate", required_argument, NULL, 'r'},
		{"count", required_argument, NULL, 'n'},
		{"seconds", required_argument, NULL, 's'},
		{"ring", required_argument, NULL, 'R'},
		{"slow", required_argument, NULL, 'S'},
		{"dir", required_argument, NULL, 'd'},
		{"writer", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct mring_config cfg = {0};
	struct mring *reg;
	uint64_t count = 0, ring_mib = 64;
	double rate = 100000, seconds = 0;
	unsigned slow = 0;
	const char *dir = getenv("TMPDIR"), *writer_ring = NULL, *out;
	char tmp[4096], ring[4200], slow_s[16];
	int c, err, status, rc = 1;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rate = atof(optarg);
			break;
		case 'n':
			count = strtoull(optarg, NULL, 0);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'R':
			ring_mib = strtoull(optarg, NULL, 0);
			break;
		case 'S':
			slow = (unsigned)atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'w':
			writer_ring = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 || ring_mib == 0) {
		usage(stderr);
		return 2;
	}
	out = argv[optind];
	if (count == 0) /* by default 100000 packets, or as many as fit */
		count = seconds > 0 ? UINT64_MAX : 100000;
	if (writer_ring)
		return writer(writer_ring, out, slow);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	snprintf(tmp, sizeof(tmp), "%s/capture.XXXXXX",
	         dir && *dir ? dir : "/tmp");
	if (!mkdtemp(tmp)) {
		fprintf(stderr, "capture: %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	snprintf(ring, sizeof(ring), "%s/capture.ring", tmp);
	cfg.capacity = ring_mib << 20;
	cfg.max_record = sizeof(struct pkt) + MAX_FRAME;
	cfg.flags = MRING_F_RECORDS | MRING_F_OVERWRITE;
	err = mring_create(ring, &cfg);
	/* Register the writer's name now, so that it gets every packet from
	 * the first, however late its process starts. */
	if (err == 0) {
		struct mring_config ccfg = {.consumer_name = CONSUMER};

		err = mring_open(ring, MRING_CONSUMER, &ccfg, &reg);
		if (err == 0)
			mring_close(reg); /* a durable name keeps its place */
	}
	if (err < 0) {
		fprintf(stderr, "capture: %s: %s\n", ring, mring_strerror(err));
		goto out;
	}
	snprintf(slow_s, sizeof(slow_s), "%u", slow);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "capture", "--writer", ring, "--slow",
		      slow_s, out, (char *)NULL);
		fprintf(stderr, "capture: exec: %s\n", strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		fprintf(stderr, "capture: fork: %s\n", strerror(errno));
		goto out;
	}
	err = source(ring, pid, count, seconds, rate);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "capture: the writer failed\n");
	else if (err == 0)
		rc = 0;
out:
	unlink(ring);
	rmdir(tmp);
	return rc;
}
