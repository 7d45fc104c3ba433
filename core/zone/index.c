/*  The zone index: a liburcu lock-free hash table (memb flavour) keyed by the
 *  lowercase wire apex. Writers (the main loop) replace whole zones; readers
 *  never block and see either the old or the new zone.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "zone/index.h"

/* cds_lfht_for_each_entry() takes container_of(NULL) when the walk ends,
 * pointer arithmetic on NULL that clang's UBSan reports: convert only the
 * nodes that exist. */
#define HT_FOR_EACH(ht, it, pos, type, member)                                              \
	for (cds_lfht_first(ht, it);                                                         \
	     cds_lfht_iter_get_node(it) != NULL &&                                           \
	     ((pos) = caa_container_of(cds_lfht_iter_get_node(it), type, member), 1);        \
	     cds_lfht_next(ht, it))

/* An empty non-terminal created by SUBTREE zones below it, counted. */
typedef struct ent {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	uint32_t refs; /* Main loop only. */
	knot_dname_t name[];
} ent_t;

struct mns_index {
	struct cds_lfht *ht;
	struct cds_lfht *ents; /**< Names between SUBTREE apexes and their zone. */
	mns_zone_t *hosted; /**< RCU-protected: the last published HOSTED zone. */
	size_t count;       /**< Zones in the table (main loop only). */
	/** Zones per label count of their apex (main loop only), and the
	 *  readers' view of it: bit d of depths is set while some zone's apex
	 *  has d labels. A lookup asks the table only at those depths: with
	 *  every tenant zone at one depth, a DKIM name six labels deep costs
	 *  one probe of the table instead of three (two of them misses). */
	uint32_t at_depth[KNOT_DNAME_MAXLABELS + 1];
	_Atomic uint64_t depths[(KNOT_DNAME_MAXLABELS + 64) / 64];
	mns_index_observer_cb observer; /**< Told of publications (main loop). */
	void *observer_data;
};

void mns_index_set_observer(mns_index_t *idx, mns_index_observer_cb cb, void *data)
{
	if (idx == NULL)
		return;
	idx->observer = cb;
	idx->observer_data = data;
}

static int match_apex(struct cds_lfht_node *node, const void *key)
{
	const mns_zone_t *z = caa_container_of(node, mns_zone_t, ht_node);
	return knot_dname_is_equal(z->apex, key);
}

static void zone_free_rcu(struct rcu_head *head)
{
	mns_zone_free(caa_container_of(head, mns_zone_t, rcu));
}

mns_index_t *mns_index_new(void)
{
	mns_index_t *idx = calloc(1, sizeof(*idx));
	if (idx == NULL)
		return NULL;
	idx->ht = cds_lfht_new_flavor(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
	                              &urcu_memb_flavor, NULL);
	idx->ents = cds_lfht_new_flavor(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
	                                &urcu_memb_flavor, NULL);
	if (idx->ht == NULL || idx->ents == NULL) {
		if (idx->ht)
			cds_lfht_destroy(idx->ht, NULL);
		if (idx->ents)
			cds_lfht_destroy(idx->ents, NULL);
		free(idx);
		return NULL;
	}
	return idx;
}

void mns_index_reserve(mns_index_t *idx, size_t zones)
{
	/* AUTO_RESIZE grows the table lazily, from a background thread, so a
	 * load of many zones at once walks long bucket chains meanwhile: size
	 * it for what is about to come (a power of two, one bucket per zone). */
	unsigned long want = 64;
	while (want < zones && want < (1ul << 30))
		want <<= 1;
	cds_lfht_resize(idx->ht, want);
}

static int match_ent(struct cds_lfht_node *node, const void *key)
{
	return knot_dname_is_equal(caa_container_of(node, ent_t, node)->name, key);
}

static void ent_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, ent_t, rcu));
}

static ent_t *ent_find(const mns_index_t *idx, const knot_dname_t *name)
{
	struct cds_lfht_iter it;
	cds_lfht_lookup(idx->ents, (unsigned long)mns_dname_hash(name), match_ent, name, &it);
	struct cds_lfht_node *node = cds_lfht_iter_get_node(&it);
	return node != NULL ? caa_container_of(node, ent_t, node) : NULL;
}

bool mns_index_is_ent(const mns_index_t *idx, const knot_dname_t *name)
{
	return idx != NULL && name != NULL && ent_find(idx, name) != NULL;
}

/* Counts the ancestors of a SUBTREE apex up to (not including) the closest
 * zone that is not a SUBTREE; remembers how many in the zone, so that the
 * withdrawal releases exactly those. Inside a read section, main loop only. */
