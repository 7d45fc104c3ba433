/*  Unit tests of the spf plugin: record composition in both modes,
 *  mechanism validation and normalisation, the lookup budget and its
 *  message, config checks, the vendor's include target in the hosted zone.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "plugtest.h"

extern const mns_plugin_api_t mns_plugin_spf;

#define VENDOR "[\"ip4:192.0.2.0/24 include:_spf.vendor.example\"]"

static mns_plugin_t *spf_new(const char *conf_json)
{
	mns_error_t err = {0};
	mns_plugin_t *p = pt_plugin_new(&mns_plugin_spf, "spf");
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

/** Builds \a section for \a t and asserts the one SPF TXT holds \a text. */
static void assert_record(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                          const char *text)
{
	mns_error_t err;
	mns_zone_t *z = NULL;
	char owner[256];
	if (pt_build(p, t, section, &z, &err) != MNS_OK)
		fail_msg("build: %s: %s", err.code, err.message);
	if (strcmp(t->mail_label, "@") == 0)
		snprintf(owner, sizeof(owner), "%s", t->base);
	else
		snprintf(owner, sizeof(owner), "%s.%s", t->mail_label, t->base);
	pt_assert_txt(pt_rrset(z, owner, KNOT_RRTYPE_TXT), text, t->ttl);
	assert_int_equal(pt_rrset_count(z), t->mode == MNS_MODE_NS ? 2 : 1);
	mns_zone_free(z);
}

static void test_default(void **state)
{
	mns_plugin_t *p = spf_new(NULL);
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *sec = check_ok(p, NULL, NULL);
	assert_int_equal(json_object_size(sec), 0);
	/* The embedded default authorises the documentation range (RFC 5737). */
	assert_record(p, &t, sec, "v=spf1 ip4:192.0.2.0/24 ~all");
	/* No section at all is the same. */
	assert_record(p, &t, NULL, "v=spf1 ip4:192.0.2.0/24 ~all");
	json_decref(sec);
	mns_plugin_destroy(p);
}

static void test_vendor_both_modes(void **state)
{
	mns_plugin_t *p = spf_new("{\"mechanisms\": " VENDOR "}");
	mns_tenant_ctx_t t = pt_ctx_ns();
	assert_record(p, &t, NULL, "v=spf1 ip4:192.0.2.0/24 include:_spf.vendor.example ~all");
	t = pt_ctx_cname(); /* At bounce.acme.mailns.vendor.example. */
	assert_record(p, &t, NULL, "v=spf1 ip4:192.0.2.0/24 include:_spf.vendor.example ~all");
	mns_plugin_destroy(p);

	/* One entry per mechanism, mixed case, "+", repeats: normalised. */
	p = spf_new("{\"mechanisms\": [\"+IP4:192.0.2.0/24\", \"Include:_SPF.Vendor.Example.\","
	            " \"ip4:192.0.2.0/24\"], \"all\": \"-ALL\"}");
	t = pt_ctx_ns();
	assert_record(p, &t, NULL, "v=spf1 ip4:192.0.2.0/24 include:_spf.vendor.example -all");
	mns_plugin_destroy(p);
}

