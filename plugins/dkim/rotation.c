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
#include <stdio.h>
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
