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
