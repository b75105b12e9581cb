/* Demux a segment file to count what it holds; see probe.h. */
#include "ingest/probe.h"

#include <errno.h>
#include <libavformat/avformat.h>
#include <string.h>

int probe_segment(const char *path, struct probe_result *r)
{
	AVFormatContext *ic = NULL;
	AVPacket *pkt = av_packet_alloc();
	int ret;
	int64_t first = AV_NOPTS_VALUE, last_end = AV_NOPTS_VALUE;

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
	AVRational tb = ic->streams[vidx]->time_base;
	while ((ret = av_read_frame(ic, pkt)) >= 0) {
		if (pkt->stream_index == vidx) {
			int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
			if (dts != AV_NOPTS_VALUE) {
				if (first == AV_NOPTS_VALUE || dts < first)
					first = dts;
				int64_t end = dts + (pkt->duration > 0 ? pkt->duration : 0);
				if (last_end == AV_NOPTS_VALUE || end > last_end)
					last_end = end;
			}
			r->frames++;
			if (pkt->flags & AV_PKT_FLAG_KEY)
				r->keyframes++;
		}
		av_packet_unref(pkt);
	}
	ret = ret == AVERROR_EOF ? 0 : ret;
	if (first != AV_NOPTS_VALUE && last_end != AV_NOPTS_VALUE)
		r->duration_us = av_rescale_q(last_end - first, tb, AV_TIME_BASE_Q);
out:
	av_packet_free(&pkt);
	avformat_close_input(&ic);
	return ret;
}
