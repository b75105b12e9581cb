/*
 * Camera workers.  Each configured camera gets one thread that owns its
 * libavformat input, its current segment writer and its wall-clock mapping;
 * it talks to the rest of the program only through the catalog (segments,
 * gaps) and its status block (read by health under a small lock).
 *
 * A worker's life is a loop: connect, record until the stream ends or
 * stalls, note the outage, wait (1 s doubling to a 5 s cap by default,
 * interruptible by stop), connect again.  Every blocking libavformat call
 * runs under a deadline enforced by the interrupt callback, so a camera
 * that goes silent (TCP open, no media) can never hang a worker: a socket
 * timeout alone does not cover RTCP chatter or a server that trickles.
 *
 * Outages.  The time a camera has no footage is always a gap with a reason.
 * While an outage lasts its gap row is open (end NULL), so anyone reading
 * the catalog sees it; the first segment after it closes the gap at its own
 * start.  At start-up, the time since the camera's footage last ended is a
 * recorder-down gap.
 *
 * Thread safety: `stopping` and `storage_blocked` are atomics read by the
 * workers; each worker's status is guarded by its own mutex; everything
 * else in a worker is touched by its thread only.
 */
#include "ingest/ingest.h"

#include <errno.h>
#include <inttypes.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/segwriter.h"
#include "ingest/wallclock.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/redact.h"

/* A media timestamp jump larger than this is a discontinuity. */
#define JUMP_FORWARD_US (10 * USEC_PER_SEC)
#define JUMP_BACKWARD_US (1 * USEC_PER_SEC)
/* How long a worker may take to tear a connection down. */
#define CLOSE_DEADLINE_US (2 * USEC_PER_SEC)
/* After a storage failure, try a new segment at most this often. */
#define STORAGE_RETRY_US (1 * USEC_PER_SEC)
#define RATE_BUCKETS 10

struct rate_window {
	int64_t second[RATE_BUCKETS];
	int64_t frames[RATE_BUCKETS];
	int64_t bytes[RATE_BUCKETS];
};

struct worker {
	struct ingest *ing;
	const struct camera_config *cam;
	pthread_t thread;
	bool started;
	_Atomic int64_t deadline_mono; /* the blocking call in progress must end by then */

	pthread_mutex_t lock; /* guards st and rate */
	struct ingest_camera_status st;
	struct rate_window rate;

	/* the rest belongs to the worker thread */
	AVFormatContext *ic;
	AVPacket *pkt;
	AVPacket *pending; /* a first keyframe that came without timestamps */
	AVPacket *spare;
	int64_t pending_arrival;
	int vidx, aidx;
	int64_t frame_ticks; /* one frame in the video time base, 0: unknown */
	struct segwriter *seg;
	int64_t seg_id;
	char seg_path[PATH_MAX];
	int64_t seg_start_wall;
	int64_t seg_origin_ts; /* video dts that starts the segment */
	struct wallclock wc;
	bool have_last_ts;
	int64_t last_ts;	/* newest video dts of this run */
	int64_t last_delta;	/* dts step between the last two frames */
	int64_t last_end_wall;	/* wall end of the newest footage, -1: none */
	int64_t storage_retry_mono;
	bool timed_out;		/* the last blocking call hit its deadline */

	/* outage bookkeeping */
	bool in_outage;
	int64_t gap_id;		  /* open gap row, -1: none */
	bool startup_gap_pending; /* recorder-down gap from startup_from */
	int64_t startup_from;
};

struct ingest {
	const struct config *cfg;
	struct catalog *cat;
	struct ingest_callbacks cb;
	struct worker *workers;
	size_t nworkers;
	atomic_bool stopping;
	atomic_bool storage_blocked;
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	int64_t start_wall; /* when this process started recording */
	char startup_detail[96];
};

static __thread const char *thread_camera;

static const char *const state_names[] = { "starting", "recording",	"reconnecting",
					    "down",	"storage-error", "stopped" };

const char *ingest_camera_state_name(enum camera_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

/* ---- libavformat's log, scrubbed ---------------------------------------- */

/*
 * libav's errors are about one connection; vigil logs what they mean for
 * the camera (the outage) itself, so they go out at info, warnings at
 * debug, and a line repeating the previous one of the same thread (a camera
 * refusing every retry) at debug.
 */
static void av_log_cb(void *avcl, int level, const char *fmt, va_list vl)
{
	static __thread int print_prefix = 1;
	static __thread char previous[256];
	char line[1024], clean[1024];
	enum log_level ours;

	if (level > av_log_get_level())
		return;
	if (level <= AV_LOG_ERROR)
		ours = LOG_LEVEL_INFO;
	else
		ours = LOG_LEVEL_DEBUG;
	if (!log_enabled(ours))
		return;
	av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &print_prefix);
	size_t len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (len == 0)
		return;
	/* the "[rtsp @ 0x...]" prefix changes with every connection */
	const char *body = line[0] == '[' && strstr(line, "] ") ? strstr(line, "] ") + 2 : line;
	if (strncmp(body, previous, sizeof(previous) - 1) == 0) {
		if (!log_enabled(LOG_LEVEL_DEBUG))
			return;
		ours = LOG_LEVEL_DEBUG;
	}
	snprintf(previous, sizeof(previous), "%s", body);
	/* URLs in libav's messages carry userinfo; log_msg scrubs the rest */
	redact_url(line, clean, sizeof(clean));
	if (thread_camera)
		log_msg(ours, "camera '%s': libav: %s", thread_camera, clean);
	else
		log_msg(ours, "libav: %s", clean);
}

