/*
 * camfarm: a camera farm that costs almost nothing, for bench-ingest.  It
 * serves rtsp://ADDR:PORT/cam1 .. camN from one H.264 clip held in memory,
 * the way camsim does (same access units, same timestamps, SPS/PPS in-band
 * before every IDR, 1400-byte RTP packets, RTCP sender reports), without
 * GStreamer: camsim's pipeline per camera costs about 3 ms of CPU per
 * camera-second, which at a thousand cameras is more than the recorder it
 * is meant to measure.
 *
 * Design.  At start the clip (an MP4, camsim's cached clip) is demuxed with
 * libavformat and packetized once (RFC 6184: single NAL units, FU-A above
 * the MTU) into one blob of RTP payloads.  A connection's whole state is
 * its place in that list (loop, unit, packet, byte) and its offsets (SSRC,
 * first sequence number, first timestamp, start time): the 16 bytes of
 * interleaved framing and RTP header of each packet are written into a
 * per-thread scratch area at send time and the payload is sent from the
 * blob, one writev(2) per access unit.  Sequence numbers and timestamps
 * continue across loops (seq = first + loop * packets per loop + index,
 * ts = first + loop * clip duration + pts), as camsim's do.
 *
 * Threads.  --threads T epoll loops, each with its own listening socket on
 * the same port (SO_REUSEPORT: the kernel spreads the connections), each
 * serving its connections from a min-heap of due times: a thread wakes
 * when the earliest access unit is due and sends every unit due by then.
 * A connection whose socket is full waits for EPOLLOUT out of the heap; if
 * its reader falls more than LAG_MAX_NS behind, the units it missed are
 * dropped (counted, as a camera with a full send buffer drops them).
 *
 * Control (--control PATH): camsim's line protocol, for the benchmark:
 * "status" (one "camN STATE frames=F clients=C dropped=D" line per camera,
 * then ok), "stall camN", "resume camN" (from the next keyframe on the
 * clip's timeline), "quit".  A stall stops RTP and RTCP.
 *
 * Thread safety: a connection belongs to the thread that accepted it; the
 * only shared state is the clip (read-only after start) and the per-camera
 * counters and stall flags (atomics), read by the control thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libavformat/avformat.h>
#include <libavutil/base64.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

#define MTU 1400 /* RTP packet, header included: rtph264pay's default */
#define RTP_HDR 12
#define WIRE_HDR (4 + RTP_HDR)	    /* interleaved framing + RTP header */
#define IN_MAX 8192		    /* an RTSP request, or an interleaved frame */
#define CTL_MAX 8192		    /* replies and RTCP waiting to go out */
#define IOV_PKTS 256		    /* packets per writev */
#define SLACK_NS 1000000LL	    /* send what is due within 1 ms in one wake-up */
#define LAG_MAX_NS 2000000000LL	    /* behind by more: drop units */
#define SR_INTERVAL_NS 5000000000LL /* RTCP sender reports */
#define NS 1000000000LL
#define NTP_OFFSET 2208988800ULL

