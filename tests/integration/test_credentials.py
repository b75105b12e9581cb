"""Camera credentials never leak: not in vigil's log (libavformat's own
messages included, at debug level), not in the catalog, not in what the
commands print.  The canary password has every URL-special character."""
import os

from harness import (Camsim, Recorder, catalog_path, secret_forms, segments, vigil, wait_until,
                     workdir, write_config)

USER = "viewer"
CANARY = "Cn@ry!%/:"


def test_canary_password_appears_nowhere():
    wd = workdir()
    cams = Camsim(wd, cameras=3, extra=["--user", USER, "--password", CANARY])
    pw_file = os.path.join(wd, "cam3.pass")
    with open(pw_file, "w") as f:
        f.write(CANARY + "\n")
    env = dict(os.environ, CAM1_PASS=CANARY, WRONG_PASS="not-" + CANARY)
    config = write_config(wd, {
        # from the environment
        "cam1": {"url": cams.url("cam1").replace("rtsp://", "rtsp://%s@" % USER),
                 "password_env": "CAM1_PASS"},
        # inline, percent-encoded, as an operator would paste it
        "cam2": cams.url("cam2", USER, CANARY),
        # from a file
        "cam3": {"url": cams.url("cam3"), "username": USER, "password_file": pw_file},
        # refused: libavformat logs the failures
        "cam4": {"url": cams.url("cam1").replace("rtsp://", "rtsp://%s@" % USER),
                 "password_env": "WRONG_PASS"},
    })
    rec = Recorder(config, env=env, args=["-v"])
    wait_until(lambda: {s["camera"] for s in segments(config)} >= {"cam1", "cam2", "cam3"}, 40,
               what="the three cameras with the right password recording")
    rec.wait_log("camera 'cam4'", timeout=20)
    wait_until(lambda: rec.log_text().count("camera 'cam4'") >= 3, 20, what="cam4 retrying")
    assert rec.stop() == 0
    assert not any(s["camera"] == "cam4" for s in segments(config))

    outputs = {"recorder log": rec.log_text()}
    for args in (("config", "check", "-c", config), ("segments", "-c", config),
                 ("segments", "-c", config, "--json")):
        code, out, err = vigil(*args, env=env)
        assert code == 0, err
        outputs["vigil " + " ".join(args[:2])] = out + err
    with open(catalog_path(config), "rb") as f:
        outputs["catalog"] = f.read().decode("latin-1")
    for extra in ("-wal", "-shm"):
        if os.path.exists(catalog_path(config) + extra):
            with open(catalog_path(config) + extra, "rb") as f:
                outputs["catalog" + extra] = f.read().decode("latin-1")

    forms = secret_forms(USER, CANARY)
    for where, text in outputs.items():
        for form in forms:
            assert form not in text, "password form %r found in %s" % (form, where)
    # and the URLs are still shown, redacted
    assert "rtsp://viewer:***@127.0.0.1" in outputs["vigil config check"], outputs["vigil config check"]
    # libavformat's own complaint about the refused camera made it to the log
    assert "401" in outputs["recorder log"] or "Unauthorized" in outputs["recorder log"] \
        or "refused the credentials" in outputs["recorder log"]


def test_short_and_normal_passwords():
    """A password too short to tell from ordinary text (`x`, a camera's
    default `12345`) is masked where a secret stands (the URL's userinfo)
    and leaves the rest of each line alone: with `x`, `1280x720` once read
    `1280***720` in every log line.  A normal password goes everywhere."""
    import re
    import urllib.parse
    for password in ("x", "12345", "N0rmal-Passw0rd"):
        wd = workdir()
        cams = Camsim(wd, cameras=1, extra=["--user", USER, "--password", password])
        config = write_config(wd, {"cam1": cams.url("cam1", USER, password)})
        rec = Recorder(config, args=["-v"])
        rec.wait_log("camera 'cam1': video ", timeout=30)
        wait_until(lambda: any(s["state"] == "complete" for s in segments(config)), 40,
                   what="a segment with password %r" % password)
        assert rec.stop() == 0
        log = rec.log_text()
        code, out, err = vigil("config", "check", "-c", config)
        assert code == 0, err
        shown = out + err + log
        # the URL never shows it, in any form
        for form in (password, urllib.parse.quote(password, safe="")):
            assert "%s:%s@" % (USER, form) not in shown, (password, shown)
        assert "rtsp://%s:***@127.0.0.1" % USER in out, out
        # ordinary text is left whole: the frame size, every timestamp
        assert re.search(r"camera 'cam1': video \S+ \d+x\d+", log), log
        for line in log.splitlines():
            if re.match(r"\d{4}-", line):
                assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", line), line
        if len(password) >= 8:
            assert password not in shown, "a normal password is scrubbed everywhere"
