/*  The core mutation path end to end, without sockets: control requests go
 *  through mns_control_handle_line(), answers through mns_dns_process(), with
 *  a real LMDB store and a real dlopen()ed test plugin (tests/plugins/probe.c).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "mns_test.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/control.h"
#include "plugin/plugin_internal.h"
#include "plugin/registry.h"
#include "server_lifecycle.h"

typedef struct fixture {
	json_t *replies; /* Every reply call() returned; freed at teardown. */
	char *dir;
	char *conf_path;
	uv_loop_t loop;
	mns_server_t s;
} fixture_t;

static void write_conf(fixture_t *f, const char *greeting, const char *plugins)
{
	char text[2048];
	snprintf(text, sizeof(text),
	         "[server]\nplugin-dir = %s\nplugins = %s\ndata = %s/data\nzones = %s/zones\n"
	         "[plugin.probe]\ngreeting = %s\n",
	         MNS_TEST_PLUGIN_DIR, plugins ? plugins : "probe", f->dir, f->dir, greeting);
	free(f->conf_path);
	f->conf_path = mns_test_write(f->dir, "mailns.conf", text);
}

static int server_start(fixture_t *f)
{
	char err[1024] = "";
	memset(&f->s, 0, sizeof(f->s));
	f->s.conf_path = f->conf_path;
	uv_loop_init(&f->loop);
	int ret = mns_server_init(&f->s, &f->loop, err, sizeof(err));
	if (ret != MNS_OK)
		print_message("server init: %s\n", err);
	return ret;
}

