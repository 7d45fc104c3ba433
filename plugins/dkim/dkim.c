/*  dkim — publishes each tenant's DKIM public keys (RFC 6376, RFC 8463).
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  The plugin owns the "dkim" section of a tenant document:
 *
 *      {"ed25519": true,                       (only when the caller set it)
 *       "selectors": [{"selector": "s1", "algorithm": "rsa", "bits": 2048,
 *                      "state": "active", "created": 1700000000,
 *                      "public": "<base64>", "private": "<PEM PKCS#8>"}]}
 *
 *  Keys are generated here (OpenSSL 3) when a tenant is added; the caller may
 *  only switch Ed25519 on or off. Selectors come in pairs that alternate on
 *  rotation: s1/s2 for RSA and e1/e2 for Ed25519.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mailns/plugin.h"

/** The plugin's configuration (plugin data). */
typedef struct dkim_conf {
	int rsa_bits; /**< Size of new RSA keys. */
	bool ed25519; /**< Vendor default: also publish an Ed25519 key. */
} dkim_conf_t;

static const dkim_conf_t dkim_defaults = {.rsa_bits = 2048, .ed25519 = false};

/** Selector pairs: the first of each pair is generated on tenant.add, the
 *  second is what rotation alternates to. */
typedef struct dkim_pair {
	const char *alg; /**< "rsa" or "ed25519". */
	const char *first, *second;
	const char *label; /**< For humans: "RSA", "Ed25519". */
} dkim_pair_t;

static const dkim_pair_t dkim_pairs[] = {
    {"rsa", "s1", "s2", "RSA"},
    {"ed25519", "e1", "e2", "Ed25519"},
};

#define DKIM_NPAIRS (sizeof(dkim_pairs) / sizeof(dkim_pairs[0]))
#define DKIM_RSA 0
#define DKIM_ED25519 1

static const mns_conf_item_t dkim_schema[] = {
    {"rsa-bits", MNS_CONF_INT, "2048", 1024, 4096,
     "size of newly generated RSA keys (a multiple of 8; RFC 8301 wants at least 2048)"},
    {"ed25519", MNS_CONF_BOOL, "no", 0, 0,
     "also publish an Ed25519 key (RFC 8463) beside the RSA key, unless the tenant says"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static const dkim_conf_t *conf_of(const mns_plugin_t *p)
{
	const dkim_conf_t *c = mns_plugin_data(p);
	return c != NULL ? c : &dkim_defaults;
}

/* --- Lifecycle ------------------------------------------------------------ */

static int dkim_init(mns_plugin_t *p, mns_error_t *err)
{
	dkim_conf_t *c = malloc(sizeof(*c));
	if (c == NULL) {
		mns_error_set(err, "out_of_memory", "dkim: cannot allocate the plugin state");
		return MNS_ENOMEM;
	}
	*c = dkim_defaults;
	mns_plugin_set_data(p, c);
	return MNS_OK;
}

static int dkim_configure(mns_plugin_t *p, const json_t *conf, mns_error_t *err)
{
	dkim_conf_t next = dkim_defaults;
	const json_t *v;

	v = json_object_get(conf, "rsa-bits");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v))
			return mns_error_set_key(err, "rsa-bits", "invalid_config",
			                         "rsa-bits must be an integer such as 2048");
		json_int_t bits = json_integer_value(v);
		if (bits < 1024 || bits > 4096 || bits % 8 != 0)
			return mns_error_set_key(
			    err, "rsa-bits", "invalid_config",
			    "rsa-bits must be a multiple of 8 from 1024 to 4096 "
			    "(2048 is the usual choice), not %lld",
			    (long long)bits);
		next.rsa_bits = (int)bits;
	}
	v = json_object_get(conf, "ed25519");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return mns_error_set_key(err, "ed25519", "invalid_config",
			                         "ed25519 must be yes or no");
		next.ed25519 = json_is_true(v);
	}

	dkim_conf_t *c = mns_plugin_data(p);
	if (c == NULL) {
		c = malloc(sizeof(*c));
		if (c == NULL) {
			mns_error_set(err, "out_of_memory",
			              "dkim: cannot allocate the plugin state");
			return MNS_ENOMEM;
		}
		mns_plugin_set_data(p, c);
	}
	*c = next;
	if (next.rsa_bits < 2048)
		mns_plugin_log(
		    p, MNS_LOG_WARNING,
		    "rsa-bits %d is below the 2048 bits RFC 8301 recommends for new keys",
		    next.rsa_bits);
	return MNS_OK;
}

