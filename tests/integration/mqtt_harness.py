"""Real components for the health tests: a mosquitto broker of the test's
own (free loopback port, its own config file in the test's folder), MQTT
subscribers and publishers (mosquitto_sub / mosquitto_pub), the checker, a
recorder-shaped publisher for payloads a real recorder would not send, and
a loopback HTTP receiver for webhooks.  Everything is started through
harness.start(), so harness.cleanup() stops it whatever happens.
"""
import getpass
import http.server
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from datetime import datetime, timezone

import harness
from harness import VIGIL, free_port, start, vigil, wait_until

MOSQUITTO = "/usr/sbin/mosquitto"


def now_rfc3339(offset=0.0):
    return datetime.fromtimestamp(time.time() + offset, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


class Broker:
    """mosquitto on 127.0.0.1:port; stop() and start() keep the port."""

    def __init__(self, wd, port=None, users=None, name="broker", start_now=True, tls=None):
        self.wd = wd
        self.port = port or free_port()
        self.conf = os.path.join(wd, name + ".conf")
        self.log = os.path.join(wd, name + ".log")
        lines = ["listener %d 127.0.0.1" % self.port, "persistence false",
                 "log_dest stderr", "log_type error", "log_type warning",
                 "log_type notice", "log_type information",
                 "user %s" % getpass.getuser()]
        if users:
            pwfile = os.path.join(wd, name + ".passwd")
            open(pwfile, "w").close()
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", pwfile, user, password], check=True,
                               stdout=subprocess.DEVNULL)
            lines += ["allow_anonymous false", "password_file %s" % pwfile]
        else:
            lines.append("allow_anonymous true")
        if tls:
            lines += ["cafile %s" % tls["ca"], "certfile %s" % tls["cert"],
                      "keyfile %s" % tls["key"]]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        if start_now:
            self.start()

    def start(self):
        self.proc = start([MOSQUITTO, "-c", self.conf], self.log)
        wait_until(self._listening, 10, interval=0.05, what="mosquitto listening")

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("mosquitto exited (see %s)" % self.log)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def make_tls(wd):
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl)."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, cwd=wd)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=vigil test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
        "-out", "server.csr")
    with open(os.path.join(wd, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
    return {k: os.path.join(wd, v) for k, v in
            (("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key"))}


def auth_args(user=None, password=None):
    return ["-u", user, "-P", password] if user else []


def publish(broker, topic, payload=None, retain=False, path=None, user=None, password=None):
    """One QoS 1 message; payload None publishes an empty (null) message."""
    args = ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", topic] + \
        auth_args(user, password)
    if retain:
        args.append("-r")
    if path:
        args += ["-f", path]
    elif payload is None:
        args.append("-n")
    else:
        args += ["-m", payload if isinstance(payload, str) else json.dumps(payload)]
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=20)


def retained(broker, topic="vigil/#", user=None, password=None):
    """The retained messages under topic: {topic: payload text}."""
    proc = subprocess.run(["mosquitto_sub", "-p", str(broker.port), "-t", topic,
                           "--retained-only", "-W", "2", "-F", "%t\t%p"] +
                          auth_args(user, password),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
    found = {}
    for line in proc.stdout.splitlines():
        t, _, p = line.partition("\t")
        found[t] = p
    return found


class Subscriber:
    """mosquitto_sub on a topic, every message kept with its arrival time."""

    def __init__(self, broker, topic="vigil/#", user=None, password=None):
        self.messages = []
        self.lock = threading.Lock()
        log = os.path.join(broker.wd, "sub-%d.log" % len(harness._processes))
        self.proc = start(["mosquitto_sub", "-p", str(broker.port), "-t", topic, "-q", "1",
                           "-F", "%r\t%t\t%p"] + auth_args(user, password), log,
                          stdout=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            retain, _, rest = line.partition("\t")
            topic, _, payload = rest.partition("\t")
            with self.lock:
                self.messages.append({"at": time.time(), "retained": retain == "1",
                                      "topic": topic, "payload": payload})

    def all(self, topic=None):
        with self.lock:
            return [m for m in self.messages if topic is None or m["topic"] == topic]

    def json(self, topic):
        out = []
        for m in self.all(topic):
            try:
                out.append(dict(json.loads(m["payload"]), _at=m["at"]))
            except ValueError:
                pass
        return out

    def wait(self, pred, timeout, what="an MQTT message"):
        """The first message (dict with the parsed payload as 'json') for which
        pred(message) holds."""
        def look():
            for m in self.all():
                try:
                    m = dict(m, json=json.loads(m["payload"]))
                except ValueError:
                    m = dict(m, json=None)
                if pred(m):
                    return m
            return None
        return wait_until(look, timeout, interval=0.05, what=what)


class Checker:
    """A running `vigil check -c CONFIG`."""

    def __init__(self, config, env=None, log=None, args=()):
        self.config = config
        self.log = log or config + ".checker.log"
        self.proc = start([VIGIL, "check", "-c", config] + list(args), self.log, env=env)

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=20):
        wait_until(lambda: text in self.log_text(), timeout,
                   what="%r in the checker log" % text)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def tickets(config, env=None, all_=True):
    args = ["tickets", "-c", config, "list", "--json"] + (["--all"] if all_ else [])
    code, out, err = vigil(*args, env=env)
    assert code == 0, "vigil tickets list failed: %s" % err
    return json.loads(out)


def ticket_db(config):
    return os.path.join(os.path.dirname(config), "footage", "tickets.db")


def events(config, ticket_id=None):
    """Ticket events straight from the ticket database (read-only)."""
    db = sqlite3.connect("file:%s?mode=ro" % ticket_db(config), uri=True, timeout=10)
    try:
        q = "SELECT id, ticket_id, kind, at_us, level, actor, note, idempotency_key FROM ticket_event"
        rows = db.execute(q + (" WHERE ticket_id = ?" if ticket_id else "") + " ORDER BY id",
                          (ticket_id,) if ticket_id else ()).fetchall()
    finally:
        db.close()
    return [{"id": r[0], "ticket": r[1], "kind": r[2], "at": r[3] / 1e6, "level": r[4],
             "actor": r[5], "note": r[6], "key": r[7]} for r in rows]


def mqtt_section(broker, **extra):
    keys = {"port": str(broker.port), "interval_seconds": "2", "keepalive": "5"}
    keys.update({k: str(v) for k, v in extra.items()})
    return keys


class FakeRecorder:
    """Publishes what a recorder publishes, for payloads and faults a real
    recorder cannot be made to send on demand (storage errors, retention at
    risk, hostile input) or to exercise the checker alone, fast."""

    def __init__(self, broker, rec_id, site="Test site", prefix="vigil", interval=3600):
        self.broker = broker
        self.id = rec_id
        self.site = site
        self.prefix = prefix
        self.interval = interval

    def status(self, status):
        publish(self.broker, "%s/%s/status" % (self.prefix, self.id), status, retain=True)

    def health(self, **fields):
        body = {"at": now_rfc3339(), "recorder": self.id, "site": self.site,
                "interval_s": self.interval, "storage_error": False,
                "retention_at_risk": False, "forecast_days": 400, "retain_days": 90,
                "disk": {"total_bytes": 10 ** 12, "free_bytes": 6 * 10 ** 11}}
        body.update(fields)
        publish(self.broker, "%s/%s/health" % (self.prefix, self.id), body, retain=True)

    def camera(self, cam, state, location="", gap_age=None, since_age=0.0, **fields):
        body = {"at": now_rfc3339(), "recorder": self.id, "camera": cam, "state": state,
                "since": now_rfc3339(-since_age), "fps": 25.0 if state == "recording" else 0.0,
                "expected_fps": 25.0, "site": self.site, "location": location,
                "gap_start": None if gap_age is None else now_rfc3339(-gap_age),
                "reconnects": 0, "last_error": ""}
        body.update(fields)
        publish(self.broker, "%s/%s/camera/%s/health" % (self.prefix, self.id, cam), body,
                retain=True)


class WebhookReceiver:
    """A loopback HTTP server.  respond(request) -> (status, body dict/str or
    None, delay seconds) decides each answer; every request is kept."""

    def __init__(self, respond):
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                req = {"method": self.command, "path": self.path,
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body, "at": time.time()}
                with outer.lock:
                    outer.requests.append(req)
                status, answer, delay = respond(req)
                if delay:
                    time.sleep(delay)
                data = b"" if answer is None else (
                    answer.encode() if isinstance(answer, str) else json.dumps(answer).encode())
                try:
                    self.send_response(status)
                    if data:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (a timeout we asked for)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def all(self):
        with self.lock:
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
