/*  dkim — the key lifecycle (DESIGN.md, "DKIM lifecycle") as pure functions of
 *  a tenant's dkim section and the time, so that every rule is unit-tested
 *  without a daemon and a restart can recompute everything from the store.
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  Per selector pair (s1/s2 for RSA, e1/e2 for Ed25519):
 *
 *      active A ──(A.activated + period - lead)──▶ publish B on the free selector
 *      published B ──(B.published + lead)──▶ B active, A retired
 *      retired A ──(A.retired + hold)──▶ A withdrawn (deleted, metadata to history)
 *
 *  so a pair holds at most two keys: {A}, {A active, B published} or
 *  {B active, A retired}. A publish waits until the free selector really is
 *  free (a retired key is withdrawn first). Every step is stamped with the
 *  time it is applied, and the next step's time is computed from that stamp:
 *  after a restart the steps whose time has passed are applied in order, each
 *  exactly once (applying a step changes the state it was computed from).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_internal.h"

const mns_dkim_pair_t mns_dkim_pairs[MNS_DKIM_NPAIRS] = {
    {"rsa", "s1", "s2", "RSA"},
    {"ed25519", "e1", "e2", "Ed25519"},
};

int mns_dkim_pair_of(const char *alg)
{
	for (int i = 0; alg != NULL && i < MNS_DKIM_NPAIRS; i++)
		if (strcmp(mns_dkim_pairs[i].alg, alg) == 0)
			return i;
	return -1;
}

const char *mns_dkim_step_name(mns_dkim_step_kind_t kind)
{
	switch (kind) {
	case MNS_DKIM_WITHDRAW:
		return "withdraw";
	case MNS_DKIM_ACTIVATE:
		return "activate";
	case MNS_DKIM_PUBLISH:
		return "publish";
	default:
		return "none";
	}
}

static const char *str_of(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

int64_t mns_dkim_sel_time(const json_t *sel, const char *key)
{
	const json_t *v = json_object_get(sel, key);
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (strcmp(key, "published") == 0 || strcmp(key, "activated") == 0) {
		v = json_object_get(sel, "created");
		if (json_is_integer(v))
			return (int64_t)json_integer_value(v);
	}
	return 0;
}

/** The live keys of a pair, by state. */
typedef struct pair_keys {
	json_t *active, *published, *retired;
} pair_keys_t;

static bool state_is(const json_t *sel, const char *state)
{
	const char *s = str_of(sel, "state");
	return s != NULL && strcmp(s, state) == 0;
}

/** True if \a sel is the selector named \a name. */
static bool name_is(const json_t *sel, const char *name)
{
	const char *s = str_of(sel, "selector");
	return s != NULL && strcmp(s, name) == 0;
}

static pair_keys_t pair_keys(const json_t *sec, size_t pair)
{
	pair_keys_t k = {NULL, NULL, NULL};
	const json_t *selectors = json_object_get(sec, "selectors");
	json_t *sel;
	size_t i;
	json_array_foreach(selectors, i, sel)
	{
		const char *alg = str_of(sel, "algorithm");
		if (alg == NULL || strcmp(alg, mns_dkim_pairs[pair].alg) != 0)
			continue;
		if (state_is(sel, "active") && k.active == NULL)
			k.active = sel;
		else if (state_is(sel, "published") && k.published == NULL)
			k.published = sel;
		else if (state_is(sel, "retired") && k.retired == NULL)
			k.retired = sel;
	}
	return k;
}

/** The other selector of the pair than \a name. */
static const char *other_selector(size_t pair, const char *name)
{
	const mns_dkim_pair_t *pp = &mns_dkim_pairs[pair];
	return name != NULL && strcmp(name, pp->first) == 0 ? pp->second : pp->first;
}

static void step_set(mns_dkim_step_t *st, mns_dkim_step_kind_t kind, size_t pair,
                     const char *selector, int64_t at)
{
	st->kind = kind;
	st->pair = pair;
	snprintf(st->selector, sizeof(st->selector), "%s", selector != NULL ? selector : "");
	st->at = at;
}

