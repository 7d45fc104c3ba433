/*  Zone transfers: ACL and TSIG decisions, message splitting and signing,
 *  catalog contents, IXFR differences, hosted-zone subtrees.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "conf/conf.h"
#include "xfr/xfr.h"
#include "xfr/xfr_internal.h"

#define SECRET "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"

static const knot_dname_t *wire(const char *name, knot_dname_storage_t buf)
{
	assert_non_null(knot_dname_from_str(buf, name, KNOT_DNAME_MAXLEN));
	knot_dname_to_lower(buf);
	return buf;
}

static mns_zone_t *make_zone(const char *apex, mns_zone_kind_t kind, uint32_t serial, int n_txt,
                             const char *tag)
{
	mns_error_t err = {0};
	mns_zone_t *z = NULL;
	mns_zone_builder_t *zb = mns_zb_new(apex, apex, kind);
	assert_non_null(zb);
	if (kind != MNS_ZONE_SUBTREE) {
		assert_int_equal(mns_zb_add_soa(zb, 3600, "ns1.vendor.example", "hm.vendor.example",
		                                serial, 7200, 3600, 1209600, 300, &err),
		                 MNS_OK);
		assert_int_equal(mns_zb_add_ns(zb, "@", 3600, "ns1.vendor.example", &err), MNS_OK);
	}
	for (int i = 0; i < n_txt; i++) {
		char owner[64], text[200];
		snprintf(owner, sizeof(owner), "r%d", i);
		snprintf(text, sizeof(text), "%s-%d-%0150d", tag, i, i);
		assert_int_equal(mns_zb_add_txt(zb, owner, 300, text, &err), MNS_OK);
	}
	if (mns_zb_build(zb, &z, &err) != MNS_OK)
		fail_msg("%s: %s", err.code, err.message);
	mns_zb_free(zb);
	return z;
}

static struct sockaddr_storage addr(const char *a)
{
	struct sockaddr_storage ss = {0};
	if (strchr(a, ':'))
		uv_ip6_addr(a, 53, (struct sockaddr_in6 *)&ss);
	else
		uv_ip4_addr(a, 53, (struct sockaddr_in *)&ss);
	return ss;
}

static void conf_from(mns_xfr_conf_t *c, const char *keys[], const char *acl[])
{
	json_t *j = json_pack("{s:[], s:[], s:[], s:s, s:i, s:i, s:i, s:s, s:s, s:i}", "key",
	                      "allow", "notify", "notify-key", "", "notify-delay", 100,
	                      "notify-retries", 3, "notify-timeout", 500, "catalog",
	                      "catalog.invalid", "catalog-group", "", "ixfr-history", 4);
	for (int i = 0; keys && keys[i]; i++)
		json_array_append_new(json_object_get(j, "key"), json_string(keys[i]));
	for (int i = 0; acl && acl[i]; i++)
		json_array_append_new(json_object_get(j, "allow"), json_string(acl[i]));
	mns_error_t err = {0};
	int ret = mns_xfr_conf_parse(j, c, &err);
	json_decref(j);
	if (ret != MNS_OK)
		fail_msg("%s: %s", err.key, err.message);
}

static void test_acl(void **state)
{
	mns_xfr_conf_t c;
	conf_from(&c, (const char *[]){"k1:hmac-sha256:" SECRET, NULL},
	          (const char *[]){"127.0.0.0/8", "192.0.2.0/25:k1", "2001:db8::/32", NULL});
	struct sockaddr_storage a = addr("127.9.9.9"), b = addr("192.0.2.7"),
	                        b2 = addr("192.0.2.200"), v6 = addr("2001:db8::1"),
	                        other = addr("10.0.0.1");
	assert_true(mns_xfr_acl_allows(&c, (struct sockaddr *)&a, -1));
	assert_true(mns_xfr_acl_allows(&c, (struct sockaddr *)&a, 0));
	assert_false(mns_xfr_acl_allows(&c, (struct sockaddr *)&b, -1)); /* key required */
	assert_true(mns_xfr_acl_allows(&c, (struct sockaddr *)&b, 0));
	assert_false(mns_xfr_acl_allows(&c, (struct sockaddr *)&b2, 0)); /* outside /25 */
	assert_true(mns_xfr_acl_allows(&c, (struct sockaddr *)&v6, -1));
	assert_false(mns_xfr_acl_allows(&c, (struct sockaddr *)&other, -1));
	mns_xfr_conf_deinit(&c);

	/* No entries: nothing is allowed. */
	conf_from(&c, NULL, NULL);
	assert_false(mns_xfr_acl_allows(&c, (struct sockaddr *)&a, -1));
	/* Bad entries name the key. */
	mns_xfr_acl_t e;
	mns_error_t err = {0};
	assert_int_not_equal(mns_xfr_acl_parse("300.0.0.1", &c, &e, &err), MNS_OK);
	assert_string_equal(err.key, "allow");
	assert_int_not_equal(mns_xfr_acl_parse("127.0.0.0/33", &c, &e, &err), MNS_OK);
	assert_int_not_equal(mns_xfr_acl_parse("127.0.0.0/8:nokey", &c, &e, &err), MNS_OK);
	mns_xfr_conf_deinit(&c);

	json_t *j = json_pack("{s:[s], s:[], s:[], s:s, s:i, s:i, s:i, s:s, s:s, s:i}", "key",
	                      "k1:hmac-nope:" SECRET, "allow", "notify", "notify-key", "",
	                      "notify-delay", 1, "notify-retries", 1, "notify-timeout", 100,
	                      "catalog", "", "catalog-group", "", "ixfr-history", 1);
	assert_int_not_equal(mns_xfr_conf_parse(j, &c, &err), MNS_OK);
	assert_string_equal(err.key, "key");
	mns_xfr_conf_deinit(&c);
	json_decref(j);
}

