#!/usr/bin/python3
"""Replication to BIND named 9.18 and NSD 4.6 secondaries (issue 5, item 6).

mailnsd is the hidden primary on 127.0.0.1 with an [xfr] section (TSIG key,
ACL, NOTIFY to the secondary, catalog zone). Each secondary runs in the
foreground on its own random 127.x address and port, in a private directory:

* named as a catalog consumer (catalog-zones, RFC 9432 v2) of mailnsd's
  catalog.invalid: tenants present at start are served, a tenant added over
  the control socket is served a few seconds later (NOTIFY for the catalog),
  a removed tenant stops being served.
* nsd with one `zone:` per tenant zone (NSD 4.6 has no catalog support):
  the zone is served after the transfer and follows an update (NOTIFY, then
  IXFR or AXFR).

Skipped when named/nsd is missing or when not root. Only processes this test
started are signalled, by pid.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.rcode  # noqa: E402

import harness  # noqa: E402
from test_replication import (CATALOG, SECRET, free_knot_endpoint, query,  # noqa: E402
                              soa_serial, txts)

NAMED = shutil.which("named") or "/usr/sbin/named"
NAMED_CHECKCONF = shutil.which("named-checkconf") or "/usr/bin/named-checkconf"
NSD = shutil.which("nsd") or "/usr/sbin/nsd"
KEY = "xfr-key"
IS_ROOT = os.geteuid() == 0

NAMED_CONF = """
options {{
    directory "{run}";
    pid-file "{run}/named.pid";
    session-keyfile "{run}/session.key";
    managed-keys-directory "{run}";
    listen-on port {port} {{ {addr}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-new-zones yes;
    catalog-zones {{
        zone "{catalog}" default-primaries {{ 127.0.0.1 port {primary_port} key "{key}"; }}
            min-update-interval 1;
    }};
}};

controls {{ }};

key "{key}" {{
    algorithm hmac-sha256;
    secret "{secret}";
}};

zone "{catalog}" {{
    type secondary;
    file "{run}/catalog.db";
    primaries {{ 127.0.0.1 port {primary_port} key "{key}"; }};
    allow-notify {{ 127.0.0.1; }};
}};
"""

NSD_CONF = """
server:
    ip-address: {addr}@{port}
    port: {port}
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "{run}"
    xfrdfile: "{run}/xfrd.state"
    xfrdir: "{run}/xfr"
    zonelistfile: "{run}/zone.list"
    pidfile: "{run}/nsd.pid"
    database: ""
    verbosity: 2
    hide-version: yes

remote-control:
    control-enable: no

key:
    name: "{key}"
    algorithm: hmac-sha256
    secret: "{secret}"

pattern:
    name: "mailns"
    zonefile: "{run}/%s.zone"
    request-xfr: 127.0.0.1@{primary_port} {key}
    allow-notify: 127.0.0.1 {key}
"""


def xfr_conf(addr, port):
    return ("[xfr]\nkey = %s:hmac-sha256:%s\nallow = 127.0.0.0/8:%s\n"
            "notify = %s@%d\nnotify-key = %s\nnotify-delay = 50\nnotify-timeout = 500\n"
            % (KEY, SECRET, KEY, addr, port, KEY))


class SecondaryTestCase(harness.MailnsTestCase):
    """A mailnsd primary and one foreign secondary process (self.sec)."""

    name = "secondary"
    own_address = True

    def setUp(self):
        super().setUp()
        self.sec = None
        self.sec_pid = None
        self.sec_log = None
        if self.own_address:
            self.addr, self.port = free_knot_endpoint()
        else:
            self.addr, self.port = "127.0.0.1", harness.free_port()
        self.d = self.new_daemon(conf=xfr_conf(self.addr, self.port), log_level="info")

    def tearDown(self):
        self.stop_secondary()
        super().tearDown()

    def spawn(self, cmd, run):
        self.sec_log = os.path.join(run, self.name + ".log")
        with open(self.sec_log, "wb") as log:
            self.sec = subprocess.Popen(cmd, cwd=run, stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=subprocess.STDOUT)
        self.sec_pid = self.sec.pid

    def stop_secondary(self):
        if self.sec is None:
            return
        if self.sec.poll() is None:
            os.kill(self.sec_pid, signal.SIGTERM)
            try:
                self.sec.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.sec_pid, signal.SIGKILL)
                self.sec.wait(5)
        if self._failure_count() != self._failures_before:
            sys.stderr.write("\n--- %s log ---\n%s\n" % (self.name, self.log_text()[-8000:]))
        elif os.environ.get("MNS_SECONDARY_LOG"):
            sys.stderr.write("\n--- %s log (transfers, NOTIFY, catalog) ---\n%s\n" % (
                self.name, "\n".join(l for l in self.log_text().splitlines()
                                     if re.search(r"(?i)catz|notify|xfr|transfer", l))))
        self.sec = None

    def log_text(self):
        try:
            with open(self.sec_log, errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def wait_for(self, what, fn, timeout=15.0):
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if fn():
                return time.monotonic() - start
            if self.sec is not None and self.sec.poll() is not None:
                self.fail("%s exited (%s) while waiting for %s:\n%s"
                          % (self.name, self.sec.returncode, what, self.log_text()[-4000:]))
            time.sleep(0.05)
        self.fail("timed out after %.0f s waiting for %s" % (timeout, what))

    def theirs(self, name, rdtype):
        # On a loaded machine (CI runs the suite two tests at a time) a
        # datagram can be lost or the secondary late past the 1 s timeout: a
        # timeout is no answer, so ask again; any answer is returned as it is.
        for _ in range(3):
            r = query(self.addr, self.port, name, rdtype)
            if r is not None:
                return r
        return None

    def same_txt(self, name):
        """The secondary answers \a name with the TXT mailnsd serves."""
        mine = txts(self.d.query(name, "TXT"))
        return mine is not None and mine == txts(self.theirs(name, "TXT"))

    def not_served(self, name):
        r = self.theirs(name, "SOA")
        return r is not None and r.rcode() != dns.rcode.NOERROR


@unittest.skipUnless(IS_ROOT, "needs root (named/nsd bind and write their state as root)")
@unittest.skipUnless(os.path.exists(NAMED), "named missing: apt-get install bind9")
class NamedCatalogTest(SecondaryTestCase):
    name = "named"
    # named listens only on addresses configured on an interface (lo carries
    # 127.0.0.1/8 as one address), so a random 127.x from the /8 is never
    # bound; it gets its own port on 127.0.0.1 instead.
    own_address = False

    def start_named(self):
        run = self.tmpdir("named")
        path = os.path.join(run, "named.conf")
        with open(path, "w") as f:
            f.write(NAMED_CONF.format(run=run, addr=self.addr, port=self.port, key=KEY,
                                      secret=SECRET, primary_port=self.d.port,
                                      catalog=CATALOG))
        if os.path.exists(NAMED_CHECKCONF):
            r = subprocess.run([NAMED_CHECKCONF, path], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0, "named-checkconf: " + r.stdout + r.stderr)
        self.spawn([NAMED, "-g", "-4", "-u", "root", "-c", path], run)
        self.wait_for("named listening on %s#%d" % (self.addr, self.port),
                      lambda: "listening on IPv4 interface lo, %s#%d" % (self.addr, self.port)
                      in self.log_text(), 10)

    def test_catalog_consumer(self):
        d = self.d
        d.add_tenant("acme", "example.com")
        d.add_tenant("beta", "example.org", mode="cname")

        # 1. Every tenant zone present at start is served by named.
        t0 = time.monotonic()
        self.start_named()
        self.wait_for("named serving acme's DKIM TXT",
                      lambda: self.same_txt("s1._domainkey.mgeu.example.com"), 20)
        self.wait_for("named serving the hosted zone with beta's subtree",
                      lambda: self.same_txt("_dmarc.beta." + harness.HOSTED_ZONE), 10)
        sys.stderr.write("\nnamed serving the start-up tenants %.3f s after start\n"
                         % (time.monotonic() - t0))
        self.assertEqual(soa_serial(self.theirs("mgeu.example.com", "SOA")),
                         soa_serial(d.query("mgeu.example.com", "SOA")))
        self.assertIn("catalog zone '%s'" % CATALOG, self.log_text())

        # 2. A tenant added now: the catalog NOTIFY makes named add and fetch it.
        t0 = time.monotonic()
        d.add_tenant("gamma", "example.net")
        took = self.wait_for("named serving a new tenant",
                             lambda: self.same_txt("s1._domainkey.mgeu.example.net"), 10)
        sys.stderr.write("new tenant answered by named %.3f s after tenant.add ok\n" % took)
        self.assertLess(time.monotonic() - t0, 10)

        # 3. A removed tenant stops being served.
        t0 = time.monotonic()
        d.call("tenant.remove", {"tenant": "gamma"})
        took = self.wait_for("named dropping the removed tenant",
                             lambda: self.not_served("mgeu.example.net"), 10)
        sys.stderr.write("removed tenant dropped by named %.3f s after tenant.remove ok\n"
                         % took)
        self.assertTrue(self.same_txt("s1._domainkey.mgeu.example.com"),
                        "the other tenants are still served")
        self.assertIsNone(self.sec.poll(), "named still running")


@unittest.skipUnless(IS_ROOT, "needs root (named/nsd bind and write their state as root)")
@unittest.skipUnless(os.path.exists(NSD), "nsd missing: apt-get install nsd")
class NsdPerZoneTest(SecondaryTestCase):
    name = "nsd"

    def start_nsd(self, zones):
        run = self.tmpdir("nsd")
        os.makedirs(os.path.join(run, "xfr"), exist_ok=True)
        path = os.path.join(run, "nsd.conf")
        text = NSD_CONF.format(run=run, addr=self.addr, port=self.port, key=KEY,
                               secret=SECRET, primary_port=self.d.port)
        for z in zones:
            text += "\nzone:\n    name: \"%s\"\n    include-pattern: \"mailns\"\n" % z
        with open(path, "w") as f:
            f.write(text)
        self.spawn([NSD, "-d", "-c", path], run)

    def test_per_zone_secondary(self):
        d = self.d
        d.add_tenant("acme", "example.com")
        dkim = "s1._domainkey.mgeu.example.com"

        # 1. The configured zone is served after the transfer.
        t0 = time.monotonic()
        self.start_nsd(["mgeu.example.com"])
        self.wait_for("nsd serving acme's DKIM TXT", lambda: self.same_txt(dkim), 20)
        sys.stderr.write("\nnsd serving the zone %.3f s after start\n" % (time.monotonic() - t0))
        self.assertEqual(soa_serial(self.theirs("mgeu.example.com", "SOA")),
                         soa_serial(d.query("mgeu.example.com", "SOA")))

        # 2. An update reaches nsd: NOTIFY, then IXFR (or AXFR fallback).
        before = soa_serial(d.query("mgeu.example.com", "SOA"))
        t0 = time.monotonic()
        d.call("tenant.update", {"tenant": "acme", "dmarc": {"p": "reject"}})
        after = soa_serial(d.query("mgeu.example.com", "SOA"))
        self.assertGreater(after, before)
        took = self.wait_for("nsd following the update",
                             lambda: soa_serial(self.theirs("mgeu.example.com", "SOA")) == after,
                             10)
        sys.stderr.write("update followed by nsd %.3f s after tenant.update ok\n" % took)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertTrue(self.same_txt("_dmarc.mgeu.example.com"))
        self.assertIn("p=reject", txts(self.theirs("_dmarc.mgeu.example.com", "TXT"))[0])
        self.assertTrue(self.same_txt(dkim), "same DKIM TXT on nsd after the update")
        log = d.stderr_text()
        self.assertRegex(log, r"(IXFR|AXFR) zone=mgeu\.example\.com\.")
        sys.stderr.write("mailnsd served nsd: %s\n" % ", ".join(
            sorted(set(l.split(" zone=")[0].split()[-1] for l in log.splitlines()
                       if "zone=mgeu.example.com." in l and "XFR" in l))))
        self.assertIsNone(self.sec.poll(), "nsd still running")


if __name__ == "__main__":
    harness.main()