mns_dkim_step_t mns_dkim_pair_next(const json_t *sec, size_t pair, const mns_dkim_policy_t *pol)
{
	mns_dkim_step_t st = {.kind = MNS_DKIM_NONE, .pair = pair, .selector = "", .at = 0};
	pair_keys_t k = pair_keys(sec, pair);

	if (k.retired != NULL) {
		step_set(&st, MNS_DKIM_WITHDRAW, pair, str_of(k.retired, "selector"),
		         mns_dkim_sel_time(k.retired, "retired") + pol->hold);
	} else if (k.published != NULL) {
		step_set(&st, MNS_DKIM_ACTIVATE, pair, str_of(k.published, "selector"),
		         mns_dkim_sel_time(k.published, "published") + pol->lead);
	} else if (k.active != NULL && pol->period > 0) {
		/* The new key signs one period after the current one began to. */
		int64_t activated = mns_dkim_sel_time(k.active, "activated");
		int64_t lead = pol->lead < pol->period ? pol->lead : pol->period;
		step_set(&st, MNS_DKIM_PUBLISH, pair,
		         other_selector(pair, str_of(k.active, "selector")),
		         activated + pol->period - lead);
	}
	return st;
}

mns_dkim_step_t mns_dkim_next_step(const json_t *sec, const mns_dkim_policy_t *pol)
{
	mns_dkim_step_t best = {.kind = MNS_DKIM_NONE, .pair = 0, .selector = "", .at = 0};
	for (size_t i = 0; i < MNS_DKIM_NPAIRS; i++) {
		mns_dkim_step_t st = mns_dkim_pair_next(sec, i, pol);
		if (st.kind != MNS_DKIM_NONE && (best.kind == MNS_DKIM_NONE || st.at < best.at))
			best = st;
	}
	return best;
}

/** Moves the selector at \a index out of the selectors into the history,
 *  without its key material. */
static int to_history(json_t *sec, json_t *selectors, size_t index, int64_t now)
{
	json_t *sel = json_array_get(selectors, index);
	json_t *hist = json_object_get(sec, "history");
	static const char *const keep[] = {"selector",  "algorithm", "bits",    "created",
	                                   "published", "activated", "retired", NULL};

	if (!json_is_array(hist)) {
		hist = json_array();
		if (hist == NULL || json_object_set_new(sec, "history", hist) != 0)
			return MNS_ENOMEM;
	}
	json_t *meta = json_object();
	if (meta == NULL)
		return MNS_ENOMEM;
	for (const char *const *k = keep; *k != NULL; k++) {
		json_t *v = json_object_get(sel, *k);
		if (v != NULL && json_object_set(meta, *k, v) != 0)
			goto nomem;
	}
	if (json_object_set_new(meta, "state", json_string("withdrawn")) != 0 ||
	    json_object_set_new(meta, "withdrawn", json_integer((json_int_t)now)) != 0 ||
	    json_array_append_new(hist, meta) != 0) {
		meta = NULL;
		goto nomem;
	}
	while (json_array_size(hist) > MNS_DKIM_HISTORY_MAX)
		json_array_remove(hist, 0);
	/* The private key goes with the selector object; the daemon's jansson
	 * allocator wipes every block it frees. */
	json_array_remove(selectors, index);
	return MNS_OK;
nomem:
	json_decref(meta);
	return MNS_ENOMEM;
}

static int set_int(json_t *o, const char *key, int64_t v)
{
	return json_object_set_new(o, key, json_integer((json_int_t)v)) == 0 ? MNS_OK : MNS_ENOMEM;
}

static int index_of(const json_t *selectors, const json_t *sel)
{
	size_t i;
	const json_t *s;
	json_array_foreach(selectors, i, s)
	{
		if (s == sel)
			return (int)i;
	}
	return -1;
}

