#!/usr/bin/python3
"""The verify plugin against real DNS on loopback.

knotd serves the parent zone example.com (and a private root), unbound is the
recursive resolver (stub zones: example.com -> knotd, vendor.example ->
mailnsd), and mailnsd is ns1/ns2.vendor.example, with [plugin.verify]
resolvers pointing at unbound and a schedule in seconds. Each server binds
port 53 on its own random 127.x address, so the test needs root.

Scenarios (issue 3): delegation absent -> pending "no delegation at parent";
delegation added (knotc zone-reload) -> verified on verify.now; delegation to
other nameservers, named; mailnsd reachable but token mismatch; verified ->
lost after N failed checks with an event on events.subscribe; restored ->
verified; cname mode with one CNAME missing; plus a lame delegation, the
pending deadline (-> failed, re-armed by verify.now), the summary, and state
surviving a restart.
"""

import os
import sys
import subprocess
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import verifyenv  # noqa: E402

LOST_AFTER = 2
PENDING_DEADLINE = 8

ROOT_ZONE = """$ORIGIN .
$TTL 300
@             SOA ns.root.test. hostmaster.root.test. 1 3600 600 86400 1
@             NS  ns.root.test.
ns.root.test. A   {knot}
"""

WRONG_ZONE = """$ORIGIN wrong.example.com.
$TTL 60
@ SOA ns1.elsewhere.example.com. hostmaster.example.com. 1 3600 600 86400 1
@ NS  ns1.elsewhere.example.com.
@ NS  ns2.elsewhere.example.com.
"""

VENDOR_ZONE = """$ORIGIN vendor.example.
$TTL 300
@   SOA ns1.vendor.example. hostmaster.vendor.example. 1 3600 600 1209600 1
@   NS  ns1
@   NS  ns2
ns1 A   {mailns}
ns2 A   {mailns}
"""

CONF = """[server]
plugins = dkim spf mx dmarc verify
log-level = debug

[plugin.verify]
resolvers = {unbound}@53
timeout-ms = 3000
tries = 2
max-in-flight = 4
first-check = 1
pending-initial = 2
pending-max = 4
pending-deadline = {deadline}
verified-interval = 3
lost-interval = 1
lost-after = {lost_after}
startup-spread = 2
"""

DELEGATION = ["{label} NS ns1.vendor.example.", "{label} NS ns2.vendor.example."]


def log(msg):
    sys.stderr.write("\n[test_verify] %s\n" % msg)
    sys.stderr.flush()


