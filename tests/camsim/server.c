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
 * Faults.  down: the mount point is removed (DESCRIBE gets 404) and every
 * client that asked for the camera is closed, which ends its sessions; up
 * mounts a fresh factory, so the next viewer gets a new media from a
 * keyframe.  stall: the feeder stops pushing and a probe drops the
 * outgoing RTCP too, so the data channel goes silent while RTSP requests
 * are still answered (a media created while stalled gets its first frame
 * only, so DESCRIBE can answer); the "rtcp" variant keeps sending RTCP
 * reports, as many real cameras do when their encoder hangs (GStreamer's
 * RTP session itself stops reporting some 25 s later).  resume
 * waits for the next keyframe on the clip's timeline.
 * jump: a pad probe after each payloader adds an offset to the RTP
 * timestamps.  slow: every RTSP request naming the camera is answered late.
 * resize: the feeder switches the camera to the other clip (--alt-size) on
 * the next frame slot, starting it from its first frame (a keyframe) and
 * setting the new caps on the appsrc first, so the payloader sends the new
 * parameter sets in-band in the same RTSP session, as a camera does when
 * its resolution is changed while a viewer is connected; the SDP of later
 * sessions describes the clip the camera is on.
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

#define SLOTS (1 + SCENE_COUNT)
#define SLOT_ALT 1
#define SLOT_SCENE(sc) (1 + (sc))

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
	int alt;	/* the clip slot fed (0 clip, 1 alt, 1 + scene) */
	int want_alt;	/* the slot asked for: the feeder switches */
	_Atomic int64_t ntp_offset_ns; /* added to its sender reports' NTP time */

	guint64 frames; /* video units pushed since camsim started */
	int clients;	/* connected clients whose last request named us */
};

struct server {
	gint refs; /* server_free() and every object whose handlers use us */
	const struct clip *clip; /* read by the feeder only */
	GstCaps *vcaps;		 /* the clip's caps, for new medias */
	GstCaps *acaps;
	/* every clip by slot: 0 the clip, 1 the --alt-size clip, 1 + scene
	 * the --pictures scenes; NULL where there is none */
	const struct clip *slot[SLOTS];
	GstCaps *slot_vcaps[SLOTS];
	GstCaps *slot_acaps[SLOTS];
	char size[SLOTS][24]; /* "WxH" of each, for status */
	int start_slot;	      /* where a camera starts */
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

	GstClockTime epoch; /* clock time at start: origin of the grid */
	GstClockTime grid;  /* one video frame period */

	GMutex lock;
	GCond cond;
	GThread *feeder;
	int stopping;
};

static GQuark cam_quark; /* on a client: the camera it last asked for */
static GQuark ctx_quark; /* on a client: the main context serving it */

static const char *const request_signals[] = {
	"pre-options-request",	     "pre-describe-request",
	"pre-setup-request",	     "pre-play-request",
	"pre-pause-request",	     "pre-teardown-request",
	"pre-get-parameter-request", "pre-set-parameter-request",
};

/* --- lifetime ------------------------------------------------------ */

/* The server's memory (cameras, lock) is used by signal handlers and probes
 * on clients, factories and medias that gst-rtsp-server may finalize in its
 * own threads after server_free() has returned.  Each such object holds a
 * reference on the server, dropped by a weak-ref notify when it is
 * finalized; the last reference frees the memory. */
static void server_destroy(struct server *s)
{
	gst_caps_unref(s->vcaps);
	if (s->acaps)
		gst_caps_unref(s->acaps);
	for (int k = 1; k < SLOTS; k++) {
		if (s->slot_vcaps[k])
			gst_caps_unref(s->slot_vcaps[k]);
		if (s->slot_acaps[k])
			gst_caps_unref(s->slot_acaps[k]);
	}
	g_free(s->launch);
	g_free(s->cams);
	g_mutex_clear(&s->lock);
	g_cond_clear(&s->cond);
	g_free(s);
}

static void server_release(struct server *s)
{
	if (g_atomic_int_dec_and_test(&s->refs))
		server_destroy(s);
}

static void on_object_gone(gpointer data, GObject *gone)
{
	(void)gone;
	server_release(data);
}

