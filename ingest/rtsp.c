/*
 * The lean RTSP client; see rtsp.h for what it covers and why.
 *
 * Design.  One socket and one input buffer: fill() appends whatever the
 * socket holds with a single recv(2), next_item() takes one whole
 * item off the
 * front (an interleaved '$' frame, or an RTSP message with its body) and
 * never copies it: RTP payloads are depacketized straight from the buffer
 * into the access unit being built, in a slab that the packets handed out
 * reference (see au_append()).  Finished units are queued; rtsp_read()
 * hands the queue out.
 * The queue exists for the access units that arrive while a reply is
 * awaited (between PLAY and its answer); while streaming it holds at most
 * one.
 *
 * Waiting.  The socket has a receive timeout (RECV_TIMEOUT_MS), and the
 * interrupt callback (the worker's deadline and stop flag) is asked before
 * every recv(2), whether the last one brought data or not: a camera that
 * sends a byte every 100 ms, or RTCP and nothing else, cannot keep the
 * thread from seeing a stop.  Each wait has a deadline on progress, fixed
 * when the wait begins and checked before every recv(2) too: a request's
 * whole reply within rw_timeout_us, a whole access unit of the video within
 * read_timeout_us; what else arrives meanwhile does not move it.
 *
 * On an I/O thread (ingest/evloop.h) the same code runs in the worker's
 * task, with the socket non-blocking: where the thread would block in
 * recv(2) or poll(2), the task waits in its loop for the socket's edge or
 * RECV_TIMEOUT_MS, whichever comes first, then makes the same
 * non-blocking recv(2) and the same checks; a read that took less than
 * the buffer's room emptied the socket, so the next edge is the next
 * arrival.  A camera whose data never stops coming lets the loop's other
 * cameras run every EVLOOP_SLICE_US.
 *
 * Batching.  Once the first keyframe is out (the one that anchors the
 * run's wall-clock mapping), the socket's receive low-water mark
 * (SO_RCVLOWAT) is raised to RCVLOWAT: the thread wakes when that much has
 * arrived, or at the timeout with what there is, instead of for every
 * burst the camera sends (a wake-up costs more than everything else done
 * per frame; bench/README.md; on a loop, TCP makes the edge only then
 * too).  Frames then arrive up to RECV_TIMEOUT_MS
 * late, which the wall-clock mapping (ingest/wallclock.h) absorbs: it
 * follows the least-delayed frames, and each batch ends with one that
 * came just now.  The data waits in the socket's buffer, in the kernel;
 * a crash of the process loses it with the fragment being written, so
 * the timeout is kept well under a fragment (150 ms: about 7 wake-ups a
 * second instead of ~25; 100 ms cost 7 % more CPU, 200 ms saved 8 %).
 *
 * What makes it fall back to libavformat (RTSP_FALLBACK): no video, or
 * video that is not H.264/H.265; no parameter sets in the SDP; audio that
 * vigil would record (anything but G.711 and the like, which MP4 cannot
 * hold and vigil drops anyway); the interleaved packetization modes (H.264
 * STAP-B, MTAP, FU-B; H.265 with DONL or PACI); timestamps that step back
 * by less than a second (B frames, which need libavformat's dts).
 */
#include "ingest/rtsp.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libavutil/base64.h>
#include <libavutil/md5.h>
#include <libavutil/random_seed.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ingest/evloop.h"
#include "ingest/fragwriter.h"
#include "ingest/slabpool.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/banned.h"

#define IN_BUF_SIZE (160 * 1024) /* > RCVLOWAT + one interleaved frame */
#define CARRY_INLINE 4096	 /* left over by a read: part of one RTP packet, mostly */
#define MSG_MAX (32 * 1024)	 /* an RTSP message, headers and body */
#define POLL_SLICE_MS 100
#define RECV_TIMEOUT_MS 150
#define RCVLOWAT (96 * 1024) /* beyond ~5 Mbit/s, it comes before the timeout */
#define READY_MAX 64
#define AU_MAX RTSP_UNIT_MAX
/* |timestamps| (in RTP ticks from the first) stay below this: sums and
 * differences of them never overflow */
#define TS_RANGE (INT64_C(1) << 48)
#define SLAB_SIZE (128 * 1024)
#define SLAB_IDLE_US (30 * USEC_PER_SEC) /* a slab unused this long is given back */
#define NAL_INDEX_MAX 256
#define DEFAULT_SESSION_TIMEOUT 60

static const uint8_t start_code[4] = { 0, 0, 0, 1 };

enum auth_kind { AUTH_NONE, AUTH_BASIC, AUTH_DIGEST };

struct reply {
	int status;
	int cseq;
	char *text; /* status line, headers, body; NUL-terminated */
	size_t header_len;
};

struct rtsp_client {
	int fd;
	char name[64];
	char user_agent[64];
	AVIOInterruptCB intr;
	int64_t rw_timeout_us;
	int64_t read_timeout_us;
	bool allow_basic;
	struct rtsp_url url;

	enum auth_kind auth;
	char realm[256], nonce[256], opaque[256];
	bool qop_auth;
	unsigned nc;

	int cseq;
	char session[256];
	int session_timeout;
	bool get_parameter;
	int64_t last_cmd_mono;
	char play_url[2048];

	/* The input: while the bytes just read are taken apart, the thread's
	 * receive area; otherwise the client's own carry, what was left (see
	 * fill()). */
	uint8_t *in;
	size_t in_start, in_end;
	bool in_area;
	uint8_t *carry_heap; /* when more is left than carry holds */
	uint8_t carry[CARRY_INLINE];

	bool streaming;
	bool batching; /* the receive low-water mark is raised */
	int rtp_channel;
	int payload_type;
	enum AVCodecID codec;
	int clock_rate;

	AVBufferRef *slab; /* the access unit being built is at slab_used */
	size_t slab_used;
	size_t au_len;
	uint32_t nal_at[NAL_INDEX_MAX]; /* where each NAL unit's bytes begin */
	int nnal;
	uint32_t au_ts;
	bool au_key;
	bool in_fu;
	bool have_seq;
	uint16_t next_seq;
	bool have_ts;
	uint32_t last_ts32;
	int64_t ext_ts;
	bool have_pts;
	int64_t last_pts;

	AVPacket *ready[READY_MAX];
	int ready_head, nready;

	/* Arrival times (clock_wall_us): of the latest data read, of the
	 * latest packet of the unit being built, of each ready unit, and of
	 * the unit handed out last.  A unit goes out only once the next one
	 * begins, which after a pause may be seconds later than it came. */
	int64_t recv_us;
	int64_t au_arrival;
	int64_t ready_arrival[READY_MAX];
	int64_t out_arrival;

	int error; /* sticky, from the depacketizer */
	char why[128];

	/* The camera's clock, from its RTCP sender reports: the NTP time
	 * (as Unix us) of RTP timestamp sr_rtp, and the offset of the newest
	 * finished unit's camera time from its arrival. */
	bool have_sr;
	int64_t sr_unix_us;
	uint32_t sr_rtp;
	bool have_offset;
	int64_t clock_offset_us;
};

/* ---- small helpers ------------------------------------------------------ */

static uint16_t rb16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rb32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void copy_str(char *dst, size_t size, const char *src, size_t n)
{
	if (size == 0)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes n bytes of s into out. */
static int pct_decode(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%' && i + 2 < n) {
			int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
			if (h >= 0 && l >= 0) {
				c = h << 4 | l;
				i += 2;
			}
		}
		if (o + 1 >= size)
			return -ENAMETOOLONG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

bool rtsp_fast_url(const char *url)
{
	return url && strncasecmp(url, "rtsp://", 7) == 0;
}

int rtsp_parse_url(const char *url, struct rtsp_url *u)
{
	memset(u, 0, sizeof(*u));
	if (!rtsp_fast_url(url))
		return -EINVAL;
	const char *auth = url + 7;
	const char *path = auth + strcspn(auth, "/?#");
	const char *at = NULL;
	for (const char *p = auth; p < path; p++)
		if (*p == '@')
			at = p; /* the last one: a password may hold an '@' only encoded, but be
				   lenient */
	const char *host = auth;
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		size_t ulen = colon ? (size_t)(colon - auth) : (size_t)(at - auth);
		if (pct_decode(auth, ulen, u->user, sizeof(u->user)) < 0)
			return -EINVAL;
		if (colon &&
		    pct_decode(colon + 1, (size_t)(at - colon - 1), u->pass, sizeof(u->pass)) < 0)
			return -EINVAL;
		u->has_user = true;
		host = at + 1;
	}
	const char *hend, *port = NULL;
	if (*host == '[') {
		hend = memchr(host, ']', (size_t)(path - host));
		if (!hend)
			return -EINVAL;
		copy_str(u->host, sizeof(u->host), host + 1, (size_t)(hend - host - 1));
		if (hend + 1 < path && hend[1] == ':')
			port = hend + 2;
	} else {
		const char *colon = memchr(host, ':', (size_t)(path - host));
		hend = colon ? colon : path;
		copy_str(u->host, sizeof(u->host), host, (size_t)(hend - host));
		if (colon)
			port = colon + 1;
	}
	if (!u->host[0])
		return -EINVAL;
	if (port && port < path) {
		size_t plen = (size_t)(path - port);
		if (plen == 0 || plen >= sizeof(u->port) || strspn(port, "0123456789") < plen)
			return -EINVAL;
		copy_str(u->port, sizeof(u->port), port, plen);
	} else {
		snprintf(u->port, sizeof(u->port), "554");
	}
	/* the request URL: the one given, without its userinfo */
	int n = snprintf(u->request, sizeof(u->request), "rtsp://%.*s%s", (int)(path - host), host,
			 *path ? path : "/");
	if (n < 0 || (size_t)n >= sizeof(u->request))
		return -ENAMETOOLONG;
	return 0;
}

