/*  spf — publishes each tenant's SPF record (RFC 7208) on the bounce domain.
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  The record is "v=spf1 <vendor mechanisms> <tenant extras> <all>", one TXT
 *  at the tenant's mail label ("@" in ns mode, "bounce" in cname mode). The
 *  tenant section is {"extra": ["ip4:192.0.2.1", ...], "all": "-all"}, both
 *  optional. Every mechanism is validated and normalised (lowercase names and
 *  domains, canonical addresses, no "+" qualifier) when it is configured or
 *  stored, so equal mechanisms compare equal as strings. A record that would
 *  need more than 10 DNS lookups is refused with the terms that cost them.
 *
 *  The vendor's own record, "v=spf1 <vendor mechanisms> <all>", is published
 *  in the hosted zone at "_spf" (hosted_build hook), so customers' own SPF
 *  records can include the vendor in one lookup.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mailns/plugin.h"

#define SPF_TERM_MAX 256  /**< Longest mechanism we accept, with its NUL. */
#define SPF_EXTRA_MAX 32  /**< Most extra mechanisms per tenant. */
#define SPF_LOOKUP_MAX 10 /**< RFC 7208 4.6.4: DNS-querying terms per evaluation. */

/** The plugin's configuration (plugin data). */
typedef struct spf_conf {
	char **mechs; /**< Normalised vendor mechanisms. */
	size_t n_mechs;
	char all[8];            /**< "-all", "~all" or "?all". */
	char include_label[64]; /**< "_spf": the include target in the hosted zone; "" = none. */
} spf_conf_t;

static const spf_conf_t spf_defaults = {
    .mechs = NULL, .n_mechs = 0, .all = "~all", .include_label = "_spf"};

