"""The webhook sink against loopback receivers that check each request the
way the real service would (method, path, headers, body) and answer like
it: plain JSON events with idempotency keys and retries, and the ticket
APIs of GLPI, Zammad and Redmine, including a creation that times out
(the retry must find the ticket, not make a second one)."""
import os
import time
import urllib.parse

from harness import vigil, wait_until, workdir, write_config
from mqtt_harness import Broker, Checker, FakeRecorder, WebhookReceiver, events, mqtt_section, tickets

TOKEN = "tok-S3cret/9+x"
SCALE = 1000


def run_flow(wd, fmt, receiver, path="", **tickets_cfg):
    """A camera down long enough for level 3, acknowledged, then back up:
    opened, escalated, acknowledged, resolved."""
    broker = Broker(wd)
    cfg = {"webhook_url": receiver.url + path, "webhook_format": fmt, "token_env": "WH_TOKEN",
           "timeout_seconds": "2"}
    cfg.update(tickets_cfg)
    config = write_config(wd, {}, mqtt=mqtt_section(broker),
                          checker={"grace_seconds": "60", "clear_seconds": "120"}, tickets=cfg)
    env = dict(os.environ, WH_TOKEN=TOKEN, VIGIL_TIME_SCALE=str(SCALE))
    chk = Checker(config, env=env)
    chk.wait_log("mqtt: connected")
    fake = FakeRecorder(broker, "rec7", site="Zone 1 bonded warehouse")
    fake.status("online")
    fake.health()  # its interval is an hour: no silence during the test
    fake.camera("gate3", "down", location="Gate 3 inbound lane", gap_age=0.5,
                last_error="cannot connect: Connection refused")
    t = wait_until(lambda: [x for x in tickets(config) if x["level"] <= 3], 20,
                   what="the ticket at level 3")[0]
    code, out, err = vigil("tickets", "-c", config, "ack", str(t["id"]), "--by", "ana",
                           "--note", "on my way")
    assert code == 0, err
    fake.camera("gate3", "recording", location="Gate 3 inbound lane", since_age=0.1)
    wait_until(lambda: tickets(config)[0]["state"] == "resolved", 20, what="resolved")
    # everything delivered: the outbox is empty
    wait_until(lambda: all(e["key"] in delivered_keys(config) for e in events(config)), 20,
               what="every event delivered")
    assert chk.stop() == 0
    log = chk.log_text()
    for form in (TOKEN, urllib.parse.quote(TOKEN, safe="")):
        assert form not in log, "the token is in the checker's log"
    return config, tickets(config)[0], events(config)


def delivered_keys(config):
    import sqlite3
    from mqtt_harness import ticket_db
    db = sqlite3.connect("file:%s?mode=ro" % ticket_db(config), uri=True, timeout=10)
    try:
        rows = db.execute("SELECT e.idempotency_key FROM outbox o JOIN ticket_event e "
                          "ON e.id = o.event_id WHERE o.delivered_us IS NOT NULL").fetchall()
    finally:
        db.close()
    return {r[0] for r in rows}


def check_event_order(kinds):
    assert kinds[0] == "opened" and kinds[-1] == "resolved", kinds
    assert "acknowledged" in kinds and "escalated" in kinds, kinds


