/*
 * Ingest: one worker thread per camera pulls its RTSP stream and copies
 * it, without transcoding, into fragmented MP4 segments indexed in the
 * catalog; outages become gaps with a reason.  The lean RTSP client
 * (ingest/rtsp.c) reads the common camera (RTSP over TCP, H.264 or H.265
 * with parameter sets in the SDP) and ingest/fragwriter.c writes its
 * fragments; libavformat's RTSP client and mp4 muxer are the fallback for
 * everything else (UDP, rtsps, audio, B frames, SDPs without parameter
 * sets, and anything the lean client did not expect).
 * Start-up recovery (ingest_recover) restores the catalog invariants after
 * a crash before any worker starts.
 *
 * Health reads live camera state through ingest_camera_status(); ingest
 * tells whoever cares about state changes through the callback given at
 * creation (wired by cmd/), so ingest never depends on health.
 *
 * Thread safety: ingest_new/start/stop/free from one thread;
 * ingest_camera_status and ingest_set_storage_blocked from any thread.
 * The state callback runs on worker threads and must return quickly.
 */
#ifndef VIGIL_INGEST_INGEST_H
#define VIGIL_INGEST_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "util/metrics.h"

struct ingest;

enum camera_state {
	CAMERA_STARTING = 0, /* first connection not made yet */
	CAMERA_RECORDING,
	CAMERA_RECONNECTING,  /* lost less than INGEST_DOWN_AFTER_US ago */
	CAMERA_DOWN,	      /* lost for longer */
	CAMERA_STORAGE_ERROR, /* stream fine, footage cannot be written */
	CAMERA_STOPPED,
};

/* An outage becomes "down" after this long of reconnecting. */
#define INGEST_DOWN_AFTER_US (10 * INT64_C(1000000))

struct ingest_camera_status {
	char id[CATALOG_CAMERA_MAX];
	enum camera_state state;
	int64_t state_since_us;		  /* wall time of the last state change */
	double fps;			  /* video frames per second over the last 10 s */
	double kbps;			  /* received kbit/s over the last 10 s */
	int64_t last_frame_us;		  /* wall time of the newest frame, -1: none */
	int64_t gap_start_us;		  /* start of the current outage, -1: none */
	int64_t frames_total;		  /* video frames written since start */
	int64_t bytes_total;		  /* media bytes written since start */
	int64_t frames_received;	  /* video frames received since start */
	int64_t bytes_received;		  /* media bytes received since start */
	enum gap_reason gap_reason;	  /* of the current outage */
	int64_t gap_us[GAP_REASON_COUNT]; /* outages of this run that ended, by reason */
	int64_t segments_total;		  /* segments finished since start */
	int reconnects;			  /* connections lost since start */
	char codec[16];
	int width, height;
	char last_error[160]; /* redacted */
};

struct ingest_callbacks {
	/* A camera's state changed; camera is its id. */
	void (*state_changed)(void *ctx, const char *camera);
	/* The camera's clock minus the recorder's, in seconds, from its RTCP
	 * sender reports (the lean RTSP client only: libavformat keeps them
	 * to itself); about once a second while they come.  May be NULL. */
	void (*clock_offset)(void *ctx, const char *camera, double offset_s);
	void *ctx;
};

/* What start-up recovery found and did. */
struct ingest_recovery {
	int segments_recovered;	 /* writing rows kept, with their fragments */
	int segments_dropped;	 /* writing rows with nothing to keep */
	int64_t bytes_truncated; /* torn fragment tails cut off */
	int gaps_closed;	 /* outages open at the crash */
	int files_quarantined;	 /* footage files the catalog did not know */
};

/* Names of states as used in health payloads: "recording", ... */
const char *ingest_camera_state_name(enum camera_state s);

/*
 * Restores the invariants of catalog.h after a crash: finishes writing
 * rows from their files (truncating torn fragments), drops rows without
 * footage, closes outages left open, and moves footage files the catalog
 * does not know into STORAGE/.quarantine.  Run before ingest_start, with
 * the storage lock held.  Returns 0 or a negative errno.
 */
int ingest_recover(const struct config *cfg, struct catalog *cat, struct ingest_recovery *r);

/*
 * Creates the workers (not yet started).  cfg and cat must outlive the
 * ingest.  Returns NULL on allocation failure.
 */
struct ingest *ingest_new(const struct config *cfg, struct catalog *cat,
			  const struct ingest_callbacks *cb);

/* Starts every worker.  Returns 0 or a negative errno (no worker left
 * running on failure). */
int ingest_start(struct ingest *ing);

/* Asks every worker to finish its segment cleanly and waits for them. */
void ingest_stop(struct ingest *ing);

void ingest_free(struct ingest **ing);

size_t ingest_camera_count(const struct ingest *ing);
/* Copies the live status of camera i; returns 0 or -ENOENT. */
int ingest_camera_status(struct ingest *ing, size_t i, struct ingest_camera_status *st);

/* While blocked, workers keep their connections but write nothing and hold
 * a storage-full gap open (the on_full = protect-retention policy). */
void ingest_set_storage_blocked(struct ingest *ing, bool blocked, const char *why);

/* Every segment writer times its fdatasync calls into h (NULL: none).
 * Call before ingest_start. */
void ingest_set_fsync_histogram(struct ingest *ing, struct metric_histogram *h);

/* Routes libavformat's own log lines through vigil's logger, with
 * credentials scrubbed.  Call once at start-up. */
void ingest_install_av_log(void);

#endif
