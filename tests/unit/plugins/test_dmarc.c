/*  Unit tests of the dmarc plugin: record composition and tag order,
 *  vendor defaults and tenant overrides, validation, instructions, and the
 *  external report authorisation records (RFC 7489 7.1).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "plugtest.h"

extern const mns_plugin_api_t mns_plugin_dmarc;

static mns_plugin_t *dmarc_new(const char *conf_json)
{
	mns_error_t err = {0};
	mns_plugin_t *p = pt_plugin_new(&mns_plugin_dmarc, "dmarc");
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

/** Builds \a section and asserts the _dmarc TXT holds \a text. */
static void assert_record(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                          const char *text)
{
	mns_error_t err;
	mns_zone_t *z = NULL;
	char owner[256];
	if (pt_build(p, t, section, &z, &err) != MNS_OK)
		fail_msg("build: %s: %s", err.code, err.message);
	snprintf(owner, sizeof(owner), "_dmarc.%s", t->base);
	pt_assert_txt(pt_rrset(z, owner, KNOT_RRTYPE_TXT), text, t->ttl);
	assert_int_equal(pt_rrset_count(z), t->mode == MNS_MODE_NS ? 2 : 1);
	mns_zone_free(z);
}

static void test_default(void **state)
{
	mns_plugin_t *p = dmarc_new(NULL);
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *sec = check_ok(p, NULL, NULL);
	assert_int_equal(json_object_size(sec), 0);
	/* The embedded default sends aggregate reports to the vendor. */
	assert_record(p, &t, sec, "v=DMARC1; p=none; rua=mailto:dmarc@vendor.example");
	t = pt_ctx_cname();
	assert_record(p, &t, NULL, "v=DMARC1; p=none; rua=mailto:dmarc@vendor.example");
	json_decref(sec);
	mns_plugin_destroy(p);
}

static void test_vendor(void **state)
{
	mns_plugin_t *p = dmarc_new("{\"policy\": \"Quarantine\", \"rua\": "
	                            "\"mailto:dmarc-reports@Vendor.Example\", \"pct\": 50,"
	                            " \"adkim\": \"s\", \"aspf\": \"r\"}");
	mns_tenant_ctx_t t = pt_ctx_cname();
	assert_record(p, &t, NULL,
	              "v=DMARC1; p=quarantine; pct=50; rua=mailto:dmarc-reports@vendor.example; "
	              "adkim=s");

	/* The tenant overrides: rua "" drops the vendor's, defaults drop the tags. */
	json_t *sec = check_ok(p, NULL, "{\"rua\": \"\", \"pct\": 100, \"adkim\": \"r\"}");
	assert_record(p, &t, sec, "v=DMARC1; p=quarantine");
	json_decref(sec);
	mns_plugin_destroy(p);
}

static void test_tenant_full(void **state)
{
	mns_plugin_t *p = dmarc_new("{\"rua\": \"mailto:dmarc-reports@vendor.example\"}");
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *sec = check_ok(p, NULL,
	                       "{\"fo\": \"1:D\", \"aspf\": \"s\", \"adkim\": \"S\","
	                       " \"ruf\": \"mailto:f@example.com\","
	                       " \"rua\": \"mailto:a@example.com , MAILTO:B.c+d@Example.NET!10M\","
	                       " \"pct\": 25, \"sp\": \"quarantine\", \"p\": \"Reject\"}");
	json_t *want = pt_json("{\"p\": \"reject\", \"sp\": \"quarantine\", \"pct\": 25,"
	                       " \"rua\": \"mailto:a@example.com,mailto:B.c+d@example.net!10m\","
	                       " \"ruf\": \"mailto:f@example.com\", \"adkim\": \"s\","
	                       " \"aspf\": \"s\", \"fo\": \"1:d\"}");
	assert_true(json_equal(sec, want));
	json_decref(want);
	/* v and p first, then a fixed order whatever the input order. */
	assert_record(p, &t, sec,
	              "v=DMARC1; p=reject; sp=quarantine; pct=25; "
	              "rua=mailto:a@example.com,mailto:B.c+d@example.net!10m; "
	              "ruf=mailto:f@example.com; adkim=s; aspf=s; fo=1:d");

	/* Updates merge: null removes a tag, absent tags stay. */
	json_t *v2 = check_ok(p, sec, "{\"sp\": null, \"pct\": 0, \"rua\": null}");
	assert_null(json_object_get(v2, "sp"));
	assert_record(p, &t, v2,
	              "v=DMARC1; p=reject; pct=0; rua=mailto:dmarc-reports@vendor.example; "
	              "ruf=mailto:f@example.com; adkim=s; aspf=s; fo=1:d");
	json_t *v3 = check_ok(p, sec, NULL);
	assert_true(json_equal(v3, sec));

	json_decref(v3);
	json_decref(v2);
	json_decref(sec);
	mns_plugin_destroy(p);
}

