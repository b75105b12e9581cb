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
 * WALLCLOCK_SLEW_US, the mapping is moved by that much.
 *
 * A camera's timestamps are its word, not evidence: when the packet a
 * boundary is cut at arrives WALLCLOCK_STEP_US or more from its predicted
 * time (either way), the mapping is re-anchored at its arrival (counted in
 * reanchors, for the log); and no boundary is ever more than WALLCLOCK_AHEAD_US past
 * the arrival of the packet it is cut at, so a camera that advances its
 * clock faster than time passes cannot date footage in the future.  The
 * arrival times given must come from a clock that is not stepped within a
 * run (ingest measures them on the monotonic clock from the run's start):
 * then a disagreement is the camera's doing, never the system clock's.
 * Boundaries never go backwards and never fall before the floor (the end
 * of the camera's previous footage), so segments never overlap; where that
 * conflicts with the bound ahead, the floor wins.
 */
#ifndef VIGIL_INGEST_WALLCLOCK_H
#define VIGIL_INGEST_WALLCLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define WALLCLOCK_SLEW_US 500000
#define WALLCLOCK_STEP_US (10 * INT64_C(1000000))
#define WALLCLOCK_AHEAD_US (2 * INT64_C(1000000))

struct wallclock {
	bool anchored;
	int64_t anchor_wall;
	int64_t anchor_media;
	bool have_diff;
	int64_t min_diff; /* min(arrival - predicted) since the last boundary */
	int64_t floor;	  /* no boundary earlier than this */
	int64_t last_boundary;
	int reanchors; /* boundaries moved by WALLCLOCK_STEP_US or more */
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