void ingest_install_av_log(void)
{
	av_log_set_level(log_enabled(LOG_LEVEL_DEBUG) ? AV_LOG_VERBOSE : AV_LOG_WARNING);
	av_log_set_callback(av_log_cb);
}

/* ---- status ------------------------------------------------------------ */

static void set_state(struct worker *w, enum camera_state s, const char *error)
{
	bool changed;

	pthread_mutex_lock(&w->lock);
	changed = w->st.state != s;
	if (changed) {
		w->st.state = s;
		w->st.state_since_us = clock_wall_us();
	}
	if (error) {
		snprintf(w->st.last_error, sizeof(w->st.last_error), "%s", error);
		redact_scrub(w->st.last_error, sizeof(w->st.last_error));
	}
	pthread_mutex_unlock(&w->lock);
	if (changed) {
		log_info("camera '%s': %s%s%s", w->cam->id, state_names[s], error ? ": " : "",
			 error ? error : "");
		if (w->ing->cb.state_changed)
			w->ing->cb.state_changed(w->ing->cb.ctx, w->cam->id);
	}
}

static void rate_add(struct worker *w, int64_t frames, int64_t bytes)
{
	int64_t sec = clock_mono_us() / USEC_PER_SEC;
	int i = (int)(sec % RATE_BUCKETS);

	pthread_mutex_lock(&w->lock);
	if (w->rate.second[i] != sec) {
		w->rate.second[i] = sec;
		w->rate.frames[i] = 0;
		w->rate.bytes[i] = 0;
	}
	w->rate.frames[i] += frames;
	w->rate.bytes[i] += bytes;
	pthread_mutex_unlock(&w->lock);
}

size_t ingest_camera_count(const struct ingest *ing)
{
	return ing->nworkers;
}

int ingest_camera_status(struct ingest *ing, size_t i, struct ingest_camera_status *out)
{
	if (i >= ing->nworkers)
		return -ENOENT;
	struct worker *w = &ing->workers[i];
	int64_t sec = clock_mono_us() / USEC_PER_SEC;
	int64_t frames = 0, bytes = 0;

	pthread_mutex_lock(&w->lock);
	*out = w->st;
	/* whole seconds only: the current one is still filling */
	for (int b = 0; b < RATE_BUCKETS; b++) {
		int64_t age = sec - w->rate.second[b];
		if (age >= 1 && age <= RATE_BUCKETS) {
			frames += w->rate.frames[b];
			bytes += w->rate.bytes[b];
		}
	}
	pthread_mutex_unlock(&w->lock);
	out->fps = (double)frames / RATE_BUCKETS;
	out->kbps = (double)bytes * 8 / 1000 / RATE_BUCKETS;
	if (out->state == CAMERA_RECONNECTING && out->gap_start_us >= 0 &&
	    clock_wall_us() - out->gap_start_us >= INGEST_DOWN_AFTER_US)
		out->state = CAMERA_DOWN;
	return 0;
}

/* ---- outages ----------------------------------------------------------- */

static void set_gap_start(struct worker *w, int64_t us)
{
	pthread_mutex_lock(&w->lock);
	w->st.gap_start_us = us;
	pthread_mutex_unlock(&w->lock);
}

/*
 * The camera stopped giving footage (or never started).  Opens the gap row
 * once per outage; the first reason seen names the outage.
 */
static void note_outage(struct worker *w, enum gap_reason reason, const char *detail)
{
	struct ingest *ing = w->ing;
	enum camera_state state = reason == GAP_STORAGE_ERROR || reason == GAP_STORAGE_FULL
					  ? CAMERA_STORAGE_ERROR
					  : CAMERA_RECONNECTING;

	if (w->in_outage) {
		set_state(w, state, detail);
		return;
	}
	int64_t from = w->last_end_wall >= 0 ? w->last_end_wall : ing->start_wall;
	if (w->startup_gap_pending) {
		/* the recorder was down until it started; what follows is this */
		if (ing->start_wall > w->startup_from)
			catalog_gap_add(ing->cat, w->cam->id, w->startup_from, ing->start_wall,
					GAP_RECORDER_DOWN, ing->startup_detail);
		w->startup_gap_pending = false;
		from = ing->start_wall;
	}
	/* the gap starts exactly where the footage ends, even when that is a
	 * frame "ahead" of the arrival clock, so the two never overlap */
	w->in_outage = true;
	w->gap_id = -1;
	if (catalog_gap_open(ing->cat, w->cam->id, from, reason, detail, &w->gap_id) < 0)
		w->gap_id = -1;
	set_gap_start(w, from);
	log_warnx("camera '%s': no footage since %.3f: %s (%s)", w->cam->id, (double)from / 1e6,
		  catalog_gap_reason_name(reason), detail);
	set_state(w, state, detail);
}

