/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.h"
#include "priv/priv.h"

static int lookup_group(const char *name, gid_t *gid)
{
	struct group *g = getgrnam(name);
	if (g == NULL)
		return MNS_EINVAL;
	*gid = g->gr_gid;
	return MNS_OK;
}

int mns_priv_plan(const mns_conf_t *c, mns_priv_t *p, char *errbuf, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (c->control_group[0]) {
		if (lookup_group(c->control_group, &p->ctl_gid) != MNS_OK) {
			snprintf(errbuf, errlen, "control-group: no group named '%s'", c->control_group);
			return MNS_EINVAL;
		}
		p->ctl_group = true;
	}
	if (c->user[0] == '\0')
		return MNS_OK;
	struct passwd *pw = getpwnam(c->user);
	if (pw == NULL) {
		snprintf(errbuf, errlen, "user: no user named '%s'", c->user);
		return MNS_EINVAL;
	}
	if (pw->pw_uid == 0) {
		snprintf(errbuf, errlen, "user: '%s' is root: name an unprivileged user", c->user);
		return MNS_EINVAL;
	}
	snprintf(p->user, sizeof(p->user), "%s", c->user);
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	if (c->group[0] && lookup_group(c->group, &p->gid) != MNS_OK) {
		snprintf(errbuf, errlen, "group: no group named '%s'", c->group);
		return MNS_EINVAL;
	}
	if (geteuid() == 0) {
		p->drop = true;
		return MNS_OK;
	}
	/* Already running as that user (started by a service manager): nothing to do. */
	if (geteuid() == p->uid && getegid() == p->gid)
		return MNS_OK;
	snprintf(errbuf, errlen, "user: switching to '%s' needs mailnsd to be started as root",
	         c->user);
	return MNS_EINVAL;
}

int mns_priv_check_dir(const char *what, const char *dir, bool sticky_ok, char *errbuf,
                       size_t errlen)
{
	struct stat st;
	if (stat(dir, &st) != 0)
		return MNS_OK; /* Created later, by us: 0700. */
	if (!(st.st_mode & S_IWOTH))
		return MNS_OK;
	if (sticky_ok && (st.st_mode & S_ISVTX)) {
		mns_log(MNS_LOG_WARNING, "%s directory %s is writable by everyone (sticky): "
		        "a dedicated directory is safer", what, dir);
		return MNS_OK;
	}
	snprintf(errbuf, errlen, "%s directory %s is writable by everyone: anyone could replace "
	         "what mailnsd keeps there; chmod o-w it or choose another directory", what, dir);
	return MNS_EINVAL;
}

int mns_priv_chown(const mns_priv_t *p, const char *path, gid_t gid)
{
	if (!p->drop)
		return MNS_OK;
	if (chown(path, p->uid, gid == (gid_t)-1 ? p->gid : gid) != 0) {
		mns_log(MNS_LOG_ERR, "cannot give %s to user %s (%s)", path, p->user, strerror(errno));
		return MNS_ERROR;
	}
	return MNS_OK;
}

int mns_priv_drop(const mns_priv_t *p, const char *data_dir, char *errbuf, size_t errlen)
{
	if (!p->drop)
		return MNS_OK;
	if (initgroups(p->user, p->gid) != 0) {
		snprintf(errbuf, errlen, "cannot set the groups of user %s: %s", p->user,
		         strerror(errno));
		return MNS_ERROR;
	}
	/* Group first: once the uid is gone, the gid can no longer change. */
	if (setresgid(p->gid, p->gid, p->gid) != 0 || setresuid(p->uid, p->uid, p->uid) != 0) {
		snprintf(errbuf, errlen, "cannot switch to user %s: %s", p->user, strerror(errno));
		return MNS_ERROR;
	}
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != p->uid ||
	    eu != p->uid || su != p->uid || rg != p->gid || eg != p->gid || sg != p->gid ||
	    setuid(0) == 0 || seteuid(0) == 0) {
		snprintf(errbuf, errlen, "switching to user %s did not take: root is still in reach",
		         p->user);
		return MNS_ERROR;
	}
	/* The store stays open, but plugins write files under it later. */
	if (access(data_dir, R_OK | W_OK | X_OK) != 0) {
		snprintf(errbuf, errlen, "user %s cannot use the data directory %s (%s): make it and "
		         "its parents reachable by that user", p->user, data_dir, strerror(errno));
		return MNS_ERROR;
	}
	mns_log(MNS_LOG_NOTICE, "running as user %s (uid %u, gid %u)", p->user, (unsigned)p->uid,
	        (unsigned)p->gid);
	return MNS_OK;
}
