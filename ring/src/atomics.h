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

#define mring__load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define mring__load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define mring__load_seqcst(p) atomic_load_explicit((p), memory_order_seq_cst)
#define mring__store_relaxed(p, v) \
	atomic_store_explicit((p), (v), memory_order_relaxed)
#define mring__store_release(p, v) \
	atomic_store_explicit((p), (v), memory_order_release)
#define mring__store_seqcst(p, v) \
	atomic_store_explicit((p), (v), memory_order_seq_cst)
#if defined(__SANITIZE_THREAD__)
/*
 * TSan does not model stand-alone fences (gcc warns, -Wtsan); under it a
 * read-modify-write of a private word stands in, which TSan understands.
 */
static _Atomic unsigned mring__tsan_fence __attribute__((unused));
#define mring__fence(mo) \
	((void)atomic_fetch_add_explicit(&mring__tsan_fence, 0, (mo)))
#else
#define mring__fence(mo) atomic_thread_fence(mo)
#endif
#define mring__fence_acquire() mring__fence(memory_order_acquire)
#define mring__fence_release() mring__fence(memory_order_release)
#define mring__fence_seqcst() mring__fence(memory_order_seq_cst)

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
