/*  The control socket's transport: accept, split lines, answer in order.
 *  A slow or silent client costs only its own buffers: requests are handled
 *  as their lines complete and nothing here waits on a client. A client
 *  that sends requests but does not read the replies is no longer read
 *  (libuv read stop) while its unsent replies exceed MNS_CONTROL_HIGH_WATER
 *  octets or MNS_CONTROL_MAX_SLOTS queued replies (which also bounds the
 *  time one read of its requests takes on the loop); what it sent meanwhile
 *  waits in the kernel and in one held read buffer, and is handled once
 *  the replies drain. Only events (which it did not ask for one by one) can
 *  push the queue beyond MNS_CONTROL_MAX_PENDING, which disconnects it.
 *  One turn of the loop handles at most MNS_CONTROL_LINES_PER_TURN requests
 *  of a client (more, up to MNS_CONTROL_MAX_SLOTS, while they took under
 *  MNS_CONTROL_TURN_NS together); the rest wait for the next turn, so that a
 *  client sending many costly requests at once does not hold up DNS or
 *  other clients, while cheap pipelined mutations still come in groups.
 *  At the end of each turn (a check handle) the group of mutations the turn
 *  gathered is committed durably at once and answered (tenant.c).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/control.h"
#include "log/log.h"
#include "tenant/tenant.h"
#include "util/secmem.h"
#include "util/util.h"

/* Replies a client has not read yet, beyond which it is disconnected. */
#define MNS_CONTROL_MAX_PENDING (16u * 1024 * 1024)
/* Unsent reply octets beyond which a client's requests are not read. */
#define MNS_CONTROL_HIGH_WATER (256u * 1024)
/* Queued replies (deferred ones included) beyond which the same applies. */
#define MNS_CONTROL_MAX_SLOTS 64
/* Requests of one client handled before the loop gets its turn. */
#define MNS_CONTROL_LINES_PER_TURN 8
/* … or more while they took less than this much loop time (ns). */
#define MNS_CONTROL_TURN_NS (20u * 1000 * 1000)

typedef struct mns_control {
	mns_server_t *server;
	uv_pipe_t listener;
	uv_timer_t next_turn; /* Resumes clients that yielded (0 ms timer). */
	uv_check_t group;     /* Commits the turn's group of mutations. */
	uv_idle_t group_due;  /* Active while a group is open: the loop does not
	                         block in poll before the check commits it. */
	bool hold;            /* Answers do not resume held requests (group flush). */
	int open_handles;     /* The last close frees this. */
	struct ctl_client *clients;
	size_t n_clients;
	struct ctl_client *current; /* Whose request is being handled (deferred replies). */
} mns_control_t;

/* A reply waiting for its turn: replies leave in request order, so while a
 * deferred reply is outstanding the later ones queue behind it. */
typedef struct ctl_slot {
	json_t *response;   /* NULL while a plugin still owes it. */
	mns_reply_t *owner; /* The deferred reply that fills it, if any. */
	struct ctl_client *client;
	struct ctl_slot *next;
} ctl_slot_t;

typedef struct ctl_client {
	uv_pipe_t pipe;
	mns_control_t *ctl;
	char *buf; /* Bytes of the current, incomplete line. */
	size_t len, cap;
	bool discarding; /* Skipping the rest of an over-long line. */
	bool subscribed; /* Receives events (events.subscribe). */
	bool closing;
	ctl_slot_t *head, *tail; /* Replies not sent yet, oldest first. */
	size_t n_slots;
	char *held; /* Received while paused (not read further), not handled yet. */
	size_t held_off, held_len;
	bool paused;  /* Reading stopped until the replies drain. */
	bool feeding; /* Handling lines: no reentrant resume. */
	bool yielded; /* Stopped after its share of this turn. */
	struct ctl_client *next, *prev;
	mns_control_peer_t peer; /* SO_PEERCRED at accept, for the audit log. */
} ctl_client_t;

typedef struct ctl_write {
	uv_write_t req;
	char *data;
} ctl_write_t;

