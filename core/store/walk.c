/*  The start-up walk over every tenant document, on two threads.
 *
 *  At start-up every stored tenant is read, parsed and built into a zone.
 *  With a million tenants, reading and parsing the documents (LMDB, JSON)
 *  is about half of the time and building the zones (plugins, the index)
 *  the other half. Both are single-threaded by nature: the plugins' build
 *  hooks and the index run on the main loop's thread only. So the reading
 *  and parsing move to a second thread, which hands parsed documents over in
 *  chunks through a small bounded ring, and the main thread only builds.
 *
 *  Everything the reader thread touches is its own: its read transaction
 *  (LMDB ties a read transaction to its thread), its cursor, the documents
 *  it parses (jansson objects are handed over under the ring's lock and
 *  released by the reader once the main thread is past them; jansson's
 *  reference counts are atomic, so a reference a build keeps is safe).
 *  The order is the store's order, as mns_store_tenant_each() gives it.
 *
 *  The reader parses each chunk's documents into a region of a bump arena
 *  (util/json_arena.h) rather than through malloc: a region goes back to
 *  the reader whole when the chunk's slot is reused, and the documents'
 *  dozens of frees each become a range check. The walk's chunks rotate
 *  through WALK_CHUNKS + 1 regions: one per ring slot, one being filled.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "store/store.h"
#include "util/json_arena.h"

enum {
	WALK_CHUNK = 64,  /**< Documents per hand-over (one lock round trip each). */
	WALK_CHUNKS = 16, /**< Chunks in flight: bounds the parsed documents held. */
};

/* A chunk's region: 64 stripped documents take about 0.3 MiB parsed; a
 * larger document still parses, its blocks then come from malloc. */
#define WALK_REGION ((size_t)2 << 20)
_Static_assert((WALK_CHUNKS + 1) * WALK_REGION <= MNS_JSON_ARENA_SPAN,
               "the walk's regions fit in the arena");

typedef struct walk_item {
	char id[128];
	json_t *doc;
} walk_item_t;

typedef struct walk_chunk {
	size_t n;
	char *region; /**< Where its documents were parsed (NULL: malloc). */
	walk_item_t items[WALK_CHUNK];
} walk_chunk_t;

typedef struct walk {
	mns_store_t *store;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	walk_chunk_t ring[WALK_CHUNKS];
	size_t head, tail; /**< Chunks filled / consumed so far (head - tail in flight). */
	walk_chunk_t fill; /**< The reader's chunk being filled. */
	bool done;         /**< The reader has finished (ret is set). */
	bool stop;         /**< The consumer wants no more. */
	int ret;
} walk_t;

/* The reader thread's JSON allocations come from \a region from now on. */
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

/* Reader thread: passes a full (or the last) chunk to the consumer, waiting
 * while the ring is full. \return false when the consumer stopped. */
static bool walk_push(walk_t *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->head - w->tail == WALK_CHUNKS && !w->stop)
		pthread_cond_wait(&w->cv, &w->mu);
	bool go = !w->stop;
	size_t slot = w->head % WALK_CHUNKS;
	pthread_mutex_unlock(&w->mu);
	if (go) {
		/* The slot is free: the consumer is done with it (it only reads
		 * [tail, head)). Its documents are released here, on the thread
		 * whose malloc arena they came from: freed on the main thread,
		 * each free took the reader's arena lock against its mallocs. */
		walk_release(&w->ring[slot]);
		char *free_region = w->ring[slot].region;
		pthread_mutex_lock(&w->mu);
		w->ring[slot] = w->fill;
		w->head++;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		/* The slot's old region is empty now: the next chunk's. */
		w->fill.region = free_region;
		region_use(w->fill.region);
	}
	if (!go)
		for (size_t i = 0; i < w->fill.n; i++)
			json_decref(w->fill.items[i].doc);
	w->fill.n = 0;
	return go;
}

static bool walk_collect(const char *id, json_t *doc, void *data)
{
	walk_t *w = data;
	walk_item_t *it = &w->fill.items[w->fill.n++];
	snprintf(it->id, sizeof(it->id), "%s", id);
	it->doc = json_incref(doc); /* The walk frees its reference after this call. */
	return w->fill.n < WALK_CHUNK || walk_push(w);
}

static void *walk_reader(void *arg)
{
	walk_t *w = arg;
	mns_error_t err = { 0 };
	mns_txn_t *t;
	region_use(w->fill.region);
	int ret = mns_txn_begin(w->store, false, &t, &err);
	if (ret == MNS_OK) {
		ret = mns_store_tenant_each_opts(t, NULL, true, walk_collect, w);
		mns_txn_abort(t);
	} else {
		mns_log(MNS_LOG_ERR, "store, cannot read tenants: %s", err.message);
	}
	if (w->fill.n > 0)
		walk_push(w);
	region_use(NULL);
	if (mns_json_region_spills() > 0)
		mns_log(MNS_LOG_DEBUG, "store, %zu JSON blocks of the walk did not fit their region",
		        mns_json_region_spills());
	pthread_mutex_lock(&w->mu);
	w->ret = ret;
	w->done = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int mns_store_tenant_walk_parallel(mns_store_t *s,
                                   bool (*cb)(const char *id, json_t *doc, void *data),
                                   void *data)
{
	walk_t *w = calloc(1, sizeof(*w)); /* ~130 KiB of ring: not on the stack. */
	if (w == NULL)
		return MNS_ENOMEM;
	w->store = s;
	/* Without an arena (no address space for it) the documents come from
	 * malloc, as on the one-thread walk. */
	char *arena = mns_json_arena_map();
	if (arena != NULL) {
		for (size_t i = 0; i < WALK_CHUNKS; i++)
			w->ring[i].region = arena + i * WALK_REGION;
		w->fill.region = arena + WALK_CHUNKS * WALK_REGION;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	pthread_t reader;
	if (pthread_create(&reader, NULL, walk_reader, w) != 0) {
		/* No second thread: the same walk on this one. */
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		if (arena != NULL)
			mns_json_arena_unmap();
		mns_error_t err = { 0 };
		mns_txn_t *t;
		int ret = mns_txn_begin(s, false, &t, &err);
		if (ret != MNS_OK)
			return ret;
		ret = mns_store_tenant_each_opts(t, NULL, true, cb, data);
		mns_txn_abort(t);
		return ret;
	}
	bool more = true;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->head == w->tail && !w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->head == w->tail)
			break; /* Done and drained. */
		/* The slot is not refilled before tail moves past it: use it
		 * unlocked. */
		walk_chunk_t *c = &w->ring[w->tail % WALK_CHUNKS];
		pthread_mutex_unlock(&w->mu);
		/* The documents stay in the slot: the reader releases them when
		 * it reuses it, or this thread after the walk. */
		for (size_t i = 0; i < c->n && more; i++)
			more = cb(c->items[i].id, c->items[i].doc, data);
		pthread_mutex_lock(&w->mu);
		w->tail++;
		if (!more)
			w->stop = true;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	pthread_join(reader, NULL);
	for (size_t i = 0; i < WALK_CHUNKS; i++)
		walk_release(&w->ring[i]);
	if (arena != NULL)
		mns_json_arena_unmap(); /* Every document in it is released. */
	int ret = w->ret;
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	return ret;
}
