/*  LMDB tenant store: documents, indexes, serials, directory safety.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "mns_test.h"
#include <sys/stat.h>
#include "store/store.h"

static void test_documents_and_indexes(void **state)
{
	char *dir = mns_test_tmpdir();
	char data[512];
	snprintf(data, sizeof(data), "%s/data", dir);
	mns_store_t *s = NULL;
	mns_error_t err;
	mns_txn_t *t;
	assert_int_equal(mns_store_open(data, &s, &err), MNS_OK);
	struct stat st;
	assert_int_equal(stat(data, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	assert_int_equal(mns_txn_begin(s, true, &t, &err), MNS_OK);
	json_t *doc = json_pack("{s:s, s:i}", "tenant", "acme", "n", 1);
	assert_int_equal(mns_store_tenant_put(t, "acme", doc, &err), MNS_OK);
	assert_int_equal(mns_store_index_put(t, MNS_IDX_ZONE, "com\0example\0", 12, "acme", &err), MNS_OK);
	assert_int_equal(mns_store_index_put(t, MNS_IDX_DOMAIN, "example.com", 11, "acme", &err), MNS_OK);
	json_decref(doc);
	/* An aborted transaction leaves nothing behind. */
	mns_txn_abort(t);
	assert_int_equal(mns_txn_begin(s, false, &t, &err), MNS_OK);
	json_t *got = NULL;
	assert_int_equal(mns_store_tenant_get(t, "acme", &got), MNS_ENOENT);
	mns_txn_abort(t);

	assert_int_equal(mns_txn_begin(s, true, &t, &err), MNS_OK);
	doc = json_pack("{s:s, s:i}", "tenant", "acme", "n", 1);
	assert_int_equal(mns_store_tenant_put(t, "acme", doc, &err), MNS_OK);
	json_decref(doc);
	assert_int_equal(mns_store_index_put(t, MNS_IDX_ZONE, "com\0example\0mgeu\0", 17, "acme", &err), MNS_OK);
	assert_int_equal(mns_txn_commit(t, &err), MNS_OK);

	/* Survives a reopen. */
	mns_store_close(s);
	assert_int_equal(mns_store_open(data, &s, &err), MNS_OK);
	assert_int_equal(mns_txn_begin(s, false, &t, &err), MNS_OK);
	assert_int_equal(mns_store_tenant_get(t, "acme", &got), MNS_OK);
	assert_int_equal(json_integer_value(json_object_get(got, "n")), 1);
	json_decref(got);
	char id[64];
	/* Prefix search finds zones below a name; exact lookups do not. */
	assert_int_equal(mns_store_index_prefix(t, MNS_IDX_ZONE, "com\0example\0", 12, id), MNS_OK);
	assert_string_equal(id, "acme");
	assert_int_equal(mns_store_index_get(t, MNS_IDX_ZONE, "com\0example\0", 12, id), MNS_ENOENT);
	assert_int_equal(mns_store_index_prefix(t, MNS_IDX_ZONE, "com\0exampl\0", 11, id), MNS_ENOENT);
	assert_int_equal(mns_store_tenant_count(t), 1);
	mns_txn_abort(t);
	mns_store_close(s);
	mns_test_rmtree(dir);
	free(dir);
}

static void test_serials(void **state)
{
	char *dir = mns_test_tmpdir();
	mns_store_t *s = NULL;
	mns_error_t err;
	mns_txn_t *t;
	uint32_t a, b, c;
	assert_int_equal(mns_store_open(dir, &s, &err), MNS_OK);
	assert_int_equal(mns_txn_begin(s, true, &t, &err), MNS_OK);
	assert_int_equal(mns_store_next_serial(t, 1000, &a, &err), MNS_OK);
	assert_int_equal(a, 1000);
	/* The clock going back (or many changes in one second) still moves forward. */
	assert_int_equal(mns_store_next_serial(t, 900, &b, &err), MNS_OK);
	assert_int_equal(b, 1001);
	assert_int_equal(mns_txn_commit(t, &err), MNS_OK);
	mns_store_close(s);
	assert_int_equal(mns_store_open(dir, &s, &err), MNS_OK);
	assert_int_equal(mns_txn_begin(s, true, &t, &err), MNS_OK);
	assert_int_equal(mns_store_next_serial(t, 1001, &c, &err), MNS_OK);
	assert_int_equal(c, 1002);
	/* Wrap-around follows RFC 1982: 0xffffffff + 1 is 0, which is "later". */
	assert_int_equal(mns_store_meta_put_u32(t, "serial", 0xffffffffu, &err), MNS_OK);
	assert_int_equal(mns_store_next_serial(t, 5, &c, &err), MNS_OK);
	assert_int_equal(c, 5);
	mns_txn_abort(t);
	mns_store_close(s);
	mns_test_rmtree(dir);
	free(dir);
}

static void test_unsafe_directory(void **state)
{
	char *dir = mns_test_tmpdir();
	mns_store_t *s = NULL;
	mns_error_t err;
	chmod(dir, 0777);
	assert_int_equal(mns_store_open(dir, &s, &err), MNS_ESTORE);
	assert_string_equal(err.code, "store_insecure");
	/* A group-readable directory is tightened, not refused. */
	chmod(dir, 0750);
	assert_int_equal(mns_store_open(dir, &s, &err), MNS_OK);
	struct stat st;
	stat(dir, &st);
	assert_int_equal(st.st_mode & 0777, 0700);
	mns_store_close(s);
	mns_test_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_documents_and_indexes),
		cmocka_unit_test(test_serials),
		cmocka_unit_test(test_unsafe_directory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
