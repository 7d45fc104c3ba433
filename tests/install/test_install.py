#!/usr/bin/python3
"""Install test: a separate build installed into a temporary prefix, then the
installed daemon run the way the systemd unit runs it.

  1. cmake -DCMAKE_INSTALL_PREFIX=<tmp>/prefix -DMNS_TESTS=OFF, build, install;
  2. the layout: sbin/mailnsd, bin/mailnsctl, plugins, etc/mailns/mailns.conf
     with the installed paths, the example zone, docs, unit, sysusers/tmpfiles;
  3. systemd-analyze verify on the installed unit (its ExecStart exists now),
     systemd-sysusers --dry-run and systemd-tmpfiles --create on the entries;
  4. only the listen port of the installed config is changed (to a free
     loopback port); the installed mailnsd runs with --foreground alone (as
     ExecStart does) and serves the static zone from etc/mailns/zones;
  5. the installed mailnsctl, with no -s, finds the installed control socket,
     adds a tenant, and DNS answers for it; SIGTERM stops it cleanly;
  6. the build tree's mailnsd, without -c, still ignores the installed config;
  7. installing again keeps the edited config;
  8. docker/Dockerfile's runtime package list is what the binaries link;
  9. the container's privilege model: a non-root user binds port 53 with the
     file capability cap_net_bind_service on mailnsd, and not without it.

Run by tools/check (first pass): python3 tests/install/test_install.py
MNS_KEEP_TMP=1 keeps the temporary directory.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))

import harness  # noqa: E402

PLUGINS = ("dkim", "spf", "mx", "dmarc", "verify")


def read(path):
    with open(path) as f:
        return f.read()


def run(cmd, **kw):
    kw.setdefault("timeout", 600)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError("%s exited %d:\n%s" % (" ".join(cmd), p.returncode, p.stdout[-4000:]))
    return p.stdout


class InstallTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mns-install-", dir="/tmp")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        cls.build = os.path.join(cls.tmp, "build")
        t0 = time.monotonic()
        run(["cmake", "-S", SOURCE_DIR, "-B", cls.build, "-DMNS_TESTS=OFF", "-DMNS_WERROR=ON",
             "-DCMAKE_INSTALL_PREFIX=" + cls.prefix])
        run(["cmake", "--build", cls.build, "-j%d" % (os.cpu_count() or 2)], timeout=1200)
        cls.install_log = run(["cmake", "--install", cls.build])
        sys.stderr.write("install test: configure+build+install %.1f s\n" % (time.monotonic() - t0))

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("MNS_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def p(self, *parts):
        return os.path.join(self.prefix, *parts)

    # --- layout -----------------------------------------------------------
    def test_1_layout(self):
        for f in ("sbin/mailnsd", "bin/mailnsctl"):
            self.assertTrue(os.access(self.p(f), os.X_OK), f)
        for name in PLUGINS:
            self.assertTrue(os.path.isfile(self.p("lib/mailns/plugins/%s.so" % name)), name)
        for f in ("etc/mailns/mailns.conf", "etc/mailns/zones/vendor.example.zone",
                  "share/doc/mailns/README.md", "share/doc/mailns/LICENSE",
                  "share/doc/mailns/mailns.conf", "share/doc/mailns/plugins/dkim/README.md",
                  "lib/systemd/system/mailnsd.service", "lib/sysusers.d/mailns.conf",
                  "lib/tmpfiles.d/mailns.conf"):
            self.assertTrue(os.path.isfile(self.p(f)), f)
        conf = read(self.p("etc/mailns/mailns.conf"))
        self.assertIn("\nlisten = 127.0.0.1@53\n", conf)
        self.assertIn("\ndata = %s\n" % self.p("var/lib/mailns"), conf)
        self.assertIn("\ncontrol = %s\n" % self.p("var/run/mailns/control.sock"), conf)
        self.assertIn("\nzones = %s\n" % self.p("etc/mailns/zones"), conf)
        self.assertNotIn("mailns-data", conf)
        self.assertEqual(conf, read(self.p("share/doc/mailns/mailns.conf")))
        unit = read(self.p("lib/systemd/system/mailnsd.service"))
        self.assertIn("\nExecStart=%s --foreground\n" % self.p("sbin/mailnsd"), unit)
        self.assertIn("\nType=notify\n", unit)
        self.assertIn("\nReadWritePaths=%s %s\n" % (self.p("var/lib/mailns"),
                                                     self.p("var/run/mailns")), unit)

    def test_2_systemd_files(self):
        # verify resolves ExecStart= and checks every directive; it does not
        # need systemd as PID 1, nor the mailns user (User= is not looked up).
        # Unknown or misspelt directives are only warnings: any output fails.
        unit = self.p("lib/systemd/system/mailnsd.service")
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", unit],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        self.assertEqual((p.returncode, p.stdout), (0, ""))
        # The unit as configured for prefix /usr (RuntimeDirectory=,
        # StateDirectory= appear only there); ExecStart= pointed at the binary
        # installed above, since /usr/sbin/mailnsd is not installed here.
        usr = os.path.join(self.tmp, "build-usr")
        run(["cmake", "-S", SOURCE_DIR, "-B", usr, "-DMNS_TESTS=OFF", "-DCMAKE_INSTALL_PREFIX=/usr"])
        text = read(os.path.join(usr, "dist", "mailnsd.service"))
        for line in ("RuntimeDirectory=mailns", "StateDirectory=mailns",
                     "ReadWritePaths=/var/lib/mailns /run/mailns",
                     "ExecStart=/usr/sbin/mailnsd --foreground"):
            self.assertIn("\n%s\n" % line, text)
        usr_unit = os.path.join(self.tmp, "usr", "mailnsd.service")
        os.makedirs(os.path.dirname(usr_unit))
        with open(usr_unit, "w") as f:
            f.write(text.replace("ExecStart=/usr/sbin/mailnsd", "ExecStart=" + self.p("sbin/mailnsd")))
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", usr_unit],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        self.assertEqual((p.returncode, p.stdout), (0, ""))
        # sysusers.d: what systemd-sysusers would create in an empty root.
        root = os.path.join(self.tmp, "sysroot")
        os.makedirs(os.path.join(root, "etc"), exist_ok=True)
        out = run(["systemd-sysusers", "--dry-run", "--root=" + root,
                   self.p("lib/sysusers.d/mailns.conf")])
        self.assertRegex(out, r"(?m)Creating group '?mailns'? with GID \d+")
        self.assertRegex(out, r"(?m)Creating user '?mailns'? \(mailns DNS server\) with UID \d+ and GID \d+")
        # tmpfiles.d: created for real, with root standing in for the mailns
        # user that this machine does not have.
        entries = read(self.p("lib/tmpfiles.d/mailns.conf")).replace(" mailns", " root")
        tf = os.path.join(self.tmp, "tmpfiles-root.conf")
        with open(tf, "w") as f:
            f.write(entries)
        run(["systemd-tmpfiles", "--create", tf])
        self.assertEqual(os.stat(self.p("var/run/mailns")).st_mode & 0o7777, 0o750)
        self.assertEqual(os.stat(self.p("var/lib/mailns")).st_mode & 0o7777, 0o700)
        self.assertEqual(os.stat(self.p("etc/mailns/mailns.conf")).st_mode & 0o7777, 0o640)

    # --- the installed daemon ---------------------------------------------
    def ctl(self, *args, expect=0):
        env = {k: v for k, v in os.environ.items() if k != "MAILNS_SOCKET"}
        p = subprocess.run([self.p("bin/mailnsctl")] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60, env=env,
                           cwd=self.cwd)
        self.assertEqual(p.returncode, expect, p.stderr)
        return p.stdout

    def query(self, port, name, rdtype):
        wire = harness.make_query(name, rdtype).to_wire()
        return harness.parse(harness.udp_exchange(port, wire, 5.0))

    def test_3_installed_daemon(self):
        if not os.path.isdir(self.p("var/run/mailns")):
            self.skipTest("needs test_2 (tmpfiles) first")
        conf_path = self.p("etc/mailns/mailns.conf")
        conf = read(conf_path)
        port = harness.free_port()
        edited = conf.replace("\nlisten = 127.0.0.1@53\n", "\nlisten = 127.0.0.1@%d\n" % port)
        self.assertNotEqual(edited, conf)
        with open(conf_path, "w") as f:
            f.write(edited)
        self.cwd = os.path.join(self.tmp, "cwd")
        os.makedirs(self.cwd, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "MAILNS_SOCKET")}
        log = os.path.join(self.tmp, "mailnsd.log")
        with open(log, "wb") as err:
            proc = subprocess.Popen([self.p("sbin/mailnsd"), "--foreground"], cwd=self.cwd,
                                    env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                    preexec_fn=harness._die_with_parent)
        try:
            status = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                p = subprocess.run([self.p("bin/mailnsctl"), "--json", "status"], cwd=self.cwd,
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, timeout=60)
                if p.returncode == 0:
                    status = json.loads(p.stdout)
                    break
                time.sleep(0.1)
            self.assertIsNotNone(status, "installed mailnsd did not answer:\n" + read(log))
            self.assertEqual(status["config"], conf_path)
            self.assertEqual(status["listen"], ["127.0.0.1@%d" % port])
            self.assertEqual(status["plugins"], list(PLUGINS))
            self.assertIn("dir=%s" % self.p("lib/mailns/plugins"), read(log))
            # The static zone from etc/mailns/zones.
            r = self.query(port, "vendor.example", "SOA")
            self.assertEqual(r.rcode(), 0)
            self.assertEqual([str(rr.name) for rr in r.answer], ["vendor.example."])
            # A tenant through the installed mailnsctl's default socket.
            self.ctl("tenant", "add", "demo", "example.com")
            r = self.query(port, "mgeu.example.com", "SOA")
            self.assertEqual(r.rcode(), 0)
            self.assertEqual(len(r.answer), 1)
            r = self.query(port, "s1._domainkey.mgeu.example.com", "TXT")
            self.assertIn("v=DKIM1", r.answer[0].to_text())
            # The same answer through kdig, as an operator would check.
            out = run(["kdig", "+norec", "+time=5", "+retry=0", "@127.0.0.1", "-p", str(port),
                       "SOA", "mgeu.example.com"])
            self.assertIn("status: NOERROR", out)
            self.assertTrue(os.path.isdir(self.p("var/lib/mailns")))
            self.assertEqual(os.listdir(self.cwd), [], "nothing is written to the working dir")
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=30), 0, read(log))
            self.assertFalse(os.path.exists(self.p("var/run/mailns/control.sock")))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    def test_4_build_tree_ignores_installed_config(self):
        # The same build's own mailnsd, without -c: embedded defaults, even
        # though this build's installed config now exists.
        self.assertTrue(os.path.isfile(self.p("etc/mailns/mailns.conf")))
        work = os.path.join(self.tmp, "bt")
        os.makedirs(work, exist_ok=True)
        port = harness.free_port()
        sock = os.path.join(work, "c.sock")
        d = subprocess.Popen([os.path.join(self.build, "core", "mailnsd"), "--foreground",
                              "--listen", "127.0.0.1@%d" % port, "--data",
                              os.path.join(work, "data"), "--control", sock],
                             cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, preexec_fn=harness._die_with_parent)
        try:
            status = None
            for _ in range(300):
                if d.poll() is not None:
                    break
                try:
                    c = harness.Control(sock, timeout=10)
                    status = c.call("status")
                    c.close()
                    break
                except (OSError, ConnectionError):
                    time.sleep(0.1)
            self.assertIsNotNone(status)
            self.assertEqual(status["config"], "(embedded defaults)")
        finally:
            d.send_signal(signal.SIGTERM)
            self.assertEqual(d.wait(timeout=30), 0)

    def test_5_reinstall_keeps_config(self):
        conf_path = self.p("etc/mailns/mailns.conf")
        with open(conf_path, "a") as f:
            f.write("# edited by the operator\n")
        out = run(["cmake", "--install", self.build])
        self.assertIn("Keeping: " + conf_path, out)
        self.assertTrue(read(conf_path).endswith("# edited by the operator\n"))

    def test_6_container_runtime_packages(self):
        # The container's runtime stage installs only libraries; no engine
        # here builds it, so its list is checked against what the installed
        # binaries link (DT_NEEDED), owner packages by dpkg.
        text = read(os.path.join(SOURCE_DIR, "docker", "Dockerfile"))
        block = re.search(r"# runtime-packages: begin\n(.*?)# runtime-packages: end", text, re.S)
        self.assertIsNotNone(block)
        m = re.search(r"apt-get install -y --no-install-recommends ([^\\&]+)", block.group(1))
        listed = set(m.group(1).split()) - {"libcap2-bin"}  # setcap only, purged again
        files = [self.p("sbin/mailnsd"), self.p("bin/mailnsctl")] + [
            self.p("lib/mailns/plugins/%s.so" % n) for n in PLUGINS]
        needed = {}
        for f in files:
            paths = dict(re.findall(r"^\s*(\S+) => (\S+)", run(["ldd", f]), re.M))
            for soname in re.findall(r"NEEDED\s+(\S+)", run(["objdump", "-p", f])):
                needed[soname] = os.path.realpath(paths[soname])
        packages = set()
        for soname, path in needed.items():
            owner = None
            for cand in (path, re.sub(r"^/usr/lib/", "/lib/", path)):
                q = subprocess.run(["dpkg-query", "-S", cand], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
                if q.returncode == 0:
                    owner = q.stdout.split(":")[0]
                    break
            self.assertIsNotNone(owner, "no package owns %s (%s)" % (path, soname))
            packages.add(owner)
        packages.discard("libc6")  # in every Debian image
        self.assertEqual(sorted(listed), sorted(packages))

    def test_7_port_53_as_non_root_with_file_capability(self):
        # The container's privilege model: the user mailns (here nobody) binds
        # port 53 through setcap cap_net_bind_service=+ep on mailnsd, and
        # cannot without it. A random 127.x address keeps port 53 free.
        work = os.path.join(self.tmp, "cap")
        os.makedirs(os.path.join(work, "data"), mode=0o700)
        os.chmod(self.tmp, 0o755)
        os.chmod(work, 0o755)
        exe = os.path.join(work, "mailnsd")
        shutil.copy(self.p("sbin/mailnsd"), exe)
        shutil.chown(os.path.join(work, "data"), "nobody")
        # An empty config (embedded defaults), not the installed one that
        # the earlier steps made 0640 root.
        empty = os.path.join(work, "empty.conf")
        open(empty, "w").close()
        addr = "127.53.%d.%d" % (os.getpid() % 250 + 1, int(time.time()) % 250 + 2)
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
               exe, "-c", empty, "--foreground", "--listen", addr + "@53", "--data", os.path.join(work, "data"),
               "--control", os.path.join(work, "data", "c.sock")]
        # Without the capability: refused.
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("permission denied", p.stdout.lower())
        run(["setcap", "cap_net_bind_service=+ep", exe])
        log = os.path.join(work, "log")
        with open(log, "wb") as out:
            d = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                 preexec_fn=harness._die_with_parent)
        try:
            r = None
            for _ in range(100):
                try:
                    wire = harness.make_query("mailns.vendor.example", "SOA").to_wire()
                    r = harness.parse(harness.udp_exchange(53, wire, 1.0, host=addr))
                    break
                except (TimeoutError, OSError):
                    self.assertIsNone(d.poll(), "mailnsd exited:\n" + read(log))
                    time.sleep(0.1)
            self.assertIsNotNone(r)
            self.assertEqual(r.rcode(), 0)
        finally:
            d.send_signal(signal.SIGTERM)
            self.assertEqual(d.wait(timeout=30), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
