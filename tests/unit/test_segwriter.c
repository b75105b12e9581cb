/*
 * ingest/segwriter + ingest/probe: real MPEG-4 video from libavcodec's
 * native encoder, written into segment files and read back with
 * libavformat; crashes are simulated by freeing the writer without
 * finishing and by tearing the file at chosen places.
 */
#include <errno.h>
#include <fcntl.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/fmp4.h"
#include "ingest/probe.h"
#include "ingest/segwriter.h"
#include "tests/unit/test.h"
#include "util/sha256.h"

#define FPS 25
#define TB_HZ 90000
#define FRAME_TICKS (TB_HZ / FPS) /* 3600 */
#define ORIGIN (10 * TB_HZ)	  /* the stream's first dts: not zero on purpose */
#define MAX_PACKETS 512

/* Encoded packets with their parameters; timestamps in 1/90000. */
struct video {
	AVCodecParameters *par;
	AVPacket *pkts[MAX_PACKETS];
	int n;
	int keyframes;
};

static void video_free(struct video *v)
{
	for (int i = 0; i < v->n; i++)
		av_packet_free(&v->pkts[i]);
	avcodec_parameters_free(&v->par);
	v->n = 0;
}

static int drain(AVCodecContext *enc, struct video *v)
{
	AVPacket *pkt = av_packet_alloc();
	int ret;
	if (!pkt)
		return AVERROR(ENOMEM);
	while ((ret = avcodec_receive_packet(enc, pkt)) == 0) {
		if (v->n == MAX_PACKETS) {
			av_packet_unref(pkt);
			continue;
		}
		av_packet_rescale_ts(pkt, enc->time_base, (AVRational){ 1, TB_HZ });
		pkt->dts += ORIGIN;
		pkt->pts += ORIGIN;
		if (pkt->flags & AV_PKT_FLAG_KEY)
			v->keyframes++;
		v->pkts[v->n++] = av_packet_clone(pkt);
		av_packet_unref(pkt);
	}
	av_packet_free(&pkt);
	return ret == AVERROR(EAGAIN) || ret == AVERROR_EOF ? 0 : ret;
}

/* Encodes frames of a moving picture, 160x120 at 25 fps, a keyframe every
 * gop frames.  Returns 0 or fails the test. */
static int make_video(struct video *v, int frames, int gop)
{
	const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
	AVCodecContext *enc = NULL;
	AVFrame *frame = NULL;
	int ret = -1;

	memset(v, 0, sizeof(*v));
	av_log_set_level(AV_LOG_ERROR);
	if (!codec) {
		test_fail(__FILE__, __LINE__, "no mpeg4 encoder in this libavcodec");
		return -1;
	}
	enc = avcodec_alloc_context3(codec);
	frame = av_frame_alloc();
	if (!enc || !frame)
		goto out;
	enc->width = 160;
	enc->height = 120;
	enc->pix_fmt = AV_PIX_FMT_YUV420P;
	enc->time_base = (AVRational){ 1, FPS };
	enc->framerate = (AVRational){ FPS, 1 };
	enc->gop_size = gop;
	enc->max_b_frames = 0;
	enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER; /* extradata, as MP4 wants */
	if (avcodec_open2(enc, codec, NULL) < 0)
		goto out;
	frame->format = enc->pix_fmt;
	frame->width = enc->width;
	frame->height = enc->height;
	if (av_frame_get_buffer(frame, 0) < 0)
		goto out;
	for (int i = 0; i < frames; i++) {
		if (av_frame_make_writable(frame) < 0)
			goto out;
		for (int y = 0; y < enc->height; y++)
			for (int x = 0; x < enc->width; x++)
				frame->data[0][y * frame->linesize[0] + x] =
					(uint8_t)(x + y + 3 * i);
		for (int y = 0; y < enc->height / 2; y++)
			for (int x = 0; x < enc->width / 2; x++) {
				frame->data[1][y * frame->linesize[1] + x] = (uint8_t)(128 + y + i);
				frame->data[2][y * frame->linesize[2] + x] =
					(uint8_t)(64 + x + 2 * i);
			}
		frame->pts = i;
		if (avcodec_send_frame(enc, frame) < 0 || drain(enc, v) < 0)
			goto out;
	}
	if (avcodec_send_frame(enc, NULL) < 0 || drain(enc, v) < 0)
		goto out;
	v->par = avcodec_parameters_alloc();
	if (!v->par || avcodec_parameters_from_context(v->par, enc) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0) {
		test_fail(__FILE__, __LINE__, "cannot encode test video");
		video_free(v);
	}
	av_frame_free(&frame);
	avcodec_free_context(&enc);
	return ret;
}

