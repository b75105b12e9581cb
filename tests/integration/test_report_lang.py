"""The two languages of what people read.  The printable HTML reports in
Simplified Chinese with `--lang zh-CN` (over footage a real recorder took
from camsim, with a real outage in it) while text, JSON and CSV, which
scripts read, stay English; and the ticket text a technician gets from the
checker with `[tickets] language = zh-CN`: the JSON webhook, a ticket
system's issue (Redmine's API) and the MQTT ticket topic, with the machine
fields (kind, level, state) unchanged."""
import json
import os
import re
import urllib.parse

from harness import Camsim, Recorder, gaps, rfc3339, segments, vigil, wait_until, workdir, write_config
from mqtt_harness import (Broker, Checker, FakeRecorder, Subscriber, WebhookReceiver, events,
                          mqtt_section, tickets)
from test_webhook import TOKEN, delivered_keys, run_flow

HAN = re.compile("[\u4e00-\u9fff]")


def test_html_reports_in_chinese_from_camsim():
    wd = workdir()
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"gate3": {"url": cams.url("cam1"), "location": "Gate 3"}},
                          recorder={"site": "Zone 1"})
    rec = Recorder(config)
    wait_until(lambda: len(segments(config)) >= 1, 30, what="recording")
    cams.down("cam1")
    wait_until(lambda: [g for g in gaps(config) if g["reason"] == "camera-unreachable"], 30,
               what="the outage as a gap")
    cams.up("cam1")
    wait_until(lambda: [g for g in gaps(config) if g["end"]] and
               max([rfc3339(s["end"]) for s in segments(config) if s["end"]] or [0]) >
               max(g["end"] for g in gaps(config) if g["end"]) + 2, 40, what="recording again")
    assert rec.stop() == 0
    segs = [s for s in segments(config) if s["end"]]
    start, end = min(s["start"] for s in segs), max(s["end"] for s in segs)
    env = dict(os.environ, TZ="UTC")
    base = ["report", "continuity", "-c", config, "--from", start, "--to", end, "--now", end]

    code, zh, err = vigil(*base, "--format", "html", "--lang", "zh-CN", env=env)
    assert code == 1, err  # there is a gap
    assert '<html lang="zh-CN">' in zh
    for label in ("<h1>连续性报告</h1>", "<th>摄像机</th>", "<th>已录制</th>", "<th>覆盖率</th>",
                  "<th>结论</th>", "有中断", "<th>开始</th>", "<th>结束</th>", "<th>时长</th>",
                  "<th>原因</th>", "<th>详情</th>", "<td>摄像机无法连接</td>", "（当地时间）"):
        assert label in zh, label
    # the machine values a page's scripts or styles read stay as they are
    assert 'data-reason="camera-unreachable"' in zh and 'class="bad"' in zh
    assert "Continuity report" not in zh and "<th>camera</th>" not in zh

    code, en, err = vigil(*base, "--format", "html", env=env)
    assert code == 1, err
    assert '<html lang="en">' in en and "<h1>Continuity report</h1>" in en
    assert "<td>camera-unreachable</td>" in en and not HAN.search(en)
    # --lang en is the default
    assert vigil(*base, "--format", "html", "--lang", "en", env=env)[1] == en

    # what scripts read is the same in any language (but for the instant
    # each was made: the clock of --now goes on)
    for fmt in ("json", "csv", "text"):
        plain = vigil(*base, "--format", fmt, env=env)[1]
        other = vigil(*base, "--format", fmt, "--lang", "zh-CN", env=env)[1]
        if fmt == "json":
            plain, other = json.loads(plain), json.loads(other)
            assert plain.pop("generated") and other.pop("generated")
            plain, other = json.dumps(plain), json.dumps(other)
        assert re.sub(r"\.\d+Z", "Z", other) == re.sub(r"\.\d+Z", "Z", plain), (fmt, other)
        assert not HAN.search(other), fmt

    # the other pages speak Chinese too
    code, ret, err = vigil("report", "retention", "-c", config, "--now", end, "--format",
                           "html", "--lang", "zh-Hans", env=env)
    assert code == 0, err
    assert "<h1>录像保留报告</h1>" in ret and "不适用" in ret and "<th>摄像机</th>" in ret
    code, week, err = vigil("report", "inspection", "-c", config, "--week", week_of(end),
                            "--now", end, "--format", "html", "--lang", "zh", env=env)
    assert code == 0, err
    assert "每周巡检记录" in week and "（摄像机无法连接）" in week and "Gate 3" in week
    assert "巡检人" in week and "Inspected by" not in week

    code, _, err = vigil(*base, "--format", "html", "--lang", "fr", env=env)
    assert code == 2 and "--lang: 'fr' is not en or zh-CN" in err, err


def week_of(rfc):
    from datetime import datetime
    y, w, _ = datetime.fromisoformat(rfc.replace("Z", "+00:00")).isocalendar()
    return "%d-W%02d" % (y, w)


