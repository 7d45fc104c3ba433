/*  dkim — internal interfaces between the plugin's files (not a public API).
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  rotation.c  the key lifecycle as pure functions of a dkim section and "now"
 *  keys.c      key generation (OpenSSL) and the background pool of RSA keys
 *  export.c    the active keys for the MTA: OpenDKIM tables, rspamd maps,
 *              the atomically rewritten export directory
 *  seal.c      private keys sealed at rest (AES-256-GCM under the store key)
 *  dkim.c      the plugin: hooks, timers, control commands
 */
#ifndef MNS_DKIM_INTERNAL_H
#define MNS_DKIM_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "mailns/plugin.h"

/* --- Selector pairs ----------------------------------------------------------- */

/** A selector pair: the two selectors one algorithm alternates between. */
typedef struct mns_dkim_pair {
	const char *alg;            /**< "rsa" or "ed25519" (the stored "algorithm", DKIM k=). */
	const char *first, *second; /**< "s1"/"s2", "e1"/"e2". */
	const char *label;          /**< For humans: "RSA", "Ed25519". */
} mns_dkim_pair_t;

#define MNS_DKIM_NPAIRS 2
#define MNS_DKIM_RSA 0
#define MNS_DKIM_ED25519 1

/** The pairs, RSA first. */
extern const mns_dkim_pair_t mns_dkim_pairs[MNS_DKIM_NPAIRS];

/** \brief The pair \a alg belongs to. \return its index, or -1 if unknown. */
int mns_dkim_pair_of(const char *alg);

/* --- rotation.c: the lifecycle ----------------------------------------------- */

/** Rotation timing, in seconds. */
typedef struct mns_dkim_policy {
	int64_t period; /**< Time a key is the signing key; 0 = no automatic rotation. */
	int64_t lead;   /**< Time a new key is published before it signs (>= 1). */
	int64_t hold;   /**< Time a retired key stays published (>= 1). */
} mns_dkim_policy_t;

/** What happens next to a pair. */
typedef enum mns_dkim_step_kind {
	MNS_DKIM_NONE = 0, /**< Nothing scheduled. */
	MNS_DKIM_WITHDRAW, /**< The retired key leaves the DNS and is deleted. */
	MNS_DKIM_ACTIVATE, /**< The published key signs; the active one retires. */
	MNS_DKIM_PUBLISH,  /**< A new key is published on the free selector. */
} mns_dkim_step_kind_t;

/** One step of one pair. */
typedef struct mns_dkim_step {
	mns_dkim_step_kind_t kind;
	size_t pair; /**< Index into mns_dkim_pairs. */
	/** withdraw: the retired selector; activate: the published one; publish:
	 *  the free selector that gets the new key. */
	char selector[8];
	int64_t at; /**< When it is due (unix seconds). */
} mns_dkim_step_t;

/** \brief "withdraw", "activate", "publish" or "none". */
const char *mns_dkim_step_name(mns_dkim_step_kind_t kind);

/** \brief A stored timestamp of a selector: \a key ("published",
 *  "activated", …), falling back to "created" for published/activated (keys
 *  stored before rotation existed carry only "created"). \return 0 if none. */
int64_t mns_dkim_sel_time(const json_t *sel, const char *key);

/** \brief The next step of pair \a pair of section \a sec (due or not).
 *  At most one step is pending per pair: withdraw a retired key (retired +
 *  hold), else activate a published key (published + lead), else publish a
 *  new key (activated + period - lead, only with period > 0). */
mns_dkim_step_t mns_dkim_pair_next(const json_t *sec, size_t pair, const mns_dkim_policy_t *pol);

/** \brief The earliest step over all pairs; kind MNS_DKIM_NONE if none. */
mns_dkim_step_t mns_dkim_next_step(const json_t *sec, const mns_dkim_policy_t *pol);

/** \brief Applies \a st to \a sec in place at time \a now, after checking that
 *  it matches the section's state (a stale or repeated step is refused, so
 *  applying the same step twice changes nothing). For MNS_DKIM_PUBLISH,
 *  \a key is the new selector object (stolen, also on failure): its
 *  "selector" is set, state "published", "published" = now. Withdrawn keys
 *  move to "history" without their key material (the last
 *  MNS_DKIM_HISTORY_MAX are kept). \return MNS_OK or MNS_EINVAL. */
int mns_dkim_step_apply(json_t *sec, const mns_dkim_step_t *st, json_t *key, int64_t now);

#define MNS_DKIM_HISTORY_MAX 8

/** Supplies a new key for a publish step: a selector object with
 *  "algorithm", "bits", "created", "public", "sealed" (new reference), or
 *  NULL when none is available right now. */
