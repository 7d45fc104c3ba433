/*  mnsload — a DNS-over-UDP load generator for tools/bench.
 *
 *  Reads the query file dnsperf reads (one "name TYPE" per line), encodes
 *  every query once, then drives the server from ONE thread: queries go out
 *  with sendmmsg() and answers come back with recvmmsg(), in batches, with a
 *  bounded window of outstanding queries. Every query's DNS ID is a slot
 *  that holds its send time; an answer frees the slot (its latency is the
 *  difference), a query unanswered after the timeout is counted lost and
 *  frees it too. Free IDs are reused first in, first out, so an ID comes
 *  back as late as possible.
 *
 *  Why not dnsperf: on one core dnsperf spends more CPU per query than a
 *  single-worker server spends answering it, so "server A as fast as server
 *  B" can mean "the client was the limit". Here a query costs a copy-free
 *  iovec pair (the 2-octet ID, then the pre-encoded rest) and a share of one
 *  system call per batch in each direction.
 *
 *  Modes: saturate (default: keep the window full) and fixed rate (-Q:
 *  paced sends, for latency percentiles below saturation). Bounded: it
 *  stops sending after -l seconds or -n queries, whichever comes first,
 *  waits at most the timeout for the last answers, and exits.
 *
 *  With -P PID it samples the server's CPU time (utime + stime of the
 *  process, all its threads, from /proc/PID/stat) at the start and the end
 *  of the sending window, so the server's CPU-seconds and utilisation cover
 *  exactly the measured window.
 *
 *  Output: "key: value" lines on stdout (tools/bench parses them).
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKS 64
#define MAX_BATCH 256
#define MAX_WINDOW 60000 /* below 65536 IDs so freed IDs rest before reuse */
#define RX_BUF 4096
#define NONE UINT32_MAX

struct query {
	uint32_t off; /* into the wire buffer; the first 2 octets are the ID */
	uint16_t len;
	uint16_t qlen; /* question section length (from octet 12) */
};

struct slot {
	uint64_t sent_ns;
	uint32_t query;
	uint32_t prev, next; /* outstanding list, in send order */
	bool busy;
};

static struct {
	const char *server, *file;
	int port, socks, window, batch, edns;
	double seconds, rate, timeout;
	uint64_t max_queries;
	long server_pid;
	bool spin;
	const char *lat_file;
} opt = { "127.0.0.1", NULL, 53, 1, 100, 32, 0, 10.0, 0.0, 2.0, 50000000, 0, false, NULL };

static uint8_t *wire;
static size_t wire_len, wire_cap;
static struct query *queries;
static size_t nqueries, queries_cap;

static struct slot slots[65536];
static uint8_t id_be[65536][2];
static uint16_t free_ring[65536];
static uint32_t free_head, free_count;
static uint32_t out_head = NONE, out_tail = NONE, outstanding;

static uint32_t *lat_ns; /* per answer, capped at max_queries */
static uint64_t lat_count, lat_cap;

static struct {
	uint64_t sent, answered, answered_in_window, lost, unexpected, bad_qr,
		bad_question, malformed, send_errors, rcode[16];
} st;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "mnsload: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: mnsload -d FILE [-s ADDR] [-p PORT] [-l SECONDS] [-n MAXQUERIES]\n"
		"               [-Q RATE] [-q WINDOW] [-b BATCH] [-c SOCKETS] [-t TIMEOUT]\n"
		"               [-e BUFSIZE] [-P SERVERPID] [-o LATFILE] [-y]\n"
		"  -d FILE     query file, one \"name TYPE\" per line (dnsperf's format)\n"
		"  -s ADDR     server IPv4 address (127.0.0.1)\n"
		"  -p PORT     server port (53)\n"
		"  -l SECONDS  how long to send (10, at most 3600)\n"
		"  -n MAX      stop sending after this many queries (50000000)\n"
		"  -Q RATE     fixed rate in queries/s (default: saturate, keep the window full)\n"
		"  -q WINDOW   outstanding queries at most (100, at most %d)\n"
		"  -b BATCH    queries per sendmmsg/recvmmsg (32, at most %d)\n"
		"  -c SOCKETS  UDP sockets (source ports) used in turn (1): servers with\n"
		"              SO_REUSEPORT workers spread load by source port\n"
		"  -t TIMEOUT  seconds before an unanswered query is lost (2)\n"
		"  -e BUFSIZE  add EDNS0 with this UDP payload size (default: no EDNS, like dnsperf)\n"
		"  -P PID      report the CPU time of this process over the sending window\n"
		"  -o FILE     write every latency (ns, native uint32, sorted) to FILE\n"
		"  -y          never sleep while sending (busy-poll the sockets): no wake-up\n"
		"              latency on the client side; its CPU use is then always 100 %%\n",
		MAX_WINDOW, MAX_BATCH);
	exit(2);
}