static void server_stop(fixture_t *f)
{
	mns_server_deinit(&f->s);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	f->replies = json_array();
	f->dir = mns_test_tmpdir();
	char zones[512];
	snprintf(zones, sizeof(zones), "%s/zones", f->dir);
	mkdir(zones, 0700);
	free(mns_test_write(zones, "vendor.example.zone",
	                    "vendor.example. 3600 SOA ns1.vendor.example. h.vendor.example. 7 3600 600 86400 60\n"
	                    "vendor.example. 3600 NS ns1.vendor.example.\n"
	                    "ns1.vendor.example. 3600 A 192.0.2.53\n"));
	write_conf(f, "hello", NULL);
	mns_rcu_register();
	if (server_start(f) != MNS_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	server_stop(f);
	mns_rcu_unregister();
	mns_test_rmtree(f->dir);
	json_decref(f->replies);
	free(f->dir);
	free(f->conf_path);
	free(f);
	return 0;
}

/* Sends one request line; returns the parsed reply (owned by the fixture). */
static json_t *call(fixture_t *f, const char *line)
{
	json_t *r = mns_control_handle_line(&f->s, line, strlen(line), NULL);
	assert_non_null(r);
	json_array_append_new(f->replies, r);
	return r;
}

static json_t *callf(fixture_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *callf(fixture_t *f, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return call(f, line);
}

static void expect_ok(json_t *r)
{
	if (!json_is_true(json_object_get(r, "ok"))) {
		char *t = json_dumps(r, 0);
		fail_msg("expected ok, got %s", t);
	}
}

static void expect_error(json_t *r, const char *code)
{
	const char *got = json_string_value(json_object_get(json_object_get(r, "error"), "code"));
	if (json_is_true(json_object_get(r, "ok")) || got == NULL || strcmp(got, code) != 0) {
		char *t = json_dumps(r, 0);
		fail_msg("expected error %s, got %s", code, t);
	}
	assert_non_null(json_string_value(json_object_get(json_object_get(r, "error"), "message")));
}

typedef struct answer {
	int rcode;
	bool aa;
	int ancount;
	char txt[512]; /* First TXT string of the answer, if any. */
	uint32_t soa_serial; /* From answer or authority. */
} answer_t;

static answer_t query(fixture_t *f, const char *name, uint16_t type)
{
	answer_t a = { .rcode = -1 };
	knot_pkt_t *q = knot_pkt_new(NULL, 512, NULL);
	knot_dname_storage_t n;
	assert_non_null(knot_dname_from_str(n, name, sizeof(n)));
	assert_int_equal(knot_pkt_put_question(q, n, KNOT_CLASS_IN, type), KNOT_EOK);
	knot_wire_set_id(q->wire, 4242);
	uint8_t resp[65535];
	size_t len = mns_dns_process(&f->s.dns, q->wire, q->size, resp, sizeof(resp),
	                             MNS_TRANSPORT_TCP);
	knot_pkt_free(q);
	assert_true(len > 0);
	knot_pkt_t *r = knot_pkt_new(resp, len, NULL);
	assert_int_equal(knot_pkt_parse(r, 0), KNOT_EOK);
	a.rcode = knot_wire_get_rcode(r->wire);
	a.aa = knot_wire_get_aa(r->wire);
	const knot_pktsection_t *an = knot_pkt_section(r, KNOT_ANSWER);
	a.ancount = an->count;
	for (int sec = KNOT_ANSWER; sec <= KNOT_AUTHORITY; sec++) {
		const knot_pktsection_t *ps = knot_pkt_section(r, sec);
		for (uint16_t i = 0; i < ps->count; i++) {
			const knot_rrset_t *rr = knot_pkt_rr(ps, i);
			if (rr->type == KNOT_RRTYPE_TXT && a.txt[0] == '\0') {
				const knot_rdata_t *d = rr->rrs.rdata;
				snprintf(a.txt, sizeof(a.txt), "%.*s", d->data[0], d->data + 1);
			}
			if (rr->type == KNOT_RRTYPE_SOA)
				a.soa_serial = knot_soa_serial(rr->rrs.rdata);
		}
	}
	knot_pkt_free(r);
	return a;
}

static void test_add_serves_at_once(void **state)
{
	fixture_t *f = *state;
	json_t *r = call(f, "{\"id\":1,\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"acme\",\"domain\":\"Example.COM\",\"probe\":{\"secret\":\"s3cr3t\"}}}");
	expect_ok(r);
	json_t *res = json_object_get(r, "result");
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
	assert_string_equal(json_string_value(json_object_get(res, "zone")), "mgeu.example.com");
	assert_string_equal(json_string_value(json_object_get(res, "domain")), "example.com");
	assert_non_null(json_object_get(res, "notices"));
	/* The public view hides the plugin's secret; the stored document keeps it. */
	assert_null(json_object_get(json_object_get(res, "probe"), "secret"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(res, "probe"), "word")), "w");

	answer_t a = query(f, "probe.mgeu.example.com", KNOT_RRTYPE_TXT);
	assert_int_equal(a.rcode, KNOT_RCODE_NOERROR);
	assert_true(a.aa);
	assert_string_equal(a.txt, "hello w");
	a = query(f, "mgeu.example.com", KNOT_RRTYPE_SOA);
	assert_int_equal(a.ancount, 1);
	assert_true(a.soa_serial > 0);
	a = query(f, "nope.mgeu.example.com", KNOT_RRTYPE_TXT);
	assert_int_equal(a.rcode, KNOT_RCODE_NXDOMAIN);
	/* The core publishes only SOA and NS of its own (the challenge is the
	 * verify plugin's, not loaded here). */
	a = query(f, "_mailns-challenge.mgeu.example.com", KNOT_RRTYPE_TXT);
	assert_int_equal(a.rcode, KNOT_RCODE_NXDOMAIN);

	r = call(f, "{\"id\":2,\"cmd\":\"tenant.get\",\"args\":{\"tenant\":\"acme\"}}");
	expect_ok(r);
	char *text = json_dumps(json_object_get(r, "result"), 0);
	assert_null(strstr(text, "s3cr3t"));
	free(text);
}

/* Each bad request gets its own error code; nothing is stored or served. */
static void test_bad_requests(void **state)
{
	fixture_t *f = *state;
	expect_ok(call(f, "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example.com\"}}"));
	expect_ok(call(f, "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"deep\",\"domain\":\"a.b.example.info\",\"subdomain\":\"\"}}"));
	expect_ok(call(f, "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"ceta\",\"domain\":\"example.net\",\"subdomain\":\"\"}}"));
	static const struct {
		const char *line;
		const char *code;
	} cases[] = {
		{ "not json", "bad_json" },
		{ "[1,2]", "bad_request" },
		{ "{\"id\":1}", "bad_request" },
		{ "{\"cmd\":7}", "bad_request" },
		{ "{\"cmd\":\"status\",\"args\":[]}", "bad_request" },
		{ "{\"cmd\":\"status\",\"extra\":1}", "bad_request" },
		{ "{\"cmd\":\"no.such\"}", "unknown_command" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"domain\":\"example.org\"}}", "missing_field" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\"}}", "missing_field" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"Bad!\",\"domain\":\"example.org\"}}", "invalid_tenant_id" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":7,\"domain\":\"example.org\"}}", "wrong_type" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"https://www.example.org/\"}}", "invalid_domain" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"example.org\",\"mode\":\"mx\"}}", "invalid_mode" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"example.org\",\"subdomain\":\"a.b\"}}", "invalid_subdomain" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"example.org\",\"colour\":\"red\"}}", "unknown_field" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"example.org\",\"probe\":\"x\"}}", "wrong_type" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"example.org\",\"probe\":{\"word\":\"X1\"}}}", "invalid_probe" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"example.org\",\"probe\":{\"bogus\":1}}}", "unknown_field" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"example.org\",\"probe\":{\"word\":\"clash\"}}}", "record_clash" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"example.org\",\"probe\":{\"word\":\"outside\"}}}", "out_of_zone" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example.org\"}}", "tenant_exists" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"EXAMPLE.com\",\"subdomain\":\"other\"}}", "duplicate_domain" },
		/* Inside acme's zone mgeu.example.com. */
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"x.mgeu.example.com\",\"subdomain\":\"\"}}", "zone_overlap" },
		/* Containing deep's zone a.b.example.info. */
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"b.example.info\",\"subdomain\":\"\"}}", "zone_overlap" },
		/* Below ceta's whole-domain zone example.net. */
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"sub.example.net\"}}", "zone_overlap" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"x.mailns.vendor.example\",\"mode\":\"cname\"}}", "zone_overlap" },
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"vendor.example\",\"subdomain\":\"mailns\"}}", "zone_overlap" },
		/* cname mode for a domain inside a tenant's zone cannot work either. */
		{ "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"b\",\"domain\":\"a.example.net\",\"mode\":\"cname\"}}", "zone_overlap" },
		{ "{\"cmd\":\"tenant.get\",\"args\":{\"tenant\":\"zzz\"}}", "unknown_tenant" },
		{ "{\"cmd\":\"tenant.remove\",\"args\":{\"tenant\":\"zzz\"}}", "unknown_tenant" },
		{ "{\"cmd\":\"tenant.update\",\"args\":{\"tenant\":\"zzz\",\"domain\":\"example.org\"}}", "unknown_tenant" },
		{ "{\"cmd\":\"tenant.update\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example.net\"}}", "duplicate_domain" },
		{ "{\"cmd\":\"tenant.list\",\"args\":{\"limit\":0}}", "invalid_limit" },
		{ "{\"cmd\":\"tenant.list\",\"args\":{\"limit\":\"5\"}}", "wrong_type" },
		{ "{\"cmd\":\"tenant.instructions\",\"args\":{\"tenant\":\"acme\",\"format\":\"pdf\"}}", "invalid_format" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *r = call(f, cases[i].line);
		print_message("case %zu: %s\n", i, cases[i].line);
		expect_error(r, cases[i].code);
	}
	/* Nothing half-done is visible: no tenant b, nothing served for example.org. */
	expect_error(call(f, "{\"cmd\":\"tenant.get\",\"args\":{\"tenant\":\"b\"}}"), "unknown_tenant");
	assert_int_equal(query(f, "mgeu.example.org", KNOT_RRTYPE_SOA).rcode, KNOT_RCODE_REFUSED);
	/* The still-served tenant is untouched. */
	assert_string_equal(query(f, "probe.mgeu.example.com", KNOT_RRTYPE_TXT).txt, "hello w");
	json_t *st = call(f, "{\"cmd\":\"status\"}");
	expect_ok(st);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "result"), "tenants")), 3);
}

