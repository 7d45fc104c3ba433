"""Shared harness for the mailnsd integration tests.

Each test starts the real daemon on 127.0.0.1 with a free port, in a fresh
temporary directory, and talks to it over the control socket (newline-delimited
JSON) and over DNS (dnspython, raw sockets, dig, kdig).

Environment (set by tests/integration/CMakeLists.txt):
  MAILNSD         path of the mailnsd binary
  MAILNSCTL       path of the mailnsctl binary
  MNS_PLUGIN_DIR  directory holding dkim.so, spf.so, mx.so, dmarc.so
  MNS_SOURCE_DIR  top of the source tree
  MNS_VALGRIND    when set (non-empty, not "0"), every daemon runs under valgrind
  MNS_KEEP_TMP    when set, temporary directories are kept for inspection
  MNS_WORKERS     when set, daemons get `workers = N` (unless their config
                  sets workers, or has sections after [server]): the suite
                  with N query threads

Only processes this harness started are ever signalled, by pid.
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

try:  # Optional: cross-checks the DKIM key size (python3-cryptography).
    from cryptography.hazmat.primitives.asymmetric import rsa as _crypto_rsa
    from cryptography.hazmat.primitives.serialization import (
        load_der_public_key as _load_der_public_key)
except ImportError:  # pragma: no cover
    _crypto_rsa = None
    _load_der_public_key = None

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MNS_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))

# Embedded defaults of mailnsd (see the integration test brief / DESIGN.md).
HOSTED_ZONE = "mailns.vendor.example"
NAMESERVERS = ["ns1.vendor.example.", "ns2.vendor.example."]
SOA_CONTACT = "hostmaster.vendor.example."
DEFAULT_SUBDOMAIN = "mgeu"
BOUNCE_LABEL = "bounce"
TTL = 3600
NEGATIVE_TTL = 300
MX_HOST = "mx.vendor.example."
MX_PREF = 10
SPF_DEFAULT = "v=spf1 ip4:192.0.2.0/24 ~all"
DMARC_DEFAULT = "v=DMARC1; p=none; rua=mailto:dmarc@vendor.example"
# The record plugins every configuration loads, in this order (later issues add
# more, e.g. verify, after them).
PLUGINS = ["dkim", "spf", "mx", "dmarc"]
UDP_PAYLOAD = 1232

VALGRIND_CMD = [
    "valgrind",
    "--leak-check=full",
    "--error-exitcode=99",
    "--errors-for-leak-kinds=definite",
]


def valgrind_enabled():
    v = os.environ.get("MNS_VALGRIND", "")
    return v not in ("", "0")


def _find_binary(env, *candidates):
    path = os.environ.get(env)
    if path:
        return path
    for build in sorted(os.listdir(SOURCE_DIR)):
        if not build.startswith("build"):
            continue
        for cand in candidates:
            p = os.path.join(SOURCE_DIR, build, cand)
            if os.access(p, os.X_OK):
                return p
    raise RuntimeError(
        "%s is not set and no built binary was found under %s/build*; "
        "run the tests through ctest" % (env, SOURCE_DIR))


def mailnsd_path():
    return _find_binary("MAILNSD", "core/mailnsd")


def mailnsctl_path():
    return _find_binary("MAILNSCTL", "tools/mailnsctl/mailnsctl")


def plugin_dir():
    d = os.environ.get("MNS_PLUGIN_DIR")
    if d:
        return d
    return os.path.join(os.path.dirname(os.path.dirname(mailnsd_path())), "plugins")


# ---------------------------------------------------------------------------
# Ports and temporary directories
# ---------------------------------------------------------------------------

def free_port():
    """A port on 127.0.0.1 that is free for both UDP and TCP right now."""
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port on 127.0.0.1")


def make_tmpdir(tag="it"):
    # Short prefix under /tmp: unix socket paths are limited to 107 bytes.
    return tempfile.mkdtemp(prefix="mns-%s-" % tag, dir="/tmp")


def remove_tmpdir(path):
    if path and not os.environ.get("MNS_KEEP_TMP"):
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------
# Control socket
# ---------------------------------------------------------------------------

class CtlError(Exception):
    """The daemon answered {"ok": false}."""

    def __init__(self, code, message, reply):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.reply = reply


class Control:
    """A client connection to the control socket."""

    def __init__(self, path, timeout=30.0):
        self.path = path
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""
        self.next_id = 1

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv_line(self, timeout=None):
        """One reply line (without the newline); raises on EOF or timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply line from %s" % self.path)
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("%s: connection closed by the daemon (pending %r)"
                                      % (self.path, self.buf[:200]))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def recv_json(self, timeout=None):
        line = self.recv_line(timeout)
        try:
            reply = json.loads(line)
        except ValueError as e:
            raise AssertionError("reply is not JSON (%s): %r" % (e, line[:300]))
        if not isinstance(reply, dict):
            raise AssertionError("reply is not a JSON object: %r" % line[:300])
        return reply

    def request(self, cmd, args=None, req_id=None, with_args=True):
        """Sends one request and returns the whole reply; checks that the id is echoed."""
        if req_id is None:
            req_id = self.next_id
            self.next_id += 1
        req = {"id": req_id, "cmd": cmd}
        if with_args:
            req["args"] = {} if args is None else args
        self.send_raw(json.dumps(req).encode() + b"\n")
        reply = self.recv_json()
        if reply.get("id") != req_id:
            raise AssertionError("reply id %r does not match request id %r: %r"
                                 % (reply.get("id"), req_id, reply))
        return reply

    def call(self, cmd, args=None):
        """Returns the result of a successful request, raises CtlError otherwise."""
        reply = self.request(cmd, args)
        if reply.get("ok") is True:
            if "result" not in reply:
                raise AssertionError("ok reply without result: %r" % reply)
            return reply["result"]
        if reply.get("ok") is False:
            err = reply.get("error") or {}
            raise CtlError(err.get("code"), err.get("message"), reply)
        raise AssertionError("reply without a boolean ok: %r" % reply)


