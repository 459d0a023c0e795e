/*
 * The producer: reserve/commit at the head of the stream, back-pressure
 * against durable consumers, the oldest-valid mark (`tail`) raised before
 * data is overwritten, and recovery after a producer died.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * Recompute how far the producer may write: a capacity beyond the slowest
 * durable consumer (back-pressure mode), or anywhere (overwrite mode, or no
 * durable consumer).
 */
void mring__rescan(struct mring *r)
{
	struct mring__ctl *c = r->ctl;
	uint64_t min = UINT64_MAX;

	/* Pairs with the consumer's seq_cst increment after it fills a slot. */
	r->gen_seen = mring__load_acquire(&c->cons_gen);
	if (r->overwrite)
		goto out;
	for (uint32_t i = 0; i < r->nslots; i++) {
		struct mring__slot *s = &c->slots[i];
		if (mring__load_acquire(&s->state) != MRING__SLOT_DURABLE)
			continue;
		/* Pairs with the consumer's store of pos in mring_release. */
		uint64_t pos = mring__load_acquire(&s->pos);
		/* A consumer's word is not trusted: none reads past head
		 * (min + cap must not wrap, nor free unread data). */
		if (pos > r->head)
			pos = r->head;
		if (pos < min)
			min = pos;
	}
out:
	r->limit = min == UINT64_MAX ? UINT64_MAX : min + r->cap;
	r->bp_limit = r->limit;
	/* Never beyond what is pre-faulted, by the thread or inline. */
	uint64_t ready = r->inline_pf ? r->pf : mring__maint_ready(r);
	if (ready < r->limit)
		r->limit = ready;
}

void mring__tail_raise(struct mring__ctl *c, uint64_t t)
{
	uint64_t old = mring__load_relaxed(&c->tail);

	/* Two writers (producer, maintenance thread): it only grows. */
	while (old < t && !atomic_compare_exchange_weak_explicit(
				  &c->tail, &old, t, memory_order_seq_cst,
				  memory_order_relaxed))
		;
}

/*
 * The first record boundary of the previous lap at or after `target`,
 * walking its records from boundary t: they lie at stream position
 * `t + cap`, inside the current window (the caller mapped the window that
 * holds the head). Unreadable old data: none of it is valid (head).
 */
static uint64_t past_old_records(struct mring *r, uint64_t t, uint64_t target)
{
	while (t < target) {
		uint32_t len = mring__rec_load(mring__at(r, t + r->cap)).len;
		if (len < 1 || len > r->max_record)
			return r->head;
		t += mring__rec_size(len);
	}
	return t;
}

/*
 * Raise the oldest-valid mark to a record boundary at or after `target`,
 * before the bytes below it are overwritten.
 */
static void advance_tail(struct mring *r, uint64_t target)
{
	/* The maintenance thread may have raised it already. */
	uint64_t t = mring__load_relaxed(&r->ctl->tail);

	/* Only the maintenance thread raises it too, never past head:
	 * anything else was written by someone else and is ignored. */
	if (t < r->tail || t > r->head)
		t = r->tail;
	if (t < target) {
		t = r->records ? past_old_records(r, t, target) : target;
		mring__tail_raise(r->ctl, t);
	}
	/*
	 * From here on the producer overwrites everything below t + cap,
	 * whether it raised tail itself or the maintenance thread did.
	 */
	r->tail = t;
	if (r->overwrite) {
		/*
		 * Consumers compare their position with `tail` after reading
		 * data: keep the store (ours, or the thread's that we read)
		 * ahead of the writes that overwrite it (H5).
		 */
		mring__fence_release();
		return;
	}
	/*
	 * Back-pressure: a durable consumer may have joined since we last
	 * looked, at a tail below t. Store-buffer handshake H4 with its "fill
	 * slot; bump cons_gen; full fence; load tail": either it sees t and
	 * starts above it, or we see its slot here. Taking the thread's
	 * higher tail counts as raising it: the thread keeps the data when it
	 * sees the consumer, and so must we (the thread's check does not
	 * stop our writes).
	 */
	mring__fence_seqcst();
	MRING__CHAOS();
	if (mring__load_relaxed(&r->ctl->cons_gen) != r->gen_seen)
		mring__rescan(r);
}