static void test_tenant_extra(void **state)
{
	mns_plugin_t *p = spf_new("{\"mechanisms\": " VENDOR "}");
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *sec =
	    check_ok(p, NULL,
	             "{\"extra\": [\"ip4:198.51.100.7\", \"INCLUDE:_SPF.Vendor.Example\","
	             " \"ip6:2001:DB8:0::/32\", \"ip4:198.51.100.7\"], \"all\": \"-all\"}");
	json_t *want = pt_json("{\"extra\": [\"ip4:198.51.100.7\", \"include:_spf.vendor.example\","
	                       " \"ip6:2001:db8::/32\"], \"all\": \"-all\"}");
	assert_true(json_equal(sec, want));
	json_decref(want);

	/* The vendor's include is not repeated. */
	assert_record(p, &t, sec,
	              "v=spf1 ip4:192.0.2.0/24 include:_spf.vendor.example ip4:198.51.100.7 "
	              "ip6:2001:db8::/32 -all");
	t = pt_ctx_cname();
	assert_record(p, &t, sec,
	              "v=spf1 ip4:192.0.2.0/24 include:_spf.vendor.example ip4:198.51.100.7 "
	              "ip6:2001:db8::/32 -all");

	/* Updates merge: null removes a key, absent keys stay. */
	json_t *v2 = check_ok(p, sec, "{\"all\": null}");
	assert_null(json_object_get(v2, "all"));
	assert_true(json_equal(json_object_get(v2, "extra"), json_object_get(sec, "extra")));
	t = pt_ctx_ns();
	assert_record(p, &t, v2,
	              "v=spf1 ip4:192.0.2.0/24 include:_spf.vendor.example ip4:198.51.100.7 "
	              "ip6:2001:db8::/32 ~all");
	json_t *v3 = check_ok(p, sec, NULL);
	assert_true(json_equal(v3, sec));
	json_t *v4 = check_ok(p, sec, "{\"extra\": []}");
	assert_null(json_object_get(v4, "extra"));
	assert_string_equal(json_string_value(json_object_get(v4, "all")), "-all");

	json_decref(v4);
	json_decref(v3);
	json_decref(v2);
	json_decref(sec);
	mns_plugin_destroy(p);
}

/* A record longer than 255 octets is split into several strings. */
static void test_long_record(void **state)
{
	mns_plugin_t *p = spf_new("{\"mechanisms\": " VENDOR "}");
	mns_tenant_ctx_t t = pt_ctx_ns();
	char in[4096] = "{\"extra\": [",
	     want[4096] = "v=spf1 ip4:192.0.2.0/24 include:_spf.vendor.example";
	for (int i = 0; i < 30; i++) {
		char m[64];
		snprintf(m, sizeof(m), "ip6:2001:db8:%x::/48", 0x1000 + i);
		snprintf(in + strlen(in), sizeof(in) - strlen(in), "%s\"%s\"", i ? ", " : "", m);
		snprintf(want + strlen(want), sizeof(want) - strlen(want), " %s", m);
	}
	strcat(in, "]}");
	strcat(want, " ~all");
	json_t *sec = check_ok(p, NULL, in);

	mns_error_t err;
	mns_zone_t *z = NULL;
	assert_int_equal(pt_build(p, &t, sec, &z, &err), MNS_OK);
	const knot_rrset_t *rr = pt_rrset(z, "mgeu.example.com", KNOT_RRTYPE_TXT);
	char text[4096];
	assert_int_equal(pt_txt(rr, 0, text, sizeof(text)), (int)(strlen(want) + 254) / 255);
	assert_true(strlen(want) > 510);
	assert_string_equal(text, want);
	mns_zone_free(z);
	json_decref(sec);
	mns_plugin_destroy(p);
}

/* Accepted mechanisms and their normalised forms. */
static void test_valid_mechanisms(void **state)
{
	static const struct {
		const char *in, *out;
	} rows[] = {
	    {"a", "a"},
	    {"a/24", "a/24"},
	    {"a//64", "a//64"},
	    {"a:Mail.Example.COM/24//64", "a:mail.example.com/24//64"},
	    {"mx", "mx"},
	    {"-mx:example.net", "-mx:example.net"},
	    {"MX:example.net/30", "mx:example.net/30"},
	    {"~include:spf.example.org", "~include:spf.example.org"},
	    {"+ip4:10.0.0.1", "ip4:10.0.0.1"},
	    {"?ip6:::1", "?ip6:::1"},
	    {"ip4:192.0.2.0/0", "ip4:192.0.2.0/0"},
	    {"ip6:2001:0DB8::/128", "ip6:2001:db8::/128"},
	    {"ip6:::ffff:192.0.2.1", "ip6:::ffff:192.0.2.1"},
	    {"exists:%{i}._spf.vendor.example", "exists:%{i}._spf.vendor.example"},
	    {"exists:%{ir}.%{l1r-}.%{d2}._spf.example.com",
	     "exists:%{ir}.%{l1r-}.%{d2}._spf.example.com"},
	    {"include:%{d}", "include:%{d}"},
	    {"a:%{d}/24", "a:%{d}/24"},
	};
	mns_plugin_t *p = spf_new(NULL);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char in[512];
		snprintf(in, sizeof(in), "{\"extra\": [\"%s\"]}", rows[i].in);
		json_t *sec = check_ok(p, NULL, in);
		const char *got =
		    json_string_value(json_array_get(json_object_get(sec, "extra"), 0));
		if (got == NULL || strcmp(got, rows[i].out) != 0)
			fail_msg("%s: expected %s, got %s", rows[i].in, rows[i].out,
			         got ? got : "NULL");
		json_decref(sec);
	}
	mns_plugin_destroy(p);
}

