/*
 * Camera workers.  Each configured camera gets one thread that owns its
 * input (the lean RTSP client, or libavformat's), its current segment
 * writer and its wall-clock mapping;
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
 * Bounds.  Nothing a camera sends may grow memory or date footage without
 * limit: fragments close by bytes and by time (segwriter.h), segments end
 * by the recorder's clock and by size, timestamps are range-checked and
 * mapped to wall time on the run's monotonic clock (wallclock.h); a camera
 * past a bound is logged, gets a stream-error gap and is reconnected.
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
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/evloop.h"
#include "ingest/recovery.h"
#include "ingest/rtsp.h"
#include "ingest/segwriter.h"
#include "ingest/wallclock.h"
#include "util/clock.h"
#include "util/db.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/version.h"
#include "util/banned.h"

/* A media timestamp jump this large (or larger) is a discontinuity. */
#define JUMP_FORWARD_US (10 * USEC_PER_SEC)
#define JUMP_BACKWARD_US (1 * USEC_PER_SEC)
/* Timestamps beyond this many ticks (from the run's first) are refused: it
 * keeps every sum and product of media times far from overflowing. */
#define TS_LIMIT (INT64_C(1) << 50)
/* Plausible media clocks: from 1 kHz (a tick a millisecond) to 10 MHz. */
#define CLOCK_RATE_MIN 1000
#define CLOCK_RATE_MAX 10000000
/* A video clock outside those: refused (open_failure says so). */
#define ERR_CLOCK_RATE FFERRTAG('V', 'C', 'L', 'K')
/* Bounds on a segment whatever the keyframes do: a keyframe ends it once
 * it has lasted segment_seconds by the recorder's clock (plus a margin for
 * a late keyframe); without one it ends at SEGMENT_OVERRUN times that (at
 * least segment_seconds + 10 s), or at SEGMENT_BYTES_MAX, and the camera
 * is reconnected. */
#define SEGMENT_WALL_MARGIN_US (2 * USEC_PER_SEC)
#define SEGMENT_OVERRUN 2
#define SEGMENT_BYTES_MAX (INT64_C(1) << 30)
/* A worker on a loop sleeping (backing off) sees a stop this soon. */
#define PAUSE_SLICE_US (USEC_PER_SEC / 10)
/* How long a worker may take to tear a connection down. */
#define CLOSE_DEADLINE_US (2 * USEC_PER_SEC)
/* After a storage failure, try a new segment at most this often. */
#define STORAGE_RETRY_US (USEC_PER_SEC / 4)
/* Segments a worker could not finish and has not settled yet. */
#define UNSETTLED_MAX 8
/* Room for the parameter sets of one keyframe (SPS/PPS, VPS/SPS/PPS). */
#define PARAM_SETS_MAX 4096
/* A first keyframe handed out this long after it came is stale. */
#define STALE_KEY_US (USEC_PER_SEC / 2)
/* Keyframes without parameter sets taken before the stream is an error. */
#define KEYS_WITHOUT_PARAMS_MAX 3
/* rates are averaged over the last RATE_SECONDS whole seconds; the ring
 * also holds the second being filled */
#define RATE_SECONDS 10
#define RATE_BUCKETS (RATE_SECONDS + 1)

struct rate_window {
	int64_t second[RATE_BUCKETS];
	int64_t frames[RATE_BUCKETS];
	int64_t bytes[RATE_BUCKETS];
};

struct worker {
	struct ingest *ing;
	const struct camera_config *cam;
	pthread_t thread;
	bool started;		       /* its thread runs (not a task on a loop) */
	_Atomic int64_t deadline_mono; /* the blocking call in progress must end by then */

	pthread_mutex_t lock; /* guards st and rate */
	struct ingest_camera_status st;
	struct rate_window rate;

	/* the rest belongs to the worker thread */
	AVFormatContext *ic;
	struct rtsp_client *rtsp;  /* the lean RTSP client, when it serves ic */
	bool rtsp_fallback;	   /* libavformat's RTSP client from now on */
	bool picked_up;		   /* the footage of an earlier run looked at */
	int64_t clock_report_mono; /* last camera clock offset reported */
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
	int64_t run_wall0, run_mono0; /* the run's start, for run_clock() */
	int64_t seg_begin_mono;	      /* when the open segment began */
	char open_why[160];	      /* why the lean client refused the stream */
	char bound_why[160];	      /* the camera exceeded a bound: reconnect */
	bool have_last_ts;
	int64_t last_ts;	 /* newest video dts of this run */
	int64_t last_delta;	 /* dts step between the last two frames */
	int64_t last_end_wall;	 /* wall end of the newest footage, -1: none */
	int64_t last_end_mono;	 /* monotonic time it was written, 0: unknown */
	int keys_without_params; /* this connection's unusable keyframes */
	int64_t storage_retry_mono;
	bool timed_out;		 /* the last blocking call hit its deadline */
	bool redirect_refused;	 /* libavformat was sent to another host */
	int64_t open_mono;	 /* the connection attempt in progress began */
	int64_t call_start_mono; /* the blocking call in progress began */
	int64_t call_budget_us;	 /* and the deadline it was given */
	int64_t longest_call_us; /* the longest call relative to its deadline */
	int64_t longest_budget_us;
	const char *longest_what;
	uint8_t param_sets[PARAM_SETS_MAX]; /* in-band ones of the last keyframe */
	size_t param_sets_len;		    /* 0: none seen in this run */

	/* segments whose finish failed, to settle when the storage works */
	struct {
		int64_t id;
		bool drop;	     /* after an fsync failure: remove, never index */
		int64_t start;	     /* the segment's start */
		int64_t outage_from; /* where the outage's gap starts */
	} unsettled[UNSETTLED_MAX];
	int nunsettled;

	/* outage bookkeeping */
	bool in_outage;
	int64_t gap_id; /* open gap row, -1: none */
	/* the outage, for its gap row when opening it failed (the catalog
	 * could not be written either) */
	int64_t outage_from;
	enum gap_reason outage_reason;
	char outage_detail[160];
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
	dev_t storage_dev; /* the file system of the storage folder at start */
	struct metric_histogram *fsync_seconds;
	struct evloop_group *loops; /* NULL: a thread per camera */
};

static __thread const char *thread_camera;

static const char *const state_names[] = { "starting", "recording",	"reconnecting",
					   "down",     "storage-error", "stopped" };

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
	char line[1024], *full = NULL;
	enum log_level ours;
	va_list again;

	if (level > av_log_get_level())
		return;
	if (level <= AV_LOG_ERROR)
		ours = LOG_LEVEL_INFO;
	else
		ours = LOG_LEVEL_DEBUG;
	if (!log_enabled(ours))
		return;
	/* formatted whole: the log scrubs secrets before it cuts the line */
	int prefix = print_prefix;
	va_copy(again, vl);
	int need = av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &print_prefix);
	if (need >= (int)sizeof(line) && (full = malloc((size_t)need + 1)) != NULL)
		av_log_format_line2(avcl, level, fmt, again, full, need + 1, &prefix);
	va_end(again);
	char *text = full ? full : line;
	size_t len = strlen(text);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	/* the "[rtsp @ 0x...]" prefix changes with every connection */
	const char *body = text[0] == '[' && strstr(text, "] ") ? strstr(text, "] ") + 2 : text;
	if (len == 0 ||
	    (strncmp(body, previous, sizeof(previous) - 1) == 0 && !log_enabled(LOG_LEVEL_DEBUG)))
		goto out;
	if (strncmp(body, previous, sizeof(previous) - 1) == 0)
		ours = LOG_LEVEL_DEBUG;
	snprintf(previous, sizeof(previous), "%s", body);
	/* log_msg masks the userinfo of the URLs in libav's messages and
	 * scrubs the rest */
	const char *camera = evloop_in_task() ? evloop_task_name() : thread_camera;
	if (camera)
		log_msg(ours, "camera '%s': libav: %s", camera, text);
	else
		log_msg(ours, "libav: %s", text);
out:
	free(full);
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
		redact_clean_controls(w->st.last_error);
	}
	pthread_mutex_unlock(&w->lock);
	if (changed) {
		log_info("camera '%s': %s%s%s", w->cam->id, state_names[s], error ? ": " : "",
			 error ? error : "");
		if (w->ing->cb.state_changed)
			w->ing->cb.state_changed(w->ing->cb.ctx, w->cam->id);
	}
}

