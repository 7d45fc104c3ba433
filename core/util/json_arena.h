/*  Bump arenas for JSON documents that live a short, known time.
 *
 *  The start-up walk parses every stored tenant (a million documents) on a
 *  reader thread, hands each to the main thread for one zone build and then
 *  drops it. Through malloc that is dozens of allocations and frees per
 *  document, about a quarter of the reader's time. So the reader parses
 *  into a bump region instead: jansson's allocator takes memory from the
 *  calling thread's current region when one is set, and its free function
 *  ignores blocks inside the registered arena mapping; the walk reuses a
 *  region as a whole once the documents parsed into it are released.
 *
 *  The documents stay ordinary jansson values (reference counts, lookups,
 *  json_decref), so nothing that reads them changes. What changes is their
 *  lifetime: a reference kept into such a document dies with its region,
 *  which is why plugin.h tells tenant_build hooks to copy what they keep.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_JSON_ARENA_H
#define MNS_JSON_ARENA_H

#include <stdbool.h>
#include <stddef.h>

/** \brief The allocator jansson is given (mns_json_secure_init): from this
 *  thread's region when one is set and the block fits, else malloc(). */
void *mns_json_alloc(size_t n);
/** \brief jansson's free: nothing for a block in the arena mapping (the
 *  region is reused whole), mns_wipe_free() for every other block. */
void mns_json_free(void *p);

/** Size of the arena mapping, a power of two: the mapping is aligned to it,
 *  so that one atomic word (its base) says whether a block lies inside. */
#define MNS_JSON_ARENA_SPAN ((size_t)64 << 20)

/** \brief Maps the arena (MNS_JSON_ARENA_SPAN octets, aligned to its size,
 *  not yet touched) and makes frees of blocks there no-ops. One arena at a
 *  time. \return its base, or NULL (no memory, or one exists). */
char *mns_json_arena_map(void);
/** \brief Unmaps the arena: only once every document in it is released. */
void mns_json_arena_unmap(void);
/** \brief Whether \a p lies in the arena. */
bool mns_json_arena_owns(const void *p);
/** \brief Makes this thread's JSON allocations come from [\a start, \a end)
 *  (within the arena); NULL, NULL goes back to malloc(). */
void mns_json_region_use(char *start, char *end);
/** \brief While \a paused, this thread's JSON allocations go to malloc()
 *  and its region keeps its place. */
void mns_json_region_pause(bool paused);
/** \brief Says that [\a start, \a start + \a size) is free for reuse: every
 *  document in it is released. Under AddressSanitizer a later access there
 *  (a reference kept too long) is reported until it is handed out again. */
void mns_json_region_recycle(char *start, size_t size);
/** \brief Allocations on this thread that did not fit their region and went
 *  to malloc() (they are freed as usual by json_decref). */
size_t mns_json_region_spills(void);

#endif
