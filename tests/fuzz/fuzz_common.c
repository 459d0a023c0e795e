/*
 * Shared pieces of the libFuzzer targets (see fuzz_common.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "internal.h" /* mring__crc32c, for checksums the fuzzer cannot guess */

#define RAW_MAX_OFFSET (64ull << 20) /* farthest data_offset honoured */
#define RAW_MAX_SIZE (256ull << 20)  /* largest (sparse) file made */

/* ---- input ------------------------------------------------------------- */

uint8_t fz_u8(struct fz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

uint16_t fz_u16(struct fz_in *in)
{
	return (uint16_t)(fz_u8(in) | fz_u8(in) << 8);
}

uint32_t fz_u32(struct fz_in *in)
{
	return fz_u16(in) | (uint32_t)fz_u16(in) << 16;
}

uint64_t fz_u64(struct fz_in *in)
{
	return fz_u32(in) | (uint64_t)fz_u32(in) << 32;
}

/* ---- scratch file ------------------------------------------------------ */

static char dir[96], path[128], tpath[128];

static void cleanup(void)
{
	if (path[0])
		unlink(path);
	if (tpath[0])
		unlink(tpath);
	if (dir[0])
		rmdir(dir);
}

const char *fz_path(void)
{
	if (path[0])
		return path;
	/* tmpfs: the file is written on every run; a disk would be slow. */
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof(dir), "%s/mring-fuzz-%d", base, (int)getpid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		fz_fail("cannot make %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/ring", dir);
	snprintf(tpath, sizeof(tpath), "%s/template", dir);
	atexit(cleanup);
	return path;
}

void fz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("mring fuzz: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

int fz_clean_error(long long rc)
{
	if (rc >= 0)
		return 1;
	if (rc <= MRING_EBADMAGIC && rc >= MRING_ENOSLOT)
		return 1;
	return rc >= -133; /* a negative errno value */
}

int fz_quietly(int (*fn)(void *), void *arg)
{
	static FILE *null;
	FILE *o = stdout, *e = stderr;
	int rc;

	/*
	 * Swap the stdio streams, not the descriptors: the sanitizers write
	 * their reports to descriptor 2, and those must stay visible.
	 */
	if (!null)
		null = fopen("/dev/null", "we");
	if (!null)
		return fn(arg);
	stdout = null;
	stderr = null;
	rc = fn(arg);
	fflush(null);
	stdout = o;
	stderr = e;
	return rc;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- raw images -------------------------------------------------------- */

int fz_write_raw(struct fz_in *in, uint8_t ctl)
{
	const uint8_t *img = in->p;
	size_t len = in->n;
	int fd, rc = -1;

	in->p += len;
	in->n = 0;
	/* The control block: as long as it says, within the input. */
	size_t hlen = len < 512 ? len : 512;
	if (len >= 16) {
		uint32_t cs = (uint32_t)get_le(img + 12, 4);
		if (cs >= 128 && cs <= len)
			hlen = cs;
	}
	uint8_t *h = calloc(1, hlen > 512 ? hlen : 512);
	if (!h)
		return -1;
	memcpy(h, img, hlen);
	if (ctl & 2) {
		char boot[40];
		int bfd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
		memset(boot, 0, sizeof(boot));
		if (bfd >= 0) {
			ssize_t n = read(bfd, boot, sizeof(boot) - 1);
			if (n > 0 && boot[n - 1] == '\n')
				boot[n - 1] = '\0';
			close(bfd);
		}
		memcpy(h + 352, boot, sizeof(boot));
		if (hlen < 392)
			hlen = 392;
	}
	if (ctl & 1) {
		uint32_t sum = mring__crc32c(0, h, 124);
		memcpy(h + 124, &sum, 4);
		if (hlen < 128)
			hlen = 128;
	}
	uint64_t doff = hlen >= 32 ? get_le(h + 24, 8) : 0;
	uint64_t cap = hlen >= 40 ? get_le(h + 32, 8) : 0;
	uint64_t place = doff >= hlen && doff <= RAW_MAX_OFFSET ? doff : hlen;
	uint64_t size = place + (len - (len < hlen ? len : hlen));
	if (place == doff && cap <= RAW_MAX_SIZE - doff && doff + cap > size)
		size = doff + cap;
	if (ctl & 4) {
		uint64_t cut = (uint64_t)((ctl >> 3) + 1) * 4093;
		size = size > cut ? size - cut : 0;
	}

	fd = open(fz_path(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	if (pwrite_all(fd, h, hlen, 0) < 0 ||
	    (len > hlen && pwrite_all(fd, img + hlen, len - hlen, place) < 0) ||
	    ftruncate(fd, (off_t)size) < 0)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(h);
	return rc;
}

/* ---- templates: valid rings with data ---------------------------------- */

#define NMODES 6
#define NGEOM 2
static const unsigned modes[NMODES] = {
	0,
	MRING_F_OVERWRITE,
	MRING_F_RECORDS,
	MRING_F_RECORDS | MRING_F_OVERWRITE,
	MRING_F_RECORDS | MRING_F_CRC,
	MRING_F_RECORDS | MRING_F_CRC | MRING_F_OVERWRITE,
};
static struct fz_tmpl tmpls[NMODES * NGEOM];
static int fd_patch = -1; /* the scratch file, while it is patched */

static int read_some(struct mring *c, int n)
{
	uint8_t buf[1024];

	for (int i = 0; i < n; i++)
		if (mring_read(c, buf, sizeof(buf), 0) <= 0)
			return -1;
	return 0;
}

/*
 * About 2.5 laps of records of varied sizes, a sync two thirds of the way,
 * a durable consumer "d" that read part of it, an observer slot left
 * behind, and the producer closed.
 */
static int build(struct fz_tmpl *t, unsigned flags, int geom)
{
	struct mring_config cfg;
	struct mring *p = NULL, *d = NULL, *o = NULL;
	uint8_t buf[1024];
	uint32_t x = 12345 + flags;
	int fd, rc = -1;

	unlink(tpath);
	mring_config_init(&cfg);
	cfg.capacity = 16384;
	/* The whole ring, or two windows that move (and one wraps): no
	 * more than the pool's three slots, since each mmap costs. */
	cfg.window = geom ? 8192 : 0;
	cfg.max_record = 1000;
	cfg.max_consumers = 4;
	cfg.flags = flags;
	t->cap = cfg.capacity;
	if (mring_create(tpath, &cfg) < 0)
		return -1;
	mring_config_init(&cfg);
	cfg.flags = MRING_F_NO_PREFETCH | MRING_F_NO_URING;
	if (mring_open(tpath, MRING_PRODUCER, &cfg, &p) < 0)
		goto out;
	cfg.consumer_name = "d";
	if (mring_open(tpath, MRING_CONSUMER, &cfg, &d) < 0)
		goto out;
	uint64_t total = t->cap * 5 / 2, done = 0;
	bool synced = false;
	while (done < total) {
		x = x * 1103515245 + 12345;
		size_t n = 1 + (x >> 16) % 600;
		memset(buf, (int)(x >> 8), n);
		ssize_t w = mring_write(p, buf, n, 0);
		if (w == -EAGAIN) {
			if (read_some(d, 4) < 0)
				goto out;
			continue;
		}
		if (w < 0)
			goto out;
		done += (uint64_t)w;
		if (!synced && done > total * 2 / 3) {
			mring_sync(p);
			synced = true;
		}
	}
	read_some(d, 3);
	/* An observer that reads a little and stays attached. */
	cfg.consumer_name = NULL;
	if (mring_open(tpath, MRING_CONSUMER, &cfg, &o) == 0)
		read_some(o, 2);
	mring_close(d);
	d = NULL;
	mring_close(p);
	p = NULL;

	struct mring_info info;
	if (mring_inspect(tpath, &info, NULL, 0) < 0)
		goto out;
	t->flags = flags;
	t->data_off = info.data_offset;
	t->max_record = info.max_record;
	t->ctl_len = 512 + 64 * info.max_consumers;
	t->ctl = malloc(t->ctl_len);
	t->data = malloc(t->cap);
	fd = open(tpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !t->ctl || !t->data ||
	    pread(fd, t->ctl, t->ctl_len, 0) != (ssize_t)t->ctl_len ||
	    pread(fd, t->data, t->cap, (off_t)t->data_off) != (ssize_t)t->cap) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	/* The observer's slot stays "attached" in the image. */
	mring_close(o);
	o = NULL;
	if (flags & MRING_F_RECORDS) {
		t->recs = malloc(sizeof(*t->recs) * 4096);
		if (!t->recs)
			goto out;
		for (uint64_t q = info.tail;
		     q < info.head && t->nrecs < 4096;) {
			uint8_t hd[16];
			for (int i = 0; i < 16; i++)
				hd[i] = t->data[(q + (uint64_t)i) % t->cap];
			t->recs[t->nrecs++] = q;
			q += mring__rec_size((uint32_t)get_le(hd, 4));
		}
	}
	rc = 0;
out:
	mring_close(o);
	mring_close(d);
	mring_close(p);
	unlink(tpath);
	return rc;
}

const struct fz_tmpl *fz_write_template(uint8_t which)
{
	unsigned i = which % (NMODES * NGEOM);
	struct fz_tmpl *t = &tmpls[i];
	int fd, rc;

	fz_path();
	if (fd_patch >= 0) {
		close(fd_patch);
		fd_patch = -1;
	}
	if (!t->ctl && build(t, modes[i % NMODES], (int)(i / NMODES)) < 0)
		fz_fail("cannot build template %u", i);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	rc = pwrite_all(fd, t->ctl, t->ctl_len, 0);
	if (rc == 0)
		rc = pwrite_all(fd, t->data, t->cap, t->data_off);
	close(fd);
	return rc == 0 ? t : NULL;
}

/* ---- damage ------------------------------------------------------------ */

static void put(uint64_t off, const void *v, size_t n)
{
	(void)!pwrite(fd_patch, v, n, (off_t)off);
}

static uint64_t get(uint64_t off, size_t n)
{
	uint8_t b[8] = {0};

	(void)!pread(fd_patch, b, n, (off_t)off);
	return get_le(b, (unsigned)n);
}

/* Data-region bytes at stream position q, wrapping at the end. */
static void put_data(const struct fz_tmpl *t, uint64_t q, const void *v,
                     size_t n)
{
	uint64_t off = q % t->cap;
	size_t first = n < t->cap - off ? n : (size_t)(t->cap - off);

	put(t->data_off + off, v, first);
	if (first < n)
		put(t->data_off, (const uint8_t *)v + first, n - first);
}

static void get_data(const struct fz_tmpl *t, uint64_t q, void *v, size_t n)
{
	uint64_t off = q % t->cap;
	size_t first = n < t->cap - off ? n : (size_t)(t->cap - off);

	memset(v, 0, n);
	(void)!pread(fd_patch, v, first, (off_t)(t->data_off + off));
	if (first < n)
		(void)!pread(fd_patch, (uint8_t *)v + first, n - first,
		             (off_t)t->data_off);
}

/* A new value for a field holding `cur`, as the next input bytes say. */
static uint64_t value(struct fz_in *in, const struct fz_tmpl *t, unsigned how,
                      uint64_t cur)
{
	static const uint64_t others[4] = {128, 136, 320, 512};

	switch (how & 7) {
	case 0:
		return fz_u64(in);
	case 1:
		return cur + (uint64_t)(int64_t)(int16_t)fz_u16(in);
	case 2: /* another position, nearly */
		return get(others[fz_u8(in) & 3], 8) +
		       (uint64_t)(int64_t)(int8_t)fz_u8(in);
	case 3: /* whole laps away */
		return cur + (uint64_t)(int64_t)(int8_t)fz_u8(in) * t->cap;
	case 4:
		return 0;
	case 5: /* record alignment */
		return cur + (uint64_t)(int64_t)(int8_t)fz_u8(in) * 8;
	case 6:
		return cur ^ (1ull << (fz_u8(in) & 63));
	default:
		return fz_u8(in);
	}
}

int fz_patch(struct fz_in *in, const struct fz_tmpl *t)
{
	/* The control block fields producers and consumers write. */
	static const struct {
		uint16_t off, len;
	} ctl_fields[8] = {{128, 8}, {136, 8}, {144, 8}, {152, 4},
	                   {320, 8}, {328, 8}, {340, 4}, {336, 4}};
	if (!in->n)
		return -1;
	uint8_t op = fz_u8(in);
	unsigned a = (op >> 2) & 7, how = op >> 5;
	uint64_t v, off;

	if (fd_patch < 0)
		fd_patch = open(fz_path(), O_RDWR | O_CLOEXEC);
	if (fd_patch < 0)
		return -1;
	switch (op & 3) {
	case 0:
		off = ctl_fields[a].off;
		v = value(in, t, how, get(off, ctl_fields[a].len));
		put(off, &v, ctl_fields[a].len);
		break;
	case 1: {
		uint64_t s = 512 + 64 * (uint64_t)(a & 3);
		if (a & 4) {
			/* state or a name byte */
			uint8_t b = fz_u8(in);
			if (how & 1)
				put(s + 24 + (b & 31), &(uint8_t){fz_u8(in)},
				    1);
			else
				put(s + 16, &(uint32_t){b & 3}, 4);
			break;
		}
		off = s + (how & 4 ? 8 : 0); /* pos or seq */
		v = value(in, t, how, get(off, 8));
		put(off, &v, 8);
		break;
	}
	case 2:
		if (t->nrecs) {
			uint64_t q = t->recs[fz_u16(in) % t->nrecs];
			struct mring__rec h;
			get_data(t, q, &h, sizeof(h));
			switch (a) {
			case 0:
				h.len = fz_u32(in);
				break;
			case 1:
				h.len += (uint32_t)(int32_t)(int8_t)fz_u8(in);
				break;
			case 2:
				h.seq = fz_u64(in);
				break;
			case 3:
				h.seq += (uint64_t)(int64_t)(int8_t)fz_u8(in);
				break;
			case 4:
				h.check = fz_u32(in);
				break;
			case 5: /* a length that passes the check */
				h.len = fz_u16(in);
				/* fall through */
			case 6: {
				/* Re-sign it, as a buggy producer would. */
				uint8_t pl[1024] = {0};
				if (h.len <= sizeof(pl))
					get_data(t, q + 16, pl, h.len);
				h.check = mring__crc32c(0, &h.len, 4);
				h.check = mring__crc32c(h.check, &h.seq, 8);
				if (t->flags & MRING_F_CRC)
					h.check = mring__crc32c(
						h.check, pl,
						h.len <= sizeof(pl) ? h.len
								    : 0);
				break;
			}
			default: {
				uint8_t b = fz_u8(in);
				put_data(t, q + 16 + fz_u8(in), &b, 1);
				break;
			}
			}
			put_data(t, q, &h, sizeof(h));
			break;
		}
		/* fall through: byte mode has no headers */
	default: {
		uint64_t q = fz_u16(in) % t->cap;
		size_t n = 1 + (op >> 2);
		uint8_t b[64];
		for (size_t i = 0; i < n; i++)
			b[i] = fz_u8(in);
		put_data(t, q, b, n);
		break;
	}
	}
	return 0;
}
