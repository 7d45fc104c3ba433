/*  Unit tests of the dkim plugin: key generation, records in both modes,
 *  validation, secrets kept out of tenant.get and dkim.keys; the rotation
 *  lifecycle (every state transition and timestamp rule, restart catch-up),
 *  the MTA export formats and directory, the background key pool.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "plugtest.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "dkim_internal.h"

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

/** The private key of selector \a name, opened with \a p's store key
 *  (tenant "acme"); the stored selector carries "sealed", never "private".
 *  The returned copy stays valid for the next few calls. */
static const char *sel_private(mns_plugin_t *p, const json_t *section, const char *name)
{
	static char *ring[8];
	static size_t next;
	assert_null(json_object_get(selector(section, name), "private"));
	const char *sealed = sel_field(section, name, "sealed");
	assert_non_null(sealed);
	char *pem = NULL;
	size_t len = 0;
	assert_int_equal(mns_dkim_unseal(mns_dkim_store_key(p), "acme", name, sealed, &pem, &len),
	                 MNS_OK);
	free(ring[next]);
	ring[next] = strdup(pem);
	mns_dkim_unsealed_free(pem, len);
	const char *out = ring[next];
	next = (next + 1) % 8;
	return out;
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
	const char *priv_pem = sel_private(p, sec, "s1");
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
	EVP_PKEY *priv = private_key(sel_private(p, sec, "e1"));
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
	assert_string_equal(sel_private(p, v3, "s1"), sel_private(p, v1, "s1"));
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
	assert_string_equal(sel_private(p, v7, "s1"), sel_private(p, v1, "s1"));
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
			if (strcmp(k, "private") == 0 || strcmp(k, "sealed") == 0 || has_private(v))
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

/* --- Rotation: the lifecycle as pure functions --------------------------------- */

#define T0 ((int64_t)1700000000)
static const mns_dkim_policy_t POL = {.period = 1000, .lead = 100, .hold = 300};

/** A selector object as stored; times < 0 are left out. */
static json_t *mk_sel(const char *name, const char *alg, const char *state, int64_t created,
                      int64_t published, int64_t activated, int64_t retired, const char *pub)
{
	json_t *s = json_pack("{s:s, s:s, s:i, s:s, s:I, s:s, s:s}", "selector", name, "algorithm",
	                      alg, "bits", strcmp(alg, "rsa") == 0 ? 2048 : 256, "state", state,
	                      "created", (json_int_t)created, "public", pub, "private",
	                      "-----BEGIN PRIVATE KEY-----\nX\n-----END PRIVATE KEY-----\n");
	if (published >= 0)
		json_object_set_new(s, "published", json_integer(published));
	if (activated >= 0)
		json_object_set_new(s, "activated", json_integer(activated));
	if (retired >= 0)
		json_object_set_new(s, "retired", json_integer(retired));
	return s;
}

/** A section holding the given selectors (stolen). */
static json_t *mk_sec(json_t *a, json_t *b)
{
	json_t *sel = json_array();
	if (a != NULL)
		json_array_append_new(sel, a);
	if (b != NULL)
		json_array_append_new(sel, b);
	return json_pack("{s:o}", "selectors", sel);
}

/** A fake new key for publish steps (what keys.c would hand over). */
static json_t *fake_key(size_t pair, int64_t now, const char *pub)
{
	return json_pack("{s:s, s:i, s:I, s:s, s:s}", "algorithm", mns_dkim_pairs[pair].alg, "bits",
	                 pair == MNS_DKIM_RSA ? 2048 : 256, "created", (json_int_t)now, "public",
	                 pub, "private", "-----BEGIN PRIVATE KEY-----\nN\n");
}

static int keys_made;
static json_t *test_keys(void *data, size_t pair, int64_t now)
{
	char pub[32];
	keys_made++;
	snprintf(pub, sizeof(pub), "K%dAAAA", keys_made);
	return data == NULL ? fake_key(pair, now, pub) : NULL;
}

static void assert_step(mns_dkim_step_t st, mns_dkim_step_kind_t kind, const char *sel, int64_t at)
{
	if (st.kind != kind || strcmp(st.selector, sel) != 0 || st.at != at)
		fail_msg("expected %s %s at %lld, got %s %s at %lld", mns_dkim_step_name(kind), sel,
		         (long long)at, mns_dkim_step_name(st.kind), st.selector, (long long)st.at);
}

static int64_t sel_int(const json_t *sec, const char *name, const char *key)
{
	const json_t *s = selector(sec, name);
	assert_non_null(s);
	const json_t *v = json_object_get(s, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* One full cycle s1 -> s2 -> s1, every transition and the time it is due. */
static void test_rotation_cycle(void **state)
{
	json_t *sec = mk_sec(mk_sel("s1", "rsa", "active", T0, T0, T0, -1, "AAAA"), NULL);
	mns_dkim_step_t st;

	/* Active s1: the next key is published lead before a period is over. */
	st = mns_dkim_next_step(sec, &POL);
	assert_step(st, MNS_DKIM_PUBLISH, "s2", T0 + 1000 - 100);
	assert_int_equal(st.pair, MNS_DKIM_RSA);

	/* Publish (a little late: the step is stamped when it happens). */
	int64_t t1 = T0 + 905;
	assert_int_equal(mns_dkim_step_apply(sec, &st, fake_key(0, t1, "BBBB"), t1), MNS_OK);
	assert_string_equal(sel_field(sec, "s2", "state"), "published");
	assert_int_equal(sel_int(sec, "s2", "published"), t1);
	assert_int_equal(sel_int(sec, "s2", "activated"), -1);
	assert_string_equal(sel_field(sec, "s1", "state"), "active");
	st = mns_dkim_next_step(sec, &POL);
	assert_step(st, MNS_DKIM_ACTIVATE, "s2", t1 + 100);

	/* Activate: s2 signs, s1 retires; both are still published. */
	int64_t t2 = t1 + 100;
	assert_int_equal(mns_dkim_step_apply(sec, &st, NULL, t2), MNS_OK);
	assert_string_equal(sel_field(sec, "s2", "state"), "active");
	assert_int_equal(sel_int(sec, "s2", "activated"), t2);
	assert_string_equal(sel_field(sec, "s1", "state"), "retired");
	assert_int_equal(sel_int(sec, "s1", "retired"), t2);
	assert_int_equal(sel_int(sec, "s1", "activated"), T0); /* Kept. */
	st = mns_dkim_next_step(sec, &POL);
	assert_step(st, MNS_DKIM_WITHDRAW, "s1", t2 + 300);

	/* Withdraw: s1 leaves the selectors; its metadata (never its key) goes to
	 * the history. */
	int64_t t3 = t2 + 300;
	assert_int_equal(mns_dkim_step_apply(sec, &st, NULL, t3), MNS_OK);
	assert_null(selector(sec, "s1"));
	assert_int_equal(json_array_size(json_object_get(sec, "selectors")), 1);
	const json_t *h = json_array_get(json_object_get(sec, "history"), 0);
	assert_non_null(h);
	assert_string_equal(json_string_value(json_object_get(h, "selector")), "s1");
	assert_string_equal(json_string_value(json_object_get(h, "state")), "withdrawn");
	assert_int_equal(json_integer_value(json_object_get(h, "withdrawn")), t3);
	assert_int_equal(json_integer_value(json_object_get(h, "retired")), t2);
	assert_int_equal(json_integer_value(json_object_get(h, "activated")), T0);
	assert_null(json_object_get(h, "private"));
	assert_null(json_object_get(h, "public"));

	/* The next rotation, back to s1, one period after s2 began to sign. */
	st = mns_dkim_next_step(sec, &POL);
	assert_step(st, MNS_DKIM_PUBLISH, "s1", t2 + 1000 - 100);
	int64_t t4 = st.at;
	assert_int_equal(mns_dkim_step_apply(sec, &st, fake_key(0, t4, "CCCC"), t4), MNS_OK);
	assert_string_equal(sel_field(sec, "s1", "state"), "published");
	assert_string_equal(sel_field(sec, "s1", "public"), "CCCC");
	st = mns_dkim_next_step(sec, &POL);
	assert_step(st, MNS_DKIM_ACTIVATE, "s1", t4 + 100);
	json_decref(sec);
}

/* A step that does not match the state is refused and changes nothing: a
 * step is never applied twice. */
static void test_rotation_stale_steps(void **state)
{
	json_t *sec = mk_sec(mk_sel("s1", "rsa", "active", T0, T0, T0, -1, "AAAA"),
	                     mk_sel("s2", "rsa", "published", T0 + 900, T0 + 900, -1, -1, "BBBB"));
	json_t *before = json_deep_copy(sec);
	mns_dkim_step_t st = {.kind = MNS_DKIM_ACTIVATE, .pair = 0, .selector = "s2", .at = 0};

	/* Not the published selector, a withdraw without a retired key, a
	 * publish while one is published, a publish on the active selector. */
	mns_dkim_step_t bad[] = {
	    {.kind = MNS_DKIM_ACTIVATE, .pair = 0, .selector = "s1"},
	    {.kind = MNS_DKIM_WITHDRAW, .pair = 0, .selector = "s1"},
	    {.kind = MNS_DKIM_PUBLISH, .pair = 0, .selector = "s2"},
	    {.kind = MNS_DKIM_ACTIVATE, .pair = 1, .selector = "e2"},
	    {.kind = MNS_DKIM_NONE, .pair = 0, .selector = ""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *key = bad[i].kind == MNS_DKIM_PUBLISH ? fake_key(0, T0, "ZZZZ") : NULL;
		assert_int_equal(mns_dkim_step_apply(sec, &bad[i], key, T0 + 1000), MNS_EINVAL);
		assert_true(json_equal(sec, before));
	}
	assert_int_equal(mns_dkim_step_apply(sec, &st, NULL, T0 + 1000), MNS_OK);
	json_t *after = json_deep_copy(sec);
	/* Once more: refused, nothing changes. */
	assert_int_equal(mns_dkim_step_apply(sec, &st, NULL, T0 + 1001), MNS_EINVAL);
	assert_true(json_equal(sec, after));

	/* A publish onto the active selector, or a name outside the pair. */
	json_t *one = mk_sec(mk_sel("s1", "rsa", "active", T0, T0, T0, -1, "AAAA"), NULL);
	mns_dkim_step_t p1 = {.kind = MNS_DKIM_PUBLISH, .pair = 0, .selector = "s1"};
	mns_dkim_step_t p9 = {.kind = MNS_DKIM_PUBLISH, .pair = 0, .selector = "s9"};
	assert_int_equal(mns_dkim_step_apply(one, &p1, fake_key(0, T0, "ZZ"), T0), MNS_EINVAL);
	assert_int_equal(mns_dkim_step_apply(one, &p9, fake_key(0, T0, "ZZ"), T0), MNS_EINVAL);
	assert_int_equal(json_array_size(json_object_get(one, "selectors")), 1);
	json_decref(one);
	json_decref(after);
	json_decref(before);
	json_decref(sec);
}

/* Timestamp rules: keys stored before rotation existed (only "created") are
 * scheduled from "created"; a period of 0 never publishes; a lead longer
 * than the period is cut to it; a hold longer than the rest of the period
 * delays the next publish until the withdrawal. */
static void test_rotation_timestamps(void **state)
{
	json_t *legacy = mk_sec(mk_sel("s1", "rsa", "active", T0, -1, -1, -1, "AAAA"), NULL);
	assert_int_equal(mns_dkim_sel_time(selector(legacy, "s1"), "activated"), T0);
	assert_int_equal(mns_dkim_sel_time(selector(legacy, "s1"), "published"), T0);
	assert_int_equal(mns_dkim_sel_time(selector(legacy, "s1"), "retired"), 0);
	assert_step(mns_dkim_next_step(legacy, &POL), MNS_DKIM_PUBLISH, "s2", T0 + 900);

	mns_dkim_policy_t manual = {.period = 0, .lead = 100, .hold = 300};
	assert_int_equal(mns_dkim_next_step(legacy, &manual).kind, MNS_DKIM_NONE);
	mns_dkim_policy_t long_lead = {.period = 50, .lead = 100, .hold = 300};
	assert_step(mns_dkim_next_step(legacy, &long_lead), MNS_DKIM_PUBLISH, "s2", T0);
	json_decref(legacy);

	/* Retired s1 with a long hold: the withdrawal comes first, and only then
	 * the publish whose time has long passed (one catch-up does both). */
	mns_dkim_policy_t long_hold = {.period = 1000, .lead = 100, .hold = 2000};
	json_t *sec =
	    mk_sec(mk_sel("s2", "rsa", "active", T0, T0, T0, -1, "BBBB"),
	           mk_sel("s1", "rsa", "retired", T0 - 999, T0 - 999, T0 - 900, T0, "AAAA"));
	assert_step(mns_dkim_next_step(sec, &long_hold), MNS_DKIM_WITHDRAW, "s1", T0 + 2000);
	mns_dkim_step_t done[8];
	keys_made = 0;
	size_t n = mns_dkim_catch_up(sec, &long_hold, T0 + 1500, test_keys, NULL, done, 8);
	assert_int_equal(n, 0); /* Publish was due at T0 + 900 but s1 is still held. */
	n = mns_dkim_catch_up(sec, &long_hold, T0 + 2000, test_keys, NULL, done, 8);
	assert_int_equal(n, 2);
	assert_step(done[0], MNS_DKIM_WITHDRAW, "s1", T0 + 2000);
	assert_step(done[1], MNS_DKIM_PUBLISH, "s1", T0 + 900);
	assert_int_equal(sel_int(sec, "s1", "published"), T0 + 2000); /* Stamped now. */
	assert_int_equal(keys_made, 1);
	json_decref(sec);

	/* Both pairs keep their own schedule; the earliest step wins. */
	sec = mk_sec(mk_sel("s1", "rsa", "active", T0, T0, T0, -1, "AAAA"),
	             mk_sel("e1", "ed25519", "active", T0 + 50, T0 + 50, T0 + 50, -1, "EEEE"));
	assert_step(mns_dkim_next_step(sec, &POL), MNS_DKIM_PUBLISH, "s2", T0 + 900);
	assert_step(mns_dkim_pair_next(sec, MNS_DKIM_ED25519, &POL), MNS_DKIM_PUBLISH, "e2",
	            T0 + 950);
	json_decref(sec);

	/* No keys: nothing to do. */
	json_t *empty = json_object();
	assert_int_equal(mns_dkim_next_step(empty, &POL).kind, MNS_DKIM_NONE);
	assert_int_equal(mns_dkim_next_step(NULL, &POL).kind, MNS_DKIM_NONE);
	json_decref(empty);
}

/* A restart applies every step whose time has passed, in order, exactly
 * once, from the stored timestamps; applying again changes nothing. */
static void test_rotation_restart(void **state)
{
	mns_dkim_step_t done[8];
	/* Stopped while s2 was published; back long after it should have
	 * become active. It becomes active now (it has been in the DNS for at
	 * least the lead time), s1 retires now and is held the full hold. */
	json_t *sec = mk_sec(mk_sel("s1", "rsa", "active", T0, T0, T0, -1, "AAAA"),
	                     mk_sel("s2", "rsa", "published", T0 + 900, T0 + 900, -1, -1, "BBBB"));
	int64_t back = T0 + 5000;
	keys_made = 0;
	size_t n = mns_dkim_catch_up(sec, &POL, back, test_keys, NULL, done, 8);
	assert_int_equal(n, 1);
	assert_step(done[0], MNS_DKIM_ACTIVATE, "s2", T0 + 1000);
	assert_string_equal(sel_field(sec, "s2", "state"), "active");
	assert_int_equal(sel_int(sec, "s2", "activated"), back);
	assert_int_equal(sel_int(sec, "s2", "published"), T0 + 900); /* Not repeated. */
	assert_string_equal(sel_field(sec, "s2", "public"), "BBBB"); /* Same key. */
	assert_int_equal(sel_int(sec, "s1", "retired"), back);
	assert_int_equal(keys_made, 0);

	/* A second restart at the same time: nothing is due, nothing changes. */
	json_t *copy = json_deep_copy(sec);
	assert_int_equal(mns_dkim_catch_up(sec, &POL, back, test_keys, NULL, done, 8), 0);
	assert_true(json_equal(sec, copy));
	json_decref(copy);

	/* Just before the hold ends: nothing; at its end: s1 withdrawn, once. */
	assert_int_equal(mns_dkim_catch_up(sec, &POL, back + 299, test_keys, NULL, done, 8), 0);
	assert_int_equal(mns_dkim_catch_up(sec, &POL, back + 300, test_keys, NULL, done, 8), 1);
	assert_step(done[0], MNS_DKIM_WITHDRAW, "s1", back + 300);
	assert_int_equal(mns_dkim_catch_up(sec, &POL, back + 300, test_keys, NULL, done, 8), 0);
	assert_int_equal(json_array_size(json_object_get(sec, "history")), 1);

	/* Down for several periods with s2 active alone: one publish (not one
	 * per missed period), then the lead time runs again from now. */
	int64_t later = back + 10 * 1000;
	assert_int_equal(mns_dkim_catch_up(sec, &POL, later, test_keys, NULL, done, 8), 1);
	assert_step(done[0], MNS_DKIM_PUBLISH, "s1", back + 900);
	assert_int_equal(keys_made, 1);
	assert_step(mns_dkim_next_step(sec, &POL), MNS_DKIM_ACTIVATE, "s1", later + 100);
	json_decref(sec);
}

/* A publish that gets no key waits; the other pair goes on. */
static void test_rotation_waits_for_key(void **state)
{
	json_t *sec = mk_sec(mk_sel("s1", "rsa", "active", T0, T0, T0, -1, "AAAA"),
	                     mk_sel("e2", "ed25519", "published", T0, T0, -1, -1, "EEEE"));
	json_array_append_new(
	    json_object_get(sec, "selectors"),
	    mk_sel("e1", "ed25519", "active", T0 - 500, T0 - 500, T0 - 500, -1, "DDDD"));
	mns_dkim_step_t done[8];
	int no_keys = 1;
	size_t n = mns_dkim_catch_up(sec, &POL, T0 + 950, test_keys, &no_keys, done, 8);
	assert_int_equal(n, 1);
	assert_step(done[0], MNS_DKIM_ACTIVATE, "e2", T0 + 100);
	assert_string_equal(sel_field(sec, "s1", "state"), "active");
	assert_null(selector(sec, "s2"));
	/* With keys: the RSA publish happens. */
	n = mns_dkim_catch_up(sec, &POL, T0 + 950, test_keys, NULL, done, 8);
	assert_int_equal(n, 1);
	assert_step(done[0], MNS_DKIM_PUBLISH, "s2", T0 + 900);
	json_decref(sec);
}

/* dkim.rotate may start only from a lone active key. */
static void test_rotate_check(void **state)
{
	char why[400];
	mns_dkim_step_t st;
	json_t *sec = mk_sec(mk_sel("s2", "rsa", "active", T0, T0, T0, -1, "AAAA"), NULL);
	assert_int_equal(
	    mns_dkim_rotate_check(sec, MNS_DKIM_RSA, T0 + 5, &POL, &st, why, sizeof(why)), MNS_OK);
	assert_step(st, MNS_DKIM_PUBLISH, "s1", T0 + 5);
	assert_int_not_equal(
	    mns_dkim_rotate_check(sec, MNS_DKIM_ED25519, T0, &POL, &st, why, sizeof(why)), MNS_OK);
	assert_int_equal(mns_dkim_step_apply(sec, &st, fake_key(0, T0 + 5, "BBBB"), T0 + 5),
	                 MNS_OK);
	/* In progress: refused, saying when the new key signs. */
	assert_int_equal(
	    mns_dkim_rotate_check(sec, MNS_DKIM_RSA, T0 + 6, &POL, &st, why, sizeof(why)),
	    MNS_EINVAL);
	assert_non_null(strstr(why, "in progress"));
	assert_non_null(strstr(why, "1700000105"));
	st = mns_dkim_next_step(sec, &POL);
	assert_int_equal(mns_dkim_step_apply(sec, &st, NULL, T0 + 105), MNS_OK);
	/* Held: refused until the old key is withdrawn. */
	assert_int_equal(
	    mns_dkim_rotate_check(sec, MNS_DKIM_RSA, T0 + 106, &POL, &st, why, sizeof(why)),
	    MNS_EINVAL);
	assert_non_null(strstr(why, "retire-hold"));
	assert_non_null(strstr(why, "1700000405"));
	json_decref(sec);
}

/* What the DNS shows at each step, in both modes: in cname mode the standby
 * CNAME gives way to the new key while it is published and comes back,
 * the other way round, once the old key is withdrawn. */
static void test_rotation_records(void **state)
{
	mns_plugin_t *p = dkim_new(NULL);
	mns_tenant_ctx_t cn = pt_ctx_cname(), ns = pt_ctx_ns();
	mns_error_t err;
	mns_zone_t *z = NULL;
	const char *s1 = "s1._domainkey.acme." PT_HOSTED, *s2 = "s2._domainkey.acme." PT_HOSTED;
	const char *n1 = "s1._domainkey.mgeu.example.com", *n2 = "s2._domainkey.mgeu.example.com";

	json_t *sec = mk_sec(mk_sel("s1", "rsa", "active", T0, T0, T0, -1, "AAAA"), NULL);
	/* 1. s1 active alone. */
	assert_int_equal(pt_build(p, &cn, sec, &z, &err), MNS_OK);
	pt_assert_txt(pt_rrset(z, s1, KNOT_RRTYPE_TXT), "v=DKIM1; k=rsa; p=AAAA", 3600);
	pt_assert_cname(pt_rrset(z, s2, KNOT_RRTYPE_CNAME), s1, 3600);
	mns_zone_free(z);
	assert_int_equal(pt_build(p, &ns, sec, &z, &err), MNS_OK);
	assert_non_null(pt_rrset(z, n1, KNOT_RRTYPE_TXT));
	assert_null(pt_rrset(z, n2, KNOT_RRTYPE_TXT));
	assert_null(pt_rrset(z, n2, KNOT_RRTYPE_CNAME));
	mns_zone_free(z);

	/* 2. s2 published: two keys, no CNAME. */
	mns_dkim_step_t st = mns_dkim_next_step(sec, &POL);
	assert_int_equal(mns_dkim_step_apply(sec, &st, fake_key(0, T0, "BBBB"), T0 + 900), MNS_OK);
	for (int mode = 0; mode < 2; mode++) {
		assert_int_equal(pt_build(p, mode ? &cn : &ns, sec, &z, &err), MNS_OK);
		pt_assert_txt(pt_rrset(z, mode ? s1 : n1, KNOT_RRTYPE_TXT),
		              "v=DKIM1; k=rsa; p=AAAA", 3600);
		pt_assert_txt(pt_rrset(z, mode ? s2 : n2, KNOT_RRTYPE_TXT),
		              "v=DKIM1; k=rsa; p=BBBB", 3600);
		assert_null(pt_rrset(z, mode ? s2 : n2, KNOT_RRTYPE_CNAME));
		assert_int_equal(pt_rrset_count(z), mode ? 2 : 3);
		mns_zone_free(z);
	}

	/* 3. s2 active, s1 retired: still two keys. */
	st = mns_dkim_next_step(sec, &POL);
	assert_int_equal(mns_dkim_step_apply(sec, &st, NULL, T0 + 1000), MNS_OK);
	assert_int_equal(pt_build(p, &cn, sec, &z, &err), MNS_OK);
	pt_assert_txt(pt_rrset(z, s1, KNOT_RRTYPE_TXT), "v=DKIM1; k=rsa; p=AAAA", 3600);
	pt_assert_txt(pt_rrset(z, s2, KNOT_RRTYPE_TXT), "v=DKIM1; k=rsa; p=BBBB", 3600);
	assert_int_equal(pt_rrset_count(z), 2);
	mns_zone_free(z);

	/* 4. s1 withdrawn: s1 is the CNAME now, to s2; in ns mode s1 is gone. */
	st = mns_dkim_next_step(sec, &POL);
	assert_int_equal(mns_dkim_step_apply(sec, &st, NULL, T0 + 1300), MNS_OK);
	assert_int_equal(pt_build(p, &cn, sec, &z, &err), MNS_OK);
	pt_assert_cname(pt_rrset(z, s1, KNOT_RRTYPE_CNAME), s2, 3600);
	pt_assert_txt(pt_rrset(z, s2, KNOT_RRTYPE_TXT), "v=DKIM1; k=rsa; p=BBBB", 3600);
	assert_int_equal(pt_rrset_count(z), 2);
	mns_zone_free(z);
	assert_int_equal(pt_build(p, &ns, sec, &z, &err), MNS_OK);
	assert_null(pt_rrset(z, n1, KNOT_RRTYPE_TXT));
	assert_non_null(pt_rrset(z, n2, KNOT_RRTYPE_TXT));
	mns_zone_free(z);

	/* The customer's CNAMEs (instructions) are the same at every step. */
	json_t *recs = pt_instructions(p, &cn, sec);
	assert_int_equal(json_array_size(recs), 2);
	pt_assert_instr(json_array_get(recs, 0), "s1._domainkey.example.com", "CNAME", s1, true,
	                NULL);
	pt_assert_instr(json_array_get(recs, 1), "s2._domainkey.example.com", "CNAME", s2, true,
	                NULL);
	json_decref(recs);
	json_decref(sec);
	mns_plugin_destroy(p);
}

/* dkim.keys: state, algorithm, size, every timestamp, the public key and
 * the next step; never a private key. */
static void test_keys_view(void **state)
{
	mns_plugin_t *p = dkim_new(json_pack("{s:i, s:i, s:i}", "rotation-period", 1000,
	                                     "publish-lead", 100, "retire-hold", 300));
	json_t *sec = mk_sec(mk_sel("s2", "rsa", "active", T0, T0, T0 + 1000, -1, "BBBB"),
	                     mk_sel("s1", "rsa", "retired", T0 - 9, T0 - 5, T0, T0 + 1000, "AAAA"));
	json_object_set_new(sec, "history",
	                    json_pack("[{s:s, s:s, s:I}]", "selector", "s2", "state", "withdrawn",
	                              "withdrawn", (json_int_t)T0 - 100));
	stored_doc =
	    json_pack("{s:s, s:s, s:s, s:s, s:O}", "tenant", "acme", "domain", "example.com",
	              "mode", "ns", "zone", "mgeu.example.com", "dkim", sec);
	const mns_plugin_command_t *cmd = mns_plugin_api(p)->commands;
	json_t *args = pt_json("{\"tenant\": \"acme\"}"), *res = NULL;
	mns_error_t err = {0};
	assert_int_equal(cmd->fn(p, args, &res, &err), MNS_OK);
	assert_false(has_private(res));
	const json_t *s1 = selector(res, "s1");
	assert_string_equal(json_string_value(json_object_get(s1, "state")), "retired");
	assert_string_equal(json_string_value(json_object_get(s1, "algorithm")), "rsa");
	assert_int_equal(json_integer_value(json_object_get(s1, "bits")), 2048);
	assert_int_equal(json_integer_value(json_object_get(s1, "created")), T0 - 9);
	assert_int_equal(json_integer_value(json_object_get(s1, "published")), T0 - 5);
	assert_int_equal(json_integer_value(json_object_get(s1, "activated")), T0);
	assert_int_equal(json_integer_value(json_object_get(s1, "retired")), T0 + 1000);
	assert_string_equal(json_string_value(json_object_get(s1, "public")), "AAAA");
	assert_int_equal(json_array_size(json_object_get(res, "withdrawn")), 1);
	const json_t *next = json_array_get(json_object_get(res, "next"), 0);
	assert_string_equal(json_string_value(json_object_get(next, "step")), "withdraw");
	assert_string_equal(json_string_value(json_object_get(next, "selector")), "s1");
	assert_int_equal(json_integer_value(json_object_get(next, "at")), T0 + 1300);
	const json_t *pol = json_object_get(res, "policy");
	assert_int_equal(json_integer_value(json_object_get(pol, "period")), 1000);
	assert_int_equal(json_integer_value(json_object_get(pol, "lead")), 100);
	assert_int_equal(json_integer_value(json_object_get(pol, "hold")), 300);
	json_decref(res);
	json_decref(args);
	json_decref(stored_doc);
	stored_doc = NULL;
	json_decref(sec);
	mns_plugin_destroy(p);
}

static void test_rotation_config(void **state)
{
	static const struct {
		const char *conf, *key;
	} rows[] = {
	    /* The lead (twice the TTL, 3600 without a daemon) must fit the period. */
	    {"{\"rotation-period\": 7200}", "rotation-period"},
	    {"{\"rotation-period\": 100, \"publish-lead\": 100}", "publish-lead"},
	    {"{\"retire-hold\": 0}", "retire-hold"},
	    {"{\"key-pool\": -1}", "key-pool"},
	    {"{\"key-pool\": 1000}", "key-pool"},
	    {"{\"export-dir\": \"relative/dir\"}", "export-dir"},
	    {"{\"export-dir\": 5}", "export-dir"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		mns_plugin_t *p = pt_plugin_new(&mns_plugin_dkim, "dkim");
		mns_error_t err = {0};
		if (pt_configure(p, pt_json(rows[i].conf), &err) == MNS_OK)
			fail_msg("configure(%s) accepted", rows[i].conf);
		assert_string_equal(err.key, rows[i].key);
		mns_plugin_destroy(p);
	}
	json_t *d = mns_conf_schema_defaults(mns_plugin_dkim.schema);
	assert_int_equal(json_integer_value(json_object_get(d, "rotation-period")), 90 * 86400);
	assert_int_equal(json_integer_value(json_object_get(d, "publish-lead")), 0);
	assert_int_equal(json_integer_value(json_object_get(d, "retire-hold")), 7 * 86400);
	assert_int_equal(json_integer_value(json_object_get(d, "key-pool")), 8);
	assert_string_equal(json_string_value(json_object_get(d, "export-dir")), "");
	json_decref(d);
	/* Second-scale timers are accepted (with a warning about the TTL). */
	mns_plugin_t *p = dkim_new(json_pack("{s:i, s:i, s:i}", "rotation-period", 6,
	                                     "publish-lead", 2, "retire-hold", 3));
	mns_plugin_destroy(p);
}

/* tenant.add stamps the first key: published and active at once. */
static void test_first_key_times(void **state)
{
	mns_plugin_t *p = dkim_new(json_pack("{s:i, s:b}", "rsa-bits", 1024, "ed25519", 1));
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *sec = check_ok(p, &t, NULL, NULL);
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "e1" : "s1";
		assert_int_equal(sel_int(sec, name, "created"), PT_NOW);
		assert_int_equal(sel_int(sec, name, "published"), PT_NOW);
		assert_int_equal(sel_int(sec, name, "activated"), PT_NOW);
		assert_int_equal(sel_int(sec, name, "retired"), -1);
	}
	json_decref(sec);
	mns_plugin_destroy(p);
}

/* --- Export ------------------------------------------------------------------------ */

static json_t *export_doc(const char *tenant, const char *domain, const char *mode,
                          const char *zone, json_t *sec)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "tenant", tenant, "domain", domain, "mode",
	                 mode, "zone", zone, "dkim", sec);
}

/* d= is the delegated zone in ns mode, the customer's domain in cname mode;
 * only active keys are exported, retired ones only as files. */
static void test_export_formats(void **state)
{
	json_t *a = export_doc("acme", "example.com", "ns", "mgeu.example.com",
	                       mk_sec(mk_sel("s2", "rsa", "active", T0, T0, T0, -1, "BBBB"),
	                              mk_sel("s1", "rsa", "retired", T0, T0, T0, T0, "AAAA")));
	json_array_append_new(json_object_get(json_object_get(a, "dkim"), "selectors"),
	                      mk_sel("e1", "ed25519", "active", T0, T0, T0, -1, "EEEE"));
	json_t *b = export_doc("beta", "example.org", "cname", "beta." PT_HOSTED,
	                       mk_sec(mk_sel("s1", "rsa", "active", T0, T0, T0 + 7, -1, "CCCC"),
	                              mk_sel("s2", "rsa", "published", T0, T0, -1, -1, "DDDD")));
	assert_string_equal(mns_dkim_signing_domain(a), "mgeu.example.com");
	assert_string_equal(mns_dkim_signing_domain(b), "example.org");

	json_t *entries = json_array();
	/* Documents of older versions: "private" in the clear (no store key needed). */
	assert_int_equal(mns_dkim_export_collect(a, false, NULL, entries, NULL), MNS_OK);
	assert_int_equal(mns_dkim_export_collect(b, false, NULL, entries, NULL), MNS_OK);
	assert_int_equal(json_array_size(entries), 3); /* s2+e1 of acme, s1 of beta */
	mns_dkim_export_sort(entries);
	const json_t *e0 = json_array_get(entries, 0);
	assert_string_equal(json_string_value(json_object_get(e0, "domain")), "example.org");
	assert_string_equal(json_string_value(json_object_get(e0, "selector")), "s1");
	assert_string_equal(json_string_value(json_object_get(e0, "file")),
	                    "keys/example.org.s1.pem");
	assert_int_equal(json_integer_value(json_object_get(e0, "activated")), T0 + 7);
	assert_non_null(strstr(json_string_value(json_object_get(e0, "private")), "PRIVATE KEY"));
	/* RSA before Ed25519 within a domain. */
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(entries, 1), "selector")), "s2");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(entries, 2), "selector")), "e1");

	mns_dkim_tables_t t;
	assert_int_equal(mns_dkim_tables_build(entries, "/var/lib/mailns/dkim", &t), MNS_OK);
