/*  mailnsctl output: terminal width, colours, tables, "key: value" lines.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "output.h"

/** Key column of "key: value" output is padded up to this width. */
#define MAX_KEY_WIDTH 28
/** Narrowest width a table is fitted to. */
#define MIN_WIDTH 20
/** A shrunk column keeps at least this many characters (or its header's). */
#define MIN_COLUMN 4

static struct {
	bool color_out, color_err;
	int width;
} out = {false, false, 80};

static const char *const sgr_codes[] = {
    [OUT_BOLD] = "\033[1m",    [OUT_RED] = "\033[31m",  [OUT_GREEN] = "\033[32m",
    [OUT_YELLOW] = "\033[33m", [OUT_RESET] = "\033[0m",
};

/* https://no-color.org: a non-empty NO_COLOR turns colours off by default. */
static bool want_color(out_color_mode_t mode, int fd)
{
	const char *nc = getenv("NO_COLOR");

	if (mode == OUT_COLOR_ALWAYS)
		return true;
	if (mode == OUT_COLOR_NEVER || (nc != NULL && *nc != '\0'))
		return false;
	if (!isatty(fd))
		return false;
	const char *term = getenv("TERM");
	return term == NULL || strcmp(term, "dumb") != 0;
}

void out_init(out_color_mode_t mode)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");

	out.color_out = want_color(mode, STDOUT_FILENO);
	out.color_err = want_color(mode, STDERR_FILENO);
	out.width = 80;
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
		out.width = ws.ws_col;
	} else if (cols != NULL && *cols != '\0') {
		char *end;
		long n = strtol(cols, &end, 10);

		if (*end == '\0' && n > 0 && n <= 1000000)
			out.width = (int)n;
	}
	if (out.width < MIN_WIDTH)
		out.width = MIN_WIDTH;
}

int out_width(void)
{
	return out.width;
}

const char *out_sgr(out_sgr_t s)
{
	return out.color_out ? sgr_codes[s] : "";
}

const char *out_sgr_err(out_sgr_t s)
{
	return out.color_err ? sgr_codes[s] : "";
}

void out_oom(void)
{
	fputs("error: out of memory\n", stderr);
	exit(3);
}

char *out_strdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		out_oom();
	return d;
}

char *out_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_oom();
	return s;
}

/* ---------------------------------------------------------------------- */
/* Values                                                                 */
/* ---------------------------------------------------------------------- */

static bool is_scalar(const json_t *v)
{
	return !json_is_object(v) && !json_is_array(v);
}

char *out_value_str(const json_t *v)
{
	char *s = NULL;

	if (v == NULL || json_is_null(v))
		s = out_strdup("-");
	else if (json_is_string(v))
		s = out_strdup(json_string_value(v));
	else if (json_is_integer(v))
		s = out_asprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		s = out_asprintf("%g", json_real_value(v));
	else if (json_is_true(v))
		s = out_strdup("yes");
	else if (json_is_false(v))
		s = out_strdup("no");
	else if (json_is_array(v) && json_array_size(v) == 0)
		s = out_strdup("-");
	else if (json_is_object(v) && json_object_size(v) == 0)
		s = out_strdup("-");
	else if (json_is_array(v)) {
		size_t i, total = 1;
		json_t *e;
		char **parts = calloc(json_array_size(v), sizeof(*parts));

		if (parts == NULL)
			out_oom();
		json_array_foreach(v, i, e)
		{
			parts[i] = is_scalar(e) ? out_value_str(e)
			                        : json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
			if (parts[i] == NULL)
				out_oom();
			total += strlen(parts[i]) + 2;
		}
		s = malloc(total);
		if (s == NULL)
			out_oom();
		s[0] = '\0';
		for (i = 0; i < json_array_size(v); i++) {
			if (i > 0)
				strcat(s, ", ");
			strcat(s, parts[i]);
			free(parts[i]);
		}
		free(parts);
	} else
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		out_oom();
	return s;
}

void out_json(const json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	putchar('\n');
}

void out_text(const char *text)
{
	size_t n = strlen(text);

	fputs(text, stdout);
	if (n == 0 || text[n - 1] != '\n')
		putchar('\n');
}

/* ---------------------------------------------------------------------- */
/* Key/value lines                                                        */
/* ---------------------------------------------------------------------- */

typedef struct kvlist {
	char **keys;
	char **vals;
	size_t n, cap;
} kvlist_t;

static void kv_add(kvlist_t *l, char *key, char *val)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		char **k = realloc(l->keys, ncap * sizeof(*k));

		if (k == NULL)
			out_oom();
		l->keys = k;
		k = realloc(l->vals, ncap * sizeof(*k));
		if (k == NULL)
			out_oom();
		l->vals = k;
		l->cap = ncap;
	}
	l->keys[l->n] = key;
	l->vals[l->n] = val;
	l->n++;
}

static void kv_free(kvlist_t *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->keys[i]);
		free(l->vals[i]);
	}
	free(l->keys);
	free(l->vals);
	memset(l, 0, sizeof(*l));
}

static bool all_scalars(const json_t *arr)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e)
	{
		if (!is_scalar(e))
			return false;
	}
	return true;
}

/* Flattens \a v into dotted keys ("dkim.selectors[0].bits") with scalar values. */
static void flatten(kvlist_t *l, const char *prefix, const json_t *v)
{
	if (json_is_object(v) && json_object_size(v) > 0) {
		const char *k;
		json_t *e;

		json_object_foreach((json_t *)v, k, e)
		{
			char *key = *prefix ? out_asprintf("%s.%s", prefix, k) : out_strdup(k);

			flatten(l, key, e);
			free(key);
		}
	} else if (json_is_array(v) && json_array_size(v) > 0 && !all_scalars(v)) {
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e)
		{
			char *key = out_asprintf("%s[%zu]", prefix, i);

			flatten(l, key, e);
			free(key);
		}
	} else {
		kv_add(l, out_strdup(*prefix ? prefix : "result"), out_value_str(v));
	}
}

