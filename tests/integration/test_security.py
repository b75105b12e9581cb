"""Security (issue 5, promise 7), against real components: camsim asking for
credentials, a mosquitto that requires TLS and a username/password, the
checker, a webhook receiver.

- The canary password `Cn@ry!%/:` (every URL-special character) is every
  credential of the run: the cameras' (from the environment, inline
  percent-encoded, from a file, and a wrong one that is refused), the
  broker's (recorder and checker) and the webhook token.  Its raw,
  percent-encoded and base64 forms (alone and as user:password) must appear
  nowhere: not in the recorder's or the checker's log at debug level
  (libavformat's own lines included), not in any MQTT payload or topic, not
  in a ticket, a webhook body, a report in any format, the output of verify,
  export and its manifest, segments, config check, not in the catalog or
  ticket database files, and not in the process titles (/proc/PID/cmdline,
  every thread's comm).  test_credentials.py has the cameras' first pass.
- TLS and username/password: the broker accepts the right ones over TLS;
  a wrong password, no password, or no TLS are refused, and recording does
  not care.
- Root: `vigil record` refuses to run as root unless the config allows it
  or names a user; with `[recorder] user = nobody` it reads what it needs
  as root (a password file only root can read), then runs as nobody with
  no capabilities, and its footage is nobody's, files 0640, folders 0750.
"""
import base64
import glob
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import threading
import time
import urllib.parse

from harness import (Camsim, Recorder, catalog_path, footage_files, secret_forms, segments, start,
                     vigil, wait_until, workdir, write_config)
from mqtt_harness import (Broker, Checker, FakeRecorder, WebhookReceiver, make_tls, mqtt_section,
                          tickets)
from test_faults_camera import all_gaps, holes, open_gap_start, resumed_at

CANARY = "Cn@ry!%/:"
CAM_USER = "viewer"
MQTT_USER = "vigil"


def forms():
    f = secret_forms(CAM_USER, CANARY) | secret_forms(MQTT_USER, CANARY)
    f.add(base64.b64encode(CANARY.encode()).decode())  # with its padding
    return f


def proc_titles(pid):
    """What `ps` shows of a process: its command line and every thread's name."""
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        text = f.read().replace(b"\0", b" ").decode(errors="replace")
    for comm in glob.glob("/proc/%d/task/*/comm" % pid):
        try:
            with open(comm) as f:
                text += "\n" + f.read()
        except OSError:
            pass
    return text


class TlsSubscriber:
    """mosquitto_sub over TLS with a username and password: every message."""

    def __init__(self, broker, ca, user, password):
        self.lines = []
        log = os.path.join(broker.wd, "tls-sub.log")
        self.proc = start(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "--cafile", ca,
                           "-u", user, "-P", password, "-t", "vigil/#", "-q", "1", "-v"], log,
                          stdout=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace"))

    def text(self):
        return "".join(self.lines)


