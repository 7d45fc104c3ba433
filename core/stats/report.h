/*  The `stats` control command and the gauges it shares with the metrics
 *  listener. Main loop only (the gauges read the store).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_STATS_REPORT_H
#define MNS_STATS_REPORT_H

#include <jansson.h>

#include "server.h"

/** Verification states of tenants (the verify plugin's "state"). */
enum {
	MNS_VSTATE_PENDING,
	MNS_VSTATE_VERIFIED,
	MNS_VSTATE_LOST,
	MNS_VSTATE_FAILED,
	MNS_VSTATE_NONE, /**< No verify section (plugin not loaded) or an unknown state. */
	MNS_VSTATE_COUNT
};

/** Values read from the main loop's state (a snapshot). */
typedef struct mns_stats_gauges {
	int64_t computed; /**< When (unix seconds); 0 = never. */
	uint64_t tenants;
	uint64_t by_state[MNS_VSTATE_COUNT];
	uint64_t zones;
	uint64_t store_file_bytes, store_used_bytes;
	uint64_t store_commits; /**< Durable store commits (group commit: fewer than mutations). */
	uint64_t mutations;
} mns_stats_gauges_t;

/** \brief Name of a verification state ("verified", "none"). */
const char *mns_stats_vstate_name(int i);
/** \brief Computes the gauges: one read transaction over every tenant
 *  document (O(tenants); on request only). Main loop. */
void mns_stats_gauges_compute(mns_server_t *s, mns_stats_gauges_t *g);
/** \brief The `stats` command: the counters summed over every block and the
 *  gauges, as one JSON object (shape documented in report.c). */
int mns_stats_cmd(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err);

#endif
