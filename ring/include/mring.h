/*
 * mring — a circular ring in a huge file, shared between processes via mmap.
 *
 * A ring file holds a control block and a data region of `capacity` bytes.
 * One producer appends to a logical stream of 64-bit byte positions that
 * only grow; any number of consumers (up to a fixed maximum chosen at
 * creation) read it. Position p lives at file offset
 * data_offset + (p mod capacity). Each process maps only windows of the
 * stream; a window that crosses the end of the data region is built from
 * two mappings placed back to back, so every reservation and every record
 * is one contiguous pointer, at any position.
 *
 * Note about concurrency
 * ----------------------
 * - One producer per ring, enforced with an open-file-description lock that
 *   dies with its process: a second mring_open(MRING_PRODUCER) anywhere
 *   gets -EBUSY. Consumers each hold a slot in the control block, also
 *   guarded by such a lock.
 * - A handle (struct mring *) is used by one thread at a time, except for
 *   mring_interrupt(), which any thread or signal handler may call while
 *   another thread uses the handle. Different handles, in the same or
 *   other processes, are independent. Handles are
 *   not inherited across fork(): in the child, the ring's mappings are
 *   gone and its descriptor closed (so a child that outlives its parent
 *   holds no lock of the parent's), every call on the inherited handle
 *   returns MRING_EFORKED, and mring_close() only frees its memory. Open
 *   the ring again in the child.
 * - mring_reserve/mring_commit (producer) and mring_peek/mring_release
 *   (consumer) make no system call, take no lock and allocate nothing in
 *   the common case. They enter the kernel only to change window (at most
 *   once per window of bytes), and to sleep or wake a peer that sleeps on
 *   a futex in the shared control block.
 * - Back-pressure mode (default): the producer waits while the slowest
 *   durable consumer is a whole capacity behind. Overwrite mode
 *   (MRING_F_OVERWRITE): it never waits for consumers; old data is
 *   overwritten and a consumer that falls behind is told how much it lost
 *   (MRING_ELAPPED). In either mode the producer may wait, briefly, for
 *   its maintenance thread to pre-fault the pages it is about to write.
 *   Observers (consumers opened without a name) never hold the producer
 *   back, in either mode, and may be lapped.
 *
 * - Signals: no function fails with -EINTR. A signal that interrupts a
 *   wait (for space, data, a lock) is handled by the caller's handler and
 *   the wait resumes, until its timeout. To stop a blocked call, give it a
 *   finite timeout and check a flag between calls.
 *
 * Errors: every function returns 0 (or a count) on success and a negative
 * errno value or one of the MRING_E* codes below on failure;
 * mring_strerror() describes both kinds.
 *
 * ABI and versions
 * ----------------
 * The shared library's SONAME is libmring.so.0 for all of 0.x, and its
 * symbols carry the version node MRING_0.1 (ring/libmring.map); a
 * program built against 0.1 runs with every later 0.x library. Later
 * releases only add: functions (in a new version node), flags and enum
 * values, and fields of the structs below, taken from their reserved
 * words -- the sizes of struct mring_config, mring_stats, mring_info and
 * mring_consumer_info never change. The library zeroes reserved words it
 * fills, so a field it does not know yet reads 0 ("none" or "unknown"
 * for every field added later). A change that would break this comes
 * with a new SONAME (libmring.so.1) and version 1.0. The ring file format
 * has its own version (MRING_FORMAT_VERSION); files of every earlier
 * format version keep opening.
 *
 * Note about trust
 * ----------------
 * - A ring path that is a symbolic link is refused (MRING_ESYMLINK);
 *   links among its directories are followed, so keep rings in
 *   directories only trusted users can write to.
 * - A ring file that belongs to another user is refused (MRING_EOWNER),
 *   root included, unless the handle opts in with MRING_F_ANY_OWNER:
 *   anyone who can write the file can stop the stream or corrupt what is
 *   read, and its owner can truncate it.
 * - Consumers map the data region read-only. The control block is mapped
 *   read-write by every handle but read-only observers (MRING_F_READONLY,
 *   which write nothing): consumers write their own slot, the
 *   futex words, cons_gen and, through mring_sync, synced. A process
 *   with write access to the file can always lose or reorder data, but
 *   no value it writes makes the library read or write outside its
 *   mappings, allocate without bound or loop without end. The static
 *   header is read once, at open, from a private copy.
 *
 * Limits
 * ------
 * - Truncation. A file truncated while mapped cannot be noticed in time
 *   everywhere. mring_open() refuses a short file (MRING_ETRUNCATED);
 *   a handle checks the file size whenever it maps a window and returns
 *   MRING_ETRUNCATED from mring_reserve/mring_peek/mring_read/
 *   mring_write then, and the producer's pre-faulting reports it too. But
 *   a truncation between such a check and an access to an already mapped
 *   window -- for rings up to 1 GiB, whose single window is mapped once at
 *   open, that is any truncation -- raises SIGBUS in the process that
 *   touches the page, as for any mmap()ed file. The library installs no
 *   signal handler: an application that must survive a hostile truncation
 *   handles SIGBUS itself, or only opens files nobody else can write.
 * - Removal or replacement. A handle keeps using the file it opened even
 *   after it is removed or another file is renamed over its path (like
 *   any open file descriptor); mring_sync() then returns MRING_EREMOVED,
 *   since what it would make durable can no longer be found by name.
 * - Data written by the producer is visible to anyone who can read the
 *   file; mring does not encrypt or authenticate records (MRING_F_CRC
 *   detects accidents, not forgeries).
 */
#ifndef MRING_H
#define MRING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MRING_STATIC)
#define MRING_API
#elif defined(MRING_BUILDING)
#define MRING_API __attribute__((visibility("default")))
#else
#define MRING_API
#endif