typedef struct parsed {
	size_t n_msgs, n_rr, n_soa;
	uint16_t rcode, tsig_error;
	bool first_soa, last_soa, signed_ok;
	size_t max_msg;
} parsed_t;

/* Parses framed messages; verifies the TSIG chain with \a key. */
static parsed_t parse_out(const mns_xfr_out_t *o, const knot_tsig_key_t *key, const uint8_t *mac,
                          size_t mac_len)
{
	parsed_t r = {.signed_ok = true};
	uint8_t prev[64];
	size_t prev_len = mac_len;
	if (mac)
		memcpy(prev, mac, mac_len);
	uint16_t last_type = 0;
	for (size_t off = 0; off + 2 <= o->len;) {
		size_t n = (size_t)o->buf[off] << 8 | o->buf[off + 1];
		assert_true(off + 2 + n <= o->len);
		uint8_t *w = malloc(n);
		memcpy(w, o->buf + off + 2, n);
		knot_pkt_t *p = knot_pkt_new(w, n, NULL);
		assert_int_equal(knot_pkt_parse(p, 0), KNOT_EOK);
		r.rcode = knot_wire_get_rcode(w);
		if (n > r.max_msg)
			r.max_msg = n;
		if (key != NULL) {
			int ret = p->tsig_rr == NULL ? KNOT_TSIG_EBADKEY
			          : r.n_msgs == 0
			              ? knot_tsig_client_check(p->tsig_rr, p->wire, p->size, prev,
			                                       prev_len, key, 0)
			              : knot_tsig_client_check_next(p->tsig_rr, p->wire, p->size,
			                                            prev, prev_len, key, 0);
			if (ret != KNOT_EOK)
				r.signed_ok = false;
			if (p->tsig_rr) {
				prev_len = knot_tsig_rdata_mac_length(p->tsig_rr);
				memcpy(prev, knot_tsig_rdata_mac(p->tsig_rr), prev_len);
			}
		}
		if (p->tsig_rr)
			r.tsig_error = knot_tsig_rdata_error(p->tsig_rr);
		const knot_pktsection_t *an = knot_pkt_section(p, KNOT_ANSWER);
		for (uint16_t i = 0; i < an->count; i++) {
			const knot_rrset_t *rr = knot_pkt_rr(an, i);
			if (r.n_rr == 0)
				r.first_soa = rr->type == KNOT_RRTYPE_SOA;
			r.n_rr++;
			r.n_soa += rr->type == KNOT_RRTYPE_SOA;
			last_type = rr->type;
		}
		knot_pkt_free(p);
		free(w);
		r.n_msgs++;
		off += 2 + n;
	}
	r.last_soa = last_type == KNOT_RRTYPE_SOA;
	return r;
}

