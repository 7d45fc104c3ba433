/*  A test plugin that exercises every part of the plugin API: a config
 *  schema, section checks, records, a public view without secrets, control
 *  commands, a timer, and the tenant services.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mailns/plugin.h"

typedef struct probe {
	char greeting[64];
	long ticks;
	mns_plugin_timer_t *timer;
} probe_t;

static const mns_conf_item_t schema[] = {
	{ "greeting", MNS_CONF_STR, "hello", 0, 0, "first word of the probe TXT" },
	{ NULL },
};

static void tick(mns_plugin_t *p, void *data)
{
	((probe_t *)data)->ticks++;
}

static int probe_init(mns_plugin_t *p, mns_error_t *err)
{
	probe_t *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return MNS_ENOMEM;
	mns_plugin_set_data(p, st);
	st->timer = mns_plugin_timer_start(p, 5, 5, tick, st);
	return MNS_OK;
}

static int probe_configure(mns_plugin_t *p, const json_t *conf, mns_error_t *err)
{
	probe_t *st = mns_plugin_data(p);
	const char *g = json_string_value(json_object_get(conf, "greeting"));
	if (strcmp(g, "fail") == 0)
		return mns_error_set_key(err, "greeting", "bad_greeting", "'fail' is not a greeting");
	snprintf(st->greeting, sizeof(st->greeting), "%s", g);
	return MNS_OK;
}

static void probe_fini(mns_plugin_t *p)
{
	free(mns_plugin_data(p));
}

static int probe_check(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *old,
                       const json_t *in, json_t **out, mns_error_t *err)
{
	static const char *const keys[] = { "word", "secret", NULL };
	if (json_is_null(in))
		in = old = NULL; /* Reset: back to the defaults. */
	int ret = mns_json_check_keys(in, "probe", keys, err);
	if (ret != MNS_OK)
		return ret;
	json_t *m = mns_json_merge(old, in);
	const json_t *w = json_object_get(m, "word");
	if (w == NULL) {
		json_object_set_new(m, "word", json_string("w"));
	} else if (!json_is_string(w) || strspn(json_string_value(w), "abcdefghijklmnopqrstuvwxyz") !=
	                                       strlen(json_string_value(w))) {
		json_decref(m);
		return mns_error_set_key(err, "word", "invalid_probe", "word must be lowercase letters");
	}
	*out = m;
	return MNS_OK;
}

static int probe_build(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                       mns_zone_builder_t *zb, mns_error_t *err)
{
	probe_t *st = mns_plugin_data(p);
	const char *word = json_string_value(json_object_get(section, "word"));
	char text[160];
	snprintf(text, sizeof(text), "%s %s", st->greeting, word);
	if (strcmp(word, "clash") == 0) {
		/* NS at the apex belongs to the core. */
		static const uint8_t ns[] = "\x02" "ns" "\x07" "example";
		return mns_zb_add_rdata(zb, "@", 2 /* NS */, t->ttl, ns, sizeof(ns), err);
	}
	if (strcmp(word, "outside") == 0)
		return mns_zb_add_txt(zb, "elsewhere.example.", t->ttl, text, err);
	if (strcmp(word, "report") == 0) {
		/* A record in a vendor zone, skipped when no such zone is served. */
		char owner[300];
		snprintf(owner, sizeof(owner), "%s._report._dmarc.vendor.example", t->domain);
		int ret = mns_zb_add_vendor_txt(zb, owner, t->ttl, "v=DMARC1", err);
		if (ret != MNS_OK && ret != MNS_ENOENT)
			return ret;
	}
	return mns_zb_add_txt(zb, "probe", t->ttl, text, err);
}

static int probe_hosted(mns_plugin_t *p, mns_zone_builder_t *zb, mns_error_t *err)
{
	probe_t *st = mns_plugin_data(p);
	return mns_zb_add_txt(zb, "_probe", 300, st->greeting, err);
}

static int probe_instructions(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                              mns_instructions_t *ins, mns_error_t *err)
{
	if (t->mode != MNS_MODE_CNAME)
		return MNS_OK;
	char name[300], value[300];
	snprintf(name, sizeof(name), "probe.%s", t->domain);
	snprintf(value, sizeof(value), "probe.%s", t->base);
	return mns_instr_add(ins, name, "CNAME", value, true, "probe \"record\"");
}

static json_t *probe_public(mns_plugin_t *p, const json_t *section)
{
	json_t *pub = json_deep_copy(section);
	json_object_del(pub, "secret");
	return pub;
}

static int cmd_ticks(mns_plugin_t *p, const json_t *args, json_t **result, mns_error_t *err)
{
	*result = json_pack("{s:I}", "ticks", (json_int_t)((probe_t *)mns_plugin_data(p))->ticks);
	return MNS_OK;
}

static int cmd_set(mns_plugin_t *p, const json_t *args, json_t **result, mns_error_t *err)
{
	const char *tenant = json_string_value(json_object_get(args, "tenant"));
	const char *word = json_string_value(json_object_get(args, "word"));
	if (tenant == NULL || word == NULL)
		return mns_error_set(err, "missing_field", "tenant and word are required");
	json_t *doc = mns_plugin_tenant_get(p, tenant);
	if (doc == NULL)
		return mns_error_set(err, "unknown_tenant", "no tenant '%s'", tenant), MNS_ENOENT;
	json_t *sec = json_deep_copy(json_object_get(doc, "probe"));
	json_object_set_new(sec, "word", json_string(word));
	int ret = mns_plugin_tenant_set_section(p, tenant, sec, err);
	json_decref(sec);
	json_decref(doc);
	return ret;
}

static const mns_plugin_command_t commands[] = {
	{ "probe.ticks", cmd_ticks, "timer ticks so far" },
	{ "probe.set", cmd_set, "set the word of a tenant" },
	{ NULL },
};

MNS_PLUGIN(probe) = {
	.abi_major = MNS_PLUGIN_ABI_MAJOR,
	.abi_minor = MNS_PLUGIN_ABI_MINOR,
	.struct_size = sizeof(mns_plugin_api_t),
	.name = "probe",
	.version = "1",
	.summary = "test plugin",
	.schema = schema,
	.init = probe_init,
	.configure = probe_configure,
	.fini = probe_fini,
	.tenant_check = probe_check,
	.tenant_build = probe_build,
	.tenant_instructions = probe_instructions,
	.tenant_public = probe_public,
	.commands = commands,
	.hosted_build = probe_hosted,
};
