/*  Malformed and unusual queries, one table row each, through the real
 *  answer function (mns_dns_process) over UDP and TCP: the exact response
 *  (rcode, header bits, section counts, OPT) or a drop. The choices where the
 *  RFCs leave room are explained at the top of core/dns/answer.c; each row
 *  names the rule it pins down. tests/integration/test_malformed.py sends a
 *  subset to the running daemon.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns/dns.h"

/* --- Fixture: one static zone ------------------------------------------------ */

static mns_index_t *g_idx;
static mns_dns_conf_t g_conf = {
    .identity = "ns1.test",
    .version = "mailns-test 1.0",
    .udp_max_payload = 1232,
};
static mns_dns_ctx_t g_ctx;

static void ok(int ret, const mns_error_t *err)
{
	if (ret != MNS_OK)
		fail_msg("%s: %s", err->code, err->message);
}

static int setup(void **state)
{
	mns_error_t err;
	char big[2001];
	memset(big, 'x', 2000);
	big[2000] = '\0';
	mns_zone_builder_t *zb = mns_zb_new("vendor.example", "vendor.example", MNS_ZONE_STATIC);
	ok(mns_zb_add_soa(zb, 3600, "ns1.vendor.example", "hostmaster.vendor.example", 7, 3600,
	                  600, 86400, 60, &err),
	   &err);
	ok(mns_zb_add_ns(zb, "@", 3600, "ns1.vendor.example", &err), &err);
	const uint8_t a[4] = {192, 0, 2, 53};
	ok(mns_zb_add_rdata(zb, "ns1", KNOT_RRTYPE_A, 3600, a, 4, &err), &err);
	ok(mns_zb_add_txt(zb, "big", 3600, big, &err), &err);
	big[300] = '\0'; /* fits in 512 octets, not in 100 */
	ok(mns_zb_add_txt(zb, "mid", 3600, big, &err), &err);
	mns_zone_t *z = NULL;
	ok(mns_zb_build(zb, &z, &err), &err);
	mns_zb_free(zb);
	mns_rcu_register();
	g_idx = mns_index_new();
	assert_int_equal(mns_index_publish(g_idx, z), MNS_OK);
	g_ctx.index = g_idx;
	g_ctx.conf = &g_conf;
	assert_int_equal(mns_arena_init(&g_ctx.arena, MNS_DNS_ARENA_SIZE), 0);
	return 0;
}

static int teardown(void **state)
{
	mns_arena_deinit(&g_ctx.arena);
	mns_index_free(g_idx);
	mns_rcu_unregister();
	return 0;
}

/* --- Building messages octet by octet ---------------------------------------- */

typedef struct buf {
	uint8_t d[1024];
	size_t n;
} buf_t;

static void u8(buf_t *b, uint8_t v)
{
	assert_true(b->n < sizeof(b->d));
	b->d[b->n++] = v;
}

static void u16(buf_t *b, uint16_t v)
{
	u8(b, (uint8_t)(v >> 8));
	u8(b, (uint8_t)v);
}

static void raw(buf_t *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->d));
	if (n == 0)
		return; /* p may be NULL */
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

enum {
	F_QR = 0x8000, F_AA = 0x0400, F_TC = 0x0200, F_RD = 0x0100, F_RA = 0x0080,
	F_Z = 0x0040, F_AD = 0x0020, F_CD = 0x0010,
	OP_IQUERY = 1 << 11, OP_STATUS = 2 << 11, OP_3 = 3 << 11, OP_NOTIFY = 4 << 11,
	OP_UPDATE = 5 << 11, OP_15 = 15 << 11,
	ID = 0x4d4e,
};

static void hdr(buf_t *b, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
	b->n = 0;
	u16(b, ID);
	u16(b, flags);
	u16(b, qd);
	u16(b, an);
	u16(b, ns);
	u16(b, ar);
}

/* A name in wire form from dotted text ("" is the root). */
static void name(buf_t *b, const char *text)
{
	knot_dname_storage_t w;
	if (text[0] == '\0') {
		u8(b, 0);
		return;
	}
	assert_non_null(knot_dname_from_str(w, text, sizeof(w)));
	raw(b, w, knot_dname_size(w));
}

