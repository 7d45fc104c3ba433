#!/usr/bin/python3
"""Private keys stay private.

Tenants in both modes get RSA and Ed25519 keys, rotate (the new keys become
active one second later) and are exported; every private key handed out by
dkim.export and written to the export directory is then looked for — and
must be absent — in the tenant.get/list/records/instructions replies, the
dkim.keys/status replies, every event on events.subscribe, every DNS answer
including an AXFR of every zone, and the daemon's debug log. The daemon keeps
its key buffers in memory left out of core dumps (a mapping marked "dd").
"""

import json
import os
import re
import socket
import sys
import time

import dns.query
import dns.rdatatype

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

TENANTS = (("sec-ns", "sec-ns.example", "ns"), ("sec-cn", "sec-cn.example", "cname"))


def pem_secrets(pem):
    """The base64 lines of a PEM private key that carry key material."""
    self_check = "PRIVATE KEY" in pem
    assert self_check, pem[:80]
    lines = [ln.strip() for ln in pem.splitlines() if ln.strip() and "-----" not in ln]
    body = "".join(lines)
    # Ed25519 PKCS#8 is one line: a fixed 16-octet prefix, then the key.
    return [body] + [ln for ln in lines if len(ln) >= 40] + [body[24:]]


class SecretsTest(harness.MailnsTestCase):
    def conf(self, export):
        return ("[server]\nplugins = dkim spf mx dmarc\n"
                "[xfr]\nallow = 127.0.0.0/8\n"
                "[plugin.dkim]\nrsa-bits = 1024\nkey-pool = 2\ned25519 = yes\n"
                "rotation-period = 0\npublish-lead = 1\nexport-dir = %s\n" % export)

    def collect_events(self, ctl, until):
        events = []
        while time.monotonic() < until:
            try:
                line = ctl.recv_line(timeout=max(0.05, until - time.monotonic()))
            except (TimeoutError, socket.timeout):
                break
            events.append(line.decode())
        return events

    def axfr(self, d, zone):
        msgs = dns.query.xfr("127.0.0.1", zone, port=d.port, timeout=10, lifetime=30)
        return "\n".join(m.to_text() for m in msgs)

    def test_private_keys_never_leave_through_other_paths(self):
        w = self.tmpdir("sec")
        export = os.path.join(w, "export")
        d = self.new_daemon(workdir=w, conf=self.conf(export), log_level="debug")
        events = harness.Control(d.sock_path, timeout=10)
        self.addCleanup(events.close)
        self.assertEqual(events.call("events.subscribe"), {"subscribed": True})

        seen = []  # every reply that must not hold a private key
        for tid, domain, mode in TENANTS:
            seen.append(d.add_tenant(tid, domain, mode=mode))
        secrets = set()

        def take_export():
            out = d.call("dkim.export")
            text = json.dumps(out)
            pems = re.findall(r"-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----",
                              text.replace("\\n", "\n"))
            self.assertGreaterEqual(len(pems), 4, text[:400])  # RSA + Ed25519 per tenant
            for pem in pems:
                secrets.update(pem_secrets(pem))

        take_export()
        for tid, _, _ in TENANTS:
            seen.append(d.call("dkim.rotate", {"tenant": tid}))
        # The new keys become active after publish-lead (1 s): export them too.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            states = [s["state"] for tid, _, _ in TENANTS
                      for s in d.call("dkim.keys", {"tenant": tid})["selectors"]]
            if states.count("active") == 4 and states.count("retired") == 4:
                break
            time.sleep(0.2)
        else:
            self.fail("rotation did not complete: %s" % states)
        take_export()
        # The export directory's key files too (written on the loop, soon).
        keydir = os.path.join(export, "keys")
        deadline = time.monotonic() + 20
        files = []
        while time.monotonic() < deadline:
            files = sorted(os.listdir(keydir)) if os.path.isdir(keydir) else []
            if len(files) >= 8:
                break
            time.sleep(0.2)
        self.assertGreaterEqual(len(files), 8, files)
        for f in files:
            with open(os.path.join(keydir, f)) as fh:
                secrets.update(pem_secrets(fh.read()))
        self.assertGreaterEqual(len(secrets), 16)

        # Everything the control socket shows about tenants.
        for tid, _, _ in TENANTS:
            seen.append(d.call("tenant.get", {"tenant": tid}))
            seen.append(d.call("tenant.records", {"tenant": tid}))
            seen.append(d.call("dkim.keys", {"tenant": tid}))
            for fmt in ("json", "zone", "csv", "text"):
                seen.append(d.call("tenant.instructions", {"tenant": tid, "format": fmt}))
            seen.append(d.call("tenant.update", {"tenant": tid, "dmarc": {"p": "reject"}}))
        seen.append(d.call("tenant.list", {"limit": 1000}))
        seen.append(d.call("dkim.status"))
        seen.append(d.call("status"))
        replies = json.dumps(seen)
        event_lines = self.collect_events(events, time.monotonic() + 1.5)
        self.assertTrue(any("dkim.rotation" in e for e in event_lines), event_lines[:5])

        # DNS: every zone transferred in full, and the selectors asked directly.
        zones = [doc["zone"] for doc in seen[:2] if doc["mode"] == "ns"]
        zones += [harness.HOSTED_ZONE, "catalog.invalid"]
        axfr = {z: self.axfr(d, z) for z in zones}
        for z, text in axfr.items():
            self.assertIn("SOA", text, z)
        self.assertIn("k=ed25519", "".join(axfr.values()))
        answers = []
        for doc in seen[:2]:
            for sel in ("s1", "s2", "e1", "e2"):
                r = d.query("%s._domainkey.%s" % (sel, doc["zone"]), "TXT", edns=4096)
                answers.append(r.to_text())

        log = d.stderr_text(all_runs=True)
        self.assertIn("level=debug", log)
        places = {"control replies": replies, "events": "\n".join(event_lines),
                  "DNS answers": "\n".join(answers), "log": log}
        places.update(("AXFR " + z, t) for z, t in axfr.items())
        for where, text in places.items():
            self.assertNotIn("PRIVATE KEY", text, where)
            for s in secrets:
                self.assertNotIn(s, text, "private key material in %s" % where)

        # The key buffers' memory is left out of core dumps.
        # (OpenSSL's secure heap: 1 MiB, core/util/secmem.h.)
        with open("/proc/%d/smaps" % d.pid) as f:
            size, dd_sizes = 0, []
            for ln in f:
                if ln.startswith("Size:"):
                    size = int(ln.split()[1])
                elif ln.startswith("VmFlags:") and "dd" in ln.split()[1:]:
                    dd_sizes.append(size)
        self.assertIn(1024, dd_sizes, "no 1 MiB MADV_DONTDUMP mapping")
        self.assertNotIn("secure memory unavailable", log)


if __name__ == "__main__":
    harness.main()
