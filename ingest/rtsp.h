/*
 * A lean RTSP client for the common camera: RTSP over TCP (interleaved),
 * H.264 or H.265 video with its parameter sets in the SDP.  Internal to
 * ingest/; the camera workers use it instead of libavformat's RTSP demuxer
 * when it applies, and fall back to libavformat for everything else
 * (UDP, rtsps, other codecs, AAC audio, SDPs without parameter sets, B
 * frames, interleaved packetization modes).
 *
 * Why: libavformat reads an interleaved RTP packet with three blocking
 * reads (the '$', the 3-byte header, the payload), each behind a poll(2):
 * six system calls per packet, some 2,200 a second for a 4 Mbit/s camera,
 * which is most of what recording costs.  This client reads whatever the
 * socket holds (up to 128 KiB) in one recv(2) each time poll says there is
 * data, and depacketizes in place: a few dozen system calls a second.
 *
 * What it hands out is what libavformat's demuxer hands out for the same
 * stream: an AVFormatContext whose one stream carries the codec, the
 * extradata (Annex B parameter sets, from sprop-parameter-sets) and the RTP
 * clock as time base; and one AVPacket per access unit, in Annex B with
 * 4-byte start codes, every NAL unit kept (SEI included), pts = dts = the
 * RTP timestamp unwrapped and counted from the first one, keyframes flagged
 * (H.264 IDR or recovery point SEI, H.265 IRAP).  Like libavformat's
 * parser, it hands an access unit out once the next one begins (the RTP
 * timestamp changes), so arrival times mean the same on both paths; when
 * the connection ends, the last one is handed out before the error (see
 * also rtsp_flush).
 *
 * Like libavformat it sends OPTIONS, DESCRIBE (answering Basic or Digest
 * authentication), SETUP, PLAY; keeps the session alive with GET_PARAMETER
 * (or OPTIONS) every half session timeout; and sends TEARDOWN at close.
 *
 * Every wait is bounded by progress, not by bytes: a request fails when
 * its whole reply has not come within rw_timeout_us, rtsp_read when no
 * whole access unit of the video has come within read_timeout_us, however
 * much else (stray bytes, RTCP, other payload types, server requests) the
 * camera sends meanwhile; and the interrupt callback is asked before every
 * read of the socket, so a stop is seen within RECV_TIMEOUT_MS (150 ms).
 *
 * Errors are libavformat's: AVERROR_EOF when the camera closes the
 * connection, AVERROR_EXIT when the interrupt callback asks to stop,
 * AVERROR(ETIMEDOUT) when a request or a read makes no progress in time,
 * AVERROR_HTTP_UNAUTHORIZED / _NOT_FOUND / ... for RTSP status codes,
 * RTSP_FALLBACK when the stream needs libavformat, and RTSP_BASIC_REFUSED.
 *
 * Thread safety: a client is used by one thread.
 */
#ifndef VIGIL_INGEST_RTSP_H
#define VIGIL_INGEST_RTSP_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The stream (or the URL) needs libavformat's demuxer. */
#define RTSP_FALLBACK FFERRTAG('V', 'R', 'F', 'B')
/* The camera asks for Basic authentication (it offers no Digest this
 * client answers) and rtsp_params.allow_basic is false: the password would
 * cross the network in clear.  Not a reason to fall back: libavformat
 * would send it. */
#define RTSP_BASIC_REFUSED FFERRTAG('V', 'R', 'B', 'A')
/* The camera exceeded one of the client's bounds (RTSP_UNIT_MAX,
 * RTSP_QUEUE_MAX, the range of timestamps); rtsp_error_detail says which.
 * The client has logged it, naming the camera. */
#define RTSP_OVER_BOUND FFERRTAG('V', 'R', 'O', 'B')
/* An access unit may hold this much, and the units built but not handed
 * out yet (those that come before PLAY is answered) this much in all. */
#define RTSP_UNIT_MAX (4 * 1024 * 1024)
#define RTSP_QUEUE_MAX (4 * 1024 * 1024)
/* Plausible RTP clock rates for video (RFC 6184 and 7798 say 90 kHz). */
#define RTSP_CLOCK_MIN 1000
#define RTSP_CLOCK_MAX 10000000

struct rtsp_client;

