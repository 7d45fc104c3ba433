#!/usr/bin/python3
"""Every record mailnsd publishes, in both delegation modes, over UDP and TCP.

Tenants (embedded defaults):
  acme  ns mode,    domain example.com, subdomain mgeu -> zone mgeu.example.com
  beta  cname mode, domain example.org -> beta.mailns.vendor.example in the hosted zone
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.flags  # noqa: E402
import dns.name  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402

import harness  # noqa: E402
from harness import (DMARC_DEFAULT, HOSTED_ZONE, MX_HOST, MX_PREF, NAMESERVERS,  # noqa: E402
                     NEGATIVE_TTL, SOA_CONTACT, SPF_DEFAULT, TTL, UDP_PAYLOAD)

ZONE = "mgeu.example.com"
CNAME_BASE = "beta." + HOSTED_ZONE


class RecordsTest(harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon()
        cls.acme = cls.d.add_tenant("acme", "example.com")
        cls.beta = cls.d.add_tenant("beta", "example.org", mode="cname")

    def both(self, name, rdtype, **kw):
        """The same query over UDP and over TCP."""
        return [("udp", self.d.query(name, rdtype, **kw)),
                ("tcp", self.d.query(name, rdtype, tcp=True, **kw))]

    # --- the tenant documents -------------------------------------------------
    def test_tenant_documents(self):
        self.assertEqual(self.acme["tenant"], "acme")
        self.assertEqual(self.acme["domain"], "example.com")
        self.assertEqual(self.acme["mode"], "ns")
        self.assertEqual(self.acme["subdomain"], "mgeu")
        self.assertEqual(self.acme["zone"], ZONE)
        self.assertEqual(self.acme["verify"]["state"], "pending")
        self.assertNotIn("notices", self.acme)
        self.assertEqual(self.beta["mode"], "cname")
        self.assertEqual(self.beta["zone"], CNAME_BASE)
        for doc in (self.acme, self.beta):
            for section in ("dkim", "spf", "mx", "dmarc", "verify"):
                self.assertIsInstance(doc[section], dict, section)
            self.assertIsInstance(doc["serial"], int)

    # --- ns mode -------------------------------------------------------------
    def test_ns_soa(self):
        for proto, resp in self.both(ZONE, "SOA"):
            with self.subTest(proto=proto):
                rrset = self.assertAnswer(resp, ZONE, "SOA")
                self.assertEqual(len(rrset), 1)
                soa = rrset[0]
                self.assertEqual(soa.mname, dns.name.from_text(NAMESERVERS[0]))
                self.assertEqual(soa.rname, dns.name.from_text(SOA_CONTACT))
                self.assertEqual(soa.minimum, NEGATIVE_TTL)
                self.assertEqual(soa.serial, self.acme["serial"])

    def test_ns_ns(self):
        for proto, resp in self.both(ZONE, "NS"):
            with self.subTest(proto=proto):
                rrset = self.assertAnswer(resp, ZONE, "NS")
                self.assertEqual(sorted(r.target.to_text() for r in rrset), NAMESERVERS)

    def test_ns_mx(self):
        for proto, resp in self.both(ZONE, "MX"):
            with self.subTest(proto=proto):
                rrset = self.assertAnswer(resp, ZONE, "MX")
                self.assertEqual([(r.preference, r.exchange.to_text()) for r in rrset],
                                 [(MX_PREF, MX_HOST)])

    def test_ns_spf(self):
        for proto, resp in self.both(ZONE, "TXT"):
            with self.subTest(proto=proto):
                self.assertTxt(resp, ZONE, [SPF_DEFAULT])

    def check_dkim(self, rrset):
        self.assertEqual(len(rrset), 1)
        rdata = rrset[0]
        # A 2048-bit key does not fit one character-string: split into <=255 octets.
        self.assertGreaterEqual(len(rdata.strings), 2)
        for s in rdata.strings:
            self.assertLessEqual(len(s), 255)
        value = harness.txt_value(rdata)
        self.assertTrue(value.startswith("v=DKIM1; k=rsa; p="), value)
        tags = harness.dkim_tags(value)
        self.assertEqual([k for k, _ in tags], ["v", "k", "p"])
        der = harness.dkim_public_der(value)
        self.assertEqual(harness.rsa_key_bits(der), 2048)
        return value

    def test_ns_dkim(self):
        name = "s1._domainkey." + ZONE
        values = set()
        for proto, resp in self.both(name, "TXT"):
            with self.subTest(proto=proto):
                values.add(self.check_dkim(self.assertAnswer(resp, name, "TXT")))
        self.assertEqual(len(values), 1, "UDP and TCP must carry the same key")

    def test_dkim_matches_control(self):
        name = "s1._domainkey." + ZONE
        value = harness.txt_value(self.assertAnswer(self.d.query(name, "TXT"), name, "TXT")[0])
        p = dict(harness.dkim_tags(value))["p"]
        keys = self.d.call("dkim.keys", {"tenant": "acme"})
        self.assertEqual(keys["tenant"], "acme")
        sel = [s for s in keys["selectors"] if s["selector"] == "s1"]
        self.assertEqual(len(sel), 1, keys)
        self.assertEqual(sel[0]["algorithm"], "rsa")
        self.assertEqual(sel[0]["bits"], 2048)
        public = re.sub(r"-----[A-Z ]+-----|\s", "", sel[0]["public"])
        self.assertIn(p, public, "dkim.keys public key must be the published one")

    def test_ns_dmarc(self):
        name = "_dmarc." + ZONE
        for proto, resp in self.both(name, "TXT"):
            with self.subTest(proto=proto):
                self.assertTxt(resp, name, [DMARC_DEFAULT])

    def test_ns_challenge(self):
        name = "_mailns-challenge." + ZONE
        token = self.acme["verify"]["token"]
        self.assertIsInstance(token, str)
        self.assertGreaterEqual(len(token), 16, "token should be a random string")
        for proto, resp in self.both(name, "TXT"):
            with self.subTest(proto=proto):
                self.assertTxt(resp, name, [token])

    def test_rd_copied_ra_clear(self):
        resp = self.d.query("s1._domainkey." + ZONE, "TXT", rd=True)
        self.assertTrue(resp.flags & dns.flags.RD, "RD must be copied from the query")
        self.assertFalse(resp.flags & dns.flags.RA, "RA must never be set")
        self.assertTrue(resp.flags & dns.flags.AA)

    # --- cname mode (hosted zone) -------------------------------------------
    def test_hosted_zone_apex(self):
        for proto, resp in self.both(HOSTED_ZONE, "SOA"):
            with self.subTest(proto=proto):
                soa = self.assertAnswer(resp, HOSTED_ZONE, "SOA")[0]
                self.assertEqual(soa.mname, dns.name.from_text(NAMESERVERS[0]))
                self.assertEqual(soa.minimum, NEGATIVE_TTL)
        rrset = self.assertAnswer(self.d.query(HOSTED_ZONE, "NS"), HOSTED_ZONE, "NS")
        self.assertEqual(sorted(r.target.to_text() for r in rrset), NAMESERVERS)

    def test_cname_dkim(self):
        name = "s1._domainkey." + CNAME_BASE
        for proto, resp in self.both(name, "TXT"):
            with self.subTest(proto=proto):
                self.check_dkim(self.assertAnswer(resp, name, "TXT"))

    def test_cname_s2_follows_cname(self):
        s1 = "s1._domainkey." + CNAME_BASE
        s2 = "s2._domainkey." + CNAME_BASE
        for proto, resp in self.both(s2, "TXT"):
            with self.subTest(proto=proto):
                self.assertRcode(resp, "NOERROR")
                self.assertFlags(resp, aa=True)
                self.assertEqual(len(resp.answer), 2, "CNAME then TXT:\n%s" % resp)
                cname, txt = resp.answer
                self.assertEqual(cname.name, dns.name.from_text(s2))
                self.assertEqual(cname.rdtype, dns.rdatatype.CNAME)
                self.assertEqual([r.target.to_text() for r in cname], [s1 + "."])
                self.assertEqual(cname.ttl, TTL)
                self.assertEqual(txt.name, dns.name.from_text(s1))
                self.assertEqual(txt.rdtype, dns.rdatatype.TXT)
                self.check_dkim(txt)

    def test_cname_query_for_cname(self):
        s2 = "s2._domainkey." + CNAME_BASE
        rrset = self.assertAnswer(self.d.query(s2, "CNAME"), s2, "CNAME")
        self.assertEqual([r.target.to_text() for r in rrset],
                         ["s1._domainkey." + CNAME_BASE + "."])

    def test_cname_bounce(self):
        name = "bounce." + CNAME_BASE
        for proto, resp in self.both(name, "MX"):
            with self.subTest(proto=proto):
                rrset = self.assertAnswer(resp, name, "MX")
                self.assertEqual([(r.preference, r.exchange.to_text()) for r in rrset],
                                 [(MX_PREF, MX_HOST)])
        for proto, resp in self.both(name, "TXT"):
            with self.subTest(proto=proto):
                self.assertTxt(resp, name, [SPF_DEFAULT])

    def test_cname_dmarc(self):
        name = "_dmarc." + CNAME_BASE
        for proto, resp in self.both(name, "TXT"):
            with self.subTest(proto=proto):
                self.assertTxt(resp, name, [DMARC_DEFAULT])

    def test_cname_tenant_node_is_not_nxdomain(self):
        # beta.<hosted zone> has children, so it exists: NOERROR/NODATA for A.
        resp = self.d.query(CNAME_BASE, "A")
        self.assertNegative(resp, "NOERROR", HOSTED_ZONE)

    # --- negative answers ----------------------------------------------------
    def test_nxdomain(self):
        for name, zone in (("nonexistent." + ZONE, ZONE),
                           ("s9._domainkey." + ZONE, ZONE),
                           ("x.s1._domainkey." + ZONE, ZONE),
                           ("nx." + CNAME_BASE, HOSTED_ZONE),
                           ("nobody." + HOSTED_ZONE, HOSTED_ZONE)):
            for proto, resp in self.both(name, "A"):
                with self.subTest(name=name, proto=proto):
                    self.assertNegative(resp, "NXDOMAIN", zone)

    def test_nodata(self):
        for name, rdtype, zone in ((ZONE, "A", ZONE), (ZONE, "AAAA", ZONE),
                                   ("s1._domainkey." + ZONE, "A", ZONE),
                                   ("_dmarc." + ZONE, "MX", ZONE),
                                   ("_mailns-challenge." + ZONE, "MX", ZONE),
                                   ("bounce." + CNAME_BASE, "A", HOSTED_ZONE),
                                   ("_dmarc." + CNAME_BASE, "MX", HOSTED_ZONE)):
            for proto, resp in self.both(name, rdtype):
                with self.subTest(name=name, rdtype=rdtype, proto=proto):
                    self.assertNegative(resp, "NOERROR", zone)

    def test_empty_non_terminal(self):
        for name, zone in (("_domainkey." + ZONE, ZONE),
                           ("_domainkey." + CNAME_BASE, HOSTED_ZONE)):
            for rdtype in ("TXT", "A"):
                for proto, resp in self.both(name, rdtype):
                    with self.subTest(name=name, rdtype=rdtype, proto=proto):
                        self.assertNegative(resp, "NOERROR", zone)

    def test_refused_outside(self):
        for name in ("example.com", "www.example.com", "example.org",
                     "s1._domainkey.example.org", "vendor.example", "www.google.com", "."):
            for proto, resp in self.both(name, "A"):
                with self.subTest(name=name, proto=proto):
                    self.assertRefused(resp)
                    self.assertEqual(resp.authority, [])

    # --- query handling -------------------------------------------------------
    def test_case_preserved(self):
        qname = "S1._DomainKey.MGEU.Example.COM"
        for proto, resp in self.both(qname, "TXT"):
            with self.subTest(proto=proto):
                self.assertRcode(resp, "NOERROR")
                self.assertFlags(resp)
                self.assertEqual(resp.question[0].name.labels,
                                 dns.name.from_text(qname).labels)
                self.assertEqual(len(resp.answer), 1)
                # Byte-for-byte: the owner must be exactly the query name as sent.
                self.assertEqual(resp.answer[0].name.labels, dns.name.from_text(qname).labels)
        resp = self.d.query("NoSuch.MGEU.example.COM", "A")
        self.assertEqual(resp.question[0].name.labels,
                         dns.name.from_text("NoSuch.MGEU.example.COM").labels)
        self.assertNegative(resp, "NXDOMAIN", ZONE)

    def test_any_minimal(self):
        for name in (ZONE, "s1._domainkey." + ZONE, "bounce." + CNAME_BASE):
            for proto, resp in self.both(name, "ANY"):
                with self.subTest(name=name, proto=proto):
                    self.assertRcode(resp, "NOERROR")
                    self.assertFlags(resp)
                    self.assertEqual(len(resp.answer), 1,
                                     "ANY must be answered with one RRset (RFC 8482):\n%s"
                                     % resp)
                    self.assertEqual(resp.answer[0].name, dns.name.from_text(name))
        resp = self.d.query(ZONE, "ANY")
        self.assertIn(dns.rdatatype.to_text(resp.answer[0].rdtype),
                      ("SOA", "NS", "MX", "TXT", "HINFO"))

    def test_edns(self):
        resp = self.d.query("s1._domainkey." + ZONE, "TXT", edns=4096)
        self.check_dkim(self.assertAnswer(resp, "s1._domainkey." + ZONE, "TXT"))
        self.assertEqual(resp.edns, 0, "EDNS query must get an OPT record back")
        self.assertEqual(resp.payload, UDP_PAYLOAD, "advertised UDP payload")
        resp = self.d.query("s1._domainkey." + ZONE, "TXT")
        self.assertEqual(resp.edns, -1, "no OPT in the reply to a query without EDNS")

    def test_edns_badvers(self):
        q = harness.make_query(ZONE, "SOA", edns=1232, edns_version=1)
        resp = harness.parse(self.d.udp_wire(q.to_wire()))
        self.assertEqual(resp.rcode(), dns.rcode.BADVERS, "EDNS version 1 -> BADVERS\n%s" % resp)
        self.assertEqual(resp.edns, 0, "BADVERS carries an OPT with the version we support")
        self.assertEqual(resp.answer, [])

    # --- real clients ---------------------------------------------------------
    def run_client(self, argv):
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, "%s failed:\n%s%s" % (argv, p.stdout, p.stderr))
        return p.stdout

    def answer_txt(self, out, name):
        """The TXT data of `name` from a dig/kdig answer section."""
        for line in out.splitlines():
            if line.startswith(";") or not line.strip():
                continue
            fields = line.split(None, 4)
            if len(fields) == 5 and fields[0].lower() == name.lower() + "." \
                    and fields[3] == "TXT":
                self.assertEqual(int(fields[1]), TTL)
                return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', fields[4]))
        self.fail("no TXT for %s in:\n%s" % (name, out))

    def test_dig(self):
        name = "s1._domainkey." + ZONE
        out = self.run_client(["dig", "+norec", "+time=3", "+tries=1", "@127.0.0.1",
                               "-p", str(self.d.port), "TXT", name])
        self.assertRegex(out, r";; flags: qr aa;")
        self.assertIn("status: NOERROR", out)
        self.assertRegex(out, r"ANSWER: 1,")
        value = self.answer_txt(out, name)
        self.assertTrue(value.startswith("v=DKIM1; k=rsa; p="), value)
        self.assertEqual(harness.rsa_key_bits(harness.dkim_public_der(value)), 2048)
        out = self.run_client(["dig", "+norec", "+time=3", "+tries=1", "@127.0.0.1",
                               "-p", str(self.d.port), "A", "example.net"])
        self.assertIn("status: REFUSED", out)
        self.assertRegex(out, r";; flags: qr;")

    def test_kdig(self):
        name = "_mailns-challenge." + ZONE
        for transport in ([], ["+tcp"]):
            with self.subTest(transport=transport):
                out = self.run_client(["kdig", "+norec", "+timeout=3", "+retry=0"] + transport
                                      + ["@127.0.0.1", "-p", str(self.d.port), "TXT", name])
                self.assertRegex(out.lower(), r";; flags: qr aa;")
                self.assertRegex(out, r"status: NOERROR")
                self.assertEqual(self.answer_txt(out, name), self.acme["verify"]["token"])


if __name__ == "__main__":
    harness.main()