static const mns_conf_item_t spf_schema[] = {
    {"mechanisms", MNS_CONF_LIST, "ip4:192.0.2.0/24", 0, 0,
     "vendor mechanisms every tenant's SPF record starts with, e.g. "
     "\"ip4:192.0.2.0/24 include:_spf.vendor.example\""},
    {"all", MNS_CONF_STR, "~all", 0, 0,
     "default final term: -all, ~all or ?all (tenants may override)"},
    {"include-label", MNS_CONF_STR, "_spf", 0, 0,
     "owner, in the hosted zone, of the vendor's own SPF record that customers can "
     "include: (empty: none)"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static const spf_conf_t *conf_of(const mns_plugin_t *p)
{
	const spf_conf_t *c = mns_plugin_data(p);
	return c != NULL ? c : &spf_defaults;
}

static void conf_free(spf_conf_t *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_mechs; i++)
		free(c->mechs[i]);
	free(c->mechs);
	free(c);
}

/* --- Validation ----------------------------------------------------------- */

/** Parses a decimal CIDR length of 1 to 3 digits, at most \a max. */
static bool parse_cidr(const char *s, size_t len, int max, int *out)
{
	if (len == 0 || len > 3)
		return false;
	int v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/** Validates a macro-expand "%{...}" at \a s (RFC 7208 7.1); returns its
 *  length or 0. Only the letters valid outside exp= are accepted. */
static size_t macro_expand_len(const char *s, size_t len)
{
	size_t i = 2;
	if (len < 4 || s[0] != '%' || s[1] != '{')
		return 0;
	if (strchr("slodiphvSLODIPHV", s[i]) == NULL)
		return 0;
	i++;
	while (i < len && isdigit((unsigned char)s[i]))
		i++;
	if (i < len && (s[i] == 'r' || s[i] == 'R'))
		i++;
	while (i < len && strchr(".-+,/_=", s[i]) != NULL)
		i++;
	if (i >= len || s[i] != '}')
		return 0;
	return i + 1;
}

/** Length of the domain-spec at the start of \a s: up to the first '/' that
 *  is not inside a macro, or the end. */
static size_t domain_spec_len(const char *s)
{
	size_t i = 0;
	bool in_macro = false;
	for (; s[i] != '\0'; i++) {
		if (!in_macro && s[i] == '%' && s[i + 1] == '{')
			in_macro = true;
		else if (in_macro && s[i] == '}')
			in_macro = false;
		else if (!in_macro && s[i] == '/')
			break;
	}
	return i;
}

/** Validates a domain-spec (RFC 7208 7.1) and writes its normalised form
 *  into \a out: a plain name is lowercased and checked label by label; a
 *  macro-string keeps its case (an uppercase macro letter means URL-escape).
 *  \return true if valid. */
static bool domain_spec(const char *s, size_t len, char *out, size_t outlen)
{
	char buf[SPF_TERM_MAX];
	mns_error_t e;

	if (len == 0 || len >= sizeof(buf) || len >= outlen)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';

	if (memchr(buf, '%', len) == NULL) {
		if (mns_dname_normalize(buf, true, out, outlen, &e) != MNS_OK)
			return false;
		/* domain-end: at least two labels, a toplabel that is not all digits. */
		const char *dot = strrchr(out, '.');
		if (dot == NULL)
			return false;
		for (const char *c = dot + 1; *c; c++)
			if (!isdigit((unsigned char)*c))
				return true;
		return false;
	}

	/* A macro-string: literal parts are host-name characters. */
	size_t i = 0;
	bool ends_in_macro = false;
	while (i < len) {
		if (buf[i] == '%') {
			if (i + 1 < len && strchr("%_-", buf[i + 1]) != NULL) {
				i += 2;
				ends_in_macro = false;
				continue;
			}
			size_t m = macro_expand_len(buf + i, len - i);
			if (m == 0)
				return false;
			i += m;
			ends_in_macro = true;
			continue;
		}
		if (!isalnum((unsigned char)buf[i]) && strchr("-_.", buf[i]) == NULL)
			return false;
		ends_in_macro = false;
		i++;
	}
	if (!ends_in_macro) {
		/* Otherwise the name must end in "." toplabel. */
		const char *dot = strrchr(buf, '.');
		const char *top = dot != NULL ? dot + 1 : NULL;
		bool alpha = false;
		if (top == NULL || *top == '\0' || strchr(top, '%') != NULL)
			return false;
		for (const char *c = top; *c; c++)
			alpha = alpha || isalpha((unsigned char)*c);
		if (!alpha)
			return false;
	}
	memcpy(out, buf, len + 1);
	return true;
}

/** Validates an optional dual-cidr-length ("/24", "//64", "/24//64") and
 *  appends it to \a out. */
static bool dual_cidr(const char *s, char *out, size_t outlen)
{
	int v4 = -1, v6 = -1;
	size_t len = strlen(s);
	if (len == 0)
		return true;
	if (s[0] != '/')
		return false;
	const char *dbl = strstr(s, "//");
	if (dbl == s) {
		if (!parse_cidr(s + 2, len - 2, 128, &v6))
			return false;
	} else if (dbl != NULL) {
		if (!parse_cidr(s + 1, (size_t)(dbl - s - 1), 32, &v4) ||
		    !parse_cidr(dbl + 2, strlen(dbl + 2), 128, &v6))
			return false;
	} else if (!parse_cidr(s + 1, len - 1, 32, &v4)) {
		return false;
	}
	size_t n = strlen(out);
	if (v4 >= 0)
		n += (size_t)snprintf(out + n, outlen - n, "/%d", v4);
	if (v6 >= 0 && n < outlen)
		n += (size_t)snprintf(out + n, outlen - n, "//%d", v6);
	return n < outlen;
}

/** Validates one SPF term from config (\a key = "mechanisms") or a tenant
 *  (\a key = "spf.extra") and writes its normalised form into \a out
 *  (SPF_TERM_MAX octets). \return MNS_OK or MNS_EINVAL with err
 *  "invalid_spf". \a lookups is incremented for DNS-querying terms. */
static int mech_normalize(const char *in, const char *key, char *out, int *lookups,
                          mns_error_t *err)
{
	char q = 0;
	const char *s = in;
	size_t len = strlen(in);

	if (len == 0)
		return mns_error_set_key(err, key, "invalid_spf", "empty SPF mechanism");
	if (len >= SPF_TERM_MAX)
		return mns_error_set_key(err, key, "invalid_spf",
		                         "SPF mechanism longer than %d characters: \"%.40s...\"",
		                         SPF_TERM_MAX - 1, in);
	for (size_t i = 0; i < len; i++)
		if (in[i] <= ' ' || in[i] > '~')
			return mns_error_set_key(
			    err, key, "invalid_spf",
			    "SPF mechanism \"%s\" contains a space or a "
			    "non-ASCII character: give one mechanism per entry",
			    in);
	if (strchr("+-~?", *s) != NULL)
		q = *s++;

	/* The name runs up to ':', '/', '=' or the end. */
	size_t nlen = strcspn(s, ":/=");
	char name[16];
	if (nlen == 0 || nlen >= sizeof(name))
		goto unknown;
	for (size_t i = 0; i < nlen; i++)
		name[i] = (char)tolower((unsigned char)s[i]);
	name[nlen] = '\0';
	const char *rest = s + nlen;

	if (*rest == '=') {
		if (q != 0)
			goto unknown;
		if (strcmp(name, "redirect") == 0)
			return mns_error_set_key(
			    err, key, "invalid_spf",
			    "\"%s\": redirect= is not allowed: mailns composes the "
			    "record and a redirect would make receivers ignore "
			    "every other mechanism; use include:%s instead",
			    in, rest + 1);
		if (strcmp(name, "exp") == 0)
			return mns_error_set_key(
			    err, key, "invalid_spf",
			    "\"%s\": exp= is not allowed: explanation strings are "
			    "rarely shown and cost a DNS lookup per rejection",
			    in);
		goto unknown;
	}

	char *o = out;
	size_t olen = SPF_TERM_MAX;
	if (q != 0 && q != '+')
		*o++ = q, olen--;

	if (strcmp(name, "all") == 0)
		return mns_error_set_key(err, key, "invalid_spf",
		                         "\"%s\": the final all term is set with the 'all' option "
		                         "(-all, ~all or ?all), not as a mechanism",
		                         in);
	if (strcmp(name, "ptr") == 0)
		return mns_error_set_key(err, key, "invalid_spf",
		                         "\"%s\": the ptr mechanism is deprecated (RFC 7208 5.5: "
		                         "\"do not use\"), slow and unreliable; list the senders "
		                         "with ip4:/ip6: or a:/include: instead",
		                         in);

	if (strcmp(name, "ip4") == 0 || strcmp(name, "ip6") == 0) {
		bool v6 = name[2] == '6';
		char addr[INET6_ADDRSTRLEN + 1], canon[INET6_ADDRSTRLEN];
		unsigned char bin[16];
		int cidr = -1;
		if (*rest != ':')
			goto bad_arg;
		rest++;
		size_t alen = strcspn(rest, "/");
		if (alen == 0 || alen >= sizeof(addr))
			goto bad_arg;
		memcpy(addr, rest, alen);
		addr[alen] = '\0';
		if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1 ||
		    inet_ntop(v6 ? AF_INET6 : AF_INET, bin, canon, sizeof(canon)) == NULL)
			return mns_error_set_key(err, key, "invalid_spf",
			                         "\"%s\": '%s' is not an %s address", in, addr,
			                         v6 ? "IPv6" : "IPv4");
		if (rest[alen] == '/' &&
		    !parse_cidr(rest + alen + 1, strlen(rest + alen + 1), v6 ? 128 : 32, &cidr))
			return mns_error_set_key(err, key, "invalid_spf",
			                         "\"%s\": the prefix length must be 0 to %d", in,
			                         v6 ? 128 : 32);
		if (cidr >= 0)
			snprintf(o, olen, "%s:%s/%d", name, canon, cidr);
		else
			snprintf(o, olen, "%s:%s", name, canon);
		return MNS_OK;
	}

	if (strcmp(name, "a") == 0 || strcmp(name, "mx") == 0) {
		int n = snprintf(o, olen, "%s", name);
		if (*rest == ':') {
			size_t dlen = domain_spec_len(rest + 1);
			o[n++] = ':';
			if (!domain_spec(rest + 1, dlen, o + n, olen - (size_t)n))
				goto bad_domain;
			rest += 1 + dlen;
		}
		if (!dual_cidr(rest, o, olen))
			return mns_error_set_key(err, key, "invalid_spf",
			                         "\"%s\": bad prefix length (use /0-32 for IPv4 "
			                         "and //0-128 for IPv6)",
			                         in);
		(*lookups)++;
		return MNS_OK;
	}

	if (strcmp(name, "include") == 0 || strcmp(name, "exists") == 0) {
		if (*rest != ':')
			goto bad_arg;
		int n = snprintf(o, olen, "%s:", name);
		if (!domain_spec(rest + 1, strlen(rest + 1), o + n, olen - (size_t)n))
			goto bad_domain;
		(*lookups)++;
		return MNS_OK;
	}

unknown:
	return mns_error_set_key(err, key, "invalid_spf",
	                         "unknown SPF mechanism \"%s\": use ip4:, ip6:, a, mx, include: "
	                         "or exists: (with an optional + - ~ ? qualifier)",
	                         in);
bad_arg:
	return mns_error_set_key(err, key, "invalid_spf", "\"%s\": %s needs an argument, as in %s",
	                         in, name,
	                         strcmp(name, "ip4") == 0       ? "ip4:192.0.2.0/24"
	                         : strcmp(name, "ip6") == 0     ? "ip6:2001:db8::/32"
	                         : strcmp(name, "include") == 0 ? "include:_spf.example.com"
	                                                        : "exists:%{i}._spf.example.com");
bad_domain:
	return mns_error_set_key(err, key, "invalid_spf",
	                         "\"%s\": the domain of %s is not a valid domain name", in, name);
}

/** Validates the final term. */
static int all_normalize(const char *in, const char *key, char *out, mns_error_t *err)
{
	char buf[8];
	size_t len = in != NULL ? strlen(in) : 0;
	if (len == 0 || len >= sizeof(buf))
		goto bad;
	for (size_t i = 0; i <= len; i++)
		buf[i] = (char)tolower((unsigned char)in[i]);
	if (strcmp(buf, "+all") == 0 || strcmp(buf, "all") == 0)
		return mns_error_set_key(
		    err, key, "invalid_spf",
		    "\"%s\" is refused: it authorises every host on the "
		    "Internet to send mail as the domain; use -all, ~all or ?all",
		    in);
	if (strcmp(buf, "-all") != 0 && strcmp(buf, "~all") != 0 && strcmp(buf, "?all") != 0)
		goto bad;
	memcpy(out, buf, len + 1);
	return MNS_OK;
bad:
	return mns_error_set_key(err, key, "invalid_spf",
	                         "\"%s\" is not a valid all term: use -all (fail), ~all "
	                         "(softfail) or ?all (neutral)",
	                         in ? in : "");
}

/** True if \a m is among the first \a n strings of \a list. */
static bool in_list(char *const *list, size_t n, const char *m)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], m) == 0)
			return true;
	return false;
}

