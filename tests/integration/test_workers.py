#!/usr/bin/python3
"""Several query threads (workers = 4) answer correctly while tenants change.

Client threads query over UDP and TCP without pause while the test updates
tenants' SPF and DMARC and adds and removes a tenant. Every answer must be
the complete old or the complete new RRset (or rcode) of its name for some
moment during the query, never a mix, never SERVFAIL; after each update is
acknowledged every worker serves the new data. The `status` command's
per-worker message counts map client sockets to workers, so each worker is
queried on purpose and is shown to answer.
"""

import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

import harness  # noqa: E402
from harness import DMARC_DEFAULT  # noqa: E402

WORKERS = 4
TENANTS = ["w%d" % i for i in range(3)]
CHURN = "churn"  # added and removed again and again
CHURN_DMARC = "_dmarc.mgeu.churn.example"
CHURN_SECONDS = 10.0


def zone(t):
    return "mgeu.%s.example" % t


class History:
    """Every value a name had: (call start, call end, value), in order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.h = {}

    def set(self, name, value, start, end=None):
        with self.lock:
            self.h.setdefault(name, []).append([start, end, value])
            return self.h[name][-1]

    def done(self, entry, end):
        with self.lock:
            entry[1] = end

    def allowed(self, name, t0, t1):
        """Values that were current at some moment of [t0, t1]: a value is
        current from its update's start until the next update returned."""
        with self.lock:
            v = self.h[name]
            out = set()
            for k, (start, _end, value) in enumerate(v):
                nxt_end = v[k + 1][1] if k + 1 < len(v) else None
                if start <= t1 and (nxt_end is None or nxt_end >= t0):
                    out.add(value)
            return out

    def last(self, name):
        with self.lock:
            return self.h[name][-1][2]


def value_of(resp, name):
    """(rcode, sorted TXT strings of name) of a response."""
    txt = []
    for rrset in resp.answer:
        if rrset.rdtype == dns.rdatatype.TXT and rrset.name.to_text().rstrip(".") == name:
            txt += [harness.txt_value(r) for r in rrset]
    return (dns.rcode.to_text(resp.rcode()), tuple(sorted(txt)))


class Client(threading.Thread):
    """Queries every watched name in turn on one socket until stopped."""

    def __init__(self, sock, tcp, names, history, port):
        super().__init__(daemon=True)
        self.sock, self.tcp, self.names, self.history, self.port = sock, tcp, names, history, port
        self.stop = threading.Event()
        self.answers = 0
        self.failures = []

    def exchange(self, wire):
        if self.tcp:
            self.sock.sendall(struct.pack("!H", len(wire)) + wire)
            return harness.tcp_read_frame(self.sock)
        self.sock.sendto(wire, ("127.0.0.1", self.port))
        while True:
            data = self.sock.recv(65535)
            if data[:2] == wire[:2]:
                return data

    def run(self):
        qid = 0
        try:
            while not self.stop.is_set():
                for name in self.names:
                    qid = (qid + 1) & 0xFFFF
                    q = harness.make_query(name, "TXT", qid=qid, edns=1232)
                    t0 = time.monotonic()
                    try:
                        r = harness.parse(self.exchange(q.to_wire()))
                    except socket.timeout:
                        if not self.tcp:
                            continue  # UDP: a lost datagram is no wrong answer
                        raise
                    t1 = time.monotonic()
                    got = value_of(r, name)
                    ok = self.history.allowed(name, t0, t1)
                    if got not in ok:
                        self.failures.append("%s: got %s, expected one of %s"
                                             % (name, got, sorted(ok)))
                    self.answers += 1
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.failures.append("%s client: %r" % ("TCP" if self.tcp else "UDP", e))


