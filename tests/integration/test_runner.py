"""tests/run.py itself: a crashed unit binary, a test file that cannot be
imported and a -k that selects nothing each fail the run with a line that
says so; a unit test run twice (normal and sanitizer build) counts once,
and fails if either run fails; a test that raises harness.Skip counts as
skipped; a test that dies with a file system still mounted in its folder
has it unmounted.  Run against a fake unit binary and
a folder of tiny test files, so it takes a few seconds."""
import os
import stat
import subprocess
import sys

from harness import ROOT, workdir

RUN = os.path.join(ROOT, "tests", "run.py")

UNIT = """#!/bin/sh
[ -n "$1" ] && exit 0  # a filter: none of these three match it
echo "ok - a/one"
echo "not ok - a/two"
echo "  # x.c:1: %s"
[ -n "%s" ] && kill -SEGV $$
echo "%s - a/three"
exit 1
"""

FILES = {
    "test_rr_good.py": "def test_passes():\n    pass\n",
    "test_rr_broken.py": "import no_such_module_anywhere\n\ndef test_never_seen():\n    pass\n",
    "test_rr_skip.py": ("import harness\n\n"
                        "def test_skips():\n"
                        "    raise harness.Skip('no widget here')\n"),
    "test_rr_mount.py": (
        "import os, signal\nimport harness\n\n"
        "def test_dies_with_a_mount():\n"
        "    d = os.path.join(harness.workdir(), 'm')\n"
        "    harness.mount_tmpfs(d, 1)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"),
}


def fake_build(wd, name, crash=False, three="ok"):
    folder = os.path.join(wd, name)
    os.makedirs(folder)
    exe = os.path.join(folder, "unit-tests")
    with open(exe, "w") as f:
        f.write(UNIT % (name, "1" if crash else "", three))
    os.chmod(exe, stat.S_IRWXU)
    return folder


def run(wd, *args):
    env = dict(os.environ, VIGIL_TEST_DIR=os.path.join(wd, "tests"))
    proc = subprocess.run([sys.executable, RUN] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env, timeout=120)
    lines = proc.stdout.splitlines()
    return proc.returncode, lines


def test_the_runner_fails_loudly_and_counts_once():
    wd = workdir()
    os.makedirs(os.path.join(wd, "tests"))
    for name, text in FILES.items():
        with open(os.path.join(wd, "tests", name), "w") as f:
            f.write(text)
    normal = fake_build(wd, "normal")
    crashing = fake_build(wd, "crashing", crash=True)
    san = fake_build(wd, "san", three="not ok")

    # a unit binary that crashes: the tests after it did not run, and say so
    code, lines = run(wd, "--build", crashing, "--only", "unit")
    assert code == 1 and lines[-1] == "1 passed, 2 failed", lines
    assert any(l.startswith("not ok - unit [normal build]: ") and "crashed (SIGSEGV) after "
               "'a/two'" in l for l in lines), lines
    # two builds: each unit test once, failing when either run fails
    code, lines = run(wd, "--build", normal, "--san-build", san, "--only", "unit")
    assert code == 1 and lines[-1] == "1 passed, 2 failed", lines
    assert "ok - unit/a/one" in lines and "not ok - unit/a/three [sanitizer build]" in lines, lines
    assert "not ok - unit/a/two [normal build, sanitizer build]" in lines, lines
    # a file that cannot be imported fails the run, the others still run
    code, lines = run(wd, "--build", normal, "--only", "integration", "-k", "test_rr_good")
    assert code == 1 and lines[-1] == "1 passed, 1 failed", lines
    assert "not ok - integration/test_rr_broken: cannot be imported, its tests did not run" \
        in lines, lines
    assert any(l.startswith("ok - integration/test_rr_good::test_passes") for l in lines), lines
    # a test that cannot run here is counted apart, with its reason
    code, lines = run(wd, "--build", normal, "--only", "integration", "-k", "test_rr_skip")
    assert code == 1 and lines[-2:] == ["1 skipped", "0 passed, 1 failed"], lines
    assert "ok - integration/test_rr_skip::test_skips # SKIP no widget here" in lines, lines
    # -k that selects nothing
    code, lines = run(wd, "--build", normal, "-k", "no_such_test_anywhere")
    assert code == 1 and "not ok - -k 'no_such_test_anywhere' selects no test" in lines, lines
    assert lines[-1].endswith(" failed") and not lines[-1].endswith(" 0 failed"), lines
    # a test killed with a tmpfs mounted in its folder: unmounted, and a failure
    code, lines = run(wd, "--build", normal, "--only", "integration", "-k", "test_rr_mount")
    assert code == 1 and any("left mounted after the test (unmounted now)" in l
                             for l in lines), lines
    with open("/proc/self/mounts") as f:
        assert os.path.join(wd, "") not in f.read()