static struct segwriter_params params_for(const struct video *v)
{
	return (struct segwriter_params){
		.video = v->par,
		.video_tb = (AVRational){ 1, TB_HZ },
		.audio = NULL,
		.fsync_interval_us = 0,
		.origin_ts = ORIGIN,
	};
}

/* Opens path and writes every packet; returns the writer or NULL. */
static struct segwriter *write_all(const char *path, const struct video *v)
{
	struct segwriter *sw = NULL;
	struct segwriter_params p = params_for(v);
	int ret = segwriter_open(&sw, path, &p);
	if (ret < 0) {
		test_fail(__FILE__, __LINE__, "segwriter_open: %s", av_err2str(ret));
		return NULL;
	}
	for (int i = 0; i < v->n; i++) {
		if ((ret = segwriter_write(sw, v->pkts[i], SEGWRITER_VIDEO)) < 0) {
			test_fail(__FILE__, __LINE__, "segwriter_write %d: %s", i, av_err2str(ret));
			segwriter_free(&sw);
			return NULL;
		}
	}
	return sw;
}

/* ---- reading files back ------------------------------------------------ */

struct box_info {
	char type[5];
	int64_t off, size;
};

/* Top-level boxes of a file, walked independently of ingest/fmp4.c. */
static int list_boxes(const char *path, struct box_info *boxes, int max)
{
	FILE *f = fopen(path, "rb");
	int n = 0;
	int64_t off = 0;
	unsigned char h[16];
	if (!f)
		return -1;
	while (n < max && fseek(f, (long)off, SEEK_SET) == 0 && fread(h, 1, 8, f) == 8) {
		int64_t size = (int64_t)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
		if (size == 1) {
			if (fread(h + 8, 1, 8, f) != 8)
				break;
			size = 0;
			for (int i = 8; i < 16; i++)
				size = size << 8 | h[i];
		}
		if (size < 8)
			break;
		memcpy(boxes[n].type, h + 4, 4);
		boxes[n].type[4] = '\0';
		boxes[n].off = off;
		boxes[n].size = size;
		n++;
		off += size;
	}
	fclose(f);
	return n;
}

struct demuxed {
	int frames, keyframes;
	int codec_id, width, height;
	int64_t first_dts, end; /* in tb */
	AVRational tb;
	int64_t pos[MAX_PACKETS], dts[MAX_PACKETS], dur[MAX_PACKETS];
	bool monotonic;
};

static int demux(const char *path, struct demuxed *d)
{
	AVFormatContext *ic = NULL;
	AVPacket *pkt = av_packet_alloc();
	int ret;
	memset(d, 0, sizeof(*d));
	d->monotonic = true;
	d->first_dts = AV_NOPTS_VALUE;
	if (!pkt)
		return AVERROR(ENOMEM);
	if ((ret = avformat_open_input(&ic, path, NULL, NULL)) < 0)
		goto out;
	if ((ret = avformat_find_stream_info(ic, NULL)) < 0)
		goto out;
	int vidx = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	if (vidx < 0) {
		ret = vidx;
		goto out;
	}
	AVStream *st = ic->streams[vidx];
	d->tb = st->time_base;
	d->codec_id = st->codecpar->codec_id;
	d->width = st->codecpar->width;
	d->height = st->codecpar->height;
	while ((ret = av_read_frame(ic, pkt)) >= 0) {
		if (pkt->stream_index == vidx) {
			if (d->frames < MAX_PACKETS) {
				d->pos[d->frames] = pkt->pos;
				d->dts[d->frames] = pkt->dts;
				d->dur[d->frames] = pkt->duration;
			}
			if (d->frames > 0 && pkt->dts <= d->dts[d->frames - 1])
				d->monotonic = false;
			if (d->first_dts == AV_NOPTS_VALUE)
				d->first_dts = pkt->dts;
			d->end = pkt->dts + pkt->duration;
			d->frames++;
			d->keyframes += (pkt->flags & AV_PKT_FLAG_KEY) != 0;
		}
		av_packet_unref(pkt);
	}
	ret = ret == AVERROR_EOF ? 0 : ret;
out:
	av_packet_free(&pkt);
	avformat_close_input(&ic);
	return ret;
}

