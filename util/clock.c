/*
 * Injectable clock.  See clock.h for the rules.  The injected state is a
 * base pair (wall, monotonic) and a scale; injected wall time is computed
 * from the monotonic clock, so it never steps while the program runs.
 * The state is written before threads start and only read afterwards.
 */
#include "util/clock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/timefmt.h"

static bool injected;
static int64_t base_wall_us;
static int64_t base_mono_us;
static double wall_scale = 1.0;

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
		return clock_real_wall_us();
	return base_wall_us + (int64_t)((double)(clock_mono_us() - base_mono_us) * wall_scale);
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
	if (scale && *scale) {
		char *end;
		errno = 0;
		double k = strtod(scale, &end);
		if (errno || *end || k < 1.0 || k > 1e6) {
			fprintf(stderr,
				"vigil: VIGIL_TIME_SCALE: '%s' is not a number between 1 and 1000000\n",
				scale);
			return -EINVAL;
		}
		clock_set_scale(k);
	}
	return 0;
}
