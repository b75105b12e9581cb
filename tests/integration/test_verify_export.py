"""vigil verify finds every kind of tampering; vigil export makes one
playable MP4 of a window, with a manifest that verify --export checks."""
import json
import os
import shutil
import time

from harness import (Camsim, Recorder, free_port, mkhistory, rfc3339, segcheck, segments,
                     sha256_file, sqlite, vigil, wait_until, workdir, write_config)

NOW = "2026-11-01T00:00:00Z"


def verify(config, *extra):
    code, out, err = vigil("verify", "-c", config, "--json", *extra)
    assert code in (0, 1), err
    return code, json.loads(out)


def problems(report):
    return [(p["kind"], p["segment"]) for p in report["problems"]]


def fresh_copy(base_wd, name):
    """A copy of a pristine synthetic storage, so each tampering is alone."""
    wd = os.path.join(base_wd, name)
    shutil.copytree(os.path.join(base_wd, "pristine"), wd, symlinks=True)
    config = os.path.join(wd, "vigil.ini")
    with open(config) as f:
        text = f.read().replace(os.path.join(base_wd, "pristine"), wd)
    with open(config, "w") as f:
        f.write(text)
    return wd, config


def test_verify_detects_each_kind_of_tampering():
    base = workdir()
    pristine = os.path.join(base, "pristine")
    os.makedirs(pristine)
    config = write_config(pristine, {"cam1": "rtsp://127.0.0.1:9/a"})
    mkhistory(config, "cam1", "2026-10-30T00:00:00Z", NOW,
              gaps=[("2026-10-30T05:00:00Z", "2026-10-30T07:00:00Z", "camera-unreachable")])
    code, rep = verify(config)
    assert code == 0 and rep["ok"] and rep["checked"] == 46 and not rep["problems"], rep
    assert rep["chain_heads"][0]["camera"] == "cam1"

    def one(name):
        wd, cfg = fresh_copy(base, name)
        segs = segments(cfg)
        return wd, cfg, segs[10]

    # a changed byte in a file
    wd, cfg, seg = one("changed")
    with open(seg["path"], "r+b") as f:
        f.seek(100)
        f.write(b"X")
    code, rep = verify(cfg)
    assert code == 1 and problems(rep) == [("changed-file", seg["id"])], rep
    # --no-hash only sees sizes: the same change passes, a truncation does not
    code, _ = verify(cfg, "--no-hash")
    assert code == 0
    # a missing file
    wd, cfg, seg = one("missing")
    os.unlink(seg["path"])
    code, rep = verify(cfg)
    assert code == 1 and problems(rep) == [("missing-file", seg["id"])], rep
    # a file the catalog does not know
    wd, cfg, seg = one("unknown")
    stranger = os.path.join(os.path.dirname(seg["path"]), "120000-99999.mp4")
    shutil.copy(seg["path"], stranger)
    code, rep = verify(cfg)
    assert code == 1 and [p["kind"] for p in rep["problems"]] == ["unknown-file"], rep
    assert rep["problems"][0]["path"].endswith("120000-99999.mp4")
    # an edited row: the segment's end moved to hide nothing, or to claim more
    wd, cfg, seg = one("edited")
    sqlite(cfg, "UPDATE segment SET end_us = end_us + 60000000 WHERE id = ?", seg["id"])
    code, rep = verify(cfg)
    assert code == 1 and ("segment-row-edited", seg["id"]) in problems(rep), rep
    # a removed row (its file then is unknown too)
    wd, cfg, seg = one("removed")
    sqlite(cfg, "DELETE FROM segment WHERE id = ?", seg["id"])
    code, rep = verify(cfg)
    kinds = problems(rep)
    assert code == 1 and ("segment-row-removed", seg["id"]) in kinds, rep
    assert "unknown-file" in [k for k, _ in kinds]
    # a removed audit entry
    wd, cfg, seg = one("audit-removed")
    sqlite(cfg, "DELETE FROM audit WHERE camera = 'cam1' AND seq = 5")
    code, rep = verify(cfg)
    assert code == 1 and "audit-entry-removed" in [k for k, _ in problems(rep)], rep
    # an edited audit entry
    wd, cfg, seg = one("audit-edited")
    sqlite(cfg, "UPDATE audit SET detail = replace(detail, 'bytes=4096', 'bytes=4097') "
                "WHERE camera = 'cam1' AND seq = 7")
    code, rep = verify(cfg)
    assert code == 1 and "audit-entry-edited" in [k for k, _ in problems(rep)], rep
    # a gap made shorter, to hide part of an outage
    wd, cfg, seg = one("gap")
    sqlite(cfg, "UPDATE gap SET end_us = end_us - 3600000000")
    code, rep = verify(cfg)
    assert code == 1 and "gap-row-changed" in [k for k, _ in problems(rep)], rep
    # and the untouched copy is still fine
    code, rep = verify(config)
    assert code == 0


