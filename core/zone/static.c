/*  Static zones: zone files read with libzscanner into a zone builder.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libzscanner/scanner.h>

#include "zone/zone.h"

typedef struct load_ctx {
	mns_zone_builder_t *zb;
	const char *path;
	mns_error_t *err;
	int ret; /**< First error, MNS_OK while none. */
} load_ctx_t;

/* Prefixes the message in \a err with \a prefix (truncating the end). */
static void prefix_message(mns_error_t *err, const char *prefix)
{
	if (err == NULL)
		return;
	/* Truncating the end is acceptable: the start says where. */
	char msg[sizeof(err->message)];
	size_t cap = sizeof(err->message) - 1;
	size_t ml = strnlen(err->message, cap);
	memcpy(msg, err->message, ml);
	size_t pl = strlen(prefix);
	if (pl > cap)
		pl = cap;
	if (ml > cap - pl)
		ml = cap - pl;
	memcpy(err->message, prefix, pl);
	memcpy(err->message + pl, msg, ml);
	err->message[pl + ml] = '\0';
}

/* Prefixes the builder's message with "<path>:<line>: ", keeping its code. */
static void prefix_error(load_ctx_t *lc, uint64_t line)
{
	char prefix[4200];
	int n = snprintf(prefix, sizeof(prefix), "%s:%" PRIu64 ": ", lc->path, line);
	if (n > 0)
		prefix_message(lc->err, prefix);
}

/* The scanner takes RFC 3597 "\# LEN HEX" RDATA for any type, known ones
 * too, without checking it against the type: "TYPE1 \# 3 010203" is an A
 * record of three octets. Such a record would be served and transferred as
 * it is; a record libknot cannot print is refused here instead. */
static bool rdata_well_formed(const zs_scanner_t *s)
{
	const knot_rdata_descriptor_t *d = knot_get_rdata_descriptor(s->r_type);
	if (d == NULL || d->type_name == NULL)
		return true; /* Unknown type: opaque RDATA is all there is. */
	knot_rrset_t rr;
	knot_rrset_init(&rr, (knot_dname_t *)s->r_owner, s->r_type, KNOT_CLASS_IN, s->r_ttl);
	if (knot_rrset_add_rdata(&rr, s->r_data, s->r_data_length, NULL) != KNOT_EOK)
		return false;
	size_t cap = 1024;
	char *buf = malloc(cap);
	int len = buf != NULL ? knot_rrset_txt_dump(&rr, &buf, &cap, &KNOT_DUMP_STYLE_DEFAULT) : -1;
	free(buf);
	knot_rdataset_clear(&rr.rrs, NULL);
	return len >= 0;
}

static void on_record(zs_scanner_t *s)
{
	load_ctx_t *lc = s->process.data;
	if (lc->ret != MNS_OK)
		return;
	if (s->r_class != KNOT_CLASS_IN) {
		lc->ret = mns_error_set(lc->err, "zone_file", "%s:%" PRIu64 ": class %u is not IN",
		                        lc->path, s->line_counter, s->r_class);
		s->state = ZS_STATE_STOP;
		return;
	}
	if (!rdata_well_formed(s)) {
		char type[32] = "";
		(void)knot_rrtype_to_string(s->r_type, type, sizeof(type));
		lc->ret = mns_error_set(lc->err, "zone_file",
		                        "%s:%" PRIu64 ": RDATA is not a valid %s record", lc->path,
		                        s->line_counter, type);
		s->state = ZS_STATE_STOP;
		return;
	}
	int ret = mns_zb_add_wire(lc->zb, s->r_owner, s->r_type, s->r_ttl, s->r_data,
	                          s->r_data_length, lc->err);
	if (ret != MNS_OK) {
		lc->ret = ret;
		prefix_error(lc, s->line_counter);
		s->state = ZS_STATE_STOP;
	}
}

static void on_error(zs_scanner_t *s)
{
	load_ctx_t *lc = s->process.data;
	if (lc->ret == MNS_OK)
		lc->ret = mns_error_set(lc->err, "zone_file", "%s:%" PRIu64 ": %s", lc->path,
		                        s->line_counter, zs_strerror(s->error.code));
	s->state = ZS_STATE_STOP;
}

int mns_zone_load_file(const char *path, const char *origin, mns_zone_t **out, mns_error_t *err)
{
	char origin_txt[KNOT_DNAME_TXT_MAXLEN + 1];
	knot_dname_storage_t apex;
	zs_scanner_t *s = NULL;
	mns_zone_builder_t *zb = NULL;
	load_ctx_t lc = {.path = path, .err = err, .ret = MNS_OK};
	int ret;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || out == NULL)
		return mns_error_set(err, "invalid_argument", "no zone file");
	if (origin == NULL || origin[0] == '\0' ||
	    knot_dname_from_str(apex, origin, sizeof(apex)) == NULL ||
	    knot_dname_to_str(origin_txt, apex, sizeof(origin_txt)) == NULL)
		return mns_error_set(err, "invalid_name", "%s: '%s' is not a valid zone name", path,
		                     origin != NULL ? origin : "");

	zb = mns_zb_new(origin_txt, origin_txt, MNS_ZONE_STATIC);
	s = malloc(sizeof(*s)); /* about 200 KiB: never on the stack */
	if (zb == NULL || s == NULL) {
		mns_error_set(err, "no_memory", "out of memory");
		ret = MNS_ENOMEM;
		goto out_nos;
	}
	if (zs_init(s, origin_txt, KNOT_CLASS_IN, 3600) != 0) {
		ret = mns_error_set(err, "zone_file", "%s: %s", path, zs_strerror(s->error.code));
		goto out_nos;
	}
	lc.zb = zb;
	if (zs_set_input_file(s, path) != 0) {
		ret = mns_error_set(err, "zone_file", "%s: %s", path, zs_strerror(s->error.code));
		goto out;
	}
	if (zs_set_processing(s, on_record, on_error, &lc) != 0) {
		ret = mns_error_set(err, "zone_file", "%s: %s", path, zs_strerror(s->error.code));
		goto out;
	}
	int rc = zs_parse_all(s);
	if (lc.ret != MNS_OK) {
		ret = lc.ret;
		goto out;
	}
	if (rc != 0) {
		ret = mns_error_set(err, "zone_file", "%s:%" PRIu64 ": %s", path, s->line_counter,
		                    zs_strerror(s->error.code));
		goto out;
	}
	ret = mns_zb_build(zb, out, err);
	if (ret != MNS_OK) {
		char prefix[4200];
		if (snprintf(prefix, sizeof(prefix), "%s: ", path) > 0)
			prefix_message(err, prefix);
	}
out:
	zs_deinit(s);
out_nos:
	free(s);
	mns_zb_free(zb);
	return ret;
}