/*
 * Without a maintenance thread the producer pre-faults for itself, a
 * little at a time: MADV_POPULATE_WRITE turns a full disk into an error
 * where a plain store would raise SIGBUS, and one call per step costs less
 * than a fault per page. Never far ahead: pages faulted in too early are
 * evicted again before the writer reaches them when memory is tight.
 */
#define INLINE_PF_STEP (1u << 20)

static int prefault_inline(struct mring *r, uint64_t end)
{
	uint64_t page = (uint64_t)mring__os_page_size();
	uint64_t from = r->pf > r->head ? r->pf : r->head & ~(page - 1);
	uint64_t to = (end + INLINE_PF_STEP - 1) &
	              ~(uint64_t)(INLINE_PF_STEP - 1);
	/* The current window holds [head, end); stay inside it. */
	uint64_t wend = r->wstart + r->win + r->overlap;

	if (to > wend)
		to = wend;
	if (to > from) {
		int rc = mring__os_populate_write(mring__at(r, from),
		                                  (size_t)(to - from));
		/* EINVAL: a kernel before 5.14; ordinary faults then. */
		if (rc < 0 && rc != -EINVAL)
			return mring__populate_error(&r->pool, rc);
	}
	r->pf = to;
	r->limit = r->bp_limit < to ? r->bp_limit : to;
	return 0;
}

static bool space_ok(struct mring *r)
{
	mring__rescan(r);
	/* Without a thread, the producer pre-faults once there is room. */
	if (r->inline_pf)
		return r->want <= r->bp_limit;
	return r->want <= r->limit || mring__maint_error(r) < 0;
}

/* Wait until the producer may write below `end`. */
static int wait_room(struct mring *r, uint64_t end, int64_t deadline,
                     bool nowait)
{
	/* Not full, only not prepared yet: like a page fault, it is waited
	 * for even by a caller who does not want to wait for space. */
	bool thread = end <= r->bp_limit;
	int64_t t0 = 0;
	int rc;

	if (thread && r->inline_pf)
		return prefault_inline(r, end);
	if (thread) {
		/* A pre-fault failed there (disk full...): say so. */
		rc = mring__maint_error(r);
		if (rc < 0)
			return rc;
		mring__maint_kick(r, end);
		t0 = mring__os_now_ns();
		if (nowait)
			deadline = -1;
	} else {
		r->st.producer_waits++;
		if (nowait)
			return -EAGAIN;
	}
	r->want = end;
	rc = mring__wait(r, &r->ctl->space_futex, space_ok, deadline, &r->intr);
	if (rc == 0 && r->inline_pf)
		return prefault_inline(r, end);
	if (thread)
		r->st.maint_wait_ns += (uint64_t)(mring__os_now_ns() - t0);
	if (rc < 0 && thread && mring__maint_error(r) < 0)
		return mring__maint_error(r);
	return rc;
}

/* Slow path of reserve: wait for space, then make the space overwritable. */
static int make_room(struct mring *r, uint64_t end, int64_t deadline,
                     bool nowait)
{
	for (;;) {
		if (end > r->limit) {
			mring__rescan(r);
			if (end > r->limit) {
				int rc = wait_room(r, end, deadline, nowait);
				if (rc < 0)
					return rc;
				/*
				 * Look again: the wait also ends when the
				 * thread failed to pre-fault (disk full), and
				 * pages beyond `limit` may not be writable:
				 * storing there would raise SIGBUS.
				 */
				continue;
			}
		}
		if (end <= r->tail + r->cap)
			return 0;
		advance_tail(r, end - r->cap);
		if (end <= r->limit)
			return 0;
	}
}

static int reserve(struct mring *r, size_t len, void **ptr, int64_t deadline,
                   bool nowait)
{
	if (mring__unlikely(r->role != MRING_PRODUCER))
		return mring__role_error(r);
	/* Records with timestamps: the stamp takes tsb of max_record. */
	if (mring__unlikely(len - 1 >= r->max_record - r->tsb))
		return -EMSGSIZE;

	uint64_t need = r->records ? mring__rec_size(len + r->tsb) : len;
	uint64_t end = r->head + need;
	int rc = mring__window(r, r->head);

	if (mring__unlikely(rc < 0))
		return rc;
	if (mring__unlikely(end > r->limit || end > r->tail + r->cap)) {
		rc = make_room(r, end, deadline, nowait);
		if (rc < 0)
			return rc;
	}
	r->resv = len;
	*ptr = mring__at(r, r->head) +
	       (r->records ? MRING__REC_HDR + r->tsb : 0);
	return 0;
}

