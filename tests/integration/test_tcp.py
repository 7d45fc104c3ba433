#!/usr/bin/python3
"""DNS over TCP (RFC 7766): length framing, pipelining, partial writes, idle timeout."""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.flags  # noqa: E402
import dns.rdatatype  # noqa: E402

import harness  # noqa: E402

ZONE = "mgeu.example.com"
IDLE = 2  # seconds, set through the config file


def frame(wire):
    return struct.pack("!H", len(wire)) + wire


class TcpTest(harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon(conf="[server]\ntcp-idle-timeout = %d\n" % IDLE)
        cls.d.add_tenant("acme", "example.com")

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=5)
        self.addCleanup(s.close)
        return s

    def read_answer(self, s):
        return harness.parse(harness.tcp_read_frame(s))

    def test_pipelined_in_one_write(self):
        q1 = harness.make_query("_dmarc." + ZONE, "TXT", qid=0x1111)
        q2 = harness.make_query(ZONE, "TXT", qid=0x2222)
        q3 = harness.make_query("nx." + ZONE, "A", qid=0x3333)
        s = self.connect()
        s.sendall(frame(q1.to_wire()) + frame(q2.to_wire()) + frame(q3.to_wire()))
        answers = {}
        for _ in range(3):
            r = self.read_answer(s)
            self.assertNotIn(r.id, answers, "duplicate answer for id %#x" % r.id)
            answers[r.id] = r
        self.assertEqual(sorted(answers), [0x1111, 0x2222, 0x3333])
        # Each answer belongs to its query (ids may come back in any order, RFC 7766).
        self.assertDmarc(answers[0x1111], "_dmarc." + ZONE)
        self.assertSpf(answers[0x2222], ZONE)
        self.assertNegative(answers[0x3333], "NXDOMAIN", ZONE)

    def test_two_queries_one_write_same_name(self):
        # Two queries that differ only by id and type.
        q1 = harness.make_query(ZONE, "MX", qid=7)
        q2 = harness.make_query(ZONE, "NS", qid=8)
        s = self.connect()
        s.sendall(frame(q1.to_wire()) + frame(q2.to_wire()))
        got = {}
        for _ in range(2):
            r = self.read_answer(s)
            got[r.id] = r
        self.assertEqual(sorted(got), [7, 8])
        self.assertEqual(got[7].question[0].rdtype, dns.rdatatype.MX)
        self.assertAnswer(got[7], ZONE, "MX")
        self.assertEqual(got[8].question[0].rdtype, dns.rdatatype.NS)
        self.assertAnswer(got[8], ZONE, "NS")

    def test_split_writes(self):
        # A query arriving byte by byte (length prefix split too) is still answered.
        q = harness.make_query("_dmarc." + ZONE, "TXT", qid=4242)
        data = frame(q.to_wire())
        s = self.connect()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(data)):
            s.send(data[i:i + 1])
            time.sleep(0.005)
        r = self.read_answer(s)
        self.assertEqual(r.id, 4242)
        self.assertDmarc(r, "_dmarc." + ZONE)

    def test_connection_reused(self):
        s = self.connect()
        for i in range(5):
            q = harness.make_query(ZONE, "SOA", qid=100 + i)
            s.sendall(frame(q.to_wire()))
            r = self.read_answer(s)
            self.assertEqual(r.id, 100 + i)
            self.assertAnswer(r, ZONE, "SOA")
            time.sleep(0.3)

    def wait_closed(self, s, limit):
        """Seconds until the server closes the connection (EOF or reset)."""
        start = time.monotonic()
        s.settimeout(limit)
        try:
            data = s.recv(1)
            self.assertEqual(data, b"", "unexpected data on an idle connection")
        except ConnectionResetError:
            pass
        except socket.timeout:
            self.fail("the server did not close an idle connection within %.1f s" % limit)
        return time.monotonic() - start

    def test_idle_timeout(self):
        s = self.connect()
        elapsed = self.wait_closed(s, IDLE + 2)
        self.assertGreaterEqual(elapsed, IDLE - 0.5, "closed too early: %.2f s" % elapsed)
        self.assertLessEqual(elapsed, IDLE + 2)

    def test_idle_timeout_after_query(self):
        s = self.connect()
        q = harness.make_query(ZONE, "SOA", qid=55)
        s.sendall(frame(q.to_wire()))
        self.assertEqual(self.read_answer(s).id, 55)
        start = time.monotonic()
        elapsed = self.wait_closed(s, IDLE + 2)
        self.assertLessEqual(time.monotonic() - start, IDLE + 2)
        self.assertGreaterEqual(elapsed, IDLE - 0.5)

    def test_incomplete_query_times_out(self):
        # A client that sends half a message and stops must not hold the connection.
        s = self.connect()
        s.sendall(struct.pack("!H", 100) + b"\x00" * 10)
        self.wait_closed(s, IDLE + 2)

    def test_many_connections_do_not_block_udp(self):
        socks = [self.connect() for _ in range(20)]
        r = self.d.query(ZONE, "SOA")
        self.assertAnswer(r, ZONE, "SOA")
        q = harness.make_query(ZONE, "SOA", qid=99)
        socks[-1].sendall(frame(q.to_wire()))
        self.assertEqual(self.read_answer(socks[-1]).id, 99)


if __name__ == "__main__":
    harness.main()