#define MRING_VERSION_MAJOR 0
#define MRING_VERSION_MINOR 1
#define MRING_VERSION_PATCH 0
#define MRING_VERSION_STRING "0.1.0"

/*
 * Newest ring file format version this library reads and writes. Rings
 * created with MRING_F_TIMESTAMPS are written as version 2, which older
 * libraries refuse (MRING_EVERSION); all others are still written as
 * version 1, readable by every release.
 */
#define MRING_FORMAT_VERSION 2

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/*
 * Conditions errno cannot name. All are negative and below -1000, so they
 * never collide with -errno values.
 */
#define MRING_ERRNO_MAP(X)                                                    \
	X(EBADMAGIC, -1001, "not an mring file (bad magic number)")           \
	X(EVERSION, -1002, "unsupported mring format version")                \
	X(ECHECKSUM, -1003, "ring header checksum mismatch (corrupt header)") \
	X(ECORRUPT, -1004, "ring control block is inconsistent (corrupt)")    \
	X(ETRUNCATED, -1005, "ring file is shorter than its header says")     \
	X(EGEOMETRY, -1006,                                                   \
	  "ring geometry not usable here (page size or address space)")       \
	X(ELAPPED, -1007, "consumer was lapped by the producer; data lost")   \
	X(EROLE, -1008, "operation not allowed for this handle's role")       \
	X(ENOSLOT, -1009, "all consumer slots of the ring are in use")        \
	X(ESYMLINK, -1010,                                                    \
	  "ring path is a symbolic link; not followed (use the target)")      \
	X(EOWNER, -1011,                                                      \
	  "ring file belongs to another user (see MRING_F_ANY_OWNER)")        \
	X(EREMOVED, -1012,                                                    \
	  "ring file was removed or replaced since it was opened")            \
	X(EFORKED, -1013,                                                     \
	  "handle was opened before fork(); open the ring again in the child")

enum {
#define MRING__ENUM(name, val, msg) MRING_##name = (val),
	MRING_ERRNO_MAP(MRING__ENUM)
#undef MRING__ENUM
};

/*
 * Message for an error returned by any mring function: an MRING_E* code or
 * a negative errno value (positive errno values are accepted too). Never
 * returns NULL; the string is static.
 */
MRING_API const char *mring_strerror(int err);

/* "MAJOR.MINOR.PATCH" of the library actually loaded. */
MRING_API const char *mring_version(void);

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/* Fixed at creation, stored in the file. */
#define MRING_F_RECORDS (1u << 0)   /* framed records instead of bytes */
#define MRING_F_OVERWRITE (1u << 1) /* flight recorder: never wait */
#define MRING_F_CRC (1u << 2)       /* records carry a CRC32C */
/* Records carry a 64-bit timestamp (format version 2): see "Seek". */
#define MRING_F_TIMESTAMPS (1u << 3)
/* Creation-time actions, not stored. */
#define MRING_F_PREALLOC (1u << 8) /* fallocate the data region */
/* Per-handle, given to mring_open(). */
#define MRING_F_NO_PREFETCH (1u << 16) /* no maintenance thread */
#define MRING_F_NO_URING (1u << 17)    /* never io_uring (beats _URING) */
#define MRING_F_NUMA_NODE (1u << 18)   /* run maintenance on numa_node */
#define MRING_F_NO_HUGEPAGE (1u << 19) /* no MADV_HUGEPAGE on windows */
#define MRING_F_URING (1u << 20)       /* maintenance through io_uring */
/*
 * Accept a ring file whose owner is not the caller's effective uid. By
 * default mring_open() refuses one with MRING_EOWNER, root included: the
 * owner of a file can truncate it (a process that has it mapped then dies
 * of SIGBUS) and write any value into the control block while it is in
 * use. Opt in only when the file's owner is trusted (e.g. rings shared
 * within a group, created with mode 0660).
 */
#define MRING_F_ANY_OWNER (1u << 21)

/*
 * How the producer's maintenance thread discards data no reader needs, so
 * that the next lap's page faults find zeros instead of reading old data
 * from disk (see README, "Reclaim policies", for the measurements).
 */
enum mring_reclaim {
	MRING_RECLAIM_AUTO = 0,  /* the measured default for the file system */
	MRING_RECLAIM_NONE = 1,  /* leave everything in place */
	MRING_RECLAIM_CACHE = 2, /* drop clean cached pages (fadvise) */
	MRING_RECLAIM_ZERO = 3,  /* FALLOC_FL_ZERO_RANGE: blocks stay; on
	                          * XFS (which frees and reallocates them
	                          * for a zero-range) zeros written over the
	                          * data instead */
	MRING_RECLAIM_PUNCH = 4, /* FALLOC_FL_PUNCH_HOLE: blocks freed;
	                          * CACHE on tmpfs, where a read fault on
	                          * a hole needs memory (SIGBUS if full) */
};

/*
 * Where a consumer that has no stored position starts. In a ring of
 * records, records overwritten while mring_open() runs are not counted as
 * lost: the consumer moves up to the oldest record still there, or to the
 * newest if the producer keeps overwriting the oldest as it reaches for
 * it. (It must know the number of its first record to count later losses
 * in records.) In byte mode the first mring_peek() reports the loss.
 */
enum mring_start {
	MRING_START_OLDEST = 0, /* oldest data still in the ring */
	MRING_START_NEWEST = 1, /* only data produced from now on */
};

#define MRING_NAME_MAX 31 /* longest consumer name, bytes */

/*
 * Progress of a long operation inside a call, reported through
 * mring_config.progress: today the producer's recovery in mring_open(),
 * which reads up to a capacity of data after a power cut (minutes for a
 * ring of hundreds of GB).
 */
struct mring_progress {
	const char *what; /* "recover": checking records after a crash */
	uint64_t done;    /* bytes done so far */
	uint64_t total;   /* bytes to do at most (done may stop short) */
};

