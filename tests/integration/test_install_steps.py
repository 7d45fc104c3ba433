#!/usr/bin/python3
"""tools/check-install-steps: passes on the tree as it is, and fails, naming
the difference, when README.md, docker/Dockerfile or tools/packages.sh drift
apart (run on modified copies of the three files)."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MNS_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(SOURCE_DIR, "tools", "check-install-steps")
FILES = ("README.md", "docker/Dockerfile", "tools/packages.sh")


class InstallStepsTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="mns-steps-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.root, True)
        for f in FILES:
            os.makedirs(os.path.dirname(os.path.join(self.root, f)) or self.root, exist_ok=True)
            shutil.copy(os.path.join(SOURCE_DIR, f), os.path.join(self.root, f))

    def check(self, root=None):
        return subprocess.run([sys.executable, SCRIPT, root or self.root], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=60)

    def edit(self, f, old, new, count=1):
        path = os.path.join(self.root, f)
        with open(path) as fh:
            text = fh.read()
        self.assertIn(old, text, "%s no longer holds %r: update this test" % (f, old))
        with open(path, "w") as fh:
            fh.write(text.replace(old, new, count))

    def assertDrift(self, *needles):
        p = self.check()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        for n in needles:
            self.assertIn(n, p.stderr)

    def test_tree_agrees(self):
        p = self.check(SOURCE_DIR)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("install steps agree", p.stdout)

    def test_copy_agrees(self):
        p = self.check()
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_readme_package_dropped(self):
        self.edit("README.md", " libjansson-dev ", " ")
        self.assertDrift("lacks tools/packages.sh build packages: libjansson-dev",
                         "step 2: Dockerfile: apt-get install")

    def test_dockerfile_configure_changed(self):
        self.edit("docker/Dockerfile", "-DCMAKE_INSTALL_PREFIX=/usr",
                  "-DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=Debug")
        self.assertDrift("different install steps", "-DCMAKE_BUILD_TYPE=Debug")

    def test_dockerfile_step_missing(self):
        self.edit("docker/Dockerfile", "RUN cmake --install build-release\n", "")
        self.assertDrift("(none)")

    def test_packages_sh_grows(self):
        self.edit("tools/packages.sh", "libjansson-dev ", "libjansson-dev libfoo-dev ")
        self.assertDrift("lacks tools/packages.sh build packages: libfoo-dev")

    def test_markers_missing(self):
        self.edit("README.md", "<!-- install-steps: end -->", "")
        self.assertDrift("no <!-- install-steps: begin -->")
        self.setUp()
        self.edit("docker/Dockerfile", "# install-steps: end", "# end")
        self.assertDrift("no '# install-steps: begin'")

    def test_same_commands_other_run_split(self):
        # One RUN with && is the same sequence of commands: still agrees.
        path = os.path.join(self.root, "docker/Dockerfile")
        with open(path) as fh:
            text = fh.read()
        text2 = re.sub(r"RUN apt-get update\nRUN apt-get install",
                       "RUN apt-get update \\\\\n    && apt-get install", text)
        self.assertNotEqual(text, text2)
        with open(path, "w") as fh:
            fh.write(text2)
        p = self.check()
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
