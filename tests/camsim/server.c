/*
 * server.c: N simulated cameras served over RTSP from one in-memory clip.
 *
 * Each camera is a shared gst-rtsp-server media factory mounted at /camN,
 * so every viewer of a camera gets the same pipeline:
 *   appsrc ! rtph264pay|rtph265pay   [ appsrc ! rtpmp4gpay ]
 * with config-interval=-1, so SPS/PPS (and VPS) go out in-band before every
 * keyframe while the SDP carries them from the clip's codec_data.  Nothing is
 * decoded or encoded while serving.
 *
 * One feeder thread serves every camera.  When a camera gets a new media
 * (its first viewer after none, or after being down) the feeder starts the
 * clip from its first frame, a keyframe, and pushes each access unit at the
 * moment it is due: pts = origin + loop * clip duration + pts in clip.  The
 * buffers pushed are shallow copies of the clip's buffers (the payload is
 * shared, only the timestamps differ), so serving costs no copy of data.
 * The media pipelines run on the monotonic system clock with a base time
 * of 0 (start time NONE), so a buffer's pts is simply the clock time it is
 * due at, and the RTP timestamps keep increasing across loops.
 *
 * Faults.  down: the mount point is removed (DESCRIBE gets 404), every
 * client that asked for the camera is closed and its sessions removed; up
 * mounts a fresh factory, so the next viewer gets a new media from a
 * keyframe.  stall: the feeder stops pushing and a probe drops the
 * outgoing RTCP too, so the data channel goes silent while RTSP requests
 * are still answered (a media created while stalled gets its first frame
 * only, so DESCRIBE can answer); the "rtcp" variant keeps sending RTCP
 * reports, as many real cameras do when their encoder hangs.  resume
 * waits for the next keyframe on the clip's timeline.
 * jump: a pad probe after each payloader adds an offset to the RTP
 * timestamps.  slow: every RTSP request naming the camera is answered late.
 *
 * Thread safety: server.lock guards the cameras' state, media pointers,
 * counters and feeder position.  It is taken by the feeder, by
 * gst-rtsp-server's client and media threads in the signal handlers, and by
 * the main loop in server_act()/server_status().  It is never held while
 * calling into gst-rtsp-server (whose own locks may be held when our
 * handlers run); the feeder holds it across gst_app_src_push_buffer(),
 * which takes only appsrc's lock and calls nothing back (no signals).
 * Actions (down/up/...) are only called from the main loop thread.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#include "camsim.h"

#define ROLE "camsim"
#define SESSION_CLEANUP_SECONDS 2
#define FEEDER_IDLE (100 * GST_MSECOND)

enum cam_state { ST_UP, ST_DOWN, ST_STALL };

static const char *const state_names[] = {"up", "down", "stall"};

struct cam {
	struct server *s;
	int id;
	char path[24]; /* "/camN" */
	enum cam_state state;
	unsigned slow_ms;
	_Atomic int64_t jump_ns; /* added to RTP timestamps */
	_Atomic int mute_rtcp;	 /* stalled: drop outgoing RTCP too */

	/* the current media and its sources (owned references) */
	GstRTSPMedia *media;
	GstElement *vsrc;
	GstElement *asrc;

	/* feeder position in the current media */
	int fresh; /* new media: start the clip on the next round */
	GstClockTime origin;
	size_t vi, ai;
	guint64 vloop, aloop;
	guint64 vpushed, apushed;
	int need_key;	/* after a stall: skip to the next keyframe */
	int discont;	/* mark the next pushed video buffer */

	guint64 frames; /* video units pushed since camsim started */
	int clients;	/* connected clients whose last request named us */
};

struct server {
	const struct clip *clip;
	GstRTSPServer *rtsp;
	GstRTSPMountPoints *mounts;
	GstRTSPAuth *auth;
	GSource *source;
	guint cleanup_timer;
	GstClock *clock;
	char *launch;
	struct cam *cams;
	int ncams;
	int port;

	GMutex lock;
	GCond cond;
	GThread *feeder;
	int stopping;
};

static GQuark cam_quark;

static const char *const request_signals[] = {
	"pre-options-request",	     "pre-describe-request",
	"pre-setup-request",	     "pre-play-request",
	"pre-pause-request",	     "pre-teardown-request",
	"pre-get-parameter-request", "pre-set-parameter-request",
};

