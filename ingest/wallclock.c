/* Media-to-wall time mapping for one run; see wallclock.h. */
#include "ingest/wallclock.h"
#include "util/banned.h"

void wallclock_init(struct wallclock *wc, int64_t floor_us)
{
	*wc = (struct wallclock){ .floor = floor_us, .last_boundary = INT64_MIN };
}

int64_t wallclock_map(const struct wallclock *wc, int64_t media_us)
{
	return wc->anchor_wall + (media_us - wc->anchor_media);
}

void wallclock_observe(struct wallclock *wc, int64_t media_us, int64_t arrival_us)
{
	if (!wc->anchored)
		return;
	int64_t diff = arrival_us - wallclock_map(wc, media_us);
	if (!wc->have_diff || diff < wc->min_diff) {
		wc->min_diff = diff;
		wc->have_diff = true;
	}
}

static int64_t abs64(int64_t v)
{
	return v < 0 ? -v : v;
}

int64_t wallclock_boundary(struct wallclock *wc, int64_t media_us, int64_t arrival_us,
			   int64_t *correction_us)
{
	int64_t at, correction = 0;

	if (!wc->anchored) {
		at = arrival_us;
		wc->anchored = true;
	} else {
		at = wallclock_map(wc, media_us);
		/* this packet itself disagrees by a step or more: the camera's
		 * clock runs at another pace than time (or jumped) */
		int64_t now_diff = arrival_us - at;
		if (abs64(now_diff) >= WALLCLOCK_STEP_US) {
			correction = now_diff;
			wc->reanchors++;
		} else if (wc->have_diff && abs64(wc->min_diff) > WALLCLOCK_SLEW_US) {
			correction = wc->min_diff;
			if (abs64(wc->min_diff) >= WALLCLOCK_STEP_US)
				wc->reanchors++;
		}
		at += correction;
	}
	/* however the camera counts, never ahead of the arrival by more than
	 * the bound */
	if (arrival_us <= INT64_MAX - WALLCLOCK_AHEAD_US && at > arrival_us + WALLCLOCK_AHEAD_US) {
		correction -= at - (arrival_us + WALLCLOCK_AHEAD_US);
		at = arrival_us + WALLCLOCK_AHEAD_US;
	}
	int64_t lowest = wc->floor;
	if (wc->last_boundary != INT64_MIN && wc->last_boundary + 1 > lowest)
		lowest = wc->last_boundary + 1;
	if (at < lowest) {
		correction += lowest - at;
		at = lowest;
	}
	wc->anchor_wall = at;
	wc->anchor_media = media_us;
	wc->last_boundary = at;
	wc->have_diff = false;
	if (correction_us)
		*correction_us = correction;
	return at;
}
