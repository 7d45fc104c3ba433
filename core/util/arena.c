/*  A bump allocator behind knot_mm_t.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/arena.h"

/** Every allocation starts on this boundary (max_align_t on x86-64 and arm64). */
#define ARENA_ALIGN 16u

static size_t align_up(size_t n)
{
	return (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
}

int mns_arena_init(mns_arena_t *a, size_t size)
{
	a->base = NULL;
	a->size = 0;
	a->used = 0;
	if (size == 0 || size > SIZE_MAX - ARENA_ALIGN)
		return -EINVAL;
	size = align_up(size);
	a->base = aligned_alloc(ARENA_ALIGN, size);
	if (a->base == NULL)
		return -ENOMEM;
	a->size = size;
	return 0;
}

void mns_arena_deinit(mns_arena_t *a)
{
	if (a == NULL)
		return;
	free(a->base);
	a->base = NULL;
	a->size = 0;
	a->used = 0;
}

static void *arena_alloc(void *ctx, size_t len)
{
	mns_arena_t *a = ctx;
	size_t off = align_up(a->used);
	if (off > a->size || len > a->size - off)
		return NULL;
	a->used = off + len;
	return a->base + off;
}

void mns_arena_mm(mns_arena_t *a, knot_mm_t *mm)
{
	mm->ctx = a;
	mm->alloc = arena_alloc;
	mm->free = NULL; /* libknot treats a NULL free as a no-op. */
}
