/*  DNS transport: query threads ("workers"), each with its own loop, UDP
 *  sockets and TCP listeners. No DNS logic here; every message goes through
 *  mns_dns_process() (or, for transfers, the main loop's core/xfr).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_NET_H
#define MNS_NET_H

#include "server.h"

/** \brief Binds UDP and TCP of every worker on every configured listen
 *  address, then starts the worker threads. Main thread, before privileges
 *  are dropped. \return MNS_OK, or an error (logged) if any bind fails. */
int mns_net_start(mns_server_t *s);
/** \brief Stops and joins the workers (every listener and TCP connection
 *  closed); run the main loop afterwards to finish. */
void mns_net_stop(mns_server_t *s);
/** \brief Passes settings that may change on reload (timeouts, limits, RRL,
 *  udp-payload, identity) to every worker; each applies them between two
 *  events. Main loop, after s->dns_conf was updated. */
void mns_net_reconfigure(mns_server_t *s);
/** \brief Number of running workers (0 when stopped). */
unsigned mns_net_workers(const mns_server_t *s);
/** \brief Counter block of worker \a i (NULL: none). */
const mns_stats_block_t *mns_net_worker_stats(const mns_server_t *s, unsigned i);

#endif
