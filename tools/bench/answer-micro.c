/*  answer-micro: the answering function alone, without sockets.
 *
 *  Builds N tenant-like zones (SOA, 2 NS, MX, SPF TXT, DMARC TXT, a DKIM TXT
 *  the size of an RSA-2048 key), publishes them, and answers a fixed query
 *  mix (DKIM TXT 40 %, SPF TXT 20 %, MX 15 %, DMARC TXT 15 %, SOA 5 %,
 *  NXDOMAIN 5 %; EDNS 1232, UDP) through mns_dns_process with the
 *  fast path on and off, alternating rounds; prints CPU ns/query
 *  for both (the best round of each) and the heap bytes one zone takes
 *  (mallinfo2 deltas over the N builds).
 *
 *  Built only on request: cmake --build build --target answer-micro
 *  Usage: build/tools/bench/answer-micro [zones [queries [rounds]]]
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns/dns.h"

static void die(const char *what, const mns_error_t *err)
{
	fprintf(stderr, "answer-micro: %s: %s\n", what, err != NULL ? err->message : "failed");
	exit(1);
}

static void ok(int ret, const mns_error_t *err)
{
	if (ret != MNS_OK)
		die("zone", err);
}

/* A tenant zone as the plugins publish it. */
static mns_zone_t *tenant_zone(unsigned i, const char *dkim)
{
	char apex[64];
	mns_error_t err = {0};
	snprintf(apex, sizeof(apex), "mgeu.d%u.bench.example", i);
	mns_zone_builder_t *zb = mns_zb_new(apex, apex, MNS_ZONE_TENANT);
	if (zb == NULL)
		die("builder", NULL);
	mns_zb_set_tenant(zb, "t");
	ok(mns_zb_add_soa(zb, 3600, "ns1.vendor.example", "hostmaster.vendor.example", 1, 7200,
	                  3600, 1209600, 300, &err),
	   &err);
	ok(mns_zb_add_ns(zb, "@", 3600, "ns1.vendor.example", &err), &err);
	ok(mns_zb_add_ns(zb, "@", 3600, "ns2.vendor.example", &err), &err);
	mns_zb_set_producer(zb, "mx");
	ok(mns_zb_add_mx(zb, "@", 3600, 10, "feedback.vendor.example", &err), &err);
	mns_zb_set_producer(zb, "spf");
	ok(mns_zb_add_txt(zb, "@", 3600, "v=spf1 include:_spf.vendor.example ~all", &err), &err);
	mns_zb_set_producer(zb, "dkim");
	ok(mns_zb_add_txt(zb, "s1._domainkey", 3600, dkim, &err), &err);
	mns_zb_set_producer(zb, "dmarc");
	ok(mns_zb_add_txt(zb, "_dmarc", 3600, "v=DMARC1; p=none; rua=mailto:dmarc@vendor.example",
	                  &err),
	   &err);
	mns_zone_t *z = NULL;
	ok(mns_zb_build(zb, &z, &err), &err);
	mns_zb_free(zb);
	return z;
}

typedef struct query {
	uint8_t wire[300];
	uint16_t len;
} query_t;

