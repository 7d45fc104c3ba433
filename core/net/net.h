/*  DNS transport: UDP and TCP listeners on the main loop. No DNS logic here;
 *  every message goes through mns_dns_process().
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_NET_H
#define MNS_NET_H

#include "server.h"

/** \brief Binds UDP and TCP on every configured listen address.
 *  \return MNS_OK, or an error (logged) if any bind fails. */
int mns_net_start(mns_server_t *s);
/** \brief Closes every listener and TCP connection. */
void mns_net_stop(mns_server_t *s);
/** \brief Applies settings that may change on reload (timeouts, limits). */
void mns_net_reconfigure(mns_server_t *s);

#endif
