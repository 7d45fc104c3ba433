/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "log/log.h"
#include "plugin/plugin_internal.h"
#include "tenant/dname.h"

const mns_conf_item_t mns_conf_server_schema[] = {
	{ "listen", MNS_CONF_LIST, "127.0.0.1@5300", 0, 0, "address@port to answer DNS on (UDP and TCP); repeatable" },
	{ "control", MNS_CONF_STR, "", 0, 0, "control socket path (default <data>/control.sock)" },
	{ "control-mode", MNS_CONF_STR, "0600", 0, 0, "control socket file mode (octal)" },
	{ "data", MNS_CONF_STR, "mailns-data", 0, 0, "data directory (tenant store), created 0700" },
	{ "zones", MNS_CONF_STR, "", 0, 0, "directory of static <zone>.zone files served as they are" },
	{ "plugin-dir", MNS_CONF_STR, "", 0, 0, "directory the plugins are loaded from" },
	{ "plugins", MNS_CONF_LIST, "dkim spf mx dmarc verify", 0, 0, "plugins to load, in build order" },
	{ "identity", MNS_CONF_STR, "mailns", 0, 0, "CHAOS TXT id.server answer (empty: refuse)" },
	{ "version", MNS_CONF_STR, "mailns " MNS_VERSION, 0, 0, "CHAOS TXT version.bind answer (empty: refuse)" },
	{ "workers", MNS_CONF_INT, "0", 0, 256, "threads answering DNS, each with its own UDP and TCP sockets (0: one per online CPU; restart to change)" },
	{ "udp-payload", MNS_CONF_INT, "1232", 512, 4096, "largest EDNS UDP answer in octets" },
	{ "tcp-idle-timeout", MNS_CONF_INT, "10", 1, 3600, "seconds before an idle TCP connection is closed" },
	{ "tcp-max-clients", MNS_CONF_INT, "1000", 1, 1000000, "simultaneous TCP connections; at the limit a new one closes the longest-idle" },
	{ "tcp-read-timeout", MNS_CONF_INT, "5", 1, 3600, "seconds a started TCP message may take to arrive whole" },
	{ "tcp-max-pipeline", MNS_CONF_INT, "16", 1, 65535, "unsent TCP answers per connection before it is no longer read" },
	{ "rrl-rate", MNS_CONF_INT, "0", 0, 1000000, "UDP responses per second per source prefix and class (0: no rate limiting)" },
	{ "rrl-slip", MNS_CONF_INT, "2", 0, 100, "every Nth rate-limited response is sent truncated, the rest dropped (0: drop all)" },
	{ "rrl-ipv4-prefix", MNS_CONF_INT, "24", 1, 32, "IPv4 prefix length that shares one rate limit" },
	{ "rrl-ipv6-prefix", MNS_CONF_INT, "56", 1, 128, "IPv6 prefix length that shares one rate limit" },
	{ "rrl-table-size", MNS_CONF_INT, "65536", 16, 16777216, "rate limiting buckets, allocated at start" },
	{ "log-level", MNS_CONF_STR, "info", 0, 0, "error, warning, notice, info or debug" },
	{ "store-map-size", MNS_CONF_STR, "16G", 0, 0, "most the tenant store may hold: bytes, or with K, M or G (restart to change)" },
	{ "user", MNS_CONF_STR, "", 0, 0, "started as root: user to run as once ports, socket and store are open" },
	{ "group", MNS_CONF_STR, "", 0, 0, "group to run as (default: the user's primary group)" },
	{ "control-group", MNS_CONF_STR, "", 0, 0, "group owning the control socket (with control-mode 0660: its members manage tenants)" },
	{ "metrics-listen", MNS_CONF_STR, "", 0, 0, "loopback ADDRESS@PORT serving Prometheus metrics on GET /metrics (empty: off; bound at start)" },
	{ NULL },
};

