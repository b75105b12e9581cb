/*
 * ISO 8601 parsing and RFC 3339 formatting.  Only the thread-safe _r forms
 * of the libc time functions are used.
 */
#include "util/timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/banned.h"

int64_t time_floor_s(int64_t us)
{
	int64_t s = us / USEC_PER_SEC;
	if (us % USEC_PER_SEC < 0)
		s--;
	return s;
}

static bool read_digits(const char **p, int count, int *out)
{
	int v = 0;
	for (int i = 0; i < count; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += count;
	*out = v;
	return true;
}

int time_parse(const char *s, int64_t *us)
{
	struct tm tm = { 0 };
	int year, mon, day, hour = 0, min = 0, sec = 0;
	int64_t frac_us = 0;
	bool has_zone = false;
	int64_t zone_s = 0;
	const char *p = s;

	if (!read_digits(&p, 4, &year) || *p++ != '-' || !read_digits(&p, 2, &mon) || *p++ != '-' ||
	    !read_digits(&p, 2, &day))
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!read_digits(&p, 2, &hour) || *p++ != ':' || !read_digits(&p, 2, &min))
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (!read_digits(&p, 2, &sec))
				return -EINVAL;
			if (*p == '.' || *p == ',') {
				p++;
				int64_t scale = 100000;
				if (!isdigit((unsigned char)*p))
					return -EINVAL;
				while (isdigit((unsigned char)*p)) {
					frac_us += (*p - '0') * scale;
					scale /= 10;
					p++;
				}
			}
		}
		if (*p == 'Z' || *p == 'z') {
			has_zone = true;
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1, zh, zm = 0;
			p++;
			if (!read_digits(&p, 2, &zh))
				return -EINVAL;
			if (*p == ':')
				p++;
			if (isdigit((unsigned char)*p) && !read_digits(&p, 2, &zm))
				return -EINVAL;
			if (zh > 23 || zm > 59)
				return -EINVAL;
			has_zone = true;
			zone_s = sign * (zh * 3600 + zm * 60);
		}
	}
	if (*p != '\0')
		return -EINVAL;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return -EINVAL;

	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	time_t t;
	if (has_zone) {
		t = timegm(&tm);
		t -= zone_s;
	} else {
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	/* reject dates that normalised into another day (2026-02-31) */
	if (tm.tm_mday != day)
		return -EINVAL;
	*us = (int64_t)t * USEC_PER_SEC + frac_us;
	return 0;
}

int duration_parse(const char *s, int64_t *us)
{
	char *end;
	double v;
	int64_t unit = USEC_PER_SEC;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		unit = USEC_PER_SEC;
	else if (strcmp(end, "ms") == 0)
		unit = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		unit = 60 * USEC_PER_SEC;
	else if (strcmp(end, "h") == 0)
		unit = 3600 * USEC_PER_SEC;
	else if (strcmp(end, "d") == 0)
		unit = 86400 * USEC_PER_SEC;
	else
		return -EINVAL;
	if (v * (double)unit > 9e18)
		return -EINVAL;
	*us = (int64_t)(v * (double)unit + 0.5);
	return 0;
}

static void split_utc(int64_t us, struct tm *tm, int64_t *frac)
{
	time_t s = (time_t)time_floor_s(us);
	*frac = us - (int64_t)s * USEC_PER_SEC;
	gmtime_r(&s, tm);
}

void time_format_utc(int64_t us, char *buf, size_t size)
{
	struct tm tm;
	int64_t frac;

	split_utc(us, &tm, &frac);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void time_format_utc_ms(int64_t us, char *buf, size_t size)
{
	struct tm tm;
	int64_t frac;

	split_utc(us, &tm, &frac);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(frac / 1000));
}

