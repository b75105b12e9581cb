#!/usr/bin/env python3
"""Retention reports and sweeping at scale: 100 cameras x 90 days of 60 s
segments (about 13 million segments) in one catalog.

Measures, each as the median of several runs:
  - the retention report for all cameras (goal: under 1 s);
  - the continuity report of one camera over one day (goal: under 50 ms);
  - the continuity report of all cameras over 90 days;
  - the sweep of one day of footage for all cameras (144,000 deletions), and
    the latency of catalog writes a recorder makes (segment begin + finish)
    while that sweep runs, against the same latency without it.

The catalog is built once with mkhistory (--bulk, no files; about 10 minutes)
and kept in build/bench-retention/ for later runs; --cameras/--days scale it.

usage: bench/bench_retention.py [--build build] [--cameras 100] [--days 90]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def timed(args, runs=5):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - t)
        if proc.returncode not in (0, 1):
            sys.exit("failed: %s\n%s" % (" ".join(args), proc.stderr))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--cameras", type=int, default=100)
    ap.add_argument("--days", type=int, default=90)
    args = ap.parse_args()
    vigil = os.path.join(args.build, "vigil")
    mkhistory = os.path.join(args.build, "mkhistory")
    catbench = os.path.join(args.build, "catbench")

    now = 1793491200  # 2026-11-01T00:00:00Z
    wd = os.path.join(args.build, "bench-retention", "%dx%d" % (args.cameras, args.days))
    config = os.path.join(wd, "vigil.ini")
    done = os.path.join(wd, "built")
    if not os.path.exists(done):
        shutil.rmtree(wd, ignore_errors=True)
        os.makedirs(wd)
        with open(config, "w") as f:
            f.write("[recorder]\nallow_root = true\n[storage]\npath = %s/footage\n" % wd)
            for c in range(args.cameras):
                f.write("[camera c%03d]\nurl = rtsp://127.0.0.1:9/c%03d\n" % (c, c))
        t = time.perf_counter()
        for c in range(args.cameras):
            subprocess.run([mkhistory, "-c", config, "--camera", "c%03d" % c,
                            "--from", iso(now - args.days * 86400 - 86400), "--to", iso(now),
                            "--segment-seconds", "60", "--no-files", "--bulk",
                            "--gap", "%s/%s/camera-unreachable" % (iso(now - 5 * 86400 + c * 60),
                                                                  iso(now - 5 * 86400 + c * 60 + 600))],
                           check=True, stdout=subprocess.DEVNULL)
            print("built camera %d/%d (%.0f s)" % (c + 1, args.cameras, time.perf_counter() - t),
                  file=sys.stderr)
        open(done, "w").close()
    db = os.path.join(wd, "footage", "catalog.db")
    segs = int(subprocess.run(["sqlite3", db, "SELECT count(*) FROM segment"], stdout=subprocess.PIPE,
                              text=True, check=True).stdout)
    results = {"cameras": args.cameras, "days": args.days, "segments": segs,
               "catalog_bytes": os.path.getsize(db)}
    n = "--now=" + iso(now)
    results["retention_report_s"] = timed([vigil, "report", "retention", "-c", config, "--format",
                                           "json", n])
    results["continuity_one_camera_day_s"] = timed(
        [vigil, "report", "continuity", "-c", config, "--camera", "c%03d" % (args.cameras // 2), "--from",
         iso(now - 5 * 86400), "--to", iso(now - 4 * 86400), "--format", "json", n], runs=9)
    results["continuity_all_cameras_90_days_s"] = timed(
        [vigil, "report", "continuity", "-c", config, "--from", iso(now - 90 * 86400), "--to",
         iso(now), "--format", "json", n], runs=3)

    # a recorder's catalog writes, alone and during the sweep of one day
    work = os.path.join(wd, "sweep-copy.db")
    shutil.copy(db, work)
    cfg2 = os.path.join(wd, "sweep.ini")
    with open(config) as f:
        text = f.read()
    with open(cfg2, "w") as f:
        f.write(text.replace("[storage]\n", "[storage]\ncatalog = %s\n" % work))
    quiet = json.loads(subprocess.run([catbench, work, "20"], stdout=subprocess.PIPE, text=True,
                                      check=True).stdout)
    stop = os.path.join(wd, "stop")
    if os.path.exists(stop):
        os.unlink(stop)
    probe = subprocess.Popen([catbench, work, "3600", stop], stdout=subprocess.PIPE, text=True)
    t = time.perf_counter()
    # the first day of the history expires
    sweep = subprocess.run([vigil, "sweep", "-c", cfg2, "--json",
                            "--now=" + iso(now + (90 - args.days) * 86400)],
                           stdout=subprocess.PIPE, text=True)
    sweep_s = time.perf_counter() - t
    open(stop, "w").close()
    busy = json.loads(probe.communicate()[0])
    os.unlink(stop)
    deleted = json.loads(sweep.stdout)["deleted"]
    results["sweep_one_day"] = {"deleted": deleted, "seconds": round(sweep_s, 1),
                                "deletions_per_s": round(deleted / sweep_s)}
    results["recorder_write_latency_ms"] = {"quiet": quiet, "during_sweep": busy}
    os.unlink(work)
    for extra in ("-wal", "-shm"):
        if os.path.exists(work + extra):
            os.unlink(work + extra)
    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
