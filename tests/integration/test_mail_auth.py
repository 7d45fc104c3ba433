#!/usr/bin/python3
"""Mail authentication end to end, with real verifiers resolving through mailnsd.

A message signed with the key dkim.export hands out is verified by python3-dkim
(dkimpy), whose DNS lookups go to mailnsd on loopback; python3-spf evaluates
the SPF record for a vendor address and a foreign one; the DMARC record is
parsed and checked for alignment, and the RFC 7489 7.1 report authorisation
record is looked up. Both delegation modes:

  acme   ns mode     example.com  -> zone mgeu.example.com (d=mgeu.example.com)
  beta   cname mode  example.org  -> beta.mailns.vendor.example; the customer's
         own zone is simulated from tenant.instructions (its CNAMEs), so
         s1._domainkey.example.org leads to our key (d=example.org)
  gamma  ns mode     example.net, Ed25519 too, SPF -all, DMARC p=reject

The vendor's static zone vendor.example is served too, so the DMARC report
authorisations for rua=mailto:dmarc@vendor.example are published by mailnsd.
"""

import base64
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dkim  # noqa: E402  (python3-dkim)
import dns.flags  # noqa: E402
import dns.name  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype  # noqa: E402
import spf  # noqa: E402  (python3-spf)

import harness  # noqa: E402
from harness import HOSTED_ZONE  # noqa: E402

VENDOR_ZONE = """$ORIGIN vendor.example.
$TTL 3600
@       IN SOA  ns1.vendor.example. hostmaster.vendor.example. 2024010101 7200 3600 1209600 300
@       IN NS   ns1.vendor.example.
@       IN NS   ns2.vendor.example.
ns1     IN A    192.0.2.53
ns2     IN A    198.51.100.53
mx      IN A    192.0.2.25
"""

CONF = """
[plugin.spf]
mechanisms = ip4:192.0.2.0/24 ip6:2001:db8:5::/48
all = ~all
[plugin.dmarc]
rua = mailto:dmarc@vendor.example
"""

VENDOR_IP = "192.0.2.10"
VENDOR_IP6 = "2001:db8:5::25"
FOREIGN_IP = "203.0.113.9"
SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


# --- DNS as a receiver sees it ----------------------------------------------------