/*
 * Creation and open parameters. An all-zero struct means "defaults", and
 * so does mring_config_init(): it writes out the fixed defaults and leaves
 * window and max_record 0, which means "fitted to the ring".
 */
struct mring_config {
	/* Create: data bytes, a multiple of the page size. 0 = 1 GiB. */
	uint64_t capacity;
	/* Window bytes (page multiple). Create: stored as the default,
	 * 0 = 64 MiB, clamped to fit the ring. Open: 0 = the file's. */
	uint32_t window;
	/* Create: largest reservation or record. 0 = 1 MiB, halved until
	 * it fits a quarter of the ring. An explicit value must satisfy
	 * round_up(max_record + 32, page size) <= capacity / 2 (+ 40 with
	 * MRING_F_TIMESTAMPS; -EINVAL otherwise): a record and its header
	 * fit in the overlap of a window. */
	uint32_t max_record;
	/* MRING_F_*. */
	unsigned flags;
	/* Create: number of consumer slots, 1..4096. 0 = 32. */
	uint32_t max_consumers;
	/* Open, consumer: durable name (at most MRING_NAME_MAX bytes);
	 * NULL = an observer, which never holds the producer back. */
	const char *consumer_name;
	/* Open, consumer without a stored position: enum mring_start. */
	int start;
	/* Create: file permissions, within 0666 (execute and special
	 * bits: -EINVAL). 0 = 0600. Granting write to others means trusting
	 * them with the ring: see MRING_F_ANY_OWNER. */
	unsigned mode;
	/* Open, producer: enum mring_reclaim; another value: -EINVAL, with
	 * or without a maintenance thread. */
	int reclaim;
	/* Open, producer: bytes of the ring the maintenance thread lets
	 * stay in the page cache. 0 = a quarter of RAM or the ring, the
	 * smaller; UINT64_MAX = no bound. */
	uint64_t cache_budget;
	/* Open, with MRING_F_NUMA_NODE: node for the maintenance thread
	 * and the pages it pre-faults. Without it: the opener's node. */
	int numa_node;
	/* Open: called from the opening thread during a long operation
	 * (struct mring_progress), at most every 64 MiB of work and once at
	 * its end; NULL = silent. It must not call into this handle. */
	void (*progress)(const struct mring_progress *p, void *arg);
	void *progress_arg; /* passed to progress */
	/* Open, producer: 1..99 = run the maintenance thread SCHED_FIFO
	 * at this priority. The writer waits for the thread when it is
	 * behind; with more busy threads than CPUs a thread that is woken
	 * but not yet running holds the writer back, and a real-time one
	 * runs at once. Measured with 8 writers on 2 CPUs: after the first
	 * lap, maxima near pwrite's and a higher rate; on the first lap,
	 * where the thread's work is mostly CPU, 8 such threads stalled a
	 * writer for ~1 s in 2 of 6 runs (README, "Performance"). Needs
	 * CAP_SYS_NICE or an RLIMIT_RTPRIO of at least the priority: -EPERM
	 * otherwise, and the ring is left as it was. 0 = MRING_MAINT_PRIORITY
	 * from the environment if set, else the opener's scheduling.
	 * Outside 0..99, or a malformed variable: -EINVAL (checked even
	 * without a thread, which it otherwise does not affect). */
	int maint_priority;
	uint32_t reserved_[3]; /* zero */
};

/* Fill *cfg with the defaults (behaves as an all-zero struct). */
MRING_API void mring_config_init(struct mring_config *cfg);

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */
/* ------------------------------------------------------------------ */

enum mring_role {
	MRING_PRODUCER = 1,
	MRING_CONSUMER = 2,
};

/*
 * Create a new ring file at `path` (cfg may be NULL for defaults). Mode
 * (bytes or records, back-pressure or overwrite) is fixed here. The file is
 * sparse unless MRING_F_PREALLOC is given. Returns 0, -EEXIST if the path
 * exists, -EINVAL for a bad geometry (or MRING_F_CRC, MRING_F_TIMESTAMPS
 * without MRING_F_RECORDS), -ENOSPC if preallocation fails (the
 * file is removed; a capacity above the file system's free space, as
 * statvfs() counts it for unprivileged users, fails before anything is
 * allocated), or another -errno from the file system.
 */
MRING_API int mring_create(const char *path, const struct mring_config *cfg);

struct mring;

/*
 * Open a ring as producer or consumer. cfg may be NULL; it, and the
 * strings it points to (consumer_name), are read only during the call
 * (the name is copied into the ring): they need not outlive it. On
 * success stores a handle in *out and returns 0. Errors: -ENOENT,
 * -EACCES, -EBUSY (another live producer, or a durable consumer of that
 * name is already attached),
 * MRING_ENOSLOT, MRING_EBADMAGIC, MRING_EVERSION, MRING_ECHECKSUM,
 * MRING_ECORRUPT, MRING_ETRUNCATED, MRING_EGEOMETRY, MRING_ESYMLINK (path
 * is a symbolic link), MRING_EOWNER (another user's file, without
 * MRING_F_ANY_OWNER), -EPERM (a maint_priority the caller may not
 * give), -ENOMEM. The descriptor it keeps is close-on-exec.
 *
 * A producer that opens a ring whose previous producer died resumes the
 * stream after the last committed byte; if the machine rebooted since, it
 * keeps only what mring_sync() made durable (records: what verifies).
 * A named consumer resumes at its stored position.
 *
 * How long it may block: it never waits for data, space, or a consumer.
 * It waits for the ring's registry lock, which other handles hold for
 * moments while they attach, detach or sync -- except a producer that
 * recovers after a crash or a power cut: its mring_open() holds the lock
 * while it reads up to a capacity of records (minutes for hundreds of
 * GB; cfg.progress reports it), and other opens of the ring wait that
 * long. A producer whose predecessor just died waits up to a second for
 * the dead process's lock to go. Mapping the first window and, for a
 * producer, pre-faulting it take I/O time.
 */
