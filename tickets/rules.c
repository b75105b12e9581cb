/*
 * Ticket rules as pure functions: see logic.h.  The state machine keeps
 * every decision in fault_next(), which only reads the fault and the time,
 * so the checker's loop and the unit tables exercise exactly one rule set.
 */
#include "tickets/rules.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

bool health_kind_interrupts(enum ticket_kind kind)
{
	return kind == TICKET_CAMERA_DOWN || kind == TICKET_RECORDER_OFFLINE ||
	       kind == TICKET_STORAGE_ERROR;
}

int health_level(enum ticket_kind kind, int64_t age_us)
{
	if (health_kind_interrupts(kind)) {
		if (age_us > 5 * HOUR_US)
			return 1;
		if (age_us > 1 * HOUR_US)
			return 2;
		if (age_us > 20 * MINUTE_US)
			return 3;
		return 4;
	}
	if (age_us > 2 * HOUR_US)
		return 2;
	if (age_us > 1 * HOUR_US)
		return 3;
	return 4;
}

void fault_init(struct ticket_fault *f)
{
	f->active = false;
	f->start_us = -1;
	f->clear_since_us = -1;
	f->ticket_id = 0;
	f->operator_resolved_us = -1;
	f->level = 0;
}

void fault_observe(struct ticket_fault *f, bool active, int64_t start_hint_us, int64_t now_us)
{
	if (active) {
		if (f->start_us < 0) {
			f->start_us = start_hint_us >= 0 && start_hint_us <= now_us ? start_hint_us
										    : now_us;
			f->clear_since_us = -1;
		} else if (!f->active) {
			/* back within the hold-down: the same episode goes on */
			f->clear_since_us = -1;
		}
		f->active = true;
		return;
	}
	/* clear since the hint, when it falls within the episode */
	if (f->start_us >= 0 && f->active)
		f->clear_since_us = start_hint_us >= f->start_us && start_hint_us <= now_us
					    ? start_hint_us
					    : now_us;
	f->active = false;
}

enum fault_action fault_next(const struct ticket_fault *f, const struct fault_params *p,
			     int64_t now_us, int *level)
{
	if (f->start_us < 0)
		return FAULT_NOTHING;
	int64_t age = now_us - f->start_us;
	bool held = f->ticket_id > 0 && f->operator_resolved_us < 0; /* an open ticket */

	if (!f->active) {
		/* no escalation while clear: the outage is not growing */
		if (f->clear_since_us >= 0 && now_us - f->clear_since_us >= p->clear_us)
			return held ? FAULT_RESOLVE : FAULT_DROP;
		return FAULT_NOTHING;
	}
	if (f->ticket_id == 0) {
		if (age >= p->grace_us) {
			*level = health_level(f->kind, age);
			return FAULT_OPEN;
		}
		return FAULT_NOTHING;
	}
	if (!held) {
		if (now_us - f->operator_resolved_us >= p->grace_us) {
			int l = health_level(f->kind, age);
			*level = f->level > 0 && f->level < l ? f->level : l;
			return FAULT_REOPEN;
		}
		return FAULT_NOTHING;
	}
	int l = health_level(f->kind, age);
	if (f->level == 0 || l < f->level) {
		*level = l;
		return FAULT_ESCALATE;
	}
	return FAULT_NOTHING;
}

void fault_apply(struct ticket_fault *f, enum fault_action a, int level, int64_t ticket_id)
{
	switch (a) {
	case FAULT_OPEN:
		f->ticket_id = ticket_id;
		f->level = level;
		break;
	case FAULT_ESCALATE: f->level = level; break;
	case FAULT_REOPEN: f->operator_resolved_us = -1; break;
	case FAULT_RESOLVE:
	case FAULT_DROP: fault_init(f); break;
	case FAULT_NOTHING: break;
	}
}

void fault_operator_resolved(struct ticket_fault *f, int64_t now_us)
{
	if (f->ticket_id > 0 && f->operator_resolved_us < 0)
		f->operator_resolved_us = now_us;
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

int health_quarter_parse(const char *s, int64_t *from_us, int64_t *to_us)
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

int health_week_parse(const char *s, int64_t *from_us, int64_t *to_us)
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

/* ---- SLA ---------------------------------------------------------------- */

int health_sla_deduction(int level)
{
	switch (level) {
	case 1: return 20;
	case 2: return 15;
	case 3: return 10;
	case 4: return 5;
	default: return 0;
	}
}

int health_sla_score(const int counts[5])
{
	long score = 100;
	for (int level = 1; level <= 4; level++)
		score -= (long)health_sla_deduction(level) * counts[level];
	return score < 0 ? 0 : (int)score;
}

bool health_response_missed(int64_t opened_us, int64_t acknowledged_us, int64_t now_us,
			    int64_t *response_us)
{
	if (acknowledged_us >= 0) {
		*response_us = acknowledged_us - opened_us;
		return *response_us > HEALTH_RESPONSE_TARGET_US;
	}
	*response_us = -1;
	return now_us - opened_us > HEALTH_RESPONSE_TARGET_US;
}