#define HDR "# Written by mailnsd (dkim plugin) on every key change; do not edit.\n"
	assert_string_equal(
	    t.keytable,
	    HDR "# OpenDKIM KeyTable: keyname domain:selector:keyfile\n"
	        "s1._domainkey.example.org example.org:s1:/var/lib/mailns/dkim/keys/"
	        "example.org.s1.pem\n"
	        "s2._domainkey.mgeu.example.com mgeu.example.com:s2:/var/lib/mailns/dkim/keys/"
	        "mgeu.example.com.s2.pem\n"
	        "e1._domainkey.mgeu.example.com mgeu.example.com:e1:/var/lib/mailns/dkim/keys/"
	        "mgeu.example.com.e1.pem\n");
	assert_string_equal(t.signingtable,
	                    HDR "# OpenDKIM SigningTable (refile:): pattern keyname\n"
	                        "*@example.org s1._domainkey.example.org\n"
	                        "*@mgeu.example.com s2._domainkey.mgeu.example.com\n"
	                        "*@mgeu.example.com e1._domainkey.mgeu.example.com\n");
	assert_string_equal(t.selector_map,
	                    HDR "# rspamd dkim_signing selector_map: domain selector\n"
	                        "example.org s1\n"
	                        "mgeu.example.com s2\n");
	assert_string_equal(t.path_map, HDR
	                    "# rspamd dkim_signing path_map: domain keyfile\n"
	                    "example.org /var/lib/mailns/dkim/keys/example.org.s1.pem\n"
	                    "mgeu.example.com /var/lib/mailns/dkim/keys/mgeu.example.com.s2.pem\n");
	mns_dkim_tables_free(&t);

	/* With retired keys (for the export directory's files). */
	json_t *all = json_array();
	assert_int_equal(mns_dkim_export_collect(a, true, NULL, all, NULL), MNS_OK);
	assert_int_equal(json_array_size(all), 3);
	json_decref(all);
	json_decref(entries);
	json_decref(a);
	json_decref(b);
}

