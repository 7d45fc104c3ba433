#!/usr/bin/python3
"""UDP size limits: 512 octets without EDNS, the client's EDNS buffer size
(capped at the server's 1232) with it; TC when an answer does not fit, and the
TCP retry gets it whole."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.flags  # noqa: E402
import dns.name  # noqa: E402

import harness  # noqa: E402
from harness import TTL, UDP_PAYLOAD  # noqa: E402

LONG_LABEL = "mail-" + "x" * 45  # 50 octets
LONG_DOMAIN = "a-rather-long-customer-domain-name.example.com"
LONG_ZONE = LONG_LABEL + "." + LONG_DOMAIN


class TruncationMixin:
    def udp(self, name, rdtype, edns=None):
        q = harness.make_query(name, rdtype, edns=edns)
        wire = self.d.udp_wire(q.to_wire())
        resp = harness.parse(wire)
        self.assertEqual(resp.id, q.id)
        self.assertEqual(len(resp.question), 1, "a truncated reply still echoes the question")
        self.assertEqual(resp.question[0].name.labels, dns.name.from_text(name).labels)
        return wire, resp

    def assertWholeDkim(self, resp, name, bits):
        self.assertFalse(resp.flags & dns.flags.TC, "TC must be clear:\n%s" % resp)
        rrset = self.assertAnswer(resp, name, "TXT", TTL)
        self.assertEqual(len(rrset), 1)
        value = harness.txt_value(rrset[0])
        self.assertTrue(value.startswith("v=DKIM1; k=rsa; p="), value)
        self.assertEqual(harness.rsa_key_bits(harness.dkim_public_der(value)), bits)
        return value

    def assertTruncated(self, wire, resp, limit):
        self.assertLessEqual(len(wire), limit)
        self.assertTrue(resp.flags & dns.flags.TC, "TC must be set (%d octets):\n%s"
                        % (len(wire), resp))
        self.assertTrue(resp.flags & dns.flags.QR)
        self.assertFalse(resp.flags & dns.flags.RA)
        # Whatever a truncated answer holds, it must not be a partial RRset passed off
        # as complete: the TXT (the only RRset) cannot fit, so the answer is empty.
        self.assertEqual(resp.answer, [], "the DKIM TXT cannot fit; answer must be empty")


class Rsa2048Test(TruncationMixin, harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon()
        cls.d.add_tenant("acme", "example.com")
        cls.d.add_tenant("longname", LONG_DOMAIN, subdomain=LONG_LABEL)

    def test_short_name_fits_512_without_edns(self):
        name = "s1._domainkey.mgeu.example.com"
        wire, resp = self.udp(name, "TXT")
        self.assertLessEqual(len(wire), 512)
        self.assertEqual(resp.edns, -1)
        v1 = self.assertWholeDkim(resp, name, 2048)
        tcp = self.d.query(name, "TXT", tcp=True)
        self.assertEqual(self.assertWholeDkim(tcp, name, 2048), v1)

    def test_long_name_truncated_without_edns(self):
        name = "s1._domainkey." + LONG_ZONE
        self.assertGreater(len(name), 56 + len("s1._domainkey."))
        wire, resp = self.udp(name, "TXT")
        self.assertTruncated(wire, resp, 512)
        # The client's retry over TCP gets the whole answer.
        tcp = self.d.query(name, "TXT", tcp=True)
        value = self.assertWholeDkim(tcp, name, 2048)
        # With EDNS and 1232 octets it fits over UDP.
        wire, resp = self.udp(name, "TXT", edns=1232)
        self.assertLessEqual(len(wire), 1232)
        self.assertGreater(len(wire), 512)
        self.assertEqual(self.assertWholeDkim(resp, name, 2048), value)
        self.assertEqual(resp.edns, 0)
        self.assertEqual(resp.payload, UDP_PAYLOAD)

    def test_edns_small_buffer_means_512(self):
        # RFC 6891: a requestor's payload below 512 is treated as 512.
        name = "s1._domainkey." + LONG_ZONE
        wire, resp = self.udp(name, "TXT", edns=256)
        self.assertTruncated(wire, resp, 512)
        self.assertEqual(resp.edns, 0, "the truncated reply keeps its OPT record")
        name = "s1._domainkey.mgeu.example.com"
        wire, resp = self.udp(name, "TXT", edns=256)
        self.assertLessEqual(len(wire), 512)
        self.assertWholeDkim(resp, name, 2048)

    def test_other_records_unaffected(self):
        # Small answers at the long name are never truncated.
        wire, resp = self.udp("_dmarc." + LONG_ZONE, "TXT")
        self.assertFalse(resp.flags & dns.flags.TC)
        self.assertDmarc(resp, "_dmarc." + LONG_ZONE)


class Rsa4096Test(TruncationMixin, harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon(conf="# 4096-bit DKIM keys\n[plugin.dkim]\nrsa-bits = 4096\n")
        cls.doc = cls.d.add_tenant("acme", "example.com")

    def test_document_says_4096(self):
        sel = self.d.call("dkim.keys", {"tenant": "acme"})["selectors"]
        self.assertEqual([(s["selector"], s["bits"]) for s in sel], [("s1", 4096)])

    def test_4096_truncated_without_edns(self):
        name = "s1._domainkey.mgeu.example.com"
        wire, resp = self.udp(name, "TXT")
        self.assertTruncated(wire, resp, 512)
        self.assertEqual(resp.edns, -1)
        tcp = self.d.query(name, "TXT", tcp=True)
        value = self.assertWholeDkim(tcp, name, 4096)
        # 4096-bit keys span at least three character-strings.
        self.assertGreaterEqual(len(tcp.answer[0][0].strings), 3)
        wire, resp = self.udp(name, "TXT", edns=1232)
        self.assertLessEqual(len(wire), 1232)
        self.assertEqual(self.assertWholeDkim(resp, name, 4096), value)

    def test_4096_edns_512_truncated(self):
        name = "s1._domainkey.mgeu.example.com"
        wire, resp = self.udp(name, "TXT", edns=512)
        self.assertTruncated(wire, resp, 512)

    def test_4096_edns_4096_capped(self):
        # The client offers more than we do; the answer still fits in our 1232.
        name = "s1._domainkey.mgeu.example.com"
        wire, resp = self.udp(name, "TXT", edns=4096)
        self.assertLessEqual(len(wire), UDP_PAYLOAD)
        self.assertWholeDkim(resp, name, 4096)
        self.assertEqual(resp.payload, UDP_PAYLOAD)


if __name__ == "__main__":
    harness.main()
