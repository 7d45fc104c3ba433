/*  Answering one DNS message from the zone index.
 *
 *  Everything here runs on a worker thread per query: no locks (one RCU read
 *  section around lookup and answer), no malloc (libknot allocates from the
 *  context's arena, reset at the start of each message).
 *
 *  Two paths give the same answers. The fast path (fast_answer) takes the
 *  common query — QUERY, one question of class IN and a type that is not a
 *  meta, DNSSEC or DS type, no answer or authority records, at most one OPT
 *  (root owner, version 0, well-formed options, nothing after it) — and,
 *  when the answer is one RRset without additional-section addresses, or
 *  NODATA/NXDOMAIN with the SOA, and not a CNAME or a referral, and it fits
 *  the client's limit, copies header and question, then each RR as a
 *  12-octet header (the owner a pointer into the question, which keeps the
 *  client's case) and the RDATA the zone holds in wire format, without
 *  parsing anything with libknot.
 *  Everything else goes through the general path below (knot_pkt_parse,
 *  knot_pkt_put). The responses parse to the same header, sections, RRs
 *  and OPT; only the octets differ where libknot compresses names inside
 *  RDATA (NS, MX, SOA) and the fast path does not (a pointer into the
 *  question also gives such a name the client's case; the fast path writes
 *  it lowercase, as stored)
 *  (tests/unit/dns/test_fastpath.c compares the two over every case).
 *
 *  Choices not spelled out by the RFCs, or where servers differ (the table in
 *  tests/unit/dns/test_malformed.c pins each one down):
 *  - QR=1 or fewer than 12 octets: dropped (no answer at all).
 *  - Opcode other than QUERY (NOTIFY and UPDATE included): NOTIMP, checked
 *    before the parse result, with whatever question could be parsed. We are
 *    never a secondary, so an incoming NOTIFY has nothing to act on (Knot
 *    says NOTAUTH, from its ACL); UPDATE is not implemented (RFC 2136 2.2).
 *  - Parse failure (truncated, compression loops or forward pointers, labels
 *    over 63 or names over 255 octets, counts beyond the data, trailing
 *    octets, two OPTs or an OPT outside the additional section or with an
 *    owner other than the root, RFC 6891 6.1.1-6.1.2) or QDCOUNT != 1:
 *    FORMERR, with the question when it parsed, and our OPT when the first
 *    OPT was a valid one (RFC 6891 asks only for FORMERR; the OPT tells the
 *    client we speak EDNS; Knot leaves it out) but none for a non-root OPT.
 *  - QDCOUNT 0 with only a COOKIE option (RFC 7873 5.4): we implement no
 *    server cookies, so the option is ignored (RFC 7873 5.2) and the query is
 *    one without a question: FORMERR, with our OPT (it parsed), as Knot.
 *  - EDNS version other than 0: BADVERS with an OPT of version 0 (RFC 6891
 *    6.1.3). EDNS payload below 512 counts as 512 (RFC 6891 6.2.5).
 *  - A TSIG-signed query: NOTAUTH with an unsigned TSIG carrying BADKEY
 *    (RFC 8945 5.2.2), since no keys are configured yet.
 *  - Header bits: RD and CD are copied (RFC 1035 4.1.1, RFC 4035 3.1.6); TC,
 *    AD and Z in a query are ignored and clear in the response (we never
 *    validate, so AD stays 0, RFC 6840 5.7).
 *  - Meta QTYPEs (RFC 6895 3.1): OPT and TSIG are pseudo-RRs that live only
 *    in the additional section, so a question asking for them is malformed:
 *    FORMERR (as BIND does). TKEY, MAILA and MAILB are real query types we do
 *    not implement: NOTIMP (Knot answers NODATA; NOTIMP tells a TKEY client
 *    plainly that no key negotiation happens here). AXFR over UDP: FORMERR
 *    (RFC 5936 4.2 defines none; the transfer layer answers the same). AXFR
 *    over TCP and IXFR: REFUSED when the transfer layer declined them.
 *    ANY: a minimal answer (RFC 8482). Unknown types: NODATA or an answer.
 *  - QCLASS IN, and ANY (RFC 1035 3.2.5: every class; all our data is IN,
 *    as Knot answers it): from the zones. CH: TXT for id.server./hostname.bind.
 *    and version.bind./version.server. only, everything else (other names,
 *    other types, a NULL setting) REFUSED. NONE (meaningful only inside
 *    UPDATE, RFC 2136) and every other class: REFUSED, as Knot and NSD.
 *  - DS at a delegation point is answered from the parent side: the DS
 *    RRset when the zone holds one, otherwise NODATA with the SOA. DS at the
 *    apex of one of our zones is answered from the parent zone when we serve
 *    that parent and it delegates the name; otherwise from the zone itself.
 *  - Additional section: A/AAAA of in-zone NS/MX/SRV targets for positive
 *    answers (never truncating); in-zone glue for referrals, where glue
 *    below the cut that does not fit sets TC (RFC 9471) and other glue is
 *    left out silently.
 *  - No wildcard synthesis: our zones have none, and a '*' label in a static
 *    zone is served as a literal name.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "dns/dns.h"
#include "util/util.h"

/** Longest CNAME chain followed inside one zone. */
#define CNAME_CHAIN_MAX 8

