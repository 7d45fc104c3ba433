/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stddef.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log/log.h"
#include "store/store.h"
#include "util/secmem.h"

struct mns_store {
	MDB_env *env;
	char *dir; /* For error messages. */
	uint64_t map_size;
	MDB_dbi tenants, domains, zones, meta;
	MDB_txn *group; /* The open group's parent transaction, or NULL. */
	void (*group_flush)(void *data);
	void *group_data;
	uint64_t commits; /* Durable commits (each one an fsync). */
	bool member_open; /* A member's nested transaction is running. */
};

struct mns_txn {
	mns_store_t *store;
	MDB_txn *txn;
	bool write;
	bool member; /* Nested in the group: its commit only merges into it. */
};

/* Map size is address space, not disk: LMDB grows the file as needed. 16 GiB
 * holds a few million tenant documents with their keys. */
#define MNS_STORE_MAPSIZE (16ULL << 30)

/* Every failure leaves the store as it was (LMDB aborts the transaction), so
 * each message says that nothing was stored and what the operator can do. */
static int store_error_in(const mns_store_t *s, mns_error_t *err, int rc, const char *what)
{
	const char *dir = s && s->dir ? s->dir : "the data directory";
	/* LMDB reports a short write (a commit whose pages only partly fit on
	 * the volume, likelier for a group's larger commit) as EIO: on a full
	 * volume that is what it is. */
	struct statvfs vfs;
	if (rc == EIO && s && s->dir && statvfs(s->dir, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < (1u << 20))
		rc = ENOSPC;
	if (rc == MDB_MAP_FULL) {
		mns_error_set(err, "store_full",
		              "the tenant store is full (store-map-size %llu bytes reached in %s): "
		              "nothing was stored; raise [server] store-map-size and restart",
		              s ? (unsigned long long)s->map_size : 0ULL, dir);
	} else if (rc == ENOSPC || rc == EDQUOT) {
		mns_error_set(err, "disk_full",
		              "no space left on the data volume (%s): nothing was stored; free "
		              "space and retry", dir);
	} else if (rc == EROFS || rc == EACCES || rc == EPERM) {
		mns_error_set(err, "store_read_only",
		              "the data directory %s is not writable (%s): nothing was stored; "
		              "still serving the stored tenants", dir, strerror(rc));
	} else {
		mns_error_set(err, "store_failed", "tenant store: %s failed: %s", what,
		              mdb_strerror(rc));
	}
	mns_log(MNS_LOG_ERR, "store, %s failed in %s (%s)", what, dir, mdb_strerror(rc));
	return MNS_ESTORE;
}

#define store_error(err, rc, what) store_error_in(NULL, err, rc, what)

int mns_store_open(const char *dir, mns_store_t **out, mns_error_t *err)
{
	return mns_store_open_map(dir, 0, out, err);
}

int mns_store_open_map(const char *dir, uint64_t map_size, mns_store_t **out, mns_error_t *err)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return mns_error_set(err, "store_failed", "cannot create data directory %s: %s", dir,
		                     strerror(errno)),
		       MNS_ESTORE;
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return mns_error_set(err, "store_failed", "data directory %s is not a directory", dir),
		       MNS_ESTORE;
	if (st.st_mode & S_IWOTH)
		return mns_error_set(err, "store_insecure",
		                     "data directory %s is writable by everyone: chmod 0700 it", dir),
		       MNS_ESTORE;
	/* Key material lives here: nobody but us may read it. */
	if ((st.st_mode & 0077) != 0 && chmod(dir, 0700) != 0)
		mns_log(MNS_LOG_WARNING, "store, cannot chmod 0700 %s (%s)", dir, strerror(errno));

	/* A start on a read-only volume is refused rather than served read-only:
	 * start-up itself writes (serial floor, config fingerprint), and a daemon
	 * that cannot store a mutation or a key rotation should be noticed at once,
	 * not at the first tenant.add. */
	if (access(dir, W_OK) != 0)
		return mns_error_set(err, "store_read_only",
		                     "data directory %s is not writable (%s): mailnsd needs to write "
		                     "its tenant store there", dir, strerror(errno)),
		       MNS_ESTORE;

	mns_store_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return MNS_ENOMEM;
	s->dir = strdup(dir);
	s->map_size = map_size ? map_size : MNS_STORE_MAPSIZE;
	int rc = s->dir ? mdb_env_create(&s->env) : ENOMEM;
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s->env, 8);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, s->map_size);
	if (rc == 0)
		rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
	if (rc != 0) {
		store_error_in(s, err, rc, "open");
		goto fail;
	}
	int dead = 0;
	mdb_reader_check(s->env, &dead);

	MDB_txn *txn = NULL;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "tenants", MDB_CREATE, &s->tenants);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "domains", MDB_CREATE, &s->domains);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "zones", MDB_CREATE, &s->zones);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn)
		mdb_txn_abort(txn);
	if (rc != 0) {
		store_error_in(s, err, rc, "open tables");
		goto fail;
	}
	*out = s;
	return MNS_OK;
