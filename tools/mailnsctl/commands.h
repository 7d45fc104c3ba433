/*  The mailnsctl command table: the parser, --help and the generated shell
 *  completion all read it, so they cannot disagree.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MAILNSCTL_COMMANDS_H
#define MAILNSCTL_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct ctl ctl_t;
typedef struct command command_t;
typedef int (*command_fn)(ctl_t *c, const command_t *cm, int argc, char **argv);

/** What a command's first positional argument names (for completion). */
typedef enum command_arg {
	ARG_NONE,
	ARG_TENANT,  /**< A tenant id (the daemon's tenant list). */
	ARG_COMMAND, /**< A control command name (the daemon's "commands"). */
} command_arg_t;

struct command {
	const char *group;
	const char *name; /**< NULL: the group is the whole command. */
	command_fn fn;
	const char *synopsis; /**< Arguments after the name; '\n' starts a new help line. */
	const char *help;
	const char *const *valued; /**< Options taking a value (NULL-terminated, may be NULL). */
	const char *const *flags;  /**< Options without a value. */
	command_arg_t arg;
};

/** An option's possible values, for checks and completion. */
typedef struct option_values {
	const char *name;
	const char *const *choices; /**< NULL: free text. */
	bool file;                  /**< The value is a path. */
} option_values_t;

extern const command_t ctl_commands[];
extern const size_t ctl_n_commands;
/** Global options (accepted anywhere): with a value, and flags. */
extern const char *const ctl_global_valued[];
extern const char *const ctl_global_flags[];
/** Values of the options that have a fixed set (or are paths). */
extern const option_values_t ctl_option_values[];

/** \brief Writes a bash completion script for mailnsctl built from the tables above. */
void completion_bash(FILE *out);

#endif
