/*  dkim — publishes each tenant's DKIM public keys (RFC 6376, RFC 8463),
 *  rotates them, and hands the active private keys to the vendor's MTA.
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  The plugin owns the "dkim" section of a tenant document:
 *
 *      {"ed25519": true,                       (only when the caller set it)
 *       "selectors": [{"selector": "s1", "algorithm": "rsa", "bits": 2048,
 *                      "state": "active", "created": 1700000000,
 *                      "published": 1700000000, "activated": 1700000000,
 *                      "public": "<base64>", "sealed": "<base64>"}],
 *       "history": [{"selector": "s2", …, "state": "withdrawn",
 *                    "withdrawn": 1707776000}]}       (metadata only)
 *
 *  Keys are generated here (OpenSSL 3) when a tenant is added, from a pool
 *  of pre-generated RSA keys when it has one (keys.c), or imported from the
 *  caller's PEM ("dkim": {"import": {"pem": …}}, stored re-encoded, never
 *  echoed). Selectors come in pairs that alternate on rotation: s1/s2 for
 *  RSA and e1/e2 for Ed25519.
 *  The store never holds a private key in the clear: "sealed" is the PEM
 *  under AES-256-GCM with the store key (seal.c, store-key-file), opened only
 *  for the export directory and dkim.export. Documents of older versions
 *  ("private": "<PEM>") are sealed once the daemon runs (migrate_run).
 *  Rotation (rotation.c) is driven by one main-loop timer that fires when the
 *  earliest step of any tenant is due; each step goes through
 *  mns_plugin_tenant_set_section(), so it is durable and the zone is rebuilt
 *  with a new serial. The export directory (export.c) follows the active keys.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include <openssl/evp.h>

#include "dkim_internal.h"

/** The plugin's configuration. */
typedef struct dkim_conf {
	int rsa_bits;              /**< Size of new RSA keys. */
	bool ed25519;              /**< Vendor default: also publish an Ed25519 key. */
	int64_t period;            /**< rotation-period; 0 = manual rotation only. */
	int64_t lead;              /**< publish-lead; 0 = twice the vendor TTL. */
	int64_t hold;              /**< retire-hold. */
	size_t pool_size;          /**< key-pool; 0 = no pool. */
	char export_dir[PATH_MAX]; /**< "" = no export directory. */
	char store_key_file[PATH_MAX]; /**< "" = <data dir>/dkim-store.key. */
} dkim_conf_t;

static const dkim_conf_t dkim_defaults = {
    .rsa_bits = 2048,
    .ed25519 = false,
    .period = 7776000,
    .lead = 0,
    .hold = 604800,
    .pool_size = 8,
    .export_dir = "",
    .store_key_file = "",
};

/** The plugin's state (plugin data). */
typedef struct dkim_state {
	mns_plugin_t *p;
	dkim_conf_t conf;
	uv_loop_t *loop; /**< NULL when not attached (unit tests): no timers. */
	mns_dkim_pool_t *pool;
	mns_plugin_timer_t *timer; /**< The rotation timer (one-shot, re-armed). */
	int64_t timer_at_ms;       /**< When it fires (unix ms). */
	bool scanned; /**< The stored tenants were scheduled since the last configure. */
	bool built;   /**< … by their builds (start-up, reload): no scan needed. */
	mns_dkim_sched_t *sched; /**< Each tenant's next step (rotation.c). */
	bool waiting_key;                    /**< A due publish step waits for the pool. */
	bool sync_used;                      /**< This tick already generated a key on the loop. */
	bool more_sync;                      /**< … and another one is due: tick again at once. */
	mns_plugin_timer_t *export_timer;    /**< Pending export rewrite. */
	mns_plugin_timer_t *export_periodic; /**< Reconciles the export directory. */
	unsigned char export_fp[32];         /**< SHA-256 of what was last written. */
	bool export_fp_valid;
	mns_dkim_skey_t *skey;         /**< The store key (secure heap), from the first configure. */
	char skey_path[PATH_MAX];      /**< Where it was read ("" = in memory only). */
	const char *cur_tenant;        /**< process_tenant(): the tenant being stepped … */
	const json_t *cur_sec;         /**< … and its section, for tick_key(). */
	char (*migrate)[64];           /**< Tenants whose keys are still in the clear. */
	size_t n_migrate, cap_migrate, migrated_keys, migrated_tenants;
	mns_plugin_timer_t *migrate_timer;
} dkim_state_t;

#define EXPORT_RECONCILE_MS (300 * 1000)
#define TICK_TENANTS 64 /**< Tenants processed per timer run. */
#define DEFAULT_EXPORT_PATH "/etc/mailns/dkim"
#define STORE_KEY_NAME "dkim-store.key"

