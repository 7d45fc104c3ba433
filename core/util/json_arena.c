/*  Bump arenas for short-lived JSON documents (see json_arena.h).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "util/json_arena.h"

/* Under AddressSanitizer a region that comes back for reuse is poisoned and
 * each block handed out unpoisoned: a reference kept into a document past
 * its walk callback is reported where it is used, not found later as
 * corrupt data. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif
#include "util/secmem.h"
#include "util/util.h"

/* The arena's base, 0 when there is none. Any thread's free reads it; one
 * word, so a free never sees half of a change. */
static _Atomic uintptr_t arena_base;

/* This thread's current region: [cur, end). cur == NULL: use malloc(). */
static MNS_THREAD_LOCAL char *region_cur, *region_end;
static MNS_THREAD_LOCAL size_t region_spills;
static MNS_THREAD_LOCAL bool region_paused;

/* malloc()'s alignment, which jansson's values rely on. */
#define ARENA_ALIGN 16u
#define ARENA_MASK (~(uintptr_t)(MNS_JSON_ARENA_SPAN - 1))

void *mns_json_alloc(size_t n)
{
	if (region_cur != NULL && !region_paused) {
		size_t need = (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
		if (need >= n && need <= (size_t)(region_end - region_cur)) {
			void *p = region_cur;
			region_cur += need;
			UNPOISON(p, n);
			return p;
		}
		region_spills++;
	}
	return malloc(n);
}

bool mns_json_arena_owns(const void *p)
{
	uintptr_t base = atomic_load_explicit(&arena_base, memory_order_acquire);
	return base != 0 && ((uintptr_t)p & ARENA_MASK) == base;
}

void mns_json_free(void *p)
{
	if (mns_json_arena_owns(p))
		return; /* Reused with its region. */
	mns_wipe_free(p);
}

char *mns_json_arena_map(void)
{
	if (atomic_load(&arena_base) != 0)
		return NULL;
	/* Twice the span, then the unaligned ends are given back. */
	size_t span = MNS_JSON_ARENA_SPAN;
	char *m = mmap(NULL, 2 * span, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	char *base = (char *)(((uintptr_t)m + span - 1) & ARENA_MASK);
	if (base > m)
		munmap(m, (size_t)(base - m));
	if (base + span < m + 2 * span)
		munmap(base + span, (size_t)(m + 2 * span - (base + span)));
	/* Blocks here are not wiped when freed, as other JSON blocks are: the
	 * documents are stripped of keys, but whatever they hold stays out of
	 * core dumps all the same. */
	(void)madvise(base, span, MADV_DONTDUMP);
	atomic_store_explicit(&arena_base, (uintptr_t)base, memory_order_release);
	return base;
}

void mns_json_arena_unmap(void)
{
	uintptr_t base = atomic_exchange(&arena_base, (uintptr_t)0);
	if (base == 0)
		return;
	UNPOISON((void *)base, MNS_JSON_ARENA_SPAN); /* The address range may be reused. */
	munmap((void *)base, MNS_JSON_ARENA_SPAN);
}

void mns_json_region_pause(bool paused)
{
	region_paused = paused;
}

void mns_json_region_recycle(char *start, size_t size)
{
	POISON(start, size);
}

void mns_json_region_use(char *start, char *end)
{
	region_cur = start;
	region_end = start != NULL ? end : NULL;
}

size_t mns_json_region_spills(void)
{
	return region_spills;
}