static void client_closed(uv_handle_t *h)
{
	ctl_client_t *c = h->data;
	/* A half-received line or held-back requests may hold a key being
	 * imported (tenant.add with dkim.import). */
	mns_wipe_free(c->buf);
	mns_wipe_free(c->held);
	free(c);
}

/* Drops the replies not sent yet; deferred ones become orphans that
 * mns_plugin_reply() frees without sending. */
static void drop_slots(ctl_client_t *c)
{
	while (c->head) {
		ctl_slot_t *slot = c->head;
		c->head = slot->next;
		if (slot->owner)
			slot->owner->slot = NULL;
		json_decref(slot->response);
		free(slot);
	}
	c->tail = NULL;
	c->n_slots = 0;
}

static void client_close(ctl_client_t *c)
{
	if (c->closing)
		return;
	c->closing = true;
	drop_slots(c);
	mns_control_t *ctl = c->ctl;
	if (ctl->current == c)
		ctl->current = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->n_clients--;
	uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void maybe_resume(ctl_client_t *c);

static void write_done(uv_write_t *req, int status)
{
	ctl_write_t *w = (ctl_write_t *)req;
	ctl_client_t *c = req->handle->data; /* Still valid: close callbacks run later. */
	mns_wipe_free(w->data); /* A reply may carry private keys (dkim.export). */
	free(w);
	if (status < 0 && status != UV_ECANCELED) {
		client_close(c); /* Gone: do not handle what it sent before. */
		return;
	}
	maybe_resume(c);
}

static void send_json(ctl_client_t *c, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (text == NULL)
		return;
	/* Replies may carry private keys (dkim.export): every copy is wiped when
	 * freed, so no realloc() that could leave one behind. */
	size_t n = strlen(text);
	char *line = malloc(n + 2);
	if (line != NULL) {
		memcpy(line, text, n);
		line[n] = '\n';
		line[n + 1] = '\0';
	}
	mns_wipe_free(text);
	if (line == NULL)
		return;
	if (c->pipe.write_queue_size > MNS_CONTROL_MAX_PENDING) {
		mns_log(MNS_LOG_WARNING, "control, client does not read its replies, disconnected");
		mns_wipe_free(line);
		client_close(c);
		return;
	}
	ctl_write_t *w = malloc(sizeof(*w));
	if (w == NULL) {
		mns_wipe_free(line);
		return;
	}
	w->data = line;
	uv_buf_t b = uv_buf_init(line, (unsigned)(n + 1));
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, write_done) != 0) {
		mns_wipe_free(line);
		free(w);
		client_close(c);
	}
}

/* Sends the replies at the head of the queue that are complete. */
static void flush_slots(ctl_client_t *c)
{
	while (c->head && c->head->response && !c->closing) {
		ctl_slot_t *slot = c->head;
		c->head = slot->next;
		if (c->head == NULL)
			c->tail = NULL;
		c->n_slots--;
		json_t *response = slot->response;
		free(slot);
		send_json(c, response); /* May close c, which drops the rest. */
	}
	maybe_resume(c);
}

static ctl_slot_t *slot_append(ctl_client_t *c, json_t *response)
{
	ctl_slot_t *slot = calloc(1, sizeof(*slot));
	if (slot == NULL)
		return NULL;
	slot->response = response;
	slot->client = c;
	if (c->tail)
		c->tail->next = slot;
	else
		c->head = slot;
	c->tail = slot;
	c->n_slots++;
	return slot;
}

/* Sends a reply now, or queues it behind a deferred one still owed. */
static void reply(ctl_client_t *c, json_t *response)
{
	if (c->head == NULL) {
		send_json(c, response);
	} else if (slot_append(c, response) == NULL) {
		json_decref(response);
		mns_log(MNS_LOG_WARNING, "control, out of memory queueing a reply, disconnected");
		client_close(c);
	}
}