/* ---- RTSP messages -------------------------------------------------------- */

static void reply_free(struct reply *r)
{
	free(r->text);
	memset(r, 0, sizeof(*r));
	r->cseq = -1;
}

/* The nth (from 0) value of header name in r, into out.  Returns 0, or
 * -ENOENT. */
static int reply_header(const struct reply *r, const char *name, int nth, char *out, size_t size)
{
	size_t nlen = strlen(name);
	const char *p = r->text, *end = r->text + r->header_len;

	p = strchr(p, '\n'); /* skip the status line */
	while (p && p < end) {
		p++;
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			if (nth-- == 0) {
				const char *v = p + nlen + 1;
				while (v < eol && (*v == ' ' || *v == '\t'))
					v++;
				const char *ve = eol;
				while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
					ve--;
				copy_str(out, size, v, (size_t)(ve - v));
				return 0;
			}
		}
		p = eol;
	}
	return -ENOENT;
}

static const char *reply_body(const struct reply *r)
{
	return r->text + r->header_len;
}

/* An RTSP status as libavformat reports it. */
static int status_error(int status)
{
	switch (status) {
	case 400: return AVERROR_HTTP_BAD_REQUEST;
	case 401: return AVERROR_HTTP_UNAUTHORIZED;
	case 403: return AVERROR_HTTP_FORBIDDEN;
	case 404: return AVERROR_HTTP_NOT_FOUND;
	default:
		if (status >= 400 && status < 500)
			return AVERROR_HTTP_OTHER_4XX;
		if (status >= 500 && status < 600)
			return AVERROR_HTTP_SERVER_ERROR;
		return AVERROR_INVALIDDATA;
	}
}

/* ---- socket I/O --------------------------------------------------------- */

static bool interrupted(struct rtsp_client *c)
{
	return c->intr.callback && c->intr.callback(c->intr.opaque);
}

/*
 * The receive area.  A read takes what the socket holds, up to
 * IN_BUF_SIZE, into the area of the thread that reads, where it is taken
 * apart at once; only what is left, less than one item (part of an RTP
 * packet, mostly), is kept by the client until its next read.  On an I/O
 * thread the area is shared by all its cameras, so the leftover moves to
 * the client's carry before anything that lets another camera run
 * (waiting, yielding, returning to the caller), and back to the front of
 * the area before the next recv(2).  A camera then holds a few KiB
 * between reads instead of the whole buffer (bench/README.md).
 */
static pthread_key_t area_key;
static bool area_key_made;
static pthread_once_t area_once = PTHREAD_ONCE_INIT;

static void area_key_init(void)
{
	area_key_made = pthread_key_create(&area_key, free) == 0;
}

static uint8_t *receive_area(void)
{
	pthread_once(&area_once, area_key_init);
	if (!area_key_made)
		return NULL;
	uint8_t *a = pthread_getspecific(area_key);
	if (!a && (a = malloc(IN_BUF_SIZE)) && pthread_setspecific(area_key, a) != 0) {
		free(a);
		a = NULL;
	}
	return a;
}

/* What is left of the input moves from the area to the client's carry
 * (without memory for it, it is dropped: the caller fails the read). */
static int keep_input(struct rtsp_client *c)
{
	if (!c->in_area)
		return 0;
	size_t n = c->in_end - c->in_start;
	uint8_t *to = c->carry;
	int ret = 0;
	if (n > sizeof(c->carry) && !(c->carry_heap = malloc(n))) {
		n = 0;
		ret = AVERROR(ENOMEM);
	} else if (n > sizeof(c->carry)) {
		to = c->carry_heap;
	}
	memcpy(to, c->in + c->in_start, n);
	c->in = to;
	c->in_start = 0;
	c->in_end = n;
	c->in_area = false;
	return ret;
}

/* What is left goes to the front of the area, with all the room after it. */
static int use_area(struct rtsp_client *c)
{
	size_t n = c->in_end - c->in_start;
	uint8_t *to = c->in_area ? c->in : receive_area();
	if (!to)
		return AVERROR(ENOMEM);
	memmove(to, c->in + c->in_start, n);
	if (!c->in_area) {
		free(c->carry_heap);
		c->carry_heap = NULL;
	}
	c->in = to;
	c->in_start = 0;
	c->in_end = n;
	c->in_area = true;
	return 0;
}

/* Waits for events on the socket, at most until `until` (monotonic µs, 0:
 * only the interrupt callback limits it).  Returns 0 when ready. */
static int wait_fd(struct rtsp_client *c, short events, int64_t until)
{
	for (;;) {
		if (interrupted(c))
			return AVERROR_EXIT;
		int64_t now = clock_mono_us();
		if (until > 0 && now >= until)
			return AVERROR(ETIMEDOUT);
		int ms = POLL_SLICE_MS;
		if (until > 0 && (until - now + 999) / 1000 < ms)
			ms = (int)((until - now + 999) / 1000);
		if (evloop_in_task()) {
			int r = keep_input(c);
			if (r < 0)
				return r;
			r = evloop_wait_fd(c->fd, events, now + (int64_t)ms * 1000);
			if (r == 0)
				return 0;
			if (r != -ETIMEDOUT)
				return AVERROR(-r);
			continue;
		}
		struct pollfd pfd = { .fd = c->fd, .events = events };
		int r = poll(&pfd, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return AVERROR(errno);
	}
}

/* Appends what the socket holds to the input, waiting for data
 * until `until` at most (0: as long as the interrupt callback allows).
 * The callback and the deadline are checked first, every time: the
 * callers loop on fill() while what comes is not what they wait for, so a
 * camera that never stops sending must not keep them from being asked.
 * Returns 0, or a negative AVERROR. */
static int fill(struct rtsp_client *c, int64_t until)
{
	if (c->in_end - c->in_start >= IN_BUF_SIZE)
		return AVERROR_INVALIDDATA; /* an item larger than the buffer */
	bool task = evloop_in_task();
	for (;;) {
		if (interrupted(c))
			return AVERROR_EXIT;
		int64_t now = clock_mono_us();
		if (until > 0 && now >= until)
			return AVERROR(ETIMEDOUT);
		/* on a loop: the edge of the low-water mark, or RECV_TIMEOUT_MS,
		 * then what there is, as the blocking recv below does */
		int ret;
		if (task && (ret = keep_input(c)) < 0)
			return ret;
		if (task)
			evloop_yield_if_busy();
		if (task && !evloop_readable(c->fd)) {
			/* the loop's cameras share the ticks of one RECV_TIMEOUT_MS
			 * grid: one wake-up of the loop reads all that timed out */
			const int64_t tick = RECV_TIMEOUT_MS * 1000;
			int64_t slice = (now / tick + 1) * tick;
			int w = evloop_wait_fd(c->fd, POLLIN,
					       until > 0 && until < slice ? until : slice);
			if (w < 0 && w != -ETIMEDOUT)
				return AVERROR(-w);
		}
		if ((ret = use_area(c)) < 0)
			return ret;
		/* blocks until the low-water mark, or RECV_TIMEOUT_MS */
		size_t room = IN_BUF_SIZE - c->in_end;
		ssize_t r = recv(c->fd, c->in + c->in_end, room, task ? MSG_DONTWAIT : 0);
		if (r > 0) {
			if (task && (size_t)r < room)
				evloop_drained(c->fd);
			c->in_end += (size_t)r;
			c->recv_us = clock_wall_us();
			return 0;
		}
		if (r == 0)
			return AVERROR_EOF;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return AVERROR(errno);
		if (task && errno != EINTR)
			evloop_drained(c->fd);
	}
}

static int send_all(struct rtsp_client *c, const char *buf, size_t n)
{
	int64_t until = clock_mono_us() + c->rw_timeout_us;
	while (n > 0) {
		ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return AVERROR(errno);
		int ret = wait_fd(c, POLLOUT, until);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * A name lookup that a stop or the deadline can walk away from:
 * getaddrinfo(3) cannot be interrupted, and a camera named by a host whose
 * DNS server does not answer would hold the worker for the resolver's
 * timeouts (5 s a try, per try and per server).  The lookup runs in a
 * thread of its own, which frees it when the caller has gone.  A numeric
 * address needs neither a lookup nor a thread.
 */
struct lookup {
	atomic_int refs; /* the caller's and the thread's */
	atomic_bool done;
	char host[256], port[8];
	struct addrinfo *res;
	int ret;
};

static void lookup_unref(struct lookup *l)
{
	if (atomic_fetch_sub(&l->refs, 1) == 1) {
		if (l->res)
			freeaddrinfo(l->res);
		free(l);
	}
}

static void *lookup_main(void *arg)
{
	struct lookup *l = arg;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	l->ret = getaddrinfo(l->host, l->port, &hints, &l->res);
	atomic_store(&l->done, true);
	lookup_unref(l);
	return NULL;
}

static int resolve(struct rtsp_client *c, struct addrinfo **res)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST };
	if (getaddrinfo(c->url.host, c->url.port, &hints, res) == 0)
		return 0;

	struct lookup *l = calloc(1, sizeof(*l));
	pthread_attr_t attr;
	pthread_t thread;
	if (!l)
		return AVERROR(ENOMEM);
	snprintf(l->host, sizeof(l->host), "%s", c->url.host);
	snprintf(l->port, sizeof(l->port), "%s", c->url.port);
	atomic_init(&l->refs, 2);
	atomic_init(&l->done, false);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&thread, &attr, lookup_main, l);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		free(l);
		return AVERROR(err);
	}
	int64_t until = clock_mono_us() + c->rw_timeout_us;
	int ret = 0;
	while (!atomic_load(&l->done)) {
		if (interrupted(c)) {
			ret = AVERROR_EXIT;
			break;
		}
		if (clock_mono_us() >= until) {
			ret = AVERROR(ETIMEDOUT);
			break;
		}
		evloop_sleep_until(clock_mono_us() + 20000);
	}
	if (ret == 0 && l->ret != 0)
		ret = AVERROR(EIO); /* libavformat: "Failed to resolve hostname" */
	if (ret == 0) {
		*res = l->res;
		l->res = NULL;
	}
	lookup_unref(l);
	return ret;
}

