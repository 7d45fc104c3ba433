/*  verify: state machine, schedule, answer reading and diagnosis (no I/O).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libknot/libknot.h>

#include "verify_logic.h"

const mns_vsched_t mns_verify_sched_defaults = {
    .first_check = 5,
    .pending_initial = 60,
    .pending_max = 3600,
    .pending_deadline = 7 * 86400,
    .verified_interval = 86400,
    .lost_interval = 900,
    .lost_after = 3,
    .startup_spread = 600,
};

static const char *const state_names[MNS_VS_COUNT] = {"pending", "verified", "lost", "failed"};

const char *mns_verify_state_name(mns_vstate_t s)
{
	return (unsigned)s < MNS_VS_COUNT ? state_names[s] : "pending";
}

bool mns_verify_state_parse(const char *name, mns_vstate_t *out)
{
	for (int i = 0; name != NULL && i < MNS_VS_COUNT; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (mns_vstate_t)i;
			return true;
		}
	}
	return false;
}

/* --- State machine and schedule ---------------------------------------------- */

int64_t mns_verify_backoff(const mns_vsched_t *c, int64_t failures)
{
	int64_t d = c->pending_initial > 0 ? c->pending_initial : 1;
	for (int64_t i = 1; i < failures && d < c->pending_max; i++)
		d *= 2;
	return d < c->pending_max ? d : c->pending_max;
}

bool mns_verify_apply(const mns_vsched_t *c, mns_vrec_t *r, mns_voutcome_t o, bool manual,
                      int64_t now)
{
	mns_vstate_t old = r->state;
	if (manual && r->state == MNS_VS_FAILED) {
		/* verify.now re-arms: pending again, with a fresh deadline. */
		r->state = MNS_VS_PENDING;
		r->since = now;
		r->failures = 0;
	}
	if (o == MNS_VO_INCONCLUSIVE) {
		/* Nothing was learnt about the tenant: no state change, no count;
		 * try again soon. */
		if (r->state == MNS_VS_PENDING)
			r->next_check =
			    now + mns_verify_backoff(c, r->failures > 0 ? r->failures : 1);
		else if (r->state == MNS_VS_FAILED)
			r->next_check = 0;
		else
			r->next_check = now + c->lost_interval;
		return r->state != old;
	}
	r->last_check = now;
	if (o == MNS_VO_PASS) {
		if (r->state != MNS_VS_VERIFIED) {
			r->state = MNS_VS_VERIFIED;
			r->since = now;
		}
		r->failures = 0;
		r->next_check = now + c->verified_interval;
		return r->state != old;
	}
	r->failures++;
	switch (r->state) {
	case MNS_VS_PENDING:
		if (now - r->since >= c->pending_deadline) {
			r->state = MNS_VS_FAILED;
			r->since = now;
			r->next_check = 0;
		} else {
			r->next_check = now + mns_verify_backoff(c, r->failures);
		}
		break;
	case MNS_VS_VERIFIED:
		if (r->failures >= c->lost_after) {
			r->state = MNS_VS_LOST;
			r->since = now;
		}
		/* Until then, re-check soon rather than in a day: a real loss is
		 * noticed within lost-after × lost-interval. */
		r->next_check = now + c->lost_interval;
		break;
	case MNS_VS_LOST:
		r->next_check = now + c->lost_interval;
		break;
	case MNS_VS_FAILED:
		r->next_check = 0;
		break;
	}
	return r->state != old;
}

static int64_t state_interval(const mns_vsched_t *c, mns_vstate_t s)
{
	switch (s) {
	case MNS_VS_VERIFIED:
		return c->verified_interval;
	case MNS_VS_LOST:
		return c->lost_interval;
	default:
		return c->pending_max;
	}
}

int64_t mns_verify_resume(const mns_vsched_t *c, const mns_vrec_t *r, int64_t now)
{
	if (r->state == MNS_VS_FAILED)
		return -1;
	if (r->next_check <= now)
		return 0;
	/* A clock that went back, or a config with shorter intervals, must not
	 * postpone a check beyond one interval of the state. */
	int64_t max = now + state_interval(c, r->state);
	return r->next_check < max ? r->next_check : max;
}