mns_reply_t *mns_control_reply_open(mns_server_t *s, const json_t *id)
{
	mns_control_t *ctl = s->control;
	ctl_client_t *c = ctl ? ctl->current : NULL;
	if (c == NULL || c->closing)
		return NULL;
	mns_reply_t *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->slot = slot_append(c, NULL);
	if (r->slot == NULL) {
		free(r);
		return NULL;
	}
	r->slot->owner = r;
	r->id = json_incref(id ? (json_t *)id : json_null());
	return r;
}

void mns_control_reply_finish(mns_reply_t *r, json_t *response)
{
	ctl_slot_t *slot = r->slot;
	if (slot == NULL) {
		json_decref(response);
		return;
	}
	r->slot = NULL;
	slot->owner = NULL;
	slot->response = response ? response : json_pack("{s:b}", "ok", 0);
	flush_slots(slot->client);
}

static void send_error(ctl_client_t *c, const char *code, const char *message)
{
	send_json(c, json_pack("{s:n, s:b, s:{s:s, s:s}}", "id", "ok", 0, "error", "code", code,
	                       "message", message));
}

void mns_control_broadcast(mns_server_t *s, const json_t *event)
{
	mns_control_t *ctl = s->control;
	for (ctl_client_t *c = ctl ? ctl->clients : NULL, *next; c; c = next) {
		next = c->next; /* send_json may close (and unlink) c. */
		if (c->subscribed)
			send_json(c, json_deep_copy(event));
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char rbuf[65536];
	(void)h;
	(void)suggested;
	/* One loop thread reads at a time; lines are copied out before the next read. */
	*buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static bool append(ctl_client_t *c, const char *data, size_t n)
{
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + n)
			cap *= 2;
		/* Not realloc(): the old block may hold part of a key being
		 * imported, and realloc() would leave it in the heap unwiped. */
		char *nb = malloc(cap);
		if (nb == NULL)
			return false;
		if (c->len > 0)
			memcpy(nb, c->buf, c->len);
		mns_wipe_free(c->buf);
		c->buf = nb;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, data, n);
	c->len += n;
	return true;
}

static void handle_line(ctl_client_t *c, const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	bool subscribe = false;
	mns_control_t *ctl = c->ctl;
	ctl->current = c;
	json_t *response = mns_control_handle_line(ctl->server, line, len, &subscribe);
	ctl->current = NULL;
	if (response) /* NULL: a plugin deferred it and holds its place in the queue. */
		reply(c, response);
	if (subscribe)
		c->subscribed = true;
}

static bool throttled(const ctl_client_t *c)
{
	return c->pipe.write_queue_size > MNS_CONTROL_HIGH_WATER ||
	       c->n_slots >= MNS_CONTROL_MAX_SLOTS;
}

/* Handles the request lines in [p, end). \return where it stopped: \a end,
 * or the first octet left for later because the replies are piling up. */
