/*  Small helpers shared by the core.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_UTIL_H
#define MNS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define MNS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** \brief Text for an MNS_E* or -errno code. \return static string. */
const char *mns_strerror(int code);

/** \brief Monotonic milliseconds. */
uint64_t mns_now_ms(void);

/** \brief Makes jansson wipe every block it frees (documents hold keys). */
void mns_json_secure_init(void);

#endif
