/*  mailnsd: the authoritative DNS daemon of mailns.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.h"
#include "notify.h"
#include "plugin/plugin_internal.h"
#include "server_lifecycle.h"
#include "stats/stats.h"
#include "util/paths.h"
#include "util/secmem.h"
#include "xfr/xfr.h"
#include "util/util.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: mailnsd [options]\n"
	        "\n"
	        "Authoritative DNS server that publishes each tenant's DKIM, SPF, bounce MX\n"
	        "and DMARC records. Without -c it reads " MNS_CONFIG_FILE "\n"
	        "when that exists (an installed mailnsd), else it runs on embedded defaults:\n"
	        "DNS on 127.0.0.1@5300, data and control socket under ./mailns-data.\n"
	        "\n"
	        "Options:\n"
	        "  -c, --config FILE      read the configuration from FILE\n"
	        "  -l, --listen ADDR@PORT answer DNS on ADDR@PORT, UDP and TCP (repeatable;\n"
	        "                         replaces the configured listen addresses)\n"
	        "  -s, --control PATH     control socket path\n"
	        "  -d, --data DIR         data directory (tenant store)\n"
	        "  -p, --plugins DIR      directory to load plugins from\n"
	        "  -z, --zones DIR        directory of static <zone>.zone files\n"
	        "  -f, --foreground       stay in the foreground, logging to stderr\n"
	        "      --log-level LEVEL  error, warning, notice, info or debug\n"
	        "      --print-config     print every configuration key of every section (with\n"
	        "                         the loaded plugins' sections), its help text and its\n"
	        "                         default, as a valid config file, and exit\n"
	        "  -V, --version          print the version and exit\n"
	        "  -h, --help             print this help and exit\n"
	        "\n"
	        "Signals: SIGTERM and SIGINT stop, SIGHUP re-reads the configuration.\n"
	        "Exit codes: 0 stopped cleanly, 1 configuration or start-up error, 2 usage error.\n");
}

typedef struct daemon_state {
	mns_server_t server;
	uv_signal_t sig_term, sig_int, sig_hup;
	int ready_fd; /* Write end of the pipe the parent waits on (background mode). */
} daemon_state_t;

static void on_stop(uv_signal_t *h, int signum)
{
	daemon_state_t *d = h->data;
	mns_log(MNS_LOG_NOTICE, "signal %s, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
	mns_notify_stopping();
	mns_server_stop_io(&d->server);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
}

static void on_hup(uv_signal_t *h, int signum)
{
	daemon_state_t *d = h->data;
	mns_log(MNS_LOG_DEBUG, "signal SIGHUP, reloading the configuration");
	mns_notify_reloading();
	mns_notify_reloaded(&d->server, mns_server_reload(&d->server) == MNS_OK);
}

/* Background mode: the parent exits once the child is serving (or failed), so
 * scripts see start-up errors in the exit code. */
static int daemonize(void)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(fds[1]);
		char c;
		ssize_t n = read(fds[0], &c, 1);
		_exit(n == 1 ? 0 : 1);
	}
	close(fds[0]);
	setsid();
	if (fork() > 0)
		_exit(0);
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	return fds[1];
}

/* --print-config: a reference config from the parser's own schema tables; the
 * plugins named by the config (or the defaults) are loaded for their schemas. */
static int print_config(mns_server_t *s)
{
	mns_conf_t *conf = NULL;
	char errbuf[1024] = "", dir[4096];
	if (mns_conf_load(s->conf_path, &s->ov, &conf, errbuf, sizeof(errbuf)) != MNS_OK) {
		fprintf(stderr, "mailnsd: %s\n", errbuf);
		return 1;
	}
	if (conf->plugin_dir[0])
		snprintf(dir, sizeof(dir), "%s", conf->plugin_dir);
	else
		mns_paths_default_plugin_dir(dir, sizeof(dir));
	printf("# mailns.conf: every key with its default (mailnsd %s --print-config).\n"
	       "# Lines starting with '#' are comments; a list key may repeat.\n\n", MNS_VERSION);
	mns_conf_print_section(stdout, "server", mns_conf_server_schema);
	mns_conf_print_section(stdout, "vendor", mns_conf_vendor_schema);
	mns_conf_print_section(stdout, "xfr", mns_xfr_schema);
	int rc = 0;
	for (size_t i = 0; i < conf->n_plugins; i++) {
		mns_error_t err = { 0 };
		mns_plugin_t *p = mns_plugin_load(dir, conf->plugins[i], &err);
		if (p == NULL) {
			fprintf(stderr, "mailnsd: %s\n", err.message);
			rc = 1;
			break;
		}
		char sec[96];
		snprintf(sec, sizeof(sec), "plugin.%s", conf->plugins[i]);
		mns_conf_print_section(stdout, sec, mns_plugin_api(p)->schema);
		mns_plugin_destroy(p);
	}
	mns_conf_free(conf);
	return rc;
}

