"""Promise 4 of issue 5, storage faults: EIO on a write or an fsync (once,
or on every call until the storage comes back), a storage that turns
read-only, a storage folder that disappears (an unmounted disk) and comes
back, a disk that says it is full.  In every case vigil does not crash, a
segment whose write or fsync failed is abandoned rather than indexed as
good, the outage is a gap with reason storage-error (storage-full for
ENOSPC) and a storage-error state in the camera's MQTT health, the other
camera records on, nothing younger than the floor is deleted, and recording
resumes within 2 s of the storage returning.

The failures come from the fault injector (tests/fault/vfault.c) preloaded
into the real recorder, limited to one camera's footage folder, except the
unmounted disk, which is a real tmpfs bind-mounted and unmounted.  The disk
that really fills up is tests/integration/test_retention.py's."""
import errno
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fault"))

import harness  # noqa: E402
from faultlib import (check_accounted, check_invariants, read_log, report_figure,  # noqa: E402
                      shim_env)
from harness import (Camsim, Recorder, gaps, mkhistory, rfc3339, segments, wait_until,  # noqa: E402
                     workdir, write_config)
from mqtt_harness import Broker, Subscriber, mqtt_section  # noqa: E402

RESUME_LIMIT = 2.0
DAY = 86400


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Rig:
    """Two cameras (cam1 takes the faults, cam2 is the control), a broker for
    health, and the recorder under the fault injector."""

    def __init__(self, storage=None, catalog=None, retention=None, **shim):
        self.wd = workdir()
        self.storage = storage(self.wd) if storage else os.path.join(self.wd, "footage")
        self.broker = Broker(self.wd)
        self.cams = Camsim(self.wd, cameras=2, gop=1)
        keys = {"path": self.storage, "fsync_seconds": "1", "reserve_mb": "4"}
        if catalog:
            keys["catalog"] = os.path.join(self.wd, "catalog.db")
        self.config = write_config(self.wd, {"cam1": self.cams.url("cam1"),
                                             "cam2": self.cams.url("cam2")},
                                   storage=keys, mqtt=mqtt_section(self.broker),
                                   retention=retention or {})
        self.rec_id = "rec-" + os.path.basename(self.wd)[-6:]
        self.sub = Subscriber(self.broker)
        self.calls = os.path.join(self.wd, "calls")
        folder = shim.pop("folder", "cam1/")
        self.env = shim_env(self.storage + "/" + folder, log=self.calls, **shim) \
            if shim else None
        self.rec = None

    def start(self):
        self.started = time.time()
        self.rec = Recorder(self.config, env=self.env)
        wait_until(lambda: self.complete_since(self.started) >= 2, 40,
                   what="two complete segments")

    def complete_since(self, t, camera=None):
        return len([s for s in segments(self.config) if s["state"] == "complete" and
                    rfc3339(s["start"]) > t and (camera is None or s["camera"] == camera)])

    def wait_health(self, state, camera="cam1", timeout=10):
        topic = "vigil/%s/camera/%s/health" % (self.rec_id, camera)
        return self.sub.wait(lambda m: m["topic"] == topic and m["json"] and
                             m["json"].get("state") == state, timeout,
                             what="%s %s on MQTT" % (camera, state))

    def gaps(self, camera="cam1"):
        return [g for g in gaps(self.config) if g["camera"] == camera]

    def resumed_after(self, t, reason="storage-error", camera="cam1", timeout=20):
        """Waits for the outage gap that covers t to close; returns its end
        minus t (how long recording took to come back)."""
        def closed():
            for g in self.gaps(camera):
                if g["reason"] == reason and g["start"] <= t + 0.5 and \
                        g["end"] is not None and g["end"] >= t - 0.5:
                    return g
            return None
        g = wait_until(closed, timeout, what="the %s gap to close" % reason)
        wait_until(lambda: self.complete_since(g["end"] - 0.01, camera) >= 1, 20,
                   what="a complete segment after the outage")
        return g["end"] - t, g

    def finish(self):
        assert self.rec.alive(), "the recorder died:\n" + self.rec.log_text()[-3000:]
        assert self.rec.stop() == 0
        # the control camera never noticed
        assert self.gaps("cam2") == [], self.gaps("cam2")
        check_accounted(self.config, self.started, time.time() - 1)
        return check_invariants(self.config)


