/*
 * Injectable clock.  See clock.h for the rules.  The injected state is a
 * base pair (wall, monotonic) and a scale; injected wall time is computed
 * from the monotonic clock, so it never steps while the program runs.
 * The state is written before threads start and only read afterwards.
 */
#include "util/clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/timefmt.h"
#include "util/banned.h"

static bool injected;
static int64_t base_wall_us;
static int64_t base_mono_us;
static double wall_scale = 1.0;

static const char *step_file;
static _Atomic int64_t step_us;
static _Atomic int64_t step_checked_mono;

/* Re-reads the test step file, at most every 200 ms, by one thread at a time. */
static int64_t current_step(void)
{
	if (!step_file)
		return 0;
	int64_t now = clock_mono_us();
	int64_t checked = atomic_load(&step_checked_mono);
	if (now - checked >= 200000 &&
	    atomic_compare_exchange_strong(&step_checked_mono, &checked, now)) {
		FILE *f = fopen(step_file, "r");
		if (f) {
			double seconds;
			if (fscanf(f, "%lf", &seconds) == 1)
				atomic_store(&step_us, (int64_t)(seconds * USEC_PER_SEC));
			fclose(f);
		}
	}
	return atomic_load(&step_us);
}

static int64_t read_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

int64_t clock_mono_us(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

int64_t clock_real_wall_us(void)
{
	return read_clock(CLOCK_REALTIME);
}

void clock_set_now(int64_t wall_us)
{
	base_wall_us = wall_us;
	base_mono_us = clock_mono_us();
	injected = true;
}

void clock_set_scale(double scale)
{
	if (!injected)
		clock_set_now(clock_real_wall_us());
	else
		clock_set_now(clock_wall_us());
	wall_scale = scale;
}

int64_t clock_wall_us(void)
{
	if (!injected)
		return clock_real_wall_us() + current_step();
	return base_wall_us + (int64_t)((double)(clock_mono_us() - base_mono_us) * wall_scale) +
	       current_step();
}

int64_t clock_offset_us(void)
{
	int64_t mono = clock_mono_us();
	if (!injected)
		return clock_real_wall_us() + current_step() - mono;
	/* injected time is computed from the monotonic clock: only steps move it */
	return base_wall_us - base_mono_us + current_step();
}

int clock_init_from_env(void)
{
	const char *now = getenv("VIGIL_NOW");
	const char *scale = getenv("VIGIL_TIME_SCALE");

	if (now && *now) {
		int64_t us;
		if (time_parse(now, &us) < 0) {
			fprintf(stderr, "vigil: VIGIL_NOW: cannot parse time '%s'\n", now);
			return -EINVAL;
		}
		clock_set_now(us);
	}
	step_file = getenv("VIGIL_CLOCK_STEP_FILE");
	if (step_file && !*step_file)
		step_file = NULL;
	if (scale && *scale) {
		char *end;
		errno = 0;
		double k = strtod(scale, &end);
		if (errno || *end || k < 1.0 || k > 1e6) {
			fprintf(stderr,
				"vigil: VIGIL_TIME_SCALE: '%s' is not a number between 1 and "
				"1000000\n",
				scale);
			return -EINVAL;
		}
		clock_set_scale(k);
	}
	return 0;
}
