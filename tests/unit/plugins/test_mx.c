/*  Unit tests of the mx plugin: vendor hosts, tenant overrides, validation,
 *  instructions.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "plugtest.h"

extern const mns_plugin_api_t mns_plugin_mx;

static mns_plugin_t *mx_new(const char *conf_json)
{
	mns_error_t err = {0};
	mns_plugin_t *p = pt_plugin_new(&mns_plugin_mx, "mx");
	json_t *changes = conf_json != NULL ? pt_json(conf_json) : NULL;
	if (pt_configure(p, changes, &err) != MNS_OK)
		fail_msg("configure: %s: %s", err.code, err.message);
	return p;
}

static json_t *check_ok(mns_plugin_t *p, const json_t *old, const char *in_text)
{
	mns_error_t err;
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *in = in_text != NULL ? pt_json(in_text) : NULL, *out = NULL;
	if (pt_check(p, &t, old, in, &out, &err) != MNS_OK)
		fail_msg("tenant_check(%s): %s: %s", in_text ? in_text : "NULL", err.code,
		         err.message);
	json_decref(in);
	assert_true(json_is_object(out));
	return out;
}

/** Builds and returns the MX RRset at \a owner (the zone in *z, to free). */
static const knot_rrset_t *build_mx(mns_plugin_t *p, const mns_tenant_ctx_t *t,
                                    const json_t *section, const char *owner, mns_zone_t **z)
{
	mns_error_t err;
	if (pt_build(p, t, section, z, &err) != MNS_OK)
		fail_msg("build: %s: %s", err.code, err.message);
	assert_int_equal(pt_rrset_count(*z), t->mode == MNS_MODE_NS ? 2 : 1);
	const knot_rrset_t *rr = pt_rrset(*z, owner, KNOT_RRTYPE_MX);
	assert_non_null(rr);
	assert_int_equal(rr->ttl, t->ttl);
	return rr;
}

