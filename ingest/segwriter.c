/*
 * Fragmented MP4 segment writer; see segwriter.h for the file layout and
 * the durability rules.  libavformat's mp4 muxer runs with
 * empty_moov+default_base_moof+frag_custom: it keeps the samples of the
 * current fragment in memory and emits moof+mdat when we call
 * av_write_frame(oc, NULL), after which avio_flush() pushes the bytes
 * through write_cb() into the file and the hash.  For video-only H.264 and
 * H.265 segments (every camera the lean RTSP client serves) the muxer
 * writes the header only, and ingest/fragwriter.c the fragments, straight
 * from the packets (write_iov()).
 */
#include "ingest/segwriter.h"

#include <errno.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <libavutil/mathematics.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/evloop.h"
#include "ingest/fragwriter.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/banned.h"

#define AVIO_BUFFER_SIZE (64 * 1024)

struct segwriter {
	int fd;
	char path[PATH_MAX];
	AVFormatContext *oc;
	AVIOContext *pb;
	struct fragwriter *fw; /* writes the fragments, when it fits (else oc) */
	struct sha256 *sha;
	int64_t bytes;
	int error; /* first write error, sticky */

	AVRational in_tb[2];
	int64_t origin[2]; /* per stream, in its input time base */
	int out_index[2];  /* -1: stream not written */
	int64_t last_dts[2];

	AVPacket *held;		  /* the last video packet, waiting for its duration */
	int64_t last_video_dts;	  /* input dts of the newest video packet seen */
	int64_t last_video_delta; /* dts step between the last two video packets */
	int64_t frag_start_ts;	  /* video dts (input tb) where the fragment began */
	int64_t frag_start_mono;  /* when its first video frame was added */
	int64_t frag_bytes;	  /* of the samples it holds */
	bool frag_has_data;
	int64_t frag_wall_us, frag_bytes_max;

	int64_t fsync_interval_us;
	int64_t last_fsync_mono;
	struct metric_histogram *fsync_seconds;
	bool folder_synced; /* the file's folder entry is durable */
	int64_t allocated;  /* disk space reserved ahead of the data, -1: not supported */
	int64_t frames, keyframes;

	/* audio that arrives before the file's first video frame is written
	 * waits, so the video track starts the file (the muxer otherwise
	 * shifts the video samples of a segment that opens with audio) */
	AVPacket *early_audio[64];
	int nearly;
};

/*
 * Reserves the file's disk space ahead of its data, PREALLOC_BYTES at a
 * time (fallocate, the file's size unchanged): the writes then land in
 * blocks already allocated, which costs the kernel less per page than
 * delayed allocation, and the footage of cameras recorded side by side
 * does not interleave on the disk.  What is left past the end is given
 * back when the segment is finished (or by recovery, after a crash).  Best
 * effort: a file system that cannot do it is just written.
 */
#define PREALLOC_BYTES (4 * 1024 * 1024)

static void reserve_space(struct segwriter *sw, int64_t upto)
{
	if (sw->allocated < 0 || upto <= sw->allocated)
		return;
	int64_t len = (upto - sw->allocated + PREALLOC_BYTES - 1) / PREALLOC_BYTES * PREALLOC_BYTES;
	if (fallocate(sw->fd, FALLOC_FL_KEEP_SIZE, sw->allocated, len) < 0) {
		if (errno == EOPNOTSUPP || errno == ENOSYS)
			sw->allocated = -1;
		return; /* out of space: the write says so */
	}
	sw->allocated += len;
}

static void release_space(struct segwriter *sw)
{
	/* truncating to its own size frees what lies past a file's end (a
	 * hole punched there would not: the file system ignores it) */
	if (sw->allocated > sw->bytes && ftruncate(sw->fd, sw->bytes) < 0)
		log_debug("cannot give back the space reserved for '%s': %s", sw->path,
			  strerror(errno));
}

static int write_cb(void *opaque, uint8_t *buf, int size)
{
	struct segwriter *sw = opaque;
	int ret;

	if (sw->error)
		return sw->error;
	reserve_space(sw, sw->bytes + size);
	if ((ret = fs_write_all(sw->fd, buf, (size_t)size)) < 0) {
		sw->error = ret;
		return ret;
	}
	sha256_update(sw->sha, buf, (size_t)size);
	sw->bytes += size;
	return size;
}

