/*  Control commands: the core's table plus the commands plugins register.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "control/control.h"
#include "log/log.h"
#include "plugin/plugin_internal.h"
#include "plugin/registry.h"
#include "net/net.h"
#include "stats/report.h"
#include "stats/stats.h"
#include "tenant/tenant.h"
#include "util/util.h"

typedef int (*core_cmd_fn)(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err);

static int cmd_status(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err)
{
	mns_txn_t *txn;
	size_t tenants = 0;
	if (mns_txn_begin(s->store, false, &txn, err) == MNS_OK) {
		tenants = mns_store_tenant_count(txn);
		mns_txn_abort(txn);
	}
	json_t *plugins = json_array(), *listen = json_array();
	for (size_t i = 0; i < s->n_plugins; i++)
		json_array_append_new(plugins, json_string(mns_plugin_name(s->plugins[i])));
	for (size_t i = 0; i < s->conf->n_listen; i++) {
		char buf[96];
		const mns_listen_t *l = &s->conf->listen[i];
		snprintf(buf, sizeof(buf), "%s@%u", l->addr, l->port);
		json_array_append_new(listen, json_string(buf));
	}
	/* Messages each query thread handled: how the kernel spreads clients. */
	json_t *wq = json_array();
	for (unsigned i = 0; i < mns_net_workers(s); i++)
		json_array_append_new(wq, json_integer((json_int_t)mns_stats_block_messages(
		                              mns_net_worker_stats(s, i))));
	*result = json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:s, s:I, s:s, s:I, s:o}", "version", MNS_VERSION,
	                    "uptime", (json_int_t)(time(NULL) - s->started), "tenants", (json_int_t)tenants,
	                    "zones", (json_int_t)mns_index_count(s->index), "plugins", plugins,
	                    "listen", listen, "hosted_zone", s->conf->hosted_zone, "mutations",
	                    (json_int_t)s->mutations, "config",
	                    s->conf->path ? s->conf->path : "(embedded defaults)", "workers",
	                    (json_int_t)mns_net_workers(s), "worker-messages", wq);
	return *result ? MNS_OK : MNS_ENOMEM;
}

static int cmd_plugin_list(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err)
{
	json_t *list = json_array();
	for (size_t i = 0; i < s->n_plugins; i++) {
		const mns_plugin_api_t *api = mns_plugin_api(s->plugins[i]);
		json_t *cmds = json_array();
		for (const mns_plugin_command_t *c = api->commands; c && c->name; c++)
			json_array_append_new(cmds, json_string(c->name));
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o, s:s}", "name", api->name,
		                                      "version", api->version ? api->version : "",
		                                      "summary", api->summary ? api->summary : "",
		                                      "commands", cmds, "abi",
		                                      api->abi_minor ? "1.x" : "1.0"));
	}
	*result = json_pack("{s:o}", "plugins", list);
	return MNS_OK;
}

static int cmd_subscribe(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err)
{
	int ret = mns_json_check_keys(args, "args", (const char *const[]){ NULL }, err);
	if (ret == MNS_OK)
		*result = json_pack("{s:b}", "subscribed", 1);
	return ret;
}

static int cmd_commands(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err);

static const struct {
	const char *name;
	core_cmd_fn fn;
	bool mutation;
	bool grouped; /* Joins the open group commit; every other command sees it committed. */
} core_commands[] = {
	{ "status", cmd_status, false, false },
	{ "tenant.add", mns_tenant_cmd_add, true, true },
	{ "tenant.get", mns_tenant_cmd_get, false, false },
	{ "tenant.list", mns_tenant_cmd_list, false, false },
	{ "tenant.update", mns_tenant_cmd_update, true, false },
	{ "tenant.remove", mns_tenant_cmd_remove, true, true },
	{ "tenant.records", mns_tenant_cmd_records, false, false },
	{ "tenant.instructions", mns_tenant_cmd_instructions, false, false },
	{ "plugin.list", cmd_plugin_list, false, false },
	{ "commands", cmd_commands, false, false },
	{ "events.subscribe", cmd_subscribe, false, false },
	{ "stats", mns_stats_cmd, false, false },
};

