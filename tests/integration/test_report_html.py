"""The HTML continuity report, read as a person reads it: rendered in a real
Chromium (headless), its strips checked with JavaScript.  A report of a day
that is not over must draw recorded time only where there is footage, each
gap in its reason's colour from the legend, and the rest of the day (after
the report's now) as not yet: a printed report must never show footage that
does not exist.

The browser is required: without chromium and chromedriver (Debian's
`chromium`, `chromium-driver`, `python3-selenium`; tools/install-deps) the
test fails rather than skips."""
import json
import os
import shutil
import sys

from harness import mkhistory, rfc3339, vigil, workdir, write_config

DAY_FROM, DAY_TO = "2026-11-18T00:00:00Z", "2026-11-19T00:00:00Z"
NOW = "2026-11-18T12:00:00Z"
WIDTH = 900.0
GREEN = "rgb(60, 154, 82)"  # recorded, as the legend says

# gate: 05:37-07:37 with the camera unreachable 06:00-06:10; yard: the
# one minute 05:37-05:38 the issue saw drawn green to the end of the day
FOOTAGE = {
    "gate": [("2026-11-18T05:37:00Z", "2026-11-18T06:00:00Z"),
             ("2026-11-18T06:10:00Z", "2026-11-18T07:37:00Z")],
    "yard": [("2026-11-18T05:37:00Z", "2026-11-18T05:38:00Z")],
}


def selenium():
    try:
        import selenium  # noqa: F401
    except ImportError:
        # Debian's python3-selenium, when the tests run on another python
        sys.path.append("/usr/lib/python3/dist-packages")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    return webdriver, Service


def browser(wd):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    assert chromium and driver, \
        "chromium and chromedriver are needed (tools/install-deps installs them)"
    webdriver, Service = selenium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--user-data-dir=" + os.path.join(wd, "chromium-profile"),
                 "--window-size=1100,900"):
        opts.add_argument(flag)
    log = os.path.join(wd, "chromedriver.log")
    try:
        service = Service(executable_path=driver, log_output=log)
    except TypeError:  # selenium before 4.11
        service = Service(executable_path=driver, log_path=log)
    return webdriver.Chrome(service=service, options=opts)


def px(t):
    """Where time t falls on a strip of the day, in pixels."""
    day0, day1 = rfc3339(DAY_FROM), rfc3339(DAY_TO)
    return (rfc3339(t) - day0) / (day1 - day0) * WIDTH


# Per strip: its rectangles as drawn (class, reason, x, width, fill, from
# the layout, relative to the strip) and what is on top at each pixel
# column through the middle of the strip, as a person would see it.
READ_STRIPS = """
const out = {};
for (const svg of document.querySelectorAll('svg.strip')) {
  const camera = svg.previousElementSibling.textContent;
  const box = svg.getBoundingClientRect();
  const rects = [...svg.querySelectorAll('rect')].map(r => {
    const b = r.getBoundingClientRect();
    return {cls: r.getAttribute('class'), reason: r.dataset.reason || '',
            x: b.left - box.left, w: b.width, fill: getComputedStyle(r).fill};
  });
  const seen = [];
  for (let x = 0; x < box.width; x++) {
    const e = document.elementFromPoint(box.left + x + 0.5, box.top + 10);
    seen.push(e && e.tagName.toLowerCase() === 'rect'
              ? [e.getAttribute('class'), getComputedStyle(e).fill] : ['none', '']);
  }
  out[camera] = {width: box.width, rects: rects, seen: seen};
}
const legend = {};
for (const s of document.querySelectorAll('.legend span'))
  legend[s.textContent] = getComputedStyle(s.querySelector('i')).backgroundColor;
return {strips: out, legend: legend};
"""


def test_html_strip_draws_only_recorded_time():
    wd = workdir()
    config = write_config(wd, {cam: "rtsp://127.0.0.1:9/" + cam for cam in FOOTAGE})
    gap = ("2026-11-18T06:00:00Z", "2026-11-18T06:10:00Z", "camera-unreachable")
    assert mkhistory(config, "gate", FOOTAGE["gate"][0][0], FOOTAGE["gate"][-1][1],
                     segment_seconds=60, gaps=[gap], files=False) == 110
    assert mkhistory(config, "yard", *FOOTAGE["yard"][0], segment_seconds=60, files=False) == 1
    env = dict(os.environ, TZ="UTC")
    page = os.path.join(wd, "day.html")
    code, _, err = vigil("report", "continuity", "-c", config, "--from", DAY_FROM, "--to", DAY_TO,
                         "--now", NOW, "--format", "html", "-o", page, env=env)
    assert code == 1, err  # gaps
    code, out, err = vigil("report", "continuity", "-c", config, "--from", DAY_FROM, "--to",
                           DAY_TO, "--now", NOW, "--format", "json", env=env)
    recorded_s = {c["camera"]: c["recorded_s"] for c in json.loads(out)["cameras"]}
    assert recorded_s == {"gate": (23 + 87) * 60, "yard": 60}, recorded_s

    drv = browser(wd)
    try:
        drv.get("file://" + page)
        got = drv.execute_script(READ_STRIPS)
        drv.save_screenshot(os.path.join(wd, "day.png"))
    finally:
        drv.quit()

    legend = got["legend"]
    assert legend.get("recorded") == GREEN, legend
    not_yet = [v for k, v in legend.items() if k.startswith("not yet")]
    assert len(not_yet) == 1 and not_yet[0] != GREEN, legend
    assert legend.get("camera unreachable") not in (None, GREEN), legend
    now_px = px(NOW)
    for camera, spans in FOOTAGE.items():
        strip = got["strips"][camera]
        assert abs(strip["width"] - WIDTH) < 1, strip["width"]
        rects = strip["rects"]
        recorded = [r for r in rects if r["fill"] == GREEN]
        # recorded width matches recorded time, and only the recorded
        # rectangles are green
        assert all(r["cls"] == "recorded" for r in recorded), recorded
        width = sum(r["w"] for r in recorded)
        assert abs(width - recorded_s[camera] / 86400 * WIDTH) < 0.5, (camera, width)
        # each green rectangle lies inside a stretch of footage
        for r in recorded:
            assert any(px(a) - 0.5 <= r["x"] and r["x"] + r["w"] <= px(b) + 0.5
                       for a, b in spans), (camera, r, spans)
        # what is seen: nothing green after the footage ended or after now,
        # the future drawn as not yet, the gap in its legend colour
        end_px = px(spans[-1][1])
        for x, (cls, fill) in enumerate(strip["seen"]):
            if x >= end_px + 1:
                assert fill != GREEN, (camera, x, cls, fill)
            if x >= now_px:
                assert cls == "future" and fill == not_yet[0], (camera, x, cls, fill)
            elif x >= end_px + 1 and x + 1 <= now_px:
                assert cls == "gap", (camera, x, cls, fill)
        if camera == "gate":
            mid = int((px(gap[0]) + px(gap[1])) / 2)
            assert strip["seen"][mid] == ["gap", legend["camera unreachable"]], strip["seen"][mid]
            green_cols = [x for x, (_, fill) in enumerate(strip["seen"]) if fill == GREEN]
            assert green_cols and min(green_cols) >= int(px(spans[0][0])) and \
                max(green_cols) <= px(spans[-1][1]), green_cols


test_html_strip_draws_only_recorded_time.san = True