static void test_update_remove_serials(void **state)
{
	fixture_t *f = *state;
	expect_ok(call(f, "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example.com\"}}"));
	uint32_t s1 = query(f, "mgeu.example.com", KNOT_RRTYPE_SOA).soa_serial;
	json_t *r = call(f, "{\"cmd\":\"tenant.update\",\"args\":{\"tenant\":\"acme\",\"probe\":{\"word\":\"two\"}}}");
	expect_ok(r);
	uint32_t s2 = query(f, "mgeu.example.com", KNOT_RRTYPE_SOA).soa_serial;
	assert_true((int32_t)(s2 - s1) > 0);
	assert_string_equal(query(f, "probe.mgeu.example.com", KNOT_RRTYPE_TXT).txt, "hello two");

	/* Moving the zone: the old one stops, the new one starts. */
	expect_ok(call(f, "{\"cmd\":\"tenant.update\",\"args\":{\"tenant\":\"acme\",\"subdomain\":\"mail\"}}"));
	assert_int_equal(query(f, "mgeu.example.com", KNOT_RRTYPE_SOA).rcode, KNOT_RCODE_REFUSED);
	assert_string_equal(query(f, "probe.mail.example.com", KNOT_RRTYPE_TXT).txt, "hello two");
	uint32_t s3 = query(f, "mail.example.com", KNOT_RRTYPE_SOA).soa_serial;
	assert_true((int32_t)(s3 - s2) > 0);

	/* A null section resets it to the defaults. */
	expect_ok(call(f, "{\"cmd\":\"tenant.update\",\"args\":{\"tenant\":\"acme\",\"probe\":null}}"));
	assert_string_equal(query(f, "probe.mail.example.com", KNOT_RRTYPE_TXT).txt, "hello w");

	/* A plugin command changing its section through the core. */
	r = call(f, "{\"cmd\":\"probe.set\",\"args\":{\"tenant\":\"acme\",\"word\":\"three\"}}");
	expect_ok(r);
	assert_string_equal(query(f, "probe.mail.example.com", KNOT_RRTYPE_TXT).txt, "hello three");

	expect_ok(call(f, "{\"cmd\":\"tenant.remove\",\"args\":{\"tenant\":\"acme\"}}"));
	assert_int_equal(query(f, "mail.example.com", KNOT_RRTYPE_SOA).rcode, KNOT_RCODE_REFUSED);
	/* Re-adding never lowers the serial (secondaries would ignore us). */
	expect_ok(call(f, "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example.com\",\"subdomain\":\"mail\"}}"));
	uint32_t s4 = query(f, "mail.example.com", KNOT_RRTYPE_SOA).soa_serial;
	assert_true((int32_t)(s4 - s3) > 0);
}

