/*  JSON helpers offered to plugins.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "mailns/plugin.h"

MNS_API json_t *mns_json_merge(const json_t *old, const json_t *in)
{
	json_t *out = json_is_object(old) ? json_deep_copy(old) : json_object();
	const char *k;
	json_t *v;
	if (!json_is_object(in))
		return out;
	json_object_foreach((json_t *)in, k, v) {
		if (json_is_null(v))
			json_object_del(out, k);
		else
			json_object_set(out, k, v);
	}
	return out;
}

MNS_API int mns_json_check_keys(const json_t *obj, const char *section,
                                const char *const *allowed, mns_error_t *err)
{
	const char *k;
	json_t *v;
	if (obj == NULL)
		return MNS_OK;
	if (!json_is_object(obj))
		return mns_error_set(err, "wrong_type", "'%s' must be an object", section);
	json_object_foreach((json_t *)obj, k, v) {
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, k) == 0;
		if (!ok) {
			char list[256] = "";
			for (const char *const *a = allowed; *a; a++) {
				strncat(list, *a, sizeof(list) - strlen(list) - 3);
				if (a[1])
					strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			}
			return mns_error_set_key(err, k, "unknown_field",
			                         "unknown field '%s' in '%s' (known: %s)", k, section, list);
		}
	}
	return MNS_OK;
}