static const mns_conf_item_t dkim_schema[] = {
    {"rsa-bits", MNS_CONF_INT, "2048", 1024, 4096,
     "size of newly generated RSA keys (a multiple of 8; RFC 8301 wants at least 2048)"},
    {"ed25519", MNS_CONF_BOOL, "no", 0, 0,
     "also publish an Ed25519 key (RFC 8463) beside the RSA key, unless the tenant says"},
    {"rotation-period", MNS_CONF_INT, "7776000", 0, 315360000,
     "seconds a key signs before the next one takes over (0: rotate only on dkim.rotate)"},
    {"publish-lead", MNS_CONF_INT, "0", 0, 31536000,
     "seconds a new key is published before it signs (0: twice the record TTL)"},
    {"retire-hold", MNS_CONF_INT, "604800", 1, 31536000,
     "seconds a replaced key stays published for mail still in flight"},
    {"key-pool", MNS_CONF_INT, "8", 0, 256,
     "RSA keys generated ahead in the background (0: generate on demand)"},
    {"export-dir", MNS_CONF_STR, "", 0, 0,
     "directory rewritten with the active private keys, OpenDKIM tables and rspamd maps "
     "(empty: none)"},
    {"store-key-file", MNS_CONF_STR, "", 0, 0,
     "file of the 32-octet key that seals private keys in the store, created 0600 at first "
     "start (empty: <data>/dkim-store.key); back it up with the store"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static dkim_state_t *state_of(const mns_plugin_t *p)
{
	return mns_plugin_data(p);
}

static const dkim_conf_t *conf_of(const mns_plugin_t *p)
{
	const dkim_state_t *dp = state_of(p);
	return dp != NULL ? &dp->conf : &dkim_defaults;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/** The vendor's record TTL (3600 when not attached). */
static int64_t vendor_ttl(mns_plugin_t *p)
{
	const json_t *v = json_object_get(mns_plugin_vendor(p), "ttl");
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 3600;
}

/** The rotation timing in effect: an unset lead is twice the record TTL. */
static mns_dkim_policy_t policy_of(mns_plugin_t *p)
{
	const dkim_conf_t *c = conf_of(p);
	mns_dkim_policy_t pol = {.period = c->period, .lead = c->lead, .hold = c->hold};
	if (pol.lead <= 0) {
		int64_t ttl = vendor_ttl(p);
		pol.lead = ttl > 0 ? 2 * ttl : 1;
	}
	return pol;
}

/* --- Schedule --------------------------------------------------------------- */

/** Sets tenant \a id's next step time; INT64_MAX removes it. */
static void sched_set(dkim_state_t *dp, const char *id, int64_t due)
{
	if (mns_dkim_sched_set(dp->sched, id, due) != MNS_OK)
		mns_plugin_log(dp->p, MNS_LOG_ERR, "out of memory: tenant %s not scheduled", id);
}

/** Notes tenant \a id for sealing when its section \a sec still holds a
 *  private key in the clear (a store written by an older version). Called
 *  where each stored tenant passes anyway (its start-up build, or the scan),
 *  so finding them costs no extra read of the store. */
static void migrate_note(dkim_state_t *dp, const char *id, const json_t *sec)
{
	if (mns_dkim_section_count(sec, "private") == 0 || strlen(id) >= sizeof(dp->migrate[0]))
		return;
	if (dp->n_migrate == dp->cap_migrate) {
		size_t cap = dp->cap_migrate ? dp->cap_migrate * 2 : 16;
		char(*m)[64] = realloc(dp->migrate, cap * sizeof(*m));
		if (m == NULL)
			return; /* Sealed at the next start (or the next update). */
		dp->migrate = m;
		dp->cap_migrate = cap;
	}
	snprintf(dp->migrate[dp->n_migrate++], sizeof(dp->migrate[0]), "%s", id);
}

/** Forgets the tenants noted for sealing (a reload notes them again). */
static void migrate_reset(dkim_state_t *dp)
{
	if (dp->migrate_timer != NULL) /* A reload during a migration: start over. */
		mns_plugin_timer_stop(dp->migrate_timer);
	dp->migrate_timer = NULL;
	free(dp->migrate);
	dp->migrate = NULL;
	dp->n_migrate = dp->cap_migrate = 0;
}

/** The time of the next step of \a sec, INT64_MAX when nothing is scheduled. */
static int64_t next_due(mns_plugin_t *p, const json_t *sec)
{
	mns_dkim_policy_t pol = policy_of(p);
	mns_dkim_step_t st = mns_dkim_next_step(sec, &pol);
	return st.kind == MNS_DKIM_NONE ? INT64_MAX : st.at;
}

static void rot_tick(mns_plugin_t *p, void *data);

/** (Re)starts the rotation timer for \a at_ms (unix ms). */
static void timer_set(dkim_state_t *dp, int64_t at_ms)
{
	if (dp->loop == NULL)
		return;
	if (dp->timer != NULL) {
		if (dp->timer_at_ms == at_ms)
			return;
		mns_plugin_timer_stop(dp->timer);
		dp->timer = NULL;
	}
	int64_t delay = at_ms - now_ms();
	dp->timer = mns_plugin_timer_start(dp->p, delay > 0 ? (uint64_t)delay : 0, 0, rot_tick, dp);
	dp->timer_at_ms = at_ms;
	if (dp->timer == NULL)
		mns_plugin_log(dp->p, MNS_LOG_ERR, "cannot start the rotation timer");
}

/** Arms the timer for the earliest step due. Steps that wait for a pool key
 *  are left to the pool's ready callback. */
static void arm(dkim_state_t *dp)
{
	if (dp->loop == NULL)
		return;
	int64_t now = (int64_t)time(NULL), best = INT64_MAX;
	const char *first;
	if (!dp->scanned || dp->more_sync) {
		timer_set(dp, now_ms());
		return;
	}
	mns_dkim_sched_first(dp->sched, &first, &best);
	/* Steps due now that wait for a pool key: the pool's ready callback
	 * ticks; meanwhile look again in a minute at the latest. */
	if (dp->waiting_key && best <= now)
		best = now + 60;
	if (best == INT64_MAX) {
		if (dp->timer != NULL)
			mns_plugin_timer_stop(dp->timer);
		dp->timer = NULL;
		return;
	}
	/* Whole seconds: a step is due once time(NULL) reaches it. */
	timer_set(dp, best <= now ? now_ms() : best * 1000);
}

/* --- Export directory ---------------------------------------------------------- */

/** Clears the main thread's stack below the caller. Handing keys out
 *  (jansson dumps of the export entries and of the dkim.export reply, file
 *  writes) leaves pieces of their text in stack memory that later calls do
 *  not overwrite (measured by tests/integration/test_dkim_sealed.py; the
 *  callee was not pinned down), and a core dump holds the whole stack. */
static __attribute__((noinline)) void scrub_stack(void)
{
	unsigned char pad[64 * 1024];
	explicit_bzero(pad, sizeof(pad));
	__asm__ volatile("" : : "r"(pad) : "memory");
}

static void scrub_tick(mns_plugin_t *p, void *data)
{
	scrub_stack();
}

/** What the export gathers over the tenants. */
typedef struct collect_state {
	const mns_dkim_skey_t *skey;
	bool retired;     /**< Also retired keys (the export directory). */
	json_t *entries;
	size_t unopened;  /**< Sealed keys the store key does not open. */
} collect_state_t;

static bool collect_one(mns_plugin_t *p, const char *tenant, const json_t *doc, void *data)
{
	collect_state_t *c = data;
	return mns_dkim_export_collect(doc, c->retired, c->skey, c->entries, &c->unopened) ==
	       MNS_OK;
}

static void log_unopened(mns_plugin_t *p, size_t unopened, const char *path)
{
	if (unopened > 0)
		mns_plugin_log(p, MNS_LOG_ERR,
		               "export: %zu private keys do not open with store key %s (sealed "
		               "under another key, or damaged): left out",
		               unopened, path[0] != '\0' ? path : "(in memory)");
}

/** Rewrites the export directory if what it should hold changed. */
static void export_run(dkim_state_t *dp)
{
	if (dp->conf.export_dir[0] == '\0')
		return;
	json_t *entries = json_array();
	collect_state_t cs = {dp->skey, true, entries, 0};
	if (entries == NULL || mns_plugin_tenant_foreach(dp->p, collect_one, &cs) != MNS_OK) {
		mns_plugin_log(dp->p, MNS_LOG_ERR, "export: cannot read the tenants");
		json_decref(entries);
		return;
	}
	log_unopened(dp->p, cs.unopened, dp->skey_path);
	mns_dkim_export_sort(entries);
	char *dump = json_dumps(entries, JSON_COMPACT);
	unsigned char fp[32];
	unsigned int fplen = 0;
	bool same = false;
	if (dump != NULL) {
		if (EVP_Digest(dump, strlen(dump), fp, &fplen, EVP_sha256(), NULL) == 1)
			same = dp->export_fp_valid && memcmp(fp, dp->export_fp, sizeof(fp)) == 0;
		else
			fplen = 0;
		/* The dump holds private keys: jansson's free wipes it in the daemon. */
		json_free_t free_fn = NULL;
		json_get_alloc_funcs(NULL, &free_fn);
		free_fn(dump);
	}
	if (!same) {
		mns_error_t err = {0};
		size_t changed = 0;
		if (mns_dkim_export_write(dp->conf.export_dir, entries, &changed, &err) == MNS_OK) {
			if (fplen == sizeof(fp)) {
				memcpy(dp->export_fp, fp, sizeof(fp));
				dp->export_fp_valid = true;
			}
			if (changed > 0)
				mns_plugin_log(dp->p, MNS_LOG_NOTICE,
				               "export: %s updated (%zu files written or removed, "
				               "%zu keys)",
				               dp->conf.export_dir, changed,
				               json_array_size(entries));
		} else {
			dp->export_fp_valid = false;
			mns_plugin_log(dp->p, MNS_LOG_ERR, "%s", err.message);
		}
	}
	json_decref(entries);
	scrub_stack();
}

static void export_tick(mns_plugin_t *p, void *data)
{
	dkim_state_t *dp = data;
	dp->export_timer = NULL;
	export_run(dp);
}

/* Every few minutes: catches removed tenants (the plugin is not told) and
 * repairs files changed or deleted behind mailnsd's back (every file is
 * compared, only differences are written). */
static void export_periodic(mns_plugin_t *p, void *data)
{
	dkim_state_t *dp = data;
	dp->export_fp_valid = false;
	export_run(dp);
}

/** Rewrites the export directory soon, on the main loop (after the mutation
 *  in progress, if any, is committed). */
static void export_schedule(dkim_state_t *dp)
{
	if (dp->loop == NULL || dp->conf.export_dir[0] == '\0' || dp->export_timer != NULL)
		return;
	dp->export_timer = mns_plugin_timer_start(dp->p, 0, 0, export_tick, dp);
}

/* --- Lifecycle ------------------------------------------------------------ */

static void pool_ready(void *data);

static int dkim_init(mns_plugin_t *p, mns_error_t *err)
{
	dkim_state_t *dp = calloc(1, sizeof(*dp));
	if (dp == NULL) {
		mns_error_set(err, "out_of_memory", "dkim: cannot allocate the plugin state");
		return MNS_ENOMEM;
	}
	dp->p = p;
	dp->conf = dkim_defaults;
	dp->loop = mns_plugin_uv_loop(p);
	dp->pool = mns_dkim_pool_new(dp->loop, pool_ready, dp);
	dp->sched = mns_dkim_sched_new();
	if (dp->pool == NULL || dp->sched == NULL) {
		mns_dkim_pool_free(dp->pool);
		mns_dkim_sched_free(dp->sched);
		free(dp);
		mns_error_set(err, "out_of_memory", "dkim: cannot allocate the key pool");
		return MNS_ENOMEM;
	}
	mns_plugin_set_data(p, dp);
	return MNS_OK;
}

/* --- The store key ------------------------------------------------------------ */

/** What the store holds, read before the key: sealed keys forbid making a
 *  new key, and the first of them checks that the key file is the right one. */
typedef struct store_census {
	size_t sealed; /**< Sealed keys seen (the scan stops at the first). */
	char tenant[64], selector[64];
	char *blob; /**< The first sealed key (ciphertext: no secret). */
} store_census_t;

static bool census_one(mns_plugin_t *p, const char *tenant, const json_t *doc, void *data)
{
	store_census_t *c = data;
	const json_t *sel;
	size_t i;
	json_array_foreach(json_object_get(json_object_get(doc, "dkim"), "selectors"), i, sel)
	{
		const char *sealed = json_string_value(json_object_get(sel, "sealed"));
		const char *name = json_string_value(json_object_get(sel, "selector"));
		if (sealed == NULL)
			continue;
		if (c->sealed++ == 0 && name != NULL && strlen(tenant) < sizeof(c->tenant) &&
		    strlen(name) < sizeof(c->selector)) {
			snprintf(c->tenant, sizeof(c->tenant), "%s", tenant);
			snprintf(c->selector, sizeof(c->selector), "%s", name);
			c->blob = strdup(sealed);
		}
	}
	/* One sealed key answers both questions (does the store need the key
	 * file, does this file open it): stop there rather than read a million
	 * documents at every start. Only a store without any sealed key is read
	 * to the end. */
	return c->blob == NULL;
}

/** Reads (or, while the store holds no sealed key, creates) the store key,
 *  once: at the first configure, before any tenant is published. A changed
 *  store-key-file takes effect at the next start. */
static int skey_setup(dkim_state_t *dp, const dkim_conf_t *next, mns_error_t *err)
{
	mns_plugin_t *p = dp->p;
	const char *data = json_string_value(json_object_get(mns_plugin_vendor(p), "data_dir"));
	char path[PATH_MAX];

	if (next->store_key_file[0] != '\0')
		snprintf(path, sizeof(path), "%s", next->store_key_file);
	else if (data != NULL && data[0] != '\0' &&
	         (size_t)snprintf(path, sizeof(path), "%s/%s", data, STORE_KEY_NAME) < sizeof(path))
		;
	else if (data == NULL)
		path[0] = '\0'; /* Not attached to a daemon (unit tests): no store either. */
	else
		return mns_error_set_key(err, "store-key-file", "invalid_config",
		                         "the data directory path is too long for the store key");
	if (dp->skey != NULL) {
		if (strcmp(path, dp->skey_path) != 0)
			mns_plugin_log(p, MNS_LOG_WARNING,
			               "store-key-file changed to %s: it takes effect at the next "
			               "start (still using %s)",
			               path, dp->skey_path);
		return MNS_OK;
	}
	if (path[0] == '\0') {
		dp->skey = mns_dkim_skey_random();
		return dp->skey != NULL ? MNS_OK
		                        : mns_error_set(err, "out_of_memory", "dkim: out of memory");
	}

	store_census_t c = {0};
	if (data != NULL && mns_plugin_tenant_foreach(p, census_one, &c) != MNS_OK) {
		free(c.blob);
		return mns_error_set(err, "store_failed",
		                     "dkim: cannot read the tenant store to check its sealed keys");
	}
	bool created = false;
	/* Never a new key while sealed keys exist: it would orphan every one. */
	int ret = mns_dkim_skey_load(path, c.sealed == 0, &dp->skey, &created, err);
	if (ret == MNS_ENOENT)
		mns_error_set_key(err, "store-key-file", "store_key",
		                  "dkim: store key file %s is missing, but the store holds sealed "
		                  "private keys that only it opens: restore it from the backup made "
		                  "with the store (mailnsd never makes a new one while sealed keys "
		                  "exist)",
		                  path);
	if (ret == MNS_OK && c.blob != NULL) {
		char *pem = NULL;
		size_t len = 0;
		if (mns_dkim_unseal(dp->skey, c.tenant, c.selector, c.blob, &pem, &len) != MNS_OK) {
			mns_dkim_skey_free(dp->skey);
			dp->skey = NULL;
			ret = mns_error_set_key(err, "store-key-file", "store_key",
			                        "dkim: store key file %s does not open the private key "
			                        "of tenant %s, selector %s: it is not the key this "
			                        "store was sealed with",
			                        path, c.tenant, c.selector);
		}
		mns_dkim_unsealed_free(pem, len);
	}
	free(c.blob);
	if (ret != MNS_OK)
		return ret;
	snprintf(dp->skey_path, sizeof(dp->skey_path), "%s", path);
	if (created)
		mns_plugin_log(p, MNS_LOG_NOTICE,
		               "store key %s created: back it up with the store (the private keys "
		               "in the store cannot be opened without it)",
		               path);
	else
		mns_plugin_log(p, MNS_LOG_INFO, "store key %s read", path);
	return MNS_OK;
}

const mns_dkim_skey_t *mns_dkim_store_key(const mns_plugin_t *p)
{
	const dkim_state_t *dp = state_of(p);
	return dp != NULL ? dp->skey : NULL;
}

static int conf_int(const json_t *conf, const char *key, int64_t min, int64_t max, int64_t *out,
                    mns_error_t *err)
{
	const json_t *v = json_object_get(conf, key);
	if (v == NULL || json_is_null(v))
		return MNS_OK;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return mns_error_set_key(err, key, "invalid_config",
		                         "%s must be an integer from %lld to %lld", key,
		                         (long long)min, (long long)max);
	*out = (int64_t)json_integer_value(v);
	return MNS_OK;
}

static int dkim_configure(mns_plugin_t *p, const json_t *conf, mns_error_t *err)
{
	dkim_state_t *dp = state_of(p);
	dkim_conf_t next = dkim_defaults;
	const json_t *v;
	int64_t bits = next.rsa_bits, pool = (int64_t)next.pool_size;
	int ret;

	if ((ret = conf_int(conf, "rsa-bits", 1024, 4096, &bits, err)) != MNS_OK)
		return ret;
	if (bits % 8 != 0)
		return mns_error_set_key(err, "rsa-bits", "invalid_config",
		                         "rsa-bits must be a multiple of 8 from 1024 to 4096 "
		                         "(2048 is the usual choice), not %lld",
		                         (long long)bits);
	next.rsa_bits = (int)bits;
	v = json_object_get(conf, "ed25519");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return mns_error_set_key(err, "ed25519", "invalid_config",
			                         "ed25519 must be yes or no");
		next.ed25519 = json_is_true(v);
	}
	if ((ret = conf_int(conf, "rotation-period", 0, 315360000, &next.period, err)) != MNS_OK ||
	    (ret = conf_int(conf, "publish-lead", 0, 31536000, &next.lead, err)) != MNS_OK ||
	    (ret = conf_int(conf, "retire-hold", 1, 31536000, &next.hold, err)) != MNS_OK ||
	    (ret = conf_int(conf, "key-pool", 0, 256, &pool, err)) != MNS_OK)
		return ret;
	next.pool_size = (size_t)pool;
	v = json_object_get(conf, "export-dir");
	if (v != NULL && !json_is_null(v)) {
		const char *dir = json_string_value(v);
		if (dir == NULL || strlen(dir) >= sizeof(next.export_dir) - 64)
			return mns_error_set_key(err, "export-dir", "invalid_config",
			                         "export-dir must be a directory path");
		if (dir[0] != '\0' && dir[0] != '/')
			return mns_error_set_key(
			    err, "export-dir", "invalid_config",
			    "export-dir '%s' must be an absolute path (the MTA's tables name "
			    "the key files by it)",
			    dir);
		snprintf(next.export_dir, sizeof(next.export_dir), "%s", dir);
		size_t len = strlen(next.export_dir);
		while (len > 1 && next.export_dir[len - 1] == '/')
			next.export_dir[--len] = '\0';
	}

	v = json_object_get(conf, "store-key-file");
	if (v != NULL && !json_is_null(v)) {
		const char *f = json_string_value(v);
		if (f == NULL || strlen(f) >= sizeof(next.store_key_file))
			return mns_error_set_key(err, "store-key-file", "invalid_config",
			                         "store-key-file must be a file path");
		snprintf(next.store_key_file, sizeof(next.store_key_file), "%s", f);
	}

	int64_t ttl = vendor_ttl(p);
	int64_t lead = next.lead > 0 ? next.lead : (ttl > 0 ? 2 * ttl : 1);
	if (next.period > 0 && lead >= next.period)
		return mns_error_set_key(err, next.lead > 0 ? "publish-lead" : "rotation-period",
		                         "invalid_config",
		                         "rotation-period (%lld s) must be longer than the publish "
		                         "lead time (%lld s%s)",
		                         (long long)next.period, (long long)lead,
		                         next.lead > 0 ? "" : ", twice the record TTL");

	if ((ret = skey_setup(dp, &next, err)) != MNS_OK)
		return ret;
	bool dir_changed = strcmp(next.export_dir, dp->conf.export_dir) != 0;
	dp->conf = next;
	if (next.rsa_bits < 2048)
		mns_plugin_log(
		    p, MNS_LOG_WARNING,
		    "rsa-bits %d is below the 2048 bits RFC 8301 recommends for new keys",
		    next.rsa_bits);
	if (next.lead > 0 && next.lead < 2 * ttl)
		mns_plugin_log(p, MNS_LOG_WARNING,
		               "publish-lead %lld s is shorter than twice the record TTL (%lld s): "
		               "resolvers may still hold the old answer when a new key starts "
		               "signing",
		               (long long)next.lead, (long long)(2 * ttl));
	if (next.period > 0 && next.hold > next.period - lead)
		mns_plugin_log(
		    p, MNS_LOG_NOTICE,
		    "retire-hold (%lld s) is longer than rotation-period minus the lead "
		    "time (%lld s): each rotation waits for the previous key's withdrawal",
		    (long long)next.hold, (long long)(next.period - lead));

	mns_dkim_pool_configure(dp->pool, next.pool_size, next.rsa_bits);
	if (dp->loop != NULL) {
		/* The policy may have changed every tenant's schedule: rescan the
		 * store from the timer, once the daemon runs (not from here: at
		 * start-up the tenants' zones are not published yet). */
		dp->scanned = false;
		dp->built = false;
		mns_dkim_sched_clear(dp->sched);
		migrate_reset(dp);
		arm(dp);
		if (dir_changed) {
			mns_plugin_timer_stop(dp->export_periodic);
			dp->export_periodic = NULL;
			dp->export_fp_valid = false;
			if (next.export_dir[0] != '\0')
				dp->export_periodic = mns_plugin_timer_start(p, EXPORT_RECONCILE_MS,
				                                             EXPORT_RECONCILE_MS,
				                                             export_periodic, dp);
		}
	}
	return MNS_OK;
}

/* The daemon is stopping: no key generation may keep its loop running. */
static void dkim_stop(mns_plugin_t *p)
{
	dkim_state_t *dp = state_of(p);
	if (dp != NULL)
		mns_dkim_pool_stop(dp->pool);
}

static void dkim_fini(mns_plugin_t *p)
{
	dkim_state_t *dp = state_of(p);
	if (dp == NULL)
		return;
	/* The core has stopped the plugin's timers before fini. */
	mns_dkim_pool_free(dp->pool);
	mns_dkim_skey_free(dp->skey);
	free(dp->migrate);
	mns_dkim_sched_free(dp->sched);
	free(dp);
	mns_plugin_set_data(p, NULL);
}

/* --- Keys ------------------------------------------------------------------- */

/** Generates a key for pair \a pair on the main loop (or takes an RSA key
 *  from the pool) and returns its selector object without "selector" and
 *  "state" (a new reference), the private key sealed for \a tenant's
 *  selector \a name, or NULL with \a err set. */
static json_t *key_new(mns_plugin_t *p, size_t pair, int64_t now, bool allow_sync,
                       const char *tenant, const char *name, mns_error_t *err)
{
	dkim_state_t *dp = state_of(p);
	const dkim_conf_t *c = conf_of(p);
	bool ed = pair == MNS_DKIM_ED25519;
	mns_dkim_key_t k;

	if (!ed && dp != NULL && mns_dkim_pool_take(dp->pool, c->rsa_bits, &k)) {
		json_t *sel = mns_dkim_key_json(&k, now, dp->skey, tenant, name);
		if (sel == NULL)
			mns_error_set(err, "out_of_memory", "dkim: cannot seal the new key");
		return sel;
	}
	if (!allow_sync) {
		mns_error_set(err, "key_generation", "no pre-generated key available yet");
		return NULL;
	}
	int ret = mns_dkim_keygen(ed, c->rsa_bits, NULL, &k);
	if (ret != MNS_OK) {
		mns_error_set(err, "key_generation", "could not generate a %s key",
		              mns_dkim_pairs[pair].label);
		return NULL;
	}
	json_t *sel = mns_dkim_key_json(&k, now, dp != NULL ? dp->skey : NULL, tenant, name);
	if (sel == NULL)
		mns_error_set(err, "out_of_memory", "dkim: cannot seal the new key");
	return sel;
}

/** Makes key \a sel (stolen) a tenant's first key of a pair, on selector
 *  \a name: active at once (nothing signs yet). */
static json_t *selector_activate(const mns_tenant_ctx_t *t, json_t *sel, const char *name,
                                 mns_error_t *err)
{
	if (json_object_set_new(sel, "selector", json_string(name)) != 0 ||
	    json_object_set_new(sel, "state", json_string("active")) != 0 ||
	    json_object_set_new(sel, "published", json_integer((json_int_t)t->now)) != 0 ||
	    json_object_set_new(sel, "activated", json_integer((json_int_t)t->now)) != 0) {
		json_decref(sel);
		mns_error_set(err, "out_of_memory", "dkim: out of memory");
		return NULL;
	}
	return sel;
}

/** A tenant's first key of a pair, generated or from the pool. */
static json_t *selector_first(mns_plugin_t *p, const mns_tenant_ctx_t *t, size_t pair,
                              mns_error_t *err)
{
	json_t *sel =
	    key_new(p, pair, (int64_t)t->now, true, t->id, mns_dkim_pairs[pair].first, err);
	if (sel == NULL ||
	    (sel = selector_activate(t, sel, mns_dkim_pairs[pair].first, err)) == NULL)
		return NULL;
	mns_plugin_log(p, MNS_LOG_INFO, "tenant %s: new %s key, selector %s", t->id,
	               mns_dkim_pairs[pair].label, mns_dkim_pairs[pair].first);
	return sel;
}

/** The key of "dkim.import" ({"pem": "...", "selector": "s1"}), checked:
 *  its selector object (active on the selector asked for, by default the
 *  first of its pair) with its pair in \a pairp, or NULL with \a err set.
 *  Error messages never quote the PEM text. */
static json_t *selector_import(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *imp,
                               size_t *pairp, mns_error_t *err)
{
	static const char *const allowed[] = {"pem", "selector", NULL};
	char why[256];
	mns_dkim_key_t k;

	if (!json_is_object(imp))
		return mns_error_set_key(
		           err, "dkim.import", "invalid_dkim",
		           "dkim.import must be an object such as {\"pem\": "
		           "\"-----BEGIN PRIVATE KEY-----...\", \"selector\": \"s1\"}"),
		       NULL;
	if (mns_json_check_keys(imp, "dkim.import", allowed, err) != MNS_OK)
		return NULL;
	const json_t *pem = json_object_get(imp, "pem");
	const json_t *jsel = json_object_get(imp, "selector");
	if (!json_is_string(pem))
		return mns_error_set_key(err, "dkim.import.pem", "invalid_dkim",
		                         "dkim.import.pem must be the private key as a PEM "
		                         "string"),
		       NULL;
	if (jsel != NULL && !json_is_string(jsel))
		return mns_error_set_key(err, "dkim.import.selector", "invalid_dkim",
		                         "dkim.import.selector must be a string"),
		       NULL;
	int ret = mns_dkim_key_import(json_string_value(pem), json_string_length(pem), &k, why,
	                              sizeof(why));
	if (ret != MNS_OK) {
		if (ret == MNS_ENOMEM)
			mns_error_set(err, "out_of_memory", "dkim: out of memory");
		else
			mns_error_set_key(err, "dkim.import.pem", "invalid_dkim",
			                  "dkim.import.pem: %s", why);
		return NULL;
	}
	size_t pair = k.ed25519 ? MNS_DKIM_ED25519 : MNS_DKIM_RSA;
	const mns_dkim_pair_t *pp = &mns_dkim_pairs[pair];
	const char *name = jsel != NULL ? json_string_value(jsel) : pp->first;
	if (strcmp(name, pp->first) != 0 && strcmp(name, pp->second) != 0) {
		mns_dkim_key_wipe(&k);
		return mns_error_set_key(err, "dkim.import.selector", "invalid_dkim",
		                         "dkim.import.selector: an %s key goes on selector %s or "
		                         "%s (the pair it rotates between)",
		                         pp->label, pp->first, pp->second),
		       NULL;
	}
	bool weak = !k.ed25519 && k.bits < 2048;
	dkim_state_t *dp = state_of(p);
	json_t *sel = mns_dkim_key_json(&k, (int64_t)t->now, dp != NULL ? dp->skey : NULL, t->id,
	                                name); /* Wipes k. */
	if (sel == NULL) {
		mns_error_set(err, "out_of_memory", "dkim: cannot seal the imported key");
		return NULL;
	}
	if ((sel = selector_activate(t, sel, name, err)) == NULL)
		return NULL;
	if (weak)
		mns_plugin_log(p, MNS_LOG_WARNING,
		               "tenant %s: imported RSA key is shorter than 2048 bits (RFC 8301)",
		               t->id);
	mns_plugin_log(p, MNS_LOG_INFO, "tenant %s: imported %s key, selector %s", t->id, pp->label,
	               name);
	*pairp = pair;
	return sel;
}

/* --- Selectors in the section ----------------------------------------------- */

static const char *sel_str(const json_t *sel, const char *key)
{
	return json_string_value(json_object_get(sel, key));
}

/** States in which a key is in the DNS (DESIGN.md, DKIM lifecycle). */
static bool state_published(const char *state)
{
	return state != NULL && (strcmp(state, "published") == 0 || strcmp(state, "active") == 0 ||
	                         strcmp(state, "retired") == 0);
}

/** Finds the selector named \a name, or NULL. */
static const json_t *sel_find(const json_t *selectors, const char *name)
{
	size_t i;
	const json_t *sel;
	json_array_foreach(selectors, i, sel)
	{
		const char *s = sel_str(sel, "selector");
		if (s != NULL && strcmp(s, name) == 0 && state_published(sel_str(sel, "state")))
			return sel;
	}
	return NULL;
}

/** True if \a name is a selector whose key is in the DNS. */
static bool sel_published(const json_t *selectors, const char *name)
{
	return sel_find(selectors, name) != NULL;
}

/** True if some selector uses algorithm \a alg. */
static bool has_algorithm(const json_t *selectors, const char *alg)
{
	size_t i;
	const json_t *sel;
	json_array_foreach(selectors, i, sel)
	{
		const char *a = sel_str(sel, "algorithm");
		if (a != NULL && strcmp(a, alg) == 0 && state_published(sel_str(sel, "state")))
			return true;
	}
	return false;
}

/** A selector is one DNS label: letters, digits, '-' (RFC 6376 3.1 allows
 *  dots too, but ours are single labels). */
static bool selector_ok(const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0;
	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/** Octets of base64 text (and its '=' padding): [A-Za-z0-9+/=]. A table
 *  rather than isalnum() (the daemon runs in the C locale, where they agree):
 *  every stored key passes here at start-up. */
static const bool b64_octet[256] = {
    ['+'] = true, ['/'] = true, ['='] = true, ['0'] = true, ['1'] = true, ['2'] = true,
    ['3'] = true, ['4'] = true, ['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true,
    ['9'] = true, ['A'] = true, ['B'] = true, ['C'] = true, ['D'] = true, ['E'] = true,
    ['F'] = true, ['G'] = true, ['H'] = true, ['I'] = true, ['J'] = true, ['K'] = true,
    ['L'] = true, ['M'] = true, ['N'] = true, ['O'] = true, ['P'] = true, ['Q'] = true,
    ['R'] = true, ['S'] = true, ['T'] = true, ['U'] = true, ['V'] = true, ['W'] = true,
    ['X'] = true, ['Y'] = true, ['Z'] = true, ['a'] = true, ['b'] = true, ['c'] = true,
    ['d'] = true, ['e'] = true, ['f'] = true, ['g'] = true, ['h'] = true, ['i'] = true,
    ['j'] = true, ['k'] = true, ['l'] = true, ['m'] = true, ['n'] = true, ['o'] = true,
    ['p'] = true, ['q'] = true, ['r'] = true, ['s'] = true, ['t'] = true, ['u'] = true,
    ['v'] = true, ['w'] = true, ['x'] = true, ['y'] = true, ['z'] = true,
};

static bool base64_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++)
		if (!b64_octet[(unsigned char)*s])
			return false;
	return true;
}

/* --- Hooks ---------------------------------------------------------------- */

static int dkim_tenant_check(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *old,
                             const json_t *in, json_t **out, mns_error_t *err)
{
	static const char *const allowed[] = {"ed25519", "import", NULL};
	dkim_state_t *dp = state_of(p);
	json_t *sec = NULL, *selectors = NULL;
	bool keys_changed = false;
	int ret;
	/* A null section resets the caller's settings; the keys stay (they are
	 * ours and live in DNS: replacing them is a rotation, not a reset). */
	bool reset = in != NULL && json_is_null(in);

	if (reset)
		in = NULL;
	if (in != NULL) {
		if (!json_is_object(in))
			return mns_error_set_key(err, "dkim", "invalid_dkim",
			                         "the dkim section must be an object such as "
			                         "{\"ed25519\": true}");
		if (json_object_get(in, "selectors") != NULL ||
		    json_object_get(in, "history") != NULL)
			return mns_error_set_key(err, "dkim.selectors", "read_only_field",
			                         "dkim.selectors is managed by mailns (keys are "
			                         "generated and rotated by the daemon): only "
			                         "dkim.ed25519 and dkim.import may be set");
		ret = mns_json_check_keys(in, "dkim", allowed, err);
		if (ret != MNS_OK)
			return ret;
		const json_t *ed = json_object_get(in, "ed25519");
		if (ed != NULL && !json_is_boolean(ed) && !json_is_null(ed))
			return mns_error_set_key(
			    err, "dkim.ed25519", "invalid_dkim",
			    "dkim.ed25519 must be true or false (null reverts to "
			    "the vendor default)");
	}
	if (old != NULL && !json_is_object(old))
		old = NULL;

	sec = old != NULL ? json_deep_copy(old) : json_object();
	if (sec == NULL)
		goto nomem;
	if (reset)
		json_object_del(sec, "ed25519");
	if (in != NULL) {
		const json_t *ed = json_object_get(in, "ed25519");
		if (ed != NULL && json_is_null(ed))
			json_object_del(sec, "ed25519");
		else if (ed != NULL &&
		         json_object_set_new(sec, "ed25519", json_boolean(json_is_true(ed))) != 0)
			goto nomem;
	}

	selectors = json_object_get(sec, "selectors");
	if (selectors == NULL) {
		if (json_object_set_new(sec, "selectors", json_array()) != 0)
			goto nomem;
		selectors = json_object_get(sec, "selectors");
	} else if (!json_is_array(selectors)) {
		json_decref(sec);
		return mns_error_set_key(err, "dkim.selectors", "invalid_dkim",
		                         "the stored dkim.selectors of tenant %s is not an array",
		                         t->id);
	}

	/* "Bring your own key": the tenant's first key of its algorithm is the
	 * operator's (migrating from another provider). Read before generating
	 * anything, so a bad key costs nothing. */
	const json_t *imp = in != NULL ? json_object_get(in, "import") : NULL;
	if (imp != NULL && !json_is_null(imp)) {
		size_t pair;
		json_t *sel = selector_import(p, t, imp, &pair, err);
		if (sel == NULL)
			goto fail;
		if (has_algorithm(selectors, mns_dkim_pairs[pair].alg)) {
			json_decref(sel);
			mns_error_set_key(err, "dkim.import", "invalid_dkim",
			                  "tenant %s already has an %s key: dkim.import only "
			                  "gives a tenant its first key of an algorithm "
			                  "(replacing a key is a rotation)",
			                  t->id, mns_dkim_pairs[pair].label);
			goto fail;
		}
		if (pair == MNS_DKIM_ED25519) {
			/* An imported Ed25519 key is kept: the tenant now wants one. */
			const json_t *ed = json_object_get(in, "ed25519");
			if (json_is_false(ed)) {
				json_decref(sel);
				mns_error_set_key(err, "dkim.import", "invalid_dkim",
				                  "an Ed25519 key is imported while "
				                  "dkim.ed25519 is false");
				goto fail;
			}
			if (json_object_set_new(sec, "ed25519", json_true()) != 0) {
				json_decref(sel);
				goto nomem;
			}
		}
		if (json_array_append_new(selectors, sel) != 0)
			goto nomem;
		keys_changed = true;
	}

	/* Every tenant has an RSA key: generated on tenant.add, or on the first
	 * update after the plugin was enabled for an existing tenant. */
	if (!has_algorithm(selectors, "rsa")) {
		json_t *sel = selector_first(p, t, MNS_DKIM_RSA, err);
		if (sel == NULL)
			goto fail;
		if (json_array_append_new(selectors, sel) != 0)
			goto nomem;
		keys_changed = true;
	}

	/* Ed25519: the tenant's setting overrides the vendor's. */
	const json_t *ted = json_object_get(sec, "ed25519");
	bool want_ed = json_is_boolean(ted) ? json_is_true(ted) : conf_of(p)->ed25519;
	if (want_ed && !has_algorithm(selectors, "ed25519")) {
		json_t *sel = selector_first(p, t, MNS_DKIM_ED25519, err);
		if (sel == NULL)
			goto fail;
		if (json_array_append_new(selectors, sel) != 0)
			goto nomem;
		keys_changed = true;
	} else if (!want_ed) {
		for (size_t i = json_array_size(selectors); i-- > 0;) {
			const char *a = sel_str(json_array_get(selectors, i), "algorithm");
			if (a != NULL && strcmp(a, "ed25519") == 0) {
				const char *name =
				    sel_str(json_array_get(selectors, i), "selector");
				mns_plugin_log(p, MNS_LOG_INFO,
				               "tenant %s: Ed25519 off, withdrawing selector %s",
				               t->id, name != NULL ? name : "?");
				json_array_remove(selectors, i);
				keys_changed = true;
			}
		}
	}

	/* Keys an older version stored in the clear are sealed on the way. */
	ret = mns_dkim_seal_section(dp != NULL ? dp->skey : NULL, t->id, sec, NULL);
	if (ret != MNS_OK) {
		mns_error_set_key(err, "dkim.selectors", "invalid_dkim",
		                  "tenant %s: a stored private key cannot be sealed", t->id);
		goto fail;
	}
	if (dp != NULL) {
		/* The timer notices when the new section's next step is due (a
		 * tenant whose mutation fails later is dropped when it fires). */
		sched_set(dp, t->id, next_due(p, sec));
		if (dp->scanned)
			arm(dp);
		if (keys_changed)
			export_schedule(dp);
	}
	*out = sec;
	return MNS_OK;
nomem:
	mns_error_set(err, "out_of_memory", "dkim: out of memory");
	json_decref(sec);
	return MNS_ENOMEM;
fail:
	json_decref(sec);
	return MNS_ERROR;
}

/** In cname mode the customer CNAMEs both selectors of a pair from day one.
 *  While only one of them holds a key, the other is published as a CNAME to
 *  it so that every CNAME the customer added resolves (and the verifier sees
 *  the chain end in a key). A rotation publishes the new key's TXT record
 *  on that selector instead (the CNAME is gone while both hold keys), and the
 *  CNAME comes back, pointing the other way, once the old key is withdrawn. */
static int build_standby(const mns_tenant_ctx_t *t, const json_t *selectors,
                         const mns_dkim_pair_t *pair, mns_zone_builder_t *zb, mns_error_t *err)
{
	bool first = sel_published(selectors, pair->first);
	bool second = sel_published(selectors, pair->second);
	if (first == second)
		return MNS_OK; /* Both hold keys, or the algorithm is not used. */
	const char *standby = first ? pair->second : pair->first;
	const char *active = first ? pair->first : pair->second;
	char owner[96], target[512];
	snprintf(owner, sizeof(owner), "%s._domainkey", standby);
	int n = snprintf(target, sizeof(target), "%s._domainkey.%s.", active, t->base);
	if (n < 0 || (size_t)n >= sizeof(target))
		return mns_error_set(err, "invalid_dkim", "name too long: %s._domainkey.%s", active,
		                     t->base);
	return mns_zb_add_cname(zb, owner, t->ttl, target, err);
}

static int dkim_tenant_build(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                             mns_zone_builder_t *zb, mns_error_t *err)
{
	const json_t *selectors = json_object_get(section, "selectors");
	const json_t *sel;
	size_t i;
	int ret = MNS_OK;

	dkim_state_t *dp = state_of(p);
	if (dp != NULL && dp->loop != NULL) {
		/* Every stored tenant is built at start-up and reload: its step is
		 * scheduled here, from the document already parsed, so the timer
		 * needs no scan of the store (seconds with a million tenants). */
		sched_set(dp, t->id, next_due(p, section));
		migrate_note(dp, t->id, section);
		dp->built = true;
	}
	if (!json_is_array(selectors))
		return MNS_OK; /* Nothing generated yet. */

	json_array_foreach(selectors, i, sel)
	{
		const char *name = sel_str(sel, "selector");
		const char *alg = sel_str(sel, "algorithm");
		const char *pub = sel_str(sel, "public");
		if (!state_published(sel_str(sel, "state")))
			continue;
		if (!selector_ok(name))
			return mns_error_set_key(
			    err, "dkim.selectors", "invalid_dkim",
			    "tenant %s: stored selector name '%s' is not a DNS "
			    "label",
			    t->id, name ? name : "(none)");
		if (mns_dkim_pair_of(alg) < 0)
			return mns_error_set_key(
			    err, "dkim.selectors", "invalid_dkim",
			    "tenant %s: selector %s has unknown algorithm '%s'", t->id, name,
			    alg ? alg : "(none)");
		if (!base64_ok(pub))
			return mns_error_set_key(err, "dkim.selectors", "invalid_dkim",
			                         "tenant %s: selector %s has no valid public key",
			                         t->id, name);

		/* Pieces copied rather than printed, the text in a stack buffer
		 * when it fits (RSA-4096 does): every stored tenant passes here at
		 * start-up. The name is a checked label (at most 63 octets) and
		 * the algorithm a known one. */
		static const char dk[] = "._domainkey", v[] = "v=DKIM1; k=", p_[] = "; p=";
		char owner[96];
		size_t nl = strlen(name);
		memcpy(owner, name, nl);
		memcpy(owner + nl, dk, sizeof(dk));
		size_t al = strlen(alg), pl = strlen(pub);
		size_t len = sizeof(v) - 1 + al + sizeof(p_) - 1 + pl + 1;
		char stack[1024];
		char *text = len <= sizeof(stack) ? stack : malloc(len);
		if (text == NULL) {
			mns_error_set(err, "out_of_memory", "dkim: out of memory");
			return MNS_ENOMEM;
		}
		char *w = text;
		memcpy(w, v, sizeof(v) - 1);
		w += sizeof(v) - 1;
		memcpy(w, alg, al);
		w += al;
		memcpy(w, p_, sizeof(p_) - 1);
		w += sizeof(p_) - 1;
		memcpy(w, pub, pl + 1);
		ret = mns_zb_add_txt(zb, owner, t->ttl, text, err);
		if (text != stack)
			free(text);
		if (ret != MNS_OK)
			return ret;
	}

	if (t->mode == MNS_MODE_CNAME) {
		for (size_t k = 0; k < MNS_DKIM_NPAIRS; k++) {
			ret = build_standby(t, selectors, &mns_dkim_pairs[k], zb, err);
			if (ret != MNS_OK)
				return ret;
		}
	}
	return MNS_OK;
}

static int dkim_tenant_instructions(mns_plugin_t *p, const mns_tenant_ctx_t *t,
                                    const json_t *section, mns_instructions_t *ins,
                                    mns_error_t *err)
{
	const json_t *selectors = json_object_get(section, "selectors");

	if (t->mode != MNS_MODE_CNAME)
		return MNS_OK; /* ns mode: the delegation covers everything. */

	for (size_t k = 0; k < MNS_DKIM_NPAIRS; k++) {
		const mns_dkim_pair_t *pair = &mns_dkim_pairs[k];
		/* RSA is always there; Ed25519 only while the tenant has such keys. */
		if (k != MNS_DKIM_RSA && !has_algorithm(selectors, pair->alg))
			continue;
		const char *sels[2] = {pair->first, pair->second};
		for (size_t j = 0; j < 2; j++) {
			char name[512], value[512], purpose[128];
			int n1 =
			    snprintf(name, sizeof(name), "%s._domainkey.%s", sels[j], t->domain);
			int n2 =
			    snprintf(value, sizeof(value), "%s._domainkey.%s", sels[j], t->base);
			if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(name) ||
			    (size_t)n2 >= sizeof(value))
				return mns_error_set(err, "invalid_dkim", "name too long");
			snprintf(purpose, sizeof(purpose), "DKIM public key (%s), selector %s",
			         pair->label, sels[j]);
			int ret = mns_instr_add(ins, name, "CNAME", value, true, purpose);
			if (ret != MNS_OK) {
				mns_error_set(err, "out_of_memory",
				              "dkim: cannot add instructions");
				return ret;
			}
		}
	}
	return MNS_OK;
}

static json_t *dkim_tenant_public(mns_plugin_t *p, const json_t *section)
{
	json_t *pub = json_deep_copy(section);
	json_t *selectors = json_object_get(pub, "selectors");
	json_t *sel;
	size_t i;

	if (pub == NULL)
		return json_object();
	json_array_foreach(selectors, i, sel)
	{
		json_object_del(sel, "private");
		json_object_del(sel, "sealed"); /* Useless without the key: not shown either. */
	}
	return pub;
}

/* --- Rotation driver ----------------------------------------------------------- */

/** Supplies keys to publish steps from the timer: from the pool; without a
 *  pool, at most one generated on the loop per tick (the next tick follows
 *  at once, so other events run in between). */
static json_t *tick_key(void *data, size_t pair, int64_t now)
{
	dkim_state_t *dp = data;
	mns_error_t err = {0};
	json_t *sel;
	/* The key is sealed for the selector it goes to: the pair's publish step
	 * (mns_dkim_catch_up asks for a key just before applying it). */
	mns_dkim_policy_t pol = policy_of(dp->p);
	mns_dkim_step_t st = mns_dkim_pair_next(dp->cur_sec, pair, &pol);
	const char *tenant = dp->cur_tenant, *name = st.selector;
	if (tenant == NULL || st.kind != MNS_DKIM_PUBLISH) {
		mns_plugin_log(dp->p, MNS_LOG_ERR, "rotation: no publish step to seal a key for");
		return NULL;
	}

	if (pair == MNS_DKIM_ED25519) /* Microseconds: always on the spot. */
		return key_new(dp->p, pair, now, true, tenant, name, &err);
	sel = key_new(dp->p, pair, now, false, tenant, name, &err);
	if (sel != NULL)
		return sel;
	if (dp->conf.pool_size > 0 && dp->loop != NULL) {
		dp->waiting_key = true; /* pool_ready() ticks again. */
		return NULL;
	}
	if (dp->sync_used) {
		dp->more_sync = true;
		return NULL;
	}
	dp->sync_used = true;
	sel = key_new(dp->p, pair, now, true, tenant, name, &err);
	if (sel == NULL)
		mns_plugin_log(dp->p, MNS_LOG_ERR, "%s", err.message);
	return sel;
}

static void step_event(dkim_state_t *dp, const char *tenant, const mns_dkim_step_t *st, int64_t now)
{
	static const char *const verbs[] = {"", "withdrawn", "activated", "published"};
	mns_plugin_log(dp->p, MNS_LOG_NOTICE, "tenant %s: %s key on selector %s %s", tenant,
	               mns_dkim_pairs[st->pair].label, st->selector, verbs[st->kind]);
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:I}", "tenant", tenant, "step",
	                       mns_dkim_step_name(st->kind), "selector", st->selector, "algorithm",
	                       mns_dkim_pairs[st->pair].alg, "at", (json_int_t)now);
	if (ev != NULL)
		mns_plugin_event(dp->p, "rotation", ev);
	json_decref(ev);
}