/* Footage resumes at start_wall: the outage (or start-up gap) ends there. */
static void end_outage(struct worker *w, int64_t start_wall)
{
	struct ingest *ing = w->ing;

	if (w->in_outage) {
		if (w->gap_id >= 0)
			catalog_gap_close(ing->cat, w->gap_id, start_wall);
		w->in_outage = false;
		w->gap_id = -1;
	} else if (w->startup_gap_pending) {
		if (start_wall - w->startup_from > CATALOG_RUN_TOLERANCE_US)
			catalog_gap_add(ing->cat, w->cam->id, w->startup_from, start_wall,
					GAP_RECORDER_DOWN, ing->startup_detail);
	}
	w->startup_gap_pending = false;
	set_gap_start(w, -1);
}

/* ---- waiting and deadlines ---------------------------------------------- */

static bool stopping(const struct worker *w)
{
	return atomic_load(&w->ing->stopping);
}

static int interrupt_cb(void *opaque)
{
	struct worker *w = opaque;
	if (stopping(w))
		return 1;
	if (clock_mono_us() > atomic_load(&w->deadline_mono)) {
		w->timed_out = true;
		return 1;
	}
	return 0;
}

static void arm_deadline(struct worker *w, int64_t us)
{
	w->timed_out = false;
	atomic_store(&w->deadline_mono, clock_mono_us() + us);
}

/* Sleeps for us, waking early on stop.  Returns false when stopping. */
static bool pause_for(struct worker *w, int64_t us)
{
	struct ingest *ing = w->ing;
	struct timespec until;
	int64_t end = clock_mono_us() + us;

	pthread_mutex_lock(&ing->wait_lock);
	while (!atomic_load(&ing->stopping)) {
		int64_t now = clock_mono_us();
		if (now >= end)
			break;
		until.tv_sec = end / USEC_PER_SEC;
		until.tv_nsec = (end % USEC_PER_SEC) * 1000;
		pthread_cond_timedwait(&ing->wait_cond, &ing->wait_lock, &until);
	}
	pthread_mutex_unlock(&ing->wait_lock);
	return !atomic_load(&ing->stopping);
}

/* ---- segments ---------------------------------------------------------- */

static bool is_fsync_error(int err)
{
	/* after a failed fsync the kernel may have dropped the dirty pages:
	 * what is in the page cache can no longer be trusted as durable */
	return err == -EIO || err == -EROFS;
}

/* Finishes the open segment at end_wall; end_ts is the next keyframe's dts
 * or AV_NOPTS_VALUE when the stream ended. */
static int finish_segment(struct worker *w, int64_t end_ts, int64_t end_wall)
{
	struct ingest *ing = w->ing;
	struct segment_result r;
	int ret;

	if (!w->seg)
		return 0;
	ret = segwriter_finish(w->seg, end_ts, &r);
	segwriter_free(&w->seg);
	if (ret < 0) {
		char why[160];
		snprintf(why, sizeof(why), "cannot finish segment %" PRId64 ": %s", w->seg_id,
			 av_err2str(ret));
		log_warnx("camera '%s': %s", w->cam->id, why);
		if (is_fsync_error(ret)) {
			/* abandon rather than index footage that may not be on disk */
			unlink(w->seg_path);
			fs_fsync_parent(w->seg_path);
			catalog_segment_abandon(ing->cat, w->seg_id);
			w->last_end_wall = w->seg_start_wall;
		}
		/* otherwise the row stays writing: recovery keeps its whole
		 * fragments at the next start */
		note_outage(w, ret == -ENOSPC ? GAP_STORAGE_FULL : GAP_STORAGE_ERROR, why);
		w->storage_retry_mono = clock_mono_us() + STORAGE_RETRY_US;
		return ret;
	}
	if (end_wall < 0 || end_ts == AV_NOPTS_VALUE)
		end_wall = w->seg_start_wall + r.duration_us;
	if (end_wall < w->seg_start_wall)
		end_wall = w->seg_start_wall;
	r.end_us = end_wall;
	ret = catalog_segment_finish(ing->cat, w->seg_id, &r, SEGMENT_COMPLETE);
	if (ret < 0)
		log_warnx("camera '%s': segment %" PRId64 " written but not catalogued (%s); "
			  "recovery will index it at the next start",
			  w->cam->id, w->seg_id, strerror(-ret));
	w->last_end_wall = end_wall;
	pthread_mutex_lock(&w->lock);
	w->st.segments_total++;
	pthread_mutex_unlock(&w->lock);
	log_debug("camera '%s': segment %" PRId64 " done: %.3f s, %" PRId64 " frames, %" PRId64
		  " bytes",
		  w->cam->id, w->seg_id, (double)r.duration_us / 1e6, r.frames, r.bytes);
	return 0;
}

