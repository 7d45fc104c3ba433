/*  Replication glue: answers transfer requests (and TSIG-signed queries),
 *  follows zone publications to keep the catalog, the IXFR history and the
 *  NOTIFY queue, and sends NOTIFYs with retries.
 *
 *  Choices:
 *  - The ACL applies to AXFR, IXFR and to every query for the catalog zone;
 *    SOA and other queries for served zones stay public. No ACL entry: every
 *    transfer is REFUSED. A client in a prefix whose entry requires a key but
 *    sending no TSIG is REFUSED; a bad TSIG gets NOTAUTH with the TSIG error
 *    (BADKEY, BADSIG, BADTIME) and no data.
 *  - A transfer of a zone that is not one of our apexes: NOTAUTH.
 *  - AXFR over UDP: FORMERR (RFC 5936 4.2 defines none). IXFR over UDP: the
 *    current SOA alone, which tells the client to use TCP (RFC 1995 2).
 *  - IXFR: the real differences when the client's serial is in the in-memory
 *    history (rebuilt empty at start), the SOA alone when the client is up to
 *    date, otherwise a full AXFR-style answer (RFC 1995 4).
 *  - The hosted zone's transfer holds the subtrees of cname-mode tenants and
 *    the records plugins place in vendor zones: every SUBTREE zone below a
 *    zone whose names the query path answers from that subtree.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "log/log.h"
#include "util/util.h"
#include "xfr/xfr.h"
#include "xfr/xfr_internal.h"

/** One change of a zone: RRs removed and added between two serials. */
typedef struct diff {
	knot_rrset_t *soa_from, *soa_to;
	knot_rrset_t **del, **add;
	size_t n_del, n_add;
} diff_t;

/** A NOTIFY in flight to one target. */
typedef struct notify_tx {
	bool active;
	uint16_t id;
	uint8_t attempts;
	uint64_t due;
	uint8_t mac[64];
	size_t mac_len;
} notify_tx_t;

/** Per served zone (and the catalog): what secondaries were told. */
typedef struct zstate {
	struct zstate *next; /* Hash chain. */
	knot_dname_t *apex;
	uint32_t serial;
	bool pending;        /* NOTIFY due at the next flush. */
	knot_rrset_t *soa;   /* Copy of the last SOA seen. */
	knot_rrset_t **snap; /* The last version's RRs, one per RRset entry, sorted. */
	size_t n_snap;
	diff_t *hist; /* Oldest first. */
	size_t n_hist;
	notify_tx_t *tx; /* One per NOTIFY target. */
} zstate_t;

/* Buckets of the zone state table: a million zones make chains of four
 * (every publication looks its zone up: start-up publishes them all). */
#define ZHASH (1u << 18)

typedef struct mns_xfr {
	mns_server_t *s;
	mns_xfr_conf_t conf;
	mns_arena_t arena;
	zstate_t *zones[ZHASH];
	zstate_t **pending;
	size_t n_pending, cap_pending;
	mns_zone_t *catalog;
	bool catalog_dirty;
	uint64_t catalog_next_ms; /* No periodic rebuild before this (mns_now_ms()). */
	bool started;
	uv_udp_t sock;
	uv_timer_t flush, retry;
	int open_handles;
	size_t n_active;
	uint16_t next_id;
	uint8_t rx[65536];
} mns_xfr_t;

/* --- zone state -------------------------------------------------------------- */

static zstate_t **zslot(mns_xfr_t *x, const knot_dname_t *apex)
{
	return &x->zones[mns_dname_hash(apex) % ZHASH];
}

static zstate_t *zfind(mns_xfr_t *x, const knot_dname_t *apex)
{
	for (zstate_t *z = *zslot(x, apex); z; z = z->next)
		if (knot_dname_is_equal(z->apex, apex))
			return z;
	return NULL;
}

static void rrv_free(knot_rrset_t **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		knot_rrset_free(v[i], NULL);
	free(v);
}

static void diff_free(diff_t *d)
{
	knot_rrset_free(d->soa_from, NULL);
	knot_rrset_free(d->soa_to, NULL);
	rrv_free(d->del, d->n_del);
	rrv_free(d->add, d->n_add);
}

static void zstate_free(mns_xfr_t *x, zstate_t *z)
{
	for (size_t i = 0; i < x->conf.n_notify; i++)
		if (z->tx[i].active)
			x->n_active--;
	for (size_t i = 0; i < z->n_hist; i++)
		diff_free(&z->hist[i]);
	free(z->hist);
	rrv_free(z->snap, z->n_snap);
	knot_rrset_free(z->soa, NULL);
	free(z->tx);
	free(z->apex);
	free(z);
}

static zstate_t *zget(mns_xfr_t *x, const knot_dname_t *apex)
{
	zstate_t *z = zfind(x, apex);
	if (z != NULL)
		return z;
	z = calloc(1, sizeof(*z));
	if (z == NULL)
		return NULL;
	z->apex = knot_dname_copy(apex, NULL);
	z->tx = calloc(x->conf.n_notify + 1, sizeof(*z->tx));
	if (z->apex == NULL || z->tx == NULL) {
		free(z->apex);
		free(z->tx);
		free(z);
		return NULL;
	}
	zstate_t **slot = zslot(x, apex);
	z->next = *slot;
	*slot = z;
	return z;
}

