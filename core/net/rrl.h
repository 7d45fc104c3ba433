/*  Response rate limiting (RRL) for UDP answers: a token bucket per source
 *  prefix and response class in a fixed-size table, as Knot DNS and BIND do,
 *  so that spoofed queries cannot turn the server into an amplifier.
 *
 *  The table is allocated once and never grows; deciding allocates nothing
 *  and takes no lock. A table belongs to one thread: each worker loop gets
 *  its own (the kernel spreads one source's datagrams over the SO_REUSEPORT
 *  sockets, so with N workers a source may get up to N × rate).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_RRL_H
#define MNS_RRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/** Response classes with separate buckets. A flood of junk names (NXDOMAIN)
 *  or of queries we refuse (errors) aimed at a victim's address does not use
 *  up the budget of that network's real answers, and the reverse. */
typedef enum mns_rrl_class {
	MNS_RRL_POSITIVE, /**< NOERROR with answer records. */
	MNS_RRL_EMPTY,    /**< NOERROR without answers: NODATA and referrals. */
	MNS_RRL_NXDOMAIN, /**< NXDOMAIN. */
	MNS_RRL_ERROR,    /**< Every other RCODE (REFUSED, FORMERR, …). */
	MNS_RRL_N_CLASSES
} mns_rrl_class_t;

/** What to do with one response. */
typedef enum mns_rrl_action {
	MNS_RRL_PASS, /**< Send it as it is. */
	MNS_RRL_SLIP, /**< Send it truncated (mns_rrl_truncate()), so that a real
	                   client behind the prefix retries over TCP. */
	MNS_RRL_DROP, /**< Send nothing. */
} mns_rrl_action_t;

/** Settings ([server] rrl-*). */
typedef struct mns_rrl_conf {
	uint32_t rate;       /**< Responses per second per prefix and class; 0 = off. */
	uint32_t slip;       /**< Every slip-th limited response is truncated; 0 = none. */
	uint8_t ipv4_prefix; /**< Bits of an IPv4 source that make its bucket (24). */
	uint8_t ipv6_prefix; /**< Bits of an IPv6 source (56). */
	uint32_t table_size; /**< Buckets (rounded up to a power of two). */
} mns_rrl_conf_t;

typedef struct mns_rrl mns_rrl_t;

/** \brief Allocates a table for \a conf (the only allocation RRL makes).
 *  \return the table (owned by the caller), or NULL when out of memory. */
mns_rrl_t *mns_rrl_new(const mns_rrl_conf_t *conf);
/** \brief Frees a table (NULL is fine). */
void mns_rrl_free(mns_rrl_t *rrl);
/** \brief The settings \a rrl was made with. */
const mns_rrl_conf_t *mns_rrl_conf(const mns_rrl_t *rrl);

/** \brief The class of a response, from its wire header (\a len octets). */
mns_rrl_class_t mns_rrl_classify(const uint8_t *resp, size_t len);

/** \brief Charges one response of class \a cls to the bucket of \a src.
 *  Buckets hold up to one second of tokens (the burst) and refill at the
 *  configured rate. Logs (itself rate-limited) when a prefix starts or stops
 *  being limited.
 *  \param[in] now_ms a monotonic clock in milliseconds (the loop's time).
 *  \return the action for this response; PASS for anything not IPv4/IPv6. */
mns_rrl_action_t mns_rrl_check(mns_rrl_t *rrl, const struct sockaddr *src, mns_rrl_class_t cls,
                               uint64_t now_ms);

/** \brief Rewrites a response in place into its truncated form: header and
 *  question only, TC=1, no other records.
 *  \return the new length, or 0 when \a resp is too malformed to truncate. */
size_t mns_rrl_truncate(uint8_t *resp, size_t len);

#endif
