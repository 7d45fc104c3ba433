/*  Helpers shared by the built-in plugins' unit tests: a plugin instance
 *  linked into the test, tenant contexts for both delegation modes, and a
 *  zone built from one plugin's records.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_PLUGTEST_H
#define MNS_PLUGTEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <libknot/libknot.h>

#include "mailns/plugin.h"
#include "plugin/plugin_internal.h"
#include "plugin/registry.h"
#include "server.h"
#include "tenant/external.h"
#include "tenant/instr.h"
#include "zone/zone.h"

#define PT_HOSTED "mailns.vendor.example"
#define PT_NOW ((time_t)1700000000)

/** \brief The tenant "acme" of example.com in ns mode (zone mgeu.example.com). */
static inline mns_tenant_ctx_t pt_ctx_ns(void)
{
	mns_tenant_ctx_t t = {
	    .id = "acme",
	    .domain = "example.com",
	    .mode = MNS_MODE_NS,
	    .base = "mgeu.example.com",
	    .mail_label = "@",
	    .mail_domain = "mgeu.example.com",
	    .ttl = 3600,
	    .now = PT_NOW,
	};
	return t;
}

/** \brief The same tenant in cname mode (subtree acme.mailns.vendor.example). */
static inline mns_tenant_ctx_t pt_ctx_cname(void)
{
	mns_tenant_ctx_t t = {
	    .id = "acme",
	    .domain = "example.com",
	    .mode = MNS_MODE_CNAME,
	    .base = "acme." PT_HOSTED,
	    .mail_label = "bounce",
	    .mail_domain = "bounce.example.com",
	    .ttl = 3600,
	    .now = PT_NOW,
	};
	return t;
}

/** \brief Creates and initialises plugin \a name from its linked-in descriptor. */
static inline mns_plugin_t *pt_plugin_new(const mns_plugin_api_t *api, const char *name)
{
	mns_error_t err = {0};
	mns_plugin_t *p = mns_plugin_create(api, name, NULL, &err);
	if (p == NULL)
		fail_msg("mns_plugin_create(%s): %s: %s", name, err.code, err.message);
	if (mns_plugin_init(p, &err) != MNS_OK)
		fail_msg("mns_plugin_init(%s): %s: %s", name, err.code, err.message);
	return p;
}

/** \brief Configures \a p with its schema defaults after applying the
 *  key/value pairs of \a changes (a JSON object, may be NULL; stolen).
 *  \return the configure hook's result, \a err filled. */
static inline int pt_configure(mns_plugin_t *p, json_t *changes, mns_error_t *err)
{
	const mns_plugin_api_t *api = mns_plugin_api(p);
	json_t *conf = mns_conf_schema_defaults(api->schema);
	assert_non_null(conf);
	if (changes != NULL) {
		json_object_update(conf, changes);
		json_decref(changes);
	}
	int ret = api->configure != NULL ? api->configure(p, conf, err) : MNS_OK;
	json_decref(conf);
	return ret;
}

/** \brief Runs tenant_check; \return its result. */
static inline int pt_check(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *old,
                           const json_t *in, json_t **out, mns_error_t *err)
{
	*out = NULL;
	memset(err, 0, sizeof(*err));
	return mns_plugin_api(p)->tenant_check(p, t, old, in, out, err);
}

/** \brief Builds the tenant's zone holding only \a p's records: an ns-mode
 *  zone gets an SOA, a cname-mode subtree of the hosted zone does not. */
static inline int pt_build(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                           mns_zone_t **zone, mns_error_t *err)
{
	bool ns = t->mode == MNS_MODE_NS;
	mns_zone_builder_t *zb =
	    mns_zb_new(t->base, t->base, ns ? MNS_ZONE_TENANT : MNS_ZONE_SUBTREE);
	assert_non_null(zb);
	*zone = NULL;
	memset(err, 0, sizeof(*err));
	mns_zb_set_tenant(zb, t->id);
	if (ns)
		assert_int_equal(mns_zb_add_soa(zb, 3600, "ns1.vendor.example",
		                                "hostmaster.vendor.example", 1, 7200, 3600, 1209600,
		                                300, err),
		                 MNS_OK);
	mns_zb_set_producer(zb, mns_plugin_name(p));
	int ret = mns_plugin_api(p)->tenant_build(p, t, section, zb, err);
	if (ret == MNS_OK)
		ret = mns_zb_build(zb, zone, err);
	mns_zb_free(zb);
	return ret;
}

/** Records a tenant placed in vendor zones (mns_zb_add_vendor_txt). */
typedef struct pt_ext {
	mns_zone_t **zones; /**< One per owner. */
	size_t n;
	json_t *names; /**< Their owners (absolute names, as the core lists them). */
} pt_ext_t;

/** \brief Frees what pt_build_ext() collected. */
static inline void pt_ext_free(pt_ext_t *x)
{
	for (size_t i = 0; i < x->n; i++)
		mns_zone_free(x->zones[i]);
	free(x->zones);
	json_decref(x->names);
	memset(x, 0, sizeof(*x));
}

