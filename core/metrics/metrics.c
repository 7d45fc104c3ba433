/*  Prometheus text exposition (format 0.0.4) on GET /metrics.
 *
 *  libmicrohttpd runs its own polling thread: an HTTP client, slow or not,
 *  never holds up the main loop or the query path. What that thread reads:
 *  - the query counters: every worker's block, summed lock-free
 *    (mns_stats_sum(), relaxed atomic loads);
 *  - the control command counters: atomic, names published with release;
 *  - the gauges (tenants by verification state, store size, zones): these
 *    come from the main loop's state (the store, the index) which only the
 *    main loop touches. A scrape asks the main loop for fresh values with a
 *    uv_async_t and waits for them on a condition variable, at most
 *    GAUGE_WAIT_MS; values younger than GAUGE_MAX_AGE are used as they are
 *    (so a scraper hammering the endpoint costs the main loop at most one
 *    tenant scan a second), and when the main loop is busy past the wait the
 *    scrape serves the last values rather than hang. The snapshot is a small
 *    struct copied under a mutex that neither side holds for more than a
 *    memcpy: the main loop never waits on this thread.
 *  The `stats` command publishes its gauges here too, so both agree.
 *
 *  Shutdown: `stopping` is set under the mutex (no uv_async_send after
 *  that, so the handle can close), waiters are woken, MHD_stop_daemon()
 *  joins the thread, then the async handle closes on the loop.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "log/log.h"
#include "metrics/metrics.h"
#include "stats/stats.h"

#define GAUGE_WAIT_MS 2000
#define GAUGE_MAX_AGE 1 /* seconds */

typedef struct mns_metrics {
	mns_server_t *server; /* Main loop only. */
	struct MHD_Daemon *mhd;
	uv_async_t async;
	int64_t start_time;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock: */
	mns_stats_gauges_t gauges;
	uint64_t generation; /* Raised by every publication. */
	bool stopping;
} mns_metrics_t;

/* One listener per process: the daemon has one server. */
static mns_metrics_t *metrics;

/* --- Text ------------------------------------------------------------------ */

typedef struct buf {
	char *p;
	size_t len, cap;
	bool failed;
} buf_t;

static void bprintf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf_t *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n + 1;
		char *np = realloc(b->p, cap);
		if (np == NULL) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

static void header(buf_t *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped (0.0.4). */
static void label_value(buf_t *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			bprintf(b, "\\%c", *v);
		else if (*v == '\n')
			bprintf(b, "\\n");
		else
			bprintf(b, "%c", *v);
	}
}

static void add_command(const char *cmd, uint64_t ok, uint64_t error, void *data)
{
	buf_t *b = data;
	bprintf(b, "mailns_control_commands_total{command=\"");
	label_value(b, cmd);
	bprintf(b, "\",result=\"ok\"} %llu\n", (unsigned long long)ok);
	bprintf(b, "mailns_control_commands_total{command=\"");
	label_value(b, cmd);
	bprintf(b, "\",result=\"error\"} %llu\n", (unsigned long long)error);
}