/** Applies every step of tenant \a id that is due at \a now, in one durable
 *  update, and reschedules it. */
static void process_tenant(dkim_state_t *dp, const char *id, int64_t now)
{
	mns_plugin_t *p = dp->p;
	json_t *doc = mns_plugin_tenant_get(p, id);
	json_t *sec = NULL;
	mns_dkim_policy_t pol = policy_of(p);
	mns_dkim_step_t done[4 * MNS_DKIM_NPAIRS];
	mns_error_t err = {0};

	if (doc == NULL || !json_is_object(json_object_get(doc, "dkim"))) {
		sched_set(dp, id, INT64_MAX); /* Removed, or no keys. */
		goto out;
	}
	sec = json_deep_copy(json_object_get(doc, "dkim"));
	json_decref(doc); /* Holds private keys: drop it at once. */
	doc = NULL;
	if (sec == NULL) {
		sched_set(dp, id, now + 60);
		goto out;
	}
	dp->cur_tenant = id;
	dp->cur_sec = sec;
	size_t n =
	    mns_dkim_catch_up(sec, &pol, now, tick_key, dp, done, sizeof(done) / sizeof(done[0]));
	dp->cur_tenant = NULL;
	dp->cur_sec = NULL;
	if (n > 0 && mns_dkim_seal_section(dp->skey, id, sec, NULL) != MNS_OK) {
		mns_plugin_log(p, MNS_LOG_ERR,
		               "tenant %s: a stored private key cannot be sealed, retrying in 60 s",
		               id);
		sched_set(dp, id, now + 60);
		goto out;
	}
	if (n > 0) {
		int ret = mns_plugin_tenant_set_section(p, id, sec, &err);
		if (ret == MNS_ENOENT) {
			sched_set(dp, id, INT64_MAX);
			goto out;
		}
		if (ret != MNS_OK) {
			/* Nothing was applied: the same steps are tried again. */
			mns_plugin_log(p, MNS_LOG_ERR,
			               "tenant %s: rotation step not stored (%s), retrying in 60 s",
			               id, err.message);
			sched_set(dp, id, now + 60);
			goto out;
		}
		bool export = false;
		for (size_t i = 0; i < n && i < sizeof(done) / sizeof(done[0]); i++) {
			step_event(dp, id, &done[i], now);
			export = export || done[i].kind != MNS_DKIM_PUBLISH;
		}
		if (export)
			export_schedule(dp);
	}
	sched_set(dp, id, next_due(p, sec));
out:
	json_decref(doc);
	json_decref(sec);
}

