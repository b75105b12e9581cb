"""/metrics of `vigil record` and `vigil check`, scraped by a real Prometheus
(Debian's) on loopback: a camera recording shows up, a camera taken down
shows down and becomes a ticket; the exposition passes `promtool check
metrics`, the alert rules `promtool check rules` and their rule tests."""
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import harness
from harness import Camsim, Recorder, free_port, start, wait_until, workdir, write_config
from mqtt_harness import Broker, Checker, mqtt_section

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
RULES = os.path.join(harness.ROOT, "docs", "prometheus", "vigil.rules.yml")
RULE_TESTS = os.path.join(harness.ROOT, "docs", "prometheus", "vigil.rules.test.yml")


def get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def promtool_metrics(body):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, "promtool check metrics: %s%s" % (p.stdout, p.stderr)


class Prometheus:
    def __init__(self, wd, targets):
        self.port = free_port()
        conf = os.path.join(wd, "prometheus.yml")
        lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s",
                 "rule_files:", "  - %s" % RULES, "scrape_configs:"]
        for job, target in targets.items():
            lines += ["  - job_name: %s" % job, "    scrape_interval: 1s",
                      "    static_configs:", "      - targets: ['%s']" % target]
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = start([PROMETHEUS, "--config.file=" + conf,
                           "--storage.tsdb.path=" + os.path.join(wd, "tsdb"),
                           "--web.listen-address=127.0.0.1:%d" % self.port],
                          os.path.join(wd, "prometheus.log"))
        wait_until(self._ready, 60, interval=0.3, what="prometheus ready")

    def _ready(self):
        assert self.proc.poll() is None, "prometheus exited"
        try:
            return get("http://127.0.0.1:%d/-/ready" % self.port)[0] == 200
        except OSError:
            return False

    def query(self, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode(
            {"query": q}))
        status, _, body = get(url)
        assert status == 200, body
        data = json.loads(body)
        assert data["status"] == "success", data
        return [(r["metric"], float(r["value"][1])) for r in data["data"]["result"]]

    def value(self, q):
        r = self.query(q)
        return r[0][1] if r else None

    def targets_up(self):
        status, _, body = get("http://127.0.0.1:%d/api/v1/targets" % self.port)
        active = json.loads(body)["data"]["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in active}


def test_prometheus_scrapes_recorder_and_checker():
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=2)
    rec_port, chk_port = free_port(), free_port()
    config = write_config(
        wd, {"c1": cams.url("cam1"), "c2": cams.url("cam2")},
        mqtt=mqtt_section(broker),
        metrics={"listen": "127.0.0.1:%d" % rec_port},
        checker={"grace_seconds": "1", "clear_seconds": "1",
                 "metrics_listen": "127.0.0.1:%d" % chk_port})
    rec = Recorder(config)
    chk = Checker(config)
    rec.wait_log("metrics: serving http://127.0.0.1:%d/metrics" % rec_port)
    chk.wait_log("metrics: serving http://127.0.0.1:%d/metrics" % chk_port)
    rec_url = "http://127.0.0.1:%d/metrics" % rec_port
    chk_url = "http://127.0.0.1:%d/metrics" % chk_port

    # only GET /metrics
    assert get(rec_url.replace("/metrics", "/"))[0] == 404
    assert get(rec_url, method="POST")[0] == 405
    assert get(chk_url, method="DELETE")[0] == 405

    prom = Prometheus(wd, {"vigil-recorder": "127.0.0.1:%d" % rec_port,
                           "vigil-checker": "127.0.0.1:%d" % chk_port})
    wait_until(lambda: prom.value('vigil_camera_up{camera="c1"}') == 1, 60,
               what="vigil_camera_up{camera=\"c1\"} == 1 in prometheus")
    wait_until(lambda: prom.value('vigil_camera_up{camera="c2"}') == 1, 30, what="c2 up")
    # (a target is "unknown" until its first scrape)
    wait_until(lambda: prom.targets_up() == {"vigil-recorder": "up", "vigil-checker": "up"}, 20,
               what="both targets up")
    wait_until(lambda: (prom.value('vigil_camera_bytes_total{camera="c1"}') or 0) > 0, 20,
               what="bytes written by c1")
    wait_until(lambda: prom.value('vigil_camera_oldest_footage_timestamp_seconds{camera="c1"}'),
               30, what="c1's oldest footage")
    oldest = prom.value('vigil_camera_oldest_footage_timestamp_seconds{camera="c1"}')
    assert abs(oldest - time.time()) < 120, oldest
    assert prom.value('vigil_storage_free_bytes') > 0
    assert prom.value('vigil_retention_floor_seconds') == 90 * 86400
    assert prom.value('vigil_checker_broker_connected') == 1
    assert prom.value('sum(vigil_tickets_open)') == 0

    status, headers, body = get(rec_url)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    promtool_metrics(body)
    assert 'vigil_camera_state{recorder="' in body and 'state="recording"} 1' in body
    assert "vigil_fsync_duration_seconds_bucket" in body
    status, _, cbody = get(chk_url)
    assert status == 200
    promtool_metrics(cbody)
    assert 'vigil_tickets_open{kind="camera-down",level="4"} 0' in cbody

    # c2 goes away: down on the recorder, then a ticket at the checker
    cams.down("cam2")
    wait_until(lambda: prom.value('vigil_camera_up{camera="c2"}') == 0, 30,
               what="vigil_camera_up{camera=\"c2\"} == 0")
    wait_until(lambda: (prom.value(
        'vigil_camera_gap_seconds_total{camera="c2",reason="camera-unreachable"}') or 0) > 1,
        20, what="c2's gap seconds growing")
    wait_until(lambda: (prom.value('sum(vigil_tickets_open{kind="camera-down"})') or 0) >= 1,
               60, what="a camera-down ticket in vigil_tickets_open")
    assert prom.value('vigil_camera_up{camera="c1"}') == 1
    assert (prom.value('vigil_ticket_open_delay_seconds_count') or 0) >= 1
    assert (prom.value('vigil_camera_reconnects_total{camera="c2"}') or 0) >= 1
    _, _, body = get(rec_url)
    promtool_metrics(body)
    _, _, cbody = get(chk_url)
    promtool_metrics(cbody)

    # the recorder stops: its target goes down, which VigilRecorderDown watches
    assert rec.stop() == 0
    wait_until(lambda: prom.value('up{job="vigil-recorder"}') == 0, 20,
               what="up{job=vigil-recorder} == 0")
    chk.stop()


test_prometheus_scrapes_recorder_and_checker.timeout = 240


def test_alert_rules_check_and_pass_their_tests():
    p = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS: " in p.stdout
    for name in ("VigilCameraDown", "VigilRecorderDown", "VigilRetentionAtRisk"):
        assert "alert: " + name in open(RULES).read()
    p = subprocess.run([PROMTOOL, "test", "rules", RULE_TESTS], capture_output=True, text=True,
                       timeout=60, cwd=os.path.dirname(RULE_TESTS))
    assert p.returncode == 0, p.stdout + p.stderr
