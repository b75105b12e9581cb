/*
 * floorrec: the least a recorder with vigil's guarantees can spend on a
 * camera, for bench-ingest.  It plays rtsp://.../camK streams (RTP over
 * interleaved TCP, as vigil's lean path takes them) and does with their
 * bytes only what no such recorder can skip: each byte comes into user
 * space once (recv, into the buffer it is written from), is hashed once
 * (SHA-256, util/sha256.c: the hash vigil's catalog keeps), and is written
 * once, a second's worth per write; every --fsync-seconds each file is
 * fdatasync'd and its synced pages leave the page cache, on a thread of its
 * own so that the reading thread never waits for the disk.
 *
 * It parses nothing past the PLAY reply and writes the stream as it came
 * (interleaved framing and RTP headers included, about 1 % more bytes than
 * the video), so what vigil spends above it is the cost of being a
 * recorder: depacketizing, fragmenting, the MP4 boxes, the catalog, health.
 *
 * usage: floorrec --out DIR [--fsync-seconds 5] [--no-hash] [--no-sync] URL...
 * --no-hash and --no-sync leave those parts out, to weigh them.
 * Writes DIR/camK/floor.bin for each URL's camK (K: the URL's position).
 * Runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/sha256.h"
#include "util/banned.h"

#define RCVLOWAT (96 * 1024)  /* ingest/rtsp.c's */
#define READ_MIN (160 * 1024) /* room asked of each read: ingest/rtsp.c's area */
#define NS 1000000000LL

static void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("floorrec: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

enum step { SENT_DESCRIBE, SENT_SETUP, SENT_PLAY, STREAMING };

struct camera {
	int sock, file;
	enum step step;
	char url[512];
	unsigned char *buf; /* replies until PLAY's, then the second being gathered */
	size_t len, cap;
	int64_t next_flush_ns, next_sync_ns;
	struct sha256 *hash;

	/* shared with the sync thread, under sync_lock */
	int64_t written;      /* bytes in the file */
	int64_t dropped_upto; /* page cache given back below this offset */
	bool sync_queued;
};

static struct camera *cams;
static int ncams;
static int64_t sync_interval_ns;
static const int64_t flush_interval_ns = NS; /* a write per second, as vigil's fragments */
static bool hashing = true, syncing = true;

static pthread_mutex_t sync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_wake = PTHREAD_COND_INITIALIZER;
static int *sync_queue; /* a ring of camera indexes, each queued at most once */
static int sync_head, sync_count;

static void send_all(struct camera *c, const char *text)
{
	size_t n = strlen(text);
	while (n > 0) {
		ssize_t w = send(c->sock, text, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fatalx("%s: send: %s", c->url, strerror(errno));
		text += w;
		n -= (size_t)w;
	}
}

static void request(struct camera *c, const char *method, const char *url, int cseq,
		    const char *extra)
{
	char req[1536];
	snprintf(req, sizeof(req), "%s %s RTSP/1.0\r\nCSeq: %d\r\n%s\r\n", method, url, cseq,
		 extra);
	send_all(c, req);
}

static void grow(struct camera *c, size_t room)
{
	if (c->cap - c->len >= room)
		return;
	size_t cap = c->cap ? c->cap : READ_MIN;
	while (cap - c->len < room)
		cap *= 2;
	if (!(c->buf = realloc(c->buf, cap)))
		fatalx("out of memory");
	c->cap = cap;
}

/* The length of the first whole reply in the buffer (its body included),
 * or 0 while it is not all there. */
static size_t whole_reply(const struct camera *c)
{
	const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	if (!end)
		return 0;
	size_t head = (size_t)(end - (const char *)c->buf) + 4, body = 0;
	const char *cl = memmem(c->buf, head, "Content-Length:", 15);
	if (cl)
		body = strtoul(cl + 15, NULL, 10);
	return c->len >= head + body ? head + body : 0;
}

static void handshake(struct camera *c, int64_t now)
{
	size_t n;
	while (c->step != STREAMING && (n = whole_reply(c)) > 0) {
		if (n < 12 || memcmp(c->buf, "RTSP/1.0 200", 12) != 0)
			fatalx("%s: %.*s", c->url, (int)(n < 80 ? n : 80), (const char *)c->buf);
		const char *sess = memmem(c->buf, n, "Session: ", 9);
		char extra[256] = "";
		if (sess) {
			size_t k = strcspn(sess + 9, ";\r\n");
			snprintf(extra, sizeof(extra), "Session: %.*s\r\n", (int)k, sess + 9);
		}
		char track[600];
		snprintf(track, sizeof(track), "%s/stream=0", c->url);
		if (c->step == SENT_DESCRIBE) {
			request(c, "SETUP", track, 2,
				"Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n");
			c->step = SENT_SETUP;
		} else if (c->step == SENT_SETUP) {
			strncat(extra, "Range: npt=0.000-\r\n", sizeof(extra) - strlen(extra) - 1);
			request(c, "PLAY", c->url, 3, extra);
			c->step = SENT_PLAY;
		} else {
			c->step = STREAMING;
			c->next_flush_ns = now + flush_interval_ns;
			/* woken per RCVLOWAT bytes, not per packet, as vigil is */
			int lowat = RCVLOWAT;
			setsockopt(c->sock, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
		}
		memmove(c->buf, c->buf + n, c->len - n);
		c->len -= n;
	}
}

static void queue_sync(int k)
{
	pthread_mutex_lock(&sync_lock);
	if (!cams[k].sync_queued) {
		cams[k].sync_queued = true;
		sync_queue[(sync_head + sync_count++) % ncams] = k;
		pthread_cond_signal(&sync_wake);
	}
	pthread_mutex_unlock(&sync_lock);
}

/* What has come, below the low-water mark too. */
static void take_pending(struct camera *c)
{
	for (;;) {
		grow(c, READ_MIN);
		ssize_t r = recv(c->sock, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (r == 0)
			fatalx("%s: the camera closed the connection", c->url);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			fatalx("%s: recv: %s", c->url, strerror(errno));
		}
		c->len += (size_t)r;
		if ((size_t)r < READ_MIN)
			return;
	}
}

static void flush(int k, int64_t now)
{
	struct camera *c = &cams[k];
	take_pending(c);
	for (size_t off = 0; off < c->len;) {
		ssize_t w = write(c->file, c->buf + off, c->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fatalx("cam%d: write: %s", k + 1, strerror(errno));
		off += (size_t)w;
	}
	/* after the write, whose copy brought the bytes back into the cache:
	 * hashed before it, from memory, they cost half as much again */
	if (hashing)
		sha256_update(c->hash, c->buf, c->len);
	pthread_mutex_lock(&sync_lock);
	c->written += (int64_t)c->len;
	pthread_mutex_unlock(&sync_lock);
	c->len = 0;
	c->next_flush_ns += flush_interval_ns;
	if (c->next_flush_ns < now)
		c->next_flush_ns = now + flush_interval_ns;
	if (syncing && now >= c->next_sync_ns) {
		queue_sync(k);
		c->next_sync_ns = now + sync_interval_ns;
	}
}

static void *sync_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&sync_lock);
		while (sync_count == 0)
			pthread_cond_wait(&sync_wake, &sync_lock);
		int k = sync_queue[sync_head];
		sync_head = (sync_head + 1) % ncams;
		sync_count--;
		struct camera *c = &cams[k];
		c->sync_queued = false;
		int64_t upto = c->written, from = c->dropped_upto;
		pthread_mutex_unlock(&sync_lock);

		if (fdatasync(c->file) < 0)
			fatalx("cam%d: fdatasync: %s", k + 1, strerror(errno));
		/* the last, partly written page stays: the next write needs it */
		int64_t whole = upto & ~(int64_t)4095;
		if (whole > from) {
			posix_fadvise(c->file, from, whole - from, POSIX_FADV_DONTNEED);
			pthread_mutex_lock(&sync_lock);
			c->dropped_upto = whole;
			pthread_mutex_unlock(&sync_lock);
		}
	}
	return NULL;
}

static int connect_to(const char *url)
{
	char host[256];
	int port = 554;
	if (sscanf(url, "rtsp://%255[^:/]:%d", host, &port) < 1)
		fatalx("'%s': not an rtsp:// URL", url);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	int err = getaddrinfo(host, service, &hints, &ai);
	if (err)
		fatalx("%s: %s", url, gai_strerror(err));
	int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, ai->ai_addr, ai->ai_addrlen) < 0)
		fatalx("%s: connect: %s", url, strerror(errno));
	freeaddrinfo(ai);
	return s;
}

