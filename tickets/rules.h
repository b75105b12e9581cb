/*
 * The hysteresis state machine that turns a stream of observations into
 * ticket actions, as pure functions tested from tables of cases (the level
 * table and the SLA score it uses are in tickets.h).  Nothing here reads a
 * clock, a file or the network: every time is an argument.  Internal to
 * tickets/ (and its unit tests).
 */
#ifndef VIGIL_TICKETS_RULES_H
#define VIGIL_TICKETS_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "tickets/parse.h"
#include "tickets/tickets.h"

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

/*
 * The faults of picture inspection a camera message shows, one ticket kind
 * each: picture-black, picture-frozen, picture-covered (covered or
 * blurred), view-moved, camera-clock.  Sets active[kind] for those kinds
 * and returns true, or returns false when the message says nothing of
 * inspection (an older recorder, or a camera not recording, whose picture
 * nobody can judge): the faults then stand as they were.
 */
bool ticket_inspection_faults(const struct health_camera_msg *m, bool active[TICKET_KIND_COUNT]);
/* The kinds ticket_inspection_faults sets, in order. */
extern const enum ticket_kind ticket_inspection_kinds[5];

/* A person resolved the fault's ticket at now_us. */
void fault_operator_resolved(struct ticket_fault *f, int64_t now_us);

#endif
