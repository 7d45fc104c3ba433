/*  Group commit in the store: members in nested transactions, one durable
 *  commit for all, a failing member dropped alone, another writer commits the
 *  group first; the start-up walk without private keys, on one thread and on
 *  two (core/store/walk.c).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <lmdb.h>

#include "mns_test.h"
#include "store/store.h"
#include "util/json_arena.h"
#include "util/util.h"

static mns_store_t *open_store(char **dir)
{
	*dir = mns_test_tmpdir();
	char data[512];
	snprintf(data, sizeof(data), "%s/data", *dir);
	mns_store_t *s = NULL;
	mns_error_t err;
	assert_int_equal(mns_store_open(data, &s, &err), MNS_OK);
	return s;
}

static void put_member(mns_store_t *s, const char *id, bool commit)
{
	mns_txn_t *t;
	mns_error_t err;
	assert_int_equal(mns_txn_begin_member(s, &t, &err), MNS_OK);
	json_t *doc = json_pack("{s:s}", "tenant", id);
	assert_int_equal(mns_store_tenant_put(t, id, doc, &err), MNS_OK);
	json_decref(doc);
	if (commit)
		assert_int_equal(mns_txn_commit(t, &err), MNS_OK);
	else
		mns_txn_abort(t);
}

/* Stores tenants t<from> .. t<to - 1> in one commit: "n" is each one's
 * number, a sealed key and its public part stand in for a dkim selector, and
 * "note" is \a big for tenant \a big_at ("small" for the others). */
static void put_numbered(mns_store_t *s, int from, int to, int big_at, const char *big)
{
	mns_txn_t *t;
	mns_error_t err;
	assert_int_equal(mns_txn_begin(s, true, &t, &err), MNS_OK);
	for (int i = from; i < to; i++) {
		char id[32];
		snprintf(id, sizeof(id), "t%05d", i);
		json_t *doc = json_pack("{s:s, s:i, s:{s:[{s:s, s:s, s:s}]}, s:s}", "tenant", id, "n", i,
		                        "dkim", "selectors", "sealed", "QUJD", "public", "MIIB",
		                        "selector", "s1", "note", i == big_at ? big : "small");
		assert_int_equal(mns_store_tenant_put(t, id, doc, &err), MNS_OK);
		json_decref(doc);
	}
	assert_int_equal(mns_txn_commit(t, &err), MNS_OK);
}

static bool stored(mns_store_t *s, const char *id)
{
	mns_txn_t *t;
	mns_error_t err;
	json_t *doc = NULL;
	assert_int_equal(mns_txn_begin(s, false, &t, &err), MNS_OK);
	int ret = mns_store_tenant_get(t, id, &doc);
	mns_txn_abort(t);
	json_decref(doc);
	return ret == MNS_OK;
}

static void test_group(void **state)
{
	char *dir;
	mns_store_t *s = open_store(&dir);
	mns_error_t err;
	uint64_t c0 = mns_store_commits(s);

	put_member(s, "a", true);
	put_member(s, "b", false); /* Fails alone. */
	put_member(s, "c", true);
	assert_true(mns_store_group_open(s));
	/* A member sees the earlier members of its group. */
	mns_txn_t *t;
	json_t *doc = NULL;
	assert_int_equal(mns_txn_begin_member(s, &t, &err), MNS_OK);
	assert_int_equal(mns_store_tenant_get(t, "a", &doc), MNS_OK);
	json_decref(doc);
	mns_txn_abort(t);
	/* Nothing is visible (or durable) before the group commits. */
	assert_false(stored(s, "a"));
	assert_int_equal(mns_store_commits(s), c0);
	assert_int_equal(mns_store_group_commit(s, &err), MNS_OK);
	assert_false(mns_store_group_open(s));
	assert_int_equal(mns_store_commits(s), c0 + 1);
	assert_true(stored(s, "a"));
	assert_false(stored(s, "b"));
	assert_true(stored(s, "c"));
	/* Committing no group is a no-op. */
	assert_int_equal(mns_store_group_commit(s, &err), MNS_OK);
	assert_int_equal(mns_store_commits(s), c0 + 1);

	/* Survives a reopen. */
	mns_store_close(s);
	char data[512];
	snprintf(data, sizeof(data), "%s/data", dir);
	assert_int_equal(mns_store_open(data, &s, &err), MNS_OK);
	assert_true(stored(s, "c"));
	mns_store_close(s);
	mns_test_rmtree(dir);
	free(dir);
}

