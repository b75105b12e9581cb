/* ingest/wallclock: media time to wall time for one run, from tables. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ingest/wallclock.h"
#include "tests/unit/test.h"

#define SEC INT64_C(1000000)
#define MS INT64_C(1000)
#define W (INT64_C(1793599200) * SEC) /* an arbitrary wall time */

/* ---- exact steps ------------------------------------------------------- */

enum op {
	OBSERVE,  /* wallclock_observe(media, arrival) */
	BOUNDARY, /* wallclock_boundary(media, arrival) == want, correction == corr */
	MAP,	  /* wallclock_map(media) == want */
};

struct step {
	enum op op;
	int64_t media, arrival;
	int64_t want, corr;
};

struct steps_case {
	const char *name;
	int64_t floor;
	int reanchors; /* expected at the end */
	struct step steps[12];
	int n;
};

static const struct steps_case steps_cases[] = {
	{ "first boundary anchors at arrival",
	  -1,
	  0,
	  { { OBSERVE, 0, W - 99 * SEC, 0, 0 }, /* before the anchor: ignored */
	    { BOUNDARY, 5 * SEC, W, W, 0 },
	    { MAP, 6 * SEC, 0, W + SEC, 0 },
	    { MAP, 65 * SEC, 0, W + 60 * SEC, 0 },
	    { BOUNDARY, 65 * SEC, W + 60 * SEC, W + 60 * SEC, 0 } },
	  5 },
	{ "slew threshold is exclusive",
	  -1,
	  0,
	  { { BOUNDARY, 0, W, W, 0 },
	    { OBSERVE, SEC, W + SEC + WALLCLOCK_SLEW_US, 0, 0 },
	    { BOUNDARY, 60 * SEC, W + 60 * SEC, W + 60 * SEC, 0 },
	    { OBSERVE, 61 * SEC, W + 61 * SEC + WALLCLOCK_SLEW_US + 1, 0, 0 },
	    { BOUNDARY, 120 * SEC, W + 120 * SEC, W + 120 * SEC + WALLCLOCK_SLEW_US + 1,
	      WALLCLOCK_SLEW_US + 1 },
	    /* the mapping moved: on time now means 500001 us later */
	    { OBSERVE, 121 * SEC, W + 121 * SEC + WALLCLOCK_SLEW_US + 1, 0, 0 },
	    { BOUNDARY, 180 * SEC, W + 180 * SEC + WALLCLOCK_SLEW_US + 1,
	      W + 180 * SEC + WALLCLOCK_SLEW_US + 1, 0 } },
	  7 },
	{ "negative offsets beyond the slew are followed",
	  -1,
	  0,
	  { { BOUNDARY, 0, W, W, 0 },
	    { OBSERVE, 10 * SEC, W + 10 * SEC - WALLCLOCK_SLEW_US - 1, 0, 0 },
	    { BOUNDARY, 60 * SEC, W + 60 * SEC, W + 60 * SEC - WALLCLOCK_SLEW_US - 1,
	      -WALLCLOCK_SLEW_US - 1 },
	    { MAP, 70 * SEC, 0, W + 70 * SEC - WALLCLOCK_SLEW_US - 1, 0 } },
	  4 },
	{ "the least delayed packet decides",
	  -1,
	  0,
	  { { BOUNDARY, 0, W, W, 0 },
	    { OBSERVE, SEC, W + SEC + 2 * SEC, 0, 0 },
	    { OBSERVE, 2 * SEC, W + 2 * SEC + 700 * MS, 0, 0 },
	    { OBSERVE, 3 * SEC, W + 3 * SEC + 3 * SEC, 0, 0 },
	    { BOUNDARY, 60 * SEC, W + 64 * SEC, W + 60 * SEC + 700 * MS, 700 * MS },
	    /* measurements start afresh after each boundary */
	    { BOUNDARY, 120 * SEC, W + 121 * SEC, W + 120 * SEC + 700 * MS, 0 } },
	  6 },
	{ "just below a step is followed",
	  -1,
	  0,
	  { { BOUNDARY, 0, W, W, 0 },
	    { OBSERVE, SEC, W + SEC + WALLCLOCK_STEP_US - 1, 0, 0 },
	    { BOUNDARY, 60 * SEC, W + 60 * SEC + WALLCLOCK_STEP_US - 1,
	      W + 60 * SEC + WALLCLOCK_STEP_US - 1, WALLCLOCK_STEP_US - 1 } },
	  3 },
	/* the camera's clock is its word, not evidence: arrival decides */
	{ "a step is followed, and counted",
	  -1,
	  2,
	  { { BOUNDARY, 0, W, W, 0 },
	    { OBSERVE, SEC, W + SEC + WALLCLOCK_STEP_US, 0, 0 },
	    { BOUNDARY, 60 * SEC, W + 60 * SEC + WALLCLOCK_STEP_US,
	      W + 60 * SEC + WALLCLOCK_STEP_US, WALLCLOCK_STEP_US },
	    /* media 2 h ahead of arrival: back to arrival, but never before
	     * the last boundary */
	    { OBSERVE, 61 * SEC, W + 61 * SEC - 2 * 3600 * SEC, 0, 0 },
	    { BOUNDARY, 120 * SEC, W + 121 * SEC - 2 * 3600 * SEC,
	      W + 60 * SEC + WALLCLOCK_STEP_US + 1, 1 - 60 * SEC } },
	  5 },
	{ "never ahead of the arrival by more than the bound",
	  -1,
	  1,
	  { { BOUNDARY, 0, W, W, 0 },
	    /* 5 s of media in 40 ms: less than a step, more than the bound */
	    { BOUNDARY, 5 * SEC, W + 40 * MS, W + 40 * MS + WALLCLOCK_AHEAD_US,
	      40 * MS + WALLCLOCK_AHEAD_US - 5 * SEC },
	    { MAP, 5 * SEC, 0, W + 40 * MS + WALLCLOCK_AHEAD_US, 0 },
	    /* then 9.9 s of media per 40 ms frame: re-anchored at arrival,
	     * held at the last boundary */
	    { OBSERVE, 14900 * MS, W + 80 * MS, 0, 0 },
	    { BOUNDARY, 24800 * MS, W + 120 * MS, W + 40 * MS + WALLCLOCK_AHEAD_US + 1,
	      1 - 19800 * MS } },
	  5 },
	{ "a camera clock that barely moves is re-anchored",
	  -1,
	  1,
	  { { BOUNDARY, 0, W, W, 0 },
	    /* one tick (11 us) per frame: the least delayed packet is on time */
	    { OBSERVE, 11, W + 40 * MS, 0, 0 },
	    { OBSERVE, 22, W + WALLCLOCK_STEP_US, 0, 0 },
	    { BOUNDARY, 33, W + WALLCLOCK_STEP_US + 33, W + WALLCLOCK_STEP_US + 33,
	      WALLCLOCK_STEP_US } },
	  4 },
	{ "never before the floor",
	  W + 10 * SEC,
	  1,
	  { { BOUNDARY, 0, W, W + 10 * SEC, 10 * SEC },
	    { MAP, 5 * SEC, 0, W + 15 * SEC, 0 },
	    /* the floor held the mapping 10 s ahead of arrival: back to it */
	    { BOUNDARY, 60 * SEC, W + 60 * SEC, W + 60 * SEC, -10 * SEC } },
	  3 },
	{ "a floor in the past changes nothing", W - 10 * SEC, 0, { { BOUNDARY, 0, W, W, 0 } }, 1 },
	{ "never backwards",
	  -1,
	  1,
	  { { BOUNDARY, 0, W, W, 0 },
	    /* 50 s early: a correction that would put this boundary before
	     * the last one */
	    { OBSERVE, 100 * MS, W + 100 * MS - 50 * SEC, 0, 0 },
	    { BOUNDARY, 100 * MS, W, W + 1, 1 - 100 * MS },
	    { BOUNDARY, 100 * MS, W, W + 2, 1 } },
	  4 },
};

