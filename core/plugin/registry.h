/*  Links between plugin instances and the running server.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_REGISTRY_H
#define MNS_REGISTRY_H

#include <uv.h>
#include "mailns/plugin.h"

struct mns_server;

/** \brief Gives the plugin the loop its timers run on and the server its
 *  service calls (tenant get/set) act on. */
void mns_plugin_attach(mns_plugin_t *p, uv_loop_t *loop, struct mns_server *server);
/** \brief The server a plugin is attached to (NULL in unit tests). */
struct mns_server *mns_plugin_server(const mns_plugin_t *p);

#endif
