/*  dmarc — publishes each tenant's DMARC policy record (RFC 7489).
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  One TXT at "_dmarc" below the tenant's base. The vendor's config gives the
 *  defaults; the tenant section {p, sp, pct, rua, ruf, adkim, aspf, fo}
 *  overrides any of them. Tags are written in a fixed order, v and p first:
 *
 *      v=DMARC1; p=none; sp=reject; pct=50; rua=mailto:a@example.net;
 *      ruf=mailto:f@example.net; adkim=s; aspf=s; fo=1
 *
 *  Tags at their RFC defaults (pct=100, adkim=r, aspf=r) and empty rua/ruf
 *  are left out.
 *
 *  Report addresses outside the customer's domain get their RFC 7489 7.1
 *  authorisation "<policy domain>._report._dmarc.<report domain> TXT
 *  v=DMARC1" when the report domain is in a zone this server serves for the
 *  vendor (mns_zb_add_vendor_txt).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailns/plugin.h"

#define DMARC_URIS_MAX 1024 /**< Longest rua/ruf value we accept, with its NUL. */

/** The plugin's configuration (plugin data). */
typedef struct dmarc_conf {
	char p[16];
	char rua[DMARC_URIS_MAX];
	char ruf[DMARC_URIS_MAX];
	char adkim[2];
	char aspf[2];
	int pct;
} dmarc_conf_t;

static const dmarc_conf_t dmarc_defaults = {
    .p = "none", .rua = "", .ruf = "", .adkim = "r", .aspf = "r", .pct = 100};