static int connect_to(struct rtsp_client *c)
{
	struct addrinfo *res, *ai;
	int ret = resolve(c, &res);
	if (ret < 0)
		return ret;
	ret = AVERROR(ECONNREFUSED);
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);
		if (fd < 0) {
			ret = AVERROR(errno);
			continue;
		}
		c->fd = fd;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			ret = AVERROR(errno);
		} else {
			ret = wait_fd(c, POLLOUT, clock_mono_us() + c->rw_timeout_us);
			if (ret == 0) {
				int err = 0;
				socklen_t len = sizeof(err);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
				ret = err ? AVERROR(err) : 0;
			}
		}
		if (ret == 0)
			break;
		evloop_forget_fd(fd);
		close(fd);
		c->fd = -1;
		if (ret == AVERROR_EXIT)
			break;
	}
	freeaddrinfo(res);
	if (ret == 0 && evloop_in_task()) {
		/* on a loop: non-blocking, waits are the loop's */
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	} else if (ret == 0) {
		/* blocking reads with a timeout; writes stay non-blocking
		 * (MSG_DONTWAIT) */
		int one = 1;
		struct timeval tv = { .tv_sec = 0, .tv_usec = RECV_TIMEOUT_MS * 1000 };
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
		    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK) < 0)
			ret = AVERROR(errno);
	}
	return ret;
}

/* ---- depacketizing ------------------------------------------------------------ */

