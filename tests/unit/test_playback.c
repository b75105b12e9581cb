/*
 * web/pbstream.c: playback streams over real segment files written by the
 * segment writer (synthetic H.264, a keyframe every 2 s, so every other
 * fragment starts without one) and catalogued in a real catalog.  The
 * stream is read back box by box against the source files, and with
 * libavformat.
 */
#include <errno.h>
#include <fcntl.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "ingest/segwriter.h"
#include "tests/unit/test.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "web/playback.h"

#define TB_HZ 90000
#define FRAME_TICKS 3600 /* 25 fps */
#define GOP 50		 /* 2 s: fragments at 0 s (key), 1 s (not key), 2 s (key) ... */
#define SEG_FRAMES 100	 /* 4 s per segment */
#define T0 (INT64_C(1790000000) * 1000000)
#define S (INT64_C(1000000))

static const uint8_t sps_a[] = { 0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0,
				 0x5a, 0x83, 0x03, 0x03, 0x52, 0x80, 0x00, 0x00, 0x03, 0x00,
				 0x80, 0x00, 0x00, 0x19, 0x47, 0x8b, 0x17, 0x50 };
/* the same but level 3.1: another format */
static const uint8_t sps_b[] = { 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0,
				 0x5a, 0x83, 0x03, 0x03, 0x52, 0x80, 0x00, 0x00, 0x03, 0x00,
				 0x80, 0x00, 0x00, 0x19, 0x47, 0x8b, 0x17, 0x50 };
static const uint8_t pps[] = { 0x68, 0xce, 0x3c, 0x80 };

static void put(uint8_t **p, const void *d, size_t n)
{
	memcpy(*p, d, n);
	*p += n;
}

/* Access unit i (counted over the whole recording), Annex B. */
static AVPacket *make_unit(int i, const uint8_t *sps)
{
	uint8_t buf[4096], *p = buf;
	bool key = i % GOP == 0;

	if (key) {
		put(&p, "\0\0\0\1", 4);
		put(&p, sps, sizeof(sps_a));
		put(&p, "\0\0\0\1", 4);
		put(&p, pps, sizeof(pps));
	}
	put(&p, "\0\0\0\1", 4);
	*p++ = key ? 0x65 : 0x41;
	size_t n = key ? 1200 + (size_t)i : 150 + (size_t)(i * 37 % 200);
	for (size_t k = 0; k < n; k++)
		*p++ = (uint8_t)(1 + (k * 31 + (size_t)i * 7) % 255);
	AVPacket *pkt = av_packet_alloc();
	av_new_packet(pkt, (int)(p - buf));
	memcpy(pkt->data, buf, (size_t)(p - buf));
	pkt->dts = pkt->pts = (int64_t)i * FRAME_TICKS;
	if (key)
		pkt->flags |= AV_PKT_FLAG_KEY;
	return pkt;
}

static AVCodecParameters *make_par(const uint8_t *sps)
{
	AVCodecParameters *par = avcodec_parameters_alloc();
	par->codec_type = AVMEDIA_TYPE_VIDEO;
	par->codec_id = AV_CODEC_ID_H264;
	par->width = 640;
	par->height = 360;
	par->extradata_size = 8 + (int)sizeof(sps_a) + (int)sizeof(pps);
	par->extradata = av_mallocz((size_t)par->extradata_size + AV_INPUT_BUFFER_PADDING_SIZE);
	uint8_t *p = par->extradata;
	put(&p, "\0\0\0\1", 4);
	put(&p, sps, sizeof(sps_a));
	put(&p, "\0\0\0\1", 4);
	put(&p, pps, sizeof(pps));
	return par;
}

/* A segment being written: its catalog row, file and writer. */
struct wseg {
	int64_t id;
	char rel[CATALOG_PATH_MAX];
	char path[512];
	struct segwriter *sw;
	AVCodecParameters *par;
	const uint8_t *sps;
	int first, next; /* frames: the first, the next to write */
	int64_t start_us;
};

