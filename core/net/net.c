/*  DNS over UDP and TCP on the main loop, hardened against hostile clients.
 *
 *  TCP (RFC 7766), what a connection may cost us:
 *  - tcp-max-clients connections. At the limit a new connection evicts the
 *    one that has been idle longest (the tail of an LRU list ordered by the
 *    last complete query or answer written), as Knot DNS does, instead of
 *    being refused: idle and slow clients make room for active ones, and a
 *    flood of idle connections cannot lock real clients out. Only when even
 *    the longest-idle connection is younger than MNS_TCP_EVICT_MIN_IDLE_MS
 *    is the new one closed instead, so that a burst of connections cannot
 *    evict a client before it had a chance to send its query.
 *  - tcp-idle-timeout: no complete query and no answer progress for that
 *    long closes the connection.
 *  - tcp-read-timeout: once a message has started, all of it must arrive
 *    within that time; trickling bytes does not extend it (slowloris).
 *  - tcp-max-pipeline: while that many answers wait in our memory for a
 *    client that does not read, its connection is not read either (libuv
 *    read stop); reading resumes as the answers drain. A client that
 *    pipelines and never reads pins at most that many answers and then
 *    waits for its idle timeout.
 *  - A message shorter than a DNS header (a zero length included) cannot be
 *    answered and leaves no way to resynchronise: the connection is closed,
 *    as NSD (shorter than a minimal query) and Knot DNS (a zero-length read
 *    ends the connection) do. A longer message than its content needs is
 *    read whole and answered FORMERR (trailing data) by mns_dns_process().
 *
 *  UDP: a datagram of any size up to 65535 octets fits the receive buffer
 *  and goes to mns_dns_process() whole; its length is no reason to drop it
 *  (a query that parses is answered, with TC when the answer does not fit,
 *  else FORMERR). Answers pass response rate limiting (rrl.h); TCP answers
 *  are never limited.
 *
 *  The query path allocates only when a client's socket refuses an answer
 *  (the copy waits in its write queue, bounded by tcp-max-pipeline).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "log/log.h"
#include "net/net.h"
#include "net/rrl.h"
#include "xfr/xfr.h"

#define MNS_TCP_MAX_MSG 65535
/* Unsent TCP reply bytes beyond which we stop reading a connection, too
 * (large answers or a transfer count for more than a small answer). */
#define MNS_TCP_MAX_PENDING (256u * 1024)
/* Idle time below which a connection is not evicted for a new one. */
#define MNS_TCP_EVICT_MIN_IDLE_MS 200

/* Listener handles carry the net in their data pointer. */
typedef struct udp_listener {
	uv_udp_t handle;
} udp_listener_t;

typedef struct tcp_listener {
	uv_tcp_t handle;
} tcp_listener_t;

typedef struct tcp_client {
	uv_tcp_t handle;
	uv_timer_t timer; /* The earlier of the idle and the read deadline. */
	struct mns_net *net;
	size_t len;         /* Octets in buf. */
	uint64_t active_ms; /* Last complete query or answer progress (idle clock). */
	uint64_t msg_ms;    /* When the incomplete message in buf started; 0: none. */
	unsigned pending;   /* Answers waiting in our write queue. */
	bool reading;       /* Between uv_read_start and uv_read_stop. */
	int open_handles;
	bool closing;
	struct tcp_client *next, *prev;   /* LRU order: most recently active first. */
	struct sockaddr_storage peer;     /* For the transfer ACL. */
	uint8_t buf[2 + MNS_TCP_MAX_MSG]; /* Last: only the fields above are zeroed. */
} tcp_client_t;

typedef struct tcp_write {
	uv_write_t req;
	uint8_t data[];
} tcp_write_t;

