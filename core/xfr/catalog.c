/*  The catalog zone (RFC 9432, schema version 2): one PTR per member at
 *  <id>.zones.<catalog>, the id derived from the member's name.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <string.h>

#include "xfr/xfr_internal.h"
#include "zone/zone.h"

void mns_xfr_catalog_id(const knot_dname_t *apex, char out[17])
{
	/* FNV-1a 64 over the lowercase wire name: the same zone always gets the
	 * same id, whatever order the zones are published in. */
	uint64_t h = 14695981039346656037ull;
	size_t n = knot_dname_size(apex);
	for (size_t i = 0; i < n; i++)
		h = (h ^ apex[i]) * 1099511628211ull;
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Prepends text labels to a wire name. */
static int name_under(const knot_dname_t *base, const char *const *labels, size_t n,
                      knot_dname_storage_t out)
{
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(labels[i]);
		if (l == 0 || l > 63 || off + 1 + l >= KNOT_DNAME_MAXLEN)
			return MNS_EINVAL;
		out[off] = (uint8_t)l;
		memcpy(out + off + 1, labels[i], l);
		off += 1 + l;
	}
	size_t bl = knot_dname_size(base);
	if (off + bl > KNOT_DNAME_MAXLEN)
		return MNS_EINVAL;
	memcpy(out + off, base, bl);
	return MNS_OK;
}

static int add_txt(mns_zone_builder_t *zb, const knot_dname_t *owner, const char *text,
                   mns_error_t *err)
{
	uint8_t rd[256];
	size_t l = strlen(text);
	if (l > 255)
		return mns_error_set(err, "invalid_catalog", "TXT longer than 255 octets");
	rd[0] = (uint8_t)l;
	memcpy(rd + 1, text, l);
	return mns_zb_add_wire(zb, owner, KNOT_RRTYPE_TXT, 0, rd, l + 1, err);
}

int mns_xfr_catalog_build(const knot_dname_t *catalog, const knot_dname_t *const *members, size_t n,
                          const char *group, uint32_t serial, mns_zone_t **out, mns_error_t *err)
{
	char name[KNOT_DNAME_TXT_MAXLEN + 1];
	if (knot_dname_to_str(name, catalog, sizeof(name)) == NULL)
		return mns_error_set(err, "invalid_catalog", "bad catalog name");
	mns_zone_builder_t *zb = mns_zb_new(name, name, MNS_ZONE_STATIC);
	if (zb == NULL)
		return mns_error_set(err, "internal", "cannot start the catalog zone");
	mns_zb_set_producer(zb, "catalog");
	/* RFC 9432 4.1: the SOA and NS content is not used; NS is "invalid.". */
	int ret =
	    mns_zb_add_soa(zb, 0, "invalid", "invalid", serial, 3600, 600, 2147483646, 0, err);
	if (ret == MNS_OK)
		ret = mns_zb_add_ns(zb, name, 0, "invalid", err);
	knot_dname_storage_t owner;
	if (ret == MNS_OK &&
	    (ret = name_under(catalog, (const char *[]){"version"}, 1, owner)) == MNS_OK)
		ret = add_txt(zb, owner, "2", err);
	for (size_t i = 0; ret == MNS_OK && i < n; i++) {
		char id[17];
		mns_xfr_catalog_id(members[i], id);
		ret = name_under(catalog, (const char *[]){id, "zones"}, 2, owner);
		if (ret == MNS_OK)
			ret = mns_zb_add_wire(zb, owner, KNOT_RRTYPE_PTR, 0, members[i],
			                      knot_dname_size(members[i]), err);
		if (ret == MNS_OK && group && group[0]) {
			ret = name_under(catalog, (const char *[]){"group", id, "zones"}, 3, owner);
			if (ret == MNS_OK)
				ret = add_txt(zb, owner, group, err);
		}
	}
	if (ret == MNS_OK)
		ret = mns_zb_build(zb, out, err);
	else if (err && err->message[0] == '\0')
		mns_error_set(err, "invalid_catalog", "cannot build the catalog");
	mns_zb_free(zb);
	return ret;
}