static void test_default(void **state)
{
	mns_plugin_t *p = mx_new(NULL);
	mns_tenant_ctx_t t = pt_ctx_ns();
	mns_zone_t *z;

	json_t *sec = check_ok(p, NULL, NULL);
	assert_int_equal(json_object_size(sec), 0);
	const knot_rrset_t *rr = build_mx(p, &t, sec, "mgeu.example.com", &z);
	assert_int_equal(rr->rrs.count, 1);
	assert_true(pt_has_mx(rr, 10, "mx.vendor.example"));
	/* Exact wire RDATA: preference 10, uncompressed exchange. */
	const knot_rdata_t *rd = knot_rdataset_at(&rr->rrs, 0);
	static const uint8_t want[] = {0,   10, 2,   'm', 'x', 6,   'v', 'e', 'n', 'd', 'o',
	                               'r', 7,  'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
	assert_int_equal(rd->len, sizeof(want));
	assert_memory_equal(rd->data, want, sizeof(want));
	mns_zone_free(z);

	t = pt_ctx_cname();
	rr = build_mx(p, &t, NULL, "bounce.acme." PT_HOSTED, &z);
	assert_int_equal(rr->rrs.count, 1);
	assert_true(pt_has_mx(rr, 10, "mx.vendor.example"));
	mns_zone_free(z);

	json_decref(sec);
	mns_plugin_destroy(p);
}

static void test_vendor_hosts(void **state)
{
	/* One string with spaces or one entry per host; HOST alone means 10. */
	mns_plugin_t *p = mx_new("{\"hosts\": [\"10:MX1.Vendor.Example. 20:mx2.vendor.example\","
	                         " \"bounce.vendor.example\"]}");
	mns_tenant_ctx_t t = pt_ctx_cname();
	mns_zone_t *z;
	const knot_rrset_t *rr = build_mx(p, &t, NULL, "bounce.acme." PT_HOSTED, &z);
	assert_int_equal(rr->rrs.count, 3);
	assert_true(pt_has_mx(rr, 10, "mx1.vendor.example"));
	assert_true(pt_has_mx(rr, 20, "mx2.vendor.example"));
	assert_true(pt_has_mx(rr, 10, "bounce.vendor.example"));
	mns_zone_free(z);
	mns_plugin_destroy(p);
}

static void test_tenant_override(void **state)
{
	mns_plugin_t *p = mx_new(NULL);
	mns_tenant_ctx_t t = pt_ctx_ns();
	mns_zone_t *z;

	json_t *sec =
	    check_ok(p, NULL,
	             "{\"hosts\": [{\"preference\": 5, \"exchange\": \"MX1.Example.NET.\"},"
	             " {\"exchange\": \"mx2.example.net\"},"
	             " {\"preference\": 0, \"exchange\": \"mx0.example.net\"}]}");
	json_t *want =
	    pt_json("{\"hosts\": [{\"preference\": 5, \"exchange\": \"mx1.example.net\"},"
	            " {\"preference\": 10, \"exchange\": \"mx2.example.net\"},"
	            " {\"preference\": 0, \"exchange\": \"mx0.example.net\"}]}");
	assert_true(json_equal(sec, want));
	json_decref(want);

	const knot_rrset_t *rr = build_mx(p, &t, sec, "mgeu.example.com", &z);
	assert_int_equal(rr->rrs.count, 3);
	assert_true(pt_has_mx(rr, 5, "mx1.example.net"));
	assert_true(pt_has_mx(rr, 10, "mx2.example.net"));
	assert_true(pt_has_mx(rr, 0, "mx0.example.net"));
	assert_false(pt_has_mx(rr, 10, "mx.vendor.example"));
	mns_zone_free(z);

	/* Updates: absent keeps, null reverts to the vendor's hosts. */
	json_t *v2 = check_ok(p, sec, NULL);
	assert_true(json_equal(v2, sec));
	json_t *v3 = check_ok(p, sec, "{\"hosts\": null}");
	assert_int_equal(json_object_size(v3), 0);
	rr = build_mx(p, &t, v3, "mgeu.example.com", &z);
	assert_int_equal(rr->rrs.count, 1);
	assert_true(pt_has_mx(rr, 10, "mx.vendor.example"));
	mns_zone_free(z);

	json_decref(v3);
	json_decref(v2);
	json_decref(sec);
	mns_plugin_destroy(p);
}

static void test_bad_input(void **state)
{
	static const pt_bad_t rows[] = {
	    {"{\"hosts\": []}", "invalid_mx"},
	    {"{\"hosts\": \"mx1.example.net\"}", "invalid_mx"},
	    {"{\"hosts\": [\"mx1.example.net\"]}", "invalid_mx"},
	    {"{\"hosts\": [{\"preference\": 10}]}", "invalid_mx"},
	    {"{\"hosts\": [{\"exchange\": 7}]}", "invalid_mx"},
	    {"{\"hosts\": [{\"exchange\": \"\"}]}", "invalid_mx"},
	    {"{\"hosts\": [{\"exchange\": \".\"}]}", "invalid_mx"},
	    {"{\"hosts\": [{\"exchange\": \"mx_1.example.net\"}]}", "invalid_mx"},
	    {"{\"hosts\": [{\"exchange\": \"-mx.example.net\"}]}", "invalid_mx"},
	    {"{\"hosts\": [{\"exchange\": \"mx..example.net\"}]}", "invalid_mx"},
	    {"{\"hosts\": [{\"exchange\": \"192.0.2.1\"}]}", "invalid_mx"},
	    {"{\"hosts\": [{\"exchange\": \"localhost\"}]}", "invalid_mx"},
	    {"{\"hosts\": [{\"preference\": -1, \"exchange\": \"mx.example.net\"}]}", "invalid_mx"},
	    {"{\"hosts\": [{\"preference\": 65536, \"exchange\": \"mx.example.net\"}]}",
	     "invalid_mx"},
	    {"{\"hosts\": [{\"preference\": \"10\", \"exchange\": \"mx.example.net\"}]}",
	     "invalid_mx"},
	    {"{\"hosts\": [{\"preference\": 1.5, \"exchange\": \"mx.example.net\"}]}",
	     "invalid_mx"},
	    {"{\"hosts\": [{\"exchange\": \"mx.example.net\"}, {\"preference\": 20,"
	     " \"exchange\": \"MX.example.net\"}]}",
	     "invalid_mx"},
	    {"{\"hosts\": [{\"exchange\": \"mx.example.net\", \"priority\": 10}]}",
	     "unknown_field"},
	    {"{\"exchange\": \"mx.example.net\"}", "unknown_field"},
	    {"[]", "invalid_mx"},
	};
	mns_plugin_t *p = mx_new(NULL);
	pt_check_bad_table(p, rows, sizeof(rows) / sizeof(rows[0]));

	/* More than 16 hosts. */
	char in[4096] = "{\"hosts\": [";
	for (int i = 0; i < 17; i++)
		snprintf(in + strlen(in), sizeof(in) - strlen(in),
		         "%s{\"exchange\": \"mx%d.example.net\"}", i ? ", " : "", i);
	strcat(in, "]}");
	pt_bad_t many = {in, "invalid_mx"};
	pt_check_bad_table(p, &many, 1);

	/* The key names the host at fault. */
	mns_error_t err;
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *bad = pt_json("{\"hosts\": [{\"exchange\": \"mx.example.net\"},"
	                      " {\"exchange\": \"192.0.2.1\"}]}"),
	       *out;
	assert_int_equal(pt_check(p, &t, NULL, bad, &out, &err), MNS_EINVAL);
	assert_string_equal(err.key, "mx.hosts[1]");
	json_decref(bad);
	mns_plugin_destroy(p);
}

static void test_config(void **state)
{
	static const char *const bad[] = {
	    "{\"hosts\": []}",
	    "{\"hosts\": [\"\"]}",
	    "{\"hosts\": [\"70000:mx.vendor.example\"]}",
	    "{\"hosts\": [\"x:mx.vendor.example\"]}",
	    "{\"hosts\": [\":mx.vendor.example\"]}",
	    "{\"hosts\": [\"10:\"]}",
	    "{\"hosts\": [\"10:192.0.2.1\"]}",
	    "{\"hosts\": [\"10:mx.vendor.example 20:mx.vendor.example\"]}",
	    "{\"hosts\": [\"mx_1.vendor.example\"]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mns_plugin_t *p = pt_plugin_new(&mns_plugin_mx, "mx");
		mns_error_t err = {0};
		if (pt_configure(p, pt_json(bad[i]), &err) == MNS_OK)
			fail_msg("configure(%s) accepted", bad[i]);
		assert_string_equal(err.key, "hosts");
		mns_plugin_destroy(p);
	}
	json_t *d = mns_conf_schema_defaults(mns_plugin_mx.schema);
	assert_non_null(d);
	json_decref(d);
}

static void test_instructions(void **state)
{
	mns_plugin_t *p = mx_new(NULL);
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *recs = pt_instructions(p, &t, NULL);
	assert_int_equal(json_array_size(recs), 0);
	json_decref(recs);

	t = pt_ctx_cname();
	recs = pt_instructions(p, &t, NULL);
	assert_int_equal(json_array_size(recs), 1);
	pt_assert_instr(json_array_get(recs, 0), "bounce.example.com", "CNAME",
	                "bounce.acme." PT_HOSTED, true,
	                "bounce (envelope sender) domain: MX and SPF");
	json_decref(recs);
	mns_plugin_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default),         cmocka_unit_test(test_vendor_hosts),
	    cmocka_unit_test(test_tenant_override), cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_config),          cmocka_unit_test(test_instructions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
