#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/.

    tests/fuzz/mkcorpus.py            (needs ffmpeg with libx264, for the clips)

The corpora are committed, so fuzzing needs neither this script nor ffmpeg;
run it again only to change the seeds.  Each seed is a crafted case:

- config/        real configs (every section and key, credentials from env,
                 file and URL, the README's examples) and broken ones;
- health_parse/  TOPIC NUL PAYLOAD: what recorders publish, and hostile
                 variants (nesting, sizes, types, ids, control characters);
- rtsp/          hostile.h scripts: a valid H.264 stream (RTP as a camera
                 sends it: single NAL units, FU-A, STAP-A), then malformed
                 SDP, truncated and oversized RTP, lying interleaved frames,
                 bogus NAL units, parameter sets that change or lie,
                 timestamp chaos, and RTSP answers that lie.
"""
import base64
import os
import random
import re
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

SDP, RTP, RAW, REPLY, HEADER, PAUSE, CLOSE, RTPH, STATUS = range(1, 10)
STALL, REPEAT, AUTH = range(10, 13)


def rec(kind, payload=b""):
    if isinstance(payload, str):
        payload = payload.encode()
    assert len(payload) < 65536
    return bytes([kind]) + struct.pack(">H", len(payload)) + payload


def rtph(payload, ch=0, marker=False, pt=96, seq_step=1, ts_step=0):
    return rec(RTPH, bytes([ch, (0x80 if marker else 0) | (pt & 0x7F)]) +
               struct.pack(">HI", seq_step & 0xFFFF, ts_step & 0xFFFFFFFF) + payload)


def clip(size, seconds=2, gop=25):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "c.h264")
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc=size=%s:rate=25" % size, "-t", str(seconds), "-pix_fmt", "yuv420p",
                        "-c:v", "libx264", "-profile:v", "baseline", "-g", str(gop), "-bf", "0",
                        "-x264-params", "keyint=%d:scenecut=0" % gop, "-f", "h264", out], check=True)
        data = open(out, "rb").read()
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", data)]
    nals = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(data)
        nals.append(data[s + 3:e].rstrip(b"\x00"))
    # access units: parameter sets and SEI go with the slice after them
    aus, cur = [], []
    for n in nals:
        cur.append(n)
        if n[0] & 0x1F in (1, 5):
            aus.append(cur)
            cur = []
    sps = next(n for n in nals if n[0] & 0x1F == 7)
    pps = next(n for n in nals if n[0] & 0x1F == 8)
    return aus, sps, pps


def sdp(sps, pps, extra=""):
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=hostile\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
            "a=control:*\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
            "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=%s,%s\r\n"
            "a=control:stream=0\r\n%s" % (base64.b64encode(sps).decode(),
                                          base64.b64encode(pps).decode(), extra))


def packetize(au, ts_step, mtu=1200, stap=True):
    """One access unit as a camera sends it: parameter sets in a STAP-A,
    small NAL units alone, large ones in FU-A fragments."""
    out = []
    ps = [n for n in au if n[0] & 0x1F in (7, 8)]
    rest = [n for n in au if n[0] & 0x1F not in (7, 8)]
    first = True
    if ps and stap:
        body = bytes([0x18]) + b"".join(struct.pack(">H", len(n)) + n for n in ps)
        out.append((body, False))
    else:
        rest = ps + rest
    for n in rest:
        if len(n) <= mtu:
            out.append((n, False))
            continue
        hdr, data = n[0], n[1:]
        chunks = [data[i:i + mtu] for i in range(0, len(data), mtu)]
        for i, c in enumerate(chunks):
            fu_ind = (hdr & 0xE0) | 28
            fu_hdr = (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0) | (hdr & 0x1F)
            out.append((bytes([fu_ind, fu_hdr]) + c, False))
    recs = []
    for i, (body, _) in enumerate(out):
        recs.append(rtph(body, marker=i == len(out) - 1, ts_step=ts_step if first else 0))
        first = False
    return b"".join(recs)


def stream(aus, frames=None, ts_step=3600, **kw):
    aus = aus if frames is None else aus[:frames]
    return b"".join(packetize(au, ts_step, **kw) for au in aus)


def write(folder, name, data):
    os.makedirs(os.path.join(CORPUS, folder), exist_ok=True)
    with open(os.path.join(CORPUS, folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def rtsp_cases():
    aus, sps, pps = clip("160x120")
    aus2, sps2, pps2 = clip("320x240", seconds=1)
    rng = random.Random(5)
    good = sdp(sps, pps)
    c = {}
    c["valid-h264"] = rec(SDP, good) + stream(aus)
    c["valid-no-sprop"] = rec(SDP, good.replace("sprop-parameter-sets=", "x-none=")) + \
        stream(aus, stap=False)
    c["empty"] = b""
    c["default-sdp-then-close"] = rec(CLOSE)
    # the resolution changes mid-session: new parameter sets in-band
    c["resolution-change"] = rec(SDP, good) + stream(aus, 30) + stream(aus2) + stream(aus, 30)
    # the SDP describes another size than the stream
    c["stale-sdp"] = rec(SDP, sdp(sps2, pps2)) + stream(aus)
    # ---- malformed SDP
    c["sdp-no-media"] = rec(SDP, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n") + stream(aus, 5)
    c["sdp-garbage"] = rec(SDP, bytes(rng.randrange(256) for _ in range(400))) + stream(aus, 5)
    c["sdp-huge-sprop"] = rec(SDP, good.replace(base64.b64encode(sps).decode(),
                                                base64.b64encode(bytes([0x67]) + bytes(rng.randrange(256) for _ in range(6000))).decode())) + stream(aus, 10)
    c["sdp-bad-base64"] = rec(SDP, good.replace("sprop-parameter-sets=", "sprop-parameter-sets=!!**,,==,")) + stream(aus, 10)
    c["sdp-sps-lies"] = rec(SDP, sdp(bytes([0x67, 0x42, 0xC0, 0x0B]) + b"\xff" * 20, pps)) + stream(aus, 10)
    c["sdp-unknown-codec"] = rec(SDP, good.replace("H264/90000", "XYZZY/90000")) + stream(aus, 5)
    c["sdp-h265-bogus"] = rec(SDP, good.replace("H264/90000", "H265/90000").replace(
        "packetization-mode=1;sprop-parameter-sets", "sprop-vps=AAAA;sprop-sps=QAEM;sprop-pps=RAHA;x")) + stream(aus, 5)
    c["sdp-clock-rate-zero"] = rec(SDP, good.replace("H264/90000", "H264/0")) + stream(aus, 5)
    c["sdp-payload-type-300"] = rec(SDP, good.replace("RTP/AVP 96", "RTP/AVP 300").replace("rtpmap:96", "rtpmap:300")) + stream(aus, 5)
    many = good + "".join("m=%s 0 RTP/AVP %d\r\na=rtpmap:%d %s\r\na=control:stream=%d\r\n" % (
        kind, 97 + i, 97 + i, codec, i + 1) for i, (kind, codec) in enumerate(
        [("audio", "MPEG4-GENERIC/48000/2"), ("application", "VND.ONVIF.METADATA/90000"),
         ("video", "JPEG/90000"), ("audio", "PCMA/8000")] * 4))
    c["sdp-many-streams"] = rec(SDP, many) + stream(aus, 10)
    c["sdp-aac-bogus-config"] = rec(SDP, good + "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\n"
                                    "a=fmtp:97 streamtype=5;mode=AAC-hbr;config=FFFFFFFFFFFF;sizelength=13;indexlength=3;indexdeltalength=3\r\n"
                                    "a=control:stream=1\r\n") + \
        b"".join(stream([au], ts_step=3600) + rtph(b"\x00\x10\xff\xf8" + bytes(50), ch=2, pt=97, ts_step=1920)
                 for au in aus[:20])
    c["sdp-long-lines"] = rec(SDP, good + "a=x-long:" + "A" * 20000 + "\r\n") + stream(aus, 5)
    # ---- RTP
    c["rtp-truncated"] = rec(SDP, good) + stream(aus, 5) + b"".join(
        rec(RTP, bytes([0]) + bytes(rng.randrange(256) for _ in range(n))) for n in range(0, 12)) + stream(aus[5:], 5)
    c["rtp-oversized"] = rec(SDP, good) + stream(aus, 5) + rec(RTP, bytes([0, 0x80, 96, 0, 9]) + bytes(65530)) + stream(aus[5:], 5)
    hdr = bytes([0x8F, 0x60, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4])  # CC=15 in a short packet
    ext = bytes([0x90, 0x60, 0, 2, 0, 0, 0, 0, 1, 2, 3, 4, 0xBE, 0xDE, 0xFF, 0xFF])  # extension past the end
    pad = bytes([0xA0, 0x60, 0, 3, 0, 0, 0, 0, 1, 2, 3, 4, 0x65, 0x88, 0xFF])  # pad length past the payload
    c["rtp-header-lies"] = rec(SDP, good) + stream(aus, 3) + rec(RTP, b"\0" + hdr) + rec(RTP, b"\0" + ext) + \
        rec(RTP, b"\0" + pad) + stream(aus[3:], 5)
    c["rtp-wrong-channel"] = rec(SDP, good) + b"".join(rtph(b[0], ch=5, marker=True, ts_step=3600)
                                                      for b in [(n,) for au in aus[:10] for n in au])
    c["raw-lying-dollar"] = rec(SDP, good) + stream(aus, 3) + rec(RAW, b"$\x00\xff\xff" + bytes(100)) + rec(CLOSE)
    c["raw-garbage-after-play"] = rec(SDP, good) + stream(aus, 3) + rec(RAW, bytes(rng.randrange(256) for _ in range(3000)))
    c["raw-rtsp-in-media"] = rec(SDP, good) + stream(aus, 3) + rec(RAW, "RTSP/1.0 200 OK\r\nCSeq: 99\r\nContent-Length: 99999\r\n\r\n") + stream(aus[3:], 5)
    # ---- NAL units
    bogus = [bytes([t]) + bytes(rng.randrange(256) for _ in range(40)) for t in (0, 13, 19, 23, 30, 31, 24 | 0x60, 25, 26, 27, 29)]
    c["nal-bogus-types"] = rec(SDP, good) + stream(aus, 3) + b"".join(
        rtph(b, marker=True, ts_step=3600) for b in bogus) + stream(aus[3:], 10)
    c["nal-fua-broken"] = rec(SDP, good) + stream(aus, 3) + \
        rtph(bytes([0x7C, 0x45]) + bytes(100), ts_step=3600) + \
        rtph(bytes([0x7C, 0x05]) + bytes(100)) + rtph(bytes([0x7C, 0xC5]) + bytes(10), marker=True) + \
        rtph(bytes([0x7C]), marker=True, ts_step=3600) + stream(aus[3:], 10)
    c["nal-stapa-overflow"] = rec(SDP, good) + stream(aus, 3) + \
        rtph(bytes([0x18, 0xFF, 0xFF, 0x65, 0x88]), marker=True, ts_step=3600) + \
        rtph(bytes([0x18, 0x00, 0x00, 0x00, 0x05, 0x67]), marker=True, ts_step=3600) + stream(aus[3:], 10)
    garbage_sps = bytes([0x67, 0x64, 0x00, 0x33]) + bytes(rng.randrange(256) for _ in range(60))
    c["sps-garbage-inband"] = rec(SDP, good) + stream(aus, 5) + \
        rtph(bytes([0x18]) + struct.pack(">H", len(garbage_sps)) + garbage_sps + struct.pack(">H", len(pps)) + pps,
             ts_step=3600) + rtph(aus[0][-1], marker=True) + stream(aus[5:], 10)
    c["idr-without-parameter-sets"] = rec(SDP, good.replace("sprop-parameter-sets=", "x-none=")) + \
        b"".join(rtph(au[-1], marker=True, ts_step=3600) for au in aus[:25])
    # ---- timestamps
    chaos = b""
    for i, au in enumerate(aus):
        step = [3600, -3600 * 30, 3600, 90000 * 3600, 1, 0, 3600, -1, 2 ** 31, 3600][i % 10]
        chaos += packetize(au, step)
    c["timestamps-chaos"] = rec(SDP, good) + chaos
    c["sequence-chaos"] = rec(SDP, good) + b"".join(
        rtph(body, marker=True, ts_step=3600, seq_step=rng.choice([1, 0, 65535, 300, 2]))
        for au in aus for body in au if body[0] & 0x1F in (1, 5))
    # ---- RTSP answers that lie
    c["reply-garbage-status"] = rec(REPLY, "HTTP/9.9 ???\r\n\r\n") + rec(REPLY, "RTSP/1.0 99999999999999999999 OK\r\nCSeq: 2\r\n\r\n")
    c["reply-content-length-huge"] = rec(REPLY, "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 999999999\r\n\r\nv=0\r\n")
    c["reply-content-length-negative"] = rec(REPLY, "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: -5\r\n\r\n") + stream(aus, 3)
    c["reply-cseq-mismatch"] = rec(REPLY, "RTSP/1.0 200 OK\r\nCSeq: 77\r\n\r\n") + rec(REPLY, "RTSP/1.0 200 OK\r\nCSeq: 77\r\n\r\n") + stream(aus, 3)
    c["reply-redirect-loop"] = b"".join(rec(REPLY, "RTSP/1.0 301 Moved\r\nCSeq: %d\r\nLocation: rtsp://127.0.0.1:1/cam1\r\n\r\n" % i) for i in range(1, 4))
    c["reply-401-weird"] = b"".join(rec(REPLY, "RTSP/1.0 401 Unauthorized\r\nCSeq: %d\r\nWWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", algorithm=XX, qop=\"auth,auth-int\"\r\n\r\n" % (
        i, "r" * 2000, "n" * 3000)) for i in range(1, 4))
    c["reply-401-then-ok"] = rec(REPLY, "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Basic realm=\"cam\"\r\n\r\n") + rec(SDP, good) + stream(aus, 10)
    c["reply-transport-lies"] = rec(SDP, good) + rec(HEADER, "X-Pad: 1") + \
        rec(REPLY, "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: DESCRIBE, SETUP, PLAY\r\n\r\n") + \
        rec(REPLY, "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s" % (len(good), good)) + \
        rec(REPLY, "RTSP/1.0 200 OK\r\nCSeq: 3\r\nTransport: RTP/AVP/TCP;unicast;interleaved=250-251;ssrc=zz\r\nSession: ;timeout=-1\r\n\r\n") + stream(aus, 5)
    c["reply-status-500"] = rec(STATUS, "500") + rec(STATUS, "404")
    c["reply-header-flood"] = b"".join(rec(HEADER, "X-%d: %s" % (i, "v" * 100)) for i in range(15)) + rec(SDP, good) + stream(aus, 3)
    c["reply-session-huge"] = rec(SDP, good) + rec(HEADER, "Session: " + "S" * 4000) + stream(aus, 3)
    c["reply-binary"] = rec(REPLY, bytes(rng.randrange(256) for _ in range(2000)))
    # ---- timing
    c["slow-drip"] = rec(SDP, good) + b"".join(packetize(au, 3600) + rec(PAUSE, b"\x02") for au in aus[:30])
    c["stall-after-play"] = rec(SDP, good) + stream(aus, 5) + rec(PAUSE, b"\x64")
    # ---- waits that must end on progress, not on bytes (issue 11)
    c["slow-bytes-after-options"] = rec(STALL, b"\x0a" + b"x")
    rtcp_rr = bytes([0x81, 201, 0, 7]) + b"\x12\x34\x56\x78" + bytes(24)
    c["rtcp-only-after-play"] = rec(SDP, good) + \
        rec(REPEAT, b"\x02" + rec(RTP, bytes([1]) + rtcp_rr))
    c["other-payload-type-only"] = rec(SDP, good) + \
        rec(REPEAT, b"\x02" + rtph(b"\x65\x88\x84\x00\x33\xff", pt=97, ts_step=3600, marker=True))
    # ---- authentication that would send the password in clear
    c["basic-only"] = rec(AUTH, 'Basic realm="cam"') + rec(SDP, good) + stream(aus, 10)
    c["digest-unknown-algorithm"] = rec(AUTH, 'Digest realm="cam", nonce="5a1t", '
                                              'algorithm=SHA-512-256\nBasic realm="cam"') + \
        rec(SDP, good) + stream(aus, 10)
    for name, data in c.items():
        write("rtsp", name, data)
    return len(c)


CONFIG_FULL = """; every section and key
[recorder]
id = zone1-rec1
site = Zone 1 bonded warehouse
log_level = info
allow_root = true
stall_seconds = 5
connect_timeout_seconds = 10
reconnect_min_seconds = 1
reconnect_max_seconds = 5

[storage]
path = /tmp/vigil-fuzz-storage
catalog = /tmp/vigil-fuzz-storage/catalog.db
fsync_seconds = 5
reserve_mb = 1024

[retention]
retain_days = 90
delete_after_days = 120
on_full = keep-recording
sweep_interval_seconds = 60
max_clock_step_seconds = 3600

[mqtt]
host = 127.0.0.1
port = 1883
keepalive = 30
prefix = vigil
client_id = vigil-rec1
username = recorder
password_env = MQTT_PASS
tls_ca = /etc/ssl/certs/ca-certificates.crt
interval_seconds = 10

[checker]
database = /tmp/vigil-fuzz-storage/tickets.db
grace_seconds = 60
clear_seconds = 120

[tickets]
webhook_url = https://glpi.example/apirest.php
webhook_format = glpi
token_env = MQTT_PASS
app_token = abc
timeout_seconds = 10

[camera gate3]
url = rtsp://viewer@10.0.3.13/Streaming/Channels/101
password_env = CAM_PASS
segment_seconds = 60
expected_fps = 25
location = Gate 3 inbound lane
transport = udp

[camera yard1]
url = rtsps://viewer:Cn%40ry%21%25%2F%3A@[fe80::1]:322/stream?x=1&y=%20
retain_days = 120
delete_after_days = 200
site = Yard

[camera dock]
url_file = /etc/hostname
username = admin
password_file = /etc/hostname
"""

CONFIG_BAD = """[recorder]
id = x
allow_root = maybe
[storage]
path = /tmp/f
[camera a]
url = rtsp://127.0.0.1:1/a
[camera a]
url = rtsp://x/y
[camera b]
segment_seconds = 0
[camera c]
url = http://not-rtsp/
password_env = NOPE
password_file = /nonexistent
[mqtt]
port = 99999
tls_cert = /nonexistent
[unknown]
key = value
[retention]
retain_days = -1
delete_after_days = 1e99
on_full = sometimes
"""


def config_cases():
    write("config", "full.ini", CONFIG_FULL)
    write("config", "bad.ini", CONFIG_BAD)
    write("config", "minimal.ini", "[camera a]\nurl = rtsp://127.0.0.1/a\n")
    write("config", "readme.ini", "[recorder]\nid = zone1-rec1                 ; names this recorder\n"
          "site = Zone 1 bonded warehouse\n\n[storage]\npath = /var/lib/vigil/footage   ; footage root\n"
          "fsync_seconds = 5\n\n[retention]\nretain_days = 90\n\n[camera gate3]\n"
          "url = rtsp://viewer@10.0.3.13/Streaming/Channels/101\npassword_env = GATE3_PASS\n"
          "segment_seconds = 60\nexpected_fps = 25\nlocation = Gate 3 inbound lane\n")
    write("config", "odd-syntax.ini", "\ufeff[recorder]\r\nid=a\r\n  # comment\r\n[camera  spaced ]\r\n"
          "url = rtsp://h/p ; trailing\r\nkey without equals\r\n[camera\r\n=novalue\r\n[camera x]]\r\n"
          "url = \"quoted\"\r\nurl = rtsp://dup/\r\n")
    write("config", "many-cameras.ini", "".join("[camera c%d]\nurl = rtsp://10.0.0.%d/s\n" % (i, i % 250)
                                                 for i in range(200)))
    write("config", "long-values.ini", "[recorder]\nid = %s\nsite = %s\n[camera %s]\nurl = rtsp://%s/\n" % (
        "a" * 300, "s" * 5000, "c" * 200, "h" * 3000))
    return 7


def health_cases():
    cam = ('{"recorder":"rec-1","camera":"gate3","state":"recording","since":"2026-11-22T01:00:00Z",'
           '"at":"2026-11-22T01:00:10Z","fps":25.0,"expected_fps":25,"kbps":812.5,'
           '"last_frame":"2026-11-22T01:00:09.960Z","gap_start":null,"gaps_24h":0,"reconnects":1,'
           '"site":"Zone 1","location":"Gate 3","last_error":""}')
    recd = ('{"recorder":"rec-1","at":"2026-11-22T01:00:10Z","interval_s":10,"site":"Zone 1",'
            '"disk":{"total_bytes":1000,"free_bytes":500},"forecast_days":120.5,"retain_days":90,'
            '"retention_at_risk":false,"storage_error":false,"detail":"","workers":4}')
    cases = {
        "camera": "vigil/rec-1/camera/gate3/health\0" + cam,
        "camera-down": "vigil/rec-1/camera/gate3/health\0" + cam.replace('"recording"', '"down"').replace(
            '"gap_start":null', '"gap_start":"2026-11-22T00:00:00Z"'),
        "recorder": "vigil/rec-1/health\0" + recd,
        "status-online": "vigil/rec-1/status\0online",
        "status-json": "vigil/rec-1/status\0\"offline\"",
        "topic-wildcards": "vigil/+/camera/#/health\0" + cam,
        "topic-dots": "vigil/../camera/../health\0{}",
        "topic-long-id": "vigil/%s/camera/%s/health\0{}" % ("r" * 100, "c" * 100),
        "payload-deep": "vigil/rec-1/health\0" + "[" * 5000 + "]" * 5000,
        "payload-deep-objects": "vigil/rec-1/camera/gate3/health\0" + '{"a":' * 100 + "1" + "}" * 100,
        "payload-types": "vigil/rec-1/camera/gate3/health\0" + '{"recorder":5,"camera":[],"state":{},"fps":"x",'
                         '"since":1e400,"kbps":-1e308,"reconnects":99999999999999999999}',
        "payload-other-recorder": "vigil/rec-1/camera/gate3/health\0" + cam.replace('"rec-1"', '"rec-2"'),
        "payload-control-chars": "vigil/rec-1/camera/gate3/health\0" + cam.replace(
            '"location":"Gate 3"', '"location":"Gate\\u0000 3\\u001b[31m\\n\\r"'),
        "payload-utf8": "vigil/rec-1/camera/gate3/health\0" + cam.replace('"Zone 1"', '"\u00e9\u4e2d\U0001f600 \\ud83d\\ude00"'),
        "payload-bad-utf8": b"vigil/rec-1/camera/gate3/health\0" + cam.encode().replace(b"Zone 1", b"\xff\xfe\xc0\x80"),
        "payload-empty": "vigil/rec-1/camera/gate3/health\0",
        "payload-dup-keys": "vigil/rec-1/camera/gate3/health\0" + cam[:-1] + ',"state":"down","state":"x"}',
        "payload-huge-string": "vigil/rec-1/health\0" + recd.replace('"detail":""', '"detail":"%s"' % ("d" * 20000)),
        "ticket-topic": "vigil/tickets/17\0{\"id\":17}",
        "no-topic": cam,
    }
    for name, data in cases.items():
        write("health_parse", name, data if isinstance(data, bytes) else data.encode())
    return len(cases)


def main():
    n = rtsp_cases()
    m = config_cases()
    k = health_cases()
    print("wrote %d rtsp, %d config and %d health_parse seeds under %s" % (n, m, k, CORPUS))


if __name__ == "__main__":
    main()
