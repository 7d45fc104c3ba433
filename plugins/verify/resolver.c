/*  verify: c-ares on the libuv main loop.
 *
 *  c-ares tells which sockets it wants watched (ARES_OPT_SOCK_STATE_CB); each
 *  gets a uv_poll_t whose events go to ares_process_fd(). One uv_timer_t,
 *  re-armed from ares_timeout() after every step, drives retries and
 *  timeouts. c-ares matches answers to questions (ids, question section) and
 *  retries over TCP when an answer is truncated; the caller's data pointer
 *  ties each answer to its check.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <arpa/nameser.h>

#include "resolver.h"

typedef struct vsock {
	uv_poll_t poll;
	ares_socket_t fd;
	struct mns_vresolver *r;
	struct vsock *next;
} vsock_t;

struct mns_vresolver {
	ares_channel ch;
	uv_loop_t *loop;
	uv_timer_t timer;
	vsock_t *socks;
	size_t handles;    /* Handles not closed yet (the timer and the polls). */
	size_t active;     /* Queries outstanding. */
	int depth;         /* Nesting of calls into c-ares that may run callbacks. */
	bool free_pending; /* mns_vresolver_free() was called from a callback. */
	bool closing;
};

typedef struct vquery {
	mns_vresolver_t *r;
	char name[MNS_VA_LEN];
	uint16_t type;
	mns_vresolver_cb cb;
	void *data;
} vquery_t;

static void resolver_destroy(mns_vresolver_t *r);

static void handle_closed(uv_handle_t *h)
{
	mns_vresolver_t *r;
	if (h->type == UV_POLL) {
		vsock_t *s = h->data;
		r = s->r;
		free(s);
	} else {
		r = h->data;
	}
	if (--r->handles == 0 && r->closing) {
		free(r);
		ares_library_cleanup();
	}
}

static void arm_timer(mns_vresolver_t *r);

/* Runs c-ares on \a rfd / \a wfd (ARES_SOCKET_BAD: timeouts only). */
static void process(mns_vresolver_t *r, ares_socket_t rfd, ares_socket_t wfd)
{
	r->depth++;
	ares_process_fd(r->ch, rfd, wfd);
	r->depth--;
	if (r->depth == 0 && r->free_pending) {
		resolver_destroy(r);
		return;
	}
	arm_timer(r);
}

