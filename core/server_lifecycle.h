/*  Start, reload and stop of the daemon (used by main.c and tests).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_SERVER_LIFECYCLE_H
#define MNS_SERVER_LIFECYCLE_H

#include "server.h"

/** \brief Loads the config (s->conf_path, s->ov), opens the store, loads
 *  plugins and static zones and publishes every tenant. \return MNS_OK or an
 *  error described in \a errbuf. */
int mns_server_init(mns_server_t *s, uv_loop_t *loop, char *errbuf, size_t errlen);
/** \brief Starts the DNS listeners and the control socket. */
int mns_server_start_io(mns_server_t *s);
/** \brief Re-reads the config (SIGHUP); on any error keeps the running one. */
int mns_server_reload(mns_server_t *s);
/** \brief Closes listeners and connections (run the loop afterwards to finish). */
void mns_server_stop_io(mns_server_t *s);
/** \brief Frees everything mns_server_init() set up. */
void mns_server_deinit(mns_server_t *s);

#endif