const mns_conf_item_t mns_conf_vendor_schema[] = {
	{ "nameservers", MNS_CONF_LIST, "ns1.vendor.example ns2.vendor.example", 0, 0, "the vendor's nameserver names (NS of every zone)" },
	{ "soa-contact", MNS_CONF_STR, "hostmaster.vendor.example", 0, 0, "SOA RNAME, as a name or an e-mail address" },
	{ "ttl", MNS_CONF_INT, "3600", 0, 2147483647, "TTL of tenant records" },
	{ "soa-ttl", MNS_CONF_INT, "3600", 0, 2147483647, "TTL of SOA and NS" },
	{ "negative-ttl", MNS_CONF_INT, "300", 0, 86400, "SOA MINIMUM: how long resolvers cache NXDOMAIN/NODATA" },
	{ "refresh", MNS_CONF_INT, "3600", 1, 2147483647, "SOA REFRESH" },
	{ "retry", MNS_CONF_INT, "600", 1, 2147483647, "SOA RETRY" },
	{ "expire", MNS_CONF_INT, "1209600", 1, 2147483647, "SOA EXPIRE" },
	{ "hosted-zone", MNS_CONF_DNAME, "mailns.vendor.example", 0, 0, "zone holding cname-mode tenants" },
	{ "subdomain", MNS_CONF_STR, "mgeu", 0, 0, "default label delegated in ns mode (empty: the domain itself)" },
	{ "bounce-label", MNS_CONF_STR, "bounce", 0, 0, "label of the bounce (MAIL FROM) name in cname mode" },
	{ NULL },
};

static void section_free(mns_conf_section_t *s)
{
	for (size_t i = 0; i < s->n_kv; i++) {
		free(s->kv[i].key);
		free(s->kv[i].value);
	}
	free(s->kv);
	free(s->name);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void mns_conf_free(mns_conf_t *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_sections; i++)
		section_free(&c->sections[i]);
	free(c->sections);
	strv_free(c->plugins, c->n_plugins);
	strv_free(c->nameservers, c->n_nameservers);
	free(c->listen);
	free(c->path);
	free(c->control);
	free(c->data_dir);
	free(c->user);
	free(c->group);
	free(c->control_group);
	free(c->zones_dir);
	free(c->plugin_dir);
	free(c->identity);
	free(c->version);
	free(c->soa_contact);
	free(c->hosted_zone);
	free(c->subdomain);
	free(c->bounce_label);
	free(c);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static const char *fname(const mns_conf_t *c)
{
	return c->path ? c->path : "(defaults)";
}

/* Reads the file into sections. Comments start with '#' at the beginning of a
 * line or after white space, so values such as "v=spf1" keep their characters. */
static int parse_file(mns_conf_t *c, FILE *f, char *errbuf, size_t errlen)
{
	char line[4096];
	int lineno = 0;
	mns_conf_section_t *cur = NULL;
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		size_t ll = strlen(line);
		if (ll == sizeof(line) - 1 && line[ll - 1] != '\n') {
			snprintf(errbuf, errlen, "%s:%d: line longer than %zu characters", fname(c),
			         lineno, sizeof(line) - 2);
			return MNS_EINVAL;
		}
		for (char *h = line; (h = strchr(h, '#')) != NULL; h++) {
			if (h == line || isspace((unsigned char)h[-1])) {
				*h = '\0';
				break;
			}
		}
		char *s = trim(line);
		if (*s == '\0')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');
			if (end == NULL || end[1] != '\0') {
				snprintf(errbuf, errlen, "%s:%d: malformed section header '%s'", fname(c),
				         lineno, s);
				return MNS_EINVAL;
			}
			*end = '\0';
			char *name = trim(s + 1);
			bool known = strcmp(name, "server") == 0 || strcmp(name, "vendor") == 0 ||
			             strcmp(name, "xfr") == 0 ||
			             (strncmp(name, "plugin.", 7) == 0 && name[7] != '\0');
			if (!known) {
				snprintf(errbuf, errlen,
				         "%s:%d: unknown section [%s] (expected [server], [vendor], [xfr] or [plugin.<name>])",
				         fname(c), lineno, name);
				return MNS_EINVAL;
			}
			for (size_t i = 0; i < c->n_sections; i++) {
				if (strcmp(c->sections[i].name, name) == 0) {
					snprintf(errbuf, errlen, "%s:%d: section [%s] appears twice (first on line %d)",
					         fname(c), lineno, name, c->sections[i].line);
					return MNS_EINVAL;
				}
			}
			mns_conf_section_t *ns = realloc(c->sections, (c->n_sections + 1) * sizeof(*ns));
			if (ns == NULL)
				return MNS_ENOMEM;
			c->sections = ns;
			cur = &c->sections[c->n_sections++];
			*cur = (mns_conf_section_t){ .name = strdup(name), .line = lineno };
			continue;
		}
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(errbuf, errlen, "%s:%d: expected 'key = value', got '%s'", fname(c), lineno, s);
			return MNS_EINVAL;
		}
		if (cur == NULL) {
			snprintf(errbuf, errlen, "%s:%d: '%s' is outside any [section]", fname(c), lineno, s);
			return MNS_EINVAL;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		size_t vl = strlen(val);
		if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
			val[vl - 1] = '\0';
			val++;
		}
		mns_conf_kv_t *nk = realloc(cur->kv, (cur->n_kv + 1) * sizeof(*nk));
		if (nk == NULL)
			return MNS_ENOMEM;
		cur->kv = nk;
		cur->kv[cur->n_kv++] = (mns_conf_kv_t){ strdup(key), strdup(val), lineno };
	}
	return MNS_OK;
}

