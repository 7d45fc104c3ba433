/*  mns_tenant_check_store(): the invariant the control fuzzer asserts after
 *  every request. Each kind of inconsistency it must notice is made by hand
 *  in a real store (LMDB in a temp dir) behind a real server.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "mns_test_server.h"

#include "control/control.h"
#include "tenant/tenant.h"

static mns_test_server_t g_t;

static void call_ok(const char *line)
{
	json_t *r = mns_control_handle_line(&g_t.s, line, strlen(line), NULL);
	assert_non_null(r);
	if (!json_is_true(json_object_get(r, "ok"))) {
		char *t = json_dumps(r, 0);
		fail_msg("%s: %s", line, t);
	}
	json_decref(r);
}

static int setup(void **state)
{
	if (mns_test_server_start(&g_t) != 0)
		return -1;
	call_ok(
	    "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example.com\"}}");
	call_ok("{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"beta\",\"domain\":\"example.org\","
	        "\"mode\":\"cname\"}}");
	return 0;
}

static int teardown(void **state)
{
	mns_test_server_stop(&g_t);
	return 0;
}

/* Runs \a edit in a write transaction. */
static void edit(int (*fn)(mns_txn_t *t, mns_error_t *err))
{
	mns_txn_t *t;
	mns_error_t err = {0};
	assert_int_equal(mns_txn_begin(g_t.s.store, true, &t, &err), MNS_OK);
	assert_int_equal(fn(t, &err), MNS_OK);
	assert_int_equal(mns_txn_commit(t, &err), MNS_OK);
}

static void expect_problem(const char *needle)
{
	mns_error_t err = {0};
	assert_int_equal(mns_tenant_check_store(&g_t.s, &err), MNS_ERROR);
	assert_string_equal(err.code, "inconsistent");
	if (strstr(err.message, needle) == NULL)
		fail_msg("expected '%s' in: %s", needle, err.message);
}

static void expect_consistent(void)
{
	mns_error_t err = {0};
	if (mns_tenant_check_store(&g_t.s, &err) != MNS_OK)
		fail_msg("%s", err.message);
}

static int del_domain(mns_txn_t *t, mns_error_t *err)
{
	return mns_store_index_del(t, MNS_IDX_DOMAIN, "example.com", 11, err);
}
static int put_domain(mns_txn_t *t, mns_error_t *err)
{
	return mns_store_index_put(t, MNS_IDX_DOMAIN, "example.com", 11, "acme", err);
}
static int domain_to_other(mns_txn_t *t, mns_error_t *err)
{
	return mns_store_index_put(t, MNS_IDX_DOMAIN, "example.com", 11, "beta", err);
}
static int stray_zone(mns_txn_t *t, mns_error_t *err)
{
	return mns_store_index_put(t, MNS_IDX_ZONE, "zzz", 3, "acme", err);
}
static int del_stray_zone(mns_txn_t *t, mns_error_t *err)
{
	return mns_store_index_del(t, MNS_IDX_ZONE, "zzz", 3, err);
}

static void test_consistent_after_mutations(void **state)
{
	expect_consistent();
	call_ok("{\"cmd\":\"tenant.update\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example."
	        "net\"}}");
	expect_consistent();
	call_ok("{\"cmd\":\"tenant.remove\",\"args\":{\"tenant\":\"beta\"}}");
	expect_consistent();
	call_ok("{\"cmd\":\"tenant.update\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example."
	        "com\"}}");
	call_ok("{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"beta\",\"domain\":\"example.org\","
	        "\"mode\":\"cname\"}}");
	expect_consistent();
}

static void test_missing_domain_entry(void **state)
{
	edit(del_domain);
	expect_problem("domain example.com is not indexed");
	edit(put_domain);
	expect_consistent();
}

static void test_domain_entry_of_another_tenant(void **state)
{
	edit(domain_to_other);
	expect_problem("domain example.com is not indexed to it");
	edit(put_domain);
	expect_consistent();
}

static void test_stray_zone_entry(void **state)
{
	edit(stray_zone);
	expect_problem("2 tenants (1 in ns mode) but 2 domain and 2 zone index entries");
	edit(del_stray_zone);
	expect_consistent();
}

static void test_zone_not_served(void **state)
{
	knot_dname_storage_t apex;
	assert_non_null(knot_dname_from_str(apex, "mgeu.example.com", sizeof(apex)));
	assert_int_equal(mns_index_withdraw(g_t.s.index, apex), MNS_OK);
	expect_problem("mgeu.example.com is not served");
	/* An update publishes it again. */
	call_ok("{\"cmd\":\"tenant.update\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example."
	        "net\"}}");
	expect_consistent();
}

/* tenant.list "after": "" once failed in LMDB (an empty key) and answered
 * store_failed; so would an id longer than LMDB's largest key. */
static json_t *list_after(const char *after)
{
	json_t *req = json_pack("{s:s, s:{s:s}}", "cmd", "tenant.list", "args", "after", after);
	char *line = json_dumps(req, 0);
	json_decref(req);
	json_t *r = mns_control_handle_line(&g_t.s, line, strlen(line), NULL);
	free(line);
	assert_non_null(r);
	if (!json_is_true(json_object_get(r, "ok"))) {
		char *t = json_dumps(r, 0);
		fail_msg("tenant.list after '%.20s...': %s", after, t);
	}
	return r;
}

static void test_list_after_any_string(void **state)
{
	json_t *r = list_after("");
	json_t *items = json_object_get(json_object_get(r, "result"), "tenants");
	assert_int_equal(json_array_size(items), 2); /* from the first */
	json_decref(r);

	char long_id[2048];
	memset(long_id, 'b', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	r = list_after(long_id); /* sorts after "acme", before "beta" */
	items = json_object_get(json_object_get(r, "result"), "tenants");
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "tenant")),
	                    "beta");
	json_decref(r);

	r = list_after("acme"); /* strictly after */
	items = json_object_get(json_object_get(r, "result"), "tenants");
	assert_int_equal(json_array_size(items), 1);
	json_decref(r);
	r = list_after("zzz");
	items = json_object_get(json_object_get(r, "result"), "tenants");
	assert_int_equal(json_array_size(items), 0);
	json_decref(r);
}

/* Ids no tenant can have (empty, longer than LMDB's largest key) are simply
 * not found: plugin commands looked them up and logged a store error. */
static void test_get_unstorable_id(void **state)
{
	char long_id[600];
	memset(long_id, 'a', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	mns_txn_t *t;
	mns_error_t err = {0};
	json_t *doc = NULL;
	assert_int_equal(mns_txn_begin(g_t.s.store, true, &t, &err), MNS_OK);
	assert_int_equal(mns_store_tenant_get(t, "", &doc), MNS_ENOENT);
	assert_int_equal(mns_store_tenant_get(t, long_id, &doc), MNS_ENOENT);
	assert_int_equal(mns_store_tenant_del(t, "", &err), MNS_ENOENT);
	assert_int_equal(mns_store_tenant_del(t, long_id, &err), MNS_ENOENT);
	assert_null(doc);
	mns_txn_abort(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_consistent_after_mutations),
	    cmocka_unit_test(test_missing_domain_entry),
	    cmocka_unit_test(test_domain_entry_of_another_tenant),
	    cmocka_unit_test(test_stray_zone_entry),
	    cmocka_unit_test(test_zone_not_served),
	    cmocka_unit_test(test_list_after_any_string),
	    cmocka_unit_test(test_get_unstorable_id),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
