"""Picture inspection end to end: camsim --pictures serves six cameras of a
static scene with a running clock; a recorder checks them every 2 s, a real
mosquitto carries camera health to a real checker.  Each picture fault made
on one camera among healthy ones shows in health within two check intervals
(and a little for the keyframe to reach the file), becomes one ticket of its
kind, and clears when the picture comes back; the healthy camera (a static
scene whose only motion is its clock) raises nothing."""
import base64
import datetime
import json
import os
import re
import time

from harness import Camsim, Recorder, sqlite, vigil, wait_until, workdir, write_config
from mqtt_harness import Broker, Checker, Subscriber, WebhookReceiver, mqtt_section, tickets
from web_client import Serve, Session, add_user, web_section

INTERVAL = 2
# two check intervals, plus a GOP (1 s) and a fragment (1 s) for the
# keyframe showing the fault to be in the file
DETECT_S = 2 * INTERVAL + 2.5

FAULTS = {"cam2": ("black", "picture-black"), "cam3": ("frozen", "picture-frozen"),
          "cam4": ("covered", "picture-covered"), "cam5": ("blurred", "picture-covered"),
          "cam6": ("moved", "view-moved")}


def this_week():
    y, w, _ = datetime.date.today().isocalendar()
    return "%d-W%02d" % (y, w)


def inspection_record(config, fmt="json", *extra):
    code, out, err = vigil("report", "inspection", "-c", config, "--week", this_week(),
                           "--format", fmt, *extra, check=0)
    return json.loads(out) if fmt == "json" else out


def record_cameras(config):
    return {c["camera"]: c for c in inspection_record(config)["cameras"]}


def camera_health(sub, rec_id, cam):
    msgs = sub.json("vigil/%s/camera/%s/health" % (rec_id, cam))
    return msgs[-1] if msgs else None


