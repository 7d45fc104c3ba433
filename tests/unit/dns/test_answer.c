/*  Answering: every rule of DESIGN.md "Answering rules" that mns_dns_process
 *  implements, against a small index (a TENANT zone, the HOSTED zone with a
 *  SUBTREE, and a STATIC zone with a CNAME chain and delegations).
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

/* --- Fixture --------------------------------------------------------------- */

#define ACME "acme.mailns.vendor.example"

static mns_index_t *g_idx;
static mns_dns_ctx_t g_ctx;

static uint8_t g_q[65535];
static size_t g_qlen;
static uint8_t g_r[65535];
static size_t g_rlen;

/* The shared static zone and the cases only these tests ask about. */
static mns_zone_t *static_zone(void)
{
	mns_error_t err;
	mns_zone_builder_t *zb = dz_static_begin();
	/* The odd CNAME cases beside the chain www -> web -> host. */
	dz_ok(mns_zb_add_cname(zb, "dangling", 300, "nothere.vendor.example", &err), &err);
	dz_ok(mns_zb_add_cname(zb, "loop1", 300, "loop2.vendor.example", &err), &err);
	dz_ok(mns_zb_add_cname(zb, "loop2", 300, "loop1.vendor.example", &err), &err);
	dz_ok(mns_zb_add_cname(zb, "ext", 300, "www.example.net", &err), &err);
	dz_ok(mns_zb_add_cname(zb, "tosub", 300, "host.sub.vendor.example", &err), &err);
	/* Delegation without glue or DS. */
	dz_ok(mns_zb_add_ns(zb, "nods", 3600, "ns.example.net", &err), &err);
	return dz_build(zb);
}

static int setup(void **state)
{
	g_idx = dz_index_new();
	assert_int_equal(mns_index_publish(g_idx, dz_build(dz_tenant_begin())), MNS_OK);
	assert_int_equal(mns_index_publish(g_idx, dz_hosted_zone()), MNS_OK);
	assert_int_equal(mns_index_publish(g_idx, dz_subtree_zone(ACME)), MNS_OK);
	assert_int_equal(mns_index_publish(g_idx, static_zone()), MNS_OK);
	g_ctx.index = g_idx;
	g_ctx.conf = &dz_conf;
	assert_int_equal(mns_arena_init(&g_ctx.arena, MNS_DNS_ARENA_SIZE), 0);
	return 0;
}

static int teardown(void **state)
{
	mns_arena_deinit(&g_ctx.arena);
	dz_index_free(g_idx);
	return 0;
}

/* --- Queries and responses ------------------------------------------------- */

enum { NO_EDNS = -1 };

/* Builds a query into g_q. \a name keeps its case. \a payload < 0: no EDNS. */
static void make_query(const char *name, uint16_t type, uint16_t cls, int payload, uint8_t version,
                       bool dnssec_ok)
{
	knot_dname_storage_t qname;
	assert_non_null(knot_dname_from_str(qname, name, sizeof(qname)));
	knot_pkt_t *q = knot_pkt_new(NULL, 4096, NULL);
	assert_non_null(q);
	knot_wire_set_id(q->wire, 0xbeef);
	knot_wire_set_rd(q->wire);
	assert_int_equal(knot_pkt_put_question(q, qname, cls, type), KNOT_EOK);
	if (payload >= 0) {
		knot_rrset_t opt;
		assert_int_equal(knot_edns_init(&opt, (uint16_t)payload, 0, version, NULL),
		                 KNOT_EOK);
		if (dnssec_ok)
			knot_edns_set_do(&opt);
		assert_int_equal(knot_pkt_begin(q, KNOT_ADDITIONAL), KNOT_EOK);
		assert_int_equal(knot_pkt_put(q, KNOT_COMPR_HINT_NONE, &opt, KNOT_PF_FREE),
		                 KNOT_EOK);
	}
	memcpy(g_q, q->wire, q->size);
	g_qlen = q->size;
	knot_pkt_free(q);
}

/* Runs g_q through mns_dns_process; parses the response (not lowercasing
 * it). \return the parsed response (knot_pkt_free it) or NULL if dropped. */
static knot_pkt_t *run(mns_transport_t tr)
{
	g_rlen = mns_dns_process(&g_ctx, g_q, g_qlen, g_r,
	                         tr == MNS_TRANSPORT_TCP ? 65535 : sizeof(g_r), tr);
	if (g_rlen == 0)
		return NULL;
	if (tr == MNS_TRANSPORT_UDP)
		assert_true(g_rlen <= 1232);
	knot_pkt_t *r = knot_pkt_new(g_r, (uint16_t)g_rlen, NULL);
	assert_non_null(r);
	int ret = knot_pkt_parse(r, KNOT_PF_NOCANON);
	if (ret != KNOT_EOK)
		fail_msg("response does not parse: %s", knot_strerror(ret));
	assert_true(knot_wire_get_qr(r->wire));
	assert_false(knot_wire_get_ra(r->wire));
	assert_int_equal(knot_wire_get_id(r->wire), knot_wire_get_id(g_q));
	return r;
}

static knot_pkt_t *ask(const char *name, uint16_t type, uint16_t cls, int payload,
                       mns_transport_t tr)
{
	make_query(name, type, cls, payload, 0, false);
	knot_pkt_t *r = run(tr);
	assert_non_null(r);
	return r;
}

static knot_pkt_t *ask_in(const char *name, uint16_t type)
{
	return ask(name, type, KNOT_CLASS_IN, NO_EDNS, MNS_TRANSPORT_UDP);
}

