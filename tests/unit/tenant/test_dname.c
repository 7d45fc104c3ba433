/*  Names as customers paste them: normalised or refused with a clear message.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "mns_test.h"
#include "tenant/dname.h"

static void test_domain_from_user(void **state)
{
	static const struct {
		const char *in;
		const char *out; /* NULL: refused */
		const char *hint; /* substring of the notice or error message */
	} cases[] = {
		{ "example.com", "example.com", "" },
		{ "EXAMPLE.COM.", "example.com", "" },
		{ "  example.com  ", "example.com", "" },
		{ "sales@voorbeeld.nl", "voorbeeld.nl", "e-mail address" },
		{ "Sales@Voorbeeld.NL", "voorbeeld.nl", "e-mail address" },
		{ "bücher.example", "xn--bcher-kva.example", "A-label" },
		{ "https://www.voorbeeld.nl/", NULL, "e.g. 'voorbeeld.nl'" },
		{ "www.voorbeeld.nl/contact", NULL, "web address" },
		{ "localhost", NULL, "single label" },
		{ "a..b.com", NULL, "empty label" },
		{ "-x.com", NULL, "must not start or end with '-'" },
		{ "x_y.com", NULL, "contains '_'" },
		{ "1.2.3.4", NULL, "looks like an address" },
		{ "", NULL, "empty" },
		{ "sales@", NULL, "without a domain" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", NULL,
		  "longer than 63" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[MNS_DNAME_TXT_MAX] = "", notice[256] = "";
		mns_error_t err = { 0 };
		int ret = mns_domain_from_user(cases[i].in, out, notice, sizeof(notice), &err);
		if (cases[i].out) {
			if (ret != MNS_OK)
				fail_msg("case %zu '%s' refused: %s", i, cases[i].in, err.message);
			assert_string_equal(out, cases[i].out);
			if (strstr(notice, cases[i].hint) == NULL)
				fail_msg("case %zu notice '%s' lacks '%s'", i, notice, cases[i].hint);
		} else {
			if (ret == MNS_OK)
				fail_msg("case %zu '%s' accepted as '%s'", i, cases[i].in, out);
			assert_string_equal(err.code, "invalid_domain");
			if (strstr(err.message, cases[i].hint) == NULL)
				fail_msg("case %zu message '%s' lacks '%s'", i, err.message, cases[i].hint);
		}
	}
	/* 254 characters of name: too long. */
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	for (int i = 60; i < 290; i += 61)
		longname[i] = '.';
	longname[260] = '\0';
	char out[MNS_DNAME_TXT_MAX];
	mns_error_t err;
	assert_int_equal(mns_domain_from_user(longname, out, NULL, 0, &err), MNS_EINVAL);
	assert_non_null(strstr(err.message, "longer than 253"));
}

static void test_tenant_id(void **state)
{
	mns_error_t err;
	assert_int_equal(mns_tenant_id_check("acme", &err), MNS_OK);
	assert_int_equal(mns_tenant_id_check("0-a", &err), MNS_OK);
	const char *bad[] = { "", "Acme", "acme!", "-acme", "a b",
		              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mns_tenant_id_check(bad[i], &err), MNS_EINVAL);
		assert_string_equal(err.code, "invalid_tenant_id");
	}
}

static void test_in_zone(void **state)
{
	assert_true(mns_dname_in_zone("a.example.com", "example.com"));
	assert_true(mns_dname_in_zone("example.com", "example.com"));
	assert_false(mns_dname_in_zone("badexample.com", "example.com"));
	assert_false(mns_dname_in_zone("com", "example.com"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain_from_user),
		cmocka_unit_test(test_tenant_id),
		cmocka_unit_test(test_in_zone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
