"""camfarm (bench/farm.c), the cheap camera farm of bench-ingest, serves
what camsim serves: one `vigil record` records 4 cameras of each side by
side for about 6 s, and the files it wrote are read back with ffprobe
(libavformat).  Each farm camera must give the same access units as the
camsim camera (the same sizes, in the same order: both start the clip at
its first frame), 25 frames in every whole second, and timestamps that
advance 40 ms a frame; otherwise bench-ingest would not measure real
camera traffic."""
import glob
import json
import os
import socket
import subprocess
import time

from harness import (BUILD, CLIP_CACHE, Camsim, Recorder, rfc3339, segments, start, wait_until,
                     workdir, write_config)

CAMFARM = os.path.join(BUILD, "camfarm")
CAMERAS = 4
FRAME = 0.040


class Camfarm:
    def __init__(self, wd, clip, cameras):
        self.sock = os.path.join(wd, "camfarm.sock")
        self.proc = start([CAMFARM, "--clip", clip, "--cameras", str(cameras), "--port", "0",
                           "--control", self.sock], os.path.join(wd, "camfarm.log"),
                          stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("camfarm ready port="), "camfarm did not start: %r" % line
        self.port = int(line.split("port=")[1].split()[0])

    def url(self, cam):
        return "rtsp://127.0.0.1:%d/%s" % (self.port, cam)

    def status(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(b"status\n")
            data = b""
            while not data.endswith(b"ok\n"):
                chunk = s.recv(4096)
                assert chunk, "camfarm closed its control socket"
                data += chunk
        out = {}
        for line in data.decode().splitlines()[:-1]:
            parts = line.split()
            out[parts[0]] = dict(p.split("=") for p in parts[2:])
        return out


def packets(path):
    """[(dts seconds, size, key)] of the video of one file, in order."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=dts_time,size,flags", "-of", "json", path],
                         capture_output=True, text=True, check=True).stdout
    return [(float(p["dts_time"]), int(p["size"]), "K" in p["flags"])
            for p in json.loads(out)["packets"]]


def camera_units(segs, camera):
    """Every access unit recorded for camera, with its time on the footage
    timeline (the segment's start plus the unit's dts in the file)."""
    units = []
    mine = sorted((s for s in segs if s["camera"] == camera), key=lambda s: s["id"])
    assert mine, "nothing recorded for %s" % camera
    for s in mine:
        pk = packets(s["path"])
        assert pk, "no video in %s" % s["path"]
        deltas = [round(b[0] - a[0], 4) for a, b in zip(pk, pk[1:])]
        assert all(abs(d - FRAME) < 0.0015 for d in deltas), \
            "%s: timestamps do not advance 40 ms a frame: %s" % (
                s["path"], sorted(set(deltas))[:8])
        base = rfc3339(s["start"]) - pk[0][0]
        units += [(base + dts, size, key) for dts, size, key in pk]
    return units


def per_second(units):
    """Frames in each whole second from the first unit (the last, partial
    second left out)."""
    t0 = units[0][0]
    counts = {}
    for t, _, _ in units:
        k = int((t - t0 + 0.001) // 1)
        counts[k] = counts.get(k, 0) + 1
    return [counts.get(k, 0) for k in range(max(counts))]


def test_camfarm_streams_match_camsim():
    wd = workdir()
    sim = Camsim(wd, cameras=CAMERAS)
    clips = sorted(glob.glob(os.path.join(CLIP_CACHE, "clip-r*-h264-640x360-25fps-gop2-800k-10s.mp4")))
    assert clips, "camsim left no cached clip in %s" % CLIP_CACHE
    farm = Camfarm(wd, clips[-1], CAMERAS)
    cams = {}
    for k in range(1, CAMERAS + 1):
        cams["sim%d" % k] = sim.url("cam%d" % k)
        cams["farm%d" % k] = farm.url("cam%d" % k)
    config = write_config(wd, cams)
    rec = Recorder(config)

    def recorded_enough():
        segs = segments(config)
        have = {s["camera"] for s in segs}
        return len(have) == len(cams) and segs
    wait_until(recorded_enough, 15, what="every camera recording")
    time.sleep(6)
    status = farm.status()
    assert rec.stop() == 0
    segs = segments(config)

    for k in range(1, CAMERAS + 1):
        s_units = camera_units(segs, "sim%d" % k)
        f_units = camera_units(segs, "farm%d" % k)
        assert f_units[0][2], "farm%d: the recording does not start with a keyframe" % k
        n = min(len(s_units), len(f_units))
        assert n >= 100, "farm%d/sim%d: only %d frames to compare" % (k, k, n)
        s_sizes = [u[1] for u in s_units[:n]]
        f_sizes = [u[1] for u in f_units[:n]]
        if s_sizes != f_sizes:
            i = next(i for i in range(n) if s_sizes[i] != f_sizes[i])
            raise AssertionError("farm%d: access unit %d is %d bytes, camsim's is %d" % (
                k, i, f_sizes[i], s_sizes[i]))
        assert [u[2] for u in s_units[:n]] == [u[2] for u in f_units[:n]], \
            "farm%d: keyframes are not where camsim has them" % k
        f_sec = per_second(f_units)
        s_sec = per_second(s_units)
        assert len(f_sec) >= 4, f_sec
        assert set(f_sec) == {25}, "farm%d frames per second: %s" % (k, f_sec)
        assert set(s_sec) == {25}, "sim%d frames per second: %s" % (k, s_sec)
        served = int(status["cam%d" % k]["frames"])
        assert int(status["cam%d" % k]["dropped"]) == 0, status
        # the farm counted what it sent; vigil got it, up to what was in flight
        assert served >= len(f_units) - 25, (served, len(f_units))


test_camfarm_streams_match_camsim.timeout = 60


FLOORREC = os.path.join(BUILD, "floorrec")


def interleaved_frames(data):
    """[(channel, payload)] of an RTSP interleaved stream from its first
    byte; a frame cut off by the end of the data is left out."""
    frames, pos = [], 0
    while pos + 4 <= len(data):
        assert data[pos] == 0x24, "byte %d is %#x, not an interleaved frame's '$'" % (
            pos, data[pos])
        n = int.from_bytes(data[pos + 2:pos + 4], "big")
        if pos + 4 + n > len(data):
            break
        frames.append((data[pos + 1], data[pos + 4:pos + 4 + n]))
        pos += 4 + n
    return frames


def test_floorrec_keeps_every_byte():
    """floorrec, the floor of bench-ingest, writes every byte it receives
    after the PLAY reply: each camera's file is the interleaved stream whole,
    every RTP sequence number in turn, seconds of media."""
    wd = workdir()
    Camsim(wd, cameras=1)  # makes the clip, when it is not in the cache yet
    clips = sorted(glob.glob(os.path.join(CLIP_CACHE, "clip-r*-h264-640x360-25fps-gop2-800k-10s.mp4")))
    assert clips, "camsim left no cached clip in %s" % CLIP_CACHE
    farm = Camfarm(wd, clips[-1], 2)
    out = os.path.join(wd, "out")
    os.makedirs(out)
    floor = start([FLOORREC, "--out", out, farm.url("cam1"), farm.url("cam2")],
                  os.path.join(wd, "floorrec.log"))
    time.sleep(6)  # a stream starts at its camera's keyframe, up to 2 s after its PLAY
    assert floor.poll() is None, "floorrec exited: %s" % open(os.path.join(wd, "floorrec.log")).read()
    floor.terminate()
    floor.wait(10)
    for k in (1, 2):
        with open(os.path.join(out, "cam%d" % k, "floor.bin"), "rb") as f:
            frames = interleaved_frames(f.read())
        rtp = [p for ch, p in frames if ch == 0]
        assert len(rtp) > 100, "cam%d: only %d RTP packets" % (k, len(rtp))
        seqs = [int.from_bytes(p[2:4], "big") for p in rtp]
        for i, (a, b) in enumerate(zip(seqs, seqs[1:])):
            assert b == (a + 1) & 0xFFFF, "cam%d: packet %d has sequence %d after %d" % (
                k, i + 1, b, a)
        ts = [int.from_bytes(p[4:8], "big") for p in rtp]
        media = ((ts[-1] - ts[0]) & 0xFFFFFFFF) / 90000
        assert media >= 2, "cam%d: %.1f s of media in the file" % (k, media)


test_floorrec_keeps_every_byte.timeout = 60
