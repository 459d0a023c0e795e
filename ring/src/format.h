/*
 * On-disk layout of a ring file, format versions 1 and 2 (see
 * ring/FORMAT.md).
 * Everything here is shared memory: the control block is mapped
 * read-write by every process attached to the ring.
 */
#ifndef MRING_FORMAT_H
#define MRING_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "atomics.h"

#define MRING__MAGIC "\x89MRING\r\n"
#define MRING__ENDIAN 0x01020304u
#define MRING__CACHELINE 64
#define MRING__SLOTS_OFFSET 512
#define MRING__DATA_ALIGN (2u << 20) /* data region starts 2 MiB aligned */
/*
 * Where new rings start their data region: at a multiple of the largest
 * chunk the maintenance thread works in (MRING__MAX_CHUNK), so that each
 * chunk's range of the file is aligned to its size. A file system that
 * allocates in aligned power-of-two units then never splits a chunk
 * between two extents: ext4 gave eight rings written at once 8 MiB
 * extents at 8 MiB file offsets, and with the data at 2 MiB every other
 * 4 MiB chunk was written back as two 2 MiB requests (2.8 MB a request
 * on average against 4.0 MB; README, "Performance"). Files with the data
 * at any multiple of MRING__DATA_ALIGN stay valid.
 */
#define MRING__MAX_CHUNK (4u << 20)
#define MRING__DATA_START MRING__MAX_CHUNK
#define MRING__MAX_CONSUMERS 4096
#define MRING__REC_HDR 16u /* record header bytes */
#define MRING__REC_ALIGN 8u
/* Byte locked while slots are claimed or freed, and synced is set. */
#define MRING__REGISTRY_LOCK 65536
/* Positions stay far from 2^64 so that sums never wrap. */
#define MRING__MAX_CAPACITY (1ull << 56)

/* Flags stored in the file: those a version 1 file may carry, and all. */
#define MRING__STORED_FLAGS_V1 \
	(MRING_F_RECORDS | MRING_F_OVERWRITE | MRING_F_CRC)
#define MRING__STORED_FLAGS (MRING__STORED_FLAGS_V1 | MRING_F_TIMESTAMPS)
/* With MRING_F_TIMESTAMPS a record's payload starts with this stamp. */
#define MRING__TS_BYTES 8u

/*
 * The seek index (FORMAT.md, "Index"): in the gap between the control
 * block and the data region, which every file has (data_offset is 2 MiB
 * aligned, the control block at most 257 KiB).
 */
#define MRING__INDEX_OFFSET (1u << 20)
#define MRING__INDEX_MAX_SHIFT 15   /* at most 32768 entries */
#define MRING__INDEX_MIN_GRANULE 12 /* one entry per 4 KiB at least */

/* One entry: the first record the producer committed in a granule. */
struct mring__ientry {
	mring_atomic_u64 pos; /* where it starts */
	mring_atomic_u64 seq; /* its number */
	mring_atomic_u64 ts;  /* its stamp (0 without timestamps) */
	uint64_t reserved;
};
_Static_assert(sizeof(struct mring__ientry) == 32, "index entry");

/* log2 of the granule of a ring of `cap` bytes: cap >> shift entries. */
static inline unsigned mring__index_shift(uint64_t cap)
{
	unsigned lg = 0;

	while (lg < 63 && (1ull << lg) < cap)
		lg++; /* ceil(log2(cap)) */
	return lg > MRING__INDEX_MAX_SHIFT + MRING__INDEX_MIN_GRANULE
	               ? lg - MRING__INDEX_MAX_SHIFT
	               : MRING__INDEX_MIN_GRANULE;
}

