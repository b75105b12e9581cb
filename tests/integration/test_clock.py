"""Wall-clock steps while recording (issue 5, promise 2): the recorder's
wall clock is stepped back one hour and forward 100 days the way NTP or an
operator would (VIGIL_CLOCK_STEP_FILE moves vigil's clock without touching
the machine's), with 30 days of older footage in the catalog for the
sweeper to consider.  Then:

- no two segments of a camera overlap, and no file name is used twice
  (every file is the one of its row, created O_EXCL);
- a camera streaming through the step keeps its footage continuous (a step
  is not followed mid-connection);
- an outage after the step is one gap of its real length: after a step back
  the next footage is dated from the end of the old plus the outage as the
  monotonic clock measured it, so it neither overlaps nor hides the outage;
- zero footage is deleted because of the step (the sweeper's guard;
  test_retention.py::test_clock_step_forward_never_mass_deletes has the
  operator's side of the forward case);
- a restart with the clock still behind the footage goes on without
  overlap, and says that the downtime is not known;
- `vigil verify` passes afterwards.
"""
import json
import os
import time

from harness import (Camsim, Recorder, footage_files, mkhistory, rfc3339, segments, vigil,
                     wait_until, workdir, write_config)
from test_faults_camera import (all_gaps, check_files, check_no_overlap, holes, open_gap_start,
                                resumed_at)

DAY = 86400
GOP = 2.0


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def set_step(path, seconds):
    with open(path, "w") as f:
        f.write("%d\n" % seconds)


def setup(wd, max_step="3600"):
    cams = Camsim(wd, cameras=2)
    config = write_config(wd, {"cam1": cams.url("cam1"), "cam2": cams.url("cam2")},
                          recorder={"reconnect_max_seconds": "5"},
                          retention={"sweep_interval_seconds": "2",
                                     "max_clock_step_seconds": max_step})
    now = time.time()
    # a month of footage behind the live recording, all younger than the floor
    for cam in ("cam1", "cam2"):
        mkhistory(config, cam, iso(now - 30 * DAY), iso(now - 3600), segment_seconds=6 * 3600)
    step = os.path.join(wd, "clock-step")
    set_step(step, 0)
    env = dict(os.environ, VIGIL_CLOCK_STEP_FILE=step)
    return cams, config, step, env, now - 600


def outage(cams, config, cam, seconds):
    """Takes cam down for `seconds` (the recorder's clock, whatever it says,
    is not used here): returns (down at, up at, gap) in the catalog's time."""
    down = time.time()
    cams.down(cam)
    wait_until(lambda: open_gap_start(config, cam) is not None, 10, interval=0.05,
               what="%s outage noticed" % cam)
    time.sleep(max(0.0, down + seconds - time.time()))
    up = time.time()
    cams.up(cam)
    wait_until(lambda: resumed_at(config, cam), 20, interval=0.05, what="%s recording again" % cam)
    return down, up


def check_common(wd, config, rec_logs, since):
    """since: when live recording began (older footage is mkhistory's
    synthetic files, checked by verify but not playable)."""
    segs = segments(config)
    check_files([s for s in segs if rfc3339(s["start"]) > since])
    for cam in ("cam1", "cam2"):
        check_no_overlap(segs, cam)
    paths = [s["relpath"] for s in segs]
    assert len(paths) == len(set(paths)), "a file name used twice"
    assert sorted(footage_files(os.path.join(wd, "footage"))) == sorted(s["path"] for s in segs)
    deleted = [s for s in segments(config, "--all") if s["state"] in ("deleting", "deleted")]
    assert deleted == [], "%d segments deleted after a clock step" % len(deleted)
    for log in rec_logs:
        assert "cannot create" not in log and "File exists" not in log
    code, out, err = vigil("verify", "-c", config, "--json")
    assert code == 0 and json.loads(out)["ok"], out + err
    return segs


