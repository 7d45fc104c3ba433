/*  dkim — hands the active private keys to the vendor's MTA: OpenDKIM
 *  KeyTable/SigningTable lines, rspamd dkim_signing maps, and an export
 *  directory rewritten atomically whenever an active key changes.
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  The signing domain (DKIM d=) is the domain in the From: header the MTA
 *  signs for: in ns mode the delegated zone (mgeu.example.com, where the
 *  selectors live), in cname mode the customer's own domain (example.com,
 *  whose <selector>._domainkey CNAMEs lead into our hosted zone). Both align
 *  with the From: domain for DMARC.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "dkim_internal.h"

static const char *str_of(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

const char *mns_dkim_signing_domain(const json_t *doc)
{
	const char *mode = str_of(doc, "mode");
	if (mode != NULL && strcmp(mode, "cname") == 0)
		return str_of(doc, "domain");
	return str_of(doc, "zone");
}

int mns_dkim_export_collect(const json_t *doc, bool retired, const mns_dkim_skey_t *skey,
                            json_t *out, size_t *unopened)
{
	const char *domain = mns_dkim_signing_domain(doc);
	const char *tenant = str_of(doc, "tenant");
	const char *mode = str_of(doc, "mode");
	const json_t *sel;
	size_t i;

	if (domain == NULL || tenant == NULL)
		return MNS_OK;
	json_array_foreach(json_object_get(json_object_get(doc, "dkim"), "selectors"), i, sel)
	{
		const char *state = str_of(sel, "state");
		const char *name = str_of(sel, "selector");
		const char *sealed = str_of(sel, "sealed");
		const char *legacy = str_of(sel, "private"); /* Not yet migrated. */
		const char *alg = str_of(sel, "algorithm");
		if (state == NULL || name == NULL || (sealed == NULL && legacy == NULL) ||
		    alg == NULL)
			continue;
		if (strcmp(state, "active") != 0 && !(retired && strcmp(state, "retired") == 0))
			continue;
		char *opened = NULL;
		size_t olen = 0;
		json_t *priv;
		if (sealed != NULL) {
			int rc = mns_dkim_unseal(skey, tenant, name, sealed, &opened, &olen);
			if (rc == MNS_ENOMEM)
				return MNS_ENOMEM;
			if (rc != MNS_OK) {
				if (unopened != NULL)
					(*unopened)++;
				continue;
			}
			/* The entry is a JSON string (wiped when freed): what the
			 * export writes and dkim.export hands out. */
			priv = json_stringn(opened, olen);
			mns_dkim_unsealed_free(opened, olen);
		} else {
			priv = json_string(legacy);
		}
		if (priv == NULL)
			return MNS_ENOMEM;
		char file[600];
		snprintf(file, sizeof(file), "keys/%s.%s.pem", domain, name);
		json_t *e = json_pack(
		    "{s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:I, s:s, s:o}", "tenant", tenant,
		    "domain", domain, "mode", mode != NULL ? mode : "ns", "selector", name,
		    "algorithm", alg, "bits",
		    json_object_get(sel, "bits") ? json_object_get(sel, "bits") : json_null(),
		    "state", state, "activated", (json_int_t)mns_dkim_sel_time(sel, "activated"),
		    "file", file, "private", priv);
		if (e == NULL || json_array_append_new(out, e) != 0)
			return MNS_ENOMEM;
	}
	return MNS_OK;
}

static int entry_cmp(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
	int c = strcmp(str_of(x, "domain"), str_of(y, "domain"));
	if (c != 0)
		return c;
	c = mns_dkim_pair_of(str_of(x, "algorithm")) - mns_dkim_pair_of(str_of(y, "algorithm"));
	if (c != 0)
		return c;
	/* Active before retired. */
	return strcmp(str_of(x, "state"), str_of(y, "state"));
}

void mns_dkim_export_sort(json_t *entries)
{
	size_t n = json_array_size(entries);
	if (n < 2)
		return;
	json_t **v = malloc(n * sizeof(*v));
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(entries, i));
	qsort(v, n, sizeof(*v), entry_cmp);
	json_array_clear(entries);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(entries, v[i]);
	free(v);
}

/* --- Tables -------------------------------------------------------------------- */

