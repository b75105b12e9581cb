"""vigil verify finds every kind of tampering; vigil export makes one
playable MP4 of a window, with a manifest that verify --export checks."""
import json
import os
import shutil
import time

from harness import (Camsim, Recorder, mkhistory, rfc3339, segcheck, segments, sha256_file, sqlite,
                     vigil, wait_until, workdir, write_config)

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
