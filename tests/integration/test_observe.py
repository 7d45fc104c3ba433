#!/usr/bin/python3
"""Observability: the `stats` control command counts exactly what was sent
(UDP/TCP, QTYPE, RCODE, zone kind, truncation, dropped and malformed
messages, control commands by result, tenants by verification state); the
Prometheus endpoint ([server] metrics-listen) is off by default, serves the
text format 0.0.4 on GET /metrics only and agrees with `stats`; the log has
exactly one line per mutation naming who, what and the result, no line per
query at info level, and no private key material even at debug level."""

import glob
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.flags  # noqa: E402

import harness  # noqa: E402

BIG_TXT = "x" * 200
STATIC_ZONE = """$ORIGIN vendor.example.
$TTL 3600
@    SOA ns1 hostmaster 1 3600 600 1209600 300
@    NS  ns1
@    NS  ns2
ns1  A   192.0.2.1
ns2  A   192.0.2.2
big  TXT "%s" "%s" "%s"
""" % (BIG_TXT, BIG_TXT, BIG_TXT)

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_exposition(test, text):
    """Parses the Prometheus text format 0.0.4 strictly. Returns
    {name: {"type": t, "help": h, "samples": {frozenset(labels): value}}}."""
    families = {}
    current = None
    seen_series = set()
    test.assertTrue(text.endswith("\n"), "exposition must end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        test.assertTrue(line, "empty line in exposition, " + where)
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            test.assertRegex(name, r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", where)
            test.assertNotIn(name, families, "HELP twice or after samples, " + where)
            test.assertTrue(help_text.strip(), "empty HELP, " + where)
            families[name] = {"help": help_text, "type": None, "samples": {}}
            current = name
            continue
        if line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            test.assertEqual(name, current, "TYPE must follow its HELP, " + where)
            test.assertIsNone(families[name]["type"], "TYPE twice, " + where)
            test.assertIn(typ, ("counter", "gauge", "untyped", "histogram", "summary"), where)
            families[name]["type"] = typ
            continue
        test.assertFalse(line.startswith("#"), "unexpected comment, " + where)
        m = SAMPLE_RE.match(line)
        test.assertIsNotNone(m, "not a sample line, " + where)
        name, labels_text, value = m.group(1), m.group(3), m.group(4)
        test.assertEqual(name, current, "sample outside its family (HELP/TYPE first), " + where)
        test.assertIsNotNone(families[name]["type"], "sample before TYPE, " + where)
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = LABEL_RE.match(labels_text, pos)
                test.assertIsNotNone(lm, "bad label syntax, " + where)
                test.assertNotIn(lm.group(1), labels, "label twice, " + where)
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        test.assertRegex(value, r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$", "value, " + where)
        key = (name, frozenset(labels.items()))
        test.assertNotIn(key, seen_series, "duplicate series, " + where)
        seen_series.add(key)
        families[name]["samples"][frozenset(labels.items())] = float(value)
        if families[name]["type"] == "counter":
            test.assertTrue(name.endswith("_total"), "counter without _total, " + where)
    for name, f in families.items():
        test.assertIsNotNone(f["type"], "no TYPE for " + name)
    return families


def curl(url, method="GET"):
    """(status, headers dict lowercased, body) of one request made with curl."""
    out = subprocess.run(["curl", "-sS", "-i", "--max-time", "20", "-X", method, url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if out.returncode != 0:
        raise AssertionError("curl %s %s failed: %s" % (method, url, out.stderr.decode()))
    raw = out.stdout.decode()
    head, _, body = raw.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for h in lines[1:]:
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def listening_tcp_ports(pid):
    """Ports of the TCP sockets process pid listens on (from /proc)."""
    inodes = set()
    for fd in glob.glob("/proc/%d/fd/*" % pid):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for row in f:
                cols = row.split()
                if cols[3] == "0A" and cols[9] in inodes:
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def flat(d, prefix=""):
    """{"a": {"b": 1}} -> {"a.b": 1}; every leaf must be an integer."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, prefix + k + "."))
        else:
            assert isinstance(v, int) and not isinstance(v, bool), (prefix + k, v)
            out[prefix + k] = v
    return out


class ObserveTest(harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.metrics_port = harness.free_port()
        cls.export = harness.make_tmpdir("exp")
        cls._class_tmpdirs.append(cls.export)
        conf = ("[server]\nmetrics-listen = 127.0.0.1@%d\n"
                "[plugin.dkim]\nexport-dir = %s\n" % (cls.metrics_port, cls.export))
        cls.d = cls.class_daemon(conf=conf, zones={"vendor.example.zone": STATIC_ZONE})
        cls.d.add_tenant("obs1", "example.com")
        cls.zone = "mgeu.example.com"

    def stats(self):
        r = self.d.call("stats")
        flat(r)  # integer leaves only
        return r

    def delta(self, before, after):
        b, a = flat(before), flat(after)
        self.assertEqual(set(a) - {k for k in a if k.startswith("control.")},
                         set(b) - {k for k in b if k.startswith("control.")},
                         "the shape of stats must not change")
        return {k: a[k] - b.get(k, 0) for k in a if a[k] != b.get(k, 0)}

    def log_lines(self, pattern):
        return [ln for ln in self.d.stderr_text().splitlines() if re.search(pattern, ln)]

    def wait_log(self, pattern, count=1, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.log_lines(pattern)
            if len(lines) >= count:
                return lines
            time.sleep(0.05)
        return self.log_lines(pattern)

    # --- counters --------------------------------------------------------------
    def test_query_counters_exact(self):
        before = self.stats()
        for _ in range(5):
            r = self.d.query("s1._domainkey." + self.zone, "TXT")
            self.assertRcode(r, "NOERROR")
        for i in range(3):
            self.assertRefused(self.d.query("q%d.example.org" % i, "A", tcp=True))
        for _ in range(2):
            self.assertRcode(self.d.query("nx." + self.zone, "MX"), "NXDOMAIN")
        self.assertRcode(self.d.query("ns1.vendor.example", "AAAA", tcp=True), "NOERROR")
        self.assertRcode(self.d.query("version.bind", "TXT", rdclass="CH"), "NOERROR")
        # A header announcing a question that is not there: FORMERR.
        bad = struct.pack("!HHHHHH", 0x4242, 0, 1, 0, 0, 0)
        self.assertEqual(harness.parse(self.d.udp_wire(bad)).rcode(), 1)
        # A response (QR set) is never answered: dropped. The query after it
        # on the same socket shows it was read.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(5)
            s.connect(("127.0.0.1", self.d.port))
            s.send(struct.pack("!HHHHHH", 0x4343, 0x8000, 0, 0, 0, 0))
            q = harness.make_query("ns2.vendor.example", "A")
            s.send(q.to_wire())
            self.assertEqual(harness.parse(s.recv(65535)).id, q.id)
        finally:
            s.close()
        after = self.stats()
        self.assertEqual(self.delta(before, after), self.expected(before, after, {
            "queries.total": 14,
            "queries.transport.udp": 10, "queries.transport.tcp": 4,
            "queries.qtype.TXT": 6, "queries.qtype.A": 4, "queries.qtype.MX": 2,
            "queries.qtype.AAAA": 1, "queries.qtype.other": 1,
            "queries.rcode.NOERROR": 8, "queries.rcode.REFUSED": 3,
            "queries.rcode.NXDOMAIN": 2, "queries.rcode.FORMERR": 1,
            "queries.zone-kind.tenant": 7, "queries.zone-kind.none": 4,
            "queries.zone-kind.static": 2, "queries.zone-kind.chaos": 1,
            "packets.dropped": 1, "packets.malformed": 1,
            "control.stats.ok": 1,
        }))

    @staticmethod
    def expected(before, after, exp):
        """exp plus the keys that move on their own (uptime)."""
        exp = dict(exp)
        if after["uptime-seconds"] != before["uptime-seconds"]:
            exp["uptime-seconds"] = after["uptime-seconds"] - before["uptime-seconds"]
        return exp

    def test_truncated(self):
        before = self.stats()
        q = harness.make_query("big.vendor.example", "TXT")  # no EDNS: 512 octets
        r = harness.parse(self.d.udp_wire(q.to_wire()))
        self.assertTrue(r.flags & dns.flags.TC, "TC expected:\n%s" % r)
        r = self.d.query("big.vendor.example", "TXT", edns=1232)
        self.assertFalse(r.flags & dns.flags.TC)
        after = self.stats()
        self.assertEqual(self.delta(before, after), self.expected(before, after, {
            "queries.total": 2, "queries.transport.udp": 2, "queries.qtype.TXT": 2,
            "queries.rcode.NOERROR": 2, "queries.zone-kind.static": 2,
            "responses.truncated": 1, "control.stats.ok": 1,
        }))

    def test_xfr_counters(self):
        before = self.stats()
        # No [xfr] allow: refused, but handled (and counted) by the transfer module.
        r = harness.parse(self.d.tcp_wire(harness.make_query(self.zone, "AXFR").to_wire()))
        self.assertNotEqual(r.rcode(), 0)
        r = harness.parse(self.d.tcp_wire(harness.make_query(self.zone, "IXFR").to_wire()))
        self.assertNotEqual(r.rcode(), 0)
        self.d.udp_wire(harness.make_query("catalog.invalid", "SOA").to_wire())
        after = self.stats()
        self.assertEqual(self.delta(before, after), self.expected(before, after, {
            "xfr.axfr": 1, "xfr.ixfr": 1, "xfr.other": 1, "control.stats.ok": 1,
        }))

    def test_control_counters_and_tenants(self):
        before = self.stats()
        self.d.add_tenant("obs2", "example.net", mode="cname")
        self.assertCtlError(self.d, "tenant.add", {"tenant": "obs3", "domain": "bad..name"},
                            "invalid_domain")
        self.assertCtlError(self.d, "no.such.command", {}, "unknown_command")
        self.d.ctl.send_raw(b"{not json\n")
        self.assertEqual(self.d.ctl.recv_json()["error"]["code"], "bad_json")
        self.d.ctl.send_raw(b'{"cmd": 7}\n')
        self.assertEqual(self.d.ctl.recv_json()["error"]["code"], "bad_request")
        self.d.call("tenant.get", {"tenant": "obs2"})
        mid = self.stats()
        self.assertEqual(mid["tenants"]["total"], before["tenants"]["total"] + 1)
        self.assertEqual(mid["tenants"]["verification"]["pending"],
                         before["tenants"]["verification"]["pending"] + 1)
        self.assertEqual(sum(mid["tenants"]["verification"].values()), mid["tenants"]["total"])
        self.d.call("tenant.remove", {"tenant": "obs2"})
        after = self.stats()
        d = self.delta(before, after)
        for k in [k for k in d if not k.startswith("control.")]:
            # Adding a tenant changes zones, store size and mutation counts.
            self.assertIn(k.split(".")[0], ("uptime-seconds", "zones", "store", "mutations"), k)
        self.assertEqual({k: v for k, v in d.items() if k.startswith("control.")}, {
            "control.tenant.add.ok": 1, "control.tenant.add.error": 1,
            "control.unknown.error": 1, "control.tenant.get.ok": 1, "control.invalid.error": 2,
            "control.tenant.remove.ok": 1, "control.stats.ok": 2,
        })
        self.assertEqual(after["tenants"]["total"], before["tenants"]["total"])
        self.assertEqual(after["mutations"], before["mutations"] + 2)
        self.assertGreater(after["store"]["used-bytes"], 0)
        self.assertGreaterEqual(after["store"]["file-bytes"], after["store"]["used-bytes"])

    # --- metrics ---------------------------------------------------------------
    def test_metrics_agree_with_stats(self):
        self.d.query("s1._domainkey." + self.zone, "TXT", tcp=True)
        url = "http://127.0.0.1:%d/metrics" % self.metrics_port
        st = self.stats()
        status, headers, body = curl(url)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("content-type", "").split(";")[0:2],
                         ["text/plain", " version=0.0.4"])
        fam = parse_exposition(self, body)
        q = fam["mailns_queries_total"]
        self.assertEqual(q["type"], "counter")
        by = {}
        for labels, v in q["samples"].items():
            lab = dict(labels)
            self.assertEqual(set(lab), {"transport", "qtype", "rcode"})
            for k in lab:
                by.setdefault((k, lab[k]), 0)
                by[(k, lab[k])] += v
        for t, n in st["queries"]["transport"].items():
            self.assertEqual(by.get(("transport", t), 0), n, "transport " + t)
        for t, n in st["queries"]["qtype"].items():
            self.assertEqual(by.get(("qtype", t), 0), n, "qtype " + t)
        for t, n in st["queries"]["rcode"].items():
            self.assertEqual(by.get(("rcode", t), 0), n, "rcode " + t)
        zk = {dict(k)["kind"]: v for k, v in fam["mailns_queries_zone_kind_total"]["samples"].items()}
        self.assertEqual(zk, st["queries"]["zone-kind"])
        one = lambda name: fam[name]["samples"][frozenset()]  # noqa: E731
        self.assertEqual(one("mailns_responses_truncated_total"), st["responses"]["truncated"])
        self.assertEqual(one("mailns_packets_dropped_total"), st["packets"]["dropped"])
        self.assertEqual(one("mailns_packets_malformed_total"), st["packets"]["malformed"])
        tenants = {dict(k)["state"]: v for k, v in fam["mailns_tenants"]["samples"].items()}
        self.assertEqual(tenants, st["tenants"]["verification"])
        self.assertEqual(fam["mailns_tenants"]["type"], "gauge")
        store = {dict(k)["kind"]: v for k, v in fam["mailns_store_bytes"]["samples"].items()}
        self.assertEqual(store, {"file": st["store"]["file-bytes"],
                                 "used": st["store"]["used-bytes"]})
        self.assertEqual(one("mailns_start_time_seconds"), st["start-time"])
        self.assertLessEqual(abs(one("mailns_uptime_seconds") - st["uptime-seconds"]), 2)
        ctl = {}
        for labels, v in fam["mailns_control_commands_total"]["samples"].items():
            lab = dict(labels)
            ctl.setdefault(lab["command"], {})[lab["result"]] = v
        expected = {k: dict(v) for k, v in st["control"].items()}
        expected.setdefault("stats", {"ok": 0, "error": 0})["ok"] += 1  # the stats call itself
        self.assertEqual(ctl, expected)
        self.assertIn(frozenset({("version", "0.1.0")}), fam["mailns_build_info"]["samples"])

    def test_metrics_http_errors(self):
        base = "http://127.0.0.1:%d" % self.metrics_port
        status, _, _ = curl(base + "/")
        self.assertEqual(status, 404)
        status, _, _ = curl(base + "/metricsx")
        self.assertEqual(status, 404)
        status, headers, _ = curl(base + "/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers.get("allow", ""))
        status, _, _ = curl(base + "/metrics", method="DELETE")
        self.assertEqual(status, 405)

    # --- logs -------------------------------------------------------------------
    def test_one_line_per_mutation(self):
        peer = r"peer-uid=%d peer-pid=%d" % (os.getuid(), os.getpid())
        self.d.add_tenant("logt", "example.org")
        self.d.call("tenant.update", {"tenant": "logt", "dmarc": {"p": "reject"}})
        self.assertCtlError(self.d, "tenant.update", {"tenant": "logt", "domain": "a..b"},
                            "invalid_domain")
        self.d.call("dkim.rotate", {"tenant": "logt"})
        self.d.call("tenant.remove", {"tenant": "logt"})
        for cmd, result in (("tenant.add", "result=ok"), ("tenant.remove", "result=ok"),
                            ("dkim.rotate", "result=ok")):
            lines = self.wait_log(r"cmd=%s tenant=logt " % re.escape(cmd))
            self.assertEqual(len(lines), 1, "%s: %r" % (cmd, lines))
            self.assertRegex(lines[0], r"level=notice .*%s %s$" % (peer, result))
        lines = self.log_lines(r"cmd=tenant\.update tenant=logt ")
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[0], r"level=notice .*%s result=ok$" % peer)
        self.assertRegex(lines[1], r'%s result=error code=invalid_domain message="[^"]+' % peer)
        # The tenant module's own lines are debug detail, not a second record.
        for ln in self.log_lines(r"tenant=logt"):
            if "cmd=" not in ln:
                self.assertIn("level=debug", ln)

    def test_reload_logged_once(self):
        self.d.send_signal(signal.SIGHUP)
        lines = self.wait_log(r"action=reload by=SIGHUP result=ok")
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(len(self.log_lines(r"action=reload")), 1)
        self.d.call("status")  # still serving

    def test_no_private_key_in_log(self):
        self.d.add_tenant("keyt", "example.info")
        self.d.call("dkim.rotate", {"tenant": "keyt"})
        exported = self.d.call("dkim.export", {"tenant": "keyt"})
        pems = []
        domains = exported["domains"]
        for dom in domains if isinstance(domains, list) else domains.values():
            for k in dom["keys"]:
                pems.append(k["private"])
        self.assertTrue(pems, exported)
        # The export directory holds the same keys as files.
        deadline = time.monotonic() + 20
        files = []
        while time.monotonic() < deadline and not files:
            for f in glob.glob(os.path.join(self.export, "**", "*.pem"), recursive=True):
                with open(f) as fh:
                    files.append(fh.read())
            time.sleep(0.2)
        self.assertTrue(files, "the export directory holds the keys")
        pems += files
        log = self.d.stderr_text()
        self.assertIn("level=debug", log, "the daemon must run at debug level here")
        for pem in pems:
            b64 = "".join(ln for ln in pem.splitlines() if ln and not ln.startswith("-----"))
            self.assertGreater(len(b64), 60)
            for i in range(0, len(b64) - 24, 24):
                self.assertNotIn(b64[i:i + 24], log, "private key material in the log")
        self.assertNotIn("PRIVATE KEY", log)


class DefaultsTest(harness.MailnsTestCase):
    def test_metrics_off_and_quiet_queries(self):
        d = self.new_daemon(log_level="info")
        d.add_tenant("quiet", "example.com")
        self.assertEqual(listening_tcp_ports(d.pid), {d.port},
                         "only the DNS port listens when metrics-listen is not set")
        for i in range(10):
            d.query("q-info-%d.mgeu.example.com" % i, "TXT")
            d.query("q-info-tcp-%d.example.org" % i, "A", tcp=True)
        d.call("status")
        log = d.stderr_text()
        self.assertNotIn("q-info-", log, "no per-query lines at info level")
        self.assertNotIn("level=debug", log)
        lines = [ln for ln in log.splitlines() if "cmd=tenant.add tenant=quiet" in ln]
        self.assertEqual(len(lines), 1, log)
        self.assertNotIn("cmd=status", log, "read-only commands log at debug only")

    def test_journal_priority_prefixes(self):
        # systemd names the stream it connected in JOURNAL_STREAM (device:inode):
        # lines then carry <N> priorities for journald and no time of their own.
        d = self.new_daemon(start=False, log_level="info")
        path = os.path.join(d.workdir, "mailnsd.%d.stderr" % (d.runs + 1))
        open(path, "wb").close()
        st = os.stat(path)
        os.environ["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        try:
            d.start()
        finally:
            del os.environ["JOURNAL_STREAM"]
        d.add_tenant("jrn", "example.com")
        lines = [ln for ln in d.stderr_text().splitlines() if ln.strip()]
        self.assertTrue(lines)
        for ln in lines:
            self.assertRegex(ln, r"^<[3-7]>level=(error|warning|notice|info) ", ln)
        self.assertTrue(any(ln.startswith("<5>level=notice control, cmd=tenant.add tenant=jrn ")
                            for ln in lines), lines)

    def test_metrics_listen_must_be_loopback(self):
        for bad, why in (("192.0.2.1@9153", "loopback"), ("127.0.0.1", "ADDRESS@PORT"),
                         ("localhost@9153", "ADDRESS@PORT")):
            d = self.new_daemon(start=False, conf="[server]\nmetrics-listen = %s\n" % bad)
            d.start(wait=False)
            self.assertEqual(d.wait(30), 1, d.tail())
            self.assertIn("metrics-listen", d.stderr_text())
            self.assertIn(why, d.stderr_text())



@unittest.skipUnless("1" in (os.environ.get("MNS_VALGRIND"), os.environ.get("MNS_VALGRIND_SHUTDOWN")),
                     "set MNS_VALGRIND_SHUTDOWN=1 (this test) or MNS_VALGRIND=1 (every daemon)")
class MetricsValgrindTest(harness.MailnsTestCase):
    def test_metrics_thread_stops_clean(self):
        port = harness.free_port()
        d = self.new_daemon(valgrind=True, conf="[server]\nmetrics-listen = 127.0.0.1@%d\n" % port)
        d.add_tenant("vg", "example.com")
        url = "http://127.0.0.1:%d/metrics" % port
        self.assertEqual(curl(url)[0], 200)
        self.assertEqual(curl(url, method="POST")[0], 405)
        d.call("stats")
        # A scrape in flight while the daemon stops must neither hang it nor leak.
        t = threading.Thread(target=lambda: subprocess.run(
            ["curl", "-s", "--max-time", "20", url], stdout=subprocess.DEVNULL, timeout=30))
        t.start()
        self.assertEqual(d.stop(), 0, d.valgrind_log()[-6000:])
        t.join(30)


if __name__ == "__main__":
    harness.main()