def test_export_is_one_playable_mp4_with_a_manifest():
    wd = workdir()
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")})
    rec = Recorder(config)
    wait_until(lambda: len([s for s in segments(config) if s["state"] == "complete"]) >= 2, 30,
               what="two segments")
    time.sleep(1)
    cams.down("cam1")
    time.sleep(4)
    cams.up("cam1")
    wait_until(lambda: len([s for s in segments(config) if s["state"] == "complete"]) >= 4, 40,
               what="recording after the outage")
    assert rec.stop() == 0
    segs = segments(config)
    first, last = rfc3339(segs[0]["start"]), rfc3339(segs[-1]["end"])
    start, end = first + 2.5, last - 1.0
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % round((t % 1) * 1e6)
    out = os.path.join(wd, "evidence.mp4")

    code, stdout, err = vigil("export", "-c", config, "--camera", "cam1", "--from", iso(start),
                              "--to", iso(end), "-o", out)
    assert code == 0, err
    with open(out + ".manifest.json") as f:
        man = json.load(f)
    assert man["camera"] == "cam1" and man["output"]["sha256"] == sha256_file(out)
    assert man["output"]["bytes"] == os.path.getsize(out)
    used = [s for s in segs if rfc3339(s["end"]) > start and rfc3339(s["start"]) < end]
    assert [s["id"] for s in man["segments"]] == [s["id"] for s in used]
    assert all(m["sha256"] == s["sha256"] for m, s in zip(man["segments"], used))
    assert len(man["gaps"]) == 1 and man["gaps"][0]["reason"] == "camera-unreachable", man["gaps"]
    # the window, at keyframe precision: it starts at most one GOP early
    first_frame = rfc3339(man["output"]["first_frame"])
    assert start - 2.1 <= first_frame <= start + 0.001, (first_frame, start)
    assert end - 0.2 <= rfc3339(man["output"]["last_frame"]) < end
    c = segcheck([out])[0]
    assert c["ok"] and c["first_key"] and c["decoded_first"] and c["dts_monotonic"], c
    recorded = sum(s["frames"] for s in used)
    assert 0 < c["frames"] <= recorded
    # timestamps follow wall time across the gap
    assert abs(c["duration_s"] - (rfc3339(man["output"]["last_frame"]) - first_frame)) < 0.2, c

    code, stdout, err = vigil("verify", "-c", config, "--export", out, "--json")
    assert code == 0 and json.loads(stdout)["ok"], stdout
    # an export is never overwritten
    code, _, err = vigil("export", "-c", config, "--camera", "cam1", "--from", iso(start),
                         "--to", iso(end), "-o", out)
    assert code == 2 and "exists" in err
    # an edited manifest: a source segment's hash changed (to match a
    # substituted file), or its path
    manifest = out + ".manifest.json"
    with open(manifest) as f:
        original = f.read()
    for key, value in (("sha256", "0" * 64), ("path", "cam1/2026/01/01/000000-1.mp4")):
        edited = json.loads(original)
        edited["segments"][1][key] = value
        with open(manifest, "w") as f:
            json.dump(edited, f)
        code, stdout, _ = vigil("verify", "-c", config, "--export", out, "--json")
        found = json.loads(stdout)["problems"]
        assert code == 1 and [(p["kind"], p["segment"]) for p in found] == [
            ("export-source-changed", edited["segments"][1]["id"])], (key, found)
    # the output's own hash edited in the manifest
    edited = json.loads(original)
    edited["output"]["sha256"] = "0" * 64
    with open(manifest, "w") as f:
        json.dump(edited, f)
    code, stdout, _ = vigil("verify", "-c", config, "--export", out, "--json")
    assert code == 1 and [p["kind"] for p in json.loads(stdout)["problems"]] == \
        ["export-changed"], stdout
    with open(manifest, "w") as f:
        f.write(original)
    code, stdout, _ = vigil("verify", "-c", config, "--export", out, "--json")
    assert code == 0, stdout
    # a source segment's file deleted behind the catalog's back after the export
    src = used[1]
    aside = os.path.join(wd, "aside.mp4")
    shutil.move(src["path"], aside)
    code, stdout, _ = vigil("verify", "-c", config, "--export", out, "--json")
    found = [(p["kind"], p["segment"]) for p in json.loads(stdout)["problems"]]
    assert code == 1 and found == [("missing-file", src["id"])], found
    shutil.move(aside, src["path"])
    # deleted under the rule (a sweep far in the future): the catalog keeps
    # its hash, so the export still verifies against it
    code, _, err = vigil("sweep", "-c", config, "--now", "2099-01-01T00:00:00Z")
    assert code == 0, err
    assert all(s["state"] == "deleted" for s in segments(config, "--all") if s["id"] in
               {u["id"] for u in used})
    code, stdout, _ = vigil("verify", "-c", config, "--export", out, "--json")
    assert code == 0, stdout
    # its row removed: the export's provenance is gone
    sqlite(config, "DELETE FROM segment WHERE id = ?", src["id"])
    code, stdout, _ = vigil("verify", "-c", config, "--export", out, "--json")
    found = [(p["kind"], p["segment"]) for p in json.loads(stdout)["problems"]]
    assert code == 1 and found == [("export-source-missing", src["id"])], found
    # a changed export is found
    with open(out, "ab") as f:
        f.write(b"\0")
    code, stdout, _ = vigil("verify", "-c", config, "--export", out, "--json")
    assert code == 1 and json.loads(stdout)["problems"][0]["kind"] == "export-changed"