static void test_bad_input(void **state)
{
	static const pt_bad_t rows[] = {
	    {"{\"extra\": [\"ptr\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ptr:example.com\"]}", "invalid_spf"},
	    {"{\"extra\": [\"-ptr\"]}", "invalid_spf"},
	    {"{\"extra\": [\"redirect=_spf.example.com\"]}", "invalid_spf"},
	    {"{\"extra\": [\"exp=explain.example.com\"]}", "invalid_spf"},
	    {"{\"extra\": [\"+all\"]}", "invalid_spf"},
	    {"{\"extra\": [\"-all\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ip4:300.1.1.1\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ip4:192.0.2.0/33\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ip4:192.0.2.0/\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ip4:192.0.2.0/-1\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ip4\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ip4:\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ip4:2001:db8::1\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ip6:192.0.2.1\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ip6:2001:db8::/129\"]}", "invalid_spf"},
	    {"{\"extra\": [\"include\"]}", "invalid_spf"},
	    {"{\"extra\": [\"include:\"]}", "invalid_spf"},
	    {"{\"extra\": [\"include:-bad-.example.com\"]}", "invalid_spf"},
	    {"{\"extra\": [\"include:localhost\"]}", "invalid_spf"},
	    {"{\"extra\": [\"include:example.123\"]}", "invalid_spf"},
	    {"{\"extra\": [\"include:example.com/24\"]}", "invalid_spf"},
	    {"{\"extra\": [\"include:exa mple.com\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ip4:192.0.2.1 ip4:192.0.2.2\"]}", "invalid_spf"},
	    {"{\"extra\": [\"a:example.com/33\"]}", "invalid_spf"},
	    {"{\"extra\": [\"mx//129\"]}", "invalid_spf"},
	    {"{\"extra\": [\"a:\"]}", "invalid_spf"},
	    {"{\"extra\": [\"a/24/\"]}", "invalid_spf"},
	    {"{\"extra\": [\"exists:%{x}.example.com\"]}", "invalid_spf"},
	    {"{\"extra\": [\"exists:%{i.example.com\"]}", "invalid_spf"},
	    {"{\"extra\": [\"exists:%{c}.example.com\"]}", "invalid_spf"},
	    {"{\"extra\": [\"exists:%{i}.example.%{\"]}", "invalid_spf"},
	    {"{\"extra\": [\"foo:bar\"]}", "invalid_spf"},
	    {"{\"extra\": [\"v=spf1\"]}", "invalid_spf"},
	    {"{\"extra\": [\"*ip4:192.0.2.1\"]}", "invalid_spf"},
	    {"{\"extra\": [\"\"]}", "invalid_spf"},
	    {"{\"extra\": [\"ip4:192.0.2.1\u00e9\"]}", "invalid_spf"},
	    {"{\"extra\": [1]}", "invalid_spf"},
	    {"{\"extra\": \"ip4:192.0.2.1\"}", "invalid_spf"},
	    {"{\"all\": \"+all\"}", "invalid_spf"},
	    {"{\"all\": \"all\"}", "invalid_spf"},
	    {"{\"all\": \"fail\"}", "invalid_spf"},
	    {"{\"all\": true}", "invalid_spf"},
	    {"{\"mechanisms\": []}", "unknown_field"},
	    {"{\"extra\": [], \"redirect\": \"x\"}", "unknown_field"},
	    {"[]", "invalid_spf"},
	    /* Eleven DNS-querying terms. */
	    {"{\"extra\": [\"include:a.example\", \"include:b.example\", \"include:c.example\","
	     " \"include:d.example\", \"include:e.example\", \"include:f.example\", \"a\","
	     " \"mx\", \"exists:%{i}.g.example\", \"a:h.example\", \"mx:i.example\"]}",
	     "invalid_spf"},
	};
	mns_plugin_t *p = spf_new(NULL);
	pt_check_bad_table(p, rows, sizeof(rows) / sizeof(rows[0]));

	/* Too many extras. */
	char in[4096] = "{\"extra\": [";
	for (int i = 0; i < 33; i++)
		snprintf(in + strlen(in), sizeof(in) - strlen(in), "%s\"ip4:192.0.2.%d\"",
		         i ? ", " : "", i);
	strcat(in, "]}");
	pt_bad_t many = {in, "invalid_spf"};
	pt_check_bad_table(p, &many, 1);

	/* The messages say what to do. */
	mns_error_t err;
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *bad = pt_json("{\"extra\": [\"ip4:192.0.2.1\", \"ptr\"]}"), *out;
	assert_int_equal(pt_check(p, &t, NULL, bad, &out, &err), MNS_EINVAL);
	assert_non_null(strstr(err.message, "ptr"));
	assert_string_equal(err.key, "spf.extra");
	json_decref(bad);
	bad = pt_json("{\"extra\": [\"frobnicate:x\"]}");
	assert_int_equal(pt_check(p, &t, NULL, bad, &out, &err), MNS_EINVAL);
	assert_non_null(strstr(err.message, "frobnicate:x"));
	json_decref(bad);
	bad = pt_json("{\"all\": \"+all\"}");
	assert_int_equal(pt_check(p, &t, NULL, bad, &out, &err), MNS_EINVAL);
	assert_non_null(strstr(err.message, "every host"));
	json_decref(bad);
	mns_plugin_destroy(p);
}