/* --- Migration: keys stored in the clear by older versions --------------------- */

static void migrate_run(dkim_state_t *dp);

static void migrate_tick(mns_plugin_t *p, void *data)
{
	dkim_state_t *dp = data;
	dp->migrate_timer = NULL;
	migrate_run(dp);
}

/** Seals tenant \a id's keys in one durable write (no zone change: the
 *  records do not depend on how the private key is stored). */
static void migrate_one(dkim_state_t *dp, const char *id)
{
	mns_error_t err = {0};
	size_t n = 0;
	json_t *doc = mns_plugin_tenant_get(dp->p, id);
	json_t *sec = doc != NULL ? json_deep_copy(json_object_get(doc, "dkim")) : NULL;
	json_decref(doc);
	if (sec == NULL)
		return; /* Removed meanwhile. */
	int ret = mns_dkim_seal_section(dp->skey, id, sec, &n);
	if (ret == MNS_OK && n > 0)
		ret = mns_plugin_tenant_save_state(dp->p, id, sec, &err);
	if (ret == MNS_OK) {
		dp->migrated_keys += n;
		dp->migrated_tenants += n > 0;
	} else {
		mns_plugin_log(dp->p, MNS_LOG_ERR,
		               "tenant %s: private keys stored in the clear not sealed (%s); tried "
		               "again at the next start",
		               id, err.message[0] ? err.message : "invalid stored selector");
	}
	json_decref(sec);
}