int mring_reserve(struct mring *r, size_t len, void **ptr, int timeout_ms)
{
	return reserve(r, len, ptr, mring__deadline(timeout_ms),
	               timeout_ms == 0);
}

ssize_t mring_prefault(struct mring *r, size_t len, int timeout_ms)
{
	if (r->role != MRING_PRODUCER)
		return mring__role_error(r);

	int rc = mring__window(r, r->head);
	if (rc < 0)
		return rc;
	/* Without a thread, prefault_inline stops at the window's end. */
	uint64_t reach = r->inline_pf ? r->cap : mring__maint_reach(r);
	if (len > reach)
		len = (size_t)reach;
	mring__rescan(r);
	uint64_t end = r->head + len;
	/* Data a consumer still needs is not prepared over: that would be
	 * waiting for the consumer. */
	if (end > r->bp_limit)
		end = r->bp_limit;
	if (end > r->limit) {
		/* A wait asked for is not a stall: maint_wait_ns counts
		 * only what writing waited. */
		uint64_t waited = r->st.maint_wait_ns;
		if (timeout_ms == 0 && !r->inline_pf) {
			mring__maint_kick(r, end);
			rc = -EAGAIN;
		} else {
			rc = wait_room(r, end, mring__deadline(timeout_ms),
			               false);
		}
		r->st.maint_wait_ns = waited;
		mring__rescan(r);
		/* The thread stopped short (disk full...): say why. */
		if (r->limit < end && mring__maint_error(r) < 0)
			return mring__maint_error(r);
		if (rc < 0 && r->limit < end)
			return rc;
	}
	uint64_t ready = r->limit < end ? r->limit : end;
	return ready > r->head ? (ssize_t)(ready - r->head) : 0;
}

/*
 * The record [s, e) crosses chunk boundaries: the next record, at e, is
 * the first to start in each chunk it entered. The maintenance thread
 * raises `tail` to such boundaries one lap later.
 */
static void note_bounds(struct mring *r, uint64_t s, uint64_t e)
{
	for (uint64_t k = (s >> r->cshift) + 1; k <= e >> r->cshift; k++)
		mring__store_release(&r->bounds[k % r->nbounds], e);
}

/*
 * Commit `len` bytes; records with timestamps are stamped `ts`, or with
 * the clock if !given (never below the last stamp: seek by time bisects).
 */
static int commit(struct mring *r, size_t len, uint64_t ts, bool given)
{
	uint64_t adv = len;

	if (mring__unlikely(r->role != MRING_PRODUCER))
		return mring__role_error(r);
	if (mring__unlikely(len > r->resv))
		return -EINVAL;
	r->resv = 0;
	if (len == 0)
		return 0;
	if (r->records) {
		uint8_t *at = mring__at(r, r->head);
		struct mring__rec h = {.len = (uint32_t)(len + r->tsb),
		                       .seq = r->seq};
		if (r->tsb) {
			if (!given) {
				ts = (uint64_t)mring__os_realtime_ns();
				if (ts < r->last_ts)
					ts = r->last_ts;
			}
			r->last_ts = ts;
			memcpy(at + MRING__REC_HDR, &ts, sizeof(ts));
		}
		h.check = mring__rec_check(&h, at + MRING__REC_HDR, r->crc,
		                           r->tsb != 0);
		memcpy(at, &h, sizeof(h));
		adv = mring__rec_size(len + r->tsb);
		mring__index_note(r, r->head, r->seq, ts);
		/*
		 * Written before head: recovery relies on that order. A
		 * release store, so that it is also seen after the previous
		 * commit's head (mring__seq_at_head counts on "head_seq is S
		 * or S + 1"): a plain store after that release store of head
		 * may become visible first on arm64.
		 */
		mring__store_release(&r->ctl->head_seq, ++r->seq);
		if (r->bounds &&
		    mring__unlikely((r->head >> r->cshift) !=
		                    ((r->head + adv) >> r->cshift)))
			note_bounds(r, r->head, r->head + adv);
	}
	r->head += adv;
	MRING__CHAOS();
	/*
	 * Publish. Pairs with the consumers' acquire loads of head: the data
	 * and header are visible once head is. mring__wake() then fences and
	 * looks for a sleeping consumer (the store-buffer handshake with
	 * mring__wait()).
	 */
	mring__store_release(&r->ctl->head, r->head);
	mring__wake(&r->ctl->data_futex);
	r->st.bytes_produced += len;
	r->st.records_produced++;
	return 0;
}

