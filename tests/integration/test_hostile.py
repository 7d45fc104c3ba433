#!/usr/bin/python3
"""Hostile DNS clients: hundreds of idle and slowloris TCP connections, a
connection limit, a pipelining client that never reads, malformed TCP
framing and oversized UDP queries, while well-behaved clients keep getting
answers promptly."""

import errno
import os
import resource
import selectors
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.edns  # noqa: E402
import dns.flags  # noqa: E402
import dns.rcode  # noqa: E402

import harness  # noqa: E402

# Under AddressSanitizer freed blocks wait in a quarantine (256 MB by default)
# and count in RSS; the RSS bounds here are about what the daemon keeps, so
# its daemons get a small quarantine (use-after-free is still caught for it).
os.environ["ASAN_OPTIONS"] = ":".join(
    o for o in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=2") if o)

ZONE = "mgeu.example.com"
READ_TIMEOUT = 2   # tcp-read-timeout
IDLE_TIMEOUT = 10  # tcp-idle-timeout, well above the read timeout
N_IDLE = 300
N_SLOW = 300
P99_BOUND = 1.0    # seconds: generous, the box is shared and loaded


def frame(wire):
    return struct.pack("!H", len(wire)) + wire


def raise_own_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class GoodClients:
    """A UDP client and a TCP client (a new connection per query, as
    resolvers do) that query in a loop in their own threads and record every
    latency and every failure."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.lat = {"udp": [], "tcp": []}
        self.failures = []
        self.threads = [threading.Thread(target=self.loop, args=(kind,), daemon=True)
                        for kind in ("udp", "tcp")]

    def one(self, kind, qid):
        q = harness.make_query(ZONE, "SOA", qid=qid)
        start = time.monotonic()
        if kind == "udp":
            raw = harness.udp_exchange(self.port, q.to_wire(), timeout=5.0)
        else:
            raw = harness.tcp_exchange(self.port, q.to_wire(), timeout=5.0)
        r = harness.parse(raw)
        if r.id != qid or r.rcode() != dns.rcode.NOERROR or len(r.answer) != 1:
            raise AssertionError("wrong answer:\n%s" % r)
        return time.monotonic() - start

    def loop(self, kind):
        qid = 1 if kind == "udp" else 30001
        while not self.stop.is_set():
            try:
                self.lat[kind].append(self.one(kind, qid))
            except Exception as e:  # noqa: BLE001 - every failure is reported
                self.failures.append("%s query %d: %r" % (kind, qid, e))
            qid += 1
            time.sleep(0.02)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)

    def check(self, test, minimum=20):
        test.assertEqual(self.failures, [], "well-behaved clients failed")
        for kind, lat in self.lat.items():
            test.assertGreaterEqual(len(lat), minimum, "%s client made too few queries" % kind)
            p99 = harness.percentile(lat, 0.99)
            test.assertLess(p99, P99_BOUND, "%s p99 latency %.3f s over %d queries"
                            % (kind, p99, len(lat)))
        return {k: (len(v), harness.percentile(v, 0.5), harness.percentile(v, 0.99))
                for k, v in self.lat.items()}


class Hostile:
    """Hundreds of TCP connections: idle ones (connect, send nothing) and
    slowloris ones (a length prefix, then one more byte every 0.25 s)."""

    def __init__(self, port):
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.idle, self.slow = [], []
        self.first_byte = {}
        self.closed_at = {}

    def open(self, n_idle, n_slow):
        for i in range(n_idle + n_slow):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.connect(("127.0.0.1", self.port))
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            (self.idle if i < n_idle else self.slow).append(s)
        now = time.monotonic()
        for s in self.slow:
            # A 300-octet message, of which only the prefix and a first octet arrive now.
            self.send(s, struct.pack("!H", 300) + b"\x00")
            self.first_byte[s] = now

    def send(self, s, data):
        try:
            s.send(data)
        except OSError:
            self.mark_closed(s)

    def mark_closed(self, s):
        if s not in self.closed_at:
            self.closed_at[s] = time.monotonic()
            self.sel.unregister(s)

    def poll(self, timeout):
        for key, _ in self.sel.select(timeout):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if data:
                raise AssertionError("the server sent %r on a hostile connection" % data[:40])
            self.mark_closed(s)

    def run(self, seconds, trickle=0.25):
        """Trickles one octet per slowloris connection every \\a trickle s."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for s in self.slow:
                if s not in self.closed_at:
                    self.send(s, b"\x00")
            self.poll(trickle)

    def open_count(self, socks):
        return sum(1 for s in socks if s not in self.closed_at)

    def close(self):
        for s in self.idle + self.slow:
            s.close()
        self.sel.close()


class HostileTcpTest(harness.MailnsTestCase):

    def start(self, extra=""):
        raise_own_nofile()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # The daemon inherits a low soft limit and must raise it itself.
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
        try:
            # No DKIM: adding the tenant then needs no RSA key generation.
            d = self.new_daemon(conf="[server]\nplugins = spf mx dmarc\ntcp-read-timeout = %d\n"
                                "tcp-idle-timeout = %d\n%s" % (READ_TIMEOUT, IDLE_TIMEOUT, extra))
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        d.add_tenant("acme", "example.com", subdomain="mgeu")
        return d

    def hostile(self, d):
        h = Hostile(d.port)
        self.addCleanup(h.close)
        return h

    def test_idle_and_slowloris_hundreds(self):
        d = self.start()
        if hard_nofile() > 512:
            self.assertIn("open file limit raised from 512", d.stderr_text())
        h = self.hostile(d)
        with GoodClients(d.port) as good:
            h.open(N_IDLE, N_SLOW)
            h.run(READ_TIMEOUT + 3.5)
        stats = good.check(self)
        # Every slowloris connection closed after the read timeout although it kept trickling.
        self.assertEqual(h.open_count(h.slow), 0, "slowloris connections still open")
        took = [h.closed_at[s] - h.first_byte[s] for s in h.slow]
        self.assertGreaterEqual(min(took), READ_TIMEOUT - 0.3, "closed before the read timeout")
        self.assertLessEqual(max(took), READ_TIMEOUT + 3.0)
        # The idle ones are still within their (longer) idle timeout.
        self.assertEqual(h.open_count(h.idle), N_IDLE, "idle connections closed early")
        sys.stderr.write("\n  good clients (n, p50 s, p99 s): %s; slowloris closed after %.2f..%.2f s\n"
                         % (stats, min(took), max(took)))

    def test_connection_limit_evicts_longest_idle(self):
        limit = 40
        d = self.start("tcp-max-clients = %d\n" % limit)
        h = self.hostile(d)
        h.open(N_IDLE, N_SLOW)
        h.run(0.5)
        # The newest connections stay, the older ones were closed at the limit.
        alive = h.open_count(h.idle) + h.open_count(h.slow)
        self.assertLessEqual(alive, limit)
        with GoodClients(d.port) as good:
            h.run(2.5)
        stats = good.check(self)
        self.assertRegex(d.stderr_text(), r"tcp-max-clients %d reached: closed \d+ longest-idle"
                         % limit)
        sys.stderr.write("\n  at tcp-max-clients %d, good clients (n, p50 s, p99 s): %s\n"
                         % (limit, stats))

    def test_pipelining_client_that_never_reads(self):
        d = self.start()
        q = harness.make_query(ZONE, "TXT", qid=0)
        wire = bytearray(q.to_wire())
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        # A small receive window: our unread answers fill the daemon's socket fast.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
        s.connect(("127.0.0.1", d.port))
        s.setblocking(False)
        rss0 = harness.rss_kib(d.pid)
        peak = rss0
        sent_q = 0
        pending = b""
        blocked_since = None
        with GoodClients(d.port) as good:
            end = time.monotonic() + 5.0
            while time.monotonic() < end:
                if blocked_since is not None and time.monotonic() - blocked_since > 1.5:
                    break
                if not pending:
                    batch = []
                    for _ in range(64):
                        struct.pack_into("!H", wire, 0, sent_q & 0xFFFF)
                        batch.append(frame(bytes(wire)))
                        sent_q += 1
                    pending = b"".join(batch)
                try:
                    n = s.send(pending)
                    pending = pending[n:]
                    blocked_since = None
                except BlockingIOError:
                    if blocked_since is None:
                        blocked_since = time.monotonic()
                    time.sleep(0.01)
                peak = max(peak, harness.rss_kib(d.pid))
        stats = good.check(self)
        # The daemon stopped reading: the client has been blocked for a while.
        self.assertIsNotNone(blocked_since, "the daemon kept reading a client that never reads")
        self.assertGreater(time.monotonic() - blocked_since, 1.0)
        self.assertLess(peak - rss0, 16 * 1024, "daemon RSS grew by %d KiB" % (peak - rss0))
        # Nothing was lost: reading now, every query sent whole gets its answer, in order.
        sent_q -= -(-len(pending) // len(frame(bytes(wire))))  # a partial frame is unsent
        s.setblocking(True)
        s.settimeout(10)
        f = s.makefile("rb")
        for i in range(sent_q):
            (length,) = struct.unpack("!H", f.read(2))
            answer = f.read(length)
            self.assertEqual(len(answer), length, "connection closed at answer %d" % i)
            self.assertEqual(struct.unpack("!H", answer[:2])[0], i & 0xFFFF)
            self.assertEqual(answer[3] & 0x0F, dns.rcode.NOERROR)
        sys.stderr.write("\n  pipelined %d queries without reading; RSS %d -> peak %d KiB; "
                         "good clients %s\n" % (sent_q, rss0, peak, stats))

    def test_framing(self):
        d = self.start()
        good = harness.make_query(ZONE, "SOA", qid=9).to_wire()
        # A zero-length message and one shorter than a header close the connection.
        for prefix in (b"\x00\x00", b"\x00\x05hello"):
            with self.subTest(prefix=prefix):
                s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
                self.addCleanup(s.close)
                s.sendall(prefix + frame(good))
                try:
                    self.assertEqual(s.recv(100), b"", "connection must be closed")
                except ConnectionResetError:
                    pass
        # A message longer than its content: FORMERR, and the connection carries on.
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(frame(good + b"\x00" * 3000) + frame(good))
        r = harness.parse(harness.tcp_read_frame(s))
        self.assertEqual(r.rcode(), dns.rcode.FORMERR)
        r = harness.parse(harness.tcp_read_frame(s))
        self.assertEqual((r.id, r.rcode()), (9, dns.rcode.NOERROR))
        self.assertAnswer(r, ZONE, "SOA")

    def test_oversized_udp(self):
        d = self.start()
        # Queries far larger than 512 octets (EDNS padding, RFC 7830) that parse are answered.
        for size in (600, 4000, 65000):
            with self.subTest(size=size):
                q = harness.make_query(ZONE, "SOA", edns=1232)
                base = len(q.to_wire()) + 4
                q.use_edns(0, payload=1232, options=[
                    dns.edns.GenericOption(dns.edns.PADDING, b"\x00" * (size - base))])
                wire = q.to_wire(max_size=65535)
                self.assertEqual(len(wire), size)
                r = harness.parse(d.udp_wire(wire))
                self.assertEqual(r.id, q.id)
                self.assertAnswer(r, ZONE, "SOA")
                self.assertLessEqual(len(r.to_wire()), 1232)
        # Trailing octets after a query: FORMERR, the question echoed, never more read.
        for size in (3000, 65507):
            with self.subTest(trailing=size):
                q = harness.make_query(ZONE, "SOA")
                wire = q.to_wire()
                wire += b"\xff" * (size - len(wire))
                raw = d.udp_wire(wire)
                self.assertEqual(raw[:2], wire[:2])
                self.assertEqual(raw[3] & 0x0F, dns.rcode.FORMERR)
                self.assertLessEqual(len(raw), 512)
        self.assertAnswer(d.query(ZONE, "SOA"), ZONE, "SOA")


def hard_nofile():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


if __name__ == "__main__":
    harness.main()