static void dkim_fini(mns_plugin_t *p)
{
	free(mns_plugin_data(p));
	mns_plugin_set_data(p, NULL);
}

/* --- Keys ------------------------------------------------------------------- */

/** Returns the base64 (no line breaks) of \a len octets, malloc'd, or NULL. */
static char *b64_encode(const unsigned char *in, size_t len)
{
	if (len > (size_t)(INT32_MAX / 4 * 3 - 3))
		return NULL;
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (out == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/** The public key as DKIM publishes it: base64 of the DER SubjectPublicKeyInfo
 *  for RSA (RFC 6376 3.6.1), base64 of the raw 32-octet key for Ed25519
 *  (RFC 8463 4). */
static char *public_b64(EVP_PKEY *pkey, bool ed25519)
{
	if (ed25519) {
		unsigned char raw[64];
		size_t rawlen = sizeof(raw);
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1)
			return NULL;
		return b64_encode(raw, rawlen);
	}
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pkey, &der);
	if (len <= 0)
		return NULL;
	char *out = b64_encode(der, (size_t)len);
	OPENSSL_free(der);
	return out;
}

/** The private key as an unencrypted PEM PKCS#8 JSON string, or NULL. The
 *  memory BIO cleanses its buffer when it grows and when it is freed. */
static json_t *private_pem(EVP_PKEY *pkey)
{
	json_t *pem = NULL;
	BIO *bio = BIO_new(BIO_s_secmem());
	if (bio == NULL)
		return NULL;
	if (PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1) {
		char *data = NULL;
		long len = BIO_get_mem_data(bio, &data);
		if (len > 0 && data != NULL)
			pem = json_stringn(data, (size_t)len);
	}
	BIO_free(bio);
	return pem;
}

/** Generates a key for pair \a pair and returns its selector object (a new
 *  reference), or NULL with \a err set. */
static json_t *selector_generate(mns_plugin_t *p, const mns_tenant_ctx_t *t, size_t pair,
                                 const char *selector, mns_error_t *err)
{
	const dkim_conf_t *c = conf_of(p);
	bool ed = pair == DKIM_ED25519;
	EVP_PKEY *pkey = NULL;
	char *pub = NULL;
	json_t *priv = NULL, *sel = NULL;

	if (ed)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)c->rsa_bits);
	if (pkey == NULL) {
		mns_error_set(err, "key_generation", "could not generate a %s key for selector %s",
		              dkim_pairs[pair].label, selector);
		goto out;
	}
	pub = public_b64(pkey, ed);
	priv = private_pem(pkey);
	if (pub == NULL || priv == NULL) {
		mns_error_set(err, "key_generation",
		              "could not encode the new %s key of selector %s",
		              dkim_pairs[pair].label, selector);
		goto out;
	}
	sel = json_pack("{s:s, s:s, s:i, s:s, s:I, s:s, s:O}", "selector", selector, "algorithm",
	                dkim_pairs[pair].alg, "bits", ed ? 256 : EVP_PKEY_get_bits(pkey), "state",
	                "active", "created", (json_int_t)t->now, "public", pub, "private", priv);
	if (sel == NULL) {
		mns_error_set(err, "out_of_memory", "could not store the key of selector %s",
		              selector);
		goto out;
	}
	mns_plugin_log(p, MNS_LOG_INFO, "tenant %s: new %s key, selector %s", t->id,
	               dkim_pairs[pair].label, selector);
out:
	json_decref(priv);
	free(pub);
	EVP_PKEY_free(pkey); /* Cleanses the private key material. */
	return sel;
}

/* --- Selectors in the section ----------------------------------------------- */

static const char *sel_str(const json_t *sel, const char *key)
{
	return json_string_value(json_object_get(sel, key));
}

/** States in which a key is in the DNS (DESIGN.md, DKIM lifecycle). */
static bool state_published(const char *state)
{
	return state != NULL && (strcmp(state, "published") == 0 || strcmp(state, "active") == 0 ||
	                         strcmp(state, "retired") == 0);
}

/** Finds the selector named \a name, or NULL. */
static const json_t *sel_find(const json_t *selectors, const char *name)
{
	size_t i;
	const json_t *sel;
	json_array_foreach(selectors, i, sel)
	{
		const char *s = sel_str(sel, "selector");
		if (s != NULL && strcmp(s, name) == 0)
			return sel;
	}
	return NULL;
}

