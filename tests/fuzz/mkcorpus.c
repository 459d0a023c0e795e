/*
 * Writes the seed corpus of the fuzz targets: mkcorpus DIR makes
 * DIR/open, DIR/consume and DIR/check. Small valid rings of every mode,
 * cleanly closed and as a dead producer left them, plus short op programs
 * over the template rings (see the targets for the input formats).
 * The output is deterministic but for the creation time in the headers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "internal.h"

static const char *out;

static void put(const char *target, const char *name, const void *a, size_t an,
                const void *b, size_t bn)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", out, target);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/%s/%s", out, target, name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(a, 1, an, f) != an ||
	    (bn && fwrite(b, 1, bn, f) != bn) || fclose(f) != 0) {
		perror(p);
		exit(1);
	}
}

/* A small ring of mode `flags` with records in it, as a raw image:
 * control block, then the data region up to its last non-zero byte. */
static size_t image(unsigned flags, int unclean, uint8_t *img, size_t max)
{
	char path[256];
	struct mring_config cfg;
	struct mring *p;
	uint8_t buf[100];

	snprintf(path, sizeof(path), "%s/.mkcorpus-%d", out, (int)getpid());
	unlink(path);
	mring_config_init(&cfg);
	cfg.capacity = 8192;
	cfg.max_record = 100;
	cfg.max_consumers = 2;
	cfg.flags = flags;
	if (mring_create(path, &cfg) < 0)
		exit(1);
	mring_config_init(&cfg);
	cfg.flags = MRING_F_NO_PREFETCH | MRING_F_NO_URING;
	if (mring_open(path, MRING_PRODUCER, &cfg, &p) < 0)
		exit(1);
	/* Overwrite rings go round more than once. */
	int n = flags & MRING_F_OVERWRITE ? 150 : 40;
	for (int i = 0; i < n; i++) {
		memset(buf, i, sizeof(buf));
		if (mring_write(p, buf, 1 + (size_t)(i * 37) % 100, 0) < 0)
			exit(1);
		if (i == n / 2)
			mring_sync(p);
	}
	mring_close(p);
	int fd = open(path, O_RDONLY);
	size_t ctl = 512 + 64 * 2;
	uint64_t doff;
	if (fd < 0 || pread(fd, img, ctl, 0) != (ssize_t)ctl)
		exit(1);
	memcpy(&doff, img + 24, 8); /* data_offset */
	if (pread(fd, img + ctl, 8192, (off_t)doff) != 8192)
		exit(1);
	close(fd);
	unlink(path);
	if (unclean) /* as if the producer died: clean = 0 */
		memset(img + 340, 0, 4);
	size_t len = ctl + 8192;
	while (len > ctl && img[len - 1] == 0)
		len--;
	return len < max ? len : max;
}

int main(int argc, char **argv)
{
	static const unsigned modes[] = {
		0,
		MRING_F_OVERWRITE,
		MRING_F_RECORDS,
		MRING_F_RECORDS | MRING_F_OVERWRITE,
		MRING_F_RECORDS | MRING_F_CRC,
		MRING_F_RECORDS | MRING_F_CRC | MRING_F_OVERWRITE,
	};
	static uint8_t img[16384];
	char name[64];

	if (argc != 2) {
		fprintf(stderr, "usage: mkcorpus DIR\n");
		return 2;
	}
	out = argv[1];
	mkdir(out, 0755);
	for (unsigned m = 0; m < 6; m++) {
		for (int v = 0; v < 3; v++) {
			size_t len = image(modes[m], v > 0, img, sizeof(img));
			/* open: inspect, consumer, producer, consumer again;
			 * v 2 recovers as on the same boot. */
			uint8_t hd[2] = {0x3c | (v == 1 ? 0x80 : 0),
			                 v == 2 ? 2 : 0};
			snprintf(name, sizeof(name), "ring-m%u-v%d", m, v);
			put("open", name, hd, 2, img, len);
			hd[0] = 1;
			put("check", name, hd, 2, img, len);
		}
	}
	/* Op programs over each template (see fuzz_consume.c). */
	for (unsigned t = 0; t < 12; t++) {
		const uint8_t progs[][12] = {
			/* drain as an observer */
			{(uint8_t)t},
			/* reopen as "d", read 8 */
			{(uint8_t)t, 6 | 2 << 3, 4 | 7 << 3},
			/* head back by 8 under the reader, then read */
			{(uint8_t)t, 4, 0 | 0 << 2 | 5 << 5, 0xff, 4 | 31 << 3},
			/* tail to head, under the reader */
			{(uint8_t)t, 4, 0 | 1 << 2 | 2 << 5, 0, 0, 4 | 3 << 3},
			/* record 3 gets a bad length, re-signed */
			{(uint8_t)t, 2 | 5 << 2, 3, 0, 0xff, 0x7f, 4 | 31 << 3},
			/* producer died: clean = 0, a producer recovers */
			{(uint8_t)t, 0 | 6 << 2 | 4 << 5, 7 | 3 << 3, 9, 99,
		         200, 250, 4 | 31 << 3},
			/* a slot position moved back a lap, read as "d" */
			{(uint8_t)t, 1 | 0 << 2 | 3 << 5, 0xff, 6 | 2 << 3, 4},
			/* bytes of data overwritten */
			{(uint8_t)t, 3 | 7 << 2, 40, 0, 1, 2, 3, 4, 5, 6, 7, 8},
		};
		for (unsigned k = 0; k < sizeof(progs) / sizeof(progs[0]);
		     k++) {
			size_t len = sizeof(progs[k]);
			while (len > 1 && progs[k][len - 1] == 0)
				len--;
			snprintf(name, sizeof(name), "t%02u-p%u", t, k);
			put("consume", name, progs[k], len, NULL, 0);
			/* check: byte 0 = 0 (template), byte 1 = template,
			 * then the patches of the program (ops 0..3). */
			if (k == 0 || k == 4 || k == 7) {
				uint8_t c[14] = {0};
				memcpy(c + 1, progs[k], len);
				put("check", name, c, len + 1, NULL, 0);
			}
		}
	}
	return 0;
}