static int flushes;

static void flush_hook(void *data)
{
	mns_error_t err;
	flushes++;
	assert_int_equal(mns_store_group_commit(data, &err), MNS_OK);
}

static void test_writer_commits_group_first(void **state)
{
	char *dir;
	mns_store_t *s = open_store(&dir);
	mns_error_t err;
	mns_store_set_group_flush(s, flush_hook, s);
	put_member(s, "a", true);
	/* Another write transaction: the group is committed before it starts. */
	mns_txn_t *t;
	assert_int_equal(mns_txn_begin(s, true, &t, &err), MNS_OK);
	assert_int_equal(flushes, 1);
	assert_false(mns_store_group_open(s));
	json_t *doc = NULL;
	assert_int_equal(mns_store_tenant_get(t, "a", &doc), MNS_OK);
	json_decref(doc);
	assert_int_equal(mns_txn_commit(t, &err), MNS_OK);
	/* A group left open at close is dropped: nobody was told ok. */
	put_member(s, "z", true);
	mns_store_close(s);
	char data[512];
	snprintf(data, sizeof(data), "%s/data", dir);
	assert_int_equal(mns_store_open(data, &s, &err), MNS_OK);
	assert_true(stored(s, "a"));
	assert_false(stored(s, "z"));
	mns_store_close(s);
	mns_test_rmtree(dir);
	free(dir);
}

static bool collect(const char *id, json_t *doc, void *data)
{
	json_array_append(data, doc);
	return true;
}

static void test_each_without_private(void **state)
{
	char *dir;
	mns_store_t *s = open_store(&dir);
	mns_error_t err;
	mns_txn_t *t;
	assert_int_equal(mns_txn_begin(s, true, &t, &err), MNS_OK);
	json_t *doc = json_pack("{s:s, s:{s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}]}, s:s}", "tenant",
	                        "k", "dkim", "selectors", "private",
	                        "-----BEGIN \"PRIVATE\" KEY-----\n\\abc", "public", "MIIB",
	                        "selector", "s1", "sealed", "AVxcsealed\"", "public", "MIIC",
	                        "selector", "s2", "zone", "private\":\"");
	assert_int_equal(mns_store_tenant_put(t, "k", doc, &err), MNS_OK);
	assert_int_equal(mns_txn_commit(t, &err), MNS_OK);

	json_t *plain = json_array(), *pub = json_array();
	assert_int_equal(mns_txn_begin(s, false, &t, &err), MNS_OK);
	assert_int_equal(mns_store_tenant_each_opts(t, NULL, false, collect, plain), MNS_OK);
	assert_int_equal(mns_store_tenant_each_opts(t, NULL, true, collect, pub), MNS_OK);
	mns_txn_abort(t);
	assert_true(json_equal(json_array_get(plain, 0), doc));
	const json_t *sel = json_array_get(
	    json_object_get(json_object_get(json_array_get(pub, 0), "dkim"), "selectors"), 0);
	assert_string_equal(json_string_value(json_object_get(sel, "private")), "");
	assert_string_equal(json_string_value(json_object_get(sel, "public")), "MIIB");
	sel = json_array_get(
	    json_object_get(json_object_get(json_array_get(pub, 0), "dkim"), "selectors"), 1);
	assert_string_equal(json_string_value(json_object_get(sel, "sealed")), "");
	assert_string_equal(json_string_value(json_object_get(sel, "public")), "MIIC");
	assert_string_equal(json_string_value(json_object_get(sel, "selector")), "s2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(pub, 0), "zone")),
	                    "private\":\"");
	json_decref(doc);
	json_decref(plain);
	json_decref(pub);
	mns_store_close(s);
	mns_test_rmtree(dir);
	free(dir);
}

typedef struct walked {
	json_t *ids, *docs;
	size_t limit; /* Stop after this many (0 = all). */
} walked_t;

