/*
 * Opening and closing rings, statistics, and read-only inspection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * The public structs keep their size and their fields' offsets for all
 * of libmring.so.0 (mring.h, "ABI and versions"): a field is added only
 * by taking words from a struct's reserved_. (LP64: the platforms built
 * and tested; a 32-bit build has other, equally fixed, sizes.)
 */
#if defined(__LP64__)
_Static_assert(sizeof(struct mring_config) == 96, "ABI: mring_config");
_Static_assert(sizeof(struct mring_stats) == 336, "ABI: mring_stats");
_Static_assert(sizeof(struct mring_info) == 256, "ABI: mring_info");
_Static_assert(offsetof(struct mring_info, cache_bytes) == 96,
               "ABI: mring_info");
_Static_assert(sizeof(struct mring_consumer_info) == 128,
               "ABI: mring_consumer_info");
_Static_assert(offsetof(struct mring_consumer_info, pid) == 48,
               "ABI: mring_consumer_info");
#endif

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/*
 * fork
 * ----
 * A child forked without exec shares the parent's open file descriptions,
 * and with them the producer's and consumers' locks: a child that outlives
 * its parent would keep a dead producer's ring locked. The ring's mappings
 * are not inherited (MADV_DONTFORK, os.c), and the child closes the
 * descriptors of every open handle right after fork(); the handles are
 * then unusable (MRING_EFORKED). The list of open handles is guarded by a
 * mutex that the atfork handlers take around fork() itself.
 */
static pthread_mutex_t handles_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mring *handles;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	pthread_mutex_lock(&handles_mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&handles_mu);
}

static void fork_child(void)
{
	for (struct mring *r = handles; r; r = r->fork_next) {
		close(r->fd); /* async-signal-safe, as a child must be */
		r->fd = -1;
		mring__ev_forked(r);
		r->forked = true;
		r->role = 0;
	}
	handles = NULL;
	pthread_mutex_unlock(&handles_mu);
}