static void zremove(mns_xfr_t *x, const knot_dname_t *apex)
{
	for (zstate_t **p = zslot(x, apex); *p; p = &(*p)->next) {
		if (knot_dname_is_equal((*p)->apex, apex)) {
			zstate_t *z = *p;
			*p = z->next;
			for (size_t i = 0; i < x->n_pending; i++)
				if (x->pending[i] == z)
					x->pending[i] = NULL;
			zstate_free(x, z);
			return;
		}
	}
}

static void flush_cb(uv_timer_t *t);

static void flush_arm(mns_xfr_t *x)
{
	/* (Armed later only for a paced catalog rebuild: NOTIFYs do not wait.) */
	if (x->started && (!uv_is_active((uv_handle_t *)&x->flush) ||
	                   uv_timer_get_due_in(&x->flush) > x->conf.notify_delay_ms))
		uv_timer_start(&x->flush, flush_cb, x->conf.notify_delay_ms, 0);
}

static void mark_pending(mns_xfr_t *x, zstate_t *z)
{
	if (x->conf.n_notify == 0 || z->pending)
		return;
	if (x->n_pending == x->cap_pending) {
		size_t cap = x->cap_pending ? 2 * x->cap_pending : 64;
		zstate_t **p = realloc(x->pending, cap * sizeof(*p));
		if (p == NULL)
			return;
		x->pending = p;
		x->cap_pending = cap;
	}
	z->pending = true;
	x->pending[x->n_pending++] = z;
	flush_arm(x);
}

/* --- IXFR history -------------------------------------------------------------- */

/* Canonical order of single RRs: owner, type, TTL, rdata. */
static int rr_cmp(const void *pa, const void *pb)
{
	const knot_rrset_t *a = *(knot_rrset_t *const *)pa, *b = *(knot_rrset_t *const *)pb;
	int c = knot_dname_cmp(a->owner, b->owner);
	if (c != 0)
		return c;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->ttl != b->ttl)
		return a->ttl < b->ttl ? -1 : 1;
	const knot_rdata_t *ra = a->rrs.rdata, *rb = b->rrs.rdata;
	return knot_rdata_cmp(ra, rb);
}

typedef struct snapshot {
	knot_rrset_t **v;
	size_t n, cap;
	bool failed;
} snapshot_t;

static void snap_add(snapshot_t *s, const knot_rrset_t *rr)
{
	const knot_rdata_t *rd = rr->rrs.rdata;
	for (uint16_t i = 0; i < rr->rrs.count; i++, rd = knot_rdataset_next((knot_rdata_t *)rd)) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 64;
			knot_rrset_t **v = realloc(s->v, cap * sizeof(*v));
			if (v == NULL) {
				s->failed = true;
				return;
			}
			s->v = v;
			s->cap = cap;
		}
		knot_rrset_t *one = knot_rrset_new(rr->owner, rr->type, rr->rclass, rr->ttl, NULL);
		if (one == NULL || knot_rrset_add_rdata(one, rd->data, rd->len, NULL) != KNOT_EOK) {
			knot_rrset_free(one, NULL);
			s->failed = true;
			return;
		}
		s->v[s->n++] = one;
	}
}

/* Collects the zones of \a z's transfer: \a z first, then the SUBTREE zones
 * below it. */
typedef struct gather {
	const mns_zone_t *top;
	const mns_index_t *idx;
	const mns_zone_t **v;
	size_t n, cap;
} gather_t;

/* Appends \a z; out of memory leaves it out (the core aborts only at start-up). */
static void gather_push(gather_t *g, const mns_zone_t *z)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		const mns_zone_t **v = realloc(g->v, cap * sizeof(*v));
		if (v == NULL)
			return;
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n++] = z;
}

static void gather_one(const mns_zone_t *z, void *data)
{
	gather_t *g = data;
	if (z->kind != MNS_ZONE_SUBTREE || knot_dname_in_bailiwick(z->apex, g->top->apex) <= 0)
		return;
	/* Only subtrees whose closest enclosing real zone is the top one. */
	if (mns_index_enclosing(g->idx, z) == g->top)
		gather_push(g, z);
}

/* Zones of the transfer of \a z (malloc'd array, \a z first). Inside a read section. */
static const mns_zone_t **transfer_zones(const mns_index_t *idx, const mns_zone_t *z, size_t *n)
{
	gather_t g = {.top = z, .idx = idx};
	g.v = malloc(16 * sizeof(*g.v));
	if (g.v == NULL)
		return NULL;
	g.cap = 16;
	g.v[g.n++] = z;
	if (idx != NULL && z->kind != MNS_ZONE_TENANT)
		mns_index_foreach(idx, gather_one, &g);
	*n = g.n;
	return g.v;
}