enum {
	RRTYPE_MAILB = 253,
	RRTYPE_MAILA = 254,
	UDP_MIN_PAYLOAD = 512,
	TSIG_FUDGE = 300,
};

/** State of one query. */
typedef struct qctx {
	mns_dns_ctx_t *ctx;
	knot_mm_t mm;
	knot_pkt_t *q, *r;
	const knot_dname_t *qname; /**< Lowercase (libknot's copy). */
	uint16_t qtype;
	size_t limit; /**< Largest response for this transport and client. */
	bool tcp;
	bool edns;    /**< The query had an OPT: so does the response. */
	knot_rrset_t opt;
	uint16_t opt_size;
	bool tsig_badkey; /**< Append a BADKEY TSIG to the response. */
	mns_stats_zone_t zone; /**< What answered (counters). */
	const mns_zone_t *zone_hint; /**< The zone the fast path found for this
	                                  question before it declined, or NULL. */
	int rcode; /**< Final RCODE, -1 before finish() (counters). */
} qctx_t;

/* A response of just the header (when the arena or the buffer is too small). */
static size_t header_only(const uint8_t *query, uint8_t *resp, size_t resp_max, uint8_t rcode)
{
	if (resp_max < KNOT_WIRE_HEADER_SIZE)
		return 0;
	memcpy(resp, query, KNOT_WIRE_HEADER_SIZE);
	knot_wire_set_qr(resp);
	knot_wire_clear_aa(resp);
	knot_wire_clear_tc(resp);
	knot_wire_clear_ra(resp);
	knot_wire_clear_ad(resp);
	knot_wire_clear_z(resp);
	knot_wire_set_qdcount(resp, 0);
	knot_wire_set_ancount(resp, 0);
	knot_wire_set_nscount(resp, 0);
	knot_wire_set_arcount(resp, 0);
	knot_wire_set_rcode(resp, rcode);
	return KNOT_WIRE_HEADER_SIZE;
}

/* (Re)starts the response: header and question copied from the query, size
 * limit set, room kept for the OPT. */
static int reset_response(qctx_t *c)
{
	knot_pkt_t *r = c->r;
	if (knot_pkt_init_response(r, c->q) != KNOT_EOK)
		return -1;
	/* The header came from the query: QDCOUNT may be 0 or 2 there. */
	knot_wire_set_qdcount(r->wire, r->qname_size > 0 ? 1 : 0);
	if (r->size > c->limit)
		return -1;
	r->max_size = c->limit;
	if (c->edns && knot_pkt_reserve(r, c->opt_size) != KNOT_EOK)
		return -1;
	return 0;
}

/* Puts an RRset. \return KNOT_EOK, KNOT_ESPACE (did not fit: TC is set unless
 * the flags say KNOT_PF_NOTRUNC; add nothing more) or another error. */
static int put(qctx_t *c, uint16_t hint, const knot_rrset_t *rr, uint16_t flags)
{
	return knot_pkt_put(c->r, hint, rr, flags);
}

/* Maps a put result onto the rcode to finish with. */
static int put_rcode(int ret, int rcode)
{
	if (ret == KNOT_EOK || ret == KNOT_ESPACE)
		return rcode;
	return KNOT_RCODE_SERVFAIL;
}

/* --- CHAOS ------------------------------------------------------------------ */

static bool name_is(const knot_dname_t *name, const char *wire)
{
	return knot_dname_is_equal(name, (const knot_dname_t *)wire);
}

static int answer_chaos(qctx_t *c)
{
	const mns_dns_conf_t *conf = c->ctx->conf;
	const char *text = NULL;
	if (c->qtype != KNOT_RRTYPE_TXT || conf == NULL)
		return KNOT_RCODE_REFUSED;
	if (name_is(c->qname, "\002id\006server") || name_is(c->qname, "\010hostname\004bind"))
		text = conf->identity;
	else if (name_is(c->qname, "\007version\004bind") ||
	         name_is(c->qname, "\007version\006server"))
		text = conf->version;
	if (text == NULL)
		return KNOT_RCODE_REFUSED;

	/* TXT RDATA: character-strings of at most 255 octets. */
	size_t len = strlen(text);
	size_t chunks = len == 0 ? 1 : (len + 254) / 255;
	if (len + chunks > UINT16_MAX)
		return KNOT_RCODE_SERVFAIL;
	uint8_t *rd = c->mm.alloc(c->mm.ctx, len + chunks);
	if (rd == NULL)
		return KNOT_RCODE_SERVFAIL;
	uint8_t *p = rd;
	size_t off = 0;
	do {
		size_t n = len - off > 255 ? 255 : len - off;
		*p++ = (uint8_t)n;
		memcpy(p, text + off, n);
		p += n;
		off += n;
	} while (off < len);

	knot_rrset_t rr;
	knot_rrset_init(&rr, (knot_dname_t *)c->qname, KNOT_RRTYPE_TXT, KNOT_CLASS_CH, 0);
	if (knot_rrset_add_rdata(&rr, rd, (uint16_t)(p - rd), &c->mm) != KNOT_EOK)
		return KNOT_RCODE_SERVFAIL;
	knot_wire_set_aa(c->r->wire);
	return put_rcode(put(c, KNOT_COMPR_HINT_QNAME, &rr, 0), KNOT_RCODE_NOERROR);
}

