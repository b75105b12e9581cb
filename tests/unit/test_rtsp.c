/* ingest/rtsp: the lean RTSP client's pure parts: URLs, SDPs, Digest
 * authentication, and RTP depacketization into access units (packets are
 * built byte by byte here, as a camera would send them); then its waits
#include <stdbool.h>
 * and its authentication against a small camera in a thread that never
 * lets a wait end, or asks for Basic. */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/clock.h"

#include "ingest/evloop.h"
#include "ingest/fragwriter.h"
#include "ingest/rtsp.h"
#include "tests/unit/test.h"

static void test_url(void)
{
	struct rtsp_url u;

	CHECK_INT(rtsp_parse_url("rtsp://10.0.3.13/Streaming/Channels/101", &u), 0);
	CHECK_STR(u.host, "10.0.3.13");
	CHECK_STR(u.port, "554");
	CHECK(!u.has_user);
	CHECK_STR(u.request, "rtsp://10.0.3.13/Streaming/Channels/101");

	/* percent-encoded credentials are decoded and kept out of the request */
	CHECK_INT(rtsp_parse_url("rtsp://viewer:Cn%40ry%21%25%2F%3A@cam.example:8554/live?x=1", &u),
		  0);
	CHECK(u.has_user);
	CHECK_STR(u.user, "viewer");
	CHECK_STR(u.pass, "Cn@ry!%/:");
	CHECK_STR(u.host, "cam.example");
	CHECK_STR(u.port, "8554");
	CHECK_STR(u.request, "rtsp://cam.example:8554/live?x=1");

	CHECK_INT(rtsp_parse_url("rtsp://[::1]:554/cam1", &u), 0);
	CHECK_STR(u.host, "::1");
	CHECK_STR(u.request, "rtsp://[::1]:554/cam1");

	CHECK_INT(rtsp_parse_url("rtsp://host", &u), 0);
	CHECK_STR(u.request, "rtsp://host/");

	CHECK(rtsp_parse_url("rtsps://host/x", &u) < 0);
	CHECK(rtsp_parse_url("rtsp://host:99999999/x", &u) < 0);
	CHECK(!rtsp_fast_url("rtsps://host/x"));
	CHECK(rtsp_fast_url("RTSP://host/x"));
}

static const char sdp_h264[] =
	"v=0\r\n"
	"o=- 1 1 IN IP4 127.0.0.1\r\n"
	"s=Session streamed with GStreamer\r\n"
	"t=0 0\r\n"
	"a=control:*\r\n"
	"m=video 0 RTP/AVP 96\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"a=rtpmap:96 H264/90000\r\n"
	"a=framerate:25\r\n"
	"a=fmtp:96 packetization-mode=1;profile-level-id=64001f;"
	"sprop-parameter-sets=Z2QAH6zZQFAFuwEQAAADABAAAAMDIPGDGWA=,aOvjyyLA\r\n"
	"a=control:stream=0\r\n"
	"m=audio 0 RTP/AVP 8\r\n"
	"a=control:stream=1\r\n";

static void test_sdp_h264(void)
{
	struct rtsp_sdp *s = malloc(sizeof(*s));

	CHECK_INT(rtsp_parse_sdp(sdp_h264, "rtsp://127.0.0.1:8554/cam1/", s), 0);
	CHECK(!s->unsupported);
	CHECK(!s->recordable_audio); /* G.711 A-law: vigil leaves it out */
	CHECK_INT(s->codec, AV_CODEC_ID_H264);
	CHECK_INT(s->payload_type, 96);
	CHECK_INT(s->clock_rate, 90000);
	CHECK_STR(s->control, "rtsp://127.0.0.1:8554/cam1/stream=0");
	CHECK_STR(s->session_control, "rtsp://127.0.0.1:8554/cam1/");
	CHECK_INT(s->framerate.num, 25);
	CHECK_INT(s->framerate.den, 1);
	/* SPS and PPS, each behind a 4-byte start code */
	CHECK(s->extradata_size > 10);
	CHECK(memcmp(s->extradata, "\0\0\0\1\x67", 5) == 0);
	int second = -1;
	for (int i = 4; i + 4 < s->extradata_size; i++)
		if (memcmp(s->extradata + i, "\0\0\0\1", 4) == 0)
			second = i;
	CHECK(second > 0 && s->extradata[second + 4] == 0x68);

	/* without a trailing slash, a relative control gets one */
	CHECK_INT(rtsp_parse_sdp(sdp_h264, "rtsp://127.0.0.1:8554/cam1", s), 0);
	CHECK_STR(s->control, "rtsp://127.0.0.1:8554/cam1/stream=0");
	free(s);
}

