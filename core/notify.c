/*  sd_notify(3) messages for systemd's Type=notify.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "notify.h"
#include "zone/index.h"

/* "127.0.0.1@53 ::1@53", cut short (with "...") when it does not fit. */
static void listen_text(const mns_server_t *s, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; s->conf && i < s->conf->n_listen; i++) {
		const mns_listen_t *l = &s->conf->listen[i];
		int n = snprintf(out + used, len - used, "%s%s@%u", i ? " " : "", l->addr, l->port);
		if (n < 0 || (size_t)n >= len - used) {
			snprintf(out + (len > 4 ? len - 4 : 0), len > 4 ? 4 : len, "...");
			return;
		}
		used += (size_t)n;
	}
}

static void send_state(const mns_server_t *s, const char *state, const char *what)
{
	char listen[256];
	listen_text(s, listen, sizeof(listen));
	sd_notifyf(0, "%sSTATUS=%s: %zu zones, DNS on %s, control socket %s", state, what,
	           mns_index_count(s->index), listen, s->conf ? s->conf->control : "-");
}

void mns_notify_ready(const mns_server_t *s)
{
	send_state(s, "READY=1\n", "Serving");
}

void mns_notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=Reloading the configuration", usec);
}

void mns_notify_reloaded(const mns_server_t *s, bool applied)
{
	send_state(s, "READY=1\n",
	           applied ? "Serving, configuration reloaded"
	                   : "Serving, reload rejected (old configuration kept, see the log)");
}

void mns_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
}

void mns_notify_failed(const char *why)
{
	sd_notifyf(0, "STATUS=Start-up failed: %s", why);
}
