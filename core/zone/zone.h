/*  Zones: a builder that plugins and the static-zone loader emit records into,
 *  and the immutable, prebuilt zone the query path reads.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_ZONE_H
#define MNS_ZONE_H

#include <stdbool.h>
#include <stdint.h>
#include <libknot/libknot.h>
#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#include "mailns/plugin.h"

typedef enum mns_zone_kind {
	MNS_ZONE_TENANT, /**< An ns-mode tenant's delegated zone: own SOA and NS. */
	MNS_ZONE_SUBTREE, /**< A cname-mode tenant's subtree of the hosted zone, indexed
	                       at its root ("<id>.<hosted>", its "apex"): no SOA;
	                       negative answers use the hosted zone's SOA. */
	MNS_ZONE_HOSTED, /**< The vendor's hosted zone (apex SOA and NS). */
	MNS_ZONE_STATIC, /**< Loaded from a zone file, served as it is. */
} mns_zone_kind_t;

/** Node flags. */
enum {
	MNS_NODE_DELEG = 1 << 0, /**< Has NS and is not the apex: a delegation point. */
	MNS_NODE_CNAME = 1 << 1, /**< Holds a CNAME (and nothing else). */
	MNS_NODE_ADDITIONAL = 1 << 2, /**< An NS, MX or SRV RRset here has a target at
	                                   or below the apex: a positive answer with it
	                                   may carry addresses in the additional section. */
};

/** A name in a zone with its RRsets (none for an empty non-terminal). */
typedef struct mns_node {
	knot_dname_t *owner; /**< Lowercase wire format. */
	knot_rrset_t *rrsets; /**< n_rrsets RRsets, owner pointers = this owner. */
	uint16_t n_rrsets;
	uint16_t flags;
} mns_node_t;

/** An immutable zone. After mns_zb_build() nothing in it changes; it is
 *  published in the index and freed after an RCU grace period. The zone and
 *  everything it points to (nodes, owners, RRsets, RDATA in wire format,
 *  slots) are one allocation. */
typedef struct mns_zone {
	struct cds_lfht_node ht_node; /**< Index linkage (owned by the index). */
	struct rcu_head rcu; /**< Deferred free (owned by the index). */
	knot_dname_t *apex; /**< Lowercase wire format. */
	mns_zone_kind_t kind;
	char *tenant; /**< Owning tenant id (TENANT, SUBTREE), else NULL. */
	uint32_t serial; /**< SOA serial (0 for SUBTREE). */
	const knot_rrset_t *soa; /**< Apex SOA; NULL for SUBTREE. */
	bool has_deleg; /**< Some node has MNS_NODE_DELEG. */
	uint8_t ent_levels; /**< SUBTREE: ancestors the index registered as empty
	                         non-terminals (set by the index at publish). */
	size_t n_nodes;
	mns_node_t *nodes; /**< Sorted in canonical DNS order (apex first). */
	uint32_t *slots; /**< Open-addressing hash: node index + 1, 0 = empty. */
	uint32_t mask; /**< Slot count - 1 (a power of two at least 2 × n_nodes). */
	uint32_t soa_neg_ttl; /**< TTL of the SOA in negative answers:
	                           min(TTL, MINIMUM) (RFC 2308 3). */
} mns_zone_t;

/** \brief Starts a builder for the zone at \a apex whose producers may emit at
 *  or below \a base (text names, no trailing dot needed; base = apex for
 *  whole zones, "<id>.<hosted>" for a SUBTREE). \return NULL on OOM or bad names. */
mns_zone_builder_t *mns_zb_new(const char *apex, const char *base, mns_zone_kind_t kind);
/** \brief Names the producer of the records added next (for clash messages). */
void mns_zb_set_producer(mns_zone_builder_t *zb, const char *producer);
/** \brief Sets the tenant id copied into the built zone. */
void mns_zb_set_tenant(mns_zone_builder_t *zb, const char *tenant);
/** \brief Adds an SOA at the apex. Names are text. */
int mns_zb_add_soa(mns_zone_builder_t *zb, uint32_t ttl, const char *mname, const char *rname,
                   uint32_t serial, uint32_t refresh, uint32_t retry, uint32_t expire,
                   uint32_t minimum, mns_error_t *err);
/** \brief Adds an NS record. */
int mns_zb_add_ns(mns_zone_builder_t *zb, const char *owner, uint32_t ttl, const char *target,
                  mns_error_t *err);
/** \brief Adds a record whose owner is wire format (absolute), for the zone-file loader. */
int mns_zb_add_wire(mns_zone_builder_t *zb, const knot_dname_t *owner, uint16_t type,
                    uint32_t ttl, const uint8_t *rdata, size_t len, mns_error_t *err);
/** \brief Builds the immutable zone: groups RRsets per node, adds empty
 *  non-terminals up to the apex, checks CNAME exclusivity, indexes the nodes,
 *  and (for all kinds but SUBTREE) requires one SOA at the apex.
 *  \param[out] out the new zone, owned by the caller (or the index once published).
 *  \return MNS_OK, or an error described in \a err. The builder stays usable
 *  only for mns_zb_free(). */
int mns_zb_build(mns_zone_builder_t *zb, mns_zone_t **out, mns_error_t *err);
/** \brief Attaches a collector for records a producer places outside the
 *  zone (mns_zb_add_vendor_txt); NULL refuses them. Not owned. */
void mns_zb_set_external(mns_zone_builder_t *zb, void *external);
/** \brief The attached collector, or NULL. */
void *mns_zb_external(const mns_zone_builder_t *zb);
/** \brief The current producer's name ("core" when unnamed). */
const char *mns_zb_producer(const mns_zone_builder_t *zb);
/** \brief Frees a builder. */
void mns_zb_free(mns_zone_builder_t *zb);

/** \brief Hash of a (lowercase) wire-format name, shared by the zone's node
 *  table and the zone index. \return the hash. */
uint64_t mns_dname_hash(const knot_dname_t *name);

/** \brief Finds the node for \a name (lowercase wire). \return NULL if absent. */
const mns_node_t *mns_zone_find(const mns_zone_t *z, const knot_dname_t *name);
/** \brief The node's RRset of \a type. \return NULL if absent. */
const knot_rrset_t *mns_node_rrset(const mns_node_t *n, uint16_t type);
/** \brief Sets the SOA serial of a zone not yet published (it is immutable
 *  once in the index). */
void mns_zone_set_serial(mns_zone_t *z, uint32_t serial);
/** \brief Frees a zone that is not (or no longer) in the index. */
void mns_zone_free(mns_zone_t *z);

/** \brief Describes the zone's records (for tenant.records): \a json gets an
 *  array of {"name","type","ttl","value"} and \a text zone-file lines
 *  (malloc'd; free()). Either may be NULL. \return MNS_OK or MNS_ENOMEM. */
int mns_zone_dump(const mns_zone_t *z, json_t **json, char **text);

/** \brief Loads a zone file with libzscanner. \a origin is the zone name
 *  (text). Every record must be at or below the origin and the apex must hold
 *  an SOA. Errors name the file and line. */
int mns_zone_load_file(const char *path, const char *origin, mns_zone_t **out, mns_error_t *err);

#endif