static void test_bad_input(void **state)
{
	static const pt_bad_t rows[] = {
	    {"{\"p\": \"monitor\"}", "invalid_dmarc"},
	    {"{\"p\": \"\"}", "invalid_dmarc"},
	    {"{\"p\": true}", "invalid_dmarc"},
	    {"{\"sp\": \"allow\"}", "invalid_dmarc"},
	    {"{\"pct\": 101}", "invalid_dmarc"},
	    {"{\"pct\": -1}", "invalid_dmarc"},
	    {"{\"pct\": \"50\"}", "invalid_dmarc"},
	    {"{\"pct\": 12.5}", "invalid_dmarc"},
	    {"{\"adkim\": \"x\"}", "invalid_dmarc"},
	    {"{\"aspf\": \"relaxed\"}", "invalid_dmarc"},
	    {"{\"fo\": \"2\"}", "invalid_dmarc"},
	    {"{\"fo\": \"\"}", "invalid_dmarc"},
	    {"{\"fo\": \"1:\"}", "invalid_dmarc"},
	    {"{\"fo\": \":1\"}", "invalid_dmarc"},
	    {"{\"fo\": \"1::d\"}", "invalid_dmarc"},
	    {"{\"fo\": \"10\"}", "invalid_dmarc"},
	    {"{\"fo\": \"1,d\"}", "invalid_dmarc"},
	    {"{\"rua\": \"dmarc@example.com\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:@example.com\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:dmarc@\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:dmarc@localhost\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:dmarc@example..com\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:dm arc@example.com\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:dmarc;x@example.com\"}", "invalid_dmarc"},
	    {"{\"rua\": \"https://example.com/reports\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:a@example.com,\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:a@example.com,,mailto:b@example.com\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:a@example.com!10x\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:a@example.com!\"}", "invalid_dmarc"},
	    {"{\"rua\": \"mailto:.a@example.com\"}", "invalid_dmarc"},
	    {"{\"ruf\": 5}", "invalid_dmarc"},
	    {"{\"ruf\": \"mailto:f@exa_mple.com\"}", "invalid_dmarc"},
	    {"{\"v\": \"DMARC1\"}", "unknown_field"},
	    {"{\"policy\": \"reject\"}", "unknown_field"},
	    {"{\"p\": \"reject\", \"ri\": 86400}", "unknown_field"},
	    {"[]", "invalid_dmarc"},
	};
	mns_plugin_t *p = dmarc_new(NULL);
	pt_check_bad_table(p, rows, sizeof(rows) / sizeof(rows[0]));

	/* The error names the tag. */
	mns_error_t err;
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *bad = pt_json("{\"p\": \"reject\", \"sp\": \"maybe\"}"), *out;
	assert_int_equal(pt_check(p, &t, NULL, bad, &out, &err), MNS_EINVAL);
	assert_string_equal(err.key, "dmarc.sp");
	assert_non_null(strstr(err.message, "sp"));
	json_decref(bad);
	mns_plugin_destroy(p);
}

