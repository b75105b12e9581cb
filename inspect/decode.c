/*
 * Decoding one keyframe with libavcodec into the inspection plane (160x90
 * luma, area-averaged by libswscale) and a JPEG thumbnail (libavcodec's
 * mjpeg encoder, INSPECT_THUMB_W wide).
 *
 * Each call opens its own decoder with one thread and closes it: a check
 * every few minutes does not justify keeping a decoder per camera, and a
 * decoder that saw a corrupt keyframe never carries its state into the next
 * check.  Input is hostile: libavcodec gets padded copies, a frame of a
 * size it should not have is refused, and every failure is a reason.
 */
#include "inspect/inspect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include "util/banned.h"

#define MAX_SIDE 8192

static void av_reason(int err, const char *what, char *out, size_t size)
{
	char msg[AV_ERROR_MAX_STRING_SIZE] = "";
	av_strerror(err, msg, sizeof(msg));
	snprintf(out, size, "%s: %s", what, msg);
}

static int scale_to(const AVFrame *f, enum AVPixelFormat fmt, int w, int h, uint8_t *const dst[4],
		    const int dst_stride[4])
{
	struct SwsContext *sws = sws_getContext(f->width, f->height, (enum AVPixelFormat)f->format,
						w, h, fmt, SWS_AREA, NULL, NULL, NULL);
	if (!sws)
		return -EINVAL;
	int ret = sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
			    dst_stride);
	sws_freeContext(sws);
	return ret > 0 ? 0 : -EINVAL;
}

static int encode_jpeg(const AVFrame *src, struct inspect_picture *out, char *err, size_t errlen)
{
	const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
	AVCodecContext *enc = NULL;
	AVFrame *f = NULL;
	AVPacket *pkt = NULL;
	int ret = -ENOMEM;
	int w = INSPECT_THUMB_W;
	int h = (int)((int64_t)src->height * w / src->width) & ~1;

	if (!codec) {
		snprintf(err, errlen, "no mjpeg encoder in libavcodec");
		return -ENOSYS;
	}
	if (h < 2)
		h = 2;
	if (!(enc = avcodec_alloc_context3(codec)) || !(f = av_frame_alloc()) ||
	    !(pkt = av_packet_alloc()))
		goto out;
	enc->width = w;
	enc->height = h;
	enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
	enc->time_base = (AVRational){ 1, 25 };
	enc->flags |= AV_CODEC_FLAG_QSCALE;
	enc->global_quality = FF_QP2LAMBDA * 6;
	if ((ret = avcodec_open2(enc, codec, NULL)) < 0) {
		av_reason(ret, "cannot open the jpeg encoder", err, errlen);
		goto out;
	}
	f->format = AV_PIX_FMT_YUVJ420P;
	f->width = w;
	f->height = h;
	f->quality = enc->global_quality;
	f->pict_type = AV_PICTURE_TYPE_I;
	if ((ret = av_frame_get_buffer(f, 0)) < 0)
		goto av;
	if ((ret = scale_to(src, AV_PIX_FMT_YUVJ420P, w, h, f->data, f->linesize)) < 0) {
		snprintf(err, errlen, "cannot scale the thumbnail");
		goto out;
	}
	if ((ret = avcodec_send_frame(enc, f)) < 0 || (ret = avcodec_send_frame(enc, NULL)) < 0 ||
	    (ret = avcodec_receive_packet(enc, pkt)) < 0)
		goto av;
	if (!(out->jpeg = malloc((size_t)pkt->size))) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(out->jpeg, pkt->data, (size_t)pkt->size);
	out->jpeg_len = (size_t)pkt->size;
	ret = 0;
	goto out;
av:
	av_reason(ret, "cannot encode the thumbnail", err, errlen);
	ret = -EIO;
out:
	av_packet_free(&pkt);
	av_frame_free(&f);
	avcodec_free_context(&enc);
	return ret;
}

