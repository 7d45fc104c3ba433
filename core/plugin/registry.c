/*  Plugin instances: ABI check, dlopen, logging, private data, timers.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "control/control.h"
#include "log/log.h"
#include "plugin/plugin_internal.h"
#include "plugin/registry.h"
#include "util/util.h"

struct mns_plugin_timer {
	uv_timer_t handle;
	mns_plugin_t *plugin;
	mns_plugin_timer_cb cb;
	void *data;
	struct mns_plugin_timer *next, *prev;
};

struct mns_plugin {
	const mns_plugin_api_t *api;
	char *name;
	void *dl;
	void *data;
	bool initialised;
	uv_loop_t *loop;
	struct mns_server *server;
	mns_plugin_timer_t *timers;
};

mns_plugin_t *mns_plugin_create(const mns_plugin_api_t *api, const char *name, void *dl,
                                mns_error_t *err)
{
	if (api->abi_major != MNS_PLUGIN_ABI_MAJOR) {
		mns_error_set(err, "plugin_abi",
		              "plugin '%s' was built for plugin ABI %u.%u, this mailnsd has ABI %u.%u: rebuild the plugin",
		              name, api->abi_major, api->abi_minor, MNS_PLUGIN_ABI_MAJOR,
		              MNS_PLUGIN_ABI_MINOR);
		return NULL;
	}
	if (api->abi_minor > MNS_PLUGIN_ABI_MINOR) {
		mns_error_set(err, "plugin_abi",
		              "plugin '%s' needs plugin ABI %u.%u, newer than this mailnsd's %u.%u: upgrade mailnsd",
		              name, api->abi_major, api->abi_minor, MNS_PLUGIN_ABI_MAJOR,
		              MNS_PLUGIN_ABI_MINOR);
		return NULL;
	}
	/* Every field up to commands exists in ABI 1.0; a smaller struct is corrupt. */
	if (api->struct_size < offsetof(mns_plugin_api_t, commands) + sizeof(api->commands)) {
		mns_error_set(err, "plugin_abi", "plugin '%s' has a descriptor of %u octets, too small",
		              name, api->struct_size);
		return NULL;
	}
	if (api->name == NULL || strcmp(api->name, name) != 0) {
		mns_error_set(err, "plugin_name", "plugin loaded as '%s' calls itself '%s'", name,
		              api->name ? api->name : "(null)");
		return NULL;
	}
	for (const mns_plugin_command_t *c = api->commands; c && c->name; c++) {
		size_t n = strlen(name);
		if (strncmp(c->name, name, n) != 0 || c->name[n] != '.' || c->fn == NULL) {
			mns_error_set(err, "plugin_command",
			              "plugin '%s' command '%s' must be named '%s.<command>'", name,
			              c->name, name);
			return NULL;
		}
	}
	mns_plugin_t *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		mns_error_set(err, "no_memory", "out of memory");
		return NULL;
	}
	p->api = api;
	p->name = strdup(name);
	p->dl = dl;
	return p;
}

mns_plugin_t *mns_plugin_load(const char *dir, const char *name, mns_error_t *err)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.so", dir, name);
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		mns_error_set(err, "plugin_load", "cannot load plugin '%s' from %s: %s", name, path,
		              dlerror());
		return NULL;
	}
	char sym[128];
	snprintf(sym, sizeof(sym), "mns_plugin_%s", name);
	const mns_plugin_api_t *api = dlsym(dl, sym);
	if (api == NULL) {
		mns_error_set(err, "plugin_load", "%s is not a mailns plugin (no symbol %s)", path, sym);
		dlclose(dl);
		return NULL;
	}
	mns_plugin_t *p = mns_plugin_create(api, name, dl, err);
	if (p == NULL)
		dlclose(dl);
	return p;
}

int mns_plugin_init(mns_plugin_t *p, mns_error_t *err)
{
	if (p->initialised)
		return MNS_OK;
	int ret = p->api->init ? p->api->init(p, err) : MNS_OK;
	p->initialised = ret == MNS_OK;
	return ret;
}

