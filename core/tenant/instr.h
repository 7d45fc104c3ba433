/*  The records a customer must add, collected from core and plugins and
 *  rendered as JSON, zone file, CSV or text.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_INSTR_H
#define MNS_INSTR_H

#include <jansson.h>
#include "mailns/plugin.h"

/** \brief A new, empty collection. */
mns_instructions_t *mns_instr_new(const char *domain, uint32_t ttl);
/** \brief Frees it. */
void mns_instr_free(mns_instructions_t *ins);
/** \brief Renders as \a format ("json", "zone", "csv", "text").
 *  \return a new JSON result object or NULL for an unknown format. */
json_t *mns_instr_render(const mns_instructions_t *ins, const char *format);

#endif