static const char *feed(ctl_client_t *c, const char *p, const char *end)
{
	c->feeding = true;
	unsigned lines = 0;
	uint64_t t0 = uv_hrtime();
	c->yielded = false;
	while (p < end && !c->closing) {
		if (throttled(c))
			break;
		if (lines >= MNS_CONTROL_LINES_PER_TURN &&
		    (lines >= MNS_CONTROL_MAX_SLOTS || uv_hrtime() - t0 > MNS_CONTROL_TURN_NS)) {
			c->yielded = true;
			break;
		}
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t chunk = (size_t)((nl ? nl : end) - p);
		if (c->discarding) {
			if (nl)
				c->discarding = false;
		} else if (c->len + chunk > MNS_CONTROL_MAX_LINE) {
			char msg[128];
			snprintf(msg, sizeof(msg), "request line longer than %d octets",
			         MNS_CONTROL_MAX_LINE);
			reply(c, json_pack("{s:n, s:b, s:{s:s, s:s}}", "id", "ok", 0, "error",
			                   "code", "line_too_long", "message", msg));
			c->len = 0;
			c->discarding = nl == NULL;
		} else if (nl && c->len == 0) {
			handle_line(c, p, chunk);
			lines++;
		} else if (!append(c, p, chunk)) {
			send_error(c, "no_memory", "out of memory");
			client_close(c);
			break;
		} else if (nl) {
			handle_line(c, c->buf, c->len);
			explicit_bzero(c->buf, c->len);
			c->len = 0;
			lines++;
		}
		p += chunk + (nl ? 1 : 0);
	}
	c->feeding = false;
	/* Give back memory a large request took. */
	if (c->len == 0 && c->cap > 65536) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
	return c->closing ? end : p;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void next_turn(uv_timer_t *t);

/* A client stopped after its share: continue on the next turn of the loop. */
static void schedule_turn(ctl_client_t *c)
{
	if (c->yielded && !uv_is_active((uv_handle_t *)&c->ctl->next_turn))
		uv_timer_start(&c->ctl->next_turn, next_turn, mns_timer_after(0), 0);
}

/* Handles what was held back once the replies have drained (or on the next
 * turn), then reads again. */
static void maybe_resume(ctl_client_t *c)
{
	if (!c->paused || c->feeding || c->closing || throttled(c))
		return;
	if (c->ctl->hold) {
		c->yielded = true;
		schedule_turn(c);
		return;
	}
	const char *end = c->held + c->held_len;
	const char *rest = feed(c, c->held + c->held_off, end);
	if (c->closing)
		return;
	if (rest < end) {
		c->held_off = (size_t)(rest - c->held);
		schedule_turn(c);
		return;
	}
	mns_wipe_free(c->held);
	c->held = NULL;
	c->held_off = c->held_len = 0;
	c->paused = false;
	if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0)
		client_close(c);
}

static void read_lines(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* Requests may carry private keys (tenant.add with dkim.import): the shared
 * read buffer is wiped once a read is handled (what is kept was copied out),
 * and so is a line assembled from several reads. */
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	read_lines(stream, nread, buf);
	if (nread > 0)
		explicit_bzero(buf->base, (size_t)nread);
}

static void read_lines(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	ctl_client_t *c = stream->data;
	if (nread < 0) {
		client_close(c);
		return;
	}
	const char *end = buf->base + nread;
	const char *rest = feed(c, buf->base, end);
	if (rest == end || c->closing)
		return;
	/* The client does not read its replies, or had its share of this turn:
	 * keep the rest of this read (the shared buffer is reused) and stop
	 * reading until they drain or the next turn. */
	c->held_len = (size_t)(end - rest);
	c->held_off = 0;
	c->held = malloc(c->held_len);
	if (c->held == NULL) {
		client_close(c);
		return;
	}
	memcpy(c->held, rest, c->held_len);
	c->paused = true;
	uv_read_stop(stream);
	schedule_turn(c);
}

static void next_turn(uv_timer_t *t)
{
	mns_control_t *ctl = t->data;
	for (ctl_client_t *c = ctl->clients, *next; c; c = next) {
		next = c->next; /* maybe_resume may close (and unlink) c. */
		if (c->yielded)
			maybe_resume(c);
	}
}

static void group_check(uv_check_t *h)
{
	mns_control_t *ctl = h->data;
	mns_tenant_group_flush(ctl->server);
	uv_idle_stop(&ctl->group_due);
}

static void group_due_cb(uv_idle_t *h)
{
	(void)h; /* Only keeps poll from blocking: the check handle commits. */
}

void mns_control_group_opened(mns_server_t *s)
{
	mns_control_t *ctl = s->control;
	if (ctl != NULL && !uv_is_active((uv_handle_t *)&ctl->group_due))
		uv_idle_start(&ctl->group_due, group_due_cb);
}

void mns_control_hold(mns_server_t *s, bool hold)
{
	if (s->control != NULL)
		((mns_control_t *)s->control)->hold = hold;
}