static int64_t to_us(int64_t ts, AVRational tb)
{
	return av_rescale_q(ts, tb, AV_TIME_BASE_Q);
}

/* Every packet lies in an mdat, and no fragment holds more than 1 s. */
static void check_fragments(const char *path, int want_min_fragments)
{
	struct box_info boxes[64];
	struct demuxed *d = malloc(sizeof(*d));
	int nb = list_boxes(path, boxes, 64);
	if (!d)
		return;
	CHECK_INT(demux(path, d), 0);
	int fragments = 0;
	for (int b = 0; b < nb; b++) {
		if (strcmp(boxes[b].type, "mdat") != 0)
			continue;
		CHECK(b > 0 && strcmp(boxes[b - 1].type, "moof") == 0);
		fragments++;
		int64_t lo = INT64_MAX, hi = INT64_MIN;
		int in = 0;
		for (int i = 0; i < d->frames && i < MAX_PACKETS; i++) {
			if (d->pos[i] < boxes[b].off || d->pos[i] >= boxes[b].off + boxes[b].size)
				continue;
			in++;
			lo = d->dts[i] < lo ? d->dts[i] : lo;
			hi = d->dts[i] + d->dur[i] > hi ? d->dts[i] + d->dur[i] : hi;
		}
		CHECK(in > 0);
		int64_t us = in ? to_us(hi - lo, d->tb) : 0;
		if (us > SEGWRITER_FRAGMENT_US)
			test_fail(__FILE__, __LINE__, "fragment %d holds %lld us of video",
				  fragments, (long long)us);
	}
	int placed = 0;
	for (int i = 0; i < d->frames && i < MAX_PACKETS; i++)
		for (int b = 0; b < nb; b++)
			if (!strcmp(boxes[b].type, "mdat") && d->pos[i] >= boxes[b].off &&
			    d->pos[i] < boxes[b].off + boxes[b].size) {
				placed++;
				break;
			}
	CHECK_INT(placed, d->frames);
	if (fragments < want_min_fragments)
		test_fail(__FILE__, __LINE__, "%d fragments, want at least %d", fragments,
			  want_min_fragments);
	free(d);
}

/* ---- cases ------------------------------------------------------------- */

static void write_and_finish(void)
{
	struct video v;
	if (make_video(&v, 3 * FPS, FPS) < 0)
		return;
	CHECK_INT(v.n, 75);
	CHECK_INT(v.keyframes, 3);
	const char *tmp = test_path("060000-1.mp4");
	char path[4096];
	snprintf(path, sizeof(path), "%s", tmp);

	struct segwriter *sw = NULL;
	struct segwriter_params p = params_for(&v);
	CHECK_INT(segwriter_open(&sw, path, &p), 0);
	if (!sw) {
		video_free(&v);
		return;
	}
	CHECK_INT(segwriter_frames(sw), 0);
	CHECK_INT(segwriter_media_us(sw), 0);
	int64_t header_bytes = segwriter_bytes(sw);
	CHECK(header_bytes > 0);
	for (int i = 0; i < v.n; i++) {
		CHECK_INT(segwriter_write(sw, v.pkts[i], SEGWRITER_VIDEO), 0);
		if (segwriter_frames(sw) != i + 1 || segwriter_media_us(sw) != i * 40000) {
			test_fail(__FILE__, __LINE__, "after %d packets: %lld frames, %lld us",
				  i + 1, (long long)segwriter_frames(sw),
				  (long long)segwriter_media_us(sw));
			break;
		}
	}
	CHECK(segwriter_bytes(sw) > header_bytes); /* complete fragments are on disk */

	/* the file exists already: a second writer is refused */
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0640);
	struct segwriter *again = NULL;
	CHECK_INT(segwriter_open(&again, path, &p), -EEXIST);
	CHECK(again == NULL);
	struct stat st2;
	CHECK_INT(stat(path, &st2), 0); /* and the file was not removed */

	struct segment_result r;
	memset(&r, 0x5a, sizeof(r));
	CHECK_INT(segwriter_finish(sw, ORIGIN + 75 * FRAME_TICKS, &r), 0);
	segwriter_free(&sw);
	CHECK(sw == NULL);

	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0640);
	CHECK_INT(r.bytes, st.st_size);
	char hex[SHA256_HEX_SIZE];
	int64_t hashed = 0;
	CHECK_INT(sha256_file_hex(path, hex, &hashed), 0);
	CHECK_STR(r.sha256, hex);
	CHECK_INT(hashed, st.st_size);
	CHECK_INT(r.frames, 75);
	CHECK_INT(r.keyframes, 3);
	CHECK_INT(r.duration_us, 3000000); /* exactly end_ts - origin */
	CHECK_INT(r.end_us, 0);		   /* the caller's to fill */

	struct probe_result pr;
	CHECK_INT(probe_segment(path, &pr), 0);
	CHECK_INT(pr.frames, 75);
	CHECK_INT(pr.keyframes, 3);
	CHECK_INT(pr.duration_us, 3000000);

	struct demuxed *d = malloc(sizeof(*d));
	if (d) {
		CHECK_INT(demux(path, d), 0);
		CHECK_INT(d->codec_id, AV_CODEC_ID_MPEG4);
		CHECK_INT(d->width, 160);
		CHECK_INT(d->height, 120);
		CHECK_INT(d->frames, 75);
		CHECK_INT(d->keyframes, 3);
		CHECK(d->monotonic);
		/* media time starts at the origin, frame after frame */
		CHECK_INT(to_us(d->first_dts, d->tb), 0);
		for (int i = 0; i < d->frames && i < MAX_PACKETS; i++)
			if (to_us(d->dts[i], d->tb) != i * 40000) {
				test_fail(__FILE__, __LINE__, "frame %d at %lld us", i,
					  (long long)to_us(d->dts[i], d->tb));
				break;
			}
		CHECK_INT(to_us(d->end, d->tb), 3000000);
		free(d);
	}

	struct fmp4_scan scan;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_INT(fmp4_scan_fd(fd, &scan), 0);
	close(fd);
	CHECK(scan.has_header);
	CHECK(scan.fragments >= 3);
	CHECK_INT(scan.keep_bytes, st.st_size);
	CHECK_INT(scan.file_size, st.st_size);
	check_fragments(path, 3);
	video_free(&v);
}

