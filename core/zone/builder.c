/*  Zone builder: producers (plugins, core, the zone-file loader) add records,
 *  mns_zb_build() turns them into an immutable mns_zone_t.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zone/zone.h"
#include "util/util.h"

/* Building a tenant's zone takes dozens of small temporaries (names, owner
 * copies, RDATA arrays, the (owner, type) table, sort arrays). They all come
 * from a per-builder bump arena: its first block is inside the builder, more
 * blocks are chained when a zone outgrows it, and everything goes at
 * mns_zb_free(). Start-up builds a million zones in a row: with the
 * temporaries out of malloc, glibc's bins stay empty and the one allocation
 * that is kept (the zone) is cut from the top of the heap without a
 * consolidation pass. */
#define ZB_FIRST_BLOCK 3072 /* Inline block: a typical tenant fits. */
#define ZB_BIG 1024         /* RDATA arrays larger than this are malloc'd (see zb_mm_alloc). */
#define ZB_TAG_ARENA UINT64_C(0)
#define ZB_TAG_BIG UINT64_C(0x6d6e732d62696721) /* "mns-big!" */

/** An arena block after the first. */
typedef struct zb_block {
	struct zb_block *next;
	size_t size;
	_Alignas(16) uint8_t data[];
} zb_block_t;

/** A malloc'd RDATA array, linked so that mns_zb_free() finds what is left.
 *  The tag sits just before the data, as the arena's own tag does. */
typedef struct zb_big {
	struct zb_big *prev, *next;
	uint64_t tag; /* ZB_TAG_BIG */
} zb_big_t;

/** One RRset being collected: owner and RDATA live in the builder's arena
 *  (big RDATA arrays aside). */
typedef struct zb_set {
	knot_rrset_t rr;
	const char *producer; /**< Who added it (arena copy), NULL = unnamed (core). */
	const uint8_t *lf;    /**< mns_zb_build(): the owner's knot_dname_lf() octets, */
	uint8_t lf_len;       /**< their count */
	uint8_t depth;        /**< and the owner's labels below the apex. */
} zb_set_t;

/** A node name being sorted by mns_zb_build(). */
typedef struct zb_name {
	const knot_dname_t *name;
	const uint8_t *lf; /**< knot_dname_lf() octets (a prefix of an owner's). */
	uint8_t lf_len;
} zb_name_t;

struct mns_zone_builder {
	knot_dname_storage_t apex; /**< Lowercase wire. */
	knot_dname_storage_t base; /**< Lowercase wire, at or below apex. */
	mns_zone_kind_t kind;
	const char *tenant;   /**< Arena copy. */
	const char *producer; /**< Current producer (arena copy), NULL = unnamed. */
	zb_set_t *sets;
	size_t n_sets, cap_sets;
	uint32_t *slots;    /**< (owner, type) hash: set index + 1, 0 = empty. */
	size_t n_slots;     /**< A power of two, at least 2 × n_sets. */
	void *external;     /**< Collector of records outside the zone (core-owned). */
	knot_mm_t mm;       /**< The arena for libknot's rdataset functions. */
	uint8_t *cur, *end; /**< Free part of the current block. */
	zb_block_t *blocks; /**< Blocks after the first, newest first. */
	size_t next_block;  /**< Size of the next block. */
	zb_big_t bigs;      /**< Sentinel of the list of malloc'd RDATA arrays. */
	_Alignas(16) uint8_t first[ZB_FIRST_BLOCK];
};

/* --- Arena ------------------------------------------------------------------ */

/* \a n bytes, 8-aligned, valid until mns_zb_free(). NULL on OOM. */
static void *arena_alloc(mns_zone_builder_t *zb, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	if ((size_t)(zb->end - zb->cur) < n) {
		size_t size = zb->next_block;
		while (size < n)
			size *= 2;
		zb_block_t *b = malloc(sizeof(*b) + size);
		if (b == NULL)
			return NULL;
		b->next = zb->blocks;
		b->size = size;
		zb->blocks = b;
		zb->next_block = 2 * size;
		zb->cur = b->data;
		zb->end = b->data + size;
	}
	void *p = zb->cur;
	zb->cur += n;
	return p;
}

static char *arena_strdup(mns_zone_builder_t *zb, const char *s)
{
	size_t len = strlen(s) + 1;
	char *d = arena_alloc(zb, len);
	if (d != NULL)
		memcpy(d, s, len);
	return d;
}

/* knot_mm_t allocator for RDATA arrays. libknot grows an rdataset by
 * alloc + copy + free; the free gets no context, so each block carries a
 * tag word just before it. Small arrays come from the arena (their frees
 * are no-ops: a few copies of a few hundred bytes at most); large ones
 * (big RRsets of a zone file) are malloc'd and really freed, so that
 * growing one costs no more memory than with plain malloc. */
static void *zb_mm_alloc(void *ctx, size_t len)
{
	mns_zone_builder_t *zb = ctx;
	uint64_t tag = ZB_TAG_ARENA;
	if (len > ZB_BIG) {
		zb_big_t *h = malloc(sizeof(*h) + len);
		if (h == NULL)
			return NULL;
		h->tag = ZB_TAG_BIG;
		h->next = zb->bigs.next;
		h->prev = &zb->bigs;
		h->next->prev = h;
		zb->bigs.next = h;
		return h + 1;
	}
	uint8_t *p = arena_alloc(zb, sizeof(tag) + len);
	if (p == NULL)
		return NULL;
	memcpy(p, &tag, sizeof(tag));
	return p + sizeof(tag);
}

