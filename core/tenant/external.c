/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenant/external.h"

void mns_external_init(mns_external_t *e, const mns_server_t *s, const char *tenant)
{
	*e = (mns_external_t){.s = s, .tenant = tenant};
}

void mns_external_fini(mns_external_t *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n; i++) {
		mns_zb_free(e->zbs[i]);
		free(e->owners[i]);
	}
	free(e->zbs);
	free(e->owners);
	e->zbs = NULL;
	e->owners = NULL;
	e->n = 0;
}

/* A heap collector keeps its own copy of the tenant id, right after it. */
mns_external_t *mns_external_new(const mns_server_t *s, const char *tenant)
{
	size_t len = strlen(tenant) + 1;
	mns_external_t *e = malloc(sizeof(*e) + len);
	if (e == NULL)
		return NULL;
	char *copy = memcpy((char *)(e + 1), tenant, len);
	mns_external_init(e, s, copy);
	return e;
}

void mns_external_free(mns_external_t *e)
{
	mns_external_fini(e);
	free(e);
}

/* Is \a owner inside a zone the vendor serves (hosted or static)? */
static bool served(const mns_server_t *s, const knot_dname_t *owner)
{
	if (s->hosted_apex[0] != '\0' && knot_dname_in_bailiwick(owner, s->hosted_apex) > 0)
		return true;
	for (size_t i = 0; i < s->n_static; i++)
		if (knot_dname_in_bailiwick(owner, s->static_apexes[i]) > 0)
			return true;
	return false;
}

MNS_API int mns_zb_add_vendor_txt(mns_zone_builder_t *zb, const char *owner, uint32_t ttl,
                                  const char *text, mns_error_t *err)
{
	mns_external_t *e = mns_zb_external(zb);
	knot_dname_storage_t wire;
	if (owner == NULL || knot_dname_from_str(wire, owner, sizeof(wire)) == NULL)
		return mns_error_set(err, "invalid_name", "'%s' is not a valid name", owner ? owner : "");
	knot_dname_to_lower(wire);
	char name[KNOT_DNAME_TXT_MAXLEN];
	knot_dname_to_str(name, wire, sizeof(name));
	if (e == NULL || !served(e->s, wire)) {
		mns_error_set(err, "not_served", "%s is in no zone this server serves for the vendor",
		              name);
		return MNS_ENOENT;
	}
	size_t i = 0;
	while (i < e->n && strcmp(e->owners[i], name) != 0)
		i++;
	if (i == e->n) {
		mns_zone_builder_t **zbs = realloc(e->zbs, (e->n + 1) * sizeof(*zbs));
		char **owners = realloc(e->owners, (e->n + 1) * sizeof(*owners));
		if (zbs)
			e->zbs = zbs;
		if (owners)
			e->owners = owners;
		if (zbs == NULL || owners == NULL)
			return MNS_ENOMEM;
		e->zbs[i] = mns_zb_new(name, name, MNS_ZONE_SUBTREE);
		e->owners[i] = strdup(name);
		if (e->zbs[i] == NULL || e->owners[i] == NULL) {
			mns_zb_free(e->zbs[i]);
			free(e->owners[i]);
			return MNS_ENOMEM;
		}
		mns_zb_set_tenant(e->zbs[i], e->tenant);
		e->n++;
	}
	mns_zb_set_producer(e->zbs[i], mns_zb_producer(zb));
	return mns_zb_add_txt(e->zbs[i], name, ttl, text, err);
}

int mns_external_build(mns_external_t *e, mns_zone_t ***zones, size_t *n, json_t **names,
                       mns_error_t *err)
{
	*zones = NULL;
	*names = NULL;
	*n = 0;
	if (e->n == 0)
		return MNS_OK; /* Most tenants: nothing to allocate. */
	*zones = calloc(e->n, sizeof(**zones));
	*names = json_array();
	if (*zones == NULL || *names == NULL) {
		free(*zones);
		json_decref(*names);
		*zones = NULL;
		*names = NULL;
		return MNS_ENOMEM;
	}
	for (size_t i = 0; i < e->n; i++) {
		int ret = mns_zb_build(e->zbs[i], &(*zones)[*n], err);
		if (ret != MNS_OK) {
			for (size_t j = 0; j < *n; j++)
				mns_zone_free((*zones)[j]);
			free(*zones);
			*zones = NULL;
			*n = 0;
			json_decref(*names);
			*names = NULL;
			return ret;
		}
		(*n)++;
		json_array_append_new(*names, json_string(e->owners[i]));
	}
	return MNS_OK;
}
