"""H.265 through vigil's own RTSP client (ingest/rtsp.h), not libavformat's
(issue 11, "Tests that can fail": H.265 on the lean client).

camsim serves H.265 with its parameter sets in the SDP (sprop-vps, -sps,
-pps) and no audio, which is what the lean client takes; a fallback to
libavformat says so in the log, and the test fails on that line.  The
footage must read back whole: hevc, starting with a keyframe that decodes,
dts increasing, no hole between segments.
"""
from harness import Camsim, Recorder, segcheck, segments, wait_until, workdir, write_config
from test_record import check_continuous, check_segments_match_files


def test_h265_recorded_through_the_lean_client():
    wd = workdir()
    cams = Camsim(wd, cameras=1, extra=["--codec", "h265"])
    config = write_config(wd, {"cam1": cams.url("cam1")}, recorder={"log_level": "debug"})
    rec = Recorder(config)
    wait_until(lambda: len([s for s in segments(config) if s["state"] == "complete"]) >= 2, 60,
               what="two complete segments")
    assert rec.stop() == 0
    text = rec.log_text()
    assert "connected: hevc" in text, text[-3000:]
    assert "libavformat's RTSP client" not in text, \
        [l for l in text.splitlines() if "libavformat's RTSP client" in l]
    segs = segments(config)
    check_segments_match_files(config, segs)
    mine = check_continuous(segs, "cam1")
    for s, c in zip(mine, segcheck([s["path"] for s in mine])):
        assert s["codec"] == "hevc" and c["video_codec"] == "hevc", (s, c)
        assert c["ok"] and c["first_key"] and c["decoded_first"] and c["dts_monotonic"], c
    print("FIGURE lean RTSP client, H.265: %d segments, %.1f s, no fallback, every segment "
          "reads back from a decodable keyframe" % (len(mine), sum(s["duration_s"] for s in mine)))


test_h265_recorded_through_the_lean_client.timeout = 120
test_h265_recorded_through_the_lean_client.san = True