/* Records a new version of \a z in its state: a diff against the last one. */
static void history_update(mns_xfr_t *x, zstate_t *st, const mns_zone_t *z, const mns_index_t *idx)
{
	/* No ACL entry: every transfer is refused, so no IXFR can use the
	 * snapshot, a copy of every record (half the memory of the zones). */
	if (x->conf.ixfr_history == 0 || x->conf.n_acl == 0 || z->soa == NULL)
		return;
	size_t nz = 0;
	const mns_zone_t **zones = transfer_zones(idx, z, &nz);
	if (zones == NULL)
		return;
	mns_xfr_iter_t it = {.zones = zones, .n_zones = nz, .index = idx};
	snapshot_t sn = {0};
	const knot_rrset_t *rr;
	while (!sn.failed && (rr = mns_xfr_iter_next(&it)) != NULL)
		snap_add(&sn, rr);
	free(zones);
	if (sn.failed) {
		rrv_free(sn.v, sn.n);
		return;
	}
	if (sn.n > 1)
		qsort(sn.v, sn.n, sizeof(*sn.v), rr_cmp);
	knot_rrset_t *soa = knot_rrset_copy(z->soa, NULL);
	if (st->soa != NULL && soa != NULL && st->serial != z->serial) {
		diff_t d = {.soa_from = st->soa, .soa_to = knot_rrset_copy(soa, NULL)};
		d.del = calloc(st->n_snap + 1, sizeof(*d.del));
		d.add = calloc(sn.n + 1, sizeof(*d.add));
		size_t i = 0, j = 0;
		bool ok = d.del && d.add && d.soa_to;
		while (ok && (i < st->n_snap || j < sn.n)) {
			int c = i == st->n_snap ? 1
			        : j == sn.n     ? -1
			                        : rr_cmp(&st->snap[i], &sn.v[j]);
			if (c == 0) {
				i++;
				j++;
			} else if (c < 0) {
				ok = (d.del[d.n_del++] = knot_rrset_copy(st->snap[i++], NULL)) !=
				     NULL;
			} else {
				ok = (d.add[d.n_add++] = knot_rrset_copy(sn.v[j++], NULL)) != NULL;
			}
		}
		st->soa = NULL; /* moved into the diff */
		if (!ok) {
			diff_free(&d);
		} else {
			if (st->n_hist >= x->conf.ixfr_history) {
				diff_free(&st->hist[0]);
				memmove(st->hist, st->hist + 1,
				        (st->n_hist - 1) * sizeof(*st->hist));
				st->n_hist--;
			}
			diff_t *h = realloc(st->hist, (st->n_hist + 1) * sizeof(*h));
			if (h == NULL) {
				diff_free(&d);
			} else {
				st->hist = h;
				st->hist[st->n_hist++] = d;
			}
		}
	}
	knot_rrset_free(st->soa, NULL);
	st->soa = soa;
	rrv_free(st->snap, st->n_snap);
	st->snap = sn.v;
	st->n_snap = sn.n;
}

/* The RRs of an IXFR from \a from to the current version, or NULL when the
 * history does not reach back to \a from. */
static const knot_rrset_t **ixfr_rrs(const zstate_t *st, uint32_t from, uint32_t to, size_t *n)
{
	size_t first = st->n_hist;
	for (size_t i = 0; i < st->n_hist; i++)
		if (knot_soa_serial(st->hist[i].soa_from->rrs.rdata) == from)
			first = i;
	if (first == st->n_hist ||
	    knot_soa_serial(st->hist[st->n_hist - 1].soa_to->rrs.rdata) != to)
		return NULL;
	size_t total = 0;
	for (size_t i = first; i < st->n_hist; i++) {
		if (i > first && knot_soa_serial(st->hist[i].soa_from->rrs.rdata) !=
		                     knot_soa_serial(st->hist[i - 1].soa_to->rrs.rdata))
			return NULL;
		total += 2 + st->hist[i].n_del + st->hist[i].n_add;
	}
	const knot_rrset_t **v = malloc((total + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	size_t k = 0;
	for (size_t i = first; i < st->n_hist; i++) {
		const diff_t *d = &st->hist[i];
		v[k++] = d->soa_from;
		for (size_t j = 0; j < d->n_del; j++)
			v[k++] = d->del[j];
		v[k++] = d->soa_to;
		for (size_t j = 0; j < d->n_add; j++)
			v[k++] = d->add[j];
	}
	*n = k;
	return v;
}

/* --- following publications ---------------------------------------------------- */

static void observe(const mns_zone_t *z, bool published, void *data)
{
	mns_xfr_t *x = data;
	if (z->kind == MNS_ZONE_SUBTREE)
		return; /* the enclosing zone is republished with a new serial */
	if (!published) {
		zremove(x, z->apex);
		x->catalog_dirty = true;
		flush_arm(x);
		return;
	}
	zstate_t *st = zfind(x, z->apex);
	if (st == NULL) {
		x->catalog_dirty = true;
		flush_arm(x);
		if ((st = zget(x, z->apex)) == NULL)
			return;
	} else if (st->serial == z->serial && st->soa != NULL) {
		return;
	}
	history_update(x, st, z, x->s->index);
	st->serial = z->serial;
	mark_pending(x, st);
}

static void member_one(const mns_zone_t *z, void *data)
{
	gather_t *g = data;
	if (z->kind == MNS_ZONE_SUBTREE || z->soa == NULL)
		return;
	gather_push(g, z);
}

/* A rebuild costs time linear in the zones served; after one that took d,
 * the next periodic one waits CATALOG_PACE * d, so that bulk additions (each
 * marking the catalog dirty) spend at most about 1/CATALOG_PACE of the loop
 * rebuilding it, instead of a rebuild per notify-delay (quadratic in all). */
#define CATALOG_PACE 10

/* Rebuilds the catalog from the zones in the index, with a new serial. */
static void catalog_rebuild(mns_xfr_t *x)
{
	if (x->conf.catalog == NULL || !x->catalog_dirty)
		return;
	uint64_t t0 = mns_now_ms();
	x->catalog_dirty = false;
	mns_error_t err = {0};
	mns_txn_t *txn = NULL;
	uint32_t serial = (uint32_t)time(NULL);
	if (x->s->store != NULL) {
		if (mns_txn_begin(x->s->store, true, &txn, &err) == MNS_OK &&
		    mns_store_next_serial(txn, serial, &serial, &err) == MNS_OK)
			mns_txn_commit(txn, &err);
		else
			mns_txn_abort(txn);
	}
	gather_t g = {0};
	mns_rcu_read_lock();
	mns_index_foreach(x->s->index, member_one, &g);
	const knot_dname_t **members = calloc(g.n + 1, sizeof(*members));
	for (size_t i = 0; members && i < g.n; i++)
		members[i] = g.v[i]->apex;
	mns_zone_t *cat = NULL;
	int ret = members ? mns_xfr_catalog_build(x->conf.catalog, members, g.n,
	                                          x->conf.catalog_group, serial, &cat, &err)
	                  : MNS_ENOMEM;
	mns_rcu_read_unlock();
	free(members);
	free(g.v);
	if (ret != MNS_OK) {
		mns_log(MNS_LOG_ERR, "xfr, catalog not rebuilt: %s", err.message);
		x->catalog_dirty = true;
		return;
	}
	mns_zone_free(x->catalog);
	x->catalog = cat;
	zstate_t *st = zget(x, cat->apex);
	if (st != NULL) {
		history_update(x, st, cat, NULL);
		st->serial = cat->serial;
		mark_pending(x, st);
	}
	uint64_t took = mns_now_ms() - t0;
	x->catalog_next_ms = mns_now_ms() + CATALOG_PACE * took;
	mns_log(MNS_LOG_INFO, "xfr, catalog members=%zu serial=%u (%llu ms)", g.n, serial,
	        (unsigned long long)took);
}

/* --- NOTIFY ------------------------------------------------------------------------ */

static const char *addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[64] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		uv_ip4_name((const struct sockaddr_in *)ss, a, sizeof(a));
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)ss, a, sizeof(a));
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	}
	snprintf(buf, len, "%s@%d", a, port);
	return buf;
}

