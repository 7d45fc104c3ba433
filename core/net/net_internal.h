/*  Query threads ("workers"), shared by net.c (lifecycle, settings, the
 *  hand-off to the main loop), udp.c (batched UDP) and tcp.c (TCP clients).
 *
 *  A worker owns everything it touches while answering: its loop, its
 *  sockets, its answering context (arena, counters, settings copy), its RRL
 *  table and its TCP clients. Other threads reach it only through its
 *  uv_async_t and the two slots under its mutex (new settings, replies from
 *  the main loop), which the query path never takes.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_NET_INTERNAL_H
#define MNS_NET_INTERNAL_H

#include <stdatomic.h>
#include <sys/socket.h>

#include "net/net.h"
#include "net/rrl.h"

#define MNS_TCP_MAX_MSG 65535
/** Datagrams received (and answers sent) with one system call. */
#define MNS_UDP_BATCH 64
/** recvmmsg() calls per readable event before the loop runs other handles
 *  (TCP on the same worker) again. */
#define MNS_UDP_TURNS 8
/** Messages waiting for the main loop (transfers, signed queries); beyond
 *  that UDP ones are dropped, as a full socket buffer would. */
#define MNS_HANDOFF_MAX 1024

struct worker;

/** Settings a worker applies as a whole (copied, owned by one worker). */
typedef struct net_settings {
	uint64_t idle_ms, read_ms;
	size_t max_clients;       /**< This worker's share of tcp-max-clients. */
	size_t max_clients_total; /**< tcp-max-clients, for the log. */
	unsigned max_pipeline;
	mns_rrl_conf_t rrl;
	mns_dns_conf_t dns; /**< identity/version point to the strings below. */
	char *identity, *version;
} net_settings_t;

typedef struct tcp_client {
	uv_tcp_t handle;
	uv_timer_t timer; /* The earlier of the idle and the read deadline. */
	struct worker *w;
	size_t len;         /* Octets in buf. */
	uint64_t active_ms; /* Last complete query or answer progress (idle clock). */
	uint64_t msg_ms;    /* When the incomplete message in buf started; 0: none. */
	unsigned pending;   /* Answers waiting in our write queue. */
	bool reading;       /* Between uv_read_start and uv_read_stop. */
	bool handed_off;    /* A message of ours is with the main loop. */
	int open_handles;
	bool closing;
	struct tcp_client *next, *prev;   /* LRU order: most recently active first;
	                                     after close, the orphans list. */
	struct sockaddr_storage peer;     /* For the transfer ACL. */
	uint8_t buf[2 + MNS_TCP_MAX_MSG]; /* Last: only the fields above are zeroed. */
} tcp_client_t;

/** A message for the main loop, and then its answer back to the worker. */
typedef struct handoff {
	struct handoff *next;
	struct worker *w;
	tcp_client_t *client; /**< NULL: UDP. */
	int udp_fd;           /**< UDP: the socket it came in on. */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	uint8_t *out; /**< The answer: UDP one message, TCP framed (malloc'd). */
	size_t out_len;
	size_t qlen;
	uint8_t q[]; /**< The message. */
} handoff_t;

typedef struct udp_sock {
	uv_poll_t poll;
	int fd;
	struct worker *w;
} udp_sock_t;

/** Buffers of one batch (allocated once per worker). */
typedef struct udp_batch {
	struct mmsghdr rmsg[MNS_UDP_BATCH], smsg[MNS_UDP_BATCH];
	struct iovec riov[MNS_UDP_BATCH], siov[MNS_UDP_BATCH];
	struct sockaddr_storage peer[MNS_UDP_BATCH];
	uint8_t rx[MNS_UDP_BATCH][65536]; /* Any datagram IP can carry. */
	uint8_t tx[MNS_UDP_BATCH][4096];  /* udp-payload is at most 4096. */
} udp_batch_t;

typedef struct worker {
	struct mns_net *net;
	unsigned id;
	uv_thread_t thread;
	bool thread_started;
	uv_loop_t loop;
	uv_async_t wake;
	atomic_bool stop;
	/* Shared with the main loop, under mtx. */
	uv_mutex_t mtx;
	net_settings_t *next_settings;
	handoff_t *replies;
	/* The worker's own. */
	net_settings_t *set;
	mns_dns_ctx_t dns;
	mns_rrl_t *rrl;
	udp_sock_t *udp;
	uv_tcp_t *tcp;
	size_t n_listen;
	int open_handles;
	tcp_client_t *clients, *oldest; /* LRU list: head and tail. */
	tcp_client_t *orphans;          /* Closed while handed off: freed on reply. */
	size_t n_clients;
	uint64_t evict_log_ms;     /* Last "limit reached" line (one per second at most). */
	uint64_t evicted, refused; /* Connections closed at the limit since that line. */
	udp_batch_t *batch;
	uint8_t tx[2 + MNS_TCP_MAX_MSG]; /* TCP answers. */
} worker_t;

typedef struct mns_net {
	mns_server_t *server;
	worker_t *workers;
	unsigned n_workers;
	/* Hand-off to the main loop, under hmtx. */
	uv_mutex_t hmtx;
	uv_async_t hasync;
	handoff_t *hhead, **htail;
	size_t n_handoff;
	bool stopping;
	uint8_t tx[2 + MNS_TCP_MAX_MSG]; /* Main loop answers. */
} mns_net_t;

/* udp.c */
/** \brief Answers what waits on a worker's UDP socket (uv_poll callback). */
void mns_udp_readable(uv_poll_t *p, int status, int events);
/** \brief Sends an answer the main loop made (RRL applies). */
void mns_udp_reply(worker_t *w, handoff_t *h);

/* tcp.c */
/** \brief uv_listen callback of a worker's TCP listener. */
void mns_tcp_accept(uv_stream_t *ls, int status);
/** \brief Delivers the main loop's answer to a handed-off TCP message. */
void mns_tcp_reply(worker_t *w, handoff_t *h);
/** \brief Re-arms every client's timer (new timeouts). */
void mns_tcp_rearm_all(worker_t *w);
/** \brief Closes every client (stop). */
void mns_tcp_close_all(worker_t *w);
/** \brief Frees clients that were closed while handed off (after the loop ended). */
void mns_tcp_free_orphans(worker_t *w);

/* net.c */
/** \brief Passes a message to the main loop. \return false when it cannot
 *  (stopping, queue full, no memory): the caller drops it. */
bool mns_net_handoff(worker_t *w, tcp_client_t *c, int udp_fd, const struct sockaddr *peer,
                     socklen_t peer_len, const uint8_t *q, size_t qlen);

#endif