/** True if \a name is a selector whose key is in the DNS. */
static bool sel_published(const json_t *selectors, const char *name)
{
	const json_t *sel = sel_find(selectors, name);
	return sel != NULL && state_published(sel_str(sel, "state"));
}

/** True if some selector uses algorithm \a alg. */
static bool has_algorithm(const json_t *selectors, const char *alg)
{
	size_t i;
	const json_t *sel;
	json_array_foreach(selectors, i, sel)
	{
		const char *a = sel_str(sel, "algorithm");
		if (a != NULL && strcmp(a, alg) == 0)
			return true;
	}
	return false;
}

/** A selector is one DNS label: letters, digits, '-' (RFC 6376 3.1 allows
 *  dots too, but ours are single labels). */
static bool selector_ok(const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0;
	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool base64_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '+' && *s != '/' && *s != '=')
			return false;
	return true;
}

/* --- Hooks ---------------------------------------------------------------- */

static int dkim_tenant_check(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *old,
                             const json_t *in, json_t **out, mns_error_t *err)
{
	static const char *const allowed[] = {"ed25519", NULL};
	json_t *sec = NULL, *selectors = NULL;
	int ret;
	/* A null section resets the caller's settings; the keys stay (they are
	 * ours and live in DNS: replacing them is a rotation, not a reset). */
	bool reset = in != NULL && json_is_null(in);

	if (reset)
		in = NULL;
	if (in != NULL) {
		if (!json_is_object(in))
			return mns_error_set_key(err, "dkim", "invalid_dkim",
			                         "the dkim section must be an object such as "
			                         "{\"ed25519\": true}");
		if (json_object_get(in, "selectors") != NULL)
			return mns_error_set_key(err, "dkim.selectors", "read_only_field",
			                         "dkim.selectors is managed by mailns (keys are "
			                         "generated and rotated by the daemon): only "
			                         "dkim.ed25519 may be set");
		ret = mns_json_check_keys(in, "dkim", allowed, err);
		if (ret != MNS_OK)
			return ret;
		const json_t *ed = json_object_get(in, "ed25519");
		if (ed != NULL && !json_is_boolean(ed) && !json_is_null(ed))
			return mns_error_set_key(
			    err, "dkim.ed25519", "invalid_dkim",
			    "dkim.ed25519 must be true or false (null reverts to "
			    "the vendor default)");
	}
	if (old != NULL && !json_is_object(old))
		old = NULL;

	sec = old != NULL ? json_deep_copy(old) : json_object();
	if (sec == NULL)
		goto nomem;
	if (reset)
		json_object_del(sec, "ed25519");
	if (in != NULL) {
		const json_t *ed = json_object_get(in, "ed25519");
		if (ed != NULL && json_is_null(ed))
			json_object_del(sec, "ed25519");
		else if (ed != NULL &&
		         json_object_set_new(sec, "ed25519", json_boolean(json_is_true(ed))) != 0)
			goto nomem;
	}

	selectors = json_object_get(sec, "selectors");
	if (selectors == NULL) {
		if (json_object_set_new(sec, "selectors", json_array()) != 0)
			goto nomem;
		selectors = json_object_get(sec, "selectors");
	} else if (!json_is_array(selectors)) {
		json_decref(sec);
		return mns_error_set_key(err, "dkim.selectors", "invalid_dkim",
		                         "the stored dkim.selectors of tenant %s is not an array",
		                         t->id);
	}

	/* Every tenant has an RSA key: generated on tenant.add, or on the first
	 * update after the plugin was enabled for an existing tenant. */
	if (!has_algorithm(selectors, "rsa")) {
		json_t *sel = selector_generate(p, t, DKIM_RSA, dkim_pairs[DKIM_RSA].first, err);
		if (sel == NULL)
			goto fail;
		if (json_array_append_new(selectors, sel) != 0)
			goto nomem;
	}

	/* Ed25519: the tenant's setting overrides the vendor's. */
	const json_t *ted = json_object_get(sec, "ed25519");
	bool want_ed = json_is_boolean(ted) ? json_is_true(ted) : conf_of(p)->ed25519;
	if (want_ed && !has_algorithm(selectors, "ed25519")) {
		json_t *sel =
		    selector_generate(p, t, DKIM_ED25519, dkim_pairs[DKIM_ED25519].first, err);
		if (sel == NULL)
			goto fail;
		if (json_array_append_new(selectors, sel) != 0)
			goto nomem;
	} else if (!want_ed) {
		for (size_t i = json_array_size(selectors); i-- > 0;) {
			const char *a = sel_str(json_array_get(selectors, i), "algorithm");
			if (a != NULL && strcmp(a, "ed25519") == 0) {
				const char *name =
				    sel_str(json_array_get(selectors, i), "selector");
				mns_plugin_log(p, MNS_LOG_INFO,
				               "tenant %s: Ed25519 off, withdrawing selector %s",
				               t->id, name != NULL ? name : "?");
				json_array_remove(selectors, i);
			}
		}
	}

	*out = sec;
	return MNS_OK;
nomem:
	mns_error_set(err, "out_of_memory", "dkim: out of memory");
	json_decref(sec);
	return MNS_ENOMEM;
fail:
	json_decref(sec);
	return MNS_ERROR;
}