/* Every command this daemon answers, from the tables dispatch() reads (so
 * documentation and shell completion can be checked against it). */
static int cmd_commands(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err)
{
	int ret = mns_json_check_keys(args, "args", (const char *const[]){ NULL }, err);
	if (ret != MNS_OK)
		return ret;
	json_t *list = json_array();
	for (size_t i = 0; i < MNS_ARRAY_SIZE(core_commands); i++)
		json_array_append_new(list, json_pack("{s:s, s:n}", "name", core_commands[i].name,
		                                      "plugin"));
	for (size_t i = 0; i < s->n_plugins; i++) {
		const mns_plugin_api_t *api = mns_plugin_api(s->plugins[i]);
		for (const mns_plugin_command_t *c = api->commands; c && c->name; c++)
			json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "name", c->name,
			                                      "plugin", api->name, "help",
			                                      c->help ? c->help : ""));
	}
	*result = json_pack("{s:o}", "commands", list);
	return *result ? MNS_OK : MNS_ENOMEM;
}

/* Length of the valid UTF-8 sequence at \a p (RFC 3629: no overlongs, no
 * surrogates), 0 if there is none. */
static size_t utf8_seq(const unsigned char *p)
{
	unsigned char c = p[0];
	size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
	         : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
	    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
		return 0;
	return n;
}

static json_t *error_reply(json_t *id, const char *code, const char *message)
{
	json_t *r = json_pack("{s:O, s:b, s:{s:s, s:s}}", "id", id ? id : json_null(), "ok", 0,
	                      "error", "code", code, "message", message);
	if (r != NULL || message == NULL)
		return r;
	/* jansson takes only UTF-8, and a message may quote the request (a
	 * parser's "near '...'", a value cut inside a character): every octet
	 * that starts no valid sequence becomes '?', so there is always a reply. */
	char clean[1024];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)message; *p && o + 5 < sizeof(clean);) {
		size_t n = utf8_seq(p);
		if (n == 0) {
			clean[o++] = '?';
			p++;
			continue;
		}
		memcpy(clean + o, p, n);
		o += n;
		p += n;
	}
	clean[o] = '\0';
	return json_pack("{s:O, s:b, s:{s:s, s:s}}", "id", id ? id : json_null(), "ok", 0, "error",
	                 "code", code, "message", clean);
}

/* The response to a request with \a id: the result (stolen) or the error. */
static json_t *response(json_t *id, int ret, json_t *result, mns_error_t *err)
{
	if (ret == MNS_OK)
		return json_pack("{s:O, s:b, s:o}", "id", id ? id : json_null(), "ok", 1, "result",
		                 result ? result : json_object());
	json_decref(result);
	if (err->code[0] == '\0')
		mns_error_set(err, "internal", "%s", mns_strerror(ret));
	json_t *reply = error_reply(id, err->code, err->message);
	if (err->key[0])
		json_object_set_new(json_object_get(reply, "error"), "field", json_string(err->key));
	return reply;
}

/* The request being dispatched, for mns_plugin_reply_defer(). Main loop only;
 * dispatch does not nest. */
static struct {
	mns_server_t *server;
	const mns_plugin_t *plugin; /* The plugin whose command runs. */
	json_t *id;
	mns_reply_t *deferred;
	const char *cmd; /* The command's name in its table (NULL: unknown). */
	const json_t *args;
	bool mutation; /* A core command that changes tenants. */
	bool grouped;  /* … and may join the group commit. */
} current;

bool mns_control_dispatching(void)
{
	return current.server != NULL;
}

/* The outcome of one control request, counted and logged once. Mutations
 * (core mutation commands, and any command during which the store changed)
 * log at notice, other plugin commands (dkim.export, verify.now, …) at info,
 * with who asked, what and the result; read-only core commands (status,
 * tenant.get, …) only at debug, so polling does not flood the log. */
