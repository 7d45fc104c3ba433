/*  The control protocol: every input is one request line, handled by
 *  mns_control_handle_line() on a real server (LMDB store under /dev/shm,
 *  the real plugins). Any line gets one structured reply, {"ok": true,
 *  "result": ...} or {"ok": false, "error": {"code", "message"}}, carrying
 *  the request's id; after each input the store, its indexes and the served
 *  zones agree (mns_tenant_check_store). Mutations are bounded: the server
 *  starts over on a fresh store once it holds MAX_TENANTS tenants.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "fuzz.h"
#include "control/control.h"
#include "tenant/tenant.h"

enum { MAX_TENANTS = 12, FULL_CHECK_EVERY = 64 };

static mns_server_t g_s;
static uv_loop_t g_loop;
static unsigned g_generation;
static char g_conf[2048];

/* Tenants every run starts with, so that updates, removals and the read
 * commands find someone. */
static const char *const g_tenants[] = {
    "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example.com\"}}",
    "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"beta\",\"domain\":\"cn.example.com\","
    "\"mode\":\"cname\"}}",
};

static void start(void)
{
	const char *dir = mns_fuzz_dir();
	snprintf(g_conf, sizeof(g_conf),
	         "[server]\nplugin-dir = %s\nplugins = dkim spf mx dmarc verify\n"
	         "data = %s/data%u\nzones = %s/zones\ncontrol = %s/control.sock\n"
	         "log-level = error\n"
	         "[plugin.dkim]\nrsa-bits = 1024\nkey-pool = 0\n"
	         "[plugin.verify]\nresolvers = 127.0.0.1@9\n",
	         MNS_FUZZ_PLUGIN_DIR, dir, g_generation, dir, dir);
	mns_fuzz_server(&g_s, &g_loop, dir, g_conf);
	for (size_t i = 0; i < MNS_ARRAY_SIZE(g_tenants); i++) {
		json_t *r = mns_control_handle_line(&g_s, g_tenants[i], strlen(g_tenants[i]), NULL);
		MNS_FUZZ_CHECK(json_is_true(json_object_get(r, "ok")), "setup failed");
		json_decref(r);
	}
}

static void stop(void)
{
	mns_server_deinit(&g_s);
	uv_run(&g_loop, UV_RUN_DEFAULT);
	MNS_FUZZ_CHECK(uv_loop_close(&g_loop) == 0, "handles left on the loop");
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/data%u'", mns_fuzz_dir(), g_generation);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot clean up the store\n");
	g_generation++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char zones[256];
	snprintf(zones, sizeof(zones), "%s/zones", mns_fuzz_dir());
	mkdir(zones, 0700);
	mns_rcu_register();
	mns_fuzz_pin_plugins();
	start();
	atexit(stop);
	return 0;
}

static void check_reply(const json_t *req, const json_t *r)
{
	MNS_FUZZ_CHECK(json_is_object(r), "reply is not an object");
	const json_t *ok = json_object_get(r, "ok");
	MNS_FUZZ_CHECK(json_is_boolean(ok), "no \"ok\"");
	json_t *want_id = json_is_object(req) ? json_object_get(req, "id") : NULL;
	json_t *id = json_object_get(r, "id");
	MNS_FUZZ_CHECK(want_id == NULL ? id == NULL || json_is_null(id) : json_equal(id, want_id),
	               "reply id differs from the request's");
	if (json_is_true(ok)) {
		MNS_FUZZ_CHECK(json_object_get(r, "result") != NULL, "ok without a result");
		MNS_FUZZ_CHECK(json_object_get(r, "error") == NULL, "ok with an error");
		return;
	}
	const json_t *e = json_object_get(r, "error");
	MNS_FUZZ_CHECK(json_is_object(e), "error reply without an error object");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	MNS_FUZZ_CHECK(code != NULL && code[0] != '\0', "error without a code");
	MNS_FUZZ_CHECK(msg != NULL && msg[0] != '\0', "error %s without a message", code);
	MNS_FUZZ_CHECK(strcmp(code, "internal") != 0 && strcmp(code, "store_failed") != 0,
	               "request caused %s: %s", code, msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The socket splits on newlines and refuses longer lines. */
	if (size > 64 * 1024 || memchr(data, '\n', size) != NULL)
		return -1;
	bool subscribe = false;
	json_t *r = mns_control_handle_line(&g_s, (const char *)data, size, &subscribe);
	MNS_FUZZ_CHECK(r != NULL, "no reply (deferred without a connection)");
	json_t *req = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	check_reply(req, r);
	json_decref(req);
	json_decref(r);

	/* Every input: the index tables count one domain per tenant. After a
	 * mutation (and every FULL_CHECK_EVERY inputs): the whole check, which
	 * reads every document and costs far more than the request. */
	mns_error_t err = {0};
	mns_txn_t *txn;
	MNS_FUZZ_CHECK(mns_txn_begin(g_s.store, false, &txn, &err) == MNS_OK, "txn");
	size_t n = mns_store_tenant_count(txn);
	size_t domains = mns_store_index_count(txn, MNS_IDX_DOMAIN);
	mns_txn_abort(txn);
	MNS_FUZZ_CHECK(n == domains, "%zu tenants, %zu domain index entries", n, domains);
	static uint64_t checked_mutations, runs;
	if (g_s.mutations != checked_mutations || ++runs % FULL_CHECK_EVERY == 0) {
		checked_mutations = g_s.mutations;
		MNS_FUZZ_CHECK(mns_tenant_check_store(&g_s, &err) == MNS_OK, "store: %s",
		               err.message);
	}
	if (n >= MAX_TENANTS) {
		stop();
		start();
		checked_mutations = g_s.mutations;
	}
	return 0;
}
