/*  Daemon lifecycle: start (config, store, plugins, zones), reload (SIGHUP),
 *  and an orderly shutdown that frees everything (valgrind-clean).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/control.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "net/net.h"
#include "plugin/plugin_internal.h"
#include "plugin/registry.h"
#include "server_lifecycle.h"
#include "tenant/tenant.h"
#include "util/paths.h"
#include "util/util.h"
#include "xfr/xfr.h"


mns_plugin_t *mns_server_plugin(const mns_server_t *s, const char *name)
{
	for (size_t i = 0; i < s->n_plugins; i++)
		if (strcmp(mns_plugin_name(s->plugins[i]), name) == 0)
			return s->plugins[i];
	return NULL;
}

json_t *mns_server_vendor_json(const mns_conf_t *c)
{
	json_t *ns = json_array();
	for (size_t i = 0; i < c->n_nameservers; i++)
		json_array_append_new(ns, json_string(c->nameservers[i]));
	/* data_dir: plugins keep files of their own beside the store (dkim's store key). */
	return json_pack("{s:o, s:s, s:s, s:s, s:I, s:s}", "nameservers", ns, "hosted_zone",
	                 c->hosted_zone, "subdomain", c->subdomain, "bounce_label", c->bounce_label,
	                 "ttl", (json_int_t)c->ttl, "data_dir", c->data_dir);
}

static void dns_conf_apply(mns_server_t *s)
{
	s->dns_conf.identity = s->conf->identity[0] ? s->conf->identity : NULL;
	s->dns_conf.version = s->conf->version[0] ? s->conf->version : NULL;
	s->dns_conf.udp_max_payload = s->conf->udp_payload;
	if (s->conf->hosted_zone == NULL ||
	    knot_dname_from_str(s->hosted_apex, s->conf->hosted_zone, sizeof(s->hosted_apex)) == NULL)
		s->hosted_apex[0] = '\0';
	knot_dname_to_lower(s->hosted_apex);
}

/* Hands every plugin its section of \a conf. On failure the message names
 * the file, line and key. */
static int configure_plugins(mns_server_t *s, const mns_conf_t *conf, char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < s->n_plugins; i++) {
		const mns_plugin_api_t *api = mns_plugin_api(s->plugins[i]);
		json_t *pc = NULL;
		int ret = mns_conf_plugin(conf, api->name, api->schema, &pc, errbuf, errlen);
		if (ret == MNS_OK && api->configure) {
			mns_error_t err = { 0 };
			ret = api->configure(s->plugins[i], pc, &err);
			if (ret != MNS_OK) {
				char sec[80];
				snprintf(sec, sizeof(sec), "plugin.%s", api->name);
				mns_conf_locate(conf, sec, &err, errbuf, errlen);
			}
		}
		json_decref(pc);
		if (ret != MNS_OK)
			return ret;
	}
	return MNS_OK;
}

static int load_plugins(mns_server_t *s, char *errbuf, size_t errlen)
{
	char dir[PATH_MAX];
	if (s->conf->plugin_dir[0])
		snprintf(dir, sizeof(dir), "%s", s->conf->plugin_dir);
	else
		mns_paths_default_plugin_dir(dir, sizeof(dir));
	s->plugins = calloc(s->conf->n_plugins ? s->conf->n_plugins : 1, sizeof(*s->plugins));
	if (s->plugins == NULL)
		return MNS_ENOMEM;
	for (size_t i = 0; i < s->conf->n_plugins; i++) {
		mns_error_t err = { 0 };
		mns_plugin_t *p = mns_plugin_load(dir, s->conf->plugins[i], &err);
		if (p == NULL) {
			snprintf(errbuf, errlen, "%s", err.message);
			return MNS_ERROR;
		}
		s->plugins[s->n_plugins++] = p;
		mns_plugin_attach(p, s->loop, s);
		if (mns_plugin_init(p, &err) != MNS_OK) {
			snprintf(errbuf, errlen, "plugin %s: init failed: %s", s->conf->plugins[i],
			         err.message);
			return MNS_ERROR;
		}
	}
	mns_log(MNS_LOG_INFO, "plugins loaded=%zu dir=%s", s->n_plugins, dir);
	return configure_plugins(s, s->conf, errbuf, errlen);
}

