/*  The mutation path of DESIGN.md: validate (core, then each plugin for its
 *  section) → build the zone (plugins emit records) → write the document
 *  durably → publish the zone into the index → answer ok. A failure at any
 *  step leaves the store and the served zones as they were.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/control.h"
#include "log/log.h"
#include "plugin/plugin_internal.h"
#include "plugin/registry.h"
#include "tenant/dname.h"
#include "tenant/external.h"
#include "tenant/instr.h"
#include "tenant/tenant.h"
#include "util/heap_thp.h"
#include "util/util.h"
#include "zone/zone.h"

/* The names a tenant document implies. */
typedef struct tenant_names {
	char id[64];
	char domain[MNS_DNAME_TXT_MAX];
	char subdomain[64];
	mns_mode_t mode;
	char apex[MNS_DNAME_TXT_MAX]; /* Zone the records live in (ns: own; cname: hosted). */
	char base[MNS_DNAME_TXT_MAX]; /* ns: the apex; cname: <id>.<hosted>. */
	char mail_domain[MNS_DNAME_TXT_MAX];
	const char *mail_label;
} tenant_names_t;

static const char *mode_name(mns_mode_t m)
{
	return m == MNS_MODE_CNAME ? "cname" : "ns";
}

/* Fills names from the identifying fields; checks the lengths they imply. */
static int names_init(const mns_server_t *s, tenant_names_t *n, const char *id, const char *domain,
                      mns_mode_t mode, const char *subdomain, mns_error_t *err)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "%s", id);
	snprintf(n->domain, sizeof(n->domain), "%s", domain);
	snprintf(n->subdomain, sizeof(n->subdomain), "%s", subdomain ? subdomain : "");
	n->mode = mode;
	int len;
	if (mode == MNS_MODE_NS) {
		len = n->subdomain[0] ? snprintf(n->apex, sizeof(n->apex), "%s.%s", n->subdomain, domain)
		                      : snprintf(n->apex, sizeof(n->apex), "%s", domain);
		snprintf(n->base, sizeof(n->base), "%s", n->apex);
		snprintf(n->mail_domain, sizeof(n->mail_domain), "%s", n->apex);
		n->mail_label = "@";
		/* Owners such as s1._domainkey.<apex> must still fit in 255 octets. */
		if (len > 253 - 32)
			return mns_error_set(err, "invalid_domain",
			                     "zone '%s' is too long to hold the records below it: use a shorter domain or subdomain",
			                     n->apex);
	} else {
		snprintf(n->apex, sizeof(n->apex), "%s", s->conf->hosted_zone);
		len = snprintf(n->base, sizeof(n->base), "%s.%s", id, s->conf->hosted_zone);
		int ml = snprintf(n->mail_domain, sizeof(n->mail_domain), "%s.%s", s->conf->bounce_label,
		                  domain);
		n->mail_label = s->conf->bounce_label;
		if (len > 253 - 32 || ml > 253 - 32)
			return mns_error_set(err, "invalid_domain", "domain '%s' is too long", domain);
	}
	return MNS_OK;
}

static int names_from_doc(const mns_server_t *s, const json_t *doc, tenant_names_t *n,
                          mns_error_t *err)
{
	const char *mode = json_string_value(json_object_get(doc, "mode"));
	return names_init(s, n, json_string_value(json_object_get(doc, "tenant")),
	                  json_string_value(json_object_get(doc, "domain")),
	                  mode && !strcmp(mode, "cname") ? MNS_MODE_CNAME : MNS_MODE_NS,
	                  json_string_value(json_object_get(doc, "subdomain")), err);
}

static void ctx_init(const mns_server_t *s, const tenant_names_t *n, mns_tenant_ctx_t *ctx)
{
	*ctx = (mns_tenant_ctx_t){
		.id = n->id,
		.domain = n->domain,
		.mode = n->mode,
		.base = n->base,
		.mail_label = n->mail_label,
		.mail_domain = n->mail_domain,
		.ttl = s->conf->ttl,
		.now = time(NULL),
	};
}

/* Zone lookup keys: the canonical (knot_dname_lf) form without its length
 * octet, so that every zone below Z has Z's key as a prefix. */
static size_t zone_key(const char *name, uint8_t key[KNOT_DNAME_MAXLEN])
{
	knot_dname_storage_t wire;
	if (knot_dname_from_str(wire, name, sizeof(wire)) == NULL)
		return 0;
	knot_dname_to_lower(wire);
	knot_dname_storage_t storage;
	const uint8_t *lf = knot_dname_lf(wire, storage);
	memcpy(key, lf + 1, lf[0]);
	return lf[0];
}

/* The SOA serial of a zone: the document's, raised to the floor that a
 * config change set (see bump_serial_floor). */
static uint32_t serial_of(mns_txn_t *txn, const json_t *doc)
{
	uint32_t serial = (uint32_t)json_integer_value(json_object_get(doc, "serial")), floor = 0;
	if (mns_store_meta_get_u32(txn, "serial_floor", &floor) == MNS_OK &&
	    (int32_t)(floor - serial) > 0)
		serial = floor;
	return serial;
}

static int add_soa_ns(const mns_server_t *s, mns_zone_builder_t *zb, uint32_t serial,
                      mns_error_t *err)
{
	const mns_conf_t *c = s->conf;
	int ret = mns_zb_add_soa(zb, c->soa_ttl, c->nameservers[0], c->soa_contact, serial,
	                         c->refresh, c->retry, c->expire, c->negative_ttl, err);
	for (size_t i = 0; ret == MNS_OK && i < c->n_nameservers; i++)
		ret = mns_zb_add_ns(zb, "@", c->soa_ttl, c->nameservers[i], err);
	return ret;
}

/* What a tenant document builds into: its zone (ns) or subtree (cname), and
 * the records it places in vendor zones, each a small subtree of its own. */
typedef struct built {
	mns_zone_t *zone;
	mns_zone_t **ext;
	size_t n_ext;
	json_t *ext_names; /* Owners of ext, stored in the document as "external". */
} built_t;

static void built_free(built_t *b)
{
	mns_zone_free(b->zone);
	for (size_t i = 0; i < b->n_ext; i++)
		mns_zone_free(b->ext[i]);
	free(b->ext);
	json_decref(b->ext_names);
	memset(b, 0, sizeof(*b));
}

/* Publishes what was built (the index takes the zones). */
static void built_publish(mns_server_t *s, built_t *b)
{
	if (mns_index_publish(s->index, b->zone) != MNS_OK)
		mns_log(MNS_LOG_ERR, "zone publish failed: out of memory");
	for (size_t i = 0; i < b->n_ext; i++)
		if (mns_index_publish(s->index, b->ext[i]) != MNS_OK)
			mns_log(MNS_LOG_ERR, "zone publish failed: out of memory");
	b->zone = NULL;
	b->n_ext = 0;
	built_free(b);
}

