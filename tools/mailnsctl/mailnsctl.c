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
/** Key column of "key: value" output is padded up to this width. */
#define MAX_KEY_WIDTH 28

/** One connection to the daemon; opened lazily by the first request. */
typedef struct ctl {
	const char *socket_path;
	bool json_out;
	int timeout_ms;
	int fd;
	long long next_id;
	char *buf; /**< Bytes received and not yet consumed. */
	size_t len;
	size_t cap;
} ctl_t;

static const char usage_text[] =
    "Usage: mailnsctl [-s SOCKET] [--json] [--timeout SEC] COMMAND [ARGS...]\n"
    "\n"
    "Manages the tenants of mailnsd over its control socket.\n"
    "\n"
    "Options (also accepted after the command):\n"
    "  -s, --socket PATH  control socket (default: $MAILNS_SOCKET, else\n"
    "                     " MNS_CONTROL_SOCKET " when it exists,\n"
    "                     else " DEFAULT_SOCKET ")\n"
    "  --json             print the result as JSON, for scripts\n"
    "  --timeout SEC      wait at most SEC seconds for each reply (default 30)\n"
    "  -h, --help         show this help\n"
    "  --version          show the version of mailnsctl\n"
    "\n"
    "Commands:\n"
    "  status                         version, uptime, tenants, zones, plugins, listeners\n"
    "  tenant add ID DOMAIN [--mode ns|cname] [--subdomain LABEL]\n"
    "             [--set SECTION.KEY=VALUE]...\n"
    "                                 add a tenant; prints its document\n"
    "  tenant get ID                  show a tenant's document\n"
    "  tenant list [--after ID] [--limit N] [--all]\n"
    "                                 list tenants (one page, or every page with --all)\n"
    "  tenant update ID [--domain D] [--subdomain LABEL] [--mode ns|cname]\n"
    "             [--set SECTION.KEY=VALUE]... [--unset SECTION.KEY]...\n"
    "                                 change a tenant; plugin sections are merged\n"
    "  tenant remove ID               remove a tenant and its records\n"
    "  tenant records ID              everything published for a tenant (zone-file text)\n"
    "  tenant instructions ID [--format text|zone|csv|json]\n"
    "                                 what the customer must add to their DNS\n"
    "  tenant check ID                check the tenant's DNS now (verify plugin): one\n"
    "                                 line per required record, \u2713 or \u2717 with the reason\n"
    "  plugin list                    loaded plugins and their commands\n"
    "  dkim keys ID                   a tenant's DKIM selectors and public keys\n"
    "  call CMD [JSON-ARGS]           send any command (e.g. a plugin's) with an args object\n"
    "  help                           show this help\n"
    "\n"
    "A --set VALUE that is valid JSON is sent as JSON, anything else as a string:\n"
    "  mailnsctl tenant update acme --set dmarc.p=reject --set spf.extra='[\"ip4:192.0.2.1\"]'\n"
    "--unset SECTION.KEY removes a key from a plugin section (sends null).\n"
    "\n"
    "Exit status: 0 ok; 1 the daemon refused the request (\"error: CODE: MESSAGE\" on\n"
    "stderr); 2 usage error; 3 cannot connect to the socket, timeout or I/O error.\n";

static void usage(FILE *out)
{
	fputs(usage_text, out);
}

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

