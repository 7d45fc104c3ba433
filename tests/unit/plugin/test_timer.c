/*  Plugin timers: a plugin that works through a long job in slices re-arms a
 *  0 ms timer after each slice "so that the loop serves other events in
 *  between" (the dkim plugin's rotation and key-sealing runs do). libuv 1.44
 *  runs a timer started from a timer callback with a 0 timeout in the same
 *  pass, so such a chain never let the loop poll for I/O: a control request
 *  waited for the whole job (79 s for 100,000 tenants being sealed). This
 *  checks that the loop polls between any two firings of such a chain.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <uv.h>

#include "plugin/plugin_internal.h"
#include "plugin/registry.h"

enum { FIRINGS = 50 };

static const mns_plugin_api_t g_api = {
    .abi_major = MNS_PLUGIN_ABI_MAJOR,
    .abi_minor = MNS_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(mns_plugin_api_t),
    .name = "slices",
};

typedef struct chain {
	mns_plugin_t *p;
	uv_check_t check; /* Runs once per loop iteration, right after the poll. */
	unsigned polls;   /* Iterations (polls) so far. */
	unsigned fired;
	unsigned polls_at_last; /* polls when the previous slice ran */
	unsigned same_pass;     /* Slices that ran with no poll since the previous one. */
} chain_t;

static void on_check(uv_check_t *h)
{
	chain_t *c = h->data;
	c->polls++;
}

static void slice(mns_plugin_t *p, void *data)
{
	chain_t *c = data;
	if (c->fired > 0 && c->polls == c->polls_at_last)
		c->same_pass++;
	c->polls_at_last = c->polls;
	if (++c->fired < FIRINGS)
		assert_non_null(mns_plugin_timer_start(p, 0, 0, slice, c));
	else
		uv_close((uv_handle_t *)&c->check, NULL); /* The loop may end. */
}

static void test_zero_timer_chain_lets_the_loop_poll(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	mns_error_t err;
	chain_t c = {0};
	c.p = mns_plugin_create(&g_api, "slices", NULL, &err);
	assert_non_null(c.p);
	mns_plugin_attach(c.p, &loop, NULL);
	uv_check_init(&loop, &c.check);
	c.check.data = &c;
	uv_check_start(&c.check, on_check);
	assert_non_null(mns_plugin_timer_start(c.p, 0, 0, slice, &c));
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(c.fired, FIRINGS);
	assert_int_equal(c.same_pass, 0);
	mns_plugin_destroy(c.p);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_timer_chain_lets_the_loop_poll),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