/** Counts the DNS-querying terms of normalised mechanisms. */
static int count_lookups(const char *m)
{
	if (strchr("-~?", *m) != NULL)
		m++;
	size_t n = strcspn(m, ":/");
	if ((n == 1 && m[0] == 'a') || (n == 2 && strncmp(m, "mx", 2) == 0) ||
	    (n == 7 && strncmp(m, "include", 7) == 0) || (n == 6 && strncmp(m, "exists", 6) == 0))
		return 1;
	return 0;
}

/** Appends to \a buf the terms among the first \a n of \a terms that cost a
 *  DNS lookup, after \a label ("vendor", "tenant"); skips those in \a skip. */
static void name_lookups(char *buf, size_t len, const char *label, char *const *terms, size_t n,
                         char *const *skip, size_t n_skip)
{
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (!count_lookups(terms[i]))
			continue;
		bool skipped = false;
		for (size_t j = 0; j < n_skip && !skipped; j++)
			skipped = strcmp(skip[j], terms[i]) == 0;
		if (skipped)
			continue;
		size_t used = strlen(buf);
		if (used + 1 >= len)
			return;
		if (first)
			snprintf(buf + used, len - used, "%s%s: %s", used ? "; " : "", label,
			         terms[i]);
		else
			snprintf(buf + used, len - used, ", %s", terms[i]);
		first = false;
	}
}

