/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"

enum { SINK_STDERR, SINK_JOURNAL, SINK_SYSLOG };

/* Set on the main loop, read by any thread that logs. */
static _Atomic int max_level = MNS_LOG_INFO;
static _Atomic int sink = SINK_STDERR;

void mns_log_set_level(int level)
{
	atomic_store_explicit(&max_level, level, memory_order_relaxed);
}

bool mns_log_enabled(int level)
{
	return level <= atomic_load_explicit(&max_level, memory_order_relaxed);
}

void mns_log_init(void)
{
	/* JOURNAL_STREAM is "<device>:<inode>" of the stream systemd connected;
	 * a child whose stderr was redirected since inherits the variable, hence
	 * the comparison. */
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		atomic_store(&sink, SINK_JOURNAL);
}

void mns_log_use_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(&sink, SINK_SYSLOG);
}

void mns_log_close(void)
{
	if (atomic_exchange(&sink, SINK_STDERR) == SINK_SYSLOG)
		closelog();
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

char *mns_log_quote(char *out, size_t outlen, const char *in)
{
	if (outlen == 0)
		return out;
	if (in == NULL)
		in = "";
	bool bare = in[0] != '\0';
	for (const char *p = in; bare && *p; p++)
		bare = (unsigned char)*p > ' ' && *p != '"' && *p != '\\' && *p != 0x7f;
	if (bare) {
		snprintf(out, outlen, "%s", in);
		return out;
	}
	size_t o = 0;
	if (outlen < 3) {
		out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (const char *p = in; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		char esc[8];
		size_t n;
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			n = 2;
		} else if (ch < ' ' || ch == 0x7f) {
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", ch);
		} else {
			esc[0] = (char)ch;
			n = 1;
		}
		if (o + n + 2 > outlen)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

void mns_vlog(int level, const char *prefix, const char *fmt, va_list ap)
{
	if (!mns_log_enabled(level))
		return;
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* A line is one line: a newline in a value would forge the next one. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	const char *pre = prefix ? prefix : "", *sep = prefix ? " " : "";
	switch (atomic_load(&sink)) {
	case SINK_SYSLOG:
		syslog(level, "level=%s %s%s%s", level_name(level), pre, sep, msg);
		return;
	case SINK_JOURNAL:
		fprintf(stderr, "<%d>level=%s %s%s%s\n", level, level_name(level), pre, sep, msg);
		return;
	default:
		break;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* One write per line keeps lines whole when several threads log. */
	fprintf(stderr, "%s level=%s %s%s%s\n", when, level_name(level), pre, sep, msg);
}

void mns_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mns_vlog(level, NULL, fmt, ap);
	va_end(ap);
}
