/*
 * Fragmented MP4 segment writer; see segwriter.h for the file layout and
 * the durability rules.  libavformat's mp4 muxer runs with
 * empty_moov+default_base_moof+frag_custom: it keeps the samples of the
 * current fragment in memory and emits moof+mdat when we call
 * av_write_frame(oc, NULL), after which avio_flush() pushes the bytes
 * through write_cb() into the file and the hash.
 */
#include "ingest/segwriter.h"

#include <errno.h>
#include <fcntl.h>
#include <libavutil/mathematics.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sha256.h"

#define AVIO_BUFFER_SIZE (64 * 1024)

struct segwriter {
	int fd;
	char path[PATH_MAX];
	AVFormatContext *oc;
	AVIOContext *pb;
	struct sha256 *sha;
	int64_t bytes;
	int error; /* first write error, sticky */

	AVRational in_tb[2];
	int64_t origin[2]; /* per stream, in its input time base */
	int out_index[2];  /* -1: stream not written */
	int64_t last_dts[2];

	AVPacket *held;		 /* the last video packet, waiting for its duration */
	int64_t last_video_dts;	 /* input dts of the newest video packet seen */
	int64_t last_video_delta; /* dts step between the last two video packets */
	int64_t frag_start_ts;	 /* video dts (input tb) where the fragment began */
	bool frag_has_data;

	int64_t fsync_interval_us;
	int64_t last_fsync_mono;
	int64_t frames, keyframes;
};

static int write_cb(void *opaque, uint8_t *buf, int size)
{
	struct segwriter *sw = opaque;
	int ret;

	if (sw->error)
		return sw->error;
	if ((ret = fs_write_all(sw->fd, buf, (size_t)size)) < 0) {
		sw->error = ret;
		return ret;
	}
	sha256_update(sw->sha, buf, (size_t)size);
	sw->bytes += size;
	return size;
}

static int add_stream(struct segwriter *sw, const AVCodecParameters *par, AVRational tb, int which)
{
	AVStream *st = avformat_new_stream(sw->oc, NULL);
	if (!st)
		return -ENOMEM;
	int ret = avcodec_parameters_copy(st->codecpar, par);
	if (ret < 0)
		return ret;
	/* let the muxer pick the sample entry, except HEVC where players want hvc1 */
	st->codecpar->codec_tag = par->codec_id == AV_CODEC_ID_HEVC ? MKTAG('h', 'v', 'c', '1') : 0;
	st->time_base = tb;
	sw->in_tb[which] = tb;
	sw->out_index[which] = st->index;
	return 0;
}

int segwriter_open(struct segwriter **out, const char *path, const struct segwriter_params *p)
{
	struct segwriter *sw = av_mallocz(sizeof(*sw));
	AVDictionary *opts = NULL;
	uint8_t *iobuf = NULL;
	int ret = -ENOMEM;

	if (!sw)
		return -ENOMEM;
	sw->fd = -1;
	sw->out_index[0] = sw->out_index[1] = -1;
	sw->last_dts[0] = sw->last_dts[1] = AV_NOPTS_VALUE;
	sw->last_video_dts = AV_NOPTS_VALUE;
	sw->frag_start_ts = AV_NOPTS_VALUE;
	sw->fsync_interval_us = p->fsync_interval_us;
	sw->last_fsync_mono = clock_mono_us();
	snprintf(sw->path, sizeof(sw->path), "%s", path);

	if (!(sw->sha = sha256_new()) || !(sw->held = av_packet_alloc()))
		goto fail;
	sw->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (sw->fd < 0) {
		ret = -errno;
		goto fail;
	}
	if (fchmod(sw->fd, 0640) < 0) { /* exact, whatever the umask */
		ret = -errno;
		goto fail;
	}
	if ((ret = avformat_alloc_output_context2(&sw->oc, NULL, "mp4", NULL)) < 0)
		goto fail;
	if (!(iobuf = av_malloc(AVIO_BUFFER_SIZE))) {
		ret = -ENOMEM;
		goto fail;
	}
	sw->pb = avio_alloc_context(iobuf, AVIO_BUFFER_SIZE, 1, sw, NULL, write_cb, NULL);
	if (!sw->pb) {
		ret = -ENOMEM;
		goto fail;
	}
	iobuf = NULL; /* owned by pb now */
	sw->pb->seekable = 0;
	sw->oc->pb = sw->pb;
	sw->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
	sw->oc->flush_packets = 0;

	if ((ret = add_stream(sw, p->video, p->video_tb, SEGWRITER_VIDEO)) < 0)
		goto fail;
	sw->origin[SEGWRITER_VIDEO] = p->origin_ts;
	if (p->audio) {
		if ((ret = add_stream(sw, p->audio, p->audio_tb, SEGWRITER_AUDIO)) < 0)
			goto fail;
		sw->origin[SEGWRITER_AUDIO] = av_rescale_q(p->origin_ts, p->video_tb, p->audio_tb);
	}
	av_dict_set(&opts, "movflags", "empty_moov+default_base_moof+frag_custom", 0);
	ret = avformat_write_header(sw->oc, &opts);
	av_dict_free(&opts);
	if (ret < 0)
		goto fail;
	avio_flush(sw->pb);
	if (sw->error) {
		ret = sw->error;
		goto fail;
	}
	*out = sw;
	return 0;
fail:
	av_free(iobuf);
	/* the file holds no footage yet: remove it, so no file is left unknown */
	if (sw->fd >= 0)
		unlink(path);
	segwriter_free(&sw);
	return ret < 0 ? ret : -EIO;
}