char *mns_metrics_render(const mns_stats_gauges_t *g, int64_t start_time, int64_t now)
{
	mns_stats_sum_t sum;
	mns_stats_sum(&sum);
	buf_t b = {.cap = 16384};
	b.p = malloc(b.cap);
	if (b.p == NULL)
		return NULL;
	b.p[0] = '\0';

	header(&b, "mailns_build_info", "gauge", "Version of the running mailnsd (always 1).");
	bprintf(&b, "mailns_build_info{version=\"%s\"} 1\n", MNS_VERSION);
	header(&b, "mailns_start_time_seconds", "gauge",
	       "Start of the daemon, seconds since the epoch.");
	bprintf(&b, "mailns_start_time_seconds %lld\n", (long long)start_time);
	header(&b, "mailns_uptime_seconds", "gauge", "Seconds since the daemon started.");
	bprintf(&b, "mailns_uptime_seconds %lld\n", (long long)(now - start_time));

	/* Only combinations seen so far: at most 2 x 18 x 9 series, usually a few. */
	header(&b, "mailns_queries_total", "counter",
	       "DNS queries answered, by transport, QTYPE and response RCODE.");
	for (int t = 0; t < MNS_STATS_N_TRANSPORT; t++)
		for (int q = 0; q < MNS_STATS_N_QTYPE; q++)
			for (int r = 0; r < MNS_STATS_N_RCODE; r++)
				if (sum.queries[t][q][r] != 0)
					bprintf(&b,
					        "mailns_queries_total{transport=\"%s\",qtype=\"%"
					        "s\",rcode=\"%s\"} %llu\n",
					        mns_stats_transport_name(t),
					        mns_stats_qtype_name(q), mns_stats_rcode_name(r),
					        (unsigned long long)sum.queries[t][q][r]);
	header(&b, "mailns_queries_zone_kind_total", "counter",
	       "DNS queries answered, by the kind of zone that answered (none: refused or "
	       "malformed).");
	for (int z = 0; z < MNS_STATS_N_ZONE; z++)
		bprintf(&b, "mailns_queries_zone_kind_total{kind=\"%s\"} %llu\n",
		        mns_stats_zone_name(z), (unsigned long long)sum.zone[z]);
	header(&b, "mailns_responses_truncated_total", "counter", "Responses sent with TC set.");
	bprintf(&b, "mailns_responses_truncated_total %llu\n", (unsigned long long)sum.truncated);
	header(&b, "mailns_packets_dropped_total", "counter",
	       "Messages dropped without an answer (responses, runts).");
	bprintf(&b, "mailns_packets_dropped_total %llu\n", (unsigned long long)sum.dropped);
	header(&b, "mailns_packets_malformed_total", "counter", "Queries answered FORMERR.");
	bprintf(&b, "mailns_packets_malformed_total %llu\n", (unsigned long long)sum.malformed);
	header(&b, "mailns_xfr_requests_total", "counter",
	       "Messages the transfer module handled: axfr, ixfr, other (catalog or TSIG-signed).");
	for (int t = 0; t < MNS_STATS_N_TRANSPORT; t++)
		for (int x = 0; x < MNS_STATS_N_XFR; x++)
			bprintf(&b,
			        "mailns_xfr_requests_total{transport=\"%s\",type=\"%s\"} %llu\n",
			        mns_stats_transport_name(t), mns_stats_xfr_name(x),
			        (unsigned long long)sum.xfr[t][x]);
	header(&b, "mailns_control_commands_total", "counter",
	       "Control commands handled, by command and result (ok or error).");
	mns_stats_control_foreach(add_command, &b);

	header(&b, "mailns_tenants", "gauge", "Tenants by verification state.");
	for (int i = 0; i < MNS_VSTATE_COUNT; i++)
		bprintf(&b, "mailns_tenants{state=\"%s\"} %llu\n", mns_stats_vstate_name(i),
		        (unsigned long long)g->by_state[i]);
	header(&b, "mailns_zones", "gauge", "Zones served (tenant, hosted and static).");
	bprintf(&b, "mailns_zones %llu\n", (unsigned long long)g->zones);
	header(&b, "mailns_store_bytes", "gauge",
	       "Tenant store size: file (on disk) and used (pages in use).");
	bprintf(&b, "mailns_store_bytes{kind=\"file\"} %llu\n",
	        (unsigned long long)g->store_file_bytes);
	bprintf(&b, "mailns_store_bytes{kind=\"used\"} %llu\n",
	        (unsigned long long)g->store_used_bytes);
	header(&b, "mailns_mutations_total", "counter", "Successful tenant mutations since start.");
	bprintf(&b, "mailns_mutations_total %llu\n", (unsigned long long)g->mutations);
	header(&b, "mailns_gauges_age_seconds", "gauge",
	       "Age of the tenant and store values above (they are refreshed on scrape).");
	bprintf(&b, "mailns_gauges_age_seconds %lld\n",
	        (long long)(g->computed ? now - g->computed : now - start_time));
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* --- Gauges hand-over -------------------------------------------------------- */

/* Main loop: a scrape asked for fresh gauges. */
static void on_async(uv_async_t *h)
{
	mns_metrics_t *m = h->data;
	mns_stats_gauges_t g;
	mns_stats_gauges_compute(m->server, &g);
	mns_metrics_publish(m->server, &g);
}

void mns_metrics_publish(mns_server_t *s, const mns_stats_gauges_t *g)
{
	mns_metrics_t *m = metrics;
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->lock);
	m->gauges = *g;
	m->generation++;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/* MHD thread: the gauges, refreshed by the main loop when older than
 * GAUGE_MAX_AGE, or the last ones after GAUGE_WAIT_MS. */
static void gauges_get(mns_metrics_t *m, mns_stats_gauges_t *out)
{
	pthread_mutex_lock(&m->lock);
	int64_t now = (int64_t)time(NULL);
	if (!m->stopping &&
	    (m->gauges.computed == 0 || now - m->gauges.computed >= GAUGE_MAX_AGE)) {
		uint64_t gen = m->generation;
		uv_async_send(
		    &m->async); /* Under the lock: stop closes it only after `stopping`. */
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += GAUGE_WAIT_MS / 1000;
		until.tv_nsec += (long)(GAUGE_WAIT_MS % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (m->generation == gen && !m->stopping)
			if (pthread_cond_timedwait(&m->cond, &m->lock, &until) == ETIMEDOUT)
				break;
	}
	*out = m->gauges;
	pthread_mutex_unlock(&m->lock);
}

/* --- HTTP -------------------------------------------------------------------- */

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text,
                                  const char *allow)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
	mns_metrics_t *m = cls;
	bool get =
	    strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	if (strcmp(url, "/metrics") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND,
		                  "not found: the metrics are at /metrics\n", NULL);
	if (!get)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		                  "method not allowed: use GET\n", "GET, HEAD");
	mns_stats_gauges_t g;
	gauges_get(m, &g);
	char *text = mns_metrics_render(&g, m->start_time, (int64_t)time(NULL));
	if (text == NULL)
		return MHD_NO;
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "text/plain; version=0.0.4; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	char q[600];
	mns_log(MNS_LOG_WARNING, "metrics, http error=%s", mns_log_quote(q, sizeof(q), msg));
}

