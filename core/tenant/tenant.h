/*  Tenants: validation, the mutation path (validate → store → build →
 *  publish), and the read commands. Main loop only.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_TENANT_H
#define MNS_TENANT_H

#include <jansson.h>
#include "server.h"

/** Control command handlers: \a args is the request's args object; on
 *  success *result is a new reference; otherwise \a err says why. */
int mns_tenant_cmd_add(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err);
int mns_tenant_cmd_update(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err);
int mns_tenant_cmd_remove(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err);
int mns_tenant_cmd_get(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err);
int mns_tenant_cmd_list(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err);
int mns_tenant_cmd_records(mns_server_t *s, const json_t *args, json_t **result,
                           mns_error_t *err);
int mns_tenant_cmd_instructions(mns_server_t *s, const json_t *args, json_t **result,
                                mns_error_t *err);

/** \brief Commits the open group of mutations durably (one fsync), then
 *  publishes their zones and sends their answers in order; on failure every
 *  member is answered with the error and nothing is published. Called at the
 *  end of each loop turn, before any other write and before a request that
 *  must see the group's effects. Does nothing when no group is open. */
void mns_tenant_group_flush(mns_server_t *s);
/** \brief mns_tenant_group_flush() that returns the commit's outcome. */
int mns_tenant_group_flush_status(mns_server_t *s, mns_error_t *err);

/** \brief Builds and publishes the zones of every stored tenant and the
 *  hosted zone (start-up and reload). Tenants that fail to build are logged
 *  and skipped. \return the number of tenants that failed. */
size_t mns_tenant_publish_all(mns_server_t *s);

/** \brief Records the fingerprint of the record-shaping config; when it
 *  differs from the stored one, raises every zone's serial (a stored floor). */
int mns_tenant_config_changed(mns_server_t *s, uint32_t fingerprint);

/** \brief Checks that the store and the index agree: every tenant document
 *  has its domain (and, in ns mode, zone) index entry naming it and its zone
 *  published, and no index entry is left over. For tests and fuzzing.
 *  \return MNS_OK, or MNS_ERROR with the first problem in \a err. */
int mns_tenant_check_store(mns_server_t *s, mns_error_t *err);

#endif
