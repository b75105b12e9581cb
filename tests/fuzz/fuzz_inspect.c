/*
 * fuzz_inspect.c: libFuzzer target for picture inspection's reading of
 * footage: finding the newest keyframe of a fragmented MP4 file, decoding
 * it (libavcodec, H.264 and H.265) and running every check on it.
 *
 * The first byte chooses: even, the rest is a segment file; odd, the rest
 * is a keyframe as the reader returns it (bit 1: H.265; then a 16-bit
 * big-endian extradata length, the extradata, the sample).  Invariants: a
 * failure always has a reason; a decoded picture has a thumbnail and a
 * plausible size; analysis never says unknown.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/log.h>

#include "inspect/inspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_and_analyse(const char *codec, const uint8_t *ex, size_t exlen,
			       const uint8_t *s, size_t len)
{
	struct inspect_picture pic;
	struct inspect_thresholds th;
	struct inspect_measures m;
	char err[256] = "", reason[160];

	if (inspect_decode(codec, ex, exlen, s, len, &pic, err, sizeof(err)) < 0) {
		if (!err[0])
			abort();
		return;
	}
	if (!pic.jpeg || pic.jpeg_len < 4 || pic.width <= 0 || pic.height <= 0)
		abort();
	inspect_thresholds_default(&th);
	uint8_t other[INSPECT_PLANE_BYTES];
	for (size_t i = 0; i < sizeof(other); i++)
		other[i] = (uint8_t)(pic.plane[i] ^ (i & 7));
	if (inspect_analyse(pic.plane, other, pic.plane, &th, &m, reason, sizeof(reason)) ==
	    PICTURE_UNKNOWN)
		abort();
	inspect_picture_release(&pic);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		/* libavcodec's complaints about hostile input are expected */
		av_log_set_level(AV_LOG_QUIET);
		quiet = 1;
	}
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	if (!(mode & 1)) {
		struct inspect_keyframe kf;
		char err[256] = "";
		if (inspect_read_keyframe_mem(data, size, &kf, err, sizeof(err)) < 0) {
			if (!err[0])
				abort();
			return 0;
		}
		if (!kf.data || kf.len == 0 || kf.offset < 0 || (size_t)kf.offset + kf.len > size)
			abort();
		decode_and_analyse(kf.codec, kf.extradata, kf.extradata_len, kf.data, kf.len);
		inspect_keyframe_release(&kf);
		return 0;
	}
	if (size < 2)
		return 0;
	size_t exlen = (size_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	if (exlen > size)
		exlen = size;
	decode_and_analyse(mode & 2 ? "h265" : "h264", data, exlen, data + exlen, size - exlen);
	return 0;
}
