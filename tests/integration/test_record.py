"""The recorder foundation, end to end: camsim streams -> vigil record ->
fragmented MP4 files + catalog, read back with libavformat (segcheck)."""
import os
import random
import re
import sqlite3
import stat
import time

from harness import (Camsim, Recorder, catalog_path, footage_files, gaps, rfc3339, segcheck,
                     segments, sha256_file, vigil, wait_until, workdir, write_config)

FRAME = 0.040  # one frame interval at camsim's 25 fps
PATH_RE = re.compile(r"^(?P<cam>[A-Za-z0-9_-]+)/\d{4}/\d{2}/\d{2}/\d{6}-(?P<id>\d+)\.mp4$")


def check_segments_match_files(config, segs):
    """Every row's file exists with its size and hash, and reads back whole."""
    for s in segs:
        assert s["state"] in ("complete", "recovered"), s
        assert os.path.exists(s["path"]), "missing file for segment %d" % s["id"]
        assert os.path.getsize(s["path"]) == s["bytes"], s
        assert sha256_file(s["path"]) == s["sha256"], "hash mismatch for %s" % s["path"]
        m = PATH_RE.match(s["relpath"])
        assert m and m.group("cam") == s["camera"] and int(m.group("id")) == s["id"], s
    for s, c in zip(segs, segcheck([s["path"] for s in segs])):
        assert c["ok"], c
        assert c["first_key"], "segment %s does not start with a keyframe" % s["path"]
        assert c["decoded_first"], "first frame of %s does not decode" % s["path"]
        assert c["dts_monotonic"], c
        assert c["frames"] == s["frames"], (c, s)
        assert c["keyframes"] == s["keyframes"], (c, s)
        assert c["max_fragment_s"] <= 1.0 + 1e-6, "fragment longer than 1 s: %s" % c
        assert abs(c["duration_s"] - s["duration_s"]) < 0.05, (c, s)


def check_continuous(segs, camera):
    mine = [s for s in segs if s["camera"] == camera]
    assert mine, "no segments for %s" % camera
    for a, b in zip(mine, mine[1:]):
        hole = rfc3339(b["start"]) - rfc3339(a["end"])
        assert -0.001 <= hole <= FRAME, "hole of %.3f s between %s and %s" % (hole, a["path"], b["path"])
    return mine


def test_records_and_catalogues():
    wd = workdir()
    cams = Camsim(wd, cameras=2)
    config = write_config(wd, {"cam1": cams.url("cam1"), "cam2": cams.url("cam2")})
    rec = Recorder(config)
    started = time.time()
    wait_until(lambda: len([s for s in segments(config) if s["state"] == "complete"]) >= 6, 40,
               what="six complete segments")
    assert rec.stop() == 0, "SIGTERM must finish cleanly with status 0"
    stopped = time.time()

    segs = segments(config)
    check_segments_match_files(config, segs)
    for cam in ("cam1", "cam2"):
        mine = check_continuous(segs, cam)
        # cut at the first keyframe past 4 s; camsim's GOP is 2 s
        for s in mine[:-1]:
            assert abs(s["duration_s"] - 4.0) < 0.05, s
        covered = rfc3339(mine[-1]["end"]) - rfc3339(mine[0]["start"])
        assert covered > (stopped - started) - 4, "recorded %.1f s of %.1f" % (covered, stopped - started)
    # the layout on disk: 0640 files, 0750 folders, and no file the catalog lacks
    storage = os.path.join(wd, "footage")
    files = footage_files(storage)
    assert sorted(files) == sorted(s["path"] for s in segs)
    for f in files:
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o640, f
        assert stat.S_IMODE(os.stat(os.path.dirname(f)).st_mode) == 0o750, f
    # a camera recorded since its first connection has no gap
    assert gaps(config) == []


