/*  The immutable zone: node lookup, freeing, and dumping its records.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "zone/zone.h"

uint64_t mns_dname_hash(const knot_dname_t *name)
{
	/* Eight octets at a time (the query path hashes every suffix of the
	 * question in the index, then the name in the zone), each step a
	 * multiply and a shift, then murmur3's finaliser so the low bits (the
	 * table mask) depend on every octet. Hashes only live in this process:
	 * host byte order is fine. */
	size_t n = knot_dname_size(name);
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;
	for (; n >= 8; n -= 8, name += 8) {
		memcpy(&w, name, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	if (n > 0) {
		w = 0;
		memcpy(&w, name, n);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

const mns_node_t *mns_zone_find(const mns_zone_t *z, const knot_dname_t *name)
{
	if (z == NULL || name == NULL || z->slots == NULL)
		return NULL;
	uint32_t j = (uint32_t)mns_dname_hash(name) & z->mask;
	for (;;) {
		uint32_t s = z->slots[j];
		if (s == 0)
			return NULL;
		const mns_node_t *n = &z->nodes[s - 1];
		if (knot_dname_is_equal(n->owner, name))
			return n;
		j = (j + 1) & z->mask;
	}
}

const knot_rrset_t *mns_node_rrset(const mns_node_t *n, uint16_t type)
{
	if (n == NULL)
		return NULL;
	for (uint16_t i = 0; i < n->n_rrsets; i++)
		if (n->rrsets[i].type == type)
			return &n->rrsets[i];
	return NULL;
}

void mns_zone_free(mns_zone_t *z)
{
	/* mns_zb_build() makes each zone one allocation. */
	free(z);
}

/* --- Dump ------------------------------------------------------------------ */

typedef struct strbuf {
	char *s;
	size_t len, cap;
} strbuf_t;

static int sb_append(strbuf_t *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (p == NULL)
			return MNS_ENOMEM;
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return MNS_OK;
}

/* Presentation of RR \a pos of \a rr into *buf (grown as needed). */
static int dump_rdata(const knot_rrset_t *rr, uint16_t pos, char **buf, size_t *cap)
{
	for (;;) {
		int n = knot_rrset_txt_dump_data(rr, pos, *buf, *cap, &KNOT_DUMP_STYLE_DEFAULT);
		if (n >= 0)
			return MNS_OK;
		if (n != KNOT_ESPACE || *cap >= (1u << 22))
			return MNS_ERROR;
		char *p = realloc(*buf, *cap * 2);
		if (p == NULL)
			return MNS_ENOMEM;
		*buf = p;
		*cap *= 2;
	}
}

static int dump_json(const mns_zone_t *z, json_t **out)
{
	char owner[KNOT_DNAME_TXT_MAXLEN + 1], type[32];
	size_t cap = 1024;
	char *buf = malloc(cap);
	json_t *arr = json_array();
	int ret = MNS_ENOMEM;
	if (buf == NULL || arr == NULL)
		goto out;
	for (size_t i = 0; i < z->n_nodes; i++) {
		const mns_node_t *n = &z->nodes[i];
		if (n->n_rrsets > 0 && knot_dname_to_str(owner, n->owner, sizeof(owner)) == NULL)
			goto out;
		for (uint16_t r = 0; r < n->n_rrsets; r++) {
			const knot_rrset_t *rr = &n->rrsets[r];
			if (knot_rrtype_to_string(rr->type, type, sizeof(type)) < 0)
				goto out;
			for (uint16_t k = 0; k < rr->rrs.count; k++) {
				if (dump_rdata(rr, k, &buf, &cap) != MNS_OK)
					goto out;
				json_t *o =
				    json_pack("{s:s, s:s, s:I, s:s}", "name", owner, "type", type,
				              "ttl", (json_int_t)rr->ttl, "value", buf);
				if (o == NULL || json_array_append_new(arr, o) != 0)
					goto out;
			}
		}
	}
	*out = arr;
	arr = NULL;
	ret = MNS_OK;
out:
	json_decref(arr);
	free(buf);
	return ret;
}

static int dump_text(const mns_zone_t *z, char **out)
{
	size_t cap = 1024;
	char *buf = malloc(cap);
	strbuf_t sb = {0};
	int ret = MNS_ENOMEM;
	if (buf == NULL || sb_append(&sb, "", 0) != MNS_OK)
		goto out;
	for (size_t i = 0; i < z->n_nodes; i++) {
		const mns_node_t *n = &z->nodes[i];
		for (uint16_t r = 0; r < n->n_rrsets; r++) {
			int len = knot_rrset_txt_dump(&n->rrsets[r], &buf, &cap,
			                              &KNOT_DUMP_STYLE_DEFAULT);
			if (len < 0 || sb_append(&sb, buf, (size_t)len) != MNS_OK)
				goto out;
		}
	}
	*out = sb.s;
	sb.s = NULL;
	ret = MNS_OK;
out:
	free(sb.s);
	free(buf);
	return ret;
}

int mns_zone_dump(const mns_zone_t *z, json_t **json, char **text)
{
	json_t *j = NULL;
	char *t = NULL;
	if (z == NULL)
		return MNS_EINVAL;
	if (json != NULL && dump_json(z, &j) != MNS_OK)
		return MNS_ENOMEM;
	if (text != NULL && dump_text(z, &t) != MNS_OK) {
		json_decref(j);
		return MNS_ENOMEM;
	}
	if (json != NULL)
		*json = j;
	if (text != NULL)
		*text = t;
	return MNS_OK;
}

void mns_zone_set_serial(mns_zone_t *z, uint32_t serial)
{
	if (z == NULL || z->soa == NULL)
		return;
	/* The zone is still private to its builder's caller: writing is safe. */
	knot_soa_serial_set(((knot_rrset_t *)z->soa)->rrs.rdata, serial);
	z->serial = serial;
}
