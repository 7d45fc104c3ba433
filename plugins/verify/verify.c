/*  verify: proves that each tenant's delegation is live, keeps proving it,
 *  and says exactly what is wrong.
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  The plugin owns the tenant's "verify" section:
 *
 *      {"token": "<32 base32>", "state": "pending|verified|lost|failed",
 *       "name": "mgeu.example.com", "mode": "ns", "since": t, "last_check": t,
 *       "next_check": t, "failures": n, "last_ok": t, "diagnostic": "…",
 *       "checks": [{name, type, expected, found, ok, reason}]}
 *
 *  The token is generated at tenant.add and published in ns mode as TXT
 *  _mailns-challenge.<zone>. Checks run on the main loop through the
 *  configured recursive resolvers (c-ares, resolver.c); the state machine,
 *  the schedule and the diagnosis are in logic.c. Check bookkeeping is saved
 *  with mns_plugin_tenant_save_state() (no zone rebuild, no serial change).
 *  The schedule lives in memory: a hash of tenants, a min-heap of due times
 *  and a FIFO run queue bounded by max-in-flight, behind one uv_timer_t.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

#include <libknot/libknot.h>
#include <uv.h>

#include "mailns/plugin.h"
#include "resolver.h"
#include "verify_logic.h"

#define TOKEN_LEN 32

/* --- Config ------------------------------------------------------------------ */

static const mns_conf_item_t verify_schema[] = {
    {"resolvers", MNS_CONF_LIST, "127.0.0.1@53", 0, 0,
     "recursive resolvers to check through, ADDRESS@PORT (port 53 when omitted)"},
    {"timeout-ms", MNS_CONF_INT, "2000", 100, 60000,
     "milliseconds before a query is retried (c-ares doubles it each round)"},
    {"tries", MNS_CONF_INT, "2", 1, 10, "rounds of queries over the resolvers"},
    {"max-in-flight", MNS_CONF_INT, "16", 1, 100000, "checks running at once; the rest queue"},
    {"first-check", MNS_CONF_INT, "5", 0, 86400,
     "seconds from tenant.add (or a reset) to the first check"},
    {"pending-initial", MNS_CONF_INT, "60", 1, 31536000,
     "seconds to the first retry of a pending tenant; doubles after each failure"},
    {"pending-max", MNS_CONF_INT, "3600", 1, 31536000, "longest pending retry interval (seconds)"},
    {"pending-deadline", MNS_CONF_INT, "604800", 1, 315360000,
     "seconds a tenant may stay pending before it is failed"},
    {"verified-interval", MNS_CONF_INT, "86400", 1, 31536000,
     "seconds between checks of a verified tenant"},
    {"lost-interval", MNS_CONF_INT, "900", 1, 31536000,
     "seconds between checks of a lost tenant, and of a verified one after a failure"},
    {"lost-after", MNS_CONF_INT, "3", 1, 1000,
     "consecutive failed checks that turn verified into lost"},
    {"startup-spread", MNS_CONF_INT, "600", 0, 86400,
     "seconds over which checks overdue at start-up are spread"},
    {NULL, 0, NULL, 0, 0, NULL},
};

typedef struct vconf {
	mns_vsched_t sched;
	char servers[2048]; /* c-ares CSV. */
	int timeout_ms, tries;
	size_t max_in_flight;
} vconf_t;

/* --- State ------------------------------------------------------------------- */

typedef struct vwaiter {
	mns_reply_t *reply;
	struct vwaiter *next;
} vwaiter_t;

struct vcheck;

/* A tenant the scheduler knows. */
typedef struct ventry {
	char id[64];
	int64_t due;          /* Next automatic check; 0 = none. */
	size_t heap_pos;      /* Index in the heap, SIZE_MAX when not in it. */
	bool queued;          /* In the run queue. */
	bool manual;          /* The next run is a verify.now. */
	unsigned gen;         /* Raised when the tenant's name, mode or token changes. */
	struct vcheck *check; /* The check running, if any. */
	vwaiter_t *waiters;   /* verify.now replies owed the next result. */
	char note[640];       /* Last inconclusive diagnostic (not stored). */
	int64_t note_time;
	struct ventry *hnext, *qnext;
} ventry_t;

typedef struct vplugin vplugin_t;

typedef struct vquestion {
	struct vcheck *check;
	size_t i;
} vquestion_t;

/* One check of one tenant: its questions and their answers. */
typedef struct vcheck {
	vplugin_t *vp;
	ventry_t *e;
	unsigned gen;
	bool manual;
	bool cancelled;
	mns_mode_t mode;
	char apex[MNS_VA_LEN];
	char token[TOKEN_LEN + 1];
	json_t *nameservers; /* ns mode: the vendor's set. */
	size_t n, outstanding;
	char (*names)[MNS_VA_LEN];   /* cname mode: the customer's names ... */
	char (*targets)[MNS_VA_LEN]; /* ... and where they must point. */
	mns_vanswer_t *answers;
	vquestion_t *questions;
} vcheck_t;

struct vplugin {
	mns_plugin_t *p;
	vconf_t conf;
	bool configured;
	uv_loop_t *loop;
	uv_timer_t timer; /* The schedule (also the start-up scan). */
	bool timer_open;
	bool scanned; /* Start-up scan done. */
	bool shutting_down;
	mns_vresolver_t *res;
	bool res_stale; /* Resolver settings changed: rebuild once idle. */
	char res_error[256];
	ventry_t **buckets;
	size_t nbuckets, count;
	ventry_t **heap;
	size_t heap_len, heap_cap;
	ventry_t *qhead, *qtail;
	size_t in_flight;
	int64_t last_warning; /* Rate limit of "resolvers unreachable". */
};