static const mns_conf_item_t dmarc_schema[] = {
    {"policy", MNS_CONF_STR, "none", 0, 0, "default policy p=: none, quarantine or reject"},
    {"rua", MNS_CONF_STR, "mailto:dmarc@vendor.example", 0, 0,
     "aggregate report URIs, e.g. mailto:dmarc-reports@vendor.example (empty: no rua)"},
    {"ruf", MNS_CONF_STR, "", 0, 0, "failure report URIs (empty: no ruf)"},
    {"adkim", MNS_CONF_STR, "r", 0, 0, "DKIM alignment: r (relaxed) or s (strict)"},
    {"aspf", MNS_CONF_STR, "r", 0, 0, "SPF alignment: r (relaxed) or s (strict)"},
    {"pct", MNS_CONF_INT, "100", 0, 100, "percentage of failing mail the policy applies to"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static const dmarc_conf_t *conf_of(const mns_plugin_t *p)
{
	const dmarc_conf_t *c = mns_plugin_data(p);
	return c != NULL ? c : &dmarc_defaults;
}

/* --- Validation ----------------------------------------------------------- */

/** Lowercases \a in into \a out if it is one of the NULL-terminated \a words. */
static bool one_of(const char *in, const char *const *words, char *out, size_t outlen)
{
	if (in == NULL)
		return false;
	for (; *words != NULL; words++) {
		if (strcasecmp(in, *words) == 0 && strlen(*words) < outlen) {
			memcpy(out, *words, strlen(*words) + 1);
			return true;
		}
	}
	return false;
}

static const char *const policies[] = {"none", "quarantine", "reject", NULL};
static const char *const alignments[] = {"r", "s", NULL};

/** fo: colon-separated 0, 1, d, s (RFC 7489 6.3). */
static bool fo_normalize(const char *in, char *out, size_t outlen)
{
	size_t len = strlen(in), j = 0;
	if (len == 0 || len >= outlen)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = (char)tolower((unsigned char)in[i]);
		bool opt = c == '0' || c == '1' || c == 'd' || c == 's';
		bool first = i == 0 || in[i - 1] == ':';
		if (opt ? !first : (c != ':' || first || i == len - 1))
			return false;
		out[j++] = c;
	}
	out[j] = '\0';
	return true;
}

/** Validates one "mailto:local@domain[!size]" URI and appends its normalised
 *  form to \a out. */
static bool uri_normalize(const char *s, size_t len, char *out, size_t outlen)
{
	char buf[DMARC_URIS_MAX], domain[256];
	mns_error_t e;

	if (len <= 7 || len >= sizeof(buf) || strncasecmp(s, "mailto:", 7) != 0)
		return false;
	memcpy(buf, s + 7, len - 7);
	buf[len - 7] = '\0';

	/* An optional size limit: "!" 1*DIGIT [k|m|g|t]. */
	char *bang = strchr(buf, '!');
	char size[24] = "";
	if (bang != NULL) {
		const char *d = bang + 1;
		size_t nd = strspn(d, "0123456789");
		if (nd == 0 || nd > 15 || strlen(d + nd) > 1 ||
		    (d[nd] != '\0' && strchr("kmgtKMGT", d[nd]) == NULL))
			return false;
		snprintf(size, sizeof(size), "!%s", d);
		for (char *c = size; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		*bang = '\0';
	}

	char *at = strrchr(buf, '@');
	if (at == NULL || at == buf || at - buf > 64)
		return false;
	*at = '\0';
	/* The local part: letters, digits and the few characters that need no
	 * escaping in a URI and mean nothing to DMARC (',' '!' ';' must be %-encoded). */
	for (const char *c = buf; *c; c++)
		if (!isalnum((unsigned char)*c) && strchr("-._~+=&'$*%", *c) == NULL)
			return false;
	if (buf[0] == '.' || at[-1] == '.' || strstr(buf, "..") != NULL)
		return false;
	if (mns_dname_normalize(at + 1, false, domain, sizeof(domain), &e) != MNS_OK ||
	    strchr(domain, '.') == NULL)
		return false;

	size_t n = strlen(out);
	int w =
	    snprintf(out + n, outlen - n, "%smailto:%s@%s%s", n > 0 ? "," : "", buf, domain, size);
	return w > 0 && (size_t)w < outlen - n;
}

/** rua/ruf: comma-separated mailto: URIs (RFC 7489 6.4); "" means none. */
static int uris_normalize(const char *in, const char *key, const char *code, char *out,
                          size_t outlen, mns_error_t *err)
{
	const char *s = in;
	out[0] = '\0';
	while (*s != '\0') {
		while (*s == ' ' || *s == '\t')
			s++;
		size_t len = strcspn(s, ",");
		size_t tl = len;
		while (tl > 0 && (s[tl - 1] == ' ' || s[tl - 1] == '\t'))
			tl--;
		if (tl == 0 || !uri_normalize(s, tl, out, outlen))
			return mns_error_set_key(err, key, code,
			                         "%s: '%.*s' is not a mailto: URI with a valid "
			                         "address, e.g. mailto:dmarc-reports@example.net "
			                         "(several are separated by commas)",
			                         key, (int)(tl > 200 ? 200 : tl), s);
		s += len;
		if (*s == ',') {
			s++;
			if (*s == '\0')
				return mns_error_set_key(err, key, code,
				                         "%s ends with a comma: '%s'", key, in);
		}
	}
	return MNS_OK;
}

/* --- Lifecycle ------------------------------------------------------------ */

/** Reads optional string \a key of the config. */
static int conf_str(const json_t *conf, const char *key, const char **out, mns_error_t *err)
{
	const json_t *v = json_object_get(conf, key);
	*out = NULL;
	if (v == NULL || json_is_null(v))
		return MNS_OK;
	if (!json_is_string(v))
		return mns_error_set_key(err, key, "invalid_config", "%s must be a string", key);
	*out = json_string_value(v);
	return MNS_OK;
}

static int dmarc_configure(mns_plugin_t *p, const json_t *conf, mns_error_t *err)
{
	dmarc_conf_t next = dmarc_defaults;
	const char *s;
	int ret;

	if ((ret = conf_str(conf, "policy", &s, err)) != MNS_OK)
		return ret;
	if (s != NULL && !one_of(s, policies, next.p, sizeof(next.p)))
		return mns_error_set_key(err, "policy", "invalid_config",
		                         "policy '%s' must be none, quarantine or reject", s);
	if ((ret = conf_str(conf, "adkim", &s, err)) != MNS_OK)
		return ret;
	if (s != NULL && !one_of(s, alignments, next.adkim, sizeof(next.adkim)))
		return mns_error_set_key(err, "adkim", "invalid_config",
		                         "adkim '%s' must be r (relaxed) or s (strict)", s);
	if ((ret = conf_str(conf, "aspf", &s, err)) != MNS_OK)
		return ret;
	if (s != NULL && !one_of(s, alignments, next.aspf, sizeof(next.aspf)))
		return mns_error_set_key(err, "aspf", "invalid_config",
		                         "aspf '%s' must be r (relaxed) or s (strict)", s);
	if ((ret = conf_str(conf, "rua", &s, err)) != MNS_OK)
		return ret;
	if (s != NULL &&
	    (ret = uris_normalize(s, "rua", "invalid_config", next.rua, sizeof(next.rua), err)))
		return ret;
	if ((ret = conf_str(conf, "ruf", &s, err)) != MNS_OK)
		return ret;
	if (s != NULL &&
	    (ret = uris_normalize(s, "ruf", "invalid_config", next.ruf, sizeof(next.ruf), err)))
		return ret;
	const json_t *v = json_object_get(conf, "pct");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100)
			return mns_error_set_key(err, "pct", "invalid_config",
			                         "pct must be an integer from 0 to 100");
		next.pct = (int)json_integer_value(v);
	}

	dmarc_conf_t *c = mns_plugin_data(p);
	if (c == NULL) {
		c = malloc(sizeof(*c));
		if (c == NULL) {
			mns_error_set(err, "out_of_memory", "dmarc: out of memory");
			return MNS_ENOMEM;
		}
		mns_plugin_set_data(p, c);
	}
	*c = next;
	return MNS_OK;
}

