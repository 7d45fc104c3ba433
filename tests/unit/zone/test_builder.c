/*  Zone builder: owner rules, TXT splitting, clashes, CNAME exclusivity,
 *  empty non-terminals, canonical order, node table, dump, and its arena
 *  (zones that outgrow the first block, big RRsets, error paths).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "zone/zone.h"

#define APEX "mgeu.example.com"

static mns_zone_builder_t *tenant_builder(void)
{
	mns_error_t err;
	mns_zone_builder_t *zb = mns_zb_new(APEX, APEX, MNS_ZONE_TENANT);
	assert_non_null(zb);
	mns_zb_set_producer(zb, "core");
	assert_int_equal(mns_zb_add_soa(zb, 3600, "ns1.vendor.example", "hostmaster.vendor.example",
	                                2024010101, 7200, 3600, 1209600, 300, &err),
	                 MNS_OK);
	assert_int_equal(mns_zb_add_ns(zb, "@", 3600, "ns1.vendor.example", &err), MNS_OK);
	return zb;
}

static mns_zone_t *build_ok(mns_zone_builder_t *zb)
{
	mns_error_t err = {0};
	mns_zone_t *z = NULL;
	int ret = mns_zb_build(zb, &z, &err);
	if (ret != MNS_OK)
		fail_msg("build failed: %s: %s", err.code, err.message);
	assert_non_null(z);
	mns_zb_free(zb);
	return z;
}

static const mns_node_t *find(const mns_zone_t *z, const char *name)
{
	knot_dname_storage_t wire;
	assert_non_null(knot_dname_from_str(wire, name, sizeof(wire)));
	knot_dname_to_lower(wire);
	return mns_zone_find(z, wire);
}

static bool owner_is(const mns_node_t *n, const char *name)
{
	knot_dname_storage_t wire;
	assert_non_null(knot_dname_from_str(wire, name, sizeof(wire)));
	return knot_dname_is_equal(n->owner, wire);
}

static void test_owner_rules(void **state)
{
	mns_error_t err;
	mns_zone_builder_t *zb = tenant_builder();
	mns_zb_set_producer(zb, "spf");
	assert_int_equal(mns_zb_add_txt(zb, "@", 300, "at apex", &err), MNS_OK);
	mns_zb_set_producer(zb, "dkim");
	assert_int_equal(mns_zb_add_txt(zb, "S1._DomainKey", 300, "relative", &err), MNS_OK);
	mns_zb_set_producer(zb, "dmarc");
	assert_int_equal(mns_zb_add_txt(zb, "_dmarc.MGEU.example.com.", 300, "absolute", &err),
	                 MNS_OK);
	mns_zb_set_producer(zb, "x");
	/* Absolute names outside the base are refused. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(mns_zb_add_txt(zb, "other.example.com.", 300, "no", &err), MNS_EINVAL);
	assert_string_equal(err.code, "out_of_zone");
	assert_non_null(strstr(err.message, "other.example.com."));
	memset(&err, 0, sizeof(err));
	assert_int_equal(mns_zb_add_txt(zb, "example.com.", 300, "no", &err), MNS_EINVAL);
	assert_string_equal(err.code, "out_of_zone");
	/* A relative name that merely ends like the base is below it. */
	assert_int_equal(mns_zb_add_txt(zb, "mgeu.example.com", 300, "rel", &err), MNS_OK);
	/* Broken names. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(mns_zb_add_txt(zb, "a..b", 300, "no", &err), MNS_EINVAL);
	assert_string_equal(err.code, "invalid_name");
	memset(&err, 0, sizeof(err));
	assert_int_equal(mns_zb_add_txt(zb, "", 300, "no", &err), MNS_EINVAL);
	assert_string_equal(err.code, "invalid_name");
	memset(&err, 0, sizeof(err));
	assert_int_equal(mns_zb_add_cname(zb, "c", 300, "bad..target", &err), MNS_EINVAL);
	assert_string_equal(err.code, "invalid_name");

	mns_zone_t *z = build_ok(zb);
	const mns_node_t *n = find(z, APEX);
	assert_non_null(n);
	assert_ptr_equal(n, &z->nodes[0]);
	assert_non_null(mns_node_rrset(n, KNOT_RRTYPE_TXT));
	/* Stored lowercase: the node is found by its lowercase name and its
	 * owner bytes are lowercase. */
	n = find(z, "s1._domainkey." APEX);
	assert_non_null(n);
	assert_true(owner_is(n, "s1._domainkey.mgeu.example.com."));
	assert_non_null(find(z, "_dmarc." APEX));
	assert_non_null(find(z, "mgeu.example.com." APEX));
	assert_null(find(z, "other.example.com"));
	assert_null(find(z, "c." APEX));
	mns_zone_free(z);
}