int64_t mns_verify_spread(const mns_vsched_t *c, int64_t now, size_t i, size_t n)
{
	int64_t base = now + c->first_check;
	if (n == 0 || c->startup_spread <= 0)
		return base;
	return base + (int64_t)((double)c->startup_spread * (double)i / (double)n);
}

static int64_t get_int(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

void mns_verify_rec_from_json(const json_t *section, mns_vrec_t *r)
{
	memset(r, 0, sizeof(*r));
	if (!mns_verify_state_parse(json_string_value(json_object_get(section, "state")),
	                            &r->state))
		r->state = MNS_VS_PENDING;
	r->since = get_int(section, "since");
	r->last_check = get_int(section, "last_check");
	r->next_check = get_int(section, "next_check");
	r->failures = get_int(section, "failures");
}

void mns_verify_rec_to_json(const mns_vrec_t *r, json_t *section)
{
	json_object_set_new(section, "state", json_string(mns_verify_state_name(r->state)));
	json_object_set_new(section, "since", json_integer(r->since));
	if (r->last_check > 0)
		json_object_set_new(section, "last_check", json_integer(r->last_check));
	if (r->next_check > 0)
		json_object_set_new(section, "next_check", json_integer(r->next_check));
	else
		json_object_del(section, "next_check");
	json_object_set_new(section, "failures", json_integer(r->failures));
}

/* --- Answers ----------------------------------------------------------------- */

void mns_verify_name_norm(const char *in, char *out, size_t len)
{
	size_t n = 0;
	for (; in != NULL && in[n] != '\0' && n + 1 < len; n++)
		out[n] = (char)tolower((unsigned char)in[n]);
	while (n > 1 && out[n - 1] == '.')
		n--;
	if (len > 0)
		out[n] = '\0';
}

void mns_verify_answer_fail(mns_vanswer_t *a, mns_vstatus_t status, const char *detail)
{
	memset(a, 0, sizeof(*a));
	a->status = status;
	snprintf(a->detail, sizeof(a->detail), "%s", detail ? detail : "");
}

static void dname_text(const knot_dname_t *d, char *out, size_t len)
{
	char buf[KNOT_DNAME_TXT_MAXLEN + 1];
	if (knot_dname_to_str(buf, d, sizeof(buf)) == NULL)
		snprintf(buf, sizeof(buf), "?");
	mns_verify_name_norm(buf, out, len);
}

/* The character-strings of one TXT record joined; unprintable octets as '?'. */
static void txt_text(const knot_rdata_t *rd, char *out, size_t len)
{
	size_t o = 0, i = 0;
	while (i < rd->len) {
		size_t n = rd->data[i++];
		for (size_t k = 0; k < n && i < rd->len; k++, i++) {
			unsigned char ch = rd->data[i];
			if (o + 1 < len)
				out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
		}
	}
	out[o] = '\0';
}

static void soa_from_authority(const knot_pkt_t *pkt, mns_vanswer_t *a)
{
	const knot_pktsection_t *auth = knot_pkt_section(pkt, KNOT_AUTHORITY);
	for (uint16_t i = 0; i < auth->count; i++) {
		const knot_rrset_t *rr = knot_pkt_rr(auth, i);
		if (rr->type == KNOT_RRTYPE_SOA) {
			dname_text(rr->owner, a->soa_owner, sizeof(a->soa_owner));
			return;
		}
	}
}

int mns_verify_answer_parse(const uint8_t *wire, size_t len, const char *qname, uint16_t qtype,
                            mns_vanswer_t *a)
{
	if (wire == NULL || qname == NULL || a == NULL)
		return -1;
	memset(a, 0, sizeof(*a));
	knot_dname_storage_t want;
	if (knot_dname_from_str(want, qname, sizeof(want)) == NULL)
		return -1;
	knot_dname_to_lower(want);
	/* The parser may edit the wire (TSIG); work on a copy. */
	uint8_t *copy = malloc(len ? len : 1);
	if (copy == NULL) {
		mns_verify_answer_fail(a, MNS_VA_RESOLVER, "out of memory");
		return 0;
	}
	memcpy(copy, wire, len);
	knot_pkt_t *pkt = knot_pkt_new(copy, len, NULL);
	if (pkt == NULL || len < KNOT_WIRE_HEADER_SIZE || knot_pkt_parse(pkt, 0) != KNOT_EOK) {
		mns_verify_answer_fail(a, MNS_VA_RESOLVER, "malformed response");
		goto out;
	}
	uint8_t rcode = knot_wire_get_rcode(pkt->wire);
	if (rcode == KNOT_RCODE_NXDOMAIN) {
		a->status = MNS_VA_NXDOMAIN;
		soa_from_authority(pkt, a);
		goto out;
	}
	if (rcode == KNOT_RCODE_SERVFAIL) {
		mns_verify_answer_fail(a, MNS_VA_SERVFAIL, "SERVFAIL");
		goto out;
	}
	if (rcode != KNOT_RCODE_NOERROR) {
		const knot_lookup_t *lk = knot_lookup_by_id(knot_rcode_names, rcode);
		char d[64];
		snprintf(d, sizeof(d), "the resolver answered %s", lk ? lk->name : "an error");
		mns_verify_answer_fail(a, MNS_VA_RESOLVER, d);
		goto out;
	}
	/* NOERROR: follow a CNAME chain from the question (when another type
	 * was asked), then take the asked type at the name reached. */
	knot_dname_storage_t cur;
	memcpy(cur, want, knot_dname_size(want));
	const knot_pktsection_t *ans = knot_pkt_section(pkt, KNOT_ANSWER);
	for (int hops = 0; hops < 8 && qtype != KNOT_RRTYPE_CNAME; hops++) {
		const knot_dname_t *next = NULL;
		for (uint16_t i = 0; i < ans->count; i++) {
			const knot_rrset_t *rr = knot_pkt_rr(ans, i);
			if (rr->type == KNOT_RRTYPE_CNAME &&
			    knot_dname_is_case_equal(rr->owner, cur)) {
				next = knot_cname_name(rr->rrs.rdata);
				break;
			}
		}
		if (next == NULL)
			break;
		if (a->cname[0] == '\0')
			dname_text(next, a->cname, sizeof(a->cname));
		knot_dname_copy_lower(cur, next);
	}
	for (uint16_t i = 0; i < ans->count && a->n < MNS_VA_MAX; i++) {
		const knot_rrset_t *rr = knot_pkt_rr(ans, i);
		if (rr->type != qtype || !knot_dname_is_case_equal(rr->owner, cur))
			continue;
		const knot_rdata_t *rd = rr->rrs.rdata;
		for (uint16_t k = 0; k < rr->rrs.count && a->n < MNS_VA_MAX; k++) {
			char *v = a->values[a->n];
			if (qtype == KNOT_RRTYPE_TXT)
				txt_text(rd, v, MNS_VA_LEN);
			else if (qtype == KNOT_RRTYPE_NS || qtype == KNOT_RRTYPE_CNAME)
				dname_text(knot_rdata_name(rd, qtype), v, MNS_VA_LEN);
			else
				snprintf(v, MNS_VA_LEN, "(record)");
			a->n++;
			rd = knot_rdataset_next((knot_rdata_t *)rd);
		}
	}
	a->status = a->n > 0 ? MNS_VA_ANSWER : MNS_VA_NODATA;
	if (a->n == 0)
		soa_from_authority(pkt, a);
out:
	knot_pkt_free(pkt);
	free(copy);
	return 0;
}

/* --- Diagnosis --------------------------------------------------------------- */

/* snprintf for sentences: truncation is acceptable (and not worth a warning). */
static void say(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

/* Failure classes, in the order a diagnosis names them. */
typedef enum fail_kind {
	FK_NONE = 0,
	FK_DEFINITE, /* The tenant's DNS is wrong. */
	FK_RESOLVER, /* We could not ask: inconclusive. */
} fail_kind_t;

static void add_check(json_t *checks, const char *name, const char *type, const char *expected,
                      const char *found, bool ok, const char *reason)
{
	json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "name", name,
	                                        "type", type, "expected", expected, "found", found,
	                                        "ok", ok, "reason", reason));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, deduplicated, normalised names joined by \a sep into \a out. */
static void join_names(const char *const *names, size_t n, const char *sep, char *out, size_t len)
{
	char norm[MNS_VA_MAX * 2][MNS_VA_LEN];
	const char *ptr[MNS_VA_MAX * 2];
	size_t m = 0;
	for (size_t i = 0; i < n && m < MNS_VA_MAX * 2; i++) {
		mns_verify_name_norm(names[i], norm[m], MNS_VA_LEN);
		ptr[m] = norm[m];
		m++;
	}
	qsort(ptr, m, sizeof(ptr[0]), cmp_str);
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < m; i++) {
		if (i > 0 && strcmp(ptr[i], ptr[i - 1]) == 0)
			continue;
		int w = snprintf(out + o, len - o, "%s%s", o ? sep : "", ptr[i]);
		if (w < 0 || (size_t)w >= len - o)
			break;
		o += (size_t)w;
	}
}