static const mns_conf_section_t *find_section(const mns_conf_t *c, const char *name)
{
	for (size_t i = 0; i < c->n_sections; i++)
		if (strcmp(c->sections[i].name, name) == 0)
			return &c->sections[i];
	return NULL;
}

/* Converts one value to JSON by type. Returns NULL with a reason in why. */
static json_t *conf_value(const mns_conf_item_t *it, const char *val, char *why, size_t wlen)
{
	switch (it->type) {
	case MNS_CONF_STR:
		return json_string(val);
	case MNS_CONF_INT: {
		char *end = NULL;
		errno = 0;
		long long v = strtoll(val, &end, 10);
		if (*val == '\0' || errno != 0 || *end != '\0') {
			snprintf(why, wlen, "'%s' is not an integer", val);
			return NULL;
		}
		if (v < it->min || v > it->max) {
			snprintf(why, wlen, "%lld is outside %lld..%lld", v, (long long)it->min,
			         (long long)it->max);
			return NULL;
		}
		return json_integer(v);
	}
	case MNS_CONF_BOOL:
		if (!strcasecmp(val, "yes") || !strcasecmp(val, "true") || !strcasecmp(val, "on") ||
		    !strcmp(val, "1"))
			return json_true();
		if (!strcasecmp(val, "no") || !strcasecmp(val, "false") || !strcasecmp(val, "off") ||
		    !strcmp(val, "0"))
			return json_false();
		snprintf(why, wlen, "'%s' is not yes or no", val);
		return NULL;
	case MNS_CONF_DNAME: {
		char out[MNS_DNAME_TXT_MAX];
		mns_error_t err;
		if (mns_dname_normalize(val, true, out, sizeof(out), &err) != MNS_OK) {
			snprintf(why, wlen, "%s", err.message);
			return NULL;
		}
		return json_string(out);
	}
	case MNS_CONF_LIST: {
		json_t *a = json_array();
		char *copy = strdup(val), *save = NULL;
		for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
			json_array_append_new(a, json_string(w));
		free(copy);
		return a;
	}
	}
	return NULL;
}

/* Applies a schema to a section (which may be NULL): unknown keys, repeated
 * single-valued keys and bad values are errors naming file, line and key. */
