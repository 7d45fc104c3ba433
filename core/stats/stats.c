/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libknot/libknot.h>

#include "stats/stats.h"

/* The registry: a fixed array, so readers walk it without a lock. A slot is
 * filled before the count that covers it is published (release/acquire). */
static mns_stats_block_t *blocks[MNS_STATS_MAX_BLOCKS];
static _Atomic size_t n_blocks;

mns_stats_block_t *mns_stats_block_register(void)
{
	mns_stats_block_t *b = aligned_alloc(64, sizeof(*b));
	if (b == NULL)
		return NULL;
	memset(b, 0, sizeof(*b));
	/* Workers register at start, one after another on the main loop before
	 * their threads run: a compare-exchange keeps it right if they do not. */
	size_t n = atomic_load_explicit(&n_blocks, memory_order_acquire);
	for (;;) {
		if (n >= MNS_STATS_MAX_BLOCKS) {
			free(b);
			return NULL;
		}
		blocks[n] = b;
		if (atomic_compare_exchange_weak_explicit(
		        &n_blocks, &n, n + 1, memory_order_release, memory_order_acquire))
			return b;
	}
}

static void add(uint64_t *dst, mns_counter_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] += atomic_load_explicit(&src[i], memory_order_relaxed);
}

void mns_stats_sum(mns_stats_sum_t *out)
{
	memset(out, 0, sizeof(*out));
	size_t n = atomic_load_explicit(&n_blocks, memory_order_acquire);
	for (size_t i = 0; i < n; i++) {
		mns_stats_block_t *b = blocks[i];
		add(&out->queries[0][0][0], &b->queries[0][0][0],
		    sizeof(b->queries) / sizeof(mns_counter_t));
		add(out->zone, b->zone, MNS_STATS_N_ZONE);
		add(&out->truncated, &b->truncated, 1);
		add(&out->dropped, &b->dropped, 1);
		add(&out->malformed, &b->malformed, 1);
		add(&out->xfr[0][0], &b->xfr[0][0], sizeof(b->xfr) / sizeof(mns_counter_t));
	}
}

uint64_t mns_stats_block_messages(const mns_stats_block_t *b)
{
	if (b == NULL)
		return 0;
	uint64_t n = atomic_load_explicit(&b->dropped, memory_order_relaxed);
	const mns_counter_t *q = &b->queries[0][0][0];
	for (size_t i = 0; i < sizeof(b->queries) / sizeof(mns_counter_t); i++)
		n += atomic_load_explicit(&q[i], memory_order_relaxed);
	return n;
}

static int qtype_bucket(uint16_t qtype)
{
	switch (qtype) {
	case KNOT_RRTYPE_A:
		return MNS_STATS_QT_A;
	case KNOT_RRTYPE_NS:
		return MNS_STATS_QT_NS;
	case KNOT_RRTYPE_CNAME:
		return MNS_STATS_QT_CNAME;
	case KNOT_RRTYPE_SOA:
		return MNS_STATS_QT_SOA;
	case KNOT_RRTYPE_PTR:
		return MNS_STATS_QT_PTR;
	case KNOT_RRTYPE_MX:
		return MNS_STATS_QT_MX;
	case KNOT_RRTYPE_TXT:
		return MNS_STATS_QT_TXT;
	case KNOT_RRTYPE_AAAA:
		return MNS_STATS_QT_AAAA;
	case KNOT_RRTYPE_SRV:
		return MNS_STATS_QT_SRV;
	case KNOT_RRTYPE_DS:
		return MNS_STATS_QT_DS;
	case KNOT_RRTYPE_DNSKEY:
		return MNS_STATS_QT_DNSKEY;
	case 64:
		return MNS_STATS_QT_SVCB;
	case 65:
		return MNS_STATS_QT_HTTPS;
	case KNOT_RRTYPE_CAA:
		return MNS_STATS_QT_CAA;
	case KNOT_RRTYPE_ANY:
		return MNS_STATS_QT_ANY;
	case KNOT_RRTYPE_AXFR:
		return MNS_STATS_QT_AXFR;
	case KNOT_RRTYPE_IXFR:
		return MNS_STATS_QT_IXFR;
	default:
		return MNS_STATS_QT_OTHER;
	}
}

static int rcode_bucket(unsigned rcode)
{
	switch (rcode) {
	case KNOT_RCODE_NOERROR:
		return MNS_STATS_RC_NOERROR;
	case KNOT_RCODE_FORMERR:
		return MNS_STATS_RC_FORMERR;
	case KNOT_RCODE_SERVFAIL:
		return MNS_STATS_RC_SERVFAIL;
	case KNOT_RCODE_NXDOMAIN:
		return MNS_STATS_RC_NXDOMAIN;
	case KNOT_RCODE_NOTIMPL:
		return MNS_STATS_RC_NOTIMP;
	case KNOT_RCODE_REFUSED:
		return MNS_STATS_RC_REFUSED;
	case KNOT_RCODE_NOTAUTH:
		return MNS_STATS_RC_NOTAUTH;
	case KNOT_RCODE_BADVERS:
		return MNS_STATS_RC_BADVERS;
	default:
		return MNS_STATS_RC_OTHER;
	}
}

