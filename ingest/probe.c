/* Demux a segment file to count what it holds; see probe.h. */
#include "ingest/probe.h"

#include <errno.h>
#include <libavformat/avformat.h>
#include <string.h>
#include "util/banned.h"

int probe_segment(const char *path, struct probe_result *r)
{
	AVFormatContext *ic = NULL;
	AVPacket *pkt = av_packet_alloc();
	int ret;
	int64_t first = AV_NOPTS_VALUE, last_end = AV_NOPTS_VALUE;
	int64_t last_dts = AV_NOPTS_VALUE, last_delta = 0;

	memset(r, 0, sizeof(*r));
	if (!pkt)
		return -ENOMEM;
	if ((ret = avformat_open_input(&ic, path, NULL, NULL)) < 0)
		goto out;
	int vidx = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	if (vidx < 0) {
		ret = vidx;
		goto out;
	}
	const AVStream *st = ic->streams[vidx];
	AVRational tb = st->time_base;
	while ((ret = av_read_frame(ic, pkt)) >= 0) {
		if (pkt->stream_index == vidx) {
			int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
			if (dts != AV_NOPTS_VALUE) {
				if (first == AV_NOPTS_VALUE || dts < first)
					first = dts;
				int64_t end = dts + (pkt->duration > 0 ? pkt->duration : 0);
				if (last_end == AV_NOPTS_VALUE || end > last_end)
					last_end = end;
				if (last_dts != AV_NOPTS_VALUE && dts > last_dts)
					last_delta = dts - last_dts;
				if (last_dts == AV_NOPTS_VALUE || dts > last_dts)
					last_dts = dts;
			}
			r->frames++;
			if (pkt->flags & AV_PKT_FLAG_KEY)
				r->keyframes++;
		}
		av_packet_unref(pkt);
	}
	ret = ret == AVERROR_EOF ? 0 : ret;
	/* libavformat's mov demuxer may leave pkt->duration at 0 (it does for
	 * our fragmented segments), which would drop the last frame from the
	 * duration: that frame then lasts until the end of the track (the sum
	 * of the trun sample durations, kept in st->duration; our segments
	 * start at dts 0), or failing that as long as the frame before it */
	if (last_dts != AV_NOPTS_VALUE && last_end <= last_dts) {
		if (st->duration != AV_NOPTS_VALUE && st->duration > last_dts)
			last_end = st->duration;
		else
			last_end = last_dts + last_delta;
	}
	if (first != AV_NOPTS_VALUE && last_end != AV_NOPTS_VALUE)
		r->duration_us = av_rescale_q(last_end - first, tb, AV_TIME_BASE_Q);
out:
	av_packet_free(&pkt);
	avformat_close_input(&ic);
	return ret;
}
