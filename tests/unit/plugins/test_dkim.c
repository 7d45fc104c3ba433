/*  Unit tests of the dkim plugin: key generation, records in both modes,
 *  validation, secrets kept out of tenant.get and dkim.keys.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "plugtest.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

extern const mns_plugin_api_t mns_plugin_dkim;

/* --- A stand-in for the store behind mns_plugin_tenant_get ----------------- */

static json_t *stored_doc; /* The one tenant "acme" the fake store knows. */

/* The plugin's calls to mns_plugin_tenant_get land here (-Wl,--wrap, see
 * tests/CMakeLists.txt); in the daemon they read the store. */
json_t *__wrap_mns_plugin_tenant_get(mns_plugin_t *p, const char *tenant);
json_t *__wrap_mns_plugin_tenant_get(mns_plugin_t *p, const char *tenant)
{
	(void)p;
	if (stored_doc == NULL || strcmp(tenant, "acme") != 0)
		return NULL;
	return json_deep_copy(stored_doc);
}

/* --- Helpers ----------------------------------------------------------------- */

static mns_plugin_t *dkim_new(json_t *changes)
{
	mns_error_t err = {0};
	mns_plugin_t *p = pt_plugin_new(&mns_plugin_dkim, "dkim");
	if (pt_configure(p, changes, &err) != MNS_OK)
		fail_msg("configure: %s: %s", err.code, err.message);
	return p;
}

/** Runs tenant_check and fails the test on error. */
static json_t *check_ok(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *old,
                        const char *in_text)
{
	mns_error_t err;
	json_t *in = in_text != NULL ? pt_json(in_text) : NULL, *out = NULL;
	if (pt_check(p, t, old, in, &out, &err) != MNS_OK)
		fail_msg("tenant_check(%s): %s: %s", in_text ? in_text : "NULL", err.code,
		         err.message);
	json_decref(in);
	assert_true(json_is_object(out));
	return out;
}

static const json_t *selector(const json_t *section, const char *name)
{
	size_t i;
	const json_t *s;
	json_array_foreach(json_object_get(section, "selectors"), i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "selector")), name) == 0)
			return s;
	}
	return NULL;
}

static const char *sel_field(const json_t *section, const char *name, const char *field)
{
	const json_t *s = selector(section, name);
	assert_non_null(s);
	return json_string_value(json_object_get(s, field));
}

static size_t b64_decode(const char *in, unsigned char *out, size_t outlen)
{
	size_t len = strlen(in);
	assert_true(len % 4 == 0 && len / 4 * 3 <= outlen);
	int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	assert_true(n >= 0);
	while (len > 0 && in[--len] == '=')
		n--;
	return (size_t)n;
}

static EVP_PKEY *private_key(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	assert_non_null(bio);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(k);
	return k;
}

/** Signs a message with \a priv and verifies it with \a pub. */
static void assert_sign_verify(EVP_PKEY *priv, EVP_PKEY *pub, bool ed25519)
{
	static const unsigned char msg[] = "From: a@example.com\r\nSubject: hello\r\n";
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	const EVP_MD *md = ed25519 ? NULL : EVP_sha256();

	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, priv), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(ctx);

	ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub), 1);
	assert_int_equal(EVP_DigestVerify(ctx, sig, siglen, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(ctx);

	/* A different message must not verify. */
	ctx = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub), 1);
	assert_int_not_equal(EVP_DigestVerify(ctx, sig, siglen, msg, sizeof(msg) - 2), 1);
	EVP_MD_CTX_free(ctx);
}

/** Extracts "p=" from a DKIM key record text. */
static const char *p_tag(const char *text)
{
	const char *p = strstr(text, "; p=");
	assert_non_null(p);
	return p + 4;
}

/* --- Tests -------------------------------------------------------------------- */

/* tenant.add in ns mode: one RSA-2048 key s1, published as a split TXT whose
 * p= is the DER SubjectPublicKeyInfo of the stored private key. */