static void test_cname_mode(void **state)
{
	fixture_t *f = *state;
	uint32_t h1 = query(f, "mailns.vendor.example", KNOT_RRTYPE_SOA).soa_serial;
	json_t *r = call(f, "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"beta\",\"domain\":\"example.org\",\"mode\":\"cname\"}}");
	expect_ok(r);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"), "zone")),
	                    "beta.mailns.vendor.example");
	answer_t a = query(f, "probe.beta.mailns.vendor.example", KNOT_RRTYPE_TXT);
	assert_true(a.aa);
	assert_string_equal(a.txt, "hello w");
	/* The hosted zone's serial moved; its SOA answers for the subtree's gaps. */
	uint32_t h2 = query(f, "mailns.vendor.example", KNOT_RRTYPE_SOA).soa_serial;
	assert_true((int32_t)(h2 - h1) > 0);
	a = query(f, "nothing.beta.mailns.vendor.example", KNOT_RRTYPE_TXT);
	assert_int_equal(a.rcode, KNOT_RCODE_NXDOMAIN);
	assert_int_equal(a.soa_serial, h2);

	r = call(f, "{\"cmd\":\"tenant.instructions\",\"args\":{\"tenant\":\"beta\",\"format\":\"csv\"}}");
	expect_ok(r);
	const char *csv = json_string_value(json_object_get(json_object_get(r, "result"), "text"));
	assert_string_equal(csv, "\"Record name\",\"Record type\",\"Record value\"\r\n"
	                         "\"probe.example.org\",\"CNAME\",\"probe.beta.mailns.vendor.example\"\r\n");
	r = call(f, "{\"cmd\":\"tenant.instructions\",\"args\":{\"tenant\":\"beta\",\"format\":\"zone\"}}");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "result"), "text")),
	                       "probe.example.org.\t3600\tIN\tCNAME\tprobe.beta.mailns.vendor.example.\n"));
	r = call(f, "{\"cmd\":\"tenant.instructions\",\"args\":{\"tenant\":\"beta\",\"format\":\"text\"}}");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "result"), "text")),
	                       "Value: probe.beta.mailns.vendor.example"));
	r = call(f, "{\"cmd\":\"tenant.records\",\"args\":{\"tenant\":\"beta\"}}");
	expect_ok(r);
	json_t *recs = json_object_get(json_object_get(r, "result"), "records");
	assert_int_equal(json_array_size(recs), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "name")),
	                    "probe.beta.mailns.vendor.example.");

	expect_ok(call(f, "{\"cmd\":\"tenant.remove\",\"args\":{\"tenant\":\"beta\"}}"));
	assert_int_equal(query(f, "probe.beta.mailns.vendor.example", KNOT_RRTYPE_TXT).rcode,
	                 KNOT_RCODE_NXDOMAIN);
	assert_true((int32_t)(query(f, "mailns.vendor.example", KNOT_RRTYPE_SOA).soa_serial - h2) > 0);
}

