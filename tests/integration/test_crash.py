#!/usr/bin/python3
"""Crash safety: SIGKILL at random moments while a client mutates tenants.

A client adds, updates, rotates and removes tenants in a loop over the control
socket; a timer kills mailnsd with SIGKILL after a random delay; the daemon is
restarted on the same data directory and the test checks that

  * every acknowledged mutation is there (tenant.get shows its values);
  * the one in flight at the kill is wholly there or wholly absent: a tenant
    comes with its domain and zone index entries (a second tenant with its
    domain or zone is refused), an absent one leaves neither behind (it can be
    added again), an update's fields change together, a rotation publishes
    both of its keys or neither;
  * DNS matches the store for every tenant: SOA serial = the stored serial and
    never lower than before the kill, SPF/DMARC TXT and MX as stored, every
    published DKIM key under its selector, and no zone for an absent tenant.

The random delays come from a seeded generator; the seed is printed
(MNS_CRASH_SEED=<seed> repeats a run).
"""

import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

KILLS = 30
MAX_TENANTS = 24
CONF = """
[plugin.dkim]
rsa-bits = 1024
key-pool = 4
ed25519 = yes
"""
POLICIES = ("none", "quarantine", "reject")


class Model:
    """What the store must hold: tenant id → fields the test controls."""

    def __init__(self):
        self.tenants = {}  # id → {"domain", "mode", "extra", "p", "rotated"}
        self.absent = {}  # id → domain, known not to exist (removed / lost add)


