/*  Transfer messages: AXFR (RFC 5936) and IXFR (RFC 1995) answers split into
 *  several messages, TSIG-signed as a chain (RFC 8945 5.3.1).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xfr/xfr_internal.h"

static int out_reserve(mns_xfr_out_t *o, size_t n)
{
	if (o->len + n <= o->cap)
		return MNS_OK;
	size_t cap = o->cap ? o->cap : 4096;
	while (cap < o->len + n)
		cap *= 2;
	uint8_t *b = realloc(o->buf, cap);
	if (b == NULL)
		return MNS_ENOMEM;
	o->buf = b;
	o->cap = cap;
	return MNS_OK;
}

int mns_xfr_out_append(mns_xfr_out_t *o, const uint8_t *msg, size_t n)
{
	if (out_reserve(o, n + 2) != MNS_OK)
		return MNS_ENOMEM;
	o->buf[o->len] = (uint8_t)(n >> 8);
	o->buf[o->len + 1] = (uint8_t)n;
	memcpy(o->buf + o->len + 2, msg, n);
	o->len += n + 2;
	return MNS_OK;
}

void mns_xfr_out_free(mns_xfr_out_t *out)
{
	free(out->buf);
	memset(out, 0, sizeof(*out));
}

/* Is \a owner part of \a z's transfer? Not when a SUBTREE zone (another
 * tenant's part of the zone) answers for it instead; a child zone below a
 * delegation keeps the parent's NS and glue in the parent's transfer. */
static bool owned_by(const mns_index_t *idx, const mns_zone_t *z, const knot_dname_t *owner)
{
	if (idx == NULL)
		return true;
	const mns_zone_t *o = mns_index_lookup(idx, owner);
	return o == NULL || o == z || o->kind != MNS_ZONE_SUBTREE;
}

const knot_rrset_t *mns_xfr_iter_next(mns_xfr_iter_t *it)
{
	while (it->zi < it->n_zones) {
		const mns_zone_t *z = it->zones[it->zi];
		if (it->ni >= z->n_nodes) {
			it->zi++;
			it->ni = it->ri = 0;
			continue;
		}
		const mns_node_t *n = &z->nodes[it->ni];
		if (it->ri == 0 && !owned_by(it->index, z, n->owner)) {
			it->ni++;
			continue;
		}
		if (it->ri >= n->n_rrsets) {
			it->ni++;
			it->ri = 0;
			continue;
		}
		const knot_rrset_t *rr = &n->rrsets[it->ri++];
		if (it->zi == 0 && rr->type == KNOT_RRTYPE_SOA &&
		    knot_dname_is_equal(n->owner, z->apex))
			continue;
		return rr;
	}
	return NULL;
}

typedef struct writer {
	const knot_pkt_t *q;
	const knot_tsig_key_t *key;
	knot_pkt_t *r;
	mns_xfr_out_t *out;
	uint8_t digest[64];
	size_t digest_len;
	size_t tsig_size;
	unsigned n_msgs;
	uint8_t rcode;
} writer_t;

static int msg_start(writer_t *w)
{
	if (knot_pkt_init_response(w->r, w->q) != KNOT_EOK)
		return MNS_ERROR;
	knot_wire_set_qdcount(w->r->wire, w->r->qname_size > 0 ? 1 : 0);
	w->r->max_size = KNOT_WIRE_MAX_PKTSIZE;
	if (w->rcode == KNOT_RCODE_NOERROR)
		knot_wire_set_aa(w->r->wire);
	knot_wire_set_rcode(w->r->wire, w->rcode);
	if (w->tsig_size && knot_pkt_reserve(w->r, (uint16_t)w->tsig_size) != KNOT_EOK)
		return MNS_ERROR;
	knot_pkt_begin(w->r, KNOT_ANSWER);
	return MNS_OK;
}

static int msg_finish(writer_t *w)
{
	knot_pkt_t *r = w->r;
	if (w->key != NULL) {
		knot_pkt_reclaim(r, (uint16_t)w->tsig_size);
		size_t dlen = sizeof(w->digest);
		int ret;
		if (w->n_msgs == 0)
			ret = knot_tsig_sign(r->wire, &r->size, r->max_size,
			                     knot_tsig_rdata_mac(w->q->tsig_rr),
			                     knot_tsig_rdata_mac_length(w->q->tsig_rr), w->digest,
			                     &dlen, w->key, 0, 0);
		else
			ret = knot_tsig_sign_next(r->wire, &r->size, r->max_size, w->digest,
			                          w->digest_len, w->digest, &dlen, w->key, r->wire,
			                          r->size);
		if (ret != KNOT_EOK)
			return MNS_ERROR;
		w->digest_len = dlen;
	}
	w->n_msgs++;
	return mns_xfr_out_append(w->out, r->wire, r->size);
}

