"""Real components for vigil's integration tests.

Every test gets a temporary folder (workdir()), free loopback ports, and real
processes: camsim (the GStreamer RTSP camera simulator), vigil itself, and
later a mosquitto broker.  Everything started here is stopped and removed by
cleanup(), which runone.py calls whatever happens.  Nothing is mocked.
"""
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("VIGIL_BUILD", os.path.join(ROOT, "build"))
# vigil's own programs may come from another build (tests/run.py --san-build)
BIN_BUILD = os.environ.get("VIGIL_BIN_BUILD", BUILD)
VIGIL = os.path.join(BIN_BUILD, "vigil")
CAMSIM = os.path.join(BUILD, "camsim")
SEGCHECK = os.path.join(BUILD, "segcheck")
MKHISTORY = os.path.join(BIN_BUILD, "mkhistory")
CLIP_CACHE = os.path.join(BUILD, "camsim-cache")

class Skip(Exception):
    """Raised by a test that cannot run here (say why); runone exits 77 and
    the runner counts it as skipped, not passed."""


_processes = []
_dirs = []
_logs = []
_mounts = []


def cleanup():
    for p in reversed(_processes):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.wait()
    _processes.clear()
    for m in reversed(_mounts):
        subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
    _mounts.clear()
    if not os.environ.get("VIGIL_KEEP"):
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)
    _dirs.clear()


def dump_logs(lines=40):
    for path in _logs:
        try:
            with open(path, errors="replace") as f:
                tail = f.readlines()[-lines:]
        except OSError:
            continue
        print("---- %s (last %d lines)" % (path, len(tail)))
        for line in tail:
            print(line.rstrip())


def workdir():
    d = tempfile.mkdtemp(prefix="vigil-it-")
    _dirs.append(d)
    return d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, interval=0.2, what="condition"):
    """Polls pred until it is true; an AssertionError from it counts as "not yet"."""
    end = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = pred()
        except AssertionError as e:
            value, last_error = None, e
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("timed out after %.0f s waiting for %s%s" % (
                timeout, what, " (last: %s)" % last_error if last_error else ""))
        time.sleep(interval)


def start(args, log, env=None, **kw):
    logf = open(log, "ab")
    _logs.append(log)
    p = subprocess.Popen(args, stdout=kw.pop("stdout", logf), stderr=logf, env=env,
                         start_new_session=True, **kw)
    _processes.append(p)
    return p


