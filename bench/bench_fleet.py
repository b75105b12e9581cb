#!/usr/bin/env python3
"""Benchmark of several recorders through bridges (make bench-fleet).

One central mosquitto, two site mosquittos bridged to it as in
docs/mosquitto/site-bridge.conf, and one `vigil check` on the central broker.
100 simulated recorders x 100 cameras (build/checker-load, one generator per
site broker, half the recorders each, with their inventories) publish as
recorders do: one retained QoS 1 message per camera per 10 s.  Measured:

1. the checker's CPU (% of one core, from /proc) and memory over the steady
   part, the brokers' beside it for scale;
2. a site's link lost (its broker killed): the time from the loss to its one
   site-unreachable ticket (grace 10 s included), and, after the site's
   recorders have gone silent, that no recorder or camera ticket came for
   them; the checker's CPU through the outage.

usage: bench/bench_fleet.py [--build DIR] [--recorders N] [--cameras N] [--steady S]
"""
import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

GRACE = 10
INTERVAL = 10


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def site_broker(mq, wd, name, central):
    b = mq.Broker(wd, name=name, start_now=False)
    with open(b.conf, "a") as f:
        f.write("\n".join([
            "connection %s" % name, "address 127.0.0.1:%d" % central.port,
            "remote_clientid vigil-bridge-%s" % name, "topic vigil/# out 1",
            "cleansession false", "notifications true",
            "notification_topic vigil/bridge/%s/state" % name, "keepalive_interval 10",
            "restart_timeout 1 5", "try_private true", "max_queued_messages 100000",
        ]) + "\n")
    b.start()
    return b


def tickets(db_path):
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=10)
    try:
        return db.execute("SELECT kind, recorder, camera, opened_us, fault_start_us "
                          "FROM ticket ORDER BY id").fetchall()
    finally:
        db.close()


def run(h, mq, build, recorders, per, steady):
    wd = h.workdir()
    central = mq.Broker(wd, name="central")
    sites = [site_broker(mq, wd, "site-%d" % i, central) for i in range(2)]
    config = h.write_config(wd, {}, mqtt=mq.mqtt_section(central, interval_seconds=INTERVAL),
                            checker={"grace_seconds": str(GRACE), "clear_seconds": "10"})
    chk = mq.Checker(config)
    chk.wait_log("mqtt: connected")
    half = recorders // 2
    duration = 12 + steady + 60
    gens = []
    for i, b in enumerate(sites):
        gens.append(subprocess.Popen(
            [os.path.join(build, "checker-load"), "--port", str(b.port), "--recorders",
             str(half), "--first", str(i * half), "--cameras", str(per), "--interval",
             str(INTERVAL), "--duration", str(duration), "--faults", "0", "--grace",
             str(GRACE), "--site", "site-%d" % i, "--inventory"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    # the first interval creates every camera; the steady part follows
    time.sleep(12)
    pids = {"checker": chk.proc.pid, "central broker": central.proc.pid,
            "site broker": sites[0].proc.pid}
    c0 = {k: cpu_seconds(p) for k, p in pids.items()}
    w0 = time.monotonic()
    time.sleep(steady)
    c1 = {k: cpu_seconds(p) for k, p in pids.items()}
    w1 = time.monotonic()
    steady_cpu = {k: 100 * (c1[k] - c0[k]) / (w1 - w0) for k in pids}
    rss = rss_mb(chk.proc.pid)
    db_path = mq.ticket_db(config)
    before = len(tickets(db_path))

    # the link of site-1 is lost: its broker dies, its bridge's will says 0
    os.kill(sites[1].proc.pid, signal.SIGKILL)
    lost = time.time()
    o0, ow0 = cpu_seconds(chk.proc.pid), time.monotonic()
    site_ticket = None
    while time.time() - lost < 60 and site_ticket is None:
        for t in tickets(db_path):
            if t[0] == "site-unreachable":
                site_ticket = t
        time.sleep(0.1)
    seen = time.time()
    # past the silence of its recorders (3 intervals) and the grace
    time.sleep(3 * INTERVAL + GRACE + 5)
    o1, ow1 = cpu_seconds(chk.proc.pid), time.monotonic()
    after = tickets(db_path)[before:]
    others = [t for t in after if t[0] != "site-unreachable"]
    for g in gens:
        g.kill()
        g.wait()
    chk.stop()
    code, out, _ = h.vigil("tickets", "-c", config, "recorders", "--json")
    listed = sum(len(s["recorders"]) for s in json.loads(out)) if code == 0 else -1
    return {
        "recorders": recorders, "cameras": recorders * per,
        "steady_cpu_pct": steady_cpu, "checker_rss_mb": rss,
        "site_ticket": site_ticket is not None,
        "loss_to_ticket_s": (site_ticket[3] / 1e6 - lost) if site_ticket else None,
        "loss_to_ticket_seen_s": seen - lost if site_ticket else None,
        "fault_start_error_s": (site_ticket[4] / 1e6 - lost) if site_ticket else None,
        "other_tickets_during_outage": others,
        "outage_cpu_pct": 100 * (o1 - o0) / (ow1 - ow0),
        "recorders_listed": listed,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--recorders", type=int, default=100)
    ap.add_argument("--cameras", type=int, default=100, help="per recorder")
    ap.add_argument("--steady", type=int, default=30)
    args = ap.parse_args()
    os.environ["VIGIL_BUILD"] = os.path.abspath(args.build)
    import harness as h
    import mqtt_harness as mq
    try:
        r = run(h, mq, os.path.abspath(args.build), args.recorders, args.cameras, args.steady)
    finally:
        h.cleanup()
    print("fleet: %d recorders x %d cameras through 2 bridged site brokers, grace %d s" % (
        r["recorders"], r["cameras"] // r["recorders"], GRACE))
    for k, v in r["steady_cpu_pct"].items():
        print("  steady CPU, %-15s %5.1f %% of a core" % (k + ":", v))
    print("  checker RSS: %.1f MiB" % r["checker_rss_mb"])
    if r["site_ticket"]:
        print("  link lost -> site-unreachable ticket: %.2f s (grace %d s + %.2f s); "
              "fault start %.2f s from the loss" % (
                  r["loss_to_ticket_s"], GRACE, r["loss_to_ticket_s"] - GRACE,
                  r["fault_start_error_s"]))
    else:
        print("  NO site ticket within 60 s")
    print("  other tickets through the outage (its 50 recorders silent, 5000 cameras): %d" %
          len(r["other_tickets_during_outage"]))
    print("  checker CPU through the outage: %.1f %% of a core" % r["outage_cpu_pct"])
    print("  vigil tickets recorders lists %d recorders" % r["recorders_listed"])
    print("FIGURE " + json.dumps({k: v for k, v in r.items()
                                  if k != "other_tickets_during_outage"}))
    ok = r["site_ticket"] and not r["other_tickets_during_outage"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
