#!/usr/bin/env python3
"""The cost of a /metrics scrape of `vigil record` with many cameras.

Starts a real recorder with --cameras cameras (default 256) whose URLs point
at a closed loopback port, so every camera has its full set of series
(reconnecting, then down) without any media to move, scrapes its /metrics
--scrapes times back to back, and reports the body's size and series
count, the scrape time (median, 95th percentile, max), the recorder's CPU
time per scrape, and whether `promtool check metrics` accepts the body.

The series per camera are the same whatever the camera's state, so the
figures hold for cameras that record; the recorder's own CPU while idle is
measured first and taken off.

usage: bench/bench_metrics.py [--build build] [--cameras 256] [--scrapes 200]
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--cameras", type=int, default=256)
    ap.add_argument("--scrapes", type=int, default=200)
    a = ap.parse_args()

    wd = tempfile.mkdtemp(prefix="vigil-bench-metrics-")
    port, dead = free_port(), free_port()
    lines = ["[recorder]", "id = bench-rec", "allow_root = true", "reconnect_max_seconds = 5",
             "", "[storage]", "path = %s" % os.path.join(wd, "footage"), "",
             "[mqtt]", "port = %d" % free_port(), "",
             "[metrics]", "listen = 127.0.0.1:%d" % port, ""]
    for i in range(a.cameras):
        lines += ["[camera cam%03d]" % i, "url = rtsp://127.0.0.1:%d/cam%d" % (dead, i), ""]
    config = os.path.join(wd, "vigil.ini")
    with open(config, "w") as f:
        f.write("\n".join(lines))
    log = open(os.path.join(wd, "record.log"), "w")
    proc = subprocess.Popen([os.path.join(a.build, "vigil"), "record", "-c", config],
                            stdout=log, stderr=log)
    url = "http://127.0.0.1:%d/metrics" % port
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                body = urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit("the recorder did not serve /metrics (see %s)" % log.name)
                time.sleep(0.2)
        time.sleep(12)  # every camera past reconnecting, into down

        idle0 = cpu_seconds(proc.pid)
        time.sleep(5)
        idle_per_s = (cpu_seconds(proc.pid) - idle0) / 5

        times = []
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        for _ in range(a.scrapes):
            t = time.perf_counter()
            body = urllib.request.urlopen(url, timeout=5).read()
            times.append(time.perf_counter() - t)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - cpu0 - idle_per_s * wall

        text = body.decode()
        samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                               text=True)
        times.sort()
        print("cameras            %d" % a.cameras)
        print("body               %d bytes (%.0f per camera), %d samples" % (
            len(body), len(body) / a.cameras, samples))
        print("scrape time        median %.2f ms, p95 %.2f ms, max %.2f ms (%d scrapes)" % (
            statistics.median(times) * 1e3, times[int(len(times) * 0.95) - 1] * 1e3,
            times[-1] * 1e3, a.scrapes))
        print("recorder CPU       %.2f ms per scrape" % (max(cpu, 0) / a.scrapes * 1e3))
        print("promtool           %s" % ("ok" if check.returncode == 0 else
                                          "FAILED: " + (check.stdout + check.stderr)[:500]))
        return 0 if check.returncode == 0 else 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