typedef struct mns_net {
	mns_server_t *server;
	udp_listener_t *udp;
	tcp_listener_t *tcp;
	size_t n_listeners;
	size_t open_listeners;          /* Handles not yet closed; the last close frees the net. */
	tcp_client_t *clients, *oldest; /* LRU list: head and tail. */
	size_t n_clients;
	uint64_t idle_ms, read_ms;
	size_t max_clients;
	unsigned max_pipeline;
	uint64_t evict_log_ms;     /* Last "limit reached" line (one per second at most). */
	uint64_t evicted, refused; /* Connections closed at the limit since that line. */
	mns_rrl_t *rrl;            /* NULL: response rate limiting is off. */
	/* The loop is single-threaded: one receive and one answer buffer serve all. */
	uint8_t rx[65536];
	uint8_t tx[2 + MNS_TCP_MAX_MSG];
} mns_net_t;

static int sockaddr_of(const mns_listen_t *l, struct sockaddr_storage *ss)
{
	if (strchr(l->addr, ':'))
		return uv_ip6_addr(l->addr, l->port, (struct sockaddr_in6 *)ss);
	return uv_ip4_addr(l->addr, l->port, (struct sockaddr_in *)ss);
}

/* --- UDP ------------------------------------------------------------------- */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	mns_net_t *net = h->data;
	*buf = uv_buf_init((char *)net->rx, sizeof(net->rx));
}

/* Response rate limiting: false when the answer must not be sent; may
 * shorten it to its truncated form (*n). */
static bool udp_rrl_allows(mns_net_t *net, uv_udp_t *h, const struct sockaddr *addr, size_t *n)
{
	if (net->rrl == NULL)
		return true;
	mns_rrl_class_t cls = mns_rrl_classify(net->tx, *n);
	switch (mns_rrl_check(net->rrl, addr, cls, uv_now(h->loop))) {
	case MNS_RRL_PASS:
		return true;
	case MNS_RRL_SLIP:
		*n = mns_rrl_truncate(net->tx, *n);
		return *n > 0;
	case MNS_RRL_DROP:
		break;
	}
	return false;
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags)
{
	mns_net_t *net = h->data;
	/* PARTIAL cannot happen: rx holds the largest datagram IP can carry. */
	if (nread <= 0 || addr == NULL || (flags & UV_UDP_PARTIAL))
		return;
	size_t n = 0;
	if (mns_xfr_udp(net->server, addr, (const uint8_t *)buf->base, (size_t)nread, net->tx,
	                sizeof(net->tx), &n))
		mns_stats_xfr(net->server->dns.stats, MNS_STATS_UDP, (const uint8_t *)buf->base,
		              (size_t)nread);
	else
		n = mns_dns_process(&net->server->dns, (const uint8_t *)buf->base, (size_t)nread,
		                    net->tx, sizeof(net->tx), MNS_TRANSPORT_UDP);
	if (n == 0 || !udp_rrl_allows(net, h, addr, &n))
		return;
	uv_buf_t out = uv_buf_init((char *)net->tx, (unsigned)n);
	/* A full socket buffer drops the answer, as UDP would anyway. */
	(void)uv_udp_try_send(h, &out, 1, addr);
}

/* --- TCP connections: list, timers, close -------------------------------------- */

static void lru_unlink(mns_net_t *net, tcp_client_t *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		net->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		net->oldest = c->prev;
	c->next = c->prev = NULL;
}

static void lru_push(mns_net_t *net, tcp_client_t *c)
{
	c->next = net->clients;
	c->prev = NULL;
	if (net->clients)
		net->clients->prev = c;
	else
		net->oldest = c;
	net->clients = c;
}

static void client_handle_closed(uv_handle_t *h)
{
	tcp_client_t *c = h->data;
	if (--c->open_handles == 0)
		free(c);
}

static void client_close(tcp_client_t *c)
{
	if (c->closing)
		return;
	c->closing = true;
	mns_net_t *net = c->net;
	lru_unlink(net, c);
	net->n_clients--;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, client_handle_closed);
	uv_close((uv_handle_t *)&c->handle, client_handle_closed);
}

