/*  The query threads: start, settings, hand-off to the main loop, stop.
 *
 *  `workers` threads (0: one per online CPU) each run their own libuv loop
 *  with, for every listen address, their own UDP socket and TCP listener.
 *  All sockets are bound here, on the main thread, before the threads start
 *  and before privileges are dropped, so a bind failure is a clean start-up
 *  error. They carry SO_REUSEPORT, so the kernel spreads datagrams and
 *  connections over the workers by their address and port tuple; a plain
 *  bind of the address first (closed at once) makes a port another program
 *  (or a second mailnsd) holds fail as it did with one socket, instead of
 *  silently sharing it.
 *
 *  Each worker is an RCU reader of the zone index: tenant updates publish
 *  new zones without ever waiting for or blocking a query (zone/index.h).
 *  Counters go to the worker's own block (stats.h).
 *
 *  What a worker must not do itself goes to the main loop through one
 *  mutex-protected queue and a uv_async_t: transfer requests, queries for
 *  the catalog and TSIG-signed ones (the transfer module's state, the IXFR
 *  history and NOTIFY belong to the main loop). The answer comes back the
 *  same way to the worker's own queue. Ordinary queries never take a lock.
 *
 *  Settings that change on reload reach a worker as a complete copy through
 *  its mutex-protected slot and its uv_async_t; the worker swaps them in
 *  between two events (never during a query).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log/log.h"
#include "net/net_internal.h"
#include "xfr/xfr.h"

/* --- settings ------------------------------------------------------------------ */

static uint32_t conf_uint(const json_t *o, const char *key)
{
	return (uint32_t)json_integer_value(json_object_get(o, key));
}

static void settings_free(net_settings_t *set)
{
	if (set == NULL)
		return;
	free(set->identity);
	free(set->version);
	free(set);
}

/* One worker's copy of the settings in s->conf. \return NULL on error (logged). */
static net_settings_t *settings_build(const mns_server_t *s, unsigned n_workers)
{
	json_t *srv = NULL;
	char err[256];
	/* The file was checked against the schema already. */
	if (mns_conf_section_json(s->conf, "server", mns_conf_server_schema, &srv, err,
	                          sizeof(err)) != MNS_OK) {
		mns_log(MNS_LOG_ERR, "net, %s", err);
		return NULL;
	}
	net_settings_t *set = calloc(1, sizeof(*set));
	if (set == NULL) {
		json_decref(srv);
		return NULL;
	}
	set->idle_ms = (uint64_t)s->conf->tcp_idle_timeout * 1000u;
	set->read_ms = (uint64_t)conf_uint(srv, "tcp-read-timeout") * 1000u;
	set->max_clients_total = s->conf->tcp_max_clients;
	set->max_clients = s->conf->tcp_max_clients / n_workers;
	if (set->max_clients == 0)
		set->max_clients = 1;
	set->max_pipeline = conf_uint(srv, "tcp-max-pipeline");
	set->rrl = (mns_rrl_conf_t){
	    .rate = conf_uint(srv, "rrl-rate"),
	    .slip = conf_uint(srv, "rrl-slip"),
	    .ipv4_prefix = (uint8_t)conf_uint(srv, "rrl-ipv4-prefix"),
	    .ipv6_prefix = (uint8_t)conf_uint(srv, "rrl-ipv6-prefix"),
	    .table_size = conf_uint(srv, "rrl-table-size"),
	};
	json_decref(srv);
	const mns_dns_conf_t *dc = &s->dns_conf;
	set->identity = dc->identity ? strdup(dc->identity) : NULL;
	set->version = dc->version ? strdup(dc->version) : NULL;
	if ((dc->identity && !set->identity) || (dc->version && !set->version)) {
		settings_free(set);
		return NULL;
	}
	set->dns = (mns_dns_conf_t){.identity = set->identity,
	                            .version = set->version,
	                            .udp_max_payload = dc->udp_max_payload};
	return set;
}

/* On the worker's thread (or before it runs): swaps in \a set. */
static void worker_apply(worker_t *w, net_settings_t *set)
{
	net_settings_t *old = w->set;
	w->set = set;
	w->dns.conf = &set->dns;
	/* A rate limiting table is made anew only when its settings change. */
	if (old == NULL || memcmp(&old->rrl, &set->rrl, sizeof(set->rrl)) != 0) {
		mns_rrl_free(w->rrl);
		w->rrl = NULL;
		if (set->rrl.rate > 0 && (w->rrl = mns_rrl_new(&set->rrl)) == NULL)
			mns_log(
			    MNS_LOG_ERR,
			    "net, out of memory for the rate limiting table of worker %u, RRL off",
			    w->id);
	}
	settings_free(old);
	/* New deadlines apply to the connections already open. */
	mns_tcp_rearm_all(w);
}