# ---------------------------------------------------------------------------
# DNS helpers
# ---------------------------------------------------------------------------

def make_query(name, rdtype, rdclass="IN", edns=None, rd=False, qid=None, edns_version=0):
    """A query; edns=None sends no OPT record, edns=N advertises payload N."""
    q = dns.message.make_query(name, rdtype, rdclass, id=qid, use_edns=False)
    if edns is not None:
        # dnspython 2.3's make_query(use_edns=N) ignores N as the version;
        # Message.use_edns() honours it.
        q.use_edns(edns_version, payload=edns)
    if not rd:
        q.flags &= ~dns.flags.RD
    return q


def udp_exchange(port, wire, timeout=3.0, host="127.0.0.1"):
    """Sends a raw UDP datagram and returns the raw reply with a matching id."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.connect((host, port))
        s.send(wire)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no UDP reply from %s:%d" % (host, port))
            s.settimeout(left)
            data = s.recv(65535)
            if len(data) >= 2 and data[:2] == wire[:2]:
                return data
    finally:
        s.close()


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("TCP connection closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def tcp_read_frame(sock):
    (length,) = struct.unpack("!H", recv_exact(sock, 2))
    return recv_exact(sock, length)


def tcp_exchange(port, wire, timeout=3.0, host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        return tcp_read_frame(s)
    finally:
        s.close()


def parse(wire):
    return dns.message.from_wire(wire)


def txt_value(rdata):
    """The strings of one TXT rdata joined (as receivers do for SPF/DKIM/DMARC)."""
    return b"".join(rdata.strings).decode()


def rrsets(section, name=None, rdtype=None):
    out = []
    for rrset in section:
        if name is not None and rrset.name != dns.name.from_text(name):
            continue
        if rdtype is not None and rrset.rdtype != dns.rdatatype.from_text(rdtype):
            continue
        out.append(rrset)
    return out


# --- DKIM key checks --------------------------------------------------------

def _der_tlv(data, pos):
    tag = data[pos]
    pos += 1
    length = data[pos]
    pos += 1
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, data[pos:pos + length], pos + length


RSA_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1


def rsa_spki_bits_der(der):
    """Modulus size of a DER SubjectPublicKeyInfo holding an RSA key (no crypto library)."""
    tag, spki, end = _der_tlv(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not a DER SEQUENCE spanning the whole key")
    tag, algid, pos = _der_tlv(spki, 0)
    if tag != 0x30:
        raise ValueError("no AlgorithmIdentifier")
    tag, oid, _ = _der_tlv(algid, 0)
    if tag != 0x06 or oid != RSA_OID:
        raise ValueError("algorithm is not rsaEncryption: %s" % oid.hex())
    tag, bits, _ = _der_tlv(spki, pos)
    if tag != 0x03 or bits[0] != 0:
        raise ValueError("no BIT STRING")
    tag, rsakey, _ = _der_tlv(bits[1:], 0)
    if tag != 0x30:
        raise ValueError("RSAPublicKey is not a SEQUENCE")
    tag, modulus, pos = _der_tlv(rsakey, 0)
    if tag != 0x02:
        raise ValueError("modulus is not an INTEGER")
    return int.from_bytes(modulus, "big").bit_length()


def rsa_key_bits(der):
    """RSA key size, cross-checked with python3-cryptography when it is installed."""
    bits = rsa_spki_bits_der(der)
    if _load_der_public_key is None:
        return bits
    key = _load_der_public_key(der)
    if not isinstance(key, _crypto_rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    if key.key_size != bits:
        raise ValueError("DER parse says %d bits, cryptography says %d" % (bits, key.key_size))
    return bits


def dkim_tags(value):
    """Parses a DKIM key record ("v=DKIM1; k=rsa; p=...") into an ordered tag list."""
    tags = []
    for part in value.split(";"):
        part = part.strip()
        if not part:
            continue
        k, sep, v = part.partition("=")
        if not sep:
            raise ValueError("DKIM tag without '=': %r" % part)
        tags.append((k.strip(), re.sub(r"\s+", "", v)))
    return tags


def dkim_public_der(value):
    tags = dict(dkim_tags(value))
    return base64.b64decode(tags["p"], validate=True)


# ---------------------------------------------------------------------------
# The daemon
# ---------------------------------------------------------------------------

class DaemonError(AssertionError):
    pass


def _die_with_parent():
    """Runs in the child before exec: if the test runner is killed (ctest
    timeout), the kernel sends our daemon SIGTERM instead of orphaning it."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def with_workers(text):
    """text with `workers = $MNS_WORKERS` added at its end, in [server], when
    that leaves every existing line where it was (error messages name lines):
    when there is no [server] section, or it is the last one."""
    n = os.environ.get("MNS_WORKERS")
    if not n or re.search(r"^\s*workers\s*=", text, re.M):
        return text
    sections = re.findall(r"^\s*\[([^\]]*)\]", text, re.M)
    if text and not text.endswith("\n"):
        text += "\n"
    if "server" not in sections:
        return text + "[server]\nworkers = %s\n" % n
    if sections[-1] == "server":
        return text + "workers = %s\n" % n
    return text