/** True for an a or mx mechanism without a domain: it means the domain the
 *  record is evaluated for. */
static bool domainless(const char *m)
{
	if (strchr("-~?", *m) != NULL)
		m++;
	size_t n = strcspn(m, ":/");
	bool a_mx = (n == 1 && m[0] == 'a') || (n == 2 && strncmp(m, "mx", 2) == 0);
	return a_mx && m[n] != ':';
}

/* --- Lifecycle ------------------------------------------------------------ */

/** Adds the whitespace-separated mechanisms of \a text to \a c. */
static int conf_add_mechs(spf_conf_t *c, const char *text, int *lookups, mns_error_t *err)
{
	const char *s = text;
	while (*s != '\0') {
		while (isspace((unsigned char)*s))
			s++;
		size_t len = strcspn(s, " \t\r\n");
		if (len == 0)
			break;
		char term[SPF_TERM_MAX * 2], norm[SPF_TERM_MAX];
		snprintf(term, sizeof(term), "%.*s",
		         (int)(len < sizeof(term) - 1 ? len : sizeof(term) - 1), s);
		s += len;
		int ret = mech_normalize(term, "mechanisms", norm, lookups, err);
		if (ret != MNS_OK)
			return ret;
		if (in_list(c->mechs, c->n_mechs, norm))
			continue;
		char **grown = realloc(c->mechs, (c->n_mechs + 1) * sizeof(*grown));
		if (grown == NULL)
			return MNS_ENOMEM;
		c->mechs = grown;
		if ((c->mechs[c->n_mechs] = strdup(norm)) == NULL)
			return MNS_ENOMEM;
		c->n_mechs++;
	}
	return MNS_OK;
}