/* The dkim.export command for one tenant (the store is faked). */
static void test_export_command(void **state)
{
	mns_plugin_t *p = dkim_new(json_pack("{s:i}", "rsa-bits", 1024));
	mns_tenant_ctx_t t = pt_ctx_cname();
	json_t *sec = check_ok(p, &t, NULL, NULL);
	stored_doc = export_doc("acme", "example.com", "cname", "acme." PT_HOSTED, sec);
	const mns_plugin_command_t *cmd = NULL;
	for (cmd = mns_plugin_api(p)->commands; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, "dkim.export") == 0)
			break;
	assert_non_null(cmd->name);
	json_t *args = pt_json("{\"tenant\": \"acme\", \"dir\": \"/srv/dkim\"}"), *res = NULL;
	mns_error_t err = {0};
	assert_int_equal(cmd->fn(p, args, &res, &err), MNS_OK);
	assert_string_equal(json_string_value(json_object_get(res, "dir")), "/srv/dkim");
	const json_t *dom = json_array_get(json_object_get(res, "domains"), 0);
	assert_string_equal(json_string_value(json_object_get(dom, "domain")), "example.com");
	assert_string_equal(json_string_value(json_object_get(dom, "mode")), "cname");
	const json_t *k = json_array_get(json_object_get(dom, "keys"), 0);
	assert_string_equal(json_string_value(json_object_get(k, "selector")), "s1");
	const char *pem = json_string_value(json_object_get(k, "private"));
	assert_string_equal(pem, sel_private(p, sec, "s1"));
	EVP_PKEY *priv = private_key(pem);
	EVP_PKEY_free(priv);
	const char *kt =
	    json_string_value(json_object_get(json_object_get(res, "opendkim"), "keytable"));
	assert_non_null(strstr(kt, "\ns1._domainkey.example.com example.com:s1:/srv/dkim/keys/"
	                           "example.com.s1.pem\n"));
	const char *sm =
	    json_string_value(json_object_get(json_object_get(res, "rspamd"), "selector_map"));
	assert_non_null(strstr(sm, "\nexample.com s1\n"));
	json_decref(res);
	json_decref(args);

	/* Bad arguments. */
	static const char *const bad[] = {"{\"tenant\": 1}", "{\"tenant\": \"nobody\"}",
	                                  "{\"tenant\": \"acme\", \"dir\": \"rel\"}",
	                                  "{\"tenant\": \"acme\", \"x\": 1}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		args = pt_json(bad[i]);
		res = NULL;
		assert_true(cmd->fn(p, args, &res, &err) < 0);
		assert_null(res);
		json_decref(args);
	}
	json_decref(stored_doc);
	stored_doc = NULL;
	mns_plugin_destroy(p);
}

