/*  Records a tenant places outside its own zone, in a zone the vendor serves
 *  (e.g. DMARC report authorisations): each owner becomes a small SUBTREE
 *  zone published and withdrawn with the tenant.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_EXTERNAL_H
#define MNS_EXTERNAL_H

#include "server.h"
#include "zone/zone.h"

/** A collector. Public so that the tenant build can keep one on its stack:
 *  most tenants place nothing outside their zone, and then the collector
 *  allocates nothing. */
typedef struct mns_external {
	const mns_server_t *s;
	const char *tenant;       /**< Borrowed: must outlive the collector's builds. */
	mns_zone_builder_t **zbs; /**< One builder per distinct owner. */
	char **owners;
	size_t n;
} mns_external_t;

/** \brief Starts a collector for tenant \a tenant (borrowed) in \a e; allocates nothing. */
void mns_external_init(mns_external_t *e, const mns_server_t *s, const char *tenant);
/** \brief Frees what the collector \a e holds (not the zones it built, nor \a e). */
void mns_external_fini(mns_external_t *e);
/** \brief A collector for tenant \a tenant's external records (copies \a tenant). */
mns_external_t *mns_external_new(const mns_server_t *s, const char *tenant);
/** \brief Builds the collected records into zones: \a zones gets \a n zones
 *  (caller owns them and the array), \a names a JSON array of their owners.
 *  With nothing collected, \a zones and \a names are NULL and \a n is 0. */
int mns_external_build(mns_external_t *e, mns_zone_t ***zones, size_t *n, json_t **names,
                       mns_error_t *err);
/** \brief Frees a collector from mns_external_new() (not the zones it built). */
void mns_external_free(mns_external_t *e);

#endif