/* --- Zone lookup -------------------------------------------------------------- */

/* Finds \a name (lowercase, in the zone) in \a z. Walking down from the apex,
 * the first node below the apex that is a delegation point is returned in
 * *cut; the lookup stops there (the result is the cut node when \a name is
 * the cut, NULL when it is below it). */
static const mns_node_t *find_node(const mns_zone_t *z, const knot_dname_t *name,
                                   const mns_node_t **cut)
{
	*cut = NULL;
	if (!z->has_deleg)
		return mns_zone_find(z, name);
	int below = knot_dname_in_bailiwick(name, z->apex);
	if (below <= 0)
		return below == 0 ? mns_zone_find(z, name) : NULL;
	const knot_dname_t *lbl[KNOT_DNAME_MAXLABELS];
	const knot_dname_t *p = name;
	for (int i = 0; i < below; i++) {
		lbl[i] = p;
		p = knot_wire_next_label(p, NULL);
	}
	const mns_node_t *n = NULL;
	for (int i = below - 1; i >= 0; i--) {
		n = mns_zone_find(z, lbl[i]);
		if (n == NULL)
			return NULL; /* empty non-terminals exist: nothing deeper either */
		if (n->flags & MNS_NODE_DELEG) {
			*cut = n;
			return i == 0 ? n : NULL;
		}
	}
	return n;
}

/* The zone whose SOA answers negatively for \a z (NULL: none). A SUBTREE (a
 * tenant's part of the hosted zone, or a tenant's record in a vendor zone)
 * answers with the SOA of the closest enclosing zone that has one: a few
 * hash lookups, no allocation. */
static const mns_zone_t *negative_zone(const mns_index_t *idx, const mns_zone_t *z)
{
	const mns_zone_t *sz = z->kind == MNS_ZONE_SUBTREE ? mns_index_enclosing(idx, z) : z;
	return sz != NULL && sz->soa != NULL ? sz : NULL;
}

/* The largest response: TCP 65535; UDP the client's EDNS payload within
 * [512, ours] (\a edns), else 512; never more than the buffer \a rmax. */
static size_t response_limit(bool tcp, bool edns, uint16_t client, uint16_t server_max,
                             size_t rmax)
{
	size_t limit = UDP_MIN_PAYLOAD;
	if (tcp) {
		limit = KNOT_WIRE_MAX_PKTSIZE;
	} else if (edns) {
		limit = client < UDP_MIN_PAYLOAD ? UDP_MIN_PAYLOAD : client;
		if (limit > server_max)
			limit = server_max;
	}
	return limit > rmax ? rmax : limit;
}

/* NXDOMAIN or NODATA: the SOA in authority with TTL = min(TTL, MINIMUM). */
static int put_negative(qctx_t *c, const mns_zone_t *z, int rcode)
{
	const mns_zone_t *sz = negative_zone(c->ctx->index, z);
	if (sz == NULL)
		return KNOT_RCODE_SERVFAIL;
	const knot_rrset_t *soa = sz->soa;
	knot_pkt_begin(c->r, KNOT_AUTHORITY);
	return put_rcode(put(c, KNOT_COMPR_HINT_NONE, soa, KNOT_PF_SOAMINTTL), rcode);
}

/* A and AAAA of the in-zone targets of \a rr (NS, MX, SRV) into the
 * additional section. With \a cut (a referral), addresses of names below the
 * cut are glue that must fit (TC otherwise). \return a put result. */
static int put_addresses(qctx_t *c, const mns_zone_t *z, const knot_rrset_t *rr,
                         const knot_dname_t *cut)
{
	static const uint16_t types[] = {KNOT_RRTYPE_A, KNOT_RRTYPE_AAAA};
	knot_dname_storage_t target;
	if (rr->type != KNOT_RRTYPE_NS && rr->type != KNOT_RRTYPE_MX && rr->type != KNOT_RRTYPE_SRV)
		return KNOT_EOK;
	knot_pkt_begin(c->r, KNOT_ADDITIONAL);
	knot_rdata_t *rd = rr->rrs.rdata;
	for (uint16_t i = 0; i < rr->rrs.count; i++, rd = knot_rdataset_next(rd)) {
		const knot_dname_t *name = knot_rdata_name(rd, rr->type);
		if (name == NULL || knot_dname_store(target, name) == 0)
			continue;
		knot_dname_to_lower(target);
		if (knot_dname_in_bailiwick(target, z->apex) < 0)
			continue;
		const mns_node_t *node;
		bool required = false;
		if (cut != NULL) {
			node = mns_zone_find(z, target);
			required = knot_dname_in_bailiwick(target, cut) >= 0;
		} else {
			const mns_node_t *tcut = NULL;
			node = find_node(z, target, &tcut);
			if (tcut != NULL && rr->type == KNOT_RRTYPE_NS)
				node = mns_zone_find(z, target); /* glue of a child's NS */
			else if (tcut != NULL)
				node = NULL; /* occluded: not our data */
		}
		for (size_t t = 0; node != NULL && t < MNS_ARRAY_SIZE(types); t++) {
			const knot_rrset_t *addr = mns_node_rrset(node, types[t]);
			if (addr == NULL)
				continue;
			uint16_t flags = KNOT_PF_CHECKDUP | (required ? 0 : KNOT_PF_NOTRUNC);
			int ret = put(c, KNOT_COMPR_HINT_NONE, addr, flags);
			if (ret == KNOT_ESPACE && !required)
				continue;
			if (ret != KNOT_EOK)
				return ret;
		}
	}
	return KNOT_EOK;
}