static int fsync_if_due(struct segwriter *sw, bool force)
{
	int64_t now = clock_mono_us();
	if (!force && now - sw->last_fsync_mono < sw->fsync_interval_us)
		return 0;
	sw->last_fsync_mono = now;
	if (fdatasync(sw->fd) < 0) {
		sw->error = -errno;
		return sw->error;
	}
	return 0;
}

static int flush_fragment(struct segwriter *sw)
{
	int ret = av_write_frame(sw->oc, NULL);
	if (ret < 0)
		return sw->error ? sw->error : ret;
	avio_flush(sw->pb);
	if (sw->error)
		return sw->error;
	sw->frag_has_data = false;
	return fsync_if_due(sw, false);
}

/* Rescales and writes one packet that is ready (duration known). */
static int mux_packet(struct segwriter *sw, AVPacket *pkt, enum segwriter_stream which)
{
	AVStream *st = sw->oc->streams[sw->out_index[which]];
	int64_t dts = pkt->dts - sw->origin[which];
	int64_t pts = (pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts) - sw->origin[which];

	if (dts < 0)
		return 0; /* before the segment's first keyframe (audio only) */
	if (sw->last_dts[which] != AV_NOPTS_VALUE && dts <= sw->last_dts[which])
		dts = sw->last_dts[which] + 1;
	if (pts < dts)
		pts = dts;
	sw->last_dts[which] = dts;
	pkt->dts = av_rescale_q(dts, sw->in_tb[which], st->time_base);
	pkt->pts = av_rescale_q(pts, sw->in_tb[which], st->time_base);
	pkt->duration = av_rescale_q(pkt->duration, sw->in_tb[which], st->time_base);
	pkt->stream_index = st->index;
	int ret = av_write_frame(sw->oc, pkt);
	if (ret < 0)
		return sw->error ? sw->error : ret;
	sw->frag_has_data = true;
	return 0;
}

/* Writes the held video packet, giving it the duration up to next_dts. */
static int release_held(struct segwriter *sw, int64_t next_dts)
{
	if (!sw->held->data)
		return 0;
	int64_t dts = sw->held->dts;
	if (next_dts != AV_NOPTS_VALUE && next_dts > dts)
		sw->held->duration = next_dts - dts;
	else if (sw->held->duration <= 0)
		sw->held->duration = sw->last_video_delta > 0 ? sw->last_video_delta : 1;

	bool key = sw->held->flags & AV_PKT_FLAG_KEY;
	if (sw->frag_has_data && sw->frag_start_ts != AV_NOPTS_VALUE &&
	    (key || av_rescale_q(dts - sw->frag_start_ts, sw->in_tb[0], AV_TIME_BASE_Q) >=
			    SEGWRITER_FRAGMENT_US)) {
		int ret = flush_fragment(sw);
		if (ret < 0)
			return ret;
	}
	if (!sw->frag_has_data)
		sw->frag_start_ts = dts;
	sw->frames++;
	if (key)
		sw->keyframes++;
	int ret = mux_packet(sw, sw->held, SEGWRITER_VIDEO);
	av_packet_unref(sw->held);
	return ret;
}