static void test_add_rsa_ns(void **state)
{
	mns_plugin_t *p = dkim_new(NULL);
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *sec = check_ok(p, &t, NULL, NULL);
	mns_error_t err;

	assert_null(json_object_get(sec, "ed25519")); /* Not set by the caller. */
	assert_int_equal(json_array_size(json_object_get(sec, "selectors")), 1);
	const json_t *s1 = selector(sec, "s1");
	assert_non_null(s1);
	assert_string_equal(sel_field(sec, "s1", "algorithm"), "rsa");
	assert_string_equal(sel_field(sec, "s1", "state"), "active");
	assert_int_equal(json_integer_value(json_object_get(s1, "bits")), 2048);
	assert_int_equal(json_integer_value(json_object_get(s1, "created")), PT_NOW);
	const char *priv_pem = sel_field(sec, "s1", "private");
	assert_non_null(strstr(priv_pem, "-----BEGIN PRIVATE KEY-----")); /* PKCS#8 */

	mns_zone_t *z = NULL;
	assert_int_equal(pt_build(p, &t, sec, &z, &err), MNS_OK);
	const knot_rrset_t *rr = pt_rrset(z, "s1._domainkey.mgeu.example.com", KNOT_RRTYPE_TXT);
	assert_non_null(rr);
	assert_int_equal(rr->rrs.count, 1);
	assert_int_equal(rr->ttl, 3600);
	char text[4096];
	assert_int_equal(pt_txt(rr, 0, text, sizeof(text)), 2); /* 255 + the rest */
	char want[4096];
	snprintf(want, sizeof(want), "v=DKIM1; k=rsa; p=%s", sel_field(sec, "s1", "public"));
	assert_string_equal(text, want);
	/* ns mode: no standby CNAME, nothing else but the SOA. */
	assert_null(pt_rrset(z, "s2._domainkey.mgeu.example.com", KNOT_RRTYPE_CNAME));
	assert_int_equal(pt_rrset_count(z), 2);

	/* p= decodes to a 2048-bit RSA key matching the stored private key. */
	unsigned char der[2048];
	size_t derlen = b64_decode(p_tag(text), der, sizeof(der));
	const unsigned char *dp = der;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &dp, (long)derlen);
	assert_non_null(pub);
	assert_int_equal(dp - der, (long)derlen);
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(pub), 2048);
	EVP_PKEY *priv = private_key(priv_pem);
	assert_int_equal(EVP_PKEY_eq(pub, priv), 1);
	assert_sign_verify(priv, pub, false);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);

	/* The JSON dump shows the same record (zone-file presentation). */
	json_t *dump = NULL;
	assert_int_equal(mns_zone_dump(z, &dump, NULL), MNS_OK);
	size_t i;
	json_t *r;
	bool found = false;
	json_array_foreach(dump, i, r)
	{
		if (strcmp(json_string_value(json_object_get(r, "type")), "TXT") != 0)
			continue;
		found = true;
		assert_string_equal(json_string_value(json_object_get(r, "name")),
		                    "s1._domainkey.mgeu.example.com.");
		assert_non_null(
		    strstr(json_string_value(json_object_get(r, "value")), "\"v=DKIM1; k=rsa; p="));
	}
	assert_true(found);
	json_decref(dump);

	mns_zone_free(z);
	json_decref(sec);
	mns_plugin_destroy(p);
}

/* cname mode: s1 holds the key and s2 is a CNAME to it, so the customer's
 * two CNAMEs both resolve from day one. */
static void test_add_rsa_cname(void **state)
{
	mns_plugin_t *p = dkim_new(json_pack("{s:i}", "rsa-bits", 1024));
	mns_tenant_ctx_t t = pt_ctx_cname();
	json_t *sec = check_ok(p, &t, NULL, "{}");
	mns_error_t err;
	mns_zone_t *z = NULL;

	assert_int_equal(json_integer_value(json_object_get(selector(sec, "s1"), "bits")), 1024);
	assert_int_equal(pt_build(p, &t, sec, &z, &err), MNS_OK);
	char want[2048];
	snprintf(want, sizeof(want), "v=DKIM1; k=rsa; p=%s", sel_field(sec, "s1", "public"));
	pt_assert_txt(pt_rrset(z, "s1._domainkey.acme." PT_HOSTED, KNOT_RRTYPE_TXT), want, 3600);
	pt_assert_cname(pt_rrset(z, "s2._domainkey.acme." PT_HOSTED, KNOT_RRTYPE_CNAME),
	                "s1._domainkey.acme." PT_HOSTED, 3600);
	assert_null(pt_rrset(z, "e2._domainkey.acme." PT_HOSTED, KNOT_RRTYPE_CNAME));
	assert_int_equal(pt_rrset_count(z), 2);

	mns_zone_free(z);
	json_decref(sec);
	mns_plugin_destroy(p);
}