static void static_zones_withdraw(mns_server_t *s)
{
	for (size_t i = 0; i < s->n_static; i++) {
		mns_index_withdraw(s->index, s->static_apexes[i]);
		free(s->static_apexes[i]);
	}
	free(s->static_apexes);
	s->static_apexes = NULL;
	s->n_static = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads <zones>/<name>.zone files: the origin is the file name. */
static int static_zones_load(mns_server_t *s, const mns_conf_t *conf, char *errbuf, size_t errlen)
{
	if (conf->zones_dir[0] == '\0')
		return MNS_OK;
	DIR *d = opendir(conf->zones_dir);
	if (d == NULL) {
		snprintf(errbuf, errlen, "zones directory %s: %s", conf->zones_dir, strerror(errno));
		return MNS_EINVAL;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len <= 5 || strcmp(e->d_name + len - 5, ".zone") != 0 || e->d_name[0] == '.')
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*nn));
		if (nn == NULL)
			break;
		names = nn;
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n > 1) /* qsort(NULL, 0, ...) is undefined: an empty directory */
		qsort(names, n, sizeof(*names), cmp_str);
	int ret = MNS_OK;
	mns_zone_t **zones = calloc(n ? n : 1, sizeof(*zones));
	for (size_t i = 0; i < n && ret == MNS_OK; i++) {
		char path[PATH_MAX], origin[256];
		snprintf(path, sizeof(path), "%s/%s", conf->zones_dir, names[i]);
		snprintf(origin, sizeof(origin), "%.*s", (int)(strlen(names[i]) - 5), names[i]);
		mns_error_t err = { 0 };
		ret = mns_zone_load_file(path, origin, &zones[i], &err);
		if (ret != MNS_OK) {
			snprintf(errbuf, errlen, "%s", err.message);
			break;
		}
		/* Tenants' records in static zones change them too: their serial
		 * is raised to the stored floor (mns_tenant_static_changed). */
		uint32_t floor = 0;
		mns_txn_t *txn;
		if (s->store && mns_txn_begin(s->store, false, &txn, &err) == MNS_OK) {
			if (mns_store_meta_get_u32(txn, "static_floor", &floor) == MNS_OK &&
			    (int32_t)(floor - zones[i]->serial) > 0)
				mns_zone_set_serial(zones[i], floor);
			mns_txn_abort(txn);
		}
		char hosted[KNOT_DNAME_MAXLEN];
		knot_dname_from_str((uint8_t *)hosted, conf->hosted_zone, sizeof(hosted));
		knot_dname_to_lower((uint8_t *)hosted);
		if (knot_dname_is_equal(zones[i]->apex, (uint8_t *)hosted)) {
			snprintf(errbuf, errlen, "%s: zone %s is the hosted zone, which mailnsd builds itself",
			         path, origin);
			ret = MNS_EINVAL;
		}
	}
	if (ret == MNS_OK) {
		/* Zones that stay are replaced in place (no gap); the others go. */
		for (size_t i = 0; i < s->n_static; i++) {
			bool stays = false;
			for (size_t j = 0; j < n && !stays; j++)
				stays = knot_dname_is_equal(s->static_apexes[i], zones[j]->apex);
			if (!stays)
				mns_index_withdraw(s->index, s->static_apexes[i]);
			free(s->static_apexes[i]);
		}
		free(s->static_apexes);
		s->n_static = 0;
		s->static_apexes = calloc(n ? n : 1, sizeof(*s->static_apexes));
		for (size_t i = 0; i < n; i++) {
			s->static_apexes[s->n_static++] = knot_dname_copy(zones[i]->apex, NULL);
			mns_index_publish(s->index, zones[i]);
			zones[i] = NULL;
		}
		mns_log(MNS_LOG_INFO, "static zones loaded=%zu dir=%s", n, conf->zones_dir);
	}
	for (size_t i = 0; i < n; i++) {
		mns_zone_free(zones[i]);
		free(names[i]);
	}
	free(zones);
	free(names);
	return ret;
}

int mns_server_static_reload(mns_server_t *s)
{
	char errbuf[512];
	int ret = static_zones_load(s, s->conf, errbuf, sizeof(errbuf));
	if (ret != MNS_OK)
		mns_log(MNS_LOG_ERR, "static zones, reload failed: %s", errbuf);
	return ret;
}

/* FNV-1a over everything in the config that shapes records. */
static uint32_t record_fingerprint(const mns_server_t *s)
{
	const mns_conf_t *c = s->conf;
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:o}", "contact",
	                      c->soa_contact, "ttl", (json_int_t)c->ttl, "soa_ttl",
	                      (json_int_t)c->soa_ttl, "neg", (json_int_t)c->negative_ttl, "refresh",
	                      (json_int_t)c->refresh, "retry", (json_int_t)c->retry, "expire",
	                      (json_int_t)c->expire, "hosted", c->hosted_zone, "bounce",
	                      c->bounce_label, "ns", json_array());
	for (size_t i = 0; i < c->n_nameservers; i++)
		json_array_append_new(json_object_get(o, "ns"), json_string(c->nameservers[i]));
	for (size_t i = 0; i < s->n_plugins; i++) {
		const mns_plugin_api_t *api = mns_plugin_api(s->plugins[i]);
		json_t *pc = NULL;
		char e[256];
		if (mns_conf_plugin(c, api->name, api->schema, &pc, e, sizeof(e)) == MNS_OK)
			json_object_set_new(o, api->name, pc);
	}
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	uint32_t h = 2166136261u;
	for (const char *p = text; p && *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	free(text);
	return h;
}

