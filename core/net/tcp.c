/*  DNS over TCP on a worker, hardened against hostile clients.
 *
 *  TCP (RFC 7766), what a connection may cost us:
 *  - tcp-max-clients connections, divided evenly between the workers (each
 *    at least one). At a worker's share a new connection evicts the one
 *    that has been idle longest (the tail of the worker's LRU list ordered
 *    by the last complete query or answer written), as Knot DNS does,
 *    instead of being refused: idle and slow clients make room for active
 *    ones, and a flood of idle connections cannot lock real clients out.
 *    Only when even the longest-idle connection is younger than
 *    MNS_TCP_EVICT_MIN_IDLE_MS is the new one closed instead, so that a
 *    burst of connections cannot evict a client before it had a chance to
 *    send its query. The kernel spreads connections over the workers'
 *    listeners (SO_REUSEPORT), so a share is reached at about the total.
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
 *  - A transfer request (or a catalog or TSIG-signed query) goes to the main
 *    loop; the connection is not read further until its answer came back
 *    and was queued, so answers stay in the order of the queries.
 *
 *  TCP answers are never rate limited. The query path allocates only when a
 *  client's socket refuses an answer (the copy waits in its write queue,
 *  bounded by tcp-max-pipeline).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "net/net_internal.h"
#include "xfr/xfr.h"

/* Unsent TCP reply bytes beyond which we stop reading a connection, too
 * (large answers or a transfer count for more than a small answer). */
#define MNS_TCP_MAX_PENDING (256u * 1024)
/* Idle time below which a connection is not evicted for a new one. */
#define MNS_TCP_EVICT_MIN_IDLE_MS 200

typedef struct tcp_write {
	uv_write_t req;
	uint8_t data[];
} tcp_write_t;

/* --- TCP connections: list, timers, close -------------------------------------- */

static void lru_unlink(worker_t *w, tcp_client_t *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		w->oldest = c->prev;
	c->next = c->prev = NULL;
}

static void lru_push(worker_t *w, tcp_client_t *c)
{
	c->next = w->clients;
	c->prev = NULL;
	if (w->clients)
		w->clients->prev = c;
	else
		w->oldest = c;
	w->clients = c;
}

static void client_handle_closed(uv_handle_t *h)
{
	tcp_client_t *c = h->data;
	if (--c->open_handles > 0)
		return;
	if (!c->handed_off) {
		free(c);
		return;
	}
	/* The main loop still holds a message of ours: keep the client until
	 * its answer comes back (mns_tcp_reply), or the worker stops. */
	c->prev = NULL;
	c->next = c->w->orphans;
	if (c->next)
		c->next->prev = c;
	c->w->orphans = c;
}

static void client_close(tcp_client_t *c)
{
	if (c->closing)
		return;
	c->closing = true;
	worker_t *w = c->w;
	lru_unlink(w, c);
	w->n_clients--;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, client_handle_closed);
	uv_close((uv_handle_t *)&c->handle, client_handle_closed);
}

/* Progress: restarts the idle clock and moves the client to the LRU head. */
static void client_active(tcp_client_t *c)
{
	c->active_ms = uv_now(c->handle.loop);
	if (c->w->clients != c) {
		lru_unlink(c->w, c);
		lru_push(c->w, c);
	}
}

static void client_timeout(uv_timer_t *t);

/* Arms the timer for the earlier of the idle and the read deadline. */
static void client_arm(tcp_client_t *c)
{
	worker_t *w = c->w;
	uint64_t now = uv_now(c->handle.loop);
	uint64_t due = c->active_ms + w->set->idle_ms;
	if (c->msg_ms != 0 && c->msg_ms + w->set->read_ms < due)
		due = c->msg_ms + w->set->read_ms;
	uv_timer_start(&c->timer, client_timeout, due > now ? due - now : 0, 0);
}

static void client_timeout(uv_timer_t *t)
{
	tcp_client_t *c = t->data;
	worker_t *w = c->w;
	uint64_t now = uv_now(t->loop);
	if (c->msg_ms != 0 && now >= c->msg_ms + w->set->read_ms) {
		mns_log(MNS_LOG_DEBUG, "net, TCP message not complete within %llu ms, closed",
		        (unsigned long long)w->set->read_ms);
		client_close(c);
	} else if (now >= c->active_ms + w->set->idle_ms) {
		client_close(c);
	} else {
		client_arm(c); /* A deadline moved since the timer was armed. */
	}
}

/* At the connection limit: closes the longest-idle connections.
 * \return false when none has been idle long enough: refuse the new one. */
