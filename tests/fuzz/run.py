#!/usr/bin/env python3
"""Runs every fuzz target for a fixed budget: `make fuzz` (60 s each) and,
shorter, `make test` (tests/integration/test_security_fuzz.py).

    tests/fuzz/run.py [--build build/fuzz] [--seconds 60] [--target NAME]...

Each target starts from its seed corpus in the repository
(tests/fuzz/corpus/TARGET, read only) plus what earlier runs found
(BUILD/corpus/TARGET, where new inputs are kept); a crash, a leak, a
sanitizer report or a timeout leaves its input in BUILD/artifacts/ and fails
the run.  Prints one line per target:

    FUZZ config: 812345 runs in 60 s, corpus 412 inputs, coverage 1234, 0 crashes
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGETS = ["config", "health_parse", "rtsp", "inspect"]
# per target: libFuzzer's limits (an input slower than -timeout is a hang)
OPTIONS = {
    "config": ["-max_len=16384", "-timeout=10"],
    "health_parse": ["-max_len=20000", "-timeout=10"],
    # a segment file's head or one keyframe; a decode takes milliseconds
    "inspect": ["-max_len=65536", "-timeout=10", "-rss_limit_mb=2048"],
    # the recorder's own deadlines are 1 s; stopping it must take under 2 s
    "rtsp": ["-max_len=70000", "-timeout=20", "-close_fd_mask=2"],
}


def run_target(build, target, seconds, runs=None):
    exe = os.path.join(build, "fuzz-" + target)
    if not os.access(exe, os.X_OK):
        return False, "%s is missing: make fuzz-build" % exe
    work = os.path.join(build, "corpus", target)
    artifacts = os.path.join(build, "artifacts", target) + "/"
    os.makedirs(work, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    args = [exe, "-artifact_prefix=" + artifacts, "-print_final_stats=1"] + OPTIONS[target]
    if runs is not None:
        args.append("-runs=%d" % runs)
    else:
        args.append("-max_total_time=%d" % seconds)
    args += [work, os.path.join(HERE, "corpus", target)]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", env=env, cwd=ROOT)
    out = proc.stdout
    m_runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
    m_time = re.search(r"Done (\d+) runs in (\d+) second", out)
    m_cov = re.findall(r"cov: (\d+)", out)
    m_corp = re.findall(r"corp: (\d+)/", out)
    corpus = int(m_corp[-1]) if m_corp else len(os.listdir(work))
    crashes = len([f for f in os.listdir(artifacts) if not f.startswith(".")])
    ok = proc.returncode == 0 and "ERROR:" not in out and "runtime error" not in out
    line = "FUZZ %s: %s runs in %s s, corpus %d inputs, coverage %s, %s" % (
        target, m_runs.group(1) if m_runs else "?", m_time.group(2) if m_time else "?",
        corpus, m_cov[-1] if m_cov else "?", "0 crashes" if ok else "FAILED (exit %d)" % proc.returncode)
    if not ok:
        tail = [l for l in out.splitlines() if not l.startswith("#")][-60:]
        line += "\n" + "\n".join("  " + l for l in tail)
        line += "\n  artifacts: %s (%d files)" % (artifacts, crashes)
    return ok, line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "fuzz"))
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--runs", type=int, default=None, help="a number of inputs instead of a time")
    ap.add_argument("--target", action="append", choices=TARGETS)
    args = ap.parse_args()
    failed = 0
    for t in args.target or TARGETS:
        ok, line = run_target(args.build, t, args.seconds, args.runs)
        print(line, flush=True)
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