/* Before anything is created: who we will run as, and directories nobody
 * else may write to (the data directory is checked by the store). */
static int server_secure_paths(mns_server_t *s, char *errbuf, size_t errlen)
{
	int ret = mns_priv_plan(s->conf, &s->priv, errbuf, errlen);
	if (ret != MNS_OK)
		return ret;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", s->conf->control);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	return mns_priv_check_dir("control socket", dir, true, errbuf, errlen);
}

/* The user we drop to keeps writing the store: the directory and LMDB's
 * files become its own (they stay 0700/0600). */
static int server_own_store(mns_server_t *s)
{
	if (!s->priv.drop)
		return MNS_OK;
	static const char *const files[] = { "", "/data.mdb", "/lock.mdb" };
	for (size_t i = 0; i < MNS_ARRAY_SIZE(files); i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s%s", s->conf->data_dir, files[i]);
		if (mns_priv_chown(&s->priv, path, (gid_t)-1) != MNS_OK)
			return MNS_ERROR;
	}
	return MNS_OK;
}

int mns_server_init(mns_server_t *s, uv_loop_t *loop, char *errbuf, size_t errlen)
{
	s->loop = loop;
	s->started = time(NULL);
	int ret = mns_conf_load(s->conf_path, &s->ov, &s->conf, errbuf, errlen);
	if (ret != MNS_OK)
		return ret;
	mns_log_set_level(s->conf->log_level);
	if ((ret = server_secure_paths(s, errbuf, errlen)) != MNS_OK)
		return ret;
	mns_error_t err = { 0 };
	if ((ret = mns_store_open_map(s->conf->data_dir, s->conf->store_map_size, &s->store,
	                              &err)) != MNS_OK) {
		snprintf(errbuf, errlen, "%s", err.message);
		return ret;
	}
	if ((ret = server_own_store(s)) != MNS_OK) {
		snprintf(errbuf, errlen, "cannot give the data directory %s to user %s",
		         s->conf->data_dir, s->priv.user);
		return ret;
	}
	s->index = mns_index_new();
	if (s->index == NULL || mns_arena_init(&s->dns.arena, MNS_DNS_ARENA_SIZE) != 0)
		return MNS_ENOMEM;
	s->dns.index = s->index;
	s->dns.conf = &s->dns_conf;
	/* The main loop answers what the workers hand it (transfers, signed
	 * queries): it owns one counter block, each worker registers its own. */
	if (s->dns.stats == NULL)
		s->dns.stats = mns_stats_block_register();
	dns_conf_apply(s);
	s->vendor = mns_server_vendor_json(s->conf);
	if ((ret = load_plugins(s, errbuf, errlen)) != MNS_OK)
		return ret;
	if ((ret = mns_xfr_init(s, errbuf, errlen)) != MNS_OK)
		return ret;
	if ((ret = static_zones_load(s, s->conf, errbuf, errlen)) != MNS_OK)
		return ret;
	mns_tenant_config_changed(s, record_fingerprint(s));
	mns_tenant_publish_all(s);
	return MNS_OK;
}

int mns_server_start_io(mns_server_t *s)
{
	int ret = mns_net_start(s);
	if (ret == MNS_OK)
		ret = mns_control_start(s);
	if (ret == MNS_OK)
		ret = mns_xfr_start(s);
	if (ret == MNS_OK)
		ret = mns_metrics_start(s);
	return ret;
}