int segwriter_write(struct segwriter *sw, const AVPacket *pkt, enum segwriter_stream which)
{
	int ret;

	if (sw->error)
		return sw->error;
	if (which == SEGWRITER_AUDIO) {
		if (sw->out_index[SEGWRITER_AUDIO] < 0)
			return 0;
		AVPacket *copy = av_packet_clone(pkt);
		if (!copy)
			return -ENOMEM;
		ret = mux_packet(sw, copy, SEGWRITER_AUDIO);
		av_packet_free(&copy);
		return ret;
	}
	int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
	if (sw->held->data) {
		if (dts > sw->held->dts)
			sw->last_video_delta = dts - sw->held->dts;
		if ((ret = release_held(sw, dts)) < 0)
			return ret;
	}
	if ((ret = av_packet_ref(sw->held, pkt)) < 0)
		return ret;
	sw->held->dts = dts;
	sw->last_video_dts = dts;
	if (sw->held->pts == AV_NOPTS_VALUE)
		sw->held->pts = dts;
	return 0;
}

int segwriter_finish(struct segwriter *sw, int64_t end_ts, struct segment_result *r)
{
	int ret;
	int64_t media_end;

	if (sw->error)
		return sw->error;
	int64_t held_dts = sw->held->data ? sw->held->dts : AV_NOPTS_VALUE;
	if ((ret = release_held(sw, end_ts)) < 0)
		return ret;
	if (end_ts != AV_NOPTS_VALUE && end_ts > sw->origin[0])
		media_end = end_ts;
	else if (held_dts != AV_NOPTS_VALUE)
		media_end = held_dts + (sw->last_video_delta > 0 ? sw->last_video_delta : 0);
	else
		media_end = sw->origin[0];
	if ((ret = av_write_trailer(sw->oc)) < 0)
		return sw->error ? sw->error : ret;
	avio_flush(sw->pb);
	if (sw->error)
		return sw->error;
	if ((ret = fsync_if_due(sw, true)) < 0)
		return ret;
	/* the folder entry too, or a power cut could lose the whole file */
	if ((ret = fs_fsync_parent(sw->path)) < 0)
		return ret;
	if (close(sw->fd) < 0) {
		sw->fd = -1;
		return -errno;
	}
	sw->fd = -1;

	memset(r, 0, sizeof(*r));
	r->duration_us = av_rescale_q(media_end - sw->origin[0], sw->in_tb[0], AV_TIME_BASE_Q);
	r->bytes = sw->bytes;
	r->frames = sw->frames;
	r->keyframes = sw->keyframes;
	sha256_final_hex(sw->sha, r->sha256);
	return 0;
}

int64_t segwriter_media_us(const struct segwriter *sw)
{
	if (sw->last_video_dts == AV_NOPTS_VALUE)
		return 0;
	return av_rescale_q(sw->last_video_dts - sw->origin[0], sw->in_tb[0], AV_TIME_BASE_Q);
}

int64_t segwriter_bytes(const struct segwriter *sw)
{
	return sw->bytes;
}

int64_t segwriter_frames(const struct segwriter *sw)
{
	return sw->frames + (sw->held->data ? 1 : 0);
}

void segwriter_free(struct segwriter **swp)
{
	struct segwriter *sw = *swp;
	if (!sw)
		return;
	if (sw->oc)
		avformat_free_context(sw->oc);
	if (sw->pb) {
		av_freep(&sw->pb->buffer);
		avio_context_free(&sw->pb);
	}
	if (sw->fd >= 0)
		close(sw->fd);
	av_packet_free(&sw->held);
	sha256_free(&sw->sha);
	av_freep(swp);
}
