/*  dkim — key generation (OpenSSL 3) and a pool of pre-generated RSA keys.
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  RSA-2048 generation takes tens to hundreds of milliseconds (see README),
 *  too long for the main loop on every tenant.add. The pool keeps a few keys
 *  ready; it refills on the libuv thread pool (uv_queue_work), one key at a
 *  time, so it never takes more than one core. Worker threads only touch
 *  their own job and OpenSSL, never jansson or the plugin state; the job's
 *  completion callback hands the key over on the main loop.
 *
 *  A queued or running job is an active libuv request, which keeps uv_run()
 *  going: left alone, a stopping daemon would wait for the pool to fill. An
 *  unreferenced prepare handle (run before the loop blocks for I/O) notices
 *  when nothing but the pool's jobs keeps the loop alive (the daemon closed
 *  its listeners) and stops the pool: the running generation aborts through
 *  OpenSSL's progress callback, queued ones are cancelled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dkim_internal.h"

/* --- One key ----------------------------------------------------------------- */

void *mns_dkim_secret_alloc(size_t n)
{
	void *p = OPENSSL_secure_zalloc(n);
	return p != NULL ? p : OPENSSL_zalloc(n);
}

char *mns_dkim_b64_encode(const unsigned char *in, size_t len)
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
		return mns_dkim_b64_encode(raw, rawlen);
	}
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pkey, &der);
	if (len <= 0)
		return NULL;
	char *out = mns_dkim_b64_encode(der, (size_t)len);
	OPENSSL_free(der);
	return out;
}

/** The private key as unencrypted PEM PKCS#8 (NUL-terminated, in OpenSSL's
 *  secure heap: left out of core dumps, wiped on free; see
 *  mns_dkim_key_wipe), or NULL. The secure memory BIO cleanses its buffer
 *  when it grows and when it is freed. */
static char *private_pem(EVP_PKEY *pkey, size_t *lenp)
{
	char *pem = NULL;
	BIO *bio = BIO_new(BIO_s_secmem());
	if (bio == NULL)
		return NULL;
	if (PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1) {
		char *data = NULL;
		long len = BIO_get_mem_data(bio, &data);
		if (len > 0 && data != NULL && (pem = mns_dkim_secret_alloc((size_t)len + 1)) != NULL) {
			memcpy(pem, data, (size_t)len);
			pem[len] = '\0';
			*lenp = (size_t)len;
		}
	}
	BIO_free(bio);
	return pem;
}

/* Called by OpenSSL during RSA prime generation: returning 0 aborts it. */
static int keygen_progress(EVP_PKEY_CTX *ctx)
{
	atomic_bool *stop = EVP_PKEY_CTX_get_app_data(ctx);
	return stop != NULL && atomic_load(stop) ? 0 : 1;
}

int mns_dkim_keygen(bool ed25519, int bits, atomic_bool *stop, mns_dkim_key_t *out)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int ret = MNS_ERROR;

	memset(out, 0, sizeof(*out));
	ctx = EVP_PKEY_CTX_new_from_name(NULL, ed25519 ? "ED25519" : "RSA", NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1)
		goto out;
	if (!ed25519) {
		if (EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) != 1)
			goto out;
		EVP_PKEY_CTX_set_app_data(ctx, stop);
		EVP_PKEY_CTX_set_cb(ctx, keygen_progress);
	}
	if (EVP_PKEY_generate(ctx, &pkey) != 1 || pkey == NULL)
		goto out;
	out->ed25519 = ed25519;
	out->bits = ed25519 ? 256 : EVP_PKEY_get_bits(pkey);
	out->pub = public_b64(pkey, ed25519);
	out->priv = private_pem(pkey, &out->priv_len);
	if (out->pub == NULL || out->priv == NULL) {
		mns_dkim_key_wipe(out);
		ret = MNS_ENOMEM;
		goto out;
	}
	ret = MNS_OK;
out:
	if (ret != MNS_OK)
		ERR_clear_error(); /* The error queue is per thread: leave it clean. */
	EVP_PKEY_free(pkey);       /* Cleanses the private key material. */
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* --- Imported keys, parsed without OpenSSL's decoders ------------------------- */

