/*
 * ingest/fragwriter (through ingest/segwriter): a video-only H.264 segment
 * written from Annex B packets must read back exactly as the one
 * libavformat's mp4 muxer writes from the same packets, with the same
 * fragment boundaries: the same samples (bytes), timestamps, durations and
 * keyframes.  The stream is synthetic (a real SPS and PPS, made-up slices:
 * neither side decodes), with 3- and 4-byte start codes, an SEI, and
 * trailing zero bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "ingest/fmp4.h"
#include "ingest/segwriter.h"
#include "tests/unit/test.h"
#include "util/sha256.h"

#define TB_HZ 90000
#define FRAME_TICKS 3600
#define ORIGIN (7 * TB_HZ)
#define FRAMES 75
#define GOP 25

static const uint8_t sps[] = { 0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0,
			       0x5a, 0x83, 0x03, 0x03, 0x52, 0x80, 0x00, 0x00, 0x03, 0x00,
			       0x80, 0x00, 0x00, 0x19, 0x47, 0x8b, 0x17, 0x50 };
static const uint8_t pps[] = { 0x68, 0xce, 0x3c, 0x80 };

static void put(uint8_t **p, const void *d, size_t n)
{
	memcpy(*p, d, n);
	*p += n;
}

/* Access unit i of the synthetic stream, Annex B. */
static AVPacket *make_unit(int i)
{
	uint8_t buf[8192], *p = buf;
	bool key = i % GOP == 0;

	if (key) {
		put(&p, "\0\0\0\1", 4);
		put(&p, sps, sizeof(sps));
		put(&p, "\0\0\0\1", 4);
		put(&p, pps, sizeof(pps));
		put(&p, "\0\0\1\x06\x05\x02\xaa\xbb\x80", 9); /* SEI, 3-byte start code */
	}
	put(&p, "\0\0\0\1", 4);
	*p++ = key ? 0x65 : 0x41;
	size_t n = key ? 1500 + (size_t)i : 200 + (size_t)(i * 37 % 300);
	for (size_t k = 0; k < n; k++) {
		*p++ = (uint8_t)(1 + (k * 31 + (size_t)i * 7) % 255);
		/* emulation prevention and zero runs that are not start codes,
		 * at every alignment */
		if (k % 97 == (size_t)i % 16)
			put(&p, "\0\0\3\0", 4);
		else if (k % 131 == (size_t)i % 16)
			put(&p, "\0\0\0\0\2", 5);
	}
	if (i % 10 == 3)
		put(&p, "\0\0", 2); /* trailing zeros: part of the last NAL unit */
	AVPacket *pkt = av_packet_alloc();
	av_new_packet(pkt, (int)(p - buf));
	memcpy(pkt->data, buf, (size_t)(p - buf));
	pkt->dts = pkt->pts = ORIGIN + (int64_t)i * FRAME_TICKS;
	if (key)
		pkt->flags |= AV_PKT_FLAG_KEY;
	return pkt;
}

static AVCodecParameters *make_par(void)
{
	AVCodecParameters *par = avcodec_parameters_alloc();
	par->codec_type = AVMEDIA_TYPE_VIDEO;
	par->codec_id = AV_CODEC_ID_H264;
	par->width = 640;
	par->height = 360;
	par->extradata_size = 8 + (int)sizeof(sps) + (int)sizeof(pps);
	par->extradata = av_mallocz((size_t)par->extradata_size + AV_INPUT_BUFFER_PADDING_SIZE);
	uint8_t *p = par->extradata;
	put(&p, "\0\0\0\1", 4);
	put(&p, sps, sizeof(sps));
	put(&p, "\0\0\0\1", 4);
	put(&p, pps, sizeof(pps));
	return par;
}

/* The same packets through libavformat's mp4 muxer alone, fragments cut
 * where segwriter cuts them (at each keyframe: GOP is 1 s). */
