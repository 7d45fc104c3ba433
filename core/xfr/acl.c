/*  [xfr] settings, TSIG keys and the transfer ACL.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "conf/conf.h"
#include "xfr/xfr.h"
#include "xfr/xfr_internal.h"

const mns_conf_item_t mns_xfr_schema[] = {
    {"allow", MNS_CONF_LIST, "", 0, 0,
     "transfer ACL: PREFIX[/LEN][:KEY] entries (e.g. 127.0.0.0/8 192.0.2.7/32:xfr-key); none: "
     "every transfer REFUSED"},
    {"key", MNS_CONF_LIST, "", 0, 0,
     "TSIG keys NAME:ALGORITHM:BASE64SECRET (hmac-sha256, hmac-sha512, ...); repeatable"},
    {"notify", MNS_CONF_LIST, "", 0, 0,
     "secondaries to NOTIFY (ADDRESS@PORT) when a zone's serial changes"},
    {"notify-key", MNS_CONF_STR, "", 0, 0, "name of the key that signs NOTIFYs (empty: unsigned)"},
    {"notify-delay", MNS_CONF_INT, "200", 0, 60000,
     "milliseconds a burst of changes is coalesced before NOTIFYs go out"},
    {"notify-retries", MNS_CONF_INT, "5", 1, 20, "NOTIFY attempts per zone and secondary"},
    {"notify-timeout", MNS_CONF_INT, "1000", 100, 60000,
     "milliseconds before the first NOTIFY retry (doubles each time)"},
    {"catalog", MNS_CONF_STR, "catalog.invalid", 0, 0,
     "name of the catalog zone (RFC 9432 v2) listing every zone; empty: none"},
    {"catalog-group", MNS_CONF_STR, "", 0, 0,
     "group property of every catalog member (empty: none)"},
    {"ixfr-history", MNS_CONF_INT, "16", 0, 1000,
     "changes kept per zone to answer IXFR with differences"},
    {NULL},
};

static int key_parse(const char *text, knot_tsig_key_t *key, mns_error_t *err)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", text);
	char *alg = strchr(buf, ':');
	char *secret = alg ? strchr(alg + 1, ':') : NULL;
	if (alg == NULL || secret == NULL)
		return mns_error_set_key(err, "key", "invalid_key",
		                         "'%s' is not NAME:ALGORITHM:BASE64SECRET", text);
	*alg++ = '\0';
	*secret++ = '\0';
	if (buf[0] == '\0' || *secret == '\0')
		return mns_error_set_key(err, "key", "invalid_key", "'%s': empty name or secret",
		                         text);
	int ret = knot_tsig_key_init(key, alg, buf, secret);
	if (ret != KNOT_EOK)
		return mns_error_set_key(err, "key", "invalid_key",
		                         "'%s': unknown algorithm or bad base64 secret (%s)", text,
		                         knot_strerror(ret));
	knot_dname_to_lower(key->name);
	return MNS_OK;
}

static int key_by_text(const mns_xfr_conf_t *c, const char *name)
{
	knot_dname_storage_t w;
	if (knot_dname_from_str(w, name, sizeof(w)) == NULL)
		return -1;
	knot_dname_to_lower(w);
	return mns_xfr_key_find(c, w, -1);
}

int mns_xfr_key_find(const mns_xfr_conf_t *c, const knot_dname_t *name, int alg)
{
	for (size_t i = 0; i < c->n_keys; i++) {
		if (!knot_dname_is_case_equal(c->keys[i].name, name))
			continue;
		if (alg >= 0 && (int)c->keys[i].algorithm != alg)
			continue;
		return (int)i;
	}
	return -1;
}

int mns_xfr_acl_parse(const char *text, const mns_xfr_conf_t *c, mns_xfr_acl_t *out,
                      mns_error_t *err)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", text);
	memset(out, 0, sizeof(*out));
	out->key = -1;
	char *slash = strchr(buf, '/');
	char *keyname = NULL;
	if (slash != NULL) {
		*slash++ = '\0';
		keyname = strchr(slash, ':');
		if (keyname)
			*keyname++ = '\0';
	}
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
	} else {
		return mns_error_set_key(err, "allow", "invalid_acl",
		                         "'%s' is not ADDRESS[/LEN][:KEY] (e.g. 127.0.0.0/8)",
		                         text);
	}
	if (slash != NULL) {
		char *end = NULL;
		long len = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || len < 0 || len > out->prefix)
			return mns_error_set_key(err, "allow", "invalid_acl",
			                         "'%s': bad prefix length", text);
		out->prefix = (uint8_t)len;
	}
	if (keyname != NULL) {
		out->key = key_by_text(c, keyname);
		if (out->key < 0)
			return mns_error_set_key(err, "allow", "invalid_acl",
			                         "'%s': no key '%s' in [xfr] key", text, keyname);
	}
	return MNS_OK;
}

int mns_xfr_conf_parse(const json_t *j, mns_xfr_conf_t *c, mns_error_t *err)
{
	memset(c, 0, sizeof(*c));
	c->notify_key = -1;
	const json_t *v;
	size_t i;
	int ret = MNS_OK;
	const json_t *keys = json_object_get(j, "key");
	c->keys = calloc(json_array_size(keys) + 1, sizeof(*c->keys));
	json_array_foreach(keys, i, v)
	{
		if ((ret = key_parse(json_string_value(v), &c->keys[c->n_keys], err)) != MNS_OK)
			return ret;
		c->n_keys++;
		if (mns_xfr_key_find(c, c->keys[c->n_keys - 1].name, -1) != (int)c->n_keys - 1)
			return mns_error_set_key(err, "key", "invalid_key",
			                         "key '%s' defined twice", json_string_value(v));
	}
	const json_t *acl = json_object_get(j, "allow");
	c->acl = calloc(json_array_size(acl) + 1, sizeof(*c->acl));
	json_array_foreach(acl, i, v)
	{
		if ((ret = mns_xfr_acl_parse(json_string_value(v), c, &c->acl[c->n_acl], err)) !=
		    MNS_OK)
			return ret;
		c->n_acl++;
	}
	const json_t *nt = json_object_get(j, "notify");
	c->notify = calloc(json_array_size(nt) + 1, sizeof(*c->notify));
	json_array_foreach(nt, i, v)
	{
		mns_listen_t l;
		const char *t = json_string_value(v);
		struct sockaddr_storage *ss = &c->notify[c->n_notify];
		int rc = mns_listen_parse(t, &l);
		if (rc == MNS_OK)
			rc = strchr(l.addr, ':')
			         ? uv_ip6_addr(l.addr, l.port, (struct sockaddr_in6 *)ss)
			         : uv_ip4_addr(l.addr, l.port, (struct sockaddr_in *)ss);
		if (rc != 0)
			return mns_error_set_key(err, "notify", "invalid_notify",
			                         "'%s' is not ADDRESS@PORT (e.g. 127.0.0.2@53)", t);
		c->n_notify++;
	}
	const char *nk = json_string_value(json_object_get(j, "notify-key"));
	if (nk && nk[0]) {
		c->notify_key = key_by_text(c, nk);
		if (c->notify_key < 0)
			return mns_error_set_key(err, "notify-key", "invalid_key",
			                         "no key '%s' in [xfr] key", nk);
	}
	c->notify_delay_ms = (uint32_t)json_integer_value(json_object_get(j, "notify-delay"));
	c->notify_retries = (uint32_t)json_integer_value(json_object_get(j, "notify-retries"));
	c->notify_timeout_ms = (uint32_t)json_integer_value(json_object_get(j, "notify-timeout"));
	c->ixfr_history = (uint32_t)json_integer_value(json_object_get(j, "ixfr-history"));
	const char *cat = json_string_value(json_object_get(j, "catalog"));
	if (cat && cat[0]) {
		knot_dname_storage_t w;
		if (knot_dname_from_str(w, cat, sizeof(w)) == NULL || w[0] == 0)
			return mns_error_set_key(err, "catalog", "invalid_catalog",
			                         "'%s' is not a domain name", cat);
		knot_dname_to_lower(w);
		c->catalog = knot_dname_copy(w, NULL);
	}
	const char *grp = json_string_value(json_object_get(j, "catalog-group"));
	if (grp && strlen(grp) > 255)
		return mns_error_set_key(err, "catalog-group", "invalid_catalog",
		                         "longer than 255 characters");
	c->catalog_group = strdup(grp ? grp : "");
	return MNS_OK;
}

void mns_xfr_conf_deinit(mns_xfr_conf_t *c)
{
	for (size_t i = 0; i < c->n_keys; i++)
		knot_tsig_key_deinit(&c->keys[i]);
	free(c->keys);
	free(c->acl);
	free(c->notify);
	free(c->catalog);
	free(c->catalog_group);
	memset(c, 0, sizeof(*c));
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

bool mns_xfr_acl_allows(const mns_xfr_conf_t *c, const struct sockaddr *from, int key)
{
	uint8_t addr[16];
	int family;
	if (from == NULL)
		return false;
	if (from->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)from)->sin_addr, 4);
		family = AF_INET;
	} else if (from->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)from)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(addr, a6->s6_addr + 12, 4);
			family = AF_INET;
		} else {
			memcpy(addr, a6->s6_addr, 16);
			family = AF_INET6;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < c->n_acl; i++) {
		const mns_xfr_acl_t *e = &c->acl[i];
		if (e->family != family || !prefix_match(e->addr, addr, e->prefix))
			continue;
		if (e->key < 0 || e->key == key)
			return true;
	}
	return false;
}

mns_xfr_auth_t mns_xfr_tsig_check(const mns_xfr_conf_t *c, const knot_pkt_t *q)
{
	mns_xfr_auth_t a = {.key = -1};
	if (q->tsig_rr == NULL)
		return a;
	knot_dname_storage_t owner;
	if (knot_dname_store(owner, q->tsig_rr->owner) == 0) {
		a.rcode = KNOT_RCODE_FORMERR;
		return a;
	}
	knot_dname_to_lower(owner);
	int k = mns_xfr_key_find(c, owner, (int)knot_tsig_rdata_alg(q->tsig_rr));
	if (k < 0) {
		a.rcode = KNOT_RCODE_NOTAUTH;
		a.tsig_error = KNOT_RCODE_BADKEY;
		return a;
	}
	int ret = knot_tsig_server_check(q->tsig_rr, q->wire, q->size, &c->keys[k]);
	switch (ret) {
	case KNOT_EOK:
		a.key = k;
		return a;
	case KNOT_TSIG_EBADTIME:
		a.tsig_error = KNOT_RCODE_BADTIME;
		break;
	case KNOT_TSIG_EBADKEY:
		a.tsig_error = KNOT_RCODE_BADKEY;
		break;
	case KNOT_TSIG_EBADSIG:
		a.tsig_error = KNOT_RCODE_BADSIG;
		break;
	default:
		a.rcode = KNOT_RCODE_FORMERR;
		return a;
	}
	a.rcode = KNOT_RCODE_NOTAUTH;
	return a;
}
