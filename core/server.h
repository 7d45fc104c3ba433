/*  The running daemon's state, owned by the main loop.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_SERVER_H
#define MNS_SERVER_H

#include <time.h>
#include <uv.h>

#include "conf/conf.h"
#include "dns/dns.h"
#include "priv/priv.h"
#include "store/store.h"
#include "zone/index.h"

struct mns_net;
struct mns_control;
struct mns_xfr;

typedef struct mns_server {
	uv_loop_t *loop;
	char *conf_path; /**< -c FILE, or NULL for embedded defaults. */
	mns_conf_overrides_t ov; /**< Command-line settings, reapplied on reload. */
	mns_conf_t *conf;
	mns_store_t *store;
	mns_index_t *index;
	mns_plugin_t **plugins; /**< In config order: the build order. */
	size_t n_plugins;
	mns_dns_conf_t dns_conf;
	mns_dns_ctx_t dns; /**< Answering context of the main loop (messages the
	                        workers hand over); each worker has its own. */
	struct mns_net *net;
	struct mns_control *control;
	json_t *vendor; /**< Vendor identity for plugins (mns_plugin_vendor). */
	/** The hosted zone's apex, lowercase wire (empty root when the name
	 *  does not parse), kept with the configuration (dns_conf_apply). */
	knot_dname_storage_t hosted_apex;
	knot_dname_t **static_apexes; /**< Static zones, for overlap checks. */
	size_t n_static;
	time_t started;
	uint64_t mutations; /**< Successful mutations since start. */
	struct mns_xfr *xfr; /**< Transfers, NOTIFY, catalog (core/xfr). */
	mns_priv_t priv; /**< The user to drop to after start (core/priv). */
} mns_server_t;

/** \brief Builds the vendor identity plugins see from \a c. \return a new reference. */
json_t *mns_server_vendor_json(const mns_conf_t *c);

/** \brief Reloads the static zones from their files (after a tenant's record
 *  in one of them changed, so that their serial rises). */
int mns_server_static_reload(mns_server_t *s);

/** \brief Finds a loaded plugin by name. \return NULL if not loaded. */
mns_plugin_t *mns_server_plugin(const mns_server_t *s, const char *name);

#endif
