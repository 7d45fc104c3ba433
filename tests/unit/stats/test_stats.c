/*  Counter blocks: several writers, one sum; the control command table.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <libknot/libknot.h>

#include "log/log.h"
#include "stats/stats.h"

#define WRITERS 4
#define PER_WRITER 100000

static int teardown(void **state)
{
	mns_stats_reset();
	return 0;
}

typedef struct writer {
	mns_stats_block_t *b;
	int transport;
} writer_t;

/* Each thread writes only its own block, as a worker will. */
static void *write_block(void *arg)
{
	writer_t *w = arg;
	for (int i = 0; i < PER_WRITER; i++) {
		mns_stats_query(w->b, w->transport, KNOT_RRTYPE_TXT, KNOT_RCODE_NOERROR,
		                MNS_STATS_ZONE_TENANT, i % 10 == 0);
		if (i % 100 == 0)
			mns_stats_dropped(w->b);
	}
	return NULL;
}

static void blocks_sum_across_threads(void **state)
{
	writer_t w[WRITERS];
	pthread_t th[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		w[i].b = mns_stats_block_register();
		assert_non_null(w[i].b);
		assert_int_equal((uintptr_t)w[i].b % 64, 0); /* own cache lines */
		w[i].transport = i % 2 ? MNS_STATS_TCP : MNS_STATS_UDP;
	}
	/* Blocks do not share a cache line. */
	for (int i = 1; i < WRITERS; i++)
		assert_true((char *)w[i].b >= (char *)w[i - 1].b + sizeof(mns_stats_block_t) ||
		            (char *)w[i - 1].b >= (char *)w[i].b + sizeof(mns_stats_block_t));
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, write_block, &w[i]), 0);
	/* A reader summing while they write sees monotonic, never torn, values. */
	uint64_t last = 0;
	for (int r = 0; r < 50; r++) {
		mns_stats_sum_t s;
		mns_stats_sum(&s);
		uint64_t now = s.queries[MNS_STATS_UDP][MNS_STATS_QT_TXT][MNS_STATS_RC_NOERROR] +
		               s.queries[MNS_STATS_TCP][MNS_STATS_QT_TXT][MNS_STATS_RC_NOERROR];
		assert_true(now >= last);
		assert_true(now <= (uint64_t)WRITERS * PER_WRITER);
		last = now;
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);

	mns_stats_sum_t s;
	mns_stats_sum(&s);
	assert_int_equal(s.queries[MNS_STATS_UDP][MNS_STATS_QT_TXT][MNS_STATS_RC_NOERROR],
	                 (WRITERS / 2) * PER_WRITER);
	assert_int_equal(s.queries[MNS_STATS_TCP][MNS_STATS_QT_TXT][MNS_STATS_RC_NOERROR],
	                 (WRITERS / 2) * PER_WRITER);
	assert_int_equal(s.zone[MNS_STATS_ZONE_TENANT], WRITERS * PER_WRITER);
	assert_int_equal(s.truncated, WRITERS * (PER_WRITER / 10));
	assert_int_equal(s.dropped, WRITERS * (PER_WRITER / 100));
	assert_int_equal(s.malformed, 0);
}

static void buckets(void **state)
{
	mns_stats_block_t *b = mns_stats_block_register();
	assert_non_null(b);
	mns_stats_query(b, MNS_STATS_UDP, 12345, 23, MNS_STATS_ZONE_NONE, false);
	mns_stats_query(b, MNS_STATS_UDP, KNOT_RRTYPE_A, KNOT_RCODE_FORMERR, MNS_STATS_ZONE_NONE,
	                false);
	mns_stats_query(b, MNS_STATS_TCP, KNOT_RRTYPE_TXT, KNOT_RCODE_BADVERS, MNS_STATS_ZONE_NONE,
	                false);
	mns_stats_query(NULL, MNS_STATS_TCP, KNOT_RRTYPE_TXT, 0, MNS_STATS_ZONE_NONE, false);
	/* AXFR of "a." and a message too short to hold a QTYPE. */
	const uint8_t axfr[] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 252, 0, 1};
	mns_stats_xfr(b, MNS_STATS_TCP, axfr, sizeof(axfr));
	mns_stats_xfr(b, MNS_STATS_UDP, axfr, 13);
	mns_stats_sum_t s;
	mns_stats_sum(&s);
	assert_int_equal(s.queries[MNS_STATS_UDP][MNS_STATS_QT_OTHER][MNS_STATS_RC_OTHER], 1);
	assert_int_equal(s.queries[MNS_STATS_UDP][MNS_STATS_QT_A][MNS_STATS_RC_FORMERR], 1);
	assert_int_equal(s.queries[MNS_STATS_TCP][MNS_STATS_QT_TXT][MNS_STATS_RC_BADVERS], 1);
	assert_int_equal(s.malformed, 1);
	assert_int_equal(s.xfr[MNS_STATS_TCP][MNS_STATS_XFR_AXFR], 1);
	assert_int_equal(s.xfr[MNS_STATS_UDP][MNS_STATS_XFR_OTHER], 1);
	assert_string_equal(mns_stats_qtype_name(MNS_STATS_QT_TXT), "TXT");
	assert_string_equal(mns_stats_rcode_name(MNS_STATS_RC_NXDOMAIN), "NXDOMAIN");
}

typedef struct seen {
	char names[MNS_STATS_MAX_COMMANDS][64];
	uint64_t ok[MNS_STATS_MAX_COMMANDS], error[MNS_STATS_MAX_COMMANDS];
	size_t n;
} seen_t;

static void collect(const char *cmd, uint64_t ok, uint64_t error, void *data)
{
	seen_t *s = data;
	snprintf(s->names[s->n], 64, "%s", cmd);
	s->ok[s->n] = ok;
	s->error[s->n++] = error;
}

static void control_counters(void **state)
{
	mns_stats_control("tenant.add", true);
	mns_stats_control("tenant.add", false);
	mns_stats_control("tenant.add", true);
	mns_stats_control("status", true);
	char name[32];
	/* The table is bounded: past it every name counts as "other". */
	for (int i = 0; i < MNS_STATS_MAX_COMMANDS + 10; i++) {
		snprintf(name, sizeof(name), "x.%d", i);
		mns_stats_control(name, false);
	}
	static seen_t s;
	mns_stats_control_foreach(collect, &s);
	assert_int_equal(s.n, MNS_STATS_MAX_COMMANDS);
	assert_string_equal(s.names[0], "tenant.add");
	assert_int_equal(s.ok[0], 2);
	assert_int_equal(s.error[0], 1);
	assert_string_equal(s.names[1], "status");
	assert_string_equal(s.names[s.n - 1], "other");
	assert_int_equal(s.error[s.n - 1],
	                 MNS_STATS_MAX_COMMANDS + 10 - (MNS_STATS_MAX_COMMANDS - 3));
}

static void log_quote(void **state)
{
	char out[64];
	assert_string_equal(mns_log_quote(out, sizeof(out), "acme"), "acme");
	assert_string_equal(mns_log_quote(out, sizeof(out), ""), "\"\"");
	assert_string_equal(mns_log_quote(out, sizeof(out), "a b\"c\\\n"), "\"a b\\\"c\\\\\\x0a\"");
	assert_string_equal(mns_log_quote(out, 8, "0123456789"), "0123456");
	assert_string_equal(mns_log_quote(out, 8, "01 3456789"), "\"01 34\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(blocks_sum_across_threads, teardown),
	    cmocka_unit_test_teardown(buckets, teardown),
	    cmocka_unit_test(control_counters),
	    cmocka_unit_test(log_quote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