/* Builds the zone (ns) or subtree (cname) of a tenant document. */
static int build_zone(const mns_server_t *s, mns_txn_t *txn, const json_t *doc, built_t *out,
                      mns_error_t *err)
{
	tenant_names_t n;
	memset(out, 0, sizeof(*out));
	int ret = names_from_doc(s, doc, &n, err);
	if (ret != MNS_OK)
		return ret;
	/* A cname-mode subtree is indexed at its own root, below the hosted zone. */
	mns_zone_builder_t *zb = mns_zb_new(n.base, n.base,
	                                    n.mode == MNS_MODE_NS ? MNS_ZONE_TENANT : MNS_ZONE_SUBTREE);
	if (zb == NULL)
		return mns_error_set(err, "internal", "cannot start a zone for '%s'", n.base);
	/* On the stack: it allocates only if a plugin places a record outside. */
	mns_external_t ext;
	mns_external_init(&ext, s, n.id);
	mns_zb_set_tenant(zb, n.id);
	mns_zb_set_external(zb, &ext);
	mns_zb_set_producer(zb, "core");
	if (n.mode == MNS_MODE_NS)
		ret = add_soa_ns(s, zb, serial_of(txn, doc), err);
	mns_tenant_ctx_t ctx;
	ctx_init(s, &n, &ctx);
	for (size_t i = 0; ret == MNS_OK && i < s->n_plugins; i++) {
		const mns_plugin_api_t *api = mns_plugin_api(s->plugins[i]);
		if (api->tenant_build == NULL)
			continue;
		mns_zb_set_producer(zb, api->name);
		ret = api->tenant_build(s->plugins[i], &ctx, json_object_get(doc, api->name), zb, err);
		if (ret != MNS_OK && err && err->code[0] == '\0')
			mns_error_set(err, "build_failed", "plugin %s could not build the records", api->name);
	}
	if (ret == MNS_OK)
		ret = mns_zb_build(zb, &out->zone, err);
	if (ret == MNS_OK)
		ret = mns_external_build(&ext, &out->ext, &out->n_ext, &out->ext_names, err);
	mns_zb_free(zb);
	mns_external_fini(&ext);
	if (ret != MNS_OK)
		built_free(out);
	return ret;
}

/* Withdraws the vendor-zone records \a old placed that \a keep (may be NULL)
 * no longer has. */
static void withdraw_external(mns_server_t *s, const json_t *old, const json_t *keep)
{
	size_t i, j;
	json_t *name, *k;
	json_array_foreach(json_object_get(old, "external"), i, name) {
		bool kept = false;
		json_array_foreach(keep, j, k)
			kept = kept || json_equal(k, name);
		knot_dname_storage_t apex;
		if (kept || knot_dname_from_str(apex, json_string_value(name), sizeof(apex)) == NULL)
			continue;
		knot_dname_to_lower(apex);
		mns_index_withdraw(s->index, apex);
	}
}

static int publish_hosted(mns_server_t *s, uint32_t serial, mns_error_t *err)
{
	mns_zone_builder_t *zb = mns_zb_new(s->conf->hosted_zone, s->conf->hosted_zone, MNS_ZONE_HOSTED);
	if (zb == NULL)
		return mns_error_set(err, "internal", "cannot start the hosted zone");
	mns_zb_set_producer(zb, "core");
	mns_zone_t *z = NULL;
	int ret = add_soa_ns(s, zb, serial, err);
	for (size_t i = 0; ret == MNS_OK && i < s->n_plugins; i++) {
		const mns_plugin_api_t *api = mns_plugin_api(s->plugins[i]);
		if (!MNS_PLUGIN_HAS(api, hosted_build) || api->hosted_build == NULL)
			continue;
		mns_zb_set_producer(zb, api->name);
		ret = api->hosted_build(s->plugins[i], zb, err);
	}
	if (ret == MNS_OK)
		ret = mns_zb_build(zb, &z, err);
	mns_zb_free(zb);
	if (ret == MNS_OK)
		ret = mns_index_publish(s->index, z);
	return ret;
}

/* Index entries of a document: its domain and, in ns mode, its zone. */
static int index_entries(mns_txn_t *txn, const mns_server_t *s, const json_t *doc, bool add,
                         mns_error_t *err)
{
	tenant_names_t n;
	if (names_from_doc(s, doc, &n, err) != MNS_OK)
		return MNS_EINVAL;
	int ret = add ? mns_store_index_put(txn, MNS_IDX_DOMAIN, n.domain, strlen(n.domain), n.id, err)
	              : mns_store_index_del(txn, MNS_IDX_DOMAIN, n.domain, strlen(n.domain), err);
	if (ret == MNS_OK && n.mode == MNS_MODE_NS) {
		uint8_t key[KNOT_DNAME_MAXLEN];
		size_t klen = zone_key(n.apex, key);
		ret = add ? mns_store_index_put(txn, MNS_IDX_ZONE, key, klen, n.id, err)
		          : mns_store_index_del(txn, MNS_IDX_ZONE, key, klen, err);
	}
	return ret;
}

static void withdraw_doc(mns_server_t *s, const json_t *doc)
{
	tenant_names_t n;
	if (names_from_doc(s, doc, &n, NULL) != MNS_OK)
		return;
	knot_dname_storage_t apex;
	if (knot_dname_from_str(apex, n.base, sizeof(apex)) == NULL)
		return;
	knot_dname_to_lower(apex);
	mns_index_withdraw(s->index, apex);
}

/* Does a tenant place records in vendor zones? Any change to such a tenant
 * raises the serials of the hosted and static zones, so that secondaries
 * transfer them again (cheap: those zones are small; only such tenants pay). */
static bool has_external(const json_t *doc)
{
	return doc != NULL && json_object_get(doc, "external") != NULL;
}

static bool involves_hosted(const json_t *doc)
{
	const char *m = json_string_value(json_object_get(doc, "mode"));
	return doc && m && strcmp(m, "cname") == 0;
}

/* --- group commit ----------------------------------------------------------
 * Mutations that arrive together over the control socket (pipelined on one
 * connection, or from several clients in one turn of the loop) each run in
 * a nested transaction of one group; the group is committed durably once,
 * at the end of the loop turn (mns_tenant_group_flush()), and only then are
 * their zones published and their oks sent, in request order. A member that
 * fails is dropped alone (its nested transaction aborts) and answered with
 * its error; if the group's commit fails, every member gets that error and
 * nothing of the group is published. Main loop only. */

/* A mutation merged into the open group, made visible once it is durable. */
typedef struct member {
	built_t b;
	json_t *old; /* The replaced or removed document (NULL: an add). */
	bool removed;
	bool moved; /* The zone's name changed: the old one is withdrawn. */
	bool hosted, vendor_zones;
	uint32_t serial;
	mns_reply_t *reply; /* Where its answer goes. */
	json_t *result;
} member_t;

static struct {
	member_t *v;
	size_t n, cap;
} group;

static void group_hook(void *data)
{
	mns_tenant_group_flush(data);
}

/* Can this mutation join a group? Only one whose answer can wait: a control
 * request from a connection (the store then has no other writer meanwhile). */
static bool group_possible(mns_server_t *s)
{
	return mns_control_can_defer(s);
}

