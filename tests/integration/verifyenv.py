"""Real DNS on loopback for the verifier's integration test.

A knotd serves the parent zones (and a private root, so no query ever leaves
the machine), an unbound recursive resolver uses it through stub zones, and
mailnsd (harness.Daemon, listening on its own 127.x address, port 53) is
ns1/ns2.vendor.example. Each server gets its own 127.x address, picked at
random per run and checked free. Every process started here is recorded by
pid and only those are ever signalled.

Facts these settings rest on: ../../shared/docs/TESTING.md.
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

import harness

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"
UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
UNBOUND_CONTROL = shutil.which("unbound-control") or "/usr/sbin/unbound-control"


def missing_tools():
    """Names of the programs this environment needs but cannot find."""
    return [p for p in (KNOTD, KNOTC, UNBOUND, UNBOUND_CONTROL) if not os.access(p, os.X_OK)]


def _free_on_53(addr):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, 53))
        except OSError:
            return False
        finally:
            s.close()
    return True


def pick_addresses(n):
    """n addresses 127.A.B.1..n (A, B random) whose port 53 is free."""
    rng = random.SystemRandom()
    for _ in range(50):
        a, b = rng.randint(16, 250), rng.randint(1, 250)
        addrs = ["127.%d.%d.%d" % (a, b, i + 1) for i in range(n)]
        if all(_free_on_53(x) for x in addrs):
            return addrs
    raise RuntimeError("no free 127.x addresses with port 53 found")


def query(addr, name, rdtype, rd=False, timeout=2.0, tcp=False):
    q = dns.message.make_query(name, rdtype)
    if not rd:
        q.flags &= ~dns.flags.RD
    if tcp:
        return dns.query.tcp(q, addr, timeout=timeout, port=53)
    return dns.query.udp(q, addr, timeout=timeout, port=53)


class Proc:
    """A process we started: only it is ever signalled, by pid."""

    def __init__(self, name, cmd, workdir):
        self.name = name
        self.log_path = os.path.join(workdir, "%s.log" % name)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=workdir)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=10.0):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.log.close()
        return self.proc.returncode

    def tail(self, n=40):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""


def wait_until(fn, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            r = fn()
            if r:
                return r
        except Exception as e:  # pylint: disable=broad-except
            last = e
        time.sleep(interval)
    raise AssertionError("%s: not ready after %.0f s (last error: %s)" % (what, timeout, last))


class Knot:
    """knotd serving text zones from a directory; zones change by set_zone()."""

    def __init__(self, workdir, addr, zones):
        self.dir = os.path.join(workdir, "knot")
        self.addr = addr
        self.zones = dict(zones)  # name -> text
        for sub in ("run", "db", "zones"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.conf = os.path.join(self.dir, "knot.conf")
        self.sock = os.path.join(self.dir, "run", "knot.sock")
        self.proc = None
        for name, text in self.zones.items():
            self._write_zone(name, text)
        lines = [
            "server:",
            '    rundir: "%s/run"' % self.dir,
            "    listen: %s@53" % addr,
            "    udp-workers: 1",
            "    tcp-workers: 1",
            "    background-workers: 1",
            "control:",
            '    listen: "%s"' % self.sock,
            "log:",
            "  - target: stderr",
            "    any: info",
            "database:",
            '    storage: "%s/db"' % self.dir,
            "template:",
            "  - id: default",
            '    storage: "%s/zones"' % self.dir,
            "    zonefile-sync: -1",
            "    zonefile-load: whole",
            "    journal-content: none",
            "zone:",
        ]
        for name in self.zones:
            lines += ["  - domain: %s" % name, '    file: "%s"' % self._zone_path(name)]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _zone_path(self, name):
        return os.path.join(self.dir, "zones", "root.zone" if name == "." else name + ".zone")

    def _write_zone(self, name, text):
        tmp = self._zone_path(name) + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self._zone_path(name))

    def start(self):
        self.proc = Proc("knotd", [KNOTD, "-c", self.conf], self.dir)
        for name in self.zones:
            wait_until(lambda n=name: self._serves(n), 15, "knotd zone %s" % name)
        return self

    def _serves(self, name):
        if not self.proc.alive():
            raise AssertionError("knotd exited:\n%s" % self.proc.tail())
        r = query(self.addr, name, "SOA", timeout=0.5)
        return r.rcode() == dns.rcode.NOERROR and r.answer

    def serial(self, name):
        r = query(self.addr, name, "SOA", timeout=1.0)
        return r.answer[0][0].serial if r.answer else None

    def set_zone(self, name, text, serial):
        """Writes the zone, reloads it and waits until knotd serves \a serial."""
        self._write_zone(name, text)
        out = subprocess.run([KNOTC, "-c", self.conf, "zone-reload", name],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        if out.returncode != 0:
            raise AssertionError("knotc zone-reload %s: %s" % (name, out.stdout.decode()))
        wait_until(lambda: self.serial(name) == serial, 15, "knotd serial %d of %s" % (serial, name))

    def stop(self):
        if self.proc:
            self.proc.stop()


class Unbound:
    """unbound as the recursive resolver: private root and stub zones, no
    DNSSEC validation, short negative caching, control on a unix socket."""

    def __init__(self, workdir, addr, root_addr, stubs):
        self.dir = os.path.join(workdir, "unbound")
        os.makedirs(self.dir, exist_ok=True)
        self.addr = addr
        self.conf = os.path.join(self.dir, "unbound.conf")
        hints = os.path.join(self.dir, "root.hints")
        with open(hints, "w") as f:
            f.write(".  3600 IN NS ns.root.test.\nns.root.test. 3600 IN A %s\n" % root_addr)
        lines = [
            "server:",
            "    verbosity: 1",
            "    interface: %s" % addr,
            "    port: 53",
            "    do-ip6: no",
            '    username: ""',
            '    chroot: ""',
            '    directory: "%s"' % self.dir,
            '    pidfile: ""',
            "    use-syslog: no",
            "    num-threads: 1",
            "    access-control: 127.0.0.0/8 allow",
            "    do-not-query-localhost: no",
            '    module-config: "iterator"',
            '    root-hints: "%s"' % hints,
            "    qname-minimisation: no",
            "    harden-referral-path: no",
            "    prefetch: no",
            "    serve-expired: no",
            "    aggressive-nsec: no",
            # Positive answers stay cached (the test flushes explicitly when it
            # changes a zone); negative ones and dead servers are forgotten fast.
            "    cache-max-ttl: 300",
            "    cache-max-negative-ttl: 1",
            "    infra-host-ttl: 1",
            "    infra-cache-max-rtt: 1000",
            "    discard-timeout: 0",
            "remote-control:",
            "    control-enable: yes",
            '    control-interface: "%s"' % os.path.join(self.dir, "unbound.ctl"),
            "    control-use-cert: no",
        ]
        for name, target in stubs.items():
            lines += ["stub-zone:", '    name: "%s"' % name, "    stub-addr: %s@53" % target]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self, probe):
        self.proc = Proc("unbound", [UNBOUND, "-d", "-c", self.conf], self.dir)
        wait_until(lambda: self._answers(probe), 15, "unbound")
        return self

    def _answers(self, probe):
        if not self.proc.alive():
            raise AssertionError("unbound exited:\n%s" % self.proc.tail())
        return query(self.addr, probe, "SOA", rd=True, timeout=0.5).rcode() == dns.rcode.NOERROR

    def control(self, *args):
        out = subprocess.run([UNBOUND_CONTROL, "-c", self.conf] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        if out.returncode != 0:
            raise AssertionError("unbound-control %s: %s" % (" ".join(args), out.stdout.decode()))
        return out.stdout.decode()

    def flush(self, *zones):
        """Forgets everything cached at or below \a zones and every server's state."""
        for z in zones:
            self.control("flush_zone", z)
        self.control("flush_infra", "all")
        self.control("flush_requestlist")

    def stop(self):
        if self.proc:
            self.proc.stop()


class LoopbackDaemon(harness.Daemon):
    """mailnsd answering on ADDR@53 instead of 127.0.0.1@<random port>."""

    def __init__(self, workdir, addr, **kw):
        self.addr = addr
        super().__init__(workdir, port=53, **kw)

    def command(self):
        cmd = super().command()
        i = cmd.index("--listen")
        cmd[i + 1] = "%s@53" % self.addr
        return cmd