static bool collect_walk(const char *id, json_t *doc, void *data)
{
	walked_t *w = data;
	json_array_append_new(w->ids, json_string(id));
	json_array_append_new(w->docs, json_deep_copy(doc)); /* Valid during the call only. */
	return w->limit == 0 || json_array_size(w->ids) < w->limit;
}

static void test_parallel_walk(void **state)
{
	(void)state;
	char *dir;
	mns_store_t *s = open_store(&dir);
	mns_error_t err;
	mns_txn_t *t;
	/* More documents than the ring holds (16 chunks of 64), so the reader
	 * waits for the consumer as well as the other way round. */
	enum { N = 3000 };
	put_numbered(s, 0, N, -1, NULL);

	walked_t one = { json_array(), json_array(), 0 }, two = { json_array(), json_array(), 0 };
	assert_int_equal(mns_txn_begin(s, false, &t, &err), MNS_OK);
	assert_int_equal(mns_store_tenant_each_opts(t, NULL, true, collect_walk, &one), MNS_OK);
	mns_txn_abort(t);
	assert_int_equal(mns_store_tenant_walk_parallel(s, collect_walk, &two), MNS_OK);
	assert_int_equal(json_array_size(one.ids), N);
	assert_true(json_equal(one.ids, two.ids)); /* Same order. */
	assert_true(json_equal(one.docs, two.docs)); /* Same documents, keys left out. */
	const json_t *sel = json_array_get(
	    json_object_get(json_object_get(json_array_get(two.docs, 7), "dkim"), "selectors"), 0);
	assert_string_equal(json_string_value(json_object_get(sel, "sealed")), "");

	/* A consumer that stops: exactly that many calls, every handed-over
	 * document released (ASan's leak check). */
	walked_t part = { json_array(), json_array(), 1500 };
	assert_int_equal(mns_store_tenant_walk_parallel(s, collect_walk, &part), MNS_OK);
	assert_int_equal(json_array_size(part.ids), 1500);
	assert_string_equal(json_string_value(json_array_get(part.ids, 1499)), "t01499");

	json_decref(one.ids);
	json_decref(one.docs);
	json_decref(two.ids);
	json_decref(two.docs);
	json_decref(part.ids);
	json_decref(part.docs);
	mns_store_close(s);
	mns_test_rmtree(dir);
	free(dir);
}

static size_t in_arena; /* Documents copy_walk saw parsed into the arena. */

static bool copy_walk(const char *id, json_t *doc, void *data)
{
	walked_t *w = data;
	in_arena += mns_json_arena_owns(doc);
	json_array_append_new(w->ids, json_string(id));
	json_array_append_new(w->docs, json_deep_copy(doc)); /* The walk's contract. */
	return true;
}

/* With jansson's allocator set as mailnsd sets it, the reader parses into
 * the walk's arena: regions are reused (more chunks than regions), a
 * document too large for a region spills to malloc and is freed as usual,
 * and the copies taken during the calls equal the one-thread walk's. ASan
 * reports any arena block handed to free() or any spilled block lost. */
static void test_parallel_walk_arena(void **state)
{
	(void)state;
	mns_json_secure_init();
	char *dir;
	mns_store_t *s = open_store(&dir);
	mns_error_t err;
	mns_txn_t *t;
	enum { N = 2500 };
	size_t big_len = (size_t)3 << 20; /* Over a 2 MiB region. */
	char *big = malloc(big_len + 1);
	assert_non_null(big);
	memset(big, 'x', big_len);
	big[big_len] = '\0';
	put_numbered(s, 0, N, 1234, big);
	free(big);

	walked_t one = { json_array(), json_array(), 0 }, two = { json_array(), json_array(), 0 };
	assert_int_equal(mns_txn_begin(s, false, &t, &err), MNS_OK);
	assert_int_equal(mns_store_tenant_each_opts(t, NULL, true, copy_walk, &one), MNS_OK);
	mns_txn_abort(t);
	assert_int_equal(in_arena, 0); /* One thread, no arena: malloc. */
	assert_int_equal(mns_store_tenant_walk_parallel(s, copy_walk, &two), MNS_OK);
	assert_int_equal(in_arena, N);
	assert_int_equal(json_array_size(two.ids), N);
	assert_true(json_equal(one.ids, two.ids));
	assert_true(json_equal(one.docs, two.docs));
	assert_int_equal(json_string_length(json_object_get(json_array_get(two.docs, 1234), "note")),
	                 big_len);
	/* The arena is gone after the walk: a second walk maps a new one. */
	walked_t again = { json_array(), json_array(), 0 };
	assert_int_equal(mns_store_tenant_walk_parallel(s, copy_walk, &again), MNS_OK);
	assert_true(json_equal(two.docs, again.docs));

	json_decref(one.ids);
	json_decref(one.docs);
	json_decref(two.ids);
	json_decref(two.docs);
	json_decref(again.ids);
	json_decref(again.docs);
	mns_store_close(s);
	mns_test_rmtree(dir);
	free(dir);
	json_set_alloc_funcs(malloc, free); /* The other tests run on plain malloc. */
}

