/*  mailnsctl — the control client for mailnsd.
 *  SPDX-License-Identifier: GPL-3.0-or-later
 *
 *  Speaks the control protocol of DESIGN.md: newline-delimited JSON over a
 *  unix stream socket, one request per line and one reply per line, in order.
 *  Every request carries an integer id and the reply must echo it.
 *
 *  Exit status: 0 ok, 1 the daemon refused the request, 2 usage error,
 *  3 cannot connect to the socket or an I/O error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "commands.h"
#include "output.h"

#ifndef MNS_VERSION
#define MNS_VERSION "unknown"
#endif

enum {
	EXIT_OK = 0,
	EXIT_SERVER = 1, /**< The daemon answered with an error. */
	EXIT_USAGE = 2,  /**< Bad command line. */
	EXIT_IO = 3,     /**< Cannot connect, timeout, broken or malformed reply. */
};

/** The daemon's embedded default (relative to its working directory). */
#define DEFAULT_SOCKET "mailns-data/control.sock"
#ifndef MNS_CONTROL_SOCKET
#define MNS_CONTROL_SOCKET "/run/mailns/control.sock"
#endif
#define DEFAULT_TIMEOUT_MS 30000
/** A reply larger than this is treated as a broken daemon. */
#define MAX_REPLY_SIZE ((size_t)256 * 1024 * 1024)

/** One connection to the daemon; opened lazily by the first request. */
typedef struct ctl {
	const char *socket_path;
	bool json_out;
	out_color_mode_t color;
	int timeout_ms;
	int fd;
	long long next_id;
	char *buf; /**< Bytes received and not yet consumed. */
	size_t len;
	size_t cap;
} ctl_t;

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mailnsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'mailnsctl --help'.\n", stderr);
	return EXIT_USAGE;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------- */
/* Connection and protocol                                                */
/* ---------------------------------------------------------------------- */

static int ctl_connect(ctl_t *c)
{
	struct sockaddr_un sa;
	int fd, flags;

	if (strlen(c->socket_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "error: cannot connect to %s: socket path too long\n",
		        c->socket_path);
		return EXIT_IO;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, c->socket_path, strlen(c->socket_path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "error: cannot connect to %s: socket: %s\n", c->socket_path,
		        strerror(errno));
		return EXIT_IO;
	}
	while (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		if (err == EINTR)
			continue;
		fprintf(stderr, "error: cannot connect to %s: %s\n", c->socket_path, strerror(err));
		if (err == ENOENT || err == ECONNREFUSED)
			fputs("hint: is mailnsd running? Select its socket with -s PATH or "
			      "MAILNS_SOCKET.\n",
			      stderr);
		close(fd);
		return EXIT_IO;
	}
	/* Non-blocking from here on, so that every wait goes through poll(). */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		fprintf(stderr, "error: %s: fcntl: %s\n", c->socket_path, strerror(errno));
		close(fd);
		return EXIT_IO;
	}
	c->fd = fd;
	return EXIT_OK;
}

static void ctl_close(ctl_t *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

/** Waits for \a events on the socket until \a deadline; returns EXIT_OK or EXIT_IO. */
static int wait_fd(ctl_t *c, short events, long long deadline, const char *what)
{
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = events};
		long long left = deadline - now_ms();
		int r;

		if (left <= 0)
			break;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return EXIT_OK;
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "error: %s: poll: %s\n", c->socket_path, strerror(errno));
			return EXIT_IO;
		}
	}
	fprintf(stderr, "error: %s: timed out after %.3g s while %s\n", c->socket_path,
	        c->timeout_ms / 1000.0, what);
	return EXIT_IO;
}

static int write_all(ctl_t *c, const char *data, size_t n, long long deadline)
{
	while (n > 0) {
		ssize_t w = send(c->fd, data, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int rc = wait_fd(c, POLLOUT, deadline, "sending the request");

				if (rc != EXIT_OK)
					return rc;
				continue;
			}
			fprintf(stderr, "error: %s: write: %s\n", c->socket_path, strerror(errno));
			return EXIT_IO;
		}
		data += w;
		n -= (size_t)w;
	}
	return EXIT_OK;
}

/** Reads until c->buf holds a complete line; stores its length (without the newline). */
static int read_line(ctl_t *c, long long deadline, size_t *line_len)
{
	size_t scanned = 0;

	for (;;) {
		char *nl =
		    c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL;
		ssize_t n;
		int rc;

		if (nl != NULL) {
			*line_len = (size_t)(nl - c->buf);
			return EXIT_OK;
		}
		scanned = c->len;
		if (c->cap - c->len < 4096) {
			size_t ncap = c->cap ? c->cap * 2 : 65536;
			char *nbuf;

			if (ncap > MAX_REPLY_SIZE) {
				fprintf(stderr, "error: %s: reply larger than %zu bytes\n",
				        c->socket_path, MAX_REPLY_SIZE);
				return EXIT_IO;
			}
			nbuf = realloc(c->buf, ncap);
			if (nbuf == NULL)
				out_oom();
			c->buf = nbuf;
			c->cap = ncap;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == 0) {
			fprintf(stderr, "error: %s: the daemon closed the connection%s\n",
			        c->socket_path, c->len ? " in the middle of a reply" : "");
			return EXIT_IO;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			fprintf(stderr, "error: %s: read: %s\n", c->socket_path, strerror(errno));
			return EXIT_IO;
		}
		rc = wait_fd(c, POLLIN, deadline, "waiting for the reply");
		if (rc != EXIT_OK)
			return rc;
	}
}