static vplugin_t *vp_of(mns_plugin_t *p)
{
	return mns_plugin_data(p);
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static uint64_t now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* --- Tenant table (hash by id) ----------------------------------------------- */

static size_t hash_id(const char *id, size_t nbuckets)
{
	uint32_t h = 2166136261u;
	for (const char *c = id; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	return h & (nbuckets - 1);
}

static ventry_t *entry_find(vplugin_t *vp, const char *id)
{
	if (vp->nbuckets == 0)
		return NULL;
	for (ventry_t *e = vp->buckets[hash_id(id, vp->nbuckets)]; e; e = e->hnext)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static bool table_grow(vplugin_t *vp)
{
	size_t nb = vp->nbuckets ? vp->nbuckets * 2 : 64;
	ventry_t **b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return false;
	for (size_t i = 0; i < vp->nbuckets; i++) {
		for (ventry_t *e = vp->buckets[i], *next; e; e = next) {
			next = e->hnext;
			size_t h = hash_id(e->id, nb);
			e->hnext = b[h];
			b[h] = e;
		}
	}
	free(vp->buckets);
	vp->buckets = b;
	vp->nbuckets = nb;
	return true;
}

static ventry_t *entry_get(vplugin_t *vp, const char *id)
{
	ventry_t *e = entry_find(vp, id);
	if (e != NULL)
		return e;
	if (strlen(id) >= sizeof(e->id))
		return NULL;
	if (vp->count >= vp->nbuckets && !table_grow(vp))
		return NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->heap_pos = SIZE_MAX;
	size_t h = hash_id(id, vp->nbuckets);
	e->hnext = vp->buckets[h];
	vp->buckets[h] = e;
	vp->count++;
	return e;
}

/* --- Due times (min-heap) ---------------------------------------------------- */

static void heap_swap(vplugin_t *vp, size_t a, size_t b)
{
	ventry_t *t = vp->heap[a];
	vp->heap[a] = vp->heap[b];
	vp->heap[b] = t;
	vp->heap[a]->heap_pos = a;
	vp->heap[b]->heap_pos = b;
}

static void heap_fix(vplugin_t *vp, size_t i)
{
	while (i > 0 && vp->heap[(i - 1) / 2]->due > vp->heap[i]->due) {
		heap_swap(vp, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < vp->heap_len && vp->heap[l]->due < vp->heap[m]->due)
			m = l;
		if (r < vp->heap_len && vp->heap[r]->due < vp->heap[m]->due)
			m = r;
		if (m == i)
			break;
		heap_swap(vp, i, m);
		i = m;
	}
}

static void heap_remove(vplugin_t *vp, ventry_t *e)
{
	size_t i = e->heap_pos;
	if (i == SIZE_MAX)
		return;
	e->heap_pos = SIZE_MAX;
	vp->heap_len--;
	if (i != vp->heap_len) {
		vp->heap[i] = vp->heap[vp->heap_len];
		vp->heap[i]->heap_pos = i;
		heap_fix(vp, i);
	}
}

/* Schedules \a e's next automatic check at \a due (0: none). */
static void schedule(vplugin_t *vp, ventry_t *e, int64_t due)
{
	e->due = due;
	if (due <= 0) {
		heap_remove(vp, e);
		return;
	}
	if (e->heap_pos != SIZE_MAX) {
		heap_fix(vp, e->heap_pos);
		return;
	}
	if (vp->heap_len == vp->heap_cap) {
		size_t cap = vp->heap_cap ? vp->heap_cap * 2 : 64;
		ventry_t **h = realloc(vp->heap, cap * sizeof(*h));
		if (h == NULL) {
			mns_plugin_log(vp->p, MNS_LOG_ERR,
			               "tenant=%s out of memory, check not scheduled", e->id);
			return;
		}
		vp->heap = h;
		vp->heap_cap = cap;
	}
	e->heap_pos = vp->heap_len;
	vp->heap[vp->heap_len++] = e;
	heap_fix(vp, e->heap_pos);
}

/* --- Run queue ----------------------------------------------------------------- */

static void enqueue(vplugin_t *vp, ventry_t *e, bool front)
{
	if (e->queued || e->check != NULL)
		return;
	e->queued = true;
	if (front) {
		e->qnext = vp->qhead;
		vp->qhead = e;
		if (vp->qtail == NULL)
			vp->qtail = e;
	} else {
		e->qnext = NULL;
		if (vp->qtail)
			vp->qtail->qnext = e;
		else
			vp->qhead = e;
		vp->qtail = e;
	}
}

static void dequeue(vplugin_t *vp, ventry_t *e)
{
	if (!e->queued)
		return;
	ventry_t **pp = &vp->qhead, *prev = NULL;
	while (*pp && *pp != e) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (*pp == e) {
		*pp = e->qnext;
		if (vp->qtail == e)
			vp->qtail = prev;
	}
	e->queued = false;
	e->qnext = NULL;
}

static size_t queue_length(const vplugin_t *vp)
{
	size_t n = 0;
	for (const ventry_t *e = vp->qhead; e; e = e->qnext)
		n++;
	return n;
}

/* --- Replies to verify.now ------------------------------------------------------ */

/* Sends \a result (stolen; NULL for an error) to every waiter of \a e. */
static void reply_waiters(ventry_t *e, json_t *result, const mns_error_t *err)
{
	vwaiter_t *w = e->waiters;
	e->waiters = NULL;
	while (w) {
		vwaiter_t *next = w->next;
		if (result != NULL)
			mns_plugin_reply(w->reply, MNS_OK,
			                 next ? json_deep_copy(result) : json_incref(result), NULL);
		else
			mns_plugin_reply(w->reply, MNS_ERROR, NULL, err);
		free(w);
		w = next;
	}
	json_decref(result);
}

static void reply_error(ventry_t *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_error(ventry_t *e, const char *code, const char *fmt, ...)
{
	if (e->waiters == NULL)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mns_error_t err = {0};
	mns_error_set(&err, code, "%s", msg);
	reply_waiters(e, NULL, &err);
}

/* Forgets a tenant (removed, or never stored). */
static void entry_remove(vplugin_t *vp, ventry_t *e)
{
	reply_error(e, "unknown_tenant", "no tenant '%s'", e->id);
	heap_remove(vp, e);
	dequeue(vp, e);
	ventry_t **pp = &vp->buckets[hash_id(e->id, vp->nbuckets)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	vp->count--;
	free(e);
}

/* --- The timer ------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t);

/* Arms the timer for the earliest due check (or at once when work waits). */
static void arm(vplugin_t *vp)
{
	if (!vp->timer_open || vp->shutting_down)
		return;
	uint64_t delay;
	if (!vp->scanned || (vp->res_stale && vp->in_flight == 0))
		delay = 0;
	else if (vp->heap_len == 0) {
		uv_timer_stop(&vp->timer);
		return;
	} else {
		uint64_t due = (uint64_t)vp->heap[0]->due * 1000, now = now_ms();
		delay = due > now ? due - now : 0;
	}
	uv_timer_start(&vp->timer, on_timer, delay, 0);
}

/* --- Checks --------------------------------------------------------------------- */

static void pump(vplugin_t *vp);

static void check_free(vcheck_t *c)
{
	if (c == NULL)
		return;
	json_decref(c->nameservers);
	free(c->names);
	free(c->targets);
	free(c->answers);
	free(c->questions);
	free(c);
}

static json_t *result_json(const ventry_t *e, const vcheck_t *c, const mns_vrec_t *rec,
                           mns_vstate_t old, int64_t now, const mns_vresult_t *res)
{
	const char *outcome[] = {"pass", "fail", "inconclusive"};
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:b, s:s, s:I, s:s, s:O}", "tenant",
	                 e->id, "mode", c->mode == MNS_MODE_NS ? "ns" : "cname", "name", c->apex,
	                 "state", mns_verify_state_name(rec->state), "previous_state",
	                 mns_verify_state_name(old), "checked", (json_int_t)now, "next_check",
	                 rec->next_check > 0 ? json_integer(rec->next_check) : json_null(), "ok",
	                 res->outcome == MNS_VO_PASS, "outcome", outcome[res->outcome], "failures",
	                 (json_int_t)rec->failures, "diagnostic", res->diagnostic, "checks",
	                 res->checks);
}

/* All answers are in: diagnose, apply the state machine, store, tell. */
static void check_done(vcheck_t *c)
{
	vplugin_t *vp = c->vp;
	ventry_t *e = c->e;
	vp->in_flight--;
	e->check = NULL;
	if (c->cancelled || vp->shutting_down) {
		reply_error(e, "verifier_stopped",
		            "the check of '%s' was cancelled (shutdown or reconfiguration)", e->id);
		if (!vp->shutting_down) {
			e->manual |= c->manual;
			enqueue(vp, e, c->manual);
		}
		check_free(c);
		if (!vp->shutting_down)
			arm(vp);
		return;
	}
	if (c->gen != e->gen) {
		/* The tenant's name, mode or token changed meanwhile: check again. */
		e->manual |= c->manual;
		enqueue(vp, e, true);
		check_free(c);
		pump(vp);
		arm(vp);
		return;
	}
	mns_vresult_t res;
	if (c->mode == MNS_MODE_NS) {
		mns_verify_diagnose_ns(c->apex, c->nameservers, c->token, &c->answers[0],
		                       &c->answers[1], &res);
	} else {
		mns_vcname_t *want = calloc(c->n ? c->n : 1, sizeof(*want));
		for (size_t i = 0; want && i < c->n; i++) {
			want[i].name = c->names[i];
			want[i].target = c->targets[i];
		}
		mns_verify_diagnose_cname(want, c->answers, want ? c->n : 0, &res);
		free(want);
	}
	int64_t now = now_s();
	json_t *doc = mns_plugin_tenant_get(vp->p, e->id);
	if (doc == NULL) {
		json_decref(res.checks);
		check_free(c);
		entry_remove(vp, e);
		pump(vp);
		arm(vp);
		return;
	}
	const json_t *stored = json_object_get(doc, "verify");
	json_t *sec = json_is_object(stored) ? json_deep_copy(stored) : json_object();
	mns_vrec_t rec;
	mns_verify_rec_from_json(sec, &rec);
	mns_vstate_t old = rec.state;
	bool changed = mns_verify_apply(&vp->conf.sched, &rec, res.outcome, c->manual, now);
	if (res.outcome != MNS_VO_INCONCLUSIVE || changed) {
		mns_verify_rec_to_json(&rec, sec);
		if (res.outcome == MNS_VO_PASS)
			json_object_set_new(sec, "last_ok", json_integer(now));
		json_object_set_new(sec, "diagnostic", json_string(res.diagnostic));
		json_object_set(sec, "checks", res.checks);
		mns_error_t err = {0};
		if (mns_plugin_tenant_save_state(vp->p, e->id, sec, &err) != MNS_OK)
			mns_plugin_log(vp->p, MNS_LOG_ERR,
			               "tenant=%s cannot store the check result: %s", e->id,
			               err.message);
		e->note[0] = '\0';
	} else {
		/* Nothing learnt about the tenant: keep it in memory only. */
		snprintf(e->note, sizeof(e->note), "%s", res.diagnostic);
		e->note_time = now;
		if (now - vp->last_warning >= 300) {
			vp->last_warning = now;
			mns_plugin_log(vp->p, MNS_LOG_WARNING, "tenant=%s %s", e->id,
			               res.diagnostic);
		}
	}
	mns_plugin_log(vp->p, MNS_LOG_DEBUG, "tenant=%s check=%s state=%s next=%lld: %s", e->id,
	               res.outcome == MNS_VO_PASS   ? "pass"
	               : res.outcome == MNS_VO_FAIL ? "fail"
	                                            : "inconclusive",
	               mns_verify_state_name(rec.state), (long long)rec.next_check, res.diagnostic);
	if (changed) {
		mns_plugin_log(vp->p, MNS_LOG_NOTICE, "tenant=%s state %s -> %s: %s", e->id,
		               mns_verify_state_name(old), mns_verify_state_name(rec.state),
		               res.diagnostic);
		json_t *ev =
		    json_pack("{s:s, s:s, s:s, s:s, s:I}", "tenant", e->id, "old",
		              mns_verify_state_name(old), "new", mns_verify_state_name(rec.state),
		              "diagnostic", res.diagnostic, "failures", (json_int_t)rec.failures);
		mns_plugin_event(vp->p, "state", ev);
		json_decref(ev);
	}
	if (!e->queued)
		schedule(vp, e, rec.next_check);
	if (e->waiters)
		reply_waiters(e, result_json(e, c, &rec, old, now, &res), NULL);
	json_decref(res.checks);
	json_decref(sec);
	json_decref(doc);
	check_free(c);
	pump(vp);
	arm(vp);
}

static void on_answer(void *data, const mns_vanswer_t *a)
{
	vquestion_t *q = data;
	vcheck_t *c = q->check;
	if (a == NULL)
		c->cancelled = true;
	else
		c->answers[q->i] = *a;
	if (--c->outstanding == 0)
		check_done(c);
}

/* Reads the required CNAMEs of a cname-mode tenant into \a c. */
static int cname_questions(vplugin_t *vp, vcheck_t *c, const char *id)
{
	json_t *ins = mns_plugin_tenant_instructions(vp->p, id);
	size_t n = 0, i;
	json_t *r;
	json_array_foreach(ins, i, r)
	{
		const char *type = json_string_value(json_object_get(r, "type"));
		if (json_is_true(json_object_get(r, "required")) && type &&
		    strcasecmp(type, "CNAME") == 0)
			n++;
	}
	c->names = calloc(n ? n : 1, sizeof(*c->names));
	c->targets = calloc(n ? n : 1, sizeof(*c->targets));
	if (c->names == NULL || c->targets == NULL) {
		json_decref(ins);
		return -1;
	}
	json_array_foreach(ins, i, r)
	{
		const char *type = json_string_value(json_object_get(r, "type"));
		if (!json_is_true(json_object_get(r, "required")) || !type ||
		    strcasecmp(type, "CNAME") != 0)
			continue;
		mns_verify_name_norm(json_string_value(json_object_get(r, "name")), c->names[c->n],
		                     MNS_VA_LEN);
		mns_verify_name_norm(json_string_value(json_object_get(r, "value")),
		                     c->targets[c->n], MNS_VA_LEN);
		c->n++;
	}
	json_decref(ins);
	return 0;
}

static bool resolver_ready(vplugin_t *vp)
{
	if (vp->res != NULL)
		return true;
	char err[256];
	if (mns_vresolver_new(vp->loop, vp->conf.servers, vp->conf.timeout_ms, vp->conf.tries,
	                      &vp->res, err, sizeof(err)) != 0) {
		if (strcmp(err, vp->res_error) != 0)
			mns_plugin_log(vp->p, MNS_LOG_ERR, "cannot set up the resolvers: %s", err);
		snprintf(vp->res_error, sizeof(vp->res_error), "%s", err);
		return false;
	}
	vp->res_error[0] = '\0';
	return true;
}

/* Starts the check of \a e (taken off the queue). */
static void check_start(vplugin_t *vp, ventry_t *e)
{
	json_t *doc = mns_plugin_tenant_get(vp->p, e->id);
	if (doc == NULL) {
		entry_remove(vp, e);
		return;
	}
	const json_t *sec = json_object_get(doc, "verify");
	mns_vrec_t rec;
	mns_verify_rec_from_json(sec, &rec);
	const char *token = json_string_value(json_object_get(sec, "token"));
	if (!e->manual && (rec.state == MNS_VS_FAILED || token == NULL)) {
		/* Failed tenants wait for verify.now; no section, nothing to check. */
		json_decref(doc);
		return;
	}
	vcheck_t *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		json_decref(doc);
		reply_error(e, "no_memory", "out of memory checking '%s'", e->id);
		schedule(vp, e, now_s() + vp->conf.sched.lost_interval);
		return;
	}
	c->vp = vp;
	c->e = e;
	c->gen = e->gen;
	c->manual = e->manual;
	e->manual = false;
	const char *mode = json_string_value(json_object_get(doc, "mode"));
	c->mode = mode && strcmp(mode, "cname") == 0 ? MNS_MODE_CNAME : MNS_MODE_NS;
	snprintf(c->token, sizeof(c->token), "%s", token ? token : "");
	int ret = 0;
	if (c->mode == MNS_MODE_NS) {
		mns_verify_name_norm(json_string_value(json_object_get(doc, "zone")), c->apex,
		                     sizeof(c->apex));
		const json_t *vendor = mns_plugin_vendor(vp->p);
		c->nameservers = json_deep_copy(json_object_get(vendor, "nameservers"));
		if (c->nameservers == NULL)
			c->nameservers = json_array();
		c->n = 2;
	} else {
		mns_verify_name_norm(json_string_value(json_object_get(doc, "domain")), c->apex,
		                     sizeof(c->apex));
		ret = cname_questions(vp, c, e->id);
	}
	json_decref(doc);
	c->answers = calloc(c->n ? c->n : 1, sizeof(*c->answers));
	c->questions = calloc(c->n ? c->n : 1, sizeof(*c->questions));
	if (ret != 0 || c->answers == NULL || c->questions == NULL) {
		reply_error(e, "no_memory", "out of memory checking '%s'", e->id);
		check_free(c);
		schedule(vp, e, now_s() + vp->conf.sched.lost_interval);
		return;
	}
	e->check = c;
	vp->in_flight++;
	/* One extra count, so that answers arriving before the loop ends (a
	 * query that cannot be sent) do not finish the check early. */
	c->outstanding = c->n + 1;
	bool ready = resolver_ready(vp);
	for (size_t i = 0; i < c->n; i++) {
		c->questions[i].check = c;
		c->questions[i].i = i;
		char name[MNS_VA_LEN + 32];
		uint16_t type;
		if (c->mode == MNS_MODE_NS) {
			snprintf(name, sizeof(name), i == 0 ? "%s" : "_mailns-challenge.%s",
			         c->apex);
			type = i == 0 ? KNOT_RRTYPE_NS : KNOT_RRTYPE_TXT;
		} else {
			snprintf(name, sizeof(name), "%s", c->names[i]);
			type = KNOT_RRTYPE_CNAME;
		}
		if (ready) {
			mns_vresolver_query(vp->res, name, type, on_answer, &c->questions[i]);
		} else {
			mns_vanswer_t a;
			mns_verify_answer_fail(&a, MNS_VA_RESOLVER, vp->res_error);
			on_answer(&c->questions[i], &a);
		}
	}
	if (--c->outstanding == 0)
		check_done(c);
}

/* Starts queued checks up to max-in-flight. */
static void pump(vplugin_t *vp)
{
	while (!vp->shutting_down && !vp->res_stale && vp->qhead != NULL &&
	       vp->in_flight < vp->conf.max_in_flight) {
		ventry_t *e = vp->qhead;
		dequeue(vp, e);
		check_start(vp, e);
	}
}

/* --- Start-up: the stored schedule ------------------------------------------------ */

typedef struct overdue {
	char id[64];
	int64_t next;
} overdue_t;

typedef struct scan {
	vplugin_t *vp;
	int64_t now;
	overdue_t *late;
	size_t n_late, cap_late, n_kept, n_failed;
} scan_t;

static bool scan_one(mns_plugin_t *p, const char *tenant, const json_t *doc, void *data)
{
	scan_t *st = data;
	vplugin_t *vp = st->vp;
	const json_t *sec = json_object_get(doc, "verify");
	if (!json_is_string(json_object_get(sec, "token")))
		return true;
	mns_vrec_t rec;
	mns_verify_rec_from_json(sec, &rec);
	int64_t at = mns_verify_resume(&vp->conf.sched, &rec, st->now);
	if (at < 0) {
		st->n_failed++;
		return true;
	}
	ventry_t *e = entry_get(vp, tenant);
	if (e == NULL || e->due > 0 || e->queued || e->check)
		return true; /* Already scheduled since start. */
	if (at > 0) {
		schedule(vp, e, at);
		st->n_kept++;
		return true;
	}
	if (st->n_late == st->cap_late) {
		size_t cap = st->cap_late ? st->cap_late * 2 : 64;
		overdue_t *l = realloc(st->late, cap * sizeof(*l));
		if (l == NULL) {
			schedule(vp, e, st->now + vp->conf.sched.first_check);
			return true;
		}
		st->late = l;
		st->cap_late = cap;
	}
	snprintf(st->late[st->n_late].id, sizeof(st->late[0].id), "%s", tenant);
	st->late[st->n_late++].next = rec.next_check;
	return true;
}

static int cmp_overdue(const void *a, const void *b)
{
	const overdue_t *x = a, *y = b;
	return x->next < y->next ? -1 : x->next > y->next;
}

/* Schedules every stored tenant: stored times are kept, overdue checks are
 * spread (the most overdue first) so a restart does not check all at once. */
static void startup_scan(vplugin_t *vp)
{
	scan_t st = {.vp = vp, .now = now_s()};
	mns_plugin_tenant_foreach(vp->p, scan_one, &st);
	if (st.n_late > 1)
		qsort(st.late, st.n_late, sizeof(*st.late), cmp_overdue);
	for (size_t i = 0; i < st.n_late; i++) {
		ventry_t *e = entry_get(vp, st.late[i].id);
		if (e != NULL)
			schedule(vp, e, mns_verify_spread(&vp->conf.sched, st.now, i, st.n_late));
	}
	mns_plugin_log(vp->p, MNS_LOG_INFO,
	               "scheduled tenants=%zu overdue=%zu spread=%llds failed=%zu resolvers=%s",
	               st.n_kept + st.n_late, st.n_late, (long long)vp->conf.sched.startup_spread,
	               st.n_failed, vp->conf.servers);
	free(st.late);
}

static void on_timer(uv_timer_t *t)
{
	vplugin_t *vp = t->data;
	if (!vp->scanned) {
		vp->scanned = true;
		startup_scan(vp);
	}
	if (vp->res_stale && vp->in_flight == 0) {
		mns_vresolver_free(vp->res);
		vp->res = NULL;
		vp->res_stale = false;
	}
	int64_t now = now_s();
	while (vp->heap_len > 0 && vp->heap[0]->due <= now) {
		ventry_t *e = vp->heap[0];
		heap_remove(vp, e);
		e->due = 0;
		enqueue(vp, e, false);
	}
	pump(vp);
	arm(vp);
}

/* --- Hooks ------------------------------------------------------------------------ */

static int verify_init(mns_plugin_t *p, mns_error_t *err)
{
	vplugin_t *vp = calloc(1, sizeof(*vp));
	if (vp == NULL)
		return mns_error_set(err, "no_memory", "verify: cannot allocate the plugin state");
	vp->p = p;
	vp->conf.sched = mns_verify_sched_defaults;
	snprintf(vp->conf.servers, sizeof(vp->conf.servers), "127.0.0.1:53");
	vp->conf.timeout_ms = 2000;
	vp->conf.tries = 2;
	vp->conf.max_in_flight = 16;
	vp->loop = mns_plugin_uv_loop(p);
	mns_plugin_set_data(p, vp);
	return MNS_OK;
}

static void vp_closed(uv_handle_t *h)
{
	free(h->data);
}

static void verify_fini(mns_plugin_t *p)
{
	vplugin_t *vp = vp_of(p);
	if (vp == NULL)
		return;
	vp->shutting_down = true;
	/* Cancels the checks in flight; their waiters get an error. */
	mns_vresolver_free(vp->res);
	vp->res = NULL;
	for (size_t i = 0; i < vp->nbuckets; i++) {
		for (ventry_t *e = vp->buckets[i], *next; e; e = next) {
			next = e->hnext;
			reply_error(e, "verifier_stopped",
			            "mailnsd is stopping; '%s' was not checked", e->id);
			check_free(e->check);
			free(e);
		}
	}
	free(vp->buckets);
	free(vp->heap);
	mns_plugin_set_data(p, NULL);
	if (vp->timer_open) {
		uv_timer_stop(&vp->timer);
		uv_close((uv_handle_t *)&vp->timer, vp_closed);
	} else {
		free(vp);
	}
}

static int conf_int(const json_t *conf, const char *key, int64_t *out)
{
	const json_t *v = json_object_get(conf, key);
	if (json_is_integer(v))
		*out = (int64_t)json_integer_value(v);
	return MNS_OK;
}

/* "ADDR@PORT" (port 53 when omitted) → c-ares "ADDR:PORT" / "[ADDR6]:PORT". */
static int resolver_csv(const json_t *list, char *out, size_t len, mns_error_t *err)
{
	size_t i, o = 0;
	const json_t *v;
	out[0] = '\0';
	if (json_array_size(list) == 0)
		return mns_error_set_key(
		    err, "resolvers", "invalid_config",
		    "resolvers: name at least one resolver, e.g. 127.0.0.1@53");
	json_array_foreach(list, i, v)
	{
		const char *s = json_string_value(v);
		char addr[64];
		long port = 53;
		const char *at = s ? strrchr(s, '@') : NULL;
		size_t alen = at ? (size_t)(at - s) : (s ? strlen(s) : 0);
		if (s == NULL || alen == 0 || alen >= sizeof(addr))
			return mns_error_set_key(err, "resolvers", "invalid_config",
			                         "resolvers: '%s' is not ADDRESS@PORT", s ? s : "");
		memcpy(addr, s, alen);
		addr[alen] = '\0';
		if (at != NULL) {
			char *end = NULL;
			port = strtol(at + 1, &end, 10);
			if (*(at + 1) == '\0' || *end != '\0' || port < 1 || port > 65535)
				return mns_error_set_key(
				    err, "resolvers", "invalid_config",
				    "resolvers: '%s' has no valid port (1-65535)", s);
		}
		unsigned char bin[16];
		bool v4 = inet_pton(AF_INET, addr, bin) == 1,
		     v6 = !v4 && inet_pton(AF_INET6, addr, bin) == 1;
		if (!v4 && !v6)
			return mns_error_set_key(err, "resolvers", "invalid_config",
			                         "resolvers: '%s' is not an IPv4 or IPv6 address",
			                         addr);
		int w = snprintf(out + o, len - o, v6 ? "%s[%s]:%ld" : "%s%s:%ld", o ? "," : "",
		                 addr, port);
		if (w < 0 || (size_t)w >= len - o)
			return mns_error_set_key(err, "resolvers", "invalid_config",
			                         "resolvers: too many");
		o += (size_t)w;
	}
	return MNS_OK;
}

static int verify_configure(mns_plugin_t *p, const json_t *conf, mns_error_t *err)
{
	vplugin_t *vp = vp_of(p);
	vconf_t next = vp->conf;
	int64_t v;
	mns_vsched_t *s = &next.sched;
	conf_int(conf, "first-check", &s->first_check);
	conf_int(conf, "pending-initial", &s->pending_initial);
	conf_int(conf, "pending-max", &s->pending_max);
	conf_int(conf, "pending-deadline", &s->pending_deadline);
	conf_int(conf, "verified-interval", &s->verified_interval);
	conf_int(conf, "lost-interval", &s->lost_interval);
	conf_int(conf, "lost-after", &s->lost_after);
	conf_int(conf, "startup-spread", &s->startup_spread);
	v = next.timeout_ms;
	conf_int(conf, "timeout-ms", &v);
	next.timeout_ms = (int)v;
	v = next.tries;
	conf_int(conf, "tries", &v);
	next.tries = (int)v;
	v = (int64_t)next.max_in_flight;
	conf_int(conf, "max-in-flight", &v);
	next.max_in_flight = (size_t)v;
	if (s->pending_initial > s->pending_max)
		return mns_error_set_key(
		    err, "pending-initial", "invalid_config",
		    "pending-initial (%lld s) is longer than pending-max (%lld s)",
		    (long long)s->pending_initial, (long long)s->pending_max);
	const json_t *list = json_object_get(conf, "resolvers");
	if (list != NULL) {
		int ret = resolver_csv(list, next.servers, sizeof(next.servers), err);
		if (ret != MNS_OK)
			return ret;
	}
	bool res_changed = strcmp(next.servers, vp->conf.servers) != 0 ||
	                   next.timeout_ms != vp->conf.timeout_ms || next.tries != vp->conf.tries;
	vp->conf = next;
	if (vp->loop == NULL)
		return MNS_OK; /* Not attached (unit tests): no checks. */
	if (!vp->timer_open) {
		uv_timer_init(vp->loop, &vp->timer);
		vp->timer.data = vp;
		/* The schedule must not keep a stopping daemon alive. */
		uv_unref((uv_handle_t *)&vp->timer);
		vp->timer_open = true;
	} else if (res_changed && vp->res != NULL) {
		vp->res_stale = true;
	}
	vp->configured = true;
	arm(vp); /* The first run scans the stored tenants. */
	return MNS_OK;
}

/* 32 characters of base32 (lowercase, DNS-safe): 160 bits of randomness. */
static int new_token(char out[TOKEN_LEN + 1], mns_error_t *err)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char raw[TOKEN_LEN];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return mns_error_set(err, "internal", "no randomness for the challenge token");
	for (size_t i = 0; i < TOKEN_LEN; i++)
		out[i] = alphabet[raw[i] & 31];
	out[TOKEN_LEN] = '\0';
	return MNS_OK;
}

/* The first check of a new, reset or renamed tenant: soon, by the timer
 * (a check cannot run inside tenant_check, which is inside the store's
 * transaction). */
static void schedule_first(mns_plugin_t *p, const char *id, int64_t at)
{
	vplugin_t *vp = vp_of(p);
	if (vp == NULL || !vp->timer_open)
		return;
	ventry_t *e = entry_get(vp, id);
	if (e == NULL)
		return;
	e->gen++;
	e->note[0] = '\0';
	if (!e->queued && e->check == NULL)
		schedule(vp, e, at);
	arm(vp);
}

static int verify_check(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *old,
                        const json_t *in, json_t **out, mns_error_t *err)
{
	/* The section is the plugin's own bookkeeping: callers may reset it
	 * (null: a fresh token, pending again) but not write it. */
	bool reset = in != NULL && json_is_null(in);
	if (in != NULL && !reset)
		return mns_error_set_key(
		    err, "verify", "read_only_field",
		    "the verify section is managed by mailns: use verify.now to check a tenant");
	vplugin_t *vp = vp_of(p);
	const mns_vsched_t *sc = vp ? &vp->conf.sched : &mns_verify_sched_defaults;
	const char *name = t->mode == MNS_MODE_NS ? t->base : t->domain;
	const char *mode = t->mode == MNS_MODE_NS ? "ns" : "cname";
	int64_t first = (int64_t)t->now + sc->first_check;
	if (old != NULL && !reset && json_is_string(json_object_get(old, "token"))) {
		*out = json_deep_copy(old);
		if (*out == NULL)
			return MNS_ENOMEM;
		const char *oname = json_string_value(json_object_get(old, "name"));
		const char *omode = json_string_value(json_object_get(old, "mode"));
		if (oname != NULL && omode != NULL &&
		    (strcmp(oname, name) || strcmp(omode, mode))) {
			/* Another name is delegated now: what was proven no longer holds. */
			mns_vrec_t rec = {
			    .state = MNS_VS_PENDING, .since = t->now, .next_check = first};
			mns_verify_rec_to_json(&rec, *out);
			json_object_del(*out, "checks");
			json_object_set_new(
			    *out, "diagnostic",
			    json_pack("s+", "not checked yet: the tenant now uses ", name));
			schedule_first(p, t->id, first);
		}
		json_object_set_new(*out, "name", json_string(name));
		json_object_set_new(*out, "mode", json_string(mode));
		return MNS_OK;
	}
	char token[TOKEN_LEN + 1];
	int ret = new_token(token, err);
	if (ret != MNS_OK)
		return ret;
	*out = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:i}", "token", token, "state", "pending",
	                 "name", name, "mode", mode, "since", (json_int_t)t->now, "next_check",
	                 (json_int_t)first, "failures", 0);
	if (*out == NULL)
		return MNS_ENOMEM;
	schedule_first(p, t->id, first);
	return MNS_OK;
}

