#!/usr/bin/python3
"""DKIM key rotation with second-scale timers, in both delegation modes.

At every step the test checks exactly what the DNS shows for both selectors
(TXT, CNAME or nothing), what dkim.keys and dkim.export say, what the export
directory holds, and whether a message signed with the previous key still
verifies (python3-dkim resolving through mailnsd): it must during the hold
time and must not after the withdrawal. Timers drive a rotation on their own;
a restart mid-cycle neither skips nor repeats a step.
"""

import os
import re
import stat
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

import harness  # noqa: E402
import test_mail_auth as mailauth  # noqa: E402  (shared resolver and signing helpers)
from harness import HOSTED_ZONE  # noqa: E402

LEAD = 2
HOLD = 3


def conf(period=3600, lead=LEAD, hold=HOLD, export_dir=None, pool=2):
    text = ("[vendor]\nttl = 1\n"
            "[plugin.dkim]\nrotation-period = %d\npublish-lead = %d\nretire-hold = %d\n"
            "key-pool = %d\n" % (period, lead, hold, pool))
    if export_dir:
        text += "export-dir = %s\n" % export_dir
    return text


class Tenant:
    """One tenant seen from outside: its selectors' names in our zones and the
    signing domain (d=) its messages use."""

    def __init__(self, tenant, base, domain):
        self.tenant = tenant
        self.base = base  # where mailnsd serves <selector>._domainkey
        self.domain = domain  # d= of the signatures


ACME = Tenant("acme", "mgeu.example.com", "mgeu.example.com")  # ns mode
BETA = Tenant("beta", "beta." + HOSTED_ZONE, "example.org")  # cname mode


@unittest.skipIf(harness.valgrind_enabled(),
                 "second-scale rotation timers cannot be kept under valgrind")