/* A referral to the child at \a cut: NS (and DS, if any) in authority, glue
 * in additional. */
static int put_referral(qctx_t *c, const mns_zone_t *z, const mns_node_t *cut)
{
	const knot_rrset_t *ns = mns_node_rrset(cut, KNOT_RRTYPE_NS);
	const knot_rrset_t *ds = mns_node_rrset(cut, KNOT_RRTYPE_DS);
	knot_pkt_begin(c->r, KNOT_AUTHORITY);
	int ret = put(c, KNOT_COMPR_HINT_NONE, ns, 0);
	if (ret == KNOT_EOK && ds != NULL)
		ret = put(c, KNOT_COMPR_HINT_NONE, ds, 0);
	if (ret == KNOT_EOK)
		ret = put_addresses(c, z, ns, cut->owner);
	return put_rcode(ret, KNOT_RCODE_NOERROR);
}

/* RFC 8482: one RRset of the node, preferably not a DNSSEC one. */
static const knot_rrset_t *minimal_any(const mns_node_t *node)
{
	for (uint16_t i = 0; i < node->n_rrsets; i++)
		if (!knot_rrtype_is_dnssec(node->rrsets[i].type))
			return &node->rrsets[i];
	return node->n_rrsets > 0 ? &node->rrsets[0] : NULL;
}

/* Answers c->qname / c->qtype from \a z. \return the rcode. */
static int answer_zone(qctx_t *c, const mns_zone_t *z)
{
	const knot_dname_t *name = c->qname;
	const uint16_t qtype = c->qtype;
	uint16_t hint = KNOT_COMPR_HINT_QNAME;
	const mns_node_t *chain[CNAME_CHAIN_MAX];
	size_t n_chain = 0;

	knot_wire_set_aa(c->r->wire);
	for (;;) {
		const mns_node_t *cut = NULL;
		const mns_node_t *node = find_node(z, name, &cut);
		if (cut != NULL && !(qtype == KNOT_RRTYPE_DS && node == cut)) {
			/* Not authoritative below a cut, unless a CNAME of ours led here. */
			if (n_chain == 0)
				knot_wire_clear_aa(c->r->wire);
			return put_referral(c, z, cut);
		}
		/* A name above a tenant's record in a vendor zone exists (RFC 8020). */
		if (node == NULL)
			return put_negative(c, z,
			                    mns_index_is_ent(c->ctx->index, name) ? KNOT_RCODE_NOERROR
			                                                          : KNOT_RCODE_NXDOMAIN);
		for (size_t i = 0; i < n_chain; i++)
			if (chain[i] == node)
				return KNOT_RCODE_NOERROR; /* a loop: the answer so far */

		if ((node->flags & MNS_NODE_CNAME) && qtype != KNOT_RRTYPE_CNAME &&
		    qtype != KNOT_RRTYPE_ANY) {
			const knot_rrset_t *cname = mns_node_rrset(node, KNOT_RRTYPE_CNAME);
			int ret = put(c, hint, cname, 0);
			if (ret != KNOT_EOK)
				return put_rcode(ret, KNOT_RCODE_NOERROR);
			chain[n_chain++] = node;
			const knot_dname_t *target = knot_cname_name(cname->rrs.rdata);
			if (n_chain == CNAME_CHAIN_MAX ||
			    knot_dname_in_bailiwick(target, z->apex) < 0)
				return KNOT_RCODE_NOERROR; /* the resolver follows it */
			name = target;                     /* stored lowercase */
			hint = KNOT_COMPR_HINT_NONE;
			continue;
		}

		const knot_rrset_t *rr =
		    qtype == KNOT_RRTYPE_ANY ? minimal_any(node) : mns_node_rrset(node, qtype);
		if (rr == NULL)
			return put_negative(c, z, KNOT_RCODE_NOERROR); /* NODATA (ENTs too) */
		int ret = put(c, hint, rr, 0);
		if (ret == KNOT_EOK)
			ret = put_addresses(c, z, rr, NULL);
		return put_rcode(ret, KNOT_RCODE_NOERROR);
	}
}