def test_clock_step_back_one_hour():
    wd = workdir()
    # the guard fires for steps of more than max_clock_step_seconds: one of
    # exactly an hour would sit on the default limit
    cams, config, step, env, since = setup(wd, max_step="1800")
    rec = Recorder(config, env=env)
    wait_until(lambda: len({s["camera"] for s in segments(config) if rfc3339(s["start"]) > time.time() - 600})
               == 2, 40, what="both cameras recording")
    time.sleep(3)
    stepped_at = time.time()
    set_step(step, -3600)
    rec.wait_log("the wall clock stepped by", timeout=20)
    time.sleep(2)
    down, up = outage(cams, config, "cam2", 8)
    time.sleep(5)
    assert rec.stop() == 0
    logs = [rec.log_text()]
    # where the first run's footage of cam1 ends: the restart's own footage,
    # dated from there, begins a frame or so later
    first_run_end = max(rfc3339(s["end"]) for s in segments(config)
                        if s["camera"] == "cam1" and s["end"])

    # a restart with the clock still an hour behind the footage
    time.sleep(3)
    rec2 = Recorder(config, env=env, log=rec.log + ".2")
    wait_until(lambda: sum(1 for s in segments(config) if s["state"] == "writing") == 2, 30,
               what="both cameras recording after the restart")
    time.sleep(6)
    assert rec2.stop() == 0
    logs.append(rec2.log_text())
    assert "new footage is dated from its end" in logs[1], logs[1][-2000:]

    segs = check_common(wd, config, logs, since)
    live = [s for s in segs if rfc3339(s["start"]) > stepped_at - 600]
    # cam1 streamed through the step: no hole until the restart
    assert [h for h in holes(live, "cam1") if h[0] < first_run_end - 0.001] == [], \
        (holes(live, "cam1"), first_run_end)
    # cam2's outage after the step: one gap, its real length, where it was
    gaps = [g for g in all_gaps(config) if g["camera"] == "cam2" and g["start"] > stepped_at - 600]
    assert len(gaps) == 1 and gaps[0]["reason"] == "camera-unreachable", gaps
    g = gaps[0]
    length = g["end"] - g["start"]
    assert up - down - 0.5 <= length <= up - down + 6.0, (length, up - down, g)
    # footage keeps the timeline it had before the step: an hour ahead of the new clock
    assert abs(g["start"] - down) <= GOP + 1.0, (g, down)
    print("FIGURE clock step back 1 h: %d segments, 0 overlaps, 0 name collisions, 0 deleted; "
          "an outage of %.1f s after the step recorded as a %.1f s gap; restart with the clock "
          "behind the footage: no overlap; verify ok" % (len(segs), up - down, length))


test_clock_step_back_one_hour.timeout = 240
test_clock_step_back_one_hour.weight = 4


def test_clock_step_forward_100_days():
    wd = workdir()
    cams, config, step, env, since = setup(wd)
    rec = Recorder(config, env=env)
    wait_until(lambda: len({s["camera"] for s in segments(config) if rfc3339(s["start"]) > time.time() - 600})
               == 2, 40, what="both cameras recording")
    time.sleep(3)
    stepped_at = time.time()
    set_step(step, 100 * DAY)
    rec.wait_log("the wall clock stepped by", timeout=20)
    time.sleep(2)
    down, up = outage(cams, config, "cam2", 6)
    time.sleep(6)  # several sweeps at the new time
    assert rec.stop() == 0
    segs = check_common(wd, config, [rec.log_text()], since)
    live = [s for s in segs if rfc3339(s["start"]) > stepped_at - 600]
    # cam1 streamed through the step: its footage is not moved mid-connection
    assert holes(live, "cam1") == [], holes(live, "cam1")
    c1 = [s for s in live if s["camera"] == "cam1"]
    assert rfc3339(c1[-1]["end"]) < time.time() + 60, "cam1 followed the step mid-connection"
    # cam2 reconnected after the step: its new footage follows the new clock,
    # after one gap that starts where the old footage ended
    gaps = [g for g in all_gaps(config) if g["camera"] == "cam2" and g["start"] > stepped_at - 600]
    assert len(gaps) == 1 and gaps[0]["reason"] == "camera-unreachable", gaps
    assert abs(gaps[0]["start"] - down) <= GOP + 1.0, (gaps, down)
    after = [s for s in live if s["camera"] == "cam2" and rfc3339(s["start"]) >= gaps[0]["end"]]
    assert after and abs(rfc3339(after[0]["start"]) - (up + 100 * DAY)) <= 6.0, (after[:1], up)
    # nothing of the month behind it was deleted (check_common), and the
    # recorder says why it holds back
    assert "deletion follows the monotonic clock" in rec.log_text()
    print("FIGURE clock step forward 100 days: %d segments (30 days behind), 0 overlaps, "
          "0 name collisions, 0 deleted; the camera streaming through it not moved; verify ok"
          % len(segs))