static void notify_send(mns_xfr_t *x, zstate_t *z, size_t t)
{
	notify_tx_t *tx = &z->tx[t];
	const knot_tsig_key_t *key =
	    x->conf.notify_key >= 0 ? &x->conf.keys[x->conf.notify_key] : NULL;
	uint8_t wire[1024];
	knot_pkt_t *p = knot_pkt_new(wire, sizeof(wire), NULL);
	if (p == NULL)
		return;
	knot_pkt_clear(p);
	int ret = knot_pkt_put_question(p, z->apex, KNOT_CLASS_IN, KNOT_RRTYPE_SOA);
	if (ret == KNOT_EOK) {
		knot_wire_set_opcode(p->wire, KNOT_OPCODE_NOTIFY);
		knot_wire_set_aa(p->wire);
		knot_wire_set_id(p->wire, tx->id);
		tx->mac_len = sizeof(tx->mac);
		if (key != NULL)
			ret = knot_tsig_sign(p->wire, &p->size, p->max_size, NULL, 0, tx->mac,
			                     &tx->mac_len, key, 0, 0);
	}
	if (ret == KNOT_EOK && x->started) {
		uv_buf_t b = uv_buf_init((char *)p->wire, (unsigned)p->size);
		(void)uv_udp_try_send(&x->sock, &b, 1, (const struct sockaddr *)&x->conf.notify[t]);
	}
	knot_pkt_free(p);
	tx->attempts++;
	tx->due = mns_now_ms() + ((uint64_t)x->conf.notify_timeout_ms << (tx->attempts - 1));
}

static void retry_cb(uv_timer_t *t);

static void notify_start(mns_xfr_t *x, zstate_t *z)
{
	for (size_t t = 0; t < x->conf.n_notify; t++) {
		notify_tx_t *tx = &z->tx[t];
		if (!tx->active)
			x->n_active++;
		tx->active = true;
		tx->attempts = 0;
		tx->id = x->next_id++;
		notify_send(x, z, t);
	}
	if (x->n_active > 0 && !uv_is_active((uv_handle_t *)&x->retry))
		uv_timer_start(&x->retry, retry_cb, 100, 100);
}

static void retry_cb(uv_timer_t *t)
{
	mns_xfr_t *x = t->data;
	uint64_t now = mns_now_ms();
	for (size_t h = 0; h < ZHASH && x->n_active > 0; h++) {
		for (zstate_t *z = x->zones[h]; z; z = z->next) {
			for (size_t i = 0; i < x->conf.n_notify; i++) {
				notify_tx_t *tx = &z->tx[i];
				if (!tx->active || tx->due > now)
					continue;
				if (tx->attempts >= x->conf.notify_retries) {
					char zn[KNOT_DNAME_TXT_MAXLEN + 1], an[80];
					knot_dname_to_str(zn, z->apex, sizeof(zn));
					mns_log(MNS_LOG_WARNING,
					        "xfr, NOTIFY zone=%s to=%s serial=%u failed: no "
					        "answer after %u attempts",
					        zn, addr_text(&x->conf.notify[i], an, sizeof(an)),
					        z->serial, tx->attempts);
					tx->active = false;
					x->n_active--;
					continue;
				}
				notify_send(x, z, i);
			}
		}
	}
	if (x->n_active == 0)
		uv_timer_stop(&x->retry);
}

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static void sock_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	mns_xfr_t *x = h->data;
	*buf = uv_buf_init((char *)x->rx, sizeof(x->rx));
}