/* Builds a query packet the way the server sees it (parsed, TSIG stripped). */
static knot_pkt_t *query(const char *name, uint16_t type, const knot_tsig_key_t *key,
                         uint32_t serial, uint8_t *mac, size_t *mac_len, uint8_t *buf, size_t *len)
{
	knot_pkt_t *q = knot_pkt_new(buf, KNOT_WIRE_MAX_PKTSIZE, NULL);
	knot_pkt_clear(q);
	knot_dname_storage_t n;
	assert_int_equal(knot_pkt_put_question(q, wire(name, n), KNOT_CLASS_IN, type), KNOT_EOK);
	knot_wire_set_id(q->wire, 4242);
	if (type == KNOT_RRTYPE_IXFR) {
		knot_pkt_begin(q, KNOT_AUTHORITY);
		knot_rrset_t soa;
		knot_rrset_init(&soa, n, KNOT_RRTYPE_SOA, KNOT_CLASS_IN, 0);
		uint8_t rd[22] = {0};
		knot_wire_write_u32(rd + 2, serial);
		assert_int_equal(knot_rrset_add_rdata(&soa, rd, 22, NULL), KNOT_EOK);
		assert_int_equal(knot_pkt_put(q, 0, &soa, 0), KNOT_EOK);
		knot_rdataset_clear(&soa.rrs, NULL);
	}
	if (key != NULL) {
		*mac_len = 64;
		assert_int_equal(knot_tsig_sign(q->wire, &q->size, q->max_size, NULL, 0, mac,
		                                mac_len, key, 0, 0),
		                 KNOT_EOK);
	}
	*len = q->size;
	knot_pkt_free(q);
	/* Parsing strips the TSIG from the wire: parse a copy (freed with the packet's mm). */
	static uint8_t copy[KNOT_WIRE_MAX_PKTSIZE];
	memcpy(copy, buf, *len);
	knot_pkt_t *p = knot_pkt_new(copy, *len, NULL);
	assert_int_equal(knot_pkt_parse(p, 0), KNOT_EOK);
	return p;
}

static void test_split_and_sign(void **state)
{
	knot_tsig_key_t key;
	assert_int_equal(knot_tsig_key_init(&key, "hmac-sha256", "k1", SECRET), KNOT_EOK);
	/* 600 TXT records of ~170 octets: ~100 KiB, several messages. */
	mns_zone_t *z = make_zone("big.example", MNS_ZONE_TENANT, 7, 600, "v1");
	uint8_t buf[KNOT_WIRE_MAX_PKTSIZE], mac[64];
	size_t len, mac_len = 0;
	for (int signed_ = 0; signed_ < 2; signed_++) {
		knot_pkt_t *q = query("big.example", KNOT_RRTYPE_AXFR, signed_ ? &key : NULL, 0,
		                      mac, &mac_len, buf, &len);
		const mns_zone_t *zones[] = {z};
		mns_xfr_iter_t it = {.zones = zones, .n_zones = 1};
		mns_xfr_out_t o = {0};
		assert_int_equal(
		    mns_xfr_write(q, z->soa, &it, NULL, 0, false, signed_ ? &key : NULL, &o),
		    MNS_OK);
		parsed_t r = parse_out(&o, signed_ ? &key : NULL, mac, mac_len);
		assert_true(r.n_msgs >= 6);
		assert_int_equal(r.n_rr, 600 + 1 + 2); /* TXT, NS, SOA twice */
		assert_int_equal(r.n_soa, 2);
		assert_true(r.first_soa);
		assert_true(r.last_soa);
		assert_true(r.max_msg <= MNS_XFR_MSG_SOFT + 512);
		assert_true(r.signed_ok);
		mns_xfr_out_free(&o);
		knot_pkt_free(q);
	}
	/* A bad TSIG error response carries the error, unsigned. */
	knot_pkt_t *q = query("big.example", KNOT_RRTYPE_AXFR, &key, 0, mac, &mac_len, buf, &len);
	mns_xfr_out_t o = {0};
	assert_int_equal(mns_xfr_write_error(q, KNOT_RCODE_NOTAUTH, KNOT_RCODE_BADSIG, NULL, &o),
	                 MNS_OK);
	parsed_t r = parse_out(&o, NULL, NULL, 0);
	assert_int_equal(r.rcode, KNOT_RCODE_NOTAUTH);
	assert_int_equal(r.tsig_error, KNOT_RCODE_BADSIG);
	assert_int_equal(r.n_rr, 0);
	mns_xfr_out_free(&o);
	knot_pkt_free(q);
	mns_zone_free(z);
	knot_tsig_key_deinit(&key);
}