/* Why by hand: OpenSSL 3.0's DER decoders (d2i_AutoPrivateKey, EVP_PKCS82PKEY,
 * PEM_read_bio_PrivateKey) copy the key's DER into ordinary heap buffers and
 * free them without clearing them, where a core dump finds them. The DER
 * here is decoded from the PEM text straight into the secure heap
 * (pem_decode below) and only read in place; the numbers go to secure
 * BIGNUMs. */

/** Decodes the first PEM block of \a pem (\a len octets) into the secure
 *  heap: \a label gets its label, \a der and \a dlen its contents (\a dcap
 *  octets: free with OPENSSL_secure_clear_free(der, dcap)).
 *  Blocks with headers (legacy encryption) are refused. Why not
 *  PEM_read_bio_ex(): its base64 decoder keeps the last line it read in an
 *  EVP_ENCODE_CTX that is freed without being cleared. */
static bool pem_decode(const char *pem, size_t len, char label[32], unsigned char **der,
                       size_t *dlen, size_t *dcap)
{
	static const char begin[] = "-----BEGIN ";
	const char *end = pem + len;
	const char *b = memmem(pem, len, begin, sizeof(begin) - 1);
	if (b == NULL)
		return false;
	const char *ls = b + sizeof(begin) - 1;
	const char *le = memmem(ls, (size_t)(end - ls), "-----", 5);
	if (le == NULL || le == ls || le - ls >= 32)
		return false;
	memcpy(label, ls, (size_t)(le - ls));
	label[le - ls] = '\0';
	char mark[48];
	snprintf(mark, sizeof(mark), "-----END %s-----", label);
	const char *body = le + 5;
	const char *e = memmem(body, (size_t)(end - body), mark, strlen(mark));
	if (e == NULL)
		return false;
	/* The base64 without line breaks, in the secure heap. */
	size_t cap = (size_t)(e - body), n = 0, pad = 0;
	char *b64 = mns_dkim_secret_alloc(cap + 1);
	bool ok = b64 != NULL;
	for (const char *p = body; ok && p < e; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
			continue;
		bool digit = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		             (c >= '0' && c <= '9') || c == '+' || c == '/';
		if (c == '=')
			pad++;
		else if (!digit || pad > 0)
			ok = false; /* A header line, damage, or data after the padding. */
		b64[n++] = (char)c;
	}
	ok = ok && n > 0 && n % 4 == 0 && pad <= 2 && n <= INT32_MAX;
	unsigned char *out = ok ? mns_dkim_secret_alloc(n / 4 * 3 + 3) : NULL;
	int got = out != NULL ? EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n) : -1;
	if (b64 != NULL)
		OPENSSL_secure_clear_free(b64, cap + 1);
	if (got < 0 || (size_t)got < pad + 1) {
		if (out != NULL)
			OPENSSL_secure_clear_free(out, n / 4 * 3 + 3);
		return false;
	}
	*der = out;
	*dlen = (size_t)got - pad;
	*dcap = n / 4 * 3 + 3;
	return true;
}

/** A DER element's contents, pointing into the decoded buffer. */
typedef struct der {
	const unsigned char *p;
	size_t len;
} der_t;

/** Takes the element of tag \a tag at the front of \a in (its contents into
 *  \a out) and moves \a in past it. \return false when it is not there. */
static bool der_take(der_t *in, unsigned char tag, der_t *out)
{
	if (in->len < 2 || in->p[0] != tag)
		return false;
	size_t n = in->p[1], hdr = 2;
	if (n & 0x80) {
		size_t k = n & 0x7f;
		if (k == 0 || k > 3 || in->len < 2 + k)
			return false;
		n = 0;
		for (size_t i = 0; i < k; i++)
			n = (n << 8) | in->p[2 + i];
		hdr += k;
	}
	if (in->len - hdr < n)
		return false;
	out->p = in->p + hdr;
	out->len = n;
	in->p += hdr + n;
	in->len -= hdr + n;
	return true;
}

static bool der_is(const der_t *d, const unsigned char *want, size_t len)
{
	return d->len == len && memcmp(d->p, want, len) == 0;
}