static int spf_configure(mns_plugin_t *p, const json_t *conf, mns_error_t *err)
{
	spf_conf_t *c = calloc(1, sizeof(*c));
	const json_t *v, *m;
	size_t i;
	int ret = MNS_OK, lookups = 0;

	if (c == NULL)
		goto nomem;
	memcpy(c->all, spf_defaults.all, sizeof(c->all));

	v = json_object_get(conf, "mechanisms");
	if (json_is_string(v)) {
		ret = conf_add_mechs(c, json_string_value(v), &lookups, err);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
		{
			if (!json_is_string(m)) {
				ret = mns_error_set_key(err, "mechanisms", "invalid_config",
				                        "mechanisms must be a list of strings");
				break;
			}
			ret = conf_add_mechs(c, json_string_value(m), &lookups, err);
			if (ret != MNS_OK)
				break;
		}
	} else if (v != NULL && !json_is_null(v)) {
		ret = mns_error_set_key(err, "mechanisms", "invalid_config",
		                        "mechanisms must be a list of SPF mechanisms");
	}
	if (ret == MNS_ENOMEM)
		goto nomem;
	if (ret != MNS_OK)
		goto fail;
	if (lookups > SPF_LOOKUP_MAX) {
		char terms[400] = "";
		name_lookups(terms, sizeof(terms), "vendor", c->mechs, c->n_mechs, NULL, 0);
		ret = mns_error_set_key(err, "mechanisms", "invalid_spf",
		                        "the vendor mechanisms need %d DNS lookups; SPF allows %d "
		                        "(RFC 7208 4.6.4). Each of these costs one (%s): list "
		                        "fixed addresses as ip4:/ip6: or merge them behind one "
		                        "include:",
		                        lookups, SPF_LOOKUP_MAX, terms);
		goto fail;
	}

	v = json_object_get(conf, "all");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v)) {
			ret = mns_error_set_key(err, "all", "invalid_config",
			                        "all must be one of -all, ~all, ?all");
			goto fail;
		}
		ret = all_normalize(json_string_value(v), "all", c->all, err);
		if (ret != MNS_OK)
			goto fail;
	}
	memcpy(c->include_label, spf_defaults.include_label, sizeof(c->include_label));
	v = json_object_get(conf, "include-label");
	if (v != NULL && !json_is_null(v)) {
		mns_error_t e;
		const char *label = json_string_value(v);
		if (label == NULL ||
		    (label[0] != '\0' &&
		     (mns_dname_normalize(label, true, c->include_label, sizeof(c->include_label),
		                          &e) != MNS_OK ||
		      label[strlen(label) - 1] == '.'))) {
			ret = mns_error_set_key(err, "include-label", "invalid_config",
			                        "include-label '%s' must be a name relative to the "
			                        "hosted zone, such as _spf (empty: none)",
			                        label != NULL ? label : "");
			goto fail;
		}
		if (label[0] == '\0')
			c->include_label[0] = '\0';
	}
	if (c->n_mechs == 0)
		mns_plugin_log(p, MNS_LOG_WARNING,
		               "no vendor mechanisms configured: tenants' SPF "
		               "records authorise only what each tenant adds");
	for (i = 0; c->include_label[0] != '\0' && i < c->n_mechs; i++)
		if (domainless(c->mechs[i]))
			mns_plugin_log(
			    p, MNS_LOG_WARNING,
			    "vendor mechanism '%s' has no domain: in tenants' records it "
			    "names their bounce domain, but in the include target %s it "
			    "would name the target itself, so it is left out there "
			    "(write it with a domain to keep it)",
			    c->mechs[i], c->include_label);

	conf_free(mns_plugin_data(p));
	mns_plugin_set_data(p, c);
	return MNS_OK;
