#!/usr/bin/python3
"""The manual pages against the code: every config key the parser accepts
(mailnsd --print-config, read from the schema tables) is documented in
mailns.conf(5) and nothing else is; every option of mailnsd --help and
mailnsctl --help is in its page and the other way round; every control
command the daemon answers is in mailnsctl(8); the pages build with scdoc and
render with man (or groff) without warnings."""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

MAN_DIR = os.path.join(harness.SOURCE_DIR, "doc", "man")


def read_page(name):
    with open(os.path.join(MAN_DIR, name + ".scd"), encoding="utf-8") as f:
        return f.read()


def sections(scd):
    """{"OPTIONS": text, ...}: the top-level (# NAME) sections of a page."""
    out, cur = {}, None
    for line in scd.splitlines():
        m = re.match(r"^# (.+)$", line)
        if m:
            cur = m.group(1).strip()
            out[cur] = ""
        elif cur is not None:
            out[cur] += line + "\n"
    return out


def entry_lines(text):
    """The lines that start a definition entry (*term* ... at column 0)."""
    return [ln for ln in text.splitlines() if ln.startswith("*")]


LONG_OPT = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
SHORT_OPT = re.compile(r"(?<![\w-])-[a-zA-Z](?![\w-])")


def options_in(text):
    return set(LONG_OPT.findall(text)) | set(SHORT_OPT.findall(text))


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60, **kw)