static void test_base_below_apex(void **state)
{
	mns_error_t err;
	mns_zone_builder_t *zb =
	    mns_zb_new("mailns.vendor.example", "acme.mailns.vendor.example", MNS_ZONE_SUBTREE);
	assert_non_null(zb);
	assert_int_equal(mns_zb_add_txt(zb, "@", 300, "base", &err), MNS_OK);
	assert_int_equal(mns_zb_add_mx(zb, "bounce", 300, 10, "mx.vendor.example", &err), MNS_OK);
	memset(&err, 0, sizeof(err));
	assert_int_equal(mns_zb_add_txt(zb, "mailns.vendor.example.", 300, "apex", &err),
	                 MNS_EINVAL);
	assert_string_equal(err.code, "out_of_zone");
	mns_zone_t *z = build_ok(zb);
	assert_null(z->soa);
	assert_int_equal(z->serial, 0);
	assert_int_equal(z->kind, MNS_ZONE_SUBTREE);
	/* apex (empty), base, bounce.base */
	assert_int_equal(z->n_nodes, 3);
	assert_true(owner_is(&z->nodes[0], "mailns.vendor.example."));
	assert_int_equal(z->nodes[0].n_rrsets, 0);
	mns_zone_free(z);

	/* A base outside the apex is refused. */
	assert_null(mns_zb_new("a.example", "b.example", MNS_ZONE_SUBTREE));
	assert_null(mns_zb_new("a..example", "a..example", MNS_ZONE_TENANT));
}

static void test_txt_split(void **state)
{
	char text[601];
	for (size_t i = 0; i < 600; i++)
		text[i] = (char)('a' + i % 26);
	text[600] = '\0';
	mns_error_t err;
	mns_zone_builder_t *zb = tenant_builder();
	assert_int_equal(mns_zb_add_txt(zb, "s1._domainkey", 3600, text, &err), MNS_OK);
	assert_int_equal(mns_zb_add_txt(zb, "empty", 3600, "", &err), MNS_OK);
	assert_int_equal(mns_zb_add_txt(zb, "exact", 3600, text + 345, &err), MNS_OK); /* 255 */
	mns_zone_t *z = build_ok(zb);

	const knot_rrset_t *rr = mns_node_rrset(find(z, "s1._domainkey." APEX), KNOT_RRTYPE_TXT);
	assert_non_null(rr);
	assert_int_equal(rr->rrs.count, 1);
	const knot_rdata_t *rd = rr->rrs.rdata;
	assert_int_equal(rd->len, 603);
	assert_int_equal(rd->data[0], 255);
	assert_memory_equal(rd->data + 1, text, 255);
	assert_int_equal(rd->data[256], 255);
	assert_memory_equal(rd->data + 257, text + 255, 255);
	assert_int_equal(rd->data[512], 90);
	assert_memory_equal(rd->data + 513, text + 510, 90);

	rr = mns_node_rrset(find(z, "empty." APEX), KNOT_RRTYPE_TXT);
	assert_non_null(rr);
	assert_int_equal(rr->rrs.rdata->len, 1);
	assert_int_equal(rr->rrs.rdata->data[0], 0);

	rr = mns_node_rrset(find(z, "exact." APEX), KNOT_RRTYPE_TXT);
	assert_int_equal(rr->rrs.rdata->len, 256);
	assert_int_equal(rr->rrs.rdata->data[0], 255);
	mns_zone_free(z);
}