/** In cname mode the customer CNAMEs both selectors of a pair from day one.
 *  While only one of them holds a key, the other is published as a CNAME to
 *  it so that every CNAME the customer added resolves (and the verifier sees
 *  the chain end in a key). Rotation later replaces the CNAME with a real key
 *  record under that selector and withdraws the CNAME. */
static int build_standby(const mns_tenant_ctx_t *t, const json_t *selectors,
                         const dkim_pair_t *pair, mns_zone_builder_t *zb, mns_error_t *err)
{
	bool first = sel_published(selectors, pair->first);
	bool second = sel_published(selectors, pair->second);
	if (first == second)
		return MNS_OK; /* Both hold keys, or the algorithm is not used. */
	const char *standby = first ? pair->second : pair->first;
	const char *active = first ? pair->first : pair->second;
	char owner[96], target[512];
	snprintf(owner, sizeof(owner), "%s._domainkey", standby);
	int n = snprintf(target, sizeof(target), "%s._domainkey.%s.", active, t->base);
	if (n < 0 || (size_t)n >= sizeof(target))
		return mns_error_set(err, "invalid_dkim", "name too long: %s._domainkey.%s", active,
		                     t->base);
	return mns_zb_add_cname(zb, owner, t->ttl, target, err);
}

static int dkim_tenant_build(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                             mns_zone_builder_t *zb, mns_error_t *err)
{
	const json_t *selectors = json_object_get(section, "selectors");
	const json_t *sel;
	size_t i;
	int ret = MNS_OK;

	if (!json_is_array(selectors))
		return MNS_OK; /* Nothing generated yet. */

	json_array_foreach(selectors, i, sel)
	{
		const char *name = sel_str(sel, "selector");
		const char *alg = sel_str(sel, "algorithm");
		const char *pub = sel_str(sel, "public");
		if (!state_published(sel_str(sel, "state")))
			continue;
		if (!selector_ok(name))
			return mns_error_set_key(
			    err, "dkim.selectors", "invalid_dkim",
			    "tenant %s: stored selector name '%s' is not a DNS "
			    "label",
			    t->id, name ? name : "(none)");
		if (alg == NULL || (strcmp(alg, "rsa") != 0 && strcmp(alg, "ed25519") != 0))
			return mns_error_set_key(
			    err, "dkim.selectors", "invalid_dkim",
			    "tenant %s: selector %s has unknown algorithm '%s'", t->id, name,
			    alg ? alg : "(none)");
		if (!base64_ok(pub))
			return mns_error_set_key(err, "dkim.selectors", "invalid_dkim",
			                         "tenant %s: selector %s has no valid public key",
			                         t->id, name);

		char owner[96];
		snprintf(owner, sizeof(owner), "%s._domainkey", name);
		size_t len = strlen(pub) + 32;
		char *text = malloc(len);
		if (text == NULL) {
			mns_error_set(err, "out_of_memory", "dkim: out of memory");
			return MNS_ENOMEM;
		}
		snprintf(text, len, "v=DKIM1; k=%s; p=%s", alg, pub);
		ret = mns_zb_add_txt(zb, owner, t->ttl, text, err);
		free(text);
		if (ret != MNS_OK)
			return ret;
	}

	if (t->mode == MNS_MODE_CNAME) {
		for (size_t k = 0; k < DKIM_NPAIRS; k++) {
			ret = build_standby(t, selectors, &dkim_pairs[k], zb, err);
			if (ret != MNS_OK)
				return ret;
		}
	}
	return MNS_OK;
}