static void test_tsig_check(void **state)
{
	mns_xfr_conf_t c;
	conf_from(&c, (const char *[]){"k1:hmac-sha256:" SECRET, "k2:hmac-sha512:" SECRET, NULL},
	          (const char *[]){"127.0.0.1/32:k2", NULL});
	knot_tsig_key_t good, wrong, unknown;
	assert_int_equal(knot_tsig_key_init(&good, "hmac-sha512", "K2", SECRET), KNOT_EOK);
	assert_int_equal(knot_tsig_key_init(&wrong, "hmac-sha512", "k2", "d3Jvbmc="), KNOT_EOK);
	assert_int_equal(knot_tsig_key_init(&unknown, "hmac-sha256", "k3", SECRET), KNOT_EOK);
	uint8_t buf[KNOT_WIRE_MAX_PKTSIZE], mac[64];
	size_t len, mac_len;
	knot_pkt_t *q = query("x.example", KNOT_RRTYPE_AXFR, &good, 0, mac, &mac_len, buf, &len);
	mns_xfr_auth_t a = mns_xfr_tsig_check(&c, q);
	assert_int_equal(a.rcode, 0);
	assert_int_equal(a.key, 1);
	struct sockaddr_storage lo = addr("127.0.0.1");
	assert_true(mns_xfr_acl_allows(&c, (struct sockaddr *)&lo, a.key));
	assert_false(mns_xfr_acl_allows(&c, (struct sockaddr *)&lo, -1));
	knot_pkt_free(q);
	q = query("x.example", KNOT_RRTYPE_AXFR, &wrong, 0, mac, &mac_len, buf, &len);
	a = mns_xfr_tsig_check(&c, q);
	assert_int_equal(a.rcode, KNOT_RCODE_NOTAUTH);
	assert_int_equal(a.tsig_error, KNOT_RCODE_BADSIG);
	knot_pkt_free(q);
	q = query("x.example", KNOT_RRTYPE_AXFR, &unknown, 0, mac, &mac_len, buf, &len);
	a = mns_xfr_tsig_check(&c, q);
	assert_int_equal(a.tsig_error, KNOT_RCODE_BADKEY);
	knot_pkt_free(q);
	q = query("x.example", KNOT_RRTYPE_AXFR, NULL, 0, mac, &mac_len, buf, &len);
	a = mns_xfr_tsig_check(&c, q);
	assert_int_equal(a.rcode, 0);
	assert_int_equal(a.key, -1);
	knot_pkt_free(q);
	knot_tsig_key_deinit(&good);
	knot_tsig_key_deinit(&wrong);
	knot_tsig_key_deinit(&unknown);
	mns_xfr_conf_deinit(&c);
}