static uint16_t rcode(const knot_pkt_t *r)
{
	uint8_t ext = r->opt_rr != NULL ? knot_edns_get_ext_rcode(r->opt_rr) : 0;
	return knot_edns_whole_rcode(ext, knot_wire_get_rcode(r->wire));
}

static uint16_t count(const knot_pkt_t *r, knot_section_t s)
{
	return knot_pkt_section(r, s)->count;
}

static const knot_rrset_t *rr_at(const knot_pkt_t *r, knot_section_t s, uint16_t i)
{
	assert_true(i < count(r, s));
	return knot_pkt_rr(knot_pkt_section(r, s), i);
}

static bool owner_is(const knot_rrset_t *rr, const char *name)
{
	knot_dname_storage_t w;
	assert_non_null(knot_dname_from_str(w, name, sizeof(w)));
	return knot_dname_is_equal(rr->owner, w); /* case-sensitive */
}

static bool target_is(const knot_rdata_t *rd, const char *name)
{
	knot_dname_storage_t w;
	assert_non_null(knot_dname_from_str(w, name, sizeof(w)));
	return knot_dname_is_case_equal(knot_cname_name(rd), w);
}

/* The negative answer's SOA: in authority, owner and TTL as given. */
static void assert_negative_soa(const knot_pkt_t *r, const char *owner, uint32_t ttl)
{
	assert_int_equal(count(r, KNOT_AUTHORITY), 1);
	const knot_rrset_t *soa = rr_at(r, KNOT_AUTHORITY, 0);
	assert_int_equal(soa->type, KNOT_RRTYPE_SOA);
	assert_true(owner_is(soa, owner));
	assert_int_equal(soa->ttl, ttl);
}

/* --- Tests ----------------------------------------------------------------- */

static void test_positive_aa(void **state)
{
	knot_pkt_t *r = ask("_dmarc.mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_CLASS_IN, NO_EDNS,
	                    MNS_TRANSPORT_UDP);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(r->wire));
	assert_true(knot_wire_get_rd(r->wire)); /* copied from the query */
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	const knot_rrset_t *txt = rr_at(r, KNOT_ANSWER, 0);
	assert_int_equal(txt->type, KNOT_RRTYPE_TXT);
	assert_int_equal(txt->ttl, 3600);
	assert_memory_equal(txt->rrs.rdata->data, "\x10v=DMARC1; p=none", 17);
	assert_int_equal(count(r, KNOT_AUTHORITY), 0);
	assert_null(r->opt_rr); /* no EDNS in, none out */
	knot_pkt_free(r);
}

