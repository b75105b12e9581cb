#!/usr/bin/env python3
"""Runs vigil's whole test suite and ends with one line: "N passed, N failed".

Unit tests: build/unit-tests prints "ok - name" / "not ok - name" lines.
Integration tests: every test_* function of tests/integration/test_*.py runs
in its own process (so a hang or crash is contained), several at once since
they mostly wait on real time.  Each test makes its own temporary folder and
picks free ports, so two copies of the suite can run on one machine.

Test attributes (set on the function: `test_x.timeout = 600`): timeout
(seconds), weight (longest first), san = True (also run against the
sanitizer build given by --san-build: ASan+UBSan reports fail the test),
soak = True (long runs: only with --soak, never in `make test`).  A line a
passing test prints starting with "FIGURE" is shown: docs/RELIABILITY.md
quotes them.

usage: tests/run.py [--build DIR] [--san-build DIR] [--soak] [--only unit|integration]
                    [-k FILTER] [-j N]
"""
import argparse
import importlib.util
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_TIMEOUT = 240


def san_env(env, folder):
    """Sanitizer reports go to files in folder, so a test fails on any."""
    env = dict(env)
    env["ASAN_OPTIONS"] = "log_path=%s/asan:detect_leaks=1:verify_asan_link_order=0" % folder
    env["LSAN_OPTIONS"] = "suppressions=%s" % os.path.join(HERE, "san", "lsan.supp")
    env["UBSAN_OPTIONS"] = "log_path=%s/ubsan:print_stacktrace=1:halt_on_error=1" % folder
    return env


def san_reports(folder):
    text = ""
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), errors="replace") as f:
            text += "==== %s\n%s" % (name, f.read())
    return text


def run_unit(build, pattern, label="unit", san=False):
    exe = os.path.join(build, "unit-tests")
    args = [exe] + ([pattern] if pattern else [])
    folder = tempfile.mkdtemp(prefix="vigil-san-") if san else None
    env = san_env(os.environ, folder) if san else None
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, cwd=ROOT, env=env)
    passed = failed = 0
    for line in proc.stdout.splitlines():
        if line.startswith("ok - "):
            passed += 1
            print("ok - %s/%s" % (label, line[5:]), flush=True)
        elif line.startswith("not ok - "):
            failed += 1
            print("not ok - %s/%s" % (label, line[9:]), flush=True)
        elif line.startswith("  #"):
            print(line, flush=True)
    if proc.returncode not in (0, 1) or (passed + failed == 0 and not pattern):
        print("not ok - %s tests did not run (exit %d)\n%s" % (label, proc.returncode,
                                                               proc.stdout[-2000:]), flush=True)
        failed += 1
    if san:
        reports = san_reports(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if reports:
            print("not ok - %s: sanitizer reports" % label, flush=True)
            for line in reports.splitlines()[:80]:
                print("  # " + line, flush=True)
            failed += 1
    return passed, failed


def discover(pattern, soak=False, san_only=False):
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
            if bool(getattr(fn, "soak", False)) != soak:
                continue
            if san_only and not getattr(fn, "san", False):
                continue
            timeout = getattr(fn, "timeout", DEFAULT_TIMEOUT)
            # the longest first, so the pool ends together
            found.append((getattr(fn, "weight", 1), full, name[:-3], fname, timeout))
    found.sort(key=lambda t: (-t[0], t[1]))
    return found


def run_one(build, item, san_build=None):
    _, full, module, fname, timeout = item
    env = dict(os.environ, VIGIL_BUILD=os.path.abspath(build), PYTHONDONTWRITEBYTECODE="1")
    folder = None
    if san_build:
        # camsim, segcheck and the shim come from the normal build; vigil
        # and mkhistory from the sanitizer build
        folder = tempfile.mkdtemp(prefix="vigil-san-")
        env = san_env(env, folder)
        env["VIGIL_BIN_BUILD"] = os.path.abspath(san_build)
        full = "san/" + full
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "integration", "runone.py"),
                             module, fname], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=ROOT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
        ok = proc.returncode == 0
        if proc.returncode < 0:
            output += "\n(killed by signal %d)" % -proc.returncode
        elif not ok and not output.strip():
            output = "(exit status %d, no output)" % proc.returncode
    except subprocess.TimeoutExpired:
        # SIGTERM first: runone's handler runs the harness cleanup, which
        # stops the processes the test started (each in its own session)
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        ok = False
        output = (output or "") + "\n(timed out after %d s)" % timeout
    if folder:
        reports = san_reports(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if reports:
            ok = False
            output += "\nsanitizer reports:\n" + reports[:20000]
    return full, ok, time.monotonic() - start, output


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", choices=["unit", "integration"])
    ap.add_argument("-k", dest="pattern", default=None)
    ap.add_argument("-j", dest="jobs", type=int, default=int(os.environ.get("VIGIL_TEST_JOBS", "4")))
    ap.add_argument("--san-build", default=None,
                    help="also run the unit tests and the tests marked san against this "
                         "sanitizer build (make SAN=1 BUILD=DIR)")
    ap.add_argument("--soak", action="store_true", help="run only the long tests marked soak")
    args = ap.parse_args()

    passed = failed = 0
    if args.only in (None, "unit") and not args.soak:
        p, f = run_unit(args.build, args.pattern)
        passed += p
        failed += f
        if args.san_build:
            p, f = run_unit(args.san_build, args.pattern, label="san/unit", san=True)
            passed += p
            failed += f
    if args.only in (None, "integration"):
        items = [(i, None) for i in discover(args.pattern, soak=args.soak)]
        if args.san_build:
            items += [(i, args.san_build) for i in discover(args.pattern, soak=args.soak,
                                                             san_only=True)]
        items.sort(key=lambda t: (-t[0][0], t[0][1], t[1] or ""))
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for full, ok, secs, output in pool.map(lambda i: run_one(args.build, *i), items):
                if ok:
                    passed += 1
                    print("ok - integration/%s (%.1fs)" % (full, secs), flush=True)
                    for line in output.splitlines():
                        if line.startswith("FIGURE"):
                            print("  # " + line, flush=True)
                else:
                    failed += 1
                    print("not ok - integration/%s (%.1fs)" % (full, secs), flush=True)
                    lines = output.splitlines()
                    # the traceback, which the logs dumped after it may push out
                    tb = max((i for i, l in enumerate(lines) if l.startswith("Traceback")),
                             default=None)
                    if tb is not None and tb < len(lines) - 60:
                        end = next((i for i in range(tb, len(lines))
                                    if lines[i].startswith("---- ")), len(lines))
                        for line in lines[tb:min(end, tb + 40)]:
                            print("  # " + line, flush=True)
                        print("  # ...", flush=True)
                    for line in lines[-60:]:
                        print("  # " + line, flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