static bool clients_make_room(worker_t *w, uint64_t now)
{
	bool room = true;
	while (w->n_clients >= w->set->max_clients && w->oldest != NULL) {
		if (now < w->oldest->active_ms + MNS_TCP_EVICT_MIN_IDLE_MS) {
			room = false;
			w->refused++;
			break;
		}
		client_close(w->oldest);
		w->evicted++;
	}
	if ((w->evicted || w->refused) && (w->evict_log_ms == 0 || now >= w->evict_log_ms + 1000)) {
		mns_log(
		    MNS_LOG_NOTICE,
		    "net, tcp-max-clients %zu reached: closed %llu longest-idle, refused %llu new "
		    "(worker %u)",
		    w->set->max_clients_total, (unsigned long long)w->evicted,
		    (unsigned long long)w->refused, w->id);
		w->evict_log_ms = now;
		w->evicted = w->refused = 0;
	}
	return room;
}

/* --- TCP answers ---------------------------------------------------------------- */

static bool client_throttled(const tcp_client_t *c)
{
	return c->handed_off || c->pending >= c->w->set->max_pipeline ||
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

/* Answers one complete message. \return false when it went to the main
 * loop: nothing more is read or answered until its answer is back. */
static bool tcp_answer(tcp_client_t *c, const uint8_t *msg, size_t mlen)
{
	worker_t *w = c->w;
	if (mns_xfr_wants(w->net->server, msg, mlen)) {
		if (!mns_net_handoff(w, c, -1, (const struct sockaddr *)&c->peer, sizeof(c->peer),
		                     msg, mlen)) {
			client_close(c);
			return false;
		}
		c->handed_off = true;
		return false;
	}
	size_t n =
	    mns_dns_process(&w->dns, msg, mlen, w->tx + 2, sizeof(w->tx) - 2, MNS_TRANSPORT_TCP);
	if (n == 0)
		return true;
	w->tx[0] = (uint8_t)(n >> 8);
	w->tx[1] = (uint8_t)n;
	tcp_send(c, w->tx, n + 2);
	return true;
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
		bool done = tcp_answer(c, c->buf + off + 2, mlen);
		off += 2 + mlen;
		c->msg_ms = 0;
		if (c->closing)
			return;
		client_active(c);
		if (!done) {
			throttled = true; /* Until the main loop's answer is back. */
			break;
		}
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

void mns_tcp_accept(uv_stream_t *ls, int status)
{
	worker_t *w = ls->data;
	if (status < 0)
		return;
	tcp_client_t *c = malloc(sizeof(*c));
	if (c == NULL)
		return;
	memset(c, 0, offsetof(tcp_client_t, buf));
	c->w = w;
	uv_tcp_init(ls->loop, &c->handle);
	uv_timer_init(ls->loop, &c->timer);
	c->handle.data = c->timer.data = c;
	c->open_handles = 2;
	if (uv_accept(ls, (uv_stream_t *)&c->handle) != 0 ||
	    !clients_make_room(w, uv_now(ls->loop))) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->timer, client_handle_closed);
		uv_close((uv_handle_t *)&c->handle, client_handle_closed);
		return;
	}
	lru_push(w, c);
	w->n_clients++;
	c->active_ms = uv_now(ls->loop);
	uv_tcp_nodelay(&c->handle, 1);
	int plen = sizeof(c->peer);
	uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &plen);
	tcp_process(c); /* Starts reading and the idle timer. */
}

void mns_tcp_reply(worker_t *w, handoff_t *h)
{
	tcp_client_t *c = h->client;
	c->handed_off = false;
	if (c->closing) {
		free(h->out);
		h->out = NULL;
		if (c->open_handles == 0) { /* On the orphans list. */
			if (c->prev)
				c->prev->next = c->next;
			else
				w->orphans = c->next;
			if (c->next)
				c->next->prev = c->prev;
			free(c);
		}
		return;
	}
	if (h->out != NULL) {
		tcp_send_owned(c, h->out, h->out_len);
		h->out = NULL;
	}
	if (!c->closing)
		tcp_process(c); /* The rest of the buffer, then reading again. */
}

void mns_tcp_rearm_all(worker_t *w)
{
	for (tcp_client_t *c = w->clients; c; c = c->next)
		client_arm(c);
}

void mns_tcp_close_all(worker_t *w)
{
	while (w->clients)
		client_close(w->clients);
}

void mns_tcp_free_orphans(worker_t *w)
{
	while (w->orphans) {
		tcp_client_t *c = w->orphans;
		w->orphans = c->next;
		free(c);
	}
}
