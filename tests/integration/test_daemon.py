#!/usr/bin/python3
"""The daemon as a program: options, config errors, SIGHUP, plugins, static
zones, CHAOS, signals, valgrind."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.name  # noqa: E402
import dns.rdatatype  # noqa: E402

import harness  # noqa: E402
from harness import HOSTED_ZONE, NAMESERVERS  # noqa: E402

OPTIONS = ["-c", "--listen", "--control", "--data", "--plugins", "--zones", "--foreground",
           "--version", "--help"]

VENDOR_ZONE = """; The vendor's own zone, served as it is.
$ORIGIN vendor.example.
$TTL 3600
@       IN SOA  ns1.vendor.example. hostmaster.vendor.example. 2024010101 7200 3600 1209600 300
@       IN NS   ns1.vendor.example.
@       IN NS   ns2.vendor.example.
@       IN MX   10 mx.vendor.example.
ns1     IN A    192.0.2.53
ns1     IN AAAA 2001:db8::53
ns2     IN A    198.51.100.53
mx      IN A    192.0.2.25
www 600 IN A    192.0.2.80
alias   IN CNAME www
info    IN TXT  "hello world" "second string"
; The hosted zone is served by mailnsd too; the parent delegates it.
mailns  IN NS   ns1.vendor.example.
mailns  IN NS   ns2.vendor.example.
; A delegation to someone else.
sub     IN NS   ns.other.example.
"""


def run(argv, timeout=30):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


class OptionsTest(harness.MailnsTestCase):
    def test_version(self):
        p = run([harness.mailnsd_path(), "--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"mailnsd\D*\d+\.\d+\.\d+")

    def test_help(self):
        p = run([harness.mailnsd_path(), "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for opt in OPTIONS:
            self.assertRegex(p.stdout, r"(^|[\s,\[])%s\b" % re.escape(opt), opt)

    def test_unknown_option(self):
        p = run([harness.mailnsd_path(), "--frobnicate"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--frobnicate", p.stderr)


class ConfigErrorTest(harness.MailnsTestCase):
    def start_bad(self, conf):
        d = self.new_daemon(start=False, conf=conf)
        d.start(wait=False)
        rc = d.wait(20)
        self.assertIsNotNone(rc, "mailnsd with a bad config must exit, not run")
        return d, rc, d.stderr_text()

    def test_bad_configs(self):
        cases = [
            ("[server]\n# a comment\nfrobnicate = 1\n", 3, "frobnicate"),
            ("# vendor settings\n\n[vendor]\nttl = abc\n", 4, "ttl"),
            ("[vendor]\nnegative-ttl = -5\n", 2, "negative-ttl"),
            ("[server]\ntcp-idle-timeout = soon\n", 2, "tcp-idle-timeout"),
            ("[plugin.dkim]\nrsa-bits = banana\n", 2, "rsa-bits"),
            ("[plugin.dmarc]\npolicy = block\n", 2, "policy"),
        ]
        for conf, line, key in cases:
            with self.subTest(key=key):
                d, rc, err = self.start_bad(conf)
                self.assertEqual(rc, 1, err)
                self.assertRegex(err, r"%s:%d: %s: \S" % (re.escape(d.conf_path), line,
                                                          re.escape(key)))

    def test_missing_config_file(self):
        t = self.tmpdir()
        d = harness.Daemon(t)
        d.conf_path = os.path.join(t, "does-not-exist.conf")
        self._daemons.append(d)
        d.start(wait=False)
        rc = d.wait(20)
        self.assertEqual(rc, 1)
        self.assertIn("does-not-exist.conf", d.stderr_text())

    def test_missing_plugin(self):
        t = self.tmpdir()
        pdir = os.path.join(t, "plugins")
        os.mkdir(pdir)
        for p in ("dkim", "spf", "mx"):
            os.symlink(os.path.join(harness.plugin_dir(), p + ".so"),
                       os.path.join(pdir, p + ".so"))
        d = self.new_daemon(start=False, workdir=t, plugins=pdir)
        d.start(wait=False)
        rc = d.wait(20)
        self.assertIsNotNone(rc, "must not start without a configured plugin")
        self.assertNotEqual(rc, 0)
        self.assertGreater(rc, 0, "a clean failure, not a crash (signal %s)" % rc)
        err = d.stderr_text()
        self.assertIn("dmarc", err)
        self.assertIn(pdir, err, "the message names where it looked")

    def test_plugin_dir_with_all_plugins_works(self):
        t = self.tmpdir()
        pdir = os.path.join(t, "plugins")
        os.mkdir(pdir)
        for f in os.listdir(harness.plugin_dir()):
            if f.endswith(".so"):
                os.symlink(os.path.join(harness.plugin_dir(), f), os.path.join(pdir, f))
        d = self.new_daemon(workdir=t, plugins=pdir)
        self.assertEqual(d.call("status")["plugins"][:4], harness.PLUGINS)


class ReloadTest(harness.MailnsTestCase):
    def dkim_ttl(self, d):
        name = "s1._domainkey.mgeu.example.com"
        return d.query(name, "TXT").answer[0].ttl

    def wait_ttl(self, d, ttl, limit=5.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.dkim_ttl(d) == ttl:
                return
            time.sleep(0.1)
        self.assertEqual(self.dkim_ttl(d), ttl, "TTL after SIGHUP")

    def serial(self, d):
        return d.query("mgeu.example.com", "SOA").answer[0][0].serial

    def test_sighup(self):
        d = self.new_daemon(conf="[vendor]\nttl = 3600\n")
        d.add_tenant("acme", "example.com")
        self.assertEqual(self.dkim_ttl(d), 3600)
        serial = self.serial(d)

        d.write_conf("[vendor]\n# shorter TTLs\nttl = 1800\n")
        d.send_signal(signal.SIGHUP)
        self.wait_ttl(d, 1800)
        # Every tenant record follows [vendor] ttl (SOA/NS have their own soa-ttl).
        for name, rdtype in (("mgeu.example.com", "MX"), ("mgeu.example.com", "TXT"),
                             ("_dmarc.mgeu.example.com", "TXT"),
                             ("_mailns-challenge.mgeu.example.com", "TXT")):
            r = d.query(name, rdtype)
            self.assertAnswer(r, name, rdtype, ttl=1800)
        self.assertGreater(self.serial(d), serial, "changed records need a new serial")
        serial = self.serial(d)
        r = d.query("nx.mgeu.example.com", "A")
        self.assertNegative(r, "NXDOMAIN", "mgeu.example.com")

        # A broken config on SIGHUP: logged, and the old one keeps serving.
        d.write_conf("[vendor]\nttl = banana\n")
        d.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        self.assertTrue(d.alive(), "a bad config on SIGHUP must not stop the daemon")
        self.assertEqual(self.dkim_ttl(d), 1800)
        self.assertEqual(self.serial(d), serial)
        self.assertEqual(d.call("tenant.get", {"tenant": "acme"})["tenant"], "acme")
        self.assertRegex(d.stderr_text(), r"%s:2: ttl: \S" % re.escape(d.conf_path))

        # And a good config afterwards is taken again.
        d.write_conf("[vendor]\nttl = 900\n")
        d.send_signal(signal.SIGHUP)
        self.wait_ttl(d, 900)
        self.assertEqual(d.stop(), 0)

    def test_sighup_changes_plugin_defaults(self):
        d = self.new_daemon(conf="[plugin.dmarc]\npolicy = none\n"
                                 "rua = mailto:dmarc@vendor.example\n")
        d.add_tenant("acme", "example.com")
        d.add_tenant("own", "own.example", dmarc={"p": "reject"})
        d.write_conf("[plugin.dmarc]\npolicy = quarantine\nrua = mailto:dmarc@vendor.example\n")
        d.send_signal(signal.SIGHUP)
        name = "_dmarc.mgeu.example.com"
        want = "v=DMARC1; p=quarantine; rua=mailto:dmarc@vendor.example"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if harness.txt_value(d.query(name, "TXT").answer[0][0]) == want:
                break
            time.sleep(0.1)
        self.assertTxt(d.query(name, "TXT"), name, [want])
        # A tenant's own setting wins over the vendor default.
        self.assertTxt(d.query("_dmarc.mgeu.own.example", "TXT"), "_dmarc.mgeu.own.example",
                       ["v=DMARC1; p=reject; rua=mailto:dmarc@vendor.example"])


class StaticZoneTest(harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon(zones={"vendor.example.zone": VENDOR_ZONE})
        cls.d.add_tenant("beta", "example.org", mode="cname")

    def test_served_as_is(self):
        d = self.d
        soa = self.assertAnswer(d.query("vendor.example", "SOA"), "vendor.example", "SOA")[0]
        self.assertEqual(soa.serial, 2024010101)
        self.assertEqual((soa.refresh, soa.retry, soa.expire, soa.minimum),
                         (7200, 3600, 1209600, 300))
        ns = self.assertAnswer(d.query("vendor.example", "NS"), "vendor.example", "NS")
        self.assertEqual(sorted(r.target.to_text() for r in ns), NAMESERVERS)
        a = self.assertAnswer(d.query("ns1.vendor.example", "A"), "ns1.vendor.example", "A")
        self.assertEqual([r.address for r in a], ["192.0.2.53"])
        aaaa = self.assertAnswer(d.query("ns1.vendor.example", "AAAA", tcp=True),
                                 "ns1.vendor.example", "AAAA")
        self.assertEqual([r.address for r in aaaa], ["2001:db8::53"])
        www = self.assertAnswer(d.query("www.vendor.example", "A"), "www.vendor.example", "A",
                                ttl=600)
        self.assertEqual([r.address for r in www], ["192.0.2.80"])
        info = self.assertAnswer(d.query("info.vendor.example", "TXT"), "info.vendor.example",
                                 "TXT")
        self.assertEqual(info[0].strings, (b"hello world", b"second string"))
        mx = self.assertAnswer(d.query("vendor.example", "MX"), "vendor.example", "MX")
        self.assertEqual([(r.preference, r.exchange.to_text()) for r in mx],
                         [(10, "mx.vendor.example.")])

    def test_negative(self):
        self.assertNegative(self.d.query("nx.vendor.example", "A"), "NXDOMAIN", "vendor.example")
        self.assertNegative(self.d.query("www.vendor.example", "TXT"), "NOERROR",
                            "vendor.example")

    def test_cname(self):
        r = self.d.query("alias.vendor.example", "A")
        self.assertRcode(r, "NOERROR")
        self.assertFlags(r)
        self.assertEqual([(x.name.to_text(), dns.rdatatype.to_text(x.rdtype)) for x in r.answer],
                         [("alias.vendor.example.", "CNAME"), ("www.vendor.example.", "A")])

    def test_hosted_zone_below_static_zone(self):
        # mailnsd serves parent and child: names in the hosted zone come from it
        # (the deepest zone), with AA, not as a referral.
        r = self.d.query(HOSTED_ZONE, "SOA")
        soa = self.assertAnswer(r, HOSTED_ZONE, "SOA")[0]
        self.assertNotEqual(soa.serial, 2024010101)
        name = "_dmarc.beta." + HOSTED_ZONE
        self.assertDmarc(self.d.query(name, "TXT"), name)
        self.assertNegative(self.d.query("nx." + HOSTED_ZONE, "A"), "NXDOMAIN", HOSTED_ZONE)

    def test_referral(self):
        r = self.d.query("www.sub.vendor.example", "A")
        self.assertRcode(r, "NOERROR")
        self.assertFalse(r.flags & 0x0400, "a referral is not authoritative")
        self.assertEqual(r.answer, [])
        ns = harness.rrsets(r.authority, "sub.vendor.example", "NS")
        self.assertEqual(len(ns), 1, r)
        self.assertEqual([x.target.to_text() for x in ns[0]], ["ns.other.example."])


class ChaosTest(harness.MailnsTestCase):
    def test_identity_version(self):
        d = self.new_daemon(conf="[server]\nidentity = test-ident.example\n"
                                 "version = mailns-test-1\n")
        for name, want in (("id.server", "test-ident.example"),
                           ("version.bind", "mailns-test-1")):
            for tcp in (False, True):
                with self.subTest(name=name, tcp=tcp):
                    r = d.query(name, "TXT", rdclass="CH", tcp=tcp)
                    self.assertRcode(r, "NOERROR")
                    self.assertEqual(len(r.answer), 1, r)
                    self.assertEqual(r.answer[0].name, dns.name.from_text(name))
                    self.assertEqual([harness.txt_value(x) for x in r.answer[0]], [want])


class ListenTest(harness.MailnsTestCase):
    def test_listen_replaces_config(self):
        p2 = harness.free_port()
        p3 = harness.free_port()
        d = self.new_daemon(conf="[server]\nlisten = 127.0.0.1@%d\n" % p3,
                            extra_args=["--listen", "127.0.0.1@%d" % p2])
        st = d.call("status")
        self.assertEqual(sorted(st["listen"]),
                         sorted(["127.0.0.1@%d" % d.port, "127.0.0.1@%d" % p2]))
        for port in (d.port, p2):
            q = harness.make_query(HOSTED_ZONE, "SOA")
            r = harness.parse(harness.udp_exchange(port, q.to_wire()))
            self.assertAnswer(r, HOSTED_ZONE, "SOA")
            r = harness.parse(harness.tcp_exchange(port, q.to_wire()))
            self.assertAnswer(r, HOSTED_ZONE, "SOA")
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", p3), timeout=2).close()


class SignalTest(harness.MailnsTestCase):
    def busy_daemon(self):
        d = self.new_daemon()
        d.add_tenant("acme", "example.com")
        d.query("mgeu.example.com", "SOA")
        # Leave a TCP connection and a control connection open.
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        self.addCleanup(s.close)
        c = harness.Control(d.sock_path)
        self.addCleanup(c.close)
        c.call("status")
        return d

    def test_sigterm(self):
        d = self.busy_daemon()
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.tail())

    def test_sigint(self):
        d = self.busy_daemon()
        self.assertEqual(d.stop(signal.SIGINT), 0, d.tail())

    def test_restart_after_clean_stop(self):
        d = self.busy_daemon()
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertAnswer(d.query("mgeu.example.com", "SOA"), "mgeu.example.com", "SOA")


@unittest.skipUnless("1" in (os.environ.get("MNS_VALGRIND"), os.environ.get("MNS_VALGRIND_SHUTDOWN")),
                     "set MNS_VALGRIND_SHUTDOWN=1 (this test) or MNS_VALGRIND=1 (every daemon)")
class ValgrindTest(harness.MailnsTestCase):
    def test_valgrind_clean(self):
        d = self.new_daemon(valgrind=True, conf="[vendor]\nttl = 3600\n[plugin.dkim]\ned25519 = yes\n")
        d.add_tenant("acme", "example.com")
        d.add_tenant("beta", "example.org", mode="cname")
        # Error paths allocate too: every refused request must free what it took.
        for args, code in (({"tenant": "acme", "domain": "example.net"}, "tenant_exists"),
                           ({"tenant": "gamma", "domain": "example.com"}, "duplicate_domain"),
                           ({"tenant": "gamma", "domain": "a..b"}, "invalid_domain"),
                           ({"tenant": "gamma", "domain": "x.mgeu.example.com",
                             "subdomain": ""}, "zone_overlap"),
                           ({"tenant": "gamma", "domain": "g.example", "dmarc": {"p": "x"}},
                            "invalid_dmarc")):
            self.assertCtlError(d, "tenant.add", args, code)
        self.assertCtlError(d, "tenant.update", {"tenant": "acme", "bogus": 1}, "unknown_field")
        d.ctl.send_raw(b"{bad json\n")
        self.assertEqual(d.ctl.recv_json()["error"]["code"], "bad_json")
        self.assertAnswer(d.query("s1._domainkey.mgeu.example.com", "TXT"),
                          "s1._domainkey.mgeu.example.com", "TXT")
        self.assertAnswer(d.query("s1._domainkey.mgeu.example.com", "TXT", tcp=True),
                          "s1._domainkey.mgeu.example.com", "TXT")
        d.call("tenant.update", {"tenant": "acme", "dmarc": {"p": "reject"}})
        # Private keys: a rotation (keys from the pool or made on the spot, in
        # the secure heap) and an export (keys in a reply), all freed by the end.
        d.call("dkim.rotate", {"tenant": "beta", "algorithm": "ed25519"})  # RSA is slow here
        self.assertIn("PRIVATE KEY", str(d.call("dkim.export", {"tenant": "acme"})))
        d.call("tenant.remove", {"tenant": "beta"})
        # Reload: a good config, then a broken one.
        d.write_conf("[vendor]\nttl = 1800\n")
        d.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if d.query("_dmarc.mgeu.example.com", "TXT").answer[0].ttl == 1800:
                break
            time.sleep(0.5)
        d.write_conf("[vendor]\nttl = banana\n")
        d.send_signal(signal.SIGHUP)
        time.sleep(2)
        self.assertTrue(d.alive())
        d.ctl.request("no.such.command")
        d.ctl.request("tenant.list", {"limit": 1})
        d.ctl.request("tenant.instructions", {"tenant": "acme", "format": "csv"})
        d.ctl.request("tenant.records", {"tenant": "acme"})
        rc = d.stop(timeout=120)
        log = ""
        for f in sorted(os.listdir(d.workdir)):
            if f.startswith("valgrind."):
                with open(os.path.join(d.workdir, f)) as fh:
                    log += fh.read()
        self.assertEqual(rc, 0, "valgrind exit %s:\n%s" % (rc, log[-4000:]))
        # Exit 0 could also mean valgrind never looked: its summary must be there.
        self.assertIn("ERROR SUMMARY: 0 errors", log)
        self.assertRegex(log, r"definitely lost: 0 bytes|no leaks are possible")
        self.assertRegex(log, r"indirectly lost: 0 bytes|no leaks are possible")


if __name__ == "__main__":
    harness.main()
