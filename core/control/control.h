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
 *  reference). Every problem becomes an error response; the only NULL return
 *  is a reply a plugin deferred (mns_plugin_reply_defer()), which then goes
 *  out through mns_control_reply_finish().
 *  \param[out] subscribe set when the request was a successful
 *  events.subscribe (may be NULL). */
json_t *mns_control_handle_line(mns_server_t *s, const char *line, size_t len, bool *subscribe);

/** Who sent the request being handled (SO_PEERCRED of its connection). */
typedef struct mns_control_peer {
	bool known; /**< False when the credentials could not be read. */
	unsigned uid;
	int pid;
} mns_control_peer_t;

/** A reply a plugin took over (plugin.h): where it goes and the request id. */
struct mns_reply {
	struct ctl_slot *slot; /**< Its place in the connection's reply queue; NULL
	                            once the connection closed or the core answered. */
	json_t *id; /**< The request's id (JSON null when it had none). */
	const char *cmd; /**< The command (the plugin's table entry), for counters and the log. */
	char tenant[64]; /**< The request's "tenant" argument, or "". */
	mns_control_peer_t peer; /**< Who asked. */
	bool mutation; /**< A core mutation (logged at notice). */
};

/** \brief The credentials of the connection whose request is being handled
 *  (\a out->known false outside a request). */
void mns_control_current_peer(const mns_server_t *s, mns_control_peer_t *out);
/** \brief True while a control request is being dispatched (its outcome is
 *  logged once by the control layer). */
bool mns_control_dispatching(void);

/** \brief True while a core command from a connection is being handled
 *  and may answer later through mns_control_defer() (group commit). */
bool mns_control_can_defer(const mns_server_t *s);
/** \brief Defers the answer of the core command being handled; it goes out
 *  through mns_plugin_reply(), in request order. \return NULL when it
 *  cannot be deferred (see mns_control_can_defer()). */
mns_reply_t *mns_control_defer(mns_server_t *s);
/** \brief While \a hold, answers that are sent do not let the connection's
 *  held requests run at once: they run on the next turn of the loop. */
void mns_control_hold(mns_server_t *s, bool hold);
/** \brief A group of mutations was opened: it is committed at the end of
 *  this turn of the loop (which does not wait for I/O first). */
void mns_control_group_opened(mns_server_t *s);

/** \brief Opens a place for a deferred reply in the reply queue of the
 *  connection whose request is being handled. \return NULL when no request
 *  from a connection is being handled (then the reply cannot be deferred). */
mns_reply_t *mns_control_reply_open(mns_server_t *s, const json_t *id);
/** \brief Fills the place of \a r with \a response (stolen) and sends every
 *  reply of that connection that is now due, in order. Does not free \a r. */
void mns_control_reply_finish(mns_reply_t *r, json_t *response);
/** \brief Sends \a event (borrowed) as one line to every subscribed connection. */
void mns_control_broadcast(mns_server_t *s, const json_t *event);

#endif
