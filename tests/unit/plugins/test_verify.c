/*  Unit tests of the verify plugin: the challenge token and its record, the
 *  state machine and schedule (pure functions taking "now"), reading
 *  answers, and the diagnosis (fed parsed answers, no DNS).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "plugtest.h"
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include "verify_logic.h"

extern const mns_plugin_api_t mns_plugin_verify;

/* The stored document the tenant services return ("acme" only). */
static json_t *stored_doc;

json_t *__wrap_mns_plugin_tenant_get(mns_plugin_t *p, const char *tenant);
json_t *__wrap_mns_plugin_tenant_get(mns_plugin_t *p, const char *tenant)
{
	(void)p;
	if (stored_doc == NULL || strcmp(tenant, "acme") != 0)
		return NULL;
	return json_deep_copy(stored_doc);
}

static void test_token(void **state)
{
	mns_plugin_t *p = pt_plugin_new(&mns_plugin_verify, "verify");
	mns_tenant_ctx_t t = pt_ctx_ns();
	mns_error_t err;
	json_t *a = NULL, *b = NULL, *c = NULL;
	assert_int_equal(pt_check(p, &t, NULL, NULL, &a, &err), MNS_OK);
	const char *tok = json_string_value(json_object_get(a, "token"));
	assert_int_equal(strlen(tok), 32);
	assert_int_equal(strspn(tok, "abcdefghijklmnopqrstuvwxyz234567"), 32);
	assert_string_equal(json_string_value(json_object_get(a, "state")), "pending");
	/* Kept across updates; a second tenant gets another token. */
	assert_int_equal(pt_check(p, &t, a, NULL, &b, &err), MNS_OK);
	assert_true(json_equal(a, b));
	json_decref(b);
	assert_int_equal(pt_check(p, &t, NULL, NULL, &b, &err), MNS_OK);
	assert_string_not_equal(json_string_value(json_object_get(b, "token")), tok);
	/* A reset draws a new one; writing it is refused. */
	json_t *null_in = json_null();
	assert_int_equal(pt_check(p, &t, a, null_in, &c, &err), MNS_OK);
	assert_string_not_equal(json_string_value(json_object_get(c, "token")), tok);
	json_t *in = json_pack("{s:s}", "token", "mine");
	json_t *d = NULL;
	assert_int_equal(pt_check(p, &t, a, in, &d, &err), MNS_EINVAL);
	assert_string_equal(err.code, "read_only_field");
	json_decref(in);

	/* ns mode publishes it; cname mode does not. */
	mns_zone_t *z = NULL;
	assert_int_equal(pt_build(p, &t, a, &z, &err), MNS_OK);
	pt_assert_txt(pt_rrset(z, "_mailns-challenge.mgeu.example.com", KNOT_RRTYPE_TXT), tok,
	              3600);
	mns_zone_free(z);
	t = pt_ctx_cname();
	assert_int_equal(pt_build(p, &t, a, &z, &err), MNS_OK);
	assert_null(pt_rrset(z, "_mailns-challenge.acme.mailns.vendor.example", KNOT_RRTYPE_TXT));
	mns_zone_free(z);
	json_decref(a);
	json_decref(b);
	json_decref(c);
	mns_plugin_destroy(p);
}

/* The section of a new tenant carries its schedule; a changed name or mode
 * starts verification over, other updates keep it. */
static void test_section_bookkeeping(void **state)
{
	mns_plugin_t *p = pt_plugin_new(&mns_plugin_verify, "verify");
	mns_error_t err;
	assert_int_equal(pt_configure(p, json_pack("{s:i}", "first-check", 7), &err), MNS_OK);
	mns_tenant_ctx_t t = pt_ctx_ns();
	json_t *a = NULL, *b = NULL;
	assert_int_equal(pt_check(p, &t, NULL, NULL, &a, &err), MNS_OK);
	assert_string_equal(json_string_value(json_object_get(a, "name")), "mgeu.example.com");
	assert_string_equal(json_string_value(json_object_get(a, "mode")), "ns");
	assert_int_equal(json_integer_value(json_object_get(a, "since")), PT_NOW);
	assert_int_equal(json_integer_value(json_object_get(a, "next_check")), PT_NOW + 7);
	assert_int_equal(json_integer_value(json_object_get(a, "failures")), 0);

	/* Verified, then the tenant moves to cname mode: pending again, same token. */
	json_object_set_new(a, "state", json_string("verified"));
	json_object_set_new(a, "failures", json_integer(2));
	json_object_set_new(a, "checks", json_array());
	t = pt_ctx_cname();
	t.now = PT_NOW + 100;
	assert_int_equal(pt_check(p, &t, a, NULL, &b, &err), MNS_OK);
	assert_string_equal(json_string_value(json_object_get(b, "state")), "pending");
	assert_string_equal(json_string_value(json_object_get(b, "mode")), "cname");
	assert_string_equal(json_string_value(json_object_get(b, "name")), "example.com");
	assert_int_equal(json_integer_value(json_object_get(b, "failures")), 0);
	assert_int_equal(json_integer_value(json_object_get(b, "next_check")), PT_NOW + 107);
	assert_null(json_object_get(b, "checks"));
	assert_true(json_equal(json_object_get(a, "token"), json_object_get(b, "token")));
	json_decref(b);

	/* A section from before names were stored gets them, nothing else changes. */
	json_t *legacy = json_pack("{s:s, s:s}", "token", "abcdefghijklmnopqrstuvwxyz234567",
	                           "state", "verified");
	t = pt_ctx_ns();
	assert_int_equal(pt_check(p, &t, legacy, NULL, &b, &err), MNS_OK);
	assert_string_equal(json_string_value(json_object_get(b, "state")), "verified");
	assert_string_equal(json_string_value(json_object_get(b, "name")), "mgeu.example.com");
	json_decref(b);
	json_decref(legacy);
	json_decref(a);
	mns_plugin_destroy(p);
}