/* Records in vendor zones: the hosted zone's own (hosted_build) and a
 * tenant's record in a static zone, with its empty non-terminals. */
static void test_vendor_zone_records(void **state)
{
	fixture_t *f = *state;
	answer_t a = query(f, "_probe.mailns.vendor.example", KNOT_RRTYPE_TXT);
	assert_int_equal(a.rcode, KNOT_RCODE_NOERROR);
	assert_string_equal(a.txt, "hello");

	expect_ok(call(f, "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example.com\",\"probe\":{\"word\":\"report\"}}}"));
	a = query(f, "example.com._report._dmarc.vendor.example", KNOT_RRTYPE_TXT);
	assert_int_equal(a.rcode, KNOT_RCODE_NOERROR);
	assert_true(a.aa);
	assert_string_equal(a.txt, "v=DMARC1");
	/* The names above it exist (NODATA with the static zone's SOA), others not. */
	/* The static zone changed, so its serial rose above the file's 7. */
	uint32_t static_serial = query(f, "vendor.example", KNOT_RRTYPE_SOA).soa_serial;
	assert_true((int32_t)(static_serial - 7) > 0);
	a = query(f, "_dmarc.vendor.example", KNOT_RRTYPE_TXT);
	assert_int_equal(a.rcode, KNOT_RCODE_NOERROR);
	assert_int_equal(a.ancount, 0);
	assert_int_equal(a.soa_serial, static_serial);
	assert_int_equal(query(f, "com._report._dmarc.vendor.example", KNOT_RRTYPE_TXT).rcode,
	                 KNOT_RCODE_NOERROR);
	assert_int_equal(query(f, "org._report._dmarc.vendor.example", KNOT_RRTYPE_TXT).rcode,
	                 KNOT_RCODE_NXDOMAIN);
	a = query(f, "x.example.com._report._dmarc.vendor.example", KNOT_RRTYPE_TXT);
	assert_int_equal(a.rcode, KNOT_RCODE_NXDOMAIN);
	assert_int_equal(a.soa_serial, static_serial);
	json_t *r = call(f, "{\"cmd\":\"tenant.get\",\"args\":{\"tenant\":\"acme\"}}");
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(r, "result"), "external"), 0)),
	                    "example.com._report._dmarc.vendor.example.");

	/* Survives a restart; goes away with the tenant's change and removal. */
	server_stop(f);
	assert_int_equal(server_start(f), MNS_OK);
	assert_string_equal(query(f, "example.com._report._dmarc.vendor.example", KNOT_RRTYPE_TXT).txt,
	                    "v=DMARC1");
	assert_int_equal(query(f, "vendor.example", KNOT_RRTYPE_SOA).soa_serial, static_serial);
	expect_ok(call(f, "{\"cmd\":\"tenant.update\",\"args\":{\"tenant\":\"acme\",\"probe\":{\"word\":\"plain\"}}}"));
	assert_int_equal(query(f, "example.com._report._dmarc.vendor.example", KNOT_RRTYPE_TXT).rcode,
	                 KNOT_RCODE_NXDOMAIN);
	assert_int_equal(query(f, "_dmarc.vendor.example", KNOT_RRTYPE_TXT).rcode, KNOT_RCODE_NXDOMAIN);
	expect_ok(call(f, "{\"cmd\":\"tenant.update\",\"args\":{\"tenant\":\"acme\",\"probe\":{\"word\":\"report\"}}}"));
	assert_int_equal(query(f, "example.com._report._dmarc.vendor.example", KNOT_RRTYPE_TXT).rcode,
	                 KNOT_RCODE_NOERROR);
	uint32_t before_remove = query(f, "vendor.example", KNOT_RRTYPE_SOA).soa_serial;
	assert_true((int32_t)(before_remove - static_serial) > 0);
	expect_ok(call(f, "{\"cmd\":\"tenant.remove\",\"args\":{\"tenant\":\"acme\"}}"));
	assert_true((int32_t)(query(f, "vendor.example", KNOT_RRTYPE_SOA).soa_serial - before_remove) > 0);
	assert_int_equal(query(f, "example.com._report._dmarc.vendor.example", KNOT_RRTYPE_TXT).rcode,
	                 KNOT_RCODE_NXDOMAIN);
	assert_int_equal(query(f, "_dmarc.vendor.example", KNOT_RRTYPE_TXT).rcode, KNOT_RCODE_NXDOMAIN);
}