int mring_commit(struct mring *r, size_t len)
{
	return commit(r, len, 0, false);
}

int mring_commit_ts(struct mring *r, size_t len, uint64_t ts)
{
	if (r->role == MRING_PRODUCER && !r->tsb)
		return -EINVAL;
	return commit(r, len, ts, true);
}

ssize_t mring_write(struct mring *r, const void *buf, size_t len,
                    int timeout_ms)
{
	int64_t deadline = mring__deadline(timeout_ms);
	const uint8_t *p = buf;
	size_t done = 0;
	void *dst;
	int rc;

	if (r->role != MRING_PRODUCER)
		return mring__role_error(r);
	if (len == 0)
		return r->records ? -EMSGSIZE : 0;
	if (r->records) {
		rc = reserve(r, len, &dst, deadline, timeout_ms == 0);
		if (rc < 0)
			return rc;
		memcpy(dst, p, len);
		rc = mring_commit(r, len);
		return rc < 0 ? rc : (ssize_t)len;
	}
	while (done < len) {
		size_t n = len - done;
		if (n > r->max_record)
			n = r->max_record;
		rc = reserve(r, n, &dst, deadline, timeout_ms == 0);
		if (rc < 0)
			return done ? (ssize_t)done : rc;
		memcpy(dst, p + done, n);
		mring_commit(r, n);
		done += n;
	}
	return (ssize_t)done;
}

ssize_t mring_writev(struct mring *r, const struct iovec *iov, int iovcnt,
                     int timeout_ms)
{
	int64_t deadline = mring__deadline(timeout_ms);
	size_t total = 0, done = 0;
	uint8_t *dst;
	int rc;

	if (r->role != MRING_PRODUCER)
		return mring__role_error(r);
	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - total)
			return r->records ? -EMSGSIZE : -EINVAL;
		total += iov[i].iov_len;
	}
	if (!r->records) {
		/* A stream: reservations filled across buffer boundaries. */
		int i = 0;
		size_t off = 0;
		while (done < total) {
			size_t n = total - done;
			if (n > r->max_record)
				n = r->max_record;
			rc = reserve(r, n, (void **)&dst, deadline,
			             timeout_ms == 0);
			if (rc < 0)
				return done ? (ssize_t)done : rc;
			for (size_t k = 0; k < n;) {
				size_t m = iov[i].iov_len - off;
				if (m > n - k)
					m = n - k;
				if (m)
					memcpy(dst + k,
					       (const uint8_t *)iov[i].iov_base +
					               off,
					       m);
				k += m;
				off += m;
				if (off == iov[i].iov_len) {
					i++;
					off = 0;
				}
			}
			mring_commit(r, n);
			done += n;
		}
		return (ssize_t)done;
	}
	if (total == 0)
		return -EMSGSIZE;
	rc = reserve(r, total, (void **)&dst, deadline, timeout_ms == 0);
	if (rc < 0)
		return rc;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(dst + done, iov[i].iov_base, iov[i].iov_len);
		done += iov[i].iov_len;
	}
	rc = mring_commit(r, total);
	return rc < 0 ? rc : (ssize_t)total;
}