class CrashTest(harness.MailnsTestCase):
    def setUp(self):
        super().setUp()
        seed = int(os.environ.get("MNS_CRASH_SEED") or time.time_ns() % 1000000007)
        sys.stderr.write("\ncrash test seed: MNS_CRASH_SEED=%d\n" % seed)
        self.seed = seed
        self.rng = random.Random(seed)
        self.serials = {}  # zone → highest SOA serial seen
        self.next_id = 0
        self.kills_in_flight = 0

    # --- the client's operations ---
    def pick_op(self, m):
        ids = sorted(m.tenants)
        r = self.rng.random()
        if (len(ids) < 4 or r < 0.25) and len(ids) + len(m.absent) < MAX_TENANTS:
            self.next_id += 1
            tid = "t%d" % self.next_id
            mode = "cname" if self.next_id % 4 == 0 else "ns"
            return ("add", tid, {"domain": "%s.example" % tid, "mode": mode,
                                 "extra": None, "p": None, "rotated": False})
        if m.absent and r < 0.30:
            tid = sorted(m.absent)[0]
            return ("add", tid, {"domain": m.absent[tid], "mode": "ns",
                                 "extra": None, "p": None, "rotated": False})
        tid = self.rng.choice(ids)
        cur = m.tenants[tid]
        if r < 0.36:
            return ("remove", tid, None)
        if r < 0.46 and not cur["rotated"]:
            return ("rotate", tid, dict(cur, rotated=True))
        new = dict(cur, extra="ip4:198.51.100.%d" % self.rng.randrange(1, 255),
                   p=self.rng.choice(POLICIES))
        return ("update", tid, new)

    @staticmethod
    def request_of(op, tid, new):
        if op == "add":
            return "tenant.add", {"tenant": tid, "domain": new["domain"], "mode": new["mode"]}
        if op == "update":
            return "tenant.update", {"tenant": tid, "spf": {"extra": [new["extra"]]},
                                     "dmarc": {"p": new["p"]}}
        if op == "rotate":
            return "dkim.rotate", {"tenant": tid}
        return "tenant.remove", {"tenant": tid}

    @staticmethod
    def apply(m, op, tid, new):
        if op == "remove":
            m.absent[tid] = m.tenants.pop(tid)["domain"]
        else:
            m.tenants[tid] = new
            m.absent.pop(tid, None)

    def run_until_killed(self, d, m, delay):
        """Mutates until the daemon dies; returns the op in flight (or None)."""
        timer = threading.Timer(delay, lambda: d.send_signal(signal.SIGKILL))
        timer.start()
        inflight = None
        try:
            c = harness.Control(d.sock_path, timeout=30.0)
        except OSError:
            timer.join()
            return None
        try:
            for _ in range(100000):
                op, tid, new = self.pick_op(m)
                cmd, args = self.request_of(op, tid, new)
                inflight = (op, tid, new)
                try:
                    reply = c.request(cmd, args)
                except (OSError, ConnectionError, TimeoutError):
                    break
                inflight = None
                if reply.get("ok") is True:
                    self.apply(m, op, tid, new)
                else:
                    code = reply["error"]["code"]
                    # The only refusal the model allows: a rotation still running.
                    self.assertEqual((op, code), ("rotate", "rotation_in_progress"), reply)
                    m.tenants[tid]["rotated"] = True
        finally:
            c.close()
            timer.join()
        self.assertIsNotNone(d.wait(10), "mailnsd did not die on SIGKILL")
        return inflight

    # --- checks after a restart ---
    def stored(self, d, tid):
        try:
            return d.call("tenant.get", {"tenant": tid})
        except harness.CtlError as e:
            self.assertEqual(e.code, "unknown_tenant", str(e))
            return None

    @staticmethod
    def fields(doc):
        extra = (doc.get("spf") or {}).get("extra")
        return {"extra": extra[0] if extra else None, "p": (doc.get("dmarc") or {}).get("p")}

    def selectors(self, d, tid):
        keys = d.call("dkim.keys", {"tenant": tid})["selectors"]
        return {k["selector"]: k for k in keys if k["state"] in ("active", "published", "retired")}

    def resolve_inflight(self, d, m, inflight):
        op, tid, new = inflight
        doc = self.stored(d, tid)
        if op == "add":
            if doc is not None:
                self.apply(m, op, tid, new)
            else:
                m.absent[tid] = new["domain"]
                m.tenants.pop(tid, None)
        elif op == "remove":
            if doc is None:
                self.apply(m, op, tid, new)
        elif op == "update":
            got = self.fields(doc)
            old = {k: m.tenants[tid][k] for k in ("extra", "p")}
            want = {k: new[k] for k in ("extra", "p")}
            self.assertIn(got, (old, want), "update of %s half applied" % tid)
            if got == want:
                m.tenants[tid] = new
        elif op == "rotate":
            n = len(self.selectors(d, tid))
            self.assertIn(n, (2, 4), "rotation of %s half applied: %d selectors" % (tid, n))
            if n == 4:
                m.tenants[tid]["rotated"] = True

    def check_store_and_dns(self, d, m):
        listed, after = [], None
        for _ in range(100):
            page = d.call("tenant.list", {"after": after, "limit": 1000} if after
                          else {"limit": 1000})
            listed += [t["tenant"] for t in page["tenants"]]
            after = page["next"]
            if after is None:
                break
        self.assertEqual(sorted(listed), sorted(m.tenants), "tenant.list vs acknowledged")
        for tid, want in sorted(m.tenants.items()):
            doc = self.stored(d, tid)
            self.assertIsNotNone(doc, "acknowledged tenant %s lost" % tid)
            self.assertEqual(doc["domain"], want["domain"])
            self.assertEqual(doc["mode"], want["mode"])
            self.assertEqual(self.fields(doc), {"extra": want["extra"], "p": want["p"]},
                             "tenant %s" % tid)
            sels = self.selectors(d, tid)
            self.assertEqual(len(sels), 4 if want["rotated"] else 2, "%s: %s" % (tid, sels))
            # The indexes: another tenant with this domain, or this zone, is refused.
            self.assertCtlError(d, "tenant.add", {"tenant": "probe", "domain": want["domain"]},
                                "duplicate_domain")
            if want["mode"] == "ns":
                self.assertCtlError(d, "tenant.add", {"tenant": "probe", "domain": doc["zone"],
                                                      "subdomain": ""}, "zone_overlap")
            self.check_dns(d, doc, want, sels)
        for tid, domain in sorted(m.absent.items()):
            self.assertIsNone(self.stored(d, tid), "removed tenant %s is back" % tid)
            zone = "mgeu." + domain
            self.assertRefused(d.query(zone, "SOA"))

    def check_dns(self, d, doc, want, sels):
        zone = doc["zone"]
        if doc["mode"] == "ns":
            soa = self.assertAnswer(d.query(zone, "SOA"), zone, "SOA")[0]
            self.assertEqual(soa.serial, doc["serial"], "SOA of %s vs store" % zone)
            spf_at = zone
        else:
            hosted = harness.HOSTED_ZONE
            soa = self.assertAnswer(d.query(hosted, "SOA"), hosted, "SOA")[0]
            self.assertGreaterEqual(soa.serial, doc["serial"], "hosted SOA vs store")
            zone_key = hosted
            spf_at = "bounce." + zone
        key = zone if doc["mode"] == "ns" else zone_key
        self.assertGreaterEqual(soa.serial, self.serials.get(key, 0),
                                "SOA serial of %s went backwards" % key)
        self.serials[key] = soa.serial
        extras = [want["extra"]] if want["extra"] else []
        self.assertSpf(d.query(spf_at, "TXT"), spf_at, extras)
        mx = self.assertAnswer(d.query(spf_at, "MX"), spf_at, "MX")
        self.assertEqual(mx[0].exchange.to_text(), harness.MX_HOST)
        self.assertDmarc(d.query("_dmarc." + zone, "TXT"), "_dmarc." + zone, want["p"] or "none")
        for sel, k in sorted(sels.items()):
            name = "%s._domainkey.%s" % (sel, zone)
            rr = self.assertAnswer(d.query(name, "TXT", edns=1232), name, "TXT")
            tags = dict(harness.dkim_tags(harness.txt_value(rr[0])))
            self.assertEqual(tags["p"], k["public"], name)

    def test_sigkill_at_random_moments(self):
        started = time.monotonic()
        d = self.new_daemon(conf=CONF, log_level="info")
        m = Model()
        in_flight_seen = 0
        for kill in range(KILLS):
            # Mostly while mutating, sometimes right after start (the start-up
            # writes: config fingerprint, serial floor).
            delay = self.rng.choice((0.0, 0.02)) if kill % 7 == 6 else self.rng.uniform(0.03, 0.5)
            inflight = self.run_until_killed(d, m, delay)
            d.close_ctl()
            d.start()
            if inflight is not None:
                in_flight_seen += 1
                self.resolve_inflight(d, m, inflight)
            try:
                self.check_store_and_dns(d, m)
            except AssertionError:
                sys.stderr.write("failed after kill %d (seed %d, in flight %r)\n"
                                 % (kill + 1, self.seed, inflight))
                raise
        sys.stderr.write("kills=%d in-flight=%d tenants=%d removed=%d %.1f s\n"
                         % (KILLS, in_flight_seen, len(m.tenants), len(m.absent),
                            time.monotonic() - started))
        self.assertGreaterEqual(len(m.tenants), 4)


if __name__ == "__main__":
    harness.main()
