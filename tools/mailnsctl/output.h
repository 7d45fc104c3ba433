/*  mailnsctl output: terminal width, colours, tables, "key: value" lines.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MAILNSCTL_OUTPUT_H
#define MAILNSCTL_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/** When to colour the output (--color). */
typedef enum out_color_mode {
	OUT_COLOR_AUTO,   /**< On a terminal, unless NO_COLOR is set. */
	OUT_COLOR_ALWAYS, /**< Always (also through pipes). */
	OUT_COLOR_NEVER,  /**< Never. */
} out_color_mode_t;

/** SGR sequences used by the output; "" when colours are off. */
typedef enum out_sgr {
	OUT_BOLD,
	OUT_RED,
	OUT_GREEN,
	OUT_YELLOW,
	OUT_RESET,
} out_sgr_t;

/** \brief Decides colours for stdout and stderr and the table width.
 *  Width: the terminal's (TIOCGWINSZ on stdout), else $COLUMNS, else 80. */
void out_init(out_color_mode_t mode);
/** \brief The width tables are fitted to (at least 20). */
int out_width(void);
/** \brief The escape sequence for \a s on stdout, or "" without colours. */
const char *out_sgr(out_sgr_t s);
/** \brief The escape sequence for \a s on stderr, or "" without colours. */
const char *out_sgr_err(out_sgr_t s);

/** \brief Exits with status 3 after "error: out of memory". */
void out_oom(void) __attribute__((noreturn));
/** \brief strdup() that exits on OOM. */
char *out_strdup(const char *s);
/** \brief asprintf() that exits on OOM. */
char *out_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** \brief A human-readable rendering of \a v (caller frees): null "-",
 *  booleans yes/no, arrays of scalars joined with ", ". */
char *out_value_str(const json_t *v);
/** \brief Prints \a v as indented JSON. */
void out_json(const json_t *v);
/** \brief Prints text as it is, with a final newline. */
void out_text(const char *text);
/** \brief Prints an object as aligned "key: value" lines with dotted keys for
 *  nested members ("dkim.selectors[0].bits"), skipping member \a skip. */
void out_object(const json_t *obj, const char *skip);
/** \brief Prints an object of nested objects as aligned "dotted.key value"
 *  lines, values right-aligned (counters and gauges). */
void out_dotted(const json_t *obj);
/** \brief Prints the objects of \a rows as a table fitted to out_width():
 *  one column per \a fields entry under \a headers; wide columns shrink and
 *  their cells end with "…", one line per row. */
void out_table(const json_t *rows, size_t ncols, const char *const *fields,
               const char *const *headers);

#endif
