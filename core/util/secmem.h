/*  Memory for secrets (DKIM private keys): OpenSSL's secure heap, which is
 *  mmap'ed apart from the ordinary heap, marked MADV_DONTDUMP (left out of
 *  core dumps), mlock'ed where the limit allows (never swapped), fenced by
 *  guard pages, and cleared on free. OpenSSL itself puts RSA private key
 *  numbers there once it exists, and plugins reach it through
 *  OPENSSL_secure_malloc()/OPENSSL_secure_clear_free().
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_SECMEM_H
#define MNS_SECMEM_H

#include <stdbool.h>
#include <stddef.h>

/** Size of the secure heap mailnsd sets up: a few hundred RSA-4096 PEM keys. */
#define MNS_SECRET_HEAP_SIZE (1u << 20)

/** \brief Sets up the secure heap (once, before any thread, after fork:
 *  mlock does not survive fork). \return MNS_OK (locked or not: see the
 *  log), or MNS_ERROR when there is none; allocations then fall back to the
 *  ordinary heap and are still wiped on free. */
int mns_secret_init(size_t size);
/** \brief Releases the heap at exit (only once every secret is freed). */
void mns_secret_done(void);
/** \brief Zeroed memory for \a n octets of secret, from the secure heap
 *  (the ordinary heap when it is full or missing). NULL on OOM. */
void *mns_secret_alloc(size_t n);
/** \brief Wipes \a n octets at \a p (the size asked for) and frees it. */
void mns_secret_free(void *p, size_t n);
/** \brief Wipes the whole malloc() block \a p and frees it: for ordinary
 *  buffers that may have held a secret (a control reply carrying keys). */
void mns_wipe_free(void *p);
/** \brief Whether \a p lies in the secure heap. */
bool mns_secret_is_secure(const void *p);

#endif