static char *read_file(const char *path, struct stat *st)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	assert_int_equal(fstat(fileno(f), st), 0);
	char *buf = calloc(1, (size_t)st->st_size + 1);
	assert_int_equal(fread(buf, 1, (size_t)st->st_size, f), (size_t)st->st_size);
	fclose(f);
	return buf;
}

static size_t count_dir(const char *path, bool *temp_found)
{
	DIR *d = opendir(path);
	size_t n = 0;
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
			continue;
		if (strstr(e->d_name, ".tmp") != NULL)
			*temp_found = true;
		n++;
	}
	closedir(d);
	return n;
}

/* The export directory: files 0600, replaced by rename (a reader sees the
 * old or the new file, never a mix), unchanged files left alone, keys of
 * withdrawn selectors removed. */
static void test_export_dir(void **state)
{
	char dir[] = "/tmp/mns-dkim-export-XXXXXX", path[512];
	assert_non_null(mkdtemp(dir));
	char sub[64];
	snprintf(sub, sizeof(sub), "%s/out", dir);
	json_t *doc =
	    export_doc("acme", "example.com", "ns", "mgeu.example.com",
	               mk_sec(mk_sel("s1", "rsa", "active", T0, T0, T0, -1, "AAAA"), NULL));
	json_t *entries = json_array();
	mns_dkim_export_collect(doc, true, NULL, entries, NULL);
	mns_error_t err = {0};
	size_t changed = 0;
	assert_int_equal(mns_dkim_export_write(sub, entries, &changed, &err), MNS_OK);
	assert_int_equal(changed, 5);
	struct stat st;
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	static const char *const files[] = {"KeyTable", "SigningTable", "dkim_selectors.map",
	                                    "dkim_paths.map", "keys/mgeu.example.com.s1.pem"};
	ino_t inode[5];
	for (size_t i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "%s/%s", sub, files[i]);
		char *text = read_file(path, &st);
		assert_non_null(text);
		assert_int_equal(st.st_mode & 0777, 0600);
		inode[i] = st.st_ino;
		free(text);
	}
	snprintf(path, sizeof(path), "%s/KeyTable", sub);
	char *kt = read_file(path, &st);
	char want[512];
	snprintf(want, sizeof(want),
	         "s1._domainkey.mgeu.example.com mgeu.example.com:s1:%s/keys/"
	         "mgeu.example.com.s1.pem\n",
	         sub);
	assert_non_null(strstr(kt, want));
	free(kt);

	/* Same content: nothing rewritten. */
	assert_int_equal(mns_dkim_export_write(sub, entries, &changed, &err), MNS_OK);
	assert_int_equal(changed, 0);

	/* Rotation: s2 active, s1 retired; the tables and s2's key change (new
	 * inodes: renamed into place), s1's key file stays while it is retired. */
	json_decref(doc);
	doc = export_doc("acme", "example.com", "ns", "mgeu.example.com",
	                 mk_sec(mk_sel("s2", "rsa", "active", T0, T0, T0, -1, "BBBB"),
	                        mk_sel("s1", "rsa", "retired", T0, T0, T0, T0, "AAAA")));
	json_object_set_new((json_t *)selector(json_object_get(doc, "dkim"), "s2"), "private",
	                    json_string("-----BEGIN PRIVATE KEY-----\nNEW\n"));
	json_array_clear(entries);
	mns_dkim_export_collect(doc, true, NULL, entries, NULL);
	assert_int_equal(mns_dkim_export_write(sub, entries, &changed, &err), MNS_OK);
	assert_int_equal(changed, 5); /* 4 tables + s2.pem */
	snprintf(path, sizeof(path), "%s/KeyTable", sub);
	kt = read_file(path, &st);
	assert_int_not_equal(st.st_ino, inode[0]);
	assert_non_null(strstr(kt, "mgeu.example.com:s2:"));
	assert_null(strstr(kt, "mgeu.example.com:s1:"));
	free(kt);
	snprintf(path, sizeof(path), "%s/keys/mgeu.example.com.s1.pem", sub);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_ino, inode[4]); /* Untouched. */
	bool temp = false;
	snprintf(path, sizeof(path), "%s/keys", sub);
	assert_int_equal(count_dir(path, &temp), 2);
	assert_int_equal(count_dir(sub, &temp), 5);
	assert_false(temp);

	/* Withdrawn: s1's file goes; a stray temporary file too. */
	json_decref(doc);
	doc = export_doc("acme", "example.com", "ns", "mgeu.example.com",
	                 mk_sec(mk_sel("s2", "rsa", "active", T0, T0, T0, -1, "BBBB"), NULL));
	json_array_clear(entries);
	mns_dkim_export_collect(doc, true, NULL, entries, NULL);
	snprintf(path, sizeof(path), "%s/keys/.stray.pem.tmp", sub);
	FILE *f = fopen(path, "w");
	fclose(f);
	assert_int_equal(mns_dkim_export_write(sub, entries, &changed, &err), MNS_OK);
	snprintf(path, sizeof(path), "%s/keys/mgeu.example.com.s1.pem", sub);
	assert_int_not_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/keys", sub);
	temp = false;
	assert_int_equal(count_dir(path, &temp), 1);
	assert_false(temp);

	/* An export directory that cannot be created is an error. */
	assert_int_not_equal(mns_dkim_export_write("/proc/no/such/dir", entries, &changed, &err),
	                     MNS_OK);
	assert_string_equal(err.code, "export_failed");

	json_decref(entries);
	json_decref(doc);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* --- The key pool ------------------------------------------------------------------- */