int mns_dkim_step_apply(json_t *sec, const mns_dkim_step_t *st, json_t *key, int64_t now)
{
	json_t *selectors = json_object_get(sec, "selectors");
	pair_keys_t k;
	int ret;

	if (!json_is_array(selectors) || st->pair >= MNS_DKIM_NPAIRS)
		goto stale;
	k = pair_keys(sec, st->pair);

	switch (st->kind) {
	case MNS_DKIM_WITHDRAW: {
		if (k.retired == NULL || !name_is(k.retired, st->selector))
			goto stale;
		json_decref(key);
		return to_history(sec, selectors, (size_t)index_of(selectors, k.retired), now);
	}
	case MNS_DKIM_ACTIVATE:
		if (k.retired != NULL || k.published == NULL || !name_is(k.published, st->selector))
			goto stale;
		json_decref(key);
		if ((ret = set_int(k.published, "activated", now)) != MNS_OK ||
		    json_object_set_new(k.published, "state", json_string("active")) != 0)
			return MNS_ENOMEM;
		if (k.active != NULL) {
			if ((ret = set_int(k.active, "retired", now)) != MNS_OK ||
			    json_object_set_new(k.active, "state", json_string("retired")) != 0)
				return MNS_ENOMEM;
		}
		return MNS_OK;
	case MNS_DKIM_PUBLISH: {
		if (key == NULL || k.published != NULL || k.retired != NULL)
			goto stale;
		if (k.active != NULL && name_is(k.active, st->selector))
			goto stale;
		if (strcmp(st->selector, mns_dkim_pairs[st->pair].first) != 0 &&
		    strcmp(st->selector, mns_dkim_pairs[st->pair].second) != 0)
			goto stale;
		/* A leftover entry on the free selector (state "withdrawn", from
		 * before rotation existed) goes to the history first. */
		for (size_t i = json_array_size(selectors); i-- > 0;) {
			if (name_is(json_array_get(selectors, i), st->selector) &&
			    (ret = to_history(sec, selectors, i, now)) != MNS_OK) {
				json_decref(key);
				return ret;
			}
		}
		if (json_object_set_new(key, "selector", json_string(st->selector)) != 0 ||
		    json_object_set_new(key, "state", json_string("published")) != 0 ||
		    set_int(key, "published", now) != MNS_OK) {
			json_decref(key);
			return MNS_ENOMEM;
		}
		json_object_del(key, "activated");
		json_object_del(key, "retired");
		return json_array_append_new(selectors, key) == 0 ? MNS_OK : MNS_ENOMEM;
	}
	default:
		break;
	}
stale:
	json_decref(key);
	return MNS_EINVAL;
}

size_t mns_dkim_catch_up(json_t *sec, const mns_dkim_policy_t *pol, int64_t now,
                         mns_dkim_key_cb keys, void *data, mns_dkim_step_t *done, size_t max)
{
	bool blocked[MNS_DKIM_NPAIRS] = {false};
	size_t n = 0;
	/* A pair takes at most two steps per pass (withdraw then publish, or
	 * activate); the bound only guards against a corrupt section. */
	for (int guard = 0; guard < 4 * MNS_DKIM_NPAIRS; guard++) {
		mns_dkim_step_t st = {.kind = MNS_DKIM_NONE};
		/* The earliest due step of a pair that can proceed now. */
		for (size_t i = 0; i < MNS_DKIM_NPAIRS; i++) {
			mns_dkim_step_t s = mns_dkim_pair_next(sec, i, pol);
			if (blocked[i] || s.kind == MNS_DKIM_NONE || s.at > now)
				continue;
			if (st.kind == MNS_DKIM_NONE || s.at < st.at)
				st = s;
		}
		if (st.kind == MNS_DKIM_NONE)
			break;
		json_t *key = NULL;
		if (st.kind == MNS_DKIM_PUBLISH) {
			key = keys != NULL ? keys(data, st.pair, now) : NULL;
			if (key == NULL) {
				blocked[st.pair] = true; /* Waits for a key. */
				continue;
			}
		}
		if (mns_dkim_step_apply(sec, &st, key, now) != MNS_OK) {
			blocked[st.pair] = true;
			continue;
		}
		if (done != NULL && n < max)
			done[n] = st;
		n++;
	}
	return n;
}

