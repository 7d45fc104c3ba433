/*  The zone index: apex → zone, read lock-free by the query path (RCU),
 *  changed only by the main loop.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_INDEX_H
#define MNS_INDEX_H

#include "zone/zone.h"

typedef struct mns_index mns_index_t;

/** RCU read side. Every thread that reads the index registers once with
 *  mns_rcu_register() and brackets lookups with mns_rcu_read_lock/unlock.
 *  The writer functions (publish, withdraw, foreach, free) take read sections
 *  and call_rcu themselves, so the main loop's thread registers too. */
#define mns_rcu_register() urcu_memb_register_thread()
#define mns_rcu_unregister() urcu_memb_unregister_thread()
#define mns_rcu_read_lock() urcu_memb_read_lock()
#define mns_rcu_read_unlock() urcu_memb_read_unlock()

/** \brief A new, empty index. \return NULL on OOM. */
mns_index_t *mns_index_new(void);
/** \brief Sizes the zone table for about \a zones zones before they are
 *  published (start-up), instead of growing it lazily during the load. */
void mns_index_reserve(mns_index_t *idx, size_t zones);
/** \brief Frees the index and every zone in it (waits for pending RCU frees). */
void mns_index_free(mns_index_t *idx);
/** \brief Publishes \a z (taking ownership), replacing any zone with the same
 *  apex; the old zone is freed after a grace period. A HOSTED zone also
 *  becomes mns_index_hosted(). Main loop only. \return MNS_OK or MNS_ENOMEM. */
int mns_index_publish(mns_index_t *idx, mns_zone_t *z);
/** \brief Removes the zone at \a apex (lowercase wire). \return MNS_OK or MNS_ENOENT. */
int mns_index_withdraw(mns_index_t *idx, const knot_dname_t *apex);
/** \brief The zone whose apex is the longest suffix of \a name (lowercase
 *  wire), or NULL. Call inside an RCU read section; the zone stays valid until
 *  the section ends. */
const mns_zone_t *mns_index_lookup(const mns_index_t *idx, const knot_dname_t *name);
/** \brief The closest zone above \a z that is not a SUBTREE (the zone a
 *  SUBTREE belongs to: its SOA, its transfers), or NULL (RCU read section). */
const mns_zone_t *mns_index_enclosing(const mns_index_t *idx, const mns_zone_t *z);
/** \brief The zone at exactly \a apex, or NULL (RCU read section). */
const mns_zone_t *mns_index_get(const mns_index_t *idx, const knot_dname_t *apex);
/** \brief True when \a name (lowercase wire) is an ancestor of a SUBTREE
 *  zone's apex inside an enclosing zone: an empty non-terminal of that zone
 *  (RCU read section). */
bool mns_index_is_ent(const mns_index_t *idx, const knot_dname_t *name);
/** \brief The current hosted zone, or NULL (RCU read section). */
const mns_zone_t *mns_index_hosted(const mns_index_t *idx);
/** \brief Number of zones. */
size_t mns_index_count(const mns_index_t *idx);
/** Called on the main loop after a zone is published (\a z the new zone,
 *  \a published true) or before a withdrawn one is released (\a published false). */
typedef void (*mns_index_observer_cb)(const mns_zone_t *z, bool published, void *data);
/** \brief Sets (or with NULL clears) the one observer of publications. */
void mns_index_set_observer(mns_index_t *idx, mns_index_observer_cb cb, void *data);
/** \brief Calls \a cb for every zone (main loop; order unspecified). */
void mns_index_foreach(const mns_index_t *idx, void (*cb)(const mns_zone_t *z, void *data),
                       void *data);

#endif
