/*  mx — publishes the bounce (envelope sender) domain's MX records.
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  Receivers check that the MAIL FROM domain can receive mail (bounces), so
 *  the tenant's mail label ("@" in ns mode, "bounce" in cname mode) gets the
 *  vendor's bounce hosts as MX records. A tenant may override them with
 *  {"hosts": [{"preference": 10, "exchange": "mx1.example.net"}]}.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailns/plugin.h"

#define MX_HOSTS_MAX 16    /**< Most MX records per tenant or vendor. */
#define MX_DEFAULT_PREF 10 /**< Preference when none is given. */

typedef struct mx_host {
	uint16_t preference;
	char exchange[256]; /**< Normalised: lowercase, no trailing dot. */
} mx_host_t;

/** The plugin's configuration (plugin data). */
typedef struct mx_conf {
	size_t n_hosts;
	mx_host_t hosts[MX_HOSTS_MAX];
} mx_conf_t;

static const mx_conf_t mx_defaults = {1, {{10, "mx.vendor.example"}}};

static const mns_conf_item_t mx_schema[] = {
    {"hosts", MNS_CONF_LIST, "10:mx.vendor.example", 0, 0,
     "the vendor's bounce hosts, each PREF:HOST or HOST (preference 10)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static const mx_conf_t *conf_of(const mns_plugin_t *p)
{
	const mx_conf_t *c = mns_plugin_data(p);
	return c != NULL ? c : &mx_defaults;
}

/* --- Validation ----------------------------------------------------------- */

/** Validates an exchange host name into \a out (256 octets). */
static int exchange_normalize(const char *in, const char *key, const char *code, char *out,
                              mns_error_t *err)
{
	mns_error_t e;
	if (in == NULL || *in == '\0' || strcmp(in, ".") == 0)
		return mns_error_set_key(err, key, code,
		                         "an MX exchange is required; a null MX (\".\", RFC 7505) "
		                         "would refuse the bounces this domain exists to receive");
	if (mns_dname_normalize(in, false, out, 256, &e) != MNS_OK)
		return mns_error_set_key(err, key, code, "MX exchange '%s' is not a host name: %s",
		                         in, e.message);
	const char *dot = strrchr(out, '.');
	bool numeric = true;
	for (const char *c = dot != NULL ? dot + 1 : out; *c; c++)
		numeric = numeric && isdigit((unsigned char)*c);
	if (numeric)
		return mns_error_set_key(err, key, code,
		                         "MX exchange '%s' must be a host name, not an address "
		                         "(RFC 5321 5.1)",
		                         in);
	if (dot == NULL)
		return mns_error_set_key(
		    err, key, code, "MX exchange '%s' must be a fully qualified host name", in);
	return MNS_OK;
}

/** Appends a host unless its exchange is already listed. */
static int hosts_add(mx_host_t *hosts, size_t *n, uint16_t pref, const char *exchange,
                     const char *key, const char *code, mns_error_t *err)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(hosts[i].exchange, exchange) == 0)
			return mns_error_set_key(err, key, code, "MX exchange '%s' is listed twice",
			                         exchange);
	if (*n >= MX_HOSTS_MAX)
		return mns_error_set_key(err, key, code, "at most %d MX hosts are allowed",
		                         MX_HOSTS_MAX);
	hosts[*n].preference = pref;
	snprintf(hosts[*n].exchange, sizeof(hosts[*n].exchange), "%s", exchange);
	(*n)++;
	return MNS_OK;
}

/** Parses one config entry "PREF:HOST" or "HOST". */
static int conf_entry(mx_conf_t *c, const char *s, size_t len, mns_error_t *err)
{
	char buf[300], host[256];
	long pref = MX_DEFAULT_PREF;
	const char *name = buf;

	if (len >= sizeof(buf))
		return mns_error_set_key(err, "hosts", "invalid_config", "hosts entry too long");
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *colon = strchr(buf, ':');
	if (colon != NULL) {
		char *end = NULL;
		*colon = '\0';
		if (buf[0] == '\0' || !isdigit((unsigned char)buf[0]))
			goto bad_pref;
		pref = strtol(buf, &end, 10);
		if (*end != '\0' || pref < 0 || pref > 65535)
			goto bad_pref;
		name = colon + 1;
	}
	int ret = exchange_normalize(name, "hosts", "invalid_config", host, err);
	if (ret != MNS_OK)
		return ret;
	return hosts_add(c->hosts, &c->n_hosts, (uint16_t)pref, host, "hosts", "invalid_config",
	                 err);
bad_pref:
	return mns_error_set_key(err, "hosts", "invalid_config",
	                         "hosts entry '%s': the preference before ':' must be 0 to "
	                         "65535, as in 10:mx.vendor.example",
	                         s);
}

