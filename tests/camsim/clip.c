/*
 * clip.c: the test clip every simulated camera loops.
 *
 * The clip is encoded once per set of parameters and cached as an MP4 file
 * whose name spells every parameter, so a second run (or a second camsim
 * started at the same moment) reuses it.  It is encoded into a temporary
 * name in the cache folder and rename()d into place, so no process ever
 * opens a half-written clip; two processes racing both encode and the last
 * rename wins, which is harmless since both files are complete and equal.
 * Temporary files of processes that died while encoding are removed by the
 * next one that encodes the same clip.
 *
 * Encoding: videotestsrc (SMPTE bars scrolling sideways, plus the running
 * time drawn by timeoverlay when that element exists) into x264enc or
 * x265enc with no B-frames, a fixed GOP, no scene-cut keyframes and one
 * slice per frame (as most cameras send, and as ffmpeg's RTP depacketiser
 * handles best), and optionally a sine tone into AAC; mp4mux writes the
 * file.  The cache name starts with a recipe number (CLIP_RECIPE), so a
 * change to this recipe never picks up a clip made by the old one.
 *
 * Loading: qtdemux feeds one appsink per track; every access unit is kept
 * as the GstBuffer the demuxer made, with its timestamp rebased so the
 * first video frame is at 0.  In-band parameter sets and access unit
 * delimiters are dropped from the video (only the first frame has any):
 * the payloader sends SPS/PPS (VPS) from codec_data before every keyframe,
 * so the first keyframe looks like every other one on the wire.  The
 * buffers are never written to: the server makes a shallow copy (sharing
 * the memory) to stamp each push.  Audio
 * units that would run past the end of the video are dropped, so the loop
 * period is the video duration exactly.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include "camsim.h"

#define LOAD_TIMEOUT (30 * GST_SECOND)

/* Bump when make_clip() changes what it encodes: the cache file name
 * carries it, so stale clips are not reused. */
#define CLIP_RECIPE 2
/* the picture variants' own recipe (--pictures), in their names */
#define SCENE_RECIPE_TEXT "2"

struct element_need {
	const char *name;
	const char *package;
};

static const char *codec_name(enum clip_codec c)
{
	return c == CLIP_H265 ? "h265" : "h264";
}

static const char *const scene_names[SCENE_COUNT] = {
	"bars", "normal", "black", "frozen", "covered", "blurred", "moved",
};

const char *clip_scene_name(enum clip_scene sc)
{
	return sc >= 0 && sc < SCENE_COUNT ? scene_names[sc] : "?";
}

int clip_scene_parse(const char *s, size_t len)
{
	for (int i = 0; i < SCENE_COUNT; i++)
		if (strlen(scene_names[i]) == len && strncmp(s, scene_names[i], len) == 0)
			return i;
	return -EINVAL;
}