__attribute__((format(printf, 1, 2))) static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (s == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static void oom(void)
{
	fputs("error: out of memory\n", stderr);
	exit(EXIT_IO);
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		oom();
	return d;
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
				oom();
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
		oom();
	text = json_dumps(req, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(req);
	if (text == NULL)
		oom();

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

		fprintf(stderr, "error: %s: %s\n", code ? code : "unknown_error",
		        msg ? msg : "(no message)");
		rc = EXIT_SERVER;
	} else {
		fprintf(stderr, "error: %s: malformed reply: no \"ok\" member\n", c->socket_path);
		rc = EXIT_IO;
	}
	json_decref(reply);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Output                                                                 */
/* ---------------------------------------------------------------------- */

typedef struct kvlist {
	char **keys;
	char **vals;
	size_t n;
	size_t cap;
} kvlist_t;

static void kv_add(kvlist_t *l, char *key, char *val)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		char **k = realloc(l->keys, ncap * sizeof(*k));

		if (k == NULL)
			oom();
		l->keys = k;
		k = realloc(l->vals, ncap * sizeof(*k));
		if (k == NULL)
			oom();
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

static bool is_scalar(const json_t *v)
{
	return !json_is_object(v) && !json_is_array(v);
}

/** A human-readable rendering of \a v (malloc'd): arrays of scalars are joined with ", ". */
static char *value_str(const json_t *v)
{
	char *s = NULL;

	if (v == NULL || json_is_null(v))
		s = xstrdup("-");
	else if (json_is_string(v))
		s = xstrdup(json_string_value(v));
	else if (json_is_integer(v))
		s = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		s = xasprintf("%g", json_real_value(v));
	else if (json_is_true(v))
		s = xstrdup("yes");
	else if (json_is_false(v))
		s = xstrdup("no");
	else if (json_is_array(v) && json_array_size(v) == 0)
		s = xstrdup("-");
	else if (json_is_object(v) && json_object_size(v) == 0)
		s = xstrdup("-");
	else if (json_is_array(v)) {
		size_t i, total = 1;
		json_t *e;
		char **parts = calloc(json_array_size(v), sizeof(*parts));

		if (parts == NULL)
			oom();
		json_array_foreach(v, i, e)
		{
			parts[i] = is_scalar(e) ? value_str(e)
			                        : json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
			if (parts[i] == NULL)
				oom();
			total += strlen(parts[i]) + 2;
		}
		s = malloc(total);
		if (s == NULL)
			oom();
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
		oom();
	return s;
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

/** Flattens \a v into dotted keys ("dkim.selectors[0].bits") with scalar values. */
static void flatten(kvlist_t *l, const char *prefix, const json_t *v)
{
	if (json_is_object(v) && json_object_size(v) > 0) {
		const char *k;
		json_t *e;

		json_object_foreach((json_t *)v, k, e)
		{
			char *key = *prefix ? xasprintf("%s.%s", prefix, k) : xstrdup(k);

			if (key == NULL)
				oom();
			flatten(l, key, e);
			free(key);
		}
	} else if (json_is_array(v) && json_array_size(v) > 0 && !all_scalars(v)) {
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e)
		{
			char *key = xasprintf("%s[%zu]", prefix, i);

			if (key == NULL)
				oom();
			flatten(l, key, e);
			free(key);
		}
	} else {
		kv_add(l, xstrdup(*prefix ? prefix : "result"), value_str(v));
	}
}

static void print_kv(const kvlist_t *l)
{
	size_t width = 0;

	for (size_t i = 0; i < l->n; i++) {
		size_t w = strlen(l->keys[i]) + 1;

		if (w > width && w <= MAX_KEY_WIDTH)
			width = w;
	}
	for (size_t i = 0; i < l->n; i++) {
		size_t w = strlen(l->keys[i]) + 1;

		printf("%s:%*s %s\n", l->keys[i], (int)(w < width ? width - w : 0), "", l->vals[i]);
	}
}

static void print_json(const json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	putchar('\n');
}

/** Prints an object as aligned "key: value" lines, skipping the member \a skip. */
static void print_object(const json_t *obj, const char *skip)
{
	kvlist_t l = {0};
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
	print_kv(&l);
	kv_free(&l);
}

/** Prints a table of \a rows (an array of objects), one column per \a fields entry. */
static void print_table(const json_t *rows, size_t ncols, const char *const *fields,
                        const char *const *headers)
{
	size_t nrows = json_array_size(rows);
	size_t *width = calloc(ncols, sizeof(*width));
	char **cells = calloc(nrows * ncols + 1, sizeof(*cells));

	if (width == NULL || cells == NULL)
		oom();
	for (size_t c = 0; c < ncols; c++)
		width[c] = strlen(headers[c]);
	for (size_t r = 0; r < nrows; r++) {
		const json_t *row = json_array_get(rows, r);

		for (size_t c = 0; c < ncols; c++) {
			char *s = value_str(json_object_get(row, fields[c]));

			cells[r * ncols + c] = s;
			if (strlen(s) > width[c])
				width[c] = strlen(s);
		}
	}
	for (size_t c = 0; c < ncols; c++) {
		if (c + 1 < ncols)
			printf("%-*s  ", (int)width[c], headers[c]);
		else
			printf("%s\n", headers[c]);
	}
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			const char *s = cells[r * ncols + c];

			if (c + 1 < ncols)
				printf("%-*s  ", (int)width[c], s);
			else
				printf("%s\n", s);
		}
	}
	for (size_t i = 0; i < nrows * ncols; i++)
		free(cells[i]);
	free(cells);
	free(width);
}

/** Prints text as it is, with a final newline. */
static void print_text(const char *text)
{
	size_t n = strlen(text);

	fputs(text, stdout);
	if (n == 0 || text[n - 1] != '\n')
		putchar('\n');
}

/** A tenant's public document: notices go to stderr, the rest as key: value lines. */
static void print_tenant(const ctl_t *c, const json_t *doc)
{
	const json_t *notices = json_object_get(doc, "notices");
	size_t i;
	json_t *e;

	if (c->json_out) {
		print_json(doc);
		return;
	}
	json_array_foreach(notices, i, e)
	{
		if (json_is_string(e))
			fprintf(stderr, "notice: %s\n", json_string_value(e));
	}
	print_object(doc, "notices");
}

/* ---------------------------------------------------------------------- */
/* Command-line parsing                                                   */
/* ---------------------------------------------------------------------- */

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
	return 0;
}