/** An RSA key from a PKCS#1 RSAPrivateKey (two primes), or NULL. */
static EVP_PKEY *rsa_from_pkcs1(der_t in)
{
	static const char *const names[8] = {
	    OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
	    OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
	    OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
	    OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	BIGNUM *bn[8] = {NULL};
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	der_t seq, v;

	if (!der_take(&in, 0x30, &seq) || in.len != 0 || !der_take(&seq, 0x02, &v) ||
	    v.len != 1 || v.p[0] != 0 || (bld = OSSL_PARAM_BLD_new()) == NULL)
		goto out;
	for (size_t i = 0; i < 8; i++) {
		if (!der_take(&seq, 0x02, &v) || v.len == 0 || v.len > 1024 || (v.p[0] & 0x80) ||
		    (bn[i] = BN_secure_new()) == NULL ||
		    BN_bin2bn(v.p, (int)v.len, bn[i]) == NULL ||
		    OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]) != 1)
			goto out;
	}
	if (seq.len != 0 || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params); /* Clears the secure part (every number here). */
	OSSL_PARAM_BLD_free(bld);
	for (size_t i = 0; i < 8; i++)
		BN_clear_free(bn[i]);
	return pkey;
}

/** A key from a PKCS#8 PrivateKeyInfo: RSA or Ed25519. Another algorithm
 *  gives NULL with \a other naming it. */
static EVP_PKEY *key_from_pkcs8(der_t in, const char **other)
{
	static const unsigned char rsa_oid[] = {0x2a, 0x86, 0x48, 0x86, 0xf7,
	                                        0x0d, 0x01, 0x01, 0x01};
	static const unsigned char ed25519_oid[] = {0x2b, 0x65, 0x70};
	static const unsigned char ec_oid[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
	der_t seq, v, alg, oid, key, raw;

	if (!der_take(&in, 0x30, &seq) || in.len != 0 || !der_take(&seq, 0x02, &v) ||
	    v.len != 1 || v.p[0] > 1 || !der_take(&seq, 0x30, &alg) ||
	    !der_take(&alg, 0x06, &oid) || !der_take(&seq, 0x04, &key))
		return NULL;
	if (der_is(&oid, rsa_oid, sizeof(rsa_oid)))
		return rsa_from_pkcs1(key);
	if (der_is(&oid, ed25519_oid, sizeof(ed25519_oid))) {
		/* RFC 8410: CurvePrivateKey ::= OCTET STRING (32 octets). */
		if (!der_take(&key, 0x04, &raw) || key.len != 0 || raw.len != 32)
			return NULL;
		return EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, raw.p, raw.len);
	}
	*other = der_is(&oid, ec_oid, sizeof(ec_oid)) ? "EC" : "this key type";
	return NULL;
}

static bool contains(const char *s, size_t len, const char *what)
{
	return memmem(s, len, what, strlen(what)) != NULL;
}

/** Whether an RSA key's parts fit together: n = p q, e dP = 1 mod p-1,
 *  e dQ = 1 mod q-1, q qInv = 1 mod p. EVP_PKEY_pairwise_check() would also
 *  test p and q for primality, ~40 ms a key: too slow for bulk imports, and
 *  a damaged key fails these checks anyway. A key without its CRT parts
 *  (n, e, d only) is taken as it is. */
static bool rsa_consistent(const EVP_PKEY *pkey)
{
	BIGNUM *n = NULL, *e = NULL, *p = NULL, *q = NULL, *dp = NULL, *dq = NULL, *qi = NULL;
	BIGNUM *t = BN_secure_new(), *u = BN_secure_new();
	BN_CTX *ctx = BN_CTX_secure_new();
	bool ok = false;

	if (t == NULL || u == NULL || ctx == NULL ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e))
		goto out;
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &p) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, &q) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_EXPONENT1, &dp) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_EXPONENT2, &dq) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, &qi)) {
		ok = true; /* No CRT parts to check. */
		goto out;
	}
	if (BN_is_zero(p) || BN_is_zero(q) || !BN_mul(t, p, q, ctx) || BN_cmp(t, n) != 0 ||
	    !BN_mod_mul(t, q, qi, p, ctx) || !BN_is_one(t))
		goto out;
	if (!BN_copy(u, p) || !BN_sub_word(u, 1) || BN_is_zero(u) ||
	    !BN_mod_mul(t, e, dp, u, ctx) || !BN_is_one(t))
		goto out;
	if (!BN_copy(u, q) || !BN_sub_word(u, 1) || BN_is_zero(u) ||
	    !BN_mod_mul(t, e, dq, u, ctx) || !BN_is_one(t))
		goto out;
	ok = true;
