/*
 * control.c: the control socket, a line protocol on a unix stream socket.
 *
 * One command per line, one reply line per command ("ok" or "error
 * <reason>"); "status" first writes one line per camera:
 *   down camN | up camN | stall camN [rtcp] | resume camN
 *   jump camN SECONDS | resize camN | picture camN SCENE | clock camN SECONDS |
 *   status | quit
 * ("stall camN rtcp" stops the media but keeps RTCP reports flowing.)
 * Clients may connect one after another or at the same time; each has a
 * fixed 512-byte line buffer (a longer line gets "error line too long" and
 * is skipped).  Everything runs in the main loop thread: the listening
 * socket and each connection are GLib fd watches, reads happen only when
 * poll says there is data, and replies are written with a send timeout so
 * a client that never reads cannot block camsim for more than 2 seconds.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "camsim.h"

#define LINE_MAX_LEN 512
#define MAX_CONNS 64

struct conn {
	struct control *ctl;
	int fd;
	guint watch;
	char buf[LINE_MAX_LEN];
	size_t len;
	int overflow; /* skipping the rest of a too-long line */
};

struct control {
	struct server *server;
	GMainLoop *loop;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	guint watch;
	dev_t dev; /* of the socket file, to remove only our own */
	ino_t ino;
	struct conn *conns[MAX_CONNS];
};

static void conn_close(struct conn *c)
{
	struct control *ctl = c->ctl;

	for (size_t i = 0; i < MAX_CONNS; i++)
		if (ctl->conns[i] == c)
			ctl->conns[i] = NULL;
	if (c->watch)
		g_source_remove(c->watch);
	close(c->fd);
	g_free(c);
}