class Resolver:
    """Resolves names the way a receiving MTA's resolver would in this test
    world: the customer's own zone (simulated: records added with add()) and
    everything else from mailnsd on loopback, following CNAMEs in and out.

    lookup() returns the rdatas of the final name, [] for NODATA and None
    for a name that does not exist (NXDOMAIN or REFUSED)."""

    def __init__(self, daemon):
        self.d = daemon
        self.customer = {}  # name -> {rdtype: [rdata]}
        self.queries = []

    def add(self, name, rdtype, text):
        name = name.rstrip(".").lower()
        rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)
        self.customer.setdefault(name, {}).setdefault(rdtype, []).append(rd)

    def add_instructions(self, tenant):
        """Creates what tenant.instructions tells the customer to create."""
        ins = self.d.call("tenant.instructions", {"tenant": tenant, "format": "json"})
        for r in ins["records"]:
            if r["type"] == "CNAME":
                self.add(r["name"], "CNAME", r["value"].rstrip(".") + ".")

    def _ask(self, name, rdtype):
        self.queries.append((name, rdtype))
        resp = self.d.query(name, rdtype, edns=1232)
        if resp.flags & dns.flags.TC:
            resp = self.d.query(name, rdtype, tcp=True)
        return resp

    def lookup(self, name, rdtype):
        name = name.rstrip(".").lower()
        want = dns.rdatatype.from_text(rdtype)
        for _ in range(12):
            if name in self.customer:
                recs = self.customer[name]
                if "CNAME" in recs and rdtype != "CNAME":
                    name = recs["CNAME"][0].target.to_text().rstrip(".").lower()
                    continue
                return list(recs.get(rdtype, []))
            resp = self._ask(name, rdtype)
            rcode = dns.rcode.to_text(resp.rcode())
            if rcode in ("NXDOMAIN", "REFUSED"):
                # mailnsd chases CNAMEs inside its zones: a chain that ends
                # in NXDOMAIN still carries the CNAMEs; nothing to return.
                return None
            if rcode != "NOERROR":
                raise AssertionError("%s %s: %s" % (name, rdtype, rcode))
            target = dns.name.from_text(name)
            for rrset in resp.answer:
                if rrset.rdtype == dns.rdatatype.CNAME and rrset.name == target:
                    target = rrset[0].target
            for rrset in resp.answer:
                if rrset.rdtype == want and rrset.name == target:
                    return list(rrset)
            if target != dns.name.from_text(name):
                name = target.to_text().rstrip(".").lower()  # out of that zone
                continue
            return []
        raise AssertionError("CNAME loop at %s" % name)

    def txt(self, name):
        """The TXT strings of each record at name, joined (as SPF/DKIM/DMARC do)."""
        rrs = self.lookup(name, "TXT")
        return None if rrs is None else [b"".join(r.strings).decode() for r in rrs]

    # python3-dkim: dnsfunc(name, timeout=5) -> the TXT record as bytes, or None.
    def dkim_dnsfunc(self, name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        rrs = self.lookup(name, "TXT")
        if not rrs:
            return None
        return b"".join(rrs[0].strings)

    # python3-spf: DNSLookup(name, qtype, strict, timeout) -> [((name, qtype), data)].
    def spf_lookup(self, name, qtype, strict=True, timeout=30):
        out = []
        for r in self.lookup(name, qtype) or []:
            if qtype in ("A", "AAAA"):
                out.append(((name, qtype), r.address))
            elif qtype == "MX":
                out.append(((name, qtype), (r.preference, r.exchange)))
            elif qtype in ("TXT", "SPF"):
                out.append(((name, qtype), list(r.strings)))
            elif qtype == "PTR":
                out.append(((name, qtype), r.target.to_text(True)))
        return out


class SpfThrough:
    """Points python3-spf at a Resolver for the duration of a with-block
    (spf.DNSLookup is the module's one lookup function)."""

    def __init__(self, resolver):
        self.resolver = resolver

    def __enter__(self):
        self.saved = spf.DNSLookup
        spf.DNSLookup = self.resolver.spf_lookup
        return self

    def __exit__(self, *exc):
        spf.DNSLookup = self.saved
        return False


def spf_check(resolver, ip, sender, helo="mta.vendor.example"):
    with SpfThrough(resolver):
        result, _explanation = spf.check2(i=ip, s=sender, h=helo)
    return result


# --- Messages ---------------------------------------------------------------------

def message(from_domain, subject="Your invoice"):
    return ("From: Billing <billing@%s>\r\n"
            "To: Customer <someone@example.net>\r\n"
            "Subject: %s\r\n"
            "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s.%d@%s>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            "Hello,\r\n\r\nyour invoice is attached.\r\n"
            % (from_domain, subject, subject.replace(" ", "-"), os.getpid(), from_domain)
            ).encode()


def pem_der(pem):
    body = "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))
    return base64.b64decode(body)


def sign(msg, selector, domain, pem, algorithm="rsa"):
    """A DKIM-Signature header for msg, signed with an exported PEM key."""
    if algorithm == "ed25519":
        # PKCS#8 of an Ed25519 key ends with the 32-octet seed (RFC 8410);
        # dkimpy takes that seed in base64.
        key = base64.b64encode(pem_der(pem)[-32:])
        alg = b"ed25519-sha256"
    else:
        key = pem.encode()
        alg = b"rsa-sha256"
    return dkim.sign(msg, selector.encode(), domain.encode(), key,
                     include_headers=SIGNED_HEADERS, signature_algorithm=alg)


def dkim_verify(resolver, signed, idx=0):
    """Verifies signature idx as dkim.verify() does (a failure is False)."""
    d = dkim.DKIM(signed, minkey=1024)
    try:
        return d.verify(idx=idx, dnsfunc=resolver.dkim_dnsfunc)
    except dkim.DKIMException:
        return False


def export_keys(daemon, tenant):
    """dkim.export for one tenant: {selector: (domain, algorithm, pem)} of its active keys."""
    res = daemon.call("dkim.export", {"tenant": tenant})
    keys = {}
    for dom in res["domains"]:
        for k in dom["keys"]:
            keys[k["selector"]] = (dom["domain"], k["algorithm"], k["private"])
    return keys, res


def dmarc_tags(value):
    tags = {}
    for part in value.split(";"):
        part = part.strip()
        if part:
            k, _, v = part.partition("=")
            tags[k.strip()] = v.strip()
    return tags


def org_domain(name):
    """Organisational domain for this test's names (no public suffix list needed:
    every test domain is <label>.<tld>)."""
    return ".".join(name.rstrip(".").split(".")[-2:])


def aligned(a, b, mode):
    return a == b if mode == "s" else org_domain(a) == org_domain(b)


# --- Tests ----------------------------------------------------------------------------

class MailAuthTest(harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon(conf=CONF, zones={"vendor.example.zone": VENDOR_ZONE})
        cls.d.add_tenant("acme", "example.com")
        cls.d.add_tenant("beta", "example.org", mode="cname")
        cls.d.add_tenant("gamma", "example.net", dkim={"ed25519": True},
                         spf={"all": "-all", "extra": ["ip4:198.51.100.7"]},
                         dmarc={"p": "reject", "rua": "mailto:reports@example.net",
                                "ruf": "mailto:forensics@vendor.example"})
        cls.r = Resolver(cls.d)
        cls.r.add_instructions("beta")

    # --- DKIM ----------------------------------------------------------------
    def check_dkim(self, tenant, domain):
        keys, res = export_keys(self.d, tenant)
        self.assertIn("s1", keys, res)
        d, alg, pem = keys["s1"]
        self.assertEqual(d, domain, "signing domain (d=) of %s" % tenant)
        self.assertEqual(alg, "rsa")
        self.assertTrue(pem.startswith("-----BEGIN PRIVATE KEY-----"), pem[:40])
        msg = message(domain)
        signed = sign(msg, "s1", domain, pem) + msg
        self.assertIn(b"d=" + domain.encode(), signed)
        self.assertTrue(dkim_verify(self.r, signed), "DKIM signature of %s must verify" % tenant)
        # A changed body or header fails: the verifier really checks.
        self.assertFalse(dkim_verify(self.r, signed.replace(b"invoice is", b"invoice was")))
        self.assertFalse(dkim_verify(self.r, signed.replace(b"Subject: Your", b"Subject: Our")))
        # Signed for another selector (no key there): fails.
        other = sign(msg, "s9", domain, pem) + msg
        self.assertFalse(dkim_verify(self.r, other))
        return pem

    def test_dkim_ns_mode(self):
        self.r.queries.clear()
        self.check_dkim("acme", "mgeu.example.com")
        self.assertIn(("s1._domainkey.mgeu.example.com", "TXT"), self.r.queries)

    def test_dkim_cname_mode(self):
        # d=example.org: the verifier asks the customer's zone, whose CNAME
        # (from tenant.instructions) leads into our hosted zone.
        self.assertIn("s1._domainkey.example.org", self.r.customer)
        self.r.queries.clear()
        self.check_dkim("beta", "example.org")
        self.assertIn(("s1._domainkey.beta." + HOSTED_ZONE, "TXT"), self.r.queries)
        # The standby selector's CNAME resolves to the same key from day one.
        self.assertEqual(self.r.txt("s2._domainkey.example.org"),
                         self.r.txt("s1._domainkey.example.org"))

    def test_dkim_ed25519(self):
        keys, _ = export_keys(self.d, "gamma")
        self.assertEqual(sorted(keys), ["e1", "s1"])
        domain, alg, pem = keys["e1"]
        self.assertEqual((domain, alg), ("mgeu.example.net", "ed25519"))
        msg = message(domain)
        # Both signatures, as an MTA signing with both keys adds them.
        signed = (sign(msg, "e1", domain, pem, "ed25519")
                  + sign(msg, "s1", domain, keys["s1"][2]) + msg)
        self.assertTrue(dkim_verify(self.r, signed, idx=0), "Ed25519 signature (RFC 8463)")
        self.assertTrue(dkim_verify(self.r, signed, idx=1), "RSA signature")
        self.assertEqual(dkim_tags_of(self.r.txt("e1._domainkey.mgeu.example.net")[0])["k"],
                         "ed25519")

    def test_export_all_tenants(self):
        res = self.d.call("dkim.export")
        domains = {d["domain"]: d for d in res["domains"]}
        self.assertTrue({"mgeu.example.com", "example.org", "mgeu.example.net"} <= set(domains))
        self.assertEqual(domains["example.org"]["mode"], "cname")
        self.assertEqual(domains["example.org"]["tenant"], "beta")
        kt = res["opendkim"]["keytable"]
        st = res["opendkim"]["signingtable"]
        for line in (l for l in kt.splitlines() if l and not l.startswith("#")):
            self.assertRegex(line, r"^[se][12]\._domainkey\.(\S+) \1:[se][12]:/\S+\.pem$")
        self.assertIn("s1._domainkey.example.org example.org:s1:%s/keys/example.org.s1.pem"
                      % res["dir"], kt)
        self.assertIn("*@mgeu.example.net e1._domainkey.mgeu.example.net", st)
        self.assertIn("*@mgeu.example.net s1._domainkey.mgeu.example.net", st)
        self.assertIn("\nexample.org s1\n", res["rspamd"]["selector_map"])
        self.assertIn("\nmgeu.example.com %s/keys/mgeu.example.com.s1.pem\n" % res["dir"],
                      res["rspamd"]["path_map"])
        # Private keys never leave through the other commands.
        for cmd in ("tenant.get", "dkim.keys"):
            text = repr(self.d.call(cmd, {"tenant": "acme"}))
            self.assertNotIn("PRIVATE KEY", text, cmd)

    # --- SPF -----------------------------------------------------------------
    def test_spf_ns_mode(self):
        sender = "bounces+123@mgeu.example.com"
        self.assertEqual(spf_check(self.r, VENDOR_IP, sender), "pass")
        self.assertEqual(spf_check(self.r, VENDOR_IP6, sender), "pass")
        self.assertEqual(spf_check(self.r, FOREIGN_IP, sender), "softfail")  # ~all

    def test_spf_cname_mode(self):
        # MAIL FROM bounce.example.org: the customer's CNAME to our bounce name.
        self.assertIn("bounce.example.org", self.r.customer)
        sender = "bounces+9@bounce.example.org"
        self.assertEqual(spf_check(self.r, VENDOR_IP, sender), "pass")
        self.assertEqual(spf_check(self.r, FOREIGN_IP, sender), "softfail")

    def test_spf_fail_qualifier(self):
        sender = "bounces@mgeu.example.net"
        self.assertEqual(spf_check(self.r, FOREIGN_IP, sender), "fail")  # -all
        self.assertEqual(spf_check(self.r, "198.51.100.7", sender), "pass")  # tenant extra
        self.assertEqual(spf_check(self.r, VENDOR_IP, sender), "pass")

    def test_spf_include_target(self):
        # The vendor's own record in the hosted zone: a customer who also sends
        # from elsewhere includes it in one lookup.
        self.assertEqual(self.r.txt("_spf." + HOSTED_ZONE),
                         ["v=spf1 ip4:192.0.2.0/24 ip6:2001:db8:5::/48 ~all"])
        self.r.add("example.com", "TXT",
                   '"v=spf1 ip4:198.51.100.80 include:_spf.%s -all"' % HOSTED_ZONE)
        self.assertEqual(spf_check(self.r, VENDOR_IP, "ceo@example.com"), "pass")
        self.assertEqual(spf_check(self.r, "198.51.100.80", "ceo@example.com"), "pass")
        self.assertEqual(spf_check(self.r, FOREIGN_IP, "ceo@example.com"), "fail")

    def test_spf_lookup_limit_refused(self):
        extra = ["include:s%d.example.net" % i for i in range(10)] + ["a"]
        err = self.assertCtlError(self.d, "tenant.update",
                                  {"tenant": "acme", "spf": {"extra": extra}}, "invalid_spf")
        self.assertIn("11 DNS lookups", err["message"])
        self.assertIn("include:s0.example.net", err["message"])
        # The record is unchanged.
        self.assertEqual(spf_check(self.r, VENDOR_IP, "x@mgeu.example.com"), "pass")

    # --- DMARC ---------------------------------------------------------------
    def check_dmarc(self, from_domain, policy_domain, expect_p):
        recs = [t for t in self.r.txt("_dmarc." + from_domain) or [] if t.startswith("v=DMARC1")]
        self.assertEqual(len(recs), 1, "one DMARC record for %s" % from_domain)
        tags = dmarc_tags(recs[0])
        self.assertEqual(list(tags)[:2], ["v", "p"], recs[0])
        self.assertEqual(tags["p"], expect_p)
        self.assertIn(tags.get("adkim", "r"), ("r", "s"))
        self.assertIn(tags.get("aspf", "r"), ("r", "s"))
        self.assertTrue(0 <= int(tags.get("pct", "100")) <= 100)
        # External report destinations are authorised (RFC 7489 7.1).
        for key in ("rua", "ruf"):
            for uri in filter(None, tags.get(key, "").split(",")):
                self.assertTrue(uri.startswith("mailto:"), uri)
                dest = uri[len("mailto:"):].split("@", 1)[1].split("!")[0]
                if org_domain(dest) == org_domain(policy_domain):
                    continue
                auth = self.r.txt("%s._report._dmarc.%s" % (policy_domain, dest))
                self.assertIsNotNone(auth, "authorisation for %s at %s" % (policy_domain, dest))
                self.assertTrue(any(a.startswith("v=DMARC1") for a in auth), auth)
        return tags

    def dmarc_pass(self, from_domain, mail_from, ip, signed):
        """DMARC's verdict, as a receiver computes it: DKIM pass with d= aligned
        with From:, or SPF pass for MAIL FROM aligned with From:."""
        tags = dmarc_tags(self.r.txt("_dmarc." + from_domain)[0])
        dkim_ok = dkim_verify(self.r, signed)
        d = re.search(rb"\bd=([^;\s]+)", signed).group(1).decode()
        spf_ok = spf_check(self.r, ip, mail_from) == "pass"
        dkim_aligned = dkim_ok and aligned(d, from_domain, tags.get("adkim", "r"))
        spf_aligned = spf_ok and aligned(mail_from.split("@")[1], from_domain,
                                         tags.get("aspf", "r"))
        return dkim_aligned, spf_aligned

    def test_dmarc_ns_mode(self):
        tags = self.check_dmarc("mgeu.example.com", "mgeu.example.com", "none")
        self.assertEqual(tags["rua"], "mailto:dmarc@vendor.example")
        self.assertEqual(self.r.txt("mgeu.example.com._report._dmarc.vendor.example"),
                         ["v=DMARC1"])
        _, _, pem = export_keys(self.d, "acme")[0]["s1"]
        msg = message("mgeu.example.com")
        signed = sign(msg, "s1", "mgeu.example.com", pem) + msg
        self.assertEqual(self.dmarc_pass("mgeu.example.com", "b@mgeu.example.com", VENDOR_IP,
                                         signed), (True, True))
        # From a foreign server, with a foreign signature: neither aligns.
        foreign = sign(msg, "s1", "elsewhere.example", pem) + msg
        self.assertEqual(self.dmarc_pass("mgeu.example.com", "b@mgeu.example.com", FOREIGN_IP,
                                         foreign), (False, False))

    def test_dmarc_cname_mode(self):
        # The customer's optional _dmarc CNAME points at our record.
        self.assertIn("_dmarc.example.org", self.r.customer)
        self.check_dmarc("example.org", "example.org", "none")
        self.assertEqual(self.r.txt("example.org._report._dmarc.vendor.example"), ["v=DMARC1"])
        _, _, pem = export_keys(self.d, "beta")[0]["s1"]
        msg = message("example.org")
        signed = sign(msg, "s1", "example.org", pem) + msg
        # DKIM aligns strictly (d=example.org), SPF relaxed (bounce.example.org).
        self.assertEqual(self.dmarc_pass("example.org", "b@bounce.example.org", VENDOR_IP,
                                         signed), (True, True))

    def test_dmarc_tenant_policy(self):
        tags = self.check_dmarc("mgeu.example.net", "mgeu.example.net", "reject")
        self.assertEqual(tags["rua"], "mailto:reports@example.net")
        self.assertEqual(tags["ruf"], "mailto:forensics@vendor.example")
        # rua is the customer's own organisation: nothing to authorise.
        self.assertIsNone(self.r.txt("mgeu.example.net._report._dmarc.example.net"))
        self.assertEqual(self.r.txt("mgeu.example.net._report._dmarc.vendor.example"),
                         ["v=DMARC1"])

    def test_dmarc_authorisation_follows_tenant(self):
        self.d.add_tenant("delta", "example.info")
        name = "mgeu.example.info._report._dmarc.vendor.example"
        self.assertEqual(self.r.txt(name), ["v=DMARC1"])
        # Reports to the customer's own domain: the authorisation goes.
        self.d.call("tenant.update", {"tenant": "delta",
                                      "dmarc": {"rua": "mailto:d@example.info"}})
        self.assertIsNone(self.r.txt(name))
        self.d.call("tenant.update", {"tenant": "delta", "dmarc": None})
        self.assertEqual(self.r.txt(name), ["v=DMARC1"])
        self.d.call("tenant.remove", {"tenant": "delta"})
        self.assertIsNone(self.r.txt(name))
        # The other tenants' authorisations stay.
        self.assertEqual(self.r.txt("mgeu.example.com._report._dmarc.vendor.example"),
                         ["v=DMARC1"])


def dkim_tags_of(value):
    return dict(harness.dkim_tags(value))


if __name__ == "__main__":
    harness.main()