static void sock_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                      unsigned flags)
{
	mns_xfr_t *x = h->data;
	if (nread < KNOT_WIRE_HEADER_SIZE || addr == NULL ||
	    !knot_wire_get_qr((uint8_t *)buf->base))
		return;
	uint16_t id = knot_wire_get_id((uint8_t *)buf->base);
	for (size_t hh = 0; hh < ZHASH; hh++) {
		for (zstate_t *z = x->zones[hh]; z; z = z->next) {
			for (size_t i = 0; i < x->conf.n_notify; i++) {
				notify_tx_t *tx = &z->tx[i];
				if (!tx->active || tx->id != id ||
				    !same_addr(addr, &x->conf.notify[i]))
					continue;
				char zn[KNOT_DNAME_TXT_MAXLEN + 1], an[80];
				knot_dname_to_str(zn, z->apex, sizeof(zn));
				addr_text(&x->conf.notify[i], an, sizeof(an));
				knot_pkt_t *p = knot_pkt_new(buf->base, (size_t)nread, NULL);
				int ret = p ? knot_pkt_parse(p, 0) : KNOT_ENOMEM;
				uint8_t rc = knot_wire_get_rcode((uint8_t *)buf->base);
				/* An error (NOTAUTH for a zone the secondary does not
				 * have yet) may come unsigned. */
				if (ret == KNOT_EOK && x->conf.notify_key >= 0 &&
				    (rc == KNOT_RCODE_NOERROR || p->tsig_rr != NULL))
					ret = p->tsig_rr == NULL
					          ? KNOT_TSIG_EBADKEY
					          : knot_tsig_client_check(
					                p->tsig_rr, p->wire, p->size, tx->mac,
					                tx->mac_len,
					                &x->conf.keys[x->conf.notify_key], 0);
				if (ret != KNOT_EOK)
					mns_log(MNS_LOG_WARNING,
					        "xfr, NOTIFY zone=%s to=%s: bad response (%s)", zn,
					        an, knot_strerror(ret));
				else if (rc != KNOT_RCODE_NOERROR)
					mns_log(MNS_LOG_NOTICE,
					        "xfr, NOTIFY zone=%s to=%s serial=%u: rcode %u", zn,
					        an, z->serial, rc);
				else
					mns_log(MNS_LOG_DEBUG,
					        "xfr, NOTIFY zone=%s to=%s serial=%u: ok", zn, an,
					        z->serial);
				knot_pkt_free(p);
				tx->active = false;
				x->n_active--;
				return;
			}
		}
	}
}

static void flush_cb(uv_timer_t *t)
{
	mns_xfr_t *x = t->data;
	uint64_t now = mns_now_ms();
	if (x->catalog_dirty && now < x->catalog_next_ms)
		/* Too soon after the last rebuild: the NOTIFYs below go now, the
		 * catalog (and its NOTIFY) when its pace allows. */
		uv_timer_start(&x->flush, flush_cb, x->catalog_next_ms - now, 0);
	else
		catalog_rebuild(x);
	size_t n = x->n_pending;
	for (size_t i = 0; i < n; i++) {
		zstate_t *z = x->pending[i];
		if (z == NULL)
			continue;
		z->pending = false;
		notify_start(x, z);
	}
	x->n_pending = 0;
	if (n > 0)
		mns_log(MNS_LOG_INFO, "xfr, NOTIFY sent for %zu zone(s) to %zu secondar%s", n,
		        x->conf.n_notify, x->conf.n_notify == 1 ? "y" : "ies");
}

/* --- requests ------------------------------------------------------------------------ */

/* A quick look at the raw message: false when it is certainly an ordinary
 * query (not AXFR/IXFR, not for the catalog, no TSIG), so the answering path
 * gets it without a second parse. Anything unusual: true (parse it). */
static bool maybe_ours(const mns_xfr_t *x, const uint8_t *q, size_t qlen)
{
	const uint8_t *end = q + qlen, *p = q + KNOT_WIRE_HEADER_SIZE;
	int n = knot_dname_wire_check(p, end, NULL);
	/* A question that does not parse is FORMERR wherever it is answered:
	 * the query thread answers it, without the hand-off's lock and copy. */
	if (n <= 0 || p + n + 4 > end)
		return false;
	uint16_t qtype = knot_wire_read_u16(p + n);
	if (qtype == KNOT_RRTYPE_AXFR || qtype == KNOT_RRTYPE_IXFR)
		return true;
	if (x->conf.catalog != NULL) {
		knot_dname_storage_t lc;
		memcpy(lc, p, (size_t)n);
		knot_dname_to_lower(lc);
		if (knot_dname_in_bailiwick(lc, x->conf.catalog) >= 0)
			return true;
	}
	p += n + 4;
	unsigned rrs = (unsigned)knot_wire_get_ancount(q) + knot_wire_get_nscount(q) +
	               knot_wire_get_arcount(q);
	for (unsigned i = 0; i < rrs; i++) {
		n = knot_dname_wire_check(p, end, NULL);
		if (n <= 0 || p + n + 10 > end)
			return true;
		if (knot_wire_read_u16(p + n) == KNOT_RRTYPE_TSIG)
			return true;
		p += n + 10 + knot_wire_read_u16(p + n + 8);
		if (p > end)
			return true;
	}
	return false;
}

