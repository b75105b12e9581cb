"""The checker (`vigil check`) end to end: camsim streams, a recorder, a real
mosquitto and the checker, with VIGIL_TIME_SCALE where hours of outage must
pass in seconds.  Tickets are read back with `vigil tickets --json`, their
events from the ticket database, their MQTT copies from the broker."""
import json
import os
import signal
import time

import harness
from harness import Camsim, Recorder, rfc3339, segments, wait_until, workdir, write_config
from mqtt_harness import (Broker, Checker, FakeRecorder, Subscriber, events, mqtt_section,
                          publish, retained, tickets)

SCALE = 1000  # checker wall time runs 1000x: 20 min in 1.2 s, 5 h in 18 s


def by_kind(config, kind, camera=None):
    return [t for t in tickets(config) if t["kind"] == kind and
            (camera is None or t["camera"] == camera)]


def test_camera_down_escalates_to_level_1_and_resolves():
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=2)
    config = write_config(
        wd, {"cam1": {"url": cams.url("cam1"), "location": "Gate 3 inbound lane"},
             "cam2": {"url": cams.url("cam2"), "location": "Yard", "expected_fps": "50"}},
        recorder={"site": "Zone 1 bonded warehouse"},
        mqtt=mqtt_section(broker, interval_seconds=2),
        checker={"grace_seconds": "60", "clear_seconds": "120"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    sub = Subscriber(broker)
    rec = Recorder(config)
    chk = Checker(config, env=dict(os.environ, VIGIL_TIME_SCALE=str(SCALE)))
    cam1 = "vigil/%s/camera/cam1/health" % rec_id
    sub.wait(lambda m: m["topic"] == cam1 and m["json"] and m["json"]["state"] == "recording",
             30, what="cam1 recording")
    time.sleep(1)
    down_at = time.time()
    cams.down("cam1")
    m = sub.wait(lambda m: m["topic"] == cam1 and m["json"] and m["at"] > down_at and
                 m["json"]["state"] in ("reconnecting", "down"), 10, what="cam1 down on MQTT")
    assert m["at"] - down_at < 10
    # opened after the grace (60 s at 1000x), then 3, 2, 1 as the outage grows
    t = wait_until(lambda: [x for x in by_kind(config, "camera-down", "cam1") if x["level"] == 1],
                   40, what="cam1 at level 1")[0]
    assert t["state"] == "open" and t["recorder"] == rec_id
    assert t["site"] == "Zone 1 bonded warehouse" and t["location"] == "Gate 3 inbound lane"
    assert t["text"].startswith("Camera cam1 (Gate 3 inbound lane, Zone 1 bonded warehouse) "
                                "down since "), t["text"]
    evs = events(config, t["id"])
    assert [e["kind"] for e in evs] == ["opened", "escalated", "escalated", "escalated"], evs
    assert [e["level"] for e in evs] == [4, 3, 2, 1], evs
    start = rfc3339(t["fault_start"])
    # each escalation on time: after its threshold, within a second of real time
    for e, threshold in zip(evs[1:], (20 * 60, 3600, 5 * 3600)):
        late = e["at"] - start - threshold
        assert 0 < late <= SCALE * 1.0, "level %d %.0f s (scaled) after its threshold" % (
            e["level"], late)
    assert 60 <= evs[0]["at"] - start <= 60 + SCALE * 1.0
    # its MQTT copy, retained for dashboards and phones
    topic = "vigil/tickets/%d" % t["id"]
    sub.wait(lambda m: m["topic"] == topic and m["json"] and m["json"]["level"] == 1, 5,
             what="the ticket at level 1 on MQTT")
    assert json.loads(retained(broker, "vigil/tickets/#")[topic])["level"] == 1

    # the degraded camera: a ticket on the degraded table, 2 at most (2 h
    # after it turned degraded: 7.2 s at 1000x)
    wait_until(lambda: by_kind(config, "camera-degraded", "cam2")[0]["level"] == 2, 15,
               what="cam2 degraded at level 2")
    deg = by_kind(config, "camera-degraded", "cam2")
    assert len(deg) == 1 and deg[0]["level"] == 2, deg
    assert "fps of 50.0 expected" in deg[0]["detail"], deg
    assert [e["level"] for e in events(config, deg[0]["id"])] == [4, 3, 2]

    # back up: resolved once clear for 120 s (scaled), fault end recorded
    up_at = time.time()
    cams.up("cam1")
    t = wait_until(lambda: [x for x in by_kind(config, "camera-down", "cam1")
                            if x["state"] == "resolved"], 20, what="cam1 resolved")[0]
    assert t["level"] == 1 and t["resolved_by"] == "checker"
    assert rfc3339(t["fault_end"]) > start and t["fault_end"] < t["resolved"]
    # the outage, measured on the checker's clock, is about as long as it was
    outage = (rfc3339(t["fault_end"]) - start) / SCALE
    assert abs(outage - (up_at - down_at)) < 4, (outage, up_at - down_at)
    assert "was down from" in t["text"]
    assert len(by_kind(config, "camera-down", "cam1")) == 1
    # resolved: said once on MQTT, then the retained copy is cleared
    sub.wait(lambda m: m["topic"] == topic and m["json"] and m["json"]["state"] == "resolved",
             5, what="resolution on MQTT")
    wait_until(lambda: topic not in retained(broker, "vigil/tickets/#"), 5,
               what="retained ticket cleared")
    assert chk.stop() == 0
    assert rec.stop() == 0


test_camera_down_escalates_to_level_1_and_resolves.weight = 5


def test_flapping_camera_holds_one_ticket():
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=1, extra=["--flap", "cam1@4s:8:1500:1500"])
    config = write_config(wd, {"cam1": cams.url("cam1")},
                          mqtt=mqtt_section(broker, interval_seconds=2),
                          checker={"grace_seconds": "3", "clear_seconds": "8"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    sub = Subscriber(broker)
    rec = Recorder(config)
    chk = Checker(config)
    # 8 flaps of 1.5 s from 4 s on: over by about 28 s after camsim started
    flaps_end = cams.started + 4 + 8 * 3
    wait_until(lambda: time.monotonic() > flaps_end, 40, what="the flapping to end")
    t = wait_until(lambda: [x for x in by_kind(config, "camera-down", "cam1")
                            if x["state"] == "resolved"], 20, what="the ticket resolved")
    assert len(by_kind(config, "camera-down", "cam1")) == 1, tickets(config)
    t = t[0]
    assert [e["kind"] for e in events(config, t["id"])] == ["opened", "resolved"]
    # the recorder did see the camera come and go, many times
    states = [m["state"] for m in sub.json("vigil/%s/camera/cam1/health" % rec_id)]
    drops = sum(1 for a, b in zip(states, states[1:]) if a == "recording" and
                b in ("reconnecting", "down"))
    assert drops >= 5, states
    assert chk.stop() == 0 and rec.stop() == 0


test_flapping_camera_holds_one_ticket.weight = 4


def test_killed_recorder_makes_an_offline_ticket():
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=1)
    # a long interval: the broker's will (keepalive 5 s), not silence, tells
    config = write_config(wd, {"cam1": cams.url("cam1")}, recorder={"site": "Depot"},
                          mqtt=mqtt_section(broker, interval_seconds=60, keepalive=5),
                          checker={"grace_seconds": "2", "clear_seconds": "2"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    sub = Subscriber(broker)
    rec = Recorder(config)
    chk = Checker(config)
    sub.wait(lambda m: m["topic"] == "vigil/%s/status" % rec_id and m["payload"] == "online",
             20, what="recorder online")
    time.sleep(1)
    killed = time.time()
    rec.kill9()
    sub.wait(lambda m: m["topic"] == "vigil/%s/status" % rec_id and m["payload"] == "offline",
             15, what="the will")
    t = wait_until(lambda: by_kind(config, "recorder-offline"), 15, what="an offline ticket")[0]
    assert time.time() - killed < 20
    assert t["recorder"] == rec_id and t["camera"] is None and t["site"] == "Depot"
    assert "status offline" in t["detail"], t
    assert t["text"].startswith("Recorder %s (Depot) offline since" % rec_id), t["text"]
    # back: resolved
    rec = Recorder(config)
    wait_until(lambda: by_kind(config, "recorder-offline")[0]["state"] == "resolved", 20,
               what="offline ticket resolved")
    assert len(by_kind(config, "recorder-offline")) == 1
    assert chk.stop() == 0 and rec.stop() == 0


test_killed_recorder_makes_an_offline_ticket.weight = 3


def test_silent_recorder_makes_an_offline_ticket():
    wd = workdir()
    broker = Broker(wd)
    config = write_config(wd, {}, mqtt=mqtt_section(broker),
                          checker={"grace_seconds": "1", "clear_seconds": "1"})
    chk = Checker(config)
    chk.wait_log("mqtt: connected")
    fake = FakeRecorder(broker, "quiet", interval=1)
    fake.status("online")
    fake.health()
    last = time.time()
    # no will, no status: only silence (3 intervals of 1 s) gives it away
    t = wait_until(lambda: by_kind(config, "recorder-offline"), 15, what="an offline ticket")[0]
    assert "no health message for 3 intervals" in t["detail"], t
    assert 3 <= time.time() - last <= 9
    fake.health()
    wait_until(lambda: by_kind(config, "recorder-offline")[0]["state"] == "resolved", 10,
               what="resolved when it speaks again")
    assert chk.stop() == 0


def test_checker_restart_keeps_one_ticket():
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")},
                          mqtt=mqtt_section(broker, interval_seconds=2),
                          checker={"grace_seconds": "4", "clear_seconds": "3"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    sub = Subscriber(broker)
    rec = Recorder(config)
    chk = Checker(config)
    sub.wait(lambda m: m["topic"].endswith("/camera/cam1/health") and m["json"] and
             m["json"]["state"] == "recording", 30, what="cam1 recording")
    down_at = time.time()
    cams.down("cam1")
    sub.wait(lambda m: m["topic"].endswith("/camera/cam1/health") and m["json"] and
             m["json"]["state"] == "reconnecting", 10, what="cam1 reconnecting")
    time.sleep(1)
    # killed while the fault is in its grace period: the episode survives
    chk.kill9()
    chk = Checker(config)
    t = wait_until(lambda: by_kind(config, "camera-down", "cam1"), 15, what="the ticket")[0]
    assert abs(rfc3339(t["fault_start"]) - down_at) < 2, (t, down_at)
    assert rfc3339(t["opened"]) - down_at < 4 + 3
    # killed with the ticket open, twice: no duplicate, the same ticket goes on
    chk.kill9()
    chk = Checker(config)
    chk.wait_log("episodes in progress")
    chk.stop()
    chk = Checker(config)
    chk.wait_log("mqtt: connected")
    time.sleep(2)
    found = by_kind(config, "camera-down", "cam1")
    assert len(found) == 1 and found[0]["state"] == "open", found
    cams.up("cam1")
    wait_until(lambda: by_kind(config, "camera-down", "cam1")[0]["state"] == "resolved", 20,
               what="the ticket resolved")
    assert len(by_kind(config, "camera-down", "cam1")) == 1
    kinds = [e["kind"] for e in events(config, found[0]["id"])]
    assert kinds == ["opened", "resolved"], kinds
    # the MQTT copy was cleared by the restarted checker
    wait_until(lambda: "vigil/tickets/%d" % found[0]["id"] not in retained(broker, "vigil/tickets/#"),
               5, what="ticket cleared")
    assert chk.stop() == 0 and rec.stop() == 0
    # the ticket names the recorder that reported the fault
    assert found[0]["recorder"] == rec_id and found[0]["camera"] == "cam1", found[0]


test_checker_restart_keeps_one_ticket.weight = 3


def test_hostile_payloads_are_ignored():
    wd = workdir()
    broker = Broker(wd)
    config = write_config(wd, {}, mqtt=mqtt_section(broker),
                          checker={"grace_seconds": "1", "clear_seconds": "1"})
    chk = Checker(config)
    chk.wait_log("mqtt: connected")
    big = os.path.join(wd, "big")
    with open(big, "wb") as f:
        f.write(b'{"at":"' + b"x" * (1 << 20) + b'"}')
    deep = os.path.join(wd, "deep")
    with open(deep, "wb") as f:
        f.write(b"[" * 100000 + b"]" * 100000)
    binary = os.path.join(wd, "binary")
    with open(binary, "wb") as f:
        f.write(bytes(range(256)) * 64)
    good = '{"at":"2026-11-02T06:00:00Z","state":"down"}'
    bad = [
        ("vigil/r1/camera/c1/health", "not json at all"),
        ("vigil/r1/camera/c1/health", "{\"at\":"),
        ("vigil/r1/camera/c1/health", "[1,2,3]"),
        ("vigil/r1/camera/c1/health", '{"at":"2026-11-02T06:00:00Z","state":["down"]}'),
        ("vigil/r1/camera/c1/health", '{"at":"2026-11-02T06:00:00Z","state":"on fire"}'),
        ("vigil/r1/camera/c1/health", '{"at":7,"state":"down"}'),
        ("vigil/r1/camera/c1/health", '{"at":"2026-11-02T06:00:00Z","state":"down","fps":"x"}'),
        ("vigil/r1/camera/c1/health", '{"at":"2026-11-02T06:00:00Z","state":"down","fps":1e400}'),
        ("vigil/r1/camera/c1/health", '{"at":"2026-11-02T06:00:00Z","state":"down","camera":"c2"}'),
        ("vigil/r1/health", '{"at":"2026-11-02T06:00:00Z","storage_error":"yes"}'),
        ("vigil/r1/health", '{"at":"2026-11-02T06:00:00Z","recorder":"r2"}'),
        ("vigil/r1/status", "maybe"),
        ("vigil/r1/camera/c1/../health", good),
        ("vigil/../camera/c1/health", good),
        ("vigil/r 1/camera/c1/health", good),
        ("vigil/r1/camera/" + "c" * 65 + "/health", good),
        ("vigil/" + "r" * 300 + "/status", "online"),
        ("vigil/r1/camera/c1/health/extra", good),
        ("vigil/r1/cam/c1/health", good),
        ("vigil/r1", good),
        ("vigil/r\u00e9c/status", "online"),
        ("vigil//status", "online"),
    ]
    for topic, payload in bad:
        publish(broker, topic, payload)
    for path in (big, deep, binary):
        publish(broker, "vigil/r1/camera/c1/health", path=path)
    # wildcards cannot even be published: the client or the broker refuses
    for topic in ("vigil/+/status", "vigil/#", "vigil/r1/camera/+/health"):
        proc = publish(broker, topic, good)
        assert proc.returncode != 0
    time.sleep(1.5)
    assert chk.alive(), "the checker died"
    log = chk.log_text()
    ignored = [line for line in log.splitlines() if "ignored a message" in line]
    assert 1 <= len(ignored) <= 2, ignored  # logged, at most once per 10 s
    # the first refusal is the first payload sent: a camera topic that is not JSON
    assert "'vigil/r1/camera/c1/health': not JSON" in ignored[0], ignored
    assert not tickets(config), tickets(config)
    # and it still works: a real fault from a well-behaved recorder
    fake = FakeRecorder(broker, "r1")
    fake.status("online")
    fake.camera("c1", "down", location="Gate 1", gap_age=5)
    t = wait_until(lambda: by_kind(config, "camera-down", "c1"), 10, what="a ticket")[0]
    assert t["location"] == "Gate 1"
    # the refusals so far are counted in the next report line
    publish(broker, "vigil/r1/camera/c1/health", "junk")
    time.sleep(10.5)
    publish(broker, "vigil/r1/camera/c1/health", "junk again")
    chk.wait_log("more refused since the last report", timeout=5)
    assert chk.stop() == 0
    assert "refused)" in chk.log_text()


test_hostile_payloads_are_ignored.weight = 2


def test_storage_error_retention_at_risk_and_removed_camera():
    wd = workdir()
    broker = Broker(wd)
    config = write_config(wd, {}, mqtt=mqtt_section(broker),
                          checker={"grace_seconds": "1", "clear_seconds": "1"})
    chk = Checker(config)
    chk.wait_log("mqtt: connected")
    fake = FakeRecorder(broker, "store1", site="Depot", interval=30)
    fake.status("online")
    fake.health(storage_error=True, detail="cannot write '/srv/footage': No space left on device")
    fake.health(storage_error=True, retention_at_risk=True, forecast_days=45.0,
                detail="cannot write '/srv/footage': No space left on device")
    storage = wait_until(lambda: by_kind(config, "storage-error"), 10, what="storage ticket")[0]
    risk = wait_until(lambda: by_kind(config, "retention-at-risk"), 10, what="retention ticket")[0]
    assert storage["recorder"] == "store1" and "No space left" in storage["detail"]
    assert "cannot write footage" in storage["text"] and "Depot" in storage["text"]
    assert risk["level"] == 4
    # a camera that cannot write counts as a storage error of its recorder too
    fake.health()
    wait_until(lambda: by_kind(config, "storage-error")[0]["state"] == "resolved", 10,
               what="storage resolved")
    wait_until(lambda: by_kind(config, "retention-at-risk")[0]["state"] == "resolved", 10,
               what="retention resolved")
    fake.camera("cam9", "storage-error", last_error="cannot create segment: Read-only file system")
    wait_until(lambda: len(by_kind(config, "storage-error")) == 2, 10,
               what="a storage ticket from a camera")
    # the camera is removed (its retained health cleared): its tickets go
    fake.camera("cam8", "down", gap_age=3)
    wait_until(lambda: by_kind(config, "camera-down", "cam8"), 10, what="cam8 ticket")
    publish(broker, "vigil/store1/camera/cam8/health", None, retain=True)
    wait_until(lambda: by_kind(config, "camera-down", "cam8")[0]["state"] == "resolved", 10,
               what="cam8 ticket resolved on removal")
    chk.wait_log("camera 'cam8' of recorder 'store1' removed")
    gone = by_kind(config, "camera-down", "cam8")[0]
    assert events(config, gone["id"])[-1]["note"] == "camera removed from the recorder"
    assert chk.stop() == 0


# also under ASan/UBSan (tests/run.py --san-build): hostile input, restarts
test_hostile_payloads_are_ignored.san = True
test_checker_restart_keeps_one_ticket.san = True


# ---- from a real recorder: the faults the tests above fake --------------------


def test_real_full_disk_makes_storage_error_and_retention_at_risk_tickets():
    """A real `vigil record` writing camsim footage to a small tmpfs: the
    storage cannot hold the 90-day floor (retention at risk), and once the
    disk fills, protect-retention stops recording (a storage error).  Both
    tickets come from what the recorder publishes, none from a fake."""
    wd = workdir()
    storage = os.path.join(wd, "small")
    harness.mount_tmpfs(storage, 24)
    broker = Broker(wd)
    cams = Camsim(wd, cameras=1, bitrate=4000)
    config = write_config(wd, {"cam1": cams.url("cam1")}, recorder={"site": "Depot"},
                          storage={"path": storage, "catalog": os.path.join(wd, "catalog.db"),
                                   "reserve_mb": "4"},
                          mqtt=mqtt_section(broker, interval_seconds=2),
                          checker={"grace_seconds": "1", "clear_seconds": "2",
                                   "database": os.path.join(wd, "footage", "tickets.db")})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    chk = Checker(config)
    rec = Recorder(config)
    # a few real segments first: the write rate the forecast is made from
    wait_until(lambda: len(segments(config)) >= 2, 30, what="two segments")
    assert not by_kind(config, "storage-error")
    # then the disk fills: less room left than the 4 MB reserve
    filler = os.path.join(storage, "filler")
    st = os.statvfs(storage)
    with open(filler, "wb") as f:
        f.write(b"\0" * (st.f_bavail * st.f_frsize - 3 * 1024 * 1024))
    rec.wait_log("storage full", timeout=20)
    storage_t = wait_until(lambda: by_kind(config, "storage-error"), 15,
                           what="a storage-error ticket")[0]
    risk = wait_until(lambda: by_kind(config, "retention-at-risk"), 15,
                      what="a retention-at-risk ticket")[0]
    assert storage_t["recorder"] == rec_id and storage_t["camera"] is None
    assert "storage full" in storage_t["detail"] or "No space" in storage_t["detail"], storage_t
    assert "Depot" in storage_t["text"] and storage_t["level"] == 4
    assert risk["recorder"] == rec_id and risk["state"] == "open"
    # room again: recording resumes and the storage error is resolved; the
    # disk still cannot hold 90 days, so retention stays at risk
    os.unlink(filler)
    wait_until(lambda: by_kind(config, "storage-error")[0]["state"] == "resolved", 30,
               what="the storage-error ticket resolved")
    assert rec.alive()
    risk = by_kind(config, "retention-at-risk")
    assert len(risk) == 1 and risk[0]["state"] == "open", risk
    assert chk.stop() == 0 and rec.stop() == 0


test_real_full_disk_makes_storage_error_and_retention_at_risk_tickets.weight = 3


def test_real_stopped_recorder_makes_an_offline_ticket():
    """A real recorder frozen with SIGSTOP: its connection stays up (a long
    keepalive, so no will), only the silence of its health messages tells;
    SIGCONT brings it back and the ticket is resolved."""
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")}, recorder={"site": "Depot"},
                          mqtt=mqtt_section(broker, interval_seconds=2, keepalive=120),
                          checker={"grace_seconds": "1", "clear_seconds": "1"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    sub = Subscriber(broker)
    rec = Recorder(config)
    chk = Checker(config)
    health = "vigil/%s/health" % rec_id
    sub.wait(lambda m: m["topic"] == health, 20, what="recorder health")
    chk.wait_log("mqtt: connected")
    time.sleep(1)
    stopped = time.time()
    os.kill(rec.proc.pid, signal.SIGSTOP)
    try:
        t = wait_until(lambda: by_kind(config, "recorder-offline"), 25,
                       what="an offline ticket")[0]
        # silent for 3 intervals of 2 s (and a second) since it was last
        # heard, up to 2 s before the stop, then the grace
        assert 4 <= time.time() - stopped <= 20, time.time() - stopped
        assert t["recorder"] == rec_id and t["site"] == "Depot"
        assert "no health message for 3 intervals of 2 s" in t["detail"], t
        assert not [m for m in sub.all("vigil/%s/status" % rec_id) if m["payload"] == "offline"]
    finally:
        os.kill(rec.proc.pid, signal.SIGCONT)
    wait_until(lambda: by_kind(config, "recorder-offline")[0]["state"] == "resolved", 20,
               what="resolved once it speaks again")
    assert len(by_kind(config, "recorder-offline")) == 1
    assert chk.stop() == 0 and rec.stop() == 0


test_real_stopped_recorder_makes_an_offline_ticket.weight = 2
