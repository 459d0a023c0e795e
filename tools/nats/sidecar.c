/*
 * The far ring's sidecar file, RING.nats (sidecar.h). Layout, all
 * little-endian as the host writes it (the file never leaves the
 * machine, like the ring):
 *
 *   0     header: magic, version, ring created_ns, stream name, crc
 *   4096  slot 0 } { magic, count, gen, first record, crc32c of all,
 *   12288 slot 1 }   then count stream sequences }
 *
 * A slot's check word covers its header and its sequences, so a slot torn
 * by a power cut is told from a whole one and ignored.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../mring/util.h"
#include "sidecar.h"

#define HDR_MAGIC 0x314e52474e49524dULL /* "MRINGRN1" */
#define SLOT_MAGIC 0x544f4c53u          /* "SLOT" */
#define SLOT_OFF 4096
#define SLOT_BYTES (64 + 8 * SIDECAR_MAX_BATCH)

struct hdr {
	uint64_t magic;
	uint32_t version, crc;
	uint64_t created_ns;
	char stream[256];
};

struct slot_hdr {
	uint32_t magic, count;
	uint64_t gen, first;
	uint32_t crc, pad;
};

/* CRC-32C, bitwise: a slot is at most 8 KiB per batch. */
static uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
	}
	return ~crc;
}

static int read_full(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n = pread(fd, buf, len, off);
	return n == (ssize_t)len ? 0 : -1;
}

