#!/usr/bin/python3
"""dkim.import: a tenant created with the operator's own private key.

Keys are made with the openssl command line (PKCS#8 and PKCS#1 RSA, Ed25519),
handed to tenant.add as {"dkim": {"import": {"pem": ..., "selector": ...}}},
then: the public key mailnsd serves in DNS is the one of that private key; a
message signed with it by python3-dkim verifies against mailnsd's answer; bad
keys (garbage, damaged PEM, short RSA, EC, encrypted, wrong selector) are
refused with invalid_dkim and a message that names the problem, and no tenant
is created; the PEM text never appears in any reply or in the log.
"""

import base64
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dkim  # noqa: E402  (python3-dkim)
import dns.rcode  # noqa: E402

import harness  # noqa: E402

CONF = "[plugin.dkim]\nkey-pool = 0\n"
SIGNED_HEADERS = [b"from", b"to", b"subject", b"date"]


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120).stdout


def pem_body(pem):
    """The base64 lines of a PEM text (what must never leak), joined."""
    return "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))


def public_b64(pem):
    """What DKIM's p= carries for an RSA key: base64 of the DER SubjectPublicKeyInfo."""
    der = openssl("pkey", "-pubout", "-outform", "DER", data=pem.encode())
    return base64.b64encode(der).decode()


