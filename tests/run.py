#!/usr/bin/env python3
"""Runs vigil's whole test suite and ends with one line: "N passed, N failed".

Unit tests: build/unit-tests prints "ok - name" / "not ok - name" lines.
Integration tests: every test_* function of tests/integration/test_*.py runs
in its own process (so a hang or crash is contained), several at once since
they mostly wait on real time.  Each test makes its own temporary folder and
picks free ports, so two copies of the suite can run on one machine.  Its
temporary folders all go under one folder ($TMPDIR) the runner gives it:
whatever the test mounted there (a small tmpfs to fill) is unmounted when
it ends, even if it died before its own cleanup, and that fails the test.

With --san-build, the unit tests run a second time against the sanitizer
build, and so do the integration tests marked san.  Each test still counts
once: it passes only if every run of it passes, and its line says which
run failed ("not ok - unit/json/x [sanitizer build]").  A test is a
behaviour, not a build: counting it twice would make a failure of the
sanitizer run look like half a failure, and the totals would change with
the options.

The run fails, with a line saying why, when a unit binary crashes or does
not run, when a test file cannot be imported (its tests are not silently
dropped), and when -k selects no test at all.

Test attributes (set on the function: `test_x.timeout = 600`): timeout
(seconds), weight (longest first), san = True (also run against the
sanitizer build given by --san-build: ASan+UBSan reports fail the test),
soak = True (long runs: only with --soak, never in `make test`; each soak
has a short version of the same code that `make test` runs).  A line a
passing test prints starting with "FIGURE" is shown: docs/RELIABILITY.md
quotes them.

$VIGIL_TEST_DIR points the runner at another folder of integration tests
(tests/integration/test_runner.py uses it to test this runner).

usage: tests/run.py [--build DIR] [--san-build DIR] [--soak] [--only unit|integration]
                    [-k FILTER] [-j N]
"""
import argparse
import importlib.util
import inspect
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_TIMEOUT = 240
# runone.py's exit status for a test that raised harness.Skip
SKIPPED = 77
# where the integration tests are (another folder: tests of this runner)
INTEGRATION = os.environ.get("VIGIL_TEST_DIR", os.path.join(HERE, "integration"))


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


