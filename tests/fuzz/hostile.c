/*
 * hostile.c: the scripted RTSP server of hostile.h.
 *
 * One connection, one thread, no allocation: a poll() loop reads the
 * client's requests (and skips the interleaved RTCP it sends), answers
 * each from the script's control records or with the server's own valid
 * answer, and once PLAY is answered writes the script's media records.
 * Everything the client sends is bounded (a request that does not fit the
 * buffer ends the connection); everything the script says is bounded by
 * the script's own length, the pause total and the time budget.
 */
#include "tests/fuzz/hostile.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define INBUF 16384
#define OUTBUF 70000 /* one answer, or one 64 KiB interleaved frame */
#define PAUSE_TOTAL_MS 1000
#define MAX_CHANNELS 8

/* 160x120 H.264 baseline, as x264 makes it (tests/fuzz/mkcorpus.py) */
static const char default_sdp[] =
	"v=0\r\n"
	"o=- 1 1 IN IP4 127.0.0.1\r\n"
	"s=hostile\r\n"
	"c=IN IP4 0.0.0.0\r\n"
	"t=0 0\r\n"
	"a=control:*\r\n"
	"m=video 0 RTP/AVP 96\r\n"
	"a=rtpmap:96 H264/90000\r\n"
	"a=fmtp:96 packetization-mode=1;profile-level-id=42c00b;"
	"sprop-parameter-sets=Z0LAC9kChH5cBEAAAAMAQAAADIPFCpI=,aMuDyyA=\r\n"
	"a=control:stream=0\r\n";

struct conn {
	int fd;
	const uint8_t *script;
	size_t size, pos;
	int64_t deadline_ms;
	int64_t quiet_until_ms; /* a PAUSE record */
	int paused_ms;
	size_t inlen;

	/* what the control records said for the next answer */
	const uint8_t *sdp;
	size_t sdplen;
	const uint8_t *reply;
	size_t replylen;
	bool have_reply;
	char headers[2048];
	size_t headerslen;
	int status;

	int nsetup;
	uint16_t seq[MAX_CHANNELS];
	uint32_t ts[MAX_CHANNELS];
	bool closing;
	struct hostile_stats *st;

	/* STALL, REPEAT, AUTH */
	bool stall_next, stalled;
	const uint8_t *drip;
	size_t driplen, dripped;
	const uint8_t *repeat;
	size_t repeatlen;
	int every_ms;
	int64_t next_ms;
	const uint8_t *challenge;
	size_t challengelen;
	/* cameras that never stop (issue 11) */
	int pace_ms;
	bool paced;	      /* the wait before the record at the cursor is done */
	int loops;	      /* times the LOOP record jumped back */
	const uint8_t *flood; /* a FLOOD record's payload, for the PLAY answer */
	size_t floodlen;

	/* the buffers last: hostile_serve() clears what comes before */
	uint8_t in[INBUF];
	uint8_t out[OUTBUF];
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Writes all of buf within the budget; false when the client is gone. */
static bool send_all(struct conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return false;
		int wait = (int)(c->deadline_ms - now_ms());
		if (wait <= 0)
			return false;
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		if (poll(&pfd, 1, wait) <= 0)
			return false;
	}
	return true;
}

/* The next record at the cursor, without taking it.  Returns false at the end. */
static bool peek_record(const struct conn *c, int *type, const uint8_t **payload, size_t *len,
			size_t *next)
{
	if (c->pos >= c->size)
		return false;
	*type = c->script[c->pos];
	size_t avail = c->size - c->pos - 1;
	size_t want = 0;
	if (avail >= 2)
		want = (size_t)c->script[c->pos + 1] << 8 | c->script[c->pos + 2];
	size_t hdr = avail >= 2 ? 3 : 1 + avail;
	avail = c->size - c->pos - hdr;
	*len = want < avail ? want : avail;
	*payload = c->script + c->pos + hdr;
	*next = c->pos + hdr + *len;
	return true;
}

static bool is_control(int type)
{
	return type == HOSTILE_SDP || type == HOSTILE_REPLY || type == HOSTILE_HEADER ||
	       type == HOSTILE_STATUS || type == HOSTILE_STALL || type == HOSTILE_AUTH ||
	       type == HOSTILE_FLOOD;
}

