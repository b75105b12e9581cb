#!/usr/bin/env python3
"""Runs vigil's whole test suite and ends with one line: "N passed, N failed".

Unit tests: build/unit-tests prints "ok - name" / "not ok - name" lines.
Integration tests: every test_* function of tests/integration/test_*.py runs
in its own process (so a hang or crash is contained), several at once since
they mostly wait on real time.  Each test makes its own temporary folder and
picks free ports, so two copies of the suite can run on one machine.

usage: tests/run.py [--build DIR] [--only unit|integration] [-k FILTER] [-j N]
"""
import argparse
import importlib.util
import inspect
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_TIMEOUT = 240


def run_unit(build, pattern):
    exe = os.path.join(build, "unit-tests")
    args = [exe] + ([pattern] if pattern else [])
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, cwd=ROOT)
    passed = failed = 0
    for line in proc.stdout.splitlines():
        if line.startswith("ok - "):
            passed += 1
            print("ok - unit/" + line[5:], flush=True)
        elif line.startswith("not ok - "):
            failed += 1
            print("not ok - unit/" + line[9:], flush=True)
        elif line.startswith("  #"):
            print(line, flush=True)
    if proc.returncode not in (0, 1) or (passed + failed == 0 and not pattern):
        print("not ok - unit tests did not run (exit %d)\n%s" % (proc.returncode, proc.stdout[-2000:]),
              flush=True)
        failed += 1
    return passed, failed


def discover(pattern):
    found = []
    folder = os.path.join(HERE, "integration")
    for name in sorted(os.listdir(folder)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        path = os.path.join(folder, name)
        spec = importlib.util.spec_from_file_location(name[:-3], path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, folder)
        spec.loader.exec_module(module)
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            if not fname.startswith("test_") or fn.__module__ != module.__name__:
                continue
            full = "%s::%s" % (name[:-3], fname)
            if pattern and pattern not in full:
                continue
            timeout = getattr(fn, "timeout", DEFAULT_TIMEOUT)
            # the longest first, so the pool ends together
            found.append((getattr(fn, "weight", 1), full, name[:-3], fname, timeout))
    found.sort(key=lambda t: (-t[0], t[1]))
    return found


def run_one(build, item):
    _, full, module, fname, timeout = item
    env = dict(os.environ, VIGIL_BUILD=os.path.abspath(build), PYTHONDONTWRITEBYTECODE="1")
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, os.path.join(HERE, "integration", "runone.py"),
                               module, fname], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
                              timeout=timeout, start_new_session=True)
        ok = proc.returncode == 0
        output = proc.stdout
    except subprocess.TimeoutExpired as e:
        ok = False
        output = (e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")) + \
            "\n(timed out after %d s)" % timeout
    return full, ok, time.monotonic() - start, output


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", choices=["unit", "integration"])
    ap.add_argument("-k", dest="pattern", default=None)
    ap.add_argument("-j", dest="jobs", type=int, default=int(os.environ.get("VIGIL_TEST_JOBS", "4")))
    args = ap.parse_args()

    passed = failed = 0
    if args.only in (None, "unit"):
        p, f = run_unit(args.build, args.pattern)
        passed += p
        failed += f
    if args.only in (None, "integration"):
        items = discover(args.pattern)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for full, ok, secs, output in pool.map(lambda i: run_one(args.build, i), items):
                if ok:
                    passed += 1
                    print("ok - integration/%s (%.1fs)" % (full, secs), flush=True)
                else:
                    failed += 1
                    print("not ok - integration/%s (%.1fs)" % (full, secs), flush=True)
                    for line in output.splitlines()[-60:]:
                        print("  # " + line, flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