static void test_clash_and_merge(void **state)
{
	mns_error_t err;
	mns_zone_builder_t *zb = tenant_builder();
	mns_zb_set_producer(zb, "spf");
	assert_int_equal(mns_zb_add_txt(zb, "@", 300, "v=spf1 -all", &err), MNS_OK);
	/* The same producer: one RRset, TTL of the first record. */
	assert_int_equal(mns_zb_add_txt(zb, "@", 900, "second", &err), MNS_OK);
	/* Identical data merges silently. */
	assert_int_equal(mns_zb_add_txt(zb, "@", 300, "second", &err), MNS_OK);
	/* Another producer, same name and type: a clash naming both. */
	mns_zb_set_producer(zb, "verify");
	memset(&err, 0, sizeof(err));
	assert_int_equal(mns_zb_add_txt(zb, "@", 300, "token", &err), MNS_ECLASH);
	assert_string_equal(err.code, "record_clash");
	assert_non_null(strstr(err.message, "spf"));
	assert_non_null(strstr(err.message, "verify"));
	assert_non_null(strstr(err.message, "mgeu.example.com."));
	assert_non_null(strstr(err.message, "TXT"));
	/* Another type at the same name is fine. */
	assert_int_equal(mns_zb_add_mx(zb, "@", 300, 10, "MX.Vendor.Example", &err), MNS_OK);

	mns_zone_t *z = build_ok(zb);
	const mns_node_t *apex = &z->nodes[0];
	const knot_rrset_t *txt = mns_node_rrset(apex, KNOT_RRTYPE_TXT);
	assert_non_null(txt);
	assert_int_equal(txt->rrs.count, 2);
	assert_int_equal(txt->ttl, 300);
	assert_ptr_equal(txt->owner, apex->owner);
	const knot_rrset_t *mx = mns_node_rrset(apex, KNOT_RRTYPE_MX);
	assert_non_null(mx);
	/* RDATA names are stored lowercase too. */
	assert_memory_equal(mx->rrs.rdata->data, "\000\012\002mx\006vendor\007example", 21);
	assert_null(mns_node_rrset(apex, KNOT_RRTYPE_AAAA));
	mns_zone_free(z);
}

static void test_cname_conflict(void **state)
{
	mns_error_t err;
	mns_zone_t *z = NULL;
	mns_zone_builder_t *zb = tenant_builder();
	mns_zb_set_producer(zb, "dkim");
	assert_int_equal(mns_zb_add_cname(zb, "s1._domainkey", 300, "s1.keys.vendor.example", &err),
	                 MNS_OK);
	mns_zb_set_producer(zb, "other");
	assert_int_equal(mns_zb_add_txt(zb, "s1._domainkey", 300, "x", &err), MNS_OK);
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(mns_zb_build(zb, &z, &err), MNS_OK);
	assert_null(z);
	assert_string_equal(err.code, "cname_conflict");
	assert_non_null(strstr(err.message, "s1._domainkey.mgeu.example.com."));
	assert_non_null(strstr(err.message, "dkim"));
	assert_non_null(strstr(err.message, "other"));
	mns_zb_free(zb);

	/* Two CNAMEs at one name. */
	zb = tenant_builder();
	assert_int_equal(mns_zb_add_cname(zb, "x", 300, "a.example", &err), MNS_OK);
	assert_int_equal(mns_zb_add_cname(zb, "x", 300, "b.example", &err), MNS_OK);
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(mns_zb_build(zb, &z, &err), MNS_OK);
	assert_string_equal(err.code, "cname_conflict");
	mns_zb_free(zb);

	/* A lone CNAME is fine and flagged. */
	zb = tenant_builder();
	assert_int_equal(mns_zb_add_cname(zb, "x", 300, "a.example.", &err), MNS_OK);
	z = build_ok(zb);
	const mns_node_t *n = find(z, "x." APEX);
	assert_non_null(n);
	assert_int_equal(n->flags, MNS_NODE_CNAME);
	assert_false(z->has_deleg);
	mns_zone_free(z);
}