/* When a video frame was captured on the camera's clock, from libavformat's
 * RTSP client, or AV_NOPTS_VALUE.  It gives the time of pts 0 on that clock
 * (AVFormatContext.start_time_realtime) from the first sender report, and
 * follows later ones in the timestamps only when the stream has more than
 * one track (video and audio): there a camera's clock that steps shows at
 * once, a video-only camera's at its next connect.  Read before the frame
 * is written, which rescales its timestamps. */
static int64_t libav_capture_us(const struct worker *w, const AVPacket *pkt)
{
	if (w->rtsp || !w->ic || w->ic->start_time_realtime == AV_NOPTS_VALUE ||
	    w->ic->start_time_realtime <= 0 || pkt->pts == AV_NOPTS_VALUE || !w->ic->iformat ||
	    strcmp(w->ic->iformat->name, "rtsp") != 0)
		return AV_NOPTS_VALUE;
	AVRational tb = w->ic->streams[pkt->stream_index]->time_base;
	return w->ic->start_time_realtime + av_rescale_q(pkt->pts, tb, AV_TIME_BASE_Q);
}

/* The camera's clock offset, about once a second, to whoever listens
 * (health): from the lean client's sender reports, or from the frame's
 * capture time on the camera's clock (libav_capture_us) against its
 * arrival. */
static void report_clock(struct worker *w, int64_t capture_us, int64_t arrival)
{
	int64_t offset, now = clock_mono_us();
	if (!w->ing->cb.clock_offset || now - w->clock_report_mono < USEC_PER_SEC)
		return;
	if (w->rtsp) {
		if (!rtsp_clock_offset(w->rtsp, &offset))
			return;
	} else if (capture_us != AV_NOPTS_VALUE) {
		offset = capture_us - arrival;
	} else {
		return;
	}
	w->clock_report_mono = now;
	w->ing->cb.clock_offset(w->ing->cb.ctx, w->cam->id, (double)offset / 1e6);
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
	w->st.frames_received += frames;
	w->st.bytes_received += bytes;
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
		if (age >= 1 && age <= RATE_SECONDS) {
			frames += w->rate.frames[b];
			bytes += w->rate.bytes[b];
		}
	}
	pthread_mutex_unlock(&w->lock);
	out->fps = (double)frames / RATE_SECONDS;
	out->kbps = (double)bytes * 8 / 1000 / RATE_SECONDS;
	if (out->state == CAMERA_RECONNECTING && out->gap_start_us >= 0 &&
	    clock_wall_us() - out->gap_start_us >= INGEST_DOWN_AFTER_US)
		out->state = CAMERA_DOWN;
	return 0;
}

/* ---- outages ----------------------------------------------------------- */

/* A catalog write the recorder goes on without (a gap, its own state): the
 * catalog returns the failure with its message, and this logs it. */
static void warn_catalog(int ret, const char *camera, const char *what)
{
	if (ret < 0 && camera)
		log_warnx("camera '%s': cannot %s: %s", camera, what, db_errmsg(ret));
	else if (ret < 0)
		log_warnx("cannot %s: %s", what, db_errmsg(ret));
}

static void set_gap_start(struct worker *w, int64_t us, enum gap_reason reason)
{
	pthread_mutex_lock(&w->lock);
	w->st.gap_start_us = us;
	w->st.gap_reason = reason;
	pthread_mutex_unlock(&w->lock);
}

/* An outage of this run ended at end_us: its length (from this process's
 * start at the earliest) counts towards its reason. */
static void count_gap(struct worker *w, int64_t from_us, int64_t end_us, enum gap_reason reason)
{
	if (from_us < w->ing->start_wall)
		from_us = w->ing->start_wall;
	if (end_us <= from_us || (unsigned)reason >= GAP_REASON_COUNT)
		return;
	pthread_mutex_lock(&w->lock);
	w->st.gap_us[reason] += end_us - from_us;
	pthread_mutex_unlock(&w->lock);
}

/*
 * What writes the catalog or the storage runs through evloop_offload(): a
 * worker on a loop parks while a pool thread does it, so a slow disk or a
 * busy catalog holds this camera only.  A worker thread runs it in place.
 * The job has the worker to itself: its task waits for it.
 */
struct storage_job {
	struct worker *w;
	int what;
	int64_t a, b;
	const char *detail;
	enum gap_reason reason;
};

enum {
	JOB_NOTE_OUTAGE,
	JOB_END_OUTAGE,
	JOB_SETTLE,
	JOB_FINISH,
	JOB_BEGIN,
	JOB_PICK_UP,
	JOB_WIND_DOWN
};

static void note_outage_now(struct worker *w, enum gap_reason reason, const char *detail);
static void end_outage_now(struct worker *w, int64_t start_wall);
static void settle_deferred_now(struct worker *w);
static int finish_segment_now(struct worker *w, int64_t end_ts, int64_t end_wall);
static int begin_segment_now(struct worker *w, int64_t origin_ts, int64_t start_wall);
static void pick_up_footage_now(struct worker *w);
static void wind_down_now(struct worker *w);

static int storage_job_run(void *arg)
{
	struct storage_job *j = arg;
	thread_camera = j->w->cam->id; /* for libavformat's log, on a pool thread */
	switch (j->what) {
	case JOB_NOTE_OUTAGE: note_outage_now(j->w, j->reason, j->detail); return 0;
	case JOB_END_OUTAGE: end_outage_now(j->w, j->a); return 0;
	case JOB_SETTLE: settle_deferred_now(j->w); return 0;
	case JOB_FINISH: return finish_segment_now(j->w, j->a, j->b);
	case JOB_BEGIN: return begin_segment_now(j->w, j->a, j->b);
	case JOB_PICK_UP: pick_up_footage_now(j->w); return 0;
	case JOB_WIND_DOWN: wind_down_now(j->w); return 0;
	}
	return -EINVAL;
}

static int storage_job(struct worker *w, int what, int64_t a, int64_t b)
{
	struct storage_job j = { .w = w, .what = what, .a = a, .b = b };
	return evloop_offload(storage_job_run, &j);
}

static void note_outage(struct worker *w, enum gap_reason reason, const char *detail)
{
	struct storage_job j = {
		.w = w, .what = JOB_NOTE_OUTAGE, .reason = reason, .detail = detail
	};
	evloop_offload(storage_job_run, &j);
}

static void end_outage(struct worker *w, int64_t start_wall)
{
	storage_job(w, JOB_END_OUTAGE, start_wall, 0);
}

static void settle_deferred(struct worker *w)
{
	storage_job(w, JOB_SETTLE, 0, 0);
}

static int finish_segment(struct worker *w, int64_t end_ts, int64_t end_wall)
{
	if (!w->seg)
		return 0;
	return storage_job(w, JOB_FINISH, end_ts, end_wall);
}

static int begin_segment(struct worker *w, int64_t origin_ts, int64_t start_wall)
{
	return storage_job(w, JOB_BEGIN, origin_ts, start_wall);
}

/*
 * The camera stopped giving footage (or never started).  Opens the gap row
 * once per outage; the first reason seen names the outage.
 */
static void note_outage_now(struct worker *w, enum gap_reason reason, const char *detail)
{
	struct ingest *ing = w->ing;
	enum camera_state state = reason == GAP_STORAGE_ERROR || reason == GAP_STORAGE_FULL
					  ? CAMERA_STORAGE_ERROR
					  : CAMERA_RECONNECTING;
	int ret;
	/* the detail may quote the camera (a reply, SDP): evidence gets no
	 * control characters */
	char clean[sizeof(w->outage_detail)];
	snprintf(clean, sizeof(clean), "%s", detail);
	redact_clean_controls(clean);
	detail = clean;

	if (w->in_outage) {
		set_state(w, state, detail);
		return;
	}
	int64_t from = w->last_end_wall >= 0 ? w->last_end_wall : ing->start_wall;
	if (w->startup_gap_pending) {
		/* the recorder was down until it started; what follows is this */
		if (ing->start_wall > w->startup_from)
			warn_catalog(catalog_gap_add(ing->cat, w->cam->id, w->startup_from,
						     ing->start_wall, GAP_RECORDER_DOWN,
						     ing->startup_detail),
				     w->cam->id, "record the recorder-down gap");
		w->startup_gap_pending = false;
		from = ing->start_wall > w->startup_from ? ing->start_wall : w->startup_from;
	}
	/* the gap starts exactly where the footage ends, even when that is a
	 * frame "ahead" of the arrival clock, so the two never overlap */
	w->in_outage = true;
	w->gap_id = -1;
	w->outage_from = from;
	w->outage_reason = reason;
	snprintf(w->outage_detail, sizeof(w->outage_detail), "%s", detail);
	if ((ret = catalog_gap_open(ing->cat, w->cam->id, from, reason, detail, &w->gap_id)) < 0) {
		warn_catalog(ret, w->cam->id, "open the gap");
		w->gap_id = -1; /* the catalog failed too: written when the outage ends */
	}
	set_gap_start(w, from, reason);
	log_warnx("camera '%s': no footage since %.3f: %s (%s)", w->cam->id, (double)from / 1e6,
		  catalog_gap_reason_name(reason), detail);
	set_state(w, state, detail);
}

