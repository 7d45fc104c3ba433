/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "net/net.h"
#include "xfr/xfr.h"

#define MNS_TCP_MAX_MSG 65535
/* Unsent TCP replies beyond which a client that does not read is dropped. */
#define MNS_TCP_MAX_PENDING (256u * 1024)

/* Listener handles carry the net in their data pointer. */
typedef struct udp_listener {
	uv_udp_t handle;
} udp_listener_t;

typedef struct tcp_listener {
	uv_tcp_t handle;
} tcp_listener_t;

typedef struct tcp_client {
	uv_tcp_t handle;
	uv_timer_t timer;
	struct mns_net *net;
	size_t len;
	int open_handles;
	bool closing;
	struct tcp_client *next, *prev;
	struct sockaddr_storage peer; /* For the transfer ACL. */
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
	size_t open_listeners; /* Handles not yet closed; the last close frees the net. */
	tcp_client_t *clients;
	size_t n_clients;
	uint64_t idle_ms;
	size_t max_clients;
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

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags)
{
	mns_net_t *net = h->data;
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
	if (n == 0)
		return;
	uv_buf_t out = uv_buf_init((char *)net->tx, (unsigned)n);
	/* A full socket buffer drops the answer, as UDP would anyway. */
	(void)uv_udp_try_send(h, &out, 1, addr);
}

/* --- TCP ------------------------------------------------------------------- */

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
	if (c->prev)
		c->prev->next = c->next;
	else
		net->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	net->n_clients--;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, client_handle_closed);
	uv_close((uv_handle_t *)&c->handle, client_handle_closed);
}

static void client_timeout(uv_timer_t *t)
{
	client_close(t->data);
}

static void tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	tcp_client_t *c = h->data;
	*buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void write_done(uv_write_t *req, int status)
{
	free(req);
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
	if (c->handle.write_queue_size > MNS_TCP_MAX_PENDING) {
		client_close(c);
		return;
	}
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
	}
}

typedef struct tcp_bulk {
	uv_write_t req;
	uint8_t *data;
} tcp_bulk_t;

static void bulk_done(uv_write_t *req, int status)
{
	tcp_bulk_t *w = (tcp_bulk_t *)req;
	free(w->data);
	free(w);
}

/* Queues a transfer (several framed messages, \a msg malloc'd) whole. */
static void tcp_send_owned(tcp_client_t *c, uint8_t *msg, size_t n)
{
	tcp_bulk_t *w = malloc(sizeof(*w));
	if (w == NULL || c->handle.write_queue_size > MNS_TCP_MAX_PENDING) {
		free(w);
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
	}
}

static void tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	tcp_client_t *c = s->data;
	mns_net_t *net = c->net;
	if (nread < 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)nread;
	/* Answer every complete message (pipelining, RFC 7766 §6.2.1.1), in order. */
	size_t off = 0;
	while (!c->closing && c->len - off >= 2) {
		size_t mlen = (size_t)c->buf[off] << 8 | c->buf[off + 1];
		if (mlen == 0) {
			/* Nothing to answer and no way to resynchronise. */
			client_close(c);
			return;
		}
		if (c->len - off - 2 < mlen)
			break;
		uint8_t *xo = NULL;
		size_t xl = 0;
		const struct sockaddr *peer = (const struct sockaddr *)&c->peer;
		if (mns_xfr_tcp(net->server, peer, c->buf + off + 2, mlen, &xo, &xl)) {
			mns_stats_xfr(net->server->dns.stats, MNS_STATS_TCP, c->buf + off + 2, mlen);
			off += 2 + mlen;
			uv_timer_again(&c->timer);
			if (xo != NULL)
				tcp_send_owned(c, xo, xl);
			continue;
		}
		size_t n = mns_dns_process(&net->server->dns, c->buf + off + 2, mlen, net->tx + 2,
		                           sizeof(net->tx) - 2, MNS_TRANSPORT_TCP);
		off += 2 + mlen;
		uv_timer_again(&c->timer);
		if (n == 0)
			continue;
		net->tx[0] = (uint8_t)(n >> 8);
		net->tx[1] = (uint8_t)n;
		tcp_send(c, net->tx, n + 2);
	}
	if (off > 0 && !c->closing) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
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
	c->next = net->clients;
	if (net->clients)
		net->clients->prev = c;
	net->clients = c;
	net->n_clients++;
	if (uv_accept(ls, (uv_stream_t *)&c->handle) != 0 || net->n_clients > net->max_clients) {
		client_close(c);
		return;
	}
	uv_tcp_nodelay(&c->handle, 1);
	int plen = sizeof(c->peer);
	uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &plen);
	/* One timer serves as idle and read timeout: it restarts only when a
	 * whole message has arrived, so a client sending bytes slowly times out too. */
	uv_timer_start(&c->timer, client_timeout, net->idle_ms, net->idle_ms);
	uv_read_start((uv_stream_t *)&c->handle, tcp_alloc, tcp_read);
}

/* --- setup ----------------------------------------------------------------- */

void mns_net_reconfigure(mns_server_t *s)
{
	mns_net_t *net = s->net;
	if (net == NULL)
		return;
	net->idle_ms = (uint64_t)s->conf->tcp_idle_timeout * 1000u;
	net->max_clients = s->conf->tcp_max_clients;
}

int mns_net_start(mns_server_t *s)
{
	mns_net_t *net = calloc(1, sizeof(*net));
	if (net == NULL)
		return MNS_ENOMEM;
	net->server = s;
	s->net = net;
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
			rc = uv_tcp_bind(&t->handle, (struct sockaddr *)&ss, v6only ? UV_TCP_IPV6ONLY : 0);
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

static void listener_closed(uv_handle_t *h)
{
	mns_net_t *net = h->data;
	if (--net->open_listeners > 0)
		return;
	free(net->udp);
	free(net->tcp);
	free(net);
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
		free(net->udp);
		free(net->tcp);
		free(net);
		return;
	}
	net->open_listeners = 2 * net->n_listeners;
	for (size_t i = 0; i < net->n_listeners; i++) {
		uv_close((uv_handle_t *)&net->tcp[i].handle, listener_closed);
		uv_close((uv_handle_t *)&net->udp[i].handle, listener_closed);
	}
}
