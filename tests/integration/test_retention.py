"""Retention end to end: the sweeper deletes exactly what the rule allows,
holds protect footage, the reports say what happened, pressure never costs
footage younger than the floor (unless keep-recording, which the report then
calls a breach), and a clock step never triggers mass deletion.

Synthetic histories are built through the catalog API (mkhistory) with small
real files, so months of recording take a second to make."""
import json
import os
import time

from harness import (Camsim, Recorder, footage_files, mkhistory, mount_tmpfs, rfc3339, segments, sqlite,
                     vigil, wait_until, workdir, write_config)

NOW = "2026-11-01T00:00:00Z"
NOW_S = rfc3339(NOW)
DAY = 86400


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def synthetic(wd, cameras, **sections):
    """A config whose cameras point nowhere: the history comes from mkhistory."""
    return write_config(wd, {cam: dict({"url": "rtsp://127.0.0.1:9/%s" % cam}, **keys)
                             for cam, keys in cameras.items()}, **sections)


def all_segments(config):
    return segments(config, "--all", "--now", NOW)


def test_sweep_deletes_exactly_what_the_rule_allows():
    wd = workdir()
    config = synthetic(wd, {"cam1": {}, "cam2": {"delete_after_days": "100"}})
    start = "2026-07-01T00:00:00Z"  # 123 days before NOW
    gap = ("2026-09-01T10:00:00Z", "2026-09-01T13:00:00Z", "camera-unreachable")
    assert mkhistory(config, "cam1", start, NOW, gaps=[gap]) == 123 * 24 - 3
    assert mkhistory(config, "cam2", start, NOW) == 123 * 24
    hold_from, hold_to = "2026-07-10T00:00:00Z", "2026-07-11T00:00:00Z"
    code, out, err = vigil("hold", "-c", config, "add", "--camera", "cam1", "--from", hold_from,
                           "--to", hold_to, "--reason", "case 2026-118", "--now", NOW)
    assert code == 0 and "hold #1" in out, (out, err)

    before = all_segments(config)
    held = lambda s: s["camera"] == "cam1" and rfc3339(s["start"]) < rfc3339(hold_to) \
        and rfc3339(s["end"]) > rfc3339(hold_from)
    after_days = {"cam1": 90, "cam2": 100}
    expected = {s["id"] for s in before
                if rfc3339(s["end"]) <= NOW_S - after_days[s["camera"]] * DAY and not held(s)}
    n_held = len([s for s in before if held(s)])
    assert len(expected) == (123 - 90) * 24 - n_held + (123 - 100) * 24 and n_held == 24

    code, out, _ = vigil("sweep", "-c", config, "--dry-run", "--json", "--now", NOW)
    dry = json.loads(out)
    assert code == 0 and {s["id"] for s in dry["segments"]} == expected
    assert dry["held"] == n_held
    assert len(all_segments(config)) == len(before), "a dry run deleted something"

    code, out, _ = vigil("sweep", "-c", config, "--json", "--now", NOW)
    done = json.loads(out)
    assert code == 0 and {s["id"] for s in done["segments"]} == expected
    assert all(s["reason"] == "expired" for s in done["segments"])
    after = {s["id"]: s for s in all_segments(config)}
    for i in expected:
        assert after[i]["state"] == "deleted" and after[i]["delete_reason"] == "expired"
        assert not os.path.exists(after[i]["path"])
    live = [s for s in after.values() if s["state"] == "complete"]
    assert sorted(footage_files(os.path.join(wd, "footage"))) == sorted(s["path"] for s in live)
    assert all(os.path.exists(s["path"]) for s in before if held(s))
    # a second pass finds nothing more to do
    code, out, _ = vigil("sweep", "-c", config, "--json", "--now", NOW)
    assert json.loads(out)["deleted"] == 0
    # every deletion is in the audit chain, and the chain and files verify
    assert sqlite(config, "SELECT count(*) FROM audit WHERE kind = 'segment-deleted'")[0][0] == len(expected)
    code, out, err = vigil("verify", "-c", config, "--json")
    assert code == 0 and json.loads(out)["ok"], out

    code, out, _ = vigil("report", "retention", "-c", config, "--format", "json", "--now", NOW,
                         "--since", "2026-10-01")
    rep = json.loads(out)
    assert code == 0
    cams = {c["camera"]: c for c in rep["cameras"]}
    assert cams["cam1"]["verdict"] == "met" and cams["cam2"]["verdict"] == "met"
    assert cams["cam1"]["deleted"] == {"expired": len([i for i in expected if after[i]["camera"] == "cam1"])}
    assert cams["cam1"]["holds"] == 1 and cams["cam2"]["holds"] == 0
    assert abs(cams["cam1"]["days_covered"] - (NOW_S - rfc3339("2026-07-10T00:00:00Z")) / DAY) < 0.01
    assert abs(cams["cam2"]["days_covered"] - 100) < 0.01
    assert rep["holds"][0]["reason"] == "case 2026-118"

    # continuity over the floor: the one outage, with its reason
    code, out, _ = vigil("report", "continuity", "-c", config, "--camera", "cam1", "--from",
                         iso(NOW_S - 90 * DAY), "--to", NOW, "--format", "json", "--now", NOW)
    cont = json.loads(out)["cameras"][0]
    assert code == 1 and cont["verdict"] == "gaps"
    assert [(g["start"], g["end"], g["reason"]) for g in cont["gaps"]] == \
        [("2026-09-01T10:00:00.000000Z", "2026-09-01T13:00:00.000000Z", "camera-unreachable")]
    assert abs(cont["recorded_s"] - (90 * DAY - 3 * 3600)) < 1
    # a window reaching into deleted footage names the deletion
    code, out, _ = vigil("report", "continuity", "-c", config, "--camera", "cam2", "--from",
                         "2026-07-20", "--to", "2026-07-28", "--format", "json", "--now", NOW)
    gaps = json.loads(out)["cameras"][0]["gaps"]
    assert code == 1 and gaps and all(g["reason"] == "deleted" for g in gaps)
    # and a window with everything there is continuous
    code, out, _ = vigil("report", "continuity", "-c", config, "--camera", "cam2", "--from",
                         "2026-10-01", "--to", "2026-10-02", "--now", NOW)
    assert code == 0 and "continuous" in out

    # releasing the hold lets the rule take the held footage too
    code, out, _ = vigil("hold", "-c", config, "release", "1", "--reason", "case closed",
                         "--now", NOW)
    assert code == 0
    code, out, _ = vigil("sweep", "-c", config, "--json", "--now", NOW)
    assert json.loads(out)["deleted"] == n_held
    kinds = [k for (k,) in sqlite(config, "SELECT kind FROM audit WHERE camera = 'cam1' "
                                          "AND kind LIKE 'hold-%' ORDER BY seq")]
    assert kinds == ["hold-placed", "hold-released"]
    code, out, _ = vigil("hold", "-c", config, "list", "--all", "--json")
    assert json.loads(out)[0]["release_reason"] == "case closed"


