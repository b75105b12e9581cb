/*
 * Inspection: is the picture a camera records worth anything?  Now and
 * then (every [inspection] interval_seconds) one keyframe just recorded is
 * read back from its segment file, decoded (libavcodec; H.264 and H.265)
 * and reduced to a small luma plane, on which the checks run:
 *
 *   black    nearly every pixel dark;
 *   frozen   nearly every block unchanged since the previous check, while
 *            new keyframes keep arriving (a running clock overlay keeps its
 *            blocks changing, so a static scene with a clock is not frozen);
 *   covered  a uniform picture, or the detail almost gone against the
 *            camera's reference;
 *   blurred  the detail well down against the reference;
 *   moved    the edges no longer match the reference's, at any small shift.
 *
 * The reference is the picture an operator accepted (`vigil inspect
 * accept`), or the one taken by itself after reference_after_hours of
 * healthy checks.  Each check's result, and a small JPEG thumbnail when the
 * picture's state changes, is stored in the catalog.
 *
 * Recording never waits on any of this: the inspector reads the files the
 * segment writer has already written, on one low-priority thread per
 * recorder, so at most one decode is in flight at a time.
 *
 * Thread safety: the analysis and decode functions are pure or own all
 * they touch; inspector_* functions are called from one thread, except
 * inspector_status and inspector_set_clock_offset, which any thread may
 * call.
 */
#ifndef VIGIL_INSPECT_INSPECT_H
#define VIGIL_INSPECT_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "config/config.h"

/* ---- the picture's states (DESIGN.md "Inspection") ---------------------- */

enum picture_state {
	PICTURE_UNKNOWN = 0, /* not checked yet, or the check failed */
	PICTURE_OK,
	PICTURE_BLACK,
	PICTURE_FROZEN,
	PICTURE_COVERED,
	PICTURE_BLURRED,
	PICTURE_MOVED,
	PICTURE_STATE_COUNT,
};

/* "ok", "black", ...; parse returns 0 or -EINVAL. */
const char *inspect_picture_name(enum picture_state s);
int inspect_picture_parse(const char *name, enum picture_state *out);

/* ---- analysis on a downscaled luma plane (pure) -------------------------- */

#define INSPECT_W 160
#define INSPECT_H 90
#define INSPECT_PLANE_BYTES (INSPECT_W * INSPECT_H)

struct inspect_thresholds {
	double black_luma;	 /* a pixel at or below is dark */
	double dark_fraction;	 /* black: at least this share of pixels dark */
	double uniform_fraction; /* covered: this share within uniform_range of the median */
	double uniform_range;	 /* luma levels */
	double block_change;	 /* a pixel differing by more has changed */
	int frozen_max_blocks;	 /* frozen: at most this many blocks changed */
	double covered_ratio;	 /* detail below this share of the reference's: covered */
	double blurred_ratio;	 /* ... below this: blurred */
	double moved_match;	 /* edge correlation with the reference below: moved */
};

/* What the checks measured. */
struct inspect_measures {
	double mean;	     /* luma */
	double spread;	     /* standard deviation of luma */
	double dark;	     /* share of dark pixels */
	double uniform;	     /* share of pixels near the median */
	double detail;	     /* edge energy (Laplacian), trimmed of the busiest blocks */
	double detail_ratio; /* against the reference; -1 without one */
	double match;	     /* best edge correlation with the reference; -1 without one */
	int changed_blocks;  /* since the previous check; -1 without one */
};

/* The defaults, then a camera's own (config keys picture_*). */
void inspect_thresholds_default(struct inspect_thresholds *th);
void inspect_thresholds_camera(const struct camera_config *cam, struct inspect_thresholds *th);

/*
 * Runs every check on plane (INSPECT_PLANE_BYTES, row-major).  prev is the
 * previous check's plane of another keyframe (NULL: none), ref the
 * reference (NULL: none).  Fills *m and a reason ("" when ok) and returns
 * the state; never PICTURE_UNKNOWN.
 */
enum picture_state inspect_analyse(const uint8_t *plane, const uint8_t *prev, const uint8_t *ref,
				   const struct inspect_thresholds *th, struct inspect_measures *m,
				   char *reason, size_t size);

/* ---- decoding one keyframe ---------------------------------------------- */

/* A decoded keyframe: its luma plane, and a JPEG thumbnail (malloc'd,
 * INSPECT_THUMB_W wide) that inspect_picture_release frees. */
#define INSPECT_THUMB_W 320
struct inspect_picture {
	uint8_t plane[INSPECT_PLANE_BYTES];
	int width, height; /* of the decoded frame */
	uint8_t *jpeg;
	size_t jpeg_len;
};

/*
 * Decodes one keyframe: codec is "h264" or "h265"/"hevc", extradata the
 * avcC/hvcC record (may be empty for Annex B data with parameter sets in
 * band), data the sample as stored in MP4 (length-prefixed NAL units, or
 * Annex B without extradata).  Returns 0, or a negative errno with the
 * reason in err: the input is never trusted (a corrupt keyframe is a
 * failed check, never a crash).
 */
