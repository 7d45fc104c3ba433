/*  Answering: one DNS message in, one response (or nothing) out. No sockets,
 *  no libuv, no allocation outside the caller's arena: testable on its own.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_DNS_H
#define MNS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libknot/libknot.h>

#include "stats/stats.h"
#include "util/arena.h"
#include "zone/index.h"

typedef enum mns_transport { MNS_TRANSPORT_UDP, MNS_TRANSPORT_TCP } mns_transport_t;

/** Answering settings (main loop owns them; replaced on reload). */
typedef struct mns_dns_conf {
	const char *identity; /**< CHAOS TXT id.server. / hostname.bind.; NULL = REFUSED. */
	const char *version; /**< CHAOS TXT version.bind. / version.server.; NULL = REFUSED. */
	uint16_t udp_max_payload; /**< Largest UDP answer we send with EDNS (e.g. 1232). */
} mns_dns_conf_t;

/** Arena size a mns_dns_ctx_t needs: a copy of the largest (TCP) query plus
 *  libknot's packet structures for the query and the response. */
#define MNS_DNS_ARENA_SIZE (256 * 1024)

/** Per-thread answering context. */
typedef struct mns_dns_ctx {
	const mns_index_t *index;
	const mns_dns_conf_t *conf;
	mns_arena_t arena; /**< Reset per message; libknot allocates from it
	                        (mns_arena_init(&arena, MNS_DNS_ARENA_SIZE)). */
	mns_stats_block_t *stats; /**< This thread's counters (NULL: not counted). */
	bool no_fast_path; /**< Answer everything through libknot (tests, benchmarks). */
	uint64_t fast_answers; /**< Messages answered by the fast path (tests, benchmarks). */
} mns_dns_ctx_t;

/** \brief Answers one message.
 *  \param[in] query the received message, \a qlen octets.
 *  \param[out] resp the response buffer, \a resp_max octets (65535 for TCP).
 *  \return the response length, or 0 to send nothing (QR=1, shorter than a
 *  header, …). Takes an RCU read section itself. Counts the message in
 *  ctx->stats (answered: transport, QTYPE, RCODE, zone kind, TC; or dropped). */
size_t mns_dns_process(mns_dns_ctx_t *ctx, const uint8_t *query, size_t qlen, uint8_t *resp,
                       size_t resp_max, mns_transport_t transport);

#endif