/* Media records of the cameras that never stop. */
static bool is_endless_media(int type)
{
	return type == HOSTILE_PACE || type == HOSTILE_LOOP;
}

/* Takes the control records in front of the next answer. */
static void take_controls(struct conn *c)
{
	int type;
	const uint8_t *p;
	size_t len, next;

	c->have_reply = false;
	c->headerslen = 0;
	c->status = 200;
	while (peek_record(c, &type, &p, &len, &next)) {
		if ((!is_control(type) && type != HOSTILE_CLOSE && type >= HOSTILE_SDP &&
		     type <= HOSTILE_STATUS) ||
		    type == HOSTILE_REPEAT || is_endless_media(type))
			return; /* media: after PLAY */
		c->pos = next;
		switch (type) {
		case HOSTILE_SDP:
			c->sdp = p;
			c->sdplen = len;
			break;
		case HOSTILE_HEADER:
			if (c->headerslen + len + 2 < sizeof(c->headers)) {
				memcpy(c->headers + c->headerslen, p, len);
				c->headerslen += len;
				memcpy(c->headers + c->headerslen, "\r\n", 2);
				c->headerslen += 2;
			}
			break;
		case HOSTILE_STATUS: {
			int code = 0;
			for (size_t i = 0; i < len && i < 3; i++)
				code = code * 10 + (p[i] >= '0' && p[i] <= '9' ? p[i] - '0' : 0);
			c->status = code;
			break;
		}
		case HOSTILE_REPLY:
			c->reply = p;
			c->replylen = len;
			c->have_reply = true;
			return;
		case HOSTILE_CLOSE: c->closing = true; return;
		case HOSTILE_STALL:
			c->stall_next = true;
			c->every_ms = len >= 1 && p[0] ? p[0] * 10 : 10;
			c->drip = len > 1 ? p + 1 : (const uint8_t *)"x";
			c->driplen = len > 1 ? len - 1 : 1;
			break;
		case HOSTILE_AUTH:
			c->challenge = p;
			c->challengelen = len;
			break;
		case HOSTILE_FLOOD:
			c->flood = p;
			c->floodlen = len;
			break;
		default: break; /* unknown: skipped */
		}
	}
}

/* Finds header name (with its colon) in the request; copies its value. */
static bool header_value(const char *req, const char *name, char *out, size_t outsize)
{
	size_t nlen = strlen(name);
	const char *line = strstr(req, "\r\n");

	while (line) {
		line += 2;
		if (strncasecmp(line, name, nlen) == 0) {
			const char *v = line + nlen;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t n = strcspn(v, "\r\n");
			if (n >= outsize)
				n = outsize - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return true;
		}
		line = strstr(line, "\r\n");
	}
	return false;
}

/* A FLOOD record's video, sent before the answer to PLAY. */
static bool send_flood(struct conn *c)
{
	const uint8_t *p = c->flood;

	if (c->floodlen < 10)
		return true;
	unsigned units = (unsigned)p[0] << 8 | p[1], frags = (unsigned)p[2] << 8 | p[3];
	size_t size = (size_t)p[4] << 8 | p[5];
	uint32_t step = (uint32_t)p[6] << 24 | (uint32_t)p[7] << 16 | (uint32_t)p[8] << 8 | p[9];
	uint32_t ts = 0;
	uint16_t seq = 0;
	if (size + 18 > sizeof(c->out) || size + 14 > 0xffff)
		size = sizeof(c->out) - 18 < 0xffff - 14 ? sizeof(c->out) - 18 : 0xffff - 14;
	c->flood = NULL;
	for (unsigned u = 0; u < units; u++, ts += step) {
		for (unsigned f = 0; f < frags; f++, seq++) {
			uint8_t *o = c->out;
			size_t plen = 12 + 2 + size;
			o[0] = '$';
			o[1] = 0;
			o[2] = (uint8_t)(plen >> 8);
			o[3] = (uint8_t)plen;
			o[4] = 0x80;
			o[5] = (uint8_t)((f + 1 == frags ? 0x80 : 0) | 96);
			o[6] = (uint8_t)(seq >> 8);
			o[7] = (uint8_t)seq;
			o[8] = (uint8_t)(ts >> 24);
			o[9] = (uint8_t)(ts >> 16);
			o[10] = (uint8_t)(ts >> 8);
			o[11] = (uint8_t)ts;
			memcpy(o + 12, "\x12\x34\x56\x78", 4);
			o[16] = 0x7c; /* FU-A of an IDR slice */
			o[17] = (uint8_t)((f == 0 ? 0x80 : 0) | (f + 1 == frags ? 0x40 : 0) | 5);
			memset(o + 18, 0x5a, size);
			if (!send_all(c, o, 4 + plen))
				return false;
		}
	}
	return true;
}

