/*
 * Maps a stream's media time to wall time for one connection ("run").
 * Internal to ingest/; pure arithmetic, unit-tested from tables.
 *
 * A run is anchored at the wall time its first keyframe arrives; after that
 * wall time follows the camera's own timestamps, so consecutive segments
 * meet exactly.  Cameras' clocks drift and the first packets may come out
 * of libavformat's probe buffer late, so every packet's arrival is compared
 * with its predicted wall time; at each segment boundary, if the smallest
 * difference seen (the least-delayed packet) is off by more than
 * WALLCLOCK_SLEW_US, the mapping is moved by that much.  A difference
 * beyond WALLCLOCK_STEP_US is a step of the wall clock, not drift, and is
 * not followed within a run.  Boundaries never go backwards and never fall
 * before the floor (the end of the camera's previous footage), so segments
 * never overlap.
 */
#ifndef VIGIL_INGEST_WALLCLOCK_H
#define VIGIL_INGEST_WALLCLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define WALLCLOCK_SLEW_US 500000
#define WALLCLOCK_STEP_US (60 * INT64_C(1000000))

struct wallclock {
	bool anchored;
	int64_t anchor_wall;
	int64_t anchor_media;
	bool have_diff;
	int64_t min_diff; /* min(arrival - predicted) since the last boundary */
	int64_t floor;	  /* no boundary earlier than this */
	int64_t last_boundary;
	bool stepped; /* a clock step was seen and ignored */
};

/* Starts a run; floor_us is the end of the camera's footage so far (or -1). */
void wallclock_init(struct wallclock *wc, int64_t floor_us);

/* Records that the packet with media time media_us arrived at arrival_us. */
void wallclock_observe(struct wallclock *wc, int64_t media_us, int64_t arrival_us);

/* The wall time of a segment boundary at media_us (the first one anchors
 * the run at arrival_us).  *correction_us, if not NULL, receives the change
 * applied to the mapping (0 when none). */
int64_t wallclock_boundary(struct wallclock *wc, int64_t media_us, int64_t arrival_us,
			   int64_t *correction_us);

/* The wall time of media_us under the current mapping (anchored runs only). */
int64_t wallclock_map(const struct wallclock *wc, int64_t media_us);

#endif