MRING_API int mring_open(const char *path, int role,
                         const struct mring_config *cfg, struct mring **out);

/*
 * Close a handle; NULL is accepted. A producer marks the stream ended
 * (consumers then read the rest and get 0 from mring_peek). An observer
 * frees its slot; a durable consumer keeps its slot and position.
 *
 * It does not sync: what was committed (and a durable consumer's
 * position) survives a crash of the process, but a power cut only keeps
 * what mring_sync() made durable; call it before closing. How long it may
 * block: a producer's close waits for its maintenance thread and its
 * write-back thread to finish the operation in flight (an madvise or
 * fallocate of at most a window, a start of write-back of one chunk of at
 * most 4 MiB, which the block layer may throttle); an observer's takes
 * the registry lock (see mring_open). It never waits for a peer.
 */
MRING_API void mring_close(struct mring *r);

/* ------------------------------------------------------------------ */
/* Producer                                                            */
/* ------------------------------------------------------------------ */

/*
 * Reserve `len` contiguous writable bytes (1 <= len <= max_record) at the
 * head of the stream and store a pointer to them in *ptr. The pointer is
 * valid until the next mring_reserve, mring_commit or mring_close on this
 * handle. Reserving again without commit replaces the reservation.
 *
 * timeout_ms: -1 waits as long as it takes, 0 tries once, > 0 waits at
 * most that long. Returns 0, -EAGAIN (timeout 0, ring full), -ETIMEDOUT,
 * -EMSGSIZE (len > max_record or 0), MRING_EROLE, or an -errno from
 * mapping or pre-faulting the window (-ENOMEM, -ENOSPC when the file
 * system is full, MRING_ETRUNCATED when the file was truncated...).
 * Overwrite mode never waits for consumers; like a
 * page fault, waiting for the maintenance thread to pre-fault the next
 * pages happens even with timeout 0.
 */
MRING_API int mring_reserve(struct mring *r, size_t len, void **ptr,
                            int timeout_ms);

/*
 * Publish the first `len` bytes of the current reservation (in record
 * mode: as one record of `len` bytes; with MRING_F_TIMESTAMPS stamped
 * with CLOCK_REALTIME, see mring_commit_ts). len 0 publishes nothing and
 * drops the reservation. Wakes sleeping consumers. Returns 0, -EINVAL (no
 * reservation, or len larger than it), MRING_EROLE.
 */
MRING_API int mring_commit(struct mring *r, size_t len);

/*
 * Copy `len` bytes in: byte mode may split them over several
 * reservations; record mode writes one record (len <= max_record).
 * Returns len, or a negative error as mring_reserve. In byte mode a
 * timeout after part was written returns the part's length.
 */
MRING_API ssize_t mring_write(struct mring *r, const void *buf, size_t len,
                              int timeout_ms);

/*
 * Make the next `len` bytes after the head ready for writing before they
 * are written: file blocks reserved, page-cache pages created and mapped.
 * Writing into a ring's pages for the first time costs the kernel a page
 * allocation, zeroing and the file system's block reservation per page;
 * the maintenance thread does it ahead of the writer, but a producer that
 * keeps the CPUs busy still pays it on the first lap (the loop demo's
 * first lap ran at 0.55-0.72x its second). A capture that must run at
 * full rate from its first packet calls this before it starts: the same
 * work, done before the stream instead of during it.
 *
 * `len` is cut to what the ring keeps ready: all of it when the ring fits
 * in its page-cache budget (its pages then stay; see mring_config), else
 * the thread's distance ahead of the writer (at most a window; later
 * pages are created as the writer goes, as on every lap). Without a
 * maintenance thread (MRING_F_NO_PREFETCH) the rest of the current
 * window is pre-faulted by this call. Never over data a consumer has not
 * released: that would be waiting for the consumer.
 *
 * timeout_ms: -1 waits until the bytes are ready, > 0 at most that long,
 * 0 does not wait. Returns the bytes now ready ahead of the head (`len`
 * as cut above), -ETIMEDOUT or -EAGAIN (timeout 0) when not all are ready
 * yet: the thread goes on, mring_stats' prefault_ahead says how far it
 * got, and calling again waits for the rest (a loop of calls with a
 * timeout can show progress). Also MRING_EROLE, -EINTR
 * (mring_interrupt), or the error that stopped the thread (-ENOSPC: the
 * file system is full, -ENOMEM...). The wait is not counted in
 * maint_wait_ns.
 */
MRING_API ssize_t mring_prefault(struct mring *r, size_t len, int timeout_ms);

/*
 * Make everything committed so far durable: data first, then the control
 * block, which holds the consumers' positions (a consumer calls it to make
 * its position durable). Any role may call it. Blocks for the write-back
 * (fdatasync) of the file's dirty pages. Returns 0 or -errno (-EIO...), or
 * MRING_EREMOVED (the file has no name any more: removed, or replaced by
 * a rename) or MRING_ETRUNCATED (the file was truncated) without syncing.
 */
MRING_API int mring_sync(struct mring *r);

/* ------------------------------------------------------------------ */
/* Consumer                                                            */
/* ------------------------------------------------------------------ */

