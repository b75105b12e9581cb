#!/usr/bin/env python3
"""Cost per camera: vigil against one ffmpeg and one GStreamer pipeline per
camera, on the same simulated cameras, in the same run; and the ceiling:
how many cameras vigil records before something runs out, and what.

For every camera count N and every recorder, a fresh camera source serves N
cameras (1080p25 H.264, 4 Mbit/s, 2 s GOP: camsim's defaults) and the
recorder records all of them.  The source is build/camfarm (bench/farm.c:
camsim's clip, packetized once, served from memory by one epoll thread;
tests/integration/test_camfarm.py checks that vigil records the same frames
from it as from camsim), or camsim itself with --farm camsim, whose
GStreamer pipeline per camera costs more than vigil past a few hundred
cameras.  The recorders:

  vigil    one `vigil record -c CONFIG` (segment 60 s, fsync 5 s: defaults;
           health published to a private mosquitto, as in production)
  ffmpeg   one `ffmpeg -rtsp_transport tcp -i URL -c copy -f segment
           -segment_time 60 -reset_timestamps 1 camK/%05d.mp4` per camera
  gst      one `gst-launch-1.0 -e rtspsrc location=URL protocols=tcp !
           rtph264depay ! h264parse ! splitmuxsink location=camK/%05d.mp4
           max-size-time=60000000000` per camera
  floor    one `build/floorrec` (bench/floor.c): what no recorder with
           vigil's guarantees can skip, and nothing else: each byte
           received once, written once (a second's worth per write),
           hashed once (SHA-256), each file fdatasync'd every 5 s and its
           synced pages dropped; it writes the stream as it came, not MP4,
           so it has no frames to count.  "vs floor" is each recorder's CPU
           against it: vigil's excess is the cost of being a recorder
  floor-move  the floor without the hash and the syncs (--no-hash
           --no-sync): the bytes moved from the socket to the page cache,
           which ffmpeg pays too

What is measured, for the recorder processes only:
  start     seconds from launching the recorder(s) until every camera has a
            frame on disk (a file of more than 4 KiB: past the MP4 header)
  cpu       CPU seconds per camera-hour: utime+stime (+ children) from
            /proc/PID/stat over a steady window of --seconds that begins
            once every camera records
  rss, pss  memory per camera: the sum over the recorder processes of
            VmRSS and of Pss (/proc/PID/smaps_rollup), the largest of the
            samples taken every 5 s in the window, divided by N
  lost      frames camsim served minus frames in the files.  At the end of
            the window every camera is stalled (camsim stops sending), the
            counters are read once they stand still, then the recorders
            stop gracefully (SIGTERM / SIGINT / EOS) and every file is read
            back with build/segcheck.  A recorder that loses nothing scores
            exactly 0.
  late      vigil only: every fragment write of the window, seen with
            inotify (bench_web.Inotify), against its schedule (fragment k of
            a file is due k seconds after the file's earliest-running
            fragment); p50, p99, max, and the count more than 0.5 s late (a
            fragment is one second of media, so such a write holds media
            more than 1.5 s old)
  written   bytes per second the recorder sent towards the disk
            (/proc/PID/io write_bytes)
  holds     N is held when every camera started, no frame was lost (frames
            the farm dropped because a reader fell 2 s behind count as
            lost) and no fragment was more than 0.5 s late.
  ran out   for an N not held: CPU when the machine was 90 % busy or more,
            the disk when the cameras' bitrate is 80 % of the fio ceiling
            or more, memory bandwidth when about 8 passes over the video
            (the farm's send, the recorder's recv, write, SHA-256, the
            write-back) need half the machine's memcpy bandwidth or more.

Around it: camsim's own CPU, the CPU the rest of the machine used during
the window (other work running at the same time), and the disk's sustained
write bandwidth into the same folder (fio with fdatasync every 8 MiB, or dd
with conv=fdatasync), as a number of 4 Mbit/s cameras.

Runs for each N take turns (vigil, ffmpeg, gst, then rotated) and repeat
--repeat times; the report gives medians.  A recorder with a process per
camera is skipped at an N whose processes would not fit in memory.  After
the fixed counts, --ramp keeps adding cameras for each recorder that still
holds, until it does not, or their bitrate is more than the disk ceiling.

Writes RESULTS.json (every run), RESULTS.dat and a PNG chart (gnuplot), and
prints the Markdown table of bench/README.md.

usage: bench/bench_ingest.py [--build build] [--cameras 16,64,256,512,1024] [--ramp]
                             [--seconds 30] [--repeat 1] [--farm camfarm|camsim]
                             [--farm-threads 1] [--farm-aligned]
                             [--recorders vigil,ffmpeg,gst,floor,floor-move]
                             [--out bench/ingest]
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
STARTED_BYTES = 4096          # a file past its MP4 header holds a frame
START_TIMEOUT = 60            # give up on a camera that does not start
STALL_SETTLE = 2.0            # after the stall, wait for counters to stand still


def log(msg):
    print("bench-ingest: " + msg, file=sys.stderr, flush=True)


# ---- /proc -------------------------------------------------------------

def proc_cpu_seconds(pid):
    """utime+stime+cutime+cstime of pid in seconds, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def proc_memory(pid):
    """(rss, pss) of pid in bytes, or None."""
    rss = pss = None
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except OSError:
        return None
    return (rss, pss) if rss is not None and pss is not None else None


def machine_busy():
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