/* --- feeding -------------------------------------------------------- */

static void push_unit(GstElement *src, const struct clip_unit *u,
		      GstClockTime due, int discont)
{
	GstBuffer *b = gst_buffer_copy(u->buf); /* shares the payload */

	GST_BUFFER_PTS(b) = due;
	GST_BUFFER_DTS(b) = due;
	GST_BUFFER_DURATION(b) = u->duration;
	if (discont)
		GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DISCONT);
	else
		GST_BUFFER_FLAG_UNSET(b, GST_BUFFER_FLAG_DISCONT);
	gst_app_src_push_buffer(GST_APP_SRC(src), b);
}

/* Pushes (or, while stalled, skips) every unit of one track that is due by
 * now; lowers *next to the due time of the first unit not yet due. */
static void feed_track(const struct server *s, struct cam *c, int video,
		       GstClockTime now, GstClockTime *next)
{
	const struct clip_track *t = video ? &s->clip->video : &s->clip->audio;
	GstElement *src = video ? c->vsrc : c->asrc;
	size_t *i = video ? &c->vi : &c->ai;
	guint64 *loop = video ? &c->vloop : &c->aloop;
	guint64 *pushed = video ? &c->vpushed : &c->apushed;

	if (!src || t->n == 0)
		return;
	for (;;) {
		const struct clip_unit *u = &t->units[*i];
		GstClockTime due = c->origin + *loop * s->clip->duration + u->pts;
		int send;

		if (due > now) {
			if (due < *next)
				*next = due;
			return;
		}
		/* A media made while stalled gets its first unit, which
		 * lets the server answer DESCRIBE. */
		send = c->state == ST_UP || *pushed == 0;
		if (send && video && c->need_key && *pushed > 0) {
			if (u->key)
				c->need_key = 0;
			else
				send = 0;
		}
		if (send) {
			push_unit(src, u, due, video && c->discont);
			if (video) {
				c->discont = 0;
				c->frames++;
			}
			(*pushed)++;
		}
		if (++*i == t->n) {
			*i = 0;
			(*loop)++;
		}
	}
}

static gpointer feeder_main(gpointer data)
{
	struct server *s = data;

	g_mutex_lock(&s->lock);
	while (!s->stopping) {
		GstClockTime now = gst_clock_get_time(s->clock);
		GstClockTime next = now + FEEDER_IDLE;

		for (int k = 0; k < s->ncams; k++) {
			struct cam *c = &s->cams[k];

			if (!c->media || c->state == ST_DOWN)
				continue;
			if (c->fresh) {
				c->fresh = 0;
				c->origin = now;
				c->vi = c->ai = 0;
				c->vloop = c->aloop = 0;
				c->vpushed = c->apushed = 0;
				c->need_key = 0;
				c->discont = 0;
			}
			feed_track(s, c, 1, now, &next);
			feed_track(s, c, 0, now, &next);
		}
		g_cond_wait_until(&s->cond, &s->lock,
				  g_get_monotonic_time() +
					  (gint64)((next - now + 999) / 1000));
	}
	g_mutex_unlock(&s->lock);
	return NULL;
}

/* --- RTP timestamp jumps -------------------------------------------- */

struct jump_probe {
	struct cam *cam;
	gint rate;
};

static void rtp_shift(GstBuffer *b, guint32 delta)
{
	guint8 h[4];
	guint32 ts;

	if (gst_buffer_extract(b, 4, h, 4) != 4)
		return;
	ts = ((guint32)h[0] << 24 | (guint32)h[1] << 16 | (guint32)h[2] << 8 |
	      h[3]) +
	     delta;
	h[0] = ts >> 24;
	h[1] = ts >> 16;
	h[2] = ts >> 8;
	h[3] = ts;
	gst_buffer_fill(b, 4, h, 4);
}

static gboolean shift_in_list(GstBuffer **b, guint idx, gpointer data)
{
	(void)idx;
	*b = gst_buffer_make_writable(*b);
	rtp_shift(*b, *(const guint32 *)data);
	return TRUE;
}