/** \brief Like pt_build(), with the core's collector for records placed in
 *  vendor zones: the hosted zone PT_HOSTED and the static zones \a statics
 *  (NULL-terminated, may be NULL) are served. */
static inline int pt_build_ext(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                               const char *const *statics, mns_zone_t **zone, pt_ext_t *x,
                               mns_error_t *err)
{
	bool ns = t->mode == MNS_MODE_NS;
	mns_conf_t conf = {0};
	mns_server_t srv = {0};
	knot_dname_t *apexes[8] = {NULL};
	conf.hosted_zone = (char *)PT_HOSTED;
	srv.conf = &conf;
	srv.static_apexes = apexes;
	for (size_t i = 0; statics != NULL && statics[i] != NULL && i < 8; i++) {
		apexes[i] = knot_dname_from_str_alloc(statics[i]);
		assert_non_null(apexes[i]);
		knot_dname_to_lower(apexes[i]);
		srv.n_static++;
	}
	memset(x, 0, sizeof(*x));
	mns_external_t *ext = mns_external_new(&srv, t->id);
	assert_non_null(ext);
	mns_zone_builder_t *zb =
	    mns_zb_new(t->base, t->base, ns ? MNS_ZONE_TENANT : MNS_ZONE_SUBTREE);
	assert_non_null(zb);
	*zone = NULL;
	memset(err, 0, sizeof(*err));
	mns_zb_set_tenant(zb, t->id);
	mns_zb_set_external(zb, ext);
	if (ns)
		assert_int_equal(mns_zb_add_soa(zb, 3600, "ns1.vendor.example",
		                                "hostmaster.vendor.example", 1, 7200, 3600, 1209600,
		                                300, err),
		                 MNS_OK);
	mns_zb_set_producer(zb, mns_plugin_name(p));
	int ret = mns_plugin_api(p)->tenant_build(p, t, section, zb, err);
	if (ret == MNS_OK)
		ret = mns_zb_build(zb, zone, err);
	if (ret == MNS_OK)
		ret = mns_external_build(ext, &x->zones, &x->n, &x->names, err);
	mns_zb_free(zb);
	mns_external_free(ext);
	for (size_t i = 0; i < srv.n_static; i++)
		free(apexes[i]);
	return ret;
}

/** \brief Builds the vendor's hosted zone PT_HOSTED (SOA, then \a p's
 *  hosted_build records). */
static inline int pt_build_hosted(mns_plugin_t *p, mns_zone_t **zone, mns_error_t *err)
{
	mns_zone_builder_t *zb = mns_zb_new(PT_HOSTED, PT_HOSTED, MNS_ZONE_HOSTED);
	assert_non_null(zb);
	*zone = NULL;
	memset(err, 0, sizeof(*err));
	assert_int_equal(mns_zb_add_soa(zb, 3600, "ns1.vendor.example", "hostmaster.vendor.example",
	                                1, 7200, 3600, 1209600, 300, err),
	                 MNS_OK);
	mns_zb_set_producer(zb, mns_plugin_name(p));
	const mns_plugin_api_t *api = mns_plugin_api(p);
	int ret = MNS_PLUGIN_HAS(api, hosted_build) && api->hosted_build != NULL
	              ? api->hosted_build(p, zb, err)
	              : MNS_OK;
	if (ret == MNS_OK)
		ret = mns_zb_build(zb, zone, err);
	mns_zb_free(zb);
	return ret;
}

/** \brief The RRset of \a type at \a name (text, absolute), or NULL. */
static inline const knot_rrset_t *pt_rrset(const mns_zone_t *z, const char *name, uint16_t type)
{
	knot_dname_t *dn = knot_dname_from_str_alloc(name);
	assert_non_null(dn);
	knot_dname_to_lower(dn);
	const mns_node_t *n = mns_zone_find(z, dn);
	free(dn);
	return n != NULL ? mns_node_rrset(n, type) : NULL;
}

/** \brief Number of nodes holding RRsets in \a z. */
static inline size_t pt_rrset_count(const mns_zone_t *z)
{
	size_t n = 0;
	for (size_t i = 0; i < z->n_nodes; i++)
		n += z->nodes[i].n_rrsets;
	return n;
}

/** \brief Joins the character-strings of TXT record \a pos into \a buf and
 *  returns how many there were; every one must be valid, and all but the
 *  last exactly 255 octets (how the builder splits). */
static inline int pt_txt(const knot_rrset_t *rr, uint16_t pos, char *buf, size_t len)
{
	assert_non_null(rr);
	assert_true(pos < rr->rrs.count);
	const knot_rdata_t *rd = knot_rdataset_at(&rr->rrs, pos);
	size_t off = 0, out = 0;
	int strings = 0;
	while (off < rd->len) {
		size_t n = rd->data[off];
		assert_true(off + 1 + n <= rd->len);
		if (off + 1 + n < rd->len)
			assert_int_equal(n, 255);
		assert_true(out + n < len);
		memcpy(buf + out, rd->data + off + 1, n);
		out += n;
		off += 1 + n;
		strings++;
	}
	buf[out] = '\0';
	return strings;
}

