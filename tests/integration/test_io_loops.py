"""The lean client's cameras share a few I/O threads (ingest/evloop.c): 40
farm cameras recorded with `io_threads = 2` run on two threads named
vigil-io, with no thread of their own, and every one of them records every
frame the farm sent; `thread_per_camera = true` gives each camera its
thread again.  The threads are told apart by their names in
/proc/PID/task/*/comm."""
import glob
import os
import time

from harness import CLIP_CACHE, Recorder, segments, wait_until, workdir, write_config
from test_camfarm import Camfarm, camera_units

CAMERAS = 40


def thread_names(pid):
    names = []
    for comm in glob.glob("/proc/%d/task/*/comm" % pid):
        try:
            with open(comm) as f:
                names.append(f.read().strip())
        except FileNotFoundError:  # a thread that just ended
            pass
    return names


def record_farm(thread_per_camera):
    wd = workdir()
    clips = sorted(glob.glob(os.path.join(CLIP_CACHE, "clip-r*-h264-640x360-25fps-gop2-800k-10s.mp4")))
    assert clips, "no cached 640x360 clip in %s (camsim makes it)" % CLIP_CACHE
    farm = Camfarm(wd, clips[-1], CAMERAS)
    cams = {"cam%d" % k: farm.url("cam%d" % k) for k in range(1, CAMERAS + 1)}
    recorder = {"io_threads": "2"}
    if thread_per_camera:
        recorder["thread_per_camera"] = "true"
    config = write_config(wd, cams, recorder=recorder)
    rec = Recorder(config)
    wait_until(lambda: len({s["camera"] for s in segments(config)}) == CAMERAS, 30,
               what="every camera recording")
    time.sleep(5)
    names = thread_names(rec.proc.pid)
    status = farm.status()
    assert rec.stop() == 0
    with open(config + ".log", errors="replace") as f:
        log = f.read()
    segs = segments(config)
    for cam in cams:
        units = camera_units(segs, cam)
        served = int(status[cam]["frames"])
        assert int(status[cam]["dropped"]) == 0, (cam, status[cam])
        # all it was sent, up to what was in flight when the status was taken
        assert len(units) >= served - 25, "%s: %d frames recorded of %d sent" % (
            cam, len(units), served)
    return names, log


def test_cameras_share_the_io_threads():
    names, log = record_farm(thread_per_camera=False)
    assert "%d of %d cameras on 2 I/O threads" % (CAMERAS, CAMERAS) in log, log[-3000:]
    assert names.count("vigil-io") == 2, sorted(names)
    own = [n for n in names if n.startswith("cam")]
    assert not own, "cameras with a thread of their own: %s" % own
    print("FIGURE io-loops: %d cameras on 2 I/O threads, %d threads in all, every frame recorded"
          % (CAMERAS, len(names)))


test_cameras_share_the_io_threads.timeout = 90


def test_thread_per_camera_when_asked():
    names, log = record_farm(thread_per_camera=True)
    assert "I/O threads" not in log, log[-3000:]
    assert "vigil-io" not in names, sorted(names)
    own = sorted(n for n in names if n.startswith("cam"))
    assert len(own) == CAMERAS, own


test_thread_per_camera_when_asked.timeout = 90