static void question(buf_t *b, const char *qname, uint16_t type, uint16_t cls)
{
	name(b, qname);
	u16(b, type);
	u16(b, cls);
}

/* An OPT RR: owner \a owner ("" = root), UDP size, version, options. */
static void opt(buf_t *b, const char *owner, uint16_t payload, uint8_t version,
                const uint8_t *rdata, uint16_t rdlen)
{
	name(b, owner);
	u16(b, KNOT_RRTYPE_OPT);
	u16(b, payload);
	u8(b, 0); /* extended rcode */
	u8(b, version);
	u16(b, 0); /* DO and Z */
	u16(b, rdlen);
	raw(b, rdata, rdlen);
}

static void soa_query(buf_t *b, uint16_t flags)
{
	hdr(b, flags, 1, 0, 0, 0);
	question(b, "vendor.example", KNOT_RRTYPE_SOA, KNOT_CLASS_IN);
}

static void edns_soa_query(buf_t *b, uint16_t payload, uint8_t version)
{
	hdr(b, 0, 1, 0, 0, 1);
	question(b, "vendor.example", KNOT_RRTYPE_SOA, KNOT_CLASS_IN);
	opt(b, "", payload, version, NULL, 0);
}

static void qtype_query(buf_t *b, uint16_t type)
{
	hdr(b, 0, 1, 0, 0, 0);
	question(b, "vendor.example", type, KNOT_CLASS_IN);
}

/* --- The cases ------------------------------------------------------------------ */

