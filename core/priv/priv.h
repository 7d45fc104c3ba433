/*  Least privilege: started as root, mailnsd opens what needs root (ports
 *  below 1024, the control socket, the store), hands the files it keeps
 *  writing to the configured user, then drops to that user for good.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_PRIV_H
#define MNS_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf/conf.h"

/** What the daemon will run as, resolved from [server] user/group/control-group. */
typedef struct mns_priv {
	bool drop; /**< Started as root with a user configured: setuid after start. */
	char user[64];
	uid_t uid;
	gid_t gid;
	bool ctl_group; /**< control-group set: the socket's group. */
	gid_t ctl_gid;
} mns_priv_t;

/** \brief Resolves the names in \a c. A configured user that is not the
 *  current one needs root. \return MNS_OK, or MNS_EINVAL with a message. */
int mns_priv_plan(const mns_conf_t *c, mns_priv_t *p, char *errbuf, size_t errlen);

/** \brief Refuses a directory others may write to: anyone could replace what
 *  mailnsd keeps there. \a sticky_ok accepts a sticky one (/tmp: others
 *  cannot remove or rename our files in it). \return MNS_OK or MNS_EINVAL. */
int mns_priv_check_dir(const char *what, const char *dir, bool sticky_ok, char *errbuf,
                       size_t errlen);

/** \brief Gives \a path to the user mailnsd will run as (no-op without a
 *  drop); \a gid (or -1: the user's group) becomes its group. */
int mns_priv_chown(const mns_priv_t *p, const char *path, gid_t gid);

/** \brief Drops to the planned user and group (supplementary groups from
 *  the group database) and checks root cannot come back. \return MNS_OK or
 *  MNS_ERROR with a message; the daemon must not run on after a failure. */
int mns_priv_drop(const mns_priv_t *p, const char *data_dir, char *errbuf, size_t errlen);

#endif