/* Keeps s alive as long as obj lives. */
static void hold_for(struct server *s, gpointer obj)
{
	g_atomic_int_inc(&s->refs);
	g_object_weak_ref(G_OBJECT(obj), on_object_gone, s);
}

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
	const struct clip *clip = s->slot[c->alt];
	const struct clip_track *t = video ? &clip->video : &clip->audio;
	GstElement *src = video ? c->vsrc : c->asrc;
	size_t *i = video ? &c->vi : &c->ai;
	guint64 *loop = video ? &c->vloop : &c->aloop;
	guint64 *pushed = video ? &c->vpushed : &c->apushed;

	if (!src || t->n == 0)
		return;
	for (;;) {
		const struct clip_unit *u = &t->units[*i];
		GstClockTime due = c->origin + *loop * clip->duration + u->pts;
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

/* The first moment on the frame grid at or after t.  All cameras start
 * their clip on the same grid, so their frames fall due together and the
 * feeder wakes once per frame period rather than once per camera. */
static GstClockTime on_grid(const struct server *s, GstClockTime t)
{
	GstClockTime d = t - s->epoch;

	return s->epoch + (d + s->grid - 1) / s->grid * s->grid;
}

/* Moves camera c to the clip it asked for, from that clip's first frame
 * on the first frame slot after now.  appsrc queues the new caps in line
 * with the buffers, so they reach the payloader just before the first
 * frame of the new clip. */
static void switch_clip(struct server *s, struct cam *c, GstClockTime now)
{
	c->alt = c->want_alt;
	g_object_set(c->vsrc, "caps", s->slot_vcaps[c->alt], NULL);
	if (c->asrc && s->slot_acaps[c->alt])
		g_object_set(c->asrc, "caps", s->slot_acaps[c->alt], NULL);
	c->origin = on_grid(s, now + 1);
	c->vi = c->ai = 0;
	c->vloop = c->aloop = 0;
	c->need_key = 0;
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
				c->origin = on_grid(s, now);
				c->vi = c->ai = 0;
				c->vloop = c->aloop = 0;
				c->vpushed = c->apushed = 0;
				c->need_key = 0;
				c->discont = 0;
			} else if (c->want_alt != c->alt) {
				switch_clip(s, c, now);
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

/* Adds offset_ns to the NTP timestamp of every sender report in the
 * compound RTCP packet b (a camera whose clock is off). */
static GstBuffer *offset_sr(GstBuffer *b, int64_t offset_ns)
{
	GstMapInfo m;

	b = gst_buffer_make_writable(b);
	if (!gst_buffer_map(b, &m, GST_MAP_READWRITE))
		return b;
	for (gsize off = 0; off + 16 <= m.size;) {
		guint8 *p = m.data + off;
		gsize len = ((gsize)GST_READ_UINT16_BE(p + 2) + 1) * 4;

		if ((p[0] >> 6) != 2 || len > m.size - off)
			break;
		if (p[1] == 200 && len >= 28) {
			guint64 ntp = GST_READ_UINT64_BE(p + 8);
			gint64 frac = (gint64)((double)offset_ns * 4294967296.0 / 1e9);

			GST_WRITE_UINT64_BE(p + 8, ntp + (guint64)frac);
		}
		off += len;
	}
	gst_buffer_unmap(b, &m);
	return b;
}

static gboolean offset_one(GstBuffer **b, guint idx, gpointer data)
{
	(void)idx;
	*b = offset_sr(*b, *(int64_t *)data);
	return TRUE;
}

static GstPadProbeReturn on_rtcp(GstPad *pad, GstPadProbeInfo *info,
				 gpointer data)
{
	struct cam *c = data;
	int64_t offset;

	(void)pad;
	if (atomic_load_explicit(&c->mute_rtcp, memory_order_relaxed))
		return GST_PAD_PROBE_DROP;
	offset = atomic_load_explicit(&c->ntp_offset_ns, memory_order_relaxed);
	if (offset == 0)
		return GST_PAD_PROBE_OK;
	if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
		info->data = offset_sr(GST_PAD_PROBE_INFO_BUFFER(info), offset);
	} else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
		GstBufferList *l = gst_buffer_list_make_writable(GST_PAD_PROBE_INFO_BUFFER_LIST(info));

		gst_buffer_list_foreach(l, offset_one, &offset);
		info->data = l;
	}
	return GST_PAD_PROBE_OK;
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

/* References to a camera's media and its sources, taken out of the camera
 * under the lock and dropped after unlocking. */
struct media_refs {
	GstRTSPMedia *media;
	GstElement *vsrc;
	GstElement *asrc;
};

/* Moves the camera's media references into r; call with the lock held and
 * release them with drop_media() after unlocking. */
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
	int alt;

	(void)f;
	vsrc = gst_bin_get_by_name(GST_BIN(bin), "vsrc");
	asrc = gst_bin_get_by_name(GST_BIN(bin), "asrc");
	if (!vsrc) {
		log_warnx("cam%d: media has no video source", c->id);
		if (asrc)
			gst_object_unref(asrc);
		goto out;
	}
	g_mutex_lock(&s->lock);
	alt = c->alt = c->want_alt; /* a new media starts on the asked clip */
	g_mutex_unlock(&s->lock);
	g_object_set(vsrc, "caps", s->slot_vcaps[alt], NULL);
	if (asrc && s->slot_acaps[alt])
		g_object_set(asrc, "caps", s->slot_acaps[alt], NULL);
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
	hold_for(s, media);
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
	log_debug("cam%d: new media", c->id);
out:
	if (pipeline)
		gst_object_unref(pipeline);
	gst_object_unref(bin);
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
	hold_for(s, f);
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
	if (!g_object_get_qdata(G_OBJECT(client), ctx_quark)) {
		/* we run from the client's watch: remember its context, so
		 * a down can close the client from its own thread */
		GSource *cur = g_main_current_source();
		GMainContext *mc = cur ? g_source_get_context(cur) : NULL;

		if (mc)
			g_object_set_qdata_full(G_OBJECT(client), ctx_quark,
						g_main_context_ref(mc),
						(GDestroyNotify)
							g_main_context_unref);
	}
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
	hold_for(data, client);
	for (size_t i = 0; i < G_N_ELEMENTS(request_signals); i++)
		g_signal_connect(client, request_signals[i],
				 G_CALLBACK(on_pre_request), data);
	g_signal_connect(client, "closed", G_CALLBACK(on_client_closed), data);
}

