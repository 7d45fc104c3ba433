#!/usr/bin/python3
"""Group commit: tenant.add requests that arrive together share one durable
store commit, and still each ok means "on disk and served".

  * many pipelined adds all get their oks, in request order, with far fewer
    store commits (stats store.commits) than adds;
  * SIGKILL right after the last ok loses none of them (restart: every tenant
    is stored and answered in the DNS);
  * in a pipelined batch a bad add (duplicate domain, existing tenant id)
    fails alone: the others of the batch are stored and served;
  * a read pipelined after an add sees it (the group is committed first).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

# No dkim: key generation is not what is tested here, the store is.
CONF = """[server]
plugins = spf mx dmarc
"""
N = 200


def add_req(rid, tenant, domain):
    return {"id": rid, "cmd": "tenant.add", "args": {"tenant": tenant, "domain": domain}}


def pipeline(ctl, requests, timeout=120.0):
    """Sends every request in one write, returns the replies in arrival order."""
    ctl.send_raw(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
    deadline = time.monotonic() + timeout
    replies = []
    while len(replies) < len(requests):
        replies.append(ctl.recv_json(timeout=max(1.0, deadline - time.monotonic())))
    return replies


class GroupCommitTest(harness.MailnsTestCase):
    def commits(self, d):
        return d.call("stats")["store"]["commits"]

    def assertServed(self, d, domain):
        r = d.query("mgeu." + domain, "SOA")
        self.assertAnswer(r, "mgeu." + domain, "SOA")

    def test_pipelined_adds_batched_and_durable(self):
        d = self.new_daemon(conf=CONF)
        ctl = harness.Control(d.sock_path, timeout=120.0)
        self.addCleanup(ctl.close)

        # 1. N pipelined adds: N oks in order, far fewer commits than adds.
        before = self.commits(d)
        reqs = [add_req(i + 1, "g%d" % i, "g%d.example" % i) for i in range(N)]
        replies = pipeline(ctl, reqs)
        self.assertEqual([r.get("id") for r in replies], [r["id"] for r in reqs])
        bad = [r for r in replies if r.get("ok") is not True]
        self.assertEqual(bad, [])
        used = self.commits(d) - before
        sys.stderr.write("\n%d pipelined adds: %d store commits\n" % (N, used))
        self.assertGreaterEqual(used, 1)
        # At least 8 requests of a connection are handled per loop turn, so
        # at most N/8 groups (plus a spare for a commit of another kind).
        self.assertLessEqual(used, N // 8 + 2)
        for i in (0, N // 2, N - 1):
            self.assertServed(d, "g%d.example" % i)

        # 2. N more, SIGKILL as soon as the last ok is read: all of them stay.
        reqs = [add_req(i + 1, "h%d" % i, "h%d.example" % i) for i in range(N)]
        replies = pipeline(ctl, reqs)
        d.kill9()
        self.assertEqual([r.get("ok") for r in replies], [True] * N)
        ctl.close()
        d.start()
        listed = d.call("tenant.list", {"limit": 1})
        self.assertEqual(listed["total"], 2 * N)
        for i in range(N):
            self.assertEqual(d.call("tenant.get", {"tenant": "h%d" % i})["domain"],
                             "h%d.example" % i)
        for i in (0, N - 1):
            self.assertServed(d, "h%d.example" % i)
            self.assertServed(d, "g%d.example" % i)

    def test_bad_add_fails_alone(self):
        d = self.new_daemon(conf=CONF)
        ctl = harness.Control(d.sock_path, timeout=60.0)
        self.addCleanup(ctl.close)
        d.add_tenant("old", "old.example")
        reqs = [
            add_req(1, "b1", "b1.example"),
            add_req(2, "b2", "b2.example"),
            add_req(3, "b3", "b1.example"),   # domain of b1, same batch
            add_req(4, "b4", "old.example"),  # domain of a stored tenant
            add_req(5, "b2", "b5.example"),   # id of b2, same batch
            add_req(6, "b6", "b6.example"),
            {"id": 7, "cmd": "tenant.get", "args": {"tenant": "b6"}},
        ]
        replies = pipeline(ctl, reqs)
        self.assertEqual([r.get("id") for r in replies], list(range(1, 8)))
        self.assertEqual([r.get("ok") for r in replies],
                         [True, True, False, False, False, True, True])
        self.assertEqual(replies[2]["error"]["code"], "duplicate_domain")
        self.assertEqual(replies[3]["error"]["code"], "duplicate_domain")
        self.assertEqual(replies[4]["error"]["code"], "tenant_exists")
        # The read pipelined after the add saw it.
        self.assertEqual(replies[6]["result"]["domain"], "b6.example")
        for t, dom in (("b1", "b1.example"), ("b2", "b2.example"), ("b6", "b6.example")):
            self.assertEqual(d.call("tenant.get", {"tenant": t})["domain"], dom)
            self.assertServed(d, dom)
        for t in ("b3", "b4"):
            self.assertCtlError(d, "tenant.get", {"tenant": t}, "unknown_tenant")
        r = d.query("mgeu.b5.example", "SOA")
        self.assertNotEqual(r.rcode(), 0, "the failed add's zone is not served")
        # Survives a restart exactly so.
        d.kill9()
        d.start()
        self.assertEqual(d.call("tenant.list", {"limit": 10})["total"], 4)
        self.assertEqual(d.call("tenant.get", {"tenant": "b2"})["domain"], "b2.example")

    def test_pipelined_removes(self):
        d = self.new_daemon(conf=CONF)
        ctl = harness.Control(d.sock_path, timeout=60.0)
        self.addCleanup(ctl.close)
        reqs = [add_req(i + 1, "r%d" % i, "r%d.example" % i) for i in range(20)]
        self.assertEqual([r.get("ok") for r in pipeline(ctl, reqs)], [True] * 20)
        reqs = [{"id": 100 + i, "cmd": "tenant.remove", "args": {"tenant": "r%d" % i}}
                for i in range(10)]
        reqs.append({"id": 200, "cmd": "tenant.remove", "args": {"tenant": "r0"}})
        replies = pipeline(ctl, reqs)
        self.assertEqual([r.get("ok") for r in replies], [True] * 10 + [False])
        self.assertEqual(replies[-1]["error"]["code"], "unknown_tenant")
        r = d.query("mgeu.r3.example", "SOA")
        self.assertNotEqual(r.rcode(), 0, "a removed tenant's zone is withdrawn at its ok")
        self.assertServed(d, "r13.example")
        d.kill9()
        d.start()
        self.assertEqual(d.call("tenant.list", {"limit": 10})["total"], 10)


if __name__ == "__main__":
    harness.main()