static void test_sdp_needs_libavformat(void)
{
	struct rtsp_sdp *s = malloc(sizeof(*s));

	/* AAC audio: vigil records it, libavformat's client does that */
	CHECK_INT(rtsp_parse_sdp("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
				 "a=fmtp:96 sprop-parameter-sets=Z0IAHg==,aM4=\r\n"
				 "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\n",
				 "rtsp://h/", s),
		  0);
	CHECK(s->recordable_audio);

	/* no parameter sets: libavformat probes the stream */
	rtsp_parse_sdp("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n", "rtsp://h/", s);
	CHECK(s->unsupported);
	CHECK_CONTAINS(s->why, "parameter sets");

	/* MJPEG, and interleaved H.264 */
	rtsp_parse_sdp("m=video 0 RTP/AVP 26\r\n", "rtsp://h/", s);
	CHECK(s->unsupported);
	rtsp_parse_sdp("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
		       "a=fmtp:96 packetization-mode=2;sprop-parameter-sets=Z0IAHg==,aM4=\r\n",
		       "rtsp://h/", s);
	CHECK(s->unsupported);

	/* no video at all */
	rtsp_parse_sdp("m=audio 0 RTP/AVP 0\r\n", "rtsp://h/", s);
	CHECK(s->unsupported);

	/* H.265 with its three parameter sets; an absolute control */
	CHECK_INT(
		rtsp_parse_sdp("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n"
			       "a=fmtp:96 sprop-vps=QAEMAf//;sprop-sps=QgEBAWA=;sprop-pps=RAHA\r\n"
			       "a=control:rtsp://h/x/track1\r\n",
			       "rtsp://h/x/", s),
		0);
	CHECK(!s->unsupported);
	CHECK_INT(s->codec, AV_CODEC_ID_HEVC);
	CHECK_STR(s->control, "rtsp://h/x/track1");
	CHECK(memcmp(s->extradata, "\0\0\0\1\x40\x01", 6) == 0);
	free(s);
}

static void test_digest(void)
{
	/* RFC 2617, section 3.5 (qop=auth) */
	char out[33];
	rtsp_digest_response("Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
			     "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001",
			     "0a4f113b", "auth", out);
	CHECK_STR(out, "6629fae49393a05397450978507c4ef1");
	/* without qop: MD5(HA1:nonce:HA2), RFC 2069's example (its
	 * password is "CircleOfLife"; the value as its erratum corrects it) */
	rtsp_digest_response("Mufasa", "testrealm@host.com", "CircleOfLife", "GET",
			     "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "", "", NULL,
			     out);
	CHECK_STR(out, "1949323746fe6a43ef61f9606e7febea");
}

/* ---- RTP packets ---------------------------------------------------------- */

struct rtp {
	uint8_t b[2048];
	size_t n;
};