static member_t *group_push(mns_server_t *s)
{
	if (group.n == group.cap) {
		size_t cap = group.cap ? 2 * group.cap : 16;
		member_t *v = realloc(group.v, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		group.v = v;
		group.cap = cap;
	}
	member_t *m = &group.v[group.n++];
	memset(m, 0, sizeof(*m));
	if (group.n == 1) { /* The group opens: its flush hook and end-of-turn commit. */
		mns_store_set_group_flush(s->store, group_hook, s);
		mns_control_group_opened(s);
	}
	return m;
}

/* Makes a durable mutation visible: withdraws what it replaced, publishes
 * what it built. (The hosted and static zones are the caller's.) */
static void member_publish(mns_server_t *s, member_t *m)
{
	if (m->old && (m->removed || m->moved))
		withdraw_doc(s, m->old);
	if (m->old)
		withdraw_external(s, m->old, m->removed ? NULL : m->b.ext_names);
	if (!m->removed)
		built_publish(s, &m->b);
	s->mutations++;
}

/* The answer of the mutation just merged into the group waits for the
 * group's commit. \return MNS_PENDING (answered later), or, when it cannot
 * wait, the outcome of committing the group now. */
static int group_defer(mns_server_t *s, json_t **result, mns_error_t *err)
{
	member_t *m = &group.v[group.n - 1];
	m->reply = mns_control_defer(s);
	if (m->reply != NULL) {
		m->result = *result;
		*result = NULL;
		return MNS_PENDING;
	}
	int ret = mns_tenant_group_flush_status(s, err);
	if (ret != MNS_OK) {
		json_decref(*result);
		*result = NULL;
	}
	return ret;
}

int mns_tenant_group_flush_status(mns_server_t *s, mns_error_t *err)
{
	if (s->store == NULL || (group.n == 0 && !mns_store_group_open(s->store)))
		return MNS_OK;
	/* Called back from inside a member (a plugin check that writes): the
	 * turn's end commits the group. */
	if (mns_store_member_running(s->store))
		return MNS_OK;
	member_t *v = group.v;
	size_t n = group.n;
	group.v = NULL;
	group.n = group.cap = 0;
	mns_error_t e = { 0 };
	int ret = mns_store_group_commit(s->store, &e);
	if (err != NULL && ret != MNS_OK)
		*err = e;
	/* Answers may let a client's held requests run: not from in here (they
	 * would start the next group inside this one's flush). */
	mns_control_hold(s, true);
	bool hosted = false, statics = false;
	uint32_t serial = 0;
	for (size_t i = 0; i < n && ret == MNS_OK; i++) {
		member_publish(s, &v[i]);
		if (v[i].hosted) {
			hosted = true;
			serial = v[i].serial;
		}
		statics = statics || (v[i].vendor_zones && s->n_static > 0);
	}
	mns_error_t perr = { 0 };
	if (hosted && publish_hosted(s, serial, &perr) != MNS_OK)
		mns_log(MNS_LOG_ERR, "hosted zone publish failed: %s", perr.message);
	if (statics)
		mns_server_static_reload(s);
	if (n > 1)
		mns_log(MNS_LOG_DEBUG, "store, group commit of %zu mutations: %s", n,
		        ret == MNS_OK ? "ok" : e.code);
	for (size_t i = 0; i < n; i++) {
		member_t *m = &v[i];
		built_free(&m->b);
		json_decref(m->old);
		if (ret == MNS_OK) {
			mns_plugin_reply(m->reply, MNS_OK, m->result, NULL);
		} else {
			json_decref(m->result);
			mns_plugin_reply(m->reply, ret, NULL, &e);
		}
	}
	free(v);
	mns_control_hold(s, false);
	return ret;
}

void mns_tenant_group_flush(mns_server_t *s)
{
	mns_tenant_group_flush_status(s, NULL);
}

/* Stores \a doc (replacing \a old, if any), then publishes its zone. Takes
 * the transaction. The zone is built before the commit so that a document
 * whose records cannot be built is never stored. A group member (\a txn from
 * mns_txn_begin_member()) is only merged into the group: it is published by
 * mns_tenant_group_flush() once the group is durable. */
static int commit_tenant(mns_server_t *s, mns_txn_t *txn, json_t *doc, const json_t *old,
                         bool grouped, mns_error_t *err)
{
	const char *id = json_string_value(json_object_get(doc, "tenant"));
	uint32_t serial;
	built_t b = { 0 };
	bool hosted = involves_hosted(doc) || involves_hosted(old);
	int ret = mns_store_next_serial(txn, (uint32_t)time(NULL), &serial, err);
	if (ret != MNS_OK)
		goto fail;
	json_object_set_new(doc, "serial", json_integer(serial));
	json_object_set_new(doc, "updated", json_integer(time(NULL)));
	if ((ret = build_zone(s, txn, doc, &b, err)) != MNS_OK)
		goto fail;
	if (b.n_ext > 0)
		json_object_set(doc, "external", b.ext_names);
	else
		json_object_del(doc, "external");
	/* Records in vendor zones: the hosted and static zones' serials rise. */
	bool vendor_zones = has_external(old) || has_external(doc);
	hosted = hosted || vendor_zones;
	if (hosted && (ret = mns_store_meta_put_u32(txn, "hosted_serial", serial, err)) != MNS_OK)
		goto fail;
	if (vendor_zones && s->n_static > 0 &&
	    (ret = mns_store_meta_put_u32(txn, "static_floor", serial, err)) != MNS_OK)
		goto fail;
	if (old && (ret = index_entries(txn, s, old, false, err)) != MNS_OK)
		goto fail;
	if ((ret = index_entries(txn, s, doc, true, err)) != MNS_OK)
		goto fail;
	if ((ret = mns_store_tenant_put(txn, id, doc, err)) != MNS_OK)
		goto fail;
	member_t *m = grouped ? group_push(s) : NULL;
	if (grouped && m == NULL) {
		ret = mns_error_set(err, "out_of_memory", "out of memory");
		goto fail;
	}
	ret = mns_txn_commit(txn, err);
	txn = NULL;
	if (ret != MNS_OK) {
		if (m != NULL)
			group.n--;
		goto fail;
	}
	/* A member keeps its own copy of the old document (the caller's goes). */
	member_t now = { .b = b, .old = m && old ? json_deep_copy(old) : (json_t *)old, .hosted = hosted,
	                 .vendor_zones = vendor_zones, .serial = serial,
	                 .moved = old && !json_equal(json_object_get(old, "zone"),
	                                             json_object_get(doc, "zone")) };
	if (m != NULL) {
		*m = now;
		return MNS_OK;
	}
	/* Durable: now make it visible. Publishing replaces a zone at the same
	 * apex atomically; only a moved zone leaves an old one to withdraw. */
	member_publish(s, &now);
	mns_error_t perr;
	if (hosted && publish_hosted(s, serial, &perr) != MNS_OK)
		mns_log(MNS_LOG_ERR, "hosted zone publish failed: %s", perr.message);
	if (vendor_zones && s->n_static > 0)
		mns_server_static_reload(s);
	return MNS_OK;
fail:
	mns_txn_abort(txn);
	built_free(&b);
	return ret;
}

/* --- argument helpers ------------------------------------------------------ */

static int arg_string(const json_t *args, const char *key, bool required, const char **out,
                      mns_error_t *err)
{
	const json_t *v = json_object_get(args, key);
	*out = NULL;
	if (v == NULL) {
		if (required)
			return mns_error_set_key(err, key, "missing_field", "'%s' is required", key);
		return MNS_OK;
	}
	if (!json_is_string(v))
		return mns_error_set_key(err, key, "wrong_type", "'%s' must be a string", key);
	*out = json_string_value(v);
	return MNS_OK;
}

static int arg_tenant(const json_t *args, const char **id, mns_error_t *err)
{
	int ret = arg_string(args, "tenant", true, id, err);
	return ret == MNS_OK ? mns_tenant_id_check(*id, err) : ret;
}

/* The top-level keys a request may carry: identity fields plus one section
 * per loaded plugin. */
static int check_top_keys(const mns_server_t *s, const json_t *args, bool update,
                          mns_error_t *err)
{
	static const char *const core_keys[] = { "tenant", "domain", "mode", "subdomain" };
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)args, k, v) {
		bool ok = false;
		for (size_t i = 0; i < MNS_ARRAY_SIZE(core_keys) && !ok; i++)
			ok = strcmp(k, core_keys[i]) == 0;
		if (ok)
			continue;
		if (mns_server_plugin(s, k) != NULL) {
			if (!json_is_object(v) && !(update && json_is_null(v)))
				return mns_error_set_key(err, k, "wrong_type", "'%s' must be an object", k);
			continue;
		}
		return mns_error_set_key(err, k, "unknown_field",
		                         "unknown field '%s' (known: tenant, domain, mode, subdomain and the plugin sections)",
		                         k);
	}
	return MNS_OK;
}