/* The header checks of parse(), then maybe_ours(): no parse, no lock. */
static bool wants(const mns_xfr_t *x, const uint8_t *q, size_t qlen)
{
	return qlen >= KNOT_WIRE_HEADER_SIZE && qlen <= KNOT_WIRE_MAX_PKTSIZE &&
	       !knot_wire_get_qr(q) && knot_wire_get_opcode(q) == KNOT_OPCODE_QUERY &&
	       knot_wire_get_qdcount(q) == 1 && maybe_ours(x, q, qlen);
}

bool mns_xfr_wants(const mns_server_t *s, const uint8_t *q, size_t qlen)
{
	/* s->xfr and x->conf are set before the query threads start and stay
	 * until they stopped (reload does not change [xfr]). */
	return s->xfr != NULL && wants(s->xfr, q, qlen);
}

/* Parses a copy of \a q into the arena. \return NULL when it is not a
 * well-formed single-question QUERY (the answering path handles those). */
static knot_pkt_t *parse(mns_xfr_t *x, const uint8_t *q, size_t qlen)
{
	if (!wants(x, q, qlen))
		return NULL;
	knot_mm_t mm;
	mns_arena_reset(&x->arena);
	mns_arena_mm(&x->arena, &mm);
	uint8_t *w = mm.alloc(mm.ctx, qlen);
	if (w == NULL)
		return NULL;
	memcpy(w, q, qlen);
	knot_pkt_t *p = knot_pkt_new(w, (uint16_t)qlen, &mm);
	if (p == NULL || knot_pkt_parse(p, 0) != KNOT_EOK || knot_pkt_qname(p) == NULL)
		return NULL;
	return p;
}

static bool is_catalog(const mns_xfr_t *x, const knot_dname_t *qname)
{
	return x->conf.catalog != NULL && knot_dname_in_bailiwick(qname, x->conf.catalog) >= 0;
}

/* Transfer (or catalog) request \a p from \a from: appends the answer to \a o. */
static void answer(mns_xfr_t *x, const knot_pkt_t *p, const struct sockaddr *from, bool tcp,
                   mns_xfr_auth_t auth, mns_xfr_out_t *o)
{
	const knot_tsig_key_t *key = auth.key >= 0 ? &x->conf.keys[auth.key] : NULL;
	const knot_dname_t *qname = knot_pkt_qname(p);
	uint16_t qtype = knot_pkt_qtype(p);
	bool cat = is_catalog(x, qname);
	if (!mns_xfr_acl_allows(&x->conf, from, auth.key)) {
		mns_xfr_write_error(p, KNOT_RCODE_REFUSED, 0, key, o);
		return;
	}
	if (knot_pkt_qclass(p) != KNOT_CLASS_IN) {
		mns_xfr_write_error(p, KNOT_RCODE_REFUSED, 0, key, o);
		return;
	}
	if (qtype == KNOT_RRTYPE_AXFR && !tcp) {
		mns_xfr_write_error(p, KNOT_RCODE_FORMERR, 0, key, o);
		return;
	}
	const mns_zone_t *z;
	if (cat) {
		catalog_rebuild(x);
		z = x->catalog;
		if (z == NULL || !knot_dname_is_equal(qname, z->apex) ||
		    (qtype != KNOT_RRTYPE_SOA && qtype != KNOT_RRTYPE_AXFR &&
		     qtype != KNOT_RRTYPE_IXFR)) {
			mns_xfr_write_error(p, KNOT_RCODE_REFUSED, 0, key, o);
			return;
		}
	} else {
		z = mns_index_get(x->s->index, qname);
		if (z == NULL || z->kind == MNS_ZONE_SUBTREE || z->soa == NULL) {
			mns_xfr_write_error(p, KNOT_RCODE_NOTAUTH, 0, key, o);
			return;
		}
	}
	char zn[KNOT_DNAME_TXT_MAXLEN + 1];
	knot_dname_to_str(zn, z->apex, sizeof(zn));
	if (qtype == KNOT_RRTYPE_SOA || (qtype == KNOT_RRTYPE_IXFR && !tcp)) {
		mns_xfr_write(p, z->soa, NULL, NULL, 0, true, key, o);
		return;
	}
	if (qtype == KNOT_RRTYPE_IXFR) {
		const knot_pktsection_t *auth_sec = knot_pkt_section(p, KNOT_AUTHORITY);
		const knot_rrset_t *csoa = auth_sec->count > 0 ? knot_pkt_rr(auth_sec, 0) : NULL;
		if (csoa == NULL || csoa->type != KNOT_RRTYPE_SOA || csoa->rrs.count == 0) {
			mns_xfr_write_error(p, KNOT_RCODE_FORMERR, 0, key, o);
			return;
		}
		uint32_t have = knot_soa_serial(csoa->rrs.rdata);
		if (!mns_serial_lt(have, z->serial)) {
			mns_xfr_write(p, z->soa, NULL, NULL, 0, true, key, o);
			mns_log(MNS_LOG_INFO, "xfr, IXFR zone=%s serial=%u: up to date", zn,
			        z->serial);
			return;
		}
		zstate_t *st = zfind(x, z->apex);
		size_t n = 0;
		const knot_rrset_t **rrs = st ? ixfr_rrs(st, have, z->serial, &n) : NULL;
		if (rrs != NULL) {
			size_t before = o->len;
			int ret = mns_xfr_write(p, z->soa, NULL, rrs, n, false, key, o);
			free(rrs);
			mns_log(MNS_LOG_INFO,
			        "xfr, IXFR zone=%s serial=%u->%u rrs=%zu octets=%zu%s", zn, have,
			        z->serial, n, o->len - before, ret == MNS_OK ? "" : " failed");
			return;
		}
		/* Not in the history: a full transfer (RFC 1995 4). */
	}
	size_t nz = 0;
	const mns_zone_t **zones = cat ? NULL : transfer_zones(x->s->index, z, &nz);
	const mns_zone_t *one[1] = {z};
	mns_xfr_iter_t it = {.zones = zones ? zones : one,
	                     .n_zones = zones ? nz : 1,
	                     .index = cat ? NULL : x->s->index};
	size_t before = o->len;
	int ret = mns_xfr_write(p, z->soa, &it, NULL, 0, false, key, o);
	free(zones);
	if (ret != MNS_OK) {
		o->len = before;
		mns_xfr_write_error(p, KNOT_RCODE_SERVFAIL, 0, key, o);
	}
	mns_log(MNS_LOG_INFO, "xfr, %s zone=%s serial=%u octets=%zu%s",
	        qtype == KNOT_RRTYPE_IXFR ? "IXFR(full)" : "AXFR", zn, z->serial,
	        before < o->len ? o->len - before : 0, ret == MNS_OK ? "" : " failed");
}

