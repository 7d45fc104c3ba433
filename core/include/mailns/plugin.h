/*  mailns — plugin API.
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  This is the only header a plugin includes. A plugin is a shared object
 *  that exports one const descriptor, `mns_plugin_<name>`, declared with
 *  MNS_PLUGIN(). Plugins are producers: the core calls them when a tenant
 *  changes (never per query) to validate the plugin's section of the tenant
 *  document and to emit the tenant's records into a zone builder.
 *
 *  ABI rules: a plugin is refused when abi_major differs from the core's or
 *  when abi_minor is newer than the core's. New fields are only appended to
 *  the descriptor; struct_size tells a newer core how much of it an older
 *  plugin filled in.
 */
#ifndef MAILNS_PLUGIN_H
#define MAILNS_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MNS_PLUGIN_ABI_MAJOR 1
#define MNS_PLUGIN_ABI_MINOR 1

/** Marks a symbol the daemon exports to plugins (everything else is hidden). */
#define MNS_API __attribute__((visibility("default")))

/** Declares the descriptor of plugin \a name (the loader looks up mns_plugin_<name>). */
#define MNS_PLUGIN(name) MNS_API const mns_plugin_api_t mns_plugin_##name

/** Return codes: MNS_OK or a negative value. */
enum {
	MNS_OK = 0,
	MNS_ERROR = -1000, /**< Generic failure, described by the mns_error_t. */
	MNS_EINVAL = -1001, /**< Invalid input, described by the mns_error_t. */
	MNS_ENOENT = -1002, /**< No such tenant, selector, … */
	MNS_EEXIST = -1003, /**< Already exists. */
	MNS_ENOMEM = -1004, /**< Out of memory. */
	MNS_ESTORE = -1005, /**< The durable store failed (disk full, read-only, …). */
	MNS_ECLASH = -1006, /**< Two producers publish the same name and type. */
};

/** A structured error for the operator: a stable machine code and a sentence. */
typedef struct mns_error {
	char code[48]; /**< e.g. "invalid_spf", "unknown_field". */
	char message[512]; /**< What is wrong and what to do instead. */
	char key[64]; /**< Config or document key at fault, when known ("" otherwise). */
} mns_error_t;

