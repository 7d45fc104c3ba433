/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <idn2.h>

#include "tenant/dname.h"

int mns_tenant_id_check(const char *id, mns_error_t *err)
{
	size_t len = id ? strlen(id) : 0;
	if (len == 0 || len > 63)
		return mns_error_set(err, "invalid_tenant_id",
		                     "tenant id must be 1 to 63 characters of a-z, 0-9 and '-'");
	if (!(islower((unsigned char)id[0]) || isdigit((unsigned char)id[0])))
		return mns_error_set(err, "invalid_tenant_id",
		                     "tenant id '%s' must start with a lowercase letter or digit", id);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];
		if (!(c >= 'a' && c <= 'z') && !isdigit(c) && c != '-')
			return mns_error_set(err, "invalid_tenant_id",
			                     "tenant id '%s' may contain only a-z, 0-9 and '-'", id);
	}
	return MNS_OK;
}

int mns_label_check(const char *label, bool allow_underscore, mns_error_t *err)
{
	size_t len = strlen(label);
	if (len == 0)
		return mns_error_set(err, "invalid_domain", "empty label");
	if (len > 63)
		return mns_error_set(err, "invalid_domain",
		                     "label longer than 63 octets: '%.70s…'", label);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)label[i];
		bool ok = isalnum(c) || c == '-' || (allow_underscore && c == '_');
		if (!ok || c > 127)
			return mns_error_set(err, "invalid_domain",
			                     "label '%s' contains '%c': use letters, digits and '-'",
			                     label, isprint(c) ? c : '?');
	}
	if (label[0] == '-' || label[len - 1] == '-')
		return mns_error_set(err, "invalid_domain",
		                     "label '%s' must not start or end with '-'", label);
	return MNS_OK;
}

MNS_API int mns_dname_normalize(const char *in, bool allow_underscore, char *out, size_t outlen,
                                mns_error_t *err)
{
	if (in == NULL || *in == '\0')
		return mns_error_set(err, "invalid_domain", "empty domain name");
	size_t len = strlen(in);
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return mns_error_set(err, "invalid_domain", "the root is not a domain we can serve");
	if (len > 253)
		return mns_error_set(err, "invalid_domain",
		                     "name longer than 253 characters (%zu)", len);
	if (len + 1 > outlen)
		return mns_error_set(err, "invalid_domain", "name too long");
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[len] = '\0';

	/* Check label by label on a copy, keeping out intact. */
	char buf[256];
	memcpy(buf, out, len + 1);
	char *save = NULL;
	int labels = 0;
	if (buf[0] == '.' || strstr(buf, "..") != NULL)
		return mns_error_set(err, "invalid_domain", "'%s' has an empty label", out);
	for (char *l = strtok_r(buf, ".", &save); l; l = strtok_r(NULL, ".", &save)) {
		int ret = mns_label_check(l, allow_underscore, err);
		if (ret != MNS_OK)
			return ret;
		labels++;
	}
	(void)labels;
	return MNS_OK;
}

bool mns_dname_in_zone(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);
	if (n < z || strcmp(name + n - z, zone) != 0)
		return false;
	return n == z || name[n - z - 1] == '.';
}

/* Strips "scheme://", anything after the host, and a leading "www." to make
 * a suggestion for someone who pasted a web address. */
static void suggest_from_url(const char *in, char *out, size_t outlen)
{
	const char *p = strstr(in, "://");
	p = p ? p + 3 : in;
	size_t n = strcspn(p, "/:?#");
	if (n >= 4 && strncasecmp(p, "www.", 4) == 0) {
		p += 4;
		n -= 4;
	}
	snprintf(out, outlen, "%.*s", (int)n, p);
	for (char *c = out; *c; c++)
		*c = (char)tolower((unsigned char)*c);
}

int mns_domain_from_user(const char *in, char *out, char *notice, size_t nlen, mns_error_t *err)
{
	if (notice && nlen)
		notice[0] = '\0';
	if (in == NULL)
		return mns_error_set(err, "invalid_domain", "domain is required, e.g. 'example.com'");

	/* Trim surrounding white space. */
	while (isspace((unsigned char)*in))
		in++;
	char work[1024];
	size_t len = strlen(in);
	if (len >= sizeof(work))
		return mns_error_set(err, "invalid_domain", "domain name is far too long (%zu characters)", len);
	memcpy(work, in, len + 1);
	while (len > 0 && isspace((unsigned char)work[len - 1]))
		work[--len] = '\0';
	if (len == 0)
		return mns_error_set(err, "invalid_domain", "domain is empty: enter a domain such as 'example.com'");

	if (strstr(work, "://") != NULL || strchr(work, '/') != NULL) {
		char hint[256];
		suggest_from_url(work, hint, sizeof(hint));
		return mns_error_set(err, "invalid_domain",
		                     "'%s' is a web address: enter only the domain you send mail from, e.g. '%s'",
		                     work, hint);
	}

	const char *domain = work;
	char *at = strrchr(work, '@');
	if (at != NULL) {
		domain = at + 1;
		if (*domain == '\0')
			return mns_error_set(err, "invalid_domain",
			                     "'%s' is an e-mail address without a domain: enter a domain such as 'example.com'",
			                     work);
		if (notice)
			snprintf(notice, nlen, "took the domain of the e-mail address '%s'", work);
	}

	/* U-labels become A-labels; plain ASCII passes through lowercased. */
	bool ascii = true;
	for (const char *c = domain; *c; c++)
		if ((unsigned char)*c > 127)
			ascii = false;
	char *alabels = NULL;
	if (!ascii) {
		int rc = idn2_to_ascii_8z(domain, &alabels, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
		if (rc != IDN2_OK)
			return mns_error_set(err, "invalid_domain",
			                     "'%s' is not a valid internationalised domain name (%s): enter it in its xn-- (A-label) form",
			                     domain, idn2_strerror(rc));
		if (notice && notice[0] == '\0')
			snprintf(notice, nlen, "converted '%s' to its A-label form '%s'", domain, alabels);
		domain = alabels;
	}

	int ret = mns_dname_normalize(domain, false, out, MNS_DNAME_TXT_MAX, err);
	if (ret == MNS_OK && strchr(out, '.') == NULL)
		ret = mns_error_set(err, "invalid_domain",
		                    "'%s' has a single label: enter a full domain such as '%s.com'", out, out);
	if (ret == MNS_OK) {
		const char *tld = strrchr(out, '.') + 1;
		bool numeric = true;
		for (const char *c = tld; *c; c++)
			numeric = numeric && isdigit((unsigned char)*c);
		if (numeric)
			ret = mns_error_set(err, "invalid_domain",
			                    "'%s' looks like an address, not a domain name", out);
	}
	free(alabels);
	return ret;
}