static int begin_segment(struct worker *w, int64_t origin_ts, int64_t start_wall)
{
	struct ingest *ing = w->ing;
	const AVStream *vs = w->ic->streams[w->vidx];
	const AVStream *as = w->aidx >= 0 ? w->ic->streams[w->aidx] : NULL;
	char rel[CATALOG_PATH_MAX], dir[PATH_MAX];
	int ret;

	if (clock_mono_us() < w->storage_retry_mono)
		return -EAGAIN;
	ret = catalog_segment_begin(ing->cat, w->cam->id, start_wall,
				    avcodec_get_name(vs->codecpar->codec_id), vs->codecpar->width,
				    vs->codecpar->height, as != NULL, &w->seg_id, rel, sizeof(rel));
	if (ret < 0) {
		note_outage(w, ret == -ENOSPC ? GAP_STORAGE_FULL : GAP_STORAGE_ERROR,
			    "cannot add a segment to the catalog");
		w->storage_retry_mono = clock_mono_us() + STORAGE_RETRY_US;
		return ret;
	}
	if ((ret = fs_join(w->seg_path, sizeof(w->seg_path), ing->cfg->storage_path, rel)) < 0)
		goto fail;
	snprintf(dir, sizeof(dir), "%s", w->seg_path);
	*strrchr(dir, '/') = '\0';
	if ((ret = fs_mkdir_p(dir, 0750)) < 0)
		goto fail;
	struct segwriter_params p = {
		.video = vs->codecpar,
		.video_tb = vs->time_base,
		.audio = as ? as->codecpar : NULL,
		.audio_tb = as ? as->time_base : (AVRational){ 1, 1 },
		.fsync_interval_us = (int64_t)ing->cfg->fsync_seconds * USEC_PER_SEC,
		.origin_ts = origin_ts,
	};
	if ((ret = segwriter_open(&w->seg, w->seg_path, &p)) < 0)
		goto fail;
	w->seg_start_wall = start_wall;
	w->seg_origin_ts = origin_ts;
	w->storage_retry_mono = 0;
	end_outage(w, start_wall);
	set_state(w, CAMERA_RECORDING, NULL);
	return 0;
fail:;
	char why[PATH_MAX + 64];
	snprintf(why, sizeof(why), "cannot create '%s': %s", w->seg_path, av_err2str(ret));
	catalog_segment_abandon(ing->cat, w->seg_id);
	note_outage(w, ret == -ENOSPC ? GAP_STORAGE_FULL : GAP_STORAGE_ERROR, why);
	w->storage_retry_mono = clock_mono_us() + STORAGE_RETRY_US;
	return ret;
}

/* ---- the stream -------------------------------------------------------- */

/* H.264 and H.265 cameras put their parameter sets in the SDP; then the
 * frame size is read from the first keyframe (learn_video_params) and no
 * probing is needed. */
static bool sdp_describes_video(const AVFormatContext *ic)
{
	for (unsigned i = 0; i < ic->nb_streams; i++) {
		const AVCodecParameters *p = ic->streams[i]->codecpar;
		if (p->codec_type == AVMEDIA_TYPE_VIDEO &&
		    (p->codec_id == AV_CODEC_ID_H264 || p->codec_id == AV_CODEC_ID_HEVC) &&
		    p->extradata_size > 0)
			return true;
	}
	return false;
}

/*
 * Fills the frame size, pixel format and frame duration of the video stream
 * from a keyframe (which carries the parameter sets and a slice) with
 * libavcodec's parser; cheap, and done once per connection.
 */