def test_json_webhook_with_retry_and_idempotency_keys():
    wd = workdir()
    seen = {}

    def respond(req):
        if not respond.failed:  # the first delivery fails
            respond.failed = True
            return 500, {"error": "try again"}, 0
        key = req["headers"].get("idempotency-key")
        if key in seen:
            return 409, {"error": "duplicate"}, 0
        seen[key] = req
        return 200, {"ok": True}, 0

    respond.failed = False
    rx = WebhookReceiver(respond)
    config, ticket, evs = run_flow(wd, "json", rx, "/hooks/vigil")
    reqs = rx.all()
    for r in reqs:
        assert r["method"] == "POST" and r["path"] == "/hooks/vigil", r
        h = r["headers"]
        assert h["content-type"] == "application/json"
        assert h["authorization"] == "Bearer " + TOKEN
        assert h["idempotency-key"] == r["body"]["idempotency_key"]
        assert h["user-agent"].startswith("vigil/")
        b = r["body"]
        assert b["source"] == "vigil" and b["event"]["key"] == b["idempotency_key"]
        assert b["ticket"]["id"] == ticket["id"] and b["ticket"]["camera"] == "gate3"
        assert "Gate 3 inbound lane" in b["text"] and "Zone 1 bonded warehouse" in b["text"]
        assert TOKEN not in str(b)
    # the first delivery failed (500) and came again, a second later, with its key
    assert reqs[0]["body"]["event"]["kind"] == "opened"
    assert reqs[1]["headers"]["idempotency-key"] == reqs[0]["headers"]["idempotency-key"]
    assert reqs[1]["at"] - reqs[0]["at"] >= 0.9
    # every event once (by key), in order, each with its own key
    keys = [r["headers"]["idempotency-key"] for r in reqs[1:]]
    assert len(keys) == len(set(keys)) == len(evs), (keys, evs)
    assert keys == [e["key"] for e in evs]
    kinds = [r["body"]["event"]["kind"] for r in reqs[1:]]
    check_event_order(kinds)
    ack = [r["body"] for r in reqs if r["body"]["event"]["kind"] == "acknowledged"][0]
    assert ack["event"]["actor"] == "ana" and ack["event"]["note"] == "on my way"
    assert ack["ticket"]["acknowledged_by"] == "ana"


def glpi_receiver():
    state = {"sessions": 0, "killed": 0, "errors": []}

    def respond(req):
        h, p, m = req["headers"], req["path"], req["method"]
        try:
            assert h.get("app-token") == "APP-123", "App-Token missing"
            assert h.get("content-type") == "application/json"
            if p == "/apirest.php/initSession":
                assert m == "GET" and h.get("authorization") == "user_token " + TOKEN
                state["sessions"] += 1
                return 200, {"session_token": "sess-%d" % state["sessions"]}, 0
            assert h.get("session-token") == "sess-%d" % state["sessions"], "Session-Token"
            assert "authorization" not in h, "a session needs no user token"
            if p == "/apirest.php/killSession":
                assert m == "GET"
                state["killed"] += 1
                return 200, [], 0
            if p == "/apirest.php/Ticket" and m == "POST":
                i = req["body"]["input"]
                assert i["name"].startswith("vigil #1: camera gate3 down"), i
                assert "Gate 3 inbound lane" in i["content"] and "Zone 1 bonded warehouse" in i["content"]
                assert h["idempotency-key"] in i["content"]
                assert i["status"] == 1 and i["type"] == 1 and i["urgency"] == 3 and i["priority"] == 3
                return 201, {"id": 42, "message": ""}, 0
            if p == "/apirest.php/Ticket/42" and m == "PUT":
                i = req["body"]["input"]
                assert i["id"] == 42, i
                return 200, [{"42": True, "message": ""}], 0
            raise AssertionError("unexpected %s %s" % (m, p))
        except AssertionError as e:
            state["errors"].append(str(e))
            return 400, {"error": str(e)}, 0

    return state, respond


def test_glpi_ticket_api():
    wd = workdir()
    state, respond = glpi_receiver()
    rx = WebhookReceiver(respond)
    config, ticket, evs = run_flow(wd, "glpi", rx, "/apirest.php", app_token="APP-123")
    assert state["errors"] == [], state["errors"]
    reqs = [r for r in rx.all() if not r["path"].endswith("Session")]
    assert [(r["method"], r["path"]) for r in reqs][0] == ("POST", "/apirest.php/Ticket")
    assert all((r["method"], r["path"]) == ("PUT", "/apirest.php/Ticket/42") for r in reqs[1:])
    assert len(reqs) == len(evs)
    puts = [r["body"]["input"] for r in reqs[1:]]
    assert puts[-1] == {"id": 42, "status": 5}, puts  # solved
    assert {"id": 42, "status": 2} in puts  # acknowledged: processing
    assert {"id": 42, "urgency": 4, "priority": 4} in puts  # level 3
    # a session per delivery, always closed
    assert state["sessions"] == state["killed"] == len(evs)
    assert ticket["external_id"] == "42"


