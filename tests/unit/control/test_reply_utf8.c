/*  Every control request gets a reply, even when the error message quotes
 *  octets of the request that are not UTF-8 (jansson builds no string from
 *  them): the parser's "near '\\<first octet of a character>'" once made
 *  mns_control_handle_line() return NULL, so no reply was ever sent.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "mns_test_server.h"

#include "control/control.h"

static mns_test_server_t g_t;

static int setup(void **state)
{
	if (mns_test_server_start(&g_t) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	mns_test_server_stop(&g_t);
	return 0;
}

static void expect_error(const char *line, size_t len, const char *code)
{
	json_t *r = mns_control_handle_line(&g_t.s, line, len, NULL);
	if (r == NULL)
		fail_msg("no reply to %s", line);
	const json_t *e = json_object_get(r, "error");
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	const char *msg = json_string_value(json_object_get(e, "message"));
	assert_non_null(msg);
	/* The reply can be sent: it dumps. */
	char *text = json_dumps(r, JSON_COMPACT);
	assert_non_null(text);
	free(text);
	json_decref(r);
}

static void test_invalid_escape_before_multibyte(void **state)
{
	/* "\ü": an invalid escape whose quote would cut the character in two. */
	static const char line[] = "{\"cmd\":\"tenant.add\",\"args\":{\"domain\":\"\\\xc3\xbc\"}}";
	expect_error(line, sizeof(line) - 1, "bad_json");
}

static void test_raw_invalid_utf8(void **state)
{
	static const char line[] = "{\"cmd\":\"\xff\xfe\"}";
	expect_error(line, sizeof(line) - 1, "bad_json");
	static const char lone[] = "\xc3";
	expect_error(lone, sizeof(lone) - 1, "bad_json");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_invalid_escape_before_multibyte),
	    cmocka_unit_test(test_raw_invalid_utf8),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
