"""The web console for tests, with real components: camsim cameras, a
`vigil record` writing footage, `vigil serve` on a free port, accounts made
with `vigil user add`, an HTTP client that logs in like a script would, and
a real headless Chromium (Debian's chromium and chromedriver, driven by
python3-selenium) that logs in like a person.

Console(wd, ...) starts all of it; cleanup() (runone.py) stops the
processes, and the browser is killed with them: it runs in its own process
group, started by chromedriver, which is started here.
"""
import http.cookiejar
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import harness
from harness import (VIGIL, Camsim, Recorder, free_port, start, wait_until, write_config)

_drivers = []


def _stop_browsers():
    for d in _drivers:
        try:
            d.quit()
        except Exception:
            pass
        svc = getattr(d, "service", None)
        proc = getattr(svc, "process", None)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    _drivers.clear()


# harness.cleanup() runs after every test (runone.py): stop the browsers first
_cleanup = harness.cleanup


def _cleanup_all():
    _stop_browsers()
    _cleanup()


harness.cleanup = _cleanup_all


class Serve:
    """A running `vigil serve -c CONFIG`, answering on base."""

    def __init__(self, config, port, env=None, log=None):
        self.config = config
        self.base = "http://127.0.0.1:%d" % port
        self.log = log or config + ".serve.log"
        self.proc = start([VIGIL, "serve", "-c", config], self.log, env=env)
        wait_until(self._healthy, 30, what="vigil serve answering /healthz (see %s)" % self.log)

    def _healthy(self):
        assert self.proc.poll() is None, "vigil serve exited %s" % self.proc.returncode
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


class Client:
    """An HTTP client with its own cookie jar, logged in over POST /api/login."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""

    def request(self, method, path, body=None, headers=None, raw=False):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if method not in ("GET", "HEAD") and self.csrf:
            req.add_header("X-CSRF-Token", self.csrf)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with self.opener.open(req, timeout=60) as r:
                content = r.read()
                status, hdrs = r.status, dict(r.headers)
        except urllib.error.HTTPError as e:
            content, status, hdrs = e.read(), e.code, dict(e.headers)
        if raw:
            return status, hdrs, content
        try:
            return status, json.loads(content) if content else None
        except ValueError:
            return status, content

    def login(self, user, password):
        status, body = self.request("POST", "/api/login", {"user": user, "password": password})
        assert status == 200, "login of %s: %s %s" % (user, status, body)
        self.csrf = body["csrf"]
        return body

    def get(self, path):
        status, body = self.request("GET", path)
        assert status == 200, "GET %s: %s %s" % (path, status, body)
        return body


def add_user(config, name, role, password, cameras=None, env=None):
    args = [VIGIL, "user", "-c", config, "add", name, "--role", role]
    if cameras:
        args += ["--cameras", cameras]
    proc = subprocess.run(args, input=password + "\n", stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    assert proc.returncode == 0, "vigil user add %s: %s %s" % (name, proc.stdout, proc.stderr)


class Console:
    """camsim + vigil record + vigil serve, with an admin, an operator and a
    viewer.  cameras: ids; sections: more config (mqtt, checker, ...)."""

    USERS = {"ana": ("admin", "ana-pass-7781"), "olu": ("operator", "olu-pass-5523"),
             "vic": ("viewer", "vic-pass-9140")}

    def __init__(self, wd, cameras=("cam1", "cam2"), size="640x360", record=True, env=None,
                 camera_keys=None, **sections):
        self.wd = wd
        self.env = env
        self.cams = Camsim(wd, cameras=len(cameras), size=size)
        self.port = free_port()
        spec = {}
        for i, cam in enumerate(cameras):
            spec[cam] = dict({"url": self.cams.url("cam%d" % (i + 1)), "location": "Place %d" % (i + 1)},
                             **(camera_keys or {}).get(cam, {}))
        self.camera_ids = list(cameras)
        self.sim_name = {cam: "cam%d" % (i + 1) for i, cam in enumerate(cameras)}
        web = dict({"listen": "127.0.0.1:%d" % self.port}, **sections.pop("web", {}))
        self.config = write_config(wd, spec, web=web, **sections)
        for name, (role, password) in self.USERS.items():
            add_user(self.config, name, role, password, env=env)
        self.recorder = Recorder(self.config, env=env) if record else None
        self.serve = Serve(self.config, self.port, env=env)
        self.base = self.serve.base

    def client(self, user="ana"):
        c = Client(self.base)
        c.login(user, self.USERS[user][1])
        return c

    def down(self, cam):
        self.cams.down(self.sim_name[cam])

    def up(self, cam):
        self.cams.up(self.sim_name[cam])


# ---- the browser --------------------------------------------------------------

def _selenium():
    try:
        import selenium  # noqa: F401
    except ImportError:
        # Debian's python3-selenium, when the tests run on another python
        sys.path.append("/usr/lib/python3/dist-packages")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    return webdriver, Service


def browser(wd, lang=None, size=(1280, 900), name="chromium"):
    """A headless Chromium with a fresh profile under wd; lang (e.g. "zh-CN")
    sets both the UI language and Accept-Language.  Downloads go to
    wd/NAME-downloads."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    assert chromium and driver, \
        "chromium and chromedriver are needed (tools/install-deps installs them)"
    webdriver, Service = _selenium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    downloads = os.path.join(wd, name + "-downloads")
    os.makedirs(downloads, exist_ok=True)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                 "--user-data-dir=" + os.path.join(wd, name + "-profile"),
                 "--window-size=%d,%d" % size):
        opts.add_argument(flag)
    prefs = {"download.default_directory": downloads, "download.prompt_for_download": False}
    if lang:
        opts.add_argument("--lang=" + lang)
        prefs["intl.accept_languages"] = lang
    opts.add_experimental_option("prefs", prefs)
    log = os.path.join(wd, name + "-chromedriver.log")
    try:
        service = Service(executable_path=driver, log_output=log)
    except TypeError:  # selenium before 4.11
        service = Service(executable_path=driver, log_path=log)
    # chromedriver and the browser in a process group of their own, so
    # cleanup can kill every process of it
    service.popen_kw = {"start_new_session": True}
    d = webdriver.Chrome(service=service, options=opts)
    _drivers.append(d)
    d.downloads = downloads
    try:
        d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow",
                                                        "downloadPath": downloads})
    except Exception:
        pass
    return d