static void dmarc_fini(mns_plugin_t *p)
{
	free(mns_plugin_data(p));
	mns_plugin_set_data(p, NULL);
}

/* --- Hooks ---------------------------------------------------------------- */

/** Validates tag \a tag of \a merged and sets its normalised value in \a sec. */
static int check_tag(const json_t *merged, const char *tag, json_t *sec, mns_error_t *err)
{
	const json_t *v = json_object_get(merged, tag);
	char key[16], out[DMARC_URIS_MAX];
	int ret;

	if (v == NULL)
		return MNS_OK;
	snprintf(key, sizeof(key), "dmarc.%s", tag);

	if (strcmp(tag, "pct") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100)
			return mns_error_set_key(err, key, "invalid_dmarc",
			                         "dmarc pct must be an integer from 0 to 100");
		return json_object_set_new(sec, tag, json_integer(json_integer_value(v))) == 0
		           ? MNS_OK
		           : MNS_ENOMEM;
	}
	if (!json_is_string(v))
		return mns_error_set_key(err, key, "invalid_dmarc", "dmarc %s must be a string",
		                         tag);
	const char *s = json_string_value(v);

	if (strcmp(tag, "p") == 0 || strcmp(tag, "sp") == 0) {
		if (!one_of(s, policies, out, sizeof(out)))
			return mns_error_set_key(err, key, "invalid_dmarc",
			                         "dmarc %s '%s' must be none, quarantine or reject",
			                         tag, s);
	} else if (strcmp(tag, "adkim") == 0 || strcmp(tag, "aspf") == 0) {
		if (!one_of(s, alignments, out, sizeof(out)))
			return mns_error_set_key(err, key, "invalid_dmarc",
			                         "dmarc %s '%s' must be r (relaxed) or s (strict)",
			                         tag, s);
	} else if (strcmp(tag, "fo") == 0) {
		if (!fo_normalize(s, out, sizeof(out)))
			return mns_error_set_key(
			    err, key, "invalid_dmarc",
			    "dmarc fo '%s' must be options 0, 1, d or s separated "
			    "by ':', e.g. \"1\" or \"d:s\"",
			    s);
	} else {
		ret = uris_normalize(s, key, "invalid_dmarc", out, sizeof(out), err);
		if (ret != MNS_OK)
			return ret;
	}
	return json_object_set_new(sec, tag, json_string(out)) == 0 ? MNS_OK : MNS_ENOMEM;
}

static const char *const dmarc_tags[] = {"p",     "sp",   "pct", "rua", "ruf",
                                         "adkim", "aspf", "fo",  NULL};

static int dmarc_tenant_check(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *old,
                              const json_t *in, json_t **out, mns_error_t *err)
{
	json_t *merged = NULL, *sec = NULL;
	int ret = MNS_OK;

	/* A null section resets it: the vendor defaults apply again. */
	if (in != NULL && json_is_null(in)) {
		in = NULL;
		old = NULL;
	}
	if (in != NULL && !json_is_object(in))
		return mns_error_set_key(
		    err, "dmarc", "invalid_dmarc",
		    "the dmarc section must be an object such as "
		    "{\"p\": \"quarantine\", \"rua\": \"mailto:d@example.net\"}");
	if (in != NULL && (ret = mns_json_check_keys(in, "dmarc", dmarc_tags, err)) != MNS_OK)
		return ret;
	if (old != NULL && !json_is_object(old))
		old = NULL;

	merged = in != NULL    ? mns_json_merge(old, in)
	         : old != NULL ? json_deep_copy(old)
	                       : json_object();
	sec = json_object();
	if (merged == NULL || sec == NULL) {
		ret = MNS_ENOMEM;
		goto out;
	}
	for (const char *const *tag = dmarc_tags; *tag != NULL; tag++)
		if ((ret = check_tag(merged, *tag, sec, err)) != MNS_OK)
			goto out;
out:
	if (ret == MNS_ENOMEM)
		mns_error_set(err, "out_of_memory", "dmarc: out of memory");
	json_decref(merged);
	if (ret != MNS_OK) {
		json_decref(sec);
		return ret;
	}
	*out = sec;
	return MNS_OK;
}