void out_object(const json_t *obj, const char *skip)
{
	kvlist_t l = {0};
	size_t width = 0;
	const char *k;
	json_t *e;

	if (!json_is_object(obj)) {
		flatten(&l, "", obj);
	} else {
		json_object_foreach((json_t *)obj, k, e)
		{
			if (skip && strcmp(k, skip) == 0)
				continue;
			flatten(&l, k, e);
		}
	}
	for (size_t i = 0; i < l.n; i++) {
		size_t w = strlen(l.keys[i]) + 1;

		if (w > width && w <= MAX_KEY_WIDTH)
			width = w;
	}
	for (size_t i = 0; i < l.n; i++) {
		size_t w = strlen(l.keys[i]) + 1;

		printf("%s%s:%s%*s %s\n", out_sgr(OUT_BOLD), l.keys[i], out_sgr(OUT_RESET),
		       (int)(w < width ? width - w : 0), "", l.vals[i]);
	}
	kv_free(&l);
}

void out_dotted(const json_t *obj)
{
	kvlist_t l = {0};
	size_t kw = 0, vw = 0;

	flatten(&l, "", obj);
	for (size_t i = 0; i < l.n; i++) {
		if (strlen(l.keys[i]) > kw)
			kw = strlen(l.keys[i]);
		if (strlen(l.vals[i]) > vw)
			vw = strlen(l.vals[i]);
	}
	for (size_t i = 0; i < l.n; i++)
		printf("%s%-*s%s  %*s\n", out_sgr(OUT_BOLD), (int)kw, l.keys[i], out_sgr(OUT_RESET),
		       (int)vw, l.vals[i]);
	kv_free(&l);
}

/* ---------------------------------------------------------------------- */
/* Tables                                                                 */
/* ---------------------------------------------------------------------- */

/* Display width of UTF-8 text: one column per code point (the daemon sends
 * A-labels, so wide characters are rare). */
static size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* Prints \a s in \a width columns: cut with "…" when longer, padded unless
 * \a last (no trailing blanks). */
static void put_cell(const char *s, size_t width, bool last)
{
	size_t w = text_width(s);

	if (w > width) {
		size_t keep = width > 0 ? width - 1 : 0, seen = 0;
		const char *p = s;

		/* Copy whole code points only. */
		while (*p) {
			if (((unsigned char)*p & 0xC0) != 0x80) {
				if (seen == keep)
					break;
				seen++;
			}
			p++;
		}
		fwrite(s, 1, (size_t)(p - s), stdout);
		if (width > 0)
			fputs("\u2026", stdout);
		w = width;
	} else {
		fputs(s, stdout);
	}
	if (!last)
		printf("%*s", (int)(width - w), "");
}

/* Shrinks \a width[] until the columns and their 2-space gaps fit \a avail:
 * always the widest column that can still give, so short columns (ids,
 * types) stay whole and long ones (keys, summaries) are cut. */
static void fit_columns(size_t *width, const size_t *minw, size_t ncols, size_t avail)
{
	size_t total = 2 * (ncols - 1);

	for (size_t c = 0; c < ncols; c++)
		total += width[c];
	while (total > avail) {
		size_t best = ncols;

		for (size_t c = 0; c < ncols; c++)
			if (width[c] > minw[c] && (best == ncols || width[c] > width[best]))
				best = c;
		if (best == ncols)
			break; /* Everything at its minimum: lines stay wider. */
		width[best]--;
		total--;
	}
}

void out_table(const json_t *rows, size_t ncols, const char *const *fields,
               const char *const *headers)
{
	size_t nrows = json_array_size(rows);
	size_t *width = calloc(ncols, sizeof(*width));
	size_t *minw = calloc(ncols, sizeof(*minw));
	char **cells = calloc(nrows * ncols + 1, sizeof(*cells));

	if (width == NULL || minw == NULL || cells == NULL)
		out_oom();
	for (size_t c = 0; c < ncols; c++)
		width[c] = text_width(headers[c]);
	for (size_t r = 0; r < nrows; r++) {
		const json_t *row = json_array_get(rows, r);

		for (size_t c = 0; c < ncols; c++) {
			char *s = out_value_str(json_object_get(row, fields[c]));

			/* One line per row: control characters would break it. */
			for (char *p = s; *p; p++)
				if ((unsigned char)*p < 0x20)
					*p = ' ';
			cells[r * ncols + c] = s;
			if (text_width(s) > width[c])
				width[c] = text_width(s);
		}
	}
	for (size_t c = 0; c < ncols; c++) {
		size_t h = text_width(headers[c]);

		minw[c] = h > MIN_COLUMN ? h : MIN_COLUMN;
		if (minw[c] > width[c])
			minw[c] = width[c];
	}
	fit_columns(width, minw, ncols, (size_t)out_width());
	fputs(out_sgr(OUT_BOLD), stdout);
	for (size_t c = 0; c < ncols; c++) {
		put_cell(headers[c], width[c], c + 1 == ncols);
		if (c + 1 < ncols)
			fputs("  ", stdout);
	}
	printf("%s\n", out_sgr(OUT_RESET));
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			put_cell(cells[r * ncols + c], width[c], c + 1 == ncols);
			if (c + 1 < ncols)
				fputs("  ", stdout);
		}
		putchar('\n');
	}
	for (size_t i = 0; i < nrows * ncols; i++)
		free(cells[i]);
	free(cells);
	free(minw);
	free(width);
}