static void exact_steps(void)
{
	for (size_t c = 0; c < sizeof(steps_cases) / sizeof(steps_cases[0]); c++) {
		const struct steps_case *tc = &steps_cases[c];
		struct wallclock wc;
		wallclock_init(&wc, tc->floor);
		for (int i = 0; i < tc->n; i++) {
			const struct step *s = &tc->steps[i];
			int64_t got = 0, corr = 12345;
			switch (s->op) {
			case OBSERVE: wallclock_observe(&wc, s->media, s->arrival); continue;
			case BOUNDARY:
				got = wallclock_boundary(&wc, s->media, s->arrival, &corr);
				break;
			case MAP:
				got = wallclock_map(&wc, s->media);
				corr = s->corr;
				break;
			}
			if (got != s->want || corr != s->corr)
				test_fail(__FILE__, __LINE__,
					  "%s, step %d: got %+" PRId64 " us (correction %+" PRId64
					  "), want %+" PRId64 " (%+" PRId64 ")",
					  tc->name, i, got - W, corr, s->want - W, s->corr);
		}
		if (wc.reanchors != tc->reanchors)
			test_fail(__FILE__, __LINE__, "%s: %d re-anchors, want %d", tc->name,
				  wc.reanchors, tc->reanchors);
	}
	/* a NULL correction pointer is allowed */
	struct wallclock wc;
	wallclock_init(&wc, -1);
	CHECK_INT(wallclock_boundary(&wc, 0, W, NULL), W);
}

