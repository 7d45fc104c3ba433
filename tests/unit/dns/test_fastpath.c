/*  The fast path of mns_dns_process (RDATA copied from the zone) answers exactly as the
 *  general (libknot) path: every query of a table is answered both ways and
 *  the two responses must parse to the same header, question, RRs in the
 *  same sections and order (owners compared with their case), and OPT, and
 *  leave the same counters. Each case also says whether the fast path must
 *  have answered it, so the table proves the fast path is taken where it
 *  should be and left where it must be.
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
#include "dnszones.h"

/* --- Zones ------------------------------------------------------------------ */

static mns_index_t *g_idx;
static mns_dns_ctx_t g_fast, g_slow; /* fast path on / off */

/* The shared tenant zone with more: a DKIM selector with two keys, an MX
 * whose target is in the zone, and that target's A. */
static mns_zone_t *tenant_zone(void)
{
	mns_error_t err;
	mns_zone_builder_t *zb = dz_tenant_begin();
	dz_ok(mns_zb_add_txt(zb, "s2._domainkey", 3600, "v=DKIM1; k=rsa; p=MIIB", &err), &err);
	dz_ok(mns_zb_add_txt(zb, "s2._domainkey", 3600, "v=DKIM1; k=ed25519; p=11qYAY", &err),
	      &err);
	dz_ok(mns_zb_add_mx(zb, "in", 3600, 10, "mail.mgeu.example.com", &err), &err);
	dz_add_a(zb, "mail", 25);
	mns_zone_t *z = dz_build(zb);
	/* As the server sets it before publishing: both paths see the new serial. */
	mns_zone_set_serial(z, 2024010199);
	return z;
}

/* The shared static zone with more: an RRset of three A at the end of the
 * CNAME chain, and an AAAA. */