static int parse_mode(const char *text, mns_mode_t *mode, mns_error_t *err)
{
	if (text == NULL || strcmp(text, "ns") == 0)
		*mode = MNS_MODE_NS;
	else if (strcmp(text, "cname") == 0)
		*mode = MNS_MODE_CNAME;
	else
		return mns_error_set_key(err, "mode", "invalid_mode",
		                         "mode '%s' is unknown: use \"ns\" (delegate a subdomain) or \"cname\" (add CNAMEs)",
		                         text);
	return MNS_OK;
}

static int parse_subdomain(const char *text, char *out, mns_error_t *err)
{
	size_t len = strlen(text);
	if (len > 63)
		return mns_error_set_key(err, "subdomain", "invalid_subdomain",
		                         "subdomain must be one label of at most 63 characters");
	for (size_t i = 0; i <= len; i++)
		out[i] = (char)tolower((unsigned char)text[i]);
	if (len == 0)
		return MNS_OK;
	if (strchr(out, '.') != NULL)
		return mns_error_set_key(err, "subdomain", "invalid_subdomain",
		                         "subdomain '%s' must be a single label such as 'mail' (no dots)", text);
	mns_error_t lerr;
	if (mns_label_check(out, false, &lerr) != MNS_OK)
		return mns_error_set_key(err, "subdomain", "invalid_subdomain", "subdomain: %s", lerr.message);
	return MNS_OK;
}

/* Refuses a name that would be served by two tenants, or by a tenant and a
 * vendor zone. \a name is the ns-mode zone or the cname-mode domain. */
static int check_overlap(const mns_server_t *s, mns_txn_t *txn, const tenant_names_t *n,
                         mns_error_t *err)
{
	const char *name = n->mode == MNS_MODE_NS ? n->apex : n->domain;
	const char *hosted = s->conf->hosted_zone;
	if (mns_dname_in_zone(name, hosted) || mns_dname_in_zone(hosted, name))
		return mns_error_set(err, "zone_overlap",
		                     "'%s' overlaps the vendor's hosted zone '%s'", name, hosted);
	knot_dname_storage_t wire;
	if (knot_dname_from_str(wire, name, sizeof(wire)) == NULL)
		return mns_error_set(err, "invalid_domain", "'%s' is not a valid name", name);
	knot_dname_to_lower(wire);
	for (size_t i = 0; i < s->n_static; i++) {
		const knot_dname_t *z = s->static_apexes[i];
		if (knot_dname_in_bailiwick(wire, z) >= 0 ||
		    (n->mode == MNS_MODE_NS && knot_dname_in_bailiwick(z, wire) >= 0)) {
			char zt[KNOT_DNAME_TXT_MAXLEN];
			knot_dname_to_str(zt, z, sizeof(zt));
			return mns_error_set(err, "zone_overlap", "'%s' overlaps the vendor's zone '%s'",
			                     name, zt);
		}
	}
	/* The name or an ancestor is another tenant's zone. */
	char owner[64];
	for (const char *p = name; p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL) {
		uint8_t key[KNOT_DNAME_MAXLEN];
		size_t klen = zone_key(p, key);
		if (klen && mns_store_index_get(txn, MNS_IDX_ZONE, key, klen, owner) == MNS_OK &&
		    strcmp(owner, n->id) != 0)
			return mns_error_set(err, "zone_overlap",
			                     "'%s' is inside zone '%s' of tenant '%s'", name, p, owner);
	}
	/* Another tenant's zone is below the new zone. */
	if (n->mode == MNS_MODE_NS) {
		uint8_t key[KNOT_DNAME_MAXLEN];
		size_t klen = zone_key(name, key);
		if (mns_store_index_prefix(txn, MNS_IDX_ZONE, key, klen, owner) == MNS_OK &&
		    strcmp(owner, n->id) != 0)
			return mns_error_set(err, "zone_overlap",
			                     "zone '%s' would contain the zone of tenant '%s'", name, owner);
	}
	return MNS_OK;
}

static int check_domain_free(mns_txn_t *txn, const tenant_names_t *n, mns_error_t *err)
{
	char owner[64];
	if (mns_store_index_get(txn, MNS_IDX_DOMAIN, n->domain, strlen(n->domain), owner) == MNS_OK &&
	    strcmp(owner, n->id) != 0)
		return mns_error_set(err, "duplicate_domain", "domain '%s' belongs to tenant '%s'",
		                     n->domain, owner);
	return MNS_OK;
}

/* Runs every plugin's tenant_check for its section; fills doc. */
static int check_sections(const mns_server_t *s, const tenant_names_t *n, const json_t *old,
                          const json_t *args, json_t *doc, mns_error_t *err)
{
	mns_tenant_ctx_t ctx;
	ctx_init(s, n, &ctx);
	for (size_t i = 0; i < s->n_plugins; i++) {
		const mns_plugin_api_t *api = mns_plugin_api(s->plugins[i]);
		const json_t *in = json_object_get(args, api->name);
		const json_t *prev = old ? json_object_get(old, api->name) : NULL;
		json_t *out = NULL;
		if (api->tenant_check) {
			/* A null section (tenant.update) asks the plugin to reset it. */
			int ret = api->tenant_check(s->plugins[i], &ctx, prev, in, &out, err);
			if (ret != MNS_OK) {
				if (err && err->code[0] == '\0')
					mns_error_set(err, "invalid_section", "%s: invalid section", api->name);
				return ret;
			}
		} else if (in && !json_is_null(in)) {
			out = json_incref((json_t *)in);
		} else if (prev) {
			out = json_incref((json_t *)prev);
		}
		if (out)
			json_object_set_new(doc, api->name, out);
	}
	return MNS_OK;
}