/* Walks that end at every kind of place: an empty store, less than one
 * chunk, a chunk and one more entry (the second reader's partial chunk), in
 * store order each time. */
static void test_parallel_walk_small(void **state)
{
	(void)state;
	char *dir;
	mns_store_t *s = open_store(&dir);
	const int sizes[] = { 0, 1, 64, 65, 129 };
	int have = 0;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		put_numbered(s, have, sizes[k], -1, NULL);
		have = sizes[k];
		walked_t w = { json_array(), json_array(), 0 };
		assert_int_equal(mns_store_tenant_walk_parallel(s, copy_walk, &w), MNS_OK);
		assert_int_equal(json_array_size(w.ids), (size_t)sizes[k]);
		for (int i = 0; i < sizes[k]; i++) {
			char id[32];
			snprintf(id, sizeof(id), "t%05d", i);
			assert_string_equal(json_string_value(json_array_get(w.ids, (size_t)i)), id);
		}
		json_decref(w.ids);
		json_decref(w.docs);
	}
	mns_store_close(s);
	mns_test_rmtree(dir);
	free(dir);
}

/* Entries that are not valid JSON are skipped (and logged) without shifting
 * the chunks: one at a chunk's last position (63, where its reader hands the
 * chunk over), a whole chunk of them (64-127, the second reader's first
 * chunk) and one more (150). The values are written past the store's API,
 * as a damaged store would hold them. */
static void test_parallel_walk_invalid_entries(void **state)
{
	(void)state;
	char *dir;
	mns_store_t *s = open_store(&dir);
	mns_error_t err;
	enum { N = 200 };
	put_numbered(s, 0, N, -1, NULL);
	mns_store_close(s);

	char data[512];
	snprintf(data, sizeof(data), "%s/data", dir);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, data, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "tenants", 0, &dbi), 0);
	bool bad[N] = { false };
	bad[63] = bad[150] = true;
	for (int i = 64; i < 128; i++)
		bad[i] = true;
	for (int i = 0; i < N; i++) {
		if (!bad[i])
			continue;
		char id[32];
		snprintf(id, sizeof(id), "t%05d", i);
		MDB_val k = { strlen(id), id }, v = { 9, "{not json" };
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	assert_int_equal(mns_store_open(data, &s, &err), MNS_OK);
	walked_t w = { json_array(), json_array(), 0 };
	assert_int_equal(mns_store_tenant_walk_parallel(s, copy_walk, &w), MNS_OK);
	size_t at = 0;
	for (int i = 0; i < N; i++) {
		if (bad[i])
			continue;
		char id[32];
		snprintf(id, sizeof(id), "t%05d", i);
		assert_string_equal(json_string_value(json_array_get(w.ids, at)), id);
		assert_int_equal(json_integer_value(json_object_get(json_array_get(w.docs, at), "n")), i);
		at++;
	}
	assert_int_equal(json_array_size(w.ids), at);
	assert_int_equal(at, N - 66);
	json_decref(w.ids);
	json_decref(w.docs);
	mns_store_close(s);
	mns_test_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group),
		cmocka_unit_test(test_writer_commits_group_first),
		cmocka_unit_test(test_each_without_private),
		cmocka_unit_test(test_parallel_walk),
		cmocka_unit_test(test_parallel_walk_arena),
		cmocka_unit_test(test_parallel_walk_small),
		cmocka_unit_test(test_parallel_walk_invalid_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