static void rrl_logged(const net_settings_t *prev, const net_settings_t *set)
{
	const mns_rrl_conf_t *rc = &set->rrl;
	if (prev != NULL && memcmp(&prev->rrl, rc, sizeof(*rc)) == 0)
		return;
	if (rc->rate == 0) {
		if (prev != NULL && prev->rrl.rate != 0)
			mns_log(MNS_LOG_INFO, "net, response rate limiting off");
		return;
	}
	mns_log(MNS_LOG_INFO,
	        "net, response rate limiting %u/s per /%u and /%u, slip %u, %u buckets per worker",
	        rc->rate, rc->ipv4_prefix, rc->ipv6_prefix, rc->slip, rc->table_size);
}

/* --- the worker's loop --------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
	worker_t *w = h->loop->data;
	w->open_handles--;
}

/* Closes everything on the worker's loop: uv_run then returns. */
static void worker_close(worker_t *w)
{
	mns_tcp_close_all(w);
	for (size_t i = 0; i < w->n_listen; i++) {
		uv_poll_stop(&w->udp[i].poll);
		uv_close((uv_handle_t *)&w->udp[i].poll, handle_closed);
		uv_close((uv_handle_t *)&w->tcp[i], handle_closed);
	}
	uv_close((uv_handle_t *)&w->wake, handle_closed);
}

static handoff_t *list_reverse(handoff_t *h)
{
	handoff_t *r = NULL;
	while (h) {
		handoff_t *next = h->next;
		h->next = r;
		r = h;
		h = next;
	}
	return r;
}

static void handoff_free(handoff_t *h)
{
	free(h->out);
	free(h);
}

static void worker_wake(uv_async_t *a)
{
	worker_t *w = a->data;
	if (atomic_load(&w->stop)) {
		worker_close(w);
		return;
	}
	uv_mutex_lock(&w->mtx);
	net_settings_t *set = w->next_settings;
	handoff_t *replies = w->replies;
	w->next_settings = NULL;
	w->replies = NULL;
	uv_mutex_unlock(&w->mtx);
	if (set != NULL)
		worker_apply(w, set);
	for (handoff_t *h = list_reverse(replies), *next; h; h = next) {
		next = h->next;
		if (h->client != NULL)
			mns_tcp_reply(w, h);
		else
			mns_udp_reply(w, h);
		handoff_free(h);
	}
}

static void worker_main(void *arg)
{
	worker_t *w = arg;
	char name[16];
	snprintf(name, sizeof(name), "mailnsd-w%u", w->id);
	pthread_setname_np(pthread_self(), name); /* Shown in top -H, /proc/<pid>/task. */
	mns_rcu_register();
	uv_run(&w->loop, UV_RUN_DEFAULT);
	mns_rcu_unregister();
}

/* --- sockets --------------------------------------------------------------------- */

static int sockaddr_of(const mns_listen_t *l, struct sockaddr_storage *ss, socklen_t *len)
{
	if (strchr(l->addr, ':')) {
		*len = sizeof(struct sockaddr_in6);
		return uv_ip6_addr(l->addr, l->port, (struct sockaddr_in6 *)ss);
	}
	*len = sizeof(struct sockaddr_in);
	return uv_ip4_addr(l->addr, l->port, (struct sockaddr_in *)ss);
}

/* A bound socket of \a type. \a shared: SO_REUSEPORT (one per worker).
 * \return the descriptor, or a negative libuv error. */
static int bound_socket(const struct sockaddr_storage *ss, socklen_t len, int type, bool shared)
{
	int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return uv_translate_sys_error(errno);
	int one = 1;
	if ((type == SOCK_STREAM &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) ||
	    (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) != 0) {
		int e = uv_translate_sys_error(errno);
		close(fd);
		return e;
	}
	return fd;
}

/* Fails, as one socket would, when someone else holds the address. */
static int probe(const struct sockaddr_storage *ss, socklen_t len)
{
	int rc = bound_socket(ss, len, SOCK_DGRAM, false);
	if (rc >= 0) {
		close(rc);
		rc = bound_socket(ss, len, SOCK_STREAM, false);
		if (rc >= 0)
			close(rc);
	}
	return rc < 0 ? rc : 0;
}