/** The dkim.status command's result. */
static json_t *status(mns_plugin_t *p)
{
	for (const mns_plugin_command_t *c = mns_plugin_api(p)->commands; c->name != NULL; c++) {
		if (strcmp(c->name, "dkim.status") != 0)
			continue;
		json_t *args = json_object(), *res = NULL;
		mns_error_t err = {0};
		assert_int_equal(c->fn(p, args, &res, &err), MNS_OK);
		json_decref(args);
		return res;
	}
	fail_msg("no dkim.status command");
	return NULL;
}

static bool plugin_pool_full(void *arg)
{
	json_t *st = status(arg);
	bool full =
	    json_integer_value(json_object_get(json_object_get(st, "pool"), "available")) == 1;
	json_decref(st);
	return full;
}

static mns_plugin_t *dkim_on_loop(uv_loop_t *loop, json_t *changes)
{
	mns_error_t err = {0};
	mns_plugin_t *p = mns_plugin_create(&mns_plugin_dkim, "dkim", NULL, &err);
	assert_non_null(p);
	mns_plugin_attach(p, loop, NULL);
	assert_int_equal(mns_plugin_init(p, &err), MNS_OK);
	if (pt_configure(p, changes, &err) != MNS_OK)
		fail_msg("configure: %s: %s", err.code, err.message);
	return p;
}

