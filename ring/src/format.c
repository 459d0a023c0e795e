/*
 * Ring file format v1 and v2: creating a file and validating one. Every field read
 * from a file is checked here before any other code uses it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_CAPACITY (1ull << 30)
#define DEFAULT_WINDOW (64u << 20)
#define WHOLE_WINDOW (1ull << 30) /* up to this, window = capacity */
#define DEFAULT_MAX_RECORD (1u << 20)
#define DEFAULT_CONSUMERS 32u

void mring_config_init(struct mring_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = DEFAULT_CAPACITY;
	/* window and max_record stay 0: "fit to the ring", as documented. */
	cfg->max_consumers = DEFAULT_CONSUMERS;
	cfg->start = MRING_START_OLDEST;
	cfg->mode = 0600;
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/*
 * Bytes a window extends past its stride: a whole record (header and
 * padding) that starts just before the stride's end, plus the header the
 * producer reads right after a reservation when it skips old records.
 */
uint64_t mring__overlap(uint32_t max_record, long page)
{
	return round_up((uint64_t)max_record + 2 * MRING__REC_HDR,
	                (uint64_t)page);
}

uint32_t mring__ctl_checksum(const struct mring__ctl *c)
{
	return mring__crc32c(0, c, offsetof(struct mring__ctl, checksum));
}

int mring__ctl_check_static(const struct mring__ctl *c, uint64_t file_size,
                            long page)
{
	if (memcmp(c->magic, MRING__MAGIC, 8) != 0)
		return MRING_EBADMAGIC;
	/* Written on a machine of the other byte order: every field below
	 * reads swapped, the version first. Say what is wrong. */
	if (c->endian == __builtin_bswap32(MRING__ENDIAN))
		return MRING_EGEOMETRY;
	if (c->version < 1 || c->version > MRING_FORMAT_VERSION)
		return MRING_EVERSION;
	if (c->checksum != mring__ctl_checksum(c))
		return MRING_ECHECKSUM;
	if (c->endian != MRING__ENDIAN)
		return MRING_EGEOMETRY;
	if (c->max_consumers < 1 || c->max_consumers > MRING__MAX_CONSUMERS ||
	    c->ctl_size != mring__ctl_size(c->max_consumers))
		return MRING_ECORRUPT;
	/* Version 1 has no timestamps; they need records. */
	if (c->flags & ~(uint32_t)(c->version == 1 ? MRING__STORED_FLAGS_V1
	                                           : MRING__STORED_FLAGS))
		return MRING_ECORRUPT;
	if ((c->flags & MRING_F_TIMESTAMPS) && !(c->flags & MRING_F_RECORDS))
		return MRING_ECORRUPT;
	if (c->capacity == 0 || c->capacity >= MRING__MAX_CAPACITY ||
	    c->data_offset % MRING__DATA_ALIGN ||
	    c->data_offset < c->ctl_size ||
	    c->data_offset >= MRING__MAX_CAPACITY)
		return MRING_ECORRUPT;
	/* Windows are page multiples, and no page is smaller than 4 KiB. */
	if (c->max_record < 1 || c->window < 1 || c->window % 4096)
		return MRING_ECORRUPT;
	/* max_record counts the stamp: room for at least one byte more. */
	if ((c->flags & MRING_F_TIMESTAMPS) && c->max_record <= MRING__TS_BYTES)
		return MRING_ECORRUPT;
	/* Valid in itself, but maybe not on this machine's page size. */
	if (c->capacity % (uint64_t)page || c->data_offset % (uint64_t)page ||
	    mring__overlap(c->max_record, page) > c->capacity / 2)
		return MRING_EGEOMETRY;
	if (file_size < c->data_offset + c->capacity)
		return MRING_ETRUNCATED;
	return 0;
}

int mring__ctl_check_dynamic(const struct mring__ctl *c,
                             const struct mring__ctl *later)
{
	/*
	 * Copies of a live control block are not snapshots: its positions
	 * move while the bytes are copied, head (at a lower offset) before
	 * tail, synced and the slots. But head only grows and every other
	 * position stays at or below it, and tail only grows: so positions
	 * from the first copy are held against head from the later one, and
	 * head from the first against tail from the later one. (A file at
	 * rest gives equal copies, and the checks of a single snapshot.)
	 * Consumer slots are the exception: see below.
	 */
	uint64_t head = mring__load_relaxed(&c->head);
	uint64_t tail = mring__load_relaxed(&c->tail);
	uint64_t synced = mring__load_relaxed(&c->synced);
	uint64_t head2 = mring__load_relaxed(&later->head);
	uint64_t tail2 = mring__load_relaxed(&later->tail);

	/* Records start 8-aligned: any other position is inside one. */
	uint64_t misaligned = c->flags & MRING_F_RECORDS ? MRING__REC_ALIGN - 1
	                                                 : 0;

	if (tail > head2 || (head > tail2 && head - tail2 > c->capacity) ||
	    synced > head2 || head2 >= MRING__MAX_CAPACITY * 64 ||
	    ((head | tail | synced | head2 | tail2) & misaligned))
		return MRING_ECORRUPT;
	for (uint32_t i = 0; i < c->max_consumers; i++) {
		const struct mring__slot *s = &c->slots[i];
		uint32_t state = mring__load_relaxed(&s->state);

		if (state > MRING__SLOT_DURABLE)
			return MRING_ECORRUPT;
		if (state == MRING__SLOT_FREE)
			continue;
		if (memchr(s->name, '\0', sizeof(s->name)) == NULL)
			return MRING_ECORRUPT;
		/*
		 * A slot beyond head is no damage: with more slots than
		 * fit in a page (56 of 4 KiB) the control block spans
		 * pages, and write-back before a power cut, or a copy of
		 * a live ring, may keep page 0 (head) older than the page
		 * of a caught-up consumer's slot. Readers clamp it to
		 * head; a producer's recovery pulls it back. Still, no
		 * ring ever got near 2^62.
		 */
		uint64_t pos = mring__load_relaxed(&s->pos);
		if (pos >= MRING__MAX_CAPACITY * 64 || (pos & misaligned))
			return MRING_ECORRUPT;
	}
	return 0;
}

uint32_t mring__rec_check(const struct mring__rec *h, const void *payload,
                          bool crc, bool ts)
{
	uint32_t c = mring__crc32c(0, &h->len, sizeof(h->len));

	c = mring__crc32c(c, &h->seq, sizeof(h->seq));
	/* The payload starts with the stamp: the CRC covers it, and without
	 * the CRC flag the check word still does. */
	if (crc)
		c = mring__crc32c(c, payload, h->len);
	else if (ts)
		c = mring__crc32c(c, payload, MRING__TS_BYTES);
	return c;
}

bool mring__rec_valid(const struct mring *r, const struct mring__rec *h,
                      uint64_t seq)
{
	/*
	 * Work on a copy: in shared memory the producer may be rewriting
	 * the header while we look, and a length read twice could differ.
	 */
	struct mring__rec c;

	memcpy(&c, h, sizeof(c));
	/* With MRING_F_CRC the check covers the payload too. */
	return mring__rec_ok(r, &c, h + 1, seq, UINT64_MAX);
}

/* Geometry from a config, validated; fills the static part of *c. */
static int geometry(const struct mring_config *cfg, struct mring__ctl *c)
{
	long page = mring__os_page_size();
	uint64_t cap = cfg->capacity ? cfg->capacity : DEFAULT_CAPACITY;
	uint32_t cons = cfg->max_consumers ? cfg->max_consumers
	                                   : DEFAULT_CONSUMERS;
	uint64_t maxrec = cfg->max_record;
	/* A stamp rides in every record's payload: max_record counts it. */
	uint64_t tsb = cfg->flags & MRING_F_TIMESTAMPS ? MRING__TS_BYTES : 0;
	/* Small rings are mapped whole: no window ever changes. */
	uint64_t win = cfg->window           ? cfg->window
	               : cap <= WHOLE_WINDOW ? cap
	                                     : DEFAULT_WINDOW;

	if (cap % (uint64_t)page || cap >= MRING__MAX_CAPACITY)
		return -EINVAL;
	if (cfg->flags & ~(unsigned)(MRING__STORED_FLAGS | MRING_F_PREALLOC))
		return -EINVAL;
	if ((cfg->flags & (MRING_F_CRC | MRING_F_TIMESTAMPS)) &&
	    !(cfg->flags & MRING_F_RECORDS))
		return -EINVAL;
	if (cons > MRING__MAX_CONSUMERS)
		return -EINVAL;
	if (maxrec == 0) {
		maxrec = DEFAULT_MAX_RECORD;
		/* Keep a default record within a quarter of a small ring. */
		while (maxrec > 1 &&
		       mring__overlap((uint32_t)(maxrec + tsb), page) > cap / 4)
			maxrec /= 2;
	}
	if (maxrec + tsb > UINT32_MAX)
		return -EINVAL;
	maxrec += tsb;
	if (mring__overlap((uint32_t)maxrec, page) > cap / 2)
		return -EINVAL;
	if (win % (uint64_t)page)
		return -EINVAL;
	/* The whole ring, or a window that fits beside its overlap. */
	if (win >= cap)
		win = cap;
	else if (win > cap - mring__overlap((uint32_t)maxrec, page))
		win = (cap - mring__overlap((uint32_t)maxrec, page)) /
		      (uint64_t)page * (uint64_t)page;

	memcpy(c->magic, MRING__MAGIC, 8);
	/* Version 2 only where it is needed: old libraries keep reading
	 * every ring without timestamps. */
	c->version = tsb ? 2 : 1;
	c->ctl_size = (uint32_t)mring__ctl_size(cons);
	c->endian = MRING__ENDIAN;
	c->page_size = (uint32_t)page;
	c->data_offset = round_up(c->ctl_size, MRING__DATA_START);
	c->capacity = cap;
	c->window = (uint32_t)win;
	c->max_record = (uint32_t)maxrec;
	c->flags = cfg->flags & MRING__STORED_FLAGS;
	c->max_consumers = cons;
	c->created_ns = (uint64_t)mring__os_realtime_ns();
	c->checksum = mring__ctl_checksum(c);
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mring_create(const char *path, const struct mring_config *cfg)
{
	struct mring_config def;
	struct mring__ctl *c;
	int fd, rc;

	if (!path)
		return -EINVAL;
	if (!cfg) {
		mring_config_init(&def);
		cfg = &def;
	}
	uint32_t cons = cfg->max_consumers ? cfg->max_consumers
	                                   : DEFAULT_CONSUMERS;
	if (cons > MRING__MAX_CONSUMERS)
		return -EINVAL;
	/* A ring is data: no execute, set-id or sticky bits. */
	if (cfg->mode & ~0666u)
		return -EINVAL;
	size_t ctl_len = mring__ctl_size(cons);
	c = calloc(1, ctl_len);
	if (!c)
		return -ENOMEM;
	rc = geometry(cfg, c);
	if (rc < 0)
		goto out_free;
	mring__store_relaxed(&c->clean, 1);

	/*
	 * Build the file under a temporary name and link it into place, so
	 * that nobody can open a half-written ring and a failure leaves
	 * nothing behind. O_TMPFILE needs file system support; fall back to
	 * a plain O_EXCL create.
	 */
	char *dir = strdup(path);
	if (!dir) {
		rc = -ENOMEM;
		goto out_free;
	}
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	mode_t mode = cfg->mode ? (mode_t)cfg->mode : 0600;
	bool tmp = true;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	free(dir);
	if (fd < 0) {
		tmp = false;
		fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, mode);
		if (fd < 0) {
			rc = -errno;
			goto out_free;
		}
	}
	if (tmp && access(path, F_OK) == 0) {
		rc = -EEXIST;
		goto out_close;
	}
	rc = write_all(fd, c, ctl_len);
	if (rc < 0)
		goto out_unlink;
	off_t size = (off_t)(c->data_offset + c->capacity);
	if (cfg->flags & MRING_F_PREALLOC) {
		/*
		 * A request the file system cannot hold fails here, before
		 * anything is allocated: fallocate() would take every free
		 * block first, and for a moment every other writer on the
		 * file system would get ENOSPC.
		 */
		struct statvfs vs;
		if (fstatvfs(fd, &vs) == 0 &&
		    (uint64_t)vs.f_bavail * vs.f_frsize < c->capacity) {
			rc = -ENOSPC;
			goto out_unlink;
		}
		rc = posix_fallocate(fd, (off_t)c->data_offset,
		                     (off_t)c->capacity);
		if (rc) {
			rc = -rc;
			goto out_unlink;
		}
	}
	if (ftruncate(fd, size) < 0) {
		rc = -errno;
		goto out_unlink;
	}
	if (fchmod(fd, mode) < 0) {
		rc = -errno;
		goto out_unlink;
	}
	if (tmp) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) <
		    0) {
			rc = -errno;
			goto out_close;
		}
	}
	rc = 0;
	goto out_close;
out_unlink:
	if (!tmp)
		unlink(path);
out_close:
	close(fd);
out_free:
	free(c);
	return rc;
}