/* The counters' name for the kind of \a z. */
static mns_stats_zone_t stats_kind(const mns_zone_t *z)
{
	static const mns_stats_zone_t kinds[] = {
		[MNS_ZONE_TENANT] = MNS_STATS_ZONE_TENANT,
		[MNS_ZONE_SUBTREE] = MNS_STATS_ZONE_TENANT_CNAME,
		[MNS_ZONE_HOSTED] = MNS_STATS_ZONE_HOSTED,
		[MNS_ZONE_STATIC] = MNS_STATS_ZONE_STATIC,
	};
	return (unsigned)z->kind < MNS_ARRAY_SIZE(kinds) ? kinds[z->kind] : MNS_STATS_ZONE_NONE;
}

static int answer_query(qctx_t *c)
{
	const mns_index_t *idx = c->ctx->index;
	uint16_t qclass = knot_pkt_qclass(c->q);

	switch (c->qtype) {
	case KNOT_RRTYPE_OPT:
	case KNOT_RRTYPE_TSIG:
		return KNOT_RCODE_FORMERR;
	case KNOT_RRTYPE_TKEY:
	case RRTYPE_MAILA:
	case RRTYPE_MAILB:
		return KNOT_RCODE_NOTIMPL;
	case KNOT_RRTYPE_AXFR:
		return c->tcp ? KNOT_RCODE_REFUSED : KNOT_RCODE_FORMERR;
	case KNOT_RRTYPE_IXFR:
		return KNOT_RCODE_REFUSED;
	default:
		break;
	}
	if (qclass == KNOT_CLASS_CH) {
		c->zone = MNS_STATS_ZONE_CHAOS;
		return answer_chaos(c);
	}
	if (qclass != KNOT_CLASS_IN && qclass != KNOT_CLASS_ANY)
		return KNOT_RCODE_REFUSED;

	/* The fast path looked this very question up before it declined. */
	const mns_zone_t *z = c->zone_hint != NULL ? c->zone_hint : mns_index_lookup(idx, c->qname);
	if (z == NULL)
		return KNOT_RCODE_REFUSED;
	c->zone = stats_kind(z);
	if (c->qtype == KNOT_RRTYPE_DS && z->kind != MNS_ZONE_SUBTREE && c->qname[0] != 0 &&
	    knot_dname_is_equal(c->qname, z->apex)) {
		/* DS belongs to the parent side: answer from the parent when we
		 * serve it and it delegates this name. */
		const mns_zone_t *parent =
		    mns_index_lookup(idx, knot_wire_next_label(c->qname, NULL));
		const mns_node_t *cut = NULL;
		const mns_node_t *n = parent != NULL ? find_node(parent, c->qname, &cut) : NULL;
		if (n != NULL && n == cut)
			z = parent;
	}
	return answer_zone(c, z);
}

/* --- TSIG ------------------------------------------------------------------ */

/* The unsigned TSIG of a BADKEY error (RFC 8945 5.3.2), after the OPT. */
static void put_tsig_badkey(qctx_t *c)
{
	const knot_rrset_t *qt = c->q->tsig_rr;
	const knot_dname_t *alg = knot_tsig_rdata_alg_name(qt);
	if (alg == NULL)
		return;
	size_t alen = knot_dname_size(alg);
	size_t len = alen + 6 + 2 + 2 + 2 + 2 + 2; /* time, fudge, MAC size, id, error, other */
	uint8_t *rd = c->mm.alloc(c->mm.ctx, len);
	if (rd == NULL)
		return;
	memcpy(rd, alg, alen);
	uint8_t *p = rd + alen;
	knot_wire_write_u48(p, knot_tsig_rdata_time_signed(qt));
	knot_wire_write_u16(p + 6, TSIG_FUDGE);
	knot_wire_write_u16(p + 8, 0);
	knot_wire_write_u16(p + 10, knot_tsig_rdata_orig_id(qt));
	knot_wire_write_u16(p + 12, KNOT_RCODE_BADKEY);
	knot_wire_write_u16(p + 14, 0);
	knot_rrset_t rr;
	knot_rrset_init(&rr, qt->owner, KNOT_RRTYPE_TSIG, KNOT_CLASS_ANY, 0);
	if (knot_rrset_add_rdata(&rr, rd, (uint16_t)len, &c->mm) != KNOT_EOK)
		return;
	knot_pkt_begin(c->r, KNOT_ADDITIONAL);
	(void)put(c, KNOT_COMPR_HINT_NONE, &rr, KNOT_PF_NOTRUNC);
}

/* --- Entry point ----------------------------------------------------------- */