static void test_ents_and_order(void **state)
{
	mns_error_t err;
	static const uint8_t a[4] = {192, 0, 2, 1};
	mns_zone_builder_t *zb = tenant_builder();
	assert_int_equal(mns_zb_add_txt(zb, "z", 300, "z", &err), MNS_OK);
	assert_int_equal(mns_zb_add_txt(zb, "s1._domainkey", 300, "k", &err), MNS_OK);
	assert_int_equal(mns_zb_add_rdata(zb, "a.b.c", KNOT_RRTYPE_A, 300, a, 4, &err), MNS_OK);
	assert_int_equal(mns_zb_add_txt(zb, "_dmarc", 300, "d", &err), MNS_OK);
	assert_int_equal(mns_zb_add_txt(zb, "b.c", 300, "not empty", &err), MNS_OK);
	mns_zone_t *z = build_ok(zb);

	static const char *const expect[] = {
	    "mgeu.example.com.",
	    "_dmarc.mgeu.example.com.",
	    "_domainkey.mgeu.example.com.",
	    "s1._domainkey.mgeu.example.com.",
	    "c.mgeu.example.com.",
	    "b.c.mgeu.example.com.",
	    "a.b.c.mgeu.example.com.",
	    "z.mgeu.example.com.",
	};
	assert_int_equal(z->n_nodes, sizeof(expect) / sizeof(expect[0]));
	for (size_t i = 0; i < z->n_nodes; i++) {
		if (!owner_is(&z->nodes[i], expect[i]))
			fail_msg("node %zu is not %s", i, expect[i]);
		if (i > 0)
			assert_true(knot_dname_cmp(z->nodes[i - 1].owner, z->nodes[i].owner) < 0);
		/* Every node is in the table. */
		assert_ptr_equal(mns_zone_find(z, z->nodes[i].owner), &z->nodes[i]);
	}
	/* Empty non-terminals have no RRsets. */
	assert_int_equal(find(z, "_domainkey." APEX)->n_rrsets, 0);
	assert_int_equal(find(z, "c." APEX)->n_rrsets, 0);
	assert_int_equal(find(z, "b.c." APEX)->n_rrsets, 1);
	assert_int_equal(z->nodes[0].n_rrsets, 2); /* NS, SOA */
	assert_int_equal(z->nodes[0].rrsets[0].type, KNOT_RRTYPE_NS);
	assert_int_equal(z->nodes[0].rrsets[1].type, KNOT_RRTYPE_SOA);
	/* The table is a power of two at least twice the node count. */
	assert_true(z->mask + 1 >= 2 * z->n_nodes);
	assert_int_equal((z->mask + 1) & z->mask, 0);
	assert_null(find(z, "nope." APEX));
	assert_null(find(z, "d.c." APEX));
	mns_zone_free(z);
}

static void test_soa_rules(void **state)
{
	mns_error_t err;
	mns_zone_t *z = NULL;

	/* Tenant zone without SOA. */
	mns_zone_builder_t *zb = mns_zb_new(APEX, APEX, MNS_ZONE_TENANT);
	assert_int_equal(mns_zb_add_txt(zb, "@", 300, "x", &err), MNS_OK);
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(mns_zb_build(zb, &z, &err), MNS_OK);
	assert_string_equal(err.code, "missing_soa");
	mns_zb_free(zb);

	/* SOA below the apex (through the generic adder). */
	zb = tenant_builder();
	uint8_t soa[64];
	size_t n = 0;
	memcpy(soa, "\x02ns\x00\x02hm\x00", 8);
	n = 8;
	memset(soa + n, 0, 20);
	n += 20;
	assert_int_equal(mns_zb_add_rdata(zb, "sub", KNOT_RRTYPE_SOA, 300, soa, n, &err), MNS_OK);
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(mns_zb_build(zb, &z, &err), MNS_OK);
	assert_string_equal(err.code, "misplaced_soa");
	mns_zb_free(zb);

	/* Two SOA records. */
	zb = tenant_builder();
	assert_int_equal(mns_zb_add_soa(zb, 3600, "ns1.vendor.example", "hostmaster.vendor.example",
	                                7, 7200, 3600, 1209600, 300, &err),
	                 MNS_OK);
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(mns_zb_build(zb, &z, &err), MNS_OK);
	assert_string_equal(err.code, "multiple_soa");
	mns_zb_free(zb);

	/* A SUBTREE may not hold one. */
	zb = mns_zb_new("acme.mailns.vendor.example", "acme.mailns.vendor.example",
	                MNS_ZONE_SUBTREE);
	assert_int_equal(mns_zb_add_soa(zb, 3600, "ns1.vendor.example", "hm.vendor.example", 1, 2,
	                                3, 4, 5, &err),
	                 MNS_OK);
	memset(&err, 0, sizeof(err));
	assert_int_not_equal(mns_zb_build(zb, &z, &err), MNS_OK);
	assert_string_equal(err.code, "misplaced_soa");
	mns_zb_free(zb);

	/* The good case: serial and soa pointer. */
	zb = tenant_builder();
	mns_zb_set_tenant(zb, "acme");
	z = build_ok(zb);
	assert_int_equal(z->serial, 2024010101);
	assert_non_null(z->soa);
	assert_ptr_equal(z->soa, mns_node_rrset(&z->nodes[0], KNOT_RRTYPE_SOA));
	assert_int_equal(knot_soa_minimum(z->soa->rrs.rdata), 300);
	assert_string_equal(z->tenant, "acme");
	assert_int_equal(z->kind, MNS_ZONE_TENANT);
	mns_zone_free(z);
}