static void learn_video_params(struct worker *w, const AVPacket *pkt)
{
	AVStream *st = w->ic->streams[w->vidx];
	AVCodecParameters *par = st->codecpar;
	AVCodecParserContext *pc = av_parser_init(par->codec_id);
	AVCodecContext *ctx = avcodec_alloc_context3(NULL);
	uint8_t *out;
	int outn;

	if (pc && ctx && avcodec_parameters_to_context(ctx, par) >= 0) {
		/* as the decoders set it: H.264 timing counts fields */
		ctx->ticks_per_frame = par->codec_id == AV_CODEC_ID_H264 ? 2 : 1;
		av_parser_parse2(pc, ctx, &out, &outn, pkt->data, pkt->size, AV_NOPTS_VALUE,
				 AV_NOPTS_VALUE, 0);
		av_parser_parse2(pc, ctx, &out, &outn, NULL, 0, AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
		if (par->width <= 0 && pc->width > 0) {
			par->width = pc->width;
			par->height = pc->height;
			if (pc->format >= 0)
				par->format = pc->format;
		}
		if (ctx->framerate.num > 0 && ctx->framerate.den > 0)
			w->frame_ticks = av_rescale_q(1, av_inv_q(ctx->framerate), st->time_base);
	}
	av_parser_close(pc);
	avcodec_free_context(&ctx);
	pthread_mutex_lock(&w->lock);
	w->st.width = par->width;
	w->st.height = par->height;
	pthread_mutex_unlock(&w->lock);
	if (par->width > 0)
		log_info("camera '%s': video %s %dx%d", w->cam->id, avcodec_get_name(par->codec_id),
			 par->width, par->height);
}

static int open_stream(struct worker *w)
{
	const struct config *cfg = w->ing->cfg;
	AVDictionary *opts = NULL;
	char num[32];
	int ret;

	w->ic = avformat_alloc_context();
	if (!w->ic)
		return AVERROR(ENOMEM);
	w->ic->interrupt_callback.callback = interrupt_cb;
	w->ic->interrupt_callback.opaque = w;
	/* enough to learn the stream, short enough to start within seconds */
	w->ic->probesize = 2 * 1024 * 1024;
	w->ic->max_analyze_duration = 2 * AV_TIME_BASE;
	w->ic->fps_probe_size = 0;

	av_dict_set(&opts, "rtsp_transport", w->cam->transport == TRANSPORT_TCP ? "tcp" : "udp", 0);
	snprintf(num, sizeof(num), "%" PRId64, (int64_t)cfg->stall_seconds * USEC_PER_SEC);
	av_dict_set(&opts, "timeout", num, 0);
	av_dict_set(&opts, "user_agent", "vigil/" VIGIL_VERSION, 0);
	av_dict_set(&opts, "allowed_media_types", "video+audio", 0);

	arm_deadline(w, (int64_t)cfg->connect_timeout_seconds * USEC_PER_SEC);
	ret = avformat_open_input(&w->ic, w->cam->url, NULL, &opts);
	av_dict_free(&opts);
	if (ret < 0)
		return ret; /* avformat_open_input freed the context */
	if (!sdp_describes_video(w->ic)) {
		/* probing reads (and holds back) the first packets, which makes
		 * their arrival times late: only done when the SDP says too little */
		arm_deadline(w, (int64_t)cfg->connect_timeout_seconds * USEC_PER_SEC);
		if ((ret = avformat_find_stream_info(w->ic, NULL)) < 0)
			return ret;
	}

	w->vidx = av_find_best_stream(w->ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	if (w->vidx < 0)
		return AVERROR_STREAM_NOT_FOUND;
	w->frame_ticks = 0;
	const AVOutputFormat *mp4 = av_guess_format("mp4", NULL, NULL);
	const AVCodecParameters *vp = w->ic->streams[w->vidx]->codecpar;
	if (avformat_query_codec(mp4, vp->codec_id, FF_COMPLIANCE_NORMAL) != 1)
		return AVERROR_PATCHWELCOME;
	w->aidx = av_find_best_stream(w->ic, AVMEDIA_TYPE_AUDIO, -1, w->vidx, NULL, 0);
	if (w->aidx >= 0) {
		const AVCodecParameters *ap = w->ic->streams[w->aidx]->codecpar;
		if (avformat_query_codec(mp4, ap->codec_id, FF_COMPLIANCE_NORMAL) != 1 ||
		    ap->sample_rate <= 0) {
			log_info("camera '%s': audio %s cannot go into MP4 as it is; recording video only",
				 w->cam->id, avcodec_get_name(ap->codec_id));
			w->aidx = -1;
		}
	}
	for (unsigned i = 0; i < w->ic->nb_streams; i++)
		if ((int)i != w->vidx && (int)i != w->aidx)
			w->ic->streams[i]->discard = AVDISCARD_ALL;

	pthread_mutex_lock(&w->lock);
	snprintf(w->st.codec, sizeof(w->st.codec), "%s", avcodec_get_name(vp->codec_id));
	pthread_mutex_unlock(&w->lock);
	log_info("camera '%s': connected: %s%s", w->cam->id, avcodec_get_name(vp->codec_id),
		 w->aidx >= 0 ? " with audio" : "");
	return 0;
}

static void close_stream(struct worker *w)
{
	if (!w->ic)
		return;
	arm_deadline(w, CLOSE_DEADLINE_US);
	avformat_close_input(&w->ic);
}

/* Handles one video packet: segment cuts, discontinuities, writing. */
static int on_video(struct worker *w, AVPacket *pkt, int64_t arrival)
{
	AVRational tb = w->ic->streams[w->vidx]->time_base;
	bool key = pkt->flags & AV_PKT_FLAG_KEY;
	int64_t ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
	int ret;

	if (ts == AV_NOPTS_VALUE) {
		if (!w->have_last_ts) {
			/* libavformat's parser often leaves the first access unit of an
			 * RTSP session without timestamps; it is the keyframe we want,
			 * so it waits for the next packet to date it */
			if (key) {
				av_packet_unref(w->pending);
				if (av_packet_ref(w->pending, pkt) == 0)
					w->pending_arrival = arrival;
			}
			return 0;
		}
		ts = w->last_ts + (w->last_delta > 0 ? w->last_delta : 1);
		pkt->dts = pkt->pts = ts;
	}
	if (w->pending->data) {
		/* date the held first keyframe one frame before this packet */
		AVStream *st = w->ic->streams[w->vidx];
		AVRational rate = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
		if (w->frame_ticks <= 0)
			learn_video_params(w, w->pending);
		int64_t frame = w->frame_ticks > 0 ? w->frame_ticks
			      : rate.num > 0	   ? av_rescale_q(1, av_inv_q(rate), tb)
						   : av_rescale_q(40000, AV_TIME_BASE_Q, tb);
		if (frame <= 0)
			frame = 1;
		w->pending->dts = w->pending->pts = ts - frame;
		AVPacket *first = w->pending;
		w->pending = w->spare;
		w->spare = first;
		on_video(w, first, w->pending_arrival);
		av_packet_unref(first);
	}
	int64_t media_us = av_rescale_q(ts, tb, AV_TIME_BASE_Q);
	/* libavformat's parser returns a frame once the next one starts to
	 * arrive: the frame itself came one frame interval earlier */
	if (w->frame_ticks > 0)
		arrival -= av_rescale_q(w->frame_ticks, tb, AV_TIME_BASE_Q);

	if (w->have_last_ts) {
		int64_t step = media_us - av_rescale_q(w->last_ts, tb, AV_TIME_BASE_Q);
		if (step > JUMP_FORWARD_US || step < -JUMP_BACKWARD_US) {
			char why[96];
			snprintf(why, sizeof(why), "stream timestamps jumped by %.3f s",
				 (double)step / 1e6);
			int64_t end_ts = w->last_ts + (w->last_delta > 0 ? w->last_delta : 0);
			if (w->seg)
				finish_segment(w, end_ts,
					       wallclock_map(&w->wc, av_rescale_q(end_ts, tb,
										  AV_TIME_BASE_Q)));
			note_outage(w, GAP_STREAM_ERROR, why);
			wallclock_init(&w->wc, w->last_end_wall);
			w->have_last_ts = false;
		} else if (step > 0) {
			w->last_delta = ts - w->last_ts;
		} else if (step <= 0 && w->seg) {
			/* a small step back: keep the packet, the writer keeps dts rising */
		}
	}
	w->have_last_ts = true;
	w->last_ts = ts;
	wallclock_observe(&w->wc, media_us, arrival);

	bool blocked = atomic_load(&w->ing->storage_blocked);
	int64_t boundary = -1;
	if (w->seg && key) {
		int64_t length = av_rescale_q(ts - w->seg_origin_ts, tb, AV_TIME_BASE_Q);
		if (blocked || length >= (int64_t)w->cam->segment_seconds * USEC_PER_SEC) {
			boundary = wallclock_boundary(&w->wc, media_us, arrival, NULL);
			if ((ret = finish_segment(w, ts, boundary)) < 0)
				return 0;
			if (blocked)
				note_outage(w, GAP_STORAGE_FULL,
					    "storage full: footage younger than the floor is kept, "
					    "recording stopped");
		}
	}
	if (!w->seg) {
		if (!key || blocked)
			return 0;
		if (w->ic->streams[w->vidx]->codecpar->width <= 0)
			learn_video_params(w, pkt);
		/* after a cut the new segment starts exactly where the last ended */
		if (boundary < 0)
			boundary = wallclock_boundary(&w->wc, media_us, arrival, NULL);
		if ((ret = begin_segment(w, ts, boundary)) < 0)
			return 0; /* noted; retried at a later keyframe */
	}
	if ((ret = segwriter_write(w->seg, pkt, SEGWRITER_VIDEO)) < 0) {
		int64_t end_ts = ts;
		finish_segment(w, end_ts, -1);
		return 0;
	}
	w->last_end_wall = wallclock_map(&w->wc, media_us) +
			   av_rescale_q(w->last_delta, tb, AV_TIME_BASE_Q);
	pthread_mutex_lock(&w->lock);
	w->st.frames_total++;
	w->st.last_frame_us = arrival;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/*
 * Reads until the stream ends, stalls or fails.  Returns the reason and
 * fills why.
 */
static enum gap_reason record_stream(struct worker *w, char *why, size_t whylen)
{
	const struct config *cfg = w->ing->cfg;
	enum gap_reason reason = GAP_CAMERA_UNREACHABLE;

	w->have_last_ts = false;
	w->last_delta = 0;
	av_packet_unref(w->pending);
	wallclock_init(&w->wc, w->last_end_wall);
	for (;;) {
		arm_deadline(w, (int64_t)cfg->stall_seconds * USEC_PER_SEC);
		int ret = av_read_frame(w->ic, w->pkt);
		if (ret < 0) {
			if (stopping(w)) {
				snprintf(why, whylen, "vigil stopped");
			} else if (w->timed_out) {
				reason = GAP_STREAM_STALLED;
				snprintf(why, whylen, "no media for %d s", cfg->stall_seconds);
			} else if (ret == AVERROR_EOF || ret == AVERROR(ECONNRESET) ||
				   ret == AVERROR(EPIPE) || ret == AVERROR(EIO)) {
				reason = GAP_CAMERA_UNREACHABLE;
				snprintf(why, whylen, "connection closed: %s", av_err2str(ret));
			} else {
				reason = GAP_STREAM_ERROR;
				snprintf(why, whylen, "stream error: %s", av_err2str(ret));
			}
			break;
		}
		int64_t arrival = clock_wall_us();
		rate_add(w, w->pkt->stream_index == w->vidx ? 1 : 0, w->pkt->size);
		if (w->pkt->stream_index == w->vidx)
			on_video(w, w->pkt, arrival);
		else if (w->pkt->stream_index == w->aidx && w->seg &&
			 segwriter_write(w->seg, w->pkt, SEGWRITER_AUDIO) < 0)
			finish_segment(w, AV_NOPTS_VALUE, -1);
		av_packet_unref(w->pkt);
		/* when a read gives up, libavformat flushes its parser and hands
		 * back the last frame as a success: the failure comes only on the
		 * next call, a whole deadline later */
		if (w->timed_out && !stopping(w)) {
			reason = GAP_STREAM_STALLED;
			snprintf(why, whylen, "no media for %d s", cfg->stall_seconds);
			break;
		}
	}
	av_packet_unref(w->pkt);
	finish_segment(w, AV_NOPTS_VALUE, -1);
	return reason;
}

/* Names what went wrong when connecting, for the gap and the log. */
static enum gap_reason open_failure(struct worker *w, int err, char *why, size_t whylen)
{
	const struct config *cfg = w->ing->cfg;

	if (w->timed_out) {
		snprintf(why, whylen, "no answer within %d s", cfg->connect_timeout_seconds);
		return GAP_CAMERA_UNREACHABLE;
	}
	switch (err) {
	case AVERROR_STREAM_NOT_FOUND:
		snprintf(why, whylen, "the stream has no video");
		return GAP_STREAM_ERROR;
	case AVERROR_PATCHWELCOME:
		snprintf(why, whylen, "video codec %s cannot be stored in MP4",
			 w->ic && w->vidx >= 0 ? avcodec_get_name(w->ic->streams[w->vidx]->codecpar->codec_id)
					       : "?");
		return GAP_STREAM_ERROR;
	case AVERROR_HTTP_UNAUTHORIZED:
		snprintf(why, whylen, "the camera refused the credentials");
		return GAP_CAMERA_UNREACHABLE;
	case AVERROR_INVALIDDATA:
		snprintf(why, whylen, "the camera sent data that is not a valid stream");
		return GAP_STREAM_ERROR;
	default:
		snprintf(why, whylen, "cannot connect: %s", av_err2str(err));
		return GAP_CAMERA_UNREACHABLE;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct ingest *ing = w->ing;
	const struct config *cfg = ing->cfg;
	const int64_t min_delay = (int64_t)cfg->reconnect_min_seconds * USEC_PER_SEC;
	const int64_t max_delay = (int64_t)cfg->reconnect_max_seconds * USEC_PER_SEC;
	int64_t delay = min_delay;
	char why[256];
	int64_t last = -1;

	thread_camera = w->cam->id;
	if (catalog_camera_last_covered(ing->cat, w->cam->id, &last) == 0 && last >= 0) {
		w->startup_gap_pending = last < ing->start_wall;
		w->startup_from = last;
	}
	w->last_end_wall = last;

	while (!stopping(w)) {
		int ret = open_stream(w);
		if (ret < 0) {
			if (stopping(w))
				break;
			enum gap_reason reason = open_failure(w, ret, why, sizeof(why));
			close_stream(w);
			note_outage(w, reason, why);
			if (!pause_for(w, delay))
				break;
			delay = delay * 2 > max_delay ? max_delay : delay * 2;
			continue;
		}
		int64_t frames_before = w->st.frames_total;
		enum gap_reason reason = record_stream(w, why, sizeof(why));
		bool recorded = w->st.frames_total > frames_before;
		if (stopping(w))
			break;
		pthread_mutex_lock(&w->lock);
		w->st.reconnects++;
		pthread_mutex_unlock(&w->lock);
		/* say so before the teardown, which may itself take a while */
		note_outage(w, reason, why);
		close_stream(w);
		if (recorded)
			delay = min_delay;
		if (!pause_for(w, delay))
			break;
		delay = delay * 2 > max_delay ? max_delay : delay * 2;
	}
	if (w->seg)
		finish_segment(w, AV_NOPTS_VALUE, -1);
	close_stream(w);
	if (w->in_outage && w->gap_id >= 0)
		catalog_gap_close(ing->cat, w->gap_id, clock_wall_us());
	else if (w->startup_gap_pending)
		/* stopped before the first frame: the gap runs to now */
		catalog_gap_add(ing->cat, w->cam->id, w->startup_from, clock_wall_us(),
				GAP_RECORDER_DOWN, ing->startup_detail);
	w->in_outage = false;
	w->startup_gap_pending = false;
	set_state(w, CAMERA_STOPPED, NULL);
	return NULL;
}

struct ingest *ingest_new(const struct config *cfg, struct catalog *cat,
			  const struct ingest_callbacks *cb)
{
	struct ingest *ing = calloc(1, sizeof(*ing));
	pthread_condattr_t attr;

	if (!ing)
		return NULL;
	ing->cfg = cfg;
	ing->cat = cat;
	if (cb)
		ing->cb = *cb;
	pthread_mutex_init(&ing->wait_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ing->wait_cond, &attr);
	pthread_condattr_destroy(&attr);
	ing->workers = calloc(cfg->ncameras ? cfg->ncameras : 1, sizeof(*ing->workers));
	if (!ing->workers) {
		free(ing);
		return NULL;
	}
	ing->nworkers = cfg->ncameras;
	for (size_t i = 0; i < cfg->ncameras; i++) {
		struct worker *w = &ing->workers[i];
		w->ing = ing;
		w->cam = &cfg->cameras[i];
		w->vidx = w->aidx = -1;
		w->gap_id = -1;
		w->last_end_wall = -1;
		pthread_mutex_init(&w->lock, NULL);
		snprintf(w->st.id, sizeof(w->st.id), "%s", w->cam->id);
		w->st.state = CAMERA_STARTING;
		w->st.last_frame_us = -1;
		w->st.gap_start_us = -1;
		w->pkt = av_packet_alloc();
		w->pending = av_packet_alloc();
		w->spare = av_packet_alloc();
		if (!w->pkt || !w->pending || !w->spare) {
			ingest_free(&ing);
			return NULL;
		}
	}
	return ing;
}

int ingest_start(struct ingest *ing)
{
	pthread_attr_t attr;
	char previous[32] = "";
	int ret = 0;

	ing->start_wall = clock_wall_us();
	catalog_meta_get(ing->cat, "recorder_state", previous, sizeof(previous));
	snprintf(ing->startup_detail, sizeof(ing->startup_detail), "%s",
		 strcmp(previous, "running") == 0 ? "vigil was not running (it had crashed)"
						  : "vigil was not running");
	catalog_meta_set(ing->cat, "recorder_state", "running");

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1024 * 1024);
	for (size_t i = 0; i < ing->nworkers; i++) {
		struct worker *w = &ing->workers[i];
		w->st.state_since_us = ing->start_wall;
		if ((ret = pthread_create(&w->thread, &attr, worker_main, w)) != 0) {
			log_warnx("camera '%s': cannot start its worker: %s", w->cam->id,
				  strerror(ret));
			ret = -ret;
			break;
		}
		w->started = true;
	}
	pthread_attr_destroy(&attr);
	if (ret < 0)
		ingest_stop(ing);
	return ret;
}

void ingest_stop(struct ingest *ing)
{
	pthread_mutex_lock(&ing->wait_lock);
	atomic_store(&ing->stopping, true);
	pthread_cond_broadcast(&ing->wait_cond);
	pthread_mutex_unlock(&ing->wait_lock);
	bool any = false;
	for (size_t i = 0; i < ing->nworkers; i++) {
		struct worker *w = &ing->workers[i];
		if (!w->started)
			continue;
		pthread_join(w->thread, NULL);
		w->started = false;
		any = true;
	}
	if (any)
		catalog_meta_set(ing->cat, "recorder_state", "stopped");
}

void ingest_free(struct ingest **ingp)
{
	struct ingest *ing = *ingp;
	if (!ing)
		return;
	ingest_stop(ing);
	for (size_t i = 0; i < ing->nworkers; i++) {
		struct worker *w = &ing->workers[i];
		av_packet_free(&w->pkt);
		av_packet_free(&w->pending);
		av_packet_free(&w->spare);
		pthread_mutex_destroy(&w->lock);
	}
	free(ing->workers);
	pthread_mutex_destroy(&ing->wait_lock);
	pthread_cond_destroy(&ing->wait_cond);
	free(ing);
	*ingp = NULL;
}

void ingest_set_storage_blocked(struct ingest *ing, bool blocked, const char *why)
{
	bool was = atomic_exchange(&ing->storage_blocked, blocked);
	if (was != blocked)
		log_warnx("storage %s%s%s", blocked ? "blocked" : "writable again",
			  why ? ": " : "", why ? why : "");
}