/* Sets the rcode, adds the OPT (and TSIG), returns the response length. */
static size_t finish(qctx_t *c, int rcode, const uint8_t *query, uint8_t *resp, size_t resp_max)
{
	knot_pkt_t *r = c->r;
	c->rcode = rcode;
	if (rcode == KNOT_RCODE_SERVFAIL && reset_response(c) != 0)
		return header_only(query, resp, resp_max, KNOT_RCODE_SERVFAIL);
	knot_wire_set_rcode(r->wire, KNOT_EDNS_RCODE_LO(rcode));
	if (c->edns) {
		knot_edns_set_ext_rcode(&c->opt, KNOT_EDNS_RCODE_HI(rcode));
		knot_pkt_reclaim(r, c->opt_size);
		knot_pkt_begin(r, KNOT_ADDITIONAL);
		if (knot_pkt_put(r, KNOT_COMPR_HINT_NONE, &c->opt, 0) != KNOT_EOK) {
			c->rcode = KNOT_RCODE_SERVFAIL;
			return header_only(query, resp, resp_max, KNOT_RCODE_SERVFAIL);
		}
	}
	if (c->tsig_badkey)
		put_tsig_badkey(c);
	return r->size;
}

/* What the counters need to know about one answered message. */
typedef struct qresult {
	uint16_t qtype;        /**< 0 when the question did not parse. */
	int rcode;             /**< Set by finish(); -1 for a header-only answer. */
	mns_stats_zone_t zone; /**< What answered. */
} qresult_t;

/* --- Fast path: answers copied from the zone's wire-format data ------------ */

/* The largest UDP payload we announce and send with EDNS. */
static uint16_t server_payload(const mns_dns_ctx_t *ctx)
{
	uint16_t max = ctx->conf != NULL ? ctx->conf->udp_max_payload : 1232;
	return max < UDP_MIN_PAYLOAD ? UDP_MIN_PAYLOAD : max;
}

enum {
	OPT_WIRE_SIZE = 11, /* root owner, type, class, TTL, RDLENGTH 0 */
	EDNS_DO = 0x8000,
};

/* Types the fast path leaves to the general one: the meta types (their own
 * rcodes, transfers, ANY) and the DNSSEC types (DS is answered from the
 * parent side). */
static bool fast_qtype(uint16_t qtype)
{
	return qtype != 0 && qtype != KNOT_RRTYPE_DS && !knot_rrtype_is_metatype(qtype) &&
	       !knot_rrtype_is_dnssec(qtype) && !(qtype >= 128 && qtype <= 255);
}

/* Answers the common query — one question of class IN, no other records but
 * a root OPT of version 0 — when the answer is one RRset or a negative
 * answer with the SOA: header, question and the zone's RDATA copied, each
 * RR behind a 12-octet header whose owner points into the question; no
 * parse, no libknot packet. Everything else (and anything that does not
 * fit the client's limit) is left to the general path, which answers the
 * same (tests/unit/dns/test_fastpath.c compares the two).
 * \return the response length, or 0 to take the general path. */