typedef json_t *(*mns_dkim_key_cb)(void *data, size_t pair, int64_t now);

/** \brief Applies, in time order, every step of \a sec due at \a now (the
 *  restart catch-up and the timer both use it). Every step is stamped with
 *  \a now, the time it really happens, so a catch-up never activates a key
 *  that has not been in the DNS for the full lead time. Stops early when a
 *  publish step gets no key from \a keys (may be NULL: publish steps then
 *  wait). \a done (may be NULL) gets the steps applied, in order, up to
 *  \a max. \return the number of steps applied. */
size_t mns_dkim_catch_up(json_t *sec, const mns_dkim_policy_t *pol, int64_t now,
                         mns_dkim_key_cb keys, void *data, mns_dkim_step_t *done, size_t max);

/** \brief Checks that pair \a pair can start a rotation now (dkim.rotate):
 *  it has an active key and no published or retired one. On success \a st is
 *  the publish step (at = \a now). Otherwise \a why says why not and when it
 *  will be possible. \return MNS_OK or MNS_EINVAL. */
int mns_dkim_rotate_check(const json_t *sec, size_t pair, int64_t now, const mns_dkim_policy_t *pol,
                          mns_dkim_step_t *st, char *why, size_t len);

/* --- rotation.c: the schedule ------------------------------------------------ */

/** When each tenant's next rotation step is due: a binary min-heap on the
 *  time with a hash index by tenant id, so that setting, removing and
 *  finding the earliest step cost O(log N) (O(1) for the earliest) with a
 *  million tenants. */
typedef struct mns_dkim_sched mns_dkim_sched_t;

/** \brief A new, empty schedule. \return NULL on OOM. */
mns_dkim_sched_t *mns_dkim_sched_new(void);
/** \brief Frees \a s (NULL is fine). */
void mns_dkim_sched_free(mns_dkim_sched_t *s);
/** \brief Removes every entry. */
void mns_dkim_sched_clear(mns_dkim_sched_t *s);
/** \brief Sets tenant \a id's next step to \a due; INT64_MAX removes it. Ids
 *  of 64 octets or more are not scheduled. \return MNS_OK or MNS_ENOMEM. */
int mns_dkim_sched_set(mns_dkim_sched_t *s, const char *id, int64_t due);
/** \brief Tenant \a id's next step time, INT64_MAX when it has none. */
int64_t mns_dkim_sched_get(const mns_dkim_sched_t *s, const char *id);
/** \brief The earliest entry: its id (valid until the next change) and time.
 *  \return false when the schedule is empty. */
bool mns_dkim_sched_first(const mns_dkim_sched_t *s, const char **id, int64_t *due);
/** \brief Entries in the schedule. */
size_t mns_dkim_sched_count(const mns_dkim_sched_t *s);
/** \brief Entries due at or before \a now (a walk over all: for logs). */
size_t mns_dkim_sched_count_due(const mns_dkim_sched_t *s, int64_t now);

/* --- keys.c: key generation and the pool -------------------------------------- */

/** A generated key pair, encoded. \a priv is wiped when freed. */
typedef struct mns_dkim_key {
	char *pub;  /**< base64 of what DKIM's p= carries. */
	char *priv; /**< PEM PKCS#8, NUL-terminated. */
	size_t priv_len;
	int bits;
	bool ed25519;
} mns_dkim_key_t;

/** \brief Generates a key: Ed25519, or RSA of \a bits. \a stop (may be NULL)
 *  aborts an RSA generation early when it becomes true. \return MNS_OK,
 *  MNS_ERROR (generation failed or stopped) or MNS_ENOMEM. */
int mns_dkim_keygen(bool ed25519, int bits, atomic_bool *stop, mns_dkim_key_t *out);

/** Key sizes mailns accepts for RSA, generated (rsa-bits) or imported. */
#define MNS_DKIM_RSA_MIN 1024
#define MNS_DKIM_RSA_MAX 4096
/** Longest PEM text dkim.import takes (an RSA-4096 PKCS#1 key is ~3.3 kB). */
#define MNS_DKIM_IMPORT_MAX 16384

/** \brief Reads an operator's private key ("bring your own key"): \a len
 *  octets of unencrypted PEM, PKCS#8 or PKCS#1, RSA of MNS_DKIM_RSA_MIN to
 *  MNS_DKIM_RSA_MAX bits or Ed25519, whose public and private parts match.
 *  \a out gets it as mns_dkim_keygen() would (private key re-encoded as
 *  PKCS#8 in the secure heap). On failure \a why (\a wlen octets) says
 *  why in words that never quote the input. \return MNS_OK, MNS_EINVAL or
 *  MNS_ENOMEM. */