/*
 * Point *ptr at the oldest unread data. Byte mode: returns how many bytes
 * are readable contiguously (at least 1). Record mode: returns the length
 * of exactly one whole record (records are never empty); mring_tell()
 * gives its number and stamp.
 * The pointer is valid until the next mring_peek, mring_release or
 * mring_close on this handle (read-only memory).
 *
 * Returns 0 when the producer has closed the ring and everything was read.
 * Returns MRING_ELAPPED once when the producer overwrote data this consumer
 * had not read; the loss is added to the stats (bytes_lost, records_lost)
 * and the next peek continues at the oldest intact data. Also -EAGAIN,
 * -ETIMEDOUT (see mring_reserve for timeout_ms), MRING_EROLE,
 * MRING_ECORRUPT (a record fails its check, or the control block says
 * something impossible, e.g. head behind this consumer), MRING_ETRUNCATED
 * (the file was truncated; seen when a window is mapped).
 *
 * MRING_ECORRUPT does not move the consumer: every later call returns it
 * again, and a durable consumer keeps its position across reopens, so no
 * data is skipped behind the application's back. `mring check` shows the
 * damage. To go on, mring_skip() moves past the damaged record to the
 * next one that verifies, counting what it skipped as lost.
 *
 * In overwrite mode the producer may overwrite data while you read it
 * through the pointer; mring_release() then reports MRING_ELAPPED, and
 * what you read must be discarded. Copy first, then release, then use the
 * copy only if release returned 0 -- which is what mring_read() does.
 */
MRING_API ssize_t mring_peek(struct mring *r, const void **ptr, int timeout_ms);

/*
 * Done with `len` bytes from the last peek (record mode: len is ignored
 * and the current record is released). Returns 0, -EINVAL (more than was
 * peeked), MRING_ELAPPED (overwrite: the data was overwritten while it was
 * read; the loss is counted), MRING_EROLE.
 */
MRING_API int mring_release(struct mring *r, size_t len);

/*
 * Copy out up to `len` bytes (byte mode) or one record (record mode;
 * -EMSGSIZE if it does not fit, and the record stays unread). Returns the
 * count, 0 at end of stream, or a negative error as mring_peek. Safe in
 * overwrite mode: data overwritten during the copy is never returned
 * (MRING_ELAPPED instead, and the next call reads the oldest intact data).
 */
MRING_API ssize_t mring_read(struct mring *r, void *buf, size_t len,
                             int timeout_ms);

/* ------------------------------------------------------------------ */
/* Statistics and inspection                                           */
/* ------------------------------------------------------------------ */

/* Counters are for this handle since it was opened, unless noted. */
struct mring_stats {
	uint64_t bytes_produced;   /* producer: bytes committed */
	uint64_t records_produced; /* producer: commits (records) */
	uint64_t bytes_consumed;   /* consumer: bytes released */
	uint64_t records_consumed; /* consumer: releases (records) */
	uint64_t bytes_lost;       /* consumer: overwritten before read */
	uint64_t records_lost;     /* consumer: records overwritten */
	uint64_t lapped;           /* consumer: MRING_ELAPPED reports */
	uint64_t producer_waits;   /* producer: waits because ring full */
	uint64_t consumer_waits;   /* consumer: waits because ring empty */
	uint64_t windows_mapped;   /* windows mapped by this handle */
	uint64_t lag;              /* consumer: head - own position, now */
	uint64_t head;             /* ring: producer position, now */
	uint64_t tail;             /* ring: oldest valid position, now */
	uint64_t position;         /* this handle: own position */
	uint64_t capacity;
	/* Producer handle with its maintenance thread: */
	uint64_t minor_faults;    /* producer thread, since open */
	uint64_t major_faults;    /* producer thread, since open */
	uint64_t maint_wait_ns;   /* producer waited for a window */
	uint64_t prefault_ahead;  /* bytes ready ahead of the head now */
	uint64_t reclaim_ops;     /* reclaim operations completed */
	uint64_t reclaimed_bytes; /* bytes discarded by reclaim */
	uint64_t writeback_ops;   /* write-back operations completed */
	uint64_t cache_drop_ops;  /* page-cache drops completed */
	uint64_t cache_bytes;     /* ring bytes in the page cache (sample) */
	int maint;                /* 0 none, 1 io_uring, 2 system calls */
	int reclaim;              /* enum mring_reclaim in effect */
	int numa_node;            /* node of the maintenance thread, -1 */
	int reserved_i_;
	/* Producer: bytes of the ring read by recovery in mring_open(). */
	uint64_t recovery_scanned;
	/* Seek and batches (see "Seek, position and batches"): */
	uint64_t seeks;        /* consumer: successful mring_seek calls */
	uint64_t seek_scanned; /* consumer: stream bytes of the records
	                        * mring_seek examined (index probes and
	                        * walk), to see that it used the index */
	uint64_t batches;      /* consumer: mring_release_many calls that
	                        * released records */
	/* Consumer: damaged stretches skipped by mring_skip() (their bytes
	 * and records count in bytes_lost and records_lost). */
	uint64_t skips;
	/* Producer with its maintenance thread: bytes of pages it created
	 * ahead by writing zeros where old data was discarded or, on the
	 * first lap, where nothing was committed (README, "Pre-zeroing");
	 * the rest it pre-faults only. */
	uint64_t prezeroed_bytes;
	uint64_t reserved_[10];
};

/*
 * Fill *st for this handle. Any role. Returns 0, -EINVAL (r or st is
 * NULL) or MRING_EFORKED. Never blocks.
 */
MRING_API int mring_stats(struct mring *r, struct mring_stats *st);

/*
 * One consumer slot as seen by mring_inspect(). 128 bytes, for good: later
 * fields come out of reserved_ ("ABI and versions" above), so an array
 * of them keeps its stride.
 */
struct mring_consumer_info {
	char name[MRING_NAME_MAX + 1]; /* "" for an observer */
	uint64_t position;
	int durable;           /* 1: named, holds back the producer */
	int alive;             /* 1: a process has it open now */
	pid_t pid;             /* last process that opened it */
	int reserved_i_;       /* zero */
	uint64_t reserved_[9]; /* zero */
};

/*
 * A ring file's header and state, read without attaching to the ring.
 * 256 bytes, for good: later fields come out of reserved_.
 */