/** Seals up to TICK_TENANTS tenants, then lets the loop breathe. */
static void migrate_run(dkim_state_t *dp)
{
	for (size_t done = 0; dp->n_migrate > 0 && done < TICK_TENANTS; done++)
		migrate_one(dp, dp->migrate[--dp->n_migrate]);
	if (dp->n_migrate > 0 && dp->loop != NULL) {
		dp->migrate_timer = mns_plugin_timer_start(dp->p, 0, 0, migrate_tick, dp);
		if (dp->migrate_timer != NULL)
			return;
		dp->n_migrate = 0; /* Left for the next start. */
	}
	free(dp->migrate);
	dp->migrate = NULL;
	dp->cap_migrate = 0;
	if (dp->migrated_keys > 0)
		mns_plugin_log(dp->p, MNS_LOG_NOTICE,
		               "store: %zu private keys of %zu tenants sealed with %s (an older "
		               "version stored them in the clear)",
		               dp->migrated_keys, dp->migrated_tenants, dp->skey_path);
	dp->migrated_keys = dp->migrated_tenants = 0;
}

typedef struct scan_state {
	dkim_state_t *dp;
	size_t n;
} scan_state_t;

static bool scan_one(mns_plugin_t *p, const char *tenant, const json_t *doc, void *data)
{
	scan_state_t *st = data;
	st->n++;
	migrate_note(st->dp, tenant, json_object_get(doc, "dkim"));
	sched_set(st->dp, tenant, next_due(p, json_object_get(doc, "dkim")));
	return true;
}