test_clock_step_forward_100_days.timeout = 240
test_clock_step_forward_100_days.weight = 4


def test_clock_ahead_at_start_up_never_mass_deletes():
    """The clock guard at start-up: vigil ran, stopped, and starts again with
    a wall clock 100 days ahead of the last time its sweeper was alive (a
    machine whose clock was reset while it was off).  Believed, the clock
    would expire the whole history; the sweeper inside vigil record applies
    the rule at the time it can vouch for instead, deletes nothing, says
    why, and deletes the then-expired footage only once an operator
    accepts the clock."""
    wd = workdir()
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")},
                          retention={"sweep_interval_seconds": "2"})
    now = time.time()
    # 60 days of footage, younger than the 90-day floor by the true clock
    n = mkhistory(config, "cam1", iso(now - 60 * DAY), iso(now - 3600), segment_seconds=6 * 3600)
    step = os.path.join(wd, "clock-step")
    set_step(step, 0)
    env = dict(os.environ, VIGIL_CLOCK_STEP_FILE=step)
    rec = Recorder(config, env=env)
    wait_until(lambda: any(s["state"] == "complete" and rfc3339(s["start"]) > now
                           for s in segments(config)), 30, what="recording")
    time.sleep(3)  # a sweep or two: the sweeper notes when it was alive
    assert rec.stop() == 0
    before = segments(config)
    assert len(before) > n

    # off, and back with the clock 100 days ahead
    set_step(step, 100 * DAY)
    rec = Recorder(config, env=env, log=rec.log + ".2")
    rec.wait_log("ahead of the last time vigil ran", timeout=20)
    wait_until(lambda: any(rfc3339(s["start"]) > now + 99 * DAY for s in segments(config)), 30,
               what="recording at the new time")
    time.sleep(6)  # several sweeps at the new time
    deleted = [s for s in segments(config, "--all") if s["state"] in ("deleting", "deleted")]
    assert deleted == [], "%d segments deleted at start-up after the clock moved" % len(deleted)
    assert "sweep --accept-clock" in rec.log_text()
    # the operator confirms the clock: what is now older than 90 days goes
    code, out, err = vigil("sweep", "-c", config, "--accept-clock", "--dry-run", env=env)
    assert code == 0, err
    wait_until(lambda: {s["id"] for s in segments(config, "--all") if s["state"] == "deleted"}
               >= {s["id"] for s in before}, 40,
               what="the footage expired by the accepted clock deleted")
    assert rec.stop() == 0
    live = segments(config)
    assert live and all(rfc3339(s["start"]) > now + 99 * DAY for s in live), live[:3]
    code, out, err = vigil("verify", "-c", config, "--json")
    assert code == 0 and json.loads(out)["ok"], out + err


test_clock_ahead_at_start_up_never_mass_deletes.timeout = 180
test_clock_ahead_at_start_up_never_mass_deletes.weight = 3