/* Ed25519 from the config: e1 holds the raw 32-octet key (RFC 8463). */
static void test_ed25519(void **state)
{
	mns_plugin_t *p = dkim_new(json_pack("{s:b, s:i}", "ed25519", 1, "rsa-bits", 1024));
	mns_tenant_ctx_t t = pt_ctx_cname();
	json_t *sec = check_ok(p, &t, NULL, NULL);
	mns_error_t err;
	mns_zone_t *z = NULL;

	assert_int_equal(json_array_size(json_object_get(sec, "selectors")), 2);
	const json_t *e1 = selector(sec, "e1");
	assert_non_null(e1);
	assert_string_equal(sel_field(sec, "e1", "algorithm"), "ed25519");
	assert_string_equal(sel_field(sec, "e1", "state"), "active");
	assert_int_equal(json_integer_value(json_object_get(e1, "bits")), 256);

	unsigned char raw[64], mine[64];
	size_t rawlen = b64_decode(sel_field(sec, "e1", "public"), raw, sizeof(raw));
	assert_int_equal(rawlen, 32);
	EVP_PKEY *priv = private_key(sel_field(sec, "e1", "private"));
	assert_int_equal(EVP_PKEY_get_base_id(priv), EVP_PKEY_ED25519);
	size_t minelen = sizeof(mine);
	assert_int_equal(EVP_PKEY_get_raw_public_key(priv, mine, &minelen), 1);
	assert_int_equal(minelen, 32);
	assert_memory_equal(raw, mine, 32);
	EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rawlen);
	assert_non_null(pub);
	assert_sign_verify(priv, pub, true);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(priv);

	assert_int_equal(pt_build(p, &t, sec, &z, &err), MNS_OK);
	char want[256];
	snprintf(want, sizeof(want), "v=DKIM1; k=ed25519; p=%s", sel_field(sec, "e1", "public"));
	pt_assert_txt(pt_rrset(z, "e1._domainkey.acme." PT_HOSTED, KNOT_RRTYPE_TXT), want, 3600);
	pt_assert_cname(pt_rrset(z, "e2._domainkey.acme." PT_HOSTED, KNOT_RRTYPE_CNAME),
	                "e1._domainkey.acme." PT_HOSTED, 3600);
	pt_assert_cname(pt_rrset(z, "s2._domainkey.acme." PT_HOSTED, KNOT_RRTYPE_CNAME),
	                "s1._domainkey.acme." PT_HOSTED, 3600);
	assert_non_null(pt_rrset(z, "s1._domainkey.acme." PT_HOSTED, KNOT_RRTYPE_TXT));
	assert_int_equal(pt_rrset_count(z), 4);
	mns_zone_free(z);

	/* ns mode: the two keys only. */
	t = pt_ctx_ns();
	assert_int_equal(pt_build(p, &t, sec, &z, &err), MNS_OK);
	pt_assert_txt(pt_rrset(z, "e1._domainkey.mgeu.example.com", KNOT_RRTYPE_TXT), want, 3600);
	assert_int_equal(pt_rrset_count(z), 3);
	mns_zone_free(z);

	json_decref(sec);
	mns_plugin_destroy(p);
}

