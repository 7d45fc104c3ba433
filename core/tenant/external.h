/*  Records a tenant places outside its own zone, in a zone the vendor serves
 *  (e.g. DMARC report authorisations): each owner becomes a small SUBTREE
 *  zone published and withdrawn with the tenant.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_EXTERNAL_H
#define MNS_EXTERNAL_H

#include "server.h"
#include "zone/zone.h"

typedef struct mns_external mns_external_t;

/** \brief A collector for tenant \a tenant's external records. */
mns_external_t *mns_external_new(const mns_server_t *s, const char *tenant);
/** \brief Builds the collected records into zones: \a zones gets \a n zones
 *  (caller owns them and the array), \a names a JSON array of their owners. */
int mns_external_build(mns_external_t *e, mns_zone_t ***zones, size_t *n, json_t **names,
                       mns_error_t *err);
/** \brief Frees the collector (not the zones it built). */
void mns_external_free(mns_external_t *e);

#endif
