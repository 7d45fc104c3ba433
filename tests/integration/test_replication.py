#!/usr/bin/python3
"""Replication to a real knotd 3.2 secondary (issue 5).

mailnsd is the (hidden) primary on 127.0.0.1; knotd runs on its own random
127.x address and port as a catalog consumer (catalog-role interpret) of
mailnsd's catalog zone, with TSIG on every transfer and NOTIFY. The test shows:
existing tenants replicated via the catalog; a tenant added a moment ago
answered by knotd after the NOTIFY; an update followed (IXFR); a removed
tenant dropped; transfers without the key refused; kdig AXFR with and without
the key. Skipped when knotd or kdig is missing.

Only processes this test started are signalled, by pid.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

import harness  # noqa: E402
from harness import HOSTED_ZONE  # noqa: E402

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KDIG = shutil.which("kdig")
SECRET = "bWFpbG5zLXJlcGxpY2F0aW9uLXRlc3Qta2V5LTAx"
KEY = "xfr-key."
CATALOG = "catalog.invalid"
STATIC_ZONE = """$ORIGIN static.example.
$TTL 3600
@       IN SOA  ns1.vendor.example. hostmaster.vendor.example. 2024010101 7200 3600 1209600 300
@       IN NS   ns1.vendor.example.
info    IN TXT  "served from a zone file"
"""

KNOT_CONF = """
server:
    rundir: "{run}"
    listen: {addr}@{port}

log:
  - target: stderr
    any: info

database:
    storage: "{run}/db"
    catalog-db: "{run}/db/catalog"

key:
  - id: {key}
    algorithm: hmac-sha256
    secret: "{secret}"

remote:
  - id: primary
    address: 127.0.0.1@{primary_port}
    key: {key}

acl:
  - id: notify_from_primary
    address: 127.0.0.1
    action: notify
    key: {key}

template:
  - id: default
    storage: "{run}/zones"
    zonefile-sync: -1
    journal-content: none
  - id: member
    storage: "{run}/zones/member"
    master: primary
    acl: notify_from_primary
    zonefile-sync: -1
    journal-content: none

zone:
  - domain: {catalog}.
    master: primary
    acl: notify_from_primary
    catalog-role: interpret
    catalog-template: member
    zonefile-sync: -1
    journal-content: none