fail:
	if (s->env)
		mdb_env_close(s->env);
	free(s->dir);
	free(s);
	return MNS_ESTORE;
}

void mns_store_close(mns_store_t *s)
{
	if (s == NULL)
		return;
	if (s->group != NULL) /* Nobody was told ok: dropping it loses nothing promised. */
		mdb_txn_abort(s->group);
	mdb_env_close(s->env);
	free(s->dir);
	free(s);
}

int mns_txn_begin(mns_store_t *s, bool write, mns_txn_t **out, mns_error_t *err)
{
	/* One write transaction at a time: an open group is committed (and its
	 * members answered) before another writer starts. */
	if (write && s->group != NULL && s->group_flush != NULL && !s->member_open)
		s->group_flush(s->group_data);
	if (write && s->group != NULL)
		return mns_error_set(err, "store_failed", "tenant store: a group commit is pending"),
		       MNS_ESTORE;
	mns_txn_t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return MNS_ENOMEM;
	int rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
	if (rc != 0) {
		free(t);
		return store_error_in(s, err, rc, "begin transaction");
	}
	t->store = s;
	t->write = write;
	*out = t;
	return MNS_OK;
}

int mns_txn_begin_member(mns_store_t *s, mns_txn_t **out, mns_error_t *err)
{
	mns_txn_t *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return MNS_ENOMEM;
	int rc = 0;
	if (s->group == NULL)
		rc = mdb_txn_begin(s->env, NULL, 0, &s->group);
	if (rc == 0)
		rc = mdb_txn_begin(s->env, s->group, 0, &t->txn);
	if (rc != 0) {
		free(t);
		return store_error_in(s, err, rc, "begin transaction");
	}
	t->store = s;
	t->write = t->member = true;
	s->member_open = true;
	*out = t;
	return MNS_OK;
}

void mns_store_set_group_flush(mns_store_t *s, void (*flush)(void *data), void *data)
{
	s->group_flush = flush;
	s->group_data = data;
}

bool mns_store_group_open(const mns_store_t *s)
{
	return s->group != NULL;
}

int mns_store_group_commit(mns_store_t *s, mns_error_t *err)
{
	MDB_txn *g = s->group;
	if (g == NULL)
		return MNS_OK;
	if (s->member_open) /* LMDB would commit the running member with it. */
		return mns_error_set(err, "store_failed", "tenant store: a mutation is running"),
		       MNS_ESTORE;
	s->group = NULL;
	int rc = mdb_txn_commit(g);
	if (rc == 0)
		s->commits++;
	return rc == 0 ? MNS_OK : store_error_in(s, err, rc, "commit");
}

bool mns_store_member_running(const mns_store_t *s)
{
	return s->member_open;
}

uint64_t mns_store_commits(const mns_store_t *s)
{
	return s->commits;
}

int mns_txn_commit(mns_txn_t *t, mns_error_t *err)
{
	mns_store_t *s = t->store;
	bool durable = t->write && !t->member;
	if (t->member)
		s->member_open = false;
	int rc = mdb_txn_commit(t->txn);
	free(t);
	if (rc == 0 && durable)
		s->commits++;
	return rc == 0 ? MNS_OK : store_error_in(s, err, rc, "commit");
}

void mns_txn_abort(mns_txn_t *t)
{
	if (t == NULL)
		return;
	if (t->member)
		t->store->member_open = false;
	mdb_txn_abort(t->txn);
	free(t);
}

void mns_store_drop_cached(mns_store_t *s)
{
	/* The map is read-only and shared: dropping its pages from this process
	 * loses nothing (they stay in the page cache and fault back in when
	 * read), but a scan of every tenant no longer counts in our RSS. LMDB
	 * does not tell where it mapped the file (me_mapaddr is only set with
	 * MDB_FIXEDMAP): /proc/self/maps does. */
	const char *dir = NULL;
	char path[4096], real[4096], line[4096 + 128];
	if (mdb_env_get_path(s->env, &dir) != 0)
		return;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (realpath(path, real) == NULL)
		return;
	FILE *f = fopen("/proc/self/maps", "re");
	if (f == NULL)
		return;
	size_t dropped = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;
		int name = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &name) < 2 || name == 0)
			continue;
		char *nl = strchr(line + name, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (strcmp(line + name, real) != 0 || hi <= lo)
			continue;
		if (madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0)
			dropped += hi - lo;
		else
			mns_log(MNS_LOG_DEBUG, "store, madvise failed (%s)", strerror(errno));
	}
	fclose(f);
	mns_log(MNS_LOG_DEBUG, "store, dropped %zu MiB of mapped store from memory", dropped >> 20);
}