/* Writes one reply line; returns 0 or -EIO if the client is gone. */
static int reply(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int reply(struct conn *c, const char *fmt, ...)
{
	char line[LINE_MAX_LEN + 64];
	va_list ap;
	int n;
	size_t off = 0;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EIO;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	while (off < (size_t)n) {
		ssize_t w = send(c->fd, line + off, (size_t)n - off,
				 MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EIO;
		off += (size_t)w;
	}
	return 0;
}

static const struct {
	const char *name;
	enum cam_action action;
} cam_commands[] = {
	{"down", CAM_DOWN},   {"up", CAM_UP},	  {"stall", CAM_STALL},
	{"resume", CAM_RESUME}, {"jump", CAM_JUMP},
	{"resize", CAM_RESIZE},
};

/* Splits the next space-separated word off *p; returns its length. */
static size_t next_word(const char **p, const char **word)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	*word = s;
	while (s[n] && s[n] != ' ' && s[n] != '\t')
		n++;
	*p = s + n;
	return n;
}

/* "picture camN SCENE" and "clock camN SECONDS" (the offset of the NTP
 * time in its sender reports, negative for a clock behind). */
static int picture_or_clock(struct conn *c, const char *verb, size_t vlen, const char *arg,
			    size_t alen, const char *p)
{
	struct server *s = c->ctl->server;
	int picture = vlen == 7 && verb[0] == 'p';
	const char *extra, *rest;
	size_t elen = next_word(&p, &extra);
	char err[128], num[32];
	int64_t value;
	int cam;

	if (alen == 0 || elen == 0)
		return reply(c, picture ? "error usage: picture camN "
					  "normal|black|frozen|covered|blurred|moved|bars"
					: "error usage: clock camN SECONDS");
	cam = parse_cam_name(arg, alen);
	if (cam < 0)
		return reply(c, "error bad camera '%.*s'", (int)alen, arg);
	next_word(&p, &rest);
	if (*rest)
		return reply(c, "error unexpected '%s'", rest);
	if (picture) {
		int sc = clip_scene_parse(extra, elen);

		if (sc < 0)
			return reply(c, "error unknown picture '%.*s'", (int)MIN(elen, 32), extra);
		value = sc;
	} else {
		char *end;
		double secs;

		if (elen >= sizeof(num))
			return reply(c, "error bad offset");
		memcpy(num, extra, elen);
		num[elen] = '\0';
		secs = g_ascii_strtod(num, &end);
		if (*end || secs < -1e6 || secs > 1e6)
			return reply(c, "error bad offset '%s'", num);
		value = (int64_t)(secs * 1000.0);
	}
	if (server_act(s, cam, picture ? CAM_PICTURE : CAM_CLOCK, value, err, sizeof(err)) < 0)
		return reply(c, "error %s", err);
	return reply(c, "ok");
}

/* Runs one command line; returns -EIO if the connection is to be closed,
 * 1 after "quit", else 0. */
static int run_command(struct conn *c, const char *line)
{
	struct server *s = c->ctl->server;
	const char *p = line, *verb, *arg, *extra;
	size_t vlen = next_word(&p, &verb), alen = next_word(&p, &arg);
	char err[128], status[128];
	int64_t offset_ms = 0;
	int cam;

	if (vlen == 0)
		return 0; /* empty line: no reply */
	if (((vlen == 6 && strncmp(verb, "status", 6) == 0) ||
	     (vlen == 4 && strncmp(verb, "quit", 4) == 0)) &&
	    alen > 0)
		return reply(c, "error unexpected '%.*s'", (int)MIN(alen, 64),
			     arg);
	if (vlen == 6 && strncmp(verb, "status", 6) == 0) {
		for (int k = 1; k <= server_cameras(s); k++) {
			server_status(s, k, status, sizeof(status));
			if (reply(c, "%s", status) < 0)
				return -EIO;
		}
		return reply(c, "ok");
	}
	if (vlen == 4 && strncmp(verb, "quit", 4) == 0) {
		reply(c, "ok");
		return 1;
	}
	if ((vlen == 7 && strncmp(verb, "picture", 7) == 0) ||
	    (vlen == 5 && strncmp(verb, "clock", 5) == 0))
		return picture_or_clock(c, verb, vlen, arg, alen, p);
	for (size_t i = 0; i < G_N_ELEMENTS(cam_commands); i++) {
		enum cam_action a = cam_commands[i].action;

		if (strlen(cam_commands[i].name) != vlen ||
		    strncmp(verb, cam_commands[i].name, vlen) != 0)
			continue;
		if (alen == 0)
			return reply(c, "error usage: %s camN%s",
				     cam_commands[i].name,
				     a == CAM_JUMP	  ? " SECONDS"
				     : a == CAM_STALL ? " [rtcp]"
						      : "");
		cam = parse_cam_name(arg, alen);
		if (cam < 0)
			return reply(c, "error bad camera '%.*s'", (int)alen,
				     arg);
		if (a == CAM_STALL) {
			const char *p2 = p;
			size_t elen = next_word(&p2, &extra);

			if (elen == 4 && strncmp(extra, "rtcp", 4) == 0) {
				a = CAM_STALL_RTCP;
				p = p2;
			}
		}
		if (a == CAM_JUMP) {
			size_t elen = next_word(&p, &extra);
			char *end;
			double secs;
			char num[32];

			if (elen == 0 || elen >= sizeof(num))
				return reply(c, "error usage: jump camN "
						"SECONDS");
			memcpy(num, extra, elen);
			num[elen] = '\0';
			secs = g_ascii_strtod(num, &end);
			if (*end || secs <= 0 || secs > 1e6)
				return reply(c, "error bad offset '%s'", num);
			offset_ms = (int64_t)(secs * 1000.0);
		}
		next_word(&p, &extra);
		if (*extra)
			return reply(c, "error unexpected '%s'", extra);
		if (server_act(s, cam, a, offset_ms, err, sizeof(err)) < 0)
			return reply(c, "error %s", err);
		return reply(c, "ok");
	}
	return reply(c, "error unknown command '%.*s'", (int)MIN(vlen, 64),
		     verb);
}

/* Runs every complete line in the buffer; returns like run_command. */
static int run_lines(struct conn *c)
{
	char *nl;
	int ret = 0;

	while (ret == 0 && (nl = memchr(c->buf, '\n', c->len))) {
		size_t n = (size_t)(nl - c->buf);

		*nl = '\0';
		if (n > 0 && c->buf[n - 1] == '\r')
			c->buf[n - 1] = '\0';
		if (c->overflow)
			c->overflow = 0;
		else
			ret = run_command(c, c->buf);
		memmove(c->buf, nl + 1, c->len - n - 1);
		c->len -= n + 1;
	}
	if (ret == 0 && c->len == sizeof(c->buf)) {
		/* no newline in a full buffer */
		if (!c->overflow)
			ret = reply(c, "error line too long");
		c->overflow = 1;
		c->len = 0;
	}
	return ret;
}

static gboolean on_conn_readable(gint fd, GIOCondition cond, gpointer data)
{
	struct conn *c = data;
	ssize_t n;
	int ret;

	(void)cond;
	n = read(fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return G_SOURCE_CONTINUE;
	if (n <= 0) {
		c->watch = 0;
		conn_close(c);
		return G_SOURCE_REMOVE;
	}
	c->len += (size_t)n;
	ret = run_lines(c);
	if (ret != 0) {
		GMainLoop *loop = c->ctl->loop;

		c->watch = 0;
		conn_close(c);
		if (ret == 1)
			g_main_loop_quit(loop);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data)
{
	struct control *ctl = data;
	struct timeval tv = {.tv_sec = 2};
	struct conn *c;
	size_t slot;
	int cfd;

	(void)cond;
	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno != EINTR && errno != EAGAIN)
			log_warnx("control socket: cannot accept: %s",
				  strerror(errno));
		return G_SOURCE_CONTINUE;
	}
	for (slot = 0; slot < MAX_CONNS && ctl->conns[slot]; slot++)
		;
	if (slot == MAX_CONNS) {
		static const char busy[] = "error too many connections\n";

		if (send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL) < 0)
			log_debug("control socket: client gone");
		close(cfd);
		return G_SOURCE_CONTINUE;
	}
	setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c = g_new0(struct conn, 1);
	c->ctl = ctl;
	c->fd = cfd;
	c->watch = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR,
				 on_conn_readable, c);
	ctl->conns[slot] = c;
	return G_SOURCE_CONTINUE;
}