def test_ticket_text_in_chinese_json_webhook_and_mqtt():
    wd = workdir()
    bodies = []

    def respond(req):
        bodies.append(req["body"])
        return 200, {"ok": True}, 0

    rx = WebhookReceiver(respond)
    broker = Broker(wd)
    sub = Subscriber(broker, "vigil/tickets/#")
    config = write_config(wd, {}, mqtt=mqtt_section(broker),
                          checker={"grace_seconds": "60", "clear_seconds": "120"},
                          tickets={"webhook_url": rx.url, "webhook_format": "json",
                                   "token_env": "WH_TOKEN", "language": "zh-CN"})
    chk = Checker(config, env=dict(os.environ, WH_TOKEN=TOKEN, VIGIL_TIME_SCALE="1000"))
    chk.wait_log("mqtt: connected")
    fake = FakeRecorder(broker, "rec7", site="Zone 1 bonded warehouse")
    fake.status("online")
    fake.health()
    fake.camera("gate3", "down", location="Gate 3 inbound lane", gap_age=0.5,
                last_error="cannot connect: Connection refused")
    ticket = wait_until(lambda: tickets(config), 20, what="a ticket")[0]
    fake.camera("gate3", "recording", location="Gate 3 inbound lane", since_age=0.1)
    wait_until(lambda: tickets(config)[0]["state"] == "resolved", 20, what="resolved")
    wait_until(lambda: all(e["key"] in delivered_keys(config) for e in events(config)), 20,
               what="every event delivered")
    assert chk.stop() == 0
    evs = events(config)
    assert bodies and len(bodies) == len(evs), (len(bodies), evs)
    opened = [b for b in bodies if b["event"]["kind"] == "opened"][0]
    text = opened["text"]
    assert text.startswith("摄像机 gate3（Gate 3 inbound lane，Zone 1 bonded warehouse） 自 "), text
    assert "起离线，已持续" in text and "cannot connect" in text, text
    assert opened["ticket"]["text"] == text
    # machine fields as in English
    t = opened["ticket"]
    assert t["kind"] == "camera-down" and t["state"] == "open" and t["camera"] == "gate3"
    assert opened["event"]["kind"] == "opened" and isinstance(t["level"], int)
    resolved = [b for b in bodies if b["event"]["kind"] == "resolved"][-1]
    assert resolved["ticket"]["state"] == "resolved"
    assert "期间离线（" in resolved["text"], resolved["text"]
    # the MQTT ticket topic carries the same Chinese text
    msgs = [m for m in sub.json("vigil/tickets/%d" % ticket["id"]) if "text" in m]
    assert msgs, sub.all()
    assert all(m["text"].startswith("摄像机 gate3（") for m in msgs), msgs
    assert {m["kind"] for m in msgs} == {"camera-down"}
    assert msgs[-1]["state"] == "resolved"
    # the SLA page in Chinese lists the ticket in Chinese
    y, m = int(ticket["opened"][:4]), int(ticket["opened"][5:7])
    code, sla, err = vigil("report", "sla", "-c", config, "--quarter",
                           "%dQ%d" % (y, (m - 1) // 3 + 1), "--format", "html", "--lang", "zh-CN",
                           env=dict(os.environ, TZ="UTC"))
    assert code == 0, err
    for label in ("<h1>季度服务水平报告：", "得分", "<h2>扣分</h2>", "响应超时（目标 10 分钟）",
                  "<th>工单</th>", "摄像机 gate3（Gate 3 inbound lane"):
        assert label in sla, (label, sla)
    assert "SLA report" not in sla and "Camera gate3" not in sla
    # what a person asks the command line for stays English
    code, out, err = vigil("tickets", "-c", config, "show", str(ticket["id"]))
    assert code == 0 and "Camera gate3 (Gate 3 inbound lane" in out, out


def test_ticket_system_issue_in_chinese():
    """Redmine's issue: the subject, the description's labels and the notes
    of each update in Chinese; the marker lines that find a lost creation
    again stay as they are."""
    wd = workdir()
    state = {"errors": [], "notes": []}

    def respond(req):
        h, m, b = req["headers"], req["method"], req["body"]
        url = urllib.parse.urlsplit(req["path"])
        try:
            assert h.get("x-redmine-api-key") == TOKEN
            if url.path == "/issues.json" and m == "POST":
                i = b["issue"]
                state["subject"], state["description"] = i["subject"], i["description"]
                return 201, {"issue": {"id": 99}}, 0
            if url.path == "/issues/99.json" and m == "PUT":
                state["notes"].append(b["issue"]["notes"])
                return 204, None, 0
            raise AssertionError("unexpected %s %s" % (m, req["path"]))
        except AssertionError as e:
            state["errors"].append(str(e))
            return 422, {"errors": [str(e)]}, 0

    rx = WebhookReceiver(respond)
    config, ticket, evs = run_flow(wd, "redmine", rx, "/", project="cctv", language="zh-CN")
    assert state["errors"] == [], state["errors"]
    assert state["subject"] == \
        "vigil #1：摄像机 gate3 离线（Gate 3 inbound lane，Zone 1 bonded warehouse）", state
    d = state["description"]
    for label in ("录像机：rec7", "摄像机：gate3", "站点：Zone 1 bonded warehouse",
                  "安装位置：Gate 3 inbound lane", "故障等级：", "故障开始："):
        assert label in d, (label, d)
    assert "vigil ticket: vigil-" in d and "vigil event: " in d, d
    assert "Recorder:" not in d and "Level:" not in d
    notes = state["notes"]
    assert any(n.startswith("已升级为 ") for n in notes), notes
    assert any(n.startswith("已由 ana 确认：on my way。") for n in notes), notes
    assert any(n.startswith("已由 checker 处理完毕") for n in notes), notes
    assert ticket["external_id"] == "99"
