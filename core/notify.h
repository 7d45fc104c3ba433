/*  Start-up, reload and stop notifications to the service manager
 *  (sd_notify(3): systemd Type=notify). Without $NOTIFY_SOCKET every call is
 *  a no-op, so the daemon behaves the same outside systemd.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_NOTIFY_H
#define MNS_NOTIFY_H

#include <stdbool.h>

#include "server.h"

/** \brief READY=1 and a STATUS= line. Call it once, as the very last step of
 *  start-up: after the DNS sockets are bound, the zones are built, the control
 *  socket listens (and after any privilege drop), because systemd starts the
 *  units ordered after mailnsd, and `systemctl start` returns, on READY=1. */
void mns_notify_ready(const mns_server_t *s);

/** \brief RELOADING=1 with MONOTONIC_USEC (systemd >= 253 requires the time
 *  stamp for reload notifications; older versions ignore it), before SIGHUP's
 *  reload starts. */
void mns_notify_reloading(void);

/** \brief READY=1 after a reload, with a STATUS= saying whether the new
 *  configuration was \a applied or rejected (the old one keeps serving). */
void mns_notify_reloaded(const mns_server_t *s, bool applied);

/** \brief STOPPING=1 when an orderly stop begins. */
void mns_notify_stopping(void);

/** \brief STATUS= with the reason start-up failed (shown by systemctl status). */
void mns_notify_failed(const char *why);

#endif