static bool name_in(const char *name, const char *const *set, size_t n)
{
	char a[MNS_VA_LEN], b[MNS_VA_LEN];
	mns_verify_name_norm(name, a, sizeof(a));
	for (size_t i = 0; i < n; i++) {
		mns_verify_name_norm(set[i], b, sizeof(b));
		if (strcmp(a, b) == 0)
			return true;
	}
	return false;
}

/* Why a negative answer or failure, for reasons: "NXDOMAIN in example.com". */
static void negative_text(const mns_vanswer_t *a, char *out, size_t len)
{
	const char *what = a->status == MNS_VA_NXDOMAIN ? "NXDOMAIN" : "NODATA";
	if (a->soa_owner[0])
		say(out, len, "%s from zone %s", what, a->soa_owner);
	else
		snprintf(out, len, "%s", what);
}

static fail_kind_t ns_check(const char *apex, const json_t *nameservers, const mns_vanswer_t *ns,
                            json_t *checks, char *reason, size_t rlen)
{
	const char *want[MNS_VA_MAX];
	size_t nwant = 0;
	size_t idx;
	const json_t *v;
	json_array_foreach(nameservers, idx, v)
	{
		if (json_is_string(v) && nwant < MNS_VA_MAX)
			want[nwant++] = json_string_value(v);
	}
	const char *got[MNS_VA_MAX];
	for (size_t i = 0; i < ns->n; i++)
		got[i] = ns->values[i];
	char expected[1024], found[1024], neg[300];
	join_names(want, nwant, " ", expected, sizeof(expected));
	join_names(got, ns->n, " ", found, sizeof(found));
	fail_kind_t kind = FK_DEFINITE;
	switch (ns->status) {
	case MNS_VA_ANSWER:
		if (ns->cname[0]) {
			say(reason, rlen,
			    "no delegation at parent: %s is a CNAME to %s, not a delegation", apex,
			    ns->cname);
			say(found, sizeof(found), "CNAME %s", ns->cname);
			break;
		}
		{
			char missing[1024], extra[1024];
			const char *m[MNS_VA_MAX], *x[MNS_VA_MAX];
			size_t nm = 0, nx = 0;
			for (size_t i = 0; i < nwant; i++)
				if (!name_in(want[i], got, ns->n))
					m[nm++] = want[i];
			for (size_t i = 0; i < ns->n; i++)
				if (!name_in(got[i], want, nwant))
					x[nx++] = got[i];
			if (nm == 0 && nx == 0) {
				say(reason, rlen, "delegated to the vendor's nameservers");
				kind = FK_NONE;
				break;
			}
			join_names(m, nm, ", ", missing, sizeof(missing));
			join_names(x, nx, ", ", extra, sizeof(extra));
			if (nx == ns->n) {
				char list[1024];
				join_names(got, ns->n, ", ", list, sizeof(list));
				say(reason, rlen,
				    "delegated to other nameservers: %s (expected %s)", list,
				    expected);
			} else if (nm > 0 && nx > 0) {
				say(reason, rlen,
				    "the NS set differs from the vendor's: missing %s; not ours %s",
				    missing, extra);
			} else if (nm > 0) {
				say(reason, rlen, "the NS set lacks %s", missing);
			} else {
				say(reason, rlen, "the NS set also names other nameservers: %s",
				    extra);
			}
		}
		break;
	case MNS_VA_NXDOMAIN:
		negative_text(ns, neg, sizeof(neg));
		say(reason, rlen, "no delegation at parent: %s does not exist (%s)", apex, neg);
		break;
	case MNS_VA_NODATA:
		if (ns->soa_owner[0] && strcmp(ns->soa_owner, apex) != 0)
			say(reason, rlen,
			    "no delegation at parent: zone %s has no NS records for %s",
			    ns->soa_owner, apex);
		else if (ns->soa_owner[0])
			say(reason, rlen, "zone %s answers without NS records", apex);
		else
			say(reason, rlen, "no delegation at parent: %s has no NS records (NODATA)",
			    apex);
		break;
	case MNS_VA_SERVFAIL:
	case MNS_VA_TIMEOUT:
		say(reason, rlen,
		    "the delegation does not work: %s for NS %s (its nameservers are lame or "
		    "unreachable)",
		    ns->status == MNS_VA_SERVFAIL ? "the resolver answered SERVFAIL"
		                                  : "no answer in time",
		    apex);
		break;
	case MNS_VA_RESOLVER:
		say(reason, rlen, "the resolvers could not be asked: %s", ns->detail);
		kind = FK_RESOLVER;
		break;
	}
	add_check(checks, apex, "NS", expected, found, kind == FK_NONE, reason);
	return kind;
}