def run_unit(build, pattern, san=False):
    """Runs build/unit-tests once.  Returns (results, problems): results
    maps "suite/name" to (ok, comment lines) in the order run; problems
    lists what went wrong with the run as a whole (a crash, no tests, a
    sanitizer report), each a failure of its own."""
    exe = os.path.join(build, "unit-tests")
    args = [exe] + ([pattern] if pattern else [])
    folder = tempfile.mkdtemp(prefix="vigil-san-") if san else None
    env = san_env(os.environ, folder) if san else None
    results, problems, last = {}, [], None
    try:
        proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace", cwd=ROOT, env=env)
    except OSError as e:
        return results, ["cannot run %s: %s" % (exe, e)]
    for line in proc.stdout.splitlines():
        if line.startswith("ok - "):
            last = line[5:]
            results[last] = (True, [])
        elif line.startswith("not ok - "):
            last = line[9:]
            results[last] = (False, [])
        elif line.startswith("  #") and last in results:
            results[last][1].append(line)
    tail = ["  # " + line for line in proc.stdout.splitlines()[-30:]]
    if proc.returncode < 0:
        sig = proc.returncode
        try:
            name = signal.Signals(-sig).name
        except ValueError:
            name = "signal %d" % -sig
        problems.append(("%s crashed (%s) after %s: the tests after it did not run"
                         % (exe, name, "'%s'" % last if last else "its first test"), tail))
    elif proc.returncode not in (0, 1):
        problems.append(("%s exited %d after %s" % (exe, proc.returncode,
                                                   "'%s'" % last if last else "no test"), tail))
    elif proc.returncode == 1 and not any(not ok for ok, _ in results.values()):
        problems.append(("%s failed (exit 1) with no test failing" % exe, tail))
    elif not results and not pattern:
        problems.append(("%s ran no test" % exe, tail))
    if san:
        reports = san_reports(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if reports:
            problems.append(("%s: sanitizer reports" % exe,
                             ["  # " + line for line in reports.splitlines()[:80]]))
    return results, problems


def report_unit(runs):
    """Prints the unit tests, each once, from one or two runs [(label,
    (results, problems))]; returns (passed, failed)."""
    passed = failed = 0
    names = []
    for _, (results, _) in runs:
        names += [n for n in results if n not in names]
    for name in names:
        bad = [label for label, (results, _) in runs
               if name not in results or not results[name][0]]
        if not bad:
            passed += 1
            print("ok - unit/%s" % name, flush=True)
            continue
        failed += 1
        print("not ok - unit/%s [%s]" % (name, ", ".join(
            label if name in runs[i][1][0] else label + ": not run"
            for i, (label, _) in enumerate(runs) if label in bad)), flush=True)
        for label, (results, _) in runs:
            if name in results and not results[name][0]:
                if len(runs) > 1:
                    print("  # ---- %s" % label, flush=True)
                for line in results[name][1]:
                    print(line, flush=True)
    for label, (_, problems) in runs:
        for what, lines in problems:
            failed += 1
            print("not ok - unit [%s]: %s" % (label, what), flush=True)
            for line in lines:
                print(line, flush=True)
    return passed, failed


def discover(pattern, soak=False, san_only=False, broken=None):
    """The integration tests selected; a file that cannot be imported is
    added to broken as (file, error text) instead of stopping the run."""
    found = []
    folder = INTEGRATION
    for path in (os.path.join(HERE, "integration"), folder):  # the harness, the tests
        if path not in sys.path:
            sys.path.insert(0, path)
    for name in sorted(os.listdir(folder)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        path = os.path.join(folder, name)
        spec = importlib.util.spec_from_file_location(name[:-3], path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except BaseException:  # a syntax error, a failed import, a raise at load
            if broken is not None:
                broken.append((name, traceback.format_exc()))
            continue
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


def mounts_under(folder):
    """Mount points inside folder, deepest first."""
    found = []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                point = line.split()[1].replace("\\040", " ")
                if point == folder or point.startswith(folder + "/"):
                    found.append(point)
    except OSError:
        pass
    return sorted(found, key=len, reverse=True)


def run_one(build, item, san_build=None):
    _, full, module, fname, timeout = item
    # each test's temporary folders (harness.workdir) go under one folder of
    # its own, so whatever it mounted there is unmounted even when the test
    # died before its cleanup ran
    tmp = tempfile.mkdtemp(prefix="vigil-test-")
    # traversable (not listable) by others: a test may drop a recorder to
    # another user whose storage lies under it
    os.chmod(tmp, 0o711)
    env = dict(os.environ, VIGIL_BUILD=os.path.abspath(build), PYTHONDONTWRITEBYTECODE="1",
               TMPDIR=tmp)
    if INTEGRATION != os.path.join(HERE, "integration"):
        env["PYTHONPATH"] = os.pathsep.join([INTEGRATION, env.get("PYTHONPATH", "")])
    folder = None
    if san_build:
        # camsim, segcheck and the shim come from the normal build; vigil
        # and mkhistory from the sanitizer build
        folder = tempfile.mkdtemp(prefix="vigil-san-")
        env = san_env(env, folder)
        env["VIGIL_BIN_BUILD"] = os.path.abspath(san_build)
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "integration", "runone.py"),
                             module, fname], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=ROOT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
        ok = proc.returncode in (0, SKIPPED)
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
    left = mounts_under(tmp)
    for point in left:
        subprocess.run(["umount", "-l", point], stderr=subprocess.DEVNULL)
    if left:
        ok = False
        output += "\nleft mounted after the test (unmounted now): %s" % ", ".join(left)
    if not os.environ.get("VIGIL_KEEP"):
        shutil.rmtree(tmp, ignore_errors=True)
    if folder:
        reports = san_reports(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if reports:
            ok = False
            output += "\nsanitizer reports:\n" + reports[:20000]
    if ok and proc.returncode == SKIPPED:
        ok = "skipped"
    return full, bool(san_build), ok, time.monotonic() - start, output


def print_failure(output, label):
    print("  # ---- %s" % label, flush=True)
    lines = output.splitlines()
    # the traceback, which the logs dumped after it may push out
    tb = max((i for i, l in enumerate(lines) if l.startswith("Traceback")), default=None)
    if tb is not None and tb < len(lines) - 60:
        end = next((i for i in range(tb, len(lines)) if lines[i].startswith("---- ")),
                   len(lines))
        for line in lines[tb:min(end, tb + 40)]:
            print("  # " + line, flush=True)
        print("  # ...", flush=True)
    for line in lines[-60:]:
        print("  # " + line, flush=True)


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

    passed = failed = skipped = selected = 0
    if args.only in (None, "unit") and not args.soak:
        runs = [("normal build", run_unit(args.build, args.pattern))]
        if args.san_build:
            runs.append(("sanitizer build", run_unit(args.san_build, args.pattern, san=True)))
        p, f = report_unit(runs)
        passed += p
        failed += f
        selected += len(runs[0][1][0])
    if args.only in (None, "integration"):
        broken = []
        plain = discover(args.pattern, soak=args.soak, broken=broken)
        for name, text in broken:
            failed += 1
            print("not ok - integration/%s: cannot be imported, its tests did not run" % name[:-3],
                  flush=True)
            for line in text.splitlines()[-15:]:
                print("  # " + line, flush=True)
        items = [(i, None) for i in plain]
        if args.san_build:
            items += [(i, args.san_build) for i in discover(args.pattern, soak=args.soak,
                                                             san_only=True)]
        items.sort(key=lambda t: (-t[0][0], t[0][1], t[1] or ""))
        # how many runs each test has (1, or 2 with the sanitizer build)
        parts = {}
        for i, _ in items:
            parts[i[1]] = parts.get(i[1], 0) + 1
        selected += len(parts)
        pending = {}
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for full, san, ok, secs, output in pool.map(lambda i: run_one(args.build, *i), items):
                pending.setdefault(full, []).append((san, ok, secs, output))
                if len(pending[full]) < parts[full]:
                    continue
                done = pending.pop(full)
                times = "; ".join(("sanitizer build %.1fs" if san else "%.1fs") % secs
                                  for san, _, secs, _ in done)
                if all(ok == "skipped" for _, ok, _, _ in done):
                    skipped += 1
                    why = [l for l in done[0][3].splitlines() if l.startswith("SKIP: ")]
                    print("ok - integration/%s # SKIP %s" % (
                        full, why[-1][6:] if why else "(no reason given)"), flush=True)
                    continue
                if all(ok for _, ok, _, _ in done):
                    passed += 1
                    print("ok - integration/%s (%s)" % (full, times), flush=True)
                    for line in done[0][3].splitlines():
                        if line.startswith("FIGURE"):
                            print("  # " + line, flush=True)
                    continue
                failed += 1
                which = ", ".join("sanitizer build" if san else "normal build"
                                  for san, ok, _, _ in done if not ok)
                print("not ok - integration/%s [%s] (%s)" % (full, which, times), flush=True)
                for san, ok, _, output in done:
                    if not ok:
                        print_failure(output, "sanitizer build" if san else "normal build")
    if selected == 0 and (failed == 0 or args.pattern):
        failed += 1
        print("not ok - %s" % ("-k '%s' selects no test" % args.pattern if args.pattern
                               else "no test selected"), flush=True)
    # the last line stays "N passed, N failed", which CI reads
    if skipped:
        print("%d skipped" % skipped, flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