static void test_configure(void **state)
{
	mns_plugin_t *p = pt_plugin_new(&mns_plugin_verify, "verify");
	mns_error_t err;
	assert_int_equal(pt_configure(p, NULL, &err), MNS_OK);
	assert_int_equal(
	    pt_configure(p, json_pack("{s:[s,s]}", "resolvers", "127.0.0.1@5353", "::1"), &err),
	    MNS_OK);
	const char *bad[] = {"127.0.0.1@",       "127.0.0.1@0", "127.0.0.1@70000",
	                     "resolver.example", "@53",         "127.0.0.1@53x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pt_configure(p, json_pack("{s:[s]}", "resolvers", bad[i]), &err),
		                 MNS_EINVAL);
		assert_string_equal(err.code, "invalid_config");
		assert_string_equal(err.key, "resolvers");
	}
	assert_int_equal(pt_configure(p, json_pack("{s:[]}", "resolvers"), &err), MNS_EINVAL);
	assert_int_equal(
	    pt_configure(p, json_pack("{s:i, s:i}", "pending-initial", 100, "pending-max", 50),
	                 &err),
	    MNS_EINVAL);
	assert_string_equal(err.key, "pending-initial");
	mns_plugin_destroy(p);
}

/* Commands need a stored tenant and, for verify.now, the event loop. */
static void test_commands_without_loop(void **state)
{
	mns_plugin_t *p = pt_plugin_new(&mns_plugin_verify, "verify");
	const mns_plugin_api_t *api = mns_plugin_api(p);
	mns_plugin_command_cb now = NULL, status = NULL;
	for (const mns_plugin_command_t *c = api->commands; c && c->name; c++) {
		if (strcmp(c->name, "verify.now") == 0)
			now = c->fn;
		if (strcmp(c->name, "verify.status") == 0)
			status = c->fn;
	}
	assert_non_null(now);
	assert_non_null(status);
	stored_doc = pt_json("{\"tenant\":\"acme\",\"mode\":\"ns\",\"zone\":\"mgeu.example.com\","
	                     "\"verify\":{\"token\":\"t\",\"state\":\"lost\",\"failures\":4,"
	                     "\"diagnostic\":\"no delegation at parent\"}}");
	mns_error_t err = {0};
	json_t *args = json_pack("{s:s}", "tenant", "acme"), *res = NULL;
	assert_int_equal(status(p, args, &res, &err), MNS_OK);
	assert_string_equal(json_string_value(json_object_get(res, "state")), "lost");
	assert_string_equal(json_string_value(json_object_get(res, "tenant")), "acme");
	assert_int_equal(json_integer_value(json_object_get(res, "failures")), 4);
	assert_false(json_is_true(json_object_get(res, "running")));
	json_decref(res);
	res = NULL;
	assert_int_equal(now(p, args, &res, &err), MNS_EINVAL);
	assert_string_equal(err.code, "verifier_unavailable");
	json_decref(args);
	args = json_pack("{s:s}", "tenant", "nobody");
	assert_int_equal(now(p, args, &res, &err), MNS_ENOENT);
	assert_string_equal(err.code, "unknown_tenant");
	assert_int_equal(status(p, args, &res, &err), MNS_ENOENT);
	json_decref(args);
	args = json_pack("{s:s, s:i}", "tenant", "acme", "extra", 1);
	assert_int_equal(now(p, args, &res, &err), MNS_EINVAL);
	assert_string_equal(err.code, "unknown_field");
	json_decref(args);
	args = json_pack("{s:i}", "tenant", 3);
	assert_int_equal(now(p, args, &res, &err), MNS_EINVAL);
	json_decref(args);
	json_decref(stored_doc);
	stored_doc = NULL;
	mns_plugin_destroy(p);
}

/* --- State machine and schedule -------------------------------------------- */

static const mns_vsched_t S = {
    .first_check = 5,
    .pending_initial = 60,
    .pending_max = 3600,
    .pending_deadline = 86400,
    .verified_interval = 86400,
    .lost_interval = 900,
    .lost_after = 3,
    .startup_spread = 600,
};

#define T0 ((int64_t)1700000000)

static void test_backoff(void **state)
{
	assert_int_equal(mns_verify_backoff(&S, 0), 60);
	assert_int_equal(mns_verify_backoff(&S, 1), 60);
	assert_int_equal(mns_verify_backoff(&S, 2), 120);
	assert_int_equal(mns_verify_backoff(&S, 3), 240);
	assert_int_equal(mns_verify_backoff(&S, 6), 1920);
	assert_int_equal(mns_verify_backoff(&S, 7), 3600);
	assert_int_equal(mns_verify_backoff(&S, 1000), 3600);
	assert_int_equal(mns_verify_sched_defaults.pending_initial, 60);
	assert_int_equal(mns_verify_sched_defaults.pending_max, 3600);
	assert_int_equal(mns_verify_sched_defaults.verified_interval, 86400);
	assert_int_equal(mns_verify_sched_defaults.lost_interval, 900);
}

static void test_pending(void **state)
{
	mns_vrec_t r = {.state = MNS_VS_PENDING, .since = T0, .next_check = T0 + 5};
	/* Failures back off 1, 2, 4 … minutes. */
	int64_t now = T0 + 5;
	int64_t want[] = {60, 120, 240, 480, 960, 1920, 3600, 3600};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_false(mns_verify_apply(&S, &r, MNS_VO_FAIL, false, now));
		assert_int_equal(r.state, MNS_VS_PENDING);
		assert_int_equal(r.failures, (int64_t)i + 1);
		assert_int_equal(r.last_check, now);
		assert_int_equal(r.next_check, now + want[i]);
		now = r.next_check;
	}
	/* Inconclusive: nothing counted, retried at the current backoff. */
	mns_vrec_t before = r;
	assert_false(mns_verify_apply(&S, &r, MNS_VO_INCONCLUSIVE, false, now));
	assert_int_equal(r.failures, before.failures);
	assert_int_equal(r.last_check, before.last_check);
	assert_int_equal(r.next_check, now + 3600);
	/* Success: verified, daily re-check. */
	assert_true(mns_verify_apply(&S, &r, MNS_VO_PASS, false, now));
	assert_int_equal(r.state, MNS_VS_VERIFIED);
	assert_int_equal(r.since, now);
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.next_check, now + 86400);
}

