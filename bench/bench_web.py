#!/usr/bin/env python3
"""The web console (`vigil serve`) measured with real processes, in one run:

1. spans: GET /api/cameras/ID/spans on a synthetic catalog (build/mkhistory,
   no files): one camera over 90 days of 60 s segments with gaps, and 100
   cameras over one day (the day strips of 100 cameras: 100 requests, in
   turn on one keep-alive connection and over 6 connections as a browser
   opens them).  Medians and p95 of repeated requests, against the same
   intervals through /api/reports/continuity and through
   `vigil report continuity --format json` on the command line.

2. viewers: camsim serves --cameras cameras (1280x720 25 fps, 2 s GOP,
   2 Mbit/s by default) that one `vigil record` records (60 s segments,
   fsync every 5 s: defaults); `vigil serve` runs beside it.  A window of
   --seconds with no viewer, then a window of the same length with
   --viewers HTTP clients, each reading a different camera's video.mp4 of
   the last minute at the speed of playback (the body paced at its own
   mean byte rate, Content-Length over the interval, after a 5 s burst as a
   player buffers ahead), then --fast-seconds with the same clients
   reading as fast as they can.  For each window:
     - the recorder's CPU (/proc/PID/stat) and frames written (its
       /metrics) against what the cameras sent;
     - the recorder's write latency: every fragment write, seen with
       inotify on the footage files, against its schedule (a fragment is
       one second of media, so fragment k of a file is due at first + k s;
       "late" is how far a write came after the earliest-running fragment
       of the same file), and the fdatasync histogram of its /metrics;
     - vigil serve's CPU, per viewer stream (minus its idle CPU in the
       window without viewers), and the bytes it sent.
   At the end the cameras stall, the recorder stops, every file is read
   back (build/segcheck): frames camsim served minus frames in the files
   is the loss, and the catalog's gap rows of the run are listed.

3. click to first frame: headless Chromium (Selenium, chromedriver) logs
   in to the console, opens a camera's timeline (the last hour) and clicks
   the strip about two minutes back, a different camera each time; the
   time from the pointerdown to the first video frame presented
   (requestVideoFrameCallback) at the clicked instant.  Against it, in the
   same page: a bare <video src=video.mp4?from=...> (no header probe, no
   seek), a second click inside the file already loaded (a seek), and the
   time to the first byte of the same request from Python.

Prints a summary and writes the figures as JSON (--out, default
build/bench-web/web.json).

usage: bench/bench_web.py [--build build] [--cameras 64] [--viewers 20]
          [--seconds 60] [--fast-seconds 20] [--clicks 10]
          [--size 1280x720] [--bitrate 2000] [--skip spans,viewers,browser]
"""
import argparse
import ctypes
import ctypes.util
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench_ingest as bi  # noqa: E402  (camsim, /proc and segcheck helpers)

PASSWORD = "bench-web-password-1"
FPS = 25
FRAGMENT_S = 1.0       # SEGWRITER_FRAGMENT_US: a fragment is a second of media
PREBUFFER_S = 5.0      # a paced viewer reads this much ahead, as a player does
BROWSER_PARALLEL = 6   # Chromium's connections per host over HTTP/1.1


def log(msg):
    print("bench-web: " + msg, file=sys.stderr, flush=True)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def dist(values, scale=1.0, nd=2):
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": round(statistics.median(values) * scale, nd),
            "p95": round(pct(values, 95) * scale, nd), "p99": round(pct(values, 99) * scale, nd),
            "max": round(max(values) * scale, nd)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- vigil processes -------------------------------------------------------

class Proc:
    def __init__(self, args, logpath):
        self.logf = open(logpath, "ab")
        self.log = logpath
        self.p = subprocess.Popen(args, stdout=self.logf, stderr=self.logf, start_new_session=True)

    def cpu(self):
        return bi.proc_cpu_seconds(self.p.pid)

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()
        return self.p.returncode