/* The camera exceeded a bound: logged here, naming it; sticky. */
static int over_bound(struct rtsp_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int over_bound(struct rtsp_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	log_warnx("camera '%s': rtsp: %s", c->name, c->why);
	c->error = RTSP_OVER_BOUND;
	return RTSP_OVER_BOUND;
}

const char *rtsp_error_detail(const struct rtsp_client *c)
{
	return c && c->why[0] ? c->why : "the camera exceeded a bound";
}

/*
 * Access units are built one after another in a slab, and each packet
 * handed out references its slab (no copy, no allocation per frame); a
 * slab goes back to the pool when the last packet in it is freed, so the
 * same slabs serve every stream: no malloc, free or fresh page per slab
 * (at 4 Mbit/s a camera fills about four a second).  A unit that outgrows
 * what is left moves to a new slab; one larger than a slab gets a buffer
 * of its own, outside the pool.
 *
 * The pool is the process's, not the client's: a camera holds a slab
 * from its unit's first byte until its fragment is written, about a
 * second's worth at the peak and half that on average, and a pool of its
 * own would keep its peak forever.  Shared, the cameras' peaks (which
 * fall at different times) draw on the same free slabs, so what the
 * process keeps is close to the sum of what is in flight (bench/README.md),
 * and what a burst added goes back to the system once it has been idle
 * for SLAB_IDLE_US (ingest/slabpool.h).  It lives as long as the process:
 * packets handed out may outlive their client.
 */
static struct slab_pool *slabs;
static pthread_once_t slabs_once = PTHREAD_ONCE_INIT;

static void slabs_init(void)
{
	slabs = slab_pool_new(SLAB_SIZE, SLAB_IDLE_US);
}

static AVBufferRef *slab_get(size_t size)
{
	if (size > SLAB_SIZE)
		return av_buffer_alloc(size);
	pthread_once(&slabs_once, slabs_init);
	return slabs ? slab_pool_get(slabs) : NULL;
}

static int au_append(struct rtsp_client *c, const uint8_t *p, size_t n)
{
	size_t need = c->au_len + n + AV_INPUT_BUFFER_PADDING_SIZE;
	if (need > AU_MAX)
		return over_bound(c, "an access unit larger than %d MiB", AU_MAX >> 20);
	if (!c->slab || c->slab_used + need > c->slab->size) {
		/* a unit larger than a slab grows by doubling, not a copy per packet */
		AVBufferRef *slab = slab_get(need <= SLAB_SIZE ? SLAB_SIZE : 2 * need);
		if (!slab)
			return AVERROR(ENOMEM);
		if (c->au_len)
			memcpy(slab->data, c->slab->data + c->slab_used, c->au_len);
		av_buffer_unref(&c->slab); /* the packets in it keep it */
		c->slab = slab;
		c->slab_used = 0;
	}
	memcpy(c->slab->data + c->slab_used + c->au_len, p, n);
	c->au_len += n;
	return 0;
}

/* Does this H.264 SEI NAL unit carry a recovery point (payload type 6)?
 * libavcodec's parser counts such a frame as a keyframe. */
static bool sei_recovery_point(const uint8_t *nal, size_t n)
{
	size_t i = 1;
	int zeros = 0;
	/* reads one RBSP byte, skipping emulation prevention bytes */
#define NEXT(out)                                                                                  \
	do {                                                                                       \
		if (i >= n)                                                                        \
			return false;                                                              \
		if (zeros >= 2 && nal[i] == 3) {                                                   \
			i++;                                                                       \
			zeros = 0;                                                                 \
			if (i >= n)                                                                \
				return false;                                                      \
		}                                                                                  \
		out = nal[i++];                                                                    \
		zeros = out == 0 ? zeros + 1 : 0;                                                  \
	} while (0)
	for (;;) {
		unsigned type = 0, size = 0, b;
		if (i >= n || nal[i] == 0x80)
			return false; /* rbsp trailing bits */
		do {
			NEXT(b);
			type += b;
		} while (b == 0xff);
		do {
			NEXT(b);
			size += b;
		} while (b == 0xff);
		if (type == 6)
			return true;
		for (unsigned k = 0; k < size; k++)
			NEXT(b);
	}
#undef NEXT
}

static void note_nal(struct rtsp_client *c, const uint8_t *nal, size_t n)
{
	if (n == 0)
		return;
	if (c->codec == AV_CODEC_ID_H264) {
		int type = nal[0] & 0x1f;
		if (type == 5 || (type == 6 && sei_recovery_point(nal, n)))
			c->au_key = true;
	} else {
		int type = (nal[0] >> 1) & 0x3f;
		if (type >= 16 && type <= 23)
			c->au_key = true;
	}
}

/* A NAL unit begins: its start code, and its place in the unit's index. */
static int begin_nal(struct rtsp_client *c)
{
	int ret = au_append(c, start_code, 4);
	if (ret < 0)
		return ret;
	if (c->nnal < NAL_INDEX_MAX)
		c->nal_at[c->nnal] = (uint32_t)c->au_len;
	c->nnal++;
	return 0;
}

static int append_nal(struct rtsp_client *c, const uint8_t *nal, size_t n)
{
	int ret;
	if (n == 0)
		return 0;
	note_nal(c, nal, n);
	if ((ret = begin_nal(c)) < 0)
		return ret;
	return au_append(c, nal, n);
}

/* Aggregation packets: 16-bit size, NAL unit, repeated. */
static int append_aggregate(struct rtsp_client *c, const uint8_t *p, size_t n)
{
	while (n >= 2) {
		size_t size = rb16(p);
		p += 2;
		n -= 2;
		if (size > n)
			return 0; /* truncated: keep what was whole */
		int ret = append_nal(c, p, size);
		if (ret < 0)
			return ret;
		p += size;
		n -= size;
	}
	return 0;
}

static int fallback(struct rtsp_client *c, const char *why)
{
	snprintf(c->why, sizeof(c->why), "%s", why);
	c->error = RTSP_FALLBACK;
	return RTSP_FALLBACK;
}

static int depacketize_h264(struct rtsp_client *c, const uint8_t *p, size_t n)
{
	int type = p[0] & 0x1f, ret;

	if (type >= 1 && type <= 23)
		return append_nal(c, p, n);
	if (type == 24)
		return append_aggregate(c, p + 1, n - 1);
	if (type == 28) {
		if (n < 2)
			return 0;
		uint8_t fu = p[1];
		if (fu & 0x80) {
			uint8_t hdr = (uint8_t)((p[0] & 0xe0) | (fu & 0x1f));
			note_nal(c, &hdr, 1);
			if ((ret = begin_nal(c)) < 0 || (ret = au_append(c, &hdr, 1)) < 0)
				return ret;
			c->in_fu = true;
		} else if (!c->in_fu) {
			return 0; /* its start was lost */
		}
		if ((ret = au_append(c, p + 2, n - 2)) < 0)
			return ret;
		if (fu & 0x40)
			c->in_fu = false;
		return 0;
	}
	if (type >= 25 && type <= 29)
		return fallback(c, "interleaved H.264 packetization (STAP-B, MTAP or FU-B)");
	return 0;
}

static int depacketize_h265(struct rtsp_client *c, const uint8_t *p, size_t n)
{
	int ret;

	if (n < 2)
		return 0;
	int type = (p[0] >> 1) & 0x3f;
	if (type < 48)
		return append_nal(c, p, n);
	if (type == 48)
		return append_aggregate(c, p + 2, n - 2);
	if (type == 49) {
		if (n < 3)
			return 0;
		uint8_t fu = p[2];
		if (fu & 0x80) {
			uint8_t hdr[2] = { (uint8_t)((p[0] & 0x81) | ((fu & 0x3f) << 1)), p[1] };
			note_nal(c, hdr, 2);
			if ((ret = begin_nal(c)) < 0 || (ret = au_append(c, hdr, 2)) < 0)
				return ret;
			c->in_fu = true;
		} else if (!c->in_fu) {
			return 0;
		}
		if ((ret = au_append(c, p + 3, n - 3)) < 0)
			return ret;
		if (fu & 0x40)
			c->in_fu = false;
		return 0;
	}
	if (type == 50)
		return fallback(c, "H.265 PACI packets");
	return 0;
}

/* The RTP timestamp unwrapped and counted from the first, into *out;
 * RTSP_OVER_BOUND when it leaves TS_RANGE (steps of 2^31 reach it after
 * 131072 frames). */
static int unwrap(struct rtsp_client *c, uint32_t ts, int64_t *out)
{
	if (!c->have_ts) {
		c->have_ts = true;
		c->last_ts32 = ts;
		c->ext_ts = 0;
		*out = 0;
		return 0;
	}
	int64_t next = c->ext_ts + (int32_t)(ts - c->last_ts32); /* |ext_ts| < TS_RANGE */
	if (next >= TS_RANGE || next <= -TS_RANGE)
		return over_bound(c, "timestamps out of range");
	c->ext_ts = next;
	c->last_ts32 = ts;
	*out = next;
	return 0;
}

/* Bytes in the units built and not handed out yet. */
static int64_t queued_bytes(const struct rtsp_client *c)
{
	int64_t n = 0;
	for (int i = 0; i < c->nready; i++)
		n += c->ready[(c->ready_head + i) % READY_MAX]->size;
	return n;
}

/* RTCP of the video channel: keeps the newest sender report (SR, packet
 * type 200: NTP time and the RTP timestamp it matches).  Anything else in
 * the compound packet, or a malformed one, is ignored. */
#define NTP_UNIX_OFFSET INT64_C(2208988800)
static void on_rtcp(struct rtsp_client *c, const uint8_t *p, size_t n)
{
	while (n >= 4) {
		size_t len = ((size_t)rb16(p + 2) + 1) * 4;
		if ((p[0] >> 6) != 2 || len > n)
			return;
		if (p[1] == 200 && len >= 28) {
			uint32_t sec = rb32(p + 8), frac = rb32(p + 12);
			c->sr_unix_us = ((int64_t)sec - NTP_UNIX_OFFSET) * 1000000 +
					(int64_t)(((uint64_t)frac * 1000000) >> 32);
			c->sr_rtp = rb32(p + 16);
			c->have_sr = true;
		}
		p += len;
		n -= len;
	}
}

/* The access unit being built is whole: queue it as a packet. */
static int finish_au(struct rtsp_client *c)
{
	int ret = 0;

	if (c->au_len == 0)
		goto out;
	if (c->have_sr && c->clock_rate > 0) {
		int64_t cam_us = c->sr_unix_us +
				 (int64_t)(int32_t)(c->au_ts - c->sr_rtp) * 1000000 / c->clock_rate;
		/* against the real clock: a recorder run with --now still
		 * hears real cameras */
		int64_t skew = clock_wall_us() - clock_real_wall_us();
		c->clock_offset_us = cam_us - (c->au_arrival - skew);
		c->have_offset = true;
	}
	int64_t pts = 0;
	if ((ret = unwrap(c, c->au_ts, &pts)) < 0)
		goto out;
	if (queued_bytes(c) + (int64_t)c->au_len > RTSP_QUEUE_MAX) {
		ret = over_bound(c, "more than %d MiB of video before its requests were answered",
				 RTSP_QUEUE_MAX >> 20);
		goto out;
	}
	if (c->have_pts && pts < c->last_pts && c->last_pts - pts < c->clock_rate) {
		ret = fallback(c, "timestamps step back (B frames)");
		goto out;
	}
	c->have_pts = true;
	c->last_pts = pts;
	if (c->nready == READY_MAX) {
		log_debug("camera '%s': rtsp: more than %d frames before the reply, one dropped",
			  c->name, READY_MAX);
		goto out;
	}
	int slot = (c->ready_head + c->nready) % READY_MAX;
	if (!c->ready[slot] && !(c->ready[slot] = av_packet_alloc())) {
		ret = AVERROR(ENOMEM);
		goto out;
	}
	AVPacket *pkt = c->ready[slot];
	if (!(pkt->buf = av_buffer_ref(c->slab))) {
		ret = AVERROR(ENOMEM);
		goto out;
	}
	pkt->data = c->slab->data + c->slab_used;
	pkt->size = (int)c->au_len;
	memset(pkt->data + c->au_len, 0, AV_INPUT_BUFFER_PADDING_SIZE);
	c->slab_used += FFALIGN(c->au_len + AV_INPUT_BUFFER_PADDING_SIZE, 64);
	/* where its NAL units are, behind it in the slab, for the fragment
	 * writer (which otherwise scans for start codes) */
	size_t index = sizeof(struct fragwriter_nal_index) + (size_t)c->nnal * sizeof(uint32_t);
	if (c->nnal <= NAL_INDEX_MAX && c->slab_used + index <= c->slab->size) {
		struct fragwriter_nal_index *x = (void *)(c->slab->data + c->slab_used);
		x->magic = FRAGWRITER_NAL_INDEX_MAGIC;
		x->size = (uint32_t)c->au_len;
		/* the packet is [00 00 00 01][NAL]... and nobody reads it after
		 * the segment writer: it may rewrite the start codes in place */
		x->flags = FRAGWRITER_NAL_INDEX_REWRITE;
		x->count = (uint32_t)c->nnal;
		memcpy(x->at, c->nal_at, (size_t)c->nnal * sizeof(uint32_t));
		pkt->opaque = x;
		c->slab_used += FFALIGN(index, 64);
	}
	pkt->pts = pkt->dts = pts;
	pkt->stream_index = 0;
	pkt->pos = -1;
	if (c->au_key)
		pkt->flags |= AV_PKT_FLAG_KEY;
	c->ready_arrival[slot] = c->au_arrival;
	c->nready++;
out:
	c->au_len = 0;
	c->nnal = 0;
	c->au_key = false;
	c->in_fu = false;
	return ret;
}

/* One RTP packet of the video stream. */
static int on_rtp(struct rtsp_client *c, const uint8_t *p, size_t n)
{
	if (n < 12 || (p[0] >> 6) != 2)
		return 0;
	if ((p[1] & 0x7f) != c->payload_type)
		return 0;
	uint16_t seq = rb16(p + 2);
	uint32_t ts = rb32(p + 4);
	size_t off = 12 + 4 * (size_t)(p[0] & 0x0f);
	if (p[0] & 0x10) {
		if (off + 4 > n)
			return 0;
		off += 4 + 4 * (size_t)rb16(p + off + 2);
	}
	if (p[0] & 0x20) {
		size_t pad = p[n - 1];
		if (pad > n - off || off > n)
			return 0;
		n -= pad;
	}
	if (off > n)
		return 0;
	if (c->have_seq && seq != c->next_seq)
		c->in_fu = false; /* a packet was lost: a fragmented unit cannot be whole */
	c->have_seq = true;
	c->next_seq = (uint16_t)(seq + 1);

	int ret = 0;
	if (c->au_len > 0 && ts != c->au_ts)
		ret = finish_au(c);
	if (ret < 0)
		return ret;
	c->au_ts = ts;
	c->au_arrival = c->recv_us;
	if (off < n)
		ret = c->codec == AV_CODEC_ID_H264 ? depacketize_h264(c, p + off, n - off)
						   : depacketize_h265(c, p + off, n - off);
	return ret;
}

/* ---- the input stream ---------------------------------------------------------- */

static bool message_start(int ch)
{
	return ch >= 'A' && ch <= 'Z';
}

/*
 * Takes one whole item off the input buffer: an interleaved frame (RTP of
 * the video channel goes to the depacketizer, the rest is dropped) or an
 * RTSP message (a reply goes to *reply when reply is given and *got is
 * still false; requests from the server are ignored, as libavformat does).
 * Returns 1 when an item was taken, 0 when the buffer holds no whole item,
 * or a negative AVERROR.
 */
static int next_item(struct rtsp_client *c, struct reply *reply, bool *got)
{
	const uint8_t *p = c->in + c->in_start;
	size_t n = c->in_end - c->in_start;

	if (n == 0)
		return 0;
	if (p[0] == '$') {
		if (n < 4)
			return 0;
		size_t len = rb16(p + 2);
		if (n < 4 + len)
			return 0;
		c->in_start += 4 + len;
		if (c->streaming && p[1] == c->rtp_channel) {
			int ret = on_rtp(c, p + 4, len);
			if (ret < 0)
				return ret;
		} else if (c->streaming && p[1] == c->rtp_channel + 1) {
			on_rtcp(c, p + 4, len);
		}
		return 1;
	}
	if (!message_start(p[0])) {
		c->in_start++; /* junk between frames: resynchronize */
		return 1;
	}
	const uint8_t *end = NULL;
	for (size_t i = 3; i < n; i++)
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') {
			end = p + i + 1;
			break;
		}
	if (!end)
		return n >= MSG_MAX ? AVERROR_INVALIDDATA : 0;
	size_t header_len = (size_t)(end - p);
	struct reply r = { .cseq = -1 };
	r.text = malloc(header_len + 1);
	if (!r.text)
		return AVERROR(ENOMEM);
	memcpy(r.text, p, header_len);
	r.text[header_len] = '\0';
	r.header_len = header_len;
	char v[32];
	size_t body = 0;
	if (reply_header(&r, "Content-Length", 0, v, sizeof(v)) == 0) {
		/* strictly digits: strtoul takes "-5" for a huge length, and
		 * header_len + body would wrap past the bound below */
		char *e;
		unsigned long len = strtoul(v, &e, 10);
		if (v[0] < '0' || v[0] > '9' || *e || len > MSG_MAX) {
			reply_free(&r);
			return AVERROR_INVALIDDATA;
		}
		body = len;
	}
	if (header_len + body > MSG_MAX) {
		reply_free(&r);
		return AVERROR_INVALIDDATA;
	}
	if (n < header_len + body) {
		reply_free(&r);
		return 0;
	}
	bool is_reply = n > 5 && memcmp(p, "RTSP/", 5) == 0;
	if (is_reply && reply && !*got) {
		char *t = realloc(r.text, header_len + body + 1);
		if (!t) {
			reply_free(&r);
			return AVERROR(ENOMEM);
		}
		memcpy(t + header_len, p + header_len, body);
		t[header_len + body] = '\0';
		r.text = t;
		const char *sp = strchr(t, ' ');
		r.status = sp ? atoi(sp + 1) : 0;
		if (reply_header(&r, "CSeq", 0, v, sizeof(v)) == 0)
			r.cseq = atoi(v);
		*reply = r;
		*got = true;
	} else {
		reply_free(&r);
	}
	c->in_start += header_len + body;
	return 1;
}