static int wseg_begin(struct catalog *cat, struct wseg *w, int first_frame, int64_t start_us,
		      const uint8_t *sps)
{
	char dir[512];
	memset(w, 0, sizeof(*w));
	w->sps = sps;
	w->first = w->next = first_frame;
	w->start_us = start_us;
	if (catalog_segment_begin(cat, "cam1", start_us, "h264", 640, 360, false, &w->id, w->rel,
				  sizeof(w->rel)) < 0)
		return -1;
	snprintf(w->path, sizeof(w->path), "%s/%s", test_dir(), w->rel);
	snprintf(dir, sizeof(dir), "%s", w->path);
	*strrchr(dir, '/') = '\0';
	if (fs_mkdir_p(dir, 0750) < 0)
		return -1;
	w->par = make_par(sps);
	struct segwriter_params p = {
		.video = w->par,
		.video_tb = (AVRational){ 1, TB_HZ },
		.origin_ts = (int64_t)first_frame * FRAME_TICKS,
	};
	return segwriter_open(&w->sw, w->path, &p) < 0 ? -1 : 0;
}

static int wseg_write(struct wseg *w, int upto)
{
	for (; w->next < upto; w->next++) {
		AVPacket *pkt = make_unit(w->next, w->sps);
		int ret = segwriter_write(w->sw, pkt, SEGWRITER_VIDEO);
		av_packet_free(&pkt);
		if (ret < 0)
			return -1;
	}
	return 0;
}

static int wseg_finish(struct catalog *cat, struct wseg *w)
{
	struct segment_result r;
	int ret = segwriter_finish(w->sw, (int64_t)w->next * FRAME_TICKS, &r);
	segwriter_free(&w->sw);
	avcodec_parameters_free(&w->par);
	if (ret < 0)
		return -1;
	r.end_us = w->start_us + (int64_t)(w->next - w->first) * FRAME_TICKS * S / TB_HZ;
	return catalog_segment_finish(cat, w->id, &r, SEGMENT_COMPLETE) < 0 ? -1 : 0;
}

/* A whole segment of SEG_FRAMES frames starting at frame first. */
static int whole_segment(struct catalog *cat, int first, int64_t start_us, const uint8_t *sps,
			 struct wseg *w)
{
	if (wseg_begin(cat, w, first, start_us, sps) < 0 || wseg_write(w, first + SEG_FRAMES) < 0 ||
	    wseg_finish(cat, w) < 0) {
		test_fail(__FILE__, __LINE__, "cannot write segment at frame %d", first);
		return -1;
	}
	return 0;
}

static struct catalog *open_catalog(void)
{
	char err[256];
	av_log_set_level(AV_LOG_ERROR);
	struct catalog *cat =
		catalog_open(test_path("catalog.db"), CATALOG_READ_WRITE, err, sizeof(err));
	if (!cat)
		test_fail(__FILE__, __LINE__, "catalog_open: %s", err);
	return cat;
}

/* ---- reading boxes back -------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

struct top {
	char type[5];
	size_t off, size;
};

static int top_boxes(const uint8_t *d, size_t len, struct top *t, int max)
{
	int n = 0;
	for (size_t off = 0; off + 8 <= len && n < max;) {
		size_t size = be32(d + off);
		if (size < 8 || size > len - off)
			return -1;
		memcpy(t[n].type, d + off + 4, 4);
		t[n].type[4] = '\0';
		t[n].off = off;
		t[n].size = size;
		n++;
		off += size;
	}
	return n;
}

static int read_file(const char *path, struct buf *b)
{
	buf_init(b, 64 * 1024 * 1024);
	return fs_read_file(path, b, 64 * 1024 * 1024);
}

/* The whole stream, read in pieces of odd sizes. */
static int read_stream(struct pb_stream *s, struct buf *out, size_t piece)
{
	uint8_t tmp[7001];
	int64_t pos = 0;
	buf_init(out, 64 * 1024 * 1024);
	for (;;) {
		ssize_t n = pb_stream_read(s, pos, tmp, piece < sizeof(tmp) ? piece : sizeof(tmp));
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		if (buf_append(out, tmp, (size_t)n) < 0)
			return -ENOMEM;
		pos += n;
	}
}

/* In a fragwriter moof: the mfhd sequence number and the tfdt time. */
#define MOOF_SEQ_AT 20
#define MOOF_TFDT_AT 64

