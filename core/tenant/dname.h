/*  Names as operators and customers type them: validation and normalisation.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_DNAME_H
#define MNS_DNAME_H

#include <stdbool.h>
#include <stddef.h>
#include "mailns/plugin.h"

/** Longest presentation name we keep (253 octets of text plus NUL). */
#define MNS_DNAME_TXT_MAX 254

/** \brief Checks a tenant id: [a-z0-9][a-z0-9-]{0,62}. \return MNS_OK or MNS_EINVAL ("invalid_tenant_id"). */
int mns_tenant_id_check(const char *id, mns_error_t *err);

/** \brief Turns what a customer pasted into a domain: trims spaces, lowercases,
 *  drops a trailing dot, takes the domain of an e-mail address (with a notice),
 *  converts U-labels to A-labels (IDNA 2008, libidn2), and refuses web
 *  addresses and anything else with a message saying what to enter.
 *  \param[out] out at least MNS_DNAME_TXT_MAX octets.
 *  \param[out] notice "" or a sentence describing the normalisation (\a nlen octets).
 *  \return MNS_OK or MNS_EINVAL with err ("invalid_domain"). */
int mns_domain_from_user(const char *in, char *out, char *notice, size_t nlen, mns_error_t *err);

/** \brief Checks one DNS label typed by an operator (LDH, 1-63 octets). */
int mns_label_check(const char *label, bool allow_underscore, mns_error_t *err);

/** \brief True if \a name equals \a zone or is below it (text, normalised). */
bool mns_dname_in_zone(const char *name, const char *zone);

#endif