/* Worker \a w's UDP socket and TCP listener on listen address \a i. */
static int worker_listen(worker_t *w, size_t i, const struct sockaddr_storage *ss, socklen_t len)
{
	int ufd = bound_socket(ss, len, SOCK_DGRAM, true);
	if (ufd < 0)
		return ufd;
	int tfd = bound_socket(ss, len, SOCK_STREAM, true);
	if (tfd < 0) {
		close(ufd);
		return tfd;
	}
	udp_sock_t *u = &w->udp[i];
	u->fd = ufd;
	u->w = w;
	int rc = uv_poll_init_socket(&w->loop, &u->poll, ufd);
	if (rc != 0) {
		close(ufd);
		close(tfd);
		return rc;
	}
	u->poll.data = u;
	uv_tcp_init(&w->loop, &w->tcp[i]);
	w->tcp[i].data = w;
	w->n_listen++;
	w->open_handles += 2;
	rc = uv_tcp_open(&w->tcp[i], tfd);
	if (rc != 0) {
		close(tfd);
		return rc;
	}
	rc = uv_listen((uv_stream_t *)&w->tcp[i], 128, mns_tcp_accept);
	if (rc == 0)
		rc = uv_poll_start(&u->poll, UV_READABLE, mns_udp_readable);
	return rc;
}

/* --- start and stop ----------------------------------------------------------------- */

static int worker_init(mns_net_t *net, worker_t *w, unsigned id)
{
	mns_server_t *s = net->server;
	w->net = net;
	w->id = id;
	if (uv_loop_init(&w->loop) != 0)
		return MNS_ERROR;
	w->loop.data = w;
	uv_async_init(&w->loop, &w->wake, worker_wake);
	w->wake.data = w;
	w->open_handles = 1;
	uv_mutex_init(&w->mtx);
	size_t n = s->conf->n_listen;
	w->udp = calloc(n ? n : 1, sizeof(*w->udp));
	w->tcp = calloc(n ? n : 1, sizeof(*w->tcp));
	/* Large but touched only as far as datagrams reach: rx slots fill
	 * their first page for an ordinary query. */
	w->batch = malloc(sizeof(*w->batch));
	if (w->udp == NULL || w->tcp == NULL || w->batch == NULL ||
	    mns_arena_init(&w->dns.arena, MNS_DNS_ARENA_SIZE) != 0)
		return MNS_ENOMEM;
	udp_batch_t *b = w->batch;
	for (unsigned i = 0; i < MNS_UDP_BATCH; i++) {
		b->riov[i] = (struct iovec){.iov_base = b->rx[i], .iov_len = sizeof(b->rx[i])};
		b->rmsg[i].msg_hdr = (struct msghdr){.msg_name = &b->peer[i],
		                                     .msg_namelen = sizeof(b->peer[i]),
		                                     .msg_iov = &b->riov[i],
		                                     .msg_iovlen = 1};
		b->siov[i] = (struct iovec){.iov_base = b->tx[i], .iov_len = 0};
		b->smsg[i].msg_hdr = (struct msghdr){.msg_iov = &b->siov[i], .msg_iovlen = 1};
	}
	w->dns.index = s->index;
	/* Each worker writes its own counter block, registered before it runs. */
	w->dns.stats = mns_stats_block_register();
	if (w->dns.stats == NULL)
		mns_log(MNS_LOG_WARNING, "net, no counter block left for worker %u: not counted",
		        id);
	net_settings_t *set = settings_build(s, net->n_workers);
	if (set == NULL)
		return MNS_ENOMEM;
	worker_apply(w, set);
	for (size_t i = 0; i < n; i++) {
		const mns_listen_t *l = &s->conf->listen[i];
		struct sockaddr_storage ss = {0};
		socklen_t len;
		int rc = sockaddr_of(l, &ss, &len);
		if (rc == 0 && id == 0)
			rc = probe(&ss, len);
		if (rc == 0)
			rc = worker_listen(w, i, &ss, len);
		if (rc != 0) {
			mns_log(MNS_LOG_ERR, "net, cannot listen on %s@%u (%s)", l->addr, l->port,
			        uv_strerror(rc));
			return MNS_ERROR;
		}
		if (id == 0)
			mns_log(MNS_LOG_INFO, "net, answering on %s@%u (UDP, TCP)", l->addr,
			        l->port);
	}
	return MNS_OK;
}

