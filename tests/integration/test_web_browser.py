"""The web console in a real headless Chromium, against real components:
camsim cameras, `vigil record`, `vigil serve`, accounts made with `vigil
user add`, and for tickets mosquitto and `vigil check`.  A person's steps:
log in, read a camera's timeline with the gap camsim made, click after the
gap and watch the video play, seek across a segment boundary, watch live,
play two cameras at one instant, export and check the download's SHA-256,
acknowledge a ticket, find each recorder of the site on the Recorders page
(its state, its cameras down, the link to its console), read the pages in
Chinese.

Screenshots of the main pages go to $VIGIL_SCREENSHOTS (else the test's
temporary folder) to be looked at.

The browser is required: without chromium and chromedriver (Debian's
`chromium`, `chromium-driver`, `python3-selenium`; tools/install-deps) the
tests fail rather than skip."""
import hashlib
import json
import os
import time

from harness import Recorder, rfc3339, segments, wait_until, workdir
from mqtt_harness import Broker, Checker, FakeRecorder, mqtt_section, tickets
from web_harness import (Console, browser, console_errors, goto, js, login, screenshot,
                         wait_js)

VIDEO_STATE = """
const v = arguments[0] ? document.querySelector(arguments[0]) : document.getElementById('video');
if (!v) return null;
return {t: v.currentTime, w: v.videoWidth, h: v.videoHeight, paused: v.paused,
        error: v.error && v.error.message, wall: v.dataset.wall || null,
        start: v.dataset.start || null, src: v.currentSrc};
"""


def video(d, selector=None):
    return js(d, VIDEO_STATE, selector)


def wait_advancing(d, selector=None, seconds=1.5, timeout=20, what="the video"):
    """Waits until the video plays (its currentTime grows by `seconds`
    between two looks), then returns its state."""
    first = wait_until(lambda: (lambda s: s if s and s["t"] > 0 and not s["error"] else None)(
        video(d, selector)), timeout, what="%s to start" % what)
    wait_until(lambda: video(d, selector)["t"] >= first["t"] + seconds, timeout,
               what="%s to advance %.1f s past %.2f (when it began: %s)" % (
                   what, seconds, first["t"], video(d, selector)))
    state = video(d, selector)
    assert not state["error"], state
    return state


def click_strip_at(d, strip_id, at):
    """Clicks the strip where instant `at` (seconds) is drawn, as a mouse does."""
    from selenium.webdriver.common.action_chains import ActionChains
    el = d.find_element("id", strip_id)
    box = js(d, "const b = arguments[0].getBoundingClientRect(); return [b.width, b.height];", el)
    t0, t1 = rfc3339(el.get_attribute("data-from")), rfc3339(el.get_attribute("data-to"))
    x = (at - t0) / (t1 - t0) * box[0]
    ActionChains(d).move_to_element_with_offset(el, int(x - box[0] / 2), 0).click().perform()


def set_time(d, el_id, seconds):
    """Types an instant into a time input, in the site's zone as the page
    shows it."""
    js(d, "const i = document.getElementById(arguments[0]);"
          "i.value = window.vigilTime.toInput(arguments[1]);"
          "i.dispatchEvent(new Event('input', {bubbles: true}));", el_id, iso(seconds))


def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


ENV = dict(os.environ, TZ="UTC")