static void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("camfarm: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* ---- the clip, packetized once ------------------------------------------ */

struct pkt {
	uint32_t off; /* payload in clip.blob */
	uint16_t len; /* payload bytes (the RTP packet is RTP_HDR more) */
	uint8_t marker;
};

struct unit {
	uint32_t first, count; /* packets */
	int64_t pts90;	       /* from the clip's first unit */
	bool key;
};

static struct clip {
	uint8_t *blob;
	size_t blob_len, blob_cap;
	struct pkt *pkts;
	uint32_t npkts, pkts_cap;
	struct unit *units;
	uint32_t nunits, units_cap;
	int64_t dur90; /* one loop */
	int64_t gop90; /* from the first keyframe to the next (one loop if none) */
	int width, height, fps;
	uint8_t sps[256], pps[256];
	int sps_len, pps_len;
	char sprop[1024];
	char profile[8];
} clip;

static void *grow(void *p, uint32_t *cap, size_t elem, uint32_t need)
{
	if (need <= *cap)
		return p;
	uint32_t n = *cap ? *cap * 2 : 1024;
	while (n < need)
		n *= 2;
	void *q = realloc(p, (size_t)n * elem);
	if (!q)
		fatalx("out of memory");
	*cap = n;
	return q;
}

static void blob_add(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (clip.blob_len + alen + blen > clip.blob_cap) {
		size_t n = clip.blob_cap ? clip.blob_cap * 2 : 1 << 20;
		while (n < clip.blob_len + alen + blen)
			n *= 2;
		uint8_t *q = realloc(clip.blob, n);
		if (!q)
			fatalx("out of memory");
		clip.blob = q;
		clip.blob_cap = n;
	}
	memcpy(clip.blob + clip.blob_len, a, alen);
	clip.blob_len += alen;
	if (blen) {
		memcpy(clip.blob + clip.blob_len, b, blen);
		clip.blob_len += blen;
	}
}

static void pkt_add(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	clip.pkts = grow(clip.pkts, &clip.pkts_cap, sizeof(*clip.pkts), clip.npkts + 1);
	clip.pkts[clip.npkts++] =
		(struct pkt){ .off = (uint32_t)clip.blob_len, .len = (uint16_t)(alen + blen) };
	blob_add(a, alen, b, blen);
}

/* One NAL unit into RTP payloads: as it is, or FU-A fragments (RFC 6184
 * 5.8) of at most MTU bytes of packet, as rtph264pay cuts them. */
static void packetize_nal(const uint8_t *nal, size_t len)
{
	if (len == 0)
		return;
	if (len <= MTU - RTP_HDR) {
		pkt_add(nal, len, NULL, 0);
		return;
	}
	size_t chunk = MTU - RTP_HDR - 2;
	const uint8_t *p = nal + 1;
	size_t left = len - 1;
	bool start = true;
	while (left > 0) {
		size_t n = left < chunk ? left : chunk;
		uint8_t fu[2] = { (uint8_t)((nal[0] & 0xe0) | 28),
				  (uint8_t)((start ? 0x80 : 0) | (n == left ? 0x40 : 0) |
					    (nal[0] & 0x1f)) };
		pkt_add(fu, 2, p, n);
		p += n;
		left -= n;
		start = false;
	}
}

/* The SPS and PPS of an avcC record (ISO 14496-15 5.2.4.1), the first of
 * each: camsim's clips have one of each. */
static int parse_avcc(const uint8_t *x, int n, int *nal_len_size)
{
	if (n < 7 || x[0] != 1)
		return -1;
	*nal_len_size = (x[4] & 3) + 1;
	int nsps = x[5] & 0x1f, pos = 6;
	for (int i = 0; i < nsps; i++) {
		if (pos + 2 > n)
			return -1;
		int l = x[pos] << 8 | x[pos + 1];
		if (pos + 2 + l > n || l > (int)sizeof(clip.sps))
			return -1;
		if (i == 0) {
			memcpy(clip.sps, x + pos + 2, (size_t)l);
			clip.sps_len = l;
		}
		pos += 2 + l;
	}
	if (pos >= n)
		return -1;
	int npps = x[pos++];
	for (int i = 0; i < npps; i++) {
		if (pos + 2 > n)
			return -1;
		int l = x[pos] << 8 | x[pos + 1];
		if (pos + 2 + l > n || l > (int)sizeof(clip.pps))
			return -1;
		if (i == 0) {
			memcpy(clip.pps, x + pos + 2, (size_t)l);
			clip.pps_len = l;
		}
		pos += 2 + l;
	}
	return clip.sps_len > 3 && clip.pps_len > 0 ? 0 : -1;
}

static void load_clip(const char *path)
{
	AVFormatContext *fc = NULL;
	int ret = avformat_open_input(&fc, path, NULL, NULL);
	if (ret < 0)
		fatalx("cannot open clip '%s': %s", path, av_err2str(ret));
	if ((ret = avformat_find_stream_info(fc, NULL)) < 0)
		fatalx("clip '%s': %s", path, av_err2str(ret));
	int si = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	if (si < 0 || fc->streams[si]->codecpar->codec_id != AV_CODEC_ID_H264)
		fatalx("clip '%s': no H.264 video", path);
	AVStream *st = fc->streams[si];
	AVCodecParameters *par = st->codecpar;
	int nls = 4;
	if (parse_avcc(par->extradata, par->extradata_size, &nls) < 0)
		fatalx("clip '%s': no avcC parameter sets", path);
	clip.width = par->width;
	clip.height = par->height;
	AVRational fr = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
	clip.fps = fr.den ? (int)((fr.num + fr.den / 2) / fr.den) : 25;

	AVPacket *pkt = av_packet_alloc();
	if (!pkt)
		fatalx("out of memory");
	int64_t first_pts = AV_NOPTS_VALUE, end90 = 0;
	AVRational r90 = { 1, 90000 };
	while (av_read_frame(fc, pkt) >= 0) {
		if (pkt->stream_index != si) {
			av_packet_unref(pkt);
			continue;
		}
		int64_t pts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
		if (first_pts == AV_NOPTS_VALUE)
			first_pts = pts;
		int64_t pts90 = av_rescale_q(pts - first_pts, st->time_base, r90);
		int64_t dur90 = av_rescale_q(pkt->duration, st->time_base, r90);
		if (pts90 + dur90 > end90)
			end90 = pts90 + dur90;
		clip.units =
			grow(clip.units, &clip.units_cap, sizeof(*clip.units), clip.nunits + 1);
		struct unit *u = &clip.units[clip.nunits++];
		*u = (struct unit){ .first = clip.npkts,
				    .pts90 = pts90,
				    .key = (pkt->flags & AV_PKT_FLAG_KEY) != 0 };
		/* like rtph264pay config-interval=-1 (camsim): parameter sets go just
		 * before each IDR, the unit's own in place of the avcC's, and not
		 * where the unit had them */
		const uint8_t *sps = clip.sps, *pps = clip.pps;
		size_t sps_len = (size_t)clip.sps_len, pps_len = (size_t)clip.pps_len;
		for (int pass = 0; pass < 2; pass++) {
			bool ps_done = false;
			for (int pos = 0; pos + nls <= pkt->size;) {
				uint32_t l = 0;
				for (int i = 0; i < nls; i++)
					l = l << 8 | pkt->data[pos + i];
				pos += nls;
				if ((int64_t)pos + l > pkt->size)
					fatalx("clip '%s': a NAL unit runs past its sample", path);
				const uint8_t *nal = pkt->data + pos;
				int type = l > 0 ? nal[0] & 0x1f : 0;
				pos += (int)l;
				if (pass == 0) {
					if (type == 7) {
						sps = nal;
						sps_len = l;
					} else if (type == 8) {
						pps = nal;
						pps_len = l;
					}
					continue;
				}
				if (type == 7 || type == 8)
					continue;
				if (!ps_done && type == 5) {
					packetize_nal(sps, sps_len);
					packetize_nal(pps, pps_len);
					ps_done = true;
				}
				packetize_nal(nal, l);
			}
		}
		u->count = clip.npkts - u->first;
		if (u->count == 0)
			fatalx("clip '%s': an empty sample", path);
		clip.pkts[clip.npkts - 1].marker = 1;
		av_packet_unref(pkt);
	}
	av_packet_free(&pkt);
	avformat_close_input(&fc);
	if (clip.nunits == 0 || !clip.units[0].key)
		fatalx("clip '%s': does not start with a keyframe", path);
	clip.dur90 = end90;
	clip.gop90 = end90;
	for (uint32_t i = 1; i < clip.nunits; i++)
		if (clip.units[i].key) {
			clip.gop90 = clip.units[i].pts90;
			break;
		}
	if (clip.gop90 <= 0)
		fatalx("clip '%s': lasts no time", path);

	char b1[512], b2[512];
	if (!av_base64_encode(b1, sizeof(b1), clip.sps, clip.sps_len) ||
	    !av_base64_encode(b2, sizeof(b2), clip.pps, clip.pps_len))
		fatalx("clip '%s': parameter sets too long", path);
	snprintf(clip.sprop, sizeof(clip.sprop), "%s,%s", b1, b2);
	snprintf(clip.profile, sizeof(clip.profile), "%02x%02x%02x", clip.sps[1], clip.sps[2],
		 clip.sps[3]);
}

/* ---- cameras ----------------------------------------------------------------- */

struct camera {
	atomic_uint_fast64_t frames, dropped;
	atomic_int clients;
	atomic_bool stalled;
	int64_t gop_phase_ns; /* its keyframes fall on epoch + phase + k * GOP */
};

static struct camera *cams;
static int ncams;
static int64_t epoch_ns;

/*
 * When a client's stream begins.  A real camera's encoder runs whether or
 * not anyone watches, each on its own clock, and a new client's video
 * begins at its next keyframe: cameras that a recorder connects to at the
 * same moment still have their keyframes, and so the recorder's fragment
 * boundaries, spread over a GOP.  So each camera here has a phase of its
 * own, and a stream starts (at the clip's first frame, which is a
 * keyframe) at the camera's next keyframe time, at most one GOP after the
 * PLAY.  --aligned starts every stream at its PLAY instead: cameras that
 * a recorder connects to together then keep their keyframes together,
 * the worst case for the recorder's memory and bursts.
 */
static bool aligned;

static int64_t stream_start(const struct camera *cam, int64_t now)
{
	if (aligned)
		return now;
	int64_t gop_ns = clip.gop90 * NS / 90000;
	int64_t since = now - epoch_ns - cam->gop_phase_ns;
	return now + (gop_ns - since % gop_ns) % gop_ns;
}

static atomic_bool stopping;

/* ---- connections ------------------------------------------------------------ */

struct conn {
	int fd;
	int cam; /* 1..ncams once named by a request; 0 before */
	bool playing, closing, blocked, resync;
	int heap_pos; /* -1 when not in the heap */
	char session[17];
	uint32_t ssrc, ts_base;
	uint16_t seq_base;
	int64_t t0;  /* monotonic ns of the clip's first unit in loop 0 */
	int64_t due; /* when the next unit is due (kept: the heap compares it often) */
	uint64_t loop;
	uint32_t unit, pkt, byte; /* next to send: packet of unit, bytes of it already out */
	int64_t next_sr;
	uint32_t sr_packets, sr_octets;
	char in[IN_MAX];
	size_t in_len;
	char ctl[CTL_MAX]; /* replies and RTCP, sent between packets */
	size_t ctl_len, ctl_off;
};

struct hent {
	int64_t due;
	struct conn *c;
};

struct worker {
	int epfd, lfd;
	pthread_t thread;
	struct hent *heap; /* due times beside their connections: no pointer chased to compare */
	int heap_len, heap_cap;
	uint8_t scratch[IOV_PKTS * WIRE_HDR];
	struct iovec iov[IOV_PKTS * 2 + 1];
};

static int64_t unit_due(const struct conn *c)
{
	return c->due;
}

static void set_due(struct conn *c)
{
	int64_t loop_ns = clip.dur90 * NS / 90000;
	c->due = c->t0 + (int64_t)c->loop * loop_ns + clip.units[c->unit].pts90 * NS / 90000;
}

static bool heap_less(struct worker *w, int a, int b)
{
	return w->heap[a].due < w->heap[b].due;
}

static void heap_swap(struct worker *w, int a, int b)
{
	struct hent t = w->heap[a];
	w->heap[a] = w->heap[b];
	w->heap[b] = t;
	w->heap[a].c->heap_pos = a;
	w->heap[b].c->heap_pos = b;
}

static void heap_up(struct worker *w, int i)
{
	while (i > 0 && heap_less(w, i, (i - 1) / 2)) {
		heap_swap(w, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct worker *w, int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < w->heap_len && heap_less(w, l, m))
			m = l;
		if (r < w->heap_len && heap_less(w, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(w, i, m);
		i = m;
	}
}

static void heap_push(struct worker *w, struct conn *c)
{
	if (c->heap_pos >= 0)
		return;
	if (w->heap_len == w->heap_cap) {
		int n = w->heap_cap ? w->heap_cap * 2 : 256;
		struct hent *h = realloc(w->heap, (size_t)n * sizeof(*h));
		if (!h)
			fatalx("out of memory");
		w->heap = h;
		w->heap_cap = n;
	}
	w->heap[w->heap_len] = (struct hent){ .due = c->due, .c = c };
	c->heap_pos = w->heap_len++;
	heap_up(w, c->heap_pos);
}

static void heap_remove(struct worker *w, struct conn *c)
{
	int i = c->heap_pos;
	if (i < 0)
		return;
	c->heap_pos = -1;
	w->heap_len--;
	if (i == w->heap_len)
		return;
	w->heap[i] = w->heap[w->heap_len];
	struct conn *m = w->heap[i].c;
	m->heap_pos = i;
	heap_up(w, i);
	heap_down(w, m->heap_pos);
}

static void conn_free(struct worker *w, struct conn *c)
{
	heap_remove(w, c);
	if (c->playing && c->cam)
		atomic_fetch_sub(&cams[c->cam - 1].clients, 1);
	close(c->fd);
	free(c);
}

static void watch(struct worker *w, struct conn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
	epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void ctl_append(struct conn *c, const void *p, size_t n)
{
	if (c->ctl_len + n > sizeof(c->ctl)) {
		/* a client that never reads its replies: let it go */
		c->closing = true;
		return;
	}
	memcpy(c->ctl + c->ctl_len, p, n);
	c->ctl_len += n;
}

/* Writes what waits in ctl; 0 when all is out, 1 when the socket is full,
 * -1 when the connection is gone. */
static int ctl_flush(struct conn *c)
{
	while (c->ctl_off < c->ctl_len) {
		ssize_t n = send(c->fd, c->ctl + c->ctl_off, c->ctl_len - c->ctl_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (n <= 0)
			return -1;
		c->ctl_off += (size_t)n;
	}
	c->ctl_off = c->ctl_len = 0;
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* An RTCP compound packet (SR + SDES CNAME, RFC 3550 6.4.1, 6.5) on channel 1. */
static void queue_sr(struct conn *c, int64_t now)
{
	uint8_t b[4 + 28 + 20];
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	uint64_t ntp_s = (uint64_t)wall.tv_sec + NTP_OFFSET;
	uint32_t ntp_f = (uint32_t)(((uint64_t)wall.tv_nsec << 32) / NS);
	uint32_t ts = c->ts_base + (uint32_t)((uint64_t)(now - c->t0) * 9 / 100000);
	uint8_t *p = b + 4;
	p[0] = 0x80;
	p[1] = 200;
	p[2] = 0;
	p[3] = 6;
	put32(p + 4, c->ssrc);
	put32(p + 8, (uint32_t)ntp_s);
	put32(p + 12, ntp_f);
	put32(p + 16, ts);
	put32(p + 20, c->sr_packets);
	put32(p + 24, c->sr_octets);
	p += 28;
	p[0] = 0x81;
	p[1] = 202;
	p[2] = 0;
	p[3] = 4;
	put32(p + 4, c->ssrc);
	p[8] = 1; /* CNAME */
	p[9] = 7;
	memcpy(p + 10, "camfarm", 7);
	p[17] = p[18] = p[19] = 0; /* end of items, padded to 32 bits */
	b[0] = '$';
	b[1] = 1;
	b[2] = 0;
	b[3] = sizeof(b) - 4;
	ctl_append(c, b, sizeof(b));
	c->next_sr = now + SR_INTERVAL_NS;
}

static void advance_unit(struct conn *c)
{
	c->pkt = c->byte = 0;
	if (++c->unit == clip.nunits) {
		c->unit = 0;
		c->loop++;
	}
	set_due(c);
}

/* Sends the units of c that are due by `until`.  Returns -1 when the
 * connection is gone, 1 when it waits for its socket, 0 otherwise. */
static int send_due(struct worker *w, struct conn *c, int64_t now, int64_t until)
{
	struct camera *cam = &cams[c->cam - 1];
	for (;;) {
		if (c->pkt == 0 && c->byte == 0) {
			/* between units: replies and reports may go, stalls and lag apply */
			if (now >= c->next_sr && !atomic_load(&cam->stalled))
				queue_sr(c, now);
			int r = ctl_flush(c);
			if (r)
				return r;
			if (unit_due(c) > until)
				return 0;
			if (atomic_load_explicit(&cam->stalled, memory_order_relaxed)) {
				/* the camera's clock runs on; nothing goes out */
				while (unit_due(c) <= until)
					advance_unit(c);
				c->resync = true;
				return 0;
			}
			if (c->resync) {
				while (!clip.units[c->unit].key || unit_due(c) < now - SLACK_NS)
					advance_unit(c);
				c->resync = false;
				if (unit_due(c) > until)
					return 0;
			}
			uint64_t dropped = 0;
			while (unit_due(c) < now - LAG_MAX_NS) {
				advance_unit(c);
				dropped++;
			}
			if (dropped)
				atomic_fetch_add(&cam->dropped, dropped);
		}
		const struct unit *u = &clip.units[c->unit];
		uint64_t seq0 = (uint64_t)c->seq_base + c->loop * clip.npkts;
		uint32_t ts = c->ts_base +
			      (uint32_t)(c->loop * (uint64_t)clip.dur90 + (uint64_t)u->pts90);
		int niov = 0;
		uint32_t npk = 0;
		size_t total = 0;
		for (uint32_t i = c->pkt; i < u->count && npk < IOV_PKTS; i++, npk++) {
			const struct pkt *pk = &clip.pkts[u->first + i];
			uint8_t *h = w->scratch + npk * WIRE_HDR;
			uint16_t len = (uint16_t)(pk->len + RTP_HDR);
			uint16_t seq = (uint16_t)(seq0 + u->first + i);
			h[0] = '$';
			h[1] = 0;
			h[2] = (uint8_t)(len >> 8);
			h[3] = (uint8_t)len;
			h[4] = 0x80;
			h[5] = (uint8_t)((pk->marker ? 0x80 : 0) | 96);
			h[6] = (uint8_t)(seq >> 8);
			h[7] = (uint8_t)seq;
			put32(h + 8, ts);
			put32(h + 12, c->ssrc);
			size_t skip = i == c->pkt ? c->byte : 0;
			if (skip < WIRE_HDR) {
				w->iov[niov].iov_base = h + skip;
				w->iov[niov++].iov_len = WIRE_HDR - skip;
				skip = 0;
			} else {
				skip -= WIRE_HDR;
			}
			w->iov[niov].iov_base = clip.blob + pk->off + skip;
			w->iov[niov++].iov_len = pk->len - skip;
			total += WIRE_HDR + pk->len - (i == c->pkt ? c->byte : 0);
		}
		ssize_t n = writev(c->fd, w->iov, niov);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (n <= 0)
			return -1;
		/* account for what went */
		size_t left = (size_t)n;
		while (left > 0) {
			const struct pkt *pk = &clip.pkts[u->first + c->pkt];
			size_t rest = WIRE_HDR + pk->len - c->byte;
			if (left < rest) {
				c->byte += (uint32_t)left;
				break;
			}
			left -= rest;
			c->sr_packets++;
			c->sr_octets += pk->len;
			c->byte = 0;
			c->pkt++;
		}
		if (c->pkt == u->count) {
			atomic_fetch_add_explicit(&cam->frames, 1, memory_order_relaxed);
			advance_unit(c);
		} else if ((size_t)n < total) {
			return 1; /* the socket took part of it: wait until it drains */
		}
	}
}

/* ---- RTSP ------------------------------------------------------------------------ */

static const char *header(const char *req, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);
	for (const char *p = strstr(req, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
		const char *l = p + 2;
		if (strncasecmp(l, name, nlen) == 0 && l[nlen] == ':') {
			l += nlen + 1;
			while (*l == ' ')
				l++;
			const char *e = strstr(l, "\r\n");
			size_t n = e ? (size_t)(e - l) : strlen(l);
			if (n >= size)
				n = size - 1;
			memcpy(out, l, n);
			out[n] = '\0';
			return out;
		}
	}
	return NULL;
}

static int camera_of(const char *url)
{
	const char *p = strstr(url, "/cam");
	if (!p)
		return 0;
	char *end;
	long k = strtol(p + 4, &end, 10);
	if (end == p + 4 || (*end && *end != '/' && *end != ' ' && *end != '?') || k < 1 ||
	    k > ncams)
		return 0;
	return (int)k;
}

static void reply(struct conn *c, const char *status, const char *cseq, const char *extra,
		  const char *body)
{
	char b[4096];
	int n = snprintf(b, sizeof(b), "RTSP/1.0 %s\r\nCSeq: %s\r\nServer: camfarm\r\n%s\r\n%s",
			 status, cseq, extra ? extra : "", body ? body : "");
	if (n < 0 || (size_t)n >= sizeof(b)) {
		c->closing = true;
		return;
	}
	ctl_append(c, b, (size_t)n);
}

static void handle_request(struct worker *w, struct conn *c, char *req, int64_t now)
{
	char method[32], url[1024], cseq[32] = "0", v[512], extra[2048];
	if (sscanf(req, "%31s %1023s", method, url) != 2) {
		c->closing = true;
		return;
	}
	header(req, "CSeq", cseq, sizeof(cseq));
	int cam = camera_of(url);
	char sess[64] = "";
	if (c->session[0])
		snprintf(sess, sizeof(sess), "Session: %s;timeout=60\r\n", c->session);

	if (strcmp(method, "OPTIONS") == 0) {
		snprintf(extra, sizeof(extra),
			 "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n%s",
			 sess);
		reply(c, "200 OK", cseq, extra, NULL);
	} else if (strcmp(method, "DESCRIBE") == 0) {
		if (!cam) {
			reply(c, "404 Not Found", cseq, NULL, NULL);
			return;
		}
		char sdp[2048];
		int n = snprintf(sdp, sizeof(sdp),
				 "v=0\r\no=- %u 1 IN IP4 127.0.0.1\r\ns=camfarm\r\nt=0 0\r\n"
				 "a=control:*\r\na=range:npt=now-\r\n"
				 "m=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\n"
				 "a=rtpmap:96 H264/90000\r\na=framerate:%d\r\n"
				 "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=%s;"
				 "profile-level-id=%s;level-asymmetry-allowed=1\r\n"
				 "a=control:stream=0\r\n",
				 (unsigned)cam, clip.fps, clip.sprop, clip.profile);
		char base[1030];
		snprintf(base, sizeof(base), "%s", url);
		size_t bl = strlen(base);
		if (bl && base[bl - 1] != '/' && bl + 1 < sizeof(base)) {
			base[bl] = '/';
			base[bl + 1] = '\0';
		}
		snprintf(extra, sizeof(extra),
			 "Content-Type: application/sdp\r\nContent-Base: %s\r\n"
			 "Content-Length: %d\r\n",
			 base, n);
		reply(c, "200 OK", cseq, extra, sdp);
	} else if (strcmp(method, "SETUP") == 0) {
		if (!cam) {
			reply(c, "404 Not Found", cseq, NULL, NULL);
			return;
		}
		if (!header(req, "Transport", v, sizeof(v)) || !strstr(v, "RTP/AVP/TCP")) {
			reply(c, "461 Unsupported Transport", cseq, NULL, NULL);
			return;
		}
		c->cam = cam;
		if (!c->session[0]) {
			uint64_t r =
				((uint64_t)random() << 32) ^ (uint64_t)random() ^ (uint64_t)now;
			snprintf(c->session, sizeof(c->session), "%016" PRIx64, r);
			snprintf(sess, sizeof(sess), "Session: %s;timeout=60\r\n", c->session);
		}
		snprintf(extra, sizeof(extra),
			 "Transport: "
			 "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=%08X;mode=\"PLAY\"\r\n%s",
			 c->ssrc, sess);
		reply(c, "200 OK", cseq, extra, NULL);
	} else if (strcmp(method, "PLAY") == 0) {
		if (!c->cam) {
			reply(c, "455 Method Not Valid in This State", cseq, sess, NULL);
			return;
		}
		if (!c->playing) {
			c->playing = true;
			c->t0 = stream_start(&cams[c->cam - 1], now);
			set_due(c);
			c->next_sr = c->t0 + SR_INTERVAL_NS;
			atomic_fetch_add(&cams[c->cam - 1].clients, 1);
		}
		snprintf(extra, sizeof(extra),
			 "RTP-Info: url=%.*s/stream=0;seq=%u;rtptime=%u\r\nRange: npt=now-\r\n%s",
			 (int)(strlen(url) - (url[0] && url[strlen(url) - 1] == '/')), url,
			 (unsigned)c->seq_base, (unsigned)c->ts_base, sess);
		reply(c, "200 OK", cseq, extra, NULL);
		heap_push(w, c);
	} else if (strcmp(method, "GET_PARAMETER") == 0 || strcmp(method, "SET_PARAMETER") == 0) {
		reply(c, "200 OK", cseq, sess, NULL);
	} else if (strcmp(method, "TEARDOWN") == 0) {
		reply(c, "200 OK", cseq, sess, NULL);
		c->closing = true;
	} else {
		reply(c, "501 Not Implemented", cseq, sess, NULL);
	}
}

/* Takes whole requests (and the client's interleaved RTCP, skipped) off the
 * front of the input. */
static void parse_input(struct worker *w, struct conn *c, int64_t now)
{
	size_t pos = 0;
	while (pos < c->in_len && !c->closing) {
		char *p = c->in + pos;
		size_t avail = c->in_len - pos;
		if (p[0] == '$') {
			if (avail < 4)
				break;
			size_t n = 4 + ((size_t)(uint8_t)p[2] << 8 | (uint8_t)p[3]);
			if (avail < n)
				break;
			pos += n;
			continue;
		}
		char *end = memmem(p, avail, "\r\n\r\n", 4);
		if (!end)
			break;
		size_t hlen = (size_t)(end - p) + 4;
		char saved = p[hlen - 1];
		p[hlen - 1] = '\0';
		char cl[32];
		size_t body =
			header(p, "Content-Length", cl, sizeof(cl)) ? strtoul(cl, NULL, 10) : 0;
		if (avail < hlen + body) {
			p[hlen - 1] = saved;
			break;
		}
		p[hlen - 1] = '\n';
		char req[IN_MAX + 1];
		memcpy(req, p, hlen);
		req[hlen] = '\0';
		handle_request(w, c, req, now);
		pos += hlen + body;
	}
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	if (c->in_len == sizeof(c->in))
		c->closing = true; /* a request larger than any real one */
}

/* ---- the loop ----------------------------------------------------------------------- */

static void accept_all(struct worker *w)
{
	for (;;) {
		int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->heap_pos = -1;
		c->ssrc = (uint32_t)random();
		c->ts_base = (uint32_t)random();
		c->seq_base = (uint16_t)random();
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
		}
	}
}

/* Sends what c owes now; false when c is gone. */
static bool service(struct worker *w, struct conn *c, int64_t now)
{
	int r;
	if (c->playing) {
		heap_remove(w, c);
		r = send_due(w, c, now, now + SLACK_NS);
	} else {
		r = ctl_flush(c);
	}
	if (r < 0 || (c->closing && r == 0 && c->ctl_len == 0)) {
		conn_free(w, c);
		return false;
	}
	if (r == 1 && !c->blocked) {
		c->blocked = true;
		watch(w, c, true);
	} else if (r == 0 && c->blocked) {
		c->blocked = false;
		watch(w, c, false);
	}
	if (c->playing && r == 0)
		heap_push(w, c);
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	while (!stopping) {
		int64_t now = mono_ns();
		int timeout = 100;
		if (w->heap_len > 0) {
			int64_t due = w->heap[0].due - now;
			timeout = due <= 0 ? 0 : (int)((due + 999999) / 1000000);
			if (timeout > 100)
				timeout = 100;
		}
		int n = epoll_wait(w->epfd, evs, 256, timeout);
		now = mono_ns();
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				accept_all(w);
				continue;
			}
			struct conn *c = evs[i].data.ptr;
			if (evs[i].events & EPOLLIN) {
				ssize_t r = recv(c->fd, c->in + c->in_len,
						 sizeof(c->in) - c->in_len, MSG_DONTWAIT);
				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
					conn_free(w, c);
					continue;
				}
				if (r > 0) {
					c->in_len += (size_t)r;
					parse_input(w, c, now);
				}
			}
			if (!c->blocked || (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) ||
			    c->ctl_len)
				service(w, c, now);
		}
		while (w->heap_len > 0 && w->heap[0].due <= now + SLACK_NS)
			service(w, w->heap[0].c, now);
	}
	return NULL;
}

/* ---- control socket --------------------------------------------------------------- */

static void ctl_line(int fd, char *line)
{
	char out[256];
	size_t len = strlen(line);
	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		line[--len] = '\0';
	if (strcmp(line, "status") == 0) {
		for (int k = 0; k < ncams; k++) {
			struct camera *cam = &cams[k];
			int n = snprintf(out, sizeof(out),
					 "cam%d %s frames=%" PRIuFAST64
					 " clients=%d dropped=%" PRIuFAST64 " size=%dx%d\n",
					 k + 1, atomic_load(&cam->stalled) ? "stalled" : "up",
					 atomic_load(&cam->frames), atomic_load(&cam->clients),
					 atomic_load(&cam->dropped), clip.width, clip.height);
			if (write(fd, out, (size_t)n) != n)
				return;
		}
		snprintf(out, sizeof(out), "ok\n");
	} else if (strncmp(line, "stall ", 6) == 0 || strncmp(line, "resume ", 7) == 0) {
		bool stall = line[0] == 's';
		const char *name = line + (stall ? 6 : 7);
		int k = strncmp(name, "cam", 3) == 0 ? atoi(name + 3) : 0;
		if (k < 1 || k > ncams) {
			snprintf(out, sizeof(out), "error no camera '%s'\n", name);
		} else {
			atomic_store(&cams[k - 1].stalled, stall);
			snprintf(out, sizeof(out), "ok\n");
		}
	} else if (strcmp(line, "quit") == 0) {
		stopping = 1;
		snprintf(out, sizeof(out), "ok\n");
	} else {
		snprintf(out, sizeof(out), "error unknown command '%s'\n", line);
	}
	ssize_t w = write(fd, out, strlen(out));
	(void)w;
}

static void *control_main(void *arg)
{
	int lfd = *(int *)arg;
	while (!stopping) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		char buf[4096];
		size_t len = 0;
		for (;;) {
			ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
			if (r <= 0)
				break;
			len += (size_t)r;
			buf[len] = '\0';
			char *nl;
			while ((nl = strchr(buf, '\n'))) {
				*nl = '\0';
				ctl_line(fd, buf);
				len -= (size_t)(nl + 1 - buf);
				memmove(buf, nl + 1, len + 1);
			}
			if (len == sizeof(buf) - 1)
				break;
		}
		close(fd);
	}
	return NULL;
}

/* ---- main ---------------------------------------------------------------------------- */

/* Several threads listen on one port (SO_REUSEPORT, which only they use:
 * a single thread does without, so no other process can share the port). */
static int listen_on(const char *addr, int port, bool shared)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0)
		fatalx("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (shared)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		fatalx("bad address '%s'", addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fatalx("cannot bind %s:%d: %s", addr, port, strerror(errno));
	if (listen(fd, 4096) < 0)
		fatalx("listen: %s", strerror(errno));
	return fd;
}

