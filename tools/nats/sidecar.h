/*
 * RING.nats: which stream sequences the far ring's records came from.
 * A header (the ring's creation time and the stream's name, so that a
 * sidecar never meets another ring or stream) and two slots written
 * alternately, one per batch, each saying "records FIRST, FIRST+1, ...
 * are the stream's messages SEQ[0], SEQ[1], ...". A slot is written
 * before its batch is committed; see README.md for why two slots are
 * enough and what each crash leaves.
 */
#ifndef MRING_NATS_SIDECAR_H
#define MRING_NATS_SIDECAR_H

#include <stdint.h>

#define SIDECAR_MAX_BATCH 1024

struct sidecar {
	int fd;
	char *path;
	uint64_t gen; /* of the newest slot */
};

/* Open (or create) RING.nats for the ring made at created_ns and the
 * stream `stream`. Returns 0 or an exit status after a message. */
int sidecar_open(struct sidecar *sc, const char *ring, uint64_t created_ns,
                 const char *stream);

/* The stream sequence of record next_rec - 1 (0: the ring holds no
 * message of the stream). Returns 0 or an exit status after a message. */
int sidecar_last(struct sidecar *sc, uint64_t next_rec, uint64_t *seq);

/* Write the next slot: records first.. are seqs[0..n). With sync, also
 * fdatasync. Returns 0 or -errno. */
int sidecar_put(struct sidecar *sc, uint64_t first, const uint64_t *seqs,
                unsigned n, int sync);

void sidecar_close(struct sidecar *sc);

#endif