/* Entries of the index: enough granules to cover the capacity. */
static inline uint64_t mring__index_entries(uint64_t cap)
{
	unsigned sh = mring__index_shift(cap);
	uint64_t n = (cap + (1ull << sh) - 1) >> sh;
	uint64_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

enum mring__slot_state {
	MRING__SLOT_FREE = 0,
	MRING__SLOT_OBSERVER = 1,
	MRING__SLOT_DURABLE = 2,
};

/* One consumer slot: written by its consumer, read by everyone. */
struct mring__slot {
	mring_atomic_u64 pos;   /* next byte to read */
	mring_atomic_u64 seq;   /* records: seq of next record to read,
	                         * MRING__SEQ_UNKNOWN if not known */
	mring_atomic_u32 state; /* enum mring__slot_state */
	mring_atomic_u32 pid;   /* last process that attached */
	char name[32];          /* NUL-terminated; "" for observers */
	uint64_t reserved;
};
/* pos and seq are stored together with one instruction (store_pair). */
_Static_assert(offsetof(struct mring__slot, seq) == 8, "pos, seq adjacent");
#define MRING__SEQ_UNKNOWN UINT64_MAX
_Static_assert(sizeof(struct mring__slot) == MRING__CACHELINE,
               "a consumer slot is one cache line");

struct mring__ctl {
	/* Static part, written once at creation, covered by `checksum`. */
	uint8_t magic[8];
	uint32_t version;
	uint32_t ctl_size; /* bytes: MRING__SLOTS_OFFSET + slots */
	uint32_t endian;
	uint32_t page_size; /* of the creating machine; informational */
	uint64_t data_offset;
	uint64_t capacity;
	uint32_t window;
	uint32_t max_record;
	uint32_t flags;
	uint32_t max_consumers;
	uint64_t created_ns;
	uint8_t static_reserved[60];
	uint32_t checksum; /* CRC32C of the bytes before it */

	/* Producer line: written by the producer on every commit. */
	mring_atomic_u64 head;     /* end of committed data */
	mring_atomic_u64 tail;     /* oldest position still intact */
	mring_atomic_u64 head_seq; /* records: seq of the next record */
	mring_atomic_u32 eof;      /* producer closed the stream */
	uint8_t head_reserved[36];

	/* Futex words: bit 0 = somebody sleeps, the rest count wake-ups. */
	mring_atomic_u32 data_futex; /* consumers sleep here */
	uint8_t data_futex_pad[60];
	mring_atomic_u32 space_futex; /* the producer sleeps here */
	uint8_t space_futex_pad[60];

	/* Rarely written: attach/detach, sync. */
	mring_atomic_u64 synced;     /* data before it is durable */
	mring_atomic_u64 synced_seq; /* records: seq at `synced` */
	mring_atomic_u32 cons_gen;   /* bumped when a slot changes */
	mring_atomic_u32 clean;      /* last producer closed cleanly */
	mring_atomic_u32 prod_pid;   /* last producer's pid */
	uint32_t rare_reserved0;
	char boot_id[40]; /* of the last producer's boot */
	/* Where the last producer saw the file (struct mring__os_ident):
	 * a copy of the file, or of its device, is another page cache. */
	uint64_t prod_dev;
	uint64_t prod_ino;
	uint64_t prod_mnt;
	uint32_t prod_ident; /* MRING__IDENT_* bits; 0: unknown */
	uint32_t rare_reserved1a;
	uint64_t prod_mntns; /* mount namespace of prod_mnt */
	uint8_t rare_reserved1[16];

	uint8_t reserved[MRING__SLOTS_OFFSET - 448];
	struct mring__slot slots[];
};

_Static_assert(offsetof(struct mring__ctl, checksum) == 124, "layout");
_Static_assert(offsetof(struct mring__ctl, head) == 128, "layout");
_Static_assert(offsetof(struct mring__ctl, data_futex) == 192, "layout");
_Static_assert(offsetof(struct mring__ctl, space_futex) == 256, "layout");
_Static_assert(offsetof(struct mring__ctl, synced) == 320, "layout");
_Static_assert(offsetof(struct mring__ctl, prod_dev) == 392, "layout");
_Static_assert(offsetof(struct mring__ctl, prod_ident) == 416, "layout");
_Static_assert(offsetof(struct mring__ctl, prod_mntns) == 424, "layout");
_Static_assert(offsetof(struct mring__ctl, reserved) == 448, "layout");
_Static_assert(offsetof(struct mring__ctl, slots) == MRING__SLOTS_OFFSET,
               "layout");
_Static_assert(MRING__SLOTS_OFFSET + MRING__MAX_CONSUMERS * 64 <=
                               MRING__INDEX_OFFSET &&
                       MRING__INDEX_OFFSET + (32u << MRING__INDEX_MAX_SHIFT) <=
                               MRING__DATA_ALIGN,
               "the index fits between control block and data region");
_Static_assert(MRING__DATA_START % MRING__DATA_ALIGN == 0, "layout");

/*
 * Header in front of every record; 8-byte aligned, payload follows. With
 * MRING_F_TIMESTAMPS the payload of the framing (len bytes) starts with an
 * 8-byte timestamp, then the caller's len - 8 bytes.
 */
struct mring__rec {
	uint32_t len;   /* payload bytes, 1..max_record */
	uint32_t check; /* CRC32C of len+seq (+ payload with MRING_F_CRC) */
	uint64_t seq;   /* record number in the stream, from 0 */
};
_Static_assert(sizeof(struct mring__rec) == MRING__REC_HDR, "record header");

/*
 * A copy of the record header at p. Positions come from the file, so a
 * hostile one may point anywhere: never access a header in place, where it
 * may be misaligned.
 */
static inline struct mring__rec mring__rec_load(const void *p)
{
	struct mring__rec h;

	memcpy(&h, p, sizeof(h));
	return h;
}

static inline uint64_t mring__rec_size(uint64_t len)
{
	return MRING__REC_HDR + ((len + MRING__REC_ALIGN - 1) &
	                         ~(uint64_t)(MRING__REC_ALIGN - 1));
}

static inline size_t mring__ctl_size(uint32_t max_consumers)
{
	return MRING__SLOTS_OFFSET +
	       (size_t)max_consumers * sizeof(struct mring__slot);
}

#endif