struct control *control_new(const char *path, struct server *s,
			    GMainLoop *loop)
{
	struct control *ctl;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_warnx("control socket path '%s' is too long", path);
		return NULL;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("cannot use '%s' as control socket: a file "
				  "is in the way",
				  path);
			return NULL;
		}
		unlink(path); /* a stale socket from an earlier run */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_warnx("cannot create control socket: %s", strerror(errno));
		return NULL;
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(fd, 16) < 0) {
		log_warnx("cannot listen on control socket '%s': %s", path,
			  strerror(errno));
		close(fd);
		return NULL;
	}
	ctl = g_new0(struct control, 1);
	if (stat(path, &st) == 0) {
		ctl->dev = st.st_dev;
		ctl->ino = st.st_ino;
	}
	ctl->server = s;
	ctl->loop = loop;
	ctl->fd = fd;
	memcpy(ctl->path, path, strlen(path) + 1);
	ctl->watch = g_unix_fd_add(fd, G_IO_IN, on_accept, ctl);
	return ctl;
}

void control_free(struct control **cp)
{
	struct control *ctl = *cp;
	struct stat st;

	if (!ctl)
		return;
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (ctl->conns[i])
			conn_close(ctl->conns[i]);
	g_source_remove(ctl->watch);
	close(ctl->fd);
	/* another camsim may have taken the path over since */
	if (stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev &&
	    st.st_ino == ctl->ino)
		unlink(ctl->path);
	g_free(ctl);
	*cp = NULL;
}