def der_len(n):
    return bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + \
        n.to_bytes((n.bit_length() + 7) // 8, "big")


def der_ints(der):
    """The INTEGERs of a PKCS#1 RSAPrivateKey SEQUENCE."""
    pos = 1
    ln = der[pos]
    pos += 1 + (ln & 0x7f if ln & 0x80 else 0)
    out = []
    while pos < len(der):
        assert der[pos] == 0x02
        ln = der[pos + 1]
        pos += 2
        if ln & 0x80:
            k = ln & 0x7f
            ln = int.from_bytes(der[pos:pos + k], "big")
            pos += k
        out.append(int.from_bytes(der[pos:pos + ln], "big"))
        pos += ln
    return out


def pkcs1_pem(ints):
    body = b""
    for v in ints:
        raw = v.to_bytes(v.bit_length() // 8 + 1, "big")
        body += b"\x02" + der_len(len(raw)) + raw
    der = b"\x30" + der_len(len(body)) + body
    b64 = base64.b64encode(der).decode()
    return ("-----BEGIN RSA PRIVATE KEY-----\n" +
            "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)) +
            "\n-----END RSA PRIVATE KEY-----\n")


def dkim_tags(txt):
    return dict((k.strip(), v.strip()) for k, v in
                (t.split("=", 1) for t in txt.split(";") if "=" in t))


class DkimImportTest(harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rsa2048 = openssl("genpkey", "-algorithm", "RSA",
                              "-pkeyopt", "rsa_keygen_bits:2048").decode()
        cls.rsa1024_pkcs1 = openssl("genrsa", "-traditional", "1024").decode()
        cls.rsa512 = openssl("genpkey", "-algorithm", "RSA",
                             "-pkeyopt", "rsa_keygen_bits:512").decode()
        cls.ed25519 = openssl("genpkey", "-algorithm", "ED25519").decode()
        cls.ec = openssl("genpkey", "-algorithm", "EC",
                         "-pkeyopt", "ec_paramgen_curve:P-256").decode()
        cls.encrypted = openssl("pkey", "-aes128", "-passout", "pass:secret",
                                data=cls.rsa1024_pkcs1.encode()).decode()
        # A well-formed PKCS#1 key whose CRT exponent dP is wrong.
        ints = der_ints(openssl("rsa", "-traditional", "-outform", "DER",
                                data=cls.rsa1024_pkcs1.encode()))
        ints[6] += 2
        cls.inconsistent = pkcs1_pem(ints)
        cls.secrets = [cls.inconsistent, cls.rsa2048, cls.rsa1024_pkcs1, cls.rsa512, cls.ed25519, cls.ec,
                       cls.encrypted]
        cls.d = cls.class_daemon(conf=CONF)

    _public = {}

    def public_text(self, pem):
        if pem not in self._public:
            try:
                self._public[pem] = base64.b64encode(openssl(
                    "pkey", "-passin", "pass:secret", "-pubout", "-outform", "DER",
                    data=pem.encode())).decode()
            except subprocess.CalledProcessError:
                self._public[pem] = ""
        return self._public[pem]

    def txt(self, name):
        resp = self.d.query(name, "TXT")
        self.assertEqual(resp.rcode(), dns.rcode.NOERROR, "%s: %s" % (name, resp))
        rrs = harness.rrsets(resp.answer, name=name, rdtype="TXT")
        self.assertEqual(len(rrs), 1, resp)
        return b"".join(list(rrs[0])[0].strings).decode()

    def assertNoSecret(self, text):
        for pem in self.secrets:
            body = pem_body(pem)
            public = self.public_text(pem)
            # Any 40-character run of a key's base64 would be a leak, unless
            # it is public (a PKCS#1 key holds the modulus, as p= does).
            for i in range(0, len(body) - 40, 40):
                if body[i:i + 40] not in public:
                    self.assertNotIn(body[i:i + 40], text, "private key material leaked")

    def add(self, tenant, domain, imp, **kw):
        args = {"tenant": tenant, "domain": domain, "dkim": {"import": imp}}
        args.update(kw)
        return self.d.ctl.request("tenant.add", args)

    def test_rsa_pkcs8_served_and_verifies(self):
        reply = self.add("byok", "byok.example", {"pem": self.rsa2048, "selector": "s1"})
        self.assertIs(reply.get("ok"), True, reply)
        self.assertNotIn("tenant byok: imported RSA key is shorter", self.d.stderr_text(),
                         "a 2048-bit key is not weak")
        zone = "mgeu.byok.example"
        tags = dkim_tags(self.txt("s1._domainkey." + zone))
        self.assertEqual(tags.get("k"), "rsa")
        self.assertEqual(tags.get("p"), public_b64(self.rsa2048),
                         "the served key must be the imported one")

        msg = (b"From: billing@byok.example\r\nTo: someone@receiver.example\r\n"
               b"Subject: Invoice\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\n"
               b"Your invoice is attached.\r\n")
        signed = dkim.sign(msg, b"s1", zone.encode(), self.rsa2048.encode(),
                           include_headers=SIGNED_HEADERS) + msg

        def dnsfunc(name, timeout=5):
            name = name.decode() if isinstance(name, bytes) else name
            return self.txt(name.rstrip(".")).encode()
        self.assertTrue(dkim.verify(signed, dnsfunc=dnsfunc, minkey=1024),
                        "a message signed with the imported key must verify")
        self.assertFalse(dkim.verify(signed.replace(b"invoice is", b"invoice was"),
                                     dnsfunc=dnsfunc, minkey=1024))

        # tenant.get shows the key's metadata, never the key.
        get = self.d.ctl.request("tenant.get", {"tenant": "byok"})
        sels = get["result"]["dkim"]["selectors"]
        self.assertEqual([(s["selector"], s["algorithm"], s["bits"], s["state"]) for s in sels],
                         [("s1", "rsa", 2048, "active")])
        rec = self.d.ctl.request("tenant.records", {"tenant": "byok"})
        for r in (reply, get, rec):
            self.assertNoSecret(repr(r))

    def test_pkcs1_on_second_selector(self):
        reply = self.add("pkcs1", "pkcs1.example", {"pem": self.rsa1024_pkcs1, "selector": "s2"})
        self.assertIs(reply.get("ok"), True, reply)
        zone = "mgeu.pkcs1.example"
        tags = dkim_tags(self.txt("s2._domainkey." + zone))
        self.assertEqual(tags.get("p"), public_b64(self.rsa1024_pkcs1))
        resp = self.d.query("s1._domainkey." + zone, "TXT")
        self.assertEqual(resp.rcode(), dns.rcode.NXDOMAIN, "only s2 holds a key")
        self.assertIn("tenant pkcs1: imported RSA key is shorter than 2048",
                      self.d.stderr_text())
        self.assertNoSecret(repr(reply))

    def test_ed25519(self):
        reply = self.add("edkey", "edkey.example", {"pem": self.ed25519})
        self.assertIs(reply.get("ok"), True, reply)
        zone = "mgeu.edkey.example"
        raw = openssl("pkey", "-pubout", "-outform", "DER", data=self.ed25519.encode())[-32:]
        tags = dkim_tags(self.txt("e1._domainkey." + zone))
        self.assertEqual((tags.get("k"), tags.get("p")),
                         ("ed25519", base64.b64encode(raw).decode()))
        # The RSA key every tenant has is generated beside it.
        self.assertEqual(dkim_tags(self.txt("s1._domainkey." + zone)).get("k"), "rsa")
        self.assertNoSecret(repr(reply))

    def test_bad_keys_refused(self):
        damaged = re.sub(r"\n[A-Za-z0-9+/]{20}", "\n!!!!", self.rsa2048, count=3)
        truncated = "\n".join(self.rsa2048.splitlines()[:6]) + "\n-----END PRIVATE KEY-----\n"
        cases = [
            ("garbage", "hello, this is not a key", "dkim.import.pem", "not a PEM"),
            ("damaged", damaged, "dkim.import.pem", "cannot be decoded"),
            ("truncated", truncated, "dkim.import.pem", "cannot be decoded"),
            ("short", self.rsa512, "dkim.import.pem", "512 bits"),
            ("ec", self.ec, "dkim.import.pem", "only RSA and Ed25519"),
            ("encrypted", self.encrypted, "dkim.import.pem", "encrypted"),
            ("inconsistent", self.inconsistent, "dkim.import.pem", "inconsistent"),
            ("public", openssl("pkey", "-pubout", data=self.rsa2048.encode()).decode(),
             "dkim.import.pem", "not a private key"),
        ]
        for i, (what, pem, key, words) in enumerate(cases):
            with self.subTest(what=what):
                reply = self.add("bad%d" % i, "bad%d.example" % i, {"pem": pem})
                self.assertIs(reply.get("ok"), False, reply)
                err = reply["error"]
                self.assertEqual(err.get("code"), "invalid_dkim", reply)
                self.assertEqual(err.get("field"), key, reply)
                self.assertIn(words, err.get("message", ""), reply)
                self.assertNoSecret(repr(reply))
                gone = self.d.ctl.request("tenant.get", {"tenant": "bad%d" % i})
                self.assertIs(gone.get("ok"), False, "a refused add creates nothing")

        shape = [
            ({"pem": self.rsa2048, "selector": "e1"}, "dkim.import.selector", "s1 or s2"),
            ({"pem": 42}, "dkim.import.pem", "PEM string"),
            ("-----BEGIN PRIVATE KEY-----", "dkim.import", "must be an object"),
        ]
        for i, (imp, key, words) in enumerate(shape):
            with self.subTest(imp=key):
                reply = self.add("shape%d" % i, "shape%d.example" % i, imp)
                self.assertEqual(reply["error"].get("code"), "invalid_dkim", reply)
                self.assertEqual(reply["error"].get("field"), key, reply)
                self.assertIn(words, reply["error"]["message"], reply)
                self.assertNoSecret(repr(reply))

        reply = self.add("extra", "extra.example", {"pem": self.rsa2048, "passphrase": "x"})
        self.assertIs(reply.get("ok"), False, reply)
        self.assertEqual(reply["error"].get("code"), "unknown_field", reply)

        # A tenant that already has an RSA key: replacing it is a rotation.
        self.assertIs(self.d.ctl.request("tenant.add", {"tenant": "plain",
                                                        "domain": "plain.example"})["ok"], True)
        reply = self.d.ctl.request("tenant.update", {"tenant": "plain",
                                                     "dkim": {"import": {"pem": self.rsa2048}}})
        self.assertIs(reply.get("ok"), False, reply)
        self.assertIn("already has an RSA key", reply["error"]["message"])
        self.assertNoSecret(repr(reply))
        self.assertNoSecret(self.d.stderr_text())


if __name__ == "__main__":
    harness.main()
