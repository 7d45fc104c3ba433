/*  Helpers shared by the unit tests.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_TEST_H
#define MNS_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/** Makes a fresh directory under /tmp; returns a malloc'd path. */
static inline char *mns_test_tmpdir(void)
{
	char tmpl[] = "/tmp/mns-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

/** Removes a directory tree made by mns_test_tmpdir (paths we created only). */
static inline void mns_test_rmtree(const char *dir)
{
	if (dir == NULL || strncmp(dir, "/tmp/mns-test-", 14) != 0)
		return;
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/** Writes \a text to \a dir/\a name; returns a malloc'd path. */
static inline char *mns_test_write(const char *dir, const char *name, const char *text)
{
	char *path = malloc(strlen(dir) + strlen(name) + 2);
	sprintf(path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

#endif
