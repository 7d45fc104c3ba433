/*  Config parser: defaults, file syntax, located errors, plugin schemas.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "mns_test.h"
#include "conf/conf.h"
#include "plugin/plugin_internal.h"

static char *dir;

static int setup(void **state)
{
	dir = mns_test_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	mns_test_rmtree(dir);
	free(dir);
	return 0;
}

static void test_defaults(void **state)
{
	mns_conf_t *c = NULL;
	char err[512] = "";
	assert_int_equal(mns_conf_load(NULL, NULL, &c, err, sizeof(err)), MNS_OK);
	assert_int_equal(c->n_listen, 1);
	assert_string_equal(c->listen[0].addr, "127.0.0.1");
	assert_int_equal(c->listen[0].port, 5300);
	assert_string_equal(c->data_dir, "mailns-data");
	assert_string_equal(c->control, "mailns-data/control.sock");
	assert_int_equal(c->n_plugins, 5);
	assert_string_equal(c->plugins[4], "verify");
	assert_string_equal(c->plugins[0], "dkim");
	assert_string_equal(c->hosted_zone, "mailns.vendor.example");
	assert_string_equal(c->subdomain, "mgeu");
	assert_int_equal(c->negative_ttl, 300);
	assert_int_equal(c->udp_payload, 1232);
	assert_int_equal(c->n_nameservers, 2);
	mns_conf_free(c);
}

static void test_file_and_overrides(void **state)
{
	char *path = mns_test_write(dir, "a.conf",
	                            "# comment\n"
	                            "[server]\n"
	                            "listen = 127.0.0.2@53   # trailing comment\n"
	                            "listen = ::1@5353\n"
	                            "data = /var/lib/x\n"
	                            "control-mode = 0660\n"
	                            "plugins = dkim spf\n"
	                            "[vendor]\n"
	                            "nameservers = NS1.Example.NET. ns2.example.net\n"
	                            "soa-contact = dns-admin@example.net\n"
	                            "ttl = 1800\n"
	                            "subdomain = \"\"\n"
	                            "[plugin.spf]\n"
	                            "mechanisms = ip4:192.0.2.0/24\n"
	                            "mechanisms = include:_spf.example.net\n");
	mns_conf_t *c = NULL;
	char err[512] = "";
	assert_int_equal(mns_conf_load(path, NULL, &c, err, sizeof(err)), MNS_OK);
	assert_int_equal(c->n_listen, 2);
	assert_string_equal(c->listen[1].addr, "::1");
	assert_int_equal(c->listen[1].port, 5353);
	assert_string_equal(c->control, "/var/lib/x/control.sock");
	assert_int_equal(c->control_mode, 0660);
	assert_string_equal(c->nameservers[0], "ns1.example.net");
	assert_string_equal(c->soa_contact, "dns-admin.example.net");
	assert_int_equal(c->ttl, 1800);
	assert_string_equal(c->subdomain, "");
	static const mns_conf_item_t schema[] = {
		{ "mechanisms", MNS_CONF_LIST, "", 0, 0, "" },
		{ "all", MNS_CONF_STR, "~all", 0, 0, "" },
		{ NULL },
	};
	json_t *pc = NULL;
	assert_int_equal(mns_conf_plugin(c, "spf", schema, &pc, err, sizeof(err)), MNS_OK);
	assert_int_equal(json_array_size(json_object_get(pc, "mechanisms")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(pc, "mechanisms"), 1)),
	                    "include:_spf.example.net");
	assert_string_equal(json_string_value(json_object_get(pc, "all")), "~all");
	json_decref(pc);
	mns_conf_free(c);

	mns_listen_t l = { .addr = "127.0.0.9", .port = 9999 };
	mns_conf_overrides_t ov = { .listen = &l, .n_listen = 1, .data_dir = "/tmp/d" };
	assert_int_equal(mns_conf_load(path, &ov, &c, err, sizeof(err)), MNS_OK);
	assert_int_equal(c->n_listen, 1);
	assert_int_equal(c->listen[0].port, 9999);
	assert_string_equal(c->data_dir, "/tmp/d");
	mns_conf_free(c);
	free(path);
}

/* Every error names the file, the line and the key. */
static void test_errors(void **state)
{
	static const struct {
		const char *text;
		const char *expect;
	} cases[] = {
		{ "[server]\nbogus = 1\n", ":2: bogus: unknown key in [server]" },
		{ "[server]\n\nudp-payload = 100\n", ":3: udp-payload: 100 is outside 512..4096" },
		{ "[server]\nudp-payload = lots\n", ":2: udp-payload: 'lots' is not an integer" },
		{ "[server]\nlisten = 1.2.3@53\n", ":2: listen: '1.2.3@53' is not ADDRESS@PORT" },
		{ "[server]\ndata = a\ndata = b\n", ":3: data: given twice (first on line 2)" },
		{ "[servre]\n", ":1: unknown section [servre]" },
		{ "listen = 1\n", ":1: 'listen = 1' is outside any [section]" },
		{ "[vendor]\nhosted-zone = a..b\n", ":2: hosted-zone:" },
		{ "[vendor]\nsubdomain = a.b\n", ":2: subdomain:" },
		{ "[server]\nlog-level = loud\n", ":2: log-level: must be error" },
		{ "[server]\ncontrol-mode = 999\n", ":2: control-mode: must be an octal" },
		{ "[plugin.nope]\n", ":1: [plugin.nope]: plugin 'nope' is not in [server] plugins" },
		{ "[server]\nno equals sign\n", ":2: expected 'key = value'" },
		{ "[vendor]\nsoa-contact = first.last@example.net\n", ":2: soa-contact:" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = mns_test_write(dir, "bad.conf", cases[i].text);
		mns_conf_t *c = NULL;
		char err[512] = "";
		assert_int_not_equal(mns_conf_load(path, NULL, &c, err, sizeof(err)), MNS_OK);
		assert_null(c);
		if (strstr(err, path) != err || strstr(err, cases[i].expect) == NULL)
			fail_msg("case %zu: got '%s', expected '%s' after the path", i, err, cases[i].expect);
		free(path);
	}
	mns_conf_t *c = NULL;
	char err[512] = "";
	assert_int_equal(mns_conf_load("/nonexistent/x.conf", NULL, &c, err, sizeof(err)), MNS_EINVAL);
	assert_non_null(strstr(err, "/nonexistent/x.conf: cannot open"));
}

static void test_plugin_schema_errors(void **state)
{
	static const mns_conf_item_t schema[] = {
		{ "rsa-bits", MNS_CONF_INT, "2048", 1024, 4096, "" },
		{ "ed25519", MNS_CONF_BOOL, "no", 0, 0, "" },
		{ NULL },
	};
	char *path = mns_test_write(dir, "p.conf", "[plugin.dkim]\ned25519 = yes\nrsa-bits = 512\n");
	mns_conf_t *c = NULL;
	char err[512] = "";
	assert_int_equal(mns_conf_load(path, NULL, &c, err, sizeof(err)), MNS_OK);
	json_t *pc = NULL;
	assert_int_equal(mns_conf_plugin(c, "dkim", schema, &pc, err, sizeof(err)), MNS_EINVAL);
	assert_non_null(strstr(err, ":3: rsa-bits: 512 is outside 1024..4096"));
	/* A plugin's own complaint is located by its key. */
	mns_error_t e;
	mns_error_set_key(&e, "ed25519", "bad", "not with this key size");
	mns_conf_locate(c, "plugin.dkim", &e, err, sizeof(err));
	assert_non_null(strstr(err, ":2: ed25519: not with this key size"));
	mns_conf_free(c);
	free(path);

	json_t *d = mns_conf_schema_defaults(schema);
	assert_int_equal(json_integer_value(json_object_get(d, "rsa-bits")), 2048);
	assert_true(json_is_false(json_object_get(d, "ed25519")));
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file_and_overrides),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_plugin_schema_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
