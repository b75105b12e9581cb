/*
 * GET /api/cameras/ID/video.mp4?from=T&to=T and GET /api/cameras/ID/live.mp4:
 * footage played in the browser straight from the segment files, without
 * transcoding (the streams themselves are built in pbstream.c).
 *
 * video.mp4 has a known size before a byte is sent (its layout is computed
 * first), so Range requests are honoured: 206 with Content-Range for one
 * range, 416 for a range past the end.  The bytes come from a
 * libmicrohttpd callback that copies the generated boxes and pread()s the
 * rest from the files: libmicrohttpd can sendfile() only a single file
 * descriptor from an offset, and this body is a concatenation of many
 * files' pieces with patched boxes between them.
 *
 * Response headers say what was found: X-Vigil-Start (the keyframe the
 * stream starts at) and X-Vigil-End (RFC 3339), X-Vigil-End-Reason (end,
 * gap, format-change, live) and X-Vigil-Codec (RFC 6381, for
 * MediaSource.isTypeSupported; an H.265 stream can then be offered as a
 * download, download=1, where the browser cannot decode it).
 *
 * live.mp4 is chunked and open-ended: it follows the segment being written.
 * The server runs a thread per connection, so waiting inside the callback
 * for the next fragment holds only this connection's thread; a stream with
 * nothing new for LIVE_IDLE_US ends, so a recorder that died mid-segment
 * does not keep threads forever.  A viewer who leaves is noticed at the
 * next write, which a camera that sends nothing never makes: between waits
 * the callback asks the connection's socket whether the viewer has closed
 * it, so the thread (and the place under the per-address connection limit)
 * is given back within LIVE_WAIT_US.
 *
 * Thread safety: each response owns its stream; the catalog takes its lock.
 */
#include "web/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/timefmt.h"
#include "web/playback.h"
#include "util/banned.h"

#define BLOCK_SIZE (64 * 1024)
#define VIDEO_MAX_INTERVAL_US (7 * 24 * 3600 * USEC_PER_SEC)
#define LIVE_WAIT_US (1 * USEC_PER_SEC)
#define LIVE_IDLE_US (20 * USEC_PER_SEC)

struct vod {
	struct pb_stream *s;
	int64_t first; /* of the range sent */
	char camera[CATALOG_CAMERA_MAX];
};

static ssize_t vod_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct vod *v = cls;
	ssize_t n = pb_stream_read(v->s, v->first + (int64_t)pos, buf, max);
	if (n < 0) {
		log_warnx("camera '%s': playback stopped: %s", v->camera, strerror((int)-n));
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void vod_free(void *cls)
{
	struct vod *v = cls;
	pb_stream_free(&v->s);
	free(v);
}

static void add_time_header(struct MHD_Response *resp, const char *name, int64_t us)
{
	char t[40];
	if (us < 0)
		return;
	time_format_utc(us, t, sizeof(t));
	MHD_add_response_header(resp, name, t);
}

static void add_info_headers(struct MHD_Response *resp, const struct pb_info *in, bool live)
{
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "video/mp4");
	add_time_header(resp, "X-Vigil-Start", in->start_us);
	if (!live)
		add_time_header(resp, "X-Vigil-End", in->end_us);
	MHD_add_response_header(resp, "X-Vigil-End-Reason", pb_end_name(in->end_reason));
	MHD_add_response_header(resp, "X-Vigil-Codec", in->codec);
}

/* 416 with the size, as RFC 9110 wants, and the usual JSON error. */
static enum MHD_Result reply_416(struct web_request *r, int64_t size)
{
	char body[160], cr[48];
	int n = snprintf(body, sizeof(body),
			 "{\"error\":\"range not satisfiable: the video is %" PRId64 " bytes\"}",
			 size);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	snprintf(cr, sizeof(cr), "bytes */%" PRId64, size);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	return web_reply_response(r, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp);
}

static void add_download_header(struct MHD_Response *resp, const char *camera, int64_t start_us)
{
	char t[40], v[CATALOG_CAMERA_MAX + 80];
	time_format_utc_s(start_us, t, sizeof(t));
	/* 2026-11-02T06:00:00Z -> 20261102T060000Z: no ':' in a file name */
	char compact[24];
	size_t k = 0;
	for (const char *p = t; *p && k + 1 < sizeof(compact); p++)
		if (*p != '-' && *p != ':')
			compact[k++] = *p;
	compact[k] = '\0';
	snprintf(v, sizeof(v), "attachment; filename=\"%s-%s.mp4\"", camera, compact);
	MHD_add_response_header(resp, "Content-Disposition", v);
}

static enum MHD_Result get_video(struct web_request *r)
{
	const char *camera = r->params[0];
	int64_t from, to;
	char err[256];