/* Checks that fragment k of the stream (moof + mdat at out) is the source
 * fragment at src (moof at src), but for its sequence number and decode
 * time; returns its decode time. */
static int64_t check_same_fragment(const uint8_t *out, const struct top *om, const struct top *od,
				   const uint8_t *src, const struct top *sm, const struct top *sd,
				   uint32_t seq)
{
	CHECK_INT(om->size, sm->size);
	CHECK_INT(od->size, sd->size);
	if (om->size != sm->size || od->size != sd->size)
		return -1;
	const uint8_t *a = out + om->off, *b = src + sm->off;
	CHECK(memcmp(a + 4, "moof", 4) == 0);
	CHECK_INT(be32(a + MOOF_SEQ_AT), seq);
	CHECK(memcmp(a + MOOF_TFDT_AT - 4, "\x01\0\0\0", 4) == 0); /* tfdt version 1 */
	CHECK(memcmp(a, b, MOOF_SEQ_AT) == 0);
	CHECK(memcmp(a + MOOF_SEQ_AT + 4, b + MOOF_SEQ_AT + 4, MOOF_TFDT_AT - MOOF_SEQ_AT - 4) ==
	      0);
	CHECK(memcmp(a + MOOF_TFDT_AT + 8, b + MOOF_TFDT_AT + 8, om->size - MOOF_TFDT_AT - 8) == 0);
	CHECK(memcmp(out + od->off, src + sd->off, od->size) == 0);
	return (int64_t)be64(a + MOOF_TFDT_AT);
}

/* ---- the cases ------------------------------------------------------------ */

/*
 * Two abutting segments (0-4 s, 4-8 s), a gap, a third (12-16 s).  The
 * stream over [2.5 s, 6.5 s) starts at the keyframe of 2 s, crosses into
 * the second file and ends with the fragment that begins at 6 s.
 */
