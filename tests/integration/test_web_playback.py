"""Playback over real HTTP: `vigil record` records camsim with 4 s segments,
`vigil serve` serves video.mp4 of an interval crossing segment boundaries
and live.mp4 of the segment being written; what comes back is read with
ffprobe/ffmpeg (libavformat, libavcodec) and box by box."""
import hashlib
import http.client
import json
import os
import socket
import struct
import subprocess
import time
import urllib.parse

from harness import (VIGIL, Camsim, Recorder, free_port, rfc3339, segments, start, vigil,
                     wait_until, workdir, write_config)

FRAGMENT_S = 1.0


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


class Http:
    def __init__(self, port, token=None):
        self.port = port
        self.token = token

    def get(self, path, headers=None, timeout=60):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        conn.request("GET", path, headers=h)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


def serve(wd, config, port):
    log = os.path.join(wd, "serve.log")
    proc = start([VIGIL, "serve", "-c", config], log)

    def up():
        assert proc.poll() is None, "vigil serve exited (see %s)" % log
        try:
            return Http(port).get("/healthz")[0] == 200
        except OSError:
            return False
    wait_until(up, 20, what="vigil serve answering")
    return proc


def viewer_token(config):
    proc = subprocess.run([VIGIL, "user", "-c", config, "add", "eve", "--role", "viewer"],
                          input="viewer-secret-1\n", text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == 0, proc.stderr
    code, out, err = vigil("user", "-c", config, "token", "eve", "--label", "test", check=0)
    return out.strip()


def boxes(data, off=0, end=None):
    """(type, offset, size) of the boxes in data[off:end]."""
    end = len(data) if end is None else end
    out = []
    while off + 8 <= end:
        size, typ = struct.unpack(">I4s", data[off:off + 8])
        hl = 8
        if size == 1:
            size = struct.unpack(">Q", data[off + 8:off + 16])[0]
            hl = 16
        if size < hl or off + size > end:
            break
        out.append((typ.decode("latin-1"), off, size, hl))
        off += size
    return out


def fragments(data):
    """[(sequence, {track: tfdt}, mdat bytes)] of an fMP4 stream's whole fragments."""
    out = []
    top = boxes(data)
    for i, (typ, off, size, hl) in enumerate(top):
        if typ != "moof":
            continue
        seq, times = None, {}
        for t2, o2, s2, h2 in boxes(data, off + hl, off + size):
            if t2 == "mfhd":
                seq = struct.unpack(">I", data[o2 + h2 + 4:o2 + h2 + 8])[0]
            elif t2 == "traf":
                track = None
                for t3, o3, s3, h3 in boxes(data, o2 + h2, o2 + s2):
                    b = o3 + h3
                    if t3 == "tfhd":
                        track = struct.unpack(">I", data[b + 4:b + 8])[0]
                    elif t3 == "tfdt":
                        v = data[b]
                        times[track] = struct.unpack(">Q" if v == 1 else ">I",
                                                     data[b + 4:b + (12 if v == 1 else 8)])[0]
        mdat = None
        if i + 1 < len(top) and top[i + 1][0] == "mdat":
            _, mo, ms, mh = top[i + 1]
            mdat = data[mo:mo + ms]
        out.append((seq, times, mdat))
    return out


def timescale(data):
    """The video track's timescale (the first mdhd of the moov)."""
    at = data.find(b"mdhd")
    v = data[at + 4]
    return struct.unpack(">I", data[at + (24 if v == 1 else 16):at + (28 if v == 1 else 20)])[0]


def track_timescales(data):
    """{track id: timescale} from the moov of an init segment."""
    out = {}
    moov = next(b for b in boxes(data) if b[0] == "moov")
    for t, o, sz, hl in boxes(data, moov[1] + moov[3], moov[1] + moov[2]):
        if t != "trak":
            continue
        tid = ts = None
        for t2, o2, s2, h2 in boxes(data, o + hl, o + sz):
            b = o2 + h2
            if t2 == "tkhd":
                tid = struct.unpack(">I", data[b + (20 if data[b] == 1 else 12):][:4])[0]
            elif t2 == "mdia":
                for t3, o3, s3, h3 in boxes(data, b, o2 + s2):
                    c = o3 + h3
                    if t3 == "mdhd":
                        ts = struct.unpack(">I", data[c + (20 if data[c] == 1 else 12):][:4])[0]
        out[tid] = ts
    return out


def source_fragments(paths):
    """{sha256 of mdat: {track: tfdt}} of the fragments of segment files."""
    got = {}
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        for _, times, mdat in fragments(data):
            if mdat is not None:
                got[hashlib.sha256(mdat).hexdigest()] = times
    return got


def probe_packets(path, stream="v"):
    proc = subprocess.run(["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries",
                           "packet=pts_time,dts_time,duration_time,flags", "-of", "json", path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [p for p in json.loads(proc.stdout).get("packets", []) if "dts_time" in p]


def check_continuous(pkts, what, step=0.04):
    assert pkts, "no packets in %s" % what
    assert "K" in pkts[0]["flags"], "%s does not start with a keyframe: %s" % (what, pkts[0])
    dts = [float(p["dts_time"]) for p in pkts]
    for a, b in zip(dts, dts[1:]):
        assert abs((b - a) - step) < 0.011, "%s: timestamps jump from %.3f to %.3f" % (what, a, b)
    return dts


def decodes(path):
    proc = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", path, "-f", "null", "-"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    return proc.returncode == 0 and not proc.stderr.strip(), proc.stderr[-2000:]


def mdat_digests(paths):
    got = set()
    for p in paths:
        with open(p, "rb") as f:
            data = f.read()
        for typ, off, size, hl in boxes(data):
            if typ == "mdat":
                got.add(hashlib.sha256(data[off:off + size]).hexdigest())
    return got


def test_video_and_live_over_http():
    wd = workdir()
    port = free_port()
    cams = Camsim(wd, cameras=1, gop=2)
    config = write_config(wd, {"cam1": {"url": cams.url("cam1"), "segment_seconds": "4"}},
                          web={"listen": "127.0.0.1:%d" % port})
    rec = Recorder(config)
    wait_until(lambda: len([s for s in segments(config) if s["state"] == "complete"]) >= 4, 60,
               what="four complete segments")
    token = viewer_token(config)
    serve(wd, config, port)
    c = Http(port, token)
    segs = [s for s in segments(config) if s["state"] == "complete"]

    # --- an interval across two segment boundaries -------------------------
    frm = rfc3339(segs[1]["start"]) + 1.3
    to = rfc3339(segs[3]["start"]) + 0.7
    q = "?" + urllib.parse.urlencode({"from": iso(frm), "to": iso(to)})
    path = "/api/cameras/cam1/video.mp4" + q
    status, h, body = c.get(path)
    assert status == 200, (status, body[:300])
    assert h["content-type"] == "video/mp4", h
    assert h["accept-ranges"] == "bytes", h
    assert int(h["content-length"]) == len(body), h
    assert h["x-vigil-codec"].startswith("avc1."), h
    assert h["x-vigil-end-reason"] == "end", h
    start_s, end_s = rfc3339(h["x-vigil-start"]), rfc3339(h["x-vigil-end"])
    # the keyframe at or before from: GOP is 2 s
    assert frm - 2.0 - 0.05 <= start_s <= frm + 0.001, (frm, h)
    # the last fragment is the one that begins before to
    assert to <= end_s <= to + FRAGMENT_S + 0.05, (to, h)
    mp4 = os.path.join(wd, "interval.mp4")
    with open(mp4, "wb") as f:
        f.write(body)

    pkts = probe_packets(mp4)
    dts = check_continuous(pkts, "video.mp4")
    assert abs(dts[0]) < 0.001, "the stream starts at %s, not 0" % dts[0]
    media = dts[-1] + float(pkts[-1]["duration_time"])
    assert abs(media - (end_s - start_s)) < 0.1, (media, start_s, end_s)
    assert len(pkts) >= (to - frm) * 25 - 2, len(pkts)
    ok, err = decodes(mp4)
    assert ok, "ffmpeg could not decode every frame: %s" % err

    # every mdat is a source file's mdat, byte for byte; moof sequence runs on
    frags = fragments(body)
    src = mdat_digests([s["path"] for s in segs[:5]])
    assert all(hashlib.sha256(m).hexdigest() in src for _, _, m in frags), \
        "a fragment's media is not a segment file's"
    assert [f[0] for f in frags] == list(range(1, len(frags) + 1)), [f[0] for f in frags]
    times = [f[1][1] for f in frags]
    assert times == sorted(times) and times[0] == 0, times

    # --- Range ------------------------------------------------------------
    n = len(body)
    status, h, part = c.get(path, {"Range": "bytes=0-99"})
    assert status == 206 and part == body[:100], (status, len(part))
    assert h["content-range"] == "bytes 0-99/%d" % n, h
    assert h["x-vigil-start"], h
    mid = n // 2
    status, h, part = c.get(path, {"Range": "bytes=%d-%d" % (mid, mid + 4999)})
    assert status == 206 and part == body[mid:mid + 5000], (status, len(part))
    assert h["content-range"] == "bytes %d-%d/%d" % (mid, mid + 4999, n), h
    status, h, part = c.get(path, {"Range": "bytes=-500"})
    assert status == 206 and part == body[-500:], (status, len(part))
    status, h, part = c.get(path, {"Range": "bytes=%d-" % (n - 10)})
    assert status == 206 and part == body[-10:], (status, len(part))
    for bad in ("bytes=%d-" % n, "bytes=%d-%d" % (n + 5, n + 10), "bytes=abc"):
        status, h, part = c.get(path, {"Range": bad})
        assert status == 416, (bad, status)
        assert h["content-range"] == "bytes */%d" % n, (bad, h)
        assert json.loads(part)["error"], part

    # --- who may see what ---------------------------------------------------
    status, _, _ = Http(port).get(path)
    assert status == 401, status
    status, _, b = c.get("/api/cameras/nosuch/video.mp4" + q)
    assert status == 404 and json.loads(b)["error"], (status, b)
    status, _, b = c.get("/api/cameras/..cam1/video.mp4" + q)
    assert status == 404, (status, b)
    for bad in ("/api/cameras/../video.mp4" + q, "/api/cameras/%2E%2E/video.mp4" + q,
                "/api/cameras/cam1/../../catalog.db"):
        status, _, b = c.get(bad)
        assert status in (400, 404) and b"ftyp" not in b, (bad, status, b[:100])
    status, _, b = c.get("/api/cameras/cam1/video.mp4?from=%s&to=%s" % (
        iso(frm - 3600), iso(frm - 3500)))
    assert status == 404 and b"no footage" in b, (status, b)
    status, _, b = c.get("/api/cameras/cam1/video.mp4?from=yesterday")
    assert status == 400, (status, b)

    # --- live: the growing segment, followed into the next ------------------
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/api/cameras/cam1/live.mp4", headers={"Authorization": "Bearer " + token})
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    live_start = rfc3339(resp.getheader("X-Vigil-Start"))
    assert resp.getheader("X-Vigil-Codec").startswith("avc1.")
    data = b""
    newest_lag = []
    began = time.time()
    while time.time() - began < 9:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(4096)
        if not chunk:
            break
        data += chunk
        fr = fragments(data)
        if len(fr) >= 2:
            # the newest whole fragment: its first frame on the wall clock
            newest = live_start + (fr[-1][1][1] - fr[0][1][1]) / timescale(data)
            newest_lag.append(time.time() - newest)
    conn.close()
    fr = fragments(data)
    assert len(fr) >= 6, "only %d live fragments in 9 s" % len(fr)
    assert [f[0] for f in fr] == list(range(1, len(fr) + 1)), [f[0] for f in fr]
    lt = [f[1][1] for f in fr]
    assert lt == sorted(lt) and lt[-1] - lt[0] >= 5 * timescale(data), lt
    # a fragment is sent once it is whole: about a fragment behind, plus a second
    lag = sorted(newest_lag)[len(newest_lag) // 2]
    assert lag <= 2 * FRAGMENT_S + 2.0, "live is %.2f s behind (median)" % lag
    livemp4 = os.path.join(wd, "live.mp4")
    whole = boxes(data)
    with open(livemp4, "wb") as f:
        f.write(data[:whole[-1][1] + whole[-1][2]])
    check_continuous(probe_packets(livemp4), "live.mp4")
    assert rec.alive()


def probe_width(path):
    proc = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                           "stream=width,height", "-of", "json", path],
                          stdout=subprocess.PIPE, text=True, timeout=60)
    s = json.loads(proc.stdout)["streams"][0]
    return s["width"], s["height"]


def test_h265_with_audio_and_a_change_of_size():
    """Files written by libavformat's muxer (H.265 and AAC: two tracks a
    fragment), and a camera that changes its picture size: the stream stops
    where the size changes and says so; from there on it is another stream."""
    wd = workdir()
    port = free_port()
    cams = Camsim(wd, cameras=1, gop=1, extra=["--codec", "h265", "--audio",
                                               "--alt-size", "320x180"])
    config = write_config(wd, {"cam1": {"url": cams.url("cam1"), "segment_seconds": "4"}},
                          web={"listen": "127.0.0.1:%d" % port})
    Recorder(config)
    wait_until(lambda: len([s for s in segments(config) if s["state"] == "complete"]) >= 2, 60,
               what="two complete segments")
    cams.ctl("resize cam1")

    def resized():
        done = [s for s in segments(config) if s["state"] == "complete"]
        return any(s["width"] == 320 for s in done[:-1])
    wait_until(resized, 40, what="a whole segment at the new size, and one after it")
    token = viewer_token(config)
    serve(wd, config, port)
    c = Http(port, token)
    segs = [s for s in segments(config) if s["state"] == "complete"]
    new = next(s for s in segs if s["width"] == 320)

    frm = rfc3339(segs[0]["start"]) + 0.5
    q = urllib.parse.urlencode({"from": iso(frm), "to": iso(rfc3339(new["end"]))})
    status, h, body = c.get("/api/cameras/cam1/video.mp4?" + q)
    assert status == 200, (status, body[:300])
    assert h["x-vigil-end-reason"] == "format-change", h
    assert abs(rfc3339(h["x-vigil-end"]) - rfc3339(new["start"])) < 0.1, (h, new)
    codecs = h["x-vigil-codec"].split(",")
    assert codecs[0].startswith("hvc1.") and codecs[1].startswith("mp4a.40."), h
    mp4 = os.path.join(wd, "before.mp4")
    with open(mp4, "wb") as f:
        f.write(body)
    dts = check_continuous(probe_packets(mp4, "v"), "H.265 video")
    assert dts[-1] > rfc3339(new["start"]) - rfc3339(h["x-vigil-start"]) - 0.5, dts[-1]
    audio = [float(p["dts_time"]) for p in probe_packets(mp4, "a")]
    assert len(audio) > 40, len(audio)
    # audio keeps its place beside the video exactly as in the files (which
    # overlap a little where one segment's audio runs past its video)
    ts = track_timescales(body)
    src = source_fragments([s["path"] for s in segs])
    frags = fragments(body)
    # every fragment has its video; the audio of a segment's last second
    # may sit in the next file's first fragment (libavformat's interleaving
    # hands it over late), so a fragment may lack it, but none is missing
    assert all(1 in f[1] for f in frags), "a fragment without video"
    gap = max(b - a for a, b in zip(audio, audio[1:]))
    assert gap < 0.25, "the audio stops for %.3f s" % gap
    assert audio[-1] >= dts[-1] - 0.25, (audio[-1], dts[-1])
    for _, times, mdat in frags:
        if 2 not in times:
            continue
        orig = src[hashlib.sha256(mdat).hexdigest()]
        skew = (times[2] / ts[2] - times[1] / ts[1]) - (orig[2] / ts[2] - orig[1] / ts[1])
        assert abs(skew) <= 1.0 / ts[2] + 1.0 / ts[1], "audio moved by %.6f s" % skew
    ok, err = decodes(mp4)
    assert ok, err
    assert probe_width(mp4) == (640, 360)

    # from inside the resized segment: its own init segment, the new size
    q = urllib.parse.urlencode({"from": iso(rfc3339(new["start"]) + 0.2),
                                "to": iso(rfc3339(new["end"]))})
    status, h, body = c.get("/api/cameras/cam1/video.mp4?" + q)
    assert status == 200, (status, body[:300])
    with open(mp4, "wb") as f:
        f.write(body)
    assert probe_width(mp4) == (320, 180)
    check_continuous(probe_packets(mp4, "v"), "the resized video")


def live_viewer(port, token):
    """A viewer of cam1's live.mp4 on a raw socket, once all that was there
    has come (nothing more for 1.5 s)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("GET /api/cameras/cam1/live.mp4 HTTP/1.1\r\nHost: vigil\r\n"
               "Authorization: Bearer %s\r\n\r\n" % token).encode())
    got = b""
    s.settimeout(1.5)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    assert b"ftyp" in got, "no init segment in the live answer"
    return s


def test_live_views_of_a_silent_camera_end_when_the_viewers_leave():
    """A camera that stops sending (stalled, its segment still open) gives a
    live view nothing to write, and a closed connection shows only at a
    write: 12 viewers who open live.mp4 and leave must give their
    connections' threads back within a few seconds, not when the stream
    would end on its own (20 s without news), and the next viewer is
    served."""
    wd = workdir()
    port = free_port()
    cams = Camsim(wd, cameras=1, gop=2)
    config = write_config(wd, {"cam1": {"url": cams.url("cam1"), "segment_seconds": "60"}},
                          recorder={"stall_seconds": "120"},
                          web={"listen": "127.0.0.1:%d" % port})
    rec = Recorder(config)
    wait_until(lambda: segments(config, "--camera", "cam1"), 30, what="cam1 recording")
    token = viewer_token(config)
    proc = serve(wd, config, port)
    time.sleep(2)
    cams.stall("cam1")
    time.sleep(2)  # the fragment in flight is written; then nothing comes

    def threads():
        return len(os.listdir("/proc/%d/task" % proc.pid))
    idle = threads()
    viewers = [live_viewer(port, token) for _ in range(12)]
    held = threads()
    assert held >= idle + 12, "12 live views but %d threads (%d idle)" % (held, idle)
    for s in viewers:
        s.close()
    wait_until(lambda: threads() <= idle, 8,
               what="the live views' threads given back (%d idle, %d held)" % (idle, held))
    live_viewer(port, token).close()
    cams.resume("cam1")
    assert rec.alive()


test_live_views_of_a_silent_camera_end_when_the_viewers_leave.timeout = 90
