#!/usr/bin/python3
"""The control protocol: every bad input gets its error code, the connection and
the daemon carry on; paging, instructions, removal, plugins, status."""

import csv
import io
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import HOSTED_ZONE, NAMESERVERS, PLUGINS  # noqa: E402

VENDOR_ZONE = """$ORIGIN vendor.example.
$TTL 3600
@       IN SOA  ns1.vendor.example. hostmaster.vendor.example. 2024010101 7200 3600 1209600 300
@       IN NS   ns1.vendor.example.
@       IN NS   ns2.vendor.example.
ns1     IN A    192.0.2.53
ns2     IN A    198.51.100.53
mx      IN A    192.0.2.25
mailns  IN NS   ns1.vendor.example.
mailns  IN NS   ns2.vendor.example.
"""

MIB = 1024 * 1024


def strip_dot(name):
    return name[:-1] if name.endswith(".") else name


class ControlTest(harness.MailnsTestCase):
    """Shares one daemon; every test uses its own tenant ids and domains."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon()
        cls.d.add_tenant("anchor", "anchor.example")

    def still_serving(self, ctl=None):
        """The same connection still works and DNS still answers."""
        c = ctl or self.d.ctl
        status = c.call("status")
        self.assertEqual(status["hosted_zone"], HOSTED_ZONE)
        r = self.d.query("mgeu.anchor.example", "SOA")
        self.assertAnswer(r, "mgeu.anchor.example", "SOA")

    def assertNotStored(self, tenant):
        if isinstance(tenant, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", tenant):
            self.assertCtlError(self.d, "tenant.get", {"tenant": tenant}, "unknown_tenant")

    # --- protocol-level errors ---------------------------------------------
    def test_protocol_errors(self):
        c = harness.Control(self.d.sock_path)
        self.addCleanup(c.close)
        raw_cases = [
            ("truncated JSON", b'{"id": 1, "cmd": "status"', "bad_json"),
            ("not JSON", b"hello world", "bad_json"),
            ("invalid UTF-8", b'{"id": 2, "cmd": "stat\xffus"}', "bad_json"),
            ("trailing garbage", b'{"id": 3, "cmd": "status"} x', "bad_json"),
        ]
        for what, line, code in raw_cases:
            with self.subTest(what):
                c.send_raw(line + b"\n")
                reply = c.recv_json()
                self.assertIs(reply.get("ok"), False, reply)
                self.assertEqual(reply["error"]["code"], code, reply)
                self.assertTrue(reply["error"]["message"])
                self.still_serving(c)
        json_cases = [
            ("array request", [1, 2, 3], "bad_request"),
            ("missing cmd", {"id": 10, "args": {}}, "bad_request"),
            ("numeric cmd", {"id": 11, "cmd": 42, "args": {}}, "bad_request"),
            ("null cmd", {"id": 12, "cmd": None}, "bad_request"),
            ("args array", {"id": 13, "cmd": "status", "args": [1]}, "bad_request"),
            ("args string", {"id": 14, "cmd": "tenant.get", "args": "anchor"}, "bad_request"),
            ("unknown command", {"id": 15, "cmd": "tenant.explode", "args": {}},
             "unknown_command"),
            ("unknown plugin command", {"id": 16, "cmd": "nosuchplugin.run", "args": {}},
             "unknown_command"),
        ]
        for what, req, code in json_cases:
            with self.subTest(what):
                c.send_raw(json.dumps(req).encode() + b"\n")
                reply = c.recv_json()
                self.assertIs(reply.get("ok"), False, reply)
                self.assertEqual(reply["error"]["code"], code, reply)
                if isinstance(req, dict):
                    self.assertEqual(reply.get("id"), req["id"], "id must be echoed")
                self.still_serving(c)

    def test_line_too_long(self):
        c = harness.Control(self.d.sock_path)
        self.addCleanup(c.close)
        line = b'{"id": 77, "cmd": "status", "args": {"pad": "' + b"x" * (2 * MIB) + b'"}}\n'
        c.send_raw(line)
        reply = c.recv_json(timeout=30)
        self.assertIs(reply.get("ok"), False, reply)
        self.assertEqual(reply["error"]["code"], "line_too_long")
        # The rest of the long line is discarded; the next request is answered.
        reply = c.request("status", {}, req_id=78)
        self.assertIs(reply["ok"], True, reply)
        self.still_serving(c)
        # A second oversized line without any newline inside, then a good one.
        c.send_raw(b"y" * (MIB + 100) + b"\n" + b'{"id": 79, "cmd": "status"}\n')
        reply = c.recv_json(timeout=30)
        self.assertEqual(reply["error"]["code"], "line_too_long")
        reply = c.recv_json(timeout=30)
        self.assertEqual(reply.get("id"), 79)
        self.assertIs(reply["ok"], True)

    def test_ids_echoed(self):
        c = harness.Control(self.d.sock_path)
        self.addCleanup(c.close)
        for req_id in ("abc", {"x": [1, 2]}, 0, -5, 2 ** 40, [1, "a"], None):
            with self.subTest(id=req_id):
                reply = c.request("status", {}, req_id=req_id)
                self.assertIs(reply["ok"], True)

    def test_pipelined_requests(self):
        c = harness.Control(self.d.sock_path)
        self.addCleanup(c.close)
        reqs = [{"id": 1, "cmd": "status", "args": {}},
                {"id": 2, "cmd": "tenant.get", "args": {"tenant": "anchor"}},
                {"id": 3, "cmd": "tenant.get", "args": {"tenant": "no-such-tenant"}},
                {"id": 4, "cmd": "plugin.list", "args": {}}]
        c.send_raw(b"".join(json.dumps(r).encode() + b"\n" for r in reqs))
        replies = [c.recv_json() for _ in reqs]
        self.assertEqual([r["id"] for r in replies], [1, 2, 3, 4], "replies in order")
        self.assertEqual([r["ok"] for r in replies], [True, True, False, True])
        self.assertEqual(replies[1]["result"]["tenant"], "anchor")
        self.assertEqual(replies[2]["error"]["code"], "unknown_tenant")

    def test_two_connections(self):
        a = harness.Control(self.d.sock_path)
        b = harness.Control(self.d.sock_path)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        a.send_raw(b'{"id": 1, "cmd": "status"')  # half a request on a
        self.assertEqual(b.call("tenant.get", {"tenant": "anchor"})["tenant"], "anchor")
        a.send_raw(b"}\n")
        self.assertEqual(a.recv_json()["id"], 1)

    def test_missing_args_is_empty(self):
        reply = self.d.ctl.request("status", with_args=False)
        self.assertIs(reply["ok"], True)
        self.assertCtlError(self.d, "tenant.get", {}, "missing_field")

    # --- tenant validation ----------------------------------------------------
    def test_invalid_tenant_id(self):
        for tid in ("Acme!", "a" * 64, "-abc", "", "ac me", "acme_1", "ACME", "acme.x"):
            with self.subTest(tenant=tid):
                self.assertCtlError(self.d, "tenant.add",
                                    {"tenant": tid, "domain": "tid-test.example"},
                                    "invalid_tenant_id")
                self.still_serving()
        doc = self.d.add_tenant("a" * 63, "tid-63.example")
        self.assertEqual(doc["tenant"], "a" * 63)
        self.assertNotStored("-abc")

    def test_invalid_domain(self):
        long_name = ".".join(["a" * 60] * 5)  # 304 octets
        for domain in ("a" * 64 + ".com", "a..b", "-x.com", "x-.com", "localhost", "",
                       long_name, "exa mple.com", "*.example.com", "example.com/path",
                       ".example.com", "ex_ample.com.", "com"):
            with self.subTest(domain=domain):
                err = self.assertCtlError(self.d, "tenant.add",
                                          {"tenant": "dom-bad", "domain": domain},
                                          "invalid_domain")
                self.still_serving()
        self.assertNotStored("dom-bad")
        err = self.assertCtlError(self.d, "tenant.add",
                                  {"tenant": "dom-url", "domain": "https://www.voorbeeld.nl/"},
                                  "invalid_domain")
        self.assertIn("voorbeeld.nl", err["message"], "the message says what to enter")
        self.assertNotStored("dom-url")
        err = self.assertCtlError(self.d, "tenant.add",
                                  {"tenant": "dom-long", "domain": "a" * 64 + ".com"},
                                  "invalid_domain")
        self.assertIn("63", err["message"], "the message names the label limit")

    def test_domain_normalised(self):
        doc = self.d.add_tenant("dom-mail", "Sales@Voorbeeld.NL")
        self.assertEqual(doc["domain"], "voorbeeld.nl")
        self.assertEqual(doc["zone"], "mgeu.voorbeeld.nl")
        self.assertTrue(doc.get("notices"), "normalisation must come with a notice")
        self.assertTrue(all(isinstance(n, str) and n for n in doc["notices"]))
        self.assertDmarc(self.d.query("_dmarc.mgeu.voorbeeld.nl", "TXT"),
                         "_dmarc.mgeu.voorbeeld.nl")

        doc = self.d.add_tenant("dom-upper", "EXAMPLE-UPPER.COM.")
        self.assertEqual(doc["domain"], "example-upper.com")
        self.assertEqual(doc["zone"], "mgeu.example-upper.com")
        self.assertTrue(doc.get("notices"))
        self.assertEqual(self.d.call("tenant.get", {"tenant": "dom-upper"})["domain"],
                         "example-upper.com")

        doc = self.d.add_tenant("dom-idn", "bücher.example")
        self.assertEqual(doc["domain"], "xn--bcher-kva.example")
        self.assertEqual(doc["zone"], "mgeu.xn--bcher-kva.example")
        r = self.d.query("mgeu.xn--bcher-kva.example", "SOA")
        self.assertAnswer(r, "mgeu.xn--bcher-kva.example", "SOA")

        doc = self.d.add_tenant("dom-plain", "plain.example")
        self.assertFalse(doc.get("notices"), "no notice when nothing was normalised")

    def test_invalid_mode_and_subdomain(self):
        for mode in ("mx", "", "NSS", 1):
            with self.subTest(mode=mode):
                code = "wrong_type" if not isinstance(mode, str) else "invalid_mode"
                self.assertCtlError(self.d, "tenant.add",
                                    {"tenant": "mode-bad", "domain": "mode.example",
                                     "mode": mode}, code)
        for sub in ("a.b", "-x", "bad label", "a" * 64, "x_y!"):
            with self.subTest(subdomain=sub):
                self.assertCtlError(self.d, "tenant.add",
                                    {"tenant": "sub-bad", "domain": "sub.example",
                                     "subdomain": sub}, "invalid_subdomain")
        self.assertNotStored("mode-bad")
        self.assertNotStored("sub-bad")
        self.still_serving()
        doc = self.d.add_tenant("sub-own", "sub-own.example", subdomain="mail")
        self.assertEqual(doc["zone"], "mail.sub-own.example")
        self.assertEqual(doc["subdomain"], "mail")
        doc = self.d.add_tenant("sub-none", "sub-none.example", subdomain="")
        self.assertEqual(doc["zone"], "sub-none.example")
        self.assertAnswer(self.d.query("sub-none.example", "MX"), "sub-none.example", "MX")

    def test_duplicates(self):
        self.d.add_tenant("dup1", "dup.example")
        self.assertCtlError(self.d, "tenant.add", {"tenant": "dup1", "domain": "dup-2.example"},
                            "tenant_exists")
        self.assertCtlError(self.d, "tenant.add", {"tenant": "dup2", "domain": "dup.example"},
                            "duplicate_domain")
        self.assertCtlError(self.d, "tenant.add", {"tenant": "dup3", "domain": "DUP.example."},
                            "duplicate_domain")
        self.assertNotStored("dup2")
        self.assertNotStored("dup3")
        self.assertEqual(self.d.call("tenant.get", {"tenant": "dup1"})["domain"], "dup.example")
        self.still_serving()

    def test_zone_overlap_tenants(self):
        self.d.add_tenant("ovl-a", "ovl.example")  # zone mgeu.ovl.example
        cases = [
            # A zone inside another tenant's zone, or equal to it.
            ("ovl-in", "x.mgeu.ovl.example", ""),
            ("ovl-in2", "mgeu.ovl.example", "deeper"),
            ("ovl-same", "mgeu.ovl.example", ""),
        ]
        for tid, domain, sub in cases:
            with self.subTest(domain=domain, subdomain=sub):
                self.assertCtlError(self.d, "tenant.add",
                                    {"tenant": tid, "domain": domain, "subdomain": sub},
                                    "zone_overlap")
                self.assertNotStored(tid)
        # A zone that would contain another tenant's zone.
        self.d.add_tenant("ovl-deep", "deep.ovl2.example")  # zone mgeu.deep.ovl2.example
        self.assertCtlError(self.d, "tenant.add",
                            {"tenant": "ovl-top", "domain": "ovl2.example", "subdomain": ""},
                            "zone_overlap")
        self.assertNotStored("ovl-top")
        self.still_serving()

    def test_zone_overlap_hosted_zone(self):
        for tid, domain, sub in (("hz-1", "foo." + HOSTED_ZONE, ""),
                                 ("hz-2", HOSTED_ZONE, "mgeu"),
                                 ("hz-3", HOSTED_ZONE, ""),
                                 ("hz-4", "vendor.example", "")):
            with self.subTest(domain=domain, subdomain=sub):
                self.assertCtlError(self.d, "tenant.add",
                                    {"tenant": tid, "domain": domain, "subdomain": sub},
                                    "zone_overlap")
                self.assertNotStored(tid)
        self.still_serving()

    def test_zone_overlap_static_zone(self):
        d = self.new_daemon(zones={"vendor.example.zone": VENDOR_ZONE})
        r = d.query("ns1.vendor.example", "A")
        self.assertAnswer(r, "ns1.vendor.example", "A")
        for tid, domain, sub in (("st-1", "customer.vendor.example", "mgeu"),
                                 ("st-2", "vendor.example", "mail"),
                                 ("st-3", "vendor.example", "")):
            with self.subTest(domain=domain, subdomain=sub):
                self.assertCtlError(d, "tenant.add",
                                    {"tenant": tid, "domain": domain, "subdomain": sub},
                                    "zone_overlap")
        d.add_tenant("st-ok", "example.com")
        self.assertAnswer(d.query("ns1.vendor.example", "A"), "ns1.vendor.example", "A")
        self.assertEqual(d.call("status")["tenants"], 1)

    def test_field_errors(self):
        base = {"tenant": "fld", "domain": "fld.example"}
        cases = [
            ({"colour": "red"}, "unknown_field"),
            ({"dkim2": {}}, "unknown_field"),
            ({"dmarc": {"policy": "reject"}}, "unknown_field"),
            ({"tenant": 5}, "wrong_type"),
            ({"domain": ["fld.example"]}, "wrong_type"),
            ({"subdomain": 7}, "wrong_type"),
            ({"dmarc": "reject"}, "wrong_type"),
            ({"spf": ["ip4:192.0.2.1"]}, "wrong_type"),
            ({"spf": {"extra": ["foo:bar"]}}, "invalid_spf"),
            ({"spf": {"extra": ["ip4:300.1.1.1"]}}, "invalid_spf"),
            ({"spf": {"extra": ["include:"]}}, "invalid_spf"),
            ({"dmarc": {"p": "block"}}, "invalid_dmarc"),
            ({"dmarc": {"pct": 150}}, "invalid_dmarc"),
            ({"dkim": {"selectors": []}}, "read_only_field"),
        ]
        for extra, code in cases:
            args = dict(base)
            args.update(extra)
            with self.subTest(args=extra):
                self.assertCtlError(self.d, "tenant.add", args, code)
                self.assertNotStored("fld")
                self.still_serving()
        for missing in ("tenant", "domain"):
            args = dict(base)
            del args[missing]
            with self.subTest(missing=missing):
                err = self.assertCtlError(self.d, "tenant.add", args, "missing_field")
                self.assertIn(missing, err["message"])

    def test_update_errors(self):
        self.d.add_tenant("upd", "upd.example")
        before = self.d.call("tenant.get", {"tenant": "upd"})
        cases = [
            ({"domain": "a..b"}, "invalid_domain"),
            ({"mode": "mx"}, "invalid_mode"),
            ({"subdomain": "a.b"}, "invalid_subdomain"),
            ({"bogus": 1}, "unknown_field"),
            ({"dmarc": {"p": "block"}}, "invalid_dmarc"),
            ({"spf": {"extra": ["foo:bar"]}}, "invalid_spf"),
            ({"dkim": {"selectors": []}}, "read_only_field"),
            ({"domain": "anchor.example"}, "duplicate_domain"),
        ]
        for extra, code in cases:
            args = {"tenant": "upd"}
            args.update(extra)
            with self.subTest(args=extra):
                self.assertCtlError(self.d, "tenant.update", args, code)
        after = self.d.call("tenant.get", {"tenant": "upd"})
        self.assertEqual(after, before, "a refused update changes nothing")
        self.assertCtlError(self.d, "tenant.update", {"tenant": "nosuch", "dmarc": {}},
                            "unknown_tenant")
        self.assertCtlError(self.d, "tenant.update", {"dmarc": {}}, "missing_field")
        self.still_serving()

    def test_unknown_tenant(self):
        for cmd in ("tenant.get", "tenant.remove", "tenant.records", "tenant.instructions",
                    "dkim.keys"):
            with self.subTest(cmd=cmd):
                self.assertCtlError(self.d, cmd, {"tenant": "nosuch"}, "unknown_tenant")
        self.still_serving()

    # --- updates ----------------------------------------------------------------
    def test_update_merges_sections(self):
        self.d.add_tenant("merge", "merge.example")
        zone = "mgeu.merge.example"
        doc = self.d.call("tenant.update", {"tenant": "merge",
                                            "spf": {"extra": ["ip4:198.51.100.7"]},
                                            "dmarc": {"p": "reject"}})
        self.assertEqual(doc["tenant"], "merge")
        spf = self.assertSpf(self.d.query(zone, "TXT"), zone, ["ip4:198.51.100.7"])
        self.assertDmarc(self.d.query("_dmarc." + zone, "TXT"), "_dmarc." + zone, "reject")
        # A shallow merge: setting dmarc.p again leaves spf as it was.
        self.d.call("tenant.update", {"tenant": "merge", "dmarc": {"p": "quarantine"}})
        self.assertTxt(self.d.query(zone, "TXT"), zone, [spf])
        self.assertDmarc(self.d.query("_dmarc." + zone, "TXT"), "_dmarc." + zone, "quarantine")
        # null removes a key: back to the vendor defaults.
        self.d.call("tenant.update", {"tenant": "merge", "spf": {"extra": None},
                                      "dmarc": {"p": None}})
        spf = self.assertSpf(self.d.query(zone, "TXT"), zone)
        self.assertNotIn("198.51.100.7", spf)
        self.assertDmarc(self.d.query("_dmarc." + zone, "TXT"), "_dmarc." + zone, "none")
        # Tenant values for every DMARC tag, exactly.
        self.d.call("tenant.update", {"tenant": "merge", "dmarc": {
            "p": "reject", "rua": "mailto:reports@merge.example"}})
        self.assertTxt(self.d.query("_dmarc." + zone, "TXT"), "_dmarc." + zone,
                       ["v=DMARC1; p=reject; rua=mailto:reports@merge.example"])

    def test_update_moves_zone(self):
        self.d.add_tenant("mover", "mover.example")
        doc = self.d.call("tenant.update", {"tenant": "mover", "subdomain": "mail"})
        self.assertEqual(doc["zone"], "mail.mover.example")
        self.assertRefused(self.d.query("mgeu.mover.example", "SOA"))
        self.assertAnswer(self.d.query("mail.mover.example", "SOA"), "mail.mover.example", "SOA")
        doc = self.d.call("tenant.update", {"tenant": "mover", "mode": "cname"})
        self.assertEqual(doc["zone"], "mover." + HOSTED_ZONE)
        self.assertRefused(self.d.query("mail.mover.example", "SOA"))
        name = "_dmarc.mover." + HOSTED_ZONE
        self.assertDmarc(self.d.query(name, "TXT"), name)

    # --- listing, instructions, removal, plugins, status -----------------------
    def test_instructions_ns(self):
        self.d.add_tenant("instr-ns", "instr.example")
        res = self.d.call("tenant.instructions", {"tenant": "instr-ns"})
        self.assertEqual(res["format"], "json")
        recs = res["records"]
        for r in recs:
            self.assertEqual(set(r), {"name", "type", "value", "required", "purpose"}, r)
        ns = sorted((strip_dot(r["name"]), r["type"], strip_dot(r["value"]), r["required"])
                    for r in recs if r["type"] == "NS")
        self.assertEqual(ns, [("mgeu.instr.example", "NS", strip_dot(n), True)
                              for n in NAMESERVERS])
        self.check_formats("instr-ns", recs)

    def test_instructions_cname(self):
        self.d.add_tenant("instr-cn", "instr-c.example", mode="cname")
        res = self.d.call("tenant.instructions", {"tenant": "instr-cn", "format": "json"})
        recs = res["records"]
        got = {strip_dot(r["name"]): (r["type"], strip_dot(r["value"]), r["required"])
               for r in recs}
        base = "instr-cn." + HOSTED_ZONE
        for label in ("s1._domainkey", "s2._domainkey", "bounce"):
            self.assertEqual(got.get(label + ".instr-c.example"),
                             ("CNAME", label + "." + base, True), got)
        if "_dmarc.instr-c.example" in got:
            self.assertEqual(got["_dmarc.instr-c.example"][:2], ("CNAME", "_dmarc." + base))
            self.assertIs(got["_dmarc.instr-c.example"][2], False, "DMARC CNAME is optional")
        self.check_formats("instr-cn", recs)

    def check_formats(self, tenant, recs):
        res = self.d.call("tenant.instructions", {"tenant": tenant, "format": "csv"})
        self.assertEqual(res["format"], "csv")
        text = res["text"]
        self.assertEqual(text.splitlines()[0], '"Record name","Record type","Record value"')
        rows = list(csv.reader(io.StringIO(text)))
        self.assertEqual(rows[0], ["Record name", "Record type", "Record value"])
        body = sorted((strip_dot(r[0]), r[1], strip_dot(r[2])) for r in rows[1:] if r)
        want = sorted((strip_dot(r["name"]), r["type"], strip_dot(r["value"])) for r in recs)
        self.assertEqual(body, want)

        res = self.d.call("tenant.instructions", {"tenant": tenant, "format": "zone"})
        self.assertEqual(res["format"], "zone")
        lines = [ln.split(";")[0].split() for ln in res["text"].splitlines()]
        lines = [ln for ln in lines if ln and not ln[0].startswith("$")]
        for r in recs:
            name = strip_dot(r["name"]) + "."
            match = [ln for ln in lines if ln[0] == name and r["type"] in ln
                     and strip_dot(ln[-1]) == strip_dot(r["value"])]
            self.assertTrue(match, "%s %s %s not in zone text:\n%s"
                            % (name, r["type"], r["value"], res["text"]))

        res = self.d.call("tenant.instructions", {"tenant": tenant, "format": "text"})
        self.assertEqual(res["format"], "text")
        for r in recs:
            self.assertIn(strip_dot(r["name"]), res["text"])
            self.assertIn(strip_dot(r["value"]), res["text"])
        reply = self.d.ctl.request("tenant.instructions", {"tenant": tenant, "format": "xml"})
        self.assertIs(reply["ok"], False)

    def test_records(self):
        self.d.add_tenant("recs", "recs.example")
        res = self.d.call("tenant.records", {"tenant": "recs"})
        self.assertEqual(res["tenant"], "recs")
        self.assertEqual(res["zone"], "mgeu.recs.example")
        have = {(r["name"], r["type"]) for r in res["records"]}
        for name, rtype in (("mgeu.recs.example.", "SOA"), ("mgeu.recs.example.", "NS"),
                            ("mgeu.recs.example.", "MX"), ("mgeu.recs.example.", "TXT"),
                            ("s1._domainkey.mgeu.recs.example.", "TXT"),
                            ("_dmarc.mgeu.recs.example.", "TXT"),
                            ("_mailns-challenge.mgeu.recs.example.", "TXT")):
            self.assertIn((name, rtype), have)
        for r in res["records"]:
            self.assertEqual(r["ttl"], harness.TTL, r)
        dmarc = [r for r in res["records"] if r["name"] == "_dmarc.mgeu.recs.example."]
        self.assertEqual(len(dmarc), 1)
        self.assertRegex(dmarc[0]["value"], r'^"?v=DMARC1; p=none')
        self.assertIn("_dmarc.mgeu.recs.example.", res["text"])
        self.assertIn("v=DKIM1", res["text"])

    def test_remove(self):
        self.d.add_tenant("rm-ns", "rm.example")
        self.d.add_tenant("rm-cn", "rm-c.example", mode="cname")
        n = self.d.call("status")["tenants"]
        self.assertAnswer(self.d.query("mgeu.rm.example", "SOA"), "mgeu.rm.example", "SOA")
        res = self.d.call("tenant.remove", {"tenant": "rm-ns"})
        self.assertEqual(res, {"tenant": "rm-ns", "removed": True})
        self.assertRefused(self.d.query("mgeu.rm.example", "SOA"))
        self.assertRefused(self.d.query("s1._domainkey.mgeu.rm.example", "TXT"))
        name = "s1._domainkey.rm-cn." + HOSTED_ZONE
        self.assertAnswer(self.d.query(name, "TXT"), name, "TXT")
        self.assertEqual(self.d.call("tenant.remove", {"tenant": "rm-cn"}),
                         {"tenant": "rm-cn", "removed": True})
        self.assertNegative(self.d.query(name, "TXT"), "NXDOMAIN", HOSTED_ZONE)
        self.assertNegative(self.d.query("rm-cn." + HOSTED_ZONE, "A"), "NXDOMAIN", HOSTED_ZONE)
        self.assertEqual(self.d.call("status")["tenants"], n - 2)
        self.assertCtlError(self.d, "tenant.get", {"tenant": "rm-ns"}, "unknown_tenant")
        self.assertCtlError(self.d, "tenant.remove", {"tenant": "rm-ns"}, "unknown_tenant")
        # The domain is free again.
        self.d.add_tenant("rm-again", "rm.example")
        self.assertAnswer(self.d.query("mgeu.rm.example", "SOA"), "mgeu.rm.example", "SOA")

    def test_plugin_list(self):
        res = self.d.call("plugin.list")
        names = [p["name"] for p in res["plugins"]]
        self.assertEqual(names[:len(PLUGINS)], PLUGINS, "the record plugins, in config order")
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(names, self.d.call("status")["plugins"])
        for p in res["plugins"]:
            self.assertIsInstance(p["version"], str)
            self.assertTrue(p["summary"])
            self.assertIsInstance(p["commands"], list)
        dkim = [p for p in res["plugins"] if p["name"] == "dkim"][0]
        self.assertIn("dkim.keys", dkim["commands"])

    def test_status(self):
        st = self.d.call("status")
        self.assertIsInstance(st["version"], str)
        self.assertIsInstance(st["uptime"], (int, float))
        self.assertGreaterEqual(st["uptime"], 0)
        self.assertIsInstance(st["tenants"], int)
        self.assertIsInstance(st["zones"], int)
        self.assertGreaterEqual(st["zones"], 2, "the hosted zone and anchor's zone")
        self.assertEqual(st["plugins"][:len(PLUGINS)], PLUGINS)
        self.assertIn("127.0.0.1@%d" % self.d.port, st["listen"])
        self.assertEqual(st["hosted_zone"], HOSTED_ZONE)
        listed = self.d.call("tenant.list", {"limit": 1000})
        self.assertEqual(st["tenants"], len(listed["tenants"]))


class PagingTest(harness.MailnsTestCase):
    def test_list_paging(self):
        d = self.new_daemon()
        ids = ["t%02d" % i for i in range(25)]
        for i, t in enumerate(ids):
            d.add_tenant(t, "d%02d.example" % i, mode="cname" if i % 5 == 0 else "ns")
        seen, pages, after = [], [], None
        while True:
            args = {"limit": 10}
            if after is not None:
                args["after"] = after
            res = d.call("tenant.list", args)
            pages.append(len(res["tenants"]))
            for row in res["tenants"]:
                self.assertEqual(set(row), {"tenant", "domain", "mode", "zone"}, row)
            seen += [row["tenant"] for row in res["tenants"]]
            after = res["next"]
            if after is None:
                break
            self.assertLess(len(pages), 5, "paging does not end")
        self.assertEqual(pages, [10, 10, 5])
        self.assertEqual(len(seen), len(set(seen)), "no duplicates across pages")
        self.assertEqual(sorted(seen), ids)
        rows = {r["tenant"]: r for r in d.call("tenant.list", {})["tenants"]}
        self.assertEqual(len(rows), 25)
        self.assertEqual(d.call("tenant.list", {})["next"], None)
        self.assertEqual(rows["t00"], {"tenant": "t00", "domain": "d00.example", "mode": "cname",
                                       "zone": "t00." + HOSTED_ZONE})
        self.assertEqual(rows["t01"], {"tenant": "t01", "domain": "d01.example", "mode": "ns",
                                       "zone": "mgeu.d01.example"})
        # Exactly one full page: next may point at the last row, the page after is empty.
        res = d.call("tenant.list", {"limit": 25})
        self.assertEqual(len(res["tenants"]), 25)
        if res["next"] is not None:
            self.assertEqual(d.call("tenant.list", {"after": res["next"]})["tenants"], [])
        for bad in (0, 1001, -1):
            with self.subTest(limit=bad):
                reply = d.ctl.request("tenant.list", {"limit": bad})
                self.assertIs(reply["ok"], False, reply)
        self.assertCtlError(d, "tenant.list", {"limit": "10"}, "wrong_type")


if __name__ == "__main__":
    harness.main()