/* Progress: restarts the idle clock and moves the client to the LRU head. */
static void client_active(tcp_client_t *c)
{
	c->active_ms = uv_now(c->handle.loop);
	if (c->net->clients != c) {
		lru_unlink(c->net, c);
		lru_push(c->net, c);
	}
}

static void client_timeout(uv_timer_t *t);

/* Arms the timer for the earlier of the idle and the read deadline. */
static void client_arm(tcp_client_t *c)
{
	mns_net_t *net = c->net;
	uint64_t now = uv_now(c->handle.loop);
	uint64_t due = c->active_ms + net->idle_ms;
	if (c->msg_ms != 0 && c->msg_ms + net->read_ms < due)
		due = c->msg_ms + net->read_ms;
	uv_timer_start(&c->timer, client_timeout, due > now ? due - now : 0, 0);
}

static void client_timeout(uv_timer_t *t)
{
	tcp_client_t *c = t->data;
	mns_net_t *net = c->net;
	uint64_t now = uv_now(t->loop);
	if (c->msg_ms != 0 && now >= c->msg_ms + net->read_ms) {
		mns_log(MNS_LOG_DEBUG, "net, TCP message not complete within %llu ms, closed",
		        (unsigned long long)net->read_ms);
		client_close(c);
	} else if (now >= c->active_ms + net->idle_ms) {
		client_close(c);
	} else {
		client_arm(c); /* A deadline moved since the timer was armed. */
	}
}

/* At the connection limit: closes the longest-idle connections.
 * \return false when none has been idle long enough: refuse the new one. */
static bool clients_make_room(mns_net_t *net, uint64_t now)
{
	bool room = true;
	while (net->n_clients >= net->max_clients && net->oldest != NULL) {
		if (now < net->oldest->active_ms + MNS_TCP_EVICT_MIN_IDLE_MS) {
			room = false;
			net->refused++;
			break;
		}
		client_close(net->oldest);
		net->evicted++;
	}
	if ((net->evicted || net->refused) &&
	    (net->evict_log_ms == 0 || now >= net->evict_log_ms + 1000)) {
		mns_log(
		    MNS_LOG_NOTICE,
		    "net, tcp-max-clients %zu reached: closed %llu longest-idle, refused %llu new",
		    net->max_clients, (unsigned long long)net->evicted,
		    (unsigned long long)net->refused);
		net->evict_log_ms = now;
		net->evicted = net->refused = 0;
	}
	return room;
}

/* --- TCP answers ---------------------------------------------------------------- */

static bool client_throttled(const tcp_client_t *c)
{
	return c->pending >= c->net->max_pipeline ||
	       c->handle.write_queue_size > MNS_TCP_MAX_PENDING;
}

static void tcp_process(tcp_client_t *c);

/* An answer left our queue: resume a connection we stopped reading. */
static void client_write_done(tcp_client_t *c, int status)
{
	c->pending--;
	if (c->closing)
		return;
	if (status < 0) {
		client_close(c);
		return;
	}
	client_active(c);
	if (!c->reading && !client_throttled(c))
		tcp_process(c);
	else
		client_arm(c);
}

static void write_done(uv_write_t *req, int status)
{
	tcp_client_t *c = req->handle->data;
	free(req);
	client_write_done(c, status);
}

/* Sends one framed answer: directly when the socket takes it, else queued. */
static void tcp_send(tcp_client_t *c, const uint8_t *msg, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)msg, (unsigned)n);
	int sent = 0;
	if (c->handle.write_queue_size == 0) {
		sent = uv_try_write((uv_stream_t *)&c->handle, &b, 1);
		if (sent < 0 && sent != UV_EAGAIN) {
			client_close(c);
			return;
		}
		if (sent < 0)
			sent = 0;
	}
	if ((size_t)sent == n)
		return;
	size_t rest = n - (size_t)sent;
	tcp_write_t *w = malloc(sizeof(*w) + rest);
	if (w == NULL) {
		client_close(c);
		return;
	}
	memcpy(w->data, msg + sent, rest);
	b = uv_buf_init((char *)w->data, (unsigned)rest);
	if (uv_write(&w->req, (uv_stream_t *)&c->handle, &b, 1, write_done) != 0) {
		free(w);
		client_close(c);
		return;
	}
	c->pending++;
}

