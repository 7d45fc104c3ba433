/*  dkim — private keys sealed at rest: the store key and AES-256-GCM.
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  The tenant store never holds a private key in the clear. LMDB copies the
 *  pages a write transaction changes into ordinary heap buffers and reuses
 *  them without clearing, and data.mdb keeps old pages until they are
 *  reused, so whatever the store holds ends up in core dumps and backups.
 *  Each selector therefore carries "sealed":
 *
 *      base64(0x01 || nonce (12) || AES-256-GCM(PEM) || tag (16))
 *
 *  with "<tenant>\0<selector>" as additional authenticated data: a blob
 *  copied to another tenant or selector does not open. The 32-octet store
 *  key lives in a file of its own (store-key-file, 0600), is read into
 *  OpenSSL's secure heap (left out of core dumps, wiped on free) and never
 *  leaves it; opened keys land there too.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "dkim_internal.h"

#define SEAL_VERSION 0x01
#define SEAL_NONCE 12
#define SEAL_TAG 16
#define SEAL_OVERHEAD (1 + SEAL_NONCE + SEAL_TAG)

struct mns_dkim_skey {
	unsigned char *key; /**< MNS_DKIM_SKEY_LEN octets in the secure heap. */
};

/* --- The store key ----------------------------------------------------------- */

static mns_dkim_skey_t *skey_alloc(void)
{
	mns_dkim_skey_t *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	if ((k->key = mns_dkim_secret_alloc(MNS_DKIM_SKEY_LEN)) == NULL) {
		free(k);
		return NULL;
	}
	return k;
}

mns_dkim_skey_t *mns_dkim_skey_new(const unsigned char raw[MNS_DKIM_SKEY_LEN])
{
	mns_dkim_skey_t *k = skey_alloc();
	if (k != NULL)
		memcpy(k->key, raw, MNS_DKIM_SKEY_LEN);
	return k;
}

mns_dkim_skey_t *mns_dkim_skey_random(void)
{
	mns_dkim_skey_t *k = skey_alloc();
	if (k != NULL && RAND_priv_bytes(k->key, MNS_DKIM_SKEY_LEN) != 1) {
		mns_dkim_skey_free(k);
		return NULL;
	}
	return k;
}

void mns_dkim_skey_free(mns_dkim_skey_t *k)
{
	if (k == NULL)
		return;
	OPENSSL_secure_clear_free(k->key, MNS_DKIM_SKEY_LEN);
	free(k);
}

static int skey_sys_error(mns_error_t *err, const char *what, const char *path)
{
	return mns_error_set_key(err, "store-key-file", "store_key", "dkim: %s %s: %s", what, path,
	                         strerror(errno));
}

/** Syncs the directory holding \a path, so that a new name survives a crash. */
static int sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/** Creates key file \a path (O_EXCL, 0600) with fresh random octets, written
 *  and synced (file and directory) before any key is sealed with it. Run as
 *  root over a directory that belongs to the service user, the file goes to
 *  that user too (the daemon may drop privileges and restart). */
static int skey_create(const char *path, mns_dkim_skey_t **out, mns_error_t *err)
{
	mns_dkim_skey_t *k = mns_dkim_skey_random();
	if (k == NULL)
		return mns_error_set_key(err, "store-key-file", "store_key",
		                         "dkim: cannot generate the store key"),
		       MNS_ERROR;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		mns_dkim_skey_free(k);
		return skey_sys_error(err, "cannot create the store key file", path);
	}
	int ret = MNS_OK;
	size_t done = 0;
	if (fchmod(fd, 0600) != 0) {
		ret = skey_sys_error(err, "cannot set mode 0600 on", path);
		goto out;
	}
	while (done < MNS_DKIM_SKEY_LEN) {
		ssize_t n = write(fd, k->key + done, MNS_DKIM_SKEY_LEN - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = skey_sys_error(err, "cannot write the store key file", path);
			goto out;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0) {
		ret = skey_sys_error(err, "cannot sync the store key file", path);
		goto out;
	}
	if (geteuid() == 0) {
		char dir[PATH_MAX];
		const char *slash = strrchr(path, '/');
		struct stat st;
		snprintf(dir, sizeof(dir), "%.*s", slash != NULL ? (int)(slash - path) : 1,
		         slash != NULL ? path : ".");
		if (dir[0] != '\0' && stat(dir, &st) == 0 && st.st_uid != 0)
			(void)fchown(fd, st.st_uid, st.st_gid);
	}
out:
	close(fd);
	if (ret == MNS_OK && sync_parent(path) != 0)
		ret = skey_sys_error(err, "cannot sync the directory of", path);
	if (ret != MNS_OK) {
		unlink(path); /* Nothing was sealed with it: leave no half-made key. */
		mns_dkim_skey_free(k);
		return ret;
	}
	*out = k;
	return MNS_OK;
}