static MDB_val sval(const char *s)
{
	return (MDB_val){ .mv_size = strlen(s), .mv_data = (void *)s };
}

/* No tenant has an id LMDB cannot store as a key (empty, or over its key
 * size limit): looking one up is "not found", not a store error. */
static bool storable_key(const mns_txn_t *t, const char *id)
{
	return id[0] != '\0' && strlen(id) <= (size_t)mdb_env_get_maxkeysize(t->store->env);
}

int mns_store_tenant_get(mns_txn_t *t, const char *id, json_t **doc)
{
	if (!storable_key(t, id))
		return MNS_ENOENT;
	MDB_val k = sval(id), v;
	int rc = mdb_get(t->txn, t->store->tenants, &k, &v);
	if (rc == MDB_NOTFOUND)
		return MNS_ENOENT;
	if (rc != 0)
		return store_error(NULL, rc, "read tenant");
	json_error_t jerr;
	*doc = json_loadb(v.mv_data, v.mv_size, 0, &jerr);
	if (*doc == NULL) {
		mns_log(MNS_LOG_ERR, "store, tenant %s is not valid JSON (%s)", id, jerr.text);
		return MNS_ESTORE;
	}
	return MNS_OK;
}

int mns_store_tenant_put(mns_txn_t *t, const char *id, const json_t *doc, mns_error_t *err)
{
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		return MNS_ENOMEM;
	MDB_val k = sval(id), v = sval(text);
	int rc = mdb_put(t->txn, t->store->tenants, &k, &v, 0);
	/* The document may hold private keys: wipe our copy of the text. */
	memset(text, 0, v.mv_size);
	free(text);
	return rc == 0 ? MNS_OK : store_error_in(t->store, err, rc, "write tenant");
}