static void test_deadline_and_rearm(void **state)
{
	mns_vrec_t r = {.state = MNS_VS_PENDING, .since = T0};
	assert_false(mns_verify_apply(&S, &r, MNS_VO_FAIL, false, T0 + 86399));
	assert_int_equal(r.state, MNS_VS_PENDING);
	assert_true(mns_verify_apply(&S, &r, MNS_VO_FAIL, false, T0 + 86400));
	assert_int_equal(r.state, MNS_VS_FAILED);
	assert_int_equal(r.next_check, 0);
	assert_int_equal(mns_verify_resume(&S, &r, T0 + 90000), -1);
	/* An automatic run does not revive it ... */
	assert_false(mns_verify_apply(&S, &r, MNS_VO_FAIL, false, T0 + 90000));
	assert_int_equal(r.state, MNS_VS_FAILED);
	/* ... verify.now re-arms it: pending again with a fresh deadline. */
	int64_t now = T0 + 100000;
	assert_true(mns_verify_apply(&S, &r, MNS_VO_FAIL, true, now));
	assert_int_equal(r.state, MNS_VS_PENDING);
	assert_int_equal(r.since, now);
	assert_int_equal(r.failures, 1);
	assert_int_equal(r.next_check, now + 60);
	/* Or straight to verified when it passes. */
	r.state = MNS_VS_FAILED;
	assert_true(mns_verify_apply(&S, &r, MNS_VO_PASS, true, now));
	assert_int_equal(r.state, MNS_VS_VERIFIED);
	/* Inconclusive verify.now on a failed tenant: re-armed all the same. */
	r.state = MNS_VS_FAILED;
	assert_true(mns_verify_apply(&S, &r, MNS_VO_INCONCLUSIVE, true, now));
	assert_int_equal(r.state, MNS_VS_PENDING);
	assert_int_equal(r.next_check, now + 60);
}

static void test_verified_lost(void **state)
{
	mns_vrec_t r = {.state = MNS_VS_VERIFIED, .since = T0, .next_check = T0 + 86400};
	int64_t now = T0 + 86400;
	/* N-1 failures: still verified, re-checked every lost-interval. */
	for (int i = 1; i < 3; i++) {
		assert_false(mns_verify_apply(&S, &r, MNS_VO_FAIL, false, now));
		assert_int_equal(r.state, MNS_VS_VERIFIED);
		assert_int_equal(r.failures, i);
		assert_int_equal(r.next_check, now + 900);
		now += 900;
	}
	/* A success in between resets the count. */
	assert_false(mns_verify_apply(&S, &r, MNS_VO_PASS, false, now));
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.since, T0);
	/* An inconclusive check (resolver down) never counts. */
	for (int i = 0; i < 5; i++)
		assert_false(mns_verify_apply(&S, &r, MNS_VO_INCONCLUSIVE, false, now));
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.state, MNS_VS_VERIFIED);
	/* N consecutive failures: lost. */
	assert_false(mns_verify_apply(&S, &r, MNS_VO_FAIL, false, now));
	assert_false(mns_verify_apply(&S, &r, MNS_VO_FAIL, false, now + 900));
	assert_true(mns_verify_apply(&S, &r, MNS_VO_FAIL, false, now + 1800));
	assert_int_equal(r.state, MNS_VS_LOST);
	assert_int_equal(r.since, now + 1800);
	assert_int_equal(r.next_check, now + 2700);
	/* Lost stays lost (re-checked every 15 min), never failed. */
	for (int i = 0; i < 200; i++)
		assert_false(mns_verify_apply(&S, &r, MNS_VO_FAIL, false, now + 2700 + 900 * i));
	assert_int_equal(r.state, MNS_VS_LOST);
	/* Recovery. */
	now += 1000000;
	assert_true(mns_verify_apply(&S, &r, MNS_VO_PASS, false, now));
	assert_int_equal(r.state, MNS_VS_VERIFIED);
	assert_int_equal(r.failures, 0);
	assert_int_equal(r.next_check, now + 86400);
	/* lost-after = 1: the first failure loses it. */
	mns_vsched_t one = S;
	one.lost_after = 1;
	assert_true(mns_verify_apply(&one, &r, MNS_VO_FAIL, false, now));
	assert_int_equal(r.state, MNS_VS_LOST);
}

static void test_resume_spread(void **state)
{
	int64_t now = T0;
	mns_vrec_t r = {.state = MNS_VS_VERIFIED, .next_check = T0 + 3000};
	assert_int_equal(mns_verify_resume(&S, &r, now), T0 + 3000);
	r.next_check = T0 - 1;
	assert_int_equal(mns_verify_resume(&S, &r, now), 0);
	r.next_check = 0;
	assert_int_equal(mns_verify_resume(&S, &r, now), 0);
	/* Clamped to one interval of the state (clock went back, shorter config). */
	r.next_check = T0 + 10 * 86400;
	assert_int_equal(mns_verify_resume(&S, &r, now), T0 + 86400);
	r.state = MNS_VS_LOST;
	assert_int_equal(mns_verify_resume(&S, &r, now), T0 + 900);
	r.state = MNS_VS_PENDING;
	assert_int_equal(mns_verify_resume(&S, &r, now), T0 + 3600);
	r.state = MNS_VS_FAILED;
	assert_int_equal(mns_verify_resume(&S, &r, now), -1);

	/* 1000 overdue checks: evenly over 10 minutes, starting after first-check. */
	size_t per_minute[10] = {0};
	for (size_t i = 0; i < 1000; i++) {
		int64_t at = mns_verify_spread(&S, now, i, 1000);
		assert_true(at >= now + 5);
		assert_true(at < now + 5 + 600);
		per_minute[(at - now - 5) / 60]++;
	}
	for (size_t m = 0; m < 10; m++)
		assert_int_equal(per_minute[m], 100);
	assert_int_equal(mns_verify_spread(&S, now, 0, 1), now + 5);
	mns_vsched_t none = S;
	none.startup_spread = 0;
	assert_int_equal(mns_verify_spread(&none, now, 7, 10), now + 5);
}

static void test_rec_json(void **state)
{
	mns_vrec_t r = {
	    .state = MNS_VS_LOST, .since = 10, .last_check = 20, .next_check = 30, .failures = 4};
	json_t *s = json_pack("{s:s}", "token", "x");
	mns_verify_rec_to_json(&r, s);
	mns_vrec_t back;
	mns_verify_rec_from_json(s, &back);
	assert_memory_equal(&r, &back, sizeof(r));
	assert_string_equal(json_string_value(json_object_get(s, "state")), "lost");
	r.state = MNS_VS_FAILED;
	r.next_check = 0;
	mns_verify_rec_to_json(&r, s);
	assert_null(json_object_get(s, "next_check"));
	json_decref(s);
	mns_verify_rec_from_json(NULL, &back);
	assert_int_equal(back.state, MNS_VS_PENDING);
	assert_int_equal(back.next_check, 0);
	mns_vstate_t st;
	assert_false(mns_verify_state_parse("bogus", &st));
	assert_true(mns_verify_state_parse("failed", &st));
	assert_int_equal(st, MNS_VS_FAILED);
}