/* --- the query file ------------------------------------------------------------ */

static const struct {
	const char *name;
	uint16_t code;
} types[] = {
	{ "A", 1 }, { "NS", 2 }, { "CNAME", 5 }, { "SOA", 6 }, { "PTR", 12 },
	{ "MX", 15 }, { "TXT", 16 }, { "AAAA", 28 }, { "SRV", 33 }, { "NAPTR", 35 },
	{ "DS", 43 }, { "RRSIG", 46 }, { "DNSKEY", 48 }, { "TLSA", 52 },
	{ "SVCB", 64 }, { "HTTPS", 65 }, { "AXFR", 252 }, { "ANY", 255 },
	{ "CAA", 257 },
};

static int type_code(const char *s)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(s, types[i].name) == 0)
			return types[i].code;
	if (strncasecmp(s, "TYPE", 4) == 0 && isdigit((unsigned char)s[4])) {
		char *end;
		long v = strtol(s + 4, &end, 10);
		if (*end == '\0' && v > 0 && v < 65536)
			return (int)v;
	}
	return -1;
}

static void wire_reserve(size_t more)
{
	if (wire_len + more <= wire_cap)
		return;
	wire_cap = wire_cap ? wire_cap * 2 : 1 << 20;
	while (wire_len + more > wire_cap)
		wire_cap *= 2;
	wire = realloc(wire, wire_cap);
	if (!wire)
		die("out of memory (%s)", "query file");
}

/* Encodes one query (ID 0, RD set as dnsperf does) at the end of wire;
 * returns false for a name it cannot encode (escapes, long labels). */
static bool encode(const char *name, int qtype)
{
	wire_reserve(12 + 256 + 4 + 11);
	uint8_t *q = wire + wire_len, *p = q + 12;
	static const uint8_t hdr[12] = { 0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
	memcpy(q, hdr, 12);
	if (opt.edns)
		q[11] = 1; /* ARCOUNT */
	size_t nlen = strlen(name);
	if (nlen > 0 && name[nlen - 1] == '.')
		nlen--;
	size_t i = 0;
	while (i < nlen) {
		size_t j = i;
		while (j < nlen && name[j] != '.')
			j++;
		size_t l = j - i;
		if (l == 0 || l > 63 || memchr(name + i, '\\', l))
			return false;
		*p++ = (uint8_t)l;
		memcpy(p, name + i, l);
		p += l;
		if ((size_t)(p - (q + 12)) > 254)
			return false;
		i = j + 1;
	}
	*p++ = 0;
	*p++ = (uint8_t)(qtype >> 8);
	*p++ = (uint8_t)qtype;
	*p++ = 0;
	*p++ = 1; /* IN */
	size_t qlen = (size_t)(p - (q + 12));
	if (opt.edns) {
		const uint8_t rr[11] = { 0, 0, 41, (uint8_t)(opt.edns >> 8), (uint8_t)opt.edns,
					 0, 0, 0, 0, 0, 0 };
		memcpy(p, rr, sizeof(rr));
		p += sizeof(rr);
	}
	if (nqueries == queries_cap) {
		queries_cap = queries_cap ? queries_cap * 2 : 65536;
		queries = realloc(queries, queries_cap * sizeof(*queries));
		if (!queries)
			die("out of memory (%s)", "query file");
	}
	queries[nqueries++] = (struct query){ (uint32_t)wire_len, (uint16_t)(p - q),
					      (uint16_t)qlen };
	wire_len += (size_t)(p - q);
	return true;
}

static void read_queries(void)
{
	FILE *f = fopen(opt.file, "r");
	if (!f)
		die("cannot open the query file %s: %s", opt.file, strerror(errno));
	char line[1024];
	unsigned long lineno = 0, skipped = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char name[512], type[64];
		if (line[0] == '#' || line[0] == ';' || line[0] == '\n')
			continue;
		int qt = -1;
		if (sscanf(line, "%511s %63s", name, type) != 2 || (qt = type_code(type)) < 0 ||
		    !encode(name, qt)) {
			if (++skipped <= 3)
				fprintf(stderr, "mnsload: %s:%lu: cannot use this line, skipped\n",
					opt.file, lineno);
			continue;
		}
		if (wire_len > UINT32_MAX - 4096)
			die("query file %s too large", opt.file);
	}
	fclose(f);
	if (nqueries == 0)
		die("no usable query in %s", opt.file);
	printf("queries_file: %s\nqueries_loaded: %zu\nqueries_skipped: %lu\n", opt.file,
	       nqueries, skipped);
}

