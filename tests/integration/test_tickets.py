"""The tickets command and the two reports over a ticket database the
checker filled (with --now / VIGIL_NOW / VIGIL_TIME_SCALE to place tickets
in a quarter and a week), and a footage catalog recorded from camsim."""
import json
import os
import time

from harness import (Camsim, Recorder, rfc3339, segments, vigil, wait_until, workdir,
                     write_config)
from mqtt_harness import Broker, Checker, FakeRecorder, events, mqtt_section, tickets

KEYS = {"id", "kind", "level", "state", "recorder", "camera", "site", "opened", "acknowledged",
        "resolved", "fault_start", "fault_end"}


def test_tickets_command_and_the_sla_report():
    wd = workdir()
    broker = Broker(wd)
    config = write_config(wd, {}, mqtt=mqtt_section(broker),
                          checker={"grace_seconds": "60", "clear_seconds": "120"})
    env = dict(os.environ, TZ="UTC", VIGIL_NOW="2026-11-02T10:00:00Z", VIGIL_TIME_SCALE="1000")
    chk = Checker(config, env=env)
    chk.wait_log("mqtt: connected")
    fake = FakeRecorder(broker, "rec1", site="Zone 1 bonded warehouse")
    fake.status("online")
    fake.health()
    # a second site whose recorder has no fault: in the report with 100
    quiet = FakeRecorder(broker, "rec2", site="Zone 2 gate")
    quiet.status("online")
    quiet.health()
    # gate1 down for well over an hour (level 2), gate2 a short one (level 4)
    fake.camera("gate1", "down", location="Gate 1", gap_age=0.2)
    fake.camera("gate2", "down", location="Gate 2", gap_age=0.2)
    a = wait_until(lambda: [t for t in tickets(config) if t["camera"] == "gate1"], 10,
                   what="gate1 ticket")[0]
    b = wait_until(lambda: [t for t in tickets(config) if t["camera"] == "gate2"], 10,
                   what="gate2 ticket")[0]
    fake.camera("gate2", "recording", location="Gate 2")
    wait_until(lambda: [t for t in tickets(config) if t["camera"] == "gate1" and t["level"] == 2],
               15, what="gate1 at level 2")

    # list --json: the keys scripts rely on
    for t in tickets(config):
        assert KEYS <= set(t), t
        assert t["opened"].endswith("Z") and t["fault_start"].startswith("2026-11-02T")
    # ack within 10 minutes of opening (times given with --now)
    opened = a["opened"]
    code, out, err = vigil("tickets", "-c", config, "ack", str(a["id"]), "--by", "ana",
                           "--note", "on site", "--now", shift(opened, 300), env=env)
    assert code == 0 and "ticket %d acknowledged by ana" % a["id"] in out, (out, err)
    code, out, err = vigil("tickets", "-c", config, "ack", str(a["id"]), env=env)
    assert code == 0 and "already acknowledged" in err, err
    # a person resolves gate1 while it is still down: the checker reopens it
    code, out, err = vigil("tickets", "-c", config, "resolve", str(a["id"]), "--by", "ana",
                           env=env)
    assert code == 0, err
    wait_until(lambda: [e for e in events(config, a["id"]) if e["kind"] == "reopened"], 10,
               what="the ticket reopened")
    assert [t for t in tickets(config) if t["id"] == a["id"]][0]["state"] == "acknowledged"
    fake.camera("gate1", "recording", location="Gate 1")
    wait_until(lambda: all(t["state"] == "resolved" for t in tickets(config)), 10,
               what="both resolved")
    kinds = [(e["kind"], e["actor"]) for e in events(config, a["id"])]
    assert kinds[0] == ("opened", "checker") and kinds[-1] == ("resolved", "checker"), kinds
    assert ("acknowledged", "ana") in kinds and ("resolved", "ana") in kinds
    assert ("reopened", "checker") in kinds
    assert chk.stop() == 0

    # show, as text and JSON
    code, out, err = vigil("tickets", "-c", config, "show", str(a["id"]), env=env)
    assert code == 0 and "Camera gate1 (Gate 1, Zone 1 bonded warehouse) was down" in out, out
    assert "events:" in out and "acknowledged" in out and "ana" in out
    code, out, err = vigil("tickets", "-c", config, "show", str(a["id"]), "--json", env=env)
    shown = json.loads(out)
    assert KEYS <= set(shown) and shown["level"] == 2 and len(shown["events"]) >= 6
    code, out, err = vigil("tickets", "-c", config, "list", env=env)
    assert code == 0 and "no open tickets" in out
    # bad input says what is wrong
    code, out, err = vigil("tickets", "-c", config, "show", "999", env=env)
    assert code == 2 and "no ticket 999" in err
    code, out, err = vigil("tickets", "-c", config, "ack", "x1", env=env)
    assert code == 2 and "'x1' is not a ticket number" in err
    code, out, err = vigil("tickets", "-c", config, "close", "1", env=env)
    assert code == 2 and "unknown action 'close'" in err

    # the SLA report: -15 (level 2) -5 (level 4); gate2 never acknowledged
    env = dict(env, VIGIL_NOW="2026-12-01T00:00:00Z")
    code, out, err = vigil("report", "sla", "-c", config, "--quarter", "2026Q4", "--format",
                           "json", env=env)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["score"] == 80 and rep["faults"] == 2, rep
    assert rep["levels"]["2"]["faults"] == 1 and rep["levels"]["4"]["faults"] == 1
    assert [m["id"] for m in rep["response_misses"]] == [b["id"]], rep["response_misses"]
    assert rep["response_misses"][0]["response_s"] is None
    # per site: every recorder the checker has seen, each site its own score
    assert [(x["site"], x["recorders"], x["faults"], x["score"]) for x in rep["sites"]] == [
        ("Zone 1 bonded warehouse", 1, 2, 80), ("Zone 2 gate", 1, 0, 100)], rep["sites"]
    code, out, err = vigil("report", "sla", "-c", config, "--quarter", "2026Q4", env=env)
    assert code == 0 and "score: 80/100" in out and "never acknowledged" in out, out
    code, out, err = vigil("report", "sla", "-c", config, "--quarter", "2026Q4", "--format",
                           "html", env=env)
    assert code == 0 and out.startswith("<!DOCTYPE html>") and ">80<" in out
    assert "Zone 2 gate" in out and "Per site" in out
    assert "http://" not in out and "src=" not in out  # self-contained
    code, out, err = vigil("report", "sla", "-c", config, "--quarter", "2026Q3", "--format",
                           "json", env=env)
    assert json.loads(out)["score"] == 100
    code, out, err = vigil("report", "sla", "-c", config, "--quarter", "2026Q9", env=env)
    assert code == 2 and "--quarter: '2026Q9'" in err