/** Options a subcommand accepts; names listed in \a valued take a value. */
typedef struct optspec {
	const char *const *valued;
	const char *const *flags;
} optspec_t;

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
 * pairs in command-line order; global options are applied to \a c.
 * \return EXIT_OK or EXIT_USAGE (message printed).
 */
static int parse_args(ctl_t *c, const char *what, int argc, char **argv, const optspec_t *spec,
                      parsed_t *p)
{
	bool only_pos = false;

	memset(p, 0, sizeof(*p));
	p->pos = calloc((size_t)argc + 1, sizeof(*p->pos));
	p->opt_names = calloc((size_t)argc + 1, sizeof(*p->opt_names));
	p->opt_vals = calloc((size_t)argc + 1, sizeof(*p->opt_vals));
	if (p->pos == NULL || p->opt_names == NULL || p->opt_vals == NULL)
		oom();
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
		for (const char *const *o = spec ? spec->valued : NULL; o && *o && !matched; o++) {
			const char *v;

			r = opt_value(argc, argv, &i, *o, &v);
			if (r < 0)
				return EXIT_USAGE;
			if (r > 0) {
				p->opt_names[p->nopts] = *o;
				p->opt_vals[p->nopts++] = v;
				matched = true;
			}
		}
		for (const char *const *o = spec ? spec->flags : NULL; o && *o && !matched; o++) {
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

static int want_positionals(const parsed_t *p, const char *what, int min, int max,
                            const char *names)
{
	if (p->npos < min)
		return usage_error("'%s' needs %s", what, names);
	if (p->npos > max)
		return usage_error("'%s' takes %s; unexpected argument '%s'", what,
		                   max ? names : "no arguments", p->pos[max]);
	return EXIT_OK;
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
			oom();
	}
	section = strndup(spec, (size_t)(dot - spec));
	key = strndup(dot + 1, (size_t)(key_end - dot - 1));
	if (section == NULL || key == NULL)
		oom();
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

static const char *const mode_names[] = {"ns", "cname", NULL};
static const char *const format_names[] = {"text", "zone", "csv", "json", NULL};

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++) {
		if (strcmp(s, *list) == 0)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------------- */
/* Commands                                                               */
/* ---------------------------------------------------------------------- */

static int cmd_status(ctl_t *c, int argc, char **argv)
{
	parsed_t p;
	json_t *res;
	int rc = parse_args(c, "status", argc, argv, NULL, &p);

	if (rc == EXIT_OK)
		rc = want_positionals(&p, "status", 0, 0, "");
	parsed_free(&p);
	if (rc != EXIT_OK)
		return rc;
	rc = ctl_call(c, "status", NULL, &res);
	if (rc != EXIT_OK)
		return rc;
	if (c->json_out)
		print_json(res);
	else
		print_object(res, NULL);
	json_decref(res);
	return EXIT_OK;
}

/** Shared by add and update: the options that shape the tenant document. */
static int tenant_options(const parsed_t *p, json_t *args)
{
	for (int i = 0; i < p->nopts; i++) {
		const char *n = p->opt_names[i], *v = p->opt_vals[i];
		int rc = EXIT_OK;

		if (strcmp(n, "--mode") == 0) {
			if (!one_of(v, mode_names))
				return usage_error("--mode must be ns or cname, got '%s'", v);
			json_object_set_new(args, "mode", json_string(v));
		} else if (strcmp(n, "--subdomain") == 0) {
			json_object_set_new(args, "subdomain", json_string(v));
		} else if (strcmp(n, "--domain") == 0) {
			json_object_set_new(args, "domain", json_string(v));
		} else if (strcmp(n, "--set") == 0) {
			rc = apply_set(args, v, false);
		} else if (strcmp(n, "--unset") == 0) {
			rc = apply_set(args, v, true);
		}
		if (rc != EXIT_OK)
			return rc;
	}
	return EXIT_OK;
}

static int tenant_mutation(ctl_t *c, const char *cmd, json_t *args)
{
	json_t *res;
	int rc = ctl_call(c, cmd, args, &res);

	if (rc != EXIT_OK)
		return rc;
	print_tenant(c, res);
	json_decref(res);
	return EXIT_OK;
}

/** {"tenant": ID}; parse_args() has checked that ID is UTF-8. */
static json_t *tenant_args(const char *id)
{
	json_t *args = json_pack("{s:s}", "tenant", id);

	if (args == NULL)
		oom();
	return args;
}

static int cmd_tenant_add(ctl_t *c, int argc, char **argv)
{
	static const char *const valued[] = {"--mode", "--subdomain", "--set", NULL};
	static const optspec_t spec = {valued, NULL};
	const char *what = "tenant add";
	parsed_t p;
	json_t *args = NULL;
	int rc = parse_args(c, what, argc, argv, &spec, &p);

	if (rc == EXIT_OK)
		rc = want_positionals(&p, what, 2, 2, "ID DOMAIN");
	if (rc == EXIT_OK) {
		args = tenant_args(p.pos[0]);
		json_object_set_new(args, "domain", json_string(p.pos[1]));
	}
	if (rc == EXIT_OK)
		rc = tenant_options(&p, args);
	parsed_free(&p);
	if (rc != EXIT_OK) {
		json_decref(args);
		return rc;
	}
	return tenant_mutation(c, "tenant.add", args);
}

static int cmd_tenant_update(ctl_t *c, int argc, char **argv)
{
	static const char *const valued[] = {"--mode", "--subdomain", "--domain",
	                                     "--set",  "--unset",     NULL};
	static const optspec_t spec = {valued, NULL};
	const char *what = "tenant update";
	parsed_t p;
	json_t *args = NULL;
	int rc = parse_args(c, what, argc, argv, &spec, &p);

	if (rc == EXIT_OK)
		rc = want_positionals(&p, what, 1, 1, "ID");
	if (rc == EXIT_OK) {
		args = tenant_args(p.pos[0]);
		rc = tenant_options(&p, args);
	}
	if (rc == EXIT_OK && p.nopts == 0)
		rc = usage_error("'%s' needs something to change: --domain, --subdomain, "
		                 "--mode, --set or --unset",
		                 what);
	parsed_free(&p);
	if (rc != EXIT_OK) {
		json_decref(args);
		return rc;
	}
	return tenant_mutation(c, "tenant.update", args);
}

/** Parses "ID" as the only positional argument of \a what. */
static int one_tenant(ctl_t *c, const char *what, int argc, char **argv, const optspec_t *spec,
                      parsed_t *p)
{
	int rc = parse_args(c, what, argc, argv, spec, p);

	if (rc == EXIT_OK)
		rc = want_positionals(p, what, 1, 1, "ID");
	return rc;
}

static int cmd_tenant_get(ctl_t *c, int argc, char **argv)
{
	parsed_t p;
	json_t *args = NULL;
	int rc = one_tenant(c, "tenant get", argc, argv, NULL, &p);

	if (rc == EXIT_OK)
		args = tenant_args(p.pos[0]);
	parsed_free(&p);
	if (rc != EXIT_OK)
		return rc;
	return tenant_mutation(c, "tenant.get", args);
}

static int cmd_tenant_remove(ctl_t *c, int argc, char **argv)
{
	parsed_t p;
	json_t *args = NULL, *res;
	int rc = one_tenant(c, "tenant remove", argc, argv, NULL, &p);

	if (rc == EXIT_OK)
		args = tenant_args(p.pos[0]);
	parsed_free(&p);
	if (rc != EXIT_OK)
		return rc;
	rc = ctl_call(c, "tenant.remove", args, &res);
	if (rc != EXIT_OK)
		return rc;
	if (c->json_out) {
		print_json(res);
	} else {
		const char *id = json_string_value(json_object_get(res, "tenant"));

		printf("removed tenant %s\n", id ? id : "?");
	}
	json_decref(res);
	return EXIT_OK;
}

static int cmd_tenant_records(ctl_t *c, int argc, char **argv)
{
	static const char *const fields[] = {"name", "ttl", "type", "value"};
	static const char *const headers[] = {"NAME", "TTL", "TYPE", "VALUE"};
	parsed_t p;
	json_t *args = NULL, *res;
	const char *text;
	int rc = one_tenant(c, "tenant records", argc, argv, NULL, &p);

	if (rc == EXIT_OK)
		args = tenant_args(p.pos[0]);
	parsed_free(&p);
	if (rc != EXIT_OK)
		return rc;
	rc = ctl_call(c, "tenant.records", args, &res);
	if (rc != EXIT_OK)
		return rc;
	text = json_string_value(json_object_get(res, "text"));
	if (c->json_out)
		print_json(res);
	else if (text != NULL)
		print_text(text);
	else
		print_table(json_object_get(res, "records"), 4, fields, headers);
	json_decref(res);
	return EXIT_OK;
}

static int cmd_tenant_instructions(ctl_t *c, int argc, char **argv)
{
	static const char *const valued[] = {"--format", NULL};
	static const optspec_t spec = {valued, NULL};
	static const char *const fields[] = {"name", "type", "value", "required", "purpose"};
	static const char *const headers[] = {"NAME", "TYPE", "VALUE", "REQUIRED", "PURPOSE"};
	const char *what = "tenant instructions";
	const char *format = NULL;
	parsed_t p;
	json_t *args = NULL, *res;
	const char *text;
	int rc = one_tenant(c, what, argc, argv, &spec, &p);

	for (int i = 0; rc == EXIT_OK && i < p.nopts; i++) {
		format = p.opt_vals[i];
		if (!one_of(format, format_names))
			rc = usage_error("--format must be text, zone, csv or json, got '%s'",
			                 format);
	}
	/* Humans get text unless they ask; scripts (--json) get the server's default. */
	if (format == NULL && !c->json_out)
		format = "text";
	if (rc == EXIT_OK) {
		args = tenant_args(p.pos[0]);
		if (format != NULL)
			json_object_set_new(args, "format", json_string(format));
	}
	parsed_free(&p);
	if (rc != EXIT_OK)
		return rc;
	rc = ctl_call(c, "tenant.instructions", args, &res);
	if (rc != EXIT_OK)
		return rc;
	text = json_string_value(json_object_get(res, "text"));
	if (c->json_out)
		print_json(res);
	else if (text != NULL)
		print_text(text);
	else
		print_table(json_object_get(res, "records"), 5, fields, headers);
	json_decref(res);
	return EXIT_OK;
}

static int cmd_tenant_list(ctl_t *c, int argc, char **argv)
{
	static const char *const valued[] = {"--after", "--limit", NULL};
	static const char *const flags[] = {"--all", NULL};
	static const optspec_t spec = {valued, flags};
	static const char *const fields[] = {"tenant", "domain", "mode", "zone"};
	static const char *const headers[] = {"TENANT", "DOMAIN", "MODE", "ZONE"};
	const char *what = "tenant list";
	json_t *after = NULL, *limit = NULL, *all_rows, *next = NULL;
	bool all = false;
	parsed_t p;
	int rc = parse_args(c, what, argc, argv, &spec, &p);

	if (rc == EXIT_OK)
		rc = want_positionals(&p, what, 0, 0, "");
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

			print_json(out);
			json_decref(out);
		} else {
			if (json_array_size(all_rows) == 0)
				puts("no tenants");
			else
				print_table(all_rows, 4, fields, headers);
			if (!all && next != NULL && !json_is_null(next)) {
				char *n = value_str(next);

				fprintf(stderr,
				        "more: mailnsctl tenant list --after %s (or --all)\n", n);
				free(n);
			}
		}
	}
	json_decref(all_rows);
	json_decref(next);
	json_decref(after);
	json_decref(limit);
	return rc;
}