int inspect_decode(const char *codec_name, const uint8_t *extradata, size_t extradata_len,
		   const uint8_t *data, size_t len, struct inspect_picture *out, char *err,
		   size_t errlen)
{
	enum AVCodecID id;
	AVCodecContext *dec = NULL;
	AVPacket *pkt = NULL;
	AVFrame *frame = NULL;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!strcmp(codec_name, "h264")) {
		id = AV_CODEC_ID_H264;
	} else if (!strcmp(codec_name, "h265") || !strcmp(codec_name, "hevc")) {
		id = AV_CODEC_ID_HEVC;
	} else {
		snprintf(err, errlen, "cannot inspect codec '%s'", codec_name);
		return -ENOTSUP;
	}
	if (len == 0 || len > INT32_MAX / 2 || extradata_len > (1 << 20)) {
		snprintf(err, errlen, "keyframe of %zu bytes", len);
		return -EINVAL;
	}
	const AVCodec *codec = avcodec_find_decoder(id);
	if (!codec) {
		snprintf(err, errlen, "no %s decoder in libavcodec", codec_name);
		return -ENOSYS;
	}
	ret = -ENOMEM;
	if (!(dec = avcodec_alloc_context3(codec)) || !(pkt = av_packet_alloc()) ||
	    !(frame = av_frame_alloc()))
		goto out;
	dec->thread_count = 1;
	dec->err_recognition = AV_EF_EXPLODE;
	if (extradata_len) {
		dec->extradata = av_mallocz(extradata_len + AV_INPUT_BUFFER_PADDING_SIZE);
		if (!dec->extradata)
			goto out;
		memcpy(dec->extradata, extradata, extradata_len);
		dec->extradata_size = (int)extradata_len;
	}
	if ((ret = avcodec_open2(dec, codec, NULL)) < 0) {
		av_reason(ret, "cannot open the decoder", err, errlen);
		ret = -EINVAL;
		goto out;
	}
	if ((ret = av_new_packet(pkt, (int)len)) < 0)
		goto av;
	memcpy(pkt->data, data, len);
	pkt->flags |= AV_PKT_FLAG_KEY;
	if ((ret = avcodec_send_packet(dec, pkt)) < 0 && ret != AVERROR(EAGAIN))
		goto av;
	avcodec_send_packet(dec, NULL);
	ret = avcodec_receive_frame(dec, frame);
	if (ret < 0)
		goto av;
	if (frame->width <= 0 || frame->height <= 0 || frame->width > MAX_SIDE ||
	    frame->height > MAX_SIDE || frame->format < 0) {
		snprintf(err, errlen, "decoded frame of %dx%d", frame->width, frame->height);
		ret = -EINVAL;
		goto out;
	}
	if (frame->decode_error_flags || (frame->flags & AV_FRAME_FLAG_CORRUPT)) {
		snprintf(err, errlen, "the keyframe decodes with errors");
		ret = -EINVAL;
		goto out;
	}
	out->width = frame->width;
	out->height = frame->height;
	{
		uint8_t *dst[4] = { out->plane, NULL, NULL, NULL };
		int stride[4] = { INSPECT_W, 0, 0, 0 };
		if (scale_to(frame, AV_PIX_FMT_GRAY8, INSPECT_W, INSPECT_H, dst, stride) < 0) {
			snprintf(err, errlen, "cannot scale a %dx%d frame", frame->width,
				 frame->height);
			ret = -EINVAL;
			goto out;
		}
	}
	ret = encode_jpeg(frame, out, err, errlen);
	goto out;
av:
	av_reason(ret, "cannot decode the keyframe", err, errlen);
	ret = -EINVAL;
out:
	av_frame_free(&frame);
	av_packet_free(&pkt);
	avcodec_free_context(&dec);
	if (ret < 0)
		inspect_picture_release(out);
	return ret;
}

void inspect_picture_release(struct inspect_picture *p)
{
	free(p->jpeg);
	p->jpeg = NULL;
	p->jpeg_len = 0;
}