static void usage(void)
{
	fputs("usage: floorrec --out DIR [--fsync-seconds S] [--no-hash] [--no-sync] URL...\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "out", required_argument, NULL, 'o' },
					      { "fsync-seconds", required_argument, NULL, 's' },
					      { "no-hash", no_argument, NULL, 'H' },
					      { "no-sync", no_argument, NULL, 'S' },
					      { NULL, 0, NULL, 0 } };
	const char *out = NULL;
	double fsync_s = 5;
	int opt;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'o')
			out = optarg;
		else if (opt == 's')
			fsync_s = atof(optarg);
		else if (opt == 'H')
			hashing = false;
		else if (opt == 'S')
			syncing = false;
		else
			usage();
	}
	ncams = argc - optind;
	if (!out || ncams < 1 || fsync_s <= 0)
		usage();
	sync_interval_ns = (int64_t)(fsync_s * NS);
	if (!(cams = calloc((size_t)ncams, sizeof(*cams))) ||
	    !(sync_queue = calloc((size_t)ncams, sizeof(*sync_queue))))
		fatalx("out of memory");

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		fatalx("epoll_create1: %s", strerror(errno));
	int64_t now = now_ns();
	for (int k = 0; k < ncams; k++) {
		struct camera *c = &cams[k];
		snprintf(c->url, sizeof(c->url), "%s", argv[optind + k]);
		char path[4096];
		snprintf(path, sizeof(path), "%s/cam%d", out, k + 1);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fatalx("%s: %s", path, strerror(errno));
		strncat(path, "/floor.bin", sizeof(path) - strlen(path) - 1);
		if ((c->file = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
			fatalx("%s: %s", path, strerror(errno));
		if (!(c->hash = sha256_new()))
			fatalx("out of memory");
		/* spread the syncs over the interval, as cameras started apart are */
		c->next_sync_ns = now + sync_interval_ns * (k + 1) / ncams;
		c->sock = connect_to(c->url);
		request(c, "DESCRIBE", c->url, 1, "Accept: application/sdp\r\n");
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)k };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->sock, &ev) < 0)
			fatalx("epoll_ctl: %s", strerror(errno));
	}
	pthread_t syncer;
	if (pthread_create(&syncer, NULL, sync_main, NULL) != 0)
		fatalx("cannot start the sync thread");

	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, 50);
		if (n < 0 && errno != EINTR)
			fatalx("epoll_wait: %s", strerror(errno));
		now = now_ns();
		for (int i = 0; i < n; i++) {
			struct camera *c = &cams[evs[i].data.u32];
			take_pending(c);
			if (c->step != STREAMING)
				handshake(c, now);
		}
		for (int k = 0; k < ncams; k++) {
			struct camera *c = &cams[k];
			if (c->step == STREAMING && now >= c->next_flush_ns)
				flush(k, now);
		}
	}
}
