/*  Zones shared by the answering unit tests (test_answer, test_fastpath): a
 *  TENANT zone, the HOSTED zone, a SUBTREE below it and a STATIC zone with a
 *  CNAME chain and delegations. The tenant and static zones come as open
 *  builders holding the records every test relies on, so that each test adds
 *  the records only it asks about before dz_build().
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_DNSZONES_H
#define MNS_DNSZONES_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns/dns.h"

/** \brief The answering configuration of the tests. */
static mns_dns_conf_t dz_conf = {
    .identity = "ns1.test",
    .version = "mailns-test 1.0",
    .udp_max_payload = 1232,
};
/** \brief A DKIM-sized TXT (several strings on the wire) and one too large
 *  for a UDP answer; filled by dz_index_new(). */
static char dz_text600[601];
static char dz_text2000[2001];

/** \brief Fills dz_text600 and dz_text2000 (before the tenant zone is built). */
static inline void dz_texts_init(void)
{
	for (size_t i = 0; i < 600; i++)
		dz_text600[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < 2000; i++)
		dz_text2000[i] = (char)('A' + i % 26);
}

/** \brief Starts a test group's index: fills the texts and registers the
 *  thread with RCU (the index reads under it). \return the empty index;
 *  dz_index_free() it. */
static inline mns_index_t *dz_index_new(void)
{
	dz_texts_init();
	mns_rcu_register();
	mns_index_t *idx = mns_index_new();
	assert_non_null(idx);
	return idx;
}

/** \brief Frees \a idx and unregisters the thread from RCU. */
static inline void dz_index_free(mns_index_t *idx)
{
	mns_index_free(idx);
	mns_rcu_unregister();
}

/** \brief Fails the test with \a err unless \a ret is MNS_OK. */
static inline void dz_ok(int ret, const mns_error_t *err)
{
	if (ret != MNS_OK)
		fail_msg("%s: %s", err->code, err->message);
}

/** \brief Builds and frees \a zb. \return the zone (the test fails otherwise). */
static inline mns_zone_t *dz_build(mns_zone_builder_t *zb)
{
	mns_error_t err = {0};
	mns_zone_t *z = NULL;
	dz_ok(mns_zb_build(zb, &z, &err), &err);
	mns_zb_free(zb);
	return z;
}

/** \brief Adds 192.0.2.\a last at \a owner, TTL 3600. */
static inline void dz_add_a(mns_zone_builder_t *zb, const char *owner, uint8_t last)
{
	mns_error_t err;
	const uint8_t a[4] = {192, 0, 2, last};
	dz_ok(mns_zb_add_rdata(zb, owner, KNOT_RRTYPE_A, 3600, a, 4, &err), &err);
}

/** \brief Adds a DS (key tag 12345) at \a owner, TTL 3600. */
static inline void dz_add_ds(mns_zone_builder_t *zb, const char *owner)
{
	mns_error_t err;
	uint8_t ds[4 + 32];
	knot_wire_write_u16(ds, 12345);
	ds[2] = 13; /* ECDSAP256SHA256 */
	ds[3] = 2;  /* SHA-256 */
	memset(ds + 4, 0xab, 32);
	dz_ok(mns_zb_add_rdata(zb, owner, KNOT_RRTYPE_DS, 3600, ds, sizeof(ds), &err), &err);
}

/** \brief The ns-mode tenant mgeu.example.com as the plugins publish it: SOA
 *  (serial 2024010101, negative TTL 300), two NS, MX, SPF TXT, a 600-octet
 *  DKIM TXT at s1._domainkey, a 2000-octet TXT at "big" and DMARC TXT.
 *  \return the open builder; what is added next is the core's. */