/* ---- requests ---------------------------------------------------------------- */

static void log_failure(const struct rtsp_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void md5_hex(const char *s, char out[33])
{
	uint8_t d[16];
	av_md5_sum(d, (const uint8_t *)s, (int)strlen(s));
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

void rtsp_digest_response(const char *user, const char *realm, const char *pass, const char *method,
			  const char *uri, const char *nonce, const char *nc, const char *cnonce,
			  const char *qop, char out[33])
{
	char a[1024], ha1[33], ha2[33];
	snprintf(a, sizeof(a), "%s:%s:%s", user, realm, pass);
	md5_hex(a, ha1);
	snprintf(a, sizeof(a), "%s:%s", method, uri);
	md5_hex(a, ha2);
	if (qop && *qop)
		snprintf(a, sizeof(a), "%s:%s:%s:%s:%s:%s", ha1, nonce, nc, cnonce, qop, ha2);
	else
		snprintf(a, sizeof(a), "%s:%s:%s", ha1, nonce, ha2);
	md5_hex(a, out);
}

/* The value of param in a WWW-Authenticate challenge ("a=b, c=\"d\""). */
static void challenge_param(const char *ch, const char *param, char *out, size_t size)
{
	size_t plen = strlen(param);
	const char *p = ch;
	out[0] = '\0';
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		const char *eq = strchr(p, '=');
		if (!eq)
			return;
		bool match = (size_t)(eq - p) == plen && strncasecmp(p, param, plen) == 0;
		const char *v = eq + 1, *ve;
		if (*v == '"') {
			v++;
			ve = strchr(v, '"');
			if (!ve)
				ve = v + strlen(v);
			p = *ve ? ve + 1 : ve;
		} else {
			ve = v + strcspn(v, ",");
			p = ve;
		}
		if (match) {
			copy_str(out, size, v, (size_t)(ve - v));
			return;
		}
	}
}

/*
 * Learns the authentication the camera asks for; Digest (MD5) when
 * offered.  Basic only when allowed: a camera, or anyone on the path, can
 * offer Basic alone (or beside a Digest of an algorithm this client does
 * not do) to have the password sent in clear.  Returns 0, -ENOENT when
 * nothing usable is offered, or RTSP_BASIC_REFUSED.
 */
static int take_challenge(struct rtsp_client *c, const struct reply *r)
{
	char ch[1024], other[32] = "";
	bool basic = false;

	for (int i = 0; reply_header(r, "WWW-Authenticate", i, ch, sizeof(ch)) == 0; i++) {
		if (strncasecmp(ch, "Digest ", 7) == 0) {
			char alg[32], qop[64];
			challenge_param(ch + 7, "algorithm", alg, sizeof(alg));
			if (alg[0] && strcasecmp(alg, "MD5") != 0) {
				copy_str(other, sizeof(other), alg, strlen(alg));
				continue;
			}
			challenge_param(ch + 7, "realm", c->realm, sizeof(c->realm));
			challenge_param(ch + 7, "nonce", c->nonce, sizeof(c->nonce));
			challenge_param(ch + 7, "opaque", c->opaque, sizeof(c->opaque));
			challenge_param(ch + 7, "qop", qop, sizeof(qop));
			c->qop_auth =
				strstr(qop, "auth") != NULL && strstr(qop, "auth-int") == NULL;
			c->nc = 0;
			c->auth = AUTH_DIGEST;
			return 0;
		}
		if (strncasecmp(ch, "Basic", 5) == 0)
			basic = true;
	}
	if (basic && c->allow_basic) {
		c->auth = AUTH_BASIC;
		return 0;
	}
	if (basic) {
		/* the log line is camera input: only printable ASCII of it */
		for (char *o = other; *o; o++)
			if (*o < 0x21 || *o > 0x7e)
				*o = '?';
		log_failure(c,
			    "the camera asks for Basic authentication%s%s%s, which would send the "
			    "password in clear: refused (allow_basic_auth is off)",
			    other[0] ? " (its Digest is '" : "", other,
			    other[0] ? "', not MD5)" : "");
		return RTSP_BASIC_REFUSED;
	}
	return -ENOENT;
}

static int authorization(struct rtsp_client *c, const char *method, const char *uri, char *out,
			 size_t size)
{
	out[0] = '\0';
	if (c->auth == AUTH_BASIC) {
		char up[600], b64[900];
		snprintf(up, sizeof(up), "%s:%s", c->url.user, c->url.pass);
		if (!av_base64_encode(b64, sizeof(b64), (const uint8_t *)up, (int)strlen(up)))
			return AVERROR(EINVAL);
		snprintf(out, size, "Authorization: Basic %s\r\n", b64);
	} else if (c->auth == AUTH_DIGEST) {
		char resp[33], nc[9] = "", cnonce[17] = "";
		if (c->qop_auth) {
			snprintf(nc, sizeof(nc), "%08x", ++c->nc);
			snprintf(cnonce, sizeof(cnonce), "%08x%08x", av_get_random_seed(),
				 av_get_random_seed());
		}
		rtsp_digest_response(c->url.user, c->realm, c->url.pass, method, uri, c->nonce, nc,
				     cnonce, c->qop_auth ? "auth" : NULL, resp);
		int n = snprintf(
			out, size,
			"Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", "
			"uri=\"%s\", response=\"%s\"",
			c->url.user, c->realm, c->nonce, uri, resp);
		if (n > 0 && (size_t)n < size && c->opaque[0])
			n += snprintf(out + n, size - (size_t)n, ", opaque=\"%s\"", c->opaque);
		if (n > 0 && (size_t)n < size && c->qop_auth)
			n += snprintf(out + n, size - (size_t)n, ", qop=auth, nc=%s, cnonce=\"%s\"",
				      nc, cnonce);
		if (n > 0 && (size_t)n < size)
			n += snprintf(out + n, size - (size_t)n, "\r\n");
		if (n < 0 || (size_t)n >= size)
			return AVERROR(ENAMETOOLONG);
	}
	return 0;
}

/* Sends one request; returns its CSeq or a negative AVERROR. */
static int send_request(struct rtsp_client *c, const char *method, const char *uri,
			const char *extra)
{
	char req[8192], auth[2048];
	int ret = authorization(c, method, uri, auth, sizeof(auth));
	if (ret < 0)
		return ret;
	int cseq = ++c->cseq;
	int n = snprintf(req, sizeof(req), "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: %s\r\n%s",
			 method, uri, cseq, c->user_agent, auth);
	if (n > 0 && (size_t)n < sizeof(req) && c->session[0])
		n += snprintf(req + n, sizeof(req) - (size_t)n, "Session: %s\r\n", c->session);
	if (n > 0 && (size_t)n < sizeof(req))
		n += snprintf(req + n, sizeof(req) - (size_t)n, "%s\r\n", extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		return AVERROR(ENAMETOOLONG);
	if ((ret = send_all(c, req, (size_t)n)) < 0)
		return ret;
	c->last_cmd_mono = clock_mono_us();
	return cseq;
}

/* Sends a request and waits for its reply (answering one authentication
 * challenge).  Returns 0 with *r filled (any status), or a negative
 * AVERROR. */
static int request(struct rtsp_client *c, const char *method, const char *uri, const char *extra,
		   struct reply *r)
{
	for (int attempt = 0;; attempt++) {
		int cseq = send_request(c, method, uri, extra);
		if (cseq < 0)
			return cseq;
		int64_t until = clock_mono_us() + c->rw_timeout_us;
		for (;;) {
			bool got = false;
			int ret = next_item(c, r, &got);
			if (ret < 0)
				return ret;
			if (got) {
				if (r->cseq == cseq || r->cseq < 0)
					break;
				reply_free(r); /* an older request's */
				continue;
			}
			if (ret > 0)
				continue;
			if ((ret = fill(c, until)) < 0)
				return ret;
		}
		if (r->status != 401 || attempt > 0 || !c->url.has_user)
			return 0;
		char stale[16] = "";
		enum auth_kind before = c->auth;
		int taken = take_challenge(c, r);
		if (taken == RTSP_BASIC_REFUSED) {
			reply_free(r);
			return taken;
		}
		if (taken < 0)
			return 0;
		char ch[1024];
		if (reply_header(r, "WWW-Authenticate", 0, ch, sizeof(ch)) == 0)
			challenge_param(ch, "stale", stale, sizeof(stale));
		if (before != AUTH_NONE && strcasecmp(stale, "true") != 0)
			return 0; /* the credentials were refused */
		reply_free(r);
	}
}

/* Says why a request failed, as libavformat's own messages reach the log:
 * at info, or at debug when it repeats the previous line of this thread (a
 * camera refusing every retry).  No URL: it may carry credentials. */
static void log_failure(const struct rtsp_client *c, const char *fmt, ...)
{
	static __thread char previous[192];
	char line[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	enum log_level level = strcmp(line, previous) == 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
	snprintf(previous, sizeof(previous), "%s", line);
	log_msg(level, "camera '%s': rtsp: %s", c->name, line);
}

static int expect_ok(const struct rtsp_client *c, const char *method, const struct reply *r)
{
	if (r->status == 200)
		return 0;
	const char *reason = strchr(r->text, ' ');
	reason = reason ? strchr(reason + 1, ' ') : NULL;
	size_t rlen = reason ? strcspn(reason + 1, "\r\n") : 0;
	log_failure(c, "method %s failed: %d %.*s", method, r->status, (int)(rlen < 64 ? rlen : 64),
		    reason ? reason + 1 : "");
	return status_error(r->status);
}

static void keepalive(struct rtsp_client *c)
{
	int timeout = c->session_timeout > 0 ? c->session_timeout : DEFAULT_SESSION_TIMEOUT;
	if (clock_mono_us() - c->last_cmd_mono < (int64_t)timeout * USEC_PER_SEC / 2)
		return;
	/* the reply is skipped when it comes */
	if (send_request(c, c->get_parameter ? "GET_PARAMETER" : "OPTIONS", c->play_url, NULL) < 0)
		c->last_cmd_mono = clock_mono_us(); /* retried half a timeout later */
}

/* ---- SDP --------------------------------------------------------------------- */

static void resolve_control(const char *base, const char *control, char *out, size_t size)
{
	if (!control[0] || strcmp(control, "*") == 0) {
		snprintf(out, size, "%s", base);
	} else if (strncasecmp(control, "rtsp://", 7) == 0) {
		snprintf(out, size, "%s", control);
	} else {
		/* a control URL too long for out is cut short: its SETUP fails */
		size_t bl = strlen(base);
		copy_str(out, size, base, bl);
		if (bl == 0 || base[bl - 1] != '/')
			copy_str(out + strlen(out), size - strlen(out), "/", 1);
		copy_str(out + strlen(out), size - strlen(out), control, strlen(control));
	}
}

/* Appends base64 parameter sets ("a,b,c") to the extradata, each behind a
 * start code.  Returns 0 or -1. */
static int add_param_sets(struct rtsp_sdp *s, const char *list)
{
	char one[1024];
	while (*list) {
		size_t len = strcspn(list, ",");
		copy_str(one, sizeof(one), list, len);
		uint8_t raw[1024];
		int n = av_base64_decode(raw, one, sizeof(raw));
		if (n > 0) {
			if ((size_t)s->extradata_size + 4 + (size_t)n > sizeof(s->extradata))
				return -1;
			memcpy(s->extradata + s->extradata_size, start_code, 4);
			memcpy(s->extradata + s->extradata_size + 4, raw, (size_t)n);
			s->extradata_size += 4 + n;
		}
		list += len;
		if (*list == ',')
			list++;
	}
	return 0;
}

/* The value of key in an fmtp parameter list ("a=1;b=2"). */
static bool fmtp_param(const char *fmtp, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	const char *p = fmtp;
	while (*p) {
		while (*p == ' ' || *p == ';')
			p++;
		size_t len = strcspn(p, ";");
		const char *eq = memchr(p, '=', len);
		if (eq && (size_t)(eq - p) == klen && strncasecmp(p, key, klen) == 0) {
			copy_str(out, size, eq + 1, len - klen - 1);
			return true;
		}
		p += len;
	}
	return false;
}

/* Audio that MP4 cannot hold as it is, which vigil leaves out anyway. */
static bool audio_not_recorded(const char *encoding, int pt)
{
	static const char *const names[] = { "PCMU", "PCMA", "G722", "G726",	  "G729", "GSM",
					     "L8",   "L16",  "G723", "AAL2-G726", "DVI4", NULL };
	if (!encoding[0])
		return pt == 0 || pt == 8 || pt == 9 || pt == 3 || pt == 4 || pt == 18 || pt == 5 ||
		       pt == 6 || pt == 10 || pt == 11;
	for (int i = 0; names[i]; i++)
		if (strncasecmp(encoding, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

struct media {
	char type[16];
	int pt;
	char encoding[32];
	int clock;
	char fmtp[2048];
	char control[2048];
	AVRational framerate;
};

static void take_media(struct rtsp_sdp *s, const struct media *m, const char *base,
		       bool *have_video)
{
	if (strcmp(m->type, "audio") == 0) {
		if (!audio_not_recorded(m->encoding, m->pt))
			s->recordable_audio = true;
		return;
	}
	if (strcmp(m->type, "video") != 0 || *have_video)
		return;
	*have_video = true;
	s->payload_type = m->pt;
	s->clock_rate = m->clock != 0 ? m->clock : 90000;
	s->framerate = m->framerate;
	resolve_control(base, m->control, s->control, sizeof(s->control));
	char v[2048];
	if (strcasecmp(m->encoding, "H264") == 0) {
		s->codec = AV_CODEC_ID_H264;
		if (fmtp_param(m->fmtp, "packetization-mode", v, sizeof(v)) && atoi(v) > 1) {
			s->unsupported = true;
			snprintf(s->why, sizeof(s->why), "H.264 packetization-mode %d", atoi(v));
		}
		if (fmtp_param(m->fmtp, "sprop-parameter-sets", v, sizeof(v)))
			add_param_sets(s, v);
	} else if (strcasecmp(m->encoding, "H265") == 0) {
		s->codec = AV_CODEC_ID_HEVC;
		if (fmtp_param(m->fmtp, "sprop-max-don-diff", v, sizeof(v)) && atoi(v) > 0) {
			s->unsupported = true;
			snprintf(s->why, sizeof(s->why), "H.265 with decoding order numbers");
		}
		static const char *const sets[] = { "sprop-vps", "sprop-sps", "sprop-pps",
						    "sprop-sei", NULL };
		for (int i = 0; sets[i]; i++)
			if (fmtp_param(m->fmtp, sets[i], v, sizeof(v)))
				add_param_sets(s, v);
	} else {
		s->codec = AV_CODEC_ID_NONE;
		s->unsupported = true;
		snprintf(s->why, sizeof(s->why), "video codec '%s'",
			 m->encoding[0] ? m->encoding : "?");
		return;
	}
	if (s->extradata_size == 0 && !s->unsupported) {
		s->unsupported = true;
		snprintf(s->why, sizeof(s->why), "no parameter sets in the SDP");
	}
}

int rtsp_parse_sdp(const char *sdp, const char *base, struct rtsp_sdp *s)
{
	struct media *m = calloc(1, sizeof(*m));
	bool in_media = false, have_video = false;
	char session_control[2048] = "";

	if (!m)
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	s->codec = AV_CODEC_ID_NONE;
	for (const char *line = sdp; line && *line;) {
		const char *eol = line + strcspn(line, "\r\n");
		char l[2100];
		copy_str(l, sizeof(l), line, (size_t)(eol - line));
		line = eol + strspn(eol, "\r\n");
		if (l[0] == 'm' && l[1] == '=') {
			if (in_media)
				take_media(s, m, base, &have_video);
			memset(m, 0, sizeof(*m));
			in_media = true;
			char proto[32] = "";
			if (sscanf(l + 2, "%15s %*s %31s %d", m->type, proto, &m->pt) < 3)
				m->pt = -1;
			continue;
		}
		if (strncmp(l, "a=control:", 10) == 0) {
			if (in_media)
				copy_str(m->control, sizeof(m->control), l + 10, strlen(l + 10));
			else
				copy_str(session_control, sizeof(session_control), l + 10,
					 strlen(l + 10));
		} else if (in_media && strncmp(l, "a=rtpmap:", 9) == 0) {
			int pt = atoi(l + 9);
			const char *enc = strchr(l + 9, ' ');
			if (pt == m->pt && enc) {
				enc++;
				size_t elen = strcspn(enc, "/");
				copy_str(m->encoding, sizeof(m->encoding), enc, elen);
				if (enc[elen] == '/')
					m->clock = atoi(enc + elen + 1);
			}
		} else if (in_media && strncmp(l, "a=fmtp:", 7) == 0) {
			int pt = atoi(l + 7);
			const char *params = strchr(l + 7, ' ');
			if (pt == m->pt && params)
				snprintf(m->fmtp, sizeof(m->fmtp), "%s", params + 1);
		} else if (in_media && strncmp(l, "a=framerate:", 12) == 0) {
			double fps = atof(l + 12);
			if (fps > 0 && fps < 1000)
				m->framerate = av_d2q(fps, 1001000);
		}
	}
	if (in_media)
		take_media(s, m, base, &have_video);
	free(m);
	if (have_video && (s->clock_rate < RTSP_CLOCK_MIN || s->clock_rate > RTSP_CLOCK_MAX)) {
		snprintf(s->why, sizeof(s->why),
			 "the video clock rate %d Hz is implausible (%d to %d Hz)", s->clock_rate,
			 RTSP_CLOCK_MIN, RTSP_CLOCK_MAX);
		return AVERROR_INVALIDDATA;
	}
	if (strncasecmp(session_control, "rtsp://", 7) == 0)
		snprintf(s->session_control, sizeof(s->session_control), "%s", session_control);
	else
		snprintf(s->session_control, sizeof(s->session_control), "%s", base);
	if (!have_video && !s->unsupported) {
		s->unsupported = true;
		snprintf(s->why, sizeof(s->why), "no video in the SDP");
	}
	return 0;
}

/* ---- the session ----------------------------------------------------------------- */

static struct rtsp_client *client_new(void)
{
	struct rtsp_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = -1;
	c->rtp_channel = 0;
	c->in = c->carry;
	return c;
}

static int make_context(const struct rtsp_sdp *s, AVFormatContext **out)
{
	AVFormatContext *ic = avformat_alloc_context();
	AVStream *st = ic ? avformat_new_stream(ic, NULL) : NULL;
	if (!st)
		goto nomem;
	st->id = 0;
	st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
	st->codecpar->codec_id = s->codec;
	st->codecpar->extradata =
		av_mallocz((size_t)s->extradata_size + AV_INPUT_BUFFER_PADDING_SIZE);
	if (!st->codecpar->extradata)
		goto nomem;
	memcpy(st->codecpar->extradata, s->extradata, (size_t)s->extradata_size);
	st->codecpar->extradata_size = s->extradata_size;
	st->time_base = (AVRational){ 1, s->clock_rate };
	if (s->framerate.num > 0)
		st->avg_frame_rate = st->r_frame_rate = s->framerate;
	*out = ic;
	return 0;
nomem:
	avformat_free_context(ic);
	return AVERROR(ENOMEM);
}

int rtsp_open(struct rtsp_client **out, AVFormatContext **icp, const struct rtsp_params *p)
{
	struct rtsp_client *c = client_new();
	struct rtsp_sdp *sdp = NULL;
	struct reply r = { .cseq = -1 };
	char v[2048], base[2048];
	int ret;

	*out = NULL;
	if (!c)
		return AVERROR(ENOMEM);
	snprintf(c->name, sizeof(c->name), "%s", p->name ? p->name : "?");
	snprintf(c->user_agent, sizeof(c->user_agent), "%s",
		 p->user_agent ? p->user_agent : "vigil");
	c->intr = p->interrupt;
	c->rw_timeout_us = p->rw_timeout_us > 0 ? p->rw_timeout_us : 10 * USEC_PER_SEC;
	c->read_timeout_us = p->read_timeout_us;
	c->allow_basic = p->allow_basic;
	if (rtsp_parse_url(p->url, &c->url) < 0) {
		ret = RTSP_FALLBACK; /* let libavformat say what is wrong with it */
		goto fail;
	}
	if ((ret = connect_to(c)) < 0) {
		if (ret != AVERROR_EXIT)
			log_failure(c, "connection to %s port %s failed: %s", c->url.host,
				    c->url.port, av_err2str(ret));
		goto fail;
	}

	if ((ret = request(c, "OPTIONS", c->url.request, NULL, &r)) < 0 ||
	    (ret = expect_ok(c, "OPTIONS", &r)) < 0)
		goto fail;
	if (reply_header(&r, "Public", 0, v, sizeof(v)) == 0)
		c->get_parameter = strstr(v, "GET_PARAMETER") != NULL;
	reply_free(&r);

	if ((ret = request(c, "DESCRIBE", c->url.request, "Accept: application/sdp\r\n", &r)) < 0 ||
	    (ret = expect_ok(c, "DESCRIBE", &r)) < 0)
		goto fail;
	if (reply_header(&r, "Content-Base", 0, base, sizeof(base)) < 0 &&
	    reply_header(&r, "Content-Location", 0, base, sizeof(base)) < 0)
		snprintf(base, sizeof(base), "%s", c->url.request);
	if (!(sdp = malloc(sizeof(*sdp)))) {
		ret = AVERROR(ENOMEM);
		goto fail;
	}
	if (rtsp_parse_sdp(reply_body(&r), base, sdp) < 0) {
		log_failure(c, "stream refused: %s", sdp->why);
		snprintf(c->why, sizeof(c->why), "%s", sdp->why);
		ret = RTSP_OVER_BOUND;
		goto fail;
	}
	reply_free(&r);
	if (sdp->unsupported || sdp->recordable_audio) {
		log_info("camera '%s': recording through libavformat's RTSP client: %s", c->name,
			 sdp->recordable_audio ? "the stream has audio to record" : sdp->why);
		ret = RTSP_FALLBACK;
		goto fail;
	}
	c->codec = sdp->codec;
	c->payload_type = sdp->payload_type;
	c->clock_rate = sdp->clock_rate;
	snprintf(c->play_url, sizeof(c->play_url), "%s", sdp->session_control);

	if ((ret = request(c, "SETUP", sdp->control,
			   "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n", &r)) < 0 ||
	    (ret = expect_ok(c, "SETUP", &r)) < 0)
		goto fail;
	if (reply_header(&r, "Session", 0, v, sizeof(v)) == 0) {
		char *semi = strchr(v, ';');
		c->session_timeout = DEFAULT_SESSION_TIMEOUT;
		if (semi) {
			char *t = strstr(semi, "timeout=");
			if (t && atoi(t + 8) > 0)
				c->session_timeout = atoi(t + 8);
			*semi = '\0';
		}
		copy_str(c->session, sizeof(c->session), v, strlen(v));
	}
	if (reply_header(&r, "Transport", 0, v, sizeof(v)) == 0) {
		const char *il = strstr(v, "interleaved=");
		if (il)
			c->rtp_channel = atoi(il + 12);
	}
	reply_free(&r);

	c->streaming = true; /* media may come before PLAY's answer */
	if ((ret = request(c, "PLAY", c->play_url, "Range: npt=0.000-\r\n", &r)) < 0 ||
	    (ret = expect_ok(c, "PLAY", &r)) < 0)
		goto fail;
	reply_free(&r);
	if (c->error) {
		ret = c->error;
		goto fail;
	}
	if ((ret = make_context(sdp, icp)) < 0 || (ret = keep_input(c)) < 0)
		goto fail;
	free(sdp);
	*out = c;
	return 0;
fail:
	if (ret == RTSP_OVER_BOUND && p->refused && p->refused_size > 0)
		snprintf(p->refused, p->refused_size, "%s", c->why);
	if (ret == RTSP_FALLBACK && c->why[0])
		log_info("camera '%s': recording through libavformat's RTSP client: %s", c->name,
			 c->why);
	reply_free(&r);
	free(sdp);
	rtsp_close(&c);
	return ret;
}

static int read_unit(struct rtsp_client *c, AVPacket *pkt)
{
	/* progress is a whole unit of the video: nothing else moves this */
	int64_t until = c->read_timeout_us > 0 ? clock_mono_us() + c->read_timeout_us : 0;

	for (;;) {
		/* all that is whole first: only the leftover is kept (fill()) */
		while (c->nready < READY_MAX && !c->error) {
			int ret = next_item(c, NULL, NULL);
			if (ret < 0)
				c->error = ret;
			if (ret <= 0)
				break;
		}
		if (c->nready > 0) {
			av_packet_move_ref(pkt, c->ready[c->ready_head]);
			c->out_arrival = c->ready_arrival[c->ready_head];
			c->ready_head = (c->ready_head + 1) % READY_MAX;
			c->nready--;
			if (!c->batching && (pkt->flags & AV_PKT_FLAG_KEY)) {
				/* the run is anchored: wake up for batches from now on */
				int lowat = RCVLOWAT;
				setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
				c->batching = true;
			}
			return 0;
		}
		if (c->error) {
			if (c->error == RTSP_FALLBACK)
				log_info("camera '%s': recording through libavformat's RTSP client "
					 "from the next connection: %s",
					 c->name, c->why);
			return c->error;
		}
		/* nothing whole in the buffer: fill() asks the interrupt
		 * callback and checks the deadline before it reads */
		keepalive(c);
		int ret = fill(c, until);
		if (ret < 0) {
			if (ret == AVERROR_EXIT || ret == AVERROR(ETIMEDOUT) || c->au_len == 0)
				return ret;
			/* the connection ended: the frame being built is whole */
			c->error = ret;
			if ((ret = finish_au(c)) < 0)
				return ret;
		}
	}
}

int rtsp_read(struct rtsp_client *c, AVPacket *pkt)
{
	int ret = read_unit(c, pkt);
	int kept = keep_input(c);
	if (kept < 0 && !c->error)
		c->error = kept; /* what was left is lost: the next read fails */
	return ret;
}

int rtsp_flush(struct rtsp_client *c, AVPacket *pkt)
{
	if (c->au_len > 0 && finish_au(c) < 0)
		return 0;
	if (c->nready == 0)
		return 0;
	av_packet_move_ref(pkt, c->ready[c->ready_head]);
	c->out_arrival = c->ready_arrival[c->ready_head];
	c->ready_head = (c->ready_head + 1) % READY_MAX;
	c->nready--;
	return 1;
}

int64_t rtsp_arrival_us(const struct rtsp_client *c)
{
	return c->out_arrival;
}

bool rtsp_clock_offset(const struct rtsp_client *c, int64_t *offset_us)
{
	if (!c->have_offset)
		return false;
	*offset_us = c->clock_offset_us;
	return true;
}

void rtsp_close(struct rtsp_client **cp)
{
	struct rtsp_client *c = *cp;
	if (!c)
		return;
	if (c->fd >= 0) {
		if (c->session[0]) {
			/* best effort, never waited for: the socket is closed next */
			char req[4096], auth[2048];
			if (authorization(c, "TEARDOWN", c->play_url, auth, sizeof(auth)) == 0) {
				int n = snprintf(
					req, sizeof(req),
					"TEARDOWN %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: %s\r\n"
					"%sSession: %s\r\n\r\n",
					c->play_url, ++c->cseq, c->user_agent, auth, c->session);
				if (n > 0 && (size_t)n < sizeof(req)) {
					ssize_t w = send(c->fd, req, (size_t)n,
							 MSG_NOSIGNAL | MSG_DONTWAIT);
					(void)w;
				}
			}
		}
		evloop_forget_fd(c->fd);
		close(c->fd);
	}
	for (int i = 0; i < READY_MAX; i++)
		av_packet_free(&c->ready[i]);
	free(c->carry_heap);
	av_buffer_unref(&c->slab);
	free(c);
	*cp = NULL;
}

/* ---- tests ---------------------------------------------------------------------- */

struct rtsp_client *rtsp_test_client(enum AVCodecID codec, int payload_type)
{
	struct rtsp_client *c = client_new();
	if (!c)
		return NULL;
	c->codec = codec;
	c->payload_type = payload_type;
	c->clock_rate = 90000;
	c->streaming = true;
	snprintf(c->name, sizeof(c->name), "test");
	return c;
}

int rtsp_test_feed_queued(struct rtsp_client *c, const uint8_t *rtp, size_t n)
{
	return on_rtp(c, rtp, n);
}

int rtsp_test_feed(struct rtsp_client *c, const uint8_t *rtp, size_t n, AVPacket *pkt)
{
	int ret = on_rtp(c, rtp, n);
	if (ret < 0)
		return ret;
	if (c->nready == 0)
		return 0;
	av_packet_move_ref(pkt, c->ready[c->ready_head]);
	c->ready_head = (c->ready_head + 1) % READY_MAX;
	c->nready--;
	return 1;
}
