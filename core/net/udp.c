/*  DNS over UDP on a worker: batched receive and send.
 *
 *  When the socket is readable, recvmmsg() takes up to MNS_UDP_BATCH
 *  datagrams into the worker's buffers, each is answered into its own slot
 *  and one sendmmsg() sends every answer: two system calls per batch, no
 *  allocation, no lock. At most MNS_UDP_TURNS batches run per event so the
 *  TCP clients on the same loop are not starved; the poll is level
 *  triggered, so what is left is read on the next turn of the loop.
 *
 *  A datagram of any size up to 65535 octets fits its slot and goes to
 *  mns_dns_process() whole (a query that parses is answered, with TC when
 *  the answer does not fit, else FORMERR). Transfer requests, queries for the
 *  catalog and TSIG-signed ones go to the main loop (mns_xfr_wants()), whose
 *  answer comes back through mns_udp_reply(). Answers pass response rate
 *  limiting (rrl.h); a full socket buffer drops them, as UDP would anyway.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <string.h>

#include "net/net_internal.h"
#include "xfr/xfr.h"

/* Response rate limiting: false when the answer must not be sent; may
 * shorten it to its truncated form (*n). */
static bool rrl_allows(worker_t *w, const struct sockaddr *addr, uint8_t *msg, size_t *n,
                       uint64_t now)
{
	if (w->rrl == NULL)
		return true;
	mns_rrl_class_t cls = mns_rrl_classify(msg, *n);
	switch (mns_rrl_check(w->rrl, addr, cls, now)) {
	case MNS_RRL_PASS:
		return true;
	case MNS_RRL_SLIP:
		*n = mns_rrl_truncate(msg, *n);
		return *n > 0;
	case MNS_RRL_DROP:
		break;
	}
	return false;
}

/* Sends the \a n answers of the batch; one that fails is skipped. */
static void send_all(int fd, struct mmsghdr *m, unsigned n)
{
	unsigned off = 0;
	while (off < n) {
		int sent = sendmmsg(fd, m + off, n - off, MSG_DONTWAIT);
		if (sent < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
				return; /* Full: the rest is dropped. */
			off++;          /* This destination failed (unreachable, …). */
			continue;
		}
		off += (unsigned)sent;
	}
}

/* One batch. \return the number of datagrams received (0: nothing left). */
static unsigned udp_batch(worker_t *w, udp_sock_t *u)
{
	udp_batch_t *b = w->batch;
	for (unsigned i = 0; i < MNS_UDP_BATCH; i++) {
		b->rmsg[i].msg_hdr.msg_namelen = sizeof(b->peer[i]);
		b->rmsg[i].msg_hdr.msg_flags = 0;
	}
	int got;
	do
		got = recvmmsg(u->fd, b->rmsg, MNS_UDP_BATCH, MSG_DONTWAIT, NULL);
	while (got < 0 && errno == EINTR);
	if (got <= 0)
		return 0;
	uint64_t now = uv_now(&w->loop);
	mns_server_t *s = w->net->server;
	unsigned out = 0;
	for (unsigned i = 0; i < (unsigned)got; i++) {
		struct msghdr *h = &b->rmsg[i].msg_hdr;
		size_t len = b->rmsg[i].msg_len;
		const struct sockaddr *peer = (const struct sockaddr *)&b->peer[i];
		/* MSG_TRUNC cannot happen: a slot holds the largest datagram. */
		if ((h->msg_flags & MSG_TRUNC) || h->msg_namelen == 0)
			continue;
		if (mns_xfr_wants(s, b->rx[i], len)) {
			(void)mns_net_handoff(w, NULL, u->fd, peer, h->msg_namelen, b->rx[i], len);
			continue;
		}
		size_t n = mns_dns_process(&w->dns, b->rx[i], len, b->tx[out], sizeof(b->tx[out]),
		                           MNS_TRANSPORT_UDP);
		if (n == 0 || !rrl_allows(w, peer, b->tx[out], &n, now))
			continue;
		struct msghdr *o = &b->smsg[out].msg_hdr;
		o->msg_name = &b->peer[i];
		o->msg_namelen = h->msg_namelen;
		b->siov[out].iov_len = n;
		out++;
	}
	if (out > 0)
		send_all(u->fd, b->smsg, out);
	return (unsigned)got;
}

void mns_udp_readable(uv_poll_t *p, int status, int events)
{
	udp_sock_t *u = p->data;
	if (status < 0 || !(events & UV_READABLE))
		return;
	for (unsigned turn = 0; turn < MNS_UDP_TURNS; turn++)
		if (udp_batch(u->w, u) < MNS_UDP_BATCH)
			break;
}

void mns_udp_reply(worker_t *w, handoff_t *h)
{
	if (h->out == NULL || h->out_len == 0)
		return;
	size_t n = h->out_len;
	if (!rrl_allows(w, (const struct sockaddr *)&h->peer, h->out, &n, uv_now(&w->loop)))
		return;
	ssize_t r;
	do
		r = sendto(h->udp_fd, h->out, n, MSG_DONTWAIT, (const struct sockaddr *)&h->peer,
		           h->peer_len);
	while (r < 0 && errno == EINTR);
}
