#!/usr/bin/python3
"""Malformed queries against the running daemon, over real UDP and TCP: the
net layer (and the transfer layer it asks first) passes them to the answer
function unchanged, so each gets the response tests/unit/dns/test_malformed.c
pins down, or none."""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns.message  # noqa: E402
import dns.tsig  # noqa: E402
import dns.tsigkeyring  # noqa: E402

import harness  # noqa: E402

ID = 0x4d4e
QR, AA, TC, RD, RA, Z, AD, CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020, 0x0010
NOERROR, FORMERR, NOTIMP, REFUSED, NOTAUTH, BADVERS = 0, 1, 4, 5, 9, 16
BADTIME = 18
SRC = os.environ.get("MNS_SOURCE_DIR",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

ZONE = """vendor.example. 3600 SOA ns1.vendor.example. h.vendor.example. 7 3600 600 86400 60
vendor.example. 3600 NS ns1.vendor.example.
ns1.vendor.example. 3600 A 192.0.2.53
mid.vendor.example. 3600 TXT "%s"
""" % ("x" * 250)

CONF = """[server]
identity = ns1.test
version = mailns-test
[xfr]
allow = 127.0.0.0/8
key = xfr-key:hmac-sha256:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0
"""


def hdr(flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", ID, flags, qd, an, ns, ar)


def name(text):
    out = b""
    for label in text.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def q(qname="vendor.example", qtype=6, qclass=1):
    return name(qname) + struct.pack("!HH", qtype, qclass)


def opt(payload=1232, version=0, owner=b"\0", rdata=b""):
    return owner + struct.pack("!HHBBHH", 41, payload, 0, version, 0, len(rdata)) + rdata


COOKIE = struct.pack("!HH", 10, 8) + b"12345678"
DROP = None
# name, message, rcode (DROP: no answer), counts (qd, an, ns, ar), OPT back,
# header bits set, header bits clear.
CASES = [
    ("header shorter than 12 octets", hdr()[:11], DROP, None, False, 0, 0),
    ("QR=1", hdr(QR) + q(), DROP, None, False, 0, 0),
    ("truncated QNAME", hdr() + q()[:6], FORMERR, (0, 0, 0, 0), False, 0, AA),
    ("QDCOUNT 0", hdr(qd=0), FORMERR, (0, 0, 0, 0), False, 0, AA),
    ("QDCOUNT 0, COOKIE only", hdr(qd=0, ar=1) + opt(rdata=COOKIE), FORMERR, (0, 0, 0, 1), True, 0, AA),
    ("QDCOUNT 2", hdr(qd=2) + q() + q("ns1.vendor.example", 1), FORMERR, (0, 0, 0, 0), False, 0, AA),
    ("compression loop", hdr() + b"\xc0\x0c" + struct.pack("!HH", 1, 1), FORMERR, (0, 0, 0, 0), False, 0, AA),
    ("forward pointer", hdr() + b"\xc0\x12" + struct.pack("!HH", 1, 1) + b"\x03abc\0", FORMERR, (0, 0, 0, 0), False, 0, AA),
    ("label of 64", hdr() + bytes([64]) + b"a" * 64 + b"\0" + struct.pack("!HH", 1, 1), FORMERR, (0, 0, 0, 0), False, 0, AA),
    ("name of 257", hdr() + (bytes([63]) + b"a" * 63) * 4 + b"\0" + struct.pack("!HH", 1, 1), FORMERR, (0, 0, 0, 0), False, 0, AA),
    ("IQUERY", hdr(1 << 11) + q(), NOTIMP, (1, 0, 0, 0), False, 0, AA),
    ("STATUS", hdr(2 << 11) + q(), NOTIMP, (1, 0, 0, 0), False, 0, AA),
    ("UPDATE", hdr(5 << 11) + q(), NOTIMP, (1, 0, 0, 0), False, 0, AA),
    ("EDNS version 1", hdr(ar=1) + q() + opt(version=1), BADVERS, (1, 0, 0, 1), True, 0, AA),
    ("two OPT", hdr(ar=2) + q() + opt() + opt(), FORMERR, (1, 0, 0, 1), True, 0, AA),
    ("OPT in answer", hdr(an=1) + q() + opt(), FORMERR, (1, 0, 0, 0), False, 0, AA),
    ("OPT non-root owner", hdr(ar=1) + q() + opt(owner=name("vendor.example")), FORMERR, (1, 0, 0, 0), False, 0, AA),
    ("CH TXT id.server", hdr() + q("id.server", 16, 3), NOERROR, (1, 1, 0, 0), False, AA, 0),
    ("CH TXT version.bind", hdr() + q("version.bind", 16, 3), NOERROR, (1, 1, 0, 0), False, AA, 0),
    ("CH TXT other", hdr() + q("authors.bind", 16, 3), REFUSED, (1, 0, 0, 0), False, 0, AA),
    ("class ANY", hdr() + q(qclass=255), NOERROR, (1, 1, 0, 0), False, AA, 0),
    ("class NONE", hdr() + q(qclass=254), REFUSED, (1, 0, 0, 0), False, 0, AA),
    ("trailing octets", hdr() + q() + b"\0\1", FORMERR, (1, 0, 0, 0), False, 0, AA),
    ("TC=1", hdr(TC) + q(), NOERROR, (1, 1, 0, 0), False, AA, TC),
    ("AD=1", hdr(AD) + q(), NOERROR, (1, 1, 0, 0), False, AA, AD),
    ("CD=1", hdr(CD) + q(), NOERROR, (1, 1, 0, 0), False, AA | CD, 0),
    ("RD=1", hdr(RD) + q(), NOERROR, (1, 1, 0, 0), False, AA | RD, RA),
    ("Z=1", hdr(Z) + q(), NOERROR, (1, 1, 0, 0), False, AA, Z),
    ("type 65000", hdr() + q(qtype=65000), NOERROR, (1, 0, 1, 0), False, AA, 0),
    ("MAILA", hdr() + q(qtype=254), NOTIMP, (1, 0, 0, 0), False, 0, AA),
    ("TKEY", hdr() + q(qtype=249), NOTIMP, (1, 0, 0, 0), False, 0, AA),
    ("QTYPE OPT", hdr() + q(qtype=41), FORMERR, (1, 0, 0, 0), False, 0, AA),
]
UDP_CASES = [
    # 250 octets of TXT fit in 512 but not in 100: the floor is 512.
    ("EDNS payload 100", hdr(ar=1) + q("mid.vendor.example", 16) + opt(payload=100), NOERROR, (1, 1, 0, 1), True, AA, TC),
    # No AXFR over UDP (RFC 5936 4.2): the transfer layer answers FORMERR.
    ("AXFR over UDP", hdr() + q(qtype=252), FORMERR, (1, 0, 0, 0), False, 0, AA),
]


class MalformedTest(harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon(conf=CONF, zones={"vendor.example.zone": ZONE})

    def udp(self, wire, timeout=1.0):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.settimeout(timeout)
        s.sendto(wire, ("127.0.0.1", self.d.port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None

    def tcp(self, wire, timeout=1.0):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(struct.pack("!H", len(wire)) + wire)
        s.settimeout(timeout)
        try:
            return harness.tcp_read_frame(s)
        except (socket.timeout, ConnectionError):
            return None

    def check(self, transport, case, resp):
        label, wire, rcode, counts, has_opt, bits_set, bits_clear = case
        what = "%s over %s" % (label, transport)
        if rcode is DROP:
            self.assertIsNone(resp, what + ": expected no answer")
            return
        self.assertIsNotNone(resp, what + ": no answer")
        m = harness.parse(resp)  # must parse
        rid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", resp[:12])
        self.assertEqual(rid, ID, what)
        self.assertTrue(flags & QR, what)
        self.assertEqual((flags >> 11) & 15, (struct.unpack("!H", wire[2:4])[0] >> 11) & 15, what + ": opcode")
        self.assertEqual(m.rcode(), rcode, what + ": rcode\n%s" % m)
        self.assertEqual((qd, an, ns, ar), counts, what + ": counts\n%s" % m)
        self.assertEqual(m.opt is not None, has_opt, what + ": OPT\n%s" % m)
        if m.opt is not None:
            self.assertEqual(m.edns, 0, what + ": OPT version")
        self.assertEqual(flags & bits_set, bits_set, what + ": flags %04x" % flags)
        self.assertEqual(flags & (bits_clear | RA), 0, what + ": flags %04x" % flags)
        if transport == "UDP":
            self.assertLessEqual(len(resp), 512 if not has_opt else 1232, what)

    def test_udp(self):
        for case in CASES + UDP_CASES:
            self.check("UDP", case, self.udp(case[1]))

    def test_tcp(self):
        for case in CASES:
            self.check("TCP", case, self.tcp(case[1]))
        # The connection survives a malformed message: the next one is answered.
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=5)
        self.addCleanup(s.close)
        for wire in (hdr(qd=0), hdr(QR) + q(), hdr() + q()):
            s.sendall(struct.pack("!H", len(wire)) + wire)
        first = harness.tcp_read_frame(s)
        second = harness.tcp_read_frame(s)
        self.assertEqual(first[3] & 15, FORMERR)
        self.assertEqual(second[3] & 15, NOERROR)

    def test_tsig_badtime_reply_parses(self):
        # A query signed long ago with the configured key (the fuzz seed):
        # NOTAUTH with a TSIG whose error is BADTIME and whose Other Data
        # (6 octets, RFC 8945 5.2.3) has the right length, so it parses.
        with open(os.path.join(SRC, "tests", "fuzz", "corpus", "query", "tsig"), "rb") as f:
            wire = f.read()
        for transport, resp in (("UDP", self.udp(wire)), ("TCP", self.tcp(wire))):
            self.assertIsNotNone(resp, transport)
            self.assertEqual(resp[3] & 15, NOTAUTH, transport)
            self.assertEqual(struct.unpack("!H", resp[10:12])[0], 1, transport)
            error, other_len = struct.unpack("!HH", resp[-10:-6])
            self.assertEqual(error, BADTIME, transport)
            self.assertEqual(other_len, 6, transport)
            server_time = int.from_bytes(resp[-6:], "big")
            self.assertLess(abs(server_time - time.time()), 60, transport)
            # dnspython parses the record and reports the peer's error
            # (a malformed TSIG would be a FormError instead).
            keyring = dns.tsigkeyring.from_text(
                {"xfr-key": ("hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0")})
            with self.assertRaises(dns.tsig.PeerBadTime, msg=transport):
                dns.message.from_wire(resp, keyring=keyring, request_mac=b"")


if __name__ == "__main__":
    harness.main()
