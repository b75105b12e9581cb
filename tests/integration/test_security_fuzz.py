"""Hostile input, the short pass of `make test` (issue 5, promise 5): each
libFuzzer target (tests/fuzz/, built with clang, ASan and UBSan by `make
fuzz-build`) runs its seed corpus and then mutates for a few seconds.  Any
crash, leak, sanitizer report or hang fails the test and leaves the input in
build/fuzz/artifacts/.  `make fuzz` runs the same for 60 s a target."""
import os
import sys

from harness import BUILD, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "fuzz"))
import run as fuzz_run  # noqa: E402  (tests/fuzz/run.py)

FUZZ_BUILD = os.path.join(BUILD, "fuzz")


def run(target, seconds):
    ok, line = fuzz_run.run_target(FUZZ_BUILD, target, seconds)
    print("FIGURE " + line.splitlines()[0])
    assert ok, line


def test_fuzz_config_and_health_payloads():
    run("config", 8)
    run("health_parse", 8)


def test_fuzz_rtsp_path():
    # the corpus alone takes ~8 s: every crafted case, then mutations
    run("rtsp", 20)


test_fuzz_rtsp_path.timeout = 180
test_fuzz_rtsp_path.weight = 3