static void atfork_init(void)
{
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void handle_add(struct mring *r)
{
	pthread_once(&atfork_once, atfork_init);
	pthread_mutex_lock(&handles_mu);
	r->fork_prev = NULL;
	r->fork_next = handles;
	if (handles)
		handles->fork_prev = r;
	handles = r;
	pthread_mutex_unlock(&handles_mu);
}

static void handle_remove(struct mring *r)
{
	pthread_mutex_lock(&handles_mu);
	if (r->fork_prev)
		r->fork_prev->fork_next = r->fork_next;
	else if (handles == r)
		handles = r->fork_next;
	if (r->fork_next)
		r->fork_next->fork_prev = r->fork_prev;
	pthread_mutex_unlock(&handles_mu);
}

/*
 * Open `path` without following a symbolic link in its last component:
 * a link planted where a ring is expected must not redirect a privileged
 * process to another file. -ELOOP also comes from a loop among the
 * directories; only a link at the end is MRING_ESYMLINK.
 */
static int open_ring(const char *path, int flags)
{
	struct stat st;
	int fd = open(path,
	              flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
	int err = errno;

	if (fd >= 0)
		return fd;
	if (err == ELOOP && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		return MRING_ESYMLINK;
	return -err;
}

/*
 * Open `path` and read its whole control block into a private buffer,
 * validating the static part against the file's size and this machine.
 * Unless `any_owner`, the file must belong to the caller's effective uid.
 */
static int load_ctl(const char *path, int flags, bool any_owner, int *fdp,
                    struct mring__ctl **out, uint64_t *file_size)
{
	struct mring__ctl head;
	struct stat st;
	int fd, rc;

	fd = open_ring(path, flags);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	/* A FIFO, device or socket is no ring file. */
	if (!S_ISREG(st.st_mode)) {
		rc = MRING_EBADMAGIC;
		goto fail;
	}
	/* Checked on the open file, so a rename after it changes nothing. */
	if (!any_owner && st.st_uid != geteuid()) {
		rc = MRING_EOWNER;
		goto fail;
	}
	ssize_t n = pread(fd, &head, sizeof(head), 0);
	if (n < 0) {
		rc = -errno;
		goto fail;
	}
	if ((size_t)n < 8 || memcmp(head.magic, MRING__MAGIC, 8) != 0) {
		rc = MRING_EBADMAGIC;
		goto fail;
	}
	if ((size_t)n < sizeof(head)) {
		rc = MRING_ETRUNCATED;
		goto fail;
	}
	rc = mring__ctl_check_static(&head, (uint64_t)st.st_size,
	                             mring__os_page_size());
	if (rc < 0)
		goto fail;
	struct mring__ctl *c = malloc(head.ctl_size);
	if (!c) {
		rc = -ENOMEM;
		goto fail;
	}
	n = pread(fd, c, head.ctl_size, 0);
	if (n != (ssize_t)head.ctl_size) {
		free(c);
		rc = n < 0 ? -errno : MRING_ETRUNCATED;
		goto fail;
	}
	/* The static part must not have changed between the two reads. */
	if (memcmp(c, &head, offsetof(struct mring__ctl, head)) != 0) {
		free(c);
		rc = MRING_ECORRUPT;
		goto fail;
	}
	*fdp = fd;
	*out = c;
	*file_size = (uint64_t)st.st_size;
	return 0;
fail:
	close(fd);
	return rc;
}

/*
 * How many times the moving part is read before a failed check counts as
 * damage. read() promises nothing about a word that changes while it is
 * copied: the kernel's copy can stop inside it (an interrupt, a fault on
 * the destination page) and copy the rest later, so a copy of a live ring
 * can hold a position that never was, its low bytes older than its high
 * ones (seen: a head above the head copied after it, the ring wider than
 * its capacity). Such a tear needs the copy to stop inside the very word
 * that is being written, and a second tear in a row is as unlikely again;
 * damage in the file fails every time.
 */
#define CTL_READS 4

/*
 * Check the moving part of the control block copied in `c`: against a
 * second copy of the fixed part, read now (see mring__ctl_check_dynamic).
 * A copy that fails is read again (CTL_READS), its fixed part unchanged.
 * *head: head from that second copy, at or above every position in `c`.
 */
static int check_dynamic(int fd, struct mring__ctl *c, uint64_t *head)
{
	unsigned char fixed[offsetof(struct mring__ctl, head)];
	const uint32_t size = c->ctl_size;
	struct mring__ctl later;
	int rc = MRING_ECORRUPT;
	ssize_t n;

	memcpy(fixed, c, sizeof(fixed));
	for (int i = 0; i < CTL_READS && rc == MRING_ECORRUPT; i++) {
		if (i > 0) {
			n = pread(fd, c, size, 0);
			if (n != (ssize_t)size)
				return n < 0 ? -errno : MRING_ETRUNCATED;
			if (memcmp(c, fixed, sizeof(fixed)) != 0)
				return MRING_ECORRUPT;
		}
		n = pread(fd, &later, sizeof(later), 0);
		if (n != (ssize_t)sizeof(later))
			return n < 0 ? -errno : MRING_ETRUNCATED;
		*head = mring__load_relaxed(&later.head);
		rc = mring__ctl_check_dynamic(c, &later);
	}
	return rc;
}

/* Window stride for a handle: asked for, or the file's, clamped. */
static int window_size(struct mring *r, const struct mring__ctl *c,
                       uint32_t asked)
{
	uint64_t page = (uint64_t)mring__os_page_size();
	uint64_t win = asked ? asked : c->window;

	if (win % page)
		return asked ? -EINVAL : MRING_EGEOMETRY;
	r->overlap = mring__overlap(c->max_record, (long)page);
	/* The whole ring, or a stretch that fits beside the overlap. */
	if (win >= c->capacity)
		win = c->capacity;
	else if (win > c->capacity - r->overlap)
		win = (c->capacity - r->overlap) / page * page;
	if (win < page)
		return MRING_EGEOMETRY;
	r->win = win;
	return 0;
}

int mring_open(const char *path, int role, const struct mring_config *cfg,
               struct mring **out)
{
	struct mring_config def;
	struct mring__ctl *copy;
	struct mring *r;
	uint64_t size, head;
	int rc;

	if (!path || !out || (role != MRING_PRODUCER && role != MRING_CONSUMER))
		return -EINVAL;
	*out = NULL;
	if (!cfg) {
		mring_config_init(&def);
		cfg = &def;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = -1;
	r->role = role;
	/*
	 * A read-only observer: asked for, or an observer that may only read
	 * the file (permissions, a read-only mount). Nothing it does writes
	 * to the file; a durable consumer must write its position.
	 */
	r->rdonly = cfg->flags & MRING_F_READONLY;
	if (r->rdonly && (role != MRING_CONSUMER || cfg->consumer_name)) {
		free(r);
		return -EINVAL;
	}
	rc = load_ctl(path, r->rdonly ? O_RDONLY : O_RDWR,
	              cfg->flags & MRING_F_ANY_OWNER, &r->fd, &copy, &size);
	if ((rc == -EACCES || rc == -EROFS) && role == MRING_CONSUMER &&
	    !cfg->consumer_name && !r->rdonly) {
		int denied = rc;
		r->rdonly = true;
		rc = load_ctl(path, O_RDONLY, cfg->flags & MRING_F_ANY_OWNER,
		              &r->fd, &copy, &size);
		/* Another user's file without the opt-in: the answer stays
		 * the one the open for writing gave. */
		if (rc == MRING_EOWNER)
			rc = denied;
	}
	if (rc < 0)
		goto fail;
	rc = check_dynamic(r->fd, copy, &head);
	if (rc == 0) {
		/* Geometry comes from the validated copy, never re-read. */
		r->flags = copy->flags;
		r->records = copy->flags & MRING_F_RECORDS;
		r->overwrite = copy->flags & MRING_F_OVERWRITE;
		r->crc = copy->flags & MRING_F_CRC;
		r->cap = copy->capacity;
		r->data_off = copy->data_offset;
		r->max_record = copy->max_record;
		r->tsb = copy->flags & MRING_F_TIMESTAMPS ? MRING__TS_BYTES : 0;
		r->nslots = copy->max_consumers;
		r->ctl_len = round_up(copy->ctl_size,
		                      (uint64_t)mring__os_page_size());
		rc = window_size(r, copy, cfg->window);
	}
	free(copy);
	if (rc < 0)
		goto fail;
	/* In byte mode a reservation may be as large as max_record. */
	rc = mring__os_map_ctl(r->fd, r->ctl_len,
	                       r->rdonly ? PROT_READ : PROT_READ | PROT_WRITE,
	                       (void **)&r->ctl);
	if (rc < 0)
		goto fail;
	rc = mring__pool_init(
		&r->pool, r->fd, r->data_off, r->cap, r->win, r->overlap,
		role == MRING_PRODUCER ? PROT_READ | PROT_WRITE : PROT_READ);
	if (rc < 0)
		goto fail;
	r->st.capacity = r->cap;
	(void)mring__os_thread_faults(&r->flt_min0, &r->flt_maj0);
	rc = role == MRING_PRODUCER ? mring__producer_attach(r, cfg)
	                            : mring__consumer_attach(r, cfg);
	if (rc < 0)
		goto fail;
	/* (A fork() during open gives the child a descriptor it does not
	 * know of; its locks are the child's to drop when it exits.) */
	handle_add(r);
	*out = r;
	return 0;
fail:
	mring__index_detach(r);
	mring__pool_fini(&r->pool);
	if (r->ctl)
		mring__os_unmap(r->ctl, r->ctl_len);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
	return rc;
}

void mring_close(struct mring *r)
{
	if (!r)
		return;
	if (r->forked) {
		/* A child's copy: nothing of it is mapped or open here. The
		 * maintenance thread's state was copied too, without the
		 * thread. */
		mring__maint_forget(r);
		free(r->batch_len);
		mring__ev_forget(r);
		free(r);
		return;
	}
	handle_remove(r);
	/* The descriptor's thread reads the control block: stop it first. */
	mring__ev_stop(r);
	if (r->role == MRING_PRODUCER)
		mring__producer_detach(r);
	else
		mring__consumer_detach(r);
	mring__index_detach(r);
	free(r->batch_len);
	mring__pool_fini(&r->pool);
	mring__os_unmap(r->ctl, r->ctl_len);
	close(r->fd);
	free(r);
}

int mring_stats(struct mring *r, struct mring_stats *st)
{
	if (!r || !st)
		return -EINVAL;
	if (r->forked)
		return MRING_EFORKED;
	*st = r->st;
	st->head = mring__load_acquire(&r->ctl->head);
	st->tail = mring__load_acquire(&r->ctl->tail);
	if (r->role == MRING_CONSUMER) {
		st->position = r->pos;
		st->lag = st->head > r->pos ? st->head - r->pos : 0;
	} else {
		st->position = r->head;
		int64_t mi, ma;
		/* Faults of the calling (producer) thread since open. */
		if (mring__os_thread_faults(&mi, &ma) == 0) {
			st->minor_faults = (uint64_t)(mi - r->flt_min0);
			st->major_faults = (uint64_t)(ma - r->flt_maj0);
		}
	}
	mring__maint_stats(r, st);
	return 0;
}

/* ---- inspection without attaching -------------------------------------- */

int mring_inspect(const char *path, struct mring_info *info,
                  struct mring_consumer_info *cons, unsigned ncons)
{
	struct mring__ctl *c;
	uint64_t size, head;
	int fd, rc, used = 0;

	if (!path || !info || (ncons && !cons))
		return -EINVAL;
	/* Any owner: nothing here writes the file or touches a mapping of
	 * it (the control block is a private copy; residency is asked with
	 * cachestat or mincore, which never fault), so it cannot hurt us. */
	rc = load_ctl(path, O_RDONLY, true, &fd, &c, &size);
	if (rc < 0)
		return rc;
	rc = check_dynamic(fd, c, &head);
	if (rc < 0)
		goto out;
	memset(info, 0, sizeof(*info));
	info->format_version = c->version;
	info->flags = c->flags;
	info->capacity = c->capacity;
	info->data_offset = c->data_offset;
	info->file_size = size;
	info->window = c->window;
	/* The largest payload: the stamp is not the caller's. */
	info->max_record =
		c->max_record -
		(c->flags & MRING_F_TIMESTAMPS ? MRING__TS_BYTES : 0);
	info->max_consumers = c->max_consumers;
	/* Read after every position below, so none is beyond it. */
	info->head = head;
	info->tail = mring__load_relaxed(&c->tail);
	info->synced = mring__load_relaxed(&c->synced);
	info->eof = (int)mring__load_relaxed(&c->eof);
	info->producer_pid = (pid_t)mring__load_relaxed(&c->prod_pid);
	info->created_ns = c->created_ns;
	/* Residency is a hint; a kernel that cannot tell is not an error. */
	if (mring__os_cached(fd, c->data_offset, c->capacity,
	                     &info->cache_bytes) < 0)
		info->cache_bytes = UINT64_MAX;
	rc = mring__os_lock_held(fd, 0);
	if (rc < 0)
		goto out;
	/* The lock is the truth: a pid may belong to another pid namespace
	 * (or to a new process that reused it). */
	info->producer_alive = rc;
	for (uint32_t i = 0; i < c->max_consumers; i++) {
		struct mring__slot *s = &c->slots[i];
		uint32_t state = mring__load_relaxed(&s->state);
		if (state == MRING__SLOT_FREE)
			continue;
		rc = mring__os_lock_held(fd, 1 + (uint64_t)i);
		if (rc < 0)
			goto out;
		/* A dead observer's slot is free for the taking. */
		if (state == MRING__SLOT_OBSERVER && !rc)
			continue;
		if ((unsigned)used < ncons) {
			struct mring_consumer_info *ci = &cons[used];
			memset(ci, 0, sizeof(*ci));
			memcpy(ci->name, s->name, sizeof(ci->name));
			ci->name[MRING_NAME_MAX] = '\0';
			ci->position = mring__load_relaxed(&s->pos);
			/* A torn control block (format.c): shown at head. */
			if (ci->position > head)
				ci->position = head;
			ci->durable = state == MRING__SLOT_DURABLE;
			ci->alive = rc;
			ci->pid = (pid_t)mring__load_relaxed(&s->pid);
		}
		used++;
	}
	info->consumers = (uint32_t)used;
	rc = used;
out:
	free(c);
	close(fd);
	return rc;
}

int mring_consumer_remove(const char *path, const char *name)
{
	struct mring__ctl *copy, *c = NULL;
	uint64_t size, head;
	size_t len = 0;
	int fd, rc;

	if (!path || !name || !name[0] || strlen(name) > MRING_NAME_MAX)
		return -EINVAL;
	rc = load_ctl(path, O_RDWR, false, &fd, &copy, &size);
	if (rc < 0)
		return rc;
	rc = check_dynamic(fd, copy, &head);
	uint32_t nslots = copy->max_consumers;
	len = round_up(copy->ctl_size, (uint64_t)mring__os_page_size());
	free(copy);
	if (rc < 0)
		goto out;
	rc = mring__os_map_ctl(fd, len, PROT_READ | PROT_WRITE, (void **)&c);
	if (rc < 0)
		goto out;
	rc = mring__os_lock(fd, MRING__REGISTRY_LOCK, 1);
	if (rc < 0)
		goto out;
	rc = -ENOENT;
	for (uint32_t i = 0; i < nslots; i++) {
		struct mring__slot *s = &c->slots[i];
		if (mring__load_acquire(&s->state) != MRING__SLOT_DURABLE ||
		    strncmp(s->name, name, sizeof(s->name)) != 0)
			continue;
		rc = mring__os_lock(fd, 1 + (uint64_t)i, 0);
		if (rc < 0)
			break; /* -EBUSY: attached in a live process */
		mring__store_release(&s->state, MRING__SLOT_FREE);
		atomic_fetch_add_explicit(&c->cons_gen, 1,
		                          memory_order_seq_cst);
		mring__os_unlock(fd, 1 + (uint64_t)i);
		/* The producer may be waiting for this consumer. */
		mring__wake(&c->space_futex);
		rc = 0;
		break;
	}
	mring__os_unlock(fd, MRING__REGISTRY_LOCK);
out:
	if (c)
		mring__os_unmap(c, len);
	close(fd);
	return rc;
}

int mring_consumer_add(const char *path, const char *name, int start)
{
	struct mring__ctl *copy;
	struct mring *r;
	uint64_t size, head;
	int rc;

	if (!path || !name || !name[0] || strlen(name) > MRING_NAME_MAX ||
	    (start != MRING_START_OLDEST && start != MRING_START_NEWEST))
		return -EINVAL;
	/* Only the fields the registry needs: no window, no read-ahead. */
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	rc = load_ctl(path, O_RDWR, false, &r->fd, &copy, &size);
	if (rc < 0) {
		free(r);
		return rc;
	}
	rc = check_dynamic(r->fd, copy, &head);
	r->nslots = copy->max_consumers;
	r->records = copy->flags & MRING_F_RECORDS;
	r->ctl_len = round_up(copy->ctl_size, (uint64_t)mring__os_page_size());
	free(copy);
	if (rc == 0)
		rc = mring__os_map_ctl(r->fd, r->ctl_len,
		                       PROT_READ | PROT_WRITE,
		                       (void **)&r->ctl);
	if (rc == 0) {
		rc = mring__consumer_add(r, name, start);
		mring__os_unmap(r->ctl, r->ctl_len);
	}
	close(r->fd);
	free(r);
	return rc;
}