static bool answer(struct conn *c, const char *req)
{
	char method[32] = "", cseq[32] = "0", transport[256], extra[512] = "";
	const char *body = "";
	size_t bodylen = 0;

	if (c->stalled)
		return true; /* STALL: never answered */
	sscanf(req, "%31s", method);
	header_value(req, "CSeq:", cseq, sizeof(cseq));
	c->st->requests++;
	take_controls(c);
	if (c->closing)
		return false;
	if (c->stall_next) {
		c->stall_next = false;
		c->stalled = true;
		c->next_ms = now_ms() + c->every_ms;
	}
	if (c->have_reply)
		return send_all(c, c->reply, c->replylen);
	if (c->challenge) {
		char auth[512];
		if (header_value(req, "Authorization:", auth, sizeof(auth))) {
			if (strncasecmp(auth, "Basic", 5) == 0)
				c->st->basic_auth++;
		} else {
			int n = snprintf((char *)c->out, sizeof(c->out),
					 "RTSP/1.0 401 Unauthorized\r\nCSeq: %s\r\n", cseq);
			for (size_t i = 0;
			     i < c->challengelen && n > 0 && (size_t)n + 64 < sizeof(c->out);) {
				size_t l = 0;
				while (i + l < c->challengelen && c->challenge[i + l] != '\n')
					l++;
				if ((size_t)n + l + 64 >= sizeof(c->out))
					break;
				n += snprintf((char *)c->out + n, sizeof(c->out) - (size_t)n,
					      "WWW-Authenticate: %.*s\r\n", (int)l,
					      (const char *)c->challenge + i);
				i += l + 1;
			}
			if (n < 0 || (size_t)n + 3 > sizeof(c->out))
				return false;
			memcpy(c->out + n, "\r\n", 2);
			return send_all(c, c->out, (size_t)n + 2);
		}
	}

	if (strcmp(method, "OPTIONS") == 0) {
		snprintf(extra, sizeof(extra),
			 "Public: OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, "
			 "GET_PARAMETER\r\n");
	} else if (strcmp(method, "DESCRIBE") == 0) {
		body = c->sdp ? (const char *)c->sdp : default_sdp;
		bodylen = c->sdp ? c->sdplen : strlen(default_sdp);
		snprintf(extra, sizeof(extra),
			 "Content-Base: rtsp://127.0.0.1/cam1/\r\nContent-Type: application/sdp\r\n"
			 "Content-Length: %zu\r\n",
			 bodylen);
	} else if (strcmp(method, "SETUP") == 0) {
		int lo = 2 * c->nsetup, hi = lo + 1;
		if (header_value(req, "Transport:", transport, sizeof(transport))) {
			const char *il = strstr(transport, "interleaved=");
			if (il)
				sscanf(il + 12, "%d-%d", &lo, &hi);
		}
		c->nsetup++;
		snprintf(extra, sizeof(extra),
			 "Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n"
			 "Session: 47112344;timeout=60\r\n",
			 lo, hi);
	} else {
		snprintf(extra, sizeof(extra), "Session: 47112344\r\n");
		if (strcmp(method, "PLAY") == 0 && c->flood && !send_flood(c))
			return false;
		if (strcmp(method, "PLAY") == 0)
			c->st->played = 1;
	}
	int n = snprintf((char *)c->out, sizeof(c->out), "RTSP/1.0 %d %s\r\nCSeq: %s\r\n%s%.*s\r\n",
			 c->status, c->status == 200 ? "OK" : "Hostile", cseq, extra,
			 (int)c->headerslen, c->headers);
	if (n < 0 || (size_t)n >= sizeof(c->out))
		return false;
	if (!send_all(c, c->out, (size_t)n))
		return false;
	return bodylen == 0 || send_all(c, body, bodylen);
}

