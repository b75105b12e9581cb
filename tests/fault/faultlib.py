"""Helpers of the reliability tests (crash, power loss, storage faults).

The fault injector itself is build/vfault.so (tests/fault/vfault.c), preloaded
into a real vigil; this module builds its environment, reads its log, runs
start-up recovery the way a restart does, and checks the invariants written
at the top of catalog/catalog.h against the real files and the real catalog.
"""
import configparser
import json
import os
import sqlite3
import statistics
import time

import harness
from harness import (BUILD, Recorder, catalog_path, footage_files, segcheck, segments, vigil,
                     wait_until)

VFAULT = os.path.join(BUILD, "vfault.so")
CRASH_STATUS = 99  # the shim's _exit status


def storage_of(config):
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    cp.read(config)
    return cp.get("storage", "path")


def shim_env(match, log=None, at=None, action=None, ops=None, errno=None, while_file=None):
    """The environment of a vigil run under the fault injector.  match limits
    it to paths containing that text (the storage folder, say)."""
    env = dict(os.environ)
    env["LD_PRELOAD"] = VFAULT
    env["VFAULT_PATH"] = match
    for key, value in (("VFAULT_LOG", log), ("VFAULT_AT", at), ("VFAULT_ACTION", action),
                       ("VFAULT_OPS", ops), ("VFAULT_ERRNO", errno), ("VFAULT_WHILE", while_file)):
        if value is not None:
            env[key] = str(value)
    # a sanitizer build wants its runtime first; the shim only wraps libc
    asan = env.get("ASAN_OPTIONS", "")
    if "verify_asan_link_order" not in asan:
        env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    return env


def read_log(path):
    """The shim's log: a list of (n, op, tid, path, seconds)."""
    calls = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 4)
                if len(parts) == 5:
                    calls.append((int(parts[0]), parts[1], int(parts[2]), parts[4],
                                  int(parts[3]) / 1e6))
    except FileNotFoundError:
        pass
    return calls


def sample_points(calls):
    """The crash points of a cycle worth a run in `make test`: every call that
    is not a write, and the first and last write of each run of writes to
    one file (the middle of a run adds nothing the ends do not)."""
    points = set()
    for i, (n, op, tid, path, _) in enumerate(calls):
        if op != "write":
            points.add(n)
            continue
        prev_same = i > 0 and calls[i - 1][1] == "write" and calls[i - 1][3] == path
        next_same = i + 1 < len(calls) and calls[i + 1][1] == "write" and calls[i + 1][3] == path
        if not prev_same or not next_same:
            points.add(n)
    return sorted(points)


def recovery_config(config):
    """The same config with every camera pointing nowhere: a restart that
    runs start-up recovery and then records nothing."""
    out = config[:-4] + "-recover.ini" if config.endswith(".ini") else config + "-recover"
    with open(config) as f:
        lines = f.read().splitlines()
    with open(out, "w") as f:
        for line in lines:
            if line.strip().startswith("url ") or line.strip().startswith("url="):
                line = "url = rtsp://127.0.0.1:9/nowhere"
            f.write(line + "\n")
    return out


def forget_logs(*paths):
    """Runs that went as expected: their logs are not dumped on a failure,
    so the failing run's stay readable among hundreds."""
    for path in paths:
        if path in harness._logs:
            harness._logs.remove(path)


def recover(config, env=None, timeout=60, logs=None):
    """Restarts vigil record on the storage of config (cameras pointing
    nowhere) and stops it once recovery is done and it is recording.
    Returns the recovery log line ("" when there was nothing to do); the
    run's log is appended to logs."""
    rconfig = recovery_config(config)
    rec = Recorder(rconfig, log=rconfig + ".%d.log" % time.monotonic_ns(), env=env)
    if logs is not None:
        logs.append(rec.log)
    rec.wait_log("recording ", timeout=timeout)
    status = rec.stop()
    text = rec.log_text()
    assert status == 0, "recovery run exited %d:\n%s" % (status, text[-3000:])
    lines = [line for line in text.splitlines() if "recovery:" in line or "half-done" in line]
    return "\n".join(lines)


