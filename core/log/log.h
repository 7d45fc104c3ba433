/*  Logging: syslog levels, key=value friendly lines on stderr.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_LOG_H
#define MNS_LOG_H

#include <stdarg.h>
#include "mailns/plugin.h"

/** \brief Sets the highest level printed (MNS_LOG_ERR … MNS_LOG_DEBUG). */
void mns_log_set_level(int level);
/** \brief Logs one line at \a level. */
void mns_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** \brief va_list variant of mns_log(). */
void mns_vlog(int level, const char *prefix, const char *fmt, va_list ap);

#endif
