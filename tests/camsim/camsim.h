/*
 * camsim.h: internal interfaces of camsim, the RTSP camera simulator.
 *
 * camsim is five small files that speak to each other only through this
 * header:
 *   clip.c      makes the test clip once (cached on disk) and loads it into
 *               memory as a list of encoded access units;
 *   server.c    serves N cameras over RTSP from that one clip, feeds them in
 *               real time and applies faults (down, stall, jump, slow);
 *   schedule.c  parses the fault schedule given on the command line and
 *               fires it from the main loop;
 *   control.c   the unix-socket line protocol that drives faults by hand;
 *   camsim.c    options, logging, signals and the main loop.
 *
 * Everything that touches GLib sources (server actions, schedule, control)
 * runs in the main loop thread; server.c documents its own locking.
 */
#ifndef CAMSIM_CAMSIM_H
#define CAMSIM_CAMSIM_H

#include <stddef.h>
#include <stdint.h>

#include <gst/gst.h>

/* Exit statuses. */
#define CAMSIM_EXIT_RUNTIME 1
#define CAMSIM_EXIT_USAGE 2

/* Limits on what a command line may ask for. */
#define CAMSIM_MAX_CAMERAS 1024

/* Logging (camsim.c).  Lines go to stderr prefixed "camsim: ".  log_debug
 * prints only with --verbose.  Never pass a credential. */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- clip.c --------------------------------------------------------- */

enum clip_codec { CLIP_H264, CLIP_H265 };

/* What a clip shows.  SCENE_BARS is the default clip (SMPTE bars scrolling
 * sideways); the others are the picture variants of --pictures, for the
 * picture inspection tests: a static scene with a running clock (the
 * healthy camera that must not look frozen), and one fault each. */
enum clip_scene {
	SCENE_BARS = 0,
	SCENE_STATIC,  /* "normal": static bars with a running clock */
	SCENE_BLACK,   /* black, clock still drawn */
	SCENE_FROZEN,  /* one picture repeated, clock and all */
	SCENE_COVERED, /* a uniform grey, clock still drawn */
	SCENE_BLURRED, /* the static scene out of focus, sharp clock */
	SCENE_MOVED,   /* the scene seen from elsewhere (cropped, zoomed) */
	SCENE_COUNT,
};

/* "bars", "normal", "black", ...; parse returns the scene or -EINVAL. */
const char *clip_scene_name(enum clip_scene sc);
int clip_scene_parse(const char *s, size_t len);

struct clip_params {
	enum clip_codec codec;
	int width;
	int height;
	int fps;
	int gop_seconds;
	int bitrate_kbit;
	int clip_seconds;
	int audio; /* non-zero: add an AAC track */
	enum clip_scene scene;
};

/* One encoded access unit of a track: the buffer (holding the payload, never
 * written to), its timestamp inside the clip (first video unit at 0) and
 * whether it is a keyframe. */
struct clip_unit {
	GstBuffer *buf;
	GstClockTime pts;
	GstClockTime duration;
	int key;
};

struct clip_track {
	GstCaps *caps; /* as the demuxer gave them, with codec_data */
	struct clip_unit *units;
	size_t n;
};

struct clip {
	struct clip_track video;
	struct clip_track audio; /* n == 0 without --audio */
	GstClockTime duration;  /* of the video track: the loop period */
};

/* Writes the cache file name for p under dir into buf.  Returns 0, or
 * -ENAMETOOLONG if it does not fit. */
int clip_cache_path(const struct clip_params *p, const char *dir, char *buf,
		    size_t size);

/* Returns the clip for p, encoding it into cache_dir first if the cache
 * file is missing (or unreadable).  Returns NULL after logging why.  The
 * caller owns the clip and frees it with clip_free(). */
struct clip *clip_obtain(const struct clip_params *p, const char *cache_dir);

/* Frees the clip and sets *clip to NULL.  Buffers still queued in a
 * pipeline keep their own references. */
void clip_free(struct clip **clip);

/* --- server.c ------------------------------------------------------- */