def screenshot(d, wd, name):
    """Saves a PNG of the page to $VIGIL_SCREENSHOTS (else wd/screenshots)."""
    folder = os.environ.get("VIGIL_SCREENSHOTS") or os.path.join(wd, "screenshots")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".png")
    d.save_screenshot(path)
    return path


def js(d, script, *args):
    return d.execute_script(script, *args)


def wait_js(d, script, timeout, what, *args):
    """Polls a JavaScript expression (a function body returning a value)
    until it is truthy; returns the value."""
    return wait_until(lambda: d.execute_script(script, *args), timeout, interval=0.25,
                      what=what)


def login(d, base, user, password):
    """Logs in through the page's own form, as a person would."""
    from selenium.webdriver.common.by import By
    d.get(base + "/")
    wait_until(lambda: d.find_elements(By.ID, "login-form"), 20, what="the login form")
    d.find_element(By.ID, "login-user").send_keys(user)
    d.find_element(By.ID, "login-password").send_keys(password)
    d.find_element(By.ID, "login-submit").click()
    wait_js(d, "return document.getElementById('main').dataset.ready === '1' && "
            "!document.getElementById('login-form')", 20, "the first page after login")


def goto(d, hash_):
    """Shows a view (#/tickets, ...) and waits for it to be drawn."""
    d.execute_script("document.getElementById('main').dataset.ready = '';"
                     "if (location.hash === arguments[0])"
                     "  window.dispatchEvent(new HashChangeEvent('hashchange'));"
                     "else location.hash = arguments[0];", hash_)
    wait_js(d, "return document.getElementById('main').dataset.ready === '1'", 20,
            "view %s" % hash_)


def console_errors(d):
    """The browser console's errors (a failed script, a blocked resource)."""
    try:
        return [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    except Exception:
        return []


def rfc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