/* --- IDs, slots and the outstanding list ------------------------------------------- */

static void slots_init(void)
{
	for (uint32_t i = 0; i < 65536; i++) {
		free_ring[i] = (uint16_t)i;
		id_be[i][0] = (uint8_t)(i >> 8);
		id_be[i][1] = (uint8_t)i;
	}
	free_head = 0;
	free_count = 65536;
}

static void out_append(uint32_t id)
{
	slots[id].prev = out_tail;
	slots[id].next = NONE;
	if (out_tail != NONE)
		slots[out_tail].next = id;
	else
		out_head = id;
	out_tail = id;
	outstanding++;
}

static void release(uint32_t id)
{
	struct slot *s = &slots[id];
	if (s->prev != NONE)
		slots[s->prev].next = s->next;
	else
		out_head = s->next;
	if (s->next != NONE)
		slots[s->next].prev = s->prev;
	else
		out_tail = s->prev;
	s->busy = false;
	outstanding--;
	free_ring[(free_head + free_count) & 0xFFFF] = (uint16_t)id;
	free_count++;
}

/* Names the first few lost queries on stderr: a server that never answers
 * one kind of query shows here, not only in the count. */
static void report_lost(uint32_t id, uint64_t sent_ns, uint64_t t0)
{
	const struct query *q = &queries[slots[id].query];
	const uint8_t *p = wire + q->off + 12, *end = p + q->qlen - 4;
	char name[300];
	size_t n = 0;
	while (p < end && *p && n + *p + 2 < sizeof(name)) {
		memcpy(name + n, p + 1, *p);
		n += *p;
		name[n++] = '.';
		p += *p + 1;
	}
	name[n] = '\0';
	fprintf(stderr, "mnsload: lost: %s type %u (query %u of the file, sent at %.3f s)\n", name,
		((unsigned)end[0] << 8) | end[1], slots[id].query + 1, (double)(sent_ns - t0) / 1e9);
}

static uint64_t t_start;

static void expire(uint64_t now, uint64_t timeout_ns)
{
	while (out_head != NONE && now - slots[out_head].sent_ns >= timeout_ns) {
		if (++st.lost <= 5)
			report_lost(out_head, slots[out_head].sent_ns, t_start);
		release(out_head);
	}
}