def test_timeline_gap_playback_live_and_side_by_side():
    wd = workdir()
    con = Console(wd, env=ENV)
    wait_until(lambda: len(segments(con.config, "--camera", "cam2")) >= 2, 90,
               what="cam2 recording")
    # an outage of about 10 s on cam2, as camsim makes it
    down_at = time.time()
    con.down("cam2")
    time.sleep(10)
    up_at = time.time()
    con.up("cam2")
    wait_until(lambda: len([s for s in segments(con.config, "--camera", "cam2")
                            if rfc3339(s["start"]) > up_at]) >= 3, 40,
               what="three cam2 segments after the outage")

    d = browser(wd, name="en")
    d.get(con.base + "/")
    wait_js(d, "return !!document.getElementById('login-form')", 20, "the login form")
    screenshot(d, wd, "login")
    login(d, con.base, "ana", Console.USERS["ana"][1])
    wait_js(d, "return document.querySelectorAll('#cameras-table tr[data-camera]').length == 2",
            20, "two cameras listed")
    rows = js(d, "return [...document.querySelectorAll('#cameras-table tr[data-camera]')]"
                 ".map(r => [r.dataset.camera, r.querySelector('[data-state]').dataset.state])")
    assert sorted(rows) == [["cam1", "recording"], ["cam2", "recording"]], rows
    screenshot(d, wd, "cameras")

    # the timeline of the hour shows the gap, in its reason's colour
    goto(d, "#/camera/cam2")
    gaps = wait_js(d, "const g = [...document.querySelectorAll('#strip .gap')]"
                      ".map(e => [e.dataset.reason, e.dataset.start, e.dataset.end,"
                      " getComputedStyle(e).backgroundColor, e.getBoundingClientRect().width]);"
                      "return g.length ? g : null;", 20, "a gap on the strip")
    # before the first footage the strip says "not recording yet"; the
    # outage is one gap of its own
    outage = [g for g in gaps if g[0] != "not-recording"]
    assert len(outage) == 1, gaps
    reason, g_start, g_end, colour, width = outage[0]
    assert reason == "camera-unreachable", gaps
    assert colour == "rgb(230, 81, 0)", colour  # the legend's camera-unreachable
    assert width >= 2, "a 10 s gap must stay visible on an hour's strip: %s px" % width
    g_start, g_end = rfc3339(g_start), rfc3339(g_end)
    assert abs((g_end - g_start) - (up_at - down_at)) <= 3, (g_start, g_end, down_at, up_at)
    assert abs(g_start - down_at) <= 2, (g_start, down_at)
    spans = js(d, "return [...document.querySelectorAll('#strip .span')].length")
    assert spans >= 2, "footage on both sides of the gap: %d spans" % spans
    screenshot(d, wd, "timeline")

    # a click just after the gap plays from there: at the camera's size
    click_strip_at(d, "strip", g_end + 4)
    st = wait_advancing(d, what="playback after the gap")
    assert st["w"] == 640 and st["h"] == 360, st
    wall = rfc3339(wait_until(lambda: video(d)["wall"], 10, what="the wall clock of the frame"))
    assert g_end - 0.5 <= wall <= g_end + 30, (wall, g_end)
    played = js(d, "return document.getElementById('play-time').textContent")
    assert "+00:00" in played, "times carry their UTC offset: %r" % played

    # play from just before a segment boundary: it plays on across it
    after = [s for s in segments(con.config, "--camera", "cam2") if rfc3339(s["start"]) > g_end]
    boundary = rfc3339(after[1]["start"])
    set_time(d, "goto-time", boundary - 2)
    d.find_element("id", "goto-play").click()
    wait_until(lambda: video(d)["wall"] and rfc3339(video(d)["wall"]) < boundary, 15,
               what="playing from before the boundary")
    wait_until(lambda: video(d)["wall"] and rfc3339(video(d)["wall"]) > boundary + 2, 20,
               what="playing on past the segment boundary (%s)" % video(d))
    # and a seek inside the loaded footage, over the next boundary, keeps playing
    later = rfc3339(after[2]["start"]) + 1
    set_time(d, "goto-time", later)
    d.find_element("id", "goto-play").click()
    wait_until(lambda: video(d)["wall"] and rfc3339(video(d)["wall"]) >= later - 1.5, 15,
               what="the seek to %s" % later)
    # by the frames' wall clock, not currentTime: the loaded file was
    # requested a while ago and may end just past the seek, and the player
    # then goes on in a new file whose currentTime starts again near 0
    wait_until(lambda: (lambda v: v["wall"] and not v["error"] and
                        rfc3339(v["wall"]) >= later + 1.5)(video(d)), 20,
               what="playback after the seek to go on 1.5 s past %s" % later)
    assert not console_errors_except_login(d)

    # live: the growing segment plays, close to now
    d.find_element("id", "live-btn").click()
    wait_until(lambda: "live.mp4" in (video(d)["src"] or ""), 10, what="the live stream")
    st = wait_advancing(d, what="live view")
    assert st["w"] == 640, st
    wall = rfc3339(video(d)["wall"])
    assert time.time() - 15 <= wall <= time.time() + 2, (wall, time.time())
    screenshot(d, wd, "live")

    # side by side: both cameras at one instant after the gap, within 1 s
    at = g_end + 6
    goto(d, "#/multi?cams=cam1,cam2&t=" + iso(at))
    for cam in ("cam1", "cam2"):
        wait_advancing(d, "video[data-camera=%s]" % cam, what="%s side by side" % cam)
    walls = wait_until(lambda: (lambda a, b: (a, b) if a and b else None)(
        video(d, "video[data-camera=cam1]")["wall"], video(d, "video[data-camera=cam2]")["wall"]),
        10, what="both tiles' clocks")
    a, b = rfc3339(walls[0]), rfc3339(walls[1])
    assert abs(a - b) <= 1.0, "the two cameras are %.2f s apart" % (a - b)
    assert at - 1 <= a <= at + 30, (a, at)
    screenshot(d, wd, "side-by-side")
    # an instant inside cam2's gap: cam1 plays, cam2's tile shows the gap
    mid = (g_start + g_end) / 2
    goto(d, "#/multi?cams=cam1,cam2&t=" + iso(mid))
    wait_advancing(d, "video[data-camera=cam1]", what="cam1 while cam2 is in its gap")
    state = js(d, "return document.querySelector('.tile-state[data-camera=cam2]').textContent")
    gap_flag = js(d, "return document.querySelector('video[data-camera=cam2]').dataset.gap")
    assert gap_flag == "1" or video(d, "video[data-camera=cam2]")["wall"], state
    if gap_flag == "1":
        assert "camera unreachable" in state, state
        screenshot(d, wd, "side-by-side-gap")