static fail_kind_t txt_check(const char *apex, const char *token, const mns_vanswer_t *txt,
                             json_t *checks, char *reason, size_t rlen)
{
	char name[MNS_VA_LEN + 32], found[1024] = "", neg[300];
	snprintf(name, sizeof(name), "_mailns-challenge.%s", apex);
	size_t o = 0;
	bool match = false;
	for (size_t i = 0; i < txt->n; i++) {
		if (token != NULL && strcmp(txt->values[i], token) == 0)
			match = true;
		int w = snprintf(found + o, sizeof(found) - o, "%s\"%s\"", o ? " " : "",
		                 txt->values[i]);
		if (w < 0 || (size_t)w >= sizeof(found) - o)
			break;
		o += (size_t)w;
	}
	fail_kind_t kind = FK_DEFINITE;
	switch (txt->status) {
	case MNS_VA_ANSWER:
		if (match) {
			say(reason, rlen, "the challenge token is published");
			kind = FK_NONE;
		} else {
			say(reason, rlen, "token mismatch: %s holds %s, not this tenant's token",
			    name, found);
		}
		break;
	case MNS_VA_NXDOMAIN:
	case MNS_VA_NODATA:
		negative_text(txt, neg, sizeof(neg));
		say(reason, rlen, "token missing: no TXT record at %s (%s)", name, neg);
		break;
	case MNS_VA_SERVFAIL:
	case MNS_VA_TIMEOUT:
		say(reason, rlen,
		    "our nameservers are not reachable through the delegation: %s for TXT %s",
		    txt->status == MNS_VA_SERVFAIL ? "the resolver answered SERVFAIL"
		                                   : "no answer in time",
		    name);
		break;
	case MNS_VA_RESOLVER:
		say(reason, rlen, "the resolvers could not be asked: %s", txt->detail);
		kind = FK_RESOLVER;
		break;
	}
	add_check(checks, name, "TXT", token ? token : "", found, kind == FK_NONE, reason);
	return kind;
}