def test_zammad_ticket_api():
    wd = workdir()
    errors = []

    def respond(req):
        h, p, m, b = req["headers"], req["path"], req["method"], req["body"]
        try:
            assert h.get("authorization") == "Token token=" + TOKEN
            assert h.get("content-type") == "application/json"
            if p == "/api/v1/tickets" and m == "POST":
                assert b["title"].startswith("vigil #1: camera gate3 down"), b
                assert b["group"] == "Maintenance" and b["customer_id"] == "guess:ops@example.org"
                assert b["state"] == "new" and b["priority_id"] == 2
                a = b["article"]
                assert a["type"] == "note" and a["internal"] is False
                assert "Gate 3 inbound lane" in a["body"] and h["idempotency-key"] in a["body"]
                return 201, {"id": 7, "number": "31007", "title": b["title"]}, 0
            if p == "/api/v1/tickets/7" and m == "PUT":
                assert b["state"] in ("open", "closed") and b["article"]["body"], b
                return 200, {"id": 7, "state": b["state"]}, 0
            raise AssertionError("unexpected %s %s" % (m, p))
        except AssertionError as e:
            errors.append(str(e))
            return 422, {"error": str(e)}, 0

    rx = WebhookReceiver(respond)
    config, ticket, evs = run_flow(wd, "zammad", rx, project="Maintenance",
                                   customer="ops@example.org")
    assert errors == [], errors
    reqs = rx.all()
    assert [(r["method"], r["path"]) for r in reqs] == \
        [("POST", "/api/v1/tickets")] + [("PUT", "/api/v1/tickets/7")] * (len(evs) - 1)
    assert reqs[-1]["body"]["state"] == "closed"
    assert any(r["body"]["article"]["body"].startswith("Acknowledged by ana: on my way")
               for r in reqs[1:])
    assert ticket["external_id"] == "7"


def redmine_receiver(slow_first_create=False):
    state = {"issues": {}, "posts": 0, "searches": 0, "errors": []}

    def respond(req):
        h, m, b = req["headers"], req["method"], req["body"]
        url = urllib.parse.urlsplit(req["path"])
        try:
            assert h.get("x-redmine-api-key") == TOKEN
            if url.path == "/issues.json" and m == "POST":
                i = b["issue"]
                assert i["project_id"] == "cctv" and i["priority_id"] == 2, i  # level 4
                assert i["subject"].startswith("vigil #1: camera gate3 down")
                assert "Gate 3 inbound lane" in i["description"]
                state["posts"] += 1
                state["issues"][99] = i["description"]
                # the first creation answers too late: the sender gives up
                delay = 3 if slow_first_create and state["posts"] == 1 else 0
                return 201, {"issue": {"id": 99, "subject": i["subject"]}}, delay
            if url.path == "/issues.json" and m == "GET":
                q = urllib.parse.parse_qs(url.query)
                assert q["status_id"] == ["*"]
                mark = q["description"][0]
                assert mark.startswith("~vigil-"), q
                state["searches"] += 1
                found = [{"id": i} for i, d in state["issues"].items() if mark[1:] in d]
                return 200, {"issues": found, "total_count": len(found)}, 0
            if url.path == "/issues/99.json" and m == "PUT":
                assert b["issue"]["notes"], b
                return 204, None, 0
            raise AssertionError("unexpected %s %s" % (m, req["path"]))
        except AssertionError as e:
            state["errors"].append(str(e))
            return 422, {"errors": [str(e)]}, 0

    return state, respond