/* After its thread ended (or when it never started): frees what the worker holds. */
static void worker_deinit(worker_t *w)
{
	if (w->net == NULL)
		return; /* worker_init never ran. */
	if (w->loop.data != NULL) {
		if (!w->thread_started) {
			/* Start failed: the loop never ran, close it here. */
			worker_close(w);
			uv_run(&w->loop, UV_RUN_DEFAULT);
		}
		mns_tcp_free_orphans(w);
		for (size_t i = 0; i < w->n_listen; i++)
			close(w->udp[i].fd); /* uv_poll leaves it open. */
		if (uv_loop_close(&w->loop) != 0)
			mns_log(MNS_LOG_WARNING, "net, worker %u loop closed with handles open",
			        w->id);
		uv_mutex_destroy(&w->mtx);
	}
	for (handoff_t *h = w->replies, *next; h; h = next) {
		next = h->next;
		handoff_free(h);
	}
	settings_free(w->next_settings);
	settings_free(w->set);
	mns_rrl_free(w->rrl);
	mns_arena_deinit(&w->dns.arena);
	free(w->batch);
	free(w->udp);
	free(w->tcp);
}

/* Hundreds of TCP connections need file descriptors: the soft limit is often
 * 1024 while the hard one is far higher. */
static void raise_nofile(const mns_server_t *s, unsigned n_workers)
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
	rlim_t need = (rlim_t)s->conf->tcp_max_clients + 64 + 4 * (rlim_t)n_workers;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		mns_log(MNS_LOG_WARNING,
		        "net, open file limit %llu is below tcp-max-clients %u: connections beyond "
		        "it are refused",
		        (unsigned long long)rl.rlim_cur, s->conf->tcp_max_clients);
}