static void stream_across_segments(void)
{
	struct catalog *cat = open_catalog();
	struct wseg a, b, c;
	struct pb_stream *s = NULL;
	struct buf out = { 0 }, fa = { 0 }, fb = { 0 };
	char err[256];

	if (!cat || whole_segment(cat, 0, T0, sps_a, &a) < 0 ||
	    whole_segment(cat, SEG_FRAMES, T0 + 4 * S, sps_a, &b) < 0 ||
	    whole_segment(cat, 3 * SEG_FRAMES, T0 + 12 * S, sps_a, &c) < 0)
		goto out;
	int ret = pb_stream_build(cat, test_dir(), "cam1", T0 + 2500000, T0 + 6500000, &s, err,
				  sizeof(err));
	CHECK_INT(ret, 0);
	if (ret < 0) {
		test_fail(__FILE__, __LINE__, "%s", err);
		goto out;
	}
	const struct pb_info *in = pb_stream_info(s);
	CHECK_INT(in->start_us, T0 + 2 * S);
	CHECK_INT(in->end_us, T0 + 7 * S);
	CHECK_INT(in->end_reason, PB_END_END);
	CHECK_STR(pb_end_name(in->end_reason), "end");
	CHECK_STR(in->codec, "avc1.42c01e");
	CHECK(!in->hevc);
	CHECK_INT(in->fragments, 5);
	CHECK_INT(in->segments, 2);

	CHECK_INT(read_stream(s, &out, 1000), 0);
	CHECK_INT((int64_t)out.len, in->size);
	CHECK(read_file(a.path, &fa) == 0 && read_file(b.path, &fb) == 0);

	struct top ot[64], at[64], bt[64];
	int no = top_boxes((uint8_t *)out.data, out.len, ot, 64);
	int na = top_boxes((uint8_t *)fa.data, fa.len, at, 64);
	int nb = top_boxes((uint8_t *)fb.data, fb.len, bt, 64);
	CHECK_INT(no, 2 + 2 * 5);
	CHECK_INT(na, 2 + 2 * 4);
	CHECK_INT(nb, 2 + 2 * 4);
	if (no != 12 || na != 10 || nb != 10)
		goto out;
	/* the init segment is the first file's, byte for byte */
	CHECK_STR(ot[0].type, "ftyp");
	CHECK_STR(ot[1].type, "moov");
	CHECK(ot[1].off + ot[1].size == at[1].off + at[1].size);
	CHECK(memcmp(out.data, fa.data, at[1].off + at[1].size) == 0);
	/* a's fragments 2 and 3 (2 s, 3 s), then b's 0, 1, 2 (4, 5, 6 s) */
	const struct {
		const struct buf *src;
		const struct top *t;
		int frag;
	} want[5] = {
		{ &fa, at, 2 }, { &fa, at, 3 }, { &fb, bt, 0 }, { &fb, bt, 1 }, { &fb, bt, 2 }
	};
	for (int k = 0; k < 5; k++) {
		const struct top *sm = &want[k].t[2 + 2 * want[k].frag];
		int64_t tfdt = check_same_fragment((uint8_t *)out.data, &ot[2 + 2 * k],
						   &ot[3 + 2 * k], (uint8_t *)want[k].src->data, sm,
						   sm + 1, (uint32_t)k + 1);
		/* decode times from 0, one second (25 frames) a fragment, with
		 * no jump where the second file begins */
		CHECK_INT(tfdt, (int64_t)k * 25 * FRAME_TICKS);
	}

	/* reads from anywhere give the same bytes as the whole */
	uint8_t piece[3000];
	const int64_t at_pos[] = {
		0, 1, (int64_t)ot[2].off - 5, (int64_t)ot[4].off + 17, in->size - 100, in->size - 1
	};
	for (size_t i = 0; i < sizeof(at_pos) / sizeof(at_pos[0]); i++) {
		ssize_t n = pb_stream_read(s, at_pos[i], piece, sizeof(piece));
		int64_t left = in->size - at_pos[i];
		CHECK_INT(n, left < (int64_t)sizeof(piece) ? left : (int64_t)sizeof(piece));
		if (n > 0)
			CHECK(memcmp(piece, out.data + at_pos[i], (size_t)n) == 0);
	}
	CHECK_INT(pb_stream_read(s, in->size, piece, sizeof(piece)), 0);

	/* libavformat reads it as 125 frames, 40 ms apart, from a keyframe */
	const char *mp4 = test_path("out.mp4");
	FILE *f = fopen(mp4, "wb");
	CHECK(f && fwrite(out.data, 1, out.len, f) == out.len);
	if (f)
		fclose(f);
	AVFormatContext *ic = NULL;
	AVPacket *pkt = av_packet_alloc();
	int frames = 0;
	int64_t last = -1;
	bool jump = false;
	av_log_set_level(AV_LOG_QUIET); /* its parser frowns at the made-up slices */
	CHECK_INT(avformat_open_input(&ic, mp4, NULL, NULL), 0);
	while (ic && av_read_frame(ic, pkt) >= 0) {
		int64_t dts =
			av_rescale_q(pkt->dts, ic->streams[0]->time_base, (AVRational){ 1, TB_HZ });
		if (frames == 0)
			CHECK(pkt->flags & AV_PKT_FLAG_KEY);
		if (last >= 0 && dts != last + FRAME_TICKS)
			jump = true;
		last = dts;
		frames++;
		av_packet_unref(pkt);
	}
	CHECK_INT(frames, 125);
	CHECK(!jump);
	av_packet_free(&pkt);
	avformat_close_input(&ic);
	pb_stream_free(&s);

	/* from inside a second of no keyframe: the one before it, in the
	 * previous fragment (3.5 s -> 2 s); on across the gap: it stops there */
	ret = pb_stream_build(cat, test_dir(), "cam1", T0 + 3500000, T0 + 20 * S, &s, err,
			      sizeof(err));
	CHECK_INT(ret, 0);
	if (s) {
		CHECK_INT(pb_stream_info(s)->start_us, T0 + 2 * S);
		CHECK_INT(pb_stream_info(s)->end_us, T0 + 8 * S);
		CHECK_STR(pb_end_name(pb_stream_info(s)->end_reason), "gap");
		CHECK_INT(pb_stream_info(s)->fragments, 6);
		pb_stream_free(&s);
	}
	/* an interval that begins in the gap starts at the footage after it */
	ret = pb_stream_build(cat, test_dir(), "cam1", T0 + 9 * S, T0 + 13 * S, &s, err,
			      sizeof(err));
	CHECK_INT(ret, 0);
	if (s) {
		CHECK_INT(pb_stream_info(s)->start_us, T0 + 12 * S);
		CHECK_INT(pb_stream_info(s)->fragments, 1);
		pb_stream_free(&s);
	}
	/* before the first frame: from the first keyframe */
	ret = pb_stream_build(cat, test_dir(), "cam1", T0 - 60 * S, T0 + 1 * S, &s, err,
			      sizeof(err));
	CHECK_INT(ret, 0);
	if (s) {
		CHECK_INT(pb_stream_info(s)->start_us, T0);
		CHECK_INT(pb_stream_info(s)->fragments, 1);
		pb_stream_free(&s);
	}
	/* no footage at all */
	CHECK_INT(pb_stream_build(cat, test_dir(), "cam1", T0 + 9 * S, T0 + 11 * S, &s, err,
				  sizeof(err)),
		  -ENOENT);
	CHECK_CONTAINS(err, "no footage");
	CHECK_INT(pb_stream_build(cat, test_dir(), "nosuch", T0, T0 + 11 * S, &s, err, sizeof(err)),
		  -ENOENT);
out:
	pb_stream_free(&s);
	buf_release(&out);
	buf_release(&fa);
	buf_release(&fb);
	catalog_close(&cat);
}