/* Shared by UDP and TCP. \return false to pass \a q on to mns_dns_process. */
static bool handle(mns_server_t *s, const struct sockaddr *from, const uint8_t *q, size_t qlen,
                   bool tcp, size_t udp_limit, mns_xfr_out_t *o)
{
	mns_xfr_t *x = s->xfr;
	if (x == NULL)
		return false;
	knot_pkt_t *p = parse(x, q, qlen);
	if (p == NULL)
		return false;
	uint16_t qtype = knot_pkt_qtype(p);
	bool xfr = qtype == KNOT_RRTYPE_AXFR || qtype == KNOT_RRTYPE_IXFR;
	bool cat = is_catalog(x, knot_pkt_qname(p));
	if (!xfr && !cat && p->tsig_rr == NULL)
		return false;
	mns_xfr_auth_t auth = mns_xfr_tsig_check(&x->conf, p);
	if (auth.rcode != 0) {
		char an[80];
		struct sockaddr_storage ss = {0};
		memcpy(&ss, from,
		       from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                   : sizeof(struct sockaddr_in));
		mns_log(MNS_LOG_NOTICE, "xfr, request from %s: TSIG error %u",
		        addr_text(&ss, an, sizeof(an)), auth.tsig_error);
		mns_xfr_write_error(p, auth.rcode, auth.tsig_error, NULL, o);
		return true;
	}
	mns_rcu_read_lock();
	if (xfr || cat) {
		answer(x, p, from, tcp, auth, o);
	} else {
		/* A signed ordinary query: answer it as usual, then sign. */
		const knot_tsig_key_t *key = &x->conf.keys[auth.key];
		size_t tsize = knot_tsig_wire_size(key);
		/* UDP: 512 without EDNS, else the client's size within ours, TSIG included. */
		size_t limit = tcp ? KNOT_WIRE_MAX_PKTSIZE : 512;
		if (!tcp && limit > udp_limit)
			limit = udp_limit;
		if (p->opt_rr != NULL && !tcp) {
			uint16_t client = knot_edns_get_payload(p->opt_rr);
			uint16_t server = s->dns_conf.udp_max_payload;
			limit = client < 512 ? 512 : client;
			if (limit > server)
				limit = server;
		}
		uint8_t *wire = malloc(KNOT_WIRE_MAX_PKTSIZE);
		if (wire != NULL && limit > tsize + KNOT_WIRE_HEADER_SIZE) {
			size_t n = mns_dns_process(&s->dns, p->wire, p->size, wire, limit - tsize,
			                           tcp ? MNS_TRANSPORT_TCP : MNS_TRANSPORT_UDP);
			uint8_t digest[64];
			size_t dlen = sizeof(digest);
			if (n > 0 &&
			    knot_tsig_sign(wire, &n, limit, knot_tsig_rdata_mac(p->tsig_rr),
			                   knot_tsig_rdata_mac_length(p->tsig_rr), digest, &dlen,
			                   key, 0, 0) == KNOT_EOK)
				mns_xfr_out_append(o, wire, n);
		}
		free(wire);
	}
	mns_rcu_read_unlock();
	return true;
}

bool mns_xfr_udp(mns_server_t *s, const struct sockaddr *from, const uint8_t *q, size_t qlen,
                 uint8_t *resp, size_t resp_max, size_t *out)
{
	mns_xfr_out_t o = {0};
	if (!handle(s, from, q, qlen, false, resp_max, &o))
		return false;
	*out = 0;
	if (o.len >= 2) {
		size_t n = (size_t)o.buf[0] << 8 | o.buf[1];
		if (n + 2 <= o.len && n <= resp_max) {
			memcpy(resp, o.buf + 2, n);
			*out = n;
		}
	}
	mns_xfr_out_free(&o);
	return true;
}

bool mns_xfr_tcp(mns_server_t *s, const struct sockaddr *from, const uint8_t *q, size_t qlen,
                 uint8_t **out, size_t *outlen)
{
	mns_xfr_out_t o = {0};
	if (!handle(s, from, q, qlen, true, KNOT_WIRE_MAX_PKTSIZE, &o))
		return false;
	if (o.len == 0) {
		mns_xfr_out_free(&o);
		*out = NULL;
		*outlen = 0;
		return true;
	}
	*out = o.buf;
	*outlen = o.len;
	return true;
}