static void rtp_begin(struct rtp *p, int pt, int marker, uint16_t seq, uint32_t ts)
{
	p->b[0] = 0x80;
	p->b[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
	p->b[2] = (uint8_t)(seq >> 8);
	p->b[3] = (uint8_t)seq;
	p->b[4] = (uint8_t)(ts >> 24);
	p->b[5] = (uint8_t)(ts >> 16);
	p->b[6] = (uint8_t)(ts >> 8);
	p->b[7] = (uint8_t)ts;
	memset(p->b + 8, 0x11, 4); /* SSRC */
	p->n = 12;
}

static void rtp_put(struct rtp *p, const void *data, size_t n)
{
	memcpy(p->b + p->n, data, n);
	p->n += n;
}

/* Feeds one packet; returns what rtsp_test_feed returned. */
static int feed(struct rtsp_client *c, struct rtp *p, AVPacket *pkt)
{
	return rtsp_test_feed(c, p->b, p->n, pkt);
}

static void test_h264_units(void)
{
	struct rtsp_client *c = rtsp_test_client(AV_CODEC_ID_H264, 96);
	AVPacket *pkt = av_packet_alloc();
	struct rtp p;
	uint16_t seq = 1000;

	/* access unit 1 at ts 9000: STAP-A (SPS, PPS), then an IDR slice in
	 * three FU-A fragments */
	static const uint8_t sps[] = { 0x67, 0x42, 0x00, 0x1e }, pps[] = { 0x68, 0xce };
	rtp_begin(&p, 96, 0, seq++, 9000);
	uint8_t stap[] = {
		0x18, 0, sizeof(sps), 0x67, 0x42, 0x00, 0x1e, 0, sizeof(pps), 0x68, 0xce
	};
	rtp_put(&p, stap, sizeof(stap));
	CHECK_INT(feed(c, &p, pkt), 0);
	uint8_t idr[300];
	for (size_t i = 0; i < sizeof(idr); i++)
		idr[i] = (uint8_t)(i * 13 + 1);
	idr[0] = 0x65; /* nal_ref_idc 3, type 5 */
	for (int part = 0; part < 3; part++) {
		rtp_begin(&p, 96, part == 2, seq++, 9000);
		uint8_t fu[2] = { (uint8_t)((idr[0] & 0xe0) | 28),
				  (uint8_t)((part == 0 ? 0x80 : 0) | (part == 2 ? 0x40 : 0) | 5) };
		rtp_put(&p, fu, 2);
		size_t from = 1 + (size_t)part * 100, len = part == 2 ? sizeof(idr) - from : 100;
		rtp_put(&p, idr + from, len);
		/* a unit is handed out once the next one begins */
		CHECK_INT(feed(c, &p, pkt), 0);
	}
	/* access unit 2 at ts 12600: one P slice; it completes unit 1 */
	rtp_begin(&p, 96, 1, seq++, 12600);
	static const uint8_t slice[] = { 0x41, 0x9a, 0x02, 0x03 };
	rtp_put(&p, slice, sizeof(slice));
	CHECK_INT(feed(c, &p, pkt), 1);
	CHECK(pkt->flags & AV_PKT_FLAG_KEY);
	CHECK_INT(pkt->pts, 0);
	CHECK_INT(pkt->dts, 0);
	size_t want = 4 + sizeof(sps) + 4 + sizeof(pps) + 4 + sizeof(idr);
	CHECK_INT(pkt->size, want);
	if ((size_t)pkt->size == want) {
		CHECK(memcmp(pkt->data, "\0\0\0\1\x67\x42\x00\x1e\0\0\0\1\x68\xce\0\0\0\1", 18) ==
		      0);
		CHECK(memcmp(pkt->data + 18, idr, sizeof(idr)) == 0);
	}
	/* with the index of its NAL units, for the fragment writer */
	const struct fragwriter_nal_index *x = pkt->opaque;
	CHECK(x != NULL);
	if (x) {
		CHECK_INT(x->magic, FRAGWRITER_NAL_INDEX_MAGIC);
		CHECK_INT(x->size, pkt->size);
		CHECK_INT(x->count, 3);
		CHECK_INT(x->at[0], 4);
		CHECK_INT(x->at[1], 12);
		CHECK_INT(x->at[2], 18);
	}
	av_packet_unref(pkt);

	/* access unit 3 completes unit 2; the last one comes out with a flush */
	rtp_begin(&p, 96, 1, seq++, 16200);
	rtp_put(&p, slice, sizeof(slice));
	CHECK_INT(feed(c, &p, pkt), 1);
	CHECK(!(pkt->flags & AV_PKT_FLAG_KEY));
	CHECK_INT(pkt->pts, 3600);
	CHECK_INT(pkt->size, 4 + sizeof(slice));
	av_packet_unref(pkt);
	CHECK_INT(rtsp_flush(c, pkt), 1);
	CHECK_INT(pkt->pts, 7200);
	av_packet_unref(pkt);
	CHECK_INT(rtsp_flush(c, pkt), 0);

	/* another payload type (audio on the same channel) is ignored */
	rtp_begin(&p, 8, 1, 1, 1);
	rtp_put(&p, slice, sizeof(slice));
	CHECK_INT(feed(c, &p, pkt), 0);
	CHECK_INT(rtsp_flush(c, pkt), 0);
	rtsp_close(&c);

	/* RTP timestamps wrap past 2^32: the media time keeps rising */
	c = rtsp_test_client(AV_CODEC_ID_H264, 96);
	static const uint32_t ts[] = { 4294960000u, 4294963600u, 4294967200u, 3504u };
	for (int i = 0; i < 4; i++) {
		rtp_begin(&p, 96, 1, (uint16_t)(seq++), ts[i]);
		rtp_put(&p, slice, sizeof(slice));
		CHECK_INT(feed(c, &p, pkt), i > 0);
		if (i > 0)
			CHECK_INT(pkt->pts, (i - 1) * 3600);
		av_packet_unref(pkt);
	}
	CHECK_INT(rtsp_flush(c, pkt), 1);
	CHECK_INT(pkt->pts, 3 * 3600);
	av_packet_unref(pkt);
	av_packet_free(&pkt);
	rtsp_close(&c);
}

static void test_h264_recovery_point_and_fallbacks(void)
{
	struct rtsp_client *c = rtsp_test_client(AV_CODEC_ID_H264, 96);
	AVPacket *pkt = av_packet_alloc();
	struct rtp p;

	/* SEI with a recovery point (payload type 6), then a non-IDR slice:
	 * libavcodec's parser calls that a keyframe */
	rtp_begin(&p, 96, 0, 1, 0);
	static const uint8_t sei[] = { 0x06, 0x06, 0x01, 0xc4, 0x80 };
	rtp_put(&p, sei, sizeof(sei));
	feed(c, &p, pkt);
	rtp_begin(&p, 96, 1, 2, 0);
	static const uint8_t slice[] = { 0x41, 0x9a };
	rtp_put(&p, slice, sizeof(slice));
	feed(c, &p, pkt);
	rtp_begin(&p, 96, 1, 3, 3600);
	rtp_put(&p, slice, sizeof(slice));
	CHECK_INT(feed(c, &p, pkt), 1);
	CHECK(pkt->flags & AV_PKT_FLAG_KEY);
	av_packet_unref(pkt);

	/* a timestamp a frame back: B frames, which need libavformat */
	rtp_begin(&p, 96, 1, 4, 0);
	rtp_put(&p, slice, sizeof(slice));
	CHECK_INT(feed(c, &p, pkt), 1);
	CHECK_INT(pkt->pts, 3600);
	av_packet_unref(pkt);
	rtp_begin(&p, 96, 1, 5, 7200);
	rtp_put(&p, slice, sizeof(slice));
	CHECK_INT(feed(c, &p, pkt), RTSP_FALLBACK);
	rtsp_close(&c);

	/* FU-B (interleaved mode) */
	c = rtsp_test_client(AV_CODEC_ID_H264, 96);
	rtp_begin(&p, 96, 1, 1, 0);
	static const uint8_t fub[] = { 0x1d, 0x85, 0, 1, 2 };
	rtp_put(&p, fub, sizeof(fub));
	CHECK_INT(feed(c, &p, pkt), RTSP_FALLBACK);
	rtsp_close(&c);
	av_packet_free(&pkt);
}

static void test_h265_units(void)
{
	struct rtsp_client *c = rtsp_test_client(AV_CODEC_ID_HEVC, 96);
	AVPacket *pkt = av_packet_alloc();
	struct rtp p;

	/* an aggregation packet (VPS, SPS, PPS), then an IDR_W_RADL (type 19)
	 * in two fragmentation units */
	rtp_begin(&p, 96, 0, 1, 0);
	static const uint8_t ap[] = { 0x60, 0x01, 0,	3, 0x40, 0x01, 0x0c, 0,	  3,
				      0x42, 0x01, 0x01, 0, 3,	 0x44, 0x01, 0xc0 };
	rtp_put(&p, ap, sizeof(ap));
	feed(c, &p, pkt);
	static const uint8_t fu1[] = { 0x62, 0x01, 0x80 | 19, 0xaa, 0xbb };
	static const uint8_t fu2[] = { 0x62, 0x01, 0x40 | 19, 0xcc };
	rtp_begin(&p, 96, 0, 2, 0);
	rtp_put(&p, fu1, sizeof(fu1));
	feed(c, &p, pkt);
	rtp_begin(&p, 96, 1, 3, 0);
	rtp_put(&p, fu2, sizeof(fu2));
	feed(c, &p, pkt);
	static const uint8_t trail[] = { 0x02, 0x01, 0xd0 }; /* TRAIL_R */
	rtp_begin(&p, 96, 1, 4, 3600);
	rtp_put(&p, trail, sizeof(trail));
	CHECK_INT(feed(c, &p, pkt), 1);
	CHECK(pkt->flags & AV_PKT_FLAG_KEY);
	static const uint8_t want[] = {
		0, 0, 0, 1,    0x40, 0x01, 0x0c, 0, 0, 0, 1,	0x42, 0x01, 0x01, 0,
		0, 0, 1, 0x44, 0x01, 0xc0, 0,	 0, 0, 1, 0x26, 0x01, 0xaa, 0xbb, 0xcc
	};
	CHECK_INT(pkt->size, sizeof(want));
	if ((size_t)pkt->size == sizeof(want))
		CHECK(memcmp(pkt->data, want, sizeof(want)) == 0);
	av_packet_unref(pkt);
	CHECK_INT(rtsp_flush(c, pkt), 1);
	CHECK(!(pkt->flags & AV_PKT_FLAG_KEY));
	CHECK_INT(pkt->pts, 3600);
	av_packet_free(&pkt);
	rtsp_close(&c);
}

static void test_lost_fragment_is_not_glued(void)
{
	struct rtsp_client *c = rtsp_test_client(AV_CODEC_ID_H264, 96);
	AVPacket *pkt = av_packet_alloc();
	struct rtp p;

	/* FU-A start (seq 1), middle lost (seq 2), end (seq 3): the end's
	 * bytes are not appended to the start's */
	static const uint8_t start[] = { 0x7c, 0x85, 1, 2 }, end[] = { 0x7c, 0x45, 5, 6 };
	rtp_begin(&p, 96, 0, 1, 0);
	rtp_put(&p, start, sizeof(start));
	feed(c, &p, pkt);
	rtp_begin(&p, 96, 1, 3, 0);
	rtp_put(&p, end, sizeof(end));
	feed(c, &p, pkt);
	CHECK_INT(rtsp_flush(c, pkt), 1);
	CHECK_INT(pkt->size, 4 + 1 + 2);
	av_packet_free(&pkt);
	rtsp_close(&c);
}

/* ---- waits and authentication against a camera in a thread ------------- */

enum cam_mode {
	CAM_DRIP,	  /* answers OPTIONS, then one byte every 50 ms */
	CAM_RTCP,	  /* streams RTCP only after PLAY */
	CAM_OTHER_PT,	  /* streams RTP of payload type 97 only after PLAY */
	CAM_BASIC,	  /* asks for Basic */
	CAM_DIGEST_OTHER, /* offers Digest SHA-512-256 and Basic */
	CAM_SPLIT,	  /* streams numbered units, each frame sent in two halves */
};

struct cam {
	enum cam_mode mode;
	uint8_t tag; /* CAM_SPLIT: in every byte of its units */
	int lfd, port;
	pthread_t thread;
	atomic_int basic_seen; /* requests with Basic credentials */
};

static const char cam_sdp[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=t\r\nt=0 0\r\n"
			      "a=control:*\r\nm=video 0 RTP/AVP 96\r\n"
			      "a=rtpmap:96 H264/90000\r\n"
			      "a=fmtp:96 packetization-mode=1;"
			      "sprop-parameter-sets=Z0LAC9kChH5cBEAAAAMAQAAADIPFCpI=,aMuDyyA=\r\n"
			      "a=control:stream=0\r\n";

static void cam_answer(struct cam *k, int fd, const char *req)
{
	char method[32] = "", out[2048];
	const char *cs = strstr(req, "CSeq: ");
	int cseq = cs ? atoi(cs + 6) : 0, n;
	bool authed = strstr(req, "Authorization: ") != NULL;

	sscanf(req, "%31s", method);
	if (strstr(req, "Authorization: Basic "))
		atomic_fetch_add(&k->basic_seen, 1);
	if ((k->mode == CAM_BASIC || k->mode == CAM_DIGEST_OTHER) && !authed) {
		n = snprintf(out, sizeof(out),
			     "RTSP/1.0 401 Unauthorized\r\nCSeq: %d\r\n%sWWW-Authenticate: Basic "
			     "realm=\"cam\"\r\n\r\n",
			     cseq,
			     k->mode == CAM_DIGEST_OTHER
				     ? "WWW-Authenticate: Digest realm=\"cam\", nonce=\"n1\", "
				       "algorithm=SHA-512-256\r\n"
				     : "");
	} else if (strcmp(method, "DESCRIBE") == 0 && k->mode != CAM_BASIC &&
		   k->mode != CAM_DIGEST_OTHER) {
		n = snprintf(out, sizeof(out),
			     "RTSP/1.0 200 OK\r\nCSeq: %d\r\nContent-Base: rtsp://127.0.0.1/x/\r\n"
			     "Content-Type: application/sdp\r\nContent-Length: %zu\r\n\r\n%s",
			     cseq, strlen(cam_sdp), cam_sdp);
	} else if (strcmp(method, "DESCRIBE") == 0) {
		n = snprintf(out, sizeof(out), "RTSP/1.0 404 Not Found\r\nCSeq: %d\r\n\r\n", cseq);
	} else {
		n = snprintf(out, sizeof(out),
			     "RTSP/1.0 200 OK\r\nCSeq: %d\r\nSession: 12345678;timeout=60\r\n"
			     "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
			     cseq);
	}
	if (send(fd, out, (size_t)n, MSG_NOSIGNAL) < 0)
		return;
}

/* CAM_SPLIT's unit i: one P slice of split_size(i) bytes, each byte
 * naming the camera and the unit; some larger than the client's carry. */
static size_t split_size(unsigned i)
{
	return 300 + (i % 3) * 4500;
}

static uint8_t split_byte(uint8_t tag, unsigned i, size_t at)
{
	return at == 0 ? 0x41 : (uint8_t)(tag ^ (i * 7) ^ at);
}

/* Sends unit i as one interleaved frame, in two halves 5 ms apart: the
 * client's read ends inside the frame, and it waits with the rest to come. */
static int split_send(int fd, uint8_t tag, unsigned i)
{
	static __thread uint8_t f[4 + 12 + 9300];
	size_t n = split_size(i), len = 12 + n;
	f[0] = '$';
	f[1] = 0;
	f[2] = (uint8_t)(len >> 8);
	f[3] = (uint8_t)len;
	uint8_t *r = f + 4;
	uint32_t ts = i * 3600;
	r[0] = 0x80;
	r[1] = 0x80 | 96;
	r[2] = (uint8_t)(i >> 8);
	r[3] = (uint8_t)i;
	r[4] = (uint8_t)(ts >> 24);
	r[5] = (uint8_t)(ts >> 16);
	r[6] = (uint8_t)(ts >> 8);
	r[7] = (uint8_t)ts;
	memset(r + 8, tag, 4);
	for (size_t at = 0; at < n; at++)
		r[12 + at] = split_byte(tag, i, at);
	size_t half = (4 + len) / 2;
	if (send(fd, f, half, MSG_NOSIGNAL) < 0)
		return -1;
	usleep(5000);
	return send(fd, f + half, 4 + len - half, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Serves one connection for at most 6 s: a client that is still there
 * then was held by the camera. */
static void *cam_main(void *arg)
{
	struct cam *k = arg;
	int fd = accept(k->lfd, NULL, NULL);
	char in[8192];
	size_t len = 0;
	bool streaming = false;
	int64_t end = clock_mono_us() + 6 * USEC_PER_SEC;
	uint16_t seq = 0;
	unsigned unit = 0;

	if (fd < 0)
		return NULL;
	while (clock_mono_us() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int every = k->mode == CAM_DRIP ? 50 : 5;
		if (poll(&pfd, 1, every) > 0) {
			ssize_t r = recv(fd, in + len, sizeof(in) - len - 1, 0);
			if (r <= 0)
				break; /* the client hung up */
			len += (size_t)r;
			in[len] = '\0';
			char *e;
			while ((e = strstr(in, "\r\n\r\n"))) {
				*e = '\0';
				if (!(k->mode == CAM_DRIP && strncmp(in, "OPTIONS", 7) != 0))
					cam_answer(k, fd, in);
				if (strncmp(in, "PLAY", 4) == 0)
					streaming = true;
				size_t used = (size_t)(e + 4 - in);
				memmove(in, e + 4, len - used + 1);
				len -= used;
			}
			continue;
		}
		if (k->mode == CAM_DRIP) {
			if (send(fd, "x", 1, MSG_NOSIGNAL) < 0)
				break;
		} else if (k->mode == CAM_SPLIT) {
			if (streaming && split_send(fd, k->tag, unit++) < 0)
				break;
		} else if (streaming) {
			/* RTCP (a receiver report) on channel 1, or RTP that is not
			 * the video's payload type on channel 0 */
			uint8_t f[4 + 16] = { '$', 1, 0, 8, 0x81, 201, 0, 1, 1, 2, 3, 4 };
			size_t fl = 12;
			if (k->mode == CAM_OTHER_PT) {
				uint8_t rtp[16] = { '$',
						    0,
						    0,
						    12,
						    0x80,
						    97,
						    (uint8_t)(seq >> 8),
						    (uint8_t)seq,
						    0,
						    0,
						    0,
						    (uint8_t)seq };
				memcpy(f, rtp, sizeof(rtp));
				fl = 16;
				seq++;
			}
			if (send(fd, f, fl, MSG_NOSIGNAL) < 0)
				break;
		}
	}
	close(fd);
	return NULL;
}

static int cam_start_tagged(struct cam *k, enum cam_mode mode, uint8_t tag)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	memset(k, 0, sizeof(*k));
	k->mode = mode;
	k->tag = tag;
	k->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (k->lfd < 0 || bind(k->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(k->lfd, 1) < 0 || getsockname(k->lfd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	k->port = ntohs(a.sin_port);
	return pthread_create(&k->thread, NULL, cam_main, k) == 0 ? 0 : -1;
}

static int cam_start(struct cam *k, enum cam_mode mode)
{
	return cam_start_tagged(k, mode, 0);
}

static void cam_stop(struct cam *k)
{
	pthread_join(k->thread, NULL);
	close(k->lfd);
}

static int64_t stop_at_mono;

static int stop_cb(void *opaque)
{
	(void)opaque;
	return stop_at_mono > 0 && clock_mono_us() >= stop_at_mono;
}

static int cam_open(struct cam *k, bool allow_basic, struct rtsp_client **c, AVFormatContext **ic)
{
	char url[128];
	snprintf(url, sizeof(url), "rtsp://u:secret@127.0.0.1:%d/x", k->port);
	struct rtsp_params p = {
		.url = url,
		.name = "t",
		.interrupt = { .callback = stop_cb },
		.rw_timeout_us = USEC_PER_SEC,
		.read_timeout_us = USEC_PER_SEC,
		.allow_basic = allow_basic,
	};
	stop_at_mono = 0;
	return rtsp_open(c, ic, &p);
}

static void test_request_bounded_by_a_whole_reply(void)
{
	struct cam k;
	struct rtsp_client *c = NULL;
	AVFormatContext *ic = NULL;

	CHECK_INT(cam_start(&k, CAM_DRIP), 0);
	int64_t t0 = clock_mono_us();
	/* a byte every 50 ms after OPTIONS: DESCRIBE is never answered */
	CHECK_INT(cam_open(&k, false, &c, &ic), AVERROR(ETIMEDOUT));
	int64_t took = clock_mono_us() - t0;
	CHECK(took < 2 * USEC_PER_SEC);
	CHECK(c == NULL);
	cam_stop(&k);
}

static void read_bounded(enum cam_mode mode)
{
	struct cam k;
	struct rtsp_client *c = NULL;
	AVFormatContext *ic = NULL;
	AVPacket *pkt = av_packet_alloc();

	CHECK_INT(cam_start(&k, mode), 0);
	CHECK_INT(cam_open(&k, false, &c, &ic), 0);
	if (c) {
		/* no video unit within read_timeout_us, whatever else comes */
		int64_t t0 = clock_mono_us();
		CHECK_INT(rtsp_read(c, pkt), AVERROR(ETIMEDOUT));
		int64_t took = clock_mono_us() - t0;
		CHECK(took >= USEC_PER_SEC - 1000 && took < USEC_PER_SEC + USEC_PER_SEC / 2);
		/* and a stop is seen at once, long before the deadline */
		stop_at_mono = clock_mono_us() + 300000;
		t0 = clock_mono_us();
		CHECK_INT(rtsp_read(c, pkt), AVERROR_EXIT);
		CHECK(clock_mono_us() - t0 < 700000);
	}
	rtsp_close(&c);
	avformat_close_input(&ic);
	av_packet_free(&pkt);
	cam_stop(&k);
}

static void test_read_bounded_with_rtcp_only(void)
{
	read_bounded(CAM_RTCP);
}

static void test_read_bounded_with_other_payload_type(void)
{
	read_bounded(CAM_OTHER_PT);
}

static void basic_refused(enum cam_mode mode)
{
	struct cam k;
	struct rtsp_client *c = NULL;
	AVFormatContext *ic = NULL;

	CHECK_INT(cam_start(&k, mode), 0);
	CHECK_INT(cam_open(&k, false, &c, &ic), RTSP_BASIC_REFUSED);
	cam_stop(&k);
	CHECK_INT(atomic_load(&k.basic_seen), 0); /* the password never went */

	/* allowed for this camera: Basic is answered (DESCRIBE then fails) */
	CHECK_INT(cam_start(&k, mode), 0);
	CHECK_INT(cam_open(&k, true, &c, &ic), AVERROR_HTTP_NOT_FOUND);
	cam_stop(&k);
	CHECK(atomic_load(&k.basic_seen) >= 1);
}

static void test_basic_only_camera_refused(void)
{
	basic_refused(CAM_BASIC);
}

static void test_digest_of_other_algorithm_does_not_force_basic(void)
{
	basic_refused(CAM_DIGEST_OTHER);
}

/* A camera named by a host name: the lookup runs in a thread of its own
 * (one a stop can walk away from) and its answer is used. */
static void test_host_name_looked_up(void)
{
	struct cam k;
	struct rtsp_client *c = NULL;
	AVFormatContext *ic = NULL;
	char url[128];

	CHECK_INT(cam_start(&k, CAM_BASIC), 0);
	snprintf(url, sizeof(url), "rtsp://u:secret@localhost:%d/x", k.port);
	struct rtsp_params p = {
		.url = url,
		.name = "t",
		.interrupt = { .callback = stop_cb },
		.rw_timeout_us = USEC_PER_SEC,
	};
	stop_at_mono = 0;
	CHECK_INT(rtsp_open(&c, &ic, &p), RTSP_BASIC_REFUSED);
	cam_stop(&k);
}

/* ---- bounds on what a camera can make the client hold (issue 11) -------- */

/* H264/1: every timestamp a huge number of microseconds; refused with a
 * reason, not fallen back to libavformat (which would take it). */
static void test_sdp_clock_rate(void)
{
	struct rtsp_sdp *s = malloc(sizeof(*s));
	char sdp[4096];
	const char *at = strstr(sdp_h264, "H264/90000");

	CHECK(at != NULL);
	for (int i = 0; i < 3 && at; i++) {
		static const char *const rates[] = { "H264/1", "H264/999", "H264/20000000" };
		snprintf(sdp, sizeof(sdp), "%.*s%s%s", (int)(at - sdp_h264), sdp_h264, rates[i],
			 at + strlen("H264/90000"));
		CHECK_INT(rtsp_parse_sdp(sdp, "rtsp://127.0.0.1:8554/cam1/", s),
			  AVERROR_INVALIDDATA);
		CHECK(strstr(s->why, "clock rate") != NULL);
	}
	CHECK_INT(rtsp_parse_sdp(sdp_h264, "rtsp://127.0.0.1:8554/cam1/", s), 0);
	free(s);
}

/* Feeds an IDR slice of size bytes at ts in FU-A fragments of 1400, all
 * left queued; returns the first error, or 0. */
static int feed_unit_queued(struct rtsp_client *c, uint16_t *seq, uint32_t ts, size_t size)
{
	static uint8_t chunk[1400];
	struct rtp p;

	memset(chunk, 0x5a, sizeof(chunk));
	for (size_t off = 0; off < size; off += sizeof(chunk)) {
		bool first = off == 0, last = off + sizeof(chunk) >= size;
		rtp_begin(&p, 96, last, (*seq)++, ts);
		uint8_t fu[2] = { 0x7c, (uint8_t)((first ? 0x80 : 0) | (last ? 0x40 : 0) | 5) };
		rtp_put(&p, fu, 2);
		rtp_put(&p, chunk, sizeof(chunk));
		int ret = rtsp_test_feed_queued(c, p.b, p.n);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Before PLAY is answered nothing reads the queue: a camera sending big
 * units then could make the client hold 64 of up to 16 MiB each. */
static void test_queue_bound(void)
{
	struct rtsp_client *c = rtsp_test_client(AV_CODEC_ID_H264, 96);
	uint16_t seq = 1;
	int ret = 0, units = 0;

	while (ret == 0 && units < 60)
		ret = feed_unit_queued(c, &seq, (uint32_t)units++ * 3600, 200 * 1024);
	CHECK_INT(ret, RTSP_OVER_BOUND);
	/* 200 KiB each: refused at the unit that would pass the bound */
	CHECK(units <= RTSP_QUEUE_MAX / (200 * 1024) + 2);
	CHECK(strstr(rtsp_error_detail(c), "MiB") != NULL);
	rtsp_close(&c);

	/* one unit alone past its own bound */
	c = rtsp_test_client(AV_CODEC_ID_H264, 96);
	CHECK_INT(feed_unit_queued(c, &seq, 0, RTSP_UNIT_MAX + 4096), RTSP_OVER_BOUND);
	rtsp_close(&c);
}

/* Timestamps stepping by 2^31 - 1: unwrapped, they would grow until
 * microseconds overflow; the client stops at its range instead. */
static void test_timestamp_range(void)
{
	struct rtsp_client *c = rtsp_test_client(AV_CODEC_ID_H264, 96);
	AVPacket *pkt = av_packet_alloc();
	static const uint8_t slice[] = { 0x41, 0x9a, 0x02, 0x03 };
	struct rtp p;
	uint32_t ts = 0;
	int ret = 0, i;
	int64_t highest = 0;

	for (i = 0; i < 200000 && ret >= 0; i++) {
		rtp_begin(&p, 96, 1, (uint16_t)i, ts);
		rtp_put(&p, slice, sizeof(slice));
		ret = feed(c, &p, pkt);
		if (ret == 1) {
			if (pkt->pts > highest)
				highest = pkt->pts;
			av_packet_unref(pkt);
		}
		ts += 0x7fffffffu;
	}
	CHECK_INT(ret, RTSP_OVER_BOUND);
	CHECK(highest < (INT64_C(1) << 48));
	CHECK(highest > (INT64_C(1) << 47));
	av_packet_free(&pkt);
	rtsp_close(&c);
}

/* ---- two cameras on one I/O thread ------------------------------------- */

#define SPLIT_UNITS 40

struct split_reader {
	struct cam *cam;
	int opened, units, wrong;
};

static void split_reader_task(void *arg)
{
	struct split_reader *r = arg;
	struct rtsp_client *c = NULL;
	AVFormatContext *ic = NULL;
	AVPacket *pkt = av_packet_alloc();

	r->opened = cam_open(r->cam, false, &c, &ic);
	/* unit i is handed out once unit i + 1 begins */
	while (c && pkt && r->units < SPLIT_UNITS - 1 && rtsp_read(c, pkt) == 0) {
		unsigned i = (unsigned)r->units++;
		size_t n = split_size(i);
		bool right = (size_t)pkt->size == 4 + n && memcmp(pkt->data, "\0\0\0\1", 4) == 0;
		for (size_t at = 0; right && at < n; at++)
			right = pkt->data[4 + at] == split_byte(r->cam->tag, i, at);
		r->wrong += !right;
		av_packet_unref(pkt);
		/* as a recorder waits for a write: the other camera reads meanwhile */
		evloop_sleep_until(clock_mono_us() + 3000);
	}
	rtsp_close(&c);
	avformat_close_input(&ic);
	av_packet_free(&pkt);
}

/* Two cameras read by tasks of one I/O thread, every frame arriving in
 * two halves, and each reader pausing after every unit: a client's half
 * frame waits in its own carry while the other reads into the thread's
 * receive area, so each gets its own bytes, every unit whole. */
static void test_cameras_sharing_a_thread_keep_their_bytes(void)
{
	struct cam k[2];
	struct split_reader r[2];
	struct evloop_group *g = NULL;

	for (int i = 0; i < 2; i++) {
		CHECK_INT(cam_start_tagged(&k[i], CAM_SPLIT, (uint8_t)(0xa0 + i)), 0);
		r[i] = (struct split_reader){ .cam = &k[i] };
	}
	CHECK_INT(evloop_group_new(&g, 1), 0);
	for (int i = 0; g && i < 2; i++)
		CHECK_INT(evloop_spawn(g, split_reader_task, &r[i], "split"), 0);
	evloop_group_free(&g);
	for (int i = 0; i < 2; i++) {
		CHECK_INT(r[i].opened, 0);
		CHECK_INT(r[i].units, SPLIT_UNITS - 1);
		CHECK_INT(r[i].wrong, 0);
		cam_stop(&k[i]);
	}
}

const struct test_case rtsp_tests[] = {
	{ "url", test_url },
	{ "sdp_h264", test_sdp_h264 },
	{ "sdp_needs_libavformat", test_sdp_needs_libavformat },
	{ "digest", test_digest },
	{ "h264_units", test_h264_units },
	{ "h264_recovery_point_and_fallbacks", test_h264_recovery_point_and_fallbacks },
	{ "h265_units", test_h265_units },
	{ "lost_fragment_is_not_glued", test_lost_fragment_is_not_glued },
	{ "sdp_clock_rate", test_sdp_clock_rate },
	{ "queue_bound", test_queue_bound },
	{ "timestamp_range", test_timestamp_range },
	{ "request_bounded_by_a_whole_reply", test_request_bounded_by_a_whole_reply },
	{ "read_bounded_with_rtcp_only", test_read_bounded_with_rtcp_only },
	{ "read_bounded_with_other_payload_type", test_read_bounded_with_other_payload_type },
	{ "basic_only_camera_refused", test_basic_only_camera_refused },
	{ "digest_of_other_algorithm_does_not_force_basic",
	  test_digest_of_other_algorithm_does_not_force_basic },
	{ "host_name_looked_up", test_host_name_looked_up },
	{ "cameras_sharing_a_thread_keep_their_bytes",
	  test_cameras_sharing_a_thread_keep_their_bytes },
	{ NULL, NULL },
};