nomem:
	mns_error_set(err, "out_of_memory", "spf: out of memory");
	ret = MNS_ENOMEM;
fail:
	conf_free(c);
	return ret;
}

static void spf_fini(mns_plugin_t *p)
{
	conf_free(mns_plugin_data(p));
	mns_plugin_set_data(p, NULL);
}

/* --- Hooks ---------------------------------------------------------------- */

static int spf_tenant_check(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *old,
                            const json_t *in, json_t **out, mns_error_t *err)
{
	static const char *const allowed[] = {"extra", "all", NULL};
	const spf_conf_t *c = conf_of(p);
	json_t *merged = NULL, *sec = NULL, *extra = NULL;
	const json_t *v, *m;
	size_t i;
	int ret, lookups = 0;

	/* A null section resets it: the vendor defaults apply again. */
	if (in != NULL && json_is_null(in)) {
		in = NULL;
		old = NULL;
	}
	if (in != NULL && !json_is_object(in))
		return mns_error_set_key(err, "spf", "invalid_spf",
		                         "the spf section must be an object such as "
		                         "{\"extra\": [\"ip4:192.0.2.1\"], \"all\": \"-all\"}");
	if (in != NULL && (ret = mns_json_check_keys(in, "spf", allowed, err)) != MNS_OK)
		return ret;
	if (old != NULL && !json_is_object(old))
		old = NULL;

	merged = in != NULL    ? mns_json_merge(old, in)
	         : old != NULL ? json_deep_copy(old)
	                       : json_object();
	sec = json_object();
	extra = json_array();
	if (merged == NULL || sec == NULL || extra == NULL)
		goto nomem;

	for (i = 0; i < c->n_mechs; i++)
		lookups += count_lookups(c->mechs[i]);

	v = json_object_get(merged, "extra");
	if (v != NULL && !json_is_array(v)) {
		ret = mns_error_set_key(err, "spf.extra", "invalid_spf",
		                        "spf.extra must be a list of SPF mechanisms, e.g. "
		                        "[\"ip4:192.0.2.1\", \"include:_spf.example.com\"]");
		goto fail;
	}
	if (json_array_size(v) > SPF_EXTRA_MAX) {
		ret = mns_error_set_key(err, "spf.extra", "invalid_spf",
		                        "spf.extra has %zu mechanisms; at most %d are allowed",
		                        json_array_size(v), SPF_EXTRA_MAX);
		goto fail;
	}
	json_array_foreach(v, i, m)
	{
		char norm[SPF_TERM_MAX];
		int dummy = 0;
		if (!json_is_string(m)) {
			ret = mns_error_set_key(err, "spf.extra", "invalid_spf",
			                        "spf.extra[%zu] must be a string", i);
			goto fail;
		}
		ret = mech_normalize(json_string_value(m), "spf.extra", norm, &dummy, err);
		if (ret != MNS_OK)
			goto fail;
		/* Drop repeats within the extras; vendor repeats are dropped when
		 * building, since the vendor's list may change after this. */
		bool dup = false;
		size_t j;
		const json_t *e;
		json_array_foreach(extra, j, e)
		{
			dup = dup || strcmp(json_string_value(e), norm) == 0;
		}
		if (dup)
			continue;
		if (json_array_append_new(extra, json_string(norm)) != 0)
			goto nomem;
		if (!in_list(c->mechs, c->n_mechs, norm))
			lookups += count_lookups(norm);
	}
	if (lookups > SPF_LOOKUP_MAX) {
		char terms[400] = "";
		size_t n_extra = json_array_size(extra);
		char **tl = calloc(n_extra ? n_extra : 1, sizeof(*tl));
		if (tl == NULL)
			goto nomem;
		for (i = 0; i < n_extra; i++)
			tl[i] = (char *)json_string_value(json_array_get(extra, i));
		name_lookups(terms, sizeof(terms), "vendor", c->mechs, c->n_mechs, NULL, 0);
		name_lookups(terms, sizeof(terms), "tenant", tl, n_extra, c->mechs, c->n_mechs);
		free(tl);
		ret = mns_error_set_key(err, "spf.extra", "invalid_spf",
		                        "the SPF record would need %d DNS lookups; receivers allow "
		                        "%d (RFC 7208 4.6.4). Each of these costs one (%s): list "
		                        "fixed addresses as ip4:/ip6: or merge includes",
		                        lookups, SPF_LOOKUP_MAX, terms);
		goto fail;
	}
	if (json_array_size(extra) > 0 && json_object_set(sec, "extra", extra) != 0)
		goto nomem;

	v = json_object_get(merged, "all");
	if (v != NULL) {
		char all[8];
		if (!json_is_string(v)) {
			ret = mns_error_set_key(err, "spf.all", "invalid_spf",
			                        "spf.all must be \"-all\", \"~all\" or \"?all\"");
			goto fail;
		}
		ret = all_normalize(json_string_value(v), "spf.all", all, err);
		if (ret != MNS_OK)
			goto fail;
		if (json_object_set_new(sec, "all", json_string(all)) != 0)
			goto nomem;
	}

	json_decref(extra);
	json_decref(merged);
	*out = sec;
	return MNS_OK;
nomem:
	mns_error_set(err, "out_of_memory", "spf: out of memory");
	ret = MNS_ENOMEM;
fail:
	json_decref(extra);
	json_decref(sec);
	json_decref(merged);
	return ret;
}

