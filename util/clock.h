/*
 * The one clock of the program.  Nothing else reads the wall clock.
 *
 * Wall time normally comes from CLOCK_REALTIME.  For tests and reports about
 * the past it can be pinned with --now or VIGIL_NOW: wall time then starts at
 * that instant and advances with the monotonic clock.  VIGIL_TIME_SCALE=K
 * makes injected wall time advance K times faster than real time, so hours
 * of outage can be exercised in seconds.  Monotonic time is never scaled or
 * injected: it measures real intervals (timeouts, backoff).
 *
 * Thread safety: configure once at start-up; reads are lock-free after.
 */
#ifndef VIGIL_UTIL_CLOCK_H
#define VIGIL_UTIL_CLOCK_H

#include <stdint.h>

#define USEC_PER_SEC INT64_C(1000000)

/* Reads VIGIL_NOW and VIGIL_TIME_SCALE.  Returns 0, or -EINVAL with a
 * message on stderr naming the variable. */
int clock_init_from_env(void);

/* Pins wall time to start at wall_us now. */
void clock_set_now(int64_t wall_us);

/* Makes wall time run `scale` times faster from now on (>= 1). */
void clock_set_scale(double scale);

/* Microseconds since the Unix epoch, UTC. */
int64_t clock_wall_us(void);

/* Microseconds of CLOCK_MONOTONIC. */
int64_t clock_mono_us(void);

/* Real wall time, ignoring injection: only for watching the offset between
 * wall and monotonic clocks (clock-step detection). */
int64_t clock_real_wall_us(void);

#endif
