/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenant/instr.h"

struct mns_instructions {
	char *domain;
	uint32_t ttl;
	json_t *records;
};

mns_instructions_t *mns_instr_new(const char *domain, uint32_t ttl)
{
	mns_instructions_t *ins = calloc(1, sizeof(*ins));
	if (ins == NULL)
		return NULL;
	ins->domain = strdup(domain);
	ins->ttl = ttl;
	ins->records = json_array();
	return ins;
}

void mns_instr_free(mns_instructions_t *ins)
{
	if (ins == NULL)
		return;
	json_decref(ins->records);
	free(ins->domain);
	free(ins);
}

MNS_API int mns_instr_add(mns_instructions_t *ins, const char *name, const char *type,
                          const char *value, bool required, const char *purpose)
{
	json_t *r = json_pack("{s:s, s:s, s:s, s:b, s:s}", "name", name, "type", type, "value",
	                      value, "required", required, "purpose", purpose ? purpose : "");
	if (r == NULL)
		return MNS_ENOMEM;
	return json_array_append_new(ins->records, r) == 0 ? MNS_OK : MNS_ENOMEM;
}

/* Growing text buffer for the renderers. */
typedef struct {
	char *s;
	size_t len, cap;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 256) * 2;
		char *ns = realloc(b->s, cap);
		if (ns == NULL)
			return;
		b->s = ns;
		b->cap = cap;
	}
}

/* CSV field: quoted, inner quotes doubled (RFC 4180). */
static void sb_csv(sbuf_t *b, const char *v)
{
	sb_printf(b, "\"");
	for (const char *c = v; *c; c++)
		sb_printf(b, *c == '"' ? "\"\"" : "%c", *c);
	sb_printf(b, "\"");
}

static bool is_name_type(const char *type)
{
	return !strcmp(type, "CNAME") || !strcmp(type, "NS") || !strcmp(type, "MX");
}

json_t *mns_instr_render(const mns_instructions_t *ins, const char *format)
{
	size_t i;
	json_t *r;
	if (strcmp(format, "json") == 0)
		return json_pack("{s:s, s:O}", "format", "json", "records", ins->records);

	sbuf_t b = { 0 };
	sb_printf(&b, "%s", "");
	if (strcmp(format, "zone") == 0) {
		sb_printf(&b, "; records to add at the DNS provider of %s\n", ins->domain);
		json_array_foreach(ins->records, i, r) {
			const char *type = json_string_value(json_object_get(r, "type"));
			const char *value = json_string_value(json_object_get(r, "value"));
			sb_printf(&b, "%s.\t%u\tIN\t%s\t%s%s", json_string_value(json_object_get(r, "name")),
			          ins->ttl, type, value, is_name_type(type) ? "." : "");
			if (!json_is_true(json_object_get(r, "required")))
				sb_printf(&b, "\t; optional");
			sb_printf(&b, "\n");
		}
	} else if (strcmp(format, "csv") == 0) {
		sb_printf(&b, "\"Record name\",\"Record type\",\"Record value\"\r\n");
		json_array_foreach(ins->records, i, r) {
			sb_csv(&b, json_string_value(json_object_get(r, "name")));
			sb_printf(&b, ",");
			sb_csv(&b, json_string_value(json_object_get(r, "type")));
			sb_printf(&b, ",");
			sb_csv(&b, json_string_value(json_object_get(r, "value")));
			sb_printf(&b, "\r\n");
		}
	} else if (strcmp(format, "text") == 0) {
		size_t n = json_array_size(ins->records);
		sb_printf(&b, "Add %s %zu record%s at the DNS provider of %s:\n", n == 1 ? "this" : "these",
		          n, n == 1 ? "" : "s", ins->domain);
		json_array_foreach(ins->records, i, r) {
			sb_printf(&b, "\n%zu. %s%s\n   Name:  %s\n   Type:  %s\n   Value: %s\n", i + 1,
			          json_string_value(json_object_get(r, "purpose")),
			          json_is_true(json_object_get(r, "required")) ? "" : " (optional)",
			          json_string_value(json_object_get(r, "name")),
			          json_string_value(json_object_get(r, "type")),
			          json_string_value(json_object_get(r, "value")));
		}
	} else {
		free(b.s);
		return NULL;
	}
	json_t *out = json_pack("{s:s, s:s}", "format", format, "text", b.s ? b.s : "");
	free(b.s);
	return out;
}
