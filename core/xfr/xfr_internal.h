/*  Zone transfer internals, split out so that unit tests reach the pure parts:
 *  config and ACL decisions, TSIG checks, message building, catalog contents.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_XFR_INTERNAL_H
#define MNS_XFR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <jansson.h>
#include <libknot/libknot.h>

#include "mailns/plugin.h"
#include "zone/index.h"

/** Largest message offset a compression pointer reaches: start a new message
 *  once one grows past it (as knotd does). */
#define MNS_XFR_MSG_SOFT 16384

/** One ACL entry: an address prefix, optionally requiring a key. */
typedef struct mns_xfr_acl {
	int family; /**< AF_INET or AF_INET6. */
	uint8_t addr[16];
	uint8_t prefix; /**< Prefix length in bits. */
	int key;        /**< Index into keys, or -1: no key required. */
} mns_xfr_acl_t;

/** Parsed [xfr] settings. */
typedef struct mns_xfr_conf {
	knot_tsig_key_t *keys;
	size_t n_keys;
	mns_xfr_acl_t *acl;
	size_t n_acl;
	struct sockaddr_storage *notify; /**< NOTIFY targets. */
	size_t n_notify;
	int notify_key;             /**< Index into keys, or -1: NOTIFY unsigned. */
	uint32_t notify_delay_ms;   /**< Coalescing delay before NOTIFYs go out. */
	uint32_t notify_retries;    /**< Attempts per NOTIFY before giving up. */
	uint32_t notify_timeout_ms; /**< First retry interval (doubles). */
	knot_dname_t *catalog;      /**< Lowercase wire, or NULL: no catalog. */
	char *catalog_group;        /**< "" = no group property. */
	uint32_t ixfr_history;      /**< Changes kept per zone for IXFR. */
} mns_xfr_conf_t;

/** \brief Parses the checked [xfr] JSON \a j into \a c. On failure \a err names the key. */
int mns_xfr_conf_parse(const json_t *j, mns_xfr_conf_t *c, mns_error_t *err);
/** \brief Frees what mns_xfr_conf_parse() allocated. */
void mns_xfr_conf_deinit(mns_xfr_conf_t *c);
/** \brief Parses "PREFIX[/LEN][:KEYNAME]" (a key requires the /LEN). */
int mns_xfr_acl_parse(const char *text, const mns_xfr_conf_t *c, mns_xfr_acl_t *out,
                      mns_error_t *err);
/** \brief The key named \a name (lowercase wire) with algorithm \a alg
 *  (a dnssec_tsig_algorithm_t, or -1 for any), or -1. */
int mns_xfr_key_find(const mns_xfr_conf_t *c, const knot_dname_t *name, int alg);

/** Outcome of the TSIG and ACL checks of one request. */
typedef struct mns_xfr_auth {
	int key;             /**< Index of the verified key, or -1 (unsigned request). */
	uint16_t rcode;      /**< 0, or NOTAUTH (TSIG error) / REFUSED (ACL) to answer with. */
	uint16_t tsig_error; /**< BADKEY, BADSIG, BADTIME with rcode NOTAUTH. */
} mns_xfr_auth_t;

/** \brief Checks the TSIG of the parsed query \a q (if any) against the
 *  configured keys. \return the auth state: key set, or a TSIG error. */
mns_xfr_auth_t mns_xfr_tsig_check(const mns_xfr_conf_t *c, const knot_pkt_t *q);
/** \brief True when \a from is in an ACL entry whose key (if any) is \a key. */
bool mns_xfr_acl_allows(const mns_xfr_conf_t *c, const struct sockaddr *from, int key);

/** A growable buffer of length-framed messages. */
typedef struct mns_xfr_out {
	uint8_t *buf;
	size_t len, cap;
} mns_xfr_out_t;

/** One RRset of a transfer, or NULL at the end. */
typedef struct mns_xfr_iter {
	const mns_zone_t *const *zones; /**< zones[0] the zone, then its subtrees. */
	size_t n_zones;
	const mns_index_t *index; /**< For shadowing checks; NULL = none. */
	size_t zi, ni, ri;
} mns_xfr_iter_t;

/** \brief Next RRset of the transfer set (zones[0]'s apex SOA excluded). */
const knot_rrset_t *mns_xfr_iter_next(mns_xfr_iter_t *it);

/** \brief Writes a transfer answering \a q: \a soa, every RRset of \a it (if
 *  not NULL) or the \a n_rr RRsets of \a rrs, then \a soa again unless
 *  \a single. Messages split past MNS_XFR_MSG_SOFT octets or when full; each is
 *  signed when \a key is set (the first against the request MAC).
 *  \return MNS_OK or an error (an RRset too large for a message). */
int mns_xfr_write(const knot_pkt_t *q, const knot_rrset_t *soa, mns_xfr_iter_t *it,
                  const knot_rrset_t *const *rrs, size_t n_rr, bool single,
                  const knot_tsig_key_t *key, mns_xfr_out_t *out);
/** \brief Writes one error response to \a q: with the unsigned TSIG error
 *  \a tsig_error, or signed with \a key (a verified request). */
int mns_xfr_write_error(const knot_pkt_t *q, uint16_t rcode, uint16_t tsig_error,
                        const knot_tsig_key_t *key, mns_xfr_out_t *out);
/** \brief Appends one message with its 2-octet length. */
int mns_xfr_out_append(mns_xfr_out_t *o, const uint8_t *msg, size_t n);
/** \brief Frees the buffer. */
void mns_xfr_out_free(mns_xfr_out_t *out);

/** \brief The catalog member id label of \a apex: 16 hex digits of a 64-bit
 *  hash of the lowercase wire name (stable across restarts). */
void mns_xfr_catalog_id(const knot_dname_t *apex, char out[17]);
/** \brief Builds the catalog zone (RFC 9432 version 2) named \a catalog
 *  listing the \a n member apexes (lowercase wire) with \a group ("" = none).
 *  \return MNS_OK and \a *out (free with mns_zone_free), or an error. */
int mns_xfr_catalog_build(const knot_dname_t *catalog, const knot_dname_t *const *members, size_t n,
                          const char *group, uint32_t serial, mns_zone_t **out, mns_error_t *err);

/** RFC 1982: true when serial \a a is before \a b. */
static inline bool mns_serial_lt(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) < 0;
}

#endif