static size_t fast_answer(qresult_t *res, mns_dns_ctx_t *ctx, const uint8_t *q, size_t qlen,
                          uint8_t *resp, size_t rmax, mns_transport_t transport,
                          const mns_zone_t **found)
{
	/* Header: QUERY, one question, nothing else but possibly one OPT. */
	if (knot_wire_get_opcode(q) != KNOT_OPCODE_QUERY || knot_wire_get_qdcount(q) != 1 ||
	    knot_wire_get_ancount(q) != 0 || knot_wire_get_nscount(q) != 0 ||
	    knot_wire_get_arcount(q) > 1)
		return 0;

	/* The question name, uncompressed (no packet given: a pointer fails the
	 * check), lowercased as libknot's parse does. */
	knot_dname_storage_t qname;
	int wire = knot_dname_wire_check(q + KNOT_WIRE_HEADER_SIZE, q + qlen, NULL);
	if (wire <= 0)
		return 0;
	size_t qname_size = (size_t)wire;
	knot_dname_copy_lower(qname, q + KNOT_WIRE_HEADER_SIZE);
	size_t pos = KNOT_WIRE_HEADER_SIZE + qname_size;
	if (pos + 4 > qlen)
		return 0;
	uint16_t qtype = knot_wire_read_u16(q + pos);
	if (knot_wire_read_u16(q + pos + 2) != KNOT_CLASS_IN || !fast_qtype(qtype))
		return 0;
	pos += 4;
	size_t question_end = pos;

	/* The OPT: root owner, version 0, well-formed options (ignored, as the
	 * general path ignores them), and nothing after it. */
	bool edns = knot_wire_get_arcount(q) == 1, dnssec_ok = false;
	uint16_t client = 0, server_max = server_payload(ctx);
	if (edns) {
		if (pos + OPT_WIRE_SIZE > qlen || q[pos] != 0 ||
		    knot_wire_read_u16(q + pos + 1) != KNOT_RRTYPE_OPT || q[pos + 6] != 0)
			return 0;
		client = knot_wire_read_u16(q + pos + 3);
		dnssec_ok = knot_wire_read_u16(q + pos + 7) & EDNS_DO;
		size_t end = pos + OPT_WIRE_SIZE + knot_wire_read_u16(q + pos + 9);
		if (end != qlen)
			return 0;
		for (pos += OPT_WIRE_SIZE; pos < end; pos += 4u + knot_wire_read_u16(q + pos + 2))
			if (end - pos < 4 || end - pos - 4 < knot_wire_read_u16(q + pos + 2))
				return 0;
	} else if (pos != qlen) {
		return 0;
	}
	size_t limit = response_limit(transport == MNS_TRANSPORT_TCP, edns, client, server_max, rmax);

	/* The zone and the node, as answer_zone() finds them. */
	const mns_zone_t *z = mns_index_lookup(ctx->index, qname);
	if (z == NULL)
		return 0;
	*found = z; /* If we decline now, the general path need not look again. */
	const mns_node_t *cut = NULL;
	const mns_node_t *node = find_node(z, qname, &cut);
	if (cut != NULL || (node != NULL && (node->flags & MNS_NODE_CNAME)))
		return 0; /* referrals, CNAMEs */
	const knot_rrset_t *rr = node != NULL ? mns_node_rrset(node, qtype) : NULL;
	uint32_t ttl = rr != NULL ? rr->ttl : 0;
	/* Owners point at the question name, or at its suffix that is the SOA's
	 * owner: either way the client's case comes back, as with libknot's
	 * compression. */
	size_t owner_at = KNOT_WIRE_HEADER_SIZE;
	int rcode = KNOT_RCODE_NOERROR;
	bool negative = rr == NULL;
	if (negative) {
		if (node == NULL && !mns_index_is_ent(ctx->index, qname))
			rcode = KNOT_RCODE_NXDOMAIN;
		const mns_zone_t *sz = negative_zone(ctx->index, z);
		if (sz == NULL)
			return 0;
		rr = sz->soa;
		ttl = sz->soa_neg_ttl;
		owner_at += qname_size - knot_dname_size(sz->apex);
	} else if ((node->flags & MNS_NODE_ADDITIONAL) &&
	           (qtype == KNOT_RRTYPE_NS || qtype == KNOT_RRTYPE_MX ||
	            qtype == KNOT_RRTYPE_SRV)) {
		return 0; /* additional-section addresses: the general path */
	}

	/* The RRs: [pointer][type][class][TTL][RDLENGTH], then the RDATA as the
	 * zone stores it (wire format, names lowercase and uncompressed, which
	 * RFC 1035 4.1.4 allows). What does not fit goes to the general path,
	 * which truncates. */
	size_t used = question_end + (edns ? OPT_WIRE_SIZE : 0);
	if (used > limit)
		return 0;
	size_t room = limit - used;
	uint8_t *p = resp + question_end;
	const knot_rdata_t *rd = rr->rrs.rdata;
	for (uint16_t i = 0; i < rr->rrs.count; i++, rd = knot_rdataset_next((knot_rdata_t *)rd)) {
		if (room < 12u + rd->len)
			return 0;
		room -= 12u + rd->len;
		knot_wire_write_u16(p, (uint16_t)(0xc000 | owner_at));
		knot_wire_write_u16(p + 2, rr->type);
		knot_wire_write_u16(p + 4, rr->rclass);
		knot_wire_write_u32(p + 6, ttl);
		knot_wire_write_u16(p + 10, rd->len);
		memcpy(p + 12, rd->data, rd->len);
		p += 12 + rd->len;
	}
	if (edns) {
		p[0] = 0;
		knot_wire_write_u16(p + 1, KNOT_RRTYPE_OPT);
		knot_wire_write_u16(p + 3, server_max);
		knot_wire_write_u32(p + 5, dnssec_ok ? EDNS_DO : 0);
		knot_wire_write_u16(p + 9, 0);
		p += OPT_WIRE_SIZE;
	}

	/* Header and question as knot_pkt_init_response() and finish() make
	 * them: ID, RD and CD copied, QR and AA set, the rest clear. */
	memcpy(resp, q, question_end);
	resp[2] = (uint8_t)(KNOT_WIRE_QR_MASK | KNOT_WIRE_AA_MASK | (q[2] & KNOT_WIRE_RD_MASK));
	resp[3] = (uint8_t)((q[3] & KNOT_WIRE_CD_MASK) | rcode);
	knot_wire_set_ancount(resp, negative ? 0 : rr->rrs.count);
	knot_wire_set_nscount(resp, negative ? rr->rrs.count : 0);
	knot_wire_set_arcount(resp, edns ? 1 : 0);
	size_t len = (size_t)(p - resp);
	res->qtype = qtype;
	res->rcode = rcode;
	res->zone = stats_kind(z);
	ctx->fast_answers++;
	return len;
}