def test_export_does_not_follow_planted_links():
    """Someone who can write to the export folder plants a link at the name
    of the manifest's temporary (or of the MP4) pointing at a file of
    theirs to clobber: export must not write through it."""
    wd = workdir()
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": cams.url("cam1")})
    rec = Recorder(config)
    wait_until(lambda: len([s for s in segments(config) if s["state"] == "complete"]) >= 2, 30,
               what="two segments")
    assert rec.stop() == 0
    segs = [s for s in segments(config) if s["state"] == "complete"]
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % round((t % 1) * 1e6)
    window = ("--from", iso(rfc3339(segs[0]["start"])), "--to", iso(rfc3339(segs[-1]["end"])))
    victim = os.path.join(wd, "victim.txt")
    with open(victim, "w") as f:
        f.write("precious\n")

    out = os.path.join(wd, "evidence.mp4")
    os.symlink(victim, out + ".manifest.json.tmp")
    code, _, err = vigil("export", "-c", config, "--camera", "cam1", *window, "-o", out)
    with open(victim) as f:
        assert f.read() == "precious\n", "the export wrote through the planted link"
    assert code != 0 and "tmp" in err, err
    assert not os.path.exists(out), "a failed export leaves no MP4"
    assert not os.path.exists(out + ".manifest.json")

    out2 = os.path.join(wd, "evidence2.mp4")
    os.symlink(victim, out2)
    code, _, err = vigil("export", "-c", config, "--camera", "cam1", *window, "-o", out2)
    assert code != 0 and "exists" in err, err
    with open(victim) as f:
        assert f.read() == "precious\n"

    # with the folder clean, the same export works and verifies
    os.unlink(out + ".manifest.json.tmp")
    code, _, err = vigil("export", "-c", config, "--camera", "cam1", *window, "-o", out)
    assert code == 0, err
    code, stdout, _ = vigil("verify", "-c", config, "--export", out, "--json")
    assert code == 0 and json.loads(stdout)["ok"], stdout
    c = segcheck([out])[0]
    assert c["ok"] and c["first_key"], c