typedef struct tcp_bulk {
	uv_write_t req;
	uint8_t *data;
} tcp_bulk_t;

static void bulk_done(uv_write_t *req, int status)
{
	tcp_bulk_t *w = (tcp_bulk_t *)req;
	tcp_client_t *c = req->handle->data;
	free(w->data);
	free(w);
	client_write_done(c, status);
}

/* Queues a transfer (several framed messages, \a msg malloc'd) whole. */
static void tcp_send_owned(tcp_client_t *c, uint8_t *msg, size_t n)
{
	tcp_bulk_t *w = malloc(sizeof(*w));
	if (w == NULL) {
		free(msg);
		client_close(c);
		return;
	}
	w->data = msg;
	uv_buf_t b = uv_buf_init((char *)msg, (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)&c->handle, &b, 1, bulk_done) != 0) {
		free(msg);
		free(w);
		client_close(c);
		return;
	}
	c->pending++;
}

/* Answers one complete message. */
static void tcp_answer(tcp_client_t *c, const uint8_t *msg, size_t mlen)
{
	mns_net_t *net = c->net;
	uint8_t *xo = NULL;
	size_t xl = 0;
	if (mns_xfr_tcp(net->server, (const struct sockaddr *)&c->peer, msg, mlen, &xo, &xl)) {
		mns_stats_xfr(net->server->dns.stats, MNS_STATS_TCP, msg, mlen);
		if (xo != NULL)
			tcp_send_owned(c, xo, xl);
		return;
	}
	size_t n = mns_dns_process(&net->server->dns, msg, mlen, net->tx + 2, sizeof(net->tx) - 2,
	                           MNS_TRANSPORT_TCP);
	if (n == 0)
		return;
	net->tx[0] = (uint8_t)(n >> 8);
	net->tx[1] = (uint8_t)n;
	tcp_send(c, net->tx, n + 2);
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	tcp_client_t *c = h->data;
	/* Never full while reading: a complete message is answered (or reading
	 * stops) before the next read. A zero-size buffer would end the client. */
	*buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Answers the complete messages in the buffer, in order (pipelining, RFC
 * 7766 §6.2.1.1), while the client reads its answers; then reads again or
 * waits for its answers to drain. */
static void tcp_process(tcp_client_t *c)
{
	size_t off = 0;
	bool throttled = false;
	while (!c->closing && c->len - off >= 2) {
		size_t mlen = (size_t)c->buf[off] << 8 | c->buf[off + 1];
		if (mlen < KNOT_WIRE_HEADER_SIZE) {
			mns_log(MNS_LOG_DEBUG, "net, TCP message of %zu octets, closed", mlen);
			client_close(c);
			return;
		}
		if (c->len - off - 2 < mlen)
			break;
		if (client_throttled(c)) {
			throttled = true;
			break;
		}
		tcp_answer(c, c->buf + off + 2, mlen);
		off += 2 + mlen;
		c->msg_ms = 0;
		client_active(c);
	}
	if (c->closing)
		return;
	if (off > 0) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
	/* The read deadline runs only while the client owes us the rest of a
	 * message, not while a whole one waits for its turn. */
	if (throttled || c->len == 0)
		c->msg_ms = 0;
	else if (c->msg_ms == 0)
		c->msg_ms = uv_now(c->handle.loop);
	if (throttled && c->reading) {
		uv_read_stop((uv_stream_t *)&c->handle);
		c->reading = false;
	} else if (!throttled && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->handle, tcp_alloc, tcp_read) != 0) {
			client_close(c);
			return;
		}
		c->reading = true;
	}
	client_arm(c);
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	tcp_client_t *c = s->data;
	if (nread < 0) {
		client_close(c);
		return;
	}
	if (nread == 0)
		return;
	if (c->len == 0)
		c->msg_ms = uv_now(s->loop); /* The first octets of a new message. */
	c->len += (size_t)nread;
	tcp_process(c);
}