static GstPadProbeReturn on_rtp(GstPad *pad, GstPadProbeInfo *info,
				gpointer data)
{
	struct jump_probe *jp = data;
	int64_t ns = atomic_load_explicit(&jp->cam->jump_ns,
					  memory_order_relaxed);
	guint32 delta;

	if (ns == 0)
		return GST_PAD_PROBE_OK;
	if (jp->rate <= 0) {
		GstCaps *caps = gst_pad_get_current_caps(pad);

		if (caps) {
			gst_structure_get_int(gst_caps_get_structure(caps, 0),
					      "clock-rate", &jp->rate);
			gst_caps_unref(caps);
		}
		if (jp->rate <= 0)
			return GST_PAD_PROBE_OK;
	}
	delta = (guint32)gst_util_uint64_scale((guint64)ns, (guint64)jp->rate,
					       GST_SECOND);
	if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
		GstBuffer *b = gst_pad_probe_info_get_buffer(info);

		b = gst_buffer_make_writable(b);
		rtp_shift(b, delta);
		GST_PAD_PROBE_INFO_DATA(info) = b;
	} else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
		GstBufferList *l = gst_pad_probe_info_get_buffer_list(info);

		l = gst_buffer_list_make_writable(l);
		gst_buffer_list_foreach(l, shift_in_list, &delta);
		GST_PAD_PROBE_INFO_DATA(info) = l;
	}
	return GST_PAD_PROBE_OK;
}

static void add_jump_probe(GstElement *bin, const char *payname,
			   struct cam *c)
{
	GstElement *pay = gst_bin_get_by_name(GST_BIN(bin), payname);
	GstPad *pad;
	struct jump_probe *jp;

	if (!pay)
		return;
	pad = gst_element_get_static_pad(pay, "src");
	if (pad) {
		jp = g_new0(struct jump_probe, 1);
		jp->cam = c;
		gst_pad_add_probe(pad,
				  GST_PAD_PROBE_TYPE_BUFFER |
					  GST_PAD_PROBE_TYPE_BUFFER_LIST,
				  on_rtp, jp, g_free);
		gst_object_unref(pad);
	}
	gst_object_unref(pay);
}

/* --- RTCP muting during a stall ------------------------------------ */

static GstPadProbeReturn on_rtcp(GstPad *pad, GstPadProbeInfo *info,
				 gpointer data)
{
	struct cam *c = data;

	(void)pad;
	(void)info;
	return atomic_load_explicit(&c->mute_rtcp, memory_order_relaxed)
		       ? GST_PAD_PROBE_DROP
		       : GST_PAD_PROBE_OK;
}

static void on_rtpbin_pad(GstElement *rtpbin, GstPad *pad, gpointer data)
{
	(void)rtpbin;
	if (g_str_has_prefix(GST_PAD_NAME(pad), "send_rtcp_src"))
		gst_pad_add_probe(pad,
				  GST_PAD_PROBE_TYPE_BUFFER |
					  GST_PAD_PROBE_TYPE_BUFFER_LIST,
				  on_rtcp, data, NULL);
}

/* The media adds its rtpbin to the pipeline while preparing, after
 * media-configure: catch it to put a probe on its RTCP source pads. */
static void on_element_added(GstBin *bin, GstBin *sub, GstElement *el,
			     gpointer data)
{
	GstElementFactory *f = gst_element_get_factory(el);

	(void)bin;
	(void)sub;
	if (f && strcmp(GST_OBJECT_NAME(f), "rtpbin") == 0)
		g_signal_connect(el, "pad-added", G_CALLBACK(on_rtpbin_pad),
				 data);
}

/* --- medias --------------------------------------------------------- */

/* Takes the camera's media references out; call with the lock held and
 * release them with drop_media() after unlocking. */
struct media_refs {
	GstRTSPMedia *media;
	GstElement *vsrc;
	GstElement *asrc;
};

static void detach_media(struct cam *c, struct media_refs *r)
{
	r->media = c->media;
	r->vsrc = c->vsrc;
	r->asrc = c->asrc;
	c->media = NULL;
	c->vsrc = NULL;
	c->asrc = NULL;
}

static void drop_media(struct media_refs *r)
{
	if (r->vsrc)
		gst_object_unref(r->vsrc);
	if (r->asrc)
		gst_object_unref(r->asrc);
	if (r->media)
		g_object_unref(r->media);
}