static bool strv_equal(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* Settings bound at start stay: the new config's values are replaced by the
 * running ones, with a notice when they differ. */
static void keep_bound_settings(mns_conf_t *next, const mns_conf_t *cur)
{
	bool listen_changed = next->n_listen != cur->n_listen;
	for (size_t i = 0; !listen_changed && i < cur->n_listen; i++)
		listen_changed = next->listen[i].port != cur->listen[i].port ||
		                 strcmp(next->listen[i].addr, cur->listen[i].addr) != 0;
	listen_changed = listen_changed || next->metrics_enabled != cur->metrics_enabled ||
	                 memcmp(&next->metrics_listen, &cur->metrics_listen, sizeof(mns_listen_t)) != 0;
	next->metrics_listen = cur->metrics_listen;
	next->metrics_enabled = cur->metrics_enabled;
	if (listen_changed || strcmp(next->control, cur->control) || strcmp(next->data_dir, cur->data_dir) ||
	    next->workers != cur->workers)
		mns_log(MNS_LOG_WARNING, "reload, listen, metrics-listen, control, data and workers take effect at restart");
	next->workers = cur->workers;
	free(next->listen);
	next->listen = malloc(cur->n_listen * sizeof(mns_listen_t) + 1);
	memcpy(next->listen, cur->listen, cur->n_listen * sizeof(mns_listen_t));
	next->n_listen = cur->n_listen;
	free(next->control);
	next->control = strdup(cur->control);
	free(next->data_dir);
	next->data_dir = strdup(cur->data_dir);
}

/* The one line a reload leaves (SIGHUP is the only trigger): who, what, result. */
static void reload_logged(int level, const char *code, const char *message)
{
	char q[1100];
	if (code == NULL)
		mns_log(level, "config, action=reload by=SIGHUP result=ok config=%s", message);
	else
		mns_log(level, "config, action=reload by=SIGHUP result=error code=%s message=%s", code,
		        mns_log_quote(q, sizeof(q), message));
}

int mns_server_reload(mns_server_t *s)
{
	char errbuf[1024] = "";
	mns_conf_t *next = NULL;
	if (mns_conf_load(s->conf_path, &s->ov, &next, errbuf, sizeof(errbuf)) != MNS_OK) {
		reload_logged(MNS_LOG_ERR, "invalid_config", errbuf);
		return MNS_EINVAL;
	}
	if (!strv_equal(next->plugins, next->n_plugins, s->conf->plugins, s->conf->n_plugins)) {
		reload_logged(MNS_LOG_ERR, "plugins_changed",
		              "the plugin list changed: restart mailnsd to load plugins; config not applied");
		mns_conf_free(next);
		return MNS_EINVAL;
	}
	keep_bound_settings(next, s->conf);
	json_t *old_vendor = s->vendor;
	s->vendor = mns_server_vendor_json(next);
	if (configure_plugins(s, next, errbuf, sizeof(errbuf)) != MNS_OK ||
	    static_zones_load(s, next, errbuf, sizeof(errbuf)) != MNS_OK) {
		char again[256];
		reload_logged(MNS_LOG_ERR, "invalid_config", errbuf);
		json_decref(s->vendor);
		s->vendor = old_vendor;
		configure_plugins(s, s->conf, again, sizeof(again));
		mns_conf_free(next);
		return MNS_EINVAL;
	}
	json_decref(old_vendor);
	/* A changed hosted zone name leaves the old one behind: withdraw it. */
	if (strcmp(next->hosted_zone, s->conf->hosted_zone) != 0 && s->hosted_apex[0] != '\0')
		mns_index_withdraw(s->index, s->hosted_apex);
	mns_conf_t *prev = s->conf;
	s->conf = next;
	dns_conf_apply(s);
	mns_conf_free(prev);
	mns_log_set_level(s->conf->log_level);
	mns_net_reconfigure(s);
	mns_tenant_config_changed(s, record_fingerprint(s));
	mns_tenant_publish_all(s);
	char q[300];
	reload_logged(MNS_LOG_NOTICE, NULL,
	              mns_log_quote(q, sizeof(q), s->conf_path ? s->conf_path : "(defaults)"));
	return MNS_OK;
}

void mns_server_stop_io(mns_server_t *s)
{
	/* Plugins cancel background work first: the loop ends only when it is done. */
	for (size_t i = 0; i < s->n_plugins; i++) {
		const mns_plugin_api_t *api = mns_plugin_api(s->plugins[i]);
		if (MNS_PLUGIN_HAS(api, stop) && api->stop != NULL)
			api->stop(s->plugins[i]);
	}
	mns_net_stop(s);
	mns_control_stop(s);
	mns_xfr_stop(s);
	mns_metrics_stop(s);
}

void mns_server_deinit(mns_server_t *s)
{
	mns_xfr_deinit(s);
	/* fini first, then let the loop run the close callbacks of the plugins'
	 * handles, and only then unmap their code. */
	for (size_t i = 0; i < s->n_plugins; i++)
		mns_plugin_shutdown(s->plugins[i]);
	if (s->loop) {
		uv_run(s->loop, UV_RUN_NOWAIT);
		uv_run(s->loop, UV_RUN_NOWAIT);
	}
	for (size_t i = 0; i < s->n_plugins; i++)
		mns_plugin_destroy(s->plugins[i]);
	free(s->plugins);
	s->plugins = NULL;
	s->n_plugins = 0;
	if (s->index) {
		static_zones_withdraw(s);
		mns_index_free(s->index);
		s->index = NULL;
	}
	mns_arena_deinit(&s->dns.arena);
	mns_store_close(s->store);
	s->store = NULL;
	mns_conf_free(s->conf);
	s->conf = NULL;
	json_decref(s->vendor);
	s->vendor = NULL;
}