/* ---- simulated streams ------------------------------------------------- */

/*
 * A camera at 25 fps whose frame of media time m really happened at
 * W + m * (1 + drift_ppm / 1e6).  The first frames come out of the probe
 * buffer late, all at W + burst_us; every arrival is late by a pseudo-random
 * jitter in [0, jitter_us); from media step_at_s on, the recorder's wall
 * clock reads step_us more.  Segments are cut every segment_s seconds.
 */
struct scenario {
	const char *name;
	int minutes;
	int segment_s;
	int64_t burst_us;
	int64_t jitter_us;
	int64_t drift_ppm;
	int step_at_s;
	int64_t step_us;
	int64_t floor_rel; /* floor relative to W, or INT64_MIN for none */

	/* expectations */
	int64_t max_error_us;  /* |boundary - true time| from the 2nd boundary on: for
				* drift, the slew plus one segment's worth */
	int64_t first_corr_lo; /* correction at the 2nd boundary is in [lo, hi] */
	int64_t first_corr_hi;
	bool some_correction; /* at least one non-zero correction after the 2nd boundary */
};

static const struct scenario scenarios[] = {
	{ "steady stream, jitter below the slew", 30, 60, 0, 400 * MS, 0, 0, 0, INT64_MIN, 400 * MS,
	  0, 0, false },
	{ "first packets out 1.5 s late", 10, 60, 1500 * MS, 100 * MS, 0, 0, 0, INT64_MIN, 100 * MS,
	  -1600 * MS, -1400 * MS, false },
	{ "first packets out 3 s late, short segments", 5, 10, 3 * SEC, 50 * MS, 0, 0, 0, INT64_MIN,
	  50 * MS, -3050 * MS, -2950 * MS, false },
	{ "camera clock slow by 0.1 %", 60, 60, 0, 20 * MS, 1000, 0, 0, INT64_MIN, 600 * MS, 0,
	  20 * MS, true },
	{ "camera clock slow by 1 %", 30, 60, 0, 20 * MS, 10000, 0, 0, INT64_MIN, 1100 * MS, 0,
	  20 * MS, true },
	{ "camera clock fast by 0.1 %", 60, 60, 0, 20 * MS, -1000, 0, 0, INT64_MIN, 600 * MS,
	  -60 * MS - 20 * MS, 0, true },
	/* the first boundary waits for the floor, the second follows the
	 * camera again */
	{ "previous footage ends after the arrival", 5, 60, 0, 100 * MS, 0, 0, 0, 20 * SEC,
	  100 * MS, -20 * SEC, -19900 * MS, false },
};