static void test_config(void **state)
{
	static const struct {
		const char *conf, *key;
	} rows[] = {
	    {"{\"policy\": \"monitor\"}", "policy"},
	    {"{\"rua\": \"reports@vendor.example\"}", "rua"},
	    {"{\"ruf\": \"mailto:x\"}", "ruf"},
	    {"{\"adkim\": \"q\"}", "adkim"},
	    {"{\"aspf\": \"strict\"}", "aspf"},
	    {"{\"pct\": 101}", "pct"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		mns_plugin_t *p = pt_plugin_new(&mns_plugin_dmarc, "dmarc");
		mns_error_t err = {0};
		if (pt_configure(p, pt_json(rows[i].conf), &err) == MNS_OK)
			fail_msg("configure(%s) accepted", rows[i].conf);
		assert_string_equal(err.key, rows[i].key);
		mns_plugin_destroy(p);
	}
	json_t *d = mns_conf_schema_defaults(mns_plugin_dmarc.schema);
	assert_string_equal(json_string_value(json_object_get(d, "policy")), "none");
	assert_int_equal(json_integer_value(json_object_get(d, "pct")), 100);
	json_decref(d);
}

static void test_instructions(void **state)
{
	mns_plugin_t *p = dmarc_new(NULL);
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *recs = pt_instructions(p, &t, NULL);
	assert_int_equal(json_array_size(recs), 0);
	json_decref(recs);

	t = pt_ctx_cname();
	recs = pt_instructions(p, &t, NULL);
	assert_int_equal(json_array_size(recs), 1);
	pt_assert_instr(json_array_get(recs, 0), "_dmarc.example.com", "CNAME",
	                "_dmarc.acme." PT_HOSTED, false,
	                "DMARC policy, only if the domain has no DMARC record of its own");
	json_decref(recs);
	mns_plugin_destroy(p);
}

/** Builds \a section for \a t with vendor zones served (the hosted zone and
 *  \a statics) and asserts the authorisation records are exactly \a owners
 *  (NULL-terminated), each one TXT "v=DMARC1". */
static void assert_auths(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                         const char *const *statics, const char *const *owners)
{
	mns_error_t err;
	mns_zone_t *z = NULL;
	pt_ext_t x;
	if (pt_build_ext(p, t, section, statics, &z, &x, &err) != MNS_OK)
		fail_msg("build: %s: %s", err.code, err.message);
	size_t n = 0;
	while (owners[n] != NULL)
		n++;
	if (x.n != n) {
		char *names = json_dumps(x.names, JSON_COMPACT);
		fail_msg("expected %zu authorisation records, got %zu: %s", n, x.n, names);
	}
	for (size_t i = 0; i < n; i++) {
		/* The core names them absolute, with or without the final dot. */
		char got[300];
		snprintf(got, sizeof(got), "%s", json_string_value(json_array_get(x.names, i)));
		if (got[0] != '\0' && got[strlen(got) - 1] == '.')
			got[strlen(got) - 1] = '\0';
		assert_string_equal(got, owners[i]);
		pt_assert_txt(pt_rrset(x.zones[i], owners[i], KNOT_RRTYPE_TXT), "v=DMARC1", t->ttl);
		assert_int_equal(pt_rrset_count(x.zones[i]), 1);
	}
	/* The tenant's own zone is unchanged: the _dmarc record only. */
	assert_int_equal(pt_rrset_count(z), t->mode == MNS_MODE_NS ? 2 : 1);
	mns_zone_free(z);
	pt_ext_free(&x);
}

/* RFC 7489 7.1: reports to another domain need
 * "<policy domain>._report._dmarc.<report domain>"; published when the
 * report domain is in a zone we serve. The policy domain is the From:
 * domain whose DMARC record names the address: the delegated zone in ns
 * mode, the customer's domain in cname mode. */
static void test_report_auth(void **state)
{
	static const char *const vendor_zone[] = {"vendor.example", NULL};
	mns_plugin_t *p = dmarc_new(NULL); /* rua=mailto:dmarc@vendor.example */
	mns_tenant_ctx_t ns = pt_ctx_ns(), cn = pt_ctx_cname();
	assert_auths(p, &ns, NULL, vendor_zone,
	             (const char *const[]){"mgeu.example.com._report._dmarc.vendor.example", NULL});
	assert_auths(p, &cn, NULL, vendor_zone,
	             (const char *const[]){"example.com._report._dmarc.vendor.example", NULL});
	/* vendor.example not served here: its owner must publish the record. */
	assert_auths(p, &ns, NULL, NULL, (const char *const[]){NULL});
	/* Without a collector (not in a daemon) the build just skips them. */
	mns_error_t err;
	mns_zone_t *z = NULL;
	assert_int_equal(pt_build(p, &ns, NULL, &z, &err), MNS_OK);
	mns_zone_free(z);

	/* Tenant addresses: one record per served report domain, ruf too, a
	 * size limit ignored, repeats once; addresses inside the customer's own
	 * domain (the same organisation) need none; unserved domains are
	 * skipped; a report domain in the hosted zone is served too. */
	json_t *sec =
	    check_ok(p, NULL,
	             "{\"rua\": \"mailto:a@vendor.example!10m, mailto:b@example.com, "
	             "mailto:c@mail.example.com, mailto:d@reports.example.net, "
	             "mailto:e@mgeu.example.com\", "
	             "\"ruf\": \"mailto:f@vendor.example, mailto:g@dmarc.mailns.vendor.example\"}");
	assert_auths(p, &ns, sec, vendor_zone,
	             (const char *const[]){"mgeu.example.com._report._dmarc.vendor.example",
	                                   "mgeu.example.com._report._dmarc.dmarc.mailns.vendor."
	                                   "example",
	                                   NULL});
	assert_auths(p, &cn, sec, vendor_zone,
	             (const char *const[]){"example.com._report._dmarc.vendor.example",
	                                   "example.com._report._dmarc.dmarc.mailns.vendor.example",
	                                   NULL});
	json_decref(sec);

	/* No report addresses: nothing. */
	sec = check_ok(p, NULL, "{\"rua\": \"\"}");
	assert_auths(p, &ns, sec, vendor_zone, (const char *const[]){NULL});
	json_decref(sec);
	mns_plugin_destroy(p);

	/* A vendor default ruf in a served static zone. */
	p = dmarc_new("{\"rua\": \"\", \"ruf\": \"mailto:forensic@reports.vendor.example\"}");
	assert_auths(
	    p, &ns, NULL, vendor_zone,
	    (const char *const[]){"mgeu.example.com._report._dmarc.reports.vendor.example", NULL});
	mns_plugin_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default),     cmocka_unit_test(test_vendor),
	    cmocka_unit_test(test_tenant_full), cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_config),      cmocka_unit_test(test_instructions),
	    cmocka_unit_test(test_report_auth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