def machine():
    info = {"cores": os.cpu_count(), "kernel": platform.release()}
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
        info["cpu"] = m.group(1).strip() if m else platform.processor()
    with open("/proc/meminfo") as f:
        m = re.search(r"^MemTotal:\s*(\d+)", f.read(), re.M)
        info["ram_gib"] = round(int(m.group(1)) / 1024 / 1024, 1)
    try:
        with open("/etc/os-release") as f:
            m = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M)
            info["os"] = m.group(1)
    except OSError:
        pass
    return info


def disk_of(path):
    """The file system and block device holding path, in words."""
    out = subprocess.run(["df", "--output=source,fstype,size", path], capture_output=True,
                         text=True).stdout.splitlines()
    src, fstype, size = out[-1].split() if len(out) > 1 else ("?", "?", "0")
    dev = os.path.basename(src)
    base = dev if os.path.exists("/sys/block/" + dev) else re.sub(r"p?\d+$", "", dev)

    def sysfs(name):
        try:
            with open("/sys/block/%s/%s" % (base, name)) as fh:
                return fh.read().strip()
        except OSError:
            return ""
    kind = "virtio disk" if base.startswith("vd") else (sysfs("device/model") or "disk")
    return "%s, %s on %s (%s), %.0f GiB" % (path, fstype, src, kind, int(size) / 1024 / 1024)


def mem_available():
    with open("/proc/meminfo") as f:
        m = re.search(r"^MemAvailable:\s*(\d+)", f.read(), re.M)
    return int(m.group(1)) * 1024


# ---- disk ceiling ------------------------------------------------------

def disk_bandwidth(folder, seconds):
    """Sustained sequential write into folder, flushed to the disk, in bytes/s."""
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, "disk-ceiling.tmp")
    try:
        if shutil.which("fio"):
            out = subprocess.run(
                ["fio", "--name=ceiling", "--filename=" + target, "--rw=write", "--bs=1M",
                 "--size=8G", "--time_based", "--runtime=%d" % seconds, "--ioengine=psync",
                 "--fdatasync=8", "--end_fsync=1", "--output-format=json"],
                capture_output=True, text=True, check=True).stdout
            job = json.loads(out[out.index("{"):])["jobs"][0]["write"]
            return job["bw_bytes"], "fio: 1 MiB sequential writes, fdatasync every 8 MiB, %d s" % seconds
        count = 2048
        t = time.monotonic()
        subprocess.run(["dd", "if=/dev/zero", "of=" + target, "bs=1M", "count=%d" % count,
                        "conv=fdatasync"], capture_output=True, check=True)
        return count * MIB / (time.monotonic() - t), "dd: 2 GiB, conv=fdatasync"
    finally:
        try:
            os.unlink(target)
        except OSError:
            pass


def copy_bandwidth():
    """memcpy on one core, bytes read + written per second (the best of 5
    copies of 256 MiB): what the data path's copies draw on."""
    src = bytearray(b"\x5a" * (256 * MIB))
    dst = bytearray(len(src))  # touched once, so no page fault is timed
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        dst[:] = src
        best = max(best, 2 * len(src) / (time.perf_counter() - t))
    return best


# Memory traffic per byte of video through the recorder on one machine:
# the farm's send (blob -> socket buffer: read + write), the recorder's recv
# (socket buffer -> user: read + write), its write (user -> page cache: read
# + write), SHA-256 (read) and the write-back (read by the disk): 8 passes.
COPY_PASSES = 8


def diagnose(r, ceiling, copy_bw, cores, bitrate):
    """What ran out, from the figures of one run: the words for the table."""
    why = []
    if (r.get("machine_busy") or 0) >= 0.9:
        why.append("CPU (machine %.0f %% busy)" % (100 * r["machine_busy"]))
    video = r["n"] * bitrate * 1000 / 8
    if ceiling and video >= 0.8 * ceiling:
        why.append("disk (%.0f of %.0f MB/s)" % (video / 1e6, ceiling / 1e6))
    if copy_bw and video * COPY_PASSES >= 0.5 * copy_bw * cores:
        why.append("memory bandwidth (~%.1f of %.1f GB/s)" % (
            video * COPY_PASSES / 1e9, copy_bw * cores / 1e9))
    if not why and (r.get("cpu_cores") or 0) >= 0.9 and r["recorder"].startswith("vigil"):
        why.append("CPU (the recorder used %.2f cores)" % r["cpu_cores"])
    return ", ".join(why) or "nothing measured ran out"


# ---- camsim --------------------------------------------------------------