static void zb_mm_free(void *p)
{
	uint64_t tag;
	if (p == NULL)
		return;
	memcpy(&tag, (uint8_t *)p - sizeof(tag), sizeof(tag));
	if (tag != ZB_TAG_BIG)
		return;
	zb_big_t *h = (zb_big_t *)p - 1;
	h->prev->next = h->next;
	h->next->prev = h->prev;
	free(h);
}

void mns_zb_set_external(mns_zone_builder_t *zb, void *external)
{
	zb->external = external;
}

void *mns_zb_external(const mns_zone_builder_t *zb)
{
	return zb->external;
}

const char *mns_zb_producer(const mns_zone_builder_t *zb)
{
	return zb->producer ? zb->producer : "core";
}

/* Text of a name for messages (never fails). */
static const char *name_txt(const knot_dname_t *name, char *buf, size_t len)
{
	if (name == NULL || knot_dname_to_str(buf, name, len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

static const char *type_txt(uint16_t type, char *buf, size_t len)
{
	if (knot_rrtype_to_string(type, buf, len) < 0)
		snprintf(buf, len, "TYPE%u", type);
	return buf;
}

static const char *producer_txt(const char *producer)
{
	return producer != NULL ? producer : "core";
}

static bool same_producer(const char *a, const char *b)
{
	if (a == b)
		return true;
	if (a == NULL || b == NULL)
		return false;
	return strcmp(a, b) == 0;
}

/* Equality of two uncompressed names, as knot_dname_is_equal() (octet by
 * octet) without its per-label calls: the builder compares names often. */
static bool dname_eq(const knot_dname_t *a, const knot_dname_t *b)
{
	for (;;) {
		uint8_t len = *a;
		if (len != *b)
			return false;
		if (len == 0)
			return true;
		if (memcmp(a + 1, b + 1, len) != 0)
			return false;
		a += len + 1;
		b += len + 1;
	}
}

/* True if \a anc is a proper ancestor of \a name (both uncompressed), as
 * knot_dname_in_bailiwick(name, anc) > 0. */
static bool dname_is_ancestor(const knot_dname_t *anc, const knot_dname_t *name)
{
	size_t al = knot_dname_size(anc), nl = knot_dname_size(name);
	if (al >= nl)
		return false;
	while (nl > al) { /* Strip labels until the rest is as long as anc. */
		nl -= (size_t)*name + 1;
		name += *name + 1;
	}
	return nl == al && memcmp(anc, name, al) == 0;
}

/* The order of knot_dname_cmp() on two names given by their lookup-format
 * octets (knot_dname_lf() without the length octet), computed once. */
static int lf_cmp(const uint8_t *a, uint8_t al, const uint8_t *b, uint8_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c != 0)
		return c;
	return (al > bl) - (al < bl);
}

/* Text names parsed lately, per thread. Start-up builds a zone per tenant
 * in a row and most names repeat from one to the next (SOA and NS names, MX
 * targets, relative owners such as "_dmarc"): a string compare instead of
 * knot_dname_from_str(). Only short names are kept. */
#define NAME_CACHE 16
#define NAME_CACHE_TXT 64
static MNS_THREAD_LOCAL struct {
	char txt[NAME_CACHE_TXT];
	uint8_t wire[KNOT_DNAME_MAXLEN];
	uint16_t size; /* 0 = empty */
} name_cache[NAME_CACHE];
static MNS_THREAD_LOCAL unsigned name_cache_next;

/* knot_dname_from_str(out, txt, KNOT_DNAME_MAXLEN), case kept. */
static bool parse_text(const char *txt, uint8_t *out)
{
	size_t len = strlen(txt);
	if (len < NAME_CACHE_TXT) {
		for (size_t i = 0; i < NAME_CACHE; i++)
			if (name_cache[i].size != 0 &&
			    memcmp(name_cache[i].txt, txt, len + 1) == 0) {
				memcpy(out, name_cache[i].wire, name_cache[i].size);
				return true;
			}
	}
	if (knot_dname_from_str(out, txt, KNOT_DNAME_MAXLEN) == NULL)
		return false;
	if (len < NAME_CACHE_TXT) {
		unsigned i = name_cache_next++ % NAME_CACHE;
		memcpy(name_cache[i].txt, txt, len + 1);
		name_cache[i].size = (uint16_t)knot_dname_size(out);
		memcpy(name_cache[i].wire, out, name_cache[i].size);
	}
	return true;
}

/* Parses a text name into lowercase wire format in \a out. */
static bool parse_name(const char *txt, knot_dname_storage_t out)
{
	if (txt == NULL || txt[0] == '\0' ||
	    knot_dname_from_str(out, txt, KNOT_DNAME_MAXLEN) == NULL)
		return false;
	knot_dname_to_lower(out);
	return true;
}

mns_zone_builder_t *mns_zb_new(const char *apex, const char *base, mns_zone_kind_t kind)
{
	mns_zone_builder_t *zb = malloc(sizeof(*zb));
	if (zb == NULL)
		return NULL;
	/* Only the header is initialised: the inline block is handed out as is. */
	memset(zb, 0, offsetof(mns_zone_builder_t, first));
	zb->kind = kind;
	zb->mm = (knot_mm_t){.ctx = zb, .alloc = zb_mm_alloc, .free = zb_mm_free};
	zb->cur = zb->first;
	zb->end = zb->first + sizeof(zb->first);
	zb->next_block = 4 * sizeof(zb->first);
	zb->bigs.prev = zb->bigs.next = &zb->bigs;
	if (base == NULL)
		base = apex;
	bool ok = parse_name(apex, zb->apex);
	if (ok && strcmp(base, apex) == 0) /* A whole zone: parsed once. */
		memcpy(zb->base, zb->apex, knot_dname_size(zb->apex));
	else
		ok = ok && parse_name(base, zb->base);
	if (!ok || knot_dname_in_bailiwick(zb->base, zb->apex) < 0) {
		free(zb);
		return NULL;
	}
	return zb;
}

void mns_zb_free(mns_zone_builder_t *zb)
{
	if (zb == NULL)
		return;
	for (zb_big_t *h = zb->bigs.next, *next; h != &zb->bigs; h = next) {
		next = h->next;
		free(h);
	}
	for (zb_block_t *b = zb->blocks, *next; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(zb);
}

/* Producers are few and set once per plugin: one arena copy each, shared
 * by the RRsets it adds. An allocation failure leaves the producer unnamed
 * for messages only (it is never part of the zone). */
void mns_zb_set_producer(mns_zone_builder_t *zb, const char *producer)
{
	if (zb == NULL ||
	    (producer != NULL && zb->producer != NULL && strcmp(producer, zb->producer) == 0))
		return;
	zb->producer = producer != NULL ? arena_strdup(zb, producer) : NULL;
}

void mns_zb_set_tenant(mns_zone_builder_t *zb, const char *tenant)
{
	if (zb == NULL)
		return;
	zb->tenant = tenant != NULL ? arena_strdup(zb, tenant) : NULL;
}

/* --- Owner names ----------------------------------------------------------- */

/* True if the text name ends in an unescaped dot (an absolute name). */
static bool is_absolute(const char *txt)
{
	size_t len = strlen(txt);
	if (len == 0 || txt[len - 1] != '.')
		return false;
	size_t bs = 0;
	while (bs + 1 < len && txt[len - 2 - bs] == '\\')
		bs++;
	return bs % 2 == 0;
}

/* Resolves an owner given by a producer ("@", relative to base, or absolute)
 * into lowercase wire format in \a out; the result is at or below base. */
static int resolve_owner(const mns_zone_builder_t *zb, const char *owner, knot_dname_storage_t out,
                         mns_error_t *err)
{
	char b1[KNOT_DNAME_TXT_MAXLEN + 1];
	if (owner == NULL || owner[0] == '\0')
		return mns_error_set(err, "invalid_name", "empty owner name");
	if (strcmp(owner, "@") == 0) {
		memcpy(out, zb->base, knot_dname_size(zb->base));
		return MNS_OK;
	}
	knot_dname_storage_t tmp;
	if (!parse_text(owner, tmp))
		return mns_error_set(err, "invalid_name", "'%s' is not a valid domain name", owner);
	bool absolute = is_absolute(owner);
	if (absolute) {
		memcpy(out, tmp, knot_dname_size(tmp));
	} else {
		size_t rel = knot_dname_size(tmp) - 1; /* without the root label */
		size_t bl = knot_dname_size(zb->base);
		if (rel + bl > KNOT_DNAME_MAXLEN)
			return mns_error_set(err, "invalid_name",
			                     "'%s' below %s is longer than 255 octets", owner,
			                     name_txt(zb->base, b1, sizeof(b1)));
		memcpy(out, tmp, rel);
		memcpy(out + rel, zb->base, bl);
	}
	knot_dname_to_lower(out);
	/* A relative name was put below base: only an absolute one can be outside. */
	if (absolute && knot_dname_in_bailiwick(out, zb->base) < 0)
		return mns_error_set(err, "out_of_zone", "'%s' is not at or below %s", owner,
		                     name_txt(zb->base, b1, sizeof(b1)));
	return MNS_OK;
}

/* --- RDATA checks ---------------------------------------------------------- */

/* Size of the uncompressed name at \a p (not beyond \a end), or -1. */
static int name_len(const uint8_t *p, const uint8_t *end)
{
	if (p >= end)
		return -1;
	int n = knot_dname_wire_check(p, end, NULL);
	return n > 0 ? n : -1;
}

/* Checks the RDATA of the types whose layout we know and lowercases the
 * domain names in it (DNSSEC canonical form, RFC 4034 6.2). \a buf receives
 * the canonical copy when one is needed; *out points at the data to store. */
static int check_rdata(uint16_t type, const uint8_t *rd, size_t len, uint8_t *buf, size_t buflen,
                       const uint8_t **out)
{
	const uint8_t *end = rd + len;
	int n1, n2;
	*out = rd;
	switch (type) {
	case KNOT_RRTYPE_CNAME:
	case KNOT_RRTYPE_NS:
	case KNOT_RRTYPE_PTR:
	case KNOT_RRTYPE_DNAME:
		if (name_len(rd, end) != (int)len)
			return -1;
		memcpy(buf, rd, len);
		knot_dname_to_lower(buf);
		*out = buf;
		return 0;
	case KNOT_RRTYPE_MX:
		if (len < 3 || name_len(rd + 2, end) != (int)len - 2)
			return -1;
		memcpy(buf, rd, len);
		knot_dname_to_lower(buf + 2);
		*out = buf;
		return 0;
	case KNOT_RRTYPE_SOA:
		n1 = name_len(rd, end);
		n2 = n1 > 0 ? name_len(rd + n1, end) : -1;
		if (n1 < 0 || n2 < 0 || (size_t)n1 + (size_t)n2 + 20 != len || len > buflen)
			return -1;
		memcpy(buf, rd, len);
		knot_dname_to_lower(buf);
		knot_dname_to_lower(buf + n1);
		*out = buf;
		return 0;
	case KNOT_RRTYPE_TXT:
		if (len == 0)
			return -1;
		for (const uint8_t *p = rd; p != end;) {
			if ((size_t)(end - p) < 1u + *p)
				return -1;
			p += 1u + *p;
		}
		return 0;
	default:
		return 0;
	}
}

/* --- The (owner, type) table ----------------------------------------------- */

static uint64_t set_hash(const knot_dname_t *owner, uint16_t type)
{
	return mns_dname_hash(owner) ^ ((uint64_t)type * 0x9e3779b97f4a7c15ULL);
}

static int slots_grow(mns_zone_builder_t *zb)
{
	size_t n = zb->n_slots ? zb->n_slots * 2 : 32;
	uint32_t *s = arena_alloc(zb, n * sizeof(*s));
	if (s == NULL)
		return MNS_ENOMEM;
	memset(s, 0, n * sizeof(*s));
	for (size_t i = 0; i < zb->n_sets; i++) {
		const knot_rrset_t *rr = &zb->sets[i].rr;
		size_t j = set_hash(rr->owner, rr->type) & (n - 1);
		while (s[j] != 0)
			j = (j + 1) & (n - 1);
		s[j] = (uint32_t)(i + 1);
	}
	zb->slots = s; /* The old table stays in the arena. */
	zb->n_slots = n;
	return MNS_OK;
}

/* Finds the set for (owner, type); returns its slot position in *slot. */
static zb_set_t *set_find(const mns_zone_builder_t *zb, const knot_dname_t *owner, uint16_t type,
                          size_t *slot)
{
	size_t mask = zb->n_slots - 1;
	size_t j = set_hash(owner, type) & mask;
	while (zb->slots[j] != 0) {
		zb_set_t *s = &zb->sets[zb->slots[j] - 1];
		if (s->rr.type == type && dname_eq(s->rr.owner, owner))
			return s;
		j = (j + 1) & mask;
	}
	*slot = j;
	return NULL;
}

static int nomem(mns_error_t *err)
{
	mns_error_set(err, "no_memory", "out of memory");
	return MNS_ENOMEM;
}

/* Adds one record; \a owner is lowercase wire at or below base. */
static int add_record(mns_zone_builder_t *zb, const knot_dname_t *owner, uint16_t type,
                      uint32_t ttl, const uint8_t *rdata, size_t len, mns_error_t *err)
{
	char b1[KNOT_DNAME_TXT_MAXLEN + 1], b2[32];
	uint8_t canon[2 * KNOT_DNAME_MAXLEN + 2 + 20];

	if (type == 0 || knot_rrtype_is_metatype(type) || type == KNOT_RRTYPE_OPT ||
	    type == 253 /* MAILB */ || type == 254 /* MAILA */)
		return mns_error_set(err, "invalid_type", "type %s cannot be published at %s",
		                     type_txt(type, b2, sizeof(b2)),
		                     name_txt(owner, b1, sizeof(b1)));
	if (len > UINT16_MAX || (len > 0 && rdata == NULL))
		return mns_error_set(err, "invalid_rdata", "%s record at %s: data too long",
		                     type_txt(type, b2, sizeof(b2)),
		                     name_txt(owner, b1, sizeof(b1)));
	const uint8_t *data = rdata;
	if (check_rdata(type, rdata, len, canon, sizeof(canon), &data) != 0)
		return mns_error_set(err, "invalid_rdata", "%s record at %s: malformed data",
		                     type_txt(type, b2, sizeof(b2)),
		                     name_txt(owner, b1, sizeof(b1)));

	if (zb->n_slots < 2 * (zb->n_sets + 1) && slots_grow(zb) != MNS_OK)
		return nomem(err);
	size_t slot = 0;
	zb_set_t *s = set_find(zb, owner, type, &slot);
	if (s != NULL) {
		if (!same_producer(s->producer, zb->producer)) {
			mns_error_set(err, "record_clash", "%s %s is published by both %s and %s",
			              name_txt(owner, b1, sizeof(b1)),
			              type_txt(type, b2, sizeof(b2)), producer_txt(s->producer),
			              producer_txt(zb->producer));
			return MNS_ECLASH;
		}
		/* Sorted canonically; an identical RDATA is merged silently. */
		if (knot_rrset_add_rdata(&s->rr, data, (uint16_t)len, &zb->mm) != KNOT_EOK)
			return nomem(err);
		return MNS_OK;
	}

	if (zb->n_sets == zb->cap_sets) {
		/* The old array stays in the arena: doubling bounds the waste. */
		size_t cap = zb->cap_sets ? zb->cap_sets * 2 : 16;
		zb_set_t *ns = arena_alloc(zb, cap * sizeof(*ns));
		if (ns == NULL)
			return nomem(err);
		if (zb->n_sets > 0)
			memcpy(ns, zb->sets, zb->n_sets * sizeof(*ns));
		zb->sets = ns;
		zb->cap_sets = cap;
	}
	size_t olen = knot_dname_size(owner);
	knot_dname_t *own = arena_alloc(zb, olen);
	if (own == NULL)
		return nomem(err);
	memcpy(own, owner, olen);
	s = &zb->sets[zb->n_sets];
	knot_rrset_init(&s->rr, own, type, KNOT_CLASS_IN, ttl);
	if (knot_rrset_add_rdata(&s->rr, data, (uint16_t)len, &zb->mm) != KNOT_EOK)
		return nomem(err);
	s->producer = zb->producer;
	zb->slots[slot] = (uint32_t)(zb->n_sets + 1);
	zb->n_sets++;
	return MNS_OK;
}

/* --- Public add functions -------------------------------------------------- */

MNS_API int mns_zb_add_rdata(mns_zone_builder_t *zb, const char *owner, uint16_t type, uint32_t ttl,
                             const uint8_t *rdata, size_t len, mns_error_t *err)
{
	if (zb == NULL)
		return mns_error_set(err, "invalid_argument", "no zone builder");
	knot_dname_storage_t own;
	int ret = resolve_owner(zb, owner, own, err);
	if (ret != MNS_OK)
		return ret;
	return add_record(zb, own, type, ttl, rdata, len, err);
}

MNS_API int mns_zb_add_txt(mns_zone_builder_t *zb, const char *owner, uint32_t ttl,
                           const char *text, mns_error_t *err)
{
	if (text == NULL)
		text = "";
	size_t len = strlen(text);
	size_t chunks = len == 0 ? 1 : (len + 254) / 255;
	if (len + chunks > UINT16_MAX)
		return mns_error_set(err, "invalid_rdata", "TXT value of %zu octets is too long",
		                     len);
	/* Records of a tenant (DKIM keys included) fit the stack buffer. */
	uint8_t stack[1024];
	uint8_t *rd = len + chunks <= sizeof(stack) ? stack : malloc(len + chunks);
	if (rd == NULL)
		return nomem(err);
	uint8_t *p = rd;
	size_t off = 0;
	do {
		size_t n = len - off > 255 ? 255 : len - off;
		*p++ = (uint8_t)n;
		memcpy(p, text + off, n);
		p += n;
		off += n;
	} while (off < len);
	int ret = mns_zb_add_rdata(zb, owner, KNOT_RRTYPE_TXT, ttl, rd, (size_t)(p - rd), err);
	if (rd != stack)
		free(rd);
	return ret;
}

/* Parses a target name given as text (trailing dot optional) into \a out. */
static int target_name(const char *what, const char *txt, knot_dname_storage_t out,
                       mns_error_t *err)
{
	if (txt == NULL || txt[0] == '\0' || !parse_text(txt, out))
		return mns_error_set(err, "invalid_name", "%s '%s' is not a valid domain name",
		                     what, txt != NULL ? txt : "");
	knot_dname_to_lower(out);
	return MNS_OK;
}

MNS_API int mns_zb_add_mx(mns_zone_builder_t *zb, const char *owner, uint32_t ttl,
                          uint16_t preference, const char *exchange, mns_error_t *err)
{
	uint8_t rd[2 + KNOT_DNAME_MAXLEN];
	int ret = target_name("MX exchange", exchange, rd + 2, err);
	if (ret != MNS_OK)
		return ret;
	knot_wire_write_u16(rd, preference);
	return mns_zb_add_rdata(zb, owner, KNOT_RRTYPE_MX, ttl, rd, 2 + knot_dname_size(rd + 2),
	                        err);
}

MNS_API int mns_zb_add_cname(mns_zone_builder_t *zb, const char *owner, uint32_t ttl,
                             const char *target, mns_error_t *err)
{
	knot_dname_storage_t rd;
	int ret = target_name("CNAME target", target, rd, err);
	if (ret != MNS_OK)
		return ret;
	return mns_zb_add_rdata(zb, owner, KNOT_RRTYPE_CNAME, ttl, rd, knot_dname_size(rd), err);
}

int mns_zb_add_ns(mns_zone_builder_t *zb, const char *owner, uint32_t ttl, const char *target,
                  mns_error_t *err)
{
	knot_dname_storage_t rd;
	int ret = target_name("NS target", target, rd, err);
	if (ret != MNS_OK)
		return ret;
	return mns_zb_add_rdata(zb, owner, KNOT_RRTYPE_NS, ttl, rd, knot_dname_size(rd), err);
}

int mns_zb_add_soa(mns_zone_builder_t *zb, uint32_t ttl, const char *mname, const char *rname,
                   uint32_t serial, uint32_t refresh, uint32_t retry, uint32_t expire,
                   uint32_t minimum, mns_error_t *err)
{
	if (zb == NULL)
		return mns_error_set(err, "invalid_argument", "no zone builder");
	uint8_t rd[2 * KNOT_DNAME_MAXLEN + 20];
	int ret = target_name("SOA mname", mname, rd, err);
	if (ret != MNS_OK)
		return ret;
	size_t n1 = knot_dname_size(rd);
	ret = target_name("SOA rname", rname, rd + n1, err);
	if (ret != MNS_OK)
		return ret;
	uint8_t *p = rd + n1 + knot_dname_size(rd + n1);
	const uint32_t v[5] = {serial, refresh, retry, expire, minimum};
	for (size_t i = 0; i < 5; i++, p += 4)
		knot_wire_write_u32(p, v[i]);
	/* The SOA belongs at the apex whatever the producers' base is. */
	return add_record(zb, zb->apex, KNOT_RRTYPE_SOA, ttl, rd, (size_t)(p - rd), err);
}

int mns_zb_add_wire(mns_zone_builder_t *zb, const knot_dname_t *owner, uint16_t type, uint32_t ttl,
                    const uint8_t *rdata, size_t len, mns_error_t *err)
{
	char b1[KNOT_DNAME_TXT_MAXLEN + 1], b2[KNOT_DNAME_TXT_MAXLEN + 1];
	if (zb == NULL || owner == NULL)
		return mns_error_set(err, "invalid_argument", "no zone builder or owner");
	knot_dname_storage_t own;
	if (knot_dname_store(own, owner) == 0)
		return mns_error_set(err, "invalid_name", "invalid owner name");
	knot_dname_to_lower(own);
	if (knot_dname_in_bailiwick(own, zb->base) < 0)
		return mns_error_set(err, "out_of_zone", "'%s' is not at or below %s",
		                     name_txt(own, b1, sizeof(b1)),
		                     name_txt(zb->base, b2, sizeof(b2)));
	return add_record(zb, own, type, ttl, rdata, len, err);
}

/* --- Build ----------------------------------------------------------------- */

/* knot_dname_cmp() order, from lookup-format octets computed once per owner. */
static int cmp_names(const void *a, const void *b)
{
	const zb_name_t *x = a, *y = b;
	return lf_cmp(x->lf, x->lf_len, y->lf, y->lf_len);
}

static int cmp_sets(const void *a, const void *b)
{
	const zb_set_t *x = *(const zb_set_t *const *)a, *y = *(const zb_set_t *const *)b;
	int c = lf_cmp(x->lf, x->lf_len, y->lf, y->lf_len);
	if (c != 0)
		return c;
	return (x->rr.type > y->rr.type) - (x->rr.type < y->rr.type);
}

/* May share a name with a CNAME (RFC 2181 10.1, RFC 4035 2.5). */
static bool cname_companion(uint16_t type)
{
	return type == KNOT_RRTYPE_RRSIG || type == KNOT_RRTYPE_NSEC;
}

static int check_soa(const mns_zone_builder_t *zb, mns_error_t *err)
{
	char b1[KNOT_DNAME_TXT_MAXLEN + 1];
	const zb_set_t *soa = NULL;
	for (size_t i = 0; i < zb->n_sets; i++) {
		const zb_set_t *s = &zb->sets[i];
		if (s->rr.type != KNOT_RRTYPE_SOA)
			continue;
		if (zb->kind == MNS_ZONE_SUBTREE)
			return mns_error_set(err, "misplaced_soa",
			                     "SOA at %s: a subtree of the hosted zone has no SOA",
			                     name_txt(s->rr.owner, b1, sizeof(b1)));
		if (!dname_eq(s->rr.owner, zb->apex))
			return mns_error_set(err, "misplaced_soa",
			                     "SOA at %s is not at the zone apex",
			                     name_txt(s->rr.owner, b1, sizeof(b1)));
		if (s->rr.rrs.count != 1)
			return mns_error_set(err, "multiple_soa", "zone %s has %u SOA records",
			                     name_txt(zb->apex, b1, sizeof(b1)), s->rr.rrs.count);
		soa = s;
	}
	if (zb->kind != MNS_ZONE_SUBTREE && soa == NULL)
		return mns_error_set(err, "missing_soa", "zone %s has no SOA at its apex",
		                     name_txt(zb->apex, b1, sizeof(b1)));
	return MNS_OK;
}

/* Checks CNAME exclusivity over sets sorted by owner. */
static int check_cnames(zb_set_t *const *order, size_t n, mns_error_t *err)
{
	char b1[KNOT_DNAME_TXT_MAXLEN + 1], b2[32];
	for (size_t i = 0; i < n;) {
		size_t j = i;
		const zb_set_t *cname = NULL, *other = NULL;
		for (; j < n && dname_eq(order[j]->rr.owner, order[i]->rr.owner); j++) {
			if (order[j]->rr.type == KNOT_RRTYPE_CNAME)
				cname = order[j];
			else if (!cname_companion(order[j]->rr.type) && other == NULL)
				other = order[j];
		}
		if (cname != NULL && cname->rr.rrs.count > 1)
			return mns_error_set(err, "cname_conflict",
			                     "%s has %u CNAME records (from %s)",
			                     name_txt(cname->rr.owner, b1, sizeof(b1)),
			                     cname->rr.rrs.count, producer_txt(cname->producer));
		if (cname != NULL && other != NULL)
			return mns_error_set(
			    err, "cname_conflict",
			    "%s has a CNAME (from %s) and other data: %s (from %s)",
			    name_txt(cname->rr.owner, b1, sizeof(b1)),
			    producer_txt(cname->producer), type_txt(other->rr.type, b2, sizeof(b2)),
			    producer_txt(other->producer));
		i = j;
	}
	return MNS_OK;
}

/* True when a positive answer with \a rr may need additional-section
 * addresses: an NS, MX or SRV target at or below \a apex. */
static bool needs_additional(const knot_dname_t *apex, const knot_rrset_t *rr)
{
	if (rr->type != KNOT_RRTYPE_NS && rr->type != KNOT_RRTYPE_MX && rr->type != KNOT_RRTYPE_SRV)
		return false;
	knot_rdata_t *rd = rr->rrs.rdata;
	for (uint16_t i = 0; i < rr->rrs.count; i++, rd = knot_rdataset_next(rd)) {
		const knot_dname_t *name = knot_rdata_name(rd, rr->type);
		if (name != NULL && knot_dname_in_bailiwick(name, apex) >= 0)
			return true;
	}
	return false;
}

/* Places parts of the zone one after the other in one block. With base
 * NULL it only measures (the first of two identical passes). */
typedef struct bump {
	uint8_t *base;
	size_t used;
} bump_t;

static void *bump(bump_t *b, size_t n)
{
	size_t at = (b->used + 7) & ~(size_t)7; /* pointers and knot_rdata_t stay aligned */
	b->used = at + n;
	return b->base != NULL ? b->base + at : NULL;
}

/* Lays out (b->base NULL) or writes the zone: the mns_zone_t, then the
 * nodes, their owners (a name that is a suffix of the next one in
 * canonical order, an ancestor, shares its octets), the RRsets and their
 * RDATA copied from the builder, and the node hash.
 * \return the zone (NULL when measuring). */
static mns_zone_t *zone_fill(const mns_zone_builder_t *zb, zb_set_t *const *order,
                             const knot_dname_t *const *names, size_t n_nodes, size_t n_slots,
                             bump_t *b)
{
	const bool fill = b->base != NULL;
	mns_zone_t *z = bump(b, sizeof(*z));
	mns_node_t *nodes = bump(b, n_nodes * sizeof(*nodes));
	knot_rrset_t *sets = bump(b, (zb->n_sets ? zb->n_sets : 1) * sizeof(*sets));
	if (fill) {
		memset(z, 0, sizeof(*z));
		memset(nodes, 0, n_nodes * sizeof(*nodes));
		z->kind = zb->kind;
		z->nodes = nodes;
		z->n_nodes = n_nodes;
	}

	/* Owners, deepest first so that ancestors can point into them. */
	for (size_t i = n_nodes; i-- > 0;) {
		size_t len = knot_dname_size(names[i]);
		if (i + 1 < n_nodes && dname_is_ancestor(names[i], names[i + 1])) {
			if (fill)
				nodes[i].owner = nodes[i + 1].owner +
				                 (knot_dname_size(names[i + 1]) - len);
			continue;
		}
		knot_dname_t *own = bump(b, len);
		if (fill) {
			memcpy(own, names[i], len);
			nodes[i].owner = own;
		}
	}
	if (fill)
		z->apex = nodes[0].owner; /* names[0] is the apex */
	if (zb->tenant != NULL) {
		char *t = bump(b, strlen(zb->tenant) + 1);
		if (fill) {
			strcpy(t, zb->tenant);
			z->tenant = t;
		}
	}

	/* RRsets: both lists are in canonical order. */
	for (size_t i = 0, j = 0; i < zb->n_sets && j < n_nodes; j++) {
		for (; i < zb->n_sets && dname_eq(order[i]->rr.owner, names[j]); i++) {
			const knot_rrset_t *src = &order[i]->rr;
			size_t size = src->rrs.size;
			knot_rdata_t *rd = bump(b, size);
			if (!fill)
				continue;
			mns_node_t *node = &nodes[j];
			if (node->n_rrsets == 0)
				node->rrsets = &sets[i];
			knot_rrset_t *rr = &sets[i];
			*rr = *src;
			rr->owner = node->owner;
			memcpy(rd, src->rrs.rdata, size);
			rr->rrs.rdata = rd;
			node->n_rrsets++;
			if (rr->type == KNOT_RRTYPE_CNAME)
				node->flags |= MNS_NODE_CNAME;
			if (rr->type == KNOT_RRTYPE_NS && j != 0) {
				node->flags |= MNS_NODE_DELEG;
				z->has_deleg = true;
			}
			if (needs_additional(nodes[0].owner, rr))
				node->flags |= MNS_NODE_ADDITIONAL;
		}
	}

	uint32_t *slots = bump(b, n_slots * sizeof(*slots));
	if (!fill)
		return NULL;
	z->soa = mns_node_rrset(&nodes[0], KNOT_RRTYPE_SOA);
	if (z->soa != NULL) {
		/* As knot_pkt_put() with KNOT_PF_SOAMINTTL writes it. */
		uint32_t min = knot_soa_minimum(z->soa->rrs.rdata);
		z->soa_neg_ttl = z->soa->ttl < min ? z->soa->ttl : min;
	}

	/* Open-addressing table over the nodes. */
	memset(slots, 0, n_slots * sizeof(*slots));
	z->slots = slots;
	z->mask = (uint32_t)(n_slots - 1);
	for (size_t i = 0; i < n_nodes; i++) {
		uint32_t j = (uint32_t)mns_dname_hash(nodes[i].owner) & z->mask;
		while (slots[j] != 0)
			j = (j + 1) & z->mask;
		slots[j] = (uint32_t)(i + 1);
	}
	return z;
}

int mns_zb_build(mns_zone_builder_t *zb, mns_zone_t **out, mns_error_t *err)
{
	const knot_dname_t **names = NULL;
	zb_set_t **order = NULL;
	int ret = MNS_OK;

	if (out != NULL)
		*out = NULL;
	if (zb == NULL || out == NULL)
		return mns_error_set(err, "invalid_argument", "no zone builder");
	ret = check_soa(zb, err);
	if (ret != MNS_OK)
		return ret;

	/* Each owner's lookup-format octets (knot_dname_cmp()'s sort key),
	 * once, and its depth below the apex. */
	const int apex_labels = knot_dname_labels(zb->apex, NULL);
	size_t n_names = 1;
	for (size_t i = 0; i < zb->n_sets; i++) {
		zb_set_t *s = &zb->sets[i];
		knot_dname_storage_t storage;
		const uint8_t *lf = knot_dname_lf(s->rr.owner, storage);
		uint8_t *copy = arena_alloc(zb, lf[0] ? lf[0] : 1);
		if (copy == NULL)
			goto enomem;
		memcpy(copy, lf + 1, lf[0]);
		s->lf = copy;
		s->lf_len = lf[0];
		s->depth = (uint8_t)(knot_dname_labels(s->rr.owner, NULL) - apex_labels);
		n_names += s->depth;
	}

	/* Sets in canonical (owner, type) order. */
	order = arena_alloc(zb, (zb->n_sets ? zb->n_sets : 1) * sizeof(*order));
	if (order == NULL)
		goto enomem;
	for (size_t i = 0; i < zb->n_sets; i++)
		order[i] = &zb->sets[i];
	qsort(order, zb->n_sets, sizeof(*order), cmp_sets);
	ret = check_cnames(order, zb->n_sets, err);
	if (ret != MNS_OK)
		goto out;
	for (size_t i = 0, j; i < zb->n_sets; i = j) {
		for (j = i; j < zb->n_sets && dname_eq(order[j]->rr.owner, order[i]->rr.owner); j++)
			;
		if (j - i > UINT16_MAX) {
			ret = mns_error_set(err, "zone_too_large", "too many types at one name");
			goto out;
		}
	}

	/* Every owner, every ancestor up to the apex (empty non-terminals) and
	 * the apex itself. Ancestors are suffixes of the owner and their
	 * lookup-format octets a prefix of the owner's: no copies. */
	zb_name_t *keys = arena_alloc(zb, n_names * sizeof(*keys));
	names = arena_alloc(zb, n_names * sizeof(*names));
	if (keys == NULL || names == NULL)
		goto enomem;
	size_t k = 0;
	knot_dname_storage_t apex_storage;
	const uint8_t *apex_lf = knot_dname_lf(zb->apex, apex_storage);
	keys[k++] = (zb_name_t){.name = zb->apex, .lf = apex_lf + 1, .lf_len = apex_lf[0]};
	for (size_t i = 0; i < zb->n_sets; i++) {
		const zb_set_t *s = &zb->sets[i];
		const knot_dname_t *p = s->rr.owner;
		uint8_t lf_len = s->lf_len;
		for (int l = 0; l < s->depth; l++) {
			keys[k++] = (zb_name_t){.name = p, .lf = s->lf, .lf_len = lf_len};
			lf_len = (uint8_t)(lf_len - (*p + 1));
			p += *p + 1;
		}
	}
	qsort(keys, n_names, sizeof(*keys), cmp_names);
	size_t n_nodes = 0;
	for (size_t i = 0; i < n_names; i++)
		if (n_nodes == 0 || !dname_eq(names[n_nodes - 1], keys[i].name))
			names[n_nodes++] = keys[i].name;
	if (n_nodes > (1u << 30)) {
		ret = mns_error_set(err, "zone_too_large", "zone has %zu names", n_nodes);
		goto out;
	}
	size_t n_slots = 2;
	while (n_slots < 2 * n_nodes)
		n_slots *= 2;

	/* One allocation for the whole zone: measure, then fill. */
	bump_t b = {0};
	zone_fill(zb, order, names, n_nodes, n_slots, &b);
	if (b.used > UINT32_MAX) {
		ret = mns_error_set(err, "zone_too_large", "zone has over 4 GiB of records");
		goto out;
	}
	size_t total = b.used;
	b = (bump_t){.base = malloc(total)};
	if (b.base == NULL)
		goto enomem;
	*out = zone_fill(zb, order, names, n_nodes, n_slots, &b);
	(*out)->serial = (*out)->soa != NULL ? knot_soa_serial((*out)->soa->rrs.rdata) : 0;
	ret = MNS_OK;
	goto out;
enomem:
	ret = nomem(err);
out:
	return ret; /* names and order stay in the arena. */
}
