/*  Replication to stock secondaries: SOA/AXFR/IXFR out, TSIG, an address and
 *  key ACL, NOTIFY out and a catalog zone (RFC 5936, 1995, 8945, 1996, 9432).
 *
 *  Everything runs on the main loop. The query threads (core/net) ask
 *  mns_xfr_wants() about each message, lock-free; only those it claims are
 *  handed to the main loop, which offers them to mns_xfr_udp()/mns_xfr_tcp()
 *  and answers the ones they decline with mns_dns_process().
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_XFR_H
#define MNS_XFR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "server.h"

/** \brief Reads the [xfr] section, attaches to the zone index (catalog and
 *  NOTIFY follow every publication) and stores the state in \a s->xfr.
 *  \return MNS_OK, or MNS_EINVAL with "file:line: key: problem" in \a errbuf. */
int mns_xfr_init(mns_server_t *s, char *errbuf, size_t errlen);
/** \brief Opens the NOTIFY socket and timers on \a s->loop. \return MNS_OK or an error (logged). */
int mns_xfr_start(mns_server_t *s);
/** \brief Closes the NOTIFY socket and timers (the loop runs their close callbacks). */
void mns_xfr_stop(mns_server_t *s);
/** \brief Detaches from the index and frees the state (after mns_xfr_stop). */
void mns_xfr_deinit(mns_server_t *s);

/** \brief Whether \a q may be a transfer request, a query for the catalog
 *  or TSIG-signed: then it must go to mns_xfr_udp()/mns_xfr_tcp() on the
 *  main loop. Any thread: reads only settings fixed at start, no lock. */
bool mns_xfr_wants(const mns_server_t *s, const uint8_t *q, size_t qlen);
/** \brief Offers a UDP message. \return true when it was handled here; then
 *  \a *out is the response length (0: send nothing) written to \a resp. */
bool mns_xfr_udp(mns_server_t *s, const struct sockaddr *from, const uint8_t *q, size_t qlen,
                 uint8_t *resp, size_t resp_max, size_t *out);
/** \brief Offers a TCP message. \return true when it was handled here; then
 *  \a *out is a malloc'd buffer of \a *outlen octets holding one or more
 *  length-framed responses (NULL: send nothing), owned by the caller. */
bool mns_xfr_tcp(mns_server_t *s, const struct sockaddr *from, const uint8_t *q, size_t qlen,
                 uint8_t **out, size_t *outlen);

/** \brief The [xfr] schema (for documentation tests). */
extern const mns_conf_item_t mns_xfr_schema[];

#endif