static int apply_schema(const mns_conf_t *c, const char *secname, const mns_conf_section_t *sec,
                        const mns_conf_item_t *schema, json_t **out, char *errbuf, size_t errlen)
{
	json_t *obj = json_object();
	char why[512];
	for (const mns_conf_item_t *it = schema; it && it->key; it++) {
		if (it->dflt == NULL)
			continue;
		json_t *v = conf_value(it, it->dflt, why, sizeof(why));
		if (v == NULL) {
			snprintf(errbuf, errlen, "(defaults): [%s] %s: %s", secname, it->key, why);
			json_decref(obj);
			return MNS_EINVAL;
		}
		json_object_set_new(obj, it->key, v);
	}
	/* A key given in the file replaces its default; list keys accumulate. */
	json_t *seen = json_object();
	for (size_t i = 0; sec && i < sec->n_kv; i++) {
		const mns_conf_kv_t *kv = &sec->kv[i];
		const mns_conf_item_t *it = schema;
		while (it && it->key && strcmp(it->key, kv->key) != 0)
			it++;
		if (it == NULL || it->key == NULL) {
			snprintf(errbuf, errlen, "%s:%d: %s: unknown key in [%s]", fname(c), kv->line,
			         kv->key, secname);
			goto fail;
		}
		json_t *v = conf_value(it, kv->value, why, sizeof(why));
		if (v == NULL) {
			snprintf(errbuf, errlen, "%s:%d: %s: %s", fname(c), kv->line, kv->key, why);
			goto fail;
		}
		json_t *prev = json_object_get(seen, kv->key);
		if (prev != NULL && it->type != MNS_CONF_LIST) {
			snprintf(errbuf, errlen, "%s:%d: %s: given twice (first on line %d)", fname(c),
			         kv->line, kv->key, (int)json_integer_value(prev));
			json_decref(v);
			goto fail;
		}
		if (prev != NULL) {
			json_array_extend(json_object_get(obj, kv->key), v);
			json_decref(v);
		} else {
			json_object_set_new(obj, kv->key, v);
		}
		json_object_set_new(seen, kv->key, json_integer(kv->line));
	}
	json_decref(seen);
	*out = obj;
	return MNS_OK;
fail:
	json_decref(seen);
	json_decref(obj);
	return MNS_EINVAL;
}

static int key_line(const mns_conf_t *c, const char *section, const char *key)
{
	const mns_conf_section_t *s = find_section(c, section);
	for (size_t i = 0; s && i < s->n_kv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].line;
	return 0;
}

void mns_conf_locate(const mns_conf_t *c, const char *section, const mns_error_t *err,
                     char *errbuf, size_t errlen)
{
	int line = err->key[0] ? key_line(c, section, err->key) : 0;
	if (line > 0)
		snprintf(errbuf, errlen, "%s:%d: %s: %s", fname(c), line, err->key, err->message);
	else if (err->key[0])
		snprintf(errbuf, errlen, "%s: [%s] %s: %s", fname(c), section, err->key, err->message);
	else
		snprintf(errbuf, errlen, "%s: [%s]: %s", fname(c), section, err->message);
}