class RotationCase(harness.MailnsTestCase):
    # --- what is published ---------------------------------------------------
    def selector_view(self, d, t, selector):
        """('TXT', p=) or ('CNAME', target selector) or None (NXDOMAIN) for
        <selector>._domainkey.<base>, asked directly (no CNAME following)."""
        name = "%s._domainkey.%s" % (selector, t.base)
        resp = d.query(name, "TXT", edns=1232)
        rcode = dns.rcode.to_text(resp.rcode())
        if rcode == "NXDOMAIN":
            return None
        self.assertEqual(rcode, "NOERROR", "%s: %s" % (name, resp))
        first = resp.answer[0]
        self.assertEqual(first.name.to_text().rstrip("."), name)
        if first.rdtype == dns.rdatatype.CNAME:
            target = first[0].target.to_text().rstrip(".")
            self.assertTrue(target.endswith("._domainkey." + t.base), target)
            return ("CNAME", target.split(".")[0])
        self.assertEqual(first.rdtype, dns.rdatatype.TXT, str(resp))
        self.assertEqual(len(first), 1)
        value = harness.txt_value(first[0])
        return ("TXT", dict(harness.dkim_tags(value))["p"])

    def assertDns(self, d, t, s1, s2):
        """s1/s2: 'key:<public>' for a TXT with that key, 'cname:<selector>',
        or None for NXDOMAIN."""
        def norm(v):
            if v is None:
                return None
            kind, val = v
            return ("key:" if kind == "TXT" else "cname:") + val
        got = (norm(self.selector_view(d, t, "s1")), norm(self.selector_view(d, t, "s2")))
        self.assertEqual(got, (s1, s2), "selectors of %s" % t.tenant)

    # --- the control side ----------------------------------------------------
    def keys(self, d, t):
        res = d.call("dkim.keys", {"tenant": t.tenant})
        self.assertNotIn("PRIVATE KEY", repr(res))
        return {s["selector"]: s for s in res["selectors"]}, res

    def wait_keys(self, d, t, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            sel, res = self.keys(d, t)
            if pred(sel, res):
                return sel, res
            if time.monotonic() > deadline:
                self.fail("%s: not reached within %.0f s: %r" % (what, timeout, res))
            time.sleep(0.1)

    def exported(self, d, t):
        keys, res = mailauth.export_keys(d, t.tenant)
        for sel, (domain, _alg, _pem) in keys.items():
            self.assertEqual(domain, t.domain)
        return keys

    def sign(self, d, t, selector):
        """A message signed with the exported key of selector (must be active)."""
        keys = self.exported(d, t)
        self.assertIn(selector, keys)
        msg = mailauth.message(t.domain, "rotation %s %s" % (t.tenant, selector))
        return mailauth.sign(msg, selector, t.domain, keys[selector][2]) + msg


class ManualRotationTest(RotationCase):
    """dkim.rotate starts each rotation; timers do the rest. Both modes side by
    side, a full cycle s1 -> s2 -> s1, the export directory read concurrently."""

    def test_full_cycle(self):
        work = self.tmpdir("rot")
        export = os.path.join(work, "export")
        d = self.new_daemon(conf=conf(export_dir=export))
        d.add_tenant("acme", "example.com")
        d.add_tenant("beta", "example.org", mode="cname")
        r = mailauth.Resolver(d)
        r.add_instructions("beta")
        watcher = ExportWatcher(export)
        watcher.start()
        self.addCleanup(watcher.stop)

        # 0. One active key; cname mode: the standby selector is a CNAME to it.
        k1 = {t.tenant: self.keys(d, t)[0]["s1"]["public"] for t in (ACME, BETA)}
        self.assertDns(d, ACME, "key:" + k1["acme"], None)
        self.assertDns(d, BETA, "key:" + k1["beta"], "cname:s1")
        old = {t.tenant: self.sign(d, t, "s1") for t in (ACME, BETA)}
        for t in (ACME, BETA):
            self.assertTrue(mailauth.dkim_verify(r, old[t.tenant]), t.tenant)
        self.wait_export(export, {"mgeu.example.com": "s1", "example.org": "s1"})

        # 1. dkim.rotate: s2 published beside s1; s1 still signs.
        k2 = {}
        for t in (ACME, BETA):
            res = d.call("dkim.rotate", {"tenant": t.tenant})
            sel = {s["selector"]: s for s in res["selectors"]}
            self.assertEqual(sel["s2"]["state"], "published")
            self.assertEqual(sel["s1"]["state"], "active")
            self.assertEqual(res["next"][0]["step"], "activate")
            self.assertEqual(res["next"][0]["at"], sel["s2"]["published"] + LEAD)
            k2[t.tenant] = sel["s2"]["public"]
            self.assertNotEqual(k2[t.tenant], k1[t.tenant])
        self.assertDns(d, ACME, "key:" + k1["acme"], "key:" + k2["acme"])
        self.assertDns(d, BETA, "key:" + k1["beta"], "key:" + k2["beta"])  # CNAME gone
        for t in (ACME, BETA):
            self.assertEqual(sorted(self.exported(d, t)), ["s1"])
            self.assertTrue(mailauth.dkim_verify(r, old[t.tenant]))
        err = self.assertCtlError(d, "dkim.rotate", {"tenant": "acme"}, "rotation_in_progress")
        self.assertIn("s2", err["message"])

        # 2. After the lead time: s2 signs, s1 is retired but still published.
        for t in (ACME, BETA):
            sel, _ = self.wait_keys(d, t, lambda s, _: s["s2"]["state"] == "active",
                                    LEAD + 3, "activation of s2")
            self.assertGreaterEqual(sel["s2"]["activated"], sel["s2"]["published"] + LEAD)
            self.assertEqual(sel["s1"]["state"], "retired")
            self.assertEqual(sel["s1"]["retired"], sel["s2"]["activated"])
        self.assertDns(d, ACME, "key:" + k1["acme"], "key:" + k2["acme"])
        self.assertDns(d, BETA, "key:" + k1["beta"], "key:" + k2["beta"])
        new = {}
        for t in (ACME, BETA):
            self.assertEqual(sorted(self.exported(d, t)), ["s2"])  # export follows
            new[t.tenant] = self.sign(d, t, "s2")
            self.assertTrue(mailauth.dkim_verify(r, new[t.tenant]), t.tenant)
            # Mail signed with the previous key, still in flight: verifies.
            self.assertTrue(mailauth.dkim_verify(r, old[t.tenant]),
                            "%s: old key during the hold time" % t.tenant)
        self.wait_export(export, {"mgeu.example.com": "s2", "example.org": "s2"})
        self.assertTrue(os.path.exists(os.path.join(export, "keys", "example.org.s1.pem")),
                        "a retired key's file stays until it is withdrawn")

        # 3. After the hold time: s1 withdrawn. ns: gone; cname: the CNAME is
        #    back, now from s1 to s2. Mail signed with s1 no longer verifies.
        for t in (ACME, BETA):
            sel, res = self.wait_keys(d, t, lambda s, _: "s1" not in s, HOLD + 3,
                                      "withdrawal of s1")
            hist = res["withdrawn"]
            self.assertEqual(len(hist), 1)
            self.assertEqual(hist[0]["selector"], "s1")
            self.assertGreaterEqual(hist[0]["withdrawn"], hist[0]["retired"] + HOLD)
            self.assertNotIn("public", hist[0])
        self.assertDns(d, ACME, None, "key:" + k2["acme"])
        self.assertDns(d, BETA, "cname:s2", "key:" + k2["beta"])
        for t in (ACME, BETA):
            self.assertFalse(mailauth.dkim_verify(r, old[t.tenant]),
                             "%s: the withdrawn key must not verify" % t.tenant)
            self.assertTrue(mailauth.dkim_verify(r, new[t.tenant]))
        self.wait_export(export, {"mgeu.example.com": "s2", "example.org": "s2"},
                         gone=["example.org.s1.pem", "mgeu.example.com.s1.pem"])

        # 4. The second half of the cycle, back to s1 with a new key.
        for t in (ACME, BETA):
            res = d.call("dkim.rotate", {"tenant": t.tenant})
            sel = {s["selector"]: s for s in res["selectors"]}
            self.assertEqual(sel["s1"]["state"], "published")
            self.assertNotIn(sel["s1"]["public"], (k1[t.tenant], k2[t.tenant]))
            k1[t.tenant] = sel["s1"]["public"]
        self.assertDns(d, ACME, "key:" + k1["acme"], "key:" + k2["acme"])
        self.assertDns(d, BETA, "key:" + k1["beta"], "key:" + k2["beta"])
        for t in (ACME, BETA):
            self.wait_keys(d, t, lambda s, _: "s2" not in s and s["s1"]["state"] == "active",
                           LEAD + HOLD + 4, "s1 active again, s2 withdrawn")
            self.assertEqual(sorted(self.exported(d, t)), ["s1"])
            self.assertFalse(mailauth.dkim_verify(r, new[t.tenant]))  # s2 withdrawn
            self.assertTrue(mailauth.dkim_verify(r, self.sign(d, t, "s1")))
        self.assertDns(d, ACME, "key:" + k1["acme"], None)
        self.assertDns(d, BETA, "key:" + k1["beta"], "cname:s1")
        self.wait_export(export, {"mgeu.example.com": "s1", "example.org": "s1"},
                         gone=["example.org.s2.pem", "mgeu.example.com.s2.pem"])

        # The customer's CNAMEs never changed.
        ins = d.call("tenant.instructions", {"tenant": "beta", "format": "json"})["records"]
        self.assertEqual(sorted((x["name"], x["value"]) for x in ins
                                if "_domainkey" in x["name"]),
                         [("s1._domainkey.example.org", "s1._domainkey." + BETA.base),
                          ("s2._domainkey.example.org", "s2._domainkey." + BETA.base)])

        # The export directory: every read was complete, files 0600, renamed
        # into place (new inodes), no temporary files left.
        watcher.stop()
        self.assertEqual(watcher.errors, [], "a reader saw a partial export")
        self.assertGreater(watcher.reads, 20)
        # Each new KeyTable was a new file renamed over the old one, never the
        # old file rewritten in place.
        self.assertGreaterEqual(watcher.changes, 2, "KeyTable versions seen")
        self.assertEqual(watcher.in_place, 0, "KeyTable modified in place")
        for root, dirs, files in os.walk(export):
            self.assertEqual(stat.S_IMODE(os.stat(root).st_mode), 0o700, root)
            for f in files:
                self.assertFalse(f.startswith(".") or f.endswith(".tmp"), f)
                self.assertEqual(stat.S_IMODE(os.stat(os.path.join(root, f)).st_mode), 0o600, f)

    def wait_export(self, export, active, gone=(), timeout=5):
        """Waits until the export directory's KeyTable names exactly the
        active selectors {domain: selector} and the files in gone are gone."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                table = parse_keytable(read(os.path.join(export, "KeyTable")))
            except OSError:
                table = None
            ok = table is not None and {dom: sel for dom, sel, _ in table} == active and \
                len(table) == len(active) and \
                not any(os.path.exists(os.path.join(export, "keys", g)) for g in gone)
            if ok:
                for dom, sel, path in table:
                    self.assertEqual(path, os.path.join(export, "keys", "%s.%s.pem" % (dom, sel)))
                    self.assertTrue(read(path).startswith("-----BEGIN PRIVATE KEY-----"))
                signing = read(os.path.join(export, "SigningTable"))
                for dom, sel in active.items():
                    self.assertIn("*@%s %s._domainkey.%s\n" % (dom, sel, dom), signing)
                    self.assertIn("%s %s\n" % (dom, sel),
                                  read(os.path.join(export, "dkim_selectors.map")))
                return
            if time.monotonic() > deadline:
                self.fail("export directory: expected %r (gone %r), KeyTable is %r"
                          % (active, gone, table))
            time.sleep(0.1)


def read(path):
    with open(path) as f:
        return f.read()


def parse_keytable(text):
    """[(domain, selector, keyfile)] of an OpenDKIM KeyTable."""
    rows = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"(\S+)\._domainkey\.(\S+) (\S+):(\S+):(\S+)", line)
        if not m or m.group(2) != m.group(3) or m.group(1) != m.group(4):
            raise ValueError("bad KeyTable line %r" % line)
        rows.append((m.group(3), m.group(4), m.group(5)))
    return rows


class ExportWatcher(threading.Thread):
    """Reads the export directory as an MTA reloading at random moments would:
    the KeyTable and every key file it names must always be complete."""

    def __init__(self, export):
        super().__init__(daemon=True)
        self.export = export
        self.stopped = threading.Event()
        self.errors = []
        self.reads = 0
        self.changes = 0  # new KeyTable contents seen
        self.in_place = 0  # … of which in the same inode as before
        self.last = None

    def stop(self):
        self.stopped.set()
        if self.is_alive():
            self.join(5)

    def run(self):
        path = os.path.join(self.export, "KeyTable")
        while not self.stopped.is_set():
            try:
                with open(path) as f:
                    inode = os.fstat(f.fileno()).st_ino
                    text = f.read()
            except FileNotFoundError:
                time.sleep(0.005)
                continue
            try:
                if not text.endswith("\n"):
                    raise ValueError("KeyTable does not end with a newline")
                for _dom, _sel, keyfile in parse_keytable(text):
                    pem = read(keyfile)
                    der = mailauth.pem_der(pem)
                    if not (pem.startswith("-----BEGIN PRIVATE KEY-----\n")
                            and pem.endswith("-----END PRIVATE KEY-----\n")
                            and der[0] == 0x30 and len(der) > 600):
                        raise ValueError("incomplete key file %s" % keyfile)
                self.reads += 1
                if self.last is not None and self.last[1] != text:
                    self.changes += 1
                    self.in_place += self.last[0] == inode
                self.last = (inode, text)
            except (OSError, ValueError) as e:
                self.errors.append(str(e))
            time.sleep(0.005)


class TimerRotationTest(RotationCase):
    """No dkim.rotate: the rotation period alone drives two rotations; every
    step happens once, in order, at its time (checked against the events)."""

    PERIOD, LEAD_T, HOLD_T = 5, 2, 2

    def test_timers_drive_rotation(self):
        d = self.new_daemon(conf=conf(period=self.PERIOD, lead=self.LEAD_T, hold=self.HOLD_T))
        events = harness.Control(d.sock_path)
        self.addCleanup(events.close)
        self.assertEqual(events.call("events.subscribe"), {"subscribed": True})
        d.add_tenant("acme", "example.com")
        sel0, _ = self.keys(d, ACME)
        t0 = sel0["s1"]["activated"]

        seen = []
        deadline = time.monotonic() + 2 * self.PERIOD + 8
        while len(seen) < 5 and time.monotonic() < deadline:
            try:
                ev = events.recv_json(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if ev.get("event") == "dkim.rotation" and ev.get("tenant") == "acme":
                seen.append((ev["step"], ev["selector"], ev["at"]))
        steps = [(s, sel) for s, sel, _ in seen]
        self.assertEqual(steps, [("publish", "s2"), ("activate", "s2"), ("withdraw", "s1"),
                                 ("publish", "s1"), ("activate", "s1")], seen)
        at = [a for _, _, a in seen]
        period, lead, hold = self.PERIOD, self.LEAD_T, self.HOLD_T
        # Each step at its time (within two seconds on a busy machine), never before.
        self.assertTrue(t0 + period - lead <= at[0] <= t0 + period - lead + 2, (t0, seen))
        self.assertTrue(at[0] + lead <= at[1] <= at[0] + lead + 2, seen)
        self.assertTrue(at[1] + hold <= at[2] <= at[1] + hold + 2, seen)
        self.assertTrue(at[1] + period - lead <= at[3] <= at[1] + period - lead + 2, seen)
        self.assertTrue(at[3] + lead <= at[4] <= at[3] + lead + 2, seen)
        sel, res = self.keys(d, ACME)
        self.assertEqual(sel["s1"]["state"], "active")
        self.assertEqual(sel["s1"]["activated"], at[4])
        self.assertEqual(sel["s2"]["state"], "retired")
        self.assertEqual(sel["s2"]["activated"], at[1])
        self.assertDns(d, ACME, "key:" + sel["s1"]["public"], "key:" + sel["s2"]["public"])


class RestartTest(RotationCase):
    """A restart applies the steps whose time passed while the daemon was down,
    in order, exactly once, and never shortens a lead or hold time."""

    def test_restart_mid_cycle(self):
        # The daemon must be stopped before the activation is due: a longer
        # lead than the other tests' keeps that true on a loaded machine
        # (under ASan, stopping alone can take a second or two).
        lead = 3 * LEAD
        d = self.new_daemon(conf=conf(lead=lead, hold=HOLD))
        d.add_tenant("acme", "example.com")
        d.add_tenant("beta", "example.org", mode="cname")
        r = mailauth.Resolver(d)
        r.add_instructions("beta")
        old = {t.tenant: self.sign(d, t, "s1") for t in (ACME, BETA)}
        before = {}
        for t in (ACME, BETA):
            res = d.call("dkim.rotate", {"tenant": t.tenant})
            before[t.tenant] = {s["selector"]: s for s in res["selectors"]}
        published = before["acme"]["s2"]["published"]
        serial = d.query(ACME.base, "SOA").answer[0][0].serial
        self.assertEqual(d.stop(), 0)
        self.assertLess(time.time(), published + lead, "stopped too late to test a restart mid-cycle")

        # Down past both the activation and the withdrawal times.
        while time.time() < published + lead + HOLD + 1:
            time.sleep(0.1)
        restarted = int(time.time())
        d.start()
        after = {}
        for t in (ACME, BETA):
            sel, res = self.wait_keys(d, t, lambda s, _: s["s2"]["state"] == "active", 3,
                                      "activation at restart")
            b = before[t.tenant]
            # Activated now, not back-dated; the same key, published once.
            self.assertGreaterEqual(sel["s2"]["activated"], restarted)
            self.assertEqual(sel["s2"]["published"], b["s2"]["published"])
            self.assertEqual(sel["s2"]["public"], b["s2"]["public"])
            self.assertEqual(sel["s1"]["public"], b["s1"]["public"])
            # Not skipped: s1 is retired now and stays for the full hold.
            self.assertEqual(sel["s1"]["state"], "retired")
            self.assertEqual(sel["s1"]["retired"], sel["s2"]["activated"])
            self.assertEqual(res["withdrawn"], [])
            self.assertTrue(mailauth.dkim_verify(r, old[t.tenant]), "old key after restart")
            after[t.tenant] = sel
        self.assertDns(d, ACME, "key:" + after["acme"]["s1"]["public"],
                       "key:" + after["acme"]["s2"]["public"])
        self.assertDns(d, BETA, "key:" + after["beta"]["s1"]["public"],
                       "key:" + after["beta"]["s2"]["public"])
        # One durable update per tenant for the step: the serial rose.
        self.assertGreater(d.query(ACME.base, "SOA").answer[0][0].serial, serial)

        # Another restart within the hold: nothing repeats, nothing changes.
        self.assertEqual(d.stop(), 0)
        d.start()
        time.sleep(0.5)
        for t in (ACME, BETA):
            sel, res = self.keys(d, t)
            if "s1" in sel:  # The hold may just be over: then only the withdrawal.
                self.assertEqual(sel, after[t.tenant])
            else:
                self.assertEqual(sel["s2"], after[t.tenant]["s2"])
        # The withdrawal, once, a full hold after the retirement.
        for t in (ACME, BETA):
            sel, res = self.wait_keys(d, t, lambda s, _: "s1" not in s, HOLD + 3, "withdrawal")
            self.assertEqual(len(res["withdrawn"]), 1)
            h = res["withdrawn"][0]
            self.assertGreaterEqual(h["withdrawn"], after[t.tenant]["s1"]["retired"] + HOLD)
            self.assertEqual(sel["s2"], after[t.tenant]["s2"])
            self.assertFalse(mailauth.dkim_verify(r, old[t.tenant]))
        self.assertDns(d, ACME, None, "key:" + after["acme"]["s2"]["public"])
        self.assertDns(d, BETA, "cname:s2", "key:" + after["beta"]["s2"]["public"])
        # Only the one rotation happened.
        for line in d.stderr_text(all_runs=True).splitlines():
            self.assertNotIn("key on selector s1 published", line)
        log = d.stderr_text(all_runs=True)
        for t in ("acme", "beta"):
            self.assertEqual(log.count("tenant %s: RSA key on selector s2 published" % t), 1, log)
            self.assertEqual(log.count("tenant %s: RSA key on selector s2 activated" % t), 1, log)
            self.assertEqual(log.count("tenant %s: RSA key on selector s1 withdrawn" % t), 1, log)


if __name__ == "__main__":
    harness.main()