class Camsim:
    """camsim serving `cameras` cameras on a free port, driven by its control socket."""

    def __init__(self, wd, cameras=2, size="640x360", bitrate=800, fps=25, gop=2,
                 clip_seconds=10, extra=(), name="camsim"):
        self.sock = os.path.join(wd, name + ".sock")
        self.log = os.path.join(wd, name + ".log")
        args = [CAMSIM, "--port", "0", "--cameras", str(cameras), "--size", size,
                "--bitrate", str(bitrate), "--fps", str(fps), "--gop-seconds", str(gop),
                "--clip-seconds", str(clip_seconds), "--cache", CLIP_CACHE,
                "--control", self.sock] + list(extra)
        self.proc = start(args, self.log, stdout=subprocess.PIPE)
        self.started = time.monotonic()
        line = self._read_ready()
        self.port = int(line.split("port=")[1].split()[0])

    def _read_ready(self):
        # the first run may encode the clip: allow for it
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise AssertionError("camsim exited before it was ready (see %s)" % self.log)
            if line.startswith("camsim ready"):
                return line
        raise AssertionError("camsim not ready after 120 s")

    def url(self, cam, user=None, password=None):
        auth = ""
        if user:
            auth = urllib.parse.quote(user, safe="") + ":" + \
                urllib.parse.quote(password, safe="") + "@"
        return "rtsp://%s127.0.0.1:%d/%s" % (auth, self.port, cam)

    def ctl(self, command):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.sock)
            s.sendall((command + "\n").encode())
            data = b""
            while not data.endswith(b"ok\n") and b"error" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        reply = data.decode()
        if "error" in reply:
            raise AssertionError("camsim %r: %s" % (command, reply.strip()))
        return reply

    def down(self, cam):
        self.ctl("down " + cam)

    def up(self, cam):
        self.ctl("up " + cam)

    def stall(self, cam):
        self.ctl("stall " + cam)

    def resume(self, cam):
        self.ctl("resume " + cam)

    def status(self):
        cams = {}
        for line in self.ctl("status").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith("cam"):
                info = {"state": parts[1]}
                for p in parts[2:]:
                    k, _, v = p.partition("=")
                    info[k] = int(v) if v.isdigit() else v
                cams[parts[0]] = info
        return cams

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def write_config(wd, cameras, name="vigil.ini", **sections):
    """cameras: {id: url or dict of keys}; sections: {"recorder": {...}, ...}."""
    base = {
        "recorder": {"id": "rec-" + os.path.basename(wd)[-6:], "allow_root": "true",
                     "reconnect_max_seconds": "1"},
        "storage": {"path": os.path.join(wd, "footage"), "fsync_seconds": "1"},
    }
    for sec, keys in sections.items():
        base.setdefault(sec, {}).update(keys)
    lines = []
    for sec, keys in base.items():
        lines.append("[%s]" % sec)
        lines += ["%s = %s" % kv for kv in keys.items()]
        lines.append("")
    for cam, spec in cameras.items():
        lines.append("[camera %s]" % cam)
        if isinstance(spec, str):
            spec = {"url": spec}
        spec.setdefault("segment_seconds", "4")
        lines += ["%s = %s" % kv for kv in spec.items()]
        lines.append("")
    path = os.path.join(wd, name)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def vigil(*args, env=None, timeout=60, check=None):
    """Runs a short vigil command; returns (exit status, stdout, stderr)."""
    proc = subprocess.run([VIGIL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env, timeout=timeout)
    if check is not None and proc.returncode != check:
        raise AssertionError("vigil %s exited %d, expected %d\nstdout: %s\nstderr: %s" % (
            " ".join(args), proc.returncode, check, proc.stdout[-3000:], proc.stderr[-3000:]))
    return proc.returncode, proc.stdout, proc.stderr


class Recorder:
    """A running `vigil record -c CONFIG`."""

    def __init__(self, config, log=None, env=None, args=()):
        self.config = config
        self.log = log or config + ".log"
        self.proc = start([VIGIL, "record", "-c", config] + list(args), self.log, env=env)

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=30):
        wait_until(lambda: text in self.log_text(), timeout, what="%r in the recorder log" % text)

    def stop(self, timeout=30):
        """SIGTERM, then the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def alive(self):
        return self.proc.poll() is None


def segments(config, *extra):
    code, out, err = vigil("segments", "-c", config, "--json", *extra)
    assert code == 0, "vigil segments failed: %s" % err
    return json.loads(out)


def gaps(config):
    """Gaps straight from the catalog (the report command comes later)."""
    import sqlite3
    path = catalog_path(config)
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        rows = db.execute("SELECT camera, start_us, end_us, reason, detail FROM gap "
                          "ORDER BY camera, start_us").fetchall()
    finally:
        db.close()
    return [{"camera": r[0], "start": r[1] / 1e6, "end": None if r[2] is None else r[2] / 1e6,
             "reason": r[3], "detail": r[4]} for r in rows]


def catalog_path(config):
    """The catalog named by the config ([storage] catalog, else PATH/catalog.db)."""
    import configparser
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    cp.read(config)
    if cp.has_option("storage", "catalog"):
        return cp.get("storage", "catalog")
    storage = cp.get("storage", "path", fallback=os.path.join(os.path.dirname(config), "footage"))
    return os.path.join(storage, "catalog.db")


def segcheck(paths):
    if not paths:
        return []
    proc = subprocess.run([SEGCHECK] + list(paths), stdout=subprocess.PIPE, text=True, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines()]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rfc3339(s):
    """RFC 3339 UTC text -> seconds since the epoch (float)."""
    from datetime import datetime
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def footage_files(storage):
    found = []
    for dirpath, dirnames, filenames in os.walk(storage):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [os.path.join(dirpath, f) for f in filenames if f.endswith(".mp4")]
    return sorted(found)


def mkhistory(config, camera, start, end, segment_seconds=3600, gaps=(), bytes_=4096,
              files=True, bulk=False):
    """A synthetic history through the catalog API (see tests/tools/mkhistory.c);
    gaps: (start, end, reason) with ISO times.  Returns the segment count."""
    args = [MKHISTORY, "-c", config, "--camera", camera, "--from", start, "--to", end,
            "--segment-seconds", str(segment_seconds), "--bytes", str(bytes_)]
    for g in gaps:
        args += ["--gap", "%s/%s/%s" % g]
    if not files:
        args.append("--no-files")
    if bulk:
        args.append("--bulk")
    out = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert out.returncode == 0, "mkhistory failed: %s" % out.stderr
    return int(out.stdout.strip())


def mount_tmpfs(path, size_mb):
    """A small real file system the test can fill; unmounted at cleanup.
    Needs root (CI runs as root)."""
    os.makedirs(path, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0750" % size_mb,
                           "tmpfs", path], stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, "cannot mount a %d MB tmpfs at %s (needs root): %s" % (
        size_mb, path, proc.stderr.strip())
    _mounts.append(path)


def sqlite(config, sql, *params):
    """Runs SQL on the catalog directly: tests use it to look and to tamper."""
    import sqlite3
    db = sqlite3.connect(catalog_path(config))
    try:
        cur = db.execute(sql, params)
        rows = cur.fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def secret_forms(user, password):
    """Every form a credential could leak in: raw, percent-encoded, base64."""
    forms = {password, urllib.parse.quote(password, safe=""),
             urllib.parse.quote(password, safe="").lower(),
             base64.b64encode(password.encode()).decode().rstrip("="),
             base64.b64encode(("%s:%s" % (user, password)).encode()).decode().rstrip("=")}
    return {f for f in forms if len(f) >= 4}