int mns_store_tenant_del(mns_txn_t *t, const char *id, mns_error_t *err)
{
	if (!storable_key(t, id))
		return MNS_ENOENT;
	MDB_val k = sval(id);
	int rc = mdb_del(t->txn, t->store->tenants, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return MNS_ENOENT;
	return rc == 0 ? MNS_OK : store_error_in(t->store, err, rc, "delete tenant");
}

/* LMDB's default order: octets, then length. */
static int key_cmp(const MDB_val *k, const char *key, size_t len)
{
	size_t n = k->mv_size < len ? k->mv_size : len;
	int c = memcmp(k->mv_data, key, n);
	return c != 0 ? c : (k->mv_size > len) - (k->mv_size < len);
}

/* The string members whose values the start-up walk leaves out: private
 * keys, in the clear ("private", stores of older versions) or sealed
 * ("sealed", the dkim plugin's ciphertext). They are most of a document's
 * text and no zone is built from them. The core knows these two names only
 * to skip them; nothing else here depends on a plugin's document. */
static bool skipped_member(const char *name, size_t len)
{
	return (len == 7 && memcmp(name, "private", 7) == 0) ||
	       (len == 6 && memcmp(name, "sealed", 6) == 0);
}

/* The closing quote of the JSON string whose contents start at \a p: the
 * first quote after an even number of backslashes. NULL: none. */
static const char *string_end(const char *p, const char *end)
{
	for (const char *q = p;; q++) {
		q = memchr(q, '"', (size_t)(end - q));
		if (q == NULL)
			return NULL;
		size_t bs = 0;
		while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
			bs++;
		if (bs % 2 == 0)
			return q;
	}
}

/* Copies the document \a v into \a buf (grown as needed) with the value of
 * every skipped member emptied: parsing is the start-up's main cost. One
 * pass from string to string (outside strings a quote always opens one): a
 * string that names a skipped member and is followed by ':' and a string
 * value has that value's contents left out. \return NULL when the text is
 * not what it seemed (the caller then parses the original). */
static const char *strip_private(const MDB_val *v, char **buf, size_t *cap, size_t *len)
{
	if (*cap < v->mv_size + 1) {
		char *nb = realloc(*buf, v->mv_size + 1);
		if (nb == NULL)
			return NULL;
		*buf = nb;
		*cap = v->mv_size + 1;
	}
	const char *p = v->mv_data, *end = p + v->mv_size, *copied = p;
	char *o = *buf;
	for (;;) {
		const char *open = memchr(p, '"', (size_t)(end - p));
		if (open == NULL)
			break;
		const char *close = string_end(open + 1, end);
		if (close == NULL)
			return NULL;
		p = close + 1;
		if (end - p < 2 || p[0] != ':' || p[1] != '"' ||
		    !skipped_member(open + 1, (size_t)(close - open - 1)))
			continue;
		const char *value = p + 2, *value_end = string_end(value, end);
		if (value_end == NULL)
			return NULL;
		memcpy(o, copied, (size_t)(value - copied));
		o += value - copied;
		copied = value_end; /* The closing quote is copied with the rest. */
		p = value_end + 1;
	}
	memcpy(o, copied, (size_t)(end - copied));
	o += end - copied;
	*len = (size_t)(o - *buf);
	/* The copy held key material until here. */
	return *buf;
}

int mns_store_tenant_each(mns_txn_t *t, const char *after,
                          bool (*cb)(const char *id, json_t *doc, void *data), void *data)
{
	return mns_store_tenant_each_opts(t, after, false, cb, data);
}

/* The walk behind mns_store_tenant_each_opts() and the start-up readers:
 * with \a parts > 1 only the entries of every parts-th run of \a per (from
 * run \a part on) are parsed; \a entry sees those, invalid ones with a NULL
 * document, with their position in the walk. */
static int tenant_walk(mns_txn_t *t, const char *after, bool no_private, size_t part,
                       size_t parts, size_t per,
                       bool (*entry)(size_t pos, const char *id, json_t *doc, void *data),
                       void *data)
{
	char *buf = NULL;
	size_t cap = 0;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, t->store->tenants, &cur);
	if (rc != 0)
		return store_error(NULL, rc, "cursor");
	MDB_val k, v;
	if (after != NULL && after[0] != '\0') {
		/* LMDB refuses empty keys and keys over its size limit
		 * (MDB_BAD_VALSIZE): search with at most that many octets, then
		 * step over every key that sorts at or before \a after. */
		size_t alen = strlen(after), max = (size_t)mdb_env_get_maxkeysize(t->store->env);
		k = (MDB_val){ .mv_size = alen < max ? alen : max, .mv_data = (void *)after };
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		while (rc == 0 && key_cmp(&k, after, alen) <= 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	}
	int ret = MNS_OK;
	for (size_t pos = 0; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), pos++) {
		/* The start-up walk reads the whole map once: drop what it read as
		 * it goes, so the peak RSS does not hold the store either. */
		bool mine = parts == 1 || pos / per % parts == part;
		if (no_private && pos % 16384 == 16383 && mine)
			mns_store_drop_cached(t->store);
		if (!mine)
			continue; /* Another reader's: the value is not even touched. */
		char id[128];
		snprintf(id, sizeof(id), "%.*s", (int)k.mv_size, (const char *)k.mv_data);
		size_t slen = 0;
		const char *stripped = no_private ? strip_private(&v, &buf, &cap, &slen) : NULL;
		json_t *doc = stripped ? json_loadb(stripped, slen, 0, NULL)
		                       : json_loadb(v.mv_data, v.mv_size, 0, NULL);
		if (doc == NULL)
			mns_log(MNS_LOG_ERR, "store, tenant %s is not valid JSON, skipped", id);
		bool more = entry(pos, id, doc, data);
		json_decref(doc);
		if (!more)
			break;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		ret = store_error(NULL, rc, "iterate tenants");
	mdb_cursor_close(cur);
	mns_wipe_free(buf); /* Emptied of private keys, but not of everything. */
	return ret;
}

typedef struct each_cb {
	bool (*cb)(const char *id, json_t *doc, void *data);
	void *data;
} each_cb_t;

static bool each_entry(size_t pos, const char *id, json_t *doc, void *data)
{
	(void)pos;
	each_cb_t *e = data;
	return doc == NULL || e->cb(id, doc, e->data);
}

int mns_store_tenant_each_opts(mns_txn_t *t, const char *after, bool no_private,
                               bool (*cb)(const char *id, json_t *doc, void *data), void *data)
{
	each_cb_t e = { cb, data };
	return tenant_walk(t, after, no_private, 0, 1, 1, each_entry, &e);
}

int mns_store_tenant_walk_part(mns_txn_t *t, size_t part, size_t parts, size_t per,
                               bool (*entry)(size_t pos, const char *id, json_t *doc, void *data),
                               void *data)
{
	return tenant_walk(t, NULL, true, part, parts, per, entry, data);
}

size_t mns_store_tenant_count(mns_txn_t *t)
{
	MDB_stat st;
	if (mdb_stat(t->txn, t->store->tenants, &st) != 0)
		return 0;
	return st.ms_entries;
}

static MDB_dbi index_dbi(mns_txn_t *t, mns_store_index_t idx)
{
	return idx == MNS_IDX_DOMAIN ? t->store->domains : t->store->zones;
}

static void copy_id(const MDB_val *v, char *id)
{
	size_t n = v->mv_size < 63 ? v->mv_size : 63;
	memcpy(id, v->mv_data, n);
	id[n] = '\0';
}

int mns_store_index_get(mns_txn_t *t, mns_store_index_t idx, const void *key, size_t klen,
                        char *id)
{
	MDB_val k = { klen, (void *)key }, v;
	int rc = mdb_get(t->txn, index_dbi(t, idx), &k, &v);
	if (rc == MDB_NOTFOUND)
		return MNS_ENOENT;
	if (rc != 0)
		return store_error(NULL, rc, "read index");
	copy_id(&v, id);
	return MNS_OK;
}

int mns_store_index_prefix(mns_txn_t *t, mns_store_index_t idx, const void *prefix, size_t plen,
                           char *id)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, index_dbi(t, idx), &cur);
	if (rc != 0)
		return store_error(NULL, rc, "cursor");
	MDB_val k = { plen, (void *)prefix }, v;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	int ret = MNS_ENOENT;
	if (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0) {
		copy_id(&v, id);
		ret = MNS_OK;
	}
	mdb_cursor_close(cur);
	return ret;
}