static void test_long_txt_split_on_wire(void **state)
{
	knot_pkt_t *r = ask("s1._domainkey.mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_CLASS_IN, 1232,
	                    MNS_TRANSPORT_UDP);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_false(knot_wire_get_tc(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	const knot_rdata_t *rd = rr_at(r, KNOT_ANSWER, 0)->rrs.rdata;
	assert_int_equal(rd->len, 603);
	assert_int_equal(rd->data[0], 255);
	assert_int_equal(rd->data[256], 255);
	assert_int_equal(rd->data[512], 90);
	assert_memory_equal(rd->data + 513, dz_text600 + 510, 90);
	knot_pkt_free(r);
}

static void test_refused_outside(void **state)
{
	knot_pkt_t *r = ask_in("www.example.net", KNOT_RRTYPE_A);
	assert_int_equal(rcode(r), KNOT_RCODE_REFUSED);
	assert_false(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_int_equal(count(r, KNOT_AUTHORITY), 0);
	assert_int_equal(knot_wire_get_qdcount(r->wire), 1);
	knot_pkt_free(r);
	/* The parent of one of our zones is not ours either. */
	r = ask_in("example.com", KNOT_RRTYPE_SOA);
	assert_int_equal(rcode(r), KNOT_RCODE_REFUSED);
	assert_false(knot_wire_get_aa(r->wire));
	knot_pkt_free(r);
}

static void test_nxdomain(void **state)
{
	knot_pkt_t *r = ask_in("nope.mgeu.example.com", KNOT_RRTYPE_A);
	assert_int_equal(rcode(r), KNOT_RCODE_NXDOMAIN);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_negative_soa(r, "mgeu.example.com.", 300); /* min(3600, 300) */
	knot_pkt_free(r);
	/* Below an existing name too. */
	r = ask_in("a.b._dmarc.mgeu.example.com", KNOT_RRTYPE_TXT);
	assert_int_equal(rcode(r), KNOT_RCODE_NXDOMAIN);
	knot_pkt_free(r);
}

static void test_nodata(void **state)
{
	knot_pkt_t *r = ask_in("mgeu.example.com", KNOT_RRTYPE_AAAA);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_negative_soa(r, "mgeu.example.com.", 300);
	knot_pkt_free(r);
}

static void test_ent_nodata(void **state)
{
	knot_pkt_t *r = ask_in("_domainkey.mgeu.example.com", KNOT_RRTYPE_TXT);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_negative_soa(r, "mgeu.example.com.", 300);
	knot_pkt_free(r);
	/* In a static zone too; the SOA minimum there is 120. */
	r = ask_in("y.vendor.example", KNOT_RRTYPE_A);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_negative_soa(r, "vendor.example.", 120);
	knot_pkt_free(r);
}

static void test_case_preserved(void **state)
{
	static const char mixed[] = "S1._DomainKey.MGEU.Example.COM";
	knot_pkt_t *r = ask(mixed, KNOT_RRTYPE_TXT, KNOT_CLASS_IN, NO_EDNS, MNS_TRANSPORT_TCP);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(r->wire));
	/* The question is echoed byte for byte. */
	assert_memory_equal(g_r + 12, g_q + 12, g_qlen - 12);
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	/* The owner points at the question, so it reads in the client's case. */
	size_t off = 12 + knot_dname_size(g_q + 12) + 4;
	assert_int_equal(g_r[off], 0xc0);
	assert_int_equal(g_r[off + 1], 12);
	assert_true(owner_is(rr_at(r, KNOT_ANSWER, 0), "S1._DomainKey.MGEU.Example.COM."));
	assert_false(owner_is(rr_at(r, KNOT_ANSWER, 0), "s1._domainkey.mgeu.example.com."));
	knot_pkt_free(r);

	/* Negative answer: the SOA owner is a suffix of the qname, in its case too. */
	r = ask("NoPe.MGEU.Example.COM", KNOT_RRTYPE_A, KNOT_CLASS_IN, NO_EDNS, MNS_TRANSPORT_UDP);
	assert_int_equal(rcode(r), KNOT_RCODE_NXDOMAIN);
	assert_negative_soa(r, "MGEU.Example.COM.", 300);
	knot_pkt_free(r);
}

static void test_udp_truncation_without_edns(void **state)
{
	/* 603 octets of TXT data do not fit in 512. */
	knot_pkt_t *r = ask("s1._domainkey.mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_CLASS_IN,
	                    NO_EDNS, MNS_TRANSPORT_UDP);
	assert_true(g_rlen <= 512);
	assert_true(knot_wire_get_tc(r->wire));
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	knot_pkt_free(r);

	/* A client payload below 512 counts as 512. */
	r = ask("s1._domainkey.mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_CLASS_IN, 100,
	        MNS_TRANSPORT_UDP);
	assert_true(g_rlen <= 512);
	assert_true(knot_wire_get_tc(r->wire));
	assert_non_null(r->opt_rr); /* the OPT is kept */
	knot_pkt_free(r);

	/* Over TCP everything fits. */
	r = ask("s1._domainkey.mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_CLASS_IN, NO_EDNS,
	        MNS_TRANSPORT_TCP);
	assert_false(knot_wire_get_tc(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	knot_pkt_free(r);
}

static void test_edns_payload(void **state)
{
	/* EDNS 1232: fits, and our OPT advertises udp_max_payload. */
	knot_pkt_t *r = ask("s1._domainkey.mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_CLASS_IN, 1232,
	                    MNS_TRANSPORT_UDP);
	assert_false(knot_wire_get_tc(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_non_null(r->opt_rr);
	assert_int_equal(knot_edns_get_payload(r->opt_rr), 1232);
	assert_int_equal(knot_edns_get_version(r->opt_rr), 0);
	assert_false(knot_edns_do(r->opt_rr));
	knot_pkt_free(r);

	/* 2000 octets: the client offers 4096, but we send at most 1232. */
	r = ask("big.mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_CLASS_IN, 4096, MNS_TRANSPORT_UDP);
	assert_true(knot_wire_get_tc(r->wire));
	assert_true(g_rlen <= 1232);
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_non_null(r->opt_rr);
	assert_int_equal(knot_edns_get_payload(r->opt_rr), 1232);
	knot_pkt_free(r);

	/* With a larger server limit the client's 4096 is honoured. */
	dz_conf.udp_max_payload = 4096;
	r = ask("big.mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_CLASS_IN, 4096, MNS_TRANSPORT_TCP);
	assert_false(knot_wire_get_tc(r->wire));
	knot_pkt_free(r);
	make_query("big.mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_CLASS_IN, 4096, 0, false);
	g_rlen = mns_dns_process(&g_ctx, g_q, g_qlen, g_r, sizeof(g_r), MNS_TRANSPORT_UDP);
	dz_conf.udp_max_payload = 1232;
	assert_true(g_rlen > 2000 && g_rlen <= 4096);
	assert_false(knot_wire_get_tc(g_r));

	/* The client's smaller size wins over ours. */
	r = ask("big.mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_CLASS_IN, 600, MNS_TRANSPORT_UDP);
	assert_true(g_rlen <= 600);
	assert_true(knot_wire_get_tc(r->wire));
	knot_pkt_free(r);
}

static void test_do_bit_echo(void **state)
{
	make_query("mgeu.example.com", KNOT_RRTYPE_SOA, KNOT_CLASS_IN, 1232, 0, true);
	knot_pkt_t *r = run(MNS_TRANSPORT_UDP);
	assert_non_null(r);
	assert_non_null(r->opt_rr);
	assert_true(knot_edns_do(r->opt_rr));
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_int_equal(rr_at(r, KNOT_ANSWER, 0)->type, KNOT_RRTYPE_SOA);
	knot_pkt_free(r);
}

static void test_badvers(void **state)
{
	make_query("mgeu.example.com", KNOT_RRTYPE_SOA, KNOT_CLASS_IN, 1232, 1, false);
	knot_pkt_t *r = run(MNS_TRANSPORT_UDP);
	assert_non_null(r);
	assert_non_null(r->opt_rr);
	assert_int_equal(rcode(r), KNOT_RCODE_BADVERS);
	assert_int_equal(knot_wire_get_rcode(r->wire), 0); /* low bits of 16 */
	assert_int_equal(knot_edns_get_ext_rcode(r->opt_rr), 1);
	assert_int_equal(knot_edns_get_version(r->opt_rr), 0);
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_false(knot_wire_get_aa(r->wire));
	knot_pkt_free(r);
}

static void test_formerr(void **state)
{
	/* QDCOUNT 0: a bare header. */
	memset(g_q, 0, 12);
	knot_wire_set_id(g_q, 0x1111);
	g_qlen = 12;
	knot_pkt_t *r = run(MNS_TRANSPORT_UDP);
	assert_non_null(r);
	assert_int_equal(rcode(r), KNOT_RCODE_FORMERR);
	assert_int_equal(knot_wire_get_qdcount(r->wire), 0);
	assert_int_equal(g_rlen, 12);
	knot_pkt_free(r);

	/* QDCOUNT 2. */
	make_query("mgeu.example.com", KNOT_RRTYPE_A, KNOT_CLASS_IN, NO_EDNS, 0, false);
	size_t qs = g_qlen - 12;
	memcpy(g_q + g_qlen, g_q + 12, qs);
	g_qlen += qs;
	knot_wire_set_qdcount(g_q, 2);
	r = run(MNS_TRANSPORT_UDP);
	assert_non_null(r);
	assert_int_equal(rcode(r), KNOT_RCODE_FORMERR);
	assert_true(knot_wire_get_qdcount(r->wire) <= 1);
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	knot_pkt_free(r);

	/* Trailing garbage after a valid query: FORMERR, question echoed. */
	make_query("mgeu.example.com", KNOT_RRTYPE_A, KNOT_CLASS_IN, NO_EDNS, 0, false);
	g_q[g_qlen++] = 0xff;
	g_q[g_qlen++] = 0x00;
	r = run(MNS_TRANSPORT_UDP);
	assert_non_null(r);
	assert_int_equal(rcode(r), KNOT_RCODE_FORMERR);
	assert_int_equal(knot_wire_get_qdcount(r->wire), 1);
	assert_memory_equal(g_r + 12, g_q + 12, g_qlen - 12 - 2);
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	knot_pkt_free(r);

	/* Counts promising more than there is. */
	make_query("mgeu.example.com", KNOT_RRTYPE_A, KNOT_CLASS_IN, NO_EDNS, 0, false);
	knot_wire_set_ancount(g_q, 3);
	r = run(MNS_TRANSPORT_UDP);
	assert_non_null(r);
	assert_int_equal(rcode(r), KNOT_RCODE_FORMERR);
	knot_pkt_free(r);

	/* A truncated QNAME. */
	make_query("mgeu.example.com", KNOT_RRTYPE_A, KNOT_CLASS_IN, NO_EDNS, 0, false);
	g_qlen = 16;
	r = run(MNS_TRANSPORT_UDP);
	assert_non_null(r);
	assert_int_equal(rcode(r), KNOT_RCODE_FORMERR);
	knot_pkt_free(r);

	/* With EDNS the FORMERR carries an OPT. */
	make_query("mgeu.example.com", KNOT_RRTYPE_A, KNOT_CLASS_IN, 1232, 0, false);
	g_q[g_qlen++] = 0x00;
	r = run(MNS_TRANSPORT_UDP);
	assert_non_null(r);
	assert_int_equal(rcode(r), KNOT_RCODE_FORMERR);
	assert_non_null(r->opt_rr);
	knot_pkt_free(r);
}

static void test_drop(void **state)
{
	make_query("mgeu.example.com", KNOT_RRTYPE_A, KNOT_CLASS_IN, NO_EDNS, 0, false);
	knot_wire_set_qr(g_q);
	assert_null(run(MNS_TRANSPORT_UDP));
	assert_int_equal(g_rlen, 0);

	make_query("mgeu.example.com", KNOT_RRTYPE_A, KNOT_CLASS_IN, NO_EDNS, 0, false);
	g_qlen = 11;
	assert_null(run(MNS_TRANSPORT_UDP));
	g_qlen = 0;
	assert_null(run(MNS_TRANSPORT_TCP));
}

static void test_opcodes(void **state)
{
	static const uint8_t ops[] = {
	    KNOT_OPCODE_UPDATE, KNOT_OPCODE_NOTIFY, KNOT_OPCODE_IQUERY, KNOT_OPCODE_STATUS, 3, 15};
	for (size_t i = 0; i < sizeof(ops); i++) {
		make_query("mgeu.example.com", KNOT_RRTYPE_SOA, KNOT_CLASS_IN, NO_EDNS, 0, false);
		knot_wire_set_opcode(g_q, ops[i]);
		knot_pkt_t *r = run(MNS_TRANSPORT_UDP);
		assert_non_null(r);
		assert_int_equal(rcode(r), KNOT_RCODE_NOTIMPL);
		assert_int_equal(knot_wire_get_opcode(r->wire), ops[i]);
		assert_int_equal(count(r, KNOT_ANSWER), 0);
		assert_false(knot_wire_get_aa(r->wire));
		knot_pkt_free(r);
	}
}

static void assert_chaos_txt(const char *name, const char *expect)
{
	knot_pkt_t *r = ask(name, KNOT_RRTYPE_TXT, KNOT_CLASS_CH, NO_EDNS, MNS_TRANSPORT_UDP);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	const knot_rrset_t *txt = rr_at(r, KNOT_ANSWER, 0);
	assert_int_equal(txt->rclass, KNOT_CLASS_CH);
	assert_int_equal(txt->type, KNOT_RRTYPE_TXT);
	assert_true(owner_is(txt, name));
	assert_int_equal(txt->rrs.rdata->data[0], strlen(expect));
	assert_memory_equal(txt->rrs.rdata->data + 1, expect, strlen(expect));
	knot_pkt_free(r);
}

static void assert_rcode_of(const char *name, uint16_t type, uint16_t cls, uint16_t expect)
{
	knot_pkt_t *r = ask(name, type, cls, NO_EDNS, MNS_TRANSPORT_TCP);
	if (rcode(r) != expect)
		fail_msg("%s type %u class %u: rcode %u, expected %u", name, type, cls, rcode(r),
		         expect);
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	knot_pkt_free(r);
}

static void test_chaos(void **state)
{
	assert_chaos_txt("id.server", "ns1.test");
	assert_chaos_txt("HOSTNAME.bind", "ns1.test");
	assert_chaos_txt("version.bind", "mailns-test 1.0");
	assert_chaos_txt("version.server", "mailns-test 1.0");
	assert_rcode_of("other.bind", KNOT_RRTYPE_TXT, KNOT_CLASS_CH, KNOT_RCODE_REFUSED);
	assert_rcode_of("id.server", KNOT_RRTYPE_A, KNOT_CLASS_CH, KNOT_RCODE_REFUSED);
	/* Our zones do not exist in CH. */
	assert_rcode_of("mgeu.example.com", KNOT_RRTYPE_TXT, KNOT_CLASS_CH, KNOT_RCODE_REFUSED);
	/* NULL settings refuse. */
	dz_conf.identity = NULL;
	dz_conf.version = NULL;
	assert_rcode_of("id.server", KNOT_RRTYPE_TXT, KNOT_CLASS_CH, KNOT_RCODE_REFUSED);
	assert_rcode_of("version.bind", KNOT_RRTYPE_TXT, KNOT_CLASS_CH, KNOT_RCODE_REFUSED);
	dz_conf.identity = "ns1.test";
	dz_conf.version = "mailns-test 1.0";
}

static void test_classes_and_meta_types(void **state)
{
	/* QCLASS ANY is answered as IN: see test_malformed.c. */
	assert_rcode_of("mgeu.example.com", KNOT_RRTYPE_SOA, KNOT_CLASS_NONE, KNOT_RCODE_REFUSED);
	assert_rcode_of("mgeu.example.com", KNOT_RRTYPE_SOA, 4 /* HS */, KNOT_RCODE_REFUSED);
	assert_rcode_of("mgeu.example.com", KNOT_RRTYPE_AXFR, KNOT_CLASS_IN, KNOT_RCODE_REFUSED);
	assert_rcode_of("mgeu.example.com", KNOT_RRTYPE_IXFR, KNOT_CLASS_IN, KNOT_RCODE_REFUSED);
	assert_rcode_of("mgeu.example.com", 254 /* MAILA */, KNOT_CLASS_IN, KNOT_RCODE_NOTIMPL);
	assert_rcode_of("mgeu.example.com", 253 /* MAILB */, KNOT_CLASS_IN, KNOT_RCODE_NOTIMPL);
	assert_rcode_of("mgeu.example.com", KNOT_RRTYPE_TKEY, KNOT_CLASS_IN, KNOT_RCODE_NOTIMPL);
	assert_rcode_of("mgeu.example.com", KNOT_RRTYPE_OPT, KNOT_CLASS_IN, KNOT_RCODE_FORMERR);
	assert_rcode_of("mgeu.example.com", KNOT_RRTYPE_TSIG, KNOT_CLASS_IN, KNOT_RCODE_FORMERR);
}

static void test_minimal_any(void **state)
{
	knot_pkt_t *r = ask_in("mgeu.example.com", KNOT_RRTYPE_ANY);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(r->wire));
	/* One RRset: the apex's first one in type order (NS, two records). */
	assert_int_equal(count(r, KNOT_ANSWER), 2);
	assert_int_equal(rr_at(r, KNOT_ANSWER, 0)->type, KNOT_RRTYPE_NS);
	assert_int_equal(rr_at(r, KNOT_ANSWER, 1)->type, KNOT_RRTYPE_NS);
	knot_pkt_free(r);

	r = ask_in("_dmarc.mgeu.example.com", KNOT_RRTYPE_ANY);
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_int_equal(rr_at(r, KNOT_ANSWER, 0)->type, KNOT_RRTYPE_TXT);
	knot_pkt_free(r);

	/* A node without RRsets: NODATA. */
	r = ask_in("_domainkey.mgeu.example.com", KNOT_RRTYPE_ANY);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_negative_soa(r, "mgeu.example.com.", 300);
	knot_pkt_free(r);

	/* ANY at a CNAME matches the CNAME itself: no chase. */
	r = ask_in("www.vendor.example", KNOT_RRTYPE_ANY);
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_int_equal(rr_at(r, KNOT_ANSWER, 0)->type, KNOT_RRTYPE_CNAME);
	knot_pkt_free(r);
}

static void test_cname_chase(void **state)
{
	knot_pkt_t *r = ask_in("WWW.vendor.example", KNOT_RRTYPE_A);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 3);
	const knot_rrset_t *c1 = rr_at(r, KNOT_ANSWER, 0);
	assert_int_equal(c1->type, KNOT_RRTYPE_CNAME);
	assert_true(owner_is(c1, "WWW.vendor.example."));
	assert_true(target_is(c1->rrs.rdata, "web.vendor.example."));
	const knot_rrset_t *c2 = rr_at(r, KNOT_ANSWER, 1);
	assert_int_equal(c2->type, KNOT_RRTYPE_CNAME);
	assert_true(knot_dname_is_case_equal(c2->owner,
	                                     (const knot_dname_t *)"\003web\006vendor\007example"));
	assert_true(target_is(c2->rrs.rdata, "host.vendor.example."));
	const knot_rrset_t *a = rr_at(r, KNOT_ANSWER, 2);
	assert_int_equal(a->type, KNOT_RRTYPE_A);
	assert_memory_equal(a->rrs.rdata->data, "\xc0\x00\x02\x0a", 4);
	assert_int_equal(count(r, KNOT_AUTHORITY), 0);
	knot_pkt_free(r);

	/* qtype CNAME: just the CNAME. */
	r = ask_in("www.vendor.example", KNOT_RRTYPE_CNAME);
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_int_equal(rr_at(r, KNOT_ANSWER, 0)->type, KNOT_RRTYPE_CNAME);
	knot_pkt_free(r);

	/* Chain ending in NODATA: NOERROR with the SOA. */
	r = ask_in("www.vendor.example", KNOT_RRTYPE_TXT);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_int_equal(count(r, KNOT_ANSWER), 2);
	assert_negative_soa(r, "vendor.example.", 120);
	knot_pkt_free(r);
}

static void test_cname_odd_cases(void **state)
{
	/* Target missing: NXDOMAIN after the CNAME. */
	knot_pkt_t *r = ask_in("dangling.vendor.example", KNOT_RRTYPE_A);
	assert_int_equal(rcode(r), KNOT_RCODE_NXDOMAIN);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_negative_soa(r, "vendor.example.", 120);
	knot_pkt_free(r);

	/* A loop stops. */
	r = ask_in("loop1.vendor.example", KNOT_RRTYPE_A);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_int_equal(count(r, KNOT_ANSWER), 2);
	assert_int_equal(count(r, KNOT_AUTHORITY), 0);
	knot_pkt_free(r);

	/* Out of the zone: the resolver follows it. */
	r = ask_in("ext.vendor.example", KNOT_RRTYPE_A);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_int_equal(count(r, KNOT_AUTHORITY), 0);
	knot_pkt_free(r);

	/* Into a delegation: CNAME (authoritative) plus a referral. */
	r = ask_in("tosub.vendor.example", KNOT_RRTYPE_A);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_int_equal(rr_at(r, KNOT_AUTHORITY, 0)->type, KNOT_RRTYPE_NS);
	knot_pkt_free(r);
}

static void test_referral(void **state)
{
	knot_pkt_t *r = ask_in("host.Sub.vendor.example", KNOT_RRTYPE_A);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_false(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	/* NS, then the DS of the signed delegation. */
	assert_int_equal(count(r, KNOT_AUTHORITY), 2);
	const knot_rrset_t *ns = rr_at(r, KNOT_AUTHORITY, 0);
	assert_int_equal(ns->type, KNOT_RRTYPE_NS);
	assert_true(knot_dname_is_case_equal(ns->owner,
	                                     (const knot_dname_t *)"\003sub\006vendor\007example"));
	assert_true(target_is(ns->rrs.rdata, "ns.sub.vendor.example."));
	assert_int_equal(rr_at(r, KNOT_AUTHORITY, 1)->type, KNOT_RRTYPE_DS);
	assert_int_equal(count(r, KNOT_ADDITIONAL), 1);
	const knot_rrset_t *glue = rr_at(r, KNOT_ADDITIONAL, 0);
	assert_int_equal(glue->type, KNOT_RRTYPE_A);
	assert_memory_equal(glue->rrs.rdata->data, "\xc0\x00\x02\x35", 4);
	knot_pkt_free(r);

	/* At the cut itself, NS is a referral too. */
	r = ask_in("sub.vendor.example", KNOT_RRTYPE_NS);
	assert_false(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_int_equal(rr_at(r, KNOT_AUTHORITY, 0)->type, KNOT_RRTYPE_NS);
	knot_pkt_free(r);

	/* The glue's own name is below the cut: a referral, not an answer. */
	r = ask_in("ns.sub.vendor.example", KNOT_RRTYPE_A);
	assert_false(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	knot_pkt_free(r);

	/* Out-of-zone NS target: no glue. */
	r = ask_in("a.nods.vendor.example", KNOT_RRTYPE_A);
	assert_false(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_AUTHORITY), 1);
	assert_int_equal(count(r, KNOT_ADDITIONAL), 0);
	knot_pkt_free(r);
}

static void test_ds_parent_side(void **state)
{
	/* DS at the cut: answered from the parent, authoritatively. */
	knot_pkt_t *r = ask_in("sub.vendor.example", KNOT_RRTYPE_DS);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_int_equal(rr_at(r, KNOT_ANSWER, 0)->type, KNOT_RRTYPE_DS);
	knot_pkt_free(r);

	/* No DS at the cut: NODATA from the parent. */
	r = ask_in("nods.vendor.example", KNOT_RRTYPE_DS);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_negative_soa(r, "vendor.example.", 120);
	knot_pkt_free(r);

	/* DS below the cut belongs to the child: a referral. */
	r = ask_in("host.sub.vendor.example", KNOT_RRTYPE_DS);
	assert_false(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_int_equal(rr_at(r, KNOT_AUTHORITY, 0)->type, KNOT_RRTYPE_NS);
	knot_pkt_free(r);

	/* DS at the apex of a zone whose parent we serve and which delegates it. */
	r = ask_in("mailns.vendor.example", KNOT_RRTYPE_DS);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_int_equal(rr_at(r, KNOT_ANSWER, 0)->type, KNOT_RRTYPE_DS);
	knot_pkt_free(r);

	/* Other types at that apex come from the child. */
	r = ask_in("mailns.vendor.example", KNOT_RRTYPE_SOA);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_int_equal(knot_soa_serial(rr_at(r, KNOT_ANSWER, 0)->rrs.rdata), 77);
	knot_pkt_free(r);

	/* Parent not ours: the child answers NODATA. */
	r = ask_in("mgeu.example.com", KNOT_RRTYPE_DS);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_negative_soa(r, "mgeu.example.com.", 300);
	knot_pkt_free(r);
}

static void test_additional_for_mx_and_ns(void **state)
{
	knot_pkt_t *r = ask_in("mail.vendor.example", KNOT_RRTYPE_MX);
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_int_equal(count(r, KNOT_ADDITIONAL), 1);
	assert_int_equal(rr_at(r, KNOT_ADDITIONAL, 0)->type, KNOT_RRTYPE_A);
	knot_pkt_free(r);

	r = ask_in("vendor.example", KNOT_RRTYPE_NS);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 2);
	assert_int_equal(count(r, KNOT_ADDITIONAL), 2);
	knot_pkt_free(r);

	/* Targets in another zone: nothing added. */
	r = ask_in("mgeu.example.com", KNOT_RRTYPE_MX);
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	assert_int_equal(count(r, KNOT_ADDITIONAL), 0);
	knot_pkt_free(r);
}

static void test_hosted_and_subtree(void **state)
{
	knot_pkt_t *r = ask_in("s1._domainkey.acme.mailns.vendor.example", KNOT_RRTYPE_TXT);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_true(knot_wire_get_aa(r->wire));
	assert_int_equal(count(r, KNOT_ANSWER), 1);
	knot_pkt_free(r);

	/* Negative answers in a SUBTREE carry the hosted zone's SOA. */
	r = ask_in("nope.acme.mailns.vendor.example", KNOT_RRTYPE_TXT);
	assert_int_equal(rcode(r), KNOT_RCODE_NXDOMAIN);
	assert_true(knot_wire_get_aa(r->wire));
	assert_negative_soa(r, "mailns.vendor.example.", 600); /* min(3600, 600) */
	knot_pkt_free(r);

	r = ask_in("bounce.acme.mailns.vendor.example", KNOT_RRTYPE_AAAA);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_negative_soa(r, "mailns.vendor.example.", 600);
	knot_pkt_free(r);

	/* The subtree's own apex is an empty non-terminal here. */
	r = ask_in("acme.mailns.vendor.example", KNOT_RRTYPE_A);
	assert_int_equal(rcode(r), KNOT_RCODE_NOERROR);
	assert_negative_soa(r, "mailns.vendor.example.", 600);
	knot_pkt_free(r);

	/* The hosted zone itself. */
	r = ask_in("other.mailns.vendor.example", KNOT_RRTYPE_A);
	assert_int_equal(rcode(r), KNOT_RCODE_NXDOMAIN);
	assert_negative_soa(r, "mailns.vendor.example.", 600);
	knot_pkt_free(r);
}

static void test_subtree_without_hosted(void **state)
{
	mns_dns_ctx_t ctx = {.conf = &dz_conf};
	mns_index_t *idx = mns_index_new();
	assert_int_equal(mns_index_publish(idx, dz_subtree_zone(ACME)), MNS_OK);
	ctx.index = idx;
	assert_int_equal(mns_arena_init(&ctx.arena, MNS_DNS_ARENA_SIZE), 0);

	make_query("nope.acme.mailns.vendor.example", KNOT_RRTYPE_TXT, KNOT_CLASS_IN, 1232, 0,
	           false);
	g_rlen = mns_dns_process(&ctx, g_q, g_qlen, g_r, sizeof(g_r), MNS_TRANSPORT_UDP);
	assert_true(g_rlen > 12);
	assert_int_equal(knot_wire_get_rcode(g_r), KNOT_RCODE_SERVFAIL);
	assert_int_equal(knot_wire_get_ancount(g_r), 0);
	assert_int_equal(knot_wire_get_nscount(g_r), 0);
	assert_int_equal(knot_wire_get_arcount(g_r), 1); /* the OPT */
	assert_false(knot_wire_get_aa(g_r));

	/* After a CNAME the SERVFAIL starts clean as well. */
	mns_zone_builder_t *zb = mns_zb_new("beta.mailns.vendor.example",
	                                    "beta.mailns.vendor.example", MNS_ZONE_SUBTREE);
	mns_error_t err;
	dz_ok(mns_zb_add_cname(zb, "c", 300, "missing.beta.mailns.vendor.example", &err), &err);
	assert_int_equal(mns_index_publish(idx, dz_build(zb)), MNS_OK);
	make_query("c.beta.mailns.vendor.example", KNOT_RRTYPE_A, KNOT_CLASS_IN, NO_EDNS, 0, false);
	g_rlen = mns_dns_process(&ctx, g_q, g_qlen, g_r, sizeof(g_r), MNS_TRANSPORT_UDP);
	assert_int_equal(knot_wire_get_rcode(g_r), KNOT_RCODE_SERVFAIL);
	assert_int_equal(knot_wire_get_ancount(g_r), 0);
	assert_int_equal(knot_wire_get_qdcount(g_r), 1);

	/* Positive answers still work. */
	make_query("s1._domainkey.acme.mailns.vendor.example", KNOT_RRTYPE_TXT, KNOT_CLASS_IN,
	           NO_EDNS, 0, false);
	g_rlen = mns_dns_process(&ctx, g_q, g_qlen, g_r, sizeof(g_r), MNS_TRANSPORT_UDP);
	assert_int_equal(knot_wire_get_rcode(g_r), KNOT_RCODE_NOERROR);
	assert_int_equal(knot_wire_get_ancount(g_r), 1);

	mns_arena_deinit(&ctx.arena);
	mns_index_free(idx);
}

static void test_tsig_badkey(void **state)
{
	knot_tsig_key_t key;
	assert_int_equal(knot_tsig_key_init_str(&key, "hmac-sha256:xfr-key.:c2VjcmV0c2VjcmV0"),
	                 KNOT_EOK);
	make_query("mgeu.example.com", KNOT_RRTYPE_SOA, KNOT_CLASS_IN, NO_EDNS, 0, false);
	uint8_t mac[64];
	size_t maclen = sizeof(mac);
	assert_int_equal(
	    knot_tsig_sign(g_q, &g_qlen, sizeof(g_q), NULL, 0, mac, &maclen, &key, 0, 0), KNOT_EOK);
	knot_tsig_key_deinit(&key);
	knot_pkt_t *r = run(MNS_TRANSPORT_UDP);
	assert_non_null(r);
	assert_int_equal(rcode(r), KNOT_RCODE_NOTAUTH);
	assert_int_equal(count(r, KNOT_ANSWER), 0);
	assert_non_null(r->tsig_rr);
	assert_int_equal(knot_tsig_rdata_error(r->tsig_rr), KNOT_RCODE_BADKEY);
	assert_int_equal(knot_tsig_rdata_mac_length(r->tsig_rr), 0);
	knot_pkt_free(r);
}

static void test_small_arena(void **state)
{
	/* An arena too small for the packets: a header-only SERVFAIL, no crash.
	 * (The fast path needs no arena: this is the general path.) */
	mns_dns_ctx_t ctx = {.index = g_idx, .conf = &dz_conf, .no_fast_path = true};
	assert_int_equal(mns_arena_init(&ctx.arena, 256), 0);
	make_query("mgeu.example.com", KNOT_RRTYPE_SOA, KNOT_CLASS_IN, NO_EDNS, 0, false);
	g_rlen = mns_dns_process(&ctx, g_q, g_qlen, g_r, sizeof(g_r), MNS_TRANSPORT_UDP);
	assert_int_equal(g_rlen, 12);
	assert_int_equal(knot_wire_get_rcode(g_r), KNOT_RCODE_SERVFAIL);
	assert_int_equal(knot_wire_get_id(g_r), 0xbeef);
	assert_true(knot_wire_get_qr(g_r));
	mns_arena_deinit(&ctx.arena);
}

static void test_arena_reused(void **state)
{
	/* Many queries through one context: the arena is reset each time. */
	for (int i = 0; i < 5000; i++) {
		make_query(i % 2 ? "www.vendor.example" : "s1._domainkey.mgeu.example.com",
		           i % 2 ? KNOT_RRTYPE_A : KNOT_RRTYPE_TXT, KNOT_CLASS_IN, 1232, 0, false);
		g_rlen = mns_dns_process(&g_ctx, g_q, g_qlen, g_r, sizeof(g_r), MNS_TRANSPORT_UDP);
		if (knot_wire_get_rcode(g_r) != KNOT_RCODE_NOERROR ||
		    knot_wire_get_ancount(g_r) == 0)
			fail_msg("query %d failed", i);
	}
	assert_true(g_ctx.arena.used > 0);
	assert_true(g_ctx.arena.used < 64 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_positive_aa),
	    cmocka_unit_test(test_long_txt_split_on_wire),
	    cmocka_unit_test(test_refused_outside),
	    cmocka_unit_test(test_nxdomain),
	    cmocka_unit_test(test_nodata),
	    cmocka_unit_test(test_ent_nodata),
	    cmocka_unit_test(test_case_preserved),
	    cmocka_unit_test(test_udp_truncation_without_edns),
	    cmocka_unit_test(test_edns_payload),
	    cmocka_unit_test(test_do_bit_echo),
	    cmocka_unit_test(test_badvers),
	    cmocka_unit_test(test_formerr),
	    cmocka_unit_test(test_drop),
	    cmocka_unit_test(test_opcodes),
	    cmocka_unit_test(test_chaos),
	    cmocka_unit_test(test_classes_and_meta_types),
	    cmocka_unit_test(test_minimal_any),
	    cmocka_unit_test(test_cname_chase),
	    cmocka_unit_test(test_cname_odd_cases),
	    cmocka_unit_test(test_referral),
	    cmocka_unit_test(test_ds_parent_side),
	    cmocka_unit_test(test_additional_for_mx_and_ns),
	    cmocka_unit_test(test_hosted_and_subtree),
	    cmocka_unit_test(test_subtree_without_hosted),
	    cmocka_unit_test(test_tsig_badkey),
	    cmocka_unit_test(test_small_arena),
	    cmocka_unit_test(test_arena_reused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