static json_t *public_doc(const mns_server_t *s, const json_t *doc)
{
	json_t *pub = json_deep_copy(doc);
	for (size_t i = 0; i < s->n_plugins; i++) {
		const mns_plugin_api_t *api = mns_plugin_api(s->plugins[i]);
		json_t *sec = json_object_get(pub, api->name);
		if (api->tenant_public && sec)
			json_object_set_new(pub, api->name, api->tenant_public(s->plugins[i], sec));
	}
	return pub;
}

/* --- commands -------------------------------------------------------------- */

/* Shared by add and update: resolves identity fields, checks uniqueness and
 * overlap, runs the plugins' checks, and commits. \a old is NULL for add. */
static int apply(mns_server_t *s, const json_t *args, json_t *old, json_t **result,
                 mns_error_t *err)
{
	const char *id, *domain_in, *mode_in, *sub_in;
	int ret = arg_tenant(args, &id, err);
	if (ret == MNS_OK)
		ret = check_top_keys(s, args, old != NULL, err);
	if (ret == MNS_OK)
		ret = arg_string(args, "domain", old == NULL, &domain_in, err);
	if (ret == MNS_OK)
		ret = arg_string(args, "mode", false, &mode_in, err);
	if (ret == MNS_OK)
		ret = arg_string(args, "subdomain", false, &sub_in, err);
	if (ret != MNS_OK)
		return ret;

	char domain[MNS_DNAME_TXT_MAX], notice[512] = "", sub[64];
	mns_mode_t mode = MNS_MODE_NS;
	if (domain_in) {
		if ((ret = mns_domain_from_user(domain_in, domain, notice, sizeof(notice), err)) != MNS_OK)
			return ret;
		if (notice[0] == '\0' && strcmp(domain, domain_in) != 0)
			snprintf(notice, sizeof(notice), "normalised '%s' to '%s'", domain_in, domain);
	} else {
		snprintf(domain, sizeof(domain), "%s", json_string_value(json_object_get(old, "domain")));
	}
	if (!mode_in && old)
		mode_in = json_string_value(json_object_get(old, "mode"));
	if ((ret = parse_mode(mode_in, &mode, err)) != MNS_OK)
		return ret;
	if (!sub_in)
		sub_in = old && json_object_get(old, "subdomain")
		                 ? json_string_value(json_object_get(old, "subdomain"))
		                 : s->conf->subdomain;
	if ((ret = parse_subdomain(sub_in, sub, err)) != MNS_OK)
		return ret;

	tenant_names_t n;
	if ((ret = names_init(s, &n, id, domain, mode, sub, err)) != MNS_OK)
		return ret;

	mns_txn_t *txn = NULL;
	json_t *doc = NULL;
	/* An add joins the group; an update (which read its old document
	 * outside the group) commits alone, after the group. */
	bool grouped = old == NULL && group_possible(s);
	if ((ret = grouped ? mns_txn_begin_member(s->store, &txn, err)
	                   : mns_txn_begin(s->store, true, &txn, err)) != MNS_OK)
		return ret;
	json_t *stored = NULL;
	ret = mns_store_tenant_get(txn, id, &stored);
	json_decref(stored);
	if (old == NULL && ret == MNS_OK) {
		ret = mns_error_set(err, "tenant_exists", "tenant '%s' already exists", id);
		goto fail;
	}
	/* The old index entries go first, so a tenant may move within its own names. */
	if (old && (ret = index_entries(txn, s, old, false, err)) != MNS_OK)
		goto fail;
	if ((ret = check_domain_free(txn, &n, err)) != MNS_OK)
		goto fail;
	if ((ret = check_overlap(s, txn, &n, err)) != MNS_OK)
		goto fail;

	doc = json_pack("{s:s, s:s, s:s, s:s, s:I}", "tenant", id, "domain", domain, "mode",
	                mode_name(mode), "zone", n.base, "created",
	                old ? json_integer_value(json_object_get(old, "created")) : (json_int_t)time(NULL));
	if (mode == MNS_MODE_NS)
		json_object_set_new(doc, "subdomain", json_string(sub));
	if ((ret = check_sections(s, &n, old, args, doc, err)) != MNS_OK)
		goto fail;
	ret = commit_tenant(s, txn, doc, old, grouped, err);
	txn = NULL;
	if (ret != MNS_OK)
		goto fail;
	/* Details only: the control layer logs the one line per mutation. */
	mns_log(MNS_LOG_DEBUG, "tenant=%s action=%s domain=%s mode=%s zone=%s serial=%lld result=ok",
	        id, old ? "update" : "add", domain, mode_name(mode), n.base,
	        (long long)json_integer_value(json_object_get(doc, "serial")));
	*result = public_doc(s, doc);
	if (notice[0])
		json_object_set_new(*result, "notices", json_pack("[s]", notice));
	json_decref(doc);
	return grouped ? group_defer(s, result, err) : MNS_OK;
fail:
	mns_log(MNS_LOG_DEBUG, "tenant=%s action=%s result=%s", id, old ? "update" : "add",
	        err ? err->code : "error");
	mns_txn_abort(txn);
	json_decref(doc);
	return ret;
}

int mns_tenant_cmd_add(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err)
{
	return apply(s, args, NULL, result, err);
}

/* Reads a tenant in a read transaction; "unknown_tenant" when absent. */
static int load(mns_server_t *s, const char *id, json_t **doc, mns_error_t *err)
{
	mns_txn_t *txn;
	int ret = mns_txn_begin(s->store, false, &txn, err);
	if (ret != MNS_OK)
		return ret;
	ret = mns_store_tenant_get(txn, id, doc);
	mns_txn_abort(txn);
	if (ret == MNS_ENOENT)
		return mns_error_set(err, "unknown_tenant", "no tenant '%s'", id), MNS_ENOENT;
	if (ret != MNS_OK)
		return mns_error_set(err, "store_failed", "cannot read tenant '%s'", id), ret;
	return MNS_OK;
}

int mns_tenant_cmd_update(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err)
{
	const char *id;
	json_t *old = NULL;
	int ret = arg_tenant(args, &id, err);
	if (ret == MNS_OK)
		ret = load(s, id, &old, err);
	if (ret == MNS_OK)
		ret = apply(s, args, old, result, err);
	json_decref(old);
	return ret;
}