static void on_timer(uv_timer_t *t)
{
	process(t->data, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

static void arm_timer(mns_vresolver_t *r)
{
	if (r->closing)
		return;
	struct timeval tv, *tvp = ares_timeout(r->ch, NULL, &tv);
	if (tvp == NULL) {
		uv_timer_stop(&r->timer);
		return;
	}
	uint64_t ms = (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000;
	uv_timer_start(&r->timer, on_timer, ms, 0);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	vsock_t *s = h->data;
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
	if (status < 0) {
		/* Let c-ares find the error on the socket. */
		rfd = wfd = s->fd;
	} else {
		if (events & UV_READABLE)
			rfd = s->fd;
		if (events & UV_WRITABLE)
			wfd = s->fd;
	}
	process(s->r, rfd, wfd); /* May close s. */
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	mns_vresolver_t *r = data;
	vsock_t **pp = &r->socks, *s;
	while ((s = *pp) != NULL && s->fd != fd)
		pp = &s->next;
	if (!readable && !writable) {
		if (s != NULL) {
			*pp = s->next;
			uv_poll_stop(&s->poll);
			uv_close((uv_handle_t *)&s->poll, handle_closed);
		}
		return;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return; /* c-ares times the query out. */
		if (uv_poll_init_socket(r->loop, &s->poll, fd) != 0) {
			free(s);
			return;
		}
		s->fd = fd;
		s->r = r;
		s->poll.data = s;
		uv_unref((uv_handle_t *)&s->poll);
		r->handles++;
		s->next = r->socks;
		r->socks = s;
	}
	uv_poll_start(&s->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
	              on_poll);
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	vquery_t *q = arg;
	mns_vresolver_t *r = q->r;
	r->active--;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		q->cb(q->data, NULL);
		free(q);
		return;
	}
	mns_vanswer_t *a = malloc(sizeof(*a));
	if (a == NULL) {
		q->cb(q->data, NULL);
		free(q);
		return;
	}
	if (abuf != NULL && alen > 0) {
		/* A response, whatever its rcode (NXDOMAIN, SERVFAIL, REFUSED …). */
		if (mns_verify_answer_parse(abuf, (size_t)alen, q->name, q->type, a) != 0)
			mns_verify_answer_fail(a, MNS_VA_RESOLVER, "cannot read the response");
	} else {
		switch (status) {
		case ARES_ENOTFOUND:
			mns_verify_answer_fail(a, MNS_VA_NXDOMAIN, "NXDOMAIN");
			break;
		case ARES_ENODATA:
			mns_verify_answer_fail(a, MNS_VA_NODATA, "NODATA");
			break;
		case ARES_ESERVFAIL:
			mns_verify_answer_fail(a, MNS_VA_SERVFAIL, "SERVFAIL");
			break;
		case ARES_ETIMEOUT:
			mns_verify_answer_fail(a, MNS_VA_TIMEOUT, "timeout");
			break;
		case ARES_ECONNREFUSED:
			mns_verify_answer_fail(
			    a, MNS_VA_RESOLVER,
			    "the resolvers refused the connection (not running?)");
			break;
		case ARES_EREFUSED:
			mns_verify_answer_fail(a, MNS_VA_RESOLVER, "the resolver answered REFUSED");
			break;
		default: {
			char d[128];
			snprintf(d, sizeof(d), "%s", ares_strerror(status));
			mns_verify_answer_fail(a, MNS_VA_RESOLVER, d);
			break;
		}
		}
	}
	q->cb(q->data, a);
	free(a);
	free(q);
}

int mns_vresolver_new(uv_loop_t *loop, const char *servers, int timeout_ms, int tries,
                      mns_vresolver_t **out, char *err, size_t errlen)
{
	*out = NULL;
	int rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		return -1;
	}
	mns_vresolver_t *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		ares_library_cleanup();
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->loop = loop;
	struct ares_options o;
	memset(&o, 0, sizeof(o));
	/* No search list, no hosts file; TCP on truncation stays on.
	 * NOCHECKRESP: c-ares 1.18 would otherwise retry a SERVFAIL or REFUSED
	 * and then report it as ARES_ECONNREFUSED, which is exactly the
	 * distinction a lame delegation needs; with it the rcode reaches us
	 * (timeouts and socket errors still move on to the next resolver).
	 * No EDNS: 1.18 switches EDNS off for the whole channel after one
	 * SERVFAIL; our answers are small, and TC brings TCP when not. */
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
	o.timeout = timeout_ms;
	o.tries = tries;
	o.ndots = 1;
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = r;
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
	           ARES_OPT_SOCK_STATE_CB | ARES_OPT_NOROTATE;
	rc = ares_init_options(&r->ch, &o, mask);
	if (rc == ARES_SUCCESS) {
		rc = ares_set_servers_ports_csv(r->ch, servers);
		if (rc != ARES_SUCCESS)
			ares_destroy(r->ch);
	}
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares (servers %s): %s", servers, ares_strerror(rc));
		free(r);
		ares_library_cleanup();
		return -1;
	}
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	uv_unref((uv_handle_t *)&r->timer);
	r->handles = 1;
	*out = r;
	return 0;
}

void mns_vresolver_query(mns_vresolver_t *r, const char *name, uint16_t type, mns_vresolver_cb cb,
                         void *data)
{
	vquery_t *q = calloc(1, sizeof(*q));
	if (q == NULL || r->closing) {
		free(q);
		cb(data, NULL);
		return;
	}
	q->r = r;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->type = type;
	q->cb = cb;
	q->data = data;
	r->active++;
	r->depth++;
	ares_query(r->ch, name, ns_c_in, type, on_answer, q);
	r->depth--;
	if (r->depth == 0 && r->free_pending) {
		resolver_destroy(r);
		return;
	}
	arm_timer(r);
}

size_t mns_vresolver_active(const mns_vresolver_t *r)
{
	return r ? r->active : 0;
}

static void resolver_destroy(mns_vresolver_t *r)
{
	r->closing = true;
	r->free_pending = false;
	/* Runs every outstanding callback with ARES_EDESTRUCTION and closes the
	 * sockets, which closes their polls through sock_state(). */
	ares_destroy(r->ch);
	while (r->socks) {
		vsock_t *s = r->socks;
		r->socks = s->next;
		uv_poll_stop(&s->poll);
		uv_close((uv_handle_t *)&s->poll, handle_closed);
	}
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, handle_closed);
}

void mns_vresolver_free(mns_vresolver_t *r)
{
	if (r == NULL || r->closing)
		return;
	if (r->depth > 0) {
		r->free_pending = true;
		return;
	}
	resolver_destroy(r);
}