static void on_media_unprepared(GstRTSPMedia *media, gpointer data)
{
	struct cam *c = data;
	struct media_refs r = {0};

	g_mutex_lock(&c->s->lock);
	if (c->media == media)
		detach_media(c, &r);
	g_mutex_unlock(&c->s->lock);
	drop_media(&r);
	log_debug("cam%d: media ended", c->id);
}

static void on_media_configure(GstRTSPMediaFactory *f, GstRTSPMedia *media,
			       gpointer data)
{
	struct cam *c = data;
	struct server *s = c->s;
	GstElement *bin = gst_rtsp_media_get_element(media);
	GstObject *pipeline = gst_object_get_parent(GST_OBJECT(bin));
	struct media_refs old = {0};
	GstElement *vsrc, *asrc;

	(void)f;
	vsrc = gst_bin_get_by_name(GST_BIN(bin), "vsrc");
	asrc = gst_bin_get_by_name(GST_BIN(bin), "asrc");
	g_object_set(vsrc, "caps", s->clip->video.caps, NULL);
	if (asrc)
		g_object_set(asrc, "caps", s->clip->audio.caps, NULL);
	if (pipeline && GST_IS_PIPELINE(pipeline)) {
		/* running time == clock time: see the top of this file */
		gst_pipeline_use_clock(GST_PIPELINE(pipeline), s->clock);
		gst_element_set_start_time(GST_ELEMENT(pipeline),
					   GST_CLOCK_TIME_NONE);
		gst_element_set_base_time(GST_ELEMENT(pipeline), 0);
		g_signal_connect(pipeline, "deep-element-added",
				 G_CALLBACK(on_element_added), c);
	}
	add_jump_probe(bin, "pay0", c);
	add_jump_probe(bin, "pay1", c);
	g_signal_connect(media, "unprepared", G_CALLBACK(on_media_unprepared),
			 c);

	g_mutex_lock(&s->lock);
	detach_media(c, &old);
	c->media = g_object_ref(media);
	c->vsrc = vsrc;
	c->asrc = asrc;
	c->fresh = 1;
	g_cond_signal(&s->cond);
	g_mutex_unlock(&s->lock);

	drop_media(&old);
	if (pipeline)
		gst_object_unref(pipeline);
	gst_object_unref(bin);
	log_debug("cam%d: new media", c->id);
}

static GstRTSPMediaFactory *make_factory(struct server *s, struct cam *c)
{
	GstRTSPMediaFactory *f = gst_rtsp_media_factory_new();

	gst_rtsp_media_factory_set_launch(f, s->launch);
	gst_rtsp_media_factory_set_shared(f, TRUE);
	if (s->auth)
		gst_rtsp_media_factory_add_role(
			f, ROLE, GST_RTSP_PERM_MEDIA_FACTORY_ACCESS,
			G_TYPE_BOOLEAN, TRUE,
			GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN,
			TRUE, NULL);
	g_signal_connect(f, "media-configure", G_CALLBACK(on_media_configure),
			 c);
	return f;
}

static void mount(struct server *s, struct cam *c)
{
	/* the mount points take the factory's reference */
	gst_rtsp_mount_points_add_factory(s->mounts, c->path,
					  make_factory(s, c));
}

/* --- clients -------------------------------------------------------- */

/* Returns the camera number of an RTSP path "/camN[/...]", or 0. */
static int cam_from_path(const struct server *s, const char *path)
{
	const char *end;
	int id;

	if (!path || path[0] != '/')
		return 0;
	path++;
	end = strchr(path, '/');
	id = parse_cam_name(path, end ? (size_t)(end - path) : strlen(path));
	return id >= 1 && id <= s->ncams ? id : 0;
}

static GstRTSPStatusCode on_pre_request(GstRTSPClient *client,
					GstRTSPContext *ctx, gpointer data)
{
	struct server *s = data;
	int id = ctx && ctx->uri ? cam_from_path(s, ctx->uri->abspath) : 0;
	unsigned slow;
	int old;

	if (id == 0)
		return GST_RTSP_STS_OK;
	g_mutex_lock(&s->lock);
	old = GPOINTER_TO_INT(g_object_get_qdata(G_OBJECT(client), cam_quark));
	if (old != id) {
		if (old)
			s->cams[old - 1].clients--;
		s->cams[id - 1].clients++;
		g_object_set_qdata(G_OBJECT(client), cam_quark,
				   GINT_TO_POINTER(id));
	}
	slow = s->cams[id - 1].slow_ms;
	g_mutex_unlock(&s->lock);
	if (slow)
		g_usleep((gulong)slow * 1000);
	return GST_RTSP_STS_OK;
}