def test_outage_is_one_gap_of_the_right_length():
    wd = workdir()
    cams = Camsim(wd, cameras=2)
    config = write_config(wd, {"cam1": cams.url("cam1"), "cam2": cams.url("cam2")})
    rec = Recorder(config)
    wait_until(lambda: len(segments(config, "--camera", "cam2")) >= 1, 30, what="cam2 recording")
    time.sleep(2)
    down_at = time.time()
    cams.down("cam2")
    time.sleep(12)
    up_at = time.time()
    cams.up("cam2")
    wait_until(lambda: any(rfc3339(s["start"]) > up_at for s in segments(config, "--camera", "cam2")),
               20, what="cam2 recording again")
    time.sleep(5)
    assert rec.stop() == 0

    segs = segments(config)
    check_segments_match_files(config, segs)
    check_continuous(segs, "cam1")  # the other camera never noticed
    g = [x for x in gaps(config) if x["camera"] == "cam2"]
    assert len(g) == 1, g
    g = g[0]
    assert g["reason"] == "camera-unreachable", g
    assert g["end"] is not None
    truth = up_at - down_at
    assert abs((g["end"] - g["start"]) - truth) <= 2.0, "gap %.1f s for an outage of %.1f s" % (
        g["end"] - g["start"], truth)
    assert abs(g["start"] - down_at) <= 1.0, (g, down_at)
    # the footage meets the gap on both sides
    cam2 = [s for s in segs if s["camera"] == "cam2"]
    before = [s for s in cam2 if rfc3339(s["end"]) <= g["start"] + 0.001]
    after = [s for s in cam2 if rfc3339(s["start"]) >= g["end"] - 0.001]
    assert before and after
    assert abs(rfc3339(before[-1]["end"]) - g["start"]) < 0.001
    assert abs(rfc3339(after[0]["start"]) - g["end"]) < 0.001


def test_stalled_camera_is_detected_and_resumes():
    wd = workdir()
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")}, recorder={"stall_seconds": "3"})
    rec = Recorder(config)
    wait_until(lambda: len(segments(config)) >= 1, 30, what="recording")
    time.sleep(2)
    stall_at = time.time()
    cams.stall("cam1")
    rec.wait_log("stream-stalled", timeout=10)
    detected = time.time()
    assert detected - stall_at < 3 + 3, "stall noticed after %.1f s" % (detected - stall_at)
    time.sleep(6)
    resume_at = time.time()
    cams.resume("cam1")
    wait_until(lambda: any(rfc3339(s["start"]) > resume_at for s in segments(config)), 20,
               what="recording after the stall")
    assert rec.stop() == 0
    g = gaps(config)
    assert len(g) == 1 and g[0]["reason"] == "stream-stalled", g
    assert abs(g[0]["start"] - stall_at) <= 1.0, (g, stall_at)
    # the stall ends within a GOP (2 s) of the camera sending again
    assert -1.0 <= g[0]["end"] - resume_at <= 2.0 + 3.0, (g, resume_at)
    check_segments_match_files(config, segments(config))


def test_restart_leaves_a_recorder_down_gap():
    wd = workdir()
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")})
    rec = Recorder(config)
    wait_until(lambda: len(segments(config)) >= 1, 30, what="recording")
    assert rec.stop() == 0
    first_end = rfc3339(segments(config)[-1]["end"])
    time.sleep(4)
    rec = Recorder(config)
    wait_until(lambda: any(rfc3339(s["start"]) > first_end + 3 for s in segments(config)), 30,
               what="recording after the restart")
    assert rec.stop() == 0
    g = gaps(config)
    assert len(g) == 1, g
    assert g[0]["reason"] == "recorder-down" and "not running" in g[0]["detail"], g
    assert abs(g[0]["start"] - first_end) < 0.001
    check_segments_match_files(config, segments(config))