static void test_rdata_checks(void **state)
{
	mns_error_t err;
	mns_zone_builder_t *zb = tenant_builder();
	/* TXT whose character-string runs past the end. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(
	    mns_zb_add_rdata(zb, "t", KNOT_RRTYPE_TXT, 300, (const uint8_t *)"\005abc", 4, &err),
	    MNS_EINVAL);
	assert_string_equal(err.code, "invalid_rdata");
	/* A CNAME that is not one name. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(mns_zb_add_rdata(zb, "c", KNOT_RRTYPE_CNAME, 300,
	                                  (const uint8_t *)"\001a\000\000", 4, &err),
	                 MNS_EINVAL);
	assert_string_equal(err.code, "invalid_rdata");
	/* Meta types are not data. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(mns_zb_add_rdata(zb, "x", KNOT_RRTYPE_ANY, 300, NULL, 0, &err),
	                 MNS_EINVAL);
	assert_string_equal(err.code, "invalid_type");
	mns_zb_free(zb);
}

static void test_delegation_flags(void **state)
{
	mns_error_t err;
	mns_zone_builder_t *zb = tenant_builder();
	assert_int_equal(mns_zb_add_ns(zb, "child", 300, "ns.child.mgeu.example.com", &err),
	                 MNS_OK);
	mns_zone_t *z = build_ok(zb);
	assert_true(z->has_deleg);
	assert_int_equal(z->nodes[0].flags, 0); /* NS at the apex is no cut */
	/* A cut whose NS target is below it: glue to add. */
	assert_int_equal(find(z, "child." APEX)->flags, MNS_NODE_DELEG | MNS_NODE_ADDITIONAL);
	mns_zone_free(z);
}

static void test_dump(void **state)
{
	mns_error_t err;
	char text[601];
	memset(text, 'k', 600);
	text[600] = '\0';
	mns_zone_builder_t *zb = tenant_builder();
	mns_zb_set_producer(zb, "dkim");
	assert_int_equal(mns_zb_add_txt(zb, "s1._domainkey", 3600, text, &err), MNS_OK);
	mns_zb_set_producer(zb, "mx");
	assert_int_equal(mns_zb_add_mx(zb, "@", 600, 10, "bounce.vendor.example", &err), MNS_OK);
	mns_zone_t *z = build_ok(zb);

	json_t *j = NULL;
	char *zt = NULL;
	assert_int_equal(mns_zone_dump(z, &j, &zt), MNS_OK);
	assert_non_null(j);
	assert_non_null(zt);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), 4); /* NS, SOA, MX, TXT */

	json_t *ns = json_array_get(j, 0);
	assert_string_equal(json_string_value(json_object_get(ns, "name")), "mgeu.example.com.");
	assert_string_equal(json_string_value(json_object_get(ns, "type")), "NS");
	assert_int_equal(json_integer_value(json_object_get(ns, "ttl")), 3600);
	assert_string_equal(json_string_value(json_object_get(ns, "value")), "ns1.vendor.example.");

	json_t *soa = json_array_get(j, 1);
	assert_string_equal(json_string_value(json_object_get(soa, "value")),
	                    "ns1.vendor.example. hostmaster.vendor.example. 2024010101 7200 3600 "
	                    "1209600 300");
	json_t *mx = json_array_get(j, 2);
	assert_string_equal(json_string_value(json_object_get(mx, "type")), "MX");
	assert_int_equal(json_integer_value(json_object_get(mx, "ttl")), 600);
	assert_string_equal(json_string_value(json_object_get(mx, "value")),
	                    "10 bounce.vendor.example.");

	json_t *txt = json_array_get(j, 3);
	assert_string_equal(json_string_value(json_object_get(txt, "name")),
	                    "s1._domainkey.mgeu.example.com.");
	assert_string_equal(json_string_value(json_object_get(txt, "type")), "TXT");
	const char *v = json_string_value(json_object_get(txt, "value"));
	/* Three quoted strings: 255 + 255 + 90. */
	assert_int_equal(strlen(v), 600 + 6 + 2);
	assert_int_equal(v[0], '"');
	assert_int_equal(v[256], '"');
	assert_int_equal(v[257], ' ');
	assert_int_equal(v[258], '"');

	/* knot_rrset_txt_dump pads the owner column with spaces. */
	assert_int_equal(strncmp(zt, "mgeu.example.com. ", 18), 0);
	assert_non_null(strstr(zt, " \t3600\tNS\tns1.vendor.example.\n"));
	assert_non_null(strstr(zt, " \t600\tMX\t10 bounce.vendor.example.\n"));
	assert_non_null(strstr(zt, "\ns1._domainkey.mgeu.example.com.\t3600\tTXT\t\""));
	/* One line per record. */
	size_t lines = 0;
	for (const char *p = zt; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 4);

	json_decref(j);
	free(zt);
	/* Either output may be skipped. */
	assert_int_equal(mns_zone_dump(z, NULL, &zt), MNS_OK);
	free(zt);
	mns_zone_free(z);
}

