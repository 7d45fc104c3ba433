/*  The core's side of plugins: ABI check, loading, the registry.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_PLUGIN_INTERNAL_H
#define MNS_PLUGIN_INTERNAL_H

#include "mailns/plugin.h"

/** \brief Wraps a descriptor in a plugin instance after checking its ABI
 *  version, struct size and name. \a dl is the dlopen handle (NULL for a
 *  plugin linked in, as in unit tests), closed by mns_plugin_destroy().
 *  \return NULL with \a err set ("plugin_abi", "plugin_name", …). */
mns_plugin_t *mns_plugin_create(const mns_plugin_api_t *api, const char *name, void *dl,
                                mns_error_t *err);
/** \brief dlopen()s <dir>/<name>.so, finds mns_plugin_<name> and creates it. */
mns_plugin_t *mns_plugin_load(const char *dir, const char *name, mns_error_t *err);
/** \brief Runs the plugin's init hook (once). */
int mns_plugin_init(mns_plugin_t *p, mns_error_t *err);
/** \brief Stops the plugin's timers and runs its fini hook; its handles
 *  close on the next loop iteration, so unload it only after that. */
void mns_plugin_shutdown(mns_plugin_t *p);
/** \brief Shuts the plugin down (if still running), dlclose()s it, frees it. */
void mns_plugin_destroy(mns_plugin_t *p);
/** \brief The plugin's descriptor. */
const mns_plugin_api_t *mns_plugin_api(const mns_plugin_t *p);
/** \brief A JSON object with every key of \a schema at its default (tests, config). */
json_t *mns_conf_schema_defaults(const mns_conf_item_t *schema);

#endif