/* --- Answers ---------------------------------------------------------------- */

static knot_rrset_t *rr_new(const char *owner, uint16_t type, const char *data)
{
	knot_dname_t *o = knot_dname_from_str_alloc(owner);
	assert_non_null(o);
	knot_rrset_t *rr = knot_rrset_new(o, type, KNOT_CLASS_IN, 300, NULL);
	free(o);
	uint8_t rd[600];
	size_t len = 0;
	switch (type) {
	case KNOT_RRTYPE_NS:
	case KNOT_RRTYPE_CNAME:
		assert_non_null(knot_dname_from_str(rd, data, sizeof(rd)));
		len = knot_dname_size(rd);
		break;
	case KNOT_RRTYPE_TXT:
		len = strlen(data);
		rd[0] = (uint8_t)len;
		memcpy(rd + 1, data, len);
		len++;
		break;
	case KNOT_RRTYPE_SOA:
		assert_non_null(knot_dname_from_str(rd, data, sizeof(rd)));
		len = knot_dname_size(rd);
		assert_non_null(knot_dname_from_str(rd + len, "hostmaster.example.com", 255));
		len += knot_dname_size(rd + len);
		memset(rd + len, 0, 20);
		len += 20;
		break;
	}
	assert_int_equal(knot_rrset_add_rdata(rr, rd, (uint16_t)len, NULL), KNOT_EOK);
	return rr;
}

/* A response to qname/qtype with rcode; answer and authority records given as
 * (owner, type, data) triples terminated by NULL; "|" separates the sections. */
static size_t response(uint8_t *out, const char *qname, uint16_t qtype, uint8_t rcode, ...)
{
	knot_pkt_t *pkt = knot_pkt_new(NULL, 4096, NULL);
	knot_dname_t *q = knot_dname_from_str_alloc(qname);
	assert_int_equal(knot_pkt_put_question(pkt, q, KNOT_CLASS_IN, qtype), KNOT_EOK);
	free(q);
	knot_wire_set_qr(pkt->wire);
	knot_wire_set_rcode(pkt->wire, rcode);
	knot_rrset_t *keep[16];
	size_t n = 0;
	va_list ap;
	va_start(ap, rcode);
	knot_pkt_begin(pkt, KNOT_ANSWER);
	for (;;) {
		const char *owner = va_arg(ap, const char *);
		if (owner == NULL)
			break;
		if (strcmp(owner, "|") == 0) {
			knot_pkt_begin(pkt, KNOT_AUTHORITY);
			continue;
		}
		int type = va_arg(ap, int);
		const char *data = va_arg(ap, const char *);
		keep[n] = rr_new(owner, (uint16_t)type, data);
		assert_int_equal(knot_pkt_put(pkt, 0, keep[n], 0), KNOT_EOK);
		n++;
	}
	va_end(ap);
	size_t len = pkt->size;
	memcpy(out, pkt->wire, len);
	knot_pkt_free(pkt);
	for (size_t i = 0; i < n; i++)
		knot_rrset_free(keep[i], NULL);
	return len;
}

static void test_answer_parse(void **state)
{
	uint8_t w[4096];
	mns_vanswer_t a;
	size_t n = response(w, "MGEU.example.com", KNOT_RRTYPE_NS, KNOT_RCODE_NOERROR,
	                    "mgeu.example.com", KNOT_RRTYPE_NS, "NS1.Vendor.Example.",
	                    "mgeu.example.com", KNOT_RRTYPE_NS, "ns2.vendor.example", NULL);
	assert_int_equal(mns_verify_answer_parse(w, n, "mgeu.example.com.", KNOT_RRTYPE_NS, &a), 0);
	assert_int_equal(a.status, MNS_VA_ANSWER);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.values[0], "ns1.vendor.example");
	assert_string_equal(a.values[1], "ns2.vendor.example");

	n = response(w, "mgeu.example.com", KNOT_RRTYPE_NS, KNOT_RCODE_NXDOMAIN, "|", "example.com",
	             KNOT_RRTYPE_SOA, "ns.example.com", NULL);
	mns_verify_answer_parse(w, n, "mgeu.example.com", KNOT_RRTYPE_NS, &a);
	assert_int_equal(a.status, MNS_VA_NXDOMAIN);
	assert_string_equal(a.soa_owner, "example.com");

	n = response(w, "mgeu.example.com", KNOT_RRTYPE_NS, KNOT_RCODE_NOERROR, "|", "example.com",
	             KNOT_RRTYPE_SOA, "ns.example.com", NULL);
	mns_verify_answer_parse(w, n, "mgeu.example.com", KNOT_RRTYPE_NS, &a);
	assert_int_equal(a.status, MNS_VA_NODATA);
	assert_string_equal(a.soa_owner, "example.com");

	/* Records of other names or types are not taken. */
	n = response(w, "_mailns-challenge.mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_RCODE_NOERROR,
	             "_mailns-challenge.mgeu.example.com", KNOT_RRTYPE_TXT, "tok1",
	             "_mailns-challenge.mgeu.example.com", KNOT_RRTYPE_TXT, "tok\x01 2",
	             "other.example.com", KNOT_RRTYPE_TXT, "not this", NULL);
	mns_verify_answer_parse(w, n, "_mailns-challenge.mgeu.example.com", KNOT_RRTYPE_TXT, &a);
	assert_int_equal(a.status, MNS_VA_ANSWER);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.values[0], "tok1");
	assert_string_equal(a.values[1], "tok? 2");

	/* NS at a name that is a CNAME: the CNAME is reported, its target's NS taken. */
	n = response(w, "mgeu.example.com", KNOT_RRTYPE_NS, KNOT_RCODE_NOERROR, "mgeu.example.com",
	             KNOT_RRTYPE_CNAME, "elsewhere.example.net", "elsewhere.example.net",
	             KNOT_RRTYPE_NS, "ns.example.net", NULL);
	mns_verify_answer_parse(w, n, "mgeu.example.com", KNOT_RRTYPE_NS, &a);
	assert_int_equal(a.status, MNS_VA_ANSWER);
	assert_string_equal(a.cname, "elsewhere.example.net");
	assert_string_equal(a.values[0], "ns.example.net");

	n = response(w, "s1._domainkey.example.com", KNOT_RRTYPE_CNAME, KNOT_RCODE_NOERROR,
	             "s1._domainkey.example.com", KNOT_RRTYPE_CNAME,
	             "S1._domainkey.acme.mailns.vendor.example.", NULL);
	mns_verify_answer_parse(w, n, "s1._domainkey.example.com", KNOT_RRTYPE_CNAME, &a);
	assert_int_equal(a.status, MNS_VA_ANSWER);
	assert_string_equal(a.values[0], "s1._domainkey.acme.mailns.vendor.example");

	n = response(w, "x.example.com", KNOT_RRTYPE_NS, KNOT_RCODE_SERVFAIL, NULL);
	mns_verify_answer_parse(w, n, "x.example.com", KNOT_RRTYPE_NS, &a);
	assert_int_equal(a.status, MNS_VA_SERVFAIL);
	n = response(w, "x.example.com", KNOT_RRTYPE_NS, KNOT_RCODE_REFUSED, NULL);
	mns_verify_answer_parse(w, n, "x.example.com", KNOT_RRTYPE_NS, &a);
	assert_int_equal(a.status, MNS_VA_RESOLVER);
	assert_non_null(strstr(a.detail, "REFUSED"));
	/* Garbage and truncated packets are the resolver's problem. */
	assert_int_equal(mns_verify_answer_parse(w, 7, "x.example.com", KNOT_RRTYPE_NS, &a), 0);
	assert_int_equal(a.status, MNS_VA_RESOLVER);
	n = response(w, "mgeu.example.com", KNOT_RRTYPE_NS, KNOT_RCODE_NOERROR, "mgeu.example.com",
	             KNOT_RRTYPE_NS, "ns1.vendor.example", NULL);
	mns_verify_answer_parse(w, n - 3, "mgeu.example.com", KNOT_RRTYPE_NS, &a);
	assert_int_equal(a.status, MNS_VA_RESOLVER);
	assert_int_equal(mns_verify_answer_parse(NULL, 0, "x", KNOT_RRTYPE_NS, &a), -1);
}