static void on_client_closed(GstRTSPClient *client, gpointer data)
{
	struct server *s = data;
	int old;

	g_mutex_lock(&s->lock);
	old = GPOINTER_TO_INT(g_object_get_qdata(G_OBJECT(client), cam_quark));
	if (old) {
		s->cams[old - 1].clients--;
		g_object_set_qdata(G_OBJECT(client), cam_quark, NULL);
	}
	g_mutex_unlock(&s->lock);
}

static void on_client_connected(GstRTSPServer *rtsp, GstRTSPClient *client,
				gpointer data)
{
	(void)rtsp;
	for (size_t i = 0; i < G_N_ELEMENTS(request_signals); i++)
		g_signal_connect(client, request_signals[i],
				 G_CALLBACK(on_pre_request), data);
	g_signal_connect(client, "closed", G_CALLBACK(on_client_closed), data);
}

/* Client filter: keep a reference to the clients of camera data (or of
 * every camera when data is NULL). */
static GstRTSPFilterResult match_client(GstRTSPServer *rtsp,
					GstRTSPClient *client, gpointer data)
{
	struct cam *c = data;
	int id;

	(void)rtsp;
	if (!c)
		return GST_RTSP_FILTER_REF;
	g_mutex_lock(&c->s->lock);
	id = GPOINTER_TO_INT(g_object_get_qdata(G_OBJECT(client), cam_quark));
	g_mutex_unlock(&c->s->lock);
	return id == c->id ? GST_RTSP_FILTER_REF : GST_RTSP_FILTER_KEEP;
}

/* Session filter: remove the sessions holding camera data's media (or
 * every session when data is NULL). */
static GstRTSPFilterResult match_session(GstRTSPSessionPool *pool,
					 GstRTSPSession *session,
					 gpointer data)
{
	struct cam *c = data;
	gint matched = 0;

	(void)pool;
	if (!c)
		return GST_RTSP_FILTER_REMOVE;
	if (gst_rtsp_session_get_media(session, c->path, &matched) &&
	    (size_t)matched == strlen(c->path))
		return GST_RTSP_FILTER_REMOVE;
	return GST_RTSP_FILTER_KEEP;
}

/* Closes the connections and sessions of camera c (every camera if c is
 * NULL). */
static void close_viewers(struct server *s, struct cam *c)
{
	GList *clients, *l;
	GstRTSPSessionPool *pool;

	clients = gst_rtsp_server_client_filter(s->rtsp, match_client, c);
	for (l = clients; l; l = l->next)
		gst_rtsp_client_close(l->data);
	g_list_free_full(clients, g_object_unref);

	pool = gst_rtsp_server_get_session_pool(s->rtsp);
	g_list_free_full(gst_rtsp_session_pool_filter(pool, match_session, c),
			 g_object_unref);
	g_object_unref(pool);
}

static gboolean cleanup_sessions(gpointer data)
{
	struct server *s = data;
	GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool(s->rtsp);

	gst_rtsp_session_pool_cleanup(pool);
	g_object_unref(pool);
	return G_SOURCE_CONTINUE;
}

/* --- actions -------------------------------------------------------- */

static void cam_down(struct server *s, struct cam *c)
{
	struct media_refs r = {0};

	g_mutex_lock(&s->lock);
	if (c->state == ST_DOWN) {
		g_mutex_unlock(&s->lock);
		return;
	}
	c->state = ST_DOWN;
	atomic_store(&c->mute_rtcp, 0);
	detach_media(c, &r);
	g_mutex_unlock(&s->lock);

	gst_rtsp_mount_points_remove_factory(s->mounts, c->path);
	close_viewers(s, c);
	drop_media(&r);
}

/* Up from any state; from a stall the feeder waits for a keyframe. */
static void cam_up(struct server *s, struct cam *c)
{
	enum cam_state was;

	g_mutex_lock(&s->lock);
	was = c->state;
	if (was == ST_STALL) {
		c->need_key = 1;
		c->discont = 1;
	}
	c->state = ST_UP;
	atomic_store(&c->mute_rtcp, 0);
	g_cond_signal(&s->cond);
	g_mutex_unlock(&s->lock);
	if (was == ST_DOWN)
		mount(s, c);
}