static void timer_closed(uv_handle_t *h)
{
	free(h->data);
}

MNS_API void mns_plugin_timer_stop(mns_plugin_timer_t *t)
{
	if (t == NULL)
		return;
	mns_plugin_t *p = t->plugin;
	if (t->prev)
		t->prev->next = t->next;
	else
		p->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	uv_timer_stop(&t->handle);
	t->handle.data = t;
	uv_close((uv_handle_t *)&t->handle, timer_closed);
}

void mns_plugin_shutdown(mns_plugin_t *p)
{
	if (p == NULL)
		return;
	while (p->timers)
		mns_plugin_timer_stop(p->timers);
	if (p->initialised && p->api->fini)
		p->api->fini(p);
	p->initialised = false;
}

void mns_plugin_destroy(mns_plugin_t *p)
{
	if (p == NULL)
		return;
	mns_plugin_shutdown(p);
	if (p->dl)
		dlclose(p->dl);
	free(p->name);
	free(p);
}

const mns_plugin_api_t *mns_plugin_api(const mns_plugin_t *p)
{
	return p->api;
}

MNS_API const char *mns_plugin_name(const mns_plugin_t *p)
{
	return p->name;
}

MNS_API void mns_plugin_set_data(mns_plugin_t *p, void *data)
{
	p->data = data;
}

MNS_API void *mns_plugin_data(const mns_plugin_t *p)
{
	return p->data;
}

MNS_API void mns_plugin_log(const mns_plugin_t *p, int level, const char *fmt, ...)
{
	char prefix[80];
	snprintf(prefix, sizeof(prefix), "plugin=%s", p ? p->name : "?");
	va_list ap;
	va_start(ap, fmt);
	mns_vlog(level, prefix, fmt, ap);
	va_end(ap);
}

void mns_plugin_attach(mns_plugin_t *p, uv_loop_t *loop, struct mns_server *server)
{
	p->loop = loop;
	p->server = server;
}

struct mns_server *mns_plugin_server(const mns_plugin_t *p)
{
	return p->server;
}

static void timer_fired(uv_timer_t *h)
{
	mns_plugin_timer_t *t = h->data;
	bool once = uv_timer_get_repeat(h) == 0;
	t->cb(t->plugin, t->data);
	/* A one-shot timer frees itself unless the callback already stopped it. */
	if (once && h->data == t && !uv_is_closing((uv_handle_t *)h))
		mns_plugin_timer_stop(t);
}

MNS_API mns_plugin_timer_t *mns_plugin_timer_start(mns_plugin_t *p, uint64_t after_ms,
                                                   uint64_t repeat_ms, mns_plugin_timer_cb cb,
                                                   void *data)
{
	if (p->loop == NULL || cb == NULL)
		return NULL;
	mns_plugin_timer_t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	uv_timer_init(p->loop, &t->handle);
	/* Timers never keep the daemon running: listeners do; a stop closes them. */
	uv_unref((uv_handle_t *)&t->handle);
	t->handle.data = t;
	t->plugin = p;
	t->cb = cb;
	t->data = data;
	t->next = p->timers;
	if (p->timers)
		p->timers->prev = t;
	p->timers = t;
	uv_timer_start(&t->handle, timer_fired, mns_timer_after(after_ms), repeat_ms);
	return t;
}

MNS_API void *mns_plugin_uv_loop(mns_plugin_t *p)
{
	return p->loop;
}

MNS_API const json_t *mns_plugin_vendor(mns_plugin_t *p)
{
	return p->server ? p->server->vendor : NULL;
}

MNS_API void mns_plugin_event(mns_plugin_t *p, const char *type, const json_t *fields)
{
	if (p->server == NULL)
		return;
	json_t *ev = json_is_object(fields) ? json_deep_copy(fields) : json_object();
	char name[128];
	snprintf(name, sizeof(name), "%s.%s", p->name, type);
	json_object_set_new(ev, "event", json_string(name));
	json_object_set_new(ev, "time", json_integer(time(NULL)));
	mns_control_broadcast(p->server, ev);
	json_decref(ev);
}
