#!/usr/bin/python3
"""The tenant store survives kill -9; serials only go up; private keys never leak."""

import json
import os
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

ZONE = "mgeu.example.com"
CZONE = "beta." + harness.HOSTED_ZONE
# Base64 of DER private keys (PKCS#1 "MIIEo/MIIEp", PKCS#8 "MIIEv"/"MIIEu" for RSA-2048).
PRIVATE_MARKERS = ("PRIVATE KEY", "MIIEvQ", "MIIEvg", "MIIEuw", "MIIEpA", "MIIEow", "MIIEog")


def snapshot(d):
    """Everything DNS shows for the two tenants, as comparable text."""
    out = {}
    for name, rdtype in ((ZONE, "SOA"), (ZONE, "NS"), (ZONE, "MX"), (ZONE, "TXT"),
                         ("s1._domainkey." + ZONE, "TXT"), ("_dmarc." + ZONE, "TXT"),
                         ("_mailns-challenge." + ZONE, "TXT"),
                         ("s1._domainkey." + CZONE, "TXT"), ("s2._domainkey." + CZONE, "TXT"),
                         ("bounce." + CZONE, "MX"), ("bounce." + CZONE, "TXT"),
                         ("_dmarc." + CZONE, "TXT")):
        r = d.query(name, rdtype)
        out[(name, rdtype)] = (r.rcode(), sorted(rr.to_text() for rr in r.answer))
    return out


class PersistenceTest(harness.MailnsTestCase):
    def soa_serial(self, d, zone=ZONE):
        r = d.query(zone, "SOA")
        return self.assertAnswer(r, zone, "SOA")[0].serial

    def test_kill9_restart_serves_same_records(self):
        d = self.new_daemon()
        acme = d.add_tenant("acme", "example.com")
        beta = d.add_tenant("beta", "example.org", mode="cname")
        before = snapshot(d)
        for key, (rcode, answer) in before.items():
            self.assertEqual(rcode, 0, key)
            self.assertTrue(answer, key)
        serial = self.soa_serial(d)
        self.assertEqual(serial, acme["serial"])

        # kill -9 right after the ok: the mutation must already be durable.
        self.assertEqual(d.kill9(), -9)
        d.start()
        self.assertEqual(snapshot(d), before)
        self.assertEqual(self.soa_serial(d), serial)
        for doc in (acme, beta):
            again = d.call("tenant.get", {"tenant": doc["tenant"]})
            for k in ("tenant", "domain", "mode", "zone", "serial", "created", "dkim", "verify"):
                self.assertEqual(again.get(k), doc.get(k), k)
        status = d.call("status")
        self.assertEqual(status["tenants"], 2)

    def test_add_then_immediate_kill(self):
        d = self.new_daemon()
        for i in range(5):
            d.add_tenant("t%d" % i, "d%d.example.net" % i)
        d.kill9()
        d.start()
        listed = d.call("tenant.list", {})["tenants"]
        self.assertEqual(sorted(t["tenant"] for t in listed), ["t%d" % i for i in range(5)])
        for i in range(5):
            r = d.query("_dmarc.mgeu.d%d.example.net" % i, "TXT")
            self.assertDmarc(r, "_dmarc.mgeu.d%d.example.net" % i)

    def test_serial_increases(self):
        d = self.new_daemon()
        doc = d.add_tenant("acme", "example.com")
        s0 = self.soa_serial(d)
        self.assertEqual(s0, doc["serial"])
        up = d.call("tenant.update", {"tenant": "acme", "dmarc": {"p": "reject"}})
        s1 = self.soa_serial(d)
        self.assertGreater(s1, s0, "SOA serial must increase on tenant.update")
        self.assertEqual(up["serial"], s1)
        self.assertDmarc(d.query("_dmarc." + ZONE, "TXT"), "_dmarc." + ZONE, "reject")
        # Serials never go back, across restarts too.
        d.kill9()
        d.start()
        self.assertEqual(self.soa_serial(d), s1)
        d.call("tenant.update", {"tenant": "acme", "dmarc": {"p": None}})
        s2 = self.soa_serial(d)
        self.assertGreater(s2, s1)
        self.assertDmarc(d.query("_dmarc." + ZONE, "TXT"), "_dmarc." + ZONE, "none")

    def test_serial_not_reused_after_readd(self):
        # A secondary may still hold the removed zone: a re-added zone must not
        # start below the serial it had (DESIGN.md: serials never go backwards).
        d = self.new_daemon()
        d.add_tenant("acme", "example.com")
        d.call("tenant.update", {"tenant": "acme", "dmarc": {"p": "reject"}})
        d.call("tenant.update", {"tenant": "acme", "dmarc": {"p": "quarantine"}})
        s = self.soa_serial(d)
        d.call("tenant.remove", {"tenant": "acme"})
        self.assertRefused(d.query(ZONE, "SOA"))
        d.add_tenant("acme", "example.com")
        self.assertGreater(self.soa_serial(d), s)

    def test_data_dir_mode(self):
        d = self.new_daemon()
        st = os.stat(d.data_dir)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700,
                         "data dir mode is %o" % stat.S_IMODE(st.st_mode))
        # An existing data dir keeps working after a restart.
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertEqual(stat.S_IMODE(os.stat(d.data_dir).st_mode), 0o700)

    def test_no_private_key_material(self):
        d = self.new_daemon()
        d.add_tenant("acme", "example.com")
        d.add_tenant("beta", "example.org", mode="cname")
        texts = []
        for t in ("acme", "beta"):
            texts.append(json.dumps(d.call("tenant.get", {"tenant": t})))
            texts.append(json.dumps(d.call("tenant.records", {"tenant": t})))
            texts.append(json.dumps(d.call("dkim.keys", {"tenant": t})))
            for fmt in ("json", "zone", "csv", "text"):
                texts.append(json.dumps(d.call("tenant.instructions",
                                               {"tenant": t, "format": fmt})))
        texts.append(json.dumps(d.call("tenant.update", {"tenant": "acme",
                                                         "dmarc": {"p": "quarantine"}})))
        texts.append(json.dumps(d.call("tenant.list", {})))
        for name in ("s1._domainkey." + ZONE, "s1._domainkey." + CZONE, ZONE):
            p = subprocess.run(["dig", "+norec", "+time=3", "+tries=1", "@127.0.0.1", "-p",
                                str(d.port), "ANY", name], stdout=subprocess.PIPE, text=True,
                               timeout=30)
            texts.append(p.stdout)
            p = subprocess.run(["dig", "+norec", "+time=3", "+tries=1", "@127.0.0.1", "-p",
                                str(d.port), "TXT", name], stdout=subprocess.PIPE, text=True,
                               timeout=30)
            self.assertIn("v=DKIM1" if "_domainkey" in name else "v=spf1", p.stdout)
            texts.append(p.stdout)
        d.call("tenant.remove", {"tenant": "beta"})
        self.assertEqual(d.stop(), 0)
        texts.append(d.stderr_text(all_runs=True))
        for i, text in enumerate(texts):
            for marker in PRIVATE_MARKERS:
                self.assertNotIn(marker, text, "private key material in output #%d" % i)


if __name__ == "__main__":
    harness.main()