struct mring_info {
	uint32_t format_version;
	unsigned flags; /* MRING_F_RECORDS, _OVERWRITE, _CRC */
	uint64_t capacity;
	uint64_t data_offset;
	uint64_t file_size;
	uint32_t window;
	uint32_t max_record;
	uint32_t max_consumers;
	uint32_t consumers;  /* slots in use */
	uint64_t head;       /* producer position */
	uint64_t tail;       /* oldest valid position */
	uint64_t synced;     /* position known durable */
	int producer_alive;  /* a producer has it open now */
	int eof;             /* the last producer closed the stream */
	pid_t producer_pid;  /* last producer's pid */
	uint64_t created_ns; /* CLOCK_REALTIME at creation */
	/* Bytes of the data region in the page cache now, clean or dirty
	 * (at most capacity); UINT64_MAX when the kernel cannot say. Found
	 * by walking the kernel's cache index: slower on big cached rings.
	 * The same quantity as mring_stats.cache_bytes, hence the name;
	 * cached_bytes, its first name, is kept for old sources. */
	union {
		uint64_t cache_bytes;
		uint64_t cached_bytes;
	};
	uint64_t reserved_[19]; /* zero */
};

/*
 * Validate the ring file at `path` and describe it without joining it.
 * Fills *info, and up to `ncons` entries of `cons` (may be NULL when
 * ncons is 0). Returns the number of consumer slots in use (which may be
 * more than ncons), or an error as mring_open. Works on any owner's file
 * (no MRING_EOWNER): it reads a private copy of the control block, writes
 * nothing and touches no mapping of the file. On a live ring the copy is
 * no snapshot: positions are read a moment apart (each shown at or below
 * head), and a copy that reads inconsistent is read again before the call
 * gives MRING_ECORRUPT (CONCURRENCY.md, rule 6).
 */
MRING_API int mring_inspect(const char *path, struct mring_info *info,
                            struct mring_consumer_info *cons, unsigned ncons);

/*
 * Detach the durable consumer `name` from the ring at `path`, so that it no
 * longer holds the producer back. Returns 0, -ENOENT (no such consumer),
 * -EBUSY (it is open in a live process), or an error as mring_open;
 * MRING_EOWNER for another user's file (run it as the file's owner).
 */
MRING_API int mring_consumer_remove(const char *path, const char *name);

/* ------------------------------------------------------------------ */
/* Seek, position and batches                                          */
/* ------------------------------------------------------------------ */

/*
 * Record numbers and time. In a ring of records every record has a number
 * (seq), counting from 0 since the ring was created; numbers are
 * consecutive in the stream. A ring created with MRING_F_TIMESTAMPS
 * (records only, else -EINVAL from mring_create) also gives every record
 * a 64-bit timestamp, nanoseconds since the epoch by convention: the
 * producer stamps CLOCK_REALTIME at commit (never lower than the stamp of
 * the record it committed before, so a clock stepped back does not make
 * stamps go backwards within a handle), or the caller supplies one with
 * mring_commit_ts(). The stamp costs 8 bytes per record, is covered by the
 * record's check word, and makes the file format version 2.
 *
 * The producer keeps an index of the ring in the file (one entry per
 * 1/N of the capacity, N <= 32768; see FORMAT.md), so that mring_seek()
 * by number or time reads O(log N) records and then walks at most about
 * one N-th of the ring. Index entries are hints: each is checked against
 * the record it points to, and a missing, stale or damaged one only makes
 * the walk longer. A ring last written by an older library has no index:
 * seek then walks from the oldest record, reading up to the whole ring.
 */

/* No record number: byte mode, or not known yet (mring_tell). */
#define MRING_SEQ_NONE UINT64_MAX

/* Where a handle stands (mring_tell). */
struct mring_where {
	/* Consumer: the stream position of the record (or byte) the next
	 * mring_peek returns -- while a record is peeked, its own. Producer:
	 * head, where the next record goes. */
	uint64_t pos;
	/* Records: the number of that record; MRING_SEQ_NONE in byte mode
	 * or while not known (a consumer learns it at the next peek). */
	uint64_t seq;
	/* MRING_F_TIMESTAMPS, consumer: the timestamp of the record peeked
	 * now (mring_peek, or the first of mring_peek_many), else 0.
	 * Producer: the timestamp of the last record it committed, or 0. */
	uint64_t ts;
	uint64_t reserved_[5];
};

/*
 * Describe where this handle stands: the position, record number and
 * timestamp of what the last mring_peek returned (or of what the next one
 * returns), for a consumer; of the next record, for a producer. Any role;
 * never blocks, no system call. Returns 0, -EINVAL (NULL argument),
 * MRING_EFORKED.
 */
MRING_API int mring_tell(struct mring *r, struct mring_where *w);

/* mring_seek(): where to go. */
enum mring_whence {
	MRING_SEEK_OLDEST = 0, /* the oldest data still in the ring */
	MRING_SEEK_NEWEST = 1, /* head: only what is produced from now on */
	MRING_SEEK_POS = 2,    /* byte position; records: the first record
	                        * that starts at or after it */
	MRING_SEEK_SEQ = 3,    /* records: the record numbered value */
	MRING_SEEK_TIME = 4,   /* MRING_F_TIMESTAMPS: the first record whose
	                        * timestamp is >= value */
};