def test_redmine_issue_api():
    wd = workdir()
    state, respond = redmine_receiver()
    rx = WebhookReceiver(respond)
    config, ticket, evs = run_flow(wd, "redmine", rx, "/", project="cctv")
    assert state["errors"] == [], state["errors"]
    reqs = rx.all()
    assert [(r["method"], r["path"]) for r in reqs] == \
        [("POST", "/issues.json")] + [("PUT", "/issues/99.json")] * (len(evs) - 1)
    statuses = [r["body"]["issue"].get("status_id") for r in reqs[1:]]
    assert statuses[-1] == 3 and 2 in statuses, statuses  # resolved; in progress on ack
    assert ticket["external_id"] == "99"


def test_creation_that_times_out_is_not_repeated():
    wd = workdir()
    state, respond = redmine_receiver(slow_first_create=True)
    rx = WebhookReceiver(respond)
    config, ticket, evs = run_flow(wd, "redmine", rx, "/", project="cctv", timeout_seconds="1")
    assert state["errors"] == [], state["errors"]
    # one creation; the retry searched for the ticket's marker and found it
    assert state["posts"] == 1 and state["searches"] == 1, state
    assert ticket["external_id"] == "99"
    methods = [r["method"] for r in rx.all()]
    assert methods[:2] == ["POST", "GET"] and methods.count("POST") == 1, methods


test_json_webhook_with_retry_and_idempotency_keys.san = True
test_creation_that_times_out_is_not_repeated.san = True


def test_json_webhook_from_a_real_recorder():
    """The whole chain with nothing faked: camsim, `vigil record`, mosquitto,
    `vigil check` and the webhook.  A camera goes down, a person
    acknowledges, the camera comes back: three events, in order, once each."""
    from harness import Camsim, Recorder, segments
    wd = workdir()
    rx = WebhookReceiver(lambda req: (200, {"ok": True}, 0))
    broker = Broker(wd)
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": {"url": cams.url("cam1"), "location": "Gate 3"}},
                          recorder={"site": "Depot"}, retention={"retain_days": "1"},
                          mqtt=mqtt_section(broker, interval_seconds=2),
                          checker={"grace_seconds": "2", "clear_seconds": "2"},
                          tickets={"webhook_url": rx.url + "/hooks/vigil", "webhook_format": "json",
                                   "token_env": "WH_TOKEN", "timeout_seconds": "2"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    env = dict(os.environ, WH_TOKEN=TOKEN)
    chk = Checker(config, env=env)
    rec = Recorder(config, env=env)
    wait_until(lambda: segments(config), 30, what="recording")
    cams.down("cam1")
    t = wait_until(lambda: [x for x in tickets(config) if x["kind"] == "camera-down"], 20,
                   what="a camera-down ticket")[0]
    code, out, err = vigil("tickets", "-c", config, "ack", str(t["id"]), "--by", "ana",
                           "--note", "on my way")
    assert code == 0, err
    cams.up("cam1")
    wait_until(lambda: [x for x in tickets(config) if x["id"] == t["id"] and
                        x["state"] == "resolved"], 30, what="the ticket resolved")
    mine = lambda: [r for r in rx.all() if r["body"]["ticket"]["id"] == t["id"]]
    wait_until(lambda: len(mine()) == 3, 15, what="three deliveries")
    assert chk.stop() == 0 and rec.stop() == 0
    reqs = mine()
    assert [r["body"]["event"]["kind"] for r in reqs] == ["opened", "acknowledged", "resolved"]
    keys = [r["headers"]["idempotency-key"] for r in reqs]
    assert keys == [e["key"] for e in events(config, t["id"])] and len(set(keys)) == 3
    for r in reqs:
        assert r["method"] == "POST" and r["path"] == "/hooks/vigil", r
        assert r["headers"]["authorization"] == "Bearer " + TOKEN
        b = r["body"]
        assert b["ticket"]["recorder"] == rec_id and b["ticket"]["camera"] == "cam1", b
        assert "Gate 3" in b["text"] and "Depot" in b["text"], b
    assert reqs[1]["body"]["event"]["actor"] == "ana"
    assert reqs[2]["body"]["ticket"]["fault_end"] is not None


test_json_webhook_from_a_real_recorder.weight = 2