class Camsim:
    def __init__(self, build, wd, n, args):
        self.sock = os.path.join(wd, "camsim.sock")
        self.logf = open(os.path.join(wd, "camsim.log"), "w")
        cmd = [os.path.join(build, "camsim"), "--port", "0", "--cameras", str(n),
               "--size", args.size, "--bitrate", str(args.bitrate), "--fps", str(args.fps),
               "--cache", os.path.join(build, "camsim-cache"), "--control", self.sock]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.logf,
                                     start_new_session=True)
        deadline = time.monotonic() + 600  # the first run encodes the clip
        while True:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise RuntimeError("camsim exited (see %s)" % self.logf.name)
            if line.startswith("camsim ready"):
                self.port = int(line.split("port=")[1].split()[0])
                break
            if time.monotonic() > deadline:
                raise RuntimeError("camsim not ready")
        self.n = n

    def url(self, k):
        return "rtsp://127.0.0.1:%d/cam%d" % (self.port, k)

    def ctl(self, commands):
        """Sends commands over one connection; returns the replies."""
        replies = []
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(20)
            s.connect(self.sock)
            f = s.makefile("rw")
            for c in commands:
                f.write(c + "\n")
                f.flush()
                lines = []
                while True:
                    line = f.readline()
                    if not line:
                        raise RuntimeError("camsim closed the control socket")
                    line = line.rstrip("\n")
                    if line == "ok" or line.startswith("error"):
                        break
                    lines.append(line)
                if line.startswith("error"):
                    raise RuntimeError("camsim %r: %s" % (c, line))
                replies.append(lines)
        return replies

    def frames(self):
        out = {}
        for line in self.ctl(["status"])[0]:
            parts = line.split()
            m = re.search(r"frames=(\d+)", line)
            if parts and m:
                out[parts[0]] = int(m.group(1))
        return out

    def stall_all(self):
        self.ctl(["stall cam%d" % k for k in range(1, self.n + 1)])

    def resume_all(self):
        self.ctl(["resume cam%d" % k for k in range(1, self.n + 1)])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def clip_path(build, args):
    """camsim's cached clip for the run's parameters; camsim makes it once
    if the cache does not have it yet."""
    import glob
    cache = os.path.join(build, "camsim-cache")
    pattern = "clip-r*-h264-%s-%dfps-gop2-%dk-10s.mp4" % (args.size, args.fps, args.bitrate)

    def found():
        paths = sorted(glob.glob(os.path.join(cache, pattern)),
                       key=lambda p: int(re.search(r"clip-r(\d+)", p).group(1)))
        return paths[-1] if paths else None
    if not found():
        wd = os.path.join(args.workdir, "clip")
        os.makedirs(wd, exist_ok=True)
        log("encoding the clip once with camsim (%s)" % pattern)
        Camsim(build, wd, 1, args).stop()
    if not found():
        raise RuntimeError("camsim made no clip %s in %s" % (pattern, cache))
    return found()


class Camfarm(Camsim):
    """bench/farm.c: the same cameras as camsim (the same clip, packetized
    the same way; tests/integration/test_camfarm.py checks it) for a small
    fraction of camsim's CPU, so the recorder, not the cameras, is what
    runs out first.  Same control protocol; its status also counts the
    frames it dropped because a reader fell 2 s behind."""

    def __init__(self, build, wd, n, args):
        self.sock = os.path.join(wd, "camfarm.sock")
        self.logf = open(os.path.join(wd, "camfarm.log"), "w")
        cmd = [os.path.join(build, "camfarm"), "--port", "0", "--cameras", str(n),
               "--clip", clip_path(build, args), "--threads", str(args.farm_threads),
               "--control", self.sock] + (["--aligned"] if args.farm_aligned else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.logf,
                                     start_new_session=True)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("camfarm ready"):
            raise RuntimeError("camfarm did not start (see %s)" % self.logf.name)
        self.port = int(line.split("port=")[1].split()[0])
        # the url lines are not read: do not let the pipe fill
        self.proc.stdout.close()
        self.n = n

    def dropped(self):
        out = 0
        for line in self.ctl(["status"])[0]:
            m = re.search(r"dropped=(\d+)", line)
            out += int(m.group(1)) if m else 0
        return out


