/*  verify: proves that a tenant's delegation is live.
 *
 *  This first part owns the tenant's challenge: a random token, generated at
 *  tenant.add and published in ns mode as TXT _mailns-challenge.<zone>, and
 *  the verification state, which starts "pending".
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>
#include <sys/random.h>

#include "mailns/plugin.h"

#define TOKEN_LEN 32

/* 32 characters of base32 (lowercase, DNS-safe): 160 bits of randomness. */
static int new_token(char out[TOKEN_LEN + 1], mns_error_t *err)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char raw[TOKEN_LEN];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return mns_error_set(err, "internal", "no randomness for the challenge token");
	for (size_t i = 0; i < TOKEN_LEN; i++)
		out[i] = alphabet[raw[i] & 31];
	out[TOKEN_LEN] = '\0';
	return MNS_OK;
}

static int verify_check(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *old,
                        const json_t *in, json_t **out, mns_error_t *err)
{
	/* The section is the plugin's own bookkeeping: callers may reset it
	 * (null: a fresh token, pending again) but not write it. */
	bool reset = in != NULL && json_is_null(in);
	if (in != NULL && !reset)
		return mns_error_set_key(err, "verify", "read_only_field",
		                         "the verify section is managed by mailns: use verify.now to check a tenant");
	if (old != NULL && !reset && json_is_string(json_object_get(old, "token"))) {
		*out = json_deep_copy(old);
		return MNS_OK;
	}
	char token[TOKEN_LEN + 1];
	int ret = new_token(token, err);
	if (ret != MNS_OK)
		return ret;
	*out = json_pack("{s:s, s:s}", "token", token, "state", "pending");
	return *out ? MNS_OK : MNS_ENOMEM;
}

static int verify_build(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                        mns_zone_builder_t *zb, mns_error_t *err)
{
	const char *token = json_string_value(json_object_get(section, "token"));
	/* cname mode needs no token: the customer's CNAMEs are the proof. */
	if (t->mode != MNS_MODE_NS || token == NULL)
		return MNS_OK;
	return mns_zb_add_txt(zb, "_mailns-challenge", t->ttl, token, err);
}

MNS_PLUGIN(verify) = {
	.abi_major = MNS_PLUGIN_ABI_MAJOR,
	.abi_minor = MNS_PLUGIN_ABI_MINOR,
	.struct_size = sizeof(mns_plugin_api_t),
	.name = "verify",
	.version = "0.1",
	.summary = "challenge token and delegation verification state",
	.tenant_check = verify_check,
	.tenant_build = verify_build,
};