int inspect_decode(const char *codec, const uint8_t *extradata, size_t extradata_len,
		   const uint8_t *data, size_t len, struct inspect_picture *out, char *err,
		   size_t errlen);
void inspect_picture_release(struct inspect_picture *p);

/* ---- the newest keyframe of a segment file ------------------------------- */

struct inspect_keyframe {
	char codec[8]; /* "h264", "h265" */
	uint8_t *extradata;
	size_t extradata_len;
	uint8_t *data;
	size_t len;
	int64_t offset;	  /* in the file: names the keyframe */
	int64_t media_us; /* its decode time from the file's first fragment */
};

/*
 * Finds the newest whole keyframe of the video track of the fragmented
 * MP4 file at path (a file still being written is fine: a torn tail is
 * ignored).  Returns 0, -ENOENT when it holds no keyframe yet, or another
 * negative errno, with the reason in err.  Release frees kf's buffers.
 */
int inspect_read_keyframe(const char *path, struct inspect_keyframe *kf, char *err, size_t errlen);
/* The same over a file image in memory (tests, fuzzing). */
int inspect_read_keyframe_mem(const uint8_t *file, size_t size, struct inspect_keyframe *kf,
			      char *err, size_t errlen);
void inspect_keyframe_release(struct inspect_keyframe *kf);

/* ---- checking a camera ---------------------------------------------------- */

struct inspect_result {
	char camera[CATALOG_CAMERA_MAX];
	enum picture_state state;
	int64_t checked_us;
	int64_t frame_us; /* wall time of the keyframe inspected, -1: none */
	char reason[160]; /* why the state (a fault, or why unknown) */
	struct inspect_measures m;
	bool reference;	       /* the camera has a reference picture */
	double clock_offset_s; /* the camera's clock minus the recorder's; NAN: unknown */
	uint8_t *jpeg;	       /* the thumbnail, malloc'd (NULL: none) */
	size_t jpeg_len;
};
void inspect_result_release(struct inspect_result *r);

/*
 * Checks camera cam of cfg once at now_us on its newest footage (read from
 * the segment files the catalog lists), compares with the camera's previous
 * check and reference, stores the result (and a reference once the camera
 * has been healthy for reference_after_hours), and prunes checks older than
 * the camera's oldest footage.  cat must be open read-write.  Returns 0 with
 * *r filled (a failed check is state unknown with its reason), or a
 * negative errno for a catalog failure.
 */
int inspect_camera(const struct config *cfg, struct catalog *cat, const struct camera_config *cam,
		   int64_t now_us, struct inspect_result *r);
/* The same, storing with the check the camera's clock offset as last
 * measured (seconds, camera minus recorder; NAN: unknown), which
 * inspect_camera passes as unknown. */
int inspect_camera_clock(const struct config *cfg, struct catalog *cat,
			 const struct camera_config *cam, int64_t now_us, double clock_offset_s,
			 struct inspect_result *r);

/*
 * Takes the camera's newest keyframe as its reference picture (an operator
 * accepted the view).  Returns 0, or a negative errno with the reason in
 * err (-ENOENT: no footage to take it from).
 */
int inspect_accept(const struct config *cfg, struct catalog *cat, const struct camera_config *cam,
		   int64_t now_us, char *err, size_t errlen);

/* ---- the recorder's inspector thread ---------------------------------- */

struct inspector;

struct inspect_callbacks {
	/* A camera's picture state changed; camera is its id.  Runs on the
	 * inspector's thread. */
	void (*changed)(void *ctx, const char *camera);
	void *ctx;
};

/* What health publishes of a camera. */
struct inspect_status {
	enum picture_state state;
	int64_t checked_us; /* -1: never */
	char reason[160];
};

/* cfg and cat must outlive it; NULL on allocation failure. */
struct inspector *inspector_new(const struct config *cfg, struct catalog *cat,
				const struct inspect_callbacks *cb);
/* Starts the thread (nothing when interval_seconds is 0).  0 or a negative
 * errno. */
int inspector_start(struct inspector *in);
/* Stops the thread, waiting for a check in progress. */
void inspector_stop(struct inspector *in);
void inspector_free(struct inspector **in);
/* The latest clock offset of camera (its id), in seconds, camera minus
 * recorder (NAN: no longer known), stored with its next checks; an offset
 * not renewed for INSPECT_CLOCK_STALE_S is stored as unknown.  Any thread
 * (ingest's workers call it); never blocks for long. */
#define INSPECT_CLOCK_STALE_S 60
void inspector_set_clock_offset(struct inspector *in, const char *camera, double offset_s);
/* The latest picture state of camera i (config order); -ENOENT past the
 * end.  Any thread. */
int inspector_status(struct inspector *in, size_t i, struct inspect_status *out);

#endif