/* --- Diagnosis -------------------------------------------------------------- */

#define TOKEN "abcdefghijklmnopqrstuvwxyz234567"

static mns_vanswer_t ans(mns_vstatus_t st, const char *soa, const char *v1, const char *v2)
{
	mns_vanswer_t a;
	mns_verify_answer_fail(&a, st, st == MNS_VA_RESOLVER ? "connection refused" : "");
	if (soa)
		snprintf(a.soa_owner, sizeof(a.soa_owner), "%s", soa);
	if (v1)
		snprintf(a.values[a.n++], MNS_VA_LEN, "%s", v1);
	if (v2)
		snprintf(a.values[a.n++], MNS_VA_LEN, "%s", v2);
	return a;
}

static const json_t *check_at(const mns_vresult_t *r, size_t i)
{
	const json_t *c = json_array_get(r->checks, i);
	assert_non_null(c);
	return c;
}

static const char *field(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	assert_non_null(v);
	return v;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("'%s' does not contain '%s'", hay, needle);
}

static void test_diagnose_ns(void **state)
{
	json_t *vendor = json_pack("[s,s]", "ns1.vendor.example", "ns2.vendor.example");
	const char *apex = "mgeu.example.com";
	mns_vresult_t r;
	mns_vanswer_t ok_ns = ans(MNS_VA_ANSWER, NULL, "ns2.vendor.example", "ns1.vendor.example");
	mns_vanswer_t ok_txt = ans(MNS_VA_ANSWER, NULL, "other", TOKEN);

	mns_verify_diagnose_ns(apex, vendor, TOKEN, &ok_ns, &ok_txt, &r);
	assert_int_equal(r.outcome, MNS_VO_PASS);
	assert_contains(r.diagnostic, "verified");
	assert_int_equal(json_array_size(r.checks), 2);
	const json_t *c = check_at(&r, 0);
	assert_string_equal(field(c, "name"), apex);
	assert_string_equal(field(c, "type"), "NS");
	assert_string_equal(field(c, "expected"), "ns1.vendor.example ns2.vendor.example");
	assert_string_equal(field(c, "found"), "ns1.vendor.example ns2.vendor.example");
	assert_true(json_is_true(json_object_get(c, "ok")));
	c = check_at(&r, 1);
	assert_string_equal(field(c, "name"), "_mailns-challenge.mgeu.example.com");
	assert_string_equal(field(c, "type"), "TXT");
	assert_string_equal(field(c, "expected"), TOKEN);
	assert_true(json_is_true(json_object_get(c, "ok")));
	json_decref(r.checks);

	/* No delegation: NXDOMAIN, or NODATA with the parent's SOA. */
	mns_vanswer_t nx = ans(MNS_VA_NXDOMAIN, "example.com", NULL, NULL);
	mns_vanswer_t nx_txt = ans(MNS_VA_NXDOMAIN, "example.com", NULL, NULL);
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &nx, &nx_txt, &r);
	assert_int_equal(r.outcome, MNS_VO_FAIL);
	assert_contains(r.diagnostic, "no delegation at parent");
	assert_contains(r.diagnostic, "NXDOMAIN from zone example.com");
	assert_false(json_is_true(json_object_get(check_at(&r, 0), "ok")));
	json_decref(r.checks);
	mns_vanswer_t nodata = ans(MNS_VA_NODATA, "example.com", NULL, NULL);
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &nodata, &nx_txt, &r);
	assert_int_equal(r.outcome, MNS_VO_FAIL);
	assert_contains(r.diagnostic,
	                "no delegation at parent: zone example.com has no NS records");
	json_decref(r.checks);

	/* Delegated elsewhere: the other nameservers are named. */
	mns_vanswer_t other = ans(MNS_VA_ANSWER, NULL, "ns2.other.example", "NS1.other.example.");
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &other, &nx_txt, &r);
	assert_int_equal(r.outcome, MNS_VO_FAIL);
	assert_contains(r.diagnostic,
	                "delegated to other nameservers: ns1.other.example, ns2.other.example");
	assert_contains(r.diagnostic, "expected ns1.vendor.example ns2.vendor.example");
	assert_string_equal(field(check_at(&r, 0), "found"), "ns1.other.example ns2.other.example");
	json_decref(r.checks);
	mns_vanswer_t half = ans(MNS_VA_ANSWER, NULL, "ns1.vendor.example.", NULL);
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &half, &ok_txt, &r);
	assert_int_equal(r.outcome, MNS_VO_FAIL);
	assert_contains(r.diagnostic, "lacks ns2.vendor.example");
	json_decref(r.checks);
	mns_vanswer_t mixed = ans(MNS_VA_ANSWER, NULL, "ns1.vendor.example", "ns9.other.example");
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &mixed, &ok_txt, &r);
	assert_contains(r.diagnostic, "missing ns2.vendor.example; not ours ns9.other.example");
	json_decref(r.checks);

	/* Lame: SERVFAIL or timeout through the delegation. */
	mns_vanswer_t sf = ans(MNS_VA_SERVFAIL, NULL, NULL, NULL);
	mns_vanswer_t to = ans(MNS_VA_TIMEOUT, NULL, NULL, NULL);
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &sf, &sf, &r);
	assert_int_equal(r.outcome, MNS_VO_FAIL);
	assert_contains(r.diagnostic, "lame or unreachable");
	assert_contains(r.diagnostic, "SERVFAIL");
	json_decref(r.checks);
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &ok_ns, &to, &r);
	assert_int_equal(r.outcome, MNS_VO_FAIL);
	assert_contains(r.diagnostic, "not reachable through the delegation");
	json_decref(r.checks);

	/* Token mismatch says what was found; a missing token says so. */
	mns_vanswer_t wrong = ans(MNS_VA_ANSWER, NULL, "stale-token", NULL);
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &ok_ns, &wrong, &r);
	assert_int_equal(r.outcome, MNS_VO_FAIL);
	assert_contains(r.diagnostic, "token mismatch");
	assert_contains(r.diagnostic, "\"stale-token\"");
	assert_true(json_is_true(json_object_get(check_at(&r, 0), "ok")));
	assert_string_equal(field(check_at(&r, 1), "found"), "\"stale-token\"");
	json_decref(r.checks);
	mns_vanswer_t none = ans(MNS_VA_NODATA, "mgeu.example.com", NULL, NULL);
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &ok_ns, &none, &r);
	assert_contains(r.diagnostic, "token missing");
	json_decref(r.checks);

	/* A CNAME at the apex is no delegation. */
	mns_vanswer_t cn = ans(MNS_VA_ANSWER, NULL, "ns.example.net", NULL);
	snprintf(cn.cname, sizeof(cn.cname), "elsewhere.example.net");
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &cn, &ok_txt, &r);
	assert_contains(r.diagnostic, "no delegation at parent: mgeu.example.com is a CNAME");
	json_decref(r.checks);

	/* Resolver trouble is inconclusive, unless the other answer already
	 * shows a real failure. */
	mns_vanswer_t down = ans(MNS_VA_RESOLVER, NULL, NULL, NULL);
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &down, &down, &r);
	assert_int_equal(r.outcome, MNS_VO_INCONCLUSIVE);
	assert_contains(r.diagnostic, "inconclusive");
	assert_contains(r.diagnostic, "connection refused");
	json_decref(r.checks);
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &down, &wrong, &r);
	assert_int_equal(r.outcome, MNS_VO_FAIL);
	json_decref(r.checks);
	mns_verify_diagnose_ns(apex, vendor, TOKEN, &ok_ns, &down, &r);
	assert_int_equal(r.outcome, MNS_VO_INCONCLUSIVE);
	json_decref(r.checks);
	json_decref(vendor);
}