int mns_dkim_rotate_check(const json_t *sec, size_t pair, int64_t now, const mns_dkim_policy_t *pol,
                          mns_dkim_step_t *st, char *why, size_t len)
{
	pair_keys_t k = pair_keys(sec, pair);
	const mns_dkim_pair_t *pp = &mns_dkim_pairs[pair];

	if (k.active == NULL) {
		snprintf(why, len, "there is no active %s key to rotate", pp->label);
		return MNS_EINVAL;
	}
	if (k.published != NULL) {
		snprintf(why, len,
		         "a rotation is in progress: the new %s key on selector %s becomes active "
		         "at %lld",
		         pp->label, str_of(k.published, "selector"),
		         (long long)(mns_dkim_sel_time(k.published, "published") + pol->lead));
		return MNS_EINVAL;
	}
	if (k.retired != NULL) {
		snprintf(why, len,
		         "the previous %s key on selector %s is still published for mail in "
		         "flight until %lld (retire-hold); its selector is free for a new key only "
		         "then",
		         pp->label, str_of(k.retired, "selector"),
		         (long long)(mns_dkim_sel_time(k.retired, "retired") + pol->hold));
		return MNS_EINVAL;
	}
	step_set(st, MNS_DKIM_PUBLISH, pair, other_selector(pair, str_of(k.active, "selector")),
	         now);
	return MNS_OK;
}

/* --- The schedule ------------------------------------------------------------- */

typedef struct sched_ent {
	char id[64];
	int64_t due;
	uint64_t hash;
	size_t slot; /* Its place in the hash index. */
} sched_ent_t;

struct mns_dkim_sched {
	sched_ent_t *heap; /* Min-heap on due. */
	size_t n, cap;
	size_t *slots; /* Open addressing, linear probing: heap index + 1, 0 = empty. */
	size_t mask;   /* Number of slots - 1 (a power of two), 0 before the first. */
};

static uint64_t id_hash(const char *id)
{
	uint64_t h = 14695981039346656037ull;
	for (const unsigned char *c = (const unsigned char *)id; *c; c++)
		h = (h ^ *c) * 1099511628211ull;
	return h;
}

mns_dkim_sched_t *mns_dkim_sched_new(void)
{
	return calloc(1, sizeof(mns_dkim_sched_t));
}

void mns_dkim_sched_free(mns_dkim_sched_t *s)
{
	if (s == NULL)
		return;
	free(s->heap);
	free(s->slots);
	free(s);
}

void mns_dkim_sched_clear(mns_dkim_sched_t *s)
{
	s->n = 0;
	if (s->slots != NULL)
		memset(s->slots, 0, (s->mask + 1) * sizeof(*s->slots));
}

size_t mns_dkim_sched_count(const mns_dkim_sched_t *s)
{
	return s->n;
}

size_t mns_dkim_sched_count_due(const mns_dkim_sched_t *s, int64_t now)
{
	size_t due = 0;
	for (size_t i = 0; i < s->n; i++)
		due += s->heap[i].due <= now;
	return due;
}

/* The slot holding \a id, or the empty slot where it would go. */
static size_t slot_of(const mns_dkim_sched_t *s, const char *id, uint64_t h, bool *found)
{
	size_t i = (size_t)h & s->mask;
	*found = false;
	while (s->slots[i] != 0) {
		const sched_ent_t *e = &s->heap[s->slots[i] - 1];
		if (e->hash == h && strcmp(e->id, id) == 0) {
			*found = true;
			break;
		}
		i = (i + 1) & s->mask;
	}
	return i;
}