def test_picture_faults_in_health_and_tickets_and_clear():
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=6, gop=1, clip_seconds=5, extra=["--pictures"])
    hook = WebhookReceiver(lambda req: (200, {}, 0))
    web = web_section()
    console = "http://%s/" % web["listen"]
    config = write_config(
        wd, {c: cams.url(c) for c in ["cam1", "cam2", "cam3", "cam4", "cam5", "cam6"]},
        mqtt=mqtt_section(broker), web=web, recorder={"console_url": console},
        tickets={"webhook_url": hook.url},
        inspection={"interval_seconds": str(INTERVAL), "reference_after_hours": "0.001"},
        checker={"grace_seconds": "1", "clear_seconds": "2"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    sub = Subscriber(broker)
    rec = Recorder(config, args=["-v"])
    chk = Checker(config)
    add_user(config, "tech", "viewer", "technician-1")
    serve = Serve(config, int(web["listen"].rsplit(":", 1)[1]))

    # every camera healthy, and each has taken its reference by itself
    # after reference_after_hours (3.6 s) of healthy checks
    wait_until(lambda: rec.log_text().count("inspection reference taken") == 6, 40,
               what="six automatic references")
    for c in ["cam%d" % i for i in range(1, 7)]:
        sub.wait(lambda m, c=c: m["topic"].endswith("/camera/%s/health" % c) and m["json"] and
                 m["json"]["picture"]["state"] == "ok" and m["json"]["state"] == "recording",
                 10, what="%s picture ok" % c)
    h = camera_health(sub, rec_id, "cam1")
    assert h["clock_offset_s"] is None or abs(h["clock_offset_s"]) < 5, h
    assert h["degraded_by"] == [] and h["picture"]["checked"], h

    # one fault per camera, cam1 stays healthy
    t0 = time.time()
    for cam, (scene, _) in FAULTS.items():
        cams.ctl("picture %s %s" % (cam, scene))
    for cam, (scene, _) in FAULTS.items():
        sub.wait(lambda m, cam=cam, scene=scene: m["topic"].endswith("/camera/%s/health" % cam)
                 and m["json"] and m["json"]["picture"]["state"] == scene
                 and m["json"]["state"] == "degraded", t0 + DETECT_S + 1 - time.time(),
                 what="%s picture %s in health" % (cam, scene))
        h = camera_health(sub, rec_id, cam)
        assert h["degraded_by"] == ["picture"] and h["picture"]["reason"], h
    detected = time.time() - t0
    assert detected <= DETECT_S + 1, detected

    # one ticket of the right kind per faulty camera, none for cam1, no
    # camera-degraded for what is a picture fault
    def open_kinds():
        return sorted((t["camera"], t["kind"]) for t in tickets(config, all_=False))
    want = sorted((cam, kind) for cam, (_, kind) in FAULTS.items())
    wait_until(lambda: open_kinds() == want, 15, what="one picture ticket per faulty camera")
    for t in tickets(config, all_=False):
        assert t["level"] == 4, t  # degraded service, just begun
    # still one each a few intervals later (no flapping, no duplicates)
    time.sleep(2 * INTERVAL)
    assert open_kinds() == want
    assert sub.json("vigil/%s/camera/cam1/health" % rec_id)[-1]["picture"]["state"] == "ok"

    # the technician's webhook links the picture that raised the ticket, on
    # the recorder's console
    def snapshot(cam):
        for req in hook.all():
            b = req["body"]
            if isinstance(b, dict) and b.get("ticket", {}).get("camera") == cam and \
                    b.get("snapshot_url"):
                return b["snapshot_url"]
    url = wait_until(lambda: snapshot("cam2"), 15, what="cam2's ticket with its picture")
    assert url == console + "api/cameras/cam2/picture.jpg", url
    assert all(not (isinstance(r["body"], dict) and r["body"].get("snapshot_url"))
               for r in hook.all() if r["body"]["ticket"]["kind"] == "retention-at-risk")
    tech = Session(serve.port)
    tech.login("tech", "technician-1")
    status, jpeg, headers = tech.request("GET", url[len(console) - 1:], raw=True)
    assert status == 200 and jpeg[:2] == b"\xff\xd8", (status, jpeg[:40])
    assert headers["x-vigil-picture"] == "black", headers
    cams_api = {c["id"]: c for c in tech.get("/api/cameras")[1]}
    assert cams_api["cam2"]["picture"]["state"] == "black", cams_api["cam2"]
    assert cams_api["cam1"]["picture"]["state"] == "ok", cams_api["cam1"]

    # `vigil inspect now` agrees, and gives a thumbnail
    code, out, err = vigil("inspect", "-c", config, "now", "--json", check=1)
    result = {r["camera"]: r for r in json.loads(out)}
    assert result["cam1"]["picture"] == "ok", result["cam1"]
    assert result["cam2"]["picture"] == "black"
    for r in result.values():
        assert set(["camera", "picture", "checked", "clock_offset_s", "thumbnail"]) <= set(r)
        assert base64.b64decode(r["thumbnail"])[:2] == b"\xff\xd8"  # a JPEG

    # the weekly record shows each camera's latest verdict and the picture
    # itself, inline; and the recorders the checker has seen
    week = record_cameras(config)
    assert week["cam2"]["picture"]["state"] == "black", week["cam2"]
    assert week["cam2"]["picture"]["failed"] > 0 and week["cam2"]["picture"]["reason"]
    assert week["cam2"]["picture"]["checks"] >= week["cam2"]["picture"]["failed"]
    assert week["cam6"]["picture"]["state"] == "moved", week["cam6"]
    assert week["cam1"]["picture"]["state"] == "ok", week["cam1"]
    assert all(c["has_thumbnail"] for c in week.values()), week
    assert "thumbnail" not in week["cam2"]
    fleet = inspection_record(config)["fleet"]
    assert [s["site"] for s in fleet] == [""], fleet
    (r,) = fleet[0]["recorders"]
    assert r["id"] == rec_id and r["state"] == "online" and r["console_url"] == console, r
    assert r["cameras"] == 6 and r["cameras_down"] == 0 and r["last_seen"], r
    html = inspection_record(config, "html", "--lang", "zh-CN")
    assert html.count('src="data:image/jpeg;base64,/9j/') == 6, html[:2000]
    assert "图像与时钟" in html and "黑屏" in html and "巡检程序所见的录像机" in html
    assert 'src="http' not in html and "href=" not in html
    text = inspection_record(config, "text")
    assert [l for l in text.splitlines() if l.startswith("cam2 ") and " black " in l], text

    # the pictures come back: health clears, tickets resolve
    t1 = time.time()
    for cam in FAULTS:
        cams.ctl("picture %s normal" % cam)
    for cam in FAULTS:
        sub.wait(lambda m, cam=cam: m["topic"].endswith("/camera/%s/health" % cam) and
                 m["json"] and m["json"]["picture"]["state"] == "ok" and
                 m["json"]["state"] == "recording", t1 + DETECT_S + 1 - time.time(),
                 what="%s picture ok again" % cam)
    wait_until(lambda: open_kinds() == [], 15, what="picture tickets resolved")
    resolved = [t for t in tickets(config) if t["state"] == "resolved"]
    assert sorted((t["camera"], t["kind"]) for t in resolved) == want
    assert not [t for t in tickets(config) if t["camera"] == "cam1"]
    # the week keeps the faults: ok now, the failed checks counted
    week = record_cameras(config)
    for cam in FAULTS:
        assert week[cam]["picture"]["state"] == "ok", week[cam]
        assert week[cam]["picture"]["failed"] >= 2, week[cam]

    chk.stop()
    serve.stop()
    hook.close()
    assert rec.stop() == 0
    assert "picture black" in rec.log_text()


def test_inspect_now_and_accept_without_a_recorder():
    wd = workdir()
    cams = Camsim(wd, cameras=1, gop=1, clip_seconds=5, extra=["--pictures"])
    config = write_config(wd, {"cam1": cams.url("cam1")}, mqtt={"port": "1"},
                          inspection={"interval_seconds": "0"})
    rec = Recorder(config)
    wait_until(lambda: os.path.exists(os.path.join(wd, "footage", "cam1")), 20,
               what="footage")
    time.sleep(4)
    assert rec.stop() == 0
    cams.stop()

    # no reference yet: the view cannot be judged moved; ok on its own
    code, out, err = vigil("inspect", "-c", config, "now", "--json", check=0)
    (r,) = json.loads(out)
    assert r["camera"] == "cam1" and r["picture"] == "ok" and r["clock_offset_s"] is None, r
    assert r["reference"] is False
    code, out, err = vigil("inspect", "-c", config, "accept", "cam1", check=0)
    assert "reference" in out
    # the same keyframe again: the verdict stands, never "frozen"
    code, out, err = vigil("inspect", "-c", config, "now", "--camera", "cam1", check=0)
    assert out.split()[:2] == ["cam1", "ok"], out
    code, out, err = vigil("inspect", "-c", config, "accept", "nosuch", check=2)
    code, out, err = vigil("inspect", "-c", config, "later", check=2)


def test_camera_clock_offset_from_sender_reports():
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=2, gop=1, clip_seconds=5, extra=["--pictures"])
    config = write_config(
        wd, {"cam1": cams.url("cam1"), "cam2": cams.url("cam2")}, mqtt=mqtt_section(broker),
        inspection={"interval_seconds": "2", "max_clock_offset_seconds": "5"},
        checker={"grace_seconds": "1", "clear_seconds": "2"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    sub = Subscriber(broker)
    rec = Recorder(config)
    chk = Checker(config)
    topic = "vigil/%s/camera/cam1/health" % rec_id
    # sender reports come every few seconds: the offset is known, and small
    sub.wait(lambda m: m["topic"] == topic and m["json"] and
             m["json"]["clock_offset_s"] is not None, 20, what="cam1 clock offset")
    assert abs(sub.json(topic)[-1]["clock_offset_s"]) < 1

    # each check keeps the offset: the weekly record shows the latest
    week = wait_until(lambda: (lambda c: c if c["cam1"]["clock_offset_s"] is not None else None)(
        record_cameras(config)), 20, what="cam1's clock offset in the weekly record")
    assert abs(week["cam1"]["clock_offset_s"]) < 1, week["cam1"]

    cams.ctl("clock cam1 30")
    sub.wait(lambda m: m["topic"] == topic and m["json"] and m["json"]["clock_fault"] and
             m["json"]["state"] == "degraded", 20, what="cam1 clock fault")
    h = sub.json(topic)[-1]
    assert 29 < h["clock_offset_s"] < 31 and "camera-clock" in h["degraded_by"], h
    week = wait_until(lambda: (lambda c: c if (c["cam1"]["clock_offset_s"] or 0) > 29 else None)(
        record_cameras(config)), 15, what="cam1's 30 s offset in the weekly record")
    assert week["cam1"]["clock_offset_s"] < 31, week["cam1"]
    line = [l for l in inspection_record(config, "text").splitlines() if l.startswith("cam1 ")]
    assert re.search(r" \+(29|30)\.\d{3} s ", line[-1]), line
    wait_until(lambda: [(t["camera"], t["kind"]) for t in tickets(config, all_=False)] ==
               [("cam1", "camera-clock")], 15, what="a camera-clock ticket")

    cams.ctl("clock cam1 0")
    sub.wait(lambda m: m["topic"] == topic and m["json"] and not m["json"]["clock_fault"] and
             m["json"]["state"] == "recording", 20, what="cam1 clock right again")
    wait_until(lambda: tickets(config, all_=False) == [], 15, what="the ticket resolved")
    assert [t["kind"] for t in tickets(config)] == ["camera-clock"]
    cam2 = sub.json("vigil/%s/camera/cam2/health" % rec_id)[-1]
    assert not cam2["clock_fault"] and cam2["state"] == "recording", cam2
    chk.stop()
    assert rec.stop() == 0


def test_clock_offset_of_a_camera_read_by_libavformat():
    """A camera with a microphone (H.264 and AAC) is read by libavformat's
    RTSP client, not the lean one: its clock offset comes from the capture
    time libavformat gives its frames (the first sender report, then every
    one, the stream having two tracks), and a clock that steps is a
    camera-clock fault like the lean client's."""
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=1, gop=1, clip_seconds=5, extra=["--audio"])
    config = write_config(
        wd, {"cam1": cams.url("cam1")}, mqtt=mqtt_section(broker),
        inspection={"interval_seconds": "0", "max_clock_offset_seconds": "5"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    sub = Subscriber(broker)
    rec = Recorder(config)
    topic = "vigil/%s/camera/cam1/health" % rec_id
    sub.wait(lambda m: m["topic"] == topic and m["json"] and
             m["json"]["clock_offset_s"] is not None, 30, what="cam1 clock offset")
    assert abs(sub.json(topic)[-1]["clock_offset_s"]) < 1, sub.json(topic)[-1]
    assert "camera 'cam1': recording through libavformat's RTSP client" in rec.log_text(), \
        "cam1 was not read by libavformat (see %s)" % rec.log

    cams.ctl("clock cam1 30")
    sub.wait(lambda m: m["topic"] == topic and m["json"] and m["json"]["clock_fault"] and
             m["json"]["state"] == "degraded", 30, what="cam1 clock fault")
    h = sub.json(topic)[-1]
    assert 29 < h["clock_offset_s"] < 31 and "camera-clock" in h["degraded_by"], h
    cams.ctl("clock cam1 0")
    sub.wait(lambda m: m["topic"] == topic and m["json"] and not m["json"]["clock_fault"] and
             m["json"]["state"] == "recording", 30, what="cam1 clock right again")
    assert rec.stop() == 0


test_clock_offset_of_a_camera_read_by_libavformat.timeout = 120


PICTURE_FAULTS = ("black", "frozen", "covered", "blurred", "moved")


def no_false_fault(cameras, seconds):
    """cameras healthy camsim --pictures cameras (the static scene with a
    running clock), each checked every INTERVAL s for seconds, against the
    reference each takes by itself: no picture fault in any health message
    or check, no ticket of any kind.  Returns the checks made."""
    wd = workdir()
    broker = Broker(wd)
    # a low bitrate and a one-day floor: the machine's own disk must not
    # put retention at risk, which would be a true ticket
    cams = Camsim(wd, cameras=cameras, gop=1, clip_seconds=5, bitrate=300,
                  extra=["--pictures"])
    ids = ["cam%d" % i for i in range(1, cameras + 1)]
    config = write_config(
        wd, {c: cams.url(c) for c in ids}, mqtt=mqtt_section(broker),
        retention={"retain_days": "1"},
        inspection={"interval_seconds": str(INTERVAL), "reference_after_hours": "0.001"},
        checker={"grace_seconds": "1", "clear_seconds": "2"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    sub = Subscriber(broker)
    rec = Recorder(config)
    chk = Checker(config)
    wait_until(lambda: rec.log_text().count("inspection reference taken") == cameras, 60,
               what="every camera's automatic reference")

    def faults():
        return sqlite(config, "SELECT camera, state, reason, checked_us FROM inspection "
                      "WHERE state IN (%s)" % ",".join("'%s'" % f for f in PICTURE_FAULTS))

    start = time.time()
    while time.time() - start < seconds:
        time.sleep(min(30, max(0, seconds - (time.time() - start))))
        # fail as soon as one shows, with what it was
        assert faults() == [], faults()
        assert tickets(config) == [], tickets(config)
        assert rec.alive() and chk.alive()
    elapsed = time.time() - start

    for c in ids:
        msgs = sub.json("vigil/%s/camera/%s/health" % (rec_id, c))
        assert msgs, c
        bad = [m for m in msgs if m["picture"]["state"] in PICTURE_FAULTS or
               "picture" in m.get("degraded_by", [])]
        assert bad == [], (c, bad[:3])
        assert msgs[-1]["state"] == "recording" and msgs[-1]["picture"]["state"] == "ok", msgs[-1]
    week = record_cameras(config)
    checks = {c: sqlite(config, "SELECT count(*) FROM inspection WHERE camera = ? AND "
                        "checked_us >= ?", c, int(start * 1e6))[0][0] for c in ids}
    for c in ids:
        assert week[c]["picture"]["state"] == "ok", week[c]
        # the checks ran: at least half of those due (2 cores shared)
        assert checks[c] >= elapsed / INTERVAL / 2, (c, checks[c], elapsed)
    assert faults() == [] and tickets(config) == [], (faults(), tickets(config))
    chk.stop()
    assert rec.stop() == 0
    return sum(checks.values()), elapsed


def test_no_false_fault_8_cameras_short():
    checks, elapsed = no_false_fault(8, 75)
    print("FIGURE inspection without faults: 8 healthy cameras, %.0f s, a check every %d s: "
          "%d checks, 0 picture faults, 0 tickets" % (elapsed, INTERVAL, checks))


test_no_false_fault_8_cameras_short.timeout = 240
test_no_false_fault_8_cameras_short.weight = 3


def test_no_false_fault_8_cameras_30_minutes():
    minutes = float(os.environ.get("VIGIL_SOAK_MINUTES", "30"))
    checks, elapsed = no_false_fault(8, minutes * 60)
    print("FIGURE inspection without faults (soak): 8 healthy cameras, %.1f min, a check every "
          "%d s: %d checks, 0 picture faults, 0 tickets" % (elapsed / 60, INTERVAL, checks))


test_no_false_fault_8_cameras_30_minutes.soak = True
test_no_false_fault_8_cameras_30_minutes.timeout = 2400