static void ents_add(mns_index_t *idx, mns_zone_t *z)
{
	z->ent_levels = 0;
	if (z->kind != MNS_ZONE_SUBTREE)
		return;
	const mns_zone_t *up = mns_index_enclosing(idx, z);
	int levels = knot_dname_labels(z->apex, NULL) - 1 -
	             (up != NULL ? knot_dname_labels(up->apex, NULL) : 0);
	const knot_dname_t *n = z->apex;
	for (int i = 0; i < levels; i++) {
		n = knot_wire_next_label(n, NULL);
		ent_t *e = ent_find(idx, n);
		if (e != NULL) {
			e->refs++;
		} else {
			size_t len = knot_dname_size(n);
			e = calloc(1, sizeof(*e) + len);
			if (e == NULL)
				break;
			memcpy(e->name, n, len);
			e->refs = 1;
			cds_lfht_node_init(&e->node);
			cds_lfht_add(idx->ents, (unsigned long)mns_dname_hash(e->name), &e->node);
		}
		z->ent_levels++;
	}
}

static void ents_release(mns_index_t *idx, const mns_zone_t *z)
{
	const knot_dname_t *n = z->apex;
	for (uint8_t i = 0; i < z->ent_levels; i++) {
		n = knot_wire_next_label(n, NULL);
		ent_t *e = ent_find(idx, n);
		if (e != NULL && --e->refs == 0 && cds_lfht_del(idx->ents, &e->node) == 0)
			urcu_memb_call_rcu(&e->rcu, ent_free_rcu);
	}
}

void mns_index_free(mns_index_t *idx)
{
	if (idx == NULL)
		return;
	struct cds_lfht_iter it;
	mns_zone_t *z;

	/* Unlink every zone, then let a grace period pass before freeing them:
	 * a reader that is still in a read section keeps a valid zone. */
	urcu_memb_read_lock();
	HT_FOR_EACH(idx->ht, &it, z, mns_zone_t, ht_node)
	{
		if (cds_lfht_del(idx->ht, &z->ht_node) == 0)
			urcu_memb_call_rcu(&z->rcu, zone_free_rcu);
	}
	rcu_assign_pointer(idx->hosted, NULL);
	ent_t *e;
	HT_FOR_EACH(idx->ents, &it, e, ent_t, node)
	{
		if (cds_lfht_del(idx->ents, &e->node) == 0)
			urcu_memb_call_rcu(&e->rcu, ent_free_rcu);
	}
	urcu_memb_read_unlock();

	/* Runs every pending callback, those of earlier replacements included. */
	urcu_memb_barrier();
	cds_lfht_destroy(idx->ht, NULL);
	cds_lfht_destroy(idx->ents, NULL);
	free(idx);
}

/* Counts a zone in or out of its apex's depth. The bit is set before the
 * zone enters the table and cleared after the last one at that depth left
 * it: a reader that sees a zone in the table always probes its depth. */
static void depth_add(mns_index_t *idx, const mns_zone_t *z, int delta)
{
	int d = knot_dname_labels(z->apex, NULL);
	if (d < 0 || d > KNOT_DNAME_MAXLABELS)
		return;
	uint64_t bit = (uint64_t)1 << (d & 63);
	if (delta > 0 && idx->at_depth[d]++ == 0)
		atomic_fetch_or_explicit(&idx->depths[d >> 6], bit, memory_order_seq_cst);
	else if (delta < 0 && idx->at_depth[d] > 0 && --idx->at_depth[d] == 0)
		atomic_fetch_and_explicit(&idx->depths[d >> 6], ~bit, memory_order_seq_cst);
}

int mns_index_publish(mns_index_t *idx, mns_zone_t *z)
{
	if (idx == NULL || z == NULL || z->apex == NULL)
		return MNS_EINVAL;
	cds_lfht_node_init(&z->ht_node);
	unsigned long hash = (unsigned long)mns_dname_hash(z->apex);
	depth_add(idx, z, +1); /* A replaced zone (same apex) is counted out below. */

	urcu_memb_read_lock();
	ents_add(idx, z);
	struct cds_lfht_node *old_node =
	    cds_lfht_add_replace(idx->ht, hash, match_apex, z->apex, &z->ht_node);
	mns_zone_t *old = old_node ? caa_container_of(old_node, mns_zone_t, ht_node) : NULL;
	if (old != NULL)
		ents_release(idx, old);
	if (z->kind == MNS_ZONE_HOSTED)
		rcu_assign_pointer(idx->hosted, z);
	else if (old != NULL && idx->hosted == old)
		rcu_assign_pointer(idx->hosted, NULL);
	if (idx->observer)
		idx->observer(z, true, idx->observer_data);
	urcu_memb_read_unlock();

	if (old != NULL) {
		depth_add(idx, old, -1);
		urcu_memb_call_rcu(&old->rcu, zone_free_rcu);
	} else {
		idx->count++;
	}
	return MNS_OK;
}