static int cmd_plugin_list(ctl_t *c, int argc, char **argv)
{
	static const char *const fields[] = {"name", "version", "commands", "summary"};
	static const char *const headers[] = {"NAME", "VERSION", "COMMANDS", "SUMMARY"};
	parsed_t p;
	json_t *res;
	int rc = parse_args(c, "plugin list", argc, argv, NULL, &p);

	if (rc == EXIT_OK)
		rc = want_positionals(&p, "plugin list", 0, 0, "");
	parsed_free(&p);
	if (rc != EXIT_OK)
		return rc;
	rc = ctl_call(c, "plugin.list", NULL, &res);
	if (rc != EXIT_OK)
		return rc;
	if (c->json_out)
		print_json(res);
	else
		print_table(json_object_get(res, "plugins"), 4, fields, headers);
	json_decref(res);
	return EXIT_OK;
}

static int cmd_dkim_keys(ctl_t *c, int argc, char **argv)
{
	static const char *const fields[] = {"selector", "algorithm", "bits",
	                                     "state",    "created",   "public"};
	static const char *const headers[] = {"SELECTOR", "ALGORITHM", "BITS",
	                                      "STATE",    "CREATED",   "PUBLIC"};
	parsed_t p;
	json_t *args = NULL, *res;
	int rc = one_tenant(c, "dkim keys", argc, argv, NULL, &p);

	if (rc == EXIT_OK)
		args = tenant_args(p.pos[0]);
	parsed_free(&p);
	if (rc != EXIT_OK)
		return rc;
	rc = ctl_call(c, "dkim.keys", args, &res);
	if (rc != EXIT_OK)
		return rc;
	if (c->json_out)
		print_json(res);
	else
		print_table(json_object_get(res, "selectors"), 6, fields, headers);
	json_decref(res);
	return EXIT_OK;
}

