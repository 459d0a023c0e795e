/*
 * The one place that spells <stdatomic.h>. Shared words live in a file
 * mapping used by several processes, so they must be lock-free: checked
 * below. Callers name the access each acquire/release pairs with.
 */
#ifndef MRING_ATOMICS_H
#define MRING_ATOMICS_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t mring_atomic_u64;
typedef _Atomic uint32_t mring_atomic_u32;

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics are lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics are lock-free");
_Static_assert(sizeof(mring_atomic_u64) == 8, "no hidden lock in atomics");
/* Positions and file offsets are 64-bit and mapped windows need room. */
_Static_assert(sizeof(void *) == 8, "mring supports 64-bit targets only");

#define mring__load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define mring__load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define mring__load_seqcst(p) atomic_load_explicit((p), memory_order_seq_cst)
#define mring__store_relaxed(p, v) \
	atomic_store_explicit((p), (v), memory_order_relaxed)
#define mring__store_release(p, v) \
	atomic_store_explicit((p), (v), memory_order_release)
#define mring__store_seqcst(p, v) \
	atomic_store_explicit((p), (v), memory_order_seq_cst)
/* Built with ThreadSanitizer (gcc spells it one way, clang another). */
#if defined(__SANITIZE_THREAD__)
#define MRING__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MRING__TSAN 1
#endif
#endif

#if defined(MRING__TSAN)
/*
 * TSan does not model stand-alone fences (gcc warns, -Wtsan); under it a
 * read-modify-write of a private word stands in, which TSan understands.
 */
static _Atomic unsigned mring__tsan_fence __attribute__((unused));
#define mring__fence(mo) \
	((void)atomic_fetch_add_explicit(&mring__tsan_fence, 0, (mo)))
#define mring__fence_seqcst() mring__fence(memory_order_seq_cst)
#elif defined(__x86_64__)
#define mring__fence(mo) atomic_thread_fence(mo)
/*
 * The full fence of the store-buffer handshakes (CONCURRENCY.md). A locked
 * add to the stack is a full barrier on x86-64 and cheaper than MFENCE
 * (which gcc emits) because it does not also order non-temporal and
 * write-combining accesses, which mring never uses: the kernel's smp_mb()
 * does the same.
 */
#define mring__fence_seqcst() \
	__asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc")
#else
#define mring__fence(mo) atomic_thread_fence(mo)
#define mring__fence_seqcst() atomic_thread_fence(memory_order_seq_cst)
#endif
#define mring__fence_acquire() mring__fence(memory_order_acquire)
#define mring__fence_release() mring__fence(memory_order_release)

/*
 * Interleaving chaos (cmake -DMRING_CHAOS=ON, never in a release): at each
 * MRING__CHAOS() point between the shared accesses of a protocol, yield or
 * sleep a few microseconds at random, so that the windows between the
 * steps of a handshake open wide enough for the tests to fall into them.
 * MRING_CHAOS=0 in the environment turns it off at run time.
 */
#ifdef MRING_CHAOS
void mring__chaos(void);
#define MRING__CHAOS() mring__chaos()
#else
#define MRING__CHAOS() ((void)0)
#endif

/*
 * Store two adjacent 64-bit words (p 16-byte aligned: lo at p, hi at p + 1)
 * with ONE instruction. A process killed by a signal has then either done
 * it or not, so whoever reads the pair after a crash never finds one word
 * new and the other old. Other CPUs may still see the halves at different
 * moments: a concurrent reader must read only one of the two words. No
 * ordering: callers fence before (release) or after (seq_cst) as needed;
 * the asm's memory clobber keeps the compiler from moving accesses across.
 * Under TSan, which models atomics but neither vector stores nor fences,
 * hi then a seq_cst store of lo stand in: stronger ordering, but not
 * kill-atomic (such builds are for finding races, not for crashing).
 */
#if !defined(MRING__TSAN) && !defined(__x86_64__) && !defined(__aarch64__)
#error "mring__store_pair needs a single 16-byte store: x86-64 or arm64 only"
#endif
static inline void mring__store_pair(mring_atomic_u64 *p, uint64_t lo,
                                     uint64_t hi)
{
#if defined(MRING__TSAN)
	atomic_store_explicit(p + 1, hi, memory_order_relaxed);
	atomic_store_explicit(p, lo, memory_order_seq_cst);
#elif defined(__x86_64__)
	typedef long long v2di __attribute__((vector_size(16)));
	v2di v = {(long long)lo, (long long)hi};
	__asm__ __volatile__("movdqa %1, %0"
	                     : "=m"(*(v2di *)(void *)p)
	                     : "x"(v)
	                     : "memory");
#else
	__asm__ __volatile__("stp %1, %2, [%0]"
	                     :
	                     : "r"(p), "r"(lo), "r"(hi)
	                     : "memory");
#endif
}

static inline void mring__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#define mring__likely(x) __builtin_expect(!!(x), 1)
#define mring__unlikely(x) __builtin_expect(!!(x), 0)

#endif