static uint64_t lcg_state;

static int64_t lcg_below(int64_t n)
{
	lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return n > 0 ? (int64_t)((lcg_state >> 33) % (uint64_t)n) : 0;
}

static int64_t true_wall(const struct scenario *sc, int64_t media)
{
	return W + media + media * sc->drift_ppm / 1000000;
}

static void run_scenario(const struct scenario *sc)
{
	const int64_t frame = 40 * MS;
	const int64_t total = (int64_t)sc->minutes * 60 * SEC;
	struct wallclock wc;
	int64_t floor = sc->floor_rel == INT64_MIN ? -1 : W + sc->floor_rel;
	int64_t last = INT64_MIN, next_cut = 0;
	int boundaries = 0, later_corrections = 0;
	int64_t worst = 0;
	bool failed = false;

	lcg_state = 42;
	wallclock_init(&wc, floor);
	for (int64_t m = 0; m <= total && !failed; m += frame) {
		int64_t arrival = true_wall(sc, m);
		if (arrival < W + sc->burst_us)
			arrival = W + sc->burst_us;
		arrival += lcg_below(sc->jitter_us);
		if (sc->step_us && m >= (int64_t)sc->step_at_s * SEC)
			arrival += sc->step_us;

		wallclock_observe(&wc, m, arrival); /* as ingest does: observe, then cut */
		if (m != next_cut)
			continue;
		next_cut += (int64_t)sc->segment_s * SEC;
		int64_t corr = 0;
		int64_t predicted = boundaries ? wallclock_map(&wc, m) : arrival;
		int64_t at = wallclock_boundary(&wc, m, arrival, &corr);
		boundaries++;

		if (at <= last || (floor >= 0 && at < floor)) {
			test_fail(__FILE__, __LINE__,
				  "%s: boundary %d at %+" PRId64
				  " us does not move forward from %+" PRId64 " (floor %+" PRId64
				  ")",
				  sc->name, boundaries, at - W, last - W, floor - W);
			failed = true;
		}
		if (at != predicted + corr) {
			test_fail(__FILE__, __LINE__,
				  "%s: boundary %d: %+" PRId64 " is not the prediction %+" PRId64
				  " moved by %+" PRId64,
				  sc->name, boundaries, at - W, predicted - W, corr);
			failed = true;
		}
		last = at;
		if (boundaries == 2 && (corr < sc->first_corr_lo || corr > sc->first_corr_hi)) {
			test_fail(__FILE__, __LINE__,
				  "%s: correction at the 2nd boundary %+" PRId64
				  " us, want [%+" PRId64 ", %+" PRId64 "]",
				  sc->name, corr, sc->first_corr_lo, sc->first_corr_hi);
			failed = true;
		}
		if (boundaries > 2 && corr != 0)
			later_corrections++;
		if (boundaries >= 2) {
			int64_t err = at - true_wall(sc, m);
			if (err < 0)
				err = -err;
			if (err > worst)
				worst = err;
		}
	}
	if (worst > sc->max_error_us)
		test_fail(__FILE__, __LINE__,
			  "%s: boundaries off the true time by up to %" PRId64
			  " us, allowed %" PRId64,
			  sc->name, worst, sc->max_error_us);
	if ((later_corrections > 0) != sc->some_correction)
		test_fail(__FILE__, __LINE__, "%s: %d later corrections, expected %s", sc->name,
			  later_corrections, sc->some_correction ? "some" : "none");
	/* a floor ahead of the arrival is one re-anchor (at the 2nd boundary) */
	if (wc.reanchors > (sc->floor_rel > 10 * SEC ? 1 : 0))
		test_fail(__FILE__, __LINE__, "%s: %d re-anchors", sc->name, wc.reanchors);
	if (boundaries != sc->minutes * 60 / sc->segment_s + 1)
		test_fail(__FILE__, __LINE__, "%s: %d boundaries", sc->name, boundaries);
}