static void async_closed(uv_handle_t *h)
{
	mns_metrics_t *m = h->data;
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int mns_metrics_start(mns_server_t *s)
{
	const mns_conf_t *c = s->conf;
	if (!c->metrics_enabled || metrics != NULL)
		return MNS_OK;
	struct sockaddr_storage ss = {0};
	bool v6 = strchr(c->metrics_listen.addr, ':') != NULL;
	int rc = v6 ? uv_ip6_addr(c->metrics_listen.addr, c->metrics_listen.port,
	                          (struct sockaddr_in6 *)&ss)
	            : uv_ip4_addr(c->metrics_listen.addr, c->metrics_listen.port,
	                          (struct sockaddr_in *)&ss);
	if (rc != 0) {
		mns_log(MNS_LOG_ERR, "metrics, bad address %s", c->metrics_listen.addr);
		return MNS_EINVAL;
	}
	mns_metrics_t *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return MNS_ENOMEM;
	m->server = s;
	m->start_time = (int64_t)s->started;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	uv_async_init(s->loop, &m->async, on_async);
	m->async.data = m;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	m->mhd = MHD_start_daemon(flags, c->metrics_listen.port, NULL, NULL, on_request, m,
	                          MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
	                          (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
	                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	if (m->mhd == NULL) {
		mns_log(MNS_LOG_ERR, "metrics, cannot listen on %s@%u", c->metrics_listen.addr,
		        c->metrics_listen.port);
		uv_close((uv_handle_t *)&m->async, async_closed);
		return MNS_ERROR;
	}
	metrics = m;
	mns_log(MNS_LOG_INFO, "metrics, serving http://%s%s%s:%u/metrics", v6 ? "[" : "",
	        c->metrics_listen.addr, v6 ? "]" : "", c->metrics_listen.port);
	return MNS_OK;
}

void mns_metrics_stop(mns_server_t *s)
{
	mns_metrics_t *m = metrics;
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	MHD_stop_daemon(m->mhd); /* Joins the thread: no request runs after this. */
	metrics = NULL;
	uv_close((uv_handle_t *)&m->async, async_closed);
}