/* Without the next keyframe's dts, the last frame lasts as long as the one
 * before it. */
static void finish_without_end_ts(void)
{
	struct video v;
	if (make_video(&v, 3 * FPS, FPS) < 0)
		return;
	char path[4096];
	snprintf(path, sizeof(path), "%s", test_path("a.mp4"));
	struct segwriter *sw = write_all(path, &v);
	if (!sw) {
		video_free(&v);
		return;
	}
	struct segment_result r;
	CHECK_INT(segwriter_finish(sw, AV_NOPTS_VALUE, &r), 0);
	segwriter_free(&sw);
	CHECK_INT(r.frames, 75);
	CHECK_INT(r.duration_us, 3000000);
	struct probe_result pr;
	CHECK_INT(probe_segment(path, &pr), 0);
	CHECK_INT(pr.frames, 75);
	CHECK_INT(pr.duration_us, 3000000);

	/* an end_ts later than the next frame stretches the last one */
	char path2[4096];
	snprintf(path2, sizeof(path2), "%s", test_path("b.mp4"));
	sw = write_all(path2, &v);
	if (sw) {
		CHECK_INT(segwriter_finish(sw, ORIGIN + 76 * FRAME_TICKS, &r), 0);
		segwriter_free(&sw);
		CHECK_INT(r.duration_us, 3040000);
		CHECK_INT(probe_segment(path2, &pr), 0);
		CHECK_INT(pr.duration_us, 3040000);
	}
	video_free(&v);
}

/* One keyframe only: fragments are still cut at one second. */
static void long_gop_fragments(void)
{
	struct video v;
	if (make_video(&v, 3 * FPS, 250) < 0)
		return;
	CHECK_INT(v.keyframes, 1);
	char path[4096];
	snprintf(path, sizeof(path), "%s", test_path("gop.mp4"));
	struct segwriter *sw = write_all(path, &v);
	if (!sw) {
		video_free(&v);
		return;
	}
	struct segment_result r;
	CHECK_INT(segwriter_finish(sw, ORIGIN + 75 * FRAME_TICKS, &r), 0);
	segwriter_free(&sw);
	CHECK_INT(r.keyframes, 1);
	CHECK_INT(r.frames, 75);
	struct probe_result pr;
	CHECK_INT(probe_segment(path, &pr), 0);
	CHECK_INT(pr.frames, 75);
	CHECK_INT(pr.keyframes, 1);
	check_fragments(path, 3);
	video_free(&v);
}

