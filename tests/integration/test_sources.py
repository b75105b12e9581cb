"""The sources pass `make check`: every library and command source includes
util/banned.h, is formatted as .clang-format says, and passes cppcheck
(warnings, performance, portability).  Run in the suite so that drift is a
failure when it is made, not a pile found later."""
import subprocess

from harness import ROOT


def test_the_sources_pass_make_check():
    proc = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "check"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:]


test_the_sources_pass_make_check.timeout = 600