/** The tenant's value of string tag \a tag, or \a dflt. */
static const char *tag_str(const json_t *section, const char *tag, const char *dflt)
{
	const char *s = json_string_value(json_object_get(section, tag));
	return s != NULL ? s : dflt;
}

/** Appends "; tag=value" to the record (copied, not printed: start-up
 *  builds every tenant's record). False, and nothing usable, if it does not fit. */
static bool add_tag(char *buf, size_t size, size_t *len, const char *tag, const char *value)
{
	size_t tl = strlen(tag), vl = strlen(value), n = 2 + tl + 1 + vl;
	if (n >= size - *len)
		return false;
	char *w = buf + *len;
	memcpy(w, "; ", 2);
	memcpy(w + 2, tag, tl);
	w[2 + tl] = '=';
	memcpy(w + 3 + tl, value, vl + 1);
	*len += n;
	return true;
}

/** The domain whose DMARC record a receiver reads for this tenant's mail:
 *  the From: domain. In ns mode that is the delegated zone (the record is at
 *  _dmarc.mgeu.example.com); in cname mode the customer's own domain
 *  (_dmarc.example.com is the customer's CNAME to our record). */
static const char *policy_domain(const mns_tenant_ctx_t *t)
{
	return t->mode == MNS_MODE_CNAME ? t->domain : t->base;
}

/** True if \a name is \a domain or below it. */
static bool at_or_below(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);
	return n == d ? strcmp(name, domain) == 0
	              : n > d && name[n - d - 1] == '.' && strcmp(name + n - d, domain) == 0;
}

/** The report domains of a normalised URI list ("mailto:a@x.example!10m,…"),
 *  each once, into \a out (up to \a max). */
static size_t report_domains(const char *uris, char (*out)[256], size_t n, size_t max)
{
	const char *s = uris;
	while (s != NULL && *s != '\0') {
		size_t len = strcspn(s, ",");
		char uri[DMARC_URIS_MAX];
		size_t ul = len < sizeof(uri) - 1 ? len : sizeof(uri) - 1;
		memcpy(uri, s, ul);
		uri[ul] = '\0';
		s += len + (s[len] == ',');
		char *at = strrchr(uri, '@');
		if (at == NULL)
			continue;
		char *bang = strchr(at, '!');
		if (bang != NULL)
			*bang = '\0';
		bool seen = false;
		for (size_t i = 0; i < n && !seen; i++)
			seen = strcmp(out[i], at + 1) == 0;
		if (!seen && n < max && strlen(at + 1) < sizeof(out[0]))
			memcpy(out[n++], at + 1, strlen(at + 1) + 1);
	}
	return n;
}

/** RFC 7489 7.1: a receiver sends reports to an address outside the policy
 *  domain only if "<policy domain>._report._dmarc.<report domain>" holds a
 *  TXT record starting with "v=DMARC1". For each rua/ruf domain outside the
 *  customer's domain that lies in a zone this server serves for the vendor
 *  (a static zone or the hosted zone), that record is published with the
 *  tenant; report domains served elsewhere are skipped (their owner must
 *  publish the record, or a "*._report._dmarc" wildcard). */
static int add_report_auths(mns_plugin_t *p, const mns_tenant_ctx_t *t, const char *rua,
                            const char *ruf, mns_zone_builder_t *zb, mns_error_t *err)
{
	char domains[16][256];
	size_t n = report_domains(rua, domains, 0, 16);
	n = report_domains(ruf, domains, n, 16);
	const char *policy = policy_domain(t);

	for (size_t i = 0; i < n; i++) {
		/* Inside the customer's domain: the same organisation, nothing to
		 * authorise (and not a zone of the vendor's anyway). */
		if (at_or_below(domains[i], t->domain) || at_or_below(domains[i], policy))
			continue;
		char owner[600];
		int w = snprintf(owner, sizeof(owner), "%s._report._dmarc.%s", policy, domains[i]);
		if (w < 0 || w > 253) {
			mns_plugin_log(p, MNS_LOG_WARNING,
			               "tenant %s: cannot authorise DMARC reports to %s: the name "
			               "%s._report._dmarc.%s is longer than 253 octets",
			               t->id, domains[i], policy, domains[i]);
			continue;
		}
		mns_error_t e = {0};
		int ret = mns_zb_add_vendor_txt(zb, owner, t->ttl, "v=DMARC1", &e);
		if (ret == MNS_ENOENT || ret == MNS_EINVAL) {
			/* Not a zone of ours (or another tenant's): its owner decides. */
			mns_plugin_log(p, MNS_LOG_DEBUG, "tenant %s: %s not published: %s", t->id,
			               owner, e.message);
			continue;
		}
		if (ret != MNS_OK) {
			*err = e;
			return ret;
		}
	}
	return MNS_OK;
}