	if (!web_camera_allowed(r, camera) || !web_time_param(r, "from", &from, true) ||
	    !web_time_param(r, "to", &to, true))
		return MHD_YES;
	if (to <= from)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST, "to must be after from");
	if (to - from > VIDEO_MAX_INTERVAL_US)
		return web_reply_error(r, MHD_HTTP_BAD_REQUEST,
				       "the interval is longer than 7 days; ask for less at a time "
				       "(X-Vigil-End says where a video stops)");
	struct vod *v = calloc(1, sizeof(*v));
	if (!v)
		return MHD_NO;
	snprintf(v->camera, sizeof(v->camera), "%s", camera);
	int ret = pb_stream_build(r->web->catalog, r->web->cfg->storage_path, camera, from, to,
				  &v->s, err, sizeof(err));
	if (ret < 0) {
		free(v);
		if (ret == -ENOENT)
			return web_reply_error(r, MHD_HTTP_NOT_FOUND, "%s", err);
		log_warnx("camera '%s': cannot play %s", camera, err);
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "cannot play this footage (see the log)");
	}
	const struct pb_info *in = pb_stream_info(v->s);
	int64_t first = 0, last = in->size - 1;
	int range = pb_parse_range(web_header(r, MHD_HTTP_HEADER_RANGE), in->size, &first, &last);
	if (range < 0) {
		int64_t size = in->size;
		vod_free(v);
		return reply_416(r, size);
	}
	v->first = first;
	struct MHD_Response *resp = MHD_create_response_from_callback(
		(uint64_t)(last - first + 1), BLOCK_SIZE, vod_read, v, vod_free);
	if (!resp) {
		vod_free(v);
		return MHD_NO;
	}
	add_info_headers(resp, in, false);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (range == 1) {
		char cr[80];
		snprintf(cr, sizeof(cr), "bytes %" PRId64 "-%" PRId64 "/%" PRId64, first, last,
			 in->size);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	const char *dl = web_query(r, "download");
	if (dl && strcmp(dl, "1") == 0)
		add_download_header(resp, camera, in->start_us);
	/* One row per viewing, not per request: a player probes the first
	 * bytes and seeks with ranges further in, and each of those would
	 * bury the row that answers "who watched gate 3". */
	bool continues = range == 1 && (first > 0 || last == 0);
	if (strcmp(r->method, "HEAD") != 0 && !continues)
		web_audit(r, "view", camera, in->start_us, in->end_us, "video.mp4");
	return web_reply_response(r, range == 1 ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, resp);
}

struct live {
	struct pb_live *l;
	int viewer_fd; /* the connection's socket, -1: not known */
	char camera[CATALOG_CAMERA_MAX];
};

/* Has the viewer closed the connection (or has it broken)?  Only asks: the
 * socket stays MHD's. */
static bool viewer_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };
	return fd >= 0 && poll(&p, 1, 0) == 1 &&
	       (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static ssize_t live_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct live *lv = cls;
	int64_t idle_since = clock_mono_us();
	(void)pos;
	for (;;) {
		ssize_t n = pb_live_read(lv->l, buf, max, LIVE_WAIT_US);
		if (n > 0)
			return n;
		if (n == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (n != -EAGAIN) {
			log_warnx("camera '%s': live view stopped: %s", lv->camera,
				  strerror((int)-n));
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (viewer_gone(lv->viewer_fd))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (clock_mono_us() - idle_since > LIVE_IDLE_US)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
}

static void live_free(void *cls)
{
	struct live *lv = cls;
	pb_live_free(&lv->l);
	free(lv);
}

static enum MHD_Result get_live(struct web_request *r)
{
	const char *camera = r->params[0];
	char err[256];

	if (!web_camera_allowed(r, camera))
		return MHD_YES;
	struct live *lv = calloc(1, sizeof(*lv));
	if (!lv)
		return MHD_NO;
	snprintf(lv->camera, sizeof(lv->camera), "%s", camera);
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	lv->viewer_fd = ci ? ci->connect_fd : -1;
	int ret = pb_live_open(r->web->catalog, r->web->cfg->storage_path, camera, &lv->l, err,
			       sizeof(err));
	if (ret < 0) {
		free(lv);
		if (ret == -ENOENT)
			return web_reply_error(r, MHD_HTTP_NOT_FOUND, "%s", err);
		log_warnx("camera '%s': cannot show live: %s", camera, err);
		return web_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "cannot show this camera live (see the log)");
	}
	const struct pb_info *in = pb_live_info(lv->l);
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK_SIZE,
								      live_read, lv, live_free);
	if (!resp) {
		live_free(lv);
		return MHD_NO;
	}
	add_info_headers(resp, in, true);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "none");
	if (strcmp(r->method, "HEAD") != 0)
		web_audit(r, "view", camera, in->start_us, 0, "live.mp4");
	return web_reply_response(r, MHD_HTTP_OK, resp);
}

const struct web_route web_playback_routes[] = {
	{ "GET", "/api/cameras/{}/video.mp4", WEB_SESSION, get_video },
	{ "GET", "/api/cameras/{}/live.mp4", WEB_SESSION, get_live },
	{ NULL, NULL, WEB_PUBLIC, NULL },
};
