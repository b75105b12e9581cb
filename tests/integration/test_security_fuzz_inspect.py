"""Hostile footage for picture inspection, the short pass of `make test`:
the libFuzzer target tests/fuzz/fuzz_inspect.c (ASan, UBSan) runs its seed
corpus (real H.264 and H.265 segments, whole and torn) and then mutates
segment files and keyframes for a few seconds.  A corrupt keyframe must be
a failed check with a reason: any crash, leak, sanitizer report or hang
fails the test and leaves the input in build/fuzz/artifacts/inspect/."""
import os
import sys

from harness import BUILD, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "fuzz"))
import run as fuzz_run  # noqa: E402  (tests/fuzz/run.py)


def test_fuzz_inspect_decode_and_analyse():
    ok, line = fuzz_run.run_target(os.path.join(BUILD, "fuzz"), "inspect", 10)
    print("FIGURE " + line.splitlines()[0])
    assert ok, line


test_fuzz_inspect_decode_and_analyse.timeout = 120
