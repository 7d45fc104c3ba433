#!/usr/bin/python3
"""Least privilege: started as root, mailnsd binds port 53, opens its control
socket and store, then runs as [server] user/group; the socket gets
control-group and control-mode; key material is private; directories others
may write to are refused.

Needs root (skipped otherwise). Runs as nobody:nogroup and creates a system
group for the control socket, removed in cleanup.
"""

import os
import random
import socket
import stat
import subprocess
import sys
import time
import unittest
import grp
import pwd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

USER, GROUP = "nobody", "nogroup"


def free_addr_53(rng):
    """A 127.x.y.z address whose port 53 is free for UDP and TCP."""
    for _ in range(50):
        addr = "127.%d.%d.%d" % (rng.randrange(100, 250), rng.randrange(1, 250),
                                 rng.randrange(2, 250))
        socks = []
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind((addr, 53))
            return addr
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise unittest.SkipTest("no free 127.x.y.z@53")


def ids(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


class PrivilegeTest(harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if os.geteuid() != 0:
            raise unittest.SkipTest("dropping privileges needs root (uid %d)" % os.geteuid())
        try:
            cls.uid = pwd.getpwnam(USER).pw_uid
            cls.gid = grp.getgrnam(GROUP).gr_gid
        except KeyError:
            raise unittest.SkipTest("no %s:%s on this machine" % (USER, GROUP))
        cls.ctl_group = "mnsctl%d" % random.randrange(10000, 99999)
        r = subprocess.run(["groupadd", "--system", cls.ctl_group], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise unittest.SkipTest("groupadd failed: %s" % r.stdout)
        cls.ctl_gid = grp.getgrnam(cls.ctl_group).gr_gid

    @classmethod
    def tearDownClass(cls):
        try:
            subprocess.run(["groupdel", cls.ctl_group], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        finally:
            super().tearDownClass()

    def workdir(self):
        w = self.tmpdir("priv")
        os.chmod(w, 0o711)  # the dropped user reaches its data directory below
        return w

    def test_drops_to_user_and_keeps_working(self):
        rng = random.Random()
        addr = free_addr_53(rng)
        w = self.workdir()
        export = os.path.join(w, "data", "dkim")
        conf = ("[server]\nuser = %s\ngroup = %s\ncontrol-group = %s\ncontrol-mode = 0660\n"
                "plugins = dkim spf mx dmarc\n"
                "[plugin.dkim]\nrsa-bits = 1024\nkey-pool = 2\nexport-dir = %s\n"
                % (USER, GROUP, self.ctl_group, export))
        d = self.new_daemon(workdir=w, conf=conf, extra_args=["--listen", "%s@53" % addr])

        self.assertEqual(ids(d.pid, "Uid"), [self.uid] * 4)
        self.assertEqual(ids(d.pid, "Gid"), [self.gid] * 4)
        self.assertNotIn(0, ids(d.pid, "Groups") or [-1])
        self.assertIn("running as user %s" % USER, d.stderr_text())

        # Mutations still work: the store belongs to the user.
        doc = d.add_tenant("priv1", "priv1.example")
        doc = d.call("tenant.update", {"tenant": "priv1", "dmarc": {"p": "reject"}})
        zone = doc["zone"]
        # Port 53 was bound before the drop and answers.
        q = harness.make_query(zone, "SOA")
        resp = harness.parse(harness.udp_exchange(53, q.to_wire(), 5.0, host=addr))
        soa = self.assertAnswer(resp, zone, "SOA")[0]
        self.assertEqual(soa.serial, doc["serial"])
        resp = harness.parse(harness.tcp_exchange(53, harness.make_query(
            "_dmarc." + zone, "TXT").to_wire(), 5.0, host=addr))
        self.assertDmarc(resp, "_dmarc." + zone, "reject")

        # The control socket: owner the user, group control-group, mode 0660.
        st = os.stat(d.sock_path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual((st.st_uid, st.st_gid), (self.uid, self.ctl_gid))
        # Data directory 0700, LMDB files 0600, all the user's.
        st = os.stat(d.data_dir)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o700, self.uid))
        for name in ("data.mdb", "lock.mdb"):
            st = os.stat(os.path.join(d.data_dir, name))
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o600, self.uid), name)
        # The DKIM export, written by the dropped daemon: 0700 / 0600, the user's.
        keyfile = os.path.join(export, "keys", "%s.s1.pem" % zone)
        deadline = time.monotonic() + 20
        while not os.path.exists(keyfile) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(os.path.exists(keyfile), d.tail())
        for path, mode in ((export, 0o700), (os.path.join(export, "keys"), 0o700),
                           (keyfile, 0o600), (os.path.join(export, "KeyTable"), 0o600)):
            st = os.stat(path)
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (mode, self.uid), path)

        # A restart (as root again) on the user's store.
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertEqual(ids(d.pid, "Uid"), [self.uid] * 4)
        self.assertEqual(d.call("tenant.get", {"tenant": "priv1"})["dmarc"], {"p": "reject"})
        d.add_tenant("priv2", "priv2.example")

    def refused(self, conf, *expected, workdir=None, data=None):
        d = self.new_daemon(start=False, workdir=workdir or self.workdir(), conf=conf, data=data)
        d.start(wait=False)
        self.assertEqual(d.wait(20), 1, d.tail())
        log = d.stderr_text()
        for text in expected:
            self.assertIn(text, log)
        return d

    def test_unknown_user_or_group_is_refused(self):
        self.refused("[server]\nuser = mns-no-such-user\n", "no user named 'mns-no-such-user'")
        self.refused("[server]\nuser = %s\ngroup = mns-no-such-group\n" % USER,
                     "no group named 'mns-no-such-group'")
        self.refused("[server]\ncontrol-group = mns-no-such-group\n",
                     "control-group: no group named")
        self.refused("[server]\nuser = root\n", "is root")
        self.refused("[server]\ngroup = %s\n" % GROUP, "group: needs user")

    def test_unreachable_data_directory_is_refused(self):
        w = self.tmpdir("priv")  # 0700 root: nobody cannot reach data/ below it
        self.refused("[server]\nuser = %s\n" % USER,
                     "user %s cannot use the data directory" % USER, workdir=w)

    def test_world_writable_directories(self):
        # The control socket's directory: refused, naming the path...
        w = self.workdir()
        open_dir = os.path.join(w, "open")
        os.mkdir(open_dir)
        os.chmod(open_dir, 0o777)
        d = self.new_daemon(start=False, workdir=w, conf="")
        d.sock_path = os.path.join(open_dir, "control.sock")
        d.start(wait=False)
        self.assertEqual(d.wait(20), 1)
        self.assertIn("control socket directory %s is writable by everyone" % open_dir,
                      d.stderr_text())
        # ... unless sticky (/tmp-like: nobody else can remove or replace our socket).
        os.chmod(open_dir, 0o1777)
        d.start()
        self.assertIn("writable by everyone (sticky)", d.stderr_text())
        self.assertEqual(d.stop(), 0)
        # The data directory: refused, sticky or not.
        for mode in (0o777, 0o1777):
            data = os.path.join(w, "data%o" % mode)
            os.mkdir(data)
            os.chmod(data, mode)
            self.refused("", "data directory %s is writable by everyone" % data, workdir=w,
                         data=data)


if __name__ == "__main__":
    unittest.main(verbosity=2)
