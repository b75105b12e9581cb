"""Opt-in (`make test-redmine`; tests/run.py runs only test_*.py, so not
in `make test`): the Redmine sink against a real Redmine (Debian's redmine and
redmine-sqlite packages), fed by the real chain: camsim, `vigil record`,
mosquitto and `vigil check`.  Redmine runs from /usr/share/redmine on a free
loopback port with WEBrick and a throwaway SQLite database of the test's
own (DATABASE_URL); the REST API and an admin API key are switched on in
that database before Redmine starts.  The webhook goes through a loopback
relay that holds back the answer to the first creation, so the retry's
search for the ticket's marker runs against Redmine's own filter.
Migrating a new database takes 20-70 s, so the migrated one is kept in
build/redmine-cache and copied; booting Redmine takes 10-25 s more."""
import fcntl
import json
import os
import shutil
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request

from harness import BUILD, Camsim, Recorder, free_port, segments, start, vigil, wait_until, \
    workdir, write_config
from mqtt_harness import Broker, Checker, WebhookReceiver, events, mqtt_section, tickets

REDMINE = "/usr/share/redmine"
CACHE = os.path.join(BUILD, "redmine-cache")
API_KEY = "5d1c0ffee0ddba11c0de5eed0fa11ed0bad0cafe"

# WEBrick is not in Redmine's Gemfile: loaded before Bundler narrows the
# load path, then Redmine's Rack application is served with it
SERVE_RB = """
require 'webrick'
port = Integer(ARGV[0])
Dir.chdir(%r)
require File.join(%r, 'config', 'environment')
require 'rack/handler/webrick'
Rack::Handler::WEBrick.run(Rails.application, Host: '127.0.0.1', Port: port, AccessLog: [],
                           Logger: WEBrick::Log.new($stderr, WEBrick::Log::WARN))
""" % (REDMINE, REDMINE)


def rails_env(db):
    return dict(os.environ, RAILS_ENV="production", DATABASE_URL="sqlite3:" + db,
                REDMINE_LANG="en")