/** Schedules every stored tenant from its stored timestamps. */
static void scan(dkim_state_t *dp)
{
	scan_state_t st = {dp, 0};
	mns_dkim_sched_clear(dp->sched);
	migrate_reset(dp);
	if (mns_plugin_tenant_foreach(dp->p, scan_one, &st) != MNS_OK) {
		mns_plugin_log(dp->p, MNS_LOG_ERR, "cannot read the tenants to schedule rotations");
		return;
	}
	mns_dkim_policy_t pol = policy_of(dp->p);
	int64_t now = (int64_t)time(NULL);
	size_t due = mns_dkim_sched_count_due(dp->sched, now);
	mns_plugin_log(dp->p, MNS_LOG_INFO,
	               "rotation: tenants=%zu scheduled=%zu due=%zu period=%llds lead=%llds "
	               "hold=%llds pool=%zu",
	               st.n, mns_dkim_sched_count(dp->sched), due, (long long)pol.period, (long long)pol.lead,
	               (long long)pol.hold, dp->conf.pool_size);
}

static void rot_tick(mns_plugin_t *p, void *data)
{
	dkim_state_t *dp = data;
	dp->timer = NULL; /* One-shot: the core frees it after this call. */
	if (!dp->scanned) {
		if (!dp->built)
			scan(dp);
		dp->scanned = true;
		if (dp->n_migrate > 0)
			migrate_run(dp);
		dp->export_fp_valid = false;
		export_schedule(dp);
	}
	int64_t now = (int64_t)time(NULL);
	dp->waiting_key = false;
	dp->sync_used = false;
	dp->more_sync = false;
	/* Copy the due ids: processing changes the schedule. Each tenant is a
	 * durable write: at most TICK_TENANTS per run, the rest in the next run
	 * (at once), so other events on the loop are served in between. */
	size_t n = 0;
	char due[TICK_TENANTS][64];
	const char *id;
	int64_t at;
	/* The earliest first; each is taken out and process_tenant() schedules
	 * it again (or drops it). */
	while (n < TICK_TENANTS && mns_dkim_sched_first(dp->sched, &id, &at) && at <= now) {
		snprintf(due[n++], sizeof(due[0]), "%s", id);
		mns_dkim_sched_set(dp->sched, due[n - 1], INT64_MAX);
	}
	for (size_t i = 0; i < n; i++)
		process_tenant(dp, due[i], now);
	arm(dp);
}