int mring_sync(struct mring *r)
{
	struct mring__ctl *c = r->ctl;
	uint64_t head, seq;
	struct stat sb;
	int rc;

	if (r->forked)
		return MRING_EFORKED;
	/* It may not write the control block that vouches for the data. */
	if (r->rdonly)
		return MRING_EROLE;
	/*
	 * Durable means "found again at the ring's path": a file that lost
	 * its last name (removed, or replaced by a rename) or its data
	 * region (truncated) is not, whatever fdatasync says.
	 */
	if (fstat(r->fd, &sb) < 0)
		return -errno;
	if (sb.st_nlink == 0)
		return MRING_EREMOVED;
	if ((uint64_t)sb.st_size < r->data_off + r->cap)
		return MRING_ETRUNCATED;
	/* What is committed now: the producer knows, others look. */
	if (r->role == MRING_PRODUCER) {
		head = r->head;
		seq = r->seq;
	} else if (r->records) {
		/*
		 * Reading the header at head may map other windows: keep the
		 * one under the caller's peeked record (mring_peek() promises
		 * the pointer until the next peek, release or close).
		 */
		r->pool.hold = r->pool.cur;
		rc = mring__seq_at_head(r, &head, &seq);
		r->pool.hold = -1;
		/* Back to the window of our position (still mapped), so the
		 * next sync keeps it too. */
		if (rc == 0)
			rc = mring__window(r, r->pos);
		if (rc < 0)
			return rc;
	} else {
		head = mring__load_acquire(&c->head);
		seq = 0;
	}
	/* Data first ... */
	if (fdatasync(r->fd) < 0)
		return -errno;
	/*
	 * ... then the control block that vouches for it. The pair
	 * (synced_seq, synced) is written under the registry lock, as
	 * several handles may sync at once.
	 */
	rc = mring__os_lock(r->fd, MRING__REGISTRY_LOCK, 1);
	if (rc < 0)
		return rc;
	if (head > mring__load_relaxed(&c->synced)) {
		/* One store: a page written back or copied in between
		 * never holds one without the other. No fence: the next
		 * sync reads synced under the lock, everyone else (inspect,
		 * recovery) only relaxed, as a value to check. */
		mring__store_pair(&c->synced, head, seq);
	}
	mring__os_unlock(r->fd, MRING__REGISTRY_LOCK);
	if (fdatasync(r->fd) < 0)
		return -errno;
	return 0;
}

/* ---- attach, recovery, detach ------------------------------------------ */

/*
 * Is the page cache the last producer wrote into still the one behind this
 * file? Only then is everything it committed readable, synced or not. A
 * reboot loses the cache; so does a copy of the file or of its device (a
 * device image taken while it was written is what a power cut leaves):
 * same boot, but another device, inode or mount. Unknown identities (files
 * of older versions have zeros) leave the decision to the boot id. When in
 * doubt, say no: that costs what was not synced, never delivers data that
 * did not reach the disk.
 *
 * Another mount of the same file system is the same cache, and it is
 * common: a producer restarted in another mount namespace (unshare -m,
 * systemd PrivateTmp= or ProtectSystem=, a container) sees the file
 * through a mount with another id. Mount ids are therefore compared only
 * within one mount namespace; and a consumer attached now proves the
 * cache is the same one, since open-file-description locks belong to the
 * kernel's inode, which a copy does not share. What remains counted as
 * another cache: a bind mount in the same namespace with nobody attached.
 * Called under the registry lock, so no consumer comes or goes meanwhile.
 */
static bool same_cache(const struct mring *r)
{
	const struct mring__ctl *c = r->ctl;
	char boot[sizeof(c->boot_id)];
	struct mring__os_ident id;
	uint32_t was = c->prod_ident;

	mring__os_boot_id(boot, sizeof(boot));
	if (!boot[0] || strncmp(boot, c->boot_id, sizeof(boot)) != 0)
		return false;
	mring__os_file_ident(r->fd, &id);
	if ((was & id.known & MRING__IDENT_INODE) &&
	    (c->prod_dev != id.dev || c->prod_ino != id.ino))
		return false;
	/* Mount ids of the same kind only (the kernel did not change). */
	uint32_t mnt = MRING__IDENT_MNT | MRING__IDENT_MNT_UNIQUE;
	if (!(was & mnt) || (was & mnt) != (id.known & mnt) ||
	    c->prod_mnt == id.mnt)
		return true;
	if ((was & id.known & MRING__IDENT_MNTNS) && c->prod_mntns != id.mntns)
		return true;
	return mring__os_lock_held_range(r->fd, 1, r->nslots) == 1;
}

/*
 * Take the producer lock. The lock is the truth about liveness; but it
 * dies with its process a moment later than the process: a killed
 * producer's io_uring workers may hold its files a few milliseconds
 * longer. If the recorded producer looks gone, retry for a second. (A pid
 * from another pid namespace may look gone while it lives: that costs
 * the second, never a second producer.)
 */
static int lock_producer(struct mring *r)
{
	int64_t give_up = mring__os_now_ns() + 1000000000;
	int rc;

	while ((rc = mring__os_lock(r->fd, 0, 0)) == -EBUSY) {
		pid_t pid = (pid_t)mring__load_relaxed(&r->ctl->prod_pid);
		if (mring__os_pid_alive(pid) || mring__os_now_ns() > give_up)
			break;
		usleep(1000);
	}
	return rc;
}