static void tcp_accept(uv_stream_t *ls, int status)
{
	mns_net_t *net = ls->data;
	if (status < 0)
		return;
	tcp_client_t *c = malloc(sizeof(*c));
	if (c == NULL)
		return;
	memset(c, 0, offsetof(tcp_client_t, buf));
	c->net = net;
	uv_tcp_init(ls->loop, &c->handle);
	uv_timer_init(ls->loop, &c->timer);
	c->handle.data = c->timer.data = c;
	c->open_handles = 2;
	if (uv_accept(ls, (uv_stream_t *)&c->handle) != 0 ||
	    !clients_make_room(net, uv_now(ls->loop))) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->timer, client_handle_closed);
		uv_close((uv_handle_t *)&c->handle, client_handle_closed);
		return;
	}
	lru_push(net, c);
	net->n_clients++;
	c->active_ms = uv_now(ls->loop);
	uv_tcp_nodelay(&c->handle, 1);
	int plen = sizeof(c->peer);
	uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &plen);
	tcp_process(c); /* Starts reading and the idle timer. */
}

/* --- setup ----------------------------------------------------------------- */

static uint32_t conf_uint(const json_t *o, const char *key)
{
	return (uint32_t)json_integer_value(json_object_get(o, key));
}

/* The rrl-* settings; a table is made anew only when they change. */
static void rrl_reconfigure(mns_net_t *net, const json_t *srv)
{
	mns_rrl_conf_t rc = {
	    .rate = conf_uint(srv, "rrl-rate"),
	    .slip = conf_uint(srv, "rrl-slip"),
	    .ipv4_prefix = (uint8_t)conf_uint(srv, "rrl-ipv4-prefix"),
	    .ipv6_prefix = (uint8_t)conf_uint(srv, "rrl-ipv6-prefix"),
	    .table_size = conf_uint(srv, "rrl-table-size"),
	};
	if (net->rrl != NULL && memcmp(mns_rrl_conf(net->rrl), &rc, sizeof(rc)) == 0)
		return;
	if (net->rrl != NULL && rc.rate == 0)
		mns_log(MNS_LOG_INFO, "net, response rate limiting off");
	mns_rrl_free(net->rrl);
	net->rrl = NULL;
	if (rc.rate == 0)
		return;
	net->rrl = mns_rrl_new(&rc);
	if (net->rrl == NULL) {
		mns_log(MNS_LOG_ERR, "net, out of memory for the rate limiting table, RRL off");
		return;
	}
	mns_log(MNS_LOG_INFO,
	        "net, response rate limiting %u/s per /%u and /%u, slip %u, %u buckets", rc.rate,
	        rc.ipv4_prefix, rc.ipv6_prefix, rc.slip, rc.table_size);
}

void mns_net_reconfigure(mns_server_t *s)
{
	mns_net_t *net = s->net;
	if (net == NULL)
		return;
	net->idle_ms = (uint64_t)s->conf->tcp_idle_timeout * 1000u;
	net->max_clients = s->conf->tcp_max_clients;
	/* Settings read here only; the file was checked against the schema already. */
	json_t *srv = NULL;
	char err[256];
	if (mns_conf_section_json(s->conf, "server", mns_conf_server_schema, &srv, err,
	                          sizeof(err)) != MNS_OK) {
		mns_log(MNS_LOG_ERR, "net, %s", err);
		return;
	}
	net->read_ms = (uint64_t)conf_uint(srv, "tcp-read-timeout") * 1000u;
	net->max_pipeline = conf_uint(srv, "tcp-max-pipeline");
	rrl_reconfigure(net, srv);
	json_decref(srv);
	/* New deadlines apply to the connections already open. */
	for (tcp_client_t *c = net->clients; c; c = c->next)
		client_arm(c);
}