# ---- recorders -----------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """Base: a set of processes recording cameras cam1..camN into wd/out."""
    name = "?"
    counts_frames = True  # its files are MP4 that segcheck reads back

    def __init__(self, build, wd, cs):
        self.build, self.wd, self.cs = build, wd, cs
        self.out = os.path.join(wd, "out")
        os.makedirs(self.out, exist_ok=True)
        self.procs = []
        self.logf = open(os.path.join(wd, self.name + ".log"), "w")

    def pids(self):
        return [p.pid for p in self.procs if p.poll() is None]

    def cpu(self):
        return sum(c for c in (proc_cpu_seconds(pid) for pid in self.pids()) if c is not None)

    def write_bytes(self):
        """Bytes the recorder processes sent towards the disk (/proc/PID/io)."""
        total = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/io" % pid) as f:
                    for line in f:
                        if line.startswith("write_bytes:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def memory(self):
        rss = pss = 0
        for pid in self.pids():
            m = proc_memory(pid)
            if m:
                rss += m[0]
                pss += m[1]
        return rss, pss

    def camera_dir(self, k):
        return os.path.join(self.out, "cam%d" % k)

    def camera_bytes(self, k):
        """The largest file of camera k so far."""
        best = 0
        for dirpath, _, files in os.walk(self.camera_dir(k)):
            for f in files:
                if f.endswith(".mp4"):
                    try:
                        best = max(best, os.path.getsize(os.path.join(dirpath, f)))
                    except OSError:
                        pass
        return best

    def files(self, k):
        found = []
        for dirpath, _, files in os.walk(self.camera_dir(k)):
            found += [os.path.join(dirpath, f) for f in files if f.endswith(".mp4")]
        return sorted(found)

    def stop_signal(self):
        return signal.SIGINT

    def after_signal(self):
        """Called between the stop signal and the wait."""

    def stop(self, timeout=60):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(self.stop_signal())
        self.after_signal()
        deadline = time.monotonic() + timeout
        forced = 0
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                forced += 1
        self.logf.close()
        return forced

    def alive(self):
        return all(p.poll() is None for p in self.procs)


class Vigil(Recorder):
    name = "vigil"
    binary = None  # set from --build
    storage_keys = ["reserve_mb = 1"]

    def start(self, n):
        mq_port = free_port()
        mq_conf = os.path.join(self.wd, "mosquitto.conf")
        with open(mq_conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % mq_port)
        self.broker = subprocess.Popen(["mosquitto", "-c", mq_conf], stdout=self.logf,
                                       stderr=self.logf, start_new_session=True)
        lines = ["[recorder]", "id = bench", "log_level = warn"]
        if os.geteuid() == 0:
            lines.append("allow_root = true")
        # picture inspection off: its first pass over the cameras comes 30 s
        # after start, inside the window, where it would count ten times its
        # share at the default 5 minutes (0.14 CPU s per camera-hour, H.264:
        # bench-inspect measures it)
        lines += ["", "[storage]", "path = " + self.out] + self.storage_keys + [
            "", "[mqtt]", "host = 127.0.0.1", "port = %d" % mq_port, "",
            "[inspection]", "interval_seconds = 0", ""]
        for k in range(1, n + 1):
            lines += ["[camera cam%d]" % k, "url = " + self.cs.url(k), ""]
        config = os.path.join(self.wd, "vigil.ini")
        with open(config, "w") as f:
            f.write("\n".join(lines))
        self.procs.append(subprocess.Popen(
            [self.binary or os.path.join(self.build, "vigil"), "record", "-c", config],
            stdout=self.logf, stderr=self.logf, start_new_session=True))

    def stop_signal(self):
        return signal.SIGTERM

    def stop(self, timeout=60):
        forced = super().stop(timeout)
        self.broker.terminate()
        self.broker.wait()
        return forced


class Ffmpeg(Recorder):
    """ffmpeg's first SIGINT does not interrupt a read that is blocked (its
    interrupt callback fires from the second signal on, which also aborts
    the file writes of the trailer): after the signal the cameras resume,
    the blocked read returns, and ffmpeg finishes the file.  The frames it
    gets after the stall are told apart by the time jump and not counted."""
    name = "ffmpeg"

    def after_signal(self):
        time.sleep(0.5)
        self.cs.resume_all()

    def start(self, n):
        for k in range(1, n + 1):
            os.makedirs(self.camera_dir(k), exist_ok=True)
        for k in range(1, n + 1):
            self.procs.append(subprocess.Popen(
                ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                 "-rtsp_transport", "tcp", "-i", self.cs.url(k), "-c", "copy",
                 "-f", "segment", "-segment_time", "60", "-reset_timestamps", "1",
                 os.path.join(self.camera_dir(k), "%05d.mp4")],
                stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
                start_new_session=True))


class Gst(Recorder):
    name = "gst"

    def start(self, n):
        for k in range(1, n + 1):
            os.makedirs(self.camera_dir(k), exist_ok=True)
        for k in range(1, n + 1):
            self.procs.append(subprocess.Popen(
                ["gst-launch-1.0", "-q", "-e", "rtspsrc", "location=" + self.cs.url(k),
                 "protocols=tcp", "!", "rtph264depay", "!", "h264parse", "!", "splitmuxsink",
                 "location=" + os.path.join(self.camera_dir(k), "%05d.mp4"),
                 "max-size-time=60000000000"],
                stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
                start_new_session=True))


class VigilBefore(Vigil):
    """vigil built from an earlier tree (--before), for before/after figures
    measured in the same run."""
    name = "vigil-before"
    storage_keys = []  # an earlier vigil may not know reserve_mb


class Floor(Recorder):
    """build/floorrec (bench/floor.c): what no recorder with vigil's
    guarantees can skip (each byte received once, hashed once, written once,
    fdatasync'd every 5 s, its pages dropped), and nothing else.  It writes
    the stream as it came, not MP4: no frames to count."""
    name = "floor"
    counts_frames = False
    leave_out = []

    def start(self, n):
        self.procs.append(subprocess.Popen(
            [os.path.join(self.build, "floorrec"), "--out", self.out, "--fsync-seconds", "5"] +
            self.leave_out + [self.cs.url(k) for k in range(1, n + 1)],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
            start_new_session=True))

    def camera_bytes(self, k):
        try:
            return os.path.getsize(os.path.join(self.camera_dir(k), "floor.bin"))
        except OSError:
            return 0

    def files(self, k):
        return []


class FloorMove(Floor):
    """The floor without the hash and the syncs: the bytes moved from the
    socket to the page cache, which every recorder pays, ffmpeg too."""
    name = "floor-move"
    leave_out = ["--no-hash", "--no-sync"]


RECORDERS = {"vigil": Vigil, "ffmpeg": Ffmpeg, "gst": Gst, "vigil-before": VigilBefore,
             "floor": Floor, "floor-move": FloorMove}


# ---- one run -------------------------------------------------------------

def count_frames(segcheck, files):
    frames = 0
    bad = 0
    for i in range(0, len(files), 200):
        out = subprocess.run([segcheck] + files[i:i + 200], capture_output=True, text=True).stdout
        for line in out.splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if r.get("ok"):
                frames += r["frames"]
            else:
                bad += 1
    return frames, bad