/* verify.now as a checklist: the green checkboxes a customer expects. */
static int cmd_tenant_check(ctl_t *c, int argc, char **argv)
{
	parsed_t p;
	json_t *args = NULL, *res;
	int rc = one_tenant(c, "tenant check", argc, argv, NULL, &p);

	if (rc == EXIT_OK)
		args = tenant_args(p.pos[0]);
	parsed_free(&p);
	if (rc != EXIT_OK)
		return rc;
	rc = ctl_call(c, "verify.now", args, &res);
	if (rc != EXIT_OK)
		return rc;
	if (c->json_out) {
		print_json(res);
		json_decref(res);
		return EXIT_OK;
	}
	size_t i;
	json_t *chk;
	json_array_foreach(json_object_get(res, "checks"), i, chk)
	{
		bool ok = json_is_true(json_object_get(chk, "ok"));
		const char *name = json_string_value(json_object_get(chk, "name"));
		const char *type = json_string_value(json_object_get(chk, "type"));
		const char *expected = json_string_value(json_object_get(chk, "expected"));
		const char *reason = json_string_value(json_object_get(chk, "reason"));
		printf("%s %s %s %s\n", ok ? "\u2713" : "\u2717", name ? name : "?", type ? type : "?",
		       expected ? expected : "");
		if (!ok && reason && *reason)
			printf("    %s\n", reason);
	}
	const char *state = json_string_value(json_object_get(res, "state"));
	const char *diag = json_string_value(json_object_get(res, "diagnostic"));
	printf("state: %s%s%s\n", state ? state : "?", diag && *diag ? " - " : "",
	       diag && *diag ? diag : "");
	json_decref(res);
	return EXIT_OK;
}

