/*  A real server without plugins on a fresh store in a temp dir, for unit
 *  tests that drive the control path (mns_control_handle_line) directly.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_TEST_SERVER_H
#define MNS_TEST_SERVER_H

#include "mns_test.h"
#include "server_lifecycle.h"

typedef struct mns_test_server {
	char *dir;
	uv_loop_t loop;
	mns_server_t s;
} mns_test_server_t;

/** Starts \a t; \return 0, or -1 (message printed) when init fails. */
static inline int mns_test_server_start(mns_test_server_t *t)
{
	memset(t, 0, sizeof(*t));
	t->dir = mns_test_tmpdir();
	char text[1024];
	snprintf(text, sizeof(text), "[server]\nplugins =\ndata = %s/data\nlog-level = error\n",
	         t->dir);
	t->s.conf_path = mns_test_write(t->dir, "mailns.conf", text);
	mns_rcu_register();
	uv_loop_init(&t->loop);
	char err[1024] = "";
	if (mns_server_init(&t->s, &t->loop, err, sizeof(err)) != MNS_OK) {
		print_message("server init: %s\n", err);
		return -1;
	}
	return 0;
}

/** Stops \a t and removes its directory. */
static inline void mns_test_server_stop(mns_test_server_t *t)
{
	char *conf = t->s.conf_path;
	mns_server_deinit(&t->s);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	uv_loop_close(&t->loop);
	mns_rcu_unregister();
	mns_test_rmtree(t->dir);
	free(t->dir);
	free(conf);
}

#endif