/* Answers every whole request in the input buffer and drops the
 * interleaved frames the client sends.  false: close. */
static bool read_requests(struct conn *c)
{
	for (;;) {
		if (c->inlen == 0)
			return true;
		if (c->in[0] == '$') {
			if (c->inlen < 4)
				return true;
			size_t flen = 4 + ((size_t)c->in[2] << 8 | c->in[3]);
			if (c->inlen < flen)
				return true;
			memmove(c->in, c->in + flen, c->inlen - flen);
			c->inlen -= flen;
			continue;
		}
		uint8_t *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
		if (!end)
			return c->inlen < sizeof(c->in) - 1;
		size_t hlen = (size_t)(end - c->in) + 4;
		char req[INBUF + 1], clen[32];
		memcpy(req, c->in, hlen);
		req[hlen] = '\0';
		size_t body = 0;
		if (header_value(req, "Content-Length:", clen, sizeof(clen)))
			body = (size_t)strtoul(clen, NULL, 10);
		if (body > sizeof(c->in))
			return false;
		if (c->inlen < hlen + body)
			return true;
		memmove(c->in, c->in + hlen + body, c->inlen - hlen - body);
		c->inlen -= hlen + body;
		if (!answer(c, req))
			return false;
	}
}

/* Sends the media records at the cursor, up to a control record or a
 * pause.  false: close. */
