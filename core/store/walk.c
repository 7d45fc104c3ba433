/*  The start-up walk over every tenant document, on several threads.
 *
 *  At start-up every stored tenant is read, parsed and built into a zone.
 *  With a million tenants, reading and parsing the documents (LMDB, JSON)
 *  and building the zones (plugins, the index) cost about the same. The
 *  building is single-threaded by nature: the plugins' build hooks and the
 *  index run on the main loop's thread only. So the reading and parsing move
 *  to WALK_READERS reader threads and the main thread only builds.
 *
 *  The store's entries are cut into chunks of WALK_CHUNK in store order;
 *  reader r parses chunks r, r + WALK_READERS, … (skipping the others'
 *  entries costs a cursor step, their values are not touched) and hands
 *  each over through its own small bounded ring; the main thread takes
 *  chunk 0 from reader 0, chunk 1 from reader 1, and so on, so the order is
 *  the store's order, as mns_store_tenant_each() gives it. Why more than one
 *  reader on a two-core machine: the readers and the main thread then share
 *  the cores as the scheduler sees fit, instead of the faster side waiting
 *  for the slower.
 *
 *  Everything a reader touches is its own: its read transaction (LMDB ties
 *  a read transaction to its thread), its cursor, the documents it parses
 *  (handed over under the walk's lock and released by that reader once the
 *  main thread is past them). The readers' transactions begin at different
 *  moments, yet see the same store: the only writer is the main thread's
 *  loop, and it is in this walk until the end.
 *
 *  A reader parses each chunk's documents into a region of a bump arena
 *  (util/json_arena.h) rather than through malloc: a region goes back to its
 *  reader whole when the chunk's slot is reused, and the documents' dozens
 *  of frees each become a mask compare. Each reader's chunks rotate through
 *  WALK_SLOTS + 1 regions: one per ring slot, one being filled. So the
 *  documents are valid during the callback only (store.h).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "store/store.h"
#include "util/json_arena.h"

enum {
	WALK_READERS = 2, /**< Reader threads. */
	WALK_CHUNK = 64,  /**< Entries per chunk (one lock round trip each). */
	WALK_SLOTS = 8,   /**< Chunks in flight per reader: bounds the documents held. */
};

/* A chunk's region: 64 stripped documents take about 0.3 MiB parsed; a
 * larger document still parses, its blocks then come from malloc. */
#define WALK_REGION ((size_t)2 << 20)
_Static_assert(WALK_READERS * (WALK_SLOTS + 1) * WALK_REGION <= MNS_JSON_ARENA_SPAN,
               "the walk's regions fit in the arena");

typedef struct walk_item {
	char id[128];
	json_t *doc;
} walk_item_t;

typedef struct walk_chunk {
	size_t seq;   /**< Its number in the walk (entries seq × WALK_CHUNK on). */
	size_t n;     /**< Documents (entries that were not valid JSON are left out). */
	char *region; /**< Where its documents were parsed (NULL: malloc). */
	walk_item_t items[WALK_CHUNK];
} walk_chunk_t;

struct walk;

typedef struct walk_reader {
	struct walk *w;
	size_t index;
	pthread_t thread;
	walk_chunk_t ring[WALK_SLOTS];
	size_t head, tail; /**< Chunks filled / consumed so far (head - tail in flight). */
	walk_chunk_t fill; /**< The chunk being filled (seq SIZE_MAX: none open). */
	bool done;         /**< Finished (ret is set). */
	int ret;
} walk_reader_t;

typedef struct walk {
	mns_store_t *store;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop; /**< The consumer wants no more. */
	walk_reader_t readers[WALK_READERS];
} walk_t;

/* This thread's JSON allocations come from \a region from now on. */
static void region_use(char *region)
{
	mns_json_region_use(region, region != NULL ? region + WALK_REGION : NULL);
}

/* Releases the documents of a consumed chunk. */
static void walk_release(walk_chunk_t *c)
{
	for (size_t i = 0; i < c->n; i++)
		json_decref(c->items[i].doc);
	c->n = 0;
}

/* Reader thread: passes its filled chunk to the consumer, waiting while its
 * ring is full. \return false when the consumer stopped. */
static bool walk_push(walk_reader_t *r)
{
	walk_t *w = r->w;
	pthread_mutex_lock(&w->mu);
	while (r->head - r->tail == WALK_SLOTS && !w->stop)
		pthread_cond_wait(&w->cv, &w->mu);
	bool go = !w->stop;
	size_t slot = r->head % WALK_SLOTS;
	pthread_mutex_unlock(&w->mu);
	if (!go) {
		walk_release(&r->fill);
		r->fill.seq = SIZE_MAX;
		return false;
	}
	/* The slot is free: the consumer is done with it (it only reads
	 * [tail, head)). Its documents are released here, on the thread that
	 * parsed them into its region. */
	walk_release(&r->ring[slot]);
	char *free_region = r->ring[slot].region;
	pthread_mutex_lock(&w->mu);
	r->ring[slot] = r->fill;
	r->head++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	/* The slot's old region is empty now: the next chunk's. */
	r->fill.region = free_region;
	r->fill.n = 0;
	r->fill.seq = SIZE_MAX;
	mns_json_region_recycle(free_region, WALK_REGION);
	region_use(free_region);
	return true;
}

static bool collect_one(walk_reader_t *r, size_t pos, const char *id, json_t *doc)
{
	if (r->fill.seq == SIZE_MAX)
		r->fill.seq = pos / WALK_CHUNK;
	if (doc != NULL) {
		walk_item_t *it = &r->fill.items[r->fill.n++];
		snprintf(it->id, sizeof(it->id), "%s", id);
		it->doc = json_incref(doc); /* The walk frees its reference after this call. */
	}
	/* The chunk's last entry: hand it over now, so that the next document
	 * is parsed into the next region, not into this chunk's. */
	if (pos % WALK_CHUNK == WALK_CHUNK - 1)
		return walk_push(r);
	return true;
}

