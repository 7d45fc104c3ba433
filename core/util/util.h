/*  Small helpers shared by the core.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_UTIL_H
#define MNS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define MNS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** Thread-local storage of the daemon itself. The core is compiled as
 *  position-independent code (it is linked into tests and tools as well),
 *  which would give its thread-locals the general-dynamic model: a call to
 *  __tls_get_addr() on every access (the JSON allocator's is per block) and
 *  a link to the dynamic loader. The core is never dlopen'ed, so the
 *  initial-exec model (one %fs-relative load) is always valid here. */
#define MNS_THREAD_LOCAL _Thread_local __attribute__((tls_model("initial-exec")))

/** \brief Text for an MNS_E* or -errno code. \return static string. */
const char *mns_strerror(int code);

/** \brief Monotonic milliseconds. */
uint64_t mns_now_ms(void);

/** \brief Makes jansson wipe every block it frees (documents hold keys). */
void mns_json_secure_init(void);

/** \brief The timeout to give uv_timer_start() for "after \a ms": 0 becomes 1.
 *  "0 ms" must mean the next loop turn, after the loop has polled for I/O.
 *  libuv 1.44 (Debian 12) runs a timer started from a timer callback with a
 *  0 timeout in the same pass, so a job done in slices that re-arms at 0
 *  after each slice never let the loop poll: control requests and signals
 *  waited for the whole job (79 s while 100,000 keys were sealed).
 *  \return the timeout in milliseconds. */
static inline uint64_t mns_timer_after(uint64_t ms)
{
	return ms > 0 ? ms : 1;
}

#endif
