/*
 * Window pool: a handle reserves address space for a few windows once and
 * recycles it. A window maps `win + overlap` bytes of the stream; when that
 * stretch crosses the end of the data region it is two mappings placed back
 * to back, so the bytes are contiguous in memory (the double-mapped,
 * virtual-wraparound ring).
 *
 * Slots are keyed by file offset, not stream position: when the window
 * divides the capacity, the next lap finds its windows still mapped, with
 * their page tables filled, and maps nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>

#include "internal.h"

#define LARGE_PAGE (2u << 20)
#define WILLNEED_MAX (32u << 20) /* read-ahead a consumer asks for */

static size_t stride(const struct mring__pool *p)
{
	/* Slots start 2 MiB apart so a window can use large pages. */
	return (p->slot_len + LARGE_PAGE - 1) / LARGE_PAGE * LARGE_PAGE;
}

int mring__pool_init(struct mring__pool *p, int fd, uint64_t data_off,
                     uint64_t cap, uint64_t win, uint64_t overlap, int prot)
{
	int rc;

	*p = (struct mring__pool){
		.slot_len = (size_t)(win + overlap),
		.win = win,
		.prot = prot,
		.fd = fd,
		.data_off = data_off,
		.cap = cap,
		.cur = -1,
		.pin = -1,
		.hold = -1,
	};
	pthread_mutex_init(&p->mu, NULL);
	/* Either the window fits beside its overlap, or it is the whole ring
	 * and always starts at offset 0: two mappings at most. */
	if ((win + overlap > cap && win != cap) || win == 0 || overlap > cap)
		return MRING_EGEOMETRY;
	/* A window of the whole ring always starts at offset 0: one slot
	 * serves everyone (3 would reserve 3 GiB per handle of a 1 GiB ring,
	 * 12 TiB of address space for 4,096 consumers). */
	p->nslots = win == cap ? 1 : MRING__POOL_SLOTS;
	p->base_len = stride(p) * p->nslots;
	rc = mring__os_reserve(p->base_len, LARGE_PAGE, &p->base);
	if (rc < 0) {
		p->base = NULL;
		return rc == -ENOMEM ? MRING_EGEOMETRY : rc;
	}
	return 0;
}

void mring__pool_fini(struct mring__pool *p)
{
	if (!p->base_len)
		return; /* never initialised */
	mring__os_unreserve(p->base, p->base_len);
	p->base = NULL;
	p->base_len = 0;
	pthread_mutex_destroy(&p->mu);
}

/*
 * MADV_POPULATE_WRITE reports a fault the kernel could not satisfy as
 * -EFAULT, where a plain write would have raised SIGBUS: most often the
 * file system is full (a sparse ring), or the file was truncated under us.
 */
int mring__populate_error(const struct mring__pool *p, int rc)
{
	uint64_t size;

	if (rc != -EFAULT)
		return rc;
	if (mring__os_file_size(p->fd, &size) == 0 &&
	    size < p->data_off + p->cap)
		return MRING_ETRUNCATED;
	if (mring__os_fs_full(p->fd))
		return -ENOSPC;
	return -EIO;
}

/* Map the stream stretch starting at `start` into slot `i`. */
static int map_slot(struct mring__pool *p, unsigned i, uint64_t start)
{
	uint8_t *base = p->base + (size_t)i * stride(p);
	uint64_t off = start % p->cap;
	size_t first = p->slot_len;
	uint64_t size;
	int rc;

	/*
	 * mmap() beyond the end of a file succeeds and the first access
	 * raises SIGBUS. A file truncated since open is reported here, at
	 * the window change, instead (a truncation after this check still
	 * raises SIGBUS: see mring.h, "Limits").
	 */
	rc = mring__os_file_size(p->fd, &size);
	if (rc < 0)
		return rc;
	if (size < p->data_off + p->cap)
		return MRING_ETRUNCATED;
	if (first > p->cap - off)
		first = (size_t)(p->cap - off);
	rc = mring__os_map_fixed(base, first, p->prot, p->fd,
	                         p->data_off + off);
	if (rc == 0 && first < p->slot_len)
		rc = mring__os_map_fixed(base + first, p->slot_len - first,
		                         p->prot, p->fd, p->data_off);
	if (rc < 0) {
		/* Leave the slot inaccessible rather than half mapped. */
		(void)mring__os_unmap_fixed(base, p->slot_len);
		p->slot[i].mapped = false;
		return rc;
	}
	p->slot[i].off = off;
	p->slot[i].mapped = true;
	/* Large folios where the file system has them: fewer faults and
	 * page-table pages. Where it has not, the advice costs nothing. */
	if (p->huge)
		(void)mring__os_advise(base, p->slot_len, MADV_HUGEPAGE);
	return 0;
}

