/*  The `stats` control command.
 *
 *  The reply is one JSON object of nested objects whose leaves are all
 *  integers (so that a client can render it without knowing the keys):
 *
 *    {"version": {"major": 0, "minor": 1, "patch": 0},
 *     "start-time": <unix seconds>, "uptime-seconds": n,
 *     "queries": {"total": n,
 *                 "transport": {"udp": n, "tcp": n},
 *                 "qtype": {"A": n, …, "TXT": n, …, "other": n},
 *                 "rcode": {"NOERROR": n, …, "other": n},
 *                 "zone-kind": {"none": n, "tenant": n, "tenant-cname": n,
 *                               "hosted": n, "static": n, "chaos": n}},
 *     "responses": {"truncated": n},
 *     "packets": {"dropped": n, "malformed": n},
 *     "xfr": {"axfr": n, "ixfr": n, "other": n},
 *     "control": {"<command>": {"ok": n, "error": n}, …, "unknown": {…},
 *                 "invalid": {…}},
 *     "tenants": {"total": n, "verification": {"pending": n, "verified": n,
 *                 "lost": n, "failed": n, "none": n}},
 *     "zones": n, "mutations": n,
 *     "store": {"file-bytes": n, "used-bytes": n}}
 *
 *  Every qtype, rcode, zone-kind, xfr and verification key is always there
 *  (zero or not); "control" holds the commands used since start ("unknown":
 *  requests for a command that does not exist, "invalid": lines that are
 *  not a well-formed request). Counters
 *  count from the start of the daemon; "queries" counts messages the
 *  answering code responded to (the three breakdowns each sum to "total"),
 *  "packets.dropped" those it did not answer, "packets.malformed" the
 *  FORMERR answers. The `stats` request itself is counted after its reply is
 *  built.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "stats/report.h"
#include "stats/stats.h"

static const char *const vstate_names[MNS_VSTATE_COUNT] = {"pending", "verified", "lost", "failed",
                                                           "none"};

const char *mns_stats_vstate_name(int i)
{
	return (unsigned)i < MNS_VSTATE_COUNT ? vstate_names[i] : "?";
}

static bool count_tenant(const char *id, json_t *doc, void *data)
{
	mns_stats_gauges_t *g = data;
	const char *state =
	    json_string_value(json_object_get(json_object_get(doc, "verify"), "state"));
	int i = MNS_VSTATE_NONE;
	for (int k = 0; state != NULL && k < MNS_VSTATE_NONE; k++)
		if (strcmp(state, vstate_names[k]) == 0)
			i = k;
	g->by_state[i]++;
	g->tenants++;
	return true;
}

void mns_stats_gauges_compute(mns_server_t *s, mns_stats_gauges_t *g)
{
	memset(g, 0, sizeof(*g));
	g->computed = (int64_t)time(NULL);
	g->zones = mns_index_count(s->index);
	g->mutations = s->mutations;
	if (s->store == NULL)
		return;
	mns_txn_t *txn;
	mns_error_t err;
	if (mns_txn_begin(s->store, false, &txn, &err) == MNS_OK) {
		mns_store_tenant_each(txn, NULL, count_tenant, g);
		mns_txn_abort(txn);
	}
	mns_store_usage(s->store, &g->store_file_bytes, &g->store_used_bytes);
	g->store_commits = mns_store_commits(s->store);
}

static void set_int(json_t *o, const char *k, uint64_t v)
{
	json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void add_command(const char *cmd, uint64_t ok, uint64_t error, void *data)
{
	json_t *o = json_object();
	set_int(o, "ok", ok);
	set_int(o, "error", error);
	json_object_set_new(data, cmd, o);
}

int mns_stats_cmd(mns_server_t *s, const json_t *args, json_t **result, mns_error_t *err)
{
	int ret = mns_json_check_keys(args, "args", (const char *const[]){NULL}, err);
	if (ret != MNS_OK)
		return ret;
	mns_stats_sum_t sum;
	mns_stats_sum(&sum);
	mns_stats_gauges_t g;
	mns_stats_gauges_compute(s, &g);
	mns_metrics_publish(s, &g); /* The metrics listener serves the same values. */

	json_t *r = json_object();
	unsigned major = 0, minor = 0, patch = 0;
	sscanf(MNS_VERSION, "%u.%u.%u", &major, &minor, &patch);
	json_object_set_new(r, "version",
	                    json_pack("{s:i, s:i, s:i}", "major", (int)major, "minor", (int)minor,
	                              "patch", (int)patch));
	set_int(r, "start-time", (uint64_t)s->started);
	set_int(r, "uptime-seconds", (uint64_t)(time(NULL) - s->started));

	json_t *q = json_object(), *tr = json_object(), *qt = json_object(), *rc = json_object(),
	       *zk = json_object();
	uint64_t total = 0;
	uint64_t by_qt[MNS_STATS_N_QTYPE] = {0}, by_rc[MNS_STATS_N_RCODE] = {0};
	for (int t = 0; t < MNS_STATS_N_TRANSPORT; t++) {
		uint64_t n = 0;
		for (int i = 0; i < MNS_STATS_N_QTYPE; i++)
			for (int k = 0; k < MNS_STATS_N_RCODE; k++) {
				n += sum.queries[t][i][k];
				by_qt[i] += sum.queries[t][i][k];
				by_rc[k] += sum.queries[t][i][k];
			}
		set_int(tr, mns_stats_transport_name(t), n);
		total += n;
	}
	for (int i = 0; i < MNS_STATS_N_QTYPE; i++)
		set_int(qt, mns_stats_qtype_name(i), by_qt[i]);
	for (int k = 0; k < MNS_STATS_N_RCODE; k++)
		set_int(rc, mns_stats_rcode_name(k), by_rc[k]);
	for (int z = 0; z < MNS_STATS_N_ZONE; z++)
		set_int(zk, mns_stats_zone_name(z), sum.zone[z]);
	set_int(q, "total", total);
	json_object_set_new(q, "transport", tr);
	json_object_set_new(q, "qtype", qt);
	json_object_set_new(q, "rcode", rc);
	json_object_set_new(q, "zone-kind", zk);
	json_object_set_new(r, "queries", q);

	json_object_set_new(r, "responses",
	                    json_pack("{s:I}", "truncated", (json_int_t)sum.truncated));
	json_object_set_new(r, "packets",
	                    json_pack("{s:I, s:I}", "dropped", (json_int_t)sum.dropped, "malformed",
	                              (json_int_t)sum.malformed));
	json_t *x = json_object();
	for (int i = 0; i < MNS_STATS_N_XFR; i++)
		set_int(x, mns_stats_xfr_name(i),
		        sum.xfr[MNS_STATS_UDP][i] + sum.xfr[MNS_STATS_TCP][i]);
	json_object_set_new(r, "xfr", x);

	json_t *ctl = json_object();
	mns_stats_control_foreach(add_command, ctl);
	json_object_set_new(r, "control", ctl);

	json_t *ten = json_object(), *ver = json_object();
	set_int(ten, "total", g.tenants);
	for (int i = 0; i < MNS_VSTATE_COUNT; i++)
		set_int(ver, vstate_names[i], g.by_state[i]);
	json_object_set_new(ten, "verification", ver);
	json_object_set_new(r, "tenants", ten);
	set_int(r, "zones", g.zones);
	set_int(r, "mutations", g.mutations);
	json_object_set_new(r, "store",
	                    json_pack("{s:I, s:I, s:I}", "file-bytes", (json_int_t)g.store_file_bytes,
	                              "used-bytes", (json_int_t)g.store_used_bytes, "commits",
	                              (json_int_t)g.store_commits));
	*result = r;
	return MNS_OK;
}