static const char *action_name(enum cam_action a)
{
	switch (a) {
	case CAM_DOWN:
		return "down";
	case CAM_UP:
		return "up";
	case CAM_STALL:
		return "stall";
	case CAM_STALL_RTCP:
		return "stall (rtcp still sent)";
	case CAM_RESUME:
		return "resume";
	case CAM_JUMP:
		return "jump";
	}
	return "?";
}

int server_act(struct server *s, int id, enum cam_action a, int64_t arg,
	       char *err, size_t errsize)
{
	struct cam *c;
	int ret = 0;

	if (id < 1 || id > s->ncams) {
		snprintf(err, errsize, "unknown camera 'cam%d'", id);
		return -ENOENT;
	}
	c = &s->cams[id - 1];
	switch (a) {
	case CAM_DOWN:
		cam_down(s, c);
		break;
	case CAM_UP:
		cam_up(s, c);
		break;
	case CAM_STALL:
	case CAM_STALL_RTCP:
		g_mutex_lock(&s->lock);
		if (c->state == ST_DOWN) {
			snprintf(err, errsize, "cam%d is down", id);
			ret = -EBUSY;
		} else {
			c->state = ST_STALL;
			atomic_store(&c->mute_rtcp, a == CAM_STALL);
		}
		g_mutex_unlock(&s->lock);
		break;
	case CAM_RESUME:
		g_mutex_lock(&s->lock);
		if (c->state == ST_DOWN) {
			snprintf(err, errsize, "cam%d is down", id);
			ret = -EBUSY;
		}
		g_mutex_unlock(&s->lock);
		if (ret == 0)
			cam_up(s, c);
		break;
	case CAM_JUMP:
		atomic_fetch_add(&c->jump_ns, arg * (int64_t)GST_MSECOND);
		break;
	}
	if (ret == 0)
		log_debug("cam%d: %s", id, action_name(a));
	return ret;
}

int server_status(struct server *s, int id, char *buf, size_t size)
{
	struct cam *c;

	if (id < 1 || id > s->ncams)
		return -ENOENT;
	c = &s->cams[id - 1];
	g_mutex_lock(&s->lock);
	snprintf(buf, size, "cam%d %s frames=%" G_GUINT64_FORMAT " clients=%d",
		 id, state_names[c->state], c->frames, c->clients);
	g_mutex_unlock(&s->lock);
	return 0;
}

int server_cameras(const struct server *s)
{
	return s->ncams;
}

int server_port(const struct server *s)
{
	return s->port;
}

/* --- life cycle ----------------------------------------------------- */

static char *make_launch(const struct server_opts *o, const struct clip *clip)
{
	/* The queues are bounded (about 4 s); if a media is prepared but
	 * never played, the oldest buffers are dropped. */
	const char *src = "is-live=true format=time do-timestamp=false "
			  "emit-signals=false max-bytes=0 max-time=0 "
			  "leaky-type=downstream";
	const char *pay = o->codec == CLIP_H265 ? "rtph265pay" : "rtph264pay";
	char *video, *launch;

	video = g_strdup_printf("appsrc name=vsrc %s max-buffers=%u ! %s "
				"name=pay0 pt=96 config-interval=-1",
				src, 250u, pay);
	if (clip->audio.n > 0)
		launch = g_strdup_printf("( %s appsrc name=asrc %s "
					 "max-buffers=%u ! rtpmp4gpay "
					 "name=pay1 pt=97 )",
					 video, src, 250u);
	else
		launch = g_strdup_printf("( %s )", video);
	g_free(video);
	return launch;
}

static GstRTSPAuth *make_auth(const char *user, const char *password)
{
	GstRTSPAuth *auth = gst_rtsp_auth_new();
	GstRTSPToken *token;
	char *basic;

	token = gst_rtsp_token_new(GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE,
				   G_TYPE_STRING, ROLE, NULL);
	basic = gst_rtsp_auth_make_basic(user, password);
	gst_rtsp_auth_add_basic(auth, basic, token);
	gst_rtsp_auth_add_digest(auth, user, password, token);
	gst_rtsp_auth_set_supported_methods(
		auth, GST_RTSP_AUTH_BASIC | GST_RTSP_AUTH_DIGEST);
	g_free(basic);
	gst_rtsp_token_unref(token);
	return auth;
}