enum cam_action {
	CAM_DOWN,
	CAM_UP,
	CAM_STALL,	/* no RTP, no RTCP */
	CAM_STALL_RTCP, /* no RTP, RTCP reports still sent */
	CAM_RESUME,
	CAM_JUMP,
	CAM_RESIZE, /* switch between the clip and the --alt-size clip */
	CAM_PICTURE, /* show the --pictures scene arg (enum clip_scene) */
	CAM_CLOCK,   /* offset the NTP time of its RTCP sender reports by arg ms */
};

struct server_opts {
	int cameras;
	int port; /* 0: let the OS pick */
	const char *bind;
	const char *user;     /* NULL: no authentication */
	const char *password; /* with user */
	enum clip_codec codec;
	const unsigned *slow_ms; /* per camera (index 0 = cam1), or NULL */
	const struct clip *alt;	 /* the same clip at another size, or NULL */
	/* --pictures: a clip per scene (scenes[SCENE_BARS] unused), every
	 * camera starting on SCENE_STATIC; all NULL without */
	const struct clip *scenes[SCENE_COUNT];
};

struct server;

/* Creates the server, mounts every camera and starts listening and feeding.
 * The clip (and o->alt) must outlive the server.  Returns NULL after logging why. */
struct server *server_new(const struct server_opts *o, const struct clip *clip);

/* The TCP port the server listens on. */
int server_port(const struct server *s);

/* Applies an action to camera cam (1-based).  arg is the offset in ms for
 * CAM_JUMP and unused otherwise.  Returns 0, or a negative errno code with a
 * reason written to err: -ENOENT for an unknown camera, -EBUSY when the
 * action does not apply in the camera's state. */
int server_act(struct server *s, int cam, enum cam_action a, int64_t arg,
	       char *err, size_t errsize);

/* Writes "camN STATE frames=F clients=C size=WxH" for camera cam (1-based) to buf.
 * Returns 0, or -ENOENT for an unknown camera. */
int server_status(struct server *s, int cam, char *buf, size_t size);

/* The number of cameras. */
int server_cameras(const struct server *s);

/* Closes every client, stops feeding and frees the server; sets *s to
 * NULL. */
void server_free(struct server **s);

/* --- schedule.c ----------------------------------------------------- */

struct schedule_event {
	int64_t at_ms; /* after camsim start */
	int cam;       /* 1-based */
	enum cam_action action;
	int64_t arg; /* for CAM_JUMP: the offset in ms */
	size_t seq;  /* order given, to keep sorting stable */
};

struct schedule {
	struct schedule_event *ev;
	size_t n;
	size_t cap;
	size_t next;
	int64_t start_us; /* monotonic time of camsim start */
	guint timer;
	struct server *server;
};

/* Parses one schedule option.  kind is the option name without dashes:
 * "down", "stall", "flap" or "jump".  Returns 0, or -EINVAL with the
 * reason in err. */
int schedule_add(struct schedule *sc, const char *kind, const char *spec,
		 char *err, size_t errsize);

/* Parses "camN@MS" for --slow.  Returns 0 or -EINVAL with err set. */
int schedule_parse_slow(const char *spec, int *cam, unsigned *ms, char *err,
			size_t errsize);

/* Returns 0 if every event names a camera in 1..cameras, else -EINVAL with
 * err set. */
int schedule_check(const struct schedule *sc, int cameras, char *err,
		   size_t errsize);

/* Starts firing events from the default main context; times count from
 * start_us (g_get_monotonic_time() units). */
void schedule_start(struct schedule *sc, struct server *s, int64_t start_us);

/* Stops the timer and frees the events. */
void schedule_release(struct schedule *sc);

/* Parses a camera name "camN" (N >= 1) at s, up to len characters.
 * Returns N, or -EINVAL. */
int parse_cam_name(const char *s, size_t len);

/* --- control.c ------------------------------------------------------ */

struct control;

/* Listens on the unix stream socket path (replacing a stale socket there)
 * and serves the control protocol from the default main context.  quit
 * stops loop.  Returns NULL after logging why. */
struct control *control_new(const char *path, struct server *s,
			    GMainLoop *loop);

/* Closes every connection, removes the socket file and frees; sets *c to
 * NULL. */
void control_free(struct control **c);

#endif
