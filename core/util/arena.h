/*  A bump allocator behind knot_mm_t: the query path allocates from it and
 *  resets it after each message, so answering never calls malloc.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_ARENA_H
#define MNS_ARENA_H

#include <stddef.h>
#include <libknot/libknot.h>

typedef struct mns_arena {
	unsigned char *base;
	size_t size, used;
} mns_arena_t;

/** \brief Allocates the arena's memory (\a size octets). \return 0 or -ENOMEM. */
int mns_arena_init(mns_arena_t *a, size_t size);
/** \brief Frees the arena's memory. */
void mns_arena_deinit(mns_arena_t *a);
/** \brief Forgets every allocation. */
static inline void mns_arena_reset(mns_arena_t *a)
{
	a->used = 0;
}
/** \brief Fills \a mm so libknot allocates from \a a (free is a no-op). */
void mns_arena_mm(mns_arena_t *a, knot_mm_t *mm);

#endif