static void test_answer_hints(void **state)
{
	mns_error_t err;
	mns_zone_builder_t *zb = tenant_builder();
	assert_int_equal(mns_zb_add_ns(zb, "@", 3600, "ns2." APEX, &err), MNS_OK);
	assert_int_equal(mns_zb_add_mx(zb, "out", 600, 10, "bounce.vendor.example", &err), MNS_OK);
	assert_int_equal(mns_zb_add_mx(zb, "in", 600, 10, "mail." APEX, &err), MNS_OK);
	assert_int_equal(mns_zb_add_txt(zb, "a.b", 60, "hi", &err), MNS_OK);
	mns_zone_t *z = build_ok(zb);

	/* NS or MX with a target in the zone: additional-section work. */
	assert_true(z->nodes[0].flags & MNS_NODE_ADDITIONAL);
	assert_true(find(z, "in." APEX)->flags & MNS_NODE_ADDITIONAL);
	assert_false(find(z, "out." APEX)->flags & MNS_NODE_ADDITIONAL);
	assert_false(find(z, "a.b." APEX)->flags & MNS_NODE_ADDITIONAL);

	/* The SOA of negative answers: min(TTL 3600, MINIMUM 300). */
	assert_int_equal(z->soa_neg_ttl, 300);

	/* One allocation: an ancestor's owner is the suffix of its child's,
	 * RDATA and the apex live inside the zone's block. */
	const mns_node_t *n = find(z, "a.b." APEX), *ent = find(z, "b." APEX);
	assert_ptr_equal(ent->owner, n->owner + 2);
	assert_ptr_equal(z->apex, z->nodes[0].owner);
	const uint8_t *lo = (const uint8_t *)z, *hi = lo + malloc_usable_size(z);
	const uint8_t *rd = (const uint8_t *)mns_node_rrset(n, KNOT_RRTYPE_TXT)->rrs.rdata;
	assert_true(rd > lo && rd < hi);
	assert_true(z->apex > lo && z->apex < hi);
	assert_true((const uint8_t *)z->slots > lo && (const uint8_t *)z->slots < hi);
	mns_zone_free(z);

	/* A SUBTREE has no SOA: no negative TTL either. */
	zb = mns_zb_new("acme.hosted.example", "acme.hosted.example", MNS_ZONE_SUBTREE);
	mns_zb_set_tenant(zb, "acme");
	assert_int_equal(mns_zb_add_txt(zb, "@", 60, "x", &err), MNS_OK);
	z = build_ok(zb);
	assert_null(z->soa);
	assert_int_equal(z->soa_neg_ttl, 0);
	assert_string_equal(z->tenant, "acme");
	mns_zone_free(z);
}

/* Zones far larger than the builder's inline arena block: thousands of
 * owners (more blocks, the sets array and the (owner, type) table grow), an
 * RRset whose RDATA array passes the malloc'd size while it grows, a TXT
 * record larger than the stack buffer, duplicates and clashes after all
 * that. Under ASan this also shows that every block is freed. */
#define N_OWNERS 3000
#define N_BIG 1500