int mns_index_withdraw(mns_index_t *idx, const knot_dname_t *apex)
{
	if (idx == NULL || apex == NULL)
		return MNS_EINVAL;
	struct cds_lfht_iter it;
	int ret = MNS_ENOENT;

	urcu_memb_read_lock();
	cds_lfht_lookup(idx->ht, (unsigned long)mns_dname_hash(apex), match_apex, apex, &it);
	struct cds_lfht_node *node = cds_lfht_iter_get_node(&it);
	if (node != NULL && cds_lfht_del(idx->ht, node) == 0) {
		mns_zone_t *z = caa_container_of(node, mns_zone_t, ht_node);
		if (idx->hosted == z)
			rcu_assign_pointer(idx->hosted, NULL);
		if (idx->observer)
			idx->observer(z, false, idx->observer_data);
		ents_release(idx, z);
		depth_add(idx, z, -1); /* Out of the table already. */
		urcu_memb_call_rcu(&z->rcu, zone_free_rcu);
		idx->count--;
		ret = MNS_OK;
	}
	urcu_memb_read_unlock();
	return ret;
}

const mns_zone_t *mns_index_get(const mns_index_t *idx, const knot_dname_t *apex)
{
	if (idx == NULL || apex == NULL)
		return NULL;
	struct cds_lfht_iter it;
	cds_lfht_lookup(idx->ht, (unsigned long)mns_dname_hash(apex), match_apex, apex, &it);
	struct cds_lfht_node *node = cds_lfht_iter_get_node(&it);
	return node != NULL ? caa_container_of(node, mns_zone_t, ht_node) : NULL;
}

/* The closest zone at or above \a name, longest match first, down to names
 * of \a min_depth labels, passing over SUBTREE zones when \a skip_subtree;
 * only depths where some zone is are probed. */
static const mns_zone_t *probe_up(const mns_index_t *idx, const knot_dname_t *name,
                                  int min_depth, bool skip_subtree)
{
	uint64_t depths[MNS_ARRAY_SIZE(idx->depths)];
	for (size_t i = 0; i < MNS_ARRAY_SIZE(depths); i++)
		depths[i] = atomic_load_explicit(&idx->depths[i], memory_order_seq_cst);
	int d = knot_dname_labels(name, NULL);
	for (const knot_dname_t *n = name; n != NULL && d >= min_depth;
	     n = knot_wire_next_label(n, NULL), d--) {
		if (!(depths[d >> 6] >> (d & 63) & 1))
			continue;
		const mns_zone_t *z = mns_index_get(idx, n);
		if (z != NULL && !(skip_subtree && z->kind == MNS_ZONE_SUBTREE))
			return z;
	}
	return NULL;
}

const mns_zone_t *mns_index_enclosing(const mns_index_t *idx, const mns_zone_t *z)
{
	/* From the parent up, the root excluded. */
	const knot_dname_t *parent = knot_wire_next_label(z->apex, NULL);
	return idx != NULL && parent != NULL ? probe_up(idx, parent, 1, true) : NULL;
}

const mns_zone_t *mns_index_lookup(const mns_index_t *idx, const knot_dname_t *name)
{
	/* Longest match first: the name itself, then each parent up to the root. */
	return idx != NULL && name != NULL ? probe_up(idx, name, 0, false) : NULL;
}

const mns_zone_t *mns_index_hosted(const mns_index_t *idx)
{
	if (idx == NULL)
		return NULL;
	return rcu_dereference(idx->hosted);
}

size_t mns_index_count(const mns_index_t *idx)
{
	return idx != NULL ? idx->count : 0;
}

void mns_index_foreach(const mns_index_t *idx, void (*cb)(const mns_zone_t *z, void *data),
                       void *data)
{
	if (idx == NULL || cb == NULL)
		return;
	struct cds_lfht_iter it;
	mns_zone_t *z;
	urcu_memb_read_lock();
	HT_FOR_EACH(idx->ht, &it, z, mns_zone_t, ht_node) cb(z, data);
	urcu_memb_read_unlock();
}