static void record_latency(uint64_t ns)
{
	if (lat_count == lat_cap) {
		if (lat_cap >= opt.max_queries)
			return;
		uint64_t n = lat_cap ? lat_cap * 2 : 1 << 20;
		if (n > opt.max_queries)
			n = opt.max_queries;
		uint32_t *p = realloc(lat_ns, n * sizeof(*p));
		if (!p)
			return; /* the counts stay right; fewer latencies */
		lat_ns = p;
		lat_cap = n;
	}
	lat_ns[lat_count++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* --- sending and receiving ------------------------------------------------------- */

static int socks[MAX_SOCKS];
static struct mmsghdr tx[MAX_BATCH], rx[MAX_BATCH];
static struct iovec tx_iov[MAX_BATCH][2], rx_iov[MAX_BATCH];
static uint8_t rx_buf[MAX_BATCH][RX_BUF];
static uint64_t next_query;

/* Sends up to n queries on socket sock; returns how many went out. */
static int send_batch(int sock, int n)
{
	uint32_t ids[MAX_BATCH];
	for (int i = 0; i < n; i++) {
		uint32_t id = free_ring[(free_head + (uint32_t)i) & 0xFFFF];
		const struct query *q = &queries[(next_query + (uint64_t)i) % nqueries];
		ids[i] = id;
		tx_iov[i][0] = (struct iovec){ id_be[id], 2 };
		tx_iov[i][1] = (struct iovec){ wire + q->off + 2, (size_t)q->len - 2 };
		memset(&tx[i].msg_hdr, 0, sizeof(tx[i].msg_hdr));
		tx[i].msg_hdr.msg_iov = tx_iov[i];
		tx[i].msg_hdr.msg_iovlen = 2;
	}
	uint64_t t = now_ns();
	int r = sendmmsg(sock, tx, (unsigned)n, MSG_DONTWAIT);
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			st.send_errors++;
		return 0;
	}
	for (int i = 0; i < r; i++) {
		uint32_t id = ids[i];
		slots[id].busy = true;
		slots[id].sent_ns = t;
		slots[id].query = (uint32_t)((next_query + (uint64_t)i) % nqueries);
		out_append(id);
	}
	free_head = (free_head + (uint32_t)r) & 0xFFFF;
	free_count -= (uint32_t)r;
	next_query += (uint64_t)r;
	st.sent += (uint64_t)r;
	return r;
}

static void on_answer(const uint8_t *p, size_t len, uint64_t t, bool in_window)
{
	if (len < 12) {
		st.malformed++;
		return;
	}
	uint32_t id = ((uint32_t)p[0] << 8) | p[1];
	struct slot *s = &slots[id];
	if (!s->busy) {
		st.unexpected++; /* after its timeout, or never asked */
		return;
	}
	const struct query *q = &queries[s->query];
	/* The question must be the one asked: a late answer cannot be taken for
	 * the answer to a later query that reuses its ID. */
	if (p[4] != 0 || p[5] != 1 || len < 12u + q->qlen ||
	    memcmp(p + 12, wire + q->off + 12, q->qlen) != 0) {
		st.bad_question++;
		return;
	}
	if (!(p[2] & 0x80))
		st.bad_qr++;
	st.rcode[p[3] & 0x0F]++;
	st.answered++;
	if (in_window)
		st.answered_in_window++;
	record_latency(t - s->sent_ns);
	release(id);
}

/* Drains what the sockets hold; returns the number of datagrams read. */
static int receive_all(bool in_window)
{
	int total = 0;
	for (int k = 0; k < opt.socks; k++) {
		for (int round = 0; round < 64; round++) {
			for (int i = 0; i < opt.batch; i++) {
				memset(&rx[i].msg_hdr, 0, sizeof(rx[i].msg_hdr));
				rx_iov[i] = (struct iovec){ rx_buf[i], RX_BUF };
				rx[i].msg_hdr.msg_iov = &rx_iov[i];
				rx[i].msg_hdr.msg_iovlen = 1;
			}
			int r = recvmmsg(socks[k], rx, (unsigned)opt.batch, MSG_DONTWAIT, NULL);
			if (r <= 0)
				break;
			uint64_t t = now_ns();
			for (int i = 0; i < r; i++)
				on_answer(rx_buf[i], rx[i].msg_len, t, in_window);
			total += r;
			if (r < opt.batch)
				break;
		}
	}
	return total;
}

/* utime + stime of a process (all its threads) in clock ticks, or -1. */
static long long proc_cpu_ticks(long pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces: count from its ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ut, stt;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		   &stt) != 2)
		return -1;
	return (long long)(ut + stt);
}