static void add_many(mns_zone_builder_t *zb, bool reverse)
{
	mns_error_t err = {0};
	char owner[32];
	for (int k = 0; k < N_OWNERS; k++) {
		int i = reverse ? N_OWNERS - 1 - k : k;
		/* Producers alternate: each RRset keeps the one that added it. */
		mns_zb_set_producer(zb, i % 2 ? "odd" : "even");
		snprintf(owner, sizeof(owner), "h%d.l%d", i, i % 7);
		uint8_t a[4] = {10, (uint8_t)(i >> 8), (uint8_t)i, 1};
		assert_int_equal(mns_zb_add_rdata(zb, owner, KNOT_RRTYPE_A, 300, a, 4, &err),
		                 MNS_OK);
	}
	mns_zb_set_producer(zb, "big");
	for (int k = 0; k < N_BIG; k++) {
		int i = reverse ? N_BIG - 1 - k : k;
		uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
		a[14] = (uint8_t)(i >> 8);
		a[15] = (uint8_t)i;
		assert_int_equal(mns_zb_add_rdata(zb, "big", KNOT_RRTYPE_AAAA, 300, a, 16, &err),
		                 MNS_OK);
	}
	char *text = malloc(20001);
	assert_non_null(text);
	memset(text, 'x', 20000);
	text[20000] = '\0';
	assert_int_equal(mns_zb_add_txt(zb, "long", 300, text, &err), MNS_OK);
	free(text);
}

static void test_arena_growth(void **state)
{
	mns_error_t err = {0};
	mns_zone_builder_t *zb = tenant_builder();
	add_many(zb, false);

	/* Duplicates merge, in the big RRset as in the small ones. */
	mns_zb_set_producer(zb, "big");
	uint8_t dup[16] = {0x20, 0x01, 0x0d, 0xb8};
	dup[15] = 7;
	assert_int_equal(mns_zb_add_rdata(zb, "big", KNOT_RRTYPE_AAAA, 300, dup, 16, &err), MNS_OK);
	mns_zb_set_producer(zb, "odd");
	uint8_t a1[4] = {10, 0, 1, 1};
	assert_int_equal(mns_zb_add_rdata(zb, "h1.l1", KNOT_RRTYPE_A, 300, a1, 4, &err), MNS_OK);
	/* A clash still names both producers (copies kept in the arena). */
	mns_zb_set_producer(zb, "late");
	assert_int_equal(mns_zb_add_rdata(zb, "h2.l2", KNOT_RRTYPE_A, 300, a1, 4, &err),
	                 MNS_ECLASH);
	assert_non_null(strstr(err.message, "even"));
	assert_non_null(strstr(err.message, "late"));
	assert_non_null(strstr(err.message, "h2.l2.mgeu.example.com."));
	/* Errors after the arena grew leave the builder as it was. */
	assert_int_equal(mns_zb_add_rdata(zb, "x.other.example.", KNOT_RRTYPE_A, 300, a1, 4, &err),
	                 MNS_EINVAL);
	assert_string_equal(err.code, "out_of_zone");
	assert_int_equal(mns_zb_add_rdata(zb, "x", KNOT_RRTYPE_ANY, 300, a1, 4, &err), MNS_EINVAL);
	assert_int_equal(mns_zb_add_rdata(zb, "x", KNOT_RRTYPE_NS, 300, a1, 4, &err), MNS_EINVAL);
	assert_string_equal(err.code, "invalid_rdata");
	mns_zb_set_producer(zb, NULL);
	assert_string_equal(mns_zb_producer(zb), "core");

	mns_zone_t *z = build_ok(zb);
	/* Apex, N_OWNERS owners, their 7 parents "l<k>", big, long. */
	assert_int_equal(z->n_nodes, 1 + N_OWNERS + 7 + 2);
	const mns_node_t *big = find(z, "big." APEX);
	assert_non_null(big);
	const knot_rrset_t *rr = mns_node_rrset(big, KNOT_RRTYPE_AAAA);
	assert_non_null(rr);
	assert_int_equal(rr->rrs.count, N_BIG);
	/* Canonical RDATA order: ascending, one of each. */
	knot_rdata_t *rd = rr->rrs.rdata;
	for (int i = 0; i < N_BIG; i++, rd = knot_rdataset_next(rd)) {
		assert_int_equal(rd->len, 16);
		assert_int_equal((rd->data[14] << 8) | rd->data[15], i);
	}
	const mns_node_t *lng = find(z, "long." APEX);
	assert_non_null(lng);
	rr = mns_node_rrset(lng, KNOT_RRTYPE_TXT);
	assert_non_null(rr);
	assert_int_equal(rr->rrs.rdata->len, 20000 + (20000 + 254) / 255);
	for (int i = 0; i < N_OWNERS; i += 97) {
		char name[64];
		snprintf(name, sizeof(name), "h%d.l%d." APEX, i, i % 7);
		const mns_node_t *n = find(z, name);
		assert_non_null(n);
		assert_true(owner_is(n, name));
		rr = mns_node_rrset(n, KNOT_RRTYPE_A);
		assert_non_null(rr);
		assert_int_equal(rr->rrs.count, 1);
		assert_int_equal(rr->rrs.rdata->data[2], (uint8_t)i);
	}
	/* Empty non-terminals between the owners and the apex. */
	const mns_node_t *ent = find(z, "l3." APEX);
	assert_non_null(ent);
	assert_int_equal(ent->n_rrsets, 0);
	mns_zone_free(z);
}