/** Appends " <term>" to the record being built (copied, not printed:
 *  start-up builds every tenant's record). False if it does not fit. */
static bool append(char *buf, size_t size, size_t *len, const char *term)
{
	size_t tl = strlen(term), room = size - *len;
	if (room == 0)
		return false;
	if (1 + tl >= room) { /* Truncated, as snprintf() leaves it; len unchanged. */
		char *w = buf + *len;
		w[0] = ' ';
		if (room > 1)
			memcpy(w + 1, term, room - 2);
		w[room - 1] = '\0';
		return false;
	}
	buf[*len] = ' ';
	memcpy(buf + *len + 1, term, tl + 1);
	*len += 1 + tl;
	return true;
}

static int spf_tenant_build(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                            mns_zone_builder_t *zb, mns_error_t *err)
{
	const spf_conf_t *c = conf_of(p);
	const json_t *extra = json_object_get(section, "extra");
	const char *all = json_string_value(json_object_get(section, "all"));
	size_t size = 16 + (c->n_mechs + json_array_size(extra) + 1) * SPF_TERM_MAX;
	size_t len = 0, i;
	const json_t *m;
	int ret, lookups = 0;
	/* A stack buffer for the usual few terms (start-up builds every tenant). */
	char stack[16 + 8 * SPF_TERM_MAX];
	char *text = size <= sizeof(stack) ? stack : malloc(size);

	if (text == NULL) {
		mns_error_set(err, "out_of_memory", "spf: out of memory");
		return MNS_ENOMEM;
	}
	len = (size_t)snprintf(text, size, "v=spf1");
	for (i = 0; i < c->n_mechs; i++) {
		append(text, size, &len, c->mechs[i]);
		lookups += count_lookups(c->mechs[i]);
	}
	json_array_foreach(extra, i, m)
	{
		const char *s = json_string_value(m);
		if (s == NULL || strlen(s) >= SPF_TERM_MAX || in_list(c->mechs, c->n_mechs, s))
			continue;
		append(text, size, &len, s);
		lookups += count_lookups(s);
	}
	append(text, size, &len, all != NULL ? all : c->all);
	if (lookups > SPF_LOOKUP_MAX)
		mns_plugin_log(p, MNS_LOG_WARNING,
		               "tenant %s: SPF record needs %d DNS lookups, "
		               "more than the %d receivers allow",
		               t->id, lookups, SPF_LOOKUP_MAX);

	ret = mns_zb_add_txt(zb, t->mail_label, t->ttl, text, err);
	if (text != stack)
		free(text);
	return ret;
}