/* Footage resumes at start_wall: the outage (or start-up gap) ends there. */
static void end_outage_now(struct worker *w, int64_t start_wall)
{
	struct ingest *ing = w->ing;

	if (w->in_outage) {
		if (w->gap_id >= 0)
			warn_catalog(catalog_gap_close(ing->cat, w->gap_id, start_wall), w->cam->id,
				     "close the gap");
		else if (start_wall > w->outage_from)
			warn_catalog(catalog_gap_add(ing->cat, w->cam->id, w->outage_from,
						     start_wall, w->outage_reason,
						     w->outage_detail),
				     w->cam->id, "record the gap");
		count_gap(w, w->outage_from, start_wall, w->outage_reason);
		w->in_outage = false;
		w->gap_id = -1;
	} else if (w->startup_gap_pending) {
		if (start_wall - w->startup_from > CATALOG_RUN_TOLERANCE_US)
			warn_catalog(catalog_gap_add(ing->cat, w->cam->id, w->startup_from,
						     start_wall, GAP_RECORDER_DOWN,
						     ing->startup_detail),
				     w->cam->id, "record the recorder-down gap");
	}
	w->startup_gap_pending = false;
	set_gap_start(w, -1, w->outage_reason);
}

/* ---- waiting and deadlines ---------------------------------------------- */

static bool stopping(const struct worker *w)
{
	return atomic_load(&w->ing->stopping);
}

/* Has libavformat's RTSP client followed a redirect to another host?  It
 * does so by changing ic->url, and sends the first URL's credentials to
 * the new one; it asks this callback before it writes anything there. */
static bool redirected_away(const struct worker *w)
{
	if (w->rtsp || !w->ic || !w->ic->url || strcmp(w->ic->url, w->cam->url) == 0)
		return false;
	char from[256] = "", to[256] = "";
	int port;
	av_url_split(NULL, 0, NULL, 0, from, sizeof(from), &port, NULL, 0, w->cam->url);
	av_url_split(NULL, 0, NULL, 0, to, sizeof(to), &port, NULL, 0, w->ic->url);
	return strcasecmp(from, to) != 0;
}

static int interrupt_cb(void *opaque)
{
	struct worker *w = opaque;
	if (stopping(w))
		return 1;
	if (redirected_away(w)) {
		w->redirect_refused = true;
		return 1;
	}
	if (clock_mono_us() > atomic_load(&w->deadline_mono)) {
		w->timed_out = true;
		return 1;
	}
	return 0;
}

static void arm_deadline(struct worker *w, int64_t us)
{
	w->timed_out = false;
	w->call_start_mono = clock_mono_us();
	w->call_budget_us = us;
	atomic_store(&w->deadline_mono, w->call_start_mono + us);
}

/*
 * A blocking call armed by arm_deadline returned: keeps the longest one
 * (relative to its deadline) for the summary at stop, and says at once
 * when a call (libavformat's or the RTSP client's) kept a worker past
 * twice its deadline, which would mean a path that never asks the
 * interrupt callback.
 */
static void call_done(struct worker *w, const char *what)
{
	int64_t took = clock_mono_us() - w->call_start_mono;

	if (w->call_budget_us <= 0)
		return;
	if (!w->longest_what || (double)took / (double)w->call_budget_us >
					(double)w->longest_call_us / (double)w->longest_budget_us) {
		w->longest_call_us = took;
		w->longest_budget_us = w->call_budget_us;
		w->longest_what = what;
	}
	if (took > 2 * w->call_budget_us && !stopping(w))
		log_warnx(
			"camera '%s': the blocking %s took %.1f s, past twice its %.1f s deadline",
			w->cam->id, what, (double)took / 1e6, (double)w->call_budget_us / 1e6);
}