def frames_after_stall(path):
    """Video frames of path that follow a jump of the timeline by more than a
    second (the stall at the end of a run): they came after the count."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=dts_time", "-of", "csv=p=0", path],
                         capture_output=True, text=True).stdout
    dts = []
    for line in out.split():
        try:
            dts.append(float(line.strip(",")))
        except ValueError:
            pass
    for i in range(1, len(dts)):
        if dts[i] - dts[i - 1] > 1.0:
            return len(dts) - i
    return 0


def run_once(args, kind, n, rep):
    wd = os.path.join(args.workdir, "%s-n%d-r%d" % (kind, n, rep))
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    cs = (Camfarm if args.farm == "camfarm" else Camsim)(args.build, wd, n, args)
    rec = RECORDERS[kind](args.build, wd, cs)
    result = {"recorder": kind, "n": n, "rep": rep, "source": args.farm}
    ino = None
    try:
        cs_cpu0 = proc_cpu_seconds(cs.proc.pid)
        t0 = time.monotonic()
        rec.start(n)
        started = {}
        while len(started) < n and time.monotonic() - t0 < START_TIMEOUT + n / 20:
            for k in range(1, n + 1):
                if k not in started and rec.camera_bytes(k) > STARTED_BYTES:
                    started[k] = time.monotonic() - t0
            if not rec.alive():
                break
            time.sleep(0.1)
        result["cameras_started"] = len(started)
        result["start_s"] = max(started.values()) if len(started) == n else None
        result["start_median_s"] = statistics.median(started.values()) if started else None
        time.sleep(args.warmup)

        # the steady window; vigil writes a fragment a second per camera,
        # each with one writev: inotify sees when each came
        if kind.startswith("vigil"):
            from bench_web import Inotify
            ino = Inotify(rec.out)
        io_a = rec.write_bytes()
        cpu_a, busy_a, cs_a, t_a = rec.cpu(), machine_busy(), proc_cpu_seconds(cs.proc.pid), time.monotonic()
        rss = pss = 0
        while time.monotonic() - t_a < args.seconds:
            time.sleep(min(5, max(0.1, args.seconds - (time.monotonic() - t_a))))
            r, p = rec.memory()
            rss, pss = max(rss, r), max(pss, p)
        cpu_b, busy_b, cs_b, t_b = rec.cpu(), machine_busy(), proc_cpu_seconds(cs.proc.pid), time.monotonic()
        io_b = rec.write_bytes()
        window = t_b - t_a
        if ino:
            late, _ = ino.lateness(t_a, t_b)
            ino.stop()
            ino = None
            late.sort()
            result["fragments"] = len(late)
            result["fragment_late_p50_ms"] = 1000 * late[len(late) // 2] if late else None
            result["fragment_late_p99_ms"] = 1000 * late[int(len(late) * 0.99)] if late else None
            result["fragment_late_max_ms"] = 1000 * late[-1] if late else None
            result["fragments_late_over_500ms"] = sum(1 for x in late if x > 0.5)
        result["write_bytes_per_s"] = (io_b - io_a) / window
        machine_cpu = (busy_b[0] - busy_a[0]) / CLK_TCK
        result.update({
            "window_s": window,
            "cpu_s": cpu_b - cpu_a,
            "cpu_s_per_camera_hour": (cpu_b - cpu_a) / n / (window / 3600),
            "cpu_cores": (cpu_b - cpu_a) / window,
            "rss_bytes": rss, "pss_bytes": pss,
            "rss_mib_per_camera": rss / n / MIB, "pss_mib_per_camera": pss / n / MIB,
            "camsim_cores": (cs_b - cs_a) / window,
            "camsim_start_cpu_s": cs_a - cs_cpu0,
            "machine_cores": machine_cpu / window,
            "machine_busy": (busy_b[0] - busy_a[0]) / max(1, busy_b[1] - busy_a[1]),
            "other_cores": max(0.0, machine_cpu - (cpu_b - cpu_a) - (cs_b - cs_a)) / window,
            "alive_at_end": rec.alive(),
            "processes": len(rec.procs),
            "processes_alive": len(rec.pids()),
        })

        # stop the cameras, let everything in flight arrive, then count
        cs.stall_all()
        prev = None
        for _ in range(30):
            time.sleep(STALL_SETTLE / 2)
            served = cs.frames()
            if served == prev:
                break
            prev = served
        dropped = cs.dropped() if isinstance(cs, Camfarm) else 0
        result["forced_stops"] = rec.stop()
        seg = os.path.join(args.build, "segcheck")
        lost = 0
        per_cam = []
        bad_files = 0
        after_stall = 0
        for k in range(1, n + 1):
            files = rec.files(k)
            got, bad = count_frames(seg, files)
            if files and kind == "ffmpeg":
                after = frames_after_stall(files[-1])
                got -= after
                after_stall += after
            bad_files += bad
            s = served.get("cam%d" % k, 0)
            per_cam.append((s, got))
            lost += max(0, s - got)
        result["served"] = sum(s for s, _ in per_cam)
        result["recorded"] = sum(g for _, g in per_cam)
        # frames the farm dropped because the recorder fell 2 s behind
        # never reached it: lost too
        result["source_dropped"] = dropped
        lost += dropped
        result["lost"] = lost
        result["extra"] = sum(max(0, g - s) for s, g in per_cam)
        result["unreadable_files"] = bad_files
        result["after_stall"] = after_stall
        result["cameras_losing"] = sum(1 for s, g in per_cam if g < s)
        # a fragment written more than 0.5 s after its schedule holds media
        # more than 1.5 s old
        result["held"] = (len(started) == n and lost == 0 and bad_files == 0 and
                          not result.get("fragments_late_over_500ms"))
        if not rec.counts_frames:
            # the floor writes no MP4: its frames cannot be read back
            result.update({"recorded": None, "lost": None, "held": None,
                           "cameras_losing": None})
    finally:
        if ino:
            ino.stop()
        if rec.procs and any(p.poll() is None for p in rec.procs):
            rec.stop(timeout=10)
        cs.stop()
        if not args.keep:
            shutil.rmtree(os.path.join(wd, "out"), ignore_errors=True)
    log("%-6s N=%-3d rep %d: start %s s, cpu %.1f s/cam-h (%.2f cores), pss %.2f MiB/cam, "
        "rss %.2f MiB/cam, lost %d of %d, fragments late p99 %s ms max %s ms "
        "(%s %.3f cores, other %.2f cores, machine %.0f %% busy)" % (
            kind, n, rep, "%.1f" % result["start_s"] if result["start_s"] is not None else "-",
            result["cpu_s_per_camera_hour"], result["cpu_cores"], result["pss_mib_per_camera"],
            result["rss_mib_per_camera"], -1 if result["lost"] is None else result["lost"],
            result["served"],
            fmt(result.get("fragment_late_p99_ms"), "%.0f"),
            fmt(result.get("fragment_late_max_ms"), "%.0f"), args.farm,
            result["camsim_cores"], result["other_cores"], 100 * result["machine_busy"]))
    return result


# ---- report ----------------------------------------------------------------

def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def summarize(runs, kinds, counts):
    rows = []
    for n in counts:
        base = [r for r in runs if r["n"] == n and r["recorder"] == "ffmpeg"]
        for kind in kinds:
            rr = [r for r in runs if r["n"] == n and r["recorder"] == kind]
            if not rr:
                continue
            row = {"recorder": kind, "n": n, "runs": len(rr)}
            for key in ("cpu_s_per_camera_hour", "cpu_cores", "pss_mib_per_camera",
                        "rss_mib_per_camera", "start_s", "camsim_cores", "other_cores",
                        "machine_busy", "write_bytes_per_s", "fragment_late_p50_ms",
                        "fragment_late_p99_ms"):
                row[key] = med(rr, key)
            lost = [r["lost"] for r in rr if r["lost"] is not None]
            row["lost_max"] = max(lost) if lost else None
            row["served"] = med(rr, "served")
            row["started_all"] = all(r["cameras_started"] == n for r in rr)
            row["started_min"] = min(r["cameras_started"] for r in rr)
            row["alive_min"] = min(r.get("processes_alive", 0) for r in rr)
            row["processes"] = rr[0].get("processes", 0)
            row["held"] = None if rr[0]["held"] is None else all(r["held"] for r in rr)
            late = [r["fragment_late_max_ms"] for r in rr if r.get("fragment_late_max_ms") is not None]
            row["fragment_late_max_ms"] = max(late) if late else None
            row["fragments_late_over_500ms"] = sum(r.get("fragments_late_over_500ms", 0) for r in rr)
            row["fragments"] = sum(r.get("fragments", 0) for r in rr)
            row["source_dropped"] = sum(r.get("source_dropped", 0) for r in rr)
            row["source"] = rr[0].get("source", "camsim")
            # each run against the ffmpeg (and the floor) run of the same
            # round (they ran minutes apart, under the same other load), median
            floor = [r for r in runs if r["n"] == n and r["recorder"] == "floor"]
            for against, suffix, keys in (
                    (base, "_ratio", ("cpu_s_per_camera_hour", "pss_mib_per_camera",
                                      "rss_mib_per_camera")),
                    (floor, "_floor_ratio", ("cpu_s_per_camera_hour",))):
                by_rep = {r["rep"]: r for r in against}
                for key in keys:
                    ratios = [r[key] / by_rep[r["rep"]][key] for r in rr
                              if r["rep"] in by_rep and by_rep[r["rep"]].get(key) and
                              r.get(key) is not None]
                    row[key + suffix] = statistics.median(ratios) if ratios else None
            rows.append(row)
    return rows


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def markdown(rows, held, ceiling, info, disk, args, copy_bw=None):
    out = []
    out.append("| N | recorder | CPU s per camera-hour | vs ffmpeg (paired) | vs floor (paired) "
               "| PSS MiB per camera | vs ffmpeg "
               "| RSS MiB per camera | all recording after | frames lost (max of runs) | held "
               "| runs | cameras' source, other load (cores) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        out.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s, %s |" % (
            r["n"], r["recorder"], fmt(r["cpu_s_per_camera_hour"]),
            fmt(r.get("cpu_s_per_camera_hour_ratio") and 100 * r["cpu_s_per_camera_hour_ratio"], "%.0f %%"),
            fmt(r.get("cpu_s_per_camera_hour_floor_ratio"), "%.2f ×"),
            fmt(r["pss_mib_per_camera"], "%.2f"),
            fmt(r.get("pss_mib_per_camera_ratio") and 100 * r["pss_mib_per_camera_ratio"], "%.1f %%"),
            fmt(r["rss_mib_per_camera"], "%.2f"),
            fmt(r["start_s"], "%.1f s") if r["started_all"] else
            "%d of %d started" % (r["started_min"], r["n"]),
            "-" if r["lost_max"] is None else "%d (of %d)" % (r["lost_max"], r["served"] or 0),
            "-" if r["held"] is None else "yes" if r["held"] else "**no**", r["runs"],
            fmt(r["camsim_cores"], "%.2f"), fmt(r["other_cores"], "%.2f")))
    out.append("")
    out.append("| N | recorder | recorder cores | camera source cores (per 1,000 cameras) | machine busy "
               "| written MB/s | fragment late p50 / p99 / max (ms) | fragments > 0.5 s late "
               "| frames dropped by the source | what ran out |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    cores = info["cores"]
    for r in rows:
        out.append("| %d | %s | %s | %s %s (%s) | %s | %s | %s / %s / %s | %s | %d | %s |" % (
            r["n"], r["recorder"], fmt(r["cpu_cores"], "%.2f"), r["source"],
            fmt(r["camsim_cores"], "%.3f"),
            fmt(r["camsim_cores"] and r["camsim_cores"] * 1000 / r["n"], "%.2f"),
            fmt(r["machine_busy"] and 100 * r["machine_busy"], "%.0f %%"),
            fmt(r["write_bytes_per_s"] and r["write_bytes_per_s"] / 1e6, "%.1f"),
            fmt(r["fragment_late_p50_ms"], "%.0f"), fmt(r["fragment_late_p99_ms"], "%.0f"),
            fmt(r["fragment_late_max_ms"], "%.0f"),
            "%d of %d" % (r["fragments_late_over_500ms"], r["fragments"]) if r["fragments"] else "-",
            r["source_dropped"],
            diagnose(r, ceiling and ceiling[0], copy_bw, cores, args.bitrate)
            if r["held"] is False else "-"))
    out.append("")
    marginal = []
    for kind in dict.fromkeys(r["recorder"] for r in rows):
        mine = sorted((r["n"], r["pss_mib_per_camera"]) for r in rows
                      if r["recorder"] == kind and r["pss_mib_per_camera"] is not None)
        if len(mine) >= 2 and mine[-1][0] > mine[0][0]:
            (n0, m0), (n1, m1) = mine[0], mine[-1]
            marginal.append("%s %.2f MiB" % (kind, (m1 * n1 - m0 * n0) / (n1 - n0)))
    if marginal:
        out.append("Memory per added camera (PSS, from the smallest to the largest N): " +
                   ", ".join(marginal))
    out.append("Largest N held without losing a frame (of the counts tried): " + ", ".join(
        "%s %s" % (k, v if v else "none") for k, v in held.items()))
    if ceiling:
        bw, how = ceiling
        out.append("")
        out.append("Disk ceiling: %.0f MB/s sustained (%s) = %d cameras at %d kbit/s." % (
            bw / 1e6, how, int(bw * 8 / (args.bitrate * 1000)), args.bitrate))
    if copy_bw:
        out.append("")
        out.append("Memory copy bandwidth: %.1f GB/s on one core (read + written, memcpy of 256 MiB)." % (
            copy_bw / 1e9))
    out.append("")
    out.append("Machine: %s, %d cores, %.1f GiB RAM, %s, Linux %s; disk %s." % (
        info["cpu"], info["cores"], info["ram_gib"], info.get("os", "?"), info["kernel"], disk))
    return "\n".join(out)


def chart(rows, kinds, prefix):
    dat = prefix + ".dat"
    with open(dat, "w") as f:
        for kind in kinds:
            f.write("# %s\n# n cpu_s_per_camera_hour pss_mib_per_camera rss_mib_per_camera\n" % kind)
            for r in rows:
                if r["recorder"] == kind:
                    f.write("%d %s %s %s\n" % (r["n"], fmt(r["cpu_s_per_camera_hour"], "%.3f"),
                                               fmt(r["pss_mib_per_camera"], "%.4f"),
                                               fmt(r["rss_mib_per_camera"], "%.4f")))
            f.write("\n\n")
    if not shutil.which("gnuplot"):
        log("gnuplot not found (tools/install-deps installs gnuplot-nox): no chart")
        return
    titles = {"vigil": "vigil (one process)", "ffmpeg": "ffmpeg (a process per camera)",
              "gst": "GStreamer (a pipeline per camera)",
              "vigil-before": "vigil-before (the --before build)",
              "floor": "floor (recv, SHA-256, write, fdatasync only)",
              "floor-move": "floor-move (recv and write only)"}
    plots_cpu = ", ".join("'%s' index %d using 1:2 with linespoints lw 2 pt 7 title '%s'" % (
        dat, i, titles[k]) for i, k in enumerate(kinds))
    plots_mem = ", ".join("'%s' index %d using 1:3 with linespoints lw 2 pt 7 title '%s'" % (
        dat, i, titles[k]) for i, k in enumerate(kinds))
    script = """