/*
 * Move a consumer to another place in the ring; the next mring_peek
 * returns what is there. A peeked record or batch is dropped (not
 * released), even when the seek fails; after a failure the consumer
 * stands where it stood. `value` is ignored for OLDEST and NEWEST.
 *
 * Returns 0 at the place asked for, or 1 when what was asked for is gone
 * (overwritten, or never kept) and the consumer went to the oldest record
 * still there instead: a position below tail, a number below the oldest
 * record's, a time earlier than the oldest record's stamp when records
 * were overwritten before it (they may have had later stamps). Errors:
 * -EINVAL (bad whence; SEQ or TIME in byte mode; TIME without
 * MRING_F_TIMESTAMPS), -ERANGE (POS beyond head, SEQ beyond the next
 * record to be written: the consumer does not move), MRING_EROLE,
 * MRING_ECORRUPT (a record on the way fails its check), -EAGAIN (overwrite
 * mode, or an observer: the producer overwrote the records faster than
 * the search could read them, 64 times in a row), MRING_ETRUNCATED or an
 * -errno from mapping a window.
 *
 * Time is searched by bisection, so it assumes stamps that do not
 * decrease in commit order (what the producer's own stamps guarantee);
 * with stamps supplied out of order it lands on a record whose stamp is
 * >= value after one that is < value, not necessarily the first.
 *
 * A durable consumer's stored position moves too: a restart resumes at
 * the new place. In back-pressure mode a durable consumer may seek
 * backward only as far as data is still there: the seek publishes the new
 * position and then checks the producer's tail (the store-buffer
 * handshake H4 of CONCURRENCY.md, as a joining consumer does), so the
 * producer either sees the new position before it overwrites, or the
 * consumer sees tail and moves up to it (return 1); once mring_seek
 * returns, the producer will not overwrite what the consumer now needs.
 * An observer or an overwrite-mode consumer gets no such promise: the
 * data it sought may be overwritten right after, and its next peek then
 * reports MRING_ELAPPED with the loss counted from the new place.
 *
 * Never waits for data. It may read from the disk: with a usable index,
 * O(log N) records plus about 1/N of the ring (N above); without one, up
 * to the whole ring. Counted in mring_stats().seek_scanned.
 */
MRING_API int mring_seek(struct mring *r, int whence, uint64_t value);

/*
 * Commit the current reservation as one record stamped `ts` instead of
 * the clock (MRING_F_TIMESTAMPS only). Otherwise as mring_commit; also
 * -EINVAL for a ring without timestamps.
 */
MRING_API int mring_commit_ts(struct mring *r, size_t len, uint64_t ts);

/*
 * Gather write: the `iovcnt` buffers of `iov`, concatenated. Record mode:
 * one record (the total must be 1..max_record, else -EMSGSIZE), stamped as
 * mring_commit does; byte mode: as mring_write of the concatenation. The
 * same returns as mring_write; also -EINVAL (iovcnt < 0 or > IOV_MAX, or
 * iov NULL with iovcnt > 0).
 */
MRING_API ssize_t mring_writev(struct mring *r, const struct iovec *iov,
                               int iovcnt, int timeout_ms);

/* One record of a batch (mring_peek_many). */
struct mring_msg {
	const void *ptr; /* payload, read-only */
	size_t len;      /* payload bytes */
	uint64_t seq;    /* record number */
	uint64_t ts;     /* timestamp (MRING_F_TIMESTAMPS), else 0 */
};

/*
 * Peek up to `max` whole consecutive records at once (record mode only;
 * a max above 4096 counts as 4096): fill msgs[0..n) and return n >= 1. Waits as mring_peek for the first
 * record; the others are those already committed and mapped together
 * with it (a batch never spans a window change, so it may hold fewer than
 * are readable: call again). The pointers are valid until the next
 * mring_peek, mring_peek_many, mring_release, mring_release_many,
 * mring_seek or mring_close on this handle.
 *
 * Returns n, 0 at end of stream, or the errors of mring_peek; also -EINVAL
 * (byte mode, max 0, msgs NULL), -ENOMEM (the handle grows a small array
 * the first time it sees a larger max). A record that fails its check
 * after the first ends the batch early; the peek after releasing the
 * batch reports it (MRING_ECORRUPT). In overwrite mode (and for
 * observers) the records may be overwritten while they are read: as with
 * mring_peek, use them only once mring_release_many returned 0.
 */
MRING_API ssize_t mring_peek_many(struct mring *r, struct mring_msg *msgs,
                                  size_t max, int timeout_ms);

/*
 * Release the first `n` records of the last batch together, at the cost
 * of one release (one store of the position, one wake-up check); the
 * rest of the batch stays unread and is returned again by the next peek.
 * The batch ends either way. Returns 0, -EINVAL (no batch, n larger than
 * it), MRING_ELAPPED (overwrite mode or an observer: the batch was
 * overwritten while it was read; the loss is counted and nothing of it
 * may be used), MRING_EROLE. Counted in records_consumed, bytes_consumed
 * and batches.
 */
MRING_API int mring_release_many(struct mring *r, size_t n);
/* Event loops, cancellation, read-only readers, damage, registration  */
/* ------------------------------------------------------------------ */

/*
 * Signals and EINTR. No mring call ever returns -EINTR. A signal that
 * arrives while a call waits runs its handler and the call goes on
 * waiting (the timeout still counts from the call's start), whether or
 * not the handler was installed with SA_RESTART. To make a signal end a
 * wait, call mring_interrupt() from the handler.
 */

/*
 * Make a call that waits on this handle return promptly with -ECANCELED:
 * mring_peek/mring_read (consumer waiting for data), mring_reserve/
 * mring_write (producer waiting for room or for its maintenance thread).
 * Safe from any thread and from a signal handler (async-signal-safe: it
 * uses only atomics and futex(2), and leaves errno as it was). Never
 * blocks. Returns 0, -EINVAL (NULL), MRING_EFORKED.
 *
 * The interrupt is one-shot and sticky: it stays pending until a call on
 * the handle would wait; that call returns -ECANCELED at once instead
 * and clears it. So one that arrives just before a call starts waiting is
 * not lost, and one interrupt cancels one wait. A call that completes
 * without waiting (data or room was there, or timeout 0) leaves it
 * pending. mring_write in byte mode that had written part of its buffer
 * returns that part's length (the interrupt is consumed all the same).
 * Call it only between mring_open() and mring_close() of the handle.
 */
