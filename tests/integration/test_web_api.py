"""The JSON API of `vigil serve` over real HTTP, against a real recorder
recording camsim: spans and gaps as the catalog has them, an outage in its
place with its reason, the reports equal to the command line's, tickets,
holds and exports, and bad requests refused clearly without blocking
anyone else."""
import hashlib
import json
import socket
import threading
import time

from harness import (Camsim, Recorder, rfc3339, segments, vigil, wait_until, workdir,
                     write_config)
from mqtt_harness import Broker, Checker, FakeRecorder, mqtt_section, tickets
from web_client import Serve, Session, add_user, q, web_section


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "Z"


def setup(wd, cameras=2, **sections):
    cam = Camsim(wd, cameras=cameras)
    web = web_section()
    config = write_config(wd, {"c%d" % i: cam.url("cam%d" % i) for i in range(1, cameras + 1)},
                          web=web, **sections)
    add_user(config, "admin", "admin", "admin-pass-1")
    add_user(config, "op", "operator", "operator-pass-1")
    add_user(config, "gate", "viewer", "viewer-pass-1", cameras="c1")
    rec = Recorder(config)
    serve = Serve(config, int(web["listen"].rsplit(":", 1)[1]))
    return cam, config, rec, serve


def test_spans_gaps_reports_and_refusals():
    wd = workdir()
    cam, config, rec, serve = setup(wd)
    t0 = time.time()
    wait_until(lambda: len([s for s in segments(config) if s["camera"] == "c2"]) >= 2, 40,
               what="two finished segments of c2")
    cam.down("cam2")
    time.sleep(6)
    cam.up("cam2")
    wait_until(lambda: sum(1 for s in segments(config) if s["camera"] == "c2"
                           and rfc3339(s["start"]) > t0 + 8) >= 2, 60,
               what="c2 recording again after the outage")

    admin = Session(serve.port)
    # nothing but /healthz without a session
    assert admin.get("/healthz")[0] == 200
    status, doc = admin.get("/api/cameras")
    assert status == 401 and "login" in doc["error"], (status, doc)
    admin.login("admin", "admin-pass-1")

    status, cams = admin.get("/api/cameras")
    assert status == 200, cams
    by_id = {c["id"]: c for c in cams}
    assert set(by_id) == {"c1", "c2"}
    for c in cams:
        assert {"id", "location", "site", "state", "codec", "width", "height", "oldest",
                "last_footage"} <= set(c), c
        assert c["state"] == "recording" and c["codec"] == "h264" and c["width"] == 640, c

    frm, to = iso(t0 - 5), iso(time.time())
    status, spans = admin.get("/api/cameras/c2/spans" + q(**{"from": frm, "to": to}))
    assert status == 200, spans
    # the outage is there, in its place, with its reason
    outage = [g for g in spans["gaps"] if g["reason"] == "camera-unreachable"]
    assert len(outage) == 1, spans["gaps"]
    assert 3 <= outage[0]["seconds"] <= 15, outage
    # spans and gaps are the catalog's: the spans cover the finished segments
    # exactly, and the gaps are continuity's
    segs = [s for s in segments(config) if s["camera"] == "c2" and s["end"]]
    finished = [s for s in spans["spans"] if not s.get("live")]
    covered = sum(rfc3339(s["end"]) - rfc3339(s["start"]) for s in finished)
    in_window = sum(min(rfc3339(s["end"]), rfc3339(to)) - max(rfc3339(s["start"]), rfc3339(frm))
                    for s in segs if rfc3339(s["end"]) > rfc3339(frm)
                    and rfc3339(s["start"]) < rfc3339(to))
    assert abs(covered - in_window) < 0.01, (covered, in_window)
    fixed_to = iso(time.time() - 2)
    status, past = admin.get("/api/cameras/c2/spans" + q(**{"from": frm, "to": fixed_to}))
    code, out, err = vigil("report", "continuity", "-c", config, "--camera", "c2", "--from", frm,
                           "--to", fixed_to, "--format", "json")
    assert code in (0, 1), err
    cli_gaps = [(g["start"], g["end"], g["reason"]) for g in json.loads(out)["cameras"][0]["gaps"]]
    api_gaps = [(g["start"], g["end"], g["reason"]) for g in past["gaps"]]
    assert api_gaps == cli_gaps, (api_gaps, cli_gaps)
    g = outage[0]
    assert any(rfc3339(s["end"]) <= rfc3339(g["start"]) + 0.2 for s in spans["spans"])
    assert any(rfc3339(s["start"]) >= rfc3339(g["end"]) - 0.2 for s in spans["spans"])

    # the reports as JSON are the command line's
    status, api = admin.get("/api/reports/continuity" + q(camera="c1", **{"from": frm,
                                                                         "to": frm}))
    assert status == 400 and "after" in api["error"], api
    status, api = admin.get("/api/reports/continuity" + q(**{"from": frm, "to": fixed_to}))
    code, out, err = vigil("report", "continuity", "-c", config, "--from", frm, "--to",
                           fixed_to, "--format", "json")
    cli = json.loads(out)
    for rep in (api, cli):
        rep.pop("generated", None)
    assert status == 200 and api == cli, (api, cli)
    status, api = admin.get("/api/reports/retention")
    assert status == 200 and [c["camera"] for c in api["cameras"]] == ["c1", "c2"], api
    assert {"generated", "forecast_days", "cameras"} <= set(api)
    status, html = admin.get("/api/reports/inspection" + q(week=time.strftime("%G-W%V"),
                                                          format="html"))
    assert status == 200 and "<html" in html.lower(), html[:200]
    # the printable page in the browser's language
    path = "/api/reports/continuity" + q(format="html", **{"from": frm, "to": fixed_to})
    status, html = admin.get(path, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert status == 200 and "连续性报告" in html and 'lang="zh-CN"' in html, html[:300]
    status, html = admin.get(path, headers={"Accept-Language": "en-GB,en"})
    assert status == 200 and "Continuity report" in html and "连续性报告" not in html

    # bad input: clear errors with the right status
    status, doc = admin.get("/api/cameras/c2/spans" + q(**{"from": "yesterday-ish", "to": to}))
    assert status == 400 and "from=yesterday-ish" in doc["error"], doc
    status, doc = admin.get("/api/cameras/c2/spans" + q(to=to))
    assert status == 400 and "from" in doc["error"], doc
    status, doc = admin.get("/api/cameras/nope/spans" + q(**{"from": frm, "to": to}))
    assert status == 404 and "nope" in doc["error"], doc
    status, doc = admin.get("/api/reports/sla" + q(quarter="2026Q9"))
    assert status == 400 and "quarter" in doc["error"], doc
    status, doc = admin.get("/api/nothing-here")
    assert status == 404, doc
    status, doc = admin.request("DELETE", "/api/cameras")
    assert status == 405, doc
    status, body, _ = raw_request(serve.port, b"GET /api/../catalog.db HTTP/1.1\r\nHost: x\r\n"
                                  b"Connection: close\r\n\r\n")
    assert status == 400 and b".." in body, body
    status, body, _ = raw_request(serve.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                  b"a" * 100000 + b"\r\nConnection: close\r\n\r\n")
    assert status == 431, (status, body[:200])
    status, body, _ = raw_request(serve.port, b"POST /api/holds HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Length: 200000\r\nConnection: close\r\n\r\n" +
                                  b"{" * 200000)
    assert status == 413, (status, body[:200])

    # a viewer limited to c1: c2 is forbidden everywhere, and invisible in lists
    gate = Session(serve.port)
    gate.login("gate", "viewer-pass-1")
    status, doc = gate.get("/api/cameras/c2/spans" + q(**{"from": frm, "to": to}))
    assert status == 403 and "c2" in doc["error"], doc
    assert [c["id"] for c in gate.get("/api/cameras")[1]] == ["c1"]
    status, doc = gate.get("/api/reports/continuity" + q(**{"from": frm, "to": fixed_to}))
    assert [c["camera"] for c in doc["cameras"]] == ["c1"], doc
    status, doc = gate.post("/api/holds", {"camera": "c1", "from": frm, "to": to,
                                           "reason": "x"})
    assert status == 403 and "operator" in doc["error"], doc

    # a state-changing request without the CSRF token is refused
    op = Session(serve.port)
    op.login("op", "operator-pass-1")
    status, doc = op.post("/api/holds", {"camera": "c1", "from": frm, "to": to,
                                         "reason": "case 7"}, csrf=False)
    assert status == 403 and "CSRF" in doc["error"], doc
    assert op.get("/api/holds")[1] == []

    # a slow client (one byte a second) holds only its own connection
    slow = socket.create_connection(("127.0.0.1", serve.port))
    stop = threading.Event()

    def dribble():
        for ch in b"GET /api/cameras HTTP/1.1\r\nHost: x\r\n":
            if stop.is_set():
                break
            slow.send(bytes([ch]))
            time.sleep(1)
    threading.Thread(target=dribble, daemon=True).start()
    time.sleep(2)
    started = time.monotonic()
    for _ in range(5):
        assert admin.get("/api/cameras")[0] == 200
    assert time.monotonic() - started < 10
    stop.set()
    slow.close()
    serve.stop()
    rec.stop()


def test_tickets_holds_exports_and_the_access_log():
    wd = workdir()
    broker = Broker(wd)
    cam, config, rec, serve = setup(wd, cameras=1, mqtt=mqtt_section(broker),
                                    checker={"grace_seconds": "5", "clear_seconds": "5"},
                                    recorder={"console_url": "http://console.zone1.example:8080/"})
    chk = Checker(config)
    chk.wait_log("mqtt: connected")
    wait_until(lambda: len(segments(config)) >= 3, 120, what="three segments")

    op = Session(serve.port)
    op.login("op", "operator-pass-1")

    # a ticket from the checker, acknowledged in the console, is acknowledged
    # in `vigil tickets`
    fake = FakeRecorder(broker, "rec-far", site="Far site")
    fake.status("online")
    fake.health()
    fake.camera("gate9", "down", location="Gate 9", gap_age=0.2)
    wait_until(lambda: [t for t in op.get("/api/tickets")[1] if t["camera"] == "gate9"], 120,
               what="the gate9 ticket in the console")
    t = [t for t in op.get("/api/tickets")[1] if t["camera"] == "gate9"][0]
    status, doc = op.post("/api/tickets/%d/ack" % t["id"], {"note": "on my way"})
    assert status == 200 and doc["acknowledged"], doc
    cli = [x for x in tickets(config) if x["id"] == t["id"]][0]
    assert cli["state"] == "acknowledged" and cli["acknowledged"], cli
    status, doc = op.post("/api/tickets/%d/ack" % t["id"])
    assert status == 409 and "already" in doc["error"], doc
    status, doc = op.post("/api/tickets/99999/ack")
    assert status == 404, doc
    # every recorder the checker has seen, the real one with its console
    recs = {x["id"]: x for x in wait_until(
        lambda: len(op.get("/api/recorders")[1]) >= 2 and op.get("/api/recorders")[1], 30,
        what="both recorders in the console")}
    assert recs["rec-far"]["site"] == "Far site" and recs["rec-far"]["cameras_down"] == 1, recs
    real = [x for x in recs.values() if x["id"] != "rec-far"][0]
    assert real["state"] == "online" and real["cameras"] == 1, real
    assert real["console_url"] == "http://console.zone1.example:8080/", real

    # holds
    segs = [s for s in segments(config) if s["end"]]
    frm, to = segs[0]["start"], segs[-1]["end"]
    status, hold = op.post("/api/holds", {"camera": "c1", "from": frm, "to": to,
                                          "reason": "case 2026-118"})
    assert status == 201 and hold["id"] > 0, hold
    code, out, _ = vigil("hold", "-c", config, "list", "--json")
    assert any(h["id"] == hold["id"] for h in json.loads(out)), out
    status, doc = op.post("/api/holds/%d/release" % hold["id"], {})
    assert status == 400 and "reason" in doc["error"], doc
    status, doc = op.post("/api/holds/%d/release" % hold["id"], {"reason": "case closed"})
    assert status == 200 and doc["released"], doc

    # exports: the MP4 and its manifest, the hash of one the other's
    status, exp = op.post("/api/exports", {"camera": "c1", "from": frm, "to": to})
    assert status == 201, exp
    status, body, headers = op.request("GET", "/api/exports/%d/file" % exp["id"], raw=True)
    assert status == 200 and headers["content-type"] == "video/mp4", headers
    assert hashlib.sha256(body).hexdigest() == exp["sha256"]
    status, manifest = op.get("/api/exports/%d/manifest" % exp["id"])
    assert status == 200 and manifest["output"]["sha256"] == exp["sha256"], manifest
    assert [e["sha256"] for e in op.get("/api/exports")[1]] == [exp["sha256"]]
    assert [e["id"] for e in op.get("/api/exports")[1]] == [exp["id"]]
    status, doc = op.get("/api/exports/77/file")
    assert status == 404, doc

    # watching footage is a view of that camera and interval
    status, body, headers = op.request("GET", "/api/cameras/c1/video.mp4" +
                                       q(**{"from": frm, "to": to}), raw=True)
    assert status == 200 and headers["content-type"] == "video/mp4" and len(body) > 1000
    # the player's probes and seeks within it are the same viewing
    for rng in ("bytes=0-0", "bytes=1000-1999", "bytes=-500"):
        status, _, _ = op.request("GET", "/api/cameras/c1/video.mp4" +
                                  q(**{"from": frm, "to": to}), headers={"Range": rng}, raw=True)
        assert status == 206, (rng, status)

    # the access log has the login, the view, the hold, the export and the
    # ticket action
    admin = Session(serve.port)
    admin.login("admin", "admin-pass-1")
    status, log = admin.get("/api/access-log" + q(**{"from": iso(time.time() - 3600),
                                                     "to": iso(time.time() + 60)}))
    assert status == 200, log
    actions = [(e["user"], e["action"]) for e in log["entries"]]
    views = [e for e in log["entries"] if e["action"] == "view" and e["user"] == "op"]
    assert len(views) == 1 and views[0]["camera"] == "c1", views
    for want in [("op", "login"), ("op", "ticket-ack"), ("op", "hold-add"),
                 ("op", "hold-release"), ("op", "export")]:
        assert want in actions, (want, actions)
    status, doc = op.get("/api/access-log" + q(**{"from": frm, "to": to}))
    assert status == 403, doc
    chk.stop()
    serve.stop()
    rec.stop()


def raw_request(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head else 0
    return status, body, head