/* Moof boxes in a file. */
static int count_fragments(const char *path)
{
	struct box_info boxes[512];
	int n = list_boxes(path, boxes, 512), moofs = 0;
	for (int b = 0; b < n; b++)
		moofs += strcmp(boxes[b].type, "moof") == 0;
	return moofs;
}

/*
 * One keyframe, then timestamps that never let a fragment reach a second
 * of media: one tick per frame, or one second back per frame.  The
 * fragment must still close, by the bytes it holds and by the time it has
 * been open, or it holds the camera's every frame in memory.
 */
static void hostile_timestamps_fragments(void)
{
	struct video v;
	if (make_video(&v, 2 * FPS, 250) < 0)
		return;
	CHECK_INT(v.keyframes, 1);
	int64_t total = 0;
	for (int i = 0; i < v.n; i++)
		total += v.pkts[i]->size;
	for (int mode = 0; mode < 2; mode++) {
		for (int bound = 0; bound < 2; bound++) {
			for (int i = 0; i < v.n; i++) /* 1 tick up, or 1 s back, per frame */
				v.pkts[i]->dts = v.pkts[i]->pts =
					mode == 0 ? ORIGIN + i
						  : ORIGIN + (v.n - i) * (int64_t)TB_HZ;
			char path[4096];
			snprintf(path, sizeof(path), "%s",
				 test_path(mode == 0 ? "tick.mp4" : "back.mp4"));
			unlink(path);
			struct segwriter *sw = NULL;
			struct segwriter_params p = params_for(&v);
			if (bound == 0)
				p.fragment_bytes = total / 5; /* bytes: about five fragments */
			else
				p.fragment_wall_us = 20 * 1000; /* time: one each 20 ms */
			CHECK_INT(segwriter_open(&sw, path, &p), 0);
			if (!sw)
				continue;
			for (int i = 0; i < v.n; i++) {
				CHECK_INT(segwriter_write(sw, v.pkts[i], SEGWRITER_VIDEO), 0);
				if (bound == 1)
					usleep(5 * 1000);
			}
			struct segment_result r;
			CHECK_INT(segwriter_finish(sw, AV_NOPTS_VALUE, &r), 0);
			segwriter_free(&sw);
			CHECK_INT(r.frames, v.n);
			int frags = count_fragments(path);
			if (frags < 4)
				test_fail(__FILE__, __LINE__, "%s, bound by %s: %d fragments",
					  mode == 0 ? "one tick per frame"
						    : "one second back per frame",
					  bound == 0 ? "bytes" : "time", frags);
		}
	}
	video_free(&v);
}

/* Copies the first len bytes of src to dst. */
static int copy_prefix(const char *src, const char *dst, int64_t len)
{
	FILE *in = fopen(src, "rb");
	FILE *out = fopen(dst, "wb");
	char chunk[4096];
	int64_t left = len;
	int ret = 0;
	if (!in || !out)
		ret = -1;
	while (ret == 0 && left > 0) {
		size_t want = left < (int64_t)sizeof(chunk) ? (size_t)left : sizeof(chunk);
		size_t got = fread(chunk, 1, want, in);
		if (got == 0 || fwrite(chunk, 1, got, out) != got)
			ret = -1;
		left -= (int64_t)got;
	}
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		ret = -1;
	return ret;
}

/* Scans a file as recovery would, truncates it to keep_bytes, and probes
 * what is left. */
