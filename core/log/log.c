/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <time.h>

#include "log/log.h"

static int max_level = MNS_LOG_INFO;

void mns_log_set_level(int level)
{
	max_level = level;
}

static const char *level_name(int level)
{
	switch (level) {
	case MNS_LOG_ERR: return "error";
	case MNS_LOG_WARNING: return "warning";
	case MNS_LOG_NOTICE: return "notice";
	case MNS_LOG_INFO: return "info";
	default: return "debug";
	}
}

void mns_vlog(int level, const char *prefix, const char *fmt, va_list ap)
{
	if (level > max_level)
		return;
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* One write per line keeps lines whole when several threads log. */
	fprintf(stderr, "%s level=%s %s%s%s\n", when, level_name(level), prefix ? prefix : "",
	        prefix ? " " : "", msg);
}

void mns_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mns_vlog(level, NULL, fmt, ap);
	va_end(ap);
}
