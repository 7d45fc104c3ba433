/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mailns/plugin.h"
#include "util/util.h"

static void verror(mns_error_t *err, const char *key, const char *code, const char *fmt,
                   va_list ap)
{
	if (err == NULL)
		return;
	snprintf(err->code, sizeof(err->code), "%s", code);
	snprintf(err->key, sizeof(err->key), "%s", key ? key : "");
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

MNS_API int mns_error_set(mns_error_t *err, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(err, NULL, code, fmt, ap);
	va_end(ap);
	return MNS_EINVAL;
}

MNS_API int mns_error_set_key(mns_error_t *err, const char *key, const char *code,
                              const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(err, key, code, fmt, ap);
	va_end(ap);
	return MNS_EINVAL;
}

const char *mns_strerror(int code)
{
	switch (code) {
	case MNS_OK: return "success";
	case MNS_ERROR: return "failure";
	case MNS_EINVAL: return "invalid input";
	case MNS_ENOENT: return "not found";
	case MNS_EEXIST: return "already exists";
	case MNS_ENOMEM: return "out of memory";
	case MNS_ESTORE: return "store failure";
	case MNS_ECLASH: return "record clash";
	default: return code < 0 && code > -1000 ? strerror(-code) : "unknown error";
	}
}