/* A segment whose codec parameters differ ends the stream before it. */
static void format_change_ends_the_stream(void)
{
	struct catalog *cat = open_catalog();
	struct wseg a, b;
	struct pb_stream *s = NULL;
	char err[256];

	if (!cat || whole_segment(cat, 0, T0, sps_a, &a) < 0 ||
	    whole_segment(cat, SEG_FRAMES, T0 + 4 * S, sps_b, &b) < 0)
		goto out;
	CHECK_INT(pb_stream_build(cat, test_dir(), "cam1", T0, T0 + 8 * S, &s, err, sizeof(err)),
		  0);
	if (s) {
		CHECK_STR(pb_end_name(pb_stream_info(s)->end_reason), "format-change");
		CHECK_INT(pb_stream_info(s)->end_us, T0 + 4 * S);
		CHECK_INT(pb_stream_info(s)->fragments, 4);
		pb_stream_free(&s);
	}
	/* starting in the second: its own init segment and codec */
	CHECK_INT(pb_stream_build(cat, test_dir(), "cam1", T0 + 5 * S, T0 + 8 * S, &s, err,
				  sizeof(err)),
		  0);
	if (s) {
		CHECK_STR(pb_stream_info(s)->codec, "avc1.42c01f");
		CHECK_STR(pb_end_name(pb_stream_info(s)->end_reason), "end");
		pb_stream_free(&s);
	}
	/* a file that went away after the layout was made: an error, not
	 * other bytes */
	CHECK_INT(pb_stream_build(cat, test_dir(), "cam1", T0, T0 + 4 * S, &s, err, sizeof(err)),
		  0);
	if (s) {
		uint8_t tmp[65536];
		unlink(a.path);
		int64_t init = 0;
		ssize_t n = pb_stream_read(s, init, tmp, sizeof(tmp));
		CHECK(n < 0);
		pb_stream_free(&s);
	}
out:
	catalog_close(&cat);
}