/** Parses the whitespace-separated entries of \a text. */
static int conf_entries(mx_conf_t *c, const char *text, mns_error_t *err)
{
	while (*text != '\0') {
		while (isspace((unsigned char)*text))
			text++;
		size_t len = strcspn(text, " \t\r\n");
		if (len == 0)
			break;
		int ret = conf_entry(c, text, len, err);
		if (ret != MNS_OK)
			return ret;
		text += len;
	}
	return MNS_OK;
}

/* --- Lifecycle ------------------------------------------------------------ */

static int mx_configure(mns_plugin_t *p, const json_t *conf, mns_error_t *err)
{
	mx_conf_t next = {0};
	const json_t *v = json_object_get(conf, "hosts"), *e;
	size_t i;
	int ret = MNS_OK;

	if (v == NULL || json_is_null(v)) {
		next = mx_defaults;
	} else if (json_is_string(v)) {
		ret = conf_entries(&next, json_string_value(v), err);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				return mns_error_set_key(
				    err, "hosts", "invalid_config",
				    "hosts must be a list of PREF:HOST entries");
			ret = conf_entries(&next, json_string_value(e), err);
			if (ret != MNS_OK)
				break;
		}
	} else {
		return mns_error_set_key(err, "hosts", "invalid_config",
		                         "hosts must be a list of PREF:HOST entries");
	}
	if (ret != MNS_OK)
		return ret;
	if (next.n_hosts == 0)
		return mns_error_set_key(err, "hosts", "invalid_config",
		                         "hosts needs at least one bounce host, e.g. "
		                         "10:mx.vendor.example");

	mx_conf_t *c = mns_plugin_data(p);
	if (c == NULL) {
		c = malloc(sizeof(*c));
		if (c == NULL) {
			mns_error_set(err, "out_of_memory", "mx: out of memory");
			return MNS_ENOMEM;
		}
		mns_plugin_set_data(p, c);
	}
	*c = next;
	return MNS_OK;
}

static void mx_fini(mns_plugin_t *p)
{
	free(mns_plugin_data(p));
	mns_plugin_set_data(p, NULL);
}

/* --- Hooks ---------------------------------------------------------------- */

static int mx_tenant_check(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *old,
                           const json_t *in, json_t **out, mns_error_t *err)
{
	static const char *const allowed[] = {"hosts", NULL};
	static const char *const host_keys[] = {"preference", "exchange", NULL};
	json_t *merged = NULL, *sec = NULL, *arr = NULL;
	const json_t *hosts, *h;
	mx_host_t seen[MX_HOSTS_MAX];
	size_t n = 0, i;
	int ret;

	/* A null section resets it: the vendor defaults apply again. */
	if (in != NULL && json_is_null(in)) {
		in = NULL;
		old = NULL;
	}
	if (in != NULL && !json_is_object(in))
		return mns_error_set_key(
		    err, "mx", "invalid_mx",
		    "the mx section must be an object such as {\"hosts\": "
		    "[{\"preference\": 10, \"exchange\": \"mx1.example.net\"}]}");
	if (in != NULL && (ret = mns_json_check_keys(in, "mx", allowed, err)) != MNS_OK)
		return ret;
	if (old != NULL && !json_is_object(old))
		old = NULL;

	merged = in != NULL    ? mns_json_merge(old, in)
	         : old != NULL ? json_deep_copy(old)
	                       : json_object();
	sec = json_object();
	if (merged == NULL || sec == NULL)
		goto nomem;

	hosts = json_object_get(merged, "hosts");
	if (hosts != NULL) {
		if (!json_is_array(hosts) || json_array_size(hosts) == 0) {
			ret = mns_error_set_key(
			    err, "mx.hosts", "invalid_mx",
			    "mx.hosts must list at least one host, e.g. "
			    "[{\"preference\": 10, \"exchange\": "
			    "\"mx1.example.net\"}] (null reverts to the vendor's)");
			goto fail;
		}
		if ((arr = json_array()) == NULL)
			goto nomem;
		json_array_foreach(hosts, i, h)
		{
			char key[48], host[256];
			snprintf(key, sizeof(key), "mx.hosts[%zu]", i);
			if (!json_is_object(h)) {
				ret = mns_error_set_key(err, key, "invalid_mx",
				                        "%s must be an object {\"preference\": 10, "
				                        "\"exchange\": \"mx1.example.net\"}",
				                        key);
				goto fail;
			}
			ret = mns_json_check_keys(h, key, host_keys, err);
			if (ret != MNS_OK)
				goto fail;
			const json_t *jp = json_object_get(h, "preference");
			json_int_t pref = MX_DEFAULT_PREF;
			if (jp != NULL) {
				pref = json_integer_value(jp);
				if (!json_is_integer(jp) || pref < 0 || pref > 65535) {
					ret = mns_error_set_key(err, key, "invalid_mx",
					                        "%s.preference must be an integer "
					                        "from 0 to 65535",
					                        key);
					goto fail;
				}
			}
			const json_t *je = json_object_get(h, "exchange");
			if (!json_is_string(je)) {
				ret = mns_error_set_key(err, key, "invalid_mx",
				                        "%s.exchange must be a host name such as "
				                        "\"mx1.example.net\"",
				                        key);
				goto fail;
			}
			ret =
			    exchange_normalize(json_string_value(je), key, "invalid_mx", host, err);
			if (ret == MNS_OK)
				ret = hosts_add(seen, &n, (uint16_t)pref, host, key, "invalid_mx",
				                err);
			if (ret != MNS_OK)
				goto fail;
			if (json_array_append_new(arr, json_pack("{s:I, s:s}", "preference", pref,
			                                         "exchange", host)) != 0)
				goto nomem;
		}
		if (json_object_set(sec, "hosts", arr) != 0)
			goto nomem;
	}

	json_decref(arr);
	json_decref(merged);
	*out = sec;
	return MNS_OK;
nomem:
	mns_error_set(err, "out_of_memory", "mx: out of memory");
	ret = MNS_ENOMEM;
fail:
	json_decref(arr);
	json_decref(sec);
	json_decref(merged);
	return ret;
}