/* write_cb for a fragment from fragwriter: writev(2) until all is written. */
static int write_iov(void *opaque, const struct iovec *iov, int iovcnt)
{
	struct segwriter *sw = opaque;
	struct iovec part[IOV_MAX];
	int n = iovcnt < IOV_MAX ? iovcnt : IOV_MAX;

	if (sw->error)
		return sw->error;
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	reserve_space(sw, sw->bytes + (int64_t)total);
	memcpy(part, iov, (size_t)n * sizeof(*part));
	for (int i = 0; i < n;) {
		ssize_t w = writev(sw->fd, part + i, n - i);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			sw->error = -errno;
			return sw->error;
		}
		size_t left = (size_t)w;
		while (i < n && left >= part[i].iov_len)
			left -= part[i++].iov_len;
		if (i < n && left > 0) { /* written up to the middle of part[i] */
			part[i].iov_base = (char *)part[i].iov_base + left;
			part[i].iov_len -= left;
		} else if (i < n && w == 0) {
			sw->error = -EIO;
			return sw->error;
		}
	}
	for (int i = 0; i < n; i++) {
		sha256_update(sw->sha, iov[i].iov_base, iov[i].iov_len);
		sw->bytes += (int64_t)iov[i].iov_len;
	}
	return 0;
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

/* The mp4 muxer, writing through write_cb, with the file's header written. */
static int open_muxer(struct segwriter *sw, const struct segwriter_params *p)
{
	AVDictionary *opts = NULL;
	uint8_t *iobuf = NULL;
	int ret;

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
	/*
	 * From here on, each fragment's samples reach write_cb whole, straight
	 * from the muxer's fragment buffer (AVIOContext.direct): one write(2)
	 * per fragment and no copy through the AVIO buffer, which then holds
	 * only the moof and the mdat header.  Not for the header or the
	 * trailer: the muxer patches box sizes there by seeking back within
	 * the buffer, which a direct write in the middle of a box would have
	 * flushed away (a moof is written with small writes only).
	 */
	sw->pb->direct = 1;
	if (sw->error) {
		ret = sw->error;
		goto fail;
	}
	return 0;
fail:
	av_free(iobuf);
	return ret < 0 ? ret : -EIO;
}

int segwriter_open(struct segwriter **out, const char *path, const struct segwriter_params *p)
{
	struct segwriter *sw = av_mallocz(sizeof(*sw));
	int ret = -ENOMEM;

	if (!sw)
		return -ENOMEM;
	sw->fd = -1;
	sw->out_index[0] = sw->out_index[1] = -1;
	sw->last_dts[0] = sw->last_dts[1] = AV_NOPTS_VALUE;
	sw->last_video_dts = AV_NOPTS_VALUE;
	sw->frag_start_ts = AV_NOPTS_VALUE;
	sw->fsync_interval_us = p->fsync_interval_us;
	sw->fsync_seconds = p->fsync_seconds;
	sw->frag_wall_us = p->fragment_wall_us;
	sw->frag_bytes_max = p->fragment_bytes > 0 ? p->fragment_bytes : SEGWRITER_FRAGMENT_BYTES;
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
	if ((ret = open_muxer(sw, p)) < 0)
		goto fail;
	if (!p->audio && fragwriter_fits(sw->oc->streams[0]->codecpar) &&
	    !(sw->fw = fragwriter_new(sw->oc->streams[0]->codecpar))) {
		ret = -ENOMEM;
		goto fail;
	}
	*out = sw;
	return 0;
fail:
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
	metric_observe(sw->fsync_seconds, (double)(clock_mono_us() - now) / 1e6);
	/* the file's entry in its folder, once: until then a power cut could
	 * lose the whole file, however much of its data was synced */
	if (!sw->folder_synced) {
		int ret = fs_fsync_parent(sw->path);
		if (ret < 0) {
			sw->error = ret;
			return ret;
		}
		sw->folder_synced = true;
	}
	/* footage is written once and seldom read soon: once on the disk, its
	 * pages leave the page cache, so recording does not fill memory with
	 * them (nor keep paying for fresh pages).  The kernel keeps the last,
	 * partly written page, which the next write would otherwise read back. */
	if (sw->bytes > 0)
		posix_fadvise(sw->fd, 0, sw->bytes, POSIX_FADV_DONTNEED);
	return 0;
}

static int write_fragment(struct segwriter *sw)
{
	int ret = sw->fw ? fragwriter_flush(sw->fw, write_iov, sw) : av_write_frame(sw->oc, NULL);
	if (ret < 0)
		return sw->error ? sw->error : ret;
	avio_flush(sw->pb);
	if (sw->error)
		return sw->error;
	sw->frag_has_data = false;
	sw->frag_start_ts = AV_NOPTS_VALUE;
	sw->frag_bytes = 0;
	return 0;
}

static int fsync_job(void *arg)
{
	return fsync_if_due(arg, false);
}

/* The write and its hash where the bytes are (they go to the page cache);
 * the fdatasync, when due, where it may block: on a worker of an I/O loop,
 * on a pool thread while the worker waits (evloop.h). */
static int flush_fragment(struct segwriter *sw)
{
	int ret = write_fragment(sw);
	if (ret < 0 || clock_mono_us() - sw->last_fsync_mono < sw->fsync_interval_us)
		return ret;
	return evloop_offload(fsync_job, sw);
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
	int size = pkt->size;
	int ret = sw->fw ? fragwriter_add(sw->fw, pkt) : av_write_frame(sw->oc, pkt);
	if (ret < 0)
		return sw->error ? sw->error : ret;
	sw->frag_has_data = true;
	sw->frag_bytes += size;
	return 0;
}

