/*
 * Time on the command line, in files and in reports.  Times inside vigil are
 * int64 microseconds since the Unix epoch, UTC.  Input is ISO 8601
 * (2026-11-02T14:00:00+08:00, ...Z, a bare local date-time, or a bare date
 * meaning local midnight); output is RFC 3339 UTC for machines and local
 * time for people.
 */
#ifndef VIGIL_UTIL_TIMEFMT_H
#define VIGIL_UTIL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Parses an ISO 8601 time into *us.  Returns 0, or -EINVAL. */
int time_parse(const char *s, int64_t *us);

/* Parses a duration such as "90", "90s", "15m", "2h", "3d", "500ms" into
 * microseconds.  Returns 0, or -EINVAL. */
int duration_parse(const char *s, int64_t *us);

/* 2026-11-02T06:00:00.123456Z (always six fraction digits). */
void time_format_utc(int64_t us, char *buf, size_t size);
/* 2026-11-02T06:00:00.123Z, for log lines. */
void time_format_utc_ms(int64_t us, char *buf, size_t size);
/* 2026-11-02T06:00:00Z, whole seconds. */
void time_format_utc_s(int64_t us, char *buf, size_t size);
/* 2026-11-02 14:00:00 in the local time zone, for people. */
void time_format_local(int64_t us, char *buf, size_t size);
/* "1h 02m 03s", "45.2s", for people. */
void duration_format(int64_t us, char *buf, size_t size);

/* Floor division of microseconds into whole seconds (correct for times
 * before 1970 too). */
int64_t time_floor_s(int64_t us);

/* "2026Q4" or "2026-Q4": the quarter from local midnight of its first day
 * to local midnight of the next quarter's.  Returns 0 or -EINVAL. */
int time_quarter_parse(const char *s, int64_t *from_us, int64_t *to_us);
/* "2026-W47" (ISO 8601 week, Monday first): local midnight of its Monday to
 * local midnight of the next Monday.  Returns 0 or -EINVAL. */
int time_week_parse(const char *s, int64_t *from_us, int64_t *to_us);

#endif
