"""A clean stop is not an unaccounted gap: after SIGINT or SIGTERM the time
the recorder is down is recorder-down, saying how it stopped, up to the
report's now; the next start's recorder-down gap ends it where footage
resumes; a crash keeps its own reason."""
import json
import signal
import time

from harness import Camsim, Recorder, gaps, rfc3339, segments, vigil, wait_until, workdir, write_config


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def continuity(config, frm, to, now, camera="cam1"):
    code, out, err = vigil("report", "continuity", "-c", config, "--camera", camera, "--from",
                           iso(frm), "--to", iso(to), "--now", iso(now), "--format", "json")
    assert code in (0, 1), err
    return json.loads(out)["cameras"][0]


def stop_with(rec, sig):
    """Sends sig; returns the time it was sent, once the recorder has exited 0."""
    at = time.time()
    rec.proc.send_signal(sig)
    assert rec.proc.wait(timeout=30) == 0
    return at


def record_a_segment(config, after):
    wait_until(lambda: any(s["state"] == "complete" and rfc3339(s["start"]) > after
                           for s in segments(config)), 30, what="a segment after %.1f" % after)


def last_end(config):
    return max(rfc3339(s["end"]) for s in segments(config))


def check_all_accounted(cam, frm, now):
    """Every second of [frm, now) is footage or a gap with a reason."""
    assert not [g for g in cam["gaps"] if g["reason"] == "unaccounted"], cam["gaps"]
    explained = cam["recorded_s"] + sum(g["seconds"] for g in cam["gaps"])
    # holes shorter than the run tolerance (0.1 s) are not gaps
    assert abs(explained - (now - frm)) < 0.5, (explained, now - frm, cam)


def test_clean_stop_is_recorder_down_until_the_restart():
    wd = workdir()
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")})
    rec = Recorder(config)
    record_a_segment(config, 0)
    first = min(rfc3339(s["start"]) for s in segments(config))
    frm = int(first) + 1
    stopped = stop_with(rec, signal.SIGINT)
    end1 = last_end(config)

    # a report reaching past the stop, made later: the recorder is down since
    now = int(stopped) + 60
    cam = continuity(config, frm, now + 60, now)
    down = [g for g in cam["gaps"] if rfc3339(g["end"]) > end1]
    assert len(down) == 1, cam["gaps"]
    g = down[0]
    assert g["reason"] == "recorder-down", g
    assert g["detail"].startswith("stopped by SIGINT at "), g
    said = rfc3339(g["detail"][len("stopped by SIGINT at "):])
    assert abs(said - stopped) <= 2, (g, stopped)
    assert abs(rfc3339(g["start"]) - end1) < 0.001, (g, end1)
    assert abs(rfc3339(g["end"]) - now) < 1, g  # the report's now runs on from --now
    check_all_accounted(cam, frm, now)
    # the stop wrote no gap row: its end is not known yet
    assert gaps(config) == [], gaps(config)

    # the next start ends the downtime where footage resumes
    started = time.time()
    rec = Recorder(config)
    record_a_segment(config, started)
    resumed = min(rfc3339(s["start"]) for s in segments(config) if rfc3339(s["start"]) > end1)
    stopped2 = stop_with(rec, signal.SIGTERM)
    rows = gaps(config)
    assert len(rows) == 1 and rows[0]["reason"] == "recorder-down", rows
    assert abs(rows[0]["start"] - end1) < 0.001 and abs(rows[0]["end"] - resumed) < 0.001, rows

    now2 = int(stopped2) + 30
    cam = continuity(config, frm, now2 + 30, now2)
    check_all_accounted(cam, frm, now2)
    assert all(g["reason"] == "recorder-down" for g in cam["gaps"]), cam["gaps"]
    assert abs(rfc3339(cam["gaps"][0]["start"]) - end1) < 0.001, cam["gaps"]
    assert abs(rfc3339(cam["gaps"][0]["end"]) - resumed) < 0.001, cam["gaps"]
    assert cam["gaps"][-1]["detail"].startswith("stopped by SIGTERM at "), cam["gaps"]
    assert abs(rfc3339(cam["gaps"][-1]["end"]) - now2) < 1, cam["gaps"]


def test_crash_keeps_its_reason_after_a_clean_stop():
    wd = workdir()
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")})
    rec = Recorder(config)
    record_a_segment(config, 0)
    frm = int(min(rfc3339(s["start"]) for s in segments(config))) + 1
    stop_with(rec, signal.SIGTERM)
    started = time.time()
    rec = Recorder(config)
    record_a_segment(config, started)
    killed = time.time()
    rec.kill9()
    restarted = time.time()
    rec = Recorder(config)
    record_a_segment(config, restarted)
    stopped = stop_with(rec, signal.SIGTERM)

    rows = gaps(config)
    crash = [r for r in rows if r["reason"] == "recorder-down" and r["end"] is not None
             and r["start"] <= killed + 0.15 and killed <= r["end"]]
    assert len(crash) == 1 and "crashed" in crash[0]["detail"], rows
    assert all(r["end"] is not None for r in rows), rows
    now = int(stopped) + 30
    cam = continuity(config, frm, now, now)
    check_all_accounted(cam, frm, now)
    assert any("crashed" in g["detail"] for g in cam["gaps"]), cam["gaps"]


def test_a_camera_the_stopped_run_did_not_record_is_not_its_downtime():
    wd = workdir()
    cams = Camsim(wd, cameras=2)
    config = write_config(wd, {"cam1": cams.url("cam1"), "cam2": cams.url("cam2")})
    rec = Recorder(config)
    record_a_segment(config, 0)
    frm = int(max(min(rfc3339(s["start"]) for s in segments(config) if s["camera"] == c)
                  for c in ("cam1", "cam2"))) + 1
    stop_with(rec, signal.SIGTERM)
    # cam2 leaves the config; the next run records cam1 alone
    config = write_config(wd, {"cam1": cams.url("cam1")})
    started = time.time()
    rec = Recorder(config)
    record_a_segment(config, started)
    stopped = stop_with(rec, signal.SIGINT)
    now = int(stopped) + 30
    cam1 = continuity(config, frm, now, now)
    check_all_accounted(cam1, frm, now)
    assert cam1["gaps"][-1]["detail"].startswith("stopped by SIGINT at "), cam1["gaps"]
    cam2 = continuity(config, frm, now, now, camera="cam2")
    assert not [g for g in cam2["gaps"] if g["detail"].startswith("stopped by SIGINT")], cam2["gaps"]
