#!/usr/bin/python3
"""Response rate limiting over loopback: a flood from 127.0.0.2 gets about
rate × seconds + burst answers and every slip-th limited response truncated,
while another /24 (127.1.0.1) querying modestly gets every answer; TCP is
never limited; without rrl-rate nothing is limited."""

import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.flags  # noqa: E402
import dns.rcode  # noqa: E402

import harness  # noqa: E402

ZONE = "mgeu.example.com"
RATE = 50
SLIP = 2
FLOOD_QPS = 2000
FLOOD_SECONDS = 3.0
FLOOD_SOURCE = "127.0.0.2"
MODEST_SOURCE = "127.1.0.1"


class Flood:
    """Sends FLOOD_QPS queries per second from one address and counts the
    full and the truncated answers."""

    def __init__(self, port, source):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind((source, 0))
        self.sock.settimeout(0.2)
        self.sent = 0
        self.full = 0
        self.tc = 0
        self.bad = []
        self.duration = 0.0
        self.sending = True
        self.wire = bytearray(harness.make_query(ZONE, "SOA", qid=0).to_wire())

    def receive(self):
        quiet = 0  # receive timeouts in a row once sending has ended
        while quiet < 3:
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                quiet = 0 if self.sending else quiet + 1
                continue
            quiet = 0
            flags = struct.unpack("!H", data[2:4])[0]
            ancount = struct.unpack("!H", data[6:8])[0]
            if flags & dns.flags.TC:
                if ancount != 0 or flags & 0x000F:
                    self.bad.append(data)
                self.tc += 1
            elif ancount == 1 and flags & 0x000F == 0:
                self.full += 1
            else:
                self.bad.append(data)

    def run(self):
        rx = threading.Thread(target=self.receive, daemon=True)
        rx.start()
        start = time.monotonic()
        dest = ("127.0.0.1", self.port)
        while True:
            elapsed = time.monotonic() - start
            if elapsed >= FLOOD_SECONDS:
                break
            due = int(elapsed * FLOOD_QPS) + 1
            while self.sent < due:
                struct.pack_into("!H", self.wire, 0, self.sent & 0xFFFF)
                self.sock.sendto(self.wire, dest)
                self.sent += 1
            time.sleep(0.002)
        self.duration = time.monotonic() - start
        self.sending = False
        rx.join(timeout=10)
        self.sock.close()
        return self


class Modest(threading.Thread):
    """10 queries per second from another /24, each awaited."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.answers = 0
        self.failures = []

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((MODEST_SOURCE, 0))
        s.settimeout(2.0)
        qid = 1
        while not self.stop.is_set():
            q = harness.make_query(ZONE, "SOA", qid=qid)
            s.sendto(q.to_wire(), ("127.0.0.1", self.port))
            try:
                r = harness.parse(s.recv(65535))
                if r.id != qid or r.flags & dns.flags.TC or len(r.answer) != 1:
                    self.failures.append("query %d: %s" % (qid, r))
                else:
                    self.answers += 1
            except socket.timeout:
                self.failures.append("query %d: no answer" % qid)
            qid += 1
            time.sleep(0.1)
        s.close()


class RrlTest(harness.MailnsTestCase):
    def start(self, extra=""):
        d = self.new_daemon(conf="[server]\nplugins = spf mx dmarc\n" + extra)
        d.add_tenant("acme", "example.com")
        return d

    def test_flood_is_limited_other_prefix_is_not(self):
        d = self.start("rrl-rate = %d\nrrl-slip = %d\n" % (RATE, SLIP))
        modest = Modest(d.port)
        modest.start()
        flood = Flood(d.port, FLOOD_SOURCE).run()
        modest.stop.set()
        modest.join(timeout=10)
        sys.stderr.write("\n  flood: sent %d in %.2f s, %d answered, %d truncated; "
                         "modest source: %d answered\n"
                         % (flood.sent, flood.duration, flood.full, flood.tc, modest.answers))
        self.assertEqual(flood.bad, [], "malformed or unexpected answers")
        # Answered: the burst (one second's worth) plus the rate over the flood.
        expected = RATE * (flood.duration + 1)
        self.assertGreaterEqual(flood.full, 0.8 * expected - 5)
        self.assertLessEqual(flood.full, 1.2 * expected + 5)
        # Truncated: every SLIP-th limited response.
        limited = flood.sent - flood.full
        self.assertGreaterEqual(flood.tc, 0.9 * limited / SLIP - 5)
        self.assertLessEqual(flood.tc, limited / SLIP + 5)
        # The other /24 got every answer, none truncated.
        self.assertEqual(modest.failures, [])
        self.assertGreaterEqual(modest.answers, 20)
        self.assertIn("rrl, 127.0.0.0/24 positive responses, limiting started", d.stderr_text())
        # TCP answers are never limited, even for the limited prefix.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind((FLOOD_SOURCE, 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", d.port))
        for i in range(3 * RATE):
            q = harness.make_query(ZONE, "SOA", qid=i)
            wire = q.to_wire()
            s.sendall(struct.pack("!H", len(wire)) + wire)
            r = harness.parse(harness.tcp_read_frame(s))
            self.assertEqual(r.id, i)
            self.assertAnswer(r, ZONE, "SOA")

    def test_off_by_default(self):
        d = self.start()
        flood = Flood(d.port, FLOOD_SOURCE).run()
        sys.stderr.write("\n  no rrl: sent %d, %d answered, %d truncated\n"
                         % (flood.sent, flood.full, flood.tc))
        self.assertEqual(flood.bad, [])
        self.assertEqual(flood.tc, 0)
        self.assertGreaterEqual(flood.full, 0.99 * flood.sent)
        self.assertNotIn("rrl,", d.stderr_text())


if __name__ == "__main__":
    harness.main()