static int dmarc_tenant_build(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                              mns_zone_builder_t *zb, mns_error_t *err)
{
	const dmarc_conf_t *c = conf_of(p);
	char text[4 * DMARC_URIS_MAX], num[16];
	size_t len;
	bool ok = true;

	const char *pol = tag_str(section, "p", c->p);
	const char *sp = tag_str(section, "sp", NULL);
	const json_t *jpct = json_object_get(section, "pct");
	json_int_t pct = json_is_integer(jpct) ? json_integer_value(jpct) : c->pct;
	const char *rua = tag_str(section, "rua", c->rua);
	const char *ruf = tag_str(section, "ruf", c->ruf);
	const char *adkim = tag_str(section, "adkim", c->adkim);
	const char *aspf = tag_str(section, "aspf", c->aspf);
	const char *fo = tag_str(section, "fo", NULL);

	len = (size_t)snprintf(text, sizeof(text), "v=DMARC1");
	ok = ok && add_tag(text, sizeof(text), &len, "p", pol);
	if (sp != NULL)
		ok = ok && add_tag(text, sizeof(text), &len, "sp", sp);
	if (pct != 100) {
		snprintf(num, sizeof(num), "%d", (int)pct);
		ok = ok && add_tag(text, sizeof(text), &len, "pct", num);
	}
	if (*rua != '\0')
		ok = ok && add_tag(text, sizeof(text), &len, "rua", rua);
	if (*ruf != '\0')
		ok = ok && add_tag(text, sizeof(text), &len, "ruf", ruf);
	if (strcmp(adkim, "s") == 0)
		ok = ok && add_tag(text, sizeof(text), &len, "adkim", "s");
	if (strcmp(aspf, "s") == 0)
		ok = ok && add_tag(text, sizeof(text), &len, "aspf", "s");
	if (fo != NULL)
		ok = ok && add_tag(text, sizeof(text), &len, "fo", fo);
	if (!ok)
		return mns_error_set(err, "invalid_dmarc", "tenant %s: DMARC record too long",
		                     t->id);

	int ret = mns_zb_add_txt(zb, "_dmarc", t->ttl, text, err);
	if (ret == MNS_OK)
		ret = add_report_auths(p, t, rua, ruf, zb, err);
	return ret;
}

static int dmarc_tenant_instructions(mns_plugin_t *p, const mns_tenant_ctx_t *t,
                                     const json_t *section, mns_instructions_t *ins,
                                     mns_error_t *err)
{
	char name[512], value[512];

	if (t->mode != MNS_MODE_CNAME)
		return MNS_OK;
	int n1 = snprintf(name, sizeof(name), "_dmarc.%s", t->domain);
	int n2 = snprintf(value, sizeof(value), "_dmarc.%s", t->base);
	if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(name) || (size_t)n2 >= sizeof(value))
		return mns_error_set(err, "invalid_dmarc", "name too long");
	int ret = mns_instr_add(ins, name, "CNAME", value, false,
	                        "DMARC policy, only if the domain has no DMARC record of "
	                        "its own");
	if (ret != MNS_OK)
		mns_error_set(err, "out_of_memory", "dmarc: cannot add instructions");
	return ret;
}

MNS_PLUGIN(dmarc) = {
    .abi_major = MNS_PLUGIN_ABI_MAJOR,
    .abi_minor = MNS_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(mns_plugin_api_t),
    .name = "dmarc",
    .version = "0.1.0",
    .summary = "DMARC policy record (vendor defaults, tenant overrides)",
    .schema = dmarc_schema,
    .configure = dmarc_configure,
    .fini = dmarc_fini,
    .tenant_check = dmarc_tenant_check,
    .tenant_build = dmarc_tenant_build,
    .tenant_instructions = dmarc_tenant_instructions,
};
