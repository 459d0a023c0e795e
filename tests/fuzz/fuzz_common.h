/*
 * Shared pieces of the libFuzzer targets: one scratch ring file per process
 * on tmpfs, turning fuzz input into a ring file (a raw image, or a valid
 * ring built by the library and then damaged), and checks that abort with
 * a message when the library breaks a promise.
 */
#ifndef MRING_FUZZ_COMMON_H
#define MRING_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "mring.h"

/* Reads the fuzz input front to back; past the end it yields zeros. */
struct fz_in {
	const uint8_t *p;
	size_t n;
};

uint8_t fz_u8(struct fz_in *in);
uint16_t fz_u16(struct fz_in *in);
uint32_t fz_u32(struct fz_in *in);
uint64_t fz_u64(struct fz_in *in);

/* Path of this process's scratch ring file (the directory is made once and
 * removed at exit). */
const char *fz_path(void);

/* Abort with a message: libFuzzer reports it as a crash and saves the
 * input. */
void fz_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* Is rc 0/positive or one of the library's documented negative codes? */
int fz_clean_error(long long rc);

/*
 * Raw image: the input after the first `skip` bytes is a ring file, except
 * that the part after the control block lands at the header's data_offset
 * and the file is extended to data_offset + capacity (sparse), so that a
 * few kilobytes describe a whole ring. `ctl` (a byte of the input) picks
 * options: bit 0 fixes the header checksum, bit 1 stamps this machine's
 * boot id (same-boot recovery), bit 2 truncates the file. Returns 0 or -1
 * when the file cannot be written.
 */
int fz_write_raw(struct fz_in *in, uint8_t ctl);

/* Geometry and mode of a template ring, chosen by a byte of input. */
struct fz_tmpl {
	unsigned flags; /* MRING_F_RECORDS / _OVERWRITE / _CRC */
	uint64_t cap;
	uint64_t data_off;
	uint32_t ctl_len;
	uint32_t max_record;
	uint8_t *ctl;  /* control block bytes */
	uint8_t *data; /* data region bytes */
	/* Record mode: data-region positions of the records in the ring. */
	uint64_t *recs;
	unsigned nrecs;
};

/*
 * Write a valid ring with data in it, built once per process by the
 * library itself for template `which` (any byte: it is reduced), to the
 * scratch path. Returns the template, or NULL on failure.
 */
const struct fz_tmpl *fz_write_template(uint8_t which);

/*
 * Apply one damaging edit, described by the next input bytes, to the
 * scratch file through pwrite (a live handle's shared mapping sees it at
 * once, as if another process wrote it). Returns 0, or -1 at end of input.
 */
int fz_patch(struct fz_in *in, const struct fz_tmpl *t);

/* Run fn with stdout and stderr sent to /dev/null. */
int fz_quietly(int (*fn)(void *), void *arg);

#endif
