/*  Transparent huge pages for the heap the start-up fills.
 *
 *  Building a million zones grows the main thread's heap by over a GiB, one
 *  4 KiB page fault at a time: about a fifth of the start-up's main thread
 *  on this kind of virtual machine, where each fault is costly. Where the
 *  kernel gives huge pages on request (transparent_hugepage "madvise", the
 *  Debian default), the heap's new memory is marked MADV_HUGEPAGE as it
 *  comes, as glibc's own glibc.malloc.hugetlb=1 tunable would do; the tunable
 *  only works from the environment at exec, so mailnsd does it itself, for
 *  the start-up only. The heap is grown in large steps meanwhile (M_TOP_PAD)
 *  so that most of each step is marked before it is first touched. The
 *  marks are taken back at the end of the walk, so that the memory freed
 *  later is not folded into huge pages again.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_HEAP_THP_H
#define MNS_HEAP_THP_H

typedef struct mns_heap_thp {
	char *start; /**< The heap's end when the walk began. */
	char *seen;  /**< The heap's end already marked (NULL: not started). */
	char *first; /**< Where the marking starts (NULL: nothing marked yet). */
} mns_heap_thp_t;

/** \brief Grows the heap in large steps from now on. */
void mns_heap_thp_begin(mns_heap_thp_t *h);
/** \brief Marks what the heap grew by since the last call (cheap: sbrk(0)
 *  reads a cached value; call it often). */
void mns_heap_thp_poll(mns_heap_thp_t *h);
/** \brief Marks the last growth, takes the marks back (what is in huge
 *  pages stays so; nothing is folded later), restores the default step and
 *  sets fixed mmap and trim thresholds (see heap_thp.c). */
void mns_heap_thp_end(mns_heap_thp_t *h);

#endif