static void consume(ctl_t *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/**
 * Sends one request and waits for its reply.
 * \param[in] args  request arguments (reference stolen; NULL sends {}).
 * \param[out] result  on EXIT_OK, a new reference to the result object.
 * \return EXIT_OK, EXIT_SERVER (error already printed) or EXIT_IO.
 */
static int ctl_call(ctl_t *c, const char *cmd, json_t *args, json_t **result)
{
	long long id, deadline;
	json_t *req, *reply, *rid, *ok;
	json_error_t jerr;
	char *text;
	size_t line_len;
	int rc;

	*result = NULL;
	if (args == NULL)
		args = json_object();
	if (c->fd < 0) {
		rc = ctl_connect(c);
		if (rc != EXIT_OK) {
			json_decref(args);
			return rc;
		}
	}
	id = c->next_id++;
	req = json_pack("{s:I, s:s, s:o}", "id", (json_int_t)id, "cmd", cmd, "args", args);
	if (req == NULL)
		out_oom();
	text = json_dumps(req, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(req);
	if (text == NULL)
		out_oom();

	deadline = now_ms() + c->timeout_ms;
	rc = write_all(c, text, strlen(text), deadline);
	if (rc == EXIT_OK)
		rc = write_all(c, "\n", 1, deadline);
	free(text);
	if (rc != EXIT_OK)
		return rc;

	rc = read_line(c, deadline, &line_len);
	if (rc != EXIT_OK)
		return rc;
	reply = json_loadb(c->buf, line_len, 0, &jerr);
	consume(c, line_len + 1);
	if (reply == NULL || !json_is_object(reply)) {
		fprintf(stderr, "error: %s: malformed reply: %s\n", c->socket_path,
		        reply ? "not a JSON object" : jerr.text);
		json_decref(reply);
		return EXIT_IO;
	}
	rid = json_object_get(reply, "id");
	if (!json_is_integer(rid) || json_integer_value(rid) != id) {
		char *got = rid ? json_dumps(rid, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

		fprintf(stderr, "error: %s: reply id mismatch (sent %lld, got %s)\n",
		        c->socket_path, id, got ? got : "none");
		free(got);
		json_decref(reply);
		return EXIT_IO;
	}
	ok = json_object_get(reply, "ok");
	if (json_is_true(ok)) {
		json_t *res = json_object_get(reply, "result");

		*result = res ? json_incref(res) : json_object();
		rc = EXIT_OK;
	} else if (json_is_false(ok)) {
		json_t *err = json_object_get(reply, "error");
		const char *code = json_string_value(json_object_get(err, "code"));
		const char *msg = json_string_value(json_object_get(err, "message"));

		fprintf(stderr, "%serror%s: %s: %s\n", out_sgr_err(OUT_RED), out_sgr_err(OUT_RESET),
		        code ? code : "unknown_error", msg ? msg : "(no message)");
		rc = EXIT_SERVER;
	} else {
		fprintf(stderr, "error: %s: malformed reply: no \"ok\" member\n", c->socket_path);
		rc = EXIT_IO;
	}
	json_decref(reply);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Command-line parsing                                                   */
/* ---------------------------------------------------------------------- */

static const char *const mode_names[] = {"ns", "cname", NULL};
static const char *const format_names[] = {"text", "zone", "csv", "json", NULL};
static const char *const color_names[] = {"auto", "always", "never", NULL};
static const char *const algorithm_names[] = {"rsa", "ed25519", NULL};
static const char *const shell_names[] = {"bash", NULL};

const char *const ctl_global_valued[] = {"-s", "--socket", "--timeout", "--color", NULL};
const char *const ctl_global_flags[] = {"--json", "-h", "--help", NULL};

const option_values_t ctl_option_values[] = {
    {"-s", NULL, true},
    {"--socket", NULL, true},
    {"--color", color_names, false},
    {"--mode", mode_names, false},
    {"--format", format_names, false},
    {"--algorithm", algorithm_names, false},
    {"--completion", shell_names, false},
    {NULL, NULL, false},
};

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++) {
		if (strcmp(s, *list) == 0)
			return true;
	}
	return false;
}

static int parse_timeout(ctl_t *c, const char *s)
{
	char *end;
	double sec;

	errno = 0;
	sec = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(sec) || sec <= 0 || sec > 86400)
		return usage_error(
		    "--timeout needs a number of seconds (0 < SEC <= 86400), got '%s'", s);
	c->timeout_ms = (int)(sec * 1000 + 0.999);
	return EXIT_OK;
}

static int parse_color(ctl_t *c, const char *s)
{
	if (strcmp(s, "auto") == 0)
		c->color = OUT_COLOR_AUTO;
	else if (strcmp(s, "always") == 0)
		c->color = OUT_COLOR_ALWAYS;
	else if (strcmp(s, "never") == 0)
		c->color = OUT_COLOR_NEVER;
	else
		return usage_error("--color must be auto, always or never, got '%s'", s);
	return EXIT_OK;
}

/**
 * Recognises option \a name at argv[*i], as "NAME VALUE" or "NAME=VALUE".
 * \return 1 if matched (value in *val), 0 if not, -1 if the value is missing.
 */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=' && name[1] == '-') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		usage_error("option %s needs a value", name);
		return -1;
	}
	*i += 1;
	*val = argv[*i];
	return 1;
}

