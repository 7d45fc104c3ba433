/*  Transparent huge pages for the heap the start-up fills (see heap_thp.h).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/heap_thp.h"

enum {
	HEAP_STEP = 64 << 20,          /**< Heap growth per sbrk() during the start-up. */
	HEAP_STEP_DEFAULT = 128 << 10, /**< glibc's M_TOP_PAD default. */
	/* Setting M_TOP_PAD turns off glibc's dynamic mmap and trim thresholds
	 * for good: they would otherwise rise from 128 KiB as large blocks are
	 * freed, to at most 32 MiB for mmap and twice that for trimming. So
	 * once the walk is over they are set where a running daemon takes them:
	 * at those maxima. Lower fixed values cost page faults on every large
	 * block: at 1 MiB / 2 MiB each tenant.add mapped and faulted in a fresh
	 * buffer (one at a time 1.68 instead of 1.31 ms, pipelined 1,777
	 * instead of 2,452 adds/s). */
	MMAP_THRESHOLD = 32 << 20,
	TRIM_THRESHOLD = 64 << 20,
	HUGE_PAGE = 2 << 20, /**< x86-64's PMD size; elsewhere the advice is merely coarser. */
};

static uintptr_t huge_down(uintptr_t a)
{
	return a & ~(uintptr_t)(HUGE_PAGE - 1);
}

void mns_heap_thp_begin(mns_heap_thp_t *h)
{
	*h = (mns_heap_thp_t){ 0 };
	char *start = sbrk(0);
	if (start == (char *)-1)
		return;
	h->start = h->seen = start;
	mallopt(M_TOP_PAD, HEAP_STEP);
}

void mns_heap_thp_poll(mns_heap_thp_t *h)
{
	if (h->seen == NULL)
		return;
	char *end = sbrk(0);
	if (end == (char *)-1 || end == h->seen)
		return;
	if (end > h->seen) {
		/* From the huge page that holds the old end: the part of it in
		 * use stays in 4 KiB pages until khugepaged folds it; advising it
		 * twice is harmless. Never below where the heap stood at the
		 * start (that may be the program's data). */
		uintptr_t lo = huge_down((uintptr_t)h->seen);
		if (lo < (uintptr_t)h->start)
			lo = (uintptr_t)h->start;
		(void)madvise((void *)lo, (uintptr_t)end - lo, MADV_HUGEPAGE);
		if (h->first == NULL)
			h->first = (char *)lo;
	}
	h->seen = end; /* Also when it shrank: growth up to the old end is new. */
}

void mns_heap_thp_end(mns_heap_thp_t *h)
{
	mns_heap_thp_poll(h);
	if (h->seen == NULL)
		return;
	/* The zones keep their huge pages; what is freed and trimmed later is
	 * not folded into huge pages again by khugepaged (which would raise
	 * the RSS back towards the heap's size). */
	if (h->first != NULL && h->seen > h->first)
		(void)madvise(h->first, (size_t)(h->seen - h->first), MADV_NOHUGEPAGE);
	mallopt(M_TOP_PAD, HEAP_STEP_DEFAULT);
	mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD);
	*h = (mns_heap_thp_t){ 0 };
}