int clip_cache_path(const struct clip_params *p, const char *dir, char *buf,
		    size_t size)
{
	int n;

	n = snprintf(buf, size, "%s/clip-r%d-%s-%dx%d-%dfps-gop%d-%dk-%ds%s%s%s.mp4",
		     dir, CLIP_RECIPE, codec_name(p->codec), p->width, p->height, p->fps,
		     p->gop_seconds, p->bitrate_kbit, p->clip_seconds,
		     p->audio ? "-aac" : "", p->scene ? "-p" SCENE_RECIPE_TEXT "-" : "",
		     p->scene ? scene_names[p->scene] : "");
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int have_element(const char *name)
{
	GstElementFactory *f = gst_element_factory_find(name);

	if (!f)
		return 0;
	gst_object_unref(f);
	return 1;
}

/* Returns 0 if every element exists, else logs the first missing one. */
static int check_elements(const struct element_need *need, size_t n,
			  const char *what)
{
	for (size_t i = 0; i < n; i++) {
		if (!have_element(need[i].name)) {
			log_warnx("cannot %s: gstreamer element '%s' is "
				  "missing (install %s)",
				  what, need[i].name, need[i].package);
			return -ENOENT;
		}
	}
	return 0;
}

static const char *pick_aac_encoder(void)
{
	static const char *const encoders[] = {"avenc_aac", "fdkaacenc",
					       "voaacenc"};

	for (size_t i = 0; i < G_N_ELEMENTS(encoders); i++)
		if (have_element(encoders[i]))
			return encoders[i];
	return NULL;
}

/* Runs pipeline until EOS; returns 0 or -EIO after logging the error. */
static int run_to_eos(GstElement *pipeline, const char *what)
{
	GstBus *bus = gst_element_get_bus(pipeline);
	GstMessage *msg;
	int ret = -EIO;

	if (gst_element_set_state(pipeline, GST_STATE_PLAYING) ==
	    GST_STATE_CHANGE_FAILURE) {
		log_warnx("cannot %s: pipeline does not start", what);
		goto out;
	}
	msg = gst_bus_timed_pop_filtered(bus, GST_CLOCK_TIME_NONE,
					 GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
	if (msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
		ret = 0;
	} else if (msg) {
		GError *err = NULL;

		gst_message_parse_error(msg, &err, NULL);
		log_warnx("cannot %s: %s", what, err ? err->message : "error");
		g_clear_error(&err);
	}
	if (msg)
		gst_message_unref(msg);
out:
	gst_element_set_state(pipeline, GST_STATE_NULL);
	gst_object_unref(bus);
	return ret;
}

/* Removes the temporary files of camsim processes that died while encoding
 * this clip ("<path>.tmp-<pid>" with no such process). */
static void remove_stale_temps(const char *path)
{
	char *dir = g_path_get_dirname(path);
	char *base = g_path_get_basename(path);
	size_t blen = strlen(base);
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		char *end, *full;
		long pid;

		if (strncmp(name, base, blen) != 0 ||
		    strncmp(name + blen, ".tmp-", 5) != 0)
			continue;
		errno = 0;
		pid = strtol(name + blen + 5, &end, 10);
		if (errno || *end || pid <= 0 || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		full = g_build_filename(dir, name, NULL);
		unlink(full);
		g_free(full);
	}
	if (d)
		g_dir_close(d);
	g_free(dir);
	g_free(base);
}

/* The raw video of p's scene, ending in caps of the clip's size. */
static char *scene_source(const struct clip_params *p)
{
	int n = p->fps * p->clip_seconds, w = p->width, h = p->height;
	/* smpte75: bars without the snow patch of smpte, so that only the
	 * clock moves in the static scene */
	const char *pattern = "pattern=smpte75";
	char *caps = g_strdup_printf("video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1",
				     w, h, p->fps);
	char *src;

	switch (p->scene) {
	case SCENE_BLACK: pattern = "pattern=black"; break;
	case SCENE_COVERED: pattern = "pattern=solid-color foreground-color=0xff404040"; break;
	default: break;
	}
	switch (p->scene) {
	case SCENE_BARS:
		src = g_strdup_printf("videotestsrc num-buffers=%d pattern=smpte horizontal-speed=4 ! %s",
				      n, caps);
		break;
	case SCENE_BLURRED:
		/* out of focus: the scene at a tenth of the size, scaled back */
		src = g_strdup_printf("videotestsrc num-buffers=%d pattern=smpte75 ! "
				      "video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! "
				      "videoscale method=bilinear ! %s",
				      n, MAX(w / 10, 16), MAX(h / 10, 16), p->fps, caps);
		break;
	case SCENE_MOVED:
		/* knocked: a third of the scene, off to one side, fills the view */
		src = g_strdup_printf("videotestsrc num-buffers=%d pattern=smpte75 ! "
				      "video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! "
				      "videocrop left=%d top=%d right=%d bottom=%d ! "
				      "videoscale ! %s",
				      n, w, h, p->fps, w / 2, h / 3, w / 8, h / 4, caps);
		break;
	case SCENE_FROZEN:
		/* the picture stopped: one frame of the static scene, clock
		 * and all, repeated */
		src = g_strdup_printf("videotestsrc num-buffers=1 pattern=smpte75 ! %s ! "
				      "timeoverlay shaded-background=true font-desc=\"Sans 28\" "
				      "halignment=right valignment=top ! "
				      "imagefreeze num-buffers=%d ! %s",
				      caps, n, caps);
		break;
	default:
		src = g_strdup_printf("videotestsrc num-buffers=%d %s ! %s", n, pattern, caps);
		break;
	}
	g_free(caps);
	return src;
}

static int make_clip(const struct clip_params *p, const char *path)
{
	static const struct element_need common[] = {
		{"videotestsrc", "gstreamer1.0-plugins-base"},
		{"mp4mux", "gstreamer1.0-plugins-good"},
		{"filesink", "gstreamer1.0 core"},
	};
	static const struct element_need h264[] = {
		{"x264enc", "gstreamer1.0-plugins-ugly"},
		{"h264parse", "gstreamer1.0-plugins-bad"},
	};
	static const struct element_need h265[] = {
		{"x265enc", "gstreamer1.0-plugins-bad"},
		{"h265parse", "gstreamer1.0-plugins-bad"},
	};
	static const struct element_need audio[] = {
		{"audiotestsrc", "gstreamer1.0-plugins-base"},
		{"aacparse", "gstreamer1.0-plugins-good"},
	};
	char tmp[4096];
	char *desc = NULL, *venc = NULL, *aud = NULL, *scene = NULL;
	const char *aacenc = NULL;
	GstElement *pipeline = NULL, *sink = NULL;
	GError *err = NULL;
	int gop = p->fps * p->gop_seconds;
	int n, ret = -EIO;

	if (check_elements(common, G_N_ELEMENTS(common), "make clip") < 0 ||
	    (p->codec == CLIP_H264 &&
	     check_elements(h264, G_N_ELEMENTS(h264), "make clip") < 0) ||
	    (p->codec == CLIP_H265 &&
	     check_elements(h265, G_N_ELEMENTS(h265), "make clip") < 0))
		return -ENOENT;
	if (p->audio) {
		if (check_elements(audio, G_N_ELEMENTS(audio), "make clip") < 0)
			return -ENOENT;
		aacenc = pick_aac_encoder();
		if (!aacenc) {
			log_warnx("cannot make clip: no aac encoder "
				  "(install gstreamer1.0-libav for 'avenc_aac')");
			return -ENOENT;
		}
	}

	remove_stale_temps(path);
	n = snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		log_warnx("cannot make clip: path '%s' too long", path);
		return -ENAMETOOLONG;
	}

	if (p->codec == CLIP_H264)
		venc = g_strdup_printf(
			"x264enc bframes=0 aud=false key-int-max=%d bitrate=%d "
			"speed-preset=ultrafast tune=zerolatency "
			"option-string=scenecut=0:sliced-threads=0 ! h264parse",
			gop, p->bitrate_kbit);
	else
		venc = g_strdup_printf(
			"x265enc key-int-max=%d bitrate=%d "
			"speed-preset=ultrafast tune=zerolatency "
			"option-string=\"bframes=0:scenecut=0\" ! h265parse",
			gop, p->bitrate_kbit);
	if (p->audio)
		/* 480-sample buffers at 48 kHz: 100 per second, whatever the
		 * frame rate, so the tone ends with the video. */
		aud = g_strdup_printf(
			" audiotestsrc num-buffers=%d samplesperbuffer=480 "
			"freq=440 volume=0.2 ! audio/x-raw,rate=48000,channels=1"
			" ! %s ! aacparse ! queue ! mux.",
			p->clip_seconds * 100, aacenc);
	scene = scene_source(p);
	desc = g_strdup_printf(
		"%s %s ! %s ! queue ! mp4mux name=mux ! filesink name=out%s",
		scene,
		p->scene == SCENE_FROZEN || !have_element("timeoverlay")
			? ""
		: p->scene == SCENE_BARS
			? "! timeoverlay shaded-background=true"
			/* a camera's own clock: large, in a corner, sharp
			 * whatever the lens sees */
			: "! timeoverlay shaded-background=true font-desc=\"Sans 28\" "
			  "halignment=right valignment=top",
		venc, aud ? aud : "");

	pipeline = gst_parse_launch(desc, &err);
	if (!pipeline || err) {
		log_warnx("cannot make clip: %s",
			  err ? err->message : "bad pipeline");
		goto out;
	}
	sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
	g_object_set(sink, "location", tmp, NULL);

	log_info("encoding clip '%s' (once, then cached)", path);
	if (run_to_eos(pipeline, "make clip") < 0)
		goto out;
	if (rename(tmp, path) < 0) {
		log_warnx("cannot rename '%s' to '%s': %s", tmp, path,
			  strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		unlink(tmp);
	if (sink)
		gst_object_unref(sink);
	if (pipeline)
		gst_object_unref(pipeline);
	g_clear_error(&err);
	g_free(desc);
	g_free(venc);
	g_free(aud);
	g_free(scene);
	return ret;
}

static void track_push(struct clip_track *t, size_t *cap, GstBuffer *buf)
{
	struct clip_unit *u;

	if (t->n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		t->units = g_renew(struct clip_unit, t->units, *cap);
	}
	u = &t->units[t->n++];
	u->buf = buf;
	u->pts = GST_BUFFER_PTS(buf);
	u->duration = GST_BUFFER_DURATION(buf);
	u->key = !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
}

/* Whether a NAL unit is one the clip should not carry in-band: parameter
 * sets (the payloader sends them before every keyframe, from codec_data)
 * and access unit delimiters (which cameras rarely send). */
static int strip_nal(enum clip_codec codec, guint8 header)
{
	int t;

	if (codec == CLIP_H264) {
		t = header & 0x1f;
		return t == 7 || t == 8 || t == 9; /* SPS, PPS, AUD */
	}
	t = (header >> 1) & 0x3f;
	return t >= 32 && t <= 35; /* VPS, SPS, PPS, AUD */
}

/* The size of the NAL length prefix, from avcC / hvcC codec_data. */
static int nal_length_size(const GstCaps *caps, enum clip_codec codec)
{
	const GValue *v;
	GstBuffer *cd;
	GstMapInfo m;
	int n = -EINVAL;

	v = gst_structure_get_value(gst_caps_get_structure(caps, 0),
				    "codec_data");
	if (!v || !GST_VALUE_HOLDS_BUFFER(v))
		return -EINVAL;
	cd = gst_value_get_buffer(v);
	if (!gst_buffer_map(cd, &m, GST_MAP_READ))
		return -EINVAL;
	if (codec == CLIP_H264 && m.size >= 5)
		n = (m.data[4] & 3) + 1;
	else if (codec == CLIP_H265 && m.size >= 22)
		n = (m.data[21] & 3) + 1;
	gst_buffer_unmap(cd, &m);
	return n;
}

/* Returns buf without the NAL units strip_nal() names: buf itself when it
 * has none (or is malformed), else a new buffer with buf's timestamps and
 * flags, buf being unreffed. */
static GstBuffer *strip_units(GstBuffer *buf, enum clip_codec codec,
			      int lsize)
{
	GstMapInfo m;
	GstBuffer *out;
	guint8 *data;
	size_t keep = 0, off, w = 0;
	int any = 0;

	if (!gst_buffer_map(buf, &m, GST_MAP_READ))
		return buf;
	for (off = 0; off + (size_t)lsize < m.size;) {
		size_t len = 0;

		for (int i = 0; i < lsize; i++)
			len = len << 8 | m.data[off + i];
		if (len == 0 || len > m.size - off - (size_t)lsize)
			goto unchanged;
		if (strip_nal(codec, m.data[off + (size_t)lsize]))
			any = 1;
		else
			keep += (size_t)lsize + len;
		off += (size_t)lsize + len;
	}
	if (off != m.size || !any || keep == 0)
		goto unchanged;
	data = g_malloc(keep);
	for (off = 0; off < m.size;) {
		size_t len = 0, n;

		for (int i = 0; i < lsize; i++)
			len = len << 8 | m.data[off + i];
		n = (size_t)lsize + len;
		if (!strip_nal(codec, m.data[off + (size_t)lsize])) {
			memcpy(data + w, m.data + off, n);
			w += n;
		}
		off += n;
	}
	gst_buffer_unmap(buf, &m);
	out = gst_buffer_new_wrapped(data, keep);
	gst_buffer_copy_into(out, buf, GST_BUFFER_COPY_METADATA, 0, -1);
	gst_buffer_unref(buf);
	return out;
unchanged:
	gst_buffer_unmap(buf, &m);
	return buf;
}

/* Pulls every sample of one appsink into t; returns 0 or -EIO. */
static int pull_track(GstElement *pipeline, GstElement *sink,
		      struct clip_track *t, const char *path)
{
	size_t cap = 0;

	for (;;) {
		GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink),
							    LOAD_TIMEOUT);
		GstBuffer *b;

		if (!s)
			break;
		b = gst_sample_get_buffer(s);
		if (!t->caps && gst_sample_get_caps(s))
			t->caps = gst_caps_ref(gst_sample_get_caps(s));
		if (b && GST_BUFFER_PTS_IS_VALID(b))
			track_push(t, &cap, gst_buffer_ref(b));
		gst_sample_unref(s);
	}
	if (!gst_app_sink_is_eos(GST_APP_SINK(sink))) {
		GstBus *bus = gst_element_get_bus(pipeline);
		GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
		GError *err = NULL;

		if (msg)
			gst_message_parse_error(msg, &err, NULL);
		log_warnx("cannot load clip '%s': %s", path,
			  err ? err->message : "demuxer stopped");
		g_clear_error(&err);
		if (msg)
			gst_message_unref(msg);
		gst_object_unref(bus);
		return -EIO;
	}
	return 0;
}

static void track_release(struct clip_track *t)
{
	for (size_t i = 0; i < t->n; i++)
		gst_buffer_unref(t->units[i].buf);
	g_free(t->units);
	if (t->caps)
		gst_caps_unref(t->caps);
	memset(t, 0, sizeof(*t));
}

/* Rebases timestamps on the first video frame, fixes the loop period and
 * drops audio that would overlap the next loop. */
static int normalise(struct clip *c, const char *path)
{
	struct clip_track *v = &c->video, *a = &c->audio;
	GstClockTime t0, last_dur;
	size_t keep = 0;

	if (v->n < 2 || !v->caps || !v->units[0].key) {
		log_warnx("cannot load clip '%s': no usable video track", path);
		return -EINVAL;
	}
	t0 = v->units[0].pts;
	for (size_t i = 0; i < v->n; i++) {
		if (v->units[i].pts < t0 ||
		    (i > 0 && v->units[i].pts <= v->units[i - 1].pts)) {
			log_warnx("cannot load clip '%s': video timestamps "
				  "out of order at frame %zu",
				  path, i);
			return -EINVAL;
		}
		v->units[i].pts -= t0;
	}
	last_dur = v->units[v->n - 1].duration;
	if (!GST_CLOCK_TIME_IS_VALID(last_dur) || last_dur == 0)
		last_dur = v->units[v->n - 1].pts / (v->n - 1);
	c->duration = v->units[v->n - 1].pts + last_dur;

	for (size_t i = 0; i < a->n; i++) {
		struct clip_unit u = a->units[i];
		GstClockTime d = GST_CLOCK_TIME_IS_VALID(u.duration)
					 ? u.duration
					 : 0;

		if (u.pts < t0 || u.pts - t0 + d > c->duration) {
			gst_buffer_unref(u.buf);
			continue;
		}
		u.pts -= t0;
		a->units[keep++] = u;
	}
	a->n = keep;
	return 0;
}

static struct clip *load_clip(const struct clip_params *p, const char *path)
{
	static const struct element_need need[] = {
		{"filesrc", "gstreamer1.0 core"},
		{"qtdemux", "gstreamer1.0-plugins-good"},
		{"appsink", "gstreamer1.0-plugins-base"},
	};
	struct clip *c = NULL;
	GstElement *pipeline = NULL, *src = NULL, *vs = NULL, *as = NULL;
	GError *err = NULL;
	const char *desc;
	int lsize;

	if (check_elements(need, G_N_ELEMENTS(need), "load clip") < 0)
		return NULL;
	desc = p->audio ? "filesrc name=src ! qtdemux name=d "
			  "d.video_0 ! appsink name=v sync=false async=false "
			  "d.audio_0 ! appsink name=a sync=false async=false"
			: "filesrc name=src ! qtdemux name=d "
			  "d.video_0 ! appsink name=v sync=false async=false";
	pipeline = gst_parse_launch(desc, &err);
	if (!pipeline || err) {
		log_warnx("cannot load clip '%s': %s", path,
			  err ? err->message : "bad pipeline");
		goto fail;
	}
	src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
	vs = gst_bin_get_by_name(GST_BIN(pipeline), "v");
	as = gst_bin_get_by_name(GST_BIN(pipeline), "a");
	g_object_set(src, "location", path, NULL);

	c = g_new0(struct clip, 1);
	if (gst_element_set_state(pipeline, GST_STATE_PLAYING) ==
	    GST_STATE_CHANGE_FAILURE) {
		log_warnx("cannot load clip '%s': cannot open it", path);
		goto fail;
	}
	if (pull_track(pipeline, vs, &c->video, path) < 0)
		goto fail;
	lsize = c->video.caps ? nal_length_size(c->video.caps, p->codec)
			      : -EINVAL;
	if (lsize < 0) {
		log_warnx("cannot load clip '%s': no codec_data in the video "
			  "track",
			  path);
		goto fail;
	}
	for (size_t i = 0; i < c->video.n; i++)
		c->video.units[i].buf =
			strip_units(c->video.units[i].buf, p->codec, lsize);
	if (as && pull_track(pipeline, as, &c->audio, path) < 0)
		goto fail;
	if (normalise(c, path) < 0)
		goto fail;
	if (p->audio && (c->audio.n == 0 || !c->audio.caps)) {
		log_warnx("cannot load clip '%s': no audio track", path);
		goto fail;
	}
	goto out;
fail:
	clip_free(&c);
out:
	if (pipeline)
		gst_element_set_state(pipeline, GST_STATE_NULL);
	if (src)
		gst_object_unref(src);
	if (vs)
		gst_object_unref(vs);
	if (as)
		gst_object_unref(as);
	if (pipeline)
		gst_object_unref(pipeline);
	g_clear_error(&err);
	return c;
}

struct clip *clip_obtain(const struct clip_params *p, const char *cache_dir)
{
	char path[4096];
	struct clip *c;

	if (clip_cache_path(p, cache_dir, path, sizeof(path)) < 0) {
		log_warnx("cache folder '%s': path too long", cache_dir);
		return NULL;
	}
	if (g_mkdir_with_parents(cache_dir, 0755) < 0) {
		log_warnx("cannot create cache folder '%s': %s", cache_dir,
			  strerror(errno));
		return NULL;
	}
	if (access(path, R_OK) == 0) {
		c = load_clip(p, path);
		if (c)
			return c;
		log_warnx("cached clip '%s' is unusable, encoding it again",
			  path);
	}
	if (make_clip(p, path) < 0)
		return NULL;
	return load_clip(p, path);
}

void clip_free(struct clip **clip)
{
	struct clip *c = *clip;

	if (!c)
		return;
	track_release(&c->video);
	track_release(&c->audio);
	g_free(c);
	*clip = NULL;
}
