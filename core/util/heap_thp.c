/*  Transparent huge pages for the heap the start-up fills (see heap_thp.h).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/heap_thp.h"

enum {
	HEAP_STEP = 64 << 20,        /**< Heap growth per sbrk() during the start-up. */
	HEAP_STEP_DEFAULT = 128 << 10, /**< glibc's M_TOP_PAD default. */
	HUGE_PAGE = 2 << 20,
};

void mns_heap_thp_begin(mns_heap_thp_t *h)
{
	h->seen = sbrk(0);
	if (h->seen == (char *)-1) {
		h->seen = NULL;
		return;
	}
	mallopt(M_TOP_PAD, HEAP_STEP);
}

void mns_heap_thp_poll(mns_heap_thp_t *h)
{
	if (h->seen == NULL)
		return;
	char *end = sbrk(0);
	if (end == (char *)-1 || end <= h->seen)
		return;
	/* Whole huge pages only: the partial one at the start is already in
	 * use (4 KiB pages), the kernel would not fold it anyway. */
	uintptr_t lo = ((uintptr_t)h->seen + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	if ((uintptr_t)end > lo)
		(void)madvise((void *)lo, (uintptr_t)end - lo, MADV_HUGEPAGE);
	h->seen = end;
}

void mns_heap_thp_end(mns_heap_thp_t *h)
{
	mns_heap_thp_poll(h);
	if (h->seen != NULL)
		mallopt(M_TOP_PAD, HEAP_STEP_DEFAULT);
	h->seen = NULL;
}
