"""Accounts and access control of `vigil serve` over real HTTP: logins
(right, wrong, rate limited), the session cookie's flags, CSRF on every
state-changing request, Bearer tokens for scripts, viewers limited to their
cameras, admin-only users and access log, and `vigil verify` finding an
access-log row that was edited behind the server's back."""
import http.client
import json
import os
import sqlite3
import subprocess
import time
import urllib.parse

from harness import VIGIL, free_port, start, vigil, wait_until, workdir, write_config


class Client:
    """One browser: its cookies and CSRF token, or a script with a token."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}
        self.csrf = None
        self.token = None
        self.last_headers = {}

    def request(self, method, path, body=None, csrf=True, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if csrf and self.csrf and method != "GET":
            h["X-CSRF-Token"] = self.csrf
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        payload = resp.read()
        self.last_headers = {}
        for k, v in resp.getheaders():
            self.last_headers.setdefault(k.lower(), []).append(v)
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";")[0]
                if value:
                    self.cookies[name.strip()] = value
                else:
                    self.cookies.pop(name.strip(), None)
        conn.close()
        try:
            doc = json.loads(payload) if payload else None
        except ValueError:
            doc = payload.decode(errors="replace")
        return resp.status, doc

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body if body is not None else {}, **kw)

    def login(self, user, password):
        status, doc = self.post("/api/login", {"user": user, "password": password})
        assert status == 200, (user, status, doc)
        self.csrf = doc["csrf"]
        return doc


def q(**params):
    return "?" + urllib.parse.urlencode(params)


def add_user(config, name, role, password, cameras=None, password_file=None):
    args = [VIGIL, "user", "-c", config, "add", name, "--role", role]
    if cameras:
        args += ["--cameras", cameras]
    if password_file:
        args += ["--password-file", password_file]
    proc = subprocess.run(args, input=None if password_file else password + "\n", text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == 0, "vigil user add %s: %s" % (name, proc.stderr)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_logins_sessions_tokens_scope_and_access_log():
    wd = workdir()
    port = free_port()
    config = write_config(wd, {"a": "rtsp://127.0.0.1:9/a", "b": "rtsp://127.0.0.1:9/b"},
                          web={"listen": "127.0.0.1:%d" % port})
    os.makedirs(os.path.join(wd, "footage"), exist_ok=True)
    pwfile = os.path.join(wd, "admin.pw")
    with open(pwfile, "w") as f:
        f.write("admin-secret-1\n")
    add_user(config, "admin", "admin", None, password_file=pwfile)
    add_user(config, "op", "operator", "operator-secret-1")
    add_user(config, "va", "viewer", "viewer-secret-1", cameras="a")
    # what the command line refuses
    assert vigil("user", "-c", config, "add", "x", "--role", "root")[0] == 2
    code, _, err = vigil("user", "-c", config, "add", "va", "--role", "viewer",
                         "--password-file", pwfile)
    assert code == 1 and "exists" in err, err
    code, out, _ = vigil("user", "-c", config, "list", "--json", check=0)
    users = {u["name"]: u for u in json.loads(out)}
    assert users["va"]["role"] == "viewer" and users["va"]["cameras"] == ["a"], users
    assert users["admin"]["cameras"] == [], users
    code, out, _ = vigil("user", "-c", config, "token", "va", "--label", "nightly", check=0)
    token = out.strip()
    assert len(token) == 64, out

    log = os.path.join(wd, "serve.log")
    proc = start([VIGIL, "serve", "-c", config], log)

    def up():
        assert proc.poll() is None, "vigil serve exited (see %s)" % log
        try:
            return Client(port).get("/healthz")[0] == 200
        except OSError:
            return False
    wait_until(up, 20, what="vigil serve answering")

    # no session, no answer
    anon = Client(port)
    status, doc = anon.get("/api/cameras")
    assert status == 401 and "login" in doc["error"], (status, doc)
    status, doc = anon.get("/api/me")
    assert status == 401, (status, doc)

    # a wrong password is 401 with a reason, and sets no cookie
    status, doc = anon.post("/api/login", {"user": "admin", "password": "nope-nope"})
    assert status == 401 and doc["error"], (status, doc)
    assert "set-cookie" not in anon.last_headers
    status, doc = anon.post("/api/login", {"user": "nobody", "password": "admin-secret-1"})
    assert status == 401, (status, doc)

    # the right one: the cookie is HttpOnly, SameSite=Strict, Path=/, and not
    # Secure over plain HTTP
    admin = Client(port)
    doc = admin.login("admin", "admin-secret-1")
    assert doc["user"] == "admin" and doc["role"] == "admin" and doc["cameras"] == [], doc
    assert len(doc["csrf"]) == 64
    cookie = admin.last_headers["set-cookie"][0]
    flags = [p.strip() for p in cookie.split(";")]
    assert flags[0].startswith("vigil_session=") and len(flags[0]) == len("vigil_session=") + 64
    assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/" in flags, cookie
    assert "Secure" not in flags, cookie
    assert any(f.startswith("Max-Age=") and 0 < int(f[8:]) <= 12 * 3600 for f in flags), cookie
    status, me = admin.get("/api/me")
    assert status == 200 and me["user"] == "admin" and me["csrf"] == admin.csrf, me
    assert me["language"] in ("en", "zh-CN"), me
    # the pages show times in the site's zone
    assert "time_zone" in me and isinstance(me["utc_offset_s"], int), me

    # state-changing requests need the session's CSRF token
    hold = {"camera": "a", "from": iso(time.time() - 60), "to": iso(time.time()),
            "reason": "case 7"}
    status, doc = admin.post("/api/holds", hold, csrf=False)
    assert status == 403 and "CSRF" in doc["error"], (status, doc)
    status, doc = admin.post("/api/holds", hold, csrf=False, headers={"X-CSRF-Token": "0" * 64})
    assert status == 403, (status, doc)
    status, doc = admin.post("/api/logout", csrf=False)
    assert status == 403, (status, doc)
    status, doc = admin.post("/api/holds", hold)
    assert status not in (401, 403), (status, doc)
    # another session's token is no good either
    other = Client(port)
    other.login("admin", "admin-secret-1")
    status, doc = admin.post("/api/holds", hold, csrf=False, headers={"X-CSRF-Token": other.csrf})
    assert status == 403, (status, doc)

    # a viewer limited to camera a
    viewer = Client(port)
    doc = viewer.login("va", "viewer-secret-1")
    assert doc["role"] == "viewer" and doc["cameras"] == ["a"], doc
    window = q(**{"from": iso(time.time() - 600), "to": iso(time.time())})
    status, doc = viewer.get("/api/cameras/b/spans" + window)
    assert status == 403 and "b" in doc["error"], (status, doc)
    status, doc = viewer.get("/api/cameras/a/spans" + window)
    assert status == 200, (status, doc)
    for path in ("/api/access-log", "/api/users"):
        status, doc = viewer.get(path)
        assert status == 403, (path, status, doc)
    status, doc = viewer.post("/api/holds", hold)
    assert status == 403, (status, doc)

    # a script's token: no cookie, no CSRF token, the same limits
    script = Client(port)
    script.token = token
    status, me = script.get("/api/me")
    assert status == 200 and me["user"] == "va" and me["via_token"] is True, me
    assert me["csrf"] is None, me
    status, doc = script.get("/api/cameras/b/spans" + window)
    assert status == 403, (status, doc)
    status, doc = script.post("/api/me", {"language": "zh-CN"})
    assert status == 200 and doc["language"] == "zh-CN", (status, doc)
    bad = Client(port)
    bad.token = "f" * 64
    assert bad.get("/api/me")[0] == 401
    # a token that is wrong is not rescued by a good cookie
    bad.cookies = dict(admin.cookies)
    assert bad.get("/api/me")[0] == 401

    # the admin manages users; a deleted user's session ends at once
    status, doc = admin.post("/api/users", {"name": "vb", "role": "viewer",
                                            "password": "viewer-secret-2", "cameras": ["b"]})
    assert status == 201 and doc["cameras"] == ["b"], (status, doc)
    status, doc = admin.post("/api/users", {"name": "vb", "role": "viewer",
                                            "password": "viewer-secret-2"})
    assert status == 409, (status, doc)
    status, doc = admin.post("/api/users", {"name": "vc", "role": "viewer",
                                            "password": "viewer-secret-2", "cameras": ["zz"]})
    assert status == 400, (status, doc)
    vb = Client(port)
    vb.login("vb", "viewer-secret-2")
    status, doc = admin.get("/api/users")
    assert status == 200 and {u["name"] for u in doc["users"]} == {"admin", "op", "va", "vb"}
    status, doc = admin.post("/api/users/vb/delete")
    assert status == 200, (status, doc)
    assert vb.get("/api/me")[0] == 401
    status, doc = admin.post("/api/users/admin/delete")
    assert status == 400, (status, doc)

    # rate limit: five failures for a user, then even the right password
    # waits, with Retry-After; another user from the same address does not
    guesser = Client(port)
    for _ in range(5):
        status, _doc = guesser.post("/api/login", {"user": "op", "password": "guess-guess"})
        assert status == 401
    status, doc = guesser.post("/api/login", {"user": "op", "password": "operator-secret-1"})
    assert status == 429, (status, doc)
    retry = int(guesser.last_headers["retry-after"][0])
    assert 500 < retry <= 600, retry
    assert Client(port).post("/api/login", {"user": "va", "password": "viewer-secret-1"})[0] == 200

    # logout ends the session on the server, not only in the browser
    kept = dict(viewer.cookies)
    status, doc = viewer.post("/api/logout")
    assert status == 200, (status, doc)
    assert "Max-Age=0" in viewer.last_headers["set-cookie"][0]
    replay = Client(port)
    replay.cookies = kept
    assert replay.get("/api/me")[0] == 401

    # the access log: admin only, every login with user, address and time
    status, doc = admin.get("/api/access-log" + q(**{"from": iso(time.time() - 600)}))
    assert status == 200, (status, doc)
    rows = doc["entries"]
    logins = [(e["user"], e["addr"]) for e in rows if e["action"] == "login"]
    assert ("admin", "127.0.0.1") in logins and ("va", "127.0.0.1") in logins, rows
    failed = [e for e in rows if e["action"] == "login-failed"]
    assert {e["user"] for e in failed} >= {"admin", "nobody", "op"}, failed
    assert any(e["action"] == "hold-add" and e["camera"] == "a" and e["from"] for e in rows), rows
    assert any(e["action"] == "user-del" and e["detail"] == "vb" for e in rows), rows
    assert any(e["action"] == "logout" and e["user"] == "va" for e in rows), rows
    for e in rows:
        assert abs(time.time() - time.mktime(time.strptime(e["at"][:19], "%Y-%m-%dT%H:%M:%S"))
                   + time.timezone) < 600, e
    status, doc = admin.get("/api/access-log" + q(camera="a"))
    assert status == 200 and doc["entries"] and all(e["camera"] == "a" for e in doc["entries"])

    proc.terminate()
    proc.wait(timeout=10)

    # only hashes of the cookies and the token are kept, never the secrets
    db_path = os.path.join(wd, "footage", "web.db")
    with open(db_path, "rb") as f:
        raw = f.read()
    for path in (db_path + "-wal",):
        if os.path.exists(path):
            with open(path, "rb") as f:
                raw += f.read()
    assert token.encode() not in raw
    assert admin.cookies["vigil_session"].encode() not in raw
    assert b"admin-secret-1" not in raw

    # vigil verify checks the access-log chain: whole now, an edit found
    code, out, err = vigil("verify", "-c", config, "--no-hash")
    assert code == 0, (out, err)
    assert "access-log rows" in out, out
    db = sqlite3.connect(db_path)
    db.execute("DROP TRIGGER access_log_no_update")
    (row_id,) = db.execute("SELECT id FROM access_log WHERE action = 'hold-add'").fetchone()
    db.execute("UPDATE access_log SET camera = 'b' WHERE id = ?", (row_id,))
    db.commit()
    db.close()
    code, out, err = vigil("verify", "-c", config, "--no-hash", "--json")
    assert code == 1, (out, err)
    report = json.loads(out)
    kinds = [p["kind"] for p in report["problems"]]
    assert kinds == ["access-log-row-edited"], report
    assert ("row %d " % row_id) in report["problems"][0]["detail"], report


def test_session_cookie_is_secure_under_tls():
    import ssl
    wd = workdir()
    port = free_port()
    cert, key = os.path.join(wd, "cert.pem"), os.path.join(wd, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    config = write_config(wd, {"a": "rtsp://127.0.0.1:9/a"},
                          web={"listen": "127.0.0.1:%d" % port, "tls_cert": cert,
                               "tls_key": key})
    add_user(config, "admin", "admin", "admin-secret-1")
    log = os.path.join(wd, "serve.log")
    proc = start([VIGIL, "serve", "-c", config], log)
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False

    def login():
        assert proc.poll() is None, "vigil serve exited (see %s)" % log
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
            conn.request("POST", "/api/login", body=json.dumps(
                {"user": "admin", "password": "admin-secret-1"}),
                headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            return resp
        except OSError:
            return None
    wait_until(lambda: login() is not None, 20, what="vigil serve answering over TLS")
    resp = login()
    assert resp.status == 200, resp.status
    flags = [p.strip() for p in resp.getheader("Set-Cookie").split(";")]
    assert "Secure" in flags and "HttpOnly" in flags and "SameSite=Strict" in flags, flags
    proc.terminate()
    proc.wait(timeout=10)