/** A growing string. */
typedef struct sbuf {
	char *s;
	size_t len, cap;
	bool failed;
} sbuf_t;

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->s != NULL ? b->s + b->len : NULL,
		                  b->s != NULL ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->s != NULL && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (s == NULL) {
			b->failed = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

static char *sb_take(sbuf_t *b)
{
	if (b->failed) {
		free(b->s);
		return NULL;
	}
	if (b->s == NULL)
		return strdup("");
	return b->s;
}

#define TABLE_HEADER "# Written by mailnsd (dkim plugin) on every key change; do not edit.\n"

int mns_dkim_tables_build(const json_t *entries, const char *dir, mns_dkim_tables_t *t)
{
	sbuf_t kt = {0}, st = {0}, sm = {0}, pm = {0};
	const json_t *e;
	const char *last_domain = NULL;
	size_t i;

	memset(t, 0, sizeof(*t));
	sb_printf(&kt, TABLE_HEADER "# OpenDKIM KeyTable: keyname domain:selector:keyfile\n");
	sb_printf(&st, TABLE_HEADER "# OpenDKIM SigningTable (refile:): pattern keyname\n");
	sb_printf(&sm, TABLE_HEADER "# rspamd dkim_signing selector_map: domain selector\n");
	sb_printf(&pm, TABLE_HEADER "# rspamd dkim_signing path_map: domain keyfile\n");
	json_array_foreach(entries, i, e)
	{
		const char *state = str_of(e, "state");
		if (state == NULL || strcmp(state, "active") != 0)
			continue;
		const char *domain = str_of(e, "domain"), *sel = str_of(e, "selector");
		const char *file = str_of(e, "file");
		sb_printf(&kt, "%s._domainkey.%s %s:%s:%s/%s\n", sel, domain, domain, sel, dir,
		          file);
		sb_printf(&st, "*@%s %s._domainkey.%s\n", domain, sel, domain);
		/* rspamd's maps hold one key per domain: the first (RSA); the README
		 * shows the domain block that signs with both. */
		if (last_domain == NULL || strcmp(last_domain, domain) != 0) {
			sb_printf(&sm, "%s %s\n", domain, sel);
			sb_printf(&pm, "%s %s/%s\n", domain, dir, file);
		}
		last_domain = domain;
	}
	t->keytable = sb_take(&kt);
	t->signingtable = sb_take(&st);
	t->selector_map = sb_take(&sm);
	t->path_map = sb_take(&pm);
	if (t->keytable == NULL || t->signingtable == NULL || t->selector_map == NULL ||
	    t->path_map == NULL) {
		mns_dkim_tables_free(t);
		return MNS_ENOMEM;
	}
	return MNS_OK;
}

void mns_dkim_tables_free(mns_dkim_tables_t *t)
{
	free(t->keytable);
	free(t->signingtable);
	free(t->selector_map);
	free(t->path_map);
	memset(t, 0, sizeof(*t));
}

/* --- The export directory ---------------------------------------------------- */

static int sys_error(mns_error_t *err, const char *what, const char *path)
{
	int e = errno;
	mns_error_set(err, "export_failed", "dkim export: %s %s: %s", what, path, strerror(e));
	return -e != 0 ? -e : MNS_ERROR;
}

/** True if file \a name in \a dirfd holds exactly \a data. */
static bool same_content(int dirfd, const char *name, const char *data, size_t len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	struct stat st;
	bool same = false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len &&
	    (st.st_mode & 07777) == 0600) {
		char *buf = malloc(len + 1);
		size_t got = 0;
		while (buf != NULL && got < len) {
			ssize_t n = read(fd, buf + got, len - got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		same = buf != NULL && got == len && memcmp(buf, data, len) == 0;
		if (buf != NULL)
			OPENSSL_cleanse(buf, len);
		free(buf);
	}
	close(fd);
	return same;
}

/** Replaces file \a name in \a dirfd by \a data, atomically: a temporary file
 *  (0600) written and fsynced, then renamed over it. The caller fsyncs the
 *  directory. \a *changed is incremented when the file was written. */
static int write_atomic(int dirfd, const char *dirpath, const char *name, const char *data,
                        size_t len, size_t *changed, mns_error_t *err)
{
	char tmp[512];
	if (same_content(dirfd, name, data, len))
		return MNS_OK;
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	unlinkat(dirfd, tmp, 0); /* A leftover of a crash. */
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sys_error(err, "cannot create a file in", dirpath);
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fchmod(fd, 0600) != 0 || fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) != 0)
		goto fail;
	(*changed)++;
	return MNS_OK;
fail : {
	int ret = sys_error(err, "cannot write", name);
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	return ret;
}
}

