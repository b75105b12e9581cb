"""The health publisher inside `vigil record`, against a real mosquitto and
real camsim streams: what it publishes, how fast a stall shows, and that a
broker that is away (from the start, or later) never touches recording."""
import json
import os
import time

from harness import (Camsim, Recorder, gaps, rfc3339, secret_forms, segments, wait_until,
                     workdir, write_config)
from mqtt_harness import Broker, Checker, FakeRecorder, Subscriber, make_tls, mqtt_section, retained, tickets

USER = "recorder"
PASSWORD = "Mq@tt!%/:pw"


def test_health_payloads_and_a_stall_within_10s():
    wd = workdir()
    broker = Broker(wd, users={USER: PASSWORD})
    pwfile = os.path.join(wd, "mqtt.pass")
    with open(pwfile, "w") as f:
        f.write(PASSWORD + "\n")
    cams = Camsim(wd, cameras=2)
    config = write_config(
        wd, {"cam1": {"url": cams.url("cam1"), "location": "Gate 3 inbound lane"},
             "cam2": {"url": cams.url("cam2"), "expected_fps": "25"}},
        recorder={"site": "Zone 1 bonded warehouse"},
        mqtt=mqtt_section(broker, username=USER, password_file=pwfile, interval_seconds=3))
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    sub = Subscriber(broker, user=USER, password=PASSWORD)
    rec = Recorder(config, args=["-v"])
    cam1_topic = "vigil/%s/camera/cam1/health" % rec_id
    sub.wait(lambda m: m["topic"] == cam1_topic and m["json"] and
             m["json"]["state"] == "recording", 30, what="cam1 recording on MQTT")
    sub.wait(lambda m: m["topic"] == "vigil/%s/status" % rec_id and m["payload"] == "online", 5,
             what="status online")

    # the camera payload
    cam = sub.json(cam1_topic)[-1]
    for key in ("at", "state", "since", "fps", "kbps", "last_frame", "gap_start", "gaps_24h",
                "site", "location", "reconnects", "last_error", "codec", "width", "height"):
        assert key in cam, (key, cam)
    assert cam["site"] == "Zone 1 bonded warehouse" and cam["location"] == "Gate 3 inbound lane"
    assert cam["codec"] == "h264" and (cam["width"], cam["height"]) == (640, 360)
    assert cam["gap_start"] is None and cam["recorder"] == rec_id
    assert abs(rfc3339(cam["at"]) - time.time()) < 5
    # the recorder payload, once the periodic one has come
    sub.wait(lambda m: m["topic"] == "vigil/%s/health" % rec_id and m["json"] and
             m["json"]["cameras"]["recording"] == 2, 15, what="recorder health")
    health = sub.json("vigil/%s/health" % rec_id)[-1]
    for key in ("at", "disk", "write_bytes_per_s", "forecast_days", "oldest_footage",
                "workers", "index_bytes", "cameras", "version", "uptime_s", "retention_at_risk",
                "storage_error"):
        assert key in health, (key, health)
    # (the storage figures are retention's, which may not have measured yet)
    assert health["workers"] == 2 and health["cameras"]["total"] == 2
    assert health["disk"]["path"].endswith("footage") and health["retain_days"] == 90

    # a stall: ingest notices after stall_seconds (5), MQTT says so at once
    time.sleep(1)
    stalled_at = time.time()
    cams.stall("cam1")
    m = sub.wait(lambda m: m["topic"] == cam1_topic and m["json"] and
                 m["json"]["state"] in ("reconnecting", "down") and m["at"] > stalled_at, 12,
                 what="cam1 stalled on MQTT")
    assert m["at"] - stalled_at < 10, "stall visible after %.1f s" % (m["at"] - stalled_at)
    assert m["json"]["gap_start"] and abs(rfc3339(m["json"]["gap_start"]) - stalled_at) < 2
    assert "no media" in m["json"]["last_error"], m["json"]
    cams.resume("cam1")
    sub.wait(lambda m: m["topic"] == cam1_topic and m["json"] and
             m["json"]["state"] == "recording" and m["at"] > stalled_at + 5, 20,
             what="cam1 recording again")
    # a camera gone: reconnecting at once, down 10 s into the outage, each
    # published when it happens, not at the next interval
    time.sleep(1)
    gone_at = time.time()
    cams.down("cam1")
    m = sub.wait(lambda m: m["topic"] == cam1_topic and m["json"] and m["at"] > gone_at and
                 m["json"]["state"] == "reconnecting", 10, what="cam1 reconnecting")
    assert m["at"] - gone_at < 2
    m = sub.wait(lambda m: m["topic"] == cam1_topic and m["json"] and m["at"] > gone_at and
                 m["json"]["state"] == "down", 15, what="cam1 down")
    late = m["at"] - (rfc3339(m["json"]["gap_start"]) + 10)
    assert -0.5 < late < 1.5, "down published %.1f s after 10 s of outage" % late
    cams.up("cam1")
    sub.wait(lambda m: m["topic"] == cam1_topic and m["json"] and
             m["json"]["state"] == "recording" and m["at"] > gone_at, 20,
             what="cam1 recording again")
    last = sub.json(cam1_topic)[-1]
    assert last["gaps_24h"] >= 1 and last["reconnects"] >= 1
    assert rec.stop() == 0
    # a clean stop says offline itself, and the cameras' last word is "stopped"
    sub.wait(lambda m: m["topic"] == "vigil/%s/status" % rec_id and m["payload"] == "offline",
             5, what="status offline")
    kept = retained(broker, user=USER, password=PASSWORD)
    assert kept["vigil/%s/status" % rec_id] == "offline"
    assert json.loads(kept[cam1_topic])["state"] == "stopped"

    # no credential anywhere: not the broker password in any payload or log
    texts = {"mqtt": "\n".join(m["payload"] for m in sub.all()), "recorder log": rec.log_text()}
    for where, text in texts.items():
        for form in secret_forms(USER, PASSWORD):
            assert form not in text, "password form %r found in %s" % (form, where)
    assert "rtsp://" not in texts["mqtt"]