static void recover_copy(int line, const char *path, int64_t cut, int want_fragments)
{
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", test_path("cut.mp4"));
	unlink(copy);
	if (copy_prefix(path, copy, cut) < 0) {
		test_fail(__FILE__, line, "cannot copy %lld bytes", (long long)cut);
		return;
	}
	int fd = open(copy, O_RDWR);
	struct fmp4_scan scan;
	if (fd < 0 || fmp4_scan_fd(fd, &scan) < 0) {
		test_fail(__FILE__, line, "cannot scan the copy");
		if (fd >= 0)
			close(fd);
		return;
	}
	if (scan.fragments != want_fragments || !scan.has_header || scan.file_size != cut)
		test_fail(__FILE__, line, "cut at %lld: %d fragments (want %d), header %d",
			  (long long)cut, scan.fragments, want_fragments, scan.has_header);
	if (ftruncate(fd, scan.keep_bytes) < 0)
		test_fail(__FILE__, line, "ftruncate");
	close(fd);

	struct probe_result pr;
	int ret = probe_segment(copy, &pr);
	if (want_fragments > 0) {
		if (ret != 0 || pr.frames != 25 * want_fragments ||
		    pr.keyframes != want_fragments ||
		    pr.duration_us != 1000000 * (int64_t)want_fragments)
			test_fail(__FILE__, line,
				  "cut at %lld, kept %lld: probe %d, %lld frames, %lld keyframes, "
				  "%lld us; want %d fragments",
				  (long long)cut, (long long)scan.keep_bytes, ret,
				  (long long)pr.frames, (long long)pr.keyframes,
				  (long long)pr.duration_us, want_fragments);
	} else if (ret == 0 && pr.frames != 0) {
		test_fail(__FILE__, line, "a header-only file holds %lld frames",
			  (long long)pr.frames);
	}
}

static void crash_without_trailer(void)
{
	struct video v;
	if (make_video(&v, 3 * FPS, FPS) < 0)
		return;
	char path[4096];
	snprintf(path, sizeof(path), "%s", test_path("crash.mp4"));
	struct segwriter *sw = write_all(path, &v);
	if (!sw) {
		video_free(&v);
		return;
	}
	int64_t written = segwriter_bytes(sw);
	segwriter_free(&sw); /* the process dies: no trailer, the last fragment lost */
	CHECK(sw == NULL);

	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_size, written);
	int fd = open(path, O_RDONLY);
	struct fmp4_scan scan;
	CHECK_INT(fmp4_scan_fd(fd, &scan), 0);
	close(fd);
	CHECK(scan.has_header);
	CHECK_INT(scan.fragments, 2); /* frames 0-24 and 25-49; 50-74 were in memory */
	CHECK_INT(scan.keep_bytes, st.st_size);
	struct probe_result pr;
	CHECK_INT(probe_segment(path, &pr), 0);
	CHECK_INT(pr.frames, 50);
	CHECK_INT(pr.keyframes, 2);
	CHECK_INT(pr.duration_us, 2000000);

	/* where the boxes are, found independently */
	struct box_info boxes[16];
	int nb = list_boxes(path, boxes, 16);
	int moof[2] = { -1, -1 }, mdat[2] = { -1, -1 }, nf = 0;
	for (int b = 0; b < nb; b++) {
		if (!strcmp(boxes[b].type, "moof") && nf < 2)
			moof[nf] = b;
		if (!strcmp(boxes[b].type, "mdat") && nf < 2)
			mdat[nf++] = b;
	}
	CHECK_INT(nf, 2);
	if (nf != 2 || moof[0] < 0 || moof[1] < 0) {
		video_free(&v);
		return;
	}
	int64_t f1_end = boxes[mdat[0]].off + boxes[mdat[0]].size;
	int64_t f2_moof = boxes[moof[1]].off;
	int64_t f2_mdat = boxes[mdat[1]].off;
	int64_t f2_end = f2_mdat + boxes[mdat[1]].size;
	CHECK_INT(f2_end, st.st_size);

	/* torn in the second fragment: only the first is kept */
	recover_copy(__LINE__, path, f2_mdat + boxes[mdat[1]].size / 2, 1);
	recover_copy(__LINE__, path, f2_end - 1, 1);
	recover_copy(__LINE__, path, f2_mdat + 4, 1);  /* inside the mdat header */
	recover_copy(__LINE__, path, f2_mdat, 1);      /* moof without its mdat */
	recover_copy(__LINE__, path, f2_moof + 20, 1); /* inside the moof */
	recover_copy(__LINE__, path, f2_moof + 3, 1);  /* inside the moof header */
	recover_copy(__LINE__, path, f1_end, 1);
	/* torn in the first: nothing but the header */
	recover_copy(__LINE__, path, boxes[mdat[0]].off + boxes[mdat[0]].size / 2, 0);
	recover_copy(__LINE__, path, boxes[moof[0]].off + 10, 0);
	/* whole */
	recover_copy(__LINE__, path, f2_end, 2);
	video_free(&v);
}