struct rtsp_params {
	const char *url;  /* rtsp://[user[:password]@]host[:port]/path */
	const char *name; /* for log lines: the camera id */
	const char *user_agent;
	AVIOInterruptCB interrupt; /* asked at least every 150 ms, whatever comes */
	int64_t rw_timeout_us;	   /* a request not answered whole this long fails */
	int64_t read_timeout_us;   /* rtsp_read: no whole video unit this long fails */
	bool allow_basic;	   /* answer a Basic challenge (password in clear) */
	char *refused;		   /* if not NULL, filled with what the camera did */
	size_t refused_size;	   /* wrong when rtsp_open refuses its stream */
};

/* True when url is one this client may try (rtsp://, not rtsps://). */
bool rtsp_fast_url(const char *url);

/*
 * Connects and starts the stream.  Returns 0 with *out and *ic (one
 * stream: the video; free it with avformat_close_input() after
 * rtsp_close()), or a negative AVERROR; RTSP_FALLBACK when the camera's
 * stream needs libavformat (nothing is left open then).
 */
int rtsp_open(struct rtsp_client **out, AVFormatContext **ic, const struct rtsp_params *p);

/* The next access unit of the video stream into pkt (which must be blank).
 * Returns 0 or a negative AVERROR; AVERROR(ETIMEDOUT) when no unit came
 * whole within read_timeout_us; RTSP_FALLBACK when the stream turned out
 * to need libavformat (B frames, an unsupported packetization). */
int rtsp_read(struct rtsp_client *c, AVPacket *pkt);

/* What the camera did when a call returned RTSP_OVER_BOUND. */
const char *rtsp_error_detail(const struct rtsp_client *c);

/* When the last data of the unit handed out last (by rtsp_read or
 * rtsp_flush) arrived, in clock_wall_us() time: a unit is handed out only
 * once the next one begins, which after a pause comes much later. */
int64_t rtsp_arrival_us(const struct rtsp_client *c);

/* The camera's clock minus the recorder's, for the newest unit: its time
 * by the camera's RTCP sender reports less its arrival.  False until a
 * sender report has come. */
bool rtsp_clock_offset(const struct rtsp_client *c, int64_t *offset_us);

/* The access unit being built, whole as far as it goes, into pkt: for a
 * stop, when no next unit will come to complete it.  Returns 1 with pkt
 * filled, or 0.  (After a stall it is best dropped: a camera that sends one
 * frame at connect and stalls then has one outage, as with libavformat.) */
int rtsp_flush(struct rtsp_client *c, AVPacket *pkt);

/* Sends TEARDOWN (without waiting for the answer), closes, frees, sets *c
 * to NULL. */
void rtsp_close(struct rtsp_client **c);

/* ---- exposed for the unit tests ---------------------------------------- */

struct rtsp_url {
	char host[256];
	char port[8];
	char user[256];
	char pass[256];
	bool has_user;
	char request[2048]; /* the URL without userinfo */
};
int rtsp_parse_url(const char *url, struct rtsp_url *u);

struct rtsp_sdp {
	enum AVCodecID codec; /* AV_CODEC_ID_NONE: no usable video */
	int payload_type;
	int clock_rate;
	char control[2048]; /* the video track, resolved against the base */
	char session_control[2048];
	uint8_t extradata[4096]; /* Annex B parameter sets */
	int extradata_size;
	AVRational framerate;
	bool recordable_audio; /* AAC: vigil records it, libavformat needed */
	bool unsupported;      /* video present but not for this client */
	char why[128];	       /* when unsupported, or refused */
};
/* Returns 0, or AVERROR_INVALIDDATA (with s->why) when the stream is
 * refused outright, on either client: an implausible clock rate. */
int rtsp_parse_sdp(const char *sdp, const char *base, struct rtsp_sdp *s);

/* A client with no connection, to feed RTP packets to (tests). */
struct rtsp_client *rtsp_test_client(enum AVCodecID codec, int payload_type);
/* Depacketizes one RTP packet; returns 1 with pkt filled when an access
 * unit completed (the packet began the next one), 0 when not yet, or a
 * negative AVERROR. */
int rtsp_test_feed(struct rtsp_client *c, const uint8_t *rtp, size_t n, AVPacket *pkt);
/* Depacketizes one RTP packet and leaves what completed queued, as before
 * PLAY is answered; returns 0 or a negative AVERROR. */
int rtsp_test_feed_queued(struct rtsp_client *c, const uint8_t *rtp, size_t n);

/* The Digest response (RFC 2617, MD5, with or without qop=auth) as 32 hex
 * digits. */
void rtsp_digest_response(const char *user, const char *realm, const char *pass, const char *method,
			  const char *uri, const char *nonce, const char *nc, const char *cnonce,
			  const char *qop, char out[33]);

#endif