static void audit(const char *cmd, const char *tenant, const mns_control_peer_t *peer, int ret,
                  const mns_error_t *err, bool mutated, bool core_read)
{
	mns_stats_control(cmd ? cmd : "unknown", ret == MNS_OK);
	int level = mutated ? MNS_LOG_NOTICE : core_read ? MNS_LOG_DEBUG : MNS_LOG_INFO;
	if (!mns_log_enabled(level))
		return;
	char who[64] = "peer=unknown", qt[96] = "", what[160], res[700];
	if (peer->known)
		snprintf(who, sizeof(who), "peer-uid=%u peer-pid=%d", peer->uid, peer->pid);
	if (tenant != NULL && tenant[0] != '\0') {
		char q[80];
		snprintf(qt, sizeof(qt), " tenant=%s", mns_log_quote(q, sizeof(q), tenant));
	}
	snprintf(what, sizeof(what), "cmd=%s%s", cmd ? cmd : "unknown", qt);
	if (ret == MNS_OK) {
		snprintf(res, sizeof(res), "result=ok");
	} else {
		char code[64], msg[560];
		mns_log_quote(code, sizeof(code), err && err->code[0] ? err->code : "internal");
		mns_log_quote(msg, sizeof(msg), err && err->message[0] ? err->message : mns_strerror(ret));
		snprintf(res, sizeof(res), "result=error code=%s message=%s", code, msg);
	}
	mns_log(level, "control, %s %s %s", what, who, res);
}

/* The request's "tenant" argument (for the log), bounded. */
static void tenant_arg(const json_t *args, char out[64])
{
	const char *t = json_string_value(json_object_get(args, "tenant"));
	snprintf(out, 64, "%s", t ? t : "");
}

bool mns_control_can_defer(const mns_server_t *s)
{
	return current.server == s && s != NULL && current.plugin == NULL && current.grouped &&
	       current.deferred == NULL && s->control != NULL && mns_control_dispatching();
}

mns_reply_t *mns_control_defer(mns_server_t *s)
{
	if (!mns_control_can_defer(s))
		return NULL;
	current.deferred = mns_control_reply_open(s, current.id);
	if (current.deferred != NULL) {
		current.deferred->cmd = current.cmd;
		current.deferred->mutation = true;
		mns_control_current_peer(s, &current.deferred->peer);
		tenant_arg(current.args, current.deferred->tenant);
	}
	return current.deferred;
}

MNS_API mns_reply_t *mns_plugin_reply_defer(mns_plugin_t *p)
{
	if (current.server == NULL || current.plugin != p || current.deferred != NULL)
		return NULL;
	current.deferred = mns_control_reply_open(current.server, current.id);
	if (current.deferred != NULL) {
		/* Counted and logged when the plugin answers (possibly before its
		 * command returns). */
		current.deferred->cmd = current.cmd;
		mns_control_current_peer(current.server, &current.deferred->peer);
		tenant_arg(current.args, current.deferred->tenant);
	}
	return current.deferred;
}

MNS_API void mns_plugin_reply(mns_reply_t *r, int ret, json_t *result, const mns_error_t *err)
{
	if (r == NULL) {
		json_decref(result);
		return;
	}
	mns_error_t e = { 0 };
	if (err != NULL)
		e = *err;
	if (ret == MNS_PENDING)
		ret = MNS_ERROR;
	if (r->cmd != NULL) /* Not counted yet: the command deferred its reply. */
		audit(r->cmd, r->tenant, &r->peer, ret, &e, r->mutation, false);
	if (r->slot != NULL)
		mns_control_reply_finish(r, response(r->id, ret, result, &e));
	else
		json_decref(result);
	json_decref(r->id);
	free(r);
}

static int dispatch(mns_server_t *s, const char *cmd, const json_t *args, json_t **result,
                    mns_error_t *err)
{
	for (size_t i = 0; i < MNS_ARRAY_SIZE(core_commands); i++)
		if (strcmp(core_commands[i].name, cmd) == 0) {
			current.cmd = core_commands[i].name;
			current.mutation = core_commands[i].mutation;
			current.grouped = core_commands[i].grouped;
			/* Everything else sees the group's mutations committed (a
			 * read after a pipelined add finds the tenant). */
			if (!current.grouped)
				mns_tenant_group_flush(s);
			return core_commands[i].fn(s, args, result, err);
		}
	for (size_t i = 0; i < s->n_plugins; i++) {
		const mns_plugin_api_t *api = mns_plugin_api(s->plugins[i]);
		for (const mns_plugin_command_t *c = api->commands; c && c->name; c++)
			if (strcmp(c->name, cmd) == 0) {
				mns_tenant_group_flush(s);
				current.plugin = s->plugins[i];
				current.cmd = c->name;
				return c->fn(s->plugins[i], args, result, err);
			}
	}
	return mns_error_set(err, "unknown_command",
	                     "unknown command '%.100s' (see plugin.list for plugin commands)", cmd);
}