class Daemon:
    """One mailnsd process in its own directory, on its own port."""

    def __init__(self, workdir, conf=None, zones=None, plugins=None, extra_args=(),
                 port=None, valgrind=None, log_level="debug", data=None):
        self.workdir = workdir
        self.sock_path = os.path.join(workdir, "control.sock")
        self.data_dir = data or os.path.join(workdir, "data")
        self.conf_path = os.path.join(workdir, "mailnsd.conf") if conf is not None else None
        self.zone_dir = os.path.join(workdir, "zones") if zones is not None else None
        self.plugin_dir = plugins or plugin_dir()
        self.extra_args = list(extra_args)
        self.port = port
        self.valgrind = valgrind_enabled() if valgrind is None else valgrind
        self.log_level = log_level
        self.proc = None
        self.pid = None
        self._ctl = None
        self.runs = 0
        if conf is None and os.environ.get("MNS_WORKERS"):
            conf = ""
        if conf is not None:
            self.write_conf(conf)
        if zones is not None:
            os.makedirs(self.zone_dir, exist_ok=True)
            for fname, text in zones.items():
                with open(os.path.join(self.zone_dir, fname), "w") as f:
                    f.write(text)

    # --- files ---
    def write_conf(self, text):
        text = with_workers(text)
        if self.conf_path is None:
            self.conf_path = os.path.join(self.workdir, "mailnsd.conf")
        tmp = self.conf_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.conf_path)

    @property
    def stderr_path(self):
        return os.path.join(self.workdir, "mailnsd.%d.stderr" % self.runs)

    @property
    def stdout_path(self):
        return os.path.join(self.workdir, "mailnsd.%d.stdout" % self.runs)

    def stderr_text(self, all_runs=False):
        runs = range(1, self.runs + 1) if all_runs else [self.runs]
        text = ""
        for r in runs:
            for kind in ("stderr", "stdout"):
                p = os.path.join(self.workdir, "mailnsd.%d.%s" % (r, kind))
                try:
                    with open(p, "r", errors="replace") as f:
                        text += f.read()
                except FileNotFoundError:
                    pass
        return text

    def tail(self, n=40):
        lines = self.stderr_text().splitlines()
        return "\n".join(lines[-n:])

    # --- process ---
    def command(self):
        cmd = [mailnsd_path(), "--foreground",
               "--listen", "127.0.0.1@%d" % self.port,
               "--control", self.sock_path,
               "--data", self.data_dir,
               "--plugins", self.plugin_dir]
        if self.zone_dir is not None:
            cmd += ["--zones", self.zone_dir]
        if self.conf_path is not None:
            cmd += ["-c", self.conf_path]
        if self.log_level:
            cmd += ["--log-level", self.log_level]
        cmd += self.extra_args
        if self.valgrind:
            cmd = VALGRIND_CMD + ["--log-file=%s" % os.path.join(
                self.workdir, "valgrind.%d.log" % self.runs)] + cmd
        return cmd

    def start(self, wait=True, timeout=None):
        """Starts the daemon; with wait, returns once `status` answers."""
        for attempt in range(3):
            if self.port is None:
                self.port = free_port()
            self.runs += 1
            with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                             stdout=out, stderr=err, cwd=self.workdir,
                                             preexec_fn=_die_with_parent)
            self.pid = self.proc.pid
            if not wait:
                return self
            try:
                self.wait_ready(timeout)
                return self
            except DaemonError:
                if self.proc.poll() is not None and "in use" in self.stderr_text().lower() \
                        and attempt < 2:
                    self.port = None  # lost a race for the port; try another
                    continue
                raise
        return self

    def wait_ready(self, timeout=None):
        if timeout is None:
            timeout = 90.0 if self.valgrind else 20.0
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise DaemonError("mailnsd exited with %d before it was ready:\n%s"
                                  % (rc, self.tail()))
            try:
                c = Control(self.sock_path, timeout=5.0)
                try:
                    result = c.call("status")
                finally:
                    c.close()
                return result
            except (OSError, ConnectionError, TimeoutError, CtlError, AssertionError) as e:
                last = e
            time.sleep(0.05)
        raise DaemonError("mailnsd not ready after %.0f s (last error: %s):\n%s"
                          % (timeout, last, self.tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit code or None on timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Signals our daemon (only it, by pid); SIGKILL after a bounded wait.
        Returns the exit code (negative: killed by that signal)."""
        self.close_ctl()
        if self.proc is None:
            return None
        if timeout is None:
            timeout = 60.0 if self.valgrind else 10.0
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
                return "timeout"
        return self.proc.returncode

    def valgrind_log(self):
        try:
            with open(os.path.join(self.workdir, "valgrind.%d.log" % self.runs)) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop_checked(self):
        """stop(); returns an error text when a running daemon did not exit 0 on
        SIGTERM (under valgrind: when valgrind found errors)."""
        was_running = self.alive()
        rc = self.stop()
        if not was_running or rc == 0:
            return None
        if self.valgrind:
            return "mailnsd under valgrind exited with %s:\n%s" % (rc, self.valgrind_log()[-6000:])
        return "mailnsd exited with %s on SIGTERM (expected 0):\n%s" % (rc, self.tail())

    def kill9(self):
        self.close_ctl()
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        return self.proc.returncode

    # --- control ---
    @property
    def ctl(self):
        if self._ctl is None:
            # RSA key generation under valgrind takes 5-20 s per tenant.
            self._ctl = Control(self.sock_path, timeout=300.0 if self.valgrind else 30.0)
        return self._ctl

    def close_ctl(self):
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None

    def call(self, cmd, args=None):
        return self.ctl.call(cmd, args)

    def add_tenant(self, tenant, domain, **kw):
        args = {"tenant": tenant, "domain": domain}
        args.update(kw)
        return self.call("tenant.add", args)

    # --- DNS ---
    def _check_alive(self, what):
        if not self.alive():
            raise DaemonError("%s: mailnsd is not running (exit %s):\n%s"
                              % (what, self.proc.returncode if self.proc else None, self.tail()))

    @property
    def dns_timeout(self):
        return 15.0 if self.valgrind else 3.0

    def udp_wire(self, wire, timeout=None):
        timeout = timeout or self.dns_timeout
        try:
            return udp_exchange(self.port, wire, timeout)
        except (TimeoutError, OSError):
            self._check_alive("UDP query")
            raise

    def tcp_wire(self, wire, timeout=None):
        timeout = timeout or self.dns_timeout
        try:
            return tcp_exchange(self.port, wire, timeout)
        except (TimeoutError, OSError):
            self._check_alive("TCP query")
            raise

    def query(self, name, rdtype, tcp=False, edns=None, rd=False, rdclass="IN"):
        """Sends one query and returns the parsed response (checks the id)."""
        q = make_query(name, rdtype, rdclass, edns=edns, rd=rd)
        wire = q.to_wire()
        raw = self.tcp_wire(wire) if tcp else self.udp_wire(wire)
        resp = parse(raw)
        if resp.id != q.id:
            raise AssertionError("response id %d != query id %d" % (resp.id, q.id))
        return resp


# ---------------------------------------------------------------------------
# Base test case
# ---------------------------------------------------------------------------

class MailnsTestCase(unittest.TestCase):
    """Helpers and cleanup shared by the integration tests.

    Daemons created through new_daemon() are stopped (SIGTERM, then SIGKILL
    after a bounded wait) in tearDown; class daemons (class_daemon()) in
    tearDownClass. When a test fails, the daemon's log tail is printed.
    """

    _class_daemons = []
    _class_tmpdirs = []

    maxDiff = None

    # --- lifecycle ---
    def setUp(self):
        self._daemons = []
        self._tmpdirs = []
        self._failures_before = self._failure_count()

    def tearDown(self):
        failed = self._failure_count() != self._failures_before
        problems = []
        for d in self._daemons:
            if failed:
                sys.stderr.write("\n--- mailnsd log (%s, port %s) ---\n%s\n"
                                 % (d.workdir, d.port, d.tail(60)))
            err = d.stop_checked()
            if err:
                problems.append(err)
        for t in self._tmpdirs:
            remove_tmpdir(t)
        if problems:
            self.fail("\n".join(problems))

    def _failure_count(self):
        try:
            result = self._outcome.result
            return len(result.failures) + len(result.errors)
        except AttributeError:
            return 0

    @classmethod
    def setUpClass(cls):
        cls._class_daemons = []
        cls._class_tmpdirs = []

    @classmethod
    def tearDownClass(cls):
        problems = []
        for d in cls._class_daemons:
            err = d.stop_checked()
            if err:
                problems.append(err)
        for t in cls._class_tmpdirs:
            remove_tmpdir(t)
        if problems:
            raise AssertionError("\n".join(problems))

    def tmpdir(self, tag="it"):
        t = make_tmpdir(tag)
        self._tmpdirs.append(t)
        return t

    def new_daemon(self, start=True, workdir=None, **kw):
        d = Daemon(workdir or self.tmpdir(), **kw)
        self._daemons.append(d)
        if start:
            d.start()
        return d

    @classmethod
    def class_daemon(cls, start=True, **kw):
        t = make_tmpdir("cls")
        cls._class_tmpdirs.append(t)
        d = Daemon(t, **kw)
        cls._class_daemons.append(d)
        if start:
            try:
                d.start()
            except Exception:
                d.stop()
                raise
        return d

    # --- assertions ---
    def assertFlags(self, resp, aa=True):
        self.assertTrue(resp.flags & dns.flags.QR, "QR must be set")
        self.assertFalse(resp.flags & dns.flags.RA, "RA must never be set")
        if aa:
            self.assertTrue(resp.flags & dns.flags.AA, "AA must be set:\n%s" % resp)
        else:
            self.assertFalse(resp.flags & dns.flags.AA, "AA must be clear:\n%s" % resp)
        self.assertFalse(resp.flags & dns.flags.TC, "TC must be clear:\n%s" % resp)

    def assertRcode(self, resp, rcode):
        self.assertEqual(dns.rcode.to_text(resp.rcode()), rcode, "rcode; response:\n%s" % resp)

    def assertAnswer(self, resp, name, rdtype, ttl=TTL):
        """A positive authoritative answer holding exactly one RRset name/type; returns it."""
        self.assertRcode(resp, "NOERROR")
        self.assertFlags(resp, aa=True)
        self.assertEqual(len(resp.answer), 1, "expected one answer RRset:\n%s" % resp)
        rrset = resp.answer[0]
        self.assertEqual(rrset.name, dns.name.from_text(name))
        self.assertEqual(dns.rdatatype.to_text(rrset.rdtype), rdtype)
        self.assertEqual(rrset.rdclass, dns.rdataclass.IN)
        if ttl is not None:
            self.assertEqual(rrset.ttl, ttl, "TTL of %s %s" % (name, rdtype))
        return rrset

    def assertTxt(self, resp, name, expected, ttl=TTL):
        rrset = self.assertAnswer(resp, name, "TXT", ttl)
        self.assertEqual(sorted(txt_value(r) for r in rrset), sorted(expected))
        return rrset

    def assertDmarc(self, resp, name, p="none"):
        """One DMARC TXT with policy p; the vendor's default tags may follow.
        (The exact default record is checked in test_records.)"""
        rrset = self.assertAnswer(resp, name, "TXT")
        values = [txt_value(r) for r in rrset]
        self.assertEqual(len(values), 1, values)
        self.assertRegex(values[0], r"^v=DMARC1; p=%s(; [a-z]+=[^;]+)*$" % re.escape(p))
        return values[0]

    def assertSpf(self, resp, name, extras=()):
        """One SPF TXT: the vendor's mechanisms, then the tenant's extras in order, ~all."""
        rrset = self.assertAnswer(resp, name, "TXT")
        values = [txt_value(r) for r in rrset]
        self.assertEqual(len(values), 1, values)
        tail = "".join(" " + re.escape(e) for e in extras)
        self.assertRegex(values[0], r"^v=spf1(?: \S+)*?%s ~all$" % tail)
        return values[0]

    def assertNegative(self, resp, rcode, zone):
        """NXDOMAIN or NODATA: AA, empty answer, the zone's SOA in authority with TTL 300."""
        self.assertRcode(resp, rcode)
        self.assertFlags(resp, aa=True)
        self.assertEqual(resp.answer, [], "answer must be empty:\n%s" % resp)
        soa = rrsets(resp.authority, rdtype="SOA")
        self.assertEqual(len(soa), 1, "one SOA in authority:\n%s" % resp)
        self.assertEqual(len(resp.authority), 1, "only the SOA in authority:\n%s" % resp)
        self.assertEqual(soa[0].name, dns.name.from_text(zone))
        self.assertEqual(soa[0].ttl, NEGATIVE_TTL, "negative-answer SOA TTL")
        self.assertEqual(len(soa[0]), 1)

    def assertRefused(self, resp):
        self.assertRcode(resp, "REFUSED")
        self.assertTrue(resp.flags & dns.flags.QR)
        self.assertFalse(resp.flags & dns.flags.AA, "REFUSED must not carry AA")
        self.assertFalse(resp.flags & dns.flags.RA)
        self.assertEqual(resp.answer, [])

    def assertCtlError(self, daemon_or_ctl, cmd, args, code, ctl=None):
        c = daemon_or_ctl.ctl if isinstance(daemon_or_ctl, Daemon) else daemon_or_ctl
        reply = c.request(cmd, args)
        self.assertIs(reply.get("ok"), False, "%s %r should fail with %s: %r"
                      % (cmd, args, code, reply))
        err = reply.get("error")
        self.assertIsInstance(err, dict, reply)
        self.assertEqual(err.get("code"), code, "%s %r: %r" % (cmd, args, reply))
        self.assertIsInstance(err.get("message"), str)
        self.assertTrue(err["message"].strip(), "error message must not be empty")
        return err


def main():
    unittest.main(verbosity=2)


def rss_kib(pid):
    """Resident memory of process \a pid in KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def percentile(values, p):
    """The p-quantile (0..1) of \a values, nearest rank."""
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))]
