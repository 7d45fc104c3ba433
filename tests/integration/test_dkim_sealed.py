#!/usr/bin/python3
"""DKIM private keys sealed at rest: the store never holds one in the clear.

After tenant adds (ns and cname mode, RSA and Ed25519), an import, a rotation
step and exports: data.mdb holds no line of any private key's PEM and no
"PRIVATE KEY"; what the kernel would write into a core dump of the running
daemon (coredump_filter, smaps without VmFlags dd, /proc/<pid>/mem) holds no
48-character piece of any key's base64 and not its DER; tenant.get shows
neither the key nor its sealed form. The store key file: created 0600 with
32 octets; keys export identically after a restart; a missing key file while
the store holds sealed keys, or a key file others can read, stops the start
with a message naming the file, and leaves the store untouched. A store
written by an older version (plaintext "private", put into LMDB here with
liblmdb) is sealed at start and its keys still export unchanged.
"""

import base64
import ctypes
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

CONF = "[plugin.dkim]\nrsa-bits = 1024\nkey-pool = 0\nexport-dir = %s\n"


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120).stdout


def pem_lines(pem):
    return [l for l in pem.splitlines() if l and not l.startswith("-----")]


def needles(pem):
    """What must not be found for one private key: each base64 line of its
    PEM, 48-character pieces of its base64 body (joined and per line, so a
    copy with or without line breaks is caught), and its DER."""
    lines = pem_lines(pem)
    body = "".join(lines)
    out = set()
    for l in lines:
        if len(l) >= 48:
            out.add(l[:48].encode())
            out.add(l[-48:].encode())
    for i in range(0, len(body) - 48 + 1, 48):
        out.add(body[i:i + 48].encode())
    der = base64.b64decode(body)
    mid = len(der) // 2
    out.add(der[mid - 24:mid + 24])  # any copy of the DER holds its middle
    return out


def exported_pems(d):
    """{(domain, selector): PEM} of every active key, from dkim.export."""
    res = d.ctl.call("dkim.export")
    return {(dom["domain"], k["selector"]): k["private"]
            for dom in res["domains"] for k in dom["keys"]}


# --- What a core dump of a process would hold -----------------------------------

def dumpable_regions(pid):
    """(start, end, name) of every mapping the kernel would write into a core
    dump of pid (fs/coredump.c vma_dump_size): never VM_DONTDUMP (smaps
    VmFlags "dd") or VM_IO ("io"); shared mappings by bit 1 (anonymous) or 3
    (file) of coredump_filter; private ones with anonymous pages by bit 0,
    file-backed ones by bit 2."""
    with open("/proc/%d/coredump_filter" % pid) as f:
        filt = int(f.read().strip(), 16)
    regions, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$", line)
            if m:
                cur = {"start": int(m.group(1), 16), "end": int(m.group(2), 16),
                       "perms": m.group(3), "inode": int(m.group(4)),
                       "name": m.group(5), "anon": 0, "flags": []}
                regions.append(cur)
            elif line.startswith("Anonymous:") and cur is not None:
                cur["anon"] = int(line.split()[1])
            elif line.startswith("VmFlags:") and cur is not None:
                cur["flags"] = line.split()[1:]
    out = []
    for r in regions:
        if "dd" in r["flags"] or "io" in r["flags"] or "r" not in r["perms"]:
            continue
        if r["name"] in ("[vsyscall]", "[vvar]"):
            continue
        anon_file = r["inode"] == 0 or r["name"].startswith("/dev/zero") or \
            r["name"].startswith("/SYSV") or r["name"].endswith("(deleted)")
        if "s" in r["perms"]:
            bit = 1 if anon_file else 3
        elif r["anon"] > 0 or r["inode"] == 0:
            bit = 0
        else:
            bit = 2
        if filt & (1 << bit):
            out.append((r["start"], r["end"], r["name"]))
    return out


def core_image(pid):
    """The bytes of every dumpable region of pid, as one bytes object per region."""
    images = []
    fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    try:
        for start, end, name in dumpable_regions(pid):
            chunks, pos = [], start
            while pos < end:
                n = min(end - pos, 1 << 20)
                try:
                    chunks.append(os.pread(fd, n, pos))
                except OSError:
                    chunks.append(b"\0" * n)  # the kernel writes a hole there
                pos += n
            images.append((name, b"".join(chunks)))
    finally:
        os.close(fd)
    return images


# --- Writing the store as an older version did (liblmdb through ctypes) ----------

class _Val(ctypes.Structure):
    _fields_ = [("mv_size", ctypes.c_size_t), ("mv_data", ctypes.c_void_p)]