def add_user(vigil, config, wd):
    pwfile = os.path.join(wd, "password")
    with open(pwfile, "w") as f:
        f.write(PASSWORD + "\n")
    subprocess.run([vigil, "user", "-c", config, "del", "bench"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    subprocess.run([vigil, "user", "-c", config, "add", "bench", "--role", "admin",
                    "--password-file", pwfile], check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run([vigil, "user", "-c", config, "token", "bench", "--label", "bench"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return out.strip()


def serve(vigil, config, port, wd):
    s = Proc([vigil, "serve", "-c", config], os.path.join(wd, "serve.log"))
    deadline = time.monotonic() + 30
    while True:
        if not s.alive():
            sys.exit("vigil serve exited (see %s)" % s.log)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                c.close()
                return s
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit("vigil serve not answering (see %s)" % s.log)
        time.sleep(0.2)


class Client:
    """One keep-alive HTTP/1.1 connection with a Bearer token."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.conn = None

    def get(self, path):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request("GET", path, headers={"Authorization": "Bearer " + self.token})
                r = self.conn.getresponse()
                body = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, body
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


# ---- 1. spans --------------------------------------------------------------

def build_history(mkhistory, wd, end):
    """One camera over 90 days and 100 cameras over the last day, 60 s
    segments with gaps; built once and kept (a marker file says done)."""
    config = os.path.join(wd, "history.ini")
    marker = os.path.join(wd, "built.json")
    if os.path.exists(marker):
        with open(marker) as f:
            return json.load(f)
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    cams = ["long"] + ["d%03d" % k for k in range(100)]
    with open(config, "w") as f:
        f.write("[recorder]\nallow_root = true\n[storage]\npath = %s/footage\n" % wd)
        for c in cams:
            f.write("[camera %s]\nurl = rtsp://127.0.0.1:9/%s\n" % (c, c))
    t = time.perf_counter()
    reasons = ["camera-unreachable", "stream-stalled", "recorder-down", "storage-error",
               "stream-error"]
    # 12 outages over the 90 days, from 5 minutes to 3 hours, at odd times
    gaps = []
    for i in range(12):
        start = end - 88 * 86400 + i * 7 * 86400 + (i * 3797) % 86400
        start -= start % 60
        length = [300, 900, 3600, 10800][i % 4]
        gaps.append("%s/%s/%s" % (iso(start), iso(start + length), reasons[i % len(reasons)]))
    cmd = [mkhistory, "-c", config, "--camera", "long", "--from", iso(end - 90 * 86400),
           "--to", iso(end), "--segment-seconds", "60", "--no-files", "--bulk"]
    for g in gaps:
        cmd += ["--gap", g]
    n_long = int(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)
    n_day = 0
    for k in range(100):
        a = end - 86400 + 3600 + k * 600
        b = end - 86400 + 43200 + k * 300
        cmd = [mkhistory, "-c", config, "--camera", "d%03d" % k, "--from", iso(end - 86400),
               "--to", iso(end), "--segment-seconds", "60", "--no-files", "--bulk",
               "--gap", "%s/%s/camera-unreachable" % (iso(a), iso(a + 600)),
               "--gap", "%s/%s/stream-stalled" % (iso(b), iso(b + 120))]
        n_day += int(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)
    info = {"end": end, "segments_long": n_long, "segments_day": n_day, "gaps_long": len(gaps),
            "build_s": round(time.perf_counter() - t, 1)}
    with open(marker, "w") as f:
        json.dump(info, f)
    return info


def timed_get(cli, path, runs):
    times, size = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        status, body = cli.get(path)
        times.append(time.perf_counter() - t)
        if status != 200:
            sys.exit("GET %s: %d %s" % (path, status, body[:300]))
        size = len(body)
    return times, size, body


def timed_cli(args, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - t)
        if p.returncode not in (0, 1):
            sys.exit("failed: %s\n%s" % (" ".join(args), p.stderr))
    return times


def bench_spans(args, vigil, mkhistory):
    wd = os.path.join(args.build, "bench-web", "history")
    end = int(time.time()) // 3600 * 3600 - 3600
    info = build_history(mkhistory, wd, end)
    end = info["end"]
    log("history: %d + %d segments (built in %s s)" % (info["segments_long"], info["segments_day"],
                                                     info["build_s"]))
    port = free_port()
    config = os.path.join(wd, "serve.ini")
    with open(os.path.join(wd, "history.ini")) as f:
        text = f.read()
    with open(config, "w") as f:
        f.write(text.replace("[storage]", "[web]\nlisten = 127.0.0.1:%d\n[storage]" % port, 1))
    token = add_user(vigil, config, wd)
    srv = serve(vigil, config, port, wd)
    res = {"history": info}
    try:
        cli = Client(port, token)
        frm, to = iso(end - 90 * 86400), iso(end)
        q = "?" + urllib.parse.urlencode({"from": frm, "to": to})
        timed_get(cli, "/api/cameras/long/spans" + q, 3)  # warm: page cache, statements
        times, size, body = timed_get(cli, "/api/cameras/long/spans" + q, args.runs)
        doc = json.loads(body)
        res["long_spans_http"] = dict(dist(times, 1000), bytes=size, spans=len(doc["spans"]),
                                      gaps=len(doc["gaps"]))
        qc = "?" + urllib.parse.urlencode({"camera": "long", "from": frm, "to": to})
        times, size, _ = timed_get(cli, "/api/reports/continuity" + qc, args.runs)
        res["long_continuity_http"] = dict(dist(times, 1000), bytes=size)
        times = timed_cli([vigil, "report", "continuity", "-c", config, "--camera", "long",
                           "--from", frm, "--to", to, "--format", "json"], max(9, args.runs // 5))
        res["long_continuity_cli"] = dist(times, 1000)

        # day strips of 100 cameras
        dfrm, dto = iso(end - 86400), iso(end)
        dq = "?" + urllib.parse.urlencode({"from": dfrm, "to": dto})
        paths = ["/api/cameras/d%03d/spans%s" % (k, dq) for k in range(100)]
        for p in paths:
            cli.get(p)
        per_req, seq_total = [], []
        for _ in range(args.strip_runs):
            t0 = time.perf_counter()
            for p in paths:
                t = time.perf_counter()
                status, body = cli.get(p)
                per_req.append(time.perf_counter() - t)
                assert status == 200, (p, status, body[:200])
            seq_total.append(time.perf_counter() - t0)
        par_total = []
        clients = [Client(port, token) for _ in range(BROWSER_PARALLEL)]
        for _ in range(args.strip_runs):
            todo = list(paths)
            lock = threading.Lock()

            def worker(c):
                while True:
                    with lock:
                        if not todo:
                            return
                        p = todo.pop()
                    status, _ = c.get(p)
                    assert status == 200
            t0 = time.perf_counter()
            ths = [threading.Thread(target=worker, args=(c,)) for c in clients]
            for th in ths:
                th.start()
            for th in ths:
                th.join()
            par_total.append(time.perf_counter() - t0)
        res["day_strips_http"] = {"per_request_ms": dist(per_req, 1000),
                                  "100_in_turn_ms": dist(seq_total, 1000),
                                  "100_over_6_connections_ms": dist(par_total, 1000)}
        qa = "?" + urllib.parse.urlencode({"from": dfrm, "to": dto})
        times, size, _ = timed_get(cli, "/api/reports/continuity" + qa, max(5, args.strip_runs))
        res["day_continuity_all_http"] = dict(dist(times, 1000), bytes=size)
        times = timed_cli([vigil, "report", "continuity", "-c", config, "--from", dfrm, "--to", dto,
                           "--format", "json"], max(5, args.strip_runs))
        res["day_continuity_all_cli"] = dist(times, 1000)
        times = timed_cli([vigil, "report", "continuity", "-c", config, "--camera", "d050",
                           "--from", dfrm, "--to", dto, "--format", "json"], 9)
        res["day_continuity_one_cli"] = dist(times, 1000)
        # the camera list of the console's first page, 101 cameras
        times, size, _ = timed_get(cli, "/api/cameras", max(5, args.strip_runs))
        res["cameras_list_http"] = dict(dist(times, 1000), bytes=size)
        res["serve_cpu_s"] = srv.cpu()
    finally:
        srv.stop()
    return res


# ---- 2. viewers ------------------------------------------------------------

class Inotify:
    """Every write to the footage files, with the time it was seen: the
    recorder writes a fragment with one writev, so one IN_MODIFY each (a
    burst within 200 ms on one file counts as one write)."""
    IN_MODIFY, IN_CREATE, IN_ISDIR = 0x2, 0x100, 0x40000000

    def __init__(self, root):
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.dirs = {}
        self.writes = {}   # path -> [monotonic times]
        self.lock = threading.Lock()
        self.watch_tree(root)
        self.stopped = False
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def watch(self, path):
        wd = self.libc.inotify_add_watch(self.fd, path.encode(), self.IN_MODIFY | self.IN_CREATE)
        if wd >= 0:
            self.dirs[wd] = path

    def watch_tree(self, root):
        for dirpath, dirnames, _ in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            self.watch(dirpath)

    def run(self):
        while not self.stopped:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            now = time.monotonic()
            off = 0
            while off + 16 <= len(data):
                wd, mask, _, n = struct.unpack_from("iIII", data, off)
                name = data[off + 16:off + 16 + n].split(b"\0", 1)[0].decode(errors="replace")
                off += 16 + n
                base = self.dirs.get(wd)
                if base is None:
                    continue
                path = os.path.join(base, name)
                if mask & self.IN_ISDIR:
                    if mask & self.IN_CREATE and not name.startswith("."):
                        self.watch_tree(path)
                    continue
                if mask & self.IN_MODIFY and name.endswith(".mp4"):
                    with self.lock:
                        w = self.writes.setdefault(path, [])
                        if not w or now - w[-1] > 0.2:
                            w.append(now)

    def lateness(self, t_a, t_b):
        """Per fragment written in [t_a, t_b): how late it came after the
        earliest-running fragment of its file (seconds), and the interval
        since the file's previous write."""
        late, gaps = [], []
        with self.lock:
            files = {p: list(w) for p, w in self.writes.items()}
        for p, w in files.items():
            # the first write of a file is its header; a file's last write
            # may be its index: keep the runs of one-second fragments
            w = [t for t in w[1:] if t_a <= t < t_b]
            if len(w) < 5:
                continue
            off = [t - k * FRAGMENT_S for k, t in enumerate(w)]
            base = min(off)
            late += [o - base for o in off]
            gaps += [b - a for a, b in zip(w, w[1:])]
        return late, gaps

    def stop(self):
        self.stopped = True
        os.close(self.fd)


class Metrics:
    def __init__(self, port):
        self.port = port

    def scrape(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        frames = received = 0
        buckets = {}
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r'^(\w+)(\{[^}]*\})?\s+(\S+)', line)
            if not m:
                continue
            name, labels, v = m.group(1), m.group(2) or "", float(m.group(3))
            if name == "vigil_camera_frames_total":
                frames += v
            elif name == "vigil_camera_received_frames_total":
                received += v
            elif name == "vigil_fsync_duration_seconds_bucket":
                le = re.search(r'le="([^"]+)"', labels).group(1)
                buckets[float("inf") if le == "+Inf" else float(le)] = v
        return {"frames": frames, "received": received, "fsync": buckets}


def fsync_quantiles(a, b):
    """p50/p99 upper bounds (bucket bounds) of the fsyncs between scrapes a and b."""
    les = sorted(b)
    cum = [b[le] - a.get(le, 0) for le in les]
    total = cum[-1] if cum else 0
    out = {"count": int(total)}
    for q in (50, 99):
        out["p%d_le_ms" % q] = None
        for le, c in zip(les, cum):
            if total and c >= total * q / 100.0:
                out["p%d_le_ms" % q] = None if le == float("inf") else round(le * 1000, 1)
                break
    return out


class Viewer(threading.Thread):
    """Reads one camera's video.mp4 of [from, to), paced or as fast as it can."""

    def __init__(self, port, token, camera, t_from, t_to, paced, stop_at):
        super().__init__(daemon=True)
        self.port, self.token, self.camera = port, token, camera
        self.t_from, self.t_to, self.paced, self.stop_at = t_from, t_to, paced, stop_at
        self.bytes = 0
        self.requests = 0
        self.ttfb = []
        self.error = None
        self.behind_s = 0.0

    def run(self):
        try:
            while time.monotonic() < self.stop_at:
                self.one()
                if self.paced:
                    break
        except Exception as e:  # reported with the figures
            self.error = repr(e)

    def one(self):
        q = "?" + urllib.parse.urlencode({"from": iso(self.t_from), "to": iso(self.t_to)})
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        t0 = time.monotonic()
        c.request("GET", "/api/cameras/%s/video.mp4%s" % (self.camera, q),
                  headers={"Authorization": "Bearer " + self.token})
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError("%s: %d %s" % (self.camera, r.status, r.read()[:200]))
        self.requests += 1
        length = int(r.getheader("Content-Length"))
        rate = length / (self.t_to - self.t_from)
        first = True
        got = 0
        while time.monotonic() < self.stop_at:
            if self.paced:
                allowed = rate * (time.monotonic() - t0 + PREBUFFER_S)
                if got >= allowed:
                    time.sleep(min(0.05, (got - allowed) / rate + 0.001))
                    continue
            chunk = r.read(65536)
            if first:
                self.ttfb.append(time.monotonic() - t0)
                first = False
            if not chunk:
                break
            got += len(chunk)
            self.bytes += len(chunk)
        if self.paced:
            # how far the stream fell behind its playback schedule
            due = min(length, rate * (time.monotonic() - t0 + PREBUFFER_S))
            self.behind_s = max(0.0, (due - got) / rate)
        c.close()


def machine_cores(a, b, dt):
    return (b[0] - a[0]) / bi.CLK_TCK / dt


def window(name, rec, srv, cs, mets, ino, seconds, viewers_fn=None):
    """Measures one window; viewers_fn starts the clients, returns them."""
    m_a = mets.scrape()
    t_a = time.monotonic()
    r_a, s_a, c_a, me_a, b_a = rec.cpu(), srv.cpu(), bi.proc_cpu_seconds(cs.proc.pid), \
        bi.proc_cpu_seconds(os.getpid()), bi.machine_busy()
    viewers = viewers_fn(t_a + seconds) if viewers_fn else []
    while time.monotonic() < t_a + seconds:
        time.sleep(0.2)
    t_b = time.monotonic()
    r_b, s_b, c_b, me_b, b_b = rec.cpu(), srv.cpu(), bi.proc_cpu_seconds(cs.proc.pid), \
        bi.proc_cpu_seconds(os.getpid()), bi.machine_busy()
    m_b = mets.scrape()
    for v in viewers:
        v.join(timeout=10)
    dt = t_b - t_a
    late, intervals = ino.lateness(t_a, t_b)
    n = cs.n
    out = {
        "name": name, "seconds": round(dt, 1),
        "recorder_cores": round((r_b - r_a) / dt, 4),
        "serve_cores": round((s_b - s_a) / dt, 4),
        "camsim_cores": round((c_b - c_a) / dt, 4),
        "bench_cores": round((me_b - me_a) / dt, 4),
        "machine_cores": round(machine_cores(b_a, b_b, dt), 3),
        "frames_written": int(m_b["frames"] - m_a["frames"]),
        "frames_received": int(m_b["received"] - m_a["received"]),
        "frames_expected": int(round(FPS * dt * n)),
        "fragment_late_ms": dist(late, 1000, 0),
        "fragment_interval_ms": dist(intervals, 1000, 0),
        "fragments_late_over_500ms": sum(1 for x in late if x > 0.5),
        "fsync": fsync_quantiles(m_a["fsync"], m_b["fsync"]),
    }
    if viewers:
        sent = sum(v.bytes for v in viewers)
        ttfb = [x for v in viewers for x in v.ttfb]
        out.update({
            "viewers": len(viewers),
            "viewer_errors": [v.error for v in viewers if v.error],
            "bytes_sent": sent,
            "mbit_per_s": round(sent * 8 / dt / 1e6, 1),
            "requests": sum(v.requests for v in viewers),
            "ttfb_ms": dist(ttfb, 1000, 1),
            "behind_schedule_s_max": round(max(v.behind_s for v in viewers), 2),
        })
    return out


def recording_files(storage):
    found = []
    for dirpath, dirnames, files in os.walk(storage):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [os.path.join(dirpath, f) for f in files if f.endswith(".mp4")]
    return found


def bench_viewers(args, vigil, after_viewers=None):
    wd = os.path.join(args.build, "bench-web", "record")
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    out = os.path.join(wd, "out")
    os.makedirs(out)
    cs = bi.Camsim(args.build, wd, args.cameras, args)
    web_port, met_port = free_port(), free_port()
    lines = ["[recorder]", "id = bench", "log_level = warn"]
    if os.geteuid() == 0:
        lines.append("allow_root = true")
    lines += ["", "[storage]", "path = " + out, "reserve_mb = 1", "",
              "[web]", "listen = 127.0.0.1:%d" % web_port, "",
              "[metrics]", "listen = 127.0.0.1:%d" % met_port, ""]
    for k in range(1, args.cameras + 1):
        lines += ["[camera cam%d]" % k, "url = " + cs.url(k), ""]
    config = os.path.join(wd, "vigil.ini")
    with open(config, "w") as f:
        f.write("\n".join(lines))
    res = {"cameras": args.cameras, "size": args.size, "bitrate_kbit": args.bitrate, "fps": FPS,
           "viewers": args.viewers}
    rec = srv = ino = None
    run_start = time.time()
    try:
        rec = Proc([vigil, "record", "-c", config], os.path.join(wd, "record.log"))
        mets = Metrics(met_port)
        deadline = time.monotonic() + 120
        while True:
            if not rec.alive():
                sys.exit("vigil record exited (see %s)" % rec.log)
            cams = set()
            for p in recording_files(out):
                if os.path.getsize(p) > 4096:
                    cams.add(os.path.relpath(p, out).split(os.sep)[0])
            if len(cams) == args.cameras:
                break
            if time.monotonic() > deadline:
                sys.exit("only %d of %d cameras recording after 120 s" % (len(cams), args.cameras))
            time.sleep(0.5)
        t0 = time.time()
        log("all %d cameras recording" % args.cameras)
        ino = Inotify(out)
        token = add_user(vigil, config, wd)
        srv = serve(vigil, config, web_port, wd)
        time.sleep(10)
        res["windows"] = [window("no viewers", rec, srv, cs, mets, ino, args.seconds)]
        log("window without viewers done")
        # the last minute, recorded before the window starts
        lag = args.seconds + 10
        if time.time() - t0 < lag:
            time.sleep(lag - (time.time() - t0))

        def start_viewers(paced):
            def fn(stop_at):
                now = time.time()
                vs = [Viewer(web_port, token, "cam%d" % (k % args.cameras + 1), now - lag,
                             now - 10, paced, stop_at) for k in range(args.viewers)]
                for v in vs:
                    v.start()
                return vs
            return fn
        res["windows"].append(window("%d viewers at playback speed" % args.viewers, rec, srv, cs,
                                     mets, ino, args.seconds, start_viewers(True)))
        log("window with paced viewers done")
        if args.fast_seconds > 0:
            res["windows"].append(window("%d viewers as fast as possible" % args.viewers, rec, srv,
                                         cs, mets, ino, args.fast_seconds, start_viewers(False)))
            log("window with fast viewers done")
        if after_viewers:
            res["browser"] = after_viewers(web_port, token, config)
        # every frame the cameras sent, in the files?
        cs.stall_all()
        prev = None
        for _ in range(30):
            time.sleep(1)
            served = cs.frames()
            if served == prev:
                break
            prev = served
        srv.stop()
        srv = None
        res["recorder_exit"] = rec.stop()
        rec = None
        seg = os.path.join(args.build, "segcheck")
        lost = recorded = total_served = bad = 0
        for k in range(1, args.cameras + 1):
            files = sorted(recording_files(os.path.join(out, "cam%d" % k)))
            got, b = bi.count_frames(seg, files)
            if files:
                got -= bi.frames_after_stall(files[-1])
            s = served.get("cam%d" % k, 0)
            lost += max(0, s - got)
            recorded += got
            total_served += s
            bad += b
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(out, "catalog.db"), uri=True)
        gaps = db.execute("SELECT camera, start_us, end_us, reason FROM gap WHERE start_us >= ? "
                          "ORDER BY start_us", (int(t0 * 1e6),)).fetchall()
        db.close()
        # the stall at the end is a gap of every camera: not the recorder's
        stall_at = time.time() - 40
        res["frames"] = {"served": total_served, "recorded": recorded, "lost": lost,
                         "unreadable_files": bad,
                         "gaps_during_run": [(g[0], iso(g[1] / 1e6), g[3]) for g in gaps
                                             if g[1] / 1e6 < stall_at],
                         "run_seconds": round(time.time() - run_start)}
    finally:
        if ino:
            ino.stop()
        if srv:
            srv.stop()
        if rec:
            rec.stop()
        cs.stop()
    return res


# ---- 3. click to first frame -----------------------------------------------

INSTRUMENT = r"""
const v = document.getElementById('video');
const b = window.__bench = {down: null, frames: [], events: {}};
document.addEventListener('pointerdown', () => { if (b.down === null) b.down = performance.now(); },
                          {capture: true});
for (const ev of ['loadedmetadata', 'loadeddata', 'seeked', 'playing']) {
  v.addEventListener(ev, () => { if (b.down !== null && !(ev in b.events)) b.events[ev] = performance.now(); });
}
const frame = (now, md) => {
  if (b.down !== null) b.frames.push([performance.now(), md.mediaTime]);
  if (b.frames.length < 50) v.requestVideoFrameCallback(frame);
};
v.requestVideoFrameCallback(frame);
"""

READ = r"""
const v = document.getElementById('video');
const s = document.getElementById('strip');
return {b: window.__bench, start: v.dataset.start || null, cursor: s.dataset.cursor || null,
        src: v.getAttribute('src'), err: v.error ? String(v.error.message || v.error.code) : null};
"""

BARE = r"""
const done = arguments[arguments.length - 1];
const v = document.createElement('video');
v.muted = true; v.playsInline = true; v.preload = 'auto';
document.body.append(v);
const t0 = performance.now();
const r = {};
v.addEventListener('loadeddata', () => { r.loadeddata = performance.now() - t0; });
v.addEventListener('error', () => { r.error = String(v.error && v.error.message); done(r); });
v.requestVideoFrameCallback(() => { r.frame = performance.now() - t0; v.pause(); v.remove(); done(r); });
v.src = arguments[0];
v.play().catch(() => {});
setTimeout(() => { r.timeout = true; done(r); }, 15000);
"""


def parse_rfc(s):
    from datetime import datetime
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def selenium_python():
    try:
        import selenium  # noqa: F401
        return None
    except ImportError:
        pass
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3"):
        return "/usr/bin/python3"
    return None


def bench_browser(args, port, token, config):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wd = os.path.join(args.build, "bench-web", "chromium-profile")
    shutil.rmtree(wd, ignore_errors=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = args.chromium
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-dev-shm-usage", "--window-size=1280,1000", "--user-data-dir=" + wd]:
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(args.chromedriver), options=opts)
    drv.set_script_timeout(30)
    base = "http://127.0.0.1:%d" % port
    res = {"clicks": [], "seeks": [], "bare": [], "ttfb_ms": []}
    try:
        drv.get(base + "/")
        wait = WebDriverWait(drv, 20)
        wait.until(lambda d: d.find_elements(By.ID, "login-user"))
        drv.find_element(By.ID, "login-user").send_keys("bench")
        drv.find_element(By.ID, "login-password").send_keys(PASSWORD)
        drv.find_element(By.ID, "login-submit").click()
        wait.until(lambda d: d.find_elements(By.ID, "logout"))
        cams = [k % args.cameras + 1 for k in range(args.viewers, args.viewers + args.clicks)]
        for i, k in enumerate(cams):
            drv.get(base + "/#/camera/cam%d?range=hour" % k)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#strip .seg.span"))
            strip = drv.find_element(By.ID, "strip")
            wait.until(lambda d: strip.get_attribute("data-from"))
            f, t = parse_rfc(strip.get_attribute("data-from")), parse_rfc(strip.get_attribute("data-to"))
            # about two minutes back, at a different place in the GOP each time
            target = time.time() - 120 - (i * 0.37) % 2
            one = click_once(drv, strip, f, t, target, ActionChains)
            one["camera"] = "cam%d" % k
            res["clicks"].append(one)
            # a second click later in the file just loaded: a seek
            two = click_once(drv, strip, f, t, target + 30, ActionChains)
            res["seeks"].append(two)
            log("click %d (cam%d): first frame %s ms, seek %s ms" % (
                i + 1, k, one.get("frame_ms"), two.get("frame_ms")))
        for i in range(args.clicks):
            k = cams[i]
            at = time.time() - 150 - i
            q = "?" + urllib.parse.urlencode({"from": iso(at), "to": iso(at + 3600)})
            url = "/api/cameras/cam%d/video.mp4%s" % (k, q)
            r = drv.execute_async_script(BARE, url)
            res["bare"].append(r)
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t0 = time.perf_counter()
            c.request("GET", url, headers={"Authorization": "Bearer " + token})
            resp = c.getresponse()
            resp.read(65536)
            res["ttfb_ms"].append((time.perf_counter() - t0) * 1000)
            c.close()
    finally:
        drv.quit()
        shutil.rmtree(wd, ignore_errors=True)
    summary = {}
    for key in ("clicks", "seeks"):
        summary[key] = {
            "frame_ms": dist([c["frame_ms"] for c in res[key] if c.get("frame_ms") is not None], 1, 0),
            "loadeddata_ms": dist([c["loadeddata_ms"] for c in res[key]
                                   if c.get("loadeddata_ms") is not None], 1, 0),
            "failed": [c for c in res[key] if c.get("frame_ms") is None]}
    summary["bare_video"] = {
        "frame_ms": dist([r["frame"] for r in res["bare"] if "frame" in r], 1, 0),
        "loadeddata_ms": dist([r["loadeddata"] for r in res["bare"] if "loadeddata" in r], 1, 0),
        "failed": [r for r in res["bare"] if "frame" not in r]}
    summary["python_first_64k_ms"] = dist(res["ttfb_ms"], 1, 1)
    summary["raw"] = res
    return summary


def click_once(drv, strip, f, t, target, ActionChains):
    drv.execute_script(INSTRUMENT)
    w = strip.size["width"]
    x = (target - f) / (t - f) * w
    ActionChains(drv).move_to_element_with_offset(strip, int(x - w / 2), 0).click().perform()
    deadline = time.monotonic() + 15
    out = {}
    while time.monotonic() < deadline:
        r = drv.execute_script(READ)
        b = r["b"]
        if r["err"]:
            out["error"] = r["err"]
            break
        if b["down"] is not None and r["start"] and r["cursor"]:
            offset = parse_rfc(r["cursor"]) - parse_rfc(r["start"])
            at = [fr for fr in b["frames"] if fr[1] >= offset - 0.1]
            if at:
                out["frame_ms"] = round(at[0][0] - b["down"], 1)
                out["offset_s"] = round(offset, 2)
                if "loadeddata" in b["events"]:
                    out["loadeddata_ms"] = round(b["events"]["loadeddata"] - b["down"], 1)
                out["events_ms"] = {k: round(v - b["down"], 1) for k, v in b["events"].items()}
                break
        time.sleep(0.02)
    if "frame_ms" not in out:
        out["state"] = drv.execute_script(READ)
    time.sleep(0.5)
    return out


# ---- report ----------------------------------------------------------------

def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def summary_text(res, args):
    lines = ["web console benchmark (%d cores)" % os.cpu_count()]
    sp = res.get("spans")
    if sp:
        h = sp["history"]
        lines.append("  spans, catalog of %d + %d segments (60 s):" % (h["segments_long"],
                                                                    h["segments_day"]))
        ls, lc, lcli = sp["long_spans_http"], sp["long_continuity_http"], sp["long_continuity_cli"]
        lines.append("    one camera, 90 days (%d spans, %d gaps): HTTP spans median %.1f ms, p95 %.1f ms"
                     % (ls["spans"], ls["gaps"], ls["median"], ls["p95"]))
        lines.append("      same interval: /api/reports/continuity %.1f ms; `vigil report continuity` "
                     "%.1f ms (HTTP spans / command %.2f)" % (lc["median"], lcli["median"],
                                                             ratio(ls["median"], lcli["median"])))
        d = sp["day_strips_http"]
        lines.append("    100 cameras' day strips: per request median %.2f ms, p95 %.2f ms; all 100 "
                     "in turn %.0f ms, over 6 connections %.0f ms" % (
                         d["per_request_ms"]["median"], d["per_request_ms"]["p95"],
                         d["100_in_turn_ms"]["median"], d["100_over_6_connections_ms"]["median"]))
        lines.append("      same day, all cameras: /api/reports/continuity %.1f ms; `vigil report "
                     "continuity` %.1f ms (100 strips over 6 connections / command %.2f)" % (
                         sp["day_continuity_all_http"]["median"],
                         sp["day_continuity_all_cli"]["median"],
                         ratio(d["100_over_6_connections_ms"]["median"],
                               sp["day_continuity_all_cli"]["median"])))
        if "cameras_list_http" in sp:
            lines.append("    GET /api/cameras (101 cameras): median %.1f ms, p95 %.1f ms" % (
                sp["cameras_list_http"]["median"], sp["cameras_list_http"]["p95"]))
    vw = res.get("viewers")
    if vw:
        lines.append("  recording %d cameras (%s, %d kbit/s) with vigil serve beside it:" % (
            vw["cameras"], vw["size"], vw["bitrate_kbit"]))
        w0 = vw["windows"][0]
        for w in vw["windows"]:
            lines.append("    %s, %.0f s:" % (w["name"], w["seconds"]))
            lines.append("      recorder %.3f cores (x%.2f), frames written %d of %d expected; "
                         "serve %.3f cores; camsim %.3f; machine %.2f" % (
                             w["recorder_cores"], ratio(w["recorder_cores"], w0["recorder_cores"]),
                             w["frames_written"], w["frames_expected"], w["serve_cores"],
                             w["camsim_cores"], w["machine_cores"]))
            fl = w["fragment_late_ms"]
            if fl.get("n"):
                lines.append("      fragment writes late: median %d ms, p99 %d ms, max %d ms (%d "
                             "fragments, %d over 500 ms); fdatasync p50 <= %s ms, p99 <= %s ms (%d)" % (
                                 fl["median"], fl["p99"], fl["max"], fl["n"],
                                 w["fragments_late_over_500ms"], w["fsync"]["p50_le_ms"],
                                 w["fsync"]["p99_le_ms"], w["fsync"]["count"]))
            if w.get("viewers"):
                extra = w["serve_cores"] - w0["serve_cores"]
                lines.append("      %d viewers: %.1f Mbit/s sent, %.2f %% of a core per viewer "
                             "stream, %.1f ms CPU per MB; first byte median %s ms; behind "
                             "schedule max %.2f s; errors %d" % (
                                 w["viewers"], w["mbit_per_s"], extra / w["viewers"] * 100,
                                 extra * w["seconds"] * 1000 / (w["bytes_sent"] / 1e6),
                                 w["ttfb_ms"].get("median"), w["behind_schedule_s_max"],
                                 len(w["viewer_errors"])))
        fr = vw["frames"]
        lines.append("    frames lost by the recorder over the run: %d (of %d served), %d "
                     "unreadable files, %d gaps before the final stall" % (
                         fr["lost"], fr["served"], fr["unreadable_files"],
                         len(fr["gaps_during_run"])))
    br = (vw or {}).get("browser")
    if br:
        c, s, b = br["clicks"]["frame_ms"], br["seeks"]["frame_ms"], br["bare_video"]["frame_ms"]
        lines.append("  Chromium, click on the timeline to the first frame at that instant: median "
                     "%s ms, p95 %s ms, max %s ms (%d clicks, %d failed)" % (
                         c.get("median"), c.get("p95"), c.get("max"), c["n"],
                         len(br["clicks"]["failed"])))
        lines.append("    a click inside the file loaded (seek): median %s ms; bare <video> of "
                     "video.mp4: median %s ms (click / bare %.2f); first 64 KiB from Python "
                     "median %s ms" % (s.get("median"), b.get("median"),
                                       ratio(c.get("median"), b.get("median")) or 0,
                                       br["python_first_64k_ms"].get("median")))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--cameras", type=int, default=64)
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--fast-seconds", type=int, default=20)
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--runs", type=int, default=50, help="requests per spans figure")
    ap.add_argument("--strip-runs", type=int, default=10)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--bitrate", type=int, default=2000)
    ap.add_argument("--skip", default="", help="spans,viewers,browser")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.fps = FPS
    skip = set(filter(None, args.skip.split(",")))
    if "browser" not in skip:
        py = selenium_python()
        if py:
            os.execv(py, [py] + sys.argv)
    vigil = os.path.join(args.build, "vigil")
    os.makedirs(os.path.join(args.build, "bench-web"), exist_ok=True)
    out = args.out or os.path.join(args.build, "bench-web", "web.json")
    res = {"machine": bi.machine(), "date": time.strftime("%Y-%m-%d")}
    if "spans" not in skip:
        res["spans"] = bench_spans(args, vigil, os.path.join(args.build, "mkhistory"))
        log("spans done")
    if "viewers" not in skip:
        browser = None if "browser" in skip else (
            lambda port, token, config: bench_browser(args, port, token, config))
        res["viewers"] = bench_viewers(args, vigil, browser)
    with open(out, "w") as f:
        json.dump(res, f, indent=2)
    print(summary_text(res, args))
    log("figures in " + out)


if __name__ == "__main__":
    main()