int mns_tenant_cmd_remove(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err)
{
	const char *id;
	json_t *old = NULL;
	mns_txn_t *txn = NULL;
	int ret = arg_tenant(args, &id, err);
	if (ret == MNS_OK)
		ret = mns_json_check_keys(args, "args", (const char *const[]){ "tenant", NULL }, err);
	if (ret != MNS_OK)
		return ret;
	bool grouped = group_possible(s);
	if ((ret = grouped ? mns_txn_begin_member(s->store, &txn, err)
	                   : mns_txn_begin(s->store, true, &txn, err)) != MNS_OK)
		return ret;
	ret = mns_store_tenant_get(txn, id, &old);
	if (ret == MNS_ENOENT) {
		ret = mns_error_set(err, "unknown_tenant", "no tenant '%s'", id);
		goto fail;
	}
	uint32_t serial = 0;
	bool vendor_zones = has_external(old);
	bool hosted = involves_hosted(old) || vendor_zones;
	if (ret == MNS_OK)
		ret = index_entries(txn, s, old, false, err);
	if (ret == MNS_OK)
		ret = mns_store_tenant_del(txn, id, err);
	if (ret == MNS_OK && hosted && (ret = mns_store_next_serial(txn, (uint32_t)time(NULL), &serial, err)) == MNS_OK)
		ret = mns_store_meta_put_u32(txn, "hosted_serial", serial, err);
	if (ret == MNS_OK && vendor_zones && s->n_static > 0)
		ret = mns_store_meta_put_u32(txn, "static_floor", serial, err);
	if (ret != MNS_OK)
		goto fail;
	member_t *m = grouped ? group_push(s) : NULL;
	if (grouped && m == NULL) {
		ret = mns_error_set(err, "out_of_memory", "out of memory");
		goto fail;
	}
	ret = mns_txn_commit(txn, err);
	txn = NULL;
	if (ret != MNS_OK) {
		if (m != NULL)
			group.n--;
		goto fail;
	}
	member_t now = { .old = old, .removed = true, .hosted = hosted,
	                 .vendor_zones = vendor_zones, .serial = serial };
	mns_log(MNS_LOG_DEBUG, "tenant=%s action=remove result=ok", id);
	*result = json_pack("{s:s, s:b}", "tenant", id, "removed", 1);
	if (m != NULL) {
		*m = now; /* Takes old. */
		return group_defer(s, result, err);
	}
	member_publish(s, &now);
	mns_error_t perr;
	if (hosted && publish_hosted(s, serial, &perr) != MNS_OK)
		mns_log(MNS_LOG_ERR, "hosted zone publish failed: %s", perr.message);
	if (vendor_zones && s->n_static > 0)
		mns_server_static_reload(s);
	json_decref(old);
	return MNS_OK;
fail:
	mns_txn_abort(txn);
	json_decref(old);
	return ret;
}

int mns_tenant_cmd_get(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err)
{
	const char *id;
	json_t *doc = NULL;
	int ret = arg_tenant(args, &id, err);
	if (ret == MNS_OK)
		ret = load(s, id, &doc, err);
	if (ret == MNS_OK)
		*result = public_doc(s, doc);
	json_decref(doc);
	return ret;
}

typedef struct list_state {
	json_t *items;
	size_t limit;
	bool more;
} list_state_t;

static bool list_one(const char *id, json_t *doc, void *data)
{
	list_state_t *st = data;
	if (json_array_size(st->items) == st->limit) {
		st->more = true;
		return false;
	}
	json_array_append_new(st->items, json_pack("{s:s, s:O, s:O, s:O}", "tenant", id, "domain",
	                                           json_object_get(doc, "domain"), "mode",
	                                           json_object_get(doc, "mode"), "zone",
	                                           json_object_get(doc, "zone")));
	return true;
}

int mns_tenant_cmd_list(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err)
{
	const char *after = NULL;
	int ret = mns_json_check_keys(args, "args", (const char *const[]){ "after", "limit", NULL }, err);
	if (ret == MNS_OK)
		ret = arg_string(args, "after", false, &after, err);
	if (ret != MNS_OK)
		return ret;
	const json_t *lim = json_object_get(args, "limit");
	if (lim && !json_is_integer(lim))
		return mns_error_set_key(err, "limit", "wrong_type", "'limit' must be an integer");
	json_int_t limit = lim ? json_integer_value(lim) : 100;
	if (limit < 1 || limit > 1000)
		return mns_error_set_key(err, "limit", "invalid_limit", "'limit' must be 1 to 1000");
	mns_txn_t *txn;
	if ((ret = mns_txn_begin(s->store, false, &txn, err)) != MNS_OK)
		return ret;
	list_state_t st = { .items = json_array(), .limit = (size_t)limit };
	ret = mns_store_tenant_each(txn, after, list_one, &st);
	size_t total = mns_store_tenant_count(txn);
	mns_txn_abort(txn);
	if (ret != MNS_OK) {
		json_decref(st.items);
		return mns_error_set(err, "store_failed", "cannot list tenants");
	}
	size_t n = json_array_size(st.items);
	json_t *next = st.more && n ? json_deep_copy(json_object_get(json_array_get(st.items, n - 1), "tenant"))
	                            : json_null();
	*result = json_pack("{s:o, s:o, s:I}", "tenants", st.items, "next", next, "total",
	                    (json_int_t)total);
	return MNS_OK;
}

int mns_tenant_cmd_records(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err)
{
	const char *id;
	json_t *doc = NULL;
	int ret = arg_tenant(args, &id, err);
	if (ret == MNS_OK)
		ret = load(s, id, &doc, err);
	if (ret != MNS_OK)
		return ret;
	const char *base = json_string_value(json_object_get(doc, "zone"));
	knot_dname_storage_t apex;
	knot_dname_from_str(apex, base, sizeof(apex));
	knot_dname_to_lower(apex);
	json_t *records = NULL;
	char *text = NULL;
	mns_rcu_read_lock();
	const mns_zone_t *z = mns_index_get(s->index, apex);
	if (z)
		ret = mns_zone_dump(z, &records, &text);
	mns_rcu_read_unlock();
	if (z == NULL)
		ret = mns_error_set(err, "not_published", "tenant '%s' has no published zone", id);
	else if (ret == MNS_OK)
		*result = json_pack("{s:s, s:s, s:o, s:s}", "tenant", id, "zone", base, "records",
		                    records, "text", text ? text : "");
	else
		mns_error_set(err, "internal", "cannot describe the zone");
	free(text);
	json_decref(doc);
	return ret;
}

/* Collects what the customer of \a doc must add: the delegation (ns mode)
 * and each plugin's records. */