static void test_diagnose_cname(void **state)
{
	const mns_vcname_t want[] = {
	    {"s1._domainkey.example.com", "s1._domainkey.acme.mailns.vendor.example"},
	    {"s2._domainkey.example.com", "s2._domainkey.acme.mailns.vendor.example"},
	    {"bounce.example.com", "bounce.acme.mailns.vendor.example."},
	};
	mns_vanswer_t got[3] = {
	    ans(MNS_VA_ANSWER, NULL, "s1._domainkey.acme.mailns.vendor.example", NULL),
	    ans(MNS_VA_ANSWER, NULL, "s2._domainkey.acme.mailns.vendor.example", NULL),
	    ans(MNS_VA_ANSWER, NULL, "bounce.acme.mailns.vendor.example", NULL),
	};
	mns_vresult_t r;
	mns_verify_diagnose_cname(want, got, 3, &r);
	assert_int_equal(r.outcome, MNS_VO_PASS);
	assert_contains(r.diagnostic, "all 3 required CNAMEs");
	assert_int_equal(json_array_size(r.checks), 3);
	const json_t *c = check_at(&r, 2);
	assert_string_equal(field(c, "type"), "CNAME");
	assert_string_equal(field(c, "expected"), "bounce.acme.mailns.vendor.example");
	json_decref(r.checks);

	/* One missing: named, with what was found. */
	got[1] = ans(MNS_VA_NXDOMAIN, "example.com", NULL, NULL);
	mns_verify_diagnose_cname(want, got, 3, &r);
	assert_int_equal(r.outcome, MNS_VO_FAIL);
	assert_string_equal(
	    r.diagnostic,
	    "CNAME s2._domainkey.example.com: missing (NXDOMAIN from zone example.com)");
	assert_true(json_is_true(json_object_get(check_at(&r, 0), "ok")));
	assert_false(json_is_true(json_object_get(check_at(&r, 1), "ok")));
	json_decref(r.checks);

	/* And one pointing elsewhere. */
	got[2] = ans(MNS_VA_ANSWER, NULL, "bounce.other-vendor.example", NULL);
	mns_verify_diagnose_cname(want, got, 3, &r);
	assert_contains(r.diagnostic, "2 of 3 required CNAMEs are missing or wrong");
	assert_contains(r.diagnostic, "bounce.example.com: points to bounce.other-vendor.example "
	                              "instead of bounce.acme.mailns.vendor.example");
	assert_string_equal(field(check_at(&r, 2), "found"), "bounce.other-vendor.example");
	json_decref(r.checks);

	got[1] = ans(MNS_VA_NODATA, "example.com", NULL, NULL);
	got[2] = ans(MNS_VA_SERVFAIL, NULL, NULL, NULL);
	mns_verify_diagnose_cname(want, got, 3, &r);
	assert_contains(r.diagnostic, "exists but is not a CNAME");
	assert_contains(r.diagnostic, "cannot be resolved");
	json_decref(r.checks);

	got[1] = ans(MNS_VA_RESOLVER, NULL, NULL, NULL);
	got[2] = ans(MNS_VA_ANSWER, NULL, "bounce.acme.mailns.vendor.example", NULL);
	mns_verify_diagnose_cname(want, got, 3, &r);
	assert_int_equal(r.outcome, MNS_VO_INCONCLUSIVE);
	json_decref(r.checks);
	mns_verify_diagnose_cname(want, got, 0, &r);
	assert_int_equal(r.outcome, MNS_VO_INCONCLUSIVE);
	json_decref(r.checks);
}