test_timeline_gap_playback_live_and_side_by_side.weight = 5
test_timeline_gap_playback_live_and_side_by_side.timeout = 300


def console_errors_except_login(d):
    """Errors in the browser's console, but the one 401 of /api/me before
    the login, which is how the page learns it must show the form."""
    return [e for e in console_errors(d) if "/api/me" not in e.get("message", "")]


def test_export_download_matches_manifest_and_pages_in_chinese():
    wd = workdir()
    con = Console(wd, env=ENV)
    wait_until(lambda: len(segments(con.config, "--camera", "cam1")) >= 4, 90,
               what="cam1 recording")
    segs = segments(con.config, "--camera", "cam1")
    t0, t1 = rfc3339(segs[0]["start"]) + 1, rfc3339(segs[2]["end"]) - 1

    d = browser(wd, name="operator")
    login(d, con.base, "olu", Console.USERS["olu"][1])
    goto(d, "#/export?camera=cam1&from=%s&to=%s" % (iso(t0), iso(t1)))
    d.find_element("id", "export-submit").click()
    shown = wait_js(d, "const e = document.getElementById('export-sha256');"
                       "return e && e.textContent", 60, "the export's SHA-256")
    manifest_text = wait_js(d, "const m = document.getElementById('export-manifest-text');"
                               "return m && m.textContent.includes('sha256') && m.textContent", 20,
                            "the manifest shown")
    assert json.loads(manifest_text)["output"]["sha256"] == shown, manifest_text[:300]
    screenshot(d, wd, "export")
    # the browser downloads the file; its bytes hash to the manifest's SHA-256
    d.find_element("id", "export-file").click()
    path = wait_until(lambda: [os.path.join(d.downloads, f) for f in os.listdir(d.downloads)
                               if f.endswith(".mp4")], 60, what="the MP4 downloaded")[0]
    wait_until(lambda: not [f for f in os.listdir(d.downloads) if f.endswith(".crdownload")],
               30, what="the download to finish")
    with open(path, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    c = con.client("olu")
    exports = c.get("/api/exports")
    manifest = c.get("/api/exports/%d/manifest" % max(x["id"] for x in exports))
    assert got == manifest["output"]["sha256"] == shown, (got, manifest["output"], shown)
    # the page's own check agrees
    d.find_element("id", "export-verify").click()
    ok = wait_js(d, "const e = document.getElementById('export-verify-status');"
                    "return e && !e.hidden && e.className", 30, "the page's own check")
    assert "ok" in ok, js(d, "return document.getElementById('export-verify-status').textContent")

    # holds and reports, as an operator sees them
    goto(d, "#/holds")
    screenshot(d, wd, "holds")
    goto(d, "#/reports")
    d.find_element("css selector", "#continuity-form button[type=submit]").click()
    wait_js(d, "return document.querySelector('#continuity-out tr[data-camera=cam1]')", 20,
            "the continuity report's row")
    href = d.find_element("id", "continuity-html").get_attribute("href")
    assert "format=html" in href, href
    status, hdrs, body = c.request("GET", href[len(con.base):], raw=True)
    assert status == 200 and body.startswith(b"<!DOCTYPE html>"), (status, body[:200])
    screenshot(d, wd, "reports")

    # the admin's pages
    a = browser(wd, name="admin")
    login(a, con.base, "ana", Console.USERS["ana"][1])
    goto(a, "#/users")
    wait_js(a, "return document.querySelectorAll('#users-table tr[data-user]').length == 3", 20,
            "three users")
    screenshot(a, wd, "users")
    goto(a, "#/access")
    actions = wait_js(a, "const r = [...document.querySelectorAll('#access-table tr')]"
                         ".map(x => x.dataset.action).filter(Boolean); return r.length && r",
                      20, "the access log")
    assert "export" in actions and "login" in actions, actions
    screenshot(a, wd, "access-log")

    # a browser that asks for Chinese gets the pages in Chinese
    z = browser(wd, lang="zh-CN", name="zh")
    z.get(con.base + "/")
    wait_js(z, "return !!document.getElementById('login-form')", 20, "the login form")
    assert z.find_element("id", "login-submit").text == "登录"
    assert js(z, "return document.documentElement.lang") == "zh-CN"
    screenshot(z, wd, "login-zh")
    login(z, con.base, "vic", Console.USERS["vic"][1])
    assert z.find_element("id", "nav-cameras").text == "摄像机"
    assert z.find_element("id", "nav-tickets").text == "工单"
    head = js(z, "return [...document.querySelectorAll('#cameras-table th')].map(x => x.textContent)")
    assert "位置" in head and "状态" in head, head
    # a viewer has no export page
    assert not z.find_elements("id", "nav-export")
    screenshot(z, wd, "cameras-zh")
    goto(z, "#/camera/cam1")
    assert "小时" in z.find_element("css selector", "button[data-range=hour]").text
    screenshot(z, wd, "timeline-zh")


test_export_download_matches_manifest_and_pages_in_chinese.weight = 4
test_export_download_matches_manifest_and_pages_in_chinese.timeout = 300


CONSOLE_URL = "http://console.main-gate.example:8080/"
RECORDER_ROWS = """
const r = [...document.querySelectorAll('#recorders-table tbody tr')].map((tr) => {
  const c = tr.children, a = tr.querySelector('a.console-link');
  return {id: tr.dataset.recorder, site: c[0].textContent, state: c[2].textContent,
          seen: c[3].textContent !== '', cameras: c[4].textContent,
          link: a ? a.getAttribute('href') : null};
});
"""


def test_ticket_acknowledged_in_the_page_is_acknowledged_in_vigil_tickets():
    wd = workdir()
    broker = Broker(wd)
    con = Console(wd, env=ENV, record=False, mqtt=mqtt_section(broker, interval_seconds=2),
                  checker={"grace_seconds": "2", "clear_seconds": "30"},
                  recorder={"site": "Main gate", "console_url": CONSOLE_URL})
    rec = Recorder(con.config, env=ENV)
    chk = Checker(con.config, env=ENV)
    wait_until(lambda: len(segments(con.config, "--camera", "cam2")) >= 1, 90,
               what="cam2 recording")
    con.down("cam2")
    tk = wait_until(lambda: [t for t in tickets(con.config) if t["camera"] == "cam2" and
                             t["state"] == "open"], 40, what="a ticket for cam2")[0]

    d = browser(wd, size=(390, 844), name="phone")  # a phone's width
    login(d, con.base, "olu", Console.USERS["olu"][1])
    goto(d, "#/tickets")
    card = "#tickets-list li[data-ticket='%d']" % tk["id"]
    wait_js(d, "return document.querySelector(arguments[0])", 20, "the ticket's card", card)
    # the buttons fit a phone's screen and a thumb
    box = js(d, "const b = document.querySelector(arguments[0] + ' button.ack')"
                ".getBoundingClientRect(); return [b.left, b.right, b.height, innerWidth];", card)
    assert box[0] >= 0 and box[1] <= box[3] and box[2] >= 40, box
    screenshot(d, wd, "tickets-phone")
    d.find_element("css selector", card + " button.ack").click()
    wait_js(d, "const e = document.querySelector(arguments[0]);"
               "return e && e.dataset.state === 'acknowledged'", 20, "the card acknowledged", card)
    t = [x for x in tickets(con.config) if x["id"] == tk["id"]][0]
    assert t["state"] == "acknowledged" and t["acknowledged"], t
    screenshot(d, wd, "tickets-acknowledged")

    # the Recorders page: this recorder online with its camera down and the
    # link to its console, beside one of another site that went offline
    far = FakeRecorder(broker, "rec-far", site="Far site")
    far.health()
    far.camera("yard1", "recording", location="Yard 1")
    far.status("offline")
    rec_id = "rec-" + os.path.basename(wd)[-6:]

    def recorder_rows(check, *args):
        goto(d, "#/recorders")  # drawn once per visit: visit again
        return js(d, RECORDER_ROWS + "return (" + check + ") && r;", *args)
    # (the far one's health and its offline status are two messages: the
    # page may show it online in between)
    rows = wait_until(lambda: recorder_rows(
        "r.length === 2 && r.every((x) => x.seen) && "
        "r.some((x) => x.id === 'rec-far' && x.state === 'offline')"), 30,
        what="both recorders on the Recorders page, rec-far offline")
    by_id = {x["id"]: x for x in rows}
    assert by_id[rec_id] == {"id": rec_id, "site": "Main gate", "state": "online",
                             "seen": by_id[rec_id]["seen"], "cameras": "2 (1 not recording)",
                             "link": CONSOLE_URL}, by_id
    assert by_id["rec-far"] == {"id": "rec-far", "site": "Far site", "state": "offline",
                                "seen": by_id["rec-far"]["seen"], "cameras": "1",
                                "link": None}, by_id
    screenshot(d, wd, "recorders")
    con.up("cam2")
    wait_until(lambda: recorder_rows("r.some((x) => x.id === arguments[0] && x.cameras === '2')",
                                     rec_id), 40, what="the Recorders page with cam2 back")
    assert chk.stop() == 0 and rec.stop() == 0


test_ticket_acknowledged_in_the_page_is_acknowledged_in_vigil_tickets.weight = 3
test_ticket_acknowledged_in_the_page_is_acknowledged_in_vigil_tickets.timeout = 240


def test_assets_are_served_with_etag_and_security_policy():
    wd = workdir()
    con = Console(wd, env=ENV, record=False)
    c = con.client()
    for path in ("/", "/assets/app.js", "/assets/style.css", "/assets/i18n.js"):
        # no session needed: the login page loads before anyone logs in
        from web_harness import Client
        anon = Client(con.base)
        status, hdrs, body = anon.request("GET", path, raw=True)
        assert status == 200 and body, (path, status)
        assert "default-src 'self'" in hdrs["Content-Security-Policy"], hdrs
        assert hdrs["Cache-Control"] == "no-cache", hdrs
        etag = hdrs["ETag"]
        status, hdrs2, body2 = anon.request("GET", path, headers={"If-None-Match": etag}, raw=True)
        assert status == 304 and body2 == b"", (path, status)
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "web", "assets",
                               "index.html" if path == "/" else path[len("/assets/"):]), "rb") as f:
            assert f.read() == body, "%s differs from its file" % path
    status, hdrs, body = c.request("GET", "/assets/app.js", raw=True)
    assert hdrs["Content-Type"].startswith("text/javascript"), hdrs
    status, body = c.request("GET", "/assets/nothing.js")
    assert status == 404 and "error" in body, body
    # the page itself uses nothing from elsewhere: no URL of another host
    for name in os.listdir(os.path.join(os.path.dirname(__file__), "..", "..", "web", "assets")):
        status, hdrs, body = c.request("GET", "/assets/" + name, raw=True)
        assert status == 200, name
        body = body.replace(b"http://www.w3.org/2000/svg", b"")  # a namespace, not a fetch
        assert b"http://" not in body and b"https://" not in body, "%s names another host" % name