static int cmd_call(ctl_t *c, int argc, char **argv)
{
	parsed_t p;
	json_t *args = NULL, *res;
	const char *cmd = NULL;
	int rc = parse_args(c, "call", argc, argv, NULL, &p);

	if (rc == EXIT_OK)
		rc = want_positionals(&p, "call", 1, 2, "CMD [JSON-ARGS]");
	if (rc == EXIT_OK) {
		json_error_t jerr;

		cmd = p.pos[0];
		if (p.npos == 2) {
			args = json_loads(p.pos[1], 0, &jerr);
			if (args == NULL)
				rc = usage_error("JSON-ARGS is not valid JSON: %s", jerr.text);
			else if (!json_is_object(args))
				rc = usage_error("JSON-ARGS must be a JSON object, e.g. "
				                 "'{\"tenant\": \"acme\"}'");
		}
	}
	if (rc != EXIT_OK) {
		parsed_free(&p);
		json_decref(args);
		return rc;
	}
	rc = ctl_call(c, cmd, args, &res);
	parsed_free(&p);
	if (rc != EXIT_OK)
		return rc;
	if (c->json_out) {
		print_json(res);
	} else {
		const char *text = json_string_value(json_object_get(res, "text"));

		if (text != NULL && json_object_size(res) <= 2)
			print_text(text);
		else
			print_object(res, NULL);
	}
	json_decref(res);
	return EXIT_OK;
}