static int add_mx(const mns_tenant_ctx_t *t, mns_zone_builder_t *zb, json_int_t pref,
                  const char *exchange, mns_error_t *err)
{
	char target[300];
	size_t n = strlen(exchange); /* Copied, not printed: every tenant at start-up. */
	if (n + 1 >= sizeof(target))
		return mns_error_set(err, "invalid_mx", "MX exchange too long: %.60s", exchange);
	memcpy(target, exchange, n);
	target[n] = '.';
	target[n + 1] = '\0';
	return mns_zb_add_mx(zb, t->mail_label, t->ttl, (uint16_t)pref, target, err);
}

static int mx_tenant_build(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                           mns_zone_builder_t *zb, mns_error_t *err)
{
	const json_t *hosts = json_object_get(section, "hosts"), *h;
	size_t i;
	int ret;

	if (json_array_size(hosts) > 0) {
		json_array_foreach(hosts, i, h)
		{
			const json_t *jp = json_object_get(h, "preference");
			const char *ex = json_string_value(json_object_get(h, "exchange"));
			json_int_t pref = jp != NULL ? json_integer_value(jp) : MX_DEFAULT_PREF;
			if (ex == NULL || pref < 0 || pref > 65535)
				return mns_error_set_key(
				    err, "mx.hosts", "invalid_mx",
				    "tenant %s: stored mx.hosts[%zu] is invalid", t->id, i);
			if ((ret = add_mx(t, zb, pref, ex, err)) != MNS_OK)
				return ret;
		}
		return MNS_OK;
	}

	const mx_conf_t *c = conf_of(p);
	for (i = 0; i < c->n_hosts; i++)
		if ((ret = add_mx(t, zb, c->hosts[i].preference, c->hosts[i].exchange, err)) !=
		    MNS_OK)
			return ret;
	return MNS_OK;
}

static int mx_tenant_instructions(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                                  mns_instructions_t *ins, mns_error_t *err)
{
	char value[512];

	if (t->mode != MNS_MODE_CNAME)
		return MNS_OK;
	int n = strcmp(t->mail_label, "@") == 0
	            ? snprintf(value, sizeof(value), "%s", t->base)
	            : snprintf(value, sizeof(value), "%s.%s", t->mail_label, t->base);
	if (n < 0 || (size_t)n >= sizeof(value))
		return mns_error_set(err, "invalid_mx", "name too long: %s.%s", t->mail_label,
		                     t->base);
	int ret = mns_instr_add(ins, t->mail_domain, "CNAME", value, true,
	                        "bounce (envelope sender) domain: MX and SPF");
	if (ret != MNS_OK)
		mns_error_set(err, "out_of_memory", "mx: cannot add instructions");
	return ret;
}

MNS_PLUGIN(mx) = {
    .abi_major = MNS_PLUGIN_ABI_MAJOR,
    .abi_minor = MNS_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(mns_plugin_api_t),
    .name = "mx",
    .version = "0.1.0",
    .summary = "bounce (envelope sender) domain MX records",
    .schema = mx_schema,
    .configure = mx_configure,
    .fini = mx_fini,
    .tenant_check = mx_tenant_check,
    .tenant_build = mx_tenant_build,
    .tenant_instructions = mx_tenant_instructions,
};