static int write_reference(const char *path, const AVCodecParameters *par)
{
	AVFormatContext *oc = NULL;
	AVDictionary *opts = NULL;
	int ret;

	if ((ret = avformat_alloc_output_context2(&oc, NULL, "mp4", path)) < 0)
		return ret;
	AVStream *st = avformat_new_stream(oc, NULL);
	avcodec_parameters_copy(st->codecpar, par);
	st->codecpar->codec_tag = 0;
	st->time_base = (AVRational){ 1, TB_HZ };
	if ((ret = avio_open(&oc->pb, path, AVIO_FLAG_WRITE)) < 0)
		goto out;
	av_dict_set(&opts, "movflags", "empty_moov+default_base_moof+frag_custom", 0);
	ret = avformat_write_header(oc, &opts);
	av_dict_free(&opts);
	if (ret < 0)
		goto out;
	for (int i = 0; i < FRAMES; i++) {
		AVPacket *pkt = make_unit(i);
		if (i > 0 && i % GOP == 0)
			av_write_frame(oc, NULL);
		pkt->dts -= ORIGIN;
		pkt->pts -= ORIGIN;
		pkt->duration = FRAME_TICKS;
		av_packet_rescale_ts(pkt, (AVRational){ 1, TB_HZ }, st->time_base);
		ret = av_write_frame(oc, pkt);
		av_packet_free(&pkt);
		if (ret < 0)
			goto out;
	}
	ret = av_write_trailer(oc);
	ret = ret < 0 ? ret : 0;
out:
	avio_closep(&oc->pb);
	avformat_free_context(oc);
	return ret;
}

struct readback {
	int n;
	AVPacket *pkts[FRAMES + 1];
	AVRational tb;
};

static int read_back(const char *path, struct readback *r)
{
	AVFormatContext *ic = NULL;
	AVPacket *pkt = av_packet_alloc();
	int ret;

	memset(r, 0, sizeof(*r));
	if ((ret = avformat_open_input(&ic, path, NULL, NULL)) < 0)
		goto out;
	r->tb = ic->streams[0]->time_base;
	while (av_read_frame(ic, pkt) >= 0) {
		if (r->n <= FRAMES) {
			av_packet_rescale_ts(pkt, r->tb, (AVRational){ 1, TB_HZ });
			r->pkts[r->n++] = av_packet_clone(pkt);
		}
		av_packet_unref(pkt);
	}
out:
	av_packet_free(&pkt);
	avformat_close_input(&ic);
	return ret;
}

static void readback_free(struct readback *r)
{
	for (int i = 0; i < r->n; i++)
		av_packet_free(&r->pkts[i]);
}

static void test_same_samples_as_the_muxer(void)
{
	AVCodecParameters *par = make_par();
	struct segwriter *sw = NULL;
	struct segment_result res;
	char ours[4096], ref[4096];

	av_log_set_level(AV_LOG_QUIET); /* the parser frowns at made-up slices */
	snprintf(ours, sizeof(ours), "%s", test_path("ours.mp4"));
	snprintf(ref, sizeof(ref), "%s", test_path("reference.mp4"));
	struct segwriter_params p = { .video = par, .video_tb = { 1, TB_HZ }, .origin_ts = ORIGIN };
	CHECK_INT(segwriter_open(&sw, ours, &p), 0);
	if (!sw)
		return;
	for (int i = 0; i < FRAMES; i++) {
		AVPacket *pkt = make_unit(i);
		CHECK_INT(segwriter_write(sw, pkt, SEGWRITER_VIDEO), 0);
		av_packet_free(&pkt);
	}
	CHECK_INT(segwriter_finish(sw, ORIGIN + FRAMES * FRAME_TICKS, &res), 0);
	segwriter_free(&sw);
	CHECK_INT(res.frames, FRAMES);
	CHECK_INT(res.keyframes, FRAMES / GOP);
	CHECK_INT(res.duration_us, FRAMES * 40000);

	/* the size and hash segwriter reports are the file's */
	struct stat st;
	char hex[SHA256_HEX_SIZE];
	int64_t hashed = 0;
	CHECK_INT(stat(ours, &st), 0);
	CHECK_INT(res.bytes, st.st_size);
	CHECK_INT(sha256_file_hex(ours, hex, &hashed), 0);
	CHECK_STR(res.sha256, hex);

	/* one fragment per second, all of the file whole */
	int fd = open(ours, O_RDONLY);
	struct fmp4_scan scan;
	CHECK_INT(fmp4_scan_fd(fd, &scan), 0);
	close(fd);
	CHECK(scan.has_header);
	CHECK_INT(scan.fragments, FRAMES / GOP);
	CHECK_INT(scan.keep_bytes, st.st_size);

	CHECK_INT(write_reference(ref, par), 0);
	struct readback a, b;
	CHECK_INT(read_back(ours, &a), 0);
	CHECK_INT(read_back(ref, &b), 0);
	CHECK_INT(a.n, FRAMES);
	CHECK_INT(b.n, FRAMES);
	for (int i = 0; i < a.n && i < b.n; i++) {
		const AVPacket *x = a.pkts[i], *y = b.pkts[i];
		CHECK_INT(x->size, y->size);
		if (x->size == y->size)
			CHECK(memcmp(x->data, y->data, (size_t)x->size) == 0);
		CHECK_INT(x->dts, y->dts);
		CHECK_INT(x->pts, y->pts);
		CHECK_INT(x->duration, y->duration);
		CHECK_INT(x->flags & AV_PKT_FLAG_KEY, y->flags & AV_PKT_FLAG_KEY);
		CHECK_INT(x->dts, (int64_t)i * FRAME_TICKS);
	}
	readback_free(&a);
	readback_free(&b);
	avcodec_parameters_free(&par);
}