/* --- The resolver (c-ares on libuv) against a fake server on loopback ----- */

#include "resolver.h"

/* Answers by the first label: "sf" SERVFAIL, "nx" NXDOMAIN, "slow" never,
 * "tc" truncated over UDP (then in full over TCP), anything else NS
 * ns1.<qname>. */
typedef struct fake {
	uv_udp_t udp;
	uv_tcp_t tcp;
	int udp_queries, tcp_queries;
} fake_t;

typedef struct fake_conn {
	uv_tcp_t h;
	fake_t *f;
	uint8_t buf[1024];
	size_t len;
} fake_conn_t;

static size_t fake_answer(const uint8_t *q, size_t qlen, bool tcp, uint8_t *out)
{
	uint8_t copy[512];
	if (qlen > sizeof(copy))
		return 0;
	memcpy(copy, q, qlen);
	knot_pkt_t *query = knot_pkt_new(copy, qlen, NULL);
	assert_int_equal(knot_pkt_parse(query, 0), KNOT_EOK);
	char name[256];
	knot_dname_to_str(name, knot_pkt_wire_qname(query), sizeof(name));
	knot_pkt_t *r = knot_pkt_new(NULL, 4096, NULL);
	knot_pkt_init_response(r, query);
	size_t len = 0;
	if (strncmp(name, "slow.", 5) == 0)
		goto out;
	if (strncmp(name, "sf.", 3) == 0) {
		knot_wire_set_rcode(r->wire, KNOT_RCODE_SERVFAIL);
	} else if (strncmp(name, "nx.", 3) == 0) {
		knot_wire_set_rcode(r->wire, KNOT_RCODE_NXDOMAIN);
	} else if (strncmp(name, "tc.", 3) == 0 && !tcp) {
		knot_wire_set_tc(r->wire);
	} else {
		char target[300];
		snprintf(target, sizeof(target), "ns1.%s", name);
		knot_rrset_t *rr = rr_new(name, KNOT_RRTYPE_NS, target);
		knot_pkt_begin(r, KNOT_ANSWER);
		assert_int_equal(knot_pkt_put(r, 0, rr, 0), KNOT_EOK);
		len = r->size;
		memcpy(out, r->wire, len);
		knot_rrset_free(rr, NULL);
		goto out;
	}
	len = r->size;
	memcpy(out, r->wire, len);
out:
	knot_pkt_free(r);
	knot_pkt_free(query);
	return len;
}

static void fake_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char rbuf[2048];
	*buf = uv_buf_init(rbuf, sizeof(rbuf));
}

typedef struct fake_send {
	uv_udp_send_t req;
	uint8_t data[1024];
} fake_send_t;

static void fake_sent(uv_udp_send_t *req, int status)
{
	free(req);
}

static void fake_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                          const struct sockaddr *addr, unsigned flags)
{
	fake_t *f = h->data;
	if (n <= 0 || addr == NULL)
		return;
	f->udp_queries++;
	fake_send_t *s = malloc(sizeof(*s));
	size_t len = fake_answer((const uint8_t *)buf->base, (size_t)n, false, s->data);
	if (len == 0) {
		free(s);
		return;
	}
	uv_buf_t b = uv_buf_init((char *)s->data, (unsigned)len);
	uv_udp_send(&s->req, h, &b, 1, addr, fake_sent);
}

typedef struct fake_write {
	uv_write_t req;
	uint8_t data[1026];
} fake_write_t;

static void fake_written(uv_write_t *req, int status)
{
	free(req);
}

static void conn_closed(uv_handle_t *h)
{
	free(h->data);
}

static void fake_tcp_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	fake_conn_t *c = st->data;
	if (n < 0) {
		uv_close((uv_handle_t *)&c->h, conn_closed);
		return;
	}
	memcpy(c->buf + c->len, buf->base, (size_t)n);
	c->len += (size_t)n;
	while (c->len >= 2 && c->len >= 2u + ((c->buf[0] << 8) | c->buf[1])) {
		size_t qlen = (c->buf[0] << 8) | c->buf[1];
		c->f->tcp_queries++;
		fake_write_t *w = malloc(sizeof(*w));
		size_t len = fake_answer(c->buf + 2, qlen, true, w->data + 2);
		w->data[0] = (uint8_t)(len >> 8);
		w->data[1] = (uint8_t)len;
		uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len + 2);
		uv_write(&w->req, st, &b, 1, fake_written);
		memmove(c->buf, c->buf + 2 + qlen, c->len - 2 - qlen);
		c->len -= 2 + qlen;
	}
}

static void fake_accept(uv_stream_t *server, int status)
{
	fake_conn_t *c = calloc(1, sizeof(*c));
	c->f = server->data;
	uv_tcp_init(server->loop, &c->h);
	c->h.data = c;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&c->h), 0);
	uv_read_start((uv_stream_t *)&c->h, fake_alloc, fake_tcp_read);
}

/* Binds the fake server on 127.0.0.1, UDP and TCP on one port. */
static int fake_start(uv_loop_t *loop, fake_t *f)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		memset(f, 0, sizeof(*f));
		struct sockaddr_in sa;
		uv_ip4_addr("127.0.0.1", 0, &sa);
		uv_udp_init(loop, &f->udp);
		f->udp.data = f;
		assert_int_equal(uv_udp_bind(&f->udp, (struct sockaddr *)&sa, 0), 0);
		int len = sizeof(sa);
		uv_udp_getsockname(&f->udp, (struct sockaddr *)&sa, &len);
		uv_tcp_init(loop, &f->tcp);
		f->tcp.data = f;
		if (uv_tcp_bind(&f->tcp, (struct sockaddr *)&sa, 0) == 0 &&
		    uv_listen((uv_stream_t *)&f->tcp, 8, fake_accept) == 0) {
			uv_udp_recv_start(&f->udp, fake_alloc, fake_udp_recv);
			return ntohs(sa.sin_port);
		}
		uv_close((uv_handle_t *)&f->udp, NULL);
		uv_close((uv_handle_t *)&f->tcp, NULL);
		uv_run(loop, UV_RUN_NOWAIT);
	}
	fail_msg("no free port for the fake DNS server");
	return -1;
}