/*
 * Whether the fragment must close before a video frame (key: a keyframe,
 * ending at end_dts, of size bytes): at a keyframe; before the frame that
 * would end past one second of media from its start, so no fragment is
 * longer than that; and, whatever the timestamps say, before it would hold
 * more than its byte bound or once it has been open its time bound.
 */
static bool fragment_full(const struct segwriter *sw, bool key, int64_t end_dts, int size)
{
	if (!sw->frag_has_data || sw->frag_start_ts == AV_NOPTS_VALUE)
		return false;
	if (key || sw->frag_bytes + size > sw->frag_bytes_max)
		return true;
	if (sw->frag_wall_us > 0 && clock_mono_us() - sw->frag_start_mono >= sw->frag_wall_us)
		return true;
	return av_rescale_q(end_dts - sw->frag_start_ts, sw->in_tb[0], AV_TIME_BASE_Q) >
	       SEGWRITER_FRAGMENT_US;
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
	if (fragment_full(sw, key, dts + sw->held->duration, sw->held->size)) {
		int ret = flush_fragment(sw);
		if (ret < 0)
			return ret;
	}
	/* a fragment's length is counted from its first video frame: audio
	 * may have opened it a little earlier */
	if (sw->frag_start_ts == AV_NOPTS_VALUE) {
		sw->frag_start_ts = dts;
		sw->frag_start_mono = clock_mono_us();
	}
	sw->frames++;
	if (key)
		sw->keyframes++;
	int ret = mux_packet(sw, sw->held, SEGWRITER_VIDEO);
	av_packet_unref(sw->held);
	for (int i = 0; ret == 0 && i < sw->nearly; i++)
		ret = mux_packet(sw, sw->early_audio[i], SEGWRITER_AUDIO);
	for (int i = 0; i < sw->nearly; i++)
		av_packet_free(&sw->early_audio[i]);
	sw->nearly = 0;
	return ret;
}

/* A video frame at dts: the one held before it gets its duration and is
 * written. */
static int release_before(struct segwriter *sw, int64_t dts)
{
	if (!sw->held->data)
		return 0;
	if (dts > sw->held->dts)
		sw->last_video_delta = dts - sw->held->dts;
	return release_held(sw, dts);
}

/* The frame just put in sw->held waits there for its duration. */
static void hold_video(struct segwriter *sw, int64_t dts)
{
	sw->held->dts = dts;
	sw->last_video_dts = dts;
	if (sw->held->pts == AV_NOPTS_VALUE)
		sw->held->pts = dts;
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
		if (sw->frames == 0) {
			if (sw->nearly ==
			    (int)(sizeof(sw->early_audio) / sizeof(sw->early_audio[0])))
				av_packet_free(&copy); /* far too much audio before any video */
			else
				sw->early_audio[sw->nearly++] = copy;
			return 0;
		}
		ret = mux_packet(sw, copy, SEGWRITER_AUDIO);
		av_packet_free(&copy);
		/* audio alone (no video comes to close the fragment) is bounded too */
		if (ret == 0 && sw->frag_bytes > sw->frag_bytes_max)
			ret = flush_fragment(sw);
		return ret;
	}
	int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
	if ((ret = release_before(sw, dts)) < 0 || (ret = av_packet_ref(sw->held, pkt)) < 0)
		return ret;
	hold_video(sw, dts);
	return 0;
}

int segwriter_write_video(struct segwriter *sw, AVPacket *pkt)
{
	int ret;

	if (sw->error)
		return sw->error;
	int64_t dts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
	if ((ret = release_before(sw, dts)) < 0)
		return ret;
	if (pkt->buf) {
		av_packet_move_ref(sw->held, pkt);
	} else {
		/* not refcounted: its bytes are not the packet's to give */
		if ((ret = av_packet_ref(sw->held, pkt)) < 0)
			return ret;
		av_packet_unref(pkt);
	}
	hold_video(sw, dts);
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
	sw->pb->direct = 0; /* see segwriter_open */
	/* fragwriter's files end with their last fragment (no mfra) */
	if ((ret = sw->fw ? fragwriter_flush(sw->fw, write_iov, sw) : av_write_trailer(sw->oc)) < 0)
		return sw->error ? sw->error : ret;
	avio_flush(sw->pb);
	release_space(sw);
	if (sw->error)
		return sw->error;
	/* the data, and the folder entry if no earlier sync made it durable */
	if ((ret = fsync_if_due(sw, true)) < 0)
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
	fragwriter_free(&sw->fw);
	av_packet_free(&sw->held);
	for (int i = 0; i < sw->nearly; i++)
		av_packet_free(&sw->early_audio[i]);
	sha256_free(&sw->sha);
	av_freep(swp);
}