def template_db(log):
    """A migrated database with Redmine's default data (trackers, statuses,
    priorities, the admin account), made once per build folder."""
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, "template.sqlite3")
    with open(os.path.join(CACHE, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            tmp = path + ".new"
            if os.path.exists(tmp):
                os.unlink(tmp)
            with open(log, "ab") as out:
                for task in ("db:migrate", "redmine:load_default_data"):
                    subprocess.run(["ruby", "bin/rake", task], cwd=REDMINE, env=rails_env(tmp),
                                   stdout=out, stderr=out, check=True, timeout=300)
            os.rename(tmp, path)
    return path


class Redmine:
    def __init__(self, wd):
        assert os.path.isdir(REDMINE), "Redmine is not installed (tools/install-deps)"
        self.log = os.path.join(wd, "redmine.log")
        self.db = os.path.join(wd, "redmine.sqlite3")
        shutil.copyfile(template_db(self.log), self.db)
        db = sqlite3.connect(self.db)
        db.execute("DELETE FROM settings WHERE name = 'rest_api_enabled'")
        db.execute("INSERT INTO settings (name, value, updated_on) "
                   "VALUES ('rest_api_enabled', '1', datetime('now'))")
        db.execute("INSERT INTO tokens (user_id, action, value, created_on, updated_on) "
                   "SELECT id, 'api', ?, datetime('now'), datetime('now') FROM users "
                   "WHERE login = 'admin'", (API_KEY,))
        db.commit()
        db.close()
        serve = os.path.join(wd, "serve.rb")
        with open(serve, "w") as f:
            f.write(SERVE_RB)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        started = time.monotonic()
        self.proc = start(["ruby", serve, str(self.port)], self.log, env=rails_env(self.db))
        wait_until(self._up, 90, interval=0.25, what="Redmine answering")
        self.boot_seconds = time.monotonic() - started

    def _up(self):
        if self.proc.poll() is not None:
            raise RuntimeError("Redmine exited (see %s)" % self.log)
        try:
            with urllib.request.urlopen(self.url + "/", timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def api(self, method, path, body=None, key=API_KEY):
        return self.call(method, path, body, key)[1]

    def call(self, method, path, body=None, key=API_KEY):
        """(status, parsed answer or None)"""
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"X-Redmine-API-Key": key or "",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                status, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, data.decode(errors="replace")


def slow_first_creation(redmine):
    """A loopback relay to Redmine that answers the first issue creation
    only after vigil has given up on it (the issue is created all the
    same), so vigil's retry must find it with Redmine's own search."""
    state = {"posts": 0, "searches": 0}

    def relay(req):
        if req["method"] == "POST" and req["path"].startswith("/issues.json"):
            state["posts"] += 1
        if req["method"] == "GET" and req["path"].startswith("/issues.json"):
            state["searches"] += 1
        status, answer = redmine.call(req["method"], req["path"], req["body"],
                                      req["headers"].get("x-redmine-api-key"))
        return status, answer, 3 if state["posts"] == 1 and req["method"] == "POST" else 0
    return state, WebhookReceiver(relay)


def test_redmine_sink_against_a_real_redmine():
    wd = workdir()
    redmine = Redmine(wd)
    print("FIGURE redmine: up %.1f s after start" % redmine.boot_seconds)
    redmine.api("POST", "/projects.json", {"project": {"name": "CCTV", "identifier": "cctv"}})
    state, relay = slow_first_creation(redmine)
    broker = Broker(wd)
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": {"url": cams.url("cam1"), "location": "Gate 3"}},
                          recorder={"site": "Depot"}, retention={"retain_days": "1"},
                          mqtt=mqtt_section(broker, interval_seconds=2),
                          checker={"grace_seconds": "2", "clear_seconds": "2"},
                          tickets={"webhook_url": relay.url + "/", "webhook_format": "redmine",
                                   "project": "cctv", "token_env": "RM_KEY",
                                   "timeout_seconds": "1"})
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    env = dict(os.environ, RM_KEY=API_KEY)
    chk = Checker(config, env=env)
    rec = Recorder(config, env=env)
    wait_until(lambda: segments(config), 30, what="recording")
    cams.down("cam1")
    t = wait_until(lambda: [x for x in tickets(config) if x["kind"] == "camera-down" and
                            x["external_id"]], 30, what="a ticket with its Redmine issue")[0]
    issue_id = int(t["external_id"])
    code, out, err = vigil("tickets", "-c", config, "ack", str(t["id"]), "--by", "ana",
                           "--note", "on my way")
    assert code == 0, err
    wait_until(lambda: redmine.api("GET", "/issues/%d.json" % issue_id)["issue"]["status"]["id"]
               == 2, 20, what="the issue in progress")
    cams.up("cam1")

    def resolved():
        issue = redmine.api("GET", "/issues/%d.json?include=journals" % issue_id)["issue"]
        return issue if issue["status"]["id"] == 3 else None
    issue = wait_until(resolved, 30, what="the issue resolved")
    assert chk.stop() == 0 and rec.stop() == 0
    # one issue for the ticket, in the project, as vigil wrote it: the
    # creation that timed out was found by its marker, not made again
    found = redmine.api("GET", "/issues.json?project_id=cctv&status_id=*")
    assert [i["id"] for i in found["issues"]] == [issue_id], found
    assert state["posts"] == 1 and state["searches"] >= 1, state
    assert issue["project"]["name"] == "CCTV" and issue["priority"]["id"] == 2, issue  # level 4
    assert issue["subject"].startswith("vigil #%d: camera cam1 down" % t["id"]), issue
    assert "Gate 3" in issue["description"] and rec_id in issue["description"], issue
    notes = [j["notes"] for j in issue["journals"] if j["notes"]]
    assert any(n.startswith("Acknowledged by ana: on my way") for n in notes), notes
    assert len(notes) == len(events(config, t["id"])) - 1, (notes, events(config, t["id"]))
    statuses = [d["new_value"] for j in issue["journals"] for d in j["details"]
                if d["name"] == "status_id"]
    assert statuses == ["2", "3"], statuses
    assert API_KEY not in chk.log_text()


test_redmine_sink_against_a_real_redmine.timeout = 300