/** The vendor's own SPF record at <include-label>.<hosted zone>, e.g.
 *  "_spf.mailns.vendor.example TXT "v=spf1 ip4:192.0.2.0/24 ~all"": a customer
 *  who also sends mail elsewhere adds "include:_spf.mailns.vendor.example" to
 *  the SPF record of their own domain, one DNS lookup for every address of
 *  the vendor, kept current by the vendor. */
static int spf_hosted_build(mns_plugin_t *p, mns_zone_builder_t *zb, mns_error_t *err)
{
	const spf_conf_t *c = conf_of(p);
	const json_t *ttl = json_object_get(mns_plugin_vendor(p), "ttl");
	size_t size = 16 + (c->n_mechs + 1) * SPF_TERM_MAX, len;

	if (c->include_label[0] == '\0')
		return MNS_OK;
	char *text = malloc(size);
	if (text == NULL) {
		mns_error_set(err, "out_of_memory", "spf: out of memory");
		return MNS_ENOMEM;
	}
	len = (size_t)snprintf(text, size, "v=spf1");
	for (size_t i = 0; i < c->n_mechs; i++)
		if (!domainless(c->mechs[i]))
			append(text, size, &len, c->mechs[i]);
	append(text, size, &len, c->all);
	int ret = mns_zb_add_txt(zb, c->include_label,
	                         json_is_integer(ttl) ? (uint32_t)json_integer_value(ttl) : 3600,
	                         text, err);
	free(text);
	return ret;
}

MNS_PLUGIN(spf) = {
    .abi_major = MNS_PLUGIN_ABI_MAJOR,
    .abi_minor = MNS_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(mns_plugin_api_t),
    .name = "spf",
    .version = "0.1.0",
    .summary = "SPF record (vendor mechanisms + tenant extras) on the bounce domain, and the "
               "vendor's include target in the hosted zone",
    .schema = spf_schema,
    .configure = spf_configure,
    .fini = spf_fini,
    .tenant_check = spf_tenant_check,
    .tenant_build = spf_tenant_build,
    .hosted_build = spf_hosted_build,
};