MRING_API int mring_interrupt(struct mring *r);

/*
 * A descriptor for poll/epoll/select that is readable when this consumer
 * has data to read or the stream has ended. Consumer handles only
 * (MRING_EROLE for a producer: in overwrite mode it never waits, in
 * back-pressure mode wait in mring_reserve on a thread of its own and
 * cancel it with mring_interrupt). Returns the descriptor (>= 0), the
 * same one on every call, or -ENOMEM, -EMFILE, -EAGAIN (no thread).
 * Do not close it or read it: mring_close() does. It is close-on-exec.
 *
 * The first call starts a helper thread for the handle (blocking every
 * signal; stopped and joined by mring_close(), which may then wait for it
 * for as long as a futex wake-up takes) that sleeps on the ring like a
 * waiting consumer; handles that never call it pay nothing.
 *
 * The protocol: each mring_peek/mring_read that finds nothing to read
 * (it returns -EAGAIN, or is about to wait) clears the descriptor and
 * arms it at its position; it becomes readable once data arrives beyond
 * that position or the producer ends the stream, and stays readable
 * until the next such call. So data that arrives after "nothing to read"
 * always makes it readable (no lost wake-up), and it may be readable when
 * there is nothing to read any more (a spurious wake-up: the next read
 * returns -EAGAIN and re-arms it). Both epoll modes work:
 *  - level-triggered (the default): on readiness read with timeout 0 as
 *    much as you like; while data is left, the descriptor stays readable;
 *  - edge-triggered (EPOLLET): read with timeout 0 until -EAGAIN (or 0,
 *    end of stream) before waiting again: the next edge comes from the
 *    arming that -EAGAIN did.
 * At end of stream it stays readable: mring_peek returns 0 then.
 * A read-only observer's thread polls with back-off (MRING_F_READONLY),
 * so its descriptor may lag the data by up to 10 ms.
 */
MRING_API int mring_fd(struct mring *r);

/*
 * mring_open() flag for a consumer: a read-only observer. It opens the
 * file O_RDONLY and maps the control block and the data read-only, so
 * read permission on the file is enough (and a read-only mount). An
 * observer (no consumer_name) that gets -EACCES or -EROFS opening the
 * file for writing becomes one by itself (for another user's file only
 * with MRING_F_ANY_OWNER; without it the open keeps failing with that
 * -EACCES or -EROFS). With a consumer_name or for a producer: -EINVAL (a
 * durable consumer must store its position).
 *
 * What it cannot do, since it writes nothing to the file:
 *  - it takes no slot: `mring stat`, mring_inspect() and max_consumers
 *    do not see or count it, and it never holds the producer back;
 *  - it may be lapped in either mode, like any observer: every read is
 *    validated against the producer's tail (mring_peek/mring_release
 *    return MRING_ELAPPED, and the loss is counted in the stats);
 *  - it cannot announce itself as a sleeper, so no producer wakes it: a
 *    waiting call polls, backing off from 50 us to 10 ms (that much
 *    latency, and a wake-up every 10 ms while it waits);
 *  - mring_sync() returns MRING_EROLE.
 * Ownership rules are those of any handle (MRING_EOWNER for another
 * user's file unless MRING_F_ANY_OWNER: its owner can truncate it).
 */
#define MRING_F_READONLY (1u << 22)

/*
 * Move a records consumer stopped by MRING_ECORRUPT past the damage: to
 * the next record that verifies (its check, a plausible record number,
 * and the records after it chain to it), or to head when nothing up to
 * head verifies. Stores the bytes skipped in *bytes and the records in
 * *records (UINT64_MAX when the number of the damaged record was not
 * known), either may be NULL; both are added to the stats (bytes_lost,
 * records_lost, skips). A durable consumer's new position is stored like
 * a release (it survives a crash; mring_sync makes it survive a power
 * cut), and in back-pressure mode frees the space for the producer.
 *
 * Returns 0; -EINVAL when the record at the position verifies or nothing
 * is there (only damage is ever skipped), or in byte mode (byte rings
 * carry no checks, so there is never a damaged record to skip);
 * MRING_ECORRUPT when the control block itself is impossible (head
 * behind the consumer: skipping cannot mend that); MRING_ELAPPED when the
 * damage was overwritten meanwhile (the consumer moved to the oldest data,
 * as mring_peek would); MRING_EROLE, MRING_ETRUNCATED. Does not wait; it
 * reads at most the data between the position and head (a capacity). A
 * pointer from an earlier mring_peek is no longer valid after it.
 */
MRING_API int mring_skip(struct mring *r, uint64_t *bytes, uint64_t *records);

/*
 * Register the durable consumer `name` on the ring at `path` without
 * opening it: it gets a slot at `start` (enum mring_start) and holds the
 * producer back from then on, as if mring_open() had run and closed; the
 * first mring_open(MRING_CONSUMER) with that name resumes there. Maps
 * only the control block: no data is mapped or read ahead. Returns 0,
 * -EEXIST (a durable consumer of that name exists), -EINVAL (bad name or
 * start), MRING_ENOSLOT, or an error as mring_open (MRING_EOWNER for
 * another user's file). Blocks only on the registry lock (held briefly by
 * opens and closes).
 *
 * A producer writing meanwhile: the slot is claimed under the registry
 * lock with the same join handshake as an open, so data is never
 * destroyed under the new position -- with MRING_START_OLDEST, if the
 * producer was about to overwrite the oldest data the position moves up
 * to what is still there, and is stored before the producer may go on.
 */
MRING_API int mring_consumer_add(const char *path, const char *name, int start);

#ifdef __cplusplus
}
#endif
#endif /* MRING_H */