def check_abandoned(rig, path):
    """The segment whose write or fsync failed is neither indexed nor on disk."""
    rows = [s for s in segments(rig.config, "--all") if s["path"] == path]
    assert not rows, "the failed segment is in the catalog: %s" % rows
    assert not os.path.exists(path), "the failed segment's file is still there"


def fail_once(op, folder_sync=False):
    """The k-th op on cam1's footage fails once with EIO."""
    ops = "fsync" if folder_sync else op
    # k: a few seconds into recording (writes: ~2 a second; fdatasyncs: ~1)
    k = {"write": 14, "fdatasync": 5, "fsync": 9}[ops]
    rig = Rig(ops=ops, at=k, action="fail-once", errno="EIO")
    rig.start()
    wait_until(lambda: len(read_log(rig.calls)) >= k, 30, what="the failing call")
    failed = read_log(rig.calls)[k - 1]
    fail_at = failed[4]
    took, gap = rig.resumed_after(fail_at)
    rig.wait_health("storage-error")
    rig.wait_health("recording")
    time.sleep(1)
    if failed[3].endswith(".mp4"):
        check_abandoned(rig, failed[3])
    else:  # a folder fsync: the segment being finished in it
        lost = [s for s in segments(rig.config, "--all") if s["camera"] == "cam1" and
                rfc3339(s["start"]) <= fail_at <= (rfc3339(s["end"]) if s["end"] else 1e12)]
        assert not lost, "a segment whose folder fsync failed is indexed: %s" % lost
    # the gap starts where the footage kept ends (mapped from media time,
    # a little ahead of the arrival clock)
    assert gap["start"] <= fail_at + 0.5, (gap, fail_at)
    counts = rig.finish()
    return took, counts


def test_eio_on_a_write_abandons_the_segment_and_recording_resumes():
    took, _ = fail_once("write")
    report_figure("eio-write-once", "resumed %.2f s after the failed write" % took)
    assert took <= RESUME_LIMIT, "recording resumed %.2f s after the storage came back" % took


test_eio_on_a_write_abandons_the_segment_and_recording_resumes.san = True
test_eio_on_a_write_abandons_the_segment_and_recording_resumes.timeout = 120


def test_eio_on_an_fsync_abandons_the_segment_and_recording_resumes():
    took, _ = fail_once("fdatasync")
    took_dir, _ = fail_once("fsync", folder_sync=True)
    report_figure("eio-fsync-once", "resumed %.2f s after a failed fdatasync of a segment, "
                  "%.2f s after a failed fsync of its folder" % (took, took_dir))
    assert max(took, took_dir) <= RESUME_LIMIT, (took, took_dir)


test_eio_on_an_fsync_abandons_the_segment_and_recording_resumes.san = True
test_eio_on_an_fsync_abandons_the_segment_and_recording_resumes.timeout = 180