/* Sleeps for us, waking early on stop.  Returns false when stopping. */
static bool pause_for(struct worker *w, int64_t us)
{
	struct ingest *ing = w->ing;
	struct timespec until;
	int64_t end = clock_mono_us() + us;

	if (evloop_in_task()) {
		/* the stop flag is looked at every PAUSE_SLICE_US */
		int64_t now;
		while (!atomic_load(&ing->stopping) && (now = clock_mono_us()) < end)
			evloop_sleep_until(end - now > PAUSE_SLICE_US ? now + PAUSE_SLICE_US : end);
		return !atomic_load(&ing->stopping);
	}
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

/* ---- the run's clock ---------------------------------------------------- */

/*
 * The recorder's clock for this run ("run"): the wall time the run started
 * at (never before the end of the footage so far, see next_floor) plus the
 * monotonic time since.  A step of the system clock within a run never
 * reaches the wall-clock mapping, so whatever disagrees with arrival on
 * this clock is the camera's doing (wallclock.h).
 */
static int64_t run_clock(const struct worker *w)
{
	if (w->run_mono0 <= 0)
		return clock_wall_us();
	return w->run_wall0 + (clock_mono_us() - w->run_mono0);
}

/* A wall-clock arrival time on the run's clock. */
static int64_t run_arrival(const struct worker *w, int64_t arrival)
{
	int64_t age = clock_wall_us() - arrival;
	if (age < 0 || age > 60 * USEC_PER_SEC) /* the clock was stepped since */
		age = 0;
	return run_clock(w) - age;
}

/* The camera exceeded a bound: says so, and the worker reconnects with a
 * stream-error gap (record_stream). */
static void exceed_bound(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void exceed_bound(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->bound_why, sizeof(w->bound_why), fmt, ap);
	va_end(ap);
	log_warnx("camera '%s': %s: reconnecting", w->cam->id, w->bound_why);
}

/* ---- segments ---------------------------------------------------------- */

static bool is_fsync_error(int err)
{
	/* after a failed fsync the kernel may have dropped the dirty pages:
	 * what is in the page cache can no longer be trusted as durable */
	return err == -EIO || err == -EROFS;
}

/*
 * Whether the storage folder is still the one recording started on: there,
 * and on the same file system.  A disk that is unmounted leaves an empty
 * folder of the system disk at its path; footage written there would fill
 * the system disk and vanish from view when the disk comes back.
 */
static int storage_present(const struct ingest *ing)
{
	struct stat st;
	if (stat(ing->cfg->storage_path, &st) < 0)
		return -errno;
	return st.st_dev == ing->storage_dev ? 0 : -ENODEV;
}

/*
 * Settles a segment the worker could not finish.  drop (its fsync failed,
 * so what the page cache held may never reach the disk, or its file holds
 * nothing yet): the file is removed, then the row.  Otherwise (its folder
 * vanished, the disk filled) its whole fragments are kept, as start-up
 * recovery keeps them.  Returns 0 when settled; otherwise the row stays
 * writing, so its file is never unknown, and a later call (or the next
 * start's recovery) settles it.
 */
static int settle(struct worker *w, int64_t id, bool drop)
{
	struct ingest *ing = w->ing;
	struct catalog_segment seg;
	struct ingest_recovery r;
	char path[PATH_MAX];
	int ret;

	if ((ret = storage_present(ing)) < 0)
		return ret;
	if ((ret = catalog_segment_get(ing->cat, id, &seg)) < 0)
		return ret == -ENOENT ? 0 : ret;
	if (seg.state != SEGMENT_WRITING)
		return 0;
	if (!drop) {
		memset(&r, 0, sizeof(r));
		return recovery_settle_segment(ing->cfg, ing->cat, &seg, &r);
	}
	if ((ret = fs_join(path, sizeof(path), ing->cfg->storage_path, seg.path)) < 0 ||
	    (ret = fs_unlink_durable(path)) < 0)
		return ret;
	return catalog_segment_abandon(ing->cat, id);
}

/* Settles segment id (which starts at start) now, or when the storage
 * works again; the outage that follows it starts at outage_from. */
static void settle_or_defer(struct worker *w, int64_t id, bool drop, int64_t start,
			    int64_t outage_from)
{
	int ret = settle(w, id, drop);
	if (ret == 0)
		return;
	if (w->nunsettled < UNSETTLED_MAX) {
		w->unsettled[w->nunsettled].id = id;
		w->unsettled[w->nunsettled].drop = drop;
		w->unsettled[w->nunsettled].start = start;
		w->unsettled[w->nunsettled].outage_from = outage_from;
		w->nunsettled++;
	}
	/* beyond that, the next start's recovery settles it */
	log_warnx("camera '%s': segment %" PRId64 " stays unfinished until the storage works (%s)",
		  w->cam->id, id, db_errmsg(ret));
}

/*
 * The storage works again: settles what it refused before.  The outage's
 * gap began where that footage seemed to end; what settling kept may end
 * sooner (a torn fragment cut, or nothing kept), and the rest is a gap too.
 */
static void settle_deferred_now(struct worker *w)
{
	struct catalog_segment seg;
	int left = 0;

	for (int i = 0; i < w->nunsettled; i++) {
		if (settle(w, w->unsettled[i].id, w->unsettled[i].drop) < 0) {
			w->unsettled[left++] = w->unsettled[i];
			continue;
		}
		int64_t kept = w->unsettled[i].start;
		if (catalog_segment_get(w->ing->cat, w->unsettled[i].id, &seg) == 0 &&
		    seg.state == SEGMENT_RECOVERED)
			kept = seg.end_us;
		if (w->unsettled[i].outage_from > kept)
			warn_catalog(catalog_gap_add(w->ing->cat, w->cam->id, kept,
						     w->unsettled[i].outage_from, GAP_STORAGE_ERROR,
						     "footage the storage failed to keep, cut when "
						     "it came back"),
				     w->cam->id, "record the storage-error gap");
	}
	w->nunsettled = left;
}

/* Finishes the open segment at end_wall; end_ts is the next keyframe's dts
 * or AV_NOPTS_VALUE when the stream ended. */
static int finish_segment_now(struct worker *w, int64_t end_ts, int64_t end_wall)
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
		/* abandoned after an fsync failure rather than indexed as good;
		 * otherwise its whole fragments are kept.  The outage starts
		 * where the footage kept ends. */
		bool drop = is_fsync_error(ret);
		struct catalog_segment kept;
		settle_or_defer(w, w->seg_id, drop, w->seg_start_wall,
				drop ? w->seg_start_wall : w->last_end_wall);
		int got = catalog_segment_get(ing->cat, w->seg_id, &kept);
		if (drop || got == -ENOENT)
			w->last_end_wall = w->seg_start_wall;
		else if (got == 0 && kept.state == SEGMENT_RECOVERED)
			w->last_end_wall = kept.end_us;
		note_outage(w, ret == -ENOSPC ? GAP_STORAGE_FULL : GAP_STORAGE_ERROR, why);
		w->storage_retry_mono = clock_mono_us() + STORAGE_RETRY_US;
		return ret;
	}
	if (end_wall < 0 || end_ts == AV_NOPTS_VALUE)
		end_wall = w->seg_start_wall + r.duration_us;
	/* whatever the camera's clock said, never ahead of the recorder's */
	int64_t ceiling = run_clock(w) + WALLCLOCK_AHEAD_US;
	if (end_wall > ceiling)
		end_wall = ceiling;
	if (end_wall < w->seg_start_wall)
		end_wall = w->seg_start_wall;
	r.end_us = end_wall;
	ret = catalog_segment_finish(ing->cat, w->seg_id, &r, SEGMENT_COMPLETE);
	if (ret < 0)
		log_warnx("camera '%s': segment %" PRId64 " written but not catalogued (%s); "
			  "recovery will index it at the next start",
			  w->cam->id, w->seg_id, db_errmsg(ret));
	w->last_end_wall = end_wall;
	pthread_mutex_lock(&w->lock);
	w->st.segments_total++;
	pthread_mutex_unlock(&w->lock);
	log_debug("camera '%s': segment %" PRId64 " done: %.3f s, %" PRId64 " frames, %" PRId64
		  " bytes",
		  w->cam->id, w->seg_id, (double)r.duration_us / 1e6, r.frames, r.bytes);
	return 0;
}