/* The tenant's ed25519 overrides the config; updates keep the stored keys. */
static void test_update(void **state)
{
	mns_plugin_t *p = dkim_new(json_pack("{s:i}", "rsa-bits", 1024));
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *v1 = check_ok(p, &t, NULL, NULL);
	char s1_pub[1024];
	snprintf(s1_pub, sizeof(s1_pub), "%s", sel_field(v1, "s1", "public"));

	/* An update without a dkim section keeps everything. */
	t.now = PT_NOW + 100;
	json_t *v2 = check_ok(p, &t, v1, NULL);
	assert_true(json_equal(v1, v2));

	/* Switching Ed25519 on adds e1 and keeps s1. */
	json_t *v3 = check_ok(p, &t, v2, "{\"ed25519\": true}");
	assert_true(json_is_true(json_object_get(v3, "ed25519")));
	assert_int_equal(json_array_size(json_object_get(v3, "selectors")), 2);
	assert_string_equal(sel_field(v3, "s1", "public"), s1_pub);
	assert_string_equal(sel_field(v3, "s1", "private"), sel_field(v1, "s1", "private"));
	assert_int_equal(json_integer_value(json_object_get(selector(v3, "e1"), "created")),
	                 PT_NOW + 100);
	/* The stored section handed in is not modified. */
	assert_true(json_equal(v1, v2));
	assert_int_equal(json_array_size(json_object_get(v2, "selectors")), 1);

	/* Once more: e1 is kept, not regenerated. */
	json_t *v4 = check_ok(p, &t, v3, "{\"ed25519\": true}");
	assert_true(json_equal(v3, v4));

	/* Switching it off withdraws the e-selectors. */
	json_t *v5 = check_ok(p, &t, v4, "{\"ed25519\": false}");
	assert_true(json_is_false(json_object_get(v5, "ed25519")));
	assert_int_equal(json_array_size(json_object_get(v5, "selectors")), 1);
	assert_null(selector(v5, "e1"));
	assert_string_equal(sel_field(v5, "s1", "public"), s1_pub);

	/* null reverts to the vendor default (off here). */
	json_t *v6 = check_ok(p, &t, v3, "{\"ed25519\": null}");
	assert_null(json_object_get(v6, "ed25519"));
	assert_null(selector(v6, "e1"));

	/* A reset of the whole section (JSON null) drops the setting, never the key. */
	json_t *null_in = json_null();
	json_t *v7 = NULL;
	mns_error_t err;
	assert_int_equal(pt_check(p, &t, v3, null_in, &v7, &err), MNS_OK);
	assert_null(json_object_get(v7, "ed25519"));
	assert_null(selector(v7, "e1"));
	assert_string_equal(sel_field(v7, "s1", "public"), s1_pub);
	assert_string_equal(sel_field(v7, "s1", "private"), sel_field(v1, "s1", "private"));
	json_decref(v7);

	/* A tenant that says no wins over a vendor that says yes. */
	mns_plugin_t *q = dkim_new(json_pack("{s:b, s:i}", "ed25519", 1, "rsa-bits", 1024));
	json_t *w = check_ok(q, &t, NULL, "{\"ed25519\": false}");
	assert_int_equal(json_array_size(json_object_get(w, "selectors")), 1);
	json_decref(w);
	mns_plugin_destroy(q);

	json_t *objs[] = {v1, v2, v3, v4, v5, v6};
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
		json_decref(objs[i]);
	mns_plugin_destroy(p);
}

static void test_bad_input(void **state)
{
	static const pt_bad_t rows[] = {
	    {"{\"selectors\": []}", "read_only_field"},
	    {"{\"ed25519\": true, \"selectors\": [{\"selector\": \"s9\"}]}", "read_only_field"},
	    {"{\"private\": \"x\"}", "unknown_field"},
	    {"{\"ed25519\": true, \"rsa-bits\": 4096}", "unknown_field"},
	    {"{\"ed25519\": \"yes\"}", "invalid_dkim"},
	    {"{\"ed25519\": 1}", "invalid_dkim"},
	    {"[]", "invalid_dkim"},
	    {"\"on\"", "invalid_dkim"},
	};
	mns_plugin_t *p = dkim_new(NULL);
	pt_check_bad_table(p, rows, sizeof(rows) / sizeof(rows[0]));

	mns_error_t err;
	json_t *in = pt_json("{\"selectors\": []}"), *out = NULL;
	mns_tenant_ctx_t t = pt_ctx_ns();
	pt_check(p, &t, NULL, in, &out, &err);
	assert_string_equal(err.key, "dkim.selectors");
	json_decref(in);
	mns_plugin_destroy(p);
}

static void test_config(void **state)
{
	static const int bad_bits[] = {512, 1000, 2049, 8192};
	for (size_t i = 0; i < sizeof(bad_bits) / sizeof(bad_bits[0]); i++) {
		mns_plugin_t *p = pt_plugin_new(&mns_plugin_dkim, "dkim");
		mns_error_t err = {0};
		assert_int_not_equal(
		    pt_configure(p, json_pack("{s:i}", "rsa-bits", bad_bits[i]), &err), MNS_OK);
		assert_string_equal(err.key, "rsa-bits");
		mns_plugin_destroy(p);
	}
	/* The schema documents both keys with their defaults. */
	json_t *d = mns_conf_schema_defaults(mns_plugin_dkim.schema);
	assert_int_equal(json_integer_value(json_object_get(d, "rsa-bits")), 2048);
	assert_true(json_is_false(json_object_get(d, "ed25519")));
	json_decref(d);
}

/* Selectors publish only in published/active/retired; the standby CNAME
 * follows whichever selector of a pair holds the key. */