/** Handles the global options wherever they appear: 1 consumed, 0 not ours, -1 error. */
static int global_option(ctl_t *c, int argc, char **argv, int *i)
{
	const char *v;
	int r;

	if (strcmp(argv[*i], "--json") == 0) {
		c->json_out = true;
		return 1;
	}
	r = opt_value(argc, argv, i, "-s", &v);
	if (r == 0)
		r = opt_value(argc, argv, i, "--socket", &v);
	if (r < 0)
		return -1;
	if (r > 0) {
		if (*v == '\0') {
			usage_error("the socket path is empty");
			return -1;
		}
		c->socket_path = v;
		return 1;
	}
	r = opt_value(argc, argv, i, "--timeout", &v);
	if (r < 0)
		return -1;
	if (r > 0)
		return parse_timeout(c, v) == EXIT_OK ? 1 : -1;
	r = opt_value(argc, argv, i, "--color", &v);
	if (r < 0)
		return -1;
	if (r > 0)
		return parse_color(c, v) == EXIT_OK ? 1 : -1;
	return 0;
}

typedef struct parsed {
	const char **pos;
	int npos;
	const char **opt_names;
	const char **opt_vals;
	int nopts;
} parsed_t;

static void parsed_free(parsed_t *p)
{
	free(p->pos);
	free(p->opt_names);
	free(p->opt_vals);
	memset(p, 0, sizeof(*p));
}

/**
 * Splits a subcommand's arguments into positionals and (name, value) option
 * pairs in command-line order, with the options \a cm declares; global
 * options are applied to \a c. Options with a fixed set of values are checked.
 * \return EXIT_OK or EXIT_USAGE (message printed).
 */
static int parse_args(ctl_t *c, const command_t *cm, int argc, char **argv, parsed_t *p)
{
	char what[64];
	bool only_pos = false;

	snprintf(what, sizeof(what), "%s%s%s", cm->group, cm->name ? " " : "",
	         cm->name ? cm->name : "");
	memset(p, 0, sizeof(*p));
	p->pos = calloc((size_t)argc + 1, sizeof(*p->pos));
	p->opt_names = calloc((size_t)argc + 1, sizeof(*p->opt_names));
	p->opt_vals = calloc((size_t)argc + 1, sizeof(*p->opt_vals));
	if (p->pos == NULL || p->opt_names == NULL || p->opt_vals == NULL)
		out_oom();
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		json_t *utf8 = json_string(a);
		bool matched = false;
		int r;

		if (utf8 == NULL)
			return usage_error("argument is not valid UTF-8: %s", a);
		json_decref(utf8);
		if (only_pos || a[0] != '-' || a[1] == '\0') {
			p->pos[p->npos++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = true;
			continue;
		}
		r = global_option(c, argc, argv, &i);
		if (r < 0)
			return EXIT_USAGE;
		if (r > 0)
			continue;
		for (const char *const *o = cm->valued; o && *o && !matched; o++) {
			const char *v;

			r = opt_value(argc, argv, &i, *o, &v);
			if (r < 0)
				return EXIT_USAGE;
			if (r == 0)
				continue;
			for (const option_values_t *ov = ctl_option_values; ov->name; ov++) {
				if (strcmp(ov->name, *o) != 0 || !ov->choices ||
				    one_of(v, ov->choices))
					continue;
				char list[128] = "";

				for (const char *const *ch = ov->choices; *ch; ch++)
					snprintf(list + strlen(list), sizeof(list) - strlen(list),
					         "%s%s", ch == ov->choices ? "" : ", ", *ch);
				return usage_error("%s must be one of %s; got '%s'", *o, list, v);
			}
			p->opt_names[p->nopts] = *o;
			p->opt_vals[p->nopts++] = v;
			matched = true;
		}
		for (const char *const *o = cm->flags; o && *o && !matched; o++) {
			if (strcmp(a, *o) == 0) {
				p->opt_names[p->nopts] = *o;
				p->opt_vals[p->nopts++] = NULL;
				matched = true;
			}
		}
		if (!matched)
			return usage_error("unknown option for '%s': %s", what, a);
	}
	return EXIT_OK;
}

/** Checks the number of positionals against \a cm's synopsis. */
static int want_positionals(const parsed_t *p, const command_t *cm, int min, int max,
                            const char *names)
{
	char what[64];

	snprintf(what, sizeof(what), "%s%s%s", cm->group, cm->name ? " " : "",
	         cm->name ? cm->name : "");
	if (p->npos < min)
		return usage_error("'%s' needs %s", what, names);
	if (p->npos > max)
		return usage_error("'%s' takes %s; unexpected argument '%s'", what,
		                   max ? names : "no arguments", p->pos[max]);
	return EXIT_OK;
}

/** Parses \a cm's arguments and checks there are \a min..max positionals. */
static int parse_command(ctl_t *c, const command_t *cm, int argc, char **argv, int min, int max,
                         const char *names, parsed_t *p)
{
	int rc = parse_args(c, cm, argc, argv, p);

	if (rc == EXIT_OK)
		rc = want_positionals(p, cm, min, max, names);
	if (rc != EXIT_OK)
		parsed_free(p);
	return rc;
}

/**
 * Applies "--set SECTION.KEY=VALUE" (or "--unset SECTION.KEY") to \a args:
 * args[SECTION][KEY] = VALUE parsed as JSON, else the string; null for --unset.
 */
