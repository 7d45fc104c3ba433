/*  The query path: every input is one DNS message, offered as the net layer
 *  does (transfers and TSIG first, mns_xfr_udp/tcp, then mns_dns_process),
 *  once as UDP and once as TCP, against a server with a realistic index:
 *  tenants in ns and cname mode with every plugin's records, a static zone
 *  with delegations, glue, DS, a CNAME chain, MX and SRV, the hosted zone and
 *  the catalog zone. Any input gets one well-formed response (same ID, within
 *  the size limit) or none; the sanitizers catch the rest.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <netinet/in.h>

#include "fuzz.h"
#include "control/control.h"
#include "xfr/xfr.h"

static mns_server_t g_s;
static uv_loop_t g_loop;
static uint8_t g_resp[KNOT_WIRE_MAX_PKTSIZE];

static const char g_zone[] =
    "$TTL 3600\n"
    "vendor.example. SOA ns1.vendor.example. hostmaster.vendor.example. 7 3600 600 86400 60\n"
    "vendor.example. NS ns1.vendor.example.\n"
    "vendor.example. NS ns2.vendor.example.\n"
    "vendor.example. MX 10 mx.vendor.example.\n"
    "vendor.example. TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
    "ns1.vendor.example. A 192.0.2.53\n"
    "ns1.vendor.example. AAAA 2001:db8::53\n"
    "ns2.vendor.example. A 192.0.2.54\n"
    "mx.vendor.example. A 192.0.2.25\n"
    "www.vendor.example. CNAME web.vendor.example.\n"
    "web.vendor.example. CNAME host.vendor.example.\n"
    "host.vendor.example. A 192.0.2.80\n"
    "loop1.vendor.example. CNAME loop2.vendor.example.\n"
    "loop2.vendor.example. CNAME loop1.vendor.example.\n"
    "ext.vendor.example. CNAME www.example.net.\n"
    "tosub.vendor.example. CNAME host.sub.vendor.example.\n"
    "_sip._tcp.vendor.example. SRV 0 5 5060 host.vendor.example.\n"
    "x.y.vendor.example. A 192.0.2.20\n"
    "sub.vendor.example. NS ns.sub.vendor.example.\n"
    "sub.vendor.example. NS ns.example.net.\n"
    "sub.vendor.example. DS 12345 13 2 "
    "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB\n"
    "ns.sub.vendor.example. A 192.0.2.153\n"
    "ns.sub.vendor.example. AAAA 2001:db8::153\n"
    "nods.vendor.example. NS ns.example.net.\n"
    "mailns.vendor.example. NS ns1.vendor.example.\n"
    "mailns.vendor.example. NS ns2.vendor.example.\n";

static const char *const g_tenants[] = {
    "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"acme\",\"domain\":\"example.com\"}}",
    "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"beta\",\"domain\":\"cn.example.com\","
    "\"mode\":\"cname\"}}",
    "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"ceta\",\"domain\":\"example.net\","
    "\"subdomain\":\"\",\"dmarc\":{\"p\":\"reject\"}}}",
    "{\"cmd\":\"tenant.add\",\"args\":{\"tenant\":\"delta\",\"domain\":\"xn--bcher-kva.example\","
    "\"mode\":\"cname\",\"dkim\":{\"ed25519\":true}}}",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = mns_fuzz_dir();
	char conf[2048], path[256];
	mkdir(strcat(strcpy(path, dir), "/zones"), 0700);
	char zdir[256];
	snprintf(zdir, sizeof(zdir), "%s/zones", dir);
	mns_fuzz_write(zdir, "vendor.example.zone", g_zone, strlen(g_zone), path, sizeof(path));
	snprintf(conf, sizeof(conf),
	         "[server]\nplugin-dir = %s\nplugins = dkim spf mx dmarc verify\n"
	         "data = %s/data\nzones = %s/zones\ncontrol = %s/control.sock\n"
	         "identity = ns1.vendor.example\nversion = mailns fuzz\nlog-level = error\n"
	         "[plugin.dkim]\nrsa-bits = 1024\nkey-pool = 0\n"
	         "[plugin.verify]\nresolvers = 127.0.0.1@9\n"
	         "[xfr]\nallow = 127.0.0.1/32 127.0.0.2/32:xfr-key\n"
	         "key = xfr-key:hmac-sha256:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n"
	         "catalog = catalog.invalid\n",
	         MNS_FUZZ_PLUGIN_DIR, dir, dir, dir);
	mns_rcu_register();
	mns_fuzz_server(&g_s, &g_loop, dir, conf);
	for (size_t i = 0; i < MNS_ARRAY_SIZE(g_tenants); i++) {
		json_t *r = mns_control_handle_line(&g_s, g_tenants[i], strlen(g_tenants[i]), NULL);
		MNS_FUZZ_CHECK(json_is_true(json_object_get(r, "ok")), "setup: %s",
		               json_dumps(r, 0));
		json_decref(r);
	}
	return 0;
}

/* The client's limit: 512 without EDNS, else its size within [512, ours]. */
static size_t udp_limit(const uint8_t *q, size_t qlen)
{
	uint8_t copy[KNOT_WIRE_MAX_PKTSIZE];
	memcpy(copy, q, qlen);
	knot_pkt_t *p = knot_pkt_new(copy, qlen, NULL);
	size_t limit = 512;
	if (p == NULL)
		return limit;
	(void)knot_pkt_parse(p, 0);
	if (p->opt_rr != NULL) {
		limit = knot_edns_get_payload(p->opt_rr);
		if (limit < 512)
			limit = 512;
		if (limit > g_s.dns_conf.udp_max_payload)
			limit = g_s.dns_conf.udp_max_payload;
	}
	knot_pkt_free(p);
	return limit;
}

