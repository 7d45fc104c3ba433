/*  The durable tenant store: LMDB under the data directory. Every mutation is
 *  one write transaction, committed (and synced) before the caller answers ok.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_STORE_H
#define MNS_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "mailns/plugin.h"

typedef struct mns_store mns_store_t;
typedef struct mns_txn mns_txn_t;

/** Secondary indexes, each mapping a key to a tenant id. */
typedef enum mns_store_index {
	MNS_IDX_DOMAIN, /**< The customer's domain (text) → tenant. */
	MNS_IDX_ZONE, /**< knot_dname_lf() of an ns-mode zone apex → tenant. */
} mns_store_index_t;

/** \brief Opens (creating) the store in \a dir; the directory is created
 *  0700 and must not be writable by others. */
int mns_store_open(const char *dir, mns_store_t **out, mns_error_t *err);
/** \brief mns_store_open() with an LMDB map size of \a map_size bytes (the
 *  most the store can hold; 0: the default, 16 GiB). A mutation that does not
 *  fit fails with "store_full", one that finds the volume full with
 *  "disk_full", one on a read-only volume with "store_read_only". */
int mns_store_open_map(const char *dir, uint64_t map_size, mns_store_t **out, mns_error_t *err);
/** \brief Closes the store. */
void mns_store_close(mns_store_t *s);

/** \brief Starts a transaction (\a write: a mutation). */
int mns_txn_begin(mns_store_t *s, bool write, mns_txn_t **out, mns_error_t *err);
/** \brief Commits and frees \a t; the data is on disk when it returns MNS_OK. */
int mns_txn_commit(mns_txn_t *t, mns_error_t *err);
/** \brief Drops and frees \a t. */
void mns_txn_abort(mns_txn_t *t);

/** \brief Starts a mutation as a member of the open group (group commit),
 *  opening the group if there is none: a nested transaction whose commit
 *  (mns_txn_commit()) only merges it into the group, and whose abort drops
 *  it alone. Nothing is durable until mns_store_group_commit(). */
int mns_txn_begin_member(mns_store_t *s, mns_txn_t **out, mns_error_t *err);
/** \brief Commits the open group durably (one fsync for every member).
 *  On failure nothing of the group is stored. MNS_OK when none is open. */
int mns_store_group_commit(mns_store_t *s, mns_error_t *err);
/** \brief True while a member's nested transaction runs (the group cannot
 *  be committed then: it is, at the end of the loop turn). */
bool mns_store_member_running(const mns_store_t *s);
/** \brief True while a group is open. */
bool mns_store_group_open(const mns_store_t *s);
/** \brief Sets what commits the open group (and answers its members) when
 *  another write transaction is about to start. */
void mns_store_set_group_flush(mns_store_t *s, void (*flush)(void *data), void *data);
/** \brief Durable commits so far (each one an fsync; stats "store commits"). */
uint64_t mns_store_commits(const mns_store_t *s);
/** \brief Drops the map's pages from this process's resident set (after a
 *  scan of every tenant: they stay in the page cache). */
void mns_store_drop_cached(mns_store_t *s);

/** \brief Reads tenant \a id. \return MNS_OK, MNS_ENOENT, or MNS_ESTORE. */
int mns_store_tenant_get(mns_txn_t *t, const char *id, json_t **doc);
/** \brief Writes tenant \a id. */
int mns_store_tenant_put(mns_txn_t *t, const char *id, const json_t *doc, mns_error_t *err);
/** \brief Deletes tenant \a id. */
int mns_store_tenant_del(mns_txn_t *t, const char *id, mns_error_t *err);
/** \brief Calls \a cb for tenants in id order starting after \a after (NULL:
 *  from the first) until \a cb returns false. */
int mns_store_tenant_each(mns_txn_t *t, const char *after,
                          bool (*cb)(const char *id, json_t *doc, void *data), void *data);
/** \brief mns_store_tenant_each(); with \a no_private the documents come
 *  with every "private" and "sealed" string empty (the zones are built from public data;
 *  parsing the keys was most of the start-up's time). */
int mns_store_tenant_each_opts(mns_txn_t *t, const char *after, bool no_private,
                               bool (*cb)(const char *id, json_t *doc, void *data), void *data);
/** \brief One reader's share of the start-up walk (core/store/walk.c): the
 *  documents as mns_store_tenant_each_opts(no_private) gives them, but only
 *  those in runs of \a per entries numbered \a part, \a part + \a parts, …
 *  \a entry gets each one's position in the whole walk; an entry that is
 *  not valid JSON comes with a NULL document (logged), so that the runs
 *  stay countable. */
int mns_store_tenant_walk_part(mns_txn_t *t, size_t part, size_t parts, size_t per,
                               bool (*entry)(size_t pos, const char *id, json_t *doc, void *data),
                               void *data);
/** \brief The start-up walk: every tenant document, as
 *  mns_store_tenant_each_opts(no_private) gives them and in the same order,
 *  read and parsed on a second thread while \a cb (on the calling thread)
 *  builds from the previous ones (core/store/walk.c). The reader has its own
 *  read transaction. A document is valid during its call only: it lives in
 *  a region of the walk's arena that is reused once the callback is past
 *  it, so keep a copy (json_deep_copy), never a reference.
 *  \return MNS_OK or the store error. */
int mns_store_tenant_walk_parallel(mns_store_t *s,
                                   bool (*cb)(const char *id, json_t *doc, void *data),
                                   void *data);
/** \brief Number of tenants. */
size_t mns_store_tenant_count(mns_txn_t *t);

/** \brief Looks up \a key (\a klen octets) in \a idx; the owner id goes to \a id
 *  (64 octets). \return MNS_OK or MNS_ENOENT. */
int mns_store_index_get(mns_txn_t *t, mns_store_index_t idx, const void *key, size_t klen,
                        char *id);
/** \brief Finds any key in \a idx that starts with \a prefix (\a plen octets). */
int mns_store_index_prefix(mns_txn_t *t, mns_store_index_t idx, const void *prefix, size_t plen,
                           char *id);
int mns_store_index_put(mns_txn_t *t, mns_store_index_t idx, const void *key, size_t klen,
                        const char *id, mns_error_t *err);
int mns_store_index_del(mns_txn_t *t, mns_store_index_t idx, const void *key, size_t klen,
                        mns_error_t *err);
/** \brief Number of entries in \a idx (for consistency checks). */
size_t mns_store_index_count(mns_txn_t *t, mns_store_index_t idx);

/** \brief The next zone serial: max(last + 1, \a now), remembered in the
 *  store so serials never go backwards, across restarts and removals. */
int mns_store_next_serial(mns_txn_t *t, uint32_t now, uint32_t *serial, mns_error_t *err);
/** \brief Reads/writes a small named value in the meta table. */
int mns_store_meta_get_u32(mns_txn_t *t, const char *key, uint32_t *val);
int mns_store_meta_put_u32(mns_txn_t *t, const char *key, uint32_t val, mns_error_t *err);

/** \brief Size of the store: \a file_bytes the data file on disk, \a used_bytes
 *  the pages in use (LMDB's last page number times the page size).
 *  \return MNS_OK or MNS_ESTORE. */
int mns_store_usage(mns_store_t *s, uint64_t *file_bytes, uint64_t *used_bytes);

#endif