/* A file whose boxes lie is refused with a message, never read past. */
static void damaged_files_are_refused(void)
{
	struct catalog *cat = open_catalog();
	struct wseg a, b;
	struct pb_stream *s = NULL;
	char err[256];

	if (!cat || whole_segment(cat, 0, T0, sps_a, &a) < 0 ||
	    whole_segment(cat, SEG_FRAMES, T0 + 4 * S, sps_a, &b) < 0)
		goto out;
	struct buf f = { 0 };
	struct top t[16];
	CHECK_INT(read_file(a.path, &f), 0);
	int n = top_boxes((uint8_t *)f.data, f.len, t, 16);
	CHECK(n >= 4 && strcmp(t[2].type, "moof") == 0);
	if (n >= 4) {
		/* the first trun claims more samples than its box holds */
		int fd = open(a.path, O_WRONLY);
		CHECK(fd >= 0 && pwrite(fd, "\xff\xff\xff\xff", 4, (off_t)t[2].off + 84) == 4);
		if (fd >= 0)
			close(fd);
		CHECK_INT(pb_stream_build(cat, test_dir(), "cam1", T0, T0 + 8 * S, &s, err,
					  sizeof(err)),
			  -EINVAL);
		CHECK_CONTAINS(err, "cannot be served");
		/* a file cut inside its moov */
		CHECK_INT(truncate(a.path, (off_t)t[1].off + 20), 0);
		CHECK_INT(pb_stream_build(cat, test_dir(), "cam1", T0, T0 + 8 * S, &s, err,
					  sizeof(err)),
			  -EINVAL);
		CHECK_CONTAINS(err, "moov");
		/* the other file still plays */
		CHECK_INT(pb_stream_build(cat, test_dir(), "cam1", T0 + 4 * S, T0 + 8 * S, &s, err,
					  sizeof(err)),
			  0);
		pb_stream_free(&s);
	}
	buf_release(&f);
out:
	catalog_close(&cat);
}

