#!/usr/bin/python3
"""mailnsctl against a real daemon: output, --json, exit codes."""

import csv
import io
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import HOSTED_ZONE  # noqa: E402

SUBCOMMANDS = ["status", "tenant add", "tenant get", "tenant list", "tenant update",
               "tenant remove", "tenant records", "tenant instructions", "plugin list",
               "dkim keys", "call"]


class MailnsctlTest(harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon()

    def ctl(self, *args, env=None, socket=True, expect=0, binary=False):
        argv = [harness.mailnsctl_path()]
        if socket:
            argv += ["-s", self.d.sock_path]
        argv += list(args)
        e = dict(os.environ)
        e.pop("MAILNS_SOCKET", None)
        if env:
            e.update(env)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=not binary, env=e, timeout=60)
        if expect is not None:
            self.assertEqual(p.returncode, expect, "%s\nstdout:\n%s\nstderr:\n%s"
                             % (argv, p.stdout, p.stderr))
        return p

    def ctl_json(self, *args):
        p = self.ctl("--json", *args)
        try:
            return json.loads(p.stdout)
        except ValueError as e:
            self.fail("--json output does not parse (%s):\n%s" % (e, p.stdout))

    def kv(self, text):
        """Parses aligned "key: value" lines."""
        out = {}
        for line in text.splitlines():
            m = re.match(r"^([^:\s][^:]*):\s+(.*)$", line)
            if m:
                out[m.group(1)] = m.group(2)
        return out

    # --- tenants ---------------------------------------------------------------
    def test_tenant_lifecycle(self):
        p = self.ctl("tenant", "add", "cli-a", "cli-a.example")
        kv = self.kv(p.stdout)
        self.assertEqual(kv.get("tenant"), "cli-a", p.stdout)
        self.assertEqual(kv.get("domain"), "cli-a.example")
        self.assertEqual(kv.get("zone"), "mgeu.cli-a.example")
        self.assertEqual(kv.get("mode"), "ns")
        self.assertNotIn("PRIVATE", p.stdout)
        r = self.d.query("_dmarc.mgeu.cli-a.example", "TXT")
        self.assertDmarc(r, "_dmarc.mgeu.cli-a.example")

        doc = self.ctl_json("tenant", "get", "cli-a")
        self.assertEqual(doc, self.d.call("tenant.get", {"tenant": "cli-a"}))
        self.assertEqual(self.kv(self.ctl("tenant", "get", "cli-a").stdout)["zone"],
                         "mgeu.cli-a.example")

        out = self.ctl("tenant", "list").stdout
        rows = [ln.split() for ln in out.splitlines()]
        self.assertEqual(rows[0], ["TENANT", "DOMAIN", "MODE", "ZONE"])
        self.assertIn(["cli-a", "cli-a.example", "ns", "mgeu.cli-a.example"], rows)
        listed = self.ctl_json("tenant", "list")
        self.assertIn({"tenant": "cli-a", "domain": "cli-a.example", "mode": "ns",
                       "zone": "mgeu.cli-a.example"}, listed["tenants"])

        out = self.ctl("tenant", "records", "cli-a").stdout
        self.assertEqual(out.rstrip("\n"),
                         self.d.call("tenant.records", {"tenant": "cli-a"})["text"].rstrip("\n"))
        self.assertRegex(out, r"(?m)^s1\._domainkey\.mgeu\.cli-a\.example\.\s+3600\s+(IN\s+)?TXT\s")
        recs = self.ctl_json("tenant", "records", "cli-a")
        self.assertEqual(recs["zone"], "mgeu.cli-a.example")

        out = self.ctl("tenant", "instructions", "cli-a", "--format", "csv").stdout
        self.assertEqual(out.splitlines()[0], '"Record name","Record type","Record value"')
        rows = list(csv.reader(io.StringIO(out)))
        self.assertIn("NS", [r[1] for r in rows[1:] if r])
        for fmt in ("text", "zone", "csv"):
            # Byte for byte (CSV may use CRLF line ends, RFC 4180).
            out = self.ctl("tenant", "instructions", "cli-a", "--format=" + fmt,
                           binary=True).stdout
            want = self.d.call("tenant.instructions", {"tenant": "cli-a", "format": fmt})["text"]
            want = want.encode()
            if not want.endswith(b"\n"):
                want += b"\n"
            self.assertEqual(out, want, fmt)
        res = self.ctl_json("tenant", "instructions", "cli-a", "--format", "json")
        self.assertEqual(res["format"], "json")
        self.assertTrue(res["records"])

        p = self.ctl("tenant", "remove", "cli-a")
        self.assertIn("cli-a", p.stdout)
        self.assertRefused(self.d.query("mgeu.cli-a.example", "SOA"))
        p = self.ctl("tenant", "get", "cli-a", expect=1)
        self.assertRegex(p.stderr, r"^error: unknown_tenant: \S")

    def test_add_options(self):
        doc = self.ctl_json("tenant", "add", "cli-b", "cli-b.example", "--mode", "cname",
                            "--set", "dmarc.p=reject",
                            "--set", 'spf.extra=["ip4:198.51.100.9"]')
        self.assertEqual(doc["zone"], "cli-b." + HOSTED_ZONE)
        self.assertEqual(doc["mode"], "cname")
        base = "cli-b." + HOSTED_ZONE
        self.assertDmarc(self.d.query("_dmarc." + base, "TXT"), "_dmarc." + base, "reject")
        self.assertSpf(self.d.query("bounce." + base, "TXT"), "bounce." + base,
                       ["ip4:198.51.100.9"])

        doc = self.ctl_json("tenant", "add", "cli-c", "cli-c.example", "--subdomain", "mail")
        self.assertEqual(doc["zone"], "mail.cli-c.example")

    def test_update_set_unset(self):
        self.ctl("tenant", "add", "cli-u", "cli-u.example")
        zone = "mgeu.cli-u.example"
        self.ctl("tenant", "update", "cli-u", "--set", "dmarc.p=quarantine")
        self.assertDmarc(self.d.query("_dmarc." + zone, "TXT"), "_dmarc." + zone, "quarantine")
        self.ctl("tenant", "update", "cli-u", "--unset", "dmarc.p")
        self.assertDmarc(self.d.query("_dmarc." + zone, "TXT"), "_dmarc." + zone, "none")
        doc = self.ctl_json("tenant", "update", "cli-u", "--subdomain", "bounces")
        self.assertEqual(doc["zone"], "bounces.cli-u.example")
        doc = self.ctl_json("tenant", "update", "cli-u", "--domain", "cli-u2.example")
        self.assertEqual(doc["zone"], "bounces.cli-u2.example")

    def test_notices_on_stderr(self):
        p = self.ctl("tenant", "add", "cli-n", "Sales@CLI-N.example")
        self.assertEqual(self.kv(p.stdout)["domain"], "cli-n.example")
        self.assertIn("notice:", p.stderr)
        doc = self.ctl_json("tenant", "get", "cli-n")
        self.assertEqual(doc["domain"], "cli-n.example")

    def test_list_all(self):
        for i in range(5):
            self.d.add_tenant("cli-l%d" % i, "cli-l%d.example" % i)
        res = self.ctl_json("tenant", "list", "--all", "--limit", "2")
        ids = [t["tenant"] for t in res["tenants"]]
        self.assertEqual(len(ids), len(set(ids)))
        for i in range(5):
            self.assertIn("cli-l%d" % i, ids)
        self.assertIsNone(res["next"])
        self.assertEqual(sorted(ids), sorted(t["tenant"] for t in
                                             self.d.call("tenant.list", {"limit": 1000})["tenants"]))
        res = self.ctl_json("tenant", "list", "--limit", "2")
        self.assertEqual(len(res["tenants"]), 2)
        self.assertIsNotNone(res["next"])
        page2 = self.ctl_json("tenant", "list", "--limit", "2", "--after", res["next"])
        self.assertFalse({t["tenant"] for t in page2["tenants"]}
                         & {t["tenant"] for t in res["tenants"]})

    # --- other commands ----------------------------------------------------------
    def test_status(self):
        kv = self.kv(self.ctl("status").stdout)
        self.assertEqual(kv.get("hosted_zone"), HOSTED_ZONE)
        st = self.ctl_json("status")
        self.assertEqual(st["hosted_zone"], HOSTED_ZONE)
        self.assertIn("127.0.0.1@%d" % self.d.port, st["listen"])
        # Through MAILNS_SOCKET instead of -s.
        p = self.ctl("--json", "status", socket=False, env={"MAILNS_SOCKET": self.d.sock_path})
        self.assertEqual(json.loads(p.stdout)["hosted_zone"], HOSTED_ZONE)
        # Global options after the command.
        p = self.ctl("status", "--json")
        self.assertEqual(json.loads(p.stdout)["plugins"][:4], harness.PLUGINS)

    def test_plugin_list(self):
        out = self.ctl("plugin", "list").stdout
        names = [ln.split()[0] for ln in out.splitlines()[1:] if ln.strip()]
        res = self.ctl_json("plugin", "list")
        self.assertEqual(names, [p["name"] for p in res["plugins"]])
        self.assertEqual(names[:4], harness.PLUGINS)

    def test_dkim_keys(self):
        self.d.add_tenant("cli-k", "cli-k.example")
        out = self.ctl("dkim", "keys", "cli-k").stdout
        self.assertRegex(out, r"(?m)^s1\s+rsa\s+2048\s")
        res = self.ctl_json("dkim", "keys", "cli-k")
        self.assertEqual(res, self.d.call("dkim.keys", {"tenant": "cli-k"}))

    def test_call(self):
        res = self.ctl_json("call", "status")
        self.assertEqual(res["hosted_zone"], HOSTED_ZONE)
        self.d.add_tenant("cli-call", "cli-call.example")
        res = self.ctl_json("call", "tenant.get", '{"tenant": "cli-call"}')
        self.assertEqual(res["zone"], "mgeu.cli-call.example")
        p = self.ctl("call", "no.such.command", expect=1)
        self.assertRegex(p.stderr, r"^error: unknown_command: \S")

    # --- errors and exit codes -----------------------------------------------------
    def test_server_error_exit_1(self):
        self.d.add_tenant("cli-e", "cli-e.example")
        for args, code, req in (
                (["tenant", "add", "cli-e", "other.example"], "tenant_exists",
                 ("tenant.add", {"tenant": "cli-e", "domain": "other.example"})),
                (["tenant", "add", "cli-e2", "a..b"], "invalid_domain",
                 ("tenant.add", {"tenant": "cli-e2", "domain": "a..b"})),
                (["tenant", "get", "nosuch"], "unknown_tenant",
                 ("tenant.get", {"tenant": "nosuch"})),
                (["tenant", "update", "cli-e", "--set", "dmarc.p=block"], "invalid_dmarc",
                 ("tenant.update", {"tenant": "cli-e", "dmarc": {"p": "block"}})),
                (["tenant", "add", "Bad!", "x.example"], "invalid_tenant_id",
                 ("tenant.add", {"tenant": "Bad!", "domain": "x.example"}))):
            with self.subTest(args=args):
                p = self.ctl(*args, expect=1)
                err = self.assertCtlError(self.d, req[0], req[1], code)
                self.assertEqual(p.stderr.splitlines()[0],
                                 "error: %s: %s" % (code, err["message"]))
                self.assertEqual(p.stdout, "")

    def test_missing_socket_exit_3(self):
        missing = os.path.join(self.tmpdir(), "nowhere.sock")
        p = self.ctl("-s", missing, "status", socket=False, expect=3)
        self.assertIn(missing, p.stderr)
        p = self.ctl("status", socket=False, expect=3,
                     env={"MAILNS_SOCKET": missing})
        self.assertIn(missing, p.stderr)
        # Default socket path, relative to the working directory.
        p = subprocess.run([harness.mailnsctl_path(), "status"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, cwd=self.tmpdir(),
                           env={k: v for k, v in os.environ.items() if k != "MAILNS_SOCKET"},
                           timeout=30)
        self.assertEqual(p.returncode, 3)
        self.assertIn("mailns-data/control.sock", p.stderr)

    def test_usage_exit_2(self):
        for args in ([], ["bogus"], ["tenant"], ["tenant", "bogus"], ["tenant", "add", "x"],
                     ["tenant", "get"], ["tenant", "get", "a", "b"],
                     ["tenant", "add", "x", "x.example", "--mode"],
                     ["tenant", "add", "x", "x.example", "--frobnicate"],
                     ["tenant", "add", "x", "x.example", "--set", "novalue"],
                     ["tenant", "add", "x", "x.example", "--set", "nodot=1"],
                     ["tenant", "list", "--limit", "ten"],
                     ["tenant", "instructions", "x", "--format", "xml"],
                     ["call"], ["call", "status", "{not json"], ["call", "status", "[1]"],
                     ["--timeout", "abc", "status"], ["--bogus", "status"]):
            with self.subTest(args=args):
                p = self.ctl(*args, expect=2)
                self.assertTrue(p.stderr.strip(), "a usage error says what is wrong")
        # Nothing was sent: no tenant x exists.
        self.assertCtlError(self.d, "tenant.get", {"tenant": "x"}, "unknown_tenant")

    def test_help(self):
        for args in (["--help"], ["help"], ["-h"], ["tenant", "add", "--help"]):
            with self.subTest(args=args):
                p = self.ctl(*args, socket=False)
                for sub in SUBCOMMANDS:
                    self.assertIn(sub, p.stdout)
                for opt in ("-s", "--json", "--timeout", "--set", "--unset", "--all",
                            "--format", "--after", "--limit", "--mode", "--subdomain",
                            "--domain"):
                    self.assertIn(opt, p.stdout)

    def test_timeout_option(self):
        p = self.ctl("--timeout", "5", "--json", "status")
        self.assertEqual(json.loads(p.stdout)["hosted_zone"], HOSTED_ZONE)


if __name__ == "__main__":
    harness.main()