def db_query(config, sql, *params):
    db = sqlite3.connect("file:%s?mode=ro" % catalog_path(config), uri=True, timeout=10)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def check_invariants(config, playable=True):
    """The invariants of catalog.h, at rest (no recorder running): verify
    passes, SQLite's integrity check is ok, every live row has its file with
    its size, every footage file has its row, nothing is left in writing or
    deleting, nothing was quarantined, and recovered files play.  Returns
    counts of segments by state."""
    code, out, err = vigil("verify", "-c", config, "--json", timeout=120)
    try:
        rep = json.loads(out)
    except ValueError:
        rep = {"ok": False, "raw": out, "stderr": err}
    assert code == 0 and rep.get("ok"), "vigil verify failed (%d): %s %s" % (
        code, json.dumps(rep.get("problems", rep))[:3000], err[-1000:])
    assert db_query(config, "PRAGMA integrity_check")[0][0] == "ok"
    unfinished = db_query(config, "SELECT id, state, path FROM segment "
                                  "WHERE state IN ('writing', 'deleting')")
    assert not unfinished, "rows left unfinished: %s" % unfinished
    segs = segments(config, "--all")
    live = [s for s in segs if s["state"] in ("complete", "recovered")]
    for s in live:
        assert os.path.exists(s["path"]), "row %d has no file %s" % (s["id"], s["path"])
        assert os.path.getsize(s["path"]) == s["bytes"], "row %d: file size %d, row %d" % (
            s["id"], os.path.getsize(s["path"]), s["bytes"])
    storage = storage_of(config)
    files = footage_files(storage)
    assert sorted(files) == sorted(s["path"] for s in live), \
        "files without rows: %s; rows without files: %s" % (
            sorted(set(files) - {s["path"] for s in live}),
            sorted({s["path"] for s in live} - set(files)))
    quarantined = footage_files(os.path.join(storage, ".quarantine")) \
        if os.path.isdir(os.path.join(storage, ".quarantine")) else []
    assert not quarantined, "files quarantined: %s" % quarantined
    if playable:
        recovered = [s for s in live if s["state"] == "recovered"]
        for s, c in zip(recovered, segcheck([s["path"] for s in recovered])):
            assert c["ok"] and c["first_key"] and c["frames"] == s["frames"], (s, c)
    counts = {}
    for s in segs:
        counts[s["state"]] = counts.get(s["state"], 0) + 1
    return counts


def check_accounted(config, start, end):
    """Every hole in the footage of [start, end) has a reason: the
    continuity report finds nothing "unaccounted"."""
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    code, out, err = vigil("report", "continuity", "-c", config, "--from", iso(start), "--to",
                           iso(end), "--format", "json")
    assert code in (0, 1), err
    bad = [(c["camera"], g) for c in json.loads(out)["cameras"] for g in c["gaps"]
           if g["reason"] == "unaccounted"]
    assert not bad, "holes without a reason: %s" % bad[:5]


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(p / 100.0 * (len(ordered) - 1)))))
    return ordered[index]


def summary(values):
    """median, p99 and worst of a list of seconds, as text."""
    if not values:
        return "no samples"
    return "median %.3f s, p99 %.3f s, worst %.3f s (%d samples)" % (
        statistics.median(values), percentile(values, 99), max(values), len(values))


def report_figure(name, text):
    """Prints a figure for docs/RELIABILITY.md and appends it to
    $VIGIL_FIGURES when set (make soak collects them there)."""
    line = "FIGURE %s: %s" % (name, text)
    print(line, flush=True)
    path = os.environ.get("VIGIL_FIGURES")
    if path:
        with open(path, "a") as f:
            f.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), line))


def wait_for_exit_or(rec, pred, timeout, what):
    """Waits until the recorder exits or pred() holds."""
    return wait_until(lambda: (not rec.alive()) or pred(), timeout, what=what)