static int ready_calls;
static void on_ready(void *data)
{
	ready_calls++;
}

/** Runs \a loop until \a done(\a arg) holds, with a referenced timer that
 *  stands for the daemon's listeners (a loop kept alive by nothing but the
 *  pool's jobs is a loop winding down: the pool stops then). */
typedef struct keeper {
	uv_timer_t timer;
	bool (*done)(void *arg);
	void *arg;
	int ticks;
} keeper_t;

static void keeper_tick(uv_timer_t *t)
{
	keeper_t *k = t->data;
	if (k->done(k->arg) || ++k->ticks > 6000)
		uv_close((uv_handle_t *)t, NULL);
}

static void run_until(uv_loop_t *loop, bool (*done)(void *arg), void *arg)
{
	keeper_t k = {.done = done, .arg = arg};
	uv_timer_init(loop, &k.timer);
	k.timer.data = &k;
	uv_timer_start(&k.timer, keeper_tick, 5, 5);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_true(k.ticks <= 6000); /* 30 s */
}

static bool pool_full(void *arg)
{
	mns_dkim_pool_stats_t st;
	mns_dkim_pool_stats(arg, &st);
	return st.available == st.size && st.in_flight == 0;
}

/* A pool fills in the background up to its size, hands out keys that match
 * the configured size, refills, and wipes its keys when resized. */
static void test_pool(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	mns_dkim_pool_t *pool = mns_dkim_pool_new(&loop, on_ready, NULL);
	mns_dkim_pool_stats_t st;
	mns_dkim_key_t k;
	ready_calls = 0;

	mns_dkim_pool_configure(pool, 2, 1024);
	mns_dkim_pool_stats(pool, &st);
	assert_int_equal(st.size, 2);
	assert_int_equal(st.in_flight, 1);                /* One generation at a time. */
	assert_false(mns_dkim_pool_take(pool, 1024, &k)); /* Nothing ready yet. */
	run_until(&loop, pool_full, pool);
	mns_dkim_pool_stats(pool, &st);
	assert_int_equal(st.available, 2);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.generated, 2);
	assert_int_equal(ready_calls, 2);

	/* A key of another size is not handed out. */
	assert_false(mns_dkim_pool_take(pool, 2048, &k));
	assert_true(mns_dkim_pool_take(pool, 1024, &k));
	assert_int_equal(k.bits, 1024);
	assert_false(k.ed25519);
	assert_non_null(strstr(k.priv, "BEGIN PRIVATE KEY"));
	assert_int_equal(strlen(k.priv), k.priv_len);
	EVP_PKEY *priv = private_key(k.priv);
	assert_int_equal(EVP_PKEY_get_bits(priv), 1024);
	EVP_PKEY_free(priv);
	char *plain = strdup(k.priv);
	mns_dkim_skey_t *skey = mns_dkim_skey_random();
	json_t *sel = mns_dkim_key_json(&k, T0, skey, "acme", "s2");
	assert_null(k.priv); /* Wiped and freed. */
	assert_null(json_object_get(sel, "private")); /* Sealed at once. */
	char *opened = NULL;
	size_t olen = 0;
	assert_int_equal(mns_dkim_unseal(skey, "acme", "s2",
	                                 json_string_value(json_object_get(sel, "sealed")), &opened,
	                                 &olen),
	                 MNS_OK);
	assert_string_equal(opened, plain);
	mns_dkim_unsealed_free(opened, olen);
	mns_dkim_skey_free(skey);
	free(plain);
	assert_int_equal(json_integer_value(json_object_get(sel, "bits")), 1024);
	assert_int_equal(json_integer_value(json_object_get(sel, "created")), T0);
	json_decref(sel);
	mns_dkim_pool_stats(pool, &st);
	assert_int_equal(st.available, 1);
	assert_int_equal(st.taken, 1);
	assert_int_equal(st.in_flight, 1); /* Refilling. */
	run_until(&loop, pool_full, pool);
	mns_dkim_pool_stats(pool, &st);
	assert_int_equal(st.available, 2);

	/* Shrinking keeps one; a new key size drops them all and refills. */
	mns_dkim_pool_configure(pool, 1, 1024);
	mns_dkim_pool_stats(pool, &st);
	assert_int_equal(st.available, 1);
	assert_int_equal(st.in_flight, 0);
	mns_dkim_pool_configure(pool, 1, 1032);
	mns_dkim_pool_stats(pool, &st);
	assert_int_equal(st.available, 0);
	assert_int_equal(st.in_flight, 1);
	/* Freed while a generation runs: it is stopped and awaited, nothing
	 * leaks (ASan) and nothing runs after the free. */
	mns_dkim_pool_free(pool);
	assert_int_equal(uv_loop_close(&loop), 0);

	/* A stopping daemon (the plugin's stop hook) is not held up by the
	 * pool: the running generation is aborted, queued ones are cancelled. */
	assert_int_equal(uv_loop_init(&loop), 0);
	pool = mns_dkim_pool_new(&loop, NULL, NULL);
	mns_dkim_pool_configure(pool, 4, 4096);
	mns_dkim_pool_stop(pool);
	uint64_t t0 = uv_hrtime();
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(uv_hrtime() - t0 < 500 * 1000 * 1000ULL);
	mns_dkim_pool_stats(pool, &st);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.available, 0);
	mns_dkim_pool_take(pool, 4096, &k); /* No refill once stopped. */
	mns_dkim_pool_stats(pool, &st);
	assert_int_equal(st.in_flight, 0);
	mns_dkim_pool_free(pool);
	assert_int_equal(uv_loop_close(&loop), 0);

	/* Disabled (size 0) and unattached pools stay empty. */
	assert_int_equal(uv_loop_init(&loop), 0);
	pool = mns_dkim_pool_new(&loop, NULL, NULL);
	mns_dkim_pool_configure(pool, 0, 2048);
	mns_dkim_pool_stats(pool, &st);
	assert_int_equal(st.in_flight, 0);
	assert_false(mns_dkim_pool_take(pool, 2048, &k));
	mns_dkim_pool_free(pool);
	assert_int_equal(uv_loop_close(&loop), 0);
	pool = mns_dkim_pool_new(NULL, NULL, NULL);
	mns_dkim_pool_configure(pool, 4, 2048);
	assert_false(mns_dkim_pool_take(pool, 2048, &k));
	mns_dkim_pool_free(pool);
}

/* A stop request aborts an RSA generation in progress. */
static void test_keygen_stop(void **state)
{
	atomic_bool stop;
	atomic_init(&stop, true);
	mns_dkim_key_t k;
	assert_int_equal(mns_dkim_keygen(false, 4096, &stop, &k), MNS_ERROR);
	assert_null(k.priv);
	assert_int_equal(mns_dkim_keygen(true, 0, &stop, &k), MNS_OK); /* Ed25519: instant. */
	assert_int_equal(k.bits, 256);
	assert_true(k.ed25519);
	mns_dkim_key_wipe(&k);
}