int mns_store_index_put(mns_txn_t *t, mns_store_index_t idx, const void *key, size_t klen,
                        const char *id, mns_error_t *err)
{
	MDB_val k = { klen, (void *)key }, v = sval(id);
	int rc = mdb_put(t->txn, index_dbi(t, idx), &k, &v, 0);
	return rc == 0 ? MNS_OK : store_error_in(t->store, err, rc, "write index");
}

int mns_store_index_del(mns_txn_t *t, mns_store_index_t idx, const void *key, size_t klen,
                        mns_error_t *err)
{
	MDB_val k = { klen, (void *)key };
	int rc = mdb_del(t->txn, index_dbi(t, idx), &k, NULL);
	if (rc == MDB_NOTFOUND)
		return MNS_OK;
	return rc == 0 ? MNS_OK : store_error_in(t->store, err, rc, "delete index");
}

size_t mns_store_index_count(mns_txn_t *t, mns_store_index_t idx)
{
	MDB_stat st;
	if (mdb_stat(t->txn, index_dbi(t, idx), &st) != 0)
		return 0;
	return st.ms_entries;
}

int mns_store_meta_get_u32(mns_txn_t *t, const char *key, uint32_t *val)
{
	MDB_val k = sval(key), v;
	int rc = mdb_get(t->txn, t->store->meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return MNS_ENOENT;
	if (rc != 0 || v.mv_size != sizeof(uint32_t))
		return MNS_ESTORE;
	memcpy(val, v.mv_data, sizeof(*val));
	return MNS_OK;
}

int mns_store_meta_put_u32(mns_txn_t *t, const char *key, uint32_t val, mns_error_t *err)
{
	MDB_val k = sval(key), v = { sizeof(val), &val };
	int rc = mdb_put(t->txn, t->store->meta, &k, &v, 0);
	return rc == 0 ? MNS_OK : store_error_in(t->store, err, rc, "write meta");
}

int mns_store_next_serial(mns_txn_t *t, uint32_t now, uint32_t *serial, mns_error_t *err)
{
	uint32_t last = 0;
	int ret = mns_store_meta_get_u32(t, "serial", &last);
	if (ret != MNS_OK && ret != MNS_ENOENT)
		return ret;
	/* Serial arithmetic (RFC 1982): go to now if now is ahead, else step by one. */
	uint32_t next = last + 1;
	if ((int32_t)(now - next) > 0)
		next = now;
	ret = mns_store_meta_put_u32(t, "serial", next, err);
	if (ret == MNS_OK)
		*serial = next;
	return ret;
}

int mns_store_usage(mns_store_t *s, uint64_t *file_bytes, uint64_t *used_bytes)
{
	MDB_envinfo info;
	MDB_stat st;
	const char *dir = NULL;
	if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0 ||
	    mdb_env_get_path(s->env, &dir) != 0)
		return MNS_ESTORE;
	*used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	char path[4096];
	struct stat fst;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	*file_bytes = stat(path, &fst) == 0 ? (uint64_t)fst.st_size : 0;
	return MNS_OK;
}