typedef int (*command_fn)(ctl_t *c, int argc, char **argv);

static const struct command {
	const char *group;
	const char *name; /**< NULL: the group is the whole command. */
	command_fn fn;
} commands[] = {
    {"status", NULL, cmd_status},
    {"tenant", "add", cmd_tenant_add},
    {"tenant", "get", cmd_tenant_get},
    {"tenant", "list", cmd_tenant_list},
    {"tenant", "update", cmd_tenant_update},
    {"tenant", "remove", cmd_tenant_remove},
    {"tenant", "records", cmd_tenant_records},
    {"tenant", "instructions", cmd_tenant_instructions},
    {"tenant", "check", cmd_tenant_check},
    {"plugin", "list", cmd_plugin_list},
    {"dkim", "keys", cmd_dkim_keys},
    {"call", NULL, cmd_call},
};

static int dispatch(ctl_t *c, int argc, char **argv)
{
	const char *group = argv[0];
	bool known_group = false;

	if (strcmp(group, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *cm = &commands[i];

		if (strcmp(cm->group, group) != 0)
			continue;
		known_group = true;
		if (cm->name == NULL)
			return cm->fn(c, argc - 1, argv + 1);
		if (argc >= 2 && strcmp(cm->name, argv[1]) == 0)
			return cm->fn(c, argc - 2, argv + 2);
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
		int r;

		if (strcmp(argv[i], "--version") == 0) {
			printf("mailnsctl %s\n", MNS_VERSION);
			return EXIT_OK;
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

	rc = dispatch(&c, argc - i, argv + i);
	ctl_close(&c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "error: writing the output: %s\n", strerror(errno));
		if (rc == EXIT_OK)
			rc = EXIT_IO;
	}
	return rc;
}