static void make_query(query_t *q, const char *name, uint16_t type, uint16_t id)
{
	knot_dname_storage_t qname;
	if (knot_dname_from_str(qname, name, sizeof(qname)) == NULL)
		die(name, NULL);
	size_t n = knot_dname_size(qname);
	uint8_t *p = q->wire;
	memset(p, 0, KNOT_WIRE_HEADER_SIZE);
	knot_wire_set_id(p, id);
	knot_wire_set_qdcount(p, 1);
	knot_wire_set_arcount(p, 1);
	p += KNOT_WIRE_HEADER_SIZE;
	memcpy(p, qname, n);
	p += n;
	knot_wire_write_u16(p, type);
	knot_wire_write_u16(p + 2, KNOT_CLASS_IN);
	p += 4;
	/* OPT: root, 1232, version 0, no flags, no options. */
	const uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
	memcpy(p, opt, sizeof(opt));
	p += sizeof(opt);
	q->len = (uint16_t)(p - q->wire);
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One pass over the queries. \return ns per query; *octets sums the answers. */
static double run(mns_dns_ctx_t *ctx, const query_t *qs, size_t n, uint64_t *octets)
{
	static uint8_t resp[65535];
	uint64_t sum = 0;
	double t0 = now_ns();
	for (size_t i = 0; i < n; i++)
		sum += mns_dns_process(ctx, qs[i].wire, qs[i].len, resp, sizeof(resp),
		                       MNS_TRANSPORT_UDP);
	double t1 = now_ns();
	*octets = sum;
	return (t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
	unsigned n_zones = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 10000;
	size_t n_queries = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	unsigned rounds = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 5;
	if (n_zones == 0 || n_queries == 0 || rounds == 0 || n_zones > 10000000)
		die("usage: answer-micro [zones [queries [rounds]]]", NULL);

	/* "v=DKIM1; k=rsa; p=" and the base64 of an RSA-2048 public key (392). */
	char dkim[18 + 392 + 1] = "v=DKIM1; k=rsa; p=";
	for (size_t i = 18; i < 18 + 392; i++)
		dkim[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7) % 64];
	dkim[18 + 392] = '\0';

	/* Heap per zone: N builds held, not yet published. */
	mns_zone_t **zones = malloc(n_zones * sizeof(*zones));
	if (zones == NULL)
		die("malloc", NULL);
	struct mallinfo2 m0 = mallinfo2();
	for (unsigned i = 0; i < n_zones; i++)
		zones[i] = tenant_zone(i, dkim);
	struct mallinfo2 m1 = mallinfo2();
	printf("zones: %u, heap per zone: %.0f octets\n", n_zones,
	       (double)(m1.uordblks - m0.uordblks) / n_zones);

	mns_rcu_register();
	mns_index_t *idx = mns_index_new();
	if (idx == NULL)
		die("index", NULL);
	for (unsigned i = 0; i < n_zones; i++)
		if (mns_index_publish(idx, zones[i]) != MNS_OK)
			die("publish", NULL);
	free(zones);

	/* The mix, in a fixed pseudo-random order over random tenants. */
	query_t *qs = malloc(n_queries * sizeof(*qs));
	if (qs == NULL)
		die("malloc", NULL);
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < n_queries; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		unsigned t = (unsigned)(x % n_zones), pick = (unsigned)((x >> 32) % 100);
		char name[128];
		uint16_t type = KNOT_RRTYPE_TXT;
		if (pick < 40) {
			snprintf(name, sizeof(name), "s1._domainkey.mgeu.d%u.bench.example", t);
		} else if (pick < 60) {
			snprintf(name, sizeof(name), "mgeu.d%u.bench.example", t);
		} else if (pick < 75) {
			snprintf(name, sizeof(name), "mgeu.d%u.bench.example", t);
			type = KNOT_RRTYPE_MX;
		} else if (pick < 90) {
			snprintf(name, sizeof(name), "_dmarc.mgeu.d%u.bench.example", t);
		} else if (pick < 95) {
			snprintf(name, sizeof(name), "mgeu.d%u.bench.example", t);
			type = KNOT_RRTYPE_SOA;
		} else {
			snprintf(name, sizeof(name), "s%u._domainkey.mgeu.d%u.bench.example",
			         (unsigned)(x >> 40) % 1000 + 2, t);
		}
		make_query(&qs[i], name, type, (uint16_t)i);
	}

	mns_dns_conf_t conf = {.udp_max_payload = 1232};
	mns_dns_ctx_t fast = {.index = idx, .conf = &conf};
	mns_dns_ctx_t slow = {.index = idx, .conf = &conf, .no_fast_path = true};
	if (mns_arena_init(&fast.arena, MNS_DNS_ARENA_SIZE) != 0 ||
	    mns_arena_init(&slow.arena, MNS_DNS_ARENA_SIZE) != 0)
		die("arena", NULL);
	double best_fast = 1e18, best_slow = 1e18;
	uint64_t of = 0, os = 0;
	for (unsigned r = 0; r < rounds; r++) {
		double s = run(&slow, qs, n_queries, &os);
		double f = run(&fast, qs, n_queries, &of);
		best_slow = s < best_slow ? s : best_slow;
		best_fast = f < best_fast ? f : best_fast;
	}
	printf("queries: %zu x %u rounds (DKIM 40%%, SPF 20%%, MX 15%%, DMARC 15%%, SOA 5%%, "
	       "NXDOMAIN 5%%)\n",
	       n_queries, rounds);
	printf("fast path on:  %.1f ns/query (%.0f octets/answer, %.1f%% by the fast path)\n",
	       best_fast, (double)of / (double)n_queries,
	       100.0 * (double)fast.fast_answers / ((double)n_queries * rounds));
	printf("fast path off: %.1f ns/query (%.0f octets/answer)\n", best_slow,
	       (double)os / (double)n_queries);
	printf("speed-up: %.2fx\n", best_slow / best_fast);

	mns_arena_deinit(&fast.arena);
	mns_arena_deinit(&slow.arena);
	free(qs);
	mns_index_free(idx);
	mns_rcu_unregister();
	return 0;
}
