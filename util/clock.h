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

/* Real wall time, ignoring injection. */
int64_t clock_real_wall_us(void);

/* Wall time minus what the monotonic clock predicts for it: constant while
 * the wall clock runs smoothly, moved by the size of any step (an NTP step,
 * a clock set by hand).  The retention sweeper watches it. */
int64_t clock_offset_us(void);

/*
 * Steps for tests: VIGIL_CLOCK_STEP_FILE names a file holding a number of
 * seconds (may be negative) added to wall time, re-read at most every
 * 200 ms, so a test can step the clock of a running vigil the way NTP
 * would, without touching the machine's clock.
 */

#endif