def fail_until_back(errno, ops, reason="storage-error", outage=6.0, folder="cam1/"):
    """Every op on the footage fails with errno from one moment until the
    test says the storage is back; returns the time recording took to
    resume."""
    rig = Rig(ops=ops, at=1, action="fail-from", errno=errno, folder=folder)
    broken = os.path.join(rig.wd, "storage-broken")
    rig.env["VFAULT_WHILE"] = broken  # fails only while this file exists
    rig.start()
    open(broken, "w").close()
    failed_at = time.time()
    wait_until(lambda: any(g["reason"] == reason and g["end"] is None for g in rig.gaps()), 10,
               what="an open %s gap" % reason)
    rig.wait_health("storage-error")
    time.sleep(outage)
    assert rig.rec.alive()
    # nothing recorded while the storage failed is indexed as good
    during = [s for s in segments(rig.config, "--all") if s["camera"] == "cam1" and
              s["state"] in ("complete", "recovered") and rfc3339(s["end"]) > failed_at + 0.5]
    assert not during, "footage indexed while its storage failed: %s" % during
    os.unlink(broken)
    back_at = time.time()
    took, _ = rig.resumed_after(back_at - 0.01, reason=reason)
    took = max(0.0, took)
    rig.wait_health("recording")
    counts = rig.finish()
    return took, rig, counts


def test_eio_on_every_call_until_the_storage_returns():
    took, _, _ = fail_until_back("EIO", "write,fsync,fdatasync,create,mkdir")
    report_figure("eio-until-back", "resumed %.2f s after the storage returned" % took)
    assert took <= RESUME_LIMIT, took


test_eio_on_every_call_until_the_storage_returns.san = True
test_eio_on_every_call_until_the_storage_returns.timeout = 120


def test_read_only_storage_and_back():
    """What ext4 does after an error (errors=remount-ro): every write,
    create, fsync and unlink on the footage fails with EROFS."""
    took, _, _ = fail_until_back("EROFS", "write,fsync,fdatasync,create,mkdir,unlink,rename")
    report_figure("read-only-until-back", "resumed %.2f s after the storage was writable "
                  "again" % took)
    assert took <= RESUME_LIMIT, took


test_read_only_storage_and_back.timeout = 120


def fill(path, chunk=1 << 20):
    """Writes a file in folder path until the file system says ENOSPC
    (a real full disk); returns the file."""
    filler = os.path.join(path, "filler")
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
            if chunk > 4096:
                f.close()
                return fill_rest(filler)
    return filler