test_health_payloads_and_a_stall_within_10s.weight = 3


def test_broker_away_never_touches_recording():
    wd = workdir()
    broker = Broker(wd, start_now=False)  # not there at first
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")},
                          mqtt=mqtt_section(broker, interval_seconds=2))
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    rec = Recorder(config)
    wait_until(lambda: len(segments(config)) >= 1, 30, what="recording without a broker")
    rec.wait_log("cannot connect to broker", timeout=10)
    # the broker comes: the recorder finds it (retrying from the first attempt)
    broker.start()
    started = time.time()
    sub = Subscriber(broker)
    sub.wait(lambda m: m["topic"] == "vigil/%s/status" % rec_id and m["payload"] == "online",
             10, what="online after the broker came")
    assert time.time() - started < 8
    # the broker goes away for a while, then comes back (empty: no persistence)
    time.sleep(2)
    broker.stop()
    away = time.time()
    time.sleep(8)
    broker.start()
    sub = Subscriber(broker)
    sub.wait(lambda m: m["topic"] == "vigil/%s/camera/cam1/health" % rec_id and m["json"] and
             m["json"]["state"] == "recording", 10, what="health republished")
    back = time.time()
    # every retained topic is there again
    kept = retained(broker)
    assert kept.get("vigil/%s/status" % rec_id) == "online", kept
    assert "vigil/%s/health" % rec_id in kept and "vigil/%s/camera/cam1/health" % rec_id in kept
    time.sleep(3)
    assert rec.stop() == 0
    # recording went on through both outages, without a gap
    assert gaps(config) == [], gaps(config)
    segs = [s for s in segments(config) if s["camera"] == "cam1"]
    for a, b in zip(segs, segs[1:]):
        assert rfc3339(b["start"]) - rfc3339(a["end"]) < 0.05, (a, b)
    assert rfc3339(segs[0]["start"]) < away and rfc3339(segs[-1]["end"]) > back
    log = rec.log_text()
    assert "lost the connection to broker" in log and log.count("mqtt: connected") >= 2


test_broker_away_never_touches_recording.weight = 3
test_broker_away_never_touches_recording.san = True


def test_tls_broker():
    """Recorder and checker over TLS (tls_ca), refused without it."""
    wd = workdir()
    tls = make_tls(wd)
    broker = Broker(wd, tls=tls)
    config = write_config(wd, {}, mqtt=mqtt_section(broker, tls_ca=tls["ca"]),
                          checker={"grace_seconds": "1", "clear_seconds": "1"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    rec = Recorder(config)
    chk = Checker(config)
    rec.wait_log("mqtt: connected to broker", timeout=15)
    chk.wait_log("mqtt: connected to broker", timeout=15)
    # the checker sees the recorder through the TLS broker: stopping it
    # cleanly makes an offline ticket
    time.sleep(1)
    assert rec.stop() == 0
    wait_until(lambda: [t for t in tickets(config) if t["kind"] == "recorder-offline" and
                        t["recorder"] == rec_id], 15, what="offline ticket over TLS")
    assert chk.stop() == 0
    # a client that does not trust the CA gets nowhere
    plain = write_config(wd, {}, name="plain.ini", mqtt=mqtt_section(broker))
    rec = Recorder(plain)
    rec.wait_log("cannot connect to broker", timeout=15)
    assert "mqtt: connected" not in rec.log_text()
    assert rec.stop() == 0