static void test_list_paging(void **state)
{
	fixture_t *f = *state;
	for (int i = 0; i < 25; i++)
		expect_ok(callf(f, "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"t%02d\",\"domain\":\"d%02d.example\",\"mode\":\"cname\"}}", i, i));
	char after[16] = "";
	int seen = 0, pages = 0;
	for (;;) {
		json_t *r = after[0] ? callf(f, "{\"cmd\":\"tenant.list\",\"args\":{\"limit\":10,\"after\":\"%s\"}}", after)
		                     : call(f, "{\"cmd\":\"tenant.list\",\"args\":{\"limit\":10}}");
		expect_ok(r);
		json_t *res = json_object_get(r, "result");
		json_t *items = json_object_get(res, "tenants");
		pages++;
		for (size_t i = 0; i < json_array_size(items); i++) {
			char want[16];
			snprintf(want, sizeof(want), "t%02d", seen++);
			assert_string_equal(json_string_value(json_object_get(json_array_get(items, i), "tenant")), want);
		}
		json_t *next = json_object_get(res, "next");
		if (json_is_null(next))
			break;
		snprintf(after, sizeof(after), "%s", json_string_value(next));
	}
	assert_int_equal(seen, 25);
	assert_int_equal(pages, 3);
}

static void test_restart_and_reload(void **state)
{
	fixture_t *f = *state;
	expect_ok(call(f, "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example.com\",\"probe\":{\"word\":\"kept\"}}}"));
	answer_t before = query(f, "mgeu.example.com", KNOT_RRTYPE_SOA);

	server_stop(f);
	assert_int_equal(server_start(f), MNS_OK);
	answer_t after = query(f, "mgeu.example.com", KNOT_RRTYPE_SOA);
	assert_int_equal(after.soa_serial, before.soa_serial);
	assert_string_equal(query(f, "probe.mgeu.example.com", KNOT_RRTYPE_TXT).txt, "hello kept");

	/* Reload with a new plugin default: records and serial follow. */
	write_conf(f, "howdy", NULL);
	f->s.conf_path = f->conf_path;
	assert_int_equal(mns_server_reload(&f->s), MNS_OK);
	assert_string_equal(query(f, "probe.mgeu.example.com", KNOT_RRTYPE_TXT).txt, "howdy kept");
	uint32_t reloaded = query(f, "mgeu.example.com", KNOT_RRTYPE_SOA).soa_serial;
	assert_true((int32_t)(reloaded - before.soa_serial) > 0);

	/* A reload the plugin rejects keeps the running config. */
	write_conf(f, "fail", NULL);
	f->s.conf_path = f->conf_path;
	assert_int_not_equal(mns_server_reload(&f->s), MNS_OK);
	assert_string_equal(query(f, "probe.mgeu.example.com", KNOT_RRTYPE_TXT).txt, "howdy kept");

	/* The raised serial survives a restart (never goes back). */
	write_conf(f, "howdy", NULL);
	server_stop(f);
	assert_int_equal(server_start(f), MNS_OK);
	assert_int_equal(query(f, "mgeu.example.com", KNOT_RRTYPE_SOA).soa_serial, reloaded);
	struct stat st;
	char data[512];
	snprintf(data, sizeof(data), "%s/data", f->dir);
	assert_int_equal(stat(data, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void hold_done(uv_timer_t *t)
{
	(void)t;
}

static void test_plugin_timer_and_commands(void **state)
{
	fixture_t *f = *state;
	/* Plugin timers do not keep the loop alive (listeners do): hold it open
	 * with a timer of our own for 40 ms while the probe's 5 ms timer ticks. */
	uv_timer_t hold;
	uv_timer_init(&f->loop, &hold);
	uv_timer_start(&hold, hold_done, 40, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&hold, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	json_t *r = call(f, "{\"cmd\":\"probe.ticks\"}");
	expect_ok(r);
	assert_true(json_integer_value(json_object_get(json_object_get(r, "result"), "ticks")) > 0);
	r = call(f, "{\"cmd\":\"plugin.list\"}");
	expect_ok(r);
	json_t *p = json_array_get(json_object_get(json_object_get(r, "result"), "plugins"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "probe");
	assert_int_equal(json_array_size(json_object_get(p, "commands")), 2);
}

/* --- Deferred replies (mns_plugin_reply_defer) ------------------------------ */

static mns_reply_t *later_handles[4];
static size_t later_n;

static int later_wait(mns_plugin_t *p, const json_t *args, json_t **result, mns_error_t *err)
{
	mns_reply_t *r = mns_plugin_reply_defer(p);
	if (r == NULL)
		return mns_error_set(err, "not_deferrable", "no control connection");
	assert_null(mns_plugin_reply_defer(p)); /* Once per request. */
	later_handles[later_n++] = r;
	return MNS_PENDING;
}

static int later_now(mns_plugin_t *p, const json_t *args, json_t **result, mns_error_t *err)
{
	*result = json_pack("{s:s}", "at", "once");
	return MNS_OK;
}

static const mns_plugin_command_t later_commands[] = {
	{ "later.wait", later_wait, "answers when the test says" },
	{ "later.now", later_now, "answers at once" },
	{ NULL, NULL, NULL },
};

static const mns_plugin_api_t later_api = {
	.abi_major = MNS_PLUGIN_ABI_MAJOR,
	.abi_minor = MNS_PLUGIN_ABI_MINOR,
	.struct_size = sizeof(mns_plugin_api_t),
	.name = "later",
	.commands = later_commands,
};

/* Runs the loop a little, so the server reads, answers and writes. */
static void pump(fixture_t *f)
{
	for (int i = 0; i < 20; i++) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		uv_sleep(1);
	}
}

/* Reads whatever the server sent into buf (appending); returns the length. */
static size_t drain(int fd, char *buf, size_t len, size_t cap)
{
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

static void test_deferred_replies(void **state)
{
	fixture_t *f = *state;
	mns_error_t err = { 0 };
	mns_plugin_t *p = mns_plugin_create(&later_api, "later", NULL, &err);
	assert_non_null(p);
	mns_plugin_attach(p, &f->loop, &f->s);
	mns_plugin_t **pl = realloc(f->s.plugins, (f->s.n_plugins + 1) * sizeof(*pl));
	assert_non_null(pl);
	f->s.plugins = pl;
	f->s.plugins[f->s.n_plugins++] = p;
	later_n = 0;

	/* Without a connection a reply cannot be deferred. */
	json_t *r = call(f, "{\"id\":9,\"cmd\":\"later.wait\"}");
	expect_error(r, "not_deferrable");

	assert_int_equal(mns_control_start(&f->s), MNS_OK);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->s.conf->control);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	const char *reqs = "{\"id\":1,\"cmd\":\"later.wait\"}\n{\"id\":2,\"cmd\":\"later.now\"}\n"
	                   "{\"id\":3,\"cmd\":\"later.wait\"}\n";
	assert_int_equal(write(fd, reqs, strlen(reqs)), (ssize_t)strlen(reqs));
	pump(f);
	char buf[4096];
	size_t len = drain(fd, buf, 0, sizeof(buf));
	assert_int_equal(len, 0); /* 1 is owed, so 2 waits behind it. */
	assert_int_equal(later_n, 2);

	/* 3 answered first still waits for 1; then all leave in order. */
	mns_plugin_reply(later_handles[1], MNS_OK, json_pack("{s:i}", "n", 3), NULL);
	pump(f);
	assert_int_equal(drain(fd, buf, 0, sizeof(buf)), 0);
	mns_error_t e = { 0 };
	mns_error_set(&e, "too_late", "answered with an error");
	mns_plugin_reply(later_handles[0], MNS_EINVAL, NULL, &e);
	pump(f);
	len = drain(fd, buf, 0, sizeof(buf));
	const char *l1 = buf, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
	assert_non_null(strstr(l1, "\"id\":1"));
	assert_non_null(strstr(l1, "too_late"));
	assert_non_null(strstr(l2, "\"id\":2"));
	assert_non_null(strstr(l2, "once"));
	assert_non_null(strstr(l3, "\"id\":3"));
	assert_non_null(strstr(l3, "\"n\":3"));
	assert_int_equal(buf[len - 1], '\n');
	assert_null(strchr(l3, '\n') + 1 < buf + len ? "extra line" : NULL);

	/* A client that leaves before its reply: the late reply is dropped. */
	const char *one = "{\"id\":4,\"cmd\":\"later.wait\"}\n{\"id\":5,\"cmd\":\"later.now\"}\n";
	assert_int_equal(write(fd, one, strlen(one)), (ssize_t)strlen(one));
	pump(f);
	assert_int_equal(later_n, 3);
	close(fd);
	pump(f);
	mns_plugin_reply(later_handles[2], MNS_OK, json_object(), NULL);
	/* And one still owed when the control socket closes. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	size_t first = (size_t)(strchr(reqs, '\n') - reqs) + 1;
	assert_int_equal(write(fd, reqs, first), (ssize_t)first);
	pump(f);
	assert_int_equal(later_n, 4);
	mns_control_stop(&f->s);
	pump(f);
	mns_plugin_reply(later_handles[3], MNS_OK, NULL, NULL);
	close(fd);

	f->s.n_plugins--;
	mns_plugin_destroy(p);
}

static void test_loader_refusals(void **state)
{
	mns_error_t err = { 0 };
	assert_null(mns_plugin_load(MNS_TEST_PLUGIN_DIR, "abi_bad", &err));
	assert_string_equal(err.code, "plugin_abi");
	assert_non_null(strstr(err.message, "built for plugin ABI 2.0"));
	assert_non_null(strstr(err.message, "rebuild the plugin"));
	assert_null(mns_plugin_load(MNS_TEST_PLUGIN_DIR, "misnamed", &err));
	assert_string_equal(err.code, "plugin_name");
	assert_null(mns_plugin_load(MNS_TEST_PLUGIN_DIR, "absent", &err));
	assert_string_equal(err.code, "plugin_load");

	/* A newer minor version than the core knows is refused too. */
	mns_plugin_api_t newer = { .abi_major = MNS_PLUGIN_ABI_MAJOR,
		                   .abi_minor = MNS_PLUGIN_ABI_MINOR + 1,
		                   .struct_size = sizeof(mns_plugin_api_t),
		                   .name = "x" };
	assert_null(mns_plugin_create(&newer, "x", NULL, &err));
	assert_non_null(strstr(err.message, "upgrade mailnsd"));
	newer.abi_minor = MNS_PLUGIN_ABI_MINOR;
	mns_plugin_t *p = mns_plugin_create(&newer, "x", NULL, &err);
	assert_non_null(p);
	mns_plugin_destroy(p);
}

/* A daemon whose config names a plugin that cannot be loaded does not start. */
static void test_start_refuses_bad_plugin(void **state)
{
	fixture_t *f = *state;
	server_stop(f);
	write_conf(f, "hello", "probe abi_bad");
	memset(&f->s, 0, sizeof(f->s));
	f->s.conf_path = f->conf_path;
	uv_loop_init(&f->loop);
	char err[1024] = "";
	assert_int_not_equal(mns_server_init(&f->s, &f->loop, err, sizeof(err)), MNS_OK);
	assert_non_null(strstr(err, "abi_bad"));
	server_stop(f);
	write_conf(f, "fail", NULL);
	assert_int_not_equal(server_start(f), MNS_OK);
	server_stop(f);
	write_conf(f, "hello", NULL);
	assert_int_equal(server_start(f), MNS_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_serves_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_remove_serials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cname_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vendor_zone_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_and_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plugin_timer_and_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_replies, setup, teardown),
		cmocka_unit_test(test_loader_refusals),
		cmocka_unit_test_setup_teardown(test_start_refuses_bad_plugin, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