static void open_errors(void)
{
	struct video v;
	if (make_video(&v, 5, FPS) < 0)
		return;
	struct segwriter_params p = params_for(&v);
	struct segwriter *sw = NULL;
	char path[4096];

	/* the folder must exist */
	snprintf(path, sizeof(path), "%s", test_path("no/such/dir/x.mp4"));
	CHECK_INT(segwriter_open(&sw, path, &p), -ENOENT);
	CHECK(sw == NULL);

	/* existing footage is never overwritten */
	snprintf(path, sizeof(path), "%s", test_write_file("old.mp4", "precious footage"));
	CHECK_INT(segwriter_open(&sw, path, &p), -EEXIST);
	CHECK(sw == NULL);
	char hex[SHA256_HEX_SIZE], want[SHA256_HEX_SIZE];
	CHECK_INT(sha256_file_hex(path, hex, NULL), 0);
	sha256_hex("precious footage", 16, want);
	CHECK_STR(hex, want);

	/* a muxer that cannot take the stream: the half-made file is removed */
	av_log_set_level(AV_LOG_QUIET); /* the muxer says why, on stderr */
	AVCodecParameters *bad = avcodec_parameters_alloc();
	if (bad) {
		bad->codec_type = AVMEDIA_TYPE_VIDEO;
		bad->codec_id = AV_CODEC_ID_NONE;
		struct segwriter_params pb = p;
		pb.video = bad;
		snprintf(path, sizeof(path), "%s", test_path("bad.mp4"));
		CHECK(segwriter_open(&sw, path, &pb) < 0);
		CHECK(sw == NULL);
		struct stat st;
		CHECK(stat(path, &st) < 0);
		avcodec_parameters_free(&bad);
	}
	av_log_set_level(AV_LOG_ERROR);

	/* a file that is open and empty can be freed at once */
	snprintf(path, sizeof(path), "%s", test_path("empty.mp4"));
	CHECK_INT(segwriter_open(&sw, path, &p), 0);
	segwriter_free(&sw);
	segwriter_free(&sw); /* NULL: harmless */
	video_free(&v);
}

/* segwriter_write_video takes each packet's reference (the packet comes
 * back blank) and writes the same file, byte for byte, as segwriter_write,
 * which leaves the packets alone; a packet without a buffer of its own is
 * copied. */
static void taking_writes_the_same_file(void)
{
	struct video v;
	if (make_video(&v, 3 * FPS, FPS) < 0)
		return;
	char kept[4096], taken[4096];
	snprintf(kept, sizeof(kept), "%s", test_path("kept.mp4"));
	snprintf(taken, sizeof(taken), "%s", test_path("taken.mp4"));
	struct segment_result rk, rt;

	struct segwriter *sw = write_all(kept, &v);
	CHECK(sw != NULL);
	if (sw)
		CHECK_INT(segwriter_finish(sw, ORIGIN + 75 * FRAME_TICKS, &rk), 0);
	segwriter_free(&sw);
	for (int i = 0; i < v.n; i++)
		CHECK(v.pkts[i]->buf != NULL);

	struct segwriter_params p = params_for(&v);
	CHECK_INT(segwriter_open(&sw, taken, &p), 0);
	AVPacket *pkt = av_packet_alloc();
	for (int i = 0; sw && pkt && i < v.n; i++) {
		CHECK_INT(av_packet_ref(pkt, v.pkts[i]), 0);
		if (i == 1) {
			/* the bytes belong to the caller: not refcounted */
			av_buffer_unref(&pkt->buf);
			pkt->data = v.pkts[i]->data;
		}
		CHECK_INT(segwriter_write_video(sw, pkt), 0);
		CHECK(pkt->buf == NULL && pkt->data == NULL && pkt->size == 0);
	}
	if (sw)
		CHECK_INT(segwriter_finish(sw, ORIGIN + 75 * FRAME_TICKS, &rt), 0);
	segwriter_free(&sw);
	av_packet_free(&pkt);

	CHECK_INT(rt.bytes, rk.bytes);
	CHECK_STR(rt.sha256, rk.sha256);
	video_free(&v);
}

const struct test_case segwriter_tests[] = {
	{ "write_and_finish", write_and_finish },
	{ "finish_without_end_ts", finish_without_end_ts },
	{ "long_gop_fragments", long_gop_fragments },
	{ "hostile_timestamps_fragments", hostile_timestamps_fragments },
	{ "crash_without_trailer", crash_without_trailer },
	{ "open_errors", open_errors },
	{ "taking_writes_the_same_file", taking_writes_the_same_file },
	{ NULL, NULL },
};