static const char usage_text[] =
	"usage: camfarm --clip FILE.mp4 [--cameras N] [--port P] [--bind ADDR]\n"
	"               [--threads T] [--control PATH] [--aligned]\n"
	"Serves rtsp://ADDR:PORT/cam1 .. camN (RTP over interleaved TCP) from one\n"
	"H.264 clip held in memory; prints 'camfarm ready port=P cameras=N'.\n"
	"Each camera's keyframes have a phase of their own, and a stream begins\n"
	"at its camera's next keyframe; --aligned begins every stream at its PLAY.\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "clip", required_argument, NULL, 'c' },
					      { "cameras", required_argument, NULL, 'n' },
					      { "port", required_argument, NULL, 'p' },
					      { "bind", required_argument, NULL, 'b' },
					      { "threads", required_argument, NULL, 't' },
					      { "control", required_argument, NULL, 'C' },
					      { "aligned", no_argument, NULL, 'a' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *clip_path = NULL, *bind_addr = "127.0.0.1", *control = NULL;
	int port = 0, nthreads = 1, o;
	ncams = 4;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': clip_path = optarg; break;
		case 'n': ncams = atoi(optarg); break;
		case 'p': port = atoi(optarg); break;
		case 'b': bind_addr = optarg; break;
		case 't': nthreads = atoi(optarg); break;
		case 'C': control = optarg; break;
		case 'a': aligned = true; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (!clip_path || ncams < 1 || ncams > 100000 || nthreads < 1 || nthreads > 64 ||
	    port < 0 || port > 65535) {
		fputs(usage_text, stderr);
		return 2;
	}
	av_log_set_level(AV_LOG_ERROR);
	srandom((unsigned)(mono_ns() ^ getpid()));
	load_clip(clip_path);
	cams = calloc((size_t)ncams, sizeof(*cams));
	if (!cams)
		fatalx("out of memory");
	epoch_ns = mono_ns();
	for (int k = 0; k < ncams; k++)
		cams[k].gop_phase_ns = (int64_t)random() % (clip.gop90 * NS / 90000);

	/* signals are taken by sigwait in this thread only */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct worker *ws = calloc((size_t)nthreads, sizeof(*ws));
	if (!ws)
		fatalx("out of memory");
	for (int i = 0; i < nthreads; i++) {
		ws[i].lfd = listen_on(bind_addr, port, nthreads > 1);
		if (i == 0) {
			struct sockaddr_in sa;
			socklen_t sl = sizeof(sa);
			getsockname(ws[0].lfd, (struct sockaddr *)&sa, &sl);
			port = ntohs(sa.sin_port);
		}
		if ((ws[i].epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
			fatalx("epoll: %s", strerror(errno));
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		epoll_ctl(ws[i].epfd, EPOLL_CTL_ADD, ws[i].lfd, &ev);
	}
	int cfd = -1;
	pthread_t ctl_thread;
	if (control) {
		cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_un su = { .sun_family = AF_UNIX };
		if (strlen(control) >= sizeof(su.sun_path))
			fatalx("control path too long");
		memcpy(su.sun_path, control, strlen(control) + 1);
		unlink(control);
		if (cfd < 0 || bind(cfd, (struct sockaddr *)&su, sizeof(su)) < 0 ||
		    listen(cfd, 16) < 0)
			fatalx("control socket '%s': %s", control, strerror(errno));
		/* accept wakes every 200 ms to see a stop */
		struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
		setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (pthread_create(&ctl_thread, NULL, control_main, &cfd) != 0)
			fatalx("cannot start the control thread");
	}
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
			fatalx("cannot start thread %d", i);

	printf("camfarm ready port=%d cameras=%d\n", port, ncams);
	for (int k = 1; k <= ncams && k <= 4096; k++)
		printf("url rtsp://%s:%d/cam%d\n", bind_addr, port, k);
	fflush(stdout);
	fprintf(stderr,
		"camfarm: clip '%s': %dx%d, %u units, %u packets, %zu bytes, %.3f s a loop, "
		"GOP %.3f s; %d threads; keyframes %s\n",
		clip_path, clip.width, clip.height, clip.nunits, clip.npkts, clip.blob_len,
		(double)clip.dur90 / 90000, (double)clip.gop90 / 90000, nthreads,
		aligned ? "aligned (each stream starts at its PLAY)" : "each camera's own phase");

	while (!stopping) {
		struct timespec tmo = { .tv_sec = 0, .tv_nsec = 200000000 };
		if (sigtimedwait(&set, NULL, &tmo) > 0)
			stopping = 1;
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(ws[i].thread, NULL);
	if (control) {
		pthread_join(ctl_thread, NULL);
		unlink(control);
	}
	return 0;
}