static double cpu_seconds(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
	       (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static double pct_ms(double p)
{
	if (lat_count == 0)
		return 0;
	double k = p / 100.0 * (double)lat_count;
	uint64_t i = (uint64_t)k;
	if ((double)i < k)
		i++;
	if (i > 0)
		i--;
	if (i >= lat_count)
		i = lat_count - 1;
	return lat_ns[i] / 1e6;
}

static double number(const char *s, const char *what)
{
	char *end;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || v < 0)
		die("bad %s", what);
	return v;
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "d:s:p:l:n:Q:q:b:c:t:e:P:o:yh")) != -1) {
		switch (c) {
		case 'd': opt.file = optarg; break;
		case 's': opt.server = optarg; break;
		case 'p': opt.port = (int)number(optarg, "-p"); break;
		case 'l': opt.seconds = number(optarg, "-l"); break;
		case 'n': opt.max_queries = (uint64_t)number(optarg, "-n"); break;
		case 'Q': opt.rate = number(optarg, "-Q"); break;
		case 'q': opt.window = (int)number(optarg, "-q"); break;
		case 'b': opt.batch = (int)number(optarg, "-b"); break;
		case 'c': opt.socks = (int)number(optarg, "-c"); break;
		case 't': opt.timeout = number(optarg, "-t"); break;
		case 'e': opt.edns = (int)number(optarg, "-e"); break;
		case 'P': opt.server_pid = (long)number(optarg, "-P"); break;
		case 'y': opt.spin = true; break;
		case 'o': opt.lat_file = optarg; break;
		default: usage();
		}
	}
	if (!opt.file || optind != argc)
		usage();
	if (opt.port < 1 || opt.port > 65535 || opt.seconds <= 0 || opt.seconds > 3600 ||
	    opt.window < 1 || opt.window > MAX_WINDOW || opt.batch < 1 ||
	    opt.batch > MAX_BATCH || opt.socks < 1 || opt.socks > MAX_SOCKS ||
	    opt.timeout <= 0 || opt.timeout > 30 || opt.max_queries < 1 ||
	    (opt.edns && (opt.edns < 512 || opt.edns > 65535)))
		usage();
	if (opt.batch > opt.window)
		opt.batch = opt.window;

	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
	if (inet_pton(AF_INET, opt.server, &sa.sin_addr) != 1)
		die("bad server address %s", opt.server);
	read_queries();
	slots_init();
	for (int k = 0; k < opt.socks; k++) {
		socks[k] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (socks[k] < 0)
			die("socket: %s", strerror(errno));
		/* A full window of answers must fit while the client is
		 * descheduled: net.core.rmem_max (208 KiB by default) is too
		 * small for 200 answers, so as root the limit is overridden. */
		int sz = 4 << 20;
		if (setsockopt(socks[k], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
			setsockopt(socks[k], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		if (setsockopt(socks[k], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
			setsockopt(socks[k], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		if (connect(socks[k], (struct sockaddr *)&sa, sizeof(sa)) != 0)
			die("connect: %s", strerror(errno));
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* Paced sends wake from ppoll(): the default 50 us timer slack would
	 * bunch them. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	const uint64_t timeout_ns = (uint64_t)(opt.timeout * 1e9);
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	long long srv0 = opt.server_pid ? proc_cpu_ticks(opt.server_pid) : -1, srv1 = -1;
	const uint64_t t0 = now_ns();
	t_start = t0;
	const uint64_t end = t0 + (uint64_t)(opt.seconds * 1e9);
	bool sending = true;
	uint64_t t_stop = end;
	int sock_rr = 0;
	struct pollfd pfd[MAX_SOCKS];
	for (int k = 0; k < opt.socks; k++)
		pfd[k] = (struct pollfd){ .fd = socks[k], .events = POLLIN };

	/* Bounded: sending stops at `end` (or after max_queries) and the drain
	 * after it stops once every query is answered or lost, which takes at
	 * most the timeout. */
	for (;;) {
		uint64_t now = now_ns();
		expire(now, timeout_ns);
		if (sending && (now >= end || st.sent >= opt.max_queries || interrupted)) {
			sending = false;
			t_stop = now < end ? now : end;
			if (opt.server_pid)
				srv1 = proc_cpu_ticks(opt.server_pid);
		}
		if (!sending && (outstanding == 0 || interrupted ||
				 now >= t_stop + timeout_ns + 100000000u))
			break;
		int did = 0;
		uint64_t wake = sending ? end : t_stop + timeout_ns;
		if (sending) {
			uint64_t room = (uint64_t)opt.window - outstanding;
			uint64_t left = opt.max_queries - st.sent;
			uint64_t n = room < left ? room : left;
			if (opt.rate > 0 && n > 0) {
				uint64_t due_total = (uint64_t)((double)(now - t0) * opt.rate / 1e9) + 1;
				uint64_t due = due_total > st.sent ? due_total - st.sent : 0;
				if (due < n)
					n = due;
				uint64_t next = t0 + (uint64_t)((double)(st.sent + n) * 1e9 / opt.rate);
				if (next < wake)
					wake = next;
			}
			if (n > (uint64_t)opt.batch)
				n = (uint64_t)opt.batch;
			if (n > 0) {
				did += send_batch(socks[sock_rr], (int)n);
				sock_rr = (sock_rr + 1) % opt.socks;
			}
		}
		did += receive_all(sending);
		if (did)
			continue;
		if (out_head != NONE && slots[out_head].sent_ns + timeout_ns < wake)
			wake = slots[out_head].sent_ns + timeout_ns;
		now = now_ns();
		uint64_t wait = wake > now ? wake - now : 0;
		if (sending && opt.rate <= 0 && outstanding < (uint32_t)opt.window &&
		    st.sent < opt.max_queries)
			wait = 0; /* saturating with room in the window: send at once */
		if ((wait == 0 || opt.spin) && sending)
			continue;
		struct timespec ts = { (time_t)(wait / 1000000000u), (long)(wait % 1000000000u) };
		if (ppoll(pfd, (nfds_t)opt.socks, &ts, NULL) < 0 && errno != EINTR)
			die("ppoll: %s", strerror(errno));
	}
	uint64_t t_end = now_ns();
	/* Interrupted: what is still out was neither answered nor lost. */
	uint64_t abandoned = outstanding;
	while (out_head != NONE)
		release(out_head);
	getrusage(RUSAGE_SELF, &ru1);

	double window_s = (double)(t_stop - t0) / 1e9;
	double cpu = cpu_seconds(&ru1) - cpu_seconds(&ru0);
	if (lat_count)
		qsort(lat_ns, lat_count, sizeof(*lat_ns), cmp_u32);
	double sum = 0;
	for (uint64_t i = 0; i < lat_count; i++)
		sum += lat_ns[i];

	printf("mode: %s\n", opt.rate > 0 ? "fixed-rate" : "saturate");
	if (opt.rate > 0)
		printf("offered_qps: %.1f\n", opt.rate);
	printf("server: %s port %d, %d socket(s), window %d, batch %d, timeout %.3f s, %s\n",
	       opt.server, opt.port, opt.socks, opt.window, opt.batch, opt.timeout,
	       opt.edns ? "EDNS0" : "no EDNS");
	printf("window_s: %.6f\n", window_s);
	printf("run_s: %.6f\n", (double)(t_end - t0) / 1e9);
	printf("sent: %" PRIu64 "\n", st.sent);
	printf("answered: %" PRIu64 "\n", st.answered);
	printf("answered_in_window: %" PRIu64 "\n", st.answered_in_window);
	printf("lost: %" PRIu64 "\n", st.lost);
	printf("abandoned: %" PRIu64 "\n", abandoned);
	printf("unexpected: %" PRIu64 "\n", st.unexpected);
	printf("bad_question: %" PRIu64 "\n", st.bad_question);
	printf("bad_qr: %" PRIu64 "\n", st.bad_qr);
	printf("malformed: %" PRIu64 "\n", st.malformed);
	printf("send_errors: %" PRIu64 "\n", st.send_errors);
	printf("qps: %.1f\n", window_s > 0 ? st.answered_in_window / window_s : 0.0);
	printf("sent_qps: %.1f\n", window_s > 0 ? st.sent / window_s : 0.0);
	static const char *rcodes[16] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					  "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
					  "NXRRSET", "NOTAUTH", "NOTZONE" };
	printf("rcodes:");
	for (int i = 0; i < 16; i++)
		if (st.rcode[i]) {
			if (rcodes[i])
				printf(" %s=%" PRIu64, rcodes[i], st.rcode[i]);
			else
				printf(" RCODE%d=%" PRIu64, i, st.rcode[i]);
		}
	printf("\n");
	printf("latencies: %" PRIu64 "\n", lat_count);
	printf("latency_avg_ms: %.6f\n", lat_count ? sum / (double)lat_count / 1e6 : 0.0);
	printf("latency_p50_ms: %.6f\n", pct_ms(50));
	printf("latency_p90_ms: %.6f\n", pct_ms(90));
	printf("latency_p99_ms: %.6f\n", pct_ms(99));
	printf("latency_p999_ms: %.6f\n", pct_ms(99.9));
	printf("latency_max_ms: %.6f\n", lat_count ? lat_ns[lat_count - 1] / 1e6 : 0.0);
	printf("client_cpu_s: %.6f\n", cpu);
	printf("client_user_s: %.6f\n", (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
						 (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6);
	printf("client_cpu_us_per_query: %.4f\n", st.sent ? cpu * 1e6 / (double)st.sent : 0.0);
	if (opt.server_pid && srv0 >= 0 && srv1 >= 0) {
		double hz = (double)sysconf(_SC_CLK_TCK);
		double scpu = (double)(srv1 - srv0) / hz;
		printf("server_cpu_s: %.3f\n", scpu);
		printf("server_util_pct: %.1f\n", window_s > 0 ? 100.0 * scpu / window_s : 0.0);
		printf("queries_per_server_cpu_s: %.1f\n",
		       scpu > 0 ? st.answered_in_window / scpu : 0.0);
	}
	if (opt.lat_file) {
		FILE *f = fopen(opt.lat_file, "wb");
		if (!f || (lat_count && fwrite(lat_ns, sizeof(*lat_ns), lat_count, f) != lat_count) ||
		    fclose(f) != 0)
			die("cannot write the latencies to %s", opt.lat_file);
	}
	fflush(stdout);
	free(lat_ns);
	free(queries);
	free(wire);
	return 0;
}