static void b_empty(buf_t *b) { b->n = 0; }
static void b_short(buf_t *b) { soa_query(b, 0); b->n = 11; }
static void b_header_only(buf_t *b) { hdr(b, 0, 1, 0, 0, 0); }
static void b_trunc_name(buf_t *b) { soa_query(b, 0); b->n = 12 + 5; }
static void b_trunc_class(buf_t *b) { soa_query(b, 0); b->n -= 2; }
static void b_qd0(buf_t *b) { hdr(b, 0, 0, 0, 0, 0); }
static void b_qd0_cookie(buf_t *b)
{
	static const uint8_t cookie[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
	hdr(b, 0, 0, 0, 0, 1);
	opt(b, "", 1232, 0, cookie, sizeof(cookie));
}
static void b_qd2(buf_t *b)
{
	hdr(b, 0, 2, 0, 0, 0);
	question(b, "vendor.example", KNOT_RRTYPE_SOA, KNOT_CLASS_IN);
	question(b, "ns1.vendor.example", KNOT_RRTYPE_A, KNOT_CLASS_IN);
}
static void b_loop(buf_t *b)
{
	hdr(b, 0, 1, 0, 0, 0);
	u16(b, 0xc00c); /* points at itself */
	u16(b, KNOT_RRTYPE_A);
	u16(b, KNOT_CLASS_IN);
}
static void b_loop2(buf_t *b)
{
	hdr(b, 0, 1, 0, 0, 0);
	raw(b, "\x03" "abc", 4);
	u16(b, 0xc00c); /* back to its own start: abc.abc.abc... */
	u16(b, KNOT_RRTYPE_A);
	u16(b, KNOT_CLASS_IN);
}
static void b_forward(buf_t *b)
{
	hdr(b, 0, 1, 0, 0, 0);
	u16(b, 0xc012); /* forward, to the label after the question */
	u16(b, KNOT_RRTYPE_A);
	u16(b, KNOT_CLASS_IN);
	raw(b, "\x03" "abc\x00", 5);
}
static void b_label64(buf_t *b)
{
	hdr(b, 0, 1, 0, 0, 0);
	u8(b, 64);
	for (int i = 0; i < 64; i++)
		u8(b, 'a');
	u8(b, 0);
	u16(b, KNOT_RRTYPE_A);
	u16(b, KNOT_CLASS_IN);
}
/* 4 labels of 63 + 1 length octet each + the root: 257 octets. */
static void b_name257(buf_t *b)
{
	hdr(b, 0, 1, 0, 0, 0);
	for (int l = 0; l < 4; l++) {
		u8(b, 63);
		for (int i = 0; i < 63; i++)
			u8(b, 'a');
	}
	u8(b, 0);
	u16(b, KNOT_RRTYPE_A);
	u16(b, KNOT_CLASS_IN);
}
/* 3 × 64 + 62 + 1 = 255 octets: the longest name, well-formed (not ours). */
static void b_name255(buf_t *b)
{
	hdr(b, 0, 1, 0, 0, 0);
	for (int l = 0; l < 4; l++) {
		int len = l < 3 ? 63 : 61;
		u8(b, (uint8_t)len);
		for (int i = 0; i < len; i++)
			u8(b, 'a');
	}
	u8(b, 0);
	u16(b, KNOT_RRTYPE_A);
	u16(b, KNOT_CLASS_IN);
}
static void b_qr(buf_t *b) { soa_query(b, F_QR); }
static void b_iquery(buf_t *b) { soa_query(b, OP_IQUERY); }
static void b_status(buf_t *b) { soa_query(b, OP_STATUS); }
static void b_op3(buf_t *b) { soa_query(b, OP_3); }
static void b_notify(buf_t *b) { soa_query(b, OP_NOTIFY | F_AA); }
static void b_update(buf_t *b) { soa_query(b, OP_UPDATE); }
static void b_op15(buf_t *b) { soa_query(b, OP_15); }
static void b_iquery_loop(buf_t *b) { b_loop(b); b->d[2] = OP_IQUERY >> 8; }
static void b_badvers(buf_t *b) { edns_soa_query(b, 1232, 1); }
static void b_two_opt(buf_t *b)
{
	edns_soa_query(b, 1232, 0);
	opt(b, "", 1232, 0, NULL, 0);
	b->d[11] = 2;
}
static void b_opt_answer(buf_t *b)
{
	hdr(b, 0, 1, 1, 0, 0);
	question(b, "vendor.example", KNOT_RRTYPE_SOA, KNOT_CLASS_IN);
	opt(b, "", 1232, 0, NULL, 0);
}
static void b_opt_authority(buf_t *b)
{
	hdr(b, 0, 1, 0, 1, 0);
	question(b, "vendor.example", KNOT_RRTYPE_SOA, KNOT_CLASS_IN);
	opt(b, "", 1232, 0, NULL, 0);
}
static void b_opt_owner(buf_t *b)
{
	hdr(b, 0, 1, 0, 0, 1);
	question(b, "vendor.example", KNOT_RRTYPE_SOA, KNOT_CLASS_IN);
	opt(b, "vendor.example", 1232, 0, NULL, 0);
}
static void b_ch(buf_t *b, const char *qname, uint16_t type)
{
	hdr(b, 0, 1, 0, 0, 0);
	question(b, qname, type, KNOT_CLASS_CH);
}
static void b_ch_id(buf_t *b) { b_ch(b, "id.server", KNOT_RRTYPE_TXT); }
static void b_ch_hostname(buf_t *b) { b_ch(b, "hostname.bind", KNOT_RRTYPE_TXT); }
static void b_ch_version(buf_t *b) { b_ch(b, "version.bind", KNOT_RRTYPE_TXT); }
static void b_ch_version_server(buf_t *b) { b_ch(b, "version.server", KNOT_RRTYPE_TXT); }
static void b_ch_other(buf_t *b) { b_ch(b, "authors.bind", KNOT_RRTYPE_TXT); }
static void b_ch_zone(buf_t *b) { b_ch(b, "vendor.example", KNOT_RRTYPE_SOA); }
static void b_ch_id_a(buf_t *b) { b_ch(b, "id.server", KNOT_RRTYPE_A); }
static void b_class(buf_t *b, uint16_t cls)
{
	hdr(b, 0, 1, 0, 0, 0);
	question(b, "vendor.example", KNOT_RRTYPE_SOA, cls);
}
static void b_class_any(buf_t *b) { b_class(b, KNOT_CLASS_ANY); }
static void b_class_none(buf_t *b) { b_class(b, KNOT_CLASS_NONE); }
static void b_class_hs(buf_t *b) { b_class(b, 4); }
static void b_class_0(buf_t *b) { b_class(b, 0); }
static void b_trailing(buf_t *b) { soa_query(b, 0); u16(b, 0x0001); }
static void b_trailing_opt(buf_t *b) { edns_soa_query(b, 1232, 0); u8(b, 0); }
static void b_an_beyond(buf_t *b) { soa_query(b, 0); b->d[7] = 1; }
static void b_ar_beyond(buf_t *b) { soa_query(b, 0); b->d[11] = 1; }
static void b_tc(buf_t *b) { soa_query(b, F_TC); }
static void b_ad(buf_t *b) { soa_query(b, F_AD); }
static void b_cd(buf_t *b) { soa_query(b, F_CD); }
static void b_rd(buf_t *b) { soa_query(b, F_RD); }
static void b_ra(buf_t *b) { soa_query(b, F_RA); }
static void b_z(buf_t *b) { soa_query(b, F_Z); }
static void b_aa(buf_t *b) { soa_query(b, F_AA); }
static void b_type_unknown(buf_t *b) { qtype_query(b, 65000); }
static void b_type_0(buf_t *b) { qtype_query(b, 0); }
static void b_axfr(buf_t *b) { qtype_query(b, KNOT_RRTYPE_AXFR); }
static void b_ixfr(buf_t *b) { qtype_query(b, KNOT_RRTYPE_IXFR); }
static void b_maila(buf_t *b) { qtype_query(b, 254); }
static void b_mailb(buf_t *b) { qtype_query(b, 253); }
static void b_tkey(buf_t *b) { qtype_query(b, KNOT_RRTYPE_TKEY); }
static void b_qtype_opt(buf_t *b) { qtype_query(b, KNOT_RRTYPE_OPT); }
static void b_qtype_tsig(buf_t *b) { qtype_query(b, KNOT_RRTYPE_TSIG); }
static void b_big(buf_t *b, int payload)
{
	hdr(b, 0, 1, 0, 0, payload >= 0 ? 1 : 0);
	question(b, "big.vendor.example", KNOT_RRTYPE_TXT, KNOT_CLASS_IN);
	if (payload >= 0)
		opt(b, "", (uint16_t)payload, 0, NULL, 0);
}
static void b_payload100(buf_t *b) { b_big(b, 100); }
static void b_mid100(buf_t *b)
{
	b_big(b, 100);
	memcpy(b->d + 13, "mid", 3);
}
static void b_payload0(buf_t *b) { b_big(b, 0); }
static void b_payload512(buf_t *b) { b_big(b, 512); }
static void b_payload4096(buf_t *b) { b_big(b, 4096); }
static void b_payload_none(buf_t *b) { b_big(b, -1); }
static void b_with_answer_rr(buf_t *b)
{
	soa_query(b, 0);
	b->d[7] = 1; /* a record in the answer section of a query: ignored */
	question(b, "vendor.example", KNOT_RRTYPE_A, KNOT_CLASS_IN);
	raw(b, "\0\0\0\0\0\4\1\2\3\4", 10);
}

/* --- The table --------------------------------------------------------------------- */

enum { BOTH, UDP_ONLY, TCP_ONLY };
enum { DROP = -1 };
enum { NO_OPT = -1, OPT_V0 = 0 };
#define BADVERS KNOT_RCODE_BADVERS

typedef struct row {
	const char *name;
	void (*build)(buf_t *b);
	int transports;
	int rcode;      /**< Whole rcode (extended with the OPT's), or DROP. */
	uint16_t set;   /**< Header bits that must be set (besides QR). */
	uint16_t clear; /**< Header bits that must be clear. */
	int qd, an, ns, ar; /**< Counts; ar includes the OPT. */
	int opt;        /**< NO_OPT or the OPT version expected. */
	size_t max_len; /**< 0 or the largest response allowed. */
} row_t;

/* Bits every response clears: RA (we do not recurse), Z, AD (no validation). */
#define CLR (F_RA | F_Z | F_AD)

static const row_t rows[] = {
    /* Not a query, or not even a header: no answer. */
    {"empty", b_empty, BOTH, DROP, 0, 0, 0, 0, 0, 0, NO_OPT, 0},
    {"header shorter than 12 octets", b_short, BOTH, DROP, 0, 0, 0, 0, 0, 0, NO_OPT, 0},
    {"QR=1 (a response)", b_qr, BOTH, DROP, 0, 0, 0, 0, 0, 0, NO_OPT, 0},
    /* Malformed question: FORMERR, no question echoed. */
    {"header only, QDCOUNT 1", b_header_only, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 0, 0, 0, 0, NO_OPT, 0},
    {"truncated QNAME", b_trunc_name, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 0, 0, 0, 0, NO_OPT, 0},
    {"question without QCLASS", b_trunc_class, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 0, 0, 0, 0, NO_OPT, 0},
    {"QDCOUNT 0", b_qd0, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 0, 0, 0, 0, NO_OPT, 0},
    {"QDCOUNT 0 with only a COOKIE (RFC 7873 5.4)", b_qd0_cookie, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 0, 0, 0, 1, OPT_V0, 0},
    {"QDCOUNT 2", b_qd2, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 0, 0, 0, 0, NO_OPT, 0},
    {"compression pointer to itself", b_loop, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 0, 0, 0, 0, NO_OPT, 0},
    {"compression loop through a label", b_loop2, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 0, 0, 0, 0, NO_OPT, 0},
    {"forward compression pointer", b_forward, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 0, 0, 0, 0, NO_OPT, 0},
    {"label of 64 octets", b_label64, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 0, 0, 0, 0, NO_OPT, 0},
    {"name of 257 octets", b_name257, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 0, 0, 0, 0, NO_OPT, 0},
    {"name of 255 octets (valid, not ours)", b_name255, BOTH, KNOT_RCODE_REFUSED, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    /* Rest of the message malformed: FORMERR with the question. */
    {"trailing octets after the question", b_trailing, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"trailing octet after the OPT", b_trailing_opt, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 1, 0, 0, 1, OPT_V0, 0},
    {"ANCOUNT beyond the data", b_an_beyond, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"ARCOUNT beyond the data", b_ar_beyond, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"a record in the answer section (ignored)", b_with_answer_rr, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR, 1, 1, 0, 0, NO_OPT, 0},
    /* Opcodes. */
    {"IQUERY", b_iquery, BOTH, KNOT_RCODE_NOTIMPL, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"STATUS", b_status, BOTH, KNOT_RCODE_NOTIMPL, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"opcode 3 (unassigned)", b_op3, BOTH, KNOT_RCODE_NOTIMPL, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"NOTIFY (we are never a secondary)", b_notify, BOTH, KNOT_RCODE_NOTIMPL, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"UPDATE", b_update, BOTH, KNOT_RCODE_NOTIMPL, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"opcode 15", b_op15, BOTH, KNOT_RCODE_NOTIMPL, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"IQUERY with a looping QNAME", b_iquery_loop, BOTH, KNOT_RCODE_NOTIMPL, 0, CLR | F_AA, 0, 0, 0, 0, NO_OPT, 0},
    /* EDNS. */
    {"EDNS version 1: BADVERS, OPT version 0", b_badvers, BOTH, BADVERS, 0, CLR | F_AA, 1, 0, 0, 1, OPT_V0, 0},
    {"two OPT records", b_two_opt, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 1, 0, 0, 1, OPT_V0, 0},
    {"OPT in the answer section", b_opt_answer, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"OPT in the authority section", b_opt_authority, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"OPT with a non-root owner", b_opt_owner, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    /* Classes. */
    {"CH TXT id.server", b_ch_id, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR, 1, 1, 0, 0, NO_OPT, 0},
    {"CH TXT hostname.bind", b_ch_hostname, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR, 1, 1, 0, 0, NO_OPT, 0},
    {"CH TXT version.bind", b_ch_version, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR, 1, 1, 0, 0, NO_OPT, 0},
    {"CH TXT version.server", b_ch_version_server, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR, 1, 1, 0, 0, NO_OPT, 0},
    {"CH TXT authors.bind", b_ch_other, BOTH, KNOT_RCODE_REFUSED, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"CH SOA of our zone", b_ch_zone, BOTH, KNOT_RCODE_REFUSED, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"CH A id.server", b_ch_id_a, BOTH, KNOT_RCODE_REFUSED, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"class ANY: answered from IN", b_class_any, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR, 1, 1, 0, 0, NO_OPT, 0},
    {"class NONE", b_class_none, BOTH, KNOT_RCODE_REFUSED, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"class HS", b_class_hs, BOTH, KNOT_RCODE_REFUSED, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"class 0", b_class_0, BOTH, KNOT_RCODE_REFUSED, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    /* Header bits of a query. */
    {"TC=1 in a query: ignored", b_tc, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR | F_TC, 1, 1, 0, 0, NO_OPT, 0},
    {"AD=1: not echoed (no validation)", b_ad, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR, 1, 1, 0, 0, NO_OPT, 0},
    {"CD=1: copied (RFC 4035 3.1.6)", b_cd, BOTH, KNOT_RCODE_NOERROR, F_AA | F_CD, CLR, 1, 1, 0, 0, NO_OPT, 0},
    {"RD=1: copied, RA clear", b_rd, BOTH, KNOT_RCODE_NOERROR, F_AA | F_RD, CLR, 1, 1, 0, 0, NO_OPT, 0},
    {"RD=0: stays clear", b_aa, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR | F_RD, 1, 1, 0, 0, NO_OPT, 0},
    {"RA=1 in a query: clear", b_ra, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR, 1, 1, 0, 0, NO_OPT, 0},
    {"Z=1 in a query: clear", b_z, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR, 1, 1, 0, 0, NO_OPT, 0},
    /* Types. */
    {"unknown type 65000: NODATA", b_type_unknown, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR, 1, 0, 1, 0, NO_OPT, 0},
    {"type 0: NODATA", b_type_0, BOTH, KNOT_RCODE_NOERROR, F_AA, CLR, 1, 0, 1, 0, NO_OPT, 0},
    {"AXFR over UDP", b_axfr, UDP_ONLY, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"AXFR over TCP without a transfer service", b_axfr, TCP_ONLY, KNOT_RCODE_REFUSED, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"IXFR without a transfer service", b_ixfr, BOTH, KNOT_RCODE_REFUSED, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"MAILA", b_maila, BOTH, KNOT_RCODE_NOTIMPL, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"MAILB", b_mailb, BOTH, KNOT_RCODE_NOTIMPL, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"TKEY", b_tkey, BOTH, KNOT_RCODE_NOTIMPL, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"QTYPE OPT", b_qtype_opt, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    {"QTYPE TSIG", b_qtype_tsig, BOTH, KNOT_RCODE_FORMERR, 0, CLR | F_AA, 1, 0, 0, 0, NO_OPT, 0},
    /* Payload sizes, with a 2000-octet TXT. */
    {"EDNS payload 100 counts as 512: 350 octets fit", b_mid100, UDP_ONLY, KNOT_RCODE_NOERROR, F_AA, CLR | F_TC, 1, 1, 0, 1, OPT_V0, 512},
    {"EDNS payload 100 counts as 512: 2000 do not", b_payload100, UDP_ONLY, KNOT_RCODE_NOERROR, F_AA | F_TC, CLR, 1, 0, 0, 1, OPT_V0, 512},
    {"EDNS payload 0 counts as 512", b_payload0, UDP_ONLY, KNOT_RCODE_NOERROR, F_AA | F_TC, CLR, 1, 0, 0, 1, OPT_V0, 512},
    {"EDNS payload 512", b_payload512, UDP_ONLY, KNOT_RCODE_NOERROR, F_AA | F_TC, CLR, 1, 0, 0, 1, OPT_V0, 512},
    {"EDNS payload 4096: our 1232 still too small", b_payload4096, UDP_ONLY, KNOT_RCODE_NOERROR, F_AA | F_TC, CLR, 1, 0, 0, 1, OPT_V0, 1232},
    {"no EDNS: 512", b_payload_none, UDP_ONLY, KNOT_RCODE_NOERROR, F_AA | F_TC, CLR, 1, 0, 0, 0, NO_OPT, 512},
    {"EDNS payload 100 over TCP: all of it", b_payload100, TCP_ONLY, KNOT_RCODE_NOERROR, F_AA, CLR | F_TC, 1, 1, 0, 1, OPT_V0, 0},
};

static void check_row(const row_t *row, mns_transport_t tr)
{
	static uint8_t resp[65535];
	buf_t q = {.n = 0};
	row->build(&q);
	const char *trn = tr == MNS_TRANSPORT_TCP ? "TCP" : "UDP";
	size_t len = mns_dns_process(&g_ctx, q.d, q.n, resp,
	                             tr == MNS_TRANSPORT_TCP ? sizeof(resp) : 1232, tr);
	if (row->rcode == DROP) {
		if (len != 0)
			fail_msg("%s (%s): answered, expected a drop", row->name, trn);
		return;
	}
	if (len == 0)
		fail_msg("%s (%s): dropped", row->name, trn);
	if (row->max_len > 0 && len > row->max_len)
		fail_msg("%s (%s): %zu octets, limit %zu", row->name, trn, len, row->max_len);
	knot_pkt_t *r = knot_pkt_new(resp, (uint16_t)len, NULL);
	assert_non_null(r);
	int ret = knot_pkt_parse(r, KNOT_PF_NOCANON);
	if (ret != KNOT_EOK)
		fail_msg("%s (%s): response does not parse: %s", row->name, trn, knot_strerror(ret));
	uint16_t flags = knot_wire_read_u16(resp + 2);
	uint8_t ext = r->opt_rr != NULL ? knot_edns_get_ext_rcode(r->opt_rr) : 0;
	int rcode = knot_edns_whole_rcode(ext, knot_wire_get_rcode(resp));
	int got[] = {knot_wire_get_qdcount(resp), knot_wire_get_ancount(resp),
	             knot_wire_get_nscount(resp), knot_wire_get_arcount(resp)};
	int want[] = {row->qd, row->an, row->ns, row->ar};
	int opt = r->opt_rr != NULL ? knot_edns_get_version(r->opt_rr) : NO_OPT;
	print_message("%-48s %s rcode %d flags %04x counts %d/%d/%d/%d opt %d len %zu\n", row->name,
	              trn, rcode, flags, got[0], got[1], got[2], got[3], opt, len);
	if (knot_wire_get_id(resp) != ID)
		fail_msg("%s (%s): ID %u", row->name, trn, knot_wire_get_id(resp));
	if (!(flags & F_QR) || knot_wire_get_opcode(resp) != knot_wire_get_opcode(q.d))
		fail_msg("%s (%s): QR or opcode wrong (%04x)", row->name, trn, flags);
	if (rcode != row->rcode)
		fail_msg("%s (%s): rcode %d, expected %d", row->name, trn, rcode, row->rcode);
	if ((flags & row->set) != row->set || (flags & row->clear) != 0)
		fail_msg("%s (%s): flags %04x, want set %04x clear %04x", row->name, trn, flags,
		         row->set, row->clear);
	if (memcmp(got, want, sizeof(got)) != 0)
		fail_msg("%s (%s): counts %d/%d/%d/%d, expected %d/%d/%d/%d", row->name, trn,
		         got[0], got[1], got[2], got[3], want[0], want[1], want[2], want[3]);
	if (opt != row->opt)
		fail_msg("%s (%s): OPT %d, expected %d", row->name, trn, opt, row->opt);
	/* A question we echo is the query's, octet for octet (case included). */
	if (row->qd == 1 && got[0] == 1) {
		size_t qn = knot_dname_size(resp + 12) + 4;
		if (memcmp(resp + 12, q.d + 12, qn) != 0)
			fail_msg("%s (%s): question not echoed", row->name, trn);
	}
	knot_pkt_free(r);
}

static void test_table(void **state)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].transports != TCP_ONLY)
			check_row(&rows[i], MNS_TRANSPORT_UDP);
		if (rows[i].transports != UDP_ONLY)
			check_row(&rows[i], MNS_TRANSPORT_TCP);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