static mns_zone_t *static_zone(void)
{
	mns_error_t err;
	mns_zone_builder_t *zb = dz_static_begin();
	dz_add_a(zb, "host", 11);
	dz_add_a(zb, "host", 12);
	const uint8_t aaaa[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	dz_ok(mns_zb_add_rdata(zb, "v6", KNOT_RRTYPE_AAAA, 60, aaaa, sizeof(aaaa), &err), &err);
	return dz_build(zb);
}

static int setup(void **state)
{
	g_idx = dz_index_new();
	assert_int_equal(mns_index_publish(g_idx, static_zone()), MNS_OK);
	assert_int_equal(mns_index_publish(g_idx, dz_hosted_zone()), MNS_OK);
	assert_int_equal(mns_index_publish(g_idx, tenant_zone()), MNS_OK);
	assert_int_equal(mns_index_publish(g_idx, dz_subtree_zone("acme.mailns.vendor.example")),
	                 MNS_OK);
	/* deep.mailns.vendor.example: an empty non-terminal only the index knows. */
	assert_int_equal(mns_index_publish(g_idx, dz_subtree_zone("x.deep.mailns.vendor.example")),
	                 MNS_OK);
	mns_dns_ctx_t *ctx[] = {&g_fast, &g_slow};
	for (size_t i = 0; i < 2; i++) {
		ctx[i]->index = g_idx;
		ctx[i]->conf = &dz_conf;
		ctx[i]->stats = mns_stats_block_register();
		assert_non_null(ctx[i]->stats);
		assert_int_equal(mns_arena_init(&ctx[i]->arena, MNS_DNS_ARENA_SIZE), 0);
	}
	g_slow.no_fast_path = true;
	return 0;
}

static int teardown(void **state)
{
	mns_arena_deinit(&g_fast.arena);
	mns_arena_deinit(&g_slow.arena);
	mns_stats_reset();
	dz_index_free(g_idx);
	return 0;
}

/* --- Queries ---------------------------------------------------------------- */

enum { NO_EDNS = -1 };
enum { UDP = MNS_TRANSPORT_UDP, TCP = MNS_TRANSPORT_TCP };

/* What is odd about a query, beyond its question. */
enum {
	Q_PLAIN,
	Q_DO,        /* EDNS DO bit */
	Q_CD,        /* CD (and RD) set */
	Q_ADZ,       /* AD, Z and TC set in the query: clear in the response */
	Q_VERSION1,  /* EDNS version 1: BADVERS */
	Q_COOKIE,    /* a client COOKIE option (ignored) */
	Q_BADOPT,    /* an option running past the OPT's RDATA: FORMERR */
	Q_OPTOWNER,  /* an OPT owned by a name other than the root: FORMERR */
	Q_TRAILING,  /* an octet after the question: FORMERR */
	Q_NOTIFY,    /* opcode NOTIFY: NOTIMP */
	Q_POINTER,   /* the question name as a (forward) pointer: FORMERR */
	Q_EXTRCODE,  /* extended RCODE bits set in the query's OPT (ignored) */
};

typedef struct qcase {
	const char *name; /* keeps its case on the wire */
	uint16_t type;
	uint16_t cls;
	int payload; /* NO_EDNS, or the EDNS UDP size */
	int odd;     /* Q_* */
	int tr;      /* UDP or TCP */
	bool fast;   /* the fast path must answer it */
} qcase_t;

static uint8_t g_q[4096];
static size_t g_qlen;

static void make_query(const qcase_t *c)
{
	knot_dname_storage_t qname;
	assert_non_null(knot_dname_from_str(qname, c->name, sizeof(qname)));
	size_t n = knot_dname_size(qname);
	uint8_t *p = g_q;
	memset(p, 0, KNOT_WIRE_HEADER_SIZE);
	knot_wire_set_id(p, 0xbeef);
	knot_wire_set_rd(p);
	knot_wire_set_qdcount(p, 1);
	if (c->odd == Q_CD)
		knot_wire_set_cd(p);
	if (c->odd == Q_ADZ) {
		knot_wire_set_ad(p);
		knot_wire_set_z(p);
		knot_wire_set_tc(p);
	}
	if (c->odd == Q_NOTIFY)
		knot_wire_set_opcode(p, KNOT_OPCODE_NOTIFY);
	p += KNOT_WIRE_HEADER_SIZE;
	if (c->odd == Q_POINTER) {
		*p++ = 0xc0;
		*p++ = 16;
	} else {
		memcpy(p, qname, n);
		p += n;
	}
	knot_wire_write_u16(p, c->type);
	knot_wire_write_u16(p + 2, c->cls);
	p += 4;
	if (c->odd == Q_TRAILING)
		*p++ = 0;
	if (c->payload != NO_EDNS) {
		knot_wire_set_arcount(g_q, 1);
		if (c->odd == Q_OPTOWNER) {
			memcpy(p, "\001x", 3);
			p += 3;
		} else {
			*p++ = 0;
		}
		knot_wire_write_u16(p, KNOT_RRTYPE_OPT);
		knot_wire_write_u16(p + 2, (uint16_t)c->payload);
		p[4] = c->odd == Q_EXTRCODE ? 1 : 0;                    /* extended RCODE */
		p[5] = c->odd == Q_VERSION1 ? 1 : 0;                    /* version */
		knot_wire_write_u16(p + 6, c->odd == Q_DO ? 0x8000 : 0); /* flags */
		p += 8;
		if (c->odd == Q_COOKIE) {
			knot_wire_write_u16(p, 12); /* RDLENGTH */
			knot_wire_write_u16(p + 2, KNOT_EDNS_OPTION_COOKIE);
			knot_wire_write_u16(p + 4, 8);
			memcpy(p + 6, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
			p += 14;
		} else if (c->odd == Q_BADOPT) {
			knot_wire_write_u16(p, 6);
			knot_wire_write_u16(p + 2, KNOT_EDNS_OPTION_COOKIE);
			knot_wire_write_u16(p + 4, 8); /* 8 announced, 2 present */
			p[6] = p[7] = 0;
			p += 8;
		} else {
			knot_wire_write_u16(p, 0);
			p += 2;
		}
	}
	g_qlen = (size_t)(p - g_q);
}

static uint8_t g_rf[65535], g_rs[65535];
static size_t g_rmax; /* response buffer size when not 0 */

/* Parses a response, case kept. */
static knot_pkt_t *parse(uint8_t *wire, size_t len, const char *what)
{
	knot_pkt_t *r = knot_pkt_new(wire, (uint16_t)len, NULL);
	assert_non_null(r);
	int ret = knot_pkt_parse(r, KNOT_PF_NOCANON);
	if (ret != KNOT_EOK)
		fail_msg("%s: response does not parse: %s", what, knot_strerror(ret));
	return r;
}

/* The same RR: owners with their case, RDATA compared canonically (libknot
 * may compress a name in RDATA into the question, so that it comes back in
 * the client's case; the fast path writes it lowercase, as stored). */
static void assert_same_rr(knot_rrset_t *a, knot_rrset_t *b, const char *what, size_t i)
{
	if (!knot_dname_is_equal(a->owner, b->owner)) /* case-sensitive */
		fail_msg("%s: RR %zu owners differ", what, i);
	if (a->type != b->type || a->rclass != b->rclass || a->ttl != b->ttl)
		fail_msg("%s: RR %zu: type %u/%u class %u/%u TTL %u/%u", what, i, a->type, b->type,
		         a->rclass, b->rclass, a->ttl, b->ttl);
	assert_int_equal(knot_rrset_rr_to_canonical(a), KNOT_EOK);
	assert_int_equal(knot_rrset_rr_to_canonical(b), KNOT_EOK);
	if (!knot_rdataset_eq(&a->rrs, &b->rrs))
		fail_msg("%s: RR %zu RDATA differ", what, i);
}

static const char *describe(const qcase_t *c, char *buf, size_t len)
{
	char type[32];
	knot_rrtype_to_string(c->type, type, sizeof(type));
	snprintf(buf, len, "%s %s class %u payload %d odd %d %s", c->name, type, c->cls,
	         c->payload, c->odd, c->tr == TCP ? "TCP" : "UDP");
	return buf;
}

/* Compares the responses in g_rf (\a lf octets, fast path on) and g_rs
 * (\a ls, off) and the two contexts' counters. */
static void compare(size_t lf, size_t ls, bool udp, const char *what)
{
	if ((lf == 0) != (ls == 0))
		fail_msg("%s: one way answered, the other did not", what);
	if (lf == 0)
		return;
	/* Compression differs (the fast path does not compress RDATA names): the
	 * fast answer may be longer, never shorter, and within the same limit. */
	if (lf < ls)
		fail_msg("%s: fast answer %zu octets, general %zu", what, lf, ls);
	if (udp)
		assert_true(lf <= 1232);
	/* ID, flags, RCODE and the four counts. */
	if (memcmp(g_rf, g_rs, KNOT_WIRE_HEADER_SIZE) != 0)
		fail_msg("%s: headers differ (flags %02x%02x / %02x%02x)", what, g_rf[2], g_rf[3],
		         g_rs[2], g_rs[3]);
	knot_pkt_t *f = parse(g_rf, lf, what), *s = parse(g_rs, ls, what);
	assert_int_equal(f->qname_size, s->qname_size);
	if (f->qname_size > 0)
		assert_memory_equal(f->wire + KNOT_WIRE_HEADER_SIZE,
		                    s->wire + KNOT_WIRE_HEADER_SIZE, f->qname_size + 4);
	for (knot_section_t sec = KNOT_ANSWER; sec <= KNOT_ADDITIONAL; sec++)
		assert_int_equal(knot_pkt_section(f, sec)->count, knot_pkt_section(s, sec)->count);
	assert_int_equal(f->rrset_count, s->rrset_count);
	for (size_t i = 0; i < f->rrset_count; i++)
		assert_same_rr(&f->rr[i], &s->rr[i], what, i);
	assert_int_equal(f->opt_rr != NULL, s->opt_rr != NULL);
	knot_pkt_free(f);
	knot_pkt_free(s);
	/* The same counters (transport, QTYPE, RCODE, zone kind, TC). */
	if (memcmp(g_fast.stats, g_slow.stats, offsetof(mns_stats_block_t, pad_)) != 0)
		fail_msg("%s: counters differ", what);
}

/* Answers \a c both ways and compares. */
static void check_case(const qcase_t *c)
{
	char what[512];
	describe(c, what, sizeof(what));
	make_query(c);
	size_t rmax = g_rmax != 0 ? g_rmax : c->tr == TCP ? 65535 : sizeof(g_rf);
	uint64_t fast_before = g_fast.fast_answers;
	size_t lf = mns_dns_process(&g_fast, g_q, g_qlen, g_rf, rmax, (mns_transport_t)c->tr);
	size_t ls = mns_dns_process(&g_slow, g_q, g_qlen, g_rs, rmax, (mns_transport_t)c->tr);
	bool took = g_fast.fast_answers != fast_before;
	if (took != c->fast)
		fail_msg("%s: fast path %s", what, took ? "taken" : "not taken");
	assert_int_equal(g_slow.fast_answers, 0);
	compare(lf, ls, c->tr == UDP, what);
}

#define IN KNOT_CLASS_IN
#define T(x) KNOT_RRTYPE_##x

static const qcase_t g_cases[] = {
    /* Tenant zone: positive, mixed case, EDNS or not, both transports. */
    {"mgeu.example.com", T(SOA), IN, NO_EDNS, Q_PLAIN, UDP, true},
    {"MgEu.Example.COM", T(SOA), IN, 1232, Q_PLAIN, UDP, true},
    {"mgeu.example.com", T(NS), IN, 1232, Q_DO, UDP, true},
    {"mgeu.EXAMPLE.com", T(MX), IN, NO_EDNS, Q_CD, UDP, true},
    {"mgeu.example.com", T(TXT), IN, 1232, Q_ADZ, UDP, true},
    {"_DMARC.mgeu.example.com", T(TXT), IN, 4096, Q_PLAIN, UDP, true},
    {"s1._domainkey.mgeu.example.com", T(TXT), IN, 1232, Q_PLAIN, UDP, true},
    {"S2._DomainKey.Mgeu.Example.Com", T(TXT), IN, 1232, Q_PLAIN, TCP, true},
    {"s1._domainkey.mgeu.example.com", T(TXT), IN, 1232, Q_COOKIE, UDP, true},
    {"s1._domainkey.mgeu.example.com", T(TXT), IN, 1232, Q_EXTRCODE, UDP, true},
    {"mgeu.example.com", T(SOA), IN, 100, Q_PLAIN, UDP, true}, /* counts as 512 */
    {"mgeu.example.com", T(SOA), IN, 65535, Q_DO, TCP, true},
    /* Small payloads: the general path truncates. */
    {"s1._domainkey.mgeu.example.com", T(TXT), IN, NO_EDNS, Q_PLAIN, UDP, false},
    {"s1._domainkey.mgeu.example.com", T(TXT), IN, 512, Q_PLAIN, UDP, false},
    {"s1._domainkey.mgeu.example.com", T(TXT), IN, NO_EDNS, Q_PLAIN, TCP, true},
    {"big.mgeu.example.com", T(TXT), IN, 1232, Q_PLAIN, UDP, false},
    {"big.mgeu.example.com", T(TXT), IN, 4096, Q_PLAIN, UDP, false}, /* ours is 1232 */
    {"big.mgeu.example.com", T(TXT), IN, NO_EDNS, Q_PLAIN, TCP, true},
    /* Negative answers. */
    {"_dmarc.mgeu.example.com", T(A), IN, NO_EDNS, Q_PLAIN, UDP, true},
    {"mgeu.example.com", T(AAAA), IN, 1232, Q_DO, UDP, true},
    {"nope.mgeu.example.com", T(A), IN, NO_EDNS, Q_PLAIN, UDP, true},
    {"NoPe.MGEU.example.COM", T(TXT), IN, 1232, Q_PLAIN, UDP, true},
    {"a.b.c.nope.Mgeu.example.com", T(MX), IN, 1232, Q_PLAIN, TCP, true},
    {"_domainkey.mgeu.example.com", T(TXT), IN, 1232, Q_PLAIN, UDP, true}, /* ENT */
    {"mgeu.example.com", 65000, IN, 1232, Q_PLAIN, UDP, true},            /* unknown type */
    /* Additional-section processing: left to the general path. */
    {"in.mgeu.example.com", T(MX), IN, 1232, Q_PLAIN, UDP, false},
    {"mail.mgeu.example.com", T(A), IN, 1232, Q_PLAIN, UDP, true},
    /* Types and classes the fast path leaves alone. */
    {"mgeu.example.com", T(DS), IN, 1232, Q_PLAIN, UDP, false},
    {"mgeu.example.com", T(ANY), IN, 1232, Q_PLAIN, UDP, false},
    {"mgeu.example.com", T(ANY), IN, 1232, Q_PLAIN, TCP, false},
    {"mgeu.example.com", T(RRSIG), IN, 1232, Q_PLAIN, UDP, false},
    {"mgeu.example.com", T(NSEC), IN, 1232, Q_PLAIN, UDP, false},
    {"mgeu.example.com", T(DNSKEY), IN, 1232, Q_PLAIN, UDP, false},
    {"mgeu.example.com", T(AXFR), IN, NO_EDNS, Q_PLAIN, UDP, false},
    {"mgeu.example.com", T(IXFR), IN, NO_EDNS, Q_PLAIN, TCP, false},
    {"mgeu.example.com", T(OPT), IN, NO_EDNS, Q_PLAIN, UDP, false},
    {"mgeu.example.com", T(TKEY), IN, NO_EDNS, Q_PLAIN, UDP, false},
    {"mgeu.example.com", 254, IN, NO_EDNS, Q_PLAIN, UDP, false}, /* MAILA */
    {"mgeu.example.com", 0, IN, NO_EDNS, Q_PLAIN, UDP, false},
    {"mgeu.example.com", T(SOA), KNOT_CLASS_ANY, 1232, Q_PLAIN, UDP, false},
    {"mgeu.example.com", T(SOA), KNOT_CLASS_NONE, 1232, Q_PLAIN, UDP, false},
    {"version.bind", T(TXT), KNOT_CLASS_CH, NO_EDNS, Q_PLAIN, UDP, false},
    /* Messages the fast path does not parse. */
    {"mgeu.example.com", T(SOA), IN, 1232, Q_VERSION1, UDP, false},
    {"mgeu.example.com", T(SOA), IN, 1232, Q_BADOPT, UDP, false},
    {"mgeu.example.com", T(SOA), IN, 1232, Q_OPTOWNER, UDP, false},
    {"mgeu.example.com", T(SOA), IN, NO_EDNS, Q_TRAILING, UDP, false},
    {"mgeu.example.com", T(SOA), IN, NO_EDNS, Q_NOTIFY, UDP, false},
    {"mgeu.example.com", T(SOA), IN, NO_EDNS, Q_POINTER, UDP, false},
    /* Not ours. */
    {"example.com", T(SOA), IN, 1232, Q_PLAIN, UDP, false},
    {"www.example.net", T(A), IN, NO_EDNS, Q_PLAIN, UDP, false},
    /* Hosted zone and SUBTREE (negative answers carry the hosted SOA). */
    {"mailns.vendor.example", T(SOA), IN, 1232, Q_PLAIN, UDP, true},
    {"MailNS.vendor.example", T(NS), IN, 1232, Q_PLAIN, UDP, true},
    {"s1._domainkey.ACME.mailns.vendor.example", T(TXT), IN, 1232, Q_PLAIN, UDP, true},
    {"bounce.acme.mailns.vendor.example", T(MX), IN, NO_EDNS, Q_PLAIN, UDP, true},
    {"bounce.acme.mailns.vendor.example", T(TXT), IN, 1232, Q_DO, TCP, true},
    {"acme.mailns.vendor.example", T(TXT), IN, 1232, Q_PLAIN, UDP, true}, /* SUBTREE apex */
    {"nx.acme.MAILNS.vendor.example", T(TXT), IN, 1232, Q_PLAIN, UDP, true},
    {"bounce.acme.mailns.vendor.example", T(A), IN, 1232, Q_PLAIN, UDP, true},
    {"Deep.mailns.vendor.example", T(TXT), IN, 1232, Q_PLAIN, UDP, true}, /* index ENT */
    {"nx.mailns.vendor.example", T(A), IN, NO_EDNS, Q_PLAIN, UDP, true},
    {"mailns.vendor.example", T(DS), IN, NO_EDNS, Q_PLAIN, UDP, false},
    /* Static zone: additional data, CNAMEs, delegations, ENTs. */
    {"vendor.example", T(SOA), IN, 1232, Q_PLAIN, UDP, true},
    {"vendor.example", T(NS), IN, 1232, Q_PLAIN, UDP, false}, /* glue */
    {"mail.vendor.example", T(MX), IN, 1232, Q_PLAIN, UDP, false},
    {"HOST.vendor.example", T(A), IN, 1232, Q_PLAIN, UDP, true},
    {"v6.vendor.example", T(AAAA), IN, NO_EDNS, Q_PLAIN, UDP, true},
    {"ns1.vendor.example", T(AAAA), IN, NO_EDNS, Q_PLAIN, UDP, true},
    {"www.vendor.example", T(A), IN, 1232, Q_PLAIN, UDP, false},
    {"www.vendor.example", T(CNAME), IN, 1232, Q_PLAIN, UDP, false},
    {"sub.vendor.example", T(A), IN, 1232, Q_PLAIN, UDP, false},
    {"ns.sub.vendor.example", T(A), IN, 1232, Q_PLAIN, UDP, false},
    {"sub.vendor.example", T(DS), IN, 1232, Q_PLAIN, UDP, false},
    {"y.vendor.example", T(A), IN, 1232, Q_PLAIN, UDP, true},
    {"x.Y.vendor.example", T(A), IN, 1232, Q_PLAIN, UDP, true},
    {"nothere.vendor.example", T(TXT), IN, NO_EDNS, Q_PLAIN, UDP, true},
};

static void test_equivalence(void **state)
{
	for (size_t i = 0; i < sizeof(g_cases) / sizeof(g_cases[0]); i++)
		check_case(&g_cases[i]);
	/* Both contexts answered the same number of messages; the fast one
	 * mostly without libknot. */
	assert_true(g_fast.fast_answers > 30);
}

/* Response buffers smaller than the answer (a transport's limit): the
 * fast path leaves them to the general path, which answers the same. */
static void test_small_buffers(void **state)
{
	static const size_t sizes[] = {12, 13, 40, 64, 100};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		g_rmax = sizes[i];
		const qcase_t c1 = {"mgeu.example.com", T(SOA), IN, 1232, Q_PLAIN, TCP, false};
		const qcase_t c2 = {"nope.mgeu.example.com", T(A), IN, NO_EDNS, Q_PLAIN, UDP, false};
		check_case(&c1);
		check_case(&c2);
	}
	/* Just enough room for the SOA: taken. */
	g_rmax = 150;
	const qcase_t c3 = {"mgeu.example.com", T(SOA), IN, NO_EDNS, Q_PLAIN, TCP, true};
	check_case(&c3);
	g_rmax = 0;
}

/* The negative SOA's owner points into the question: the apex's case as
 * the client wrote it, whatever the suffix. */
static void test_negative_owner_case(void **state)
{
	const qcase_t c = {"a.B.MgEu.eXample.com", T(TXT), IN, NO_EDNS, Q_PLAIN, UDP, true};
	make_query(&c);
	size_t len = mns_dns_process(&g_fast, g_q, g_qlen, g_rf, sizeof(g_rf), MNS_TRANSPORT_UDP);
	assert_true(len > 0);
	knot_pkt_t *r = parse(g_rf, len, "negative");
	assert_int_equal(knot_wire_get_rcode(g_rf), KNOT_RCODE_NXDOMAIN);
	assert_int_equal(knot_pkt_section(r, KNOT_AUTHORITY)->count, 1);
	const knot_rrset_t *soa = knot_pkt_rr(knot_pkt_section(r, KNOT_AUTHORITY), 0);
	assert_memory_equal(soa->owner, "\004MgEu\007eXample\003com", 18);
	assert_int_equal(soa->ttl, 300);
	assert_int_equal(knot_soa_serial(soa->rrs.rdata), 2024010199);
	knot_pkt_free(r);
	/* The general path counts the same query (the counters stay comparable). */
	assert_true(mns_dns_process(&g_slow, g_q, g_qlen, g_rs, sizeof(g_rs), MNS_TRANSPORT_UDP) > 0);
}

/* Random queries built from the table's pieces: the two paths agree on
 * every one (header bits, OPT options and sizes mixed at random). */
static void test_mixed_random(void **state)
{
	static const char *names[] = {
	    "mgeu.example.com", "S1._domainkey.mgeu.example.com", "nope.mgeu.example.com",
	    "acme.mailns.vendor.example", "Bounce.acme.mailns.vendor.example",
	    "host.vendor.example", "y.vendor.example", "mail.vendor.example"};
	static const uint16_t types[] = {T(A), T(AAAA), T(TXT), T(MX), T(SOA), T(NS), T(CNAME)};
	static const int payloads[] = {NO_EDNS, 0, 511, 512, 700, 1232, 1400, 65535};
	uint32_t x = 12345;
	uint64_t fast_before = g_fast.fast_answers;
	for (int i = 0; i < 2000; i++) {
		x = x * 1103515245u + 12345u;
		uint32_t r = x >> 8;
		qcase_t c = {names[r % 8], types[(r / 8) % 7], IN, payloads[(r / 56) % 8],
		             (int)((r / 448) % 4), (r / 1792) % 5 == 0 ? TCP : UDP, false};
		make_query(&c);
		size_t rmax = c.tr == TCP ? 65535 : sizeof(g_rf);
		size_t lf = mns_dns_process(&g_fast, g_q, g_qlen, g_rf, rmax, (mns_transport_t)c.tr);
		size_t ls = mns_dns_process(&g_slow, g_q, g_qlen, g_rs, rmax, (mns_transport_t)c.tr);
		char what[512];
		describe(&c, what, sizeof(what));
		assert_true(lf > 0 && ls > 0);
		if (memcmp(g_rf, g_rs, KNOT_WIRE_HEADER_SIZE) != 0)
			fail_msg("%s: headers differ", what);
		knot_pkt_t *f = parse(g_rf, lf, what), *s = parse(g_rs, ls, what);
		assert_int_equal(f->rrset_count, s->rrset_count);
		for (size_t k = 0; k < f->rrset_count; k++)
			assert_same_rr(&f->rr[k], &s->rr[k], what, k);
		knot_pkt_free(f);
		knot_pkt_free(s);
	}
	/* Both sides agreeing proves nothing if the fast path never answered. */
	assert_true(g_fast.fast_answers - fast_before > 1500); /* 1,951 of the 2,000 when written. */
	if (memcmp(g_fast.stats, g_slow.stats, offsetof(mns_stats_block_t, pad_)) != 0)
		fail_msg("counters differ");
}

/* Queries of the table with one to three octets changed at random: where
 * the fast path still answers, the general path answers the same (its
 * parser is the reference for what is malformed). */
static void test_mutations(void **state)
{
	const size_t n_cases = sizeof(g_cases) / sizeof(g_cases[0]);
	uint32_t x = 2463534242u;
	uint64_t taken = 0;
	for (int i = 0; i < 30000; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		const qcase_t *c = &g_cases[x % n_cases];
		make_query(c);
		for (uint32_t k = 0, m = 1 + (x >> 8) % 3; k < m; k++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			size_t at = x % g_qlen;
			g_q[at] = (x >> 12) % 2 ? (uint8_t)(x >> 20) : (uint8_t)(g_q[at] ^ (1u << (x >> 24) % 8));
		}
		if ((x >> 28) % 4 == 0 && g_qlen > KNOT_WIRE_HEADER_SIZE)
			g_qlen -= 1 + (x >> 4) % 3 % (g_qlen - KNOT_WIRE_HEADER_SIZE); /* cut short */
		size_t rmax = c->tr == TCP ? 65535 : sizeof(g_rf);
		uint64_t before = g_fast.fast_answers;
		size_t lf = mns_dns_process(&g_fast, g_q, g_qlen, g_rf, rmax, (mns_transport_t)c->tr);
		size_t ls = mns_dns_process(&g_slow, g_q, g_qlen, g_rs, rmax, (mns_transport_t)c->tr);
		char what[600];
		snprintf(what, sizeof(what), "mutation %d of '%s'", i, c->name);
		if (g_fast.fast_answers != before) {
			taken++;
			compare(lf, ls, c->tr == UDP, what);
		} else if (lf != ls || memcmp(g_rf, g_rs, lf) != 0) {
			fail_msg("%s: the general path answered differently twice", what);
		}
	}
	/* Most mutations break the query; enough of them still take the fast path. */
	assert_true(taken > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_equivalence),
	    cmocka_unit_test(test_negative_owner_case),
	    cmocka_unit_test(test_small_buffers),
	    cmocka_unit_test(test_mixed_random),
	    cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