static int dkim_tenant_instructions(mns_plugin_t *p, const mns_tenant_ctx_t *t,
                                    const json_t *section, mns_instructions_t *ins,
                                    mns_error_t *err)
{
	const json_t *selectors = json_object_get(section, "selectors");

	if (t->mode != MNS_MODE_CNAME)
		return MNS_OK; /* ns mode: the delegation covers everything. */

	for (size_t k = 0; k < DKIM_NPAIRS; k++) {
		const dkim_pair_t *pair = &dkim_pairs[k];
		/* RSA is always there; Ed25519 only while the tenant has such keys. */
		if (k != DKIM_RSA && !has_algorithm(selectors, pair->alg))
			continue;
		const char *sels[2] = {pair->first, pair->second};
		for (size_t j = 0; j < 2; j++) {
			char name[512], value[512], purpose[128];
			int n1 =
			    snprintf(name, sizeof(name), "%s._domainkey.%s", sels[j], t->domain);
			int n2 =
			    snprintf(value, sizeof(value), "%s._domainkey.%s", sels[j], t->base);
			if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(name) ||
			    (size_t)n2 >= sizeof(value))
				return mns_error_set(err, "invalid_dkim", "name too long");
			snprintf(purpose, sizeof(purpose), "DKIM public key (%s), selector %s",
			         pair->label, sels[j]);
			int ret = mns_instr_add(ins, name, "CNAME", value, true, purpose);
			if (ret != MNS_OK) {
				mns_error_set(err, "out_of_memory",
				              "dkim: cannot add instructions");
				return ret;
			}
		}
	}
	return MNS_OK;
}

static json_t *dkim_tenant_public(mns_plugin_t *p, const json_t *section)
{
	json_t *pub = json_deep_copy(section);
	json_t *selectors = json_object_get(pub, "selectors");
	json_t *sel;
	size_t i;

	if (pub == NULL)
		return json_object();
	json_array_foreach(selectors, i, sel)
	{
		json_object_del(sel, "private");
	}
	return pub;
}

/* --- Commands --------------------------------------------------------------- */

static int cmd_keys(mns_plugin_t *p, const json_t *args, json_t **result, mns_error_t *err)
{
	const json_t *jid = json_object_get(args, "tenant");
	const char *id = json_string_value(jid);
	json_t *doc = NULL, *pub = NULL, *selectors;

	if (jid == NULL)
		return mns_error_set_key(err, "tenant", "missing_field",
		                         "dkim.keys needs \"tenant\": the tenant id");
	if (id == NULL)
		return mns_error_set_key(err, "tenant", "invalid_type",
		                         "\"tenant\" must be a string (the tenant id)");
	doc = mns_plugin_tenant_get(p, id);
	if (doc == NULL) {
		mns_error_set_key(err, "tenant", "unknown_tenant", "no tenant '%s'", id);
		return MNS_ENOENT;
	}
	pub = dkim_tenant_public(p, json_object_get(doc, "dkim"));
	selectors = json_object_get(pub, "selectors");
	selectors = json_is_array(selectors) ? json_incref(selectors) : json_array();
	*result = json_pack("{s:s, s:o}", "tenant", id, "selectors", selectors);
	json_decref(pub);
	json_decref(doc); /* Holds private keys: drop it at once. */
	if (*result == NULL) {
		mns_error_set(err, "out_of_memory", "dkim: out of memory");
		return MNS_ENOMEM;
	}
	return MNS_OK;
}

static const mns_plugin_command_t dkim_commands[] = {
    {"dkim.keys", cmd_keys, "a tenant's DKIM selectors with their public keys: {\"tenant\": id}"},
    {NULL, NULL, NULL},
};

MNS_PLUGIN(dkim) = {
    .abi_major = MNS_PLUGIN_ABI_MAJOR,
    .abi_minor = MNS_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(mns_plugin_api_t),
    .name = "dkim",
    .version = "0.1.0",
    .summary = "DKIM public keys (RSA, optionally Ed25519) per tenant",
    .schema = dkim_schema,
    .init = dkim_init,
    .configure = dkim_configure,
    .fini = dkim_fini,
    .tenant_check = dkim_tenant_check,
    .tenant_build = dkim_tenant_build,
    .tenant_instructions = dkim_tenant_instructions,
    .tenant_public = dkim_tenant_public,
    .commands = dkim_commands,
};