class VerifyLoopbackTest(unittest.TestCase):
    """One knotd, unbound and mailnsd for the class; one tenant per scenario."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root: knotd, unbound and mailnsd bind port 53 on 127.x")
        missing = verifyenv.missing_tools()
        if missing:
            raise unittest.SkipTest("needs knotd/knotc and unbound/unbound-control (apt-get install "
                                    "knot unbound); missing: %s" % ", ".join(missing))
        cls.knot = cls.unbound = cls.daemon = cls.events = None
        cls.tmp = harness.make_tmpdir("vfy")
        try:
            cls._start()
        except BaseException:
            cls._print_logs()
            cls._stop()
            raise

    @classmethod
    def _start(cls):
        knot_addr, ub_addr, mailns_addr, unused = verifyenv.pick_addresses(4)
        cls.addr = {"knot": knot_addr, "unbound": ub_addr, "mailns": mailns_addr,
                    "unused": unused}
        log("addresses: knotd %s, unbound %s, mailnsd %s, nothing on %s"
            % (knot_addr, ub_addr, mailns_addr, unused))
        # The parent zone: a few fixed records plus what each scenario adds.
        cls.serial = 1
        cls.records = {
            "wrongns": ["wrong NS ns1.elsewhere", "wrong NS ns2.elsewhere",
                        "ns1.elsewhere A %s" % knot_addr, "ns2.elsewhere A %s" % knot_addr],
            "mism": [r.format(label="mism") for r in DELEGATION],
            "lame": ["lame NS ns.lame", "ns.lame A %s" % unused],
        }
        cls.knot = verifyenv.Knot(cls.tmp, knot_addr, {
            ".": ROOT_ZONE.format(knot=knot_addr),
            "example.com": cls._parent_zone(),
            "wrong.example.com": WRONG_ZONE,
        }).start()
        conf = CONF.format(unbound=ub_addr, deadline=PENDING_DEADLINE, lost_after=LOST_AFTER)
        workdir = os.path.join(cls.tmp, "mailnsd")
        os.makedirs(workdir)
        cls.daemon = verifyenv.LoopbackDaemon(
            workdir, mailns_addr, conf=conf,
            zones={"vendor.example.zone": VENDOR_ZONE.format(mailns=mailns_addr)})
        cls.daemon.start()
        cls.unbound = verifyenv.Unbound(cls.tmp, ub_addr, knot_addr, {
            "example.com": knot_addr,
            "vendor.example": mailns_addr,
        }).start(probe="example.com")
        cls._subscribe()

    @classmethod
    def _subscribe(cls):
        cls.events = harness.Control(cls.daemon.sock_path, timeout=30)
        cls.events.call("events.subscribe")
        cls.seen = []

    @classmethod
    def _parent_zone(cls):
        lines = ["$ORIGIN example.com.", "$TTL 60",
                 "@ SOA ns.example.com. hostmaster.example.com. %d 3600 600 86400 1" % cls.serial,
                 "@ NS ns", "ns A %s" % cls.addr["knot"]]
        for recs in cls.records.values():
            lines += recs
        return "\n".join(lines) + "\n"

    @classmethod
    def _print_logs(cls):
        for name, obj in (("knotd", cls.knot), ("unbound", cls.unbound)):
            if obj is not None and obj.proc is not None:
                sys.stderr.write("\n--- %s log ---\n%s\n" % (name, obj.proc.tail(30)))
        if cls.daemon is not None:
            sys.stderr.write("\n--- mailnsd log ---\n%s\n" % cls.daemon.tail(80))

    @classmethod
    def _stop(cls):
        if cls.events is not None:
            cls.events.close()
        for obj in (cls.daemon, cls.unbound, cls.knot):
            if obj is not None:
                obj.stop()
        harness.remove_tmpdir(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls._stop()

    def run(self, result=None):
        failures = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            self._print_logs()
        return out

    # --- helpers -------------------------------------------------------------
    def call(self, cmd, args=None):
        return self.daemon.call(cmd, args)

    def checklist(self, tenant):
        """`mailnsctl tenant check`, as a customer-facing checklist."""
        p = subprocess.run([harness.mailnsctl_path(), "-s", self.daemon.sock_path, "tenant",
                            "check", tenant], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        log("mailnsctl tenant check %s:\n%s" % (tenant, p.stdout))
        return p.stdout

    def now(self, tenant):
        return self.call("verify.now", {"tenant": tenant})

    def publish(self, key, records, *flush):
        """Sets the parent zone's records for \\a key, reloads knotd, flushes unbound.
        Returns the monotonic time at which knotd served the new zone."""
        cls = type(self)
        if records:
            cls.records[key] = records
        else:
            cls.records.pop(key, None)
        cls.serial += 1
        self.knot.set_zone("example.com", cls._parent_zone(), cls.serial)
        t = time.monotonic()
        self.unbound.flush("example.com", *flush)
        return t

    def wait_event(self, tenant, new, old=None, timeout=30.0):
        """The first verify.state event of \\a tenant from \\a old (any when None)
        to \\a new, already seen or coming."""
        def match(ev):
            return ev["tenant"] == tenant and ev["new"] == new and old in (None, ev["old"])
        for ev in self.seen:
            if match(ev):
                return ev
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail("no verify.state event %s -> %s within %.0f s; seen: %r"
                          % (tenant, new, timeout, self.seen))
            try:
                ev = self.events.recv_json(timeout=left)
            except TimeoutError:
                continue
            self.assertEqual(ev.get("event"), "verify.state", ev)
            for k in ("tenant", "old", "new", "diagnostic", "time"):
                self.assertIn(k, ev)
            self.assertIsInstance(ev["time"], int)
            self.seen.append(ev)
            if match(ev):
                return ev

    def assertResult(self, r, tenant, mode, ok, state):
        for k in ("tenant", "mode", "state", "previous_state", "checked", "next_check", "ok",
                  "diagnostic", "checks"):
            self.assertIn(k, r)
        self.assertEqual(r["tenant"], tenant)
        self.assertEqual(r["mode"], mode)
        self.assertIs(r["ok"], ok, r)
        self.assertEqual(r["state"], state, r)
        self.assertIsInstance(r["diagnostic"], str)
        self.assertTrue(r["diagnostic"])
        for c in r["checks"]:
            self.assertEqual(sorted(c), ["expected", "found", "name", "ok", "reason", "type"])
        self.assertEqual(all(c["ok"] for c in r["checks"]), ok, r)

    # --- scenarios -----------------------------------------------------------
    def test_1_absent_then_delegated(self):
        doc = self.daemon.add_tenant("acme", "example.com")
        self.assertEqual(doc["zone"], "mgeu.example.com")
        r = self.now("acme")
        self.assertResult(r, "acme", "ns", False, "pending")
        log("absent: %s" % r["diagnostic"])
        self.assertIn("no delegation at parent", r["diagnostic"])
        ns = r["checks"][0]
        self.assertEqual((ns["name"], ns["type"], ns["ok"]), ("mgeu.example.com", "NS", False))
        self.assertEqual(ns["expected"], "ns1.vendor.example ns2.vendor.example")
        self.assertEqual(r["checks"][1]["name"], "_mailns-challenge.mgeu.example.com")
        self.assertEqual(r["checks"][1]["expected"], doc["verify"]["token"])
        st = self.call("verify.status", {"tenant": "acme"})
        self.assertEqual(st["state"], "pending")
        self.assertIn("no delegation at parent", st["diagnostic"])
        self.assertGreaterEqual(st["failures"], 1)
        self.assertIn("last_check", st)
        self.assertIn("next_check", st)

        serial = self.call("tenant.get", {"tenant": "acme"})["serial"]
        t0 = self.publish("acme", [d.format(label="mgeu") for d in DELEGATION], "mgeu.example.com")
        t1 = time.monotonic()
        r = self.now("acme")
        t2 = time.monotonic()
        self.assertResult(r, "acme", "ns", True, "verified")
        log("MEASURE delegation served by knotd -> verified with verify.now: %.0f ms "
            "(of which unbound cache flush %.0f ms, verify.now round trip %.0f ms)"
            % ((t2 - t0) * 1000, (t1 - t0) * 1000, (t2 - t1) * 1000))
        self.assertEqual(r["checks"][0]["found"], "ns1.vendor.example ns2.vendor.example")
        self.assertEqual(r["checks"][1]["found"], '"%s"' % doc["verify"]["token"])
        self.assertIsInstance(r["next_check"], int)
        ev = self.wait_event("acme", "verified", old="pending")
        self.assertIn("verified", ev["diagnostic"])
        # Stored durably, without a zone rebuild.
        got = self.call("tenant.get", {"tenant": "acme"})
        self.assertEqual(got["verify"]["state"], "verified")
        self.assertEqual(got["serial"], serial, "a check must not change the zone's serial")

    def test_2_wrong_nameservers(self):
        self.daemon.add_tenant("wrongns", "wrong.example.com", subdomain="")
        r = self.now("wrongns")
        self.assertResult(r, "wrongns", "ns", False, "pending")
        log("wrong NS: %s" % r["diagnostic"])
        self.assertIn("delegated to other nameservers", r["diagnostic"])
        self.assertIn("ns1.elsewhere.example.com, ns2.elsewhere.example.com", r["diagnostic"])
        self.assertEqual(r["checks"][0]["found"], "ns1.elsewhere.example.com ns2.elsewhere.example.com")

    def test_3_token_mismatch(self):
        doc = self.daemon.add_tenant("mism", "mism.example.com", subdomain="")
        old = doc["verify"]["token"]
        r = self.now("mism")
        self.assertResult(r, "mism", "ns", True, "verified")
        # A reset draws a new token; mailnsd serves it at once, but the
        # resolver still holds the old one: mailnsd is reachable (the NS
        # answer comes from it) yet the token differs.
        new = self.call("tenant.update", {"tenant": "mism", "verify": None})["verify"]["token"]
        self.assertNotEqual(new, old)
        direct = verifyenv.query(self.addr["mailns"], "_mailns-challenge.mism.example.com", "TXT")
        self.assertEqual(harness.txt_value(direct.answer[0][0]), new)
        r = self.now("mism")
        self.assertResult(r, "mism", "ns", False, "pending")
        log("mismatch: %s" % r["diagnostic"])
        self.assertIn("token mismatch", r["diagnostic"])
        self.assertIn(old, r["diagnostic"])
        self.assertTrue(r["checks"][0]["ok"], "NS is right: mailnsd is reachable")
        self.assertEqual(r["checks"][1]["expected"], new)
        self.assertEqual(r["checks"][1]["found"], '"%s"' % old)
        self.unbound.flush("mism.example.com")
        r = self.now("mism")
        self.assertResult(r, "mism", "ns", True, "verified")

    def test_4_lost_and_restored(self):
        self.daemon.add_tenant("lost", "lost.example.com")
        self.publish("lost", [d.format(label="mgeu.lost") for d in DELEGATION])
        r = self.now("lost")
        self.assertResult(r, "lost", "ns", True, "verified")
        # The delegation disappears: lost only after LOST_AFTER failed checks.
        t0 = self.publish("lost", None, "lost.example.com")
        ev = self.wait_event("lost", "lost", old="verified", timeout=30)
        log("lost %.1f s after the delegation was removed (lost-after=%d, lost-interval=1 s, "
            "verified-interval=3 s)" % (time.monotonic() - t0, LOST_AFTER))
        self.assertEqual(ev["old"], "verified")
        self.assertEqual(ev["failures"], LOST_AFTER)
        self.assertIn("no delegation at parent", ev["diagnostic"])
        self.assertFalse([e for e in self.seen if e["tenant"] == "lost" and e["new"] == "lost"
                          and e is not ev], "exactly one lost event")
        st = self.call("verify.status", {"tenant": "lost"})
        self.assertEqual(st["state"], "lost")
        self.assertGreaterEqual(st["failures"], LOST_AFTER)
        # Restored: verified again on the next (automatic) check.
        t0 = self.publish("lost", [d.format(label="mgeu.lost") for d in DELEGATION],
                          "lost.example.com")
        ev = self.wait_event("lost", "verified", old="lost", timeout=30)
        log("MEASURE restored delegation -> verified by the schedule (lost-interval=1 s): %.1f s"
            % (time.monotonic() - t0))
        self.assertEqual(ev["old"], "lost")
        self.assertEqual(self.call("verify.status", {"tenant": "lost"})["state"], "verified")

    def test_5_cname_one_missing(self):
        self.daemon.add_tenant("beta", "cn.example.com", mode="cname")
        ins = self.call("tenant.instructions", {"tenant": "beta"})["records"]
        want = [r for r in ins if r["required"] and r["type"] == "CNAME"]
        self.assertGreaterEqual(len(want), 2, ins)
        present, missing = want[:-1], want[-1]

        def rel(name):
            self.assertTrue(name.endswith(".example.com"), name)
            return name[:-len(".example.com")]

        recs = ["%s CNAME %s." % (rel(r["name"]), r["value"]) for r in present]
        self.publish("beta", recs, "cn.example.com")
        r = self.now("beta")
        self.assertResult(r, "beta", "cname", False, "pending")
        log("cname: %s" % r["diagnostic"])
        self.assertIn(missing["name"], r["diagnostic"])
        self.assertIn("missing", r["diagnostic"])
        by_name = {c["name"]: c for c in r["checks"]}
        self.assertEqual(sorted(by_name), sorted(w["name"] for w in want))
        for w in present:
            self.assertTrue(by_name[w["name"]]["ok"], by_name[w["name"]])
            self.assertEqual(by_name[w["name"]]["found"], w["value"])
        self.assertFalse(by_name[missing["name"]]["ok"])
        self.assertEqual(by_name[missing["name"]]["expected"], missing["value"])
        # The customer's checklist: one line per required record.
        out = self.checklist("beta")
        for w in present:
            self.assertIn("\u2713 %s CNAME %s" % (w["name"], w["value"]), out)
        self.assertIn("\u2717 %s CNAME %s" % (missing["name"], missing["value"]), out)
        self.assertIn("state: pending", out)
        # Added (in capitals: names compare case-insensitively): verified.
        recs.append("%s CNAME %s." % (rel(missing["name"]), missing["value"].upper()))
        self.publish("beta", recs, "cn.example.com")
        r = self.now("beta")
        self.assertResult(r, "beta", "cname", True, "verified")
        out = self.checklist("beta")
        self.assertNotIn("\u2717", out)
        self.assertEqual(out.count("\u2713"), len(want))
        self.assertIn("state: verified", out)

    def test_6_lame_delegation(self):
        self.daemon.add_tenant("lame", "lame.example.com", subdomain="")
        r = self.now("lame")
        self.assertResult(r, "lame", "ns", False, "pending")
        log("lame: %s" % r["diagnostic"])
        self.assertIn("lame or unreachable", r["diagnostic"])

    def test_7_pending_deadline_failed_rearmed(self):
        self.daemon.add_tenant("ghost", "ghost.example.com")
        ev = self.wait_event("ghost", "failed", old="pending", timeout=PENDING_DEADLINE + 20)
        self.assertEqual(ev["old"], "pending")
        self.assertIn("no delegation at parent", ev["diagnostic"])
        st = self.call("verify.status", {"tenant": "ghost"})
        self.assertEqual(st["state"], "failed")
        self.assertNotIn("next_check", st, "failed tenants are not checked automatically")
        r = self.now("ghost")
        self.assertResult(r, "ghost", "ns", False, "pending")
        self.assertEqual(r["previous_state"], "failed")
        self.assertIsInstance(r["next_check"], int)
        self.wait_event("ghost", "pending", old="failed")

    def test_8_summary_and_restart(self):
        s = self.call("verify.status")
        self.assertEqual(sorted(s["by_state"]), ["failed", "lost", "pending", "verified"])
        self.assertEqual(s["tenants"], sum(s["by_state"].values()))
        self.assertGreaterEqual(s["by_state"]["verified"], 4, s)  # acme mism lost beta
        before = {t: self.call("verify.status", {"tenant": t})["state"]
                  for t in ("acme", "mism", "beta", "wrongns")}
        self.assertEqual(before["wrongns"], "failed", "pending past the deadline")
        self.events.close()
        # Checks on timers and sockets of their own do not hold up a stop.
        t = time.monotonic()
        self.assertEqual(self.daemon.stop(), 0, "clean exit on SIGTERM")
        self.assertLess(time.monotonic() - t, 5)
        self.daemon.start()
        type(self)._subscribe()
        for t, state in before.items():
            self.assertEqual(self.call("verify.status", {"tenant": t})["state"], state, t)
        self.assertIn("plugin=verify", self.daemon.stderr_text())
        self.assertRegex(self.daemon.stderr_text(), r"scheduled tenants=\d+ overdue=\d+")
        # Still working after the restart.
        self.assertEqual(self.now("acme")["state"], "verified")

    def test_9_errors(self):
        c = self.daemon.ctl
        for args, code in (({}, "invalid_args"), ({"tenant": "nobody"}, "unknown_tenant"),
                           ({"tenant": "acme", "x": 1}, "unknown_field")):
            reply = c.request("verify.now", args)
            self.assertIs(reply["ok"], False, reply)
            self.assertEqual(reply["error"]["code"], code, reply)
        # Replies stay in order behind a pending verify.now on one connection.
        c.send_raw(b'{"id":"a","cmd":"verify.now","args":{"tenant":"acme"}}\n'
                   b'{"id":"b","cmd":"status"}\n')
        first, second = c.recv_json(), c.recv_json()
        self.assertEqual((first["id"], second["id"]), ("a", "b"))
        self.assertTrue(first["ok"] and second["ok"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