def test_verify_detects_the_rest_of_its_kinds():
    """The kinds of tampering the test above leaves out: a renumbered chain
    (an entry removed and the rest moved up), a segment row or a gap row
    with no entry, a deletion with no entry, a footage file moved aside at
    start-up, and a chain cut short at its tail (rows, files and entries
    removed together), which only the noted head shows."""
    base = workdir()
    pristine = os.path.join(base, "pristine")
    os.makedirs(pristine)
    config = write_config(pristine, {"cam1": "rtsp://127.0.0.1:9/a"})
    mkhistory(config, "cam1", "2026-10-30T00:00:00Z", NOW,
              gaps=[("2026-10-30T05:00:00Z", "2026-10-30T07:00:00Z", "camera-unreachable")])
    code, rep = verify(config)
    assert code == 0 and rep["ok"], rep
    noted = rep["chain_heads"][0]

    def one(name):
        wd, cfg = fresh_copy(base, name)
        return wd, cfg, segments(cfg)

    # an entry removed and the later ones renumbered, so no seq is missing:
    # the links no longer hold
    wd, cfg, segs = one("renumbered")
    sqlite(cfg, "DELETE FROM audit WHERE camera = 'cam1' AND seq = 5")
    last = sqlite(cfg, "SELECT max(seq) FROM audit WHERE camera = 'cam1'")[0][0]
    for seq in range(6, last + 1):
        sqlite(cfg, "UPDATE audit SET seq = ? WHERE camera = 'cam1' AND seq = ?", seq - 1, seq)
    code, rep = verify(cfg)
    kinds = [k for k, _ in problems(rep)]
    assert code == 1 and "audit-chain-broken" in kinds, rep
    assert "audit-entry-removed" not in kinds, rep
    # a segment row nobody audited (a copy of a real one, its file beside it)
    wd, cfg, segs = one("unaudited-row")
    seg = segs[10]
    new_id = 99999
    rel = os.path.join(os.path.dirname(os.path.relpath(seg["path"], os.path.join(wd, "footage"))),
                       "235959-%d.mp4" % new_id)
    shutil.copy(seg["path"], os.path.join(wd, "footage", rel))
    sqlite(cfg, "INSERT INTO segment (id, camera, path, state, start_us, end_us, duration_us, "
                "bytes, frames, keyframes, sha256, codec, width, height, has_audio) "
                "SELECT ?, camera, ?, state, start_us + 1, end_us, duration_us, bytes, frames, "
                "keyframes, sha256, codec, width, height, has_audio FROM segment WHERE id = ?",
           new_id, rel, seg["id"])
    code, rep = verify(cfg)
    assert code == 1 and ("segment-row-unaudited", new_id) in problems(rep), rep
    # a deletion nobody audited: the row says deleted, the file is gone
    wd, cfg, segs = one("unaudited-deletion")
    seg = segs[12]
    os.unlink(seg["path"])
    sqlite(cfg, "UPDATE segment SET state = 'deleted', deleted_us = end_us + 1, "
                "delete_reason = 'expired' WHERE id = ?", seg["id"])
    code, rep = verify(cfg)
    assert code == 1 and ("deletion-unaudited", seg["id"]) in problems(rep), rep
    # a gap row nobody audited (an outage claimed after the fact)
    wd, cfg, segs = one("unaudited-gap")
    sqlite(cfg, "INSERT INTO gap (camera, start_us, end_us, reason, detail) VALUES "
                "('cam1', ?, ?, 'stream-stalled', 'made up')",
           int(rfc3339("2026-10-31T10:00:00Z") * 1e6), int(rfc3339("2026-10-31T10:00:05Z") * 1e6))
    code, rep = verify(cfg)
    assert code == 1 and "gap-row-unaudited" in [k for k, _ in problems(rep)], rep
    # a footage file the catalog does not know, moved aside by the recorder
    # at start-up: verify reports it where it now is
    wd, cfg, segs = one("quarantined")
    # (start-up walks only the folders new footage lands in: today's)
    today = os.path.join(wd, "footage", "cam1", time.strftime("%Y/%m/%d", time.gmtime()))
    os.makedirs(today, exist_ok=True)
    stranger = os.path.join(today, "120000-88888.mp4")
    shutil.copy(segs[3]["path"], stranger)
    rec = Recorder(cfg)
    rec.wait_log("recording ", timeout=30)
    assert rec.stop() == 0
    assert not os.path.exists(stranger)
    code, rep = verify(cfg)
    found = [p for p in rep["problems"] if p["kind"] == "quarantined-file"]
    assert code == 1 and len(found) == 1 and found[0]["path"].endswith("120000-88888.mp4"), rep
    assert [p["kind"] for p in rep["problems"]] == ["quarantined-file"], rep
    # the tail cut off cleanly: the last two segments, their files and their
    # entries gone.  The catalog agrees with what is left, so only the head
    # an auditor noted shows the loss
    wd, cfg, segs = one("cut-short")
    tail = sqlite(cfg, "SELECT seq, segment_id FROM audit WHERE camera = 'cam1' "
                       "ORDER BY seq DESC LIMIT 2")
    assert all(sid is not None for _, sid in tail), tail
    for seq, sid in tail:
        path = [s["path"] for s in segs if s["id"] == sid][0]
        os.unlink(path)
        sqlite(cfg, "DELETE FROM audit WHERE camera = 'cam1' AND seq = ?", seq)
        sqlite(cfg, "DELETE FROM segment WHERE id = ?", sid)
    code, rep = verify(cfg)
    head = rep["chain_heads"][0]
    assert head["camera"] == "cam1" and head["seq"] == noted["seq"] - 2, (head, noted)
    assert head["hash"] != noted["hash"], (head, noted)


