"""A client of `vigil serve` for the tests: a real HTTP session (cookie and
CSRF token kept as a browser keeps them) against a real server started on a
free loopback port."""
import http.client
import json
import subprocess
import urllib.parse

from harness import VIGIL, free_port, start, wait_until


class Serve:
    """A running `vigil serve -c CONFIG` (the config's [web] listen is the
    port given to write_config as web={"listen": ...})."""

    def __init__(self, config, port, env=None):
        self.config = config
        self.port = port
        self.log = config + ".serve.log"
        self.proc = start([VIGIL, "serve", "-c", config], self.log, env=env)
        wait_until(self._up, 20, what="vigil serve answering /healthz")

    def _up(self):
        if self.proc.poll() is not None:
            raise RuntimeError("vigil serve exited %d (see %s)" % (self.proc.returncode,
                                                                   self.log))
        try:
            return Session(self.port).get("/healthz")[0] == 200
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def web_section():
    return {"listen": "127.0.0.1:%d" % free_port()}


def add_user(config, name, role, password, cameras=None):
    args = ["user", "-c", config, "add", name, "--role", role]
    if cameras:
        args += ["--cameras", cameras]
    proc = subprocess.run([VIGIL] + args, input=password + "\n", text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == 0, "vigil user add %s: %s" % (name, proc.stderr)


class Session:
    """One user's session: cookies and the CSRF token, as a browser holds them."""

    def __init__(self, port, host="127.0.0.1"):
        self.host, self.port = host, port
        self.cookies = {}
        self.csrf = None
        self.token = None

    def request(self, method, path, body=None, headers=None, raw=False, csrf=True):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        payload = resp.read()
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name.strip()] = rest.split(";")[0]
        conn.close()
        if raw:
            return resp.status, payload, dict((k.lower(), v) for k, v in resp.getheaders())
        try:
            doc = json.loads(payload) if payload else None
        except ValueError:
            doc = payload.decode(errors="replace")
        return resp.status, doc

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body if body is not None else {}, **kw)

    def login(self, user, password):
        status, doc = self.post("/api/login", {"user": user, "password": password})
        assert status == 200, (status, doc)
        self.csrf = doc["csrf"]
        return doc


def q(**params):
    return "?" + urllib.parse.urlencode(params)