int mns_listen_parse(const char *text, mns_listen_t *out)
{
	char addr[64];
	const char *at = strrchr(text, '@');
	size_t alen = at ? (size_t)(at - text) : strlen(text);
	if (alen == 0 || alen >= sizeof(addr))
		return MNS_EINVAL;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	unsigned char tmp[16];
	if (inet_pton(AF_INET, addr, tmp) != 1 && inet_pton(AF_INET6, addr, tmp) != 1)
		return MNS_EINVAL;
	long port = 53;
	if (at) {
		char *end = NULL;
		port = strtol(at + 1, &end, 10);
		if (at[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
			return MNS_EINVAL;
	}
	snprintf(out->addr, sizeof(out->addr), "%s", addr);
	out->port = (uint16_t)port;
	return MNS_OK;
}

static char *jstr(const json_t *o, const char *k)
{
	return strdup(json_string_value(json_object_get(o, k)));
}

static uint32_t jint(const json_t *o, const char *k)
{
	return (uint32_t)json_integer_value(json_object_get(o, k));
}

static int jstrv(const json_t *o, const char *k, char ***v, size_t *n)
{
	const json_t *a = json_object_get(o, k);
	*n = json_array_size(a);
	*v = calloc(*n ? *n : 1, sizeof(char *));
	if (*v == NULL)
		return MNS_ENOMEM;
	for (size_t i = 0; i < *n; i++)
		(*v)[i] = strdup(json_string_value(json_array_get(a, i)));
	return MNS_OK;
}

static int parse_level(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = { { "error", MNS_LOG_ERR }, { "warning", MNS_LOG_WARNING },
		       { "notice", MNS_LOG_NOTICE }, { "info", MNS_LOG_INFO },
		       { "debug", MNS_LOG_DEBUG } };
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(s, levels[i].name) == 0)
			return levels[i].level;
	return -1;
}

/* Reports a bad value of an already type-checked key with its location. */
static int bad(const mns_conf_t *c, const char *section, const char *key, char *errbuf,
               size_t errlen, const char *what)
{
	int line = key_line(c, section, key);
	if (line > 0)
		snprintf(errbuf, errlen, "%s:%d: %s: %s", fname(c), line, key, what);
	else
		snprintf(errbuf, errlen, "%s: [%s] %s: %s", fname(c), section, key, what);
	return MNS_EINVAL;
}

static int take_server(mns_conf_t *c, const json_t *s, const mns_conf_overrides_t *ov,
                       char *errbuf, size_t errlen)
{
	const json_t *l = json_object_get(s, "listen");
	if (ov && ov->n_listen) {
		c->listen = calloc(ov->n_listen, sizeof(mns_listen_t));
		memcpy(c->listen, ov->listen, ov->n_listen * sizeof(mns_listen_t));
		c->n_listen = ov->n_listen;
	} else {
		c->n_listen = json_array_size(l);
		c->listen = calloc(c->n_listen ? c->n_listen : 1, sizeof(mns_listen_t));
		for (size_t i = 0; i < c->n_listen; i++) {
			const char *t = json_string_value(json_array_get(l, i));
			if (mns_listen_parse(t, &c->listen[i]) != MNS_OK) {
				char what[160];
				snprintf(what, sizeof(what), "'%s' is not ADDRESS@PORT (e.g. 127.0.0.1@53)", t);
				return bad(c, "server", "listen", errbuf, errlen, what);
			}
		}
	}
	c->data_dir = strdup(ov && ov->data_dir ? ov->data_dir : json_string_value(json_object_get(s, "data")));
	if (c->data_dir[0] == '\0')
		return bad(c, "server", "data", errbuf, errlen, "must not be empty");
	const char *ctl = ov && ov->control ? ov->control : json_string_value(json_object_get(s, "control"));
	if (ctl[0] == '\0') {
		size_t n = strlen(c->data_dir) + 16;
		c->control = malloc(n);
		snprintf(c->control, n, "%s/control.sock", c->data_dir);
	} else {
		c->control = strdup(ctl);
	}
	const char *mode = json_string_value(json_object_get(s, "control-mode"));
	char *end = NULL;
	unsigned long m = strtoul(mode, &end, 8);
	if (*mode == '\0' || *end != '\0' || m > 0777)
		return bad(c, "server", "control-mode", errbuf, errlen, "must be an octal file mode such as 0660");
	c->control_mode = (unsigned)m;
	const char *map = json_string_value(json_object_get(s, "store-map-size"));
	unsigned long long msz = strtoull(map, &end, 10);
	unsigned shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20
	               : *end == 'G' || *end == 'g' ? 30 : 0;
	if (*map == '\0' || !isdigit((unsigned char)*map) || (shift && end[1] != '\0') ||
	    (!shift && *end != '\0') || msz > (1ULL << 40) >> shift || (msz << shift) < (64ULL << 10))
		return bad(c, "server", "store-map-size", errbuf, errlen,
		           "must be a size from 64K to 1024G, e.g. 16G");
	c->store_map_size = (uint64_t)msz << shift;
	c->user = jstr(s, "user");
	c->group = jstr(s, "group");
	c->control_group = jstr(s, "control-group");
	if (c->group[0] && !c->user[0])
		return bad(c, "server", "group", errbuf, errlen, "needs user: set user too");
	c->zones_dir = strdup(ov && ov->zones_dir ? ov->zones_dir : json_string_value(json_object_get(s, "zones")));
	c->plugin_dir = strdup(ov && ov->plugin_dir ? ov->plugin_dir : json_string_value(json_object_get(s, "plugin-dir")));
	if (jstrv(s, "plugins", &c->plugins, &c->n_plugins) != MNS_OK)
		return MNS_ENOMEM;
	for (size_t i = 0; i < c->n_plugins; i++) {
		for (const char *p = c->plugins[i]; *p; p++)
			if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
				return bad(c, "server", "plugins", errbuf, errlen,
				           "plugin names are lowercase letters, digits and '_'");
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->plugins[i], c->plugins[j]) == 0)
				return bad(c, "server", "plugins", errbuf, errlen, "a plugin is listed twice");
	}
	c->identity = jstr(s, "identity");
	c->version = jstr(s, "version");
	c->udp_payload = (uint16_t)jint(s, "udp-payload");
	c->tcp_idle_timeout = jint(s, "tcp-idle-timeout");
	c->tcp_max_clients = jint(s, "tcp-max-clients");
	c->workers = jint(s, "workers");
	const char *lvl = ov && ov->log_level ? ov->log_level : json_string_value(json_object_get(s, "log-level"));
	c->log_level = parse_level(lvl);
	if (c->log_level < 0)
		return bad(c, "server", "log-level", errbuf, errlen,
		           "must be error, warning, notice, info or debug");
	/* The endpoint has no authentication and tells tenant counts and
	 * traffic: loopback only. To scrape from elsewhere, put a proxy with
	 * TLS and authentication (or an SSH tunnel) in front of it. */
	const char *ml = json_string_value(json_object_get(s, "metrics-listen"));
	if (ml[0] != '\0') {
		struct in6_addr a6;
		struct in_addr a4;
		if (strchr(ml, '@') == NULL || mns_listen_parse(ml, &c->metrics_listen) != MNS_OK ||
		    c->metrics_listen.port == 0)
			return bad(c, "server", "metrics-listen", errbuf, errlen,
			           "expected ADDRESS@PORT, e.g. 127.0.0.1@9153");
		bool loopback = inet_pton(AF_INET, c->metrics_listen.addr, &a4) == 1
		                        ? (ntohl(a4.s_addr) >> 24) == 127
		                        : inet_pton(AF_INET6, c->metrics_listen.addr, &a6) == 1 &&
		                                  IN6_IS_ADDR_LOOPBACK(&a6);
		if (!loopback)
			return bad(c, "server", "metrics-listen", errbuf, errlen,
			           "must be a loopback address (127.0.0.0/8 or ::1): the metrics have no "
			           "authentication; reach them through a proxy or an SSH tunnel");
		c->metrics_enabled = true;
	}
	return MNS_OK;
}