int mns_dkim_key_import(const char *pem, size_t len, mns_dkim_key_t *out, char *why, size_t wlen);

/** \brief Wipes the private key and frees both strings. */
void mns_dkim_key_wipe(mns_dkim_key_t *k);

struct mns_dkim_skey;

/** \brief The selector object of \a k (algorithm, bits, created, public,
 *  sealed: the private key sealed under \a skey for \a tenant and
 *  \a selector, so the plaintext never leaves the secure heap): a new
 *  reference, or NULL on OOM or when sealing fails. \a k is wiped either
 *  way. */
json_t *mns_dkim_key_json(mns_dkim_key_t *k, int64_t now, const struct mns_dkim_skey *skey,
                          const char *tenant, const char *selector);

/** A pool of pre-generated RSA keys, refilled on the libuv thread pool. */
typedef struct mns_dkim_pool mns_dkim_pool_t;

/** \brief A pool on \a loop (a uv_loop_t *; NULL: a pool that stays empty).
 *  \a ready (may be NULL) is called on the loop each time a key is added.
 *  \return NULL on OOM. */
mns_dkim_pool_t *mns_dkim_pool_new(void *loop, void (*ready)(void *data), void *data);

/** \brief Sets the pool's size (0 disables it) and key size: keys of another
 *  size are wiped, then the pool refills in the background, one key at a
 *  time. */
void mns_dkim_pool_configure(mns_dkim_pool_t *pool, size_t size, int bits);

/** \brief Takes a key of \a bits bits into \a out. \return false when the
 *  pool has none (then generate one synchronously, or wait for \a ready). */
bool mns_dkim_pool_take(mns_dkim_pool_t *pool, int bits, mns_dkim_key_t *out);

/** Counters for tests and status. */
typedef struct mns_dkim_pool_stats {
	size_t size;      /**< Configured size. */
	size_t available; /**< Keys ready. */
	size_t in_flight; /**< Generations queued or running. */
	size_t generated; /**< Keys generated by the pool so far. */
	size_t taken;     /**< Keys handed out. */
} mns_dkim_pool_stats_t;

/** \brief Fills \a st. */
void mns_dkim_pool_stats(const mns_dkim_pool_t *pool, mns_dkim_pool_stats_t *st);

/** \brief Stops the pool: aborts the running generation, cancels queued ones,
 *  runs the loop until their completions have run (call it outside any loop
 *  callback: the plugin's fini runs after the main loop has returned), wipes
 *  every key and frees the pool. */
void mns_dkim_pool_free(mns_dkim_pool_t *pool);
/** Stops generating (the daemon is stopping): aborts the running job and
 *  cancels queued ones, so the loop can drain. */
void mns_dkim_pool_stop(mns_dkim_pool_t *pool);

/* --- seal.c: private keys sealed at rest -------------------------------------- */

/** Length of the store key (AES-256). */
#define MNS_DKIM_SKEY_LEN 32

/** The store key, held in the secure heap (opaque). */
typedef struct mns_dkim_skey mns_dkim_skey_t;

/** \brief A store key holding \a raw (copied into the secure heap), or NULL. */
mns_dkim_skey_t *mns_dkim_skey_new(const unsigned char raw[MNS_DKIM_SKEY_LEN]);
/** \brief A fresh random store key kept in memory only, or NULL. */
mns_dkim_skey_t *mns_dkim_skey_random(void);
/** \brief Wipes and frees \a k (may be NULL). */
void mns_dkim_skey_free(mns_dkim_skey_t *k);

/** \brief Reads the store key from \a path: a regular file of exactly
 *  MNS_DKIM_SKEY_LEN octets, not accessible to group or others. When it does
 *  not exist and \a create is true, creates it (O_EXCL, 0600, random
 *  octets, file and directory synced) and sets \a created. \return MNS_OK,
 *  MNS_ENOENT (missing, \a create false) or another negative value, with
 *  \a err naming the file and the problem. */
int mns_dkim_skey_load(const char *path, bool create, mns_dkim_skey_t **out, bool *created,
                       mns_error_t *err);

/** \brief Seals PEM text \a pem (\a len octets) for \a tenant's selector
 *  \a selector: base64(0x01 || nonce || AES-256-GCM ciphertext || tag) with
 *  "<tenant>\0<selector>" as additional data. \return the malloc'd text,
 *  or NULL on failure. */