/** Fills \a err (may be NULL) and returns MNS_EINVAL, for `return mns_error_set(...)`. */
MNS_API int mns_error_set(mns_error_t *err, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Like mns_error_set() but also names the key at fault. */
MNS_API int mns_error_set_key(mns_error_t *err, const char *key, const char *code,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** Delegation modes (DESIGN.md). */
typedef enum mns_mode {
	MNS_MODE_NS = 0, /**< The customer delegates <subdomain>.<domain> to us. */
	MNS_MODE_CNAME = 1, /**< The customer CNAMEs fixed names into our hosted zone. */
} mns_mode_t;

/** What a plugin knows about the tenant it works on. All strings are
 *  lowercase A-label names without a trailing dot, owned by the core and
 *  valid for the duration of the call. */
typedef struct mns_tenant_ctx {
	const char *id; /**< Tenant id, e.g. "acme". */
	const char *domain; /**< The customer's domain, e.g. "example.com". */
	mns_mode_t mode;
	/** ns: the delegated zone ("mgeu.example.com");
	 *  cname: the tenant's subtree of the hosted zone ("acme.mailns.vendor.example"). */
	const char *base;
	/** Owner of the bounce MX and SPF, relative to base: "@" (ns) or "bounce" (cname). */
	const char *mail_label;
	/** The name the customer sends mail from (envelope domain): in ns mode the
	 *  zone apex, in cname mode "<mail_label>.<domain>". */
	const char *mail_domain;
	uint32_t ttl; /**< Vendor's TTL for tenant records. */
	time_t now; /**< Time of the mutation (seconds). */
} mns_tenant_ctx_t;

/** Config schema: the core parses the plugin's [plugin.<name>] section, checks
 *  every key against this table (unknown keys and bad types are errors naming
 *  the file and line) and hands the plugin a JSON object holding every key,
 *  with defaults filled in. */
typedef enum mns_conf_type {
	MNS_CONF_STR, /**< JSON string. */
	MNS_CONF_INT, /**< JSON integer within [min, max]. */
	MNS_CONF_BOOL, /**< JSON true/false (yes/no/on/off/true/false). */
	MNS_CONF_LIST, /**< JSON array of strings (separated by white space, key repeatable). */
	MNS_CONF_DNAME, /**< JSON string: a domain name, lowercased, no trailing dot. */
} mns_conf_type_t;

typedef struct mns_conf_item {
	const char *key;
	mns_conf_type_t type;
	const char *dflt; /**< Default in config syntax, NULL = absent unless given. */
	int64_t min, max; /**< For MNS_CONF_INT. */
	const char *help; /**< One line for the documentation. */
} mns_conf_item_t;

typedef struct mns_plugin mns_plugin_t; /**< A loaded plugin (opaque). */
typedef struct mns_zone_builder mns_zone_builder_t; /**< Collects a tenant's records. */
typedef struct mns_instructions mns_instructions_t; /**< Records the customer must add. */

/** A control command a plugin adds (e.g. "dkim.keys"). \a args is the request's
 *  "args" object (never NULL). On success set *result (a new reference, may
 *  stay NULL for {}) and return MNS_OK; otherwise fill \a err. */
typedef int (*mns_plugin_command_cb)(mns_plugin_t *p, const json_t *args, json_t **result,
                                     mns_error_t *err);

typedef struct mns_plugin_command {
	const char *name; /**< Full command name, must start with "<plugin>.". */
	mns_plugin_command_cb fn;
	const char *help;
} mns_plugin_command_t;

/** The descriptor every plugin exports (with MNS_PLUGIN()). */
typedef struct mns_plugin_api {
	uint16_t abi_major; /**< MNS_PLUGIN_ABI_MAJOR the plugin was built with. */
	uint16_t abi_minor; /**< MNS_PLUGIN_ABI_MINOR the plugin was built with. */
	uint32_t struct_size; /**< sizeof(mns_plugin_api_t) the plugin was built with. */
	const char *name; /**< Must equal the name it is loaded by. */
	const char *version;
	const char *summary; /**< One line for plugin.list. */
	const mns_conf_item_t *schema; /**< Terminated by an item with key NULL; may be NULL. */

	/** Called once after loading. Optional. */
	int (*init)(mns_plugin_t *p, mns_error_t *err);
	/** Called after init, before any tenant hook, and on every config reload (SIGHUP) with the plugin's
	 *  section (all schema keys). On error set err->key; the reload is then
	 *  abandoned and the old config stays. Optional. */
	int (*configure)(mns_plugin_t *p, const json_t *conf, mns_error_t *err);
	/** Called once before unloading. Close libuv handles here: the core runs
	 *  the loop (their close callbacks) before it unmaps the plugin. Optional. */
	void (*fini)(mns_plugin_t *p);

	/** Validates and normalises the plugin's section of a tenant document.
	 *  \a old is the stored section (NULL on tenant.add), \a in what the caller
	 *  sent for this section: NULL when absent, JSON null when the caller
	 *  resets the section (tenant.update with "<plugin>": null) — drop the
	 *  caller's settings but keep state the plugin owns, such as keys. On
	 *  MNS_OK *out is the complete new section to store (a new reference).
	 *  Runs inside the core's store transaction: do not call
	 *  mns_plugin_tenant_get() or mns_plugin_tenant_set_section() here, nor in
	 *  tenant_build. It runs on the main loop: keep it short. Optional:
	 *  without it the section is stored as sent. */
	int (*tenant_check)(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *old,
	                    const json_t *in, json_t **out, mns_error_t *err);
	/** Emits the tenant's records for this plugin into \a zb. \a section
	 *  is valid during the call only (at start-up it lives in a reused
	 *  arena): copy what you keep, with json_deep_copy() or by value; a
	 *  json_incref() reference is not enough. */
	int (*tenant_build)(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
	                    mns_zone_builder_t *zb, mns_error_t *err);
	/** Adds the records the customer must create (cname mode). Optional. */
	int (*tenant_instructions)(mns_plugin_t *p, const mns_tenant_ctx_t *t,
	                           const json_t *section, mns_instructions_t *ins, mns_error_t *err);
	/** Returns the section as shown by tenant.get (a new reference), with
	 *  secrets removed. Optional: without it the section is shown as stored. */
	json_t *(*tenant_public)(mns_plugin_t *p, const json_t *section);

	/** Extra control commands, terminated by an entry with name NULL; may be NULL. */
	const mns_plugin_command_t *commands;

	/* ABI 1.1 (read only when struct_size covers them). */

	/** Emits records into the vendor's hosted zone (owners relative to its
	 *  apex, e.g. "_spf"), whenever the core builds it: at start, on reload
	 *  and when a cname-mode tenant changes. Optional. */
	int (*hosted_build)(mns_plugin_t *p, mns_zone_builder_t *zb, mns_error_t *err);
	/** Called when the daemon begins to stop (SIGTERM, SIGINT): cancel or abort
	 *  background work (uv_queue_work) so that the loop drains; fini follows
	 *  once it has. Optional. */
	void (*stop)(mns_plugin_t *p);
} mns_plugin_api_t;

/** True when descriptor \a api is large enough to hold \a field. */
#define MNS_PLUGIN_HAS(api, field) \
	((api)->struct_size >= offsetof(mns_plugin_api_t, field) + sizeof((api)->field))

/* --- Services the core offers plugins -------------------------------------- */

/** Log levels (syslog numbering). */
enum { MNS_LOG_ERR = 3, MNS_LOG_WARNING = 4, MNS_LOG_NOTICE = 5, MNS_LOG_INFO = 6, MNS_LOG_DEBUG = 7 };

/** Logs a line prefixed with the plugin's name. Never log private keys. */
MNS_API void mns_plugin_log(const mns_plugin_t *p, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Plugin-private state. */
MNS_API void mns_plugin_set_data(mns_plugin_t *p, void *data);
MNS_API void *mns_plugin_data(const mns_plugin_t *p);
MNS_API const char *mns_plugin_name(const mns_plugin_t *p);

/** Owner names for the builder: "@" is the tenant's base, a relative name
 *  ("s1._domainkey") is below the base, a name ending in "." is absolute and
 *  must still be at or below the base (otherwise "out_of_zone"). */

/** Adds one record given as wire-format RDATA. Records of the same name and
 *  type from one plugin form one RRset; the same name and type from two
 *  plugins is a clash (MNS_ECLASH). A CNAME cannot share its name. */
MNS_API int mns_zb_add_rdata(mns_zone_builder_t *zb, const char *owner, uint16_t type,
                             uint32_t ttl, const uint8_t *rdata, size_t len, mns_error_t *err);
/** Adds a TXT record holding \a text, split into character-strings of at
 *  most 255 octets. */
MNS_API int mns_zb_add_txt(mns_zone_builder_t *zb, const char *owner, uint32_t ttl,
                           const char *text, mns_error_t *err);
/** Adds an MX record. \a exchange is an absolute domain name (a trailing dot
 *  is optional; it is never relative to the base, unlike owners). */
MNS_API int mns_zb_add_mx(mns_zone_builder_t *zb, const char *owner, uint32_t ttl,
                          uint16_t preference, const char *exchange, mns_error_t *err);
/** Adds a CNAME record. \a target is an absolute domain name (trailing dot
 *  optional; never relative to the base). */
MNS_API int mns_zb_add_cname(mns_zone_builder_t *zb, const char *owner, uint32_t ttl,
                             const char *target, mns_error_t *err);

/** Adds one record the customer must create at \a name (absolute, no trailing
 *  dot) of \a type ("CNAME", "NS", …) with \a value (zone-file presentation,
 *  names without trailing dot). \a purpose is a short human explanation. */
MNS_API int mns_instr_add(mns_instructions_t *ins, const char *name, const char *type,
                          const char *value, bool required, const char *purpose);

/** Shallow merge for tenant_check: a copy of \a old (or {}) with every key of
 *  \a in set; a JSON null in \a in removes the key. Returns a new reference. */
MNS_API json_t *mns_json_merge(const json_t *old, const json_t *in);

/** Checks that \a obj has only keys from the NULL-terminated list \a allowed;
 *  otherwise fills err with "unknown_field" naming \a section and the key. */
MNS_API int mns_json_check_keys(const json_t *obj, const char *section,
                                const char *const *allowed, mns_error_t *err);

/** Parses and normalises a domain name given by an operator (lowercase, no
 *  trailing dot, LDH labels, underscores allowed when \a allow_underscore).
 *  Writes the result into \a out. Returns MNS_OK or MNS_EINVAL with err set. */
MNS_API int mns_dname_normalize(const char *in, bool allow_underscore, char *out, size_t outlen,
                                mns_error_t *err);

/** A timer on the main loop. The callback runs on the main loop. */
typedef void (*mns_plugin_timer_cb)(mns_plugin_t *p, void *data);
typedef struct mns_plugin_timer mns_plugin_timer_t;
/** Starts a timer firing after \a after_ms, then every \a repeat_ms (0 = once).
 *  An \a after_ms of 0 fires on the next loop turn, after the loop has polled
 *  for I/O (never in the pass that started it). Returns NULL on failure. Timers are stopped and freed when the plugin is
 *  unloaded, or earlier with mns_plugin_timer_stop(). */
MNS_API mns_plugin_timer_t *mns_plugin_timer_start(mns_plugin_t *p, uint64_t after_ms,
                                                   uint64_t repeat_ms, mns_plugin_timer_cb cb,
                                                   void *data);
MNS_API void mns_plugin_timer_stop(mns_plugin_timer_t *t);

/** Reads a stored tenant document (with secrets; for the plugin's own use).
 *  Returns a new reference or NULL when there is no such tenant. */
MNS_API json_t *mns_plugin_tenant_get(mns_plugin_t *p, const char *tenant);
/** Replaces this plugin's section of a tenant through the normal mutation
 *  path: stored durably, zone rebuilt and published before it returns.
 *  tenant_check is not called: the plugin is trusted with its own section. */
MNS_API int mns_plugin_tenant_set_section(mns_plugin_t *p, const char *tenant,
                                          json_t *section, mns_error_t *err);

/* --- ABI 1.1 ------------------------------------------------------------ */

/** From tenant_build: adds a TXT record at \a owner (absolute, trailing dot
 *  optional) OUTSIDE the tenant's zone but inside a zone the vendor serves (a
 *  static zone or the hosted zone), such as a DMARC report authorisation
 *  record. It is published and withdrawn with the tenant. Returns MNS_ENOENT
 *  with code "not_served" when no vendor zone holds \a owner (skip it then),
 *  MNS_EINVAL when \a owner is in a tenant's zone or invalid. */
MNS_API int mns_zb_add_vendor_txt(mns_zone_builder_t *zb, const char *owner, uint32_t ttl,
                                  const char *text, mns_error_t *err);

/** The main loop (a uv_loop_t *), for plugins that drive their own I/O on
 *  it, such as asynchronous DNS lookups. NULL when not attached (unit tests). */
MNS_API void *mns_plugin_uv_loop(mns_plugin_t *p);

/** Writes this plugin's section of a tenant durably WITHOUT rebuilding the
 *  zone or raising its serial: for bookkeeping (check times, states) that
 *  tenant_build does not read. Returns MNS_OK, MNS_ENOENT or a store error. */
MNS_API int mns_plugin_tenant_save_state(mns_plugin_t *p, const char *tenant,
                                         const json_t *section, mns_error_t *err);

/** Calls \a cb for every stored tenant (id order) until it returns false.
 *  \a doc is borrowed for the call. Runs on the main loop, outside any hook. */
MNS_API int mns_plugin_tenant_foreach(mns_plugin_t *p,
                                      bool (*cb)(mns_plugin_t *p, const char *tenant,
                                                 const json_t *doc, void *data),
                                      void *data);

/** The records a tenant's customer must create (tenant.instructions "json"
 *  records array: name, type, value, required, purpose), or NULL when there
 *  is no such tenant. A new reference. */
MNS_API json_t *mns_plugin_tenant_instructions(mns_plugin_t *p, const char *tenant);

/** The vendor identity from the config: {"nameservers": [names],
 *  "hosted_zone": name, "subdomain": label, "ttl": n, "data_dir": path}. Borrowed; valid until
 *  the next configure() call. */
MNS_API const json_t *mns_plugin_vendor(mns_plugin_t *p);

/** Publishes an event to every events.subscribe connection as one JSON line:
 *  \a fields (borrowed) plus "event": "<plugin>.<type>" and "time" (unix). */
MNS_API void mns_plugin_event(mns_plugin_t *p, const char *type, const json_t *fields);

/* --- Deferred command replies (ABI 1.1) ------------------------------------- */

/** Returned by a command callback that answers later through mns_plugin_reply(). */
enum { MNS_PENDING = 1 };

/** The reply to one control request, taken over by a plugin (opaque). */
typedef struct mns_reply mns_reply_t;

/** From inside a command callback: takes over the reply to the request being
 *  handled, for a command that completes asynchronously (e.g. after DNS
 *  lookups). The callback then returns MNS_PENDING, and the plugin calls
 *  mns_plugin_reply() exactly once, later, on the main loop (or before
 *  returning). The connection keeps reading requests meanwhile; its replies
 *  still leave in request order, so later replies wait for this one.
 *  Returns NULL outside a command callback or when the request did not come
 *  from a control connection: the callback must then answer at once. If the
 *  callback returns anything but MNS_PENDING after taking the handle, the core
 *  answers with that and mns_plugin_reply() on the handle only frees it. */
MNS_API mns_reply_t *mns_plugin_reply_defer(mns_plugin_t *p);

/** Sends a deferred reply and frees \a r: with \a ret == MNS_OK the result
 *  \a result (stolen; NULL sends {}), otherwise the error \a err (may be NULL:
 *  a generic error from \a ret). Safe after the client disconnected or the
 *  control socket closed: the reply is then dropped. Main loop only. */
MNS_API void mns_plugin_reply(mns_reply_t *r, int ret, json_t *result, const mns_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