static void test_catalog(void **state)
{
	knot_dname_storage_t cat, a, b;
	wire("catalog.invalid", cat);
	wire("mgeu.example.com", a);
	wire("mailns.vendor.example", b);
	char id1[17], id2[17], id3[17];
	mns_xfr_catalog_id(a, id1);
	mns_xfr_catalog_id(b, id2);
	mns_xfr_catalog_id(a, id3);
	assert_string_equal(id1, id3); /* stable */
	assert_string_not_equal(id1, id2);
	const knot_dname_t *members[] = {a, b};
	mns_zone_t *z = NULL;
	mns_error_t err = {0};
	assert_int_equal(mns_xfr_catalog_build(cat, members, 2, "member-alt", 99, &z, &err),
	                 MNS_OK);
	assert_int_equal(z->serial, 99);
	knot_dname_storage_t n;
	const mns_node_t *v = mns_zone_find(z, wire("version.catalog.invalid", n));
	assert_non_null(v);
	const knot_rrset_t *txt = mns_node_rrset(v, KNOT_RRTYPE_TXT);
	assert_non_null(txt);
	assert_memory_equal(txt->rrs.rdata->data, "\0012", 2);
	assert_non_null(mns_node_rrset(mns_zone_find(z, cat), KNOT_RRTYPE_NS));
	char owner[128];
	snprintf(owner, sizeof(owner), "%s.zones.catalog.invalid", id1);
	const knot_rrset_t *ptr = mns_node_rrset(mns_zone_find(z, wire(owner, n)), KNOT_RRTYPE_PTR);
	assert_non_null(ptr);
	assert_true(knot_dname_is_equal(knot_ptr_name(ptr->rrs.rdata), a));
	snprintf(owner, sizeof(owner), "group.%s.zones.catalog.invalid", id2);
	txt = mns_node_rrset(mns_zone_find(z, wire(owner, n)), KNOT_RRTYPE_TXT);
	assert_non_null(txt);
	assert_memory_equal(txt->rrs.rdata->data, "\012member-alt", 11);
	mns_zone_free(z);
}

