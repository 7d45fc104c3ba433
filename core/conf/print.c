/*  mailnsd --print-config: every key of a schema table as a commented
 *  reference config, read from the same tables the parser checks against.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"

static const char *type_name(mns_conf_type_t t)
{
	switch (t) {
	case MNS_CONF_STR:
		return "string";
	case MNS_CONF_INT:
		return "integer";
	case MNS_CONF_BOOL:
		return "yes or no";
	case MNS_CONF_LIST:
		return "list (separated by spaces; the key may repeat)";
	case MNS_CONF_DNAME:
		return "domain name";
	}
	return "value";
}

void mns_conf_print_section(FILE *out, const char *section, const mns_conf_item_t *schema)
{
	fprintf(out, "[%s]\n", section);
	for (const mns_conf_item_t *it = schema; it && it->key; it++) {
		fprintf(out, "# %s\n", it->help ? it->help : "");
		if (it->type == MNS_CONF_INT)
			fprintf(out, "# %s, %" PRId64 "..%" PRId64 "\n", type_name(it->type),
			        it->min, it->max);
		else
			fprintf(out, "# %s\n", type_name(it->type));
		/* The default is printed as a live line, so the output is itself a
		 * valid config equal to the embedded defaults. A key without a
		 * default is absent unless given: it stays commented out ("#key"). */
		const char *d = it->dflt ? it->dflt : "";
		if (it->dflt == NULL)
			fprintf(out, "# no default: unset unless given\n#%s =\n\n", it->key);
		else if (it->type == MNS_CONF_STR && strchr(d, ' ') != NULL)
			fprintf(out, "%s = \"%s\"\n\n", it->key, d);
		else
			fprintf(out, "%s =%s%s\n\n", it->key, d[0] ? " " : "", d);
	}
}