struct server *server_new(const struct server_opts *o, const struct clip *clip)
{
	struct server *s = g_new0(struct server, 1);
	GError *err = NULL;
	char service[16];
	int slow = 0;

	cam_quark = g_quark_from_static_string("camsim-camera");
	g_mutex_init(&s->lock);
	g_cond_init(&s->cond);
	s->clip = clip;
	s->ncams = o->cameras;
	s->clock = gst_system_clock_obtain();
	g_object_set(s->clock, "clock-type", GST_CLOCK_TYPE_MONOTONIC, NULL);
	s->launch = make_launch(o, clip);
	s->cams = g_new0(struct cam, s->ncams);
	for (int k = 0; k < s->ncams; k++) {
		struct cam *c = &s->cams[k];

		c->s = s;
		c->id = k + 1;
		snprintf(c->path, sizeof(c->path), "/cam%d", c->id);
		c->state = ST_UP;
		c->slow_ms = o->slow_ms ? o->slow_ms[k] : 0;
		if (c->slow_ms)
			slow = 1;
		atomic_init(&c->jump_ns, 0);
		atomic_init(&c->mute_rtcp, 0);
	}

	s->rtsp = gst_rtsp_server_new();
	gst_rtsp_server_set_address(s->rtsp, o->bind);
	snprintf(service, sizeof(service), "%d", o->port);
	gst_rtsp_server_set_service(s->rtsp, service);
	if (o->user) {
		s->auth = make_auth(o->user, o->password);
		gst_rtsp_server_set_auth(s->rtsp, s->auth);
	}
	if (slow) {
		/* one thread per client, so a slow camera delays only its
		 * own viewers */
		GstRTSPThreadPool *tp = gst_rtsp_server_get_thread_pool(s->rtsp);

		gst_rtsp_thread_pool_set_max_threads(tp, -1);
		g_object_unref(tp);
	}
	g_signal_connect(s->rtsp, "client-connected",
			 G_CALLBACK(on_client_connected), s);
	s->mounts = gst_rtsp_server_get_mount_points(s->rtsp);
	for (int k = 0; k < s->ncams; k++)
		mount(s, &s->cams[k]);

	s->source = gst_rtsp_server_create_source(s->rtsp, NULL, &err);
	if (!s->source) {
		log_warnx("cannot listen on %s port %d: %s", o->bind, o->port,
			  err ? err->message : "unknown error");
		g_clear_error(&err);
		server_free(&s);
		return NULL;
	}
	g_source_attach(s->source, NULL);
	s->port = gst_rtsp_server_get_bound_port(s->rtsp);
	s->cleanup_timer = g_timeout_add_seconds(SESSION_CLEANUP_SECONDS,
						 cleanup_sessions, s);
	s->feeder = g_thread_new("camsim-feeder", feeder_main, s);
	return s;
}

void server_free(struct server **sp)
{
	struct server *s = *sp;

	if (!s)
		return;
	if (s->feeder) {
		g_mutex_lock(&s->lock);
		s->stopping = 1;
		g_cond_signal(&s->cond);
		g_mutex_unlock(&s->lock);
		g_thread_join(s->feeder);
	}
	if (s->cleanup_timer)
		g_source_remove(s->cleanup_timer);
	for (int k = 0; k < s->ncams; k++)
		gst_rtsp_mount_points_remove_factory(s->mounts,
						     s->cams[k].path);
	if (s->source) {
		close_viewers(s, NULL);
		g_source_destroy(s->source);
		g_source_unref(s->source);
	}
	for (int k = 0; k < s->ncams; k++) {
		struct cam *c = &s->cams[k];
		struct media_refs r = {0};

		g_mutex_lock(&s->lock);
		if (c->media)
			g_signal_handlers_disconnect_by_data(c->media, c);
		detach_media(c, &r);
		g_mutex_unlock(&s->lock);
		drop_media(&r);
	}
	g_object_unref(s->mounts);
	if (s->auth)
		g_object_unref(s->auth);
	g_object_unref(s->rtsp);
	gst_object_unref(s->clock);
	g_free(s->launch);
	g_free(s->cams);
	g_mutex_clear(&s->lock);
	g_cond_clear(&s->cond);
	g_free(s);
	*sp = NULL;
}