static size_t process(qresult_t *res, mns_dns_ctx_t *ctx, const uint8_t *query, size_t qlen,
                      uint8_t *resp, size_t resp_max, mns_transport_t transport)
{
	if (qlen < KNOT_WIRE_HEADER_SIZE || knot_wire_get_qr(query))
		return 0; /* not a query: never answer (no reflection of responses) */
	if (resp_max < KNOT_WIRE_HEADER_SIZE)
		return 0;
	if (qlen > KNOT_WIRE_MAX_PKTSIZE)
		return header_only(query, resp, resp_max, KNOT_RCODE_FORMERR);
	size_t rmax = resp_max > KNOT_WIRE_MAX_PKTSIZE ? KNOT_WIRE_MAX_PKTSIZE : resp_max;

	const mns_zone_t *found = NULL;
	if (!ctx->no_fast_path && ctx->index != NULL) {
		size_t len = fast_answer(res, ctx, query, qlen, resp, rmax, transport, &found);
		if (len > 0)
			return len;
	}

	qctx_t c = {.ctx = ctx, .rcode = -1, .zone_hint = found};
	mns_arena_reset(&ctx->arena);
	mns_arena_mm(&ctx->arena, &c.mm);

	/* Parsing may rewrite the wire (a TSIG is cut off), so parse a copy. */
	uint8_t *qwire = c.mm.alloc(c.mm.ctx, qlen);
	if (qwire == NULL)
		return header_only(query, resp, resp_max, KNOT_RCODE_SERVFAIL);
	memcpy(qwire, query, qlen);
	c.q = knot_pkt_new(qwire, (uint16_t)qlen, &c.mm);
	c.r = knot_pkt_new(resp, (uint16_t)rmax, &c.mm);
	if (c.q == NULL || c.r == NULL)
		return header_only(query, resp, resp_max, KNOT_RCODE_SERVFAIL);
	c.tcp = transport == MNS_TRANSPORT_TCP;
	int parsed = knot_pkt_parse(c.q, 0);
	res->qtype = c.q->qname_size > 0 ? knot_pkt_qtype(c.q) : 0;
	/* libknot accepts any owner; RFC 6891 6.1.2 says the root. Such an OPT
	 * is not one: FORMERR, and none back. */
	bool opt_ok = c.q->opt_rr != NULL && c.q->opt_rr->owner != NULL &&
	              c.q->opt_rr->owner[0] == '\0';
	if (c.q->opt_rr != NULL && !opt_ok && parsed == KNOT_EOK)
		parsed = KNOT_EMALF;

	/* EDNS: echo an OPT when the query had a valid one (even when a later
	 * part of the message, such as a second OPT, did not parse). */
	uint16_t server_max = server_payload(ctx);
	c.edns = opt_ok;
	if (c.edns) {
		if (knot_edns_init(&c.opt, server_max, 0, KNOT_EDNS_VERSION, &c.mm) != KNOT_EOK)
			return header_only(query, resp, resp_max, KNOT_RCODE_SERVFAIL);
		if (knot_pkt_has_dnssec(c.q))
			knot_edns_set_do(&c.opt);
		c.opt_size = (uint16_t)knot_edns_wire_size(&c.opt);
	}

	c.limit = response_limit(c.tcp, c.edns, c.edns ? knot_edns_get_payload(c.q->opt_rr) : 0,
	                         server_max, rmax);
	if (reset_response(&c) != 0)
		return header_only(query, resp, resp_max, KNOT_RCODE_SERVFAIL);

	int rcode;
	if (knot_wire_get_opcode(qwire) != KNOT_OPCODE_QUERY) {
		rcode = KNOT_RCODE_NOTIMPL;
	} else if (parsed != KNOT_EOK || knot_wire_get_qdcount(qwire) != 1 ||
	           c.r->qname_size == 0) {
		rcode = KNOT_RCODE_FORMERR;
	} else if (c.edns && knot_edns_get_version(c.q->opt_rr) != KNOT_EDNS_VERSION) {
		rcode = KNOT_RCODE_BADVERS;
	} else if (c.q->tsig_rr != NULL) {
		rcode = KNOT_RCODE_NOTAUTH;
		c.tsig_badkey = true;
	} else {
		c.qname = knot_pkt_qname(c.q);
		c.qtype = knot_pkt_qtype(c.q);
		rcode = answer_query(&c);
	}
	size_t len = finish(&c, rcode, query, resp, resp_max);
	res->zone = c.zone;
	res->rcode = c.rcode;
	return len;
}

size_t mns_dns_process(mns_dns_ctx_t *ctx, const uint8_t *query, size_t qlen, uint8_t *resp,
                       size_t resp_max, mns_transport_t transport)
{
	if (ctx == NULL || query == NULL || resp == NULL)
		return 0;
	/* One counter update per message, answered or not: nothing else here. */
	qresult_t out = {.zone = MNS_STATS_ZONE_NONE, .rcode = -1};
	/* One read section over both paths: the zones stay valid until the
	 * response is complete, and a zone the fast path found stays valid for
	 * the general path when the fast path declines. */
	mns_rcu_read_lock();
	size_t len = process(&out, ctx, query, qlen, resp, resp_max, transport);
	mns_rcu_read_unlock();
	if (len == 0) {
		mns_stats_dropped(ctx->stats);
		return 0;
	}
	/* Header-only answers (FORMERR, SERVFAIL) skipped finish(): their RCODE is in the header. */
	unsigned rcode = out.rcode >= 0 ? (unsigned)out.rcode : knot_wire_get_rcode(resp);
	mns_stats_query(ctx->stats, transport == MNS_TRANSPORT_TCP ? MNS_STATS_TCP : MNS_STATS_UDP,
	                out.qtype, rcode, out.zone, knot_wire_get_tc(resp));
	return len;
}