static int collect_instructions(mns_server_t *s, const json_t *doc, mns_instructions_t **out,
                                mns_error_t *err)
{
	tenant_names_t n;
	mns_tenant_ctx_t ctx;
	int ret = names_from_doc(s, doc, &n, err);
	if (ret != MNS_OK)
		return ret;
	ctx_init(s, &n, &ctx);
	mns_instructions_t *ins = mns_instr_new(n.domain, s->conf->ttl);
	if (ins == NULL)
		return MNS_ENOMEM;
	if (n.mode == MNS_MODE_NS) {
		for (size_t i = 0; i < s->conf->n_nameservers; i++)
			mns_instr_add(ins, n.apex, "NS", s->conf->nameservers[i], true,
			              "delegate the mail subdomain to the vendor's nameservers");
	}
	for (size_t i = 0; ret == MNS_OK && i < s->n_plugins; i++) {
		const mns_plugin_api_t *api = mns_plugin_api(s->plugins[i]);
		if (api->tenant_instructions)
			ret = api->tenant_instructions(s->plugins[i], &ctx, json_object_get(doc, api->name),
			                               ins, err);
	}
	if (ret != MNS_OK) {
		mns_instr_free(ins);
		return ret;
	}
	*out = ins;
	return MNS_OK;
}

int mns_tenant_cmd_instructions(mns_server_t *s, const json_t *args, json_t **result,
                                mns_error_t *err)
{
	const char *id, *format = NULL;
	json_t *doc = NULL;
	mns_instructions_t *ins = NULL;
	int ret = arg_tenant(args, &id, err);
	if (ret == MNS_OK)
		ret = mns_json_check_keys(args, "args", (const char *const[]){ "tenant", "format", NULL }, err);
	if (ret == MNS_OK)
		ret = arg_string(args, "format", false, &format, err);
	if (ret == MNS_OK)
		ret = load(s, id, &doc, err);
	if (ret == MNS_OK)
		ret = collect_instructions(s, doc, &ins, err);
	if (ret == MNS_OK) {
		*result = mns_instr_render(ins, format ? format : "json");
		if (*result == NULL)
			ret = mns_error_set_key(err, "format", "invalid_format",
			                        "format '%s' is unknown: use json, zone, csv or text", format);
		else
			json_object_set_new(*result, "tenant", json_string(id));
	}
	mns_instr_free(ins);
	json_decref(doc);
	return ret;
}

/* --- start-up and reload --------------------------------------------------- */

typedef struct publish_state {
	mns_server_t *s;
	mns_txn_t *txn;
	size_t ok, failed;
	mns_heap_thp_t heap; /**< The zones' heap, in huge pages. */
} publish_state_t;

static bool publish_one(const char *id, json_t *doc, void *data)
{
	publish_state_t *st = data;
	mns_error_t err = { 0 };
	built_t b;
	mns_heap_thp_poll(&st->heap);
	if (build_zone(st->s, st->txn, doc, &b, &err) == MNS_OK) {
		built_publish(st->s, &b);
		st->ok++;
	} else {
		st->failed++;
		mns_log(MNS_LOG_ERR, "tenant=%s cannot be served: %s (%s)", id, err.message, err.code);
	}
	return true;
}

size_t mns_tenant_publish_all(mns_server_t *s)
{
	mns_error_t err = { 0 };
	mns_txn_t *txn;
	if (mns_txn_begin(s->store, false, &txn, &err) != MNS_OK) {
		mns_log(MNS_LOG_ERR, "store, cannot read tenants: %s", err.message);
		return 1;
	}
	uint32_t hosted = 0;
	mns_store_meta_get_u32(txn, "hosted_serial", &hosted);
	uint32_t floor = 0;
	if (mns_store_meta_get_u32(txn, "serial_floor", &floor) == MNS_OK && (int32_t)(floor - hosted) > 0)
		hosted = floor;
	if (publish_hosted(s, hosted, &err) != MNS_OK)
		mns_log(MNS_LOG_ERR, "hosted zone cannot be served: %s", err.message);
	publish_state_t st = { .s = s, .txn = txn };
	mns_index_reserve(s->index, mns_store_tenant_count(txn) + 1);
	mns_heap_thp_begin(&st.heap);
	/* Zones hold public data only: the private keys are not even parsed.
	 * The documents are read and parsed on a second thread while this one
	 * builds (the plugins' build hooks and the index are this thread's). */
	if (mns_store_tenant_walk_parallel(s->store, publish_one, &st) != MNS_OK) {
		mns_log(MNS_LOG_ERR, "store, the tenant walk stopped early: some tenants are not served");
		st.failed++;
	}
	mns_heap_thp_end(&st.heap);
	mns_txn_abort(txn);
	mns_store_drop_cached(s->store);
	/* The parsed documents were freed between the zones built from them:
	 * give the free pages back rather than keep them as resident holes. */
	malloc_trim(0);
	mns_log(MNS_LOG_INFO, "tenants published=%zu failed=%zu", st.ok, st.failed);
	return st.failed;
}

/* --- services for plugins -------------------------------------------------- */

MNS_API json_t *mns_plugin_tenant_get(mns_plugin_t *p, const char *tenant)
{
	mns_server_t *s = mns_plugin_server(p);
	json_t *doc = NULL;
	if (s == NULL || load(s, tenant, &doc, NULL) != MNS_OK)
		return NULL;
	return doc;
}

MNS_API int mns_plugin_tenant_set_section(mns_plugin_t *p, const char *tenant, json_t *section,
                                          mns_error_t *err)
{
	mns_server_t *s = mns_plugin_server(p);
	if (s == NULL)
		return mns_error_set(err, "internal", "plugin is not attached to a server");
	mns_txn_t *txn;
	json_t *old = NULL;
	int ret = mns_txn_begin(s->store, true, &txn, err);
	if (ret != MNS_OK)
		return ret;
	if (mns_store_tenant_get(txn, tenant, &old) != MNS_OK) {
		mns_txn_abort(txn);
		return mns_error_set(err, "unknown_tenant", "no tenant '%s'", tenant), MNS_ENOENT;
	}
	json_t *doc = json_deep_copy(old);
	json_object_set(doc, mns_plugin_name(p), section);
	ret = commit_tenant(s, txn, doc, old, false, err);
	/* Under a control command the control layer logs the outcome once;
	 * from a plugin's timer (a key rotation step) this is the line. */
	int level = mns_control_dispatching() ? MNS_LOG_DEBUG : MNS_LOG_NOTICE;
	if (ret == MNS_OK)
		mns_log(level, "tenant=%s action=set-section by=plugin:%s result=ok", tenant,
		        mns_plugin_name(p));
	else
		mns_log(level, "tenant=%s action=set-section by=plugin:%s result=error code=%s",
		        tenant, mns_plugin_name(p), err && err->code[0] ? err->code : "internal");
	json_decref(doc);
	json_decref(old);
	return ret;
}

/* Raises every zone's serial once when the record-shaping config changed
 * (vendor identity, TTLs, plugin defaults), so secondaries notice; the
 * floor is stored, so a restart never lowers a serial again. */
int mns_tenant_config_changed(mns_server_t *s, uint32_t fingerprint)
{
	mns_error_t err;
	mns_txn_t *txn;
	uint32_t old = 0, serial;
	int ret = mns_txn_begin(s->store, true, &txn, &err);
	if (ret != MNS_OK)
		return ret;
	if (mns_store_meta_get_u32(txn, "config_fingerprint", &old) == MNS_OK && old == fingerprint) {
		mns_txn_abort(txn);
		return MNS_OK;
	}
	ret = mns_store_next_serial(txn, (uint32_t)time(NULL), &serial, &err);
	if (ret == MNS_OK)
		ret = mns_store_meta_put_u32(txn, "serial_floor", serial, &err);
	if (ret == MNS_OK)
		ret = mns_store_meta_put_u32(txn, "config_fingerprint", fingerprint, &err);
	if (ret != MNS_OK) {
		mns_txn_abort(txn);
		return ret;
	}
	ret = mns_txn_commit(txn, &err);
	if (ret == MNS_OK)
		mns_log(MNS_LOG_INFO, "config changed, zone serials raised to %u", serial);
	return ret;
}