/* A process killed mid-segment leaves whole fragments that read back. */
static void test_unfinished_file_keeps_whole_fragments(void)
{
	AVCodecParameters *par = make_par();
	struct segwriter *sw = NULL;
	char path[4096];

	av_log_set_level(AV_LOG_QUIET);
	snprintf(path, sizeof(path), "%s", test_path("torn.mp4"));
	struct segwriter_params p = { .video = par, .video_tb = { 1, TB_HZ }, .origin_ts = ORIGIN };
	CHECK_INT(segwriter_open(&sw, path, &p), 0);
	for (int i = 0; sw && i < 60; i++) {
		AVPacket *pkt = make_unit(i);
		CHECK_INT(segwriter_write(sw, pkt, SEGWRITER_VIDEO), 0);
		av_packet_free(&pkt);
	}
	segwriter_free(&sw); /* no finish: as after kill -9 */
	int fd = open(path, O_RDONLY);
	struct fmp4_scan scan;
	CHECK_INT(fmp4_scan_fd(fd, &scan), 0);
	close(fd);
	CHECK_INT(scan.fragments, 2); /* frames 0-24 and 25-49; 50-59 were in memory */
	struct readback r;
	CHECK_INT(read_back(path, &r), 0);
	CHECK_INT(r.n, 50);
	readback_free(&r);
	avcodec_parameters_free(&par);
}

/*
 * A camera whose clock moves one tick a frame after a single keyframe:
 * the fragment writer's fragments still close (by bytes here), so a crash
 * loses only the fragment being built, not everything since the keyframe,
 * and memory holds no more than one fragment.
 */
static void test_one_tick_camera_still_closes_fragments(void)
{
	AVCodecParameters *par = make_par();
	struct segwriter *sw = NULL;
	char path[4096];

	av_log_set_level(AV_LOG_QUIET);
	snprintf(path, sizeof(path), "%s", test_path("tick.mp4"));
	struct segwriter_params p = {
		.video = par, .video_tb = { 1, TB_HZ }, .origin_ts = ORIGIN, .fragment_bytes = 4096
	};
	CHECK_INT(segwriter_open(&sw, path, &p), 0);
	for (int i = 0; sw && i < 60; i++) {
		AVPacket *pkt = make_unit(i);
		pkt->dts = pkt->pts = ORIGIN + i; /* one tick a frame */
		if (i > 0)
			pkt->flags &= ~AV_PKT_FLAG_KEY;
		CHECK_INT(segwriter_write(sw, pkt, SEGWRITER_VIDEO), 0);
		av_packet_free(&pkt);
	}
	segwriter_free(&sw); /* no finish: as after kill -9 */
	int fd = open(path, O_RDONLY);
	struct fmp4_scan scan;
	CHECK_INT(fmp4_scan_fd(fd, &scan), 0);
	close(fd);
	if (scan.fragments < 4)
		test_fail(__FILE__, __LINE__, "%d fragments on disk", (int)scan.fragments);
	struct readback r;
	CHECK_INT(read_back(path, &r), 0);
	CHECK(r.n >= 40);
	readback_free(&r);
	avcodec_parameters_free(&par);
}

const struct test_case fragwriter_tests[] = {
	{ "same_samples_as_the_muxer", test_same_samples_as_the_muxer },
	{ "unfinished_file_keeps_whole_fragments", test_unfinished_file_keeps_whole_fragments },
	{ "one_tick_camera_still_closes_fragments", test_one_tick_camera_still_closes_fragments },
	{ NULL, NULL },
};