static int verify_build(mns_plugin_t *p, const mns_tenant_ctx_t *t, const json_t *section,
                        mns_zone_builder_t *zb, mns_error_t *err)
{
	const char *token = json_string_value(json_object_get(section, "token"));
	/* cname mode needs no token: the customer's CNAMEs are the proof. */
	if (t->mode != MNS_MODE_NS || token == NULL)
		return MNS_OK;
	return mns_zb_add_txt(zb, "_mailns-challenge", t->ttl, token, err);
}

/* --- Commands ------------------------------------------------------------------------ */

static int arg_tenant(const json_t *args, bool required, const char **id, mns_error_t *err)
{
	int ret = mns_json_check_keys(args, "args", (const char *const[]){"tenant", NULL}, err);
	if (ret != MNS_OK)
		return ret;
	const json_t *v = json_object_get(args, "tenant");
	*id = NULL;
	if (v == NULL && !required)
		return MNS_OK;
	if (!json_is_string(v))
		return mns_error_set_key(err, "tenant", "invalid_args",
		                         "\"tenant\" is required and must be a string");
	*id = json_string_value(v);
	return MNS_OK;
}

static int cmd_now(mns_plugin_t *p, const json_t *args, json_t **result, mns_error_t *err)
{
	vplugin_t *vp = vp_of(p);
	const char *id;
	int ret = arg_tenant(args, true, &id, err);
	if (ret != MNS_OK)
		return ret;
	json_t *doc = mns_plugin_tenant_get(p, id);
	if (doc == NULL)
		return mns_error_set(err, "unknown_tenant", "no tenant '%s'", id), MNS_ENOENT;
	bool has_token = json_is_string(json_object_get(json_object_get(doc, "verify"), "token"));
	json_decref(doc);
	if (!has_token)
		return mns_error_set(err, "not_verifiable",
		                     "tenant '%s' has no verify section (reset it with "
		                     "tenant.update {\"verify\": null})",
		                     id);
	if (vp == NULL || !vp->timer_open)
		return mns_error_set(err, "verifier_unavailable",
		                     "the verifier is not running (no event loop)");
	ventry_t *e = entry_get(vp, id);
	vwaiter_t *w = calloc(1, sizeof(*w));
	if (e == NULL || w == NULL) {
		free(w);
		return mns_error_set(err, "no_memory", "out of memory");
	}
	w->reply = mns_plugin_reply_defer(p);
	if (w->reply == NULL) {
		free(w);
		return mns_error_set(err, "not_deferrable",
		                     "verify.now answers when its lookups complete: send it over "
		                     "the control socket");
	}
	w->next = e->waiters;
	e->waiters = w;
	if (e->check == NULL) {
		/* Runs next, ahead of the scheduled checks. */
		e->manual = true;
		heap_remove(vp, e);
		e->due = 0;
		dequeue(vp, e);
		enqueue(vp, e, true);
		pump(vp);
		arm(vp);
	}
	return MNS_PENDING;
}