static int apply_set(json_t *args, const char *spec, bool unset)
{
	const char *opt = unset ? "--unset" : "--set";
	const char *dot = strchr(spec, '.');
	const char *eq = unset ? NULL : strchr(spec, '=');
	const char *key_end = eq ? eq : spec + strlen(spec);
	char *section, *key;
	json_t *sec, *value;

	if (!unset && eq == NULL)
		return usage_error("%s needs SECTION.KEY=VALUE, got '%s'", opt, spec);
	if (dot == NULL || dot == spec || dot >= key_end || dot + 1 == key_end)
		return usage_error("%s needs SECTION.KEY%s (e.g. dmarc.p%s), got '%s'", opt,
		                   unset ? "" : "=VALUE", unset ? "" : "=reject", spec);
	if (unset) {
		value = json_null();
	} else {
		value = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
		if (value == NULL)
			value = json_string(eq + 1);
		if (value == NULL)
			out_oom();
	}
	section = strndup(spec, (size_t)(dot - spec));
	key = strndup(dot + 1, (size_t)(key_end - dot - 1));
	if (section == NULL || key == NULL)
		out_oom();
	sec = json_object_get(args, section);
	if (sec == NULL) {
		sec = json_object();
		json_object_set_new(args, section, sec);
	}
	if (!json_is_object(sec)) {
		usage_error("%s %s: '%s' is not a plugin section", opt, spec, section);
		json_decref(value);
		free(section);
		free(key);
		return EXIT_USAGE;
	}
	json_object_set_new(sec, key, value);
	free(section);
	free(key);
	return EXIT_OK;
}

/* ---------------------------------------------------------------------- */
/* Commands                                                               */
/* ---------------------------------------------------------------------- */

/** {"tenant": ID}; parse_args() has checked that ID is UTF-8. */
static json_t *tenant_args(const char *id)
{
	json_t *args = json_pack("{s:s}", "tenant", id);

	if (args == NULL)
		out_oom();
	return args;
}

/** Sends \a cmd; prints the result as JSON (--json) or with \a show. */
static int call_and_show(ctl_t *c, const char *cmd, json_t *args,
                         void (*show)(const ctl_t *c, const json_t *res))
{
	json_t *res;
	int rc = ctl_call(c, cmd, args, &res);

	if (rc != EXIT_OK)
		return rc;
	if (c->json_out)
		out_json(res);
	else
		show(c, res);
	json_decref(res);
	return EXIT_OK;
}

static void show_object(const ctl_t *c, const json_t *res)
{
	out_object(res, NULL);
}

static void show_dotted(const ctl_t *c, const json_t *res)
{
	out_dotted(res);
}

/** A tenant's public document: notices go to stderr, the rest as key: value lines. */
static void show_tenant(const ctl_t *c, const json_t *doc)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(doc, "notices"), i, e)
	{
		if (json_is_string(e))
			fprintf(stderr, "notice: %s\n", json_string_value(e));
	}
	out_object(doc, "notices");
}

static int cmd_status(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	parsed_t p;
	int rc = parse_command(c, cm, argc, argv, 0, 0, "", &p);

	if (rc != EXIT_OK)
		return rc;
	parsed_free(&p);
	return call_and_show(c, "status", NULL, show_object);
}

static int cmd_stats(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	parsed_t p;
	int rc = parse_command(c, cm, argc, argv, 0, 0, "", &p);

	if (rc != EXIT_OK)
		return rc;
	parsed_free(&p);
	return call_and_show(c, "stats", NULL, show_dotted);
}

/** Shared by add and update: the options that shape the tenant document. */
static int tenant_options(const parsed_t *p, json_t *args)
{
	for (int i = 0; i < p->nopts; i++) {
		const char *n = p->opt_names[i], *v = p->opt_vals[i];
		int rc = EXIT_OK;

		if (strcmp(n, "--mode") == 0)
			json_object_set_new(args, "mode", json_string(v));
		else if (strcmp(n, "--subdomain") == 0)
			json_object_set_new(args, "subdomain", json_string(v));
		else if (strcmp(n, "--domain") == 0)
			json_object_set_new(args, "domain", json_string(v));
		else if (strcmp(n, "--set") == 0)
			rc = apply_set(args, v, false);
		else if (strcmp(n, "--unset") == 0)
			rc = apply_set(args, v, true);
		if (rc != EXIT_OK)
			return rc;
	}
	return EXIT_OK;
}

static int cmd_tenant_add(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	parsed_t p;
	json_t *args;
	int rc = parse_command(c, cm, argc, argv, 2, 2, "ID DOMAIN", &p);

	if (rc != EXIT_OK)
		return rc;
	args = tenant_args(p.pos[0]);
	json_object_set_new(args, "domain", json_string(p.pos[1]));
	rc = tenant_options(&p, args);
	parsed_free(&p);
	if (rc != EXIT_OK) {
		json_decref(args);
		return rc;
	}
	return call_and_show(c, "tenant.add", args, show_tenant);
}

static int cmd_tenant_update(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	parsed_t p;
	json_t *args;
	int rc = parse_command(c, cm, argc, argv, 1, 1, "ID", &p);

	if (rc != EXIT_OK)
		return rc;
	args = tenant_args(p.pos[0]);
	rc = tenant_options(&p, args);
	if (rc == EXIT_OK && p.nopts == 0)
		rc = usage_error("'tenant update' needs something to change: --domain, "
		                 "--subdomain, --mode, --set or --unset");
	parsed_free(&p);
	if (rc != EXIT_OK) {
		json_decref(args);
		return rc;
	}
	return call_and_show(c, "tenant.update", args, show_tenant);
}

