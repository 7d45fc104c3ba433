#!/usr/bin/python3
"""docker/compose.yaml's two configs, run without a container engine:
mailnsd with docker/mailns.conf and knotd with docker/knot.conf, where only
the container addresses, ports and paths are replaced by loopback ones (the
ACL keeps its /32 for knotd's address, which knotd sends from with `via`).
knotd must learn the tenant zones from mailnsd's catalog, with the TSIG key
both files share, and follow a tenant added later."""

import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from test_replication import KNOTD, free_knot_endpoint, query, txts  # noqa: E402

DOCKER = os.path.join(harness.SOURCE_DIR, "docker")
PRIMARY = "172.30.53.10"
SECONDARY = "172.30.53.11"


def substitute(text, pairs):
    for old, new in pairs:
        if old not in text:
            raise AssertionError("docker config no longer holds %r: update this test" % old)
        text = text.replace(old, new)
    return text


@unittest.skipUnless(os.path.exists(KNOTD), "knotd missing: apt-get install knot")
class ComposeConfigTest(harness.MailnsTestCase):
    def setUp(self):
        super().setUp()
        self.knot = None
        self.kaddr, self.kport = free_knot_endpoint()
        with open(os.path.join(DOCKER, "mailns.conf")) as f:
            conf = substitute(f.read(), [
                # --listen, --control, --data and --zones (harness) replace the
                # container paths and the wildcard address.
                ("allow = %s/32:xfr-key" % SECONDARY, "allow = %s/32:xfr-key" % self.kaddr),
                ("notify = %s@53" % SECONDARY, "notify = %s@%d" % (self.kaddr, self.kport)),
            ])
        with open(os.path.join(harness.SOURCE_DIR, "zones", "vendor.example.zone")) as f:
            vendor = f.read()
        self.d = self.new_daemon(conf=conf, log_level="info",
                                 zones={"vendor.example.zone": vendor})

    def tearDown(self):
        if self.knot is not None and self.knot.poll() is None:
            os.kill(self.knot.pid, signal.SIGTERM)
            try:
                self.knot.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.knot.pid, signal.SIGKILL)
                self.knot.wait(5)
        if self.knot is not None and self._failure_count() != self._failures_before:
            with open(self.knot_log, errors="replace") as f:
                sys.stderr.write("\n--- knotd log ---\n%s\n" % f.read()[-6000:])
        super().tearDown()

    def start_knot(self):
        run = self.tmpdir("knot")
        with open(os.path.join(DOCKER, "knot.conf")) as f:
            conf = substitute(f.read(), [
                ('rundir: "/run/knot"', 'rundir: "%s"' % run),
                ("    user: knot:knot\n", ""),
                ("listen: [ 0.0.0.0@53 ]", "listen: [ %s@%d ]" % (self.kaddr, self.kport)),
                ("/var/lib/knot", run),
                ("address: %s@53" % PRIMARY,
                 "address: 127.0.0.1@%d\n    via: %s" % (self.d.port, self.kaddr)),
                ("address: %s\n" % PRIMARY, "address: 127.0.0.1\n"),
            ])
        path = os.path.join(run, "knot.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.knot_log = os.path.join(run, "knotd.log")
        with open(self.knot_log, "wb") as log:
            self.knot = subprocess.Popen([KNOTD, "-c", path], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=harness._die_with_parent)

    def wait_same_txt(self, name, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = txts(self.d.query(name, "TXT"))
            if mine is not None and mine == txts(query(self.kaddr, self.kport, name, "TXT")):
                return
            if self.knot.poll() is not None:
                break
            time.sleep(0.1)
        self.fail("knotd does not serve %s as mailnsd does" % name)

    def test_knotd_follows_the_catalog(self):
        self.d.add_tenant("acme", "example.com")
        self.start_knot()
        self.wait_same_txt("_dmarc.mgeu.example.com")
        self.wait_same_txt("s1._domainkey.mgeu.example.com")
        # A tenant added while both run: NOTIFY (signed), catalog IXFR/AXFR.
        self.d.add_tenant("beta", "example.org")
        self.wait_same_txt("s1._domainkey.mgeu.example.org")
        # The catalog itself is for knotd's address only (the ACL).
        r = self.d.query("catalog.invalid", "SOA")
        self.assertRcode(r, "REFUSED")


if __name__ == "__main__":
    harness.main()