int sidecar_open(struct sidecar *sc, const char *ring, uint64_t created_ns,
                 const char *stream)
{
	struct hdr h, want;

	sc->gen = 0;
	if (asprintf(&sc->path, "%s.nats", ring) < 0) {
		sc->path = NULL;
		return EXIT_FAIL;
	}
	memset(&want, 0, sizeof(want));
	want.magic = HDR_MAGIC;
	want.version = 1;
	want.created_ns = created_ns;
	snprintf(want.stream, sizeof(want.stream), "%s", stream);
	want.crc = crc32c(0, &want, sizeof(want));
	sc->fd = open(sc->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (sc->fd < 0 && errno == ENOENT) {
		/* New: header written and made durable before any slot. */
		sc->fd = open(sc->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		              0600);
		if (sc->fd >= 0 && (pwrite(sc->fd, &want, sizeof(want), 0) !=
		                            (ssize_t)sizeof(want) ||
		                    fsync(sc->fd) != 0)) {
			msg("%s: cannot write: %s", sc->path, strerror(errno));
			return EXIT_FAIL;
		}
		return sc->fd >= 0 ? 0
		                   : (msg("%s: %s", sc->path, strerror(errno)),
		                      EXIT_FAIL);
	}
	if (sc->fd < 0) {
		msg("%s: cannot open the ring's sidecar: %s", sc->path,
		    strerror(errno));
		return EXIT_FAIL;
	}
	if (read_full(sc->fd, &h, sizeof(h), 0) != 0 || h.magic != HDR_MAGIC) {
		msg("%s is not an mring-nats sidecar (or is damaged); it "
		    "tells which stream messages the ring holds, move it "
		    "away only with the ring",
		    sc->path);
		return EXIT_USAGE;
	}
	if (h.created_ns != created_ns) {
		msg("%s belongs to another ring (the ring was re-created?); "
		    "remove it if the ring is new, so that the bridge starts "
		    "from the stream's beginning",
		    sc->path);
		return EXIT_USAGE;
	}
	if (strncmp(h.stream, stream, sizeof(h.stream)) != 0) {
		msg("%s: this ring is fed from stream '%.*s', not '%s'; one "
		    "stream per ring (use another ring for another stream)",
		    sc->path, (int)sizeof(h.stream), h.stream, stream);
		return EXIT_USAGE;
	}
	return 0;
}

/* Slot i, if whole: its header into *sh and its sequences into seqs. */
static int read_slot(struct sidecar *sc, int i, struct slot_hdr *sh,
                     uint64_t *seqs)
{
	off_t off = SLOT_OFF + (off_t)i * SLOT_BYTES;
	if (read_full(sc->fd, sh, sizeof(*sh), off) != 0 ||
	    sh->magic != SLOT_MAGIC || sh->count == 0 ||
	    sh->count > SIDECAR_MAX_BATCH)
		return -1;
	if (read_full(sc->fd, seqs, 8u * sh->count, off + sizeof(*sh)) != 0)
		return -1;
	uint32_t crc = sh->crc;
	sh->crc = 0;
	uint32_t c = crc32c(crc32c(0, sh, sizeof(*sh)), seqs, 8u * sh->count);
	sh->crc = crc;
	return c == crc ? 0 : -1;
}

int sidecar_last(struct sidecar *sc, uint64_t next_rec, uint64_t *seq)
{
	static uint64_t seqs[2][SIDECAR_MAX_BATCH];
	struct slot_hdr sh[2];
	int ok[2];

	*seq = 0;
	for (int i = 0; i < 2; i++)
		ok[i] = read_slot(sc, i, &sh[i], seqs[i]) == 0;
	if (!ok[0] && !ok[1])
		return 0; /* nothing written from the stream yet */
	sc->gen = 0;
	for (int i = 0; i < 2; i++)
		if (ok[i] && sh[i].gen > sc->gen)
			sc->gen = sh[i].gen;
	/* Newest first: the slot holding record next_rec - 1. */
	int order[2] = {0, 1};
	if (ok[1] && (!ok[0] || sh[1].gen > sh[0].gen)) {
		order[0] = 1;
		order[1] = 0;
	}
	for (int k = 0; k < 2; k++) {
		int i = order[k];
		if (!ok[i] || next_rec == 0 || sh[i].first >= next_rec)
			continue;
		uint64_t idx = next_rec - 1 - sh[i].first;
		if (idx >= sh[i].count) {
			msg("%s: the ring holds records up to %" PRIu64
			    " but the sidecar knows them only up to %" PRIu64
			    ": something else wrote to the ring; it cannot "
			    "be continued from the stream safely",
			    sc->path, next_rec - 1,
			    sh[i].first + sh[i].count - 1);
			return EXIT_FAIL;
		}
		*seq = seqs[i][idx];
		return 0;
	}
	/* Neither slot holds the ring's last record. A ring whose records
	 * before the first slot came from elsewhere starts the stream at 0;
	 * anything else is a ring that lost what the sidecar says. */
	uint64_t oldest = UINT64_MAX;
	for (int i = 0; i < 2; i++)
		if (ok[i] && sh[i].first < oldest)
			oldest = sh[i].first;
	if (next_rec == oldest)
		return 0; /* crash before the first batch's first commit */
	msg("%s: the ring's last record (%" PRIu64 ") is older than what "
	    "the sidecar says was written (from %" PRIu64 "): the ring lost "
	    "records it held (a power cut with --sync none?); remove %s to "
	    "copy the stream again from its beginning",
	    sc->path, next_rec ? next_rec - 1 : 0, oldest, sc->path);
	return EXIT_FAIL;
}

int sidecar_put(struct sidecar *sc, uint64_t first, const uint64_t *seqs,
                unsigned n, int sync)
{
	char buf[SLOT_BYTES];
	struct slot_hdr *sh = (struct slot_hdr *)buf;
	uint64_t gen = sc->gen + 1;

	memset(sh, 0, sizeof(*sh));
	sh->magic = SLOT_MAGIC;
	sh->count = n;
	sh->gen = gen;
	sh->first = first;
	memcpy(buf + sizeof(*sh), seqs, 8u * n);
	sh->crc = crc32c(crc32c(0, sh, sizeof(*sh)), seqs, 8u * n);
	size_t len = sizeof(*sh) + 8u * n;
	off_t off = SLOT_OFF + (off_t)(gen % 2) * SLOT_BYTES;
	ssize_t w = pwrite(sc->fd, buf, len, off);
	if (w != (ssize_t)len)
		return w < 0 ? -errno : -EIO;
	if (sync && fdatasync(sc->fd) != 0)
		return -errno;
	sc->gen = gen;
	return 0;
}

void sidecar_close(struct sidecar *sc)
{
	if (sc->fd >= 0)
		close(sc->fd);
	sc->fd = -1;
	free(sc->path);
	sc->path = NULL;
}
