/*
 * The ticket rules as pure functions, tested from tables of cases: the
 * level table of DESIGN.md, the hysteresis state machine that turns a
 * stream of observations into ticket actions, quarters and ISO weeks, and
 * the SLA score.  Nothing here reads a clock, a file or the network: every
 * time is an argument.  Internal to health/ (and its unit tests).
 */
#ifndef VIGIL_HEALTH_LOGIC_H
#define VIGIL_HEALTH_LOGIC_H

#include <stdbool.h>
#include <stdint.h>

#include "tickets/tickets.h"

#define MINUTE_US (60 * INT64_C(1000000))
#define HOUR_US (60 * MINUTE_US)

/* A fault that interrupts the service (nothing recorded) rather than
 * degrading it: camera down, recorder offline, storage error. */
bool health_kind_interrupts(enum ticket_kind kind);

/*
 * The level of a fault that has lasted age_us (DESIGN.md):
 *   interrupted: > 5 h -> 1, > 1 h -> 2, > 20 min -> 3, else 4
 *   degraded:    > 2 h -> 2, > 1 h -> 3, else 4
 */
int health_level(enum ticket_kind kind, int64_t age_us);

struct fault_params {
	int64_t grace_us; /* a fault lasts this long before its ticket opens */
	int64_t clear_us; /* clear this long before the episode ends */
};

enum fault_action {
	FAULT_NOTHING = 0,
	FAULT_OPEN,	/* open a ticket at *level */
	FAULT_ESCALATE, /* raise the ticket to *level */
	FAULT_RESOLVE,	/* resolve the ticket: the fault ended at clear_since_us */
	FAULT_DROP,	/* the episode is over (no ticket left to resolve) */
	FAULT_REOPEN,	/* a person resolved the ticket but the fault went on */
};

/*
 * The hysteresis state machine, over a struct ticket_fault (which the
 * checker also stores, so a restart resumes where it was).  An episode
 * starts with the first faulty observation and lasts until the fault has
 * been clear for clear_us: short clear spells (a flapping camera) are part
 * of the episode, so it holds one ticket.
 *
 * fault_observe feeds one observation at now_us.  start_hint_us is when the
 * observation says its condition began (-1: now): for a fault, the start
 * of a new episode (ignored when one is running; a hint after now_us is not
 * believed); for a clear observation, when it cleared (believed only
 * within the episode).  A fault with start_us < 0 has no episode.
 */
void fault_init(struct ticket_fault *f);
void fault_observe(struct ticket_fault *f, bool active, int64_t start_hint_us, int64_t now_us);

/* What the fault needs at now_us; *level is set for OPEN, ESCALATE and
 * REOPEN. */
enum fault_action fault_next(const struct ticket_fault *f, const struct fault_params *p,
			     int64_t now_us, int *level);

/* Applies an action once it has been carried out; ticket_id is the ticket
 * opened (FAULT_OPEN).  After RESOLVE and DROP the fault has no episode. */
void fault_apply(struct ticket_fault *f, enum fault_action a, int level, int64_t ticket_id);

/* A person resolved the fault's ticket at now_us. */
void fault_operator_resolved(struct ticket_fault *f, int64_t now_us);

/* "2026Q4" or "2026-Q4": the quarter from local midnight of its first day
 * to local midnight of the next quarter's.  Returns 0 or -EINVAL. */
int health_quarter_parse(const char *s, int64_t *from_us, int64_t *to_us);
/* "2026-W47" (ISO 8601 week, Monday first): local midnight of its Monday to
 * local midnight of the next Monday.  Returns 0 or -EINVAL. */
int health_week_parse(const char *s, int64_t *from_us, int64_t *to_us);

/* SLA: the deduction for one fault at its highest level (20, 15, 10, 5). */
int health_sla_deduction(int level);
/* 100 minus the deductions for counts[1..4] faults per level, floor 0. */
int health_sla_score(const int counts[5]);

#define HEALTH_RESPONSE_TARGET_US (10 * MINUTE_US)
/*
 * A response-time miss: acknowledged more than 10 minutes after opening,
 * or never acknowledged (once 10 minutes have passed by now_us).  Sets
 * *response_us to the response time (-1: never acknowledged).
 */
bool health_response_missed(int64_t opened_us, int64_t acknowledged_us, int64_t now_us,
			    int64_t *response_us);

#endif