typedef struct got {
	bool done, cancelled;
	mns_vanswer_t a;
	mns_vresolver_t *free_me; /* Frees the resolver from inside the callback. */
} got_t;

static int answers_pending;

static void got_answer(void *data, const mns_vanswer_t *a)
{
	got_t *g = data;
	assert_false(g->done); /* Exactly once. */
	g->done = true;
	answers_pending--;
	if (a == NULL)
		g->cancelled = true;
	else
		g->a = *a;
	if (g->free_me != NULL)
		mns_vresolver_free(g->free_me);
}

static void keepalive_cb(uv_timer_t *t)
{
}

/* The resolver's handles do not keep a loop alive (as in the daemon, where
 * the listeners do): a referenced timer stands in for them. */
static void run_until_answered(uv_loop_t *loop)
{
	uv_timer_t keep;
	uv_timer_init(loop, &keep);
	uv_timer_start(&keep, keepalive_cb, 10000, 0);
	uint64_t deadline = uv_now(loop) + 10000;
	while (answers_pending > 0 && uv_now(loop) < deadline)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&keep, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	assert_int_equal(answers_pending, 0);
}

static void test_resolver(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	fake_t f;
	int port = fake_start(&loop, &f);
	char servers[64], err[256];
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);
	mns_vresolver_t *r = NULL;
	assert_int_equal(mns_vresolver_new(&loop, servers, 300, 2, &r, err, sizeof(err)), 0);

	/* Many questions at once: each answer reaches its own callback. */
	const char *names[] = { "a.example", "tc.example", "sf.example", "nx.example",
		                "b.example", "slow.example", "c.example", "tc.other.example" };
	enum { N = sizeof(names) / sizeof(names[0]) };
	got_t got[N];
	memset(got, 0, sizeof(got));
	answers_pending = N;
	for (size_t i = 0; i < N; i++)
		mns_vresolver_query(r, names[i], KNOT_RRTYPE_NS, got_answer, &got[i]);
	assert_int_equal(mns_vresolver_active(r), N);
	run_until_answered(&loop);
	assert_int_equal(mns_vresolver_active(r), 0);
	for (size_t i = 0; i < N; i++) {
		const char *n = names[i];
		assert_false(got[i].cancelled);
		if (strncmp(n, "sf.", 3) == 0) {
			assert_int_equal(got[i].a.status, MNS_VA_SERVFAIL);
		} else if (strncmp(n, "nx.", 3) == 0) {
			assert_int_equal(got[i].a.status, MNS_VA_NXDOMAIN);
		} else if (strncmp(n, "slow.", 5) == 0) {
			assert_int_equal(got[i].a.status, MNS_VA_TIMEOUT);
		} else {
			char want[300];
			snprintf(want, sizeof(want), "ns1.%s", n);
			assert_int_equal(got[i].a.status, MNS_VA_ANSWER);
			assert_int_equal(got[i].a.n, 1);
			assert_string_equal(got[i].a.values[0], want);
		}
	}
	/* Truncated answers were asked again over TCP; the slow one was tried twice. */
	assert_int_equal(f.tcp_queries, 2);
	assert_true(f.udp_queries >= N + 1);

	/* Retries go across resolvers: the first refuses (nobody listens), the
	 * second answers. */
	{
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t sl = sizeof(sa);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
		close(fd); /* A port nobody listens on now. */
		char two[96];
		snprintf(two, sizeof(two), "127.0.0.1:%d,127.0.0.1:%d", ntohs(sa.sin_port), port);
		mns_vresolver_t *r2 = NULL;
		assert_int_equal(mns_vresolver_new(&loop, two, 300, 2, &r2, err, sizeof(err)), 0);
		got_t g2;
		memset(&g2, 0, sizeof(g2));
		answers_pending = 1;
		mns_vresolver_query(r2, "a.example", KNOT_RRTYPE_NS, got_answer, &g2);
		run_until_answered(&loop);
		assert_int_equal(g2.a.status, MNS_VA_ANSWER);
		assert_string_equal(g2.a.values[0], "ns1.a.example");
		mns_vresolver_free(r2);
	}

	/* Freed from inside a callback: the rest are cancelled, once each. */
	memset(got, 0, sizeof(got));
	answers_pending = 3;
	got[0].free_me = r;
	mns_vresolver_query(r, "a.example", KNOT_RRTYPE_NS, got_answer, &got[0]);
	mns_vresolver_query(r, "slow.example", KNOT_RRTYPE_NS, got_answer, &got[1]);
	mns_vresolver_query(r, "slow.other.example", KNOT_RRTYPE_NS, got_answer, &got[2]);
	run_until_answered(&loop);
	assert_false(got[0].cancelled);
	assert_true(got[1].cancelled);
	assert_true(got[2].cancelled);

	/* A resolver nobody listens on: inconclusive, not a DNS failure. */
	uv_close((uv_handle_t *)&f.udp, NULL);
	uv_close((uv_handle_t *)&f.tcp, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(mns_vresolver_new(&loop, servers, 300, 1, &r, err, sizeof(err)), 0);
	memset(got, 0, sizeof(got));
	answers_pending = 1;
	mns_vresolver_query(r, "a.example", KNOT_RRTYPE_NS, got_answer, &got[0]);
	run_until_answered(&loop);
	assert_int_equal(got[0].a.status, MNS_VA_RESOLVER);
	mns_vresolver_free(r);
	assert_int_equal(mns_vresolver_new(&loop, "not an address", 300, 1, &r, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "c-ares"));

	/* Everything closes. */
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token),
	    cmocka_unit_test(test_section_bookkeeping),
	    cmocka_unit_test(test_configure),
	    cmocka_unit_test(test_commands_without_loop),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_pending),
	    cmocka_unit_test(test_deadline_and_rearm),
	    cmocka_unit_test(test_verified_lost),
	    cmocka_unit_test(test_resume_spread),
	    cmocka_unit_test(test_rec_json),
	    cmocka_unit_test(test_answer_parse),
	    cmocka_unit_test(test_diagnose_ns),
	    cmocka_unit_test(test_diagnose_cname),
	    cmocka_unit_test(test_resolver),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