static inline mns_zone_builder_t *dz_tenant_begin(void)
{
	mns_error_t err;
	mns_zone_builder_t *zb =
	    mns_zb_new("mgeu.example.com", "mgeu.example.com", MNS_ZONE_TENANT);
	mns_zb_set_producer(zb, "core");
	dz_ok(mns_zb_add_soa(zb, 3600, "ns1.vendor.example", "hostmaster.vendor.example",
	                     2024010101, 7200, 3600, 1209600, 300, &err),
	      &err);
	dz_ok(mns_zb_add_ns(zb, "@", 3600, "ns1.vendor.example", &err), &err);
	dz_ok(mns_zb_add_ns(zb, "@", 3600, "ns2.vendor.example", &err), &err);
	mns_zb_set_producer(zb, "mx");
	dz_ok(mns_zb_add_mx(zb, "@", 3600, 10, "bounce.vendor.example", &err), &err);
	mns_zb_set_producer(zb, "spf");
	dz_ok(mns_zb_add_txt(zb, "@", 3600, "v=spf1 include:_spf.vendor.example ~all", &err), &err);
	mns_zb_set_producer(zb, "dkim");
	dz_ok(mns_zb_add_txt(zb, "s1._domainkey", 3600, dz_text600, &err), &err);
	dz_ok(mns_zb_add_txt(zb, "big", 3600, dz_text2000, &err), &err);
	mns_zb_set_producer(zb, "dmarc");
	dz_ok(mns_zb_add_txt(zb, "_dmarc", 3600, "v=DMARC1; p=none", &err), &err);
	mns_zb_set_producer(zb, NULL);
	return zb;
}

/** \brief The HOSTED zone mailns.vendor.example: SOA (negative TTL 600), one NS. */
static inline mns_zone_t *dz_hosted_zone(void)
{
	mns_error_t err;
	mns_zone_builder_t *zb =
	    mns_zb_new("mailns.vendor.example", "mailns.vendor.example", MNS_ZONE_HOSTED);
	dz_ok(mns_zb_add_soa(zb, 3600, "ns1.vendor.example", "hostmaster.vendor.example", 77, 7200,
	                     3600, 1209600, 600, &err),
	      &err);
	dz_ok(mns_zb_add_ns(zb, "@", 3600, "ns1.vendor.example", &err), &err);
	return dz_build(zb);
}

/** \brief A SUBTREE of tenant "acme" at \a apex (below the hosted zone): a
 *  DKIM TXT at s1._domainkey, and MX and SPF TXT at "bounce". */
static inline mns_zone_t *dz_subtree_zone(const char *apex)
{
	mns_error_t err;
	mns_zone_builder_t *zb = mns_zb_new(apex, apex, MNS_ZONE_SUBTREE);
	mns_zb_set_tenant(zb, "acme");
	dz_ok(mns_zb_add_txt(zb, "s1._domainkey", 3600, "v=DKIM1; k=rsa; p=MIIB", &err), &err);
	dz_ok(mns_zb_add_mx(zb, "bounce", 3600, 10, "bounce.vendor.example", &err), &err);
	dz_ok(mns_zb_add_txt(zb, "bounce", 3600, "v=spf1 -all", &err), &err);
	return dz_build(zb);
}

/** \brief The STATIC zone vendor.example: SOA (negative TTL 120), NS ns1/ns2
 *  with their A, the CNAME chain www → web → host (A .10), an MX at "mail"
 *  to host, x.y (so y is an empty non-terminal), the delegation "sub" with
 *  glue and a DS, and the hosted zone delegated at "mailns" with a DS.
 *  \return the open builder. */
static inline mns_zone_builder_t *dz_static_begin(void)
{
	mns_error_t err;
	mns_zone_builder_t *zb = mns_zb_new("vendor.example", "vendor.example", MNS_ZONE_STATIC);
	dz_ok(mns_zb_add_soa(zb, 7200, "ns1.vendor.example", "hostmaster.vendor.example", 5, 7200,
	                     3600, 1209600, 120, &err),
	      &err);
	dz_ok(mns_zb_add_ns(zb, "@", 7200, "ns1.vendor.example", &err), &err);
	dz_ok(mns_zb_add_ns(zb, "@", 7200, "ns2.vendor.example", &err), &err);
	dz_add_a(zb, "ns1", 1);
	dz_add_a(zb, "ns2", 2);
	dz_ok(mns_zb_add_cname(zb, "www", 300, "web.vendor.example", &err), &err);
	dz_ok(mns_zb_add_cname(zb, "web", 300, "host.vendor.example", &err), &err);
	dz_add_a(zb, "host", 10);
	dz_ok(mns_zb_add_mx(zb, "mail", 300, 10, "host.vendor.example", &err), &err);
	dz_add_a(zb, "x.y", 20);
	dz_ok(mns_zb_add_ns(zb, "sub", 3600, "ns.sub.vendor.example", &err), &err);
	dz_add_a(zb, "ns.sub", 53);
	dz_add_ds(zb, "sub");
	dz_ok(mns_zb_add_ns(zb, "mailns", 3600, "ns1.vendor.example", &err), &err);
	dz_add_ds(zb, "mailns");
	return zb;
}

#endif
