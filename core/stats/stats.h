/*  Counters of the query path and the control socket.
 *
 *  Every thread that answers queries owns one counter block (registered once
 *  with mns_stats_block_register()) and is the only writer of it. A counter
 *  is a 64-bit value updated with relaxed atomic load + store (a plain mov on
 *  x86-64: no lock prefix, no shared cache line), so counting costs no lock,
 *  no allocation and no system call. Readers (the control command, the
 *  metrics thread) sum every registered block with relaxed loads: a sum may
 *  lag a query in flight, never tear. Blocks are cache-line aligned so that
 *  two workers never write the same line.
 *
 *  Blocks are never freed while the daemon runs (the registry is a fixed
 *  array); mns_stats_reset() frees them all at exit (tests).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_STATS_H
#define MNS_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Most counter blocks (worker threads plus the main loop). */
#define MNS_STATS_MAX_BLOCKS (256 + 2) /* workers at most 256, the main loop, spare */

/** Transports. */
enum { MNS_STATS_UDP, MNS_STATS_TCP, MNS_STATS_N_TRANSPORT };

/** QTYPE buckets: the common types by name, everything else "other". */
enum {
	MNS_STATS_QT_A,
	MNS_STATS_QT_NS,
	MNS_STATS_QT_CNAME,
	MNS_STATS_QT_SOA,
	MNS_STATS_QT_PTR,
	MNS_STATS_QT_MX,
	MNS_STATS_QT_TXT,
	MNS_STATS_QT_AAAA,
	MNS_STATS_QT_SRV,
	MNS_STATS_QT_DS,
	MNS_STATS_QT_DNSKEY,
	MNS_STATS_QT_SVCB,
	MNS_STATS_QT_HTTPS,
	MNS_STATS_QT_CAA,
	MNS_STATS_QT_ANY,
	MNS_STATS_QT_AXFR,
	MNS_STATS_QT_IXFR,
	MNS_STATS_QT_OTHER,
	MNS_STATS_N_QTYPE
};

/** RCODE buckets (extended rcodes included: BADVERS). */
enum {
	MNS_STATS_RC_NOERROR,
	MNS_STATS_RC_FORMERR,
	MNS_STATS_RC_SERVFAIL,
	MNS_STATS_RC_NXDOMAIN,
	MNS_STATS_RC_NOTIMP,
	MNS_STATS_RC_REFUSED,
	MNS_STATS_RC_NOTAUTH,
	MNS_STATS_RC_BADVERS,
	MNS_STATS_RC_OTHER,
	MNS_STATS_N_RCODE
};

/** What answered a query (what the zone index can tell). */
typedef enum mns_stats_zone {
	MNS_STATS_ZONE_NONE,   /**< No zone of ours (REFUSED), or not looked up (FORMERR, …). */
	MNS_STATS_ZONE_TENANT, /**< An ns-mode tenant's zone. */
	MNS_STATS_ZONE_TENANT_CNAME, /**< A cname-mode tenant's subtree of the hosted zone. */
	MNS_STATS_ZONE_HOSTED,       /**< The hosted zone itself. */
	MNS_STATS_ZONE_STATIC,       /**< A static zone file. */
	MNS_STATS_ZONE_CHAOS,        /**< CHAOS class (id.server, version.bind). */
	MNS_STATS_N_ZONE
} mns_stats_zone_t;

/** Messages the transfer module handled instead of the answering code:
 *  AXFR, IXFR, and "other" = queries for the catalog zone and TSIG-signed
 *  queries (a signed ordinary query is also counted under queries, since the
 *  answering code builds its response). */
enum { MNS_STATS_XFR_AXFR, MNS_STATS_XFR_IXFR, MNS_STATS_XFR_OTHER, MNS_STATS_N_XFR };

/** A counter written by one thread only. */
typedef _Atomic uint64_t mns_counter_t;