/* Zone contents do not depend on the order records were added in. */
static void test_arena_order(void **state)
{
	mns_zone_builder_t *fw = tenant_builder(), *bw = tenant_builder();
	add_many(fw, false);
	add_many(bw, true);
	mns_zone_t *z1 = build_ok(fw), *z2 = build_ok(bw);
	char *t1 = NULL, *t2 = NULL;
	assert_int_equal(mns_zone_dump(z1, NULL, &t1), MNS_OK);
	assert_int_equal(mns_zone_dump(z2, NULL, &t2), MNS_OK);
	assert_string_equal(t1, t2);
	assert_int_equal(z1->n_nodes, z2->n_nodes);
	for (size_t i = 0; i < z1->n_nodes; i++) {
		assert_true(knot_dname_is_equal(z1->nodes[i].owner, z2->nodes[i].owner));
		assert_int_equal(z1->nodes[i].flags, z2->nodes[i].flags);
		assert_int_equal(z1->nodes[i].n_rrsets, z2->nodes[i].n_rrsets);
		if (i > 0) /* Canonical order, as knot_dname_cmp() sorts. */
			assert_true(knot_dname_cmp(z1->nodes[i - 1].owner, z1->nodes[i].owner) < 0);
	}
	free(t1);
	free(t2);
	mns_zone_free(z1);
	mns_zone_free(z2);
}

/* Builders abandoned at each stage free everything they took (ASan). */
static void test_arena_error_paths(void **state)
{
	mns_error_t err = {0};
	/* Bad names: nothing to free. */
	assert_null(mns_zb_new("", APEX, MNS_ZONE_TENANT));
	assert_null(mns_zb_new(APEX, "other.example", MNS_ZONE_TENANT));
	assert_null(mns_zb_new(NULL, NULL, MNS_ZONE_TENANT));
	/* Freed without a build, after growing. */
	mns_zone_builder_t *zb = tenant_builder();
	add_many(zb, false);
	mns_zb_free(zb);
	/* A build that fails after growing (CNAME beside other data). */
	zb = tenant_builder();
	add_many(zb, true);
	mns_zb_set_producer(zb, "cname");
	assert_int_equal(mns_zb_add_cname(zb, "big", 300, "target.example", &err), MNS_OK);
	mns_zone_t *z = NULL;
	assert_int_equal(mns_zb_build(zb, &z, &err), MNS_EINVAL);
	assert_null(z);
	assert_string_equal(err.code, "cname_conflict");
	assert_non_null(strstr(err.message, "cname"));
	assert_non_null(strstr(err.message, "big"));
	mns_zb_free(zb);
	/* A subtree with no records at all. */
	zb = mns_zb_new("acme." APEX, NULL, MNS_ZONE_SUBTREE);
	assert_non_null(zb);
	mns_zb_set_tenant(zb, "acme");
	z = build_ok(zb);
	assert_int_equal(z->n_nodes, 1);
	assert_string_equal(z->tenant, "acme");
	assert_null(z->soa);
	mns_zone_free(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_owner_rules),      cmocka_unit_test(test_base_below_apex),
	    cmocka_unit_test(test_txt_split),        cmocka_unit_test(test_clash_and_merge),
	    cmocka_unit_test(test_cname_conflict),   cmocka_unit_test(test_ents_and_order),
	    cmocka_unit_test(test_soa_rules),        cmocka_unit_test(test_rdata_checks),
	    cmocka_unit_test(test_delegation_flags), cmocka_unit_test(test_dump),
	    cmocka_unit_test(test_answer_hints),     cmocka_unit_test(test_arena_growth),
	    cmocka_unit_test(test_arena_order),      cmocka_unit_test(test_arena_error_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