static void range_header(void)
{
	static const struct {
		const char *h;
		int64_t size;
		int want, first, last;
	} cases[] = {
		{ NULL, 1000, 0, 0, 0 },
		{ "bytes=0-99", 1000, 1, 0, 99 },
		{ "bytes=500-", 1000, 1, 500, 999 },
		{ "bytes=-100", 1000, 1, 900, 999 },
		{ "bytes=-5000", 1000, 1, 0, 999 },
		{ "bytes=900-5000", 1000, 1, 900, 999 },
		{ "bytes=999-999", 1000, 1, 999, 999 },
		{ "bytes = 1-2", 1000, 1, 1, 2 },
		{ "bytes=1000-", 1000, -ERANGE, 0, 0 },
		{ "bytes=5000-6000", 1000, -ERANGE, 0, 0 },
		{ "bytes=-0", 1000, -ERANGE, 0, 0 },
		{ "bytes=9-3", 1000, -ERANGE, 0, 0 },
		{ "bytes=abc", 1000, -ERANGE, 0, 0 },
		{ "bytes=", 1000, -ERANGE, 0, 0 },
		{ "bytes=1-2x", 1000, -ERANGE, 0, 0 },
		{ "bytes=99999999999999999999-", 1000, -ERANGE, 0, 0 },
		{ "bytes=0-1,5-6", 1000, 0, 0, 0 },
		{ "items=0-1", 1000, 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t a = -1, b = -1;
		int ret = pb_parse_range(cases[i].h, cases[i].size, &a, &b);
		if (ret != cases[i].want)
			test_fail(__FILE__, __LINE__, "'%s': %d, expected %d",
				  cases[i].h ? cases[i].h : "(null)", ret, cases[i].want);
		if (ret == 1 && (a != cases[i].first || b != cases[i].last))
			test_fail(__FILE__, __LINE__, "'%s': %lld-%lld, expected %d-%d", cases[i].h,
				  (long long)a, (long long)b, cases[i].first, cases[i].last);
	}
}

/* Everything live has sent, and its fragments' decode times. */
struct live_read {
	struct buf b;
	int64_t tfdt[64];
	uint32_t seq[64];
	int n;
};

static ssize_t live_drain(struct pb_live *l, struct live_read *r)
{
	uint8_t tmp[5000];
	ssize_t n, total = 0;
	while ((n = pb_live_read(l, tmp, sizeof(tmp), 20000)) > 0) {
		buf_append(&r->b, tmp, (size_t)n);
		total += n;
	}
	struct top t[128];
	int nt = top_boxes((uint8_t *)r->b.data, r->b.len, t, 128);
	r->n = 0;
	for (int i = 0; i < nt && r->n < 64; i++)
		if (strcmp(t[i].type, "moof") == 0) {
			const uint8_t *m = (uint8_t *)r->b.data + t[i].off;
			r->seq[r->n] = be32(m + MOOF_SEQ_AT);
			r->tfdt[r->n++] = (int64_t)be64(m + MOOF_TFDT_AT);
		}
	(void)total;
	return n; /* what ended it: -EAGAIN, or 0 at the end of the stream */
}

/*
 * Live follows the segment being written: it starts at its newest whole
 * keyframe fragment, sends each fragment once it is whole, goes on into the
 * next segment with decode times that run on, and ends at a change of
 * format.
 */
static void live_follows_the_growing_segment(void)
{
	struct catalog *cat = open_catalog();
	struct wseg a, b, c;
	struct pb_live *l = NULL;
	struct live_read r = { 0 };
	char err[256];

	buf_init(&r.b, 16 * 1024 * 1024);
	if (!cat)
		return;
	CHECK_INT(pb_live_open(cat, test_dir(), "cam1", &l, err, sizeof(err)), -ENOENT);
	if (wseg_begin(cat, &a, 0, T0, sps_a) < 0 || wseg_write(&a, 80) < 0) {
		test_fail(__FILE__, __LINE__, "cannot write");
		goto out;
	}
	/* written: fragments at 0 s (key), 1 s, 2 s (key); 3 s is open */
	int ret = pb_live_open(cat, test_dir(), "cam1", &l, err, sizeof(err));
	CHECK_INT(ret, 0);
	if (ret < 0) {
		test_fail(__FILE__, __LINE__, "%s", err);
		goto out;
	}
	CHECK_STR(pb_live_info(l)->codec, "avc1.42c01e");
	CHECK_INT(pb_live_info(l)->start_us, T0 + 2 * S); /* known before a byte is read */
	CHECK_INT(live_drain(l, &r), -EAGAIN);
	CHECK_INT(r.n, 1);
	CHECK_INT(r.tfdt[0], 0);
	CHECK_INT(r.seq[0], 1);
	CHECK_INT(pb_live_info(l)->start_us, T0 + 2 * S);
	CHECK(memcmp(r.b.data + 4, "ftyp", 4) == 0);

	/* the fragment of 3 s is still being written: nothing of it yet */
	CHECK_INT(wseg_write(&a, SEG_FRAMES), 0);
	CHECK_INT(live_drain(l, &r), -EAGAIN);
	CHECK_INT(r.n, 1);

	/* the segment ends with it; the next one (same format) follows on */
	CHECK_INT(wseg_finish(cat, &a), 0);
	CHECK_INT(wseg_begin(cat, &b, SEG_FRAMES, T0 + 4 * S, sps_a), 0);
	CHECK_INT(wseg_write(&b, SEG_FRAMES + 30), 0);
	CHECK_INT(live_drain(l, &r), -EAGAIN);
	CHECK_INT(r.n, 3);
	CHECK_INT(r.tfdt[1], 25 * FRAME_TICKS);
	CHECK_INT(r.seq[2], 3);
	CHECK_INT(r.tfdt[2], 2 * 25 * FRAME_TICKS);
	CHECK_INT(pb_live_info(l)->segments, 2);
	CHECK_INT(pb_live_info(l)->end_us, T0 + 5 * S);

	/* then a segment in another format: the stream ends */
	CHECK_INT(wseg_write(&b, 2 * SEG_FRAMES), 0);
	CHECK_INT(wseg_finish(cat, &b), 0);
	CHECK_INT(wseg_begin(cat, &c, 2 * SEG_FRAMES, T0 + 8 * S, sps_b), 0);
	CHECK_INT(wseg_write(&c, 2 * SEG_FRAMES + 30), 0);
	CHECK_INT(live_drain(l, &r), 0);
	CHECK_INT(r.n, 6);
	CHECK_INT(r.tfdt[5], 5 * 25 * FRAME_TICKS);
	CHECK_STR(pb_end_name(pb_live_info(l)->end_reason), "format-change");
	segwriter_free(&c.sw);
	avcodec_parameters_free(&c.par);
out:
	pb_live_free(&l);
	buf_release(&r.b);
	catalog_close(&cat);
}

const struct test_case playback_tests[] = {
	{ "stream_across_segments", stream_across_segments },
	{ "format_change_ends_the_stream", format_change_ends_the_stream },
	{ "damaged_files_are_refused", damaged_files_are_refused },
	{ "range_header", range_header },
	{ "live_follows_the_growing_segment", live_follows_the_growing_segment },
	{ NULL, NULL },
};