class ManPagesTest(harness.MailnsTestCase):
    # --- (a) config keys ------------------------------------------------------
    def print_config(self):
        p = run([harness.mailnsd_path(), "--plugins", harness.plugin_dir(), "--print-config"])
        self.assertEqual(p.returncode, 0, p.stderr)
        keys, defaults, cur = {}, {}, None
        for line in p.stdout.splitlines():
            m = re.match(r"^\[(.+)\]$", line)
            if m:
                cur = m.group(1)
                keys[cur] = []
                continue
            # "#key =": a key without a default (commented out).
            m = re.match(r"^#?([a-z0-9-]+) =(?: (.*))?$", line)
            if m:
                self.assertIsNotNone(cur, line)
                keys[cur].append(m.group(1))
                defaults[(cur, m.group(1))] = (m.group(2) or "").strip('"')
        return keys, defaults

    def documented_keys(self):
        """{section: {key: entry text}} from mailns.conf(5)."""
        doc, cur, key = {}, None, None
        for line in read_page("mailns.conf.5").splitlines():
            m = re.match(r"^## \[(.+)\]\s*$", line)
            if m:
                cur, key = m.group(1), None
                self.assertNotIn(cur, doc, "section [%s] documented twice" % cur)
                doc[cur] = {}
                continue
            if line.startswith("# "):
                cur = key = None
                continue
            m = re.match(r"^\*([a-z0-9-]+)\* =", line)
            if m and cur is not None:
                key = m.group(1)
                self.assertNotIn(key, doc[cur], "[%s] %s documented twice" % (cur, key))
                doc[cur][key] = ""
            elif key is not None and cur is not None:
                doc[cur][key] += line.strip() + " "
        return doc

    def test_every_config_key_documented(self):
        keys, _ = self.print_config()
        # The parser's sections: core ones and every plugin built here.
        for sec in ("server", "vendor", "xfr", "plugin.dkim", "plugin.spf", "plugin.mx",
                    "plugin.dmarc", "plugin.verify"):
            self.assertIn(sec, keys, "--print-config lacks [%s]" % sec)
        self.assertGreater(sum(len(v) for v in keys.values()), 50)
        doc = self.documented_keys()
        for sec, ks in keys.items():
            with self.subTest(section=sec):
                self.assertIn(sec, doc, "mailns.conf(5) has no section [%s]" % sec)
                missing = [k for k in ks if k not in doc[sec]]
                self.assertEqual(missing, [], "[%s] keys the parser accepts but "
                                 "mailns.conf(5) does not document" % sec)
                extra = [k for k in doc[sec] if k not in ks]
                self.assertEqual(extra, [], "[%s] keys mailns.conf(5) documents but "
                                 "the parser does not accept" % sec)
        self.assertEqual(sorted(set(doc) - set(keys)), [],
                         "sections documented that the parser does not know")

    def test_documented_defaults_match(self):
        """"Default: *X*." in an entry is the schema's default ("empty" or "none": "")."""
        _, defaults = self.print_config()
        doc = self.documented_keys()
        checked = 0
        for sec, entries in doc.items():
            for key, text in entries.items():
                m = re.search(r"Default: (.*?)(?:\.\s|\.$|\s\()", text + " ")
                self.assertIsNotNone(m, "[%s] %s: no 'Default:' in its entry" % (sec, key))
                said = m.group(1).strip()
                if "_" in said or (sec, key) not in defaults:
                    continue  # Computed defaults ("mailns _version_").
                want = defaults[(sec, key)]
                if said.startswith("empty") or said.startswith("none"):
                    self.assertEqual(want, "", "[%s] %s" % (sec, key))
                else:
                    got = re.sub(r"\s+", " ", said.replace("*", "")).strip()
                    self.assertEqual(got, want, "[%s] %s: documented default" % (sec, key))
                checked += 1
        self.assertGreater(checked, 40)

    def test_print_config_is_a_valid_config(self):
        """The reference config is accepted by the parser and equals the defaults."""
        p = run([harness.mailnsd_path(), "--plugins", harness.plugin_dir(), "--print-config"])
        self.assertEqual(p.returncode, 0, p.stderr)
        d = self.new_daemon(conf=p.stdout)
        st = d.call("status", {})
        self.assertEqual(st["hosted_zone"], harness.HOSTED_ZONE)
        self.assertEqual(st["plugins"][:4], harness.PLUGINS)
        # Help text and type of every key, as comments.
        self.assertRegex(p.stdout, r"(?m)^# largest EDNS UDP answer.*\n# integer, 512\.\.4096\n"
                                   r"udp-payload = 1232$")

    # --- (b) command-line options ------------------------------------------------
    def check_options(self, binary, page, man_sections):
        p = run([binary, "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        in_help = options_in(p.stdout)
        secs = sections(read_page(page))
        in_man = set()
        for s in man_sections:
            self.assertIn(s, secs, "%s has no %s section" % (page, s))
            for line in entry_lines(secs[s]):
                in_man |= options_in(line)
        self.assertEqual(sorted(in_help - in_man), [],
                         "options in %s --help missing from %s" % (binary, page))
        self.assertEqual(sorted(in_man - in_help), [],
                         "options in %s that %s --help does not know" % (page, binary))
        return in_help

    def test_mailnsd_options(self):
        opts = self.check_options(harness.mailnsd_path(), "mailnsd.8", ["OPTIONS"])
        self.assertIn("--print-config", opts)
        self.assertIn("-c", opts)

    def test_mailnsctl_options(self):
        opts = self.check_options(harness.mailnsctl_path(), "mailnsctl.8",
                                  ["OPTIONS", "COMMANDS"])
        for o in ("--json", "--completion", "--color", "--mode", "--format"):
            self.assertIn(o, opts)

    def test_mailnsctl_subcommands(self):
        """Every subcommand of mailnsctl --help has its entry in COMMANDS."""
        help_text = run([harness.mailnsctl_path(), "--help"]).stdout
        cmds = help_text.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
        names = set()
        for line in cmds.splitlines():
            m = re.match(r"^  ([a-z]+)(?: ([a-z]+))?(?=\s|$)", line)
            if m:
                names.add(" ".join(w for w in m.groups() if w))
        self.assertIn("tenant add", names)
        self.assertIn("stats", names)
        entries = entry_lines(sections(read_page("mailnsctl.8"))["COMMANDS"])
        documented = {re.match(r"^\*([^*]+)\*", ln).group(1) for ln in entries}
        self.assertEqual(sorted(names - documented), [])

    def test_exit_codes_documented(self):
        for page in ("mailnsd.8", "mailnsctl.8"):
            self.assertIn("EXIT STATUS", sections(read_page(page)))
        st = sections(read_page("mailnsctl.8"))["EXIT STATUS"]
        self.assertEqual([ln.strip("*") for ln in entry_lines(st)], ["0", "1", "2", "3"])
        help_text = run([harness.mailnsctl_path(), "--help"]).stdout
        self.assertRegex(help_text, r"Exit status: 0 ok; 1 the daemon refused[^;]*; 2 usage "
                                    r"error; 3 cannot connect")

    # --- (c) control commands ----------------------------------------------------
    def test_every_control_command_documented(self):
        d = self.new_daemon()
        answered = [c["name"] for c in d.call("commands", {})["commands"]]
        for c in ("status", "tenant.add", "plugin.list", "commands", "dkim.rotate",
                  "verify.now"):
            self.assertIn(c, answered)
        plugin_cmds = {c for p in d.call("plugin.list", {})["plugins"] for c in p["commands"]}
        self.assertLessEqual(plugin_cmds, set(answered))
        entries = entry_lines(sections(read_page("mailnsctl.8"))["CONTROL COMMANDS"])
        documented = {ln.strip().strip("*") for ln in entries}
        self.assertEqual(sorted(set(answered) - documented), [],
                         "control commands the daemon answers that mailnsctl(8) "
                         "does not document")

    # --- (d) the pages build and render --------------------------------------------
    def test_pages_build_and_render(self):
        scdoc = shutil.which("scdoc")
        self.assertIsNotNone(scdoc, "scdoc is a build dependency (apt-get install scdoc)")
        out = self.tmpdir("man")
        for name in ("mailnsd.8", "mailnsctl.8", "mailns.conf.5"):
            with self.subTest(page=name):
                with open(os.path.join(MAN_DIR, name + ".scd"), "rb") as src:
                    p = subprocess.run([scdoc], stdin=src, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, timeout=60)
                self.assertEqual(p.returncode, 0, p.stderr.decode())
                self.assertEqual(p.stderr, b"")
                path = os.path.join(out, name)
                with open(path, "wb") as f:
                    f.write(p.stdout)
                env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat",
                           LC_ALL="C.UTF-8")
                if shutil.which("man"):
                    r = run(["man", "--warnings=w", "-l", path], env=env)
                else:
                    r = run(["groff", "-man", "-Tutf8", "-ww", path], env=env)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "", "warnings rendering %s" % name)
                self.assertIn("NAME", r.stdout)
                self.assertIn(name.split(".")[0], r.stdout)
                self.assertGreater(len(r.stdout.splitlines()), 60)
                # groff itself, strict, on the ASCII source.
                g = run(["groff", "-man", "-Tutf8", "-ww", "-z", path])
                self.assertEqual((g.returncode, g.stderr), (0, ""), name)


if __name__ == "__main__":
    harness.main()
