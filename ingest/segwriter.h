/*
 * The segment writer: copies packets, without transcoding, into one
 * fragmented MP4 file.  Internal to ingest/.
 *
 * The file is ftyp + an empty moov + one moof/mdat pair per fragment.  A
 * fragment closes at every video keyframe, whenever it would exceed one
 * second of media time, once it holds SEGWRITER_FRAGMENT_BYTES and once it
 * has been open fragment_wall_us (by the monotonic clock), and is handed to
 * the kernel (write(2)) as it closes, so a crash of the process loses at
 * most the fragment being written.  The last two hold whatever the
 * camera's timestamps say: a fragment's samples stay in memory until it
 * closes, and timestamps that barely move (or step back) would otherwise
 * keep it open for ever.  The file is
 * fdatasync'd every fsync interval and at the end, and its folder with the
 * first of those, so a power cut loses at most what came after the last
 * sync.  Bytes are hashed (SHA-256) as they are written: the muxer never
 * seeks, because the output is declared non-seekable.
 *
 * One video packet is held back until the next one arrives, so every sample
 * gets its exact duration and a segment ends exactly where the next begins.
 */
#ifndef VIGIL_INGEST_SEGWRITER_H
#define VIGIL_INGEST_SEGWRITER_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "util/metrics.h"

#define SEGWRITER_FRAGMENT_US 1000000
/* Bounds on a fragment whatever the timestamps: the bytes it holds, and
 * the time it stays open (a little over its media length, so that arrival
 * jitter never cuts a healthy stream's fragments short). */
#define SEGWRITER_FRAGMENT_BYTES (4 * 1024 * 1024)
#define SEGWRITER_FRAGMENT_WALL_US 1500000

struct segwriter;

struct segwriter_params {
	const AVCodecParameters *video;
	AVRational video_tb;
	const AVCodecParameters *audio; /* NULL when there is no usable audio */
	AVRational audio_tb;
	int64_t fsync_interval_us;		/* 0: after every fragment */
	int64_t origin_ts;			/* video dts (in video_tb) that becomes 0 */
	int64_t fragment_wall_us;		/* a fragment open this long closes; 0: no bound */
	int64_t fragment_bytes;			/* a fragment holding this much closes;
						 * 0: SEGWRITER_FRAGMENT_BYTES */
	struct metric_histogram *fsync_seconds; /* each fdatasync's time; may be NULL */
};

enum segwriter_stream { SEGWRITER_VIDEO = 0, SEGWRITER_AUDIO = 1 };

/*
 * Creates the file at path (O_EXCL, mode 0640; its folder must exist) and
 * writes the MP4 header.  Returns 0 and *out, or a negative errno (-EEXIST
 * if the file exists: footage is never overwritten).
 */
int segwriter_open(struct segwriter **out, const char *path, const struct segwriter_params *p);

/* Writes one packet (timestamps in the stream's input time base).  The
 * packet is not consumed.  Returns 0 or a negative errno; after an error the
 * writer only accepts segwriter_abandon or segwriter_free. */
int segwriter_write(struct segwriter *sw, const AVPacket *pkt, enum segwriter_stream which);

/* As segwriter_write for a video packet, but takes pkt's reference (pkt
 * is left blank): the frame waits for its duration without a reference
 * of its own, one allocation less per frame. */
int segwriter_write_video(struct segwriter *sw, AVPacket *pkt);

/*
 * Ends the file: the held video packet is written with its duration up to
 * end_ts (the dts of the keyframe that starts the next segment, in video
 * time base; AV_NOPTS_VALUE when unknown), then the trailer; the file (and
 * its folder, unless an earlier sync did) is fsynced and closed.  Fills *r except end_us.  Returns
 * 0, or a negative errno, in which case the file's durability is unknown.
 */
int segwriter_finish(struct segwriter *sw, int64_t end_ts, struct segment_result *r);

/* Media time written so far, in microseconds from the origin, counting the
 * held packet up to its dts. */
int64_t segwriter_media_us(const struct segwriter *sw);
int64_t segwriter_bytes(const struct segwriter *sw);
int64_t segwriter_frames(const struct segwriter *sw);

/* Closes the file without a trailer, leaving it for recovery; frees. */
void segwriter_free(struct segwriter **sw);

#endif
