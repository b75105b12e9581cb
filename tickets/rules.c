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
#include "util/banned.h"

bool ticket_kind_interrupts(enum ticket_kind kind)
{
	return kind == TICKET_CAMERA_DOWN || kind == TICKET_RECORDER_OFFLINE ||
	       kind == TICKET_STORAGE_ERROR || kind == TICKET_SITE_UNREACHABLE;
}

int ticket_level(enum ticket_kind kind, int64_t age_us)
{
	if (ticket_kind_interrupts(kind)) {
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
			*level = ticket_level(f->kind, age);
			return FAULT_OPEN;
		}
		return FAULT_NOTHING;
	}
	if (!held) {
		if (now_us - f->operator_resolved_us >= p->grace_us) {
			int l = ticket_level(f->kind, age);
			*level = f->level > 0 && f->level < l ? f->level : l;
			return FAULT_REOPEN;
		}
		return FAULT_NOTHING;
	}
	int l = ticket_level(f->kind, age);
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

/* ---- inspection --------------------------------------------------------- */

const enum ticket_kind ticket_inspection_kinds[5] = {
	TICKET_PICTURE_BLACK, TICKET_PICTURE_FROZEN, TICKET_PICTURE_COVERED,
	TICKET_VIEW_MOVED,    TICKET_CAMERA_CLOCK,
};

bool ticket_inspection_faults(const struct health_camera_msg *m, bool active[TICKET_KIND_COUNT])
{
	if (!m->picture[0] || (m->state != HEALTH_CAM_RECORDING && m->state != HEALTH_CAM_DEGRADED))
		return false;
	for (int i = 0; i < 5; i++)
		active[ticket_inspection_kinds[i]] = false;
	const char *p = m->picture;
	active[TICKET_PICTURE_BLACK] = !strcmp(p, "black");
	active[TICKET_PICTURE_FROZEN] = !strcmp(p, "frozen");
	active[TICKET_PICTURE_COVERED] = !strcmp(p, "covered") || !strcmp(p, "blurred");
	active[TICKET_VIEW_MOVED] = !strcmp(p, "moved");
	active[TICKET_CAMERA_CLOCK] = m->clock_fault;
	return true;
}

/* ---- SLA ---------------------------------------------------------------- */

int ticket_sla_deduction(int level)
{
	switch (level) {
	case 1: return 20;
	case 2: return 15;
	case 3: return 10;
	case 4: return 5;
	default: return 0;
	}
}

int ticket_sla_score(const int counts[5])
{
	long score = 100;
	for (int level = 1; level <= 4; level++)
		score -= (long)ticket_sla_deduction(level) * counts[level];
	return score < 0 ? 0 : (int)score;
}

bool ticket_response_missed(int64_t opened_us, int64_t acknowledged_us, int64_t now_us,
			    int64_t *response_us)
{
	if (acknowledged_us >= 0) {
		*response_us = acknowledged_us - opened_us;
		return *response_us > TICKET_RESPONSE_TARGET_US;
	}
	*response_us = -1;
	return now_us - opened_us > TICKET_RESPONSE_TARGET_US;
}