void mns_stats_query(mns_stats_block_t *b, int transport, uint16_t qtype, unsigned rcode,
                     mns_stats_zone_t zone, bool truncated)
{
	if (b == NULL)
		return;
	int t = transport == MNS_STATS_TCP ? MNS_STATS_TCP : MNS_STATS_UDP;
	mns_counter_inc(&b->queries[t][qtype_bucket(qtype)][rcode_bucket(rcode)]);
	mns_counter_inc(&b->zone[(unsigned)zone < MNS_STATS_N_ZONE ? zone : MNS_STATS_ZONE_NONE]);
	if (rcode == KNOT_RCODE_FORMERR)
		mns_counter_inc(&b->malformed);
	if (truncated)
		mns_counter_inc(&b->truncated);
}

void mns_stats_dropped(mns_stats_block_t *b)
{
	if (b != NULL)
		mns_counter_inc(&b->dropped);
}

void mns_stats_xfr(mns_stats_block_t *b, int transport, const uint8_t *q, size_t qlen)
{
	if (b == NULL)
		return;
	/* QTYPE follows the first question's name: walk its labels (no compression
	 * in a question's first name). */
	int kind = MNS_STATS_XFR_OTHER;
	size_t off = KNOT_WIRE_HEADER_SIZE;
	while (off < qlen && q[off] != 0 && q[off] < 64)
		off += 1 + (size_t)q[off];
	if (off + 3 <= qlen && q[off] == 0) {
		uint16_t qtype = (uint16_t)(q[off + 1] << 8 | q[off + 2]);
		if (qtype == KNOT_RRTYPE_AXFR)
			kind = MNS_STATS_XFR_AXFR;
		else if (qtype == KNOT_RRTYPE_IXFR)
			kind = MNS_STATS_XFR_IXFR;
	}
	int t = transport == MNS_STATS_TCP ? MNS_STATS_TCP : MNS_STATS_UDP;
	mns_counter_inc(&b->xfr[t][kind]);
}

void mns_stats_reset(void)
{
	size_t n = atomic_exchange(&n_blocks, 0);
	for (size_t i = 0; i < n; i++) {
		free(blocks[i]);
		blocks[i] = NULL;
	}
}

/* --- Names ----------------------------------------------------------------- */

static const char *const qtype_names[MNS_STATS_N_QTYPE] = {
    "A",  "NS",     "CNAME", "SOA",   "PTR", "MX",  "TXT",  "AAAA", "SRV",
    "DS", "DNSKEY", "SVCB",  "HTTPS", "CAA", "ANY", "AXFR", "IXFR", "other",
};
static const char *const rcode_names[MNS_STATS_N_RCODE] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
    "REFUSED", "NOTAUTH", "BADVERS",  "other",
};
static const char *const zone_names[MNS_STATS_N_ZONE] = {
    "none", "tenant", "tenant-cname", "hosted", "static", "chaos",
};
static const char *const transport_names[MNS_STATS_N_TRANSPORT] = {"udp", "tcp"};
static const char *const xfr_names[MNS_STATS_N_XFR] = {"axfr", "ixfr", "other"};

#define NAME(table, i) ((unsigned)(i) < sizeof(table) / sizeof(table[0]) ? table[i] : "?")

const char *mns_stats_qtype_name(int i)
{
	return NAME(qtype_names, i);
}

const char *mns_stats_rcode_name(int i)
{
	return NAME(rcode_names, i);
}

const char *mns_stats_zone_name(int i)
{
	return NAME(zone_names, i);
}

const char *mns_stats_transport_name(int i)
{
	return NAME(transport_names, i);
}

const char *mns_stats_xfr_name(int i)
{
	return NAME(xfr_names, i);
}

/* --- Control commands ------------------------------------------------------- */

typedef struct cmd_counter {
	char name[64];
	_Atomic uint64_t ok, error;
} cmd_counter_t;

static cmd_counter_t commands[MNS_STATS_MAX_COMMANDS];
static _Atomic size_t n_commands;

void mns_stats_control(const char *cmd, bool ok)
{
	size_t n = atomic_load_explicit(&n_commands, memory_order_relaxed);
	cmd_counter_t *c = NULL;
	for (size_t i = 0; i < n && c == NULL; i++)
		if (strcmp(commands[i].name, cmd) == 0)
			c = &commands[i];
	if (c == NULL && n < MNS_STATS_MAX_COMMANDS) {
		c = &commands[n];
		/* The last slot takes every name beyond the table. */
		const char *name = n + 1 == MNS_STATS_MAX_COMMANDS ? "other" : cmd;
		snprintf(c->name, sizeof(c->name), "%s", name);
		atomic_store_explicit(&n_commands, n + 1, memory_order_release);
	} else if (c == NULL) {
		c = &commands[MNS_STATS_MAX_COMMANDS - 1];
	}
	mns_counter_inc(ok ? &c->ok : &c->error);
}

void mns_stats_control_foreach(void (*cb)(const char *cmd, uint64_t ok, uint64_t error, void *data),
                               void *data)
{
	size_t n = atomic_load_explicit(&n_commands, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		cb(commands[i].name, atomic_load_explicit(&commands[i].ok, memory_order_relaxed),
		   atomic_load_explicit(&commands[i].error, memory_order_relaxed), data);
}
