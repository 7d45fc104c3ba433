/*  verify: asynchronous DNS lookups through recursive resolvers, with c-ares
 *  driven by the main libuv loop (uv_poll_t per socket, one uv_timer_t for
 *  c-ares' timeouts). Nothing here blocks; main loop only.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_VERIFY_RESOLVER_H
#define MNS_VERIFY_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "verify_logic.h"

typedef struct mns_vresolver mns_vresolver_t;

/** Called once per query: with the answer, or with NULL when the query was
 *  cancelled (the resolver is being freed). */
typedef void (*mns_vresolver_cb)(void *data, const mns_vanswer_t *answer);

/** \brief Creates a resolver on \a loop asking \a servers (c-ares CSV:
 *  "127.0.0.1:53,[::1]:53") with \a timeout_ms per try (c-ares doubles it
 *  after each round over the servers) and \a tries rounds. Its handles do not
 *  keep the loop alive. \return 0, or -1 with \a err filled. */
int mns_vresolver_new(uv_loop_t *loop, const char *servers, int timeout_ms, int tries,
                      mns_vresolver_t **out, char *err, size_t errlen);

/** \brief Asks \a name (text) / \a type (class IN, RD set). TCP is used when
 *  an answer comes back truncated. \a cb may run before this returns (when
 *  the query cannot even be sent). */
void mns_vresolver_query(mns_vresolver_t *r, const char *name, uint16_t type, mns_vresolver_cb cb,
                         void *data);

/** \brief Queries still outstanding. */
size_t mns_vresolver_active(const mns_vresolver_t *r);

/** \brief Cancels every query (their callbacks run with NULL), closes the
 *  handles and frees the resolver once they are closed (the loop must run).
 *  Called from inside a callback of \a r, it takes effect when c-ares returns. */
void mns_vresolver_free(mns_vresolver_t *r);

#endif
