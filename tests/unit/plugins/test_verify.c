/*  Unit tests of the verify plugin: the challenge token and its record.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "plugtest.h"

extern const mns_plugin_api_t mns_plugin_verify;

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
	pt_assert_txt(pt_rrset(z, "_mailns-challenge.mgeu.example.com", KNOT_RRTYPE_TXT), tok, 3600);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