def fill_rest(filler):
    """Tops the filler up to the last block."""
    with open(filler, "ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return filler


def test_enospc_never_deletes_footage_younger_than_the_floor():
    """A disk that really fills up (a small tmpfs, filled while both cameras
    record): writes fail with ENOSPC, the sweeper, at once under pressure,
    deletes the footage past the rule (segments that expired a few seconds
    into the run, so only this sweep can take them) and nothing younger
    than the 90-day floor; recording stops with a storage-full gap on each
    camera, and resumes when room comes back.  Every deletion and both gaps
    are in the audit chain, and verify passes."""
    def storage(wd):
        path = os.path.join(wd, "small")
        harness.mount_tmpfs(path, 16)
        return path
    # age sweeps far apart: only the start and disk pressure sweep
    rig = Rig(storage=storage, catalog=True, retention={"sweep_interval_seconds": "86400"})
    now = time.time()
    for cam in ("cam1", "cam2"):
        # younger than the floor: 30 days of it
        mkhistory(rig.config, cam, iso(now - 30 * DAY), iso(now - 3600), segment_seconds=DAY,
                  bytes_=4096)
    # past the floor 22 to 30 s into the run: after the start's sweep
    now = time.time()
    for cam in ("cam1", "cam2"):
        mkhistory(rig.config, cam, iso(now - 90 * DAY + 20), iso(now - 90 * DAY + 30),
                  segment_seconds=2, bytes_=64 * 1024)
    before = segments(rig.config, "--all")
    expired = {s["id"] for s in before if rfc3339(s["end"]) < now - 80 * DAY}
    floor = {s["id"] for s in before} - expired
    assert len(expired) == 10 and len(floor) >= 2 * 29, (len(expired), len(floor))
    rig.start()
    assert not [s for s in segments(rig.config, "--all") if s["state"] != "complete"
                and s["id"] in expired], "deleted before they expired (or the start was slow)"
    time.sleep(max(0.0, now + 31 - time.time()))
    filler = fill(rig.storage)
    full_at = time.time()
    for cam in ("cam1", "cam2"):
        wait_until(lambda: any(g["reason"] == "storage-full" and g["end"] is None
                               for g in rig.gaps(cam)), 15, what="an open storage-full gap on " + cam)
    wait_until(lambda: {s["id"] for s in segments(rig.config, "--all")
                        if s["state"] == "deleted"} >= expired, 15,
               what="the expired footage deleted under pressure")
    time.sleep(4)  # more sweeps under pressure: still nothing younger than the floor
    assert rig.rec.alive(), rig.rec.log_text()[-3000:]
    os.unlink(filler)
    back_at = time.time()
    took, _ = rig.resumed_after(back_at - 0.01, reason="storage-full")
    took2, _ = rig.resumed_after(back_at - 0.01, reason="storage-full", camera="cam2")
    assert rig.rec.stop() == 0

    after = {s["id"]: s for s in segments(rig.config, "--all")}
    gone = {i for i, s in after.items() if s["state"] in ("deleted", "deleting")}
    assert gone == expired, "deleted: %d expired, %d younger than the floor, %d recorded" % (
        len(gone & expired), len(gone & floor), len(gone - expired - floor))
    for i in expired:
        assert after[i]["delete_reason"] == "expired", after[i]
        assert not os.path.exists(after[i]["path"]), after[i]["path"]
    for i in floor:
        assert after[i]["state"] == "complete" and os.path.exists(after[i]["path"]), after[i]
    # the audit chain has each deletion and each storage-full gap
    audited = {r[0] for r in harness.sqlite(
        rig.config, "SELECT segment_id FROM audit WHERE kind = 'segment-deleted'")}
    assert expired <= audited and not (audited & floor), (sorted(expired - audited),
                                                          sorted(audited & floor))
    for cam in ("cam1", "cam2"):
        rows = [g for g in rig.gaps(cam) if g["reason"] == "storage-full"]
        assert rows and all(g["end"] is not None for g in rows), (cam, rows)
        assert rows[0]["start"] <= full_at + 2, (cam, rows, full_at)
        entries = harness.sqlite(rig.config, "SELECT detail FROM audit WHERE camera = ? AND "
                                 "kind = 'gap' AND detail LIKE '%storage-full%'", cam)
        assert len(entries) >= len(rows), (cam, rows, entries)
    check_invariants(rig.config)
    check_accounted(rig.config, rig.started, time.time() - 1)
    report_figure("enospc-until-back", "%d expired segments deleted under pressure, none of the "
                  "%d younger than the floor; resumed %.2f s / %.2f s after room came back "
                  "(%.0f s full)" % (len(expired), len(floor), max(0, took), max(0, took2),
                                     back_at - full_at))
    assert max(took, took2) <= RESUME_LIMIT, (took, took2)


test_enospc_never_deletes_footage_younger_than_the_floor.timeout = 150
test_enospc_never_deletes_footage_younger_than_the_floor.weight = 3


def test_enospc_from_a_disk_that_shows_room():
    """A disk that says it is full (ENOSPC on every footage write, while
    statvfs still shows room, so the sweeper sees no pressure): recording
    stops with a storage-full gap, nothing is deleted, and recording
    resumes when writes succeed again.  (The real full disk, with footage
    the sweeper may and may not delete, is the test above.)"""
    # the footage folders (cam1/, cam2/): the catalog beside them still works
    rig = Rig(ops="write,fsync,fdatasync,create", at=1, action="fail-from", errno="ENOSPC",
              folder="cam")
    now = time.time()
    for cam in ("cam1", "cam2"):
        mkhistory(rig.config, cam, iso(now - 30 * DAY), iso(now - 3600), segment_seconds=3600,
                  bytes_=512)
    broken = os.path.join(rig.wd, "storage-full")
    rig.env["VFAULT_WHILE"] = broken
    rig.start()
    open(broken, "w").close()
    full_at = time.time()
    wait_until(lambda: any(g["reason"] == "storage-full" and g["end"] is None
                           for g in rig.gaps()), 10, what="an open storage-full gap")
    time.sleep(6)
    os.unlink(broken)
    back_at = time.time()
    took, _ = rig.resumed_after(back_at - 0.01, reason="storage-full")
    took2, _ = rig.resumed_after(back_at - 0.01, reason="storage-full", camera="cam2")
    assert rig.rec.alive() and rig.rec.stop() == 0
    deleted = [s for s in segments(rig.config, "--all") if s["state"] in ("deleted", "deleting")]
    assert deleted == [], "%d segments deleted for a full disk" % len(deleted)
    check_invariants(rig.config)
    check_accounted(rig.config, rig.started, time.time() - 1)
    report_figure("enospc-shows-room-until-back", "nothing deleted; resumed %.2f s / %.2f s "
                  "after room came back (%.0f s outage)" % (max(0, took), max(0, took2),
                                                            back_at - full_at))
    assert max(took, took2) <= RESUME_LIMIT, (took, took2)


test_enospc_from_a_disk_that_shows_room.timeout = 120


def mount(*args):
    proc = subprocess.run(["mount"] + list(args), stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, "mount %s: %s" % (" ".join(args), proc.stderr)


def test_storage_folder_unmounted_and_back():
    """The footage disk goes away (unmounted: the storage path is then an
    empty folder of the system disk) and comes back.  vigil must not write
    into the empty mount point, which would fill the system disk with
    footage that disappears from view when the disk returns."""
    def storage(wd):
        disk = os.path.join(wd, "disk")
        harness.mount_tmpfs(disk, 64)
        path = os.path.join(wd, "footage")
        os.makedirs(path)
        mount("--bind", disk, path)
        harness._mounts.append(path)
        return path
    rig = Rig(storage=storage, catalog=True)
    disk = os.path.join(rig.wd, "disk")
    rig.start()
    gone_at = time.time()
    subprocess.run(["umount", "-l", rig.storage], check=True)
    wait_until(lambda: any(g["reason"] == "storage-error" and g["end"] is None
                           for cam in ("cam1", "cam2") for g in rig.gaps(cam)), 15,
               what="an open storage-error gap")
    rig.wait_health("storage-error", timeout=15)
    time.sleep(4)
    assert rig.rec.alive()
    stray = [os.path.join(d, f) for d, _, fs in os.walk(rig.storage) for f in fs]
    assert not stray, "footage written into the empty mount point: %s" % stray[:5]
    mount("--bind", disk, rig.storage)
    back_at = time.time()
    took1, _ = rig.resumed_after(back_at - 0.01, camera="cam1")
    took2, _ = rig.resumed_after(back_at - 0.01, camera="cam2")
    assert rig.rec.stop() == 0
    check_invariants(rig.config)
    check_accounted(rig.config, rig.started, time.time() - 1)
    took = max(0.0, took1, took2)
    report_figure("unmounted-until-back", "resumed %.2f s after the disk was back (%.0f s "
                  "away)" % (took, back_at - gone_at))
    assert took <= RESUME_LIMIT, (took1, took2)


test_storage_folder_unmounted_and_back.timeout = 120


def test_catalog_eio_until_the_storage_returns():
    """The whole storage fails, the catalog in it too (every write, fsync
    and commit): the outage cannot be written down while it lasts, so it is
    written when the storage returns, and nothing is lost or left
    half-done."""
    rig = Rig(ops="write,fsync,fdatasync,commit,create,mkdir", at=1, action="fail-from",
              errno="EIO", folder="")
    broken = os.path.join(rig.wd, "storage-broken")
    rig.env["VFAULT_WHILE"] = broken
    rig.start()
    open(broken, "w").close()
    failed_at = time.time()
    rig.wait_health("storage-error")
    time.sleep(5)
    assert rig.rec.alive()
    os.unlink(broken)
    back_at = time.time()
    took = max(rig.resumed_after(back_at - 0.01, camera=cam)[0] for cam in ("cam1", "cam2"))
    for cam in ("cam1", "cam2"):
        g = [g for g in rig.gaps(cam) if g["reason"] == "storage-error"]
        assert len(g) == 1 and g[0]["start"] <= failed_at + 1.5 and \
            g[0]["end"] >= back_at - 0.5, (cam, g)
    assert rig.rec.stop() == 0
    check_invariants(rig.config)
    check_accounted(rig.config, rig.started, time.time() - 1)
    report_figure("catalog-eio-until-back", "resumed %.2f s after the storage (catalog "
                  "included) returned" % max(0.0, took))
    assert took <= RESUME_LIMIT, took


test_catalog_eio_until_the_storage_returns.timeout = 120


def test_a_hold_outlasts_a_full_disk():
    """Held footage is never deleted, even when space is short and the rule
    (on_full = keep-recording) lets the sweeper delete footage younger than
    the floor: a real full tmpfs, two months of history on it, a legal hold
    over the oldest week of cam1.  Everything else of the history goes,
    oldest first; the held week stays, files and rows, and verify passes."""
    def storage(wd):
        path = os.path.join(wd, "small")
        harness.mount_tmpfs(path, 16)
        return path
    rig = Rig(storage=storage, catalog=True,
              retention={"sweep_interval_seconds": "86400", "on_full": "keep-recording"})
    now = time.time()
    for cam in ("cam1", "cam2"):
        mkhistory(rig.config, cam, iso(now - 60 * DAY), iso(now - 3600), segment_seconds=DAY,
                  bytes_=64 * 1024)
    hold_from, hold_to = iso(now - 60 * DAY), iso(now - 53 * DAY)
    code, out, err = harness.vigil("hold", "-c", rig.config, "add", "--camera", "cam1", "--from",
                                   hold_from, "--to", hold_to, "--reason", "case 2026-211")
    assert code == 0, (out, err)
    history = segments(rig.config, "--all")
    held = {s["id"] for s in history if s["camera"] == "cam1" and
            rfc3339(s["start"]) < rfc3339(hold_to) and rfc3339(s["end"]) > rfc3339(hold_from)}
    others = {s["id"] for s in history} - held
    assert len(held) == 7 and len(others) > 100, (len(held), len(others))
    rig.start()
    filler = fill(rig.storage)
    # under pressure the rule takes the unheld history, oldest first
    wait_until(lambda: {s["id"] for s in segments(rig.config, "--all")
                        if s["state"] == "deleted"} >= others, 30,
               what="the unheld history deleted under pressure")
    time.sleep(4)  # the disk is still short: more sweeps, and the hold holds
    assert rig.rec.alive(), rig.rec.log_text()[-3000:]
    now_rows = {s["id"]: s for s in segments(rig.config, "--all")}
    assert all(now_rows[i]["state"] == "complete" for i in held), \
        [(i, now_rows[i]["state"], now_rows[i]["delete_reason"]) for i in held]
    os.unlink(filler)
    freed = time.time()
    wait_until(lambda: rig.complete_since(freed) >= 2, 20, what="recording with room again")
    assert rig.rec.stop() == 0
    after = {s["id"]: s for s in segments(rig.config, "--all")}
    for i in held:
        assert after[i]["state"] == "complete" and os.path.exists(after[i]["path"]), after[i]
    for i in others:
        assert after[i]["state"] == "deleted" and not os.path.exists(after[i]["path"]), after[i]
    check_invariants(rig.config)
    report_figure("hold-full-disk", "a full disk under keep-recording: %d unheld history "
                  "segments deleted, the %d held kept" % (len(others), len(held)))


test_a_hold_outlasts_a_full_disk.timeout = 150
test_a_hold_outlasts_a_full_disk.weight = 2