test_tickets_command_and_the_sla_report.weight = 2


def shift(rfc, seconds):
    from datetime import datetime, timedelta
    t = datetime.fromisoformat(rfc.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def test_inspection_report():
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=2)
    config = write_config(
        wd, {"cam1": {"url": cams.url("cam1"), "location": "Gate 1"},
             "cam2": {"url": cams.url("cam2"), "location": "Yard"}},
        recorder={"site": "Depot"}, mqtt=mqtt_section(broker, interval_seconds=2),
        checker={"grace_seconds": "1", "clear_seconds": "1"})
    env = dict(os.environ, TZ="UTC", VIGIL_NOW="2026-11-18T10:00:00Z")
    rec = Recorder(config, env=env)
    chk = Checker(config, env=env)
    wait_until(lambda: {s["camera"] for s in segments(config)} == {"cam1", "cam2"}, 30,
               what="both cameras recording")
    cams.down("cam2")
    wait_until(lambda: [t for t in tickets(config) if t["camera"] == "cam2"], 15,
               what="cam2 ticket")
    cams.up("cam2")
    wait_until(lambda: [t for t in tickets(config) if t["camera"] == "cam2" and
                        t["state"] == "resolved"], 20, what="cam2 ticket resolved")
    time.sleep(2)
    assert rec.stop() == 0
    assert chk.stop() == 0
    last = max(s["end"] for s in segments(config))

    code, out, err = vigil("report", "inspection", "-c", config, "--week", "2026-W47",
                           "--format", "json", "--now", last, env=env)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["week"] == "2026-W47" and rep["from"].startswith("2026-11-16T00:00:00")
    cams_ = {c["camera"]: c for c in rep["cameras"]}
    assert set(cams_) == {"cam1", "cam2"}
    assert cams_["cam1"]["uptime_percent"] > 95, cams_["cam1"]
    assert 30 < cams_["cam2"]["uptime_percent"] < 95, cams_["cam2"]
    assert cams_["cam1"]["gaps"] == [] and len(cams_["cam2"]["gaps"]) == 1
    assert cams_["cam2"]["gaps"][0]["reason"] == "camera-unreachable"
    assert cams_["cam2"]["tickets_opened"] == 1 and cams_["cam2"]["tickets_closed"] == 1
    assert cams_["cam2"]["location"] == "Yard"
    r = rep["recorder"]
    assert r["source"] == "health" and r["disk_total_bytes"] > 0 and r["disk_free_bytes"] > 0
    assert len(rep["tickets"]["opened"]) >= 1
    code, out, err = vigil("report", "inspection", "-c", config, "--week", "2026-W47", "--now",
                           last, env=env)
    assert code == 0 and "Inspection record, week 2026-W47" in out and "cam2" in out, out
    assert "camera-unreachable" in out
    code, out, err = vigil("report", "inspection", "-c", config, "--week", "2026-W47", "--format",
                           "html", "-o", os.path.join(wd, "w47.html"), "--now", last, env=env)
    assert code == 0
    html = open(os.path.join(wd, "w47.html")).read()
    assert html.startswith("<!DOCTYPE html>") and "<table>" in html and "Yard" in html
    code, out, err = vigil("report", "inspection", "-c", config, "--week", "2026-W99", env=env)
    assert code == 2 and "--week: '2026-W99'" in err
    # another week: nothing recorded in it, nothing opened
    code, out, err = vigil("report", "inspection", "-c", config, "--week", "2026-W46",
                           "--format", "json", "--now", last, env=env)
    rep = json.loads(out)
    assert all(c["recorded_s"] == 0 and c["gaps"] == [] for c in rep["cameras"]), rep
    assert rep["tickets"]["opened"] == []


