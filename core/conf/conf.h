/*  Configuration: an INI-style file ([server], [vendor], [plugin.<name>]),
 *  checked against schema tables, with embedded defaults for every key.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_CONF_H
#define MNS_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "mailns/plugin.h"

/** One "key = value" line as read. */
typedef struct mns_conf_kv {
	char *key;
	char *value;
	int line;
} mns_conf_kv_t;

/** One [section] as read. */
typedef struct mns_conf_section {
	char *name;
	int line;
	mns_conf_kv_t *kv;
	size_t n_kv;
} mns_conf_section_t;

typedef struct mns_listen {
	char addr[64]; /**< Numeric IPv4 or IPv6 address. */
	uint16_t port;
} mns_listen_t;

/** Command-line settings that replace the file's (kept across reloads). */
typedef struct mns_conf_overrides {
	mns_listen_t *listen;
	size_t n_listen;
	const char *control, *data_dir, *plugin_dir, *zones_dir, *log_level;
} mns_conf_overrides_t;

typedef struct mns_conf {
	char *path; /**< File read, or NULL for embedded defaults. */
	/* [server] */
	mns_listen_t *listen;
	size_t n_listen;
	char *control;
	unsigned control_mode;
	char *control_group; /**< "" = the daemon's group. */
	uint64_t store_map_size; /**< LMDB map size in bytes. */
	char *user, *group; /**< Privileges to drop to when started as root ("" = stay). */
	char *data_dir, *zones_dir, *plugin_dir;
	char **plugins;
	size_t n_plugins;
	char *identity, *version; /**< "" = do not answer. */
	uint16_t udp_payload;
	uint32_t tcp_idle_timeout; /**< Seconds. */
	uint32_t tcp_max_clients;
	uint32_t workers; /**< Query threads; 0 = one per online CPU. */
	int log_level;
	mns_listen_t metrics_listen; /**< Prometheus endpoint (loopback only). */
	bool metrics_enabled; /**< metrics-listen is set. */
	/* [vendor] */
	char **nameservers;
	size_t n_nameservers;
	char *soa_contact; /**< As a domain name (hostmaster.vendor.example). */
	uint32_t ttl, soa_ttl, negative_ttl, refresh, retry, expire;
	char *hosted_zone;
	char *subdomain; /**< Default ns-mode label ("" = the domain itself). */
	char *bounce_label;
	/* Raw sections, for plugin schemas. */
	mns_conf_section_t *sections;
	size_t n_sections;
} mns_conf_t;

/** \brief Reads \a path (NULL = embedded defaults only) and applies \a ov.
 *  \return MNS_OK, or MNS_EINVAL with "<file>:<line>: <key>: <problem>" in \a errbuf. */
int mns_conf_load(const char *path, const mns_conf_overrides_t *ov, mns_conf_t **out,
                  char *errbuf, size_t errlen);
/** \brief Frees a config. */
void mns_conf_free(mns_conf_t *c);
/** \brief The JSON object for plugin \a name's section checked against \a schema
 *  (defaults filled in). \return MNS_OK or MNS_EINVAL with a located message. */
int mns_conf_plugin(const mns_conf_t *c, const char *name, const mns_conf_item_t *schema,
                    json_t **out, char *errbuf, size_t errlen);
/** \brief The JSON object for core section [\a name] (e.g. "xfr") checked
 *  against \a schema, defaults filled in. \return MNS_OK or MNS_EINVAL with a
 *  located message. */
int mns_conf_section_json(const mns_conf_t *c, const char *name, const mns_conf_item_t *schema,
                          json_t **out, char *errbuf, size_t errlen);
/** \brief Formats a plugin's configure() error with the file and line of its key. */
void mns_conf_locate(const mns_conf_t *c, const char *section, const mns_error_t *err,
                     char *errbuf, size_t errlen);
/** \brief Parses "ADDR@PORT" (or "ADDR" with port 53). \return MNS_OK or MNS_EINVAL. */
int mns_listen_parse(const char *text, mns_listen_t *out);
/** \brief The core's own schema tables (for documentation tests). */
extern const mns_conf_item_t mns_conf_server_schema[];
extern const mns_conf_item_t mns_conf_vendor_schema[];
/** \brief Prints [\a section] with every key of \a schema as "key = default",
 *  each after comment lines giving its help text and type (--print-config). */
void mns_conf_print_section(FILE *out, const char *section, const mns_conf_item_t *schema);

#endif