/** Commands of the form "group name ID" that send {"tenant": ID} to \a cmd. */
static int one_tenant(ctl_t *c, const command_t *cm, int argc, char **argv, const char *cmd,
                      void (*show)(const ctl_t *c, const json_t *res))
{
	parsed_t p;
	json_t *args;
	int rc = parse_command(c, cm, argc, argv, 1, 1, "ID", &p);

	if (rc != EXIT_OK)
		return rc;
	args = tenant_args(p.pos[0]);
	parsed_free(&p);
	return call_and_show(c, cmd, args, show);
}

static int cmd_tenant_get(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	return one_tenant(c, cm, argc, argv, "tenant.get", show_tenant);
}

static void show_removed(const ctl_t *c, const json_t *res)
{
	const char *id = json_string_value(json_object_get(res, "tenant"));

	printf("removed tenant %s\n", id ? id : "?");
}

static int cmd_tenant_remove(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	return one_tenant(c, cm, argc, argv, "tenant.remove", show_removed);
}

static void show_records(const ctl_t *c, const json_t *res)
{
	static const char *const fields[] = {"name", "ttl", "type", "value"};
	static const char *const headers[] = {"NAME", "TTL", "TYPE", "VALUE"};
	const char *text = json_string_value(json_object_get(res, "text"));

	if (text != NULL)
		out_text(text);
	else
		out_table(json_object_get(res, "records"), 4, fields, headers);
}

static int cmd_tenant_records(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	return one_tenant(c, cm, argc, argv, "tenant.records", show_records);
}

static void show_instructions(const ctl_t *c, const json_t *res)
{
	static const char *const fields[] = {"name", "type", "value", "required", "purpose"};
	static const char *const headers[] = {"NAME", "TYPE", "VALUE", "REQUIRED", "PURPOSE"};
	const char *text = json_string_value(json_object_get(res, "text"));

	if (text != NULL)
		out_text(text);
	else
		out_table(json_object_get(res, "records"), 5, fields, headers);
}

static int cmd_tenant_instructions(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	const char *format = NULL;
	parsed_t p;
	json_t *args;
	int rc = parse_command(c, cm, argc, argv, 1, 1, "ID", &p);

	if (rc != EXIT_OK)
		return rc;
	for (int i = 0; i < p.nopts; i++)
		format = p.opt_vals[i];
	/* Humans get text unless they ask; scripts (--json) get the server's default. */
	if (format == NULL && !c->json_out)
		format = "text";
	args = tenant_args(p.pos[0]);
	if (format != NULL)
		json_object_set_new(args, "format", json_string(format));
	parsed_free(&p);
	return call_and_show(c, "tenant.instructions", args, show_instructions);
}

static void show_tenant_list(const json_t *rows, const json_t *next, bool all)
{
	static const char *const fields[] = {"tenant", "domain", "mode", "zone"};
	static const char *const headers[] = {"TENANT", "DOMAIN", "MODE", "ZONE"};

	if (json_array_size(rows) == 0)
		puts("no tenants");
	else
		out_table(rows, 4, fields, headers);
	if (!all && next != NULL && !json_is_null(next)) {
		char *n = out_value_str(next);

		fprintf(stderr, "more: mailnsctl tenant list --after %s (or --all)\n", n);
		free(n);
	}
}

static int cmd_tenant_list(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	json_t *after = NULL, *limit = NULL, *all_rows, *next = NULL;
	bool all = false;
	parsed_t p;
	int rc = parse_command(c, cm, argc, argv, 0, 0, "", &p);

	if (rc != EXIT_OK)
		return rc;
	for (int i = 0; rc == EXIT_OK && i < p.nopts; i++) {
		const char *n = p.opt_names[i], *v = p.opt_vals[i];

		if (strcmp(n, "--all") == 0) {
			all = true;
		} else if (strcmp(n, "--after") == 0) {
			json_decref(after);
			after = json_string(v);
		} else if (strcmp(n, "--limit") == 0) {
			char *end;
			long long l;

			errno = 0;
			l = strtoll(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || l < 1 || l > 1000)
				rc = usage_error("--limit needs a number from 1 to 1000, got '%s'",
				                 v);
			json_decref(limit);
			limit = json_integer(l);
		}
	}
	parsed_free(&p);
	if (rc != EXIT_OK) {
		json_decref(after);
		json_decref(limit);
		return rc;
	}

	all_rows = json_array();
	for (int page = 0;; page++) {
		json_t *args = json_object(), *res;
		json_t *rows;

		if (after != NULL)
			json_object_set(args, "after", after);
		if (limit != NULL)
			json_object_set(args, "limit", limit);
		rc = ctl_call(c, "tenant.list", args, &res);
		if (rc != EXIT_OK)
			break;
		rows = json_object_get(res, "tenants");
		if (!json_is_array(rows)) {
			fprintf(stderr, "error: %s: malformed reply: no \"tenants\" array\n",
			        c->socket_path);
			json_decref(res);
			rc = EXIT_IO;
			break;
		}
		json_array_extend(all_rows, rows);
		json_decref(next);
		next = json_incref(json_object_get(res, "next"));
		json_decref(res);
		if (!all || next == NULL || json_is_null(next))
			break;
		if (after != NULL && json_equal(after, next)) {
			fprintf(stderr, "error: %s: tenant.list returned the same page twice\n",
			        c->socket_path);
			rc = EXIT_IO;
			break;
		}
		json_decref(after);
		after = json_incref(next);
	}
	if (rc == EXIT_OK) {
		if (c->json_out) {
			json_t *out = json_pack("{s:O, s:O}", "tenants", all_rows, "next",
			                        all || next == NULL ? json_null() : next);

			out_json(out);
			json_decref(out);
		} else {
			show_tenant_list(all_rows, next, all);
		}
	}
	json_decref(all_rows);
	json_decref(next);
	json_decref(after);
	json_decref(limit);
	return rc;
}

