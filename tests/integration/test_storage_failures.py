#!/usr/bin/python3
"""Storage failures: a full data volume, a full LMDB map, a read-only volume.

Each mutation that cannot be stored fails with a clear error (disk_full,
store_full, store_read_only), nothing half-written appears, the daemon keeps
answering for every tenant it has, and once the cause is gone mutations work
again. A daemon started on a read-only data directory refuses to start
(start-up writes to the store; see core/store/store.c).

The volume tests mount a small tmpfs and need root; they are skipped with a
message otherwise. Mounts are removed in cleanup even when a test fails.
"""

import errno
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

CONF = """
[server]
plugins = dkim spf mx dmarc
[plugin.dkim]
rsa-bits = 1024
key-pool = 2
"""


def run(*cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class StorageTestCase(harness.MailnsTestCase):
    def mount_tmpfs(self, size="4m"):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root (running as uid %d)" % os.geteuid())
        work = self.tmpdir("stor")
        vol = os.path.join(work, "vol")
        os.mkdir(vol, 0o700)
        r = run("mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", vol)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: %s" % r.stdout.strip())
        # Cleanups run after tearDown (which stops the daemons): unmount last.
        self.addCleanup(self.unmount, vol)
        return work, vol

    @staticmethod
    def unmount(vol):
        if run("umount", vol).returncode != 0:
            run("umount", "-l", vol)

    def remount(self, vol, mode):
        r = run("mount", "-o", "remount,%s" % mode, vol)
        self.assertEqual(r.returncode, 0, r.stdout)

    def assertServes(self, d, tenants):
        """Every tenant's zone answers: SOA at the stored serial, SPF TXT."""
        for tid, doc in tenants.items():
            zone = doc["zone"]
            stored = d.call("tenant.get", {"tenant": tid})
            soa = self.assertAnswer(d.query(zone, "SOA"), zone, "SOA")[0]
            self.assertEqual(soa.serial, stored["serial"])
            self.assertSpf(d.query(zone, "TXT"), zone, (stored.get("spf") or {}).get("extra", ()))

    def assertNotStored(self, d, tid, zone):
        self.assertCtlError(d, "tenant.get", {"tenant": tid}, "unknown_tenant")
        self.assertRefused(d.query(zone, "SOA"))

    def assertListed(self, d, tenants):
        listed = d.call("tenant.list", {"limit": 1000})
        self.assertEqual(sorted(t["tenant"] for t in listed["tenants"]), sorted(tenants))


class DiskFullTest(StorageTestCase):
    def fill(self, path):
        """Writes until the volume is full; returns the octets written."""
        total = 0
        chunk = b"\0" * 65536
        with open(path, "wb", buffering=0) as f:
            for _ in range(4096):  # bounded: 256 MiB at most
                try:
                    total += f.write(chunk)
                except OSError as e:
                    self.assertEqual(e.errno, errno.ENOSPC)
                    break
            for _ in range(64):  # the last partial pages
                try:
                    total += f.write(b"\0" * 512)
                except OSError:
                    break
        return total

    def test_full_volume_refuses_mutations_and_keeps_serving(self):
        work, vol = self.mount_tmpfs("4m")
        d = self.new_daemon(workdir=work, conf=CONF, data=os.path.join(vol, "data"))
        tenants = {}
        for i in range(3):
            tenants["full%d" % i] = d.add_tenant("full%d" % i, "full%d.example" % i)
        filler = os.path.join(vol, "filler")
        self.assertGreater(self.fill(filler), 0)

        failed = None
        for i in range(3, 400):  # LMDB reuses its free pages first
            tid = "full%d" % i
            reply = d.ctl.request("tenant.add", {"tenant": tid, "domain": "%s.example" % tid})
            if not reply["ok"]:
                failed = (tid, reply["error"])
                break
            tenants[tid] = reply["result"]
        self.assertIsNotNone(failed, "the full volume never refused a mutation")
        tid, err = failed
        self.assertEqual(err["code"], "disk_full", err)
        self.assertIn("no space left on the data volume", err["message"])
        self.assertIn("nothing was stored", err["message"])
        self.assertNotStored(d, tid, "mgeu.%s.example" % tid)
        # An update fails whole, too.
        before = d.call("tenant.get", {"tenant": "full0"})
        up = d.ctl.request("tenant.update", {"tenant": "full0",
                                             "spf": {"extra": ["ip4:198.51.100.9"]}})
        if not up["ok"]:
            self.assertEqual(up["error"]["code"], "disk_full", up)
            self.assertEqual(d.call("tenant.get", {"tenant": "full0"}), before)
        else:
            before = up["result"]
        self.assertListed(d, tenants)
        self.assertServes(d, tenants)
        self.assertEqual(d.call("status")["tenants"], len(tenants))

        # Space freed: the same mutation works.
        os.unlink(filler)
        tenants[tid] = d.add_tenant(tid, "%s.example" % tid)
        self.assertServes(d, tenants)
        # Nothing was damaged on disk: a restart serves the same.
        self.assertEqual(d.stop(), 0)
        d.start()
        self.assertListed(d, tenants)
        self.assertServes(d, tenants)


class MapFullTest(StorageTestCase):
    def test_full_map_refuses_mutations_until_raised(self):
        d = self.new_daemon(conf=CONF.replace("[server]\n", "[server]\nstore-map-size = 192K\n"))
        tenants = {}
        failed = None
        for i in range(400):
            tid = "map%d" % i
            reply = d.ctl.request("tenant.add", {"tenant": tid, "domain": "%s.example" % tid})
            if not reply["ok"]:
                failed = (tid, reply["error"])
                break
            tenants[tid] = reply["result"]
        self.assertIsNotNone(failed, "a 192 KiB store never filled up")
        self.assertGreater(len(tenants), 3)
        tid, err = failed
        self.assertEqual(err["code"], "store_full", err)
        self.assertIn("tenant store is full", err["message"])
        self.assertIn("store-map-size", err["message"])
        self.assertNotStored(d, tid, "mgeu.%s.example" % tid)
        self.assertListed(d, tenants)
        self.assertServes(d, tenants)

        # The remedy the message names: a larger map, then a restart.
        self.assertEqual(d.stop(), 0)
        d.write_conf(CONF.replace("[server]\n", "[server]\nstore-map-size = 4M\n"))
        d.start()
        tenants[tid] = d.add_tenant(tid, "%s.example" % tid)
        self.assertListed(d, tenants)
        self.assertServes(d, tenants)

    def test_bad_map_size_is_refused(self):
        for value in ("12Q", "1K", "-5M", "", "2048G"):
            with self.subTest(value=value):
                d = self.new_daemon(start=False, conf="[server]\nstore-map-size = %s\n" % value)
                d.start(wait=False)
                self.assertEqual(d.wait(20), 1)
                self.assertIn("store-map-size", d.stderr_text())


class ReadOnlyTest(StorageTestCase):
    def mount_ext4(self):
        """A small ext4 volume on a loop device: unlike tmpfs, it can turn
        read-only under a daemon that has its store open (remount,abort does
        what errors=remount-ro does on a failing disk); Linux refuses a plain
        remount,ro while files are open for writing."""
        if os.geteuid() != 0:
            self.skipTest("mounting a volume needs root (running as uid %d)" % os.geteuid())
        work = self.tmpdir("rovol")
        img, vol = os.path.join(work, "ext4.img"), os.path.join(work, "vol")
        os.mkdir(vol, 0o700)
        with open(img, "wb") as f:
            f.truncate(16 << 20)
        r = run("mkfs.ext4", "-q", "-F", img)
        if r.returncode != 0:
            self.skipTest("cannot make an ext4 image: %s" % r.stdout.strip())
        r = run("mount", "-o", "loop", img, vol)
        if r.returncode != 0:
            self.skipTest("cannot mount a loop device: %s" % r.stdout.strip())
        self.addCleanup(self.unmount, vol)
        return work, vol

    def test_volume_turns_read_only_under_the_daemon(self):
        work, vol = self.mount_ext4()
        d = self.new_daemon(workdir=work, conf=CONF, data=os.path.join(vol, "data"))
        tenants = {"ro1": d.add_tenant("ro1", "ro1.example")}
        self.remount(vol, "abort")
        self.assertIn("emergency_ro", run("findmnt", "-no", "OPTIONS", vol).stdout)

        err = self.assertCtlError(d, "tenant.add", {"tenant": "ro2", "domain": "ro2.example"},
                                  "store_read_only")
        self.assertIn("not writable", err["message"])
        self.assertIn("nothing was stored", err["message"])
        before = d.call("tenant.get", {"tenant": "ro1"})
        self.assertCtlError(d, "tenant.update", {"tenant": "ro1", "dmarc": {"p": "reject"}},
                            "store_read_only")
        self.assertCtlError(d, "tenant.remove", {"tenant": "ro1"}, "store_read_only")
        self.assertEqual(d.call("tenant.get", {"tenant": "ro1"}), before)
        self.assertNotStored(d, "ro2", "mgeu.ro2.example")
        self.assertListed(d, tenants)
        self.assertServes(d, tenants)
        self.assertEqual(d.stop(), 0)

    def test_start_on_read_only_data_directory_is_refused(self):
        work, vol = self.mount_tmpfs("8m")
        d = self.new_daemon(workdir=work, conf=CONF, data=os.path.join(vol, "data"))
        tenants = {"ro1": d.add_tenant("ro1", "ro1.example")}
        self.assertEqual(d.stop(), 0)
        self.remount(vol, "ro")
        d.start(wait=False)
        self.assertEqual(d.wait(20), 1)
        log = d.stderr_text()
        self.assertIn("data directory %s is not writable" % d.data_dir, log)
        self.assertIn("Read-only file system", log)
        # Writable again: it starts and has lost nothing.
        self.remount(vol, "rw")
        d.start()
        self.assertListed(d, tenants)
        self.assertServes(d, tenants)


if __name__ == "__main__":
    unittest.main(verbosity=2)
