/*
 * Inside web/: playback streams built from the segment files, without
 * transcoding (pbstream.c), for the handlers of video.mp4 and live.mp4
 * (playback.c).  Nothing here speaks HTTP, so the unit tests drive it
 * directly.
 *
 * A stream is one fragmented MP4: the init segment of its first file
 * (ftyp + moov, as written), then every fragment (moof + mdat) in order,
 * with only two fields of each moof changed: the mfhd sequence number
 * (1, 2, 3, ... over the whole stream) and each traf's tfdt base media
 * decode time (shifted per file so that decode times run on without a jump
 * across segment files, and start at 0).  The mdat bytes are those of the
 * file, read when they are sent.
 *
 * Thread safety: a stream is used by one thread at a time (the connection
 * that serves it); the catalog handle takes its own lock.
 */
#ifndef VIGIL_WEB_PLAYBACK_H
#define VIGIL_WEB_PLAYBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct catalog;

enum pb_end {
	PB_END_END = 0, /* the interval's end was reached */
	PB_END_GAP,	/* the footage stops (a gap) before the interval's end */
	PB_END_FORMAT,	/* the next segment's codec or picture size differs */
	PB_END_LIVE,	/* reached what the recorder has written so far */
};

/* "end", "gap", "format-change", "live". */
const char *pb_end_name(enum pb_end e);

#define PB_CODEC_MAX 96

struct pb_info {
	int64_t start_us; /* wall clock of the first frame (a keyframe) */
	int64_t end_us;	  /* wall clock where the last fragment ends */
	enum pb_end end_reason;
	char codec[PB_CODEC_MAX]; /* RFC 6381 codecs list: "avc1.640028" or
				   * "hvc1.1.6.L93.B0,mp4a.40.2" */
	bool hevc;
	int64_t size; /* bytes of the whole stream */
	int64_t fragments;
	int segments;
};

/* More fragments than this end the stream early (reason "end", with
 * end_us saying where), so that one request's index stays a few MiB:
 * four days of one fragment a second. */
#define PB_FRAGMENTS_MAX 345600

struct pb_stream;

/*
 * Lays out the stream of camera's footage over [from_us, to_us): from the
 * last keyframe fragment at or before from_us (or the first one after it
 * when the footage begins later) to the last fragment that begins before
 * to_us, stopping early at a gap or a change of format.  Only the box
 * structure of the files is read; what is kept in memory is the init
 * segment and 32 bytes per fragment.  Returns 0 and *out, -ENOENT when
 * there is no footage in the interval, or another negative errno, with a
 * message in err.
 */
int pb_stream_build(struct catalog *cat, const char *storage, const char *camera, int64_t from_us,
		    int64_t to_us, struct pb_stream **out, char *err, size_t errlen);
const struct pb_info *pb_stream_info(const struct pb_stream *s);
/* Copies up to n bytes of the stream from pos into buf.  Returns the bytes
 * copied (0 at or past the end) or a negative errno (a file that went away
 * or changed since the layout was made). */
ssize_t pb_stream_read(struct pb_stream *s, int64_t pos, void *buf, size_t n);
void pb_stream_free(struct pb_stream **s);

/*
 * A byte range of a resource of size bytes, from a Range header: 1 and
 * [*first, *last] (inclusive) for one satisfiable range; 0 when the header
 * is to be ignored (absent, another unit, several ranges: the whole
 * resource is sent); -ERANGE when it cannot be satisfied or does not parse
 * (416).
 */
int pb_parse_range(const char *header, int64_t size, int64_t *first, int64_t *last);

/*
 * Live: follows the segment the recorder is writing for camera, from its
 * newest whole keyframe fragment, fragment by fragment as they are
 * appended; when the recorder finishes it, goes on with the camera's next
 * segment if its format is the same.
 */
struct pb_live;

/* -ENOENT when the camera has no segment being written. */
int pb_live_open(struct catalog *cat, const char *storage, const char *camera, struct pb_live **out,
		 char *err, size_t errlen);
/* The codec, and start_us (wall clock of the first frame sent, once the
 * first fragment is known; else the segment's start). */
const struct pb_info *pb_live_info(const struct pb_live *l);
/* Copies up to n bytes of what comes next.  Waits up to wait_us for new
 * footage; returns the bytes copied, -EAGAIN when nothing came in time, 0
 * at the end of the stream (then pb_live_info's end_reason says why), or
 * another negative errno. */
ssize_t pb_live_read(struct pb_live *l, void *buf, size_t n, int64_t wait_us);
void pb_live_free(struct pb_live **l);

#endif
