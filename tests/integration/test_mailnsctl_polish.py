#!/usr/bin/python3
"""mailnsctl for humans and shells against a real daemon: tables fitted to the
width, colours only on a terminal, --json for every subcommand, the generated
bash completion, the stats rendering and the exit codes."""

import fcntl
import json
import os
import pty
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

ESC = "\x1b["
# Subcommands and the arguments that make each one succeed (filled in with
# the class's tenants). "stats" joins when the daemon answers it.
SUBCOMMANDS = [
    ["status"],
    ["tenant", "get", "pol-ns"],
    ["tenant", "list"],
    ["tenant", "list", "--all", "--limit", "1"],
    ["tenant", "records", "pol-ns"],
    ["tenant", "instructions", "pol-cn"],
    ["tenant", "instructions", "pol-cn", "--format", "csv"],
    ["tenant", "check", "pol-ns"],
    ["tenant", "update", "pol-ns", "--set", "dmarc.p=quarantine"],
    ["plugin", "list"],
    ["dkim", "keys", "pol-ns"],
    ["dkim", "status"],
    ["verify", "status"],
    ["verify", "status", "pol-ns"],
    ["commands"],
    ["call", "tenant.get", '{"tenant": "pol-cn"}'],
]


class MailnsctlPolishTest(harness.MailnsTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = cls.class_daemon()
        cls.d.add_tenant("pol-ns", "pol-ns.example")
        cls.d.add_tenant("pol-cn-with-a-rather-long-tenant-identifier", "pol-cn.example",
                         mode="cname")
        cls.d.add_tenant("pol-cn", "pol-cn2.example", mode="cname")
        cls.answered = {c["name"] for c in cls.d.call("commands", {})["commands"]}

    def ctl(self, *args, env=None, expect=0, socket=True):
        argv = [harness.mailnsctl_path()]
        if socket:
            argv += ["-s", self.d.sock_path]
        argv += list(args)
        e = {k: v for k, v in os.environ.items() if k not in ("MAILNS_SOCKET", "NO_COLOR",
                                                               "COLUMNS")}
        e.update(env or {})
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=e, timeout=60)
        if expect is not None:
            self.assertEqual(p.returncode, expect, "%s\nstdout:\n%s\nstderr:\n%s"
                             % (argv, p.stdout, p.stderr))
        return p

    def ctl_pty(self, *args, env=None, cols=100):
        """Runs mailnsctl with stdout on a pseudo-terminal of `cols` columns."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
        e = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
        e["TERM"] = "xterm"
        e.update(env or {})
        argv = [harness.mailnsctl_path(), "-s", self.d.sock_path] + list(args)
        p = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE, env=e)
        os.close(slave)
        out = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 1.0)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        os.close(master)
        rc = p.wait(timeout=30)
        err = p.stderr.read().decode()
        p.stderr.close()
        self.assertEqual(rc, 0, "%s: %s" % (argv, err))
        return out.decode().replace("\r\n", "\n")

    def subcommands(self):
        cmds = [list(c) for c in SUBCOMMANDS]
        if "stats" in self.answered:
            cmds.append(["stats"])
        return cmds

    # --- width -----------------------------------------------------------------
    def test_tables_fit_columns(self):
        tables = (["tenant", "list"], ["plugin", "list"], ["dkim", "keys", "pol-ns"],
                  ["commands"], ["tenant", "instructions", "pol-cn", "--format", "json"])
        for args in tables:
            with self.subTest(args=args):
                out = self.ctl(*args, env={"COLUMNS": "60"}).stdout
                lines = out.splitlines()
                self.assertGreater(len(lines), 1, out)
                for ln in lines:
                    self.assertLessEqual(len(ln), 60, "line wider than COLUMNS=60:\n" + out)
                self.assertNotIn(ESC, out)
        # The key does not fit: its cell is cut and marked; the short columns stay whole.
        out = self.ctl("dkim", "keys", "pol-ns", env={"COLUMNS": "60"}).stdout
        self.assertRegex(out, r"(?m)^s1\s+rsa\s+2048\s+active\s+\d+\s+MII\S*\u2026$")
        wide = self.ctl("dkim", "keys", "pol-ns", env={"COLUMNS": "1000"}).stdout
        self.assertTrue(any(len(ln) > 300 for ln in wide.splitlines()), wide)
        self.assertNotIn("\u2026", wide)
        # Without a terminal or COLUMNS: 80.
        out = self.ctl("tenant", "list").stdout
        self.assertLessEqual(max(len(ln) for ln in out.splitlines()), 80)
        self.assertIn("pol-cn-with-a-rather-long-tenant-identifier", self.ctl(
            "tenant", "list", env={"COLUMNS": "200"}).stdout)

    def test_table_width_from_terminal(self):
        out = self.ctl_pty("dkim", "keys", "pol-ns", "--color=never", cols=50)
        lines = out.splitlines()
        self.assertGreater(len(lines), 1, out)
        for ln in lines:
            self.assertLessEqual(len(ln), 50, "wider than the 50-column terminal:\n" + out)
        # The terminal's size wins over COLUMNS.
        out = self.ctl_pty("dkim", "keys", "pol-ns", "--color=never", cols=50,
                           env={"COLUMNS": "200"})
        self.assertLessEqual(max(len(ln) for ln in out.splitlines()), 50, out)

    # --- colours -----------------------------------------------------------------
    def test_no_escapes_when_not_a_terminal(self):
        for args in self.subcommands() + [["--help"]]:
            with self.subTest(args=args):
                p = self.ctl(*args)
                self.assertNotIn(ESC, p.stdout)
                self.assertNotIn(ESC, p.stderr)
        p = self.ctl("tenant", "get", "nosuch", expect=1)
        self.assertNotIn(ESC, p.stderr)
        # Asked for, colours come through a pipe too.
        out = self.ctl("--color=always", "tenant", "list").stdout
        self.assertIn(ESC + "1m", out)

    def test_colours_on_a_terminal(self):
        out = self.ctl_pty("tenant", "list")
        self.assertIn(ESC + "1mTENANT", out)
        self.assertIn("pol-ns", out)
        out = self.ctl_pty("status")
        self.assertIn(ESC + "1mversion:" + ESC + "0m", out)
        # NO_COLOR and --color=never turn them off; --color=always beats NO_COLOR.
        self.assertNotIn(ESC, self.ctl_pty("tenant", "list", env={"NO_COLOR": "1"}))
        self.assertNotIn(ESC, self.ctl_pty("tenant", "list", "--color", "never"))
        self.assertIn(ESC, self.ctl_pty("--color=always", "tenant", "list",
                                        env={"NO_COLOR": "1"}))
        self.assertNotIn(ESC, self.ctl_pty("tenant", "list", env={"TERM": "dumb"}))

    # --- JSON --------------------------------------------------------------------
    def test_json_for_every_subcommand(self):
        for args in self.subcommands() + [["dkim", "rotate", "pol-cn"]]:
            with self.subTest(args=args):
                p = self.ctl("--json", *args)
                try:
                    res = json.loads(p.stdout)
                except ValueError as e:
                    self.fail("--json output of %s does not parse (%s):\n%s"
                              % (args, e, p.stdout))
                self.assertIsInstance(res, dict)
        res = json.loads(self.ctl("--json", "tenant", "get", "pol-ns").stdout)
        self.assertEqual(res, self.d.call("tenant.get", {"tenant": "pol-ns"}))
        res = json.loads(self.ctl("commands", "--json").stdout)
        self.assertEqual(res, self.d.call("commands", {}))
        res = json.loads(self.ctl("--json", "tenant", "add", "pol-tmp", "pol-tmp.example").stdout)
        self.assertEqual(res["tenant"], "pol-tmp")
        res = json.loads(self.ctl("--json", "tenant", "remove", "pol-tmp").stdout)
        self.assertIs(res.get("removed"), True)

    # --- stats -----------------------------------------------------------------------
    def test_stats(self):
        if "stats" not in self.answered:
            self.skipTest("this daemon has no 'stats' command")
        res = json.loads(self.ctl("--json", "stats").stdout)
        self.assertIsInstance(res, dict)
        out = self.ctl("stats").stdout
        got = {}
        for ln in out.splitlines():
            m = re.match(r"^(\S+)\s+(-?\d+)$", ln)
            self.assertIsNotNone(m, "not a 'dotted.key value' line: %r" % ln)
            got[m.group(1)] = int(m.group(2))
        # The same leaves as the JSON (counters may have moved in between).
        want = {}

        def walk(prefix, v):
            if isinstance(v, dict) and v:
                for k, e in v.items():
                    walk(prefix + "." + k if prefix else k, e)
            else:
                want[prefix] = v
        walk("", res)
        self.assertEqual(set(got), set(want))
        # Aligned: every value ends in the same column.
        self.assertEqual(len({len(ln) for ln in out.splitlines()}), 1, out)

    # --- completion --------------------------------------------------------------------
    def complete(self, script, words):
        """COMPREPLY of the generated script for COMP_WORDS = words (last: being typed)."""
        argv = [harness.mailnsctl_path()] + words
        prog = ("source %s\n" % shlex.quote(script) +
                "COMP_WORDS=(%s)\n" % " ".join(shlex.quote(w) for w in argv) +
                "COMP_CWORD=%d\n" % (len(argv) - 1) +
                "_mailnsctl\n"
                "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
        p = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted(w for w in p.stdout.splitlines() if w)

    def test_bash_completion(self):
        p = self.ctl("--completion", "bash", socket=False)
        script = os.path.join(self.tmpdir(), "mailnsctl.bash")
        with open(script, "w") as f:
            f.write(p.stdout)
        # The build generated the same script, for installation.
        built = os.path.join(os.path.dirname(harness.mailnsctl_path()), "mailnsctl.bash")
        with open(built) as f:
            self.assertEqual(f.read(), p.stdout)
        check = subprocess.run(["bash", "-c", "source %s; complete -p mailnsctl"
                                % shlex.quote(script)], stdout=subprocess.PIPE, text=True,
                               timeout=60)
        self.assertIn("-F _mailnsctl mailnsctl", check.stdout)
        sock = ["-s", self.d.sock_path]
        cases = [
            (["te"], ["tenant"]),
            (["s"], ["stats", "status"]),
            (["tenant", "re"], ["records", "remove"]),
            (["dkim", ""], ["keys", "rotate", "status"]),
            (["tenant", "add", "x", "x.example", "--m"], ["--mode"]),
            (["tenant", "add", "x", "x.example", "--mode", ""], ["cname", "ns"]),
            (["tenant", "instructions", "pol-ns", "--format", "=", "c"], ["csv"]),
            (["tenant", "list", "--a"], ["--after", "--all"]),
            (["--col"], ["--color"]),
            (["--color", "a"], ["always", "auto"]),
            (sock + ["tenant", "get", "pol-c"],
             ["pol-cn", "pol-cn-with-a-rather-long-tenant-identifier"]),
            (sock + ["call", "tenant.re"], ["tenant.records", "tenant.remove"]),
            (sock + ["dkim", "keys", "pol-ns", ""], []),  # one ID only
        ]
        for words, want in cases:
            with self.subTest(words=words):
                self.assertEqual(self.complete(script, words), want)

    # --- exit codes ------------------------------------------------------------------------
    def test_exit_codes(self):
        self.ctl("status", expect=0)
        p = self.ctl("tenant", "get", "nosuch", expect=1)
        self.assertRegex(p.stderr, r"^error: unknown_tenant: ")
        for args in (["bogus"], ["--color=sometimes", "status"], ["--completion", "zsh"],
                     ["tenant", "add", "x", "x.example", "--mode", "both"],
                     ["dkim", "rotate", "pol-ns", "--algorithm", "dsa"], ["stats", "extra"]):
            with self.subTest(args=args):
                p = self.ctl(*args, expect=2)
                self.assertTrue(p.stderr.strip())
        missing = os.path.join(self.tmpdir(), "none.sock")
        p = self.ctl("-s", missing, "status", socket=False, expect=3)
        self.assertIn(missing, p.stderr)
        help_text = self.ctl("--help", socket=False).stdout
        self.assertIn("Exit status: 0 ok; 1 the daemon refused", help_text)
        self.assertIn("2 usage error; 3 cannot connect", help_text)


if __name__ == "__main__":
    harness.main()
