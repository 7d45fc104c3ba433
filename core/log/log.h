/*  Logging: syslog levels, one key=value line per event.
 *
 *  Where lines go:
 *  - stderr (the default, and in the foreground): "<time> level=<name> <text>";
 *  - stderr connected to the journal (systemd sets JOURNAL_STREAM to the
 *    device and inode of the stream, which we compare with stderr's): the
 *    line starts with "<N>", the syslog priority journald reads
 *    (SyslogLevelPrefix), and carries no time (the journal adds one);
 *  - syslog(3), after mns_log_use_syslog() (a daemon without a terminal).
 *  Safe from any thread: each line is one write (or one syslog() call).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_LOG_H
#define MNS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include "mailns/plugin.h"

/** \brief Sets the highest level printed (MNS_LOG_ERR … MNS_LOG_DEBUG). */
void mns_log_set_level(int level);
/** \brief True when a line at \a level would be written (skip costly formatting otherwise). */
bool mns_log_enabled(int level);
/** \brief Looks at stderr once: when it is the journal's stream, lines get
 *  "<N>" priority prefixes instead of a time. Call at start. */
void mns_log_init(void);
/** \brief Sends every following line to syslog(3) with \a ident (facility
 *  daemon), e.g. once the daemon detached from its terminal. */
void mns_log_use_syslog(const char *ident);
/** \brief Back to stderr (closes syslog if it was open). */
void mns_log_close(void);
/** \brief Logs one line at \a level. */
void mns_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** \brief va_list variant of mns_log(). */
void mns_vlog(int level, const char *prefix, const char *fmt, va_list ap);
/** \brief Writes \a in as the value of a key=value pair: as it is when it is
 *  non-empty and holds only printable characters other than space, '"' and
 *  '\\'; otherwise in double quotes with '"', '\\' and control characters
 *  escaped. Truncates to fit. \return \a out. */
char *mns_log_quote(char *out, size_t outlen, const char *in);

#endif