/* --- lifecycle ------------------------------------------------------------------------ */

int mns_xfr_init(mns_server_t *s, char *errbuf, size_t errlen)
{
	json_t *j = NULL;
	int ret = mns_conf_section_json(s->conf, "xfr", mns_xfr_schema, &j, errbuf, errlen);
	if (ret != MNS_OK)
		return ret;
	mns_xfr_t *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		json_decref(j);
		return MNS_ENOMEM;
	}
	x->s = s;
	mns_error_t err = {0};
	ret = mns_xfr_conf_parse(j, &x->conf, &err);
	json_decref(j);
	if (ret != MNS_OK) {
		mns_conf_locate(s->conf, "xfr", &err, errbuf, errlen);
		mns_xfr_conf_deinit(&x->conf);
		free(x);
		return MNS_EINVAL;
	}
	if (mns_arena_init(&x->arena, MNS_DNS_ARENA_SIZE) != 0) {
		mns_xfr_conf_deinit(&x->conf);
		free(x);
		return MNS_ENOMEM;
	}
	x->next_id = (uint16_t)(mns_now_ms() * 2654435761u);
	s->xfr = x;
	/* With no ACL entry (every transfer and catalog query refused) and no
	 * NOTIFY target nobody can learn of a zone change from us: following
	 * the publications (a state per zone, the catalog) would only cost
	 * memory and time, ~150 bytes and a catalog entry per tenant. */
	if (x->conf.n_acl > 0 || x->conf.n_notify > 0) {
		x->catalog_dirty = x->conf.catalog != NULL;
		mns_index_set_observer(s->index, observe, x);
	}
	return MNS_OK;
}

static void handle_closed(uv_handle_t *h)
{
	mns_xfr_t *x = h->data;
	x->open_handles--;
}

int mns_xfr_start(mns_server_t *s)
{
	mns_xfr_t *x = s->xfr;
	if (x == NULL)
		return MNS_OK;
	uv_timer_init(s->loop, &x->flush);
	uv_timer_init(s->loop, &x->retry);
	x->flush.data = x->retry.data = x;
	x->open_handles = 2;
	uv_unref((uv_handle_t *)&x->flush);
	uv_unref((uv_handle_t *)&x->retry);
	x->started = true;
	if (x->conf.n_notify > 0) {
		uv_udp_init(s->loop, &x->sock);
		x->sock.data = x;
		x->open_handles++;
		/* NOTIFYs come from the first listen address of the targets'
		 * family, so a secondary's ACL can name the address it knows. */
		int family = x->conf.notify[0].ss_family;
		struct sockaddr_storage ss = {0};
		ss.ss_family = (sa_family_t)family;
		for (size_t i = 0; i < s->conf->n_listen; i++) {
			const mns_listen_t *l = &s->conf->listen[i];
			bool v6 = strchr(l->addr, ':') != NULL;
			if (v6 == (family == AF_INET6)) {
				if (v6)
					uv_ip6_addr(l->addr, 0, (struct sockaddr_in6 *)&ss);
				else
					uv_ip4_addr(l->addr, 0, (struct sockaddr_in *)&ss);
				break;
			}
		}
		int rc = uv_udp_bind(&x->sock, (struct sockaddr *)&ss, 0);
		if (rc == 0)
			rc = uv_udp_recv_start(&x->sock, sock_alloc, sock_recv);
		if (rc != 0) {
			mns_log(MNS_LOG_ERR, "xfr, cannot open the NOTIFY socket (%s)",
			        uv_strerror(rc));
			return MNS_ERROR;
		}
		uv_unref((uv_handle_t *)&x->sock);
		/* Everything published so far: tell the secondaries once. */
		for (size_t h = 0; h < ZHASH; h++)
			for (zstate_t *z = x->zones[h]; z; z = z->next)
				mark_pending(x, z);
	}
	/* The catalog of every zone published at start-up is built now, before
	 * READY, rather than on the loop after it (where it held up the first
	 * control replies for a second per 100,000 zones). */
	catalog_rebuild(x);
	if (x->catalog_dirty || x->n_pending > 0)
		uv_timer_start(&x->flush, flush_cb, x->conf.notify_delay_ms, 0);
	return MNS_OK;
}

void mns_xfr_stop(mns_server_t *s)
{
	mns_xfr_t *x = s->xfr;
	if (x == NULL || !x->started)
		return;
	x->started = false;
	uv_close((uv_handle_t *)&x->flush, handle_closed);
	uv_close((uv_handle_t *)&x->retry, handle_closed);
	if (x->conf.n_notify > 0)
		uv_close((uv_handle_t *)&x->sock, handle_closed);
}

void mns_xfr_deinit(mns_server_t *s)
{
	mns_xfr_t *x = s->xfr;
	if (x == NULL)
		return;
	if (x->started)
		mns_xfr_stop(s);
	if (x->open_handles > 0 && s->loop)
		uv_run(s->loop, UV_RUN_NOWAIT);
	mns_index_set_observer(s->index, NULL, NULL);
	for (size_t h = 0; h < ZHASH; h++) {
		while (x->zones[h]) {
			zstate_t *z = x->zones[h];
			x->zones[h] = z->next;
			zstate_free(x, z);
		}
	}
	free(x->pending);
	mns_zone_free(x->catalog);
	mns_arena_deinit(&x->arena);
	mns_xfr_conf_deinit(&x->conf);
	free(x);
	s->xfr = NULL;
}