int mring__pool_get(struct mring__pool *p, uint64_t start, uint8_t **base,
                    bool thread)
{
	uint64_t off = start % p->cap;
	bool mapped = false;
	int i, rc = 0;

	pthread_mutex_lock(&p->mu);
	for (i = 0; i < (int)p->nslots; i++)
		if (p->slot[i].mapped && p->slot[i].off == off)
			break;
	if (i == (int)p->nslots) {
		/* Recycle a slot nobody stands in. (With one slot, the only
		 * window is found above once mapped: this runs at most
		 * until the first mapping succeeds, with nobody in it.) */
		do {
			i = (int)p->next;
			p->next = (p->next + 1) % p->nslots;
		} while (i == p->cur || i == p->pin || i == p->hold);
		rc = map_slot(p, (unsigned)i, start);
		mapped = true;
	}
	if (rc >= 0) {
		if (thread)
			p->pin = i;
		else
			p->cur = i;
		*base = p->base + (size_t)i * stride(p);
		rc = mapped;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void mring__pool_unpin(struct mring__pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->pin = -1;
	pthread_mutex_unlock(&p->mu);
}

void mring__pool_zap(struct mring__pool *p, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&p->mu);
	for (unsigned i = 0; i < p->nslots; i++) {
		if (!p->slot[i].mapped)
			continue;
		uint64_t s = p->slot[i].off, e = s + p->slot_len;
		/* A slot crossing the end of the region maps [0, e - cap)
		 * again after it: the stretch may be there, one lap on. */
		for (uint64_t y = off; y < e; y += p->cap) {
			uint64_t lo = y > s ? y : s;
			uint64_t hi = y + len < e ? y + len : e;
			if (lo < hi)
				(void)mring__os_advise(
					p->base + (size_t)i * stride(p) +
						(lo - s),
					(size_t)(hi - lo), MADV_DONTNEED);
		}
	}
	pthread_mutex_unlock(&p->mu);
}

int mring__window_move(struct mring *r, uint64_t pos)
{
	uint64_t start = pos - pos % r->win;
	uint8_t *base;
	int rc = mring__pool_get(&r->pool, start, &base, false);

	if (rc < 0)
		return rc;
	r->st.windows_mapped += (unsigned)rc;
	r->wbase = base;
	r->wstart = start;
	/*
	 * A consumer catching up may find its data evicted: start reading
	 * ahead of it now rather than one fault at a time. One that keeps
	 * up finds its data cached and skips this.
	 */
	if (r->role == MRING_CONSUMER &&
	    !mring__os_page_cached(base + (pos - start))) {
		uint64_t page = (uint64_t)mring__os_page_size();
		uint64_t at = (pos - start) & ~(page - 1);
		uint64_t end = r->win + r->overlap;
		if (end - at > WILLNEED_MAX)
			end = at + WILLNEED_MAX;
		/*
		 * Nothing at or beyond head is worth reading: it is not
		 * written yet (holes in a new ring, or the previous lap's
		 * bytes). Without this a consumer opening a new ring read
		 * 32 MiB of holes into the page cache. A hint only (rule 4).
		 */
		uint64_t head = mring__load_acquire(&r->ctl->head);
		uint64_t upto = head > start ? head - start : 0;
		upto = (upto + page - 1) & ~(page - 1);
		if (end > upto)
			end = upto;
		/*
		 * The kernel reads at most the device's read-ahead size per
		 * call (force_page_cache_ra): ask in steps of that. Cached
		 * pages are skipped cheaply.
		 */
		uint64_t step = r->ra_step ? r->ra_step : WILLNEED_MAX;
		for (; at < end; at += step) {
			uint64_t len = end - at;
			if (len > step)
				len = step;
			(void)mring__os_willneed(base + at, (size_t)len);
		}
	}
	return 0;
}