static int take_vendor(mns_conf_t *c, const json_t *v, char *errbuf, size_t errlen)
{
	mns_error_t err;
	char name[MNS_DNAME_TXT_MAX];
	if (jstrv(v, "nameservers", &c->nameservers, &c->n_nameservers) != MNS_OK)
		return MNS_ENOMEM;
	if (c->n_nameservers == 0)
		return bad(c, "vendor", "nameservers", errbuf, errlen, "at least one nameserver is required");
	for (size_t i = 0; i < c->n_nameservers; i++) {
		if (mns_dname_normalize(c->nameservers[i], false, name, sizeof(name), &err) != MNS_OK)
			return bad(c, "vendor", "nameservers", errbuf, errlen, err.message);
		free(c->nameservers[i]);
		c->nameservers[i] = strdup(name);
	}
	/* The SOA contact may be written as an e-mail address; RNAME wants dots.
	 * A dot in the local part would need escaping, which we refuse instead. */
	char contact[MNS_DNAME_TXT_MAX];
	snprintf(contact, sizeof(contact), "%s", json_string_value(json_object_get(v, "soa-contact")));
	char *at = strchr(contact, '@');
	if (at != NULL) {
		if (memchr(contact, '.', (size_t)(at - contact)) != NULL)
			return bad(c, "vendor", "soa-contact", errbuf, errlen,
			           "a '.' before the '@' cannot be expressed in SOA RNAME; use another mailbox");
		*at = '.';
	}
	if (mns_dname_normalize(contact, false, name, sizeof(name), &err) != MNS_OK)
		return bad(c, "vendor", "soa-contact", errbuf, errlen, err.message);
	c->soa_contact = strdup(name);
	c->ttl = jint(v, "ttl");
	c->soa_ttl = jint(v, "soa-ttl");
	c->negative_ttl = jint(v, "negative-ttl");
	c->refresh = jint(v, "refresh");
	c->retry = jint(v, "retry");
	c->expire = jint(v, "expire");
	c->hosted_zone = jstr(v, "hosted-zone");
	c->subdomain = jstr(v, "subdomain");
	if (c->subdomain[0] != '\0') {
		for (char *p = c->subdomain; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (mns_label_check(c->subdomain, false, &err) != MNS_OK)
			return bad(c, "vendor", "subdomain", errbuf, errlen, err.message);
	}
	c->bounce_label = jstr(v, "bounce-label");
	if (mns_label_check(c->bounce_label, false, &err) != MNS_OK)
		return bad(c, "vendor", "bounce-label", errbuf, errlen, err.message);
	return MNS_OK;
}

int mns_conf_load(const char *path, const mns_conf_overrides_t *ov, mns_conf_t **out,
                  char *errbuf, size_t errlen)
{
	mns_conf_t *c = calloc(1, sizeof(*c));
	json_t *server = NULL, *vendor = NULL;
	int ret = MNS_ENOMEM;
	if (c == NULL)
		return MNS_ENOMEM;
	if (path != NULL) {
		c->path = strdup(path);
		FILE *f = fopen(path, "r");
		if (f == NULL) {
			snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
			ret = MNS_EINVAL;
			goto fail;
		}
		ret = parse_file(c, f, errbuf, errlen);
		fclose(f);
		if (ret != MNS_OK)
			goto fail;
	}
	ret = apply_schema(c, "server", find_section(c, "server"), mns_conf_server_schema, &server,
	                   errbuf, errlen);
	if (ret == MNS_OK)
		ret = apply_schema(c, "vendor", find_section(c, "vendor"), mns_conf_vendor_schema,
		                   &vendor, errbuf, errlen);
	if (ret == MNS_OK)
		ret = take_server(c, server, ov, errbuf, errlen);
	if (ret == MNS_OK)
		ret = take_vendor(c, vendor, errbuf, errlen);
	/* A [plugin.x] section for a plugin that is not loaded is a typo, most likely. */
	for (size_t i = 0; ret == MNS_OK && i < c->n_sections; i++) {
		const char *n = c->sections[i].name;
		if (strncmp(n, "plugin.", 7) != 0)
			continue;
		bool loaded = false;
		for (size_t j = 0; j < c->n_plugins; j++)
			loaded = loaded || strcmp(c->plugins[j], n + 7) == 0;
		if (!loaded) {
			snprintf(errbuf, errlen, "%s:%d: [%s]: plugin '%s' is not in [server] plugins",
			         fname(c), c->sections[i].line, n, n + 7);
			ret = MNS_EINVAL;
		}
	}
	json_decref(server);
	json_decref(vendor);
	if (ret != MNS_OK)
		goto fail;
	*out = c;
	return MNS_OK;
fail:
	mns_conf_free(c);
	return ret;
}

int mns_conf_plugin(const mns_conf_t *c, const char *name, const mns_conf_item_t *schema,
                    json_t **out, char *errbuf, size_t errlen)
{
	char sec[80];
	snprintf(sec, sizeof(sec), "plugin.%s", name);
	return apply_schema(c, sec, find_section(c, sec), schema, out, errbuf, errlen);
}

int mns_conf_section_json(const mns_conf_t *c, const char *name, const mns_conf_item_t *schema,
                          json_t **out, char *errbuf, size_t errlen)
{
	return apply_schema(c, name, find_section(c, name), schema, out, errbuf, errlen);
}

json_t *mns_conf_schema_defaults(const mns_conf_item_t *schema)
{
	mns_conf_t empty = { 0 };
	json_t *out = NULL;
	char errbuf[256];
	if (apply_schema(&empty, "defaults", NULL, schema, &out, errbuf, sizeof(errbuf)) != MNS_OK)
		mns_log(MNS_LOG_ERR, "bad schema default: %s", errbuf);
	return out;
}
