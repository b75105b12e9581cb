/*
 * segcheck: reads a segment file back with libavformat (and decodes its
 * first video frame with libavcodec) and prints what it holds as one JSON
 * object, for the integration tests:
 *
 *   {"ok": true, "video_codec": "h264", "width": 640, "height": 360,
 *    "frames": 100, "keyframes": 2, "first_key": true, "duration_s": 4.0,
 *    "dts_monotonic": true, "audio_packets": 0, "audio_codec": null,
 *    "fragments": 5, "max_fragment_s": 1.0, "decoded_first": true}
 *
 * Fragments are found by walking the top-level boxes (moof); each video
 * packet's byte position tells which fragment holds it.
 *
 * usage: segcheck FILE...   (one JSON object per line)
 */
#include <errno.h>
#include <inttypes.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAGS 100000

static int64_t frag_pos[MAX_FRAGS]; /* byte offset of each moof */
static int nfrags;

static uint64_t be32(const unsigned char *p)
{
	return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
}

static void scan_boxes(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char h[16];
	int64_t off = 0;

	nfrags = 0;
	if (!f)
		return;
	while (fseeko(f, off, SEEK_SET) == 0 && fread(h, 1, 8, f) == 8) {
		uint64_t size = be32(h);
		if (size == 1) {
			if (fread(h + 8, 1, 8, f) != 8)
				break;
			size = be32(h + 8) << 32 | be32(h + 12);
		}
		if (size < 8)
			break;
		if (memcmp(h + 4, "moof", 4) == 0 && nfrags < MAX_FRAGS)
			frag_pos[nfrags++] = off;
		off += (int64_t)size;
	}
	fclose(f);
}

static int fragment_of(int64_t pos)
{
	int lo = 0, hi = nfrags - 1, found = -1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (frag_pos[mid] <= pos) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

static bool decode_first(AVFormatContext *ic, int vidx, AVPacket *first)
{
	const AVCodecParameters *par = ic->streams[vidx]->codecpar;
	const AVCodec *dec = avcodec_find_decoder(par->codec_id);
	AVCodecContext *ctx = NULL;
	AVFrame *frame = av_frame_alloc();
	bool ok = false;

	if (!dec || !frame || !(ctx = avcodec_alloc_context3(dec)))
		goto out;
	if (avcodec_parameters_to_context(ctx, par) < 0 || avcodec_open2(ctx, dec, NULL) < 0)
		goto out;
	if (avcodec_send_packet(ctx, first) < 0)
		goto out;
	avcodec_send_packet(ctx, NULL);
	ok = avcodec_receive_frame(ctx, frame) == 0 && frame->width > 0;
out:
	av_frame_free(&frame);
	avcodec_free_context(&ctx);
	return ok;
}

static void check(const char *path)
{
	AVFormatContext *ic = NULL;
	AVPacket *pkt = av_packet_alloc();
	AVPacket *first = av_packet_alloc();
	int ret;
	int64_t frames = 0, keys = 0, audio = 0;
	int64_t first_dts = AV_NOPTS_VALUE, end = AV_NOPTS_VALUE, last_dts = AV_NOPTS_VALUE;
	bool monotonic = true, first_key = false;
	static int64_t frag_min[MAX_FRAGS], frag_max[MAX_FRAGS];

	scan_boxes(path);
	for (int i = 0; i < nfrags; i++) {
		frag_min[i] = INT64_MAX;
		frag_max[i] = INT64_MIN;
	}
	if ((ret = avformat_open_input(&ic, path, NULL, NULL)) < 0 ||
	    (ret = avformat_find_stream_info(ic, NULL)) < 0) {
		printf("{\"ok\": false, \"path\": \"%s\", \"error\": \"%s\"}\n", path, av_err2str(ret));
		goto out;
	}
	int vidx = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	int aidx = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
	if (vidx < 0) {
		printf("{\"ok\": false, \"path\": \"%s\", \"error\": \"no video stream\"}\n", path);
		goto out;
	}
	AVRational tb = ic->streams[vidx]->time_base;
	while (av_read_frame(ic, pkt) >= 0) {
		if (pkt->stream_index == vidx) {
			if (frames == 0) {
				first_key = pkt->flags & AV_PKT_FLAG_KEY;
				av_packet_ref(first, pkt);
			}
			frames++;
			if (pkt->flags & AV_PKT_FLAG_KEY)
				keys++;
			if (last_dts != AV_NOPTS_VALUE && pkt->dts <= last_dts)
				monotonic = false;
			last_dts = pkt->dts;
			if (first_dts == AV_NOPTS_VALUE)
				first_dts = pkt->dts;
			int64_t e = pkt->pts + pkt->duration;
			if (end == AV_NOPTS_VALUE || e > end)
				end = e;
			int fi = fragment_of(pkt->pos);
			if (fi >= 0) {
				if (pkt->pts < frag_min[fi])
					frag_min[fi] = pkt->pts;
				if (e > frag_max[fi])
					frag_max[fi] = e;
			}
		} else if (pkt->stream_index == aidx) {
			audio++;
		}
		av_packet_unref(pkt);
	}
	double max_frag = 0;
	for (int i = 0; i < nfrags; i++) {
		if (frag_max[i] == INT64_MIN)
			continue;
		double d = (double)(frag_max[i] - frag_min[i]) * av_q2d(tb);
		if (d > max_frag)
			max_frag = d;
	}
	const AVCodecParameters *vp = ic->streams[vidx]->codecpar;
	printf("{\"ok\": true, \"path\": \"%s\", \"video_codec\": \"%s\", \"width\": %d, "
	       "\"height\": %d, \"frames\": %" PRId64 ", \"keyframes\": %" PRId64
	       ", \"first_key\": %s, \"duration_s\": %.6f, \"dts_monotonic\": %s, "
	       "\"audio_packets\": %" PRId64 ", \"audio_codec\": %s%s%s, \"fragments\": %d, "
	       "\"max_fragment_s\": %.6f, \"decoded_first\": %s}\n",
	       path, avcodec_get_name(vp->codec_id), vp->width, vp->height, frames, keys,
	       first_key ? "true" : "false",
	       first_dts == AV_NOPTS_VALUE ? 0.0 : (double)(end - first_dts) * av_q2d(tb),
	       monotonic ? "true" : "false", audio, aidx >= 0 ? "\"" : "",
	       aidx >= 0 ? avcodec_get_name(ic->streams[aidx]->codecpar->codec_id) : "null",
	       aidx >= 0 ? "\"" : "", nfrags, max_frag,
	       frames > 0 && decode_first(ic, vidx, first) ? "true" : "false");
out:
	av_packet_free(&pkt);
	av_packet_free(&first);
	avformat_close_input(&ic);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: segcheck FILE...\n");
		return 2;
	}
	av_log_set_level(AV_LOG_ERROR);
	for (int i = 1; i < argc; i++)
		check(argv[i]);
	return 0;
}