static int parse_args(int argc, char **argv, mns_server_t *s, bool *foreground)
{
	enum { OPT_LOG_LEVEL = 256, OPT_PRINT_CONFIG };
	bool print = false;
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 's' },
		{ "data", required_argument, NULL, 'd' },
		{ "plugins", required_argument, NULL, 'p' },
		{ "zones", required_argument, NULL, 'z' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "print-config", no_argument, NULL, OPT_PRINT_CONFIG },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:l:s:d:p:z:fVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': s->conf_path = optarg; break;
		case 'l': {
			mns_listen_t *nl = realloc(s->ov.listen, (s->ov.n_listen + 1) * sizeof(*nl));
			if (nl == NULL)
				return 1;
			s->ov.listen = nl;
			if (mns_listen_parse(optarg, &nl[s->ov.n_listen]) != MNS_OK) {
				fprintf(stderr, "mailnsd: --listen %s: expected ADDRESS@PORT, e.g. 127.0.0.1@5300\n",
				        optarg);
				return 2;
			}
			s->ov.n_listen++;
			break;
		}
		case 's': s->ov.control = optarg; break;
		case 'd': s->ov.data_dir = optarg; break;
		case 'p': s->ov.plugin_dir = optarg; break;
		case 'z': s->ov.zones_dir = optarg; break;
		case 'f': *foreground = true; break;
		case OPT_LOG_LEVEL: s->ov.log_level = optarg; break;
		case OPT_PRINT_CONFIG: print = true; break;
		case 'V': printf("mailnsd %s\n", MNS_VERSION); return -1;
		case 'h': usage(stdout); return -1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mailnsd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (print) {
		int rc = print_config(s);
		return rc == 0 ? -1 : rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static daemon_state_t d;
	bool foreground = false;
	int rc = parse_args(argc, argv, &d.server, &foreground);
	if (rc != 0) {
		free(d.server.ov.listen);
		return rc < 0 ? 0 : rc;
	}
	if (d.server.conf_path == NULL) /* The installed config, if any. */
		d.server.conf_path = (char *)mns_paths_default_config();
	signal(SIGPIPE, SIG_IGN);
	mns_log_init();
	mns_json_secure_init();
	umask(0077);

	d.ready_fd = -1;
	if (!foreground) {
		d.ready_fd = daemonize();
		if (d.ready_fd < 0) {
			fprintf(stderr, "mailnsd: cannot go to the background: %s\n", strerror(errno));
			return 1;
		}
	}

	/* After the fork: the secure heap's pages are mlock'ed, and locks do
	 * not pass to a child. Before any thread. */
	mns_secret_init(MNS_SECRET_HEAP_SIZE);
	mns_rcu_register();
	uv_loop_t loop;
	uv_loop_init(&loop);
	char errbuf[1024] = "";
	int exit_code = 0;
	rc = mns_server_init(&d.server, &loop, errbuf, sizeof(errbuf));
	if (rc != MNS_OK) {
		fprintf(stderr, "mailnsd: %s\n", errbuf[0] ? errbuf : "start-up failed");
		mns_notify_failed(errbuf[0] ? errbuf : "see the log");
		exit_code = 1;
	} else if (mns_server_start_io(&d.server) != MNS_OK) {
		fprintf(stderr, "mailnsd: cannot listen (see the log above)\n");
		mns_notify_failed("cannot listen (see the log)");
		exit_code = 1;
	} else if (mns_priv_drop(&d.server.priv, d.server.conf->data_dir, errbuf,
	                         sizeof(errbuf)) != MNS_OK) {
		/* Ports, socket and store are open: from here on, no root. */
		fprintf(stderr, "mailnsd: %s\n", errbuf);
		mns_notify_failed(errbuf);
		exit_code = 1;
	}
	if (exit_code == 0) {
		uv_signal_init(&loop, &d.sig_term);
		uv_signal_init(&loop, &d.sig_int);
		uv_signal_init(&loop, &d.sig_hup);
		d.sig_term.data = d.sig_int.data = d.sig_hup.data = &d;
		uv_signal_start(&d.sig_term, on_stop, SIGTERM);
		uv_signal_start(&d.sig_int, on_stop, SIGINT);
		uv_signal_start(&d.sig_hup, on_hup, SIGHUP);
		mns_log(MNS_LOG_NOTICE, "mailnsd %s started, config=%s", MNS_VERSION,
		        d.server.conf_path ? d.server.conf_path : "(embedded defaults)");
		if (d.ready_fd >= 0) {
			(void)!write(d.ready_fd, "1", 1);
			close(d.ready_fd);
			int null = open("/dev/null", O_RDWR);
			if (null >= 0) {
				dup2(null, STDERR_FILENO);
				close(null);
			}
			/* No terminal any more: the log goes to syslog. */
			mns_log_use_syslog("mailnsd");
		}
		/* Keep this the last step of start-up (after any privilege drop). */
		mns_notify_ready(&d.server);
	} else {
		mns_server_stop_io(&d.server);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	mns_server_deinit(&d.server);
	uv_run(&loop, UV_RUN_DEFAULT); /* Close callbacks of plugin timers. */
	if (uv_loop_close(&loop) != 0)
		mns_log(MNS_LOG_WARNING, "loop closed with handles still open");
	free(d.server.ov.listen);
	mns_secret_done();
	mns_rcu_unregister();
	if (exit_code == 0)
		mns_log(MNS_LOG_NOTICE, "mailnsd stopped");
	mns_stats_reset();
	mns_log_close();
	return exit_code;
}