void time_format_utc_s(int64_t us, char *buf, size_t size)
{
	struct tm tm;
	int64_t frac;

	split_utc(us, &tm, &frac);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void time_format_local(int64_t us, char *buf, size_t size)
{
	struct tm tm;
	time_t s = (time_t)time_floor_s(us);

	localtime_r(&s, &tm);
	snprintf(buf, size, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void duration_format(int64_t us, char *buf, size_t size)
{
	const char *sign = us < 0 ? "-" : "";
	if (us < 0)
		us = -us;
	int64_t s = us / USEC_PER_SEC;
	if (s < 60) {
		snprintf(buf, size, "%s%.1fs", sign, (double)us / USEC_PER_SEC);
	} else if (s < 3600) {
		snprintf(buf, size, "%s%" PRId64 "m %02" PRId64 "s", sign, s / 60, s % 60);
	} else if (s < 86400) {
		snprintf(buf, size, "%s%" PRId64 "h %02" PRId64 "m %02" PRId64 "s", sign, s / 3600,
			 s / 60 % 60, s % 60);
	} else {
		snprintf(buf, size, "%s%" PRId64 "d %02" PRId64 "h %02" PRId64 "m", sign, s / 86400,
			 s / 3600 % 24, s / 60 % 60);
	}
}

/* ---- calendar ----------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* ISO weekday, Monday = 1 ... Sunday = 7, of a day count. */
static int iso_weekday(int64_t days)
{
	/* 1970-01-01 was a Thursday (4) */
	int64_t w = (days + 3) % 7;
	if (w < 0)
		w += 7;
	return (int)w + 1;
}

/* Local midnight of a date, in microseconds. */
static int local_midnight(int y, int m, int d, int64_t *us)
{
	struct tm tm = { 0 };
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	if (t == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31))
		return -EINVAL;
	*us = (int64_t)t * USEC_PER_SEC;
	return 0;
}

static bool parse_uint(const char *s, size_t len, long lo, long hi, long *out)
{
	long v = 0;
	if (len == 0 || len > 6)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int time_quarter_parse(const char *s, int64_t *from_us, int64_t *to_us)
{
	long year, q;
	const char *p = strchr(s, 'Q');
	if (!p)
		p = strchr(s, 'q');
	if (!p || !parse_uint(s, (size_t)(p - s) - (p > s && p[-1] == '-'), 1970, 9999, &year) ||
	    !parse_uint(p + 1, strlen(p + 1), 1, 4, &q))
		return -EINVAL;
	int m = (int)(q - 1) * 3 + 1;
	if (local_midnight((int)year, m, 1, from_us) < 0)
		return -EINVAL;
	return local_midnight(q == 4 ? (int)year + 1 : (int)year, q == 4 ? 1 : m + 3, 1, to_us);
}

/* Weeks in an ISO year: 53 when 1 January is a Thursday, or a Wednesday
 * in a leap year. */
static int iso_weeks_in_year(int year)
{
	int jan1 = iso_weekday(days_from_civil(year, 1, 1));
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return jan1 == 4 || (leap && jan1 == 3) ? 53 : 52;
}

int time_week_parse(const char *s, int64_t *from_us, int64_t *to_us)
{
	long year, week;
	const char *p = strchr(s, 'W');
	if (!p)
		p = strchr(s, 'w');
	if (!p || p == s || p[-1] != '-' ||
	    !parse_uint(s, (size_t)(p - 1 - s), 1970, 9999, &year) ||
	    !parse_uint(p + 1, strlen(p + 1), 1, 53, &week) || week > iso_weeks_in_year((int)year))
		return -EINVAL;
	/* week 1 holds 4 January */
	int64_t jan4 = days_from_civil(year, 1, 4);
	int64_t monday = jan4 - (iso_weekday(jan4) - 1) + (week - 1) * 7;
	int y, m, d;
	civil_from_days(monday, &y, &m, &d);
	if (local_midnight(y, m, d, from_us) < 0)
		return -EINVAL;
	civil_from_days(monday + 7, &y, &m, &d);
	return local_midnight(y, m, d, to_us);
}