def check_invariants(wd, config):
    """No row without its file, no file without its row, nothing half-done."""
    segs = segments(config)
    check_segments_match_files(config, segs)
    assert sorted(footage_files(os.path.join(wd, "footage"))) == sorted(s["path"] for s in segs)
    db = sqlite3.connect("file:%s?mode=ro" % catalog_path(config), uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        writing = db.execute("SELECT count(*) FROM segment WHERE state = 'writing'").fetchone()[0]
    finally:
        db.close()
    return segs, writing


def test_kill9_loses_at_most_the_fragment_being_written():
    wd = workdir()
    cams = Camsim(wd, cameras=2)
    config = write_config(wd, {"cam1": cams.url("cam1"), "cam2": cams.url("cam2")},
                          storage={"fsync_seconds": "5"})
    rng = random.Random()
    losses = []
    recovered_total = 0
    for round_ in range(3):
        rec = Recorder(config)
        writing = wait_until(lambda: {s["camera"]: rfc3339(s["start"]) for s in segments(config)
                                      if s["state"] == "writing"} or None, 30,
                             what="a segment being written")
        wait_until(lambda: len({s["camera"] for s in segments(config) if s["state"] == "writing"}) == 2,
                   30, what="both cameras writing")
        live = [s for s in segments(config) if s["state"] == "writing"]
        writing = {s["camera"]: rfc3339(s["start"]) for s in live}
        # a fragment closed in each (past the header: a moof and its mdat),
        # so that there is footage whose end the crash gap starts from
        wait_until(lambda: all(os.path.getsize(s["path"]) > 4096 for s in live), 30,
                   what="a first fragment on disk")
        time.sleep(rng.uniform(0.0, 5.5))
        killed_at = time.time()
        rec.kill9()
        # restart: recovery runs before recording
        rec = Recorder(config)
        wait_until(lambda: sum(1 for s in segments(config) if rfc3339(s["start"]) > killed_at) >= 2,
                   30, what="both cameras recording after the restart")
        assert rec.stop() == 0
        segs, left_writing = check_invariants(wd, config)
        assert left_writing == 0
        recovered_total = len([s for s in segs if s["state"] == "recovered"])
        for cam in ("cam1", "cam2"):
            crash = [g for g in gaps(config) if g["camera"] == cam and g["reason"] == "recorder-down"
                     and g["start"] <= killed_at + 0.15 and killed_at <= g["end"]]
            assert len(crash) == 1 and "crashed" in crash[0]["detail"], (round_, crash)
            # what was lost: from the end of the kept footage to the kill, but
            # not before this run's footage began
            losses.append(killed_at - max(crash[0]["start"], writing[cam]))
    # a kill before a segment's first fragment closes leaves nothing to recover
    assert recovered_total >= 1, "no segment was recovered in three crashes"
    # loss per crash: the fragment being written (<= 1 s) and one held frame
    assert max(losses) <= 1.0 + 2 * FRAME + 0.25, "losses %s" % losses


def test_bad_config_never_starts_a_recorder():
    wd = workdir()
    bad = os.path.join(wd, "bad.ini")
    with open(bad, "w") as f:
        f.write("[recorder]\nid = x\nallow_root = maybe\n[storage]\npath = %s/footage\n"
                "[camera a]\nurl = rtsp://127.0.0.1:1/a\n[camera a]\nurl = rtsp://x/y\n"
                "[camera b]\nsegment_seconds = 0\n" % wd)
    code, out, err = vigil("config", "check", "-c", bad)
    assert code == 1
    for needle in ("bad.ini:3: error: allow_root", "bad.ini:8: error: duplicate camera 'a' (first defined at line 6)",
                   "bad.ini:11: error: segment_seconds", "bad.ini:10: error: camera 'b' has no url"):
        assert needle in err, (needle, err)
    code, out, err = vigil("record", "-c", bad)
    assert code == 2 and "duplicate camera" in err
    assert not os.path.exists(os.path.join(wd, "footage")), "a bad config created storage"


def test_one_recorder_per_storage():
    wd = workdir()
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")})
    rec = Recorder(config)
    rec.wait_log("recording 1 cameras")
    code, out, err = vigil("record", "-c", config, timeout=20)
    assert code == 1 and "another vigil record is already using" in err, err
    assert rec.alive()
    assert rec.stop() == 0


def test_h265_and_aac_audio_are_copied():
    wd = workdir()
    cams = Camsim(wd, cameras=1, extra=["--codec", "h265", "--audio"])
    config = write_config(wd, {"cam1": cams.url("cam1")})
    rec = Recorder(config)
    wait_until(lambda: len([s for s in segments(config) if s["state"] == "complete"]) >= 2, 40,
               what="two complete segments")
    assert rec.stop() == 0
    segs = segments(config)
    check_segments_match_files(config, segs)
    check_continuous(segs, "cam1")
    for s, c in zip(segs, segcheck([s["path"] for s in segs])):
        assert s["codec"] == "hevc" and s["audio"], s
        assert c["video_codec"] == "hevc" and c["audio_codec"] == "aac", c
        # 48 kHz AAC has 1024 samples a frame: about 47 a second
        assert s["duration_s"] < 1 or c["audio_packets"] >= 40 * s["duration_s"], c
