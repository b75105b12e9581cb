#!/usr/bin/env python3
"""What picture inspection costs.

1. CPU per check: `vigil inspect now` on the newest 1080p footage of one
   camera (read the newest keyframe back from its segment file, decode it,
   downscale, JPEG thumbnail, analyse, store), H.264 and H.265, less the
   cost of the same process doing no check (`--camera` of a camera with no
   footage), over --checks runs.
2. The recorder's CPU per camera, recording --cameras 1080p cameras for
   --seconds, without checks, with checks every 300 s and every 10 s.

Run from the repository: python3 bench/bench_inspect.py --build build
Prints its figures; camsim, vigil and the clip cache come from --build.
"""
import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def camsim(build, wd, cameras, codec, port):
    out = open(os.path.join(wd, "camsim.out"), "w+")
    p = subprocess.Popen([os.path.join(build, "camsim"), "--port", str(port), "--cameras",
                          str(cameras), "--codec", codec, "--size", "1920x1080", "--bitrate",
                          "4000", "--cache", os.path.join(build, "camsim-cache")],
                         stdout=out, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        out.seek(0)
        if "camsim ready" in out.read():
            return p
        time.sleep(0.5)
    p.kill()
    raise SystemExit("camsim not ready")


def config(wd, cameras, port, interval):
    path = os.path.join(wd, "vigil-%s.ini" % interval)
    lines = ["[recorder]", "id = bench", "allow_root = true", "[storage]",
             "path = " + os.path.join(wd, "footage-%s" % interval), "[mqtt]", "port = 1",
             "[inspection]", "interval_seconds = %d" % interval,
             "[camera none]", "url = rtsp://127.0.0.1:1/none"]
    for c in range(1, cameras + 1):
        lines += ["[camera cam%d]" % c, "url = rtsp://127.0.0.1:%d/cam%d" % (port, c),
                  "segment_seconds = 60"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def cpu_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def record(build, cfg, seconds):
    p = subprocess.Popen([os.path.join(build, "vigil"), "record", "-c", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(5)  # connected and recording
    c0 = cpu_of(p.pid)
    time.sleep(seconds)
    c1 = cpu_of(p.pid)
    p.terminate()
    p.wait(timeout=30)
    return c1 - c0


def child_cpu(args, n):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(n):
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--checks", type=int, default=20)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    vigil = os.path.join(build, "vigil")
    wd = tempfile.mkdtemp(prefix="bench-inspect-")
    port = 18600
    try:
        for codec in ("h264", "h265"):
            cams = camsim(build, wd, 1, codec, port)
            cfg = config(wd, 1, port, 0)
            record(build, cfg, 4)
            cams.terminate()
            cams.wait()
            check = child_cpu([vigil, "inspect", "-c", cfg, "now", "--camera", "cam1"],
                              args.checks)
            base = child_cpu([vigil, "inspect", "-c", cfg, "now", "--camera", "none"],
                             args.checks)
            print("FIGURE inspect %s 1080p: %.1f ms CPU per check (%.1f ms the process with "
                  "no check)" % (codec, (check - base) * 1000, base * 1000))
            shutil.rmtree(os.path.join(wd, "footage-0"), ignore_errors=True)
            port += 1
        cams = camsim(build, wd, args.cameras, "h264", port)
        for interval in (0, 300, 10):
            cfg = config(wd, args.cameras, port, interval)
            cpu = record(build, cfg, args.seconds)
            per_cam_hour = cpu / args.cameras * 3600 / args.seconds
            print("FIGURE recorder, %d cameras, checks %s: %.2f CPU s per camera-hour" % (
                args.cameras, "off" if interval == 0 else "every %d s" % interval,
                per_cam_hour))
        cams.terminate()
        cams.wait()
    finally:
        shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    main()