static void test_states(void **state)
{
	mns_plugin_t *p = dkim_new(NULL);
	mns_tenant_ctx_t t = pt_ctx_cname();
	mns_error_t err;
	mns_zone_t *z = NULL;

	json_t *sec =
	    pt_json("{\"selectors\": ["
	            "{\"selector\": \"s1\", \"algorithm\": \"rsa\", \"state\": \"withdrawn\","
	            " \"public\": \"AAAA\"},"
	            "{\"selector\": \"s2\", \"algorithm\": \"rsa\", \"state\": \"active\","
	            " \"public\": \"BBBB\"}]}");
	assert_int_equal(pt_build(p, &t, sec, &z, &err), MNS_OK);
	pt_assert_txt(pt_rrset(z, "s2._domainkey.acme." PT_HOSTED, KNOT_RRTYPE_TXT),
	              "v=DKIM1; k=rsa; p=BBBB", 3600);
	pt_assert_cname(pt_rrset(z, "s1._domainkey.acme." PT_HOSTED, KNOT_RRTYPE_CNAME),
	                "s2._domainkey.acme." PT_HOSTED, 3600);
	assert_int_equal(pt_rrset_count(z), 2);
	mns_zone_free(z);
	json_decref(sec);

	/* Mid-rotation: both keys published, no CNAME. */
	sec = pt_json("{\"selectors\": ["
	              "{\"selector\": \"s1\", \"algorithm\": \"rsa\", \"state\": \"retired\","
	              " \"public\": \"AAAA\"},"
	              "{\"selector\": \"s2\", \"algorithm\": \"rsa\", \"state\": \"published\","
	              " \"public\": \"BBBB\"}]}");
	assert_int_equal(pt_build(p, &t, sec, &z, &err), MNS_OK);
	pt_assert_txt(pt_rrset(z, "s1._domainkey.acme." PT_HOSTED, KNOT_RRTYPE_TXT),
	              "v=DKIM1; k=rsa; p=AAAA", 3600);
	pt_assert_txt(pt_rrset(z, "s2._domainkey.acme." PT_HOSTED, KNOT_RRTYPE_TXT),
	              "v=DKIM1; k=rsa; p=BBBB", 3600);
	assert_int_equal(pt_rrset_count(z), 2);
	mns_zone_free(z);
	json_decref(sec);

	/* A corrupt stored section is refused rather than published. */
	sec = pt_json("{\"selectors\": [{\"selector\": \"s1 x\", \"algorithm\": \"rsa\","
	              " \"state\": \"active\", \"public\": \"AAAA\"}]}");
	assert_int_not_equal(pt_build(p, &t, sec, &z, &err), MNS_OK);
	assert_string_equal(err.code, "invalid_dkim");
	json_decref(sec);

	/* No section at all: nothing to publish. */
	assert_int_equal(pt_build(p, &t, NULL, &z, &err), MNS_OK);
	assert_int_equal(pt_rrset_count(z), 0);
	mns_zone_free(z);
	mns_plugin_destroy(p);
}

static bool has_private(const json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;
	if (json_is_object(j)) {
		json_object_foreach((json_t *)j, k, v)
		{
			if (strcmp(k, "private") == 0 || has_private(v))
				return true;
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			if (has_private(v))
				return true;
		}
	} else if (json_is_string(j)) {
		return strstr(json_string_value(j), "PRIVATE KEY") != NULL;
	}
	return false;
}