int mns_dkim_skey_load(const char *path, bool create, mns_dkim_skey_t **out, bool *created,
                       mns_error_t *err)
{
	*out = NULL;
	if (created != NULL)
		*created = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if (!create)
			return mns_error_set_key(err, "store-key-file", "store_key",
			                         "dkim: store key file %s does not exist", path),
			       MNS_ENOENT;
		int ret = skey_create(path, out, err);
		if (ret == MNS_OK && created != NULL)
			*created = true;
		return ret;
	}
	if (fd < 0)
		return skey_sys_error(err, "cannot open the store key file", path);

	struct stat st;
	int ret = MNS_OK;
	mns_dkim_skey_t *k = NULL;
	if (fstat(fd, &st) != 0) {
		ret = skey_sys_error(err, "cannot stat the store key file", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = mns_error_set_key(err, "store-key-file", "store_key",
		                        "dkim: store key file %s is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		ret = mns_error_set_key(err, "store-key-file", "store_key",
		                        "dkim: store key file %s is accessible to group or others "
		                        "(mode %04o): it must be 0600 (chmod 600 %s)",
		                        path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size != MNS_DKIM_SKEY_LEN) {
		ret = mns_error_set_key(err, "store-key-file", "store_key",
		                        "dkim: store key file %s holds %lld octets, not %d: it is "
		                        "not a mailns store key (or it is damaged)",
		                        path, (long long)st.st_size, MNS_DKIM_SKEY_LEN);
		goto out;
	}
	if ((k = skey_alloc()) == NULL) {
		ret = mns_error_set(err, "out_of_memory", "dkim: out of memory");
		goto out;
	}
	size_t done = 0;
	while (done < MNS_DKIM_SKEY_LEN) {
		ssize_t n = read(fd, k->key + done, MNS_DKIM_SKEY_LEN - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? skey_sys_error(err, "cannot read the store key file", path)
			            : mns_error_set_key(err, "store-key-file", "store_key",
			                                "dkim: store key file %s is short", path);
			goto out;
		}
		done += (size_t)n;
	}
out:
	close(fd);
	if (ret != MNS_OK) {
		mns_dkim_skey_free(k);
		return ret < 0 ? ret : MNS_ERROR;
	}
	*out = k;
	return MNS_OK;
}

/* --- Sealing ----------------------------------------------------------------- */

/** Feeds "<tenant>\0<selector>" to \a ctx as additional authenticated data. */
static bool set_aad(EVP_CIPHER_CTX *ctx, bool enc, const char *tenant, const char *selector)
{
	int outl;
	int (*update)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int) =
	    enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;
	size_t tl = strlen(tenant) + 1, sl = strlen(selector); /* Tenant with its NUL. */
	return tl <= INT_MAX && sl <= INT_MAX &&
	       update(ctx, NULL, &outl, (const unsigned char *)tenant, (int)tl) == 1 &&
	       update(ctx, NULL, &outl, (const unsigned char *)selector, (int)sl) == 1;
}

char *mns_dkim_seal(const mns_dkim_skey_t *k, const char *tenant, const char *selector,
                    const char *pem, size_t len)
{
	if (k == NULL || tenant == NULL || selector == NULL || pem == NULL || len == 0 ||
	    len > INT_MAX / 2)
		return NULL;
	size_t blen = SEAL_OVERHEAD + len;
	unsigned char *blob = malloc(blen); /* Ciphertext only: no secret. */
	char *out = NULL;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, fin = 0;
	if (blob == NULL || ctx == NULL)
		goto out;
	blob[0] = SEAL_VERSION;
	if (RAND_bytes(blob + 1, SEAL_NONCE) != 1 ||
	    EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), k->key, blob + 1, NULL) != 1 ||
	    !set_aad(ctx, true, tenant, selector) ||
	    EVP_EncryptUpdate(ctx, blob + 1 + SEAL_NONCE, &outl, (const unsigned char *)pem,
	                      (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, blob + 1 + SEAL_NONCE + outl, &fin) != 1 ||
	    (size_t)(outl + fin) != len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, blob + 1 + SEAL_NONCE + len) !=
	        1)
		goto out;
	out = mns_dkim_b64_encode(blob, blen);