/* The 10-lookup budget counts the vendor's terms too; vendor repeats are free. */
static void test_lookup_budget(void **state)
{
	mns_plugin_t *p = spf_new("{\"mechanisms\": [\"include:a.example include:b.example "
	                          "include:c.example include:d.example include:e.example "
	                          "include:f.example include:g.example include:h.example "
	                          "include:i.example\"]}");
	json_t *sec = check_ok(p, NULL, "{\"extra\": [\"a\", \"include:a.example\"]}");
	json_decref(sec);
	pt_bad_t row = {"{\"extra\": [\"a\", \"mx\"]}", "invalid_spf"};
	pt_check_bad_table(p, &row, 1);
	mns_plugin_destroy(p);
}

static void test_config(void **state)
{
	static const struct {
		const char *conf, *key;
	} rows[] = {
	    {"{\"mechanisms\": [\"ptr\"]}", "mechanisms"},
	    {"{\"mechanisms\": [\"ip4:192.0.2.0/24 redirect=_spf.vendor.example\"]}", "mechanisms"},
	    {"{\"mechanisms\": [\"include:a.example include:b.example include:c.example "
	     "include:d.example include:e.example include:f.example include:g.example "
	     "include:h.example include:i.example include:j.example a\"]}",
	     "mechanisms"},
	    {"{\"all\": \"+all\"}", "all"},
	    {"{\"all\": \"reject\"}", "all"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		mns_plugin_t *p = pt_plugin_new(&mns_plugin_spf, "spf");
		mns_error_t err = {0};
		if (pt_configure(p, pt_json(rows[i].conf), &err) == MNS_OK)
			fail_msg("configure(%s) accepted", rows[i].conf);
		assert_string_equal(err.key, rows[i].key);
		/* A failed reload keeps the previous config. */
		mns_tenant_ctx_t t = pt_ctx_ns();
		assert_record(p, &t, NULL, "v=spf1 ~all");
		mns_plugin_destroy(p);
	}

	/* A good reload replaces the config. */
	mns_plugin_t *p = spf_new("{\"mechanisms\": " VENDOR ", \"all\": \"?all\"}");
	mns_tenant_ctx_t t = pt_ctx_ns();
	assert_record(p, &t, NULL, "v=spf1 ip4:192.0.2.0/24 include:_spf.vendor.example ?all");
	mns_error_t err;
	assert_int_not_equal(pt_configure(p, pt_json("{\"all\": \"+all\"}"), &err), MNS_OK);
	assert_record(p, &t, NULL, "v=spf1 ip4:192.0.2.0/24 include:_spf.vendor.example ?all");
	assert_int_equal(pt_configure(p, pt_json("{\"mechanisms\": [\"mx\"]}"), &err), MNS_OK);
	assert_record(p, &t, NULL, "v=spf1 mx ~all");
	mns_plugin_destroy(p);
}

static void test_no_instructions(void **state)
{
	/* The mx plugin gives the customer the bounce CNAME. */
	assert_null(mns_plugin_spf.tenant_instructions);
	assert_string_equal(mns_plugin_spf.name, "spf");
	assert_int_equal(mns_plugin_spf.abi_major, MNS_PLUGIN_ABI_MAJOR);
	assert_int_equal(mns_plugin_spf.struct_size, sizeof(mns_plugin_api_t));
}

/* The refusal names every term that costs a lookup, the vendor's and the
 * tenant's, so the operator sees what to merge. */
static void test_lookup_message(void **state)
{
	mns_plugin_t *p = spf_new("{\"mechanisms\": " VENDOR "}");
	mns_tenant_ctx_t t = pt_ctx_ns();
	mns_error_t err;
	json_t *in = pt_json("{\"extra\": [\"include:a.example\", \"ip4:198.51.100.1\", "
	                     "\"include:b.example\", \"include:c.example\", \"include:d.example\","
	                     " \"include:e.example\", \"a\", \"mx:m.example\", "
	                     "\"exists:%{i}.x.example\", \"include:_spf.vendor.example\", "
	                     "\"a:f.example/24\", \"mx\"]}"),
	       *out = NULL;
	assert_int_equal(pt_check(p, &t, NULL, in, &out, &err), MNS_EINVAL);
	assert_null(out);
	assert_string_equal(err.code, "invalid_spf");
	assert_string_equal(err.key, "spf.extra");
	assert_non_null(strstr(err.message, "11 DNS lookups"));
	assert_non_null(strstr(err.message, "vendor: include:_spf.vendor.example; tenant: "
	                                    "include:a.example, include:b.example, "
	                                    "include:c.example, include:d.example, "
	                                    "include:e.example, a, mx:m.example, "
	                                    "exists:%{i}.x.example, a:f.example/24, mx"));
	assert_null(strstr(err.message, "198.51.100.1")); /* Free terms are not named. */
	json_decref(in);
	mns_plugin_destroy(p);

	/* The config's own refusal names its terms too. */
	p = pt_plugin_new(&mns_plugin_spf, "spf");
	assert_int_not_equal(
	    pt_configure(
	        p,
	        pt_json("{\"mechanisms\": [\"ip4:192.0.2.0/24 include:a.example "
	                "include:b.example include:c.example include:d.example "
	                "include:e.example include:f.example include:g.example "
	                "include:h.example include:i.example mx:j.example a:k.example\"]}"),
	        &err),
	    MNS_OK);
	assert_string_equal(err.key, "mechanisms");
	assert_non_null(strstr(err.message, "vendor: include:a.example, include:b.example"));
	assert_non_null(strstr(err.message, "mx:j.example"));
	mns_plugin_destroy(p);
}

/** Asserts the hosted zone holds exactly \a text at \a owner (NULL: no
 *  record besides the SOA). */
static void assert_include_target(mns_plugin_t *p, const char *owner, const char *text)
{
	mns_error_t err;
	mns_zone_t *z = NULL;
	if (pt_build_hosted(p, &z, &err) != MNS_OK)
		fail_msg("hosted build: %s: %s", err.code, err.message);
	if (owner != NULL) {
		pt_assert_txt(pt_rrset(z, owner, KNOT_RRTYPE_TXT), text, 3600);
		assert_int_equal(pt_rrset_count(z), 2);
	} else {
		assert_int_equal(pt_rrset_count(z), 1);
	}
	mns_zone_free(z);
}

/* The vendor's include target: _spf.<hosted zone> with the vendor's
 * mechanisms and all term, so a customer's own SPF record can authorise
 * the vendor with one include: (one DNS lookup). */
static void test_include_target(void **state)
{
	mns_plugin_t *p = spf_new(NULL);
	assert_true(MNS_PLUGIN_HAS(mns_plugin_api(p), hosted_build));
	assert_include_target(p, "_spf." PT_HOSTED, "v=spf1 ip4:192.0.2.0/24 ~all");
	mns_plugin_destroy(p);

	/* a/mx without a domain would mean the include target itself there:
	 * left out of it (kept in tenants' records, where they mean the
	 * bounce domain). */
	p = spf_new("{\"mechanisms\": [\"ip4:192.0.2.0/24 ip6:2001:db8::/32 mx a/24 "
	            "a:out.vendor.example include:_spf.esp.example\"], \"all\": \"-all\"}");
	assert_include_target(p, "_spf." PT_HOSTED,
	                      "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a:out.vendor.example "
	                      "include:_spf.esp.example -all");
	mns_tenant_ctx_t t = pt_ctx_cname();
	assert_record(p, &t, NULL,
	              "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 mx a/24 a:out.vendor.example "
	              "include:_spf.esp.example -all");
	mns_plugin_destroy(p);

	/* Another name, or none at all. */
	p = spf_new("{\"include-label\": \"_SPF.Mail\"}");
	assert_include_target(p, "_spf.mail." PT_HOSTED, "v=spf1 ip4:192.0.2.0/24 ~all");
	mns_plugin_destroy(p);
	p = spf_new("{\"include-label\": \"\"}");
	assert_include_target(p, NULL, NULL);
	mns_plugin_destroy(p);

	/* A long vendor list is split into 255-octet strings there too. */
	char conf[4096] = "{\"mechanisms\": [\"";
	char want[4096] = "v=spf1";
	for (int i = 0; i < 24; i++) {
		char m[64];
		snprintf(m, sizeof(m), "ip6:2001:db8:%x::/48", 0x2000 + i);
		snprintf(conf + strlen(conf), sizeof(conf) - strlen(conf), "%s%s", i ? " " : "", m);
		snprintf(want + strlen(want), sizeof(want) - strlen(want), " %s", m);
	}
	strcat(conf, "\"]}");
	strcat(want, " ~all");
	p = spf_new(conf);
	assert_include_target(p, "_spf." PT_HOSTED, want);
	mns_plugin_destroy(p);

	static const char *const bad[] = {
	    "{\"include-label\": \"a..b\"}", "{\"include-label\": \"_spf.\"}",
	    "{\"include-label\": \"has space\"}", "{\"include-label\": 5}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mns_error_t err = {0};
		p = pt_plugin_new(&mns_plugin_spf, "spf");
		if (pt_configure(p, pt_json(bad[i]), &err) == MNS_OK)
			fail_msg("configure(%s) accepted", bad[i]);
		assert_string_equal(err.key, "include-label");
		mns_plugin_destroy(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default),          cmocka_unit_test(test_vendor_both_modes),
	    cmocka_unit_test(test_tenant_extra),     cmocka_unit_test(test_long_record),
	    cmocka_unit_test(test_valid_mechanisms), cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_lookup_budget),    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_no_instructions),  cmocka_unit_test(test_lookup_message),
	    cmocka_unit_test(test_include_target),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