static void test_public_and_keys(void **state)
{
	mns_plugin_t *p = dkim_new(json_pack("{s:b, s:i}", "ed25519", 1, "rsa-bits", 1024));
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *sec = check_ok(p, &t, NULL, NULL);
	mns_error_t err = {0};

	json_t *pub = mns_plugin_api(p)->tenant_public(p, sec);
	assert_non_null(pub);
	assert_false(has_private(pub));
	assert_true(has_private(sec)); /* The stored section is untouched. */
	assert_int_equal(json_array_size(json_object_get(pub, "selectors")), 2);
	assert_string_equal(sel_field(pub, "s1", "public"), sel_field(sec, "s1", "public"));
	json_decref(pub);

	/* dkim.keys reads the tenant through the core and hides the private keys. */
	const mns_plugin_command_t *cmd = mns_plugin_api(p)->commands;
	assert_non_null(cmd);
	assert_string_equal(cmd->name, "dkim.keys");
	stored_doc =
	    json_pack("{s:s, s:s, s:O}", "tenant", "acme", "domain", "example.com", "dkim", sec);
	json_t *args = pt_json("{\"tenant\": \"acme\"}"), *res = NULL;
	assert_int_equal(cmd->fn(p, args, &res, &err), MNS_OK);
	assert_string_equal(json_string_value(json_object_get(res, "tenant")), "acme");
	assert_int_equal(json_array_size(json_object_get(res, "selectors")), 2);
	assert_false(has_private(res));
	assert_string_equal(sel_field(res, "e1", "public"), sel_field(sec, "e1", "public"));
	json_decref(res);
	json_decref(args);

	/* A tenant without a dkim section has no selectors. */
	json_decref(stored_doc);
	stored_doc = json_pack("{s:s}", "tenant", "acme");
	args = pt_json("{\"tenant\": \"acme\"}");
	res = NULL;
	assert_int_equal(cmd->fn(p, args, &res, &err), MNS_OK);
	assert_int_equal(json_array_size(json_object_get(res, "selectors")), 0);
	json_decref(res);
	json_decref(args);

	/* Unknown tenant, missing or mistyped argument. */
	args = pt_json("{\"tenant\": \"nobody\"}");
	res = NULL;
	assert_int_equal(cmd->fn(p, args, &res, &err), MNS_ENOENT);
	assert_string_equal(err.code, "unknown_tenant");
	assert_null(res);
	json_decref(args);
	args = pt_json("{}");
	assert_true(cmd->fn(p, args, &res, &err) < 0);
	assert_null(res);
	json_decref(args);
	args = pt_json("{\"tenant\": 7}");
	assert_true(cmd->fn(p, args, &res, &err) < 0);
	assert_null(res);
	json_decref(args);

	json_decref(stored_doc);
	stored_doc = NULL;
	json_decref(sec);
	mns_plugin_destroy(p);
}

static void test_instructions(void **state)
{
	mns_plugin_t *p = dkim_new(json_pack("{s:i}", "rsa-bits", 1024));
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *sec = check_ok(p, &t, NULL, NULL);

	/* ns mode: the delegation is all the customer adds. */
	json_t *recs = pt_instructions(p, &t, sec);
	assert_int_equal(json_array_size(recs), 0);
	json_decref(recs);

	t = pt_ctx_cname();
	recs = pt_instructions(p, &t, sec);
	assert_int_equal(json_array_size(recs), 2);
	pt_assert_instr(json_array_get(recs, 0), "s1._domainkey.example.com", "CNAME",
	                "s1._domainkey.acme." PT_HOSTED, true, NULL);
	pt_assert_instr(json_array_get(recs, 1), "s2._domainkey.example.com", "CNAME",
	                "s2._domainkey.acme." PT_HOSTED, true, NULL);
	json_decref(recs);

	json_t *sec2 = check_ok(p, &t, sec, "{\"ed25519\": true}");
	recs = pt_instructions(p, &t, sec2);
	assert_int_equal(json_array_size(recs), 4);
	pt_assert_instr(json_array_get(recs, 2), "e1._domainkey.example.com", "CNAME",
	                "e1._domainkey.acme." PT_HOSTED, true, NULL);
	pt_assert_instr(json_array_get(recs, 3), "e2._domainkey.example.com", "CNAME",
	                "e2._domainkey.acme." PT_HOSTED, true, NULL);
	json_decref(recs);

	json_decref(sec2);
	json_decref(sec);
	mns_plugin_destroy(p);
}

static void test_descriptor(void **state)
{
	assert_int_equal(mns_plugin_dkim.abi_major, MNS_PLUGIN_ABI_MAJOR);
	assert_int_equal(mns_plugin_dkim.abi_minor, MNS_PLUGIN_ABI_MINOR);
	assert_int_equal(mns_plugin_dkim.struct_size, sizeof(mns_plugin_api_t));
	assert_string_equal(mns_plugin_dkim.name, "dkim");
	mns_error_t err;
	assert_null(mns_plugin_create(&mns_plugin_dkim, "spf", NULL, &err));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_descriptor),      cmocka_unit_test(test_add_rsa_ns),
	    cmocka_unit_test(test_add_rsa_cname),   cmocka_unit_test(test_ed25519),
	    cmocka_unit_test(test_update),          cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_config),          cmocka_unit_test(test_states),
	    cmocka_unit_test(test_public_and_keys), cmocka_unit_test(test_instructions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