def test_pressure_never_takes_footage_younger_than_the_floor():
    """The sweeper under disk pressure (the reserve is set above the free
    space): footage older than the floor goes, oldest first; footage younger
    never does with protect-retention, and does with keep-recording, which
    the retention report then calls a breach."""
    for policy in ("protect-retention", "keep-recording"):
        wd = workdir()
        config = synthetic(wd, {"cam1": {"retain_days": "30", "delete_after_days": "90"}},
                           storage={"reserve_mb": str(1024 * 1024)},
                           retention={"on_full": policy})
        mkhistory(config, "cam1", iso(NOW_S - 60 * DAY), NOW, segment_seconds=6 * 3600)
        code, out, _ = vigil("sweep", "-c", config, "--json", "--now", NOW)
        res = json.loads(out)
        reasons = {}
        for s in res["segments"]:
            reasons.setdefault(s["reason"], []).append(s)
        older = [s for s in reasons.get("space", [])]
        assert older and all(rfc3339(s["end"]) <= NOW_S - 30 * DAY for s in older)
        # oldest first
        assert [s["start"] for s in older] == sorted(s["start"] for s in older)
        left = [s for s in all_segments(config) if s["state"] == "complete"]
        code_r, out_r, _ = vigil("report", "retention", "-c", config, "--format", "json", "--now", NOW)
        verdict = json.loads(out_r)["cameras"][0]["verdict"]
        if policy == "protect-retention":
            assert "space-below-floor" not in reasons and res["still_full"]
            assert len(left) == 30 * 4 and all(rfc3339(s["end"]) > NOW_S - 30 * DAY for s in left)
            assert code == 0 and verdict == "met" and code_r == 0
        else:
            assert reasons["space-below-floor"] and res["below_floor"] == len(reasons["space-below-floor"])
            assert not left
            assert code == 1 and verdict == "breached" and code_r == 1


