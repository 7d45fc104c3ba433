/*  The control socket: newline-delimited JSON over a unix stream socket,
 *  one request per line, one response per line, in order.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_CONTROL_H
#define MNS_CONTROL_H

#include <jansson.h>
#include "server.h"

/** Longest request line accepted (octets, without the newline). */
#define MNS_CONTROL_MAX_LINE (1024 * 1024)
/** Simultaneous control connections. */
#define MNS_CONTROL_MAX_CLIENTS 64

/** \brief Binds the socket at s->conf->control (replacing a stale one) with
 *  the configured mode and starts accepting. \return MNS_OK or an error (logged). */
int mns_control_start(mns_server_t *s);
/** \brief Closes the listener and every connection (handles close on the loop). */
void mns_control_stop(mns_server_t *s);

/** \brief Handles one request line and returns the response object (new
 *  reference). Never fails: every problem becomes an error response.
 *  \param[out] subscribe set when the request was a successful
 *  events.subscribe (may be NULL). */
json_t *mns_control_handle_line(mns_server_t *s, const char *line, size_t len, bool *subscribe);
/** \brief Sends \a event (borrowed) as one line to every subscribed connection. */
void mns_control_broadcast(mns_server_t *s, const json_t *event);

#endif