/** \brief Asserts that \a rr is one TXT record holding exactly \a text. */
static inline void pt_assert_txt(const knot_rrset_t *rr, const char *text, uint32_t ttl)
{
	char buf[8192];
	assert_non_null(rr);
	assert_int_equal(rr->rrs.count, 1);
	assert_int_equal(rr->ttl, ttl);
	pt_txt(rr, 0, buf, sizeof(buf));
	assert_string_equal(buf, text);
}

/** \brief The wire-format name \a name (text) in \a buf; \return its size. */
static inline size_t pt_wire(const char *name, uint8_t *buf)
{
	assert_non_null(knot_dname_from_str(buf, name, KNOT_DNAME_MAXLEN));
	knot_dname_to_lower(buf);
	return knot_dname_size(buf);
}

/** \brief Asserts that \a rr is one CNAME to \a target (text). */
static inline void pt_assert_cname(const knot_rrset_t *rr, const char *target, uint32_t ttl)
{
	uint8_t wire[KNOT_DNAME_MAXLEN];
	assert_non_null(rr);
	assert_int_equal(rr->rrs.count, 1);
	assert_int_equal(rr->ttl, ttl);
	size_t n = pt_wire(target, wire);
	const knot_rdata_t *rd = knot_rdataset_at(&rr->rrs, 0);
	assert_int_equal(rd->len, n);
	assert_memory_equal(rd->data, wire, n);
}

/** \brief True if \a rr holds an MX record (\a pref, \a exchange). */
static inline bool pt_has_mx(const knot_rrset_t *rr, uint16_t pref, const char *exchange)
{
	uint8_t want[2 + KNOT_DNAME_MAXLEN];
	size_t n = 2 + pt_wire(exchange, want + 2);
	knot_wire_write_u16(want, pref);
	for (uint16_t i = 0; rr != NULL && i < rr->rrs.count; i++) {
		const knot_rdata_t *rd = knot_rdataset_at(&rr->rrs, i);
		if (rd->len == n && memcmp(rd->data, want, n) == 0)
			return true;
	}
	return false;
}

/** \brief Runs tenant_instructions into a new collection and returns its
 *  records as a JSON array (new reference). */
static inline json_t *pt_instructions(mns_plugin_t *p, const mns_tenant_ctx_t *t,
                                      const json_t *section)
{
	mns_error_t err = {0};
	mns_instructions_t *ins = mns_instr_new(t->domain, t->ttl);
	assert_non_null(ins);
	const mns_plugin_api_t *api = mns_plugin_api(p);
	if (api->tenant_instructions != NULL) {
		int ret = api->tenant_instructions(p, t, section, ins, &err);
		if (ret != MNS_OK)
			fail_msg("tenant_instructions: %s: %s", err.code, err.message);
	}
	json_t *r = mns_instr_render(ins, "json");
	assert_non_null(r);
	json_t *records = json_incref(json_object_get(r, "records"));
	json_decref(r);
	mns_instr_free(ins);
	assert_true(json_is_array(records));
	return records;
}

/** \brief Asserts that instruction \a rec is (name, type, value, required) and,
 *  when \a purpose is not NULL, has that purpose. */
static inline void pt_assert_instr(const json_t *rec, const char *name, const char *type,
                                   const char *value, bool required, const char *purpose)
{
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec, "name")), name);
	assert_string_equal(json_string_value(json_object_get(rec, "type")), type);
	assert_string_equal(json_string_value(json_object_get(rec, "value")), value);
	assert_int_equal(json_is_true(json_object_get(rec, "required")), required);
	if (purpose != NULL)
		assert_string_equal(json_string_value(json_object_get(rec, "purpose")), purpose);
}

/** \brief Parses JSON text (test data), failing the test on a syntax error. */
static inline json_t *pt_json(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	if (j == NULL)
		fail_msg("bad test JSON '%s': %s", text, e.text);
	return j;
}

/** A row of a validation table: input section (JSON text) and expected code. */
typedef struct pt_bad {
	const char *in;
	const char *code;
} pt_bad_t;

/** \brief Runs tenant_check on every row of \a rows (each on tenant.add) and
 *  asserts it fails with the row's code. */
static inline void pt_check_bad_table(mns_plugin_t *p, const pt_bad_t *rows, size_t n)
{
	mns_tenant_ctx_t t = pt_ctx_ns();
	for (size_t i = 0; i < n; i++) {
		mns_error_t err;
		json_t *in = pt_json(rows[i].in), *out = NULL;
		int ret = pt_check(p, &t, NULL, in, &out, &err);
		if (ret == MNS_OK || strcmp(err.code, rows[i].code) != 0)
			fail_msg("tenant_check(%s): expected %s, got %d %s: %s", rows[i].in,
			         rows[i].code, ret, err.code, err.message);
		assert_true(ret < 0);
		assert_null(out);
		assert_true(err.message[0] != '\0');
		json_decref(in);
	}
}

#endif