static void simulated_streams(void)
{
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);
}

/* Without the corrections, the 1 % drift above would be 18 s off after
 * 30 minutes: the real mapping, fed that stream, must have moved by about
 * as much and end close to the true time. */
static void drift_needs_correction(void)
{
	const struct scenario *sc = &scenarios[4];
	const int64_t total = 30 * 60 * SEC, frame = 40 * MS;
	struct wallclock wc;
	int64_t corrected = 0, at = 0;
	wallclock_init(&wc, -1);
	for (int64_t m = 0; m <= total; m += frame) {
		wallclock_observe(&wc, m, true_wall(sc, m));
		if (m % (60 * SEC) == 0) {
			int64_t corr = 0;
			at = wallclock_boundary(&wc, m, true_wall(sc, m), &corr);
			corrected += corr;
		}
	}
	int64_t uncorrected = W + total; /* anchor + media */
	CHECK(true_wall(sc, total) - uncorrected > 10 * SEC);
	CHECK(corrected > 10 * SEC);
	int64_t err = at - true_wall(sc, total);
	if (err < -sc->max_error_us || err > sc->max_error_us)
		test_fail(__FILE__, __LINE__,
			  "the last boundary is %+" PRId64 " us off the true time", err);
	CHECK_INT(wc.reanchors, 0);
}

/* Random arrivals, clock steps and floors: whatever happens, boundaries
 * rise strictly, never fall below the floor, and each one is the current
 * prediction moved by the correction it reports. */
static void random_walk(void)
{
	lcg_state = 7;
	for (int run = 0; run < 200; run++) {
		struct wallclock wc;
		int64_t floor = lcg_below(2) ? W + lcg_below(100 * SEC) - 50 * SEC : -1;
		int64_t media = lcg_below(1000 * SEC), last = INT64_MIN;
		bool anchored = false;
		wallclock_init(&wc, floor);
		for (int i = 0; i < 300; i++) {
			media += lcg_below(2 * SEC);
			int64_t offset;
			switch (lcg_below(4)) {
			case 0: offset = lcg_below(2 * SEC) - SEC; break;
			case 1: offset = lcg_below(200 * SEC) - 100 * SEC; break;
			case 2: offset = lcg_below(4 * 3600 * SEC) - 2 * 3600 * SEC; break;
			default: offset = 0; break;
			}
			int64_t arrival = W + media + offset;
			if (lcg_below(5)) {
				wallclock_observe(&wc, media, arrival);
				continue;
			}
			int64_t corr = 0;
			int64_t predicted = anchored ? wallclock_map(&wc, media) : arrival;
			int64_t at = wallclock_boundary(&wc, media, arrival, &corr);
			anchored = true;
			if (at <= last || (floor >= 0 && at < floor) || at != predicted + corr) {
				test_fail(__FILE__, __LINE__,
					  "run %d step %d: boundary %+" PRId64 " after %+" PRId64
					  ", floor %+" PRId64 ", predicted %+" PRId64
					  " corr %+" PRId64,
					  run, i, at - W, last - W, floor - W, predicted - W, corr);
				return;
			}
			/* the mapping now passes through the boundary */
			if (wallclock_map(&wc, media) != at) {
				test_fail(__FILE__, __LINE__,
					  "run %d: map does not pass the boundary", run);
				return;
			}
			last = at;
		}
	}
}

const struct test_case wallclock_tests[] = {
	{ "exact_steps", exact_steps },
	{ "simulated_streams", simulated_streams },
	{ "drift_needs_correction", drift_needs_correction },
	{ "random_walk", random_walk },
	{ NULL, NULL },
};