/* Puts one RRset, finishing the message first when it is full. */
static int put(writer_t *w, const knot_rrset_t *rr)
{
	int ret = knot_pkt_put(w->r, KNOT_COMPR_HINT_NONE, rr, KNOT_PF_NOTRUNC);
	if (ret == KNOT_ESPACE) {
		if (knot_wire_get_ancount(w->r->wire) == 0)
			return MNS_ERROR; /* does not fit into an empty message */
		if ((ret = msg_finish(w)) != MNS_OK || (ret = msg_start(w)) != MNS_OK)
			return ret;
		ret = knot_pkt_put(w->r, KNOT_COMPR_HINT_NONE, rr, KNOT_PF_NOTRUNC);
	}
	if (ret != KNOT_EOK)
		return MNS_ERROR;
	if (w->r->size > MNS_XFR_MSG_SOFT) {
		if ((ret = msg_finish(w)) != MNS_OK || (ret = msg_start(w)) != MNS_OK)
			return ret;
	}
	return MNS_OK;
}

static int write_ex(const knot_pkt_t *q, uint8_t rcode, const knot_rrset_t *soa, mns_xfr_iter_t *it,
                    const knot_rrset_t *const *rrs, size_t n_rr, bool single,
                    const knot_tsig_key_t *key, mns_xfr_out_t *out)
{
	writer_t w = {.q = q, .key = key, .out = out, .rcode = rcode};
	if (key != NULL && q->tsig_rr == NULL)
		return MNS_EINVAL;
	w.tsig_size = key ? knot_tsig_wire_size(key) : 0;
	w.r = knot_pkt_new(NULL, KNOT_WIRE_MAX_PKTSIZE, NULL);
	if (w.r == NULL)
		return MNS_ENOMEM;
	int ret = msg_start(&w);
	if (ret == MNS_OK && soa != NULL)
		ret = put(&w, soa);
	if (it != NULL) {
		const knot_rrset_t *rr;
		while (ret == MNS_OK && (rr = mns_xfr_iter_next(it)) != NULL)
			ret = put(&w, rr);
	}
	for (size_t i = 0; ret == MNS_OK && i < n_rr; i++)
		ret = put(&w, rrs[i]);
	if (ret == MNS_OK && !single && soa != NULL)
		ret = put(&w, soa);
	/* A message that just ended past the soft limit left an empty one open. */
	if (ret == MNS_OK && (knot_wire_get_ancount(w.r->wire) > 0 || w.n_msgs == 0))
		ret = msg_finish(&w);
	knot_pkt_free(w.r);
	return ret;
}

int mns_xfr_write(const knot_pkt_t *q, const knot_rrset_t *soa, mns_xfr_iter_t *it,
                  const knot_rrset_t *const *rrs, size_t n_rr, bool single,
                  const knot_tsig_key_t *key, mns_xfr_out_t *out)
{
	return write_ex(q, KNOT_RCODE_NOERROR, soa, it, rrs, n_rr, single, key, out);
}

int mns_xfr_write_error(const knot_pkt_t *q, uint16_t rcode, uint16_t tsig_error,
                        const knot_tsig_key_t *key, mns_xfr_out_t *out)
{
	if (key != NULL && q->tsig_rr != NULL) {
		/* A verified request: a signed answer with no records. */
		return write_ex(q, (uint8_t)rcode, NULL, NULL, NULL, 0, true, key, out);
	}
	knot_pkt_t *r = knot_pkt_new(NULL, KNOT_WIRE_MAX_PKTSIZE, NULL);
	if (r == NULL)
		return MNS_ENOMEM;
	int ret = MNS_ERROR;
	if (knot_pkt_init_response(r, q) == KNOT_EOK) {
		knot_wire_set_qdcount(r->wire, r->qname_size > 0 ? 1 : 0);
		r->max_size = KNOT_WIRE_MAX_PKTSIZE;
		knot_wire_set_rcode(r->wire, (uint8_t)rcode);
		ret = MNS_OK;
		if (tsig_error != 0 && q->tsig_rr != NULL &&
		    knot_tsig_add(r->wire, &r->size, r->max_size, tsig_error, q->tsig_rr) !=
		        KNOT_EOK)
			ret = MNS_ERROR;
		/* libknot 3.2 leaves the 6 octets of a BADTIME's Other Data in the
		 * RDATA but writes Other Len 0: a record nobody can parse. Fill in
		 * what RFC 8945 5.2.3 asks for there: our current time. */
		if (ret == MNS_OK && tsig_error == KNOT_RCODE_BADTIME && r->size >= 8 &&
		    knot_wire_read_u16(r->wire + r->size - 8) == 0) {
			knot_wire_write_u16(r->wire + r->size - 8, 6);
			knot_wire_write_u48(r->wire + r->size - 6, (uint64_t)time(NULL));
		}
		if (ret == MNS_OK)
			ret = mns_xfr_out_append(out, r->wire, r->size);
	}
	knot_pkt_free(r);
	return ret;
}