set terminal pngcairo size 1100,450 font ",10"
set output '%s.png'
set multiplot layout 1,2 title "Cost per camera, 1080p25 H.264 4 Mbit/s, recorded without transcoding"
set key top right
set grid
set xlabel "cameras (N)"
set logscale y
set ylabel "CPU seconds per camera-hour"
set title "CPU per camera"
plot %s
set ylabel "MiB per camera (PSS)"
set title "Memory per camera"
plot %s
unset multiplot
""" % (prefix, plots_cpu, plots_mem)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def on_signal(signum, frame):
    raise SystemExit("bench-ingest: stopped by signal %d" % signum)


def main():
    # stop cleanly (camsim and the recorders too) on SIGTERM, and on SIGINT
    # even when started in the background, where it arrives ignored
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--workdir", default=None, help="where the recorders write "
                    "(default BUILD/bench-ingest)")
    ap.add_argument("--cameras", default="16,64,256,512,1024")
    ap.add_argument("--farm", default="camfarm", choices=["camfarm", "camsim"],
                    help="the cameras: build/camfarm (cheap) or camsim (GStreamer)")
    ap.add_argument("--farm-threads", type=int, default=1)
    ap.add_argument("--farm-aligned", action="store_true",
                    help="camfarm starts every stream at its PLAY, so the cameras' keyframes "
                    "fall together (default: each camera has its own phase, as real ones do)")
    ap.add_argument("--ramp", action="store_true",
                    help="after --cameras, add cameras until each recorder no longer holds")
    ap.add_argument("--ramp-step", type=int, default=512)
    ap.add_argument("--ramp-repeat", type=int, default=1, help="runs per ramp count")
    ap.add_argument("--before", help="a vigil binary to measure too, as 'vigil-before'")
    ap.add_argument("--ramp-max", type=int, default=4096)
    ap.add_argument("--seconds", type=float, default=30, help="steady window per run")
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--recorders", default="vigil,ffmpeg")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--bitrate", type=int, default=4000)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--disk-seconds", type=int, default=30)
    ap.add_argument("--no-disk", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the recordings")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "ingest"),
                    help="prefix of the .json, .dat and .png written")
    ap.add_argument("--report", metavar="JSON",
                    help="no runs: the table and chart again from an earlier RESULTS.json")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            saved = json.load(f)
        kinds = list(dict.fromkeys(r["recorder"] for r in saved["runs"]))
        counts = sorted(set(r["n"] for r in saved["runs"]))
        rows = summarize(saved["runs"], kinds, counts)
        ceiling = saved.get("disk_ceiling")
        args.bitrate = saved["args"]["bitrate"]
        chart(rows, kinds, args.out)
        print(markdown(rows, saved["held"], (ceiling["bytes_per_s"], ceiling["how"]) if ceiling
                       else None, saved["machine"], saved["disk"], args,
                       saved.get("copy_bytes_per_s")))
        return
    args.build = os.path.abspath(args.build)
    args.workdir = os.path.abspath(args.workdir or os.path.join(args.build, "bench-ingest"))
    kinds = [k.strip() for k in args.recorders.split(",") if k.strip()]
    if args.before:
        VigilBefore.binary = os.path.abspath(args.before)
        if "vigil-before" not in kinds:
            kinds.append("vigil-before")
    for k in kinds:
        if k not in RECORDERS:
            sys.exit("unknown recorder %r" % k)
    need = {"vigil": os.path.join(args.build, "vigil"), "ffmpeg": "ffmpeg",
            "gst": "gst-launch-1.0", "vigil-before": args.before or "vigil-before",
            "floor": os.path.join(args.build, "floorrec"),
            "floor-move": os.path.join(args.build, "floorrec")}
    for tool in [os.path.join(args.build, "camsim"), os.path.join(args.build, "segcheck")] + \
            ([os.path.join(args.build, "camfarm")] if args.farm == "camfarm" else []) + \
            [need[k] for k in kinds] + (["mosquitto"] if "vigil" in kinds else []):
        if not shutil.which(tool):
            sys.exit("bench-ingest: %s not found (make; tools/install-deps)" % tool)
    os.makedirs(args.workdir, exist_ok=True)

    info = machine()
    disk = disk_of(args.workdir)
    log("machine: %s, %d cores, %.1f GiB, Linux %s; disk %s" % (
        info["cpu"], info["cores"], info["ram_gib"], info["kernel"], disk))
    ceiling = None
    if not args.no_disk:
        ceiling = disk_bandwidth(args.workdir, args.disk_seconds)
        log("disk: %.0f MB/s (%s)" % (ceiling[0] / 1e6, ceiling[1]))
    copy_bw = copy_bandwidth()
    log("memory copy: %.1f GB/s on one core" % (copy_bw / 1e9))

    runs = []
    counts = [int(x) for x in args.cameras.split(",") if x]
    held = {k: None for k in kinds if RECORDERS[k].counts_frames}
    failed = set()

    def one_count(n, who, repeat):
        for rep in range(repeat):
            order = who[rep % len(who):] + who[:rep % len(who)]
            for kind in order:
                if kind in ("ffmpeg", "gst"):
                    # one process per camera: do not run the machine out of memory
                    per = 60 * MIB
                    if per * n > mem_available() * 0.6:
                        log("%s N=%d: skipped, %d processes would not fit in memory" % (kind, n, n))
                        continue
                runs.append(run_once(args, kind, n, rep))
        for kind in who:
            if kind not in held:
                continue
            rr = [r for r in runs if r["n"] == n and r["recorder"] == kind]
            if rr and all(r["held"] for r in rr):
                if held[kind] is None or n > held[kind]:
                    held[kind] = n
            else:
                failed.add(kind)

    for n in counts:
        one_count(n, kinds, args.repeat)
    if args.ramp:
        n = max(counts)
        while True:
            n += args.ramp_step
            who = [k for k in kinds if k in held and k not in failed and k != "vigil-before"]
            if not who or n > args.ramp_max:
                break
            if ceiling and n * args.bitrate * 1000 / 8 > ceiling[0]:
                log("N=%d: %.0f MB/s is more than the disk takes (%.0f MB/s): the ramp ends" % (
                    n, n * args.bitrate / 8e3, ceiling[0] / 1e6))
                break
            one_count(n, who, args.ramp_repeat)
            counts.append(n)

    rows = summarize(runs, kinds, sorted(set(counts)))
    with open(args.out + ".json", "w") as f:
        json.dump({"machine": info, "disk": disk,
                   "disk_ceiling": {"bytes_per_s": ceiling[0], "how": ceiling[1]} if ceiling else None,
                   "copy_bytes_per_s": copy_bw,
                   "args": vars(args), "held": held, "summary": rows, "runs": runs}, f, indent=1)
    chart(rows, kinds, args.out)
    print(markdown(rows, held, ceiling, info, disk, args, copy_bw))


if __name__ == "__main__":
    main()
