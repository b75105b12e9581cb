#!/usr/bin/env python3
"""Benchmark of health and the checker (make bench-checker).

1. Detection latency, real components: camsim -> vigil record -> mosquitto ->
   vigil check.  A camera is stalled five times; for each stall: how long
   until its health message says so (ingest's stall detection, 5 s by
   default, is most of it), and from that message to the ticket (grace 0).
2. Load: one checker fed by 10,000 simulated cameras (100 recorders x 100,
   build/checker-load) at one retained QoS 1 message per camera per 10 s,
   with 100 of them going down over 20 s.  The checker's CPU (% of one
   core, from /proc over the steady part of the run, the broker's beside it
   for scale) and how late each ticket came after its threshold (fault +
   grace): end to end at the load generator, and on the checker's own clock
   from the ticket database.

usage: bench/checker_bench.py [--build DIR] [--cameras N] [--duration S]
"""
import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


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


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def latency(h, mq, rounds=5):
    wd = h.workdir()
    broker = mq.Broker(wd)
    cams = h.Camsim(wd, cameras=1)
    config = h.write_config(wd, {"cam1": cams.url("cam1")},
                            mqtt=mq.mqtt_section(broker, interval_seconds=10),
                            checker={"grace_seconds": "0", "clear_seconds": "2"})
    sub = mq.Subscriber(broker)
    h.Recorder(config)
    mq.Checker(config)
    topic = "/camera/cam1/health"
    to_health, to_ticket = [], []
    for i in range(rounds):
        sub.wait(lambda m: m["topic"].endswith(topic) and m["json"] and
                 m["json"]["state"] == "recording", 30, what="cam1 recording")
        h.wait_until(lambda: all(t["state"] == "resolved" for t in mq.tickets(config)), 30,
                     what="previous ticket resolved")
        time.sleep(2)
        t0 = time.time()
        cams.stall("cam1")
        m = sub.wait(lambda m: m["topic"].endswith(topic) and m["at"] > t0 and m["json"] and
                     m["json"]["state"] in ("reconnecting", "down"), 15, what="stall on MQTT")
        t = sub.wait(lambda m: m["topic"].startswith("vigil/tickets/") and m["at"] > t0 and
                     m["json"] and m["json"].get("event", {}).get("kind") == "opened", 10,
                     what="the ticket")
        to_health.append(m["at"] - t0)
        to_ticket.append(t["at"] - m["at"])
        cams.resume("cam1")
    return to_health, to_ticket


def load(h, mq, build, cameras, duration):
    wd = h.workdir()
    broker = mq.Broker(wd)
    grace = 10
    config = h.write_config(wd, {}, mqtt=mq.mqtt_section(broker, interval_seconds=10),
                            checker={"grace_seconds": str(grace), "clear_seconds": "10"})
    chk = mq.Checker(config)
    chk.wait_log("mqtt: connected")
    per = 100
    recorders = max(1, cameras // per)
    faults = 100
    gen = subprocess.Popen([os.path.join(build, "checker-load"), "--port", str(broker.port),
                            "--recorders", str(recorders), "--cameras", str(per), "--interval",
                            "10", "--duration", str(duration), "--faults", str(faults),
                            "--fault-from", "15", "--fault-to", "35", "--grace", str(grace)],
                           stdout=subprocess.PIPE, text=True)
    # the first interval creates every camera; the steady part follows
    time.sleep(12)
    c0, b0, w0 = cpu_seconds(chk.proc.pid), cpu_seconds(broker.proc.pid), time.monotonic()
    out, _ = gen.communicate(timeout=duration + 60)
    c1, b1, w1 = cpu_seconds(chk.proc.pid), cpu_seconds(broker.proc.pid), time.monotonic()
    rss = rss_mb(chk.proc.pid)
    lines = out.splitlines()
    sent = int(lines[0].split()[1])
    rate = float(lines[1].split()[1])
    e2e = [float(line.split()[3]) / 1000 for line in lines if line.startswith("ticket ")]
    missing = int(lines[-1].split()[1])
    chk.stop()
    db = sqlite3.connect("file:%s?mode=ro" % mq.ticket_db(config), uri=True)
    own = [(o - s) / 1e6 - grace for o, s in
           db.execute("SELECT opened_us, fault_start_us FROM ticket WHERE kind = 'camera-down'")]
    total = db.execute("SELECT count(*) FROM ticket").fetchone()[0]
    db.close()
    refused = chk.log_text().count("ignored a message")
    return {
        "cameras": recorders * per, "recorders": recorders, "sent": sent, "rate": rate,
        "checker_cpu_pct": 100 * (c1 - c0) / (w1 - w0),
        "broker_cpu_pct": 100 * (b1 - b0) / (w1 - w0),
        "checker_rss_mb": rss, "faults": faults, "tickets": total, "missing": missing,
        "late_e2e": e2e, "late_own": own, "refused": refused,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--cameras", type=int, default=10000)
    ap.add_argument("--duration", type=int, default=60)
    args = ap.parse_args()
    os.environ["VIGIL_BUILD"] = os.path.abspath(args.build)
    import harness as h
    import mqtt_harness as mq
    try:
        to_health, to_ticket = latency(h, mq)
        h.cleanup()
        r = load(h, mq, os.path.abspath(args.build), args.cameras, args.duration)
    finally:
        h.cleanup()

    print("checker benchmark (%d cores)" % os.cpu_count())
    print("  detection latency over %d camera stalls (stall_seconds 5, grace 0):" % len(to_health))
    print("    stall -> health message   median %.2f s, max %.2f s" % (
        statistics.median(to_health), max(to_health)))
    print("    health message -> ticket  median %.3f s, max %.3f s" % (
        statistics.median(to_ticket), max(to_ticket)))
    print("  load: %d cameras on %d recorders, %d messages in %d s (%.0f/s)" % (
        r["cameras"], r["recorders"], r["sent"], args.duration, r["rate"]))
    print("    checker CPU %.1f %% of one core (broker %.1f %%, ratio %.2f), RSS %.0f MB" % (
        r["checker_cpu_pct"], r["broker_cpu_pct"],
        r["checker_cpu_pct"] / r["broker_cpu_pct"] if r["broker_cpu_pct"] else 0,
        r["checker_rss_mb"]))
    print("    %d faults -> %d tickets, %d missing, %d messages refused" % (
        r["faults"], len(r["late_e2e"]), r["missing"], r["refused"]))
    e2e, own = r["late_e2e"], r["late_own"]
    if e2e:
        print("    ticket after its threshold, end to end: median %.3f s, p99 %.3f s, max %.3f s" % (
            statistics.median(e2e), pct(e2e, 99), max(e2e)))
    if own:
        print("    ticket after its threshold, checker clock: median %.3f s, p99 %.3f s, max %.3f s" % (
            statistics.median(own), pct(own, 99), max(own)))
    print(json.dumps({k: v for k, v in r.items() if not k.startswith("late")} | {
        "stall_to_health_s": to_health, "health_to_ticket_s": to_ticket,
        "late_e2e_max_s": max(e2e) if e2e else None, "late_own_max_s": max(own) if own else None}))
    ok = r["checker_cpu_pct"] < 10 and e2e and max(e2e) < 1.0 and r["missing"] == 0
    print("goal (under 10 %% of a core, no ticket later than 1 s): %s" % ("met" if ok else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