class Lmdb:
    """Just enough of liblmdb to read and rewrite a tenant document."""

    def __init__(self, path):
        self.lib = ctypes.CDLL("liblmdb.so.0")
        self.env = ctypes.c_void_p()
        self._ok(self.lib.mdb_env_create(ctypes.byref(self.env)))
        self._ok(self.lib.mdb_env_set_maxdbs(self.env, 8))
        self._ok(self.lib.mdb_env_open(self.env, path.encode(), 0, 0o600))

    def _ok(self, rc):
        if rc != 0:
            raise OSError("lmdb error %d" % rc)

    def _txn(self, write):
        txn, dbi = ctypes.c_void_p(), ctypes.c_uint()
        self._ok(self.lib.mdb_txn_begin(self.env, None, 0 if write else 0x20000,
                                        ctypes.byref(txn)))
        self._ok(self.lib.mdb_dbi_open(txn, b"tenants", 0, ctypes.byref(dbi)))
        return txn, dbi

    def get(self, key):
        txn, dbi = self._txn(False)
        k = ctypes.create_string_buffer(key.encode(), len(key))
        kv, v = _Val(len(key), ctypes.cast(k, ctypes.c_void_p)), _Val()
        try:
            self._ok(self.lib.mdb_get(txn, dbi, ctypes.byref(kv), ctypes.byref(v)))
            return ctypes.string_at(v.mv_data, v.mv_size).decode()
        finally:
            self.lib.mdb_txn_abort(txn)

    def put(self, key, value):
        txn, dbi = self._txn(True)
        k = ctypes.create_string_buffer(key.encode(), len(key))
        data = value.encode()
        b = ctypes.create_string_buffer(data, len(data))
        kv = _Val(len(key), ctypes.cast(k, ctypes.c_void_p))
        vv = _Val(len(data), ctypes.cast(b, ctypes.c_void_p))
        rc = self.lib.mdb_put(txn, dbi, ctypes.byref(kv), ctypes.byref(vv), 0)
        if rc != 0:
            self.lib.mdb_txn_abort(txn)
            self._ok(rc)
        self._ok(self.lib.mdb_txn_commit(txn))

    def close(self):
        self.lib.mdb_env_close(self.env)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@unittest.skipIf(harness.valgrind_enabled(),
                 "under valgrind /proc/<pid>/mem is valgrind's memory, not a core dump of mailnsd")