out:
	BN_free(n);
	BN_free(e);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(dp);
	BN_clear_free(dq);
	BN_clear_free(qi);
	BN_clear_free(t);
	BN_clear_free(u);
	BN_CTX_free(ctx);
	return ok;
}

int mns_dkim_key_import(const char *pem, size_t len, mns_dkim_key_t *out, char *why, size_t wlen)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int ret = MNS_EINVAL;

	memset(out, 0, sizeof(*out));
	/* Only fixed texts and numbers go into why: never a part of the input. */
	if (pem == NULL || len == 0 || len > MNS_DKIM_IMPORT_MAX ||
	    !contains(pem, len, "-----BEGIN ")) {
		snprintf(why, wlen,
		         "not a PEM private key: expected \"-----BEGIN PRIVATE KEY-----\" "
		         "(PKCS#8) or \"-----BEGIN RSA PRIVATE KEY-----\" (PKCS#1), at "
		         "most %d characters",
		         MNS_DKIM_IMPORT_MAX);
		goto out;
	}
	if (contains(pem, len, "ENCRYPTED")) {
		snprintf(why, wlen,
		         "encrypted private keys are not accepted: decrypt it first "
		         "(openssl pkey -in key.pem -out plain.pem)");
		goto out;
	}
	if (!contains(pem, len, "PRIVATE KEY-----")) {
		snprintf(why, wlen,
		         "not a private key: expected \"-----BEGIN PRIVATE KEY-----\" "
		         "(PKCS#8) or \"-----BEGIN RSA PRIVATE KEY-----\" (PKCS#1)");
		goto out;
	}
	/* The PEM is decoded into the secure heap, then parsed in place (see
	 * key_from_pkcs8 for why not with OpenSSL's decoders). */
	char label[32];
	unsigned char *der = NULL;
	size_t dlen = 0, dcap = 0;
	const char *other = NULL;
	if (pem_decode(pem, len, label, &der, &dlen, &dcap)) {
		der_t d = {der, dlen};
		if (strcmp(label, "PRIVATE KEY") == 0)
			pkey = key_from_pkcs8(d, &other);
		else if (strcmp(label, "RSA PRIVATE KEY") == 0)
			pkey = rsa_from_pkcs1(d);
		else if (strcmp(label, "EC PRIVATE KEY") == 0)
			other = "EC";
	}
	if (der != NULL)
		OPENSSL_secure_clear_free(der, dcap);
	if (pkey == NULL && other != NULL) {
		snprintf(why, wlen, "only RSA and Ed25519 keys can be used for DKIM, not %s",
		         other);
		goto out;
	}
	if (pkey == NULL) {
		snprintf(why, wlen,
		         "the PEM private key cannot be decoded (damaged base64 or "
		         "ASN.1, or not a PKCS#8/PKCS#1 key)");
		goto out;
	}
	bool ed25519 = EVP_PKEY_is_a(pkey, "ED25519");
	if (!ed25519 && !EVP_PKEY_is_a(pkey, "RSA")) {
		const char *type = EVP_PKEY_get0_type_name(pkey);
		snprintf(why, wlen, "only RSA and Ed25519 keys can be used for DKIM, not %s",
		         type != NULL ? type : "this key type");
		goto out;
	}
	int bits = ed25519 ? 256 : EVP_PKEY_get_bits(pkey);
	if (!ed25519 && (bits < MNS_DKIM_RSA_MIN || bits > MNS_DKIM_RSA_MAX)) {
		snprintf(why, wlen,
		         "an RSA key of %d bits cannot be used: DKIM keys must have "
		         "%d to %d bits (RFC 8301 asks for at least 2048)",
		         bits, MNS_DKIM_RSA_MIN, MNS_DKIM_RSA_MAX);
		goto out;
	}
	/* The public part must match the private one (a damaged key would
	 * publish a p= that no signature verifies against). */
	bool consistent;
	if (ed25519) {
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		consistent = ctx != NULL && EVP_PKEY_pairwise_check(ctx) == 1;
	} else {
		consistent = rsa_consistent(pkey);
	}
	if (!consistent) {
		snprintf(why, wlen,
		         "the private key is inconsistent (its public and private "
		         "parts do not match)");
		goto out;
	}
	out->ed25519 = ed25519;
	out->bits = bits;
	out->pub = public_b64(pkey, ed25519);
	out->priv = private_pem(pkey, &out->priv_len); /* Re-encoded as PKCS#8. */
	if (out->pub == NULL || out->priv == NULL) {
		mns_dkim_key_wipe(out);
		ret = MNS_ENOMEM;
		snprintf(why, wlen, "out of memory");
		goto out;
	}
	ret = MNS_OK;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ret;
}

