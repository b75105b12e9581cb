/*
 * Health: what the recorder publishes about itself and its cameras over
 * MQTT (samplers and the publisher).  What becomes of it (the checker and
 * its tickets) is tickets/.
 *
 * The publisher runs inside `vigil record`: it reads live camera state
 * through ingest's header and learns of state changes through
 * health_publisher_notify(), which cmd/ wires in as ingest's state
 * callback (ingest never includes this header).  Recorder-wide numbers
 * that belong to retention (disk, write rate, forecast, oldest footage)
 * come from a provider callback that cmd/ supplies.
 *
 * Thread safety: health_publisher_notify may be called from any thread
 * (ingest's workers); every other function is called from one thread.
 */
#ifndef VIGIL_HEALTH_HEALTH_H
#define VIGIL_HEALTH_HEALTH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "ingest/ingest.h"
#include "util/metrics.h"

/* What the recorder knows about its storage; -1 (or false) when unknown. */
struct health_recorder_status {
	int64_t disk_total_bytes;
	int64_t disk_free_bytes;
	double write_bytes_per_s; /* footage written, averaged */
	double forecast_days;	  /* days of footage the storage can hold */
	int64_t oldest_footage_us;
	int64_t index_bytes;	/* the catalog's size on disk */
	bool retention_at_risk; /* the forecast is below the floor */
	bool storage_error;	/* footage cannot be written */
	bool clock_fault;	/* the wall clock jumped (retention stopped) */
	char detail[160];	/* why storage fails or retention is at risk */
	/* segments the sweeper of this process deleted, by reason (metrics) */
	int64_t deleted_expired, deleted_space, deleted_below_floor;
};

/* Fills *out; returns 0 or a negative errno (the payload then says
 * unknown).  Called from the publisher's thread. */
typedef int (*health_recorder_status_fn)(void *ctx, struct health_recorder_status *out);

/* ---- the vocabulary of camera health on MQTT (DESIGN.md) ---------------- */

/* Camera states as published (DESIGN.md, plus the start and stop of a
 * recorder); the checker, the console and metrics read the same names. */
enum health_camera_state {
	HEALTH_CAM_STARTING = 0,
	HEALTH_CAM_RECORDING,
	HEALTH_CAM_DEGRADED,
	HEALTH_CAM_RECONNECTING,
	HEALTH_CAM_DOWN,
	HEALTH_CAM_STORAGE_ERROR,
	HEALTH_CAM_STOPPED,
	HEALTH_CAM_STATE_COUNT,
};

const char *health_camera_state_name(enum health_camera_state s);
int health_camera_state_parse(const char *name, enum health_camera_state *out);
/* Returns 0 and sets *out, or -EINVAL. */

/* ---- the publisher ---------------------------------------------------- */

struct health_publisher;

/*
 * Creates the publisher of cfg's recorder (not started).  cfg and cat must
 * outlive it; status may be NULL.  Returns NULL on allocation failure.
 */
struct health_publisher *health_publisher_new(const struct config *cfg, struct catalog *cat,
					      health_recorder_status_fn status, void *status_ctx);

/* Starts its thread, which connects to the broker (retrying with backoff
 * from the first attempt; recording never waits for it) and publishes.
 * ing must outlive the publisher.  Returns 0 or a negative errno. */
int health_publisher_start(struct health_publisher *pub, struct ingest *ing);

/* A camera's state changed: publish at once.  Matches ingest_callbacks'
 * state_changed, with pub as ctx.  Never blocks. */
void health_publisher_notify(void *pub, const char *camera);

/* ---- inspection in camera health (DESIGN.md "Inspection") -------------- */

/* What picture inspection says of a camera: state "ok", "black", ...,
 * "unknown" (or "" when it has not run); reason when it is a fault. */
struct health_camera_picture {
	char state[16];
	int64_t checked_us; /* -1: never */
	char reason[160];
};
/* Fills *out for camera i (config order); 0 or a negative errno.  Called
 * from the publisher's thread; must not block. */
typedef int (*health_picture_fn)(void *ctx, size_t i, struct health_camera_picture *out);

/* Gives the publisher inspection's picture states (before start); their
 * faults (black, frozen, covered, blurred, moved) make a recording camera
 * degraded.  Changes are announced with health_publisher_notify. */
void health_publisher_set_picture(struct health_publisher *pub, health_picture_fn fn, void *ctx);

/* The camera's clock offset from the recorder's (seconds, camera minus
 * recorder), as its RTCP sender reports tell; beyond [inspection]
 * max_clock_offset_seconds the camera is degraded.  Any thread; never
 * blocks for long.  camera is its id. */
void health_publisher_clock_offset(void *pub, const char *camera, double offset_s);

/* Publishes the final state and status "offline", disconnects, and joins
 * the thread (at most a few seconds when the broker is slow). */
void health_publisher_stop(struct health_publisher *pub);
void health_publisher_free(struct health_publisher **pub);

/* ---- the recorder's Prometheus metrics ----------------------------------- */

struct health_metrics;

/*
 * The recorder's series in m: per camera (read from ingest's status copies
 * at each scrape), per recorder (from the status provider, as the MQTT
 * payload has them) and the fsync histogram (handed to ingest).  Each
 * camera's oldest footage comes from the catalog, read every minute by a
 * thread of its own, so a scrape never waits on the catalog.  cfg, cat,
 * ing and m must outlive it.  NULL on allocation failure.
 */
struct health_metrics *health_metrics_new(const struct config *cfg, struct catalog *cat,
					  struct ingest *ing, health_recorder_status_fn status,
					  void *status_ctx, struct metrics *m);
/* Starts the catalog reader; 0 or a negative errno. */
int health_metrics_start(struct health_metrics *hm);
/* Stops the reader; a scrape after this must not come (stop the listener
 * first). */
void health_metrics_free(struct health_metrics **hm);

#endif
