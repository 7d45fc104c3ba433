/*  Where the daemon finds its config and plugins without being told: the
 *  build tree's own files when it runs from there, the installed ones else.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_PATHS_H
#define MNS_PATHS_H

#include <stdbool.h>
#include <stddef.h>

/** \brief Whether this process is the mailnsd of the build tree it was
 *  compiled in (<build>/core/mailnsd), not an installed copy. */
bool mns_paths_in_build_tree(void);

/** \brief The config file to read when -c is not given: the installed one
 *  (MNS_CONFIG_FILE) if it exists and this is not the build tree's daemon.
 *  \return a static path, or NULL for the embedded defaults. */
const char *mns_paths_default_config(void);

/** \brief The plugin directory when the config names none: the build's
 *  plugin folder in the build tree, else the installed one. */
void mns_paths_default_plugin_dir(char *out, size_t len);

#endif