def test_young_camera_is_not_applicable_and_nothing_goes():
    wd = workdir()
    config = synthetic(wd, {"cam1": {}})
    mkhistory(config, "cam1", iso(NOW_S - 30 * DAY), NOW)
    code, out, _ = vigil("sweep", "-c", config, "--json", "--now", NOW)
    assert json.loads(out)["deleted"] == 0
    code, out, _ = vigil("report", "retention", "-c", config, "--format", "json", "--now", NOW)
    cam = json.loads(out)["cameras"][0]
    assert code == 0 and cam["verdict"] == "not-applicable" and "30.0 days" in cam["why"]
    for fmt in ("text", "csv", "html"):
        code, out, _ = vigil("report", "retention", "-c", config, "--format", fmt, "--now", NOW)
        assert code == 0 and "cam1" in out
    code, out, _ = vigil("report", "retention", "-c", config, "--format", "html", "--now", NOW)
    assert out.startswith("<!DOCTYPE html>") and out.count("<rect") >= 90 and "<script" not in out


def test_disk_full_stops_recording_and_keeps_the_floor():
    """A real full disk: the footage lives on a small tmpfs; when it fills,
    protect-retention stops writing (a storage-full gap), deletes nothing,
    and resumes when room comes back."""
    wd = workdir()
    storage = os.path.join(wd, "small")
    mount_tmpfs(storage, 24)
    cams = Camsim(wd, cameras=2, bitrate=4000)
    config = write_config(wd, {"cam1": cams.url("cam1"), "cam2": cams.url("cam2")},
                          storage={"path": storage, "catalog": os.path.join(wd, "catalog.db"),
                                   "reserve_mb": "4"})
    filler = os.path.join(storage, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * (14 * 1024 * 1024))
    rec = Recorder(config)
    rec.wait_log("storage full", timeout=60)
    time.sleep(3)
    gaps = sqlite(config, "SELECT camera, reason, end_us FROM gap")
    assert {g[0] for g in gaps if g[1] == "storage-full"} == {"cam1", "cam2"}, gaps
    assert rec.alive()
    assert not [s for s in segments(config, "--all") if s["state"] in ("deleted", "deleting")]
    # room again: recording resumes and the gap closes
    os.unlink(filler)
    freed = time.time()
    wait_until(lambda: all(e is not None for (c, r, e) in sqlite(config, "SELECT camera, reason, end_us "
                                                                         "FROM gap WHERE reason = 'storage-full'")),
               30, what="the storage-full gaps to close")
    wait_until(lambda: any(rfc3339(s["start"]) > freed for s in segments(config)), 20,
               what="recording after room came back")
    assert rec.stop() == 0
    code, out, _ = vigil("verify", "-c", config, "--json")
    assert code == 0, out
    code, out, _ = vigil("report", "retention", "-c", config, "--format", "json")
    assert code == 0 and all(c["verdict"] != "breached" for c in json.loads(out)["cameras"])


def test_clock_step_forward_never_mass_deletes():
    """A recorder with 30 days of footage (floor 90) sees its wall clock jump
    100 days forward: the sweeper refuses to delete and says why, until an
    operator accepts the clock."""
    wd = workdir()
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")},
                          retention={"sweep_interval_seconds": "2"})
    now = time.time()
    mkhistory(config, "cam1", iso(now - 30 * DAY), iso(now - 3600))
    step_file = os.path.join(wd, "clock-step")
    with open(step_file, "w") as f:
        f.write("0\n")
    env = dict(os.environ, VIGIL_CLOCK_STEP_FILE=step_file)
    rec = Recorder(config, env=env)
    wait_until(lambda: len(segments(config)) > 30 * 24, 30, what="recording")
    with open(step_file, "w") as f:
        f.write("%d\n" % (100 * DAY))
    rec.wait_log("the wall clock stepped by", timeout=20)
    time.sleep(5)
    deleted = [s for s in segments(config, "--all") if s["state"] == "deleted"]
    assert deleted == [], "%d segments deleted after a clock step" % len(deleted)
    assert "sweep --accept-clock" in rec.log_text()
    # the operator says the new time is right: the expired footage goes
    code, out, err = vigil("sweep", "-c", config, "--accept-clock", "--dry-run", env=env)
    assert code == 0, err
    wait_until(lambda: len([s for s in segments(config, "--all") if s["state"] == "deleted"]) >= 30 * 24,
               40, what="the sweeper deleting after the clock was accepted")
    assert rec.stop() == 0