json_t *mns_control_handle_line(mns_server_t *s, const char *line, size_t len, bool *subscribe)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		char msg[300];
		snprintf(msg, sizeof(msg), "request is not valid JSON: %s (column %d)", jerr.text,
		         jerr.column);
		mns_stats_control("invalid", false);
		return error_reply(NULL, "bad_json", msg);
	}
	json_t *id = json_object_get(req, "id");
	json_t *reply;
	if (!json_is_object(req)) {
		reply = error_reply(NULL, "bad_request", "a request is a JSON object with \"cmd\"");
		goto out;
	}
	const char *k;
	json_t *v;
	json_object_foreach(req, k, v) {
		if (strcmp(k, "id") && strcmp(k, "cmd") && strcmp(k, "args")) {
			char msg[200];
			snprintf(msg, sizeof(msg), "unknown request field '%.64s' (use id, cmd, args)", k);
			reply = error_reply(id, "bad_request", msg);
			goto out;
		}
	}
	const json_t *cmd = json_object_get(req, "cmd");
	json_t *args = json_object_get(req, "args");
	if (!json_is_string(cmd)) {
		reply = error_reply(id, "bad_request", "\"cmd\" is required and must be a string");
		goto out;
	}
	if (args != NULL && !json_is_object(args)) {
		reply = error_reply(id, "bad_request", "\"args\" must be an object");
		goto out;
	}
	json_t *empty = args ? NULL : json_object();
	json_t *result = NULL;
	mns_error_t err = { 0 };
	current.server = s;
	current.plugin = NULL;
	current.id = id;
	current.deferred = NULL;
	current.cmd = NULL;
	current.args = args;
	current.mutation = false;
	uint64_t mutations = s->mutations;
	int ret = dispatch(s, json_string_value(cmd), args ? args : empty, &result, &err);
	mns_reply_t *deferred = current.deferred;
	const char *name = current.cmd;
	bool core_read = current.plugin == NULL && !current.mutation;
	bool mutated = current.mutation || s->mutations != mutations;
	memset(&current, 0, sizeof(current));
	json_decref(empty);
	if (ret != MNS_PENDING || deferred == NULL) {
		/* (A deferred reply is counted and logged when the plugin answers.) */
		mns_control_peer_t peer;
		mns_control_current_peer(s, &peer);
		char tenant[64];
		tenant_arg(args, tenant);
		if (deferred != NULL)
			deferred->cmd = NULL; /* Answered now: counted here only. */
		mns_error_t e = err;
		if (ret == MNS_PENDING)
			mns_error_set(&e, "internal", "command deferred no reply");
		audit(name, tenant, &peer, ret == MNS_PENDING ? MNS_ERROR : ret, &e, mutated, core_read);
	}
	if (ret == MNS_OK && subscribe && strcmp(json_string_value(cmd), "events.subscribe") == 0)
		*subscribe = true;
	if (ret == MNS_PENDING && deferred != NULL) {
		reply = NULL; /* The plugin answers through mns_plugin_reply(). */
	} else {
		if (ret == MNS_PENDING) {
			json_decref(result);
			result = NULL;
			ret = mns_error_set(&err, "internal", "command '%.100s' deferred no reply",
			                    json_string_value(cmd));
		}
		reply = response(id, ret, result, &err);
		if (deferred != NULL) {
			/* Answered after all: the handle's place gets this reply, and
			 * mns_plugin_reply() will only free the handle. */
			mns_control_reply_finish(deferred, reply);
			reply = NULL;
		}
	}
	json_decref(req);
	return reply;
out:
	/* Requests that never named a command they could run. */
	mns_stats_control("invalid", false);
	json_decref(req);
	return reply;
}