/* Client filter: keep a reference to the clients of camera data. */
static GstRTSPFilterResult match_client(GstRTSPServer *rtsp,
					GstRTSPClient *client, gpointer data)
{
	struct cam *c = data;
	int id;

	(void)rtsp;
	g_mutex_lock(&c->s->lock);
	id = GPOINTER_TO_INT(g_object_get_qdata(G_OBJECT(client), cam_quark));
	g_mutex_unlock(&c->s->lock);
	return id == c->id ? GST_RTSP_FILTER_REF : GST_RTSP_FILTER_KEEP;
}

/* Session filter for shutting down: remove every session. */
static GstRTSPFilterResult remove_session(GstRTSPSessionPool *pool,
					  GstRTSPSession *session,
					  gpointer data)
{
	(void)pool;
	(void)session;
	(void)data;
	return GST_RTSP_FILTER_REMOVE;
}

static gboolean close_client_idle(gpointer data)
{
	GstRTSPClient *client = g_weak_ref_get(data);

	if (client) {
		gst_rtsp_client_close(client);
		g_object_unref(client);
	}
	return G_SOURCE_REMOVE;
}

static void free_weak_ref(gpointer data)
{
	g_weak_ref_clear(data);
	g_free(data);
}

/* Closes a client from the thread that serves it, so the close never cuts
 * into a request being handled there (gst_rtsp_client_close() from another
 * thread can, and GLib then complains about a closed socket); a client we
 * know no context of is closed at once. */
static void close_client(GstRTSPClient *client)
{
	GMainContext *ctx = g_object_get_qdata(G_OBJECT(client), ctx_quark);
	GWeakRef *w;
	GSource *src;

	if (!ctx) {
		gst_rtsp_client_close(client);
		return;
	}
	w = g_new0(GWeakRef, 1);
	g_weak_ref_init(w, client);
	src = g_idle_source_new();
	g_source_set_callback(src, close_client_idle, w, free_weak_ref);
	g_source_attach(src, ctx);
	g_source_unref(src);
}

/* Closes the connections of camera c's clients, each from its own thread.
 * Closing is enough: gst-rtsp-server then stops the client's session
 * medias (TCP transports always; UDP ones too, factories being
 * stop-on-disconnect by default).  Removing their sessions from the pool
 * here as well would race with that cleanup in the client's thread. */
static void close_viewers(struct server *s, struct cam *c)
{
	GList *clients = gst_rtsp_server_client_filter(s->rtsp, match_client, c);

	for (GList *l = clients; l; l = l->next)
		close_client(l->data);
	g_list_free_full(clients, g_object_unref);
}