static void show_plugins(const ctl_t *c, const json_t *res)
{
	static const char *const fields[] = {"name", "version", "commands", "summary"};
	static const char *const headers[] = {"NAME", "VERSION", "COMMANDS", "SUMMARY"};

	out_table(json_object_get(res, "plugins"), 4, fields, headers);
}

static int cmd_plugin_list(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	parsed_t p;
	int rc = parse_command(c, cm, argc, argv, 0, 0, "", &p);

	if (rc != EXIT_OK)
		return rc;
	parsed_free(&p);
	return call_and_show(c, "plugin.list", NULL, show_plugins);
}

static void show_commands(const ctl_t *c, const json_t *res)
{
	static const char *const fields[] = {"name", "plugin", "help"};
	static const char *const headers[] = {"COMMAND", "PLUGIN", "HELP"};

	out_table(json_object_get(res, "commands"), 3, fields, headers);
}

static int cmd_commands(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	parsed_t p;
	int rc = parse_command(c, cm, argc, argv, 0, 0, "", &p);

	if (rc != EXIT_OK)
		return rc;
	parsed_free(&p);
	return call_and_show(c, "commands", NULL, show_commands);
}

static void show_keys(const ctl_t *c, const json_t *res)
{
	static const char *const fields[] = {"selector", "algorithm", "bits",
	                                     "state",    "created",   "public"};
	static const char *const headers[] = {"SELECTOR", "ALGORITHM", "BITS",
	                                      "STATE",    "CREATED",   "PUBLIC"};

	out_table(json_object_get(res, "selectors"), 6, fields, headers);
}

static int cmd_dkim_keys(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	return one_tenant(c, cm, argc, argv, "dkim.keys", show_keys);
}

static int cmd_dkim_rotate(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	parsed_t p;
	json_t *args;
	int rc = parse_command(c, cm, argc, argv, 1, 1, "ID", &p);

	if (rc != EXIT_OK)
		return rc;
	args = tenant_args(p.pos[0]);
	for (int i = 0; i < p.nopts; i++)
		json_object_set_new(args, "algorithm", json_string(p.opt_vals[i]));
	parsed_free(&p);
	return call_and_show(c, "dkim.rotate", args, show_object);
}

static int cmd_dkim_status(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	parsed_t p;
	int rc = parse_command(c, cm, argc, argv, 0, 0, "", &p);

	if (rc != EXIT_OK)
		return rc;
	parsed_free(&p);
	return call_and_show(c, "dkim.status", NULL, show_object);
}

static int cmd_verify_status(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	parsed_t p;
	json_t *args = NULL;
	int rc = parse_command(c, cm, argc, argv, 0, 1, "[ID]", &p);

	if (rc != EXIT_OK)
		return rc;
	if (p.npos == 1)
		args = tenant_args(p.pos[0]);
	parsed_free(&p);
	return call_and_show(c, "verify.status", args, show_object);
}

/* verify.now as a checklist: the green checkboxes a customer expects. */
static void show_check(const ctl_t *c, const json_t *res)
{
	size_t i;
	json_t *chk;

	json_array_foreach(json_object_get(res, "checks"), i, chk)
	{
		bool ok = json_is_true(json_object_get(chk, "ok"));
		const char *name = json_string_value(json_object_get(chk, "name"));
		const char *type = json_string_value(json_object_get(chk, "type"));
		const char *expected = json_string_value(json_object_get(chk, "expected"));
		const char *reason = json_string_value(json_object_get(chk, "reason"));

		printf("%s%s%s %s %s %s\n", out_sgr(ok ? OUT_GREEN : OUT_RED),
		       ok ? "\u2713" : "\u2717", out_sgr(OUT_RESET), name ? name : "?",
		       type ? type : "?", expected ? expected : "");
		if (!ok && reason && *reason)
			printf("    %s\n", reason);
	}
	const char *state = json_string_value(json_object_get(res, "state"));
	const char *diag = json_string_value(json_object_get(res, "diagnostic"));
	out_sgr_t col = state == NULL                    ? OUT_RESET
	                : strcmp(state, "verified") == 0 ? OUT_GREEN
	                : strcmp(state, "pending") == 0  ? OUT_YELLOW
	                                                 : OUT_RED;

	printf("state: %s%s%s%s%s\n", out_sgr(col), state ? state : "?", out_sgr(OUT_RESET),
	       diag && *diag ? " - " : "", diag && *diag ? diag : "");
}

static int cmd_tenant_check(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	return one_tenant(c, cm, argc, argv, "verify.now", show_check);
}

static void show_call(const ctl_t *c, const json_t *res)
{
	const char *text = json_string_value(json_object_get(res, "text"));

	if (text != NULL && json_object_size(res) <= 2)
		out_text(text);
	else
		out_object(res, NULL);
}

