/*
 * camsim.c: command line, logging, signals and main loop of camsim, the
 * RTSP camera simulator used by vigil's tests, benchmarks and demo.
 *
 * Start-up contract: once every camera is mounted and the port is bound,
 * camsim prints "camsim ready port=PORT cameras=N" and one
 * "url rtsp://HOST:PORT/camK" line per camera on stdout, and flushes.
 * Schedule times count from that moment.  Everything else (errors, and
 * events with --verbose) goes to stderr.  Exit status: 0 after SIGTERM,
 * SIGINT or "quit"; 1 for a runtime failure; 2 for bad usage.
 *
 * The main thread runs the GLib main loop: the RTSP server's listening
 * socket, the control socket, the schedule timer and the signal sources
 * all live there.  See server.c for the feeder thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <gst/gst.h>

#include "camsim.h"

static int verbose;

static void vlog(const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "camsim: %s\n", line);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

static const char usage_text[] =
	"usage: camsim [options]\n"
	"\n"
	"Serves simulated cameras at rtsp://ADDR:PORT/cam1 .. camN, each looping\n"
	"one pre-encoded clip (made once, cached) with ever-increasing "
	"timestamps.\n"
	"\n"
	"  --cameras N         number of cameras (default 4, at most 1024)\n"
	"  --port P            RTSP port; 0 lets the system pick (default 0)\n"
	"  --bind ADDR         address to listen on (default 127.0.0.1)\n"
	"  --codec h264|h265   video codec (default h264)\n"
	"  --audio             add an AAC audio track\n"
	"  --size WxH          frame size (default 1920x1080)\n"
	"  --alt-size WxH      a second clip at this size, for 'resize camN'\n"
	"  --pictures          a clip per picture (for 'picture camN SCENE'), every\n"
	"                      camera starting on 'normal': static bars and a clock\n"
	"  --fps N             frame rate (default 25)\n"
	"  --gop-seconds S     keyframe interval (default 2)\n"
	"  --bitrate KBIT      video bitrate (default 4000)\n"
	"  --clip-seconds S    length of the looped clip (default 10)\n"
	"  --cache DIR         clip cache folder (default build/camsim-cache)\n"
	"  --control PATH      control socket (unix stream, line protocol)\n"
	"  --user U --password P   require RTSP basic or digest "
	"authentication\n"
	"  --down camN@A-B     camera down from A to B (e.g. cam2@10s-25s)\n"
	"  --stall camN@A-B    camera sends no media from A to B\n"
	"  --flap camN@START:COUNT:DOWN_MS:UP_MS\n"
	"                      go down COUNT times, DOWN_MS each, UP_MS apart\n"
	"  --jump camN@T+OFFSET   RTP timestamps jump forward by OFFSET at T\n"
	"  --slow camN@MS      answer each RTSP request of camN MS ms late\n"
	"  -v, --verbose       log every camera event to stderr\n"
	"  -h, --help          show this help\n"
	"\n"
	"Schedule times count from the ready line and take an s or ms suffix\n"
	"(A, B, START, T, OFFSET default to seconds; DOWN_MS, UP_MS, MS to ms).\n"
	"The schedule options may be repeated.\n"
	"\n"
	"Control socket commands, one per line, each answered by 'ok' or\n"
	"'error REASON': down camN, up camN, stall camN, resume camN,\n"
	"jump camN SECONDS, resize camN (switch between --size and --alt-size\n"
	"in the same session: new parameter sets in-band at a keyframe),\n"
	"picture camN normal|black|frozen|covered|blurred|moved|bars (the\n"
	"scene shown, with --pictures), clock camN SECONDS (the NTP time of its\n"
	"RTCP sender reports that far off), "
	"status (one 'camN STATE frames=F clients=C size=WxH picture=P' line\n"
	"per camera, then ok), quit.  A stall stops RTP and RTCP; 'stall camN\n"
	"rtcp' keeps RTCP reports flowing (for about 25 s, until GStreamer's\n"
	"RTP session gives up on its idle source), which defeats socket read\n"
	"timeouts shorter than that.\n";

enum {
	OPT_CAMERAS = 256,
	OPT_PORT,
	OPT_BIND,
	OPT_CODEC,
	OPT_AUDIO,
	OPT_SIZE,
	OPT_ALT_SIZE,
	OPT_PICTURES,
	OPT_FPS,
	OPT_GOP,
	OPT_BITRATE,
	OPT_CLIP,
	OPT_CACHE,
	OPT_CONTROL,
	OPT_USER,
	OPT_PASSWORD,
	OPT_DOWN,
	OPT_STALL,
	OPT_FLAP,
	OPT_JUMP,
	OPT_SLOW,
};

static const struct option long_options[] = {
	{"cameras", required_argument, NULL, OPT_CAMERAS},
	{"port", required_argument, NULL, OPT_PORT},
	{"bind", required_argument, NULL, OPT_BIND},
	{"codec", required_argument, NULL, OPT_CODEC},
	{"audio", no_argument, NULL, OPT_AUDIO},
	{"size", required_argument, NULL, OPT_SIZE},
	{"alt-size", required_argument, NULL, OPT_ALT_SIZE},
	{"pictures", no_argument, NULL, OPT_PICTURES},
	{"fps", required_argument, NULL, OPT_FPS},
	{"gop-seconds", required_argument, NULL, OPT_GOP},
	{"bitrate", required_argument, NULL, OPT_BITRATE},
	{"clip-seconds", required_argument, NULL, OPT_CLIP},
	{"cache", required_argument, NULL, OPT_CACHE},
	{"control", required_argument, NULL, OPT_CONTROL},
	{"user", required_argument, NULL, OPT_USER},
	{"password", required_argument, NULL, OPT_PASSWORD},
	{"down", required_argument, NULL, OPT_DOWN},
	{"stall", required_argument, NULL, OPT_STALL},
	{"flap", required_argument, NULL, OPT_FLAP},
	{"jump", required_argument, NULL, OPT_JUMP},
	{"slow", required_argument, NULL, OPT_SLOW},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct options {
	struct clip_params clip;
	int alt_width, alt_height; /* 0: no alt clip */
	int pictures;		   /* --pictures */
	struct server_opts server;
	const char *cache;
	const char *control;
	struct schedule schedule;
	unsigned slow_ms[CAMSIM_MAX_CAMERAS];
	int any_slow;
};