static bool send_media(struct conn *c)
{
	int type;
	const uint8_t *p;
	size_t len, next;

	while (now_ms() >= c->quiet_until_ms && peek_record(c, &type, &p, &len, &next)) {
		if (is_control(type))
			return true; /* waits for the next request */
		/* PACE: a wait before each access unit */
		if (type == HOSTILE_RTPH && c->pace_ms > 0 && len >= 8 &&
		    (p[4] | p[5] | p[6] | p[7]) && !c->paced) {
			c->paced = true;
			c->quiet_until_ms = now_ms() + c->pace_ms;
			return true;
		}
		c->paced = false;
		size_t here = c->pos;
		c->pos = next;
		c->st->media++;
		switch (type) {
		case HOSTILE_RTP:
			if (len >= 1) {
				c->out[0] = '$';
				c->out[1] = p[0];
				c->out[2] = (uint8_t)((len - 1) >> 8);
				c->out[3] = (uint8_t)(len - 1);
				memcpy(c->out + 4, p + 1, len - 1);
				if (!send_all(c, c->out, len + 3))
					return false;
			}
			break;
		case HOSTILE_RTPH:
			if (len >= 8) {
				int ch = p[0] % MAX_CHANNELS;
				size_t plen = len - 8;
				c->seq[ch] += (uint16_t)(p[2] << 8 | p[3]);
				c->ts[ch] += (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
					     (uint32_t)p[6] << 8 | p[7];
				uint8_t *o = c->out;
				o[0] = '$';
				o[1] = p[0];
				o[2] = (uint8_t)((plen + 12) >> 8);
				o[3] = (uint8_t)(plen + 12);
				o[4] = 0x80;
				o[5] = p[1];
				o[6] = (uint8_t)(c->seq[ch] >> 8);
				o[7] = (uint8_t)c->seq[ch];
				o[8] = (uint8_t)(c->ts[ch] >> 24);
				o[9] = (uint8_t)(c->ts[ch] >> 16);
				o[10] = (uint8_t)(c->ts[ch] >> 8);
				o[11] = (uint8_t)c->ts[ch];
				memcpy(o + 12, "\x12\x34\x56\x78", 4); /* SSRC */
				memcpy(o + 16, p + 8, plen);
				if (!send_all(c, o, plen + 16))
					return false;
			}
			break;
		case HOSTILE_RAW:
			if (!send_all(c, p, len))
				return false;
			break;
		case HOSTILE_PAUSE: {
			int ms = len >= 1 ? p[0] * 10 : 10;
			if (c->paused_ms + ms > PAUSE_TOTAL_MS)
				ms = PAUSE_TOTAL_MS - c->paused_ms;
			c->paused_ms += ms;
			c->quiet_until_ms = now_ms() + ms;
			return true;
		}
		case HOSTILE_CLOSE: return false;
		case HOSTILE_REPEAT:
			c->every_ms = len >= 1 && p[0] ? p[0] * 10 : 10;
			c->repeat = p + (len >= 1 ? 1 : 0);
			c->repeatlen = len >= 1 ? len - 1 : 0;
			c->next_ms = now_ms();
			return true;
		case HOSTILE_PACE: c->pace_ms = len >= 1 ? p[0] : 0; break;
		case HOSTILE_LOOP:
			if (len >= 6) {
				int count = p[0] << 8 | p[1];
				size_t back = (size_t)p[2] << 24 | (size_t)p[3] << 16 |
					      (size_t)p[4] << 8 | p[5];
				if (c->loops < count && back <= here) {
					c->loops++;
					c->pos = here - back;
				}
			}
			break;
		default: break;
		}
	}
	return true;
}

/* STALL and REPEAT, when their interval has come.  false: close. */
static bool send_forever(struct conn *c)
{
	if (now_ms() < c->next_ms)
		return true;
	c->next_ms = now_ms() + c->every_ms;
	if (c->stalled) {
		uint8_t b = c->drip[c->dripped++ % c->driplen];
		return send_all(c, &b, 1);
	}
	/* the inner record is a script of its own: send it as one */
	const uint8_t *script = c->script;
	size_t size = c->size, pos = c->pos;
	c->script = c->repeat;
	c->size = c->repeatlen;
	c->pos = 0;
	c->repeat = NULL; /* a REPEAT inside does not nest */
	bool ok = send_media(c);
	if (!c->repeat) {
		c->repeat = c->script;
		c->repeatlen = c->size;
	}
	c->script = script;
	c->size = size;
	c->pos = pos;
	c->every_ms = c->every_ms > 0 ? c->every_ms : 10;
	return ok;
}

int hostile_serve(int fd, const uint8_t *script, size_t size, int budget_ms,
		  struct hostile_stats *stats)
{
	static __thread struct conn c;
	struct hostile_stats ignored;

	memset(&c, 0, offsetof(struct conn, in));
	c.fd = fd;
	c.script = script;
	c.size = size;
	c.st = stats ? stats : &ignored;
	memset(c.st, 0, sizeof(*c.st));
	c.deadline_ms = now_ms() + budget_ms;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

	for (;;) {
		int64_t now = now_ms();
		if (now >= c.deadline_ms)
			return -1;
		if (c.st->played && !c.repeat && !send_media(&c))
			return 0;
		if ((c.stalled || (c.repeat && c.st->played)) && !send_forever(&c))
			return 0;
		if (c.st->played && !c.repeat && c.pos >= c.size && now_ms() >= c.quiet_until_ms)
			return 0; /* the script is done */
		int wait = (int)(c.deadline_ms - now_ms());
		if ((c.stalled || (c.repeat && c.st->played)) && c.next_ms - now_ms() < wait)
			wait = (int)(c.next_ms - now_ms());
		if (c.st->played && c.quiet_until_ms > now_ms() &&
		    c.quiet_until_ms - now_ms() < wait)
			wait = (int)(c.quiet_until_ms - now_ms());
		else if (c.st->played && c.pos < c.size) {
			int type;
			const uint8_t *p;
			size_t len, next;
			if (peek_record(&c, &type, &p, &len, &next) && !is_control(type))
				wait = 0;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n = poll(&pfd, 1, wait < 0 ? 0 : wait);
		if (n < 0 && errno != EINTR)
			return 0;
		if (n <= 0)
			continue;
		ssize_t r = recv(fd, c.in + c.inlen, sizeof(c.in) - c.inlen, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			c.st->client_closed = 1;
			return 0;
		}
		if (r > 0) {
			c.inlen += (size_t)r;
			if (!read_requests(&c))
				return 0;
		}
	}
}