/* Closes every client at once and removes every session (shutting down). */
static void close_everything(struct server *s)
{
	GList *clients = gst_rtsp_server_client_filter(s->rtsp, NULL, NULL);
	GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool(s->rtsp);

	for (GList *l = clients; l; l = l->next)
		gst_rtsp_client_close(l->data);
	g_list_free_full(clients, g_object_unref);
	g_list_free_full(gst_rtsp_session_pool_filter(pool, remove_session,
						      NULL),
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
	case CAM_RESIZE:
		return "resize";
	case CAM_PICTURE:
		return "picture";
	case CAM_CLOCK:
		return "clock";
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
	case CAM_RESIZE:
		if (!s->slot[SLOT_ALT]) {
			snprintf(err, errsize, "no --alt-size clip to switch to");
			ret = -EBUSY;
			break;
		}
		g_mutex_lock(&s->lock);
		c->want_alt = c->want_alt == SLOT_ALT ? 0 : SLOT_ALT;
		g_cond_signal(&s->cond);
		g_mutex_unlock(&s->lock);
		break;
	case CAM_PICTURE: {
		int slot = arg == SCENE_BARS ? 0 : SLOT_SCENE((int)arg);
		if (arg < 0 || arg >= SCENE_COUNT || !s->slot[slot]) {
			snprintf(err, errsize, "no --pictures clips to switch to");
			ret = -EBUSY;
			break;
		}
		g_mutex_lock(&s->lock);
		c->want_alt = slot;
		g_cond_signal(&s->cond);
		g_mutex_unlock(&s->lock);
		break;
	}
	case CAM_CLOCK:
		atomic_store(&c->ntp_offset_ns, arg * (int64_t)GST_MSECOND);
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
	snprintf(buf, size,
		 "cam%d %s frames=%" G_GUINT64_FORMAT " clients=%d size=%s picture=%s", id,
		 state_names[c->state], c->frames, c->clients,
		 s->size[c->want_alt],
		 clip_scene_name(c->want_alt > SLOT_ALT ? c->want_alt - 1 : SCENE_BARS));
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

/* Writes "WxH" of video caps into buf ("?" when they do not say). */
static void caps_size(const GstCaps *caps, char *buf, size_t size)
{
	const GstStructure *st = gst_caps_get_structure(caps, 0);
	int w = 0, h = 0;

	if (gst_structure_get_int(st, "width", &w) &&
	    gst_structure_get_int(st, "height", &h))
		snprintf(buf, size, "%dx%d", w, h);
	else
		snprintf(buf, size, "?");
}

struct server *server_new(const struct server_opts *o, const struct clip *clip)
{
	struct server *s = g_new0(struct server, 1);
	GError *err = NULL;
	char service[16];
	int slow = 0;

	cam_quark = g_quark_from_static_string("camsim-camera");
	ctx_quark = g_quark_from_static_string("camsim-context");
	s->refs = 1;
	g_mutex_init(&s->lock);
	g_cond_init(&s->cond);
	s->clip = clip;
	s->vcaps = gst_caps_ref(clip->video.caps);
	s->acaps = clip->audio.n > 0 ? gst_caps_ref(clip->audio.caps) : NULL;
	s->slot[0] = clip;
	s->slot_vcaps[0] = s->vcaps;
	s->slot_acaps[0] = s->acaps;
	caps_size(s->vcaps, s->size[0], sizeof(s->size[0]));
	s->slot[SLOT_ALT] = o->alt;
	for (int sc = SCENE_STATIC; sc < SCENE_COUNT; sc++)
		s->slot[SLOT_SCENE(sc)] = o->scenes[sc];
	for (int k = 1; k < SLOTS; k++) {
		const struct clip *cl = s->slot[k];
		if (!cl)
			continue;
		s->slot_vcaps[k] = gst_caps_ref(cl->video.caps);
		s->slot_acaps[k] = s->acaps && cl->audio.n > 0 ? gst_caps_ref(cl->audio.caps) : NULL;
		caps_size(s->slot_vcaps[k], s->size[k], sizeof(s->size[k]));
	}
	s->start_slot = s->slot[SLOT_SCENE(SCENE_STATIC)] ? SLOT_SCENE(SCENE_STATIC) : 0;
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
		atomic_init(&c->ntp_offset_ns, 0);
		c->alt = c->want_alt = s->start_slot;
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
	s->epoch = gst_clock_get_time(s->clock);
	s->grid = MAX(clip->duration / clip->video.n, (GstClockTime)1);
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
		g_source_destroy(s->source); /* no new clients */
		g_source_unref(s->source);
		close_everything(s);
	}
	for (int k = 0; k < s->ncams; k++) {
		struct media_refs r = {0};

		g_mutex_lock(&s->lock);
		detach_media(&s->cams[k], &r);
		g_mutex_unlock(&s->lock);
		drop_media(&r);
	}
	g_object_unref(s->mounts);
	if (s->auth)
		g_object_unref(s->auth);
	g_object_unref(s->rtsp);
	gst_object_unref(s->clock);
	server_release(s);
	*sp = NULL;
}
