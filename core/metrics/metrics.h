/*  Prometheus metrics over HTTP ([server] metrics-listen), served by
 *  libmicrohttpd from its own thread.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_METRICS_H
#define MNS_METRICS_H

#include "server.h"
#include "stats/report.h"

/** \brief Starts the listener when s->conf->metrics_listen is set (one per
 *  process). \return MNS_OK (also when off), or an error (logged). */
int mns_metrics_start(mns_server_t *s);
/** \brief Stops the listener: joins its thread and closes its handle on the
 *  loop (run the loop afterwards). No-op when off. */
void mns_metrics_stop(mns_server_t *s);
/** \brief Hands freshly computed gauges to the listener (main loop; no-op when off). */
void mns_metrics_publish(mns_server_t *s, const mns_stats_gauges_t *g);
/** \brief Writes the exposition text of the current counters and \a g into
 *  a malloc'd string (any thread). \return NULL on OOM. */
char *mns_metrics_render(const mns_stats_gauges_t *g, int64_t start_time, int64_t now);

#endif