static int begin_segment_now(struct worker *w, int64_t origin_ts, int64_t start_wall)
{
	struct ingest *ing = w->ing;
	const AVStream *vs = w->ic->streams[w->vidx];
	const AVStream *as = w->aidx >= 0 ? w->ic->streams[w->aidx] : NULL;
	char rel[CATALOG_PATH_MAX], dir[PATH_MAX];
	int ret;

	if (clock_mono_us() < w->storage_retry_mono)
		return -EAGAIN;
	if ((ret = storage_present(ing)) < 0) {
		char why[PATH_MAX + 96];
		snprintf(why, sizeof(why), "storage folder '%s' %s", ing->cfg->storage_path,
			 ret == -ENODEV ? "is not the file system recording started on (unmounted?)"
					: strerror(-ret));
		note_outage(w, GAP_STORAGE_ERROR, why);
		w->storage_retry_mono = clock_mono_us() + STORAGE_RETRY_US;
		return ret;
	}
	ret = catalog_segment_begin(ing->cat, w->cam->id, start_wall,
				    avcodec_get_name(vs->codecpar->codec_id), vs->codecpar->width,
				    vs->codecpar->height, as != NULL, &w->seg_id, rel, sizeof(rel));
	if (ret < 0) {
		warn_catalog(ret, w->cam->id, "add a segment to the catalog");
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
		.fragment_wall_us = SEGWRITER_FRAGMENT_WALL_US,
		.fsync_seconds = ing->fsync_seconds,
	};
	if ((ret = segwriter_open(&w->seg, w->seg_path, &p)) < 0)
		goto fail;
	w->seg_start_wall = start_wall;
	w->seg_begin_mono = clock_mono_us();
	w->seg_origin_ts = origin_ts;
	w->storage_retry_mono = 0;
	if (w->nunsettled)
		settle_deferred(w);
	end_outage(w, start_wall);
	set_state(w, CAMERA_RECORDING, NULL);
	return 0;
fail:;
	char why[PATH_MAX + 64];
	/* the muxer refusing the stream's parameters is the stream's fault */
	bool refused =
		ret == AVERROR(EINVAL) || ret == AVERROR_INVALIDDATA || ret == AVERROR_PATCHWELCOME;
	if (refused)
		snprintf(why, sizeof(why), "the video cannot be stored in MP4: %s",
			 av_err2str(ret));
	else
		snprintf(why, sizeof(why), "cannot create '%s': %s", w->seg_path, av_err2str(ret));
	/* its file holds nothing yet */
	settle_or_defer(w, w->seg_id, true, start_wall, w->last_end_wall);
	note_outage(w,
		    ret == -ENOSPC ? GAP_STORAGE_FULL
		    : refused	   ? GAP_STREAM_ERROR
				   : GAP_STORAGE_ERROR,
		    why);
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

/*
 * Connects with the lean RTSP client (ingest/rtsp.h), which reads a camera
 * for a small fraction of what libavformat's RTSP demuxer costs.  Returns
 * RTSP_FALLBACK when the camera needs libavformat.
 */
static int open_fast(struct worker *w)
{
	const struct config *cfg = w->ing->cfg;
	struct rtsp_params p = {
		.url = w->cam->url,
		.name = w->cam->id,
		.user_agent = vigil_user_agent,
		.interrupt = { .callback = interrupt_cb, .opaque = w },
		/* a camera busy setting up a stream (a loaded one answers
		 * DESCRIBE or PLAY in seconds) gets the connect timeout, not
		 * the stall timeout of a stream already flowing */
		.rw_timeout_us = (int64_t)cfg->connect_timeout_seconds * USEC_PER_SEC,
		/* no whole video frame this long is a stall, whatever else comes */
		.read_timeout_us = (int64_t)cfg->stall_seconds * USEC_PER_SEC,
		.allow_basic = w->cam->allow_basic_auth,
		.refused = w->open_why,
		.refused_size = sizeof(w->open_why),
	};

	arm_deadline(w, (int64_t)cfg->connect_timeout_seconds * USEC_PER_SEC);
	int ret = rtsp_open(&w->rtsp, &w->ic, &p);
	call_done(w, "connect");
	return ret;
}

/* Connects with libavformat's RTSP client (the fallback), probing the
 * stream only when the SDP says too little. */
static int open_libav(struct worker *w)
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
	av_dict_set(&opts, "user_agent", vigil_user_agent, 0);
	av_dict_set(&opts, "allowed_media_types", "video+audio", 0);
	/* what a camera's answers may make libavformat open: RTSP and its
	 * media, TLS only for rtsps:// (redirects: redirected_away) */
	av_dict_set(&opts, "protocol_whitelist",
		    strncasecmp(w->cam->url, "rtsps:", 6) == 0 ? "rtsp,rtsps,rtp,tcp,udp,tls"
							       : "rtsp,rtp,tcp,udp",
		    0);

	arm_deadline(w, (int64_t)cfg->connect_timeout_seconds * USEC_PER_SEC);
	ret = avformat_open_input(&w->ic, w->cam->url, NULL, &opts);
	call_done(w, "connect");
	av_dict_free(&opts);
	if (ret < 0)
		return ret; /* avformat_open_input freed the context */
	if (!sdp_describes_video(w->ic)) {
		/* probing reads (and holds back) the first packets, which makes
		 * their arrival times late: only done when the SDP says too little */
		arm_deadline(w, (int64_t)cfg->connect_timeout_seconds * USEC_PER_SEC);
		ret = avformat_find_stream_info(w->ic, NULL);
		call_done(w, "probe");
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Picks the video stream and the audio stream MP4 can hold; the others
 * are discarded. */
static int select_streams(struct worker *w)
{
	w->vidx = av_find_best_stream(w->ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	if (w->vidx < 0)
		return AVERROR_STREAM_NOT_FOUND;
	/* a clock of 1 Hz makes every timestamp a huge number of microseconds
	 * (and with steps of 2^31, overflows): refused, on either client */
	AVRational tb = w->ic->streams[w->vidx]->time_base;
	if (tb.num <= 0 || tb.den <= 0 || tb.den / tb.num < CLOCK_RATE_MIN ||
	    tb.den / tb.num > CLOCK_RATE_MAX) {
		log_warnx("camera '%s': video clock %d/%d refused", w->cam->id, tb.num, tb.den);
		return ERR_CLOCK_RATE;
	}
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
			log_info("camera '%s': audio %s cannot go into MP4 as it is; recording "
				 "video only",
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

static int open_stream(struct worker *w)
{
	int ret;

	w->open_mono = clock_mono_us();
	w->open_why[0] = '\0';
	w->redirect_refused = false;
	ret = RTSP_FALLBACK;
	if (!w->rtsp_fallback && w->cam->transport == TRANSPORT_TCP && rtsp_fast_url(w->cam->url)) {
		ret = open_fast(w);
		if (ret == RTSP_FALLBACK)
			w->rtsp_fallback = true;
	}
	if (ret == RTSP_FALLBACK && evloop_in_task())
		return RTSP_FALLBACK; /* worker_task moves it to a thread first */
	if (ret == RTSP_FALLBACK)
		ret = open_libav(w);
	if (ret < 0)
		return ret;
	return select_streams(w);
}

static void close_stream(struct worker *w)
{
	if (!w->ic && !w->rtsp)
		return;
	arm_deadline(w, CLOSE_DEADLINE_US);
	rtsp_close(&w->rtsp);
	avformat_close_input(&w->ic);
	call_done(w, "close");
}

/*
 * Copies the parameter sets (H.264 SPS and PPS; H.265 VPS, SPS and PPS)
 * of an Annex B access unit into out, each behind a 4-byte start code, so
 * two keyframes' sets compare byte for byte.  Returns the length, or 0
 * when the unit has none (or they do not fit: then nothing is compared).
 */
static size_t find_param_sets(enum AVCodecID codec, const uint8_t *p, size_t n, uint8_t *out,
			      size_t outsize)
{
	size_t len = 0, i = 0;

	while (i + 3 <= n) {
		/* the next start code 00 00 01 */
		if (!(p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1)) {
			i++;
			continue;
		}
		size_t start = i + 3, end = start;
		if (start < n) {
			/* the sets come before the picture's slices: the slices,
			 * nearly all of a keyframe's bytes, are not scanned */
			int type = codec == AV_CODEC_ID_HEVC ? (p[start] >> 1) & 0x3f
							     : p[start] & 0x1f;
			bool vcl = codec == AV_CODEC_ID_HEVC ? type <= 31 : type >= 1 && type <= 5;
			if (vcl)
				break;
		}
		while (end + 3 <= n && !(p[end] == 0 && p[end + 1] == 0 && p[end + 2] == 1))
			end++;
		if (end + 3 > n)
			end = n;
		i = end;
		while (end > start && p[end - 1] == 0) /* zeros of the next start code */
			end--;
		if (end == start)
			continue;
		int type = codec == AV_CODEC_ID_HEVC ? (p[start] >> 1) & 0x3f : p[start] & 0x1f;
		bool ps = codec == AV_CODEC_ID_HEVC ? type >= 32 && type <= 34
						    : type == 7 || type == 8;
		if (!ps)
			continue;
		if (len + 4 + (end - start) > outsize)
			return 0;
		memcpy(out + len, "\0\0\0\1", 4);
		memcpy(out + len + 4, p + start, end - start);
		len += 4 + (end - start);
	}
	return len;
}

/*
 * A keyframe: notes its in-band parameter sets.  Returns true when they
 * differ from those of the previous keyframe of this connection: the
 * camera changed its resolution or encoding without closing the session,
 * and the segment must be cut here (an MP4 sample description holds one
 * set of parameters).
 */
static bool param_sets_changed(struct worker *w, const AVPacket *pkt)
{
	enum AVCodecID codec = w->ic->streams[w->vidx]->codecpar->codec_id;
	uint8_t sets[PARAM_SETS_MAX];
	size_t n;

	if (codec != AV_CODEC_ID_H264 && codec != AV_CODEC_ID_HEVC)
		return false;
	n = find_param_sets(codec, pkt->data, (size_t)pkt->size, sets, sizeof(sets));
	if (n == 0 || (n == w->param_sets_len && memcmp(sets, w->param_sets, n) == 0))
		return false;
	bool had = w->param_sets_len > 0;
	memcpy(w->param_sets, sets, n);
	w->param_sets_len = n;
	return had;
}

/*
 * Before a segment starts: when the keyframe's in-band parameter sets are
 * not those the stream's extradata holds (from the SDP, which a camera may
 * leave stale after a change, or from an earlier segment), they become
 * the extradata and the frame size is learnt again, so the segment's
 * sample description and its catalog row say what the frames are.
 */
static void adopt_param_sets(struct worker *w, const AVPacket *pkt)
{
	AVCodecParameters *par = w->ic->streams[w->vidx]->codecpar;
	uint8_t *copy;

	if (w->param_sets_len == 0 ||
	    ((size_t)par->extradata_size == w->param_sets_len &&
	     memcmp(par->extradata, w->param_sets, w->param_sets_len) == 0))
		return;
	copy = av_mallocz(w->param_sets_len + AV_INPUT_BUFFER_PADDING_SIZE);
	if (!copy)
		return;
	memcpy(copy, w->param_sets, w->param_sets_len);
	bool first = par->extradata_size == 0;
	av_freep(&par->extradata);
	par->extradata = copy;
	par->extradata_size = (int)w->param_sets_len;
	int old_w = par->width, old_h = par->height;
	par->width = par->height = 0;
	learn_video_params(w, pkt);
	if (par->width <= 0) {
		par->width = old_w;
		par->height = old_h;
	}
	if (!first && (par->width != old_w || par->height != old_h))
		log_info("camera '%s': the stream changed from %dx%d to %dx%d", w->cam->id, old_w,
			 old_h, par->width, par->height);
}

/*
 * The earliest wall time the next run of footage may start at: the end of
 * the footage so far.  After the wall clock was stepped back (it now reads
 * more than a second before that end), the time since, as the monotonic
 * clock measured it, is added: it keeps the new footage from overlapping
 * the old and keeps the outage between them its real length (the end of
 * the old footage alone would shrink it to nothing).  Only then: a run's
 * mapping may end a little ahead of the wall clock (a burst of packets
 * after a late first keyframe), and a floor carried forward from it would
 * push every later run further ahead, a camera that reconnects all night
 * ending up seconds in the future.
 */
static int64_t next_floor(const struct worker *w)
{
	if (w->last_end_wall < 0 || w->last_end_mono <= 0)
		return w->last_end_wall;
	if (clock_wall_us() >= w->last_end_wall - 1000000)
		return w->last_end_wall;
	int64_t since = clock_mono_us() - w->last_end_mono;
	return w->last_end_wall + (since > 0 ? since : 0);
}

/*
 * The timestamps of a video packet, repaired: a packet without any gets
 * the next frame's.  libavformat's parser often leaves the first access
 * unit of an RTSP session without timestamps; it is the keyframe we want,
 * so it is held in w->pending until the next packet dates it.  Returns
 * false when pkt cannot be dated yet (held, or dropped).
 */
static bool repair_timestamps(struct worker *w, AVPacket *pkt, int64_t arrival)
{
	if (pkt->dts != AV_NOPTS_VALUE || pkt->pts != AV_NOPTS_VALUE) {
		if (pkt->dts == AV_NOPTS_VALUE)
			pkt->dts = pkt->pts;
		return true;
	}
	if (!w->have_last_ts) {
		if (pkt->flags & AV_PKT_FLAG_KEY) {
			av_packet_unref(w->pending);
			if (av_packet_ref(w->pending, pkt) == 0)
				w->pending_arrival = arrival;
		}
		return false;
	}
	pkt->dts = pkt->pts = w->last_ts + (w->last_delta > 0 ? w->last_delta : 1);
	return true;
}

/* Dates the held first keyframe one frame before ts and hands it out
 * (in w->spare, until the next call); NULL when none is held. */
static AVPacket *release_pending(struct worker *w, int64_t ts)
{
	if (!w->pending->data)
		return NULL;
	AVStream *st = w->ic->streams[w->vidx];
	AVRational tb = st->time_base;
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
	return first;
}

/*
 * A media timestamp far from the previous one is a discontinuity: the
 * segment ends at the previous frame, the time until footage resumes is a
 * stream-error gap, and the run's wall-clock mapping starts again.
 */
static void check_discontinuity(struct worker *w, int64_t ts, int64_t media_us)
{
	AVRational tb = w->ic->streams[w->vidx]->time_base;

	if (w->have_last_ts) {
		int64_t step = media_us - av_rescale_q(w->last_ts, tb, AV_TIME_BASE_Q);
		if (step >= JUMP_FORWARD_US || step <= -JUMP_BACKWARD_US) {
			char why[96];
			snprintf(why, sizeof(why), "stream timestamps jumped by %.3f s",
				 (double)step / 1e6);
			int64_t end_ts = w->last_ts + (w->last_delta > 0 ? w->last_delta : 0);
			if (w->seg)
				finish_segment(w, end_ts,
					       wallclock_map(&w->wc, av_rescale_q(end_ts, tb,
										  AV_TIME_BASE_Q)));
			note_outage(w, GAP_STREAM_ERROR, why);
			wallclock_init(&w->wc, next_floor(w));
			w->have_last_ts = false;
		} else if (step > 0) {
			w->last_delta = ts - w->last_ts;
		}
		/* a small step back: the packet is kept, the writer keeps dts rising */
	}
	w->have_last_ts = true;
	w->last_ts = ts;
}

/*
 * At a keyframe, ends the open segment when it is due (its length reached,
 * new parameter sets, the storage blocked).  Returns the wall time of the
 * cut (where the next segment starts), -1 when there was none, or a
 * negative errno when the segment could not be finished.
 */
static int64_t cut_if_due(struct worker *w, const AVPacket *pkt, int64_t ts, int64_t media_us,
			  int64_t arrival)
{
	AVRational tb = w->ic->streams[w->vidx]->time_base;
	bool blocked = atomic_load(&w->ing->storage_blocked);
	int ret;

	if (!(pkt->flags & AV_PKT_FLAG_KEY))
		return -1;
	/* noted at every keyframe: adopt_param_sets starts segments with them */
	bool new_params = param_sets_changed(w, pkt);
	if (!w->seg)
		return -1;
	int64_t want = (int64_t)w->cam->segment_seconds * USEC_PER_SEC;
	int64_t length = av_rescale_q(ts - w->seg_origin_ts, tb, AV_TIME_BASE_Q);
	/* by the recorder's clock too: a camera clock that barely moves
	 * would otherwise make one endless segment */
	int64_t wall_length = clock_mono_us() - w->seg_begin_mono;
	if (!blocked && !new_params && length < want &&
	    wall_length < want + SEGMENT_WALL_MARGIN_US &&
	    segwriter_bytes(w->seg) < SEGMENT_BYTES_MAX / 2)
		return -1;
	int64_t correction = 0;
	int64_t boundary = wallclock_boundary(&w->wc, media_us, arrival, &correction);
	if (correction <= -WALLCLOCK_STEP_US || correction >= WALLCLOCK_STEP_US)
		/* once a run at warning level: a camera whose clock runs wild
		 * would otherwise say so every segment */
		log_msg(w->wc.reanchors > 1 ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN,
			"camera '%s': its timestamps disagree with arrival by %.1f s: footage "
			"re-anchored to arrival",
			w->cam->id, (double)correction / 1e6);
	if ((ret = finish_segment(w, ts, boundary)) < 0)
		return ret;
	if (blocked)
		note_outage(
			w, GAP_STORAGE_FULL,
			"storage full: footage younger than the floor is kept, recording stopped");
	return boundary;
}

/*
 * With no segment open: starts one at this keyframe, at boundary (where
 * the last one ended, after a cut) or at the run's mapping.  Returns 0
 * when a segment is open afterwards, or a negative errno.
 */
static int start_if_possible(struct worker *w, const AVPacket *pkt, int64_t ts, int64_t media_us,
			     int64_t arrival, int64_t at, int64_t boundary)
{
	if (!(pkt->flags & AV_PKT_FLAG_KEY) || atomic_load(&w->ing->storage_blocked))
		return -EAGAIN;
	/* A run's first keyframe that the lean client could hand out only
	 * long after it came was followed by a pause: a camera that sent one
	 * frame as the session started, then nothing (stalled).  Footage
	 * starts at the next keyframe, not with a frozen picture dated as if
	 * it covered the pause. */
	if (w->rtsp && !w->wc.anchored && clock_wall_us() - arrival > STALE_KEY_US) {
		log_debug("camera '%s': a keyframe followed by %.1f s without media; "
			  "waiting for the next",
			  w->cam->id, (double)(clock_wall_us() - arrival) / 1e6);
		return -EAGAIN;
	}
	adopt_param_sets(w, pkt);
	const AVCodecParameters *vp = w->ic->streams[w->vidx]->codecpar;
	if (vp->width <= 0)
		learn_video_params(w, pkt);
	if (vp->width <= 0 ||
	    ((vp->codec_id == AV_CODEC_ID_H264 || vp->codec_id == AV_CODEC_ID_HEVC) &&
	     vp->extradata_size == 0)) {
		/* The camera's fault, not the disk's: say so, and make no
		 * catalog row for a file the muxer would refuse.  Not at the
		 * first such keyframe: a stream joined as it starts may have
		 * its first keyframe without them and the next with them. */
		if (++w->keys_without_params >= KEYS_WITHOUT_PARAMS_MAX)
			note_outage(w, GAP_STREAM_ERROR,
				    "no parameter sets (SPS/PPS) in the SDP or the keyframes");
		else
			log_debug("camera '%s': a keyframe without parameter sets; waiting for the "
				  "next",
				  w->cam->id);
		return -EAGAIN;
	}
	/* after a cut the new segment starts exactly where the last ended */
	if (boundary < 0)
		boundary = wallclock_boundary(&w->wc, media_us, at, NULL);
	return begin_segment(w, ts, boundary); /* on failure: noted, retried later */
}

/* Writes a dated video packet (that arrived at at, on the run's clock)
 * into the open segment and counts it; the segment writer takes pkt's
 * reference. */
static void write_video(struct worker *w, AVPacket *pkt, int64_t media_us, int64_t arrival,
			int64_t at)
{
	AVRational tb = w->ic->streams[w->vidx]->time_base;
	int64_t dts = pkt->dts;
	int size = pkt->size;

	if (segwriter_write_video(w->seg, pkt) < 0) {
		finish_segment(w, dts, -1);
		return;
	}
	w->last_end_wall =
		wallclock_map(&w->wc, media_us) + av_rescale_q(w->last_delta, tb, AV_TIME_BASE_Q);
	if (w->last_end_wall > at + WALLCLOCK_AHEAD_US) /* however fast the camera counts */
		w->last_end_wall = at + WALLCLOCK_AHEAD_US;
	if (w->last_end_wall < w->seg_start_wall)
		w->last_end_wall = w->seg_start_wall;
	w->last_end_mono = clock_mono_us();
	pthread_mutex_lock(&w->lock);
	w->st.frames_total++;
	w->st.bytes_total += size;
	w->st.last_frame_us = arrival;
	pthread_mutex_unlock(&w->lock);
}

/*
 * Between keyframes: a segment that outgrew its bounds by the recorder's
 * clock or by size (one keyframe, then P-frames for ever) ends here, and
 * the camera has exceeded a bound.  Returns true then.
 */
static bool segment_overrun(struct worker *w, const AVPacket *pkt, int64_t media_us)
{
	int64_t want = (int64_t)w->cam->segment_seconds * USEC_PER_SEC;
	int64_t limit = SEGMENT_OVERRUN * want > want + 10 * USEC_PER_SEC
				? SEGMENT_OVERRUN * want
				: want + 10 * USEC_PER_SEC;

	if (!w->seg || (pkt->flags & AV_PKT_FLAG_KEY))
		return false;
	int64_t wall_length = clock_mono_us() - w->seg_begin_mono;
	int64_t bytes = segwriter_bytes(w->seg);
	if (wall_length < limit && bytes + pkt->size <= SEGMENT_BYTES_MAX)
		return false;
	finish_segment(w, pkt->dts, wallclock_map(&w->wc, media_us));
	if (wall_length >= limit)
		exceed_bound(w, "no keyframe for %.0f s", (double)wall_length / 1e6);
	else
		exceed_bound(w, "a segment of %" PRId64 " MiB without a keyframe", bytes >> 20);
	return true;
}

/* One dated video packet: discontinuities, segment cuts, writing (which
 * takes pkt's reference). */
static void record_video(struct worker *w, AVPacket *pkt, int64_t arrival)
{
	AVRational tb = w->ic->streams[w->vidx]->time_base;
	int64_t ts = pkt->dts;

	/* every sum and difference of media times below stays in range */
	if (ts > TS_LIMIT || ts < -TS_LIMIT) {
		exceed_bound(w, "timestamp %" PRId64 " out of range", ts);
		return;
	}
	int64_t media_us = av_rescale_q(ts, tb, AV_TIME_BASE_Q);
	/* libavformat's parser returns a frame once the next one starts to
	 * arrive: the frame itself came one frame interval earlier */
	if (w->frame_ticks > 0 && !w->rtsp)
		arrival -= av_rescale_q(w->frame_ticks, tb, AV_TIME_BASE_Q);
	int64_t at = run_arrival(w, arrival);
	check_discontinuity(w, ts, media_us);
	wallclock_observe(&w->wc, media_us, at);
	if (segment_overrun(w, pkt, media_us))
		return;
	int64_t boundary = cut_if_due(w, pkt, ts, media_us, at);
	if (boundary < -1)
		return;
	if (!w->seg && start_if_possible(w, pkt, ts, media_us, arrival, at, boundary) < 0)
		return;
	write_video(w, pkt, media_us, arrival, at);
}

/*
 * Handles one video packet as it comes from the stream: dates it (a held
 * first keyframe, dated by this packet, is recorded first), then records
 * it.
 */
static void on_video(struct worker *w, AVPacket *pkt, int64_t arrival)
{
	if (!repair_timestamps(w, pkt, arrival))
		return;
	AVPacket *first = release_pending(w, pkt->dts);
	if (first) {
		record_video(w, first, w->pending_arrival);
		av_packet_unref(first);
	}
	record_video(w, pkt, arrival);
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
	w->param_sets_len = 0;
	w->keys_without_params = 0;
	w->bound_why[0] = '\0';
	av_packet_unref(w->pending);
	int64_t floor = next_floor(w);
	wallclock_init(&w->wc, floor);
	w->run_wall0 = clock_wall_us() > floor ? clock_wall_us() : floor;
	w->run_mono0 = clock_mono_us();
	for (;;) {
		arm_deadline(w, (int64_t)cfg->stall_seconds * USEC_PER_SEC);
		int ret = w->rtsp ? rtsp_read(w->rtsp, w->pkt) : av_read_frame(w->ic, w->pkt);
		call_done(w, "read");
		if (ret < 0) {
			if (stopping(w)) {
				snprintf(why, whylen, "vigil stopped");
				/* the lean client still holds the last frame (it waits
				 * for the next to begin): keep it, as libavformat's
				 * parser hands its own out when a read is interrupted */
				if (w->rtsp && rtsp_flush(w->rtsp, w->pkt) == 1) {
					on_video(w, w->pkt, rtsp_arrival_us(w->rtsp));
					av_packet_unref(w->pkt);
				}
			} else if (ret == RTSP_FALLBACK) {
				w->rtsp_fallback = true;
				reason = GAP_STREAM_ERROR;
				snprintf(why, whylen, "the stream needs libavformat's RTSP client");
			} else if (ret == RTSP_OVER_BOUND) {
				/* logged by the client, naming the camera */
				reason = GAP_STREAM_ERROR;
				snprintf(why, whylen, "%s", rtsp_error_detail(w->rtsp));
			} else if (w->timed_out || ret == AVERROR(ETIMEDOUT)) {
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
		/* the lean client knows when each unit came; libavformat's
		 * parser hands a frame out as the next begins (on_video) */
		int64_t arrival = w->rtsp ? rtsp_arrival_us(w->rtsp) : clock_wall_us();
		rate_add(w, w->pkt->stream_index == w->vidx ? 1 : 0, w->pkt->size);
		if (w->pkt->stream_index == w->vidx) {
			int64_t capture = libav_capture_us(w, w->pkt);
			on_video(w, w->pkt, arrival);
			report_clock(w, capture, arrival);
		} else if (w->pkt->stream_index == w->aidx && w->seg) {
			if (segwriter_write(w->seg, w->pkt, SEGWRITER_AUDIO) < 0) {
				finish_segment(w, AV_NOPTS_VALUE, -1);
			} else {
				pthread_mutex_lock(&w->lock);
				w->st.bytes_total += w->pkt->size;
				pthread_mutex_unlock(&w->lock);
			}
		}
		av_packet_unref(w->pkt);
		if (w->bound_why[0]) { /* logged by exceed_bound */
			reason = GAP_STREAM_ERROR;
			snprintf(why, whylen, "%s", w->bound_why);
			break;
		}
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
	if (w->redirect_refused) {
		snprintf(why, whylen,
			 "redirect to another host refused: the credentials must "
			 "not follow it");
		return GAP_CAMERA_UNREACHABLE;
	}
	if (err == RTSP_BASIC_REFUSED) {
		snprintf(why, whylen,
			 "authentication refused: the camera offers Basic and no MD5 "
			 "Digest; Basic sends the password in clear (allow_basic_auth "
			 "is off)");
		return GAP_CAMERA_UNREACHABLE;
	}
	/* a request left unanswered past the socket timeout (stall_seconds)
	 * comes back from libavformat as a reply with no status, that is as
	 * invalid data or the end of the stream: the camera did not answer */
	int64_t took = clock_mono_us() - w->open_mono;
	if ((err == AVERROR_INVALIDDATA || err == AVERROR_EOF || err == AVERROR(ETIMEDOUT)) &&
	    took >= (int64_t)cfg->stall_seconds * USEC_PER_SEC - USEC_PER_SEC / 10) {
		snprintf(why, whylen, "no answer within %.0f s", (double)took / 1e6);
		return GAP_CAMERA_UNREACHABLE;
	}
	if (w->open_why[0]) { /* the lean client refused the stream, and said why */
		snprintf(why, whylen, "%s", w->open_why);
		return GAP_STREAM_ERROR;
	}
	switch (err) {
	case ERR_CLOCK_RATE:
		snprintf(why, whylen, "the video clock rate %d Hz is implausible (%d to %d Hz)",
			 w->ic && w->vidx >= 0 && w->ic->streams[w->vidx]->time_base.num > 0
				 ? w->ic->streams[w->vidx]->time_base.den /
					   w->ic->streams[w->vidx]->time_base.num
				 : 0,
			 CLOCK_RATE_MIN, CLOCK_RATE_MAX);
		return GAP_STREAM_ERROR;
	case AVERROR_STREAM_NOT_FOUND:
		snprintf(why, whylen, "the stream has no video");
		return GAP_STREAM_ERROR;
	case AVERROR_PATCHWELCOME:
		snprintf(why, whylen, "video codec %s cannot be stored in MP4",
			 w->ic && w->vidx >= 0
				 ? avcodec_get_name(w->ic->streams[w->vidx]->codecpar->codec_id)
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

/* Where the camera's footage ended before this start: the recorder was
 * down from there until it records again. */
static void pick_up_footage_now(struct worker *w)
{
	struct ingest *ing = w->ing;
	int64_t last = -1;

	if (catalog_camera_last_covered(ing->cat, w->cam->id, &last) == 0 && last >= 0) {
		/* a restart right after a crash can come before the end of the
		 * footage kept (mapped from media time, it runs a little ahead of
		 * arrival): the recorder was still down from there to this run's
		 * first footage */
		w->startup_gap_pending = last < ing->start_wall + USEC_PER_SEC;
		w->startup_from = last;
		if (last > ing->start_wall + USEC_PER_SEC)
			/* the clock was stepped back since that footage was written:
			 * new footage is dated from its end, so nothing overlaps */
			log_warnx("camera '%s': its footage ends %.0f s ahead of the clock: new "
				  "footage is dated from its end; the downtime is not known",
				  w->cam->id, (double)(last - ing->start_wall) / 1e6);
	}
	w->last_end_wall = last;
}

/* The worker stops: its segment finished, its outage closed at now. */
static void wind_down(struct worker *w)
{
	if (w->seg)
		finish_segment(w, AV_NOPTS_VALUE, -1);
	settle_deferred(w);
	close_stream(w);
	storage_job(w, JOB_WIND_DOWN, 0, 0);
}

static void wind_down_now(struct worker *w)
{
	struct ingest *ing = w->ing;

	if (w->in_outage)
		end_outage(w, clock_wall_us());
	else if (w->startup_gap_pending && clock_wall_us() > w->startup_from)
		/* stopped before the first frame: the gap runs to now */
		warn_catalog(catalog_gap_add(ing->cat, w->cam->id, w->startup_from, clock_wall_us(),
					     GAP_RECORDER_DOWN, ing->startup_detail),
			     w->cam->id, "record the recorder-down gap");
	w->in_outage = false;
	w->startup_gap_pending = false;
	if (w->longest_what)
		log_info("camera '%s': longest blocking call: %s %.2f s (deadline %.1f s)",
			 w->cam->id, w->longest_what, (double)w->longest_call_us / 1e6,
			 (double)w->longest_budget_us / 1e6);
	set_state(w, CAMERA_STOPPED, NULL);
}

/* Records until vigil stops.  Returns true, early, when a camera on an
 * I/O thread needs a thread of its own (see worker_task). */
static bool worker_run(struct worker *w)
{
	const struct config *cfg = w->ing->cfg;
	const int64_t min_delay = (int64_t)cfg->reconnect_min_seconds * USEC_PER_SEC;
	const int64_t max_delay = (int64_t)cfg->reconnect_max_seconds * USEC_PER_SEC;
	int64_t delay = min_delay;
	char why[256];

	thread_camera = w->cam->id;
	if (!w->picked_up) {
		storage_job(w, JOB_PICK_UP, 0, 0);
		w->picked_up = true;
	}
	while (!stopping(w)) {
		int ret = open_stream(w);
		if (ret == RTSP_FALLBACK)
			return true;
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
	wind_down(w);
	return false;
}

static void *worker_main(void *arg)
{
	const struct worker *w = arg;
	evloop_name_thread(w->cam->id);
	worker_run(arg);
	return NULL;
}

/* A camera on an I/O thread.  When it needs libavformat's client, whose
 * calls block, it leaves the loop for a thread of its own; that happens
 * here, in the task's outermost frame, because a function that was on the
 * stack across the move could go on using the loop thread's errno (whose
 * address the compiler may keep) or thread-local variables. */
static void worker_task(void *arg)
{
	struct worker *w = arg;

	while (worker_run(w)) {
		int ret = evloop_detach();
		if (ret < 0) {
			log_warnx("camera '%s': cannot start a thread for libavformat's RTSP "
				  "client: %s",
				  w->cam->id, strerror(-ret));
			pause_for(w, (int64_t)w->ing->cfg->reconnect_min_seconds * USEC_PER_SEC);
		}
	}
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

void ingest_set_fsync_histogram(struct ingest *ing, struct metric_histogram *h)
{
	ing->fsync_seconds = h;
}

/* The lean RTSP client's cameras go on the I/O threads' loops, unless
 * the configuration asks for a thread per camera. */
static bool on_loop(const struct ingest *ing, const struct worker *w)
{
	return !ing->cfg->thread_per_camera && w->cam->transport == TRANSPORT_TCP &&
	       rtsp_fast_url(w->cam->url);
}

int ingest_start(struct ingest *ing)
{
	pthread_attr_t attr;
	char previous[32] = "";
	int ret = 0;

	ing->start_wall = clock_wall_us();
	struct stat st;
	if (stat(ing->cfg->storage_path, &st) < 0)
		return -errno; /* vigil record created it */
	ing->storage_dev = st.st_dev;
	catalog_meta_get(ing->cat, "recorder_state", previous, sizeof(previous));
	snprintf(ing->startup_detail, sizeof(ing->startup_detail), "%s",
		 strcmp(previous, "running") == 0 ? "vigil was not running (it had crashed)"
						  : "vigil was not running");
	warn_catalog(catalog_meta_set(ing->cat, "recorder_state", "running"), NULL,
		     "note in the catalog that the recorder runs");

	size_t on_loops = 0;
	for (size_t i = 0; i < ing->nworkers; i++)
		on_loops += on_loop(ing, &ing->workers[i]);
	if (on_loops > 0) {
		long n = ing->cfg->io_threads > 0 ? ing->cfg->io_threads
						  : sysconf(_SC_NPROCESSORS_ONLN);
		if (n < 1)
			n = 1;
		if ((size_t)n > on_loops)
			n = (long)on_loops;
		if ((ret = evloop_group_new(&ing->loops, (int)n)) < 0) {
			log_warnx("cannot start the I/O threads: %s", strerror(-ret));
			return ret;
		}
		log_info("%zu of %zu cameras on %ld I/O threads", on_loops, ing->nworkers, n);
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1024 * 1024);
	for (size_t i = 0; i < ing->nworkers; i++) {
		struct worker *w = &ing->workers[i];
		w->st.state_since_us = ing->start_wall;
		if (on_loop(ing, w)) {
			if ((ret = evloop_spawn(ing->loops, worker_task, w, w->cam->id)) < 0) {
				log_warnx("camera '%s': cannot start its worker: %s", w->cam->id,
					  strerror(-ret));
				break;
			}
			continue;
		}
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
	if (ing->loops) {
		/* its tasks, detached ones included, end by themselves: stopping */
		evloop_group_free(&ing->loops);
		any = true;
	}
	if (any)
		warn_catalog(catalog_meta_set(ing->cat, "recorder_state", "stopped"), NULL,
			     "note in the catalog that the recorder stopped");
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
		log_warnx("storage %s%s%s", blocked ? "blocked" : "writable again", why ? ": " : "",
			  why ? why : "");
}