out:
	ERR_clear_error();
	EVP_CIPHER_CTX_free(ctx); /* Cleanses the expanded key. */
	free(blob);
	return out;
}

/** Decodes base64 \a in (no line breaks) into a new buffer. \return its
 *  length, or 0 when \a in is not base64 or on OOM. */
static size_t b64_decode(const char *in, unsigned char **out)
{
	size_t len = strlen(in), pad = 0;
	*out = NULL;
	if (len == 0 || len % 4 != 0 || len > INT_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		           (c >= '0' && c <= '9') || c == '+' || c == '/';
		if (c == '=' && i >= len - 2)
			pad++;
		else if (!b64 || pad > 0)
			return 0;
	}
	unsigned char *buf = malloc(len / 4 * 3 + 1);
	if (buf == NULL)
		return 0;
	int n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad) {
		free(buf);
		return 0;
	}
	*out = buf;
	return (size_t)n - pad;
}

int mns_dkim_unseal(const mns_dkim_skey_t *k, const char *tenant, const char *selector,
                    const char *sealed, char **pem, size_t *len)
{
	unsigned char *blob = NULL;
	char *plain = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int ret = MNS_EINVAL, outl = 0, fin = 0;

	*pem = NULL;
	*len = 0;
	if (k == NULL || tenant == NULL || selector == NULL || sealed == NULL)
		return MNS_EINVAL;
	size_t blen = b64_decode(sealed, &blob);
	if (blen <= SEAL_OVERHEAD || blob[0] != SEAL_VERSION)
		goto out;
	size_t clen = blen - SEAL_OVERHEAD;
	unsigned char *ct = blob + 1 + SEAL_NONCE;
	if ((plain = mns_dkim_secret_alloc(clen + 1)) == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL) {
		ret = MNS_ENOMEM;
		goto out;
	}
	if (EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), k->key, blob + 1, NULL) != 1 ||
	    !set_aad(ctx, false, tenant, selector) ||
	    EVP_DecryptUpdate(ctx, (unsigned char *)plain, &outl, ct, (int)clen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, ct + clen) != 1 ||
	    EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + outl, &fin) != 1 ||
	    (size_t)(outl + fin) != clen)
		goto out; /* Wrong key, tenant or selector, or a damaged blob. */
	plain[clen] = '\0';
	*pem = plain;
	*len = clen;
	plain = NULL;
	ret = MNS_OK;
out:
	ERR_clear_error();
	EVP_CIPHER_CTX_free(ctx);
	if (plain != NULL)
		OPENSSL_secure_clear_free(plain, clen + 1);
	free(blob);
	return ret;
}

void mns_dkim_unsealed_free(char *pem, size_t len)
{
	if (pem != NULL)
		OPENSSL_secure_clear_free(pem, len + 1);
}

/* --- Sections ------------------------------------------------------------------ */

int mns_dkim_seal_section(const mns_dkim_skey_t *k, const char *tenant, json_t *sec, size_t *n)
{
	json_t *sel;
	size_t i;
	if (n != NULL)
		*n = 0;
	json_array_foreach(json_object_get(sec, "selectors"), i, sel)
	{
		const json_t *priv = json_object_get(sel, "private");
		if (priv == NULL)
			continue;
		const char *name = json_string_value(json_object_get(sel, "selector"));
		if (!json_is_string(priv) || name == NULL)
			return MNS_EINVAL;
		char *sealed = mns_dkim_seal(k, tenant, name, json_string_value(priv),
		                             json_string_length(priv));
		if (sealed == NULL)
			return MNS_ERROR;
		int rc = json_object_set_new(sel, "sealed", json_string(sealed));
		free(sealed);
		if (rc != 0)
			return MNS_ENOMEM;
		/* The daemon's jansson allocator wipes the plaintext as it frees it. */
		json_object_del(sel, "private");
		if (n != NULL)
			(*n)++;
	}
	return MNS_OK;
}

size_t mns_dkim_section_count(const json_t *sec, const char *field)
{
	const json_t *sel;
	size_t i, n = 0;
	json_array_foreach(json_object_get(sec, "selectors"), i, sel)
	{
		n += json_object_get(sel, field) != NULL;
	}
	return n;
}