/** One writer's counters. */
typedef struct mns_stats_block {
	_Alignas(64)
	    mns_counter_t queries[MNS_STATS_N_TRANSPORT][MNS_STATS_N_QTYPE][MNS_STATS_N_RCODE];
	mns_counter_t zone[MNS_STATS_N_ZONE];
	mns_counter_t truncated; /**< Responses with TC set. */
	mns_counter_t dropped;   /**< Messages not answered (QR set, shorter than a header, …). */
	mns_counter_t malformed; /**< Queries that did not parse (answered FORMERR). */
	mns_counter_t xfr[MNS_STATS_N_TRANSPORT][MNS_STATS_N_XFR];
	char pad_[64]; /**< Keeps the next block's first line apart from our last. */
} mns_stats_block_t;

/** Summed counters (plain integers, a snapshot). */
typedef struct mns_stats_sum {
	uint64_t queries[MNS_STATS_N_TRANSPORT][MNS_STATS_N_QTYPE][MNS_STATS_N_RCODE];
	uint64_t zone[MNS_STATS_N_ZONE];
	uint64_t truncated, dropped, malformed;
	uint64_t xfr[MNS_STATS_N_TRANSPORT][MNS_STATS_N_XFR];
} mns_stats_sum_t;

/** \brief Adds one to \a c. Only the block's owner thread may call it. */
static inline void mns_counter_inc(mns_counter_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

/** \brief A new zeroed block for the calling thread, registered for reading.
 *  Call once per worker at start (allocates; never on the query path).
 *  \return the block, or NULL when MNS_STATS_MAX_BLOCKS are registered or on OOM. */
mns_stats_block_t *mns_stats_block_register(void);
/** \brief Sums every registered block into \a out (any thread, lock-free). */
void mns_stats_sum(mns_stats_sum_t *out);
/** \brief Queries answered and messages dropped so far by the owner of \a b
 *  (any thread, relaxed loads; 0 for NULL). */
uint64_t mns_stats_block_messages(const mns_stats_block_t *b);
/** \brief Unregisters and frees every block (at exit, after the writers stopped). */
void mns_stats_reset(void);

/** \brief Counts one answered query. \a rcode is the full (extended) RCODE
 *  and \a zone what answered it. \a b may be NULL (nothing counted). */
void mns_stats_query(mns_stats_block_t *b, int transport, uint16_t qtype, unsigned rcode,
                     mns_stats_zone_t zone, bool truncated);
/** \brief Counts a message dropped without an answer. */
void mns_stats_dropped(mns_stats_block_t *b);
/** \brief Counts a message the transfer module handled; \a q is the message
 *  (its QTYPE tells AXFR from IXFR). */
void mns_stats_xfr(mns_stats_block_t *b, int transport, const uint8_t *q, size_t qlen);

/** \brief Name of a QTYPE bucket ("TXT", "other"). */
const char *mns_stats_qtype_name(int i);
/** \brief Name of an RCODE bucket ("NOERROR", "other"). */
const char *mns_stats_rcode_name(int i);
/** \brief Name of a zone kind ("tenant", "none"). */
const char *mns_stats_zone_name(int i);
/** \brief Name of a transport ("udp", "tcp"). */
const char *mns_stats_transport_name(int i);
/** \brief Name of a transfer bucket ("axfr", "ixfr", "other"). */
const char *mns_stats_xfr_name(int i);

/* --- Control commands (written by the main loop) ----------------------------- */

/** Most distinct command names counted. */
#define MNS_STATS_MAX_COMMANDS 128

/** \brief Counts control command \a cmd finishing with \a ok. Main loop
 *  only. The caller passes only names of existing commands (requests for
 *  unknown ones count as "unknown"), so the table stays small; past
 *  MNS_STATS_MAX_COMMANDS names everything counts as "other". */
void mns_stats_control(const char *cmd, bool ok);
/** \brief Calls \a cb for every command counted so far, with its name and
 *  ok/error counts. Any thread: entries are published with release stores
 *  and never change their name. */
void mns_stats_control_foreach(void (*cb)(const char *cmd, uint64_t ok, uint64_t error, void *data),
                               void *data);

#endif