/* Parses a whole decimal integer in [min, max]. */
static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_int_opt(const char *name, const char *arg, long min,
			 long max, int *out)
{
	long v;

	if (parse_long(arg, min, max, &v) < 0) {
		log_warnx("bad --%s '%s': expected a whole number from %ld to "
			  "%ld",
			  name, arg, min, max);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

static int parse_size(const char *arg, int *w, int *h)
{
	const char *x = strchr(arg, 'x');
	char wbuf[16];
	long lw, lh;

	if (!x || (size_t)(x - arg) >= sizeof(wbuf))
		goto bad;
	memcpy(wbuf, arg, (size_t)(x - arg));
	wbuf[x - arg] = '\0';
	if (parse_long(wbuf, 16, 7680, &lw) < 0 ||
	    parse_long(x + 1, 16, 4320, &lh) < 0 || lw % 2 || lh % 2)
		goto bad;
	*w = (int)lw;
	*h = (int)lh;
	return 0;
bad:
	log_warnx("bad --size '%s': expected WxH, even numbers from 16x16 to "
		  "7680x4320",
		  arg);
	return -EINVAL;
}

/* Parses argv into o; returns 0, 1 after --help, or -EINVAL (logged). */
static int parse_options(int argc, char **argv, struct options *o)
{
	char err[256];
	int opt, cam;
	unsigned ms;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":vh", long_options, NULL)) !=
	       -1) {
		const char *name = optind > 0 && optind <= argc
					   ? argv[optind - 1]
					   : "?";

		switch (opt) {
		case OPT_CAMERAS:
			if (parse_int_opt("cameras", optarg, 1,
					  CAMSIM_MAX_CAMERAS,
					  &o->server.cameras) < 0)
				return -EINVAL;
			break;
		case OPT_PORT:
			if (parse_int_opt("port", optarg, 0, 65535,
					  &o->server.port) < 0)
				return -EINVAL;
			break;
		case OPT_BIND: {
			unsigned char a[sizeof(struct in6_addr)];

			if (inet_pton(AF_INET, optarg, a) != 1 &&
			    inet_pton(AF_INET6, optarg, a) != 1) {
				log_warnx("bad --bind '%s': expected an IP "
					  "address",
					  optarg);
				return -EINVAL;
			}
			o->server.bind = optarg;
			break;
		}
		case OPT_CODEC:
			if (strcmp(optarg, "h264") == 0) {
				o->clip.codec = CLIP_H264;
			} else if (strcmp(optarg, "h265") == 0) {
				o->clip.codec = CLIP_H265;
			} else {
				log_warnx("bad --codec '%s': expected h264 or "
					  "h265",
					  optarg);
				return -EINVAL;
			}
			break;
		case OPT_AUDIO:
			o->clip.audio = 1;
			break;
		case OPT_SIZE:
			if (parse_size(optarg, &o->clip.width,
				       &o->clip.height) < 0)
				return -EINVAL;
			break;
		case OPT_PICTURES:
			o->pictures = 1;
			break;
		case OPT_ALT_SIZE:
			if (parse_size(optarg, &o->alt_width,
				       &o->alt_height) < 0)
				return -EINVAL;
			break;
		case OPT_FPS:
			if (parse_int_opt("fps", optarg, 1, 120,
					  &o->clip.fps) < 0)
				return -EINVAL;
			break;
		case OPT_GOP:
			if (parse_int_opt("gop-seconds", optarg, 1, 60,
					  &o->clip.gop_seconds) < 0)
				return -EINVAL;
			break;
		case OPT_BITRATE:
			if (parse_int_opt("bitrate", optarg, 32, 100000,
					  &o->clip.bitrate_kbit) < 0)
				return -EINVAL;
			break;
		case OPT_CLIP:
			if (parse_int_opt("clip-seconds", optarg, 1, 3600,
					  &o->clip.clip_seconds) < 0)
				return -EINVAL;
			break;
		case OPT_CACHE:
			if (!*optarg) {
				log_warnx("bad --cache: empty path");
				return -EINVAL;
			}
			o->cache = optarg;
			break;
		case OPT_CONTROL:
			if (!*optarg) {
				log_warnx("bad --control: empty path");
				return -EINVAL;
			}
			o->control = optarg;
			break;
		case OPT_USER:
			if (!*optarg || strchr(optarg, ':')) {
				log_warnx("bad --user: must be non-empty, "
					  "without ':'");
				return -EINVAL;
			}
			o->server.user = optarg;
			break;
		case OPT_PASSWORD:
			o->server.password = optarg;
			break;
		case OPT_DOWN:
		case OPT_STALL:
		case OPT_FLAP:
		case OPT_JUMP:
			if (schedule_add(&o->schedule,
					 opt == OPT_DOWN    ? "down"
					 : opt == OPT_STALL ? "stall"
					 : opt == OPT_FLAP  ? "flap"
							    : "jump",
					 optarg, err, sizeof(err)) < 0) {
				log_warnx("%s", err);
				return -EINVAL;
			}
			break;
		case OPT_SLOW:
			if (schedule_parse_slow(optarg, &cam, &ms, err,
						sizeof(err)) < 0) {
				log_warnx("%s", err);
				return -EINVAL;
			}
			o->slow_ms[cam - 1] = ms;
			o->any_slow = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		case ':':
			log_warnx("option '%s' needs a value", name);
			return -EINVAL;
		default:
			log_warnx("unknown option '%s'", name);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_warnx("unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!o->server.user != !o->server.password) {
		log_warnx("--user and --password go together");
		return -EINVAL;
	}
	if (schedule_check(&o->schedule, o->server.cameras, err,
			   sizeof(err)) < 0) {
		log_warnx("%s", err);
		return -EINVAL;
	}
	for (int k = o->server.cameras; k < CAMSIM_MAX_CAMERAS; k++) {
		if (o->slow_ms[k]) {
			log_warnx("--slow names cam%d but there are only %d "
				  "cameras",
				  k + 1, o->server.cameras);
			return -EINVAL;
		}
	}
	return 0;
}

/* The host part of the printed URLs: the bind address, or loopback when
 * bound to every address. */
static void url_host(const char *bind, char *buf, size_t size)
{
	if (strcmp(bind, "0.0.0.0") == 0)
		snprintf(buf, size, "127.0.0.1");
	else if (strcmp(bind, "::") == 0)
		snprintf(buf, size, "[::1]");
	else if (strchr(bind, ':'))
		snprintf(buf, size, "[%s]", bind);
	else
		snprintf(buf, size, "%s", bind);
}

static gboolean on_signal(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
	static struct options o = {
		.clip = {.codec = CLIP_H264,
			 .width = 1920,
			 .height = 1080,
			 .fps = 25,
			 .gop_seconds = 2,
			 .bitrate_kbit = 4000,
			 .clip_seconds = 10},
		.server = {.cameras = 4, .port = 0, .bind = "127.0.0.1"},
		.cache = "build/camsim-cache",
	};
	struct clip *clip = NULL, *alt = NULL, *scenes[SCENE_COUNT] = {NULL};
	struct server *server = NULL;
	struct control *control = NULL;
	GMainLoop *loop = NULL;
	guint sigint = 0, sigterm = 0;
	char host[64];
	int ret = CAMSIM_EXIT_RUNTIME, r;

	r = parse_options(argc, argv, &o);
	if (r == 1)
		return 0;
	if (r < 0) {
		fprintf(stderr, "try 'camsim --help'\n");
		return CAMSIM_EXIT_USAGE;
	}
	o.server.codec = o.clip.codec;
	o.server.slow_ms = o.any_slow ? o.slow_ms : NULL;

	signal(SIGPIPE, SIG_IGN);
	gst_init(NULL, NULL);

	clip = clip_obtain(&o.clip, o.cache);
	if (!clip)
		goto out;
	log_debug("clip: %zu video units, %zu audio units, %.3f s",
		  clip->video.n, clip->audio.n,
		  (double)clip->duration / GST_SECOND);
	if (o.alt_width) {
		struct clip_params ap = o.clip;

		ap.width = o.alt_width;
		ap.height = o.alt_height;
		alt = clip_obtain(&ap, o.cache);
		if (!alt)
			goto out;
		o.server.alt = alt;
	}

	for (int sc = SCENE_STATIC; o.pictures && sc < SCENE_COUNT; sc++) {
		struct clip_params sp = o.clip;

		sp.scene = (enum clip_scene)sc;
		scenes[sc] = clip_obtain(&sp, o.cache);
		if (!scenes[sc])
			goto out;
		o.server.scenes[sc] = scenes[sc];
	}

	loop = g_main_loop_new(NULL, FALSE);
	server = server_new(&o.server, clip);
	if (!server)
		goto out;
	if (o.control) {
		control = control_new(o.control, server, loop);
		if (!control)
			goto out;
	}
	sigint = g_unix_signal_add(SIGINT, on_signal, loop);
	sigterm = g_unix_signal_add(SIGTERM, on_signal, loop);

	url_host(o.server.bind, host, sizeof(host));
	printf("camsim ready port=%d cameras=%d\n", server_port(server),
	       o.server.cameras);
	for (int k = 1; k <= o.server.cameras; k++)
		printf("url rtsp://%s:%d/cam%d\n", host, server_port(server), k);
	fflush(stdout);

	schedule_start(&o.schedule, server, g_get_monotonic_time());
	g_main_loop_run(loop);
	log_debug("shutting down");
	ret = 0;
out:
	schedule_release(&o.schedule);
	if (sigint)
		g_source_remove(sigint);
	if (sigterm)
		g_source_remove(sigterm);
	control_free(&control);
	server_free(&server);
	clip_free(&clip);
	clip_free(&alt);
	for (int sc = 0; sc < SCENE_COUNT; sc++)
		clip_free(&scenes[sc]);
	if (loop)
		g_main_loop_unref(loop);
	return ret;
}