def read_bytes(path):
    out = ""
    for p in (path, path + "-wal", path + "-shm"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                out += f.read().decode("latin-1")
    return out


def test_canary_appears_nowhere():
    wd = workdir()
    tls = make_tls(wd)
    broker = Broker(wd, users={MQTT_USER: CANARY}, tls=tls)
    cams = Camsim(wd, cameras=3, extra=["--user", CAM_USER, "--password", CANARY])
    files = {}
    for name in ("cam3.pass", "mqtt.pass", "webhook.token"):
        files[name] = os.path.join(wd, name)
        with open(files[name], "w") as f:
            f.write(CANARY + "\n")
        os.chmod(files[name], 0o600)
    hook = WebhookReceiver(lambda req: (200, {"ok": True}, 0))
    env = dict(os.environ, CAM1_PASS=CANARY, WRONG_PASS="not-" + CANARY)
    with_user = lambda url: url.replace("rtsp://", "rtsp://%s@" % CAM_USER)
    config = write_config(
        wd, {
            "cam1": {"url": with_user(cams.url("cam1")), "password_env": "CAM1_PASS"},
            "cam2": cams.url("cam2", CAM_USER, CANARY),
            "cam3": {"url": cams.url("cam3"), "username": CAM_USER, "password_file": files["cam3.pass"]},
            "cam4": {"url": with_user(cams.url("cam1")), "password_env": "WRONG_PASS"},
        },
        mqtt=mqtt_section(broker, username=MQTT_USER, password_file=files["mqtt.pass"],
                          tls_ca=tls["ca"]),
        checker={"grace_seconds": "1", "clear_seconds": "1"},
        tickets={"webhook_url": hook.url + "/events", "webhook_format": "json",
                 "token_file": files["webhook.token"], "timeout_seconds": "3"})
    sub = TlsSubscriber(broker, tls["ca"], MQTT_USER, CANARY)
    rec = Recorder(config, env=env, args=["-v"])
    chk = Checker(config, env=env, args=["-v"])
    rec.wait_log("mqtt: connected to broker", timeout=20)
    chk.wait_log("mqtt: connected to broker", timeout=20)
    wait_until(lambda: {s["camera"] for s in segments(config)} >= {"cam1", "cam2", "cam3"}, 40,
               what="the cameras with the right password recording")
    # an outage, for tickets, webhooks and the reports to have something to say
    cams.down("cam2")
    wait_until(lambda: open_gap_start(config, "cam2") is not None, 10)
    wait_until(lambda: [t for t in tickets(config) if t["camera"] == "cam4"], 40,
               what="a ticket for the camera that refuses the password")
    time.sleep(3)
    cams.up("cam2")
    wait_until(lambda: resumed_at(config, "cam2"), 20)
    wait_until(lambda: hook.all(), 20, what="a webhook delivery")
    titles = {"recorder process": proc_titles(rec.proc.pid),
              "checker process": proc_titles(chk.proc.pid)}
    time.sleep(2)
    assert rec.stop() == 0
    assert chk.stop() == 0
    hook.close()

    outputs = dict(titles)
    outputs["recorder log"] = rec.log_text()
    outputs["checker log"] = chk.log_text()
    outputs["mqtt"] = sub.text()
    outputs["webhook bodies"] = "\n".join(json.dumps(r["body"]) + r["path"] for r in hook.all())
    segs = segments(config)
    t0, t1 = min(s["start"] for s in segs), max(s["end"] for s in segs)
    commands = [("config", "check", "-c", config), ("segments", "-c", config),
                ("segments", "-c", config, "--json"),
                ("verify", "-c", config), ("verify", "-c", config, "--json"),
                ("tickets", "-c", config, "list", "--all"),
                ("tickets", "-c", config, "list", "--all", "--json")]
    for fmt in ("text", "json", "csv", "html"):
        commands.append(("report", "continuity", "-c", config, "--from", t0, "--to", t1,
                         "--format", fmt))
        commands.append(("report", "retention", "-c", config, "--format", fmt))
    quarter = time.strftime("%YQ", time.gmtime()) + str((time.gmtime().tm_mon - 1) // 3 + 1)
    week = time.strftime("%G-W%V", time.gmtime())
    for fmt in ("text", "json", "html"):
        commands.append(("report", "sla", "-c", config, "--quarter", quarter, "--format", fmt))
        commands.append(("report", "inspection", "-c", config, "--week", week, "--format", fmt))
    for t in tickets(config):
        commands.append(("tickets", "-c", config, "show", str(t["id"])))
        commands.append(("tickets", "-c", config, "show", str(t["id"]), "--json"))
    export = os.path.join(wd, "cam2.mp4")
    commands.append(("export", "-c", config, "--camera", "cam2", "--from", t0, "--to", t1, "-o", export))
    commands.append(("verify", "-c", config, "--export", export, "--json"))
    for args in commands:
        code, out, err = vigil(*args, env=env)
        assert code in (0, 1), (args, code, err)
        outputs["vigil " + " ".join(a for a in args if a != config)] = out + err
    with open(export + ".manifest.json") as f:
        outputs["export manifest"] = f.read()
    outputs["catalog"] = read_bytes(catalog_path(config))
    for db in glob.glob(os.path.join(wd, "footage", "tickets.db")):
        outputs["ticket database"] = read_bytes(db)

    found = [(form, where) for where, text in outputs.items() for form in forms() if form in text]
    assert not found, "the canary leaked: %s" % found
    # the checks saw what they were meant to see
    assert "rtsp://viewer:***@127.0.0.1" in outputs["vigil config check -c"]
    assert "refused the credentials" in outputs["recorder log"] or "401" in outputs["recorder log"]
    assert '"camera": "cam4"' in outputs["vigil tickets -c list --all --json"] or \
        '"camera":"cam4"' in outputs["vigil tickets -c list --all --json"]
    assert "/camera/cam1/health" in outputs["mqtt"] and hook.all()
    cont = json.loads(next(v for k, v in outputs.items()
                           if k.startswith("vigil report continuity") and k.endswith("json")))
    assert [c for c in cont["cameras"] if c["camera"] == "cam2" and c["gaps"]], cont
    print("FIGURE canary: %d surfaces checked (logs, process titles, MQTT, webhook bodies, "
          "tickets, reports, verify, export, catalog and ticket files), %d forms, 0 hits" % (
              len(outputs), len(forms())))


test_canary_appears_nowhere.timeout = 300
test_canary_appears_nowhere.weight = 4


def test_broker_requires_tls_and_password():
    """Over TLS with the right username and password the recorder publishes;
    a wrong password, none, or no TLS are refused by the broker and said in
    the log, and recording never notices."""
    wd = workdir()
    tls = make_tls(wd)
    broker = Broker(wd, users={MQTT_USER: CANARY}, tls=tls)
    cams = Camsim(wd, cameras=1)
    variants = {
        "right": {"username": MQTT_USER, "password_env": "MQ_PASS", "tls_ca": tls["ca"]},
        "wrong": {"username": MQTT_USER, "password_env": "MQ_WRONG", "tls_ca": tls["ca"]},
        "none": {"tls_ca": tls["ca"]},
        "plain": {"username": MQTT_USER, "password_env": "MQ_PASS"},
    }
    env = dict(os.environ, MQ_PASS=CANARY, MQ_WRONG="x" + CANARY)
    recs = {}
    sub = TlsSubscriber(broker, tls["ca"], MQTT_USER, CANARY)
    for name, keys in variants.items():
        d = os.path.join(wd, name)
        os.makedirs(d)
        config = write_config(d, {"cam1": cams.url("cam1")},
                              recorder={"id": "rec-" + name},
                              mqtt=mqtt_section(broker, **keys))
        recs[name] = (config, Recorder(config, env=env))
    recs["right"][1].wait_log("mqtt: connected to broker", timeout=20)
    wait_until(lambda: "vigil/rec-right/camera/cam1/health" in sub.text(), 20,
               what="health over TLS with a password")
    for name in ("wrong", "none", "plain"):
        recs[name][1].wait_log("cannot connect to broker", timeout=20)
    time.sleep(6)
    for name, (config, rec) in recs.items():
        assert rec.stop() == 0, name
        log = rec.log_text()
        if name != "right":
            assert "mqtt: connected to broker" not in log, (name, log[-2000:])
        # recording never noticed the broker
        segs = segments(config)
        assert segs and holes(segs, "cam1") == [] and all_gaps(config) == [], name
        for form in forms():
            assert form not in log, (name, form)
    assert "rec-wrong" not in sub.text() and "rec-none" not in sub.text()
    assert "rec-plain" not in sub.text()


test_broker_requires_tls_and_password.timeout = 180
test_broker_requires_tls_and_password.weight = 2


def test_root_refused_or_privileges_dropped():
    assert os.geteuid() == 0, "this test needs root (CI runs as root)"
    nobody = pwd.getpwnam("nobody")
    wd = workdir()
    os.chmod(wd, 0o755)  # nobody must reach its storage under it
    cams = Camsim(wd, cameras=1, extra=["--user", CAM_USER, "--password", CANARY])
    pw_file = os.path.join(wd, "cam.pass")
    with open(pw_file, "w") as f:
        f.write(CANARY + "\n")
    os.chmod(pw_file, 0o600)  # root's only: read before the drop

    # neither allow_root nor user: refused, nothing created, no camera contacted
    refused = write_config(wd, {"cam1": {"url": cams.url("cam1"), "username": CAM_USER,
                                         "password_file": pw_file}},
                           name="refused.ini", recorder={"allow_root": "false"},
                           storage={"path": os.path.join(wd, "refused-footage")})
    code, out, err = vigil("record", "-c", refused, timeout=30)
    assert code != 0 and "refusing to run as root" in err, (code, err)
    assert not os.path.exists(os.path.join(wd, "refused-footage"))
    # a user that does not exist: refused too
    ghost = write_config(wd, {"cam1": cams.url("cam1")}, name="ghost.ini",
                         recorder={"allow_root": "false", "user": "no-such-user-vigil"},
                         storage={"path": os.path.join(wd, "ghost-footage")})
    code, out, err = vigil("record", "-c", ghost, timeout=30)
    assert code != 0 and "does not exist" in err, (code, err)

    # user = nobody, with a storage folder nobody owns
    storage = os.path.join(wd, "footage")
    os.makedirs(storage, mode=0o750)
    os.chown(storage, nobody.pw_uid, nobody.pw_gid)
    config = write_config(wd, {"cam1": {"url": cams.url("cam1"), "username": CAM_USER,
                                        "password_file": pw_file}},
                          recorder={"allow_root": "false", "user": "nobody"},
                          storage={"path": storage})
    os.chmod(config, 0o600)  # root reads the config before the drop too
    rec = Recorder(config)
    rec.wait_log("running as user 'nobody'", timeout=20)
    wait_until(lambda: segments(config), 30, what="recording as nobody")
    with open("/proc/%d/status" % rec.proc.pid) as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    uids = status["Uid"].split()
    gids = status["Gid"].split()
    assert uids == [str(nobody.pw_uid)] * 4, status["Uid"]
    assert gids == [str(nobody.pw_gid)] * 4, status["Gid"]
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0, status
    groups = status.get("Groups", "").split()
    assert "0" not in groups, groups
    time.sleep(5)
    assert rec.stop() == 0
    files = footage_files(storage)
    assert files
    for path in files + [catalog_path(config)]:
        st = os.stat(path)
        assert st.st_uid == nobody.pw_uid, path
    for path in files:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640, path
        d = os.path.dirname(path)
        while d != storage:
            assert stat.S_IMODE(os.stat(d).st_mode) == 0o750, d
            assert os.stat(d).st_uid == nobody.pw_uid, d
            d = os.path.dirname(d)
    for form in forms():
        assert form not in rec.log_text()
    shutil.rmtree(storage, ignore_errors=True)


test_root_refused_or_privileges_dropped.timeout = 120


def outbox_errors(config):
    import sqlite3
    from mqtt_harness import ticket_db
    db = sqlite3.connect("file:%s?mode=ro" % ticket_db(config), uri=True, timeout=10)
    try:
        return [r[0] for r in db.execute("SELECT last_error FROM outbox").fetchall()]
    finally:
        db.close()


def test_ticket_system_answers_cannot_steer_requests():
    """What a ticket system answers goes into URL paths and headers: a GLPI
    imitation (a real one cannot be made to) answers a session token with a
    CR/LF and a header after it, then a ticket id that climbs the path.
    Neither may reach a request: no injected header, no path but the API's,
    and the outbox says why."""
    wd = workdir()
    hostile_id = "42/../../User/1?x="
    seen = {"init": 0}

    def respond(req):
        p, m = req["path"], req["method"]
        if p.endswith("/initSession"):
            seen["init"] += 1
            tok = "sess-1\r\nX-Injected: yes" if seen["init"] == 1 else "sess-%d" % seen["init"]
            return 200, {"session_token": tok}, 0
        if p.endswith("/killSession"):
            return 200, [], 0
        if p.endswith("/Ticket") and m == "POST":
            return 201, {"id": hostile_id, "message": ""}, 0
        if "/search/Ticket" in p:
            return 200, {"totalcount": 1, "data": [{"2": hostile_id}]}, 0
        return 404, {"error": "no such thing"}, 0

    rx = WebhookReceiver(respond)
    broker = Broker(wd)
    config = write_config(wd, {}, mqtt=mqtt_section(broker),
                          checker={"grace_seconds": "60", "clear_seconds": "120"},
                          tickets={"webhook_url": rx.url + "/apirest.php", "webhook_format": "glpi",
                                   "token_env": "WH_TOKEN", "app_token": "APP-1",
                                   "timeout_seconds": "2"})
    env = dict(os.environ, WH_TOKEN="tok-S3cret/9+x", VIGIL_TIME_SCALE="1000")
    chk = Checker(config, env=env)
    chk.wait_log("mqtt: connected")
    fake = FakeRecorder(broker, "rec7")
    fake.status("online")
    fake.health()
    fake.camera("gate3", "down", gap_age=0.5, last_error="cannot connect: Connection refused")
    # the hostile session, then a creation whose id is refused, then the
    # retry's search that answers the same id
    wait_until(lambda: len(rx.all()) >= 7, 30, what="seven requests to the ticket system")
    reqs = rx.all()
    for r in reqs:
        assert "x-injected" not in r["headers"], r
        assert "\r" not in r["headers"].get("session-token", "") and \
            "\n" not in r["headers"].get("session-token", ""), r
        assert ".." not in r["path"] and "/User" not in r["path"], r["path"]
        assert r["path"].split("?")[0] in ("/apirest.php/initSession", "/apirest.php/killSession",
                                           "/apirest.php/Ticket", "/apirest.php/search/Ticket"), r
    assert any("/search/Ticket" in r["path"] for r in reqs), "the retry looks for the ticket"
    wait_until(lambda: any("not a plain token" in e for e in outbox_errors(config)), 10,
               what="the refused id in the outbox")
    assert chk.stop() == 0
    # the first session was refused before any use of it
    assert not any(r["headers"].get("session-token", "").startswith("sess-1") for r in reqs)
    assert "session_token with spaces or control characters" in chk.log_text()
    assert all(not t["external_id"] for t in tickets(config)), tickets(config)
    # nothing created twice: one creation, then searches
    assert sum(1 for r in reqs if r["method"] == "POST") == 1, reqs
    rx.close()


class ControlCamera:
    """A loopback RTSP server whose words carry control characters: an ESC
    that clears a terminal, a BEL, a C1 CSI, and a reason phrase and SDP
    that would start a forged log line if CR/LF were let through.  The
    first connection is refused with such a reason phrase; the later ones
    are described with such an SDP (an unknown codec: the lean client
    hands it to libavformat, which echoes it too) and refused at SETUP."""

    EVIL = b"\x1b[2J\x07\xc2\x9b31m"

    def __init__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = "rtsp://127.0.0.1:%d/live" % self.port
        self.connections = 0
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn, self.connections), daemon=True).start()

    def _talk(self, conn, n):
        data = b""
        conn.settimeout(10)
        try:
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                head, data = data.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                method = lines[0].split(b" ")[0]
                cseq = b"0"
                for l in lines[1:]:
                    if l.lower().startswith(b"cseq:"):
                        cseq = l.split(b":", 1)[1].strip()
                if method == b"OPTIONS":
                    conn.sendall(b"RTSP/1.0 200 OK\r\nCSeq: " + cseq +
                                 b"\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n")
                elif method == b"DESCRIBE" and n == 1:
                    conn.sendall(b"RTSP/1.0 404 Not" + self.EVIL + b" Found\r\nCSeq: " + cseq +
                                 b"\r\n\r\n")
                elif method == b"DESCRIBE":
                    sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Cam" + self.EVIL +
                           b"\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 EV" + self.EVIL +
                           b"IL/90000\r\na=control:trackID=0\r\n")
                    conn.sendall(b"RTSP/1.0 200 OK\r\nCSeq: " + cseq +
                                 b"\r\nContent-Type: application/sdp\r\nContent-Base: " +
                                 self.url.encode() + b"/\r\nContent-Length: " +
                                 str(len(sdp)).encode() + b"\r\n\r\n" + sdp)
                else:
                    conn.sendall(b"RTSP/1.0 461 Unsupported" + self.EVIL + b" Transport\r\nCSeq: "
                                 + cseq + b"\r\n\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stopped = True
        self.sock.close()


def test_camera_text_reaches_no_log_or_gap_with_its_controls():
    """What a camera says (reason phrases, SDP) is echoed into log lines and
    gap details: none of its control characters may get there."""
    wd = workdir()
    cam = ControlCamera()
    config = write_config(wd, {"evil": cam.url}, recorder={"reconnect_max_seconds": "1"})
    rec = Recorder(config, args=["-v"])
    wait_until(lambda: cam.connections >= 4, 30, what="the camera asked again and again")
    rec.wait_log("Not?[2J??", timeout=20)
    assert rec.stop() == 0
    cam.close()
    with open(rec.log, "rb") as f:
        log = f.read()
    for bad in (b"\x1b", b"\x07", b"\xc2\x9b", b"\r"):
        assert bad not in log, "%r in the recorder log" % bad
    # every line is one of vigil's, none started by the camera
    for line in log.decode("utf-8", "replace").splitlines():
        assert re.match(r"\d{4}-\d\d-\d\dT", line) or line.startswith(config) or \
            not line.strip(), line
    gaps = all_gaps(config)
    assert gaps and all(g["reason"] for g in gaps), gaps
    for g in gaps:
        assert not any(ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f for ch in g["detail"] or ""), g


test_camera_text_reaches_no_log_or_gap_with_its_controls.san = True
test_ticket_system_answers_cannot_steer_requests.san = True