static int cmd_call(ctl_t *c, const command_t *cm, int argc, char **argv)
{
	parsed_t p;
	json_t *args = NULL;
	const char *cmd;
	int rc = parse_command(c, cm, argc, argv, 1, 2, "CMD [JSON-ARGS]", &p);

	if (rc != EXIT_OK)
		return rc;
	cmd = p.pos[0];
	if (p.npos == 2) {
		json_error_t jerr;

		args = json_loads(p.pos[1], 0, &jerr);
		if (args == NULL)
			rc = usage_error("JSON-ARGS is not valid JSON: %s", jerr.text);
		else if (!json_is_object(args))
			rc = usage_error("JSON-ARGS must be a JSON object, e.g. "
			                 "'{\"tenant\": \"acme\"}'");
	}
	if (rc != EXIT_OK) {
		parsed_free(&p);
		json_decref(args);
		return rc;
	}
	rc = call_and_show(c, cmd, args, show_call);
	parsed_free(&p);
	return rc;
}

static const char *const add_valued[] = {"--mode", "--subdomain", "--set", NULL};
static const char *const update_valued[] = {"--domain", "--subdomain", "--mode",
                                            "--set",    "--unset",     NULL};
static const char *const list_valued[] = {"--after", "--limit", NULL};
static const char *const list_flags[] = {"--all", NULL};
static const char *const instructions_valued[] = {"--format", NULL};
static const char *const rotate_valued[] = {"--algorithm", NULL};

const command_t ctl_commands[] = {
    {"status", NULL, cmd_status, "", "version, uptime, tenants, zones, plugins, listeners", NULL,
     NULL, ARG_NONE},
    {"stats", NULL, cmd_stats, "", "counters and gauges as \"dotted.key value\" lines", NULL, NULL,
     ARG_NONE},
    {"tenant", "add", cmd_tenant_add,
     "ID DOMAIN [--mode ns|cname] [--subdomain LABEL]\n[--set SECTION.KEY=VALUE]...",
     "add a tenant; prints its document", add_valued, NULL, ARG_NONE},
    {"tenant", "get", cmd_tenant_get, "ID", "show a tenant's document", NULL, NULL, ARG_TENANT},
    {"tenant", "list", cmd_tenant_list, "[--after ID] [--limit N] [--all]",
     "list tenants (one page, or every page with --all)", list_valued, list_flags, ARG_NONE},
    {"tenant", "update", cmd_tenant_update,
     "ID [--domain D] [--subdomain LABEL] [--mode ns|cname]\n"
     "[--set SECTION.KEY=VALUE]... [--unset SECTION.KEY]...",
     "change a tenant; plugin sections are merged", update_valued, NULL, ARG_TENANT},
    {"tenant", "remove", cmd_tenant_remove, "ID", "remove a tenant and its records", NULL, NULL,
     ARG_TENANT},
    {"tenant", "records", cmd_tenant_records, "ID",
     "everything published for a tenant (zone-file text)", NULL, NULL, ARG_TENANT},
    {"tenant", "instructions", cmd_tenant_instructions, "ID [--format text|zone|csv|json]",
     "what the customer must add to their DNS", instructions_valued, NULL, ARG_TENANT},
    {"tenant", "check", cmd_tenant_check, "ID",
     "check the tenant's DNS now: \u2713 or \u2717 per required record", NULL, NULL, ARG_TENANT},
    {"plugin", "list", cmd_plugin_list, "", "loaded plugins and their commands", NULL, NULL,
     ARG_NONE},
    {"dkim", "keys", cmd_dkim_keys, "ID", "a tenant's DKIM selectors and public keys", NULL, NULL,
     ARG_TENANT},
    {"dkim", "rotate", cmd_dkim_rotate, "ID [--algorithm rsa|ed25519]",
     "start a DKIM key rotation now", rotate_valued, NULL, ARG_TENANT},
    {"dkim", "status", cmd_dkim_status, "", "DKIM key pool and rotation schedule", NULL, NULL,
     ARG_NONE},
    {"verify", "status", cmd_verify_status, "[ID]",
     "a tenant's verification state, or counts by state", NULL, NULL, ARG_TENANT},
    {"commands", NULL, cmd_commands, "", "every control command the daemon answers", NULL, NULL,
     ARG_NONE},
    {"call", NULL, cmd_call, "CMD [JSON-ARGS]",
     "send any command (e.g. a plugin's) with an args object", NULL, NULL, ARG_COMMAND},
};
const size_t ctl_n_commands = sizeof(ctl_commands) / sizeof(ctl_commands[0]);

/* ---------------------------------------------------------------------- */
/* Help                                                                   */
/* ---------------------------------------------------------------------- */

/* The command list of --help, from the table: the synopsis (continuation
 * lines indented), then the help at column 34 or on the next line. */
static void usage_commands(FILE *out)
{
	for (size_t i = 0; i < ctl_n_commands; i++) {
		const command_t *cm = &ctl_commands[i];
		char *line =
		    out_asprintf("%s%s%s%s%s", cm->group, cm->name ? " " : "",
		                 cm->name ? cm->name : "", *cm->synopsis ? " " : "", cm->synopsis);
		char *nl = strchr(line, '\n');
		size_t indent = strlen(cm->group) + (cm->name ? strlen(cm->name) + 2 : 1);

		if (nl == NULL && strlen(line) <= 30) {
			fprintf(out, "  %-31s%s\n", line, cm->help);
		} else {
			for (char *s = line; s; s = nl ? nl + 1 : NULL) {
				nl = strchr(s, '\n');
				fprintf(out, "%*s%.*s\n", s == line ? 2 : (int)indent + 2, "",
				        nl ? (int)(nl - s) : (int)strlen(s), s);
			}
			fprintf(out, "%33s%s\n", "", cm->help);
		}
		free(line);
	}
	fprintf(out, "  %-31s%s\n", "help", "show this help");
}