class WorkersTest(harness.MailnsTestCase):
    def worker_counts(self, d):
        st = d.call("status")
        return st["worker-messages"]

    def map_sockets(self, d, make, want):
        """Opens sockets with make() and sends one query on each until every
        worker has `want` of them. \\return {worker: [socket, ...]}."""
        by_worker = {i: [] for i in range(WORKERS)}
        for _ in range(WORKERS * want * 12):
            if all(len(v) >= want for v in by_worker.values()):
                break
            before = self.worker_counts(d)
            s = make()
            q = harness.make_query("version.bind", "TXT", rdclass="CH")
            wire = q.to_wire()
            if s.type == socket.SOCK_STREAM:
                s.sendall(struct.pack("!H", len(wire)) + wire)
                harness.tcp_read_frame(s)
            else:
                s.sendto(wire, ("127.0.0.1", d.port))
                s.recv(65535)
            after = self.worker_counts(d)
            moved = [i for i in range(WORKERS) if after[i] != before[i]]
            self.assertEqual(len(moved), 1, "one query moved %s" % moved)
            if len(by_worker[moved[0]]) < want:
                by_worker[moved[0]].append(s)
                self.addCleanup(s.close)
            else:
                s.close()
        for i, socks in by_worker.items():
            self.assertGreaterEqual(len(socks), want, "no socket reached worker %d" % i)
        return by_worker

    def udp_socket(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        return s

    def tcp_socket(self, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.settimeout(10)
        return s

    def ask(self, sock, port, name, rdtype="TXT"):
        q = harness.make_query(name, rdtype, qid=0x5151, edns=1232)
        wire = q.to_wire()
        if sock.type == socket.SOCK_STREAM:
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            return harness.parse(harness.tcp_read_frame(sock))
        sock.sendto(wire, ("127.0.0.1", port))
        while True:
            data = sock.recv(65535)
            if data[:2] == wire[:2]:
                return harness.parse(data)

    def visible_everywhere(self, probes, port, name, value, timeout=5.0):
        """Each worker's probe socket sees value (bounded wait)."""
        for i, s in probes.items():
            deadline = time.monotonic() + timeout
            while True:
                got = value_of(self.ask(s, port, name), name)
                if got == value:
                    break
                self.assertLess(time.monotonic(), deadline,
                                "worker %d still answers %s for %s, not %s" % (i, got, name, value))
                time.sleep(0.01)

    def test_answers_never_torn_while_tenants_change(self):
        d = self.new_daemon(conf="[server]\nworkers = %d\nplugins = spf mx dmarc\n" % WORKERS,
                            log_level="info")
        self.assertEqual(d.call("status")["workers"], WORKERS)
        for t in TENANTS:
            d.add_tenant(t, t + ".example")
        # The exact records for a generation, learnt once.
        d.call("tenant.update", {"tenant": TENANTS[0], "spf": {"extra": ["ip4:198.51.100.1"]},
                                 "dmarc": {"p": "reject"}})
        spf1 = value_of(d.query(zone(TENANTS[0]), "TXT"), zone(TENANTS[0]))[1][0]
        dmarc_r = value_of(d.query("_dmarc." + zone(TENANTS[0]), "TXT"),
                           "_dmarc." + zone(TENANTS[0]))[1][0]
        self.assertEqual(spf1.count("ip4:198.51.100.1 "), 1, spf1)
        self.assertIn("p=reject", dmarc_r)

        def ip(g):
            return "10.%d.%d.1" % ((g >> 8) & 255, g & 255)

        def spf(g):
            return ("NOERROR", (spf1.replace("ip4:198.51.100.1 ", "ip4:%s " % ip(g)),))

        def dmarc(g):
            return ("NOERROR", (dmarc_r.replace("p=reject", "p=" + ("none", "quarantine",
                                                                   "reject")[g % 3]),))

        hist = History()
        names = []
        for t in TENANTS:
            for name in (zone(t), "_dmarc." + zone(t)):
                hist.set(name, value_of(d.query(name, "TXT"), name), 0.0, 0.0)
                names.append(name)
        absent = ("REFUSED", ())
        present = ("NOERROR", (DMARC_DEFAULT,))
        hist.set(CHURN_DMARC, absent, 0.0, 0.0)
        names.append(CHURN_DMARC)

        # Sockets that reach each worker: one for a client thread and one to
        # probe with, per transport.
        udp = self.map_sockets(d, self.udp_socket, 2)
        tcp = self.map_sockets(d, lambda: self.tcp_socket(d.port), 2)
        # Transfer requests go to the main loop and back to the worker: with
        # no [xfr] ACL every AXFR is REFUSED, and the connection goes on.
        for i, (s, _) in tcp.items():
            r = self.ask(s, d.port, zone(TENANTS[1]), "AXFR")
            self.assertEqual(dns.rcode.to_text(r.rcode()), "REFUSED", "worker %d" % i)
            r = self.ask(s, d.port, zone(TENANTS[1]), "SOA")
            self.assertEqual(dns.rcode.to_text(r.rcode()), "NOERROR", "worker %d" % i)
        clients = [Client(socks[0], False, names, hist, d.port) for socks in udp.values()]
        clients += [Client(socks[0], True, names, hist, d.port) for socks in tcp.values()]
        probes_udp = {i: socks[1] for i, socks in udp.items()}
        probes_tcp = {i: socks[1] for i, socks in tcp.items()}
        before = self.worker_counts(d)
        for c in clients:
            c.start()

        g, updates, churned = 1, 0, 0
        end = time.monotonic() + CHURN_SECONDS
        try:
            while time.monotonic() < end and all(c.is_alive() for c in clients):
                g += 1
                t = TENANTS[g % len(TENANTS)]
                start = time.monotonic()
                e1 = hist.set(zone(t), spf(g), start)
                e2 = hist.set("_dmarc." + zone(t), dmarc(g), start)
                d.call("tenant.update", {"tenant": t,
                                         "spf": {"extra": ["ip4:" + ip(g)]},
                                         "dmarc": {"p": dmarc(g)[1][0].split("p=")[1].split(";")[0]}})
                done = time.monotonic()
                hist.done(e1, done)
                hist.done(e2, done)
                updates += 1
                probes = probes_udp if g % 2 else probes_tcp
                self.visible_everywhere(probes, d.port, zone(t), spf(g))
                self.visible_everywhere(probes, d.port, "_dmarc." + zone(t), dmarc(g))
                if g % 3 == 0:
                    adding = hist.last(CHURN_DMARC) == absent
                    e = hist.set(CHURN_DMARC, present if adding else absent, time.monotonic())
                    if adding:
                        d.add_tenant(CHURN, CHURN + ".example")
                    else:
                        d.call("tenant.remove", {"tenant": CHURN})
                    hist.done(e, time.monotonic())
                    churned += 1
                    self.visible_everywhere(probes, d.port, CHURN_DMARC, hist.last(CHURN_DMARC))
        finally:
            for c in clients:
                c.stop.set()
            for c in clients:
                c.join(timeout=15)
        after = self.worker_counts(d)
        failures = [f for c in clients for f in c.failures]
        self.assertEqual(failures[:10], [], "%d wrong answers" % len(failures))
        answers = sum(c.answers for c in clients)
        self.assertGreaterEqual(updates, 10)
        self.assertGreaterEqual(churned, 3)
        self.assertGreater(answers, 200)
        # Every worker answered a share of the load.
        for i in range(WORKERS):
            self.assertGreater(after[i] - before[i], 20, "worker %d: %s -> %s" % (i, before, after))
        sys.stderr.write("\n  %d updates, %d adds/removes, %d answers checked; "
                         "messages per worker %s\n"
                         % (updates, churned, answers, [a - b for a, b in zip(after, before)]))

    @unittest.skipIf(os.environ.get("MNS_WORKERS"), "MNS_WORKERS sets workers for every daemon")
    def test_default_is_one_worker_per_cpu(self):
        d = self.new_daemon()
        self.assertEqual(d.call("status")["workers"], os.sysconf("SC_NPROCESSORS_ONLN"))
        self.assertIn("net, %d worker thread" % (os.sysconf("SC_NPROCESSORS_ONLN")), d.stderr_text())


if __name__ == "__main__":
    harness.main()