/* PEM text of \a pkey: PKCS#8, or the traditional (PKCS#1 for RSA) form. */
static char *pem_of(EVP_PKEY *pkey, bool traditional)
{
	BIO *bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	if (traditional)
		assert_int_equal(
		    PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(
		    PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	char *out = strndup(data, (size_t)len);
	BIO_free(bio);
	return out;
}

static EVP_PKEY *pkey_of(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(k);
	return k;
}

/* An import refused with a reason containing \a words and none of the input. */
static void import_refused(const char *pem, const char *words)
{
	mns_dkim_key_t k;
	char why[256];
	assert_int_equal(mns_dkim_key_import(pem, strlen(pem), &k, why, sizeof(why)), MNS_EINVAL);
	assert_null(k.priv);
	assert_null(k.pub);
	if (strstr(why, words) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", why, words);
	/* No 16-character run of the input's base64 in the reason. */
	const char *body = strstr(pem, "-----\n");
	for (const char *b = body ? body + 6 : pem; b && strlen(b) > 16; b += 16) {
		char run[17];
		memcpy(run, b, 16);
		run[16] = '\0';
		if (strchr(run, '\n') == NULL && strchr(run, '-') == NULL)
			assert_null(strstr(why, run));
	}
}

/* dkim.import's key reader: PKCS#8 and PKCS#1 RSA and Ed25519 come out as
 * mns_dkim_keygen() would give them (same public key, PKCS#8 in the secure
 * heap); wrong keys are refused with a reason that never quotes them. */
static void test_key_import(void **state)
{
	mns_dkim_key_t gen, k;
	char why[256];

	assert_int_equal(mns_dkim_keygen(false, 1024, NULL, &gen), MNS_OK);
	EVP_PKEY *rsa = pkey_of(gen.priv);
	for (int trad = 0; trad < 2; trad++) {
		char *pem = pem_of(rsa, trad);
		assert_true(strstr(pem, trad ? "BEGIN RSA PRIVATE KEY" : "BEGIN PRIVATE KEY") !=
		            NULL);
		assert_int_equal(mns_dkim_key_import(pem, strlen(pem), &k, why, sizeof(why)),
		                 MNS_OK);
		assert_false(k.ed25519);
		assert_int_equal(k.bits, 1024);
		assert_string_equal(k.pub, gen.pub);
		assert_non_null(strstr(k.priv, "-----BEGIN PRIVATE KEY-----"));
		assert_int_equal(strlen(k.priv), k.priv_len);
		mns_dkim_key_wipe(&k);
		free(pem);
	}
	EVP_PKEY_free(rsa);

	mns_dkim_key_t ed;
	assert_int_equal(mns_dkim_keygen(true, 0, NULL, &ed), MNS_OK);
	assert_int_equal(mns_dkim_key_import(ed.priv, ed.priv_len, &k, why, sizeof(why)), MNS_OK);
	assert_true(k.ed25519);
	assert_int_equal(k.bits, 256);
	assert_string_equal(k.pub, ed.pub);
	mns_dkim_key_wipe(&k);
	mns_dkim_key_wipe(&ed);

	import_refused("", "not a PEM private key");
	import_refused("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC", "not a PEM");
	import_refused("-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAK\n"
	               "-----END PUBLIC KEY-----\n",
	               "not a private key");
	import_refused("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTAp\n"
	               "-----END ENCRYPTED PRIVATE KEY-----\n",
	               "encrypted");
	import_refused("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSj\n"
	               "-----END PRIVATE KEY-----\n",
	               "cannot be decoded");
	char *big = malloc(MNS_DKIM_IMPORT_MAX + 64);
	assert_non_null(big);
	memset(big, 'A', MNS_DKIM_IMPORT_MAX + 63);
	memcpy(big, "-----BEGIN PRIVATE KEY-----\n", 28);
	big[MNS_DKIM_IMPORT_MAX + 63] = '\0';
	import_refused(big, "at most");
	free(big);

	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)512);
	assert_non_null(small);
	char *pem = pem_of(small, false);
	import_refused(pem, "512 bits");
	free(pem);
	EVP_PKEY_free(small);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(ec);
	pem = pem_of(ec, false);
	import_refused(pem, "only RSA and Ed25519");
	free(pem);
	EVP_PKEY_free(ec);
	mns_dkim_key_wipe(&gen);
}

/* The plugin takes tenant.add's key from its pool, and tears the pool down
 * in fini even while it is refilling. */
static void test_pool_in_plugin(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	mns_plugin_t *p =
	    dkim_on_loop(&loop, json_pack("{s:i, s:i}", "rsa-bits", 1024, "key-pool", 1));
	/* Let the pool fill (the plugin's start-up timer fires too: it finds no
	 * store, logs and goes on). */
	run_until(&loop, plugin_pool_full, p);
	json_t *st = status(p);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "pool"), "size")),
	                 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(st, "pool"), "available")), 1);
	json_decref(st);
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *sec = check_ok(p, &t, NULL, NULL);
	assert_int_equal(json_integer_value(json_object_get(selector(sec, "s1"), "bits")), 1024);
	json_decref(sec);
	/* The key came from the pool, which refills; the tenant is scheduled. */
	st = status(p);
	const json_t *pool = json_object_get(st, "pool");
	assert_int_equal(json_integer_value(json_object_get(pool, "taken")), 1);
	assert_int_equal(json_integer_value(json_object_get(pool, "available")), 0);
	assert_int_equal(json_integer_value(json_object_get(pool, "in_flight")), 1);
	assert_int_equal(json_integer_value(json_object_get(st, "scheduled")), 1);
	json_decref(st);
	/* The pool refills now; destroy at once. */
	mns_plugin_destroy(p);
	uv_run(&loop, UV_RUN_DEFAULT); /* Close callbacks of the plugin's timers. */
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* --- Sealing at rest (seal.c) ------------------------------------------------ */

static const char SEAL_PEM[] = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+Fake+Key+"
                               "Material+For+Tests+Only+AAA\n-----END PRIVATE KEY-----\n";

/** Opens \a sealed; \return the result code (the plaintext is checked and freed). */
static int open_as(const mns_dkim_skey_t *k, const char *tenant, const char *sel,
                   const char *sealed)
{
	char *pem = NULL;
	size_t len = 0;
	int ret = mns_dkim_unseal(k, tenant, sel, sealed, &pem, &len);
	if (ret == MNS_OK) {
		assert_int_equal(len, strlen(SEAL_PEM));
		assert_string_equal(pem, SEAL_PEM);
	} else {
		assert_null(pem);
	}
	mns_dkim_unsealed_free(pem, len);
	return ret;
}

/** \a sealed with bit \a bit of decoded octet \a at flipped (a new string). */
static char *flip(const char *sealed, size_t at, int bit)
{
	size_t n = strlen(sealed);
	unsigned char *raw = malloc(n);
	int len = EVP_DecodeBlock(raw, (const unsigned char *)sealed, (int)n);
	assert_true(len > 0);
	size_t pad = (sealed[n - 1] == '=') + (sealed[n - 2] == '=');
	len -= (int)pad;
	assert_true(at < (size_t)len);
	raw[at] ^= (unsigned char)(1u << bit);
	char *out = malloc(n + 1);
	EVP_EncodeBlock((unsigned char *)out, raw, len);
	free(raw);
	return out;
}

static void test_seal_round_trip(void **state)
{
	mns_dkim_skey_t *k = mns_dkim_skey_random();
	assert_non_null(k);
	char *a = mns_dkim_seal(k, "acme", "s1", SEAL_PEM, strlen(SEAL_PEM));
	char *b = mns_dkim_seal(k, "acme", "s1", SEAL_PEM, strlen(SEAL_PEM));
	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b); /* A fresh nonce each time. */
	assert_null(strstr(a, "PRIVATE"));
	/* 1 + 12 + PEM + 16 octets, base64. */
	size_t raw = 1 + 12 + strlen(SEAL_PEM) + 16;
	assert_int_equal(strlen(a), 4 * ((raw + 2) / 3));
	unsigned char first[4];
	assert_int_equal(EVP_DecodeBlock(first, (const unsigned char *)a, 4), 3);
	assert_int_equal(first[0], 0x01); /* Version. */
	assert_int_equal(open_as(k, "acme", "s1", a), MNS_OK);
	assert_int_equal(open_as(k, "acme", "s1", b), MNS_OK);
	free(a);
	free(b);
	mns_dkim_skey_free(k);
}

static void test_seal_tamper(void **state)
{
	unsigned char raw[MNS_DKIM_SKEY_LEN];
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 7 + 1);
	mns_dkim_skey_t *k = mns_dkim_skey_new(raw);
	char *s = mns_dkim_seal(k, "acme", "s1", SEAL_PEM, strlen(SEAL_PEM));
	assert_non_null(s);
	size_t total = 1 + 12 + strlen(SEAL_PEM) + 16;
	/* One flipped bit anywhere: version, nonce, ciphertext, tag. */
	const size_t where[] = {0, 1, 12, 13, 13 + 20, total - 17, total - 16, total - 1};
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		char *bad = flip(s, where[i], (int)(i % 8));
		assert_int_equal(open_as(k, "acme", "s1", bad), MNS_EINVAL);
		free(bad);
	}
	/* Truncated, empty, not base64. */
	char *cut = strdup(s);
	cut[strlen(cut) - 8] = '\0';
	assert_int_equal(open_as(k, "acme", "s1", cut), MNS_EINVAL);
	free(cut);
	assert_int_equal(open_as(k, "acme", "s1", ""), MNS_EINVAL);
	assert_int_equal(open_as(k, "acme", "s1", "not base64!"), MNS_EINVAL);
	assert_int_equal(open_as(k, "acme", "s1", "AAAA"), MNS_EINVAL);
	/* The right length, one octet outside the alphabet. */
	char *odd = strdup(s);
	odd[strlen(odd) / 2] = '!';
	assert_int_equal(open_as(k, "acme", "s1", odd), MNS_EINVAL);
	free(odd);
	/* Another tenant or selector as additional data. */
	assert_int_equal(open_as(k, "acme2", "s1", s), MNS_EINVAL);
	assert_int_equal(open_as(k, "acm", "s1", s), MNS_EINVAL);
	assert_int_equal(open_as(k, "acme", "s2", s), MNS_EINVAL);
	assert_int_equal(open_as(k, "acmes", "1", s), MNS_EINVAL); /* The NUL separates. */
	/* Another key. */
	raw[5] ^= 1;
	mns_dkim_skey_t *other = mns_dkim_skey_new(raw);
	assert_int_equal(open_as(other, "acme", "s1", s), MNS_EINVAL);
	mns_dkim_skey_t *rnd = mns_dkim_skey_random();
	assert_int_equal(open_as(rnd, "acme", "s1", s), MNS_EINVAL);
	/* The right one still opens it. */
	assert_int_equal(open_as(k, "acme", "s1", s), MNS_OK);
	free(s);
	mns_dkim_skey_free(rnd);
	mns_dkim_skey_free(other);
	mns_dkim_skey_free(k);
}

