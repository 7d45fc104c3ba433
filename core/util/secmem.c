/*  Secrets in memory. Wipe-on-free for JSON: tenant documents carry private
 *  keys, and jansson copies strings freely; every block it frees is zeroed
 *  first. Key buffers of their own live in OpenSSL's secure heap.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "log/log.h"
#include "util/json_arena.h"
#include "util/secmem.h"
#include "util/util.h"

void mns_wipe_free(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void mns_json_secure_init(void)
{
	/* Through json_arena.c: blocks of the start-up walk's arena are not
	 * freed one by one; every other block is wiped and freed here. */
	json_set_alloc_funcs(mns_json_alloc, mns_json_free);
}

/* --- The secure heap -------------------------------------------------------- */

/* Why OpenSSL's secure heap rather than our own mmap per secret: RSA key
 * generation keeps its private numbers (d, p, q, …) in it by itself once it
 * is set up, the PEM encoder's BIO_s_secmem uses it, and the plugins, which
 * see only plugin.h and OpenSSL, reach it with OPENSSL_secure_malloc(). One
 * mapping, page-aligned, with MADV_DONTDUMP and guard pages. */
int mns_secret_init(size_t size)
{
	if (CRYPTO_secure_malloc_initialized())
		return MNS_OK;
	int rc = CRYPTO_secure_malloc_init(size, 16);
	if (rc == 0) {
		mns_log(MNS_LOG_WARNING, "secure memory unavailable: private keys live in the "
		        "ordinary heap (still wiped when freed)");
		return MNS_ERROR;
	}
	if (rc == 2)
		mns_log(MNS_LOG_NOTICE, "secure memory (%zu KiB) is not locked in RAM (RLIMIT_MEMLOCK): "
		        "private keys may be swapped", size >> 10);
	return MNS_OK;
}

void mns_secret_done(void)
{
	if (CRYPTO_secure_malloc_initialized())
		(void)CRYPTO_secure_malloc_done();
}

void *mns_secret_alloc(size_t n)
{
	void *p = OPENSSL_secure_zalloc(n);
	/* Full (or absent) secure heap: ordinary memory, still wiped on free. */
	return p != NULL ? p : OPENSSL_zalloc(n);
}

void mns_secret_free(void *p, size_t n)
{
	/* Clears the whole block in the secure heap, n octets otherwise. */
	OPENSSL_secure_clear_free(p, n);
}

bool mns_secret_is_secure(const void *p)
{
	return CRYPTO_secure_malloc_initialized() && CRYPTO_secure_allocated(p);
}