char *mns_dkim_seal(const mns_dkim_skey_t *k, const char *tenant, const char *selector,
                    const char *pem, size_t len);

/** \brief Opens \a sealed: \a pem gets the NUL-terminated plaintext in the
 *  secure heap (free it with mns_dkim_unsealed_free()), \a len its length.
 *  \return MNS_OK, MNS_EINVAL (damaged, or sealed under another key, tenant
 *  or selector) or MNS_ENOMEM. */
int mns_dkim_unseal(const mns_dkim_skey_t *k, const char *tenant, const char *selector,
                    const char *sealed, char **pem, size_t *len);

/** \brief Wipes and frees what mns_dkim_unseal() returned. */
void mns_dkim_unsealed_free(char *pem, size_t len);

/** \brief Replaces every plaintext "private" of section \a sec (written
 *  by versions before sealing) with "sealed"; \a n (may be NULL) gets how
 *  many. \return MNS_OK, MNS_EINVAL (a selector without a name or a
 *  non-string key), MNS_ERROR or MNS_ENOMEM. */
int mns_dkim_seal_section(const mns_dkim_skey_t *k, const char *tenant, json_t *sec, size_t *n);

/** \brief The store key of plugin instance \a p (dkim.c), or NULL. */
const mns_dkim_skey_t *mns_dkim_store_key(const mns_plugin_t *p);

/** \brief The number of selectors of \a sec that carry \a field. */
size_t mns_dkim_section_count(const json_t *sec, const char *field);

/* --- export.c ------------------------------------------------------------------- */

/** \brief The signing domain (DKIM d=) of tenant document \a doc: in ns mode
 *  the delegated zone ("mgeu.example.com"), in cname mode the customer's
 *  domain ("example.com", whose selector CNAMEs point into our hosted zone).
 *  \return a borrowed string, or NULL. */
const char *mns_dkim_signing_domain(const json_t *doc);

/** \brief Appends the keys of tenant document \a doc to \a out, one object
 *  each: {"tenant","domain","mode","selector","algorithm","bits","state",
 *  "activated","file","private"}; only active keys, plus retired ones when
 *  \a retired (their files stay until they are withdrawn). Sealed keys are
 *  opened with \a skey; \a unopened (may be NULL) is raised by the number
 *  that do not open (left out). \return MNS_OK or MNS_ENOMEM. */
int mns_dkim_export_collect(const json_t *doc, bool retired, const mns_dkim_skey_t *skey,
                            json_t *out, size_t *unopened);

/** \brief Sorts \a entries by domain, then algorithm (RSA first). */
void mns_dkim_export_sort(json_t *entries);

/** The files the export writes, with their names in the export directory. */
typedef struct mns_dkim_tables {
	char *keytable;     /**< OpenDKIM KeyTable ("KeyTable"). */
	char *signingtable; /**< OpenDKIM SigningTable, refile: patterns ("SigningTable"). */
	char *selector_map; /**< rspamd dkim_signing selector_map ("dkim_selectors.map"). */
	char *path_map;     /**< rspamd dkim_signing path_map ("dkim_paths.map"). */
} mns_dkim_tables_t;

/** \brief Formats the tables for the active entries of \a entries (sorted),
 *  with key files under \a dir ("<dir>/keys/<domain>.<selector>.pem").
 *  \return MNS_OK or MNS_ENOMEM. */
int mns_dkim_tables_build(const json_t *entries, const char *dir, mns_dkim_tables_t *t);

/** \brief Frees the tables' strings. */
void mns_dkim_tables_free(mns_dkim_tables_t *t);

/** \brief Rewrites export directory \a dir from \a entries (active and
 *  retired keys): every changed file is written to a temporary file (0600),
 *  fsynced and renamed over the old one, key files before the tables; key
 *  files of keys no longer listed are overwritten with zeros and removed;
 *  then the directory is fsynced. Unchanged files are left alone.
 *  \a changed (may be NULL) gets the number of files written or removed.
 *  \return MNS_OK, or a negative value with \a err set. */
int mns_dkim_export_write(const char *dir, const json_t *entries, size_t *changed,
                          mns_error_t *err);

/** \brief Memory for a private key or the store key: the secure heap when
 *  the daemon set one up (core/util/secmem.h), else (full, or a unit test)
 *  the ordinary heap; OPENSSL_secure_clear_free() wipes and frees either.
 *  \return zeroed memory, or NULL. */
void *mns_dkim_secret_alloc(size_t n);

/** \brief The base64 (no line breaks) of \a len octets. \return it,
 *  malloc'd, or NULL. */
char *mns_dkim_b64_encode(const unsigned char *in, size_t len);

#endif
