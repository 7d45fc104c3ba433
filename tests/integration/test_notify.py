#!/usr/bin/python3
"""sd_notify readiness without systemd: the test binds the unix datagram
socket that $NOTIFY_SOCKET names, as systemd does for Type=notify, and reads
what mailnsd sends (with the sender's pid, as systemd's NotifyAccess=main
checks it).

READY=1 must mean "serving": at that moment a DNS query for a zone built from
the store and `mailnsctl status` must succeed on the first try. SIGHUP gives
RELOADING=1 (with MONOTONIC_USEC) then READY=1; SIGTERM gives STOPPING=1. A
start-up that fails sends no READY=1 but a STATUS= with the reason."""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

ZONE = "mgeu.example.com"


class NotifySocket:
    """The service manager's end: a bound AF_UNIX datagram socket."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.log = []

    def close(self):
        self.sock.close()

    def recv(self, timeout):
        """One message as (sender pid, {field: value}), or None on timeout."""
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        fields = {}
        for line in data.decode().split("\n"):
            if "=" in line:
                k, v = line.split("=", 1)
                fields[k] = v
        self.log.append((pid, fields))
        return pid, fields

    def wait_for(self, key, timeout, proc=None):
        """Messages until one carries \a key; returns (pid, fields, skipped)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while time.monotonic() < deadline:
            m = self.recv(min(0.5, max(0.05, deadline - time.monotonic())))
            if m is None:
                if proc is not None and proc.poll() is not None:
                    break
                continue
            if key in m[1]:
                return m[0], m[1], skipped
            skipped.append(m)
        raise AssertionError("no %s within %.0f s; received: %r" % (key, timeout, self.log))


class NotifyTest(harness.MailnsTestCase):
    def start_notified(self, d):
        path = os.path.join(d.workdir, "notify.sock")
        n = NotifySocket(path)
        self.addCleanup(n.close)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            d.start(wait=False)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        return n

    def test_ready_reload_stop(self):
        t = self.tmpdir()
        vendor = open(os.path.join(harness.SOURCE_DIR, "zones", "vendor.example.zone")).read()
        d = self.new_daemon(workdir=t, conf="", zones={"vendor.example.zone": vendor})
        d.add_tenant("acme", "example.com")
        self.assertEqual(d.stop(), 0)

        n = self.start_notified(d)
        timeout = 120.0 if d.valgrind else 30.0
        pid, ready, before = n.wait_for("READY", timeout, d.proc)
        # Sent by the daemon itself, not a helper or forked child.
        self.assertEqual(pid, d.pid)
        self.assertEqual(ready["READY"], "1")
        self.assertIn("Serving", ready.get("STATUS", ""))
        self.assertIn("127.0.0.1@%d" % d.port, ready["STATUS"])
        # Serving at this very moment: one try each, no polling.
        r = harness.parse(harness.udp_exchange(
            d.port, harness.make_query(ZONE, "SOA").to_wire(), d.dns_timeout))
        self.assertAnswer(r, ZONE, "SOA", ttl=3600)
        r = harness.parse(harness.udp_exchange(
            d.port, harness.make_query("vendor.example", "SOA").to_wire(), d.dns_timeout))
        self.assertAnswer(r, "vendor.example", "SOA", ttl=None)
        p = subprocess.run([harness.mailnsctl_path(), "-s", d.sock_path, "--json", "status"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["tenants"], 1)
        for _, fields in before:
            self.assertNotIn("READY", fields)

        # SIGHUP: RELOADING=1 stamped with CLOCK_MONOTONIC, then READY=1.
        t0 = time.monotonic()
        d.send_signal(signal.SIGHUP)
        pid, rel, _ = n.wait_for("RELOADING", timeout, d.proc)
        t1 = time.monotonic()
        self.assertEqual(pid, d.pid)
        self.assertEqual(rel["RELOADING"], "1")
        usec = int(rel["MONOTONIC_USEC"])
        self.assertLessEqual(int(t0 * 1e6), usec)
        self.assertLessEqual(usec, int(t1 * 1e6) + 1)
        pid, ready, between = n.wait_for("READY", timeout, d.proc)
        self.assertEqual(between, [])
        self.assertIn("configuration reloaded", ready["STATUS"])

        # A rejected config: still READY=1 (the old config serves), and says so.
        d.write_conf("[server]\nno-such-key = 1\n")
        d.send_signal(signal.SIGHUP)
        n.wait_for("RELOADING", timeout, d.proc)
        _, ready, _ = n.wait_for("READY", timeout, d.proc)
        self.assertIn("reload rejected", ready["STATUS"])
        self.assertRcode(d.query(ZONE, "SOA"), "NOERROR")

        # SIGTERM: STOPPING=1 before the exit.
        d.send_signal(signal.SIGTERM)
        pid, stop, _ = n.wait_for("STOPPING", timeout, d.proc)
        self.assertEqual(pid, d.pid)
        self.assertEqual(stop["STOPPING"], "1")
        self.assertEqual(d.wait(60), 0)

    def test_no_ready_when_start_fails(self):
        # The DNS port is taken: start-up fails, READY=1 never comes.
        busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        busy.bind(("127.0.0.1", 0))
        self.addCleanup(busy.close)
        d = self.new_daemon(start=False, port=busy.getsockname()[1])
        n = self.start_notified(d)
        self.assertEqual(d.wait(120 if d.valgrind else 30), 1)
        while n.recv(0.2) is not None:
            pass
        keys = [k for _, f in n.log for k in f]
        self.assertNotIn("READY", keys)
        status = [f["STATUS"] for _, f in n.log if "STATUS" in f]
        self.assertTrue(any(s.startswith("Start-up failed") for s in status), n.log)


if __name__ == "__main__":
    harness.main()