/** Overwrites a key file with zeros, then removes it. */
static void wipe_unlink(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			static const char zeros[4096];
			off_t left = st.st_size;
			while (left > 0) {
				ssize_t n = write(fd, zeros,
				                  left < (off_t)sizeof(zeros) ? (size_t)left
				                                              : sizeof(zeros));
				if (n <= 0)
					break;
				left -= n;
			}
			(void)fsync(fd);
		}
		close(fd);
	}
	unlinkat(dirfd, name, 0);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/** Removes key files of keys no longer listed in \a entries, and leftovers. */
static size_t remove_stale(int keysfd, const json_t *entries)
{
	int fd = dup(keysfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	size_t removed = 0;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		bool ours = ends_with(name, ".pem") || (name[0] == '.' && ends_with(name, ".tmp"));
		if (!ours || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		bool listed = false;
		size_t i;
		const json_t *e;
		json_array_foreach(entries, i, e)
		{
			const char *file = str_of(e, "file"); /* "keys/<name>" */
			listed = listed || (file != NULL && strcmp(file + 5, name) == 0);
		}
		if (listed)
			continue;
		char **grown = realloc(names, (n + 1) * sizeof(*names));
		if (grown == NULL)
			break;
		names = grown;
		if ((names[n] = strdup(name)) != NULL)
			n++;
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		wipe_unlink(keysfd, names[i]);
		free(names[i]);
		removed++;
	}
	free(names);
	return removed;
}

static int open_dir(int at, const char *name, const char *path, int *fd, mns_error_t *err)
{
	if (mkdirat(at, name, 0700) != 0 && errno != EEXIST)
		return sys_error(err, "cannot create directory", path);
	*fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return sys_error(err, "cannot open directory", path);
	return MNS_OK;
}

int mns_dkim_export_write(const char *dir, const json_t *entries, size_t *changed, mns_error_t *err)
{
	int dirfd = -1, keysfd = -1, ret;
	size_t n = 0, i;
	const json_t *e;
	mns_dkim_tables_t t = {0};

	if ((ret = open_dir(AT_FDCWD, dir, dir, &dirfd, err)) != MNS_OK)
		goto out;
	if ((ret = open_dir(dirfd, "keys", dir, &keysfd, err)) != MNS_OK)
		goto out;
	/* Keys first: the tables never name a file that is not there yet. */
	json_array_foreach(entries, i, e)
	{
		const char *file = str_of(e, "file"), *priv = str_of(e, "private");
		if (file == NULL || priv == NULL || strncmp(file, "keys/", 5) != 0)
			continue;
		ret = write_atomic(keysfd, dir, file + 5, priv, strlen(priv), &n, err);
		if (ret != MNS_OK)
			goto out;
	}
	if (n > 0 && fsync(keysfd) != 0) {
		ret = sys_error(err, "cannot sync", dir);
		goto out;
	}
	if ((ret = mns_dkim_tables_build(entries, dir, &t)) != MNS_OK) {
		mns_error_set(err, "out_of_memory", "dkim export: out of memory");
		goto out;
	}
	const struct {
		const char *name, *text;
	} files[] = {
	    {"KeyTable", t.keytable},
	    {"SigningTable", t.signingtable},
	    {"dkim_selectors.map", t.selector_map},
	    {"dkim_paths.map", t.path_map},
	};
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		ret = write_atomic(dirfd, dir, files[f].name, files[f].text, strlen(files[f].text),
		                   &n, err);
		if (ret != MNS_OK)
			goto out;
	}
	/* Old keys go last, once no table names them. */
	size_t removed = remove_stale(keysfd, entries);
	if (removed > 0)
		(void)fsync(keysfd);
	n += removed;
	if (n > 0 && fsync(dirfd) != 0) {
		ret = sys_error(err, "cannot sync", dir);
		goto out;
	}
	ret = MNS_OK;
out:
	mns_dkim_tables_free(&t);
	if (keysfd >= 0)
		close(keysfd);
	if (dirfd >= 0)
		close(dirfd);
	if (changed != NULL)
		*changed = n;
	return ret;
}