class SealedAtRest(harness.MailnsTestCase):
    """One daemon through adds, an import, a rotation step and exports."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.exp = harness.make_tmpdir("sealexp")
        cls._class_tmpdirs.append(cls.exp)
        cls.d = cls.class_daemon(conf=CONF % os.path.join(cls.exp, "dkim"))
        d = cls.d
        cls.imported = openssl("genpkey", "-algorithm", "RSA",
                               "-pkeyopt", "rsa_keygen_bits:1024").decode()
        d.add_tenant("acme", "example.com", dkim={"ed25519": True})
        d.add_tenant("beta", "example.org", mode="cname")
        d.ctl.call("tenant.add", {"tenant": "byok", "domain": "example.net",
                                  "dkim": {"import": {"pem": cls.imported}}})
        d.ctl.call("dkim.rotate", {"tenant": "acme", "algorithm": "rsa"})  # publishes s2
        cls.pems = set(exported_pems(d).values())
        # The export directory holds active and retired keys: take those too.
        keys = os.path.join(cls.exp, "dkim", "keys")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(os.listdir(keys) if os.path.isdir(keys)
                                                  else []) < 4:
            time.sleep(0.1)
        for name in os.listdir(keys):
            with open(os.path.join(keys, name)) as f:
                cls.pems.add(f.read())
        cls.pems.add(cls.imported)  # as the operator sent it (PKCS#8 PEM here)
        # The rotation's new key (published, not yet exported): sealed too,
        # and opened by nothing yet; its absence is checked via "PRIVATE KEY".

    def test_keys_exported(self):
        self.assertGreaterEqual(len(self.pems), 4)
        for pem in self.pems:
            self.assertIn("PRIVATE KEY", pem)

    def test_store_file_has_no_private_key(self):
        with open(os.path.join(self.d.data_dir, "data.mdb"), "rb") as f:
            data = f.read()
        self.assertFalse(b"PRIVATE KEY" in data, "PRIVATE KEY in data.mdb")
        leaked = [line for pem in self.pems for line in pem_lines(pem)
                  if line.encode() in data]
        self.assertEqual(leaked, [], "PEM lines of private keys in data.mdb")
        self.assertTrue(b'"sealed"' in data)
        self.assertFalse(b'"private"' in data)

    def core_image_read(self):
        """What a core dump of the daemon holds, checked to have been read:
        regions that could not be read come back as zeros, where nothing
        would ever be found."""
        every = core_image(self.d.pid)
        # Sanity: the scan sees what a core dump holds (the tenant ids are there).
        self.assertGreater(sum(len(b) for _, b in every), 1 << 20)
        self.assertTrue(any(b"example.net" in b for _, b in every))
        return every

    def core_leaks(self, pems, regions=lambda name: True):
        every = self.core_image_read()
        images = [(n, b) for n, b in every if regions(n)]
        found = []
        for pem in pems:
            for n in needles(pem):
                for name, img in images:
                    if n in img:
                        found.append((name or "[anon]", n[:12]))
        return found

    def test_core_image_has_no_private_key(self):
        """Generated keys (tenant.add, rotation), the imported one and every
        key the export opened: in no dumpable region (heaps, thread stacks,
        the main stack, data segments)."""
        self.assertGreaterEqual(len(self.pems), 4)
        self.assertEqual(self.core_leaks(self.pems), [],
                         "private key material in a core dump's regions")

    def test_core_image_has_no_imported_pem_text(self):
        """The dkim.import request's PEM text is wiped (control read buffers,
        jansson strings): no base64 line of it remains."""
        images = self.core_image_read()
        found = [l for l in pem_lines(self.imported) if len(l) >= 48
                 for _, img in images if l[:48].encode() in img]
        self.assertEqual(found, [])

    def test_tenant_get_shows_no_key_material(self):
        for t in ("acme", "beta", "byok"):
            text = json.dumps(self.d.ctl.call("tenant.get", {"tenant": t}))
            self.assertNotIn("sealed", text)
            self.assertNotIn("private", text)
            self.assertNotIn("PRIVATE KEY", text)


class StoreKeyFile(harness.MailnsTestCase):
    """The key file across restarts: created right, required, checked."""

    def start_fails(self, d, *expect):
        d.start(wait=False)
        rc = d.wait(60)
        self.assertIsNotNone(rc, "mailnsd started without a usable store key")
        self.assertNotEqual(rc, 0)
        text = d.stderr_text()
        for e in expect:
            self.assertIn(e, text)

    def test_restart_missing_and_open_key_file(self):
        exp = self.tmpdir("sealexp2")
        d = self.new_daemon(conf=CONF % os.path.join(exp, "dkim"))
        key = os.path.join(d.data_dir, "dkim-store.key")
        st = os.stat(key)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(st.st_size, 32)
        d.add_tenant("acme", "example.com", dkim={"ed25519": True})
        d.add_tenant("beta", "example.org")
        before = exported_pems(d)
        self.assertEqual(len(before), 3)
        d.stop()

        # Restart: every key opens and exports as before.
        d.start()
        self.assertEqual(exported_pems(d), before)
        d.stop()

        mdb = os.path.join(d.data_dir, "data.mdb")
        digest = sha256(mdb)
        # Missing key file while the store holds sealed keys: refused, store untouched,
        # and no new key file made (it would orphan every key).
        os.rename(key, key + ".bak")
        self.start_fails(d, key, "missing", "sealed")
        self.assertFalse(os.path.exists(key))
        self.assertEqual(sha256(mdb), digest)
        os.rename(key + ".bak", key)

        # Readable by others: refused, naming the file and the mode.
        os.chmod(key, 0o644)
        self.start_fails(d, key, "0644")
        os.chmod(key, 0o600)

        # Another key (right size and mode): refused, it does not open the store.
        with open(key, "rb") as f:
            good = f.read()
        with open(key, "wb") as f:
            f.write(os.urandom(32))
        self.start_fails(d, key, "does not open")
        with open(key, "wb") as f:
            f.write(good[:16])
        self.start_fails(d, key, "16 octets")
        with open(key, "wb") as f:
            f.write(good)
        self.assertEqual(sha256(mdb), digest)

        d.start()
        self.assertEqual(exported_pems(d), before)

    def test_old_store_is_sealed_at_start(self):
        d = self.new_daemon(conf=CONF % os.path.join(self.tmpdir("sealexp3"), "dkim"))
        d.add_tenant("acme", "example.com", dkim={"ed25519": True})
        d.add_tenant("beta", "example.org", mode="cname")
        before = exported_pems(d)
        d.stop()

        # Rewrite both documents as an older version stored them: "private"
        # (the PEM in the clear) instead of "sealed".
        db = Lmdb(d.data_dir)
        try:
            for t, dom in (("acme", "mgeu.example.com"), ("beta", "example.org")):
                doc = json.loads(db.get(t))
                for sel in doc["dkim"]["selectors"]:
                    del sel["sealed"]
                    sel["private"] = before[(dom, sel["selector"])]
                db.put(t, json.dumps(doc, sort_keys=True, separators=(",", ":")))
            self.assertIn('"private"', db.get("acme"))
        finally:
            db.close()

        d.start()
        # Sealed at start, durably, with the count logged.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "sealed with" not in d.stderr_text():
            time.sleep(0.1)
        self.assertRegex(d.stderr_text(), r"3 private keys of 2 tenants sealed with")
        self.assertEqual(exported_pems(d), before)
        d.stop()
        db = Lmdb(d.data_dir)
        try:
            for t in ("acme", "beta"):
                doc = db.get(t)
                self.assertNotIn('"private"', doc)
                self.assertNotIn("PRIVATE KEY", doc)
                self.assertEqual(doc.count('"sealed"'), 2 if t == "acme" else 1)
        finally:
            db.close()
        # And once more: nothing left to migrate, keys unchanged.
        d.start()
        self.assertEqual(exported_pems(d), before)
        self.assertNotIn("sealed with", d.stderr_text())


if __name__ == "__main__":
    harness.main()