void mns_dkim_key_wipe(mns_dkim_key_t *k)
{
	if (k == NULL)
		return;
	/* Allocated priv_len + 1 octets (the NUL) by private_pem(). */
	if (k->priv != NULL)
		OPENSSL_secure_clear_free(k->priv, k->priv_len + 1);
	free(k->pub);
	memset(k, 0, sizeof(*k));
}

json_t *mns_dkim_key_json(mns_dkim_key_t *k, int64_t now, const mns_dkim_skey_t *skey,
                          const char *tenant, const char *selector)
{
	json_t *sel = NULL;
	/* Sealed straight from the secure heap: the plaintext never becomes a
	 * JSON string (jansson copies strings into the ordinary heap). */
	char *sealed = mns_dkim_seal(skey, tenant, selector, k->priv, k->priv_len);
	if (sealed != NULL)
		sel = json_pack("{s:s, s:i, s:I, s:s, s:s}", "algorithm",
		                k->ed25519 ? "ed25519" : "rsa", "bits", k->bits, "created",
		                (json_int_t)now, "public", k->pub, "sealed", sealed);
	free(sealed);
	mns_dkim_key_wipe(k);
	return sel;
}

/* --- The pool ------------------------------------------------------------------ */

typedef struct pool_job {
	uv_work_t req;
	mns_dkim_pool_t *pool;
	int bits;
	int ret;
	mns_dkim_key_t key;
	struct pool_job *next;
} pool_job_t;

struct mns_dkim_pool {
	uv_loop_t *loop;
	void (*ready)(void *data);
	void *data;
	size_t size;
	int bits;
	mns_dkim_key_t *keys;
	size_t n;
	pool_job_t *jobs; /* In flight: queued or running. */
	size_t in_flight, generated, taken;
	atomic_bool stop;
	bool closing;       /* Being freed. */
	bool stopping;      /* The loop is winding down: no more generations. */
	bool failing;       /* The last generation failed: refill only on demand. */
};

/** At most this many generations at once: the pool must not take over the
 *  machine's cores (the thread pool also serves others). */
#define POOL_PARALLEL 1

static void refill(mns_dkim_pool_t *pool);

static void job_work(uv_work_t *req)
{
	pool_job_t *job = req->data;
	job->ret = mns_dkim_keygen(false, job->bits, &job->pool->stop, &job->key);
	/* The thread pool's threads outlive the plugin: release what OpenSSL
	 * keeps per thread (error queue, …) now rather than never. */
	OPENSSL_thread_stop();
}

static void job_done(uv_work_t *req, int status)
{
	pool_job_t *job = req->data;
	mns_dkim_pool_t *pool = job->pool;

	for (pool_job_t **pp = &pool->jobs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	}
	pool->in_flight--;
	bool added = false;
	if (status == 0 && job->ret == MNS_OK && !pool->closing && job->key.bits == pool->bits &&
	    pool->n < pool->size) {
		pool->keys[pool->n++] = job->key;
		memset(&job->key, 0, sizeof(job->key));
		pool->generated++;
		pool->failing = false;
		added = true;
	} else if (status == 0 && job->ret != MNS_OK && !pool->closing) {
		pool->failing = true;
	}
	mns_dkim_key_wipe(&job->key);
	free(job);
	if (pool->closing)
		return;
	refill(pool);
	if (added && pool->ready != NULL)
		pool->ready(pool->data);
}