static bool walk_collect(size_t pos, const char *id, json_t *doc, void *data)
{
	walk_reader_t *r = data;
	/* The region is for the documents only: nothing else this thread does
	 * until the next parse may allocate JSON there. */
	mns_json_region_pause(true);
	bool more = collect_one(r, pos, id, doc);
	mns_json_region_pause(false);
	return more;
}

static void *walk_reader(void *arg)
{
	walk_reader_t *r = arg;
	walk_t *w = r->w;
	mns_error_t err = { 0 };
	mns_txn_t *t;
	region_use(r->fill.region);
	int ret = mns_txn_begin(w->store, false, &t, &err);
	if (ret == MNS_OK) {
		ret = mns_store_tenant_walk_part(t, r->index, WALK_READERS, WALK_CHUNK, walk_collect, r);
		mns_txn_abort(t);
	} else {
		mns_log(MNS_LOG_ERR, "store, cannot read tenants: %s", err.message);
	}
	if (r->fill.seq != SIZE_MAX)
		walk_push(r); /* The last chunk, full or not. */
	region_use(NULL);
	if (mns_json_region_spills() > 0)
		mns_log(MNS_LOG_DEBUG, "store, %zu JSON blocks of the walk did not fit their region",
		        mns_json_region_spills());
	pthread_mutex_lock(&w->mu);
	r->ret = ret;
	r->done = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* The walk on the calling thread alone (no reader thread could start). */
static int walk_here(mns_store_t *s, bool (*cb)(const char *id, json_t *doc, void *data),
                     void *data)
{
	mns_error_t err = { 0 };
	mns_txn_t *t;
	int ret = mns_txn_begin(s, false, &t, &err);
	if (ret != MNS_OK)
		return ret;
	ret = mns_store_tenant_each_opts(t, NULL, true, cb, data);
	mns_txn_abort(t);
	return ret;
}

/* Consumer: every chunk in order, chunk k from reader k % WALK_READERS.
 * The walk ends when the reader that owes the next chunk has finished
 * without it (no entry is left at that position). */
static void walk_consume(walk_t *w, bool (*cb)(const char *id, json_t *doc, void *data),
                         void *data)
{
	bool more = true;
	pthread_mutex_lock(&w->mu);
	for (size_t seq = 0; more; seq++) {
		walk_reader_t *r = &w->readers[seq % WALK_READERS];
		while (r->head == r->tail && !r->done)
			pthread_cond_wait(&w->cv, &w->mu);
		if (r->head == r->tail)
			break; /* Done and drained. */
		/* The slot is not refilled before tail moves past it: use it
		 * unlocked. */
		walk_chunk_t *c = &r->ring[r->tail % WALK_SLOTS];
		pthread_mutex_unlock(&w->mu);
		if (c->seq != seq)
			mns_log(MNS_LOG_ERR, "store, the walk lost its order (chunk %zu for %zu)", c->seq,
			        seq);
		/* The documents stay in the slot: the reader releases them when
		 * it reuses it, or this thread after the walk. */
		for (size_t i = 0; i < c->n && more; i++)
			more = cb(c->items[i].id, c->items[i].doc, data);
		pthread_mutex_lock(&w->mu);
		r->tail++;
		if (!more)
			w->stop = true;
		pthread_cond_broadcast(&w->cv);
	}
	w->stop = true; /* Readers still waiting on a full ring give up. */
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int mns_store_tenant_walk_parallel(mns_store_t *s,
                                   bool (*cb)(const char *id, json_t *doc, void *data),
                                   void *data)
{
	walk_t *w = calloc(1, sizeof(*w)); /* ~160 KiB of rings: not on the stack. */
	if (w == NULL)
		return walk_here(s, cb, data);
	w->store = s;
	/* Without an arena (no address space for it) the documents come from
	 * malloc, as on the one-thread walk. */
	char *arena = mns_json_arena_map();
	for (size_t i = 0; i < WALK_READERS; i++) {
		walk_reader_t *r = &w->readers[i];
		r->w = w;
		r->index = i;
		r->fill.seq = SIZE_MAX;
		if (arena == NULL)
			continue;
		char *mine = arena + i * (WALK_SLOTS + 1) * WALK_REGION;
		for (size_t j = 0; j < WALK_SLOTS; j++)
			r->ring[j].region = mine + j * WALK_REGION;
		r->fill.region = mine + WALK_SLOTS * WALK_REGION;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	size_t started = 0;
	while (started < WALK_READERS &&
	       pthread_create(&w->readers[started].thread, NULL, walk_reader,
	                      &w->readers[started]) == 0)
		started++;
	if (started == WALK_READERS) {
		walk_consume(w, cb, data);
	} else {
		/* Not every reader could start: stop those that did, and walk
		 * here. */
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	int ret = MNS_OK;
	for (size_t i = 0; i < started; i++) {
		pthread_join(w->readers[i].thread, NULL);
		for (size_t j = 0; j < WALK_SLOTS; j++)
			walk_release(&w->readers[i].ring[j]);
		if (w->readers[i].ret != MNS_OK)
			ret = w->readers[i].ret;
	}
	if (arena != NULL)
		mns_json_arena_unmap(); /* Every document in it is released. */
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	if (started < WALK_READERS)
		ret = walk_here(s, cb, data);
	return ret;
}