typedef struct count {
	size_t n;
	size_t by[MNS_VS_COUNT];
} count_t;

static bool count_one(mns_plugin_t *p, const char *tenant, const json_t *doc, void *data)
{
	count_t *c = data;
	mns_vstate_t s;
	if (!mns_verify_state_parse(
	        json_string_value(json_object_get(json_object_get(doc, "verify"), "state")), &s))
		s = MNS_VS_PENDING;
	c->n++;
	c->by[s]++;
	return true;
}

static int cmd_status(mns_plugin_t *p, const json_t *args, json_t **result, mns_error_t *err)
{
	vplugin_t *vp = vp_of(p);
	const char *id;
	int ret = arg_tenant(args, false, &id, err);
	if (ret != MNS_OK)
		return ret;
	if (id == NULL) {
		count_t c = {0};
		if (mns_plugin_tenant_foreach(p, count_one, &c) != MNS_OK)
			return mns_error_set(err, "store_error", "cannot read the tenants");
		json_t *by = json_object();
		for (int i = 0; i < MNS_VS_COUNT; i++)
			json_object_set_new(by, mns_verify_state_name((mns_vstate_t)i),
			                    json_integer((json_int_t)c.by[i]));
		*result =
		    json_pack("{s:I, s:o, s:I, s:I, s:I}", "tenants", (json_int_t)c.n, "by_state",
		              by, "in_flight", (json_int_t)(vp ? vp->in_flight : 0), "queued",
		              (json_int_t)(vp ? queue_length(vp) : 0), "scheduled",
		              (json_int_t)(vp ? vp->heap_len : 0));
		return *result ? MNS_OK : MNS_ENOMEM;
	}
	json_t *doc = mns_plugin_tenant_get(p, id);
	if (doc == NULL)
		return mns_error_set(err, "unknown_tenant", "no tenant '%s'", id), MNS_ENOENT;
	const json_t *sec = json_object_get(doc, "verify");
	*result =
	    json_is_object(sec) ? json_deep_copy(sec) : json_pack("{s:s}", "state", "pending");
	json_object_set_new(*result, "tenant", json_string(id));
	if (!json_object_get(*result, "mode"))
		json_object_set(*result, "mode", json_object_get(doc, "mode"));
	ventry_t *e = vp ? entry_find(vp, id) : NULL;
	json_object_set_new(*result, "running", json_boolean(e && e->check));
	json_object_set_new(*result, "queued", json_boolean(e && e->queued));
	if (e && e->note[0])
		json_object_set_new(*result, "note",
		                    json_pack("{s:I, s:s}", "time", (json_int_t)e->note_time,
		                              "diagnostic", e->note));
	json_decref(doc);
	return MNS_OK;
}

static const mns_plugin_command_t verify_commands[] = {
    {"verify.now", cmd_now,
     "{tenant}: check the delegation now; answers with the result when the lookups complete"},
    {"verify.status", cmd_status,
     "{tenant}: the stored verification state; without a tenant: counts by state"},
    {NULL, NULL, NULL},
};

MNS_PLUGIN(verify) = {
    .abi_major = MNS_PLUGIN_ABI_MAJOR,
    .abi_minor = MNS_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(mns_plugin_api_t),
    .name = "verify",
    .version = "0.2",
    .summary = "challenge token; checks each delegation through resolvers and keeps checking",
    .schema = verify_schema,
    .init = verify_init,
    .configure = verify_configure,
    .fini = verify_fini,
    .tenant_check = verify_check,
    .tenant_build = verify_build,
    .commands = verify_commands,
};