void mns_verify_diagnose_ns(const char *apex, const json_t *nameservers, const char *token,
                            const mns_vanswer_t *ns, const mns_vanswer_t *txt, mns_vresult_t *res)
{
	memset(res, 0, sizeof(*res));
	res->checks = json_array();
	char r1[640], r2[640];
	fail_kind_t k1 = ns_check(apex, nameservers, ns, res->checks, r1, sizeof(r1));
	fail_kind_t k2 = txt_check(apex, token, txt, res->checks, r2, sizeof(r2));
	if (k1 == FK_NONE && k2 == FK_NONE) {
		res->outcome = MNS_VO_PASS;
		say(res->diagnostic, sizeof(res->diagnostic),
		    "verified: %s is delegated to the vendor's nameservers and serves the "
		    "challenge token",
		    apex);
	} else if (k1 == FK_DEFINITE) {
		res->outcome = MNS_VO_FAIL;
		say(res->diagnostic, sizeof(res->diagnostic), "%s", r1);
	} else if (k2 == FK_DEFINITE) {
		res->outcome = MNS_VO_FAIL;
		say(res->diagnostic, sizeof(res->diagnostic), "%s", r2);
	} else {
		res->outcome = MNS_VO_INCONCLUSIVE;
		say(res->diagnostic, sizeof(res->diagnostic), "check inconclusive: %s",
		    k1 == FK_RESOLVER ? r1 : r2);
	}
}