static void pool_ready(void *data)
{
	dkim_state_t *dp = data;
	if (dp->waiting_key) {
		dp->waiting_key = false;
		timer_set(dp, now_ms());
	}
}

/* --- Commands --------------------------------------------------------------- */

static int arg_tenant(const json_t *args, const char *cmd, bool required, const char **id,
                      mns_error_t *err)
{
	const json_t *jid = json_object_get(args, "tenant");
	*id = NULL;
	if (jid == NULL) {
		if (!required)
			return MNS_OK;
		return mns_error_set_key(err, "tenant", "missing_field",
		                         "%s needs \"tenant\": the tenant id", cmd);
	}
	*id = json_string_value(jid);
	if (*id == NULL)
		return mns_error_set_key(err, "tenant", "invalid_type",
		                         "\"tenant\" must be a string (the tenant id)");
	return MNS_OK;
}

static json_t *load_tenant(mns_plugin_t *p, const char *id, mns_error_t *err)
{
	json_t *doc = mns_plugin_tenant_get(p, id);
	if (doc == NULL)
		mns_error_set_key(err, "tenant", "unknown_tenant", "no tenant '%s'", id);
	return doc;
}

/** The public view of a section for dkim.keys and dkim.rotate. */
static json_t *keys_view(mns_plugin_t *p, const char *id, const json_t *sec)
{
	mns_dkim_policy_t pol = policy_of(p);
	json_t *pub = json_is_object(sec) ? dkim_tenant_public(p, sec) : json_object();
	json_t *selectors = json_object_get(pub, "selectors");
	json_t *hist = json_object_get(pub, "history");
	json_t *res = json_pack("{s:s, s:o, s:o, s:{s:I, s:I, s:I}}", "tenant", id, "selectors",
	                        json_is_array(selectors) ? json_incref(selectors) : json_array(),
	                        "withdrawn", json_is_array(hist) ? json_incref(hist) : json_array(),
	                        "policy", "period", (json_int_t)pol.period, "lead",
	                        (json_int_t)pol.lead, "hold", (json_int_t)pol.hold);
	json_t *next = json_array();
	for (size_t k = 0; res != NULL && next != NULL && k < MNS_DKIM_NPAIRS; k++) {
		mns_dkim_step_t st = mns_dkim_pair_next(sec, k, &pol);
		if (st.kind == MNS_DKIM_NONE)
			continue;
		json_array_append_new(
		    next, json_pack("{s:s, s:s, s:s, s:I}", "step", mns_dkim_step_name(st.kind),
		                    "selector", st.selector, "algorithm", mns_dkim_pairs[k].alg,
		                    "at", (json_int_t)st.at));
	}
	if (res != NULL && next != NULL)
		json_object_set_new(res, "next", next);
	else
		json_decref(next);
	json_decref(pub);
	return res;
}

static int cmd_keys(mns_plugin_t *p, const json_t *args, json_t **result, mns_error_t *err)
{
	const char *id;
	int ret = arg_tenant(args, "dkim.keys", true, &id, err);
	if (ret != MNS_OK)
		return ret;
	json_t *doc = load_tenant(p, id, err);
	if (doc == NULL)
		return MNS_ENOENT;
	*result = keys_view(p, id, json_object_get(doc, "dkim"));
	json_decref(doc); /* Holds private keys: drop it at once. */
	if (*result == NULL) {
		mns_error_set(err, "out_of_memory", "dkim: out of memory");
		return MNS_ENOMEM;
	}
	return MNS_OK;
}