"""


def free_knot_endpoint():
    """A random 127.x.y.z address and port free for UDP and TCP."""
    for _ in range(200):
        addr = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255),
                                 random.randint(2, 254))
        port = random.randint(20000, 60000)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind((addr, port))
            u.bind((addr, port))
            return addr, port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free address/port for knotd")


def query(addr, port, name, rdtype, timeout=1.0):
    q = dns.message.make_query(name, rdtype)
    q.flags &= ~dns.flags.RD
    try:
        return dns.query.udp(q, addr, port=port, timeout=timeout)
    except (dns.exception.Timeout, OSError):
        return None


def txts(resp):
    if resp is None or resp.rcode() != dns.rcode.NOERROR:
        return None
    out = []
    for rr in resp.answer:
        if rr.rdtype == dns.rdatatype.TXT:
            out += sorted(b"".join(r.strings).decode() for r in rr)
    return out or None


def soa_serial(resp):
    if resp is None or resp.rcode() != dns.rcode.NOERROR:
        return None
    for rr in resp.answer:
        if rr.rdtype == dns.rdatatype.SOA:
            return rr[0].serial
    return None


@unittest.skipUnless(os.path.exists(KNOTD) and KDIG,
                     "knotd or kdig missing: apt-get install knot knot-dnsutils")
class ReplicationTest(harness.MailnsTestCase):
    def setUp(self):
        super().setUp()
        self.knot = None
        self.knot_pid = None
        self.kaddr, self.kport = free_knot_endpoint()
        conf = ("[xfr]\nkey = %s:hmac-sha256:%s\nallow = 127.0.0.0/8:%s\n"
                "notify = %s@%d\nnotify-key = %s\nnotify-delay = 50\nnotify-timeout = 500\n"
                % (KEY, SECRET, KEY, self.kaddr, self.kport, KEY))
        self.d = self.new_daemon(conf=conf, log_level="info",
                                 zones={"static.example.zone": STATIC_ZONE})

    def tearDown(self):
        self.stop_knot()
        super().tearDown()

    def start_knot(self):
        run = self.tmpdir("knot")
        for sub in ("db", "zones/member"):
            os.makedirs(os.path.join(run, sub), exist_ok=True)
        path = os.path.join(run, "knot.conf")
        with open(path, "w") as f:
            f.write(KNOT_CONF.format(run=run, addr=self.kaddr, port=self.kport, key=KEY,
                                     secret=SECRET, primary_port=self.d.port, catalog=CATALOG))
        self.knot_log = os.path.join(run, "knotd.log")
        with open(self.knot_log, "wb") as log:
            self.knot = subprocess.Popen([KNOTD, "-c", path], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        self.knot_pid = self.knot.pid

    def stop_knot(self):
        if self.knot is None:
            return
        if self.knot.poll() is None:
            os.kill(self.knot_pid, signal.SIGTERM)
            try:
                self.knot.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.knot_pid, signal.SIGKILL)
                self.knot.wait(5)
        if self._failure_count() != self._failures_before:
            with open(self.knot_log, errors="replace") as f:
                sys.stderr.write("\n--- knotd log ---\n%s\n" % f.read()[-6000:])
        self.knot = None

    def wait_for(self, what, fn, timeout=15.0):
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            v = fn()
            if v:
                return time.monotonic() - start
            time.sleep(0.05)
        self.fail("timed out after %.0f s waiting for %s" % (timeout, what))

    def same_txt(self, name):
        """knotd answers \a name with the TXT mailnsd serves."""
        mine = txts(self.d.query(name, "TXT"))
        theirs = txts(query(self.kaddr, self.kport, name, "TXT"))
        return mine is not None and mine == theirs

    def kdig(self, *args):
        cmd = [KDIG, "@127.0.0.1", "-p", str(self.d.port), "+tcp", "+timeout=3", "+retry=0"]
        return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30)

    def test_replication(self):
        d = self.d
        d.add_tenant("acme", "example.com")
        d.add_tenant("beta", "example.org", mode="cname")

        # 1. Existing tenants reach the secondary through the catalog.
        self.start_knot()
        self.wait_for("knotd serving acme's zone",
                      lambda: self.same_txt("_dmarc.mgeu.example.com"))
        self.wait_for("knotd serving the hosted zone with beta's subtree",
                      lambda: self.same_txt("_dmarc.beta." + HOSTED_ZONE))
        self.assertEqual(soa_serial(query(self.kaddr, self.kport, "mgeu.example.com", "SOA")),
                         soa_serial(d.query("mgeu.example.com", "SOA")))
        self.wait_for("knotd serving the static zone",
                      lambda: self.same_txt("info.static.example"))
        dkim = "s1._domainkey.mgeu.example.com"
        self.assertTrue(self.same_txt(dkim), "same DKIM TXT on knotd")

        # 2. A tenant added now: the catalog NOTIFY makes knotd fetch it.
        t0 = time.monotonic()
        d.add_tenant("gamma", "example.net")
        took = self.wait_for("knotd serving a new tenant",
                             lambda: self.same_txt("s1._domainkey.mgeu.example.net"), 10)
        sys.stderr.write("\nnew tenant answered by knotd %.3f s after tenant.add ok\n" % took)
        self.assertLess(time.monotonic() - t0, 10)

        # 3. An update (serial increase) reaches knotd by IXFR.
        before = soa_serial(d.query("mgeu.example.com", "SOA"))
        d.call("tenant.update", {"tenant": "acme", "dmarc": {"p": "reject"}})
        after = soa_serial(d.query("mgeu.example.com", "SOA"))
        self.assertGreater(after, before)
        self.wait_for("knotd following the update",
                      lambda: soa_serial(query(self.kaddr, self.kport, "mgeu.example.com",
                                               "SOA")) == after)
        self.assertTrue(self.same_txt("_dmarc.mgeu.example.com"))
        self.assertIn("p=reject", txts(query(self.kaddr, self.kport,
                                              "_dmarc.mgeu.example.com", "TXT"))[0])
        self.assertRegex(d.stderr_text(), r"IXFR zone=mgeu\.example\.com\. serial=%d->%d"
                         % (before, after))

        # 4. A removed tenant stops being served by knotd.
        d.call("tenant.remove", {"tenant": "gamma"})

        def gone():
            r = query(self.kaddr, self.kport, "mgeu.example.net", "SOA")
            return r is not None and r.rcode() != dns.rcode.NOERROR
        self.wait_for("knotd dropping the removed tenant", gone)

        # 5. TSIG is enforced: no key, no transfer; a wrong key gets BADSIG.
        r = self.kdig("AXFR", "mgeu.example.com")
        self.assertIn("REFUSED", r.stdout + r.stderr)
        self.assertNotIn("\tTXT\t", r.stdout)
        r = self.kdig("-y", "hmac-sha256:%s:%s" % (KEY, SECRET), "AXFR", "mgeu.example.com")
        self.assertIn("_dmarc.mgeu.example.com.", r.stdout, r.stdout + r.stderr)
        self.assertEqual(len(re.findall(r"\tSOA\t", r.stdout)), 2, r.stdout)
        r = self.kdig("-y", "hmac-sha256:%s:%s" % (KEY, "d3Jvbmcgc2VjcmV0"), "AXFR",
                      "mgeu.example.com")
        self.assertIn("BADSIG", r.stdout + r.stderr)
        self.assertNotIn("\tTXT\t", r.stdout)
        # Signed SOA over UDP (with and without EDNS): a signed answer kdig verifies.
        for edns in ("+edns", "+noedns"):
            r = subprocess.run([KDIG, "@127.0.0.1", "-p", str(d.port), "+notcp", edns,
                                "-y", "hmac-sha256:%s:%s" % (KEY, SECRET), "SOA",
                                "mgeu.example.com"], capture_output=True, text=True, timeout=30)
            out = r.stdout + r.stderr
            self.assertIn("status: NOERROR", out, out)
            self.assertNotIn("WARNING", out, out)
            self.assertIn("TSIG PSEUDOSECTION", out, out)
        # The catalog is for transfer clients only.
        resp = d.query(CATALOG, "SOA")
        self.assertRefused(resp)
        self.assertTrue(knot_alive(self.knot), "knotd still running")


def knot_alive(p):
    return p is not None and p.poll() is None


class NotifyTest(harness.MailnsTestCase):
    """NOTIFY out without a real secondary: a UDP socket stands in for one."""

    def test_notify_coalesce_retry_tsig(self):
        import dns.tsigkeyring
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        conf = ("[xfr]\nkey = %s:hmac-sha256:%s\nallow = 127.0.0.0/8\n"
                "notify = 127.0.0.1@%d\nnotify-key = %s\nnotify-delay = 1000\n"
                "notify-timeout = 200\nnotify-retries = 3\n" % (KEY, SECRET, port, KEY))
        d = self.new_daemon(conf=conf, log_level="debug")
        keyring = dns.tsigkeyring.from_text({KEY: SECRET})

        def collect(seconds, answer):
            got = []
            sock.settimeout(0.1)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    data, peer = sock.recvfrom(4096)
                except socket.timeout:
                    continue
                m = dns.message.from_wire(data, keyring=keyring)  # raises on a bad MAC
                self.assertEqual(m.opcode(), dns.opcode.NOTIFY)
                self.assertTrue(m.had_tsig, "NOTIFY must be signed")
                got.append((str(m.question[0].name), time.monotonic()))
                if answer:
                    r = dns.message.make_response(m)
                    sock.sendto(r.to_wire(), peer)
            return got

        collect(2.0, True)  # start-up NOTIFYs (hosted zone, catalog)
        # A new tenant: its zone and the catalog are announced once each.
        d.add_tenant("acme", "example.com")
        got = collect(2.5, True)
        names = [n for n, _ in got]
        self.assertEqual(names.count("mgeu.example.com."), 1, got)
        self.assertEqual(names.count(CATALOG + "."), 1, got)
        # Three quick changes (no key generation, well inside the 1 s delay,
        # even under sanitizers): one NOTIFY for the zone, none for the catalog.
        for p in ("reject", "quarantine", "reject"):
            d.call("tenant.update", {"tenant": "acme", "dmarc": {"p": p}})
        got = collect(2.5, True)
        names = [n for n, _ in got]
        self.assertEqual(names.count("mgeu.example.com."), 1, got)
        self.assertEqual(names.count(CATALOG + "."), 0, got)
        # Unanswered: retried with growing intervals, then given up (logged).
        d.call("tenant.update", {"tenant": "acme", "dmarc": {"p": "none"}})
        got = [t for n, t in collect(4.0, False) if n == "mgeu.example.com."]
        self.assertEqual(len(got), 3, got)
        self.assertGreater(got[2] - got[1], (got[1] - got[0]) * 1.5)
        self.assertRegex(d.stderr_text(), r"NOTIFY zone=mgeu\.example\.com\. .* failed")
        sock.close()


if __name__ == "__main__":
    harness.main()