test_inspection_report.weight = 2
test_tickets_command_and_the_sla_report.san = True
test_inspection_report.san = True


def test_sla_report_over_tickets_from_a_real_recorder():
    """The SLA report over tickets the real checker opened from what a real
    `vigil record` published: a camera of camsim down (acknowledged in
    time), then the recorder killed (never acknowledged).  Both are level 4
    (minutes, not hours): 100 - 5 - 5.  A one-day floor and a low bitrate
    keep the machine's own disk from putting retention at risk; if it
    does, that is a third real ticket and the report must count it too."""
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=1, bitrate=300)
    config = write_config(wd, {"cam1": {"url": cams.url("cam1"), "location": "Gate 1"}},
                          recorder={"site": "Depot"}, retention={"retain_days": "1"},
                          mqtt=mqtt_section(broker, interval_seconds=2, keepalive=5),
                          checker={"grace_seconds": "2", "clear_seconds": "2"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    env = dict(os.environ, TZ="UTC")
    chk = Checker(config, env=env)
    rec = Recorder(config)
    wait_until(lambda: len(segments(config)) >= 1, 30, what="recording")
    cams.down("cam1")
    down = wait_until(lambda: [t for t in tickets(config) if t["kind"] == "camera-down"], 20,
                      what="a camera-down ticket")[0]
    assert down["recorder"] == rec_id and down["camera"] == "cam1"
    code, out, err = vigil("tickets", "-c", config, "ack", str(down["id"]), "--by", "ana",
                           env=env)
    assert code == 0, err
    cams.up("cam1")
    wait_until(lambda: [t for t in tickets(config) if t["id"] == down["id"] and
                        t["state"] == "resolved"], 30, what="the camera ticket resolved")
    rec.kill9()
    offline = wait_until(lambda: [t for t in tickets(config) if t["kind"] == "recorder-offline"],
                         20, what="an offline ticket")[0]
    assert chk.stop() == 0
    found = tickets(config)
    assert {t["level"] for t in found} == {4}, found
    assert [t["kind"] for t in found if t["kind"] != "retention-at-risk"] == \
        ["camera-down", "recorder-offline"], found
    unacknowledged = [t["id"] for t in found if t["acknowledged"] is None]
    assert offline["id"] in unacknowledged and down["id"] not in unacknowledged

    # the quarter the tickets fall in, looked at 11 minutes on (the
    # offline ticket then misses the 10-minute response target)
    opened = rfc3339(down["opened"])
    month = time.gmtime(opened).tm_mon
    quarter = "%dQ%d" % (time.gmtime(opened).tm_year, (month - 1) // 3 + 1)
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 660))
    code, out, err = vigil("report", "sla", "-c", config, "--quarter", quarter, "--format",
                           "json", "--now", later, env=env)
    assert code == 0, err
    rep = json.loads(out)
    score = 100 - 5 * len(found)
    assert rep["faults"] == len(found) and rep["score"] == score, rep
    assert rep["levels"]["4"]["faults"] == len(found), rep["levels"]
    assert [m["id"] for m in rep["response_misses"]] == unacknowledged, rep["response_misses"]
    assert sorted(t["id"] for t in rep["tickets"]) == [t["id"] for t in found]
    code, out, err = vigil("report", "sla", "-c", config, "--quarter", quarter, "--now", later,
                           env=env)
    assert code == 0 and "score: %d/100" % score in out, out


test_sla_report_over_tickets_from_a_real_recorder.weight = 2