static int cmd_rotate(mns_plugin_t *p, const json_t *args, json_t **result, mns_error_t *err)
{
	static const char *const allowed[] = {"tenant", "algorithm", NULL};
	dkim_state_t *dp = state_of(p);
	const char *id, *alg = NULL;
	json_t *doc = NULL, *sec = NULL;
	mns_dkim_step_t steps[MNS_DKIM_NPAIRS];
	size_t n = 0;
	int ret = arg_tenant(args, "dkim.rotate", true, &id, err);

	if (ret == MNS_OK)
		ret = mns_json_check_keys(args, "args", allowed, err);
	if (ret != MNS_OK)
		return ret;
	const json_t *jalg = json_object_get(args, "algorithm");
	if (jalg != NULL && (alg = json_string_value(jalg), mns_dkim_pair_of(alg) < 0))
		return mns_error_set_key(err, "algorithm", "invalid_dkim",
		                         "algorithm must be \"rsa\" or \"ed25519\" (absent: every "
		                         "algorithm the tenant has)");
	if ((doc = load_tenant(p, id, err)) == NULL)
		return MNS_ENOENT;
	sec = json_deep_copy(json_object_get(doc, "dkim"));
	json_decref(doc);
	if (!json_is_object(sec)) {
		json_decref(sec);
		return mns_error_set_key(err, "tenant", "invalid_dkim",
		                         "tenant %s has no DKIM keys yet", id);
	}

	int64_t now = (int64_t)time(NULL);
	mns_dkim_policy_t pol = policy_of(p);
	for (size_t k = 0; k < MNS_DKIM_NPAIRS; k++) {
		if (alg != NULL
		        ? strcmp(alg, mns_dkim_pairs[k].alg) != 0
		        : !has_algorithm(json_object_get(sec, "selectors"), mns_dkim_pairs[k].alg))
			continue;
		char why[400];
		if (mns_dkim_rotate_check(sec, k, now, &pol, &steps[n], why, sizeof(why)) !=
		    MNS_OK) {
			json_decref(sec);
			return mns_error_set_key(err, "tenant", "rotation_in_progress",
			                         "tenant %s: %s", id, why);
		}
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *key = key_new(p, steps[i].pair, now, true, id, steps[i].selector, err);
		if (key == NULL || mns_dkim_step_apply(sec, &steps[i], key, now) != MNS_OK) {
			json_decref(sec);
			if (err->code[0] == '\0')
				mns_error_set(err, "internal", "dkim: cannot apply the rotation");
			return MNS_ERROR;
		}
	}
	ret = mns_dkim_seal_section(dp != NULL ? dp->skey : NULL, id, sec, NULL);
	if (ret != MNS_OK) {
		json_decref(sec);
		return mns_error_set(err, "internal", "dkim: a stored private key cannot be sealed");
	}
	ret = mns_plugin_tenant_set_section(p, id, sec, err);
	if (ret != MNS_OK) {
		json_decref(sec);
		return ret;
	}
	for (size_t i = 0; i < n; i++)
		step_event(dp, id, &steps[i], now);
	if (dp != NULL) {
		sched_set(dp, id, next_due(p, sec));
		if (dp->scanned)
			arm(dp);
	}
	*result = keys_view(p, id, sec);
	json_decref(sec);
	return MNS_OK;
}

/** Groups the sorted entries by domain for dkim.export. */
static json_t *export_domains(const json_t *entries)
{
	json_t *domains = json_array(), *cur = NULL;
	const json_t *e;
	size_t i;
	json_array_foreach(entries, i, e)
	{
		const char *domain = json_string_value(json_object_get(e, "domain"));
		if (cur == NULL ||
		    strcmp(json_string_value(json_object_get(cur, "domain")), domain) != 0) {
			cur = json_pack("{s:O, s:O, s:O, s:[]}", "domain",
			                json_object_get(e, "domain"), "tenant",
			                json_object_get(e, "tenant"), "mode",
			                json_object_get(e, "mode"), "keys");
			if (cur == NULL || json_array_append_new(domains, cur) != 0) {
				json_decref(domains);
				return NULL;
			}
		}
		json_t *k = json_pack(
		    "{s:O, s:O, s:O, s:O, s:O, s:O}", "selector", json_object_get(e, "selector"),
		    "algorithm", json_object_get(e, "algorithm"), "bits",
		    json_object_get(e, "bits"), "activated", json_object_get(e, "activated"),
		    "file", json_object_get(e, "file"), "private", json_object_get(e, "private"));
		if (k == NULL || json_array_append_new(json_object_get(cur, "keys"), k) != 0) {
			json_decref(domains);
			return NULL;
		}
	}
	return domains;
}

static int cmd_export(mns_plugin_t *p, const json_t *args, json_t **result, mns_error_t *err)
{
	static const char *const allowed[] = {"tenant", "dir", NULL};
	const dkim_conf_t *c = conf_of(p);
	const char *id, *dir = NULL;
	json_t *entries = NULL;
	mns_dkim_tables_t t = {0};
	int ret = arg_tenant(args, "dkim.export", false, &id, err);

	if (ret == MNS_OK)
		ret = mns_json_check_keys(args, "args", allowed, err);
	if (ret != MNS_OK)
		return ret;
	const json_t *jdir = json_object_get(args, "dir");
	if (jdir != NULL) {
		dir = json_string_value(jdir);
		if (dir == NULL || dir[0] != '/' || strchr(dir, '\n') != NULL)
			return mns_error_set_key(
			    err, "dir", "invalid_type",
			    "\"dir\" must be an absolute path: where the MTA "
			    "finds the key files (keys/<domain>.<selector>.pem)");
	}
	if (dir == NULL)
		dir = c->export_dir[0] != '\0' ? c->export_dir : DEFAULT_EXPORT_PATH;

	dkim_state_t *dp = state_of(p);
	entries = json_array();
	if (entries == NULL)
		goto nomem;
	collect_state_t cs = {dp != NULL ? dp->skey : NULL, false, entries, 0};
	if (id != NULL) {
		json_t *doc = load_tenant(p, id, err);
		if (doc == NULL) {
			json_decref(entries);
			return MNS_ENOENT;
		}
		ret = mns_dkim_export_collect(doc, false, cs.skey, entries, &cs.unopened);
		json_decref(doc);
	} else {
		ret = mns_plugin_tenant_foreach(p, collect_one, &cs);
	}
	log_unopened(p, cs.unopened, dp != NULL ? dp->skey_path : "");
	if (ret != MNS_OK) {
		json_decref(entries);
		return mns_error_set(err, "store_failed", "dkim.export: cannot read the tenants");
	}
	mns_dkim_export_sort(entries);
	json_t *domains = export_domains(entries);
	if (domains == NULL || mns_dkim_tables_build(entries, dir, &t) != MNS_OK) {
		json_decref(domains);
		goto nomem;
	}
	*result = json_pack("{s:o, s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "domains", domains, "dir",
	                    dir, "opendkim", "keytable", t.keytable, "signingtable", t.signingtable,
	                    "rspamd", "selector_map", t.selector_map, "path_map", t.path_map);
	mns_dkim_tables_free(&t);
	json_decref(entries);
	if (*result == NULL) {
		mns_error_set(err, "out_of_memory", "dkim: out of memory");
		return MNS_ENOMEM;
	}
	mns_plugin_log(p, MNS_LOG_NOTICE, "dkim.export: private keys of %s handed out",
	               id != NULL ? id : "every tenant");
	/* The core serialises and sends the reply after this returns: clear the
	 * stack once that is done, on the loop's next turn. */
	if (mns_plugin_uv_loop(p) != NULL)
		(void)mns_plugin_timer_start(p, 0, 0, scrub_tick, NULL);
	return MNS_OK;
nomem:
	json_decref(entries);
	mns_error_set(err, "out_of_memory", "dkim: out of memory");
	return MNS_ENOMEM;
}

static int cmd_status(mns_plugin_t *p, const json_t *args, json_t **result, mns_error_t *err)
{
	dkim_state_t *dp = state_of(p);
	mns_dkim_pool_stats_t st;
	mns_dkim_policy_t pol = policy_of(p);
	const char *next_id = NULL;
	int64_t next_at = 0;

	mns_dkim_pool_stats(dp->pool, &st);
	bool next = mns_dkim_sched_first(dp->sched, &next_id, &next_at);
	*result = json_pack(
	    "{s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:o, s:{s:I, s:I, s:I}, s:s}", "pool", "size",
	    (json_int_t)st.size, "available", (json_int_t)st.available, "in_flight",
	    (json_int_t)st.in_flight, "generated", (json_int_t)st.generated, "taken",
	    (json_int_t)st.taken, "scheduled", (json_int_t)mns_dkim_sched_count(dp->sched), "next",
	    next ? json_pack("{s:s, s:I}", "tenant", next_id, "at", (json_int_t)next_at)
	                 : json_null(),
	    "policy", "period", (json_int_t)pol.period, "lead", (json_int_t)pol.lead, "hold",
	    (json_int_t)pol.hold, "export_dir", dp->conf.export_dir);
	if (*result == NULL) {
		mns_error_set(err, "out_of_memory", "dkim: out of memory");
		return MNS_ENOMEM;
	}
	return MNS_OK;
}

static const mns_plugin_command_t dkim_commands[] = {
    {"dkim.keys", cmd_keys,
     "a tenant's DKIM selectors with state, timestamps and public keys (never private): "
     "{\"tenant\": id}"},
    {"dkim.rotate", cmd_rotate,
     "starts a key rotation now: publishes a new key on the free selector: "
     "{\"tenant\": id, \"algorithm\": \"rsa\"|\"ed25519\" (optional)}"},
    {"dkim.status", cmd_status,
     "the key pool, the rotation schedule (the next step due) and the timing in effect"},
    {"dkim.export", cmd_export,
     "the active private keys for the MTA, with OpenDKIM tables and rspamd maps: "
     "{\"tenant\": id (optional: every tenant), \"dir\": key path (optional)}"},
    {NULL, NULL, NULL},
};

MNS_PLUGIN(dkim) = {
    .abi_major = MNS_PLUGIN_ABI_MAJOR,
    .abi_minor = MNS_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(mns_plugin_api_t),
    .name = "dkim",
    .version = "0.2.0",
    .summary = "DKIM keys (RSA, optionally Ed25519) per tenant: rotation and MTA export",
    .schema = dkim_schema,
    .init = dkim_init,
    .configure = dkim_configure,
    .fini = dkim_fini,
    .tenant_check = dkim_tenant_check,
    .tenant_build = dkim_tenant_build,
    .tenant_instructions = dkim_tenant_instructions,
    .tenant_public = dkim_tenant_public,
    .commands = dkim_commands,
    .stop = dkim_stop,
};