void mns_verify_diagnose_cname(const mns_vcname_t *want, const mns_vanswer_t *got, size_t n,
                               mns_vresult_t *res)
{
	memset(res, 0, sizeof(*res));
	res->checks = json_array();
	size_t bad = 0, unknown = 0;
	char first[640] = "", list[640] = "", first_unknown[640] = "";
	size_t lo = 0;
	for (size_t i = 0; i < n; i++) {
		const mns_vanswer_t *a = &got[i];
		char name[MNS_VA_LEN], target[MNS_VA_LEN], found[MNS_VA_LEN] = "", reason[600],
		                                           neg[300];
		mns_verify_name_norm(want[i].name, name, sizeof(name));
		mns_verify_name_norm(want[i].target, target, sizeof(target));
		fail_kind_t kind = FK_DEFINITE;
		switch (a->status) {
		case MNS_VA_ANSWER:
			snprintf(found, sizeof(found), "%s", a->values[0]);
			if (strcmp(a->values[0], target) == 0) {
				say(reason, sizeof(reason), "points to %s", target);
				kind = FK_NONE;
			} else {
				say(reason, sizeof(reason), "points to %s instead of %s",
				    a->values[0], target);
			}
			break;
		case MNS_VA_NXDOMAIN:
			negative_text(a, neg, sizeof(neg));
			say(reason, sizeof(reason), "missing (%s)", neg);
			break;
		case MNS_VA_NODATA:
			say(reason, sizeof(reason), "missing (the name exists but is not a CNAME)");
			break;
		case MNS_VA_SERVFAIL:
		case MNS_VA_TIMEOUT:
			say(reason, sizeof(reason), "cannot be resolved (%s)",
			    a->status == MNS_VA_SERVFAIL ? "the resolver answered SERVFAIL"
			                                 : "no answer in time");
			break;
		case MNS_VA_RESOLVER:
			say(reason, sizeof(reason), "the resolvers could not be asked: %s",
			    a->detail);
			kind = FK_RESOLVER;
			break;
		}
		add_check(res->checks, name, "CNAME", target, found, kind == FK_NONE, reason);
		if (kind == FK_DEFINITE) {
			if (bad++ == 0)
				say(first, sizeof(first), "CNAME %s: %s", name, reason);
			int w = snprintf(list + lo, sizeof(list) - lo, "%s%s: %s", lo ? "; " : "",
			                 name, reason);
			if (w > 0 && (size_t)w < sizeof(list) - lo)
				lo += (size_t)w;
		} else if (kind == FK_RESOLVER && unknown++ == 0) {
			say(first_unknown, sizeof(first_unknown), "%s", reason);
		}
	}
	if (n == 0) {
		res->outcome = MNS_VO_INCONCLUSIVE;
		say(res->diagnostic, sizeof(res->diagnostic),
		    "check inconclusive: the tenant has no required CNAME records to check");
	} else if (bad == 1) {
		res->outcome = MNS_VO_FAIL;
		say(res->diagnostic, sizeof(res->diagnostic), "%s", first);
	} else if (bad > 1) {
		res->outcome = MNS_VO_FAIL;
		say(res->diagnostic, sizeof(res->diagnostic),
		    "%zu of %zu required CNAMEs are missing or wrong: %s", bad, n, list);
	} else if (unknown > 0) {
		res->outcome = MNS_VO_INCONCLUSIVE;
		say(res->diagnostic, sizeof(res->diagnostic), "check inconclusive: %s",
		    first_unknown);
	} else {
		res->outcome = MNS_VO_PASS;
		say(res->diagnostic, sizeof(res->diagnostic),
		    "verified: all %zu required CNAMEs point to their targets", n);
	}
}
