/*  Build tree or installed copy: decides the default config and plugin dir.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/paths.h"

/* The build tree's daemon must never pick up an installed config or plugins:
 * tests and tools/demo run it without -c and expect the embedded defaults
 * whatever is installed on the machine. The test is exact (the directory of
 * /proc/self/exe is the build's core/ folder) so an installed daemon never
 * mistakes a stray ../plugins for its own. */
bool mns_paths_in_build_tree(void)
{
	char link[PATH_MAX], exe[PATH_MAX], core[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	if (realpath(link, exe) == NULL || realpath(MNS_BUILD_DIR "/core", core) == NULL)
		return false;
	char *slash = strrchr(exe, '/');
	if (slash == NULL)
		return false;
	*slash = '\0';
	return strcmp(exe, core) == 0;
}

const char *mns_paths_default_config(void)
{
	if (mns_paths_in_build_tree())
		return NULL;
	return access(MNS_CONFIG_FILE, F_OK) == 0 ? MNS_CONFIG_FILE : NULL;
}

void mns_paths_default_plugin_dir(char *out, size_t len)
{
	snprintf(out, len, "%s", mns_paths_in_build_tree() ? MNS_PLUGIN_BUILD_DIR : MNS_PLUGIN_INSTALL_DIR);
}