/*
 * Become the producer. Everything that can refuse the open is checked, and
 * the maintenance thread created (held at its start), before anything is
 * written: a refused open leaves the ring as it was. The decision "same
 * page cache or not", recovery and the publication of the new head happen
 * under the registry lock, so no consumer attaches or leaves meanwhile.
 */
int mring__producer_attach(struct mring *r, const struct mring_config *cfg)
{
	struct mring__ctl *c = r->ctl;
	int rc;

	/* The maintenance thread will pre-fault; without it, reserve does. */
	r->inline_pf = !mring__maint_wanted(cfg);
	rc = mring__maint_check(r, cfg);
	if (rc < 0)
		return rc;
	rc = lock_producer(r);
	if (rc < 0)
		return rc;
	/* Who holds the lock is told at once: tools show it. */
	mring__store_relaxed(&c->prod_pid, (uint32_t)getpid());
	rc = mring__maint_create(r, cfg);
	if (rc < 0)
		goto unlock;
	rc = mring__os_lock(r->fd, MRING__REGISTRY_LOCK, 1);
	if (rc < 0)
		goto stop;
	uint64_t head = mring__load_acquire(&c->head);
	uint64_t seq = mring__load_relaxed(&c->head_seq);
	/*
	 * Large folios, where the file system has them (ext4 on recent
	 * kernels), for rings larger than their page-cache budget: there
	 * the writer took 20x fewer faults and wrote lap 1 2x faster; a ring
	 * that fits in memory wrote its first lap faster without (README,
	 * "Performance").
	 */
	r->pool.huge = !(cfg->flags & MRING_F_NO_HUGEPAGE) &&
	               !mring__env_set("MRING_NO_HUGEPAGE") &&
	               r->cap > mring__cache_budget(r, cfg);
	rc = mring__window_move(r, head);
	/*
	 * A producer that died needs recovery. So does a ring closed
	 * cleanly in another page cache: close does not sync, and what it
	 * committed after the last mring_sync() may never have reached the
	 * disk. Any other ring only has slots beyond head pulled back.
	 */
	bool same = same_cache(r);
	bool clean = mring__load_relaxed(&c->clean);
	if (rc == 0)
		rc = mring__recover(r, cfg, same, clean, &head, &seq);
	if (rc < 0) {
		mring__os_unlock(r->fd, MRING__REGISTRY_LOCK);
		goto stop;
	}
	/*
	 * Note the boot we run in, never by reading it into the control
	 * block: a producer killed half-way would leave the next one a
	 * blanked id, which reads as a reboot and rolls head back to the
	 * last sync. Copying the same bytes over themselves is harmless.
	 */
	char boot[sizeof(c->boot_id)] = {0};
	mring__os_boot_id(boot, sizeof(boot));
	if (memcmp(c->boot_id, boot, sizeof(boot)) != 0)
		memcpy(c->boot_id, boot, sizeof(boot));
	struct mring__os_ident id;
	mring__os_file_ident(r->fd, &id);
	c->prod_dev = id.dev;
	c->prod_ino = id.ino;
	c->prod_mnt = id.mnt;
	c->prod_mntns = id.mntns;
	c->prod_ident = id.known;
	mring__store_relaxed(&c->clean, 0);
	mring__store_release(&c->head_seq, seq);
	mring__store_relaxed(&c->eof, 0);
	mring__store_seqcst(&c->head, head);
	mring__os_unlock(r->fd, MRING__REGISTRY_LOCK);
	r->head = head;
	r->pf = head;
	r->seq = seq;
	r->tail = mring__load_relaxed(&c->tail);
	r->st.position = head;
	if (r->records)
		mring__index_attach(r);
	mring__maint_go(r);
	mring__rescan(r);
	return 0;
stop:
	mring__maint_stop(r);
unlock:
	mring__os_unlock(r->fd, 0);
	return rc;
}

void mring__producer_detach(struct mring *r)
{
	struct mring__ctl *c = r->ctl;

	mring__maint_stop(r);
	/* End of stream: pairs with the consumer's acquire load of eof. */
	mring__store_seqcst(&c->eof, 1);
	mring__wake(&c->data_futex);
	mring__store_release(&c->clean, 1);
	mring__os_unlock(r->fd, 0);
}