def test_heads_noted_earlier_show_a_chain_cut_short_or_rewritten():
    """A chain cut short (its newest entries or access-log rows removed) is
    still whole by itself: verify alone passes it.  The heads an earlier
    `verify --json` printed, given back with --heads, show it: the entry or
    row noted then is gone, or has another hash.  Growth since is fine."""
    import sqlite3
    from web_harness import Client, Serve, add_user
    wd = workdir()
    port = free_port()
    config = write_config(wd, {"cam1": "rtsp://127.0.0.1:9/a"},
                          web={"listen": "127.0.0.1:%d" % port})
    mkhistory(config, "cam1", "2026-10-30T00:00:00Z", "2026-10-31T00:00:00Z")
    add_user(config, "ada", "admin", "ada-pass-2291")
    serve = Serve(config, port)

    def log_in(times):
        for _ in range(times):
            Client(serve.base).login("ada", "ada-pass-2291")
    log_in(3)
    code, noted = verify(config, "--no-hash")
    assert code == 0 and noted["access_log_head"]["id"] == 3, noted
    head = noted["chain_heads"][0]
    heads = os.path.join(wd, "heads.json")
    with open(heads, "w") as f:
        json.dump(noted, f)
    code, out, err = vigil("verify", "-c", config, "--no-hash")
    assert code == 0 and "access log" in out and "row 3 " in out, out

    # the log and the chain grow: the noted heads are still there
    log_in(2)
    mkhistory(config, "cam1", "2026-10-31T00:00:00Z", "2026-10-31T06:00:00Z")
    code, rep = verify(config, "--no-hash", "--heads", heads)
    assert code == 0 and rep["ok"] and rep["access_log_head"]["id"] == 5, rep

    # the access log cut back to row 2: whole, yet short of the noted row 3
    web_db = sqlite3.connect(os.path.join(wd, "footage", "web.db"))
    web_db.execute("DROP TRIGGER access_log_no_delete")
    web_db.execute("DELETE FROM access_log WHERE id > 2")
    web_db.commit()
    code, rep = verify(config, "--no-hash")
    assert code == 0 and rep["ok"], rep
    code, rep = verify(config, "--no-hash", "--heads", heads)
    assert code == 1 and [p["kind"] for p in rep["problems"]] == ["access-log-cut-short"], rep
    assert "row 3" in rep["problems"][0]["detail"], rep

    # grown again past it, by rows that are not the ones noted
    log_in(3)
    code, rep = verify(config, "--no-hash", "--heads", heads)
    assert code == 1 and [p["kind"] for p in rep["problems"]] == ["access-log-rewritten"], rep
    serve.stop()

    # the catalog cut back consistently past the noted head: the newest
    # segments, their files and their audit entries gone, as one who
    # erases the last hours would: whole, yet short of the noted entry
    cat = sqlite3.connect(os.path.join(wd, "footage", "catalog.db"))
    triggers = [r[0] for r in cat.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    for t in triggers:
        cat.execute("DROP TRIGGER %s" % t)
    keep = head["seq"] - 4
    for (path,) in cat.execute("SELECT path FROM segment WHERE camera = 'cam1' AND id > ?",
                               (keep,)).fetchall():
        os.unlink(os.path.join(wd, "footage", path))
    cat.execute("DELETE FROM segment WHERE camera = 'cam1' AND id > ?", (keep,))
    cat.execute("DELETE FROM audit WHERE camera = 'cam1' AND seq > ?", (keep,))
    cat.commit()
    code, rep = verify(config, "--no-hash")
    assert code == 0 and rep["ok"], rep
    code, rep = verify(config, "--no-hash", "--heads", heads)
    # (the access log, rewritten above, stays so)
    assert code == 1 and [p["kind"] for p in rep["problems"]] == [
        "audit-chain-cut-short", "access-log-rewritten"], rep
    assert rep["problems"][0]["camera"] == "cam1", rep
    assert "entry %d" % head["seq"] in rep["problems"][0]["detail"], rep

    # and grown again past it, with other footage: whole, yet the noted
    # entry now has another hash
    mkhistory(config, "cam1", "2026-10-30T20:00:00Z", "2026-10-31T08:00:00Z",
              segment_seconds=1800)
    code, rep = verify(config, "--no-hash")
    assert code == 0 and rep["ok"], rep
    code, rep = verify(config, "--no-hash", "--heads", heads)
    assert code == 1 and [p["kind"] for p in rep["problems"]] == [
        "audit-chain-rewritten", "access-log-rewritten"], rep
    assert "entry %d" % head["seq"] in rep["problems"][0]["detail"], rep

    # the noted entry taken out of the middle: the chain walk names the
    # hole, and the noted head is gone from a chain that goes on past it
    cat.execute("DELETE FROM audit WHERE camera = 'cam1' AND seq = ?", (head["seq"],))
    cat.commit()
    code, rep = verify(config, "--no-hash", "--heads", heads)
    kinds = [p["kind"] for p in rep["problems"]]
    gone = [p for p in rep["problems"] if p["kind"] == "audit-chain-rewritten"]
    assert code == 1 and "audit-entry-removed" in kinds and "audit-chain-cut-short" not in kinds, rep
    assert gone and "entry %d, noted earlier, is gone" % head["seq"] in gone[0]["detail"], rep

    # bad --heads: named, exit 2, nothing checked
    code, out, err = vigil("verify", "-c", config, "--heads", os.path.join(wd, "nosuch.json"))
    assert code == 2 and "nosuch.json" in err, err
    with open(os.path.join(wd, "bad.json"), "w") as f:
        f.write("{not json")
    code, out, err = vigil("verify", "-c", config, "--heads", os.path.join(wd, "bad.json"))
    assert code == 2 and "bad.json: not JSON" in err, err
    with open(os.path.join(wd, "empty.json"), "w") as f:
        f.write('{"ok": true}')
    code, out, err = vigil("verify", "-c", config, "--heads", os.path.join(wd, "empty.json"))
    assert code == 2 and "no chain_heads nor access_log_head" in err, err
    code, out, err = vigil("verify", "-c", config, "--heads", heads, "--export", "x.mp4")
    assert code == 2 and "--heads" in err, err


def test_the_checker_witnesses_the_chain_heads_off_the_recorder():
    """Each camera's health carries the newest entry of its audit chain and
    the checker keeps what it heard (`vigil tickets heads`): a chain cut
    short on the recorder, even when it grows again past the noted entry,
    is shown by verify --heads with the checker's heads, and the checker
    says so as soon as the recorder comes back with it."""
    import sqlite3
    from mqtt_harness import Broker, Checker, mqtt_section
    wd = workdir()
    broker = Broker(wd)
    cams = Camsim(wd, cameras=1)
    config = write_config(wd, {"cam1": {"url": cams.url("cam1"), "segment_seconds": "2"}},
                          mqtt=mqtt_section(broker, interval_seconds=1))
    rec_id = "rec-" + os.path.basename(wd)[-6:]
    chk = Checker(config)
    rec = Recorder(config)

    def witnessed():
        code, out, _ = vigil("tickets", "-c", config, "heads", rec_id, "--json")
        return json.loads(out) if code == 0 else None

    def noted_past(seq):
        doc = witnessed()
        return doc and doc["chain_heads"] and doc["chain_heads"][-1]["seq"] >= seq and doc
    noted = wait_until(lambda: noted_past(4), 60, what="four chain entries witnessed")
    assert noted["recorder"] == rec_id and {h["camera"] for h in noted["chain_heads"]} == {"cam1"}
    assert rec.stop() == 0
    head = witnessed()["chain_heads"][-1]
    heads = os.path.join(wd, "heads.json")
    with open(heads, "w") as f:
        json.dump(witnessed(), f)
    code, rep = verify(config, "--heads", heads)
    assert code == 0 and rep["ok"], rep

    # the newest footage erased with its segments and audit entries: whole
    # by itself, short of what the checker heard
    cat = sqlite3.connect(os.path.join(wd, "footage", "catalog.db"))
    for (t,) in cat.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        cat.execute("DROP TRIGGER %s" % t)
    keep = head["seq"] - 2
    ids = [r[0] for r in cat.execute("SELECT segment_id FROM audit WHERE camera = 'cam1' AND "
                                     "seq > ? AND segment_id IS NOT NULL", (keep,))]
    for (path,) in cat.execute("SELECT path FROM segment WHERE id IN (%s)" %
                               ",".join("?" * len(ids)), ids).fetchall():
        os.unlink(os.path.join(wd, "footage", path))
    cat.execute("DELETE FROM segment WHERE id IN (%s)" % ",".join("?" * len(ids)), ids)
    cat.execute("DELETE FROM audit WHERE camera = 'cam1' AND seq > ?", (keep,))
    cat.commit()
    cat.close()
    code, rep = verify(config)
    assert code == 0 and rep["ok"], rep
    code, rep = verify(config, "--heads", heads)
    assert code == 1 and "audit-chain-cut-short" in [p["kind"] for p in rep["problems"]], rep

    # the recorder back: the checker hears the chain behind what it noted,
    # says so, and keeps the entry it contradicts
    rec = Recorder(config, log=config + ".2.log")
    chk.wait_log("its audit chain went back from entry %d to %d" % (head["seq"], keep), 30)
    # grown again past the noted entry, with other entries: the checker's
    # heads still show it
    wait_until(lambda: noted_past(head["seq"] + 2), 60, what="the chain grown again")
    assert rec.stop() == 0
    with open(heads, "w") as f:
        json.dump(witnessed(), f)
    code, rep = verify(config)
    assert code == 0 and rep["ok"], rep
    code, rep = verify(config, "--heads", heads)
    kinds = [p["kind"] for p in rep["problems"]]
    assert code == 1 and kinds == ["audit-chain-rewritten"], rep
    assert "entry %d " % head["seq"] in rep["problems"][0]["detail"], rep

    # a recorder the checker never heard is an error, not an empty list
    code, out, err = vigil("tickets", "-c", config, "heads", "rec-nosuch", "--json")
    assert code == 1 and "rec-nosuch" in err, (code, err)
    chk.stop()
    cams.stop()