MNS_API json_t *mns_plugin_tenant_instructions(mns_plugin_t *p, const char *tenant)
{
	mns_server_t *s = mns_plugin_server(p);
	json_t *doc = NULL, *records = NULL;
	mns_instructions_t *ins = NULL;
	if (s == NULL || load(s, tenant, &doc, NULL) != MNS_OK)
		return NULL;
	if (collect_instructions(s, doc, &ins, NULL) == MNS_OK) {
		json_t *r = mns_instr_render(ins, "json");
		records = json_incref(json_object_get(r, "records"));
		json_decref(r);
	}
	mns_instr_free(ins);
	json_decref(doc);
	return records;
}

MNS_API int mns_plugin_tenant_save_state(mns_plugin_t *p, const char *tenant,
                                         const json_t *section, mns_error_t *err)
{
	mns_server_t *s = mns_plugin_server(p);
	if (s == NULL)
		return mns_error_set(err, "internal", "plugin is not attached to a server");
	mns_txn_t *txn;
	json_t *doc = NULL;
	int ret = mns_txn_begin(s->store, true, &txn, err);
	if (ret != MNS_OK)
		return ret;
	if (mns_store_tenant_get(txn, tenant, &doc) != MNS_OK) {
		mns_txn_abort(txn);
		return mns_error_set(err, "unknown_tenant", "no tenant '%s'", tenant), MNS_ENOENT;
	}
	json_object_set_new(doc, mns_plugin_name(p), json_deep_copy(section));
	ret = mns_store_tenant_put(txn, tenant, doc, err);
	json_decref(doc);
	if (ret != MNS_OK) {
		mns_txn_abort(txn);
		return ret;
	}
	return mns_txn_commit(txn, err);
}

typedef struct foreach_state {
	mns_plugin_t *p;
	bool (*cb)(mns_plugin_t *p, const char *tenant, const json_t *doc, void *data);
	void *data;
} foreach_state_t;

static bool foreach_one(const char *id, json_t *doc, void *data)
{
	foreach_state_t *st = data;
	return st->cb(st->p, id, doc, st->data);
}

MNS_API int mns_plugin_tenant_foreach(mns_plugin_t *p,
                                      bool (*cb)(mns_plugin_t *p, const char *tenant,
                                                 const json_t *doc, void *data),
                                      void *data)
{
	mns_server_t *s = mns_plugin_server(p);
	mns_error_t err;
	mns_txn_t *txn;
	if (s == NULL)
		return MNS_ERROR;
	/* A walk (the dkim export a tenant.add scheduled) sees the mutations of
	 * the open group: a timer may run before the turn's end commits it. */
	mns_tenant_group_flush(s);
	int ret = mns_txn_begin(s->store, false, &txn, &err);
	if (ret != MNS_OK)
		return ret;
	foreach_state_t st = { p, cb, data };
	ret = mns_store_tenant_each(txn, NULL, foreach_one, &st);
	mns_txn_abort(txn);
	mns_store_drop_cached(s->store); /* A walk over every tenant: see there. */
	return ret;
}

/* --- Consistency check ----------------------------------------------------- */

typedef struct check_state {
	mns_server_t *s;
	mns_txn_t *txn;
	mns_error_t *err;
	size_t ns_tenants;
	int ret;
} check_state_t;

static bool check_one(const char *id, json_t *doc, void *data)
{
	check_state_t *st = data;
	tenant_names_t n;
	char owner[64];
	mns_error_t nerr = {0};
	if (names_from_doc(st->s, doc, &n, &nerr) != MNS_OK) {
		st->ret = mns_error_set(st->err, "inconsistent", "tenant %s: %s", id, nerr.message);
		return false;
	}
	if (strcmp(n.id, id) != 0) {
		st->ret = mns_error_set(st->err, "inconsistent", "tenant %s is stored as %s", n.id, id);
		return false;
	}
	if (mns_store_index_get(st->txn, MNS_IDX_DOMAIN, n.domain, strlen(n.domain), owner) !=
	        MNS_OK ||
	    strcmp(owner, id) != 0) {
		st->ret = mns_error_set(st->err, "inconsistent",
		                        "tenant %s: domain %s is not indexed to it", id, n.domain);
		return false;
	}
	if (n.mode == MNS_MODE_NS) {
		uint8_t key[KNOT_DNAME_MAXLEN];
		size_t klen = zone_key(n.apex, key);
		if (klen == 0 || mns_store_index_get(st->txn, MNS_IDX_ZONE, key, klen, owner) != MNS_OK ||
		    strcmp(owner, id) != 0) {
			st->ret = mns_error_set(st->err, "inconsistent",
			                        "tenant %s: zone %s is not indexed to it", id, n.apex);
			return false;
		}
		st->ns_tenants++;
	}
	knot_dname_storage_t base;
	if (knot_dname_from_str(base, n.base, sizeof(base)) == NULL) {
		st->ret = mns_error_set(st->err, "inconsistent", "tenant %s: bad name %s", id, n.base);
		return false;
	}
	knot_dname_to_lower(base);
	mns_rcu_read_lock();
	bool published = mns_index_get(st->s->index, base) != NULL;
	mns_rcu_read_unlock();
	if (!published) {
		st->ret = mns_error_set(st->err, "inconsistent", "tenant %s: %s is not served", id,
		                        n.base);
		return false;
	}
	return true;
}

int mns_tenant_check_store(mns_server_t *s, mns_error_t *err)
{
	mns_txn_t *txn;
	int ret = mns_txn_begin(s->store, false, &txn, err);
	if (ret != MNS_OK)
		return ret;
	check_state_t st = {.s = s, .txn = txn, .err = err, .ret = MNS_OK};
	ret = mns_store_tenant_each(txn, NULL, check_one, &st);
	if (ret == MNS_OK)
		ret = st.ret;
	/* Each tenant's entries exist and name it; equal counts leave no stray ones. */
	size_t tenants = mns_store_tenant_count(txn);
	size_t domains = mns_store_index_count(txn, MNS_IDX_DOMAIN);
	size_t zones = mns_store_index_count(txn, MNS_IDX_ZONE);
	if (ret == MNS_OK && (domains != tenants || zones != st.ns_tenants))
		ret = mns_error_set(err, "inconsistent",
		                    "%zu tenants (%zu in ns mode) but %zu domain and %zu zone index entries",
		                    tenants, st.ns_tenants, domains, zones);
	mns_txn_abort(txn);
	return ret == MNS_OK ? MNS_OK : MNS_ERROR;
}