static unsigned worker_count(const mns_conf_t *c)
{
	if (c->workers > 0)
		return c->workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

static void main_handoff(uv_async_t *a);

int mns_net_start(mns_server_t *s)
{
	mns_net_t *net = calloc(1, sizeof(*net));
	if (net == NULL)
		return MNS_ENOMEM;
	net->server = s;
	net->htail = &net->hhead;
	uv_mutex_init(&net->hmtx);
	uv_async_init(s->loop, &net->hasync, main_handoff);
	net->hasync.data = net;
	s->net = net;
	net->n_workers = worker_count(s->conf);
	raise_nofile(s, net->n_workers);
	net->workers = calloc(net->n_workers, sizeof(*net->workers));
	if (net->workers == NULL)
		return MNS_ENOMEM;
	for (unsigned i = 0; i < net->n_workers; i++) {
		int ret = worker_init(net, &net->workers[i], i);
		if (ret != MNS_OK)
			return ret;
	}
	rrl_logged(NULL, net->workers[0].set);
	for (unsigned i = 0; i < net->n_workers; i++) {
		worker_t *w = &net->workers[i];
		if (uv_thread_create(&w->thread, worker_main, w) != 0) {
			mns_log(MNS_LOG_ERR, "net, cannot start worker thread %u", i);
			return MNS_ERROR;
		}
		w->thread_started = true;
	}
	mns_log(MNS_LOG_INFO, "net, %u worker thread%s answering", net->n_workers,
	        net->n_workers == 1 ? "" : "s");
	return MNS_OK;
}

void mns_net_reconfigure(mns_server_t *s)
{
	mns_net_t *net = s->net;
	if (net == NULL)
		return;
	for (unsigned i = 0; i < net->n_workers; i++) {
		worker_t *w = &net->workers[i];
		net_settings_t *set = settings_build(s, net->n_workers);
		if (set == NULL) {
			mns_log(MNS_LOG_ERR, "net, worker %u keeps its settings", i);
			continue;
		}
		if (i == 0) {
			/* What worker 0 runs with, or is about to. */
			uv_mutex_lock(&w->mtx);
			rrl_logged(w->next_settings ? w->next_settings : w->set, set);
			uv_mutex_unlock(&w->mtx);
		}
		if (!w->thread_started) {
			worker_apply(w, set);
			continue;
		}
		uv_mutex_lock(&w->mtx);
		settings_free(w->next_settings);
		w->next_settings = set;
		uv_mutex_unlock(&w->mtx);
		uv_async_send(&w->wake);
	}
}

static void net_closed(uv_handle_t *h)
{
	mns_net_t *net = h->data;
	uv_mutex_destroy(&net->hmtx);
	free(net);
}

void mns_net_stop(mns_server_t *s)
{
	mns_net_t *net = s->net;
	if (net == NULL)
		return;
	s->net = NULL;
	/* No more hand-offs in or answers out: the workers may stop. */
	uv_mutex_lock(&net->hmtx);
	net->stopping = true;
	handoff_t *q = net->hhead;
	net->hhead = NULL;
	net->htail = &net->hhead;
	net->n_handoff = 0;
	uv_mutex_unlock(&net->hmtx);
	for (handoff_t *next; q; q = next) {
		next = q->next;
		handoff_free(q);
	}
	for (unsigned i = 0; net->workers && i < net->n_workers; i++) {
		worker_t *w = &net->workers[i];
		if (!w->thread_started)
			continue;
		atomic_store(&w->stop, true);
		uv_async_send(&w->wake);
	}
	for (unsigned i = 0; net->workers && i < net->n_workers; i++) {
		worker_t *w = &net->workers[i];
		if (w->thread_started)
			uv_thread_join(&w->thread);
		worker_deinit(w);
	}
	free(net->workers);
	net->workers = NULL;
	uv_close((uv_handle_t *)&net->hasync, net_closed);
}

/* --- hand-off to the main loop ---------------------------------------------------- */

bool mns_net_handoff(worker_t *w, tcp_client_t *c, int udp_fd, const struct sockaddr *peer,
                     socklen_t peer_len, const uint8_t *q, size_t qlen)
{
	mns_net_t *net = w->net;
	handoff_t *h = malloc(sizeof(*h) + qlen);
	if (h == NULL)
		return false;
	*h = (handoff_t){.w = w, .client = c, .udp_fd = udp_fd, .qlen = qlen};
	if (peer_len > sizeof(h->peer))
		peer_len = sizeof(h->peer);
	memcpy(&h->peer, peer, peer_len);
	h->peer_len = peer_len;
	memcpy(h->q, q, qlen);
	uv_mutex_lock(&net->hmtx);
	bool ok = !net->stopping && net->n_handoff < MNS_HANDOFF_MAX;
	if (ok) {
		*net->htail = h;
		net->htail = &h->next;
		net->n_handoff++;
	}
	uv_mutex_unlock(&net->hmtx);
	if (!ok) {
		free(h);
		return false;
	}
	uv_async_send(&net->hasync);
	return true;
}

/* On the main loop: the transfer module, else the main loop's answering
 * context (a message the transfer module declines after a closer look). */
static void main_answer(mns_net_t *net, handoff_t *h)
{
	mns_server_t *s = net->server;
	const struct sockaddr *peer = (const struct sockaddr *)&h->peer;
	if (h->client == NULL) {
		size_t n = 0;
		if (mns_xfr_udp(s, peer, h->q, h->qlen, net->tx, sizeof(net->tx), &n))
			mns_stats_xfr(s->dns.stats, MNS_STATS_UDP, h->q, h->qlen);
		else
			n = mns_dns_process(&s->dns, h->q, h->qlen, net->tx, sizeof(net->tx),
			                    MNS_TRANSPORT_UDP);
		if (n > 0 && (h->out = malloc(n)) != NULL) {
			memcpy(h->out, net->tx, n);
			h->out_len = n;
		}
		return;
	}
	if (mns_xfr_tcp(s, peer, h->q, h->qlen, &h->out, &h->out_len)) {
		mns_stats_xfr(s->dns.stats, MNS_STATS_TCP, h->q, h->qlen);
		return;
	}
	size_t n = mns_dns_process(&s->dns, h->q, h->qlen, net->tx + 2, sizeof(net->tx) - 2,
	                           MNS_TRANSPORT_TCP);
	if (n > 0 && (h->out = malloc(n + 2)) != NULL) {
		net->tx[0] = (uint8_t)(n >> 8);
		net->tx[1] = (uint8_t)n;
		memcpy(h->out, net->tx, n + 2);
		h->out_len = n + 2;
	}
}

static void main_handoff(uv_async_t *a)
{
	mns_net_t *net = a->data;
	uv_mutex_lock(&net->hmtx);
	handoff_t *q = net->stopping ? NULL : net->hhead;
	net->hhead = NULL;
	net->htail = &net->hhead;
	net->n_handoff = 0;
	uv_mutex_unlock(&net->hmtx);
	for (handoff_t *h = q, *next; h; h = next) {
		next = h->next;
		main_answer(net, h);
		/* Back to the worker it came from (answer or not: a TCP client
		 * waits for it). */
		worker_t *w = h->w;
		uv_mutex_lock(&w->mtx);
		h->next = w->replies;
		w->replies = h;
		uv_mutex_unlock(&w->mtx);
		uv_async_send(&w->wake);
	}
}

/* --- introspection ---------------------------------------------------------------- */

unsigned mns_net_workers(const mns_server_t *s)
{
	return s->net != NULL ? s->net->n_workers : 0;
}

const mns_stats_block_t *mns_net_worker_stats(const mns_server_t *s, unsigned i)
{
	if (s->net == NULL || i >= s->net->n_workers)
		return NULL;
	return s->net->workers[i].dns.stats;
}