/* A whole server around the index: IXFR differences, AXFR with subtrees, ACL. */
static void test_server_ixfr(void **state)
{
	char dir[] = "/tmp/mns-xfr-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/m.conf", dir);
	FILE *f = fopen(path, "w");
	fprintf(f,
	        "[xfr]\nkey = k1:hmac-sha256:%s\nallow = 127.0.0.1/32:k1\nallow = 10.0.0.0/8\n"
	        "catalog-group = g1\n",
	        SECRET);
	fclose(f);
	mns_server_t s = {0};
	char errbuf[512];
	assert_int_equal(mns_conf_load(path, NULL, &s.conf, errbuf, sizeof(errbuf)), MNS_OK);
	s.index = mns_index_new();
	assert_int_equal(mns_xfr_init(&s, errbuf, sizeof(errbuf)), MNS_OK);

	mns_index_publish(s.index, make_zone("t.example", MNS_ZONE_TENANT, 10, 3, "v1"));
	mns_index_publish(s.index, make_zone("t.example", MNS_ZONE_TENANT, 11, 4, "v1"));
	mns_index_publish(s.index, make_zone("t.example", MNS_ZONE_TENANT, 12, 4, "v2"));
	mns_index_publish(s.index, make_zone("hosted.example", MNS_ZONE_HOSTED, 5, 0, "h"));
	mns_index_publish(s.index, make_zone("a.hosted.example", MNS_ZONE_SUBTREE, 0, 2, "sa"));
	mns_index_publish(s.index, make_zone("b.hosted.example", MNS_ZONE_SUBTREE, 0, 1, "sb"));

	knot_tsig_key_t key;
	assert_int_equal(knot_tsig_key_init(&key, "hmac-sha256", "k1", SECRET), KNOT_EOK);
	uint8_t buf[KNOT_WIRE_MAX_PKTSIZE], mac[64];
	size_t len, mac_len = 0;
	struct sockaddr_storage lo = addr("127.0.0.1"), ten = addr("10.1.2.3"),
	                        far = addr("192.0.2.1");
	uint8_t *out;
	size_t outlen;
	mns_xfr_out_t o;
	parsed_t r;

	/* IXFR 10 -> 12 over two diffs: SOA12, SOA10, -, SOA11, +1, SOA11, -4, SOA12, +4, SOA12. */
	knot_pkt_t *q = query("t.example", KNOT_RRTYPE_IXFR, &key, 10, mac, &mac_len, buf, &len);
	knot_pkt_free(q);
	assert_true(mns_xfr_tcp(&s, (struct sockaddr *)&lo, buf, len, &out, &outlen));
	o = (mns_xfr_out_t){out, outlen, outlen};
	r = parse_out(&o, &key, mac, mac_len);
	assert_true(r.signed_ok);
	assert_int_equal(r.rcode, KNOT_RCODE_NOERROR);
	assert_int_equal(r.n_soa, 6);
	assert_int_equal(r.n_rr, 6 + 1 + 4 + 4);
	free(out);

	/* Up to date: the SOA alone. Unknown serial: a full transfer. */
	q = query("t.example", KNOT_RRTYPE_IXFR, NULL, 12, mac, &mac_len, buf, &len);
	knot_pkt_free(q);
	assert_true(mns_xfr_tcp(&s, (struct sockaddr *)&ten, buf, len, &out, &outlen));
	o = (mns_xfr_out_t){out, outlen, outlen};
	r = parse_out(&o, NULL, NULL, 0);
	assert_int_equal(r.n_rr, 1);
	free(out);
	q = query("t.example", KNOT_RRTYPE_IXFR, NULL, 3, mac, &mac_len, buf, &len);
	knot_pkt_free(q);
	assert_true(mns_xfr_tcp(&s, (struct sockaddr *)&ten, buf, len, &out, &outlen));
	o = (mns_xfr_out_t){out, outlen, outlen};
	r = parse_out(&o, NULL, NULL, 0);
	assert_int_equal(r.n_rr, 2 + 1 + 4);
	free(out);

	/* The hosted zone's AXFR holds its subtrees. */
	q = query("hosted.example", KNOT_RRTYPE_AXFR, NULL, 0, mac, &mac_len, buf, &len);
	knot_pkt_free(q);
	assert_true(mns_xfr_tcp(&s, (struct sockaddr *)&ten, buf, len, &out, &outlen));
	o = (mns_xfr_out_t){out, outlen, outlen};
	r = parse_out(&o, NULL, NULL, 0);
	assert_int_equal(r.n_rr, 2 + 1 + 3);
	free(out);

	/* A parent zone keeps its delegation to a child zone we also serve. */
	mns_error_t err = {0};
	mns_zone_builder_t *zb = mns_zb_new("parent.example", "parent.example", MNS_ZONE_STATIC);
	assert_int_equal(mns_zb_add_soa(zb, 3600, "ns1.vendor.example", "hm.vendor.example", 1,
	                                7200, 3600, 1209600, 300, &err),
	                 MNS_OK);
	assert_int_equal(mns_zb_add_ns(zb, "@", 3600, "ns1.vendor.example", &err), MNS_OK);
	assert_int_equal(mns_zb_add_ns(zb, "child", 3600, "ns1.vendor.example", &err), MNS_OK);
	mns_zone_t *pz = NULL;
	assert_int_equal(mns_zb_build(zb, &pz, &err), MNS_OK);
	mns_zb_free(zb);
	mns_index_publish(s.index, pz);
	mns_index_publish(s.index, make_zone("child.parent.example", MNS_ZONE_TENANT, 3, 1, "c"));
	q = query("parent.example", KNOT_RRTYPE_AXFR, NULL, 0, mac, &mac_len, buf, &len);
	knot_pkt_free(q);
	assert_true(mns_xfr_tcp(&s, (struct sockaddr *)&ten, buf, len, &out, &outlen));
	o = (mns_xfr_out_t){out, outlen, outlen};
	r = parse_out(&o, NULL, NULL, 0);
	assert_int_equal(r.n_rr, 2 + 1 + 1); /* SOA×2, apex NS, delegation NS */
	free(out);

	/* ACL: the key is required from 127.0.0.1; 192.0.2.1 is not listed. */
	q = query("t.example", KNOT_RRTYPE_AXFR, NULL, 0, mac, &mac_len, buf, &len);
	knot_pkt_free(q);
	assert_true(mns_xfr_tcp(&s, (struct sockaddr *)&lo, buf, len, &out, &outlen));
	o = (mns_xfr_out_t){out, outlen, outlen};
	r = parse_out(&o, NULL, NULL, 0);
	assert_int_equal(r.rcode, KNOT_RCODE_REFUSED);
	assert_int_equal(r.n_rr, 0);
	free(out);
	assert_true(mns_xfr_tcp(&s, (struct sockaddr *)&far, buf, len, &out, &outlen));
	o = (mns_xfr_out_t){out, outlen, outlen};
	assert_int_equal(parse_out(&o, NULL, NULL, 0).rcode, KNOT_RCODE_REFUSED);
	free(out);
	/* Not one of our zones; a subtree is not a zone either. */
	q = query("a.hosted.example", KNOT_RRTYPE_AXFR, NULL, 0, mac, &mac_len, buf, &len);
	knot_pkt_free(q);
	assert_true(mns_xfr_tcp(&s, (struct sockaddr *)&ten, buf, len, &out, &outlen));
	o = (mns_xfr_out_t){out, outlen, outlen};
	assert_int_equal(parse_out(&o, NULL, NULL, 0).rcode, KNOT_RCODE_NOTAUTH);
	free(out);
	/* AXFR over UDP: FORMERR. IXFR over UDP: the SOA. */
	uint8_t resp[4096];
	size_t n = 0;
	q = query("t.example", KNOT_RRTYPE_AXFR, NULL, 0, mac, &mac_len, buf, &len);
	knot_pkt_free(q);
	assert_true(mns_xfr_udp(&s, (struct sockaddr *)&ten, buf, len, resp, sizeof(resp), &n));
	assert_true(n >= KNOT_WIRE_HEADER_SIZE);
	assert_int_equal(knot_wire_get_rcode(resp), KNOT_RCODE_FORMERR);
	/* Ordinary unsigned queries are not ours. */
	q = query("t.example", KNOT_RRTYPE_SOA, NULL, 0, mac, &mac_len, buf, &len);
	knot_pkt_free(q);
	assert_false(mns_xfr_udp(&s, (struct sockaddr *)&ten, buf, len, resp, sizeof(resp), &n));

	/* The catalog lists the two zones, with the group. */
	q = query("catalog.invalid", KNOT_RRTYPE_AXFR, NULL, 0, mac, &mac_len, buf, &len);
	knot_pkt_free(q);
	assert_true(mns_xfr_tcp(&s, (struct sockaddr *)&ten, buf, len, &out, &outlen));
	o = (mns_xfr_out_t){out, outlen, outlen};
	r = parse_out(&o, NULL, NULL, 0);
	assert_int_equal(r.n_rr, 2 + 1 + 1 + 2 * 4); /* SOA×2, NS, version, PTR+group ×4 */
	free(out);
	/* ... and only to transfer clients. */
	q = query("catalog.invalid", KNOT_RRTYPE_SOA, NULL, 0, mac, &mac_len, buf, &len);
	knot_pkt_free(q);
	assert_true(mns_xfr_udp(&s, (struct sockaddr *)&far, buf, len, resp, sizeof(resp), &n));
	assert_int_equal(knot_wire_get_rcode(resp), KNOT_RCODE_REFUSED);

	knot_tsig_key_deinit(&key);
	mns_xfr_deinit(&s);
	mns_index_free(s.index);
	mns_conf_free(s.conf);
	unlink(path);
	rmdir(dir);
}

static int setup(void **state)
{
	mns_rcu_register();
	return 0;
}

static int teardown(void **state)
{
	mns_rcu_unregister();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_acl),
	    cmocka_unit_test(test_tsig_check),
	    cmocka_unit_test(test_split_and_sign),
	    cmocka_unit_test(test_catalog),
	    cmocka_unit_test(test_server_ixfr),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