static void refill(mns_dkim_pool_t *pool)
{
	if (pool->loop == NULL || pool->closing || pool->stopping || pool->failing)
		return;
	while (pool->in_flight < POOL_PARALLEL && pool->n + pool->in_flight < pool->size) {
		pool_job_t *job = calloc(1, sizeof(*job));
		if (job == NULL)
			return;
		job->pool = pool;
		job->bits = pool->bits;
		job->req.data = job;
		if (uv_queue_work(pool->loop, &job->req, job_work, job_done) != 0) {
			free(job);
			return;
		}
		job->next = pool->jobs;
		pool->jobs = job;
		pool->in_flight++;
	}
}

/** Stops generating: aborts the running job, cancels the queued ones. */
static void pool_stop(mns_dkim_pool_t *pool)
{
	pool->stopping = true;
	atomic_store(&pool->stop, true);
	for (pool_job_t *job = pool->jobs; job != NULL; job = job->next)
		uv_cancel((uv_req_t *)&job->req); /* Fails (harmlessly) for a running one. */
}

void mns_dkim_pool_stop(mns_dkim_pool_t *pool)
{
	if (pool != NULL)
		pool_stop(pool);
}

mns_dkim_pool_t *mns_dkim_pool_new(void *loop, void (*ready)(void *data), void *data)
{
	mns_dkim_pool_t *pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return NULL;
	pool->loop = loop;
	pool->ready = ready;
	pool->data = data;
	pool->bits = 2048;
	atomic_init(&pool->stop, false);
	return pool;
}

void mns_dkim_pool_configure(mns_dkim_pool_t *pool, size_t size, int bits)
{
	if (pool == NULL)
		return;
	/* Keys of another size, and any beyond the new size, are wiped. */
	size_t kept = 0;
	for (size_t i = 0; i < pool->n; i++) {
		if (pool->keys[i].bits == bits && kept < size)
			pool->keys[kept++] = pool->keys[i];
		else
			mns_dkim_key_wipe(&pool->keys[i]);
	}
	pool->n = kept;
	if (pool->keys == NULL || size != pool->size) {
		mns_dkim_key_t *keys = realloc(pool->keys, (size ? size : 1) * sizeof(*keys));
		if (keys == NULL) /* The old array stays, as large as it was. */
			size = pool->keys == NULL ? 0 : size < pool->size ? size : pool->size;
		else
			pool->keys = keys;
	}
	pool->size = pool->keys != NULL ? size : 0;
	pool->bits = bits;
	pool->failing = false;
	refill(pool);
}

bool mns_dkim_pool_take(mns_dkim_pool_t *pool, int bits, mns_dkim_key_t *out)
{
	if (pool == NULL)
		return false;
	bool found = false;
	for (size_t i = pool->n; i-- > 0;) {
		if (pool->keys[i].bits != bits)
			continue;
		*out = pool->keys[i];
		pool->keys[i] = pool->keys[pool->n - 1];
		memset(&pool->keys[pool->n - 1], 0, sizeof(pool->keys[0]));
		pool->n--;
		pool->taken++;
		found = true;
		break;
	}
	pool->failing = false;
	refill(pool);
	return found;
}

void mns_dkim_pool_stats(const mns_dkim_pool_t *pool, mns_dkim_pool_stats_t *st)
{
	memset(st, 0, sizeof(*st));
	if (pool == NULL)
		return;
	st->size = pool->size;
	st->available = pool->n;
	st->in_flight = pool->in_flight;
	st->generated = pool->generated;
	st->taken = pool->taken;
}

void mns_dkim_pool_free(mns_dkim_pool_t *pool)
{
	if (pool == NULL)
		return;
	pool->closing = true;
	pool_stop(pool); /* A running RSA generation aborts; queued ones never start. */
	/* The jobs' completions must run before the plugin's code is unmapped
	 * (and they use this memory): each job is an active request, so the loop
	 * does not return before the worker thread has posted it. */
	while (pool->in_flight > 0 && pool->loop != NULL)
		uv_run(pool->loop, UV_RUN_ONCE);
	for (size_t i = 0; i < pool->n; i++)
		mns_dkim_key_wipe(&pool->keys[i]);
	free(pool->keys);
	free(pool);
}