/* Octets of the query's question as libknot parses it (0: none). */
static size_t question_size(const uint8_t *q, size_t qlen)
{
	uint8_t *copy = malloc(qlen);
	memcpy(copy, q, qlen);
	knot_pkt_t *p = knot_pkt_new(copy, qlen, NULL);
	size_t n = 0;
	if (p != NULL && knot_pkt_parse_question(p) == KNOT_EOK && p->qname_size > 0)
		n = p->qname_size + 2 * sizeof(uint16_t);
	knot_pkt_free(p);
	free(copy);
	return n;
}

/* One response: parses, is a response to this query, fits. */
static void check_response(const uint8_t *q, size_t qlen, const uint8_t *r, size_t rlen,
                           size_t limit)
{
	MNS_FUZZ_CHECK(rlen >= KNOT_WIRE_HEADER_SIZE && rlen <= limit, "length %zu, limit %zu",
	               rlen, limit);
	MNS_FUZZ_CHECK(knot_wire_get_id(r) == knot_wire_get_id(q), "ID %u for %u",
	               knot_wire_get_id(r), knot_wire_get_id(q));
	MNS_FUZZ_CHECK(knot_wire_get_qr(r), "QR=0 in a response");
	uint8_t *copy = malloc(rlen);
	memcpy(copy, r, rlen);
	knot_pkt_t *p = knot_pkt_new(copy, rlen, NULL);
	MNS_FUZZ_CHECK(p != NULL, "knot_pkt_new");
	int ret = knot_pkt_parse(p, 0);
	MNS_FUZZ_CHECK(ret == KNOT_EOK, "response does not parse: %s", knot_strerror(ret));
	knot_pkt_free(p);
	free(copy);
	/* A question in the response is the query's, octet for octet. */
	if (knot_wire_get_qdcount(r) == 1) {
		size_t qsize = question_size(q, qlen);
		MNS_FUZZ_CHECK(qsize > 0 && rlen >= KNOT_WIRE_HEADER_SIZE + qsize &&
		                   memcmp(r + KNOT_WIRE_HEADER_SIZE, q + KNOT_WIRE_HEADER_SIZE,
		                          qsize) == 0,
		               "question not echoed");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > KNOT_WIRE_MAX_PKTSIZE)
		return -1; /* not one message: TCP frames and UDP datagrams stop at 65535 */
	struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons(5353)};
	from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	const struct sockaddr *sa = (const struct sockaddr *)&from;

	/* UDP. */
	size_t n = 0;
	if (!mns_xfr_udp(&g_s, sa, data, size, g_resp, sizeof(g_resp), &n))
		n = mns_dns_process(&g_s.dns, data, size, g_resp, sizeof(g_resp),
		                    MNS_TRANSPORT_UDP);
	if (n > 0)
		check_response(data, size, g_resp, n, udp_limit(data, size));

	/* TCP: the transfer path may answer with several framed messages. */
	uint8_t *xo = NULL;
	size_t xl = 0;
	if (mns_xfr_tcp(&g_s, sa, data, size, &xo, &xl)) {
		size_t off = 0;
		while (xo != NULL && off < xl) {
			MNS_FUZZ_CHECK(xl - off >= 2, "truncated frame");
			size_t mlen = (size_t)xo[off] << 8 | xo[off + 1];
			MNS_FUZZ_CHECK(mlen > 0 && off + 2 + mlen <= xl, "frame of %zu at %zu/%zu",
			               mlen, off, xl);
			check_response(data, size, xo + off + 2, mlen, KNOT_WIRE_MAX_PKTSIZE);
			off += 2 + mlen;
		}
		free(xo);
	} else {
		n = mns_dns_process(&g_s.dns, data, size, g_resp, sizeof(g_resp),
		                    MNS_TRANSPORT_TCP);
		if (n > 0)
			check_response(data, size, g_resp, n, KNOT_WIRE_MAX_PKTSIZE);
	}
	return 0;
}
