"""Memory and resources (issue 5, promise 6): `vigil record` built with
AddressSanitizer and LeakSanitizer records 16 cameras while some of them
fail (down and up, a stall, a resolution change), then stops on SIGTERM;
LeakSanitizer reports every allocation still unreachable at exit, and any
report fails the test.  RSS, fds and threads are sampled as it runs; the
thread and fd counts must come back to where they were.

The binary is the sanitizer build of `make test` (tests/run.py --san-build,
VIGIL_BIN_BUILD) when there is one, else the clang ASan build that `make
fuzz-build` makes (build/fuzz/vigil): either way this runs once, under ASan.
The one-hour RSS and fd soak with 1,000 reconnections is
test_faults_camera.py::test_soak_1000_flaps_16_cameras.
"""
import glob
import os
import time

from harness import BUILD, ROOT, Camsim, segments, start, wait_until, workdir, write_config
from test_faults_camera import (DEFAULTS, all_gaps, holes, open_gap_start, recording_since,
                                resumed_at, sample_counts, check_no_leak)

SAN_BIN = os.environ.get("VIGIL_BIN_BUILD")
ASAN_VIGIL = os.path.join(SAN_BIN, "vigil") if SAN_BIN else os.path.join(BUILD, "fuzz", "vigil")


def san_env(wd):
    env = dict(os.environ,
               ASAN_OPTIONS="log_path=%s/asan:detect_leaks=1" % wd,
               UBSAN_OPTIONS="log_path=%s/ubsan:print_stacktrace=1:halt_on_error=1" % wd)
    supp = os.path.join(ROOT, "tests", "san", "lsan.supp")
    if os.path.exists(supp):
        env["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0" % supp
    return env


def reports(wd):
    text = ""
    for path in sorted(glob.glob(os.path.join(wd, "asan*")) + glob.glob(os.path.join(wd, "ubsan*"))):
        with open(path, errors="replace") as f:
            text += "==== %s\n%s" % (path, f.read())
    return text


def churn(cams, config, until):
    """Faults on cam2..cam4 until `until`: outages, a stall, resolution
    changes; each waits for the camera to record again."""
    n = 0
    while time.time() < until - 20:
        cams.down("cam2")
        wait_until(lambda: open_gap_start(config, "cam2") is not None, 10, interval=0.1)
        time.sleep(1.5)
        cams.up("cam2")
        wait_until(lambda: resumed_at(config, "cam2"), 20, interval=0.1)
        cams.ctl("resize cam4")
        if n % 3 == 0:
            cams.stall("cam3")
            wait_until(lambda: open_gap_start(config, "cam3") is not None, 15, interval=0.1)
            cams.resume("cam3")
            wait_until(lambda: resumed_at(config, "cam3"), 20, interval=0.1)
        n += 1
        time.sleep(2)
    return n


def run_lsan(seconds):
    assert os.access(ASAN_VIGIL, os.X_OK), "%s is missing: make fuzz-build" % ASAN_VIGIL
    wd = workdir()
    cams = Camsim(wd, cameras=16, extra=["--alt-size", "320x180"])
    names = ["cam%d" % i for i in range(1, 17)]
    config = write_config(wd, {c: cams.url(c) for c in names}, recorder=DEFAULTS)
    log = config + ".log"
    rec = start([ASAN_VIGIL, "record", "-c", config], log, env=san_env(wd))
    wait_until(lambda: all(recording_since(config, c, 0) for c in names), 90, what="16 cameras")
    t0 = time.time()
    time.sleep(3)
    base = sample_counts(rec.pid, n=5)
    # (RSS is not watched here: ASan keeps freed memory in quarantine)
    rounds = churn(cams, config, t0 + seconds)
    while time.time() < t0 + seconds:
        time.sleep(1)
    end = sample_counts(rec.pid, n=5)
    assert rec.poll() is None, reports(wd)[:5000]
    rec.send_signal(15)
    code = rec.wait(timeout=120)
    text = reports(wd)
    assert not text, text[:30000]
    with open(log, errors="replace") as f:
        tail = f.read()[-3000:]
    assert code == 0, "exit %d: %s" % (code, tail)
    segs = segments(config)
    gaps = all_gaps(config)
    for cam in names:
        if cam not in ("cam2", "cam3"):
            assert not [g for g in gaps if g["camera"] == cam], cam
            assert holes(segs, cam) == [], (cam, holes(segs, cam)[:3])
    check_no_leak(base, end)
    return rounds, base, end


def test_lsan_16_cameras():
    rounds, base, end = run_lsan(60)
    print("FIGURE LeakSanitizer, 16 cameras for 60 s, %d rounds of faults: no leak; "
          "threads %d -> %d, fds %d -> %d" % (
              rounds, max(t for t, _ in base),
              max(t for t, _ in end), min(f for _, f in base), min(f for _, f in end)))


test_lsan_16_cameras.timeout = 300
test_lsan_16_cameras.weight = 6


def test_lsan_16_cameras_10_minutes():
    rounds, base, end = run_lsan(600)
    print("FIGURE LeakSanitizer, 16 cameras for 10 min, %d rounds of faults: no leak; "
          "threads %d -> %d, fds %d -> %d" % (
              rounds, max(t for t, _ in base),
              max(t for t, _ in end), min(f for _, f in base), min(f for _, f in end)))


test_lsan_16_cameras_10_minutes.soak = True
test_lsan_16_cameras_10_minutes.timeout = 1200