/* A section written by an older version: "private" becomes "sealed". */
static void test_seal_section(void **state)
{
	mns_dkim_skey_t *k = mns_dkim_skey_random();
	json_t *sec = mk_sec(mk_sel("s1", "rsa", "active", T0, T0, T0, -1, "AAAA"),
	                     mk_sel("e1", "ed25519", "active", T0, T0, T0, -1, "EEEE"));
	const char *pem = json_string_value(json_object_get(selector(sec, "s1"), "private"));
	char *want = strdup(pem);
	assert_int_equal(mns_dkim_section_count(sec, "private"), 2);
	size_t n = 0;
	assert_int_equal(mns_dkim_seal_section(k, "acme", sec, &n), MNS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(mns_dkim_section_count(sec, "private"), 0);
	assert_int_equal(mns_dkim_section_count(sec, "sealed"), 2);
	char *opened = NULL;
	size_t len = 0;
	assert_int_equal(mns_dkim_unseal(k, "acme", "s1", sel_field(sec, "s1", "sealed"), &opened,
	                                 &len),
	                 MNS_OK);
	assert_string_equal(opened, want);
	mns_dkim_unsealed_free(opened, len);
	/* Nothing left to do the second time. */
	assert_int_equal(mns_dkim_seal_section(k, "acme", sec, &n), MNS_OK);
	assert_int_equal(n, 0);
	/* The export opens sealed keys with the key, and leaves out what does not open. */
	json_t *doc = export_doc("acme", "example.com", "ns", "mgeu.example.com", sec);
	json_t *entries = json_array();
	size_t unopened = 0;
	assert_int_equal(mns_dkim_export_collect(doc, false, k, entries, &unopened), MNS_OK);
	assert_int_equal(json_array_size(entries), 2);
	assert_int_equal(unopened, 0);
	mns_dkim_export_sort(entries);
	assert_string_equal(json_string_value(json_object_get(json_array_get(entries, 0), "private")),
	                    want);
	json_array_clear(entries);
	mns_dkim_skey_t *other = mns_dkim_skey_random();
	assert_int_equal(mns_dkim_export_collect(doc, false, other, entries, &unopened), MNS_OK);
	assert_int_equal(json_array_size(entries), 0);
	assert_int_equal(unopened, 2);
	json_decref(entries);
	json_decref(doc);
	free(want);
	mns_dkim_skey_free(other);
	mns_dkim_skey_free(k);
}

/* The key file: created 0600 with 32 octets, read back, checked. */
static void test_store_key_file(void **state)
{
	char dir[] = "/tmp/mns-dkim-skey-XXXXXX", path[512];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dkim-store.key", dir);
	mns_dkim_skey_t *k = NULL, *k2 = NULL;
	mns_error_t err = {0};
	bool created = false;

	/* Missing and not to be created. */
	assert_int_equal(mns_dkim_skey_load(path, false, &k, &created, &err), MNS_ENOENT);
	assert_null(k);
	assert_non_null(strstr(err.message, path));
	struct stat st;
	assert_int_not_equal(stat(path, &st), 0);

	/* Created. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(mns_dkim_skey_load(path, true, &k, &created, &err), MNS_OK);
	assert_true(created);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, MNS_DKIM_SKEY_LEN);

	/* Read back: the same key (what one seals the other opens). */
	assert_int_equal(mns_dkim_skey_load(path, true, &k2, &created, &err), MNS_OK);
	assert_false(created);
	char *s = mns_dkim_seal(k, "acme", "s1", SEAL_PEM, strlen(SEAL_PEM));
	assert_int_equal(open_as(k2, "acme", "s1", s), MNS_OK);
	free(s);
	mns_dkim_skey_free(k2);
	k2 = NULL;

	/* Readable by the group or others: refused, naming the file and mode. */
	const mode_t modes[] = {0640, 0604, 0660};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(chmod(path, modes[i]), 0);
		memset(&err, 0, sizeof(err));
		assert_int_not_equal(mns_dkim_skey_load(path, true, &k2, &created, &err), MNS_OK);
		assert_null(k2);
		assert_non_null(strstr(err.message, path));
		assert_non_null(strstr(err.message, "group or others"));
	}
	assert_int_equal(chmod(path, 0600), 0);

	/* Wrong size: refused, never overwritten. */
	assert_int_equal(truncate(path, 31), 0);
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(mns_dkim_skey_load(path, true, &k2, &created, &err), MNS_OK);
	assert_non_null(strstr(err.message, "31 octets"));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 31);

	/* Not a regular file. */
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(mns_dkim_skey_load(path, true, &k2, &created, &err), MNS_OK);
	assert_null(k2);
	rmdir(path);
	rmdir(dir);
	mns_dkim_skey_free(k);
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

/* The rotation schedule (rotation.c): a heap with an index by id, checked
 * against a plain array through many random sets and removals. */
static void test_schedule_heap(void **state)
{
	enum { IDS = 300, OPS = 20000 };
	int64_t model[IDS];
	mns_dkim_sched_t *s = mns_dkim_sched_new();
	assert_non_null(s);
	for (int i = 0; i < IDS; i++)
		model[i] = INT64_MAX;
	unsigned r = 12345;
	for (int op = 0; op < OPS; op++) {
		r = r * 1103515245u + 12345u;
		int i = (int)((r >> 8) % IDS);
		int64_t due = (r >> 4) % 7 == 0 ? INT64_MAX : (int64_t)((r >> 12) % 1000);
		char id[16];
		snprintf(id, sizeof(id), "t%d", i);
		assert_int_equal(mns_dkim_sched_set(s, id, due), MNS_OK);
		model[i] = due;
		if (op % 97 == 0) {
			size_t n = 0;
			int64_t best = INT64_MAX;
			for (int j = 0; j < IDS; j++) {
				char jid[16];
				snprintf(jid, sizeof(jid), "t%d", j);
				assert_true(mns_dkim_sched_get(s, jid) == model[j]);
				n += model[j] != INT64_MAX;
				best = model[j] < best ? model[j] : best;
			}
			assert_int_equal(mns_dkim_sched_count(s), n);
			const char *fid;
			int64_t fdue;
			assert_int_equal(mns_dkim_sched_first(s, &fid, &fdue), n > 0);
			if (n > 0) {
				assert_true(fdue == best);
				assert_true(model[atoi(fid + 1)] == best);
			}
		}
	}
	/* Taking the earliest one by one yields the times in order. */
	int64_t last = INT64_MIN;
	const char *fid;
	int64_t fdue;
	size_t left = mns_dkim_sched_count(s);
	while (mns_dkim_sched_first(s, &fid, &fdue)) {
		assert_true(fdue >= last);
		last = fdue;
		char copy[16];
		snprintf(copy, sizeof(copy), "%s", fid);
		assert_int_equal(mns_dkim_sched_set(s, copy, INT64_MAX), MNS_OK);
		left--;
		assert_int_equal(mns_dkim_sched_count(s), left);
	}
	assert_int_equal(left, 0);
	/* Ids too long to index are not scheduled. */
	char longid[80];
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(mns_dkim_sched_set(s, longid, 5), MNS_OK);
	assert_int_equal(mns_dkim_sched_count(s), 0);
	mns_dkim_sched_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_descriptor),
	    cmocka_unit_test(test_seal_round_trip),
	    cmocka_unit_test(test_seal_tamper),
	    cmocka_unit_test(test_seal_section),
	    cmocka_unit_test(test_store_key_file),
	    cmocka_unit_test(test_add_rsa_ns),
	    cmocka_unit_test(test_add_rsa_cname),
	    cmocka_unit_test(test_ed25519),
	    cmocka_unit_test(test_update),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_states),
	    cmocka_unit_test(test_public_and_keys),
	    cmocka_unit_test(test_instructions),
	    cmocka_unit_test(test_rotation_cycle),
	    cmocka_unit_test(test_rotation_stale_steps),
	    cmocka_unit_test(test_rotation_timestamps),
	    cmocka_unit_test(test_rotation_restart),
	    cmocka_unit_test(test_rotation_waits_for_key),
	    cmocka_unit_test(test_rotate_check),
	    cmocka_unit_test(test_rotation_records),
	    cmocka_unit_test(test_keys_view),
	    cmocka_unit_test(test_rotation_config),
	    cmocka_unit_test(test_first_key_times),
	    cmocka_unit_test(test_export_formats),
	    cmocka_unit_test(test_export_command),
	    cmocka_unit_test(test_export_dir),
	    cmocka_unit_test(test_pool),
	    cmocka_unit_test(test_keygen_stop),
	    cmocka_unit_test(test_key_import),
	    cmocka_unit_test(test_pool_in_plugin),
	    cmocka_unit_test(test_schedule_heap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