/* Hundreds of TCP connections need file descriptors: the soft limit is often
 * 1024 while the hard one is far higher. */
static void raise_nofile(const mns_server_t *s)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t before = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = before;
		else
			mns_log(MNS_LOG_INFO, "net, open file limit raised from %llu to %llu",
			        (unsigned long long)before, (unsigned long long)rl.rlim_cur);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)s->conf->tcp_max_clients + 64)
		mns_log(MNS_LOG_WARNING,
		        "net, open file limit %llu is below tcp-max-clients %u: connections beyond "
		        "it are refused",
		        (unsigned long long)rl.rlim_cur, s->conf->tcp_max_clients);
}

int mns_net_start(mns_server_t *s)
{
	mns_net_t *net = calloc(1, sizeof(*net));
	if (net == NULL)
		return MNS_ENOMEM;
	net->server = s;
	s->net = net;
	raise_nofile(s);
	mns_net_reconfigure(s);
	size_t n = s->conf->n_listen;
	net->udp = calloc(n ? n : 1, sizeof(*net->udp));
	net->tcp = calloc(n ? n : 1, sizeof(*net->tcp));
	if (net->udp == NULL || net->tcp == NULL)
		return MNS_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const mns_listen_t *l = &s->conf->listen[i];
		struct sockaddr_storage ss;
		int rc = sockaddr_of(l, &ss);
		udp_listener_t *u = &net->udp[i];
		tcp_listener_t *t = &net->tcp[i];
		uv_udp_init(s->loop, &u->handle);
		uv_tcp_init(s->loop, &t->handle);
		u->handle.data = t->handle.data = net;
		net->n_listeners++;
		unsigned v6only = ss.ss_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0;
		if (rc == 0)
			rc = uv_udp_bind(&u->handle, (struct sockaddr *)&ss, v6only);
		if (rc == 0)
			rc = uv_udp_recv_start(&u->handle, udp_alloc, udp_recv);
		if (rc == 0)
			rc = uv_tcp_bind(&t->handle, (struct sockaddr *)&ss,
			                 v6only ? UV_TCP_IPV6ONLY : 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&t->handle, 128, tcp_accept);
		if (rc != 0) {
			mns_log(MNS_LOG_ERR, "net, cannot listen on %s@%u (%s)", l->addr, l->port,
			        uv_strerror(rc));
			return MNS_ERROR;
		}
		mns_log(MNS_LOG_INFO, "net, answering on %s@%u (UDP, TCP)", l->addr, l->port);
	}
	return MNS_OK;
}

static void net_free(mns_net_t *net)
{
	mns_rrl_free(net->rrl);
	free(net->udp);
	free(net->tcp);
	free(net);
}

static void listener_closed(uv_handle_t *h)
{
	mns_net_t *net = h->data;
	if (--net->open_listeners > 0)
		return;
	net_free(net);
}

void mns_net_stop(mns_server_t *s)
{
	mns_net_t *net = s->net;
	if (net == NULL)
		return;
	while (net->clients)
		client_close(net->clients);
	s->net = NULL;
	if (net->n_listeners == 0) {
		net_free(net);
		return;
	}
	net->open_listeners = 2 * net->n_listeners;
	for (size_t i = 0; i < net->n_listeners; i++) {
		uv_close((uv_handle_t *)&net->tcp[i].handle, listener_closed);
		uv_close((uv_handle_t *)&net->udp[i].handle, listener_closed);
	}
}