/* Keeps the index at most half full. */
static int slots_grow(mns_dkim_sched_t *s)
{
	if (s->slots != NULL && 2 * (s->n + 1) <= s->mask + 1)
		return MNS_OK;
	size_t size = s->slots ? 2 * (s->mask + 1) : 64;
	size_t *slots = calloc(size, sizeof(*slots));
	if (slots == NULL)
		return MNS_ENOMEM;
	free(s->slots);
	s->slots = slots;
	s->mask = size - 1;
	for (size_t i = 0; i < s->n; i++) {
		size_t j = (size_t)s->heap[i].hash & s->mask;
		while (s->slots[j] != 0)
			j = (j + 1) & s->mask;
		s->slots[j] = i + 1;
		s->heap[i].slot = j;
	}
	return MNS_OK;
}

/* Empties slot \a i; later entries of its probe run move back (no tombstones). */
static void slot_remove(mns_dkim_sched_t *s, size_t i)
{
	s->slots[i] = 0;
	for (size_t j = (i + 1) & s->mask; s->slots[j] != 0; j = (j + 1) & s->mask) {
		sched_ent_t *e = &s->heap[s->slots[j] - 1];
		size_t home = (size_t)e->hash & s->mask;
		/* It stays if its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		s->slots[i] = s->slots[j];
		e->slot = i;
		s->slots[j] = 0;
		i = j;
	}
}

static void heap_swap(mns_dkim_sched_t *s, size_t a, size_t b)
{
	sched_ent_t t = s->heap[a];
	s->heap[a] = s->heap[b];
	s->heap[b] = t;
	s->slots[s->heap[a].slot] = a + 1;
	s->slots[s->heap[b].slot] = b + 1;
}

static void sift_up(mns_dkim_sched_t *s, size_t i)
{
	while (i > 0 && s->heap[(i - 1) / 2].due > s->heap[i].due) {
		heap_swap(s, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void sift_down(mns_dkim_sched_t *s, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->n && s->heap[l].due < s->heap[m].due)
			m = l;
		if (r < s->n && s->heap[r].due < s->heap[m].due)
			m = r;
		if (m == i)
			return;
		heap_swap(s, i, m);
		i = m;
	}
}

int mns_dkim_sched_set(mns_dkim_sched_t *s, const char *id, int64_t due)
{
	if (strlen(id) >= sizeof(s->heap[0].id))
		return MNS_OK;
	uint64_t h = id_hash(id);
	bool found = false;
	size_t slot = s->slots ? slot_of(s, id, h, &found) : 0;
	if (found) {
		size_t i = s->slots[slot] - 1;
		if (due == INT64_MAX) {
			slot_remove(s, slot);
			size_t last = --s->n;
			if (i != last) {
				s->heap[i] = s->heap[last];
				s->slots[s->heap[i].slot] = i + 1;
				sift_up(s, i);
				sift_down(s, i);
			}
			return MNS_OK;
		}
		int64_t was = s->heap[i].due;
		s->heap[i].due = due;
		if (due < was)
			sift_up(s, i);
		else
			sift_down(s, i);
		return MNS_OK;
	}
	if (due == INT64_MAX)
		return MNS_OK;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		sched_ent_t *heap = realloc(s->heap, cap * sizeof(*heap));
		if (heap == NULL)
			return MNS_ENOMEM;
		s->heap = heap;
		s->cap = cap;
	}
	if (slots_grow(s) != MNS_OK)
		return MNS_ENOMEM;
	slot = slot_of(s, id, h, &found);
	size_t i = s->n++;
	sched_ent_t *e = &s->heap[i];
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->due = due;
	e->hash = h;
	e->slot = slot;
	s->slots[slot] = i + 1;
	sift_up(s, i);
	return MNS_OK;
}

int64_t mns_dkim_sched_get(const mns_dkim_sched_t *s, const char *id)
{
	bool found = false;
	size_t slot = s->slots ? slot_of(s, id, id_hash(id), &found) : 0;
	return found ? s->heap[s->slots[slot] - 1].due : INT64_MAX;
}

bool mns_dkim_sched_first(const mns_dkim_sched_t *s, const char **id, int64_t *due)
{
	if (s->n == 0)
		return false;
	*id = s->heap[0].id;
	*due = s->heap[0].due;
	return true;
}