static void usage(FILE *out)
{
	fputs("Usage: mailnsctl [-s SOCKET] [--json] [--timeout SEC] [--color WHEN] COMMAND "
	      "[ARGS...]\n"
	      "       mailnsctl --completion bash\n"
	      "\n"
	      "Manages the tenants of mailnsd over its control socket.\n"
	      "\n"
	      "Options (also accepted after the command):\n"
	      "  -s, --socket PATH  control socket (default: $MAILNS_SOCKET, else\n"
	      "                     " MNS_CONTROL_SOCKET " when it exists,\n"
	      "                     else " DEFAULT_SOCKET ")\n"
	      "  --json             print the daemon's result as JSON, for scripts\n"
	      "  --timeout SEC      wait at most SEC seconds for each reply (default 30)\n"
	      "  --color WHEN       auto (default: on a terminal unless NO_COLOR is set),\n"
	      "                     always or never\n"
	      "  -h, --help         show this help\n"
	      "  --version          show the version of mailnsctl\n"
	      "  --completion bash  print a bash completion script and exit\n"
	      "\n"
	      "Commands:\n",
	      out);
	usage_commands(out);
	fputs("\n"
	      "A --set VALUE that is valid JSON is sent as JSON, anything else as a string:\n"
	      "  mailnsctl tenant update acme --set dmarc.p=reject --set "
	      "spf.extra='[\"ip4:192.0.2.1\"]'\n"
	      "--unset SECTION.KEY removes a key from a plugin section (sends null).\n"
	      "Tables are fitted to the terminal width ($COLUMNS when not a terminal, else 80);\n"
	      "--json gives every value in full.\n"
	      "\n"
	      "Exit status: 0 ok; 1 the daemon refused the request (\"error: CODE: MESSAGE\" on\n"
	      "stderr); 2 usage error; 3 cannot connect to the socket, timeout or I/O error.\n",
	      out);
}

static int dispatch(ctl_t *c, int argc, char **argv)
{
	const char *group = argv[0];
	bool known_group = false;

	if (strcmp(group, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < ctl_n_commands; i++) {
		const command_t *cm = &ctl_commands[i];

		if (strcmp(cm->group, group) != 0)
			continue;
		known_group = true;
		if (cm->name == NULL)
			return cm->fn(c, cm, argc - 1, argv + 1);
		if (argc >= 2 && strcmp(cm->name, argv[1]) == 0)
			return cm->fn(c, cm, argc - 2, argv + 2);
	}
	if (!known_group)
		return usage_error("unknown command '%s'", group);
	if (argc < 2)
		return usage_error("'%s' needs a subcommand", group);
	return usage_error("unknown command '%s %s'", group, argv[1]);
}

/* The installed daemon's socket, when there is one. The build tree's
 * mailnsctl never uses it, so tests do not depend on what is installed. */
static const char *default_socket(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash != NULL)
			*slash = '\0';
	}
#ifdef MNS_CTL_BUILD_DIR
	if (n > 0 && strcmp(exe, MNS_CTL_BUILD_DIR) == 0)
		return DEFAULT_SOCKET;
#endif
	return access(MNS_CONTROL_SOCKET, F_OK) == 0 ? MNS_CONTROL_SOCKET : DEFAULT_SOCKET;
}

int main(int argc, char **argv)
{
	ctl_t c = {.fd = -1, .next_id = 1, .timeout_ms = DEFAULT_TIMEOUT_MS};
	const char *env = getenv("MAILNS_SOCKET");
	int i, rc;

	c.socket_path = env && *env ? env : default_socket();
	signal(SIGPIPE, SIG_IGN);

	/* --help anywhere (before "--") wins. */
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		}
	}
	for (i = 1; i < argc; i++) {
		const char *v;
		int r;

		if (strcmp(argv[i], "--version") == 0) {
			printf("mailnsctl %s\n", MNS_VERSION);
			return EXIT_OK;
		}
		r = opt_value(argc, argv, &i, "--completion", &v);
		if (r < 0)
			return EXIT_USAGE;
		if (r > 0) {
			if (strcmp(v, "bash") != 0)
				return usage_error("--completion supports bash, got '%s'", v);
			completion_bash(stdout);
			return fflush(stdout) == 0 ? EXIT_OK : EXIT_IO;
		}
		r = global_option(&c, argc, argv, &i);
		if (r < 0)
			return EXIT_USAGE;
		if (r > 0)
			continue;
		if (argv[i][0] == '-')
			return usage_error("unknown option '%s'", argv[i]);
		break;
	}
	if (i >= argc)
		return usage_error("no command given");

	/* Subcommands may still change --color; decided before any output. */
	for (int j = i; j < argc && strcmp(argv[j], "--") != 0; j++) {
		const char *v = strncmp(argv[j], "--color=", 8) == 0              ? argv[j] + 8
		                : strcmp(argv[j], "--color") == 0 && j + 1 < argc ? argv[j + 1]
		                                                                  : NULL;

		for (int k = 0; v && color_names[k]; k++)
			if (strcmp(v, color_names[k]) == 0)
				c.color = (out_color_mode_t)k;
	}
	out_init(c.color);
	rc = dispatch(&c, argc - i, argv + i);
	ctl_close(&c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "error: writing the output: %s\n", strerror(errno));
		if (rc == EXIT_OK)
			rc = EXIT_IO;
	}
	return rc;
}