static void on_connection(uv_stream_t *listener, int status)
{
	mns_control_t *ctl = listener->data;
	if (status < 0)
		return;
	ctl_client_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	uv_pipe_init(listener->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->ctl = ctl;
	if (uv_accept(listener, (uv_stream_t *)&c->pipe) != 0) {
		uv_close((uv_handle_t *)&c->pipe, client_closed);
		return;
	}
	uv_os_fd_t fd;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
		c->peer = (mns_control_peer_t){ true, (unsigned)cred.uid, (int)cred.pid };
	c->next = ctl->clients;
	if (ctl->clients)
		ctl->clients->prev = c;
	ctl->clients = c;
	ctl->n_clients++;
	if (ctl->n_clients > MNS_CONTROL_MAX_CLIENTS) {
		send_error(c, "too_many_connections", "too many control connections, try again later");
		client_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

void mns_control_current_peer(const mns_server_t *s, mns_control_peer_t *out)
{
	const mns_control_t *ctl = s->control;
	*out = ctl && ctl->current ? ctl->current->peer : (mns_control_peer_t){ 0 };
}

static void listener_closed(uv_handle_t *h)
{
	mns_control_t *ctl = h->data;
	if (--ctl->open_handles == 0)
		free(ctl);
}

int mns_control_start(mns_server_t *s)
{
	const char *path = s->conf->control;
	mns_control_t *ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL)
		return MNS_ENOMEM;
	ctl->server = s;
	/* A socket left by a killed daemon is stale; anything else is not ours. */
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			mns_log(MNS_LOG_ERR, "control, %s exists and is not a socket", path);
			free(ctl);
			return MNS_EEXIST;
		}
		unlink(path);
	}
	uv_pipe_init(s->loop, &ctl->listener, 0);
	uv_timer_init(s->loop, &ctl->next_turn);
	uv_check_init(s->loop, &ctl->group);
	uv_idle_init(s->loop, &ctl->group_due);
	ctl->listener.data = ctl->next_turn.data = ctl->group.data = ctl->group_due.data = ctl;
	ctl->open_handles = 4;
	uv_check_start(&ctl->group, group_check);
	uv_unref((uv_handle_t *)&ctl->group);
	/* Create it private, then open it up to the configured mode. */
	mode_t old = umask(0177);
	int rc = uv_pipe_bind(&ctl->listener, path);
	umask(old);
	if (rc == 0)
		rc = chmod(path, s->conf->control_mode) == 0 ? 0 : -errno;
	/* Owner: the user mailnsd drops to; group: control-group, if set. */
	if (rc == 0 && s->priv.drop)
		rc = mns_priv_chown(&s->priv, path, s->priv.ctl_group ? s->priv.ctl_gid : (gid_t)-1) ==
		             MNS_OK ? 0 : -EPERM;
	else if (rc == 0 && s->priv.ctl_group)
		rc = chown(path, (uid_t)-1, s->priv.ctl_gid) == 0 ? 0 : -errno;
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&ctl->listener, 64, on_connection);
	if (rc != 0) {
		mns_log(MNS_LOG_ERR, "control, cannot listen on %s (%s)", path, strerror(-rc));
		uv_close((uv_handle_t *)&ctl->listener, listener_closed);
		uv_close((uv_handle_t *)&ctl->next_turn, listener_closed);
		uv_close((uv_handle_t *)&ctl->group, listener_closed);
		uv_close((uv_handle_t *)&ctl->group_due, listener_closed);
		return MNS_ERROR;
	}
	s->control = ctl;
	mns_log(MNS_LOG_INFO, "control, listening on %s", path);
	return MNS_OK;
}


void mns_control_stop(mns_server_t *s)
{
	mns_control_t *ctl = s->control;
	if (ctl == NULL)
		return;
	/* Mutations already merged are committed (their clients may not hear). */
	mns_tenant_group_flush(s);
	while (ctl->clients)
		client_close(ctl->clients);
	unlink(s->conf->control);
	uv_close((uv_handle_t *)&ctl->listener, listener_closed);
	uv_close((uv_handle_t *)&ctl->next_turn, listener_closed);
	uv_close((uv_handle_t *)&ctl->group, listener_closed);
	uv_close((uv_handle_t *)&ctl->group_due, listener_closed);
	s->control = NULL;
}
